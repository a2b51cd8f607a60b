/*
 * Exchanges, bindings and routing.  Direct exchanges index bindings by
 * routing key, topic exchanges by a trie (topic.c), fanout and headers
 * exchanges keep a list.  Routing follows exchange-to-exchange bindings and
 * alternate exchanges as RabbitMQ's rabbit_exchange:route/2 does: an
 * exchange whose own bindings match nothing hands the message to its
 * alternate exchange; every exchange is visited at most once.
 */
#include <stdio.h>

#include "amqp/spec_gen.h"
#include "amqp/table.h"
#include "server/broker.h"
#include "server/headers.h"
#include "server/msg.h"
#include "server/persist.h"
#include "server/policy.h"
#include "server/topic.h"

static const char *const type_names[] = { "direct", "fanout", "topic", "headers" };

const char *
exchange_type_name(enum exchange_type t)
{
	return type_names[t];
}

int
exchange_type_parse(struct amqp_bytes s, enum exchange_type *t)
{
	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (amqp_bytes_eq_cstr(s, type_names[i])) {
			*t = (enum exchange_type)i;
			return 0;
		}
	return -1;
}

struct exchange *
exchange_find(struct vhost *vh, struct amqp_bytes name)
{
	return hmap_get(&vh->exchanges, name);
}

static const char *
tf(bool b)
{
	return b ? "true" : "false";
}

/* RabbitMQ compares an argument's type class and value (rabbit_misc:assert_args_equivalence). */
static int
type_class(uint8_t kind)
{
	switch (kind) {
	case 'b': case 'B': case 's': case 'u': case 'I': case 'i': case 'l': case 'L':
		return 'I';
	case 'S': case 'x':
		return 'S';
	default:
		return kind;
	}
}

const char *
exchange_field_type_name(uint8_t kind)
{
	switch (kind) {
	case 't': return "bool";
	case 'b': return "byte";
	case 'B': return "unsignedbyte";
	case 's': return "short";
	case 'u': return "unsignedshort";
	case 'I': return "signedint";
	case 'i': return "unsignedint";
	case 'l': return "long";
	case 'L': return "unsignedlong";
	case 'f': return "float";
	case 'd': return "double";
	case 'D': return "decimal";
	case 'S': return "longstr";
	case 'A': return "array";
	case 'T': return "timestamp";
	case 'F': return "table";
	case 'V': return "void";
	case 'x': return "binary";
	}
	return "unknown";
}

void
exchange_field_format(const struct amqp_field *f, char *buf, size_t len)
{
	int64_t i;

	if (amqp_field_as_int(f, &i)) {
		snprintf(buf, len, "%lld", (long long)i);
		return;
	}
	switch (f->kind) {
	case 't':
		snprintf(buf, len, "%s", tf(f->v.b));
		break;
	case 'S':
	case 'x':
		snprintf(buf, len, "%.*s", (int)(f->v.str.len > 200 ? 200 : f->v.str.len),
		         (const char *)f->v.str.ptr);
		break;
	case 'd':
		snprintf(buf, len, "%g", f->v.d);
		break;
	case 'f':
		snprintf(buf, len, "%g", (double)f->v.f);
		break;
	default:
		snprintf(buf, len, "...");
		break;
	}
}

/*
 * The equivalence check of declare arguments, for the keys RabbitMQ checks.
 * what is "exchange 'x' in vhost '/'" or "queue ...".
 */
/* rabbit_misc:val/1: a typed value, or none. */
static void
format_typed(const struct amqp_field *f, bool present, char *buf, size_t len)
{
	char v[256];

	if (!present) {
		snprintf(buf, len, "none");
		return;
	}
	exchange_field_format(f, v, sizeof(v));
	snprintf(buf, len, "the value '%s' of type '%s'", v, exchange_field_type_name(f->kind));
}

int
exchange_args_equivalent(struct amqp_bytes cur, struct amqp_bytes req, const char *const *keys,
                         const char *what, struct broker_err *err)
{
	for (; *keys; keys++) {
		struct amqp_field a, b;
		bool              ha = amqp_table_get(cur, *keys, &a) == 1;
		bool              hb = amqp_table_get(req, *keys, &b) == 1;
		char              va[300], vb[300];

		if (!ha && !hb)
			continue;
		if (ha && hb) {
			if (type_class(a.kind) == type_class(b.kind)) {
				int64_t ia, ib;
				if (amqp_field_as_int(&a, &ia) && amqp_field_as_int(&b, &ib)) {
					if (ia == ib)
						continue;
				} else if (type_class(a.kind) == 'S') {
					if (amqp_bytes_eq(a.v.str, b.v.str))
						continue;
				} else if (amqp_field_eq(&a, &b)) {
					continue;
				}
			}
			/* Both present: RabbitMQ shows the bare values. */
			exchange_field_format(&b, vb, sizeof(vb));
			exchange_field_format(&a, va, sizeof(va));
			return broker_fail(err, AMQP_PRECONDITION_FAILED,
			                   "inequivalent arg '%s' for %s: received '%s' but current is '%s'",
			                   *keys, what, vb, va);
		}
		format_typed(&b, hb, vb, sizeof(vb));
		format_typed(&a, ha, va, sizeof(va));
		return broker_fail(err, AMQP_PRECONDITION_FAILED,
		                   "inequivalent arg '%s' for %s: received %s but current is %s", *keys,
		                   what, vb, va);
	}
	return 0;
}

static bool
reserved_name(struct amqp_bytes name)
{
	return name.len >= 4 && memcmp(name.ptr, "amq.", 4) == 0;
}

int
exchange_declare(struct vhost *vh, struct amqp_bytes name, struct amqp_bytes type,
                 bool passive, bool durable, bool auto_delete, bool internal,
                 struct amqp_bytes args, struct broker_err *err)
{
	struct exchange   *x = exchange_find(vh, name);
	enum exchange_type t;
	char               what[400];

	snprintf(what, sizeof(what), "exchange '%.*s' in vhost '%s'", (int)name.len,
	         (const char *)name.ptr, vh->name);
	if (passive) {
		if (x == NULL)
			return broker_fail(err, AMQP_NOT_FOUND, "no %s", what);
		return 0;
	}
	if (exchange_type_parse(type, &t) != 0)
		return broker_fail(err, AMQP_COMMAND_INVALID, "unknown exchange type '%.*s'",
		                   (int)type.len, (const char *)type.ptr);
	if (x) {
		if (x->type != t)
			return broker_fail(err, AMQP_PRECONDITION_FAILED,
			                   "inequivalent arg 'type' for %s: received '%.*s' but current is '%s'",
			                   what, (int)type.len, (const char *)type.ptr, type_names[x->type]);
		if (x->durable != durable)
			return broker_fail(err, AMQP_PRECONDITION_FAILED,
			                   "inequivalent arg 'durable' for %s: received '%s' but current is '%s'",
			                   what, tf(durable), tf(x->durable));
		if (x->auto_delete != auto_delete)
			return broker_fail(err, AMQP_PRECONDITION_FAILED,
			                   "inequivalent arg 'auto_delete' for %s: received '%s' but current is '%s'",
			                   what, tf(auto_delete), tf(x->auto_delete));
		if (x->internal != internal)
			return broker_fail(err, AMQP_PRECONDITION_FAILED,
			                   "inequivalent arg 'internal' for %s: received '%s' but current is '%s'",
			                   what, tf(internal), tf(x->internal));
		static const char *const keys[] = { "alternate-exchange", NULL };
		return exchange_args_equivalent(x->args, args, keys, what, err);
	}
	if (vh->default_x && reserved_name(name))
		return broker_fail(err, AMQP_ACCESS_REFUSED,
		                   "exchange name '%.*s' contains reserved prefix 'amq.*'",
		                   (int)name.len, (const char *)name.ptr);
	x = xcalloc(1, sizeof(*x));
	x->name = bytes_dup(name);
	x->vh = vh;
	x->type = t;
	x->durable = durable;
	x->auto_delete = auto_delete;
	x->internal = internal;
	x->args = bytes_dup(args);
	LIST_INIT(&x->bindings);
	LIST_INIT(&x->dest_bindings);
	if (t == EXCHANGE_TOPIC)
		x->trie = topic_new();
	hmap_put(&vh->exchanges, x->name, x);
	exchange_apply_policy(x);
	persist_meta_exchange(x, true);
	return 0;
}

/* Does a binding belong in the definitions file? */
static bool
binding_durable(const struct binding *b)
{
	if (!b->src->durable)
		return false;
	return b->dest_is_exchange ? ((const struct exchange *)b->dest)->durable
	                           : ((const struct queue *)b->dest)->durable;
}

static void
binding_free(struct binding *b)
{
	struct exchange *x = b->src;

	if (binding_durable(b))
		persist_meta_binding(b, false);
	list_del(&b->src_link);
	list_del(&b->dst_link);
	x->nbindings--;
	if (x->type == EXCHANGE_DIRECT) {
		struct list *bucket = hmap_get(&x->direct, b->rk);
		list_del(&b->key_link);
		if (bucket && LIST_EMPTY(bucket)) {
			hmap_del(&x->direct, b->rk);
			free(bucket);
		}
	} else if (x->type == EXCHANGE_TOPIC) {
		topic_remove(x->trie, b->rk, b);
	}
	bytes_free(&b->rk);
	bytes_free(&b->args);
	free(b);
}

static void exchange_free(struct exchange *x);

/* RabbitMQ deletes an auto-delete exchange when its last binding goes. */
static void
maybe_auto_delete(struct exchange *x)
{
	if (x->auto_delete && x->nbindings == 0 && !x->deleted) {
		hmap_del(&x->vh->exchanges, x->name);
		exchange_free(x);
	}
}

void
exchange_unbind_all_dest(struct list *dest_bindings)
{
	struct list *it, *tmp;

	list_for_each_safe (it, tmp, dest_bindings) {
		struct binding  *b = container_of(it, struct binding, dst_link);
		struct exchange *src = b->src;
		binding_free(b);
		maybe_auto_delete(src);
	}
}

static void
exchange_free(struct exchange *x)
{
	struct list *it, *tmp;

	x->deleted = true;
	persist_meta_exchange(x, false);
	list_for_each_safe (it, tmp, &x->bindings)
		binding_free(container_of(it, struct binding, src_link));
	/* Bindings to this exchange go too; their sources may auto-delete. */
	exchange_unbind_all_dest(&x->dest_bindings);
	if (x->trie)
		topic_free(x->trie);
	hmap_free(&x->direct);
	bytes_free(&x->name);
	bytes_free(&x->args);
	bytes_free(&x->pol_ae);
	free(x);
}

int
exchange_delete(struct vhost *vh, struct amqp_bytes name, bool if_unused, struct broker_err *err)
{
	struct exchange *x;

	if (name.len == 0)
		return broker_fail(err, AMQP_ACCESS_REFUSED,
		                   "operation not permitted on the default exchange");
	if (reserved_name(name))
		return broker_fail(err, AMQP_ACCESS_REFUSED,
		                   "deletion of system exchange '%.*s' in vhost '%s' not allowed",
		                   (int)name.len, (const char *)name.ptr, vh->name);
	x = exchange_find(vh, name);
	if (x == NULL)
		return broker_fail(err, AMQP_NOT_FOUND, "no exchange '%.*s' in vhost '%s'",
		                   (int)name.len, (const char *)name.ptr, vh->name);
	if (if_unused && !LIST_EMPTY(&x->bindings))
		return broker_fail(err, AMQP_PRECONDITION_FAILED, "exchange '%.*s' in vhost '%s' in use",
		                   (int)name.len, (const char *)name.ptr, vh->name);
	hmap_del(&vh->exchanges, x->name);
	exchange_free(x);
	return 0;
}

static struct binding *
binding_find(struct exchange *src, struct list *dest_bindings, void *dest,
             struct amqp_bytes rk, struct amqp_bytes args)
{
	struct list *it, *tmp;

	list_for_each_safe (it, tmp, dest_bindings) {
		struct binding *b = container_of(it, struct binding, dst_link);
		if (b->src == src && b->dest == dest && amqp_bytes_eq(b->rk, rk) &&
		    amqp_bytes_eq(b->args, args))
			return b;
	}
	return NULL;
}

/* Create a binding unless an identical one exists. */
int
exchange_add_binding(struct exchange *src, bool dest_is_exchange, void *dest,
                     struct list *dest_bindings, struct amqp_bytes rk, struct amqp_bytes args,
                     struct broker_err *err)
{
	if (src->type == EXCHANGE_HEADERS) {
		char msg[256];
		if (headers_validate_args(args, msg, sizeof(msg)) != 0)
			return broker_fail(err, AMQP_PRECONDITION_FAILED, "%s", msg);
	}
	if (binding_find(src, dest_bindings, dest, rk, args))
		return 0;

	struct binding *b = xcalloc(1, sizeof(*b));
	b->src = src;
	b->dest_is_exchange = dest_is_exchange;
	b->dest = dest;
	b->rk = bytes_dup(rk);
	b->args = bytes_dup(args);
	list_add_tail(&src->bindings, &b->src_link);
	list_add_tail(dest_bindings, &b->dst_link);
	LIST_INIT(&b->key_link);
	src->nbindings++;
	if (src->type == EXCHANGE_DIRECT) {
		struct list *bucket = hmap_get(&src->direct, b->rk);
		if (bucket == NULL) {
			bucket = xmalloc(sizeof(*bucket));
			LIST_INIT(bucket);
			hmap_put(&src->direct, b->rk, bucket);
		}
		list_add_tail(bucket, &b->key_link);
	} else if (src->type == EXCHANGE_TOPIC) {
		topic_add(src->trie, b->rk, b);
	}
	if (binding_durable(b))
		persist_meta_binding(b, true);
	return 0;
}

int
exchange_remove_binding(struct exchange *src, void *dest, struct list *dest_bindings,
                        struct amqp_bytes rk, struct amqp_bytes args)
{
	struct binding *b = binding_find(src, dest_bindings, dest, rk, args);

	if (b == NULL)
		return -1;
	binding_free(b);
	maybe_auto_delete(src);
	return 0;
}

static int
find_pair(struct vhost *vh, struct amqp_bytes dest, struct amqp_bytes src,
          struct exchange **d, struct exchange **s, struct broker_err *err)
{
	if (src.len == 0 || dest.len == 0)
		return broker_fail(err, AMQP_ACCESS_REFUSED,
		                   "operation not permitted on the default exchange");
	*s = exchange_find(vh, src);
	if (*s == NULL)
		return broker_fail(err, AMQP_NOT_FOUND, "no exchange '%.*s' in vhost '%s'",
		                   (int)src.len, (const char *)src.ptr, vh->name);
	*d = exchange_find(vh, dest);
	if (*d == NULL)
		return broker_fail(err, AMQP_NOT_FOUND, "no exchange '%.*s' in vhost '%s'",
		                   (int)dest.len, (const char *)dest.ptr, vh->name);
	return 0;
}

int
exchange_bind(struct vhost *vh, struct amqp_bytes dest, struct amqp_bytes src,
              struct amqp_bytes rk, struct amqp_bytes args, struct broker_err *err)
{
	struct exchange *d, *s;
	int              rc = find_pair(vh, dest, src, &d, &s, err);

	if (rc)
		return rc;
	return exchange_add_binding(s, true, d, &d->dest_bindings, rk, args, err);
}

int
exchange_unbind(struct vhost *vh, struct amqp_bytes dest, struct amqp_bytes src,
                struct amqp_bytes rk, struct amqp_bytes args, struct broker_err *err)
{
	struct exchange *d, *s;
	int              rc = find_pair(vh, dest, src, &d, &s, err);

	if (rc)
		return err->code == AMQP_NOT_FOUND ? 0 : rc;
	/* RabbitMQ answers unbind-ok for a binding that does not exist. */
	exchange_remove_binding(s, d, &d->dest_bindings, rk, args);
	return 0;
}

/* Routing. */

struct route_ctx {
	struct queue    ***out;
	size_t            *cap;
	size_t             n;
	struct exchange  **xq;   /* exchanges still to visit */
	size_t             nx, xcap;
	size_t             matched; /* destinations matched by the current exchange */
};

static void
add_queue(struct route_ctx *r, struct queue *q)
{
	if (q->route_mark == broker.route_mark || q->deleted)
		return;
	q->route_mark = broker.route_mark;
	if (r->n == *r->cap) {
		*r->cap = *r->cap ? *r->cap * 2 : 16;
		*r->out = xrealloc(*r->out, *r->cap * sizeof(**r->out));
	}
	(*r->out)[r->n++] = q;
}

static void
add_exchange(struct route_ctx *r, struct exchange *x)
{
	if (x->route_mark == broker.route_mark)
		return;
	x->route_mark = broker.route_mark;
	if (r->nx == r->xcap) {
		r->xcap = r->xcap ? r->xcap * 2 : 8;
		r->xq = xrealloc(r->xq, r->xcap * sizeof(*r->xq));
	}
	r->xq[r->nx++] = x;
}

static void
add_binding_dest(void *dest, void *arg)
{
	struct binding   *b = dest;
	struct route_ctx *r = arg;

	r->matched++;
	if (b->dest_is_exchange)
		add_exchange(r, b->dest);
	else
		add_queue(r, b->dest);
}

static void
route_one(struct exchange *x, const struct msg *m, struct amqp_bytes headers,
          struct route_ctx *r)
{
	struct amqp_bytes rk = msg_routing_key(m);
	struct list      *it, *tmp;

	r->matched = 0;
	if (x == x->vh->default_x) {
		struct queue *q = queue_find(x->vh, rk);
		if (q) {
			r->matched++;
			add_queue(r, q);
		}
		return;
	}
	switch (x->type) {
	case EXCHANGE_DIRECT: {
		struct list *bucket = hmap_get(&x->direct, rk);
		if (bucket)
			list_for_each_safe (it, tmp, bucket)
				add_binding_dest(container_of(it, struct binding, key_link), r);
		break;
	}
	case EXCHANGE_FANOUT:
		list_for_each_safe (it, tmp, &x->bindings)
			add_binding_dest(container_of(it, struct binding, src_link), r);
		break;
	case EXCHANGE_TOPIC:
		topic_match(x->trie, rk, add_binding_dest, r);
		break;
	case EXCHANGE_HEADERS:
		list_for_each_safe (it, tmp, &x->bindings) {
			struct binding *b = container_of(it, struct binding, src_link);
			if (headers_match(b->args, headers))
				add_binding_dest(b, r);
		}
		break;
	}
	if (r->matched == 0) {
		/* the argument wins over a policy, as in RabbitMQ */
		struct amqp_field ae;
		struct exchange  *alt = NULL;
		if (amqp_table_get(x->args, "alternate-exchange", &ae) == 1 && ae.kind == 'S')
			alt = exchange_find(x->vh, ae.v.str);
		else if (x->pol_ae.len)
			alt = exchange_find(x->vh, x->pol_ae);
		if (alt)
			add_exchange(r, alt);
	}
}

size_t
exchange_route(struct exchange *x, const struct msg *m, struct amqp_bytes headers,
               struct queue ***out, size_t *cap)
{
	static struct exchange **xq;
	static size_t            xcap;
	struct route_ctx         r = { out, cap, 0, xq, 0, xcap, 0 };

	broker.route_mark++;
	add_exchange(&r, x);
	for (size_t i = 0; i < r.nx; i++)
		route_one(r.xq[i], m, headers, &r);
	xq = r.xq;
	xcap = r.xcap;
	return r.n;
}

void
exchange_apply_policy(struct exchange *x)
{
	const struct policy *p;
	json_t              *ae;

	bytes_free(&x->pol_ae);
	p = policy_match(x->vh->name, (const char *)x->name.ptr, false, NULL, false);
	if (p && json_is_string(ae = json_object_get(p->definition, "alternate-exchange")))
		x->pol_ae = bytes_dup((struct amqp_bytes){ json_string_length(ae),
		                                           (const uint8_t *)json_string_value(ae) });
}
