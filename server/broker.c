/*
 * Global engine state: vhosts, users, and the list of queues waiting to
 * dispatch.  Exchanges and queues live in exchange.c and queue.c.
 */
#include "server/broker.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "amqp/props.h"
#include "amqp/spec_gen.h"
#include "server/config.h"
#include "server/log.h"
#include "server/msg.h"

struct broker broker;

int
broker_fail(struct broker_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
	return -code;
}

struct vhost *
broker_vhost(struct amqp_bytes name)
{
	return hmap_get(&broker.vhosts, name);
}

static void
predeclare(struct vhost *vh, const char *name, const char *type)
{
	struct broker_err err;

	if (exchange_declare(vh, amqp_cstr(name), amqp_cstr(type), false, true, false, false,
	                     (struct amqp_bytes){ 0, NULL }, &err) != 0)
		fatalx("predeclaring %s: %s", name, err.text);
}

struct vhost *
broker_add_vhost(const char *name)
{
	struct vhost *vh = broker_vhost(amqp_cstr(name));

	if (vh)
		return vh;
	vh = xcalloc(1, sizeof(*vh));
	vh->name = xstrndup(name, strlen(name));
	vh->name_len = strlen(name);
	hmap_put(&broker.vhosts, amqp_cstr(vh->name), vh);
	/* default_x stays NULL while predeclaring: exchange_declare lets "amq." names through */
	predeclare(vh, "", "direct");
	predeclare(vh, "amq.direct", "direct");
	predeclare(vh, "amq.fanout", "fanout");
	predeclare(vh, "amq.topic", "topic");
	predeclare(vh, "amq.headers", "headers");
	predeclare(vh, "amq.match", "headers");
	predeclare(vh, "amq.rabbitmq.trace", "topic");
	exchange_find(vh, amqp_cstr("amq.rabbitmq.trace"))->internal = true;
	vh->default_x = exchange_find(vh, amqp_cstr(""));
	return vh;
}

struct user *
broker_user(struct amqp_bytes name)
{
	return hmap_get(&broker.users, name);
}

struct user *
broker_add_user(const char *name, const char *password, const char *tags)
{
	struct user *u = xcalloc(1, sizeof(*u));

	u->name = xstrndup(name, strlen(name));
	u->password = xstrndup(password, strlen(password));
	u->tags = xstrndup(tags, strlen(tags));
	struct user *old = hmap_put(&broker.users, amqp_cstr(u->name), u);
	if (old) {
		free(old->name);
		free(old->password);
		free(old->tags);
		free(old);
	}
	return u;
}

bool
broker_check_password(const struct user *u, struct amqp_bytes password)
{
	size_t n = strlen(u->password);

	/* Length is not secret; the comparison of the bytes is constant time. */
	return n == password.len && CRYPTO_memcmp(u->password, password.ptr, n) == 0;
}

void
broker_init(const struct config *cfg)
{
	memset(&broker, 0, sizeof(broker));
	broker.cfg = cfg;
	LIST_INIT(&broker.conns);
	LIST_INIT(&broker.dispatch);
	broker.started_at = (uint64_t)time(NULL);
	broker_add_vhost(cfg->default_vhost);
	broker_add_user(cfg->default_user, cfg->default_pass, "administrator");
}

void
broker_dispatch(void)
{
	/* Dispatching may schedule more queues (auto-delete, requeue); loop until quiet. */
	while (!LIST_EMPTY(&broker.dispatch)) {
		struct queue *q = container_of(broker.dispatch.next, struct queue, dlink);
		list_del(&q->dlink);
		q->dispatch_pending = false;
		queue_dispatch(q);
	}
}

size_t
broker_route(struct exchange *x, struct msg *m, bool *refused)
{
	struct amqp_bytes       headers = { 0, NULL };
	struct amqp_basic_props props;
	struct queue           *local[16], **targets;

	if (x->type == EXCHANGE_HEADERS && amqp_props_decode(msg_props(m), &props) == 0 &&
	    (props.flags & AMQP_PROP_HEADERS))
		headers = props.headers;
	size_t n = exchange_route(x, m, headers, &broker.route_buf, &broker.route_cap);
	/* queue_push may dead-letter, which routes again: work on a copy */
	targets = n <= 16 ? local : xmalloc(n * sizeof(*targets));
	if (n)
		memcpy(targets, broker.route_buf, n * sizeof(*targets));
	for (size_t i = 0; i < n; i++)
		if (queue_push(targets[i], m) != 0)
			*refused = true;
	if (targets != local)
		free(targets);
	return n;
}

int
broker_publish(struct vhost *vh, struct amqp_bytes exchange, struct amqp_bytes rk,
               struct amqp_bytes props, const void *body, size_t len, bool *routed,
               struct broker_err *err)
{
	struct exchange        *x = exchange_find(vh, exchange);
	struct amqp_basic_props p;
	struct msg             *m;
	bool                    refused = false;

	if (x == NULL)
		return broker_fail(err, AMQP_NOT_FOUND, "no exchange '%.*s' in vhost '%s'",
		                   (int)exchange.len, (const char *)exchange.ptr, vh->name);
	if (x->internal)
		return broker_fail(err, AMQP_ACCESS_REFUSED,
		                   "cannot publish to internal exchange '%.*s' in vhost '%s'",
		                   (int)exchange.len, (const char *)exchange.ptr, vh->name);
	if (rk.len > 255 || amqp_props_decode(props, &p) != 0)
		return broker_fail(err, AMQP_SYNTAX_ERROR, "malformed message properties");
	m = msg_new(exchange, rk, props, len);
	if (m == NULL)
		return broker_fail(err, AMQP_RESOURCE_ERROR, "out of memory");
	if (len)
		memcpy(m->body, body, len);
	m->body_filled = len;
	if (p.flags & AMQP_PROP_DELIVERY_MODE)
		m->persistent = p.delivery_mode == 2;
	if (p.flags & AMQP_PROP_PRIORITY)
		m->priority = p.priority;
	if (p.flags & AMQP_PROP_EXPIRATION) {
		if (msg_parse_expiration(p.expiration, &m->expiration) != 0) {
			msg_unref(m);
			return broker_fail(err, AMQP_PRECONDITION_FAILED,
			                   "invalid expiration '%.*s' for message", (int)p.expiration.len,
			                   (const char *)p.expiration.ptr);
		}
	}
	*routed = broker_route(x, m, &refused) > 0 && !refused;
	msg_unref(m);
	return 0;
}

void
broker_shutdown(void)
{
	size_t             i;
	struct hmap_entry *e;

	for (e = hmap_first(&broker.users, &i); e; e = hmap_next(&broker.users, &i, e)) {
		struct user *u = e->val;
		free(u->name);
		free(u->password);
		free(u->tags);
		free(u);
	}
	hmap_free(&broker.users);
}
