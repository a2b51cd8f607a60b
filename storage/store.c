/*
 * The data directory, buffered files, the group commit (prepare, perform,
 * complete) and the failed state.  The queue logs themselves live in
 * queue.c, the metadata file in meta.c.
 *
 * The failed state [SQLite pager ERROR state].  Once a write or an fsync
 * has failed, what the kernel holds past the last successful fsync is
 * unknown (Linux may already have dropped the dirty pages), so nothing more
 * is written: s->failed keeps the first error, appends and syncs are
 * refused, and acks are kept in memory only.  store_reset_failure() probes
 * the disk, then rolls every file back to what the last good sync covered
 * and rewrites the ack logs from memory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/store_int.h"

static int
posix_open(const char *path, int flags, int mode)
{
	return open(path, flags, (mode_t)mode);
}

const struct store_ops store_posix_ops = {
	.open = posix_open,
	.pwrite = pwrite,
	.pread = pread,
	.fsync = fsync,
	.close = close,
	.rename = rename,
	.unlink = unlink,
	.ftruncate = ftruncate,
};

#define DEFAULT_SEG_SIZE     ((uint64_t)16 << 20)
#define DEFAULT_BUF_SIZE     ((size_t)256 << 10)
#define DEFAULT_COMPACT_SIZE ((uint64_t)1 << 20)
#define PROBE_SIZE           4096

const char *
store_strerror(int err)
{
	switch (err) {
	case STORE_OK:
		return "success";
	case STORE_EIO:
		return "I/O error";
	case STORE_ENOSPC:
		return "no space left on device";
	case STORE_CORRUPT:
		return "data corrupt (checksum mismatch)";
	case STORE_FAILED:
		return "store failed after a write error (needs store_reset_failure)";
	case STORE_NOTFOUND:
		return "not found";
	case STORE_EINVAL:
		return "invalid argument or call";
	case STORE_ENOMEM:
		return "out of memory";
	case STORE_EBUSY:
		return "data directory in use by another store";
	}
	return "unknown error";
}

static const char *
level_name(int level)
{
	switch (level) {
	case STORE_LOG_ERR:
		return "error";
	case STORE_LOG_WARNING:
		return "warning";
	case STORE_LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

void
store_logf(struct store *s, int level, const char *fmt, ...)
{
	char    msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s->log_fn != NULL)
		s->log_fn(s->log_arg, level, msg);
	else if (level <= STORE_LOG_INFO)
		fprintf(stderr, "storage: %s: %s\n", level_name(level), msg);
}

void
store_set_log(struct store *s, void (*fn)(void *arg, int level, const char *msg), void *arg)
{
	s->log_fn = fn;
	s->log_arg = arg;
}

int
store_err_from_errno(int e)
{
	switch (e) {
	case ENOSPC:
#ifdef EDQUOT
	case EDQUOT:
#endif
		return STORE_ENOSPC;
	case ENOMEM:
		return STORE_ENOMEM;
	case ENOENT:
		return STORE_NOTFOUND;
	default:
		return STORE_EIO;
	}
}

/* Small internal allocations abort on failure [Redis zmalloc]. */
void *
store_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n != 0 ? n : 1);

	if (q == NULL)
		abort();
	return q;
}

char *
store_xstrdup(const char *str)
{
	size_t n = strlen(str) + 1;

	return memcpy(store_xrealloc(NULL, n), str, n);
}

/* a "/" b, malloc'd. */
char *
store_path_join(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	char  *p = store_xrealloc(NULL, na + nb + 2);

	memcpy(p, a, na);
	p[na] = '/';
	memcpy(p + na + 1, b, nb + 1);
	return p;
}

/* Write all of buf, retrying short writes.  0, or -errno. */
int
store_pwrite_full(const struct store_ops *ops, int fd, const void *buf, size_t n,
                  uint64_t off)
{
	const uint8_t *p = buf;
	ssize_t        r;

	while (n > 0) {
		r = ops->pwrite(fd, p, n, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -(errno != 0 ? errno : EIO);
		}
		if (r == 0)
			return -EIO;
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* Read up to n bytes, stopping early only at the end of the file.  The
 * count read, or -errno. */
long long
store_pread_full(const struct store_ops *ops, int fd, void *buf, size_t n, uint64_t off)
{
	uint8_t *p = buf;
	size_t   got = 0;
	ssize_t  r;

	while (got < n) {
		r = ops->pread(fd, p + got, n - got, (off_t)(off + got));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -(errno != 0 ? errno : EIO);
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (long long)got;
}

/* fsync a folder, so that names created, renamed or removed in it last. */
int
store_fsync_dir(const struct store_ops *ops, const char *path)
{
	int fd, rc = 0;

	if ((fd = ops->open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)) < 0)
		return -errno;
	if (ops->fsync(fd) != 0)
		rc = -errno;
	ops->close(fd);
	return rc;
}

void
store_fail(struct store *s, int err, bool reported)
{
	if (s->failed != 0)
		return;
	s->failed = err != STORE_OK ? err : STORE_EIO;
	s->failed_unreported = !reported;
	store_logf(s, STORE_LOG_ERR, "storage failed (%s): refusing writes until the "
	    "failure is reset", store_strerror(s->failed));
}

/* What a refused call returns: the original error the first time. */
static int
failed_rc(struct store *s)
{
	if (s->failed_unreported) {
		s->failed_unreported = false;
		return s->failed;
	}
	return STORE_FAILED;
}

bool
store_failed(const struct store *s)
{
	return s->failed != 0;
}

void
store_file_init(struct store_file *f, const char *path)
{
	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->path = path;
}

static int
file_grow(struct store_file *f, size_t need, size_t max)
{
	size_t   cap = f->cap != 0 ? f->cap : 4096;
	uint8_t *p;

	while (cap < need)
		cap *= 2;
	if (cap > max)
		cap = max;
	if (cap < need)
		cap = need;
	if ((p = realloc(f->buf, cap)) == NULL)
		return STORE_ENOMEM;
	f->buf = p;
	f->cap = cap;
	return STORE_OK;
}

static int
file_write_failed(struct store *s, struct store_file *f, int e)
{
	int rc = store_err_from_errno(e);

	if (rc == STORE_NOTFOUND || rc == STORE_ENOMEM)
		rc = STORE_EIO;
	store_logf(s, STORE_LOG_ERR, "write %s: %s", f->path, strerror(e));
	store_fail(s, rc, true);
	return rc;
}

/*
 * Append a then b to f: into the buffer, which is written out (one pwrite)
 * when full; bytes too many for any buffer are written directly.  A failed
 * write fails the store.
 */
int
store_file_append(struct store *s, struct store_file *f, const void *a, size_t alen,
                  const void *b, size_t blen)
{
	size_t n = alen + blen;
	int    e;

	if (f->len + n > f->cap && f->len + n <= s->buf_size &&
	    file_grow(f, f->len + n, s->buf_size) != STORE_OK)
		return STORE_ENOMEM;
	if (f->len + n > f->cap) {
		if (f->len > 0) {
			e = store_pwrite_full(s->ops, f->fd, f->buf, f->len, f->size - f->len);
			if (e != 0)
				return file_write_failed(s, f, -e);
			f->len = 0;
			f->dirty = true;
		}
		if (n > s->buf_size) {
			if ((e = store_pwrite_full(s->ops, f->fd, a, alen, f->size)) != 0 ||
			    (e = store_pwrite_full(s->ops, f->fd, b, blen, f->size + alen)) != 0)
				return file_write_failed(s, f, -e);
			f->size += n;
			f->dirty = true;
			return STORE_OK;
		}
		if (n > f->cap && file_grow(f, n, s->buf_size) != STORE_OK)
			return STORE_ENOMEM;
	}
	if (alen > 0)
		memcpy(f->buf + f->len, a, alen);
	if (blen > 0)
		memcpy(f->buf + f->len + alen, b, blen);
	f->len += n;
	f->size += n;
	f->dirty = true;
	return STORE_OK;
}

void
store_touch(struct store_queue *q)
{
	struct store *s = q->s;

	if (q->touched)
		return;
	q->touched = true;
	q->tprev = NULL;
	q->tnext = s->touched;
	if (s->touched != NULL)
		s->touched->tprev = q;
	s->touched = q;
}

void
store_untouch(struct store_queue *q)
{
	struct store *s = q->s;

	if (!q->touched)
		return;
	if (q->tprev != NULL)
		q->tprev->tnext = q->tnext;
	else
		s->touched = q->tnext;
	if (q->tnext != NULL)
		q->tnext->tprev = q->tprev;
	q->tprev = q->tnext = NULL;
	q->touched = false;
}

bool
store_dirty(const struct store *s)
{
	return s->touched != NULL || s->qdir_dirty || s->nunlinks > 0 ||
	    s->stouched != NULL || s->sdir_dirty;
}

void
store_set_segment_size(struct store *s, uint64_t seg_bytes)
{
	if (seg_bytes < 4096)
		seg_bytes = 4096;
	if (seg_bytes > ((uint64_t)1 << 30))
		seg_bytes = (uint64_t)1 << 30;
	s->seg_size = seg_bytes;
}

void
store_set_buffer_size(struct store *s, size_t buf_bytes)
{
	if (buf_bytes < 4096)
		buf_bytes = 4096;
	if (buf_bytes > ((size_t)64 << 20))
		buf_bytes = (size_t)64 << 20;
	s->buf_size = buf_bytes;
}

void
store_set_compact_size(struct store *s, uint64_t compact_bytes)
{
	s->compact_size = compact_bytes;
}

/*
 * Batches.
 */

#define GROW(arr, n, cap) do {                                                  \
	if ((n) == (cap)) {                                                     \
		(cap) = (cap) != 0 ? (cap) * 2 : 16;                            \
		(arr) = store_xrealloc((arr), (cap) * sizeof(*(arr)));          \
	}                                                                       \
} while (0)

/*
 * Hand f's buffer to the batch: it is written at its offset and f is
 * fsynced.  Appends made from now on go to a fresh buffer.
 */
void
store_batch_add_write(struct store_batch *b, struct store_file *f, struct store_seg *seg)
{
	struct store_wentry *w;

	GROW(b->w, b->nw, b->capw);
	w = &b->w[b->nw++];
	w->f = f;
	w->seg = seg;
	w->path = f->path;
	w->fd = f->fd;
	w->buf = f->buf;
	w->len = f->len;
	w->off = f->size - f->len;
	w->end = f->size;
	f->fl = f->buf;
	f->fl_len = f->len;
	f->fl_off = w->off;
	f->buf = NULL;
	f->len = f->cap = 0;
	f->dirty = false;
	f->inflight = true;
}

void
store_batch_add_dir(struct store_batch *b, const char *path)
{
	size_t i;

	for (i = 0; i < b->ndirs; i++)
		if (strcmp(b->dirs[i], path) == 0)
			return;
	GROW(b->dirs, b->ndirs, b->capdirs);
	b->dirs[b->ndirs++] = path;
}

void
store_batch_add_rename(struct store_batch *b, const char *from, const char *to)
{
	GROW(b->rn, b->nrn, b->caprn);
	b->rn[b->nrn].from = from;
	b->rn[b->nrn].to = to;
	b->nrn++;
}

/* path is taken over. */
void
store_batch_add_unlink(struct store_batch *b, char *path)
{
	GROW(b->ul, b->nul, b->capul);
	b->ul[b->nul].path = path;
	b->ul[b->nul].err = 0;
	b->ul[b->nul].done = false;
	b->nul++;
}

void
store_batch_free(struct store_batch *b)
{
	size_t i;

	for (i = 0; i < b->nul; i++)
		free(b->ul[i].path);
	free(b->w);
	free(b->rn);
	free(b->dirs);
	free(b->ul);
	memset(b, 0, sizeof(*b));
}

static void
batch_reset(struct store_batch *b, const struct store_ops *ops)
{
	b->ops = ops;
	b->nw = b->nrn = b->ndirs = b->nul = 0;
	b->err = STORE_OK;
	b->err_errno = 0;
	b->err_op = NULL;
	b->err_path = NULL;
}

int
store_sync_prepare(struct store *s, struct store_batch **out)
{
	struct store_batch *b = &s->batch;
	size_t              i;

	if (s->failed != 0)
		return failed_rc(s);
	if (s->in_flight)
		return STORE_EINVAL;
	batch_reset(b, s->ops);
	while (s->touched != NULL)
		store_queue_prepare(s, s->touched, b);
	while (s->stouched != NULL)
		store_stream_prepare(s, s->stouched, b);
	if (s->qdir_dirty) {
		store_batch_add_dir(b, s->qdir);
		s->qdir_dirty = false;
	}
	if (s->sdir_dirty) {
		store_batch_add_dir(b, s->sdir);
		s->sdir_dirty = false;
	}
	for (i = 0; i < s->nunlinks; i++)
		store_batch_add_unlink(b, s->unlinks[i]);
	s->nunlinks = 0;
	s->in_flight = true;
	*out = b;
	return STORE_OK;
}

static int
perform_error(struct store_batch *b, const char *op, const char *path, int e)
{
	int rc = store_err_from_errno(e);

	if (rc != STORE_ENOSPC)
		rc = STORE_EIO;
	b->err = rc;
	b->err_errno = e;
	b->err_op = op;
	b->err_path = path;
	return rc;
}

/*
 * The blocking half: every write, then every fsync (a queue's segments
 * before its ack log, so within a batch an ack never becomes durable ahead
 * of the record it acks; recovery ignores such acks anyway), then the
 * renames of rewritten ack logs, the folder fsyncs that make new and
 * renamed names last, and last the unlinks of emptied segments.  Touches
 * only b and b->ops; stops at the first error.
 */
int
store_sync_perform(struct store_batch *b)
{
	size_t i;
	int    e;

	for (i = 0; i < b->nw; i++) {
		struct store_wentry *w = &b->w[i];

		if (w->len > 0 &&
		    (e = store_pwrite_full(b->ops, w->fd, w->buf, w->len, w->off)) != 0)
			return perform_error(b, "write", w->path, -e);
	}
	for (i = 0; i < b->nw; i++)
		if (b->ops->fsync(b->w[i].fd) != 0)
			return perform_error(b, "fsync", b->w[i].path, errno);
	for (i = 0; i < b->nrn; i++)
		if (b->ops->rename(b->rn[i].from, b->rn[i].to) != 0)
			return perform_error(b, "rename", b->rn[i].from, errno);
	for (i = 0; i < b->ndirs; i++)
		if ((e = store_fsync_dir(b->ops, b->dirs[i])) != 0)
			return perform_error(b, "fsync", b->dirs[i], -e);
	for (i = 0; i < b->nul; i++) {
		b->ul[i].done = true;
		if (b->ops->unlink(b->ul[i].path) != 0 && errno != ENOENT)
			b->ul[i].err = errno;
	}
	return STORE_OK;
}

/* Apply a performed batch on the owner thread; its result again. */
int
store_batch_finish(struct store *s, struct store_batch *b)
{
	size_t i;

	for (i = 0; i < b->nw; i++) {
		struct store_wentry *w = &b->w[i];
		struct store_file   *f = w->f;

		free(f->fl);
		f->fl = NULL;
		f->fl_len = 0;
		f->inflight = false;
		if (b->err == STORE_OK && w->end > f->synced)
			f->synced = w->end;
		if (w->seg != NULL)
			store_seg_idle(s, w->seg);
	}
	for (i = 0; i < b->nul; i++) {
		struct store_unlink *u = &b->ul[i];

		if (!u->done) {
			GROW(s->unlinks, s->nunlinks, s->capunlinks);
			s->unlinks[s->nunlinks++] = u->path;
			continue;
		}
		if (u->err != 0)
			store_logf(s, STORE_LOG_WARNING, "unlink %s: %s", u->path,
			    strerror(u->err));
		free(u->path);
	}
	b->nul = 0;
	if (b->err != STORE_OK) {
		store_logf(s, STORE_LOG_ERR, "%s %s: %s", b->err_op, b->err_path,
		    strerror(b->err_errno));
		store_fail(s, b->err, true);
	}
	return b->err;
}

int
store_sync_complete(struct store *s, struct store_batch *b)
{
	int rc;

	if (!s->in_flight || b != &s->batch)
		return STORE_EINVAL;
	rc = store_batch_finish(s, b);
	s->in_flight = false;
	store_streams_complete(s, rc == STORE_OK);
	while (s->zombies != NULL)
		store_queue_finish(s->zombies);
	while (s->szombies != NULL)
		store_stream_finish(s->szombies);
	return rc;
}

int
store_sync(struct store *s)
{
	struct store_batch *b;
	int                 rc;

	if (s->in_flight)
		return STORE_EINVAL;
	if (s->failed != 0)
		return failed_rc(s);
	if (!store_dirty(s))
		return STORE_OK;
	if ((rc = store_sync_prepare(s, &b)) != STORE_OK)
		return rc;
	store_sync_perform(b);
	return store_sync_complete(s, b);
}

/*
 * The failed state.
 */

/* Write and fsync a small file: can the disk take writes again? */
static int
probe(struct store *s)
{
	char    *path = store_path_join(s->dir, ".probe");
	uint8_t  block[PROBE_SIZE];
	int      fd, e = 0;

	memset(block, 0x5a, sizeof(block));
	fd = s->ops->open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		e = errno;
	} else {
		if ((e = -store_pwrite_full(s->ops, fd, block, sizeof(block), 0)) == 0 &&
		    s->ops->fsync(fd) != 0)
			e = errno;
		s->ops->close(fd);
		s->ops->unlink(path);
	}
	if (e != 0)
		store_logf(s, STORE_LOG_WARNING, "probe %s: %s", path, strerror(e));
	free(path);
	if (e == 0)
		return STORE_OK;
	return store_err_from_errno(e) == STORE_ENOSPC ? STORE_ENOSPC : STORE_EIO;
}

int
store_reset_failure(struct store *s)
{
	struct store_queue  *q;
	struct store_stream *st;
	size_t               i, n;
	int                  rc, e;

	if (s->failed == 0)
		return STORE_OK;
	if (s->in_flight)
		return STORE_EINVAL;

	/* First give back what can go: it may be what lets the probe pass. */
	for (q = s->queues; q != NULL; q = q->next)
		store_queue_reclaim_now(q);
	for (i = n = 0; i < s->nunlinks; i++) {
		if (s->ops->unlink(s->unlinks[i]) == 0 || errno == ENOENT)
			free(s->unlinks[i]);
		else
			s->unlinks[n++] = s->unlinks[i];
	}
	s->nunlinks = n;

	if ((rc = probe(s)) != STORE_OK)
		return rc;
	for (q = s->queues; q != NULL; q = q->next)
		if ((rc = store_queue_rollback(q)) != STORE_OK)
			return rc;
	for (st = s->streams; st != NULL; st = store_stream_next_open(st))
		if ((rc = store_stream_rollback(st)) != STORE_OK)
			return rc;
	if ((e = store_fsync_dir(s->ops, s->qdir)) != 0 ||
	    (e = store_fsync_dir(s->ops, s->sdir)) != 0) {
		store_logf(s, STORE_LOG_WARNING, "fsync %s: %s", s->dir, strerror(-e));
		return STORE_EIO;
	}
	s->qdir_dirty = s->sdir_dirty = false;
	while (s->touched != NULL)
		store_untouch(s->touched);
	for (q = s->queues; q != NULL; q = q->next)
		if (q->want_reclaim)
			store_touch(q);
	s->failed = 0;
	s->failed_unreported = false;
	store_logf(s, STORE_LOG_INFO, "storage failure reset: writes resume");
	return STORE_OK;
}

/*
 * The data directory.
 */

/* Remove a folder and the files in it (one level). */
int
store_remove_tree(struct store *s, const char *path)
{
	DIR           *d;
	struct dirent *de;
	int            rc = STORE_OK;

	if ((d = opendir(path)) == NULL)
		return errno == ENOENT ? STORE_NOTFOUND : STORE_EIO;
	while ((de = readdir(d)) != NULL) {
		char *p;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		p = store_path_join(path, de->d_name);
		if (s->ops->unlink(p) != 0 && errno != ENOENT) {
			store_logf(s, STORE_LOG_WARNING, "unlink %s: %s", p, strerror(errno));
			rc = STORE_EIO;
		}
		free(p);
	}
	closedir(d);
	if (rc == STORE_OK && rmdir(path) != 0) {
		store_logf(s, STORE_LOG_WARNING, "rmdir %s: %s", path, strerror(errno));
		rc = STORE_EIO;
	}
	return rc;
}

/* mkdir that tolerates an existing folder; *made says if it was made. */
static int
make_dir(struct store *s, const char *path, bool *made)
{
	struct stat st;

	*made = false;
	if (mkdir(path, 0755) == 0) {
		*made = true;
		return STORE_OK;
	}
	if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return STORE_OK;
	store_logf(s, STORE_LOG_ERR, "mkdir %s: %s", path,
	    errno == EEXIST ? "exists and is not a folder" : strerror(errno));
	return STORE_EIO;
}

/* Remove what interrupted work leaves behind. */
static void
clean_leftovers(struct store *s)
{
	static const char *const meta_tmp[] = {
		"definitions.json.tmp", "definitions.json.sum.tmp"
	};
	DIR           *d;
	struct dirent *de;
	char          *p;
	size_t         i;

	if ((d = opendir(s->qdir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strncmp(de->d_name, ".del.", 5) != 0)
				continue;
			p = store_path_join(s->qdir, de->d_name);
			store_logf(s, STORE_LOG_INFO, "removing %s (an interrupted "
			    "queue delete)", p);
			store_remove_tree(s, p);
			free(p);
		}
		closedir(d);
	}
	if ((d = opendir(s->sdir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strncmp(de->d_name, ".del.", 5) != 0)
				continue;
			p = store_path_join(s->sdir, de->d_name);
			store_logf(s, STORE_LOG_INFO, "removing %s (an interrupted "
			    "stream delete)", p);
			store_remove_tree(s, p);
			free(p);
		}
		closedir(d);
	}
	for (i = 0; i < sizeof(meta_tmp) / sizeof(meta_tmp[0]); i++) {
		p = store_path_join(s->mdir, meta_tmp[i]);
		s->ops->unlink(p);
		free(p);
	}
	p = store_path_join(s->dir, ".probe");
	s->ops->unlink(p);
	free(p);
}

/*
 * One store per data directory: an open file description lock, so it also
 * holds between two stores of one process, and goes with the fd.
 */
static int
lock_dir(struct store *s)
{
	char        *path = store_path_join(s->dir, ".lock");
	struct flock fl;
	int          e, rc = STORE_OK;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if ((s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
		store_logf(s, STORE_LOG_ERR, "open %s: %s", path, strerror(errno));
		rc = STORE_EIO;
	}
#ifdef F_OFD_SETLK
	else if (fcntl(s->lock_fd, F_OFD_SETLK, &fl) != 0) {
#else
	else if (fcntl(s->lock_fd, F_SETLK, &fl) != 0) {
#endif
		e = errno;
		rc = e == EAGAIN || e == EACCES ? STORE_EBUSY : STORE_EIO;
		store_logf(s, STORE_LOG_ERR, "lock %s: %s", path, rc == STORE_EBUSY ?
		    "the data directory is in use by another store" : strerror(e));
		close(s->lock_fd);
		s->lock_fd = -1;
	}
	free(path);
	return rc;
}

static char *
parent_dir(const char *path)
{
	char  *p = store_xstrdup(path);
	size_t n = strlen(p);

	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	while (n > 0 && p[n - 1] != '/')
		n--;
	while (n > 1 && p[n - 1] == '/')
		n--;
	if (n == 0) {
		free(p);
		return store_xstrdup(".");
	}
	p[n] = '\0';
	return p;
}

int
store_open(const char *dir, const struct store_ops *ops, struct store **out)
{
	struct store *s;
	bool          made_top, made_q, made_m, made_s;
	char         *parent;
	int           rc, e;

	*out = NULL;
	if (dir == NULL || dir[0] == '\0')
		return STORE_EINVAL;
	s = store_xrealloc(NULL, sizeof(*s));
	memset(s, 0, sizeof(*s));
	s->ops = ops != NULL ? ops : &store_posix_ops;
	s->lock_fd = -1;
	s->dir = store_xstrdup(dir);
	s->qdir = store_path_join(dir, "queues");
	s->mdir = store_path_join(dir, "meta");
	s->sdir = store_path_join(dir, "streams");
	s->seg_size = DEFAULT_SEG_SIZE;
	s->buf_size = DEFAULT_BUF_SIZE;
	s->compact_size = DEFAULT_COMPACT_SIZE;

	if ((rc = make_dir(s, s->dir, &made_top)) != STORE_OK ||
	    (rc = lock_dir(s)) != STORE_OK ||
	    (rc = make_dir(s, s->qdir, &made_q)) != STORE_OK ||
	    (rc = make_dir(s, s->mdir, &made_m)) != STORE_OK ||
	    (rc = make_dir(s, s->sdir, &made_s)) != STORE_OK)
		goto fail;
	if (made_top) {
		parent = parent_dir(s->dir);
		store_fsync_dir(s->ops, parent);
		free(parent);
	}
	if ((made_top || made_q || made_m || made_s) && (e = store_fsync_dir(s->ops, s->dir)) != 0) {
		store_logf(s, STORE_LOG_ERR, "fsync %s: %s", s->dir, strerror(-e));
		rc = STORE_EIO;
		goto fail;
	}
	clean_leftovers(s);
	*out = s;
	return STORE_OK;
fail:
	store_close(s);
	return rc;
}

void
store_close(struct store *s)
{
	size_t i;

	if (s == NULL)
		return;
	if (s->in_flight) {
		/* A caller bug: perform may still be running.  Finish the
		 * bookkeeping as if it failed rather than free under it. */
		store_logf(s, STORE_LOG_ERR, "store_close with a batch in flight");
		s->batch.err = STORE_EIO;
		store_batch_finish(s, &s->batch);
		s->in_flight = false;
	}
	while (s->zombies != NULL)
		store_queue_finish(s->zombies);
	while (s->queues != NULL)
		store_queue_finish(s->queues);
	while (s->szombies != NULL)
		store_stream_finish(s->szombies);
	while (s->streams != NULL)
		store_stream_finish(s->streams);
	for (i = 0; i < s->nunlinks; i++) {
		s->ops->unlink(s->unlinks[i]);
		free(s->unlinks[i]);
	}
	free(s->unlinks);
	store_batch_free(&s->batch);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->dir);
	free(s->qdir);
	free(s->mdir);
	free(s->sdir);
	free(s);
}
