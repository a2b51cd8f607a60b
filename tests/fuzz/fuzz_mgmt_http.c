/*
 * libFuzzer target for the management API's request handling: bytes from
 * the network go through http.c's framing (http_parser) in two pieces
 * split where the input says, and every complete request's target, query
 * parameters and body go through query.c (path decoding, columns, sort,
 * pagination, body leniency), as the API does before touching the broker.
 * The web console's files are served first (www.c: paths, If-None-Match).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mgmt/http.h"
#include "mgmt/query.h"
#include "mgmt/www.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
handler(const struct mgmt_req *req, struct mgmt_resp *resp)
{
	struct mgmt_target t;
	json_error_t       e;

	if (mgmt_www_handle(req, resp))
		return;
	resp->status = 200;
	resp->content_type = "application/json";
	if (mgmt_target_parse(req->url.p ? req->url.p : "/", &t) != 0) {
		mgmt_target_free(&t);
		resp->status = 404;
		return;
	}
	json_t *body = json_loadb(req->body.p ? req->body.p : "", req->body.len, JSON_DECODE_ANY, &e);
	json_t *arr = json_array();
	if (json_is_object(body)) {
		bool    b;
		int64_t i;
		const char *key;
		json_t     *v;
		json_object_foreach (body, key, v) {
			mgmt_json_bool(v, &b);
			mgmt_json_int(v, &i);
		}
		json_array_append(arr, body);
	} else if (json_is_array(body)) {
		size_t  k;
		json_t *v;
		json_array_foreach (body, k, v)
			json_array_append(arr, v);
	}
	const char *sort = mgmt_target_param(&t, "sort");
	const char *columns = mgmt_target_param(&t, "columns");
	const char *page = mgmt_target_param(&t, "page");
	mgmt_sort(arr, sort, mgmt_target_param(&t, "sort_reverse") != NULL);
	if (page) {
		json_t     *out;
		const char *err;
		char        reason[256];
		if (mgmt_paginate(arr, page, mgmt_target_param(&t, "page_size"),
		                  mgmt_target_param(&t, "name"), mgmt_target_param(&t, "use_regex") != NULL,
		                  &out, &err, reason, sizeof(reason)) == 0)
			json_decref(out);
	}
	if (columns)
		mgmt_columns_array(arr, columns);
	char *s = json_dumps(arr, JSON_COMPACT);
	if (s) {
		mgmt_buf_add(&resp->body, s, strlen(s));
		free(s);
	}
	json_decref(arr);
	json_decref(body);
	for (size_t k = 0; k < t.nsegs; k++) {
		char *q = mgmt_quote_plus(t.segs[k], strlen(t.segs[k]));
		char *p = mgmt_pct_encode(q);
		free(q);
		free(p);
	}
	mgmt_target_free(&t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mgmt_http_conn c;
	size_t                split = size ? data[0] % (size + 1) : 0;

	mgmt_http_conn_init(&c, -1, handler);
	if (mgmt_http_conn_feed(&c, (const char *)data, split) == 0 && size > split)
		mgmt_http_conn_feed(&c, (const char *)data + split, size - split);
	mgmt_http_conn_release(&c);
	return 0;
}
