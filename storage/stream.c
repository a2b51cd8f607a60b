/*
 * Streams (stream.h): segment files of records with offsets and
 * timestamps, a sparse index per segment, index files for sealed
 * segments, readers, retention, and the stream's share of a group commit.
 * Buffering and batches are store.c's; the formats are in store_int.h.
 *
 * Invariants, for every open stream:
 *   - segs is sorted by base and each holds offsets [base, base + count);
 *     only the last one may be unsealed (the active one) and then
 *     base + count == next;
 *   - idx[0], if any, is (base, STORE_SEG_HDR); entries are in order and
 *     each block holds fewer than STORE_STREAM_BLOCK_RECS records and
 *     starts less than STORE_STREAM_BLOCK_BYTES after the one before, or
 *     with the record that crossed that;
 *   - committed <= next, and every record below committed lies in a
 *     segment's first f.synced bytes (a batch hands over every dirty file
 *     and the stream's next offset together, and both advance together in
 *     store_streams_complete);
 *   - a file with unwritten or unsynced bytes belongs to a stream on
 *     s->stouched, or to the batch in flight.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/crc32c.h"
#include "storage/store_int.h"
#include "storage/stream.h"

#define DEFAULT_MAX_SEG ((uint64_t)500000000)
#define MIN_SEG         ((uint64_t)4096)
#define MAX_SEG         ((uint64_t)1 << 30)
#define SCAN_BUF        ((size_t)1 << 20)   /* recovery reads */

struct sidx {
	uint64_t off;      /* first record of the block */
	uint64_t pos;      /* its position in the file */
	int64_t  max_ts;   /* newest timestamp in the block */
};

struct sseg {
	uint64_t          base;
	uint64_t          count;
	int64_t           first_ts, max_ts;
	struct sidx      *idx;      /* owned */
	uint32_t          nidx, capidx;
	bool              sealed;
	char             *path;     /* owned: the .seg */
	char             *xpath;    /* owned: the .idx */
	uint64_t          xsize;    /* size of the .idx on disk (or being written) */
	struct store_file f;        /* the segment; fd open while appendable or unsynced */
	struct store_file x;        /* the .idx while it is being written */
};

struct store_stream {
	struct store               *s;
	struct store_stream        *prev, *next;    /* s->streams or s->szombies */
	struct store_stream        *tprev, *tnext;  /* s->stouched */
	char                       *sid;            /* owned */
	char                       *path;           /* owned */
	struct sseg               **segs;           /* owned */
	size_t                      nsegs, capsegs;
	uint64_t                    next_off, committed, prep_next;
	uint64_t                    max_seg, max_bytes;
	int64_t                     max_age, newest_ts;
	struct store_stream_reader *readers;
	bool                        touched, dir_dirty, in_batch;
};

/* A window on one file: [pos, pos + len) of it sit in buf. */
struct window {
	int      fd;
	uint8_t *buf;
	size_t   cap;
	uint64_t pos;
	size_t   len;
	int      err;   /* errno of a failed read */
};

struct store_stream_reader {
	struct store_stream        *st;   /* NULL once the stream closed */
	struct store_stream_reader *prev, *next;
	uint64_t                    off;      /* the next record's offset */
	uint64_t                    pos;      /* ... and its position, if fd >= 0 */
	uint64_t                    base;     /* the segment fd is on */
	uint64_t                    gone_limit; /* its size, once retention deleted it */
	bool                        gone;
	bool                        fresh;    /* just sought: pos must hold a record */
	struct window               w;
};

/*
 * Small helpers.
 */

static void
touch(struct store_stream *st)
{
	struct store *s = st->s;

	if (st->touched)
		return;
	st->touched = true;
	st->tprev = NULL;
	st->tnext = s->stouched;
	if (s->stouched != NULL)
		s->stouched->tprev = st;
	s->stouched = st;
}

static void
untouch(struct store_stream *st)
{
	struct store *s = st->s;

	if (!st->touched)
		return;
	if (st->tprev != NULL)
		st->tprev->tnext = st->tnext;
	else
		s->stouched = st->tnext;
	if (st->tnext != NULL)
		st->tnext->tprev = st->tprev;
	st->tprev = st->tnext = NULL;
	st->touched = false;
}

static int
io_err(int e)
{
	return store_err_from_errno(e) == STORE_ENOSPC ? STORE_ENOSPC : STORE_EIO;
}

static char *
seg_file(const struct store_stream *st, uint64_t base, const char *ext)
{
	char name[40];

	snprintf(name, sizeof(name), "%016" PRIx64 ".%s", base, ext);
	return store_path_join(st->path, name);
}

static struct sseg *
seg_new(struct store_stream *st, uint64_t base)
{
	struct sseg *seg = store_xrealloc(NULL, sizeof(*seg));

	memset(seg, 0, sizeof(*seg));
	seg->base = base;
	seg->path = seg_file(st, base, "seg");
	seg->xpath = seg_file(st, base, "idx");
	store_file_init(&seg->f, seg->path);
	store_file_init(&seg->x, seg->xpath);
	return seg;
}

static void
seg_free(struct store *s, struct sseg *seg)
{
	if (seg->f.fd >= 0)
		s->ops->close(seg->f.fd);
	if (seg->x.fd >= 0)
		s->ops->close(seg->x.fd);
	free(seg->f.buf);
	free(seg->f.fl);
	free(seg->x.buf);
	free(seg->x.fl);
	free(seg->idx);
	free(seg->path);
	free(seg->xpath);
	free(seg);
}

/* Close the fds nothing will write to any more. */
static void
seg_idle(struct store *s, struct sseg *seg)
{
	if (seg->sealed && seg->f.fd >= 0 && !seg->f.dirty && !seg->f.inflight &&
	    seg->f.synced == seg->f.size) {
		s->ops->close(seg->f.fd);
		seg->f.fd = -1;
	}
	if (seg->x.fd >= 0 && !seg->x.dirty && !seg->x.inflight &&
	    seg->x.synced == seg->x.size) {
		s->ops->close(seg->x.fd);
		seg->x.fd = -1;
		free(seg->x.buf);
		seg->x.buf = NULL;
		seg->x.len = seg->x.cap = 0;
	}
}

static void
segs_insert(struct store_stream *st, size_t i, struct sseg *seg)
{
	if (st->nsegs == st->capsegs) {
		st->capsegs = st->capsegs != 0 ? st->capsegs * 2 : 8;
		st->segs = store_xrealloc(st->segs, st->capsegs * sizeof(*st->segs));
	}
	memmove(st->segs + i + 1, st->segs + i, (st->nsegs - i) * sizeof(*st->segs));
	st->segs[i] = seg;
	st->nsegs++;
}

static void
segs_remove(struct store_stream *st, size_t i)
{
	seg_free(st->s, st->segs[i]);
	memmove(st->segs + i, st->segs + i + 1, (st->nsegs - i - 1) * sizeof(*st->segs));
	st->nsegs--;
}

static struct sseg *
active(const struct store_stream *st)
{
	struct sseg *last = st->nsegs > 0 ? st->segs[st->nsegs - 1] : NULL;

	return last != NULL && !last->sealed ? last : NULL;
}

/* Index of the last segment whose base <= off, or -1. */
static long
seg_lookup(const struct store_stream *st, uint64_t off)
{
	size_t lo = 0, hi = st->nsegs, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (st->segs[mid]->base <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (long)lo - 1;
}

/* Note a record (off at pos, timestamp ts) in the segment's summary. */
static void
seg_note(struct sseg *seg, uint64_t off, uint64_t pos, int64_t ts)
{
	struct sidx *last = seg->nidx > 0 ? &seg->idx[seg->nidx - 1] : NULL;

	if (last == NULL || off - last->off >= STORE_STREAM_BLOCK_RECS ||
	    pos - last->pos >= STORE_STREAM_BLOCK_BYTES) {
		if (seg->nidx == seg->capidx) {
			seg->capidx = seg->capidx != 0 ? seg->capidx * 2 : 4;
			seg->idx = store_xrealloc(seg->idx, seg->capidx * sizeof(*seg->idx));
		}
		last = &seg->idx[seg->nidx++];
		last->off = off;
		last->pos = pos;
		last->max_ts = ts;
	} else if (ts > last->max_ts) {
		last->max_ts = ts;
	}
	if (seg->count == 0) {
		seg->first_ts = seg->max_ts = ts;
	} else if (ts > seg->max_ts) {
		seg->max_ts = ts;
	}
	seg->count++;
}

static void
seg_header(uint8_t *h, uint64_t base)
{
	memset(h, 0, STORE_SEG_HDR);
	memcpy(h, STORE_STREAM_SEG_MAGIC, 8);
	store_put_le32(h + 8, STORE_FORMAT);
	store_put_le32(h + 12, STORE_SEG_HDR);
	store_put_le64(h + 16, base);
	store_put_le32(h + 28, store_crc32c(h, 28));
}

static bool
seg_header_ok(const uint8_t *h)
{
	return memcmp(h, STORE_STREAM_SEG_MAGIC, 8) == 0 &&
	    store_get_le32(h + 8) == STORE_FORMAT &&
	    store_get_le32(h + 12) == STORE_SEG_HDR &&
	    store_get_le32(h + 28) == store_crc32c(h, 28);
}

static void
rec_header(uint8_t *h, uint64_t off, int64_t ts, const void *rec, size_t len)
{
	store_put_le32(h + 4, STORE_SREC_MAGIC);
	store_put_le32(h + 8, (uint32_t)len);
	store_put_le16(h + 12, STORE_REC_STREAM);
	store_put_le16(h + 14, 0);
	store_put_le64(h + 16, off);
	store_put_le64(h + 24, (uint64_t)ts);
	store_put_le32(h, store_crc32c_update(store_crc32c(h + 4, STORE_SREC_HDR - 4),
	    rec, len));
}

/*
 * Windows: sequential reads, one pread per buffer.
 */

/*
 * Make [off, off + n) of the file available in *out, reading no further
 * than limit.  1 if the file (up to limit) ends before off + n; STORE_EIO
 * (w->err says why) or STORE_ENOMEM.
 */
static int
win_get(struct window *w, const struct store_ops *ops, uint64_t off, size_t n,
        uint64_t limit, const uint8_t **out)
{
	long long got;
	size_t    keep = 0, want;

	if (off >= w->pos && off + n <= w->pos + w->len) {
		*out = w->buf + (off - w->pos);
		return STORE_OK;
	}
	if (off + n > limit || off + n < off)
		return 1;
	if (off >= w->pos && off < w->pos + w->len)
		keep = (size_t)(w->pos + w->len - off);
	if (n > w->cap) {
		uint8_t *p = malloc(n);

		if (p == NULL)
			return STORE_ENOMEM;
		if (keep > 0)
			memcpy(p, w->buf + (off - w->pos), keep);
		free(w->buf);
		w->buf = p;
		w->cap = n;
	} else if (keep > 0) {
		memmove(w->buf, w->buf + (off - w->pos), keep);
	}
	w->pos = off;
	w->len = keep;
	want = w->cap - keep;
	if (want > limit - (off + keep))
		want = (size_t)(limit - (off + keep));
	got = store_pread_full(ops, w->fd, w->buf + keep, want, off + keep);
	if (got < 0) {
		w->len = 0;
		w->err = (int)-got;
		return STORE_EIO;
	}
	w->len += (size_t)got;
	if (w->len < n)
		return 1;
	*out = w->buf;
	return STORE_OK;
}

/*
 * Appending.
 */

/* Start a new, empty segment at next_off. */
static int
seg_create(struct store_stream *st)
{
	struct store *s = st->s;
	struct sseg  *seg = seg_new(st, st->next_off);
	uint8_t       h[STORE_SEG_HDR];
	int           rc, e;

	seg->f.fd = s->ops->open(seg->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (seg->f.fd < 0) {
		e = errno;
		store_logf(s, STORE_LOG_ERR, "create %s: %s", seg->path, strerror(e));
		seg_free(s, seg);
		return io_err(e);
	}
	seg_header(h, seg->base);
	if ((rc = store_file_append(s, &seg->f, h, sizeof(h), NULL, 0)) != STORE_OK) {
		s->ops->unlink(seg->path);
		seg_free(s, seg);
		return rc;
	}
	segs_insert(st, st->nsegs, seg);
	st->dir_dirty = true;
	touch(st);
	return STORE_OK;
}

/* The .idx image of a segment; malloc'd. */
static uint8_t *
idx_image(const struct sseg *seg, size_t *lenp)
{
	size_t   len = STORE_SIDX_HDR + (size_t)seg->nidx * STORE_SIDX_ENTRY;
	uint8_t *p = store_xrealloc(NULL, len);
	uint32_t i, crc;

	memset(p, 0, STORE_SIDX_HDR);
	memcpy(p, STORE_STREAM_IDX_MAGIC, 8);
	store_put_le64(p + 8, seg->base);
	store_put_le64(p + 16, seg->count);
	store_put_le64(p + 24, seg->f.size);
	store_put_le64(p + 32, (uint64_t)seg->first_ts);
	store_put_le64(p + 40, (uint64_t)seg->max_ts);
	store_put_le32(p + 48, seg->nidx);
	for (i = 0; i < seg->nidx; i++) {
		uint8_t *e = p + STORE_SIDX_HDR + (size_t)i * STORE_SIDX_ENTRY;

		store_put_le64(e, seg->idx[i].off);
		store_put_le64(e + 8, seg->idx[i].pos);
		store_put_le64(e + 16, (uint64_t)seg->idx[i].max_ts);
	}
	crc = store_crc32c(p, 52);
	crc = store_crc32c_update(crc, p + STORE_SIDX_HDR, len - STORE_SIDX_HDR);
	store_put_le32(p + 52, crc);
	*lenp = len;
	return p;
}

/*
 * Write the segment's .idx through the next batch.  A failure only costs a
 * full read of the segment at the next open, so it is logged, not returned
 * (a failed write has failed the store anyway).
 */
static void
idx_write(struct store_stream *st, struct sseg *seg)
{
	struct store *s = st->s;
	uint8_t      *img;
	size_t        len;

	if (seg->x.fd >= 0)
		return;
	seg->x.fd = s->ops->open(seg->xpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (seg->x.fd < 0) {
		store_logf(s, STORE_LOG_WARNING, "create %s: %s", seg->xpath, strerror(errno));
		return;
	}
	seg->x.size = seg->x.synced = 0;
	img = idx_image(seg, &len);
	if (store_file_append(s, &seg->x, img, len, NULL, 0) == STORE_OK)
		seg->xsize = len;
	free(img);
	st->dir_dirty = true;
	touch(st);
}

static void
seg_seal(struct store_stream *st, struct sseg *seg)
{
	seg->sealed = true;
	if (seg->count > 0)
		idx_write(st, seg);
	seg_idle(st->s, seg);
}

int
store_stream_append(struct store_stream *st, int64_t ts_ms, const void *rec, size_t len,
                    uint64_t *offset)
{
	struct store *s = st->s;
	struct sseg  *seg;
	uint8_t       h[STORE_SREC_HDR];
	uint64_t      pos;
	int           rc;

	if (s->failed != 0)
		return STORE_FAILED;
	if (len > STORE_MAX_RECORD || (rec == NULL && len > 0) || offset == NULL)
		return STORE_EINVAL;
	seg = active(st);
	if (seg != NULL && seg->count > 0 &&
	    seg->f.size + STORE_SREC_HDR + len > st->max_seg) {
		seg_seal(st, seg);
		seg = NULL;
		store_stream_retain(st, st->newest_ts);
	}
	if (seg == NULL) {
		if ((rc = seg_create(st)) != STORE_OK)
			return rc;
		seg = st->segs[st->nsegs - 1];
	}
	pos = seg->f.size;
	rec_header(h, st->next_off, ts_ms, rec, len);
	if ((rc = store_file_append(s, &seg->f, h, sizeof(h), rec, len)) != STORE_OK)
		return rc;
	seg_note(seg, st->next_off, pos, ts_ms);
	if (ts_ms > st->newest_ts)
		st->newest_ts = ts_ms;
	*offset = st->next_off++;
	touch(st);
	if (seg->f.size >= st->max_seg) {
		/* Full: start the next one now, so that retention may take
		 * this one and the next offset still has a name on disk. */
		seg_seal(st, seg);
		seg_create(st);   /* on failure the next append retries */
		store_stream_retain(st, st->newest_ts);
	}
	return STORE_OK;
}

/*
 * The group commit.
 */

void
store_stream_prepare(struct store *s, struct store_stream *st, struct store_batch *b)
{
	size_t i;

	untouch(st);
	for (i = 0; i < st->nsegs; i++) {
		struct sseg *seg = st->segs[i];

		if (seg->f.dirty)
			store_batch_add_write(b, &seg->f, NULL);
		if (seg->x.dirty)
			store_batch_add_write(b, &seg->x, NULL);
	}
	if (st->dir_dirty) {
		store_batch_add_dir(b, st->path);
		st->dir_dirty = false;
	}
	if (s->sdir_dirty) {
		store_batch_add_dir(b, s->sdir);
		s->sdir_dirty = false;
	}
	st->prep_next = st->next_off;
	st->in_batch = true;
}

static void
stream_complete(struct store_stream *st, bool ok)
{
	size_t i;

	if (!st->in_batch)
		return;
	st->in_batch = false;
	if (ok && st->prep_next > st->committed)
		st->committed = st->prep_next;
	for (i = 0; i < st->nsegs; i++)
		seg_idle(st->s, st->segs[i]);
}

void
store_streams_complete(struct store *s, bool ok)
{
	struct store_stream *st;

	for (st = s->streams; st != NULL; st = st->next)
		stream_complete(st, ok);
	for (st = s->szombies; st != NULL; st = st->next)
		stream_complete(st, ok);
}

struct store_stream *
store_stream_next_open(struct store_stream *st)
{
	return st->next;
}

static void
reader_drop_fd(struct store_stream_reader *r, const struct store_ops *ops)
{
	if (r->w.fd >= 0)
		ops->close(r->w.fd);
	r->w.fd = -1;
	r->w.pos = r->w.len = 0;
	r->gone = false;
}

/*
 * The failed state: back to the last successful sync.  Records past
 * committed go (their offsets come again: no reader saw them), every file
 * is cut to what was fsynced, and index files not known durable are
 * removed (the segment is then read in full at the next open).
 */
int
store_stream_rollback(struct store_stream *st)
{
	struct store               *s = st->s;
	struct store_stream_reader *r;
	size_t                      i;
	bool                        kept_empty = false;
	int                         e;

	st->in_batch = false;
	for (i = 0; i < st->nsegs;) {
		struct sseg *seg = st->segs[i];
		uint64_t     was = seg->count;

		free(seg->f.buf);
		seg->f.buf = NULL;
		seg->f.len = seg->f.cap = 0;
		seg->f.dirty = false;
		if (seg->x.synced < seg->x.size || seg->x.dirty) {
			free(seg->x.buf);
			seg->x.buf = NULL;
			seg->x.len = seg->x.cap = 0;
			seg->x.dirty = false;
			if (seg->x.fd >= 0)
				s->ops->close(seg->x.fd);
			seg->x.fd = -1;
			s->ops->unlink(seg->xpath);
			seg->x.size = seg->x.synced = seg->xsize = 0;
		}
		/* Segments past committed hold nothing durable: all go but
		 * the first, if its header is durable (it names next). */
		if (seg->base >= st->committed) {
			if (kept_empty || seg->f.synced < STORE_SEG_HDR) {
				if (s->ops->unlink(seg->path) != 0 && errno != ENOENT) {
					store_logf(s, STORE_LOG_ERR, "unlink %s: %s",
					    seg->path, strerror(errno));
					return STORE_EIO;
				}
				segs_remove(st, i);
				continue;
			}
			kept_empty = true;
		}
		if (seg->f.synced < seg->f.size) {
			if (seg->f.fd < 0 &&
			    (seg->f.fd = s->ops->open(seg->path, O_RDWR | O_CLOEXEC, 0)) < 0) {
				store_logf(s, STORE_LOG_ERR, "open %s: %s", seg->path,
				    strerror(errno));
				return STORE_EIO;
			}
			if (s->ops->ftruncate(seg->f.fd, (off_t)seg->f.synced) != 0 ||
			    s->ops->fsync(seg->f.fd) != 0) {
				e = errno;
				store_logf(s, STORE_LOG_ERR, "truncate %s: %s", seg->path,
				    strerror(e));
				return io_err(e);
			}
			seg->f.size = seg->f.synced;
			seg->count = seg->base < st->committed ? st->committed - seg->base : 0;
			while (seg->nidx > 0 &&
			    seg->idx[seg->nidx - 1].off >= seg->base + seg->count)
				seg->nidx--;
			store_logf(s, STORE_LOG_INFO, "%s: rolled back to %" PRIu64 " bytes, %"
			    PRIu64 " unsynced record(s) discarded", seg->path, seg->f.size,
			    was - seg->count);
		}
		seg->sealed = true;
		seg_idle(s, seg);
		i++;
	}
	st->next_off = st->committed;
	for (r = st->readers; r != NULL; r = r->next) {
		if (r->off > st->next_off) {
			r->off = st->next_off;
			reader_drop_fd(r, s->ops);
		}
	}
	/* The last segment takes appends again (unless it is full). */
	if (st->nsegs > 0) {
		struct sseg *last = st->segs[st->nsegs - 1];

		if (last->f.size < st->max_seg && last->xsize == 0) {
			if (last->f.fd < 0)
				last->f.fd = s->ops->open(last->path, O_RDWR | O_CLOEXEC, 0);
			if (last->f.fd >= 0)
				last->sealed = false;
		}
	}
	if ((e = store_fsync_dir(s->ops, st->path)) != 0) {
		store_logf(s, STORE_LOG_ERR, "fsync %s: %s", st->path, strerror(-e));
		return STORE_EIO;
	}
	st->dir_dirty = false;
	untouch(st);
	/* The next offset must keep a name on disk. */
	if (st->nsegs == 0 && st->committed > 0)
		return seg_create(st);
	return STORE_OK;
}

/*
 * Recovery.
 */

/* A segment or index file name: 16 lowercase hex digits and ext. */
static bool
parse_name(const char *name, const char *ext, uint64_t *base)
{
	uint64_t v = 0;
	int      i;

	for (i = 0; i < 16; i++) {
		char c = name[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	if (strcmp(name + 16, ext) != 0)
		return false;
	*base = v;
	return true;
}

static int
seg_cmp(const void *a, const void *b)
{
	const struct sseg *x = *(struct sseg *const *)a;
	const struct sseg *y = *(struct sseg *const *)b;

	return x->base < y->base ? -1 : x->base > y->base;
}

/* Load a sealed segment's .idx; false if it is missing or does not match. */
static bool
idx_load(struct store_stream *st, struct sseg *seg)
{
	struct store *s = st->s;
	struct stat   sb;
	uint8_t       h[STORE_SIDX_HDR], *p = NULL;
	uint32_t      n, i, crc;
	size_t        len;
	long long     got;
	int           fd;
	bool          ok = false;

	if ((fd = s->ops->open(seg->xpath, O_RDONLY | O_CLOEXEC, 0)) < 0)
		return false;
	if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size < STORE_SIDX_HDR)
		goto out;
	got = store_pread_full(s->ops, fd, h, sizeof(h), 0);
	if (got != (long long)sizeof(h) || memcmp(h, STORE_STREAM_IDX_MAGIC, 8) != 0 ||
	    store_get_le64(h + 8) != seg->base || store_get_le64(h + 24) != seg->f.size)
		goto out;
	n = store_get_le32(h + 48);
	len = (size_t)n * STORE_SIDX_ENTRY;
	if ((uint64_t)sb.st_size != STORE_SIDX_HDR + (uint64_t)len || n == 0)
		goto out;
	p = store_xrealloc(NULL, len);
	if (store_pread_full(s->ops, fd, p, len, STORE_SIDX_HDR) != (long long)len)
		goto out;
	crc = store_crc32c_update(store_crc32c(h, 52), p, len);
	if (crc != store_get_le32(h + 52))
		goto out;
	seg->count = store_get_le64(h + 16);
	seg->first_ts = (int64_t)store_get_le64(h + 32);
	seg->max_ts = (int64_t)store_get_le64(h + 40);
	seg->idx = store_xrealloc(NULL, (size_t)n * sizeof(*seg->idx));
	seg->nidx = seg->capidx = n;
	for (i = 0; i < n; i++) {
		const uint8_t *e = p + (size_t)i * STORE_SIDX_ENTRY;

		seg->idx[i].off = store_get_le64(e);
		seg->idx[i].pos = store_get_le64(e + 8);
		seg->idx[i].max_ts = (int64_t)store_get_le64(e + 16);
	}
	seg->xsize = (uint64_t)sb.st_size;
	ok = seg->count > 0 && seg->idx[0].off == seg->base &&
	    seg->idx[0].pos == STORE_SEG_HDR;
	if (!ok) {
		free(seg->idx);
		seg->idx = NULL;
		seg->nidx = seg->capidx = 0;
		seg->count = 0;
		seg->xsize = 0;
	}
out:
	free(p);
	s->ops->close(fd);
	return ok;
}

/*
 * Read a segment in full, check every record, build its summary; cut it
 * at the first bad record (logged with file and offset).  A damaged header
 * is rewritten (the name says where the segment starts).  STORE_CORRUPT if
 * its intact header names another first offset.  The fd stays open.
 */
static int
seg_scan(struct store_stream *st, struct sseg *seg, struct window *w)
{
	struct store  *s = st->s;
	struct stat    sb;
	const uint8_t *p;
	const char    *why = NULL;
	bool           header_ok;
	uint64_t       end = STORE_SEG_HDR, fsize;
	int            rc;

	free(seg->idx);
	seg->idx = NULL;
	seg->nidx = seg->capidx = 0;
	seg->count = 0;
	if (seg->f.fd < 0)
		seg->f.fd = s->ops->open(seg->path, O_RDWR | O_CLOEXEC, 0);
	if (seg->f.fd < 0 || fstat(seg->f.fd, &sb) != 0) {
		store_logf(s, STORE_LOG_ERR, "open %s: %s", seg->path, strerror(errno));
		return STORE_EIO;
	}
	fsize = (uint64_t)sb.st_size;
	w->fd = seg->f.fd;
	w->pos = w->len = 0;
	rc = win_get(w, s->ops, 0, STORE_SEG_HDR, fsize, &p);
	if (rc < 0)
		goto io_error;
	header_ok = rc == 0 && seg_header_ok(p);
	if (header_ok && store_get_le64(p + 16) != seg->base)
		return STORE_CORRUPT;
	while (end < fsize) {
		uint32_t len;
		int64_t  ts;

		if ((rc = win_get(w, s->ops, end, STORE_SREC_HDR, fsize, &p)) != STORE_OK) {
			if (rc < 0)
				goto io_error;
			why = "torn record header";
			break;
		}
		len = store_get_le32(p + 8);
		if (store_get_le32(p + 4) != STORE_SREC_MAGIC ||
		    store_get_le16(p + 12) != STORE_REC_STREAM ||
		    store_get_le16(p + 14) != 0) {
			why = "bad record header";
			break;
		}
		if (len > STORE_MAX_RECORD || len > fsize - end - STORE_SREC_HDR) {
			why = "record runs past the end of the file (torn)";
			break;
		}
		if (store_get_le64(p + 16) != seg->base + seg->count) {
			why = "record has an unexpected offset";
			break;
		}
		ts = (int64_t)store_get_le64(p + 24);
		rc = win_get(w, s->ops, end, STORE_SREC_HDR + (size_t)len, fsize, &p);
		if (rc != STORE_OK) {
			if (rc < 0)
				goto io_error;
			why = "torn record";
			break;
		}
		if (store_crc32c_update(store_crc32c(p + 4, STORE_SREC_HDR - 4),
		    p + STORE_SREC_HDR, len) != store_get_le32(p)) {
			why = "checksum mismatch";
			break;
		}
		seg_note(seg, seg->base + seg->count, end, ts);
		end += STORE_SREC_HDR + (uint64_t)len;
	}
	if (why != NULL || fsize < STORE_SEG_HDR) {
		store_logf(s, STORE_LOG_WARNING, "%s: %s at offset %" PRIu64 "; keeping %"
		    PRIu64 " record(s) before it, truncating %" PRIu64 " byte(s)",
		    seg->path, why != NULL ? why : "short segment header", end,
		    seg->count, fsize > end ? fsize - end : 0);
		if (s->ops->ftruncate(seg->f.fd, (off_t)end) != 0 ||
		    s->ops->fsync(seg->f.fd) != 0) {
			store_logf(s, STORE_LOG_ERR, "truncate %s: %s", seg->path,
			    strerror(errno));
			return STORE_EIO;
		}
	}
	if (!header_ok) {
		uint8_t h[STORE_SEG_HDR];
		int     e;

		if (fsize >= STORE_SEG_HDR)
			store_logf(s, STORE_LOG_WARNING, "%s: bad segment header; %" PRIu64
			    " record(s) follow it, rewriting the header", seg->path,
			    seg->count);
		seg_header(h, seg->base);
		e = -store_pwrite_full(s->ops, seg->f.fd, h, sizeof(h), 0);
		if (e == 0 && s->ops->fsync(seg->f.fd) != 0)
			e = errno;
		if (e != 0) {
			store_logf(s, STORE_LOG_ERR, "write %s: %s", seg->path, strerror(e));
			return STORE_EIO;
		}
	}
	seg->f.size = seg->f.synced = end;
	return STORE_OK;
io_error:
	if (rc == STORE_ENOMEM)
		return rc;
	store_logf(s, STORE_LOG_ERR, "read %s: %s", seg->path, strerror(w->err));
	return STORE_EIO;
}

/* A segment that cannot belong to the stream: keep it aside for people. */
static void
set_aside(struct store_stream *st, const char *path)
{
	struct store *s = st->s;
	size_t        n = strlen(path);
	char         *to = store_xrealloc(NULL, n + sizeof(".corrupt"));

	memcpy(to, path, n);
	memcpy(to + n, ".corrupt", sizeof(".corrupt"));
	store_logf(s, STORE_LOG_ERR, "%s: does not fit the stream; renamed to %s",
	    path, to);
	if (s->ops->rename(path, to) != 0)
		store_logf(s, STORE_LOG_ERR, "rename %s: %s", path, strerror(errno));
	free(to);
	st->dir_dirty = true;
}

static int
stream_load(struct store_stream *st)
{
	struct store  *s = st->s;
	struct window  w;
	DIR           *d;
	struct dirent *de;
	struct stat    sb;
	uint64_t       base, prev_end = 0;
	size_t         i;
	int            rc = STORE_OK;

	if ((d = opendir(st->path)) == NULL) {
		store_logf(s, STORE_LOG_ERR, "opendir %s: %s", st->path, strerror(errno));
		return STORE_EIO;
	}
	while ((de = readdir(d)) != NULL) {
		if (parse_name(de->d_name, ".seg", &base)) {
			struct sseg *seg = seg_new(st, base);

			if (stat(seg->path, &sb) == 0)
				seg->f.size = seg->f.synced = (uint64_t)sb.st_size;
			seg->sealed = true;
			segs_insert(st, st->nsegs, seg);
		}
	}
	closedir(d);
	if (st->nsegs > 1)
		qsort(st->segs, st->nsegs, sizeof(*st->segs), seg_cmp);

	memset(&w, 0, sizeof(w));
	w.buf = store_xrealloc(NULL, SCAN_BUF);
	w.cap = SCAN_BUF;
	for (i = 0; i < st->nsegs;) {
		struct sseg *seg = st->segs[i];
		bool         last = i + 1 == st->nsegs;

		if (i > 0 && seg->base < prev_end) {
			set_aside(st, seg->path);
			segs_remove(st, i);
			continue;
		}
		if (last || !idx_load(st, seg)) {
			rc = seg_scan(st, seg, &w);
			if (rc == STORE_CORRUPT) {
				set_aside(st, seg->path);
				segs_remove(st, i);
				rc = STORE_OK;
				continue;
			}
			if (rc != STORE_OK)
				break;
			if (!last && seg->count == 0) {
				/* Nothing left in it: it names no offset that the
				 * next segment does not. */
				store_logf(s, STORE_LOG_WARNING, "%s: no records; removed",
				    seg->path);
				s->ops->unlink(seg->path);
				s->ops->unlink(seg->xpath);
				segs_remove(st, i);
				st->dir_dirty = true;
				continue;
			}
			if (!last)
				idx_write(st, seg);
		}
		if (!last && seg->f.fd >= 0) {
			s->ops->close(seg->f.fd);
			seg->f.fd = -1;
		}
		prev_end = seg->base + seg->count;
		i++;
	}
	free(w.buf);
	if (rc != STORE_OK)
		return rc;
	if (st->nsegs > 0) {
		struct sseg *last = st->segs[st->nsegs - 1];

		st->next_off = last->base + last->count;
		if (last->f.fd >= 0) {
			/* Read in full (seg_scan left its fd open): it takes
			 * appends again, and a .idx of it would be stale. */
			last->sealed = false;
			s->ops->unlink(last->xpath);
		}   /* else the last one was set aside: this one stays sealed */
		for (i = 0; i < st->nsegs; i++)
			if (st->segs[i]->count > 0 && st->segs[i]->max_ts > st->newest_ts)
				st->newest_ts = st->segs[i]->max_ts;
	}
	st->committed = st->next_off;
	return STORE_OK;
}

/*
 * Opening, closing, listing, deleting.
 */

static struct store_stream *
find_open(struct store_stream *list, const char *sid)
{
	for (; list != NULL; list = list->next)
		if (strcmp(list->sid, sid) == 0)
			return list;
	return NULL;
}

static void
stream_free(struct store_stream *st)
{
	struct store_stream_reader *r;
	size_t                      i;

	untouch(st);
	for (r = st->readers; r != NULL; r = r->next)
		r->st = NULL;
	for (i = 0; i < st->nsegs; i++)
		seg_free(st->s, st->segs[i]);
	free(st->segs);
	free(st->sid);
	free(st->path);
	free(st);
}

static void
list_unlink(struct store_stream *st)
{
	struct store *s = st->s;

	if (st->prev != NULL)
		st->prev->next = st->next;
	else if (s->streams == st)
		s->streams = st->next;
	else
		s->szombies = st->next;
	if (st->next != NULL)
		st->next->prev = st->prev;
	st->prev = st->next = NULL;
}

int
store_stream_open(struct store *s, const char *sid, struct store_stream **out)
{
	struct store_stream *st;
	int                  rc, e;

	*out = NULL;
	if (!store_id_valid(sid))
		return STORE_EINVAL;
	if (find_open(s->streams, sid) != NULL || find_open(s->szombies, sid) != NULL)
		return STORE_EINVAL;
	st = store_xrealloc(NULL, sizeof(*st));
	memset(st, 0, sizeof(*st));
	st->s = s;
	st->sid = store_xstrdup(sid);
	st->path = store_path_join(s->sdir, sid);
	st->max_seg = DEFAULT_MAX_SEG;
	st->newest_ts = INT64_MIN;
	if (mkdir(st->path, 0755) == 0) {
		s->sdir_dirty = true;
	} else if (errno != EEXIST) {
		e = errno;
		store_logf(s, STORE_LOG_ERR, "mkdir %s: %s", st->path, strerror(e));
		stream_free(st);
		return io_err(e);
	}
	if ((rc = stream_load(st)) != STORE_OK) {
		stream_free(st);
		return rc;
	}
	if (st->dir_dirty || s->sdir_dirty)
		touch(st);
	st->next = s->streams;
	if (s->streams != NULL)
		s->streams->prev = st;
	s->streams = st;
	*out = st;
	return STORE_OK;
}

/* Write out and fsync one stream now, outside any batch. */
static void
sync_now(struct store_stream *st)
{
	struct store      *s = st->s;
	struct store_batch b;
	int                rc;

	memset(&b, 0, sizeof(b));
	b.ops = s->ops;
	store_stream_prepare(s, st, &b);
	store_sync_perform(&b);
	rc = store_batch_finish(s, &b);
	stream_complete(st, rc == STORE_OK);
	store_batch_free(&b);
}

/* The real close: a final sync, then free. */
void
store_stream_finish(struct store_stream *st)
{
	struct store *s = st->s;

	if (st->touched && s->failed == 0)
		sync_now(st);
	untouch(st);
	list_unlink(st);
	stream_free(st);
}

void
store_stream_close(struct store_stream *st)
{
	struct store *s;

	if (st == NULL)
		return;
	s = st->s;
	if (!s->in_flight) {
		store_stream_finish(st);
		return;
	}
	/* The batch in flight may point into st: finish when it completes. */
	list_unlink(st);
	st->next = s->szombies;
	if (s->szombies != NULL)
		s->szombies->prev = st;
	s->szombies = st;
}

int
store_stream_delete(struct store *s, const char *sid)
{
	if (!store_id_valid(sid))
		return STORE_EINVAL;
	if (find_open(s->streams, sid) != NULL || find_open(s->szombies, sid) != NULL)
		return STORE_EINVAL;
	return store_dir_delete(s, s->sdir, sid);
}

int
store_stream_list(struct store *s, void (*fn)(void *arg, const char *sid), void *arg)
{
	return store_dir_list(s, s->sdir, fn, arg);
}

void
store_stream_set_limits(struct store_stream *st, uint64_t max_segment_bytes,
                        uint64_t max_bytes, int64_t max_age_ms)
{
	if (max_segment_bytes == 0)
		max_segment_bytes = DEFAULT_MAX_SEG;
	if (max_segment_bytes < MIN_SEG)
		max_segment_bytes = MIN_SEG;
	if (max_segment_bytes > MAX_SEG)
		max_segment_bytes = MAX_SEG;
	st->max_seg = max_segment_bytes;
	st->max_bytes = max_bytes;
	st->max_age = max_age_ms > 0 ? max_age_ms : 0;
}

/*
 * Figures.
 */

uint64_t
store_stream_first(const struct store_stream *st)
{
	return st->nsegs > 0 ? st->segs[0]->base : st->next_off;
}

uint64_t
store_stream_next(const struct store_stream *st)
{
	return st->next_off;
}

uint64_t
store_stream_committed(const struct store_stream *st)
{
	return st->committed;
}

uint64_t
store_stream_count(const struct store_stream *st)
{
	return st->next_off - store_stream_first(st);
}

uint64_t
store_stream_disk_size(const struct store_stream *st)
{
	uint64_t n = 0;
	size_t   i;

	for (i = 0; i < st->nsegs; i++)
		n += st->segs[i]->f.size + st->segs[i]->xsize;
	return n;
}

size_t
store_stream_segments(const struct store_stream *st)
{
	return st->nsegs;
}

size_t
store_stream_index_entries(const struct store_stream *st)
{
	size_t i, n = 0;

	for (i = 0; i < st->nsegs; i++)
		n += st->segs[i]->nidx;
	return n;
}

uint64_t
store_stream_offset_at(const struct store_stream *st, int64_t ts_ms)
{
	size_t   i;
	uint32_t k;

	for (i = 0; i < st->nsegs; i++) {
		const struct sseg *seg = st->segs[i];

		if (seg->count == 0 || seg->max_ts < ts_ms)
			continue;
		for (k = 0; k < seg->nidx; k++)
			if (seg->idx[k].max_ts >= ts_ms)
				return seg->idx[k].off;
	}
	return st->next_off;
}

/*
 * Retention.
 */

/* Can retention take segs[0]: sealed, not the last, all of it durable? */
static bool
retainable(const struct store_stream *st, const struct sseg *seg)
{
	return st->nsegs > 1 && seg->sealed && !seg->f.dirty && !seg->f.inflight &&
	    seg->f.synced == seg->f.size && !seg->x.inflight &&
	    seg->base + seg->count <= st->committed;
}

int
store_stream_retain(struct store_stream *st, int64_t now_ms)
{
	struct store               *s = st->s;
	struct store_stream_reader *r;
	uint64_t                    total = store_stream_disk_size(st);
	int                         n = 0;

	while (st->nsegs > 1) {
		struct sseg *seg = st->segs[0];
		uint64_t     size = seg->f.size + seg->xsize;
		bool         too_big = st->max_bytes > 0 && total > st->max_bytes;
		bool         too_old = st->max_age > 0 && seg->count > 0 &&
		    now_ms > INT64_MIN + st->max_age && seg->max_ts < now_ms - st->max_age;

		if ((!too_big && !too_old) || !retainable(st, seg))
			break;
		if (s->ops->unlink(seg->path) != 0 && errno != ENOENT) {
			store_logf(s, STORE_LOG_WARNING, "unlink %s: %s", seg->path,
			    strerror(errno));
			break;
		}
		if (seg->x.fd >= 0)
			s->ops->close(seg->x.fd);
		seg->x.fd = -1;
		s->ops->unlink(seg->xpath);
		for (r = st->readers; r != NULL; r = r->next) {
			if (r->w.fd >= 0 && !r->gone && r->base == seg->base) {
				r->gone = true;
				r->gone_limit = seg->f.size;
			}
		}
		total -= size;
		segs_remove(st, 0);
		st->dir_dirty = true;
		touch(st);
		n++;
	}
	return n;
}

/*
 * Readers.
 */

int
store_stream_reader_open(struct store_stream *st, uint64_t offset,
                         struct store_stream_reader **out)
{
	struct store_stream_reader *r;
	uint64_t                    first = store_stream_first(st);

	*out = NULL;
	if ((r = malloc(sizeof(*r))) == NULL)
		return STORE_ENOMEM;
	memset(r, 0, sizeof(*r));
	r->st = st;
	r->w.fd = -1;
	r->off = offset < first ? first : offset > st->next_off ? st->next_off : offset;
	r->next = st->readers;
	if (st->readers != NULL)
		st->readers->prev = r;
	st->readers = r;
	*out = r;
	return STORE_OK;
}


void
store_stream_reader_close(struct store_stream_reader *r)
{
	struct store_stream *st;

	if (r == NULL)
		return;
	st = r->st;
	if (st != NULL) {
		reader_drop_fd(r, st->s->ops);
		if (r->prev != NULL)
			r->prev->next = r->next;
		else
			st->readers = r->next;
		if (r->next != NULL)
			r->next->prev = r->prev;
	} else if (r->w.fd >= 0) {
		close(r->w.fd);
	}
	free(r->w.buf);
	free(r);
}

uint64_t
store_stream_reader_offset(const struct store_stream_reader *r)
{
	return r->off;
}

/* How far the reader's segment may be read: what is durable of it. */
static uint64_t
reader_limit(const struct store_stream_reader *r)
{
	const struct store_stream *st = r->st;
	long                       i;

	if (r->gone)
		return r->gone_limit;
	i = seg_lookup(st, r->base);
	if (i < 0 || st->segs[i]->base != r->base)
		return 0;
	return st->segs[i]->f.synced;
}

/*
 * Put the reader on the segment holding r->off (below committed): open
 * it, start at the sparse-index block, skip records to r->off.
 */
static int
reader_seek(struct store_stream_reader *r)
{
	struct store_stream *st = r->st;
	struct store        *s = st->s;
	const struct sseg   *seg;
	const uint8_t       *p;
	uint64_t             off, pos, limit;
	uint32_t             lo, hi, mid;
	long                 i;
	int                  rc;

	if (r->off < store_stream_first(st))
		r->off = store_stream_first(st);
	if ((i = seg_lookup(st, r->off)) < 0)
		return STORE_NOTFOUND;
	seg = st->segs[i];
	if (r->off >= seg->base + seg->count) {
		/* A gap left by a damaged segment: on to the next one. */
		if ((size_t)i + 1 >= st->nsegs)
			return STORE_NOTFOUND;
		seg = st->segs[i + 1];
		r->off = seg->base;
	}
	if (r->w.buf == NULL) {
		if ((r->w.buf = malloc(STORE_STREAM_READ_BUF)) == NULL)
			return STORE_ENOMEM;
		r->w.cap = STORE_STREAM_READ_BUF;
	}
	if ((r->w.fd = s->ops->open(seg->path, O_RDONLY | O_CLOEXEC, 0)) < 0) {
		store_logf(s, STORE_LOG_ERR, "open %s: %s", seg->path, strerror(errno));
		return STORE_EIO;
	}
	r->base = seg->base;
	r->gone = false;
	r->w.pos = r->w.len = 0;
	off = seg->base;
	pos = STORE_SEG_HDR;
	lo = 0;
	hi = seg->nidx;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (seg->idx[mid].off <= r->off)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0) {
		off = seg->idx[lo - 1].off;
		pos = seg->idx[lo - 1].pos;
	}
	limit = seg->f.synced;
	while (off < r->off) {
		rc = win_get(&r->w, s->ops, pos, STORE_SREC_HDR, limit, &p);
		if (rc == 1 || (rc == STORE_OK && store_get_le64(p + 16) != off))
			return STORE_CORRUPT;
		if (rc != STORE_OK)
			return rc;
		pos += STORE_SREC_HDR + (uint64_t)store_get_le32(p + 8);
		off++;
	}
	r->pos = pos;
	r->fresh = true;
	return STORE_OK;
}

int
store_stream_reader_next(struct store_stream_reader *r, const void **rec, size_t *len,
                         uint64_t *offset, int64_t *ts_ms)
{
	struct store_stream *st = r->st;
	const uint8_t       *p;
	uint64_t             limit;
	uint32_t             n;
	int                  rc;

	if (st == NULL)
		return STORE_EINVAL;
	for (;;) {
		if (r->off >= st->committed)
			return STORE_NOTFOUND;
		if (r->w.fd < 0) {
			if ((rc = reader_seek(r)) != STORE_OK) {
				if (rc == STORE_EIO || rc == STORE_CORRUPT)
					store_logf(st->s, STORE_LOG_ERR, "stream %s: reading "
					    "offset %" PRIu64 ": %s", st->sid, r->off,
					    store_strerror(rc));
				reader_drop_fd(r, st->s->ops);
				return rc;
			}
			continue;
		}
		limit = reader_limit(r);
		rc = win_get(&r->w, st->s->ops, r->pos, STORE_SREC_HDR, limit, &p);
		if (rc == 1 && !r->fresh && r->pos == limit) {
			/* The end of this segment: the next record is in another. */
			reader_drop_fd(r, st->s->ops);
			continue;
		}
		r->fresh = false;
		if (rc == 1)
			rc = STORE_CORRUPT;   /* a committed record cut short */
		if (rc != STORE_OK)
			goto fail;
		n = store_get_le32(p + 8);
		if (store_get_le32(p + 4) != STORE_SREC_MAGIC ||
		    store_get_le64(p + 16) != r->off || n > STORE_MAX_RECORD) {
			rc = STORE_CORRUPT;
			goto fail;
		}
		rc = win_get(&r->w, st->s->ops, r->pos, STORE_SREC_HDR + (size_t)n, limit, &p);
		if (rc == 1)
			rc = STORE_CORRUPT;
		if (rc != STORE_OK)
			goto fail;
		if (store_crc32c_update(store_crc32c(p + 4, STORE_SREC_HDR - 4),
		    p + STORE_SREC_HDR, n) != store_get_le32(p)) {
			rc = STORE_CORRUPT;
			goto fail;
		}
		*rec = p + STORE_SREC_HDR;
		*len = n;
		if (offset != NULL)
			*offset = r->off;
		if (ts_ms != NULL)
			*ts_ms = (int64_t)store_get_le64(p + 24);
		r->pos += STORE_SREC_HDR + (uint64_t)n;
		r->off++;
		return STORE_OK;
	}
fail:
	if (rc == STORE_EIO)
		store_logf(st->s, STORE_LOG_ERR, "stream %s: read offset %" PRIu64 ": %s",
		    st->sid, r->off, strerror(r->w.err));
	else if (rc == STORE_CORRUPT)
		store_logf(st->s, STORE_LOG_ERR, "stream %s: record at offset %" PRIu64
		    " fails its checksum", st->sid, r->off);
	/* Read it again next time rather than trust the window. */
	r->w.pos = r->w.len = 0;
	return rc;
}
