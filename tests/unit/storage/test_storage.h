/*
 * The storage/ unit tests: one Check suite per area, run together by
 * test_main.c, plus what they share: scratch folders, a log catcher, a
 * collector for recovered records, and an ops table that injects faults and
 * can simulate a power cut (test_util.c).
 */
#ifndef TEST_STORAGE_H
#define TEST_STORAGE_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/store.h"

Suite *crc32c_suite(void);
Suite *store_suite(void);
Suite *fault_suite(void);
Suite *meta_suite(void);
Suite *stream_suite(void);

/* A fresh folder under $TMPDIR (or /tmp); malloc'd path. */
char *test_tmpdir(void);
/* Remove a folder and everything below it, and free the path. */
void test_rmtree(char *path);
/* Bytes of the regular files below path. */
uint64_t test_du(const char *path);
/* Regular files directly in path whose name ends in suffix. */
int test_count_files(const char *path, const char *suffix);
/* dir/queues/qid/name, malloc'd. */
char *test_qfile(const char *dir, const char *qid, const char *name);
/* The n-th (from 0) segment file of a queue, by name order; malloc'd, or NULL. */
char *test_segment(const char *dir, const char *qid, int n);
off_t test_file_size(const char *path);

/* Deterministic record contents: record k has length len_for(k). */
size_t test_rec_len(uint64_t k);
void   test_rec_fill(uint64_t k, uint8_t *buf, size_t len);

/* A log callback that keeps the messages (and echoes them with CK_VERBOSITY). */
struct test_log {
	char   text[65536];
	size_t len;
	int    warnings;
};
void test_log_fn(void *arg, int level, const char *msg);

/* store_recover() into arrays. */
struct test_recs {
	size_t    n, cap;
	uint64_t *ids;
	uint32_t *dcs;
	uint8_t **data;
	size_t   *lens;
};
void test_recs_fn(void *arg, uint64_t msg_id, const void *rec, size_t len, uint32_t dc);
void test_recs_free(struct test_recs *r);
/* Open the store in dir (ops NULL: POSIX) and qid in it, recover it into
 * the result, close both; *next_id (if not NULL) gets the next msg_id. */
struct test_recs test_reopen(const char *dir, const char *qid, const struct store_ops *ops,
                             uint64_t *next_id);

/*
 * The fault-injecting ops: the POSIX calls, with knobs.  One per process
 * (Check forks every test), reset by faultfs_reset().
 */
struct faultfs {
	size_t    short_write;     /* > 0: a pwrite writes at most this much */
	long long space;           /* >= 0: bytes left before ENOSPC; -1: no limit */
	int       fsync_errno;     /* != 0: fsyncs fail with it ... */
	int       fsync_pass;      /* ... after this many more succeed */
	bool      dead;            /* after a power cut: everything fails */
	unsigned  pwrites, fsyncs, opens;
};
extern struct faultfs faultfs;
extern const struct store_ops faultfs_ops;
void faultfs_reset(void);

/*
 * The power-cut model.  Files are inodes with the contents of their last
 * fsync; names (create, rename, unlink) last only once their folder is
 * fsynced.  faultfs_cut() makes the real files match that durable state,
 * dropping everything else; with torn, each file keeps instead a random
 * prefix of what was written to it since its last fsync, as a disk may.
 * The model starts empty and learns files as the ops first see them.
 */
void faultfs_cut(bool torn, uint32_t *seed);

static inline uint32_t
test_rand(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *state = x;
}

#endif
