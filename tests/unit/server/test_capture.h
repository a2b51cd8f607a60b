/*
 * Capture what the code under test writes to a file descriptor (stdout,
 * stderr) into a string.  Check forks each test, so redirecting is safe.
 */
#ifndef TEST_CAPTURE_H
#define TEST_CAPTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct capture {
	int   fd, saved;
	FILE *tmp;
};

static inline void
capture_start(struct capture *c, int fd)
{
	fflush(NULL);
	c->fd = fd;
	c->tmp = tmpfile();
	c->saved = dup(fd);
	if (c->tmp == NULL || c->saved < 0 || dup2(fileno(c->tmp), fd) < 0)
		abort();
}

/* Stop capturing; returns what was written (malloc'd, NUL-terminated). */
static inline char *
capture_stop(struct capture *c)
{
	char  *s;
	long   n;

	fflush(NULL);
	if (dup2(c->saved, c->fd) < 0)
		abort();
	close(c->saved);
	n = ftell(c->tmp);
	s = malloc((size_t)n + 1);
	if (s == NULL)
		abort();
	rewind(c->tmp);
	n = (long)fread(s, 1, (size_t)n, c->tmp);
	s[n] = '\0';
	fclose(c->tmp);
	return s;
}

#endif
