/*
 * The management API's front door: routing (a table of path patterns),
 * authentication (HTTP Basic against the broker's users and their tags),
 * content negotiation, replies in RabbitMQ's shapes; and the handlers of
 * the node-wide endpoints: overview, nodes, cluster name, health checks,
 * definitions.
 */
#include "autoconfig.h"

#include "mgmt/mgmt.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "mgmt/api.h"
#include "mgmt/stats.h"
#include "mgmt/www.h"
#include "server/config.h"
#include "server/def.h"
#include "server/inspect.h"
#include "server/msg.h"
#include "server/policy.h"

#define RABBIT_VERSION "3.10.8"

uint16_t mgmt_amqp_port, mgmt_http_port, mgmt_prom_port;
uint16_t mgmt_amqps_port, mgmt_https_port;
const struct config_tls *mgmt_amqps_tls, *mgmt_https_tls;

/* A TLS listener's settings as RabbitMQ shows them in its socket_opts / ssl_opts. */
static void
tls_opts(json_t *o, const struct config_tls *t, bool amqp)
{
	if (amqp) {
		json_t *v = json_array();
		if (t->versions == 0 || (t->versions & CONFIG_TLS13))
			json_array_append_new(v, json_string("tlsv1.3"));
		if (t->versions == 0 || (t->versions & CONFIG_TLS12))
			json_array_append_new(v, json_string("tlsv1.2"));
		json_object_set_new(o, "versions", v);
	}
	if (t->keyfile)
		json_object_set_new(o, "keyfile", json_string(t->keyfile));
	if (t->certfile)
		json_object_set_new(o, "certfile", json_string(t->certfile));
	if (t->cacertfile)
		json_object_set_new(o, "cacertfile", json_string(t->cacertfile));
	if (amqp) {
		json_object_set_new(o, "fail_if_no_peer_cert", json_boolean(t->fail_if_no_peer_cert));
		json_object_set_new(o, "verify", json_string(t->verify_peer ? "verify_peer" : "verify_none"));
	}
}

/* Replies. */

void
mgmt_reply_json(struct mgmt_ctx *ctx, int status, json_t *json)
{
	ctx->resp->status = status;
	ctx->resp->content_type = "application/json";
	ctx->resp->no_cache = true;
	ctx->resp->body.len = 0;
	size_t n = json_dumpb(json, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
	if (n) {
		char *p = xmalloc(n + 1);
		json_dumpb(json, p, n, JSON_COMPACT | JSON_ENCODE_ANY);
		mgmt_buf_add(&ctx->resp->body, p, n);
		free(p);
	}
	json_decref(json);
	ctx->handled = true;
}

void
mgmt_reply_empty(struct mgmt_ctx *ctx, int status)
{
	ctx->resp->status = status;
	ctx->resp->content_type = NULL;
	ctx->resp->body.len = 0;
	ctx->handled = true;
	/* Every change the API makes answers 201 or 204: users, vhosts,
	 * permissions, policies and parameters live in the definitions file.
	 * Queues, exchanges and bindings go to its journal from the functions
	 * that change them: no rewrite of the whole file for those. */
	const char *what = ctx->t.nsegs > 1 ? ctx->t.segs[1] : "";
	if ((status == 201 || status == 204) && strcmp(what, "queues") != 0 &&
	    strcmp(what, "exchanges") != 0 && strcmp(what, "bindings") != 0)
		broker_meta_changed();
}

void
mgmt_reply_error_json(struct mgmt_ctx *ctx, int status, const char *error, json_t *reason)
{
	mgmt_reply_json(ctx, status, json_pack("{s:s,s:o}", "error", error, "reason", reason));
	ctx->resp->no_cache = false;
}

void
mgmt_reply_error(struct mgmt_ctx *ctx, int status, const char *error, const char *reason)
{
	json_t *r = json_string(reason);
	if (r == NULL)
		r = json_string("(unprintable)");
	mgmt_reply_error_json(ctx, status, error, r);
}

void
mgmt_reply_not_found(struct mgmt_ctx *ctx)
{
	mgmt_reply_error(ctx, 404, "Object Not Found", "Not Found");
}

void
mgmt_reply_broker_err(struct mgmt_ctx *ctx, const struct broker_err *err)
{
	switch (err->code) {
	case 404:
		mgmt_reply_error(ctx, 404, "not_found", err->text);
		break;
	case 403:
		mgmt_reply_error(ctx, 401, "not_authorised", "Access refused.");
		break;
	default:
		mgmt_reply_error(ctx, 400, "bad_request", err->text);
		break;
	}
}

void
mgmt_reply_list(struct mgmt_ctx *ctx, json_t *arr, bool pageable)
{
	const char *sort = mgmt_target_param(&ctx->t, "sort");
	const char *rev = mgmt_target_param(&ctx->t, "sort_reverse");
	const char *page = mgmt_target_param(&ctx->t, "page");
	const char *columns = mgmt_target_param(&ctx->t, "columns");

	mgmt_sort(arr, sort, rev && strcmp(rev, "true") == 0);
	if (pageable && page) {
		const char *ureg = mgmt_target_param(&ctx->t, "use_regex");
		const char *error;
		char        reason[256];
		json_t     *out;
		if (mgmt_paginate(arr, page, mgmt_target_param(&ctx->t, "page_size"),
		                  mgmt_target_param(&ctx->t, "name"), ureg && strcmp(ureg, "true") == 0,
		                  &out, &error, reason, sizeof(reason)) != 0) {
			json_decref(arr);
			mgmt_reply_error(ctx, 400, error, reason);
			return;
		}
		json_decref(arr);
		if (columns && *columns)
			mgmt_columns_array(json_object_get(out, "items"), columns);
		mgmt_reply_json(ctx, 200, out);
		return;
	}
	if (columns && *columns)
		mgmt_columns_array(arr, columns);
	mgmt_reply_json(ctx, 200, arr);
}

void
mgmt_reply_object(struct mgmt_ctx *ctx, json_t *obj)
{
	const char *columns = mgmt_target_param(&ctx->t, "columns");

	if (columns && *columns) {
		json_t *o = mgmt_columns(obj, columns, true);
		json_decref(obj);
		obj = o;
	}
	mgmt_reply_json(ctx, 200, obj);
}

json_t *
mgmt_body(struct mgmt_ctx *ctx, bool for_definitions)
{
	json_error_t e;
	const char  *p = ctx->req->body.p ? ctx->req->body.p : "";
	size_t       n = ctx->req->body.len;

	if (ctx->body)
		return ctx->body;
	while (n && isspace((unsigned char)*p)) {
		p++;
		n--;
	}
	if (n == 0) {
		ctx->body = json_object();
		return ctx->body;
	}
	ctx->body = json_loadb(p, n, JSON_DECODE_ANY, &e);
	if (ctx->body == NULL || (!for_definitions && !json_is_object(ctx->body))) {
		json_decref(ctx->body);
		ctx->body = NULL;
		mgmt_reply_error(ctx, 400, "bad_request",
		                 for_definitions ? "failed_to_parse_json" : "not_json");
		return NULL;
	}
	return ctx->body;
}

bool
mgmt_require_keys(struct mgmt_ctx *ctx, json_t *body, const char *const *keys)
{
	char   reason[512] = "[";
	size_t n = 1;
	bool   missing = false;

	for (size_t i = 0; keys[i]; i++) {
		if (json_object_get(body, keys[i]))
			continue;
		n += (size_t)snprintf(reason + n, sizeof(reason) - n, "%s{key_missing,%s}",
		                      missing ? "," : "", keys[i]);
		if (n >= sizeof(reason))
			n = sizeof(reason) - 1;
		missing = true;
	}
	if (!missing)
		return true;
	snprintf(reason + n, sizeof(reason) - n, "]");
	mgmt_reply_error(ctx, 400, "bad_request", reason);
	return false;
}

/* Authorisation. */

bool
mgmt_is_admin(const struct mgmt_ctx *ctx)
{
	return ctx->tags & AUTH_TAG_ADMINISTRATOR;
}

bool
mgmt_is_monitor(const struct mgmt_ctx *ctx)
{
	return ctx->tags & (AUTH_TAG_ADMINISTRATOR | AUTH_TAG_MONITORING);
}

bool
mgmt_need_tag(struct mgmt_ctx *ctx, unsigned tags, const char *reason)
{
	if (ctx->tags & (tags | AUTH_TAG_ADMINISTRATOR))
		return true;
	mgmt_reply_error(ctx, 401, "not_authorised", reason);
	return false;
}

bool
mgmt_vhost_visible(const struct mgmt_ctx *ctx, const char *vhost)
{
	if (ctx->control)
		return true;
	return auth_vhost_access(vhost, ctx->user_name);
}

struct vhost *
mgmt_vhost_arg(struct mgmt_ctx *ctx, size_t seg)
{
	struct vhost *vh;

	if (seg >= ctx->t.nsegs || (vh = broker_vhost(amqp_cstr(ctx->t.segs[seg]))) == NULL) {
		mgmt_reply_not_found(ctx);
		return NULL;
	}
	if (!mgmt_vhost_visible(ctx, vh->name)) {
		mgmt_reply_error(ctx, 401, "not_authorised", "User not authorised to access virtual host");
		return NULL;
	}
	return vh;
}

bool
mgmt_check_perm(struct mgmt_ctx *ctx, const char *vhost, enum auth_access what, const char *name)
{
	if (ctx->control || auth_check(vhost, ctx->user_name, what, name))
		return true;
	mgmt_reply_error(ctx, 401, "not_authorised", "Access refused.");
	return false;
}

/* Common JSON pieces. */

const char *
mgmt_node_name(void)
{
	static char name[300];

	if (name[0] == '\0') {
		char host[256] = "localhost";
		gethostname(host, sizeof(host) - 1);
		host[strcspn(host, ".")] = '\0';
		snprintf(name, sizeof(name), "rabbit@%s", host);
	}
	return name;
}

json_t *
mgmt_rate(double r)
{
	return json_pack("{s:f}", "rate", r);
}

void
mgmt_set_stat(json_t *o, const char *key, uint64_t v, double rate)
{
	char k[128];

	json_object_set_new(o, key, json_integer((json_int_t)v));
	snprintf(k, sizeof(k), "%s_details", key);
	json_object_set_new(o, k, mgmt_rate(rate));
}

json_t *
mgmt_tags_json(const char *tags)
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

char *
mgmt_tags_string(json_t *v)
{
	struct mgmt_buf b = { 0 };
	size_t          i;
	json_t         *t;

	mgmt_buf_add(&b, "", 0);
	if (json_is_string(v)) {
		mgmt_buf_add(&b, json_string_value(v), json_string_length(v));
		return b.p;
	}
	json_array_foreach (v, i, t)
		if (json_is_string(t)) {
			if (b.len)
				mgmt_buf_add(&b, ",", 1);
			mgmt_buf_add(&b, json_string_value(t), json_string_length(t));
		}
	return b.p;
}

json_t *
mgmt_bytes_json(struct amqp_bytes b)
{
	json_t *j = json_stringn((const char *)b.ptr, b.len);
	if (j == NULL) {
		char *s = xstrndup(b.ptr, b.len);
		for (size_t i = 0; i < b.len; i++)
			if ((unsigned char)s[i] >= 0x80)
				s[i] = '?';
		j = json_stringn(s, b.len);
		free(s);
	}
	return j;
}

/* Overview and nodes. */

static json_t *
exchange_types(void)
{
	static const char *const names[] = { "direct", "fanout", "headers", "topic" };
	json_t                  *a = json_array();

	for (size_t i = 0; i < 4; i++) {
		char d[100];
		snprintf(d, sizeof(d), "AMQP %s exchange, as per the AMQP specification", names[i]);
		json_array_append_new(a, json_pack("{s:s,s:s,s:b}", "name", names[i], "description", d,
		                                   "enabled", 1));
	}
	return a;
}

static const char *
cluster_name(void)
{
	const struct policy_param *p = policy_param_get(NULL, NULL, "cluster_name");

	return p && json_is_string(p->value) ? json_string_value(p->value) : mgmt_node_name();
}

static void
message_stats_from_totals(json_t *ms, const struct mgmt_totals *t, bool overview)
{
	uint64_t deliver = t->v[MGMT_T_DELIVER];

	mgmt_set_stat(ms, "ack", t->v[MGMT_T_ACK], t->rate[MGMT_T_ACK]);
	mgmt_set_stat(ms, "confirm", 0, 0);
	mgmt_set_stat(ms, "deliver", deliver, t->rate[MGMT_T_DELIVER]);
	mgmt_set_stat(ms, "deliver_get", deliver + t->v[MGMT_T_GET] + t->v[MGMT_T_GET_NOACK],
	              t->rate[MGMT_T_DELIVER] + t->rate[MGMT_T_GET] + t->rate[MGMT_T_GET_NOACK]);
	mgmt_set_stat(ms, "deliver_no_ack", 0, 0);
	if (overview) {
		mgmt_set_stat(ms, "disk_reads", 0, 0);
		mgmt_set_stat(ms, "disk_writes", 0, 0);
	}
	mgmt_set_stat(ms, "drop_unroutable", t->v[MGMT_T_DROP_UNROUTABLE],
	              t->rate[MGMT_T_DROP_UNROUTABLE]);
	mgmt_set_stat(ms, "get", t->v[MGMT_T_GET], t->rate[MGMT_T_GET]);
	mgmt_set_stat(ms, "get_empty", t->v[MGMT_T_GET_EMPTY], t->rate[MGMT_T_GET_EMPTY]);
	mgmt_set_stat(ms, "get_no_ack", t->v[MGMT_T_GET_NOACK], t->rate[MGMT_T_GET_NOACK]);
	mgmt_set_stat(ms, "publish", t->v[MGMT_T_PUBLISH], t->rate[MGMT_T_PUBLISH]);
	mgmt_set_stat(ms, "redeliver", t->v[MGMT_T_REDELIVER], t->rate[MGMT_T_REDELIVER]);
	mgmt_set_stat(ms, "return_unroutable", t->v[MGMT_T_RETURN_UNROUTABLE],
	              t->rate[MGMT_T_RETURN_UNROUTABLE]);
}

/* Totals as this user may see them. */
json_t *mgmt_vhost_message_stats(const char *vhost);

json_t *
mgmt_vhost_message_stats(const char *vhost)
{
	struct mgmt_totals t;
	json_t            *ms = json_object();

	mgmt_stats_totals(vhost, &t);
	message_stats_from_totals(ms, &t, false);
	return ms;
}

static void
h_overview(struct mgmt_ctx *ctx)
{
	json_t            *o = json_object(), *ms = json_object(), *qt = json_object();
	json_t            *churn = json_object(), *ot = json_object();
	struct mgmt_totals t;
	size_t             i, nq = 0, nx = 0, nconsumers = 0;
	struct hmap_entry *e;

	mgmt_stats_totals(NULL, &t);
	json_object_set_new(o, "management_version", json_string(RABBIT_VERSION));
	json_object_set_new(o, "rates_mode", json_string("basic"));
	json_object_set_new(o, "sample_retention_policies",
	                    json_pack("{s:[iiii],s:[ii],s:[i]}", "global", 600, 3600, 28800, 86400,
	                              "basic", 600, 3600, "detailed", 600));
	json_object_set_new(o, "exchange_types", exchange_types());
	json_object_set_new(o, "product_version", json_string(RABBIT_VERSION));
	json_object_set_new(o, "product_name", json_string("RabbitMQ"));
	json_object_set_new(o, "rabbitmq_version", json_string(RABBIT_VERSION));
	json_object_set_new(o, "cluster_name", json_string(cluster_name()));
	json_object_set_new(o, "erlang_version", json_string("25.2.3"));
	json_object_set_new(o, "erlang_full_version",
	                    json_string("Erlang/OTP 25 [erts-13.1.5] [warren " PACKAGE_VERSION "]"));
	json_object_set_new(o, "release_series_support_status", json_string("supported"));
	json_object_set_new(o, "disable_stats", json_false());
	json_object_set_new(o, "enable_queue_totals", json_false());
	message_stats_from_totals(ms, &t, true);
	json_object_set_new(o, "message_stats", ms);
	mgmt_set_stat(churn, "channel_closed", t.v[MGMT_T_CHAN_CLOSED], t.rate[MGMT_T_CHAN_CLOSED]);
	mgmt_set_stat(churn, "channel_created", t.v[MGMT_T_CHAN_CREATED], t.rate[MGMT_T_CHAN_CREATED]);
	mgmt_set_stat(churn, "connection_closed", t.v[MGMT_T_CONN_CLOSED], t.rate[MGMT_T_CONN_CLOSED]);
	mgmt_set_stat(churn, "connection_created", t.v[MGMT_T_CONN_CREATED],
	              t.rate[MGMT_T_CONN_CREATED]);
	mgmt_set_stat(churn, "queue_created", t.v[MGMT_T_QUEUE_CREATED], t.rate[MGMT_T_QUEUE_CREATED]);
	mgmt_set_stat(churn, "queue_declared", t.v[MGMT_T_QUEUE_DECLARED],
	              t.rate[MGMT_T_QUEUE_DECLARED]);
	mgmt_set_stat(churn, "queue_deleted", t.v[MGMT_T_QUEUE_DELETED], t.rate[MGMT_T_QUEUE_DELETED]);
	json_object_set_new(o, "churn_rates", churn);
	/* the sampler's sums, as RabbitMQ's overview (up to a tick old): no walk
	 * over every queue in this request */
	uint64_t msgs = 0, ready = 0, unacked = 0;
	for (e = hmap_first(&broker.vhosts, &i); e; e = hmap_next(&broker.vhosts, &i, e)) {
		struct vhost      *vh = e->val;
		struct mgmt_totals vt;
		if (!mgmt_vhost_visible(ctx, vh->name) && !mgmt_is_monitor(ctx))
			continue;
		nq += vh->queues.count;
		nx += vh->exchanges.count;
		mgmt_stats_totals(vh->name, &vt);
		ready += vt.v[MGMT_T_READY];
		unacked += vt.v[MGMT_T_UNACKED];
		nconsumers += vt.v[MGMT_T_CONSUMERS];
	}
	msgs = ready + unacked;
	mgmt_set_stat(qt, "messages", msgs, t.rate[MGMT_T_MESSAGES]);
	mgmt_set_stat(qt, "messages_ready", ready, t.rate[MGMT_T_READY]);
	mgmt_set_stat(qt, "messages_unacknowledged", unacked, t.rate[MGMT_T_UNACKED]);
	json_object_set_new(o, "queue_totals", qt);
	json_object_set_new(ot, "channels", json_integer((json_int_t)inspect_chan_count()));
	json_object_set_new(ot, "connections", json_integer((json_int_t)inspect_conn_count()));
	json_object_set_new(ot, "consumers", json_integer((json_int_t)nconsumers));
	json_object_set_new(ot, "exchanges", json_integer((json_int_t)nx));
	json_object_set_new(ot, "queues", json_integer((json_int_t)nq));
	json_object_set_new(o, "object_totals", ot);
	json_object_set_new(o, "statistics_db_event_queue", json_integer(0));
	json_object_set_new(o, "node", json_string(mgmt_node_name()));
	json_t *listeners = json_array();
	json_array_append_new(listeners,
	                      json_pack("{s:s,s:s,s:s,s:i,s:{s:i,s:b,s:[bi],s:b}}", "node",
	                                mgmt_node_name(), "protocol", "amqp", "ip_address", "::",
	                                "port", (int)mgmt_amqp_port, "socket_opts", "backlog", 128,
	                                "nodelay", 1, "linger", 1, 0, "exit_on_close", 0));
	if (mgmt_amqps_port) {
		json_t *l = json_pack("{s:s,s:s,s:s,s:i,s:{s:i,s:b,s:[bi],s:b}}", "node",
		                      mgmt_node_name(), "protocol", "amqp/ssl", "ip_address", "::",
		                      "port", (int)mgmt_amqps_port, "socket_opts", "backlog", 128,
		                      "nodelay", 1, "linger", 1, 0, "exit_on_close", 0);
		tls_opts(json_object_get(l, "socket_opts"), mgmt_amqps_tls, true);
		json_array_append_new(listeners, l);
	}
	json_array_append_new(listeners,
	                      json_pack("{s:s,s:s,s:s,s:i,s:{s:{s:b},s:i}}", "node", mgmt_node_name(),
	                                "protocol", "http", "ip_address", "::", "port",
	                                (int)mgmt_http_port, "socket_opts", "cowboy_opts", "sendfile",
	                                0, "port", (int)mgmt_http_port));
	if (mgmt_https_port) {
		json_t *so = json_pack("{s:{s:b},s:i,s:b,s:{s:i}}", "cowboy_opts", "sendfile", 0, "port",
		                       (int)mgmt_https_port, "ssl", 1, "ssl_opts", "port",
		                       (int)mgmt_https_port);
		tls_opts(json_object_get(so, "ssl_opts"), mgmt_https_tls, false);
		json_array_append_new(listeners, json_pack("{s:s,s:s,s:s,s:i,s:o}", "node",
		                                           mgmt_node_name(), "protocol", "https",
		                                           "ip_address", "::", "port",
		                                           (int)mgmt_https_port, "socket_opts", so));
	}
	if (mgmt_prom_port)
		json_array_append_new(listeners,
		                      json_pack("{s:s,s:s,s:s,s:i,s:{s:{s:b},s:i,s:s}}", "node",
		                                mgmt_node_name(), "protocol", "http/prometheus",
		                                "ip_address", "::", "port", (int)mgmt_prom_port,
		                                "socket_opts", "cowboy_opts", "sendfile", 0, "port",
		                                (int)mgmt_prom_port, "protocol", "http/prometheus"));
	json_object_set_new(o, "listeners", listeners);
	char hp[16], pp[16];
	snprintf(hp, sizeof(hp), "%u", mgmt_http_port);
	snprintf(pp, sizeof(pp), "%u", mgmt_prom_port);
	json_t *contexts = json_array();
	json_array_append_new(contexts, json_pack("{s:[],s:s,s:s,s:s,s:s,s:s}", "ssl_opts", "node",
	                                          mgmt_node_name(), "description",
	                                          "RabbitMQ Management", "path", "/", "cowboy_opts",
	                                          "[{sendfile,false}]", "port", hp));
	if (mgmt_https_port) {
		char sp[16];
		snprintf(sp, sizeof(sp), "%u", mgmt_https_port);
		json_t *so = json_pack("{s:s}", "port", sp);
		tls_opts(so, mgmt_https_tls, false);
		json_array_append_new(contexts,
		                      json_pack("{s:o,s:s,s:s,s:s,s:s,s:s,s:s}", "ssl_opts", so, "node",
		                                mgmt_node_name(), "description", "RabbitMQ Management",
		                                "path", "/", "cowboy_opts", "[{sendfile,false}]", "port",
		                                sp, "ssl", "true"));
	}
	if (mgmt_prom_port)
		json_array_append_new(contexts,
		                      json_pack("{s:[],s:s,s:s,s:s,s:s,s:s,s:s}", "ssl_opts", "node",
		                                mgmt_node_name(), "description", "RabbitMQ Prometheus",
		                                "path", "/", "cowboy_opts", "[{sendfile,false}]", "port", pp,
		                                "protocol", "'http/prometheus'"));
	json_object_set_new(o, "contexts", contexts);
	/* the overview keeps whole top-level objects for dotted columns */
	const char *columns = mgmt_target_param(&ctx->t, "columns");
	if (columns && *columns) {
		json_t *c = mgmt_columns(o, columns, false);
		json_decref(o);
		o = c;
	}
	mgmt_reply_json(ctx, 200, o);
}

static uint64_t
rss_bytes(void)
{
	FILE         *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, rss = 0;

	if (f) {
		if (fscanf(f, "%lu %lu", &size, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

static unsigned
fds_used(void)
{
	DIR           *d = opendir("/proc/self/fd");
	struct dirent *de;
	unsigned       n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0;
}

uint64_t mgmt_mem_limit(void);
uint64_t mgmt_disk_free(void);
uint64_t mgmt_mem_used(void);
unsigned mgmt_fds_used(void);
uint64_t mgmt_fds_total(void);

uint64_t
mgmt_mem_used(void)
{
	return rss_bytes();
}

unsigned
mgmt_fds_used(void)
{
	return fds_used();
}

uint64_t
mgmt_fds_total(void)
{
	struct rlimit rl;
	return getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (uint64_t)rl.rlim_cur : 1024;
}

uint64_t
mgmt_mem_limit(void)
{
	struct inspect_alarms a;
	struct sysinfo        si;

	inspect_alarms(&a);
	if (a.mem_limit)
		return a.mem_limit; /* the watermark the broker enforces */
	if (sysinfo(&si) != 0)
		return 0;
	return (uint64_t)((double)si.totalram * si.mem_unit * 0.4);
}

uint64_t
mgmt_disk_free(void)
{
	struct statvfs sv;
	const char    *dir = broker.cfg && broker.cfg->data_dir ? broker.cfg->data_dir : ".";
	if (statvfs(dir, &sv) != 0)
		return 0;
	return (uint64_t)sv.f_bavail * sv.f_frsize;
}

static json_t *
node_json(void)
{
	json_t               *n = json_object();
	char                  pid[32];
	struct mgmt_totals    t;
	struct inspect_alarms alarms;

	mgmt_stats_totals(NULL, &t);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	json_object_set_new(n, "name", json_string(mgmt_node_name()));
	json_object_set_new(n, "type", json_string("disc"));
	json_object_set_new(n, "running", json_true());
	json_object_set_new(n, "os_pid", json_string(pid));
	inspect_alarms(&alarms);
	mgmt_set_stat(n, "mem_used", mgmt_mem_used(), 0);
	json_object_set_new(n, "mem_limit", json_integer((json_int_t)mgmt_mem_limit()));
	json_object_set_new(n, "mem_alarm", json_boolean(alarms.mem_alarm));
	json_object_set_new(n, "mem_calculation_strategy", json_string("rss"));
	mgmt_set_stat(n, "disk_free", mgmt_disk_free(), 0);
	json_object_set_new(n, "disk_free_limit", json_integer((json_int_t)alarms.disk_free_limit));
	json_object_set_new(n, "disk_free_alarm", json_boolean(alarms.disk_alarm));
	mgmt_set_stat(n, "fd_used", mgmt_fds_used(), 0);
	json_object_set_new(n, "fd_total", json_integer((json_int_t)mgmt_fds_total()));
	mgmt_set_stat(n, "sockets_used", inspect_conn_count(), 0);
	json_object_set_new(n, "sockets_total", json_integer((json_int_t)mgmt_fds_total()));
	mgmt_set_stat(n, "proc_used", 1, 0);
	json_object_set_new(n, "proc_total", json_integer(1048576));
	json_object_set_new(n, "run_queue", json_integer(0));
	json_object_set_new(n, "processors", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
	json_object_set_new(n, "uptime",
	                    json_integer((json_int_t)((uint64_t)time(NULL) - broker.started_at) * 1000));
	json_object_set_new(n, "partitions", json_array());
	json_object_set_new(n, "net_ticktime", json_integer(60));
	json_object_set_new(n, "rates_mode", json_string("basic"));
	json_object_set_new(n, "exchange_types", exchange_types());
	json_object_set_new(n, "enabled_plugins",
	                    json_pack("[ss]", "rabbitmq_management", "rabbitmq_prometheus"));
	json_object_set_new(n, "auth_mechanisms",
	                    json_pack("[{s:s,s:s,s:b}]", "name", "PLAIN", "description",
	                              "SASL PLAIN authentication mechanism", "enabled", 1));
	json_object_set_new(n, "applications", json_array());
	json_object_set_new(n, "contexts", json_array());
	json_object_set_new(n, "log_files", json_array());
	json_object_set_new(n, "config_files", json_array());
	json_object_set_new(n, "db_dir", json_string(broker.cfg && broker.cfg->data_dir ?
	                                              broker.cfg->data_dir : ""));
	json_object_set_new(n, "cluster_links", json_array());
	mgmt_set_stat(n, "connection_created", t.v[MGMT_T_CONN_CREATED], t.rate[MGMT_T_CONN_CREATED]);
	mgmt_set_stat(n, "connection_closed", t.v[MGMT_T_CONN_CLOSED], t.rate[MGMT_T_CONN_CLOSED]);
	mgmt_set_stat(n, "channel_created", t.v[MGMT_T_CHAN_CREATED], t.rate[MGMT_T_CHAN_CREATED]);
	mgmt_set_stat(n, "channel_closed", t.v[MGMT_T_CHAN_CLOSED], t.rate[MGMT_T_CHAN_CLOSED]);
	mgmt_set_stat(n, "queue_created", t.v[MGMT_T_QUEUE_CREATED], t.rate[MGMT_T_QUEUE_CREATED]);
	mgmt_set_stat(n, "queue_declared", t.v[MGMT_T_QUEUE_DECLARED], t.rate[MGMT_T_QUEUE_DECLARED]);
	mgmt_set_stat(n, "queue_deleted", t.v[MGMT_T_QUEUE_DELETED], t.rate[MGMT_T_QUEUE_DELETED]);
	static const char *const io[] = { "io_read_count", "io_read_bytes", "io_write_count",
		                           "io_write_bytes", "io_sync_count", "io_seek_count",
		                           "io_reopen_count", "mnesia_ram_tx_count",
		                           "mnesia_disk_tx_count", "msg_store_read_count",
		                           "msg_store_write_count", "queue_index_read_count",
		                           "queue_index_write_count", "gc_num", "gc_bytes_reclaimed",
		                           "context_switches" };
	for (size_t i = 0; i < sizeof(io) / sizeof(io[0]); i++)
		mgmt_set_stat(n, io[i], 0, 0);
	return n;
}

static void
h_nodes(struct mgmt_ctx *ctx)
{
	if (!mgmt_need_tag(ctx, AUTH_TAG_MONITORING, "Not monitor user"))
		return;
	if (ctx->t.nsegs == 3) {
		if (strcmp(ctx->t.segs[2], mgmt_node_name()) != 0) {
			mgmt_reply_not_found(ctx);
			return;
		}
		mgmt_reply_object(ctx, node_json());
		return;
	}
	json_t *a = json_array();
	json_array_append_new(a, node_json());
	mgmt_reply_list(ctx, a, false);
}

static void
h_cluster_name(struct mgmt_ctx *ctx)
{
	if (ctx->req->method == HTTP_PUT) {
		if (!mgmt_need_tag(ctx, 0, "Not administrator user"))
			return;
		json_t *b = mgmt_body(ctx, false);
		if (b == NULL)
			return;
		json_t *name = json_object_get(b, "name");
		if (!json_is_string(name)) {
			mgmt_reply_error(ctx, 400, "bad_request", "[{key_missing,name}]");
			return;
		}
		policy_param_set(NULL, NULL, "cluster_name", name);
		mgmt_reply_empty(ctx, 204);
		return;
	}
	mgmt_reply_json(ctx, 200, json_pack("{s:s}", "name", cluster_name()));
}

static void
h_extensions(struct mgmt_ctx *ctx)
{
	mgmt_reply_json(ctx, 200, json_pack("[{s:s}]", "javascript", "dispatcher.js"));
}

static void
h_feature_flags(struct mgmt_ctx *ctx)
{
	mgmt_reply_json(ctx, 200, json_array());
}

static void
h_auth(struct mgmt_ctx *ctx)
{
	mgmt_reply_json(ctx, 200, json_pack("{s:b,s:s,s:s}", "enable_uaa", 0, "uaa_client_id", "",
	                                    "uaa_location", ""));
}

/* Health checks. */

static void
ok_status(struct mgmt_ctx *ctx)
{
	mgmt_reply_json(ctx, 200, json_pack("{s:s}", "status", "ok"));
}

static void
h_aliveness(struct mgmt_ctx *ctx)
{
	struct vhost     *vh = mgmt_vhost_arg(ctx, 2);
	struct broker_err err;
	struct queue     *q;
	bool              routed = false;
	static const char name[] = "aliveness-test";

	if (vh == NULL)
		return;
	if (!auth_check(vh->name, ctx->user_name, AUTH_CONFIGURE, name) ||
	    !auth_check(vh->name, ctx->user_name, AUTH_WRITE, name) ||
	    !auth_check(vh->name, ctx->user_name, AUTH_READ, name)) {
		mgmt_reply_error(ctx, 401, "not_authorised", "ACCESS_REFUSED - access refused");
		return;
	}
	static const uint8_t no_props[2] = { 0, 0 };
	if (queue_declare(vh, amqp_cstr(name), false, false, false, false, (struct amqp_bytes){ 0, NULL },
	                  NULL, &q, &err) != 0 ||
	    broker_publish(vh, amqp_cstr(""), amqp_cstr(name), (struct amqp_bytes){ 2, no_props },
	                   "test_message", 12, &routed, &err) != 0 ||
	    !routed) {
		mgmt_reply_json(ctx, 503, json_pack("{s:s,s:s}", "status", "failed", "reason",
		                                    "aliveness test failed"));
		return;
	}
	q = queue_find(vh, amqp_cstr(name));
	struct qentry e;
	if (q && queue_pop(q, &e))
		queue_discard(q, &e, NULL);
	ok_status(ctx);
}

static void
h_health(struct mgmt_ctx *ctx)
{
	const char *what = ctx->t.nsegs > 3 ? ctx->t.segs[3] : "";

	if (strcmp(what, "port-listener") == 0 && ctx->t.nsegs == 5) {
		long p = strtol(ctx->t.segs[4], NULL, 10);
		if (p > 0 && (p == mgmt_amqp_port || p == mgmt_http_port ||
		              (mgmt_prom_port && p == mgmt_prom_port))) {
			mgmt_reply_json(ctx, 200, json_pack("{s:s,s:i}", "status", "ok", "port", (int)p));
			return;
		}
		json_t *ports = json_array();
		json_array_append_new(ports, json_integer(mgmt_http_port));
		json_array_append_new(ports, json_integer(mgmt_amqp_port));
		if (mgmt_prom_port)
			json_array_append_new(ports, json_integer(mgmt_prom_port));
		mgmt_reply_json(ctx, 503, json_pack("{s:s,s:s,s:i,s:o}", "status", "failed", "reason",
		                                    "No active listener", "missing", (int)p, "ports", ports));
		return;
	}
	if (strcmp(what, "protocol-listener") == 0 && ctx->t.nsegs == 5) {
		const char *p = ctx->t.segs[4];
		const char *norm = strcmp(p, "amqp091") == 0 || strcmp(p, "amqp0-9-1") == 0 ||
		                   strcmp(p, "amqp") == 0 || strcmp(p, "amqp0.9.1") == 0 ? "amqp" :
		                   strcmp(p, "http") == 0 || strcmp(p, "management") == 0 ? "http" :
		                   strcmp(p, "prometheus") == 0 || strcmp(p, "http/prometheus") == 0 ?
		                   (mgmt_prom_port ? "http/prometheus" : NULL) : NULL;
		if (norm) {
			mgmt_reply_json(ctx, 200, json_pack("{s:s,s:s}", "status", "ok", "protocol", norm));
			return;
		}
		mgmt_reply_json(ctx, 503, json_pack("{s:s,s:s,s:s,s:[ss]}", "status", "failed", "reason",
		                                    "No active listener", "missing", p, "protocols",
		                                    "http", "amqp"));
		return;
	}
	if (ctx->t.nsegs == 4 && (strcmp(what, "alarms") == 0 || strcmp(what, "local-alarms") == 0)) {
		struct inspect_alarms a;
		inspect_alarms(&a);
		bool mem = a.mem_alarm, disk = a.disk_alarm;
		if (!mem && !disk) {
			ok_status(ctx);
			return;
		}
		/* RabbitMQ's answer while alarms are in effect: 503, and which */
		json_t *alarms = json_array();
		if (mem)
			json_array_append_new(alarms, json_pack("{s:s,s:s}", "node", mgmt_node_name(),
			                                        "resource", "memory"));
		if (disk)
			json_array_append_new(alarms, json_pack("{s:s,s:s}", "node", mgmt_node_name(),
			                                        "resource", "disk space"));
		mgmt_reply_json(ctx, 503,
		                json_pack("{s:s,s:s,s:o}", "status", "failed", "reason",
		                          what[0] == 'a' ? "There are alarms in effect in the cluster" :
		                                           "There are alarms in effect on the node",
		                          "alarms", alarms));
		return;
	}
	if (ctx->t.nsegs == 4 && strcmp(what, "virtual-hosts") == 0) {
		ok_status(ctx);
		return;
	}
	if (ctx->t.nsegs == 4 && (strcmp(what, "node-is-quorum-critical") == 0 ||
	                          strcmp(what, "node-is-mirror-sync-critical") == 0)) {
		mgmt_reply_json(ctx, 200, json_pack("{s:s,s:s}", "status", "ok", "reason",
		                                    "single node cluster"));
		return;
	}
	if (ctx->t.nsegs == 6 && strcmp(what, "certificate-expiration") == 0) {
		ok_status(ctx);
		return;
	}
	mgmt_reply_not_found(ctx);
}

static void
h_healthchecks_node(struct mgmt_ctx *ctx)
{
	ok_status(ctx);
}

/* Definitions. */

/* The "file" part of a multipart/form-data body, or NULL. */
static char *
multipart_file(const char *ctype, const char *body, size_t n, size_t *outlen)
{
	const char *b = strstr(ctype, "boundary=");
	char        delim[256];

	if (b == NULL)
		return NULL;
	b += 9;
	size_t bl = strcspn(b, ";");
	if (*b == '"') {
		b++;
		bl = strcspn(b, "\"");
	}
	snprintf(delim, sizeof(delim), "--%.*s", (int)bl, b);
	size_t      dl = strlen(delim);
	const char *end = body + n;
	const char *p = memmem(body, n, delim, dl);
	while (p) {
		p += dl;
		const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
		if (hend == NULL)
			return NULL;
		const char *next = memmem(hend + 4, (size_t)(end - hend - 4), delim, dl);
		if (next == NULL)
			return NULL;
		if (memmem(p, (size_t)(hend - p), "name=\"file\"", 11)) {
			const char *cs = hend + 4;
			const char *ce = next;
			if (ce - cs >= 2 && ce[-2] == '\r' && ce[-1] == '\n')
				ce -= 2;
			*outlen = (size_t)(ce - cs);
			return xstrndup(cs, *outlen);
		}
		p = next;
	}
	return NULL;
}

static void
h_definitions(struct mgmt_ctx *ctx)
{
	const char *vhost = ctx->t.nsegs == 3 ? ctx->t.segs[2] : NULL;

	if (!mgmt_need_tag(ctx, 0, "Not administrator user"))
		return;
	if (ctx->req->method == HTTP_POST) {
		json_t         *defs;
		struct def_err  err;
		json_error_t    je;
		const char     *ct = ctx->req->content_type.p ? ctx->req->content_type.p : "";
		if (vhost && broker_vhost(amqp_cstr(vhost)) == NULL) {
			mgmt_reply_not_found(ctx);
			return;
		}
		if (strncasecmp(ct, "multipart/form-data", 19) == 0) {
			size_t n;
			char  *file = multipart_file(ct, ctx->req->body.p, ctx->req->body.len, &n);
			defs = file ? json_loadb(file, n, 0, &je) : NULL;
			free(file);
			if (defs == NULL) {
				mgmt_reply_error(ctx, 400, "bad_request", "failed_to_parse_json");
				return;
			}
		} else {
			if (mgmt_body(ctx, true) == NULL)
				return;
			defs = json_incref(ctx->body);
		}
		if (def_import(defs, vhost, &err) != 0) {
			json_decref(defs);
			mgmt_reply_error_json(ctx, err.status, "bad_request", err.reason);
			return;
		}
		json_decref(defs);
		mgmt_reply_empty(ctx, 204);
		return;
	}
	json_t *d = def_export(vhost);
	if (d == NULL) {
		mgmt_reply_error(ctx, 400, "bad_request", "vhost_not_found");
		return;
	}
	const char *download = mgmt_target_param(&ctx->t, "download");
	if (download && *download) {
		mgmt_buf_printf(&ctx->resp->headers, "content-disposition: attachment; filename=\"%s\"\r\n",
		                download);
	}
	mgmt_reply_json(ctx, 200, d);
}

/* Routing. */

enum { M_GET = 1, M_PUT = 2, M_DELETE = 4, M_POST = 8 };

struct route {
	const char   *pattern; /* segments after "api", '*' matches one */
	unsigned      methods;
	mgmt_route_fn fn;
};

static const struct route routes[] = {
	{ "overview", M_GET, h_overview },
	{ "cluster-name", M_GET | M_PUT, h_cluster_name },
	{ "nodes", M_GET, h_nodes },
	{ "nodes/*", M_GET, h_nodes },
	{ "extensions", M_GET, h_extensions },
	{ "feature-flags", M_GET, h_feature_flags },
	{ "auth", M_GET, h_auth },
	{ "definitions", M_GET | M_POST, h_definitions },
	{ "definitions/*", M_GET | M_POST, h_definitions },
	{ "all-configuration", M_GET | M_POST, h_definitions },
	{ "connections", M_GET, mgmt_h_connections },
	{ "connections/*", M_GET | M_DELETE, mgmt_h_connection },
	{ "connections/*/channels", M_GET, mgmt_h_connection_channels },
	{ "channels", M_GET, mgmt_h_channels },
	{ "channels/*", M_GET, mgmt_h_channel },
	{ "consumers", M_GET, mgmt_h_consumers },
	{ "consumers/*", M_GET, mgmt_h_consumers },
	{ "exchanges", M_GET, mgmt_h_exchanges },
	{ "exchanges/*", M_GET, mgmt_h_exchanges },
	{ "exchanges/*/*", M_GET | M_PUT | M_DELETE, mgmt_h_exchange },
	{ "exchanges/*/*/publish", M_POST, mgmt_h_exchange_publish },
	{ "exchanges/*/*/bindings/source", M_GET, mgmt_h_exchange_bindings },
	{ "exchanges/*/*/bindings/destination", M_GET, mgmt_h_exchange_bindings },
	{ "queues", M_GET, mgmt_h_queues },
	{ "queues/*", M_GET, mgmt_h_queues },
	{ "queues/*/*", M_GET | M_PUT | M_DELETE, mgmt_h_queue },
	{ "queues/*/*/contents", M_DELETE, mgmt_h_queue_contents },
	{ "queues/*/*/get", M_POST, mgmt_h_queue_get },
	{ "queues/*/*/bindings", M_GET, mgmt_h_queue_bindings },
	{ "queues/*/*/messages", M_GET, mgmt_h_queue_messages },
	{ "queues/*/*/actions", M_POST, mgmt_h_queue_actions },
	{ "bindings", M_GET, mgmt_h_bindings },
	{ "bindings/*", M_GET, mgmt_h_bindings },
	{ "bindings/*/e/*/q/*", M_GET | M_POST, mgmt_h_binding_pair },
	{ "bindings/*/e/*/e/*", M_GET | M_POST, mgmt_h_binding_pair },
	{ "bindings/*/e/*/q/*/*", M_GET | M_DELETE, mgmt_h_binding },
	{ "bindings/*/e/*/e/*/*", M_GET | M_DELETE, mgmt_h_binding },
	{ "vhosts", M_GET, mgmt_h_vhosts },
	{ "vhosts/*", M_GET | M_PUT | M_DELETE, mgmt_h_vhost },
	{ "vhosts/*/permissions", M_GET, mgmt_h_vhost_permissions },
	{ "vhosts/*/topic-permissions", M_GET, mgmt_h_vhost_topic_permissions },
	{ "vhosts/*/connections", M_GET, mgmt_h_connections },
	{ "vhosts/*/channels", M_GET, mgmt_h_channels },
	{ "users", M_GET, mgmt_h_users },
	{ "users/without-permissions", M_GET, mgmt_h_users_without_permissions },
	{ "users/bulk-delete", M_POST, mgmt_h_users_bulk_delete },
	{ "users/*", M_GET | M_PUT | M_DELETE, mgmt_h_user },
	{ "users/*/permissions", M_GET, mgmt_h_user_permissions },
	{ "users/*/topic-permissions", M_GET, mgmt_h_user_topic_permissions },
	{ "user-limits", M_GET, mgmt_h_user_limits },
	{ "user-limits/*", M_GET, mgmt_h_user_limits },
	{ "whoami", M_GET, mgmt_h_whoami },
	{ "permissions", M_GET, mgmt_h_permissions },
	{ "permissions/*/*", M_GET | M_PUT | M_DELETE, mgmt_h_permission },
	{ "topic-permissions", M_GET, mgmt_h_topic_permissions },
	{ "topic-permissions/*/*", M_GET | M_PUT | M_DELETE, mgmt_h_topic_permission },
	{ "policies", M_GET, mgmt_h_policies },
	{ "policies/*", M_GET, mgmt_h_policies },
	{ "policies/*/*", M_GET | M_PUT | M_DELETE, mgmt_h_policy },
	{ "operator-policies", M_GET, mgmt_h_operator_policies },
	{ "operator-policies/*", M_GET, mgmt_h_operator_policies },
	{ "operator-policies/*/*", M_GET | M_PUT | M_DELETE, mgmt_h_operator_policy },
	{ "parameters", M_GET, mgmt_h_parameters },
	{ "parameters/*", M_GET, mgmt_h_parameters },
	{ "parameters/*/*", M_GET, mgmt_h_parameters },
	{ "parameters/*/*/*", M_GET | M_PUT | M_DELETE, mgmt_h_parameter },
	{ "global-parameters", M_GET, mgmt_h_global_parameters },
	{ "global-parameters/*", M_GET | M_PUT | M_DELETE, mgmt_h_global_parameter },
	{ "vhost-limits", M_GET, mgmt_h_vhost_limits },
	{ "vhost-limits/*", M_GET, mgmt_h_vhost_limits },
	{ "vhost-limits/*/*", M_PUT | M_DELETE, mgmt_h_vhost_limit },
	{ "aliveness-test/*", M_GET, h_aliveness },
	{ "health/checks/*", M_GET, h_health },
	{ "health/checks/*/*", M_GET, h_health },
	{ "health/checks/*/*/*", M_GET, h_health },
	{ "healthchecks/node", M_GET, h_healthchecks_node },
	{ "healthchecks/node/*", M_GET, h_healthchecks_node },
	{ "ctl/status", M_GET, mgmt_h_ctl_status }, /* control socket only */
	{ "ctl/stop", M_POST, mgmt_h_ctl_stop },    /* control socket only */
};

static bool
route_matches(const char *pattern, const struct mgmt_target *t)
{
	size_t      i = 1;
	const char *p = pattern;

	while (*p) {
		size_t n = strcspn(p, "/");
		if (i >= t->nsegs)
			return false;
		if (!(n == 1 && *p == '*') && (strlen(t->segs[i]) != n || strncmp(t->segs[i], p, n) != 0))
			return false;
		i++;
		p += n;
		if (*p == '/')
			p++;
	}
	return i == t->nsegs;
}

static unsigned
method_bit(int m)
{
	switch (m) {
	case HTTP_GET:
	case HTTP_HEAD:
		return M_GET;
	case HTTP_PUT:
		return M_PUT;
	case HTTP_DELETE:
		return M_DELETE;
	case HTTP_POST:
		return M_POST;
	default:
		return 0;
	}
}

static void
set_allow(struct mgmt_resp *resp, unsigned methods)
{
	static const char *const names[] = { "GET", "HEAD", "PUT", "DELETE", "POST" };
	static const unsigned    bits[] = { M_GET, M_GET, M_PUT, M_DELETE, M_POST };
	char                     allow[128] = "";

	for (size_t i = 0; i < 5; i++)
		if (methods & bits[i]) {
			strcat(allow, names[i]);
			strcat(allow, ", ");
		}
	strcat(allow, "OPTIONS");
	mgmt_buf_printf(&resp->headers, "allow: %s\r\n", allow);
}

static bool
accept_json(const char *accept)
{
	if (accept == NULL || *accept == '\0')
		return true;
	return strstr(accept, "json") || strstr(accept, "*/*") || strstr(accept, "application/*") ||
	       strstr(accept, "application/bert");
}

/* Basic auth: 0 ok, -1 no credentials, -2 wrong ones. */
static int
authenticate(struct mgmt_ctx *ctx)
{
	const char *h = ctx->req->authorization.p ? ctx->req->authorization.p : "";
	uint8_t    *dec;
	size_t      n;

	while (*h == ' ')
		h++;
	if (*h == '\0')
		return -1;
	if (strncasecmp(h, "Basic ", 6) != 0)
		return -2;
	h += 6;
	while (*h == ' ')
		h++;
	if (mgmt_base64_decode(h, strlen(h), &dec, &n) != 0)
		return -2;
	uint8_t *colon = memchr(dec, ':', n);
	if (colon == NULL) {
		free(dec);
		return -2;
	}
	struct amqp_bytes user = { (size_t)(colon - dec), dec };
	struct amqp_bytes pass = { n - user.len - 1, colon + 1 };
	struct user      *u = broker_user(user);
	int               rc = -2;
	if (u && pass.len > 0 && broker_check_password(u, pass)) {
		ctx->user = u;
		snprintf(ctx->user_name, sizeof(ctx->user_name), "%s", u->name);
		ctx->tags = u->tagmask;
		rc = 0;
	}
	free(dec);
	return rc;
}

void
mgmt_api_handle(const struct mgmt_req *req, struct mgmt_resp *resp)
{
	struct mgmt_ctx ctx;
	const struct route *r = NULL;
	unsigned allowed = 0;

	if (mgmt_www_handle(req, resp))
		return; /* the console's files: no login, as RabbitMQ's */
	memset(&ctx, 0, sizeof(ctx));
	ctx.req = req;
	ctx.resp = resp;
	if (mgmt_target_parse(req->url.p ? req->url.p : "/", &ctx.t) != 0 || ctx.t.nsegs == 0 ||
	    strcmp(ctx.t.segs[0], "api") != 0) {
		mgmt_reply_not_found(&ctx);
		mgmt_target_free(&ctx.t);
		return;
	}
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if ((req->control || strncmp(routes[i].pattern, "ctl/", 4) != 0) &&
		    route_matches(routes[i].pattern, &ctx.t)) {
			if (r == NULL)
				r = &routes[i];
			allowed |= routes[i].methods;
			if (routes[i].methods & method_bit(req->method)) {
				r = &routes[i];
				break;
			}
		}
	if (r == NULL) {
		mgmt_reply_not_found(&ctx);
		goto out;
	}
	if (req->method == HTTP_OPTIONS) {
		set_allow(resp, allowed);
		mgmt_reply_empty(&ctx, 200);
		goto out;
	}
	if (!(r->methods & method_bit(req->method))) {
		set_allow(resp, allowed);
		mgmt_reply_empty(&ctx, 405);
		goto out;
	}
	if (!accept_json(req->accept.p)) {
		mgmt_reply_empty(&ctx, 406);
		goto out;
	}
	if (req->control) {
		/* the broker's own user or root (checked at accept): an administrator */
		ctx.control = true;
		ctx.tags = AUTH_TAG_ADMINISTRATOR | AUTH_TAG_MONITORING | AUTH_TAG_POLICYMAKER |
		           AUTH_TAG_MANAGEMENT;
		r->fn(&ctx);
		if (!ctx.handled)
			mgmt_reply_empty(&ctx, 500);
		goto out;
	}
	int a = authenticate(&ctx);
	if (a != 0) {
		mgmt_buf_printf(&resp->headers, "www-authenticate: Basic realm=\"RabbitMQ Management\"\r\n");
		if (a == -1)
			mgmt_reply_empty(&ctx, 401);
		else
			mgmt_reply_error(&ctx, 401, "not_authorized", "Login failed");
		goto out;
	}
	if (!(ctx.tags & (AUTH_TAG_ADMINISTRATOR | AUTH_TAG_MONITORING | AUTH_TAG_POLICYMAKER |
	                  AUTH_TAG_MANAGEMENT))) {
		mgmt_reply_error(&ctx, 401, "not_authorised", "Not management user");
		goto out;
	}
	r->fn(&ctx);
	if (!ctx.handled)
		mgmt_reply_empty(&ctx, 500);
out:
	json_decref(ctx.body);
	mgmt_target_free(&ctx.t);
}
