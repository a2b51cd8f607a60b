/*
 * Message allocation and reference counting.
 */
#include "server/msg.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/props.h"


struct msg *
msg_new(struct amqp_bytes exchange, struct amqp_bytes rk, struct amqp_bytes props,
        uint64_t body_len)
{
	size_t      head = exchange.len + rk.len + props.len;
	struct msg *m;

	if (body_len > SIZE_MAX - sizeof(*m) - head)
		return NULL;
	m = malloc(sizeof(*m) + head + body_len);
	if (m == NULL)
		return NULL;
	m->refs = 1;
	m->exchange_len = (uint8_t)exchange.len;
	m->rk_len = (uint8_t)rk.len;
	m->props_len = (uint32_t)props.len;
	m->body_len = body_len;
	m->expiration = -1;
	m->body_filled = 0;
	if (exchange.len)
		memcpy(m->data, exchange.ptr, exchange.len);
	if (rk.len)
		memcpy(m->data + exchange.len, rk.ptr, rk.len);
	if (props.len)
		memcpy(m->data + exchange.len + rk.len, props.ptr, props.len);
	m->body = m->data + head;
	m->persistent = 0;
	m->priority = 0;
	return m;
}

void
msg_unref(struct msg *m)
{
	if (m->refs == 0)
		abort();
	if (--m->refs == 0)
		free(m);
}

int
msg_parse_expiration(struct amqp_bytes s, int64_t *ms)
{
	int64_t v = 0;
	size_t  i = 0;
	bool    neg = s.len > 1 && s.ptr[0] == '-';

	if (neg)
		i = 1;
	if (s.len == i || s.len > 18)
		return -1;
	for (; i < s.len; i++) {
		if (s.ptr[i] < '0' || s.ptr[i] > '9')
			return -1;
		v = v * 10 + (s.ptr[i] - '0');
	}
	if (neg)
		return v ? -2 : (*ms = 0, 0);
	*ms = v;
	return 0;
}

void
msg_set_from_props(struct msg *m)
{
	struct amqp_basic_props p;

	if (amqp_props_decode(msg_props(m), &p) != 0)
		return;
	if (p.flags & AMQP_PROP_DELIVERY_MODE)
		m->persistent = p.delivery_mode == 2;
	if (p.flags & AMQP_PROP_PRIORITY)
		m->priority = p.priority;
	if (p.flags & AMQP_PROP_EXPIRATION)
		msg_parse_expiration(p.expiration, &m->expiration);
}
