/*
 * Stream queues (x-queue-type: stream) over AMQP 0-9-1, as RabbitMQ 3.10
 * offers them: an append-only log (storage/stream.h) that consumers read
 * from an offset of their choice without removing anything.  A consumer
 * needs a prefetch and manual acks; an ack only gives it credit back.
 * Every delivery carries its x-stream-offset header.  Each consumer holds
 * a reader (a position and a read buffer) and nothing per message: many
 * consumers of one stream share the one copy on disk.
 *
 * Readers see what a group commit has made durable: appends wake the
 * stream's consumers once the batch that covers them has ended
 * (queue_stream_committed()).  Retention (x-max-length-bytes, x-max-age)
 * drops whole old segments, after commits and on a timer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "amqp/spec_gen.h"
#include "amqp/table.h"
#include "server/broker.h"
#include "server/channel.h"
#include "server/log.h"
#include "server/msg.h"
#include "server/persist.h"
#include "server/util.h"
#include "storage/stream.h"

#define RETAIN_INTERVAL 5.0 /* seconds between retention checks (x-max-age) */

static struct list streams = { &streams, &streams };  /* every open stream queue */
static struct list appended = { &appended, &appended }; /* streams appended since the last sync */
static ev_timer    retain_w;

static void
refresh_count(struct queue *q)
{
	q->count = q->ss ? (size_t)store_stream_count(q->ss) : 0;
}

static void
retain_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct list *it, *tmp;
	int64_t      now = (int64_t)queue_now_ms();

	(void)loop;
	(void)w;
	(void)revents;
	list_for_each_safe (it, tmp, &streams) {
		struct queue *q = container_of(it, struct queue, slink);
		if (q->ss && store_stream_retain(q->ss, now) > 0)
			refresh_count(q);
	}
}

/* The retention settings: the queue's arguments, else its policy. */
static void
stream_limits(struct queue *q, uint64_t *seg, uint64_t *max_bytes, int64_t *max_age)
{
	struct amqp_field f;
	int64_t           n;
	json_t           *def = queue_policy_definition(q), *j;

	*seg = 0;
	*max_bytes = q->opts.max_length_bytes > 0 ? (uint64_t)q->opts.max_length_bytes : 0;
	*max_age = 0;
	if (amqp_table_get(q->args, "x-stream-max-segment-size-bytes", &f) == 1 &&
	    amqp_field_as_int(&f, &n) && n > 0)
		*seg = (uint64_t)n;
	else if (def && json_is_integer(j = json_object_get(def, "stream-max-segment-size-bytes")) &&
	         json_integer_value(j) > 0)
		*seg = (uint64_t)json_integer_value(j);
	if (amqp_table_get(q->args, "x-max-age", &f) == 1 && f.kind == 'S')
		queue_parse_age(f.v.str, max_age);
	else if (def && json_is_string(j = json_object_get(def, "max-age")))
		queue_parse_age(amqp_cstr(json_string_value(j)), max_age);
}

void
queue_stream_opened(struct queue *q)
{
	uint64_t seg, max_bytes;
	int64_t  max_age;

	if (q->ss == NULL)
		return;
	stream_limits(q, &seg, &max_bytes, &max_age);
	store_stream_set_limits(q->ss, seg, max_bytes, max_age);
	list_add_tail(&streams, &q->slink);
	LIST_INIT(&q->alink);
	if (!ev_is_active(&retain_w)) {
		ev_timer_init(&retain_w, retain_cb, RETAIN_INTERVAL, RETAIN_INTERVAL);
		ev_timer_start(EV_DEFAULT, &retain_w);
		ev_unref(EV_DEFAULT); /* the timer alone does not keep the loop running */
	}
	store_stream_retain(q->ss, (int64_t)queue_now_ms());
	refresh_count(q);
}

void
queue_stream_apply_policy(struct queue *q)
{
	uint64_t seg, max_bytes;
	int64_t  max_age;

	if (q->ss == NULL)
		return;
	stream_limits(q, &seg, &max_bytes, &max_age);
	store_stream_set_limits(q->ss, seg, max_bytes, max_age);
	store_stream_retain(q->ss, (int64_t)queue_now_ms());
	refresh_count(q);
}

void
queue_stream_closing(struct queue *q)
{
	struct list *it, *tmp;

	list_for_each_safe (it, tmp, &q->consumers)
		queue_stream_drop_reader(container_of(it, struct consumer, qlink));
	if (q->ss == NULL)
		return;
	list_del(&q->slink);
	LIST_INIT(&q->slink); /* closing twice (shutdown, then delete) is harmless */
	if (q->stream_appended)
		list_del(&q->alink);
	q->stream_appended = false;
}

int
queue_stream_push(struct queue *q, struct msg *m)
{
	uint64_t off;

	if (q->ss == NULL || persist_stream_append(q, m, (int64_t)queue_now_ms(), &off) != 0)
		return -1;
	q->stat_published++;
	if (!q->stream_appended) {
		q->stream_appended = true;
		list_add_tail(&appended, &q->alink);
	}
	refresh_count(q);
	return 0;
}

void
queue_stream_committed(void)
{
	int64_t now = (int64_t)queue_now_ms();

	struct list *it, *tmp;

	list_for_each_safe (it, tmp, &appended) {
		struct queue *q = container_of(it, struct queue, alink);
		/* appends made while the batch was in flight wait for the next one */
		if (store_stream_committed(q->ss) == store_stream_next(q->ss)) {
			list_del(&q->alink);
			q->stream_appended = false;
		}
		if (store_stream_retain(q->ss, now) > 0)
			refresh_count(q);
		/* the consumers may read further now: deliver in this loop turn */
		queue_schedule(q);
	}
}

/*
 * x-stream-offset: "first", "last", "next", an offset (a negative one
 * means the first), a timestamp, or an interval back from now ("30m").
 * RabbitMQ answers anything else with 541 INTERNAL_ERROR; warren with a
 * channel error naming the argument.
 */
static int
start_offset(struct queue *q, struct amqp_bytes args, uint64_t *off, struct broker_err *err)
{
	struct store_stream *ss = q->ss;
	struct amqp_field    f;
	int64_t              n;

	*off = store_stream_next(ss);
	if (amqp_table_get(args, "x-stream-offset", &f) != 1)
		return 0;
	if (f.kind == 'S') {
		uint64_t committed = store_stream_committed(ss), first = store_stream_first(ss);
		if (amqp_bytes_eq_cstr(f.v.str, "first"))
			*off = first;
		else if (amqp_bytes_eq_cstr(f.v.str, "last"))
			*off = committed > first ? committed - 1 : committed;
		else if (amqp_bytes_eq_cstr(f.v.str, "next"))
			*off = store_stream_next(ss);
		else if (queue_parse_age(f.v.str, &n) == 0)
			*off = store_stream_offset_at(ss, (int64_t)queue_now_ms() - n);
		else
			goto bad;
		return 0;
	}
	if (f.kind == 'T') {
		*off = store_stream_offset_at(ss, (int64_t)f.v.u * 1000);
		return 0;
	}
	if (f.kind != 't' && f.kind != 'd' && f.kind != 'f' && amqp_field_as_int(&f, &n)) {
		*off = n < 0 ? store_stream_first(ss) : (uint64_t)n;
		return 0;
	}
bad:
	return broker_fail(err, AMQP_PRECONDITION_FAILED,
	                   "invalid arg 'x-stream-offset' for queue '%.*s' in vhost '%s': expected "
	                   "first, last, next, an offset, a timestamp or an interval such as 30m",
	                   (int)q->name.len, (const char *)q->name.ptr, q->vh->name);
}

int
queue_stream_attach(struct queue *q, struct consumer *c, struct broker_err *err)
{
	uint64_t off;
	int      rc;

	if (q->ss == NULL)
		return broker_fail(err, AMQP_INTERNAL_ERROR, "stream queue '%.*s' in vhost '%s' has "
		                   "no log", (int)q->name.len, (const char *)q->name.ptr, q->vh->name);
	if ((rc = start_offset(q, c->args, &off, err)) != 0)
		return rc;
	if (store_stream_reader_open(q->ss, off, &c->rd) != STORE_OK)
		return broker_fail(err, AMQP_INTERNAL_ERROR, "cannot read stream queue '%.*s' in "
		                   "vhost '%s'", (int)q->name.len, (const char *)q->name.ptr, q->vh->name);
	return 0;
}

void
queue_stream_drop_reader(struct consumer *c)
{
	if (c->rd) {
		store_stream_reader_close(c->rd);
		c->rd = NULL;
	}
}

/* Each consumer reads on from its own position while it has credit. */
void
queue_stream_dispatch(struct queue *q)
{
	struct list *it, *tmp;

	list_for_each_safe (it, tmp, &q->consumers) {
		struct consumer *c = container_of(it, struct consumer, qlink);
		while (c->rd && !q->deleted && !c->cancelled && chan_can_deliver(c->ch, c)) {
			const void   *rec;
			size_t        len;
			uint64_t      off;
			int64_t       ts;
			int           rc = store_stream_reader_next(c->rd, &rec, &len, &off, &ts);
			if (rc == STORE_NOTFOUND)
				break;
			if (rc != STORE_OK) {
				log_error("stream queue '%.*s' in vhost '%s': cannot read at offset %llu: %s",
				          (int)q->name.len, (const char *)q->name.ptr, q->vh->name,
				          (unsigned long long)store_stream_reader_offset(c->rd),
				          store_strerror(rc));
				queue_stream_drop_reader(c);
				break;
			}
			struct msg *m = persist_record_msg(rec, len);
			if (m == NULL)
				continue; /* malformed on disk: logged, skipped */
			struct qentry e = { .m = m, .store_id = off, .size = (uint32_t)m->body_len,
			                    .deliveries = 1 };
			chan_deliver(c->ch, c, q, &e);
		}
	}
}
