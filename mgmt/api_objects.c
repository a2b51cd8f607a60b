/*
 * Queues, exchanges and bindings over HTTP: listings in RabbitMQ's shapes,
 * and declare, delete, bind, unbind, purge, publish and get through the
 * same engine functions the AMQP methods call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/props.h"
#include "amqp/table.h"
#include "mgmt/api.h"
#include "mgmt/jsonw.h"
#include "mgmt/list.h"
#include "mgmt/stats.h"
#include "server/config.h"
#include "server/def.h"
#include "server/hmap.h"
#include "server/inspect.h"
#include "server/msg.h"
#include "server/policy.h"

static bool
method_is(const struct mgmt_ctx *ctx, int m)
{
	return ctx->req->method == m || (m == HTTP_GET && ctx->req->method == HTTP_HEAD);
}

static bool
param_true(const struct mgmt_ctx *ctx, const char *key)
{
	const char *v = mgmt_target_param(&ctx->t, key);
	return v && strcmp(v, "true") == 0;
}

/* The exchange named in a URL: "amq.default" means "". */
static const char *
exchange_arg(const char *s)
{
	return strcmp(s, "amq.default") == 0 ? "" : s;
}

/* Queues. */

static const char *
queue_type(const struct queue *q)
{
	struct amqp_field f;
	static char       buf[32];

	if (amqp_table_get(q->args, "x-queue-type", &f) == 1 && f.kind == 'S' && f.v.str.len < 32) {
		snprintf(buf, sizeof(buf), "%.*s", (int)f.v.str.len, (const char *)f.v.str.ptr);
		return buf;
	}
	return "classic";
}

static json_t *
queue_json(struct queue *q, bool single)
{
	json_t                *o = json_object(), *ms = json_object();
	const char            *vh = q->vh->name;
	char                   qname[512];
	const struct policy   *pol, *opol;

	snprintf(qname, sizeof(qname), "%.*s", (int)q->name.len, (const char *)q->name.ptr);
	const char *type = queue_type(q);
	pol = policy_match(vh, qname, true, type, false);
	opol = policy_match(vh, qname, true, type, true);
	json_object_set_new(o, "name", mgmt_bytes_json(q->name));
	json_object_set_new(o, "vhost", json_string(vh));
	json_object_set_new(o, "durable", json_boolean(q->durable));
	json_object_set_new(o, "auto_delete", json_boolean(q->auto_delete));
	json_object_set_new(o, "exclusive", json_boolean(q->exclusive));
	json_object_set_new(o, "arguments", def_table_to_json(q->args));
	json_object_set_new(o, "node", json_string(mgmt_node_name()));
	json_object_set_new(o, "state", json_string("running"));
	json_object_set_new(o, "type", json_string(type));
	json_object_set_new(o, "policy", pol ? json_string(pol->name) : json_null());
	json_object_set_new(o, "operator_policy", opol ? json_string(opol->name) : json_null());
	json_object_set_new(o, "effective_policy_definition",
	                    pol ? json_deep_copy(pol->definition) : json_object());
	json_object_set_new(o, "exclusive_consumer_tag", json_null());
	if (q->exclusive_consumer && !LIST_EMPTY(&q->consumers)) {
		struct consumer *c = container_of(q->consumers.next, struct consumer, qlink);
		json_object_set_new(o, "exclusive_consumer_tag", mgmt_bytes_json(c->tag));
	}
	json_object_set_new(o, "single_active_consumer_tag",
	                    q->opts.single_active && q->active ? mgmt_bytes_json(q->active->tag) :
	                                                         json_null());
	json_object_set_new(o, "consumers", json_integer((json_int_t)q->nconsumers));
	json_object_set_new(o, "consumer_utilisation", q->nconsumers ? json_real(1.0) : json_null());
	json_object_set_new(o, "consumer_capacity", json_real(q->nconsumers ? 1.0 : 0.0));
	json_object_set_new(o, "memory",
	                    json_integer((json_int_t)(q->bytes + 64 * (q->count + q->unacked) + 2048)));
	mgmt_set_stat(o, "messages", q->count + q->unacked,
	              mgmt_stats_queue_rate(q, MGMT_Q_MESSAGES));
	mgmt_set_stat(o, "messages_ready", q->count, mgmt_stats_queue_rate(q, MGMT_Q_READY));
	mgmt_set_stat(o, "messages_unacknowledged", q->unacked,
	              mgmt_stats_queue_rate(q, MGMT_Q_UNACKED));
	json_object_set_new(o, "message_bytes", json_integer((json_int_t)q->bytes));
	json_object_set_new(o, "message_bytes_ready", json_integer((json_int_t)q->bytes));
	json_object_set_new(o, "message_bytes_unacknowledged", json_integer(0));
	json_object_set_new(o, "message_bytes_ram", json_integer((json_int_t)q->bytes));
	json_object_set_new(o, "message_bytes_paged_out", json_integer(0));
	json_object_set_new(o, "messages_ram", json_integer((json_int_t)(q->count + q->unacked)));
	json_object_set_new(o, "messages_ready_ram", json_integer((json_int_t)q->count));
	json_object_set_new(o, "messages_unacknowledged_ram", json_integer((json_int_t)q->unacked));
	json_object_set_new(o, "messages_paged_out", json_integer(0));
	uint64_t hts;
	json_object_set_new(o, "head_message_timestamp",
	                    queue_head_timestamp(q, &hts) ? json_integer((json_int_t)hts) : json_null());
	json_object_set_new(o, "recoverable_slaves", json_null());
	if (q->type != QUEUE_CLASSIC) {
		/* one node: it leads, it is the only member, and it is online */
		json_object_set_new(o, "members", json_pack("[s]", mgmt_node_name()));
		json_object_set_new(o, "online", json_pack("[s]", mgmt_node_name()));
	}
	if (q->type == QUEUE_QUORUM) {
		json_object_set_new(o, "leader", json_string(mgmt_node_name()));
		json_object_set_new(o, "messages_dlx", json_integer((json_int_t)q->ndlx));
		json_object_set_new(o, "message_bytes_dlx", json_integer((json_int_t)q->dlx_bytes));
		json_object_set_new(o, "message_bytes_persistent", json_integer((json_int_t)q->bytes));
		json_object_set_new(o, "messages_persistent",
		                    json_integer((json_int_t)(q->count + q->unacked)));
		json_object_set_new(o, "single_active_consumer_ctag",
		                    q->opts.single_active && q->active ? mgmt_bytes_json(q->active->tag) :
		                                                         json_null());
	}
	uint64_t deliver = q->stat_delivered;
	mgmt_set_stat(ms, "ack", q->stat_acked, mgmt_stats_queue_rate(q, MGMT_Q_ACK));
	mgmt_set_stat(ms, "deliver", deliver, mgmt_stats_queue_rate(q, MGMT_Q_DELIVER));
	mgmt_set_stat(ms, "deliver_get", deliver + q->stat_get + q->stat_get_noack,
	              mgmt_stats_queue_rate(q, MGMT_Q_DELIVER) + mgmt_stats_queue_rate(q, MGMT_Q_GET) +
	                      mgmt_stats_queue_rate(q, MGMT_Q_GET_NOACK));
	mgmt_set_stat(ms, "deliver_no_ack", 0, 0);
	mgmt_set_stat(ms, "get", q->stat_get, mgmt_stats_queue_rate(q, MGMT_Q_GET));
	mgmt_set_stat(ms, "get_empty", q->stat_get_empty, mgmt_stats_queue_rate(q, MGMT_Q_GET_EMPTY));
	mgmt_set_stat(ms, "get_no_ack", q->stat_get_noack, mgmt_stats_queue_rate(q, MGMT_Q_GET_NOACK));
	mgmt_set_stat(ms, "publish", q->stat_published,
	              mgmt_stats_queue_rate(q, MGMT_Q_PUBLISH));
	mgmt_set_stat(ms, "redeliver", q->stat_redelivered,
	              mgmt_stats_queue_rate(q, MGMT_Q_REDELIVER));
	json_object_set_new(o, "message_stats", ms);
	if (q->exclusive && q->owner) {
		char name[160], host[64];
		uint16_t port;
		if (inspect_queue_owner(q, name, sizeof(name), host, sizeof(host), &port) == 0)
			json_object_set_new(o, "owner_pid_details",
			                    json_pack("{s:s,s:s,s:i}", "name", name, "peer_host", host,
			                              "peer_port", (int)port));
	}
	if (single) {
		json_object_set_new(o, "consumer_details", mgmt_consumers_json(vh, q->name));
		json_object_set_new(o, "incoming", json_array());
		json_object_set_new(o, "deliveries", json_array());
		double age = inspect_queue_oldest_unacked(q);
		json_object_set_new(o, "oldest_unacked_age", age >= 0 ? json_real(age) : json_null());
	}
	return o;
}

/*
 * A queue's listing row written as text: the fields, values and key order
 * of queue_json(q, false), which the single-queue GET still uses.  What
 * several fields need is looked up once per row.
 */
struct qrow {
	struct queue        *q;
	const char          *type;
	const struct policy *pol, *opol;
	double               rate[MGMT_Q_NSTATS];
};

typedef bool (*qfield_fn)(struct mgmt_buf *b, const struct qrow *r);

static bool
qf_name(struct mgmt_buf *b, const struct qrow *r)
{
	mgmt_jw_str(b, r->q->name.ptr, r->q->name.len);
	return true;
}

static bool
qf_vhost(struct mgmt_buf *b, const struct qrow *r)
{
	mgmt_jw_cstr(b, r->q->vh->name);
	return true;
}

static bool
qf_durable(struct mgmt_buf *b, const struct qrow *r)
{
	mgmt_jw_bool(b, r->q->durable);
	return true;
}

static bool
qf_auto_delete(struct mgmt_buf *b, const struct qrow *r)
{
	mgmt_jw_bool(b, r->q->auto_delete);
	return true;
}

static bool
qf_exclusive(struct mgmt_buf *b, const struct qrow *r)
{
	mgmt_jw_bool(b, r->q->exclusive);
	return true;
}

static bool
qf_arguments(struct mgmt_buf *b, const struct qrow *r)
{
	if (r->q->args.len == 0)
		mgmt_jw_lit(b, "{}");
	else
		mgmt_jw_json(b, def_table_to_json(r->q->args));
	return true;
}

static bool
qf_node(struct mgmt_buf *b, const struct qrow *r)
{
	(void)r;
	mgmt_jw_cstr(b, mgmt_node_name());
	return true;
}

static bool
qf_state(struct mgmt_buf *b, const struct qrow *r)
{
	(void)r;
	mgmt_jw_lit(b, "\"running\"");
	return true;
}

static bool
qf_type(struct mgmt_buf *b, const struct qrow *r)
{
	mgmt_jw_cstr(b, r->type);
	return true;
}

static bool
qf_policy(struct mgmt_buf *b, const struct qrow *r)
{
	if (r->pol)
		mgmt_jw_cstr(b, r->pol->name);
	else
		mgmt_jw_lit(b, "null");
	return true;
}

static bool
qf_operator_policy(struct mgmt_buf *b, const struct qrow *r)
{
	if (r->opol)
		mgmt_jw_cstr(b, r->opol->name);
	else
		mgmt_jw_lit(b, "null");
	return true;
}

static bool
qf_effective_policy_definition(struct mgmt_buf *b, const struct qrow *r)
{
	if (r->pol)
		mgmt_jw_json(b, json_incref(r->pol->definition));
	else
		mgmt_jw_lit(b, "{}");
	return true;
}

static bool
qf_exclusive_consumer_tag(struct mgmt_buf *b, const struct qrow *r)
{
	if (r->q->exclusive_consumer && !LIST_EMPTY(&r->q->consumers)) {
		struct consumer *c = container_of(r->q->consumers.next, struct consumer, qlink);
		mgmt_jw_str(b, c->tag.ptr, c->tag.len);
	} else {
		mgmt_jw_lit(b, "null");
	}
	return true;
}

static bool
qf_single_active_consumer_tag(struct mgmt_buf *b, const struct qrow *r)
{
	if (r->q->opts.single_active && r->q->active)
		mgmt_jw_str(b, r->q->active->tag.ptr, r->q->active->tag.len);
	else
		mgmt_jw_lit(b, "null");
	return true;
}

static bool
qf_consumers(struct mgmt_buf *b, const struct qrow *r)
{
	mgmt_jw_int(b, (int64_t)r->q->nconsumers);
	return true;
}

static bool
qf_consumer_utilisation(struct mgmt_buf *b, const struct qrow *r)
{
	if (r->q->nconsumers)
		mgmt_jw_lit(b, "1.0");
	else
		mgmt_jw_lit(b, "null");
	return true;
}

static bool
qf_consumer_capacity(struct mgmt_buf *b, const struct qrow *r)
{
	if (r->q->nconsumers)
		mgmt_jw_lit(b, "1.0");
	else
		mgmt_jw_lit(b, "0.0");
	return true;
}

static bool
qf_memory(struct mgmt_buf *b, const struct qrow *r)
{
	mgmt_jw_int(b, (int64_t)(r->q->bytes + 64 * (r->q->count + r->q->unacked) + 2048));
	return true;
}

static bool
qf_messages(struct mgmt_buf *b, const struct qrow *r)
{
	mgmt_jw_int(b, (int64_t)(r->q->count + r->q->unacked));
	return true;
}

static bool
qf_messages_details(struct mgmt_buf *b, const struct qrow *r)
{
	mgmt_jw_rate(b, r->rate[MGMT_Q_MESSAGES]);
	return true;
}

static bool
qf_messages_ready(struct mgmt_buf *b, const struct qrow *r)
{
	mgmt_jw_int(b, (int64_t)r->q->count);
	return true;
}

static bool
qf_messages_ready_details(struct mgmt_buf *b, const struct qrow *r)
{
	mgmt_jw_rate(b, r->rate[MGMT_Q_READY]);
	return true;
}

static bool
qf_messages_unacknowledged(struct mgmt_buf *b, const struct qrow *r)
{
	mgmt_jw_int(b, (int64_t)r->q->unacked);
	return true;
}

static bool
qf_messages_unacknowledged_details(struct mgmt_buf *b, const struct qrow *r)
{
	mgmt_jw_rate(b, r->rate[MGMT_Q_UNACKED]);
	return true;
}

static bool
qf_bytes(struct mgmt_buf *b, const struct qrow *r)
{
	mgmt_jw_int(b, (int64_t)r->q->bytes);
	return true;
}

static bool
qf_zero(struct mgmt_buf *b, const struct qrow *r)
{
	(void)r;
	mgmt_buf_add(b, "0", 1);
	return true;
}

static bool
qf_null(struct mgmt_buf *b, const struct qrow *r)
{
	(void)r;
	mgmt_jw_lit(b, "null");
	return true;
}

static bool
qf_head_timestamp(struct mgmt_buf *b, const struct qrow *r)
{
	uint64_t ts;

	if (queue_head_timestamp(r->q, &ts))
		mgmt_jw_int(b, (int64_t)ts);
	else
		mgmt_jw_lit(b, "null");
	return true;
}

static bool
qf_messages_ram(struct mgmt_buf *b, const struct qrow *r)
{
	mgmt_jw_int(b, (int64_t)(r->q->count + r->q->unacked));
	return true;
}

static void
jw_stat(struct mgmt_buf *b, const char *key, uint64_t v, double rate)
{
	mgmt_jw_cstr(b, key);
	mgmt_buf_add(b, ":", 1);
	mgmt_jw_int(b, (int64_t)v);
	mgmt_buf_add(b, ",", 1);
	mgmt_buf_add(b, "\"", 1);
	mgmt_buf_add(b, key, strlen(key));
	mgmt_jw_lit(b, "_details\":");
	mgmt_jw_rate(b, rate);
}

static bool
qf_message_stats(struct mgmt_buf *b, const struct qrow *r)
{
	const struct queue *q = r->q;

	mgmt_buf_add(b, "{", 1);
	jw_stat(b, "ack", q->stat_acked, r->rate[MGMT_Q_ACK]);
	mgmt_buf_add(b, ",", 1);
	jw_stat(b, "deliver", q->stat_delivered, r->rate[MGMT_Q_DELIVER]);
	mgmt_buf_add(b, ",", 1);
	jw_stat(b, "deliver_get", q->stat_delivered + q->stat_get + q->stat_get_noack,
	        r->rate[MGMT_Q_DELIVER] + r->rate[MGMT_Q_GET] + r->rate[MGMT_Q_GET_NOACK]);
	mgmt_jw_lit(b, ",\"deliver_no_ack\":0,\"deliver_no_ack_details\":{\"rate\":0.0},");
	jw_stat(b, "get", q->stat_get, r->rate[MGMT_Q_GET]);
	mgmt_buf_add(b, ",", 1);
	jw_stat(b, "get_empty", q->stat_get_empty, r->rate[MGMT_Q_GET_EMPTY]);
	mgmt_buf_add(b, ",", 1);
	jw_stat(b, "get_no_ack", q->stat_get_noack, r->rate[MGMT_Q_GET_NOACK]);
	mgmt_buf_add(b, ",", 1);
	jw_stat(b, "publish", q->stat_published, r->rate[MGMT_Q_PUBLISH]);
	mgmt_buf_add(b, ",", 1);
	jw_stat(b, "redeliver", q->stat_redelivered, r->rate[MGMT_Q_REDELIVER]);
	mgmt_buf_add(b, "}", 1);
	return true;
}

static bool
qf_owner_pid_details(struct mgmt_buf *b, const struct qrow *r)
{
	char     name[160], host[64];
	uint16_t port;

	if (!r->q->exclusive || !r->q->owner ||
	    inspect_queue_owner(r->q, name, sizeof(name), host, sizeof(host), &port) != 0)
		return false;
	mgmt_jw_json(b, json_pack("{s:s,s:s,s:i}", "name", name, "peer_host", host, "peer_port",
	                          (int)port));
	return true;
}

/* The fields in queue_json()'s order; keys are written as given (plain ASCII). */
static const struct qfield {
	const char *key;
	qfield_fn   fn;
} qfields[] = {
	{ "name", qf_name },
	{ "vhost", qf_vhost },
	{ "durable", qf_durable },
	{ "auto_delete", qf_auto_delete },
	{ "exclusive", qf_exclusive },
	{ "arguments", qf_arguments },
	{ "node", qf_node },
	{ "state", qf_state },
	{ "type", qf_type },
	{ "policy", qf_policy },
	{ "operator_policy", qf_operator_policy },
	{ "effective_policy_definition", qf_effective_policy_definition },
	{ "exclusive_consumer_tag", qf_exclusive_consumer_tag },
	{ "single_active_consumer_tag", qf_single_active_consumer_tag },
	{ "consumers", qf_consumers },
	{ "consumer_utilisation", qf_consumer_utilisation },
	{ "consumer_capacity", qf_consumer_capacity },
	{ "memory", qf_memory },
	{ "messages", qf_messages },
	{ "messages_details", qf_messages_details },
	{ "messages_ready", qf_messages_ready },
	{ "messages_ready_details", qf_messages_ready_details },
	{ "messages_unacknowledged", qf_messages_unacknowledged },
	{ "messages_unacknowledged_details", qf_messages_unacknowledged_details },
	{ "message_bytes", qf_bytes },
	{ "message_bytes_ready", qf_bytes },
	{ "message_bytes_unacknowledged", qf_zero },
	{ "message_bytes_ram", qf_bytes },
	{ "message_bytes_paged_out", qf_zero },
	{ "messages_ram", qf_messages_ram },
	{ "messages_ready_ram", qf_messages_ready },
	{ "messages_unacknowledged_ram", qf_messages_unacknowledged },
	{ "messages_paged_out", qf_zero },
	{ "head_message_timestamp", qf_head_timestamp },
	{ "recoverable_slaves", qf_null },
	{ "message_stats", qf_message_stats },
	{ "owner_pid_details", qf_owner_pid_details },
};

#define NQFIELDS (sizeof(qfields) / sizeof(qfields[0]))

/* Write one field as ,"key":value (no comma first); nothing if the field is absent. */
static void
write_qfield(struct mgmt_buf *b, const struct qfield *f, const struct qrow *r, bool *first)
{
	size_t mark = b->len;

	if (!*first)
		mgmt_buf_add(b, ",", 1);
	mgmt_buf_add(b, "\"", 1);
	mgmt_buf_add(b, f->key, strlen(f->key));
	mgmt_buf_add(b, "\":", 2);
	if (!f->fn(b, r)) {
		b->len = mark;
		b->p[mark] = '\0';
		return;
	}
	*first = false;
}

static void
queue_row_write(struct mgmt_buf *b, void *obj, char *const *cols, size_t ncols)
{
	struct qrow r;
	char        qname[512];
	bool        first = true;

	r.q = obj;
	snprintf(qname, sizeof(qname), "%.*s", (int)r.q->name.len, (const char *)r.q->name.ptr);
	r.type = queue_type(r.q);
	r.pol = policy_match(r.q->vh->name, qname, true, r.type, false);
	r.opol = policy_match(r.q->vh->name, qname, true, r.type, true);
	mgmt_stats_queue_rates(r.q, r.rate);
	mgmt_buf_add(b, "{", 1);
	if (ncols == 0) {
		for (size_t i = 0; i < NQFIELDS; i++)
			write_qfield(b, &qfields[i], &r, &first);
	} else {
		for (size_t c = 0; c < ncols; c++)
			for (size_t i = 0; i < NQFIELDS; i++)
				if (strcmp(cols[c], qfields[i].key) == 0) {
					write_qfield(b, &qfields[i], &r, &first);
					break;
				}
	}
	mgmt_buf_add(b, "}", 1);
}

static void *
queue_row_find(struct vhost *vh, struct amqp_bytes name)
{
	return queue_find(vh, name);
}

static json_t *
queue_row_json(void *obj)
{
	return queue_json(obj, false);
}

static int
queue_row_key(void *obj, const char *field, int *rank, double *num)
{
	const struct queue *q = obj;

	*rank = 1;
	if (strcmp(field, "messages") == 0 || strcmp(field, "messages_ram") == 0)
		*num = (double)(q->count + q->unacked);
	else if (strcmp(field, "messages_ready") == 0 || strcmp(field, "messages_ready_ram") == 0)
		*num = (double)q->count;
	else if (strcmp(field, "messages_unacknowledged") == 0 ||
	         strcmp(field, "messages_unacknowledged_ram") == 0)
		*num = (double)q->unacked;
	else if (strcmp(field, "consumers") == 0)
		*num = (double)q->nconsumers;
	else if (strcmp(field, "memory") == 0)
		*num = (double)(q->bytes + 64 * (q->count + q->unacked) + 2048);
	else if (strcmp(field, "message_bytes") == 0 || strcmp(field, "message_bytes_ready") == 0 ||
	         strcmp(field, "message_bytes_ram") == 0)
		*num = (double)q->bytes;
	else
		return -1;
	return 0;
}

static struct hmap *
queue_map(struct vhost *vh)
{
	return &vh->queues;
}

static const struct mgmt_list_ops queue_list_ops = {
	.find = queue_row_find,
	.write = queue_row_write,
	.json = queue_row_json,
	.key = queue_row_key,
	.map = queue_map,
};


void
mgmt_h_queues(struct mgmt_ctx *ctx)
{
	size_t             i;
	struct hmap_entry *e;
	struct mgmt_list  *l;

	if (ctx->t.nsegs == 3) {
		struct vhost *vh = mgmt_vhost_arg(ctx, 2);
		if (vh == NULL)
			return;
		l = mgmt_list_new(ctx, &queue_list_ops);
		mgmt_list_add_vhost(l, vh);
		mgmt_list_reply(l, true);
		return;
	}
	l = mgmt_list_new(ctx, &queue_list_ops);
	for (e = hmap_first(&broker.vhosts, &i); e; e = hmap_next(&broker.vhosts, &i, e)) {
		struct vhost *vh = e->val;
		if (!mgmt_vhost_visible(ctx, vh->name))
			continue;
		mgmt_list_add_vhost(l, vh);
	}
	mgmt_list_reply(l, true);
}

/* Read a lenient boolean body key; replies 400 on a bad value. */
static bool
body_bool(struct mgmt_ctx *ctx, json_t *body, const char *key, bool dflt, bool *out)
{
	json_t *v = json_object_get(body, key);

	*out = dflt;
	if (v == NULL || json_is_null(v))
		return true;
	if (mgmt_json_bool(v, out) == 0)
		return true;
	char reason[200];
	snprintf(reason, sizeof(reason), "[{not_boolean,%s}]", key);
	mgmt_reply_error(ctx, 400, "bad_request", reason);
	return false;
}

static bool
body_args(struct mgmt_ctx *ctx, json_t *body, struct amqp_bytes *args)
{
	json_t *v = json_object_get(body, "arguments");

	if (v && json_is_array(v) && json_array_size(v) == 0)
		v = NULL; /* RabbitMQ's empty list for "no arguments" */
	if (def_json_to_table(v, args) != 0) {
		mgmt_reply_error(ctx, 400, "bad_request", "arguments must be an object");
		return false;
	}
	return true;
}

static void
queue_put(struct mgmt_ctx *ctx, struct vhost *vh, const char *name)
{
	json_t           *body = mgmt_body(ctx, false);
	bool              durable, auto_delete;
	struct amqp_bytes args;
	struct broker_err err;
	struct queue     *q;

	if (body == NULL)
		return;
	if (!body_bool(ctx, body, "durable", false, &durable) ||
	    !body_bool(ctx, body, "auto_delete", false, &auto_delete) || !body_args(ctx, body, &args))
		return;
	if (!mgmt_check_perm(ctx, vh->name, AUTH_CONFIGURE, name)) {
		free((void *)(uintptr_t)args.ptr);
		return;
	}
	bool existed = queue_find(vh, amqp_cstr(name)) != NULL;
	int  rc = queue_declare(vh, amqp_cstr(name), false, durable, false, auto_delete, args, NULL,
	                        &q, &err);
	free((void *)(uintptr_t)args.ptr);
	if (rc != 0) {
		mgmt_reply_broker_err(ctx, &err);
		return;
	}
	mgmt_reply_empty(ctx, existed ? 204 : 201);
}

void
mgmt_h_queue(struct mgmt_ctx *ctx)
{
	struct vhost     *vh;
	struct queue     *q;
	struct broker_err err;

	if (method_is(ctx, HTTP_PUT)) {
		if ((vh = broker_vhost(amqp_cstr(ctx->t.segs[2]))) == NULL) {
			mgmt_reply_error(ctx, 404, "not_found", "vhost_not_found");
			return;
		}
		if (!mgmt_vhost_visible(ctx, vh->name)) {
			mgmt_reply_error(ctx, 401, "not_authorised",
			                 "User not authorised to access virtual host");
			return;
		}
		queue_put(ctx, vh, ctx->t.segs[3]);
		return;
	}
	if ((vh = mgmt_vhost_arg(ctx, 2)) == NULL)
		return;
	q = queue_find(vh, amqp_cstr(ctx->t.segs[3]));
	if (q == NULL) {
		mgmt_reply_not_found(ctx);
		return;
	}
	if (method_is(ctx, HTTP_GET)) {
		mgmt_reply_object(ctx, queue_json(q, true));
		return;
	}
	if (!mgmt_check_perm(ctx, vh->name, AUTH_CONFIGURE, ctx->t.segs[3]))
		return;
	if (queue_delete_check(q, param_true(ctx, "if-unused"), param_true(ctx, "if-empty"), &err) != 0) {
		mgmt_reply_broker_err(ctx, &err);
		return;
	}
	queue_delete(q);
	mgmt_reply_empty(ctx, 204);
}

void
mgmt_h_queue_contents(struct mgmt_ctx *ctx)
{
	struct vhost *vh = mgmt_vhost_arg(ctx, 2);
	struct queue *q;

	if (vh == NULL)
		return;
	if ((q = queue_find(vh, amqp_cstr(ctx->t.segs[3]))) == NULL) {
		mgmt_reply_not_found(ctx);
		return;
	}
	if (!mgmt_check_perm(ctx, vh->name, AUTH_READ, ctx->t.segs[3]))
		return;
	queue_purge(q);
	mgmt_reply_empty(ctx, 204);
}

void
mgmt_h_queue_actions(struct mgmt_ctx *ctx)
{
	struct vhost *vh = mgmt_vhost_arg(ctx, 2);

	if (vh == NULL)
		return;
	if (queue_find(vh, amqp_cstr(ctx->t.segs[3])) == NULL) {
		mgmt_reply_not_found(ctx);
		return;
	}
	json_t *body = mgmt_body(ctx, false);
	if (body == NULL)
		return;
	const char *action = json_string_value(json_object_get(body, "action"));
	if (action == NULL || (strcmp(action, "sync") != 0 && strcmp(action, "cancel_sync") != 0)) {
		mgmt_reply_error(ctx, 400, "bad_request", "Unknown action");
		return;
	}
	mgmt_reply_empty(ctx, 204);
}

/* Messages as the get endpoint shows them. */

static void
put_str_prop(json_t *o, const char *key, struct amqp_bytes v)
{
	json_object_set_new(o, key, mgmt_bytes_json(v));
}

static json_t *
props_json(struct amqp_bytes raw)
{
	struct amqp_basic_props p;
	json_t                 *o = json_object();

	if (amqp_props_decode(raw, &p) != 0 || p.flags == 0) {
		json_decref(o);
		return json_array(); /* RabbitMQ's quirk: no properties is [] */
	}
	if (p.flags & AMQP_PROP_CONTENT_TYPE)
		put_str_prop(o, "content_type", p.content_type);
	if (p.flags & AMQP_PROP_CONTENT_ENCODING)
		put_str_prop(o, "content_encoding", p.content_encoding);
	if (p.flags & AMQP_PROP_HEADERS)
		json_object_set_new(o, "headers", def_table_to_json(p.headers));
	if (p.flags & AMQP_PROP_DELIVERY_MODE)
		json_object_set_new(o, "delivery_mode", json_integer(p.delivery_mode));
	if (p.flags & AMQP_PROP_PRIORITY)
		json_object_set_new(o, "priority", json_integer(p.priority));
	if (p.flags & AMQP_PROP_CORRELATION_ID)
		put_str_prop(o, "correlation_id", p.correlation_id);
	if (p.flags & AMQP_PROP_REPLY_TO)
		put_str_prop(o, "reply_to", p.reply_to);
	if (p.flags & AMQP_PROP_EXPIRATION)
		put_str_prop(o, "expiration", p.expiration);
	if (p.flags & AMQP_PROP_MESSAGE_ID)
		put_str_prop(o, "message_id", p.message_id);
	if (p.flags & AMQP_PROP_TIMESTAMP)
		json_object_set_new(o, "timestamp", json_integer((json_int_t)p.timestamp));
	if (p.flags & AMQP_PROP_TYPE)
		put_str_prop(o, "type", p.type);
	if (p.flags & AMQP_PROP_USER_ID)
		put_str_prop(o, "user_id", p.user_id);
	if (p.flags & AMQP_PROP_APP_ID)
		put_str_prop(o, "app_id", p.app_id);
	if (p.flags & AMQP_PROP_CLUSTER_ID)
		put_str_prop(o, "cluster_id", p.cluster_id);
	return o;
}

static json_t *
message_json(const struct msg *m, bool redelivered, uint64_t remaining, bool base64, int64_t truncate)
{
	json_t *o = json_object();
	size_t  n = m->body_len;

	if (truncate >= 0 && (uint64_t)truncate < n)
		n = (size_t)truncate;
	json_object_set_new(o, "payload_bytes", json_integer((json_int_t)m->body_len));
	json_object_set_new(o, "redelivered", json_boolean(redelivered));
	json_object_set_new(o, "exchange", mgmt_bytes_json(msg_exchange(m)));
	json_object_set_new(o, "routing_key", mgmt_bytes_json(msg_routing_key(m)));
	json_object_set_new(o, "message_count", json_integer((json_int_t)remaining));
	json_object_set_new(o, "properties", props_json(msg_props(m)));
	if (!base64 && mgmt_utf8_valid(m->body, n)) {
		json_object_set_new(o, "payload", json_stringn((const char *)m->body, n));
		json_object_set_new(o, "payload_encoding", json_string("string"));
	} else {
		char *b = mgmt_base64_encode(m->body, n);
		json_object_set_new(o, "payload", json_string(b));
		json_object_set_new(o, "payload_encoding", json_string("base64"));
		free(b);
	}
	return o;
}

void
mgmt_h_queue_get(struct mgmt_ctx *ctx)
{
	static const char *const keys[] = { "count", "ackmode", "encoding", NULL };
	struct vhost            *vh = mgmt_vhost_arg(ctx, 2);
	struct queue            *q;
	int64_t                  count, truncate = -1;

	if (vh == NULL)
		return;
	if ((q = queue_find(vh, amqp_cstr(ctx->t.segs[3]))) == NULL) {
		char reason[600];
		snprintf(reason, sizeof(reason), "NOT_FOUND - no queue '%s' in vhost '%s'",
		         ctx->t.segs[3], vh->name);
		mgmt_reply_error(ctx, 404, "not_found", reason);
		return;
	}
	json_t *body = mgmt_body(ctx, false);
	if (body == NULL || !mgmt_require_keys(ctx, body, keys))
		return;
	if (!mgmt_check_perm(ctx, vh->name, AUTH_READ, ctx->t.segs[3]))
		return;
	const char *ackmode = json_string_value(json_object_get(body, "ackmode"));
	const char *encoding = json_string_value(json_object_get(body, "encoding"));
	if (mgmt_json_int(json_object_get(body, "count"), &count) != 0 || count < 0) {
		mgmt_reply_error(ctx, 400, "bad_request", "[{not_int,count}]");
		return;
	}
	json_t *tv = json_object_get(body, "truncate");
	if (tv && !json_is_null(tv) && mgmt_json_int(tv, &truncate) != 0) {
		mgmt_reply_error(ctx, 400, "bad_request", "[{not_int,truncate}]");
		return;
	}
	bool requeue, reject;
	if (ackmode && strcmp(ackmode, "ack_requeue_true") == 0) {
		requeue = true;
		reject = false;
	} else if (ackmode && strcmp(ackmode, "reject_requeue_true") == 0) {
		requeue = true;
		reject = true;
	} else if (ackmode && strcmp(ackmode, "ack_requeue_false") == 0) {
		requeue = false;
		reject = false;
	} else if (ackmode && strcmp(ackmode, "reject_requeue_false") == 0) {
		requeue = false;
		reject = true;
	} else {
		mgmt_reply_empty(ctx, 500);
		return;
	}
	bool base64;
	if (encoding && strcmp(encoding, "auto") == 0)
		base64 = false;
	else if (encoding && strcmp(encoding, "base64") == 0)
		base64 = true;
	else {
		mgmt_reply_empty(ctx, 500);
		return;
	}
	if (count > 100000)
		count = 100000;
	json_t        *out = json_array();
	struct qentry *taken = xcalloc((size_t)count + 1, sizeof(*taken));
	size_t         ntaken = 0;
	queue_ref(q);
	queue_touch(q);
	while ((int64_t)ntaken < count && !q->deleted && queue_pop(q, &taken[ntaken])) {
		struct qentry *e = &taken[ntaken++];
		e->deliveries++;
		json_array_append_new(out, message_json(e->m, e->redelivered != 0, q->count, base64,
		                                        truncate));
	}
	for (size_t i = 0; i < ntaken; i++) {
		if (requeue)
			queue_requeue(q, &taken[i]);
		else
			queue_discard(q, &taken[i], reject ? "rejected" : NULL);
	}
	free(taken);
	queue_unref(q);
	mgmt_reply_json(ctx, 200, out);
}

void
mgmt_h_queue_messages(struct mgmt_ctx *ctx)
{
	struct vhost *vh = mgmt_vhost_arg(ctx, 2);
	struct queue *q;
	int64_t       offset = 0, count = 100;
	const char   *s;

	if (vh == NULL)
		return;
	if ((q = queue_find(vh, amqp_cstr(ctx->t.segs[3]))) == NULL) {
		mgmt_reply_not_found(ctx);
		return;
	}
	if (!mgmt_check_perm(ctx, vh->name, AUTH_READ, ctx->t.segs[3]))
		return;
	if ((s = mgmt_target_param(&ctx->t, "offset")) != NULL) {
		json_t *v = json_string(s);
		int     rc = mgmt_json_int(v, &offset);
		json_decref(v);
		if (rc != 0 || offset < 0) {
			mgmt_reply_error(ctx, 400, "bad_request", "offset must be a non-negative integer");
			return;
		}
	}
	if ((s = mgmt_target_param(&ctx->t, "count")) != NULL) {
		json_t *v = json_string(s);
		int     rc = mgmt_json_int(v, &count);
		json_decref(v);
		if (rc != 0 || count < 0) {
			mgmt_reply_error(ctx, 400, "bad_request", "count must be a non-negative integer");
			return;
		}
	}
	const char *encoding = mgmt_target_param(&ctx->t, "encoding");
	bool        base64 = encoding && strcmp(encoding, "base64") == 0;
	json_t     *out = json_array();
	int64_t     idx = 0;
	/* unacknowledged first (they were delivered earlier), then ready in delivery order */
	struct inspect_unacked *un;
	size_t                  nun = inspect_queue_unacked(q, &un);
	for (size_t i = 0; i < nun && (int64_t)json_array_size(out) < count; i++, idx++) {
		if (idx < offset)
			continue;
		json_t *m = message_json(un[i].m, un[i].redelivered, q->count, base64, -1);
		json_object_set_new(m, "unacknowledged", json_true());
		json_object_set_new(m, "delivered_at", json_integer((json_int_t)(un[i].at * 1000)));
		json_array_append_new(out, m);
	}
	free(un);
	for (int p = q->opts.max_priority; p >= 0 && (int64_t)json_array_size(out) < count; p--) {
		struct qring *r = &q->prio[p];
		for (size_t i = 0; i < r->count && (int64_t)json_array_size(out) < count; i++, idx++) {
			if (idx < offset)
				continue;
			struct qentry *e = &r->ring[(r->head + i) & (r->cap - 1)];
			struct msg    *pm = queue_peek_msg(q, e); /* paged-out ones are read back */
			if (pm == NULL)
				continue;
			json_t *m = message_json(pm, e->redelivered != 0, q->count, base64, -1);
			msg_unref(pm);
			json_object_set_new(m, "unacknowledged", json_false());
			json_array_append_new(out, m);
		}
	}
	mgmt_reply_json(ctx, 200, out);
}

/* Exchanges. */

static json_t *
exchange_json(struct exchange *x, bool single)
{
	json_t *o = def_exchange_json(x, true);

	json_object_set_new(o, "name", mgmt_bytes_json(x->name)); /* never null, whatever the bytes */
	json_object_set_new(o, "user_who_performed_action",
	                    json_string(def_reserved_exchange(x->name) ? "rmq-internal" :
	                                broker.cfg ? broker.cfg->default_user : "guest"));
	char xname[512];
	snprintf(xname, sizeof(xname), "%.*s", (int)x->name.len, (const char *)x->name.ptr);
	const struct policy *pol = policy_match(x->vh->name, xname, false, NULL, false);
	json_object_set_new(o, "policy", pol ? json_string(pol->name) : json_null());
	if (x->stat_in) {
		/* as RabbitMQ: only once messages went through it */
		json_t *ms = json_object();
		bool    seen = x->rates.gen != 0;
		mgmt_set_stat(ms, "publish_in", x->stat_in, seen ? (double)x->rates.rate[0] : 0.0);
		if (x->stat_out)
			mgmt_set_stat(ms, "publish_out", x->stat_out, seen ? (double)x->rates.rate[1] : 0.0);
		json_object_set_new(o, "message_stats", ms);
	}
	if (single) {
		json_object_set_new(o, "incoming", json_array());
		json_object_set_new(o, "outgoing", json_array());
	}
	return o;
}

/* Exchange listings go through mgmt_list too: sliced when there are many. */
static void *
exchange_row_find(struct vhost *vh, struct amqp_bytes name)
{
	return exchange_find(vh, name);
}

static void
exchange_row_write(struct mgmt_buf *b, void *obj, char *const *cols, size_t ncols)
{
	json_t *o = exchange_json(obj, false);

	if (ncols) {
		json_t *sub = json_object();
		for (size_t c = 0; c < ncols; c++) {
			json_t *v = json_object_get(o, cols[c]);
			if (v)
				json_object_set(sub, cols[c], v);
		}
		json_decref(o);
		o = sub;
	}
	mgmt_jw_json(b, o); /* takes o */
}

static json_t *
exchange_row_json(void *obj)
{
	return exchange_json(obj, false);
}

static struct hmap *
exchange_map(struct vhost *vh)
{
	return &vh->exchanges;
}

static const struct mgmt_list_ops exchange_list_ops = {
	.find = exchange_row_find,
	.write = exchange_row_write,
	.json = exchange_row_json,
	.map = exchange_map,
};

void
mgmt_h_exchanges(struct mgmt_ctx *ctx)
{
	size_t             i;
	struct hmap_entry *e;
	struct mgmt_list  *l;

	if (ctx->t.nsegs == 3) {
		struct vhost *vh = mgmt_vhost_arg(ctx, 2);
		if (vh == NULL)
			return;
		l = mgmt_list_new(ctx, &exchange_list_ops);
		mgmt_list_add_vhost(l, vh);
		mgmt_list_reply(l, true);
		return;
	}
	l = mgmt_list_new(ctx, &exchange_list_ops);
	for (e = hmap_first(&broker.vhosts, &i); e; e = hmap_next(&broker.vhosts, &i, e)) {
		struct vhost *vh = e->val;
		if (mgmt_vhost_visible(ctx, vh->name))
			mgmt_list_add_vhost(l, vh);
	}
	mgmt_list_reply(l, true);
}

static void
exchange_put(struct mgmt_ctx *ctx, struct vhost *vh, const char *name)
{
	json_t            *body = mgmt_body(ctx, false);
	bool               durable, auto_delete, internal;
	struct amqp_bytes  args;
	struct broker_err  err;
	enum exchange_type t;

	if (body == NULL)
		return;
	json_t     *tv = json_object_get(body, "type");
	const char *type = json_is_string(tv) ? json_string_value(tv) : "direct";
	if (exchange_type_parse(amqp_cstr(type), &t) != 0) {
		char reason[300];
		snprintf(reason, sizeof(reason), "invalid exchange type '%s'", type);
		mgmt_reply_error(ctx, 400, "bad_request", reason);
		return;
	}
	if (!body_bool(ctx, body, "durable", false, &durable) ||
	    !body_bool(ctx, body, "auto_delete", false, &auto_delete) ||
	    !body_bool(ctx, body, "internal", false, &internal) || !body_args(ctx, body, &args))
		return;
	if (!mgmt_check_perm(ctx, vh->name, AUTH_CONFIGURE, name)) {
		free((void *)(uintptr_t)args.ptr);
		return;
	}
	bool existed = exchange_find(vh, amqp_cstr(name)) != NULL;
	if (!existed && strncmp(name, "amq.", 4) == 0) {
		free((void *)(uintptr_t)args.ptr);
		mgmt_reply_error(ctx, 401, "not_authorised", "Access refused.");
		return;
	}
	int rc = exchange_declare(vh, amqp_cstr(name), amqp_cstr(type), false, durable, auto_delete,
	                          internal, args, &err);
	free((void *)(uintptr_t)args.ptr);
	if (rc != 0) {
		mgmt_reply_broker_err(ctx, &err);
		return;
	}
	mgmt_reply_empty(ctx, existed ? 204 : 201);
}

void
mgmt_h_exchange(struct mgmt_ctx *ctx)
{
	struct vhost     *vh;
	struct exchange  *x;
	struct broker_err err;
	const char       *name = exchange_arg(ctx->t.segs[3]);

	if (method_is(ctx, HTTP_PUT)) {
		if ((vh = broker_vhost(amqp_cstr(ctx->t.segs[2]))) == NULL) {
			mgmt_reply_error(ctx, 404, "not_found", "vhost_not_found");
			return;
		}
		if (!mgmt_vhost_visible(ctx, vh->name)) {
			mgmt_reply_error(ctx, 401, "not_authorised",
			                 "User not authorised to access virtual host");
			return;
		}
		exchange_put(ctx, vh, name);
		return;
	}
	if ((vh = mgmt_vhost_arg(ctx, 2)) == NULL)
		return;
	x = exchange_find(vh, amqp_cstr(name));
	if (x == NULL) {
		mgmt_reply_not_found(ctx);
		return;
	}
	if (method_is(ctx, HTTP_GET)) {
		mgmt_reply_object(ctx, exchange_json(x, true));
		return;
	}
	if (def_reserved_exchange(x->name)) {
		mgmt_reply_error(ctx, 401, "not_authorised", "Access refused.");
		return;
	}
	if (!mgmt_check_perm(ctx, vh->name, AUTH_CONFIGURE, name))
		return;
	if (exchange_delete(vh, amqp_cstr(name), param_true(ctx, "if-unused"), &err) != 0) {
		mgmt_reply_broker_err(ctx, &err);
		return;
	}
	mgmt_reply_empty(ctx, 204);
}

/* Encode the "properties" object of a publish; replies 400 on a bad one. */
static bool
encode_props(struct mgmt_ctx *ctx, json_t *props, uint8_t *buf, size_t cap, struct amqp_bytes *out,
             uint8_t **headers_owned)
{
	struct amqp_basic_props p;
	struct amqp_wbuf        w;
	const char             *key;
	json_t                 *v;

	memset(&p, 0, sizeof(p));
	*headers_owned = NULL;
	if (props && json_is_array(props) && json_array_size(props) == 0)
		props = NULL;
	if (props && !json_is_object(props)) {
		mgmt_reply_error(ctx, 400, "bad_request", "properties must be an object");
		return false;
	}
	json_object_foreach (props, key, v) {
		static const struct {
			const char *name;
			uint16_t    flag;
			size_t      off;
		} strs[] = {
			{ "content_type", AMQP_PROP_CONTENT_TYPE, offsetof(struct amqp_basic_props, content_type) },
			{ "content_encoding", AMQP_PROP_CONTENT_ENCODING, offsetof(struct amqp_basic_props, content_encoding) },
			{ "correlation_id", AMQP_PROP_CORRELATION_ID, offsetof(struct amqp_basic_props, correlation_id) },
			{ "reply_to", AMQP_PROP_REPLY_TO, offsetof(struct amqp_basic_props, reply_to) },
			{ "expiration", AMQP_PROP_EXPIRATION, offsetof(struct amqp_basic_props, expiration) },
			{ "message_id", AMQP_PROP_MESSAGE_ID, offsetof(struct amqp_basic_props, message_id) },
			{ "type", AMQP_PROP_TYPE, offsetof(struct amqp_basic_props, type) },
			{ "user_id", AMQP_PROP_USER_ID, offsetof(struct amqp_basic_props, user_id) },
			{ "app_id", AMQP_PROP_APP_ID, offsetof(struct amqp_basic_props, app_id) },
			{ "cluster_id", AMQP_PROP_CLUSTER_ID, offsetof(struct amqp_basic_props, cluster_id) },
		};
		char   reason[300];
		size_t i;
		for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
			if (strcmp(key, strs[i].name) == 0)
				break;
		if (i < sizeof(strs) / sizeof(strs[0])) {
			if (!json_is_string(v) || json_string_length(v) > 255) {
				snprintf(reason, sizeof(reason), "[\"not_string\",\"%s\"]", key);
				mgmt_reply_error_json(ctx, 400, "bad_request",
				                      json_pack("[s,s]", "not_string", key));
				return false;
			}
			p.flags |= strs[i].flag;
			*(struct amqp_bytes *)((char *)&p + strs[i].off) =
				(struct amqp_bytes){ json_string_length(v), (const uint8_t *)json_string_value(v) };
			continue;
		}
		if (strcmp(key, "delivery_mode") == 0 || strcmp(key, "priority") == 0 ||
		    strcmp(key, "timestamp") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    (strcmp(key, "timestamp") != 0 && json_integer_value(v) > 255)) {
				mgmt_reply_error_json(ctx, 400, "bad_request", json_pack("[s,s]", "not_int", key));
				return false;
			}
			if (key[0] == 'd') {
				p.flags |= AMQP_PROP_DELIVERY_MODE;
				p.delivery_mode = (uint8_t)json_integer_value(v);
			} else if (key[0] == 'p') {
				p.flags |= AMQP_PROP_PRIORITY;
				p.priority = (uint8_t)json_integer_value(v);
			} else {
				p.flags |= AMQP_PROP_TIMESTAMP;
				p.timestamp = (uint64_t)json_integer_value(v);
			}
			continue;
		}
		if (strcmp(key, "headers") == 0) {
			struct amqp_bytes h;
			if (!json_is_object(v) || def_json_to_table(v, &h) != 0) {
				mgmt_reply_error_json(ctx, 400, "bad_request", json_pack("[s,s]", "not_table", key));
				return false;
			}
			*headers_owned = (uint8_t *)(uintptr_t)h.ptr;
			p.flags |= AMQP_PROP_HEADERS;
			p.headers = h;
			continue;
		}
		/* unknown properties are ignored, as RabbitMQ does */
	}
	amqp_wbuf_init(&w, buf, cap);
	amqp_props_encode(&w, &p);
	if (w.overflow) {
		mgmt_reply_error(ctx, 400, "bad_request", "properties too large");
		return false;
	}
	*out = (struct amqp_bytes){ w.len, buf };
	return true;
}

void
mgmt_h_exchange_publish(struct mgmt_ctx *ctx)
{
	static const char *const keys[] = { "properties", "routing_key", "payload", "payload_encoding",
		                            NULL };
	struct vhost            *vh = mgmt_vhost_arg(ctx, 2);
	const char              *name;
	struct broker_err        err;
	bool                     routed = false;

	if (vh == NULL)
		return;
	name = exchange_arg(ctx->t.segs[3]);
	json_t *body = mgmt_body(ctx, false);
	if (body == NULL || !mgmt_require_keys(ctx, body, keys))
		return;
	if (!mgmt_check_perm(ctx, vh->name, AUTH_WRITE, name))
		return;
	json_t     *rkv = json_object_get(body, "routing_key");
	json_t     *pv = json_object_get(body, "payload");
	const char *enc = json_string_value(json_object_get(body, "payload_encoding"));
	if (!json_is_string(rkv) || !json_is_string(pv)) {
		mgmt_reply_error(ctx, 400, "bad_request", "routing_key and payload must be strings");
		return;
	}
	uint8_t *payload;
	size_t   plen;
	if (enc && strcmp(enc, "string") == 0) {
		plen = json_string_length(pv);
		payload = (uint8_t *)xstrndup(json_string_value(pv), plen);
	} else if (enc && strcmp(enc, "base64") == 0) {
		if (mgmt_base64_decode(json_string_value(pv), json_string_length(pv), &payload, &plen) != 0) {
			mgmt_reply_error(ctx, 400, "bad_request", "payload is not valid base64");
			return;
		}
	} else {
		json_t *enc_v = json_object_get(body, "payload_encoding");
		mgmt_reply_error_json(ctx, 400, "bad_request",
		                      json_pack("[s,O]", "unsupported_encoding", enc_v));
		return;
	}
	uint8_t           pbuf[65536];
	struct amqp_bytes props;
	uint8_t          *headers = NULL;
	if (!encode_props(ctx, json_object_get(body, "properties"), pbuf, sizeof(pbuf), &props,
	                  &headers)) {
		free(payload);
		return;
	}
	int rc = broker_publish(vh, amqp_cstr(name), (struct amqp_bytes){ json_string_length(rkv), (const uint8_t *)json_string_value(rkv) }, props, payload, plen, &routed,
	                        &err);
	free(headers);
	free(payload);
	if (rc != 0) {
		char reason[700];
		snprintf(reason, sizeof(reason), "%d %s - %s", err.code,
		         err.code == 404 ? "NOT_FOUND" : err.code == 403 ? "ACCESS_REFUSED" :
		         err.code == 406 ? "PRECONDITION_FAILED" : "ERROR",
		         err.text);
		if (err.code == 403)
			mgmt_reply_error(ctx, 401, "not_authorised", "Access refused.");
		else
			mgmt_reply_error(ctx, 400, "bad_request", reason);
		return;
	}
	mgmt_reply_json(ctx, 200, json_pack("{s:b}", "routed", routed));
}

/* Bindings. */

static char *
properties_key(struct amqp_bytes rk, struct amqp_bytes args)
{
	if (args.len == 0) {
		if (rk.len == 0)
			return xstrndup("~", 1);
		return mgmt_quote_plus((const char *)rk.ptr, rk.len);
	}
	static const char b64u[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint64_t          h = hmap_hash(args.ptr, args.len);
	char             *q = mgmt_quote_plus((const char *)rk.ptr, rk.len);
	size_t            n = strlen(q);
	char             *out = xmalloc(n + 8);
	memcpy(out, q, n);
	out[n] = '~';
	for (int i = 0; i < 6; i++)
		out[n + 1 + i] = b64u[(h >> (6 * i)) & 63];
	out[n + 7] = '\0';
	free(q);
	return out;
}

static json_t *
binding_json(const char *vhost, struct amqp_bytes src, struct amqp_bytes dst, bool dst_is_x,
             struct amqp_bytes rk, struct amqp_bytes args)
{
	json_t *o = json_object();
	char   *pk = properties_key(rk, args);

	json_object_set_new(o, "source", mgmt_bytes_json(src));
	json_object_set_new(o, "vhost", json_string(vhost));
	json_object_set_new(o, "destination", mgmt_bytes_json(dst));
	json_object_set_new(o, "destination_type", json_string(dst_is_x ? "exchange" : "queue"));
	json_object_set_new(o, "routing_key", mgmt_bytes_json(rk));
	json_object_set_new(o, "arguments", def_table_to_json(args));
	json_object_set_new(o, "properties_key", json_string(pk));
	free(pk);
	return o;
}

static struct amqp_bytes
dest_name(const struct binding *b)
{
	return b->dest_is_exchange ? ((const struct exchange *)b->dest)->name :
	                             ((const struct queue *)b->dest)->name;
}

/* Filter for binding listings; NULL fields match anything. */
struct bfilter {
	const struct exchange *src;
	const void            *dest;
	int                    dest_is_x; /* -1 any */
};

static bool
bmatch(const struct bfilter *f, const struct binding *b)
{
	return (f->src == NULL || b->src == f->src) && (f->dest == NULL || b->dest == f->dest) &&
	       (f->dest_is_x < 0 || b->dest_is_exchange == (f->dest_is_x != 0));
}

/* A row and its sort key (source, destination type, destination, properties key). */
struct bsort {
	const char *k[4]; /* borrowed from o */
	json_t     *o;
};

static int
cmp_bind(const void *pa, const void *pb)
{
	const struct bsort *a = pa, *b = pb;

	for (size_t i = 0; i < 4; i++) {
		int c = strcmp(a->k[i], b->k[i]);
		if (c)
			return c;
	}
	return 0;
}

static void
vhost_bindings(struct vhost *vh, const struct bfilter *f, bool with_default, json_t *out)
{
	size_t             i, n0 = json_array_size(out);
	struct hmap_entry *e;

	if (with_default && (f->src == NULL || f->src == vh->default_x) && f->dest_is_x != 1) {
		for (e = hmap_first(&vh->queues, &i); e; e = hmap_next(&vh->queues, &i, e)) {
			struct queue *q = e->val;
			if (f->dest && f->dest != q)
				continue;
			json_array_append_new(out, binding_json(vh->name, amqp_cstr(""), q->name, false,
			                                        q->name, (struct amqp_bytes){ 0, NULL }));
		}
	}
	for (e = hmap_first(&vh->exchanges, &i); e; e = hmap_next(&vh->exchanges, &i, e)) {
		struct exchange *x = e->val;
		struct list     *it, *tmp;
		if (f->src && f->src != x)
			continue;
		list_for_each_safe (it, tmp, &x->bindings) {
			struct binding *b = container_of(it, struct binding, src_link);
			if (!bmatch(f, b))
				continue;
			json_array_append_new(out, binding_json(vh->name, x->name, dest_name(b),
			                                        b->dest_is_exchange, b->rk, b->args));
		}
	}
	/* a stable order within the vhost: source, type, destination, key
	 * (the keys looked up once per row, not once per comparison) */
	static const char *const keys[4] = { "source", "destination_type", "destination",
		                             "properties_key" };
	size_t        n = json_array_size(out) - n0;
	struct bsort *v = xmalloc((n ? n : 1) * sizeof(*v));
	for (i = 0; i < n; i++) {
		v[i].o = json_incref(json_array_get(out, n0 + i));
		for (int k = 0; k < 4; k++)
			v[i].k[k] = json_string_value(json_object_get(v[i].o, keys[k]));
	}
	qsort(v, n, sizeof(*v), cmp_bind);
	for (i = 0; i < n; i++)
		json_array_set_new(out, n0 + i, v[i].o);
	free(v);
}

void
mgmt_h_bindings(struct mgmt_ctx *ctx)
{
	json_t            *a = json_array();
	struct bfilter     f = { NULL, NULL, -1 };
	size_t             i;
	struct hmap_entry *e;

	if (ctx->t.nsegs == 3) {
		struct vhost *vh = mgmt_vhost_arg(ctx, 2);
		if (vh == NULL) {
			json_decref(a);
			return;
		}
		vhost_bindings(vh, &f, true, a);
		mgmt_reply_list(ctx, a, false);
		return;
	}
	/* vhosts in name order, so the listing is stable */
	json_t *names = json_array();
	for (e = hmap_first(&broker.vhosts, &i); e; e = hmap_next(&broker.vhosts, &i, e))
		if (mgmt_vhost_visible(ctx, ((struct vhost *)e->val)->name))
			json_array_append_new(names, json_pack("{s:s}", "vhost", ((struct vhost *)e->val)->name));
	mgmt_sort(names, "vhost", false);
	json_t *n;
	json_array_foreach (names, i, n) {
		struct vhost *vh = broker_vhost(amqp_cstr(json_string_value(json_object_get(n, "vhost"))));
		vhost_bindings(vh, &f, true, a);
	}
	json_decref(names);
	mgmt_reply_list(ctx, a, false);
}

void
mgmt_h_queue_bindings(struct mgmt_ctx *ctx)
{
	struct vhost *vh = mgmt_vhost_arg(ctx, 2);
	struct queue *q;

	if (vh == NULL)
		return;
	if ((q = queue_find(vh, amqp_cstr(ctx->t.segs[3]))) == NULL) {
		mgmt_reply_not_found(ctx);
		return;
	}
	struct bfilter f = { NULL, q, 0 };
	json_t        *a = json_array();
	vhost_bindings(vh, &f, true, a);
	mgmt_reply_list(ctx, a, false);
}

void
mgmt_h_exchange_bindings(struct mgmt_ctx *ctx)
{
	struct vhost    *vh = mgmt_vhost_arg(ctx, 2);
	struct exchange *x;

	if (vh == NULL)
		return;
	if ((x = exchange_find(vh, amqp_cstr(exchange_arg(ctx->t.segs[3])))) == NULL) {
		mgmt_reply_not_found(ctx);
		return;
	}
	json_t *a = json_array();
	if (strcmp(ctx->t.segs[5], "source") == 0) {
		struct bfilter f = { x, NULL, -1 };
		vhost_bindings(vh, &f, x == vh->default_x, a);
	} else {
		struct bfilter f = { NULL, x, 1 };
		vhost_bindings(vh, &f, false, a);
	}
	mgmt_reply_list(ctx, a, false);
}

/* Resolve /bindings/{v}/e/{s}/{q|e}/{d}: replies and returns false on failure. */
static bool
binding_ends(struct mgmt_ctx *ctx, struct vhost **vh, struct exchange **src, void **dest,
             bool *dest_is_x)
{
	char reason[700];

	if ((*vh = mgmt_vhost_arg(ctx, 2)) == NULL)
		return false;
	*dest_is_x = strcmp(ctx->t.segs[5], "e") == 0;
	*src = exchange_find(*vh, amqp_cstr(exchange_arg(ctx->t.segs[4])));
	if (*src == NULL) {
		snprintf(reason, sizeof(reason), "no exchange '%s' in vhost '%s'", ctx->t.segs[4],
		         (*vh)->name);
		mgmt_reply_error(ctx, 404, "not_found", reason);
		return false;
	}
	if (*dest_is_x)
		*dest = exchange_find(*vh, amqp_cstr(exchange_arg(ctx->t.segs[6])));
	else
		*dest = queue_find(*vh, amqp_cstr(ctx->t.segs[6]));
	if (*dest == NULL) {
		snprintf(reason, sizeof(reason), "no %s '%s' in vhost '%s'",
		         *dest_is_x ? "exchange" : "queue", ctx->t.segs[6], (*vh)->name);
		mgmt_reply_error(ctx, 404, "not_found", reason);
		return false;
	}
	return true;
}

void
mgmt_h_binding_pair(struct mgmt_ctx *ctx)
{
	struct vhost      *vh;
	struct exchange   *src;
	void              *dest;
	bool               dest_is_x;
	struct broker_err  err;
	struct amqp_bytes  args;

	if (!binding_ends(ctx, &vh, &src, &dest, &dest_is_x))
		return;
	if (method_is(ctx, HTTP_GET)) {
		struct bfilter f = { src, dest, dest_is_x };
		json_t        *a = json_array();
		vhost_bindings(vh, &f, src == vh->default_x, a);
		mgmt_reply_list(ctx, a, false);
		return;
	}
	json_t *body = mgmt_body(ctx, false);
	if (body == NULL || !body_args(ctx, body, &args))
		return;
	json_t     *rkv = json_object_get(body, "routing_key");
	const char *rk = json_is_string(rkv) ? json_string_value(rkv) : "";
	const char *dname = dest_is_x ? exchange_arg(ctx->t.segs[6]) : ctx->t.segs[6];
	const char *sname = exchange_arg(ctx->t.segs[4]);
	if (!mgmt_check_perm(ctx, vh->name, AUTH_WRITE, dname) ||
	    !mgmt_check_perm(ctx, vh->name, AUTH_READ, sname)) {
		free((void *)(uintptr_t)args.ptr);
		return;
	}
	int rc = dest_is_x ? exchange_bind(vh, amqp_cstr(dname), amqp_cstr(sname), amqp_cstr(rk), args,
	                                   &err) :
	                     queue_bind(vh, amqp_cstr(dname), amqp_cstr(sname), amqp_cstr(rk), args,
	                                NULL, &err);
	if (rc != 0) {
		free((void *)(uintptr_t)args.ptr);
		mgmt_reply_broker_err(ctx, &err);
		return;
	}
	char *pk = properties_key(amqp_cstr(rk), args);
	char *epk = mgmt_pct_encode(pk);
	char *edst = mgmt_pct_encode(dname);
	mgmt_buf_printf(&ctx->resp->headers, "location: %s/%s\r\n", edst, epk);
	free(pk);
	free(epk);
	free(edst);
	free((void *)(uintptr_t)args.ptr);
	mgmt_reply_empty(ctx, 201);
}

void
mgmt_h_binding(struct mgmt_ctx *ctx)
{
	struct vhost    *vh;
	struct exchange *src;
	void            *dest;
	bool             dest_is_x;

	if (!binding_ends(ctx, &vh, &src, &dest, &dest_is_x))
		return;
	const char    *want = ctx->t.segs[7];
	struct list   *it, *tmp;
	struct binding *found = NULL;
	if (src == vh->default_x && !dest_is_x) {
		struct queue *q = dest;
		char         *pk = properties_key(q->name, (struct amqp_bytes){ 0, NULL });
		bool          match = strcmp(pk, want) == 0;
		free(pk);
		if (match && method_is(ctx, HTTP_GET)) {
			mgmt_reply_object(ctx, binding_json(vh->name, amqp_cstr(""), q->name, false, q->name,
			                                    (struct amqp_bytes){ 0, NULL }));
			return;
		}
		if (match) {
			mgmt_reply_error(ctx, 401, "not_authorised", "Access refused.");
			return;
		}
	}
	list_for_each_safe (it, tmp, &src->bindings) {
		struct binding *b = container_of(it, struct binding, src_link);
		if (b->dest != dest || b->dest_is_exchange != dest_is_x)
			continue;
		char *pk = properties_key(b->rk, b->args);
		bool  match = strcmp(pk, want) == 0;
		free(pk);
		if (match) {
			found = b;
			break;
		}
	}
	if (found == NULL) {
		mgmt_reply_not_found(ctx);
		return;
	}
	if (method_is(ctx, HTTP_GET)) {
		mgmt_reply_object(ctx, binding_json(vh->name, src->name, dest_name(found), dest_is_x,
		                                    found->rk, found->args));
		return;
	}
	const char *dname = dest_is_x ? exchange_arg(ctx->t.segs[6]) : ctx->t.segs[6];
	if (!mgmt_check_perm(ctx, vh->name, AUTH_WRITE, dname) ||
	    !mgmt_check_perm(ctx, vh->name, AUTH_READ, exchange_arg(ctx->t.segs[4])))
		return;
	struct broker_err err;
	struct amqp_bytes rk = bytes_dup(found->rk), args = bytes_dup(found->args);
	const char *sname = exchange_arg(ctx->t.segs[4]);
	int rc = dest_is_x ? exchange_unbind(vh, amqp_cstr(dname), amqp_cstr(sname), rk, args, &err) :
	                     queue_unbind(vh, amqp_cstr(dname), amqp_cstr(sname), rk, args, NULL, &err);
	bytes_free(&rk);
	bytes_free(&args);
	if (rc != 0) {
		mgmt_reply_broker_err(ctx, &err);
		return;
	}
	mgmt_reply_empty(ctx, 204);
}
