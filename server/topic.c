/*
 * Topic exchange matching: a trie of binding patterns, one node per word,
 * walked by the routing key's words.  The exchange owns the bindings; the
 * trie only keeps (pattern, dest) pairs and reports dests.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/topic.h"
#include "server/util.h"

/*
 * Semantics, checked against RabbitMQ 3.10.8 by binding one queue per
 * pattern to a topic exchange and publishing every key with pika
 * (tests/unit/server/test_topic.c has the whole table):
 *
 *  - Keys and patterns split on '.', and empty words count: "a..b" has
 *    three words, "." two, "a." two ("a" and "").  The empty key "" has
 *    no words at all, not one empty word.
 *  - So "*" does not match "", but "#" and "#.#" do; the pattern ""
 *    matches only the key "".  "*.*" matches "." and "a."; "#." matches
 *    ".", ".." and "a." but not "" or "a".
 *  - "a.#" matches "a" and "a.b.c"; "#.a" matches "a"; "a.#.b" matches
 *    "a.b", "a..b" and "a.x.b"; "#.a.#" matches "a".
 *  - '*' and '#' are wildcards only as whole words: "a*", "##" and "#a"
 *    are literal words.  A key word "*" or "#" is literal too (RabbitMQ
 *    also steps into the wildcard child for it, which only adds duplicate
 *    reports of bindings the wildcard matches anyway).
 *
 * The walk.  A state is (node, i): the pattern prefix ending at node has
 * consumed the key's first i words.  From (n, i): if i is the word count,
 * n's bindings match; if a word is left, go to (child[word i], i + 1) and
 * (star child, i + 1); and if n has a '#' child h, go to (h, j) for every
 * j >= i, since '#' eats zero or more words.
 *
 * Naively, patterns such as "#.a.#.a.#" against "a.a.a.a..." reach the
 * same state along exponentially many paths.  Every node has one parent,
 * so a state can be reached twice only through a '#' node reached twice;
 * the walk therefore remembers, per '#' node, the lowest position it was
 * entered at (entering at i covers every j >= i), and expands each state
 * at most once.  The work is bounded by (nodes reachable) x (words + 1),
 * and each binding is reported at most once per match.
 *
 * The recursion is as deep as the trie (two frames per pattern word);
 * patterns are binding keys, shortstrs of at most 255 bytes.
 *
 * Children by word live in an open-addressing table (linear probing,
 * backward-shift deletion) keyed by a hash of the word, so a node with
 * 100k children still finds one in O(1).  The dests bound at a node are a
 * set of the same kind keyed by pointer, so duplicate checks and removals
 * stay O(1) when many queues bind the same pattern.
 */

enum tnode_kind { TNODE_ROOT, TNODE_WORD, TNODE_STAR, TNODE_HASH };

/* An open-addressing table of pointers; NULL marks an empty slot. */
struct oatab {
	void  **slot; /* owned; cap entries */
	size_t  n;
	size_t  cap;  /* 0 or a power of two */
};

struct tnode {
	struct tnode   *parent;
	struct tnode   *star;  /* owned: the child for a '*' word */
	struct tnode   *hash;  /* owned: the child for a '#' word */
	struct oatab    kids;  /* owned: struct tnode *, literal words */
	struct oatab    dests; /* dests bound with the pattern ending here */
	bool            null_dest;
	enum tnode_kind kind;
	uint64_t        whash; /* TNODE_WORD: hash of word */
	size_t          wlen;
	uint8_t         word[]; /* TNODE_WORD: wlen bytes */
};

struct topic_trie {
	struct tnode *root; /* owned */
	size_t        nodes; /* root included */
};

/* A word of a key or a pattern: a slice of the caller's bytes. */
struct word {
	const uint8_t *p;
	size_t         len;
	uint64_t       h;
};

#define WORDS_ON_STACK 128
#define MEMO_ON_STACK 64

/* FNV-1a; binding keys come from authenticated clients, so no keying. */
static uint64_t
word_hash(const uint8_t *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t
ptr_hash(const void *p)
{
	uint64_t h = (uint64_t)(uintptr_t)p;

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static uint64_t
kid_hash(const void *e)
{
	return ((const struct tnode *)e)->whash;
}

static uint64_t
dest_hash(const void *e)
{
	return ptr_hash(e);
}

/* Rebuild t with capacity ncap (a power of two above 2n, or 0 when empty). */
static void
oa_resize(struct oatab *t, size_t ncap, uint64_t (*hf)(const void *))
{
	struct oatab nt = { NULL, 0, 0 };

	if (ncap != 0) {
		nt.slot = xcalloc(ncap, sizeof(*nt.slot));
		nt.cap = ncap;
		for (size_t i = 0; i < t->cap; i++) {
			if (t->slot[i] == NULL)
				continue;
			size_t j = (size_t)hf(t->slot[i]) & (ncap - 1);
			while (nt.slot[j] != NULL)
				j = (j + 1) & (ncap - 1);
			nt.slot[j] = t->slot[i];
			nt.n++;
		}
	}
	free(t->slot);
	*t = nt;
}

/* Put e (not already there, not NULL) into t, growing it to stay under half full. */
static void
oa_insert(struct oatab *t, void *e, uint64_t (*hf)(const void *))
{
	if ((t->n + 1) * 2 > t->cap)
		oa_resize(t, t->cap ? t->cap * 2 : 4, hf);
	size_t i = (size_t)hf(e) & (t->cap - 1);
	while (t->slot[i] != NULL)
		i = (i + 1) & (t->cap - 1);
	t->slot[i] = e;
	t->n++;
}

/* Empty slot i, shifting later members of its probe run back. */
static void
oa_delete_at(struct oatab *t, size_t i, uint64_t (*hf)(const void *))
{
	size_t mask = t->cap - 1;
	size_t j = i;

	for (;;) {
		j = (j + 1) & mask;
		if (t->slot[j] == NULL)
			break;
		size_t k = (size_t)hf(t->slot[j]) & mask;
		/* leave slot j alone if its home k lies cyclically in (i, j] */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		t->slot[i] = t->slot[j];
		i = j;
	}
	t->slot[i] = NULL;
	t->n--;
	if (t->n == 0)
		oa_resize(t, 0, hf);
	else if (t->cap > 8 && t->n * 8 < t->cap)
		oa_resize(t, t->cap / 4, hf);
}

static struct tnode *
kid_find(const struct tnode *n, const struct word *w, size_t *slot)
{
	if (n->kids.cap == 0)
		return NULL;
	size_t mask = n->kids.cap - 1;
	for (size_t i = (size_t)w->h & mask;; i = (i + 1) & mask) {
		struct tnode *k = n->kids.slot[i];
		if (k == NULL)
			return NULL;
		if (k->whash == w->h && k->wlen == w->len &&
		    (w->len == 0 || memcmp(k->word, w->p, w->len) == 0)) {
			if (slot)
				*slot = i;
			return k;
		}
	}
}

/* Is dest (not NULL) in n's set?  Its slot goes to *slot. */
static bool
dest_find(const struct tnode *n, void *dest, size_t *slot)
{
	if (n->dests.cap == 0)
		return false;
	size_t mask = n->dests.cap - 1;
	for (size_t i = (size_t)ptr_hash(dest) & mask;; i = (i + 1) & mask) {
		if (n->dests.slot[i] == NULL)
			return false;
		if (n->dests.slot[i] == dest) {
			*slot = i;
			return true;
		}
	}
}

static struct tnode *
node_new(struct tnode *parent, enum tnode_kind kind, const struct word *w)
{
	size_t        wlen = kind == TNODE_WORD ? w->len : 0;
	struct tnode *n = xcalloc(1, sizeof(*n) + wlen);

	n->parent = parent;
	n->kind = kind;
	if (kind == TNODE_WORD) {
		n->whash = w->h;
		n->wlen = wlen;
		if (wlen)
			memcpy(n->word, w->p, wlen);
	}
	return n;
}

static void
node_free(struct tnode *n)
{
	free(n->kids.slot);
	free(n->dests.slot);
	free(n);
}

static bool
node_unused(const struct tnode *n)
{
	return n->kids.n == 0 && n->dests.n == 0 && !n->null_dest &&
	       n->star == NULL && n->hash == NULL;
}

static enum tnode_kind
word_kind(const struct word *w)
{
	if (w->len == 1 && w->p[0] == '*')
		return TNODE_STAR;
	if (w->len == 1 && w->p[0] == '#')
		return TNODE_HASH;
	return TNODE_WORD;
}

/*
 * Split s into words at '.', into ws (cap entries) or, if more are needed,
 * into *heap (freed by the caller).  The empty string has no words.
 */
static size_t
split_words(struct amqp_bytes s, struct word *ws, size_t cap, struct word **heap)
{
	size_t n = 1;

	*heap = NULL;
	if (s.len == 0)
		return 0;
	for (size_t i = 0; i < s.len; i++)
		if (s.ptr[i] == '.')
			n++;
	if (n > cap)
		ws = *heap = xcalloc(n, sizeof(*ws));

	size_t k = 0, start = 0;
	for (size_t i = 0; i <= s.len; i++) {
		if (i < s.len && s.ptr[i] != '.')
			continue;
		ws[k].p = s.ptr + start;
		ws[k].len = i - start;
		ws[k].h = word_hash(ws[k].p, ws[k].len);
		k++;
		start = i + 1;
	}
	return n;
}

struct topic_trie *
topic_new(void)
{
	struct topic_trie *t = xcalloc(1, sizeof(*t));

	t->root = node_new(NULL, TNODE_ROOT, NULL);
	t->nodes = 1;
	return t;
}

void
topic_free(struct topic_trie *t)
{
	struct tnode **stack;
	size_t         sp = 0, cap = 64;

	if (t == NULL)
		return;
	stack = xmalloc(cap * sizeof(*stack));
	stack[sp++] = t->root;
	while (sp > 0) {
		struct tnode *n = stack[--sp];
		size_t        need = sp + n->kids.n + 2;

		if (need > cap) {
			while (need > cap)
				cap *= 2;
			stack = xrealloc(stack, cap * sizeof(*stack));
		}
		if (n->star)
			stack[sp++] = n->star;
		if (n->hash)
			stack[sp++] = n->hash;
		for (size_t i = 0; i < n->kids.cap; i++)
			if (n->kids.slot[i])
				stack[sp++] = n->kids.slot[i];
		node_free(n);
	}
	free(stack);
	free(t);
}

/* The node for pattern, or NULL if absent; created on the way if create. */
static struct tnode *
pattern_node(struct topic_trie *t, struct amqp_bytes pattern, bool create)
{
	struct word   stackw[WORDS_ON_STACK], *heap, *ws;
	size_t        nw = split_words(pattern, stackw, WORDS_ON_STACK, &heap);
	struct tnode *n = t->root;

	ws = heap ? heap : stackw;
	for (size_t i = 0; i < nw && n != NULL; i++) {
		enum tnode_kind kind = word_kind(&ws[i]);
		struct tnode   *c;

		if (kind == TNODE_STAR)
			c = n->star;
		else if (kind == TNODE_HASH)
			c = n->hash;
		else
			c = kid_find(n, &ws[i], NULL);
		if (c == NULL && create) {
			c = node_new(n, kind, &ws[i]);
			t->nodes++;
			if (kind == TNODE_STAR)
				n->star = c;
			else if (kind == TNODE_HASH)
				n->hash = c;
			else
				oa_insert(&n->kids, c, kid_hash);
		}
		n = c;
	}
	free(heap);
	return n;
}

int
topic_add(struct topic_trie *t, struct amqp_bytes pattern, void *dest)
{
	struct tnode *n = pattern_node(t, pattern, true);
	size_t        slot;

	if (dest == NULL) {
		if (n->null_dest)
			return 0;
		n->null_dest = true;
		return 1;
	}
	if (dest_find(n, dest, &slot))
		return 0;
	oa_insert(&n->dests, dest, dest_hash);
	return 1;
}

int
topic_remove(struct topic_trie *t, struct amqp_bytes pattern, void *dest)
{
	struct tnode *n = pattern_node(t, pattern, false);
	size_t        slot;

	if (n == NULL)
		return 0;
	if (dest == NULL) {
		if (!n->null_dest)
			return 0;
		n->null_dest = false;
	} else {
		if (!dest_find(n, dest, &slot))
			return 0;
		oa_delete_at(&n->dests, slot, dest_hash);
	}

	/* prune the nodes that no longer lead to any binding */
	while (n->parent != NULL && node_unused(n)) {
		struct tnode *p = n->parent;
		size_t        i = 0;

		if (n->kind == TNODE_STAR) {
			p->star = NULL;
		} else if (n->kind == TNODE_HASH) {
			p->hash = NULL;
		} else {
			struct word w = { n->word, n->wlen, n->whash };
			if (kid_find(p, &w, &i) == n)
				oa_delete_at(&p->kids, i, kid_hash);
		}
		node_free(n);
		t->nodes--;
		n = p;
	}
	return 1;
}

size_t
topic_node_count(const struct topic_trie *t)
{
	return t->nodes;
}

/* The state of one topic_match call. */
struct walk {
	const struct word *ws;
	size_t             nw;
	void             (*fn)(void *dest, void *arg);
	void              *arg;
	/* per '#' node: the lowest position it was entered at */
	struct memo {
		const struct tnode *node;
		size_t              min;
	}                 *memo;
	size_t             nmemo, capmemo; /* capmemo: a power of two */
	bool               memo_heap;
};

/* The memo entry for h, created with min = nw + 1 (never entered). */
static struct memo *
memo_get(struct walk *w, const struct tnode *h)
{
	size_t mask, i;

	if ((w->nmemo + 1) * 2 > w->capmemo) {
		size_t       ncap = w->capmemo * 2;
		struct memo *nm = xcalloc(ncap, sizeof(*nm));

		for (size_t k = 0; k < w->capmemo; k++) {
			if (w->memo[k].node == NULL)
				continue;
			i = (size_t)ptr_hash(w->memo[k].node) & (ncap - 1);
			while (nm[i].node != NULL)
				i = (i + 1) & (ncap - 1);
			nm[i] = w->memo[k];
		}
		if (w->memo_heap)
			free(w->memo);
		w->memo = nm;
		w->capmemo = ncap;
		w->memo_heap = true;
	}
	mask = w->capmemo - 1;
	for (i = (size_t)ptr_hash(h) & mask; w->memo[i].node != NULL; i = (i + 1) & mask)
		if (w->memo[i].node == h)
			return &w->memo[i];
	w->memo[i].node = h;
	w->memo[i].min = w->nw + 1;
	w->nmemo++;
	return &w->memo[i];
}

static void
report(const struct walk *w, const struct tnode *n)
{
	for (size_t i = 0; i < n->dests.cap; i++)
		if (n->dests.slot[i] != NULL)
			w->fn(n->dests.slot[i], w->arg);
	if (n->null_dest)
		w->fn(NULL, w->arg);
}

static void visit(struct walk *w, const struct tnode *n, size_t i);

/* Enter '#' node h with the key's first i words consumed. */
static void
visit_hash(struct walk *w, const struct tnode *h, size_t i)
{
	struct memo *m = memo_get(w, h);
	size_t       end = m->min;

	if (i >= end)
		return; /* (h, j) for every j >= i is done already */
	m->min = i;
	/* m may move when the memo grows: use only end from here on */
	for (size_t j = i; j < end; j++)
		visit(w, h, j);
}

static void
visit(struct walk *w, const struct tnode *n, size_t i)
{
	if (i == w->nw) {
		report(w, n);
	} else {
		const struct tnode *c = kid_find(n, &w->ws[i], NULL);
		if (c != NULL)
			visit(w, c, i + 1);
		if (n->star != NULL)
			visit(w, n->star, i + 1);
	}
	if (n->hash != NULL)
		visit_hash(w, n->hash, i);
}

/* fn must not add or remove bindings of t: the walk holds pointers into it. */
void
topic_match(const struct topic_trie *t, struct amqp_bytes key,
            void (*fn)(void *dest, void *arg), void *arg)
{
	struct word stackw[WORDS_ON_STACK], *heap;
	struct memo stackm[MEMO_ON_STACK];
	struct walk w;

	memset(stackm, 0, sizeof(stackm));
	w.nw = split_words(key, stackw, WORDS_ON_STACK, &heap);
	w.ws = heap ? heap : stackw;
	w.fn = fn;
	w.arg = arg;
	w.memo = stackm;
	w.nmemo = 0;
	w.capmemo = MEMO_ON_STACK;
	w.memo_heap = false;

	visit(&w, t->root, 0);

	if (w.memo_heap)
		free(w.memo);
	free(heap);
}
