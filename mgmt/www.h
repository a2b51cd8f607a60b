/*
 * The web console's static files (mgmt/www/), compiled into the daemon:
 * mgmt/gen_www.py turns them into mgmt/www_gen.c (committed; make check
 * fails when it is stale).  The console itself only talks to the public
 * /api, with the user's Basic credentials; its files need no login, as
 * RabbitMQ's do not.
 */
#ifndef MGMT_WWW_H
#define MGMT_WWW_H

#include <stdbool.h>
#include <stddef.h>

#include "mgmt/http.h"

struct mgmt_www_asset {
	const char *path;         /* "/index.html", "/app.js", ... */
	const char *content_type; /* static string */
	const char *etag;         /* quoted strong validator: a hash of the bytes */
	const char *data;
	size_t      len;
};

extern const struct mgmt_www_asset mgmt_www_assets[];
extern const size_t                mgmt_www_nassets;

/* The asset a request path names ("/" is "/index.html"), or NULL. */
const struct mgmt_www_asset *mgmt_www_find(const char *path, size_t len);

/*
 * Serve a request for an asset: GET or HEAD gets 200 with Content-Type,
 * ETag and Cache-Control: no-cache, or 304 when If-None-Match holds its
 * ETag; OPTIONS 200 and other methods 405, with Allow.  Returns false,
 * leaving resp alone, for other paths (the API's router answers those).
 */
bool mgmt_www_handle(const struct mgmt_req *req, struct mgmt_resp *resp);

#endif
