/*
 * amqp/props.c: RabbitMQ's content header decoded and re-encoded, every
 * property both ways, and the flag word, truncations and headers tables
 * that must be refused.
 */
#include <string.h>

#include "amqp/props.h"
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

/* The content header frame's payload in the golden basic.publish. */
static struct amqp_bytes
golden_header(void)
{
	const uint8_t *f = golden_basic_publish;

	f += 8 + amqp_get_u32(f + 3);
	ck_assert_uint_eq(f[0], AMQP_FRAME_HEADER);
	return bytes(f + 7, amqp_get_u32(f + 3));
}

START_TEST(test_flags_match_spec)
{
	static const struct {
		uint16_t    flag;
		const char *name;
	} flags[] = {
		{ AMQP_PROP_CONTENT_TYPE, "content-type" },
		{ AMQP_PROP_CONTENT_ENCODING, "content-encoding" },
		{ AMQP_PROP_HEADERS, "headers" },
		{ AMQP_PROP_DELIVERY_MODE, "delivery-mode" },
		{ AMQP_PROP_PRIORITY, "priority" },
		{ AMQP_PROP_CORRELATION_ID, "correlation-id" },
		{ AMQP_PROP_REPLY_TO, "reply-to" },
		{ AMQP_PROP_EXPIRATION, "expiration" },
		{ AMQP_PROP_MESSAGE_ID, "message-id" },
		{ AMQP_PROP_TIMESTAMP, "timestamp" },
		{ AMQP_PROP_TYPE, "type" },
		{ AMQP_PROP_USER_ID, "user-id" },
		{ AMQP_PROP_APP_ID, "app-id" },
		{ AMQP_PROP_CLUSTER_ID, "cluster-id" },
	};
	size_t i;

	ck_assert_uint_eq(AMQP_BASIC_PROP_COUNT, sizeof(flags) / sizeof(flags[0]));
	for (i = 0; i < AMQP_BASIC_PROP_COUNT; i++) {
		ck_assert_uint_eq(amqp_basic_prop_descs[i].flag, flags[i].flag);
		ck_assert_str_eq(amqp_basic_prop_descs[i].name, flags[i].name);
	}
}
END_TEST

START_TEST(test_golden_header)
{
	struct amqp_bytes       h = golden_header(), raw;
	struct amqp_basic_props p;
	struct amqp_field       v;
	uint16_t                class_id;
	uint64_t                body_size;
	uint8_t                 out[256];
	struct amqp_wbuf        w;

	ck_assert_int_eq(amqp_content_header_decode(h.ptr, h.len, &class_id,
	                                            &body_size, &raw, &p), 0);
	ck_assert_uint_eq(class_id, AMQP_CLASS_BASIC);
	ck_assert_uint_eq(body_size, 5);
	ck_assert_ptr_eq(raw.ptr, h.ptr + 12);
	ck_assert_uint_eq(raw.len, h.len - 12);
	ck_assert_uint_eq(p.flags, AMQP_PROP_CONTENT_TYPE | AMQP_PROP_HEADERS |
	                  AMQP_PROP_DELIVERY_MODE | AMQP_PROP_CORRELATION_ID |
	                  AMQP_PROP_MESSAGE_ID | AMQP_PROP_TIMESTAMP |
	                  AMQP_PROP_APP_ID);
	ck_assert(amqp_bytes_eq_cstr(p.content_type, "text/plain"));
	ck_assert_uint_eq(p.delivery_mode, 2);
	ck_assert(amqp_bytes_eq_cstr(p.correlation_id, "c-1"));
	ck_assert(amqp_bytes_eq_cstr(p.message_id, "m-1"));
	ck_assert_uint_eq(p.timestamp, 1700000000);
	ck_assert(amqp_bytes_eq_cstr(p.app_id, "app"));
	ck_assert_uint_eq(p.content_encoding.len, 0);
	ck_assert_uint_eq(p.priority, 0);
	ck_assert(amqp_table_get(p.headers, "x-retries", &v));
	ck_assert_int_eq(v.kind, 'l');
	ck_assert_int_eq(v.v.i, 3);
	ck_assert(amqp_table_get(p.headers, "trace", &v));
	ck_assert(amqp_bytes_eq_cstr(v.v.str, "abc"));

	/* written back: RabbitMQ's bytes */
	amqp_wbuf_init(&w, out, sizeof(out));
	amqp_props_encode(&w, &p);
	ck_assert(!w.overflow);
	ck_assert_uint_eq(w.len, raw.len);
	ck_assert_int_eq(memcmp(out, raw.ptr, raw.len), 0);

	/* validate only */
	ck_assert_int_eq(amqp_content_header_decode(h.ptr, h.len, NULL, NULL,
	                                            NULL, NULL), 0);
}
END_TEST

START_TEST(test_every_property)
{
	static const uint8_t    headers[] = { 1, 'k', 'V' };
	struct amqp_basic_props in, out;
	uint8_t                 buf[512];
	struct amqp_wbuf        w;
	size_t                  i;

	memset(&in, 0, sizeof(in));
	in.flags = 0xFFFC;
	in.content_type = amqp_cstr("application/json");
	in.content_encoding = amqp_cstr("gzip");
	in.headers = bytes(headers, sizeof(headers));
	in.delivery_mode = 2;
	in.priority = 9;
	in.correlation_id = amqp_cstr("corr");
	in.reply_to = amqp_cstr("amq.rabbitmq.reply-to");
	in.expiration = amqp_cstr("60000");
	in.message_id = amqp_cstr("id-1");
	in.timestamp = 0x8000000000000001ull;
	in.type = amqp_cstr("t");
	in.user_id = amqp_cstr("guest");
	in.app_id = amqp_cstr("app");
	in.cluster_id = amqp_cstr("");

	amqp_wbuf_init(&w, buf, sizeof(buf));
	amqp_props_encode(&w, &in);
	ck_assert(!w.overflow);
	ck_assert_int_eq(amqp_props_decode(bytes(buf, w.len), &out), 0);
	ck_assert_uint_eq(out.flags, in.flags);
	ck_assert(amqp_bytes_eq(out.content_type, in.content_type));
	ck_assert(amqp_bytes_eq(out.content_encoding, in.content_encoding));
	ck_assert(amqp_bytes_eq(out.headers, in.headers));
	ck_assert_uint_eq(out.delivery_mode, 2);
	ck_assert_uint_eq(out.priority, 9);
	ck_assert(amqp_bytes_eq(out.correlation_id, in.correlation_id));
	ck_assert(amqp_bytes_eq(out.reply_to, in.reply_to));
	ck_assert(amqp_bytes_eq(out.expiration, in.expiration));
	ck_assert(amqp_bytes_eq(out.message_id, in.message_id));
	ck_assert_uint_eq(out.timestamp, in.timestamp);
	ck_assert(amqp_bytes_eq(out.type, in.type));
	ck_assert(amqp_bytes_eq(out.user_id, in.user_id));
	ck_assert(amqp_bytes_eq(out.app_id, in.app_id));
	ck_assert(amqp_bytes_eq(out.cluster_id, in.cluster_id));

	/* every truncation fails, and so does a byte too many */
	for (i = 0; i < w.len; i++)
		ck_assert_int_eq(amqp_props_decode(bytes(buf, i), &out),
		                 -AMQP_SYNTAX_ERROR);
	buf[w.len] = 0;
	ck_assert_int_eq(amqp_props_decode(bytes(buf, w.len + 1), &out),
	                 -AMQP_SYNTAX_ERROR);

	/* each property alone */
	for (i = 0; i < AMQP_BASIC_PROP_COUNT; i++) {
		in.flags = amqp_basic_prop_descs[i].flag;
		amqp_wbuf_init(&w, buf, sizeof(buf));
		amqp_props_encode(&w, &in);
		ck_assert(!w.overflow);
		ck_assert_int_eq(amqp_props_decode(bytes(buf, w.len), &out), 0);
		ck_assert_uint_eq(out.flags, in.flags);
		ck_assert_int_eq(amqp_props_decode(bytes(buf, w.len - 1), &out),
		                 -AMQP_SYNTAX_ERROR);
	}
}
END_TEST

START_TEST(test_no_properties)
{
	static const uint8_t    h[] = { 0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	struct amqp_basic_props p;
	struct amqp_bytes       raw;
	uint8_t                 out[8];
	struct amqp_wbuf        w;

	ck_assert_int_eq(amqp_content_header_decode(h, sizeof(h), NULL, NULL,
	                                            &raw, &p), 0);
	ck_assert_uint_eq(p.flags, 0);
	ck_assert_uint_eq(raw.len, 2);
	amqp_wbuf_init(&w, out, sizeof(out));
	amqp_props_encode(&w, &p);
	ck_assert_uint_eq(w.len, 2);
	ck_assert_int_eq(memcmp(out, "\0\0", 2), 0);
}
END_TEST

START_TEST(test_short_header)
{
	struct amqp_bytes h = golden_header();
	size_t            n;

	for (n = 0; n < 14; n++)
		ck_assert_int_eq(amqp_content_header_decode(h.ptr, n, NULL, NULL,
		                                            NULL, NULL),
		                 -AMQP_FRAME_ERROR);
	/* past the minimum, a cut property list is a syntax error */
	for (; n < h.len; n++)
		ck_assert_int_eq(amqp_content_header_decode(h.ptr, n, NULL, NULL,
		                                            NULL, NULL),
		                 -AMQP_SYNTAX_ERROR);
}
END_TEST

START_TEST(test_continuation_bit)
{
	static const uint8_t    cont[] = { 0x00, 0x01, 0x00, 0x00 };
	static const uint8_t    ct_cont[] = { 0x80, 0x01, 1, 'x', 0x00, 0x00 };
	/* bit 1 names no property: RabbitMQ ignores it */
	static const uint8_t    bit1[] = { 0x00, 0x02 };
	static const uint8_t    h[] = {
		0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x00, 0x01
	};
	struct amqp_basic_props p;

	ck_assert_int_eq(amqp_props_decode(bytes(cont, 2), &p), -AMQP_SYNTAX_ERROR);
	ck_assert_int_eq(amqp_props_decode(bytes(cont, 4), &p), -AMQP_SYNTAX_ERROR);
	ck_assert_int_eq(amqp_props_decode(bytes(ct_cont, sizeof(ct_cont)), &p),
	                 -AMQP_SYNTAX_ERROR);
	ck_assert_int_eq(amqp_content_header_decode(h, sizeof(h), NULL, NULL,
	                                            NULL, &p), -AMQP_SYNTAX_ERROR);
	ck_assert_int_eq(amqp_props_decode(bytes(bit1, 2), &p), 0);
	ck_assert_int_eq(amqp_props_decode(bytes(bit1, 1), &p), -AMQP_SYNTAX_ERROR);
	ck_assert_int_eq(amqp_props_decode(bytes(NULL, 0), &p), -AMQP_SYNTAX_ERROR);
}
END_TEST

START_TEST(test_bad_headers_table)
{
	/* headers present, table holding an unknown tag */
	static const uint8_t bad_tag[] = {
		0x20, 0x00, 0, 0, 0, 3, 1, 'k', 'Z'
	};
	/* headers length past the end */
	static const uint8_t too_long[] = {
		0x20, 0x00, 0, 0, 0, 4, 1, 'k', 'V'
	};
	/* headers fine, but a string inside runs out of the table */
	static const uint8_t nested[] = {
		0x20, 0x00, 0, 0, 0, 7, 1, 'k', 'S', 0, 0, 0, 3, 'a', 'b', 'c'
	};
	struct amqp_basic_props p;

	ck_assert_int_eq(amqp_props_decode(bytes(bad_tag, sizeof(bad_tag)), &p),
	                 -AMQP_SYNTAX_ERROR);
	ck_assert_int_eq(amqp_props_decode(bytes(too_long, sizeof(too_long)), &p),
	                 -AMQP_SYNTAX_ERROR);
	ck_assert_int_eq(amqp_props_decode(bytes(nested, sizeof(nested)), &p),
	                 -AMQP_SYNTAX_ERROR);
}
END_TEST

START_TEST(test_encode_limits)
{
	static char             big[256];
	struct amqp_basic_props p;
	uint8_t                 out[512];
	struct amqp_wbuf        w;

	memset(big, 'x', sizeof(big));
	memset(&p, 0, sizeof(p));
	p.flags = AMQP_PROP_MESSAGE_ID | 0x0003; /* unknown bits are not written */
	p.message_id = bytes(big, 255);
	amqp_wbuf_init(&w, out, sizeof(out));
	amqp_props_encode(&w, &p);
	ck_assert(!w.overflow);
	ck_assert_uint_eq(amqp_get_u16(out), AMQP_PROP_MESSAGE_ID);
	ck_assert_uint_eq(w.len, 2 + 1 + 255);

	p.message_id = bytes(big, 256);
	amqp_wbuf_init(&w, out, sizeof(out));
	amqp_props_encode(&w, &p);
	ck_assert(w.overflow);

	p.message_id = bytes(big, 10);
	amqp_wbuf_init(&w, out, 12);
	amqp_props_encode(&w, &p);
	ck_assert(w.overflow);
}
END_TEST

Suite *
props_suite(void)
{
	Suite *s = suite_create("props");
	TCase *tc = tcase_create("props");

	tcase_add_test(tc, test_flags_match_spec);
	tcase_add_test(tc, test_golden_header);
	tcase_add_test(tc, test_every_property);
	tcase_add_test(tc, test_no_properties);
	tcase_add_test(tc, test_short_header);
	tcase_add_test(tc, test_continuation_bit);
	tcase_add_test(tc, test_bad_headers_table);
	tcase_add_test(tc, test_encode_limits);
	suite_add_tcase(s, tc);
	return s;
}
