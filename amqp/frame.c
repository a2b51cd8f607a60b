/*
 * The frame layer: split a byte stream into frames and check what can be
 * checked without knowing the connection's state.  Channel rules (heartbeats
 * on channel 0, content after a content method) belong to server/.
 */
#include <string.h>

#include "amqp/frame.h"
#include "amqp/spec_gen.h"

const uint8_t amqp_protocol_header[8] = {
	'A', 'M', 'Q', 'P', 0, AMQP_PROTOCOL_VERSION_MAJOR,
	AMQP_PROTOCOL_VERSION_MINOR, AMQP_PROTOCOL_VERSION_REVISION
};

/*
 * The smallest payload of each frame type, or -1 for a type that does not
 * exist.  A method payload holds at least its class and method ids; a
 * content header its class id, weight and body size and the flag word.
 */
static long
min_payload(uint8_t type)
{
	switch (type) {
	case AMQP_FRAME_METHOD:
		return 4;
	case AMQP_FRAME_HEADER:
		return 14;
	case AMQP_FRAME_BODY:
	case AMQP_FRAME_HEARTBEAT:
		return 0;
	default:
		return -1;
	}
}

ssize_t
amqp_frame_parse(const uint8_t *p, size_t n, uint32_t frame_max,
                 struct amqp_frame *f)
{
	uint32_t size;
	long     min;

	/*
	 * Each check is made as soon as its bytes are there, so feeding a
	 * stream in any split gives the same result as one buffer.
	 */
	if (n < 1)
		return 0;
	if ((min = min_payload(p[0])) < 0)
		return -AMQP_FRAME_ERROR;
	if (n < AMQP_FRAME_HEADER_SIZE)
		return 0;

	size = amqp_get_u32(p + 3);
	if (frame_max != 0 && frame_max < AMQP_FRAME_MIN_SIZE)
		frame_max = AMQP_FRAME_MIN_SIZE;
	/* frame_max >= 4096 here, so the subtraction cannot wrap */
	if (frame_max != 0 && size > frame_max - AMQP_FRAME_OVERHEAD)
		return -AMQP_FRAME_ERROR;
	if (size < (uint32_t)min)
		return -AMQP_FRAME_ERROR;
	/* RabbitMQ takes a heartbeat with a payload for a malformed frame */
	if (p[0] == AMQP_FRAME_HEARTBEAT && size != 0)
		return -AMQP_FRAME_ERROR;

	/* need 7 + size + 1 bytes; compare with what is left, never add */
	if (n - AMQP_FRAME_HEADER_SIZE <= size)
		return 0;
	if (p[AMQP_FRAME_HEADER_SIZE + (size_t)size] != AMQP_FRAME_END)
		return -AMQP_FRAME_ERROR;

	f->type = p[0];
	f->channel = amqp_get_u16(p + 1);
	f->size = size;
	f->payload = p + AMQP_FRAME_HEADER_SIZE;
	return (ssize_t)((size_t)size + AMQP_FRAME_OVERHEAD);
}

void
amqp_frame_header_put(uint8_t *out, uint8_t type, uint16_t channel,
                      uint32_t size)
{
	out[0] = type;
	amqp_put_u16(out + 1, channel);
	amqp_put_u32(out + 3, size);
}

int
amqp_protocol_header_check(const uint8_t *p, size_t n)
{
	size_t len = n < sizeof(amqp_protocol_header) ?
	    n : sizeof(amqp_protocol_header);

	if (len > 0 && memcmp(p, amqp_protocol_header, len) != 0)
		return -1;
	return n >= sizeof(amqp_protocol_header) ? 1 : 0;
}
