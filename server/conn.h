/*
 * A client connection: the socket, the handshake state machine, frame
 * input, batched output (one writev per loop turn), heartbeats, and the
 * channels it multiplexes.
 *
 * States and the functions that move between them:
 *
 *   CONN_AWAIT_HEADER  --protocol header ok, send start-->   CONN_AWAIT_START_OK
 *   CONN_AWAIT_START_OK --start-ok authenticated, send tune--> CONN_AWAIT_TUNE_OK
 *   CONN_AWAIT_TUNE_OK --tune-ok-->                          CONN_AWAIT_OPEN
 *   CONN_AWAIT_OPEN    --open ok-->                          CONN_OPEN
 *   any                --conn_close_with() sends close-->    CONN_CLOSING
 *   CONN_CLOSING       --close-ok received, or timeout-->    CONN_CLOSED
 *   any                --socket error/EOF, conn_abort()-->   CONN_CLOSED
 *
 * CONN_CLOSED connections are freed in the loop's prepare watcher, never
 * inside their own callbacks.
 */
#ifndef SERVER_CONN_H
#define SERVER_CONN_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "amqp/bytes.h"
#include "server/transport.h"
#include "server/util.h"

struct msg;
struct chan;
struct vhost;
struct user;

enum conn_state {
	CONN_AWAIT_HEADER,
	CONN_AWAIT_START_OK,
	CONN_AWAIT_TUNE_OK,
	CONN_AWAIT_OPEN,
	CONN_OPEN,
	CONN_CLOSING,
	CONN_FLUSH_CLOSE, /* send what is queued, then close the socket */
	CONN_CLOSED
};

/* One piece of pending output: bytes in tbuf, or a slice of a message body. */
struct txseg {
	struct msg *m;   /* ref held, or NULL for tbuf bytes */
	size_t      off; /* into tbuf, or into m->body */
	size_t      len;
};

struct conn {
	ev_io            rio, wio;
	ev_timer         hb;        /* heartbeats both ways, and the handshake timeout */
	int              fd;
	struct transport tp;        /* the byte stream on fd: plain or TLS */
	enum conn_state  state;
	uint64_t         id;
	char             peer[64];  /* "127.0.0.1:5555" */
	char             local[64];
	bool             loopback;
	double           connected_at;

	uint8_t         *rbuf;      /* owned */
	size_t           rlen, rcap;
	bool             reading;   /* rio active */

	uint8_t         *tbuf;      /* owned */
	size_t           tlen, tcap;
	struct txseg    *segs;      /* owned */
	size_t           nsegs, segs_cap, seg_head;
	size_t           tx_pending; /* bytes queued, not yet written */
	bool             writing;   /* wio active */
	bool             tx_stalled; /* went over TX_HIGH, not yet below TX_LOW */
	struct list      flush_link; /* in the list of connections to flush */
	bool             flush_queued;
	/* output from segs[holds[i].seg] on waits for batch holds[i].gen (persist.h) */
	struct conn_hold { uint64_t gen; size_t seg; } holds[2];
	unsigned         nholds;
	size_t           seg_fence;  /* the next output starts a segment of its own */
	struct list      held_link;  /* in the list of connections whose output waits */
	bool             held;

	uint32_t         frame_max;
	uint16_t         channel_max;
	uint16_t         heartbeat;
	double           last_rx, last_tx;

	struct chan    **chans;     /* owned; indexed by channel number */
	uint32_t         nchans;    /* slots in chans */
	uint32_t         open_chans;

	struct vhost    *vh;
	struct user     *user;
	char             user_name[128];
	char             auth_mechanism[16]; /* the one start-ok chose, once logged in */
	uint8_t         *client_props; /* owned, encoded table body */
	size_t           client_props_len;
	bool             cap_auth_failure_close, cap_cancel_notify, cap_blocked;
	bool             published;  /* has published: blocked by a resource alarm */
	bool             blocked;    /* blocked: not read until the alarm clears */
	double           blocked_at; /* ev_now() when it was blocked */
	const char      *blocked_why; /* "memory" or "disk" (static) */
	double           flow_at;    /* ev_now() when its input last stopped for output */

	struct list      link;      /* in broker.conns */
	struct list      exclusive_queues;
	uint64_t         recv_oct, send_oct, recv_cnt, send_cnt;
};

/* Take ownership of an accepted socket: plain AMQP, or AMQP over TLS. */
void conn_accept(struct ev_loop *loop, int fd);
void conn_accept_tls(struct ev_loop *loop, int fd);

/* The TLS setup conn_accept_tls() uses (borrowed: lives as long as the broker). */
void conn_set_tls(struct transport_tls *tls);

/*
 * connection_max: with that many connections the AMQP listeners stop
 * accepting (clients wait in the kernel's backlog, as with RabbitMQ's
 * acceptors) until one closes.  Call once the listeners are started.
 */
void conn_apply_connection_max(void);

/* Queue a method frame.  Never fails: output is bounded by backpressure. */
void conn_send_method(struct conn *c, uint16_t channel, uint32_t id, const void *m);

/* Queue a method with content: the method frame, the header frame with the
 * given encoded properties, and the body split by frame_max. */
void conn_send_content(struct conn *c, uint16_t channel, uint32_t id, const void *method,
                       struct amqp_bytes props, struct msg *m);

/* Close the connection with connection.close (reply code and text without prefix). */
void conn_close_with(struct conn *c, int code, const char *text, uint32_t method_id);

/* True when this connection's output backlog is high: stop delivering to it. */
bool conn_tx_full(const struct conn *c);

/*
 * A resource alarm (the disk failed or is full): publishing connections
 * get connection.blocked and are not read until it clears, as RabbitMQ
 * does; consumers keep draining.  reason NULL clears it.
 */
void conn_set_alarm(const char *reason);
/* Check resident memory every second against vm_memory_high_watermark. */
void conn_start_memory_monitor(void);
/*
 * The resource alarms as the monitor last saw them (memory over the high
 * watermark; disk under disk_free_limit or failing) and the memory
 * threshold in bytes (0 before the monitor started).
 */
void conn_alarm_state(bool *mem, bool *disk, uint64_t *mem_limit_bytes);
/*
 * Why c is held back, and since when (wall-clock seconds): "memory" or
 * "disk" (a resource alarm blocked it), "flow" (its peer does not read
 * what it is sent, so its input waits), or NULL.
 */
const char *conn_blocked_reason(const struct conn *c, double *since);
/* A connection publishes: block it now if an alarm is on. */
void conn_published(struct conn *c);

/* Free channel id after channel.close / close-ok. */
void conn_drop_channel(struct conn *c, uint16_t id);

/* Close every connection with 320 CONNECTION_FORCED (shutdown). */
void conn_close_all(const char *text);

/* The loop's prepare step: flush output, reap closed connections. */
void conn_prepare(struct ev_loop *loop);
void conn_set_loop(struct ev_loop *loop);
size_t conn_count(void);

/* Mark for flushing in this loop turn's prepare step. */
void conn_want_flush(struct conn *c);
/*
 * What is sent on c from now on waits for the batch persist_next_gen()
 * to end: a delivery whose count is on its way to the disk, a commit-ok.
 */
void conn_hold(struct conn *c);
/* The same for what was sent since conn_out_mark() returned mark. */
size_t conn_out_mark(struct conn *c);
void   conn_hold_from(struct conn *c, size_t mark);
/* Batch gen ended (see persist.h): output that waited for it may go. */
void conn_durable(uint64_t gen, bool ok);

#endif
