/*
 * server/hmap.c: insert, replace, delete, growth and iteration, with keys
 * that are not NUL-terminated and an empty key.
 */
#include <check.h>
#include <stdio.h>

#include "server/hmap.h"
#include "tests/unit/server/test_server.h"

static struct amqp_bytes
key(const char *s)
{
	return amqp_cstr(s);
}

START_TEST(test_put_get_del)
{
	struct hmap h = { 0 };
	int         a = 1, b = 2;

	ck_assert_ptr_null(hmap_get(&h, key("x")));
	ck_assert_ptr_null(hmap_del(&h, key("x")));
	ck_assert_ptr_null(hmap_put(&h, key("x"), &a));
	ck_assert_ptr_eq(hmap_get(&h, key("x")), &a);
	ck_assert_ptr_eq(hmap_put(&h, key("x"), &b), &a); /* replace returns the old value */
	ck_assert_ptr_eq(hmap_get(&h, key("x")), &b);
	ck_assert_uint_eq(h.count, 1);
	ck_assert_ptr_eq(hmap_del(&h, key("x")), &b);
	ck_assert_ptr_null(hmap_get(&h, key("x")));
	ck_assert_uint_eq(h.count, 0);
	hmap_free(&h);
}
END_TEST

START_TEST(test_empty_and_binary_keys)
{
	struct hmap       h = { 0 };
	int               a = 1, b = 2, c = 3;
	const uint8_t     raw[] = { 'a', 0, 'b' };
	struct amqp_bytes k1 = { 3, raw }, k2 = { 1, raw };

	hmap_put(&h, key(""), &a);
	hmap_put(&h, k1, &b);
	hmap_put(&h, k2, &c);
	ck_assert_ptr_eq(hmap_get(&h, key("")), &a);
	ck_assert_ptr_eq(hmap_get(&h, k1), &b);
	ck_assert_ptr_eq(hmap_get(&h, k2), &c);
	ck_assert_uint_eq(h.count, 3);
	hmap_free(&h);
}
END_TEST

START_TEST(test_growth_and_iteration)
{
	struct hmap        h = { 0 };
	static int         vals[5000];
	char               name[32];
	size_t             i, seen = 0;
	struct hmap_entry *e;

	for (i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "queue-%zu", i);
		vals[i] = (int)i;
		ck_assert_ptr_null(hmap_put(&h, key(name), &vals[i]));
	}
	ck_assert_uint_eq(h.count, 5000);
	ck_assert_uint_ge(h.nbuckets, 5000);
	for (i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "queue-%zu", i);
		ck_assert_ptr_eq(hmap_get(&h, key(name)), &vals[i]);
	}
	for (e = hmap_first(&h, &i); e; e = hmap_next(&h, &i, e)) {
		ck_assert_uint_eq(e->key[e->klen], 0); /* keys are NUL-terminated copies */
		seen++;
	}
	ck_assert_uint_eq(seen, 5000);
	for (i = 0; i < 5000; i += 2) {
		snprintf(name, sizeof(name), "queue-%zu", i);
		ck_assert_ptr_eq(hmap_del(&h, key(name)), &vals[i]);
	}
	ck_assert_uint_eq(h.count, 2500);
	for (i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "queue-%zu", i);
		if (i % 2)
			ck_assert_ptr_eq(hmap_get(&h, key(name)), &vals[i]);
		else
			ck_assert_ptr_null(hmap_get(&h, key(name)));
	}
	hmap_free(&h);
	ck_assert_uint_eq(h.count, 0);
	ck_assert_ptr_null(hmap_first(&h, &i));
}
END_TEST

Suite *
hmap_suite(void)
{
	Suite *s = suite_create("hmap");
	TCase *tc = tcase_create("hmap");

	tcase_add_test(tc, test_put_get_del);
	tcase_add_test(tc, test_empty_and_binary_keys);
	tcase_add_test(tc, test_growth_and_iteration);
	suite_add_tcase(s, tc);
	return s;
}
