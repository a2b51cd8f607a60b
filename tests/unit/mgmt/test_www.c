/*
 * mgmt/www.c over the HTTP framing without sockets: the console's files
 * at / and by name, their types and ETags, 304 on If-None-Match, HEAD,
 * other methods (405, as RabbitMQ), and everything that is not an asset
 * left to the API's router.
 */
#include <stdio.h>
#include <string.h>

#include "mgmt/http.h"
#include "mgmt/www.h"
#include "tests/unit/mgmt/test_mgmt.h"

static void
serve(const struct mgmt_req *req, struct mgmt_resp *resp)
{
	if (mgmt_www_handle(req, resp))
		return;
	resp->status = 404; /* what the API's router would answer */
}

static struct mgmt_http_conn c;

static void
setup(void)
{
	mgmt_http_conn_init(&c, -1, serve);
}

static void
teardown(void)
{
	mgmt_http_conn_release(&c);
}

static const char *
request(const char *r)
{
	c.out.len = 0;
	ck_assert_int_eq(mgmt_http_conn_feed(&c, r, strlen(r)), 0);
	ck_assert_ptr_nonnull(c.out.p);
	return c.out.p;
}

START_TEST(test_index_at_root)
{
	const struct mgmt_www_asset *a = mgmt_www_find("/", 1);

	ck_assert_ptr_nonnull(a);
	ck_assert_str_eq(a->path, "/index.html");
	const char *out = request("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_ptr_nonnull(strstr(out, "HTTP/1.1 200 OK\r\n"));
	ck_assert_ptr_nonnull(strstr(out, "content-type: text/html; charset=utf-8\r\n"));
	ck_assert_ptr_nonnull(strstr(out, "cache-control: no-cache\r\n"));
	ck_assert_ptr_nonnull(strstr(out, "<!DOCTYPE html>"));
	/* the login form's inputs are named as in RabbitMQ's console */
	ck_assert_ptr_nonnull(strstr(out, "name=\"username\""));
	ck_assert_ptr_nonnull(strstr(out, "name=\"password\""));
}
END_TEST

START_TEST(test_assets_and_types)
{
	static const char *const want[][2] = {
		{ "/index.html", "text/html; charset=utf-8" },
		{ "/app.js", "text/javascript; charset=utf-8" },
		{ "/app.css", "text/css; charset=utf-8" },
		{ "/favicon.svg", "image/svg+xml" },
	};
	char req[128], hdr[128];

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct mgmt_www_asset *a = mgmt_www_find(want[i][0], strlen(want[i][0]));
		ck_assert_ptr_nonnull(a);
		ck_assert_uint_gt(a->len, 0);
		ck_assert_uint_eq(strlen(a->data), a->len);
		snprintf(req, sizeof(req), "GET %s?v=1 HTTP/1.1\r\nHost: x\r\n\r\n", want[i][0]);
		const char *out = request(req);
		snprintf(hdr, sizeof(hdr), "content-type: %s\r\n", want[i][1]);
		ck_assert_ptr_nonnull(strstr(out, hdr));
		snprintf(hdr, sizeof(hdr), "etag: %s\r\n", a->etag);
		ck_assert_ptr_nonnull(strstr(out, hdr));
		snprintf(hdr, sizeof(hdr), "content-length: %zu\r\n", a->len);
		if (a->len <= MGMT_HTTP_CHUNK_OVER)
			ck_assert_ptr_nonnull(strstr(out, hdr));
	}
}
END_TEST

START_TEST(test_etags_differ)
{
	for (size_t i = 0; i < mgmt_www_nassets; i++) {
		ck_assert_int_eq(mgmt_www_assets[i].etag[0], '"');
		for (size_t j = i + 1; j < mgmt_www_nassets; j++)
			ck_assert_str_ne(mgmt_www_assets[i].etag, mgmt_www_assets[j].etag);
	}
}
END_TEST

START_TEST(test_if_none_match)
{
	const struct mgmt_www_asset *a = mgmt_www_find("/app.js", 7);
	char                         req[256];

	snprintf(req, sizeof(req), "GET /app.js HTTP/1.1\r\nIf-None-Match: %s\r\n\r\n", a->etag);
	const char *out = request(req);
	ck_assert_ptr_nonnull(strstr(out, "HTTP/1.1 304 Not Modified\r\n"));
	ck_assert_ptr_null(strstr(out, "\r\ncontent-length"));
	ck_assert_ptr_null(strstr(out, "\r\ncontent-type"));
	ck_assert(strstr(out, "\r\n\r\n")[4] == '\0'); /* no body */
	/* a list, a weak form, and * match too */
	snprintf(req, sizeof(req), "GET /app.js HTTP/1.1\r\nIf-None-Match: \"x\", W/%s\r\n\r\n", a->etag);
	ck_assert_ptr_nonnull(strstr(request(req), "HTTP/1.1 304 "));
	ck_assert_ptr_nonnull(strstr(request("GET /app.js HTTP/1.1\r\nIf-None-Match: *\r\n\r\n"), " 304 "));
	/* another file's ETag, or a stale one, gets the file */
	const struct mgmt_www_asset *b = mgmt_www_find("/app.css", 8);
	snprintf(req, sizeof(req), "GET /app.js HTTP/1.1\r\nIf-None-Match: %s\r\n\r\n", b->etag);
	ck_assert_ptr_nonnull(strstr(request(req), "HTTP/1.1 200 OK\r\n"));
	ck_assert_ptr_nonnull(strstr(request("GET /app.js HTTP/1.1\r\nIf-None-Match: \"0\"\r\n\r\n"), " 200 "));
}
END_TEST

START_TEST(test_head)
{
	const struct mgmt_www_asset *a = mgmt_www_find("/index.html", 11);
	char                         hdr[64];

	const char *out = request("HEAD /index.html HTTP/1.1\r\n\r\n");
	ck_assert_ptr_nonnull(strstr(out, "HTTP/1.1 200 OK\r\n"));
	snprintf(hdr, sizeof(hdr), "content-length: %zu\r\n", a->len);
	ck_assert_ptr_nonnull(strstr(out, hdr));
	ck_assert(strstr(out, "\r\n\r\n")[4] == '\0');
}
END_TEST

START_TEST(test_not_assets)
{
	static const char *const reqs[] = {
		"GET /api/overview HTTP/1.1\r\n\r\n",
		"GET /index.htm HTTP/1.1\r\n\r\n",
		"GET /../index.html HTTP/1.1\r\n\r\n",
		"GET //index.html HTTP/1.1\r\n\r\n",
		"GET /www/app.js HTTP/1.1\r\n\r\n",
		"POST /api/ HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++)
		ck_assert_ptr_nonnull(strstr(request(reqs[i]), "HTTP/1.1 404 "));
	ck_assert_ptr_null(mgmt_www_find("", 0));
}
END_TEST

START_TEST(test_other_methods)
{
	const char *out = request("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
	ck_assert_ptr_nonnull(strstr(out, "HTTP/1.1 405 Method Not Allowed\r\n"));
	ck_assert_ptr_nonnull(strstr(out, "allow: HEAD, GET, OPTIONS\r\n"));
	ck_assert_ptr_nonnull(strstr(request("DELETE /app.js HTTP/1.1\r\n\r\n"), " 405 "));
	out = request("OPTIONS /index.html HTTP/1.1\r\n\r\n");
	ck_assert_ptr_nonnull(strstr(out, "HTTP/1.1 200 OK\r\n"));
	ck_assert_ptr_nonnull(strstr(out, "allow: HEAD, GET, OPTIONS\r\n"));
}
END_TEST

Suite *
www_suite(void)
{
	Suite *s = suite_create("www");
	TCase *tc = tcase_create("www");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_index_at_root);
	tcase_add_test(tc, test_assets_and_types);
	tcase_add_test(tc, test_etags_differ);
	tcase_add_test(tc, test_if_none_match);
	tcase_add_test(tc, test_head);
	tcase_add_test(tc, test_not_assets);
	tcase_add_test(tc, test_other_methods);
	suite_add_tcase(s, tc);
	return s;
}
