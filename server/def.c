/*
 * Definitions export and import in RabbitMQ's JSON format, and the field
 * table <-> JSON conversions.  Objects are created and changed through the
 * engine's own operations (queue_declare, exchange_declare, queue_bind,
 * exchange_bind), so an import obeys the same rules as AMQP clients.
 */
#include "server/def.h"

#include <math.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/table.h"
#include "server/auth.h"
#include "server/broker.h"
#include "server/policy.h"
#include "server/util.h"

#define RABBIT_VERSION "3.10.8"

/* Field tables -> JSON. */

static json_t *
str_json(struct amqp_bytes s)
{
	json_t *j = json_stringn((const char *)s.ptr, s.len);

	/* not UTF-8: RabbitMQ would show the bytes; keep what can be shown */
	if (j == NULL) {
		char *t = xmalloc(s.len + 1);
		for (size_t i = 0; i < s.len; i++)
			t[i] = s.ptr[i] < 0x80 ? (char)s.ptr[i] : '?';
		j = json_stringn(t, s.len);
		free(t);
	}
	return j;
}

json_t *
def_field_to_json(const struct amqp_field *f)
{
	switch (f->kind) {
	case AMQP_FIELD_BOOL:
		return json_boolean(f->v.b);
	case AMQP_FIELD_I8:
	case AMQP_FIELD_U8:
	case AMQP_FIELD_I16:
	case AMQP_FIELD_U16:
	case AMQP_FIELD_I32:
	case AMQP_FIELD_U32:
	case AMQP_FIELD_I64:
		return json_integer(f->v.i);
	case AMQP_FIELD_U64:
	case AMQP_FIELD_TIMESTAMP:
		return json_integer((json_int_t)f->v.u);
	case AMQP_FIELD_FLOAT:
		return isfinite(f->v.f) ? json_real(f->v.f) : json_null();
	case AMQP_FIELD_DOUBLE:
		return isfinite(f->v.d) ? json_real(f->v.d) : json_null();
	case AMQP_FIELD_DECIMAL: {
		double v = f->v.decimal.value;
		for (unsigned i = 0; i < f->v.decimal.scale; i++)
			v /= 10;
		return json_real(v);
	}
	case AMQP_FIELD_LONGSTR:
	case AMQP_FIELD_BYTES:
		return str_json(f->v.str);
	case AMQP_FIELD_ARRAY:
		return def_array_to_json(f->v.array);
	case AMQP_FIELD_TABLE:
		return def_table_to_json(f->v.table);
	default:
		return json_null();
	}
}

json_t *
def_table_to_json(struct amqp_bytes table)
{
	json_t                *o = json_object();
	struct amqp_table_iter it;
	struct amqp_bytes      key;
	struct amqp_field      v;

	amqp_table_iter_init(&it, table);
	while (amqp_table_next(&it, &key, &v) == 1) {
		char k[256];
		snprintf(k, sizeof(k), "%.*s", (int)key.len, (const char *)key.ptr);
		json_t *jv = def_field_to_json(&v);
		if (jv)
			json_object_set_new(o, k, jv);
	}
	return o;
}

json_t *
def_array_to_json(struct amqp_bytes array)
{
	json_t                *a = json_array();
	struct amqp_array_iter it;
	struct amqp_field      v;

	amqp_array_iter_init(&it, array);
	while (amqp_array_next(&it, &v) == 1) {
		json_t *jv = def_field_to_json(&v);
		if (jv)
			json_array_append_new(a, jv);
	}
	return a;
}

/* JSON -> field tables. */

static void put_value(struct amqp_wbuf *w, json_t *v, int depth);

static void
put_entries(struct amqp_wbuf *w, json_t *obj, int depth)
{
	const char *key;
	json_t     *v;

	json_object_foreach (obj, key, v) {
		if (strlen(key) > 255)
			continue;
		amqp_table_put_key(w, amqp_cstr(key));
		put_value(w, v, depth + 1);
	}
}

static void
put_value(struct amqp_wbuf *w, json_t *v, int depth)
{
	struct amqp_field f;
	size_t            mark;

	memset(&f, 0, sizeof(f));
	if (depth > AMQP_TABLE_DEPTH_LIMIT) {
		f.kind = AMQP_FIELD_VOID;
		amqp_field_put(w, &f);
		return;
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		amqp_wbuf_u8(w, AMQP_FIELD_TABLE);
		mark = amqp_table_begin(w);
		put_entries(w, v, depth);
		amqp_table_end(w, mark);
		return;
	case JSON_ARRAY: {
		size_t  i;
		json_t *e;
		amqp_wbuf_u8(w, AMQP_FIELD_ARRAY);
		mark = amqp_table_begin(w);
		json_array_foreach (v, i, e)
			put_value(w, e, depth + 1);
		amqp_table_end(w, mark);
		return;
	}
	case JSON_STRING:
		f.kind = AMQP_FIELD_LONGSTR;
		f.v.str = (struct amqp_bytes){ json_string_length(v), (const uint8_t *)json_string_value(v) };
		break;
	case JSON_INTEGER:
		f.kind = AMQP_FIELD_I64;
		f.v.i = json_integer_value(v);
		break;
	case JSON_REAL:
		f.kind = AMQP_FIELD_DOUBLE;
		f.v.d = json_real_value(v);
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		f.kind = AMQP_FIELD_BOOL;
		f.v.b = json_is_true(v);
		break;
	default:
		f.kind = AMQP_FIELD_VOID;
		break;
	}
	amqp_field_put(w, &f);
}

int
def_json_to_table(json_t *obj, struct amqp_bytes *out)
{
	size_t cap = 512;

	if (obj && !json_is_object(obj) && !json_is_null(obj))
		return -1;
	for (;;) {
		uint8_t         *buf = xmalloc(cap);
		struct amqp_wbuf w;
		amqp_wbuf_init(&w, buf, cap);
		if (obj && json_is_object(obj))
			put_entries(&w, obj, 0);
		if (!w.overflow) {
			out->ptr = buf;
			out->len = w.len;
			return 0;
		}
		free(buf);
		if (cap > (1u << 28))
			return -1;
		cap *= 4;
	}
}

/* Export. */

static int
cmp_str(const void *a, const void *b)
{
	const char *x = json_string_value(json_object_get(*(json_t *const *)a, "_k"));
	const char *y = json_string_value(json_object_get(*(json_t *const *)b, "_k"));
	return strcmp(x ? x : "", y ? y : "");
}

/* Sort an array of objects by a hidden "_k" key, then drop it. */
static json_t *
sorted(json_t *a)
{
	size_t   n = json_array_size(a), i;
	json_t **v = xmalloc((n ? n : 1) * sizeof(*v));
	json_t  *out = json_array();

	for (i = 0; i < n; i++)
		v[i] = json_array_get(a, i);
	qsort(v, n, sizeof(*v), cmp_str);
	for (i = 0; i < n; i++) {
		json_object_del(v[i], "_k");
		json_array_append(out, v[i]);
	}
	free(v);
	json_decref(a);
	return out;
}

static void
sort_key(json_t *o, const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = c ? strlen(c) : 0;
	char  *k = xmalloc(la + lb + lc + 3);

	memcpy(k, a, la);
	k[la] = '\x01';
	memcpy(k + la + 1, b, lb);
	k[la + 1 + lb] = '\x01';
	if (c)
		memcpy(k + la + 2 + lb, c, lc);
	k[la + 2 + lb + lc] = 0;
	json_object_set_new(o, "_k", json_string(k));
	free(k);
}

static json_t *
tags_list(const char *tags)
{
	json_t     *a = json_array();
	const char *p = tags;

	while (p && *p) {
		while (*p == ',' || *p == ' ')
			p++;
		size_t n = strcspn(p, ", ");
		if (n)
			json_array_append_new(a, json_stringn(p, n));
		p += n;
	}
	return a;
}

const char *
def_cluster_id(void)
{
	const struct policy_param *p = policy_param_get(NULL, NULL, "internal_cluster_id");
	uint8_t                    r[16];
	char                       id[64];

	if (p && json_is_string(p->value))
		return json_string_value(p->value);
	if (RAND_bytes(r, sizeof(r)) != 1)
		memset(r, 0, sizeof(r));
	int n = snprintf(id, sizeof(id), "rabbitmq-cluster-id-");
	for (size_t i = 0; i < 16; i++)
		n += snprintf(id + n, sizeof(id) - (size_t)n, "%c",
		              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[r[i] & 63]);
	json_t *v = json_string(id);
	policy_param_set(NULL, NULL, "internal_cluster_id", v);
	json_decref(v);
	return json_string_value(policy_param_get(NULL, NULL, "internal_cluster_id")->value);
}

bool
def_reserved_exchange(struct amqp_bytes name)
{
	return name.len == 0 || (name.len >= 4 && memcmp(name.ptr, "amq.", 4) == 0);
}

json_t *
def_queue_json(const struct queue *q, bool with_vhost)
{
	json_t *o = json_object();

	json_object_set_new(o, "name", json_stringn((const char *)q->name.ptr, q->name.len));
	if (with_vhost)
		json_object_set_new(o, "vhost", json_string(q->vh->name));
	json_object_set_new(o, "durable", json_boolean(q->durable));
	json_object_set_new(o, "auto_delete", json_boolean(q->auto_delete));
	json_object_set_new(o, "arguments", def_table_to_json(q->args));
	return o;
}

json_t *
def_exchange_json(const struct exchange *x, bool with_vhost)
{
	json_t *o = json_object();

	json_object_set_new(o, "name", json_stringn((const char *)x->name.ptr, x->name.len));
	if (with_vhost)
		json_object_set_new(o, "vhost", json_string(x->vh->name));
	json_object_set_new(o, "type", json_string(exchange_type_name(x->type)));
	json_object_set_new(o, "durable", json_boolean(x->durable));
	json_object_set_new(o, "auto_delete", json_boolean(x->auto_delete));
	json_object_set_new(o, "internal", json_boolean(x->internal));
	json_object_set_new(o, "arguments", def_table_to_json(x->args));
	return o;
}

json_t *
def_binding_json(const struct binding *b, bool with_vhost)
{
	const struct exchange *x = b->src;
	struct amqp_bytes      dn = b->dest_is_exchange ? ((struct exchange *)b->dest)->name :
	                                                  ((struct queue *)b->dest)->name;
	json_t                *o = json_object();

	json_object_set_new(o, "source", json_stringn((const char *)x->name.ptr, x->name.len));
	if (with_vhost)
		json_object_set_new(o, "vhost", json_string(x->vh->name));
	json_object_set_new(o, "destination", json_stringn((const char *)dn.ptr, dn.len));
	json_object_set_new(o, "destination_type",
	                    json_string(b->dest_is_exchange ? "exchange" : "queue"));
	json_object_set_new(o, "routing_key", json_stringn((const char *)b->rk.ptr, b->rk.len));
	json_object_set_new(o, "arguments", def_table_to_json(b->args));
	return o;
}

static void
export_vhost_objects(struct vhost *vh, bool with_vhost, json_t *queues, json_t *exchanges,
                     json_t *bindings)
{
	size_t             i;
	struct hmap_entry *e;

	for (e = hmap_first(&vh->queues, &i); e; e = hmap_next(&vh->queues, &i, e)) {
		struct queue *q = e->val;
		if (q->exclusive)
			continue;
		json_t *o = def_queue_json(q, with_vhost);
		sort_key(o, vh->name, (const char *)q->name.ptr, NULL);
		json_array_append_new(queues, o);
	}
	for (e = hmap_first(&vh->exchanges, &i); e; e = hmap_next(&vh->exchanges, &i, e)) {
		struct exchange *x = e->val;
		struct list     *it, *tmp;
		if (def_reserved_exchange(x->name))
			goto bindings;
		json_t *o = def_exchange_json(x, with_vhost);
		sort_key(o, vh->name, (const char *)x->name.ptr, NULL);
		json_array_append_new(exchanges, o);
	bindings:
		if (x->name.len == 0)
			continue;
		list_for_each_safe (it, tmp, &x->bindings) {
			struct binding *b = container_of(it, struct binding, src_link);
			struct amqp_bytes dn = b->dest_is_exchange ? ((struct exchange *)b->dest)->name :
			                                             ((struct queue *)b->dest)->name;
			if (!b->dest_is_exchange && ((struct queue *)b->dest)->exclusive)
				continue;
			json_t *bo = def_binding_json(b, with_vhost);
			char   *as = json_dumps(json_object_get(bo, "arguments"), JSON_COMPACT | JSON_SORT_KEYS);
			char    k2[1024];
			snprintf(k2, sizeof(k2), "%s\x01%s\x01%.*s\x01%s", (const char *)x->name.ptr,
			         b->dest_is_exchange ? "e" : "q", (int)dn.len, (const char *)dn.ptr,
			         (const char *)b->rk.ptr);
			sort_key(bo, vh->name, k2, as);
			free(as);
			json_array_append_new(bindings, bo);
		}
	}
}

json_t *
def_export(const char *vhost)
{
	json_t            *root = json_object();
	json_t            *queues = json_array(), *exchanges = json_array(), *bindings = json_array();
	json_t            *policies = json_array(), *params = json_array();
	size_t             i;
	struct hmap_entry *e;
	struct vhost      *only = NULL;

	if (vhost && (only = broker_vhost(amqp_cstr(vhost))) == NULL) {
		json_decref(root);
		json_decref(queues);
		json_decref(exchanges);
		json_decref(bindings);
		json_decref(policies);
		json_decref(params);
		return NULL;
	}
	json_object_set_new(root, "rabbit_version", json_string(RABBIT_VERSION));
	if (only == NULL) {
		json_t *users = json_array(), *vhosts = json_array(), *perms = json_array();
		json_t *tperms = json_array(), *gparams = json_array();

		json_object_set_new(root, "rabbitmq_version", json_string(RABBIT_VERSION));
		json_object_set_new(root, "product_name", json_string("RabbitMQ"));
		json_object_set_new(root, "product_version", json_string(RABBIT_VERSION));
		for (e = hmap_first(&broker.users, &i); e; e = hmap_next(&broker.users, &i, e)) {
			struct user *u = e->val;
			json_t      *o = json_object();
			json_object_set_new(o, "name", json_string(u->name));
			json_object_set_new(o, "password_hash", json_string(u->password_hash));
			json_object_set_new(o, "hashing_algorithm",
			                    json_string(auth_hash_name((enum auth_hash)u->hashing)));
			json_object_set_new(o, "tags", tags_list(u->tags));
			json_object_set_new(o, "limits", json_object());
			sort_key(o, u->name, "", NULL);
			json_array_append_new(users, o);
		}
		json_object_set_new(root, "users", sorted(users));
		for (e = hmap_first(&broker.vhosts, &i); e; e = hmap_next(&broker.vhosts, &i, e)) {
			struct vhost *vh = e->val;
			json_t       *o = json_object();
			json_object_set_new(o, "name", json_string(vh->name));
			sort_key(o, vh->name, "", NULL);
			json_array_append_new(vhosts, o);
		}
		json_object_set_new(root, "vhosts", sorted(vhosts));
		const struct auth_perm *p;
		for (i = 0; (p = auth_permission_at(i)) != NULL; i++) {
			json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "user", p->user, "vhost", p->vhost,
			                      "configure", p->re[0], "write", p->re[1], "read", p->re[2]);
			sort_key(o, p->user, p->vhost, NULL);
			json_array_append_new(perms, o);
		}
		json_object_set_new(root, "permissions", sorted(perms));
		const struct auth_topic_perm *tp;
		for (i = 0; (tp = auth_topic_permission_at(i)) != NULL; i++) {
			json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "user", tp->user, "vhost", tp->vhost,
			                      "exchange", tp->exchange, "write", tp->re[0], "read", tp->re[1]);
			sort_key(o, tp->user, tp->vhost, tp->exchange);
			json_array_append_new(tperms, o);
		}
		json_object_set_new(root, "topic_permissions", sorted(tperms));
		def_cluster_id();
		const struct policy_param *pp;
		for (i = 0; (pp = policy_param_at(i)) != NULL; i++) {
			if (pp->vhost != NULL)
				continue;
			json_t *o = json_pack("{s:s,s:O}", "name", pp->name, "value", pp->value);
			sort_key(o, pp->name, "", NULL);
			json_array_append_new(gparams, o);
		}
		json_object_set_new(root, "parameters", params);
		json_object_set_new(root, "global_parameters", sorted(gparams));
	} else {
		json_object_set_new(root, "parameters", params);
	}
	const struct policy_param *pp;
	for (i = 0; (pp = policy_param_at(i)) != NULL; i++) {
		if (pp->vhost == NULL || (only && strcmp(pp->vhost, only->name) != 0))
			continue;
		json_t *o = json_object();
		if (!only)
			json_object_set_new(o, "vhost", json_string(pp->vhost));
		json_object_set_new(o, "component", json_string(pp->component));
		json_object_set_new(o, "name", json_string(pp->name));
		json_object_set_new(o, "value", json_incref(pp->value));
		sort_key(o, pp->vhost, pp->component, pp->name);
		json_array_append_new(params, o);
	}
	/* params was already placed in root; sort it in place */
	json_object_set_new(root, "parameters", sorted(json_incref(params)));
	const struct policy *po;
	for (i = 0; (po = policy_at(i)) != NULL; i++) {
		if (po->operator_policy || (only && strcmp(po->vhost, only->name) != 0))
			continue;
		json_t *o = json_object();
		if (!only)
			json_object_set_new(o, "vhost", json_string(po->vhost));
		json_object_set_new(o, "name", json_string(po->name));
		json_object_set_new(o, "pattern", json_string(po->pattern));
		json_object_set_new(o, "apply-to", json_string(policy_apply_name(po->apply_to)));
		json_object_set_new(o, "definition", json_incref(po->definition));
		json_object_set_new(o, "priority", json_integer(po->priority));
		sort_key(o, po->vhost, po->name, NULL);
		json_array_append_new(policies, o);
	}
	json_object_set_new(root, "policies", sorted(policies));
	if (only) {
		export_vhost_objects(only, false, queues, exchanges, bindings);
	} else {
		for (e = hmap_first(&broker.vhosts, &i); e; e = hmap_next(&broker.vhosts, &i, e))
			export_vhost_objects(e->val, true, queues, exchanges, bindings);
	}
	json_object_set_new(root, "queues", sorted(queues));
	json_object_set_new(root, "exchanges", sorted(exchanges));
	json_object_set_new(root, "bindings", sorted(bindings));
	return root;
}

/* Import. */

static bool
jbool(json_t *v, bool dflt)
{
	if (json_is_boolean(v))
		return json_is_true(v);
	if (json_is_string(v))
		return strcmp(json_string_value(v), "true") == 0;
	return dflt;
}

static const char *
jstr(json_t *o, const char *key, const char *dflt)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : dflt;
}

/* Tags as a comma-separated string from a string or a list. */
static char *
tags_string(json_t *v)
{
	if (json_is_string(v))
		return xstrndup(json_string_value(v), json_string_length(v));
	size_t  len = 0, i;
	json_t *t;
	json_array_foreach (v, i, t)
		if (json_is_string(t))
			len += json_string_length(t) + 1;
	char *s = xcalloc(1, len + 1);
	json_array_foreach (v, i, t)
		if (json_is_string(t)) {
			if (*s)
				strcat(s, ",");
			strcat(s, json_string_value(t));
		}
	return s;
}

static int
no_vhost(struct def_err *err, const char *name)
{
	err->status = 400;
	err->reason = json_pack("[s,s]", "no_such_vhost", name ? name : "undefined");
	return -1;
}

static struct vhost *
item_vhost(json_t *o, const char *vhost, const char **name)
{
	*name = vhost ? vhost : jstr(o, "vhost", NULL);
	return *name ? broker_vhost(amqp_cstr(*name)) : NULL;
}

int
def_import(json_t *defs, const char *vhost, struct def_err *err)
{
	size_t            i;
	json_t           *o;
	struct broker_err berr;
	const char       *vname;
	struct vhost     *vh;

	err->status = 0;
	err->reason = NULL;
	if (!json_is_object(defs)) {
		err->status = 400;
		err->reason = json_string("failed_to_parse_json");
		return -1;
	}
	if (vhost == NULL) {
		json_array_foreach (json_object_get(defs, "vhosts"), i, o) {
			const char *name = jstr(o, "name", NULL);
			if (name == NULL)
				continue;
			json_t     *meta = json_object_get(o, "metadata");
			const char *desc = jstr(o, "description", jstr(meta, "description", ""));
			json_t     *tags = json_object_get(o, "tags");
			if (tags == NULL)
				tags = json_object_get(meta, "tags");
			char *t = tags ? tags_string(tags) : xstrndup("", 0);
			broker_vhost_set_meta(broker_add_vhost(name), desc, t,
			                      jstr(o, "default_queue_type", jstr(meta, "default_queue_type", NULL)));
			free(t);
		}
		json_array_foreach (json_object_get(defs, "users"), i, o) {
			const char *name = jstr(o, "name", NULL);
			if (name == NULL)
				continue;
			char           hash[AUTH_HASH_B64_MAX] = "";
			enum auth_hash alg = AUTH_HASH_SHA256;
			const char    *pw = jstr(o, "password", NULL);
			const char    *ph = jstr(o, "password_hash", NULL);
			if (ph) {
				if (auth_hash_parse(jstr(o, "hashing_algorithm", "rabbit_password_hashing_sha256"),
				                    &alg) != 0)
					alg = AUTH_HASH_SHA256;
				snprintf(hash, sizeof(hash), "%s", ph);
			} else if (pw) {
				auth_hash_password(alg, NULL, pw, strlen(pw), hash, sizeof(hash));
			}
			json_t *tags = json_object_get(o, "tags");
			char   *t = tags ? tags_string(tags) : xstrndup("", 0);
			broker_set_user(name, hash, (int)alg, t, NULL);
			free(t);
		}
		json_array_foreach (json_object_get(defs, "permissions"), i, o) {
			const char *user = jstr(o, "user", NULL);
			vh = item_vhost(o, NULL, &vname);
			if (vh == NULL)
				return no_vhost(err, vname);
			if (user == NULL || broker_user(amqp_cstr(user)) == NULL)
				continue;
			auth_set_permission(vh->name, user, jstr(o, "configure", ""), jstr(o, "write", ""),
			                    jstr(o, "read", ""));
		}
		json_array_foreach (json_object_get(defs, "topic_permissions"), i, o) {
			const char *user = jstr(o, "user", NULL);
			vh = item_vhost(o, NULL, &vname);
			if (vh == NULL)
				return no_vhost(err, vname);
			if (user == NULL || broker_user(amqp_cstr(user)) == NULL)
				continue;
			auth_set_topic_permission(vh->name, user, jstr(o, "exchange", ""),
			                          jstr(o, "write", ""), jstr(o, "read", ""));
		}
		json_array_foreach (json_object_get(defs, "global_parameters"), i, o) {
			const char *name = jstr(o, "name", NULL);
			json_t     *v = json_object_get(o, "value");
			if (name && v)
				policy_param_set(NULL, NULL, name, v);
		}
	}
	json_array_foreach (json_object_get(defs, "parameters"), i, o) {
		const char *comp = jstr(o, "component", NULL), *name = jstr(o, "name", NULL);
		json_t     *v = json_object_get(o, "value");
		vh = item_vhost(o, vhost, &vname);
		if (vh == NULL)
			return no_vhost(err, vname);
		if (comp && name && v)
			policy_param_set(comp, vh->name, name, v);
	}
	json_array_foreach (json_object_get(defs, "policies"), i, o) {
		const char       *name = jstr(o, "name", NULL), *pattern = jstr(o, "pattern", NULL);
		enum policy_apply a = POLICY_APPLY_ALL;
		json_t           *prio = json_object_get(o, "priority");
		char              msg[256];
		vh = item_vhost(o, vhost, &vname);
		if (vh == NULL)
			return no_vhost(err, vname);
		if (name == NULL || pattern == NULL)
			continue;
		policy_apply_parse(jstr(o, "apply-to", "all"), &a);
		int p = json_is_integer(prio) ? (int)json_integer_value(prio) :
		        json_is_string(prio) ? atoi(json_string_value(prio)) : 0;
		policy_set(vh->name, name, pattern, a, p, json_object_get(o, "definition"), false, msg,
		           sizeof(msg));
	}
	json_array_foreach (json_object_get(defs, "exchanges"), i, o) {
		const char       *name = jstr(o, "name", NULL);
		struct amqp_bytes args;
		vh = item_vhost(o, vhost, &vname);
		if (vh == NULL)
			return no_vhost(err, vname);
		if (name == NULL || def_json_to_table(json_object_get(o, "arguments"), &args) != 0)
			continue;
		exchange_declare(vh, amqp_cstr(name), amqp_cstr(jstr(o, "type", "direct")), false,
		                 jbool(json_object_get(o, "durable"), true),
		                 jbool(json_object_get(o, "auto_delete"), false),
		                 jbool(json_object_get(o, "internal"), false), args, &berr);
		free((void *)(uintptr_t)args.ptr);
	}
	json_array_foreach (json_object_get(defs, "queues"), i, o) {
		const char       *name = jstr(o, "name", NULL);
		struct amqp_bytes args;
		struct queue     *q;
		vh = item_vhost(o, vhost, &vname);
		if (vh == NULL)
			return no_vhost(err, vname);
		if (name == NULL || *name == '\0' ||
		    def_json_to_table(json_object_get(o, "arguments"), &args) != 0)
			continue;
		queue_declare(vh, amqp_cstr(name), false, jbool(json_object_get(o, "durable"), true),
		              false, jbool(json_object_get(o, "auto_delete"), false), args, NULL, &q, &berr);
		free((void *)(uintptr_t)args.ptr);
	}
	json_array_foreach (json_object_get(defs, "bindings"), i, o) {
		const char       *src = jstr(o, "source", NULL), *dst = jstr(o, "destination", NULL);
		const char       *dt = jstr(o, "destination_type", "queue");
		struct amqp_bytes args;
		vh = item_vhost(o, vhost, &vname);
		if (vh == NULL)
			return no_vhost(err, vname);
		if (src == NULL || dst == NULL ||
		    def_json_to_table(json_object_get(o, "arguments"), &args) != 0)
			continue;
		struct amqp_bytes rk = amqp_cstr(jstr(o, "routing_key", ""));
		if (strcmp(dt, "exchange") == 0)
			exchange_bind(vh, amqp_cstr(dst), amqp_cstr(src), rk, args, &berr);
		else
			queue_bind(vh, amqp_cstr(dst), amqp_cstr(src), rk, args, NULL, &berr);
		free((void *)(uintptr_t)args.ptr);
	}
	return 0;
}
