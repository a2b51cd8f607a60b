/*
 * Connections: the socket, the handshake (STYLE 4: an explicit state
 * machine, see conn.h), frame input and batched output.
 *
 * Input: one read per readiness event into the connection's buffer, then
 * every complete frame in it is handled; a partial frame stays at the
 * front.  The buffer grows to the largest frame the peer may send.
 *
 * Output: handlers only queue bytes (tbuf) or references to message bodies
 * (segs); conn_prepare(), run by the loop just before it blocks, sends
 * confirms and then writes every pending connection with one writev.
 */
#include "server/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "amqp/frame.h"
#include "amqp/spec_gen.h"
#include "amqp/table.h"
#include "server/auth.h"
#include "server/broker.h"
#include "server/channel.h"
#include "server/config.h"
#include "server/listener.h"
#include "server/log.h"
#include "server/msg.h"
#include "server/persist.h"

#define RBUF_INITIAL   (16 * 1024)
#define RBUF_BUSY      (128 * 1024)
#define TX_HIGH        (1024 * 1024)   /* stop delivering to a connection above this */
#define TX_LOW         (256 * 1024)    /* and resume below this */
#define TX_READ_STOP   (8 * 1024 * 1024) /* stop reading from a peer that does not read */
#define COPY_LIMIT     256             /* bodies up to this are copied into tbuf */
#define CLOSE_TIMEOUT  3.0             /* wait this long for close-ok */
#define MAX_IOV        256

static struct ev_loop *loop;
static struct transport_tls *tls_setup; /* borrowed */
static bool            accept_paused;   /* connection_max reached */
static struct list     flush_list = { &flush_list, &flush_list };
static struct list     held_list = { &held_list, &held_list };
static struct list     reap_list = { &reap_list, &reap_list };
static size_t          nconns;

#define conn_of(w, member) ((struct conn *)((char *)(w) - offsetof(struct conn, member)))

static void read_cb(struct ev_loop *l, ev_io *w, int revents);
static void write_cb(struct ev_loop *l, ev_io *w, int revents);
static void timer_cb(struct ev_loop *l, ev_timer *w, int revents);
static void conn_abort(struct conn *c);
static void erl_binary(const uint8_t *p, size_t n, char *out, size_t len);

void
conn_set_loop(struct ev_loop *l)
{
	loop = l;
}

size_t
conn_count(void)
{
	return nconns;
}

static void
format_addr(const struct sockaddr_storage *ss, char *out, size_t len, bool *loopback)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int  port = 0;

	if (loopback)
		*loopback = false;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
		port = ntohs(s->sin_port);
		if (loopback)
			*loopback = (ntohl(s->sin_addr.s_addr) >> 24) == 127;
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
		port = ntohs(s->sin6_port);
		if (loopback) {
			const uint8_t *a = s->sin6_addr.s6_addr;
			*loopback = IN6_IS_ADDR_LOOPBACK(&s->sin6_addr) ||
			            (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr) && a[12] == 127);
		}
	}
	snprintf(out, len, "%s:%d", host, port);
}

void
conn_set_tls(struct transport_tls *tls)
{
	tls_setup = tls;
}

void
conn_apply_connection_max(void)
{
	int64_t max = broker.cfg->connection_max;
	bool    full = max >= 0 && (int64_t)nconns >= max;

	if (full == accept_paused)
		return;
	accept_paused = full;
	listener_pause_all(loop, full);
	if (full)
		log_warnx("connection_max (%lld) reached: not accepting connections until one closes",
		          (long long)max);
	else
		log_info("below connection_max (%lld) again: accepting connections", (long long)max);
}

static void read_input(struct conn *c);

/*
 * Start reading, and read at once what TLS has already decrypted: the
 * socket will not signal it.  Called from the prepare step too, where a
 * fed event would run only after this turn's flush; the output of a
 * direct read goes out in the same flush instead.
 */
static void
start_reading(struct conn *c)
{
	if (!c->reading) {
		ev_io_start(loop, &c->rio);
		c->reading = true;
	}
	if (transport_pending(&c->tp) && c->state != CONN_CLOSED && c->state != CONN_FLUSH_CLOSE)
		read_input(c);
}

static void
accept_conn(struct ev_loop *l, int fd, bool tls)
{
	struct conn            *c = xcalloc(1, sizeof(*c));
	struct sockaddr_storage ss;
	socklen_t               sl = sizeof(ss);
	int                     one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	if (tls)
		transport_tls_accept(&c->tp, tls_setup, fd);
	else
		transport_plain(&c->tp, fd);
	c->id = ++broker.next_conn_id;
	c->state = CONN_AWAIT_HEADER;
	c->frame_max = AMQP_FRAME_MIN_SIZE;
	c->connected_at = ev_now(l);
	c->last_rx = c->last_tx = ev_now(l);
	LIST_INIT(&c->flush_link);
	LIST_INIT(&c->held_link);
	LIST_INIT(&c->exclusive_queues);
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		format_addr(&ss, c->peer, sizeof(c->peer), &c->loopback);
	sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		format_addr(&ss, c->local, sizeof(c->local), NULL);
	c->rcap = RBUF_INITIAL;
	c->rbuf = xmalloc(c->rcap);
	list_add_tail(&broker.conns, &c->link);
	nconns++;
	ev_io_init(&c->rio, read_cb, fd, EV_READ);
	ev_io_init(&c->wio, write_cb, fd, EV_WRITE);
	ev_io_start(l, &c->rio);
	c->reading = true;
	/* The handshake must finish within handshake_timeout. */
	ev_timer_init(&c->hb, timer_cb, broker.cfg->handshake_timeout / 1000.0, 0.);
	ev_timer_start(l, &c->hb);
	log_info("<conn %llu> accepting AMQP connection%s (%s -> %s)", (unsigned long long)c->id,
	         tls ? " over TLS" : "", c->peer, c->local);
	conn_apply_connection_max();
}

void
conn_accept(struct ev_loop *l, int fd)
{
	accept_conn(l, fd, false);
}

void
conn_accept_tls(struct ev_loop *l, int fd)
{
	accept_conn(l, fd, true);
}

/* Output. */

void
conn_want_flush(struct conn *c)
{
	if (!c->flush_queued && c->state != CONN_CLOSED) {
		c->flush_queued = true;
		list_add_tail(&flush_list, &c->flush_link);
	}
}

static void
tx_reserve(struct conn *c, size_t n)
{
	if (c->tcap - c->tlen >= n)
		return;
	size_t cap = c->tcap ? c->tcap : 4096;
	while (cap - c->tlen < n)
		cap *= 2;
	c->tbuf = xrealloc(c->tbuf, cap);
	c->tcap = cap;
}

/* Forget the holds whose batch has ended. */
static void
prune_holds(struct conn *c)
{
	uint64_t done = persist_done_gen();
	unsigned k = 0;

	while (k < c->nholds && c->holds[k].gen <= done)
		k++;
	if (k) {
		c->nholds -= k;
		memmove(c->holds, c->holds + k, c->nholds * sizeof(*c->holds));
	}
}

size_t
conn_out_mark(struct conn *c)
{
	c->seg_fence = c->nsegs; /* what comes next must not join what went before */
	return c->nsegs;
}

void
conn_hold_from(struct conn *c, size_t mark)
{
	uint64_t gen = persist_next_gen();

	prune_holds(c);
	/* holds from the mark on are covered by this one: gen is the latest there is */
	while (c->nholds && c->holds[c->nholds - 1].seg >= mark)
		c->nholds--;
	if (c->nholds && c->holds[c->nholds - 1].gen == gen)
		return;
	if (c->nholds == 2) {
		/* never: at most two batches are outstanding; waiting longer is safe */
		c->holds[1].gen = gen;
		return;
	}
	c->holds[c->nholds++] = (struct conn_hold){ gen, mark };
}

void
conn_hold(struct conn *c)
{
	conn_hold_from(c, conn_out_mark(c));
}

void
conn_durable(uint64_t gen, bool ok)
{
	while (!LIST_EMPTY(&held_list)) {
		struct conn *c = container_of(held_list.next, struct conn, held_link);
		list_del(&c->held_link);
		c->held = false;
		conn_want_flush(c);
	}
	chan_durable(gen, ok);
}

/* Segments before this one may be written: the rest waits for a batch. */
static size_t
write_limit(struct conn *c)
{
	prune_holds(c);
	return c->nholds ? c->holds[0].seg : c->nsegs;
}

static void
seg_push(struct conn *c, struct msg *m, size_t off, size_t len)
{
	if (m == NULL && c->nsegs > c->seg_head && c->nsegs > c->seg_fence) {
		struct txseg *last = &c->segs[c->nsegs - 1];
		if (last->m == NULL && last->off + last->len == off) {
			last->len += len;
			c->tx_pending += len;
			return;
		}
	}
	if (c->nsegs == c->segs_cap) {
		c->segs_cap = c->segs_cap ? c->segs_cap * 2 : 16;
		c->segs = xrealloc(c->segs, c->segs_cap * sizeof(*c->segs));
	}
	c->segs[c->nsegs++] = (struct txseg){ m ? msg_ref(m) : NULL, off, len };
	c->tx_pending += len;
}

/* Append raw bytes to the output. */
static void
tx_put(struct conn *c, const void *p, size_t n)
{
	tx_reserve(c, n);
	memcpy(c->tbuf + c->tlen, p, n);
	seg_push(c, NULL, c->tlen, n);
	c->tlen += n;
}

static void
tx_method(struct conn *c, uint16_t channel, uint32_t id, const void *m)
{
	size_t  room = 256;
	ssize_t n;

	for (;;) {
		tx_reserve(c, room + AMQP_FRAME_OVERHEAD);
		n = amqp_method_encode(id, m, c->tbuf + c->tlen + AMQP_FRAME_HEADER_SIZE, room);
		if (n >= 0)
			break;
		if (room >= (1u << 20)) {
			log_error("<conn %llu> cannot encode %s", (unsigned long long)c->id,
			          amqp_method_name(id));
			return;
		}
		room *= 4;
	}
	uint8_t *p = c->tbuf + c->tlen;
	amqp_frame_header_put(p, AMQP_FRAME_METHOD, channel, (uint32_t)n);
	p[AMQP_FRAME_HEADER_SIZE + n] = AMQP_FRAME_END;
	seg_push(c, NULL, c->tlen, (size_t)n + AMQP_FRAME_OVERHEAD);
	c->tlen += (size_t)n + AMQP_FRAME_OVERHEAD;
	c->send_cnt++;
}

void
conn_send_method(struct conn *c, uint16_t channel, uint32_t id, const void *m)
{
	if (c->state == CONN_CLOSED || c->state == CONN_FLUSH_CLOSE)
		return;
	if (c->state == CONN_CLOSING && id != AMQP_CONNECTION_CLOSE_METHOD &&
	    id != AMQP_CONNECTION_CLOSE_OK_METHOD)
		return;
	tx_method(c, channel, id, m);
	conn_want_flush(c);
}

void
conn_send_content(struct conn *c, uint16_t channel, uint32_t id, const void *method,
                  struct amqp_bytes props, struct msg *m)
{
	uint8_t hdr[AMQP_FRAME_HEADER_SIZE + 12];
	uint8_t end = AMQP_FRAME_END;

	if (c->state != CONN_OPEN)
		return;
	tx_method(c, channel, id, method);

	/* content header: class, weight, body size, then the encoded properties */
	amqp_frame_header_put(hdr, AMQP_FRAME_HEADER, channel, (uint32_t)(12 + props.len));
	amqp_put_u16(hdr + 7, AMQP_CLASS_BASIC);
	amqp_put_u16(hdr + 9, 0);
	amqp_put_u64(hdr + 11, m->body_len);
	tx_reserve(c, sizeof(hdr) + props.len + 1);
	memcpy(c->tbuf + c->tlen, hdr, sizeof(hdr));
	memcpy(c->tbuf + c->tlen + sizeof(hdr), props.ptr, props.len);
	c->tbuf[c->tlen + sizeof(hdr) + props.len] = AMQP_FRAME_END;
	seg_push(c, NULL, c->tlen, sizeof(hdr) + props.len + 1);
	c->tlen += sizeof(hdr) + props.len + 1;

	size_t chunk = c->frame_max - AMQP_FRAME_OVERHEAD;
	for (uint64_t off = 0; off < m->body_len; off += chunk) {
		size_t n = m->body_len - off < chunk ? (size_t)(m->body_len - off) : chunk;
		amqp_frame_header_put(hdr, AMQP_FRAME_BODY, channel, (uint32_t)n);
		if (n <= COPY_LIMIT) {
			tx_reserve(c, AMQP_FRAME_OVERHEAD + n);
			memcpy(c->tbuf + c->tlen, hdr, AMQP_FRAME_HEADER_SIZE);
			memcpy(c->tbuf + c->tlen + AMQP_FRAME_HEADER_SIZE, m->body + off, n);
			c->tbuf[c->tlen + AMQP_FRAME_HEADER_SIZE + n] = AMQP_FRAME_END;
			seg_push(c, NULL, c->tlen, AMQP_FRAME_OVERHEAD + n);
			c->tlen += AMQP_FRAME_OVERHEAD + n;
		} else {
			tx_put(c, hdr, AMQP_FRAME_HEADER_SIZE);
			seg_push(c, m, (size_t)off, n);
			tx_put(c, &end, 1);
		}
	}
	c->send_cnt++;
	conn_want_flush(c);
}

bool
conn_tx_full(const struct conn *c)
{
	return c->tx_pending >= TX_HIGH;
}

static void
resume_channels(struct conn *c)
{
	for (uint32_t i = 0; i < c->nchans; i++)
		if (c->chans[i])
			chan_resume(c->chans[i]);
}

/* Write what is queued.  Returns -1 if the connection died. */
static int
flush(struct conn *c)
{
	struct iovec iov[MAX_IOV];
	bool         was_full = c->tx_pending >= TX_HIGH || c->tx_stalled;
	size_t       limit = write_limit(c);

	while (c->seg_head < limit) {
		int n = 0;
		for (size_t i = c->seg_head; i < limit && n < MAX_IOV; i++, n++) {
			struct txseg *s = &c->segs[i];
			iov[n].iov_base = (s->m ? s->m->body : c->tbuf) + s->off;
			iov[n].iov_len = s->len;
		}
		ssize_t w = transport_writev(&c->tp, iov, n);
		if (w == TRANSPORT_AGAIN)
			break;
		if (w < 0) {
			log_info("<conn %llu> write failed: %s", (unsigned long long)c->id, c->tp.error);
			conn_abort(c);
			return -1;
		}
		c->send_oct += (uint64_t)w;
		c->tx_pending -= (size_t)w;
		c->last_tx = ev_now(loop);
		size_t left = (size_t)w;
		while (left) {
			struct txseg *s = &c->segs[c->seg_head];
			if (left >= s->len) {
				left -= s->len;
				if (s->m)
					msg_unref(s->m);
				c->seg_head++;
			} else {
				s->off += left;
				s->len -= left;
				left = 0;
			}
		}
	}
	if (c->seg_head == c->nsegs) {
		c->seg_head = c->nsegs = 0;
		c->tlen = 0;
		c->seg_fence = 0;
		for (unsigned i = 0; i < c->nholds; i++)
			c->holds[i].seg = 0;
		if (c->writing) {
			ev_io_stop(loop, &c->wio);
			c->writing = false;
		}
		if (c->tcap > 1024 * 1024) {
			free(c->tbuf);
			c->tbuf = NULL;
			c->tcap = 0;
		}
		if (c->state == CONN_FLUSH_CLOSE) {
			conn_abort(c);
			return -1;
		}
	} else if (c->seg_head == limit) {
		/* the rest waits for a batch: conn_durable() flushes again */
		if (c->writing) {
			ev_io_stop(loop, &c->wio);
			c->writing = false;
		}
		if (!c->held) {
			c->held = true;
			list_add_tail(&held_list, &c->held_link);
		}
	} else if (c->tp.write_wants_read) {
		/* TLS must read before it can write: the read watcher flushes again */
		if (c->writing) {
			ev_io_stop(loop, &c->wio);
			c->writing = false;
		}
		start_reading(c);
	} else if (!c->writing) {
		ev_io_start(loop, &c->wio);
		c->writing = true;
	}
	if (was_full) {
		/* Deliveries stopped at TX_HIGH; they resume below TX_LOW, which
		 * may take several writes. */
		c->tx_stalled = c->tx_pending >= TX_LOW;
		if (!c->tx_stalled && c->state == CONN_OPEN)
			resume_channels(c);
	}
	if (!c->reading && !c->blocked && c->tx_pending < TX_LOW && c->state != CONN_FLUSH_CLOSE &&
	    c->state != CONN_CLOSED)
		start_reading(c);
	return 0;
}

static void tls_handshake_step(struct conn *c);

static void
write_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct conn *c = conn_of(w, wio);

	(void)l;
	(void)revents;
	if (!c->tp.handshaken) {
		tls_handshake_step(c);
		return;
	}
	if (c->tp.read_wants_write) {
		/* a TLS read that had to write first: the socket can take it now */
		read_input(c);
		if (c->state == CONN_CLOSED)
			return;
	}
	flush(c);
}

/* Closing. */

static void
release_channels(struct conn *c)
{
	for (uint32_t i = 0; i < c->nchans; i++)
		if (c->chans[i]) {
			chan_free(c->chans[i]);
			c->chans[i] = NULL;
		}
	c->open_chans = 0;
}

void
conn_drop_channel(struct conn *c, uint16_t id)
{
	if (id < c->nchans && c->chans[id]) {
		chan_free(c->chans[id]);
		c->chans[id] = NULL;
		c->open_chans--;
	}
}

static void
conn_abort(struct conn *c)
{
	if (c->state == CONN_CLOSED)
		return;
	c->state = CONN_CLOSED;
	ev_io_stop(loop, &c->rio);
	ev_io_stop(loop, &c->wio);
	ev_timer_stop(loop, &c->hb);
	c->reading = c->writing = false;
	if (c->flush_queued) {
		list_del(&c->flush_link);
		c->flush_queued = false;
	}
	if (c->held) {
		list_del(&c->held_link);
		c->held = false;
	}
	list_add_tail(&reap_list, &c->flush_link);
}

static void
reap(struct conn *c)
{
	release_channels(c);
	queue_delete_exclusive(&c->exclusive_queues);
	for (size_t i = c->seg_head; i < c->nsegs; i++)
		if (c->segs[i].m)
			msg_unref(c->segs[i].m);
	transport_close(&c->tp);
	list_del(&c->link);
	nconns--;
	conn_apply_connection_max();
	log_info("<conn %llu> closed (%s)", (unsigned long long)c->id, c->peer);
	free(c->rbuf);
	free(c->tbuf);
	free(c->segs);
	free(c->chans);
	free(c->client_props);
	free(c);
}

void
conn_close_with(struct conn *c, int code, const char *text, uint32_t method_id)
{
	char full[600];

	if (c->state == CONN_CLOSING || c->state == CONN_CLOSED || c->state == CONN_FLUSH_CLOSE)
		return;
	snprintf(full, sizeof(full), "%s - %s", amqp_reply_name(code) ? amqp_reply_name(code) : "ERROR",
	         text);
	log_info("<conn %llu> closing AMQP connection: %s", (unsigned long long)c->id, full);
	struct amqp_connection_close cl = {
		.reply_code = (uint16_t)code,
		.reply_text = amqp_cstr(full),
		.class_id = (uint16_t)(method_id >> 16),
		.method_id = (uint16_t)method_id,
	};
	if (cl.reply_text.len > 255)
		cl.reply_text.len = 255;
	bool before_open = c->state != CONN_OPEN;
	tx_method(c, 0, AMQP_CONNECTION_CLOSE_METHOD, &cl);
	conn_want_flush(c);
	if (before_open) {
		/* During the handshake there is nothing to wait for: send and go. */
		c->state = CONN_FLUSH_CLOSE;
		return;
	}
	c->state = CONN_CLOSING;
	ev_timer_stop(loop, &c->hb);
	ev_timer_set(&c->hb, CLOSE_TIMEOUT, 0.);
	ev_timer_start(loop, &c->hb);
}

void
conn_close_all(const char *text)
{
	struct list *it, *tmp;

	list_for_each_safe (it, tmp, &broker.conns) {
		struct conn *c = container_of(it, struct conn, link);
		if (c->state == CONN_OPEN)
			conn_close_with(c, AMQP_CONNECTION_FORCED, text, 0);
		else if (c->state != CONN_CLOSED && c->state != CONN_CLOSING)
			conn_abort(c);
	}
}

/* Heartbeats and the handshake timeout share one timer. */
static void
timer_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	struct conn *c = conn_of(w, hb);
	double       now = ev_now(l);

	(void)revents;
	if (c->state == CONN_CLOSING) {
		conn_abort(c);
		return;
	}
	if (c->state != CONN_OPEN) {
		log_info("<conn %llu> handshake timeout (%s)", (unsigned long long)c->id, c->peer);
		conn_abort(c);
		return;
	}
	if (now - c->last_rx > 2.0 * c->heartbeat) {
		log_info("<conn %llu> missed heartbeats from client, timeout: %us",
		         (unsigned long long)c->id, c->heartbeat);
		conn_abort(c);
		return;
	}
	if (now - c->last_tx >= c->heartbeat / 2.0 && c->tx_pending == 0) {
		uint8_t f[AMQP_FRAME_OVERHEAD];
		amqp_frame_header_put(f, AMQP_FRAME_HEARTBEAT, 0, 0);
		f[7] = AMQP_FRAME_END;
		tx_put(c, f, sizeof(f));
		conn_want_flush(c);
	}
}

/* The handshake. */

/* The SASL mechanisms connection.start offers on this connection. */
static unsigned
offered_mechanisms(const struct conn *c)
{
	unsigned m = broker.cfg->auth_mechanisms;

	if (!transport_is_tls(&c->tp))
		m &= ~(unsigned)CONFIG_AUTH_EXTERNAL;
	return m;
}

static void
send_start(struct conn *c)
{
	uint8_t          buf[1024];
	struct amqp_wbuf w;

	amqp_wbuf_init(&w, buf, sizeof(buf));
	/* server-properties: what RabbitMQ 3.10 sends, with warren's names */
	size_t caps;
	amqp_table_put_key(&w, amqp_cstr("capabilities"));
	amqp_wbuf_u8(&w, 'F');
	caps = amqp_table_begin(&w);
	amqp_table_put_bool(&w, "publisher_confirms", true);
	amqp_table_put_bool(&w, "exchange_exchange_bindings", true);
	amqp_table_put_bool(&w, "basic.nack", true);
	amqp_table_put_bool(&w, "consumer_cancel_notify", true);
	amqp_table_put_bool(&w, "connection.blocked", true);
	amqp_table_put_bool(&w, "consumer_priorities", true);
	amqp_table_put_bool(&w, "authentication_failure_close", true);
	amqp_table_put_bool(&w, "per_consumer_qos", true);
	amqp_table_put_bool(&w, "direct_reply_to", true);
	amqp_table_end(&w, caps);
	amqp_table_put_longstr(&w, "cluster_name", amqp_cstr("warren@localhost"));
	amqp_table_put_longstr(&w, "copyright", amqp_cstr("Copyright (c) 2026 The warren authors"));
	amqp_table_put_longstr(&w, "information", amqp_cstr("Licensed under the MIT license"));
	amqp_table_put_longstr(&w, "platform", amqp_cstr("C11/libev"));
	amqp_table_put_longstr(&w, "product", amqp_cstr("warren"));
	amqp_table_put_longstr(&w, "version", amqp_cstr("3.10.8"));

	/* RabbitMQ lists its mechanisms in this order; EXTERNAL only over TLS */
	char     mechs[64] = "";
	unsigned offered = offered_mechanisms(c);
	snprintf(mechs, sizeof(mechs), "%s%s%s", (offered & CONFIG_AUTH_AMQPLAIN) ? "AMQPLAIN " : "",
	         (offered & CONFIG_AUTH_PLAIN) ? "PLAIN " : "",
	         (offered & CONFIG_AUTH_EXTERNAL) ? "EXTERNAL " : "");
	if (*mechs)
		mechs[strlen(mechs) - 1] = '\0';
	struct amqp_connection_start s = {
		.version_major = 0,
		.version_minor = 9,
		.server_properties = { w.len, buf },
		.mechanisms = amqp_cstr(mechs),
		.locales = amqp_cstr("en_US"),
	};
	conn_send_method(c, 0, AMQP_CONNECTION_START_METHOD, &s);
}

/*
 * Credentials from start-ok: PLAIN is "\0user\0pass", AMQPLAIN a table
 * body; EXTERNAL's response is ignored (the name comes from the peer's
 * certificate).  Returns 0, 1 for EXTERNAL, -1 for a malformed response,
 * -2 for a mechanism not offered.
 */
static int
parse_credentials(const struct conn *c, struct amqp_connection_start_ok *m,
                  struct amqp_bytes *user, struct amqp_bytes *pass)
{
	unsigned offered = offered_mechanisms(c);

	if (amqp_bytes_eq_cstr(m->mechanism, "EXTERNAL") && (offered & CONFIG_AUTH_EXTERNAL))
		return 1;
	if (amqp_bytes_eq_cstr(m->mechanism, "PLAIN") && (offered & CONFIG_AUTH_PLAIN)) {
		const uint8_t *p = m->response.ptr, *end = p + m->response.len;
		const uint8_t *z1 = memchr(p, 0, m->response.len);
		if (z1 == NULL)
			return -1;
		const uint8_t *z2 = memchr(z1 + 1, 0, (size_t)(end - z1 - 1));
		if (z2 == NULL)
			return -1;
		*user = (struct amqp_bytes){ (size_t)(z2 - z1 - 1), z1 + 1 };
		*pass = (struct amqp_bytes){ (size_t)(end - z2 - 1), z2 + 1 };
		return 0;
	}
	if (amqp_bytes_eq_cstr(m->mechanism, "AMQPLAIN") && (offered & CONFIG_AUTH_AMQPLAIN)) {
		struct amqp_field f;
		if (amqp_table_validate(m->response) != 0)
			return -1;
		if (amqp_table_get(m->response, "LOGIN", &f) != 1 || f.kind != 'S')
			return -1;
		*user = f.v.str;
		if (amqp_table_get(m->response, "PASSWORD", &f) != 1 || f.kind != 'S')
			return -1;
		*pass = f.v.str;
		return 0;
	}
	return -2;
}

static void
auth_refused(struct conn *c, struct amqp_bytes mech)
{
	char text[300];

	if (!c->cap_auth_failure_close) {
		/* The 0-9-1 spec: close the socket without a close frame. */
		conn_abort(c);
		return;
	}
	snprintf(text, sizeof(text),
	         "Login was refused using authentication mechanism %.*s. For details see the "
	         "broker logfile.",
	         (int)mech.len, (const char *)mech.ptr);
	conn_close_with(c, AMQP_ACCESS_REFUSED, text, 0);
}

static void external_login(struct conn *c, struct amqp_bytes mech);
static void logged_in(struct conn *c, struct user *u);

static void
start_ok(struct conn *c, struct amqp_connection_start_ok *m)
{
	struct amqp_bytes user, pass;
	struct amqp_field caps, f;

	c->client_props = xmalloc(m->client_properties.len + 1);
	memcpy(c->client_props, m->client_properties.ptr, m->client_properties.len);
	c->client_props_len = m->client_properties.len;
	if (amqp_table_get(m->client_properties, "capabilities", &caps) == 1 && caps.kind == 'F') {
		c->cap_auth_failure_close = amqp_table_get(caps.v.table, "authentication_failure_close", &f) == 1 &&
		                            f.kind == 't' && f.v.b;
		c->cap_cancel_notify = amqp_table_get(caps.v.table, "consumer_cancel_notify", &f) == 1 &&
		                       f.kind == 't' && f.v.b;
		c->cap_blocked = amqp_table_get(caps.v.table, "connection.blocked", &f) == 1 &&
		                 f.kind == 't' && f.v.b;
	}
	int rc = parse_credentials(c, m, &user, &pass);
	if (rc >= 0)
		snprintf(c->auth_mechanism, sizeof(c->auth_mechanism), "%.*s", (int)m->mechanism.len,
		         (const char *)m->mechanism.ptr);
	if (rc == 1) {
		external_login(c, m->mechanism);
		return;
	}
	if (rc != 0) {
		/* An unknown mechanism or a malformed response: RabbitMQ drops the socket. */
		log_warnx("<conn %llu> %s authentication mechanism '%.*s' (%s)",
		          (unsigned long long)c->id, rc == -2 ? "unsupported" : "malformed response for",
		          (int)m->mechanism.len, (const char *)m->mechanism.ptr, c->peer);
		conn_abort(c);
		return;
	}
	struct user *u = broker_user(user);
	if (u == NULL || !broker_check_password(u, pass)) {
		log_warnx("<conn %llu> Error on AMQP connection (%s -> %s, state: starting): "
		          "%.*s login refused: user '%.*s' - invalid credentials",
		          (unsigned long long)c->id, c->peer, c->local, (int)m->mechanism.len,
		          (const char *)m->mechanism.ptr, (int)user.len, (const char *)user.ptr);
		auth_refused(c, m->mechanism);
		return;
	}
	if (!c->loopback && config_is_loopback_user(broker.cfg, u->name)) {
		log_warnx("<conn %llu> Error on AMQP connection (%s -> %s, state: starting): "
		          "user '%s' can only connect via localhost",
		          (unsigned long long)c->id, c->peer, c->local, u->name);
		auth_refused(c, m->mechanism);
		return;
	}
	logged_in(c, u);
}

/*
 * EXTERNAL (rabbitmq_auth_mechanism_ssl): the user is named by the
 * verified peer certificate, its subject's distinguished name or common
 * name (ssl_cert_login_from), and must exist; there is no password.
 */
static void
external_login(struct conn *c, struct amqp_bytes mech)
{
	char name[512];
	int  rc = transport_peer_name(&c->tp, !broker.cfg->cert_login_cn, name, sizeof(name));

	if (rc <= 0) {
		log_warnx("<conn %llu> EXTERNAL login refused: %s", (unsigned long long)c->id,
		          rc == 0 ? "connection peer presented no TLS (x.509) certificate"
		                  : "no name found");
		auth_refused(c, mech);
		return;
	}
	struct user *u = broker_user(amqp_cstr(name));
	if (u == NULL) {
		log_warnx("<conn %llu> EXTERNAL login refused: user '%s' - invalid credentials",
		          (unsigned long long)c->id, name);
		auth_refused(c, mech);
		return;
	}
	if (!c->loopback && config_is_loopback_user(broker.cfg, u->name)) {
		log_warnx("<conn %llu> user '%s' can only connect via localhost",
		          (unsigned long long)c->id, u->name);
		auth_refused(c, mech);
		return;
	}
	logged_in(c, u);
}

/* Authenticated: send connection.tune. */
static void
logged_in(struct conn *c, struct user *u)
{
	c->user = u;
	snprintf(c->user_name, sizeof(c->user_name), "%s", u->name);
	struct amqp_connection_tune t = {
		.channel_max = broker.cfg->channel_max,
		.frame_max = broker.cfg->frame_max,
		.heartbeat = broker.cfg->heartbeat,
	};
	conn_send_method(c, 0, AMQP_CONNECTION_TUNE_METHOD, &t);
	c->state = CONN_AWAIT_TUNE_OK;
}

static void
tune_ok(struct conn *c, struct amqp_connection_tune_ok *m)
{
	uint32_t fmax = broker.cfg->frame_max ? broker.cfg->frame_max : UINT32_MAX;
	uint16_t cmax = broker.cfg->channel_max ? broker.cfg->channel_max : UINT16_MAX;
	char     text[200];

	if (m->frame_max != 0 && m->frame_max < AMQP_FRAME_MIN_SIZE) {
		snprintf(text, sizeof(text), "frame_max=%u < %u min size", m->frame_max,
		         AMQP_FRAME_MIN_SIZE);
		conn_close_with(c, AMQP_NOT_ALLOWED, text, AMQP_CONNECTION_TUNE_OK_METHOD);
		return;
	}
	if (m->frame_max > fmax) {
		snprintf(text, sizeof(text), "frame_max=%u > %u max size", m->frame_max, fmax);
		conn_close_with(c, AMQP_NOT_ALLOWED, text, AMQP_CONNECTION_TUNE_OK_METHOD);
		return;
	}
	if (m->channel_max > cmax) {
		snprintf(text, sizeof(text),
		         "negotiated channel_max = %u is higher than the maximum allowed value (%u)",
		         m->channel_max, cmax);
		conn_close_with(c, AMQP_NOT_ALLOWED, text, AMQP_CONNECTION_TUNE_OK_METHOD);
		return;
	}
	c->frame_max = m->frame_max ? m->frame_max : fmax;
	if (c->frame_max > 16 * 1024 * 1024 + AMQP_FRAME_OVERHEAD)
		c->frame_max = 16 * 1024 * 1024;
	c->channel_max = m->channel_max ? m->channel_max : cmax;
	c->heartbeat = m->heartbeat;
	c->state = CONN_AWAIT_OPEN;
}

static void
conn_open(struct conn *c, struct amqp_connection_open *m)
{
	struct vhost *vh = broker_vhost(m->virtual_host);
	char          text[400];

	if (vh == NULL) {
		snprintf(text, sizeof(text), "vhost %.*s not found", (int)m->virtual_host.len,
		         (const char *)m->virtual_host.ptr);
		conn_close_with(c, AMQP_NOT_ALLOWED, text, AMQP_CONNECTION_OPEN_METHOD);
		return;
	}
	if (!auth_vhost_access(vh->name, c->user_name)) {
		snprintf(text, sizeof(text), "access to vhost '%s' refused for user '%s'", vh->name,
		         c->user_name);
		conn_close_with(c, AMQP_NOT_ALLOWED, text, AMQP_CONNECTION_OPEN_METHOD);
		return;
	}
	int64_t limit = broker_vhost_limit(vh, "max-connections");
	if (limit >= 0) {
		int64_t n = 0;
		struct list *it, *tmp;
		list_for_each_safe (it, tmp, &broker.conns) {
			struct conn *o = container_of(it, struct conn, link);
			if (o->vh == vh && o->state == CONN_OPEN)
				n++;
		}
		if (n >= limit) {
			snprintf(text, sizeof(text),
			         "access to vhost '%s' refused for user '%s': connection limit (%lld) is reached",
			         vh->name, c->user_name, (long long)limit);
			conn_close_with(c, AMQP_NOT_ALLOWED, text, AMQP_CONNECTION_OPEN_METHOD);
			return;
		}
	}
	c->vh = vh;
	struct amqp_connection_open_ok ok = { .known_hosts = amqp_cstr("") };
	conn_send_method(c, 0, AMQP_CONNECTION_OPEN_OK_METHOD, &ok);
	c->state = CONN_OPEN;
	ev_timer_stop(loop, &c->hb);
	if (c->heartbeat) {
		double every = c->heartbeat / 2.0;
		ev_timer_set(&c->hb, every, every);
		ev_timer_start(loop, &c->hb);
	}
	log_info("<conn %llu> user '%s' authenticated and granted access to vhost '%s'",
	         (unsigned long long)c->id, c->user_name, vh->name);
}

static void
connection_method(struct conn *c, uint32_t id, union amqp_method *m)
{
	static const struct amqp_connection_close_ok cok;

	if (c->state == CONN_CLOSING) {
		if (id == AMQP_CONNECTION_CLOSE_METHOD) {
			tx_method(c, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &cok);
			c->state = CONN_FLUSH_CLOSE;
			conn_want_flush(c);
		} else if (id == AMQP_CONNECTION_CLOSE_OK_METHOD) {
			conn_abort(c);
		}
		return;
	}
	switch (id) {
	case AMQP_CONNECTION_START_OK_METHOD:
		if (c->state == CONN_AWAIT_START_OK) {
			start_ok(c, &m->connection_start_ok);
			return;
		}
		break;
	case AMQP_CONNECTION_SECURE_OK_METHOD:
		break;
	case AMQP_CONNECTION_TUNE_OK_METHOD:
		if (c->state == CONN_AWAIT_TUNE_OK) {
			tune_ok(c, &m->connection_tune_ok);
			return;
		}
		break;
	case AMQP_CONNECTION_OPEN_METHOD:
		if (c->state == CONN_AWAIT_OPEN) {
			conn_open(c, &m->connection_open);
			return;
		}
		break;
	case AMQP_CONNECTION_CLOSE_METHOD:
		log_info("<conn %llu> closing AMQP connection (%s -> %s, vhost: '%s', user: '%s')",
		         (unsigned long long)c->id, c->peer, c->local, c->vh ? c->vh->name : "",
		         c->user_name);
		tx_method(c, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &cok);
		c->state = CONN_FLUSH_CLOSE;
		conn_want_flush(c);
		return;
	case AMQP_CONNECTION_CLOSE_OK_METHOD:
		conn_abort(c);
		return;
	case AMQP_CONNECTION_UPDATE_SECRET_METHOD:
		if (c->state == CONN_OPEN) {
			static const struct amqp_connection_update_secret_ok uok;
			conn_send_method(c, 0, AMQP_CONNECTION_UPDATE_SECRET_OK_METHOD, &uok);
			return;
		}
		break;
	case AMQP_CONNECTION_BLOCKED_METHOD:
	case AMQP_CONNECTION_UNBLOCKED_METHOD:
		if (c->state == CONN_OPEN)
			return;
		break;
	default:
		break;
	}
	char text[200];
	snprintf(text, sizeof(text), "%s not allowed on channel 0 now", amqp_method_name(id));
	conn_close_with(c, c->state == CONN_OPEN ? AMQP_COMMAND_INVALID : AMQP_COMMAND_INVALID, text, id);
}

static struct chan *
channel_get(struct conn *c, uint16_t id)
{
	return id < c->nchans ? c->chans[id] : NULL;
}

static void
channel_open(struct conn *c, uint16_t id)
{
	char text[200];

	if (c->open_chans >= c->channel_max || id > c->channel_max) {
		snprintf(text, sizeof(text),
		         "number of channels opened (%u) has reached the negotiated channel_max (%u)",
		         c->open_chans, c->channel_max);
		conn_close_with(c, AMQP_NOT_ALLOWED, text, 0);
		return;
	}
	if (id >= c->nchans) {
		uint32_t n = c->nchans ? c->nchans : 8;
		while (n <= id)
			n *= 2;
		c->chans = xrealloc(c->chans, n * sizeof(*c->chans));
		memset(c->chans + c->nchans, 0, (n - c->nchans) * sizeof(*c->chans));
		c->nchans = n;
	}
	c->chans[id] = chan_new(c, id);
	c->open_chans++;
	struct amqp_channel_open_ok ok = { .channel_id = amqp_cstr("") };
	conn_send_method(c, id, AMQP_CHANNEL_OPEN_OK_METHOD, &ok);
}

static void
handle_method(struct conn *c, const struct amqp_frame *f)
{
	union amqp_method m;
	uint32_t          id = 0;
	int               rc = amqp_method_decode(f->payload, f->size, &id, &m);
	char              text[300];

	if (rc < 0) {
		if (c->state != CONN_OPEN && c->state != CONN_CLOSING) {
			conn_abort(c);
			return;
		}
		if (rc == -AMQP_COMMAND_INVALID) {
			/* RabbitMQ's reader crashes here and drops the socket; say why instead. */
			snprintf(text, sizeof(text), "unknown method class %u method %u", id >> 16,
			         id & 0xffff);
			conn_close_with(c, AMQP_NOT_IMPLEMENTED, text, id);
		} else {
			char bin[200];
			erl_binary(f->payload + 4, f->size - 4, bin, sizeof(bin));
			snprintf(text, sizeof(text), "cannot decode %s", bin);
			conn_close_with(c, AMQP_FRAME_ERROR, text, id);
		}
		return;
	}
	if (c->state == CONN_CLOSING && (f->channel != 0 || (id >> 16) != AMQP_CLASS_CONNECTION))
		return;
	if (c->state != CONN_OPEN && c->state != CONN_CLOSING) {
		/* During the handshake only the expected method will do; RabbitMQ just
		 * closes the socket otherwise. */
		bool expected = f->channel == 0 &&
		                ((c->state == CONN_AWAIT_START_OK && id == AMQP_CONNECTION_START_OK_METHOD) ||
		                 (c->state == CONN_AWAIT_TUNE_OK && id == AMQP_CONNECTION_TUNE_OK_METHOD) ||
		                 (c->state == CONN_AWAIT_OPEN && id == AMQP_CONNECTION_OPEN_METHOD) ||
		                 id == AMQP_CONNECTION_CLOSE_METHOD);
		if (!expected) {
			conn_abort(c);
			return;
		}
	}
	if (f->channel == 0) {
		if ((id >> 16) != AMQP_CLASS_CONNECTION || id == AMQP_CONNECTION_OPEN_METHOD ||
		    id == AMQP_CONNECTION_START_OK_METHOD || id == AMQP_CONNECTION_TUNE_OK_METHOD) {
			if (c->state == CONN_OPEN) {
				conn_close_with(c, AMQP_CHANNEL_ERROR,
				                "unexpected method in connection state running", id);
				return;
			}
		}
		connection_method(c, id, &m);
		return;
	}
	struct chan *ch = channel_get(c, f->channel);
	if ((id >> 16) == AMQP_CLASS_CONNECTION) {
		if (ch == NULL)
			conn_close_with(c, AMQP_CHANNEL_ERROR, "expected 'channel.open'", id);
		else
			conn_close_with(c, AMQP_COMMAND_INVALID, "connection method on a channel", id);
		return;
	}
	if (ch == NULL) {
		if (id == AMQP_CHANNEL_OPEN_METHOD)
			channel_open(c, f->channel);
		else
			conn_close_with(c, AMQP_CHANNEL_ERROR, "expected 'channel.open'", id);
		return;
	}
	chan_method(ch, id, &m);
}

/*
 * Print bytes as Erlang's ~p prints a binary, which is how RabbitMQ shows
 * frames in its FRAME_ERROR texts: <<"abc">> when printable, <<0,20>>
 * otherwise.
 */
static void
erl_binary(const uint8_t *p, size_t n, char *out, size_t len)
{
	size_t o = 0;
	bool   printable = n > 0;

	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 32 && p[i] < 127) || (p[i] >= 8 && p[i] <= 13) || p[i] == 27))
			printable = false;
	o += (size_t)snprintf(out + o, len - o, printable ? "<<\"" : "<<");
	for (size_t i = 0; i < n && o + 8 < len; i++) {
		if (!printable) {
			o += (size_t)snprintf(out + o, len - o, i ? ",%u" : "%u", p[i]);
			continue;
		}
		static const char esc[] = "btnvfr";
		if (p[i] == '"' || p[i] == '\\')
			o += (size_t)snprintf(out + o, len - o, "\\%c", p[i]);
		else if (p[i] >= 8 && p[i] <= 13)
			o += (size_t)snprintf(out + o, len - o, "\\%c", esc[p[i] - 8]);
		else if (p[i] == 27)
			o += (size_t)snprintf(out + o, len - o, "\\e");
		else
			out[o++] = (char)p[i];
	}
	if (o + 4 > len)
		o = len - 4;
	snprintf(out + o, len - o, printable ? "\">>" : ">>");
}

/* RabbitMQ's "type T, all octets = <<...>>: reason" frame errors. */
static void
frame_error(struct conn *c, int code, uint8_t type, const uint8_t *payload, size_t n,
            const char *reason)
{
	char bin[200], text[300];

	erl_binary(payload, n, bin, sizeof(bin));
	if (reason)
		snprintf(text, sizeof(text), "type %u, all octets = %s: %s", type, bin, reason);
	else
		snprintf(text, sizeof(text), "type %u, all octets = %s", type, bin);
	log_info("<conn %llu> protocol error: %s", (unsigned long long)c->id, text);
	conn_close_with(c, code, text, 0);
	if (c->state == CONN_CLOSING)
		c->state = CONN_FLUSH_CLOSE; /* the stream is broken: nothing more to read */
}

static void
handle_frame(struct conn *c, const struct amqp_frame *f)
{
	struct chan *ch;

	switch (f->type) {
	case AMQP_FRAME_METHOD:
		handle_method(c, f);
		return;
	case AMQP_FRAME_HEARTBEAT:
		if (f->channel != 0)
			frame_error(c, AMQP_UNEXPECTED_FRAME, f->type, f->payload, f->size, NULL);
		return;
	default: /* header or body */
		if (c->state == CONN_CLOSING)
			return;
		if (c->state != CONN_OPEN) {
			conn_abort(c);
			return;
		}
		ch = f->channel ? channel_get(c, f->channel) : NULL;
		if (ch == NULL) {
			conn_close_with(c, AMQP_UNEXPECTED_FRAME,
			                "expected method frame, got non method frame instead", 0);
			return;
		}
		if (f->type == AMQP_FRAME_HEADER)
			chan_header(ch, f->payload, f->size);
		else
			chan_body(ch, f->payload, f->size);
		return;
	}
}

/*
 * Check a frame's envelope the way RabbitMQ's reader does, for its error
 * texts: the size against frame_max as soon as the header is in, then,
 * with the whole frame in, the frame-end octet, the type and the minimum
 * payloads.  Returns 1 if the frame is fine or incomplete, 0 if it closed
 * the connection.
 */
static int
check_envelope(struct conn *c, const uint8_t *p, size_t n, uint32_t limit)
{
	char reason[100];

	if (n < AMQP_FRAME_HEADER_SIZE)
		return 1;
	uint8_t  type = p[0];
	uint32_t size = amqp_get_u32(p + 3);
	if ((uint64_t)size + AMQP_FRAME_OVERHEAD > limit) {
		snprintf(reason, sizeof(reason), "{frame_too_large,%u,%u}", size,
		         limit - AMQP_FRAME_OVERHEAD);
		frame_error(c, AMQP_FRAME_ERROR, type, NULL, 0, reason);
		return 0;
	}
	if (n < (size_t)size + AMQP_FRAME_OVERHEAD)
		return 1;
	const uint8_t *payload = p + AMQP_FRAME_HEADER_SIZE;
	if (payload[size] != AMQP_FRAME_END) {
		snprintf(reason, sizeof(reason), "{invalid_frame_end_marker,%u}", payload[size]);
		frame_error(c, AMQP_FRAME_ERROR, type, payload, size, reason);
		return 0;
	}
	bool ok = (type == AMQP_FRAME_METHOD && size >= 4) ||
	          (type == AMQP_FRAME_HEADER && size >= 14) || type == AMQP_FRAME_BODY ||
	          (type == AMQP_FRAME_HEARTBEAT && size == 0);
	if (!ok) {
		frame_error(c, AMQP_FRAME_ERROR, type, payload, size, "unknown_frame");
		return 0;
	}
	return 1;
}

/* Handle every complete frame in rbuf; keep a partial one. */
static void
process_input(struct conn *c)
{
	size_t off = 0;

	while (off < c->rlen) {
		if (c->state == CONN_CLOSED || c->state == CONN_FLUSH_CLOSE)
			break;
		if (c->state == CONN_AWAIT_HEADER) {
			int h = amqp_protocol_header_check(c->rbuf + off, c->rlen - off);
			if (h == 0)
				break;
			if (h < 0) {
				/* Not AMQP 0-9-1: answer with the header we speak, then close. */
				tx_put(c, amqp_protocol_header, 8);
				c->state = CONN_FLUSH_CLOSE;
				conn_want_flush(c);
				break;
			}
			off += 8;
			c->state = CONN_AWAIT_START_OK;
			send_start(c);
			continue;
		}
		struct amqp_frame f;
		uint32_t          limit = c->state < CONN_AWAIT_OPEN ? AMQP_FRAME_MIN_SIZE : c->frame_max;
		if (!check_envelope(c, c->rbuf + off, c->rlen - off, limit))
			break;
		ssize_t n = amqp_frame_parse(c->rbuf + off, c->rlen - off, limit, &f);
		if (n == 0) {
			/* Make room for the whole frame if its header is here. */
			if (c->rlen - off >= AMQP_FRAME_HEADER_SIZE) {
				size_t need = amqp_get_u32(c->rbuf + off + 3) + (size_t)AMQP_FRAME_OVERHEAD;
				if (need > c->rcap) {
					memmove(c->rbuf, c->rbuf + off, c->rlen - off);
					c->rlen -= off;
					off = 0;
					c->rcap = need;
					c->rbuf = xrealloc(c->rbuf, c->rcap);
				}
			}
			break;
		}
		if (n < 0) {
			/* check_envelope accepts only what the parser accepts; this is a safety net */
			frame_error(c, (int)-n, c->rbuf[off], NULL, 0, "malformed_frame");
			break;
		}
		c->recv_cnt++;
		off += (size_t)n;
		handle_frame(c, &f);
	}
	if (off) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
}

/*
 * The TLS handshake, before any AMQP: driven by whichever socket event it
 * waits for; the handshake timeout covers it.  A failed handshake (plain
 * AMQP or garbage on the TLS port, an untrusted client certificate) closes
 * this socket only.
 */
static void
tls_handshake_step(struct conn *c)
{
	int rc = transport_handshake(&c->tp);

	if (rc == TRANSPORT_ERROR) {
		log_warnx("<conn %llu> TLS handshake failed (%s): %s", (unsigned long long)c->id,
		          c->peer, c->tp.error);
		conn_abort(c);
		return;
	}
	bool want_write = rc == TRANSPORT_AGAIN && c->tp.handshake_wants_write;
	if (want_write != c->writing) {
		if (want_write)
			ev_io_start(loop, &c->wio);
		else
			ev_io_stop(loop, &c->wio);
		c->writing = want_write;
	}
	if (rc == 1) {
		log_info("<conn %llu> TLS handshake done: %s, %s", (unsigned long long)c->id,
		         transport_tls_version(&c->tp), transport_tls_cipher(&c->tp));
		read_input(c); /* the client may have sent its protocol header already */
	}
}

/* One read into rbuf, then every complete frame in it. */
static void
read_once(struct conn *c)
{
	ssize_t n;

	if (c->rcap == 0) {
		/* trimmed while idle (conn_trim_idle): back to a small buffer */
		c->rcap = RBUF_INITIAL;
		c->rbuf = xmalloc(c->rcap);
	} else if (c->rlen == c->rcap) {
		/* A busy peer: read more per turn. */
		c->rcap = c->rcap < RBUF_BUSY ? RBUF_BUSY : c->rcap * 2;
		c->rbuf = xrealloc(c->rbuf, c->rcap);
	}
	n = transport_read(&c->tp, c->rbuf + c->rlen, c->rcap - c->rlen);
	if (n == TRANSPORT_AGAIN) {
		if (c->tp.read_wants_write && !c->writing) {
			ev_io_start(loop, &c->wio);
			c->writing = true;
		}
		return;
	}
	if (n <= 0) {
		if (n < 0)
			log_info("<conn %llu> %s", (unsigned long long)c->id, c->tp.error);
		else if (c->state == CONN_OPEN)
			log_info("<conn %llu> closing AMQP connection (%s -> %s): client unexpectedly "
			         "closed TCP connection",
			         (unsigned long long)c->id, c->peer, c->local);
		conn_abort(c);
		return;
	}
	c->recv_oct += (uint64_t)n;
	c->last_rx = ev_now(loop);
	bool filled = (size_t)n == c->rcap - c->rlen;
	c->rlen += (size_t)n;
	process_input(c);
	if (filled && c->rcap < RBUF_BUSY && c->state != CONN_CLOSED) {
		c->rcap = RBUF_BUSY;
		c->rbuf = xrealloc(c->rbuf, c->rcap);
	}
	broker_dispatch();
	if ((c->blocked || c->tx_pending > TX_READ_STOP) && c->reading) {
		/* The peer is not reading what we send: stop reading what it sends. */
		ev_io_stop(loop, &c->rio);
		c->reading = false;
		c->flow_at = ev_now(loop);
	}
}

/*
 * Read and handle input.  TLS may hold more decrypted input than one read
 * took (at most the rest of a record): the socket will not signal it, so
 * it is read now, while the connection still wants input.
 */
static void
read_input(struct conn *c)
{
	do
		read_once(c);
	while (c->reading && c->state != CONN_CLOSED && c->state != CONN_FLUSH_CLOSE &&
	       transport_pending(&c->tp));
}

static void
read_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct conn *c = conn_of(w, rio);

	(void)l;
	(void)revents;
	if (!c->tp.handshaken) {
		tls_handshake_step(c);
		return;
	}
	read_input(c);
	if (c->tp.write_wants_read && c->state != CONN_CLOSED)
		flush(c); /* a TLS write that had to read first */
}

/* Resource alarms. */

static const char *alarm_reason;
static bool        mem_alarm, disk_alarm;
static ev_timer    mem_timer;
static uint64_t    mem_limit;

/* "rabbit@host", the node name RabbitMQ's alarm lines carry. */
static const char *
node_name(void)
{
	static char name[300];

	if (name[0] == '\0') {
		char host[256] = "localhost";
		gethostname(host, sizeof(host) - 1);
		host[strcspn(host, ".")] = '\0';
		snprintf(name, sizeof(name), "rabbit@%s", host);
	}
	return name;
}

/*
 * Idle connections give their buffers back: one that has read nothing for
 * IDLE_AFTER seconds, with nothing half-read and nothing to send, frees
 * its read and write buffers (a read allocates a small one again).  An
 * idle connection then costs its structs, not its buffers.
 */
#define IDLE_TRIM_EVERY 5    /* memory-check ticks (seconds) between sweeps */
#define IDLE_AFTER      5.0  /* seconds without input */
#define TRIM_RELEASE    (1024 * 1024) /* bytes freed by a sweep worth a malloc_trim */

static unsigned trim_ticks;

static void
trim_idle(double now)
{
	struct list *it, *tmp;
	size_t       freed = 0;

	list_for_each_safe (it, tmp, &broker.conns) {
		struct conn *c = container_of(it, struct conn, link);
		if (now - c->last_rx < IDLE_AFTER || c->rlen || c->seg_head != c->nsegs || c->tlen)
			continue;
		if (c->rcap) {
			freed += c->rcap;
			free(c->rbuf);
			c->rbuf = NULL;
			c->rcap = 0;
		}
		if (c->tcap) {
			freed += c->tcap;
			free(c->tbuf);
			c->tbuf = NULL;
			c->tcap = 0;
		}
	}
	/* the freed buffers sit between live structs: hand their pages back */
	if (freed >= TRIM_RELEASE)
		malloc_trim(0);
}

/*
 * The memory high watermark: resident memory checked every second against
 * vm_memory_high_watermark (absolute, else relative to the machine's
 * memory), as RabbitMQ's memory alarm.
 */
static void
mem_check(struct ev_loop *l, ev_timer *w, int revents)
{
	long  pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	(void)l;
	(void)w;
	(void)revents;
	if (f == NULL)
		return;
	if (fscanf(f, "%ld %ld", &pages, &resident) == 2) {
		uint64_t rss = (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
		bool     high = rss > mem_limit;
		if (high != mem_alarm) {
			mem_alarm = high;
			/* RabbitMQ's two lines */
			log_warnx("vm_memory_high_watermark %s. Memory used:%llu allowed:%llu",
			          high ? "set" : "clear", (unsigned long long)rss,
			          (unsigned long long)mem_limit);
			log_warnx("memory resource limit alarm %s on node %s", high ? "set" : "cleared",
			          node_name());
		}
	}
	fclose(f);
	if (++trim_ticks % IDLE_TRIM_EVERY == 0)
		trim_idle(ev_now(l));

	/* disk_free_limit: free space on the data folder's filesystem */
	struct statvfs sv;
	if (statvfs(broker.cfg->data_dir, &sv) == 0) {
		uint64_t freeb = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
		bool     low = freeb < broker.cfg->disk_free_limit;
		if (low != disk_alarm) {
			disk_alarm = low;
			log_warnx("Free disk space is %s. Free bytes: %llu. Limit: %llu",
			          low ? "insufficient" : "sufficient", (unsigned long long)freeb,
			          (unsigned long long)broker.cfg->disk_free_limit);
			log_warnx("disk resource limit alarm %s on node %s", low ? "set" : "cleared",
			          node_name());
		}
	}
}

void
conn_start_memory_monitor(void)
{
	const struct config *cfg = broker.cfg;

	mem_limit = cfg->mem_absolute;
	if (mem_limit == 0) {
		uint64_t total = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
		mem_limit = (uint64_t)((double)total * cfg->mem_relative);
	}
	ev_timer_init(&mem_timer, mem_check, 0., 1.);
	ev_timer_start(loop, &mem_timer);
	ev_unref(loop); /* the monitor alone does not keep the loop running */
}
void
conn_alarm_state(bool *mem, bool *disk, uint64_t *mem_limit_bytes)
{
	*mem = mem_alarm;
	*disk = disk_alarm || persist_failed();
	*mem_limit_bytes = mem_limit;
}

static ev_timer    alarm_timer; /* wakes the loop so the prepare step retries the disk */

static void
alarm_tick(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
}

static void
block(struct conn *c)
{
	if (c->blocked || c->state != CONN_OPEN)
		return;
	c->blocked = true;
	c->blocked_at = ev_now(loop);
	c->blocked_why = strstr(alarm_reason, "memory") ? "memory" : "disk";
	if (c->cap_blocked) {
		struct amqp_connection_blocked b = { .reason = amqp_cstr(alarm_reason) };
		conn_send_method(c, 0, AMQP_CONNECTION_BLOCKED_METHOD, &b);
	}
	log_info("<conn %llu> blocked: %s", (unsigned long long)c->id, alarm_reason);
}

const char *
conn_blocked_reason(const struct conn *c, double *since)
{
	/* ev_now() is the loop's monotonic-ish clock: shift it to the wall clock */
	double shift = ev_time() - ev_now(loop);

	if (c->blocked) {
		*since = c->blocked_at + shift;
		return c->blocked_why;
	}
	if (!c->reading && c->tx_pending > TX_READ_STOP && c->state == CONN_OPEN) {
		*since = c->flow_at + shift;
		return "flow";
	}
	return NULL;
}

void
conn_published(struct conn *c)
{
	c->published = true;
	if (alarm_reason)
		block(c);
}

void
conn_set_alarm(const char *reason)
{
	struct list *it, *tmp;

	if ((reason == NULL) == (alarm_reason == NULL))
		return;
	alarm_reason = reason;
	if (reason) {
		log_warnx("resource alarm (%s): Publishers will be blocked until this alarm clears",
		          reason);
		ev_timer_init(&alarm_timer, alarm_tick, 1.0, 1.0);
		ev_timer_start(loop, &alarm_timer);
	} else {
		log_info("resource alarms cleared: publishers are unblocked");
		ev_timer_stop(loop, &alarm_timer);
	}
	list_for_each_safe (it, tmp, &broker.conns) {
		struct conn *c = container_of(it, struct conn, link);
		if (reason && c->published) {
			block(c);
		} else if (!reason && c->blocked) {
			c->blocked = false;
			if (c->cap_blocked && c->state == CONN_OPEN) {
				static const struct amqp_connection_unblocked u;
				conn_send_method(c, 0, AMQP_CONNECTION_UNBLOCKED_METHOD, &u);
			}
			if (!c->reading && c->state == CONN_OPEN)
				start_reading(c);
		}
	}
}

static void
flush_all(void)
{
	while (!LIST_EMPTY(&flush_list)) {
		struct conn *c = container_of(flush_list.next, struct conn, flush_link);
		list_del(&c->flush_link);
		c->flush_queued = false;
		flush(c);
	}
}

/* Wakes the loop at once for work the prepare step left (see conn_prepare). */
static ev_idle more_work;

static void
more_work_cb(struct ev_loop *l, ev_idle *w, int revents)
{
	(void)revents;
	ev_idle_stop(l, w); /* its presence kept the loop from blocking; that was all */
}

void
conn_prepare(struct ev_loop *l)
{
	(void)l;
	/* Reaping requeues messages and deletes queues, which makes more work: repeat a little. */
	for (int round = 0; round < 4; round++) {
		broker_dispatch();
		/* Group commit: what this turn recorded goes to the I/O thread, unless
		 * a batch is in flight; what depends on it waits (conn_hold). */
		persist_commit();
		conn_set_alarm(persist_failed() || disk_alarm ? "low on disk"
		               : mem_alarm                 ? "low on memory"
		                                           : NULL);
		chan_flush_confirms();
		flush_all();
		/* Connections closing: release their channels now, outside any callback. */
		struct list *it, *tmp;
		list_for_each_safe (it, tmp, &broker.conns) {
			struct conn *c = container_of(it, struct conn, link);
			if (c->state == CONN_CLOSING && c->open_chans)
				release_channels(c);
		}
		if (LIST_EMPTY(&reap_list) && LIST_EMPTY(&flush_list) && LIST_EMPTY(&broker.dispatch))
			break;
		while (!LIST_EMPTY(&reap_list)) {
			struct conn *c = container_of(reap_list.next, struct conn, flush_link);
			list_del(&c->flush_link);
			reap(c);
		}
	}
	/* Rounds are capped so that input is read between them; what is left
	 * (a consumer draining a backlog resumes deliveries every round) must
	 * not wait for the next socket event or timer. */
	if (!LIST_EMPTY(&reap_list) || !LIST_EMPTY(&flush_list) || !LIST_EMPTY(&broker.dispatch)) {
		if (!ev_is_active(&more_work)) {
			ev_idle_init(&more_work, more_work_cb);
			ev_idle_start(loop, &more_work);
		}
	}
}
