/*
 * Logging: one line per event to stderr, "2026-11-22 03:54:21.123 [info] <conn 7> text".
 */
#ifndef SERVER_LOG_H
#define SERVER_LOG_H

#include <stdarg.h>

enum log_level { LOG_ERROR = 0, LOG_WARNING, LOG_INFO, LOG_DEBUG };

void log_set_level(int level);
int  log_level_from_name(const char *name); /* "debug", "info", "warning"/"warn", "error"; -1 if unknown */
int  log_enabled(int level);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* appends strerror(errno) */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
