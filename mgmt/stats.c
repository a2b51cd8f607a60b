/*
 * The rate sampler.  Each object's sample is kept in a map keyed by a
 * stable identity (vhost and name for queues, connection id, connection id
 * and channel number), tagged with the generation of the last tick that
 * saw it; entries a tick did not see belong to deleted objects and go.
 */
#include "mgmt/stats.h"

#include <stdio.h>
#include <string.h>

#include "server/broker.h"
#include "server/hmap.h"
#include "server/inspect.h"
#include "server/util.h"

struct sample {
	uint64_t v[MGMT_Q_NSTATS];
	double   rate[MGMT_Q_NSTATS];
	uint32_t gen;
	char     vhost[256];
};

static struct hmap        samples; /* key -> struct sample */
struct vtotal {
	struct mgmt_totals t;
	uint64_t           prev[MGMT_T_NSTATS];
};

static struct hmap        vtotals; /* vhost name -> struct vtotal */
static struct mgmt_totals totals;
static uint64_t           prev_totals[MGMT_T_NSTATS];
static uint32_t           gen;
static double             last_at;
static ev_timer           timer;
static struct ev_loop    *stats_loop;

/* "q" vhost NUL name: the key of a queue's sample; 0 if it does not fit. */
static size_t
qkey(char *buf, size_t cap, const char *vhost, struct amqp_bytes name)
{
	size_t vl = strlen(vhost);
	size_t k = vl + 2;

	if (k > cap || name.len > cap - k)
		return 0;
	buf[0] = 'q';
	memcpy(buf + 1, vhost, vl);
	buf[vl + 1] = '\0';
	memcpy(buf + k, name.ptr, name.len);
	return k + name.len;
}

static struct sample *
get_sample(const char *key, size_t len, bool create)
{
	struct amqp_bytes k = { len, (const uint8_t *)key };
	struct sample    *s = hmap_get(&samples, k);

	if (s == NULL && create) {
		s = xcalloc(1, sizeof(*s));
		hmap_put(&samples, k, s);
	}
	return s;
}

static double
round1(double r)
{
	double x = r * 10.0;
	x = x < 0 ? (double)(int64_t)(x - 0.5) : (double)(int64_t)(x + 0.5);
	return x / 10.0;
}

/* Update s with the current values; add counter deltas to the totals. */
static void
update(struct sample *s, const uint64_t *cur, int n, double dt, bool fresh, const int *total_of,
       struct mgmt_totals *vt)
{
	for (int i = 0; i < n; i++) {
		uint64_t prev = fresh ? 0 : s->v[i];
		double   d = (double)cur[i] - (double)prev;
		s->rate[i] = fresh || dt <= 0 ? 0.0 : round1(d / dt);
		if (total_of && total_of[i] >= 0 && cur[i] >= prev) {
			totals.v[total_of[i]] += cur[i] - prev;
			if (vt)
				vt->v[total_of[i]] += cur[i] - prev;
		}
		s->v[i] = cur[i];
	}
	s->gen = gen;
}

static struct mgmt_totals *
vhost_totals(const char *vhost, bool create)
{
	struct vtotal *t = hmap_get(&vtotals, amqp_cstr(vhost));

	if (t == NULL && create) {
		t = xcalloc(1, sizeof(*t));
		hmap_put(&vtotals, amqp_cstr(vhost), t);
	}
	return t ? &t->t : NULL;
}

void
mgmt_stats_sample(void)
{
	static const int q_totals[MGMT_Q_NSTATS] = { -1, MGMT_T_DELIVER, MGMT_T_ACK,
		                                     MGMT_T_REDELIVER, -1, -1, -1 };
	static const int ch_totals[MGMT_CH_NSTATS] = { MGMT_T_PUBLISH, -1, -1 };
	static const int c_totals[MGMT_C_NSTATS] = { MGMT_T_RECV_OCT, MGMT_T_SEND_OCT };
	double             now = ev_now(stats_loop ? stats_loop : EV_DEFAULT);
	double             dt = last_at > 0 ? now - last_at : 0;
	size_t             i, j;
	struct hmap_entry *e, *qe;
	char               key[600];
	uint64_t           gauges[3] = { 0, 0, 0 };

	gen++;
	/* vhost gauges are recomputed each tick */
	for (e = hmap_first(&vtotals, &i); e; e = hmap_next(&vtotals, &i, e)) {
		struct mgmt_totals *t = e->val;
		t->v[MGMT_T_MESSAGES] = t->v[MGMT_T_READY] = t->v[MGMT_T_UNACKED] = 0;
	}
	for (e = hmap_first(&broker.vhosts, &i); e; e = hmap_next(&broker.vhosts, &i, e)) {
		struct vhost       *vh = e->val;
		struct mgmt_totals *vt = vhost_totals(vh->name, true);
		for (qe = hmap_first(&vh->queues, &j); qe; qe = hmap_next(&vh->queues, &j, qe)) {
			struct queue *q = qe->val;
			size_t        kl = qkey(key, sizeof(key), vh->name, q->name);
			if (kl == 0)
				continue;
			struct sample *s = get_sample(key, kl, false);
			bool           fresh = s == NULL;
			if (fresh)
				s = get_sample(key, kl, true);
			uint64_t cur[MGMT_Q_NSTATS] = { q->stat_published, q->stat_delivered,
				                        q->stat_acked, q->stat_redelivered,
				                        q->count + q->unacked, q->count, q->unacked };
			/* a queue seen for the first time: its counters so far still count */
			if (fresh) {
				for (int k = 1; k < 4; k++) {
					totals.v[q_totals[k]] += cur[k];
					vt->v[q_totals[k]] += cur[k];
				}
				update(s, cur, MGMT_Q_NSTATS, dt, true, NULL, NULL);
			} else {
				update(s, cur, MGMT_Q_NSTATS, dt, false, q_totals, vt);
			}
			vt->v[MGMT_T_MESSAGES] += cur[MGMT_Q_MESSAGES];
			vt->v[MGMT_T_READY] += cur[MGMT_Q_READY];
			vt->v[MGMT_T_UNACKED] += cur[MGMT_Q_UNACKED];
			gauges[0] += cur[MGMT_Q_MESSAGES];
			gauges[1] += cur[MGMT_Q_READY];
			gauges[2] += cur[MGMT_Q_UNACKED];
		}
	}
	totals.v[MGMT_T_MESSAGES] = gauges[0];
	totals.v[MGMT_T_READY] = gauges[1];
	totals.v[MGMT_T_UNACKED] = gauges[2];

	struct inspect_conn *conns;
	size_t               nc = inspect_conns(&conns);
	for (i = 0; i < nc; i++) {
		int kl = snprintf(key, sizeof(key), "c%llu", (unsigned long long)conns[i].id);
		struct sample *s = get_sample(key, (size_t)kl, false);
		bool           fresh = s == NULL;
		if (fresh)
			s = get_sample(key, (size_t)kl, true);
		uint64_t cur[MGMT_C_NSTATS] = { conns[i].recv_oct, conns[i].send_oct };
		struct mgmt_totals *vt = conns[i].vhost[0] ? vhost_totals(conns[i].vhost, true) : NULL;
		if (fresh) {
			for (int k = 0; k < MGMT_C_NSTATS; k++) {
				totals.v[c_totals[k]] += cur[k];
				if (vt)
					vt->v[c_totals[k]] += cur[k];
			}
		}
		update(s, cur, MGMT_C_NSTATS, dt, fresh, fresh ? NULL : c_totals, vt);
	}
	totals.v[MGMT_T_CONN_CREATED] = inspect_conns_opened();
	totals.v[MGMT_T_CONN_CLOSED] = inspect_conns_opened() - nc;
	inspect_conns_free(conns, nc);

	struct inspect_chan *chans;
	size_t               nch = inspect_chans(&chans);
	for (i = 0; i < nch; i++) {
		int kl = snprintf(key, sizeof(key), "h%llu/%u", (unsigned long long)chans[i].conn_id,
		                  chans[i].number);
		struct sample *s = get_sample(key, (size_t)kl, false);
		bool           fresh = s == NULL;
		if (fresh)
			s = get_sample(key, (size_t)kl, true);
		uint64_t cur[MGMT_CH_NSTATS] = { chans[i].stat_publish, chans[i].stat_deliver,
			                         chans[i].stat_ack };
		struct mgmt_totals *vt = chans[i].vhost[0] ? vhost_totals(chans[i].vhost, true) : NULL;
		if (fresh) {
			totals.v[MGMT_T_PUBLISH] += cur[MGMT_CH_PUBLISH];
			if (vt)
				vt->v[MGMT_T_PUBLISH] += cur[MGMT_CH_PUBLISH];
		}
		update(s, cur, MGMT_CH_NSTATS, dt, fresh, fresh ? NULL : ch_totals, vt);
	}
	free(chans);

	/* drop the samples of objects that are gone */
	struct amqp_bytes *stale = NULL;
	size_t             nstale = 0, cstale = 0;
	for (e = hmap_first(&samples, &i); e; e = hmap_next(&samples, &i, e)) {
		struct sample *s = e->val;
		if (s->gen == gen)
			continue;
		if (nstale == cstale) {
			cstale = cstale ? cstale * 2 : 64;
			stale = xrealloc(stale, cstale * sizeof(*stale));
		}
		stale[nstale++] = bytes_dup((struct amqp_bytes){ e->klen, e->key });
	}
	for (i = 0; i < nstale; i++) {
		free(hmap_del(&samples, stale[i]));
		bytes_free(&stale[i]);
	}
	free(stale);
	for (int k = 0; k < MGMT_T_NSTATS; k++) {
		double d = (double)totals.v[k] - (double)prev_totals[k];
		totals.rate[k] = dt > 0 ? round1(d / dt) : 0.0;
		prev_totals[k] = totals.v[k];
	}
	for (e = hmap_first(&vtotals, &i); e; e = hmap_next(&vtotals, &i, e)) {
		struct vtotal *t = e->val;
		for (int k = 0; k < MGMT_T_NSTATS; k++) {
			double d = (double)t->t.v[k] - (double)t->prev[k];
			t->t.rate[k] = dt > 0 ? round1(d / dt) : 0.0;
			t->prev[k] = t->t.v[k];
		}
	}
	last_at = now;
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	mgmt_stats_sample();
}

void
mgmt_stats_start(struct ev_loop *loop)
{
	stats_loop = loop;
	mgmt_stats_sample();
	ev_timer_init(&timer, timer_cb, MGMT_STATS_INTERVAL, MGMT_STATS_INTERVAL);
	ev_timer_start(loop, &timer);
	ev_unref(loop); /* the sampler alone does not keep the loop alive */
}

void
mgmt_stats_stop(struct ev_loop *loop)
{
	size_t             i;
	struct hmap_entry *e;

	if (ev_is_active(&timer)) {
		ev_ref(loop);
		ev_timer_stop(loop, &timer);
	}
	for (e = hmap_first(&samples, &i); e; e = hmap_next(&samples, &i, e))
		free(e->val);
	hmap_free(&samples);
	for (e = hmap_first(&vtotals, &i); e; e = hmap_next(&vtotals, &i, e))
		free(e->val);
	hmap_free(&vtotals);
}

double
mgmt_stats_queue_rate(const char *vhost, struct amqp_bytes name, int which)
{
	char           key[600];
	size_t         kl = qkey(key, sizeof(key), vhost, name);
	struct sample *s = kl ? get_sample(key, kl, false) : NULL;

	return s ? s->rate[which] : 0.0;
}

void
mgmt_stats_queue_rates(const char *vhost, struct amqp_bytes name, double *rates)
{
	char           key[600];
	size_t         kl = qkey(key, sizeof(key), vhost, name);
	struct sample *s = kl ? get_sample(key, kl, false) : NULL;

	for (int i = 0; i < MGMT_Q_NSTATS; i++)
		rates[i] = s ? s->rate[i] : 0.0;
}

double
mgmt_stats_conn_rate(uint64_t conn_id, int which)
{
	char           key[64];
	int            kl = snprintf(key, sizeof(key), "c%llu", (unsigned long long)conn_id);
	struct sample *s = get_sample(key, (size_t)kl, false);

	return s ? s->rate[which] : 0.0;
}

double
mgmt_stats_chan_rate(uint64_t conn_id, uint16_t chan, int which)
{
	char           key[64];
	int            kl = snprintf(key, sizeof(key), "h%llu/%u", (unsigned long long)conn_id, chan);
	struct sample *s = get_sample(key, (size_t)kl, false);

	return s ? s->rate[which] : 0.0;
}

void
mgmt_stats_totals(const char *vhost, struct mgmt_totals *out)
{
	if (vhost == NULL) {
		*out = totals;
		return;
	}
	struct mgmt_totals *t = vhost_totals(vhost, false);
	if (t)
		*out = *t;
	else
		memset(out, 0, sizeof(*out));
}
