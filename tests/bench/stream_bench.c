/*
 * Stream benchmark: append+sync rate (group commits of a given size), the
 * time to reopen the stream, then the read rate of one reader from first,
 * and of several readers at once.  Built with the tests, never run by
 * make check:
 *
 *     tests/bench/stream_bench [-n records] [-s record bytes] [-b per sync]
 *                              [-m segment bytes] [-c readers] [-d dir] [-k]
 *
 * -d picks the data folder (default: a fresh one under $TMPDIR or /tmp);
 * it is removed afterwards unless -k.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/store.h"
#include "storage/stream.h"

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
	fprintf(stderr, "stream_bench: %s: %s\n", what, store_strerror(rc));
	exit(1);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static long
max_rss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* Read everything from first with c readers, round robin. */
static void
read_all(struct store_stream *st, int c, uint64_t n, size_t size)
{
	struct store_stream_reader **r = calloc((size_t)c, sizeof(*r));
	const void                  *rec;
	size_t                       len;
	uint64_t                     off, got = 0, bytes = 0, sum = 0;
	double                       t0, t1;
	int                          i, live = c, rc;

	if (r == NULL)
		die("calloc", STORE_ENOMEM);
	for (i = 0; i < c; i++)
		if ((rc = store_stream_reader_open(st, 0, &r[i])) != STORE_OK)
			die("reader_open", rc);
	t0 = now();
	while (live > 0) {
		live = 0;
		for (i = 0; i < c; i++) {
			int k;

			/* a burst per reader, as a consumer with credit would */
			for (k = 0; k < 256; k++) {
				rc = store_stream_reader_next(r[i], &rec, &len, &off, NULL);
				if (rc == STORE_NOTFOUND)
					break;
				if (rc != STORE_OK)
					die("reader_next", rc);
				sum += ((const uint8_t *)rec)[len / 2];
				got++;
				bytes += len;
			}
			if (k == 256)
				live++;
		}
	}
	t1 = now();
	if (got != n * (uint64_t)c || bytes != got * size)
		fprintf(stderr, "stream_bench: read %llu records, expected %llu\n",
		    (unsigned long long)got, (unsigned long long)(n * (uint64_t)c));
	printf("read from first, %d reader(s): %.0f records/s, %.1f MiB/s in all, "
	    "%.2f s (checksum %llu)\n", c, (double)got / (t1 - t0),
	    (double)bytes / 1048576 / (t1 - t0), t1 - t0, (unsigned long long)(sum & 0xff));
	for (i = 0; i < c; i++)
		store_stream_reader_close(r[i]);
	free(r);
}

int
main(int argc, char **argv)
{
	uint64_t             n = 1000000, per_sync = 1000, seg = 0, i, off;
	size_t               size = 100;
	int                  opt, readers = 4, rc;
	bool                 keep = false;
	char                 tmpl[4096], *dir = NULL;
	struct store        *s;
	struct store_stream *st;
	uint8_t             *rec;
	double               t0, t1;
	long                 rss0;

	while ((opt = getopt(argc, argv, "n:s:b:m:c:d:k")) != -1) {
		switch (opt) {
		case 'n': n = strtoull(optarg, NULL, 10); break;
		case 's': size = strtoul(optarg, NULL, 10); break;
		case 'b': per_sync = strtoull(optarg, NULL, 10); break;
		case 'm': seg = strtoull(optarg, NULL, 10); break;
		case 'c': readers = atoi(optarg); break;
		case 'd': dir = optarg; break;
		case 'k': keep = true; break;
		default:
			fprintf(stderr, "usage: stream_bench [-n records] [-s bytes] [-b per sync] "
			    "[-m segment bytes] [-c readers] [-d dir] [-k]\n");
			return 2;
		}
	}
	if (per_sync == 0)
		per_sync = 1;
	if (dir == NULL) {
		const char *t = getenv("TMPDIR");

		snprintf(tmpl, sizeof(tmpl), "%s/stream-bench-XXXXXX", t != NULL ? t : "/tmp");
		if ((dir = mkdtemp(tmpl)) == NULL) {
			fprintf(stderr, "stream_bench: mkdtemp: %s\n", strerror(errno));
			return 1;
		}
	}
	if ((rec = malloc(size + 1)) == NULL)
		die("malloc", STORE_ENOMEM);
	memset(rec, 0x5a, size);
	printf("stream_bench: %llu records of %zu bytes, a sync every %llu, in %s\n",
	    (unsigned long long)n, size, (unsigned long long)per_sync, dir);

	if ((rc = store_open(dir, NULL, &s)) != STORE_OK)
		die("store_open", rc);
	if ((rc = store_stream_open(s, "bench", &st)) != STORE_OK)
		die("stream_open", rc);
	store_stream_set_limits(st, seg, 0, 0);
	rss0 = max_rss_kib();
	t0 = now();
	for (i = 0; i < n; i++) {
		rec[0] = (uint8_t)i;
		if ((rc = store_stream_append(st, (int64_t)i, rec, size, &off)) != STORE_OK)
			die("append", rc);
		if ((i + 1) % per_sync == 0 && (rc = store_sync(s)) != STORE_OK)
			die("sync", rc);
	}
	if ((rc = store_sync(s)) != STORE_OK)
		die("sync", rc);
	t1 = now();
	printf("append+sync: %.0f records/s, %.1f MiB/s, %.2f s\n", (double)n / (t1 - t0),
	    (double)n * (double)size / 1048576 / (t1 - t0), t1 - t0);
	printf("disk: %.1f MiB in %zu segment(s); index: %zu entries; max RSS grew %ld KiB\n",
	    (double)store_stream_disk_size(st) / 1048576, store_stream_segments(st),
	    store_stream_index_entries(st), max_rss_kib() - rss0);
	store_stream_close(st);

	t0 = now();
	if ((rc = store_stream_open(s, "bench", &st)) != STORE_OK)
		die("stream_open", rc);
	t1 = now();
	printf("reopen: %.3f s, next offset %llu\n", t1 - t0,
	    (unsigned long long)store_stream_next(st));
	read_all(st, 1, n, size);
	if (readers > 1)
		read_all(st, readers, n, size);
	store_stream_close(st);
	store_close(s);
	free(rec);
	if (!keep)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
