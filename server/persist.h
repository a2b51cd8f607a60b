/*
 * Durability for the engine: durable queues' persistent messages go to
 * storage/'s per-queue logs, the durable topology (vhosts, users,
 * permissions, policies, durable exchanges, queues and bindings) to the
 * definitions file, and both come back at start.  Group commit: the
 * appends of one or more loop turns are covered by one batch, written and
 * fsynced on an I/O thread while the loop goes on; the confirms and the
 * deliveries that depend on a batch wait for it (persist_next_gen()).
 */
#ifndef SERVER_PERSIST_H
#define SERVER_PERSIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct queue;
struct msg;

/*
 * Open the data directory: read the definitions file and recreate what it
 * holds, then recover every durable queue's messages.  Stops the broker
 * (fatalx) on a damaged definitions file or a data directory in use:
 * starting empty would lose data silently.
 */
void persist_open(const char *data_dir);
/* Sync and close (clean shutdown). */
void persist_close(void);

/* A durable queue was created (or recovered): give it its message log. */
void persist_queue_open(struct queue *q);
/* A durable queue is being deleted: remove its log. */
void persist_queue_delete(struct queue *q);

/*
 * Append m to q's log if it belongs there (persistent message, durable
 * queue).  Returns the record id, or 0 when the message is not stored.
 */
uint64_t persist_append(struct queue *q, const struct msg *m);
/* Read a paged-out message back from q's log (NULL if it cannot be read). */
struct msg *persist_load(struct queue *q, uint64_t id);
/* Stream queues: append m with its timestamp (0, or -1 logged); a record read back as a message. */
int         persist_stream_append(struct queue *q, const struct msg *m, int64_t ts_ms,
                                  uint64_t *offset);
struct msg *persist_record_msg(const void *rec, size_t len);
/* The message left the queue for good (ack, expiry, dead-lettering, ...). */
void     persist_ack(struct queue *q, uint64_t id);
/*
 * It was delivered for the n-th time (survives a restart as redelivered).
 * True if that was recorded: the delivery must then wait for the batch
 * persist_next_gen(), so that a crash cannot hide it.
 */
bool     persist_delivered(struct queue *q, uint64_t id, uint32_t n);

/* Counters of appends and of failed appends, to tell whether a publish needs the disk. */
uint64_t persist_appends(void);
uint64_t persist_failures(void);

/* The durable topology changed: rewrite the definitions file this turn. */
void persist_meta_changed(void);
/*
 * A durable queue, exchange or binding was created (put) or deleted: one
 * record in the definitions journal, durable with the next batch, instead
 * of a rewrite of the whole file.  persist_meta_seq() counts them, so that
 * a declare-ok can wait for the batch that covers its change.
 */
struct exchange;
struct binding;
void     persist_meta_queue(const struct queue *q, bool put);
void     persist_meta_exchange(const struct exchange *x, bool put);
void     persist_meta_binding(const struct binding *b, bool put);
uint64_t persist_meta_seq(void);

/*
 * Group commit on an I/O thread.  Batches are numbered by generation:
 * what is recorded now (appends, acks, delivery counts) becomes durable
 * with batch persist_next_gen(); persist_done_gen() is the last batch
 * that ended, successfully or not.  When one ends, conn_durable(gen, ok)
 * is called on the loop: output that waited for it may go, and publisher
 * confirms become acks (or nacks if it failed).
 */
uint64_t persist_next_gen(void);
uint64_t persist_done_gen(void);
/* Anything recorded that the next batch will cover? */
bool     persist_dirty(void);
/*
 * The loop's prepare step: write the definitions file if it changed, then
 * hand what was recorded to the I/O thread unless a batch is in flight
 * (the next starts when it ends).  While the store has failed, tries to
 * leave that state every few seconds, and ends at once, as failed, the
 * batch that anything waits for.
 */
void     persist_commit(void);
/* Make everything durable now, waiting for the disk (shutdown). */
bool     persist_sync(void);
/* Is the store failed (disk full or I/O error)? */
bool persist_failed(void);

#endif
