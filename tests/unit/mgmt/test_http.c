/*
 * mgmt/http.c without sockets: requests fed in pieces, pipelining,
 * keep-alive, limits (413, 431), malformed input (400), and the chunked
 * framing of large responses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgmt/http.h"
#include "tests/unit/mgmt/test_mgmt.h"

static int  calls;
static char last_url[256], last_body[256], last_auth[256];

static void
echo(const struct mgmt_req *req, struct mgmt_resp *resp)
{
	calls++;
	snprintf(last_url, sizeof(last_url), "%s", req->url.p);
	snprintf(last_body, sizeof(last_body), "%s", req->body.p);
	snprintf(last_auth, sizeof(last_auth), "%s", req->authorization.p);
	resp->status = 200;
	resp->content_type = "application/json";
	if (strcmp(req->url.p, "/big") == 0) {
		for (int i = 0; i < 100000; i++)
			mgmt_buf_add(&resp->body, "x", 1);
		return;
	}
	mgmt_buf_printf(&resp->body, "{\"n\":%d}", calls);
}

static struct mgmt_http_conn c;

static void
setup(void)
{
	calls = 0;
	mgmt_http_conn_init(&c, -1, echo);
}

static void
teardown(void)
{
	mgmt_http_conn_release(&c);
}

START_TEST(test_one_byte_at_a_time)
{
	const char *r = "PUT /api/queues/%2F/q HTTP/1.1\r\nHost: x\r\nAuthorization: Basic Zzo=\r\n"
	                "Content-Length: 7\r\n\r\n{\"a\":1}";

	for (size_t i = 0; r[i]; i++)
		ck_assert_int_eq(mgmt_http_conn_feed(&c, r + i, 1), 0);
	ck_assert_int_eq(calls, 1);
	ck_assert_str_eq(last_url, "/api/queues/%2F/q");
	ck_assert_str_eq(last_body, "{\"a\":1}");
	ck_assert_str_eq(last_auth, "Basic Zzo=");
	ck_assert_ptr_nonnull(strstr(c.out.p, "HTTP/1.1 200 OK\r\n"));
	ck_assert_ptr_nonnull(strstr(c.out.p, "content-length: 7\r\n"));
}
END_TEST

START_TEST(test_pipelined_keep_alive)
{
	const char *r = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";

	ck_assert_int_eq(mgmt_http_conn_feed(&c, r, strlen(r)), 0);
	ck_assert_int_eq(calls, 2);
	ck_assert_str_eq(last_url, "/b");
	char *second = strstr(c.out.p + 1, "HTTP/1.1 200");
	ck_assert_ptr_nonnull(second);
	ck_assert_ptr_nonnull(strstr(second, "{\"n\":2}"));
}
END_TEST

START_TEST(test_connection_close)
{
	const char *r = "GET /a HTTP/1.1\r\nConnection: close\r\n\r\n";

	ck_assert_int_eq(mgmt_http_conn_feed(&c, r, strlen(r)), -1);
	ck_assert_int_eq(calls, 1);
	ck_assert_ptr_nonnull(strstr(c.out.p, "connection: close\r\n"));
}
END_TEST

START_TEST(test_too_large_body_is_413)
{
	const char *r = "POST /a HTTP/1.1\r\nContent-Length: 999999999999\r\n\r\n";

	ck_assert_int_eq(mgmt_http_conn_feed(&c, r, strlen(r)), -1);
	ck_assert_int_eq(calls, 0);
	ck_assert_ptr_nonnull(strstr(c.out.p, "HTTP/1.1 413 "));
}
END_TEST

START_TEST(test_too_large_headers_is_431)
{
	char *r = malloc(MGMT_HTTP_MAX_HEADERS + 200);
	int   n = sprintf(r, "GET /a HTTP/1.1\r\nX-Big: ");
	memset(r + n, 'a', MGMT_HTTP_MAX_HEADERS + 10);
	strcpy(r + n + MGMT_HTTP_MAX_HEADERS + 10, "\r\n\r\n");
	ck_assert_int_eq(mgmt_http_conn_feed(&c, r, strlen(r)), -1);
	ck_assert_int_eq(calls, 0);
	ck_assert_ptr_nonnull(strstr(c.out.p, "HTTP/1.1 431 "));
	free(r);
}
END_TEST

START_TEST(test_garbage_is_400)
{
	ck_assert_int_eq(mgmt_http_conn_feed(&c, "\x01\x02 nonsense\r\n\r\n", 15), -1);
	ck_assert_int_eq(calls, 0);
	ck_assert_ptr_nonnull(strstr(c.out.p, "HTTP/1.1 400 "));
}
END_TEST

START_TEST(test_chunked_request_body)
{
	const char *r = "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";

	ck_assert_int_eq(mgmt_http_conn_feed(&c, r, strlen(r)), 0);
	ck_assert_str_eq(last_body, "abcde");
}
END_TEST

START_TEST(test_large_response_is_chunked)
{
	const char *r = "GET /big HTTP/1.1\r\n\r\n";

	ck_assert_int_eq(mgmt_http_conn_feed(&c, r, strlen(r)), 0);
	ck_assert_ptr_nonnull(strstr(c.out.p, "transfer-encoding: chunked\r\n"));
	ck_assert_ptr_null(strstr(c.out.p, "content-length"));
	ck_assert(c.out.len > 100000);
	ck_assert(memcmp(c.out.p + c.out.len - 5, "0\r\n\r\n", 5) == 0);
}
END_TEST

START_TEST(test_head_has_no_body)
{
	const char *r = "HEAD /a HTTP/1.1\r\n\r\n";

	ck_assert_int_eq(mgmt_http_conn_feed(&c, r, strlen(r)), 0);
	ck_assert_ptr_nonnull(strstr(c.out.p, "content-length: 7\r\n\r\n"));
	ck_assert(memcmp(c.out.p + c.out.len - 4, "\r\n\r\n", 4) == 0);
}
END_TEST

Suite *
http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_one_byte_at_a_time);
	tcase_add_test(tc, test_pipelined_keep_alive);
	tcase_add_test(tc, test_connection_close);
	tcase_add_test(tc, test_too_large_body_is_413);
	tcase_add_test(tc, test_too_large_headers_is_431);
	tcase_add_test(tc, test_garbage_is_400);
	tcase_add_test(tc, test_chunked_request_body);
	tcase_add_test(tc, test_large_response_is_chunked);
	tcase_add_test(tc, test_head_has_no_body);
	suite_add_tcase(s, tc);
	return s;
}
