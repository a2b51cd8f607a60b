/*
 * server/topic.c: matching as RabbitMQ does it (a table recorded from
 * RabbitMQ 3.10.8), add/remove/duplicates and pruning, a comparison with
 * a naive matcher on random patterns, 100k bindings, and patterns that
 * would make a backtracking matcher explode.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "amqp/bytes.h"
#include "server/topic.h"
#include "tests/unit/server/test_server.h"

/*
 * Recorded from RabbitMQ 3.10.8: one queue bound per pattern to a topic
 * exchange, every key published once with pika, and the keys each queue
 * received.  rmq_table[i].matches lists them; the others must not match.
 */
static const char *const rmq_keys[] = {
	"",
	".",
	"..",
	"a",
	"a.",
	".a",
	"a..b",
	"a.b",
	"a.b.c",
	"b",
	"a.a",
	"a.x.b",
	"a.b.b",
	"#",
	"*",
	"a.*",
	"##",
	"a*",
	"b.a",
	"x.a.y",
};

static const struct {
	const char *pattern;
	const char *matches[24];
} rmq_table[] = {
	{ "", { "", NULL } },
	{ "#", { "", ".", "..", "a", "a.", ".a", "a..b", "a.b", "a.b.c", "b", "a.a", "a.x.b", "a.b.b", "#", "*", "a.*", "##", "a*", "b.a", "x.a.y", NULL } },
	{ "*", { "a", "b", "#", "*", "##", "a*", NULL } },
	{ "*.*", { ".", "a.", ".a", "a.b", "a.a", "a.*", "b.a", NULL } },
	{ "a", { "a", NULL } },
	{ "a.#", { "a", "a.", "a..b", "a.b", "a.b.c", "a.a", "a.x.b", "a.b.b", "a.*", NULL } },
	{ "#.a", { "a", ".a", "a.a", "b.a", NULL } },
	{ "a.#.b", { "a..b", "a.b", "a.x.b", "a.b.b", NULL } },
	{ "a.*", { "a.", "a.b", "a.a", "a.*", NULL } },
	{ "*.a", { ".a", "a.a", "b.a", NULL } },
	{ "#.#", { "", ".", "..", "a", "a.", ".a", "a..b", "a.b", "a.b.c", "b", "a.a", "a.x.b", "a.b.b", "#", "*", "a.*", "##", "a*", "b.a", "x.a.y", NULL } },
	{ "a.*.#", { "a.", "a..b", "a.b", "a.b.c", "a.a", "a.x.b", "a.b.b", "a.*", NULL } },
	{ "#.*", { ".", "..", "a", "a.", ".a", "a..b", "a.b", "a.b.c", "b", "a.a", "a.x.b", "a.b.b", "#", "*", "a.*", "##", "a*", "b.a", "x.a.y", NULL } },
	{ "*.#", { ".", "..", "a", "a.", ".a", "a..b", "a.b", "a.b.c", "b", "a.a", "a.x.b", "a.b.b", "#", "*", "a.*", "##", "a*", "b.a", "x.a.y", NULL } },
	{ ".", { ".", NULL } },
	{ "a..b", { "a..b", NULL } },
	{ "a.*.b", { "a..b", "a.x.b", "a.b.b", NULL } },
	{ "#.b.#", { "a..b", "a.b", "a.b.c", "b", "a.x.b", "a.b.b", "b.a", NULL } },
	{ "*.*.*", { "..", "a..b", "a.b.c", "a.x.b", "a.b.b", "x.a.y", NULL } },
	{ "a.", { "a.", NULL } },
	{ ".a", { ".a", NULL } },
	{ "#.", { ".", "..", "a.", NULL } },
	{ ".#", { ".", "..", ".a", NULL } },
	{ "*.", { ".", "a.", NULL } },
	{ "#.#.a", { "a", ".a", "a.a", "b.a", NULL } },
	{ "a.#.#.b", { "a..b", "a.b", "a.x.b", "a.b.b", NULL } },
	{ "#.a.#", { "a", "a.", ".a", "a..b", "a.b", "a.b.c", "a.a", "a.x.b", "a.b.b", "a.*", "b.a", "x.a.y", NULL } },
	{ "*.#.*", { ".", "..", "a.", ".a", "a..b", "a.b", "a.b.c", "a.a", "a.x.b", "a.b.b", "a.*", "b.a", "x.a.y", NULL } },
	{ "a.b.c", { "a.b.c", NULL } },
	{ "##", { "##", NULL } },
	{ "a*", { "a*", NULL } },
	{ "#a", { NULL } },
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void
count_hit(void *dest, void *arg)
{
	(void)arg;
	(*(int *)dest)++;
}

/* How often does key reach dest in t? */
static int
hits_for(struct topic_trie *t, const char *key, int *dest)
{
	*dest = 0;
	topic_match(t, amqp_cstr(key), count_hit, NULL);
	return *dest;
}

static bool
listed(const char *const *list, const char *key)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, key) == 0)
			return true;
	return false;
}

/* Each pattern alone in a trie, against every key. */
START_TEST(test_rabbitmq_table_one_by_one)
{
	for (size_t i = 0; i < NELEM(rmq_table); i++) {
		struct topic_trie *t = topic_new();
		int                hit;

		ck_assert_int_eq(topic_add(t, amqp_cstr(rmq_table[i].pattern), &hit), 1);
		for (size_t k = 0; k < NELEM(rmq_keys); k++) {
			int want = listed(rmq_table[i].matches, rmq_keys[k]) ? 1 : 0;
			int got = hits_for(t, rmq_keys[k], &hit);
			ck_assert_msg(got == want, "pattern '%s' key '%s': got %d, want %d",
			              rmq_table[i].pattern, rmq_keys[k], got, want);
		}
		topic_free(t);
	}
}
END_TEST

/* All patterns in one trie: each matching binding reported exactly once. */
START_TEST(test_rabbitmq_table_together)
{
	struct topic_trie *t = topic_new();
	int                hits[NELEM(rmq_table)];

	for (size_t i = 0; i < NELEM(rmq_table); i++)
		ck_assert_int_eq(topic_add(t, amqp_cstr(rmq_table[i].pattern), &hits[i]), 1);
	for (size_t k = 0; k < NELEM(rmq_keys); k++) {
		memset(hits, 0, sizeof(hits));
		topic_match(t, amqp_cstr(rmq_keys[k]), count_hit, NULL);
		for (size_t i = 0; i < NELEM(rmq_table); i++) {
			int want = listed(rmq_table[i].matches, rmq_keys[k]) ? 1 : 0;
			ck_assert_msg(hits[i] == want, "pattern '%s' key '%s': got %d, want %d",
			              rmq_table[i].pattern, rmq_keys[k], hits[i], want);
		}
	}
	topic_free(t);
}
END_TEST

/* More edge cases, beyond the recorded table (same rules). */
static const struct {
	const char *pattern, *key;
	int         match;
} edge[] = {
	{ "#", "", 1 },
	{ "*", "", 0 },
	{ "", "", 1 },
	{ "", "a", 0 },
	{ "a.#", "a", 1 },
	{ "a.#", "a.b.c.d.e", 1 },
	{ "a.#", "b.a", 0 },
	{ "#.a", "a", 1 },
	{ "#.a", "x.y.z.a", 1 },
	{ "#.a", "a.x", 0 },
	{ "a.#.b", "a.b", 1 },
	{ "a.#.b", "a.x.y.z.b", 1 },
	{ "a.#.b", "a.b.x", 0 },
	{ "a.#.b", "b.a.b", 0 },
	{ "#.#", "", 1 },
	{ "#.#.#.#", "a.b", 1 },
	{ "*.*", "a", 0 },
	{ "*.*", "a.b.c", 0 },
	{ "*.#", "", 0 },
	{ "#.*", "a", 1 },
	{ "*.#.*", "a", 0 },
	{ "*.#.*", "a.b", 1 },
	{ "a.*.#.c", "a.b.c", 1 },
	{ "a.*.#.c", "a.c", 0 },
	{ "a.*", "a", 0 },
	{ "a.*", "a.", 1 },
	{ "a..b", "a..b", 1 },
	{ "a..b", "a.b", 0 },
	{ "a.*.b", "a..b", 1 },
	{ "*", ".", 0 },
	{ "*.*", ".", 1 },
	{ "#.", "a", 0 },
	{ "a*", "ab", 0 },
	{ "a*", "a*", 1 },
	{ "*", "*", 1 },
	{ "#", "#", 1 },
	{ "a.#.#.b", "a.b", 1 },
	{ "#.a.#", "a", 1 },
	{ "#.a.#", "b", 0 },
	{ "#.b.#.b.#", "b.b", 1 },
	{ "#.b.#.b.#", "b.a", 0 },
	{ "x.#.y.#.z", "x.y.z", 1 },
	{ "x.#.y.#.z", "x.z.y", 0 },
	{ "stock.usd.nyse", "stock.usd.nyse", 1 },
	{ "stock.*.nyse", "stock.eur.nyse", 1 },
	{ "stock.#", "stock.usd.nyse", 1 },
	{ "#.nyse", "stock.usd.nyse", 1 },
	{ "*.usd.*", "stock.usd.nyse", 1 },
	{ "*.usd.*", "usd.nyse", 0 },
	{ "caf\xc3\xa9.*", "caf\xc3\xa9.x", 1 },
};

START_TEST(test_edge_cases)
{
	struct topic_trie *t = topic_new();
	int                hit;

	for (size_t i = 0; i < NELEM(edge); i++) {
		ck_assert_int_eq(topic_add(t, amqp_cstr(edge[i].pattern), &hit), 1);
		ck_assert_msg(hits_for(t, edge[i].key, &hit) == edge[i].match,
		              "pattern '%s' key '%s': want %d", edge[i].pattern, edge[i].key,
		              edge[i].match);
		ck_assert_int_eq(topic_remove(t, amqp_cstr(edge[i].pattern), &hit), 1);
		ck_assert_uint_eq(topic_node_count(t), 1);
	}
	topic_free(t);
}
END_TEST

START_TEST(test_add_remove_duplicates)
{
	struct topic_trie *t = topic_new();
	int                q1, q2;

	ck_assert_uint_eq(topic_node_count(t), 1);
	ck_assert_int_eq(topic_add(t, amqp_cstr("a.*.c"), &q1), 1);
	ck_assert_int_eq(topic_add(t, amqp_cstr("a.*.c"), &q1), 0); /* same pair */
	ck_assert_int_eq(topic_add(t, amqp_cstr("a.*.c"), &q2), 1); /* another dest */
	ck_assert_int_eq(topic_add(t, amqp_cstr("a.b"), &q1), 1);
	/* root, a, a.*, a.*.c, a.b */
	ck_assert_uint_eq(topic_node_count(t), 5);

	ck_assert_int_eq(hits_for(t, "a.x.c", &q1), 1);
	ck_assert_int_eq(hits_for(t, "a.x.c", &q2), 1);
	ck_assert_int_eq(hits_for(t, "a.b", &q1), 1);
	ck_assert_int_eq(hits_for(t, "a.b", &q2), 0);

	ck_assert_int_eq(topic_remove(t, amqp_cstr("a.*.c"), &q1), 1);
	ck_assert_int_eq(topic_remove(t, amqp_cstr("a.*.c"), &q1), 0); /* gone already */
	ck_assert_int_eq(topic_remove(t, amqp_cstr("a.b"), &q2), 0);   /* never bound */
	ck_assert_int_eq(topic_remove(t, amqp_cstr("a.b.c"), &q1), 0); /* no such pattern */
	ck_assert_int_eq(topic_remove(t, amqp_cstr("a"), &q1), 0);     /* inner node, no binding */
	ck_assert_int_eq(hits_for(t, "a.x.c", &q1), 0);
	ck_assert_int_eq(hits_for(t, "a.x.c", &q2), 1);
	ck_assert_uint_eq(topic_node_count(t), 5); /* q2 still holds a.*.c */

	ck_assert_int_eq(topic_remove(t, amqp_cstr("a.*.c"), &q2), 1);
	ck_assert_uint_eq(topic_node_count(t), 3); /* a.* and a.*.c pruned */
	ck_assert_int_eq(hits_for(t, "a.b", &q1), 1);
	ck_assert_int_eq(topic_remove(t, amqp_cstr("a.b"), &q1), 1);
	ck_assert_uint_eq(topic_node_count(t), 1);
	ck_assert_int_eq(hits_for(t, "a.b", &q1), 0);

	/* the root's own bindings (pattern "") are not pruned away with it */
	ck_assert_int_eq(topic_add(t, amqp_cstr(""), &q1), 1);
	ck_assert_int_eq(hits_for(t, "", &q1), 1);
	ck_assert_int_eq(topic_remove(t, amqp_cstr(""), &q1), 1);
	ck_assert_int_eq(hits_for(t, "", &q1), 0);
	ck_assert_uint_eq(topic_node_count(t), 1);

	/* a re-add after removal works */
	ck_assert_int_eq(topic_add(t, amqp_cstr("#"), &q1), 1);
	ck_assert_int_eq(hits_for(t, "x.y", &q1), 1);
	topic_free(t);
}
END_TEST

/* Removing a pattern keeps the nodes other patterns still use. */
START_TEST(test_prune_keeps_shared_prefix)
{
	struct topic_trie *t = topic_new();
	int                q;

	ck_assert_int_eq(topic_add(t, amqp_cstr("a.b"), &q), 1);
	ck_assert_int_eq(topic_add(t, amqp_cstr("a.b.c.d"), &q), 1);
	ck_assert_int_eq(topic_add(t, amqp_cstr("a.#"), &q), 1);
	ck_assert_int_eq(topic_add(t, amqp_cstr("a.*.c"), &q), 1);
	ck_assert_uint_eq(topic_node_count(t), 8);
	ck_assert_int_eq(topic_remove(t, amqp_cstr("a.b.c.d"), &q), 1);
	ck_assert_uint_eq(topic_node_count(t), 6);
	ck_assert_int_eq(hits_for(t, "a.b", &q), 2); /* a.b and a.# */
	ck_assert_int_eq(hits_for(t, "a.b.c", &q), 2); /* a.# and a.*.c */
	ck_assert_int_eq(hits_for(t, "a.b.c.d", &q), 1); /* a.# */
	ck_assert_int_eq(topic_remove(t, amqp_cstr("a.b"), &q), 1);
	ck_assert_int_eq(topic_remove(t, amqp_cstr("a.#"), &q), 1);
	ck_assert_uint_eq(topic_node_count(t), 4);
	ck_assert_int_eq(topic_remove(t, amqp_cstr("a.*.c"), &q), 1);
	ck_assert_uint_eq(topic_node_count(t), 1);
	topic_free(t);
}
END_TEST

static void
note_null(void *dest, void *arg)
{
	if (dest == NULL)
		(*(int *)arg)++;
}

START_TEST(test_null_dest)
{
	struct topic_trie *t = topic_new();
	int                n = 0;

	ck_assert_int_eq(topic_add(t, amqp_cstr("a.*"), NULL), 1);
	ck_assert_int_eq(topic_add(t, amqp_cstr("a.*"), NULL), 0);
	topic_match(t, amqp_cstr("a.b"), note_null, &n);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(topic_remove(t, amqp_cstr("a.*"), NULL), 1);
	ck_assert_int_eq(topic_remove(t, amqp_cstr("a.*"), NULL), 0);
	ck_assert_uint_eq(topic_node_count(t), 1);
	topic_free(t);
}
END_TEST

/* Many destinations on one pattern: sets grow, shrink, stay exact. */
START_TEST(test_many_dests_one_pattern)
{
	enum { N = 20000 };
	struct topic_trie *t = topic_new();
	int               *q = calloc(N, sizeof(*q));

	ck_assert_ptr_nonnull(q);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(topic_add(t, amqp_cstr("orders.#"), &q[i]), 1);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(topic_add(t, amqp_cstr("orders.#"), &q[i]), 0);
	topic_match(t, amqp_cstr("orders.eu.new"), count_hit, NULL);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(q[i], 1);
	for (int i = 0; i < N; i += 2)
		ck_assert_int_eq(topic_remove(t, amqp_cstr("orders.#"), &q[i]), 1);
	memset(q, 0, N * sizeof(*q));
	topic_match(t, amqp_cstr("orders"), count_hit, NULL);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(q[i], i % 2);
	for (int i = 1; i < N; i += 2)
		ck_assert_int_eq(topic_remove(t, amqp_cstr("orders.#"), &q[i]), 1);
	ck_assert_uint_eq(topic_node_count(t), 1);
	topic_free(t);
	free(q);
}
END_TEST

/* A naive matcher over word lists, the reference for random tests. */
static bool
naive_match(char **p, int np, char **k, int nk)
{
	if (np == 0)
		return nk == 0;
	if (strcmp(p[0], "#") == 0)
		return naive_match(p + 1, np - 1, k, nk) ||
		       (nk > 0 && naive_match(p, np, k + 1, nk - 1));
	if (nk == 0)
		return false;
	if (strcmp(p[0], "*") == 0 || strcmp(p[0], k[0]) == 0)
		return naive_match(p + 1, np - 1, k + 1, nk - 1);
	return false;
}

/* Split s at '.' into words (s is modified); "" has none. */
static int
split(char *s, char **w)
{
	int n = 0;

	if (*s == '\0')
		return 0;
	w[n++] = s;
	for (; *s; s++) {
		if (*s == '.') {
			*s = '\0';
			w[n++] = s + 1;
		}
	}
	return n;
}

static uint32_t
xorshift(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

static void
random_words(uint32_t *seed, char *out, size_t cap, bool pattern)
{
	static const char *const pw[] = { "a", "b", "*", "#", "" };
	static const char *const kw[] = { "a", "b", "", "*", "#" };
	int                      n = (int)(xorshift(seed) % 6);

	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		const char *w = pattern ? pw[xorshift(seed) % 5] : kw[xorshift(seed) % (i % 3 ? 3 : 5)];
		if (i)
			strncat(out, ".", cap - strlen(out) - 1);
		strncat(out, w, cap - strlen(out) - 1);
	}
}

START_TEST(test_random_against_naive)
{
	enum { NPAT = 300, NKEY = 300 };
	static char        pats[NPAT][32];
	static int         hits[NPAT];
	struct topic_trie *t = topic_new();
	uint32_t           seed = 0x2545f491;
	int                added = 0;

	for (int i = 0; i < NPAT; i++) {
		random_words(&seed, pats[i], sizeof(pats[i]), true);
		int dup = 0;
		for (int j = 0; j < i; j++)
			dup |= strcmp(pats[i], pats[j]) == 0;
		/* the same pattern to a different dest is a new binding */
		ck_assert_int_eq(topic_add(t, amqp_cstr(pats[i]), &hits[i]), 1);
		ck_assert_int_eq(topic_add(t, amqp_cstr(pats[i]), &hits[i]), 0);
		added += !dup;
	}
	ck_assert_int_gt(added, 50);
	for (int k = 0; k < NKEY; k++) {
		char key[32], kcopy[32], pcopy[32], *kw[16], *pw[16];
		int  nk;

		random_words(&seed, key, sizeof(key), false);
		memset(hits, 0, sizeof(hits));
		topic_match(t, amqp_cstr(key), count_hit, NULL);
		strcpy(kcopy, key);
		nk = split(kcopy, kw);
		for (int i = 0; i < NPAT; i++) {
			strcpy(pcopy, pats[i]);
			int np = split(pcopy, pw);
			int want = naive_match(pw, np, kw, nk) ? 1 : 0;
			ck_assert_msg(hits[i] == want, "pattern '%s' key '%s': got %d, want %d",
			              pats[i], key, hits[i], want);
		}
	}
	for (int i = 0; i < NPAT; i++)
		ck_assert_int_eq(topic_remove(t, amqp_cstr(pats[i]), &hits[i]), 1);
	ck_assert_uint_eq(topic_node_count(t), 1);
	topic_free(t);
}
END_TEST

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 100k bindings of several shapes; routing finds exactly the right ones. */
START_TEST(test_100k_bindings)
{
	enum { N = 100000 };
	struct topic_trie *t = topic_new();
	int               *q = calloc(N, sizeof(*q));
	char               buf[64];
	double             t0;

	ck_assert_ptr_nonnull(q);
	for (int i = 0; i < N; i++) {
		switch (i % 4) {
		case 0: snprintf(buf, sizeof(buf), "user.%d.created", i); break;
		case 1: snprintf(buf, sizeof(buf), "user.%d.*", i); break;
		case 2: snprintf(buf, sizeof(buf), "region%d.#", i); break;
		default: snprintf(buf, sizeof(buf), "#.tenant%d", i); break;
		}
		ck_assert_int_eq(topic_add(t, amqp_cstr(buf), &q[i]), 1);
	}
	for (int i = 0; i < N; i += 997) {
		ck_assert_int_eq(topic_add(t, amqp_cstr(i % 4 == 0 ? "x" : "y"), &q[i]), 1);
		ck_assert_int_eq(topic_remove(t, amqp_cstr(i % 4 == 0 ? "x" : "y"), &q[i]), 1);
	}

	t0 = now();
	for (int r = 0; r < 20000; r++) {
		int i = (int)(((unsigned)r * 7919u) % N);

		memset(&q[i & ~3], 0, 4 * sizeof(*q));
		switch (i % 4) {
		case 0:
			snprintf(buf, sizeof(buf), "user.%d.created", i);
			topic_match(t, amqp_cstr(buf), count_hit, NULL);
			ck_assert_int_eq(q[i], 1);
			ck_assert_int_eq(q[i + 1], 0); /* user.(i+1).* wants another id */
			break;
		case 1:
			snprintf(buf, sizeof(buf), "user.%d.deleted", i);
			topic_match(t, amqp_cstr(buf), count_hit, NULL);
			ck_assert_int_eq(q[i], 1);
			ck_assert_int_eq(q[i - 1], 0);
			break;
		case 2:
			snprintf(buf, sizeof(buf), "region%d.a.b.c.d", i);
			topic_match(t, amqp_cstr(buf), count_hit, NULL);
			ck_assert_int_eq(q[i], 1);
			break;
		default:
			snprintf(buf, sizeof(buf), "a.b.c.tenant%d", i);
			topic_match(t, amqp_cstr(buf), count_hit, NULL);
			ck_assert_int_eq(q[i], 1);
			ck_assert_int_eq(q[i - 1], 0);
			break;
		}
	}
	/* 20k matches against 100k bindings: a linear scan would take minutes */
	ck_assert_msg(now() - t0 < 2.0, "matching too slow: %.2fs", now() - t0);

	/* a key nobody wants reports nothing */
	memset(q, 0, N * sizeof(*q));
	topic_match(t, amqp_cstr("nobody.wants.this"), count_hit, NULL);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(q[i], 0);

	for (int i = N - 1; i >= 0; i--) {
		switch (i % 4) {
		case 0: snprintf(buf, sizeof(buf), "user.%d.created", i); break;
		case 1: snprintf(buf, sizeof(buf), "user.%d.*", i); break;
		case 2: snprintf(buf, sizeof(buf), "region%d.#", i); break;
		default: snprintf(buf, sizeof(buf), "#.tenant%d", i); break;
		}
		ck_assert_int_eq(topic_remove(t, amqp_cstr(buf), &q[i]), 1);
	}
	ck_assert_uint_eq(topic_node_count(t), 1);
	topic_free(t);
	free(q);
}
END_TEST

/*
 * Patterns full of '#' against long keys of one repeated word: a plain
 * backtracking walk takes exponential time here; the memoized one is
 * bounded by nodes x words.
 */
START_TEST(test_no_exponential_backtracking)
{
	struct topic_trie *t = topic_new();
	static const char *const pats[] = {
		"#.a.#.a.#.a.#.a.#.a.#.a.#.a.#.a.#.a.#.a.#.b",
		"#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.b",
		"#.*.#.*.#.*.#.*.#.*.#.*.#.*.#.*.#.*.#.*.#.b",
		"#.a.#.a.#.a.#.a.#.a.#.a.#.a.#.a.#.a.#.a.#",
		"a.#.a.#.a.#.a.#.a.#.a.#.a.#.a.#.a.#.a",
	};
	int    hits[NELEM(pats)];
	char   key[256];
	double t0;

	for (size_t i = 0; i < NELEM(pats); i++)
		ck_assert_int_eq(topic_add(t, amqp_cstr(pats[i]), &hits[i]), 1);
	/* 127 words: the longest key a shortstr holds */
	key[0] = '\0';
	for (int i = 0; i < 127; i++)
		strcat(key, i ? ".a" : "a");
	t0 = now();
	memset(hits, 0, sizeof(hits));
	topic_match(t, amqp_cstr(key), count_hit, NULL);
	ck_assert_int_eq(hits[0], 0);
	ck_assert_int_eq(hits[1], 0);
	ck_assert_int_eq(hits[2], 0);
	ck_assert_int_eq(hits[3], 1);
	ck_assert_int_eq(hits[4], 1);
	key[strlen(key) - 1] = 'b';
	memset(hits, 0, sizeof(hits));
	topic_match(t, amqp_cstr(key), count_hit, NULL);
	ck_assert_int_eq(hits[0], 1);
	ck_assert_int_eq(hits[1], 1);
	ck_assert_int_eq(hits[2], 1);
	ck_assert_int_eq(hits[3], 1);
	ck_assert_int_eq(hits[4], 0);
	ck_assert_msg(now() - t0 < 1.0, "matching too slow: %.2fs", now() - t0);
	topic_free(t);
}
END_TEST

/* Keys and patterns longer than the on-stack word arrays. */
START_TEST(test_long_keys)
{
	struct topic_trie *t = topic_new();
	char              *key = malloc(4096), *pat = malloc(4096);
	int                q;

	ck_assert_ptr_nonnull(key);
	ck_assert_ptr_nonnull(pat);
	key[0] = pat[0] = '\0';
	for (int i = 0; i < 1000; i++) {
		strcat(key, i ? ".w" : "w");
		strcat(pat, i ? (i % 2 ? ".*" : ".w") : "w");
	}
	ck_assert_int_eq(topic_add(t, amqp_cstr(pat), &q), 1);
	ck_assert_int_eq(hits_for(t, key, &q), 1);
	ck_assert_int_eq(topic_remove(t, amqp_cstr(pat), &q), 1);
	ck_assert_int_eq(topic_add(t, amqp_cstr("w.#.w"), &q), 1);
	ck_assert_int_eq(hits_for(t, key, &q), 1);
	ck_assert_uint_eq(topic_node_count(t), 4);
	topic_free(t);
	free(key);
	free(pat);
}
END_TEST

/* topic_free on a populated trie releases everything (ASan checks). */
START_TEST(test_free_populated)
{
	struct topic_trie *t = topic_new();
	int                q[3];
	char               buf[32];

	for (int i = 0; i < 1000; i++) {
		snprintf(buf, sizeof(buf), "a.%d.#.x%d", i % 37, i);
		topic_add(t, amqp_cstr(buf), &q[i % 3]);
	}
	topic_free(t);
	topic_free(NULL);
}
END_TEST

Suite *
topic_suite(void)
{
	Suite *s = suite_create("topic");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_rabbitmq_table_one_by_one);
	tcase_add_test(tc, test_rabbitmq_table_together);
	tcase_add_test(tc, test_edge_cases);
	tcase_add_test(tc, test_add_remove_duplicates);
	tcase_add_test(tc, test_prune_keeps_shared_prefix);
	tcase_add_test(tc, test_null_dest);
	tcase_add_test(tc, test_many_dests_one_pattern);
	tcase_add_test(tc, test_random_against_naive);
	tcase_add_test(tc, test_100k_bindings);
	tcase_add_test(tc, test_no_exponential_backtracking);
	tcase_add_test(tc, test_long_keys);
	tcase_add_test(tc, test_free_populated);
	suite_add_tcase(s, tc);
	return s;
}
