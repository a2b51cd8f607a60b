/*
 * warrenctl: rabbitmqctl's everyday verbs for warren.  It speaks HTTP/1.1
 * to the management API over the broker's control socket (the data
 * folder's warren.sock, which only the broker's user or root may open),
 * and prints what rabbitmqctl 3.10 prints, with its exit codes, so that
 * scripts written for rabbitmqctl work by changing the command's name.
 */
#include "autoconfig.h"

#include <errno.h>
#include <http_parser.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <sysexits.h> /* rabbitmqctl exits with these: 64 usage, 69 unavailable, ... */
#include <unistd.h>

#ifndef WARREN_DEFAULT_SOCKET
#define WARREN_DEFAULT_SOCKET "/var/lib/warren/warren.sock"
#endif


/* A growable string. */
struct buf {
	char  *p;
	size_t len, cap;
};

static void
buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->cap - b->len < n + 1) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap - b->len < n + 1)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (np == NULL) {
			fputs("warrenctl: out of memory\n", stderr);
			exit(EX_SOFTWARE);
		}
		b->p = np;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int     n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	char *tmp = malloc((size_t)n + 1);
	if (tmp == NULL)
		exit(EX_SOFTWARE);
	va_start(ap, fmt);
	vsnprintf(tmp, (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf_add(b, tmp, (size_t)n);
	free(tmp);
}

static void
buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Options, global and per verb, accepted anywhere on the line as rabbitmqctl does. */
struct opts {
	const char *socket;
	const char *node;
	const char *vhost;
	bool        quiet, silent, no_headers, help, idempotent, if_empty, if_unused;
	bool        stdin_input;
	double      timeout;
	bool        timeout_set;
	const char *apply_to, *priority, *description, *tags, *default_queue_type;
	char      **pos;
	int         npos;
	char      **argv; /* the verb and its arguments as given, for messages */
	int         argc;
};

static struct opts o;

/* The connection to the broker. */

static const char *
socket_path(void)
{
	const char *env;

	if (o.socket)
		return o.socket;
	if ((env = getenv("WARREN_SOCKET")) != NULL && *env)
		return env;
	/* a broker started in this folder with its default --data-dir */
	if (access("warren-data/warren.sock", F_OK) == 0)
		return "warren-data/warren.sock";
	return WARREN_DEFAULT_SOCKET;
}

static const char *
node_name(void)
{
	return o.node ? o.node : "warren";
}

static void
unreachable(int err)
{
	fprintf(stderr,
	        "Error: unable to perform an operation on node '%s'. Please see diagnostics "
	        "information and suggestions below.\n\n"
	        "DIAGNOSTICS\n===========\n\n"
	        "attempted to contact the broker at its control socket %s: %s\n\n"
	        " * the broker may not be running (see systemctl status warren)\n"
	        " * warrenctl must run as the broker's user or root\n"
	        " * the socket is <data dir>/warren.sock: give it with --socket PATH or "
	        "$WARREN_SOCKET\n",
	        node_name(), socket_path(), strerror(err));
}

struct resp {
	int        status;
	struct buf body;
	bool       done;
};

static int
on_body(http_parser *p, const char *at, size_t n)
{
	struct resp *r = p->data;

	buf_add(&r->body, at, n);
	return 0;
}

static int
on_complete(http_parser *p)
{
	struct resp *r = p->data;

	r->done = true;
	r->status = (int)p->status_code;
	return 0;
}

/* Append s to b with every byte outside RFC 3986's unreserved set %-encoded. */
static void
url_seg(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			buf_add(b, p, 1);
		} else {
			char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };
			buf_add(b, e, 3);
		}
	}
}

/*
 * One request over a fresh connection.  Returns 0 with r filled in (any
 * status), or -1 with errno when the broker could not be reached or the
 * answer was cut short.
 */
static int
request(const char *method, const char *path, const char *body, const char *x_reason,
        struct resp *r)
{
	struct sockaddr_un sun;
	const char        *sp = socket_path();
	struct buf         req = { 0 };
	int                fd;
	size_t             blen = body ? strlen(body) : 0;

	memset(r, 0, sizeof(*r));
	if (strlen(sp) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, sp, strlen(sp));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	/* a broker that stops answering must not hang a script: rabbitmqctl's 60 s */
	double limit = o.timeout_set ? o.timeout : 60.0;
	if (limit > 0) {
		struct timeval tv = { (time_t)limit,
			              (suseconds_t)((limit - (double)(time_t)limit) * 1e6) };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	buf_printf(&req,
	           "%s %s HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n"
	           "accept: application/json\r\nuser-agent: warrenctl/%s\r\n",
	           method, path, PACKAGE_VERSION);
	if (x_reason)
		buf_printf(&req, "x-reason: %s\r\n", x_reason);
	if (body)
		buf_printf(&req, "content-type: application/json\r\ncontent-length: %zu\r\n", blen);
	buf_str(&req, "\r\n");
	if (body)
		buf_add(&req, body, blen);

	for (size_t off = 0; off < req.len;) {
		ssize_t w = send(fd, req.p + off, req.len - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int e = errno;
			buf_free(&req);
			close(fd);
			errno = e;
			return -1;
		}
		off += (size_t)w;
	}
	buf_free(&req);

	http_parser_settings settings;
	http_parser          parser;
	char                 chunk[16384];

	memset(&settings, 0, sizeof(settings));
	settings.on_body = on_body;
	settings.on_message_complete = on_complete;
	http_parser_init(&parser, HTTP_RESPONSE);
	parser.data = r;
	for (;;) {
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			errno = e == EAGAIN ? ETIMEDOUT : e;
			return -1;
		}
		size_t used = http_parser_execute(&parser, &settings, chunk, (size_t)n);
		if (r->done)
			break;
		if (n == 0 || used != (size_t)n || HTTP_PARSER_ERRNO(&parser) != HPE_OK) {
			close(fd);
			errno = EPROTO;
			return -1;
		}
	}
	close(fd);
	if (r->body.p == NULL)
		buf_add(&r->body, "", 0);
	return 0;
}

/* A request that must reach the broker: exits 69 when it cannot. */
static void
call(const char *method, const char *path, const char *body, const char *x_reason, struct resp *r)
{
	if (request(method, path, body, x_reason, r) != 0) {
		unreachable(errno);
		exit(EX_UNAVAILABLE);
	}
}

static void
resp_free(struct resp *r)
{
	buf_free(&r->body);
}

/* The "reason" of an error answer, or the body. */
static char *
error_reason(const struct resp *r)
{
	json_t *j = json_loads(r->body.p, 0, NULL);
	json_t *v = j ? json_object_get(j, "reason") : NULL;
	char   *s = strdup(json_is_string(v) ? json_string_value(v) :
	                   r->body.len ? r->body.p : "unknown error");

	json_decref(j);
	return s;
}

/* An answer no verb expected: print it, exit with the nearest code. */
static void
fail_unexpected(const struct resp *r)
{
	char *why = error_reason(r);

	fprintf(stderr, "Error:\n%s\n", why);
	free(why);
	exit(r->status == 404 ? EX_UNAVAILABLE :
	     r->status == 400 ? EX_DATAERR :
	     r->status == 401 ? EX_NOPERM : EX_SOFTWARE);
}

static json_t *
get_json(const char *path)
{
	struct resp r;
	json_t     *j;

	call("GET", path, NULL, NULL, &r);
	if (r.status != 200)
		fail_unexpected(&r);
	if ((j = json_loads(r.body.p, 0, NULL)) == NULL) {
		fprintf(stderr, "Error:\nthe broker's answer to %s is not JSON\n", path);
		exit(EX_SOFTWARE);
	}
	resp_free(&r);
	return j;
}

/* GET path; 1 if it exists, 0 if 404 (anything else is fatal). */
static int
exists(const char *path)
{
	struct resp r;

	call("GET", path, NULL, NULL, &r);
	int rc = r.status == 200 ? 1 : r.status == 404 ? 0 : -1;
	if (rc < 0)
		fail_unexpected(&r);
	resp_free(&r);
	return rc;
}

static char *
path1(const char *a, const char *s1)
{
	struct buf b = { 0 };

	buf_str(&b, a);
	url_seg(&b, s1);
	return b.p;
}

static char *
path2(const char *a, const char *s1, const char *mid, const char *s2)
{
	struct buf b = { 0 };

	buf_str(&b, a);
	url_seg(&b, s1);
	buf_str(&b, mid);
	url_seg(&b, s2);
	return b.p;
}

/* Informational lines, which -q and -s suppress. */
__attribute__((format(printf, 1, 2))) static void
info(const char *fmt, ...)
{
	va_list ap;

	if (o.quiet || o.silent)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout); /* before any error on stderr, in the order rabbitmqctl writes them */
}

/* Values as rabbitmqctl's table formatter writes Erlang terms. */

static void fmt_term(struct buf *b, json_t *v, bool top);

static void
fmt_quoted(struct buf *b, const char *s)
{
	buf_str(b, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			buf_add(b, "\\", 1);
		buf_add(b, s, 1);
	}
	buf_str(b, "\"");
}

static void
fmt_term(struct buf *b, json_t *v, bool top)
{
	const char *k;
	json_t     *x;
	size_t      i;
	bool        first = true;

	switch (json_typeof(v)) {
	case JSON_STRING:
		if (top)
			buf_str(b, json_string_value(v));
		else
			fmt_quoted(b, json_string_value(v));
		break;
	case JSON_INTEGER:
		buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		buf_printf(b, "%.15g", json_real_value(v));
		break;
	case JSON_TRUE:
		buf_str(b, "true");
		break;
	case JSON_FALSE:
		buf_str(b, "false");
		break;
	case JSON_NULL:
		if (!top)
			buf_str(b, "undefined");
		break;
	case JSON_OBJECT:
		/* a table: [{"key",value},...] */
		buf_str(b, "[");
		json_object_foreach (v, k, x) {
			if (!first)
				buf_str(b, ",");
			first = false;
			buf_str(b, "{");
			fmt_quoted(b, k);
			buf_str(b, ",");
			fmt_term(b, x, false);
			buf_str(b, "}");
		}
		buf_str(b, "]");
		break;
	case JSON_ARRAY:
		buf_str(b, "[");
		json_array_foreach (v, i, x) {
			if (i)
				buf_str(b, ",");
			fmt_term(b, x, false);
		}
		buf_str(b, "]");
		break;
	}
}

/* Tags as rabbitmqctl lists them: [administrator, monitoring]. */
static void
fmt_tags(struct buf *b, json_t *v)
{
	json_t *x;
	size_t  i;

	buf_str(b, "[");
	if (json_is_array(v)) {
		json_array_foreach (v, i, x) {
			if (i)
				buf_str(b, ", ");
			if (json_is_string(x))
				buf_str(b, json_string_value(x));
		}
	} else if (json_is_string(v) && *json_string_value(v)) {
		const char *s = json_string_value(v);
		while (*s) {
			size_t n = strcspn(s, ",");
			buf_add(b, s, n);
			s += n;
			if (*s == ',') {
				s++;
				if (*s)
					buf_str(b, ", ");
			}
		}
	}
	buf_str(b, "]");
}

/* Columns: the name rabbitmqctl takes, and how to get it from an API row. */
enum colkind {
	C_KEY,       /* the JSON key of the same name (or key) */
	C_CONST,     /* key holds the constant */
	C_TAGS,      /* key holds tags */
	C_JSON,      /* key's value as compact JSON */
	C_PROTOCOL,  /* {0,9,1} */
	C_CONN_PID,  /* the channel's connection: its pid with channel 0 */
	C_NODE_STATE /* cluster_state as [{node,state}] */
};

struct column {
	const char  *name;
	enum colkind kind;
	const char  *key; /* dotted path into the row; NULL = name */
};

static json_t *
row_get(json_t *row, const char *path)
{
	char        part[128];
	const char *p = path;

	while (row && *p) {
		size_t n = strcspn(p, ".");
		if (n >= sizeof(part))
			return NULL;
		memcpy(part, p, n);
		part[n] = '\0';
		row = json_object_get(row, part);
		p += n;
		if (*p == '.')
			p++;
	}
	return row;
}

static void
fmt_column(struct buf *b, json_t *row, const struct column *c)
{
	const char *key = c->key ? c->key : c->name;
	json_t     *v = c->kind == C_CONST ? NULL : row_get(row, key);

	switch (c->kind) {
	case C_CONST:
		buf_str(b, key);
		break;
	case C_TAGS:
		fmt_tags(b, v);
		break;
	case C_JSON:
		if (v) {
			char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
			if (s)
				buf_str(b, s);
			free(s);
		}
		break;
	case C_PROTOCOL:
		buf_str(b, "{0,9,1}");
		break;
	case C_CONN_PID:
		if (json_is_string(v)) {
			const char *s = json_string_value(v);
			const char *dot = strrchr(s, '.');
			if (dot) {
				buf_add(b, s, (size_t)(dot - s));
				buf_str(b, ".0>");
			}
		}
		break;
	case C_NODE_STATE: {
		const char *k;
		json_t     *x;
		bool        first = true;
		buf_str(b, "[");
		json_object_foreach (v, k, x) {
			buf_printf(b, "%s{%s,%s}", first ? "" : ",", k,
			           json_is_string(x) ? json_string_value(x) : "");
			first = false;
		}
		buf_str(b, "]");
		break;
	}
	case C_KEY:
		if (v)
			fmt_term(b, v, true);
		break;
	}
}

struct listing {
	const char          *verb;
	const struct column *cols;   /* every column the verb takes */
	size_t               ncols;
	const char *const   *defaults; /* NULL-terminated */
	bool                 takes_columns;
	const char          *path;     /* the API's listing; per vhost if it ends in '/' */
	const char          *banner, *banner_end; /* rabbitmqctl's first line, around the vhost */
};

static const struct column queue_cols[] = {
	{ "name", C_KEY, NULL }, { "messages", C_KEY, NULL },
	{ "messages_ready", C_KEY, NULL }, { "messages_unacknowledged", C_KEY, NULL },
	{ "consumers", C_KEY, NULL }, { "durable", C_KEY, NULL },
	{ "auto_delete", C_KEY, NULL }, { "exclusive", C_KEY, NULL },
	{ "arguments", C_KEY, NULL }, { "policy", C_KEY, NULL },
	{ "state", C_KEY, NULL }, { "type", C_KEY, NULL },
	{ "memory", C_KEY, NULL }, { "message_bytes", C_KEY, NULL },
	{ "message_bytes_ready", C_KEY, NULL }, { "message_bytes_unacknowledged", C_KEY, NULL },
	{ "message_bytes_ram", C_KEY, NULL }, { "message_bytes_persistent", C_KEY, NULL },
	{ "messages_ram", C_KEY, NULL }, { "messages_ready_ram", C_KEY, NULL },
	{ "messages_unacknowledged_ram", C_KEY, NULL }, { "messages_persistent", C_KEY, NULL },
	{ "consumer_utilisation", C_KEY, NULL }, { "consumer_capacity", C_KEY, NULL },
	{ "head_message_timestamp", C_KEY, NULL }, { "exclusive_consumer_tag", C_KEY, NULL },
	{ "exclusive_consumer_pid", C_KEY, NULL }, { "owner_pid", C_KEY, NULL },
	{ "pid", C_KEY, NULL }, { "disk_reads", C_KEY, NULL }, { "disk_writes", C_KEY, NULL },
	{ "leader", C_KEY, "node" }, { "members", C_KEY, NULL }, { "online", C_KEY, NULL },
	{ "slave_pids", C_KEY, NULL }, { "synchronised_slave_pids", C_KEY, NULL },
	{ "vhost", C_KEY, NULL },
};
static const char *const queue_defaults[] = { "name", "messages", NULL };

static const struct column exchange_cols[] = {
	{ "name", C_KEY, NULL }, { "type", C_KEY, NULL }, { "durable", C_KEY, NULL },
	{ "auto_delete", C_KEY, NULL }, { "internal", C_KEY, NULL },
	{ "arguments", C_KEY, NULL }, { "policy", C_KEY, NULL }, { "vhost", C_KEY, NULL },
};
static const char *const exchange_defaults[] = { "name", "type", NULL };

static const struct column binding_cols[] = {
	{ "source_name", C_KEY, "source" }, { "source_kind", C_CONST, "exchange" },
	{ "destination_name", C_KEY, "destination" },
	{ "destination_kind", C_KEY, "destination_type" }, { "routing_key", C_KEY, NULL },
	{ "arguments", C_KEY, NULL }, { "vhost", C_KEY, NULL },
};
static const char *const binding_defaults[] = { "source_name", "source_kind",
	                                         "destination_name", "destination_kind",
	                                         "routing_key", "arguments", NULL };

static const struct column conn_cols[] = {
	{ "pid", C_KEY, NULL }, { "name", C_KEY, NULL }, { "port", C_KEY, NULL },
	{ "host", C_KEY, NULL }, { "peer_port", C_KEY, NULL }, { "peer_host", C_KEY, NULL },
	{ "ssl", C_KEY, NULL }, { "ssl_protocol", C_KEY, NULL },
	{ "ssl_key_exchange", C_KEY, NULL }, { "ssl_cipher", C_KEY, NULL },
	{ "ssl_hash", C_KEY, NULL }, { "peer_cert_subject", C_KEY, NULL },
	{ "peer_cert_issuer", C_KEY, NULL }, { "peer_cert_validity", C_KEY, NULL },
	{ "state", C_KEY, NULL }, { "channels", C_KEY, NULL }, { "protocol", C_PROTOCOL, NULL },
	{ "auth_mechanism", C_KEY, NULL }, { "user", C_KEY, NULL }, { "vhost", C_KEY, NULL },
	{ "timeout", C_KEY, NULL }, { "frame_max", C_KEY, NULL },
	{ "channel_max", C_KEY, NULL }, { "client_properties", C_KEY, NULL },
	{ "recv_oct", C_KEY, NULL }, { "recv_cnt", C_KEY, NULL }, { "send_oct", C_KEY, NULL },
	{ "send_cnt", C_KEY, NULL }, { "send_pend", C_KEY, NULL },
	{ "connected_at", C_KEY, NULL }, { "node", C_KEY, NULL }, { "type", C_KEY, NULL },
	{ "user_who_performed_action", C_KEY, NULL }, { "user_provided_name", C_KEY, NULL },
};
static const char *const conn_defaults[] = { "user", "peer_host", "peer_port", "state", NULL };

static const struct column chan_cols[] = {
	{ "pid", C_KEY, NULL }, { "connection", C_CONN_PID, "pid" }, { "name", C_KEY, NULL },
	{ "number", C_KEY, NULL }, { "user", C_KEY, NULL }, { "vhost", C_KEY, NULL },
	{ "transactional", C_KEY, NULL }, { "confirm", C_KEY, NULL },
	{ "consumer_count", C_KEY, NULL }, { "messages_unacknowledged", C_KEY, NULL },
	{ "messages_uncommitted", C_KEY, NULL }, { "acks_uncommitted", C_KEY, NULL },
	{ "messages_unconfirmed", C_KEY, NULL }, { "prefetch_count", C_KEY, NULL },
	{ "global_prefetch_count", C_KEY, NULL }, { "node", C_KEY, NULL },
};
static const char *const chan_defaults[] = { "pid", "user", "consumer_count",
	                                      "messages_unacknowledged", NULL };

static const struct column consumer_cols[] = {
	{ "queue_name", C_KEY, "queue.name" }, { "channel_pid", C_KEY, NULL },
	{ "consumer_tag", C_KEY, NULL }, { "ack_required", C_KEY, NULL },
	{ "prefetch_count", C_KEY, NULL }, { "active", C_KEY, NULL },
	{ "activity_status", C_KEY, NULL }, { "arguments", C_KEY, NULL },
	{ "exclusive", C_KEY, NULL },
};
static const char *const consumer_defaults[] = { "queue_name", "channel_pid", "consumer_tag",
	                                          "ack_required", "prefetch_count", "active",
	                                          "arguments", NULL };

static const struct column user_cols[] = {
	{ "user", C_KEY, "name" }, { "tags", C_TAGS, NULL },
};
static const char *const user_defaults[] = { "user", "tags", NULL };

static const struct column vhost_cols[] = {
	{ "name", C_KEY, NULL }, { "description", C_KEY, NULL }, { "tags", C_TAGS, NULL },
	{ "tracing", C_KEY, NULL }, { "default_queue_type", C_KEY, NULL },
	{ "cluster_state", C_NODE_STATE, NULL }, { "metadata", C_KEY, NULL },
};
static const char *const vhost_defaults[] = { "name", NULL };

static const struct column perm_cols[] = {
	{ "user", C_KEY, NULL }, { "configure", C_KEY, NULL }, { "write", C_KEY, NULL },
	{ "read", C_KEY, NULL },
};
static const char *const perm_defaults[] = { "user", "configure", "write", "read", NULL };

static const struct column policy_cols[] = {
	{ "vhost", C_KEY, NULL }, { "name", C_KEY, NULL }, { "pattern", C_KEY, NULL },
	{ "apply-to", C_KEY, NULL }, { "definition", C_JSON, NULL }, { "priority", C_KEY, NULL },
};
static const char *const policy_defaults[] = { "vhost", "name", "pattern", "apply-to",
	                                        "definition", "priority", NULL };

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const struct listing listings[] = {
	{ "list_queues", queue_cols, NELEM(queue_cols), queue_defaults, true, "/api/queues/",
	  "Listing queues for vhost ", " ...\n" },
	{ "list_exchanges", exchange_cols, NELEM(exchange_cols), exchange_defaults, true,
	  "/api/exchanges/", "Listing exchanges for vhost ", " ...\n" },
	{ "list_bindings", binding_cols, NELEM(binding_cols), binding_defaults, true,
	  "/api/bindings/", "Listing bindings for vhost ", "...\n" },
	{ "list_connections", conn_cols, NELEM(conn_cols), conn_defaults, true, "/api/connections",
	  "Listing connections ...\n", "" },
	{ "list_channels", chan_cols, NELEM(chan_cols), chan_defaults, true, "/api/channels",
	  "Listing channels ...\n", "" },
	{ "list_consumers", consumer_cols, NELEM(consumer_cols), consumer_defaults, true,
	  "/api/consumers/", "Listing consumers in vhost ", " ...\n" },
	{ "list_users", user_cols, NELEM(user_cols), user_defaults, false, "/api/users",
	  "Listing users ...\n", "" },
	{ "list_vhosts", vhost_cols, NELEM(vhost_cols), vhost_defaults, true, "/api/vhosts",
	  "Listing vhosts ...\n", "" },
	{ "list_permissions", perm_cols, NELEM(perm_cols), perm_defaults, false, NULL, NULL, NULL },
	{ "list_policies", policy_cols, NELEM(policy_cols), policy_defaults, false, NULL, NULL, NULL },
};

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Resolve the columns asked for (rabbitmqctl also takes "a,b" lists). */
static size_t
pick_columns(const struct listing *l, const struct column **out, size_t max)
{
	size_t n = 0;
	struct buf bad = { 0 };

	if (o.npos == 0 || !l->takes_columns) {
		if (o.npos > 0)
			usage_error("too many arguments.");
		for (const char *const *d = l->defaults; *d && n < max; d++)
			for (size_t i = 0; i < l->ncols; i++)
				if (strcmp(l->cols[i].name, *d) == 0)
					out[n++] = &l->cols[i];
		return n;
	}
	for (int a = 0; a < o.npos; a++) {
		char *copy = strdup(o.pos[a]), *save = NULL;
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			size_t i;
			while (*t == ' ')
				t++;
			for (i = 0; i < l->ncols; i++)
				if (strcmp(l->cols[i].name, t) == 0)
					break;
			if (i == l->ncols) {
				buf_printf(&bad, "%s%s", bad.len ? ", " : "", t);
				continue;
			}
			if (n < max)
				out[n++] = &l->cols[i];
		}
		free(copy);
	}
	if (bad.len)
		usage_error("Info key(s) %s are not supported", bad.p);
	return n;
}

/* Print rows (a JSON array) as rabbitmqctl's table: a header, then tab-separated rows. */
static void
print_table(const struct listing *l, json_t *rows)
{
	const struct column *cols[64];
	size_t               n = pick_columns(l, cols, NELEM(cols));
	json_t              *row;
	size_t               i;
	struct buf           out = { 0 };

	if (!json_is_array(rows) || json_array_size(rows) == 0)
		return; /* rabbitmqctl prints no header for an empty list */
	if (!o.silent && !o.no_headers) {
		for (size_t c = 0; c < n; c++)
			buf_printf(&out, "%s%s", c ? "\t" : "", cols[c]->name);
		buf_str(&out, "\n");
	}
	json_array_foreach (rows, i, row) {
		for (size_t c = 0; c < n; c++) {
			if (c)
				buf_str(&out, "\t");
			fmt_column(&out, row, cols[c]);
		}
		buf_str(&out, "\n");
	}
	fwrite(out.p, 1, out.len, stdout);
	buf_free(&out);
}

static const struct listing *
listing(const char *verb)
{
	for (size_t i = 0; i < NELEM(listings); i++)
		if (strcmp(listings[i].verb, verb) == 0)
			return &listings[i];
	return NULL;
}

static const char *
vhost(void)
{
	return o.vhost ? o.vhost : "/";
}

/* The verbs. */

struct verb {
	const char *name;
	int (*fn)(const struct verb *v);
	int         min_args, max_args; /* positional arguments; max -1 = any */
	const char *usage;              /* after "warrenctl [--node <node>] [--quiet] " */
	const char *help;
};

static const struct verb *cur_verb;

static void
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("Error (argument validation): ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nArguments given:\n\t", stderr);
	for (int i = 0; i < o.argc; i++)
		fprintf(stderr, "%s%s", i ? " " : "", o.argv[i]);
	if (cur_verb)
		fprintf(stderr, "\n\nUsage\n\nwarrenctl [--node <node>] [--quiet] %s\n", cur_verb->usage);
	else
		fputs("\n", stderr);
	exit(EX_USAGE);
}

static int
list_generic(const char *verb, const char *path, bool vhost_404_empty)
{
	const struct listing *l = listing(verb);
	struct resp           r;
	json_t               *rows;

	call("GET", path, NULL, NULL, &r);
	if (r.status == 404 && vhost_404_empty) {
		/* rabbitmqctl lists nothing for a vhost that does not exist */
		resp_free(&r);
		return EX_OK;
	}
	if (r.status != 200)
		fail_unexpected(&r);
	rows = json_loads(r.body.p, 0, NULL);
	resp_free(&r);
	print_table(l, rows);
	json_decref(rows);
	return EX_OK;
}

/* The listings that are one GET (of the vhost's objects if the path ends in '/'). */
static int
v_list(const struct verb *v)
{
	const struct listing *l = listing(v->name);
	size_t                n = strlen(l->path);

	if (strcmp(v->name, "list_queues") == 0)
		info("Timeout: %.1f seconds ...\n", o.timeout_set ? o.timeout : 60.0);
	if (l->path[n - 1] != '/') {
		info("%s", l->banner);
		return list_generic(v->name, l->path, false);
	}
	char *p = path1(l->path, vhost());
	info("%s%s%s", l->banner, vhost(), l->banner_end);
	int rc = list_generic(v->name, p, true);
	free(p);
	return rc;
}

static int
v_list_permissions(const struct verb *v)
{
	char       *p = path2("/api/vhosts/", vhost(), "/permissions", "");
	struct resp r;

	info("Listing permissions for vhost \"%s\" ...\n", vhost());
	call("GET", p, NULL, NULL, &r);
	free(p);
	if (r.status == 404) {
		resp_free(&r);
		fprintf(stderr, "Virtual host '%s' does not exist\n", vhost());
		return EX_DATAERR;
	}
	if (r.status != 200)
		fail_unexpected(&r);
	json_t *rows = json_loads(r.body.p, 0, NULL);
	resp_free(&r);
	if (json_array_size(rows) == 0)
		fputs("\n", stdout); /* as rabbitmqctl 3.10 does, even with -q or -s */
	print_table(listing(v->name), rows);
	json_decref(rows);
	return EX_OK;
}

static int
v_list_policies(const struct verb *v)
{
	char       *p = path1("/api/policies/", vhost());
	struct resp r;

	info("Listing policies for vhost \"%s\" ...\n", vhost());
	call("GET", p, NULL, NULL, &r);
	free(p);
	if (r.status == 404) {
		resp_free(&r);
		fprintf(stderr, "Virtual host '%s' does not exist\n", vhost());
		return EX_DATAERR;
	}
	if (r.status != 200)
		fail_unexpected(&r);
	json_t *rows = json_loads(r.body.p, 0, NULL);
	resp_free(&r);
	if (json_array_size(rows) == 0)
		fputs("\n", stdout); /* as rabbitmqctl 3.10 does, even with -q or -s */
	print_table(listing(v->name), rows);
	json_decref(rows);
	return EX_OK;
}

/* Users. */

static json_t *
get_user(const char *name)
{
	char       *p = path1("/api/users/", name);
	struct resp r;
	json_t     *u = NULL;

	call("GET", p, NULL, NULL, &r);
	free(p);
	if (r.status == 200)
		u = json_loads(r.body.p, 0, NULL);
	else if (r.status != 404)
		fail_unexpected(&r);
	resp_free(&r);
	return u;
}

static int
put_json(const char *path, json_t *body, struct resp *r)
{
	char *s = json_dumps(body, JSON_COMPACT);

	call("PUT", path, s, NULL, r);
	free(s);
	return r->status;
}

static char *
read_password(void)
{
	char   *line = NULL;
	size_t  cap = 0;
	ssize_t n = getline(&line, &cap, stdin);

	if (n < 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

static int
v_add_user(const struct verb *v)
{
	const char *name = o.pos[0];
	char       *pw = o.npos > 1 ? strdup(o.pos[1]) : NULL;
	json_t     *u;
	struct resp r;

	(void)v;
	info("Adding user \"%s\" ...\n", name);
	if (pw == NULL && (pw = read_password()) == NULL)
		usage_error("not enough arguments.");
	if ((u = get_user(name)) != NULL) {
		json_decref(u);
		free(pw);
		fprintf(stderr, "Error:\nUser \"%s\" already exists\n", name);
		return EX_SOFTWARE;
	}
	char   *p = path1("/api/users/", name);
	json_t *body = json_pack("{s:s,s:s}", "password", pw, "tags", "");
	put_json(p, body, &r);
	json_decref(body);
	free(p);
	free(pw);
	if (r.status != 201 && r.status != 204)
		fail_unexpected(&r);
	resp_free(&r);
	info("Done. Don't forget to grant the user permissions to some virtual hosts! See "
	     "'warrenctl help set_permissions' to learn more.\n");
	return EX_OK;
}

static int
v_delete_user(const struct verb *v)
{
	char       *p = path1("/api/users/", o.pos[0]);
	struct resp r;

	(void)v;
	info("Deleting user \"%s\" ...\n", o.pos[0]);
	call("DELETE", p, NULL, NULL, &r);
	free(p);
	if (r.status == 404) {
		resp_free(&r);
		fprintf(stderr, "Error:\nUser \"%s\" does not exist\n", o.pos[0]);
		return EX_NOUSER;
	}
	if (r.status != 204)
		fail_unexpected(&r);
	resp_free(&r);
	return EX_OK;
}

/* PUT a user back with changes; the tags are kept unless given. */
static int
update_user(const char *name, json_t *u, const char *password, json_t *tags)
{
	char       *p = path1("/api/users/", name);
	json_t     *body = json_object();
	struct resp r;

	json_object_set(body, "tags", tags ? tags : json_object_get(u, "tags"));
	if (password)
		json_object_set_new(body, "password", json_string(password));
	put_json(p, body, &r);
	json_decref(body);
	free(p);
	if (r.status != 201 && r.status != 204)
		fail_unexpected(&r);
	resp_free(&r);
	return EX_OK;
}

static int
v_change_password(const struct verb *v)
{
	json_t *u;

	(void)v;
	info("Changing password for user \"%s\" ...\n", o.pos[0]);
	if ((u = get_user(o.pos[0])) == NULL) {
		fprintf(stderr, "Error:\nUser \"%s\" does not exist\n", o.pos[0]);
		return EX_NOUSER;
	}
	int rc = update_user(o.pos[0], u, o.pos[1], NULL);
	json_decref(u);
	return rc;
}

static int
v_set_user_tags(const struct verb *v)
{
	json_t    *u, *tags = json_array();
	struct buf shown = { 0 };

	(void)v;
	for (int i = 1; i < o.npos; i++) {
		json_array_append_new(tags, json_string(o.pos[i]));
		buf_printf(&shown, "%s%s", i > 1 ? ", " : "", o.pos[i]);
	}
	info("Setting tags for user \"%s\" to [%s] ...\n", o.pos[0], shown.p ? shown.p : "");
	buf_free(&shown);
	if ((u = get_user(o.pos[0])) == NULL) {
		json_decref(tags);
		fprintf(stderr, "Error:\nUser \"%s\" does not exist\n", o.pos[0]);
		return EX_NOUSER;
	}
	int rc = update_user(o.pos[0], u, NULL, tags);
	json_decref(u);
	json_decref(tags);
	return rc;
}

/* Virtual hosts and permissions. */

static int
v_add_vhost(const struct verb *v)
{
	char       *p = path1("/api/vhosts/", o.pos[0]);
	json_t     *body = json_object();
	struct resp r;

	(void)v;
	info("Adding vhost \"%s\" ...\n", o.pos[0]);
	if (o.description)
		json_object_set_new(body, "description", json_string(o.description));
	if (o.tags)
		json_object_set_new(body, "tags", json_string(o.tags));
	if (o.default_queue_type)
		json_object_set_new(body, "default_queue_type", json_string(o.default_queue_type));
	put_json(p, body, &r);
	json_decref(body);
	free(p);
	if (r.status != 201 && r.status != 204)
		fail_unexpected(&r);
	resp_free(&r);
	return EX_OK;
}

static int
v_delete_vhost(const struct verb *v)
{
	char       *p = path1("/api/vhosts/", o.pos[0]);
	struct resp r;

	(void)v;
	info("Deleting vhost \"%s\" ...\n", o.pos[0]);
	call("DELETE", p, NULL, NULL, &r);
	free(p);
	if (r.status == 404) {
		resp_free(&r);
		fprintf(stderr, "Virtual host '%s' does not exist\n", o.pos[0]);
		return EX_DATAERR;
	}
	if (r.status != 204)
		fail_unexpected(&r);
	resp_free(&r);
	return EX_OK;
}

/* rabbitmqctl's checks before a permission change: the user, then the vhost. */
static int
check_user_vhost(const char *user)
{
	char *p = path1("/api/users/", user);
	int   e = exists(p);

	free(p);
	if (!e) {
		fprintf(stderr, "Error:\nUser %s does not exist\n", user);
		return EX_NOUSER;
	}
	p = path1("/api/vhosts/", vhost());
	e = exists(p);
	free(p);
	if (!e) {
		fprintf(stderr, "Error:\nVirtual host %s does not exist\n", vhost());
		return EX_UNAVAILABLE;
	}
	return EX_OK;
}

static int
v_set_permissions(const struct verb *v)
{
	struct resp r;
	int         rc;

	(void)v;
	info("Setting permissions for user \"%s\" in vhost \"%s\" ...\n", o.pos[0], vhost());
	if ((rc = check_user_vhost(o.pos[0])) != EX_OK)
		return rc;
	char   *p = path2("/api/permissions/", vhost(), "/", o.pos[0]);
	json_t *body = json_pack("{s:s,s:s,s:s}", "configure", o.pos[1], "write", o.pos[2], "read",
	                         o.pos[3]);
	put_json(p, body, &r);
	json_decref(body);
	free(p);
	if (r.status != 201 && r.status != 204)
		fail_unexpected(&r);
	resp_free(&r);
	return EX_OK;
}

static int
v_clear_permissions(const struct verb *v)
{
	struct resp r;
	int         rc;

	(void)v;
	info("Clearing permissions for user \"%s\" in vhost \"%s\" ...\n", o.pos[0], vhost());
	if ((rc = check_user_vhost(o.pos[0])) != EX_OK)
		return rc;
	char *p = path2("/api/permissions/", vhost(), "/", o.pos[0]);
	call("DELETE", p, NULL, NULL, &r);
	free(p);
	if (r.status != 204 && r.status != 404) /* none to clear is fine */
		fail_unexpected(&r);
	resp_free(&r);
	return EX_OK;
}

/* Policies. */

static int
v_set_policy(const struct verb *v)
{
	const char  *prio = o.priority ? o.priority : "0";
	json_error_t jerr;
	json_t      *def;
	long long    pr;
	char        *end;
	struct resp  r;

	(void)v;
	info("Setting policy \"%s\" for pattern \"%s\" to \"%s\" with priority \"%s\" for vhost "
	     "\"%s\" ...\n",
	     o.pos[0], o.pos[1], o.pos[2], prio, vhost());
	errno = 0;
	pr = strtoll(prio, &end, 10);
	if (*prio == '\0' || *end != '\0' || errno != 0) {
		fprintf(stderr, "Error:\nValidation failed\n\npriority must be an integer, got %s\n\n",
		        prio);
		return EX_UNAVAILABLE;
	}
	if ((def = json_loads(o.pos[2], JSON_DECODE_ANY, &jerr)) == NULL) {
		fputs("Error:\nJSON decoding error. Reason: badarg\n", stderr);
		return EX_UNAVAILABLE;
	}
	char   *p = path2("/api/policies/", vhost(), "/", o.pos[0]);
	json_t *body = json_pack("{s:s,s:o,s:I,s:s}", "pattern", o.pos[1], "definition", def,
	                         "priority", (json_int_t)pr, "apply-to",
	                         o.apply_to ? o.apply_to : "all");
	put_json(p, body, &r);
	json_decref(body);
	free(p);
	if (r.status == 400) {
		char *why = error_reason(&r);
		if (strncmp(why, "Validation failed", 17) == 0)
			fprintf(stderr, "Error:\n%s\n", why); /* the API's text is rabbitmqctl's */
		else
			fprintf(stderr, "Error:\nValidation failed\n\n%s\n\n", why);
		free(why);
		resp_free(&r);
		return EX_UNAVAILABLE;
	}
	if (r.status == 404) {
		fprintf(stderr, "Error:\nVirtual host %s does not exist\n", vhost());
		resp_free(&r);
		return EX_UNAVAILABLE;
	}
	if (r.status != 201 && r.status != 204)
		fail_unexpected(&r);
	resp_free(&r);
	return EX_OK;
}

static int
v_clear_policy(const struct verb *v)
{
	char       *p = path2("/api/policies/", vhost(), "/", o.pos[0]);
	struct resp r;

	(void)v;
	info("Clearing policy \"%s\" on vhost \"%s\" ...\n", o.pos[0], vhost());
	call("DELETE", p, NULL, NULL, &r);
	free(p);
	if (r.status == 404) {
		fputs("Error:\nParameter does not exist\n", stderr);
		resp_free(&r);
		return EX_UNAVAILABLE;
	}
	if (r.status != 204)
		fail_unexpected(&r);
	resp_free(&r);
	return EX_OK;
}

/* Queues. */

static int
v_purge_queue(const struct verb *v)
{
	char       *p = path2("/api/queues/", vhost(), "/", o.pos[0]);
	struct resp r;

	(void)v;
	info("Purging queue '%s' in vhost '%s' ...\n", o.pos[0], vhost());
	struct buf full = { 0 };
	buf_printf(&full, "%s/contents", p);
	free(p);
	call("DELETE", full.p, NULL, NULL, &r);
	buf_free(&full);
	if (r.status == 404) {
		fputs("Error:\nnot_found\n", stderr);
		resp_free(&r);
		return EX_UNAVAILABLE;
	}
	if (r.status != 204)
		fail_unexpected(&r);
	resp_free(&r);
	return EX_OK;
}

static int
v_delete_queue(const struct verb *v)
{
	char       *p = path2("/api/queues/", vhost(), "/", o.pos[0]);
	struct resp r;
	json_int_t  ready = 0;

	(void)v;
	info("Deleting queue '%s' on vhost '%s' ...\n", o.pos[0], vhost());
	call("GET", p, NULL, NULL, &r);
	if (r.status == 404) {
		free(p);
		resp_free(&r);
		fputs("Error:\nQueue not found\n", stderr);
		return EX_USAGE; /* what rabbitmqctl 3.10 returns here */
	}
	if (r.status != 200)
		fail_unexpected(&r);
	json_t *q = json_loads(r.body.p, 0, NULL);
	resp_free(&r);
	ready = json_integer_value(json_object_get(q, "messages"));
	json_decref(q);

	struct buf full = { 0 };
	buf_str(&full, p);
	free(p);
	if (o.if_empty || o.if_unused)
		buf_printf(&full, "?%s%s%s", o.if_empty ? "if-empty=true" : "",
		           o.if_empty && o.if_unused ? "&" : "", o.if_unused ? "if-unused=true" : "");
	call("DELETE", full.p, NULL, NULL, &r);
	buf_free(&full);
	if (r.status == 404) {
		resp_free(&r);
		fputs("Error:\nQueue not found\n", stderr);
		return EX_USAGE;
	}
	if (r.status == 400) {
		char *why = error_reason(&r);
		fprintf(stderr, "Error:\n%s\n", why);
		free(why);
		resp_free(&r);
		return EX_DATAERR;
	}
	if (r.status != 204)
		fail_unexpected(&r);
	resp_free(&r);
	info("Queue was successfully deleted with %" JSON_INTEGER_FORMAT " ready messages\n", ready);
	return EX_OK;
}

/* Connections. */

static int
v_close_connection(const struct verb *v)
{
	json_t     *conns, *c;
	size_t      i;
	const char *name = NULL;
	struct resp r;

	(void)v;
	info("Closing connection %s, reason: %s...\n", o.pos[0], o.pos[1]);
	conns = get_json("/api/connections");
	json_array_foreach (conns, i, c) {
		const char *pid = json_string_value(json_object_get(c, "pid"));
		const char *n = json_string_value(json_object_get(c, "name"));
		if ((pid && strcmp(pid, o.pos[0]) == 0) || (n && strcmp(n, o.pos[0]) == 0)) {
			name = n;
			break;
		}
	}
	if (name == NULL) {
		json_decref(conns);
		fprintf(stderr, "Error:\nno connection with pid or name '%s'\n", o.pos[0]);
		return EX_UNAVAILABLE;
	}
	char *p = path1("/api/connections/", name);
	call("DELETE", p, NULL, o.pos[1], &r);
	free(p);
	json_decref(conns);
	if (r.status != 204 && r.status != 404) /* gone meanwhile: closed all the same */
		fail_unexpected(&r);
	resp_free(&r);
	return EX_OK;
}

/* Definitions. */

static int
v_export_definitions(const struct verb *v)
{
	struct resp r;
	const char *dest = o.pos[0];

	(void)v;
	if (strcmp(dest, "-") != 0)
		info("Exporting definitions in JSON to a file at \"%s\" ...\n", dest);
	call("GET", "/api/definitions", NULL, NULL, &r);
	if (r.status != 200)
		fail_unexpected(&r);
	if (strcmp(dest, "-") == 0) {
		fwrite(r.body.p, 1, r.body.len, stdout);
		resp_free(&r);
		return EX_OK;
	}
	FILE *f = fopen(dest, "w");
	if (f == NULL || fwrite(r.body.p, 1, r.body.len, f) != r.body.len || fclose(f) != 0) {
		fprintf(stderr, "Error:\n%s: %s\n", dest, strerror(errno));
		resp_free(&r);
		return EX_DATAERR; /* cannot write the file */
	}
	resp_free(&r);
	return EX_OK;
}

static int
v_import_definitions(const struct verb *v)
{
	bool        from_stdin = o.stdin_input || o.npos == 0 || strcmp(o.pos[0], "-") == 0;
	struct buf  in = { 0 };
	char        chunk[65536];
	size_t      n;
	FILE       *f = stdin;
	struct resp r;

	(void)v;
	if (from_stdin)
		info("Importing definitions in JSON from standard input ...\n");
	else
		info("Importing definitions in JSON from a file at \"%s\" ...\n", o.pos[0]);
	if (!from_stdin && (f = fopen(o.pos[0], "r")) == NULL) {
		fprintf(stderr, "Error:\n%s: %s\n", o.pos[0], strerror(errno));
		return EX_DATAERR;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&in, chunk, n);
	if (!from_stdin)
		fclose(f);
	buf_add(&in, "", 0);
	json_t *parsed = json_loads(in.p, 0, NULL);
	if (!json_is_object(parsed)) {
		json_decref(parsed);
		buf_free(&in);
		fputs("Error:\nFailed to decode definitions: not a JSON object\n", stderr);
		return EX_DATAERR;
	}
	json_decref(parsed);
	call("POST", "/api/definitions", in.p, NULL, &r);
	buf_free(&in);
	if (r.status == 400) {
		char *why = error_reason(&r);
		fprintf(stderr, "Error:\n%s\n", why);
		free(why);
		resp_free(&r);
		return EX_DATAERR;
	}
	if (r.status != 204 && r.status != 201 && r.status != 200)
		fail_unexpected(&r);
	resp_free(&r);
	info("Successfully started definition import. This process is asynchronous and can take "
	     "some time.\n");
	return EX_OK;
}

/* The node. */

static double
gb(json_t *v)
{
	return (double)json_integer_value(v) / 1e9;
}

static int
v_status(const struct verb *v)
{
	json_t     *st = get_json("/api/ctl/status");
	json_t     *ov = get_json("/api/overview");
	json_t     *nodes = get_json("/api/nodes");
	json_t     *vhosts = get_json("/api/vhosts");
	json_t     *n = json_array_get(nodes, 0);
	json_t     *tot = json_object_get(ov, "object_totals");
	json_t     *l;
	size_t      i;
	const char *s;

	(void)v;
	info("Status of node %s ...\n", json_string_value(json_object_get(st, "node")));
	printf("Runtime\n\n");
	printf("OS PID: %" JSON_INTEGER_FORMAT "\n", json_integer_value(json_object_get(st, "pid")));
	printf("OS: Linux\n");
	printf("Uptime (seconds): %" JSON_INTEGER_FORMAT "\n",
	       json_integer_value(json_object_get(st, "uptime")));
	printf("Is under maintenance?: false\n");
	printf("RabbitMQ version: %s\n",
	       (s = json_string_value(json_object_get(ov, "rabbitmq_version"))) ? s : "");
	printf("warren version: %s\n", json_string_value(json_object_get(st, "version")));
	printf("Node name: %s\n", json_string_value(json_object_get(st, "node")));
	printf("\nData directory\n\nNode data directory: %s\n",
	       (s = json_string_value(json_object_get(st, "data_dir"))) ? s : "");
	printf("Control socket: %s\n",
	       (s = json_string_value(json_object_get(st, "control_socket"))) ? s : "");
	printf("\nConfig files\n\n");
	if ((s = json_string_value(json_object_get(st, "config_file"))) != NULL)
		printf(" * %s\n", s);
	printf("\nLog file(s)\n\n");
	if ((s = json_string_value(json_object_get(st, "log_file"))) != NULL)
		printf(" * %s\n", s);
	if (json_is_true(json_object_get(st, "log_console")))
		printf(" * <stderr>\n");
	printf("\nAlarms\n\n");
	bool mem = json_is_true(json_object_get(n, "mem_alarm"));
	bool disk = json_is_true(json_object_get(n, "disk_free_alarm"));
	if (!mem && !disk)
		printf("(none)\n");
	if (mem)
		printf("Memory alarm on node %s\n", json_string_value(json_object_get(st, "node")));
	if (disk)
		printf("Free disk space alarm on node %s\n",
		       json_string_value(json_object_get(st, "node")));
	printf("\nMemory\n\n");
	printf("Total memory used: %.4f gb\n", gb(json_object_get(n, "mem_used")));
	printf("Calculation strategy: rss\n");
	printf("Memory high watermark setting: computed to: %.4f gb\n",
	       gb(json_object_get(n, "mem_limit")));
	printf("\nFile Descriptors\n\n");
	printf("Total: %" JSON_INTEGER_FORMAT ", limit: %" JSON_INTEGER_FORMAT "\n",
	       json_integer_value(json_object_get(n, "fd_used")),
	       json_integer_value(json_object_get(n, "fd_total")));
	printf("\nFree Disk Space\n\n");
	printf("Low free disk space watermark: %.4f gb\n", gb(json_object_get(n, "disk_free_limit")));
	printf("Free disk space: %.4f gb\n", gb(json_object_get(n, "disk_free")));
	printf("\nTotals\n\n");
	printf("Connection count: %" JSON_INTEGER_FORMAT "\n",
	       json_integer_value(json_object_get(tot, "connections")));
	printf("Queue count: %" JSON_INTEGER_FORMAT "\n",
	       json_integer_value(json_object_get(tot, "queues")));
	printf("Virtual host count: %zu\n", json_array_size(vhosts));
	printf("\nListeners\n\n");
	json_array_foreach (json_object_get(ov, "listeners"), i, l) {
		const char *proto = json_string_value(json_object_get(l, "protocol"));
		const char *ip = json_string_value(json_object_get(l, "ip_address"));
		const char *purpose = !proto ? "" :
		                      strcmp(proto, "amqp") == 0 ? "AMQP 0-9-1 and AMQP 1.0" :
		                      strcmp(proto, "http") == 0 ? "HTTP API" :
		                      strcmp(proto, "http/prometheus") == 0 ?
		                                                 "Prometheus exporter API over HTTP" :
		                                                 "";
		json_int_t  port = json_integer_value(json_object_get(l, "port"));
		bool        v6 = ip && strchr(ip, ':') != NULL;
		if (port == 0)
			continue; /* a listener that is off */
		printf("Interface: %s%s%s, port: %" JSON_INTEGER_FORMAT ", protocol: %s, purpose: %s\n",
		       v6 ? "[" : "", ip ? ip : "", v6 ? "]" : "", port, proto ? proto : "", purpose);
	}
	json_decref(st);
	json_decref(ov);
	json_decref(nodes);
	json_decref(vhosts);
	return EX_OK;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
v_await_startup(const struct verb *v)
{
	double      deadline = now() + (o.timeout_set ? o.timeout : 300.0);
	struct resp r;
	int         err = 0;

	(void)v;
	for (;;) {
		if (request("GET", "/api/ctl/status", NULL, NULL, &r) == 0) {
			int status = r.status;
			resp_free(&r);
			if (status == 200)
				return EX_OK;
			err = EPROTO;
		} else {
			err = errno;
		}
		if (now() >= deadline)
			break;
		usleep(100 * 1000);
	}
	unreachable(err);
	return EX_UNAVAILABLE;
}

/* Is the process still running?  A zombie (exited, not yet reaped by its parent) is not. */
static bool
running(pid_t pid)
{
	char  path[64], buf[512];
	FILE *f;
	bool  zombie = false;

	if (kill(pid, 0) != 0 && errno == ESRCH)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(buf, sizeof(buf), f) != NULL) {
			char *rp = strrchr(buf, ')'); /* "pid (comm) S ...": comm may hold anything */
			zombie = rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
		}
		fclose(f);
	}
	return !zombie;
}

static int
v_stop(const struct verb *v)
{
	struct resp r;
	double      deadline = now() + (o.timeout_set ? o.timeout : 120.0);

	(void)v;
	info("Stopping and halting node %s ...\n", node_name());
	if (request("POST", "/api/ctl/stop", "", NULL, &r) != 0) {
		if (o.idempotent)
			return EX_OK;
		unreachable(errno);
		return EX_UNAVAILABLE;
	}
	if (r.status != 200)
		fail_unexpected(&r);
	json_t    *j = json_loads(r.body.p, 0, NULL);
	json_int_t pid = json_integer_value(json_object_get(j, "pid"));
	json_decref(j);
	resp_free(&r);
	/* like rabbitmqctl stop with a pid file: return once the process is gone */
	while (pid > 0 && running((pid_t)pid)) {
		if (now() >= deadline) {
			fprintf(stderr, "Error:\nthe broker (pid %" JSON_INTEGER_FORMAT
			                ") did not stop within %.0f seconds\n",
			        pid, o.timeout_set ? o.timeout : 120.0);
			return EX_SOFTWARE;
		}
		usleep(50 * 1000);
	}
	return EX_OK;
}

static int v_help(const struct verb *v);

static const struct verb verbs[] = {
	{ "add_user", v_add_user, 1, 2, "add_user <username> <password>",
	  "Creates a new user in the internal database. This user will have no permissions for any "
	  "virtual hosts by default.\nWithout <password>, it is read from standard input." },
	{ "add_vhost", v_add_vhost, 1, 1,
	  "add_vhost <vhost> [--description <description> --tags \"<tag1>,<tag2>,<...>\" "
	  "--default-queue-type <quorum|classic|stream>]",
	  "Creates a virtual host." },
	{ "await_startup", v_await_startup, 0, 0, "await_startup [--timeout <seconds>]",
	  "Waits for the broker to start (300 seconds unless --timeout is given).\nExits 0 once it "
	  "answers on its control socket, 69 if it does not in time." },
	{ "change_password", v_change_password, 2, 2, "change_password <username> <password>",
	  "Changes the user password." },
	{ "clear_permissions", v_clear_permissions, 1, 1,
	  "clear_permissions [--vhost <vhost>] <username>", "Revokes user permissions for a vhost." },
	{ "clear_policy", v_clear_policy, 1, 1, "clear_policy [--vhost <vhost>] <name>",
	  "Clears (removes) a policy." },
	{ "close_connection", v_close_connection, 2, 2,
	  "close_connection <connection pid or name> <explanation>",
	  "Instructs the broker to close the connection: its pid as list_connections pid shows it, "
	  "or its name (\"127.0.0.1:50400 -> 127.0.0.1:5672\").\nThe client gets connection.close "
	  "320 CONNECTION_FORCED with <explanation>." },
	{ "delete_queue", v_delete_queue, 1, 1,
	  "delete_queue [--vhost <vhost>] <queue_name> [--if-empty|-e] [--if-unused|-u]",
	  "Deletes a queue." },
	{ "delete_user", v_delete_user, 1, 1, "delete_user <username>",
	  "Removes a user from the internal database." },
	{ "delete_vhost", v_delete_vhost, 1, 1, "delete_vhost <vhost>", "Deletes a virtual host." },
	{ "export_definitions", v_export_definitions, 1, 1, "export_definitions <file_path | \"-\">",
	  "Exports definitions in JSON (\"-\": to standard output)." },
	{ "help", v_help, 0, 1, "help [<command>]", "Displays usage information for a command." },
	{ "import_definitions", v_import_definitions, 0, 1,
	  "import_definitions <file_path | \"-\"> [--stdin]",
	  "Imports definitions in JSON (\"-\" or --stdin: from standard input)." },
	{ "list_bindings", v_list, 0, -1,
	  "list_bindings [--vhost <vhost>] [--no-table-headers] [<column> ...]",
	  "Lists all bindings on a vhost.\n<column> must be one of source_name, source_kind, "
	  "destination_name, destination_kind, routing_key, arguments, vhost" },
	{ "list_channels", v_list, 0, -1,
	  "list_channels [--no-table-headers] [<column> ...]",
	  "Lists all channels in the node.\n<column> must be one of pid, connection, name, number, "
	  "user, vhost, transactional, confirm, consumer_count, messages_unacknowledged, "
	  "messages_uncommitted, acks_uncommitted, messages_unconfirmed, prefetch_count, "
	  "global_prefetch_count, node" },
	{ "list_connections", v_list, 0, -1,
	  "list_connections [--no-table-headers] [<column> ...]",
	  "Lists AMQP 0.9.1 connections for the node.\n<column> must be one of pid, name, port, "
	  "host, peer_port, peer_host, ssl, ssl_protocol, ssl_key_exchange, ssl_cipher, ssl_hash, "
	  "peer_cert_subject, peer_cert_issuer, peer_cert_validity, state, channels, protocol, "
	  "auth_mechanism, user, vhost, timeout, frame_max, channel_max, client_properties, "
	  "recv_oct, recv_cnt, send_oct, send_cnt, send_pend, connected_at, node, type, "
	  "user_who_performed_action, user_provided_name" },
	{ "list_consumers", v_list, 0, -1,
	  "list_consumers [--vhost <vhost>] [--no-table-headers] [<column> ...]",
	  "Lists all consumers for a vhost.\n<column> must be one of queue_name, channel_pid, "
	  "consumer_tag, ack_required, prefetch_count, active, activity_status, arguments, "
	  "exclusive" },
	{ "list_exchanges", v_list, 0, -1,
	  "list_exchanges [--vhost <vhost>] [--no-table-headers] [<column> ...]",
	  "Lists exchanges.\n<column> must be one of name, type, durable, auto_delete, internal, "
	  "arguments, policy, vhost" },
	{ "list_permissions", v_list_permissions, 0, 0,
	  "list_permissions [--vhost <vhost>] [--no-table-headers]",
	  "Lists user permissions in a virtual host." },
	{ "list_policies", v_list_policies, 0, 0,
	  "list_policies [--vhost <vhost>] [--no-table-headers]",
	  "Lists all policies in a virtual host." },
	{ "list_queues", v_list, 0, -1,
	  "list_queues [--vhost <vhost>] [--no-table-headers] [<column>, ...] [--timeout <timeout>]",
	  "Lists queues and their properties.\n<column> must be one of name, messages, "
	  "messages_ready, messages_unacknowledged, consumers, durable, auto_delete, exclusive, "
	  "arguments, policy, state, type, memory, message_bytes, message_bytes_ready, "
	  "message_bytes_unacknowledged, message_bytes_ram, message_bytes_persistent, "
	  "messages_ram, messages_ready_ram, messages_unacknowledged_ram, messages_persistent, "
	  "consumer_utilisation, consumer_capacity, head_message_timestamp, "
	  "exclusive_consumer_tag, exclusive_consumer_pid, owner_pid, pid, disk_reads, "
	  "disk_writes, leader, members, online, slave_pids, synchronised_slave_pids, vhost" },
	{ "list_users", v_list, 0, 0, "list_users [--no-table-headers]",
	  "List user names and tags." },
	{ "list_vhosts", v_list, 0, -1, "list_vhosts [--no-table-headers] [<column> ...]",
	  "Lists virtual hosts.\n<column> must be one of name, description, tags, tracing, "
	  "default_queue_type, cluster_state, metadata" },
	{ "purge_queue", v_purge_queue, 1, 1, "purge_queue [--vhost <vhost>] <queue>",
	  "Purges a queue (removes all messages in it)." },
	{ "set_permissions", v_set_permissions, 4, 4,
	  "set_permissions [--vhost <vhost>] <username> <conf> <write> <read>",
	  "Sets user permissions for a vhost." },
	{ "set_policy", v_set_policy, 3, 3,
	  "set_policy [--vhost <vhost>] [--priority <priority>] [--apply-to <apply-to>] <name> "
	  "<pattern> <definition>",
	  "Sets or updates a policy.\n<definition> is a JSON object; --apply-to is all (the "
	  "default), queues or exchanges." },
	{ "set_user_tags", v_set_user_tags, 1, -1, "set_user_tags <username> <tag> [...]",
	  "Sets user tags." },
	{ "status", v_status, 0, 0, "status", "Displays status of a node." },
	{ "stop", v_stop, 0, 1, "stop [--idempotent] [<pidfile>]",
	  "Stops the broker (as SIGTERM does: clients get connection.close 320) and waits until "
	  "its process has exited.\n--idempotent: succeed if the broker is not running." },
};

static const struct verb *
find_verb(const char *name)
{
	for (size_t i = 0; i < NELEM(verbs); i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

static const char general_options[] =
	"\nGeneral Options\n\n"
	"The following options are accepted by most or all commands.\n\n"
	"short            | long          | description\n"
	"-----------------|---------------|--------------------------------\n"
	"-?               | --help        | displays command help\n"
	"-n <node>        | --node <node> | accepted for rabbitmqctl compatibility\n"
	"                 | --socket <p>  | the broker's control socket (default: $WARREN_SOCKET,\n"
	"                 |               | ./warren-data/warren.sock, " WARREN_DEFAULT_SOCKET ")\n"
	"-t               | --timeout <n> | for commands that support it, operation timeout in seconds\n"
	"-q               | --quiet       | suppress informational messages\n"
	"-s               | --silent      | suppress informational messages\n"
	"                                 | and table header row\n"
	"-p               | --vhost       | for commands that are scoped to a virtual host,\n"
	"                 |               | virtual host to use\n";

static void
verb_help(const struct verb *v)
{
	printf("\nUsage\n\nwarrenctl [--node <node>] [--quiet] %s\n\n%s\n", v->usage, v->help);
	fputs(general_options, stdout);
}

static void
general_usage(FILE *f)
{
	fputs("\nUsage\n\nwarrenctl [--node <node>] [--socket <path>] [--timeout <timeout>] [--quiet] "
	      "<command> [<command options>]\n\nAvailable commands:\n\n",
	      f);
	for (size_t i = 0; i < NELEM(verbs); i++) {
		const char *h = verbs[i].help;
		fprintf(f, "   %-22s%.*s\n", verbs[i].name, (int)strcspn(h, "\n"), h);
	}
	fputs("\nUse 'warrenctl help <command>' to learn more about a specific command\n", f);
}

static int
v_help(const struct verb *v)
{
	const struct verb *w;

	(void)v;
	if (o.npos == 0) {
		general_usage(stdout);
		return EX_OK;
	}
	if ((w = find_verb(o.pos[0])) == NULL) {
		fprintf(stderr, "\nCommand '%s' not found. \n", o.pos[0]);
		general_usage(stderr);
		return EX_USAGE;
	}
	verb_help(w);
	return EX_OK;
}

/* Options that take a value, and where it goes (-t and --formatter are main's). */
static const char **
value_option(const char *a)
{
	static const struct {
		const char  *s, *l;
		const char **dst;
	} opts[] = {
		{ "-n", "--node", &o.node },
		{ NULL, "--socket", &o.socket },
		{ "-p", "--vhost", &o.vhost },
		{ NULL, "--apply-to", &o.apply_to },
		{ NULL, "--priority", &o.priority },
		{ NULL, "--description", &o.description },
		{ NULL, "--tags", &o.tags },
		{ NULL, "--default-queue-type", &o.default_queue_type },
	};

	for (size_t i = 0; i < NELEM(opts); i++)
		if ((opts[i].s && !strcmp(a, opts[i].s)) || (opts[i].l && !strcmp(a, opts[i].l)))
			return opts[i].dst;
	return NULL;
}

static bool
flag_option(const char *a)
{
	struct {
		const char *s, *l;
		bool       *b;
	} flags[] = {
		{ "-q", "--quiet", &o.quiet },        { "-s", "--silent", &o.silent },
		{ "-?", "--help", &o.help },          { NULL, "--no-table-headers", &o.no_headers },
		{ NULL, "--idempotent", &o.idempotent }, { "-e", "--if-empty", &o.if_empty },
		{ "-u", "--if-unused", &o.if_unused }, { NULL, "--stdin", &o.stdin_input },
		{ "-h", NULL, &o.help },
	};
	for (size_t i = 0; i < NELEM(flags); i++)
		if ((flags[i].s && !strcmp(a, flags[i].s)) || (flags[i].l && !strcmp(a, flags[i].l))) {
			*flags[i].b = true;
			return true;
		}
	/* accepted for rabbitmqctl compatibility, no meaning here */
	return !strcmp(a, "-l") || !strcmp(a, "--longnames") || !strcmp(a, "--online") ||
	       !strcmp(a, "--offline") || !strcmp(a, "--local");
}

int
main(int argc, char **argv)
{
	const char        *verb_name = NULL;
	const char        *timeout_str = NULL;
	const struct verb *v;
	char             **pos = calloc((size_t)argc + 1, sizeof(char *));

	if (pos == NULL)
		return EX_SOFTWARE;
	signal(SIGPIPE, SIG_IGN);
	o.pos = pos;
	o.argv = argv + 1;
	o.argc = argc - 1;
	for (int i = 1; i < argc; i++) {
		char        *a = argv[i];
		const char **dst;
		char        *eq;

		if (a[0] == '-' && a[1] != '\0' && strcmp(a, "-") != 0) {
			char name[64];
			const char *val = NULL;
			if (a[1] == '-' && (eq = strchr(a, '=')) != NULL && (size_t)(eq - a) < sizeof(name)) {
				memcpy(name, a, (size_t)(eq - a));
				name[eq - a] = '\0';
				val = eq + 1;
			} else {
				snprintf(name, sizeof(name), "%s", a);
			}
			if (flag_option(name) && val == NULL)
				continue;
			bool is_timeout = !strcmp(name, "-t") || !strcmp(name, "--timeout");
			bool is_formatter = !strcmp(name, "--formatter");
			if ((dst = value_option(name)) != NULL || is_timeout || is_formatter) {
				if (val == NULL) {
					if (i + 1 >= argc) {
						fprintf(stderr, "warrenctl: option %s needs a value\n", name);
						return EX_USAGE;
					}
					val = argv[++i];
				}
				if (is_timeout) {
					timeout_str = val;
				} else if (is_formatter) {
					if (strcmp(val, "table") != 0) {
						fprintf(stderr, "warrenctl: only the table formatter is supported\n");
						return EX_USAGE;
					}
				} else {
					*dst = val;
				}
				continue;
			}
			fprintf(stderr, "Error: invalid options for this command:\n\t%s\n", a);
			if (verb_name)
				fprintf(stderr, "See 'warrenctl help %s'\n", verb_name);
			return EX_USAGE;
		}
		if (verb_name == NULL)
			verb_name = a;
		else
			o.pos[o.npos++] = a;
	}
	if (timeout_str) {
		char *end;
		errno = 0;
		o.timeout = strtod(timeout_str, &end);
		if (*timeout_str == '\0' || *end != '\0' || errno || !(o.timeout >= 0)) {
			fprintf(stderr, "warrenctl: --timeout: expected a number of seconds, got '%s'\n",
			        timeout_str);
			return EX_USAGE;
		}
		o.timeout_set = true;
	}
	if (verb_name == NULL) {
		general_usage(o.help ? stdout : stderr);
		return o.help ? EX_OK : EX_USAGE;
	}
	if ((v = find_verb(verb_name)) == NULL) {
		fprintf(stderr, "\nCommand '%s' not found. \n", verb_name);
		general_usage(stderr);
		return EX_USAGE;
	}
	cur_verb = v;
	if (o.help) {
		verb_help(v);
		return EX_OK;
	}
	if (o.npos < v->min_args && !(v->fn == v_add_user && o.npos == 1))
		usage_error("not enough arguments.");
	if (v->max_args >= 0 && o.npos > v->max_args)
		usage_error("too many arguments.");
	if (listing(v->name) != NULL) {
		/* columns are checked before anything is printed or asked */
		const struct column *cols[64];
		pick_columns(listing(v->name), cols, NELEM(cols));
	}
	int rc = v->fn(v);
	fflush(stdout);
	free(pos);
	return rc;
}
