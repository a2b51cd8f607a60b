/*
 * Policies, operator policies, runtime parameters (vhost limits included,
 * as component "vhost-limits") and global parameters: their storage,
 * validation and matching.  Applying a policy's keys to queues and
 * exchanges is the engine's job: it registers a hook that runs after every
 * change and asks policy_match() what applies to an object.
 */
#ifndef SERVER_POLICY_H
#define SERVER_POLICY_H

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

enum policy_apply { POLICY_APPLY_ALL, POLICY_APPLY_QUEUES, POLICY_APPLY_EXCHANGES,
                    POLICY_APPLY_CLASSIC_QUEUES, POLICY_APPLY_QUORUM_QUEUES,
                    POLICY_APPLY_STREAMS };

struct policy {
	char             *vhost, *name, *pattern; /* owned */
	enum policy_apply apply_to;
	int               priority;
	json_t           *definition; /* ref held: an object */
	bool              operator_policy;
	regex_t           re;
};

const char *policy_apply_name(enum policy_apply a);
int         policy_apply_parse(const char *s, enum policy_apply *a);

/*
 * Validate and store a policy (definition: borrowed, a reference is
 * taken).  Returns 1 created, 0 updated, or -1 with a RabbitMQ-style
 * message in err (bad pattern, empty or unknown definition keys).
 */
int policy_set(const char *vhost, const char *name, const char *pattern, enum policy_apply apply_to,
               int priority, json_t *definition, bool operator_policy, char *err, size_t errlen);
const struct policy *policy_get(const char *vhost, const char *name, bool operator_policy);
int                  policy_delete(const char *vhost, const char *name, bool operator_policy);
/* Iterate all policies in the order set: i from 0 while non-NULL. */
const struct policy *policy_at(size_t i);

/*
 * The policy in force for an object: the highest priority (then the
 * name, as RabbitMQ breaks ties) whose pattern matches name and whose
 * apply-to covers it.  is_queue false means an exchange; queue_type is
 * "classic", "quorum" or "stream" (NULL = classic).
 */
const struct policy *policy_match(const char *vhost, const char *name, bool is_queue,
                                  const char *queue_type, bool operator_policy);

/*
 * The engine's hook, called after any policy of vhost was set or deleted,
 * so it can re-apply policy_match() to the vhost's queues and exchanges.
 */
typedef void (*policy_change_fn)(const char *vhost);
void policy_set_hook(policy_change_fn fn);

/* Runtime parameters (vhost != NULL) and global parameters (component and vhost NULL). */
struct policy_param {
	char   *component, *vhost, *name; /* owned; component/vhost NULL for global ones */
	json_t *value;                    /* ref held */
};

/* Returns 1 created, 0 updated.  value is borrowed (a reference is taken). */
int policy_param_set(const char *component, const char *vhost, const char *name, json_t *value);
const struct policy_param *policy_param_get(const char *component, const char *vhost,
                                            const char *name);
int policy_param_delete(const char *component, const char *vhost, const char *name);
const struct policy_param *policy_param_at(size_t i);

/* Everything of a deleted vhost goes. */
void policy_forget_vhost(const char *vhost);
void policy_free_all(void);

#endif
