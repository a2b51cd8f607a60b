/*
 * The management API's request context and the helpers its handlers
 * share: replies in RabbitMQ's shapes, authorisation, list parameters.
 * Handlers live in api.c (routing, overview, nodes, health, definitions),
 * api_objects.c (queues, exchanges, bindings), api_access.c (vhosts,
 * users, permissions, policies, parameters) and api_conns.c
 * (connections, channels, consumers).
 */
#ifndef MGMT_API_H
#define MGMT_API_H

#include <jansson.h>
#include <stdbool.h>

#include "mgmt/http.h"
#include "mgmt/query.h"
#include "server/auth.h"
#include "server/broker.h"

struct mgmt_ctx {
	const struct mgmt_req *req;
	struct mgmt_resp      *resp;
	struct mgmt_target     t;      /* t.segs[0] is "api" */
	const struct user     *user;   /* authenticated user, borrowed for this request */
	char                   user_name[128];
	unsigned               tags;   /* AUTH_TAG_* */
	json_t                *body;   /* parsed request body (owned), NULL before mgmt_body() */
	bool                   handled;
	bool                   control; /* over the control socket: every right, no user */
};

/* Route handler: the segments after "api" are ctx->t.segs[1..]. */
typedef void (*mgmt_route_fn)(struct mgmt_ctx *ctx);

/* Replies. json is stolen. */
void mgmt_reply_json(struct mgmt_ctx *ctx, int status, json_t *json);
void mgmt_reply_empty(struct mgmt_ctx *ctx, int status);
void mgmt_reply_error(struct mgmt_ctx *ctx, int status, const char *error, const char *reason);
void mgmt_reply_error_json(struct mgmt_ctx *ctx, int status, const char *error, json_t *reason);
void mgmt_reply_not_found(struct mgmt_ctx *ctx);
/* An AMQP-style failure as RabbitMQ's HTTP answer (404 not_found, 401, 400). */
void mgmt_reply_broker_err(struct mgmt_ctx *ctx, const struct broker_err *err);
/* A list: sort, paginate (when pageable and ?page=), columns; arr stolen. */
void mgmt_reply_list(struct mgmt_ctx *ctx, json_t *arr, bool pageable);
/* A single object, with ?columns= applied. */
void mgmt_reply_object(struct mgmt_ctx *ctx, json_t *obj);

/*
 * The request body as JSON: an empty body is {}.  Returns NULL after
 * replying 400 (not_json, or failed_to_parse_json when for_definitions).
 */
json_t *mgmt_body(struct mgmt_ctx *ctx, bool for_definitions);
/* Check mandatory keys; replies 400 [{key_missing,k},...] and returns false if any is missing. */
bool mgmt_require_keys(struct mgmt_ctx *ctx, json_t *body, const char *const *keys);

/* Authorisation.  Each replies 401 and returns false on refusal. */
bool mgmt_need_tag(struct mgmt_ctx *ctx, unsigned tags, const char *reason);
bool mgmt_is_admin(const struct mgmt_ctx *ctx);
bool mgmt_is_monitor(const struct mgmt_ctx *ctx);
/* May the user see this vhost's queues/exchanges?  (permissions on it) */
bool mgmt_vhost_visible(const struct mgmt_ctx *ctx, const char *vhost);
/* The vhost named by segment i: replies 404 (or 401) and returns NULL. */
struct vhost *mgmt_vhost_arg(struct mgmt_ctx *ctx, size_t seg);
/* The AMQP permission check on a resource: replies 401 "Access refused." */
bool mgmt_check_perm(struct mgmt_ctx *ctx, const char *vhost, enum auth_access what,
                     const char *name);

/* Common JSON pieces. */
const char *mgmt_node_name(void);
json_t     *mgmt_rate(double r);                      /* {"rate": r} */
void        mgmt_set_stat(json_t *o, const char *key, uint64_t v, double rate);
json_t     *mgmt_tags_json(const char *tags);
char       *mgmt_tags_string(json_t *v);              /* from a string or a list */
json_t     *mgmt_bytes_json(struct amqp_bytes b);

/* Handlers (api_objects.c, api_access.c, api_conns.c). */
void mgmt_h_queues(struct mgmt_ctx *ctx);
void mgmt_h_queue(struct mgmt_ctx *ctx);
void mgmt_h_queue_contents(struct mgmt_ctx *ctx);
void mgmt_h_queue_get(struct mgmt_ctx *ctx);
void mgmt_h_queue_bindings(struct mgmt_ctx *ctx);
void mgmt_h_queue_messages(struct mgmt_ctx *ctx);
void mgmt_h_queue_actions(struct mgmt_ctx *ctx);
void mgmt_h_exchanges(struct mgmt_ctx *ctx);
void mgmt_h_exchange(struct mgmt_ctx *ctx);
void mgmt_h_exchange_publish(struct mgmt_ctx *ctx);
void mgmt_h_exchange_bindings(struct mgmt_ctx *ctx);
void mgmt_h_bindings(struct mgmt_ctx *ctx);
void mgmt_h_binding_pair(struct mgmt_ctx *ctx);
void mgmt_h_binding(struct mgmt_ctx *ctx);
void mgmt_h_vhosts(struct mgmt_ctx *ctx);
void mgmt_h_vhost(struct mgmt_ctx *ctx);
void mgmt_h_vhost_permissions(struct mgmt_ctx *ctx);
void mgmt_h_vhost_topic_permissions(struct mgmt_ctx *ctx);
void mgmt_h_users(struct mgmt_ctx *ctx);
void mgmt_h_users_without_permissions(struct mgmt_ctx *ctx);
void mgmt_h_users_bulk_delete(struct mgmt_ctx *ctx);
void mgmt_h_user(struct mgmt_ctx *ctx);
void mgmt_h_user_permissions(struct mgmt_ctx *ctx);
void mgmt_h_user_topic_permissions(struct mgmt_ctx *ctx);
void mgmt_h_whoami(struct mgmt_ctx *ctx);
void mgmt_h_permissions(struct mgmt_ctx *ctx);
void mgmt_h_permission(struct mgmt_ctx *ctx);
void mgmt_h_topic_permissions(struct mgmt_ctx *ctx);
void mgmt_h_topic_permission(struct mgmt_ctx *ctx);
void mgmt_h_policies(struct mgmt_ctx *ctx);
void mgmt_h_policy(struct mgmt_ctx *ctx);
void mgmt_h_operator_policies(struct mgmt_ctx *ctx);
void mgmt_h_operator_policy(struct mgmt_ctx *ctx);
void mgmt_h_parameters(struct mgmt_ctx *ctx);
void mgmt_h_parameter(struct mgmt_ctx *ctx);
void mgmt_h_global_parameters(struct mgmt_ctx *ctx);
void mgmt_h_global_parameter(struct mgmt_ctx *ctx);
void mgmt_h_vhost_limits(struct mgmt_ctx *ctx);
void mgmt_h_vhost_limit(struct mgmt_ctx *ctx);
void mgmt_h_user_limits(struct mgmt_ctx *ctx);
void mgmt_h_connections(struct mgmt_ctx *ctx);
void mgmt_h_connection(struct mgmt_ctx *ctx);
void mgmt_h_connection_channels(struct mgmt_ctx *ctx);
void mgmt_h_channels(struct mgmt_ctx *ctx);
void mgmt_h_channel(struct mgmt_ctx *ctx);
void mgmt_h_consumers(struct mgmt_ctx *ctx);
/* Consumers of one queue (for the single queue GET). */
json_t *mgmt_consumers_json(const char *vhost, struct amqp_bytes queue);

/*
 * The control socket's own routes (api_ctl.c): GET /api/ctl/status and
 * POST /api/ctl/stop.  Requests over TCP never reach them.
 */
void mgmt_h_ctl_status(struct mgmt_ctx *ctx);
void mgmt_h_ctl_stop(struct mgmt_ctx *ctx);
/* On control requests, add key: "<node.CONN.CHAN>", the id warrenctl shows and takes. */
void mgmt_ctl_add_pid(const struct mgmt_ctx *ctx, json_t *o, const char *key, uint64_t conn_id,
                      unsigned chan);

/* The listener ports, for overview and health checks. */
extern uint16_t mgmt_amqp_port, mgmt_http_port, mgmt_prom_port;
/* The TLS listeners (0 = none) and their settings (borrowed from the daemon's config). */
extern uint16_t mgmt_amqps_port, mgmt_https_port;
extern const struct config_tls *mgmt_amqps_tls, *mgmt_https_tls;

#endif
