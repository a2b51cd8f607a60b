/*
 * amqp/frame.c: frames parsed from any split of a stream, truncations that
 * ask for more input, and each malformed header refused with FRAME_ERROR.
 */
#include <stdlib.h>
#include <string.h>

#include "amqp/frame.h"
#include "amqp/spec_gen.h"
#include "tests/unit/amqp/golden.h"
#include "tests/unit/amqp/test_amqp.h"

#define MAX_EVENTS 64

/* What a reader sees: frames (payload as an offset into the stream), then
 * possibly an error. */
struct event {
	ssize_t  rc;      /* bytes consumed, or the error */
	uint8_t  type;
	uint16_t channel;
	uint32_t size;
	size_t   payload; /* offset of the payload in the stream */
};

struct trace {
	struct event ev[MAX_EVENTS];
	size_t       n;
};

/*
 * Feed stream[0..len) to the parser in chunks cut at the given points, the
 * way a connection does: append what arrived, parse frames until the
 * parser wants more, keep the unparsed tail.
 */
static void
feed(const uint8_t *stream, size_t len, const size_t *cuts, size_t ncuts,
     uint32_t frame_max, struct trace *t)
{
	uint8_t *buf = malloc(len + 1);
	size_t   have = 0, off = 0, i;

	ck_assert_ptr_nonnull(buf);
	t->n = 0;
	for (i = 0; i <= ncuts; i++) {
		size_t upto = i < ncuts ? cuts[i] : len;

		ck_assert_uint_le(upto, len);
		if (upto < have)
			continue;
		memcpy(buf + have, stream + have, upto - have);
		have = upto;
		for (;;) {
			struct amqp_frame f;
			ssize_t           rc;

			memset(&f, 0xAA, sizeof(f));
			rc = amqp_frame_parse(buf + off, have - off, frame_max, &f);
			if (rc == 0)
				break;
			ck_assert_uint_lt(t->n, MAX_EVENTS);
			t->ev[t->n].rc = rc;
			if (rc > 0) {
				t->ev[t->n].type = f.type;
				t->ev[t->n].channel = f.channel;
				t->ev[t->n].size = f.size;
				t->ev[t->n].payload = (size_t)(f.payload - buf);
				ck_assert_ptr_eq(f.payload, buf + off + 7);
				off += (size_t)rc;
			}
			t->n++;
			if (rc < 0)
				goto done;
		}
	}
done:
	free(buf);
}

static void
trace_eq(const struct trace *a, const struct trace *b)
{
	size_t i;

	ck_assert_uint_eq(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		ck_assert_int_eq(a->ev[i].rc, b->ev[i].rc);
		if (a->ev[i].rc < 0)
			continue;
		ck_assert_uint_eq(a->ev[i].type, b->ev[i].type);
		ck_assert_uint_eq(a->ev[i].channel, b->ev[i].channel);
		ck_assert_uint_eq(a->ev[i].size, b->ev[i].size);
		ck_assert_uint_eq(a->ev[i].payload, b->ev[i].payload);
	}
}

/* publish + header + body, deliver + header + body, heartbeat, declare */
static size_t
build_stream(uint8_t *out, size_t cap)
{
	size_t n = 0;

	ck_assert_uint_le(sizeof(golden_basic_publish) +
	    sizeof(golden_basic_deliver) + sizeof(golden_heartbeat) +
	    sizeof(golden_queue_declare) + sizeof(golden_connection_start), cap);
	memcpy(out + n, golden_connection_start, sizeof(golden_connection_start));
	n += sizeof(golden_connection_start);
	memcpy(out + n, golden_basic_publish, sizeof(golden_basic_publish));
	n += sizeof(golden_basic_publish);
	memcpy(out + n, golden_heartbeat, sizeof(golden_heartbeat));
	n += sizeof(golden_heartbeat);
	memcpy(out + n, golden_basic_deliver, sizeof(golden_basic_deliver));
	n += sizeof(golden_basic_deliver);
	memcpy(out + n, golden_queue_declare, sizeof(golden_queue_declare));
	n += sizeof(golden_queue_declare);
	return n;
}

START_TEST(test_golden_stream_whole)
{
	uint8_t      stream[1024];
	size_t       len = build_stream(stream, sizeof(stream));
	struct trace t;

	feed(stream, len, NULL, 0, 131072, &t);
	ck_assert_uint_eq(t.n, 9);
	ck_assert_uint_eq(t.ev[0].type, AMQP_FRAME_METHOD);
	ck_assert_uint_eq(t.ev[0].channel, 0);
	ck_assert_uint_eq(t.ev[0].size, sizeof(golden_connection_start) - 8);
	ck_assert_uint_eq(t.ev[1].type, AMQP_FRAME_METHOD);
	ck_assert_uint_eq(t.ev[1].channel, 1);
	ck_assert_uint_eq(t.ev[2].type, AMQP_FRAME_HEADER);
	ck_assert_uint_eq(t.ev[3].type, AMQP_FRAME_BODY);
	ck_assert_uint_eq(t.ev[3].size, 5);
	ck_assert_int_eq(memcmp(stream + t.ev[3].payload, "hello", 5), 0);
	ck_assert_uint_eq(t.ev[4].type, AMQP_FRAME_HEARTBEAT);
	ck_assert_uint_eq(t.ev[4].size, 0);
	ck_assert_uint_eq(t.ev[8].type, AMQP_FRAME_METHOD);
	ck_assert_uint_eq(t.ev[8].channel, 2);
}
END_TEST

START_TEST(test_byte_by_byte)
{
	uint8_t      stream[1024];
	size_t       len = build_stream(stream, sizeof(stream));
	size_t       cuts[1024], i;
	struct trace whole, bytes;

	for (i = 0; i < len; i++)
		cuts[i] = i;
	feed(stream, len, NULL, 0, 0, &whole);
	feed(stream, len, cuts, len, 0, &bytes);
	trace_eq(&whole, &bytes);
}
END_TEST

START_TEST(test_random_splits)
{
	uint8_t      stream[1024];
	size_t       len = build_stream(stream, sizeof(stream));
	uint32_t     seed = 0x9E3779B9u;
	struct trace whole, split;
	int          round;

	feed(stream, len, NULL, 0, 4096, &whole);
	for (round = 0; round < 500; round++) {
		size_t cuts[64], ncuts = 1 + test_rand(&seed) % 63, i;

		for (i = 0; i < ncuts; i++)
			cuts[i] = test_rand(&seed) % (len + 1);
		/* ascending, as bytes arrive */
		for (i = 1; i < ncuts; i++) {
			size_t j = i, v = cuts[i];

			while (j > 0 && cuts[j - 1] > v) {
				cuts[j] = cuts[j - 1];
				j--;
			}
			cuts[j] = v;
		}
		feed(stream, len, cuts, ncuts, 4096, &split);
		trace_eq(&whole, &split);
	}
}
END_TEST

START_TEST(test_splits_with_error)
{
	/* a good frame, then one with a bad frame-end: every split agrees */
	uint8_t      stream[64];
	size_t       len = 0, cuts[64], i;
	struct trace whole, bytes;

	memcpy(stream, golden_heartbeat, 8);
	memcpy(stream + 8, golden_heartbeat, 8);
	stream[15] = 0x00;
	len = 16;
	for (i = 0; i < len; i++)
		cuts[i] = i;
	feed(stream, len, NULL, 0, 0, &whole);
	feed(stream, len, cuts, len, 0, &bytes);
	ck_assert_uint_eq(whole.n, 2);
	ck_assert_int_eq(whole.ev[1].rc, -AMQP_FRAME_ERROR);
	trace_eq(&whole, &bytes);
}
END_TEST

static void
check_truncations(const uint8_t *frame, size_t len)
{
	struct amqp_frame f;
	size_t            i;

	for (i = 0; i < len; i++)
		ck_assert_int_eq(amqp_frame_parse(frame, i, 131072, &f), 0);
	ck_assert_int_eq(amqp_frame_parse(frame, len, 131072, &f), (ssize_t)len);
}

START_TEST(test_every_truncation)
{
	uint8_t stream[1024];
	size_t  len = build_stream(stream, sizeof(stream)), off = 0;

	while (off < len) {
		struct amqp_frame f;
		ssize_t           rc = amqp_frame_parse(stream + off, len - off, 0, &f);

		ck_assert_int_gt(rc, 0);
		check_truncations(stream + off, (size_t)rc);
		off += (size_t)rc;
	}
	ck_assert_uint_eq(off, len);
}
END_TEST

START_TEST(test_heartbeat)
{
	struct amqp_frame f;

	ck_assert_int_eq(amqp_frame_parse(golden_heartbeat, 8, 4096, &f), 8);
	ck_assert_uint_eq(f.type, AMQP_FRAME_HEARTBEAT);
	ck_assert_uint_eq(f.channel, 0);
	ck_assert_uint_eq(f.size, 0);
	ck_assert_ptr_eq(f.payload, golden_heartbeat + 7);
}
END_TEST

/* A frame header of the given type and size, with a valid frame-end. */
static size_t
make_frame(uint8_t *out, uint8_t type, uint32_t size)
{
	amqp_frame_header_put(out, type, 1, size);
	memset(out + 7, 0, size);
	out[7 + size] = AMQP_FRAME_END;
	return (size_t)size + 8;
}

START_TEST(test_oversize)
{
	static uint8_t    buf[8192];
	struct amqp_frame f;
	size_t            n;

	/* size + 8 == frame_max is the largest that fits */
	n = make_frame(buf, AMQP_FRAME_BODY, 4096 - 8);
	ck_assert_int_eq(amqp_frame_parse(buf, n, 4096, &f), (ssize_t)n);
	n = make_frame(buf, AMQP_FRAME_BODY, 4096 - 7);
	ck_assert_int_eq(amqp_frame_parse(buf, n, 4096, &f), -AMQP_FRAME_ERROR);
	/* refused from the 7 header bytes, before the payload is there */
	ck_assert_int_eq(amqp_frame_parse(buf, 7, 4096, &f), -AMQP_FRAME_ERROR);
	ck_assert_int_eq(amqp_frame_parse(buf, 6, 4096, &f), 0);
	/* below FRAME-MIN-SIZE counts as FRAME-MIN-SIZE */
	n = make_frame(buf, AMQP_FRAME_BODY, 4096 - 8);
	ck_assert_int_eq(amqp_frame_parse(buf, n, 1, &f), (ssize_t)n);
	ck_assert_int_eq(amqp_frame_parse(buf, n, 4095, &f), (ssize_t)n);
	n = make_frame(buf, AMQP_FRAME_BODY, 4096 - 7);
	ck_assert_int_eq(amqp_frame_parse(buf, n, 100, &f), -AMQP_FRAME_ERROR);
	/* a negotiated limit above it */
	ck_assert_int_eq(amqp_frame_parse(buf, n, 4097, &f), (ssize_t)n);
	/* the largest size the wire can say */
	amqp_frame_header_put(buf, AMQP_FRAME_BODY, 1, UINT32_MAX);
	ck_assert_int_eq(amqp_frame_parse(buf, 7, 131072, &f), -AMQP_FRAME_ERROR);
	ck_assert_int_eq(amqp_frame_parse(buf, 7, UINT32_MAX, &f),
	                 -AMQP_FRAME_ERROR);
	ck_assert_int_eq(amqp_frame_parse(buf, 7, 0, &f), 0);
	ck_assert_int_eq(amqp_frame_parse(buf, sizeof(buf), 0, &f), 0);
	amqp_frame_header_put(buf, AMQP_FRAME_BODY, 1, UINT32_MAX - 8);
	ck_assert_int_eq(amqp_frame_parse(buf, 7, UINT32_MAX, &f), 0);
}
END_TEST

START_TEST(test_bad_frame_end)
{
	uint8_t           buf[64];
	struct amqp_frame f;
	size_t            n = make_frame(buf, AMQP_FRAME_METHOD, 4);

	buf[n - 1] = 0xCD;
	ck_assert_int_eq(amqp_frame_parse(buf, n - 1, 4096, &f), 0);
	ck_assert_int_eq(amqp_frame_parse(buf, n, 4096, &f), -AMQP_FRAME_ERROR);
	ck_assert_int_eq(amqp_frame_parse(buf, sizeof(buf), 4096, &f),
	                 -AMQP_FRAME_ERROR);
}
END_TEST

START_TEST(test_unknown_type)
{
	static const uint8_t types[] = { 0, 4, 5, 6, 7, 9, 'A', 0xCE, 0xFF };
	uint8_t              buf[16];
	struct amqp_frame    f;
	size_t               i;

	for (i = 0; i < sizeof(types); i++) {
		make_frame(buf, types[i], 0);
		/* known to be bad from the first byte on */
		ck_assert_int_eq(amqp_frame_parse(buf, 1, 4096, &f),
		                 -AMQP_FRAME_ERROR);
		ck_assert_int_eq(amqp_frame_parse(buf, 8, 4096, &f),
		                 -AMQP_FRAME_ERROR);
	}
	ck_assert_int_eq(amqp_frame_parse(buf, 0, 4096, &f), 0);
}
END_TEST

START_TEST(test_short_payloads)
{
	uint8_t           buf[64];
	struct amqp_frame f;
	size_t            n;
	uint32_t          size;

	for (size = 0; size < 4; size++) {
		n = make_frame(buf, AMQP_FRAME_METHOD, size);
		ck_assert_int_eq(amqp_frame_parse(buf, 7, 4096, &f),
		                 -AMQP_FRAME_ERROR);
		ck_assert_int_eq(amqp_frame_parse(buf, n, 4096, &f),
		                 -AMQP_FRAME_ERROR);
	}
	n = make_frame(buf, AMQP_FRAME_METHOD, 4);
	ck_assert_int_eq(amqp_frame_parse(buf, n, 4096, &f), (ssize_t)n);

	for (size = 0; size < 14; size++) {
		n = make_frame(buf, AMQP_FRAME_HEADER, size);
		ck_assert_int_eq(amqp_frame_parse(buf, 7, 4096, &f),
		                 -AMQP_FRAME_ERROR);
		ck_assert_int_eq(amqp_frame_parse(buf, n, 4096, &f),
		                 -AMQP_FRAME_ERROR);
	}
	n = make_frame(buf, AMQP_FRAME_HEADER, 14);
	ck_assert_int_eq(amqp_frame_parse(buf, n, 4096, &f), (ssize_t)n);

	/* an empty body frame is fine, a heartbeat with a payload is not */
	n = make_frame(buf, AMQP_FRAME_BODY, 0);
	ck_assert_int_eq(amqp_frame_parse(buf, n, 4096, &f), 8);
	n = make_frame(buf, AMQP_FRAME_HEARTBEAT, 1);
	ck_assert_int_eq(amqp_frame_parse(buf, 7, 4096, &f), -AMQP_FRAME_ERROR);
	ck_assert_int_eq(amqp_frame_parse(buf, n, 4096, &f), -AMQP_FRAME_ERROR);
}
END_TEST

START_TEST(test_header_put)
{
	uint8_t           buf[8];
	struct amqp_frame f;

	amqp_frame_header_put(buf, AMQP_FRAME_BODY, 0xBEEF, 0);
	buf[7] = AMQP_FRAME_END;
	ck_assert_uint_eq(buf[0], 3);
	ck_assert_uint_eq(buf[1], 0xBE);
	ck_assert_uint_eq(buf[2], 0xEF);
	ck_assert_int_eq(amqp_frame_parse(buf, 8, 4096, &f), 8);
	ck_assert_uint_eq(f.channel, 0xBEEF);
	amqp_frame_header_put(buf, AMQP_FRAME_METHOD, 65535, 0x01020304);
	ck_assert_int_eq(memcmp(buf, "\x01\xFF\xFF\x01\x02\x03\x04", 7), 0);
}
END_TEST

START_TEST(test_protocol_header)
{
	static const uint8_t good[] = { 'A', 'M', 'Q', 'P', 0, 0, 9, 1, 0x42 };
	static const uint8_t old[] = { 'A', 'M', 'Q', 'P', 1, 1, 8, 0 };
	static const uint8_t http[] = "GET / HTTP/1.1\r\n";
	size_t               i;

	ck_assert_int_eq(memcmp(amqp_protocol_header, good, 8), 0);
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(amqp_protocol_header_check(good, i), 0);
	ck_assert_int_eq(amqp_protocol_header_check(good, 8), 1);
	ck_assert_int_eq(amqp_protocol_header_check(good, 9), 1);
	ck_assert_int_eq(amqp_protocol_header_check(old, 4), 0);
	ck_assert_int_eq(amqp_protocol_header_check(old, 5), -1);
	ck_assert_int_eq(amqp_protocol_header_check(old, 8), -1);
	ck_assert_int_eq(amqp_protocol_header_check(http, 1), -1);
	ck_assert_int_eq(amqp_protocol_header_check(http, 16), -1);
}
END_TEST

Suite *
frame_suite(void)
{
	Suite *s = suite_create("frame");
	TCase *tc = tcase_create("frame");

	tcase_add_test(tc, test_golden_stream_whole);
	tcase_add_test(tc, test_byte_by_byte);
	tcase_add_test(tc, test_random_splits);
	tcase_add_test(tc, test_splits_with_error);
	tcase_add_test(tc, test_every_truncation);
	tcase_add_test(tc, test_heartbeat);
	tcase_add_test(tc, test_oversize);
	tcase_add_test(tc, test_bad_frame_end);
	tcase_add_test(tc, test_unknown_type);
	tcase_add_test(tc, test_short_payloads);
	tcase_add_test(tc, test_header_put);
	tcase_add_test(tc, test_protocol_header);
	suite_add_tcase(s, tc);
	return s;
}
