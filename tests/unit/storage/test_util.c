/*
 * What the storage/ tests share: scratch folders, record contents, a log
 * catcher, a recovery collector, and faultfs, the ops table that injects
 * faults and models what a power cut leaves on disk.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/storage/test_storage.h"

char *
test_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char       *p = malloc(4096);

	ck_assert_ptr_nonnull(p);
	snprintf(p, 4096, "%s/warren-storage-XXXXXX", base != NULL ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(p));
	return p;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void
test_rmtree(char *path)
{
	if (path == NULL)
		return;
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(path);
}

static uint64_t du_total;

static int
du_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (flag == FTW_F && S_ISREG(st->st_mode))
		du_total += (uint64_t)st->st_size;
	return 0;
}

uint64_t
test_du(const char *path)
{
	du_total = 0;
	nftw(path, du_one, 16, FTW_PHYS);
	return du_total;
}

int
test_count_files(const char *path, const char *suffix)
{
	DIR           *d = opendir(path);
	struct dirent *de;
	size_t         sl = strlen(suffix);
	int            n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);

		if (de->d_name[0] != '.' && l >= sl && strcmp(de->d_name + l - sl, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

char *
test_qfile(const char *dir, const char *qid, const char *name)
{
	char *p = malloc(4096);

	ck_assert_ptr_nonnull(p);
	snprintf(p, 4096, "%s/queues/%s/%s", dir, qid, name);
	return p;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *
test_segment(const char *dir, const char *qid, int n)
{
	char          *qdir = test_qfile(dir, qid, ""), *names[1024], *res = NULL;
	DIR           *d = opendir(qdir);
	struct dirent *de;
	int            k = 0, i;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL && k < 1024) {
		size_t l = strlen(de->d_name);

		if (l > 4 && strcmp(de->d_name + l - 4, ".seg") == 0)
			names[k++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, (size_t)k, sizeof(names[0]), name_cmp);
	if (n < k)
		res = test_qfile(dir, qid, names[n]);
	for (i = 0; i < k; i++)
		free(names[i]);
	free(qdir);
	return res;
}

off_t
test_file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

size_t
test_rec_len(uint64_t k)
{
	return (size_t)((k * 7919) % 700);
}

void
test_rec_fill(uint64_t k, uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)(k * 131 + i * 7 + (i >> 8));
}

void
test_log_fn(void *arg, int level, const char *msg)
{
	struct test_log *lg = arg;
	size_t           n = strlen(msg);

	if (getenv("TEST_STORAGE_LOG") != NULL)
		fprintf(stderr, "[log %d] %s\n", level, msg);
	if (level <= STORE_LOG_WARNING)
		lg->warnings++;
	if (lg->len + n + 2 < sizeof(lg->text)) {
		memcpy(lg->text + lg->len, msg, n);
		lg->len += n;
		lg->text[lg->len++] = '\n';
		lg->text[lg->len] = '\0';
	}
}

void
test_recs_fn(void *arg, uint64_t msg_id, const void *rec, size_t len, uint32_t dc)
{
	struct test_recs *r = arg;

	if (r->n == r->cap) {
		r->cap = r->cap != 0 ? r->cap * 2 : 64;
		r->ids = realloc(r->ids, r->cap * sizeof(*r->ids));
		r->dcs = realloc(r->dcs, r->cap * sizeof(*r->dcs));
		r->data = realloc(r->data, r->cap * sizeof(*r->data));
		r->lens = realloc(r->lens, r->cap * sizeof(*r->lens));
		ck_assert(r->ids && r->dcs && r->data && r->lens);
	}
	r->ids[r->n] = msg_id;
	r->dcs[r->n] = dc;
	r->lens[r->n] = len;
	r->data[r->n] = malloc(len + 1);
	ck_assert_ptr_nonnull(r->data[r->n]);
	if (len > 0)
		memcpy(r->data[r->n], rec, len);
	r->n++;
}

void
test_recs_free(struct test_recs *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		free(r->data[i]);
	free(r->ids);
	free(r->dcs);
	free(r->data);
	free(r->lens);
	memset(r, 0, sizeof(*r));
}

struct test_recs
test_reopen(const char *dir, const char *qid, const struct store_ops *ops, uint64_t *next_id)
{
	struct test_recs    r;
	struct test_log     lg;
	struct store       *s;
	struct store_queue *q;

	memset(&r, 0, sizeof(r));
	memset(&lg, 0, sizeof(lg));
	ck_assert_int_eq(store_open(dir, ops, &s), STORE_OK);
	store_set_log(s, test_log_fn, &lg);
	ck_assert_int_eq(store_queue_open(s, qid, &q), STORE_OK);
	ck_assert_int_eq(store_recover(q, test_recs_fn, &r), STORE_OK);
	if (next_id != NULL)
		*next_id = store_queue_next_id(q);
	store_close(s);
	return r;
}

/*
 * faultfs
 */

struct faultfs faultfs;

#define MAX_FD 4096

struct ff_inode {
	uint8_t *dur;   /* contents at the last fsync */
	size_t   dlen;
};

struct ff_name {
	char  *path;
	size_t ino;
};

static struct ff_inode *inodes;
static size_t           ninodes;
static struct ff_name  *live, *dura;   /* names now; names that last */
static size_t           nlive, ndura;
static long             fd_ino[MAX_FD];   /* inode + 1, -1 for a folder, 0 */
static char            *fd_dir[MAX_FD];

static void
ff_forget(void)
{
	size_t i;

	for (i = 0; i < ninodes; i++)
		free(inodes[i].dur);
	for (i = 0; i < nlive; i++)
		free(live[i].path);
	for (i = 0; i < ndura; i++)
		free(dura[i].path);
	free(inodes);
	free(live);
	free(dura);
	inodes = NULL;
	live = dura = NULL;
	ninodes = nlive = ndura = 0;
	for (i = 0; i < MAX_FD; i++) {
		fd_ino[i] = 0;
		free(fd_dir[i]);
		fd_dir[i] = NULL;
	}
}

void
faultfs_reset(void)
{
	ff_forget();
	memset(&faultfs, 0, sizeof(faultfs));
	faultfs.space = -1;
}

static long
name_find(const struct ff_name *v, size_t n, const char *path)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].path, path) == 0)
			return (long)i;
	return -1;
}

static void
name_set(struct ff_name **v, size_t *n, const char *path, size_t ino)
{
	long i = name_find(*v, *n, path);

	if (i >= 0) {
		(*v)[i].ino = ino;
		return;
	}
	*v = realloc(*v, (*n + 1) * sizeof(**v));
	ck_assert_ptr_nonnull(*v);
	(*v)[*n].path = strdup(path);
	(*v)[*n].ino = ino;
	(*n)++;
}

static void
name_del(struct ff_name *v, size_t *n, const char *path)
{
	long i = name_find(v, *n, path);

	if (i < 0)
		return;
	free(v[i].path);
	v[i] = v[--(*n)];
}

static uint8_t *
read_fd(int fd, size_t *len)
{
	size_t   cap = 65536, n = 0;
	uint8_t *p = malloc(cap);
	ssize_t  r;

	ck_assert_ptr_nonnull(p);
	for (;;) {
		if (n == cap) {
			cap *= 2;
			p = realloc(p, cap);
			ck_assert_ptr_nonnull(p);
		}
		r = pread(fd, p + n, cap - n, (off_t)n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return p;
}

static uint8_t *
read_path(const char *path, size_t *len)
{
	int      fd = open(path, O_RDONLY);
	uint8_t *p;

	if (fd < 0)
		return NULL;
	p = read_fd(fd, len);
	close(fd);
	return p;
}

static size_t
new_inode(uint8_t *dur, size_t dlen)
{
	inodes = realloc(inodes, (ninodes + 1) * sizeof(*inodes));
	ck_assert_ptr_nonnull(inodes);
	inodes[ninodes].dur = dur;
	inodes[ninodes].dlen = dlen;
	return ninodes++;
}

/* First sight of a file that already exists: it is durable as it is. */
static void
learn(const char *path)
{
	struct stat st;
	uint8_t    *p;
	size_t      len, ino;

	if (name_find(live, nlive, path) >= 0 || name_find(dura, ndura, path) >= 0)
		return;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return;
	if ((p = read_path(path, &len)) == NULL)
		return;
	ino = new_inode(p, len);
	name_set(&live, &nlive, path, ino);
	name_set(&dura, &ndura, path, ino);
}

static int
ff_open(const char *path, int flags, int mode)
{
	long i;
	int  fd;

	if (faultfs.dead) {
		errno = EIO;
		return -1;
	}
	faultfs.opens++;
	if (flags & O_DIRECTORY) {
		if ((fd = open(path, flags, (mode_t)mode)) >= 0 && fd < MAX_FD) {
			fd_ino[fd] = -1;
			fd_dir[fd] = strdup(path);
		}
		return fd;
	}
	learn(path);
	/* fsync reads the file back through the fd: it must be readable. */
	if ((flags & O_ACCMODE) == O_WRONLY)
		flags = (flags & ~O_ACCMODE) | O_RDWR;
	if ((fd = open(path, flags, (mode_t)mode)) < 0)
		return fd;
	ck_assert_int_lt(fd, MAX_FD);
	if ((i = name_find(live, nlive, path)) < 0) {
		name_set(&live, &nlive, path, new_inode(NULL, 0));
		i = name_find(live, nlive, path);
	}
	fd_ino[fd] = (long)live[i].ino + 1;
	return fd;
}

static ssize_t
ff_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	ssize_t r;

	if (faultfs.dead) {
		errno = EIO;
		return -1;
	}
	faultfs.pwrites++;
	if (faultfs.short_write > 0 && n > faultfs.short_write)
		n = faultfs.short_write;
	if (faultfs.space >= 0) {
		if (faultfs.space == 0) {
			errno = ENOSPC;
			return -1;
		}
		if ((long long)n > faultfs.space)
			n = (size_t)faultfs.space;
	}
	r = pwrite(fd, buf, n, off);
	if (r > 0 && faultfs.space >= 0)
		faultfs.space -= r;
	return r;
}

static ssize_t
ff_pread(int fd, void *buf, size_t n, off_t off)
{
	if (faultfs.dead) {
		errno = EIO;
		return -1;
	}
	return pread(fd, buf, n, off);
}

static bool
parent_is(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && path[n] == '/' && strchr(path + n + 1, '/') == NULL;
}

static int
ff_fsync(int fd)
{
	size_t i;
	long   ino;

	if (faultfs.dead) {
		errno = EIO;
		return -1;
	}
	faultfs.fsyncs++;
	if (faultfs.fsync_errno != 0) {
		if (faultfs.fsync_pass > 0) {
			faultfs.fsync_pass--;
		} else {
			errno = faultfs.fsync_errno;
			return -1;
		}
	}
	if (fd < 0 || fd >= MAX_FD)
		return 0;
	ino = fd_ino[fd];
	if (ino == -1) {
		/* A folder: its names, as they are now, last. */
		const char *dir = fd_dir[fd];

		for (i = 0; i < ndura;) {
			if (parent_is(dura[i].path, dir))
				name_del(dura, &ndura, dura[i].path);
			else
				i++;
		}
		for (i = 0; i < nlive; i++)
			if (parent_is(live[i].path, dir))
				name_set(&dura, &ndura, live[i].path, live[i].ino);
	} else if (ino > 0) {
		struct ff_inode *in = &inodes[ino - 1];

		free(in->dur);
		in->dur = read_fd(fd, &in->dlen);
	}
	return 0;
}

static int
ff_close(int fd)
{
	if (fd >= 0 && fd < MAX_FD) {
		fd_ino[fd] = 0;
		free(fd_dir[fd]);
		fd_dir[fd] = NULL;
	}
	return close(fd);
}

static int
ff_rename(const char *from, const char *to)
{
	struct stat st;
	long        i;

	if (faultfs.dead) {
		errno = EIO;
		return -1;
	}
	if (stat(from, &st) == 0 && S_ISDIR(st.st_mode))
		return rename(from, to);
	learn(from);
	learn(to);
	if (rename(from, to) != 0)
		return -1;
	if ((i = name_find(live, nlive, from)) >= 0) {
		size_t ino = live[i].ino;

		name_del(live, &nlive, from);
		name_set(&live, &nlive, to, ino);
	}
	return 0;
}

static int
ff_unlink(const char *path)
{
	if (faultfs.dead) {
		errno = EIO;
		return -1;
	}
	learn(path);
	if (unlink(path) != 0)
		return -1;
	name_del(live, &nlive, path);
	return 0;
}

static int
ff_ftruncate(int fd, off_t len)
{
	if (faultfs.dead) {
		errno = EIO;
		return -1;
	}
	return ftruncate(fd, len);
}

const struct store_ops faultfs_ops = {
	.open = ff_open,
	.pwrite = ff_pwrite,
	.pread = ff_pread,
	.fsync = ff_fsync,
	.close = ff_close,
	.rename = ff_rename,
	.unlink = ff_unlink,
	.ftruncate = ff_ftruncate,
};

void
faultfs_cut(bool torn, uint32_t *seed)
{
	struct stash {
		char    *path;
		uint8_t *p;
		size_t   len;
	} *st = calloc(ndura + 1, sizeof(*st));
	size_t i;

	ck_assert_ptr_nonnull(st);
	for (i = 0; i < ndura; i++) {
		struct ff_inode *in = &inodes[dura[i].ino];
		size_t           len = in->dlen;
		uint8_t         *p = malloc(len + 1);

		ck_assert_ptr_nonnull(p);
		if (len > 0)
			memcpy(p, in->dur, len);
		if (torn) {
			/* Keep a random prefix of what came after the fsync. */
			long     li;
			size_t   clen = 0;
			uint8_t *cur = NULL;

			for (li = 0; li < (long)nlive; li++)
				if (live[li].ino == dura[i].ino)
					break;
			if (li < (long)nlive)
				cur = read_path(live[li].path, &clen);
			if (cur != NULL && clen > len && memcmp(cur, p, len) == 0) {
				size_t keep = len + test_rand(seed) % (clen - len + 1);

				free(p);
				p = cur;
				len = keep;
				cur = NULL;
			}
			free(cur);
		}
		if (getenv("TEST_STORAGE_LOG") != NULL)
			fprintf(stderr, "[cut] %s: durable %zu, keeps %zu\n", dura[i].path,
			    in->dlen, len);
		st[i].path = strdup(dura[i].path);
		st[i].p = p;
		st[i].len = len;
	}
	for (i = 0; i < nlive; i++) {
		if (name_find(dura, ndura, live[i].path) >= 0)
			continue;
		if (getenv("TEST_STORAGE_LOG") != NULL)
			fprintf(stderr, "[cut] %s: name not durable, gone\n", live[i].path);
		unlink(live[i].path);
	}
	for (i = 0; i < ndura; i++) {
		int fd = open(st[i].path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		ck_assert_msg(fd >= 0, "power cut: %s: %s", st[i].path, strerror(errno));
		ck_assert_int_eq(pwrite(fd, st[i].p, st[i].len, 0), (ssize_t)st[i].len);
		close(fd);
		free(st[i].path);
		free(st[i].p);
	}
	free(st);
	ff_forget();
	faultfs.dead = true;
}
