/*
 * TCP listeners.  With no host, warren listens on [::] (IPv6 only) and on
 * 0.0.0.0, as RabbitMQ does; either may be missing on a host without that
 * address family.
 */
#include "server/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/log.h"
#include "server/util.h"

#define MAX_LISTENERS 8
#define ACCEPT_BUDGET 64

struct listener {
	ev_io io;
	void (*on_accept)(struct ev_loop *, int);
};

static struct listener listeners[MAX_LISTENERS];
static int             nlisteners;

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *l = (struct listener *)w;

	(void)revents;
	for (int i = 0; i < ACCEPT_BUDGET && ev_is_active(w); i++) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		l->on_accept(loop, fd);
	}
}

static int
listen_one(struct ev_loop *loop, const struct sockaddr *sa, socklen_t sl,
           void (*on_accept)(struct ev_loop *, int), char *addrs, size_t len)
{
	int  one = 1;
	char host[INET6_ADDRSTRLEN];
	int  port;

	if (nlisteners == MAX_LISTENERS)
		return 0;
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		port = ntohs(s4->sin_port);
	}
	if (bind(fd, sa, sl) < 0 || listen(fd, 1024) < 0) {
		log_warn("cannot listen on %s%s%s:%d", sa->sa_family == AF_INET6 ? "[" : "", host,
		         sa->sa_family == AF_INET6 ? "]" : "", port);
		close(fd);
		return 0;
	}
	struct listener *l = &listeners[nlisteners++];
	l->on_accept = on_accept;
	ev_io_init(&l->io, accept_cb, fd, EV_READ);
	ev_io_start(loop, &l->io);
	size_t used = strlen(addrs);
	snprintf(addrs + used, len - used, "%s%s%s%s:%d", used ? ", " : "",
	         sa->sa_family == AF_INET6 ? "[" : "", host, sa->sa_family == AF_INET6 ? "]" : "",
	         port);
	return 1;
}

int
listener_start(struct ev_loop *loop, const char *host, uint16_t port,
               void (*on_accept)(struct ev_loop *, int), char *addrs, size_t len)
{
	int n = 0;

	addrs[0] = 0;
	if (host == NULL) {
		struct sockaddr_in6 s6;
		struct sockaddr_in  s4;
		memset(&s6, 0, sizeof(s6));
		s6.sin6_family = AF_INET6;
		s6.sin6_addr = in6addr_any;
		s6.sin6_port = htons(port);
		n += listen_one(loop, (struct sockaddr *)&s6, sizeof(s6), on_accept, addrs, len);
		memset(&s4, 0, sizeof(s4));
		s4.sin_family = AF_INET;
		s4.sin_addr.s_addr = htonl(INADDR_ANY);
		s4.sin_port = htons(port);
		n += listen_one(loop, (struct sockaddr *)&s4, sizeof(s4), on_accept, addrs, len);
		return n;
	}
	struct addrinfo hints, *res, *ai;
	char            ps[8];
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(ps, sizeof(ps), "%u", port);
	int rc = getaddrinfo(host, ps, &hints, &res);
	if (rc != 0) {
		log_error("cannot resolve listener address %s: %s", host, gai_strerror(rc));
		return 0;
	}
	for (ai = res; ai; ai = ai->ai_next)
		n += listen_one(loop, ai->ai_addr, ai->ai_addrlen, on_accept, addrs, len);
	freeaddrinfo(res);
	return n;
}

void
listener_stop_all(struct ev_loop *loop)
{
	for (int i = 0; i < nlisteners; i++) {
		ev_io_stop(loop, &listeners[i].io);
		close(listeners[i].io.fd);
	}
	nlisteners = 0;
}

void
listener_pause_all(struct ev_loop *loop, bool pause)
{
	for (int i = 0; i < nlisteners; i++) {
		if (pause)
			ev_io_stop(loop, &listeners[i].io);
		else
			ev_io_start(loop, &listeners[i].io);
	}
}
