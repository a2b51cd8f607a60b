/*
 * The rate sampler.  A queue's sample lives in the queue (struct
 * queue_rates), so a tick over 100,000 queues is a walk with no lookups.
 * Connections' and channels' samples are kept in a map keyed by a stable
 * identity (connection id, connection id and channel number), tagged with
 * the generation of the last tick that saw them; entries a tick did not
 * see belong to closed objects and go.
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
	uint64_t           pend[4]; /* messages, ready, unacked, consumers: summed by the pass */
};

static struct hmap        vtotals; /* vhost name -> struct vtotal */
static struct mgmt_totals totals;
static uint64_t           prev_totals[MGMT_T_NSTATS];
static uint32_t           gen;
static double             last_at;
static ev_timer           timer;
static struct ev_loop    *stats_loop;

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

/* Per second from prev to cur over dt seconds, to one decimal (0 without an interval). */
static double
rate_of(uint64_t cur, uint64_t prev, double dt)
{
	return dt > 0 ? round1(((double)cur - (double)prev) / dt) : 0.0;
}

/* The rates of a set of totals since the last tick; prev becomes now. */
static void
totals_rates(struct mgmt_totals *t, uint64_t *prev, double dt)
{
	for (int k = 0; k < MGMT_T_NSTATS; k++) {
		t->rate[k] = rate_of(t->v[k], prev[k], dt);
		prev[k] = t->v[k];
	}
}

/* Update s with the current values; add counter deltas to the totals. */
static void
update(struct sample *s, const uint64_t *cur, int n, double dt, bool fresh, const int *total_of,
       struct mgmt_totals *vt)
{
	for (int i = 0; i < n; i++) {
		uint64_t prev = fresh ? 0 : s->v[i];
		s->rate[i] = fresh ? 0.0 : rate_of(cur[i], prev, dt);
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

/*
 * A tick is a pass over every queue in slices of SLICE_QUEUES, one slice
 * per loop turn, so 100,000 queues never hold the loop for long; the
 * connections and channels (far fewer) are sampled when the pass ends.
 * The pass walks each vhost's queue map bucket by bucket: a queue added
 * meanwhile may wait for the next tick, one seen twice (the map grew) is
 * skipped by its generation.  Gauges are summed aside and published at the
 * end, so no reader sees half a sum.
 */
#define SLICE_QUEUES 1024

static const int q_totals[MGMT_Q_NSTATS] = { -1, MGMT_T_DELIVER, MGMT_T_ACK, MGMT_T_REDELIVER,
	                                     -1, -1, -1, MGMT_T_GET, MGMT_T_GET_NOACK,
	                                     MGMT_T_GET_EMPTY };

static struct {
	bool     active;
	char   **vhosts; /* owned: the vhosts' names when the pass began */
	size_t   nvh, vi, bucket;
	double   dt;
	uint64_t gauges[4];
} pass;
static ev_timer slice_w;

static void
sample_queue(struct queue *q, struct vtotal *vt)
{
	bool     fresh = q->rates.gen == 0;
	double   dt = pass.dt;
	uint64_t cur[MGMT_Q_NSTATS] = { q->stat_published, q->stat_delivered, q->stat_acked,
		                        q->stat_redelivered, q->count + q->unacked, q->count,
		                        q->unacked, q->stat_get, q->stat_get_noack,
		                        q->stat_get_empty };

	/* a queue seen for the first time: its counters so far still count */
	for (int k = 0; k < MGMT_Q_NSTATS; k++) {
		uint64_t prev = fresh ? 0 : q->rates.prev[k];
		q->rates.rate[k] = fresh ? 0.0f : (float)rate_of(cur[k], prev, dt);
		if (q_totals[k] >= 0 && cur[k] >= prev) {
			totals.v[q_totals[k]] += cur[k] - prev;
			vt->t.v[q_totals[k]] += cur[k] - prev;
		}
		q->rates.prev[k] = cur[k];
	}
	q->rates.gen = gen;
	vt->pend[0] += cur[MGMT_Q_MESSAGES];
	vt->pend[1] += cur[MGMT_Q_READY];
	vt->pend[2] += cur[MGMT_Q_UNACKED];
	vt->pend[3] += q->nconsumers;
	pass.gauges[0] += cur[MGMT_Q_MESSAGES];
	pass.gauges[1] += cur[MGMT_Q_READY];
	pass.gauges[2] += cur[MGMT_Q_UNACKED];
	pass.gauges[3] += q->nconsumers;
}

static void
pass_begin(void)
{
	double             now = ev_now(stats_loop ? stats_loop : EV_DEFAULT);
	size_t             i;
	struct hmap_entry *e;

	gen++;
	pass.dt = last_at > 0 ? now - last_at : 0;
	last_at = now;
	for (e = hmap_first(&vtotals, &i); e; e = hmap_next(&vtotals, &i, e))
		memset(((struct vtotal *)e->val)->pend, 0, sizeof(((struct vtotal *)e->val)->pend));
	memset(pass.gauges, 0, sizeof(pass.gauges));
	pass.vhosts = xcalloc(broker.vhosts.count + 1, sizeof(*pass.vhosts));
	pass.nvh = 0;
	for (e = hmap_first(&broker.vhosts, &i); e; e = hmap_next(&broker.vhosts, &i, e))
		pass.vhosts[pass.nvh++] = xstrndup((const char *)e->key, e->klen);
	pass.vi = pass.bucket = 0;
	pass.active = true;
}

/* Sample up to budget queues; true when every vhost is done. */
static bool
pass_step(size_t budget)
{
	while (pass.vi < pass.nvh) {
		struct vhost *vh = broker_vhost(amqp_cstr(pass.vhosts[pass.vi]));
		if (vh == NULL || pass.bucket >= vh->queues.nbuckets) {
			pass.vi++;
			pass.bucket = 0;
			continue;
		}
		if (budget == 0)
			return false;
		vhost_totals(vh->name, true);
		struct vtotal *vt = hmap_get(&vtotals, amqp_cstr(vh->name));
		for (struct hmap_entry *e = vh->queues.buckets[pass.bucket]; e; e = e->next) {
			struct queue *q = e->val;
			if (q->rates.gen != gen) {
				sample_queue(q, vt);
				budget -= budget > 0;
			}
		}
		pass.bucket++;
	}
	return true;
}

static void pass_end(void);

static void
slice_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	if (pass_step(SLICE_QUEUES)) {
		pass_end();
		return;
	}
	ev_timer_set(w, 0., 0.); /* the next slice in the next loop turn */
	ev_timer_start(loop, w);
}

void
mgmt_stats_sample(void)
{
	if (pass.active) {
		/* the last pass is still going (a huge broker): finish it first */
		ev_timer_stop(stats_loop ? stats_loop : EV_DEFAULT, &slice_w);
		pass_step(SIZE_MAX);
		pass_end();
	}
	pass_begin();
	if (pass_step(SLICE_QUEUES)) {
		pass_end();
		return;
	}
	if (stats_loop == NULL) {
		pass_step(SIZE_MAX);
		pass_end();
		return;
	}
	ev_timer_init(&slice_w, slice_cb, 0., 0.);
	ev_timer_start(stats_loop, &slice_w);
}

static void
pass_end(void)
{
	static const int ch_totals[MGMT_CH_NSTATS] = { MGMT_T_PUBLISH, -1, -1, MGMT_T_RETURN_UNROUTABLE,
		                                       MGMT_T_DROP_UNROUTABLE };
	static const int c_totals[MGMT_C_NSTATS] = { MGMT_T_RECV_OCT, MGMT_T_SEND_OCT };
	double             dt = pass.dt;
	size_t             i;
	struct hmap_entry *e;
	char               key[600];

	pass.active = false;
	/* exchanges: few next to queues, sampled in one go */
	for (i = 0; i < pass.nvh; i++) {
		struct vhost      *vh = broker_vhost(amqp_cstr(pass.vhosts[i]));
		struct hmap_entry *xe;
		size_t             j;
		for (xe = vh ? hmap_first(&vh->exchanges, &j) : NULL; xe;
		     xe = hmap_next(&vh->exchanges, &j, xe)) {
			struct exchange *x = xe->val;
			uint64_t         cur[2] = { x->stat_in, x->stat_out };
			bool             fresh = x->rates.gen == 0;
			for (int k = 0; k < 2; k++) {
				x->rates.rate[k] = fresh ? 0.0f : (float)rate_of(cur[k], x->rates.prev[k], dt);
				x->rates.prev[k] = cur[k];
			}
			x->rates.gen = gen;
		}
	}
	for (i = 0; i < pass.nvh; i++)
		free(pass.vhosts[i]);
	free(pass.vhosts);
	pass.vhosts = NULL;
	for (e = hmap_first(&vtotals, &i); e; e = hmap_next(&vtotals, &i, e)) {
		struct vtotal *t = e->val;
		t->t.v[MGMT_T_MESSAGES] = t->pend[0];
		t->t.v[MGMT_T_READY] = t->pend[1];
		t->t.v[MGMT_T_UNACKED] = t->pend[2];
		t->t.v[MGMT_T_CONSUMERS] = t->pend[3];
	}
	totals.v[MGMT_T_MESSAGES] = pass.gauges[0];
	totals.v[MGMT_T_READY] = pass.gauges[1];
	totals.v[MGMT_T_UNACKED] = pass.gauges[2];
	totals.v[MGMT_T_CONSUMERS] = pass.gauges[3];

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
	totals.v[MGMT_T_QUEUE_CREATED] = broker.queues_created;
	totals.v[MGMT_T_QUEUE_DECLARED] = broker.queues_declared;
	totals.v[MGMT_T_QUEUE_DELETED] = broker.queues_deleted;
	totals.v[MGMT_T_CHAN_CREATED] = broker.chans_opened;
	totals.v[MGMT_T_CHAN_CLOSED] = broker.chans_closed;
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
			                         chans[i].stat_ack, chans[i].stat_return,
			                         chans[i].stat_drop };
		struct mgmt_totals *vt = chans[i].vhost[0] ? vhost_totals(chans[i].vhost, true) : NULL;
		if (fresh) {
			for (int k = 0; k < MGMT_CH_NSTATS; k++) {
				if (ch_totals[k] < 0)
					continue;
				totals.v[ch_totals[k]] += cur[k];
				if (vt)
					vt->v[ch_totals[k]] += cur[k];
			}
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
	totals_rates(&totals, prev_totals, dt);
	for (e = hmap_first(&vtotals, &i); e; e = hmap_next(&vtotals, &i, e)) {
		struct vtotal *t = e->val;
		totals_rates(&t->t, t->prev, dt);
	}
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
	ev_timer_stop(loop, &slice_w);
	if (pass.active) {
		for (size_t k = 0; k < pass.nvh; k++)
			free(pass.vhosts[k]);
		free(pass.vhosts);
		pass.vhosts = NULL;
		pass.active = false;
	}
	for (e = hmap_first(&samples, &i); e; e = hmap_next(&samples, &i, e))
		free(e->val);
	hmap_free(&samples);
	for (e = hmap_first(&vtotals, &i); e; e = hmap_next(&vtotals, &i, e))
		free(e->val);
	hmap_free(&vtotals);
}

double
mgmt_stats_queue_rate(const struct queue *q, int which)
{
	return q->rates.gen ? (double)q->rates.rate[which] : 0.0;
}

void
mgmt_stats_queue_rates(const struct queue *q, double *rates)
{
	for (int i = 0; i < MGMT_Q_NSTATS; i++)
		rates[i] = mgmt_stats_queue_rate(q, i);
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
