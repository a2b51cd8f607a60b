/*
 * The control socket's own routes, for warrenctl: what the node is and
 * where its files are, and stopping it.  They are reachable only over
 * the Unix socket (the route table skips them for TCP clients), whose
 * peer the HTTP layer already checked to be the broker's user or root.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "mgmt/api.h"
#include "mgmt/mgmt.h"
#include "server/config.h"
#include "server/log.h"

static mgmt_stop_fn stop_fn;
static const char  *ctl_path; /* borrowed from mgmt.c */

void
mgmt_set_stop_handler(mgmt_stop_fn fn)
{
	stop_fn = fn;
}

void
mgmt_ctl_set_path(const char *path)
{
	ctl_path = path;
}

void
mgmt_ctl_add_pid(const struct mgmt_ctx *ctx, json_t *o, const char *key, uint64_t conn_id,
                 unsigned chan)
{
	char pid[340];

	if (!ctx->control)
		return;
	snprintf(pid, sizeof(pid), "<%s.%llu.%u>", mgmt_node_name(), (unsigned long long)conn_id,
	         chan);
	json_object_set_new(o, key, json_string(pid));
}

static json_t *
str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

void
mgmt_h_ctl_status(struct mgmt_ctx *ctx)
{
	const struct config *cfg = broker.cfg;
	json_t              *o = json_object();

	json_object_set_new(o, "pid", json_integer((json_int_t)getpid()));
	json_object_set_new(o, "node", json_string(mgmt_node_name()));
	json_object_set_new(o, "version", json_string(PACKAGE_VERSION));
	json_object_set_new(o, "uptime", json_integer((json_int_t)((uint64_t)time(NULL) -
	                                                            broker.started_at)));
	json_object_set_new(o, "data_dir", str_or_null(cfg ? cfg->data_dir : NULL));
	json_object_set_new(o, "config_file", str_or_null(cfg ? cfg->config_file : NULL));
	json_object_set_new(o, "log_file", str_or_null(log_file_name()));
	json_object_set_new(o, "log_console", json_boolean(cfg ? cfg->log_console : true));
	json_object_set_new(o, "control_socket", str_or_null(ctl_path));
	mgmt_reply_json(ctx, 200, o);
}

void
mgmt_h_ctl_stop(struct mgmt_ctx *ctx)
{
	if (stop_fn == NULL) {
		mgmt_reply_error(ctx, 503, "unavailable", "this broker cannot be stopped from here");
		return;
	}
	/* answer first: the stop closes this connection with every other */
	mgmt_reply_json(ctx, 200, json_pack("{s:I}", "pid", (json_int_t)getpid()));
	stop_fn("warrenctl stop");
}
