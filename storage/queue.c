/*
 * One durable queue's log: segment files of message records, the ack log,
 * recovery, reads, and the queue's share of a group commit.  The formats
 * are described in store_int.h; buffering and batches are store.c's.
 *
 * In memory each segment keeps the offset of every record and a bitmap of
 * the acked ones (4 bytes and 1 bit a message); live counts say when a
 * segment can go.  Invariants, for every open, recovered queue:
 *   - segs is sorted by base; each holds msg_ids [base, base + count), and
 *     records [0, count) are at offs[] in its file;
 *   - live = count - (acked bits set), runs = runs of set bits;
 *   - active, if set, is the last segment and base + count == next_id;
 *   - next_id is above every msg_id in a segment or in the ack log, so no
 *     msg_id is ever handed out twice (a rewritten ack log carries it as a
 *     WATERMARK when no segment does);
 *   - a file with unwritten or unsynced bytes (dirty) belongs to a queue on
 *     s->touched.
 *
 * Segment deletion.  A segment whose records are all acked is unlinked by
 * the batch that makes the last of those acks durable (after the fsyncs),
 * so the files on disk never claim less than the ack log proves.  The
 * active segment goes too once it is past reclaim_size, so a queue that is
 * drained keeps almost nothing on disk.
 *
 * Recovery reads the ack log (a torn tail is cut; a bad record in the
 * middle is skipped: every record stands alone), then each segment in
 * order with large sequential reads; the first bad record ends a segment,
 * which is truncated there and logged.  Segments left with nothing live
 * are deleted.
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

#define READ_CHUNK     ((size_t)8 << 20)   /* recovery reads */
#define ACK_CHUNK      ((size_t)STORE_ACK_REC * 43690)
#define MAX_QID        128
#define RECLAIM_ACTIVE ((uint64_t)1 << 20)

/*
 * The delivery-count map: open addressing, linear probing, deletion by
 * backward shift (no tombstones).
 */

static size_t
idmap_slot(uint64_t key, size_t cap)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	return (size_t)key & (cap - 1);
}

static int
idmap_grow(struct store_idmap *m)
{
	size_t    cap = m->cap != 0 ? m->cap * 2 : 64, i, j;
	uint64_t *keys = calloc(cap, sizeof(*keys));
	uint32_t *vals = calloc(cap, sizeof(*vals));

	if (keys == NULL || vals == NULL) {
		free(keys);
		free(vals);
		return STORE_ENOMEM;
	}
	for (i = 0; i < m->cap; i++) {
		if (m->keys[i] == 0)
			continue;
		for (j = idmap_slot(m->keys[i], cap); keys[j] != 0; j = (j + 1) & (cap - 1))
			;
		keys[j] = m->keys[i];
		vals[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = cap;
	return STORE_OK;
}

static int
idmap_put(struct store_idmap *m, uint64_t key, uint32_t val)
{
	size_t i;

	if ((m->count + 1) * 4 > m->cap * 3 && idmap_grow(m) != STORE_OK)
		return STORE_ENOMEM;
	for (i = idmap_slot(key, m->cap); m->keys[i] != 0; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == key) {
			m->vals[i] = val;
			return STORE_OK;
		}
	}
	m->keys[i] = key;
	m->vals[i] = val;
	m->count++;
	return STORE_OK;
}

static uint32_t
idmap_get(const struct store_idmap *m, uint64_t key)
{
	size_t i;

	if (m->count == 0)
		return 0;
	for (i = idmap_slot(key, m->cap); m->keys[i] != 0; i = (i + 1) & (m->cap - 1))
		if (m->keys[i] == key)
			return m->vals[i];
	return 0;
}

static void
idmap_del(struct store_idmap *m, uint64_t key)
{
	size_t i, j, k, mask = m->cap - 1;

	if (m->count == 0)
		return;
	for (i = idmap_slot(key, m->cap); m->keys[i] != key; i = (i + 1) & mask)
		if (m->keys[i] == 0)
			return;
	/* Shift back the entries that probed past the hole. */
	for (j = (i + 1) & mask; m->keys[j] != 0; j = (j + 1) & mask) {
		k = idmap_slot(m->keys[j], m->cap);
		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			i = j;
		}
	}
	m->keys[i] = 0;
	m->vals[i] = 0;
	m->count--;
}

static void
idmap_free(struct store_idmap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/*
 * Segments in memory.
 */

static inline bool
bit_get(const struct store_seg *seg, uint32_t i)
{
	return (seg->acked[i / 64] >> (i % 64)) & 1;
}

static inline void
bit_set(struct store_seg *seg, uint32_t i)
{
	seg->acked[i / 64] |= (uint64_t)1 << (i % 64);
}

static inline void
bit_clear(struct store_seg *seg, uint32_t i)
{
	seg->acked[i / 64] &= ~((uint64_t)1 << (i % 64));
}

/* Room for n records in the index. */
static int
seg_reserve(struct store_seg *seg, uint32_t n)
{
	uint32_t  cap = seg->cap != 0 ? seg->cap : 64;
	uint32_t *offs;
	uint64_t *acked;
	size_t    oldw, neww;

	if (n <= seg->cap)
		return STORE_OK;
	while (cap < n)
		cap *= 2;
	if ((offs = realloc(seg->offs, (size_t)cap * sizeof(*offs))) == NULL)
		return STORE_ENOMEM;
	seg->offs = offs;
	oldw = ((size_t)seg->cap + 63) / 64;
	neww = ((size_t)cap + 63) / 64;
	if ((acked = realloc(seg->acked, neww * sizeof(*acked))) == NULL)
		return STORE_ENOMEM;
	memset(acked + oldw, 0, (neww - oldw) * sizeof(*acked));
	seg->acked = acked;
	seg->cap = cap;
	return STORE_OK;
}

/* Count the runs of acked records in [0, count). */
static uint32_t
seg_count_runs(const struct store_seg *seg)
{
	uint32_t i, runs = 0;
	bool     prev = false, cur;

	for (i = 0; i < seg->count; i++) {
		cur = bit_get(seg, i);
		if (cur && !prev)
			runs++;
		prev = cur;
	}
	return runs;
}

static char *
seg_path(const struct store_queue *q, uint64_t base)
{
	char name[32];

	snprintf(name, sizeof(name), "%016" PRIx64 ".seg", base);
	return store_path_join(q->path, name);
}

static struct store_seg *
seg_new(struct store_queue *q, uint64_t base)
{
	struct store_seg *seg = store_xrealloc(NULL, sizeof(*seg));

	memset(seg, 0, sizeof(*seg));
	seg->base = base;
	seg->path = seg_path(q, base);
	store_file_init(&seg->f, seg->path);
	return seg;
}

static void
seg_free(struct store *s, struct store_seg *seg)
{
	if (seg->f.fd >= 0)
		s->ops->close(seg->f.fd);
	free(seg->f.buf);
	free(seg->f.fl);
	free(seg->offs);
	free(seg->acked);
	free(seg->path);
	free(seg);
}

/* Close a segment's fd once nothing will write to it. */
void
store_seg_idle(struct store *s, struct store_seg *seg)
{
	if (seg->sealed && !seg->f.dirty && !seg->f.inflight && seg->f.fd >= 0) {
		s->ops->close(seg->f.fd);
		seg->f.fd = -1;
	}
}

static void
seg_seal(struct store_queue *q, struct store_seg *seg)
{
	seg->sealed = true;
	if (q->active == seg)
		q->active = NULL;
	store_seg_idle(q->s, seg);
}

/* Take segs[i] out of the queue and free it; its file stays. */
static void
seg_drop(struct store_queue *q, size_t i)
{
	struct store_seg *seg = q->segs[i];

	if (q->active == seg)
		q->active = NULL;
	if (q->rseg == seg) {
		q->s->ops->close(q->rfd);
		q->rfd = -1;
		q->rseg = NULL;
	}
	q->runs -= seg->runs;
	memmove(q->segs + i, q->segs + i + 1, (q->nsegs - i - 1) * sizeof(*q->segs));
	q->nsegs--;
	seg_free(q->s, seg);
}

static void
segs_push(struct store_queue *q, struct store_seg *seg)
{
	if (q->nsegs == q->capsegs) {
		q->capsegs = q->capsegs != 0 ? q->capsegs * 2 : 8;
		q->segs = store_xrealloc(q->segs, q->capsegs * sizeof(*q->segs));
	}
	q->segs[q->nsegs++] = seg;
}

/* The segment holding msg_id, or NULL. */
static struct store_seg *
seg_find(const struct store_queue *q, uint64_t id)
{
	size_t lo = 0, hi = q->nsegs, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (q->segs[mid]->base <= id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	if (id - q->segs[lo - 1]->base >= q->segs[lo - 1]->count)
		return NULL;
	return q->segs[lo - 1];
}

static void
seg_header(uint8_t *h, uint64_t base)
{
	memset(h, 0, STORE_SEG_HDR);
	memcpy(h, STORE_SEG_MAGIC, 8);
	store_put_le32(h + 8, STORE_FORMAT);
	store_put_le32(h + 12, STORE_SEG_HDR);
	store_put_le64(h + 16, base);
	store_put_le32(h + 28, store_crc32c(h, 28));
}

/* Start a new segment whose first record will be msg_id base. */
static int
seg_create(struct store_queue *q, uint64_t base, struct store_seg **out)
{
	struct store     *s = q->s;
	struct store_seg *seg = seg_new(q, base);
	uint8_t           h[STORE_SEG_HDR];
	int               rc;

	seg->f.fd = s->ops->open(seg->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (seg->f.fd < 0) {
		rc = store_err_from_errno(errno);
		store_logf(s, STORE_LOG_ERR, "create %s: %s", seg->path, strerror(errno));
		seg_free(s, seg);
		return rc == STORE_ENOSPC ? rc : STORE_EIO;
	}
	seg_header(h, base);
	if ((rc = store_file_append(s, &seg->f, h, sizeof(h), NULL, 0)) != STORE_OK) {
		s->ops->unlink(seg->path);
		seg_free(s, seg);
		return rc;
	}
	segs_push(q, seg);
	q->active = seg;
	q->dir_dirty = true;
	store_touch(q);
	*out = seg;
	return STORE_OK;
}

/*
 * The ack log.
 */

static void
ack_encode(uint8_t *p, int type, uint64_t a, uint64_t b)
{
	p[4] = STORE_ACK_MAGIC;
	p[5] = (uint8_t)type;
	store_put_le16(p + 6, 0);
	store_put_le64(p + 8, a);
	store_put_le64(p + 16, b);
	store_put_le32(p, store_crc32c(p + 4, STORE_ACK_REC - 4));
}

static bool
ack_valid(const uint8_t *p)
{
	return p[4] == STORE_ACK_MAGIC && p[5] >= STORE_ACK_HEADER &&
	    p[5] <= STORE_ACK_SEGMENT && store_get_le16(p + 6) == 0 &&
	    store_get_le32(p) == store_crc32c(p + 4, STORE_ACK_REC - 4);
}

/* Would a rewrite shrink the ack log to well under a quarter? */
static bool
ack_bloated(const struct store_queue *q)
{
	uint64_t keep = (uint64_t)STORE_ACK_REC * (3 + q->runs + q->dc.count);

	return q->ack.size >= q->s->compact_size && q->ack.size / 4 > keep;
}

static int
ack_append(struct store_queue *q, int type, uint64_t a, uint64_t b)
{
	struct store *s = q->s;
	uint8_t       rec[2 * STORE_ACK_REC];
	size_t        n = 0;
	int           rc;

	if (q->ack.fd < 0) {
		q->ack.fd = s->ops->open(q->ack_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (q->ack.fd < 0) {
			store_logf(s, STORE_LOG_ERR, "create %s: %s", q->ack_path,
			    strerror(errno));
			return STORE_EIO;
		}
		q->dir_dirty = true;
	}
	if (q->ack.size == 0) {
		ack_encode(rec, STORE_ACK_HEADER, STORE_ACK_FILE_ID, STORE_FORMAT);
		n += STORE_ACK_REC;
	}
	ack_encode(rec + n, type, a, b);
	n += STORE_ACK_REC;
	if ((rc = store_file_append(s, &q->ack, rec, n, NULL, 0)) != STORE_OK)
		return rc;
	if (ack_bloated(q))
		q->want_compact = true;
	return STORE_OK;
}

/* Walk the runs of set bits in seg's first count bits. */
static uint32_t
next_run(const struct store_seg *seg, uint32_t i, uint32_t *end)
{
	uint32_t n = seg->count;

	while (i < n) {
		uint64_t w = seg->acked[i / 64] >> (i % 64);

		if (w == 0) {
			i = (i / 64 + 1) * 64;
			continue;
		}
		i += (uint32_t)__builtin_ctzll(w);
		break;
	}
	if (i >= n) {
		*end = n;
		return n;
	}
	*end = i;
	while (*end < n) {
		uint64_t w = ~(seg->acked[*end / 64] >> (*end % 64));

		if (*end % 64 != 0)
			w &= ~(uint64_t)0 >> (*end % 64);
		if (w == 0) {
			*end = (*end / 64 + 1) * 64;
			continue;
		}
		*end += (uint32_t)__builtin_ctzll(w);
		break;
	}
	if (*end > n)
		*end = n;
	return i;
}

/*
 * The whole ack log as memory sees it: header, watermark, the segments, a
 * range per run of acked records, a delivery count per live message that
 * has one.  *out is malloc'd.
 */
static int
ack_image(struct store_queue *q, uint8_t **out, size_t *outlen)
{
	size_t   n = 2 + q->nsegs, i, k;
	uint32_t j, end;
	uint8_t *buf, *p;

	for (i = 0; i < q->nsegs; i++)
		for (j = next_run(q->segs[i], 0, &end); j < q->segs[i]->count;
		     j = next_run(q->segs[i], end, &end))
			n++;
	n += q->dc.count;
	if ((buf = malloc(n * STORE_ACK_REC)) == NULL)
		return STORE_ENOMEM;
	p = buf;
	ack_encode(p, STORE_ACK_HEADER, STORE_ACK_FILE_ID, STORE_FORMAT);
	p += STORE_ACK_REC;
	ack_encode(p, STORE_ACK_WATERMARK, q->next_id, q->nsegs);
	p += STORE_ACK_REC;
	for (i = 0; i < q->nsegs; i++) {
		ack_encode(p, STORE_ACK_SEGMENT, q->segs[i]->base, 0);
		p += STORE_ACK_REC;
	}
	for (i = 0; i < q->nsegs; i++) {
		struct store_seg *seg = q->segs[i];

		for (j = next_run(seg, 0, &end); j < seg->count; j = next_run(seg, end, &end)) {
			ack_encode(p, STORE_ACK_RANGE, seg->base + j, seg->base + end - 1);
			p += STORE_ACK_REC;
		}
	}
	for (k = 0; k < q->dc.cap; k++) {
		if (q->dc.keys[k] == 0)
			continue;
		ack_encode(p, STORE_ACK_DELIVERY, q->dc.keys[k], q->dc.vals[k]);
		p += STORE_ACK_REC;
	}
	*out = buf;
	*outlen = (size_t)(p - buf);
	return STORE_OK;
}

/* Switch the queue's ack log to fd, a new file of size bytes. */
static void
ack_switch(struct store_queue *q, int fd, uint64_t size)
{
	if (q->ack.fd >= 0)
		q->s->ops->close(q->ack.fd);
	free(q->ack.buf);
	store_file_init(&q->ack, q->ack_path);
	q->ack.fd = fd;
	q->ack.size = size;
}

/*
 * Rewrite the ack log as part of batch b: the image is written to
 * acks.log.tmp, fsynced, renamed over acks.log, and the folder fsynced.
 * Acks recorded meanwhile are appended to the new file.
 */
static void
ack_compact_batch(struct store_queue *q, struct store_batch *b)
{
	struct store *s = q->s;
	uint8_t      *img;
	size_t        len;
	int           fd;

	if (ack_image(q, &img, &len) != STORE_OK)
		return;
	fd = s->ops->open(q->ack_tmp_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		store_logf(s, STORE_LOG_WARNING, "create %s: %s", q->ack_tmp_path,
		    strerror(errno));
		free(img);
		return;
	}
	store_logf(s, STORE_LOG_DEBUG, "rewriting %s: %" PRIu64 " -> %zu bytes",
	    q->ack_path, q->ack.size, len);
	ack_switch(q, fd, len);
	q->ack.buf = img;
	q->ack.len = q->ack.cap = len;
	q->ack.dirty = true;
	q->want_compact = false;
	store_batch_add_write(b, &q->ack, NULL);
	store_batch_add_rename(b, q->ack_tmp_path, q->ack_path);
	store_batch_add_dir(b, q->path);
}

/* Rewrite the ack log now, durably (store_reset_failure). */
static int
ack_compact_now(struct store_queue *q)
{
	struct store *s = q->s;
	uint8_t      *img;
	size_t        len;
	int           fd, e = 0, rc;

	if ((rc = ack_image(q, &img, &len)) != STORE_OK)
		return rc;
	fd = s->ops->open(q->ack_tmp_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		e = errno;
	if (e == 0)
		e = -store_pwrite_full(s->ops, fd, img, len, 0);
	if (e == 0 && s->ops->fsync(fd) != 0)
		e = errno;
	if (e == 0 && s->ops->rename(q->ack_tmp_path, q->ack_path) != 0)
		e = errno;
	if (e == 0)
		e = -store_fsync_dir(s->ops, q->path);
	free(img);
	if (e != 0) {
		store_logf(s, STORE_LOG_WARNING, "rewrite %s: %s", q->ack_path, strerror(e));
		if (fd >= 0) {
			s->ops->close(fd);
			s->ops->unlink(q->ack_tmp_path);
		}
		return store_err_from_errno(e) == STORE_ENOSPC ? STORE_ENOSPC : STORE_EIO;
	}
	ack_switch(q, fd, len);
	q->ack.synced = len;
	q->want_compact = false;
	return STORE_OK;
}

/*
 * Opening, closing, listing, deleting.
 */

static bool
qid_valid(const char *qid)
{
	size_t i;

	if (qid == NULL || qid[0] == '\0' || qid[0] == '.')
		return false;
	for (i = 0; qid[i] != '\0'; i++) {
		char c = qid[i];

		if (i >= MAX_QID)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* Queue and stream ids share the rules. */
bool
store_id_valid(const char *id)
{
	return qid_valid(id);
}

static struct store_queue *
find_open(struct store_queue *list, const char *qid)
{
	for (; list != NULL; list = list->next)
		if (strcmp(list->qid, qid) == 0)
			return list;
	return NULL;
}

/* A segment file name: 16 lowercase hex digits and ".seg". */
static bool
parse_seg_name(const char *name, uint64_t *base)
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
	if (strcmp(name + 16, ".seg") != 0)
		return false;
	*base = v;
	return true;
}

static int
seg_cmp(const void *a, const void *b)
{
	const struct store_seg *x = *(struct store_seg *const *)a;
	const struct store_seg *y = *(struct store_seg *const *)b;

	return x->base < y->base ? -1 : x->base > y->base;
}

static void
queue_free(struct store_queue *q)
{
	size_t i;

	for (i = 0; i < q->nsegs; i++)
		seg_free(q->s, q->segs[i]);
	free(q->segs);
	if (q->ack.fd >= 0)
		q->s->ops->close(q->ack.fd);
	if (q->rfd >= 0)
		q->s->ops->close(q->rfd);
	free(q->ack.buf);
	free(q->ack.fl);
	idmap_free(&q->dc);
	free(q->qid);
	free(q->path);
	free(q->ack_path);
	free(q->ack_tmp_path);
	free(q);
}

/* List the folder: segments (sorted), sizes; drop a stale rewrite. */
static int
queue_scan_dir(struct store_queue *q)
{
	struct store  *s = q->s;
	DIR           *d;
	struct dirent *de;
	struct stat    st;
	uint64_t       base;

	if ((d = opendir(q->path)) == NULL) {
		store_logf(s, STORE_LOG_ERR, "opendir %s: %s", q->path, strerror(errno));
		return STORE_EIO;
	}
	while ((de = readdir(d)) != NULL) {
		if (parse_seg_name(de->d_name, &base)) {
			struct store_seg *seg = seg_new(q, base);

			if (stat(seg->path, &st) == 0)
				seg->f.size = seg->f.synced = (uint64_t)st.st_size;
			seg->sealed = true;
			segs_push(q, seg);
		} else if (strcmp(de->d_name, "acks.log") == 0) {
			if (stat(q->ack_path, &st) == 0)
				q->ack.size = q->ack.synced = (uint64_t)st.st_size;
		} else if (strcmp(de->d_name, "acks.log.tmp") == 0) {
			s->ops->unlink(q->ack_tmp_path);
		}
	}
	closedir(d);
	if (q->nsegs > 1)
		qsort(q->segs, q->nsegs, sizeof(*q->segs), seg_cmp);
	return STORE_OK;
}

int
store_queue_open(struct store *s, const char *qid, struct store_queue **out)
{
	struct store_queue *q;
	int                 rc;

	*out = NULL;
	if (!qid_valid(qid))
		return STORE_EINVAL;
	if (find_open(s->queues, qid) != NULL || find_open(s->zombies, qid) != NULL)
		return STORE_EINVAL;
	q = store_xrealloc(NULL, sizeof(*q));
	memset(q, 0, sizeof(*q));
	q->s = s;
	q->qid = store_xstrdup(qid);
	q->path = store_path_join(s->qdir, qid);
	q->ack_path = store_path_join(q->path, "acks.log");
	q->ack_tmp_path = store_path_join(q->path, "acks.log.tmp");
	store_file_init(&q->ack, q->ack_path);
	q->rfd = -1;
	q->next_id = 1;
	if (mkdir(q->path, 0755) == 0) {
		s->qdir_dirty = true;
	} else if (errno != EEXIST) {
		int e = errno;

		store_logf(s, STORE_LOG_ERR, "mkdir %s: %s", q->path, strerror(e));
		queue_free(q);
		return store_err_from_errno(e) == STORE_ENOSPC ? STORE_ENOSPC : STORE_EIO;
	}
	if ((rc = queue_scan_dir(q)) != STORE_OK) {
		queue_free(q);
		return rc;
	}
	q->next = s->queues;
	if (s->queues != NULL)
		s->queues->prev = q;
	s->queues = q;
	*out = q;
	return STORE_OK;
}

static void
queue_unlink_list(struct store_queue *q)
{
	struct store *s = q->s;

	if (q->prev != NULL)
		q->prev->next = q->next;
	else if (s->queues == q)
		s->queues = q->next;
	else
		s->zombies = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	q->prev = q->next = NULL;
}

/* Write out and fsync one queue now, outside any batch. */
static int
queue_sync_now(struct store_queue *q)
{
	struct store      *s = q->s;
	struct store_batch b;
	int                rc;

	memset(&b, 0, sizeof(b));
	b.ops = s->ops;
	store_queue_prepare(s, q, &b);
	if (s->qdir_dirty) {
		store_batch_add_dir(&b, s->qdir);
		s->qdir_dirty = false;
	}
	store_sync_perform(&b);
	rc = store_batch_finish(s, &b);
	store_batch_free(&b);
	return rc;
}

/* The real close: a final sync, then free. */
void
store_queue_finish(struct store_queue *q)
{
	struct store *s = q->s;

	if (q->touched && s->failed == 0 && q->recovered)
		queue_sync_now(q);
	store_untouch(q);
	queue_unlink_list(q);
	queue_free(q);
}

void
store_queue_close(struct store_queue *q)
{
	struct store *s;

	if (q == NULL)
		return;
	s = q->s;
	if (!s->in_flight) {
		store_queue_finish(q);
		return;
	}
	/* The batch in flight may point into q: finish when it completes. */
	queue_unlink_list(q);
	q->next = s->zombies;
	if (s->zombies != NULL)
		s->zombies->prev = q;
	s->zombies = q;
}

/*
 * Remove parent/id and everything in it, renamed aside first: a crash
 * leaves a ".del." folder that store_open() removes, never a queue or a
 * stream with some files missing.
 */
int
store_dir_delete(struct store *s, const char *parent, const char *id)
{
	struct stat st;
	char       *path, *trash, name[MAX_QID + 32];
	unsigned    n;
	int         rc, e;

	path = store_path_join(parent, id);
	if (stat(path, &st) != 0) {
		free(path);
		return STORE_NOTFOUND;
	}
	for (n = 0;; n++) {
		snprintf(name, sizeof(name), ".del.%s.%u", id, n);
		trash = store_path_join(parent, name);
		if (s->ops->rename(path, trash) == 0)
			break;
		e = errno;
		free(trash);
		if ((e != EEXIST && e != ENOTEMPTY) || n == 1000) {
			store_logf(s, STORE_LOG_ERR, "rename %s: %s", path, strerror(e));
			free(path);
			return STORE_EIO;
		}
	}
	free(path);
	if ((e = store_fsync_dir(s->ops, parent)) != 0)
		store_logf(s, STORE_LOG_WARNING, "fsync %s: %s", parent, strerror(-e));
	rc = store_remove_tree(s, trash);
	free(trash);
	if ((e = store_fsync_dir(s->ops, parent)) != 0)
		store_logf(s, STORE_LOG_WARNING, "fsync %s: %s", parent, strerror(-e));
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* Call fn with the name of every folder in parent that is a valid id. */
int
store_dir_list(struct store *s, const char *parent, void (*fn)(void *arg, const char *id),
               void *arg)
{
	DIR           *d;
	struct dirent *de;
	struct stat    st;
	char          *p;

	if ((d = opendir(parent)) == NULL) {
		store_logf(s, STORE_LOG_ERR, "opendir %s: %s", parent, strerror(errno));
		return STORE_EIO;
	}
	while ((de = readdir(d)) != NULL) {
		if (!qid_valid(de->d_name))
			continue;
		p = store_path_join(parent, de->d_name);
		if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
			fn(arg, de->d_name);
		free(p);
	}
	closedir(d);
	return STORE_OK;
}

int
store_queue_delete(struct store *s, const char *qid)
{
	if (!qid_valid(qid))
		return STORE_EINVAL;
	if (find_open(s->queues, qid) != NULL || find_open(s->zombies, qid) != NULL)
		return STORE_EINVAL;
	return store_dir_delete(s, s->qdir, qid);
}

int
store_queue_list(struct store *s, void (*fn)(void *arg, const char *qid), void *arg)
{
	return store_dir_list(s, s->qdir, fn, arg);
}

uint64_t
store_queue_disk_size(const struct store_queue *q)
{
	uint64_t n = q->ack.size;
	size_t   i;

	for (i = 0; i < q->nsegs; i++)
		n += q->segs[i]->f.size;
	return n;
}

uint64_t
store_queue_next_id(const struct store_queue *q)
{
	return q->next_id;
}

/*
 * Recovery.
 */

struct ack_range {
	uint64_t first, last;
};

/* What the ack log says, gathered before the segments are read. */
struct ack_scan {
	struct ack_range  *r;     /* sorted and merged after loading */
	size_t             n, cap;
	size_t             cur;   /* cursor while segments are read in order */
	struct store_idmap dc;    /* delivery counts, any id */
	uint64_t           max_id;
	uint64_t           watermark;
	uint64_t           wm_segs;   /* SEGMENT records the last rewrite wrote */
	uint64_t          *segs;      /* their bases */
	size_t             nsegs, capsegs;
};

static int
range_cmp(const void *a, const void *b)
{
	const struct ack_range *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

static int
scan_add(struct ack_scan *as, uint64_t first, uint64_t last)
{
	if (as->n == as->cap) {
		size_t            cap = as->cap != 0 ? as->cap * 2 : 1024;
		struct ack_range *r = realloc(as->r, cap * sizeof(*r));

		if (r == NULL)
			return STORE_ENOMEM;
		as->r = r;
		as->cap = cap;
	}
	if (as->n > 0 && as->r[as->n - 1].last + 1 == first) {
		as->r[as->n - 1].last = last;   /* the usual case: acks in order */
		return STORE_OK;
	}
	as->r[as->n].first = first;
	as->r[as->n].last = last;
	as->n++;
	return STORE_OK;
}

static void
scan_normalize(struct ack_scan *as)
{
	size_t i, n = 0;
	bool   sorted = true;

	for (i = 1; i < as->n && sorted; i++)
		sorted = as->r[i - 1].first <= as->r[i].first;
	if (!sorted)
		qsort(as->r, as->n, sizeof(*as->r), range_cmp);
	for (i = 0; i < as->n; i++) {
		if (n > 0 && as->r[i].first <= as->r[n - 1].last + 1) {
			if (as->r[i].last > as->r[n - 1].last)
				as->r[n - 1].last = as->r[i].last;
		} else {
			as->r[n++] = as->r[i];
		}
	}
	as->n = n;
	as->cur = 0;
}

/* Is msg_id acked?  Called with ids in increasing order. */
static bool
scan_acked(struct ack_scan *as, uint64_t id)
{
	while (as->cur < as->n && as->r[as->cur].last < id)
		as->cur++;
	return as->cur < as->n && as->r[as->cur].first <= id;
}

static void
scan_free(struct ack_scan *as)
{
	free(as->r);
	free(as->segs);
	idmap_free(&as->dc);
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Was the segment starting at base deleted before the last rewrite of the
 * ack log?  Only if that rewrite's segment list arrived whole.
 */
static bool
scan_seg_deleted(const struct ack_scan *as, uint64_t base)
{
	if (as->watermark == 0 || as->nsegs != as->wm_segs || base >= as->watermark)
		return false;
	return bsearch(&base, as->segs, as->nsegs, sizeof(*as->segs), u64_cmp) == NULL;
}

/*
 * Read the ack log into as, and keep it open for appending.  A bad record
 * is skipped (each record stands alone, and replaying a real ack is always
 * right); bad bytes at the end are cut off.
 */
static int
ack_load(struct store_queue *q, struct ack_scan *as)
{
	struct store *s = q->s;
	struct stat   st;
	uint8_t      *buf = NULL;
	uint64_t      off, good_end = 0, first_bad = 0, nbad = 0, fsize;
	long long     got;
	size_t        i;
	int           fd, rc = STORE_OK;

	fd = s->ops->open(q->ack_path, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0) {
		if (errno == ENOENT) {
			q->ack.size = q->ack.synced = 0;
			return STORE_OK;
		}
		store_logf(s, STORE_LOG_ERR, "open %s: %s", q->ack_path, strerror(errno));
		return STORE_EIO;
	}
	if (fstat(fd, &st) != 0) {
		store_logf(s, STORE_LOG_ERR, "stat %s: %s", q->ack_path, strerror(errno));
		s->ops->close(fd);
		return STORE_EIO;
	}
	fsize = (uint64_t)st.st_size;
	if ((buf = malloc(ACK_CHUNK)) == NULL) {
		s->ops->close(fd);
		return STORE_ENOMEM;
	}
	for (off = 0; off + STORE_ACK_REC <= fsize; off += (uint64_t)got) {
		got = store_pread_full(s->ops, fd, buf, ACK_CHUNK, off);
		if (got < 0) {
			store_logf(s, STORE_LOG_ERR, "read %s: %s", q->ack_path,
			    strerror((int)-got));
			rc = STORE_EIO;
			goto out;
		}
		got -= got % STORE_ACK_REC;
		if (got == 0)
			break;
		for (i = 0; i < (size_t)got; i += STORE_ACK_REC) {
			const uint8_t *p = buf + i;
			uint64_t       a = store_get_le64(p + 8), b = store_get_le64(p + 16);

			if (!ack_valid(p)) {
				if (nbad++ == 0)
					first_bad = off + i;
				continue;
			}
			good_end = off + i + STORE_ACK_REC;
			switch (p[5]) {
			case STORE_ACK_ONE:
				b = a;
				/* fall through */
			case STORE_ACK_RANGE:
				if (a == 0 || b < a)
					break;
				if (scan_add(as, a, b) != STORE_OK) {
					rc = STORE_ENOMEM;
					goto out;
				}
				if (b > as->max_id)
					as->max_id = b;
				break;
			case STORE_ACK_DELIVERY:
				if (a == 0)
					break;
				if (idmap_put(&as->dc, a, (uint32_t)b) != STORE_OK) {
					rc = STORE_ENOMEM;
					goto out;
				}
				if (a > as->max_id)
					as->max_id = a;
				break;
			case STORE_ACK_WATERMARK:
				as->watermark = a;
				as->wm_segs = b;
				as->nsegs = 0;
				break;
			case STORE_ACK_SEGMENT:
				if (as->nsegs == as->capsegs) {
					size_t    cap = as->capsegs != 0 ? as->capsegs * 2 : 64;
					uint64_t *v = realloc(as->segs, cap * sizeof(*v));

					if (v == NULL) {
						rc = STORE_ENOMEM;
						goto out;
					}
					as->segs = v;
					as->capsegs = cap;
				}
				as->segs[as->nsegs++] = a;
				break;
			default:
				break;
			}
		}
	}
	if (nbad > 0)
		store_logf(s, STORE_LOG_WARNING, "%s: %" PRIu64 " bad record(s), the "
		    "first at offset %" PRIu64 "; skipped", q->ack_path, nbad, first_bad);
	if (good_end < fsize) {
		store_logf(s, STORE_LOG_WARNING, "%s: torn or bad tail at offset %"
		    PRIu64 "; truncating %" PRIu64 " bytes", q->ack_path, good_end,
		    fsize - good_end);
		if (s->ops->ftruncate(fd, (off_t)good_end) != 0 || s->ops->fsync(fd) != 0) {
			store_logf(s, STORE_LOG_ERR, "truncate %s: %s", q->ack_path,
			    strerror(errno));
			rc = STORE_EIO;
			goto out;
		}
	}
	if (nbad > 0)
		q->want_compact = true;
	if (q->ack.fd >= 0)
		s->ops->close(q->ack.fd);
	q->ack.fd = fd;
	fd = -1;
	q->ack.size = q->ack.synced = good_end;
out:
	if (fd >= 0)
		s->ops->close(fd);
	free(buf);
	return rc;
}

/* Sequential reads through a window of at least READ_CHUNK bytes. */
struct reader {
	struct store *s;
	int           fd;
	uint64_t      fsize;
	uint8_t      *buf;
	size_t        cap;
	uint64_t      pos;   /* file offset of buf[0] */
	size_t        len;
	int           err;   /* errno of a failed read */
};

/*
 * Make [off, off + n) available in *out; the caller has checked that it
 * lies within the file.  STORE_EIO (r->err says why) or STORE_ENOMEM.
 */
static int
reader_get(struct reader *r, uint64_t off, size_t n, const uint8_t **out)
{
	long long got;
	size_t    keep = 0, want;

	if (off >= r->pos && off + n <= r->pos + r->len) {
		*out = r->buf + (off - r->pos);
		return STORE_OK;
	}
	if (off >= r->pos && off < r->pos + r->len)
		keep = (size_t)(r->pos + r->len - off);
	if (n > r->cap) {
		uint8_t *p = malloc(n);

		if (p == NULL)
			return STORE_ENOMEM;
		if (keep > 0)
			memcpy(p, r->buf + (off - r->pos), keep);
		free(r->buf);
		r->buf = p;
		r->cap = n;
	} else if (keep > 0) {
		memmove(r->buf, r->buf + (off - r->pos), keep);
	}
	r->pos = off;
	r->len = keep;
	want = r->cap - keep;
	if (want > r->fsize - (off + keep))
		want = (size_t)(r->fsize - (off + keep));
	got = store_pread_full(r->s->ops, r->fd, r->buf + keep, want, off + keep);
	if (got < 0) {
		r->err = (int)-got;
		return STORE_EIO;
	}
	r->len += (size_t)got;
	if (r->len < n) {
		r->err = EIO;   /* the file shrank under us */
		return STORE_EIO;
	}
	*out = r->buf;
	return STORE_OK;
}

typedef void store_recover_fn(void *arg, uint64_t msg_id, const void *rec, size_t len,
                              uint32_t delivery_count);

/*
 * Read one segment, index its records, report the live ones; cut it at the
 * first bad record.  A damaged header does not end the segment (the name
 * says where it starts and every record has its own checksum); it is
 * rewritten if records follow.  STORE_CORRUPT if the file cannot be part of
 * the log: it overlaps the segment before (whose last msg_id is
 * prev_last), or its intact header names another first msg_id.
 */
static int
seg_load(struct store_queue *q, struct store_seg *seg, struct ack_scan *as,
         struct reader *r, uint64_t prev_last, store_recover_fn *fn, void *arg)
{
	struct store  *s = q->s;
	struct stat    st;
	const uint8_t *p;
	const char    *why = NULL, *bad_header = NULL;
	uint64_t       end = STORE_SEG_HDR, fsize;
	int            rc;

	seg->count = seg->live = seg->runs = 0;
	if (seg->base <= prev_last)
		return STORE_CORRUPT;
	if (seg->f.fd < 0)
		seg->f.fd = s->ops->open(seg->path, O_RDWR | O_CLOEXEC, 0);
	if (seg->f.fd < 0 || fstat(seg->f.fd, &st) != 0) {
		store_logf(s, STORE_LOG_ERR, "open %s: %s", seg->path, strerror(errno));
		return STORE_EIO;
	}
	fsize = (uint64_t)st.st_size;
	r->fd = seg->f.fd;
	r->fsize = fsize;
	r->pos = r->len = 0;

	if (fsize < STORE_SEG_HDR) {
		why = "short segment header";
		end = 0;
	} else {
		if ((rc = reader_get(r, 0, STORE_SEG_HDR, &p)) != STORE_OK)
			goto io_error;
		if (memcmp(p, STORE_SEG_MAGIC, 8) != 0 ||
		    store_get_le32(p + 8) != STORE_FORMAT ||
		    store_get_le32(p + 12) != STORE_SEG_HDR ||
		    store_get_le32(p + 28) != store_crc32c(p, 28))
			bad_header = "bad segment header";
		else if (store_get_le64(p + 16) != seg->base)
			return STORE_CORRUPT;   /* renamed by hand? keep it for people */
	}
	while (why == NULL && end < fsize) {
		uint32_t len, crc;
		uint64_t id = seg->base + seg->count;

		if (fsize - end < STORE_REC_HDR) {
			why = "torn record header";
			break;
		}
		if ((rc = reader_get(r, end, STORE_REC_HDR, &p)) != STORE_OK)
			goto io_error;
		len = store_get_le32(p + 8);
		if (store_get_le32(p + 4) != STORE_REC_MAGIC ||
		    store_get_le16(p + 12) != STORE_REC_MESSAGE ||
		    store_get_le16(p + 14) != 0) {
			why = "bad record header";
			break;
		}
		if (len > STORE_MAX_RECORD || len > fsize - end - STORE_REC_HDR) {
			why = "record runs past the end of the file (torn)";
			break;
		}
		if (store_get_le64(p + 16) != id) {
			why = "record has an unexpected msg_id";
			break;
		}
		if ((rc = reader_get(r, end, STORE_REC_HDR + (size_t)len, &p)) != STORE_OK)
			goto io_error;
		crc = store_crc32c_update(store_crc32c(p + 4, STORE_REC_HDR - 4),
		    p + STORE_REC_HDR, len);
		if (crc != store_get_le32(p)) {
			why = "checksum mismatch";
			break;
		}
		if (seg->count == UINT32_MAX || end + STORE_REC_HDR + len > UINT32_MAX) {
			why = "segment too large";
			break;
		}
		if ((rc = seg_reserve(seg, seg->count + 1)) != STORE_OK)
			return rc;
		seg->offs[seg->count] = (uint32_t)end;
		if (scan_acked(as, id)) {
			if (seg->count == 0 || !bit_get(seg, seg->count - 1))
				seg->runs++;
			bit_set(seg, seg->count);
		} else {
			uint32_t dc = idmap_get(&as->dc, id);

			bit_clear(seg, seg->count);
			seg->live++;
			if (dc != 0 && idmap_put(&q->dc, id, dc) != STORE_OK)
				return STORE_ENOMEM;
			if (fn != NULL)
				fn(arg, id, p + STORE_REC_HDR, len, dc);
		}
		seg->count++;
		end += STORE_REC_HDR + (uint64_t)len;
	}
	if (why != NULL) {
		store_logf(s, STORE_LOG_WARNING, "%s: %s at offset %" PRIu64 "; keeping %"
		    PRIu32 " record(s) before it, truncating %" PRIu64 " byte(s)",
		    seg->path, why, end, seg->count, fsize - end);
		if (s->ops->ftruncate(seg->f.fd, (off_t)end) != 0 ||
		    s->ops->fsync(seg->f.fd) != 0) {
			store_logf(s, STORE_LOG_ERR, "truncate %s: %s", seg->path,
			    strerror(errno));
			return STORE_EIO;
		}
	}
	if (bad_header != NULL && seg->count > 0) {
		uint8_t h[STORE_SEG_HDR];
		int     e;

		store_logf(s, STORE_LOG_WARNING, "%s: %s; %" PRIu32 " record(s) follow "
		    "it, rewriting the header", seg->path, bad_header, seg->count);
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
	store_logf(s, STORE_LOG_ERR, "read %s: %s", seg->path, strerror(r->err));
	return STORE_EIO;
}

/* A segment that cannot belong to the log: keep it aside for people. */
static void
seg_set_aside(struct store_queue *q, struct store_seg *seg)
{
	struct store *s = q->s;
	size_t        n = strlen(seg->path);
	char         *to = store_xrealloc(NULL, n + sizeof(".corrupt"));

	memcpy(to, seg->path, n);
	memcpy(to + n, ".corrupt", sizeof(".corrupt"));
	store_logf(s, STORE_LOG_ERR, "%s does not fit in the log (it overlaps the "
	    "segment before it, or its header names another start); renamed to %s",
	    seg->path, to);
	if (s->ops->rename(seg->path, to) != 0)
		store_logf(s, STORE_LOG_ERR, "rename %s: %s", seg->path, strerror(errno));
	free(to);
}

static int
queue_recover(struct store_queue *q, store_recover_fn *fn, void *arg)
{
	struct store   *s = q->s;
	struct ack_scan as;
	struct reader   r;
	uint64_t        prev_last = 0, next = 1;
	size_t          i;
	int             rc;

	memset(&as, 0, sizeof(as));
	memset(&r, 0, sizeof(r));
	r.s = s;
	idmap_free(&q->dc);
	if ((rc = ack_load(q, &as)) != STORE_OK)
		goto out;
	scan_normalize(&as);
	if (as.nsegs > 1)
		qsort(as.segs, as.nsegs, sizeof(*as.segs), u64_cmp);
	if ((r.buf = malloc(READ_CHUNK)) == NULL) {
		rc = STORE_ENOMEM;
		goto out;
	}
	r.cap = READ_CHUNK;

	for (i = 0; i < q->nsegs;) {
		struct store_seg *seg = q->segs[i];

		if (scan_seg_deleted(&as, seg->base)) {
			store_logf(s, STORE_LOG_INFO, "%s was deleted before the ack log "
			    "was last rewritten; removing it again", seg->path);
			if (s->ops->unlink(seg->path) != 0 && errno != ENOENT)
				store_logf(s, STORE_LOG_WARNING, "unlink %s: %s",
				    seg->path, strerror(errno));
			seg_drop(q, i);
			continue;
		}
		rc = seg_load(q, seg, &as, &r, prev_last, fn, arg);
		if (rc == STORE_CORRUPT) {
			seg_set_aside(q, seg);
			seg_drop(q, i);
			continue;
		}
		if (rc != STORE_OK)
			goto out;
		if (seg->count > 0) {
			prev_last = seg->base + seg->count - 1;
			next = prev_last + 1;
		}
		i++;
	}
	if (as.max_id + 1 > next)
		next = as.max_id + 1;
	if (as.watermark > next)
		next = as.watermark;
	q->next_id = next;

	/* Drop what holds nothing live; keep the tail appendable. */
	q->runs = 0;
	for (i = 0; i < q->nsegs;) {
		struct store_seg *seg = q->segs[i];

		seg->sealed = true;
		if (seg->live == 0) {
			store_logf(s, STORE_LOG_DEBUG, "%s: %s; removing", seg->path,
			    seg->count == 0 ? "no records" : "all acked");
			if (s->ops->unlink(seg->path) != 0 && errno != ENOENT)
				store_logf(s, STORE_LOG_WARNING, "unlink %s: %s",
				    seg->path, strerror(errno));
			q->runs += seg->runs;
			seg_drop(q, i);
			continue;
		}
		q->runs += seg->runs;
		i++;
	}
	for (i = 0; i < q->nsegs; i++) {
		struct store_seg *seg = q->segs[i];

		if (i + 1 == q->nsegs && seg->base + seg->count == q->next_id &&
		    seg->f.size < s->seg_size)
			seg->sealed = false;
		else
			store_seg_idle(s, seg);
	}
	if (q->nsegs > 0 && !q->segs[q->nsegs - 1]->sealed)
		q->active = q->segs[q->nsegs - 1];
	q->recovered = true;
	if (q->want_compact || ack_bloated(q)) {
		q->want_compact = true;
		store_touch(q);
	}
	rc = STORE_OK;
out:
	free(r.buf);
	scan_free(&as);
	return rc;
}

static int
queue_ready(struct store_queue *q)
{
	if (q->recovered)
		return STORE_OK;
	return queue_recover(q, NULL, NULL);
}

int
store_recover(struct store_queue *q, store_recover_fn *fn, void *arg)
{
	if (q->recovered)
		return STORE_EINVAL;
	return queue_recover(q, fn, arg);
}

/*
 * Records.
 */

int
store_append(struct store_queue *q, const void *rec, size_t len, uint64_t *msg_id)
{
	struct store     *s = q->s;
	struct store_seg *seg;
	uint8_t           h[STORE_REC_HDR];
	uint64_t          off;
	int               rc;

	if (s->failed != 0)
		return STORE_FAILED;
	if (len > STORE_MAX_RECORD || (rec == NULL && len > 0) || msg_id == NULL)
		return STORE_EINVAL;
	if ((rc = queue_ready(q)) != STORE_OK)
		return rc;
	seg = q->active;
	if (seg != NULL && (seg->base + seg->count != q->next_id ||
	    (seg->count > 0 && seg->f.size + STORE_REC_HDR + len > s->seg_size))) {
		seg_seal(q, seg);
		seg = NULL;
	}
	if (seg == NULL && (rc = seg_create(q, q->next_id, &seg)) != STORE_OK)
		return rc;
	if ((rc = seg_reserve(seg, seg->count + 1)) != STORE_OK)
		return rc;
	off = seg->f.size;
	store_put_le32(h + 4, STORE_REC_MAGIC);
	store_put_le32(h + 8, (uint32_t)len);
	store_put_le16(h + 12, STORE_REC_MESSAGE);
	store_put_le16(h + 14, 0);
	store_put_le64(h + 16, q->next_id);
	store_put_le32(h, store_crc32c_update(store_crc32c(h + 4, STORE_REC_HDR - 4),
	    rec, len));
	if ((rc = store_file_append(s, &seg->f, h, sizeof(h), rec, len)) != STORE_OK)
		return rc;
	seg->offs[seg->count] = (uint32_t)off;
	bit_clear(seg, seg->count);
	seg->count++;
	seg->live++;
	*msg_id = q->next_id++;
	store_touch(q);
	return STORE_OK;
}

int
store_ack(struct store_queue *q, uint64_t msg_id)
{
	struct store_seg *seg;
	uint32_t          i;
	int               rc;

	if ((rc = queue_ready(q)) != STORE_OK)
		return rc;
	if ((seg = seg_find(q, msg_id)) == NULL)
		return STORE_NOTFOUND;
	i = (uint32_t)(msg_id - seg->base);
	if (bit_get(seg, i))
		return STORE_OK;
	bit_set(seg, i);
	seg->live--;
	/* An ack joins up to two runs of acked neighbours. */
	seg->runs++;
	q->runs++;
	if (i > 0 && bit_get(seg, i - 1)) {
		seg->runs--;
		q->runs--;
	}
	if (i + 1 < seg->count && bit_get(seg, i + 1)) {
		seg->runs--;
		q->runs--;
	}
	idmap_del(&q->dc, msg_id);
	/* If it cannot be logged now, a rewrite from memory will hold it. */
	if (q->s->failed == 0 && ack_append(q, STORE_ACK_ONE, msg_id, 0) != STORE_OK)
		q->want_compact = true;
	if (seg->live == 0)
		q->want_reclaim = true;
	store_touch(q);
	return STORE_OK;
}

int
store_set_delivery_count(struct store_queue *q, uint64_t msg_id, uint32_t n)
{
	struct store_seg *seg;
	int               rc;

	if ((rc = queue_ready(q)) != STORE_OK)
		return rc;
	if ((seg = seg_find(q, msg_id)) == NULL || bit_get(seg, (uint32_t)(msg_id - seg->base)))
		return STORE_NOTFOUND;
	if (n == 0)
		idmap_del(&q->dc, msg_id);
	else if (idmap_put(&q->dc, msg_id, n) != STORE_OK)
		return STORE_ENOMEM;
	if (q->s->failed == 0 && ack_append(q, STORE_ACK_DELIVERY, msg_id, n) != STORE_OK)
		q->want_compact = true;
	store_touch(q);
	return STORE_OK;
}

/* An fd to read seg with: its own, or the queue's cached one. */
static int
seg_read_fd(struct store_queue *q, struct store_seg *seg)
{
	struct store *s = q->s;

	if (seg->f.fd >= 0)
		return seg->f.fd;
	if (q->rseg == seg)
		return q->rfd;
	if (q->rfd >= 0)
		s->ops->close(q->rfd);
	q->rseg = NULL;
	if ((q->rfd = s->ops->open(seg->path, O_RDONLY | O_CLOEXEC, 0)) < 0) {
		store_logf(s, STORE_LOG_ERR, "open %s: %s", seg->path, strerror(errno));
		return -1;
	}
	q->rseg = seg;
	return q->rfd;
}

int
store_read(struct store_queue *q, uint64_t msg_id, void **bufp, size_t *lenp)
{
	struct store      *s = q->s;
	struct store_seg  *seg;
	struct store_file *f;
	const uint8_t     *src = NULL;
	uint8_t           *p;
	uint64_t           off, end;
	uint32_t           i;
	size_t             n, len;
	long long          got;
	int                fd, rc;

	if ((rc = queue_ready(q)) != STORE_OK)
		return rc;
	if ((seg = seg_find(q, msg_id)) == NULL)
		return STORE_NOTFOUND;
	i = (uint32_t)(msg_id - seg->base);
	if (bit_get(seg, i))
		return STORE_NOTFOUND;
	f = &seg->f;
	off = seg->offs[i];
	end = i + 1 < seg->count ? seg->offs[i + 1] : f->size;
	n = (size_t)(end - off);
	len = n - STORE_REC_HDR;

	if (off >= f->size - f->len)
		src = f->buf + (off - (f->size - f->len));
	else if (f->fl != NULL && off >= f->fl_off && off < f->fl_off + f->fl_len)
		src = f->fl + (off - f->fl_off);
	if (src != NULL) {
		if ((p = malloc(len != 0 ? len : 1)) == NULL)
			return STORE_ENOMEM;
		memcpy(p, src + STORE_REC_HDR, len);
		*bufp = p;
		*lenp = len;
		return STORE_OK;
	}

	if ((fd = seg_read_fd(q, seg)) < 0)
		return STORE_EIO;
	if ((p = malloc(n)) == NULL)
		return STORE_ENOMEM;
	got = store_pread_full(s->ops, fd, p, n, off);
	if (got != (long long)n) {
		store_logf(s, STORE_LOG_ERR, "read %s at offset %" PRIu64 ": %s", seg->path,
		    off, got < 0 ? strerror((int)-got) : "short read");
		free(p);
		return STORE_EIO;
	}
	if (store_get_le32(p + 4) != STORE_REC_MAGIC || store_get_le32(p + 8) != len ||
	    store_get_le64(p + 16) != msg_id ||
	    store_get_le32(p) != store_crc32c_update(store_crc32c(p + 4,
	    STORE_REC_HDR - 4), p + STORE_REC_HDR, len)) {
		store_logf(s, STORE_LOG_ERR, "%s: record %" PRIu64 " at offset %" PRIu64
		    " fails its checksum", seg->path, msg_id, off);
		free(p);
		return STORE_CORRUPT;
	}
	memmove(p, p + STORE_REC_HDR, len);
	*bufp = p;
	*lenp = len;
	return STORE_OK;
}

/*
 * Group commit: the queue's share of a batch.
 */

static bool
seg_reclaimable(const struct store *s, const struct store_seg *seg)
{
	uint64_t active_min = s->seg_size / 4 < RECLAIM_ACTIVE ? s->seg_size / 4 :
	    RECLAIM_ACTIVE;

	return seg->count > 0 && seg->live == 0 &&
	    (seg->sealed || seg->f.size >= active_min);
}

void
store_queue_prepare(struct store *s, struct store_queue *q, struct store_batch *b)
{
	size_t i;

	store_untouch(q);
	if (!q->recovered)
		return;
	if (q->want_reclaim) {
		q->want_reclaim = false;
		for (i = 0; i < q->nsegs;) {
			struct store_seg *seg = q->segs[i];

			if (!seg_reclaimable(s, seg)) {
				i++;
				continue;
			}
			store_batch_add_unlink(b, store_xstrdup(seg->path));
			seg_drop(q, i);
		}
	}
	if (q->want_compact || ack_bloated(q))
		ack_compact_batch(q, b);
	for (i = 0; i < q->nsegs; i++)
		if (q->segs[i]->f.dirty)
			store_batch_add_write(b, &q->segs[i]->f, q->segs[i]);
	if (q->ack.dirty)
		store_batch_add_write(b, &q->ack, NULL);
	if (q->dir_dirty) {
		store_batch_add_dir(b, q->path);
		q->dir_dirty = false;
	}
}

/*
 * The failed state (see store.c).
 */

/* Unlink segments all acked and sealed, now: the disk may need the room. */
void
store_queue_reclaim_now(struct store_queue *q)
{
	struct store *s = q->s;
	size_t        i;

	for (i = 0; i < q->nsegs;) {
		struct store_seg *seg = q->segs[i];

		if (!seg->sealed || seg->count == 0 || seg->live != 0) {
			i++;
			continue;
		}
		if (s->ops->unlink(seg->path) != 0 && errno != ENOENT) {
			store_logf(s, STORE_LOG_WARNING, "unlink %s: %s", seg->path,
			    strerror(errno));
			i++;
			continue;
		}
		seg_drop(q, i);
	}
}

static void
dc_prune(struct store_queue *q)
{
	struct store_idmap keep;
	size_t             k;

	memset(&keep, 0, sizeof(keep));
	for (k = 0; k < q->dc.cap; k++) {
		uint64_t          id = q->dc.keys[k];
		struct store_seg *seg;

		if (id == 0 || (seg = seg_find(q, id)) == NULL ||
		    bit_get(seg, (uint32_t)(id - seg->base)))
			continue;
		if (idmap_put(&keep, id, q->dc.vals[k]) != STORE_OK)
			break;   /* keep what fits; a count is not a message */
	}
	idmap_free(&q->dc);
	q->dc = keep;
}

/*
 * Roll the queue back to its last successful sync: discard buffers, cut
 * each file to what was fsynced, forget the records past it, rewrite the
 * ack log from memory.
 */
int
store_queue_rollback(struct store_queue *q)
{
	struct store *s = q->s;
	size_t        i;
	int           e, rc;

	if (!q->recovered)
		return STORE_OK;
	for (i = 0; i < q->nsegs;) {
		struct store_seg  *seg = q->segs[i];
		struct store_file *f = &seg->f;
		uint32_t           was = seg->count;

		free(f->buf);
		f->buf = NULL;
		f->len = f->cap = 0;
		f->dirty = false;
		if (f->synced >= f->size) {
			store_seg_idle(s, seg);
			i++;
			continue;
		}
		if (f->synced < STORE_SEG_HDR) {
			if (s->ops->unlink(seg->path) != 0 && errno != ENOENT) {
				store_logf(s, STORE_LOG_ERR, "unlink %s: %s", seg->path,
				    strerror(errno));
				return STORE_EIO;
			}
			seg_drop(q, i);
			continue;
		}
		if (f->fd < 0 && (f->fd = s->ops->open(seg->path, O_RDWR | O_CLOEXEC, 0)) < 0) {
			store_logf(s, STORE_LOG_ERR, "open %s: %s", seg->path, strerror(errno));
			return STORE_EIO;
		}
		if (s->ops->ftruncate(f->fd, (off_t)f->synced) != 0 || s->ops->fsync(f->fd) != 0) {
			e = errno;
			store_logf(s, STORE_LOG_ERR, "truncate %s: %s", seg->path, strerror(e));
			return store_err_from_errno(e) == STORE_ENOSPC ? STORE_ENOSPC : STORE_EIO;
		}
		while (seg->count > 0 && seg->offs[seg->count - 1] >= f->synced) {
			seg->count--;
			if (!bit_get(seg, seg->count))
				seg->live--;
		}
		q->runs -= seg->runs;
		seg->runs = seg_count_runs(seg);
		q->runs += seg->runs;
		f->size = f->synced;
		store_logf(s, STORE_LOG_INFO, "%s: rolled back to %" PRIu64 " bytes, %"
		    PRIu32 " unsynced record(s) discarded", seg->path, f->size,
		    was - seg->count);
		seg_seal(q, seg);
		if (seg->live == 0)
			q->want_reclaim = true;
		i++;
	}
	dc_prune(q);
	free(q->ack.buf);
	q->ack.buf = NULL;
	q->ack.len = q->ack.cap = 0;
	q->ack.dirty = false;
	if (q->ack.fd >= 0 || q->runs > 0 || q->dc.count > 0) {
		if ((rc = ack_compact_now(q)) != STORE_OK)
			return rc;
	} else if ((e = store_fsync_dir(s->ops, q->path)) != 0) {
		store_logf(s, STORE_LOG_ERR, "fsync %s: %s", q->path, strerror(-e));
		return STORE_EIO;
	}
	q->dir_dirty = false;
	store_untouch(q);
	return STORE_OK;
}
