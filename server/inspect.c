/*
 * Snapshots of connections, channels and consumers: the only place
 * outside conn.c and channel.c that reads their structs, and only to copy.
 */
#include "server/inspect.h"

#include <stdio.h>
#include <string.h>

#include "amqp/spec_gen.h"
#include "server/broker.h"
#include "server/channel.h"
#include "server/config.h"
#include "server/conn.h"
#include "server/util.h"

/* "host:port" -> host, port ("::ffff:1.2.3.4" shown as 1.2.3.4, as RabbitMQ does). */
static void
split_addr(const char *addr, char *host, size_t hlen, uint16_t *port)
{
	const char *colon = strrchr(addr, ':');
	size_t      n = colon ? (size_t)(colon - addr) : strlen(addr);

	if (n >= 7 && strncmp(addr, "::ffff:", 7) == 0 && memchr(addr + 7, '.', n - 7)) {
		addr += 7;
		n -= 7;
	}
	snprintf(host, hlen, "%.*s", (int)n, addr);
	*port = colon ? (uint16_t)atoi(colon + 1) : 0;
}

static void
conn_name(const struct conn *c, char *out, size_t len)
{
	char     ph[64], lh[64];
	uint16_t pp, lp;

	split_addr(c->peer, ph, sizeof(ph), &pp);
	split_addr(c->local, lh, sizeof(lh), &lp);
	snprintf(out, len, "%s:%u -> %s:%u", ph, pp, lh, lp);
}

static const char *
state_name(enum conn_state s)
{
	switch (s) {
	case CONN_AWAIT_HEADER:
	case CONN_AWAIT_START_OK:
		return "starting";
	case CONN_AWAIT_TUNE_OK:
		return "tuning";
	case CONN_AWAIT_OPEN:
		return "opening";
	case CONN_OPEN:
		return "running";
	case CONN_CLOSING:
	case CONN_FLUSH_CLOSE:
		return "closing";
	default:
		return "closed";
	}
}

size_t
inspect_conns(struct inspect_conn **out)
{
	struct list *it, *tmp;
	size_t       n = 0, cap = conn_count() + 1;

	*out = xcalloc(cap, sizeof(**out));
	list_for_each_safe (it, tmp, &broker.conns) {
		struct conn         *c = container_of(it, struct conn, link);
		struct inspect_conn *r;
		if (c->state == CONN_CLOSED)
			continue;
		if (n == cap) {
			cap *= 2;
			*out = xrealloc(*out, cap * sizeof(**out));
		}
		r = &(*out)[n++];
		memset(r, 0, sizeof(*r));
		r->id = c->id;
		conn_name(c, r->name, sizeof(r->name));
		split_addr(c->peer, r->peer_host, sizeof(r->peer_host), &r->peer_port);
		split_addr(c->local, r->host, sizeof(r->host), &r->port);
		snprintf(r->user, sizeof(r->user), "%s", c->user_name);
		snprintf(r->vhost, sizeof(r->vhost), "%s", c->vh ? c->vh->name : "");
		r->state = state_name(c->state);
		r->open = c->state == CONN_OPEN;
		r->channel_max = c->channel_max;
		r->frame_max = c->frame_max;
		r->heartbeat = c->heartbeat;
		r->connected_at = c->connected_at;
		if (c->client_props_len) {
			r->client_props = xmalloc(c->client_props_len);
			memcpy(r->client_props, c->client_props, c->client_props_len);
			r->client_props_len = c->client_props_len;
		}
		r->channels = c->open_chans;
		r->recv_oct = c->recv_oct;
		r->send_oct = c->send_oct;
		r->recv_cnt = c->recv_cnt;
		r->send_cnt = c->send_cnt;
		r->send_pend = c->tx_pending;
		snprintf(r->auth_mechanism, sizeof(r->auth_mechanism), "%s", c->auth_mechanism);
		r->ssl = transport_tls_describe(&c->tp, &r->tls);
		r->blocked_reason = conn_blocked_reason(c, &r->blocked_since);
	}
	return n;
}

void
inspect_conns_free(struct inspect_conn *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].client_props);
	free(v);
}

size_t
inspect_chans(struct inspect_chan **out)
{
	struct list *it, *tmp;
	size_t       n = 0, cap = 16;

	*out = xcalloc(cap, sizeof(**out));
	list_for_each_safe (it, tmp, &broker.conns) {
		struct conn *c = container_of(it, struct conn, link);
		if (c->state == CONN_CLOSED || c->chans == NULL)
			continue;
		for (uint32_t id = 0; id < c->nchans; id++) {
			struct chan *ch = c->chans[id];
			if (ch == NULL)
				continue;
			if (n == cap) {
				cap *= 2;
				*out = xrealloc(*out, cap * sizeof(**out));
			}
			struct inspect_chan *r = &(*out)[n++];
			struct list         *ci, *ct;
			memset(r, 0, sizeof(*r));
			r->conn_id = c->id;
			conn_name(c, r->conn_name, sizeof(r->conn_name));
			split_addr(c->peer, r->peer_host, sizeof(r->peer_host), &r->peer_port);
			r->number = ch->id;
			snprintf(r->user, sizeof(r->user), "%s", c->user_name);
			snprintf(r->vhost, sizeof(r->vhost), "%s", c->vh ? c->vh->name : "");
			r->state = ch->state == CHAN_OPEN ? "running" : "closing";
			r->confirm = ch->confirm;
			r->transactional = ch->tx;
			list_for_each_safe (ci, ct, &ch->consumers)
				r->consumer_count++;
			r->prefetch_count = ch->prefetch_consumer;
			r->global_prefetch_count = ch->prefetch_global;
			r->messages_unacknowledged = ch->un_live;
			r->messages_unconfirmed = ch->confirm && ch->next_publish_tag > ch->confirmed_upto ?
			                          ch->next_publish_tag - ch->confirmed_upto : 0;
			for (size_t k = 0; k < ch->ntxops; k++)
				if (ch->txops[k].kind == 0)
					r->messages_uncommitted++;
			r->stat_publish = ch->stat_publish;
			r->stat_deliver = ch->stat_deliver;
			r->stat_ack = ch->stat_ack;
			r->stat_return = ch->stat_return;
			r->stat_drop = ch->stat_drop;
		}
	}
	return n;
}

size_t
inspect_consumers(struct inspect_consumer **out)
{
	struct list *it, *tmp;
	size_t       n = 0, cap = 16;

	*out = xcalloc(cap, sizeof(**out));
	list_for_each_safe (it, tmp, &broker.conns) {
		struct conn *c = container_of(it, struct conn, link);
		if (c->state == CONN_CLOSED || c->chans == NULL)
			continue;
		for (uint32_t id = 0; id < c->nchans; id++) {
			struct chan *ch = c->chans[id];
			struct list *ci, *ct;
			if (ch == NULL)
				continue;
			list_for_each_safe (ci, ct, &ch->consumers) {
				struct consumer *co = container_of(ci, struct consumer, chlink);
				if (co->q == NULL || co->cancelled)
					continue;
				if (n == cap) {
					cap *= 2;
					*out = xrealloc(*out, cap * sizeof(**out));
				}
				struct inspect_consumer *r = &(*out)[n++];
				memset(r, 0, sizeof(*r));
				snprintf(r->queue, sizeof(r->queue), "%.*s", (int)co->q->name.len,
				         (const char *)co->q->name.ptr);
				snprintf(r->vhost, sizeof(r->vhost), "%s", co->q->vh->name);
				snprintf(r->tag, sizeof(r->tag), "%.*s", (int)co->tag.len,
				         (const char *)co->tag.ptr);
				r->ack_required = !co->no_ack;
				r->exclusive = co->exclusive;
				r->prefetch_count = co->prefetch;
				r->priority = co->priority;
				if (co->args.len) {
					r->args = xmalloc(co->args.len);
					memcpy(r->args, co->args.ptr, co->args.len);
					r->args_len = co->args.len;
				}
				r->conn_id = c->id;
				conn_name(c, r->conn_name, sizeof(r->conn_name));
				split_addr(c->peer, r->peer_host, sizeof(r->peer_host), &r->peer_port);
				r->chan_number = ch->id;
				snprintf(r->user, sizeof(r->user), "%s", c->user_name);
				r->active = !co->q->opts.single_active || co->q->active == co ||
				            (co->q->active == NULL &&
				             co->q->consumers.next == &co->qlink);
			}
		}
	}
	return n;
}

void
inspect_consumers_free(struct inspect_consumer *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].args);
	free(v);
}

void
inspect_alarms(struct inspect_alarms *a)
{
	conn_alarm_state(&a->mem_alarm, &a->disk_alarm, &a->mem_limit);
	a->disk_free_limit = broker.cfg ? broker.cfg->disk_free_limit : 50000000;
}

size_t
inspect_conn_count(void)
{
	return conn_count();
}

size_t
inspect_chan_count(void)
{
	struct list *it, *tmp;
	size_t       n = 0;

	list_for_each_safe (it, tmp, &broker.conns) {
		struct conn *c = container_of(it, struct conn, link);
		if (c->state != CONN_CLOSED)
			n += c->open_chans;
	}
	return n;
}

uint64_t
inspect_conns_opened(void)
{
	return broker.next_conn_id;
}

int
inspect_conn_close(uint64_t id, const char *reason)
{
	struct list *it, *tmp;

	list_for_each_safe (it, tmp, &broker.conns) {
		struct conn *c = container_of(it, struct conn, link);
		if (c->id != id || c->state == CONN_CLOSED)
			continue;
		conn_close_with(c, AMQP_CONNECTION_FORCED, reason, 0);
		return 0;
	}
	return -1;
}

int
inspect_queue_owner(const struct queue *q, char *name, size_t nlen, char *host, size_t hlen,
                    uint16_t *port)
{
	if (q->owner == NULL)
		return -1;
	conn_name(q->owner, name, nlen);
	split_addr(q->owner->peer, host, hlen, port);
	return 0;
}

static int
cmp_unacked(const void *a, const void *b)
{
	double x = ((const struct inspect_unacked *)a)->at, y = ((const struct inspect_unacked *)b)->at;
	return x < y ? -1 : x > y;
}

size_t
inspect_queue_unacked(const struct queue *q, struct inspect_unacked **out)
{
	struct list *it, *tmp;
	size_t       n = 0, cap = 16;

	*out = xcalloc(cap, sizeof(**out));
	if (q->unacked == 0)
		return 0;
	list_for_each_safe (it, tmp, &broker.conns) {
		struct conn *c = container_of(it, struct conn, link);
		if (c->chans == NULL)
			continue;
		for (uint32_t id = 0; id < c->nchans; id++) {
			struct chan *ch = c->chans[id];
			if (ch == NULL || ch->unacked == NULL)
				continue;
			for (size_t i = 0; i < ch->un_count; i++) {
				struct unacked *u = &ch->unacked[(ch->un_head + i) % ch->un_cap];
				if (u->done || u->q != q || u->e.m == NULL)
					continue;
				if (n == cap) {
					cap *= 2;
					*out = xrealloc(*out, cap * sizeof(**out));
				}
				(*out)[n].m = u->e.m;
				(*out)[n].redelivered = u->e.redelivered != 0;
				/* ev_now() is the loop's clock, which libev keeps in epoch seconds */
				(*out)[n].at = u->at;
				n++;
			}
		}
	}
	qsort(*out, n, sizeof(**out), cmp_unacked);
	return n;
}

double
inspect_queue_oldest_unacked(const struct queue *q)
{
	struct inspect_unacked *u;
	size_t                  n = inspect_queue_unacked(q, &u);
	double                  age = -1;

	if (n)
		age = ev_now(EV_DEFAULT) - u[0].at;
	free(u);
	return age;
}
