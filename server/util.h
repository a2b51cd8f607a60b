/*
 * Small helpers shared by the server: allocation that aborts on failure
 * (only for internal sizes; sizes from the wire are checked first), and
 * intrusive doubly linked lists.
 */
#ifndef SERVER_UTIL_H
#define SERVER_UTIL_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/bytes.h"

static inline void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL) {
		fputs("warren: out of memory\n", stderr);
		abort();
	}
	return p;
}

static inline void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL) {
		fputs("warren: out of memory\n", stderr);
		abort();
	}
	return p;
}

static inline void *
xrealloc(void *old, size_t n)
{
	void *p = realloc(old, n ? n : 1);
	if (p == NULL) {
		fputs("warren: out of memory\n", stderr);
		abort();
	}
	return p;
}

static inline char *
xstrndup(const void *s, size_t n)
{
	char *p = xmalloc(n + 1);
	if (n)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* An owned, NUL-terminated copy of b (freed with bytes_free). */
static inline struct amqp_bytes
bytes_dup(struct amqp_bytes b)
{
	return (struct amqp_bytes){ b.len, (const uint8_t *)xstrndup(b.ptr, b.len) };
}

static inline void
bytes_free(struct amqp_bytes *b)
{
	free((void *)(uintptr_t)b->ptr);
	b->ptr = NULL;
	b->len = 0;
}

/* Intrusive list: a circular list with a sentinel head. */
struct list {
	struct list *prev, *next;
};

#define LIST_INIT(l) ((l)->prev = (l)->next = (l))
#define LIST_EMPTY(l) ((l)->next == (l))
#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))
#define list_for_each_safe(it, tmp, head) \
	for ((it) = (head)->next, (tmp) = (it)->next; (it) != (head); (it) = (tmp), (tmp) = (it)->next)

static inline void
list_add_tail(struct list *head, struct list *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

static inline void
list_del(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

#endif
