/*
 * Channels: the methods of the channel, exchange, queue, basic, confirm and
 * tx classes, content assembly, deliveries and acknowledgements.
 *
 * Content assembly (STYLE 4): after basic.publish the channel expects one
 * content header, then body frames up to body-size; anything else on the
 * channel is 505 UNEXPECTED_FRAME.  The message is allocated once, at the
 * header, with room for the whole body.
 *
 * Unacked deliveries are a ring in delivery-tag order.  An ack of a tag in
 * the middle marks the entry done; done entries are dropped when they reach
 * the head, so the ring stays sorted and lookups are binary searches.
 */
#include "server/channel.h"

#include <ctype.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>

#include "amqp/props.h"
#include "amqp/spec_gen.h"
#include "amqp/table.h"
#include "server/auth.h"
#include "server/config.h"
#include "server/conn.h"
#include "server/log.h"
#include "server/msg.h"
#include "server/persist.h"

#define REPLY_TO        "amq.rabbitmq.reply-to"
#define REPLY_TO_PREFIX "amq.rabbitmq.reply-to."

static struct list confirm_list = { &confirm_list, &confirm_list };

static void ack_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents);

struct chan *
chan_new(struct conn *c, uint16_t id)
{
	struct chan *ch = xcalloc(1, sizeof(*ch));

	broker.chans_opened++;
	ch->c = c;
	ch->id = id;
	ch->state = CHAN_OPEN;
	ch->flow_active = true;
	LIST_INIT(&ch->consumers);
	LIST_INIT(&ch->confirm_link);
	LIST_INIT(&ch->durable_link);
	ev_init(&ch->ack_timer, ack_timeout_cb);
	return ch;
}

static void
random_tag(char *out, size_t len, const char *prefix)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint8_t r[22];
	size_t  i;

	if (RAND_bytes(r, sizeof(r)) != 1)
		for (i = 0; i < sizeof(r); i++)
			r[i] = (uint8_t)random();
	i = (size_t)snprintf(out, len, "%s", prefix);
	for (size_t k = 0; k < sizeof(r) && i + 1 < len; k++)
		out[i++] = b64[r[k] & 63];
	out[i] = 0;
}

void
chan_fail(struct chan *ch, int code, uint32_t method_id, const char *fmt, ...)
{
	char    text[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (amqp_reply_is_hard(code)) {
		conn_close_with(ch->c, code, text, method_id);
		return;
	}
	if (ch->state != CHAN_OPEN)
		return;
	char full[700], kind[64];
	snprintf(full, sizeof(full), "%s - %s", amqp_reply_name(code), text);
	/* RabbitMQ's wording, with warren's connection id */
	snprintf(kind, sizeof(kind), "%s", amqp_reply_name(code) ? amqp_reply_name(code) : "error");
	for (char *k = kind; *k; k++)
		*k = (char)tolower((unsigned char)*k);
	log_info("<conn %llu> Channel error on connection (%s -> %s, vhost: '%s', user: '%s'), "
	         "channel %u: operation %s caused a channel exception %s: %s",
	         (unsigned long long)ch->c->id, ch->c->peer, ch->c->local,
	         ch->c->vh ? ch->c->vh->name : "", ch->c->user_name, ch->id,
	         method_id ? amqp_method_name(method_id) : "none", kind, text);
	struct amqp_channel_close cl = {
		.reply_code = (uint16_t)code,
		.reply_text = amqp_cstr(full),
		.class_id = (uint16_t)(method_id >> 16),
		.method_id = (uint16_t)method_id,
	};
	if (cl.reply_text.len > 255)
		cl.reply_text.len = 255;
	conn_send_method(ch->c, ch->id, AMQP_CHANNEL_CLOSE_METHOD, &cl);
	ch->state = CHAN_CLOSING;
	chan_release(ch);
}

static void
fail_err(struct chan *ch, const struct broker_err *e, uint32_t method_id)
{
	chan_fail(ch, e->code, method_id, "%s", e->text);
}

/* Unacked deliveries. */

static struct unacked *
un_at(struct chan *ch, size_t i)
{
	return &ch->unacked[(ch->un_head + i) & (ch->un_cap - 1)];
}

/* The acknowledgement timeout of a delivery: the queue's x-consumer-timeout, else consumer_timeout. */
static double
ack_timeout(const struct unacked *u)
{
	if (u->q && u->q->opts.consumer_timeout >= 0)
		return (double)u->q->opts.consumer_timeout / 1000.0;
	return broker.cfg->consumer_timeout / 1000.0;
}

static void
arm_ack_timer(struct chan *ch, double at)
{
	double timeout = broker.cfg->consumer_timeout / 1000.0;

	if (ch->queue_timeouts) {
		/* Queues may have their own timeouts: look every second at most. */
		if (timeout <= 0 || timeout > 1.0)
			timeout = 1.0;
	} else if (timeout <= 0) {
		return;
	}
	ev_timer_stop(EV_DEFAULT, &ch->ack_timer);
	ev_timer_set(&ch->ack_timer, at + timeout - ev_now(EV_DEFAULT), 0.);
	ev_timer_start(EV_DEFAULT, &ch->ack_timer);
}

static void
un_push(struct chan *ch, const struct unacked *u)
{
	if (ch->un_count == ch->un_cap) {
		size_t          n = ch->un_cap ? ch->un_cap * 2 : 16;
		struct unacked *r = xmalloc(n * sizeof(*r));
		for (size_t i = 0; i < ch->un_count; i++)
			r[i] = *un_at(ch, i);
		free(ch->unacked);
		ch->unacked = r;
		ch->un_cap = n;
		ch->un_head = 0;
	}
	*un_at(ch, ch->un_count++) = *u;
	ch->un_live++;
	if (!ev_is_active(&ch->ack_timer))
		arm_ack_timer(ch, u->at);
}

static void
un_trim(struct chan *ch)
{
	while (ch->un_count && un_at(ch, 0)->done) {
		ch->un_head = (ch->un_head + 1) & (ch->un_cap - 1);
		ch->un_count--;
	}
}

/* Index of the live entry with this tag, or -1. */
static ssize_t
un_find(struct chan *ch, uint64_t tag)
{
	size_t lo = 0, hi = ch->un_count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (un_at(ch, mid)->tag < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < ch->un_count && un_at(ch, lo)->tag == tag && !un_at(ch, lo)->done)
		return (ssize_t)lo;
	return -1;
}

static void consumer_maybe_free(struct consumer *c);

/*
 * Settle one delivery: acked (requeue false, drop true), requeued, or
 * discarded.  The queue gets dispatch work when its consumer got credit.
 */
enum settle { SETTLE_ACK, SETTLE_REQUEUE, SETTLE_DISCARD };

static void
settle(struct chan *ch, struct unacked *u, enum settle how)
{
	struct queue    *q = u->q;
	struct consumer *c = u->c;

	u->done = true;
	ch->un_live--;
	if (q) {
		if (q->type != QUEUE_STREAM)
			q->unacked--;
		if (how == SETTLE_REQUEUE) {
			queue_requeue(q, &u->e);
		} else if (how == SETTLE_DISCARD) {
			queue_dead_letter_entry(q, u->e.m, u->e.store_id, "rejected");
		} else {
			q->stat_acked++;
			persist_ack(q, u->e.store_id);
			msg_unref(u->e.m);
		}
	} else {
		msg_unref(u->e.m);
	}
	u->e.m = NULL;
	if (c) {
		c->unacked--;
		ch->unacked_consumers--;
		if (c->cancelled)
			consumer_maybe_free(c);
		else if (c->q)
			queue_schedule(c->q);
	}
	if (ch->prefetch_global) {
		struct list *it, *tmp;
		list_for_each_safe (it, tmp, &ch->consumers) {
			struct consumer *oc = container_of(it, struct consumer, chlink);
			if (oc->q)
				queue_schedule(oc->q);
		}
	}
	if (q)
		queue_unref(q);
}

/* rabbit_stream_queue: a stream delivery can be acked, never returned or rejected. */
static bool
refuse_stream_settle(struct chan *ch, size_t from, size_t to, uint32_t method_id)
{
	for (size_t i = from; i < to; i++) {
		struct unacked *u = un_at(ch, i);
		if (!u->done && u->q && u->q->type == QUEUE_STREAM) {
			chan_fail(ch, AMQP_NOT_IMPLEMENTED, method_id,
			          "basic.nack and basic.reject not supported by stream queues queue "
			          "'%.*s' in vhost '%s'", (int)u->q->name.len, (const char *)u->q->name.ptr,
			          u->q->vh->name);
			return true;
		}
	}
	return false;
}

/* Apply an ack/nack/reject; returns 0 or reports the error and returns -1. */
static int
do_ack(struct chan *ch, uint64_t tag, bool multiple, enum settle how, uint32_t method_id)
{
	if (how != SETTLE_ACK && method_id != 0) {
		ssize_t at = multiple && tag == 0 ? (ssize_t)ch->un_count - 1 : un_find(ch, tag);
		if (at >= 0 && refuse_stream_settle(ch, multiple ? 0 : (size_t)at, (size_t)at + 1,
		                                    method_id))
			return -1;
	}
	if (multiple && tag == 0) {
		for (size_t i = 0; i < ch->un_count; i++)
			if (!un_at(ch, i)->done)
				settle(ch, un_at(ch, i), how);
		un_trim(ch);
		return 0;
	}
	ssize_t idx = un_find(ch, tag);
	if (idx < 0) {
		chan_fail(ch, AMQP_PRECONDITION_FAILED, method_id, "unknown delivery tag %llu",
		          (unsigned long long)tag);
		return -1;
	}
	if (multiple) {
		for (size_t i = 0; i <= (size_t)idx; i++)
			if (!un_at(ch, i)->done)
				settle(ch, un_at(ch, i), how);
	} else {
		settle(ch, un_at(ch, (size_t)idx), how);
	}
	un_trim(ch);
	return 0;
}

static void
requeue_all(struct chan *ch)
{
	/* Requeue newest first is not needed: queue_requeue restores seq order. */
	for (size_t i = 0; i < ch->un_count; i++)
		if (!un_at(ch, i)->done)
			settle(ch, un_at(ch, i), SETTLE_REQUEUE);
	un_trim(ch);
}

static void consumer_cancel(struct chan *ch, struct consumer *c);

/*
 * A delivery unacknowledged for longer than its timeout: RabbitMQ's
 * consumer_timeout closes the channel; a queue's x-consumer-timeout
 * cancels only the stuck consumer and requeues its deliveries.
 */
static void
ack_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct chan *ch = (struct chan *)((char *)w - offsetof(struct chan, ack_timer));
	double       now = ev_now(loop), next = 0;

	(void)revents;
	if (ch->state != CHAN_OPEN)
		return;
	un_trim(ch);
	for (size_t i = 0; i < ch->un_count; i++) {
		struct unacked *u = un_at(ch, i);
		double          t = ack_timeout(u);
		if (u->done || t <= 0)
			continue;
		/* Deliveries are in time order: with one timeout for all, the head decides. */
		if (!ch->queue_timeouts && now - u->at < t) {
			next = u->at + t;
			break;
		}
		if (now - u->at < t) {
			if (next == 0 || u->at + t < next)
				next = u->at + t;
			continue;
		}
		if (u->q && u->q->opts.consumer_timeout >= 0 && u->c && !u->c->cancelled) {
			struct consumer *c = u->c;
			log_info("<conn %llu> channel %u: consumer '%.*s' did not acknowledge within %.0f ms, "
			         "cancelling it", (unsigned long long)ch->c->id, ch->id, (int)c->tag.len,
			         (const char *)c->tag.ptr, t * 1000);
			for (size_t k = 0; k < ch->un_count; k++)
				if (!un_at(ch, k)->done && un_at(ch, k)->c == c)
					settle(ch, un_at(ch, k), SETTLE_REQUEUE);
			if (ch->c->cap_cancel_notify) {
				struct amqp_basic_cancel bc = { .consumer_tag = c->tag, .nowait = true };
				conn_send_method(ch->c, ch->id, AMQP_BASIC_CANCEL_METHOD, &bc);
			}
			consumer_cancel(ch, c);
			continue;
		}
		chan_fail(ch, AMQP_PRECONDITION_FAILED, 0,
		          "delivery acknowledgement on channel %u timed out. Timeout value used: %.0f ms. "
		          "This timeout value can be configured, see consumers doc guide to learn more",
		          ch->id, t * 1000);
		return;
	}
	un_trim(ch);
	if (next > 0) {
		ev_timer_set(&ch->ack_timer, next - now, 0.);
		ev_timer_start(loop, &ch->ack_timer);
	}
}

/* Consumers. */

static void
consumer_free(struct consumer *c)
{
	bytes_free(&c->tag);
	bytes_free(&c->args);
	free(c);
}

static void
consumer_maybe_free(struct consumer *c)
{
	if (c->cancelled && c->unacked == 0)
		consumer_free(c);
}

/* Cancel: detach from the queue and the channel; frees when nothing is unacked. */
static void
consumer_cancel(struct chan *ch, struct consumer *c)
{
	hmap_del(&ch->consumers_by_tag, c->tag);
	list_del(&c->chlink);
	c->cancelled = true;
	if (c->q) {
		queue_remove_consumer(c);
		c->q = NULL;
	} else {
		/* the direct reply-to consumer */
		hmap_del(&broker.reply_to, ch->reply_key);
		ch->reply_consumer = NULL;
	}
	consumer_maybe_free(c);
}

void
chan_consumer_gone(struct consumer *c)
{
	struct chan *ch = c->ch;

	/* The queue has already unlinked c from its consumer list. */
	c->q = NULL;
	if (ch->c->cap_cancel_notify && ch->state == CHAN_OPEN) {
		struct amqp_basic_cancel bc = { .consumer_tag = c->tag, .nowait = true };
		conn_send_method(ch->c, ch->id, AMQP_BASIC_CANCEL_METHOD, &bc);
	}
	hmap_del(&ch->consumers_by_tag, c->tag);
	list_del(&c->chlink);
	c->cancelled = true;
	consumer_maybe_free(c);
}

void
chan_release(struct chan *ch)
{
	ev_timer_stop(EV_DEFAULT, &ch->ack_timer);
	while (!LIST_EMPTY(&ch->consumers))
		consumer_cancel(ch, container_of(ch->consumers.next, struct consumer, chlink));
	requeue_all(ch);
	if (ch->pending) {
		msg_unref(ch->pending);
		ch->pending = NULL;
	}
	ch->content = CONTENT_NONE;
	for (size_t i = 0; i < ch->ntxops; i++)
		if (ch->txops[i].m)
			msg_unref(ch->txops[i].m);
	ch->ntxops = 0;
	if (ch->confirm_queued) {
		list_del(&ch->confirm_link);
		ch->confirm_queued = false;
	}
	if (ch->durable_queued) {
		list_del(&ch->durable_link);
		ch->durable_queued = false;
	}
	ch->runs_head = ch->nruns = 0;
}

void
chan_free(struct chan *ch)
{
	broker.chans_closed++;
	chan_release(ch);
	hmap_free(&ch->consumers_by_tag);
	free(ch->unacked);
	free(ch->txops);
	free(ch->runs);
	free(ch->route_buf);
	bytes_free(&ch->last_queue);
	bytes_free(&ch->reply_key);
	bytes_free(&ch->write_ok);
	free(ch);
}

bool
chan_can_deliver(const struct chan *ch, const struct consumer *c)
{
	if (ch->state != CHAN_OPEN || !ch->flow_active || conn_tx_full(ch->c))
		return false;
	if (c->no_ack)
		return true;
	if (c->prefetch && c->unacked >= c->prefetch)
		return false;
	if (ch->prefetch_global && ch->unacked_consumers >= ch->prefetch_global)
		return false;
	return true;
}

/*
 * The properties a delivery carries: the message's own, plus the
 * x-delivery-count header (the deliveries before this one) that RabbitMQ's
 * quorum queues add to every delivery, and that a classic queue with a
 * delivery limit adds to redeliveries, or a stream's x-stream-offset.
 * Only those pay for the re-encoding; buf is scratch.
 */
static struct amqp_bytes
delivery_props(const struct queue *q, const struct qentry *e, uint8_t *buf, size_t cap)
{
	struct amqp_basic_props p;
	struct amqp_wbuf        w, hw;
	static uint8_t          hbuf[65536];
	struct amqp_table_iter  it;
	struct amqp_bytes       key;
	struct amqp_field       v;

	bool        stream = q && q->type == QUEUE_STREAM;
	const char *hname = stream ? "x-stream-offset" : "x-delivery-count";

	if (q == NULL ||
	    (q->type == QUEUE_CLASSIC && (q->opts.delivery_limit < 0 || e->deliveries < 2)) ||
	    amqp_props_decode(msg_props(e->m), &p) != 0)
		return msg_props(e->m);
	amqp_wbuf_init(&hw, hbuf, sizeof(hbuf));
	if (p.flags & AMQP_PROP_HEADERS) {
		amqp_table_iter_init(&it, p.headers);
		while (amqp_table_next(&it, &key, &v) == 1) {
			if (amqp_bytes_eq_cstr(key, hname))
				continue;
			amqp_table_put_key(&hw, key);
			amqp_field_put(&hw, &v);
		}
	}
	amqp_table_put_i64(&hw, hname, stream ? (int64_t)e->store_id : (int64_t)e->deliveries - 1);
	p.flags |= AMQP_PROP_HEADERS;
	p.headers = (struct amqp_bytes){ hw.len, hbuf };
	amqp_wbuf_init(&w, buf, cap);
	amqp_props_encode(&w, &p);
	if (hw.overflow || w.overflow)
		return msg_props(e->m);
	return (struct amqp_bytes){ w.len, buf };
}

void
chan_deliver(struct chan *ch, struct consumer *c, struct queue *q, struct qentry *e)
{
	static uint8_t            pbuf[70000];
	struct msg               *m = e->m;
	struct amqp_basic_deliver d = {
		.consumer_tag = c->tag,
		.delivery_tag = ++ch->next_tag,
		.redelivered = e->redelivered != 0,
		.exchange = msg_exchange(m),
		.routing_key = msg_routing_key(m),
	};

	/* A delivery goes out once its count is on disk: a crash cannot hide it. */
	if (!c->no_ack && q && persist_delivered(q, e->store_id, e->deliveries))
		conn_hold(ch->c);
	conn_send_content(ch->c, ch->id, AMQP_BASIC_DELIVER_METHOD, &d,
	                  delivery_props(q, e, pbuf, sizeof(pbuf)), m);
	ch->stat_deliver++;
	c->delivered++;
	if (q)
		q->stat_delivered++;
	if (c->no_ack || q == NULL) {
		if (q)
			persist_ack(q, e->store_id);
		msg_unref(m);
		return;
	}
	struct unacked u = { d.delivery_tag, *e, queue_ref(q), c, ev_now(EV_DEFAULT), false };
	if (q->opts.consumer_timeout >= 0)
		ch->queue_timeouts = true;
	un_push(ch, &u);
	c->unacked++;
	ch->unacked_consumers++;
	if (q->type != QUEUE_STREAM) /* a stream's messages stay ready: RabbitMQ counts none */
		q->unacked++;
}

void
chan_resume(struct chan *ch)
{
	struct list *it, *tmp;

	list_for_each_safe (it, tmp, &ch->consumers) {
		struct consumer *c = container_of(it, struct consumer, chlink);
		if (c->q)
			queue_schedule(c->q);
	}
}

/* Publisher confirms, coalesced per loop turn. */

static struct list durable_list = { &durable_list, &durable_list };

/* Tag is decided: acked once batch gen ended (0: at once), or nacked. */
static void
confirm_push(struct chan *ch, uint64_t tag, uint64_t gen, bool nack)
{
	struct confirm_run *t = ch->nruns > ch->runs_head ? &ch->runs[ch->nruns - 1] : NULL;

	/* An ack that could go at once may wait with the run before it: it must
	 * not be sent ahead of it anyway (acks are cumulative). */
	if (t && t->nack == nack && (nack || t->gen == gen || (gen == 0 && t->gen != 0))) {
		t->upto = tag;
	} else {
		if (ch->nruns == ch->runs_cap) {
			if (ch->runs_head > 0) {
				ch->nruns -= ch->runs_head;
				memmove(ch->runs, ch->runs + ch->runs_head, ch->nruns * sizeof(*ch->runs));
				ch->runs_head = 0;
			} else {
				ch->runs_cap = ch->runs_cap ? ch->runs_cap * 2 : 4;
				ch->runs = xrealloc(ch->runs, ch->runs_cap * sizeof(*ch->runs));
			}
		}
		ch->runs[ch->nruns++] = (struct confirm_run){ tag, nack ? 0 : gen, nack };
	}
	if (gen && !nack && !ch->durable_queued) {
		ch->durable_queued = true;
		list_add_tail(&durable_list, &ch->durable_link);
	}
	if (!ch->confirm_queued) {
		ch->confirm_queued = true;
		list_add_tail(&confirm_list, &ch->confirm_link);
	}
}

void
chan_durable(uint64_t gen, bool ok)
{
	struct list *it, *tmp;

	list_for_each_safe (it, tmp, &durable_list) {
		struct chan *ch = container_of(it, struct chan, durable_link);
		bool         more = false;
		for (size_t i = ch->runs_head; i < ch->nruns; i++) {
			struct confirm_run *r = &ch->runs[i];
			if (r->gen > gen) {
				more = true;
				break;
			}
			if (r->gen) {
				r->gen = 0;
				r->nack = !ok; /* nothing the failed batch covered may be confirmed */
			}
		}
		if (!more) {
			list_del(&ch->durable_link);
			ch->durable_queued = false;
		}
		if (!ch->confirm_queued) {
			ch->confirm_queued = true;
			list_add_tail(&confirm_list, &ch->confirm_link);
		}
	}
}

/* Answer every tag up to upto (one frame, multiple if it covers several). */
static void
confirm_send(struct chan *ch, uint64_t upto, bool nack)
{
	bool multiple = upto > ch->confirmed_upto + 1;

	if (nack) {
		struct amqp_basic_nack n = { .delivery_tag = upto, .multiple = multiple, .requeue = false };
		conn_send_method(ch->c, ch->id, AMQP_BASIC_NACK_METHOD, &n);
	} else {
		struct amqp_basic_ack a = { .delivery_tag = upto, .multiple = multiple };
		conn_send_method(ch->c, ch->id, AMQP_BASIC_ACK_METHOD, &a);
	}
	ch->confirmed_upto = upto;
}

void
chan_flush_confirms(void)
{
	while (!LIST_EMPTY(&confirm_list)) {
		struct chan *ch = container_of(confirm_list.next, struct chan, confirm_link);
		uint64_t     ack_upto = 0;
		list_del(&ch->confirm_link);
		ch->confirm_queued = false;
		if (ch->state != CHAN_OPEN)
			continue;
		while (ch->runs_head < ch->nruns) {
			struct confirm_run *r = &ch->runs[ch->runs_head];
			if (r->gen)
				break; /* waits for a batch: so does everything after it */
			if (r->nack) {
				if (ack_upto)
					confirm_send(ch, ack_upto, false);
				ack_upto = 0;
				confirm_send(ch, r->upto, true);
			} else {
				ack_upto = r->upto;
			}
			ch->runs_head++;
		}
		if (ack_upto)
			confirm_send(ch, ack_upto, false);
		if (ch->runs_head == ch->nruns)
			ch->runs_head = ch->nruns = 0;
	}
}

/* Methods. */

/* The spec's "empty queue name means the last queue declared on the channel". */
static struct amqp_bytes
queue_name_or_last(struct chan *ch, struct amqp_bytes name, uint32_t method_id, bool *ok)
{
	*ok = true;
	if (name.len)
		return name;
	if (ch->last_queue.len == 0) {
		chan_fail(ch, AMQP_NOT_FOUND, method_id, "no previously declared queue");
		*ok = false;
	}
	return ch->last_queue;
}

static void
set_last_queue(struct chan *ch, struct amqp_bytes name)
{
	bytes_free(&ch->last_queue);
	ch->last_queue = bytes_dup(name);
}

static void
ok(struct chan *ch, bool nowait, uint32_t id, const void *m)
{
	if (!nowait)
		conn_send_method(ch->c, ch->id, id, m);
}

static struct vhost *
vh(struct chan *ch)
{
	return ch->c->vh;
}

/*
 * RabbitMQ's permission check (configure, write or read on a queue or an
 * exchange, by the user's regular expressions for the vhost); refuses
 * with 403 and its text.
 */
static bool
allowed(struct chan *ch, enum auth_access what, bool is_queue, struct amqp_bytes name,
        uint32_t method_id)
{
	char n[256];

	snprintf(n, sizeof(n), "%.*s", (int)name.len, (const char *)name.ptr);
	if (auth_check(vh(ch)->name, ch->c->user_name, what, n))
		return true;
	chan_fail(ch, AMQP_ACCESS_REFUSED, method_id,
	          "access to %s '%s' in vhost '%s' refused for user '%s'", is_queue ? "queue" : "exchange",
	          n[0] ? n : "amq.default", vh(ch)->name, ch->c->user_name);
	return false;
}

/*
 * Topic permissions: publishing (AUTH_WRITE) or binding (AUTH_READ) with a
 * routing key on a topic exchange, checked after the exchange's own
 * permissions, as rabbit_channel does.  Other exchange types pass.
 */
static bool
topic_allowed(struct chan *ch, const struct exchange *x, enum auth_access what,
              struct amqp_bytes rk, uint32_t method_id)
{
	char xn[256], key[256];

	if (x == NULL || x->type != EXCHANGE_TOPIC || auth_topic_permission_at(0) == NULL)
		return true;
	snprintf(xn, sizeof(xn), "%.*s", (int)x->name.len, (const char *)x->name.ptr);
	snprintf(key, sizeof(key), "%.*s", (int)rk.len, (const char *)rk.ptr);
	if (auth_check_topic(vh(ch)->name, ch->c->user_name, xn, what, key))
		return true;
	chan_fail(ch, AMQP_ACCESS_REFUSED, method_id,
	          "access to topic '%s' in exchange '%s' in vhost '%s' refused for user '%s'", key,
	          xn, vh(ch)->name, ch->c->user_name);
	return false;
}

static void
exchange_declare_m(struct chan *ch, struct amqp_exchange_declare *m)
{
	struct broker_err err;
	static const struct amqp_exchange_declare_ok dok;

	/* RabbitMQ checks the name's reserved prefix only for a non-passive declare
	 * of a new exchange, and refuses the default exchange outright. */
	if (m->exchange.len == 0) {
		chan_fail(ch, AMQP_ACCESS_REFUSED, AMQP_EXCHANGE_DECLARE_METHOD,
		          "operation not permitted on the default exchange");
		return;
	}
	if (!m->passive &&
	    !allowed(ch, AUTH_CONFIGURE, false, m->exchange, AMQP_EXCHANGE_DECLARE_METHOD))
		return;
	if (exchange_declare(vh(ch), m->exchange, m->type, m->passive, m->durable, m->auto_delete,
	                     m->internal, m->arguments, &err) != 0) {
		fail_err(ch, &err, AMQP_EXCHANGE_DECLARE_METHOD);
		return;
	}
	ok(ch, m->nowait, AMQP_EXCHANGE_DECLARE_OK_METHOD, &dok);
}

static void
exchange_delete_m(struct chan *ch, struct amqp_exchange_delete *m)
{
	struct broker_err err;
	static const struct amqp_exchange_delete_ok dok;

	if (m->exchange.len && !allowed(ch, AUTH_CONFIGURE, false, m->exchange,
	                                AMQP_EXCHANGE_DELETE_METHOD))
		return;
	if (exchange_delete(vh(ch), m->exchange, m->if_unused, &err) != 0) {
		/* RabbitMQ answers delete-ok for an exchange that does not exist. */
		if (err.code != AMQP_NOT_FOUND) {
			fail_err(ch, &err, AMQP_EXCHANGE_DELETE_METHOD);
			return;
		}
	}
	ok(ch, m->nowait, AMQP_EXCHANGE_DELETE_OK_METHOD, &dok);
}

static void
exchange_bind_m(struct chan *ch, struct amqp_exchange_bind *m)
{
	struct broker_err err;
	static const struct amqp_exchange_bind_ok bok;

	if (!allowed(ch, AUTH_WRITE, false, m->destination, AMQP_EXCHANGE_BIND_METHOD) ||
	    !allowed(ch, AUTH_READ, false, m->source, AMQP_EXCHANGE_BIND_METHOD) ||
	    !topic_allowed(ch, exchange_find(vh(ch), m->source), AUTH_READ, m->routing_key,
	                   AMQP_EXCHANGE_BIND_METHOD))
		return;
	if (exchange_bind(vh(ch), m->destination, m->source, m->routing_key, m->arguments, &err)) {
		fail_err(ch, &err, AMQP_EXCHANGE_BIND_METHOD);
		return;
	}
	ok(ch, m->nowait, AMQP_EXCHANGE_BIND_OK_METHOD, &bok);
}

static void
exchange_unbind_m(struct chan *ch, struct amqp_exchange_unbind *m)
{
	struct broker_err err;
	static const struct amqp_exchange_unbind_ok uok;

	if (!allowed(ch, AUTH_WRITE, false, m->destination, AMQP_EXCHANGE_UNBIND_METHOD) ||
	    !allowed(ch, AUTH_READ, false, m->source, AMQP_EXCHANGE_UNBIND_METHOD) ||
	    !topic_allowed(ch, exchange_find(vh(ch), m->source), AUTH_READ, m->routing_key,
	                   AMQP_EXCHANGE_UNBIND_METHOD))
		return;
	if (exchange_unbind(vh(ch), m->destination, m->source, m->routing_key, m->arguments, &err)) {
		fail_err(ch, &err, AMQP_EXCHANGE_UNBIND_METHOD);
		return;
	}
	ok(ch, m->nowait, AMQP_EXCHANGE_UNBIND_OK_METHOD, &uok);
}

static void
queue_declare_m(struct chan *ch, struct amqp_queue_declare *m)
{
	struct broker_err err;
	struct queue     *q;

	if (amqp_bytes_eq_cstr(m->queue, REPLY_TO)) {
		/* The pseudo queue of direct reply-to always "exists" with one consumer. */
		struct amqp_queue_declare_ok rok = { .queue = m->queue, .consumer_count = 1 };
		ok(ch, m->nowait, AMQP_QUEUE_DECLARE_OK_METHOD, &rok);
		return;
	}
	if (!m->passive &&
	    !allowed(ch, AUTH_CONFIGURE, true, m->queue.len ? m->queue : amqp_cstr("amq.gen-"),
	             AMQP_QUEUE_DECLARE_METHOD))
		return;
	if (queue_declare(vh(ch), m->queue, m->passive, m->durable, m->exclusive, m->auto_delete,
	                  m->arguments, ch->c, &q, &err) != 0) {
		fail_err(ch, &err, AMQP_QUEUE_DECLARE_METHOD);
		return;
	}
	set_last_queue(ch, q->name);
	struct amqp_queue_declare_ok dok = {
		.queue = q->name,
		/* RabbitMQ reports no message count for a stream */
		.message_count = q->type == QUEUE_STREAM ? 0 : (uint32_t)q->count,
		.consumer_count = queue_consumer_count(q),
	};
	ok(ch, m->nowait, AMQP_QUEUE_DECLARE_OK_METHOD, &dok);
}

static void
queue_bind_m(struct chan *ch, struct amqp_queue_bind *m)
{
	struct broker_err err;
	bool              good;
	struct amqp_bytes qn = queue_name_or_last(ch, m->queue, AMQP_QUEUE_BIND_METHOD, &good);
	struct amqp_bytes rk = m->routing_key;
	static const struct amqp_queue_bind_ok bok;

	if (!good)
		return;
	if (m->queue.len == 0 && rk.len == 0)
		rk = qn;
	if (!allowed(ch, AUTH_WRITE, true, qn, AMQP_QUEUE_BIND_METHOD) ||
	    !allowed(ch, AUTH_READ, false, m->exchange, AMQP_QUEUE_BIND_METHOD) ||
	    !topic_allowed(ch, exchange_find(vh(ch), m->exchange), AUTH_READ, rk,
	                   AMQP_QUEUE_BIND_METHOD))
		return;
	if (queue_bind(vh(ch), qn, m->exchange, rk, m->arguments, ch->c, &err)) {
		fail_err(ch, &err, AMQP_QUEUE_BIND_METHOD);
		return;
	}
	ok(ch, m->nowait, AMQP_QUEUE_BIND_OK_METHOD, &bok);
}

static void
queue_unbind_m(struct chan *ch, struct amqp_queue_unbind *m)
{
	struct broker_err err;
	bool              good;
	struct amqp_bytes qn = queue_name_or_last(ch, m->queue, AMQP_QUEUE_UNBIND_METHOD, &good);
	static const struct amqp_queue_unbind_ok uok;

	if (!good)
		return;
	if (!allowed(ch, AUTH_WRITE, true, qn, AMQP_QUEUE_UNBIND_METHOD) ||
	    !allowed(ch, AUTH_READ, false, m->exchange, AMQP_QUEUE_UNBIND_METHOD) ||
	    !topic_allowed(ch, exchange_find(vh(ch), m->exchange), AUTH_READ, m->routing_key,
	                   AMQP_QUEUE_UNBIND_METHOD))
		return;
	if (queue_unbind(vh(ch), qn, m->exchange, m->routing_key, m->arguments, ch->c, &err)) {
		fail_err(ch, &err, AMQP_QUEUE_UNBIND_METHOD);
		return;
	}
	ok(ch, false, AMQP_QUEUE_UNBIND_OK_METHOD, &uok);
}

/* Find a queue the connection may use; reports the error and returns NULL. */
static struct queue *
usable_queue(struct chan *ch, struct amqp_bytes name, enum auth_access what, uint32_t method_id)
{
	struct broker_err err;
	bool              good;
	struct amqp_bytes qn = queue_name_or_last(ch, name, method_id, &good);
	struct queue     *q;

	if (!good || !allowed(ch, what, true, qn, method_id))
		return NULL;
	q = queue_find(vh(ch), qn);
	if (q == NULL) {
		chan_fail(ch, AMQP_NOT_FOUND, method_id, "no queue '%.*s' in vhost '%s'", (int)qn.len,
		          (const char *)qn.ptr, vh(ch)->name);
		return NULL;
	}
	if (queue_check_access(q, ch->c, &err)) {
		fail_err(ch, &err, method_id);
		return NULL;
	}
	return q;
}

static void
queue_purge_m(struct chan *ch, struct amqp_queue_purge *m)
{
	struct queue *q = usable_queue(ch, m->queue, AUTH_READ, AMQP_QUEUE_PURGE_METHOD);

	if (q == NULL)
		return;
	if (q->type == QUEUE_STREAM) {
		chan_fail(ch, AMQP_NOT_IMPLEMENTED, AMQP_QUEUE_PURGE_METHOD,
		          "queue.purge not supported by stream queues queue '%.*s' in vhost '%s'",
		          (int)q->name.len, (const char *)q->name.ptr, vh(ch)->name);
		return;
	}
	struct amqp_queue_purge_ok pok = { .message_count = queue_purge(q) };
	ok(ch, m->nowait, AMQP_QUEUE_PURGE_OK_METHOD, &pok);
}

static void
queue_delete_m(struct chan *ch, struct amqp_queue_delete *m)
{
	struct broker_err err;
	bool              good;
	struct amqp_bytes qn = queue_name_or_last(ch, m->queue, AMQP_QUEUE_DELETE_METHOD, &good);
	struct queue     *q;
	uint32_t          n = 0;

	if (!good || !allowed(ch, AUTH_CONFIGURE, true, qn, AMQP_QUEUE_DELETE_METHOD))
		return;
	q = queue_find(vh(ch), qn);
	if (q) {
		if (queue_check_access(q, ch->c, &err) ||
		    queue_delete_check(q, m->if_unused, m->if_empty, &err)) {
			fail_err(ch, &err, AMQP_QUEUE_DELETE_METHOD);
			return;
		}
		n = (uint32_t)q->count;
	}
	/* RabbitMQ answers delete-ok with 0 for a queue that does not exist.  The
	 * answer goes before the basic.cancel its consumers get, as RabbitMQ
	 * orders them (clients such as amqplib depend on it). */
	struct amqp_queue_delete_ok dok = { .message_count = n };
	ok(ch, m->nowait, AMQP_QUEUE_DELETE_OK_METHOD, &dok);
	if (q)
		queue_delete(q);
}

static void
basic_qos_m(struct chan *ch, struct amqp_basic_qos *m)
{
	static const struct amqp_basic_qos_ok qok;

	if (m->prefetch_size != 0) {
		chan_fail(ch, AMQP_NOT_IMPLEMENTED, AMQP_BASIC_QOS_METHOD, "prefetch_size!=0 (%u)",
		          m->prefetch_size);
		return;
	}
	if (m->global) {
		ch->prefetch_global = m->prefetch_count;
		chan_resume(ch);
	} else {
		/* As RabbitMQ 3.10: a per-consumer qos also lifts the channel-wide limit. */
		ch->prefetch_consumer = m->prefetch_count;
		if (ch->prefetch_global) {
			ch->prefetch_global = 0;
			chan_resume(ch);
		}
	}
	conn_send_method(ch->c, ch->id, AMQP_BASIC_QOS_OK_METHOD, &qok);
}

/*
 * A new consumer with the requested tag, or a server-generated amq.ctag-
 * one; NULL (the channel failed with 530) if the tag is in use.
 */
static struct consumer *
consumer_new(struct chan *ch, struct amqp_bytes requested)
{
	char              tag[64];
	struct amqp_bytes t = requested;

	if (t.len == 0) {
		random_tag(tag, sizeof(tag), "amq.ctag-");
		t = amqp_cstr(tag);
	}
	if (hmap_get(&ch->consumers_by_tag, t)) {
		chan_fail(ch, AMQP_NOT_ALLOWED, AMQP_BASIC_CONSUME_METHOD,
		          "attempt to reuse consumer tag '%.*s'", (int)t.len, (const char *)t.ptr);
		return NULL;
	}
	struct consumer *c = xcalloc(1, sizeof(*c));
	c->ch = ch;
	c->tag = bytes_dup(t);
	return c;
}

/* Make c one of the channel's consumers and answer basic.consume. */
static void
consumer_register(struct chan *ch, struct consumer *c, bool nowait)
{
	hmap_put(&ch->consumers_by_tag, c->tag, c);
	list_add_tail(&ch->consumers, &c->chlink);
	struct amqp_basic_consume_ok cok = { .consumer_tag = c->tag };
	ok(ch, nowait, AMQP_BASIC_CONSUME_OK_METHOD, &cok);
}

static void
reply_to_consume(struct chan *ch, struct amqp_basic_consume *m)
{
	struct consumer *c;

	if (!m->no_ack) {
		chan_fail(ch, AMQP_PRECONDITION_FAILED, AMQP_BASIC_CONSUME_METHOD,
		          "reply consumer cannot acknowledge");
		return;
	}
	if (ch->reply_consumer) {
		chan_fail(ch, AMQP_PRECONDITION_FAILED, AMQP_BASIC_CONSUME_METHOD,
		          "reply consumer already set");
		return;
	}
	if ((c = consumer_new(ch, m->consumer_tag)) == NULL)
		return;
	c->no_ack = true;
	if (ch->reply_key.len == 0) {
		char key[64];
		random_tag(key, sizeof(key), REPLY_TO_PREFIX);
		ch->reply_key = bytes_dup(amqp_cstr(key));
	}
	hmap_put(&broker.reply_to, ch->reply_key, c);
	ch->reply_consumer = c;
	consumer_register(ch, c, m->nowait);
}

static void
basic_consume_m(struct chan *ch, struct amqp_basic_consume *m)
{
	struct broker_err err;
	struct queue     *q;
	struct consumer  *c;
	struct amqp_field prio;
	int64_t           p = 0;

	if (amqp_bytes_eq_cstr(m->queue, REPLY_TO)) {
		reply_to_consume(ch, m);
		return;
	}
	if ((q = usable_queue(ch, m->queue, AUTH_READ, AMQP_BASIC_CONSUME_METHOD)) == NULL)
		return;
	if (q->type == QUEUE_STREAM && m->no_ack) {
		chan_fail(ch, AMQP_NOT_IMPLEMENTED, AMQP_BASIC_CONSUME_METHOD,
		          "automatic acknowledgement not supported by stream queues queue '%.*s' in "
		          "vhost '%s'", (int)q->name.len, (const char *)q->name.ptr, vh(ch)->name);
		return;
	}
	if (q->type == QUEUE_STREAM && ch->prefetch_consumer == 0) {
		chan_fail(ch, AMQP_PRECONDITION_FAILED, AMQP_BASIC_CONSUME_METHOD,
		          "consumer prefetch count is not set for 'queue '%.*s' in vhost '%s''",
		          (int)q->name.len, (const char *)q->name.ptr, vh(ch)->name);
		return;
	}
	if (q->type == QUEUE_QUORUM && ch->prefetch_global) {
		chan_fail(ch, AMQP_NOT_IMPLEMENTED, AMQP_BASIC_CONSUME_METHOD,
		          "queue '%.*s' in vhost '%s' does not support global qos", (int)q->name.len,
		          (const char *)q->name.ptr, vh(ch)->name);
		return;
	}
	if (amqp_table_get(m->arguments, "x-priority", &prio) == 1) {
		if (!amqp_field_as_int(&prio, &p) || p < INT32_MIN || p > INT32_MAX) {
			chan_fail(ch, AMQP_PRECONDITION_FAILED, AMQP_BASIC_CONSUME_METHOD,
			          "invalid arg 'x-priority' for queue '%.*s' in vhost '%s': "
			          "{unacceptable_type,%s}",
			          (int)q->name.len, (const char *)q->name.ptr, vh(ch)->name,
			          exchange_field_type_name(prio.kind));
			return;
		}
	}
	if ((c = consumer_new(ch, m->consumer_tag)) == NULL)
		return;
	c->args = bytes_dup(m->arguments);
	c->no_ack = m->no_ack;
	c->exclusive = m->exclusive;
	c->priority = (int32_t)p;
	c->prefetch = ch->prefetch_consumer;
	if (queue_add_consumer(q, c, &err) != 0) {
		consumer_free(c);
		fail_err(ch, &err, AMQP_BASIC_CONSUME_METHOD);
		return;
	}
	consumer_register(ch, c, m->nowait);
}

static void
basic_cancel_m(struct chan *ch, struct amqp_basic_cancel *m)
{
	struct consumer *c = hmap_get(&ch->consumers_by_tag, m->consumer_tag);
	struct amqp_basic_cancel_ok cok = { .consumer_tag = m->consumer_tag };

	/* Send cancel-ok first: cancelling may delete an auto-delete queue. */
	ok(ch, m->nowait, AMQP_BASIC_CANCEL_OK_METHOD, &cok);
	if (c)
		consumer_cancel(ch, c);
}

static void
basic_get_m(struct chan *ch, struct amqp_basic_get *m)
{
	struct queue *q = usable_queue(ch, m->queue, AUTH_READ, AMQP_BASIC_GET_METHOD);
	struct qentry e;

	if (q == NULL)
		return;
	if (q->type == QUEUE_STREAM) {
		chan_fail(ch, AMQP_NOT_IMPLEMENTED, AMQP_BASIC_GET_METHOD,
		          "basic.get not supported by stream queues queue '%.*s' in vhost '%s'",
		          (int)q->name.len, (const char *)q->name.ptr, vh(ch)->name);
		return;
	}
	queue_touch(q);
	if (!queue_pop(q, &e)) {
		static const struct amqp_basic_get_empty ge;
		conn_send_method(ch->c, ch->id, AMQP_BASIC_GET_EMPTY_METHOD, &ge);
		q->stat_get_empty++;
		return;
	}
	struct amqp_basic_get_ok g = {
		.delivery_tag = ++ch->next_tag,
		.redelivered = e.redelivered != 0,
		.exchange = msg_exchange(e.m),
		.routing_key = msg_routing_key(e.m),
		.message_count = (uint32_t)q->count,
	};
	static uint8_t pbuf[70000];
	e.deliveries++;
	if (!m->no_ack && persist_delivered(q, e.store_id, e.deliveries))
		conn_hold(ch->c);
	conn_send_content(ch->c, ch->id, AMQP_BASIC_GET_OK_METHOD, &g,
	                  delivery_props(q, &e, pbuf, sizeof(pbuf)), e.m);
	if (m->no_ack)
		q->stat_get_noack++;
	else
		q->stat_get++;
	if (m->no_ack) {
		persist_ack(q, e.store_id);
		msg_unref(e.m);
		return;
	}
	struct unacked u = { g.delivery_tag, e, queue_ref(q), NULL, ev_now(EV_DEFAULT), false };
	if (q->opts.consumer_timeout >= 0)
		ch->queue_timeouts = true;
	un_push(ch, &u);
	q->unacked++;
}

static void
tx_add(struct chan *ch, const struct tx_op *op)
{
	if (ch->ntxops == ch->txops_cap) {
		ch->txops_cap = ch->txops_cap ? ch->txops_cap * 2 : 16;
		ch->txops = xrealloc(ch->txops, ch->txops_cap * sizeof(*ch->txops));
	}
	ch->txops[ch->ntxops++] = *op;
}

static void
basic_ack_m(struct chan *ch, uint32_t id, uint64_t tag, bool multiple, bool requeue)
{
	enum settle how = id == AMQP_BASIC_ACK_METHOD ? SETTLE_ACK
	                  : requeue                   ? SETTLE_REQUEUE
	                                              : SETTLE_DISCARD;

	if (ch->tx) {
		/* Checked now, applied at commit. */
		if (!(multiple && tag == 0) && un_find(ch, tag) < 0) {
			chan_fail(ch, AMQP_PRECONDITION_FAILED, id, "unknown delivery tag %llu",
			          (unsigned long long)tag);
			return;
		}
		struct tx_op op = { NULL, false, tag, (uint8_t)how, multiple, requeue };
		tx_add(ch, &op);
		return;
	}
	do_ack(ch, tag, multiple, how, id);
}

static void
basic_recover_m(struct chan *ch, uint32_t id, bool requeue)
{
	if (!requeue) {
		chan_fail(ch, AMQP_NOT_IMPLEMENTED, id, "requeue=false");
		return;
	}
	requeue_all(ch);
	if (id == AMQP_BASIC_RECOVER_METHOD) {
		static const struct amqp_basic_recover_ok rok;
		conn_send_method(ch->c, ch->id, AMQP_BASIC_RECOVER_OK_METHOD, &rok);
	}
}

static void
basic_publish_m(struct chan *ch, struct amqp_basic_publish *m)
{
	if (m->immediate) {
		chan_fail(ch, AMQP_NOT_IMPLEMENTED, AMQP_BASIC_PUBLISH_METHOD, "immediate=true");
		return;
	}
	ch->content = CONTENT_AWAIT_HEADER;
	ch->content_method = AMQP_BASIC_PUBLISH_METHOD;
	ch->pub_mandatory = m->mandatory;
	ch->pub_immediate = m->immediate;
	ch->pub_exchange_len = (uint8_t)m->exchange.len;
	if (m->exchange.len)
		memcpy(ch->pub_exchange, m->exchange.ptr, m->exchange.len);
	ch->pub_rk_len = (uint8_t)m->routing_key.len;
	if (m->routing_key.len)
		memcpy(ch->pub_rk, m->routing_key.ptr, m->routing_key.len);
}

static void
confirm_select_m(struct chan *ch, struct amqp_confirm_select *m)
{
	static const struct amqp_confirm_select_ok sok;

	if (ch->tx) {
		chan_fail(ch, AMQP_PRECONDITION_FAILED, AMQP_CONFIRM_SELECT_METHOD,
		          "cannot switch from tx to confirm mode");
		return;
	}
	ch->confirm = true;
	ok(ch, m->nowait, AMQP_CONFIRM_SELECT_OK_METHOD, &sok);
}

static int route_message(struct chan *ch, struct msg *m, bool mandatory);

static void
tx_m(struct chan *ch, uint32_t id)
{
	static const struct amqp_tx_select_ok sok;
	static const struct amqp_tx_commit_ok cok;
	static const struct amqp_tx_rollback_ok rok;

	if (id == AMQP_TX_SELECT_METHOD) {
		if (ch->confirm) {
			chan_fail(ch, AMQP_PRECONDITION_FAILED, id, "cannot switch from confirm to tx mode");
			return;
		}
		ch->tx = true;
		conn_send_method(ch->c, ch->id, AMQP_TX_SELECT_OK_METHOD, &sok);
		return;
	}
	if (!ch->tx) {
		chan_fail(ch, AMQP_PRECONDITION_FAILED, id, "channel is not transactional");
		return;
	}
	size_t n = ch->ntxops;
	ch->ntxops = 0;
	for (size_t i = 0; i < n; i++) {
		struct tx_op *op = &ch->txops[i];
		if (id == AMQP_TX_COMMIT_METHOD && ch->state == CHAN_OPEN) {
			if (op->m)
				route_message(ch, op->m, op->mandatory);
			else
				do_ack(ch, op->tag, op->multiple, (enum settle)op->kind,
				       AMQP_TX_COMMIT_METHOD);
		}
		if (op->m)
			msg_unref(op->m);
	}
	if (ch->state != CHAN_OPEN)
		return;
	if (id == AMQP_TX_COMMIT_METHOD) {
		if (persist_dirty())
			conn_hold(ch->c); /* committed means on disk */
		conn_send_method(ch->c, ch->id, AMQP_TX_COMMIT_OK_METHOD, &cok);
	}
	else
		conn_send_method(ch->c, ch->id, AMQP_TX_ROLLBACK_OK_METHOD, &rok);
}

static void
channel_flow_m(struct chan *ch, struct amqp_channel_flow *m)
{
	struct amqp_channel_flow_ok fok = { .active = m->active };

	/* RabbitMQ 3.10 refuses flow control from the client side. */
	if (!m->active) {
		chan_fail(ch, AMQP_NOT_IMPLEMENTED, AMQP_CHANNEL_FLOW_METHOD, "active=false");
		return;
	}
	ch->flow_active = m->active;
	if (m->active)
		chan_resume(ch);
	conn_send_method(ch->c, ch->id, AMQP_CHANNEL_FLOW_OK_METHOD, &fok);
}

static void method(struct chan *ch, uint32_t id, union amqp_method *m);

void
chan_method(struct chan *ch, uint32_t id, union amqp_method *m)
{
	if (id >> 16 == AMQP_CLASS_QUEUE || id >> 16 == AMQP_CLASS_EXCHANGE) {
		/* A durable declaration is answered once its journal record is on disk. */
		struct conn *c = ch->c;
		size_t       mark = conn_out_mark(c);
		uint64_t     seq = persist_meta_seq();
		method(ch, id, m);
		if (persist_meta_seq() != seq)
			conn_hold_from(c, mark);
		return;
	}
	method(ch, id, m);
}

static void
method(struct chan *ch, uint32_t id, union amqp_method *m)
{
	if (ch->state == CHAN_CLOSING) {
		/* After our channel.close only close and close-ok count (spec 2.2.4). */
		if (id == AMQP_CHANNEL_CLOSE_OK_METHOD || id == AMQP_CHANNEL_CLOSE_METHOD) {
			if (id == AMQP_CHANNEL_CLOSE_METHOD) {
				static const struct amqp_channel_close_ok cok;
				conn_send_method(ch->c, ch->id, AMQP_CHANNEL_CLOSE_OK_METHOD, &cok);
			}
			conn_drop_channel(ch->c, ch->id);
		}
		return;
	}
	if (ch->content == CONTENT_AWAIT_HEADER) {
		chan_fail(ch, AMQP_UNEXPECTED_FRAME, ch->content_method,
		          "expected content header for class 60, got non content header frame instead");
		return;
	}
	if (ch->content == CONTENT_AWAIT_BODY) {
		chan_fail(ch, AMQP_UNEXPECTED_FRAME, ch->content_method,
		          "expected content body, got non content body frame instead");
		return;
	}
	switch (id) {
	case AMQP_CHANNEL_CLOSE_METHOD: {
		static const struct amqp_channel_close_ok cok;
		conn_send_method(ch->c, ch->id, AMQP_CHANNEL_CLOSE_OK_METHOD, &cok);
		conn_drop_channel(ch->c, ch->id);
		return;
	}
	case AMQP_CHANNEL_CLOSE_OK_METHOD:
		/* not closing: RabbitMQ's channel has no handler for it */
		chan_fail(ch, AMQP_COMMAND_INVALID, id, "unimplemented method");
		return;
	case AMQP_CHANNEL_FLOW_METHOD:
		channel_flow_m(ch, &m->channel_flow);
		return;
	case AMQP_CHANNEL_FLOW_OK_METHOD:
		return;
	case AMQP_CHANNEL_OPEN_METHOD:
		chan_fail(ch, AMQP_CHANNEL_ERROR, id, "second 'channel.open' seen");
		return;
	case AMQP_ACCESS_REQUEST_METHOD: {
		struct amqp_access_request_ok rok = { .ticket = 1 };
		conn_send_method(ch->c, ch->id, AMQP_ACCESS_REQUEST_OK_METHOD, &rok);
		return;
	}
	case AMQP_EXCHANGE_DECLARE_METHOD:
		exchange_declare_m(ch, &m->exchange_declare);
		return;
	case AMQP_EXCHANGE_DELETE_METHOD:
		exchange_delete_m(ch, &m->exchange_delete);
		return;
	case AMQP_EXCHANGE_BIND_METHOD:
		exchange_bind_m(ch, &m->exchange_bind);
		return;
	case AMQP_EXCHANGE_UNBIND_METHOD:
		exchange_unbind_m(ch, &m->exchange_unbind);
		return;
	case AMQP_QUEUE_DECLARE_METHOD:
		queue_declare_m(ch, &m->queue_declare);
		return;
	case AMQP_QUEUE_BIND_METHOD:
		queue_bind_m(ch, &m->queue_bind);
		return;
	case AMQP_QUEUE_UNBIND_METHOD:
		queue_unbind_m(ch, &m->queue_unbind);
		return;
	case AMQP_QUEUE_PURGE_METHOD:
		queue_purge_m(ch, &m->queue_purge);
		return;
	case AMQP_QUEUE_DELETE_METHOD:
		queue_delete_m(ch, &m->queue_delete);
		return;
	case AMQP_BASIC_QOS_METHOD:
		basic_qos_m(ch, &m->basic_qos);
		return;
	case AMQP_BASIC_CONSUME_METHOD:
		basic_consume_m(ch, &m->basic_consume);
		return;
	case AMQP_BASIC_CANCEL_METHOD:
		basic_cancel_m(ch, &m->basic_cancel);
		return;
	case AMQP_BASIC_PUBLISH_METHOD:
		basic_publish_m(ch, &m->basic_publish);
		return;
	case AMQP_BASIC_GET_METHOD:
		basic_get_m(ch, &m->basic_get);
		return;
	case AMQP_BASIC_ACK_METHOD:
		basic_ack_m(ch, id, m->basic_ack.delivery_tag, m->basic_ack.multiple, false);
		return;
	case AMQP_BASIC_NACK_METHOD:
		basic_ack_m(ch, id, m->basic_nack.delivery_tag, m->basic_nack.multiple,
		            m->basic_nack.requeue);
		return;
	case AMQP_BASIC_REJECT_METHOD:
		basic_ack_m(ch, id, m->basic_reject.delivery_tag, false, m->basic_reject.requeue);
		return;
	case AMQP_BASIC_RECOVER_METHOD:
		basic_recover_m(ch, id, m->basic_recover.requeue);
		return;
	case AMQP_BASIC_RECOVER_ASYNC_METHOD:
		basic_recover_m(ch, id, m->basic_recover_async.requeue);
		return;
	case AMQP_CONFIRM_SELECT_METHOD:
		confirm_select_m(ch, &m->confirm_select);
		return;
	case AMQP_TX_SELECT_METHOD:
	case AMQP_TX_COMMIT_METHOD:
	case AMQP_TX_ROLLBACK_METHOD:
		tx_m(ch, id);
		return;
	default:
		/* A method the server never receives (e.g. basic.deliver) or of another class. */
		chan_fail(ch, AMQP_COMMAND_INVALID, id, "unexpected method in channel: %s",
		          amqp_method_name(id));
		return;
	}
}

/* Content. */

static void
publish_return(struct chan *ch, struct msg *m, int code, const char *text)
{
	struct amqp_basic_return r = {
		.reply_code = (uint16_t)code,
		.reply_text = amqp_cstr(text),
		.exchange = msg_exchange(m),
		.routing_key = msg_routing_key(m),
	};
	conn_send_content(ch->c, ch->id, AMQP_BASIC_RETURN_METHOD, &r, msg_props(m), m);
}

/*
 * Route a complete message and hand it to its queues.  Returns -1 if a
 * queue refused it (length limit with reject-publish): the publisher gets
 * a nack.
 */
static int
route_message(struct chan *ch, struct msg *m, bool mandatory)
{
	int rejected = 0;

	struct amqp_bytes xname = msg_exchange(m);
	struct exchange  *x = exchange_find(vh(ch), xname);

	if (x == NULL) {
		chan_fail(ch, AMQP_NOT_FOUND, AMQP_BASIC_PUBLISH_METHOD, "no exchange '%.*s' in vhost '%s'",
		          (int)xname.len, (const char *)xname.ptr, vh(ch)->name);
		return 0;
	}
	if (x->internal) {
		chan_fail(ch, AMQP_ACCESS_REFUSED, AMQP_BASIC_PUBLISH_METHOD,
		          "cannot publish to internal exchange '%.*s' in vhost '%s'", (int)xname.len,
		          (const char *)xname.ptr, vh(ch)->name);
		return 0;
	}
	/* The write permission, checked once per exchange for this channel (RabbitMQ caches too). */
	if (!ch->write_ok.ptr || !amqp_bytes_eq(ch->write_ok, xname)) {
		if (!allowed(ch, AUTH_WRITE, false, xname, AMQP_BASIC_PUBLISH_METHOD))
			return 0;
		bytes_free(&ch->write_ok);
		ch->write_ok = bytes_dup(xname);
	}
	size_t n;
	struct amqp_bytes rk = msg_routing_key(m);
	if (!topic_allowed(ch, x, AUTH_WRITE, rk, AMQP_BASIC_PUBLISH_METHOD))
		return 0;
	if (x == vh(ch)->default_x && rk.len > sizeof(REPLY_TO_PREFIX) - 1 &&
	    memcmp(rk.ptr, REPLY_TO_PREFIX, sizeof(REPLY_TO_PREFIX) - 1) == 0) {
		struct consumer *c = hmap_get(&broker.reply_to, rk);
		if (c) {
			struct qentry e = { .m = msg_ref(m), .size = (uint32_t)m->body_len, .deliveries = 1 };
			chan_deliver(c->ch, c, NULL, &e);
			n = 1;
		} else {
			n = 0;
		}
	} else {
		bool refused = false;
		n = broker_route(x, m, &refused);
		if (refused)
			rejected = -1;
	}
	if (n == 0 && mandatory) {
		publish_return(ch, m, AMQP_NO_ROUTE, "NO_ROUTE");
		ch->stat_return++;
	} else if (n == 0) {
		ch->stat_drop++;
	}
	return rejected;
}

static void
publish_complete(struct chan *ch)
{
	struct msg *m = ch->pending;

	ch->pending = NULL;
	ch->content = CONTENT_NONE;
	ch->stat_publish++;
	conn_published(ch->c); /* a resource alarm blocks it after this message */
	if (ch->tx) {
		struct tx_op op = { m, ch->pub_mandatory, 0, 0, false, false };
		tx_add(ch, &op);
		return;
	}
	uint64_t appends = persist_appends(), failures = persist_failures();
	int      rc = route_message(ch, m, ch->pub_mandatory);
	msg_unref(m);
	if (ch->confirm && ch->state == CHAN_OPEN) {
		/* A persistent message a durable queue could not store is not confirmed. */
		bool stored = rc == 0 && persist_failures() == failures;
		/* acked once on disk if a durable queue stored it, at once otherwise */
		uint64_t gen = stored && persist_appends() != appends ? persist_next_gen() : 0;
		confirm_push(ch, ++ch->next_publish_tag, gen, !stored);
	}
}

/* Rewrite reply_to "amq.rabbitmq.reply-to" into this channel's reply address. */
static int
rewrite_reply_to(struct chan *ch, struct amqp_basic_props *props, uint8_t *buf, size_t cap,
                 struct amqp_bytes *out)
{
	struct amqp_wbuf w;

	if (ch->reply_consumer == NULL) {
		chan_fail(ch, AMQP_PRECONDITION_FAILED, AMQP_BASIC_PUBLISH_METHOD,
		          "fast reply consumer does not exist");
		return -1;
	}
	props->reply_to = ch->reply_key;
	amqp_wbuf_init(&w, buf, cap);
	amqp_props_encode(&w, props);
	if (w.overflow) {
		chan_fail(ch, AMQP_FRAME_ERROR, AMQP_BASIC_PUBLISH_METHOD, "properties too large");
		return -1;
	}
	*out = (struct amqp_bytes){ w.len, buf };
	return 0;
}

void
chan_header(struct chan *ch, const uint8_t *p, size_t n)
{
	uint16_t                class_id;
	uint64_t                body_size;
	struct amqp_bytes       raw;
	struct amqp_basic_props props;
	int                     rc;
	static uint8_t          rewritten[65536];

	if (ch->state == CHAN_CLOSING)
		return;
	if (ch->content == CONTENT_NONE) {
		chan_fail(ch, AMQP_UNEXPECTED_FRAME, 0,
		          "expected method frame, got non method frame instead");
		return;
	}
	if (ch->content == CONTENT_AWAIT_BODY) {
		chan_fail(ch, AMQP_UNEXPECTED_FRAME, ch->content_method,
		          "expected content body, got non content body frame instead");
		return;
	}
	class_id = amqp_get_u16(p); /* the frame parser guarantees n >= 14 */
	if (class_id != AMQP_CLASS_BASIC) {
		chan_fail(ch, AMQP_UNEXPECTED_FRAME, ch->content_method,
		          "expected content header for class 60, got one for class %u instead",
		          class_id);
		return;
	}
	rc = amqp_content_header_decode(p, n, &class_id, &body_size, &raw, &props);
	if (rc < 0) {
		/* RabbitMQ fails here with 541 INTERNAL_ERROR; say what is wrong instead. */
		chan_fail(ch, AMQP_SYNTAX_ERROR, ch->content_method,
		          "malformed content header properties");
		return;
	}
	if (body_size > broker.cfg->max_message_size) {
		chan_fail(ch, AMQP_PRECONDITION_FAILED, AMQP_BASIC_PUBLISH_METHOD,
		          "message size %llu is larger than configured max size %u",
		          (unsigned long long)body_size, broker.cfg->max_message_size);
		return;
	}
	if ((props.flags & AMQP_PROP_USER_ID) &&
	    !amqp_bytes_eq_cstr(props.user_id, ch->c->user_name)) {
		chan_fail(ch, AMQP_PRECONDITION_FAILED, AMQP_BASIC_PUBLISH_METHOD,
		          "user_id property set to '%.*s' but authenticated user was '%s'",
		          (int)props.user_id.len, (const char *)props.user_id.ptr, ch->c->user_name);
		return;
	}
	int64_t expiration = -1;
	if ((props.flags & AMQP_PROP_EXPIRATION) &&
	    (rc = msg_parse_expiration(props.expiration, &expiration)) != 0) {
		/* rabbit_basic:parse_expiration/1's answers */
		if (rc == -2)
			chan_fail(ch, AMQP_PRECONDITION_FAILED, AMQP_BASIC_PUBLISH_METHOD,
			          "invalid expiration '%.*s': {value_negative,%.*s}",
			          (int)props.expiration.len, (const char *)props.expiration.ptr,
			          (int)props.expiration.len, (const char *)props.expiration.ptr);
		else
			chan_fail(ch, AMQP_PRECONDITION_FAILED, AMQP_BASIC_PUBLISH_METHOD,
			          "invalid expiration '%.*s': no_integer", (int)props.expiration.len,
			          (const char *)props.expiration.ptr);
		return;
	}
	if ((props.flags & AMQP_PROP_REPLY_TO) && amqp_bytes_eq_cstr(props.reply_to, REPLY_TO) &&
	    rewrite_reply_to(ch, &props, rewritten, sizeof(rewritten), &raw) != 0)
		return;

	struct msg *m = msg_new((struct amqp_bytes){ ch->pub_exchange_len, ch->pub_exchange },
	                        (struct amqp_bytes){ ch->pub_rk_len, ch->pub_rk }, raw, body_size);
	if (m == NULL) {
		conn_close_with(ch->c, AMQP_RESOURCE_ERROR, "out of memory for message body",
		                AMQP_BASIC_PUBLISH_METHOD);
		return;
	}
	if (props.flags & AMQP_PROP_DELIVERY_MODE)
		m->persistent = props.delivery_mode == 2;
	if (props.flags & AMQP_PROP_PRIORITY)
		m->priority = props.priority;
	if (props.flags & AMQP_PROP_EXPIRATION)
		m->expiration = expiration;
	ch->pending = m;
	ch->content = CONTENT_AWAIT_BODY;
	if (body_size == 0)
		publish_complete(ch);
}

void
chan_body(struct chan *ch, const uint8_t *p, size_t n)
{
	struct msg *m = ch->pending;

	if (ch->state == CHAN_CLOSING)
		return;
	if (ch->content == CONTENT_NONE) {
		chan_fail(ch, AMQP_UNEXPECTED_FRAME, 0,
		          "expected method frame, got non method frame instead");
		return;
	}
	if (ch->content == CONTENT_AWAIT_HEADER) {
		chan_fail(ch, AMQP_UNEXPECTED_FRAME, ch->content_method,
		          "expected content header for class 60, got non content header frame instead");
		return;
	}
	if (n > m->body_len - m->body_filled) {
		conn_close_with(ch->c, AMQP_FRAME_ERROR, "content body exceeds declared body size",
		                AMQP_BASIC_PUBLISH_METHOD);
		return;
	}
	memcpy(m->body + m->body_filled, p, n);
	m->body_filled += n;
	if (m->body_filled == m->body_len)
		publish_complete(ch);
}
