/*
 * warren: an AMQP 0-9-1 broker.  main() reads the configuration, sets up
 * the engine and the listeners on one libev loop, and runs it until
 * SIGTERM, SIGINT or warrenctl stop, which close every client with 320
 * CONNECTION_FORCED.  SIGHUP reopens the log file.  Under systemd
 * (Type=notify) it says when it is ready and feeds the watchdog.
 */
#include "autoconfig.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <ev.h>

#include "server/broker.h"
#include "server/config.h"
#include "server/conn.h"
#include "server/listener.h"
#include "server/log.h"
#include "server/notify.h"
#include "server/persist.h"
#include "server/transport.h"
#include "mgmt/mgmt.h"

#define SHUTDOWN_GRACE 2.0 /* seconds to wait for clients to answer connection.close */

static struct config cfg;
static struct transport_tls *tls; /* owned: the amqps listener's setup */
static ev_signal     sigterm_w, sigint_w, sighup_w;
static struct ev_loop *main_loop;
static ev_prepare    prepare_w;
static ev_timer      shutdown_w, ctl_stop_w;
static int           stopping;

static void
prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)w;
	(void)revents;
	conn_prepare(loop);
	if (stopping && conn_count() == 0)
		ev_break(loop, EVBREAK_ALL);
}

static void
shutdown_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* The orderly shutdown, whoever asked; asked twice, stop at once. */
static void
begin_stop(const char *why)
{
	struct ev_loop *loop = main_loop;

	if (stopping++) {
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	log_info("%s, stopping", why);
	notify_stopping();
	listener_stop_all(loop);
	mgmt_stop(loop);
	conn_close_all("broker forced connection closure with reason 'shutdown'");
	ev_timer_init(&shutdown_w, shutdown_timeout_cb, SHUTDOWN_GRACE, 0.);
	ev_timer_start(loop, &shutdown_w);
}

static void
signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)revents;
	begin_stop(w->signum == SIGTERM ? "received SIGTERM" : "received SIGINT");
}

static void
ctl_stop_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	begin_stop("warrenctl stop");
}

/*
 * warrenctl stop, from inside the control connection's callback: the
 * shutdown closes that connection, so it runs on the next loop turn.
 */
static void
ctl_stop(const char *why)
{
	(void)why;
	if (!ev_is_active(&ctl_stop_w)) {
		ev_timer_init(&ctl_stop_w, ctl_stop_cb, 0., 0.);
		ev_timer_start(main_loop, &ctl_stop_w);
	}
}

/* logrotate moved the file away: write to a new one at the same path */
static void
sighup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	if (log_file_name() == NULL)
		return;
	if (log_reopen() != 0)
		log_warn("cannot reopen the log file %s; still writing to the old one",
		         log_file_name());
	else
		log_info("received SIGHUP, reopened the log file %s", log_file_name());
}

static int
mkdir_p(const char *path)
{
	char buf[4096];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -1;
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = 0;
			if (mkdir(buf, 0750) < 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	if (mkdir(buf, 0750) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/*
 * Every connection and every durable queue that holds messages needs file
 * descriptors: take all the hard limit allows, as RabbitMQ's runtime does,
 * rather than the 1,024 a shell usually starts with.
 */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t was = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = was;
	}
	log_info("file descriptor limit: %llu", (unsigned long long)rl.rlim_cur);
}

int
main(int argc, char **argv)
{
	struct ev_loop *loop;
	char            addrs[512], sock[4200], status[700];
	double          t0;

	notify_init();
	config_defaults(&cfg);
	switch (config_from_args(&cfg, argc, argv)) {
	case 1:
		return 0;
	case -1:
		return 64;
	default:
		break;
	}
	log_set_level(cfg.log_level);
	if (cfg.log_file != NULL && log_open_file(cfg.log_file, cfg.log_file_level) != 0)
		fatalx("cannot open the log file %s: %s", cfg.log_file, strerror(errno));
	log_set_console(cfg.log_console);
	signal(SIGPIPE, SIG_IGN);

	raise_nofile();
	loop = main_loop = ev_default_loop(EVFLAG_AUTO);
	t0 = ev_time();
	if (mkdir_p(cfg.data_dir) < 0)
		fatalx("cannot create data directory %s: %s", cfg.data_dir, strerror(errno));
	conn_set_loop(loop);
	broker_init(&cfg);
	persist_open(cfg.data_dir);

	if (listener_start(loop, cfg.listen_host, cfg.port, conn_accept, addrs, sizeof(addrs)) == 0)
		fatalx("no AMQP listener could be started on port %u", cfg.port);
	if (cfg.tls_port) {
		char err[512], tls_addrs[256];
		if ((tls = transport_tls_from_config(&cfg.tls, err, sizeof(err))) == NULL)
			fatalx("ssl_options: %s", err);
		conn_set_tls(tls);
		if (listener_start(loop, cfg.tls_host, cfg.tls_port, conn_accept_tls, tls_addrs,
		                   sizeof(tls_addrs)) == 0)
			fatalx("no AMQP TLS listener could be started on port %u", cfg.tls_port);
		log_info("accepting AMQP 0-9-1 connections over TLS on %s", tls_addrs);
	}
	conn_apply_connection_max();

	mgmt_start(loop, &cfg); /* management API and Prometheus listeners, if configured */
	snprintf(sock, sizeof(sock), "%s/warren.sock", cfg.data_dir);
	mgmt_set_stop_handler(ctl_stop);
	mgmt_ctl_start(loop, sock); /* warrenctl's channel; logged if it cannot be made */

	conn_start_memory_monitor();
	ev_prepare_init(&prepare_w, prepare_cb);
	ev_prepare_start(loop, &prepare_w);
	ev_signal_init(&sigterm_w, signal_cb, SIGTERM);
	ev_signal_start(loop, &sigterm_w);
	ev_signal_init(&sigint_w, signal_cb, SIGINT);
	ev_signal_start(loop, &sigint_w);
	ev_signal_init(&sighup_w, sighup_cb, SIGHUP);
	ev_signal_start(loop, &sighup_w);

	log_info("warren %s started in %.1f ms: accepting AMQP 0-9-1 connections on %s (data in %s)",
	         PACKAGE_VERSION, (ev_time() - t0) * 1000.0, addrs, cfg.data_dir);
	snprintf(status, sizeof(status), "accepting AMQP 0-9-1 connections on %s", addrs);
	notify_ready(status);
	notify_watchdog_start(loop);
	ev_run(loop, 0);
	notify_watchdog_stop(loop);

	conn_prepare(loop); /* last flush of the close frames */
	log_info("stopped");
	mgmt_stop(loop);
	persist_close();
	broker_shutdown();
	transport_tls_free(tls);
	config_free(&cfg);
	log_close_file();
	return 0;
}
