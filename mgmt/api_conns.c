/*
 * Connections, channels and consumers over HTTP, from the engine's
 * snapshots (server/inspect.h).  management users see their own,
 * monitoring and administrator users see all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mgmt/api.h"
#include "mgmt/stats.h"
#include "server/def.h"
#include "server/inspect.h"


/* t (seconds since the epoch) as RabbitMQ writes times: 2026-11-22T06:44:23.176+00:00 */
static void
iso_time(double t, char *out, size_t cap)
{
	time_t    secs = (time_t)t;
	struct tm tm;
	size_t    n;

	gmtime_r(&secs, &tm);
	n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, cap - n, ".%03d+00:00", (int)((t - (double)secs) * 1000.0) % 1000);
}

static bool
method_is(const struct mgmt_ctx *ctx, int m)
{
	return ctx->req->method == m || (m == HTTP_GET && ctx->req->method == HTTP_HEAD);
}

static bool
sees(const struct mgmt_ctx *ctx, const char *user)
{
	return mgmt_is_monitor(ctx) || strcmp(user, ctx->user_name) == 0;
}

static json_t *
conn_json(const struct inspect_conn *c, bool single)
{
	json_t *o = json_object();
	json_t *cp = def_table_to_json((struct amqp_bytes){ c->client_props_len, c->client_props });
	json_t *ssl_null = single ? json_string("") : json_null();

	json_object_set_new(o, "name", json_string(c->name));
	json_object_set_new(o, "node", json_string(mgmt_node_name()));
	json_object_set_new(o, "vhost", json_string(c->vhost));
	json_object_set_new(o, "user", json_string(c->user));
	json_object_set_new(o, "user_who_performed_action", json_string(c->user));
	/* RabbitMQ's states for a publisher held back: "blocked" (an alarm), "flow" */
	json_object_set_new(o, "state", json_string(c->blocked_reason && c->open ?
	                                            (strcmp(c->blocked_reason, "flow") == 0 ? "flow" :
	                                                                                      "blocked") :
	                                            c->state));
	json_object_set_new(o, "type", json_string("network"));
	json_object_set_new(o, "protocol", json_string("AMQP 0-9-1"));
	json_object_set_new(o, "auth_mechanism",
	                    json_string(c->auth_mechanism[0] ? c->auth_mechanism : "PLAIN"));
	json_object_set_new(o, "host", json_string(c->host));
	json_object_set_new(o, "port", json_integer(c->port));
	json_object_set_new(o, "peer_host", json_string(c->peer_host));
	json_object_set_new(o, "peer_port", json_integer(c->peer_port));
	json_object_set_new(o, "channels", json_integer(c->channels));
	json_object_set_new(o, "channel_max", json_integer(c->channel_max));
	json_object_set_new(o, "frame_max", json_integer(c->frame_max));
	json_object_set_new(o, "timeout", json_integer(c->heartbeat));
	json_object_set_new(o, "connected_at", json_integer((json_int_t)(c->connected_at * 1000)));
	json_t *cn = json_object_get(cp, "connection_name");
	if (json_is_string(cn))
		json_object_set(o, "user_provided_name", cn);
	json_object_set_new(o, "client_properties", cp);
	mgmt_set_stat(o, "recv_oct", c->recv_oct, mgmt_stats_conn_rate(c->id, MGMT_C_RECV_OCT));
	mgmt_set_stat(o, "send_oct", c->send_oct, mgmt_stats_conn_rate(c->id, MGMT_C_SEND_OCT));
	json_object_set_new(o, "recv_cnt", json_integer((json_int_t)c->recv_cnt));
	json_object_set_new(o, "send_cnt", json_integer((json_int_t)c->send_cnt));
	json_object_set_new(o, "send_pend", json_integer((json_int_t)c->send_pend));
	json_object_set_new(o, "ssl", json_boolean(c->ssl));
	if (c->ssl) {
		const struct transport_tls_info *t = &c->tls;
		json_object_set_new(o, "ssl_protocol", json_string(t->protocol));
		json_object_set_new(o, "ssl_key_exchange", json_string(t->key_exchange));
		json_object_set_new(o, "ssl_cipher", json_string(t->cipher));
		json_object_set_new(o, "ssl_hash", json_string(t->hash));
		/* RabbitMQ: null (listings) or "" (one connection) without a peer certificate */
		const char *cert[3] = { t->peer_subject, t->peer_issuer, t->peer_validity };
		const char *key[3] = { "peer_cert_subject", "peer_cert_issuer", "peer_cert_validity" };
		for (int i = 0; i < 3; i++)
			json_object_set_new(o, key[i], cert[i][0] ? json_string(cert[i]) : json_incref(ssl_null));
	} else {
		json_object_set_new(o, "ssl_protocol", json_incref(ssl_null));
		json_object_set_new(o, "ssl_key_exchange", json_incref(ssl_null));
		json_object_set_new(o, "ssl_cipher", json_incref(ssl_null));
		json_object_set_new(o, "ssl_hash", json_incref(ssl_null));
		json_object_set_new(o, "peer_cert_subject", json_incref(ssl_null));
		json_object_set_new(o, "peer_cert_issuer", json_incref(ssl_null));
		json_object_set_new(o, "peer_cert_validity", json_incref(ssl_null));
	}
	json_decref(ssl_null);
	/* beyond RabbitMQ: why the connection is blocked, and since when */
	if (c->blocked_reason) {
		char ts[40];
		iso_time(c->blocked_since, ts, sizeof(ts));
		json_object_set_new(o, "blocked_reason", json_string(c->blocked_reason));
		json_object_set_new(o, "blocked_since", json_string(ts));
	} else {
		json_object_set_new(o, "blocked_reason", json_null());
		json_object_set_new(o, "blocked_since", json_null());
	}
	return o;
}

void
mgmt_h_connections(struct mgmt_ctx *ctx)
{
	const char          *vhost = NULL;
	struct inspect_conn *v;
	size_t               n;
	json_t              *a = json_array();

	if (ctx->t.nsegs == 4) { /* /api/vhosts/{v}/connections */
		struct vhost *vh = broker_vhost(amqp_cstr(ctx->t.segs[2]));
		if (vh == NULL) {
			json_decref(a);
			mgmt_reply_not_found(ctx);
			return;
		}
		vhost = vh->name;
	}
	n = inspect_conns(&v);
	for (size_t i = 0; i < n; i++) {
		if (!sees(ctx, v[i].user) || (vhost && strcmp(v[i].vhost, vhost) != 0))
			continue;
		json_t *o = conn_json(&v[i], false);
		mgmt_ctl_add_pid(ctx, o, "pid", v[i].id, 0);
		json_array_append_new(a, o);
	}
	inspect_conns_free(v, n);
	mgmt_reply_list(ctx, a, true);
}

/* The connection named in segment 2, or NULL after replying 404. */
static const struct inspect_conn *
find_conn(struct mgmt_ctx *ctx, struct inspect_conn *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, ctx->t.segs[2]) == 0 && sees(ctx, v[i].user))
			return &v[i];
	mgmt_reply_not_found(ctx);
	return NULL;
}

void
mgmt_h_connection(struct mgmt_ctx *ctx)
{
	struct inspect_conn       *v;
	size_t                     n = inspect_conns(&v);
	const struct inspect_conn *c = find_conn(ctx, v, n);

	if (c == NULL) {
		inspect_conns_free(v, n);
		return;
	}
	if (method_is(ctx, HTTP_GET)) {
		mgmt_reply_object(ctx, conn_json(c, true));
		inspect_conns_free(v, n);
		return;
	}
	const char *reason = ctx->req->x_reason.p && *ctx->req->x_reason.p ?
	                     ctx->req->x_reason.p : "Closed via management plugin";
	inspect_conn_close(c->id, reason);
	inspect_conns_free(v, n);
	mgmt_reply_empty(ctx, 204);
}

static json_t *
chan_json(const struct inspect_chan *c, bool single)
{
	json_t *o = json_object();
	char    name[200];

	snprintf(name, sizeof(name), "%s (%u)", c->conn_name, c->number);
	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "number", json_integer(c->number));
	json_object_set_new(o, "node", json_string(mgmt_node_name()));
	json_object_set_new(o, "vhost", json_string(c->vhost));
	json_object_set_new(o, "user", json_string(c->user));
	json_object_set_new(o, "user_who_performed_action", json_string(c->user));
	json_object_set_new(o, "connection_details",
	                    json_pack("{s:s,s:s,s:i}", "name", c->conn_name, "peer_host", c->peer_host,
	                              "peer_port", (int)c->peer_port));
	json_object_set_new(o, "state", json_string(c->state));
	json_object_set_new(o, "confirm", json_boolean(c->confirm));
	json_object_set_new(o, "transactional", json_boolean(c->transactional));
	json_object_set_new(o, "consumer_count", json_integer(c->consumer_count));
	json_object_set_new(o, "prefetch_count", json_integer(c->prefetch_count));
	json_object_set_new(o, "global_prefetch_count", json_integer(c->global_prefetch_count));
	json_object_set_new(o, "messages_unacknowledged",
	                    json_integer((json_int_t)c->messages_unacknowledged));
	json_object_set_new(o, "messages_unconfirmed", json_integer((json_int_t)c->messages_unconfirmed));
	json_object_set_new(o, "messages_uncommitted", json_integer((json_int_t)c->messages_uncommitted));
	json_object_set_new(o, "acks_uncommitted", json_integer(0));
	json_object_set_new(o, "pending_raft_commands", json_integer(0));
	if (c->stat_publish || c->stat_deliver || c->stat_ack) {
		json_t *ms = json_object();
		if (c->stat_publish) {
			mgmt_set_stat(ms, "publish", c->stat_publish,
			              mgmt_stats_chan_rate(c->conn_id, c->number, MGMT_CH_PUBLISH));
			mgmt_set_stat(ms, "confirm", 0, 0);
			mgmt_set_stat(ms, "drop_unroutable", c->stat_drop,
			              mgmt_stats_chan_rate(c->conn_id, c->number, MGMT_CH_DROP));
			mgmt_set_stat(ms, "return_unroutable", c->stat_return,
			              mgmt_stats_chan_rate(c->conn_id, c->number, MGMT_CH_RETURN));
		}
		if (c->stat_deliver || c->stat_ack) {
			double dr = mgmt_stats_chan_rate(c->conn_id, c->number, MGMT_CH_DELIVER);
			mgmt_set_stat(ms, "ack", c->stat_ack,
			              mgmt_stats_chan_rate(c->conn_id, c->number, MGMT_CH_ACK));
			mgmt_set_stat(ms, "deliver", c->stat_deliver, dr);
			mgmt_set_stat(ms, "deliver_get", c->stat_deliver, dr);
			mgmt_set_stat(ms, "deliver_no_ack", 0, 0);
			mgmt_set_stat(ms, "get", 0, 0);
			mgmt_set_stat(ms, "get_empty", 0, 0);
			mgmt_set_stat(ms, "get_no_ack", 0, 0);
			mgmt_set_stat(ms, "redeliver", 0, 0);
		}
		json_object_set_new(o, "message_stats", ms);
	}
	if (single) {
		json_t                  *cd = json_array();
		struct inspect_consumer *v;
		size_t                   n = inspect_consumers(&v);
		for (size_t i = 0; i < n; i++) {
			if (v[i].conn_id != c->conn_id || v[i].chan_number != c->number)
				continue;
			json_array_append_new(
				cd, json_pack("{s:s,s:{s:s,s:s},s:b,s:b,s:i,s:o}", "consumer_tag", v[i].tag,
				              "queue", "name", v[i].queue, "vhost", v[i].vhost, "ack_required",
				              v[i].ack_required, "exclusive", v[i].exclusive, "prefetch_count",
				              (int)v[i].prefetch_count, "arguments",
				              def_table_to_json((struct amqp_bytes){ v[i].args_len, v[i].args })));
		}
		inspect_consumers_free(v, n);
		json_object_set_new(o, "consumer_details", cd);
		json_object_set_new(o, "publishes", json_array());
		json_object_set_new(o, "deliveries", json_array());
	}
	return o;
}

static void
list_chans(struct mgmt_ctx *ctx, const char *vhost, const char *conn_name)
{
	struct inspect_chan *v;
	size_t               n = inspect_chans(&v);
	json_t              *a = json_array();

	for (size_t i = 0; i < n; i++) {
		if (!sees(ctx, v[i].user) || (vhost && strcmp(v[i].vhost, vhost) != 0) ||
		    (conn_name && strcmp(v[i].conn_name, conn_name) != 0))
			continue;
		json_t *o = chan_json(&v[i], false);
		mgmt_ctl_add_pid(ctx, o, "pid", v[i].conn_id, v[i].number);
		json_array_append_new(a, o);
	}
	free(v);
	mgmt_reply_list(ctx, a, true);
}

void
mgmt_h_channels(struct mgmt_ctx *ctx)
{
	if (ctx->t.nsegs == 4) { /* /api/vhosts/{v}/channels */
		struct vhost *vh = broker_vhost(amqp_cstr(ctx->t.segs[2]));
		if (vh == NULL) {
			mgmt_reply_not_found(ctx);
			return;
		}
		list_chans(ctx, vh->name, NULL);
		return;
	}
	list_chans(ctx, NULL, NULL);
}

void
mgmt_h_connection_channels(struct mgmt_ctx *ctx)
{
	struct inspect_conn *v;
	size_t               n = inspect_conns(&v);

	if (find_conn(ctx, v, n) == NULL) {
		inspect_conns_free(v, n);
		return;
	}
	inspect_conns_free(v, n);
	list_chans(ctx, NULL, ctx->t.segs[2]);
}

void
mgmt_h_channel(struct mgmt_ctx *ctx)
{
	struct inspect_chan *v;
	size_t               n = inspect_chans(&v);

	for (size_t i = 0; i < n; i++) {
		char name[200];
		snprintf(name, sizeof(name), "%s (%u)", v[i].conn_name, v[i].number);
		if (strcmp(name, ctx->t.segs[2]) == 0 && sees(ctx, v[i].user)) {
			mgmt_reply_object(ctx, chan_json(&v[i], true));
			free(v);
			return;
		}
	}
	free(v);
	mgmt_reply_not_found(ctx);
}

static json_t *
consumer_json(const struct inspect_consumer *c)
{
	char chname[200];

	snprintf(chname, sizeof(chname), "%s (%u)", c->conn_name, c->chan_number);
	return json_pack("{s:o,s:b,s:b,s:s,s:s,s:b,s:i,s:i,s:{s:s,s:s},s:{s:s,s:s,s:s,s:i,s:s,s:i,s:s}}",
	                 "arguments",
	                 def_table_to_json((struct amqp_bytes){ c->args_len, c->args }),
	                 "ack_required", c->ack_required, "active", c->active, "activity_status",
	                 c->active ? "up" : "waiting", "consumer_tag", c->tag, "exclusive",
	                 c->exclusive, "prefetch_count", (int)c->prefetch_count, "priority",
	                 (int)c->priority, "queue", "name", c->queue, "vhost", c->vhost,
	                 "channel_details", "connection_name", c->conn_name, "name", chname, "node",
	                 mgmt_node_name(), "number", (int)c->chan_number, "peer_host", c->peer_host,
	                 "peer_port", (int)c->peer_port, "user", c->user);
}

json_t *
mgmt_consumers_json(const char *vhost, struct amqp_bytes queue)
{
	struct inspect_consumer *v;
	size_t                   n = inspect_consumers(&v);
	json_t                  *a = json_array();

	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].vhost, vhost) == 0 && strlen(v[i].queue) == queue.len &&
		    memcmp(v[i].queue, queue.ptr, queue.len) == 0)
			json_array_append_new(a, consumer_json(&v[i]));
	inspect_consumers_free(v, n);
	return a;
}

void
mgmt_h_consumers(struct mgmt_ctx *ctx)
{
	const char              *vhost = NULL;
	struct inspect_consumer *v;
	size_t                   n;
	json_t                  *a = json_array();

	if (ctx->t.nsegs == 3) {
		struct vhost *vh = mgmt_vhost_arg(ctx, 2);
		if (vh == NULL) {
			json_decref(a);
			return;
		}
		vhost = vh->name;
	}
	n = inspect_consumers(&v);
	for (size_t i = 0; i < n; i++) {
		if (vhost && strcmp(v[i].vhost, vhost) != 0)
			continue;
		if (!sees(ctx, v[i].user) && !mgmt_vhost_visible(ctx, v[i].vhost))
			continue;
		json_t *o = consumer_json(&v[i]);
		mgmt_ctl_add_pid(ctx, o, "channel_pid", v[i].conn_id, v[i].chan_number);
		json_array_append_new(a, o);
	}
	inspect_consumers_free(v, n);
	/* consumers have no name: sort by queue, then tag */
	const char *sort = mgmt_target_param(&ctx->t, "sort");
	if (sort == NULL) {
		mgmt_sort(a, "consumer_tag", false);
		mgmt_sort(a, "queue.name", false);
		mgmt_sort(a, "queue.vhost", false);
		const char *columns = mgmt_target_param(&ctx->t, "columns");
		if (columns && *columns)
			mgmt_columns_array(a, columns);
		mgmt_reply_json(ctx, 200, a);
		return;
	}
	mgmt_reply_list(ctx, a, false);
}
