/*
 * storage/ benchmark: append+sync rate for 1 KiB records (group commits of
 * a given size), recovery time for all of them, then acks for all and the
 * disk size left.  Built with the tests, never run by make check:
 *
 *     tests/bench/store_bench [-n records] [-s record bytes] [-b per sync]
 *                             [-d dir] [-k] [-r]
 *
 * -d picks the data folder (default: a fresh one under $TMPDIR or /tmp,
 * removed afterwards).  -k stops after the recovery step and keeps the
 * folder with its records; -r only recovers what -d -k left, so recovery
 * can be timed with a cold page cache:
 *
 *     store_bench -d /var/tmp/sb -k; sync; echo 3 >/proc/sys/vm/drop_caches
 *     store_bench -d /var/tmp/sb -r
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/store.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what, int rc)
{
	fprintf(stderr, "store_bench: %s: %s\n", what, store_strerror(rc));
	exit(1);
}

static uint64_t du_total;

static int
du_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (flag == FTW_F)
		du_total += (uint64_t)st->st_blocks * 512;
	return 0;
}

static uint64_t
du(const char *path)
{
	du_total = 0;
	nftw(path, du_one, 16, FTW_PHYS);
	return du_total;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

struct count {
	uint64_t n, bytes, last;
	int      out_of_order;
};

static void
count_fn(void *arg, uint64_t msg_id, const void *rec, size_t len, uint32_t dc)
{
	struct count *c = arg;

	(void)rec;
	(void)dc;
	if (msg_id <= c->last)
		c->out_of_order++;
	c->last = msg_id;
	c->n++;
	c->bytes += len;
}

int
main(int argc, char **argv)
{
	struct store       *s;
	struct store_queue *q;
	struct count        c;
	const char         *qid = "0123456789abcdef0123456789abcdef";
	char                tmpl[4096], qdir[4200];
	char               *dir = NULL;
	uint64_t            n = 1000000, per_sync = 1000, i, id, first = 0, syncs;
	size_t              size = 1024;
	uint8_t            *rec;
	double              t0, t1;
	int                 opt, rc, keep = 0, recover_only = 0;

	while ((opt = getopt(argc, argv, "n:s:b:d:kr")) != -1) {
		switch (opt) {
		case 'n':
			n = strtoull(optarg, NULL, 10);
			break;
		case 's':
			size = (size_t)strtoull(optarg, NULL, 10);
			break;
		case 'b':
			per_sync = strtoull(optarg, NULL, 10);
			break;
		case 'd':
			dir = optarg;
			break;
		case 'k':
			keep = 1;
			break;
		case 'r':
			recover_only = 1;
			break;
		default:
			fprintf(stderr, "usage: store_bench [-n records] [-s bytes] "
			    "[-b per sync] [-d dir] [-k] [-r]\n");
			return 2;
		}
	}
	if (recover_only && dir == NULL) {
		fprintf(stderr, "store_bench: -r needs -d\n");
		return 2;
	}
	if (per_sync == 0)
		per_sync = 1;
	if (dir == NULL) {
		const char *t = getenv("TMPDIR");

		snprintf(tmpl, sizeof(tmpl), "%s/store-bench-XXXXXX", t != NULL ? t : "/tmp");
		if ((dir = mkdtemp(tmpl)) == NULL) {
			fprintf(stderr, "store_bench: mkdtemp: %s\n", strerror(errno));
			return 1;
		}
	}
	snprintf(qdir, sizeof(qdir), "%s/queues/%s", dir, qid);
	if ((rec = malloc(size)) == NULL)
		return 1;
	for (i = 0; i < size; i++)
		rec[i] = (uint8_t)(i * 31 + 7);
	if (recover_only)
		goto recover;
	printf("store_bench: %llu records of %zu bytes, a sync every %llu, in %s\n",
	    (unsigned long long)n, size, (unsigned long long)per_sync, dir);

	/* 1. append + group commit */
	if ((rc = store_open(dir, NULL, &s)) != STORE_OK)
		die("store_open", rc);
	if ((rc = store_queue_open(s, qid, &q)) != STORE_OK)
		die("store_queue_open", rc);
	if ((rc = store_recover(q, NULL, NULL)) != STORE_OK)
		die("store_recover", rc);
	syncs = 0;
	t0 = now();
	for (i = 0; i < n; i++) {
		if ((rc = store_append(q, rec, size, &id)) != STORE_OK)
			die("store_append", rc);
		if (first == 0)
			first = id;
		if ((i + 1) % per_sync == 0 || i + 1 == n) {
			if ((rc = store_sync(s)) != STORE_OK)
				die("store_sync", rc);
			syncs++;
		}
	}
	t1 = now();
	printf("append+sync: %.0f records/s, %.1f MiB/s (%llu syncs, %.0f syncs/s), "
	    "%.2f s\n", (double)n / (t1 - t0), (double)n * (double)size / (t1 - t0) / 1048576,
	    (unsigned long long)syncs, (double)syncs / (t1 - t0), t1 - t0);
	printf("disk: %.1f MiB\n", (double)du(qdir) / 1048576);
	store_close(s);

	/* 2. recovery (the files are likely in the page cache, unless -r) */
recover:
	memset(&c, 0, sizeof(c));
	t0 = now();
	if ((rc = store_open(dir, NULL, &s)) != STORE_OK)
		die("store_open", rc);
	if ((rc = store_queue_open(s, qid, &q)) != STORE_OK)
		die("store_queue_open", rc);
	if ((rc = store_recover(q, count_fn, &c)) != STORE_OK)
		die("store_recover", rc);
	t1 = now();
	printf("recovery: %llu records (%.1f MiB) in %.3f s, %.0f records/s%s\n",
	    (unsigned long long)c.n, (double)c.bytes / 1048576, t1 - t0,
	    (double)c.n / (t1 - t0), c.out_of_order ? " OUT OF ORDER" : "");
	if (recover_only || keep) {
		store_close(s);
		free(rec);
		return 0;
	}
	if (c.n != n)
		fprintf(stderr, "store_bench: recovered %llu of %llu\n",
		    (unsigned long long)c.n, (unsigned long long)n);

	/* 3. ack everything */
	t0 = now();
	for (i = 0; i < n; i++) {
		if ((rc = store_ack(q, first + i)) != STORE_OK)
			die("store_ack", rc);
		if ((i + 1) % per_sync == 0 || i + 1 == n) {
			if ((rc = store_sync(s)) != STORE_OK)
				die("store_sync", rc);
		}
	}
	t1 = now();
	printf("ack+sync: %.0f acks/s, %.2f s\n", (double)n / (t1 - t0), t1 - t0);
	printf("disk after acking all: %.2f MiB (store_queue_disk_size %llu bytes)\n",
	    (double)du(qdir) / 1048576, (unsigned long long)store_queue_disk_size(q));
	store_close(s);

	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(rec);
	return 0;
}
