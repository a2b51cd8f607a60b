/*
 * Topic exchange matching: a trie over dot-separated words with '*' (one
 * word) and '#' (zero or more words), so routing walks the key's words
 * instead of scanning every binding.  Pure data structure: bindings carry
 * an opaque destination pointer.
 */
#ifndef SERVER_TOPIC_H
#define SERVER_TOPIC_H

#include <stddef.h>

#include "amqp/bytes.h"

struct topic_trie; /* opaque */

struct topic_trie *topic_new(void);
void               topic_free(struct topic_trie *t);

/*
 * Add (pattern, dest).  Returns 1 if added, 0 if that pair was already
 * there.  Patterns are copied.
 */
int topic_add(struct topic_trie *t, struct amqp_bytes pattern, void *dest);

/* Remove (pattern, dest): 1 if removed, 0 if absent. */
int topic_remove(struct topic_trie *t, struct amqp_bytes pattern, void *dest);

/*
 * Call fn(dest, arg) for each binding whose pattern matches key.  A
 * destination bound with several matching patterns may be reported more
 * than once; the caller deduplicates.  Matching follows RabbitMQ: words are
 * split on '.', empty words count ("a..b" has three words), '#' matches zero
 * or more words, '*' exactly one.
 */
void topic_match(const struct topic_trie *t, struct amqp_bytes key,
                 void (*fn)(void *dest, void *arg), void *arg);

/* Nodes in the trie, the root included (for tests and memory statistics). */
size_t topic_node_count(const struct topic_trie *t);

#endif
