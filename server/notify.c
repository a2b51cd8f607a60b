/*
 * sd_notify(3) without libsystemd: the protocol is a datagram of
 * newline-separated KEY=VALUE assignments sent to the AF_UNIX socket named
 * by $NOTIFY_SOCKET (a path, or an abstract name when it starts with '@').
 * The watchdog is a libev timer on the broker's own loop, so a loop that
 * hangs stops feeding it and systemd restarts the service.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "server/log.h"
#include "server/notify.h"

static struct sockaddr_un notify_addr;
static socklen_t          notify_addrlen; /* 0: no socket, every call is a no-op */
static double             watchdog_every; /* seconds; 0: no watchdog */
static ev_timer           watchdog_w;

void
notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	const char *usec = getenv("WATCHDOG_USEC");
	const char *wpid = getenv("WATCHDOG_PID");
	size_t      n;

	notify_addrlen = 0;
	watchdog_every = 0;
	if (path != NULL && (path[0] == '/' || path[0] == '@') &&
	    (n = strlen(path)) < sizeof(notify_addr.sun_path)) {
		memset(&notify_addr, 0, sizeof(notify_addr));
		notify_addr.sun_family = AF_UNIX;
		memcpy(notify_addr.sun_path, path, n);
		if (path[0] == '@')
			notify_addr.sun_path[0] = '\0'; /* abstract namespace */
		notify_addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
		                             (path[0] == '/' ? 1 : 0));
	} else if (path != NULL) {
		log_warnx("NOTIFY_SOCKET '%s' is not a socket path; not notifying systemd", path);
	}
	if (usec != NULL && (wpid == NULL || atol(wpid) == (long)getpid())) {
		char              *end;
		unsigned long long us = strtoull(usec, &end, 10);
		if (*usec != '\0' && *end == '\0' && us > 0)
			watchdog_every = (double)us / 2e6;
	}
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

int
notify_send(const char *text)
{
	int     fd;
	ssize_t w;

	if (notify_addrlen == 0) {
		errno = ENOTCONN;
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	do
		w = sendto(fd, text, strlen(text), MSG_NOSIGNAL, (struct sockaddr *)&notify_addr,
		           notify_addrlen);
	while (w < 0 && errno == EINTR);
	int saved = errno;
	close(fd);
	errno = saved;
	return w < 0 ? -1 : 0;
}

void
notify_ready(const char *status)
{
	char msg[512];

	if (notify_addrlen == 0)
		return;
	snprintf(msg, sizeof(msg), "READY=1\nMAINPID=%ld\nSTATUS=%s", (long)getpid(), status);
	if (notify_send(msg) != 0)
		log_warn("cannot notify systemd that the broker is ready");
}

void
notify_stopping(void)
{
	if (notify_addrlen != 0 && notify_send("STOPPING=1\nSTATUS=stopping") != 0)
		log_warn("cannot notify systemd that the broker is stopping");
}

static void
watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	if (notify_send("WATCHDOG=1") != 0)
		log_warn("cannot feed systemd's watchdog");
}

void
notify_watchdog_start(struct ev_loop *loop)
{
	if (notify_addrlen == 0 || watchdog_every <= 0)
		return;
	watchdog_cb(loop, &watchdog_w, 0);
	ev_timer_init(&watchdog_w, watchdog_cb, watchdog_every, watchdog_every);
	ev_timer_start(loop, &watchdog_w);
	log_info("feeding systemd's watchdog every %.1f s", watchdog_every);
}

void
notify_watchdog_stop(struct ev_loop *loop)
{
	ev_timer_stop(loop, &watchdog_w);
}
