/*
 * amqp/spec_gen.c: the generated tables, every method encoded and decoded
 * back, RabbitMQ's own frames decoded and re-encoded byte for byte, and
 * malformed method payloads refused with the codes the engine relies on.
 */
#include <stdio.h>
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

START_TEST(test_constants)
{
	ck_assert_int_eq(AMQP_FRAME_METHOD, 1);
	ck_assert_int_eq(AMQP_FRAME_HEADER, 2);
	ck_assert_int_eq(AMQP_FRAME_BODY, 3);
	ck_assert_int_eq(AMQP_FRAME_HEARTBEAT, 8);
	ck_assert_int_eq(AMQP_FRAME_MIN_SIZE, 4096);
	ck_assert_int_eq(AMQP_FRAME_END, 0xCE);
	ck_assert_int_eq(AMQP_REPLY_SUCCESS, 200);
	ck_assert_int_eq(AMQP_CONTENT_TOO_LARGE, 311);
	ck_assert_int_eq(AMQP_NO_ROUTE, 312);
	ck_assert_int_eq(AMQP_NOT_FOUND, 404);
	ck_assert_int_eq(AMQP_PRECONDITION_FAILED, 406);
	ck_assert_int_eq(AMQP_FRAME_ERROR, 501);
	ck_assert_int_eq(AMQP_INTERNAL_ERROR, 541);
	ck_assert_int_eq(AMQP_CLASS_CONNECTION, 10);
	ck_assert_int_eq(AMQP_CLASS_BASIC, 60);
	ck_assert_int_eq(AMQP_CLASS_CONFIRM, 85);
	ck_assert_int_eq(AMQP_CLASS_TX, 90);
	ck_assert_uint_eq(AMQP_CONNECTION_START_METHOD, 0x000A000A);
	ck_assert_uint_eq(AMQP_BASIC_PUBLISH_METHOD, 0x003C0028);
	ck_assert_uint_eq(AMQP_BASIC_RECOVER_ASYNC_METHOD, 0x003C0064);
	ck_assert_uint_eq(AMQP_CONNECTION_UPDATE_SECRET_OK_METHOD, 0x000A0047);
	ck_assert_uint_eq(AMQP_QUEUE_DECLARE_OK_METHOD, 0x0032000B);
	ck_assert_uint_eq(AMQP_CONFIRM_SELECT_METHOD, 0x0055000A);
}
END_TEST

START_TEST(test_reply_codes)
{
	static const struct {
		int         code;
		int         hard;
		const char *name;
	} codes[] = {
		{ 200, 0, "REPLY_SUCCESS" },
		{ 311, 0, "CONTENT_TOO_LARGE" },
		{ 312, 0, "NO_ROUTE" },
		{ 313, 0, "NO_CONSUMERS" },
		{ 320, 1, "CONNECTION_FORCED" },
		{ 402, 1, "INVALID_PATH" },
		{ 403, 0, "ACCESS_REFUSED" },
		{ 404, 0, "NOT_FOUND" },
		{ 405, 0, "RESOURCE_LOCKED" },
		{ 406, 0, "PRECONDITION_FAILED" },
		{ 501, 1, "FRAME_ERROR" },
		{ 502, 1, "SYNTAX_ERROR" },
		{ 503, 1, "COMMAND_INVALID" },
		{ 504, 1, "CHANNEL_ERROR" },
		{ 505, 1, "UNEXPECTED_FRAME" },
		{ 506, 1, "RESOURCE_ERROR" },
		{ 530, 1, "NOT_ALLOWED" },
		{ 540, 1, "NOT_IMPLEMENTED" },
		{ 541, 1, "INTERNAL_ERROR" },
	};
	size_t i;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		ck_assert_int_eq(amqp_reply_is_hard(codes[i].code), codes[i].hard);
		ck_assert_str_eq(amqp_reply_name(codes[i].code), codes[i].name);
	}
	ck_assert_ptr_null(amqp_reply_name(0));
	ck_assert_ptr_null(amqp_reply_name(AMQP_FRAME_END));
	ck_assert_ptr_null(amqp_reply_name(AMQP_FRAME_MIN_SIZE));
	ck_assert_ptr_null(amqp_reply_name(999));
	ck_assert_ptr_null(amqp_reply_name(-404));
	ck_assert_int_eq(amqp_reply_is_hard(999), 0);
}
END_TEST

START_TEST(test_descriptor_table)
{
	size_t i;
	char   name[64];

	for (i = 0; i < AMQP_METHOD_COUNT; i++) {
		const struct amqp_method_desc *d = &amqp_methods[i];
		const char *cls = amqp_class_name((uint16_t)(d->id >> 16));

		if (i > 0)
			ck_assert_uint_lt(amqp_methods[i - 1].id, d->id);
		ck_assert_ptr_eq(amqp_method_desc(d->id), d);
		ck_assert_str_eq(amqp_method_name(d->id), d->name);
		ck_assert_ptr_nonnull(cls);
		snprintf(name, sizeof(name), "%s.", cls);
		ck_assert_int_eq(strncmp(d->name, name, strlen(name)), 0);
		ck_assert_uint_le(d->size, sizeof(union amqp_method));
		ck_assert(d->nargs == 0 || d->args != NULL);
		ck_assert(d->id != 0);
	}
	ck_assert_ptr_null(amqp_method_desc(0));
	ck_assert_ptr_null(amqp_method_desc(0x003C0029));
	ck_assert_ptr_null(amqp_method_desc(0xFFFFFFFF));
	ck_assert_str_eq(amqp_method_name(0x12345678), "unknown");
	ck_assert_ptr_null(amqp_class_name(11));
	ck_assert_str_eq(amqp_class_name(60), "basic");

	ck_assert_str_eq(amqp_method_name(AMQP_BASIC_PUBLISH_METHOD),
	                 "basic.publish");
	ck_assert_str_eq(amqp_method_name(AMQP_QUEUE_DECLARE_OK_METHOD),
	                 "queue.declare-ok");
	ck_assert(amqp_method_desc(AMQP_BASIC_PUBLISH_METHOD)->content);
	ck_assert(!amqp_method_desc(AMQP_BASIC_PUBLISH_METHOD)->synchronous);
	ck_assert(amqp_method_desc(AMQP_BASIC_GET_OK_METHOD)->content);
	ck_assert(amqp_method_desc(AMQP_BASIC_RETURN_METHOD)->content);
	ck_assert(amqp_method_desc(AMQP_BASIC_DELIVER_METHOD)->content);
	ck_assert(!amqp_method_desc(AMQP_BASIC_GET_METHOD)->content);
	ck_assert(amqp_method_desc(AMQP_QUEUE_DECLARE_METHOD)->synchronous);
	ck_assert(!amqp_method_desc(AMQP_QUEUE_DECLARE_OK_METHOD)->synchronous);
	ck_assert(amqp_method_desc(AMQP_CONFIRM_SELECT_METHOD)->synchronous);
	ck_assert(!amqp_method_desc(AMQP_BASIC_ACK_METHOD)->synchronous);
	ck_assert_uint_eq(amqp_method_desc(AMQP_QUEUE_DECLARE_METHOD)->nargs, 8);
	ck_assert_uint_eq(amqp_method_desc(AMQP_TX_SELECT_METHOD)->nargs, 0);
}
END_TEST

/* Storage for the values fill() makes up; the struct borrows from it. */
struct values {
	char    str[16][256];
	uint8_t table[16][96];
};

/*
 * Give every argument of d a value no default has: pass 0 sets every bit,
 * passes 1 and 2 alternate them the two ways; pass 2 also uses 255-byte
 * shortstrs and empty longstrs.
 */
static void
fill(const struct amqp_method_desc *d, union amqp_method *m, int pass,
     struct values *vals)
{
	size_t i;

	memset(m, 0, sizeof(*m));
	ck_assert_uint_le(d->nargs, 16);
	for (i = 0; i < d->nargs; i++) {
		const struct amqp_arg_desc *a = &d->args[i];
		unsigned char              *dst = (unsigned char *)m + a->offset;
		struct amqp_bytes           s;
		struct amqp_wbuf            w;
		bool                        b;
		uint8_t                     u8;
		uint16_t                    u16;
		uint32_t                    u32;
		uint64_t                    u64;
		size_t                      mark;

		switch (a->type) {
		case AMQP_ARG_BIT:
			b = pass == 0 ? true : ((i + (size_t)pass) & 1) != 0;
			memcpy(dst, &b, sizeof(b));
			break;
		case AMQP_ARG_OCTET:
			u8 = (uint8_t)(0xA0 + i * 3 + (size_t)pass);
			memcpy(dst, &u8, sizeof(u8));
			break;
		case AMQP_ARG_SHORT:
			u16 = (uint16_t)(0xBE00 + i * 7 + (size_t)pass);
			memcpy(dst, &u16, sizeof(u16));
			break;
		case AMQP_ARG_LONG:
			u32 = 0xDEAD0000u + (uint32_t)(i * 11) + (uint32_t)pass;
			memcpy(dst, &u32, sizeof(u32));
			break;
		case AMQP_ARG_LONGLONG:
		case AMQP_ARG_TIMESTAMP:
			u64 = 0xF123456789AB0000ull + i * 13 + (uint64_t)pass;
			memcpy(dst, &u64, sizeof(u64));
			break;
		case AMQP_ARG_SHORTSTR:
			if (pass == 2) {
				memset(vals->str[i], 'a' + (int)i, 255);
				s = bytes(vals->str[i], 255);
			} else {
				snprintf(vals->str[i], sizeof(vals->str[i]),
				         "%s/%zu/%d/\xC3\xA9", a->name, i, pass);
				s = amqp_cstr(vals->str[i]);
			}
			memcpy(dst, &s, sizeof(s));
			break;
		case AMQP_ARG_LONGSTR:
			if (pass == 2) {
				s = bytes(NULL, 0);
			} else {
				/* binary, with a NUL and a 0xFF */
				snprintf(vals->str[i], sizeof(vals->str[i]),
				         "x%s?%zu", a->name, i);
				vals->str[i][0] = 0;
				vals->str[i][strlen(a->name) + 1] = '\xFF';
				s = bytes(vals->str[i], strlen(a->name) + 4);
			}
			memcpy(dst, &s, sizeof(s));
			break;
		case AMQP_ARG_TABLE:
			amqp_wbuf_init(&w, vals->table[i], sizeof(vals->table[i]));
			amqp_table_put_i64(&w, "pass", pass);
			amqp_table_put_longstr(&w, "arg", amqp_cstr(a->name));
			amqp_table_put_key(&w, amqp_cstr("nested"));
			amqp_wbuf_u8(&w, 'F');
			mark = amqp_table_begin(&w);
			amqp_table_put_bool(&w, "b", true);
			amqp_table_end(&w, mark);
			ck_assert(!w.overflow);
			s = bytes(vals->table[i], w.len);
			memcpy(dst, &s, sizeof(s));
			break;
		default:
			ck_abort_msg("unknown argument type %d", a->type);
		}
	}
}

/* Compare two method structs argument by argument. */
static void
same(const struct amqp_method_desc *d, const union amqp_method *x,
     const union amqp_method *y)
{
	size_t i;

	for (i = 0; i < d->nargs; i++) {
		const struct amqp_arg_desc *a = &d->args[i];
		const unsigned char        *p = (const unsigned char *)x + a->offset;
		const unsigned char        *q = (const unsigned char *)y + a->offset;
		struct amqp_bytes           s, t;
		size_t                      size = 0;

		switch (a->type) {
		case AMQP_ARG_BIT:
			size = sizeof(bool);
			break;
		case AMQP_ARG_OCTET:
			size = 1;
			break;
		case AMQP_ARG_SHORT:
			size = 2;
			break;
		case AMQP_ARG_LONG:
			size = 4;
			break;
		case AMQP_ARG_LONGLONG:
		case AMQP_ARG_TIMESTAMP:
			size = 8;
			break;
		default:
			memcpy(&s, p, sizeof(s));
			memcpy(&t, q, sizeof(t));
			ck_assert_msg(amqp_bytes_eq(s, t), "%s %s", d->name, a->name);
			continue;
		}
		ck_assert_msg(memcmp(p, q, size) == 0, "%s %s", d->name, a->name);
	}
}

START_TEST(test_roundtrip_every_method)
{
	static struct values vals;
	size_t               i;
	int                  pass;

	for (i = 0; i < AMQP_METHOD_COUNT; i++) {
		const struct amqp_method_desc *d = &amqp_methods[i];

		for (pass = 0; pass < 3; pass++) {
			union amqp_method in, out;
			uint8_t           buf[4096], canary[4096];
			ssize_t           len;
			size_t            cap, k;
			uint32_t          id = 0;

			fill(d, &in, pass, &vals);
			len = amqp_method_encode(d->id, &in, buf, sizeof(buf));
			ck_assert_msg(len >= 4, "%s pass %d", d->name, pass);
			ck_assert_uint_eq(amqp_get_u32(buf), d->id);

			memset(&out, 0x5A, sizeof(out));
			ck_assert_int_eq(amqp_method_decode(buf, (size_t)len, &id,
			                                    &out), 0);
			ck_assert_uint_eq(id, d->id);
			same(d, &in, &out);

			/* encoding again gives the same bytes */
			ck_assert_int_eq(amqp_method_encode(d->id, &out, canary,
			                                    sizeof(canary)), len);
			ck_assert_int_eq(memcmp(buf, canary, (size_t)len), 0);

			/*
			 * Every truncation, and a byte too many, is malformed.
			 * (Plain ifs in the inner loops: each ck_assert is a
			 * write to Check's pipe.)
			 */
			for (k = 0; k < (size_t)len; k++)
				if (amqp_method_decode(buf, k, &id, &out) !=
				    -AMQP_FRAME_ERROR)
					ck_abort_msg("%s cut at %zu", d->name, k);
			buf[len] = 0;
			ck_assert_int_eq(amqp_method_decode(buf, (size_t)len + 1,
			                                    &id, &out),
			                 -AMQP_FRAME_ERROR);

			/* too small a buffer: -1, and nothing past cap */
			for (cap = 0; cap < (size_t)len; cap++) {
				memset(canary, 0xEE, (size_t)len + 1);
				if (amqp_method_encode(d->id, &in, canary, cap) != -1)
					ck_abort_msg("%s fits in %zu", d->name, cap);
				for (k = cap; k < (size_t)len + 1; k++)
					if (canary[k] != 0xEE)
						ck_abort_msg("%s wrote past %zu",
						             d->name, cap);
			}
			ck_assert_int_eq(amqp_method_encode(d->id, &in, canary,
			                                    (size_t)len), len);
		}
	}
}
END_TEST

/* The method frame at the start of a golden frame sequence. */
static struct amqp_bytes
method_payload(const uint8_t *frame)
{
	ck_assert_uint_eq(frame[0], AMQP_FRAME_METHOD);
	return bytes(frame + 7, amqp_get_u32(frame + 3));
}

static void
reencode(uint32_t id, const union amqp_method *m, struct amqp_bytes payload)
{
	uint8_t buf[1024];

	ck_assert_int_eq(amqp_method_encode(id, m, buf, sizeof(buf)),
	                 (ssize_t)payload.len);
	ck_assert_int_eq(memcmp(buf, payload.ptr, payload.len), 0);
}

START_TEST(test_golden_connection_start)
{
	struct amqp_bytes p = method_payload(golden_connection_start);
	union amqp_method m;
	struct amqp_field v, cap;
	uint32_t          id;

	ck_assert_int_eq(amqp_method_decode(p.ptr, p.len, &id, &m), 0);
	ck_assert_uint_eq(id, AMQP_CONNECTION_START_METHOD);
	ck_assert_uint_eq(m.connection_start.version_major, 0);
	ck_assert_uint_eq(m.connection_start.version_minor, 9);
	ck_assert(amqp_bytes_eq_cstr(m.connection_start.mechanisms,
	                             "AMQPLAIN PLAIN"));
	ck_assert(amqp_bytes_eq_cstr(m.connection_start.locales, "en_US"));
	ck_assert(amqp_table_get(m.connection_start.server_properties,
	                         "product", &v));
	ck_assert_int_eq(v.kind, 'S');
	ck_assert(amqp_bytes_eq_cstr(v.v.str, "RabbitMQ"));
	ck_assert(amqp_table_get(m.connection_start.server_properties,
	                         "capabilities", &v));
	ck_assert_int_eq(v.kind, 'F');
	ck_assert(amqp_table_get(v.v.table, "basic.nack", &cap));
	ck_assert_int_eq(cap.kind, 't');
	ck_assert(cap.v.b);
	/* the table borrows from the frame */
	ck_assert(m.connection_start.server_properties.ptr > p.ptr);
	ck_assert(m.connection_start.server_properties.ptr < p.ptr + p.len);
	reencode(id, &m, p);
}
END_TEST

START_TEST(test_golden_basic_publish)
{
	struct amqp_bytes p = method_payload(golden_basic_publish);
	union amqp_method m;
	uint32_t          id;

	ck_assert_int_eq(amqp_method_decode(p.ptr, p.len, &id, &m), 0);
	ck_assert_uint_eq(id, AMQP_BASIC_PUBLISH_METHOD);
	ck_assert_uint_eq(m.basic_publish.ticket, 0);
	ck_assert(amqp_bytes_eq_cstr(m.basic_publish.exchange, "amq.direct"));
	ck_assert(amqp_bytes_eq_cstr(m.basic_publish.routing_key, "rk"));
	ck_assert(m.basic_publish.mandatory);
	ck_assert(!m.basic_publish.immediate);
	reencode(id, &m, p);
}
END_TEST

START_TEST(test_golden_basic_deliver)
{
	struct amqp_bytes p = method_payload(golden_basic_deliver);
	union amqp_method m;
	uint32_t          id;

	ck_assert_int_eq(amqp_method_decode(p.ptr, p.len, &id, &m), 0);
	ck_assert_uint_eq(id, AMQP_BASIC_DELIVER_METHOD);
	ck_assert(amqp_bytes_eq_cstr(m.basic_deliver.consumer_tag, "amq.ctag-1"));
	ck_assert_uint_eq(m.basic_deliver.delivery_tag, 42);
	ck_assert(m.basic_deliver.redelivered);
	ck_assert(amqp_bytes_eq_cstr(m.basic_deliver.exchange, "amq.direct"));
	ck_assert(amqp_bytes_eq_cstr(m.basic_deliver.routing_key, "rk"));
	reencode(id, &m, p);
}
END_TEST

START_TEST(test_golden_queue_declare)
{
	struct amqp_bytes p = method_payload(golden_queue_declare);
	union amqp_method m;
	struct amqp_field v;
	int64_t           n;
	uint32_t          id;

	ck_assert_int_eq(amqp_method_decode(p.ptr, p.len, &id, &m), 0);
	ck_assert_uint_eq(id, AMQP_QUEUE_DECLARE_METHOD);
	ck_assert(amqp_bytes_eq_cstr(m.queue_declare.queue, "q1"));
	ck_assert(!m.queue_declare.passive);
	ck_assert(m.queue_declare.durable);
	ck_assert(!m.queue_declare.exclusive);
	ck_assert(m.queue_declare.auto_delete);
	ck_assert(!m.queue_declare.nowait);
	ck_assert(amqp_table_get(m.queue_declare.arguments, "x-max-length", &v));
	ck_assert(amqp_field_as_int(&v, &n));
	ck_assert_int_eq(n, 10);
	reencode(id, &m, p);
}
END_TEST

START_TEST(test_bit_packing)
{
	union amqp_method m;
	uint8_t           buf[64];
	uint32_t          id;

	/* exchange.declare: five bits in one octet, lowest first, then the table */
	memset(&m, 0, sizeof(m));
	m.exchange_declare.exchange = amqp_cstr("x");
	m.exchange_declare.type = amqp_cstr("topic");
	m.exchange_declare.passive = true;
	m.exchange_declare.internal = true;
	m.exchange_declare.nowait = true;
	ck_assert_int_eq(amqp_method_encode(AMQP_EXCHANGE_DECLARE_METHOD, &m, buf,
	                                    sizeof(buf)), 4 + 2 + 2 + 6 + 1 + 4);
	ck_assert_uint_eq(buf[14], 0x01 | 0x08 | 0x10);
	ck_assert_uint_eq(amqp_get_u32(buf + 15), 0);

	/* basic.nack: multiple and requeue share an octet */
	memset(&m, 0, sizeof(m));
	m.basic_nack.delivery_tag = 7;
	m.basic_nack.requeue = true;
	ck_assert_int_eq(amqp_method_encode(AMQP_BASIC_NACK_METHOD, &m, buf,
	                                    sizeof(buf)), 4 + 8 + 1);
	ck_assert_uint_eq(buf[12], 0x02);

	/* unused bits of a bit octet are ignored, as RabbitMQ does */
	buf[12] = 0xFD;
	ck_assert_int_eq(amqp_method_decode(buf, 13, &id, &m), 0);
	ck_assert(m.basic_nack.multiple);
	ck_assert(!m.basic_nack.requeue);
}
END_TEST

START_TEST(test_unknown_method)
{
	static const uint8_t unknown_method[] = { 0, 60, 0, 41 };
	static const uint8_t unknown_class[] = { 0, 99, 0, 10, 1, 2, 3 };
	union amqp_method    m;
	uint8_t              buf[64];
	uint32_t             id = 0;

	ck_assert_int_eq(amqp_method_decode(unknown_method, 4, &id, &m),
	                 -AMQP_COMMAND_INVALID);
	ck_assert_uint_eq(id, 0x003C0029);
	ck_assert_int_eq(amqp_method_decode(unknown_class, 7, &id, &m),
	                 -AMQP_COMMAND_INVALID);
	ck_assert_uint_eq(id, 0x0063000A);
	ck_assert_int_eq(amqp_method_decode(unknown_class, 3, &id, &m),
	                 -AMQP_FRAME_ERROR);
	ck_assert_int_eq(amqp_method_decode(NULL, 0, &id, &m), -AMQP_FRAME_ERROR);
	memset(&m, 0, sizeof(m));
	ck_assert_int_eq(amqp_method_encode(0x003C0029, &m, buf, sizeof(buf)),
	                 -1);
	ck_assert_int_eq(amqp_method_encode(0, &m, buf, sizeof(buf)), -1);
}
END_TEST

START_TEST(test_no_argument_methods)
{
	static const uint8_t close_ok[] = { 0, 10, 0, 51 };
	static const uint8_t close_ok_extra[] = { 0, 10, 0, 51, 0 };
	union amqp_method    m;
	uint32_t             id;
	uint8_t              buf[4];

	ck_assert_int_eq(amqp_method_decode(close_ok, 4, &id, &m), 0);
	ck_assert_uint_eq(id, AMQP_CONNECTION_CLOSE_OK_METHOD);
	ck_assert_int_eq(amqp_method_decode(close_ok_extra, 5, &id, &m),
	                 -AMQP_FRAME_ERROR);
	ck_assert_int_eq(amqp_method_encode(AMQP_TX_COMMIT_METHOD, &m, buf,
	                                    sizeof(buf)), 4);
	ck_assert_int_eq(memcmp(buf, "\x00\x5A\x00\x14", 4), 0);
}
END_TEST

START_TEST(test_bad_table_argument)
{
	/* queue.declare with an arguments table holding an unknown tag */
	static const uint8_t p[] = {
		0, 50, 0, 10, 0, 0, 1, 'q', 0,
		0, 0, 0, 3, 1, 'k', 'Z'
	};
	/* ... and with a table length past the payload */
	static const uint8_t q[] = {
		0, 50, 0, 10, 0, 0, 1, 'q', 0,
		0, 0, 0, 9, 1, 'k', 'V'
	};
	union amqp_method m;
	uint32_t          id;

	ck_assert_int_eq(amqp_method_decode(p, sizeof(p), &id, &m),
	                 -AMQP_FRAME_ERROR);
	ck_assert_int_eq(amqp_method_decode(q, sizeof(q), &id, &m),
	                 -AMQP_FRAME_ERROR);
}
END_TEST

/* queue.declare, or basic.publish, naming a queue or routing key s */
static int
decode_with_name(uint32_t mid, const char *s, size_t n)
{
	union amqp_method m;
	uint8_t           buf[512];
	ssize_t           len;
	uint32_t          id;

	memset(&m, 0, sizeof(m));
	if (mid == AMQP_QUEUE_DECLARE_METHOD)
		m.queue_declare.queue = bytes(s, n);
	else
		m.basic_publish.routing_key = bytes(s, n);
	len = amqp_method_encode(mid, &m, buf, sizeof(buf));
	ck_assert_int_gt(len, 0);
	return amqp_method_decode(buf, (size_t)len, &id, &m);
}

START_TEST(test_shortstr_utf8)
{
	static const struct {
		const char *s;
		size_t      n;
		int         ok;
	} cases[] = {
		{ "plain", 5, 1 },
		{ "caf\xC3\xA9", 5, 1 },
		{ "\xE2\x82\xAC", 3, 1 },
		{ "\xF0\x9F\x90\x87", 4, 1 },
		{ "a\0b", 3, 1 },
		/* RabbitMQ (xmerl_ucs) lets surrogates and U+1FFFFF through */
		{ "\xED\xA0\x80", 3, 1 },
		{ "\xF7\xBF\xBF\xBF", 4, 1 },
		{ "\xC0\x80", 2, 0 },
		{ "\xC1\xBF", 2, 0 },
		{ "\xE0\x9F\xBF", 3, 0 },
		{ "\xF0\x8F\xBF\xBF", 4, 0 },
		{ "\xF8\x88\x80\x80\x80", 5, 0 },
		{ "\x80", 1, 0 },
		{ "\xC3", 1, 0 },
		{ "\xC2\x41", 2, 0 },
		{ "\xE1\x80", 2, 0 },
		{ "\xFF", 1, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_msg(decode_with_name(AMQP_QUEUE_DECLARE_METHOD, cases[i].s,
		                               cases[i].n) ==
		              (cases[i].ok ? 0 : -AMQP_FRAME_ERROR), "case %zu", i);
		/* methods with content are not checked */
		ck_assert_int_eq(decode_with_name(AMQP_BASIC_PUBLISH_METHOD,
		                                  cases[i].s, cases[i].n), 0);
	}
}
END_TEST

START_TEST(test_encode_limits)
{
	static char       big[300];
	union amqp_method m;
	uint8_t           buf[1024];

	memset(big, 'x', sizeof(big));
	memset(&m, 0, sizeof(m));
	m.queue_declare.queue = bytes(big, 255);
	ck_assert_int_eq(amqp_method_encode(AMQP_QUEUE_DECLARE_METHOD, &m, buf,
	                                    sizeof(buf)), 4 + 2 + 256 + 1 + 4);
	m.queue_declare.queue = bytes(big, 256);
	ck_assert_int_eq(amqp_method_encode(AMQP_QUEUE_DECLARE_METHOD, &m, buf,
	                                    sizeof(buf)), -1);
	/* a longstr may be long */
	memset(&m, 0, sizeof(m));
	m.connection_secure.challenge = bytes(big, sizeof(big));
	ck_assert_int_eq(amqp_method_encode(AMQP_CONNECTION_SECURE_METHOD, &m, buf,
	                                    sizeof(buf)), 4 + 4 + 300);
}
END_TEST

Suite *
spec_suite(void)
{
	Suite *s = suite_create("spec");
	TCase *tc = tcase_create("spec");

	tcase_add_test(tc, test_constants);
	tcase_add_test(tc, test_reply_codes);
	tcase_add_test(tc, test_descriptor_table);
	tcase_add_test(tc, test_roundtrip_every_method);
	tcase_add_test(tc, test_golden_connection_start);
	tcase_add_test(tc, test_golden_basic_publish);
	tcase_add_test(tc, test_golden_basic_deliver);
	tcase_add_test(tc, test_golden_queue_declare);
	tcase_add_test(tc, test_bit_packing);
	tcase_add_test(tc, test_unknown_method);
	tcase_add_test(tc, test_no_argument_methods);
	tcase_add_test(tc, test_bad_table_argument);
	tcase_add_test(tc, test_shortstr_utf8);
	tcase_add_test(tc, test_encode_limits);
	suite_add_tcase(s, tc);
	return s;
}
