/*
 * server/config.c: RabbitMQ's defaults, every rabbitmq.conf key warren
 * reads, the errors (with file and line), and flags overriding the file.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/config.h"
#include "server/log.h"
#include "tests/unit/server/test_capture.h"
#include "tests/unit/server/test_server.h"

static char conf_path[64];

/* Write text to a fresh temporary file, named in conf_path. */
static void
write_conf(const char *text)
{
	int fd;

	strcpy(conf_path, "/tmp/warren-test-conf-XXXXXX");
	fd = mkstemp(conf_path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* config_load on text, from defaults; err gets the message. */
static int
load(struct config *c, const char *text, char *err, size_t errlen)
{
	int rc;

	config_defaults(c);
	write_conf(text);
	err[0] = '\0';
	rc = config_load(c, conf_path, err, errlen);
	unlink(conf_path);
	return rc;
}

/* Expect text to fail at line with a message containing what. */
static void
load_fails(const char *text, unsigned line, const char *what)
{
	struct config c;
	char          err[512], prefix[128];
	int           rc;

	config_defaults(&c);
	write_conf(text);
	rc = config_load(&c, conf_path, err, sizeof(err));
	unlink(conf_path);
	ck_assert_msg(rc == -1, "'%s' loaded", text);
	snprintf(prefix, sizeof(prefix), "%s:%u: ", conf_path, line);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "'%s': got '%s', want prefix '%s'",
	              text, err, prefix);
	ck_assert_msg(strstr(err, what) != NULL, "'%s': got '%s', want '%s' in it", text, err,
	              what);
	config_free(&c);
}

START_TEST(test_defaults)
{
	struct config c;

	config_defaults(&c);
	ck_assert_ptr_null(c.listen_host);
	ck_assert_uint_eq(c.port, 5672);
	ck_assert_uint_eq(c.mgmt_port, 15672);
	ck_assert_str_eq(c.data_dir, "./warren-data");
	ck_assert_str_eq(c.default_user, "guest");
	ck_assert_str_eq(c.default_pass, "guest");
	ck_assert_str_eq(c.default_vhost, "/");
	ck_assert_int_eq(c.n_loopback_users, 1);
	ck_assert_str_eq(c.loopback_users[0], "guest");
	ck_assert(config_is_loopback_user(&c, "guest"));
	ck_assert(!config_is_loopback_user(&c, "alice"));
	ck_assert_uint_eq(c.heartbeat, 60);
	ck_assert_uint_eq(c.frame_max, 131072);
	ck_assert_uint_eq(c.channel_max, 2047);
	ck_assert_uint_eq(c.max_message_size, 134217728);
	ck_assert_uint_eq(c.handshake_timeout, 10000);
	ck_assert_int_eq(c.log_level, LOG_INFO);
	config_free(&c);
	config_free(&c); /* harmless twice: all zero */
}
END_TEST

START_TEST(test_every_key)
{
	struct config c;
	char          err[512];

	ck_assert_int_eq(load(&c,
	                      "# a full file\n"
	                      "listeners.tcp.default = 127.0.0.1:5673\n"
	                      "management.tcp.port = 15673\n"
	                      "default_user = admin\n"
	                      "default_pass = s3cret\n"
	                      "default_vhost = /prod\n"
	                      "loopback_users.admin = true\n"
	                      "heartbeat = 30\n"
	                      "frame_max = 65536\n"
	                      "channel_max = 100\n"
	                      "max_message_size = 1048576\n"
	                      "handshake_timeout = 5000\n"
	                      "log.console = true\n"
	                      "log.console.level = debug\n",
	                      err, sizeof(err)),
	                 0);
	ck_assert_str_eq(err, "");
	ck_assert_str_eq(c.listen_host, "127.0.0.1");
	ck_assert_uint_eq(c.port, 5673);
	ck_assert_uint_eq(c.mgmt_port, 15673);
	ck_assert_str_eq(c.default_user, "admin");
	ck_assert_str_eq(c.default_pass, "s3cret");
	ck_assert_str_eq(c.default_vhost, "/prod");
	ck_assert_int_eq(c.n_loopback_users, 1);
	ck_assert(config_is_loopback_user(&c, "admin"));
	ck_assert(!config_is_loopback_user(&c, "guest")); /* the list was replaced */
	ck_assert_uint_eq(c.heartbeat, 30);
	ck_assert_uint_eq(c.frame_max, 65536);
	ck_assert_uint_eq(c.channel_max, 100);
	ck_assert_uint_eq(c.max_message_size, 1048576);
	ck_assert_uint_eq(c.handshake_timeout, 5000);
	ck_assert_int_eq(c.log_level, LOG_DEBUG);
	/* untouched */
	ck_assert_str_eq(c.data_dir, "./warren-data");
	config_free(&c);
}
END_TEST

START_TEST(test_listeners)
{
	static const struct {
		const char *line;
		const char *host; /* NULL: all interfaces */
		unsigned    port;
	} ok[] = {
		{ "listeners.tcp.default = 5673", NULL, 5673 },
		{ "listeners.tcp.default = 0", NULL, 0 },
		{ "listeners.tcp.default = 65535", NULL, 65535 },
		{ "listeners.tcp.default = 127.0.0.1:5674", "127.0.0.1", 5674 },
		{ "listeners.tcp.default = 0.0.0.0:5675", "0.0.0.0", 5675 },
		{ "listeners.tcp.default = ::1:5676", "::1", 5676 },
		{ "listeners.tcp.default = :::5677", "::", 5677 },
		{ "listeners.tcp.default = [::1]:5678", "::1", 5678 },
		{ "listeners.tcp.other = fe80::1:5679", "fe80::1", 5679 },
		{ "listeners.tcp.1 = 5680", NULL, 5680 },
	};
	static const char *const bad[] = {
		"listeners.tcp.default = 65536",
		"listeners.tcp.default = -1",
		"listeners.tcp.default = abc",
		"listeners.tcp.default = localhost:5672",
		"listeners.tcp.default = 1.2.3:5672",
		"listeners.tcp.default = :5672",
		"listeners.tcp.default = 127.0.0.1:",
		"listeners.tcp.default = 127.0.0.1:x",
		"listeners.tcp.default = 127.0.0.1:70000",
		"listeners.tcp.default = [127.0.0.1]:5672",
		"listeners.tcp.default = 5672 5673",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct config c;
		char          err[512];

		ck_assert_msg(load(&c, ok[i].line, err, sizeof(err)) == 0, "%s: %s", ok[i].line, err);
		if (ok[i].host)
			ck_assert_str_eq(c.listen_host, ok[i].host);
		else
			ck_assert_ptr_null(c.listen_host);
		ck_assert_uint_eq(c.port, ok[i].port);
		config_free(&c);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		load_fails(bad[i], 1, "listeners.tcp.default: expected a port 0..65535 or IP:PORT");
	load_fails("listeners.tcp = none", 1, "listeners.tcp = none");
	load_fails("listeners.tcp = 5672", 1, "listeners.tcp: expected none");
}
END_TEST

/* The first listener named is used; later settings of it still apply. */
START_TEST(test_first_listener_wins)
{
	struct config c;
	char          err[512];

	ck_assert_int_eq(load(&c,
	                      "listeners.tcp.a = 127.0.0.1:6000\n"
	                      "listeners.tcp.b = 7000\n"
	                      "listeners.tcp.a = 6001\n",
	                      err, sizeof(err)),
	                 0);
	ck_assert_uint_eq(c.port, 6001);
	ck_assert_ptr_null(c.listen_host);
	config_free(&c);
}
END_TEST

START_TEST(test_management)
{
	struct config c;
	char          err[512];

	ck_assert_int_eq(load(&c, "management.listener.port = 0", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.mgmt_port, 0);
	config_free(&c);
	ck_assert_int_eq(load(&c, "management.tcp.port = 8080\nmanagement.listener.port = 8081",
	                      err, sizeof(err)),
	                 0);
	ck_assert_uint_eq(c.mgmt_port, 8081);
	config_free(&c);
	load_fails("management.tcp.port = 65536", 1, "management.tcp.port: expected an integer 0..65535, got '65536' (too large)");
	load_fails("management.tcp.port = http", 1, "got 'http' (invalid)");
	load_fails("management.tcp.ip = 0.0.0.0", 1, "unknown key 'management.tcp.ip'");
}
END_TEST

START_TEST(test_users)
{
	struct config c;
	char          err[512];

	ck_assert_int_eq(load(&c, "default_pass = 'p#ss word'  # quoted\ndefault_user=bob",
	                      err, sizeof(err)),
	                 0);
	ck_assert_str_eq(c.default_pass, "p#ss word");
	ck_assert_str_eq(c.default_user, "bob");
	config_free(&c);
	ck_assert_int_eq(load(&c, "default_pass = ab#cd", err, sizeof(err)), 0);
	ck_assert_str_eq(c.default_pass, "ab"); /* '#' starts a comment, as in cuttlefish */
	config_free(&c);
	load_fails("default_user = ''", 1, "default_user: expected a non-empty string");
	load_fails("default_vhost =", 1, "default_vhost: missing value");
	load_fails("default_vhost = # nothing", 1, "default_vhost: missing value");
}
END_TEST

START_TEST(test_loopback_users)
{
	struct config c;
	char          err[512];

	/* naming a user replaces the default list */
	ck_assert_int_eq(load(&c, "loopback_users.alice = true", err, sizeof(err)), 0);
	ck_assert(config_is_loopback_user(&c, "alice"));
	ck_assert(!config_is_loopback_user(&c, "guest"));
	config_free(&c);

	ck_assert_int_eq(load(&c, "loopback_users.guest = false", err, sizeof(err)), 0);
	ck_assert_int_eq(c.n_loopback_users, 0);
	config_free(&c);

	ck_assert_int_eq(load(&c, "loopback_users.guest = true\nloopback_users.bob = true\n"
	                          "loopback_users.guest = false\n",
	                      err, sizeof(err)),
	                 0);
	ck_assert_int_eq(c.n_loopback_users, 1);
	ck_assert(config_is_loopback_user(&c, "bob"));
	config_free(&c);

	/* none wins wherever it is */
	ck_assert_int_eq(load(&c, "loopback_users = none\nloopback_users.bob = true\n", err,
	                      sizeof(err)),
	                 0);
	ck_assert_int_eq(c.n_loopback_users, 0);
	config_free(&c);

	/* an escaped dot belongs to the name */
	ck_assert_int_eq(load(&c, "loopback_users.john\\.doe = true", err, sizeof(err)), 0);
	ck_assert(config_is_loopback_user(&c, "john.doe"));
	config_free(&c);

	load_fails("loopback_users.guest = yes", 1, "loopback_users.guest: expected true or false, got 'yes'");
	load_fails("loopback_users = all", 1, "loopback_users: expected none");
	load_fails("loopback_users.a.b = true", 1, "unknown key 'loopback_users.a.b'");
}
END_TEST

START_TEST(test_loopback_users_limit)
{
	char text[2048] = "";
	char line[64];

	for (int i = 0; i <= CONFIG_MAX_LOOPBACK_USERS; i++) {
		snprintf(line, sizeof(line), "loopback_users.u%d = true\n", i);
		strcat(text, line);
	}
	load_fails(text, CONFIG_MAX_LOOPBACK_USERS + 1, "at most 16 users");
}
END_TEST

/* Memory and disk amounts read as RabbitMQ reads them: kB/MB/GB are powers of 1000. */
START_TEST(test_information_units)
{
	static const struct {
		const char *line;
		uint64_t    mem, disk;
	} ok[] = {
		{ "vm_memory_high_watermark.absolute = 1000", 1000, 0 },
		{ "vm_memory_high_watermark.absolute = 2MB", 2000000, 0 },
		{ "vm_memory_high_watermark.absolute = 2MiB", 2097152, 0 },
		{ "vm_memory_high_watermark.absolute = 2M", 2097152, 0 },
		{ "vm_memory_high_watermark.absolute = 3kB", 3000, 0 },
		{ "vm_memory_high_watermark.absolute = 3kiB", 3072, 0 },
		{ "vm_memory_high_watermark.absolute = 1GB", 1000000000, 0 },
		{ "vm_memory_high_watermark.absolute = 1GiB", 1073741824, 0 },
		{ "disk_free_limit.absolute = 50MB", 0, 50000000 },
		{ "disk_free_limit.absolute = 1G", 0, 1073741824 },
	};
	struct config c;
	char          err[512];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_int_eq(load(&c, ok[i].line, err, sizeof(err)), 0);
		if (ok[i].mem)
			ck_assert_uint_eq(c.mem_absolute, ok[i].mem);
		if (ok[i].disk)
			ck_assert_uint_eq(c.disk_free_limit, ok[i].disk);
		config_free(&c);
	}
	load_fails("vm_memory_high_watermark.absolute = 2mb", 1, "an amount of bytes");
	load_fails("disk_free_limit.absolute = MB", 1, "an amount of bytes");
	load_fails("disk_free_limit.absolute = 1.5GB", 1, "an amount of bytes");
}
END_TEST

START_TEST(test_numbers)
{
	static const struct {
		const char *line;
		unsigned    hb, fm, cm, mms, ht;
	} ok[] = {
		{ "heartbeat = 0", 0, 131072, 2047, 134217728, 10000 },
		{ "heartbeat = 65535", 65535, 131072, 2047, 134217728, 10000 },
		{ "heartbeat = +5", 5, 131072, 2047, 134217728, 10000 },
		{ "heartbeat = 007", 7, 131072, 2047, 134217728, 10000 },
		{ "frame_max = 0", 60, 0, 2047, 134217728, 10000 },
		{ "frame_max = 4096", 60, 4096, 2047, 134217728, 10000 },
		{ "frame_max = 4294967295", 60, 4294967295u, 2047, 134217728, 10000 },
		{ "frame_max = 128KB", 60, 131072, 2047, 134217728, 10000 },
		{ "frame_max = 1mb", 60, 1048576, 2047, 134217728, 10000 },
		{ "frame_max = 3GB", 60, 3221225472u, 2047, 134217728, 10000 },
		{ "channel_max = 0", 60, 131072, 0, 134217728, 10000 },
		{ "channel_max = 65535", 60, 131072, 65535, 134217728, 10000 },
		{ "max_message_size = 1", 60, 131072, 2047, 1, 10000 },
		{ "max_message_size = 536870912", 60, 131072, 2047, 536870912, 10000 },
		{ "handshake_timeout = 1", 60, 131072, 2047, 134217728, 1 },
		{ "handshake_timeout = 4294967295", 60, 131072, 2047, 134217728, 4294967295u },
	};
	static const struct {
		const char *line, *what;
	} bad[] = {
		{ "heartbeat = abc", "heartbeat: expected an integer 0..65535, got 'abc' (invalid)" },
		{ "heartbeat = -1", "heartbeat: expected an integer 0..65535, got '-1' (too small)" },
		{ "heartbeat = 65536", "heartbeat: expected an integer 0..65535, got '65536' (too large)" },
		{ "heartbeat = 1.5", "got '1.5' (invalid)" },
		{ "heartbeat = 0x10", "got '0x10' (invalid)" },
		{ "heartbeat = 5 s", "got '5 s' (invalid)" },
		{ "heartbeat = 99999999999999999999999", "(too large)" },
		{ "heartbeat = -99999999999999999999999", "(too small)" },
		{ "frame_max = 4095", "frame_max: expected 0 (no limit) or at least 4096" },
		{ "frame_max = 1KB", "frame_max: expected 0 (no limit) or at least 4096" },
		{ "frame_max = 4294967296", "frame_max: expected a size in bytes 0..4294967295" },
		{ "frame_max = 4GB", "frame_max: expected a size in bytes" },
		{ "frame_max = KB", "frame_max: expected a size in bytes" },
		{ "frame_max = 12kB", "frame_max: expected a size in bytes" },
		{ "channel_max = 65536", "channel_max: expected an integer 0..65535" },
		{ "max_message_size = 0", "max_message_size: expected an integer 1..536870912, got '0' (too small)" },
		{ "max_message_size = 536870913", "(too large)" },
		{ "handshake_timeout = 0", "handshake_timeout: expected an integer 1..4294967295" },
		{ "handshake_timeout = infinity", "(invalid)" },
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct config c;
		char          err[512];

		ck_assert_msg(load(&c, ok[i].line, err, sizeof(err)) == 0, "%s: %s", ok[i].line, err);
		ck_assert_uint_eq(c.heartbeat, ok[i].hb);
		ck_assert_uint_eq(c.frame_max, ok[i].fm);
		ck_assert_uint_eq(c.channel_max, ok[i].cm);
		ck_assert_uint_eq(c.max_message_size, ok[i].mms);
		ck_assert_uint_eq(c.handshake_timeout, ok[i].ht);
		config_free(&c);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		load_fails(bad[i].line, 1, bad[i].what);
}
END_TEST

START_TEST(test_log_levels)
{
	static const struct {
		const char *text;
		int         level;
	} ok[] = {
		{ "log.console.level = debug", LOG_DEBUG },
		{ "log.console.level = info", LOG_INFO },
		{ "log.console.level = notice", LOG_WARNING },
		{ "log.console.level = warning", LOG_WARNING },
		{ "log.console.level = error", LOG_ERROR },
		{ "log.console.level = critical", LOG_ERROR },
		{ "log.console.level = alert", LOG_ERROR },
		{ "log.console.level = emergency", LOG_ERROR },
		{ "log.console.level = none", LOG_ERROR - 1 },
		{ "log.file.level = debug", LOG_DEBUG },
		{ "log.level = warning", LOG_WARNING },
		/* the console's level wins, whatever the order */
		{ "log.console.level = error\nlog.file.level = debug", LOG_ERROR },
		{ "log.file.level = debug\nlog.console.level = error", LOG_ERROR },
		{ "log.file.level = debug\nlog.level = error", LOG_ERROR },
		{ "log.console = false", LOG_INFO },
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct config c;
		char          err[512];

		ck_assert_msg(load(&c, ok[i].text, err, sizeof(err)) == 0, "%s: %s", ok[i].text, err);
		ck_assert_int_eq(c.log_level, ok[i].level);
		config_free(&c);
	}
	load_fails("log.console.level = verbose", 1, "log.console.level: expected one of debug, info, notice, warning, error, critical, alert, emergency, none; got 'verbose'");
	load_fails("log.console.level = DEBUG", 1, "got 'DEBUG'");
	load_fails("log.file.level = loud", 1, "log.file.level: expected one of");
	load_fails("log.console = yes", 1, "log.console: expected true or false, got 'yes'");
}
END_TEST

START_TEST(test_syntax)
{
	struct config c;
	char          err[512];

	ck_assert_int_eq(load(&c,
	                      "\n"
	                      "# comment\n"
	                      "   # indented comment\n"
	                      "\t\n"
	                      "  heartbeat\t=\t30   # trailing comment\r\n"
	                      "channel_max=7\r\n"
	                      "heartbeat = 31\n" /* the last value wins */
	                      "frame_max = 8192", /* no newline at the end */
	                      err, sizeof(err)),
	                 0);
	ck_assert_uint_eq(c.heartbeat, 31);
	ck_assert_uint_eq(c.channel_max, 7);
	ck_assert_uint_eq(c.frame_max, 8192);
	config_free(&c);

	ck_assert_int_eq(load(&c, "", err, sizeof(err)), 0);
	config_free(&c);

	load_fails("heartbeat 30", 1, "expected '=' after key 'heartbeat'");
	load_fails("\n\n= 30", 3, "expected 'key = value', got '= 30'");
	load_fails("# ok\nheartbeat = 30\nbogus.key = 1\n", 3, "unknown key 'bogus.key'");
	load_fails("heartbeat = 30\nHeartbeat = 30", 2, "unknown key 'Heartbeat'");
	load_fails("default_pass = 'abc", 1, "default_pass: unterminated quoted value");
	load_fails("default_pass = 'abc' def", 1, "default_pass: unexpected text after the quoted value");
	load_fails("include /etc/rabbitmq/conf.d/*.conf", 1, "include is not supported");
	load_fails("heart beat = 1", 1, "expected '=' after key 'heart'");
	load_fails("a..b = 1", 1, "expected '=' after key 'a'");
	load_fails("a.b. = 1", 1, "expected '=' after key 'a.b'");
	load_fails("a.b.c.d.e.f.g.h.i = 1", 1, "key has too many parts");
	load_fails("heartbeat = 1\nhéartbeat = 1", 2, "expected '=' after key 'h'");
}
END_TEST

START_TEST(test_missing_file)
{
	struct config c;
	char          err[512];

	config_defaults(&c);
	ck_assert_int_eq(config_load(&c, "/nonexistent/warren.conf", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "/nonexistent/warren.conf: No such file or directory");
	ck_assert_int_eq(config_load(&c, "/tmp", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "/tmp: Is a directory");
	config_free(&c);
}
END_TEST

START_TEST(test_strtonum)
{
	static const struct {
		const char *s;
		long long   min, max, want;
		const char *err;
	} cases[] = {
		{ "0", 0, 10, 0, NULL },
		{ "10", 0, 10, 10, NULL },
		{ "11", 0, 10, 0, "too large" },
		{ "-1", 0, 10, 0, "too small" },
		{ "-5", -10, 10, -5, NULL },
		{ "+5", -10, 10, 5, NULL },
		{ "", 0, 10, 0, "invalid" },
		{ "-", 0, 10, 0, "invalid" },
		{ " 5", 0, 10, 0, "invalid" },
		{ "5 ", 0, 10, 0, "invalid" },
		{ "5x", 0, 10, 0, "invalid" },
		{ "x5", 0, 10, 0, "invalid" },
		{ "9223372036854775807", 0, 9223372036854775807LL, 9223372036854775807LL, NULL },
		{ "9223372036854775808", 0, 9223372036854775807LL, 0, "too large" },
		{ "-9223372036854775809", -9223372036854775807LL - 1, 0, 0, "too small" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long long   v = 12345;
		const char *err = "unset";
		int         rc = config_strtonum(cases[i].s, cases[i].min, cases[i].max, &v, &err);

		if (cases[i].err == NULL) {
			ck_assert_msg(rc == 0, "'%s': %s", cases[i].s, err);
			ck_assert_ptr_null(err);
			ck_assert_int_eq(v, cases[i].want);
		} else {
			ck_assert_msg(rc == -1, "'%s' parsed", cases[i].s);
			ck_assert_str_eq(err, cases[i].err);
			ck_assert_int_eq(v, 12345); /* untouched */
		}
	}
}
END_TEST

/* config_from_args on a NULL-terminated list, argv[0] included. */
static int
from_args(struct config *c, const char *arg0, ...)
{
	char   *argv[32];
	int     argc = 0;
	va_list ap;

	argv[argc++] = (char *)(uintptr_t)arg0;
	va_start(ap, arg0);
	while (argc < 31 && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	return config_from_args(c, argc, argv);
}

START_TEST(test_flags)
{
	struct config c;

	config_defaults(&c);
	ck_assert_int_eq(from_args(&c, "warren", NULL), 0);
	ck_assert_uint_eq(c.port, 5672);
	ck_assert_int_eq(from_args(&c, "warren", "--port", "5999", "--mgmt-port=0", "--data-dir",
	                           "/var/lib/warren", "--log-level", "debug", NULL),
	                 0);
	ck_assert_uint_eq(c.port, 5999);
	ck_assert_uint_eq(c.mgmt_port, 0);
	ck_assert_str_eq(c.data_dir, "/var/lib/warren");
	ck_assert_int_eq(c.log_level, LOG_DEBUG);
	ck_assert_int_eq(from_args(&c, "warren", "--port=0", "--log-level=warn", NULL), 0);
	ck_assert_uint_eq(c.port, 0);
	ck_assert_int_eq(c.log_level, LOG_WARNING);
	config_free(&c);
}
END_TEST

/* Flags override the file whatever their order; the rest of the file stays. */
START_TEST(test_flags_override_file)
{
	struct config  c;
	struct capture cap;

	write_conf("listeners.tcp.default = 127.0.0.1:5673\n"
	           "management.tcp.port = 15999\n"
	           "heartbeat = 10\n"
	           "log.console.level = error\n");
	config_defaults(&c);
	ck_assert_int_eq(from_args(&c, "warren", "--port", "6000", "--log-level", "debug",
	                           "--config", conf_path, NULL),
	                 0);
	ck_assert_uint_eq(c.port, 6000);
	ck_assert_str_eq(c.listen_host, "127.0.0.1");
	ck_assert_uint_eq(c.mgmt_port, 15999);
	ck_assert_uint_eq(c.heartbeat, 10);
	ck_assert_int_eq(c.log_level, LOG_DEBUG);
	config_free(&c);

	config_defaults(&c);
	capture_start(&cap, STDERR_FILENO);
	ck_assert_int_eq(from_args(&c, "warren", "--config=", NULL), -1); /* no such file "" */
	free(capture_stop(&cap));
	ck_assert_int_eq(from_args(&c, "warren", "--config", conf_path, NULL), 0);
	ck_assert_uint_eq(c.port, 5673);
	ck_assert_int_eq(c.log_level, LOG_ERROR);
	config_free(&c);
	unlink(conf_path);
}
END_TEST

START_TEST(test_flag_errors)
{
	static const char *const bad[][3] = {
		{ "--port", "65536", "--port: expected a port 0..65535, got '65536' (too large)" },
		{ "--port", "x", "--port: expected a port 0..65535, got 'x' (invalid)" },
		{ "--mgmt-port", "-1", "--mgmt-port: expected a port 0..65535, got '-1' (too small)" },
		{ "--log-level", "loud", "--log-level: expected error, warning, info or debug, got 'loud'" },
		{ "--data-dir", "", "--data-dir: expected a directory" },
		{ "--bogus", "1", "unknown argument '--bogus'" },
		{ "stray", NULL, "unknown argument 'stray'" },
		{ "--portx", "1", "unknown argument '--portx'" },
		{ "--port", NULL, "--port needs a value" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config  c;
		struct capture cap;
		char          *out;

		config_defaults(&c);
		capture_start(&cap, STDERR_FILENO);
		ck_assert_int_eq(from_args(&c, "warren", bad[i][0], bad[i][1], NULL), -1);
		out = capture_stop(&cap);
		ck_assert_msg(strstr(out, bad[i][2]) != NULL, "got '%s', want '%s'", out, bad[i][2]);
		ck_assert_msg(strncmp(out, "warren: ", 8) == 0, "got '%s'", out);
		free(out);
		config_free(&c);
	}
}
END_TEST

START_TEST(test_flag_config_error)
{
	struct config  c;
	struct capture cap;
	char          *out, want[128];

	write_conf("heartbeat = 1\nheartbeat = x\n");
	snprintf(want, sizeof(want), "warren: %s:2: heartbeat: expected an integer", conf_path);
	config_defaults(&c);
	capture_start(&cap, STDERR_FILENO);
	ck_assert_int_eq(from_args(&c, "warren", "--port", "1", "--config", conf_path, NULL), -1);
	out = capture_stop(&cap);
	ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "got '%s'", out);
	free(out);
	config_free(&c);
	unlink(conf_path);
}
END_TEST

START_TEST(test_help_version)
{
	static const char *const flags[] = { "--config FILE", "--port N", "--mgmt-port N",
		                             "--data-dir DIR", "--log-level LEVEL", "--help",
		                             "--version" };
	struct config            c;
	struct capture           cap;
	char                    *out;

	config_defaults(&c);
	capture_start(&cap, STDOUT_FILENO);
	ck_assert_int_eq(from_args(&c, "warren", "--port", "1", "--help", "--bogus", NULL), 1);
	out = capture_stop(&cap);
	ck_assert_msg(strncmp(out, "usage: warren", 13) == 0, "got '%s'", out);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		ck_assert_msg(strstr(out, flags[i]) != NULL, "usage lacks %s", flags[i]);
	free(out);
	ck_assert_uint_eq(c.port, 5672); /* nothing applied */

	capture_start(&cap, STDOUT_FILENO);
	ck_assert_int_eq(from_args(&c, "warren", "--version", NULL), 1);
	out = capture_stop(&cap);
	ck_assert_str_eq(out, "warren 0.1.0\n");
	free(out);
	config_free(&c);
}
END_TEST

/* log.file, log.dir, log.console, and the file's own level. */
START_TEST(test_log_file)
{
	struct config c;
	char          err[512];

	ck_assert_int_eq(load(&c, "heartbeat = 5", err, sizeof(err)), 0);
	ck_assert_ptr_null(c.log_file);
	ck_assert(c.log_console);
	ck_assert_int_eq(c.log_file_level, LOG_INFO);
	config_free(&c);

	ck_assert_int_eq(load(&c, "log.file = /var/log/w.log\nlog.console = false", err,
	                      sizeof(err)), 0);
	ck_assert_str_eq(c.log_file, "/var/log/w.log");
	ck_assert(!c.log_console);
	config_free(&c);

	/* a relative name is taken in log.dir, wherever log.dir appears */
	ck_assert_int_eq(load(&c, "log.file = w.log\nlog.dir = /var/log/warren", err, sizeof(err)),
	                 0);
	ck_assert_str_eq(c.log_file, "/var/log/warren/w.log");
	config_free(&c);
	ck_assert_int_eq(load(&c, "log.dir = /d\nlog.file = /abs.log", err, sizeof(err)), 0);
	ck_assert_str_eq(c.log_file, "/abs.log");
	config_free(&c);
	ck_assert_int_eq(load(&c, "log.file = w.log\nlog.file = false", err, sizeof(err)), 0);
	ck_assert_ptr_null(c.log_file);
	config_free(&c);

	/* the file's level is its own; without one it follows the console's */
	ck_assert_int_eq(load(&c, "log.console.level = error\nlog.file.level = debug", err,
	                      sizeof(err)), 0);
	ck_assert_int_eq(c.log_level, LOG_ERROR);
	ck_assert_int_eq(c.log_file_level, LOG_DEBUG);
	config_free(&c);
	ck_assert_int_eq(load(&c, "log.console.level = warning", err, sizeof(err)), 0);
	ck_assert_int_eq(c.log_file_level, LOG_WARNING);
	config_free(&c);

	load_fails("log.file = true", 1, "log.file: expected a file name or false, got 'true'");
	load_fails("heartbeat = 1\nlog.file =", 2, "log.file: missing value");
}
END_TEST

/* TLS, EXTERNAL and connection_max keys (issue #6). */
START_TEST(test_tls_keys)
{
	struct config c;
	char          err[512];

	config_defaults(&c);
	ck_assert_uint_eq(c.tls_port, 0);
	ck_assert_uint_eq(c.auth_mechanisms, CONFIG_AUTH_PLAIN | CONFIG_AUTH_AMQPLAIN);
	ck_assert(!c.cert_login_cn);
	ck_assert_int_eq(c.connection_max, -1);
	ck_assert_int_eq(c.tls.depth, -1);
	config_free(&c);

	ck_assert_int_eq(load(&c,
	                      "listeners.ssl.default = 127.0.0.1:5671\n"
	                      "listeners.ssl.other = 9999\n"
	                      "ssl_options.cacertfile = /c/ca.pem\n"
	                      "ssl_options.certfile = /c/s.pem\n"
	                      "ssl_options.keyfile = /c/s.key\n"
	                      "ssl_options.password = 'p#w'\n"
	                      "ssl_options.verify = verify_peer\n"
	                      "ssl_options.fail_if_no_peer_cert = true\n"
	                      "ssl_options.versions.1 = tlsv1.3\n"
	                      "ssl_options.ciphers.1 = TLS_AES_256_GCM_SHA384\n"
	                      "ssl_options.ciphers.2 = ECDHE-RSA-AES256-GCM-SHA384\n"
	                      "ssl_options.depth = 3\n"
	                      "ssl_options.honor_cipher_order = true\n"
	                      "ssl_options.honor_ecc_order = true\n"
	                      "management.ssl.port = 15671\n"
	                      "management.ssl.certfile = /c/m.pem\n"
	                      "management.ssl.keyfile = /c/m.key\n"
	                      "auth_mechanisms.1 = EXTERNAL\n"
	                      "auth_mechanisms.2 = PLAIN\n"
	                      "ssl_cert_login_from = common_name\n"
	                      "connection_max = 100\n",
	                      err, sizeof(err)),
	                 0);
	ck_assert_uint_eq(c.tls_port, 5671);
	ck_assert_str_eq(c.tls_host, "127.0.0.1");
	ck_assert_str_eq(c.tls.cacertfile, "/c/ca.pem");
	ck_assert_str_eq(c.tls.certfile, "/c/s.pem");
	ck_assert_str_eq(c.tls.keyfile, "/c/s.key");
	ck_assert_str_eq(c.tls.password, "p#w");
	ck_assert(c.tls.verify_peer && c.tls.fail_if_no_peer_cert && c.tls.honor_cipher_order);
	ck_assert_uint_eq(c.tls.versions, CONFIG_TLS13);
	ck_assert_str_eq(c.tls.ciphers, "TLS_AES_256_GCM_SHA384:ECDHE-RSA-AES256-GCM-SHA384");
	ck_assert_int_eq(c.tls.depth, 3);
	ck_assert_uint_eq(c.mgmt_tls_port, 15671);
	ck_assert_str_eq(c.mgmt_tls.certfile, "/c/m.pem");
	ck_assert_ptr_null(c.mgmt_tls.cacertfile);
	ck_assert_uint_eq(c.auth_mechanisms, CONFIG_AUTH_EXTERNAL | CONFIG_AUTH_PLAIN);
	ck_assert(c.cert_login_cn);
	ck_assert_int_eq(c.connection_max, 100);
	config_free(&c);

	ck_assert_int_eq(load(&c, "listeners.ssl.default = 5671\nlisteners.ssl = none\n"
	                          "connection_max = infinity\n",
	                      err, sizeof(err)),
	                 0);
	ck_assert_uint_eq(c.tls_port, 0);
	ck_assert_int_eq(c.connection_max, -1);
	config_free(&c);

	load_fails("ssl_options.versions.1 = tlsv1.2\nssl_options.versions.2 = tlsv1.1\n", 2,
	           "tlsv1.1 is not allowed");
	load_fails("ssl_options.versions.1 = tlsv1\n", 1, "not allowed");
	load_fails("ssl_options.versions.1 = tls13\n", 1, "expected tlsv1.3 or tlsv1.2");
	load_fails("ssl_options.verify = yes\n", 1, "verify_peer or verify_none");
	load_fails("ssl_options.fail_if_no_peer_cert = 1\n", 1, "true or false");
	load_fails("ssl_options.ciphers.1 = A:B\n", 1, "one cipher");
	load_fails("ssl_options.bogus = 1\n", 1, "unknown key");
	load_fails("management.ssl.port = 70000\n", 1, "management.ssl.port");
	load_fails("auth_mechanisms.1 = CRAM\n", 1, "PLAIN, AMQPLAIN or EXTERNAL");
	load_fails("ssl_cert_login_from = serial\n", 1, "common_name or distinguished_name");
	load_fails("connection_max = -1\n", 1, "connection_max");
	load_fails("listeners.ssl = 5671\n", 1, "expected none");
}
END_TEST

START_TEST(test_tls_flag)
{
	struct config c;

	config_defaults(&c);
	ck_assert_int_eq(from_args(&c, "warren", "--tls-port", "5671", NULL), 0);
	ck_assert_uint_eq(c.tls_port, 5671);
	ck_assert_int_eq(from_args(&c, "warren", "--tls-port=0", NULL), 0);
	ck_assert_uint_eq(c.tls_port, 0);
	config_free(&c);
}
END_TEST

Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_every_key);
	tcase_add_test(tc, test_listeners);
	tcase_add_test(tc, test_first_listener_wins);
	tcase_add_test(tc, test_management);
	tcase_add_test(tc, test_users);
	tcase_add_test(tc, test_loopback_users);
	tcase_add_test(tc, test_loopback_users_limit);
	tcase_add_test(tc, test_numbers);
	tcase_add_test(tc, test_information_units);
	tcase_add_test(tc, test_log_levels);
	tcase_add_test(tc, test_log_file);
	tcase_add_test(tc, test_syntax);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_strtonum);
	tcase_add_test(tc, test_flags);
	tcase_add_test(tc, test_flags_override_file);
	tcase_add_test(tc, test_flag_errors);
	tcase_add_test(tc, test_flag_config_error);
	tcase_add_test(tc, test_help_version);
	tcase_add_test(tc, test_tls_keys);
	tcase_add_test(tc, test_tls_flag);
	suite_add_tcase(s, tc);
	return s;
}
