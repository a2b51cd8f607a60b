/*
 * Durability for the engine (see persist.h): the glue between the
 * engine's queues and storage/'s opaque logs and definitions file.
 *
 * A message record is the message as published: a version octet, a flag
 * octet, the time it was stored (u64 ms since the epoch: message TTLs
 * count from it, also across restarts), the exchange and routing key
 * (shortstr), the encoded properties (u32 length) and the body (u64
 * length).  Version 1 records, without the time, are still read.  Each durable queue has its own
 * log, named by the SHA-256 of its vhost and name.
 */
#include "server/persist.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "amqp/bytes.h"
#include "amqp/props.h"
#include "server/broker.h"
#include "server/conn.h"
#include "server/def.h"
#include "server/log.h"
#include "server/msg.h"
#include "storage/store.h"
#include "storage/stream.h"

#define RECORD_VERSION 2
#define RESET_INTERVAL 5.0 /* seconds between attempts to leave a failed state */

static struct store *store;
static bool          meta_dirty;
static bool          loading;
static size_t        recovered_queues, recovered_msgs; /* while loading, for the summary */
static uint64_t      appends_total, failures_total;
static uint8_t      *recbuf;
static size_t        reccap;
static double        last_reset;

/*
 * Group commit on the I/O thread.  Batches are numbered: gen_done is the
 * last one completed (successfully or not); one is in flight at a time.
 * io_mu guards io_todo, io_finished and io_quit.
 */
static uint64_t            gen_done;
static struct store_batch *inflight;
static uint64_t            gen_wanted; /* the latest batch something waits for */
static bool                io_started;
static pthread_t           io_thread;
static pthread_mutex_t     io_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t      io_cv = PTHREAD_COND_INITIALIZER;
static struct store_batch *io_todo;
static bool                io_finished, io_quit;
static ev_async            io_wake;
static struct ev_loop     *io_loop;   /* the loop io_wake wakes */

static void wait_batch(void);

/*
 * The definitions journal.  Declaring or deleting a durable queue, exchange
 * or binding appends one record to a log (JOURNAL_PREFIX G, a message log
 * of the store), made durable by the next batch like a message, instead of
 * rewriting the whole definitions file: that made each declaration cost as
 * much as all the others.  The file (the snapshot) is rewritten when other
 * definitions change, or once the journal has outgrown it; it names the
 * journal that continues it ("warren_journal": G), so a crash between the
 * two steps of a rewrite replays either the old journal onto the old file
 * or the new (empty) one onto the new file.  At start the journal is
 * replayed onto the snapshot before anything is created.
 */
#define JOURNAL_PREFIX      "meta-journal-"
#define JOURNAL_MIN_COMPACT (1024 * 1024)
static struct store_queue *journal;
static uint64_t            journal_gen, journal_bytes, snapshot_bytes, meta_seq;

static void
store_log(void *arg, int level, const char *msg)
{
	(void)arg;
	if (level <= STORE_LOG_ERR)
		log_error("storage: %s", msg);
	else if (level <= STORE_LOG_WARNING)
		log_warnx("storage: %s", msg);
	else if (level <= STORE_LOG_INFO)
		log_info("storage: %s", msg);
	else
		log_debug("storage: %s", msg);
}

/* The log's name: the first 128 bits of SHA-256(vhost NUL name), in hex. */
static void
queue_id(const struct queue *q, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int  mdlen = 0;
	EVP_MD_CTX   *ctx = EVP_MD_CTX_new();

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, q->vh->name, q->vh->name_len + 1) != 1 ||
	    EVP_DigestUpdate(ctx, q->name.ptr, q->name.len) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		fatalx("SHA-256 failed");
	EVP_MD_CTX_free(ctx);
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

struct recover_ctx {
	struct queue *q;
	size_t        n, bad;
};

/* A record's parts (see the top of this file); false if it is malformed. */
struct record {
	uint8_t           flags;
	uint64_t          stored_ms; /* 0: unknown (a version 1 record) */
	struct amqp_bytes ex, rk, props, body;
};

static bool
parse_record(const void *rec, size_t len, struct record *r)
{
	const uint8_t *p = rec, *end = p + len;

	if (len < 3 || (p[0] != 1 && p[0] != RECORD_VERSION))
		return false;
	uint8_t version = p[0];
	r->flags = p[1];
	r->stored_ms = 0;
	p += 2;
	if (version >= 2) {
		if (end - p < 9)
			return false;
		r->stored_ms = amqp_get_u64(p);
		p += 8;
	}
	r->ex = (struct amqp_bytes){ p[0], p + 1 };
	p += 1 + r->ex.len;
	if (p >= end)
		return false;
	r->rk = (struct amqp_bytes){ p[0], p + 1 };
	p += 1 + r->rk.len;
	if (p > end || (size_t)(end - p) < 4)
		return false;
	r->props.len = amqp_get_u32(p);
	r->props.ptr = p + 4;
	p += 4;
	if (r->props.len > (size_t)(end - p) || (size_t)(end - p) - r->props.len < 8)
		return false;
	p += r->props.len;
	uint64_t body_len = amqp_get_u64(p);
	p += 8;
	if (body_len != (uint64_t)(end - p))
		return false;
	r->body = (struct amqp_bytes){ (size_t)body_len, p };
	return true;
}

static struct msg *
record_msg(const struct record *r)
{
	struct msg *m = msg_new(r->ex, r->rk, r->props, r->body.len);

	if (m == NULL)
		return NULL;
	if (r->body.len)
		memcpy(m->body, r->body.ptr, r->body.len);
	m->body_filled = r->body.len;
	msg_set_from_props(m);
	m->persistent = (r->flags & 1) != 0;
	return m;
}

static void
recover_one(void *arg, uint64_t id, const void *rec, size_t len, uint32_t deliveries)
{
	struct recover_ctx *rc = arg;
	struct record       r;

	if (!parse_record(rec, len, &r)) {
		rc->bad++;
		return;
	}
	if (!queue_keeps_bodies(rc->q)) {
		/* a long queue: keep the index only, the body stays on disk */
		struct amqp_basic_props p;
		uint8_t                 prio = 0;
		int64_t                 exp = -1;
		if (amqp_props_decode(r.props, &p) == 0) {
			if (p.flags & AMQP_PROP_PRIORITY)
				prio = p.priority;
			if (p.flags & AMQP_PROP_EXPIRATION)
				msg_parse_expiration(p.expiration, &exp);
		}
		queue_push_recovered(rc->q, NULL, id, deliveries, (uint32_t)r.body.len, prio, exp,
		                     r.stored_ms);
		rc->n++;
		return;
	}
	struct msg *m = record_msg(&r);
	if (m == NULL)
		fatalx("out of memory recovering queue '%.*s'", (int)rc->q->name.len,
		       (const char *)rc->q->name.ptr);
	queue_push_recovered(rc->q, m, id, deliveries, (uint32_t)m->body_len, m->priority,
	                     m->expiration, r.stored_ms);
	msg_unref(m);
	rc->n++;
}

struct msg *
persist_load(struct queue *q, uint64_t id)
{
	void         *rec = NULL;
	size_t        len = 0;
	struct record r;
	struct msg   *m = NULL;
	int           err;

	if (q->sq == NULL)
		return NULL;
	if ((err = store_read(q->sq, id, &rec, &len)) != STORE_OK) {
		log_error("cannot read message %llu of queue '%.*s' back: %s", (unsigned long long)id,
		          (int)q->name.len, (const char *)q->name.ptr, store_strerror(err));
		return NULL;
	}
	if (parse_record(rec, len, &r))
		m = record_msg(&r);
	else
		log_error("message %llu of queue '%.*s' is malformed on disk", (unsigned long long)id,
		          (int)q->name.len, (const char *)q->name.ptr);
	free(rec);
	return m;
}

void
persist_queue_open(struct queue *q)
{
	char               qid[33];
	struct recover_ctx rc = { q, 0, 0 };
	int                err;

	if (store == NULL || !q->durable || q->sq || q->ss)
		return;
	queue_id(q, qid);
	if (q->type == QUEUE_STREAM) {
		if ((err = store_stream_open(store, qid, &q->ss)) != STORE_OK) {
			log_error("cannot open the log of stream queue '%.*s' in vhost '%s': %s",
			          (int)q->name.len, (const char *)q->name.ptr, q->vh->name,
			          store_strerror(err));
			q->ss = NULL;
			return;
		}
		queue_stream_opened(q);
		if (q->count)
			log_info("recovered stream queue '%.*s' in vhost '%s': offsets %llu to %llu",
			         (int)q->name.len, (const char *)q->name.ptr, q->vh->name,
			         (unsigned long long)store_stream_first(q->ss),
			         (unsigned long long)store_stream_next(q->ss) - 1);
		return;
	}
	if ((err = store_queue_open(store, qid, &q->sq)) != STORE_OK) {
		log_error("cannot open the message log of queue '%.*s' in vhost '%s': %s",
		          (int)q->name.len, (const char *)q->name.ptr, q->vh->name, store_strerror(err));
		q->sq = NULL;
		return;
	}
	if ((err = store_recover(q->sq, recover_one, &rc)) != STORE_OK)
		log_error("recovering queue '%.*s' in vhost '%s': %s", (int)q->name.len,
		          (const char *)q->name.ptr, q->vh->name, store_strerror(err));
	if (loading) {
		recovered_queues++;
		recovered_msgs += rc.n;
	}
	if (rc.n || rc.bad)
		log_info("recovered %zu messages of queue '%.*s' in vhost '%s'%s", rc.n,
		         (int)q->name.len, (const char *)q->name.ptr, q->vh->name,
		         rc.bad ? " (some records were unreadable and skipped)" : "");
}

void
persist_queue_delete(struct queue *q)
{
	char qid[33];

	if (q->ss || q->sq)
		wait_batch(); /* the batch in flight may still write to its files */
	if (q->ss) {
		queue_id(q, qid);
		store_stream_close(q->ss);
		q->ss = NULL;
		int err = store_stream_delete(store, qid);
		if (err != STORE_OK)
			log_warnx("removing the log of stream queue '%.*s': %s", (int)q->name.len,
			          (const char *)q->name.ptr, store_strerror(err));
		return;
	}
	if (q->sq == NULL)
		return;
	queue_id(q, qid);
	store_queue_close(q->sq);
	q->sq = NULL;
	int err = store_queue_delete(store, qid);
	if (err != STORE_OK)
		log_warnx("removing the message log of queue '%.*s': %s", (int)q->name.len,
		          (const char *)q->name.ptr, store_strerror(err));
}

/* m as a record, in recbuf; returns its length. */
static size_t
encode_record(const struct msg *m)
{
	struct amqp_bytes ex = msg_exchange(m), rk = msg_routing_key(m), props = msg_props(m);
	size_t            n = 2 + 8 + 1 + ex.len + 1 + rk.len + 4 + props.len + 8 + m->body_len;

	if (n > reccap) {
		reccap = n < 65536 ? 65536 : n;
		free(recbuf);
		recbuf = xmalloc(reccap);
	}
	uint8_t *p = recbuf;
	*p++ = RECORD_VERSION;
	*p++ = m->persistent ? 1 : 0;
	amqp_put_u64(p, queue_now_ms());
	p += 8;
	*p++ = (uint8_t)ex.len;
	if (ex.len)
		memcpy(p, ex.ptr, ex.len);
	p += ex.len;
	*p++ = (uint8_t)rk.len;
	if (rk.len)
		memcpy(p, rk.ptr, rk.len);
	p += rk.len;
	amqp_put_u32(p, (uint32_t)props.len);
	p += 4;
	if (props.len)
		memcpy(p, props.ptr, props.len);
	p += props.len;
	amqp_put_u64(p, m->body_len);
	p += 8;
	if (m->body_len)
		memcpy(p, m->body, m->body_len);
	return n;
}

uint64_t
persist_append(struct queue *q, const struct msg *m)
{
	uint64_t id;
	int      err;

	/* a quorum queue keeps every message on disk, whatever its delivery mode */
	if (q->sq == NULL || (!m->persistent && q->type != QUEUE_QUORUM) || loading)
		return 0;
	size_t n = encode_record(m);
	if ((err = store_append(q->sq, recbuf, n, &id)) != STORE_OK) {
		if (failures_total++ == 0 || err != STORE_FAILED)
			log_error("cannot append to the message log of queue '%.*s': %s",
			          (int)q->name.len, (const char *)q->name.ptr, store_strerror(err));
		return 0;
	}
	appends_total++;
	return id;
}

int
persist_stream_append(struct queue *q, const struct msg *m, int64_t ts_ms, uint64_t *offset)
{
	int err;

	if (q->ss == NULL || loading)
		return -1;
	size_t n = encode_record(m);
	if ((err = store_stream_append(q->ss, ts_ms, recbuf, n, offset)) != STORE_OK) {
		if (failures_total++ == 0 || err != STORE_FAILED)
			log_error("cannot append to stream queue '%.*s': %s", (int)q->name.len,
			          (const char *)q->name.ptr, store_strerror(err));
		return -1;
	}
	appends_total++;
	return 0;
}

struct msg *
persist_record_msg(const void *rec, size_t len)
{
	struct record r;
	struct msg   *m;

	if (!parse_record(rec, len, &r)) {
		log_error("a stream record of %zu bytes is malformed", len);
		return NULL;
	}
	if ((m = record_msg(&r)) == NULL)
		log_error("out of memory reading a stream record");
	return m;
}

void
persist_ack(struct queue *q, uint64_t id)
{
	if (q->sq && id && !loading)
		store_ack(q->sq, id);
}

bool
persist_delivered(struct queue *q, uint64_t id, uint32_t n)
{
	return q->sq && id && !loading && store_set_delivery_count(q->sq, id, n) == STORE_OK;
}

void
persist_meta_changed(void)
{
	if (!loading)
		meta_dirty = true;
}

/* Keep what a restart must bring back: durable queues and exchanges and the
 * bindings between durable ends (amq.* and the default exchange are always there). */
static void
keep_durable(json_t *defs)
{
	json_t *durable = json_object(), *list, *v;
	size_t  i;
	char    key[1024];

	list = json_object_get(defs, "queues");
	for (i = 0; list && i < json_array_size(list);) {
		v = json_array_get(list, i);
		if (!json_is_true(json_object_get(v, "durable"))) {
			json_array_remove(list, i);
			continue;
		}
		snprintf(key, sizeof(key), "q\n%s\n%s", json_string_value(json_object_get(v, "vhost")),
		         json_string_value(json_object_get(v, "name")));
		json_object_set_new(durable, key, json_true());
		i++;
	}
	list = json_object_get(defs, "exchanges");
	for (i = 0; list && i < json_array_size(list);) {
		v = json_array_get(list, i);
		if (!json_is_true(json_object_get(v, "durable"))) {
			json_array_remove(list, i);
			continue;
		}
		snprintf(key, sizeof(key), "e\n%s\n%s", json_string_value(json_object_get(v, "vhost")),
		         json_string_value(json_object_get(v, "name")));
		json_object_set_new(durable, key, json_true());
		i++;
	}
	list = json_object_get(defs, "bindings");
	for (i = 0; list && i < json_array_size(list);) {
		v = json_array_get(list, i);
		const char *vh = json_string_value(json_object_get(v, "vhost"));
		const char *src = json_string_value(json_object_get(v, "source"));
		const char *dst = json_string_value(json_object_get(v, "destination"));
		const char *dt = json_string_value(json_object_get(v, "destination_type"));
		bool        ok = vh && src && dst && dt;
		if (ok && src[0] && strncmp(src, "amq.", 4) != 0) {
			snprintf(key, sizeof(key), "e\n%s\n%s", vh, src);
			ok = json_object_get(durable, key) != NULL;
		}
		if (ok) {
			snprintf(key, sizeof(key), "%c\n%s\n%s", strcmp(dt, "queue") == 0 ? 'q' : 'e', vh, dst);
			ok = (dt[0] == 'e' && strncmp(dst, "amq.", 4) == 0) || json_object_get(durable, key);
		}
		if (!ok) {
			json_array_remove(list, i);
			continue;
		}
		i++;
	}
	json_decref(durable);
}

static bool
write_meta(uint64_t gen)
{
	json_t *defs = def_export(NULL);
	char   *text;
	int     err;

	if (defs == NULL)
		return false;
	keep_durable(defs);
	json_object_set_new(defs, "warren_journal", json_integer((json_int_t)gen));
	text = json_dumps(defs, JSON_INDENT(1) | JSON_SORT_KEYS);
	json_decref(defs);
	if (text == NULL)
		return false;
	snapshot_bytes = strlen(text);
	err = store_meta_write(store, text, snapshot_bytes);
	free(text);
	if (err != STORE_OK) {
		log_error("cannot write the definitions file: %s", store_strerror(err));
		return false;
	}
	return true;
}

static void
journal_name(uint64_t gen, char out[64])
{
	snprintf(out, 64, JOURNAL_PREFIX "%llu", (unsigned long long)gen);
}

/* Append one change to the journal; item is taken. */
static void
journal_add(const char *op, const char *kind, json_t *item)
{
	if (store == NULL || loading) {
		json_decref(item);
		return;
	}
	meta_seq++;
	json_t *rec = json_pack("{s:s,s:o}", op, kind, "item", item);
	char   *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
	json_decref(rec);
	size_t   n = text ? strlen(text) : 0;
	uint64_t id;
	if (journal == NULL || text == NULL || store_append(journal, text, n, &id) != STORE_OK)
		meta_dirty = true; /* the next snapshot holds it */
	else
		journal_bytes += n;
	free(text);
}

void
persist_meta_queue(const struct queue *q, bool put)
{
	if (q->durable && !q->exclusive)
		journal_add(put ? "put" : "del", "queues", def_queue_json(q, true));
}

void
persist_meta_exchange(const struct exchange *x, bool put)
{
	if (x->durable && !def_reserved_exchange(x->name))
		journal_add(put ? "put" : "del", "exchanges", def_exchange_json(x, true));
}

void
persist_meta_binding(const struct binding *b, bool put)
{
	/* as the export: none from the default exchange, none to exclusive queues */
	if (b->src->name.len == 0 || (!b->dest_is_exchange && ((struct queue *)b->dest)->exclusive))
		return;
	journal_add(put ? "put" : "del", "bindings", def_binding_json(b, true));
}

uint64_t
persist_meta_seq(void)
{
	return meta_seq;
}

/* Rewrite the snapshot and start a new journal (see JOURNAL_PREFIX). */
static bool
compact(void)
{
	char                name[64];
	struct store_queue *next;
	int                 err;

	wait_batch(); /* the batch in flight may still write to the old journal */
	journal_name(journal_gen + 1, name);
	if ((err = store_queue_open(store, name, &next)) != STORE_OK) {
		log_error("cannot create the definitions journal %s: %s", name, store_strerror(err));
		return false;
	}
	store_recover(next, NULL, NULL);
	if (!write_meta(journal_gen + 1)) {
		store_queue_close(next);
		store_queue_delete(store, name);
		return false;
	}
	if (journal) {
		store_queue_close(journal);
		journal_name(journal_gen, name);
		store_queue_delete(store, name);
	}
	journal = next;
	journal_gen++;
	journal_bytes = 0;
	return true;
}

uint64_t
persist_appends(void)
{
	return appends_total;
}

uint64_t
persist_failures(void)
{
	return failures_total;
}

bool
persist_failed(void)
{
	return store && store_failed(store);
}

bool
persist_dirty(void)
{
	return store && store_dirty(store);
}

uint64_t
persist_next_gen(void)
{
	gen_wanted = gen_done + 1 + (inflight != NULL);
	return gen_wanted;
}

uint64_t
persist_done_gen(void)
{
	return gen_done;
}

/* The I/O thread: performs each batch it is given, then wakes the loop. */
static void *
io_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&io_mu);
	for (;;) {
		while (io_todo == NULL && !io_quit)
			pthread_cond_wait(&io_cv, &io_mu);
		if (io_todo == NULL)
			break;
		struct store_batch *b = io_todo;
		pthread_mutex_unlock(&io_mu);
		store_sync_perform(b); /* its result is in b, for store_sync_complete() */
		pthread_mutex_lock(&io_mu);
		io_todo = NULL;
		io_finished = true;
		pthread_cond_broadcast(&io_cv);
		ev_async_send(io_loop, &io_wake);
	}
	pthread_mutex_unlock(&io_mu);
	return NULL;
}

/* A batch is over (gen, ok or not): tell those that waited for it. */
static void
settle(uint64_t gen, bool ok)
{
	gen_done = gen;
	if (ok)
		queue_stream_committed();
	conn_durable(gen, ok);
}

/* The batch in flight has been performed: complete it (owner thread). */
static void
finish_batch(void)
{
	int err = store_sync_complete(store, inflight);

	inflight = NULL;
	if (err != STORE_OK)
		log_error("storage: sync failed: %s; publishers of persistent messages get nacks "
		          "until the disk recovers", store_strerror(err));
	settle(gen_done + 1, err == STORE_OK);
}

static void
io_wake_cb(struct ev_loop *l, ev_async *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
	pthread_mutex_lock(&io_mu);
	bool finished = io_finished;
	io_finished = false;
	pthread_mutex_unlock(&io_mu);
	if (finished && inflight)
		finish_batch();
}

/* Wait for the batch in flight, if any, and complete it. */
static void
wait_batch(void)
{
	if (inflight == NULL)
		return;
	pthread_mutex_lock(&io_mu);
	while (!io_finished)
		pthread_cond_wait(&io_cv, &io_mu);
	io_finished = false;
	pthread_mutex_unlock(&io_mu);
	finish_batch();
}

void
persist_commit(void)
{
	int err;

	if (store == NULL)
		return;
	if ((meta_dirty || journal_bytes > (snapshot_bytes > JOURNAL_MIN_COMPACT ? snapshot_bytes
	                                                                        : JOURNAL_MIN_COMPACT)) &&
	    !store_failed(store) && compact())
		meta_dirty = false;
	if (inflight)
		return;
	if (store_failed(store)) {
		/* What waits for the next batch cannot be made durable: settle it as failed. */
		if (gen_wanted > gen_done)
			settle(gen_done + 1, false);
		double now = ev_now(EV_DEFAULT);
		if (now - last_reset < RESET_INTERVAL)
			return;
		last_reset = now;
		if (store_reset_failure(store) != STORE_OK)
			return;
		log_info("storage: the disk works again; resuming");
	}
	if (!store_dirty(store)) {
		if (gen_wanted > gen_done) /* nothing left to write: it is all durable */
			settle(gen_done + 1, true);
		return;
	}
	if ((err = store_sync_prepare(store, &inflight)) != STORE_OK) {
		inflight = NULL;
		log_error("storage: cannot start a sync: %s", store_strerror(err));
		settle(gen_done + 1, false);
		return;
	}
	if (!io_started) {
		/* no I/O thread (it could not be started): perform it here */
		store_sync_perform(inflight);
		finish_batch();
		return;
	}
	pthread_mutex_lock(&io_mu);
	io_todo = inflight;
	pthread_cond_signal(&io_cv);
	pthread_mutex_unlock(&io_mu);
}

bool
persist_sync(void)
{
	if (store == NULL)
		return true;
	wait_batch();
	persist_commit();
	wait_batch();
	return !store_failed(store) && !meta_dirty;
}

struct orphan_ctx {
	struct hmap live;
	char      **dead;
	size_t      ndead, cap;
};

static void
note_orphan(void *arg, const char *qid)
{
	struct orphan_ctx *oc = arg;

	if (hmap_get(&oc->live, amqp_cstr(qid)) != NULL)
		return;
	if (oc->ndead == oc->cap) {
		oc->cap = oc->cap ? oc->cap * 2 : 8;
		oc->dead = xrealloc(oc->dead, oc->cap * sizeof(*oc->dead));
	}
	oc->dead[oc->ndead++] = xstrndup(qid, strlen(qid));
}

/*
 * Fault injection for the tests: with WARREN_FAULT_DISK_FULL=PATH in the
 * environment, writes and syncs fail with ENOSPC while PATH exists, as
 * they would on a full disk; with WARREN_FAULT_FSYNC_DELAY_MS=N every
 * fsync takes N ms longer, as on a slow disk.  Nothing else changes.
 */
static const char      *fault_path;
static long             fault_delay_ms;
static struct store_ops fault_ops;

static bool
disk_full(void)
{
	return fault_path && access(fault_path, F_OK) == 0;
}

static ssize_t
fault_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if (disk_full()) {
		errno = ENOSPC;
		return -1;
	}
	return store_posix_ops.pwrite(fd, buf, n, off);
}

static int
fault_fsync(int fd)
{
	if (disk_full()) {
		errno = ENOSPC;
		return -1;
	}
	if (fault_delay_ms > 0) {
		struct timespec ts = { fault_delay_ms / 1000, fault_delay_ms % 1000 * 1000000L };
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	return store_posix_ops.fsync(fd);
}

/* Replaying the journal onto the snapshot (defs): an index per kind of where each item is. */
struct replay {
	json_t *defs;
	json_t *index[3]; /* queues, exchanges, bindings: identity -> position in the list */
	size_t  n, bad;
};

static const char *const replay_kinds[3] = { "queues", "exchanges", "bindings" };

/* What names an item: its fields that identify it, as a JSON array (new string). */
static char *
identity(int kind, json_t *item)
{
	static const char *const fields[3][6] = {
		{ "vhost", "name" },
		{ "vhost", "name" },
		{ "vhost", "source", "destination_type", "destination", "routing_key", "arguments" },
	};
	json_t *key = json_array();

	for (int i = 0; i < 6 && fields[kind][i]; i++) {
		json_t *v = json_object_get(item, fields[kind][i]);
		json_array_append(key, v ? v : json_null());
	}
	char *out = json_dumps(key, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(key);
	return out;
}

static json_t *
replay_list(struct replay *r, int kind)
{
	json_t *list = json_object_get(r->defs, replay_kinds[kind]);
	size_t  i;
	json_t *v;

	if (!json_is_array(list)) {
		list = json_array();
		json_object_set_new(r->defs, replay_kinds[kind], list);
	}
	if (r->index[kind] == NULL) {
		r->index[kind] = json_object();
		json_array_foreach (list, i, v) {
			char *id = identity(kind, v);
			if (id)
				json_object_set_new(r->index[kind], id, json_integer((json_int_t)i));
			free(id);
		}
	}
	return list;
}

static void
replay_one(void *arg, uint64_t msg_id, const void *rec, size_t len, uint32_t deliveries)
{
	struct replay *r = arg;
	json_t        *j = json_loadb(rec, len, 0, NULL);
	json_t        *item = json_object_get(j, "item");
	const char    *kname = json_string_value(json_object_get(j, "put"));
	bool           put = kname != NULL;
	int            kind = -1;

	(void)msg_id;
	(void)deliveries;
	if (!put)
		kname = json_string_value(json_object_get(j, "del"));
	for (int k = 0; kname && k < 3; k++)
		if (strcmp(kname, replay_kinds[k]) == 0)
			kind = k;
	char *id = kind >= 0 && json_is_object(item) ? identity(kind, item) : NULL;
	if (id == NULL) {
		r->bad++;
		json_decref(j);
		return;
	}
	json_t *list = replay_list(r, kind);
	json_t *at = json_object_get(r->index[kind], id);
	if (put && at) {
		json_array_set(list, (size_t)json_integer_value(at), item);
	} else if (put) {
		json_object_set_new(r->index[kind], id, json_integer((json_int_t)json_array_size(list)));
		json_array_append(list, item);
	} else if (at) {
		json_array_set_new(list, (size_t)json_integer_value(at), json_null());
		json_object_del(r->index[kind], id);
	}
	r->n++;
	free(id);
	json_decref(j);
}

/* Open the journal the snapshot names and replay it onto defs (NULL: nothing to replay onto). */
static void
replay_journal(json_t *defs)
{
	char          name[64];
	struct replay r = { defs, { NULL, NULL, NULL }, 0, 0 };
	int           err;

	journal_name(journal_gen, name);
	if ((err = store_queue_open(store, name, &journal)) != STORE_OK)
		fatalx("cannot open the definitions journal %s: %s", name, store_strerror(err));
	if ((err = store_recover(journal, defs ? replay_one : NULL, &r)) != STORE_OK)
		fatalx("cannot read the definitions journal %s: %s", name, store_strerror(err));
	for (int k = 0; k < 3; k++) {
		if (r.index[k] == NULL)
			continue;
		/* deleted items left nulls: close the gaps */
		json_t *list = json_object_get(defs, replay_kinds[k]), *kept = json_array(), *v;
		size_t  i;
		json_array_foreach (list, i, v)
			if (!json_is_null(v))
				json_array_append(kept, v);
		json_object_set_new(defs, replay_kinds[k], kept);
		json_decref(r.index[k]);
	}
	if (r.n || r.bad)
		log_info("replayed %zu changes from the definitions journal%s", r.n,
		         r.bad ? " (some records were unreadable and skipped)" : "");
}

void
persist_open(const char *data_dir)
{
	void                   *text = NULL;
	size_t                  len = 0;
	int                     err;
	const struct store_ops *ops = &store_posix_ops;

	const char *delay = getenv("WARREN_FAULT_FSYNC_DELAY_MS");
	fault_path = getenv("WARREN_FAULT_DISK_FULL");
	fault_delay_ms = delay ? strtol(delay, NULL, 10) : 0;
	if (fault_path || fault_delay_ms > 0) {
		fault_ops = store_posix_ops;
		fault_ops.pwrite = fault_pwrite;
		fault_ops.fsync = fault_fsync;
		ops = &fault_ops;
		if (fault_path)
			log_warnx("fault injection: the disk is full while %s exists", fault_path);
		if (fault_delay_ms > 0)
			log_warnx("fault injection: every fsync takes %ld ms longer", fault_delay_ms);
	}
	if ((err = store_open(data_dir, ops, &store)) != STORE_OK) {
		if (err == STORE_EBUSY)
			fatalx("data directory %s is in use by another warren", data_dir);
		fatalx("cannot open data directory %s: %s", data_dir, store_strerror(err));
	}
	store_set_log(store, store_log, NULL);
	err = store_meta_read(store, &text, &len);
	if (err == STORE_OK) {
		json_error_t  jerr;
		json_t       *defs = json_loadb(text, len, 0, &jerr);
		struct def_err derr = { 0, NULL };
		free(text);
		if (defs == NULL)
			fatalx("the definitions file in %s/meta is damaged (line %d: %s); refusing to start "
			       "without it", data_dir, jerr.line, jerr.text);
		json_t *jg = json_object_get(defs, "warren_journal");
		journal_gen = json_is_integer(jg) ? (uint64_t)json_integer_value(jg) : 0;
		json_object_del(defs, "warren_journal");
		replay_journal(defs);
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		loading = true;
		if (def_import(defs, NULL, &derr) != 0) {
			char *why = derr.reason ? json_dumps(derr.reason, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
			fatalx("cannot restore the definitions in %s/meta: %s", data_dir, why ? why : "?");
		}
		loading = false;
		json_decref(defs);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		/* the summary RabbitMQ logs at boot, with the messages that came back */
		log_info("Recovering %zu queues of type rabbit_classic_queue took %.0fms; %zu messages "
		         "recovered",
		         recovered_queues,
		         (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
		         recovered_msgs);
	} else if (err == STORE_NOTFOUND) {
		/* A new data directory: what RabbitMQ creates on its first boot. */
		replay_journal(NULL);
		broker_create_defaults();
	} else {
		fatalx("the definitions file in %s/meta is damaged (%s); refusing to start without it",
		       data_dir, store_strerror(err));
	}
	/* Logs of queues the definitions do not know were never confirmed: drop them. */
	struct orphan_ctx  oc;
	memset(&oc, 0, sizeof(oc));
	size_t             i, k;
	struct hmap_entry *v, *e;
	char               qid[33];
	for (v = hmap_first(&broker.vhosts, &i); v; v = hmap_next(&broker.vhosts, &i, v)) {
		struct vhost *vh = v->val;
		for (e = hmap_first(&vh->queues, &k); e; e = hmap_next(&vh->queues, &k, e)) {
			struct queue *q = e->val;
			if (q->sq || q->ss) {
				queue_id(q, qid);
				hmap_put(&oc.live, amqp_cstr(qid), q);
			}
		}
	}
	char jname[64];
	journal_name(journal_gen, jname);
	hmap_put(&oc.live, amqp_cstr(jname), journal); /* other journals are leftovers */
	store_queue_list(store, note_orphan, &oc);
	for (i = 0; i < oc.ndead; i++) {
		log_info("storage: removing the message log %s of a queue that no longer exists",
		         oc.dead[i]);
		store_queue_delete(store, oc.dead[i]);
		free(oc.dead[i]);
	}
	oc.ndead = 0;
	store_stream_list(store, note_orphan, &oc);
	for (i = 0; i < oc.ndead; i++) {
		log_info("storage: removing the log %s of a stream that no longer exists", oc.dead[i]);
		store_stream_delete(store, oc.dead[i]);
		free(oc.dead[i]);
	}
	free(oc.dead);
	hmap_free(&oc.live);
	meta_dirty = err == STORE_NOTFOUND; /* write the first definitions file */
	io_loop = EV_DEFAULT;
	ev_async_init(&io_wake, io_wake_cb);
	ev_async_start(io_loop, &io_wake);
	ev_unref(io_loop); /* the watcher alone does not keep the loop running */
	if ((err = pthread_create(&io_thread, NULL, io_main, NULL)) != 0)
		log_warnx("cannot start the I/O thread (%s): syncing on the event loop", strerror(err));
	io_started = err == 0;
}

void
persist_close(void)
{
	size_t             i, k;
	struct hmap_entry *v, *e;

	if (store == NULL)
		return;
	persist_sync();
	if (io_started) {
		pthread_mutex_lock(&io_mu);
		io_quit = true;
		pthread_cond_signal(&io_cv);
		pthread_mutex_unlock(&io_mu);
		pthread_join(io_thread, NULL);
		io_started = false;
	}
	ev_ref(io_loop);
	ev_async_stop(io_loop, &io_wake);
	for (v = hmap_first(&broker.vhosts, &i); v; v = hmap_next(&broker.vhosts, &i, v))
		for (e = hmap_first(&((struct vhost *)v->val)->queues, &k); e;
		     e = hmap_next(&((struct vhost *)v->val)->queues, &k, e)) {
			struct queue *q = e->val;
			if (q->ss) {
				queue_stream_closing(q);
				store_stream_close(q->ss);
				q->ss = NULL;
			}
		}
	store_close(store);
	store = NULL;
	journal = NULL;
	free(recbuf);
	recbuf = NULL;
	reccap = 0;
}
