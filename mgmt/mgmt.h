/*
 * The management plugin's public face for the daemon: start the HTTP API
 * listener, the Prometheus listener and the rate sampler on the broker's
 * loop, stop them.  Everything else in mgmt/ is internal.
 */
#ifndef MGMT_MGMT_H
#define MGMT_MGMT_H

#include <ev.h>
#include <stdint.h>

#include "mgmt/http.h"

struct config;

/*
 * Start serving: the API on cfg->mgmt_port and metrics on
 * cfg->prometheus_port (either 0 = off).  A port that cannot be bound is
 * logged and skipped.  Returns 0.
 */
int  mgmt_start(struct ev_loop *loop, const struct config *cfg);
void mgmt_stop(struct ev_loop *loop);

/*
 * The control channel for warrenctl: the same API over a Unix socket at
 * path (the data folder's warren.sock), served only to the broker's own
 * user or root, who act as an administrator without a password, plus the
 * control-only routes (status, stop).  Returns 0, or -1 (logged).
 * mgmt_stop() closes and unlinks it.
 */
int mgmt_ctl_start(struct ev_loop *loop, const char *path);

/* What POST /api/ctl/stop calls (the daemon's orderly shutdown); why is for the log. */
typedef void (*mgmt_stop_fn)(const char *why);
void mgmt_set_stop_handler(mgmt_stop_fn fn);
/* Internal to mgmt/: the control socket's path, for status. */
void mgmt_ctl_set_path(const char *path);

/* Request handlers, also used directly by the fuzzer and tests. */
void mgmt_api_handle(const struct mgmt_req *req, struct mgmt_resp *resp);
void mgmt_prom_handle(const struct mgmt_req *req, struct mgmt_resp *resp);

#endif
