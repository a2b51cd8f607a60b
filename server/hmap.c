/*
 * Chained hash map with power-of-two buckets, grown at load factor 1.
 * FNV-1a hashing: the keys are names chosen by clients, and the maps are
 * per vhost or per exchange, so the cost of a collision attack is bounded
 * by the attacker's own resources.
 */
#include "server/hmap.h"

#include "server/util.h"

uint64_t
hmap_hash(const void *key, size_t len)
{
	const uint8_t *p = key;
	uint64_t       h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h ^ (h >> 29);
}

static struct hmap_entry **
slot(const struct hmap *h, struct amqp_bytes key, uint64_t hash)
{
	struct hmap_entry **pp = &h->buckets[hash & (h->nbuckets - 1)];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == hash && (*pp)->klen == key.len &&
		    (key.len == 0 || memcmp((*pp)->key, key.ptr, key.len) == 0))
			break;
	return pp;
}

void *
hmap_get(const struct hmap *h, struct amqp_bytes key)
{
	if (h->nbuckets == 0)
		return NULL;
	struct hmap_entry *e = *slot(h, key, hmap_hash(key.ptr, key.len));
	return e ? e->val : NULL;
}

static void
grow(struct hmap *h)
{
	size_t              n = h->nbuckets ? h->nbuckets * 2 : 8;
	struct hmap_entry **b = xcalloc(n, sizeof(*b));

	for (size_t i = 0; i < h->nbuckets; i++) {
		struct hmap_entry *e = h->buckets[i], *next;
		for (; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(h->buckets);
	h->buckets = b;
	h->nbuckets = n;
}

void *
hmap_put(struct hmap *h, struct amqp_bytes key, void *val)
{
	uint64_t hash = hmap_hash(key.ptr, key.len);

	if (h->count >= h->nbuckets)
		grow(h);
	struct hmap_entry **pp = slot(h, key, hash);
	if (*pp) {
		void *old = (*pp)->val;
		(*pp)->val = val;
		return old;
	}
	struct hmap_entry *e = xmalloc(sizeof(*e) + key.len + 1);
	e->next = NULL;
	e->hash = hash;
	e->klen = key.len;
	e->val = val;
	if (key.len)
		memcpy(e->key, key.ptr, key.len);
	e->key[key.len] = '\0';
	*pp = e;
	h->count++;
	return NULL;
}

void *
hmap_del(struct hmap *h, struct amqp_bytes key)
{
	if (h->nbuckets == 0)
		return NULL;
	struct hmap_entry **pp = slot(h, key, hmap_hash(key.ptr, key.len));
	struct hmap_entry  *e = *pp;
	if (e == NULL)
		return NULL;
	void *val = e->val;
	*pp = e->next;
	free(e);
	h->count--;
	return val;
}

void
hmap_free(struct hmap *h)
{
	for (size_t i = 0; i < h->nbuckets; i++) {
		struct hmap_entry *e = h->buckets[i], *next;
		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(h->buckets);
	h->buckets = NULL;
	h->nbuckets = h->count = 0;
}

struct hmap_entry *
hmap_first(const struct hmap *h, size_t *bucket)
{
	for (size_t i = 0; i < h->nbuckets; i++)
		if (h->buckets[i]) {
			*bucket = i;
			return h->buckets[i];
		}
	return NULL;
}

struct hmap_entry *
hmap_next(const struct hmap *h, size_t *bucket, struct hmap_entry *e)
{
	if (e->next)
		return e->next;
	for (size_t i = *bucket + 1; i < h->nbuckets; i++)
		if (h->buckets[i]) {
			*bucket = i;
			return h->buckets[i];
		}
	return NULL;
}
