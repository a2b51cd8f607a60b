/*
 * basic content header: class id, weight, body size and the basic
 * properties with their flag word.  The broker keeps properties encoded
 * and decodes them only when it needs a field.
 */
#ifndef AMQP_PROPS_H
#define AMQP_PROPS_H

#include <stdint.h>
#include <sys/types.h>

#include "amqp/bytes.h"

#define AMQP_PROP_CONTENT_TYPE     (1u << 15)
#define AMQP_PROP_CONTENT_ENCODING (1u << 14)
#define AMQP_PROP_HEADERS          (1u << 13)
#define AMQP_PROP_DELIVERY_MODE    (1u << 12)
#define AMQP_PROP_PRIORITY         (1u << 11)
#define AMQP_PROP_CORRELATION_ID   (1u << 10)
#define AMQP_PROP_REPLY_TO         (1u << 9)
#define AMQP_PROP_EXPIRATION       (1u << 8)
#define AMQP_PROP_MESSAGE_ID       (1u << 7)
#define AMQP_PROP_TIMESTAMP        (1u << 6)
#define AMQP_PROP_TYPE             (1u << 5)
#define AMQP_PROP_USER_ID          (1u << 4)
#define AMQP_PROP_APP_ID           (1u << 3)
#define AMQP_PROP_CLUSTER_ID       (1u << 2)

struct amqp_basic_props {
	uint16_t          flags; /* which fields are present */
	struct amqp_bytes content_type, content_encoding;
	struct amqp_bytes headers; /* encoded table body, without its length */
	uint8_t           delivery_mode, priority;
	struct amqp_bytes correlation_id, reply_to, expiration, message_id;
	uint64_t          timestamp;
	struct amqp_bytes type, user_id, app_id, cluster_id;
};

/*
 * Decode a content header frame payload: class id, weight (ignored), body
 * size, then the properties.  *props_raw receives the bytes from the flag
 * word to the end (what the broker stores and sends back unchanged).
 * Returns 0 or -AMQP_FRAME_ERROR / -AMQP_SYNTAX_ERROR: payload under 14
 * bytes, a flag continuation bit, a truncated field or a bad headers table.
 * props may be NULL to only validate.
 */
int amqp_content_header_decode(const uint8_t *p, size_t n, uint16_t *class_id,
                               uint64_t *body_size, struct amqp_bytes *props_raw,
                               struct amqp_basic_props *props);

/* Decode encoded properties (flag word first). Returns 0 or -AMQP_SYNTAX_ERROR. */
int amqp_props_decode(struct amqp_bytes raw, struct amqp_basic_props *props);

/* Encode properties (flag word first); check w->overflow afterwards. */
void amqp_props_encode(struct amqp_wbuf *w, const struct amqp_basic_props *props);

#endif
