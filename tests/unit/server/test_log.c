/*
 * server/log.c: the line format (UTC, milliseconds, level), level
 * filtering, errno text for log_warn, one line per event, fatalx.
 */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/log.h"
#include "tests/unit/server/test_capture.h"
#include "tests/unit/server/test_server.h"

#define STAMP "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3} "

static void
assert_matches(const char *s, const char *re)
{
	regex_t r;

	ck_assert_int_eq(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
	ck_assert_msg(regexec(&r, s, 0, NULL, 0) == 0, "'%s' does not match /%s/", s, re);
	regfree(&r);
}

START_TEST(test_format)
{
	struct capture cap;
	char          *out;

	log_set_level(LOG_INFO);
	capture_start(&cap, STDERR_FILENO);
	log_info("hello %d <conn %s>", 42, "7");
	out = capture_stop(&cap);
	assert_matches(out, STAMP "\\[info\\] hello 42 <conn 7>\n$");
	free(out);
}
END_TEST

/* The stamp is UTC and current. */
START_TEST(test_timestamp_utc)
{
	struct capture cap;
	char          *out;
	struct tm      tm;
	time_t         before = time(NULL), stamped;

	capture_start(&cap, STDERR_FILENO);
	log_error("x");
	out = capture_stop(&cap);
	memset(&tm, 0, sizeof(tm));
	ck_assert_ptr_nonnull(strptime(out, "%Y-%m-%d %H:%M:%S", &tm));
	stamped = timegm(&tm);
	ck_assert_int_ge(stamped, before - 1);
	ck_assert_int_le(stamped, time(NULL) + 1);
	free(out);
}
END_TEST

START_TEST(test_levels)
{
	struct capture cap;
	char          *out;

	log_set_level(LOG_WARNING);
	ck_assert(log_enabled(LOG_ERROR));
	ck_assert(log_enabled(LOG_WARNING));
	ck_assert(!log_enabled(LOG_INFO));
	ck_assert(!log_enabled(LOG_DEBUG));
	capture_start(&cap, STDERR_FILENO);
	log_debug("d");
	log_info("i");
	log_warnx("w");
	log_error("e");
	log_msg(LOG_INFO, "mi");
	log_msg(LOG_WARNING, "mw");
	out = capture_stop(&cap);
	assert_matches(out, STAMP "\\[warning\\] w\n[-0-9: .]+\\[error\\] e\n[-0-9: .]+\\[warning\\] mw\n$");
	free(out);

	log_set_level(LOG_DEBUG);
	capture_start(&cap, STDERR_FILENO);
	log_debug("d");
	out = capture_stop(&cap);
	assert_matches(out, STAMP "\\[debug\\] d\n$");
	free(out);

	/* below error: nothing (rabbitmq.conf "none") */
	log_set_level(LOG_ERROR - 1);
	capture_start(&cap, STDERR_FILENO);
	log_error("e");
	out = capture_stop(&cap);
	ck_assert_str_eq(out, "");
	free(out);
	log_set_level(LOG_INFO);
}
END_TEST

START_TEST(test_warn_errno)
{
	struct capture cap;
	char          *out;

	log_set_level(LOG_INFO);
	capture_start(&cap, STDERR_FILENO);
	errno = ENOENT;
	log_warn("open %s", "/x");
	ck_assert_int_eq(errno, ENOENT); /* preserved */
	errno = EACCES;
	log_warnx("no errno here");
	ck_assert_int_eq(errno, EACCES);
	out = capture_stop(&cap);
	assert_matches(out, STAMP "\\[warning\\] open /x: No such file or directory\n"
	                    "[-0-9: .]+\\[warning\\] no errno here\n$");
	free(out);
}
END_TEST

/* One event is one line: embedded newlines are blanked, long text cut. */
START_TEST(test_one_line)
{
	struct capture cap;
	char          *out, *big;
	size_t         n = 10000;

	capture_start(&cap, STDERR_FILENO);
	log_info("evil\nforged line\r\n");
	out = capture_stop(&cap);
	assert_matches(out, STAMP "\\[info\\] evil forged line  \n$");
	free(out);

	big = malloc(n + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, 'a', n);
	big[n] = '\0';
	capture_start(&cap, STDERR_FILENO);
	errno = EIO;
	log_warn("%s", big);
	out = capture_stop(&cap);
	ck_assert_uint_eq(strlen(out), 4096);
	ck_assert(strchr(out, '\n') == out + 4095);
	ck_assert_mem_eq(out + 4092, "...\n", 4);
	free(out);
	free(big);
}
END_TEST

START_TEST(test_level_names)
{
	ck_assert_int_eq(log_level_from_name("debug"), LOG_DEBUG);
	ck_assert_int_eq(log_level_from_name("info"), LOG_INFO);
	ck_assert_int_eq(log_level_from_name("warning"), LOG_WARNING);
	ck_assert_int_eq(log_level_from_name("warn"), LOG_WARNING);
	ck_assert_int_eq(log_level_from_name("error"), LOG_ERROR);
	ck_assert_int_eq(log_level_from_name("ERROR"), LOG_ERROR);
	ck_assert_int_eq(log_level_from_name("notice"), -1);
	ck_assert_int_eq(log_level_from_name(""), -1);
	ck_assert_int_eq(log_level_from_name(NULL), -1);
}
END_TEST

START_TEST(test_fatalx)
{
	int devnull = open("/dev/null", O_WRONLY);

	dup2(devnull, STDERR_FILENO); /* the text is checked below */
	log_set_level(LOG_ERROR - 1); /* fatalx writes whatever the level */
	fatalx("cannot bind %d", 5672);
}
END_TEST

START_TEST(test_fatalx_text)
{
	int     fds[2];
	pid_t   pid;
	char    buf[256];
	ssize_t n;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		log_set_level(LOG_ERROR - 1);
		fatalx("cannot bind %d", 5672);
	}
	close(fds[1]);
	n = read(fds[0], buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	assert_matches(buf, STAMP "\\[error\\] cannot bind 5672\n$");
	close(fds[0]);
}
END_TEST

static char *
slurp(const char *path)
{
	FILE  *f = fopen(path, "r");
	char  *buf = calloc(1, 8192);
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, 8191, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* A log file: its own level, appended to, reopened at the same path after a move. */
START_TEST(test_file_and_reopen)
{
	char           dir[] = "/tmp/warren-test-log-XXXXXX";
	char           path[128], moved[140];
	struct capture cap;
	char          *out, *text;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/w.log", dir);
	snprintf(moved, sizeof(moved), "%s.1", path);
	log_set_level(LOG_WARNING);
	ck_assert_int_eq(log_open_file(path, LOG_DEBUG), 0);
	ck_assert_str_eq(log_file_name(), path);
	ck_assert(log_enabled(LOG_DEBUG)); /* the file takes debug lines */

	capture_start(&cap, STDERR_FILENO);
	log_debug("first %d", 1);
	log_warnx("both");
	ck_assert_int_eq(rename(path, moved), 0);
	ck_assert_int_eq(log_reopen(), 0);
	log_info("second");
	log_set_console(false);
	log_error("file only");
	log_set_console(true);
	out = capture_stop(&cap);
	assert_matches(out, STAMP "\\[warning\\] both\n$"); /* stderr: warning and above */
	free(out);

	text = slurp(moved);
	assert_matches(text, STAMP "\\[debug\\] first 1\n" "[-0-9 :.]+\\[warning\\] both\n$");
	free(text);
	text = slurp(path);
	assert_matches(text, STAMP "\\[info\\] second\n" "[-0-9 :.]+\\[error\\] file only\n$");
	free(text);

	/* a path that cannot be opened keeps the file in use */
	ck_assert_int_eq(log_open_file("/nonexistent/dir/w.log", LOG_INFO), -1);
	ck_assert_str_eq(log_file_name(), path);
	log_close_file();
	ck_assert_ptr_null(log_file_name());
	ck_assert_int_eq(log_reopen(), 0); /* no file: nothing to do */
	log_set_level(LOG_INFO);
	unlink(path);
	unlink(moved);
	rmdir(dir);
}
END_TEST

Suite *
log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_format);
	tcase_add_test(tc, test_timestamp_utc);
	tcase_add_test(tc, test_levels);
	tcase_add_test(tc, test_warn_errno);
	tcase_add_test(tc, test_one_line);
	tcase_add_test(tc, test_level_names);
	tcase_add_exit_test(tc, test_fatalx, 1);
	tcase_add_test(tc, test_fatalx_text);
	tcase_add_test(tc, test_file_and_reopen);
	suite_add_tcase(s, tc);
	return s;
}
