/*
 * storage/meta.c: the definitions file written atomically and read back,
 * missing (NOTFOUND), damaged (CORRUPT), written by hand (accepted), and
 * the state a crash between the checksum and the JSON leaves.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static void
meta_path(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/meta/%s", dir, name);
}

static void
expect_meta(struct store *s, const char *want)
{
	void  *p = NULL;
	size_t n = 0;

	ck_assert_int_eq(store_meta_read(s, &p, &n), STORE_OK);
	ck_assert_uint_eq(n, strlen(want));
	ck_assert(memcmp(p, want, n) == 0);
	free(p);
}

static const char defs1[] = "{\"rabbit_version\":\"3.10.8\",\"queues\":[]}\n";
static const char defs2[] =
    "{\"rabbit_version\":\"3.10.8\",\"queues\":[{\"name\":\"q\",\"vhost\":\"/\","
    "\"durable\":true,\"auto_delete\":false,\"arguments\":{}}]}\n";

START_TEST(meta_round_trip)
{
	struct store *s = open_store();
	void         *p;
	size_t        n;
	char          path[4096];

	ck_assert_int_eq(store_meta_read(s, &p, &n), STORE_NOTFOUND);
	ck_assert_int_eq(store_meta_write(s, defs1, strlen(defs1)), STORE_OK);
	expect_meta(s, defs1);
	ck_assert_int_eq(store_meta_write(s, defs2, strlen(defs2)), STORE_OK);
	expect_meta(s, defs2);
	store_close(s);

	s = open_store();
	expect_meta(s, defs2);
	ck_assert_int_eq(store_meta_write(s, "", 0), STORE_OK);
	expect_meta(s, "");
	store_close(s);
	ck_assert_int_eq(lg.warnings, 0);

	/* The JSON file is the JSON, byte for byte; no temporary is left. */
	s = open_store();
	ck_assert_int_eq(store_meta_write(s, defs1, strlen(defs1)), STORE_OK);
	store_close(s);
	meta_path(path, sizeof(path), "definitions.json");
	ck_assert_int_eq(test_file_size(path), (off_t)strlen(defs1));
	meta_path(path, sizeof(path), "definitions.json.tmp");
	ck_assert_int_eq(test_file_size(path), -1);
	meta_path(path, sizeof(path), "definitions.json.sum.tmp");
	ck_assert_int_eq(test_file_size(path), -1);
}
END_TEST

START_TEST(meta_corrupt)
{
	struct store *s = open_store();
	void         *p;
	size_t        n;
	char          path[4096];
	int           fd;

	ck_assert_int_eq(store_meta_write(s, defs2, strlen(defs2)), STORE_OK);
	meta_path(path, sizeof(path), "definitions.json");
	fd = open(path, O_RDWR);
	ck_assert_int_eq(pwrite(fd, "X", 1, 20), 1);
	close(fd);
	ck_assert_int_eq(store_meta_read(s, &p, &n), STORE_CORRUPT);

	/* truncated */
	ck_assert_int_eq(store_meta_write(s, defs2, strlen(defs2)), STORE_OK);
	ck_assert_int_eq(truncate(path, 30), 0);
	ck_assert_int_eq(store_meta_read(s, &p, &n), STORE_CORRUPT);

	/* the checksum file damaged */
	ck_assert_int_eq(store_meta_write(s, defs2, strlen(defs2)), STORE_OK);
	expect_meta(s, defs2);
	meta_path(path, sizeof(path), "definitions.json.sum");
	fd = open(path, O_RDWR);
	ck_assert_int_eq(pwrite(fd, "?", 1, 2), 1);
	close(fd);
	ck_assert_int_eq(store_meta_read(s, &p, &n), STORE_CORRUPT);

	/* a write repairs it */
	ck_assert_int_eq(store_meta_write(s, defs1, strlen(defs1)), STORE_OK);
	expect_meta(s, defs1);
	store_close(s);
}
END_TEST

START_TEST(meta_written_by_hand)
{
	struct store *s = open_store();
	char          path[4096];
	int           fd;

	meta_path(path, sizeof(path), "definitions.json");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_eq(write(fd, defs1, strlen(defs1)), (ssize_t)strlen(defs1));
	close(fd);
	expect_meta(s, defs1);
	ck_assert_int_eq(lg.warnings, 1);
	/* the next write vouches for both, then replaces it */
	ck_assert_int_eq(store_meta_write(s, defs2, strlen(defs2)), STORE_OK);
	expect_meta(s, defs2);
	store_close(s);
}
END_TEST

/* A crash after the new .sum landed and before the JSON did. */
START_TEST(meta_crash_between_renames)
{
	struct store *s = open_store();
	char          path[4096], sum[256];
	int           fd;

	ck_assert_int_eq(store_meta_write(s, defs1, strlen(defs1)), STORE_OK);
	ck_assert_int_eq(store_meta_write(s, defs2, strlen(defs2)), STORE_OK);
	store_close(s);
	/* Put the old JSON back under the new .sum. */
	meta_path(path, sizeof(path), "definitions.json");
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_eq(write(fd, defs1, strlen(defs1)), (ssize_t)strlen(defs1));
	close(fd);
	s = open_store();
	expect_meta(s, defs1);
	store_close(s);

	/* The .sum names the new version first, then the one it replaces. */
	meta_path(path, sizeof(path), "definitions.json.sum");
	fd = open(path, O_RDONLY);
	memset(sum, 0, sizeof(sum));
	ck_assert_int_gt(read(fd, sum, sizeof(sum) - 1), 0);
	close(fd);
	ck_assert_ptr_nonnull(strstr(sum, "warren-definitions-checksum 1\ncrc32c "));
	{
		char want[64];

		snprintf(want, sizeof(want), "length %zu\n", strlen(defs2));
		ck_assert_ptr_eq(strstr(sum, want), strstr(sum, "length "));
		snprintf(want, sizeof(want), "length %zu\n", strlen(defs1));
		ck_assert_ptr_nonnull(strstr(sum, want));
	}
}
END_TEST

Suite *
meta_suite(void)
{
	Suite *s = suite_create("meta");
	TCase *tc = tcase_create("meta");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, meta_round_trip);
	tcase_add_test(tc, meta_corrupt);
	tcase_add_test(tc, meta_written_by_hand);
	tcase_add_test(tc, meta_crash_between_renames);
	suite_add_tcase(s, tc);
	return s;
}
