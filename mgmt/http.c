/*
 * HTTP/1.1 connections for the management and metrics listeners.  The
 * parser (http_parser) is fed whatever arrived; it pauses at the end of
 * each request, which is handled at once and its response queued; reading
 * stops while a response is unsent, so one client's pipelined requests
 * are answered in order and can't grow the output without bound.
 */
#include "mgmt/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "server/log.h"
#include "server/util.h"

#define READ_CHUNK 16384
#define MAX_CLIENTS 1024

void
mgmt_buf_add(struct mgmt_buf *b, const void *p, size_t n)
{
	if (b->cap - b->len < n + 1) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap - b->len < n + 1)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
mgmt_buf_printf(struct mgmt_buf *b, const char *fmt, ...)
{
	va_list ap;
	char    small[512];
	int     n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		mgmt_buf_add(b, small, (size_t)n);
		return;
	}
	char *big = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	mgmt_buf_add(b, big, (size_t)n);
	free(big);
}

void
mgmt_buf_free(struct mgmt_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static void
buf_reset(struct mgmt_buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

const char *
mgmt_http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 413: return "Request Entity Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

static void
stream_release(struct mgmt_stream *s)
{
	if (s->release)
		s->release(s->st);
	memset(s, 0, sizeof(*s));
}

static void
defer_release(struct mgmt_defer *d)
{
	if (d->release)
		d->release(d->st);
	memset(d, 0, sizeof(*d));
}

/* Status line and headers, up to the blank line unless the body is chunked. */
static void
format_head(struct mgmt_buf *out, const struct mgmt_resp *resp, bool no_body, bool keep_alive)
{
	mgmt_buf_printf(out, "HTTP/1.1 %d %s\r\nserver: warren\r\n", resp->status,
	                mgmt_http_reason(resp->status));
	if (resp->content_type && !no_body)
		mgmt_buf_printf(out, "content-type: %s\r\n", resp->content_type);
	if (resp->no_cache)
		mgmt_buf_add(out, "cache-control: no-cache\r\n", 25);
	mgmt_buf_add(out, "vary: accept, accept-encoding, origin\r\n", 39);
	if (resp->headers.len)
		mgmt_buf_add(out, resp->headers.p, resp->headers.len);
	if (!keep_alive)
		mgmt_buf_add(out, "connection: close\r\n", 19);
}

static void
add_chunks(struct mgmt_buf *out, const char *p, size_t len)
{
	for (size_t off = 0; off < len;) {
		size_t n = len - off;
		if (n > 32768)
			n = 32768;
		mgmt_buf_printf(out, "%zx\r\n", n);
		mgmt_buf_add(out, p + off, n);
		mgmt_buf_add(out, "\r\n", 2);
		off += n;
	}
}

void
mgmt_http_format(struct mgmt_buf *out, const struct mgmt_resp *resp, bool head, bool keep_alive)
{
	bool   no_body = resp->status == 204 || resp->status == 304 || resp->status < 200;
	bool   chunked = !no_body && !head && resp->body.len > MGMT_HTTP_CHUNK_OVER;

	format_head(out, resp, no_body, keep_alive);
	if (no_body) {
		mgmt_buf_add(out, "\r\n", 2);
		return;
	}
	if (chunked) {
		mgmt_buf_add(out, "transfer-encoding: chunked\r\n\r\n", 30);
		add_chunks(out, resp->body.p, resp->body.len);
		mgmt_buf_add(out, "0\r\n\r\n", 5);
		return;
	}
	mgmt_buf_printf(out, "content-length: %zu\r\n\r\n", resp->body.len);
	if (!head && resp->body.len)
		mgmt_buf_add(out, resp->body.p, resp->body.len);
}

void
mgmt_http_stream_drain(struct mgmt_stream *s, struct mgmt_buf *out)
{
	if (s->more == NULL)
		return;
	while (!s->more(s->st, out))
		;
	stream_release(s);
}

/* http_parser callbacks. */

enum { H_OTHER, H_AUTH, H_ACCEPT, H_XREASON, H_CTYPE, H_INM };

static struct mgmt_http_conn *
conn_of_parser(http_parser *p)
{
	return p->data;
}

static int
on_message_begin(http_parser *p)
{
	struct mgmt_http_conn *c = conn_of_parser(p);

	c->in_request = true;
	return 0;
}

static int
on_url(http_parser *p, const char *at, size_t n)
{
	struct mgmt_http_conn *c = conn_of_parser(p);

	if (c->req.url.len + n > MGMT_HTTP_MAX_URL) {
		c->too_large = true;
		c->too_large_status = 414;
		return 1;
	}
	mgmt_buf_add(&c->req.url, at, n);
	return 0;
}

static struct mgmt_buf *
header_target(struct mgmt_http_conn *c)
{
	switch (c->header_kind) {
	case H_AUTH: return &c->req.authorization;
	case H_ACCEPT: return &c->req.accept;
	case H_XREASON: return &c->req.x_reason;
	case H_CTYPE: return &c->req.content_type;
	case H_INM: return &c->req.if_none_match;
	default: return NULL;
	}
}

static int
check_header_bytes(struct mgmt_http_conn *c, size_t n)
{
	c->header_bytes += n;
	if (c->header_bytes > MGMT_HTTP_MAX_HEADERS) {
		c->too_large = true;
		c->too_large_status = 431;
		return 1;
	}
	return 0;
}

static int
on_header_field(http_parser *p, const char *at, size_t n)
{
	struct mgmt_http_conn *c = conn_of_parser(p);

	if (check_header_bytes(c, n))
		return 1;
	if (c->last_was_value) {
		buf_reset(&c->field);
		c->last_was_value = false;
	}
	mgmt_buf_add(&c->field, at, n);
	return 0;
}

static int
on_header_value(http_parser *p, const char *at, size_t n)
{
	struct mgmt_http_conn *c = conn_of_parser(p);

	if (check_header_bytes(c, n))
		return 1;
	if (!c->last_was_value) {
		const char *f = c->field.p ? c->field.p : "";
		c->header_kind = strcasecmp(f, "authorization") == 0 ? H_AUTH :
		                 strcasecmp(f, "accept") == 0        ? H_ACCEPT :
		                 strcasecmp(f, "x-reason") == 0      ? H_XREASON :
		                 strcasecmp(f, "content-type") == 0  ? H_CTYPE :
		                 strcasecmp(f, "if-none-match") == 0 ? H_INM : H_OTHER;
		c->last_was_value = true;
		struct mgmt_buf *t = header_target(c);
		if (t)
			buf_reset(t); /* a repeated header: the last one wins */
	}
	struct mgmt_buf *t = header_target(c);
	if (t)
		mgmt_buf_add(t, at, n);
	return 0;
}

static int
on_headers_complete(http_parser *p)
{
	struct mgmt_http_conn *c = conn_of_parser(p);

	if (p->content_length != ULLONG_MAX && p->content_length > MGMT_HTTP_MAX_BODY &&
	    !(p->flags & F_CHUNKED)) {
		c->too_large = true;
		c->too_large_status = 413;
		return -1; /* an error: the body is not read */
	}
	return 0;
}

static int
on_body(http_parser *p, const char *at, size_t n)
{
	struct mgmt_http_conn *c = conn_of_parser(p);

	if (c->req.body.len + n > MGMT_HTTP_MAX_BODY) {
		c->too_large = true;
		c->too_large_status = 413;
		return 1;
	}
	mgmt_buf_add(&c->req.body, at, n);
	return 0;
}

static int
on_message_complete(http_parser *p)
{
	struct mgmt_http_conn *c = conn_of_parser(p);

	c->complete = true;
	c->req.method = p->method;
	c->req.keep_alive = http_should_keep_alive(p) != 0;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

static void
req_reset(struct mgmt_http_conn *c)
{
	buf_reset(&c->req.url);
	buf_reset(&c->req.authorization);
	buf_reset(&c->req.accept);
	buf_reset(&c->req.x_reason);
	buf_reset(&c->req.content_type);
	buf_reset(&c->req.if_none_match);
	buf_reset(&c->req.body);
	buf_reset(&c->field);
	c->last_was_value = false;
	c->header_kind = H_OTHER;
	c->header_bytes = 0;
	c->in_request = false;
	c->req_started = 0;
	c->complete = false;
	/* make sure every buffer has a NUL-terminated (possibly empty) string */
	mgmt_buf_add(&c->req.url, "", 0);
	mgmt_buf_add(&c->req.body, "", 0);
	mgmt_buf_add(&c->req.authorization, "", 0);
	mgmt_buf_add(&c->req.accept, "", 0);
	mgmt_buf_add(&c->req.x_reason, "", 0);
	mgmt_buf_add(&c->req.content_type, "", 0);
	mgmt_buf_add(&c->req.if_none_match, "", 0);
}

void
mgmt_http_conn_init(struct mgmt_http_conn *c, int fd, mgmt_handler_fn handler)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->handler = handler;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	c->req.peer = c->peer;
	req_reset(c);
}

void
mgmt_http_conn_release(struct mgmt_http_conn *c)
{
	mgmt_buf_free(&c->req.url);
	mgmt_buf_free(&c->req.authorization);
	mgmt_buf_free(&c->req.accept);
	mgmt_buf_free(&c->req.x_reason);
	mgmt_buf_free(&c->req.content_type);
	mgmt_buf_free(&c->req.if_none_match);
	mgmt_buf_free(&c->req.body);
	mgmt_buf_free(&c->field);
	mgmt_buf_free(&c->out);
	mgmt_buf_free(&c->in);
	stream_release(&c->stream);
	defer_release(&c->defer);
}

static void
simple_error(struct mgmt_http_conn *c, int status)
{
	struct mgmt_resp resp;

	memset(&resp, 0, sizeof(resp));
	resp.status = status;
	mgmt_http_format(&c->out, &resp, false, false);
	mgmt_buf_free(&resp.body);
	c->closing = true;
}

static void respond(struct mgmt_http_conn *c, struct mgmt_resp *resp, bool head);
static void defer_step(struct mgmt_http_conn *c);

static void
dispatch(struct mgmt_http_conn *c)
{
	struct mgmt_resp resp;
	bool             head = c->req.method == HTTP_HEAD;

	memset(&resp, 0, sizeof(resp));
	resp.status = 500;
	c->handler(&c->req, &resp);
	if (!c->req.keep_alive)
		c->closing = true;
	if (resp.defer.step) {
		mgmt_buf_free(&resp.body);
		mgmt_buf_free(&resp.headers);
		c->defer = resp.defer;
		c->defer_head = head;
		if (c->fd < 0) /* tests, fuzzing: prepare it at once */
			while (c->defer.step)
				defer_step(c);
		return;
	}
	respond(c, &resp, head);
}

/* Send what a handler (or a deferred step) put in resp. */
static void
respond(struct mgmt_http_conn *c, struct mgmt_resp *resp_, bool head)
{
	struct mgmt_resp resp = *resp_;

	/* without a socket (tests, fuzzing) or a body to send, a stream is run at once */
	if (resp.stream.more && (c->fd < 0 || head || resp.status == 204 || resp.status < 200))
		mgmt_http_stream_drain(&resp.stream, &resp.body);
	if (resp.stream.more) {
		format_head(&c->out, &resp, false, !c->closing);
		mgmt_buf_add(&c->out, "transfer-encoding: chunked\r\n\r\n", 30);
		add_chunks(&c->out, resp.body.p, resp.body.len);
		c->stream = resp.stream;
	} else {
		mgmt_http_format(&c->out, &resp, head, !c->closing);
	}
	mgmt_buf_free(&resp.body);
	mgmt_buf_free(&resp.headers);
}

/* One turn's work on a deferred response; sends it once it is ready. */
static void
defer_step(struct mgmt_http_conn *c)
{
	struct mgmt_resp resp;

	memset(&resp, 0, sizeof(resp));
	resp.status = 500;
	if (!c->defer.step(c->defer.st, &resp)) {
		mgmt_buf_free(&resp.body);
		mgmt_buf_free(&resp.headers);
		return;
	}
	memset(&c->defer, 0, sizeof(c->defer)); /* resp has what st was: not released */
	respond(c, &resp, c->defer_head);
}

/*
 * The next slice of a streamed body, as one chunk.  The chunk size is
 * written with leading zeros in a fixed-width field reserved before the
 * slice is made, so the slice goes straight into the output buffer.
 */
static void
stream_step(struct mgmt_http_conn *c)
{
	size_t hdr = c->out.len;

	mgmt_buf_add(&c->out, "00000000\r\n", 10);
	bool   done = c->stream.more(c->stream.st, &c->out);
	size_t n = c->out.len - hdr - 10;
	if (n == 0) {
		c->out.len = hdr;
	} else {
		char sz[17];
		snprintf(sz, sizeof(sz), "%08zx", n);
		memcpy(c->out.p + hdr, sz, 8);
		mgmt_buf_add(&c->out, "\r\n", 2);
	}
	if (done) {
		mgmt_buf_add(&c->out, "0\r\n\r\n", 5);
		stream_release(&c->stream);
	}
}

int
mgmt_http_conn_feed(struct mgmt_http_conn *c, const char *data, size_t n)
{
	while (n > 0 && !c->closing) {
		if (c->stream.more || c->defer.step) {
			/* a response is still streaming: later requests wait their turn */
			mgmt_buf_add(&c->in, data, n);
			break;
		}
		size_t used = http_parser_execute(&c->parser, &settings, data, n);
		enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);

		if (c->complete) {
			/* paused at the end of a request */
			http_parser_pause(&c->parser, 0);
			dispatch(c);
			req_reset(c);
			data += used;
			n -= used;
			continue;
		}
		if (e != HPE_OK) {
			simple_error(c, c->too_large ? c->too_large_status : 400);
			return -1;
		}
		data += used;
		n -= used;
		if (used == 0)
			break;
	}
	return c->closing ? -1 : 0;
}

/* Sockets. */

static void client_free(struct mgmt_http_conn *c);
static void io_cb(struct ev_loop *loop, ev_io *w, int revents);

static void
arm_timer(struct ev_loop *loop, struct mgmt_http_conn *c)
{
	double after = MGMT_HTTP_IDLE_TIMEOUT;

	if (c->in_request) {
		/* the whole request must arrive in time, however slowly it trickles */
		if (c->req_started == 0)
			c->req_started = ev_now(loop);
		after = c->req_started + MGMT_HTTP_REQ_TIMEOUT - ev_now(loop);
		if (after < 0.001)
			after = 0.001;
	}
	ev_timer_stop(loop, &c->timer);
	ev_timer_set(&c->timer, after, 0.);
	ev_timer_start(loop, &c->timer);
}

/* Write what is pending; 0 when all is out, 1 when the socket is full, -1 on error. */
static int
flush_out(struct mgmt_http_conn *c)
{
	while (c->out_off < c->out.len) {
		struct iovec iov = { c->out.p + c->out_off, c->out.len - c->out_off };
		ssize_t      w = transport_writev(&c->tp, &iov, 1);
		if (w == TRANSPORT_AGAIN)
			return 1;
		if (w < 0)
			return -1;
		c->out_off += (size_t)w;
	}
	buf_reset(&c->out);
	c->out_off = 0;
	return 0;
}

static void
set_events(struct ev_loop *loop, struct mgmt_http_conn *c, int events)
{
	if (!ev_is_active(&c->io) || (c->io.events & (EV_READ | EV_WRITE)) != events) {
		ev_io_stop(loop, &c->io);
		ev_io_set(&c->io, c->fd, events);
		ev_io_start(loop, &c->io);
	}
	/* TLS may hold decrypted input the socket will not signal again */
	if (events == EV_READ && transport_pending(&c->tp))
		ev_feed_event(loop, &c->io, EV_READ);
}

/*
 * Drive a client: write; make the next slice of a streamed body (one per
 * loop turn, and only once the last one is out); then parse buffered
 * input while nothing is pending.
 */
static void
drive(struct ev_loop *loop, struct mgmt_http_conn *c)
{
	int rc = flush_out(c);

	if (rc == 0 && c->defer.step) {
		defer_step(c);
		rc = flush_out(c);
		if (rc == 0 && c->defer.step)
			rc = 1; /* come back next turn */
	}
	if (rc == 0 && c->stream.more) {
		stream_step(c);
		rc = flush_out(c);
		if (rc == 0 && c->stream.more)
			rc = 1; /* come back when writable, which is the next turn */
	}
	if (rc < 0 || (rc == 0 && c->closing)) {
		client_free(c);
		return;
	}
	if (rc == 0 && c->in.len && !c->closing) {
		/* pipelined bytes left over: handle them one request at a time */
		struct mgmt_buf pending = c->in;
		memset(&c->in, 0, sizeof(c->in));
		mgmt_http_conn_feed(c, pending.p, pending.len);
		mgmt_buf_free(&pending);
		rc = flush_out(c);
		if (rc == 0 && (c->stream.more || c->defer.step))
			rc = 1;
		if (rc < 0 || (rc == 0 && c->closing)) {
			client_free(c);
			return;
		}
	}
	set_events(loop, c, rc == 1 && !c->tp.write_wants_read ? EV_WRITE : EV_READ);
	arm_timer(loop, c);
}

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct mgmt_http_conn *c = (struct mgmt_http_conn *)w;
	char                   buf[READ_CHUNK];

	if (!c->tp.handshaken) {
		int rc = transport_handshake(&c->tp);
		if (rc == TRANSPORT_ERROR) {
			log_info("HTTPS handshake failed (%s): %s", c->peer, c->tp.error);
			client_free(c);
			return;
		}
		set_events(loop, c, rc == TRANSPORT_AGAIN && c->tp.handshake_wants_write ? EV_WRITE
		                                                                          : EV_READ);
		return;
	}
	if (((revents & EV_WRITE) && !c->tp.read_wants_write) ||
	    (c->tp.write_wants_read && c->out_off < c->out.len)) {
		drive(loop, c);
		return;
	}
	ssize_t r = transport_read(&c->tp, buf, sizeof(buf));
	if (r == 0 || r == TRANSPORT_ERROR) {
		client_free(c);
		return;
	}
	if (r == TRANSPORT_AGAIN) {
		set_events(loop, c, c->tp.read_wants_write ? EV_WRITE : EV_READ);
		return;
	}
	mgmt_http_conn_feed(c, buf, (size_t)r);
	drive(loop, c);
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct mgmt_http_conn *c =
		(struct mgmt_http_conn *)((char *)w - offsetof(struct mgmt_http_conn, timer));

	(void)revents;
	if (c->in_request && !c->closing && c->out.len == 0) {
		/* a slow or never-finishing request: 408, then close */
		simple_error(c, 408);
		flush_out(c);
	}
	(void)loop;
	client_free(c);
}

static void
client_free(struct mgmt_http_conn *c)
{
	struct mgmt_http_server *srv = c->srv;
	struct mgmt_http_conn  **pp;

	ev_io_stop(srv->loop, &c->io);
	ev_timer_stop(srv->loop, &c->timer);
	for (pp = &srv->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	srv->nconns--;
	transport_close(&c->tp);
	mgmt_http_conn_release(c);
	free(c);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct mgmt_http_server *srv = w->data;

	(void)revents;
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t               sl = sizeof(ss);
		int fd = accept4(w->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (srv->nconns >= MAX_CLIENTS) {
			close(fd);
			continue;
		}
		bool  control = false;
		uid_t uid = 0;
		if (ss.ss_family == AF_UNIX) {
			/* the control socket: the broker's own user or root, no one else */
			struct ucred cred;
			socklen_t    cl = sizeof(cred);
			if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 ||
			    (cred.uid != 0 && cred.uid != geteuid())) {
				log_warnx("control socket: refused a client with uid %ld",
				          cl == sizeof(cred) ? (long)cred.uid : -1L);
				close(fd);
				continue;
			}
			control = true;
			uid = cred.uid;
		} else {
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		struct mgmt_http_conn *c = xmalloc(sizeof(*c));
		mgmt_http_conn_init(c, fd, srv->handler);
		c->req.control = control;
		if (srv->tls)
			transport_tls_accept(&c->tp, srv->tls, fd);
		else
			transport_plain(&c->tp, fd);
		char host[INET6_ADDRSTRLEN] = "?";
		int  port = 0;
		if (control) {
			snprintf(c->peer, sizeof(c->peer), "local (uid %ld)", (long)uid);
		} else if (ss.ss_family == AF_INET) {
			struct sockaddr_in *s = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
			port = ntohs(s->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
			port = ntohs(s->sin6_port);
		}
		if (!control)
			snprintf(c->peer, sizeof(c->peer), "%s:%d", host, port);
		c->srv = srv;
		c->next = srv->conns;
		srv->conns = c;
		srv->nconns++;
		ev_io_init(&c->io, io_cb, fd, EV_READ);
		ev_io_start(loop, &c->io);
		ev_timer_init(&c->timer, timer_cb, MGMT_HTTP_IDLE_TIMEOUT, 0.);
		ev_timer_start(loop, &c->timer);
	}
}

static int
listen_on(struct mgmt_http_server *srv, const struct sockaddr *sa, socklen_t sl)
{
	int one = 1;

	if (srv->nlisteners == (int)(sizeof(srv->lio) / sizeof(srv->lio[0])))
		return 0;
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, sa, sl) < 0 || listen(fd, 128) < 0) {
		close(fd);
		return 0;
	}
	ev_io *w = &srv->lio[srv->nlisteners++];
	ev_io_init(w, accept_cb, fd, EV_READ);
	w->data = srv;
	ev_io_start(srv->loop, w);
	return 1;
}

int
mgmt_http_listen(struct mgmt_http_server *srv, struct ev_loop *loop, const char *host,
                 uint16_t port, mgmt_handler_fn handler)
{
	int n = 0;

	srv->loop = loop;
	srv->handler = handler;
	if (host == NULL) {
		struct sockaddr_in6 s6;
		struct sockaddr_in  s4;
		memset(&s6, 0, sizeof(s6));
		s6.sin6_family = AF_INET6;
		s6.sin6_addr = in6addr_any;
		s6.sin6_port = htons(port);
		n += listen_on(srv, (struct sockaddr *)&s6, sizeof(s6));
		memset(&s4, 0, sizeof(s4));
		s4.sin_family = AF_INET;
		s4.sin_addr.s_addr = htonl(INADDR_ANY);
		s4.sin_port = htons(port);
		n += listen_on(srv, (struct sockaddr *)&s4, sizeof(s4));
	} else {
		struct addrinfo hints, *res, *ai;
		char            ps[8];
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
		snprintf(ps, sizeof(ps), "%u", port);
		if (getaddrinfo(host, ps, &hints, &res) == 0) {
			for (ai = res; ai; ai = ai->ai_next)
				n += listen_on(srv, ai->ai_addr, ai->ai_addrlen);
			freeaddrinfo(res);
		}
	}
	if (n == 0) {
		log_warn("cannot listen for HTTP on port %u", port);
		return -1;
	}
	return 0;
}

void
mgmt_http_close_all(struct mgmt_http_server *srv)
{
	for (int i = 0; i < srv->nlisteners; i++) {
		ev_io_stop(srv->loop, &srv->lio[i]);
		close(srv->lio[i].fd);
	}
	srv->nlisteners = 0;
	while (srv->conns)
		client_free(srv->conns);
	if (srv->unix_path[0]) {
		unlink(srv->unix_path);
		srv->unix_path[0] = '\0';
	}
}

int
mgmt_http_listen_unix(struct mgmt_http_server *srv, struct ev_loop *loop, const char *path,
                      mgmt_handler_fn handler)
{
	struct sockaddr_un sun;
	size_t             n = strlen(path);
	mode_t             old;
	int                fd;

	srv->loop = loop;
	srv->handler = handler;
	if (n == 0 || n >= sizeof(sun.sun_path) || n >= sizeof(srv->unix_path)) {
		log_warnx("control socket path '%s' is too long (at most %zu bytes)", path,
		          sizeof(sun.sun_path) - 1);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, n);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		log_warn("control socket");
		return -1;
	}
	/* a socket left by a broker that died; a live one would hold the data folder too */
	unlink(path);
	old = umask(0177); /* created 0600, never wider even for an instant */
	int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc < 0 || listen(fd, 16) < 0) {
		log_warn("cannot listen on the control socket %s", path);
		close(fd);
		return -1;
	}
	memcpy(srv->unix_path, path, n + 1);
	ev_io *w = &srv->lio[srv->nlisteners++];
	ev_io_init(w, accept_cb, fd, EV_READ);
	w->data = srv;
	ev_io_start(loop, w);
	return 0;
}
