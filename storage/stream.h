/*
 * Streams: append-only logs of opaque records that readers go through from
 * an offset of their choice without removing anything; old records go only
 * by retention, a whole segment at a time.  Same store, same threads rules
 * and same group commit as the queue logs of store.h: one store_sync()
 * makes every append to queues and streams durable.
 *
 * On disk a stream is dir/streams/<sid>/: segment files named by the offset
 * of their first record (<16 hex>.seg) and, once a segment is sealed, a
 * small index file (<16 hex>.idx) with its record count, timestamps and
 * sparse index, so opening a stream reads only the last segment.  Formats
 * in store_int.h.
 *
 * Memory.  A stream keeps per segment its first offset, record count,
 * first and newest timestamps, size, and a sparse index: one entry (24
 * bytes) per block of 4096 records or 1 MiB, whichever comes first.
 * Nothing per record.  A reader keeps a read buffer of
 * STORE_STREAM_READ_BUF bytes (grown to the largest record it met, if
 * bigger) and an fd; many readers of one stream share the file, never a
 * copy of a record.
 */
#ifndef STORE_STREAM_H
#define STORE_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "storage/store.h"

struct store_stream;          /* one stream: dir/streams/<sid>/ */
struct store_stream_reader;   /* one reader (consumer) position */

/* A reader's buffer: one pread per this many bytes. */
#define STORE_STREAM_READ_BUF ((size_t)128 * 1024)
/* Sparse index granularity: a block ends after this many records or bytes. */
#define STORE_STREAM_BLOCK_RECS  4096
#define STORE_STREAM_BLOCK_BYTES ((uint64_t)1 << 20)

/*
 * Open (creating if needed) the stream sid: same rules as queue ids.
 * Recovers it: the last segment is read in full with its checksums, a torn
 * or corrupt tail truncated there (logged with file and offset); earlier
 * segments are known from their index files (a segment whose index is
 * missing or does not match the file is read in full, and its index
 * rewritten).  A stream may be open only once at a time (STORE_EINVAL).
 *
 * store_stream_close() writes out and fsyncs what the stream has buffered
 * (unless the store has failed), then frees it; while a batch is in flight
 * that happens when the batch completes.  Readers should be closed first;
 * a reader left open returns STORE_EINVAL from then on (close it still).
 *
 * store_stream_delete() removes the stream's folder (renamed aside first,
 * so a crash never leaves half a stream): STORE_NOTFOUND if there is none,
 * STORE_EINVAL while it is open.  store_stream_list() calls fn with the id
 * of every stream on disk.
 */
int  store_stream_open(struct store *s, const char *sid, struct store_stream **out);
void store_stream_close(struct store_stream *st);
int  store_stream_delete(struct store *s, const char *sid);
int  store_stream_list(struct store *s, void (*fn)(void *arg, const char *sid), void *arg);

/*
 * Retention.  max_segment_bytes: 0 is the default, 500,000,000; clamped to
 * [4 KiB, 1 GiB].  max_bytes, max_age_ms: 0 (or less) is no limit.
 */
void store_stream_set_limits(struct store_stream *st, uint64_t max_segment_bytes,
                             uint64_t max_bytes, int64_t max_age_ms);

/*
 * Append one record (opaque bytes up to STORE_MAX_RECORD, copied) with its
 * timestamp (ms since the epoch).  *offset: 0 for the first record of a
 * stream, then one more per record.  Offsets are never handed out twice
 * once a record is durable, also across restarts and when retention has
 * deleted everything (a stream always keeps its last segment file, empty
 * if need be, whose name is the next offset).  Only the offsets of records
 * that no sync covered (lost to a crash or discarded by
 * store_reset_failure) come again; no reader ever saw those.  Durable, and
 * visible to readers, after the next store_sync() (or a batch prepared
 * after the call) succeeds.  When the segment is full the stream seals it,
 * starts the next one and applies retention, with the newest timestamp it
 * has seen as the time.  Errors as store_append().
 */
int  store_stream_append(struct store_stream *st, int64_t ts_ms, const void *rec,
                         size_t len, uint64_t *offset);

uint64_t store_stream_first(const struct store_stream *st);      /* lowest offset kept (== next when empty) */
uint64_t store_stream_next(const struct store_stream *st);       /* offset of the next append */
uint64_t store_stream_committed(const struct store_stream *st);  /* durable end: readers see offsets below it */
uint64_t store_stream_count(const struct store_stream *st);      /* records kept: next - first */
uint64_t store_stream_disk_size(const struct store_stream *st);  /* segments + index files, bytes */

/* Segments, and entries of their sparse indexes, held in memory (for
 * tests and metrics: O(segments + records / 4096)). */
size_t store_stream_segments(const struct store_stream *st);
size_t store_stream_index_entries(const struct store_stream *st);

/*
 * The first offset to read to see every record with a timestamp >= ts_ms:
 * the start of the first sparse-index block whose newest record is that
 * recent, so a few older records may come first (RabbitMQ too resolves
 * timestamps per chunk).  store_stream_next() if there is none.
 */
uint64_t store_stream_offset_at(const struct store_stream *st, int64_t ts_ms);

/*
 * Apply retention now: delete whole oldest segments, never the last one
 * (the one appended to) nor one with records not yet durable, while the
 * stream's disk size exceeds max_bytes or the segment's newest record is
 * older than now_ms - max_age_ms.  Returns how many segments went.  A
 * reader inside a deleted segment keeps its fd and reads that segment to
 * its end, then goes on at the new first offset.
 */
int  store_stream_retain(struct store_stream *st, int64_t now_ms);

/*
 * Readers.  offset is clamped to [first, next].  store_stream_reader_next()
 * gives the records in order with their offsets and timestamps; *rec is
 * borrowed until the next call on this reader.  STORE_NOTFOUND once the
 * reader has reached the committed end (call again after more is
 * committed); STORE_CORRUPT if a record fails its checksum (the reader
 * stays there); STORE_EIO, STORE_ENOMEM.  A reader seeks with the sparse
 * index (a bounded scan of headers) and then reads sequentially, one pread
 * per STORE_STREAM_READ_BUF bytes.
 */
int  store_stream_reader_open(struct store_stream *st, uint64_t offset,
                              struct store_stream_reader **out);
int  store_stream_reader_next(struct store_stream_reader *r, const void **rec, size_t *len,
                              uint64_t *offset, int64_t *ts_ms);
uint64_t store_stream_reader_offset(const struct store_stream_reader *r);
void store_stream_reader_close(struct store_stream_reader *r);

#endif
