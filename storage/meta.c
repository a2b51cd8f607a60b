/*
 * The metadata file: the definitions JSON, kept as plain JSON in
 * dir/meta/definitions.json with its checksum beside it.  What the bytes
 * mean is the engine's business.
 *
 * dir/meta/definitions.json.sum is a short text file:
 *
 *     warren-definitions-checksum 1
 *     crc32c 1a2b3c4d length 1234
 *     crc32c 5e6f7a8b length 1200
 *
 * The first line after the title is the version being written, the next
 * (if any) the version it replaces.  A write replaces the .sum first and
 * the JSON second, each by write-temp, fsync, rename, fsync-folder, so a
 * crash between the two renames leaves the old JSON with a .sum that still
 * vouches for it.  The JSON is accepted if it matches any line.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "storage/crc32c.h"
#include "storage/store_int.h"

#define SUM_TITLE "warren-definitions-checksum 1"
#define SUM_MAX   4096

struct sum_line {
	uint32_t crc;
	uint64_t len;
};

/*
 * Read a whole file into a malloc'd buffer (with a NUL after the end, not
 * counted).  STORE_NOTFOUND if it does not exist.
 */
static int
read_all(struct store *s, const char *path, uint8_t **out, size_t *outlen)
{
	struct stat st;
	uint8_t    *buf = NULL, *p;
	size_t      cap, len = 0;
	long long   got;
	int         fd, rc = STORE_OK;

	if ((fd = s->ops->open(path, O_RDONLY | O_CLOEXEC, 0)) < 0) {
		if (errno == ENOENT)
			return STORE_NOTFOUND;
		store_logf(s, STORE_LOG_ERR, "open %s: %s", path, strerror(errno));
		return STORE_EIO;
	}
	cap = fstat(fd, &st) == 0 && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
	for (;;) {
		if (len + 1 >= cap || buf == NULL) {
			if (buf != NULL)
				cap *= 2;
			if ((p = realloc(buf, cap)) == NULL) {
				rc = STORE_ENOMEM;
				break;
			}
			buf = p;
		}
		got = store_pread_full(s->ops, fd, buf + len, cap - 1 - len, len);
		if (got < 0) {
			store_logf(s, STORE_LOG_ERR, "read %s: %s", path, strerror((int)-got));
			rc = STORE_EIO;
			break;
		}
		len += (size_t)got;
		if (len + 1 < cap)
			break;   /* short of the buffer: the end of the file */
	}
	s->ops->close(fd);
	if (rc != STORE_OK) {
		free(buf);
		return rc;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return STORE_OK;
}

/* Parse a .sum file into at most two lines; false if it is not one. */
static bool
parse_sum(const char *text, struct sum_line *lines, size_t *n)
{
	const char *p = text;
	size_t      tl = strlen(SUM_TITLE);

	*n = 0;
	if (strncmp(p, SUM_TITLE "\n", tl + 1) != 0)
		return false;
	p += tl + 1;
	while (*p != '\0') {
		unsigned int crc;
		uint64_t     len;
		int          used = 0;

		if (*n == 2 || sscanf(p, "crc32c %8x length %" SCNu64 "%n", &crc, &len,
		    &used) != 2 || used == 0 || p[used] != '\n')
			return false;
		lines[*n].crc = crc;
		lines[*n].len = len;
		(*n)++;
		p += used + 1;
	}
	return *n > 0;
}

static bool
sum_matches(const struct sum_line *lines, size_t n, const uint8_t *json, size_t len)
{
	uint32_t crc = store_crc32c(json, len);
	size_t   i;

	for (i = 0; i < n; i++)
		if (lines[i].len == len && lines[i].crc == crc)
			return true;
	return false;
}

/*
 * Read the definitions and check them.  *json is malloc'd.  *verified says
 * whether a .sum vouched for them (false: there is no .sum).
 */
static int
meta_load(struct store *s, uint8_t **json, size_t *len, bool *verified)
{
	char           *jpath = store_path_join(s->mdir, "definitions.json");
	char           *spath = store_path_join(s->mdir, "definitions.json.sum");
	uint8_t        *sum = NULL;
	size_t          sumlen, n;
	struct sum_line lines[2];
	int             rc;

	*json = NULL;
	*verified = false;
	if ((rc = read_all(s, jpath, json, len)) != STORE_OK)
		goto out;
	rc = read_all(s, spath, &sum, &sumlen);
	if (rc == STORE_NOTFOUND) {
		rc = STORE_OK;
		goto out;
	}
	if (rc != STORE_OK)
		goto out;
	if (sumlen != strlen((char *)sum) || !parse_sum((char *)sum, lines, &n)) {
		store_logf(s, STORE_LOG_ERR, "%s is damaged", spath);
		rc = STORE_CORRUPT;
	} else if (!sum_matches(lines, n, *json, *len)) {
		store_logf(s, STORE_LOG_ERR, "%s does not match its checksum in %s", jpath,
		    spath);
		rc = STORE_CORRUPT;
	} else {
		*verified = true;
	}
out:
	if (rc != STORE_OK) {
		free(*json);
		*json = NULL;
	}
	free(sum);
	free(jpath);
	free(spath);
	return rc;
}

int
store_meta_read(struct store *s, void **json, size_t *len)
{
	uint8_t *p;
	bool     verified;
	int      rc;

	if ((rc = meta_load(s, &p, len, &verified)) != STORE_OK)
		return rc;
	if (!verified)
		store_logf(s, STORE_LOG_WARNING, "%s/definitions.json has no checksum file; "
		    "taking it as it is", s->mdir);
	*json = p;
	return STORE_OK;
}

/*
 * Replace path atomically with buf: write tmp, fsync it, rename it over
 * path, fsync the folder.  A failed write or fsync fails the store.
 */
static int
replace_file(struct store *s, const char *name, const void *buf, size_t len)
{
	char       *path = store_path_join(s->mdir, name);
	size_t      n = strlen(path);
	char       *tmp = store_xrealloc(NULL, n + sizeof(".tmp"));
	const char *op = "create";
	int         fd, e = 0, rc = STORE_OK;

	memcpy(tmp, path, n);
	memcpy(tmp + n, ".tmp", sizeof(".tmp"));
	if ((fd = s->ops->open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
		e = errno;
		rc = STORE_EIO;
		goto out;
	}
	op = "write";
	if ((e = -store_pwrite_full(s->ops, fd, buf, len, 0)) == 0) {
		op = "fsync";
		if (s->ops->fsync(fd) != 0)
			e = errno;
	}
	s->ops->close(fd);
	if (e != 0) {
		rc = store_err_from_errno(e) == STORE_ENOSPC ? STORE_ENOSPC : STORE_EIO;
		s->ops->unlink(tmp);
		store_fail(s, rc, true);
		goto out;
	}
	op = "rename";
	if (s->ops->rename(tmp, path) != 0) {
		e = errno;
		s->ops->unlink(tmp);
		rc = STORE_EIO;
		goto out;
	}
	op = "fsync";
	if ((e = -store_fsync_dir(s->ops, s->mdir)) != 0) {
		rc = STORE_EIO;
		store_fail(s, rc, true);
	}
out:
	if (e != 0)
		store_logf(s, STORE_LOG_ERR, "%s %s: %s", op, rc == STORE_OK ? path : tmp,
		    strerror(e));
	free(tmp);
	free(path);
	return rc;
}

int
store_meta_write(struct store *s, const void *json, size_t len)
{
	char     sum[SUM_MAX];
	uint8_t *cur = NULL;
	size_t   curlen = 0;
	bool     verified;
	int      n, rc;

	if (s->failed != 0)
		return STORE_FAILED;
	if (json == NULL && len > 0)
		return STORE_EINVAL;
	n = snprintf(sum, sizeof(sum), SUM_TITLE "\ncrc32c %08" PRIx32 " length %zu\n",
	    store_crc32c(json, len), len);
	/* Keep vouching for the version on disk until the rename replaces it. */
	rc = meta_load(s, &cur, &curlen, &verified);
	if (rc == STORE_OK)
		snprintf(sum + n, sizeof(sum) - (size_t)n, "crc32c %08" PRIx32
		    " length %zu\n", store_crc32c(cur, curlen), curlen);
	free(cur);
	if ((rc = replace_file(s, "definitions.json.sum", sum, strlen(sum))) != STORE_OK)
		return rc;
	return replace_file(s, "definitions.json", json, len);
}
