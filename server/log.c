/*
 * Logging to stderr and, optionally, a file, one line per event, each line
 * written with a single write(2) so lines from several processes never
 * interleave mid-line.  The file is opened for appending and reopened on
 * request (SIGHUP after logrotate moved it); stderr goes wherever whoever
 * runs us sends it (the journal, under systemd).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "server/log.h"

/* Longest line written, newline included; longer messages end in "...". */
#define LOG_LINE_MAX 4096

static int   log_cur_level = LOG_INFO; /* the console's */
static bool  log_console = true;
static int   log_file_fd = -1;
static int   log_file_level = LOG_INFO;
static char *log_file_path;             /* owned; NULL = no file */

static const char *const level_names[] = {
	[LOG_ERROR] = "error",
	[LOG_WARNING] = "warning",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

/* A line being assembled in a fixed buffer; overflow is remembered. */
struct line {
	char   buf[LOG_LINE_MAX];
	size_t len;  /* bytes used, below cap */
	size_t cap;  /* sizeof(buf) less room for "...\n" */
	bool   trunc;
};

static void
line_putn(struct line *l, const char *s, size_t n)
{
	if (l->trunc)
		return;
	if (n > l->cap - l->len) {
		n = l->cap - l->len;
		l->trunc = true;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

__attribute__((format(printf, 2, 0))) static void
line_vprintf(struct line *l, const char *fmt, va_list ap)
{
	size_t room = l->cap - l->len;
	int    n;

	if (l->trunc)
		return;
	/* vsnprintf needs room for its NUL; buf has 4 spare bytes past cap */
	n = vsnprintf(l->buf + l->len, room + 1, fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n > room) {
		l->len = l->cap;
		l->trunc = true;
	} else {
		l->len += (size_t)n;
	}
}

__attribute__((format(printf, 2, 3))) static void
line_printf(struct line *l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	line_vprintf(l, fmt, ap);
	va_end(ap);
}

/*
 * Format and write one line to each destination whose level admits it
 * (all of them when force).  errnum >= 0 appends ": strerror(errnum)".
 * errno is preserved, so a caller may log and then still look at it.
 */
__attribute__((format(printf, 4, 0))) static void
log_vwrite(int level, int errnum, bool force, const char *fmt, va_list ap)
{
	struct line     l;
	struct timespec ts;
	struct tm       tm;
	size_t          start;
	int             saved_errno = errno;
	ssize_t         w;

	l.len = 0;
	l.cap = sizeof(l.buf) - 4;
	l.trunc = false;

	if (level < LOG_ERROR)
		level = LOG_ERROR;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	l.len = strftime(l.buf, l.cap, "%Y-%m-%d %H:%M:%S", &tm);
	line_printf(&l, ".%03ld [%s] ", (long)(ts.tv_nsec / 1000000), level_names[level]);

	start = l.len;
	line_vprintf(&l, fmt, ap);
	if (errnum >= 0) {
		const char *e = strerror(errnum);
		line_putn(&l, ": ", 2);
		line_putn(&l, e, strlen(e));
	}
	/* one event, one line: text from clients must not forge lines */
	for (size_t i = start; i < l.len; i++)
		if (l.buf[i] == '\n' || l.buf[i] == '\r')
			l.buf[i] = ' ';
	if (l.trunc) {
		memcpy(l.buf + l.len, "...", 3);
		l.len += 3;
	}
	l.buf[l.len++] = '\n';

	if (log_console && (force || level <= log_cur_level))
		do
			w = write(STDERR_FILENO, l.buf, l.len);
		while (w < 0 && errno == EINTR);
	if (log_file_fd >= 0 && (force || level <= log_file_level))
		do
			w = write(log_file_fd, l.buf, l.len);
		while (w < 0 && errno == EINTR);

	errno = saved_errno;
}

void
log_set_level(int level)
{
	log_cur_level = level;
}

int
log_level_from_name(const char *name)
{
	if (name == NULL)
		return -1;
	if (strcasecmp(name, "debug") == 0)
		return LOG_DEBUG;
	if (strcasecmp(name, "info") == 0)
		return LOG_INFO;
	if (strcasecmp(name, "warning") == 0 || strcasecmp(name, "warn") == 0)
		return LOG_WARNING;
	if (strcasecmp(name, "error") == 0)
		return LOG_ERROR;
	return -1;
}

int
log_enabled(int level)
{
	return (log_console && level <= log_cur_level) ||
	       (log_file_fd >= 0 && level <= log_file_level);
}

void
log_set_console(bool on)
{
	log_console = on;
}

static int
open_log_file(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int
log_open_file(const char *path, int level)
{
	int fd = open_log_file(path);

	if (fd < 0)
		return -1;
	if (log_file_fd >= 0)
		close(log_file_fd);
	free(log_file_path);
	log_file_path = strdup(path);
	if (log_file_path == NULL) {
		close(fd);
		log_file_fd = -1;
		errno = ENOMEM;
		return -1;
	}
	log_file_fd = fd;
	log_file_level = level;
	return 0;
}

int
log_reopen(void)
{
	int fd;

	if (log_file_path == NULL)
		return 0;
	/* the old file stays open until the new one is, so no line is lost */
	if ((fd = open_log_file(log_file_path)) < 0)
		return -1;
	close(log_file_fd);
	log_file_fd = fd;
	return 0;
}

const char *
log_file_name(void)
{
	return log_file_path;
}

void
log_close_file(void)
{
	if (log_file_fd >= 0)
		close(log_file_fd);
	log_file_fd = -1;
	free(log_file_path);
	log_file_path = NULL;
}

void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	log_vwrite(level, -1, false, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(LOG_DEBUG))
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_DEBUG, -1, false, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(LOG_INFO))
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_INFO, -1, false, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(LOG_WARNING))
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, -1, false, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	int     errnum = errno; /* before anything can change it */
	va_list ap;

	if (!log_enabled(LOG_WARNING))
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, errnum, false, fmt, ap);
	va_end(ap);
}

void
log_error(const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(LOG_ERROR))
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_ERROR, -1, false, fmt, ap);
	va_end(ap);
}

/* Written whatever the level: the reason the daemon stopped. */
void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_ERROR, -1, true, fmt, ap);
	va_end(ap);
	exit(1);
}
