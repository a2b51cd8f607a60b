/*
 * amqp/table.c: every field type both ways against RabbitMQ's bytes,
 * nesting, lookups, and malformed tables (bad tags, lengths past the end
 * of the table or of the parent, depth bombs).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/spec_gen.h"
#include "amqp/table.h"
#include "tests/unit/amqp/golden.h"
#include "tests/unit/amqp/test_amqp.h"

static struct amqp_bytes
bytes(const void *p, size_t n)
{
	struct amqp_bytes b = { n, p };

	return b;
}

static struct amqp_bytes
golden_all(void)
{
	return bytes(golden_table_all, sizeof(golden_table_all));
}

/* Next entry, which must exist and have this key and kind. */
static void
next_is(struct amqp_table_iter *it, const char *key, uint8_t kind,
        struct amqp_field *v)
{
	struct amqp_bytes k;

	ck_assert_int_eq(amqp_table_next(it, &k, v), 1);
	ck_assert_msg(amqp_bytes_eq_cstr(k, key), "key %s", key);
	ck_assert_int_eq(v->kind, kind);
}

START_TEST(test_decode_every_type)
{
	struct amqp_table_iter it;
	struct amqp_array_iter ai;
	struct amqp_field      v, e;
	struct amqp_bytes      k;

	ck_assert_int_eq(amqp_table_validate(golden_all()), 0);
	amqp_table_iter_init(&it, golden_all());
	next_is(&it, "t", 't', &v);
	ck_assert(v.v.b);
	next_is(&it, "b", 'b', &v);
	ck_assert_int_eq(v.v.i, -5);
	next_is(&it, "B", 'B', &v);
	ck_assert_int_eq(v.v.i, 250);
	next_is(&it, "s", 's', &v);
	ck_assert_int_eq(v.v.i, -300);
	next_is(&it, "u", 'u', &v);
	ck_assert_int_eq(v.v.i, 60000);
	next_is(&it, "I", 'I', &v);
	ck_assert_int_eq(v.v.i, -70000);
	next_is(&it, "i", 'i', &v);
	ck_assert_int_eq(v.v.i, 4000000000);
	next_is(&it, "l", 'l', &v);
	ck_assert_int_eq(v.v.i, -5000000000);
	next_is(&it, "f", 'f', &v);
	ck_assert(v.v.f == 1.5f);
	next_is(&it, "d", 'd', &v);
	ck_assert(v.v.d == -2.25);
	next_is(&it, "D", 'D', &v);
	ck_assert_uint_eq(v.v.decimal.scale, 2);
	ck_assert_uint_eq(v.v.decimal.value, 12345);
	next_is(&it, "S", 'S', &v);
	ck_assert(amqp_bytes_eq_cstr(v.v.str, "str"));
	next_is(&it, "A", 'A', &v);
	amqp_array_iter_init(&ai, v.v.array);
	ck_assert_int_eq(amqp_array_next(&ai, &e), 1);
	ck_assert_int_eq(e.kind, 'l');
	ck_assert_int_eq(e.v.i, 1);
	ck_assert_int_eq(amqp_array_next(&ai, &e), 1);
	ck_assert_int_eq(e.kind, 'S');
	ck_assert(amqp_bytes_eq_cstr(e.v.str, "x"));
	ck_assert_int_eq(amqp_array_next(&ai, &e), 1);
	ck_assert_int_eq(e.kind, 'A');
	ck_assert_uint_eq(e.v.array.len, 0);
	ck_assert_int_eq(amqp_array_next(&ai, &e), 0);
	next_is(&it, "T", 'T', &v);
	ck_assert_uint_eq(v.v.u, 1700000000);
	next_is(&it, "F", 'F', &v);
	{
		struct amqp_table_iter in;

		amqp_table_iter_init(&in, v.v.table);
		next_is(&in, "k", 'V', &e);
		ck_assert_int_eq(amqp_table_next(&in, &k, &e), 0);
	}
	next_is(&it, "V", 'V', &v);
	next_is(&it, "x", 'x', &v);
	ck_assert_uint_eq(v.v.str.len, 3);
	ck_assert_int_eq(memcmp(v.v.str.ptr, "\x01\x02\x03", 3), 0);
	ck_assert_int_eq(amqp_table_next(&it, &k, &v), 0);
	/* the end stays the end */
	ck_assert_int_eq(amqp_table_next(&it, &k, &v), 0);
}
END_TEST

START_TEST(test_reencode_golden)
{
	/* decode RabbitMQ's table and write it back: the same bytes */
	uint8_t                out[256];
	struct amqp_wbuf       w;
	struct amqp_table_iter it;
	struct amqp_bytes      k;
	struct amqp_field      v;
	size_t                 mark;

	amqp_wbuf_init(&w, out, sizeof(out));
	mark = amqp_table_begin(&w);
	amqp_table_iter_init(&it, golden_all());
	while (amqp_table_next(&it, &k, &v) == 1) {
		amqp_table_put_key(&w, k);
		amqp_field_put(&w, &v);
	}
	amqp_table_end(&w, mark);
	ck_assert(!w.overflow);
	ck_assert_uint_eq(w.len, 4 + sizeof(golden_table_all));
	ck_assert_uint_eq(amqp_get_u32(out), sizeof(golden_table_all));
	ck_assert_int_eq(memcmp(out + 4, golden_table_all,
	                        sizeof(golden_table_all)), 0);
}
END_TEST

/* Write one field of each kind, then read them back and compare. */
START_TEST(test_roundtrip_every_kind)
{
	static const char kinds[] = "tbBsuIilLfdDSATFVx";
	struct amqp_field in[sizeof(kinds) - 1], v;
	uint8_t           inner[64], out[512];
	struct amqp_wbuf  w;
	struct amqp_table_iter it;
	struct amqp_bytes k;
	size_t            i, mark;

	/* an inner table and array to nest */
	amqp_wbuf_init(&w, inner, sizeof(inner));
	amqp_table_put_bool(&w, "yes", true);
	amqp_table_put_i64(&w, "n", -1);
	ck_assert(!w.overflow);

	memset(in, 0, sizeof(in));
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		in[i].kind = (uint8_t)kinds[i];
		switch (kinds[i]) {
		case 't': in[i].v.b = true; break;
		case 'b': in[i].v.i = -128; break;
		case 'B': in[i].v.i = 255; break;
		case 's': in[i].v.i = -32768; break;
		case 'u': in[i].v.i = 65535; break;
		case 'I': in[i].v.i = INT32_MIN; break;
		case 'i': in[i].v.i = UINT32_MAX; break;
		case 'l': in[i].v.i = INT64_MIN; break;
		case 'L': in[i].v.u = UINT64_MAX; break;
		case 'f': in[i].v.f = -0.125f; break;
		case 'd': in[i].v.d = 1e300; break;
		case 'D': in[i].v.decimal.scale = 3;
			  in[i].v.decimal.value = 0xFFFFFFFF; break;
		case 'S': in[i].v.str = amqp_cstr("longstr"); break;
		case 'A': in[i].v.array = bytes("\x56\x74\x00", 3); break;
		case 'T': in[i].v.u = 0x0102030405060708ull; break;
		case 'F': in[i].v.table = bytes(inner, w.len); break;
		case 'V': break;
		case 'x': in[i].v.str = bytes("\x00\xFF", 2); break;
		}
	}

	amqp_wbuf_init(&w, out, sizeof(out));
	mark = amqp_table_begin(&w);
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		char key[2] = { kinds[i], 0 };

		amqp_table_put_key(&w, amqp_cstr(key));
		amqp_field_put(&w, &in[i]);
	}
	amqp_table_end(&w, mark);
	ck_assert(!w.overflow);

	ck_assert_int_eq(amqp_table_validate(bytes(out + 4, w.len - 4)), 0);
	amqp_table_iter_init(&it, bytes(out + 4, w.len - 4));
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		ck_assert_int_eq(amqp_table_next(&it, &k, &v), 1);
		ck_assert_uint_eq(k.len, 1);
		ck_assert_int_eq(k.ptr[0], kinds[i]);
		ck_assert_msg(amqp_field_eq(&in[i], &v), "kind %c", kinds[i]);
	}
	ck_assert_int_eq(amqp_table_next(&it, &k, &v), 0);
}
END_TEST

START_TEST(test_nested)
{
	/* {"a": [ {"b": [1, {"c": "deep"}]} ]} built by hand with the writers */
	uint8_t                buf[256];
	struct amqp_wbuf       w;
	struct amqp_table_iter it;
	struct amqp_array_iter ai;
	struct amqp_field      v, e;
	struct amqp_bytes      k;
	size_t                 a, t, b, t2;

	amqp_wbuf_init(&w, buf, sizeof(buf));
	amqp_table_put_key(&w, amqp_cstr("a"));
	amqp_wbuf_u8(&w, 'A');
	a = amqp_table_begin(&w);
	amqp_wbuf_u8(&w, 'F');
	t = amqp_table_begin(&w);
	amqp_table_put_key(&w, amqp_cstr("b"));
	amqp_wbuf_u8(&w, 'A');
	b = amqp_table_begin(&w);
	amqp_wbuf_u8(&w, 'l');
	amqp_wbuf_u64(&w, 1);
	amqp_wbuf_u8(&w, 'F');
	t2 = amqp_table_begin(&w);
	amqp_table_put_longstr(&w, "c", amqp_cstr("deep"));
	amqp_table_end(&w, t2);
	amqp_table_end(&w, b);
	amqp_table_end(&w, t);
	amqp_table_end(&w, a);
	ck_assert(!w.overflow);

	ck_assert_int_eq(amqp_table_validate(bytes(buf, w.len)), 0);
	amqp_table_iter_init(&it, bytes(buf, w.len));
	next_is(&it, "a", 'A', &v);
	amqp_array_iter_init(&ai, v.v.array);
	ck_assert_int_eq(amqp_array_next(&ai, &e), 1);
	ck_assert_int_eq(e.kind, 'F');
	ck_assert(amqp_table_get(e.v.table, "b", &v));
	ck_assert_int_eq(v.kind, 'A');
	amqp_array_iter_init(&ai, v.v.array);
	ck_assert_int_eq(amqp_array_next(&ai, &e), 1);
	ck_assert_int_eq(e.kind, 'l');
	ck_assert_int_eq(amqp_array_next(&ai, &e), 1);
	ck_assert_int_eq(e.kind, 'F');
	ck_assert(amqp_table_get(e.v.table, "c", &v));
	ck_assert(amqp_bytes_eq_cstr(v.v.str, "deep"));
	ck_assert_int_eq(amqp_array_next(&ai, &e), 0);
	ck_assert_int_eq(amqp_table_next(&it, &k, &v), 0);
}
END_TEST

START_TEST(test_get_and_as_int)
{
	struct amqp_field v;
	int64_t           n;

	ck_assert(amqp_table_get(golden_all(), "I", &v));
	ck_assert(amqp_field_as_int(&v, &n));
	ck_assert_int_eq(n, -70000);
	ck_assert(amqp_table_get(golden_all(), "i", &v));
	ck_assert(amqp_field_as_int(&v, &n));
	ck_assert_int_eq(n, 4000000000);
	ck_assert(amqp_table_get(golden_all(), "T", &v));
	ck_assert(amqp_field_as_int(&v, &n));
	ck_assert_int_eq(n, 1700000000);
	ck_assert(amqp_table_get(golden_all(), "S", &v));
	ck_assert(!amqp_field_as_int(&v, &n));
	ck_assert(amqp_table_get(golden_all(), "f", &v));
	ck_assert(!amqp_field_as_int(&v, &n));
	ck_assert(amqp_table_get(golden_all(), "t", &v));
	ck_assert(!amqp_field_as_int(&v, &n));
	ck_assert(!amqp_table_get(golden_all(), "missing", &v));
	ck_assert(!amqp_table_get(golden_all(), "", &v));
	ck_assert(!amqp_table_get(bytes(NULL, 0), "x", &v));

	v.kind = 'L';
	v.v.u = (uint64_t)INT64_MAX;
	ck_assert(amqp_field_as_int(&v, &n));
	ck_assert_int_eq(n, INT64_MAX);
	v.v.u = (uint64_t)INT64_MAX + 1;
	ck_assert(!amqp_field_as_int(&v, &n));
}
END_TEST

START_TEST(test_field_eq)
{
	struct amqp_field a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.kind = b.kind = 'l';
	a.v.i = b.v.i = 7;
	ck_assert(amqp_field_eq(&a, &b));
	b.kind = 'I';
	ck_assert(!amqp_field_eq(&a, &b));
	a.kind = b.kind = 'S';
	a.v.str = amqp_cstr("abc");
	b.v.str = amqp_cstr("abd");
	ck_assert(!amqp_field_eq(&a, &b));
	b.v.str = amqp_cstr("abc");
	ck_assert(amqp_field_eq(&a, &b));
	a.kind = b.kind = 'V';
	ck_assert(amqp_field_eq(&a, &b));
	a.kind = b.kind = 'D';
	a.v.decimal.scale = b.v.decimal.scale = 1;
	a.v.decimal.value = 5;
	b.v.decimal.value = 6;
	ck_assert(!amqp_field_eq(&a, &b));
	a.kind = b.kind = 'd';
	a.v.d = NAN;
	b.v.d = NAN;
	ck_assert(!amqp_field_eq(&a, &b));
}
END_TEST

START_TEST(test_bad_tag)
{
	static const char bad[] = "cegghjkmnopqrwyzCEGHJKMNOPQRUWXYZ\x00\xFF";
	uint8_t           t[8] = { 1, 'k', 0, 0, 0, 0, 0, 0 };
	size_t            i;

	for (i = 0; i < sizeof(bad) - 1; i++) {
		struct amqp_table_iter it;
		struct amqp_bytes      k;
		struct amqp_field      v;

		t[2] = (uint8_t)bad[i];
		ck_assert_int_eq(amqp_table_validate(bytes(t, sizeof(t))),
		                 -AMQP_SYNTAX_ERROR);
		amqp_table_iter_init(&it, bytes(t, sizeof(t)));
		ck_assert_int_eq(amqp_table_next(&it, &k, &v), -AMQP_SYNTAX_ERROR);
	}
	/* the same in an array */
	ck_assert_int_eq(amqp_table_validate(bytes(
	    "\x01\x61\x41\x00\x00\x00\x01\x5A", 8)), -AMQP_SYNTAX_ERROR);
}
END_TEST

START_TEST(test_length_past_end)
{
	/* key length past the end */
	ck_assert_int_eq(amqp_table_validate(bytes("\x05" "abc", 4)),
	                 -AMQP_SYNTAX_ERROR);
	/* a key without a value */
	ck_assert_int_eq(amqp_table_validate(bytes("\x01" "a", 2)),
	                 -AMQP_SYNTAX_ERROR);
	/* longstr one byte longer than what is there */
	ck_assert_int_eq(amqp_table_validate(bytes(
	    "\x01" "aS\x00\x00\x00\x04" "abc", 10)), -AMQP_SYNTAX_ERROR);
	ck_assert_int_eq(amqp_table_validate(bytes(
	    "\x01" "aS\x00\x00\x00\x03" "abc", 10)), 0);
	/* lengths that would wrap a pointer */
	ck_assert_int_eq(amqp_table_validate(bytes(
	    "\x01" "aS\xFF\xFF\xFF\xFF" "abc", 10)), -AMQP_SYNTAX_ERROR);
	ck_assert_int_eq(amqp_table_validate(bytes(
	    "\x01" "ax\xFF\xFF\xFF\xF9" "abc", 10)), -AMQP_SYNTAX_ERROR);
	/* fixed-size values cut short */
	ck_assert_int_eq(amqp_table_validate(bytes("\x01" "al\x00\x00", 5)),
	                 -AMQP_SYNTAX_ERROR);
	ck_assert_int_eq(amqp_table_validate(bytes("\x01" "aD\x00\x00\x00\x00", 7)),
	                 -AMQP_SYNTAX_ERROR);
	ck_assert_int_eq(amqp_table_validate(bytes("\x01" "at", 3)),
	                 -AMQP_SYNTAX_ERROR);
	ck_assert_int_eq(amqp_table_validate(bytes("\x01" "aS\x00\x00", 5)),
	                 -AMQP_SYNTAX_ERROR);
}
END_TEST

START_TEST(test_nested_length_outside_parent)
{
	/*
	 * {"o": F{"i": S(len 8)}, "p": t} where the inner string's length
	 * runs past the end of the inner table into the outer one.
	 */
	static const uint8_t t[] = {
		1, 'o', 'F', 0, 0, 0, 8,
		1, 'i', 'S', 0, 0, 0, 8, 'x',
		1, 'p', 't', 1, 0, 0, 0
	};
	static const uint8_t a[] = {
		1, 'o', 'A', 0, 0, 0, 3,
		'S', 0, 0, 0, 4, 'x', 'y', 'z', 'w'
	};

	ck_assert_int_eq(amqp_table_validate(bytes(t, sizeof(t))),
	                 -AMQP_SYNTAX_ERROR);
	ck_assert_int_eq(amqp_table_validate(bytes(a, sizeof(a))),
	                 -AMQP_SYNTAX_ERROR);
}
END_TEST

START_TEST(test_every_truncation_of_golden)
{
	/*
	 * Cutting RabbitMQ's table anywhere but between two entries breaks it.
	 * The nested values are not iterated here, only validated.
	 */
	struct amqp_table_iter it;
	struct amqp_bytes      k;
	struct amqp_field      v;
	size_t                 cut, bounds[32], nb = 0, j;

	amqp_table_iter_init(&it, golden_all());
	bounds[nb++] = 0;
	while (amqp_table_next(&it, &k, &v) == 1)
		bounds[nb++] = (size_t)(it.p - golden_table_all);
	for (cut = 0; cut < sizeof(golden_table_all); cut++) {
		int at_bound = 0;

		for (j = 0; j < nb; j++)
			at_bound |= bounds[j] == cut;
		ck_assert_int_eq(amqp_table_validate(bytes(golden_table_all, cut)),
		                 at_bound ? 0 : -AMQP_SYNTAX_ERROR);
	}
}
END_TEST

/* depth tables (F) or arrays (A) nested in one outer table */
static size_t
nest(uint8_t *buf, size_t cap, size_t depth, uint8_t kind)
{
	struct amqp_wbuf w;
	size_t          *marks = malloc((depth + 1) * sizeof(*marks));
	size_t           i;

	ck_assert_ptr_nonnull(marks);
	amqp_wbuf_init(&w, buf, cap);
	for (i = 0; i < depth; i++) {
		if (i == 0 || kind == 'F')
			amqp_table_put_key(&w, amqp_cstr("k"));
		amqp_wbuf_u8(&w, kind);
		marks[i] = amqp_table_begin(&w);
	}
	while (i-- > 0)
		amqp_table_end(&w, marks[i]);
	free(marks);
	ck_assert(!w.overflow);
	return w.len;
}

START_TEST(test_depth_limit)
{
	static uint8_t buf[1 << 20];
	size_t         n;

	n = nest(buf, sizeof(buf), AMQP_TABLE_DEPTH_LIMIT, 'F');
	ck_assert_int_eq(amqp_table_validate(bytes(buf, n)), 0);
	n = nest(buf, sizeof(buf), AMQP_TABLE_DEPTH_LIMIT + 1, 'F');
	ck_assert_int_eq(amqp_table_validate(bytes(buf, n)), -AMQP_SYNTAX_ERROR);
	n = nest(buf, sizeof(buf), AMQP_TABLE_DEPTH_LIMIT, 'A');
	ck_assert_int_eq(amqp_table_validate(bytes(buf, n)), 0);
	n = nest(buf, sizeof(buf), AMQP_TABLE_DEPTH_LIMIT + 1, 'A');
	ck_assert_int_eq(amqp_table_validate(bytes(buf, n)), -AMQP_SYNTAX_ERROR);
}
END_TEST

START_TEST(test_depth_bomb)
{
	/* 200000 nested arrays: refused quickly, without deep recursion */
	static uint8_t buf[1 << 21];
	size_t         n = nest(buf, sizeof(buf), 200000, 'A');

	ck_assert_int_eq(amqp_table_validate(bytes(buf, n)), -AMQP_SYNTAX_ERROR);
	n = nest(buf, sizeof(buf), 100000, 'F');
	ck_assert_int_eq(amqp_table_validate(bytes(buf, n)), -AMQP_SYNTAX_ERROR);
}
END_TEST

START_TEST(test_empty_and_writer_overflow)
{
	uint8_t           out[8];
	struct amqp_wbuf  w;
	struct amqp_field f;
	size_t            mark;

	ck_assert_int_eq(amqp_table_validate(bytes(NULL, 0)), 0);
	ck_assert_int_eq(amqp_table_validate(bytes("", 0)), 0);

	amqp_wbuf_init(&w, out, sizeof(out));
	mark = amqp_table_begin(&w);
	amqp_table_put_longstr(&w, "key", amqp_cstr("too long for eight"));
	amqp_table_end(&w, mark);
	ck_assert(w.overflow);

	/* an unknown kind cannot be written */
	amqp_wbuf_init(&w, out, sizeof(out));
	f.kind = 'Z';
	amqp_field_put(&w, &f);
	ck_assert(w.overflow);

	/* an empty table is its length only */
	amqp_wbuf_init(&w, out, sizeof(out));
	mark = amqp_table_begin(&w);
	amqp_table_end(&w, mark);
	ck_assert(!w.overflow);
	ck_assert_uint_eq(w.len, 4);
	ck_assert_uint_eq(amqp_get_u32(out), 0);
}
END_TEST

START_TEST(test_random_garbage)
{
	/* no input crashes the validator, and valid means iterable */
	uint32_t seed = 12345;
	uint8_t  buf[64];
	int      round;

	for (round = 0; round < 20000; round++) {
		size_t n = test_rand(&seed) % sizeof(buf), i;

		for (i = 0; i < n; i++) {
			uint32_t r = test_rand(&seed);

			/* bias towards small lengths and real tags */
			buf[i] = (r & 3) == 0 ? (uint8_t)"tbBsuIilLfdDSATFVx"[r % 18] :
			    (uint8_t)(r >> 8) % 8;
		}
		if (amqp_table_validate(bytes(buf, n)) == 0) {
			struct amqp_table_iter it;
			struct amqp_bytes      k;
			struct amqp_field      v;
			int                    rc;

			amqp_table_iter_init(&it, bytes(buf, n));
			while ((rc = amqp_table_next(&it, &k, &v)) == 1)
				;
			ck_assert_int_eq(rc, 0);
		}
	}
}
END_TEST

Suite *
table_suite(void)
{
	Suite *s = suite_create("table");
	TCase *tc = tcase_create("table");

	tcase_add_test(tc, test_decode_every_type);
	tcase_add_test(tc, test_reencode_golden);
	tcase_add_test(tc, test_roundtrip_every_kind);
	tcase_add_test(tc, test_nested);
	tcase_add_test(tc, test_get_and_as_int);
	tcase_add_test(tc, test_field_eq);
	tcase_add_test(tc, test_bad_tag);
	tcase_add_test(tc, test_length_past_end);
	tcase_add_test(tc, test_nested_length_outside_parent);
	tcase_add_test(tc, test_every_truncation_of_golden);
	tcase_add_test(tc, test_depth_limit);
	tcase_add_test(tc, test_depth_bomb);
	tcase_add_test(tc, test_empty_and_writer_overflow);
	tcase_add_test(tc, test_random_garbage);
	suite_add_tcase(s, tc);
	return s;
}
