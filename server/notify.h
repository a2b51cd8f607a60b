/*
 * systemd's service notification protocol (sd_notify(3)), spoken by hand:
 * one datagram per state change to $NOTIFY_SOCKET, and WATCHDOG=1 on a
 * timer when the unit has WatchdogSec=.  Without $NOTIFY_SOCKET (not
 * started by systemd as Type=notify) every call does nothing.
 */
#ifndef SERVER_NOTIFY_H
#define SERVER_NOTIFY_H

#include <ev.h>

/*
 * Read $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID and unset them, so
 * that no child process inherits them.  Call once, early.
 */
void notify_init(void);

/* READY=1 with a STATUS= line: the listeners accept connections. */
void notify_ready(const char *status);

/* STOPPING=1: the broker began to shut down. */
void notify_stopping(void);

/*
 * Keep systemd's watchdog fed: WATCHDOG=1 every half WATCHDOG_USEC on
 * loop.  Nothing happens when the unit has no watchdog.
 */
void notify_watchdog_start(struct ev_loop *loop);
void notify_watchdog_stop(struct ev_loop *loop);

/* Send any "KEY=VALUE\n..." text.  Returns 0, or -1 (errno) on failure or without a socket. */
int notify_send(const char *text);

#endif
