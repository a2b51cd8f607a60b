/*
 * Broker settings: defaults as RabbitMQ's, then a rabbitmq.conf-style file,
 * then command-line flags.  Pure parsing; nothing here opens sockets.
 */
#ifndef SERVER_CONFIG_H
#define SERVER_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#define CONFIG_MAX_LOOPBACK_USERS 16

#define CONFIG_TLS12 0x1 /* ssl_options.versions bits, as transport.h's */
#define CONFIG_TLS13 0x2

#define CONFIG_AUTH_PLAIN    0x1 /* auth_mechanisms bits */
#define CONFIG_AUTH_AMQPLAIN 0x2
#define CONFIG_AUTH_EXTERNAL 0x4

/* ssl_options.* (AMQP) or management.ssl.* (HTTPS). */
struct config_tls {
	char     *certfile, *keyfile, *cacertfile, *password; /* owned; NULL = unset */
	char     *ciphers;           /* owned; ciphers.N joined with ':', NULL = OpenSSL's */
	bool      verify_peer;       /* verify = verify_peer (verify_none) */
	bool      fail_if_no_peer_cert; /* (false) */
	bool      honor_cipher_order; /* (false) */
	unsigned  versions;          /* versions.N: CONFIG_TLS12 | CONFIG_TLS13 (0 = both) */
	int       depth;             /* depth (-1 = OpenSSL's default) */
};

struct config {
	char     *listen_host;       /* owned; NULL = all interfaces, v4 and v6 */
	uint16_t  port;              /* listeners.tcp.default, --port (5672) */
	uint16_t  mgmt_port;         /* management.tcp.port, --mgmt-port (15672; 0 = off) */
	uint16_t  prometheus_port;   /* prometheus.tcp.port, --prometheus-port (15692; 0 = off) */
	char     *data_dir;          /* owned; --data-dir (./warren-data) */
	char     *default_user;      /* owned; default_user (guest) */
	char     *default_pass;      /* owned; default_pass (guest) */
	char     *default_vhost;     /* owned; default_vhost (/) */
	char     *loopback_users[CONFIG_MAX_LOOPBACK_USERS]; /* owned; loopback_users.NAME = true ("guest") */
	int       n_loopback_users;
	uint16_t  heartbeat;         /* heartbeat, seconds (60) */
	uint32_t  frame_max;         /* frame_max (131072) */
	uint16_t  channel_max;       /* channel_max (2047) */
	uint32_t  max_message_size;  /* max_message_size (134217728) */
	uint32_t  handshake_timeout; /* handshake_timeout, ms (10000) */
	uint32_t  consumer_timeout;  /* consumer_timeout, ms (1800000; 0 = off) */
	double    mem_relative;      /* vm_memory_high_watermark.relative (0.4) */
	uint64_t  mem_absolute;      /* vm_memory_high_watermark.absolute, bytes (0 = use relative) */
	uint64_t  disk_free_limit;   /* disk_free_limit.absolute, bytes (50 MB) */
	int       log_level;         /* log.console.level, --log-level (LOG_INFO) */
	bool      log_console;       /* log.console (true): log to stderr */
	char     *log_file;          /* owned; log.file (joined to log.dir when relative); NULL = none */
	int       log_file_level;    /* log.file.level, --log-level (as log_level) */
	char     *config_file;       /* owned; --config, for status reports; NULL = none */
	char     *tls_host;          /* owned; NULL = all interfaces */
	uint16_t  tls_port;          /* listeners.ssl.default, --tls-port (0 = no amqps listener) */
	struct config_tls tls;       /* ssl_options.* */
	uint16_t  mgmt_tls_port;     /* management.ssl.port (0 = off) */
	struct config_tls mgmt_tls;  /* management.ssl.* */
	unsigned  auth_mechanisms;   /* auth_mechanisms.N (PLAIN, AMQPLAIN) */
	bool      cert_login_cn;     /* ssl_cert_login_from = common_name (distinguished_name) */
	int64_t   connection_max;    /* connection_max (-1 = infinity) */
};

/* Fill c with RabbitMQ's defaults. */
void config_defaults(struct config *c);

/*
 * Read a rabbitmq.conf-style file ("key = value" lines, '#' comments) into
 * c.  Unknown keys and bad values are errors: returns 0, or -1 with a
 * message naming the file, the line and what was expected in err.
 */
int config_load(struct config *c, const char *path, char *err, size_t errlen);

/*
 * Parse argv (flags: --port N, --tls-port N, --mgmt-port N, --prometheus-port N, --data-dir DIR, --config FILE,
 * --log-level LEVEL, --help, --version).  --config is loaded first and the
 * other flags override it, whatever their order.  Returns 0 to run, 1 when
 * --help or --version was printed, -1 on error (message printed to stderr).
 */
int config_from_args(struct config *c, int argc, char **argv);

bool config_is_loopback_user(const struct config *c, const char *user);

/*
 * The one bounded number parser for config files, flags and HTTP
 * (OpenBSD strtonum): s must be an optional sign and decimal digits, no
 * blanks, with a value in [min, max].  Returns 0 with *out, or -1 with
 * *errstr "invalid", "too small" or "too large".
 */
int config_strtonum(const char *s, long long min, long long max, long long *out,
                    const char **errstr);

void config_free(struct config *c);

#endif
