/*
 * The listing writer.  It must agree with jansson exactly, so the fast
 * paths are only the cases whose output is obvious (printable ASCII
 * strings, integers, 0.0 and 1.0); the rest goes through jansson itself.
 */
#include "mgmt/jsonw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mgmt/api.h"
#include "server/util.h"

void
mgmt_jw_json(struct mgmt_buf *b, json_t *v)
{
	char   small[256];
	size_t n;

	if (v == NULL) {
		/* jansson refuses NaN and infinities; never seen in practice */
		mgmt_jw_lit(b, "null");
		return;
	}
	n = json_dumpb(v, small, sizeof(small), JSON_COMPACT | JSON_ENCODE_ANY);
	if (n <= sizeof(small)) {
		mgmt_buf_add(b, small, n);
	} else {
		char *p = xmalloc(n);
		json_dumpb(v, p, n, JSON_COMPACT | JSON_ENCODE_ANY);
		mgmt_buf_add(b, p, n);
		free(p);
	}
	json_decref(v);
}

void
mgmt_jw_str(struct mgmt_buf *b, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] >= 0x7f || s[i] == '"' || s[i] == '\\') {
			mgmt_jw_json(b, mgmt_bytes_json((struct amqp_bytes){ n, p }));
			return;
		}
	mgmt_buf_add(b, "\"", 1);
	mgmt_buf_add(b, p, n);
	mgmt_buf_add(b, "\"", 1);
}

void
mgmt_jw_cstr(struct mgmt_buf *b, const char *s)
{
	mgmt_jw_str(b, s, strlen(s));
}

void
mgmt_jw_int(struct mgmt_buf *b, int64_t v)
{
	char     tmp[24], *e = tmp + sizeof(tmp), *p = e;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	mgmt_buf_add(b, p, (size_t)(e - p));
}

void
mgmt_jw_real(struct mgmt_buf *b, double r)
{
	if (r == 0.0 && !signbit(r))
		mgmt_jw_lit(b, "0.0");
	else if (r == 1.0)
		mgmt_jw_lit(b, "1.0");
	else
		mgmt_jw_json(b, json_real(r));
}

void
mgmt_jw_bool(struct mgmt_buf *b, bool v)
{
	if (v)
		mgmt_jw_lit(b, "true");
	else
		mgmt_jw_lit(b, "false");
}

void
mgmt_jw_rate(struct mgmt_buf *b, double r)
{
	mgmt_jw_lit(b, "{\"rate\":");
	mgmt_jw_real(b, r);
	mgmt_buf_add(b, "}", 1);
}
