/*
 * AMQP 0-9-1 frames: the 7-byte header, the payload and the frame-end octet.
 * Parsing is incremental and allocation-free; the payload is borrowed from
 * the caller's buffer.
 */
#ifndef AMQP_FRAME_H
#define AMQP_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "amqp/bytes.h"

#define AMQP_FRAME_HEADER_SIZE 7
#define AMQP_FRAME_OVERHEAD    8 /* header + frame-end */

struct amqp_frame {
	uint8_t        type;    /* AMQP_FRAME_METHOD, _HEADER, _BODY, _HEARTBEAT */
	uint16_t       channel;
	uint32_t       size;    /* payload bytes */
	const uint8_t *payload; /* borrowed: points into the parsed buffer */
};

/*
 * Parse one frame from p[0..n).  Returns the bytes consumed (> 0), 0 if more
 * input is needed, or -(reply code) if the bytes can never be a valid frame:
 * -AMQP_FRAME_ERROR for size + 8 > frame_max, a bad frame-end octet, an
 * unknown frame type, a method payload under 4 bytes, a content header
 * under 14 bytes or a heartbeat with a payload (RabbitMQ refuses those
 * too).  frame_max below AMQP_FRAME_MIN_SIZE counts as
 * AMQP_FRAME_MIN_SIZE; 0 means no limit beyond 2^32-1.  The type is
 * checked from the first byte on, the size checks as soon as the 7 header
 * bytes are there, before waiting for the rest.
 */
ssize_t amqp_frame_parse(const uint8_t *p, size_t n, uint32_t frame_max,
                         struct amqp_frame *f);

/* Write a 7-byte frame header into out. */
void amqp_frame_header_put(uint8_t *out, uint8_t type, uint16_t channel,
                           uint32_t size);

/*
 * The AMQP protocol header "AMQP" 0 0 9 1.  amqp_protocol_header_check
 * returns 1 when p[0..8) is it, 0 when n < 8 and p is still a prefix of it,
 * -1 otherwise.
 */
extern const uint8_t amqp_protocol_header[8];
int amqp_protocol_header_check(const uint8_t *p, size_t n);

#endif
