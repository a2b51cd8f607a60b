/*
 * storage/: durable, opaque records for the engine.  Per durable queue an
 * append-only log of message records in segment files plus a log of
 * acknowledgements and delivery counts; per data directory one metadata
 * file (the definitions JSON), replaced atomically.  It knows nothing of
 * AMQP: records are bytes, queues are ids chosen by the caller.
 *
 * Threads.  Everything here belongs to one thread, the owner (the
 * engine's event loop), except store_sync_perform(): between
 * store_sync_prepare() and store_sync_complete() that one call may run on
 * any other thread (an I/O thread).  Meanwhile the owner may go on calling
 * everything else (append, ack, read, open and close queues, metadata...)
 * except store_sync(), store_sync_prepare(), store_reset_failure() and
 * store_close(); records it appends then belong to the next batch.
 * store_sync_perform() touches only the batch and the ops table (whose
 * functions must then be thread-safe, as the POSIX ones are) and never
 * calls the log callback.  The store does no locking of its own.
 */
#ifndef STORE_STORE_H
#define STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct store;        /* one per data directory */
struct store_queue;  /* the message log of one durable queue */
struct store_batch;  /* one group commit in flight (see store_sync_prepare) */

/* File I/O goes through an ops table so tests can inject faults. */
struct store_ops {
	int     (*open)(const char *path, int flags, int mode);
	ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
	ssize_t (*pread)(int fd, void *buf, size_t n, off_t off);
	int     (*fsync)(int fd);
	int     (*close)(int fd);
	int     (*rename)(const char *from, const char *to);
	int     (*unlink)(const char *path);
	int     (*ftruncate)(int fd, off_t len);
};
extern const struct store_ops store_posix_ops;

enum store_err {
	STORE_OK = 0,
	STORE_EIO = -1,
	STORE_ENOSPC = -2,
	STORE_CORRUPT = -3,
	STORE_FAILED = -4,   /* sticky after a failed write or fsync */
	STORE_NOTFOUND = -5,
	STORE_EINVAL = -6,
	STORE_ENOMEM = -7,   /* a record-sized allocation failed */
	STORE_EBUSY = -8     /* the data directory is open in another store */
};
#define STORE_ERR_MIN STORE_EBUSY   /* the lowest value of enum store_err */

/* A string for every enum store_err value; "unknown error" otherwise. */
const char *store_strerror(int err);

/* Largest record store_append() takes. */
#define STORE_MAX_RECORD ((size_t)512 * 1024 * 1024)

/*
 * Open (creating if needed) the data directory dir with dir/queues/ and
 * dir/meta/.  ops may be NULL for store_posix_ops; it is borrowed and must
 * outlive the store.  On success *out is the store, closed with
 * store_close().  The directory is locked (dir/.lock, an open file
 * description lock): STORE_EBUSY if another store, in this process or
 * another, has it open.  Leftovers
 * of interrupted work (half-deleted queues, temporary files) are removed.
 */
int  store_open(const char *dir, const struct store_ops *ops, struct store **out);

/*
 * Close every queue still open (each written out and fsynced unless the
 * store has failed), then free the store.  Not while a batch is in flight.
 */
void store_close(struct store *s);

/*
 * Tunables, mostly for tests.  Segment files roll over at seg_bytes
 * (default 16 MiB, clamped to [4 KiB, 1 GiB]).  Each file buffers up to
 * buf_bytes (default 256 KiB, clamped to [4 KiB, 64 MiB]) before a write.
 * An ack log is rewritten once it is compact_bytes (default 1 MiB) or more
 * and over four times what a rewrite would keep.
 */
void store_set_segment_size(struct store *s, uint64_t seg_bytes);
void store_set_buffer_size(struct store *s, size_t buf_bytes);
void store_set_compact_size(struct store *s, uint64_t compact_bytes);

/*
 * Durable queue logs, named by an id the engine chooses: 1 to 128 of
 * [A-Za-z0-9_.-], not starting with '.' (e.g. 32 hex chars).
 *
 * store_queue_open() creates the queue's folder if needed and lists its
 * files; it reads no records.  Call store_recover() next: the first
 * store_append/ack/set_delivery_count/read recovers silently if it was not
 * called.  A queue may be open only once at a time (STORE_EINVAL).
 *
 * store_queue_close() writes out and fsyncs what the queue has buffered
 * (unless the store has failed; call store_sync() first to do it for every
 * queue with one fsync each), then frees it.  While a batch is in flight
 * that happens when the batch completes.
 *
 * store_queue_delete() removes the queue's folder and everything in it
 * (STORE_NOTFOUND if there is none).  The queue must not be open
 * (STORE_EINVAL), nor closed while the batch in flight was prepared (also
 * STORE_EINVAL: retry after store_sync_complete()).  The folder is first
 * renamed aside, so a crash never leaves half a queue.
 *
 * store_queue_list() calls fn with the id of every queue on disk.
 */
int  store_queue_open(struct store *s, const char *qid, struct store_queue **out);
void store_queue_close(struct store_queue *q);
int  store_queue_delete(struct store *s, const char *qid);
int  store_queue_list(struct store *s, void (*fn)(void *arg, const char *qid), void *arg);

/*
 * Append one message record (opaque bytes, up to STORE_MAX_RECORD).  The
 * bytes are copied.  *msg_id is a per-queue monotonically increasing offset,
 * starting at 1 and never 0.  It is never handed out again, also across
 * restarts, once anything durable names it (its record, an ack, a delivery
 * count); only the ids of records that a crash took before any sync covered
 * them may come again.  Not durable until a store_sync() (or a batch
 * prepared after this call) succeeds.
 * STORE_FAILED once the store has failed; STORE_EIO/STORE_ENOSPC if writing
 * out a full buffer failed (the store has then failed) or if a new segment
 * file could not be created (it has not); STORE_ENOMEM.
 */
int  store_append(struct store_queue *q, const void *rec, size_t len, uint64_t *msg_id);

/*
 * Record that msg_id was acknowledged: it is gone for good, and never
 * recovered once this is durable.  Acking an id twice is harmless
 * (STORE_OK, or STORE_NOTFOUND once its segment was deleted); an id not in
 * the log (never appended, dropped by recovery or by store_reset_failure)
 * gives STORE_NOTFOUND, which the engine may ignore.  While the store has
 * failed, acks are still taken (kept in memory; store_reset_failure()
 * writes them), so consumers can drain a queue while the disk is full.
 */
int  store_ack(struct store_queue *q, uint64_t msg_id);

/*
 * Record that msg_id was delivered again: its delivery count is now n
 * (survives restart).  STORE_NOTFOUND for an id not in the log or acked.
 * Taken in memory while the store has failed, as acks are.
 */
int  store_set_delivery_count(struct store_queue *q, uint64_t msg_id, uint32_t n);

/*
 * Group commit: write out and fsync every file written since the last sync
 * (one pwrite and one fsync per file), then the folders that gained files,
 * then delete segments whose messages were all acked.  STORE_OK means every
 * append, ack and delivery count recorded before the call is durable.  Any
 * error (the first is returned as STORE_EIO or STORE_ENOSPC, later calls
 * get STORE_FAILED) leaves the store failed: appends and syncs are refused
 * until store_reset_failure() succeeds.  Returns STORE_OK at once if
 * nothing is dirty; otherwise it is the three calls below, in a row.
 */
int  store_sync(struct store *s);

/*
 * The group commit in three steps, so that the blocking part can run on an
 * I/O thread (see the top of this file).  store_sync_prepare() (owner
 * thread) hands everything buffered so far to a batch, *out, and makes the
 * decisions (which segments to delete, which ack logs to rewrite); appends
 * made after it belong to the next batch.  store_sync_perform() (any thread)
 * does the writes, fsyncs, renames and unlinks and returns the result.
 * store_sync_complete() (owner thread) applies the result and returns it
 * again: STORE_OK means everything recorded before the prepare is durable;
 * an error puts the store in the failed state.  One batch at a time.
 */
int  store_sync_prepare(struct store *s, struct store_batch **out);
int  store_sync_perform(struct store_batch *b);
int  store_sync_complete(struct store *s, struct store_batch *b);

/* Anything appended, acked or otherwise recorded since the last prepare? */
bool store_dirty(const struct store *s);

/* Has a write or fsync failed (and store_reset_failure not yet succeeded)? */
bool store_failed(const struct store *s);

/*
 * Leave the failed state.  First frees what it can (segments whose messages
 * are all acked), then checks the disk by writing and fsyncing a probe file;
 * if that works, every queue is rolled back to its last successful sync:
 * records appended since are discarded (their msg_ids are not reused and
 * give STORE_NOTFOUND), and each ack log is rewritten from memory, so no
 * ack or delivery count is lost.  STORE_OK if the store was not failed.  On
 * error the store stays failed.  Not while a batch is in flight.
 */
int  store_reset_failure(struct store *s);

/*
 * Recovery: call fn for every message record that was appended and not
 * acked, in msg_id order, with its delivery count.  rec is borrowed: valid
 * only during the call.  A torn or corrupt record ends its segment there
 * (logged with the file and the offset, and the segment truncated to the
 * last good record); everything before it is kept.  fn may be NULL.  Once
 * per open queue (STORE_EINVAL the second time); must come before any
 * store_append/ack/set_delivery_count/read on the queue.  An error
 * (STORE_EIO, STORE_ENOMEM) may come after some calls of fn: close the
 * queue then.
 */
int  store_recover(struct store_queue *q,
                   void (*fn)(void *arg, uint64_t msg_id, const void *rec, size_t len,
                              uint32_t delivery_count),
                   void *arg);

/*
 * Read back a record: exactly what store_append got.  *buf is malloc'd (the
 * caller frees it; a zero-length record still gets a buffer).  Served from
 * memory if not yet written out.  STORE_NOTFOUND for an id not in the log or
 * acked; STORE_CORRUPT if the bytes on disk fail their checksum.
 */
int  store_read(struct store_queue *q, uint64_t msg_id, void **buf, size_t *len);

/* Disk usage of this queue's log in bytes (segments + ack log). */
uint64_t store_queue_disk_size(const struct store_queue *q);

/* The msg_id the next store_append() will return. */
uint64_t store_queue_next_id(const struct store_queue *q);

/*
 * Metadata: the definitions JSON (opaque bytes to storage), replaced
 * atomically: dir/meta/definitions.json stays plain JSON; its checksum lives
 * in dir/meta/definitions.json.sum, a short text file.  store_meta_write()
 * writes and fsyncs the checksum file first (listing the new and the current
 * version), then the JSON as definitions.json.tmp, fsyncs it, renames it
 * over definitions.json and fsyncs dir/meta, so a crash at any point leaves
 * either version, readable.  A failed write or fsync fails the store, as for
 * queue logs.  store_meta_read() gives a malloc'd copy: STORE_NOTFOUND if
 * there is none, STORE_CORRUPT if it does not match its checksum.  A
 * definitions.json without a .sum file (written by hand) is returned as is,
 * with a warning.
 */
int  store_meta_write(struct store *s, const void *json, size_t len);
int  store_meta_read(struct store *s, void **json, size_t *len);

/*
 * Log hook (the engine plugs its logger in); the default writes all but
 * debug messages to stderr.  Levels are syslog's.  msg is borrowed for the
 * call.  Only ever called on the owner thread.
 */
enum store_log_level {
	STORE_LOG_ERR = 3,
	STORE_LOG_WARNING = 4,
	STORE_LOG_INFO = 6,
	STORE_LOG_DEBUG = 7
};
void store_set_log(struct store *s, void (*fn)(void *arg, int level, const char *msg), void *arg);

#endif
