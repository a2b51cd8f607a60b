/*
 * A hash map from byte strings to pointers, with keys copied.  Used for
 * names (queues, exchanges, vhosts), direct-exchange routing keys and
 * consumer tags.
 */
#ifndef SERVER_HMAP_H
#define SERVER_HMAP_H

#include <stddef.h>
#include <stdint.h>

#include "amqp/bytes.h"

struct hmap_entry {
	struct hmap_entry *next;
	uint64_t           hash;
	size_t             klen;
	void              *val;
	uint8_t            key[]; /* klen bytes, then a NUL */
};

struct hmap {
	struct hmap_entry **buckets;
	size_t              nbuckets; /* power of two, or 0 before the first insert */
	size_t              count;
};

uint64_t hmap_hash(const void *key, size_t len);
void    *hmap_get(const struct hmap *h, struct amqp_bytes key);
/* Insert or replace; returns the previous value or NULL. */
void    *hmap_put(struct hmap *h, struct amqp_bytes key, void *val);
/* Remove; returns the value or NULL. */
void    *hmap_del(struct hmap *h, struct amqp_bytes key);
void     hmap_free(struct hmap *h);

/* Iteration: for (e = hmap_first(h, &i); e; e = hmap_next(h, &i, e)) */
struct hmap_entry *hmap_first(const struct hmap *h, size_t *bucket);
struct hmap_entry *hmap_next(const struct hmap *h, size_t *bucket, struct hmap_entry *e);

#endif
