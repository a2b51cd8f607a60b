/*
 * The pure parts of the management API: URL path and query string
 * decoding, RabbitMQ's list parameters (columns, sort, sort_reverse,
 * page, page_size, name, use_regex) applied to JSON arrays, and the
 * leniency RabbitMQ shows request bodies (booleans and numbers as
 * strings).  No broker state, no sockets: unit-tested on their own.
 */
#ifndef MGMT_QUERY_H
#define MGMT_QUERY_H

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MGMT_MAX_SEGS 16

/* A request target split into decoded path segments and query parameters. */
struct mgmt_target {
	char  *segs[MGMT_MAX_SEGS]; /* owned, percent-decoded once ("+" stays "+") */
	size_t nsegs;
	bool   trailing_slash;
	char  *qkeys[32], *qvals[32]; /* owned, decoded ("+" is a space in a query) */
	size_t nq;
	char  *raw_path;              /* owned, undecoded path, for messages */
};

/*
 * Split a request target ("/api/queues/%2F/q?columns=name") into *t.
 * Returns 0, or -1 if there are too many segments.  Release with
 * mgmt_target_free().
 */
int  mgmt_target_parse(const char *url, struct mgmt_target *t);
void mgmt_target_free(struct mgmt_target *t);
/* The last value of a query parameter, or NULL. */
const char *mgmt_target_param(const struct mgmt_target *t, const char *key);

/*
 * Percent-decode n bytes of s into a new NUL-terminated string; a '+'
 * becomes a space only if plus_is_space.  Malformed escapes are kept as
 * they are.  *outlen (may be NULL) gets the decoded length.
 */
char *mgmt_pct_decode(const char *s, size_t n, bool plus_is_space, size_t *outlen);

/* Python's quote_plus, as RabbitMQ builds properties_key: [A-Za-z0-9_.~-] kept, ' ' -> '+'. */
char *mgmt_quote_plus(const char *s, size_t n);
/* Percent-encode everything but unreserved characters (for a Location header). */
char *mgmt_pct_encode(const char *s);

/*
 * Keep only the listed columns (comma-separated dotted paths) of an
 * object, in a new object.  deep: trim nested objects down to the
 * requested leaf (lists); otherwise keep the whole top-level value
 * (overview).  A nested column whose top-level key is missing comes back
 * as an empty array, as RabbitMQ does.
 */
json_t *mgmt_columns(json_t *obj, const char *columns, bool deep);
/* The value at a dotted path in obj (borrowed), or NULL. */
json_t *mgmt_json_path(json_t *obj, const char *path);
/* Apply mgmt_columns to each element of an array, in place. */
void    mgmt_columns_array(json_t *arr, const char *columns);

/*
 * Sort an array of objects by a dotted field (NULL: vhost then name; ""
 * leaves it as it is); numbers compare numerically and come before
 * strings; missing values first.  Stable.
 */
void mgmt_sort(json_t *arr, const char *field, bool reverse);

/* Parsed pagination parameters and the name filter. */
struct mgmt_page {
	long        page, size;
	const char *name;    /* borrowed; NULL or "" = no filter */
	bool        have_re;
	regex_t     re;      /* use_regex=true: name compiled */
};

/*
 * Check and parse page, page_size, name and use_regex into *pg (release
 * with mgmt_page_free).  Returns 0, or -1 with *err_error and *err_reason
 * as mgmt_paginate() reports them.
 */
int  mgmt_page_parse(struct mgmt_page *pg, const char *page, const char *page_size,
                     const char *name, bool use_regex, const char **err_error, char *reason_buf,
                     size_t reason_len);
/* Does an item's name pass the filter? */
bool mgmt_page_match(const struct mgmt_page *pg, const char *name);
void mgmt_page_free(struct mgmt_page *pg);

/*
 * Pagination, on only when page is given (non-NULL).  On success returns
 * 0 and *out is a new object {filtered_count, item_count, items, page,
 * page_count, page_size, total_count} holding the page of arr (which it
 * references); on a bad parameter returns -1 with *err_error and
 * *err_reason (static or written into reason_buf).
 */
int mgmt_paginate(json_t *arr, const char *page, const char *page_size, const char *name,
                  bool use_regex, json_t **out, const char **err_error, char *reason_buf,
                  size_t reason_len);

/*
 * Leniency: a JSON boolean or "true"/"false"; a JSON integer, an
 * integral real or a string of digits.  Return 0 with the value, -1 if v
 * is something else (NULL included).
 */
int mgmt_json_bool(json_t *v, bool *out);
int mgmt_json_int(json_t *v, int64_t *out);

/* base64 (standard alphabet, padded).  decode returns -1 on bad input. */
char *mgmt_base64_encode(const void *p, size_t n);
int   mgmt_base64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen);

/* Valid UTF-8 without NULs? (encoding "auto" of basic.get) */
bool mgmt_utf8_valid(const uint8_t *p, size_t n);

#endif
