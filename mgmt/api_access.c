/*
 * Vhosts, users, permissions, topic permissions, policies, parameters and
 * limits over HTTP.  Storage is server/auth.c, server/policy.c and the
 * broker's vhost table; this file checks who may ask and shapes answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgmt/api.h"
#include "mgmt/stats.h"
#include "server/def.h"
#include "server/inspect.h"
#include "server/policy.h"

static bool
method_is(const struct mgmt_ctx *ctx, int m)
{
	return ctx->req->method == m || (m == HTTP_GET && ctx->req->method == HTTP_HEAD);
}

json_t *mgmt_vhost_message_stats(const char *vhost);

/* Vhosts. */

static json_t *
vhost_json(struct vhost *vh)
{
	json_t            *o = json_object();
	struct mgmt_totals t;
	size_t             i;
	struct hmap_entry *e;
	uint64_t           ready = 0, unacked = 0;

	mgmt_stats_totals(vh->name, &t);
	for (e = hmap_first(&vh->queues, &i); e; e = hmap_next(&vh->queues, &i, e)) {
		struct queue *q = e->val;
		ready += q->count;
		unacked += q->unacked;
	}
	json_object_set_new(o, "name", json_string(vh->name));
	json_object_set_new(o, "description", json_string(vh->description ? vh->description : ""));
	json_object_set_new(o, "tags", mgmt_tags_json(vh->tags));
	json_object_set_new(o, "metadata", json_pack("{s:s,s:o}", "description",
	                                             vh->description ? vh->description : "", "tags",
	                                             mgmt_tags_json(vh->tags)));
	json_object_set_new(o, "default_queue_type",
	                    json_string(vh->default_queue_type ? vh->default_queue_type : "undefined"));
	json_object_set_new(o, "tracing", json_boolean(vh->tracing));
	json_object_set_new(o, "cluster_state", json_pack("{s:s}", mgmt_node_name(), "running"));
	mgmt_set_stat(o, "messages", ready + unacked, t.rate[MGMT_T_MESSAGES]);
	mgmt_set_stat(o, "messages_ready", ready, t.rate[MGMT_T_READY]);
	mgmt_set_stat(o, "messages_unacknowledged", unacked, t.rate[MGMT_T_UNACKED]);
	mgmt_set_stat(o, "recv_oct", t.v[MGMT_T_RECV_OCT], t.rate[MGMT_T_RECV_OCT]);
	mgmt_set_stat(o, "send_oct", t.v[MGMT_T_SEND_OCT], t.rate[MGMT_T_SEND_OCT]);
	json_object_set_new(o, "message_stats", mgmt_vhost_message_stats(vh->name));
	return o;
}

void
mgmt_h_vhosts(struct mgmt_ctx *ctx)
{
	json_t            *a = json_array();
	size_t             i;
	struct hmap_entry *e;

	for (e = hmap_first(&broker.vhosts, &i); e; e = hmap_next(&broker.vhosts, &i, e)) {
		struct vhost *vh = e->val;
		if (mgmt_is_monitor(ctx) || mgmt_vhost_visible(ctx, vh->name))
			json_array_append_new(a, vhost_json(vh));
	}
	mgmt_reply_list(ctx, a, false);
}

void
mgmt_h_vhost(struct mgmt_ctx *ctx)
{
	const char   *name = ctx->t.segs[2];
	struct vhost *vh = broker_vhost(amqp_cstr(name));

	if (method_is(ctx, HTTP_GET)) {
		if (vh == NULL) {
			mgmt_reply_not_found(ctx);
			return;
		}
		if (!mgmt_is_monitor(ctx) && !mgmt_vhost_visible(ctx, vh->name)) {
			mgmt_reply_error(ctx, 401, "not_authorised",
			                 "User not authorised to access virtual host");
			return;
		}
		mgmt_reply_object(ctx, vhost_json(vh));
		return;
	}
	if (!mgmt_need_tag(ctx, 0, "Not administrator user"))
		return;
	if (method_is(ctx, HTTP_DELETE)) {
		if (broker_delete_vhost(name) != 0) {
			mgmt_reply_not_found(ctx);
			return;
		}
		mgmt_reply_empty(ctx, 204);
		return;
	}
	json_t *body = mgmt_body(ctx, false);
	if (body == NULL)
		return;
	bool        created = vh == NULL;
	json_t     *d = json_object_get(body, "description");
	json_t     *tags = json_object_get(body, "tags");
	json_t     *dqt = json_object_get(body, "default_queue_type");
	char       *t = tags ? mgmt_tags_string(tags) : xstrndup("", 0);
	bool        tracing = false;
	if (vh == NULL)
		vh = broker_add_vhost(name);
	broker_vhost_set_meta(vh, json_is_string(d) ? json_string_value(d) : "", t,
	                      json_is_string(dqt) ? json_string_value(dqt) : NULL);
	free(t);
	if (mgmt_json_bool(json_object_get(body, "tracing"), &tracing) == 0)
		vh->tracing = tracing;
	if (created && !ctx->control) /* rabbitmqctl add_vhost grants nothing */
		auth_set_permission(vh->name, ctx->user_name, ".*", ".*", ".*");
	mgmt_reply_empty(ctx, created ? 201 : 204);
}

/* Permissions. */

static json_t *
perm_json(const struct auth_perm *p)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:s}", "user", p->user, "vhost", p->vhost, "configure",
	                 p->re[0], "write", p->re[1], "read", p->re[2]);
}

static json_t *
tperm_json(const struct auth_topic_perm *p)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:s}", "user", p->user, "vhost", p->vhost, "exchange",
	                 p->exchange, "write", p->re[0], "read", p->re[1]);
}

static void
list_perms(struct mgmt_ctx *ctx, const char *vhost, const char *user)
{
	json_t                 *a = json_array();
	const struct auth_perm *p;

	for (size_t i = 0; (p = auth_permission_at(i)) != NULL; i++)
		if ((vhost == NULL || strcmp(p->vhost, vhost) == 0) &&
		    (user == NULL || strcmp(p->user, user) == 0))
			json_array_append_new(a, perm_json(p));
	mgmt_sort(a, "user", false);
	mgmt_sort(a, "vhost", false);
	mgmt_reply_list(ctx, a, false);
}

static void
list_tperms(struct mgmt_ctx *ctx, const char *vhost, const char *user)
{
	json_t                       *a = json_array();
	const struct auth_topic_perm *p;

	for (size_t i = 0; (p = auth_topic_permission_at(i)) != NULL; i++)
		if ((vhost == NULL || strcmp(p->vhost, vhost) == 0) &&
		    (user == NULL || strcmp(p->user, user) == 0))
			json_array_append_new(a, tperm_json(p));
	mgmt_sort(a, "user", false);
	mgmt_sort(a, "vhost", false);
	mgmt_reply_list(ctx, a, false);
}

void
mgmt_h_permissions(struct mgmt_ctx *ctx)
{
	if (mgmt_need_tag(ctx, 0, "Not administrator user"))
		list_perms(ctx, NULL, NULL);
}

void
mgmt_h_vhost_permissions(struct mgmt_ctx *ctx)
{
	if (!mgmt_need_tag(ctx, 0, "Not administrator user"))
		return;
	if (broker_vhost(amqp_cstr(ctx->t.segs[2])) == NULL) {
		mgmt_reply_not_found(ctx);
		return;
	}
	list_perms(ctx, ctx->t.segs[2], NULL);
}

void
mgmt_h_vhost_topic_permissions(struct mgmt_ctx *ctx)
{
	if (!mgmt_need_tag(ctx, 0, "Not administrator user"))
		return;
	if (broker_vhost(amqp_cstr(ctx->t.segs[2])) == NULL) {
		mgmt_reply_not_found(ctx);
		return;
	}
	list_tperms(ctx, ctx->t.segs[2], NULL);
}

void
mgmt_h_user_permissions(struct mgmt_ctx *ctx)
{
	if (!mgmt_need_tag(ctx, 0, "Not administrator user"))
		return;
	if (broker_user(amqp_cstr(ctx->t.segs[2])) == NULL) {
		mgmt_reply_not_found(ctx);
		return;
	}
	list_perms(ctx, NULL, ctx->t.segs[2]);
}

void
mgmt_h_user_topic_permissions(struct mgmt_ctx *ctx)
{
	if (!mgmt_need_tag(ctx, 0, "Not administrator user"))
		return;
	if (broker_user(amqp_cstr(ctx->t.segs[2])) == NULL) {
		mgmt_reply_not_found(ctx);
		return;
	}
	list_tperms(ctx, NULL, ctx->t.segs[2]);
}

void
mgmt_h_topic_permissions(struct mgmt_ctx *ctx)
{
	if (mgmt_need_tag(ctx, 0, "Not administrator user"))
		list_tperms(ctx, NULL, NULL);
}

static bool
valid_regex(const char *s)
{
	regex_t re;
	if (regcomp(&re, s, REG_EXTENDED | REG_NOSUB) != 0)
		return false;
	regfree(&re);
	return true;
}

void
mgmt_h_permission(struct mgmt_ctx *ctx)
{
	static const char *const keys[] = { "configure", "write", "read", NULL };
	const char              *vhost = ctx->t.segs[2], *user = ctx->t.segs[3];

	if (!mgmt_need_tag(ctx, 0, "Not administrator user"))
		return;
	if (method_is(ctx, HTTP_GET)) {
		const struct auth_perm *p = auth_permission(vhost, user);
		if (p == NULL) {
			mgmt_reply_not_found(ctx);
			return;
		}
		mgmt_reply_object(ctx, perm_json(p));
		return;
	}
	if (method_is(ctx, HTTP_DELETE)) {
		if (auth_delete_permission(vhost, user) != 0) {
			mgmt_reply_not_found(ctx);
			return;
		}
		mgmt_reply_empty(ctx, 204);
		return;
	}
	json_t *body = mgmt_body(ctx, false);
	if (body == NULL || !mgmt_require_keys(ctx, body, keys))
		return;
	if (broker_vhost(amqp_cstr(vhost)) == NULL || broker_user(amqp_cstr(user)) == NULL) {
		mgmt_reply_error(ctx, 400, "bad_request", "vhost_or_user_not_found");
		return;
	}
	const char *re[3];
	for (int k = 0; k < 3; k++) {
		json_t *v = json_object_get(body, keys[k]);
		re[k] = json_is_string(v) ? json_string_value(v) : "";
		if (!valid_regex(re[k])) {
			char reason[400];
			snprintf(reason, sizeof(reason), "Invalid regexp '%s'", re[k]);
			mgmt_reply_error(ctx, 400, "bad_request", reason);
			return;
		}
	}
	int rc = auth_set_permission(vhost, user, re[0], re[1], re[2]);
	mgmt_reply_empty(ctx, rc == 1 ? 201 : 204);
}

void
mgmt_h_topic_permission(struct mgmt_ctx *ctx)
{
	static const char *const keys[] = { "exchange", "write", "read", NULL };
	const char              *vhost = ctx->t.segs[2], *user = ctx->t.segs[3];

	if (!mgmt_need_tag(ctx, 0, "Not administrator user"))
		return;
	if (method_is(ctx, HTTP_GET)) {
		const struct auth_topic_perm *p;
		json_t                       *a = json_array();
		for (size_t i = 0; (p = auth_topic_permission_at(i)) != NULL; i++)
			if (strcmp(p->vhost, vhost) == 0 && strcmp(p->user, user) == 0)
				json_array_append_new(a, tperm_json(p));
		if (json_array_size(a) == 0) {
			json_decref(a);
			mgmt_reply_not_found(ctx);
			return;
		}
		mgmt_reply_list(ctx, a, false);
		return;
	}
	if (method_is(ctx, HTTP_DELETE)) {
		/* RabbitMQ 3.10 deletes all of the user's on the vhost: its route has
		 * no exchange binding, so a ?exchange= query is not looked at */
		if (auth_delete_topic_permission(vhost, user, NULL) == 0) {
			mgmt_reply_not_found(ctx);
			return;
		}
		mgmt_reply_empty(ctx, 204);
		return;
	}
	json_t *body = mgmt_body(ctx, false);
	if (body == NULL || !mgmt_require_keys(ctx, body, keys))
		return;
	if (broker_vhost(amqp_cstr(vhost)) == NULL || broker_user(amqp_cstr(user)) == NULL) {
		mgmt_reply_error(ctx, 400, "bad_request", "vhost_or_user_not_found");
		return;
	}
	const char *x = json_string_value(json_object_get(body, "exchange"));
	const char *w = json_string_value(json_object_get(body, "write"));
	const char *r = json_string_value(json_object_get(body, "read"));
	/* RabbitMQ answers 201 only when the user had no topic permission on the
	 * vhost yet (the resource is the list /topic-permissions/V/U) */
	bool                          existed = false;
	const struct auth_topic_perm *p;
	for (size_t i = 0; (p = auth_topic_permission_at(i)) != NULL; i++)
		if (strcmp(p->vhost, vhost) == 0 && strcmp(p->user, user) == 0)
			existed = true;
	/* the regexes are checked with {username} and {vhost} expanded */
	if (!x || !w || !r || auth_set_topic_permission(vhost, user, x, w, r) < 0) {
		mgmt_reply_error(ctx, 400, "bad_request", "Invalid topic permission");
		return;
	}
	mgmt_reply_empty(ctx, existed ? 204 : 201);
}

/* Users. */

static json_t *
user_json(const struct user *u)
{
	return json_pack("{s:s,s:s,s:s,s:o,s:{}}", "name", u->name, "password_hash", u->password_hash,
	                 "hashing_algorithm", auth_hash_name((enum auth_hash)u->hashing), "tags",
	                 mgmt_tags_json(u->tags), "limits");
}

void
mgmt_h_users(struct mgmt_ctx *ctx)
{
	json_t            *a = json_array();
	size_t             i;
	struct hmap_entry *e;

	if (!mgmt_need_tag(ctx, 0, "Not administrator user")) {
		json_decref(a);
		return;
	}
	for (e = hmap_first(&broker.users, &i); e; e = hmap_next(&broker.users, &i, e))
		json_array_append_new(a, user_json(e->val));
	mgmt_reply_list(ctx, a, false);
}

void
mgmt_h_users_without_permissions(struct mgmt_ctx *ctx)
{
	json_t            *a = json_array();
	size_t             i;
	struct hmap_entry *e;

	if (!mgmt_need_tag(ctx, 0, "Not administrator user")) {
		json_decref(a);
		return;
	}
	for (e = hmap_first(&broker.users, &i); e; e = hmap_next(&broker.users, &i, e)) {
		const struct user      *u = e->val;
		const struct auth_perm *p;
		bool                    any = false;
		for (size_t k = 0; (p = auth_permission_at(k)) != NULL; k++)
			if (strcmp(p->user, u->name) == 0)
				any = true;
		if (!any)
			json_array_append_new(a, user_json(u));
	}
	mgmt_reply_list(ctx, a, false);
}

void
mgmt_h_users_bulk_delete(struct mgmt_ctx *ctx)
{
	static const char *const keys[] = { "users", NULL };
	size_t                   i;
	json_t                  *v;

	if (!mgmt_need_tag(ctx, 0, "Not administrator user"))
		return;
	json_t *body = mgmt_body(ctx, false);
	if (body == NULL || !mgmt_require_keys(ctx, body, keys))
		return;
	json_array_foreach (json_object_get(body, "users"), i, v)
		if (json_is_string(v))
			broker_delete_user(json_string_value(v));
	mgmt_reply_empty(ctx, 204);
}

void
mgmt_h_user(struct mgmt_ctx *ctx)
{
	const char  *name = ctx->t.segs[2];
	struct user *u = broker_user(amqp_cstr(name));

	if (!mgmt_need_tag(ctx, 0, "Not administrator user"))
		return;
	if (method_is(ctx, HTTP_GET)) {
		if (u == NULL) {
			mgmt_reply_not_found(ctx);
			return;
		}
		mgmt_reply_object(ctx, user_json(u));
		return;
	}
	if (method_is(ctx, HTTP_DELETE)) {
		if (broker_delete_user(name) != 0) {
			mgmt_reply_not_found(ctx);
			return;
		}
		mgmt_reply_empty(ctx, 204);
		return;
	}
	json_t *body = mgmt_body(ctx, false);
	if (body == NULL)
		return;
	json_t *tags = json_object_get(body, "tags");
	if (tags == NULL || !(json_is_string(tags) || json_is_array(tags))) {
		mgmt_reply_error(ctx, 400, "bad_request", "tags_not_present");
		return;
	}
	char           hash[AUTH_HASH_B64_MAX] = "";
	enum auth_hash alg = AUTH_HASH_SHA256;
	json_t        *pw = json_object_get(body, "password");
	json_t        *ph = json_object_get(body, "password_hash");
	if (json_is_string(pw)) {
		auth_hash_password(alg, NULL, json_string_value(pw), json_string_length(pw), hash,
		                   sizeof(hash));
	} else if (json_is_string(ph)) {
		json_t *ha = json_object_get(body, "hashing_algorithm");
		if (json_is_string(ha) && auth_hash_parse(json_string_value(ha), &alg) != 0) {
			mgmt_reply_error(ctx, 400, "bad_request", "Unknown password hashing algorithm");
			return;
		}
		if (json_string_length(ph) && !auth_hash_valid(alg, json_string_value(ph))) {
			mgmt_reply_error(ctx, 400, "bad_request", "Invalid password hash");
			return;
		}
		snprintf(hash, sizeof(hash), "%s", json_string_value(ph));
	} else if (u) {
		/* no new credentials: keep the current ones */
		snprintf(hash, sizeof(hash), "%s", u->password_hash);
		alg = (enum auth_hash)u->hashing;
	}
	char *t = mgmt_tags_string(tags);
	bool  created;
	broker_set_user(name, hash, (int)alg, t, &created);
	free(t);
	mgmt_reply_empty(ctx, created ? 201 : 204);
}

void
mgmt_h_whoami(struct mgmt_ctx *ctx)
{
	mgmt_reply_json(ctx, 200, json_pack("{s:s,s:o}", "name", ctx->user_name, "tags",
	                                    mgmt_tags_json(ctx->user ? ctx->user->tags : "")));
}

void
mgmt_h_user_limits(struct mgmt_ctx *ctx)
{
	if (!mgmt_need_tag(ctx, 0, "Not administrator user"))
		return;
	mgmt_reply_json(ctx, 200, json_array());
}

/* Policies. */

static json_t *
policy_json(const struct policy *p)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:O,s:i}", "vhost", p->vhost, "name", p->name, "pattern",
	                 p->pattern, "apply-to", policy_apply_name(p->apply_to), "definition",
	                 p->definition, "priority", p->priority);
}

static void
policies_list(struct mgmt_ctx *ctx, bool op)
{
	const char          *vhost = ctx->t.nsegs == 3 ? ctx->t.segs[2] : NULL;
	json_t              *a = json_array();
	const struct policy *p;

	if (vhost && mgmt_vhost_arg(ctx, 2) == NULL) {
		json_decref(a);
		return;
	}
	for (size_t i = 0; (p = policy_at(i)) != NULL; i++) {
		if (p->operator_policy != op || (vhost && strcmp(p->vhost, vhost) != 0))
			continue;
		if (!mgmt_is_monitor(ctx) && !mgmt_vhost_visible(ctx, p->vhost))
			continue;
		json_array_append_new(a, policy_json(p));
	}
	mgmt_reply_list(ctx, a, false);
}

static void
policy_item(struct mgmt_ctx *ctx, bool op)
{
	static const char *const keys[] = { "pattern", "definition", NULL };
	struct vhost            *vh = mgmt_vhost_arg(ctx, 2);
	const char              *name = ctx->t.segs[3];

	if (vh == NULL)
		return;
	if (method_is(ctx, HTTP_GET)) {
		const struct policy *p = policy_get(vh->name, name, op);
		if (p == NULL) {
			mgmt_reply_not_found(ctx);
			return;
		}
		mgmt_reply_object(ctx, policy_json(p));
		return;
	}
	if (op ? !mgmt_need_tag(ctx, 0, "Not administrator user") :
	         !mgmt_need_tag(ctx, AUTH_TAG_POLICYMAKER, "Not policymaker user"))
		return;
	if (method_is(ctx, HTTP_DELETE)) {
		if (policy_delete(vh->name, name, op) != 0) {
			mgmt_reply_not_found(ctx);
			return;
		}
		mgmt_reply_empty(ctx, 204);
		return;
	}
	json_t *body = mgmt_body(ctx, false);
	if (body == NULL || !mgmt_require_keys(ctx, body, keys))
		return;
	json_t           *pat = json_object_get(body, "pattern");
	json_t           *at = json_object_get(body, "apply-to");
	int64_t           prio = 0;
	enum policy_apply a = POLICY_APPLY_ALL;
	char              err[512];
	if (!json_is_string(pat)) {
		mgmt_reply_error(ctx, 400, "bad_request", "pattern must be a string");
		return;
	}
	if (at && (!json_is_string(at) || policy_apply_parse(json_string_value(at), &a) != 0)) {
		snprintf(err, sizeof(err), "Validation failed\n\n'%s' is not a valid apply-to value\n",
		         json_is_string(at) ? json_string_value(at) : "?");
		mgmt_reply_error(ctx, 400, "bad_request", err);
		return;
	}
	json_t *pv = json_object_get(body, "priority");
	if (pv && !json_is_null(pv) && mgmt_json_int(pv, &prio) != 0) {
		mgmt_reply_error(ctx, 400, "bad_request", "Validation failed\n\npriority must be an integer\n");
		return;
	}
	int rc = policy_set(vh->name, name, json_string_value(pat), a, (int)prio,
	                    json_object_get(body, "definition"), op, err, sizeof(err));
	if (rc < 0) {
		mgmt_reply_error(ctx, 400, "bad_request", err);
		return;
	}
	mgmt_reply_empty(ctx, rc == 1 ? 201 : 204);
}

void
mgmt_h_policies(struct mgmt_ctx *ctx)
{
	policies_list(ctx, false);
}

void
mgmt_h_policy(struct mgmt_ctx *ctx)
{
	policy_item(ctx, false);
}

void
mgmt_h_operator_policies(struct mgmt_ctx *ctx)
{
	policies_list(ctx, true);
}

void
mgmt_h_operator_policy(struct mgmt_ctx *ctx)
{
	policy_item(ctx, true);
}

/* Parameters. */

static json_t *
param_json(const struct policy_param *p)
{
	if (p->vhost == NULL)
		return json_pack("{s:s,s:O}", "name", p->name, "value", p->value);
	return json_pack("{s:s,s:s,s:s,s:O}", "vhost", p->vhost, "component", p->component, "name",
	                 p->name, "value", p->value);
}

void
mgmt_h_parameters(struct mgmt_ctx *ctx)
{
	const char                *comp = ctx->t.nsegs >= 3 ? ctx->t.segs[2] : NULL;
	const char                *vhost = ctx->t.nsegs >= 4 ? ctx->t.segs[3] : NULL;
	json_t                    *a = json_array();
	const struct policy_param *p;

	if (!mgmt_need_tag(ctx, AUTH_TAG_POLICYMAKER | AUTH_TAG_MONITORING, "Not policymaker user")) {
		json_decref(a);
		return;
	}
	for (size_t i = 0; (p = policy_param_at(i)) != NULL; i++) {
		if (p->vhost == NULL || (comp && strcmp(p->component, comp) != 0) ||
		    (vhost && strcmp(p->vhost, vhost) != 0))
			continue;
		json_array_append_new(a, param_json(p));
	}
	mgmt_reply_list(ctx, a, false);
}

void
mgmt_h_parameter(struct mgmt_ctx *ctx)
{
	static const char *const keys[] = { "value", NULL };
	const char              *comp = ctx->t.segs[2], *name = ctx->t.segs[4];
	struct vhost            *vh;

	if (!mgmt_need_tag(ctx, AUTH_TAG_POLICYMAKER, "Not policymaker user"))
		return;
	if ((vh = mgmt_vhost_arg(ctx, 3)) == NULL)
		return;
	if (method_is(ctx, HTTP_GET)) {
		const struct policy_param *p = policy_param_get(comp, vh->name, name);
		if (p == NULL) {
			mgmt_reply_not_found(ctx);
			return;
		}
		mgmt_reply_object(ctx, param_json(p));
		return;
	}
	if (method_is(ctx, HTTP_DELETE)) {
		if (policy_param_delete(comp, vh->name, name) != 0) {
			mgmt_reply_not_found(ctx);
			return;
		}
		mgmt_reply_empty(ctx, 204);
		return;
	}
	json_t *body = mgmt_body(ctx, false);
	if (body == NULL || !mgmt_require_keys(ctx, body, keys))
		return;
	int rc = policy_param_set(comp, vh->name, name, json_object_get(body, "value"));
	mgmt_reply_empty(ctx, rc == 1 ? 201 : 204);
}

void
mgmt_h_global_parameters(struct mgmt_ctx *ctx)
{
	json_t                    *a = json_array();
	const struct policy_param *p;

	if (!mgmt_need_tag(ctx, 0, "Not administrator user")) {
		json_decref(a);
		return;
	}
	def_cluster_id();
	for (size_t i = 0; (p = policy_param_at(i)) != NULL; i++)
		if (p->vhost == NULL)
			json_array_append_new(a, param_json(p));
	mgmt_reply_list(ctx, a, false);
}

void
mgmt_h_global_parameter(struct mgmt_ctx *ctx)
{
	static const char *const keys[] = { "value", NULL };
	const char              *name = ctx->t.segs[2];

	if (!mgmt_need_tag(ctx, 0, "Not administrator user"))
		return;
	def_cluster_id();
	if (method_is(ctx, HTTP_GET)) {
		const struct policy_param *p = policy_param_get(NULL, NULL, name);
		if (p == NULL) {
			mgmt_reply_not_found(ctx);
			return;
		}
		mgmt_reply_object(ctx, param_json(p));
		return;
	}
	if (method_is(ctx, HTTP_DELETE)) {
		if (policy_param_delete(NULL, NULL, name) != 0) {
			mgmt_reply_not_found(ctx);
			return;
		}
		mgmt_reply_empty(ctx, 204);
		return;
	}
	json_t *body = mgmt_body(ctx, false);
	if (body == NULL || !mgmt_require_keys(ctx, body, keys))
		return;
	int rc = policy_param_set(NULL, NULL, name, json_object_get(body, "value"));
	mgmt_reply_empty(ctx, rc == 1 ? 201 : 204);
}

/* Vhost limits: stored as the "limits" parameter of component "vhost-limits". */

void
mgmt_h_vhost_limits(struct mgmt_ctx *ctx)
{
	const char                *vhost = ctx->t.nsegs == 3 ? ctx->t.segs[2] : NULL;
	json_t                    *a = json_array();
	const struct policy_param *p;

	if (vhost && mgmt_vhost_arg(ctx, 2) == NULL) {
		json_decref(a);
		return;
	}
	for (size_t i = 0; (p = policy_param_at(i)) != NULL; i++) {
		if (p->vhost == NULL || strcmp(p->component, "vhost-limits") != 0 ||
		    (vhost && strcmp(p->vhost, vhost) != 0))
			continue;
		json_array_append_new(a, json_pack("{s:s,s:O}", "vhost", p->vhost, "value", p->value));
	}
	mgmt_reply_list(ctx, a, false);
}

void
mgmt_h_vhost_limit(struct mgmt_ctx *ctx)
{
	static const char *const keys[] = { "value", NULL };
	struct vhost            *vh;
	const char              *name = ctx->t.segs[3];

	if (!mgmt_need_tag(ctx, 0, "Not administrator user"))
		return;
	if ((vh = mgmt_vhost_arg(ctx, 2)) == NULL)
		return;
	const struct policy_param *p = policy_param_get("vhost-limits", vh->name, "limits");
	json_t                    *lim = p ? json_deep_copy(p->value) : json_object();
	if (method_is(ctx, HTTP_DELETE)) {
		json_object_del(lim, name);
		if (json_object_size(lim))
			policy_param_set("vhost-limits", vh->name, "limits", lim);
		else
			policy_param_delete("vhost-limits", vh->name, "limits");
		json_decref(lim);
		mgmt_reply_empty(ctx, 204);
		return;
	}
	json_t *body = mgmt_body(ctx, false);
	int64_t v;
	if (body == NULL || !mgmt_require_keys(ctx, body, keys)) {
		json_decref(lim);
		return;
	}
	if ((strcmp(name, "max-connections") != 0 && strcmp(name, "max-queues") != 0) ||
	    mgmt_json_int(json_object_get(body, "value"), &v) != 0) {
		json_decref(lim);
		mgmt_reply_error(ctx, 400, "bad_request", "Validation failed");
		return;
	}
	json_object_set_new(lim, name, json_integer(v));
	policy_param_set("vhost-limits", vh->name, "limits", lim);
	json_decref(lim);
	mgmt_reply_empty(ctx, 204);
}
