/*
 * libFuzzer target for field tables and basic properties: the input is
 * validated as a table body and walked recursively, iterated as an array
 * body, and decoded as encoded properties.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/props.h"
#include "amqp/spec_gen.h"
#include "amqp/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) abort(); } while (0)

static uint8_t scratch[1 << 20];

static int walk_table(struct amqp_bytes t, int depth, struct amqp_wbuf *w);
static int walk_array(struct amqp_bytes a, int depth, struct amqp_wbuf *w);

/*
 * Look at one value the way a handler would, and write it into w (nested
 * tables and arrays rebuilt from their walked contents).
 */
static int
walk_value(const struct amqp_field *v, int depth, struct amqp_wbuf *w)
{
	int64_t i;
	size_t  mark;
	int     rc = 0;

	CHECK(amqp_field_eq(v, v) || v->kind == 'f' || v->kind == 'd');
	(void)amqp_field_as_int(v, &i);
	if (depth > AMQP_TABLE_DEPTH_LIMIT + 1)
		return -1;
	if (v->kind == AMQP_FIELD_TABLE || v->kind == AMQP_FIELD_ARRAY) {
		amqp_wbuf_u8(w, v->kind);
		mark = amqp_table_begin(w);
		if (v->kind == AMQP_FIELD_TABLE)
			rc = walk_table(v->v.table, depth + 1, w);
		else
			rc = walk_array(v->v.array, depth + 1, w);
		amqp_table_end(w, mark);
		return rc;
	}
	amqp_field_put(w, v);
	return 0;
}

static int
walk_table(struct amqp_bytes t, int depth, struct amqp_wbuf *w)
{
	struct amqp_table_iter it;
	struct amqp_bytes      key;
	struct amqp_field      v, found;
	int                    rc;

	amqp_table_iter_init(&it, t);
	while ((rc = amqp_table_next(&it, &key, &v)) == 1) {
		CHECK(key.len <= 255);
		CHECK(key.len == 0 || (key.ptr >= t.ptr &&
		                       key.ptr + key.len <= t.ptr + t.len));
		amqp_table_put_key(w, key);
		if (walk_value(&v, depth, w) != 0)
			return -1;
	}
	(void)amqp_table_get(t, "x-match", &found);
	return rc;
}

static int
walk_array(struct amqp_bytes a, int depth, struct amqp_wbuf *w)
{
	struct amqp_array_iter it;
	struct amqp_field      v;
	int                    rc;

	amqp_array_iter_init(&it, a);
	while ((rc = amqp_array_next(&it, &v)) == 1)
		if (walk_value(&v, depth, w) != 0)
			return -1;
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct amqp_bytes       in = { size, data };
	struct amqp_basic_props props;
	struct amqp_wbuf        w;
	int                     rc;

	rc = amqp_table_validate(in);
	CHECK(rc == 0 || rc == -AMQP_SYNTAX_ERROR);
	amqp_wbuf_init(&w, scratch, sizeof(scratch));
	if (rc == 0) {
		/*
		 * A valid table walks to its end without an error, and the
		 * walk rebuilds a table of the same size that is valid too.
		 */
		CHECK(walk_table(in, 0, &w) == 0);
		CHECK(!w.overflow && w.len == size);
		CHECK(amqp_table_validate((struct amqp_bytes){ w.len, scratch })
		      == 0);
	} else {
		/* the walk must fail somewhere, or hit the depth limit */
		(void)walk_table(in, 0, &w);
	}

	/* the same bytes as an array body; no validation first */
	amqp_wbuf_init(&w, scratch, sizeof(scratch));
	(void)walk_array(in, 0, &w);

	/* and as encoded properties */
	if (amqp_props_decode(in, &props) == 0) {
		amqp_wbuf_init(&w, scratch, sizeof(scratch));
		amqp_props_encode(&w, &props);
		CHECK(!w.overflow && w.len == size);
		if (props.flags & AMQP_PROP_HEADERS)
			CHECK(amqp_table_validate(props.headers) == 0);
	}
	return 0;
}
