/*
 * The engine's model: vhosts, users, exchanges, bindings, queues and
 * consumers, and the operations on them that AMQP methods (and later the
 * management API) call.  One code path declares a queue, whoever asks.
 * Everything runs on the single event-loop thread.
 */
#ifndef SERVER_BROKER_H
#define SERVER_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "amqp/bytes.h"
#include "server/hmap.h"
#include "server/util.h"

struct config;
struct conn;
struct chan;
struct msg;
struct topic_trie;
struct store_queue;

/* An error a broker operation reports: an AMQP reply code and a text. */
struct broker_err {
	int  code;       /* AMQP reply code, 0 = none */
	char text[512];  /* without the "NOT_FOUND - " prefix */
};

int broker_fail(struct broker_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct user {
	char    *name;          /* owned */
	char     password_hash[96]; /* base64(salt ‖ H(salt ‖ password)); "" = no password */
	int      hashing;       /* enum auth_hash */
	char    *tags;          /* owned, comma-separated */
	unsigned tagmask;       /* AUTH_TAG_* of tags */
};

struct vhost {
	char           *name; /* owned */
	size_t          name_len;
	char           *description;        /* owned, "" when none */
	char           *tags;               /* owned, comma-separated, "" when none */
	char           *default_queue_type; /* owned, NULL = undefined */
	bool            tracing;
	bool            deleted;
	struct hmap     exchanges; /* name -> struct exchange */
	struct hmap     queues;    /* name -> struct queue */
	struct exchange *default_x;
};

enum exchange_type { EXCHANGE_DIRECT, EXCHANGE_FANOUT, EXCHANGE_TOPIC, EXCHANGE_HEADERS };

struct binding {
	struct list      src_link;   /* in src->bindings */
	struct list      dst_link;   /* in the destination's dest_bindings */
	struct list      key_link;   /* direct exchanges: in the routing key's bucket */
	struct exchange *src;
	bool             dest_is_exchange;
	void            *dest;       /* struct queue * or struct exchange * */
	struct amqp_bytes rk;        /* owned copy */
	struct amqp_bytes args;      /* owned copy, encoded table body */
};

struct exchange {
	struct amqp_bytes  name; /* owned */
	struct vhost      *vh;
	enum exchange_type type;
	bool               durable, auto_delete, internal, deleted;
	struct amqp_bytes  args; /* owned, encoded table body */
	struct list        bindings;      /* bindings with this exchange as source */
	size_t             nbindings;
	struct list        dest_bindings; /* bindings with this exchange as destination */
	struct hmap        direct;        /* direct: routing key -> struct list of bindings */
	struct topic_trie *trie;          /* topic */
	struct amqp_bytes  pol_ae;        /* owned: alternate-exchange set by a policy */
	uint32_t           route_mark;
	uint64_t           stat_in, stat_out; /* messages published to it, and routed on */
	struct {                          /* kept by the management API's rate sampler */
		uint64_t prev[2];
		float    rate[2];
		uint32_t gen;
	}                  rates;
};

struct qentry {
	struct msg *m;          /* ref held; NULL while paged out (only its record on disk) */
	uint64_t    seq;        /* position in the queue, kept on requeue */
	uint64_t    expires_at; /* ms since the epoch, 0 = never */
	uint64_t    store_id;   /* its record in the queue's log, 0 = not stored */
	uint32_t    size;       /* body bytes */
	uint32_t    redelivered;
	uint32_t    deliveries; /* times delivered so far */
	uint32_t    unused;
};

enum queue_overflow { OVERFLOW_DROP_HEAD, OVERFLOW_REJECT_PUBLISH, OVERFLOW_REJECT_PUBLISH_DLX };

/* What a queue's arguments (and later policies) ask for. */
struct queue_opts {
	int64_t             message_ttl;      /* ms, -1 = none */
	int64_t             expires;          /* ms, -1 = none */
	int64_t             max_length;       /* -1 = none */
	int64_t             max_length_bytes; /* -1 = none */
	int64_t             delivery_limit;   /* -1 = none */
	int64_t             consumer_timeout; /* x-consumer-timeout, ms, -1 = none */
	enum queue_overflow overflow;
	bool                has_dlx, has_dlrk;
	struct amqp_bytes   dlx, dlrk;        /* borrowed from the queue's args */
	uint8_t             max_priority;     /* 0 = not a priority queue */
	bool                single_active;
	bool                dlx_at_least_once; /* quorum: x-dead-letter-strategy at-least-once */
};

/*
 * x-queue-type.  Quorum queues are classic queues with RabbitMQ's quorum
 * semantics (always durable, every message on disk, returns to the back,
 * x-delivery-count); streams are append-only logs read by offset
 * (server/stream.c).
 */
enum queue_type { QUEUE_CLASSIC, QUEUE_QUORUM, QUEUE_STREAM };

struct consumer {
	struct list       qlink;  /* in q->consumers */
	struct list       chlink; /* in ch->consumers */
	struct queue     *q;
	struct chan      *ch;
	struct amqp_bytes tag;    /* owned */
	bool              no_ack, exclusive, cancelled;
	int32_t           priority;
	uint32_t          prefetch; /* per-consumer limit, 0 = none */
	uint32_t          unacked;  /* deliveries awaiting ack; the struct lives while > 0 */
	struct amqp_bytes args;   /* owned */
	uint64_t          delivered;
	struct store_stream_reader *rd; /* stream queues: this consumer's position */
};

struct store_stream;
struct store_stream_reader;

struct queue {
	struct amqp_bytes name; /* owned */
	struct vhost     *vh;
	bool              durable, exclusive, auto_delete, deleted, had_consumer;
	enum queue_type   type;
	struct conn      *owner; /* exclusive owner, borrowed: cleared when it closes */
	struct amqp_bytes args;  /* owned, encoded table body */
	uint32_t          refs;  /* the vhost's map + each unacked delivery */
	struct store_queue *sq;  /* durable queues: the message log */

	struct queue_opts opts;
	struct amqp_bytes pol_dlx, pol_dlrk; /* owned: dead-lettering set by a policy */
	struct qring {
		struct qentry *ring; /* ready messages in seq order */
		size_t         cap, head, count;
	} *prio;                 /* one ring per priority, max_priority + 1 of them */
	size_t            count; /* ready messages in every ring */
	struct consumer  *active; /* single active consumer */
	ev_timer          ttl_timer;     /* head message expiry */
	ev_timer          expiry_timer;  /* x-expires */
	uint64_t          next_seq;
	uint64_t          bytes; /* body bytes ready */
	uint64_t          mem_bytes; /* of those, held in memory (the rest is paged out) */
	uint64_t          unacked;

	struct list       consumers; /* by priority, highest first */
	size_t            nconsumers;
	bool              exclusive_consumer;
	struct list       dest_bindings;
	struct list       olink;     /* in owner's exclusive queues */
	struct list       dlink;     /* in the pending-dispatch list */
	bool              dispatch_pending;
	uint32_t          route_mark;

	uint64_t          stat_published, stat_delivered, stat_acked, stat_redelivered;
	uint64_t          stat_get, stat_get_noack, stat_get_empty; /* basic.get */
	struct queue_rates {       /* kept by the management API's rate sampler */
		uint64_t prev[10]; /* the counters and gauges at its last tick */
		float    rate[10]; /* per second over the last interval */
		uint32_t gen;     /* 0 until the sampler first sees the queue */
	}                 rates;

	/* quorum, at-least-once dead-lettering: messages no queue took yet */
	struct dlx_pending {
		struct msg *m;          /* ref held */
		uint64_t    store_id;   /* still in the log: acked once a queue has it */
		const char *reason;     /* static string */
	}                *dlx;
	size_t            ndlx, dlx_cap;
	uint64_t          dlx_bytes;
	ev_timer          dlx_timer;

	/* stream queues (server/stream.c) */
	struct store_stream *ss;     /* the log */
	struct list       slink;     /* in the list of streams */
	struct list       alink;     /* in the list of streams appended since the last sync */
	bool              stream_appended;
};

/* Global engine state. */
struct broker {
	const struct config *cfg;
	struct hmap          vhosts; /* name -> struct vhost */
	struct hmap          users;  /* name -> struct user */
	struct list          conns;  /* every struct conn */
	uint64_t             next_conn_id;
	struct list          dispatch; /* queues with work to dispatch */
	struct hmap          reply_to; /* direct reply-to key -> struct consumer */
	struct queue       **route_buf; /* scratch for broker_route */
	size_t               route_cap;
	uint32_t             route_mark;
	uint64_t             started_at;
	/* churn, for the management API */
	uint64_t             queues_created, queues_declared, queues_deleted;
	uint64_t             chans_opened, chans_closed;
};

extern struct broker broker;

void broker_init(const struct config *cfg);
/* First start: the default vhost and user (default_vhost, default_user/pass), as RabbitMQ. */
void broker_create_defaults(void);
void broker_shutdown(void);

struct vhost *broker_vhost(struct amqp_bytes name);
/* Create a vhost with its predeclared exchanges, or return the existing one. */
struct vhost *broker_add_vhost(const char *name);
/* Set description, tags (comma-separated) and default queue type (NULL = keep undefined). */
void          broker_vhost_set_meta(struct vhost *vh, const char *description, const char *tags,
                                    const char *default_queue_type);
/*
 * Delete a vhost: close its connections (320 CONNECTION_FORCED), delete
 * its queues and exchanges, forget its permissions.  Returns 0 or -1 if
 * there is no such vhost.
 */
int           broker_delete_vhost(const char *name);
struct user  *broker_user(struct amqp_bytes name);
/* Create or replace a user with a plain password (hashed with SHA-256). */
struct user  *broker_add_user(const char *name, const char *password, const char *tags);
/*
 * Create or replace a user with a stored hash (hashing: enum auth_hash;
 * hash "" = no password).  *created (may be NULL) tells which.
 */
struct user  *broker_set_user(const char *name, const char *hash, int hashing, const char *tags,
                              bool *created);
/* Delete a user and its permissions, closing its connections; -1 if unknown. */
int           broker_delete_user(const char *name);
bool          broker_check_password(const struct user *u, struct amqp_bytes password);

/* Exchanges. */
struct exchange *exchange_find(struct vhost *vh, struct amqp_bytes name);
int  exchange_type_parse(struct amqp_bytes s, enum exchange_type *t);
const char *exchange_type_name(enum exchange_type t);
int  exchange_declare(struct vhost *vh, struct amqp_bytes name, struct amqp_bytes type,
                      bool passive, bool durable, bool auto_delete, bool internal,
                      struct amqp_bytes args, struct broker_err *err);
int  exchange_delete(struct vhost *vh, struct amqp_bytes name, bool if_unused,
                     struct broker_err *err);
int  exchange_bind(struct vhost *vh, struct amqp_bytes dest, struct amqp_bytes src,
                   struct amqp_bytes rk, struct amqp_bytes args, struct broker_err *err);
int  exchange_unbind(struct vhost *vh, struct amqp_bytes dest, struct amqp_bytes src,
                     struct amqp_bytes rk, struct amqp_bytes args, struct broker_err *err);
/* Bindings, for queue.c: create unless identical exists; remove (-1 if absent). */
int  exchange_add_binding(struct exchange *src, bool dest_is_exchange, void *dest,
                          struct list *dest_bindings, struct amqp_bytes rk,
                          struct amqp_bytes args, struct broker_err *err);
int  exchange_remove_binding(struct exchange *src, void *dest, struct list *dest_bindings,
                             struct amqp_bytes rk, struct amqp_bytes args);
/*
 * RabbitMQ's equivalence check of declare arguments for the listed keys
 * (NULL-terminated); what names the object ("queue 'q' in vhost '/'").
 */
int  exchange_args_equivalent(struct amqp_bytes cur, struct amqp_bytes req,
                              const char *const *keys, const char *what,
                              struct broker_err *err);
const char *exchange_field_type_name(uint8_t kind);
struct amqp_field;
void exchange_field_format(const struct amqp_field *f, char *buf, size_t len);
/* Remove every binding to or from a destination being deleted. */
void exchange_unbind_all_dest(struct list *dest_bindings);

/*
 * Route a message published to x: fill out[] (capacity max) with the
 * distinct queues it goes to, following exchange-to-exchange bindings and
 * alternate exchanges.  Returns the number of queues.
 */
size_t exchange_route(struct exchange *x, const struct msg *m, struct amqp_bytes headers,
                      struct queue ***out, size_t *cap);

/* Queues. */
struct queue *queue_find(struct vhost *vh, struct amqp_bytes name);
/*
 * Declare (or passively check) a queue.  name may be empty for a
 * server-named queue.  owner is the declaring connection (for exclusive
 * queues and the exclusivity check).  On success *out is the queue.
 */
int  queue_declare(struct vhost *vh, struct amqp_bytes name, bool passive, bool durable,
                   bool exclusive, bool auto_delete, struct amqp_bytes args,
                   struct conn *owner, struct queue **out, struct broker_err *err);
/* Milliseconds since the epoch, as of this loop turn (ev_now). */
uint64_t        queue_now_ms(void);
/* The type x-queue-type asks for (classic when absent), and its name. */
enum queue_type queue_type_of(struct amqp_bytes args);
const char     *queue_type_name(enum queue_type t);
/* x-max-age ("7D", "30m", ...) in ms: 0, or -1 if malformed. */
int             queue_parse_age(struct amqp_bytes v, int64_t *ms);
/* Checks that conn may use q (exclusive queues): 0 or 405. */
int  queue_check_access(struct queue *q, struct conn *c, struct broker_err *err);
/* May q be deleted with these flags?  0 or 406 (in use, not empty). */
int  queue_delete_check(struct queue *q, bool if_unused, bool if_empty, struct broker_err *err);
/* Delete q: consumers get basic.cancel, bindings go.  Returns the ready count it had. */
uint32_t queue_delete(struct queue *q);
int  queue_bind(struct vhost *vh, struct amqp_bytes queue, struct amqp_bytes exchange,
                struct amqp_bytes rk, struct amqp_bytes args, struct conn *c,
                struct broker_err *err);
int  queue_unbind(struct vhost *vh, struct amqp_bytes queue, struct amqp_bytes exchange,
                  struct amqp_bytes rk, struct amqp_bytes args, struct conn *c,
                  struct broker_err *err);
uint32_t queue_purge(struct queue *q);
/*
 * Enqueue m (takes its own reference).  Returns 0, or -1 if a length limit
 * with reject-publish refused it (the caller nacks a confirming publisher).
 */
int  queue_push(struct queue *q, struct msg *m);
/*
 * Enqueue a message recovered from the queue's log at start: m, or NULL to
 * leave it paged out (then size, priority and expiration describe it).
 * stored_ms is when it was stored (0 if unknown): its TTL counts from then.
 */
void queue_push_recovered(struct queue *q, struct msg *m, uint64_t store_id, uint32_t deliveries,
                          uint32_t size, uint8_t priority, int64_t expiration,
                          uint64_t stored_ms);
/*
 * A message taken from the queue (queue_pop) leaves it for good: its
 * record in the queue's log is acknowledged, and it is dead-lettered
 * with reason, or just dropped when reason is NULL.  Takes e's reference.
 */
void queue_discard(struct queue *q, struct qentry *e, const char *reason);
/* The message of a ready entry, read back if it is paged out: a new reference, or NULL. */
struct msg *queue_peek_msg(struct queue *q, const struct qentry *e);
/* The timestamp property of the next message to deliver, if it has one and is in memory. */
bool queue_head_timestamp(struct queue *q, uint64_t *ts);
/* Should a queue keep the next message's body in memory? */
bool queue_keeps_bodies(const struct queue *q);
/* Put a delivered message back at its original place, redelivered. */
void queue_requeue(struct queue *q, const struct qentry *e);
/*
 * Take the next message to deliver (ref passes to the caller), dropping
 * expired ones on the way; false if there is none.
 */
bool queue_pop(struct queue *q, struct qentry *e);
/*
 * Dead-letter m (ref passes) with reason "rejected", "expired", "maxlen",
 * ... (a static string).  True if a queue took it.
 */
bool queue_dead_letter(struct queue *q, struct msg *m, const char *reason);
/*
 * A message leaves q for good and is dead-lettered: its record (store_id)
 * is acked, except under a quorum queue's at-least-once strategy, where
 * the message waits in q (retried) until a queue takes it.  m's ref passes.
 */
void queue_dead_letter_entry(struct queue *q, struct msg *m, uint64_t store_id, const char *reason);
/* Re-read a queue's arguments and the policies that apply to it. */
void queue_apply_policy(struct queue *q);
/* A vhost limit ("max-connections", "max-queues") or -1 when it has none. */
int64_t broker_vhost_limit(const struct vhost *vh, const char *name);
/* Users, vhosts, permissions or parameters changed: keep the definitions file current. */
void broker_meta_changed(void);
/* Re-apply policies to every queue and exchange of a vhost (the policy hook). */
void broker_apply_policies(const char *vhost);
/* Re-read the alternate-exchange policy of an exchange. */
void exchange_apply_policy(struct exchange *x);
/* The queue was used (declare, get): restart its x-expires clock. */
void queue_touch(struct queue *q);
void queue_schedule(struct queue *q);
/* Deliver ready messages to consumers with credit. */
void queue_dispatch(struct queue *q);
void queue_unref(struct queue *q);
static inline struct queue *
queue_ref(struct queue *q)
{
	q->refs++;
	return q;
}
uint32_t queue_consumer_count(const struct queue *q);

/* Consumers. */
int  queue_add_consumer(struct queue *q, struct consumer *c, struct broker_err *err);
/* Detach a consumer from its queue (cancel); may auto-delete the queue. */
void queue_remove_consumer(struct consumer *c);

/*
 * Route m through x and enqueue it on every queue it reaches.  Returns the
 * number of queues; *refused is set if one refused it (length limit with
 * reject-publish).
 */
size_t broker_route(struct exchange *x, struct msg *m, bool *refused);

/*
 * Publish a message as basic.publish would, for callers without a channel
 * (the management API): props are encoded basic properties (flag word
 * first).  *routed tells whether any queue took it.  Returns 0 or a
 * negative reply code with err filled in (404 no exchange, 403 internal,
 * 406 bad expiration, 506 out of memory).
 */
int broker_publish(struct vhost *vh, struct amqp_bytes exchange, struct amqp_bytes rk,
                   struct amqp_bytes props, const void *body, size_t len, bool *routed,
                   struct broker_err *err);

/* Stream queues (server/stream.c). */
/* The policy (not operator policy) in force on q: its definition, or NULL. */
struct json_t *queue_policy_definition(const struct queue *q);
/* The log was opened (declare, recovery): set retention, count. */
void queue_stream_opened(struct queue *q);
/* Arguments or policy changed: retention again. */
void queue_stream_apply_policy(struct queue *q);
/* The queue goes (delete, shutdown): readers closed, out of the lists. */
void queue_stream_closing(struct queue *q);
/* Append m to the log: 0, or -1 (the publisher gets a nack). */
int  queue_stream_push(struct queue *q, struct msg *m);
/* After a successful group commit: consumers read what it made durable. */
void queue_stream_committed(void);
/* Position a new consumer (its args: x-stream-offset): 0 or an error. */
int  queue_stream_attach(struct queue *q, struct consumer *c, struct broker_err *err);
void queue_stream_drop_reader(struct consumer *c);
void queue_stream_dispatch(struct queue *q);

/* Dispatch every queue scheduled since the last call. */
void broker_dispatch(void);

/* Exclusive queues of a closing connection. */
void queue_delete_exclusive(struct list *owned);

#endif
