/*
 * Global engine state: vhosts, users, and the list of queues waiting to
 * dispatch.  Exchanges and queues live in exchange.c and queue.c.
 */
#include "server/broker.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "amqp/props.h"
#include "amqp/spec_gen.h"
#include "server/auth.h"
#include "server/config.h"
#include "server/conn.h"
#include "server/log.h"
#include "server/msg.h"
#include "server/persist.h"
#include "server/policy.h"

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
	vh->description = xstrndup("", 0);
	vh->tags = xstrndup("", 0);
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

void
broker_vhost_set_meta(struct vhost *vh, const char *description, const char *tags,
                      const char *default_queue_type)
{
	free(vh->description);
	free(vh->tags);
	vh->description = xstrndup(description, strlen(description));
	vh->tags = xstrndup(tags, strlen(tags));
	if (default_queue_type) {
		free(vh->default_queue_type);
		vh->default_queue_type = xstrndup(default_queue_type, strlen(default_queue_type));
	}
}

/*
 * Deleted vhosts are kept until shutdown: closing connections still point
 * at theirs until they are reaped, and the predeclared amq.* exchanges
 * cannot be removed through exchange_delete.
 */
static struct vhost **vhost_graveyard;
static size_t         vhost_graveyard_len;

int
broker_delete_vhost(const char *name)
{
	struct vhost      *vh = broker_vhost(amqp_cstr(name));
	struct list       *it, *tmp;
	struct hmap_entry *e;
	struct broker_err  err;
	size_t             i;
	char               text[300];

	if (vh == NULL)
		return -1;
	snprintf(text, sizeof(text), "vhost '%s' is deleted", vh->name);
	list_for_each_safe (it, tmp, &broker.conns) {
		struct conn *c = container_of(it, struct conn, link);
		if (c->vh == vh)
			conn_close_with(c, AMQP_CONNECTION_FORCED, text, 0);
	}
	while ((e = hmap_first(&vh->queues, &i)) != NULL)
		queue_delete(e->val);
	for (;;) {
		struct amqp_bytes victim = { 0, NULL };
		for (e = hmap_first(&vh->exchanges, &i); e; e = hmap_next(&vh->exchanges, &i, e)) {
			struct exchange *x = e->val;
			if (x->name.len && !(x->name.len >= 4 && memcmp(x->name.ptr, "amq.", 4) == 0)) {
				victim = x->name;
				break;
			}
		}
		if (victim.ptr == NULL)
			break;
		struct amqp_bytes copy = bytes_dup(victim);
		exchange_delete(vh, copy, false, &err);
		bytes_free(&copy);
	}
	hmap_del(&broker.vhosts, amqp_cstr(vh->name));
	vh->deleted = true;
	auth_forget(vh->name, NULL);
	policy_forget_vhost(vh->name);
	vhost_graveyard = xrealloc(vhost_graveyard, (vhost_graveyard_len + 1) * sizeof(*vhost_graveyard));
	vhost_graveyard[vhost_graveyard_len++] = vh;
	return 0;
}

struct user *
broker_user(struct amqp_bytes name)
{
	return hmap_get(&broker.users, name);
}

static void
user_free(struct user *u)
{
	free(u->name);
	free(u->tags);
	free(u);
}

struct user *
broker_set_user(const char *name, const char *hash, int hashing, const char *tags, bool *created)
{
	struct user *u = xcalloc(1, sizeof(*u));

	u->name = xstrndup(name, strlen(name));
	snprintf(u->password_hash, sizeof(u->password_hash), "%s", hash);
	u->hashing = hashing;
	u->tags = xstrndup(tags, strlen(tags));
	u->tagmask = auth_tags_mask(tags);
	struct user *old = hmap_put(&broker.users, amqp_cstr(u->name), u);
	if (created)
		*created = old == NULL;
	if (old) {
		struct list *it, *tmp;
		/* connections keep a pointer to their user */
		list_for_each_safe (it, tmp, &broker.conns) {
			struct conn *c = container_of(it, struct conn, link);
			if (c->user == old)
				c->user = u;
		}
		user_free(old);
	}
	return u;
}

struct user *
broker_add_user(const char *name, const char *password, const char *tags)
{
	char hash[AUTH_HASH_B64_MAX];

	auth_hash_password(AUTH_HASH_SHA256, NULL, password, strlen(password), hash, sizeof(hash));
	return broker_set_user(name, hash, AUTH_HASH_SHA256, tags, NULL);
}

int
broker_delete_user(const char *name)
{
	struct user *u = hmap_del(&broker.users, amqp_cstr(name));
	struct list *it, *tmp;
	char         text[300];

	if (u == NULL)
		return -1;
	snprintf(text, sizeof(text), "user '%s' is deleted", u->name);
	list_for_each_safe (it, tmp, &broker.conns) {
		struct conn *c = container_of(it, struct conn, link);
		if (c->user == u) {
			c->user = NULL;
			conn_close_with(c, AMQP_CONNECTION_FORCED, text, 0);
		}
	}
	auth_forget(NULL, u->name);
	user_free(u);
	return 0;
}

bool
broker_check_password(const struct user *u, struct amqp_bytes password)
{
	return auth_check_password((enum auth_hash)u->hashing, u->password_hash, password.ptr,
	                           password.len);
}

void
broker_init(const struct config *cfg)
{
	memset(&broker, 0, sizeof(broker));
	broker.cfg = cfg;
	LIST_INIT(&broker.conns);
	LIST_INIT(&broker.dispatch);
	broker.started_at = (uint64_t)time(NULL);
	policy_set_hook(broker_apply_policies);
}

void
broker_create_defaults(void)
{
	const struct config *cfg = broker.cfg;

	broker_vhost_set_meta(broker_add_vhost(cfg->default_vhost), "Default virtual host", "", NULL);
	broker_add_user(cfg->default_user, cfg->default_pass, "administrator");
	auth_set_permission(cfg->default_vhost, cfg->default_user, ".*", ".*", ".*");
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

int64_t
broker_vhost_limit(const struct vhost *vh, const char *name)
{
	const struct policy_param *p = policy_param_get("vhost-limits", vh->name, "limits");
	json_t                    *v = p ? json_object_get(p->value, name) : NULL;

	/* RabbitMQ: a negative limit means none */
	return json_is_integer(v) && json_integer_value(v) >= 0 ? json_integer_value(v) : -1;
}

void
broker_meta_changed(void)
{
	persist_meta_changed();
}

void
broker_apply_policies(const char *name)
{
	struct vhost      *vh = broker_vhost(amqp_cstr(name));
	struct hmap_entry *e;
	size_t             i;

	if (vh == NULL)
		return;
	for (e = hmap_first(&vh->queues, &i); e; e = hmap_next(&vh->queues, &i, e))
		queue_apply_policy(e->val);
	for (e = hmap_first(&vh->exchanges, &i); e; e = hmap_next(&vh->exchanges, &i, e))
		exchange_apply_policy(e->val);
	persist_meta_changed();
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
	x->stat_in++;
	if (n)
		x->stat_out++;
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
			return broker_fail(err, AMQP_PRECONDITION_FAILED, "invalid expiration '%.*s'",
			                   (int)p.expiration.len, (const char *)p.expiration.ptr);
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

	for (e = hmap_first(&broker.users, &i); e; e = hmap_next(&broker.users, &i, e))
		user_free(e->val);
	hmap_free(&broker.users);
	auth_free_all();
	policy_free_all();
}
