/*
 * Users' credentials and rights, as RabbitMQ keeps them: password hashes
 * (rabbit_password_hashing_sha256 and _sha512: base64(salt ‖ H(salt ‖
 * password)) with a 4-byte salt), user tags, per-vhost permissions
 * (configure, write and read regular expressions) and topic permissions.
 * Storage and checks only; who asks (AMQP, HTTP, definitions) is the
 * caller's business.
 */
#ifndef SERVER_AUTH_H
#define SERVER_AUTH_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum auth_hash {
	AUTH_HASH_SHA256, /* rabbit_password_hashing_sha256 (the default) */
	AUTH_HASH_SHA512, /* rabbit_password_hashing_sha512 */
	AUTH_HASH_MD5,    /* rabbit_password_hashing_md5 (pre-3.6 exports) */
};

/* Longest base64 hash: 4 + 64 bytes -> 92 characters. */
#define AUTH_HASH_B64_MAX 96

const char *auth_hash_name(enum auth_hash alg);
/* Parse a hashing_algorithm name; -1 if unknown. */
int auth_hash_parse(const char *name, enum auth_hash *alg);

/*
 * Hash password (len bytes) with the 4-byte salt into out as base64,
 * NUL-terminated.  salt NULL draws a random one.  Returns 0, or -1 if
 * out is too small.
 */
int auth_hash_password(enum auth_hash alg, const uint8_t *salt, const void *password, size_t len,
                       char *out, size_t outlen);

/*
 * Check a password against a stored base64 hash in constant time.  An
 * empty stored hash matches nothing (RabbitMQ: a user without a password
 * cannot log in with one).
 */
bool auth_check_password(enum auth_hash alg, const char *hash_b64, const void *password,
                         size_t len);

/* Whether a base64 hash decodes to a plausible salt + digest for alg. */
bool auth_hash_valid(enum auth_hash alg, const char *hash_b64);

/* User tags, as a bit set. */
#define AUTH_TAG_ADMINISTRATOR 0x01u
#define AUTH_TAG_MONITORING    0x02u
#define AUTH_TAG_POLICYMAKER   0x04u
#define AUTH_TAG_MANAGEMENT    0x08u
#define AUTH_TAG_IMPERSONATOR  0x10u

/* The tags named in a comma-separated list (spaces ignored). */
unsigned auth_tags_mask(const char *tags);

/* Which check: the AMQP permission kinds. */
enum auth_access { AUTH_CONFIGURE, AUTH_WRITE, AUTH_READ };

struct auth_perm {
	char   *user, *vhost;            /* owned */
	char   *re[3];                   /* owned: configure, write, read */
	regex_t compiled[3];
};

struct auth_topic_perm {
	char   *user, *vhost, *exchange; /* owned */
	char   *re[2];                   /* owned: write, read, as set */
	regex_t compiled[2];             /* with {username} and {vhost} expanded */
};

/*
 * Set (create or replace) a user's permissions on a vhost.  Returns 1 when
 * it created them, 0 when it replaced them, -1 when a regex does not
 * compile (nothing changed).
 */
int auth_set_permission(const char *vhost, const char *user, const char *configure,
                        const char *write, const char *read);
/* The permissions, or NULL; borrowed until the next change. */
const struct auth_perm *auth_permission(const char *vhost, const char *user);
/* Returns 0, or -1 if there were none. */
int  auth_delete_permission(const char *vhost, const char *user);
/* Forget everything about a deleted user or vhost (NULL = not this kind). */
void auth_forget(const char *vhost, const char *user);
/* All permissions, in the order set; i from 0 while it returns non-NULL. */
const struct auth_perm *auth_permission_at(size_t i);

/* Topic permissions: as above, keyed by (vhost, user, exchange). */
int auth_set_topic_permission(const char *vhost, const char *user, const char *exchange,
                              const char *write, const char *read);
const struct auth_topic_perm *auth_topic_permission_at(size_t i);
/* exchange NULL deletes all of the user's on the vhost; returns how many went. */
int auth_delete_topic_permission(const char *vhost, const char *user, const char *exchange);

/*
 * RabbitMQ's topic authorisation (rabbit_auth_backend_internal): may user
 * publish with (AUTH_WRITE) or bind with (AUTH_READ) routing_key on the
 * topic exchange in vhost?  True when the user has no topic permission for
 * that exchange; else the routing key must match the regex, in which
 * {username} and {vhost} stand for the user's and the vhost's names (the
 * only variables RabbitMQ sets for AMQP 0-9-1; {client_id} stays as
 * written).  An empty regex matches only the empty routing key.  No
 * allocation: cheap when there are no topic permissions at all.
 */
bool auth_check_topic(const char *vhost, const char *user, const char *exchange,
                      enum auth_access what, const char *routing_key);

/*
 * May user do `what` on the resource `name` (a queue or exchange name) in
 * vhost?  False without permissions on the vhost.  The default exchange
 * is checked as "amq.default", as RabbitMQ does.
 */
bool auth_check(const char *vhost, const char *user, enum auth_access what, const char *name);
/* Does the user have any permissions on the vhost? */
bool auth_vhost_access(const char *vhost, const char *user);

/* Free everything (shutdown). */
void auth_free_all(void);

#endif
