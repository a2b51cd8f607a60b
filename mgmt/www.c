/*
 * Serving the web console's files from memory.  The bytes, types and
 * ETags come from mgmt/www_gen.c; this file matches paths and applies
 * the conditional-request rules.  No file system access at run time.
 */
#include "mgmt/www.h"

#include <string.h>

const struct mgmt_www_asset *
mgmt_www_find(const char *path, size_t len)
{
	if (len == 1 && path[0] == '/') {
		path = "/index.html";
		len = strlen(path);
	}
	for (size_t i = 0; i < mgmt_www_nassets; i++)
		if (strlen(mgmt_www_assets[i].path) == len &&
		    memcmp(mgmt_www_assets[i].path, path, len) == 0)
			return &mgmt_www_assets[i];
	return NULL;
}

/* Does an If-None-Match list ("a", W/"b", or *) name this ETag? */
static bool
etag_matches(const char *inm, const char *etag)
{
	size_t elen = strlen(etag);

	for (const char *p = inm; *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return true;
		if (strncmp(p, "W/", 2) == 0)
			p += 2; /* weak comparison, as RFC 9110 asks for If-None-Match */
		size_t n = strcspn(p, ",");
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == elen && memcmp(p, etag, n) == 0)
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

bool
mgmt_www_handle(const struct mgmt_req *req, struct mgmt_resp *resp)
{
	const char *url = req->url.p ? req->url.p : "";

	const struct mgmt_www_asset *a = mgmt_www_find(url, strcspn(url, "?#"));
	if (a == NULL)
		return false;
	if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
		/* as RabbitMQ answers for its static files */
		mgmt_buf_printf(&resp->headers, "allow: HEAD, GET, OPTIONS\r\n");
		resp->status = req->method == HTTP_OPTIONS ? 200 : 405;
		return true;
	}
	mgmt_buf_printf(&resp->headers,
	                "etag: %s\r\n"
	                "x-content-type-options: nosniff\r\n"
	                "x-frame-options: DENY\r\n"
	                "content-security-policy: default-src 'self'; img-src 'self' data:; "
	                "frame-ancestors 'none'\r\n",
	                a->etag);
	resp->no_cache = true; /* revalidate each time: the ETag makes that a 304 */
	resp->content_type = a->content_type;
	if (req->if_none_match.p && etag_matches(req->if_none_match.p, a->etag)) {
		resp->status = 304;
		return true;
	}
	resp->status = 200;
	mgmt_buf_add(&resp->body, a->data, a->len);
	return true;
}
