/*
 * Queues: the ready messages in publish order (a ring sorted by sequence
 * number, so a requeued message goes back to its original place, as
 * RabbitMQ's classic queues do), consumers by priority with round robin
 * among equals, declaration rules and deletion.
 */
#include <openssl/rand.h>
#include <stdio.h>

#include "amqp/spec_gen.h"
#include "amqp/table.h"
#include "server/broker.h"
#include "server/channel.h"
#include "server/conn.h"
#include "server/msg.h"
#include "server/persist.h"

#include <jansson.h>
#include <time.h>

#include "server/policy.h"

#include "amqp/props.h"

struct queue *
queue_find(struct vhost *vh, struct amqp_bytes name)
{
	return hmap_get(&vh->queues, name);
}

uint64_t
queue_now_ms(void)
{
	return (uint64_t)(ev_now(EV_DEFAULT) * 1000.0);
}

static struct qentry *
at(struct qring *r, size_t i)
{
	return &r->ring[(r->head + i) & (r->cap - 1)];
}

static void
grow(struct qring *r)
{
	size_t         n = r->cap ? r->cap * 2 : 16;
	struct qentry *ring = xmalloc(n * sizeof(*ring));

	for (size_t i = 0; i < r->count; i++)
		ring[i] = *at(r, i);
	free(r->ring);
	r->ring = ring;
	r->cap = n;
	r->head = 0;
}

static struct qring *
ring_for(struct queue *q, const struct msg *m)
{
	uint8_t p = m->priority > q->opts.max_priority ? q->opts.max_priority : m->priority;
	return &q->prio[p];
}

/* The ring holding the next message to deliver: the highest priority with any. */
static struct qring *
head_ring(struct queue *q)
{
	for (int p = q->opts.max_priority; p >= 0; p--)
		if (q->prio[p].count)
			return &q->prio[p];
	return NULL;
}

/*
 * Paging: past this many body bytes held in memory, a durable queue keeps
 * only the index of further persistent messages (their record is on disk
 * already) and reads each back when it is delivered.
 */
#define PAGE_THRESHOLD (16u * 1024 * 1024)

bool
queue_keeps_bodies(const struct queue *q)
{
	return q->mem_bytes < PAGE_THRESHOLD;
}

/* A ring that drained to an eighth of its size gives half of it back. */
static void
shrink(struct qring *r)
{
	size_t         n = r->cap / 2;
	struct qentry *ring = xmalloc(n * sizeof(*ring));

	for (size_t i = 0; i < r->count; i++)
		ring[i] = *at(r, i);
	free(r->ring);
	r->ring = ring;
	r->cap = n;
	r->head = 0;
}

static void
take_head(struct queue *q, struct qring *r, struct qentry *e)
{
	*e = *at(r, 0);
	r->head = (r->head + 1) & (r->cap - 1);
	r->count--;
	q->count--;
	q->bytes -= e->size;
	if (e->m)
		q->mem_bytes -= e->size;
	if (r->cap > 4096 && r->count < r->cap / 8)
		shrink(r);
}

void
queue_discard(struct queue *q, struct qentry *e, const char *reason)
{
	if (reason && e->m) {
		queue_dead_letter_entry(q, e->m, e->store_id, reason);
	} else {
		persist_ack(q, e->store_id);
		if (e->m)
			msg_unref(e->m);
	}
	e->m = NULL;
}

struct msg *
queue_peek_msg(struct queue *q, const struct qentry *e)
{
	return e->m ? msg_ref(e->m) : persist_load(q, e->store_id);
}

bool
queue_head_timestamp(struct queue *q, uint64_t *ts)
{
	struct qring           *r = q->type == QUEUE_STREAM ? NULL : head_ring(q);
	struct amqp_basic_props p;

	/* as RabbitMQ: only a head message in memory (paged in) shows its timestamp */
	if (r == NULL || at(r, 0)->m == NULL || amqp_props_decode(msg_props(at(r, 0)->m), &p) != 0 ||
	    !(p.flags & AMQP_PROP_TIMESTAMP))
		return false;
	*ts = p.timestamp;
	return true;
}

/* A paged-out entry leaving the queue: read its message back if it is needed. */
static bool
page_in(struct queue *q, struct qentry *e)
{
	if (e->m)
		return true;
	e->m = persist_load(q, e->store_id);
	return e->m != NULL;
}

/* An entry leaving the queue for good with reason: dead-letter it if there is somewhere to. */
static void
drop_entry(struct queue *q, struct qentry *e, const char *reason)
{
	if (e->m == NULL && q->opts.has_dlx)
		page_in(q, e);
	if (e->m)
		queue_dead_letter_entry(q, e->m, e->store_id, reason);
	else
		persist_ack(q, e->store_id);
}

static void arm_ttl(struct queue *q);
static void dlx_free(struct queue *q);

/* Drop expired messages at the head of each ring (dead-lettered "expired"). */
static void
expire_heads(struct queue *q)
{
	uint64_t      now = queue_now_ms();
	struct qentry e;

	for (int p = q->opts.max_priority; p >= 0; p--) {
		struct qring *r = &q->prio[p];
		while (r->count && at(r, 0)->expires_at && at(r, 0)->expires_at < now) {
			take_head(q, r, &e);
			drop_entry(q, &e, "expired");
			if (q->deleted)
				return;
		}
	}
}

static void
ttl_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct queue *q = (struct queue *)((char *)w - offsetof(struct queue, ttl_timer));

	(void)loop;
	(void)revents;
	queue_ref(q);
	expire_heads(q);
	if (!q->deleted)
		arm_ttl(q);
	queue_unref(q);
}

/* Wake up when the earliest head expires. */
static void
arm_ttl(struct queue *q)
{
	uint64_t next = 0;

	for (int p = q->opts.max_priority; p >= 0; p--) {
		struct qring *r = &q->prio[p];
		if (r->count && at(r, 0)->expires_at && (next == 0 || at(r, 0)->expires_at < next))
			next = at(r, 0)->expires_at;
	}
	ev_timer_stop(EV_DEFAULT, &q->ttl_timer);
	if (next == 0)
		return;
	uint64_t now = queue_now_ms();
	double   delay = next >= now ? (double)(next - now + 1) / 1000.0 : 0.0;
	ev_timer_set(&q->ttl_timer, delay, 0.);
	ev_timer_start(EV_DEFAULT, &q->ttl_timer);
}

static void queue_destroy(struct queue *q);

static void
expiry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct queue *q = (struct queue *)((char *)w - offsetof(struct queue, expiry_timer));

	(void)loop;
	(void)revents;
	if (q->nconsumers == 0 && !q->deleted)
		queue_destroy(q);
}

void
queue_touch(struct queue *q)
{
	if (q->opts.expires < 0)
		return;
	ev_timer_stop(EV_DEFAULT, &q->expiry_timer);
	if (q->nconsumers == 0) {
		ev_timer_set(&q->expiry_timer, (double)q->opts.expires / 1000.0, 0.);
		ev_timer_start(EV_DEFAULT, &q->expiry_timer);
	}
}

static bool
over_limit(const struct queue *q, size_t extra_count, uint64_t extra_bytes)
{
	return (q->opts.max_length >= 0 && q->count + extra_count > (uint64_t)q->opts.max_length) ||
	       (q->opts.max_length_bytes >= 0 &&
	        q->bytes + extra_bytes > (uint64_t)q->opts.max_length_bytes);
}

int
queue_push(struct queue *q, struct msg *m)
{
	if (q->type == QUEUE_STREAM)
		return queue_stream_push(q, m);

	struct qring *r = ring_for(q, m);
	int64_t       ttl = q->opts.message_ttl;

	if (q->opts.overflow != OVERFLOW_DROP_HEAD &&
	    (q->opts.max_length >= 0 || q->opts.max_length_bytes >= 0)) {
		/* rabbit_classic_queue refuses when the queue is already at its limit,
		 * rabbit_fifo (quorum) only once it is over it */
		uint64_t slack = q->type == QUEUE_QUORUM ? 1 : 0;
		if ((q->opts.max_length >= 0 && q->count >= (uint64_t)q->opts.max_length + slack) ||
		    (q->opts.max_length_bytes >= 0 &&
		     q->bytes >= (uint64_t)q->opts.max_length_bytes + slack)) {
			if (q->opts.overflow == OVERFLOW_REJECT_PUBLISH_DLX)
				queue_dead_letter(q, msg_ref(m), "maxlen");
			return -1;
		}
	}
	if (r->count == r->cap)
		grow(r);
	struct qentry *e = at(r, r->count);
	e->seq = q->next_seq++;
	e->redelivered = 0;
	e->deliveries = 0;
	e->size = (uint32_t)m->body_len;
	e->store_id = persist_append(q, m);
	if (e->store_id == 0 || queue_keeps_bodies(q)) {
		e->m = msg_ref(m);
		q->mem_bytes += e->size;
	} else {
		e->m = NULL; /* paged out: the log has it */
	}
	if (m->expiration >= 0 && (ttl < 0 || m->expiration < ttl))
		ttl = m->expiration;
	e->expires_at = ttl >= 0 ? queue_now_ms() + (uint64_t)ttl : 0;
	r->count++;
	q->count++;
	q->bytes += e->size;
	q->stat_published++;
	if (e->expires_at && r->count == 1)
		arm_ttl(q);
	if (q->opts.overflow == OVERFLOW_DROP_HEAD) {
		struct qentry old;
		while (q->count && over_limit(q, 0, 0)) {
			take_head(q, head_ring(q), &old);
			drop_entry(q, &old, "maxlen");
		}
	}
	queue_schedule(q);
	return 0;
}

void
queue_push_recovered(struct queue *q, struct msg *m, uint64_t store_id, uint32_t deliveries,
                     uint32_t size, uint8_t priority, int64_t expiration, uint64_t stored_ms)
{
	struct qring *r = &q->prio[priority > q->opts.max_priority ? q->opts.max_priority : priority];
	int64_t       ttl = q->opts.message_ttl;

	if (r->count == r->cap)
		grow(r);
	struct qentry *e = at(r, r->count);
	e->m = m ? msg_ref(m) : NULL;
	e->seq = q->next_seq++;
	e->store_id = store_id;
	e->size = size;
	e->deliveries = deliveries;
	e->redelivered = deliveries > 0;
	/* A TTL counts from when the message was stored, as if there had been no restart. */
	if (expiration >= 0 && (ttl < 0 || expiration < ttl))
		ttl = expiration;
	e->expires_at = ttl >= 0 ? (stored_ms ? stored_ms : queue_now_ms()) + (uint64_t)ttl : 0;
	r->count++;
	q->count++;
	q->bytes += size;
	if (m)
		q->mem_bytes += size;
	if (e->expires_at && r->count == 1)
		arm_ttl(q);
}

bool
queue_pop(struct queue *q, struct qentry *e)
{
	struct qring *r;

	expire_heads(q);
	for (;;) {
		if (q->deleted || (r = head_ring(q)) == NULL)
			return false;
		take_head(q, r, e);
		if (page_in(q, e))
			break;
		/* unreadable: the log lost it (logged by storage); it cannot be delivered */
		persist_ack(q, e->store_id);
	}
	if (r->count && at(r, 0)->expires_at)
		arm_ttl(q);
	return true;
}

void
queue_requeue(struct queue *q, const struct qentry *re)
{
	if (q->deleted || q->type == QUEUE_STREAM) {
		/* a stream keeps every message: nothing goes back */
		msg_unref(re->m);
		return;
	}
	if (q->opts.delivery_limit >= 0 && re->deliveries > (uint64_t)q->opts.delivery_limit) {
		struct qentry d = *re;
		drop_entry(q, &d, "delivery_limit");
		return;
	}
	struct qring *r = ring_for(q, re->m);
	if (r->count == r->cap)
		grow(r);
	/* rabbit_fifo (quorum) puts a returned message at the back of the queue,
	 * unless a delivery limit is set: then returns come first */
	uint64_t seq = q->type == QUEUE_QUORUM && q->opts.delivery_limit < 0 ? q->next_seq++ : re->seq;
	/* Find the first entry with a larger seq; requeues usually land at the front. */
	size_t lo = 0, hi = r->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (at(r, mid)->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0) {
		r->head = (r->head - 1) & (r->cap - 1);
	} else {
		for (size_t i = r->count; i > lo; i--)
			*at(r, i) = *at(r, i - 1);
	}
	struct qentry *e = at(r, lo);
	*e = *re;
	e->seq = seq;
	e->redelivered = 1;
	r->count++;
	q->count++;
	q->bytes += e->size;
	q->mem_bytes += e->size;
	q->stat_redelivered++;
	if (lo == 0 && e->expires_at)
		arm_ttl(q);
	queue_schedule(q);
}

void
queue_schedule(struct queue *q)
{
	if (q->dispatch_pending || q->deleted || q->nconsumers == 0)
		return;
	q->dispatch_pending = true;
	list_add_tail(&broker.dispatch, &q->dlink);
}

static struct consumer *
pick(struct queue *q)
{
	struct list *it, *tmp;

	if (q->opts.single_active) {
		if (q->active == NULL && !LIST_EMPTY(&q->consumers))
			q->active = container_of(q->consumers.next, struct consumer, qlink);
		return q->active && chan_can_deliver(q->active->ch, q->active) ? q->active : NULL;
	}
	list_for_each_safe (it, tmp, &q->consumers) {
		struct consumer *c = container_of(it, struct consumer, qlink);
		if (chan_can_deliver(c->ch, c))
			return c;
	}
	return NULL;
}

/* Move c behind the last consumer of its priority: round robin among equals. */
static void
rotate(struct queue *q, struct consumer *c)
{
	struct list *pos = c->qlink.next;

	while (pos != &q->consumers && container_of(pos, struct consumer, qlink)->priority == c->priority)
		pos = pos->next;
	if (pos == c->qlink.next)
		return;
	list_del(&c->qlink);
	list_add_tail(pos, &c->qlink);
}

void
queue_dispatch(struct queue *q)
{
	struct qentry e;

	if (q->type == QUEUE_STREAM) {
		queue_stream_dispatch(q);
		return;
	}
	queue_ref(q);
	while (q->count && !q->deleted) {
		struct consumer *c = pick(q);
		if (c == NULL)
			break;
		if (!queue_pop(q, &e))
			break;
		e.deliveries++;
		chan_deliver(c->ch, c, q, &e);
		if (!q->opts.single_active)
			rotate(q, c);
	}
	queue_unref(q);
}

uint32_t
queue_consumer_count(const struct queue *q)
{
	return (uint32_t)q->nconsumers;
}

uint32_t
queue_purge(struct queue *q)
{
	if (q->type == QUEUE_STREAM)
		return 0; /* streams keep everything (the channel refuses queue.purge) */
	uint32_t      n = (uint32_t)q->count;
	struct qentry e;
	struct qring *r;

	while ((r = head_ring(q)) != NULL) {
		take_head(q, r, &e);
		persist_ack(q, e.store_id);
		if (e.m)
			msg_unref(e.m);
	}
	ev_timer_stop(EV_DEFAULT, &q->ttl_timer);
	return n;
}

void
queue_unref(struct queue *q)
{
	if (--q->refs)
		return;
	bytes_free(&q->name);
	bytes_free(&q->args);
	bytes_free(&q->pol_dlx);
	bytes_free(&q->pol_dlrk);
	for (int p = 0; p <= q->opts.max_priority; p++)
		free(q->prio[p].ring);
	free(q->prio);
	free(q);
}

static void
queue_destroy(struct queue *q)
{
	struct list *it, *tmp;

	q->deleted = true;
	broker.queues_deleted++;
	ev_timer_stop(EV_DEFAULT, &q->ttl_timer);
	ev_timer_stop(EV_DEFAULT, &q->expiry_timer);
	dlx_free(q);
	if (q->type == QUEUE_STREAM)
		queue_stream_closing(q);
	q->active = NULL;
	list_for_each_safe (it, tmp, &q->consumers) {
		struct consumer *c = container_of(it, struct consumer, qlink);
		list_del(&c->qlink);
		q->nconsumers--;
		chan_consumer_gone(c);
	}
	exchange_unbind_all_dest(&q->dest_bindings);
	persist_meta_queue(q, false);
	persist_queue_delete(q); /* the log goes whole: no acks for what purge drops */
	queue_purge(q);
	if (q->dispatch_pending) {
		list_del(&q->dlink);
		q->dispatch_pending = false;
	}
	if (q->owner)
		list_del(&q->olink);
	q->owner = NULL;
	hmap_del(&q->vh->queues, q->name);
	queue_unref(q);
}

int
queue_delete_check(struct queue *q, bool if_unused, bool if_empty, struct broker_err *err)
{
	if (if_unused && q->nconsumers)
		return broker_fail(err, AMQP_PRECONDITION_FAILED, "queue '%.*s' in vhost '%s' in use",
		                   (int)q->name.len, (const char *)q->name.ptr, q->vh->name);
	if (if_empty && q->count)
		return broker_fail(err, AMQP_PRECONDITION_FAILED,
		                   "queue '%.*s' in vhost '%s' not empty",
		                   (int)q->name.len, (const char *)q->name.ptr, q->vh->name);
	return 0;
}

uint32_t
queue_delete(struct queue *q)
{
	uint32_t n = (uint32_t)q->count;

	queue_destroy(q);
	return n;
}

void
queue_delete_exclusive(struct list *owned)
{
	while (!LIST_EMPTY(owned)) {
		struct queue *q = container_of(owned->next, struct queue, olink);
		queue_destroy(q);
	}
}

int
queue_check_access(struct queue *q, struct conn *c, struct broker_err *err)
{
	if (q->exclusive && q->owner != c)
		return broker_fail(err, AMQP_RESOURCE_LOCKED,
		                   "cannot obtain exclusive access to locked queue '%.*s' in vhost '%s'. "
		                   "It could be originally declared on another connection or the "
		                   "exclusive property value does not match that of the original "
		                   "declaration.",
		                   (int)q->name.len, (const char *)q->name.ptr, q->vh->name);
	return 0;
}

static void
server_name(char *out, size_t len)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint8_t r[22];
	size_t  i = 0;

	if (RAND_bytes(r, sizeof(r)) != 1)
		for (i = 0; i < sizeof(r); i++)
			r[i] = (uint8_t)random();
	i = (size_t)snprintf(out, len, "amq.gen-");
	for (size_t k = 0; k < sizeof(r) && i + 1 < len; k++)
		out[i++] = b64[r[k] & 63];
	out[i] = 0;
}

/* Queue arguments RabbitMQ validates at declaration (rabbit_amqqueue:declare_args/0). */
static int
validate_args(struct amqp_bytes args, const char *what, struct broker_err *err)
{
	struct amqp_table_iter it;
	struct amqp_bytes      key;
	struct amqp_field      v;
	int64_t                n;

	amqp_table_iter_init(&it, args);
	while (amqp_table_next(&it, &key, &v) == 1) {
		const char *k = (const char *)key.ptr;
		int         kl = (int)key.len;
		bool        isint = amqp_field_as_int(&v, &n);

#define KEY(s) (key.len == sizeof(s) - 1 && memcmp(k, s, key.len) == 0)
#define BAD(fmt, ...) broker_fail(err, AMQP_PRECONDITION_FAILED, "invalid arg '%.*s' for %s: " fmt, kl, k, what, __VA_ARGS__)
		if (KEY("x-expires")) {
			if (!isint)
				return BAD("\"expected integer, got %s\"", exchange_field_type_name(v.kind));
			if (n == 0)
				return BAD("{value_zero,%lld}", (long long)n);
			if (n < 0)
				return BAD("{value_negative,%lld}", (long long)n);
		} else if (KEY("x-message-ttl") || KEY("x-max-length") || KEY("x-max-length-bytes") ||
		           KEY("x-delivery-limit") || KEY("x-consumer-timeout")) {
			if (!isint)
				return BAD("\"expected integer, got %s\"", exchange_field_type_name(v.kind));
			if (n < 0)
				return BAD("{value_negative,%lld}", (long long)n);
		} else if (KEY("x-max-priority")) {
			if (!isint)
				return BAD("\"expected integer, got %s\"", exchange_field_type_name(v.kind));
			if (n < 0)
				return BAD("{value_negative,%lld}", (long long)n);
			if (n > 255)
				return BAD("{max_value_exceeded,%lld}", (long long)n);
		} else if (KEY("x-dead-letter-exchange") || KEY("x-dead-letter-routing-key")) {
			if (v.kind != 'S')
				return broker_fail(err, AMQP_PRECONDITION_FAILED,
				                   "invalid type '%s' for arg '%.*s' in %s",
				                   exchange_field_type_name(v.kind), kl, k, what);
		} else if (KEY("x-overflow")) {
			if (v.kind != 'S')
				return BAD("{unacceptable_type,%s}", exchange_field_type_name(v.kind));
			if (!amqp_bytes_eq_cstr(v.v.str, "drop-head") &&
			    !amqp_bytes_eq_cstr(v.v.str, "reject-publish") &&
			    !amqp_bytes_eq_cstr(v.v.str, "reject-publish-dlx"))
				return BAD("%s", "invalid_overflow");
		} else if (KEY("x-queue-mode")) {
			if (v.kind != 'S')
				return BAD("{unacceptable_type,%s}", exchange_field_type_name(v.kind));
			if (!amqp_bytes_eq_cstr(v.v.str, "default") && !amqp_bytes_eq_cstr(v.v.str, "lazy"))
				return BAD("\"unsupported queue mode '%.*s'\"", (int)v.v.str.len,
				           (const char *)v.v.str.ptr);
		} else if (KEY("x-single-active-consumer")) {
			if (v.kind != 't')
				return BAD("{unacceptable_type,%s}", exchange_field_type_name(v.kind));
		} else if (KEY("x-queue-type")) {
			if (v.kind != 'S')
				return BAD("{unacceptable_type,%s}", exchange_field_type_name(v.kind));
			if (!amqp_bytes_eq_cstr(v.v.str, "classic") &&
			    !amqp_bytes_eq_cstr(v.v.str, "quorum") && !amqp_bytes_eq_cstr(v.v.str, "stream"))
				return BAD("\"unsupported queue type '%.*s'\"", (int)v.v.str.len,
				           (const char *)v.v.str.ptr);
		} else if (KEY("x-quorum-initial-group-size") || KEY("x-initial-cluster-size") ||
		           KEY("x-max-in-memory-length") || KEY("x-max-in-memory-bytes") ||
		           KEY("x-stream-max-segment-size-bytes")) {
			if (!isint)
				return BAD("\"expected integer, got %s\"", exchange_field_type_name(v.kind));
			if (n < 0)
				return BAD("{value_negative,%lld}", (long long)n);
		} else if (KEY("x-dead-letter-strategy")) {
			if (v.kind != 'S')
				return BAD("{unacceptable_type,%s}", exchange_field_type_name(v.kind));
			if (!amqp_bytes_eq_cstr(v.v.str, "at-most-once") &&
			    !amqp_bytes_eq_cstr(v.v.str, "at-least-once"))
				return BAD("%s", "invalid_dlx_strategy");
		} else if (KEY("x-queue-leader-locator")) {
			if (v.kind != 'S')
				return BAD("{unacceptable_type,%s}", exchange_field_type_name(v.kind));
			if (!amqp_bytes_eq_cstr(v.v.str, "client-local") &&
			    !amqp_bytes_eq_cstr(v.v.str, "balanced") &&
			    !amqp_bytes_eq_cstr(v.v.str, "random") &&
			    !amqp_bytes_eq_cstr(v.v.str, "least-leaders"))
				return BAD("%s", "invalid_queue_locator_arg");
		} else if (KEY("x-max-age")) {
			if (v.kind != 'S' || queue_parse_age(v.v.str, &n) != 0)
				return BAD("%s", "invalid_max_age");
		}
#undef KEY
#undef BAD
	}
	struct amqp_field dlx, dlrk;
	if (amqp_table_get(args, "x-dead-letter-routing-key", &dlrk) == 1 &&
	    amqp_table_get(args, "x-dead-letter-exchange", &dlx) != 1)
		return broker_fail(err, AMQP_PRECONDITION_FAILED,
		                   "invalid arg 'x-dead-letter-routing-key' for %s: "
		                   "routing_key_but_no_dlx_defined", what);
	return 0;
}

enum queue_type
queue_type_of(struct amqp_bytes args)
{
	struct amqp_field f;

	if (amqp_table_get(args, "x-queue-type", &f) == 1 && f.kind == 'S') {
		if (amqp_bytes_eq_cstr(f.v.str, "quorum"))
			return QUEUE_QUORUM;
		if (amqp_bytes_eq_cstr(f.v.str, "stream"))
			return QUEUE_STREAM;
	}
	return QUEUE_CLASSIC;
}

const char *
queue_type_name(enum queue_type t)
{
	return t == QUEUE_QUORUM ? "quorum" : t == QUEUE_STREAM ? "stream" : "classic";
}

/*
 * The arguments RabbitMQ knows (rabbit_amqqueue:declare_args/0) and which
 * of them each queue type takes (its capabilities); a known argument
 * another type takes is refused with RabbitMQ's text.  Unknown arguments
 * pass, as in RabbitMQ.  x-delivery-limit on classic queues is warren's.
 */
static const char *const known_args[] = {
	"x-expires", "x-message-ttl", "x-dead-letter-exchange", "x-dead-letter-routing-key",
	"x-max-length", "x-max-length-bytes", "x-max-in-memory-length", "x-max-in-memory-bytes",
	"x-max-priority", "x-overflow", "x-queue-mode", "x-single-active-consumer", "x-queue-type",
	"x-quorum-initial-group-size", "x-max-age", "x-stream-max-segment-size-bytes",
	"x-initial-cluster-size", "x-queue-master-locator", "x-queue-leader-locator",
	"x-dead-letter-strategy", "x-delivery-limit", NULL
};
static const char *const classic_args[] = {
	"x-expires", "x-message-ttl", "x-dead-letter-exchange", "x-dead-letter-routing-key",
	"x-max-length", "x-max-length-bytes", "x-max-priority", "x-overflow", "x-queue-mode",
	"x-single-active-consumer", "x-queue-type", "x-queue-master-locator", "x-delivery-limit", NULL
};
static const char *const quorum_args[] = {
	"x-dead-letter-exchange", "x-dead-letter-routing-key", "x-dead-letter-strategy",
	"x-expires", "x-max-length", "x-max-length-bytes", "x-max-in-memory-length",
	"x-max-in-memory-bytes", "x-overflow", "x-single-active-consumer", "x-queue-type",
	"x-quorum-initial-group-size", "x-delivery-limit", "x-message-ttl",
	"x-queue-leader-locator", NULL
};
static const char *const stream_args[] = {
	"x-max-length-bytes", "x-queue-type", "x-max-age", "x-stream-max-segment-size-bytes",
	"x-initial-cluster-size", "x-queue-leader-locator", NULL
};

static bool
in_list(const char *const *list, struct amqp_bytes key)
{
	for (; *list; list++)
		if (amqp_bytes_eq_cstr(key, *list))
			return true;
	return false;
}

static int
check_type_args(enum queue_type t, struct amqp_bytes args, const char *what,
                struct broker_err *err)
{
	const char *const *caps = t == QUEUE_QUORUM ? quorum_args :
	                          t == QUEUE_STREAM ? stream_args : classic_args;
	struct amqp_table_iter it;
	struct amqp_bytes      key;
	struct amqp_field      v;

	amqp_table_iter_init(&it, args);
	while (amqp_table_next(&it, &key, &v) == 1)
		if (in_list(known_args, key) && !in_list(caps, key))
			return broker_fail(err, AMQP_PRECONDITION_FAILED,
			                   "invalid arg '%.*s' for %s of queue type rabbit_%s_queue",
			                   (int)key.len, (const char *)key.ptr, what, queue_type_name(t));
	return 0;
}

/* rabbit_quorum_queue / rabbit_stream_queue: what a new queue of the type must be. */
static int
check_type_props(enum queue_type t, bool durable, bool exclusive, bool auto_delete,
                 const char *what, struct broker_err *err)
{
	const char *bad = auto_delete ? "auto-delete" : exclusive ? "exclusive-owner" :
	                  !durable    ? "non-durable" : NULL;

	if (t == QUEUE_CLASSIC || bad == NULL)
		return 0;
	return broker_fail(err, AMQP_PRECONDITION_FAILED, "invalid property '%s' for %s", bad, what);
}

/*
 * x-max-age: a positive number and one unit of Y, M, D, h, m, s, as
 * RabbitMQ reads it (rabbit_amqqueue:check_max_age); *ms gets milliseconds.
 */
int
queue_parse_age(struct amqp_bytes v, int64_t *ms)
{
	static const struct { char unit; int64_t ms; } units[] = {
		{ 'Y', 365LL * 86400000 }, { 'M', 30LL * 86400000 }, { 'D', 86400000 },
		{ 'h', 3600000 }, { 'm', 60000 }, { 's', 1000 },
	};
	int64_t n = 0;
	size_t  i;

	if (v.len < 2 || v.len > 19)
		return -1;
	for (i = 0; i + 1 < v.len; i++) {
		if (v.ptr[i] < '0' || v.ptr[i] > '9')
			return -1;
		n = n * 10 + (v.ptr[i] - '0');
	}
	if (n == 0)
		return -1;
	for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++)
		if (v.ptr[v.len - 1] == units[u].unit) {
			if (n > INT64_MAX / units[u].ms)
				return -1;
			*ms = n * units[u].ms;
			return 0;
		}
	return -1;
}

/* Read the lifecycle arguments (already validated) into opts. */
static void
parse_opts(struct amqp_bytes args, struct queue_opts *o)
{
	struct amqp_field f;
	int64_t           n;

	memset(o, 0, sizeof(*o));
	o->message_ttl = o->expires = o->max_length = o->max_length_bytes = o->delivery_limit = -1;
	o->consumer_timeout = -1;
	if (amqp_table_get(args, "x-consumer-timeout", &f) == 1 && amqp_field_as_int(&f, &n))
		o->consumer_timeout = n;
	if (amqp_table_get(args, "x-message-ttl", &f) == 1 && amqp_field_as_int(&f, &n))
		o->message_ttl = n;
	if (amqp_table_get(args, "x-expires", &f) == 1 && amqp_field_as_int(&f, &n))
		o->expires = n;
	if (amqp_table_get(args, "x-max-length", &f) == 1 && amqp_field_as_int(&f, &n))
		o->max_length = n;
	if (amqp_table_get(args, "x-max-length-bytes", &f) == 1 && amqp_field_as_int(&f, &n))
		o->max_length_bytes = n;
	if (amqp_table_get(args, "x-delivery-limit", &f) == 1 && amqp_field_as_int(&f, &n))
		o->delivery_limit = n;
	if (amqp_table_get(args, "x-max-priority", &f) == 1 && amqp_field_as_int(&f, &n))
		o->max_priority = (uint8_t)n;
	if (amqp_table_get(args, "x-overflow", &f) == 1 && f.kind == 'S') {
		if (amqp_bytes_eq_cstr(f.v.str, "reject-publish"))
			o->overflow = OVERFLOW_REJECT_PUBLISH;
		else if (amqp_bytes_eq_cstr(f.v.str, "reject-publish-dlx"))
			o->overflow = OVERFLOW_REJECT_PUBLISH_DLX;
	}
	if (amqp_table_get(args, "x-dead-letter-exchange", &f) == 1 && f.kind == 'S') {
		o->has_dlx = true;
		o->dlx = f.v.str;
	}
	if (amqp_table_get(args, "x-dead-letter-routing-key", &f) == 1 && f.kind == 'S') {
		o->has_dlrk = true;
		o->dlrk = f.v.str;
	}
	if (amqp_table_get(args, "x-single-active-consumer", &f) == 1 && f.kind == 't')
		o->single_active = f.v.b;
	if (amqp_table_get(args, "x-dead-letter-strategy", &f) == 1 && f.kind == 'S')
		o->dlx_at_least_once = amqp_bytes_eq_cstr(f.v.str, "at-least-once");
}

static void
min_key(json_t *def, const char *key, int64_t *v)
{
	json_t *j = json_object_get(def, key);

	if (json_is_integer(j) && json_integer_value(j) >= 0 &&
	    (*v < 0 || json_integer_value(j) < *v))
		*v = json_integer_value(j);
}

static void
str_key(json_t *def, const char *key, struct amqp_bytes *own, bool *has, struct amqp_bytes *v)
{
	json_t *j = json_object_get(def, key);

	if (*has || !json_is_string(j))
		return;
	bytes_free(own);
	*own = bytes_dup((struct amqp_bytes){ json_string_length(j), (const uint8_t *)json_string_value(j) });
	*has = true;
	*v = *own;
}

/*
 * Overlay the policy and the operator policy in force on the options the
 * arguments gave, with RabbitMQ's rules: for TTLs, expiry and length
 * limits the smaller value wins; for dead-lettering and overflow the
 * queue's own argument wins over a policy.
 */
static void
apply_policies(struct queue *q)
{
	const char          *vh = q->vh->name, *name = (const char *)q->name.ptr;
	const char          *type = queue_type_name(q->type);
	const struct policy *p = policy_match(vh, name, true, type, false);
	const struct policy *op = policy_match(vh, name, true, type, true);
	struct queue_opts   *o = &q->opts;

	for (int i = 0; i < 2; i++) {
		const struct policy *pol = i == 0 ? p : op;
		if (pol == NULL)
			continue;
		json_t *def = pol->definition;
		min_key(def, "message-ttl", &o->message_ttl);
		min_key(def, "expires", &o->expires);
		min_key(def, "max-length", &o->max_length);
		min_key(def, "max-length-bytes", &o->max_length_bytes);
		min_key(def, "delivery-limit", &o->delivery_limit);
		if (pol->operator_policy)
			continue;
		str_key(def, "dead-letter-exchange", &q->pol_dlx, &o->has_dlx, &o->dlx);
		str_key(def, "dead-letter-routing-key", &q->pol_dlrk, &o->has_dlrk, &o->dlrk);
		json_t *ov = json_object_get(def, "overflow");
		struct amqp_field f;
		if (json_is_string(ov) && amqp_table_get(q->args, "x-overflow", &f) != 1) {
			if (strcmp(json_string_value(ov), "reject-publish") == 0)
				o->overflow = OVERFLOW_REJECT_PUBLISH;
			else if (strcmp(json_string_value(ov), "reject-publish-dlx") == 0)
				o->overflow = OVERFLOW_REJECT_PUBLISH_DLX;
			else
				o->overflow = OVERFLOW_DROP_HEAD;
		}
	}
}

json_t *
queue_policy_definition(const struct queue *q)
{
	const struct policy *p = policy_match(q->vh->name, (const char *)q->name.ptr, true,
	                                      queue_type_name(q->type), false);

	return p ? p->definition : NULL;
}

void
queue_apply_policy(struct queue *q)
{
	uint8_t max_priority = q->opts.max_priority; /* not a policy key: the rings stay */
	struct qentry old;

	parse_opts(q->args, &q->opts);
	q->opts.max_priority = max_priority;
	apply_policies(q);
	if (q->type == QUEUE_STREAM) {
		queue_stream_apply_policy(q);
		return;
	}
	arm_ttl(q);
	queue_touch(q);
	if (q->opts.overflow == OVERFLOW_DROP_HEAD) {
		while (q->count && over_limit(q, 0, 0)) {
			take_head(q, head_ring(q), &old);
			drop_entry(q, &old, "maxlen");
		}
	}
	queue_schedule(q);
}

static const char *const queue_equiv_keys[] = {
	"x-expires", "x-message-ttl", "x-dead-letter-exchange", "x-dead-letter-routing-key",
	"x-max-length", "x-max-length-bytes", "x-max-priority", "x-overflow", "x-queue-mode",
	"x-single-active-consumer", "x-delivery-limit", NULL
};

/*
 * x-queue-type on a redeclaration, as RabbitMQ 3.10 compares it: an
 * absent type means classic; two types named on both sides that differ
 * get rabbit_queue_type's short text, the other mismatches the usual one.
 */
static int
type_equivalent(struct amqp_bytes have, struct amqp_bytes want, const char *what,
                struct broker_err *err)
{
	static const char *const key[] = { "x-queue-type", NULL };
	struct amqp_field        a, b;
	bool                     ha = amqp_table_get(have, "x-queue-type", &a) == 1 && a.kind == 'S';
	bool                     hb = amqp_table_get(want, "x-queue-type", &b) == 1 && b.kind == 'S';

	if (queue_type_of(have) == queue_type_of(want))
		return 0;
	if (ha && hb)
		return broker_fail(err, AMQP_PRECONDITION_FAILED,
		                   "inequivalent arg 'x-queue-type' for %s: received '%.*s' but current is "
		                   "'%.*s'", what, (int)b.v.str.len, (const char *)b.v.str.ptr,
		                   (int)a.v.str.len, (const char *)a.v.str.ptr);
	return exchange_args_equivalent(have, want, key, what, err);
}

int
queue_declare(struct vhost *vh, struct amqp_bytes name, bool passive, bool durable,
              bool exclusive, bool auto_delete, struct amqp_bytes args, struct conn *owner,
              struct queue **out, struct broker_err *err)
{
	char          gen[64];
	char          what[400];
	struct queue *q;
	int           rc;

	bool named_by_client = name.len != 0;

	if (name.len == 0 && !passive) {
		server_name(gen, sizeof(gen));
		name = amqp_cstr(gen);
	}
	snprintf(what, sizeof(what), "queue '%.*s' in vhost '%s'", (int)name.len,
	         (const char *)name.ptr, vh->name);
	q = queue_find(vh, name);
	if (passive) {
		if (q == NULL)
			return broker_fail(err, AMQP_NOT_FOUND, "no %s", what);
		if ((rc = queue_check_access(q, owner, err)) != 0)
			return rc;
		broker.queues_declared++;
		*out = q;
		return 0;
	}
	if (q) {
		/* check_exclusive_access(strict): a redeclare must match exclusivity too */
		if (q->exclusive != exclusive || (q->exclusive && q->owner != owner))
			return broker_fail(err, AMQP_RESOURCE_LOCKED,
			                   "cannot obtain exclusive access to locked %s. It could be "
			                   "originally declared on another connection or the exclusive "
			                   "property value does not match that of the original declaration.",
			                   what);
		if (q->durable != durable)
			return broker_fail(err, AMQP_PRECONDITION_FAILED,
			                   "inequivalent arg 'durable' for %s: received '%s' but current is '%s'",
			                   what, durable ? "true" : "false", q->durable ? "true" : "false");
		if (q->auto_delete != auto_delete)
			return broker_fail(err, AMQP_PRECONDITION_FAILED,
			                   "inequivalent arg 'auto_delete' for %s: received '%s' but current is '%s'",
			                   what, auto_delete ? "true" : "false",
			                   q->auto_delete ? "true" : "false");
		if ((rc = validate_args(args, what, err)) != 0)
			return rc;
		if ((rc = type_equivalent(q->args, args, what, err)) != 0 ||
		    (rc = exchange_args_equivalent(q->args, args, queue_equiv_keys, what, err)) != 0)
			return rc;
		queue_touch(q);
		broker.queues_declared++;
		*out = q;
		return 0;
	}
	if (named_by_client && name.len >= 4 && memcmp(name.ptr, "amq.", 4) == 0)
		return broker_fail(err, AMQP_ACCESS_REFUSED,
		                   "queue name '%.*s' contains reserved prefix 'amq.*'", (int)name.len,
		                   (const char *)name.ptr);
	if ((rc = validate_args(args, what, err)) != 0)
		return rc;
	enum queue_type type = queue_type_of(args);
	if (type != QUEUE_CLASSIC && !named_by_client)
		return broker_fail(err, AMQP_PRECONDITION_FAILED,
		                   "Cannot declare a server-named queue for type rabbit_%s_queue",
		                   queue_type_name(type));
	if ((rc = check_type_args(type, args, what, err)) != 0 ||
	    (rc = check_type_props(type, durable, exclusive, auto_delete, what, err)) != 0)
		return rc;
	int64_t limit = broker_vhost_limit(vh, "max-queues");
	if (limit >= 0 && (int64_t)vh->queues.count >= limit)
		return broker_fail(err, AMQP_PRECONDITION_FAILED,
		                   "cannot declare queue '%.*s': queue limit in vhost '%s' (%lld) is reached",
		                   (int)name.len, (const char *)name.ptr, vh->name, (long long)limit);

	q = xcalloc(1, sizeof(*q));
	q->name = bytes_dup(name);
	q->vh = vh;
	q->durable = durable;
	q->exclusive = exclusive;
	q->auto_delete = auto_delete;
	q->type = type;
	q->args = bytes_dup(args);
	q->refs = 1;
	parse_opts(q->args, &q->opts);
	q->prio = xcalloc((size_t)q->opts.max_priority + 1, sizeof(*q->prio));
	apply_policies(q);
	ev_init(&q->ttl_timer, ttl_cb);
	ev_init(&q->expiry_timer, expiry_cb);
	LIST_INIT(&q->consumers);
	LIST_INIT(&q->dest_bindings);
	LIST_INIT(&q->dlink);
	LIST_INIT(&q->olink);
	if (exclusive && owner) {
		q->owner = owner;
		list_add_tail(&owner->exclusive_queues, &q->olink);
	}
	hmap_put(&vh->queues, q->name, q);
	/* Every queue is bound to the default exchange implicitly (see exchange_route). */
	if (durable && !exclusive) {
		persist_meta_queue(q, true);
		persist_queue_open(q); /* recovers its messages when the broker starts */
	}
	queue_touch(q);
	broker.queues_created++;
	broker.queues_declared++;
	*out = q;
	return 0;
}

static int
bind_lookup(struct vhost *vh, struct amqp_bytes qname, struct amqp_bytes xname,
            struct conn *c, struct queue **q, struct exchange **x, struct broker_err *err)
{
	int rc;

	if (xname.len == 0)
		return broker_fail(err, AMQP_ACCESS_REFUSED,
		                   "operation not permitted on the default exchange");
	*x = exchange_find(vh, xname);
	if (*x == NULL)
		return broker_fail(err, AMQP_NOT_FOUND, "no exchange '%.*s' in vhost '%s'",
		                   (int)xname.len, (const char *)xname.ptr, vh->name);
	*q = queue_find(vh, qname);
	if (*q == NULL)
		return broker_fail(err, AMQP_NOT_FOUND, "no queue '%.*s' in vhost '%s'",
		                   (int)qname.len, (const char *)qname.ptr, vh->name);
	if ((rc = queue_check_access(*q, c, err)) != 0)
		return rc;
	return 0;
}

int
queue_bind(struct vhost *vh, struct amqp_bytes qname, struct amqp_bytes xname,
           struct amqp_bytes rk, struct amqp_bytes args, struct conn *c, struct broker_err *err)
{
	struct queue    *q;
	struct exchange *x;
	int              rc = bind_lookup(vh, qname, xname, c, &q, &x, err);

	if (rc)
		return rc;
	return exchange_add_binding(x, false, q, &q->dest_bindings, rk, args, err);
}

int
queue_unbind(struct vhost *vh, struct amqp_bytes qname, struct amqp_bytes xname,
             struct amqp_bytes rk, struct amqp_bytes args, struct conn *c,
             struct broker_err *err)
{
	struct queue    *q;
	struct exchange *x;
	int              rc = bind_lookup(vh, qname, xname, c, &q, &x, err);

	if (rc) {
		/* RabbitMQ answers unbind-ok when the queue or exchange does not exist. */
		return err->code == AMQP_NOT_FOUND ? 0 : rc;
	}
	exchange_remove_binding(x, q, &q->dest_bindings, rk, args);
	return 0;
}

int
queue_add_consumer(struct queue *q, struct consumer *c, struct broker_err *err)
{
	struct list *it, *tmp;

	int rc;

	if (q->exclusive_consumer || (c->exclusive && q->nconsumers))
		return broker_fail(err, AMQP_ACCESS_REFUSED, "queue '%.*s' in vhost '%s' in exclusive use",
		                   (int)q->name.len, (const char *)q->name.ptr, q->vh->name);
	if (q->type == QUEUE_STREAM && (rc = queue_stream_attach(q, c, err)) != 0)
		return rc;
	c->q = q;
	/* After every consumer of the same or higher priority. */
	list_for_each_safe (it, tmp, &q->consumers)
		if (container_of(it, struct consumer, qlink)->priority < c->priority)
			break;
	list_add_tail(it, &c->qlink);
	q->nconsumers++;
	q->had_consumer = true;
	/* single active consumer: the first to register stays active until it goes */
	if (q->opts.single_active && q->active == NULL)
		q->active = c;
	ev_timer_stop(EV_DEFAULT, &q->expiry_timer);
	if (c->exclusive)
		q->exclusive_consumer = true;
	queue_schedule(q);
	return 0;
}

void
queue_remove_consumer(struct consumer *c)
{
	struct queue *q = c->q;

	if (q == NULL || q->deleted)
		return;
	queue_stream_drop_reader(c);
	list_del(&c->qlink);
	q->nconsumers--;
	if (c->exclusive)
		q->exclusive_consumer = false;
	if (q->active == c) {
		/* single active consumer: the next one takes over */
		q->active = NULL;
		queue_schedule(q);
	}
	if (q->auto_delete && q->nconsumers == 0 && q->had_consumer) {
		queue_destroy(q);
		return;
	}
	if (q->nconsumers == 0)
		queue_touch(q);
}

/* Dead-lettering. */

static bool
field_is_str(const struct amqp_field *f, const char *s)
{
	return f->kind == 'S' && amqp_bytes_eq_cstr(f->v.str, s);
}

/*
 * rabbit_dead_letter:is_cycle/2: the dead-lettered message would come back
 * to queue qname, and no death on the way was a client's rejection.
 */
static bool
is_cycle(struct amqp_bytes deaths, struct amqp_bytes qname)
{
	struct amqp_array_iter it;
	struct amqp_field      d, f;
	bool                   rejected = false;

	amqp_array_iter_init(&it, deaths);
	while (amqp_array_next(&it, &d) == 1) {
		if (d.kind != 'F')
			return false;
		if (amqp_table_get(d.v.table, "reason", &f) == 1 && field_is_str(&f, "rejected"))
			rejected = true;
		if (amqp_table_get(d.v.table, "queue", &f) == 1 && f.kind == 'S' &&
		    amqp_bytes_eq(f.v.str, qname))
			return !rejected;
	}
	return false;
}

static void
put_str(struct amqp_wbuf *w, const char *key, struct amqp_bytes v)
{
	amqp_table_put_longstr(w, key, v);
}

/*
 * Build the dead-lettered message's headers: the x-death entry for (queue,
 * reason) moves to the front with its count incremented (RabbitMQ 3.10's
 * rabbit_dead_letter:update_x_death_header/2), x-first-death-* are set once,
 * every other header is kept.
 */
static size_t
build_headers(struct queue *q, const struct msg *m, const struct amqp_basic_props *p,
              const char *reason, uint8_t *buf, size_t cap)
{
	struct amqp_wbuf       w;
	struct amqp_table_iter it;
	struct amqp_bytes      key, old_deaths = { 0, NULL };
	struct amqp_field      v, f;
	int64_t                count = 0;
	bool                   have_first = false;

	if (p->flags & AMQP_PROP_HEADERS) {
		if (amqp_table_get(p->headers, "x-death", &v) == 1 && v.kind == 'A')
			old_deaths = v.v.array;
		have_first = amqp_table_get(p->headers, "x-first-death-reason", &v) == 1;
	}
	amqp_wbuf_init(&w, buf, cap);
	if (p->flags & AMQP_PROP_HEADERS) {
		amqp_table_iter_init(&it, p->headers);
		while (amqp_table_next(&it, &key, &v) == 1) {
			if (amqp_bytes_eq_cstr(key, "x-death"))
				continue;
			amqp_table_put_key(&w, key);
			amqp_field_put(&w, &v);
		}
	}
	if (!have_first) {
		put_str(&w, "x-first-death-exchange", msg_exchange(m));
		put_str(&w, "x-first-death-queue", q->name);
		put_str(&w, "x-first-death-reason", amqp_cstr(reason));
	}
	/* find the existing entry for this queue and reason */
	struct amqp_array_iter ai;
	amqp_array_iter_init(&ai, old_deaths);
	while (amqp_array_next(&ai, &v) == 1) {
		if (v.kind == 'F' && amqp_table_get(v.v.table, "queue", &f) == 1 && f.kind == 'S' &&
		    amqp_bytes_eq(f.v.str, q->name) && amqp_table_get(v.v.table, "reason", &f) == 1 &&
		    field_is_str(&f, reason)) {
			if (amqp_table_get(v.v.table, "count", &f) == 1)
				amqp_field_as_int(&f, &count);
			break;
		}
	}
	amqp_table_put_key(&w, amqp_cstr("x-death"));
	amqp_wbuf_u8(&w, 'A');
	size_t arr = amqp_table_begin(&w);
	amqp_wbuf_u8(&w, 'F');
	size_t t = amqp_table_begin(&w);
	amqp_table_put_i64(&w, "count", count + 1);
	put_str(&w, "reason", amqp_cstr(reason));
	put_str(&w, "queue", q->name);
	amqp_table_put_key(&w, amqp_cstr("time"));
	amqp_wbuf_u8(&w, 'T');
	amqp_wbuf_u64(&w, (uint64_t)time(NULL));
	put_str(&w, "exchange", msg_exchange(m));
	amqp_table_put_key(&w, amqp_cstr("routing-keys"));
	amqp_wbuf_u8(&w, 'A');
	size_t rks = amqp_table_begin(&w);
	amqp_wbuf_u8(&w, 'S');
	amqp_wbuf_longstr(&w, msg_routing_key(m));
	amqp_table_end(&w, rks);
	if (p->flags & AMQP_PROP_EXPIRATION)
		put_str(&w, "original-expiration", p->expiration);
	amqp_table_end(&w, t);
	/* then the other entries, in their order */
	amqp_array_iter_init(&ai, old_deaths);
	while (amqp_array_next(&ai, &v) == 1) {
		if (v.kind == 'F' && amqp_table_get(v.v.table, "queue", &f) == 1 && f.kind == 'S' &&
		    amqp_bytes_eq(f.v.str, q->name) && amqp_table_get(v.v.table, "reason", &f) == 1 &&
		    field_is_str(&f, reason))
			continue;
		amqp_field_put(&w, &v);
	}
	amqp_table_end(&w, arr);
	return w.overflow ? 0 : w.len;
}

#define DLX_RETRY 1.0 /* seconds between attempts to place at-least-once dead letters */

static bool
at_least_once(const struct queue *q)
{
	/* RabbitMQ falls back to at-most-once unless overflow is reject-publish */
	return q->type == QUEUE_QUORUM && q->opts.dlx_at_least_once && q->opts.has_dlx &&
	       q->opts.overflow == OVERFLOW_REJECT_PUBLISH;
}

static void
dlx_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct queue *q = container_of(w, struct queue, dlx_timer);
	size_t        keep = 0;

	(void)loop;
	(void)revents;
	queue_ref(q);
	for (size_t i = 0; i < q->ndlx && !q->deleted; i++) {
		struct dlx_pending d = q->dlx[i];
		if (queue_dead_letter(q, msg_ref(d.m), d.reason)) {
			persist_ack(q, d.store_id);
			q->dlx_bytes -= d.m->body_len;
			msg_unref(d.m);
		} else {
			q->dlx[keep++] = d;
		}
	}
	if (!q->deleted) {
		q->ndlx = keep;
		if (q->ndlx == 0)
			ev_timer_stop(EV_DEFAULT, &q->dlx_timer);
	}
	queue_unref(q);
}

static void
dlx_free(struct queue *q)
{
	for (size_t i = 0; i < q->ndlx; i++)
		msg_unref(q->dlx[i].m);
	free(q->dlx);
	q->dlx = NULL;
	q->ndlx = q->dlx_cap = 0;
	q->dlx_bytes = 0;
	ev_timer_stop(EV_DEFAULT, &q->dlx_timer);
}

void
queue_dead_letter_entry(struct queue *q, struct msg *m, uint64_t store_id, const char *reason)
{
	if (!at_least_once(q) || q->deleted) {
		persist_ack(q, store_id);
		queue_dead_letter(q, m, reason);
		return;
	}
	if (queue_dead_letter(q, msg_ref(m), reason)) {
		persist_ack(q, store_id);
		msg_unref(m);
		return;
	}
	if (q->ndlx == q->dlx_cap) {
		q->dlx_cap = q->dlx_cap ? q->dlx_cap * 2 : 16;
		q->dlx = xrealloc(q->dlx, q->dlx_cap * sizeof(*q->dlx));
	}
	q->dlx[q->ndlx++] = (struct dlx_pending){ m, store_id, reason };
	q->dlx_bytes += m->body_len;
	if (!ev_is_active(&q->dlx_timer)) {
		ev_timer_init(&q->dlx_timer, dlx_retry_cb, DLX_RETRY, DLX_RETRY);
		ev_timer_start(EV_DEFAULT, &q->dlx_timer);
	}
}

bool
queue_dead_letter(struct queue *q, struct msg *m, const char *reason)
{
	bool placed = false;

	static uint8_t           hbuf[65536], pbuf[70000];
	static struct queue    **route;
	static size_t            route_cap;
	struct amqp_basic_props  p;
	struct exchange         *x;

	if (!q->opts.has_dlx || (x = exchange_find(q->vh, q->opts.dlx)) == NULL ||
	    amqp_props_decode(msg_props(m), &p) != 0) {
		msg_unref(m);
		return false;
	}
	size_t hlen = build_headers(q, m, &p, reason, hbuf, sizeof(hbuf));
	if (hlen == 0) {
		msg_unref(m);
		return false;
	}
	p.flags |= AMQP_PROP_HEADERS;
	p.headers = (struct amqp_bytes){ hlen, hbuf };
	p.flags &= (uint16_t)~AMQP_PROP_EXPIRATION; /* kept as original-expiration */
	struct amqp_wbuf w;
	amqp_wbuf_init(&w, pbuf, sizeof(pbuf));
	amqp_props_encode(&w, &p);
	if (w.overflow) {
		msg_unref(m);
		return false;
	}
	struct amqp_bytes rk = q->opts.has_dlrk ? q->opts.dlrk : msg_routing_key(m);
	struct msg       *dm = msg_new(q->opts.dlx, rk, (struct amqp_bytes){ w.len, pbuf }, m->body_len);
	if (dm == NULL) {
		msg_unref(m);
		return false;
	}
	memcpy(dm->body, m->body, m->body_len);
	dm->body_filled = m->body_len;
	dm->persistent = m->persistent;
	dm->priority = m->priority;
	msg_unref(m);

	/* dm owns a copy of the headers; hbuf may be reused by a nested dead-lettering */
	struct amqp_field deaths = { 0 };
	if (amqp_props_decode(msg_props(dm), &p) == 0)
		amqp_table_get(p.headers, "x-death", &deaths);
	bool   check_cycles = strcmp(reason, "rejected") != 0;
	size_t n = exchange_route(x, dm, p.headers, &route, &route_cap);
	/* queue_push may dead-letter again and reuse the route buffer: copy it */
	struct queue *local[16], **targets = n <= 16 ? local : xmalloc(n * sizeof(*targets));
	if (n)
		memcpy(targets, route, n * sizeof(*targets));
	for (size_t i = 0; i < n; i++) {
		if (check_cycles && deaths.kind == 'A' && is_cycle(deaths.v.array, targets[i]->name))
			continue;
		if (queue_push(targets[i], dm) == 0)
			placed = true;
	}
	if (targets != local)
		free(targets);
	msg_unref(dm);
	return placed;
}
