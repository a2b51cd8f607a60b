/*
 * storage/queue.c and store.c on a real file system: round trips, acks,
 * delivery counts, msg_ids, segment roll and deletion, ack log rewrites,
 * recovery from torn and damaged files, reads, the split group commit,
 * listing and deleting queues, the error strings, and a writer killed
 * with SIGKILL again and again.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/storage/test_storage.h"

static char           *dir;
static struct test_log lg;

static void
setup(void)
{
	dir = test_tmpdir();
	memset(&lg, 0, sizeof(lg));
}

static void
teardown(void)
{
	test_rmtree(dir);
	dir = NULL;
}

static struct store *
open_store(void)
{
	struct store *s;

	ck_assert_int_eq(store_open(dir, NULL, &s), STORE_OK);
	store_set_log(s, test_log_fn, &lg);
	return s;
}

static struct store_queue *
open_queue(struct store *s, const char *qid)
{
	struct store_queue *q;

	ck_assert_int_eq(store_queue_open(s, qid, &q), STORE_OK);
	return q;
}

/* Append the record of key k (of length len, or test_rec_len(k) if -1). */
static uint64_t
append_k(struct store_queue *q, uint64_t k, long len)
{
	size_t   n = len < 0 ? test_rec_len(k) : (size_t)len;
	uint8_t *buf = malloc(n + 1);
	uint64_t id = 0;

	ck_assert_ptr_nonnull(buf);
	test_rec_fill(k, buf, n);
	ck_assert_int_eq(store_append(q, buf, n, &id), STORE_OK);
	free(buf);
	return id;
}

static void
check_rec(const struct test_recs *r, size_t i, uint64_t id, long len)
{
	size_t   n = len < 0 ? test_rec_len(id) : (size_t)len;
	uint8_t *want = malloc(n + 1);

	ck_assert_ptr_nonnull(want);
	test_rec_fill(id, want, n);
	ck_assert_uint_eq(r->ids[i], id);
	ck_assert_uint_eq(r->lens[i], n);
	ck_assert(n == 0 || memcmp(r->data[i], want, n) == 0);
	free(want);
}

static void
check_read(struct store_queue *q, uint64_t id, long len)
{
	size_t   n = len < 0 ? test_rec_len(id) : (size_t)len, got_len = 0;
	uint8_t *want = malloc(n + 1);
	void    *got = NULL;

	ck_assert_ptr_nonnull(want);
	test_rec_fill(id, want, n);
	ck_assert_int_eq(store_read(q, id, &got, &got_len), STORE_OK);
	ck_assert_uint_eq(got_len, n);
	ck_assert(n == 0 || memcmp(got, want, n) == 0);
	free(got);
	free(want);
}

START_TEST(store_round_trip)
{
	struct store       *s = open_store();
	struct store_queue *q = open_queue(s, "0123456789abcdef0123456789abcdef");
	struct test_recs    r;
	uint64_t            k, next;

	ck_assert_int_eq(store_recover(q, test_recs_fn, &r), STORE_OK);
	for (k = 1; k <= 1000; k++)
		ck_assert_uint_eq(append_k(q, k, -1), k);
	ck_assert(store_dirty(s));
	ck_assert_int_eq(store_sync(s), STORE_OK);
	ck_assert(!store_dirty(s));
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_close(s);

	r = test_reopen(dir, "0123456789abcdef0123456789abcdef", NULL, &next);
	ck_assert_uint_eq(r.n, 1000);
	for (k = 0; k < 1000; k++) {
		check_rec(&r, (size_t)k, k + 1, -1);
		ck_assert_uint_eq(r.dcs[k], 0);
	}
	ck_assert_uint_eq(next, 1001);
	test_recs_free(&r);
	ck_assert_int_eq(lg.warnings, 0);
}
END_TEST

START_TEST(store_acks_hide_records)
{
	struct store       *s = open_store();
	struct store_queue *q = open_queue(s, "q");
	struct test_recs    r;
	uint64_t            k;

	for (k = 1; k <= 100; k++)
		append_k(q, k, -1);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	for (k = 1; k <= 100; k += 2)
		ck_assert_int_eq(store_ack(q, k), STORE_OK);
	ck_assert_int_eq(store_ack(q, 1), STORE_OK);   /* twice: harmless */
	ck_assert_int_eq(store_ack(q, 0), STORE_NOTFOUND);
	ck_assert_int_eq(store_ack(q, 101), STORE_NOTFOUND);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_close(s);

	r = test_reopen(dir, "q", NULL, NULL);
	ck_assert_uint_eq(r.n, 50);
	for (k = 0; k < 50; k++)
		check_rec(&r, (size_t)k, 2 * k + 2, -1);
	test_recs_free(&r);
}
END_TEST

START_TEST(store_delivery_counts_survive)
{
	struct store       *s = open_store();
	struct store_queue *q = open_queue(s, "q");
	struct test_recs    r;
	uint64_t            k;

	for (k = 1; k <= 10; k++)
		append_k(q, k, -1);
	ck_assert_int_eq(store_set_delivery_count(q, 3, 2), STORE_OK);
	ck_assert_int_eq(store_set_delivery_count(q, 5, 1), STORE_OK);
	ck_assert_int_eq(store_set_delivery_count(q, 5, 4), STORE_OK);
	ck_assert_int_eq(store_set_delivery_count(q, 7, 3), STORE_OK);
	ck_assert_int_eq(store_ack(q, 7), STORE_OK);
	ck_assert_int_eq(store_set_delivery_count(q, 7, 9), STORE_NOTFOUND);
	ck_assert_int_eq(store_set_delivery_count(q, 11, 1), STORE_NOTFOUND);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_close(s);

	r = test_reopen(dir, "q", NULL, NULL);
	ck_assert_uint_eq(r.n, 9);
	for (k = 0; k < r.n; k++) {
		uint32_t want = r.ids[k] == 3 ? 2 : r.ids[k] == 5 ? 4 : 0;

		ck_assert_uint_ne(r.ids[k], 7);
		ck_assert_uint_eq(r.dcs[k], want);
	}
	test_recs_free(&r);

	/* And after the ack log is rewritten (every sync rewrites it now). */
	s = open_store();
	store_set_compact_size(s, 0);
	q = open_queue(s, "q");
	ck_assert_int_eq(store_recover(q, NULL, NULL), STORE_OK);
	ck_assert_int_eq(store_set_delivery_count(q, 8, 6), STORE_OK);
	ck_assert_int_eq(store_ack(q, 1), STORE_OK);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	ck_assert_int_eq(store_set_delivery_count(q, 5, 0), STORE_OK);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_close(s);
	r = test_reopen(dir, "q", NULL, NULL);
	ck_assert_uint_eq(r.n, 8);
	for (k = 0; k < r.n; k++) {
		uint32_t want = r.ids[k] == 3 ? 2 : r.ids[k] == 8 ? 6 : 0;

		ck_assert_uint_ne(r.ids[k], 1);
		ck_assert_uint_eq(r.dcs[k], want);
	}
	test_recs_free(&r);
}
END_TEST

START_TEST(store_ids_increase_across_reopen)
{
	struct store       *s = open_store();
	struct store_queue *q = open_queue(s, "q");
	struct test_recs    r;
	char               *qdir = test_qfile(dir, "q", "");
	uint64_t            k, next;

	for (k = 1; k <= 5; k++)
		ck_assert_uint_eq(append_k(q, k, -1), k);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_close(s);

	s = open_store();
	q = open_queue(s, "q");
	ck_assert_uint_eq(store_queue_next_id(q), 1);   /* not recovered yet */
	ck_assert_uint_eq(append_k(q, 6, -1), 6);       /* recovers silently */
	ck_assert_int_eq(store_recover(q, NULL, NULL), STORE_EINVAL);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_close(s);

	/* Everything acked and deleted, the ack log rewritten: still 7. */
	s = open_store();
	store_set_segment_size(s, 4096);
	store_set_compact_size(s, 0);
	q = open_queue(s, "q");
	ck_assert_int_eq(store_recover(q, NULL, NULL), STORE_OK);
	for (k = 7; k <= 200; k++)
		ck_assert_uint_eq(append_k(q, k, 100), k);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	for (k = 1; k <= 200; k++)
		ck_assert_int_eq(store_ack(q, k), STORE_OK);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	ck_assert_int_eq(test_count_files(qdir, ".seg"), 0);
	{
		char *acks = test_qfile(dir, "q", "acks.log");

		ck_assert_int_lt(test_file_size(acks), 200);
		free(acks);
	}
	store_close(s);

	r = test_reopen(dir, "q", NULL, &next);
	ck_assert_uint_eq(r.n, 0);
	ck_assert_uint_eq(next, 201);
	test_recs_free(&r);
	s = open_store();
	q = open_queue(s, "q");
	ck_assert_uint_eq(append_k(q, 201, -1), 201);
	store_close(s);
	free(qdir);
}
END_TEST

START_TEST(store_segment_roll_and_delete)
{
	struct store       *s = open_store();
	struct store_queue *q;
	char               *qdir = test_qfile(dir, "q", ""), *first;
	uint64_t            k, size0, size1, du0;
	int                 nseg0, nseg1;

	store_set_segment_size(s, 4096);
	q = open_queue(s, "q");
	ck_assert_int_eq(store_recover(q, NULL, NULL), STORE_OK);
	for (k = 1; k <= 300; k++)
		append_k(q, k, 200);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	nseg0 = test_count_files(qdir, ".seg");
	ck_assert_int_ge(nseg0, 15);
	size0 = store_queue_disk_size(q);
	du0 = test_du(qdir);
	ck_assert_uint_eq(size0, du0);
	for (k = 1; k <= 150; k++)
		ck_assert_int_eq(store_ack(q, k), STORE_OK);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	nseg1 = test_count_files(qdir, ".seg");
	ck_assert_int_lt(nseg1, nseg0 - 6);
	size1 = store_queue_disk_size(q);
	ck_assert_uint_lt(size1, size0 - 6 * 4096 + 4096);
	ck_assert_uint_eq(size1, test_du(qdir));
	/* The first segment left starts at or before 151, not at 1. */
	first = test_segment(dir, "q", 0);
	ck_assert_ptr_nonnull(first);
	ck_assert(strstr(first, "0000000000000001.seg") == NULL);
	free(first);
	for (k = 1; k <= 100; k++)
		check_read(q, 150 + k, 200);

	for (k = 151; k <= 300; k++)
		ck_assert_int_eq(store_ack(q, k), STORE_OK);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	ck_assert_int_eq(test_count_files(qdir, ".seg"), 0);
	ck_assert_uint_lt(test_du(qdir), 8192);
	store_close(s);
	free(qdir);
}
END_TEST

/* Offset of record id in a fresh queue's first segment with lengths len(k). */
static uint64_t
offset_of(uint64_t id, long len)
{
	uint64_t off = 32, k;

	for (k = 1; k < id; k++)
		off += 24 + (len < 0 ? test_rec_len(k) : (uint64_t)len);
	return off;
}

START_TEST(store_torn_tail)
{
	struct store       *s = open_store();
	struct store_queue *q = open_queue(s, "q");
	struct test_recs    r;
	char               *seg, want[64];
	uint64_t            k, next, off50 = offset_of(50, -1);

	for (k = 1; k <= 50; k++)
		append_k(q, k, -1);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_close(s);
	seg = test_segment(dir, "q", 0);
	ck_assert_int_eq(test_file_size(seg), (off_t)(off50 + 24 + test_rec_len(50)));
	ck_assert_int_eq(truncate(seg, (off_t)(off50 + 24 + test_rec_len(50) / 2)), 0);

	memset(&r, 0, sizeof(r));
	s = open_store();
	q = open_queue(s, "q");
	ck_assert_int_eq(store_recover(q, test_recs_fn, &r), STORE_OK);
	ck_assert_uint_eq(r.n, 49);
	for (k = 0; k < 49; k++)
		check_rec(&r, (size_t)k, k + 1, -1);
	test_recs_free(&r);
	ck_assert_ptr_nonnull(strstr(lg.text, seg));
	snprintf(want, sizeof(want), "offset %llu", (unsigned long long)off50);
	ck_assert_ptr_nonnull(strstr(lg.text, want));
	ck_assert_int_eq(test_file_size(seg), (off_t)off50);

	/* Appending after recovery works, in the same segment. */
	ck_assert_uint_eq(store_queue_next_id(q), 50);
	ck_assert_uint_eq(append_k(q, 50, -1), 50);
	ck_assert_uint_eq(append_k(q, 51, -1), 51);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_close(s);
	{
		char *qdir = test_qfile(dir, "q", "");

		ck_assert_int_eq(test_count_files(qdir, ".seg"), 1);
		free(qdir);
	}

	r = test_reopen(dir, "q", NULL, &next);
	ck_assert_uint_eq(r.n, 51);
	for (k = 0; k < 51; k++)
		check_rec(&r, (size_t)k, k + 1, -1);
	ck_assert_uint_eq(next, 52);
	test_recs_free(&r);
	free(seg);
}
END_TEST

START_TEST(store_flipped_byte)
{
	struct store       *s = open_store();
	struct store_queue *q;
	struct test_recs    r;
	char               *seg2, want[64];
	uint64_t            k, next, off40;
	uint8_t             b;
	int                 fd;

	/* 4096-byte segments of 124-byte records: 1..32, 33..64, 65..96, 97..100 */
	store_set_segment_size(s, 4096);
	q = open_queue(s, "q");
	for (k = 1; k <= 100; k++)
		append_k(q, k, 100);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_close(s);
	{
		char *qdir = test_qfile(dir, "q", "");

		ck_assert_int_eq(test_count_files(qdir, ".seg"), 4);
		free(qdir);
	}
	seg2 = test_segment(dir, "q", 1);
	ck_assert_ptr_nonnull(strstr(seg2, "0000000000000021.seg"));
	off40 = 32 + (40 - 33) * 124;
	fd = open(seg2, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &b, 1, (off_t)off40 + 24 + 50), 1);
	b ^= 0x10;
	ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)off40 + 24 + 50), 1);
	close(fd);

	r = test_reopen(dir, "q", NULL, &next);
	ck_assert_uint_eq(r.n, 39 + 36);
	for (k = 0; k < 39; k++)
		check_rec(&r, (size_t)k, k + 1, 100);
	for (k = 0; k < 36; k++)
		check_rec(&r, (size_t)(39 + k), 65 + k, 100);
	ck_assert_uint_eq(next, 101);
	test_recs_free(&r);
	ck_assert_int_eq(test_file_size(seg2), (off_t)off40);

	/* The log named the file and the offset (reopen to catch it). */
	ck_assert_int_eq(truncate(seg2, (off_t)off40 + 10), 0);
	s = open_store();
	q = open_queue(s, "q");
	ck_assert_int_eq(store_recover(q, NULL, NULL), STORE_OK);
	ck_assert_ptr_nonnull(strstr(lg.text, seg2));
	snprintf(want, sizeof(want), "offset %llu", (unsigned long long)off40);
	ck_assert_ptr_nonnull(strstr(lg.text, want));
	store_close(s);
	free(seg2);
}
END_TEST

START_TEST(store_ack_log_removed)
{
	struct store       *s = open_store();
	struct store_queue *q = open_queue(s, "q");
	struct test_recs    r;
	char               *acks = test_qfile(dir, "q", "acks.log");
	uint64_t            k;

	for (k = 1; k <= 20; k++)
		append_k(q, k, -1);
	for (k = 1; k <= 10; k++)
		ck_assert_int_eq(store_ack(q, k), STORE_OK);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_close(s);
	r = test_reopen(dir, "q", NULL, NULL);
	ck_assert_uint_eq(r.n, 10);
	test_recs_free(&r);

	ck_assert_int_eq(unlink(acks), 0);
	r = test_reopen(dir, "q", NULL, NULL);
	ck_assert_uint_eq(r.n, 20);
	for (k = 0; k < 20; k++)
		check_rec(&r, (size_t)k, k + 1, -1);
	test_recs_free(&r);
	free(acks);
}
END_TEST

/* A bad ack record is skipped (each stands alone); a torn tail is cut. */
START_TEST(store_ack_log_damaged)
{
	struct store       *s = open_store();
	struct store_queue *q = open_queue(s, "q");
	struct test_recs    r;
	char               *acks = test_qfile(dir, "q", "acks.log");
	uint64_t            k;
	int                 fd;

	for (k = 1; k <= 30; k++)
		append_k(q, k, -1);
	for (k = 1; k <= 10; k++)
		ck_assert_int_eq(store_ack(q, k), STORE_OK);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_close(s);
	ck_assert_int_eq(test_file_size(acks), 24 * 11);
	fd = open(acks, O_RDWR);
	ck_assert_int_eq(pwrite(fd, "\x55", 1, 24 + 2 * 24 + 9), 1);   /* the ack of 3 */
	ck_assert_int_eq(pwrite(fd, "torn record!!", 13, 24 * 11), 13);
	close(fd);

	memset(&r, 0, sizeof(r));
	s = open_store();
	q = open_queue(s, "q");
	ck_assert_int_eq(store_recover(q, test_recs_fn, &r), STORE_OK);
	ck_assert_uint_eq(r.n, 21);
	ck_assert_uint_eq(r.ids[0], 3);
	ck_assert_uint_eq(r.ids[1], 11);
	ck_assert_int_eq(lg.warnings, 2);
	ck_assert_ptr_nonnull(strstr(lg.text, "first at offset 72"));
	ck_assert_ptr_nonnull(strstr(lg.text, "tail at offset 264"));
	ck_assert_int_eq(test_file_size(acks), 24 * 11);
	ck_assert(store_dirty(s));                 /* a rewrite is due */
	ck_assert_int_eq(store_sync(s), STORE_OK);
	ck_assert_int_lt(test_file_size(acks), 24 * 11);
	store_close(s);
	test_recs_free(&r);
	r = test_reopen(dir, "q", NULL, NULL);
	ck_assert_uint_eq(r.n, 21);
	test_recs_free(&r);
	free(acks);
}
END_TEST

START_TEST(store_read_buffer_and_disk)
{
	struct store       *s = open_store();
	struct store_queue *q;
	struct store_batch *b;
	uint64_t            k;
	void               *p;
	size_t              n;

	store_set_segment_size(s, 8192);
	q = open_queue(s, "q");
	for (k = 1; k <= 10; k++)
		append_k(q, k, -1);
	for (k = 1; k <= 10; k++)
		check_read(q, k, -1);        /* from the buffer */
	ck_assert_int_eq(store_sync(s), STORE_OK);
	for (k = 1; k <= 10; k++)
		check_read(q, k, -1);        /* from disk */
	for (k = 11; k <= 60; k++)
		append_k(q, k, -1);          /* several segments */
	ck_assert_int_eq(store_sync_prepare(s, &b), STORE_OK);
	for (k = 1; k <= 60; k++)
		check_read(q, k, -1);        /* some in flight */
	append_k(q, 61, -1);
	check_read(q, 61, -1);
	ck_assert_int_eq(store_sync_perform(b), STORE_OK);
	check_read(q, 30, -1);
	ck_assert_int_eq(store_sync_complete(s, b), STORE_OK);
	for (k = 60; k >= 1; k--)
		check_read(q, k, -1);        /* sealed segments, backwards */
	ck_assert_int_eq(store_ack(q, 5), STORE_OK);
	ck_assert_int_eq(store_read(q, 5, &p, &n), STORE_NOTFOUND);
	ck_assert_int_eq(store_read(q, 62, &p, &n), STORE_NOTFOUND);
	ck_assert_int_eq(store_read(q, 0, &p, &n), STORE_NOTFOUND);
	store_close(s);

	/* Bytes damaged on disk after recovery read as CORRUPT. */
	s = open_store();
	q = open_queue(s, "q");
	ck_assert_int_eq(store_recover(q, NULL, NULL), STORE_OK);
	{
		char *seg = test_segment(dir, "q", 0);
		int   fd = open(seg, O_RDWR);
		off_t off = (off_t)offset_of(3, -1) + 24 + 1;

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(pwrite(fd, "!", 1, off), 1);
		close(fd);
		free(seg);
	}
	check_read(q, 2, -1);
	ck_assert_int_eq(store_read(q, 3, &p, &n), STORE_CORRUPT);
	ck_assert_ptr_nonnull(strstr(lg.text, "fails its checksum"));
	store_close(s);
}
END_TEST

START_TEST(store_big_records)
{
	struct store       *s = open_store();
	struct store_queue *q;
	struct test_recs    r;

	store_set_buffer_size(s, 4096);
	store_set_segment_size(s, 65536);
	q = open_queue(s, "q");
	ck_assert_uint_eq(append_k(q, 1, 10), 1);
	ck_assert_uint_eq(append_k(q, 2, 100000), 2);   /* past buffer and segment */
	ck_assert_uint_eq(append_k(q, 3, 3000), 3);
	ck_assert_uint_eq(append_k(q, 4, 0), 4);
	check_read(q, 2, 100000);                        /* written directly */
	check_read(q, 3, 3000);
	check_read(q, 4, 0);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	{
		uint64_t id;
		uint8_t  one = 0;

		ck_assert_int_eq(store_append(q, &one, STORE_MAX_RECORD + 1, &id), STORE_EINVAL);
		ck_assert_int_eq(store_append(q, &one, 1, NULL), STORE_EINVAL);
	}
	store_close(s);
	r = test_reopen(dir, "q", NULL, NULL);
	ck_assert_uint_eq(r.n, 4);
	check_rec(&r, 0, 1, 10);
	check_rec(&r, 1, 2, 100000);
	check_rec(&r, 2, 3, 3000);
	check_rec(&r, 3, 4, 0);
	test_recs_free(&r);
	ck_assert_int_eq(lg.warnings, 0);
}
END_TEST

START_TEST(store_split_sync)
{
	struct store       *s = open_store();
	struct store_queue *q = open_queue(s, "q"), *q2 = open_queue(s, "q2");
	struct store_batch *b;
	struct test_recs    r;
	uint64_t            k;

	for (k = 1; k <= 10; k++)
		append_k(q, k, -1);
	append_k(q2, 1, -1);
	ck_assert_int_eq(store_sync_prepare(s, &b), STORE_OK);
	ck_assert(!store_dirty(s));
	ck_assert_int_eq(store_sync(s), STORE_EINVAL);
	ck_assert_int_eq(store_reset_failure(s), STORE_OK);   /* not failed */
	for (k = 11; k <= 20; k++)
		append_k(q, k, -1);
	append_k(q2, 2, -1);
	ck_assert(store_dirty(s));
	store_queue_close(q2);                                 /* deferred */
	ck_assert_int_eq(store_queue_delete(s, "q2"), STORE_EINVAL);
	ck_assert_int_eq(store_queue_open(s, "q2", &q2), STORE_EINVAL);
	ck_assert_int_eq(store_sync_perform(b), STORE_OK);
	ck_assert_int_eq(store_sync_complete(s, b), STORE_OK);
	ck_assert_int_eq(store_sync_complete(s, b), STORE_EINVAL);
	ck_assert(store_dirty(s));
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_close(s);

	r = test_reopen(dir, "q", NULL, NULL);
	ck_assert_uint_eq(r.n, 20);
	test_recs_free(&r);
	r = test_reopen(dir, "q2", NULL, NULL);   /* its close wrote it out */
	ck_assert_uint_eq(r.n, 2);
	test_recs_free(&r);
}
END_TEST

struct io_job {
	struct store_batch *b;
	int                 rc;
};

static void *
io_thread(void *arg)
{
	struct io_job *job = arg;

	job->rc = store_sync_perform(job->b);
	return NULL;
}

/*
 * The I/O thread at work: each batch is performed on another thread while
 * the owner appends (filling buffers, rolling segments), acks (emptying
 * segments, rewriting the ack log), reads and opens and closes a queue.
 * Run under ThreadSanitizer, this is what backs the threading contract.
 */
START_TEST(store_threaded_sync)
{
	struct store       *s = open_store();
	struct store_queue *q, *q2;
	struct test_recs    r;
	struct io_job       job;
	pthread_t           t;
	uint64_t            next = 1, acked = 0, k, j;
	int                 round;

	store_set_segment_size(s, 16384);
	store_set_buffer_size(s, 4096);
	store_set_compact_size(s, 4096);
	q = open_queue(s, "q");
	for (k = 0; k < 50; k++, next++)
		ck_assert_uint_eq(append_k(q, next, -1), next);
	for (round = 0; round < 150; round++) {
		ck_assert_int_eq(store_sync_prepare(s, &job.b), STORE_OK);
		ck_assert_int_eq(pthread_create(&t, NULL, io_thread, &job), 0);
		for (j = 0; j < 20; j++, next++)
			ck_assert_uint_eq(append_k(q, next, -1), next);
		while (acked + 40 < next - 1)
			ck_assert_int_eq(store_ack(q, ++acked), STORE_OK);
		for (k = acked + 1; k < next; k += 7)
			check_read(q, k, -1);
		if (round % 10 == 0) {
			q2 = open_queue(s, "other");
			append_k(q2, 1, 10);
			store_queue_close(q2);
		}
		ck_assert_int_eq(pthread_join(t, NULL), 0);
		ck_assert_int_eq(job.rc, STORE_OK);
		ck_assert_int_eq(store_sync_complete(s, job.b), STORE_OK);
	}
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_close(s);

	r = test_reopen(dir, "q", NULL, NULL);
	ck_assert_uint_eq(r.n, next - 1 - acked);
	for (k = 0; k < r.n; k++)
		check_rec(&r, (size_t)k, acked + 1 + k, -1);
	test_recs_free(&r);
}
END_TEST

START_TEST(store_ack_log_compaction)
{
	struct store       *s = open_store();
	struct store_queue *q;
	struct test_recs    r;
	char               *acks = test_qfile(dir, "q", "acks.log");
	uint64_t            k, next;

	store_set_compact_size(s, 4096);
	q = open_queue(s, "q");
	for (k = 1; k <= 3000; k++)
		append_k(q, k, 10);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	/* Everything but 1 and 1500 acked: a few ranges, not 2998 acks. */
	for (k = 2; k <= 3000; k++) {
		if (k != 1500)
			ck_assert_int_eq(store_ack(q, k), STORE_OK);
		if (k % 100 == 0)
			ck_assert_int_eq(store_sync(s), STORE_OK);
	}
	ck_assert_int_eq(store_set_delivery_count(q, 1500, 2), STORE_OK);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	ck_assert_int_lt(test_file_size(acks), 4096 + 100 * 24 + 48);
	store_close(s);

	r = test_reopen(dir, "q", NULL, &next);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_uint_eq(r.ids[0], 1);
	ck_assert_uint_eq(r.ids[1], 1500);
	ck_assert_uint_eq(r.dcs[1], 2);
	ck_assert_uint_eq(next, 3001);
	test_recs_free(&r);
	free(acks);
}
END_TEST

/*
 * A segment unlinked by a batch whose unlink a crash undid must not bring
 * its acked messages back once the ack log was rewritten without its acks.
 */
START_TEST(store_deleted_segment_stays_deleted)
{
	struct store       *s = open_store();
	struct store_queue *q;
	struct test_recs    r;
	char               *seg0;
	uint8_t             copy[8192];
	long long           n;
	uint64_t            k;
	int                 fd;

	store_set_segment_size(s, 4096);
	store_set_compact_size(s, 0);
	q = open_queue(s, "q");
	for (k = 1; k <= 100; k++)
		append_k(q, k, 100);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	seg0 = test_segment(dir, "q", 0);
	fd = open(seg0, O_RDONLY);
	n = read(fd, copy, sizeof(copy));
	close(fd);
	ck_assert_int_gt(n, 0);
	for (k = 1; k <= 32; k++)
		ck_assert_int_eq(store_ack(q, k), STORE_OK);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	ck_assert_int_eq(test_file_size(seg0), -1);
	ck_assert_int_eq(store_ack(q, 40), STORE_OK);   /* one more rewrite */
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_close(s);

	fd = open(seg0, O_WRONLY | O_CREAT, 0644);
	ck_assert_int_eq(write(fd, copy, (size_t)n), n);
	close(fd);
	r = test_reopen(dir, "q", NULL, NULL);
	ck_assert_uint_eq(r.n, 100 - 33);
	ck_assert_uint_eq(r.ids[0], 33);
	test_recs_free(&r);
	ck_assert_int_eq(test_file_size(seg0), -1);
	free(seg0);
}
END_TEST

START_TEST(store_bad_segment_header_repaired)
{
	struct store       *s = open_store();
	struct store_queue *q = open_queue(s, "q");
	struct test_recs    r;
	char               *seg;
	uint64_t            k;
	int                 fd;

	for (k = 1; k <= 10; k++)
		append_k(q, k, -1);
	ck_assert_int_eq(store_sync(s), STORE_OK);
	store_close(s);
	seg = test_segment(dir, "q", 0);
	fd = open(seg, O_RDWR);
	ck_assert_int_eq(pwrite(fd, "X", 1, 3), 1);
	close(fd);

	memset(&r, 0, sizeof(r));
	s = open_store();
	q = open_queue(s, "q");
	ck_assert_int_eq(store_recover(q, test_recs_fn, &r), STORE_OK);
	ck_assert_uint_eq(r.n, 10);
	ck_assert_int_eq(lg.warnings, 1);
	ck_assert_ptr_nonnull(strstr(lg.text, "rewriting the header"));
	store_close(s);
	test_recs_free(&r);

	memset(&lg, 0, sizeof(lg));
	s = open_store();
	q = open_queue(s, "q");
	ck_assert_int_eq(store_recover(q, test_recs_fn, &r), STORE_OK);
	ck_assert_uint_eq(r.n, 10);
	ck_assert_int_eq(lg.warnings, 0);
	store_close(s);
	test_recs_free(&r);
	free(seg);
}
END_TEST

struct names {
	char list[16][256];
	int  n;
};

static void
collect_name(void *arg, const char *qid)
{
	struct names *nm = arg;

	ck_assert_int_lt(nm->n, 16);
	snprintf(nm->list[nm->n++], sizeof(nm->list[0]), "%s", qid);
}

static bool
has_name(const struct names *nm, const char *qid)
{
	int i;

	for (i = 0; i < nm->n; i++)
		if (strcmp(nm->list[i], qid) == 0)
			return true;
	return false;
}

START_TEST(store_queue_list_and_delete)
{
	struct store       *s = open_store();
	struct store_queue *q1 = open_queue(s, "q1"), *q2 = open_queue(s, "q-2.x_Y"), *q;
	struct names        nm;
	char                longid[200];

	append_k(q1, 1, -1);
	append_k(q2, 1, -1);
	ck_assert_int_eq(store_queue_open(s, "q1", &q), STORE_EINVAL);   /* open twice */
	ck_assert_int_eq(store_queue_delete(s, "q1"), STORE_EINVAL);     /* still open */
	store_queue_close(q1);
	store_queue_close(q2);
	ck_assert_int_eq(store_queue_open(s, "", &q), STORE_EINVAL);
	ck_assert_int_eq(store_queue_open(s, ".hidden", &q), STORE_EINVAL);
	ck_assert_int_eq(store_queue_open(s, "a/b", &q), STORE_EINVAL);
	ck_assert_int_eq(store_queue_open(s, "..", &q), STORE_EINVAL);
	memset(longid, 'a', sizeof(longid));
	longid[129] = '\0';
	ck_assert_int_eq(store_queue_open(s, longid, &q), STORE_EINVAL);
	longid[128] = '\0';
	ck_assert_int_eq(store_queue_open(s, longid, &q), STORE_OK);
	store_queue_close(q);

	memset(&nm, 0, sizeof(nm));
	ck_assert_int_eq(store_queue_list(s, collect_name, &nm), STORE_OK);
	ck_assert_int_eq(nm.n, 3);
	ck_assert(has_name(&nm, "q1") && has_name(&nm, "q-2.x_Y") && has_name(&nm, longid));

	ck_assert_int_eq(store_queue_delete(s, "q1"), STORE_OK);
	ck_assert_int_eq(store_queue_delete(s, "q1"), STORE_NOTFOUND);
	memset(&nm, 0, sizeof(nm));
	ck_assert_int_eq(store_queue_list(s, collect_name, &nm), STORE_OK);
	ck_assert_int_eq(nm.n, 2);
	ck_assert(!has_name(&nm, "q1"));
	store_close(s);

	/* A delete interrupted after the rename is finished by store_open. */
	{
		char from[4096], to[4096];

		snprintf(from, sizeof(from), "%s/queues/q-2.x_Y", dir);
		snprintf(to, sizeof(to), "%s/queues/.del.q-2.x_Y.0", dir);
		ck_assert_int_eq(rename(from, to), 0);
		s = open_store();
		ck_assert_int_eq(test_file_size(to), -1);
		memset(&nm, 0, sizeof(nm));
		ck_assert_int_eq(store_queue_list(s, collect_name, &nm), STORE_OK);
		ck_assert_int_eq(nm.n, 1);
		store_close(s);
	}
}
END_TEST

/* Publish and ack at a steady pace: the folder stays small. */
START_TEST(store_space_comes_back)
{
	struct store       *s = open_store();
	struct store_queue *q;
	char               *qdir = test_qfile(dir, "q", "");
	uint64_t            k, j, peak = 0;

	store_set_segment_size(s, 256 << 10);
	store_set_compact_size(s, 64 << 10);
	q = open_queue(s, "q");
	for (k = 0; k < 200; k++) {
		for (j = 1; j <= 100; j++)
			ck_assert_uint_eq(append_k(q, k * 100 + j, 1024), k * 100 + j);
		ck_assert_int_eq(store_sync(s), STORE_OK);
		for (j = 1; j <= 100; j++)
			ck_assert_int_eq(store_ack(q, k * 100 + j), STORE_OK);
		ck_assert_int_eq(store_sync(s), STORE_OK);
		if (test_du(qdir) > peak)
			peak = test_du(qdir);
	}
	ck_assert_uint_lt(peak, 1 << 20);
	ck_assert_uint_lt(test_du(qdir), 256 << 10);
	ck_assert_uint_eq(store_queue_disk_size(q), test_du(qdir));
	store_close(s);
	free(qdir);
}
END_TEST

/*
 * issue: duplicate after kill.  The crash test (tests/integration/
 * test_crash.py) found a confirmed message twice in a queue after a restart.
 * The storage half of that, checked here with a real SIGKILL: a child does
 * what the broker does (recover, bump the delivery count of every message
 * recovered and sync, then append and sync in small groups, "confirming"
 * each sync in shared memory) and is killed at a random moment, many
 * times.  After each kill, every record must be there at most once (each
 * payload is unique), every confirmed one at least once, and the delivery
 * counts must say how many restarts each record lived through.  The
 * duplicate of the crash test was the producer's: it publishes again a
 * message whose confirm the kill cut off, and the first copy may well
 * have reached the disk.
 */

#define KILL_ROUNDS    40
#define KILL_PER_ROUND 4000   /* appends before the child just waits */

struct kill_shared {
	uint64_t confirmed[KILL_ROUNDS];   /* tags 0..n-1 of a round are synced */
	int      ready;                    /* recovered, counts bumped and synced */
};

struct kill_recs {
	uint64_t *ids;
	uint32_t *dcs;
	size_t    n, cap;
	bool      bad;
};

static void
kill_recs_fn(void *arg, uint64_t msg_id, const void *rec, size_t len, uint32_t dc)
{
	struct kill_recs *r = arg;

	(void)rec;
	(void)len;
	if (r->n == r->cap) {
		r->cap = r->cap != 0 ? r->cap * 2 : 1024;
		r->ids = realloc(r->ids, r->cap * sizeof(*r->ids));
		r->dcs = realloc(r->dcs, r->cap * sizeof(*r->dcs));
		if (r->ids == NULL || r->dcs == NULL) {
			r->bad = true;
			return;
		}
	}
	r->ids[r->n] = msg_id;
	r->dcs[r->n] = dc;
	r->n++;
}

/* The payload of (round, i): its tag first, then filler; 8 to 707 bytes. */
static size_t
kill_payload(uint32_t round, uint32_t i, uint8_t *buf)
{
	uint64_t tag = (uint64_t)round << 32 | i;
	size_t   n = 8 + (size_t)((tag * 7919) % 700), k;

	memcpy(buf, &tag, 8);
	for (k = 8; k < n; k++)
		buf[k] = (uint8_t)(tag * 131 + k);
	return n;
}

/* The broker's part, in the child; exits only on error (status says where). */
static void
kill_child(const char *path, uint32_t round, struct kill_shared *sh)
{
	struct store       *s;
	struct store_queue *q;
	struct kill_recs    r;
	uint8_t             buf[720];
	uint32_t            i, seed = round * 2654435761U + 1, group = 0;
	uint64_t            id;
	size_t              k;

	memset(&r, 0, sizeof(r));
	if (store_open(path, NULL, &s) != STORE_OK)
		_exit(10);
	store_set_log(s, test_log_fn, &lg);
	store_set_segment_size(s, 64 << 10);
	store_set_buffer_size(s, 4096);
	store_set_compact_size(s, 16 << 10);
	if (store_queue_open(s, "q", &q) != STORE_OK)
		_exit(11);
	if (store_recover(q, kill_recs_fn, &r) != STORE_OK || r.bad)
		_exit(12);
	/* basic.get of everything, then the channel closes: requeued. */
	for (k = 0; k < r.n; k++)
		if (store_set_delivery_count(q, r.ids[k], r.dcs[k] + 1) != STORE_OK)
			_exit(13);
	if (store_sync(s) != STORE_OK)
		_exit(14);
	__atomic_store_n(&sh->ready, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < KILL_PER_ROUND; i++) {
		if (store_append(q, buf, kill_payload(round, i, buf), &id) != STORE_OK)
			_exit(15);
		if (group == 0)
			group = 1 + test_rand(&seed) % 8;
		if (--group == 0 || i + 1 == KILL_PER_ROUND) {
			if (store_sync(s) != STORE_OK)
				_exit(16);
			__atomic_store_n(&sh->confirmed[round], (uint64_t)i + 1,
			    __ATOMIC_SEQ_CST);
		}
	}
	for (;;)
		pause();
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

START_TEST(issue_duplicate_after_kill)
{
	struct kill_shared *sh;
	uint32_t            round, k, seed = 12345;
	char               *path = malloc(strlen(dir) + 8);

	ck_assert_ptr_nonnull(path);
	snprintf(path, strlen(dir) + 8, "%s/data", dir);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	for (round = 1; round < KILL_ROUNDS; round++) {
		struct test_recs r;
		struct timespec  ts = { 0, 0 };
		uint64_t        *tags, prev_id = 0;
		pid_t            pid;
		int              status, waited;
		size_t           i;

		sh->ready = 0;
		if ((pid = fork()) == 0)
			kill_child(path, round, sh);
		ck_assert_int_gt(pid, 0);
		for (waited = 0; !__atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST); waited++) {
			ck_assert_msg(waited < 10000, "round %u: the child never got ready", round);
			ck_assert_int_eq(waitpid(pid, &status, WNOHANG), 0);
			usleep(1000);
		}
		ts.tv_nsec = (long)(test_rand(&seed) % 20000) * 1000;
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		    "round %u: the child exited with %d", round,
		    WIFEXITED(status) ? WEXITSTATUS(status) : -1);

		/* A restart that only looks. */
		r = test_reopen(path, "q", NULL, NULL);
		tags = malloc((r.n + 1) * sizeof(*tags));
		ck_assert_ptr_nonnull(tags);
		for (i = 0; i < r.n; i++) {
			uint8_t  want[720];
			uint64_t tag;
			uint32_t rnd, idx;

			ck_assert_uint_gt(r.ids[i], prev_id);
			prev_id = r.ids[i];
			ck_assert_uint_ge(r.lens[i], 8);
			memcpy(&tag, r.data[i], 8);
			rnd = (uint32_t)(tag >> 32);
			idx = (uint32_t)tag;
			ck_assert_uint_ge(rnd, 1);
			ck_assert_uint_le(rnd, round);
			ck_assert_uint_eq(r.lens[i], kill_payload(rnd, idx, want));
			ck_assert(memcmp(r.data[i], want, r.lens[i]) == 0);
			/* One bump per later child, each synced before its kill. */
			ck_assert_msg(r.dcs[i] == round - rnd, "round %u: msg_id %llu "
			    "(round %u #%u) has delivery count %u, want %u", round,
			    (unsigned long long)r.ids[i], rnd, idx, r.dcs[i], round - rnd);
			tags[i] = tag;
		}
		qsort(tags, r.n, sizeof(*tags), u64_cmp);
		for (i = 1; i < r.n; i++)
			ck_assert_msg(tags[i] != tags[i - 1], "round %u: round %u #%u "
			    "recovered twice", round, (unsigned)(tags[i] >> 32),
			    (unsigned)tags[i]);
		/* Every confirmed record: tags are dense from 0 in each round. */
		for (k = 1, i = 0; k <= round; k++) {
			uint64_t n;

			while (i < r.n && tags[i] >> 32 < k)
				i++;
			for (n = 0; n < sh->confirmed[k]; n++, i++)
				ck_assert_msg(i < r.n && tags[i] == ((uint64_t)k << 32 | n),
				    "round %u: confirmed record round %u #%llu lost", round,
				    k, (unsigned long long)n);
		}
		free(tags);
		test_recs_free(&r);
	}
	munmap(sh, sizeof(*sh));
	free(path);
}
END_TEST

START_TEST(store_strerror_all)
{
	const char *seen[16];
	int         e, i, n = 0;

	for (e = STORE_OK; e >= STORE_ERR_MIN; e--) {
		const char *msg = store_strerror(e);

		ck_assert_ptr_nonnull(msg);
		ck_assert_str_ne(msg, "unknown error");
		for (i = 0; i < n; i++)
			ck_assert_str_ne(seen[i], msg);
		seen[n++] = msg;
	}
	ck_assert_int_eq(n, 9);
	ck_assert_str_eq(store_strerror(1), "unknown error");
	ck_assert_str_eq(store_strerror(STORE_ERR_MIN - 1), "unknown error");
}
END_TEST

START_TEST(store_open_errors)
{
	struct store *s;
	char          path[4096];
	int           fd;

	ck_assert_int_eq(store_open("", NULL, &s), STORE_EINVAL);
	snprintf(path, sizeof(path), "%s/file", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	close(fd);
	ck_assert_int_eq(store_open(path, NULL, &s), STORE_EIO);
	ck_assert_ptr_null(s);
	/* a fresh data dir below an existing one is created */
	snprintf(path, sizeof(path), "%s/data", dir);
	ck_assert_int_eq(store_open(path, NULL, &s), STORE_OK);
	/* and locked while open */
	{
		struct store *s2;

		ck_assert_int_eq(store_open(path, NULL, &s2), STORE_EBUSY);
		ck_assert_ptr_null(s2);
		store_close(s);
		ck_assert_int_eq(store_open(path, NULL, &s2), STORE_OK);
		store_close(s2);
	}
	snprintf(path, sizeof(path), "%s/data/queues", dir);
	ck_assert_int_ne(test_file_size(path), -1);
}
END_TEST

Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, store_round_trip);
	tcase_add_test(tc, store_acks_hide_records);
	tcase_add_test(tc, store_delivery_counts_survive);
	tcase_add_test(tc, store_ids_increase_across_reopen);
	tcase_add_test(tc, store_segment_roll_and_delete);
	tcase_add_test(tc, store_torn_tail);
	tcase_add_test(tc, store_flipped_byte);
	tcase_add_test(tc, store_ack_log_removed);
	tcase_add_test(tc, store_ack_log_damaged);
	tcase_add_test(tc, store_read_buffer_and_disk);
	tcase_add_test(tc, store_big_records);
	tcase_add_test(tc, store_split_sync);
	tcase_add_test(tc, store_threaded_sync);
	tcase_add_test(tc, store_ack_log_compaction);
	tcase_add_test(tc, store_deleted_segment_stays_deleted);
	tcase_add_test(tc, store_bad_segment_header_repaired);
	tcase_add_test(tc, store_queue_list_and_delete);
	tcase_add_test(tc, store_space_comes_back);
	tcase_add_test(tc, store_strerror_all);
	tcase_add_test(tc, store_open_errors);
	tcase_add_test(tc, issue_duplicate_after_kill);
	suite_add_tcase(s, tc);
	return s;
}
