/*
 * A message: refcounted, immutable once complete, shared by every queue it
 * lands on, every unacked delivery and every pending write.  One allocation
 * holds the struct, the exchange name, the routing key, the encoded
 * properties and the body.
 */
#ifndef SERVER_MSG_H
#define SERVER_MSG_H

#include <stdbool.h>
#include <stdint.h>

#include "amqp/bytes.h"

struct msg {
	uint32_t  refs;          /* queues + unacked deliveries + pending writes */
	uint8_t   exchange_len;
	uint8_t   rk_len;
	uint8_t   persistent;    /* delivery_mode 2 */
	uint8_t   priority;
	uint32_t  props_len;
	int64_t   expiration;    /* per-message TTL in ms from the expiration property, -1 = none */
	uint64_t  body_len;
	uint64_t  body_filled;   /* bytes of body received so far */
	uint8_t  *body;          /* points into this allocation */
	uint8_t   data[];        /* exchange, routing key, properties, body */
};

/*
 * Allocate a message with room for a body of body_len bytes (checked
 * against the configured maximum by the caller).  Returns NULL if the
 * allocation fails, which the caller reports as a resource error.  The
 * message starts with one reference; the caller sets persistent and
 * priority from the properties it decoded.
 */
struct msg *msg_new(struct amqp_bytes exchange, struct amqp_bytes rk,
                    struct amqp_bytes props, uint64_t body_len);

static inline struct msg *
msg_ref(struct msg *m)
{
	m->refs++;
	return m;
}

void msg_unref(struct msg *m); /* frees at zero */

/* Set persistent, priority and expiration from the encoded properties. */
void msg_set_from_props(struct msg *m);

/*
 * The expiration property: a non-negative integer of milliseconds, as
 * text.  Returns 0 with *ms, -1 if it is not an integer, -2 if negative.
 */
int msg_parse_expiration(struct amqp_bytes s, int64_t *ms);

static inline struct amqp_bytes
msg_exchange(const struct msg *m)
{
	return (struct amqp_bytes){ m->exchange_len, m->data };
}

static inline struct amqp_bytes
msg_routing_key(const struct msg *m)
{
	return (struct amqp_bytes){ m->rk_len, m->data + m->exchange_len };
}

static inline struct amqp_bytes
msg_props(const struct msg *m)
{
	return (struct amqp_bytes){ m->props_len, m->data + m->exchange_len + m->rk_len };
}

/* Total bytes of memory the message accounts for. */
static inline uint64_t
msg_size(const struct msg *m)
{
	return m->body_len;
}

#endif
