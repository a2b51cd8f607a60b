/*
 * Logging: one line per event to stderr and/or a file,
 * "2026-11-22 03:54:21.123 [info] <conn 7> text".
 */
#ifndef SERVER_LOG_H
#define SERVER_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level { LOG_ERROR = 0, LOG_WARNING, LOG_INFO, LOG_DEBUG };

void log_set_level(int level);
int  log_level_from_name(const char *name); /* "debug", "info", "warning"/"warn", "error"; -1 if unknown */
int  log_enabled(int level);  /* would any destination take a line of this level? */

/* Console (stderr) on or off; on by default, its level is log_set_level's. */
void log_set_console(bool on);
/*
 * Also log to path (appending, created 0640) at level.  Returns 0, or -1
 * with errno (the previous file, if any, is kept).  log_reopen() opens the
 * same path again, for logrotate: 0, or -1 with errno (the old file stays
 * in use).  log_file_name() is the path or NULL.
 */
int         log_open_file(const char *path, int level);
int         log_reopen(void);
const char *log_file_name(void);
void        log_close_file(void);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* appends strerror(errno) */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
