/*
 * Start and stop the management listeners and the rate sampler.
 */
#include "mgmt/mgmt.h"

#include "mgmt/api.h"
#include "mgmt/stats.h"
#include "server/config.h"
#include "server/log.h"

static struct mgmt_http_server api_srv, prom_srv, ctl_srv, api_tls_srv;

int
mgmt_ctl_start(struct ev_loop *loop, const char *path)
{
	if (mgmt_http_listen_unix(&ctl_srv, loop, path, mgmt_api_handle) != 0)
		return -1;
	mgmt_ctl_set_path(ctl_srv.unix_path);
	log_info("control socket for warrenctl at %s", path);
	return 0;
}

int
mgmt_start(struct ev_loop *loop, const struct config *cfg)
{
	mgmt_amqp_port = cfg->port;
	mgmt_amqps_port = cfg->tls_port;
	mgmt_amqps_tls = &cfg->tls;
	mgmt_stats_start(loop);
	if (cfg->mgmt_port) {
		if (mgmt_http_listen(&api_srv, loop, cfg->listen_host, cfg->mgmt_port,
		                     mgmt_api_handle) == 0) {
			mgmt_http_port = cfg->mgmt_port;
			log_info("management API listening on port %u", cfg->mgmt_port);
		}
	}
	if (cfg->mgmt_tls_port) {
		char err[512];
		api_tls_srv.tls = transport_tls_from_config(&cfg->mgmt_tls, err, sizeof(err));
		if (api_tls_srv.tls == NULL)
			fatalx("management.ssl: %s", err);
		if (mgmt_http_listen(&api_tls_srv, loop, cfg->listen_host, cfg->mgmt_tls_port,
		                     mgmt_api_handle) == 0) {
			mgmt_https_port = cfg->mgmt_tls_port;
			mgmt_https_tls = &cfg->mgmt_tls;
			log_info("management API listening over HTTPS on port %u", cfg->mgmt_tls_port);
		}
	}
	if (cfg->prometheus_port) {
		if (mgmt_http_listen(&prom_srv, loop, cfg->listen_host, cfg->prometheus_port,
		                     mgmt_prom_handle) == 0) {
			mgmt_prom_port = cfg->prometheus_port;
			log_info("Prometheus metrics listening on port %u", cfg->prometheus_port);
		}
	}
	return 0;
}

void
mgmt_stop(struct ev_loop *loop)
{
	if (api_srv.loop)
		mgmt_http_close_all(&api_srv);
	if (prom_srv.loop)
		mgmt_http_close_all(&prom_srv);
	if (ctl_srv.loop) {
		mgmt_ctl_set_path(NULL);
		mgmt_http_close_all(&ctl_srv);
	}
	if (api_tls_srv.loop)
		mgmt_http_close_all(&api_tls_srv);
	transport_tls_free(api_tls_srv.tls);
	api_tls_srv.tls = NULL;
	mgmt_stats_stop(loop);
}
