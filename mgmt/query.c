/*
 * URL decoding, list parameters and request-body leniency for the
 * management API.  Everything here is a pure function of its arguments.
 */
#include "mgmt/query.h"

#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/util.h"

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *
mgmt_pct_decode(const char *s, size_t n, bool plus_is_space, size_t *outlen)
{
	char  *out = xmalloc(n + 1);
	size_t j = 0;

	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < n &&
		    (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)s[i + 2])) >= 0) {
			out[j++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (s[i] == '+' && plus_is_space) {
			out[j++] = ' ';
		} else {
			out[j++] = s[i];
		}
	}
	out[j] = '\0';
	if (outlen)
		*outlen = j;
	return out;
}

static bool
unreserved(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '.' || c == '-' || c == '~';
}

char *
mgmt_quote_plus(const char *s, size_t n)
{
	char  *out = xmalloc(3 * n + 1);
	size_t j = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c)) {
			out[j++] = (char)c;
		} else if (c == ' ') {
			out[j++] = '+';
		} else {
			snprintf(out + j, 4, "%%%02X", c);
			j += 3;
		}
	}
	out[j] = '\0';
	return out;
}

char *
mgmt_pct_encode(const char *s)
{
	size_t n = strlen(s);
	char  *out = xmalloc(3 * n + 1);
	size_t j = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c)) {
			out[j++] = (char)c;
		} else {
			snprintf(out + j, 4, "%%%02X", c);
			j += 3;
		}
	}
	out[j] = '\0';
	return out;
}

int
mgmt_target_parse(const char *url, struct mgmt_target *t)
{
	const char *q = strchr(url, '?');
	size_t      plen = q ? (size_t)(q - url) : strlen(url);
	const char *p = url, *end = url + plen;

	memset(t, 0, sizeof(*t));
	t->raw_path = xstrndup(url, plen);
	/* an absolute-form target ("http://host/api/...") */
	if (plen > 7 && (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0)) {
		const char *slash = memchr(url + 8, '/', plen - 8);
		p = slash ? slash : end;
	}
	while (p < end && *p == '/')
		p++;
	while (p < end) {
		const char *s = memchr(p, '/', (size_t)(end - p));
		size_t      n = s ? (size_t)(s - p) : (size_t)(end - p);
		if (t->nsegs == MGMT_MAX_SEGS)
			return -1;
		t->segs[t->nsegs++] = mgmt_pct_decode(p, n, false, NULL);
		p += n;
		if (s) {
			p++;
			if (p == end)
				t->trailing_slash = true;
		}
	}
	if (q) {
		const char *a = q + 1;
		while (*a) {
			const char *amp = strchr(a, '&');
			size_t      n = amp ? (size_t)(amp - a) : strlen(a);
			const char *eq = memchr(a, '=', n);
			if (n && t->nq < sizeof(t->qkeys) / sizeof(t->qkeys[0])) {
				size_t kl = eq ? (size_t)(eq - a) : n;
				t->qkeys[t->nq] = mgmt_pct_decode(a, kl, true, NULL);
				t->qvals[t->nq] = eq ? mgmt_pct_decode(eq + 1, n - kl - 1, true, NULL) :
				                       xstrndup("", 0);
				t->nq++;
			}
			a += n;
			if (*a == '&')
				a++;
		}
	}
	return 0;
}

void
mgmt_target_free(struct mgmt_target *t)
{
	for (size_t i = 0; i < t->nsegs; i++)
		free(t->segs[i]);
	for (size_t i = 0; i < t->nq; i++) {
		free(t->qkeys[i]);
		free(t->qvals[i]);
	}
	free(t->raw_path);
	memset(t, 0, sizeof(*t));
}

const char *
mgmt_target_param(const struct mgmt_target *t, const char *key)
{
	const char *v = NULL;

	for (size_t i = 0; i < t->nq; i++)
		if (strcmp(t->qkeys[i], key) == 0)
			v = t->qvals[i];
	return v;
}

/* Columns. */

json_t *
mgmt_json_path(json_t *obj, const char *path)
{
	char   *copy = xstrndup(path, strlen(path));
	char   *save = NULL;
	json_t *v = obj;

	for (char *tok = strtok_r(copy, ".", &save); tok && v; tok = strtok_r(NULL, ".", &save))
		v = json_is_object(v) ? json_object_get(v, tok) : NULL;
	free(copy);
	return v;
}

static void
add_column(json_t *out, json_t *obj, const char *col, bool deep)
{
	const char *dot = strchr(col, '.');
	char        top[256];

	if (dot == NULL) {
		json_t *v = json_object_get(obj, col);
		if (v)
			json_object_set(out, col, v);
		return;
	}
	snprintf(top, sizeof(top), "%.*s", (int)(dot - col), col);
	json_t *tv = json_object_get(obj, top);
	if (tv == NULL) {
		if (json_object_get(out, top) == NULL)
			json_object_set_new(out, top, json_array());
		return;
	}
	if (!deep || !json_is_object(tv)) {
		json_object_set(out, top, tv);
		return;
	}
	json_t *leaf = mgmt_json_path(obj, col);
	if (leaf == NULL) {
		if (json_object_get(out, top) == NULL)
			json_object_set_new(out, top, json_array());
		return;
	}
	/* build the nested objects down to the leaf */
	char   *copy = xstrndup(col, strlen(col));
	char   *save = NULL, *tok, *next;
	json_t *cur = out;
	tok = strtok_r(copy, ".", &save);
	while (tok) {
		next = strtok_r(NULL, ".", &save);
		if (next == NULL) {
			json_object_set(cur, tok, leaf);
			break;
		}
		json_t *sub = json_object_get(cur, tok);
		if (!json_is_object(sub)) {
			sub = json_object();
			json_object_set_new(cur, tok, sub);
		}
		cur = sub;
		tok = next;
	}
	free(copy);
}

json_t *
mgmt_columns(json_t *obj, const char *columns, bool deep)
{
	json_t *out = json_object();
	char   *copy = xstrndup(columns, strlen(columns));
	char   *save = NULL;

	for (char *col = strtok_r(copy, ",", &save); col; col = strtok_r(NULL, ",", &save))
		if (*col)
			add_column(out, obj, col, deep);
	free(copy);
	return out;
}

void
mgmt_columns_array(json_t *arr, const char *columns)
{
	size_t  i;
	json_t *v;

	json_array_foreach (arr, i, v) {
		if (!json_is_object(v))
			continue;
		json_array_set_new(arr, i, mgmt_columns(v, columns, true));
	}
}

/* Sorting. */

struct sort_item {
	json_t *v;
	json_t *key;
	size_t  idx;
};

static int
cmp_json(json_t *a, json_t *b)
{
	/* missing/null < numbers < booleans < strings < others */
	int ra = a == NULL || json_is_null(a) ? 0 : json_is_number(a) ? 1 : json_is_boolean(a) ? 2 :
	         json_is_string(a) ? 3 : 4;
	int rb = b == NULL || json_is_null(b) ? 0 : json_is_number(b) ? 1 : json_is_boolean(b) ? 2 :
	         json_is_string(b) ? 3 : 4;
	if (ra != rb)
		return ra < rb ? -1 : 1;
	if (ra == 1) {
		double x = json_number_value(a), y = json_number_value(b);
		return x < y ? -1 : x > y;
	}
	if (ra == 2)
		return json_is_true(a) - json_is_true(b);
	if (ra == 3)
		return strcmp(json_string_value(a), json_string_value(b));
	return 0;
}

static const char *sort_field;

static int
cmp_items(const void *pa, const void *pb)
{
	const struct sort_item *a = pa, *b = pb;
	int                     c;

	if (sort_field) {
		c = cmp_json(a->key, b->key);
		if (c)
			return c;
	} else {
		c = cmp_json(json_object_get(a->v, "vhost"), json_object_get(b->v, "vhost"));
		if (c)
			return c;
		c = cmp_json(json_object_get(a->v, "name"), json_object_get(b->v, "name"));
		if (c)
			return c;
	}
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

void
mgmt_sort(json_t *arr, const char *field, bool reverse)
{
	size_t            n = json_array_size(arr), i;
	struct sort_item *items;

	if (field && *field == '\0') {
		field = NULL;
		if (!reverse)
			return;
		goto do_reverse;
	}
	items = xmalloc((n ? n : 1) * sizeof(*items));
	for (i = 0; i < n; i++) {
		items[i].v = json_incref(json_array_get(arr, i));
		items[i].key = field ? mgmt_json_path(items[i].v, field) : NULL;
		items[i].idx = i;
	}
	sort_field = field;
	qsort(items, n, sizeof(*items), cmp_items);
	for (i = 0; i < n; i++)
		json_array_set_new(arr, i, items[i].v);
	free(items);
	if (!reverse)
		return;
do_reverse:
	for (i = 0; i < n / 2; i++) {
		json_t *a = json_incref(json_array_get(arr, i));
		json_t *b = json_incref(json_array_get(arr, n - 1 - i));
		json_array_set_new(arr, i, b);
		json_array_set_new(arr, n - 1 - i, a);
	}
}

/* Pagination. */

static int
parse_pos(const char *s, long *out)
{
	char *end;

	if (s == NULL || *s == '\0' || !(isdigit((unsigned char)*s) || *s == '-'))
		return -1;
	long v = strtol(s, &end, 10);
	if (*end != '\0' || v > 1000000000L || v < -1000000000L)
		return -1;
	*out = v;
	return 0;
}

static bool
icontains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	if (n == 0)
		return true;
	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return false;
}

int
mgmt_page_parse(struct mgmt_page *pg, const char *page, const char *page_size, const char *name,
                bool use_regex, const char **err_error, char *reason_buf, size_t reason_len)
{
	memset(pg, 0, sizeof(*pg));
	pg->size = 100;
	if (parse_pos(page, &pg->page) != 0 || (page_size && parse_pos(page_size, &pg->size) != 0)) {
		*err_error = "bad_request";
		snprintf(reason_buf, reason_len, "Pagination parameters are invalid");
		return -1;
	}
	if (pg->page < 1 || pg->size < 1 || pg->size > 500) {
		*err_error = "invalid_pagination_parameters";
		if (page_size)
			snprintf(reason_buf, reason_len,
			         "Invalid pagination parameters: page number %ld, page size %ld", pg->page,
			         pg->size);
		else
			snprintf(reason_buf, reason_len,
			         "Invalid pagination parameters: page number %ld, page size undefined",
			         pg->page);
		return -1;
	}
	if (name && *name) {
		pg->name = name;
		if (use_regex) {
			if (regcomp(&pg->re, name, REG_EXTENDED | REG_NOSUB | REG_ICASE) != 0) {
				*err_error = "bad_request";
				snprintf(reason_buf, reason_len, "Pagination parameters are invalid");
				return -1;
			}
			pg->have_re = true;
		}
	}
	return 0;
}

bool
mgmt_page_match(const struct mgmt_page *pg, const char *name)
{
	if (pg->name == NULL)
		return true;
	if (name == NULL)
		return false;
	return pg->have_re ? regexec(&pg->re, name, 0, NULL, 0) == 0 : icontains(name, pg->name);
}

void
mgmt_page_free(struct mgmt_page *pg)
{
	if (pg->have_re)
		regfree(&pg->re);
	pg->have_re = false;
}

int
mgmt_paginate(json_t *arr, const char *page, const char *page_size, const char *name,
              bool use_regex, json_t **out, const char **err_error, char *reason_buf,
              size_t reason_len)
{
	struct mgmt_page pg;

	if (mgmt_page_parse(&pg, page, page_size, name, use_regex, err_error, reason_buf,
	                    reason_len) != 0)
		return -1;
	long    ps = pg.size;
	json_t *filtered = json_array();
	size_t  i;
	json_t *v;
	json_array_foreach (arr, i, v) {
		if (!mgmt_page_match(&pg, json_string_value(json_object_get(v, "name"))))
			continue;
		json_array_append(filtered, v);
	}
	mgmt_page_free(&pg);
	size_t total = json_array_size(arr), nf = json_array_size(filtered);
	size_t start = (size_t)(pg.page - 1) * (size_t)ps;
	if (start >= nf && pg.page > 1) {
		*err_error = "page_out_of_range";
		snprintf(reason_buf, reason_len, "Page out of range, page: %ld page size: %ld, len: %zu",
		         pg.page, ps, nf);
		json_decref(filtered);
		return -1;
	}
	json_t *items = json_array();
	for (i = start; i < nf && i < start + (size_t)ps; i++)
		json_array_append(items, json_array_get(filtered, i));
	*out = json_pack("{s:I,s:I,s:o,s:I,s:I,s:I,s:I}", "filtered_count", (json_int_t)nf,
	                 "item_count", (json_int_t)json_array_size(items), "items", items, "page",
	                 (json_int_t)pg.page, "page_count",
	                 (json_int_t)((nf + (size_t)ps - 1) / (size_t)ps), "page_size", (json_int_t)ps,
	                 "total_count", (json_int_t)total);
	json_decref(filtered);
	return 0;
}

/* Leniency. */

int
mgmt_json_bool(json_t *v, bool *out)
{
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return 0;
	}
	if (json_is_string(v)) {
		if (strcmp(json_string_value(v), "true") == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(json_string_value(v), "false") == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

int
mgmt_json_int(json_t *v, int64_t *out)
{
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		if (d != (double)(int64_t)d)
			return -1;
		*out = (int64_t)d;
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char       *end;
		if (*s == '\0' || isspace((unsigned char)*s))
			return -1;
		long long x = strtoll(s, &end, 10);
		if (*end != '\0')
			return -1;
		*out = x;
		return 0;
	}
	return -1;
}

/* base64 and UTF-8. */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
mgmt_base64_encode(const void *src, size_t n)
{
	const uint8_t *p = src;
	char          *out = xmalloc(4 * ((n + 2) / 3) + 1);
	size_t         j = 0, i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[j++] = b64[v >> 18];
		out[j++] = b64[(v >> 12) & 63];
		out[j++] = b64[(v >> 6) & 63];
		out[j++] = b64[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
		out[j++] = b64[v >> 18];
		out[j++] = b64[(v >> 12) & 63];
		out[j++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		out[j++] = '=';
	}
	out[j] = '\0';
	return out;
}

int
mgmt_base64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen)
{
	uint8_t *o = xmalloc(n / 4 * 3 + 3);
	size_t   j = 0;
	uint32_t acc = 0;
	int      bits = 0, pad = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '\r' || c == '\n' || c == ' ')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		const char *pos = c ? strchr(b64, c) : NULL;
		if (pos == NULL || pad) {
			free(o);
			return -1;
		}
		acc = acc << 6 | (uint32_t)(pos - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[j++] = (uint8_t)(acc >> bits);
		}
	}
	if (pad > 2) {
		free(o);
		return -1;
	}
	*out = o;
	*outlen = j;
	return 0;
}

bool
mgmt_utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = p[i];
		size_t  len;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}
