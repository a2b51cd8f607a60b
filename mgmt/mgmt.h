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

/* Request handlers, also used directly by the fuzzer and tests. */
void mgmt_api_handle(const struct mgmt_req *req, struct mgmt_resp *resp);
void mgmt_prom_handle(const struct mgmt_req *req, struct mgmt_resp *resp);

#endif
