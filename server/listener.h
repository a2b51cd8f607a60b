/*
 * TCP listeners: bind, listen, and hand accepted sockets to conn_accept().
 */
#ifndef SERVER_LISTENER_H
#define SERVER_LISTENER_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Listen on host:port (host NULL = every interface, IPv6 and IPv4).
 * Returns the number of sockets listening (0 on failure, with the reason
 * logged).  addrs receives a printable list of the bound addresses.
 */
int  listener_start(struct ev_loop *loop, const char *host, uint16_t port,
                    void (*on_accept)(struct ev_loop *, int), char *addrs, size_t len);
void listener_stop_all(struct ev_loop *loop);

/*
 * Stop (pause true) or resume accepting on every listener.  While paused,
 * new clients wait in the kernel's backlog.
 */
void listener_pause_all(struct ev_loop *loop, bool pause);

#endif
