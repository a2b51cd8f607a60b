/*
 * A small HTTP/1.1 server on the broker's libev loop: one ev_io per
 * client, non-blocking, keep-alive and pipelining (one request at a time),
 * limits on header and body size (413), a timeout for slow requests (408)
 * and for idle keep-alive connections, chunked transfer encoding for large
 * responses.  Parsing is http_parser's (Debian's libhttp-parser); this
 * file only frames requests and responses.  What a request means is the
 * handler's business.
 */
#ifndef MGMT_HTTP_H
#define MGMT_HTTP_H

#include <ev.h>
#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/transport.h"

#define MGMT_HTTP_MAX_URL      8192
#define MGMT_HTTP_MAX_HEADERS  (64 * 1024)
#define MGMT_HTTP_MAX_BODY     (32 * 1024 * 1024)
#define MGMT_HTTP_REQ_TIMEOUT  15.0  /* seconds from a request's first byte to its last */
#define MGMT_HTTP_IDLE_TIMEOUT 120.0 /* keep-alive connection without a request */
#define MGMT_HTTP_CHUNK_OVER   (64 * 1024) /* larger bodies go out chunked */

/* A growable byte buffer. */
struct mgmt_buf {
	char  *p;   /* owned */
	size_t len, cap;
};

void mgmt_buf_add(struct mgmt_buf *b, const void *p, size_t n);
void mgmt_buf_printf(struct mgmt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mgmt_buf_free(struct mgmt_buf *b);

/* A parsed request; every pointer is owned by the connection until the response is queued. */
struct mgmt_req {
	int             method;      /* enum http_method */
	struct mgmt_buf url;         /* raw request target, NUL-terminated */
	struct mgmt_buf authorization, accept, x_reason, content_type, if_none_match;
	struct mgmt_buf body;        /* NUL-terminated */
	bool            keep_alive;
	bool            control;     /* came over the control socket: the broker's own user or root */
	const char     *peer;        /* borrowed: "host:port" of the client */
};

/*
 * A response body produced over several loop turns (large listings), so
 * that no single turn blocks the broker for long.  more() appends the next
 * slice (a few milliseconds' worth) to out and returns true once the body
 * is complete; release() frees st, whether or not the body was finished
 * (the client may go away mid-stream).  The body goes out chunked, one
 * slice per loop turn, and the next slice is made only once the previous
 * one is in the kernel, so a slow reader costs no memory.
 */
struct mgmt_stream {
	bool (*more)(void *st, struct mgmt_buf *out);
	void (*release)(void *st);
	void *st;                     /* owned by the stream */
};

/*
 * A response that takes several loop turns to prepare (a listing of
 * 100,000 queues): step() is called once per turn until it returns true,
 * having filled resp (status, headers, body, perhaps a stream) as a
 * handler would, and taken st over; nothing is sent before.  release()
 * frees st if the connection goes before that.
 */
struct mgmt_resp;
struct mgmt_defer {
	bool (*step)(void *st, struct mgmt_resp *resp);
	void (*release)(void *st);
	void *st;
};

/* The response a handler fills in. */
struct mgmt_resp {
	int             status;
	const char     *content_type; /* static string, NULL = no body type */
	struct mgmt_buf headers;      /* extra header lines, each ending in \r\n */
	struct mgmt_buf body;
	bool            no_cache;     /* add cache-control: no-cache */
	struct mgmt_stream stream;    /* more != NULL: the rest of the body, after body */
	struct mgmt_defer  defer;     /* step != NULL: the response is prepared later */
};

typedef void (*mgmt_handler_fn)(const struct mgmt_req *req, struct mgmt_resp *resp);

/* One client connection. */
struct mgmt_http_conn {
	ev_io           io;
	ev_timer        timer;
	int             fd;          /* -1 when driven without a socket (fuzzing, tests) */
	struct transport tp;         /* the byte stream on fd, plain or TLS (HTTPS) */
	char            peer[64];
	mgmt_handler_fn handler;
	http_parser     parser;
	struct mgmt_req req;
	struct mgmt_buf field;       /* header field being read */
	int             header_kind; /* which header the current value belongs to */
	bool            last_was_value;
	size_t          header_bytes;
	bool            in_request, complete, too_large, closing;
	double          req_started; /* ev_now() when the current request's first byte came */
	int             too_large_status;
	struct mgmt_buf out;         /* pending output */
	size_t          out_off;
	struct mgmt_buf in;          /* received, not yet parsed */
	struct mgmt_stream stream;   /* a response body still being produced */
	struct mgmt_defer  defer;    /* a response still being prepared */
	bool               defer_head; /* ... for a HEAD request */
	struct mgmt_http_conn *next; /* in the server's list */
	struct mgmt_http_server *srv;
};

struct mgmt_http_server {
	ev_io                  lio[4];
	int                    nlisteners;
	mgmt_handler_fn        handler;
	struct mgmt_http_conn *conns;
	struct ev_loop        *loop;
	size_t                 nconns;
	char                   unix_path[108]; /* a control socket's path, unlinked at close; "" = TCP */
	struct transport_tls  *tls;  /* borrowed; NULL = plain HTTP */
};

/*
 * Listen on port (all interfaces, IPv6 and IPv4) and serve with handler,
 * over TLS when srv->tls is set (HTTPS).  Returns 0, or -1 if no socket
 * could be bound (logged).
 */
int  mgmt_http_listen(struct mgmt_http_server *srv, struct ev_loop *loop, const char *host,
                      uint16_t port, mgmt_handler_fn handler);
void mgmt_http_close_all(struct mgmt_http_server *srv);

/*
 * Listen on a Unix domain socket at path (a stale socket there is
 * replaced), created 0600.  Only a peer whose uid is the broker's
 * effective uid, or root, is served (SO_PEERCRED); its requests carry
 * control = true.  Returns 0, or -1 (logged).
 */
int mgmt_http_listen_unix(struct mgmt_http_server *srv, struct ev_loop *loop, const char *path,
                          mgmt_handler_fn handler);

/*
 * The socket-free core, for the fuzzer and unit tests: initialise a
 * connection, feed it bytes (as many requests as they hold are handled,
 * the responses appended to c->out), release it.  feed returns -1 once
 * the connection must close (parse error, limits, Connection: close).
 */
void mgmt_http_conn_init(struct mgmt_http_conn *c, int fd, mgmt_handler_fn handler);
int  mgmt_http_conn_feed(struct mgmt_http_conn *c, const char *data, size_t n);
void mgmt_http_conn_release(struct mgmt_http_conn *c);

/*
 * Format a response (status line, headers, body; chunked when large) into
 * out.  A streamed body (resp->stream) must have been drained into
 * resp->body first; mgmt_http_stream_drain() does that.
 */
void mgmt_http_format(struct mgmt_buf *out, const struct mgmt_resp *resp, bool head,
                      bool keep_alive);

/* Run a stream to its end, appending to out, and release it. */
void mgmt_http_stream_drain(struct mgmt_stream *s, struct mgmt_buf *out);

const char *mgmt_http_reason(int status);

#endif
