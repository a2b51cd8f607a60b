/*
 * A channel: method dispatch for the channel, exchange, queue, basic,
 * confirm and tx classes; content assembly for basic.publish; consumers,
 * unacked deliveries, prefetch, publisher confirms and transactions.
 */
#ifndef SERVER_CHANNEL_H
#define SERVER_CHANNEL_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "amqp/bytes.h"
#include "server/broker.h"
#include "server/util.h"

struct conn;
struct msg;
union amqp_method;

enum chan_state {
	CHAN_OPEN,
	CHAN_CLOSING, /* sent channel.close, waiting for close-ok */
};

enum chan_content {
	CONTENT_NONE,        /* expecting a method */
	CONTENT_AWAIT_HEADER,/* got basic.publish */
	CONTENT_AWAIT_BODY,
};

/* A delivery awaiting ack, in delivery-tag order. */
struct unacked {
	uint64_t         tag;
	struct qentry    e;   /* the message (ref held) and its place in the queue */
	struct queue    *q;   /* ref held */
	struct consumer *c;   /* NULL for basic.get; counted in c->unacked */
	double           at;  /* when it was delivered (ev_now) */
	bool             done; /* acked out of order: skipped when reached */
};

/* A publish or an ack waiting for tx.commit. */
struct tx_op {
	struct msg *m;        /* publish: ref held */
	bool        mandatory;
	uint64_t    tag;      /* ack/nack/reject */
	uint8_t     kind;     /* 0 publish, 1 ack, 2 nack/reject */
	bool        multiple, requeue;
};

/*
 * Publisher confirms are decided in runs: every tag up to upto, after the
 * previous run's, is acked once batch gen has ended (0: at once), or
 * nacked.  The hot path extends the last run.
 */
struct confirm_run {
	uint64_t upto;
	uint64_t gen;
	bool     nack;
};

struct chan {
	struct conn      *c;
	uint16_t          id;
	enum chan_state   state;
	bool              flow_active;

	/* content assembly */
	enum chan_content content;
	uint32_t          content_method; /* method id that started it */
	struct msg       *pending;        /* ref held: message being assembled */
	bool              pub_mandatory, pub_immediate;
	uint8_t           pub_exchange[256], pub_rk[256];
	uint8_t           pub_exchange_len, pub_rk_len;

	/* consumers and deliveries */
	struct list       consumers;
	struct hmap       consumers_by_tag;
	uint64_t          next_tag;       /* last delivery tag used */
	struct unacked   *unacked;        /* ring, tag order */
	size_t            un_cap, un_head, un_count, un_live;
	uint32_t          prefetch_global;   /* qos global=true */
	uint32_t          prefetch_consumer; /* qos global=false: for new consumers */
	uint32_t          unacked_consumers; /* deliveries to consumers awaiting ack */
	ev_timer          ack_timer;         /* consumer_timeout and x-consumer-timeout */
	bool              queue_timeouts;    /* some delivery came from a queue with x-consumer-timeout */

	/* confirms */
	bool              confirm;
	uint64_t          next_publish_tag;
	uint64_t          confirmed_upto;   /* answered to the publisher so far */
	struct confirm_run *runs;           /* owned: the decided confirms, in tag order */
	size_t            runs_head, nruns, runs_cap;
	struct list       confirm_link;     /* in the list of channels with confirms to send */
	bool              confirm_queued;
	struct list       durable_link;     /* in the list of channels waiting for a batch */
	bool              durable_queued;

	/* transactions */
	bool              tx;
	struct tx_op     *txops;
	size_t            ntxops, txops_cap;

	struct amqp_bytes last_queue;       /* owned: last declared queue name */
	struct amqp_bytes write_ok;         /* owned: the exchange last found writable */
	struct amqp_bytes reply_key;        /* owned: direct reply-to address */
	struct consumer  *reply_consumer;   /* the direct reply-to consumer */

	struct queue    **route_buf;        /* scratch for routing, owned */
	size_t            route_cap;

	uint64_t          stat_publish, stat_deliver, stat_ack;
	uint64_t          stat_return, stat_drop; /* unroutable publishes: returned, dropped */
};

struct chan *chan_new(struct conn *c, uint16_t id);
/* Release everything (requeue unacked, cancel consumers) and free. */
void chan_free(struct chan *ch);

/*
 * Handle a method on an open channel.  Returns 0, or a negative error
 * already reported (channel or connection close queued).
 */
void chan_method(struct chan *ch, uint32_t id, union amqp_method *m);
void chan_header(struct chan *ch, const uint8_t *p, size_t n);
void chan_body(struct chan *ch, const uint8_t *p, size_t n);

/* Release everything the channel holds (channel close or error). */
void chan_release(struct chan *ch);

/* Close the channel with channel.close (soft errors) or the connection (hard). */
void chan_fail(struct chan *ch, int code, uint32_t method_id, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Can consumer c of this channel take a delivery now? */
bool chan_can_deliver(const struct chan *ch, const struct consumer *c);
/* Deliver e to consumer c (takes over e's message ref). */
void chan_deliver(struct chan *ch, struct consumer *c, struct queue *q, struct qentry *e);
/* The consumed queue is going: send basic.cancel if the client understands it. */
void chan_consumer_gone(struct consumer *c);
/* Output drained: dispatch to this connection's consumers again. */
void chan_resume(struct chan *ch);

/*
 * Send the coalesced publisher confirms of every channel that has some
 * ready: acks, or nacks for what could not be routed or stored, or needed
 * a batch that failed.
 */
void chan_flush_confirms(void);
/* Batch gen ended (see persist.h): the confirms that waited for it are ready. */
void chan_durable(uint64_t gen, bool ok);

#endif
