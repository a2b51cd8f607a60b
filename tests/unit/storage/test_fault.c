/*
 * storage/ under faults [SQLite test6.c]: short writes, ENOSPC from pwrite,
 * EIO from fsync (the sticky failed state, store_reset_failure), and power
 * cuts that drop or tear everything written since the last fsync.
 * Recovery must keep every record a sync confirmed, bring back no record
 * whose ack a sync confirmed, and return nothing half-written.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/storage/test_storage.h"

static char           *dir;
static struct test_log lg;

static void
setup(void)
{
	dir = test_tmpdir();
	memset(&lg, 0, sizeof(lg));
	faultfs_reset();
}

static void
teardown(void)
{
	faultfs_reset();
	test_rmtree(dir);
	dir = NULL;
}

static struct store *
open_faulty(void)
{
	struct store *s;

	ck_assert_int_eq(store_open(dir, &faultfs_ops, &s), STORE_OK);
	store_set_log(s, test_log_fn, &lg);
	return s;
}

static int
append_len(struct store_queue *q, uint64_t key, size_t len, uint64_t *id)
{
	uint8_t *buf = malloc(len + 1);
	int      rc;

	ck_assert_ptr_nonnull(buf);
	test_rec_fill(key, buf, len);
	rc = store_append(q, buf, len, id);
	free(buf);
	return rc;
}

static void
append_ok(struct store_queue *q, uint64_t want_id, size_t len)
{
	uint64_t id;

	ck_assert_int_eq(append_len(q, want_id, len, &id), STORE_OK);
	ck_assert_uint_eq(id, want_id);
}

static bool
rec_ok(const struct test_recs *r, size_t i, size_t len)
{
	uint8_t *want = malloc(len + 1);
	bool     ok;

	ck_assert_ptr_nonnull(want);
	test_rec_fill(r->ids[i], want, len);
	ok = r->lens[i] == len && (len == 0 || memcmp(r->data[i], want, len) == 0);
	free(want);
	return ok;
}

START_TEST(fault_short_writes)
{
	struct store       *s = open_faulty();
	struct store_queue *q;
	struct test_recs    r;
	uint64_t            k;

	faultfs.short_write = 7;
	store_set_segment_size(s, 8192);
	store_set_buffer_size(s, 4096);
	ck_assert_int_eq(store_queue_open(s, "q", &q), STORE_OK);
	for (k = 1; k <= 300; k++)
		append_ok(q, k, test_rec_len(k));
	ck_assert_int_eq(store_sync(s), STORE_OK);
	ck_assert_uint_gt(faultfs.pwrites, 1000);
	store_close(s);

	r = test_reopen(dir, "q", NULL, NULL);
	ck_assert_uint_eq(r.n, 300);
	for (k = 0; k < 300; k++) {
		ck_assert_uint_eq(r.ids[k], k + 1);
		ck_assert(rec_ok(&r, (size_t)k, test_rec_len(k + 1)));
	}
	test_recs_free(&r);
}
END_TEST

START_TEST(fault_enospc_on_pwrite)
{
	struct store       *s = open_faulty();
	struct store_queue *q;
	struct test_recs    r;
	uint64_t            k, id;
	void               *p;
	size_t              n;

	ck_assert_int_eq(store_queue_open(s, "q", &q), STORE_OK);
	for (k = 1; k <= 50; k++)
		append_ok(q, k, 200);
	ck_assert_int_eq(store_sync(s), STORE_OK);

	faultfs.space = 1000;
	for (k = 51; k <= 100; k++)
		append_ok(q, k, 200);            /* buffered: nothing written yet */
	ck_assert(!store_failed(s));
	ck_assert_int_eq(store_sync(s), STORE_ENOSPC);
	ck_assert(store_failed(s));
	ck_assert_int_eq(store_sync(s), STORE_FAILED);
	ck_assert_int_eq(append_len(q, 101, 10, &id), STORE_FAILED);
	ck_assert_int_eq(store_meta_write(s, "{}", 2), STORE_FAILED);
	/* Consumers may still ack while the disk is full. */
	ck_assert_int_eq(store_ack(q, 10), STORE_OK);
	ck_assert_int_eq(store_set_delivery_count(q, 11, 3), STORE_OK);
	/* Still full: the probe fails and the store stays failed. */
	faultfs.space = 0;
	ck_assert_int_eq(store_reset_failure(s), STORE_ENOSPC);
	ck_assert(store_failed(s));
	ck_assert_int_eq(store_sync(s), STORE_FAILED);

	/* Space comes back. */
	faultfs.space = -1;
	ck_assert_int_eq(store_reset_failure(s), STORE_OK);
	ck_assert(!store_failed(s));
	ck_assert_int_eq(store_read(q, 51, &p, &n), STORE_NOTFOUND);   /* rolled back */
	ck_assert_int_eq(store_ack(q, 60), STORE_NOTFOUND);
	ck_assert_int_eq(store_read(q, 50, &p, &n), STORE_OK);
	free(p);
	ck_assert_int_eq(append_len(q, 101, 10, &id), STORE_OK);
	ck_assert_uint_eq(id, 101);                                    /* not reused */
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_close(s);

	r = test_reopen(dir, "q", NULL, NULL);
	ck_assert_uint_eq(r.n, 50);
	for (k = 0; k < 49; k++) {
		uint64_t want = k + 1 < 10 ? k + 1 : k + 2;

		ck_assert_uint_eq(r.ids[k], want);
		ck_assert(rec_ok(&r, (size_t)k, 200));
		ck_assert_uint_eq(r.dcs[k], want == 11 ? 3 : 0);
	}
	ck_assert_uint_eq(r.ids[49], 101);
	ck_assert(rec_ok(&r, 49, 10));
	test_recs_free(&r);
}
END_TEST

START_TEST(fault_enospc_on_full_buffer)
{
	struct store       *s = open_faulty();
	struct store_queue *q;
	struct test_recs    r;
	uint64_t            k, id = 0, last = 0;
	int                 rc = STORE_OK;

	store_set_buffer_size(s, 4096);
	ck_assert_int_eq(store_queue_open(s, "q", &q), STORE_OK);
	for (k = 1; k <= 5; k++)
		append_ok(q, k, 1000);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	faultfs.space = 6000;
	for (k = 6; k <= 100 && rc == STORE_OK; k++) {
		rc = append_len(q, k, 1000, &id);
		if (rc == STORE_OK)
			last = id;
	}
	ck_assert_int_eq(rc, STORE_ENOSPC);   /* the append that filled the buffer */
	ck_assert_uint_gt(last, 5);
	ck_assert(store_failed(s));
	ck_assert_int_eq(store_sync(s), STORE_FAILED);
	faultfs.space = -1;
	ck_assert_int_eq(store_reset_failure(s), STORE_OK);
	ck_assert_int_eq(append_len(q, last + 1, 1000, &id), STORE_OK);
	ck_assert_uint_eq(id, last + 1);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_close(s);

	r = test_reopen(dir, "q", NULL, NULL);
	ck_assert_uint_eq(r.n, 6);
	for (k = 0; k < 5; k++)
		ck_assert_uint_eq(r.ids[k], k + 1);
	ck_assert_uint_eq(r.ids[5], last + 1);
	test_recs_free(&r);
}
END_TEST

START_TEST(fault_eio_on_fsync)
{
	struct store       *s = open_faulty();
	struct store_queue *q;
	struct test_recs    r;
	uint64_t            k, id;
	uint32_t            seed = 1;
	void               *p;
	size_t              n;

	ck_assert_int_eq(store_queue_open(s, "q", &q), STORE_OK);
	for (k = 1; k <= 20; k++)
		append_ok(q, k, 100);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	for (k = 21; k <= 30; k++)
		append_ok(q, k, 100);
	ck_assert_int_eq(store_ack(q, 1), STORE_OK);
	faultfs.fsync_errno = EIO;
	ck_assert_int_eq(store_sync(s), STORE_EIO);
	ck_assert(store_failed(s));
	ck_assert_int_eq(store_sync(s), STORE_FAILED);
	ck_assert_int_eq(append_len(q, 31, 100, &id), STORE_FAILED);
	ck_assert_int_eq(store_reset_failure(s), STORE_EIO);      /* the probe's fsync */
	ck_assert_ptr_nonnull(strstr(lg.text, "fsync"));

	/* Nothing was reported durable: a power cut now keeps 1..20 only. */
	faultfs_cut(false, &seed);
	store_close(s);
	faultfs_reset();
	r = test_reopen(dir, "q", &faultfs_ops, NULL);
	ck_assert_uint_eq(r.n, 20);
	for (k = 0; k < 20; k++)
		ck_assert_uint_eq(r.ids[k], k + 1);
	test_recs_free(&r);

	/* Without the cut: reset rolls back to the last good sync. */
	s = open_faulty();
	ck_assert_int_eq(store_queue_open(s, "q", &q), STORE_OK);
	ck_assert_int_eq(store_recover(q, NULL, NULL), STORE_OK);
	for (k = 21; k <= 25; k++)
		append_ok(q, k, 100);
	ck_assert_int_eq(store_ack(q, 2), STORE_OK);
	faultfs.fsync_errno = EIO;
	faultfs.fsync_pass = 1;                 /* the segment's fsync passes */
	ck_assert_int_eq(store_sync(s), STORE_EIO);
	faultfs.fsync_errno = 0;
	ck_assert_int_eq(store_reset_failure(s), STORE_OK);
	ck_assert_int_eq(store_read(q, 21, &p, &n), STORE_NOTFOUND);
	ck_assert_int_eq(append_len(q, 26, 100, &id), STORE_OK);
	ck_assert_uint_eq(id, 26);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_close(s);
	r = test_reopen(dir, "q", NULL, NULL);
	ck_assert_uint_eq(r.n, 20);             /* 1 (its ack was cut), 3..20, 26 */
	ck_assert_uint_eq(r.ids[0], 1);
	ck_assert_uint_eq(r.ids[1], 3);
	ck_assert_uint_eq(r.ids[19], 26);
	test_recs_free(&r);
}
END_TEST

START_TEST(fault_reset_refused_in_flight)
{
	struct store       *s = open_faulty();
	struct store_queue *q;
	struct store_batch *b;
	uint64_t            id;

	store_set_buffer_size(s, 4096);
	ck_assert_int_eq(store_queue_open(s, "q", &q), STORE_OK);
	append_ok(q, 1, 10);
	ck_assert_int_eq(store_sync_prepare(s, &b), STORE_OK);
	faultfs.space = 0;
	/* Too big for a buffer: written at once, from the owner thread. */
	ck_assert_int_eq(append_len(q, 2, 5000, &id), STORE_ENOSPC);
	ck_assert(store_failed(s));
	ck_assert_int_eq(store_reset_failure(s), STORE_EINVAL);
	ck_assert_int_eq(store_sync_perform(b), STORE_ENOSPC);
	ck_assert_int_eq(store_sync_complete(s, b), STORE_ENOSPC);
	ck_assert_int_eq(store_sync_prepare(s, &b), STORE_FAILED);
	faultfs.space = -1;
	ck_assert_int_eq(store_reset_failure(s), STORE_OK);
	ck_assert_int_eq(append_len(q, 2, 5000, &id), STORE_OK);
	ck_assert_uint_eq(id, 2);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_close(s);
}
END_TEST

/*
 * The power-cut workload: appends, acks, delivery counts and syncs at
 * random (acks mostly in order, so segments empty and go), small segments
 * and smaller buffers (so buffers fill between syncs and ack logs get
 * rewritten), then a cut.  What every record's fate may be:
 *   synced, never acked               -> recovered, intact
 *   ack synced                        -> never recovered
 *   anything else                     -> recovered intact, or not at all
 */
struct model {
	uint64_t  n;          /* ids 1..n appended */
	size_t   *len;
	bool     *synced;     /* a sync confirmed the record */
	bool     *acked;      /* store_ack called */
	bool     *ack_synced; /* a sync confirmed the ack */
	uint32_t *dc;         /* last delivery count set */
	uint32_t *dc_synced;  /* ... and confirmed */
	bool     *pending;    /* appended or acked since the last sync */
};

static void
model_grow(struct model *m, uint64_t n)
{
	m->len = realloc(m->len, (n + 1) * sizeof(*m->len));
	m->synced = realloc(m->synced, (n + 1) * sizeof(*m->synced));
	m->acked = realloc(m->acked, (n + 1) * sizeof(*m->acked));
	m->ack_synced = realloc(m->ack_synced, (n + 1) * sizeof(*m->ack_synced));
	m->dc = realloc(m->dc, (n + 1) * sizeof(*m->dc));
	m->dc_synced = realloc(m->dc_synced, (n + 1) * sizeof(*m->dc_synced));
	ck_assert(m->len && m->synced && m->acked && m->ack_synced && m->dc && m->dc_synced);
	m->len[n] = 0;
	m->synced[n] = m->acked[n] = m->ack_synced[n] = false;
	m->dc[n] = m->dc_synced[n] = 0;
}

static void
model_free(struct model *m)
{
	free(m->len);
	free(m->synced);
	free(m->acked);
	free(m->ack_synced);
	free(m->dc);
	free(m->dc_synced);
}

static void
power_cut_run(uint32_t seed, bool torn)
{
	struct store       *s;
	struct store_queue *q;
	struct model        m;
	struct test_recs    r;
	uint64_t            id, k, next, prev = 0, low = 1;
	int                 ops, i;
	size_t              j;

	faultfs_reset();
	memset(&m, 0, sizeof(m));
	model_grow(&m, 0);
	s = open_faulty();
	store_set_segment_size(s, 16384);
	store_set_buffer_size(s, 4096);
	store_set_compact_size(s, 2048);
	ck_assert_int_eq(store_queue_open(s, "q", &q), STORE_OK);
	ops = 300 + (int)(test_rand(&seed) % 900);
	for (i = 0; i < ops; i++) {
		uint32_t dice = test_rand(&seed) % 100;

		if (dice < 60) {
			size_t len = test_rand(&seed) % 700;

			ck_assert_int_eq(append_len(q, m.n + 1, len, &id), STORE_OK);
			ck_assert_uint_eq(id, m.n + 1);
			model_grow(&m, ++m.n);
			m.len[id] = len;
		} else if (dice < 90 && m.n > 0) {
			int rc;

			/* Mostly in order, as consumers do, so segments empty. */
			while (low <= m.n && m.acked[low])
				low++;
			if (dice < 80 && low <= m.n)
				id = low;
			else
				id = 1 + test_rand(&seed) % m.n;
			rc = store_ack(q, id);
			/* acked before: OK, or NOTFOUND once its segment is gone */
			ck_assert(rc == STORE_OK || (m.acked[id] && rc == STORE_NOTFOUND));
			m.acked[id] = true;
		} else if (dice < 96 && m.n > 0) {
			id = 1 + test_rand(&seed) % m.n;
			if (!m.acked[id]) {
				ck_assert_int_eq(store_set_delivery_count(q, id, m.dc[id] + 1),
				    STORE_OK);
				m.dc[id]++;
			}
		} else {
			ck_assert_int_eq(store_sync(s), STORE_OK);
			for (k = 1; k <= m.n; k++) {
				m.synced[k] = true;
				m.ack_synced[k] = m.acked[k];
				m.dc_synced[k] = m.dc[k];
			}
		}
	}

	faultfs_cut(torn, &seed);
	store_close(s);                  /* every write now fails */
	faultfs_reset();

	r = test_reopen(dir, "q", &faultfs_ops, &next);
	for (j = 0; j < r.n; j++) {
		id = r.ids[j];
		ck_assert_uint_gt(id, prev);
		prev = id;
		ck_assert_uint_le(id, m.n);
		ck_assert_msg(!m.ack_synced[id], "seed %u: id %llu acked durably came back",
		    seed, (unsigned long long)id);
		ck_assert_msg(rec_ok(&r, j, m.len[id]), "seed %u: id %llu damaged", seed,
		    (unsigned long long)id);
		ck_assert_uint_ge(r.dcs[j], m.dc_synced[id]);
		ck_assert_uint_le(r.dcs[j], m.dc[id]);
	}
	for (id = 1, j = 0; id <= m.n; id++) {
		while (j < r.n && r.ids[j] < id)
			j++;
		if (m.synced[id] && !m.acked[id])
			ck_assert_msg(j < r.n && r.ids[j] == id, "seed %u: synced id %llu lost",
			    seed, (unsigned long long)id);
	}
	ck_assert_uint_gt(next, prev);
	test_recs_free(&r);

	/* And the log takes appends again. */
	s = open_faulty();
	ck_assert_int_eq(store_queue_open(s, "q", &q), STORE_OK);
	ck_assert_int_eq(store_recover(q, NULL, NULL), STORE_OK);
	ck_assert_int_eq(append_len(q, 1, 10, &id), STORE_OK);
	ck_assert_uint_eq(id, next);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_close(s);
	model_free(&m);
}

/* TEST_STORAGE_SEEDS=n runs n workloads per power-cut test (default 12). */
static uint32_t
seeds(void)
{
	const char *e = getenv("TEST_STORAGE_SEEDS");

	return e != NULL && atoi(e) > 0 ? (uint32_t)atoi(e) : 12;
}

START_TEST(fault_power_cut_drop)
{
	uint32_t seed;

	for (seed = 1; seed <= seeds(); seed++) {
		power_cut_run(seed * 2654435761U, false);
		test_rmtree(dir);
		dir = test_tmpdir();
	}
}
END_TEST

START_TEST(fault_power_cut_torn)
{
	uint32_t seed;

	for (seed = 1; seed <= seeds(); seed++) {
		power_cut_run(seed * 40503U + 17, true);
		test_rmtree(dir);
		dir = test_tmpdir();
	}
}
END_TEST

/*
 * Faults at random through a random workload, each followed by a reset.
 * The rules make the outcome exact: a failure loses every record appended
 * since the last successful sync and nothing else; acks and delivery
 * counts are never lost.  At the end the log must hold exactly the records
 * the model says, with their counts.
 */
enum { REC_NONE, REC_PENDING, REC_DURABLE, REC_LOST };

static void
storm_run(uint32_t seed)
{
	struct store       *s;
	struct store_queue *q;
	struct test_recs    r;
	uint8_t            *state = NULL;
	bool               *acked = NULL;
	uint32_t           *dc = NULL;
	size_t             *len = NULL;
	uint64_t            n = 0, id, k, live = 0;
	int                 ops, i, rc, failures = 0;
	size_t              j;

	faultfs_reset();
	s = open_faulty();
	store_set_segment_size(s, 8192);
	store_set_buffer_size(s, 4096);
	store_set_compact_size(s, 1024);
	ck_assert_int_eq(store_queue_open(s, "q", &q), STORE_OK);
	ck_assert_int_eq(store_recover(q, NULL, NULL), STORE_OK);
	ops = 400 + (int)(test_rand(&seed) % 800);
	for (i = 0; i < ops; i++) {
		uint32_t dice = test_rand(&seed) % 100;

		rc = STORE_OK;
		if (dice < 55) {
			size_t l = test_rand(&seed) % 900;

			id = store_queue_next_id(q);
			rc = append_len(q, id, l, &id);
			if (rc == STORE_OK) {
				ck_assert_uint_ge(id, n + 1);
				state = realloc(state, id + 1);
				acked = realloc(acked, (id + 1) * sizeof(*acked));
				dc = realloc(dc, (id + 1) * sizeof(*dc));
				len = realloc(len, (id + 1) * sizeof(*len));
				for (k = n + 1; k <= id; k++) {
					state[k] = REC_NONE;
					acked[k] = false;
					dc[k] = 0;
				}
				n = id;
				state[id] = REC_PENDING;
				len[id] = l;
			}
		} else if (dice < 75 && n > 0) {
			id = 1 + test_rand(&seed) % n;
			k = (uint64_t)store_ack(q, id);
			if (state[id] == REC_NONE || state[id] == REC_LOST)
				ck_assert_int_eq((int)k, STORE_NOTFOUND);
			else if (!acked[id])
				ck_assert_int_eq((int)k, STORE_OK);
			acked[id] = acked[id] || (state[id] != REC_NONE && state[id] != REC_LOST);
		} else if (dice < 80 && n > 0) {
			id = 1 + test_rand(&seed) % n;
			if ((state[id] == REC_PENDING || state[id] == REC_DURABLE) && !acked[id]) {
				ck_assert_int_eq(store_set_delivery_count(q, id, dc[id] + 1),
				    STORE_OK);
				dc[id]++;
			}
		} else if (dice < 93) {
			rc = store_sync(s);
			if (rc == STORE_OK)
				for (k = 1; k <= n; k++)
					if (state[k] == REC_PENDING)
						state[k] = REC_DURABLE;
		} else if (dice < 97) {
			faultfs.space = (long long)(test_rand(&seed) % 3000);
		} else {
			faultfs.fsync_errno = test_rand(&seed) % 2 ? EIO : ENOSPC;
			faultfs.fsync_pass = (int)(test_rand(&seed) % 4);
		}
		if (rc == STORE_OK)
			continue;
		/* A failure: which, and then back to work. */
		ck_assert_msg(rc == STORE_EIO || rc == STORE_ENOSPC, "seed %u op %d: %s", seed,
		    i, store_strerror(rc));
		ck_assert(store_failed(s));
		ck_assert_int_eq(store_sync(s), STORE_FAILED);
		failures++;
		faultfs.space = -1;
		faultfs.fsync_errno = 0;
		ck_assert_int_eq(store_reset_failure(s), STORE_OK);
		for (k = 1; k <= n; k++)
			if (state[k] == REC_PENDING)
				state[k] = REC_LOST;
	}
	faultfs.space = -1;
	faultfs.fsync_errno = 0;
	rc = store_sync(s);
	if (rc != STORE_OK) {
		ck_assert_int_eq(store_reset_failure(s), STORE_OK);
		for (k = 1; k <= n; k++)
			if (state[k] == REC_PENDING)
				state[k] = REC_LOST;
		ck_assert_int_eq(store_sync(s), STORE_OK);
	}
	for (k = 1; k <= n; k++)
		if (state[k] == REC_PENDING)
			state[k] = REC_DURABLE;
	store_close(s);

	r = test_reopen(dir, "q", NULL, NULL);
	for (k = 1, j = 0; k <= n; k++) {
		if (state[k] != REC_DURABLE || acked[k])
			continue;
		live++;
		ck_assert_msg(j < r.n && r.ids[j] == k, "seed %u: id %llu missing", seed,
		    (unsigned long long)k);
		ck_assert(rec_ok(&r, j, len[k]));
		ck_assert_uint_eq(r.dcs[j], dc[k]);
		j++;
	}
	if (r.n != live && getenv("TEST_STORAGE_LOG") != NULL)
		for (j = 0; j < r.n; j++)
			if (state[r.ids[j]] != REC_DURABLE || acked[r.ids[j]])
				fprintf(stderr, "extra id %llu: state %d acked %d\n",
				    (unsigned long long)r.ids[j], state[r.ids[j]], acked[r.ids[j]]);
	ck_assert_msg(r.n == live, "seed %u: %zu recovered, %llu expected (%d failures)",
	    seed, r.n, (unsigned long long)live, failures);
	test_recs_free(&r);
	free(state);
	free(acked);
	free(dc);
	free(len);
}

START_TEST(fault_storm)
{
	uint32_t seed;

	for (seed = 1; seed <= seeds(); seed++) {
		storm_run(seed * 2246822519U + 3);
		test_rmtree(dir);
		dir = test_tmpdir();
	}
}
END_TEST

/* A failed metadata write fails the store and leaves the old version. */
START_TEST(fault_meta_enospc)
{
	struct store *s = open_faulty();
	void         *p;
	size_t        n;

	ck_assert_int_eq(store_meta_write(s, "{\"v\":1}", 7), STORE_OK);
	faultfs.space = 3;
	ck_assert_int_eq(store_meta_write(s, "{\"v\":2}", 7), STORE_ENOSPC);
	ck_assert(store_failed(s));
	ck_assert_int_eq(store_meta_read(s, &p, &n), STORE_OK);
	ck_assert_uint_eq(n, 7);
	ck_assert(memcmp(p, "{\"v\":1}", 7) == 0);
	free(p);
	faultfs.space = -1;
	ck_assert_int_eq(store_reset_failure(s), STORE_OK);
	ck_assert_int_eq(store_meta_write(s, "{\"v\":2}", 7), STORE_OK);
	ck_assert_int_eq(store_meta_read(s, &p, &n), STORE_OK);
	ck_assert(memcmp(p, "{\"v\":2}", 7) == 0);
	free(p);
	store_close(s);
}
END_TEST

/* A power cut at any point of a metadata write leaves a readable version. */
START_TEST(fault_meta_power_cut)
{
	uint32_t seed = 5;
	int      cut;

	for (cut = 0; cut < 12; cut++) {
		struct store *s;
		void         *p;
		size_t        n;

		s = open_faulty();
		ck_assert_int_eq(store_meta_write(s, "{\"v\":1}", 7), STORE_OK);
		store_close(s);
		faultfs_reset();
		s = open_faulty();
		/* let `cut` fsyncs through, then cut */
		faultfs.fsync_errno = EIO;
		faultfs.fsync_pass = cut;
		store_meta_write(s, "{\"version\":2}", 13);
		faultfs.fsync_errno = 0;
		faultfs_cut(cut % 2 == 1, &seed);
		store_close(s);
		faultfs_reset();
		s = open_faulty();
		ck_assert_msg(store_meta_read(s, &p, &n) == STORE_OK, "cut %d: %s", cut, lg.text);
		ck_assert((n == 7 && memcmp(p, "{\"v\":1}", 7) == 0) ||
		    (n == 13 && memcmp(p, "{\"version\":2}", 13) == 0));
		if (cut >= 4)
			ck_assert_uint_eq(n, 13);   /* all four fsyncs passed */
		free(p);
		store_close(s);
		faultfs_reset();
	}
}
END_TEST

Suite *
fault_suite(void)
{
	Suite *s = suite_create("fault");
	TCase *tc = tcase_create("fault");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, fault_short_writes);
	tcase_add_test(tc, fault_enospc_on_pwrite);
	tcase_add_test(tc, fault_enospc_on_full_buffer);
	tcase_add_test(tc, fault_eio_on_fsync);
	tcase_add_test(tc, fault_reset_refused_in_flight);
	tcase_add_test(tc, fault_power_cut_drop);
	tcase_add_test(tc, fault_power_cut_torn);
	tcase_add_test(tc, fault_storm);
	tcase_add_test(tc, fault_meta_enospc);
	tcase_add_test(tc, fault_meta_power_cut);
	suite_add_tcase(s, tc);
	return s;
}
