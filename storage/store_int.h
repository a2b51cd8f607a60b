/*
 * What the storage/ files share among themselves: the structs behind the
 * opaque handles, the on-disk constants and the small helpers.  Nothing
 * outside storage/ includes this.
 */
#ifndef STORE_STORE_INT_H
#define STORE_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "storage/store.h"

/*
 * On-disk format, version 1.  All integers little-endian.
 *
 * Segment file dir/queues/<qid>/<16 hex digits: first msg_id>.seg:
 *   header, 32 bytes:
 *      0  8  "WRNSEG01"
 *      8  4  format version (1)
 *     12  4  header size (32)
 *     16  8  msg_id of the first record (the name, as a number)
 *     24  4  zero
 *     28  4  CRC32C of bytes 0..27
 *   then records, back to back, with consecutive msg_ids from the first:
 *      0  4  CRC32C of bytes 4..23 of this header and of the payload
 *      4  4  magic "WRN1"
 *      8  4  payload length (at most STORE_MAX_RECORD)
 *     12  2  type (1: message)
 *     14  2  flags (zero)
 *     16  8  msg_id
 *     24  .  payload
 *
 * Ack log dir/queues/<qid>/acks.log: fixed 24-byte records
 *      0  4  CRC32C of bytes 4..23
 *      4  1  magic 0xA7
 *      5  1  type
 *      6  2  zero
 *      8  8  a
 *     16  8  b
 *   types: HEADER (a = "WRNACK1", b = version 1; first in the file),
 *   ACK (a = msg_id), ACK_RANGE (a..b inclusive, written by rewrites),
 *   DELIVERY (a = msg_id, b = delivery count; the last one wins),
 *   WATERMARK (a = the next msg_id at the time of a rewrite, b = how many
 *   SEGMENT records follow), SEGMENT (a = first msg_id of a segment that
 *   existed at the rewrite).
 *
 * A rewrite drops the acks of deleted segments, so it also lists the
 * segments that remain: a segment file below the watermark that is not on
 * the list was deleted, even if a crash undid its unlink, and recovery
 * deletes it again instead of resurrecting acked messages.
 */
#define STORE_SEG_HDR      32
#define STORE_REC_HDR      24
#define STORE_ACK_REC      24
#define STORE_SEG_MAGIC    "WRNSEG01"
#define STORE_FORMAT       1
#define STORE_REC_MAGIC    0x314e5257U   /* "WRN1" */
#define STORE_REC_MESSAGE  1
#define STORE_ACK_MAGIC    0xa7
#define STORE_ACK_FILE_ID  0x314b43414e5257ULL   /* "WRNACK1" */

/*
 * Streams, dir/streams/<sid>/ (see stream.h).
 *
 * Segment file <16 hex digits: first offset>.seg: a 32-byte header as a
 * queue segment's but with the magic "WRNSTR01" and the first offset at 16,
 * then records back to back with consecutive offsets from the first:
 *      0  4  CRC32C of bytes 4..31 of this header and of the payload
 *      4  4  magic "WRS1"
 *      8  4  payload length (at most STORE_MAX_RECORD)
 *     12  2  type (2: stream record)
 *     14  2  flags (zero)
 *     16  8  offset
 *     24  8  timestamp, ms since the epoch (signed)
 *     32  .  payload
 *
 * Index file <16 hex>.idx, written when the segment is sealed:
 *      0  8  "WRNSIX01"
 *      8  8  first offset (the name)
 *     16  8  record count
 *     24  8  size of the segment file it describes
 *     32  8  timestamp of the first record
 *     40  8  newest timestamp in the segment
 *     48  4  n, entries that follow
 *     52  4  CRC32C of bytes 0..51 and of the entries
 *     56     n entries of 24 bytes: offset, file position, newest timestamp
 *            of the block that starts there
 * It is trusted only if all of that checks and the segment file has that
 * size; otherwise the segment is read in full.
 */
#define STORE_STREAM_SEG_MAGIC "WRNSTR01"
#define STORE_STREAM_IDX_MAGIC "WRNSIX01"
#define STORE_SREC_HDR         32
#define STORE_SREC_MAGIC       0x31535257U   /* "WRS1" */
#define STORE_REC_STREAM       2
#define STORE_SIDX_HDR         56
#define STORE_SIDX_ENTRY       24

enum store_ack_type {
	STORE_ACK_HEADER = 1,
	STORE_ACK_ONE = 2,
	STORE_ACK_RANGE = 3,
	STORE_ACK_DELIVERY = 4,
	STORE_ACK_WATERMARK = 5,
	STORE_ACK_SEGMENT = 6
};

/*
 * A file written through a buffer.  Bytes [0, size) are the file as the
 * store sees it: [size - len, size) sit in buf, not yet written; while a
 * batch is in flight, [fl_off, fl_off + fl_len) sit in fl (owned by the
 * batch until it completes, read-only meanwhile); the rest was handed to
 * the kernel.  [0, synced) is known durable.
 */
struct store_file {
	int         fd;        /* -1 when closed */
	const char *path;      /* borrowed from the owner */
	uint64_t    size;
	uint64_t    synced;
	uint8_t    *buf;       /* owned */
	size_t      len, cap;
	uint8_t    *fl;        /* owned by the batch in flight */
	size_t      fl_len;
	uint64_t    fl_off;
	bool        dirty;     /* written since the last prepare */
	bool        inflight;  /* in the batch in flight */
};

/* One segment file and the index of its records. */
struct store_seg {
	uint64_t          base;     /* msg_id of record 0 */
	uint32_t          count;    /* records */
	uint32_t          live;     /* records not acked */
	uint32_t          runs;     /* runs of acked records (ack log rewrite size) */
	uint32_t          cap;      /* room in offs and acked */
	uint32_t         *offs;     /* owned: file offset of each record */
	uint64_t         *acked;    /* owned: bitmap, 1 = acked */
	bool              sealed;   /* no more appends */
	char             *path;     /* owned */
	struct store_file f;
};

/* msg_id -> delivery count, for the live messages that have one. */
struct store_idmap {
	uint64_t *keys;   /* owned; 0 = empty slot (msg_ids start at 1) */
	uint32_t *vals;   /* owned */
	size_t    cap;    /* a power of two, or 0 */
	size_t    count;
};

struct store_queue {
	struct store        *s;
	struct store_queue  *prev, *next;    /* s->queues or s->zombies */
	struct store_queue  *tprev, *tnext;  /* s->touched, if touched */
	char                *qid;            /* owned */
	char                *path;           /* owned: the folder */
	char                *ack_path;       /* owned */
	char                *ack_tmp_path;   /* owned */
	struct store_seg   **segs;           /* owned, sorted by base */
	size_t               nsegs, capsegs;
	struct store_seg    *active;         /* the last segment, if appendable */
	struct store_file    ack;
	uint64_t             next_id;
	uint64_t             runs;           /* sum of segs' runs */
	struct store_idmap   dc;
	int                  rfd;            /* cached read fd of rseg, or -1 */
	struct store_seg    *rseg;
	bool                 recovered;
	bool                 touched;        /* on s->touched: work for the next sync */
	bool                 dir_dirty;      /* files created in path since a sync */
	bool                 want_reclaim;   /* a segment may be all acked */
	bool                 want_compact;   /* rewrite the ack log */
};

struct store_wentry {
	struct store_file *f;     /* for complete() only */
	struct store_seg  *seg;   /* for complete() only; NULL for an ack log */
	const char        *path;  /* borrowed, for messages */
	int                fd;
	const uint8_t     *buf;
	size_t             len;
	uint64_t           off;
	uint64_t           end;   /* the file's size at prepare */
};

struct store_rename {
	const char *from, *to;   /* borrowed from the queue */
};

struct store_unlink {
	char *path;   /* owned */
	int   err;    /* errno of a failed unlink */
	bool  done;
};

/*
 * A batch: everything perform() needs, and nothing else it may touch.
 * Arrays are kept between batches.
 */
struct store_batch {
	const struct store_ops *ops;
	struct store_wentry    *w;
	size_t                  nw, capw;
	struct store_rename    *rn;
	size_t                  nrn, caprn;
	const char            **dirs;   /* borrowed */
	size_t                  ndirs, capdirs;
	struct store_unlink    *ul;
	size_t                  nul, capul;
	int                     err;        /* result of perform */
	int                     err_errno;
	const char             *err_op;     /* static string */
	const char             *err_path;   /* borrowed */
};

struct store {
	char                   *dir;    /* owned */
	char                   *qdir;   /* owned: dir/queues */
	char                   *mdir;   /* owned: dir/meta */
	int                     lock_fd;   /* holds the lock on dir/.lock */
	const struct store_ops *ops;    /* borrowed */
	void                  (*log_fn)(void *arg, int level, const char *msg);
	void                   *log_arg;
	int                     failed;             /* 0, or the error that failed it */
	bool                    failed_unreported;  /* not yet returned by a sync */
	uint64_t                seg_size;
	size_t                  buf_size;
	uint64_t                compact_size;
	struct store_queue     *queues;    /* open */
	struct store_queue     *zombies;   /* closed while a batch was in flight */
	struct store_queue     *touched;
	bool                    qdir_dirty;
	char                  **unlinks;   /* owned: to retry */
	size_t                  nunlinks, capunlinks;
	struct store_batch      batch;
	bool                    in_flight;
	char                   *sdir;      /* owned: dir/streams */
	struct store_stream    *streams;   /* open */
	struct store_stream    *szombies;  /* closed while a batch was in flight */
	struct store_stream    *stouched;  /* streams with work for the next sync */
	bool                    sdir_dirty;
};

static inline void
store_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void
store_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void
store_put_le64(uint8_t *p, uint64_t v)
{
	store_put_le32(p, (uint32_t)v);
	store_put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t
store_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t
store_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static inline uint64_t
store_get_le64(const uint8_t *p)
{
	return (uint64_t)store_get_le32(p) | (uint64_t)store_get_le32(p + 4) << 32;
}

/* store.c */
void   store_logf(struct store *s, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int    store_err_from_errno(int e);
void  *store_xrealloc(void *p, size_t n);
char  *store_xstrdup(const char *str);
char  *store_path_join(const char *a, const char *b);
int    store_pwrite_full(const struct store_ops *ops, int fd, const void *buf,
                         size_t n, uint64_t off);
long long store_pread_full(const struct store_ops *ops, int fd, void *buf,
                           size_t n, uint64_t off);
int    store_fsync_dir(const struct store_ops *ops, const char *path);
void   store_fail(struct store *s, int err, bool reported);
int    store_file_append(struct store *s, struct store_file *f, const void *a,
                         size_t alen, const void *b, size_t blen);
void   store_file_init(struct store_file *f, const char *path);
void   store_touch(struct store_queue *q);
void   store_untouch(struct store_queue *q);
void   store_batch_add_write(struct store_batch *b, struct store_file *f,
                             struct store_seg *seg);
void   store_batch_add_dir(struct store_batch *b, const char *path);
void   store_batch_add_rename(struct store_batch *b, const char *from, const char *to);
void   store_batch_add_unlink(struct store_batch *b, char *path);
int    store_batch_finish(struct store *s, struct store_batch *b);
void   store_batch_free(struct store_batch *b);
int    store_remove_tree(struct store *s, const char *path);

/* queue.c */
void   store_queue_prepare(struct store *s, struct store_queue *q, struct store_batch *b);
void   store_queue_finish(struct store_queue *q);
void   store_queue_reclaim_now(struct store_queue *q);
int    store_queue_rollback(struct store_queue *q);
void   store_seg_idle(struct store *s, struct store_seg *seg);
bool   store_id_valid(const char *id);
/* Remove the folder parent/id, renamed aside first (STORE_NOTFOUND if none). */
int    store_dir_delete(struct store *s, const char *parent, const char *id);
/* Call fn with every folder in parent named by a valid id. */
int    store_dir_list(struct store *s, const char *parent, void (*fn)(void *arg, const char *id),
                      void *arg);

/* stream.c */
struct store_stream;
void   store_stream_prepare(struct store *s, struct store_stream *st, struct store_batch *b);
void   store_streams_complete(struct store *s, bool ok);
void   store_stream_finish(struct store_stream *st);
int    store_stream_rollback(struct store_stream *st);
struct store_stream *store_stream_next_open(struct store_stream *st);

#endif
