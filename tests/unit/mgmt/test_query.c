/*
 * mgmt/query.c: path and query decoding, columns, sorting, pagination,
 * request-body leniency, base64 and UTF-8 checks.
 */
#include <stdlib.h>
#include <string.h>

#include "mgmt/query.h"
#include "tests/unit/mgmt/test_mgmt.h"

START_TEST(test_target_segments)
{
	struct mgmt_target t;

	ck_assert_int_eq(mgmt_target_parse("/api/queues/%2F/a%20b+c?columns=name,vhost&sort=&x=a+b", &t), 0);
	ck_assert_uint_eq(t.nsegs, 4);
	ck_assert_str_eq(t.segs[0], "api");
	ck_assert_str_eq(t.segs[2], "/");
	ck_assert_str_eq(t.segs[3], "a b+c"); /* '+' is not a space in a path */
	ck_assert_str_eq(mgmt_target_param(&t, "columns"), "name,vhost");
	ck_assert_str_eq(mgmt_target_param(&t, "sort"), "");
	ck_assert_str_eq(mgmt_target_param(&t, "x"), "a b"); /* but it is in a query */
	ck_assert_ptr_null(mgmt_target_param(&t, "page"));
	mgmt_target_free(&t);
	ck_assert_int_eq(mgmt_target_parse("/api/queues/", &t), 0);
	ck_assert_uint_eq(t.nsegs, 2);
	ck_assert(t.trailing_slash);
	mgmt_target_free(&t);
	ck_assert_int_eq(mgmt_target_parse("/api/%2f/%zz/%4", &t), 0);
	ck_assert_str_eq(t.segs[1], "/");
	ck_assert_str_eq(t.segs[2], "%zz"); /* malformed escapes stay as they are */
	ck_assert_str_eq(t.segs[3], "%4");
	mgmt_target_free(&t);
}
END_TEST

START_TEST(test_quote_plus)
{
	char *s = mgmt_quote_plus("order.* a/#%~", 13);
	ck_assert_str_eq(s, "order.%2A+a%2F%23%25~");
	free(s);
	s = mgmt_pct_encode("order.%2A");
	ck_assert_str_eq(s, "order.%252A");
	free(s);
}
END_TEST

static json_t *
load(const char *s)
{
	json_error_t e;
	json_t      *j = json_loads(s, 0, &e);
	ck_assert_ptr_nonnull(j);
	return j;
}

static void
assert_json(json_t *got, const char *want)
{
	json_t *w = load(want);
	char   *gs = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT);
	char   *ws = json_dumps(w, JSON_SORT_KEYS | JSON_COMPACT);
	ck_assert_str_eq(gs, ws);
	free(gs);
	free(ws);
	json_decref(w);
}

START_TEST(test_columns)
{
	json_t *o = load("{\"name\":\"q\",\"vhost\":\"/\",\"messages\":3,"
	                 "\"message_stats\":{\"publish\":5,\"publish_details\":{\"rate\":1.5}}}");
	json_t *c = mgmt_columns(o, "name,message_stats.publish_details.rate,nope", true);
	assert_json(c, "{\"name\":\"q\",\"message_stats\":{\"publish_details\":{\"rate\":1.5}}}");
	json_decref(c);
	c = mgmt_columns(o, "message_stats.publish", false);
	assert_json(c, "{\"message_stats\":{\"publish\":5,\"publish_details\":{\"rate\":1.5}}}");
	json_decref(c);
	c = mgmt_columns(o, "name,garbage.rate", true);
	assert_json(c, "{\"name\":\"q\",\"garbage\":[]}");
	json_decref(c);
	json_decref(o);
}
END_TEST

START_TEST(test_sort)
{
	json_t *a = load("[{\"vhost\":\"b\",\"name\":\"x\",\"m\":2},{\"vhost\":\"a\",\"name\":\"z\",\"m\":10},"
	                 "{\"vhost\":\"a\",\"name\":\"y\",\"m\":1}]");
	mgmt_sort(a, NULL, false);
	assert_json(a, "[{\"vhost\":\"a\",\"name\":\"y\",\"m\":1},{\"vhost\":\"a\",\"name\":\"z\",\"m\":10},"
	               "{\"vhost\":\"b\",\"name\":\"x\",\"m\":2}]");
	mgmt_sort(a, "m", true); /* numeric, not lexical */
	assert_json(a, "[{\"vhost\":\"a\",\"name\":\"z\",\"m\":10},{\"vhost\":\"b\",\"name\":\"x\",\"m\":2},"
	               "{\"vhost\":\"a\",\"name\":\"y\",\"m\":1}]");
	mgmt_sort(a, "", false); /* empty sort= leaves the order alone */
	assert_json(a, "[{\"vhost\":\"a\",\"name\":\"z\",\"m\":10},{\"vhost\":\"b\",\"name\":\"x\",\"m\":2},"
	               "{\"vhost\":\"a\",\"name\":\"y\",\"m\":1}]");
	json_decref(a);
}
END_TEST

START_TEST(test_paginate)
{
	json_t     *a = load("[{\"name\":\"a1\"},{\"name\":\"b2\"},{\"name\":\"A3\"},{\"name\":\"c4\"},{\"name\":\"a5\"}]");
	json_t     *out;
	const char *err;
	char        reason[200];

	ck_assert_int_eq(mgmt_paginate(a, "1", "2", NULL, false, &out, &err, reason, sizeof(reason)), 0);
	assert_json(out, "{\"filtered_count\":5,\"item_count\":2,\"items\":[{\"name\":\"a1\"},"
	                 "{\"name\":\"b2\"}],\"page\":1,\"page_count\":3,\"page_size\":2,\"total_count\":5}");
	json_decref(out);
	ck_assert_int_eq(mgmt_paginate(a, "1", NULL, "a", false, &out, &err, reason, sizeof(reason)), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(out, "filtered_count")), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(out, "page_size")), 100);
	json_decref(out);
	ck_assert_int_eq(mgmt_paginate(a, "1", NULL, "^a[0-9]$", true, &out, &err, reason, sizeof(reason)), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(out, "filtered_count")), 3);
	json_decref(out);
	ck_assert_int_eq(mgmt_paginate(a, "99", "2", NULL, false, &out, &err, reason, sizeof(reason)), -1);
	ck_assert_str_eq(err, "page_out_of_range");
	ck_assert_str_eq(reason, "Page out of range, page: 99 page size: 2, len: 5");
	ck_assert_int_eq(mgmt_paginate(a, "0", NULL, NULL, false, &out, &err, reason, sizeof(reason)), -1);
	ck_assert_str_eq(err, "invalid_pagination_parameters");
	ck_assert_str_eq(reason, "Invalid pagination parameters: page number 0, page size undefined");
	ck_assert_int_eq(mgmt_paginate(a, "1", "501", NULL, false, &out, &err, reason, sizeof(reason)), -1);
	ck_assert_str_eq(err, "invalid_pagination_parameters");
	ck_assert_int_eq(mgmt_paginate(a, "abc", NULL, NULL, false, &out, &err, reason, sizeof(reason)), -1);
	ck_assert_str_eq(err, "bad_request");
	ck_assert_str_eq(reason, "Pagination parameters are invalid");
	ck_assert_int_eq(mgmt_paginate(a, "1", NULL, "(", true, &out, &err, reason, sizeof(reason)), -1);
	ck_assert_str_eq(err, "bad_request");
	/* nothing matches: page 1 is fine, with page_count 0 */
	ck_assert_int_eq(mgmt_paginate(a, "1", NULL, "zzz", false, &out, &err, reason, sizeof(reason)), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(out, "page_count")), 0);
	json_decref(out);
	json_decref(a);
}
END_TEST

START_TEST(test_leniency)
{
	json_t *o = load("{\"t\":true,\"ts\":\"true\",\"fs\":\"false\",\"bad\":\"yes\",\"n\":5,"
	                 "\"ns\":\"12\",\"neg\":\"-3\",\"r\":2.0,\"rf\":2.5,\"nn\":\"1x\",\"e\":\"\"}");
	bool    b;
	int64_t i;

	ck_assert_int_eq(mgmt_json_bool(json_object_get(o, "t"), &b), 0);
	ck_assert(b);
	ck_assert_int_eq(mgmt_json_bool(json_object_get(o, "ts"), &b), 0);
	ck_assert(b);
	ck_assert_int_eq(mgmt_json_bool(json_object_get(o, "fs"), &b), 0);
	ck_assert(!b);
	ck_assert_int_eq(mgmt_json_bool(json_object_get(o, "bad"), &b), -1);
	ck_assert_int_eq(mgmt_json_bool(NULL, &b), -1);
	ck_assert_int_eq(mgmt_json_int(json_object_get(o, "n"), &i), 0);
	ck_assert_int_eq(i, 5);
	ck_assert_int_eq(mgmt_json_int(json_object_get(o, "ns"), &i), 0);
	ck_assert_int_eq(i, 12);
	ck_assert_int_eq(mgmt_json_int(json_object_get(o, "neg"), &i), 0);
	ck_assert_int_eq(i, -3);
	ck_assert_int_eq(mgmt_json_int(json_object_get(o, "r"), &i), 0);
	ck_assert_int_eq(i, 2);
	ck_assert_int_eq(mgmt_json_int(json_object_get(o, "rf"), &i), -1);
	ck_assert_int_eq(mgmt_json_int(json_object_get(o, "nn"), &i), -1);
	ck_assert_int_eq(mgmt_json_int(json_object_get(o, "e"), &i), -1);
	json_decref(o);
}
END_TEST

START_TEST(test_base64_utf8)
{
	uint8_t *out;
	size_t   n;
	char    *s = mgmt_base64_encode("stdin-payload\n", 14);

	ck_assert_str_eq(s, "c3RkaW4tcGF5bG9hZAo=");
	ck_assert_int_eq(mgmt_base64_decode(s, strlen(s), &out, &n), 0);
	ck_assert_uint_eq(n, 14);
	ck_assert(memcmp(out, "stdin-payload\n", 14) == 0);
	free(out);
	free(s);
	ck_assert_int_eq(mgmt_base64_decode("a$==", 4, &out, &n), -1);
	ck_assert(mgmt_utf8_valid((const uint8_t *)"h\xc3\xa9llo", 6));
	ck_assert(!mgmt_utf8_valid((const uint8_t *)"\xff\x00", 2));
	ck_assert(!mgmt_utf8_valid((const uint8_t *)"\xc3", 1));
	ck_assert(!mgmt_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3)); /* a surrogate */
}
END_TEST

Suite *
query_suite(void)
{
	Suite *s = suite_create("query");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_target_segments);
	tcase_add_test(tc, test_quote_plus);
	tcase_add_test(tc, test_columns);
	tcase_add_test(tc, test_sort);
	tcase_add_test(tc, test_paginate);
	tcase_add_test(tc, test_leniency);
	tcase_add_test(tc, test_base64_utf8);
	suite_add_tcase(s, tc);
	return s;
}
