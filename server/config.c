/*
 * Broker settings: RabbitMQ's defaults, a rabbitmq.conf-style file, then
 * command-line flags.  Parsing and checking only; main applies the result
 * (listeners, log level, data directory).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/config.h"
#include "server/log.h"
#include "server/util.h"

#ifndef WARREN_VERSION
#define WARREN_VERSION "0.1.0"
#endif

/*
 * The file format is cuttlefish's (RabbitMQ's rabbitmq.conf):
 *
 *  - one "key = value" per line; blank lines and lines whose first
 *    non-blank character is '#' are ignored;
 *  - a key is words of [A-Za-z0-9_-] joined by '.', where "\." is a dot
 *    inside a word (loopback_users.john\.doe = true);
 *  - a value runs to the end of the line or to a '#', which starts a
 *    comment, with surrounding blanks dropped; a value in single quotes
 *    may hold '#' ("default_pass = 'a#b'");
 *  - a key given twice takes its last value.
 *
 * Keys and values follow RabbitMQ 3.10's schema (rabbit.schema,
 * rabbitmq_management.schema), restricted to what warren implements:
 *
 *   listeners.tcp.NAME        PORT or IP:PORT (split at the last ':', so
 *                             "::1:5673" is [::1]:5673; "[::1]:5673" is
 *                             accepted too).  Warren has one listener: the
 *                             first NAME in the file is used, others are
 *                             ignored.
 *   management.tcp.port, management.listener.port   PORT (0 = off)
 *   default_user, default_pass, default_vhost       non-empty string
 *   loopback_users.NAME       true | false.  As in RabbitMQ, once any
 *                             loopback_users key appears the list is
 *                             exactly the names set to true (the default
 *                             "guest" is dropped unless listed).
 *   loopback_users            none: no loopback-only users, wherever it
 *                             appears in the file
 *   heartbeat                 0..65535 seconds
 *   frame_max                 0 or 4096..4294967295 bytes; a KB/MB/GB
 *                             suffix (1024-based, either case) is allowed
 *                             as in cuttlefish's bytesize, on whole
 *                             numbers only
 *   channel_max               0..65535
 *   max_message_size          1..536870912 (RabbitMQ's 512MB cap)
 *   handshake_timeout         1..4294967295 ms (RabbitMQ's "infinity" is
 *                             not supported)
 *   consumer_timeout          0..4294967295 ms; 0 turns the check off
 *   vm_memory_high_watermark.relative   0..1 of the machine's memory (0.4)
 *   vm_memory_high_watermark.absolute   bytes, with RabbitMQ's units (k, kiB,
 *                             M, MiB, G, GiB: powers of 1024; kB, MB, GB:
 *                             powers of 1000); wins over relative when set
 *   disk_free_limit.absolute  bytes, with the same units (50MB)
 *   log.console.level         debug info notice warning error critical
 *                             alert emergency none; warren has four
 *                             levels, so notice is warning, critical,
 *                             alert and emergency are error, and none is
 *                             -1 (nothing but fatalx)
 *   log.file.level, log.level the same values: the file's level, and
 *                             the console's unless log.console.level is
 *                             given
 *   log.console               true | false: log to stderr (true)
 *   log.file                  a path, or false (no file, the default);
 *                             a relative path is taken in log.dir, as
 *                             RabbitMQ does.  The file is reopened on
 *                             SIGHUP.
 *   log.dir                   a folder for a relative log.file
 *   listeners.ssl.NAME        PORT or IP:PORT of the AMQP-over-TLS
 *                             listener (none by default; the first NAME
 *                             wins); listeners.ssl = none turns it off
 *   ssl_options.certfile, .keyfile, .cacertfile, .password   paths (and
 *                             the key's password)
 *   ssl_options.verify        verify_peer | verify_none (verify_none)
 *   ssl_options.fail_if_no_peer_cert   true | false (false)
 *   ssl_options.versions.N    tlsv1.3 | tlsv1.2; once any is given the
 *                             list is exactly those; tlsv1.1, tlsv1 and
 *                             sslv3 are errors (warren never speaks them)
 *   ssl_options.ciphers.N     one OpenSSL cipher or TLS 1.3 suite name each
 *   ssl_options.depth         0..100; honor_cipher_order true | false;
 *                             honor_ecc_order is accepted
 *   management.ssl.port       PORT of the HTTPS management listener, with
 *                             management.ssl.certfile, .keyfile, ... as
 *                             for ssl_options
 *   auth_mechanisms.N         PLAIN | AMQPLAIN | EXTERNAL; once any is
 *                             given the list is exactly those (default
 *                             PLAIN and AMQPLAIN)
 *   ssl_cert_login_from       distinguished_name (default) | common_name:
 *                             the user name EXTERNAL takes from the peer
 *                             certificate
 *   connection_max            0..2147483647 | infinity (default): AMQP
 *                             connections the node serves at once
 */

#define KEY_MAX_PARTS 8

struct parse {
	const char *path;
	unsigned    lineno;
	char       *err;
	size_t      errlen;
	char       *listener; /* owned: the NAME of the listener in use */
	char       *ssl_listener; /* owned: the same for listeners.ssl */
	bool        auth_seen;  /* an auth_mechanisms key replaced the default list */
	bool        versions_seen[2]; /* ssl_options, management.ssl */
	bool        loopback_seen;
	bool        loopback_none;
	int         level_rank; /* 2: log.console.level, 1: file/level, 0: none */
	bool        file_level_set;
	char       *log_dir;    /* owned: log.dir */
};

__attribute__((format(printf, 2, 3))) static int
fail(struct parse *ps, const char *fmt, ...)
{
	char    msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ps->errlen > 0)
		snprintf(ps->err, ps->errlen, "%s:%u: %s", ps->path, ps->lineno, msg);
	return -1;
}

static char *
dupstr(const char *s)
{
	return xstrndup(s, strlen(s));
}

static void
set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = s ? dupstr(s) : NULL;
}

int
config_strtonum(const char *s, long long min, long long max, long long *out,
                const char **errstr)
{
	const char *p = s;
	char       *end;
	long long   v;

	/* strtoll would skip leading blanks; a value is digits and a sign only */
	if (*p == '+' || *p == '-')
		p++;
	if (*p < '0' || *p > '9') {
		*errstr = "invalid";
		return -1;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0') {
		*errstr = "invalid";
		return -1;
	}
	if ((errno == ERANGE && v == LLONG_MIN) || v < min) {
		*errstr = "too small";
		return -1;
	}
	if ((errno == ERANGE && v == LLONG_MAX) || v > max) {
		*errstr = "too large";
		return -1;
	}
	*out = v;
	*errstr = NULL;
	return 0;
}

/* Parse an integer setting; the message names the key and the range. */
static int
number(struct parse *ps, const char *key, const char *val, long long min,
       long long max, long long *out)
{
	const char *why;

	if (config_strtonum(val, min, max, out, &why) == 0)
		return 0;
	return fail(ps, "%s: expected an integer %lld..%lld, got '%s' (%s)", key, min,
	            max, val, why);
}

static int
boolean(struct parse *ps, const char *key, const char *val, bool *out)
{
	if (strcmp(val, "true") == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(val, "false") == 0) {
		*out = false;
		return 0;
	}
	return fail(ps, "%s: expected true or false, got '%s'", key, val);
}

static int
port(struct parse *ps, const char *key, const char *val, uint16_t *out)
{
	long long v = 0;

	if (number(ps, key, val, 0, 65535, &v) != 0)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

/* PORT or IP:PORT, as cuttlefish's [integer, ip] datatype, into *portp and *hostp. */
static int
listener(struct parse *ps, uint16_t *portp, char **hostp, const char *key, const char *val)
{
	const char     *colon = strrchr(val, ':');
	char            host[INET6_ADDRSTRLEN + 2];
	size_t          hlen;
	unsigned char   addr[sizeof(struct in6_addr)];
	long long       v;
	const char     *why;
	const char     *h = host;

	if (colon == NULL) {
		if (config_strtonum(val, 0, 65535, &v, &why) != 0)
			return fail(ps, "%s: expected a port 0..65535 or IP:PORT, got '%s'",
			            key, val);
		*portp = (uint16_t)v;
		set_str(hostp, NULL);
		return 0;
	}
	hlen = (size_t)(colon - val);
	if (hlen == 0 || hlen >= sizeof(host))
		goto bad;
	memcpy(host, val, hlen);
	host[hlen] = '\0';
	if (hlen > 2 && host[0] == '[' && host[hlen - 1] == ']') {
		host[hlen - 1] = '\0';
		h = host + 1;
		if (inet_pton(AF_INET6, h, addr) != 1)
			goto bad;
	} else if (inet_pton(AF_INET, h, addr) != 1 && inet_pton(AF_INET6, h, addr) != 1) {
		goto bad;
	}
	if (config_strtonum(colon + 1, 0, 65535, &v, &why) != 0)
		goto bad;
	*portp = (uint16_t)v;
	set_str(hostp, h);
	return 0;
bad:
	return fail(ps, "%s: expected a port 0..65535 or IP:PORT (e.g. 127.0.0.1:5672, ::1:5672), got '%s'",
	            key, val);
}

/* cuttlefish bytesize: an integer, or one followed by KB, MB or GB (1024-based). */
/*
 * A memory or disk amount as RabbitMQ reads one
 * (rabbit_resource_monitor_misc:parse_information_unit): a number and an
 * optional unit, k/kiB, M/MiB, G/GiB for powers of 1024, kB, MB, GB for
 * powers of 1000.
 */
static int
info_size(struct parse *ps, const char *key, const char *val, long long min, long long max,
          long long *out)
{
	static const struct {
		const char *unit;
		long long   mult;
	} units[] = {
		{ "", 1 },           { "k", 1024LL },        { "kiB", 1024LL },
		{ "M", 1048576LL },  { "MiB", 1048576LL },   { "G", 1073741824LL },
		{ "GiB", 1073741824LL }, { "kB", 1000LL },   { "MB", 1000000LL },
		{ "GB", 1000000000LL },
	};
	size_t      n = strspn(val, "0123456789");
	long long   v = 0;
	char        digits[32];
	const char *why;

	if (n == 0 || n >= sizeof(digits))
		goto bad;
	memcpy(digits, val, n);
	digits[n] = '\0';
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(val + n, units[i].unit) != 0)
			continue;
		if (config_strtonum(digits, 0, max / units[i].mult, &v, &why) != 0)
			goto bad;
		v *= units[i].mult;
		if (v < min)
			goto bad;
		*out = v;
		return 0;
	}
bad:
	return fail(ps, "%s: expected an amount of bytes with an optional unit (k, kiB, M, MiB, G, "
	            "GiB: powers of 1024; kB, MB, GB: powers of 1000), got '%s'", key, val);
}

static int
bytesize(struct parse *ps, const char *key, const char *val, long long min,
         long long max, long long *out)
{
	static const struct {
		const char *suffix;
		long long   mult;
	} units[] = {
		{ "KB", 1024LL }, { "kb", 1024LL }, { "MB", 1048576LL },
		{ "mb", 1048576LL }, { "GB", 1073741824LL }, { "gb", 1073741824LL },
	};
	size_t      len = strlen(val);
	long long   mult = 1, v = 0;
	char        digits[32];
	const char *why;

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (len > 2 && strcmp(val + len - 2, units[i].suffix) == 0) {
			mult = units[i].mult;
			len -= 2;
			break;
		}
	}
	if (len >= sizeof(digits))
		goto bad;
	memcpy(digits, val, len);
	digits[len] = '\0';
	if (config_strtonum(digits, 0, max / mult, &v, &why) != 0)
		goto bad;
	v *= mult;
	if (v < min || v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	return fail(ps, "%s: expected a size in bytes %lld..%lld (KB, MB, GB suffixes allowed), got '%s'",
	            key, min, max, val);
}

/* rabbit.schema's log level enum, mapped onto warren's four levels. */
static int
parse_level(struct parse *ps, const char *key, const char *val, int *out)
{
	static const struct {
		const char *name;
		int         level;
	} names[] = {
		{ "debug", LOG_DEBUG },     { "info", LOG_INFO },
		{ "notice", LOG_WARNING },  { "warning", LOG_WARNING },
		{ "error", LOG_ERROR },     { "critical", LOG_ERROR },
		{ "alert", LOG_ERROR },     { "emergency", LOG_ERROR },
		{ "none", LOG_ERROR - 1 },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(val, names[i].name) == 0) {
			*out = names[i].level;
			return 0;
		}
	}
	return fail(ps, "%s: expected one of debug, info, notice, warning, error, critical, alert, emergency, none; got '%s'",
	            key, val);
}

static int
loopback_set(struct parse *ps, struct config *c, const char *name, bool on)
{
	int i;

	if (!ps->loopback_seen) {
		/* the file's list replaces the default one */
		for (i = 0; i < c->n_loopback_users; i++) {
			free(c->loopback_users[i]);
			c->loopback_users[i] = NULL;
		}
		c->n_loopback_users = 0;
		ps->loopback_seen = true;
	}
	for (i = 0; i < c->n_loopback_users; i++)
		if (strcmp(c->loopback_users[i], name) == 0)
			break;
	if (on && i == c->n_loopback_users) {
		if (c->n_loopback_users == CONFIG_MAX_LOOPBACK_USERS)
			return fail(ps, "loopback_users: at most %d users", CONFIG_MAX_LOOPBACK_USERS);
		c->loopback_users[c->n_loopback_users++] = dupstr(name);
	} else if (!on && i < c->n_loopback_users) {
		free(c->loopback_users[i]);
		c->loopback_users[i] = c->loopback_users[--c->n_loopback_users];
		c->loopback_users[c->n_loopback_users] = NULL;
	}
	return 0;
}

static int
set_level(struct parse *ps, struct config *c, const char *key, const char *val, int rank)
{
	int l = LOG_INFO;

	if (parse_level(ps, key, val, &l) != 0)
		return -1;
	if (rank >= ps->level_rank) {
		c->log_level = l;
		ps->level_rank = rank;
	}
	if (rank == 1) {
		c->log_file_level = l;
		ps->file_level_set = true;
	}
	return 0;
}

/*
 * One ssl_options.* or management.ssl.* setting; sub[] is the key after
 * that prefix.  TLS versions before 1.2 are refused: warren never speaks
 * them.
 */
static int
tls_option(struct parse *ps, struct config_tls *t, bool *versions_seen, const char *key,
           char **sub, int nsub, const char *val)
{
	long long v = 0;

	if (nsub == 1 && (strcmp(sub[0], "certfile") == 0 || strcmp(sub[0], "keyfile") == 0 ||
	                  strcmp(sub[0], "cacertfile") == 0 || strcmp(sub[0], "password") == 0)) {
		char **dst = strcmp(sub[0], "certfile") == 0   ? &t->certfile :
		             strcmp(sub[0], "keyfile") == 0    ? &t->keyfile :
		             strcmp(sub[0], "cacertfile") == 0 ? &t->cacertfile : &t->password;
		set_str(dst, val);
		return 0;
	}
	if (nsub == 1 && strcmp(sub[0], "verify") == 0) {
		if (strcmp(val, "verify_peer") != 0 && strcmp(val, "verify_none") != 0)
			return fail(ps, "%s: expected verify_peer or verify_none, got '%s'", key, val);
		t->verify_peer = strcmp(val, "verify_peer") == 0;
		return 0;
	}
	if (nsub == 1 && strcmp(sub[0], "fail_if_no_peer_cert") == 0)
		return boolean(ps, key, val, &t->fail_if_no_peer_cert);
	if (nsub == 1 && strcmp(sub[0], "honor_cipher_order") == 0)
		return boolean(ps, key, val, &t->honor_cipher_order);
	if (nsub == 1 && strcmp(sub[0], "honor_ecc_order") == 0) {
		bool b;
		return boolean(ps, key, val, &b); /* OpenSSL picks the curve; accepted */
	}
	if (nsub == 1 && strcmp(sub[0], "depth") == 0) {
		if (number(ps, key, val, 0, 100, &v) != 0)
			return -1;
		t->depth = (int)v;
		return 0;
	}
	if (nsub == 2 && strcmp(sub[0], "versions") == 0) {
		if (!*versions_seen) {
			t->versions = 0;
			*versions_seen = true;
		}
		if (strcmp(val, "tlsv1.3") == 0)
			t->versions |= CONFIG_TLS13;
		else if (strcmp(val, "tlsv1.2") == 0)
			t->versions |= CONFIG_TLS12;
		else if (strcmp(val, "tlsv1.1") == 0 || strcmp(val, "tlsv1") == 0 ||
		         strcmp(val, "sslv3") == 0)
			return fail(ps, "%s: %s is not allowed: warren speaks only tlsv1.2 and tlsv1.3",
			            key, val);
		else
			return fail(ps, "%s: expected tlsv1.3 or tlsv1.2, got '%s'", key, val);
		return 0;
	}
	if (nsub == 2 && strcmp(sub[0], "ciphers") == 0) {
		if (strchr(val, ':') || strchr(val, ' '))
			return fail(ps, "%s: expected one cipher name, got '%s'", key, val);
		size_t old = t->ciphers ? strlen(t->ciphers) : 0;
		char  *n = xmalloc(old + strlen(val) + 2);
		snprintf(n, old + strlen(val) + 2, "%s%s%s", old ? t->ciphers : "", old ? ":" : "",
		         val);
		free(t->ciphers);
		t->ciphers = n;
		return 0;
	}
	return fail(ps, "unknown key '%s'", key);
}

/* Apply one setting.  part[] is the key split at unescaped dots. */
static int
apply(struct parse *ps, struct config *c, const char *key, char **part, int nparts,
      const char *val)
{
	long long v = 0;
	bool      b = false;

#define IS(k) (strcmp(key, (k)) == 0)
	if (nparts == 3 && strcmp(part[0], "listeners") == 0 && strcmp(part[1], "tcp") == 0) {
		if (ps->listener == NULL)
			ps->listener = dupstr(part[2]);
		else if (strcmp(ps->listener, part[2]) != 0)
			return 0; /* one listener: the first one named wins */
		return listener(ps, &c->port, &c->listen_host, key, val);
	}
	if (nparts == 3 && strcmp(part[0], "listeners") == 0 && strcmp(part[1], "ssl") == 0) {
		if (ps->ssl_listener == NULL)
			ps->ssl_listener = dupstr(part[2]);
		else if (strcmp(ps->ssl_listener, part[2]) != 0)
			return 0; /* one TLS listener: the first one named wins */
		return listener(ps, &c->tls_port, &c->tls_host, key, val);
	}
	if (IS("listeners.ssl")) {
		if (strcmp(val, "none") != 0)
			return fail(ps, "listeners.ssl: expected none, got '%s'", val);
		c->tls_port = 0;
		return 0;
	}
	if (nparts >= 2 && strcmp(part[0], "ssl_options") == 0)
		return tls_option(ps, &c->tls, &ps->versions_seen[0], key, part + 1, nparts - 1, val);
	if (nparts >= 3 && strcmp(part[0], "management") == 0 && strcmp(part[1], "ssl") == 0) {
		if (nparts == 3 && strcmp(part[2], "port") == 0)
			return port(ps, key, val, &c->mgmt_tls_port);
		return tls_option(ps, &c->mgmt_tls, &ps->versions_seen[1], key, part + 2, nparts - 2,
		                  val);
	}
	if (nparts == 2 && strcmp(part[0], "auth_mechanisms") == 0) {
		unsigned m = strcmp(val, "PLAIN") == 0    ? CONFIG_AUTH_PLAIN :
		             strcmp(val, "AMQPLAIN") == 0 ? CONFIG_AUTH_AMQPLAIN :
		             strcmp(val, "EXTERNAL") == 0 ? CONFIG_AUTH_EXTERNAL : 0;
		if (m == 0)
			return fail(ps, "%s: expected PLAIN, AMQPLAIN or EXTERNAL, got '%s'", key, val);
		if (!ps->auth_seen) {
			c->auth_mechanisms = 0; /* the file's list replaces the default one */
			ps->auth_seen = true;
		}
		c->auth_mechanisms |= m;
		return 0;
	}
	if (IS("ssl_cert_login_from")) {
		if (strcmp(val, "common_name") != 0 && strcmp(val, "distinguished_name") != 0)
			return fail(ps, "%s: expected common_name or distinguished_name, got '%s'", key,
			            val);
		c->cert_login_cn = strcmp(val, "common_name") == 0;
		return 0;
	}
	if (IS("connection_max")) {
		if (strcmp(val, "infinity") == 0) {
			c->connection_max = -1;
			return 0;
		}
		if (number(ps, key, val, 0, INT32_MAX, &v) != 0)
			return -1;
		c->connection_max = v;
		return 0;
	}
	if (nparts == 2 && strcmp(part[0], "loopback_users") == 0) {
		if (boolean(ps, key, val, &b) != 0)
			return -1;
		return loopback_set(ps, c, part[1], b);
	}
	if (IS("listeners.tcp")) {
		if (strcmp(val, "none") == 0)
			return fail(ps, "listeners.tcp = none: warren needs its AMQP listener");
		return fail(ps, "listeners.tcp: expected none, got '%s'", val);
	}
	if (IS("loopback_users")) {
		if (strcmp(val, "none") != 0)
			return fail(ps, "loopback_users: expected none, got '%s'", val);
		ps->loopback_none = true;
		return 0;
	}
	if (IS("management.tcp.port") || IS("management.listener.port"))
		return port(ps, key, val, &c->mgmt_port);
	if (IS("prometheus.tcp.port"))
		return port(ps, key, val, &c->prometheus_port);
	if (IS("default_user") || IS("default_pass") || IS("default_vhost")) {
		char **dst = IS("default_user") ? &c->default_user :
		             IS("default_pass") ? &c->default_pass : &c->default_vhost;
		if (*val == '\0')
			return fail(ps, "%s: expected a non-empty string", key);
		set_str(dst, val);
		return 0;
	}
	if (IS("heartbeat")) {
		if (number(ps, key, val, 0, UINT16_MAX, &v) != 0)
			return -1;
		c->heartbeat = (uint16_t)v;
		return 0;
	}
	if (IS("frame_max")) {
		if (bytesize(ps, key, val, 0, UINT32_MAX, &v) != 0)
			return -1;
		if (v != 0 && v < 4096)
			return fail(ps, "frame_max: expected 0 (no limit) or at least 4096 (frame-min-size), got '%s'",
			            val);
		c->frame_max = (uint32_t)v;
		return 0;
	}
	if (IS("channel_max")) {
		if (number(ps, key, val, 0, UINT16_MAX, &v) != 0)
			return -1;
		c->channel_max = (uint16_t)v;
		return 0;
	}
	if (IS("max_message_size")) {
		if (number(ps, key, val, 1, 536870912, &v) != 0)
			return -1;
		c->max_message_size = (uint32_t)v;
		return 0;
	}
	if (IS("handshake_timeout")) {
		if (number(ps, key, val, 1, UINT32_MAX, &v) != 0)
			return -1;
		c->handshake_timeout = (uint32_t)v;
		return 0;
	}
	if (IS("vm_memory_high_watermark.relative")) {
		char  *end;
		double d = strtod(val, &end);
		if (end == val || *end != '\0' || !(d >= 0 && d <= 1))
			return fail(ps, "%s: expected a fraction between 0 and 1, got '%s'", key, val);
		c->mem_relative = d;
		return 0;
	}
	if (IS("vm_memory_high_watermark.absolute")) {
		if (info_size(ps, key, val, 1, LLONG_MAX, &v) != 0)
			return -1;
		c->mem_absolute = (uint64_t)v;
		return 0;
	}
	if (IS("disk_free_limit.absolute")) {
		if (info_size(ps, key, val, 0, LLONG_MAX, &v) != 0)
			return -1;
		c->disk_free_limit = (uint64_t)v;
		return 0;
	}
	if (IS("consumer_timeout")) {
		if (number(ps, key, val, 0, UINT32_MAX, &v) != 0)
			return -1;
		c->consumer_timeout = (uint32_t)v;
		return 0;
	}
	if (IS("log.console.level"))
		return set_level(ps, c, key, val, 2);
	if (IS("log.file.level") || IS("log.level"))
		return set_level(ps, c, key, val, 1);
	if (IS("log.console")) {
		if (boolean(ps, key, val, &b) != 0)
			return -1;
		c->log_console = b;
		return 0;
	}
	if (IS("log.file")) {
		if (strcmp(val, "false") == 0) {
			set_str(&c->log_file, NULL);
			return 0;
		}
		if (strcmp(val, "true") == 0)
			return fail(ps, "log.file: expected a file name or false, got 'true'");
		set_str(&c->log_file, val);
		return 0;
	}
	if (IS("log.dir")) {
		set_str(&ps->log_dir, val);
		return 0;
	}
#undef IS
	return fail(ps, "unknown key '%s'", key);
}

static bool
is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static bool
is_word_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
}

/*
 * Parse one line (NUL-terminated, without its newline) in place.
 * Returns 0 (a setting applied, or nothing on the line) or -1.
 */
static int
parse_line(struct parse *ps, struct config *c, char *line)
{
	char  keybuf[512], partbuf[512];
	char *part[KEY_MAX_PARTS];
	int   nparts = 0;
	size_t klen = 0, plen = 0;
	char *p = line, *val, *end;

	while (is_blank(*p))
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	if (!is_word_char(*p) && !(p[0] == '\\' && p[1] == '.'))
		return fail(ps, "expected 'key = value', got '%s'", p);

	/* the key, twice: as written (for messages) and split into parts */
	part[nparts++] = partbuf;
	for (;;) {
		if (klen + 2 >= sizeof(keybuf) || plen + 2 >= sizeof(partbuf))
			return fail(ps, "key too long");
		if (p[0] == '\\' && p[1] == '.') {
			keybuf[klen++] = '\\';
			keybuf[klen++] = '.';
			partbuf[plen++] = '.';
			p += 2;
		} else if (is_word_char(*p)) {
			keybuf[klen++] = *p;
			partbuf[plen++] = *p++;
		} else if (*p == '.' && (is_word_char(p[1]) || (p[1] == '\\' && p[2] == '.'))) {
			if (nparts == KEY_MAX_PARTS)
				return fail(ps, "key has too many parts");
			keybuf[klen++] = '.';
			partbuf[plen++] = '\0';
			part[nparts++] = partbuf + plen;
			p++;
		} else {
			break;
		}
	}
	keybuf[klen] = '\0';
	partbuf[plen] = '\0';

	while (is_blank(*p))
		p++;
	if (*p != '=') {
		if (strcmp(keybuf, "include") == 0)
			return fail(ps, "include is not supported");
		return fail(ps, "expected '=' after key '%s'", keybuf);
	}
	p++;
	while (is_blank(*p))
		p++;

	if (*p == '\'') {
		val = ++p;
		end = strchr(p, '\'');
		if (end == NULL)
			return fail(ps, "%s: unterminated quoted value", keybuf);
		*end = '\0';
		p = end + 1;
		while (is_blank(*p))
			p++;
		if (*p != '\0' && *p != '#')
			return fail(ps, "%s: unexpected text after the quoted value", keybuf);
	} else {
		val = p;
		end = strchr(p, '#');
		if (end == NULL)
			end = p + strlen(p);
		while (end > val && is_blank(end[-1]))
			end--;
		*end = '\0';
		if (*val == '\0')
			return fail(ps, "%s: missing value", keybuf);
	}
	return apply(ps, c, keybuf, part, nparts, val);
}

int
config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	struct parse ps;
	FILE        *f;
	char        *line = NULL;
	size_t       cap = 0;
	ssize_t      n;
	int          rc = 0;

	memset(&ps, 0, sizeof(ps));
	ps.path = path;
	ps.err = err;
	ps.errlen = errlen;

	if ((f = fopen(path, "r")) == NULL) {
		if (errlen > 0)
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		ps.lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		if (strlen(line) != (size_t)n) {
			rc = fail(&ps, "NUL byte in line");
			break;
		}
		if ((rc = parse_line(&ps, c, line)) != 0)
			break;
	}
	if (rc == 0 && ferror(f)) {
		if (errlen > 0)
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		rc = -1;
	}
	if (rc == 0 && !ps.file_level_set)
		c->log_file_level = c->log_level;
	if (rc == 0 && c->log_file && c->log_file[0] != '/' && ps.log_dir) {
		size_t len = strlen(ps.log_dir) + strlen(c->log_file) + 2;
		char  *full = xmalloc(len);
		snprintf(full, len, "%s/%s", ps.log_dir, c->log_file);
		free(c->log_file);
		c->log_file = full;
	}
	if (rc == 0 && ps.loopback_none) {
		for (int i = 0; i < c->n_loopback_users; i++) {
			free(c->loopback_users[i]);
			c->loopback_users[i] = NULL;
		}
		c->n_loopback_users = 0;
	}
	free(line);
	free(ps.listener);
	free(ps.log_dir);
	free(ps.ssl_listener);
	fclose(f);
	return rc;
}

void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->listen_host = NULL;
	c->port = 5672;
	c->mgmt_port = 15672;
	c->prometheus_port = 15692;
	c->data_dir = dupstr("./warren-data");
	c->default_user = dupstr("guest");
	c->default_pass = dupstr("guest");
	c->default_vhost = dupstr("/");
	c->loopback_users[0] = dupstr("guest");
	c->n_loopback_users = 1;
	c->heartbeat = 60;
	c->frame_max = 131072;
	c->channel_max = 2047;
	c->max_message_size = 134217728;
	c->handshake_timeout = 10000;
	c->consumer_timeout = 1800000;
	c->mem_relative = 0.4;
	c->disk_free_limit = 50 * 1000 * 1000; /* RabbitMQ's 50MB */
	c->log_level = LOG_INFO;
	c->log_console = true;
	c->log_file = NULL;
	c->log_file_level = LOG_INFO;
	c->config_file = NULL;
	c->tls.depth = c->mgmt_tls.depth = -1;
	c->auth_mechanisms = CONFIG_AUTH_PLAIN | CONFIG_AUTH_AMQPLAIN;
	c->connection_max = -1;
}

static void
tls_free(struct config_tls *t)
{
	free(t->certfile);
	free(t->keyfile);
	free(t->cacertfile);
	free(t->password);
	free(t->ciphers);
}

void
config_free(struct config *c)
{
	free(c->listen_host);
	free(c->data_dir);
	free(c->default_user);
	free(c->default_pass);
	free(c->default_vhost);
	free(c->log_file);
	free(c->config_file);
	for (int i = 0; i < c->n_loopback_users; i++)
		free(c->loopback_users[i]);
	free(c->tls_host);
	tls_free(&c->tls);
	tls_free(&c->mgmt_tls);
	memset(c, 0, sizeof(*c));
}

bool
config_is_loopback_user(const struct config *c, const char *user)
{
	for (int i = 0; i < c->n_loopback_users; i++)
		if (strcmp(c->loopback_users[i], user) == 0)
			return true;
	return false;
}

static void
usage(FILE *f)
{
	fputs("usage: warren [--config FILE] [--port N] [--tls-port N] [--mgmt-port N]\n"
	      "              [--prometheus-port N]\n"
	      "              [--data-dir DIR] [--log-level LEVEL] [--help] [--version]\n"
	      "\n"
	      "  --config FILE      read settings from a rabbitmq.conf-style file;\n"
	      "                     the other flags override it\n"
	      "  --port N           AMQP listener port (default 5672)\n"
	      "  --tls-port N       AMQP over TLS listener port (listeners.ssl.default;\n"
	      "                     needs ssl_options.certfile and keyfile), 0 = off\n"
	      "  --mgmt-port N      management HTTP port, 0 = off (default 15672)\n"
	      "  --prometheus-port N  Prometheus metrics port, 0 = off (default 15692)\n"
	      "  --data-dir DIR     directory for durable data (default ./warren-data)\n"
	      "  --log-level LEVEL  error, warning, info or debug (default info)\n"
	      "  --help             print this help and exit\n"
	      "  --version          print the version and exit\n",
	      f);
}

enum flag {
	FLAG_CONFIG, FLAG_PORT, FLAG_MGMT_PORT, FLAG_DATA_DIR, FLAG_LOG_LEVEL, FLAG_PROM_PORT,
	FLAG_TLS_PORT
};

static const char *const flag_names[] = {
	[FLAG_CONFIG] = "--config",     [FLAG_PORT] = "--port",
	[FLAG_MGMT_PORT] = "--mgmt-port", [FLAG_DATA_DIR] = "--data-dir",
	[FLAG_LOG_LEVEL] = "--log-level", [FLAG_PROM_PORT] = "--prometheus-port",
	[FLAG_TLS_PORT] = "--tls-port",
};

/*
 * Recognise argv[*i] as a flag taking a value ("--port 5673" or
 * "--port=5673").  Returns the flag with *val set and *i advanced past
 * what it used, 1 for --help, 2 for --version, or -1 (message printed).
 */
static int
next_flag(int argc, char **argv, int *i, enum flag *fl, const char **val)
{
	const char *a = argv[*i];

	if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
		return 1;
	if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0)
		return 2;
	for (size_t k = 0; k < sizeof(flag_names) / sizeof(flag_names[0]); k++) {
		size_t n = strlen(flag_names[k]);

		if (strncmp(a, flag_names[k], n) != 0)
			continue;
		if (a[n] == '=') {
			*fl = (enum flag)k;
			*val = a + n + 1;
			return 0;
		}
		if (a[n] != '\0')
			continue;
		if (*i + 1 >= argc) {
			fprintf(stderr, "warren: %s needs a value (try --help)\n", a);
			return -1;
		}
		*fl = (enum flag)k;
		*val = argv[++*i];
		return 0;
	}
	fprintf(stderr, "warren: unknown argument '%s' (try --help)\n", a);
	return -1;
}

static int
flag_port(const char *name, const char *val, uint16_t *out)
{
	long long   v;
	const char *why;

	if (config_strtonum(val, 0, 65535, &v, &why) != 0) {
		fprintf(stderr, "warren: %s: expected a port 0..65535, got '%s' (%s)\n", name,
		        val, why);
		return -1;
	}
	*out = (uint16_t)v;
	return 0;
}

int
config_from_args(struct config *c, int argc, char **argv)
{
	const char *config_path = NULL, *val;
	enum flag   fl;
	char        err[1024];
	int         i, r, l;

	/* first pass: syntax, --help, --version, and which file to read */
	for (i = 1; i < argc; i++) {
		r = next_flag(argc, argv, &i, &fl, &val);
		if (r < 0)
			return -1;
		if (r == 1) {
			usage(stdout);
			return 1;
		}
		if (r == 2) {
			printf("warren %s\n", WARREN_VERSION);
			return 1;
		}
		if (fl == FLAG_CONFIG)
			config_path = val;
	}
	if (config_path != NULL && config_load(c, config_path, err, sizeof(err)) != 0) {
		fprintf(stderr, "warren: %s\n", err);
		return -1;
	}
	if (config_path != NULL)
		set_str(&c->config_file, config_path);

	/* second pass: the flags override the file */
	for (i = 1; i < argc; i++) {
		if (next_flag(argc, argv, &i, &fl, &val) != 0)
			return -1; /* not reached: the first pass took them all */
		switch (fl) {
		case FLAG_CONFIG:
			break;
		case FLAG_PORT:
			if (flag_port("--port", val, &c->port) != 0)
				return -1;
			break;
		case FLAG_TLS_PORT:
			if (flag_port("--tls-port", val, &c->tls_port) != 0)
				return -1;
			break;
		case FLAG_MGMT_PORT:
			if (flag_port("--mgmt-port", val, &c->mgmt_port) != 0)
				return -1;
			break;
		case FLAG_PROM_PORT:
			if (flag_port("--prometheus-port", val, &c->prometheus_port) != 0)
				return -1;
			break;
		case FLAG_DATA_DIR:
			if (*val == '\0') {
				fprintf(stderr, "warren: --data-dir: expected a directory\n");
				return -1;
			}
			set_str(&c->data_dir, val);
			break;
		case FLAG_LOG_LEVEL:
			if ((l = log_level_from_name(val)) < 0) {
				fprintf(stderr,
				        "warren: --log-level: expected error, warning, info or debug, got '%s'\n",
				        val);
				return -1;
			}
			c->log_level = l;
			c->log_file_level = l;
			break;
		}
	}
	return 0;
}
