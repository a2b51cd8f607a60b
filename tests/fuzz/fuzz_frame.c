/*
 * libFuzzer target for the frame parser and the method and content header
 * decoders.  Input: 4 bytes of frame_max, then a byte stream as a client
 * would send it (optionally starting with the protocol header).  Frames
 * are parsed advancing by what was consumed, as a connection does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/frame.h"
#include "amqp/props.h"
#include "amqp/spec_gen.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant broke: crash so that the fuzzer keeps the input. */
#define CHECK(x) do { if (!(x)) abort(); } while (0)

static uint8_t scratch[1 << 20];
static uint8_t again[1 << 20];

static void
method(const uint8_t *p, size_t n)
{
	union amqp_method m, m2;
	uint32_t          id;
	ssize_t           len, len2;

	if (amqp_method_decode(p, n, &id, &m) != 0)
		return;
	CHECK(amqp_method_desc(id) != NULL);
	/*
	 * Decoded, written back: the same length (unused bits of a bit octet
	 * may differ), and that decodes and writes back byte for byte.
	 */
	len = amqp_method_encode(id, &m, scratch, sizeof(scratch));
	CHECK(len >= 4 && (size_t)len == n);
	CHECK(amqp_method_decode(scratch, (size_t)len, &id, &m2) == 0);
	len2 = amqp_method_encode(id, &m2, again, sizeof(again));
	CHECK(len2 == len && memcmp(scratch, again, (size_t)len) == 0);
	/* too little room is refused, not overrun */
	CHECK(amqp_method_encode(id, &m, scratch, (size_t)len - 1) == -1);
}

static void
header(const uint8_t *p, size_t n)
{
	struct amqp_basic_props props, props2;
	struct amqp_bytes       raw;
	struct amqp_wbuf        w;
	uint16_t                class_id;
	uint64_t                body_size;

	if (amqp_content_header_decode(p, n, &class_id, &body_size, &raw,
	                               &props) != 0)
		return;
	CHECK(raw.ptr == p + 12 && raw.len == n - 12);
	amqp_wbuf_init(&w, scratch, sizeof(scratch));
	amqp_props_encode(&w, &props);
	CHECK(!w.overflow && w.len == raw.len);
	/* only the flag bit that names no property may differ */
	CHECK(memcmp(scratch + 2, raw.ptr + 2, raw.len - 2) == 0);
	CHECK(amqp_props_decode((struct amqp_bytes){ w.len, scratch },
	                        &props2) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct amqp_frame f;
	uint32_t          frame_max;
	ssize_t           rc;

	if (size < 4)
		return 0;
	frame_max = amqp_get_u32(data);
	data += 4;
	size -= 4;
	if (amqp_protocol_header_check(data, size) == 1) {
		data += 8;
		size -= 8;
	}

	while ((rc = amqp_frame_parse(data, size, frame_max, &f)) > 0) {
		CHECK((size_t)rc == (size_t)f.size + AMQP_FRAME_OVERHEAD);
		CHECK((size_t)rc <= size);
		CHECK(f.payload == data + AMQP_FRAME_HEADER_SIZE);
		/* one byte less is never a frame yet */
		CHECK(amqp_frame_parse(data, (size_t)rc - 1, frame_max, &f) == 0);
		CHECK(amqp_frame_parse(data, size, frame_max, &f) == rc);

		switch (f.type) {
		case AMQP_FRAME_METHOD:
			CHECK(f.size >= 4);
			method(f.payload, f.size);
			break;
		case AMQP_FRAME_HEADER:
			CHECK(f.size >= 14);
			header(f.payload, f.size);
			break;
		case AMQP_FRAME_BODY:
			break;
		case AMQP_FRAME_HEARTBEAT:
			CHECK(f.size == 0);
			break;
		default:
			CHECK(0);
		}
		data += rc;
		size -= (size_t)rc;
	}
	CHECK(rc == 0 || rc == -AMQP_FRAME_ERROR);
	return 0;
}
