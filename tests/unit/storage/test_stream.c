/*
 * storage/stream.c: round trips across many segments, offsets across
 * reopen and retention, committed vs next, several readers, offset_at,
 * retention by size and age, recovery from torn and corrupt records,
 * power cuts and the failed state (faultfs), and memory that does not
 * grow per record.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/stream.h"
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
open_store(const struct store_ops *ops)
{
	struct store *s;

	ck_assert_int_eq(store_open(dir, ops, &s), STORE_OK);
	store_set_log(s, test_log_fn, &lg);
	return s;
}

static struct store_stream *
open_stream(struct store *s, uint64_t seg_bytes)
{
	struct store_stream *st;

	ck_assert_int_eq(store_stream_open(s, "st", &st), STORE_OK);
	store_stream_set_limits(st, seg_bytes, 0, 0);
	return st;
}

/* The stream's folder, malloc'd. */
static char *
sdir(void)
{
	char *p = malloc(strlen(dir) + 32);

	ck_assert_ptr_nonnull(p);
	sprintf(p, "%s/streams/st", dir);
	return p;
}

/* The n-th segment file (by name order), malloc'd. */
static char *
seg_path(int n)
{
	char *d = sdir(), *p;
	char  names[64][32];
	int   k = 0, i, j;
	FILE *f;
	char  cmd[4200];

	snprintf(cmd, sizeof(cmd), "ls '%s' | grep '\\.seg$' | sort", d);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	while (k < 64 && fgets(names[k], sizeof(names[k]), f) != NULL) {
		names[k][strcspn(names[k], "\n")] = '\0';
		k++;
	}
	pclose(f);
	ck_assert_int_lt(n, k);
	i = n < 0 ? k + n : n;
	p = malloc(strlen(d) + 40);
	ck_assert_ptr_nonnull(p);
	j = sprintf(p, "%s/%s", d, names[i]);
	(void)j;
	free(d);
	return p;
}

/* Record k: test_rec_len(k) bytes, timestamp 1000 + 10 * k. */
static uint64_t
append_k(struct store_stream *st, uint64_t k)
{
	uint8_t  buf[1024];
	size_t   len = test_rec_len(k);
	uint64_t off;

	test_rec_fill(k, buf, len);
	ck_assert_int_eq(store_stream_append(st, 1000 + 10 * (int64_t)k, buf, len, &off),
	    STORE_OK);
	return off;
}

/* Is rec record k? */
static bool
is_rec(uint64_t k, const void *rec, size_t len)
{
	uint8_t buf[1024];

	if (len != test_rec_len(k))
		return false;
	test_rec_fill(k, buf, len);
	return memcmp(buf, rec, len) == 0;
}

/* Read from offset to the committed end: every record must be the one its
 * offset names (offset k holds record k + shift); returns how many. */
static uint64_t
read_all(struct store_stream *st, uint64_t from, uint64_t shift)
{
	struct store_stream_reader *r;
	const void                 *rec;
	size_t                      len;
	uint64_t                    off, n = 0, want;
	int64_t                     ts;
	int                         rc;

	ck_assert_int_eq(store_stream_reader_open(st, from, &r), STORE_OK);
	want = store_stream_reader_offset(r);
	while ((rc = store_stream_reader_next(r, &rec, &len, &off, &ts)) == STORE_OK) {
		ck_assert_uint_eq(off, want);
		ck_assert_msg(is_rec(off + shift, rec, len), "offset %llu damaged",
		    (unsigned long long)off);
		ck_assert_int_eq(ts, 1000 + 10 * (int64_t)(off + shift));
		want++;
		n++;
	}
	ck_assert_int_eq(rc, STORE_NOTFOUND);
	ck_assert_uint_eq(want, store_stream_committed(st));
	store_stream_reader_close(r);
	return n;
}

START_TEST(stream_round_trip)
{
	struct store        *s = open_store(NULL);
	struct store_stream *st = open_stream(s, 4096);
	uint64_t             k;

	ck_assert_uint_eq(store_stream_next(st), 0);
	for (k = 0; k < 3000; k++)
		ck_assert_uint_eq(append_k(st, k), k);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	ck_assert_uint_eq(store_stream_committed(st), 3000);
	ck_assert_uint_gt(store_stream_segments(st), 100);
	ck_assert_uint_eq(read_all(st, 0, 0), 3000);
	ck_assert_uint_eq(read_all(st, 1234, 0), 3000 - 1234);
	ck_assert_uint_eq(read_all(st, 99999, 0), 0);
	store_stream_close(st);
	store_close(s);

	/* Reopened: the sealed segments come from their index files (no
	 * warning), and nothing changed. */
	s = open_store(NULL);
	st = open_stream(s, 4096);
	ck_assert_int_eq(lg.warnings, 0);
	ck_assert_uint_eq(store_stream_first(st), 0);
	ck_assert_uint_eq(store_stream_next(st), 3000);
	ck_assert_uint_eq(store_stream_committed(st), 3000);
	ck_assert_uint_eq(store_stream_count(st), 3000);
	ck_assert_uint_eq(read_all(st, 0, 0), 3000);
	ck_assert_uint_eq(read_all(st, 2999, 0), 1);
	/* Offsets go on where they stopped. */
	ck_assert_uint_eq(append_k(st, 3000), 3000);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	ck_assert_uint_eq(read_all(st, 2990, 0), 11);
	{
		char *d = sdir();

		ck_assert_uint_eq(store_stream_disk_size(st), test_du(d));
		free(d);
	}
	store_stream_close(st);
	store_close(s);
}
END_TEST

/* Large records (bigger than a reader's buffer) and empty ones. */
START_TEST(stream_big_records)
{
	struct store               *s = open_store(NULL);
	struct store_stream        *st = open_stream(s, 0);
	struct store_stream_reader *r;
	size_t                      sizes[] = { 0, 1, 300000, 0, 5 * 1024 * 1024, 17 };
	uint8_t                    *buf = malloc(5 * 1024 * 1024);
	const void                 *rec;
	size_t                      len, i;
	uint64_t                    off;

	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memset(buf, (int)i + 1, sizes[i]);
		ck_assert_int_eq(store_stream_append(st, 7, buf, sizes[i], &off), STORE_OK);
	}
	ck_assert_int_eq(store_sync(s), STORE_OK);
	ck_assert_int_eq(store_stream_reader_open(st, 0, &r), STORE_OK);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		ck_assert_int_eq(store_stream_reader_next(r, &rec, &len, &off, NULL), STORE_OK);
		ck_assert_uint_eq(off, i);
		ck_assert_uint_eq(len, sizes[i]);
		memset(buf, (int)i + 1, sizes[i]);
		ck_assert(len == 0 || memcmp(rec, buf, len) == 0);
	}
	ck_assert_int_eq(store_stream_reader_next(r, &rec, &len, &off, NULL), STORE_NOTFOUND);
	store_stream_reader_close(r);
	ck_assert_int_eq(store_stream_append(st, 0, NULL, 1, &off), STORE_EINVAL);
	store_stream_close(st);
	store_close(s);
	free(buf);
}
END_TEST

/* Readers see only what a sync made durable; the split commit too. */
START_TEST(stream_committed)
{
	struct store               *s = open_store(NULL);
	struct store_stream        *st = open_stream(s, 4096);
	struct store_stream_reader *r;
	struct store_batch         *b;
	const void                 *rec;
	size_t                      len;
	uint64_t                    off, k;

	ck_assert_int_eq(store_stream_reader_open(st, 0, &r), STORE_OK);
	ck_assert_int_eq(store_stream_reader_next(r, &rec, &len, &off, NULL), STORE_NOTFOUND);
	for (k = 0; k < 10; k++)
		append_k(st, k);
	ck_assert_uint_eq(store_stream_next(st), 10);
	ck_assert_uint_eq(store_stream_committed(st), 0);
	ck_assert(store_dirty(s));
	ck_assert_int_eq(store_stream_reader_next(r, &rec, &len, &off, NULL), STORE_NOTFOUND);

	ck_assert_int_eq(store_sync_prepare(s, &b), STORE_OK);
	for (k = 10; k < 20; k++)   /* belong to the next batch */
		append_k(st, k);
	ck_assert_int_eq(store_sync_perform(b), STORE_OK);
	ck_assert_uint_eq(store_stream_committed(st), 0);
	ck_assert_int_eq(store_sync_complete(s, b), STORE_OK);
	ck_assert_uint_eq(store_stream_committed(st), 10);
	for (k = 0; k < 10; k++) {
		ck_assert_int_eq(store_stream_reader_next(r, &rec, &len, &off, NULL), STORE_OK);
		ck_assert_uint_eq(off, k);
		ck_assert(is_rec(k, rec, len));
	}
	ck_assert_int_eq(store_stream_reader_next(r, &rec, &len, &off, NULL), STORE_NOTFOUND);
	ck_assert_uint_eq(store_stream_reader_offset(r), 10);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	ck_assert_uint_eq(store_stream_committed(st), 20);
	for (k = 10; k < 20; k++) {
		ck_assert_int_eq(store_stream_reader_next(r, &rec, &len, &off, NULL), STORE_OK);
		ck_assert_uint_eq(off, k);
	}
	ck_assert_int_eq(store_stream_reader_next(r, &rec, &len, &off, NULL), STORE_NOTFOUND);
	ck_assert(!store_dirty(s));
	store_stream_reader_close(r);
	store_stream_close(st);
	store_close(s);
}
END_TEST

/* Several readers at their own offsets, interleaved with appends. */
START_TEST(stream_many_readers)
{
	struct store               *s = open_store(NULL);
	struct store_stream        *st = open_stream(s, 8192);
	struct store_stream_reader *r[5];
	uint64_t                    at[5] = { 0, 1, 500, 1999, 2500 };
	uint64_t                    want[5];
	const void                 *rec;
	size_t                      len;
	uint64_t                    off, k;
	int                         i, rc;

	for (k = 0; k < 2000; k++)
		append_k(st, k);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(store_stream_reader_open(st, at[i], &r[i]), STORE_OK);
		want[i] = at[i] > 2000 ? 2000 : at[i];
		ck_assert_uint_eq(store_stream_reader_offset(r[i]), want[i]);
	}
	for (k = 2000; k < 4000; k++) {
		append_k(st, k);
		if (k % 97 == 0)
			ck_assert_int_eq(store_sync(s), STORE_OK);
		for (i = 0; i < 5; i++) {
			if ((k + (uint64_t)i) % (uint64_t)(i + 1) != 0)
				continue;
			rc = store_stream_reader_next(r[i], &rec, &len, &off, NULL);
			if (rc == STORE_NOTFOUND) {
				ck_assert_uint_eq(want[i], store_stream_committed(st));
				continue;
			}
			ck_assert_int_eq(rc, STORE_OK);
			ck_assert_uint_eq(off, want[i]);
			ck_assert(is_rec(off, rec, len));
			want[i]++;
		}
	}
	ck_assert_int_eq(store_sync(s), STORE_OK);
	for (i = 0; i < 5; i++) {
		while ((rc = store_stream_reader_next(r[i], &rec, &len, &off, NULL)) == STORE_OK) {
			ck_assert_uint_eq(off, want[i]);
			ck_assert(is_rec(off, rec, len));
			want[i]++;
		}
		ck_assert_int_eq(rc, STORE_NOTFOUND);
		ck_assert_uint_eq(want[i], 4000);
		store_stream_reader_close(r[i]);
	}
	store_stream_close(st);
	store_close(s);
}
END_TEST

/* offset_at: never past the first record at or after ts, and nothing
 * between it and that record is more than a block or segment older. */
START_TEST(stream_offset_at)
{
	struct store        *s = open_store(NULL);
	struct store_stream *st = open_stream(s, 0);
	uint8_t              rec[8] = { 0 };
	uint64_t             k, off, got;
	int64_t              ts;

	ck_assert_uint_eq(store_stream_offset_at(st, 5), 0);
	/* 20000 records at ts 100 * k: blocks of 4096 in one segment. */
	for (k = 0; k < 20000; k++)
		ck_assert_int_eq(store_stream_append(st, 100 * (int64_t)k, rec, sizeof(rec),
		    &off), STORE_OK);
	ck_assert_uint_eq(store_stream_segments(st), 1);
	ck_assert_uint_eq(store_stream_index_entries(st), 5);
	ck_assert_uint_eq(store_stream_offset_at(st, INT64_MIN), 0);
	ck_assert_uint_eq(store_stream_offset_at(st, 0), 0);
	ck_assert_uint_eq(store_stream_offset_at(st, 100 * 4095), 0);
	ck_assert_uint_eq(store_stream_offset_at(st, 100 * 4096), 4096);
	ck_assert_uint_eq(store_stream_offset_at(st, 100 * 4097), 4096);
	ck_assert_uint_eq(store_stream_offset_at(st, 100 * 19999), 16384);
	ck_assert_uint_eq(store_stream_offset_at(st, 100 * 19999 + 1), 20000);
	for (ts = 0; ts < 100 * 20000; ts += 7777) {
		got = store_stream_offset_at(st, ts);
		k = (uint64_t)(ts + 99) / 100;   /* first record with ts >= ts */
		ck_assert_uint_le(got, k);
		ck_assert_uint_gt(got + 4096, k);
	}
	store_stream_close(st);
	store_close(s);

	/* Same from the index files of sealed segments. */
	s = open_store(NULL);
	ck_assert_int_eq(store_stream_delete(s, "st"), STORE_OK);
	st = open_stream(s, 4096);
	for (k = 0; k < 1000; k++)
		append_k(st, k);   /* ts 1000 + 10 k */
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_stream_close(st);
	store_close(s);
	s = open_store(NULL);
	st = open_stream(s, 4096);
	for (ts = 900; ts <= 10990; ts += 333) {
		got = store_stream_offset_at(st, ts);
		k = ts <= 1000 ? 0 : (uint64_t)(ts - 1000 + 9) / 10;
		ck_assert_uint_le(got, k);
		ck_assert_uint_gt(got + 12, k);   /* a 4 KiB segment holds <= 11 */
	}
	ck_assert_uint_eq(store_stream_offset_at(st, 99999), 1000);
	store_stream_close(st);
	store_close(s);
}
END_TEST

START_TEST(stream_retention_size)
{
	struct store        *s = open_store(NULL);
	struct store_stream *st;
	char                *d = sdir();
	uint64_t             k, first, size0;
	int                  files0, gone;

	ck_assert_int_eq(store_stream_open(s, "st", &st), STORE_OK);
	store_stream_set_limits(st, 4096, 0, 0);
	for (k = 0; k < 2000; k++)
		append_k(st, k);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	size0 = store_stream_disk_size(st);
	files0 = test_count_files(d, ".seg");
	ck_assert_uint_eq(test_du(d), size0);
	ck_assert_uint_gt(size0, 40000);
	ck_assert_int_eq(files0, (int)store_stream_segments(st));

	store_stream_set_limits(st, 4096, 40000, 0);
	gone = store_stream_retain(st, 0);
	ck_assert_int_gt(gone, 0);
	ck_assert_uint_le(store_stream_disk_size(st), 40000);
	ck_assert_uint_gt(store_stream_disk_size(st), 40000 - 4096 - 1024);
	ck_assert_int_eq(test_count_files(d, ".seg"), files0 - gone);
	ck_assert_int_eq(test_count_files(d, ".idx"), files0 - gone - 1);
	ck_assert_uint_eq(test_du(d), store_stream_disk_size(st));
	first = store_stream_first(st);
	ck_assert_uint_gt(first, 0);
	ck_assert_uint_eq(store_stream_count(st), 2000 - first);
	ck_assert_uint_eq(read_all(st, 0, 0), 2000 - first);

	/* Appends keep it under the limit by themselves. */
	for (k = 2000; k < 6000; k++)
		append_k(st, k);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_stream_retain(st, 0);
	ck_assert_uint_le(store_stream_disk_size(st), 40000);
	ck_assert_uint_eq(read_all(st, 0, 0), 6000 - store_stream_first(st));
	first = store_stream_first(st);
	store_stream_close(st);
	store_close(s);

	s = open_store(NULL);
	st = open_stream(s, 4096);
	ck_assert_uint_eq(store_stream_first(st), first);
	ck_assert_uint_eq(store_stream_next(st), 6000);
	ck_assert_uint_eq(read_all(st, 0, 0), 6000 - first);
	store_stream_close(st);
	store_close(s);
	free(d);
}
END_TEST

/* Retention by age, down to nothing; offsets still go on. */
START_TEST(stream_retention_age)
{
	struct store        *s = open_store(NULL);
	struct store_stream *st = open_stream(s, 4096);
	char                *d = sdir();
	uint64_t             k, first;

	for (k = 0; k < 1000; k++)
		append_k(st, k);   /* ts 1000 .. 10990 */
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_stream_set_limits(st, 4096, 0, 1000);
	/* now 6000: records older than 5000 (k < 400) may go, by segment. */
	ck_assert_int_gt(store_stream_retain(st, 6000), 0);
	first = store_stream_first(st);
	ck_assert_uint_gt(first, 300);
	ck_assert_uint_le(first, 400);
	ck_assert_uint_eq(read_all(st, 0, 0), 1000 - first);
	ck_assert_int_eq(store_stream_retain(st, 6000), 0);

	/* Everything is old: all sealed segments go. */
	ck_assert_int_gt(store_stream_retain(st, 1000000), 0);
	ck_assert_uint_eq(store_stream_segments(st), 1);
	ck_assert_uint_le(store_stream_disk_size(st), 4096);
	ck_assert_int_eq(test_count_files(d, ".seg"), 1);
	store_stream_close(st);
	store_close(s);
	free(d);

	/* A segment full to the limit leaves an empty one, so everything
	 * can go and the next offset still survives a restart. */
	s = open_store(NULL);
	ck_assert_int_eq(store_stream_delete(s, "st"), STORE_OK);
	st = open_stream(s, 4096);
	store_stream_set_limits(st, 4096, 0, 1000);
	for (k = 0; k < 4; k++) {
		uint8_t  rec[984];   /* 4 fill a segment: 32 + 4 * (32 + 984) */
		uint64_t off;

		memset(rec, 1, sizeof(rec));
		ck_assert_int_eq(store_stream_append(st, 1, rec, sizeof(rec), &off), STORE_OK);
		ck_assert_uint_eq(off, k);
	}
	ck_assert_uint_eq(store_stream_segments(st), 2);
	ck_assert_int_eq(store_stream_retain(st, 1000000), 0);   /* not durable yet */
	ck_assert_int_eq(store_sync(s), STORE_OK);
	ck_assert_int_eq(store_stream_retain(st, 1000000), 1);
	ck_assert_uint_eq(store_stream_first(st), k);
	ck_assert_uint_eq(store_stream_next(st), k);
	ck_assert_uint_eq(read_all(st, 0, 0), 0);
	store_stream_close(st);
	store_close(s);

	s = open_store(NULL);
	st = open_stream(s, 4096);
	ck_assert_uint_eq(store_stream_count(st), 0);
	ck_assert_uint_eq(store_stream_next(st), k);
	ck_assert_uint_eq(append_k(st, k), k);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	ck_assert_uint_eq(read_all(st, 0, 0), 1);
	store_stream_close(st);
	store_close(s);
}
END_TEST

/* A reader inside a segment that retention deletes reads it to its end,
 * then goes on at the new first offset. */
START_TEST(stream_reader_in_deleted_segment)
{
	struct store               *s = open_store(NULL);
	struct store_stream        *st = open_stream(s, 4096);
	struct store_stream_reader *r;
	const void                 *rec;
	size_t                      len;
	uint64_t                    off, k, first;

	for (k = 0; k < 500; k++)
		append_k(st, k);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	ck_assert_int_eq(store_stream_reader_open(st, 0, &r), STORE_OK);
	ck_assert_int_eq(store_stream_reader_next(r, &rec, &len, &off, NULL), STORE_OK);
	ck_assert_uint_eq(off, 0);
	store_stream_set_limits(st, 4096, 20000, 0);
	ck_assert_int_gt(store_stream_retain(st, 0), 2);
	first = store_stream_first(st);
	/* The rest of segment 0 (it holds records 0..10), then first on. */
	for (k = 1; k <= 10; k++) {
		ck_assert_int_eq(store_stream_reader_next(r, &rec, &len, &off, NULL), STORE_OK);
		ck_assert_uint_eq(off, k);
		ck_assert(is_rec(off, rec, len));
	}
	k = first;
	while (store_stream_reader_next(r, &rec, &len, &off, NULL) == STORE_OK) {
		ck_assert_uint_eq(off, k);
		ck_assert(is_rec(off, rec, len));
		k++;
	}
	ck_assert_uint_eq(k, 500);
	store_stream_reader_close(r);
	store_stream_close(st);
	store_close(s);
}
END_TEST

START_TEST(stream_empty_reopen)
{
	struct store               *s = open_store(NULL);
	struct store_stream        *st = open_stream(s, 0);
	struct store_stream_reader *r;
	const void                 *rec;
	size_t                      len;
	uint64_t                    off;

	ck_assert_uint_eq(store_stream_count(st), 0);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_stream_close(st);
	store_close(s);
	s = open_store(NULL);
	st = open_stream(s, 0);
	ck_assert_uint_eq(store_stream_first(st), 0);
	ck_assert_uint_eq(store_stream_next(st), 0);
	ck_assert_uint_eq(store_stream_committed(st), 0);
	ck_assert_uint_eq(store_stream_disk_size(st), 0);
	ck_assert_int_eq(store_stream_reader_open(st, 42, &r), STORE_OK);
	ck_assert_uint_eq(store_stream_reader_offset(r), 0);
	ck_assert_int_eq(store_stream_reader_next(r, &rec, &len, &off, NULL), STORE_NOTFOUND);
	ck_assert_uint_eq(append_k(st, 0), 0);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	ck_assert_int_eq(store_stream_reader_next(r, &rec, &len, &off, NULL), STORE_OK);
	ck_assert(is_rec(0, rec, len));
	store_stream_reader_close(r);
	store_stream_close(st);
	store_close(s);
}
END_TEST

static void
list_fn(void *arg, const char *sid)
{
	char *seen = arg;

	strcat(seen, sid);
	strcat(seen, ";");
}

START_TEST(stream_open_list_delete)
{
	struct store        *s = open_store(NULL);
	struct store_stream *a, *b;
	char                 seen[256] = "";
	uint64_t             off;

	ck_assert_int_eq(store_stream_open(s, "../x", &a), STORE_EINVAL);
	ck_assert_int_eq(store_stream_open(s, ".hidden", &a), STORE_EINVAL);
	ck_assert_int_eq(store_stream_open(s, "a", &a), STORE_OK);
	ck_assert_int_eq(store_stream_open(s, "a", &b), STORE_EINVAL);
	ck_assert_int_eq(store_stream_open(s, "b", &b), STORE_OK);
	ck_assert_int_eq(store_stream_append(a, 1, "x", 1, &off), STORE_OK);
	ck_assert_int_eq(store_stream_list(s, list_fn, seen), STORE_OK);
	ck_assert(strcmp(seen, "a;b;") == 0 || strcmp(seen, "b;a;") == 0);
	ck_assert_int_eq(store_stream_delete(s, "a"), STORE_EINVAL);
	store_stream_close(a);   /* syncs what it buffered */
	store_stream_close(b);
	ck_assert_int_eq(store_stream_delete(s, "a"), STORE_OK);
	ck_assert_int_eq(store_stream_delete(s, "a"), STORE_NOTFOUND);
	seen[0] = '\0';
	ck_assert_int_eq(store_stream_list(s, list_fn, seen), STORE_OK);
	ck_assert_str_eq(seen, "b;");
	ck_assert_int_eq(store_stream_open(s, "a", &a), STORE_OK);
	ck_assert_uint_eq(store_stream_next(a), 0);
	store_stream_close(a);
	store_close(s);
}
END_TEST

/* Closed while a batch is in flight: finished when the batch completes. */
START_TEST(stream_close_in_flight)
{
	struct store        *s = open_store(NULL);
	struct store_stream *st = open_stream(s, 4096);
	struct store_batch  *b;
	uint64_t             k;

	for (k = 0; k < 100; k++)
		append_k(st, k);
	ck_assert_int_eq(store_sync_prepare(s, &b), STORE_OK);
	append_k(st, 100);
	store_stream_close(st);
	ck_assert_int_eq(store_stream_delete(s, "st"), STORE_EINVAL);
	ck_assert_int_eq(store_sync_perform(b), STORE_OK);
	ck_assert_int_eq(store_sync_complete(s, b), STORE_OK);
	store_close(s);
	s = open_store(NULL);
	st = open_stream(s, 4096);
	ck_assert_uint_eq(store_stream_next(st), 101);
	ck_assert_uint_eq(read_all(st, 0, 0), 101);
	store_stream_close(st);
	store_close(s);
}
END_TEST

/* Cut the last segment inside a record: recovery keeps what is before. */
START_TEST(stream_torn_tail)
{
	struct store        *s = open_store(NULL);
	struct store_stream *st = open_stream(s, 0);
	char                *p;
	uint64_t             k;
	off_t                size;

	for (k = 0; k < 100; k++)
		append_k(st, k);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_stream_close(st);
	store_close(s);
	p = seg_path(-1);
	size = test_file_size(p);
	/* record 99 is test_rec_len(99) bytes + 32; cut it in half. */
	ck_assert_int_eq(truncate(p, size - (off_t)(test_rec_len(99) + 32) / 2), 0);

	s = open_store(NULL);
	st = open_stream(s, 0);
	ck_assert_int_eq(lg.warnings, 1);
	ck_assert_ptr_nonnull(strstr(lg.text, p));
	ck_assert_ptr_nonnull(strstr(lg.text, "keeping 99 record(s)"));
	ck_assert_uint_eq(store_stream_next(st), 99);
	ck_assert_uint_eq(read_all(st, 0, 0), 99);
	ck_assert_uint_eq((uint64_t)test_file_size(p), store_stream_disk_size(st));
	ck_assert_uint_eq(append_k(st, 99), 99);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	ck_assert_uint_eq(read_all(st, 0, 0), 100);
	store_stream_close(st);
	store_close(s);
	free(p);
}
END_TEST

static void
flip_byte(const char *path, off_t at)
{
	int     fd = open(path, O_RDWR);
	uint8_t c;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &c, 1, at), 1);
	c ^= 0x40;
	ck_assert_int_eq(pwrite(fd, &c, 1, at), 1);
	close(fd);
}

/* A bad checksum in the last segment cuts it there; in a sealed segment
 * (known from its index) the reader reports it. */
START_TEST(stream_corrupt_record)
{
	struct store               *s = open_store(NULL);
	struct store_stream        *st = open_stream(s, 4096);
	struct store_stream_reader *r;
	const void                 *rec;
	size_t                      len;
	uint64_t                    off, k, next;
	char                       *last, *first;
	int                         rc;

	for (k = 0; k < 300; k++)
		append_k(st, k);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	next = store_stream_next(st);
	store_stream_close(st);
	store_close(s);
	last = seg_path(-1);
	first = seg_path(0);
	/* The last byte of the last record (payload or timestamp) ... */
	ck_assert_int_gt(test_file_size(last), 64);
	flip_byte(last, test_file_size(last) - 1);
	/* ... and the timestamp of the first record of the first segment. */
	flip_byte(first, 32 + 26);

	s = open_store(NULL);
	st = open_stream(s, 4096);
	ck_assert_ptr_nonnull(strstr(lg.text, "checksum mismatch"));
	ck_assert_uint_eq(store_stream_next(st), next - 1);
	ck_assert_int_eq(store_stream_reader_open(st, 0, &r), STORE_OK);
	rc = store_stream_reader_next(r, &rec, &len, &off, NULL);
	ck_assert_int_eq(rc, STORE_CORRUPT);
	ck_assert_uint_eq(store_stream_reader_offset(r), 0);
	ck_assert_int_eq(store_stream_reader_next(r, &rec, &len, &off, NULL), STORE_CORRUPT);
	store_stream_reader_close(r);
	ck_assert_uint_eq(read_all(st, 1, 0), next - 2);
	store_stream_close(st);
	store_close(s);
	free(last);
	free(first);
}
END_TEST

/* A lost or damaged index file: the segment is read in full instead. */
START_TEST(stream_bad_index)
{
	struct store        *s = open_store(NULL);
	struct store_stream *st = open_stream(s, 4096);
	char                *seg, *idx;
	uint64_t             k;

	for (k = 0; k < 300; k++)
		append_k(st, k);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_stream_close(st);
	store_close(s);
	seg = seg_path(1);
	idx = strdup(seg);
	strcpy(idx + strlen(idx) - 3, "idx");
	flip_byte(idx, 20);
	free(seg);
	seg = seg_path(2);
	strcpy(seg + strlen(seg) - 3, "idx");
	ck_assert_int_eq(unlink(seg), 0);

	s = open_store(NULL);
	st = open_stream(s, 4096);
	ck_assert_uint_eq(store_stream_next(st), 300);
	ck_assert_uint_eq(read_all(st, 0, 0), 300);
	ck_assert_int_eq(store_sync(s), STORE_OK);   /* rewrites the two */
	ck_assert_int_eq(access(seg, F_OK), 0);
	store_stream_close(st);
	store_close(s);
	free(seg);
	free(idx);
}
END_TEST

/* A segment file whose header names another offset does not belong: it
 * is set aside, and the stream goes on from its real last segment. */
START_TEST(stream_foreign_segment)
{
	struct store        *s = open_store(NULL);
	struct store_stream *st = open_stream(s, 4096);
	char                *first, *d = sdir(), cmd[8400];
	uint64_t             k;

	for (k = 0; k < 100; k++)
		append_k(st, k);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_stream_close(st);
	store_close(s);
	first = seg_path(0);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s/00000000000fffff.seg'", first, d);
	ck_assert_int_eq(system(cmd), 0);

	s = open_store(NULL);
	st = open_stream(s, 4096);
	ck_assert_ptr_nonnull(strstr(lg.text, "does not fit the stream"));
	ck_assert_int_eq(test_count_files(d, ".corrupt"), 1);
	ck_assert_uint_eq(store_stream_next(st), 100);
	ck_assert_uint_eq(append_k(st, 100), 100);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	ck_assert_uint_eq(read_all(st, 0, 0), 101);
	store_stream_close(st);
	store_close(s);
	s = open_store(NULL);
	st = open_stream(s, 4096);
	ck_assert_uint_eq(store_stream_next(st), 101);
	ck_assert_uint_eq(read_all(st, 0, 0), 101);
	store_stream_close(st);
	store_close(s);
	free(first);
	free(d);
}
END_TEST

/* A million small records: the index is per block, not per record. */
START_TEST(stream_memory_per_record)
{
	struct store        *s = open_store(NULL);
	struct store_stream *st = open_stream(s, 1 << 20);
	uint8_t              rec[16];
	uint64_t             k, off;
	size_t               segs, ents;

	memset(rec, 0x5a, sizeof(rec));
	for (k = 0; k < 1000000; k++) {
		ck_assert_int_eq(store_stream_append(st, (int64_t)k, rec, sizeof(rec), &off),
		    STORE_OK);
		if (k % 100000 == 0)
			ck_assert_int_eq(store_sync(s), STORE_OK);
	}
	ck_assert_int_eq(store_sync(s), STORE_OK);
	segs = store_stream_segments(st);
	ents = store_stream_index_entries(st);
	ck_assert_uint_ge(segs, 45);   /* 48 bytes a record, 1 MiB segments */
	ck_assert_uint_le(ents, segs + 1000000 / STORE_STREAM_BLOCK_RECS + 1);
	store_stream_close(st);
	store_close(s);

	s = open_store(NULL);
	st = open_stream(s, 1 << 20);
	ck_assert_uint_eq(store_stream_segments(st), segs);
	ck_assert_uint_eq(store_stream_index_entries(st), ents);
	ck_assert_uint_eq(store_stream_next(st), 1000000);
	ck_assert_uint_eq(store_stream_offset_at(st, 999999) + 4096 > 999999, 1);
	/* A seek into the middle: a sparse-index block, then a short scan. */
	{
		struct store_stream_reader *r;
		const void                 *p;
		size_t                      len;
		int64_t                     ts;

		ck_assert_int_eq(store_stream_reader_open(st, 777777, &r), STORE_OK);
		ck_assert_int_eq(store_stream_reader_next(r, &p, &len, &off, &ts), STORE_OK);
		ck_assert_uint_eq(off, 777777);
		ck_assert_int_eq(ts, 777777);
		ck_assert_uint_eq(len, sizeof(rec));
		ck_assert_int_eq(memcmp(p, rec, len), 0);
		store_stream_reader_close(r);
	}
	store_stream_close(st);
	store_close(s);
}
END_TEST

/*
 * Power cuts: random appends and syncs through faultfs, small segments and
 * buffers, retention now and then, a cut (dropping or tearing what no
 * fsync covered), and a reopen: every synced record that retention did
 * not take comes back intact, offsets are contiguous, and appends go on.
 */
static void
power_cut_run(uint32_t seed, bool torn)
{
	struct store        *s;
	struct store_stream *st;
	uint64_t             k, off, synced = 0, n = 0, first_kept;
	int                  ops, i;

	faultfs_reset();
	s = open_store(&faultfs_ops);
	store_set_buffer_size(s, 4096);
	ck_assert_int_eq(store_stream_open(s, "st", &st), STORE_OK);
	store_stream_set_limits(st, 8192, 60000, 0);
	ops = 200 + (int)(test_rand(&seed) % 800);
	for (i = 0; i < ops; i++) {
		uint32_t dice = test_rand(&seed) % 100;

		if (dice < 85) {
			k = n;
			ck_assert_uint_eq(append_k(st, k), n);
			n++;
		} else if (dice < 97) {
			ck_assert_int_eq(store_sync(s), STORE_OK);
			synced = n;
		} else {
			store_stream_retain(st, 0);
		}
	}
	first_kept = store_stream_first(st);
	faultfs_cut(torn, &seed);
	store_stream_close(st);   /* every write now fails */
	store_close(s);
	faultfs_reset();

	s = open_store(&faultfs_ops);
	st = open_stream(s, 8192);
	ck_assert_msg(store_stream_next(st) >= synced, "seed %u: synced records lost", seed);
	ck_assert_uint_le(store_stream_next(st), n);
	/* retention unlinks need a folder fsync to last: first may go back */
	ck_assert_uint_le(store_stream_first(st), first_kept);
	ck_assert_uint_eq(read_all(st, 0, 0), store_stream_count(st));
	off = store_stream_next(st);
	ck_assert_uint_eq(append_k(st, off), off);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	ck_assert_uint_eq(read_all(st, off, 0), 1);
	store_stream_close(st);
	store_close(s);
}

static uint32_t
seeds(void)
{
	const char *e = getenv("TEST_STORAGE_SEEDS");

	return e != NULL && atoi(e) > 0 ? (uint32_t)atoi(e) : 12;
}

START_TEST(stream_power_cut_drop)
{
	uint32_t seed;

	for (seed = 1; seed <= seeds(); seed++) {
		power_cut_run(seed * 2654435761U, false);
		test_rmtree(dir);
		dir = test_tmpdir();
	}
}
END_TEST

START_TEST(stream_power_cut_torn)
{
	uint32_t seed;

	for (seed = 1; seed <= seeds(); seed++) {
		power_cut_run(seed * 40503U + 17, true);
		test_rmtree(dir);
		dir = test_tmpdir();
	}
}
END_TEST

/* A failed fsync fails the store; the reset rolls the stream back to what
 * was committed and appends resume at that offset. */
START_TEST(stream_failed_sync)
{
	struct store        *s = open_store(&faultfs_ops);
	struct store_stream *st = open_stream(s, 4096);
	uint64_t             k, off;

	store_set_buffer_size(s, 4096);
	for (k = 0; k < 100; k++)
		append_k(st, k);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	for (k = 100; k < 250; k++)
		append_k(st, k);
	faultfs.fsync_errno = EIO;
	ck_assert_int_eq(store_sync(s), STORE_EIO);
	ck_assert(store_failed(s));
	ck_assert_uint_eq(store_stream_committed(st), 100);
	ck_assert_int_eq(store_stream_append(st, 0, "x", 1, &off), STORE_FAILED);
	ck_assert_uint_eq(read_all(st, 0, 0), 100);
	faultfs.fsync_errno = 0;
	ck_assert_int_eq(store_reset_failure(s), STORE_OK);
	ck_assert_uint_eq(store_stream_next(st), 100);
	ck_assert_uint_eq(read_all(st, 0, 0), 100);
	for (k = 100; k < 200; k++)
		ck_assert_uint_eq(append_k(st, k), k);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	ck_assert_uint_eq(read_all(st, 0, 0), 200);
	store_stream_close(st);
	store_close(s);

	s = open_store(NULL);
	st = open_stream(s, 4096);
	ck_assert_uint_eq(store_stream_next(st), 200);
	ck_assert_uint_eq(read_all(st, 0, 0), 200);
	store_stream_close(st);
	store_close(s);
}
END_TEST

/* The disk fills up in the middle of appends: the store fails, readers
 * still read what was committed, and once there is room again the reset
 * rolls back to it and appends go on from there. */
START_TEST(stream_disk_full)
{
	struct store        *s = open_store(&faultfs_ops);
	struct store_stream *st = open_stream(s, 8192);
	uint64_t             k, committed;
	int                  rc = STORE_OK;

	store_set_buffer_size(s, 4096);
	for (k = 0; k < 200; k++)
		append_k(st, k);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	faultfs.space = 30000;
	for (k = 200; k < 100000 && rc == STORE_OK; k++) {
		uint8_t  buf[1024];
		uint64_t off;

		test_rec_fill(k, buf, test_rec_len(k));
		rc = store_stream_append(st, 1000 + 10 * (int64_t)k, buf, test_rec_len(k), &off);
		if (rc == STORE_OK && k % 50 == 0)
			rc = store_sync(s);
	}
	ck_assert_int_eq(rc, STORE_ENOSPC);
	ck_assert(store_failed(s));
	committed = store_stream_committed(st);
	ck_assert_uint_ge(committed, 200);
	ck_assert_uint_eq(read_all(st, 0, 0), committed);
	ck_assert_int_eq(store_reset_failure(s), STORE_ENOSPC);   /* still full */
	faultfs.space = -1;
	ck_assert_int_eq(store_reset_failure(s), STORE_OK);
	ck_assert_uint_eq(store_stream_next(st), committed);
	for (k = committed; k < committed + 300; k++)
		ck_assert_uint_eq(append_k(st, k), k);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	ck_assert_uint_eq(read_all(st, 0, 0), committed + 300);
	store_stream_close(st);
	store_close(s);

	s = open_store(NULL);
	st = open_stream(s, 8192);
	ck_assert_uint_eq(store_stream_next(st), committed + 300);
	ck_assert_uint_eq(read_all(st, 0, 0), committed + 300);
	store_stream_close(st);
	store_close(s);
}
END_TEST

Suite *
stream_suite(void)
{
	Suite *su = suite_create("stream");
	TCase *tc = tcase_create("stream");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, stream_round_trip);
	tcase_add_test(tc, stream_big_records);
	tcase_add_test(tc, stream_committed);
	tcase_add_test(tc, stream_many_readers);
	tcase_add_test(tc, stream_offset_at);
	tcase_add_test(tc, stream_retention_size);
	tcase_add_test(tc, stream_retention_age);
	tcase_add_test(tc, stream_reader_in_deleted_segment);
	tcase_add_test(tc, stream_empty_reopen);
	tcase_add_test(tc, stream_open_list_delete);
	tcase_add_test(tc, stream_close_in_flight);
	tcase_add_test(tc, stream_torn_tail);
	tcase_add_test(tc, stream_corrupt_record);
	tcase_add_test(tc, stream_bad_index);
	tcase_add_test(tc, stream_foreign_segment);
	tcase_add_test(tc, stream_memory_per_record);
	tcase_add_test(tc, stream_power_cut_drop);
	tcase_add_test(tc, stream_power_cut_torn);
	tcase_add_test(tc, stream_failed_sync);
	tcase_add_test(tc, stream_disk_full);
	suite_add_tcase(su, tc);
	return su;
}
