/*
 * A small JSON writer for listings: values appended as text straight to a
 * buffer, byte for byte what jansson's compact dump of the same value
 * gives (the listings must not change), without building a tree.  Plain
 * strings, integers and the usual rates take the fast paths; anything
 * unusual is handed to jansson.
 */
#ifndef MGMT_JSONW_H
#define MGMT_JSONW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mgmt/http.h"

/* A literal (already JSON text, e.g. a key with its colon). */
#define mgmt_jw_lit(b, s) mgmt_buf_add((b), (s), sizeof(s) - 1)

/* A string of n bytes, as mgmt_bytes_json() would dump it. */
void mgmt_jw_str(struct mgmt_buf *b, const void *p, size_t n);
void mgmt_jw_cstr(struct mgmt_buf *b, const char *s);
/* An integer, as json_integer(). */
void mgmt_jw_int(struct mgmt_buf *b, int64_t v);
/* A real, as json_real() (jansson's %.17g, ".0" added). */
void mgmt_jw_real(struct mgmt_buf *b, double r);
void mgmt_jw_bool(struct mgmt_buf *b, bool v);
/* {"rate":r}, as mgmt_rate(). */
void mgmt_jw_rate(struct mgmt_buf *b, double r);
/* Any JSON value (stolen; NULL writes nothing). */
void mgmt_jw_json(struct mgmt_buf *b, json_t *v);

#endif
