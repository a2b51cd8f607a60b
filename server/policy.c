/*
 * Policy and parameter storage.  Small arrays in the order things were
 * set; lookups are linear, which is fine for the tens of policies a broker
 * has.
 */
#include "server/policy.h"

#include <stdio.h>
#include <string.h>

#include "server/util.h"

static struct policy       **policies;
static size_t                npolicies, policies_cap;
static struct policy_param **params;
static size_t                nparams, params_cap;
static policy_change_fn      hook;

static const char *const apply_names[] = {
	[POLICY_APPLY_ALL] = "all",
	[POLICY_APPLY_QUEUES] = "queues",
	[POLICY_APPLY_EXCHANGES] = "exchanges",
	[POLICY_APPLY_CLASSIC_QUEUES] = "classic_queues",
	[POLICY_APPLY_QUORUM_QUEUES] = "quorum_queues",
	[POLICY_APPLY_STREAMS] = "streams",
};

const char *
policy_apply_name(enum policy_apply a)
{
	return apply_names[a];
}

int
policy_apply_parse(const char *s, enum policy_apply *a)
{
	for (size_t i = 0; i < sizeof(apply_names) / sizeof(apply_names[0]); i++)
		if (strcmp(s, apply_names[i]) == 0) {
			*a = (enum policy_apply)i;
			return 0;
		}
	return -1;
}

void
policy_set_hook(policy_change_fn fn)
{
	hook = fn;
}

/* The keys RabbitMQ 3.10 accepts in a policy definition, and their JSON types. */
static const struct {
	const char *key;
	char        type; /* i integer, s string, b boolean, n number, a anything */
	bool        op;   /* allowed in operator policies */
} known_keys[] = {
	{ "alternate-exchange", 's', false },
	{ "dead-letter-exchange", 's', false },
	{ "dead-letter-routing-key", 's', false },
	{ "dead-letter-strategy", 's', false },
	{ "delivery-limit", 'i', true },
	{ "expires", 'i', true },
	{ "federation-upstream", 's', false },
	{ "federation-upstream-set", 's', false },
	{ "ha-mode", 's', false },
	{ "ha-params", 'a', false },
	{ "ha-promote-on-failure", 's', false },
	{ "ha-promote-on-shutdown", 's', false },
	{ "ha-sync-batch-size", 'i', false },
	{ "ha-sync-mode", 's', false },
	{ "initial-cluster-size", 'i', false },
	{ "max-age", 's', false },
	{ "max-length", 'i', true },
	{ "max-length-bytes", 'i', true },
	{ "max-segment-size-bytes", 'i', false },
	{ "message-ttl", 'i', true },
	{ "overflow", 's', true },
	{ "queue-leader-locator", 's', false },
	{ "queue-master-locator", 's', false },
	{ "queue-mode", 's', false },
	{ "queue-version", 'i', false },
	{ "shovel", 'a', false },
	{ "stream-max-segment-size-bytes", 'i', false },
};

static int
validate(json_t *def, bool op, char *err, size_t errlen)
{
	const char *key;
	json_t     *v;

	if (!json_is_object(def) || json_object_size(def) == 0) {
		snprintf(err, errlen, "Validation failed\n\nno policy provided\n");
		return -1;
	}
	json_object_foreach (def, key, v) {
		size_t i;
		for (i = 0; i < sizeof(known_keys) / sizeof(known_keys[0]); i++)
			if (strcmp(key, known_keys[i].key) == 0)
				break;
		if (i == sizeof(known_keys) / sizeof(known_keys[0]) || (op && !known_keys[i].op)) {
			snprintf(err, errlen, "Validation failed\n\n[<<\"%s\">>] are not recognised policy settings\n",
			         key);
			return -1;
		}
		bool ok = true;
		switch (known_keys[i].type) {
		case 'i':
			ok = json_is_integer(v) && json_integer_value(v) >= 0;
			break;
		case 's':
			ok = json_is_string(v);
			break;
		default:
			break;
		}
		if (!ok) {
			snprintf(err, errlen, "Validation failed\n\n%s is not a valid value\n", key);
			return -1;
		}
	}
	return 0;
}

static ssize_t
policy_index(const char *vhost, const char *name, bool op)
{
	for (size_t i = 0; i < npolicies; i++)
		if (policies[i]->operator_policy == op && strcmp(policies[i]->vhost, vhost) == 0 &&
		    strcmp(policies[i]->name, name) == 0)
			return (ssize_t)i;
	return -1;
}

static void
policy_free(struct policy *p)
{
	regfree(&p->re);
	json_decref(p->definition);
	free(p->vhost);
	free(p->name);
	free(p->pattern);
	free(p);
}

int
policy_set(const char *vhost, const char *name, const char *pattern, enum policy_apply apply_to,
           int priority, json_t *definition, bool op, char *err, size_t errlen)
{
	struct policy *p;

	if (validate(definition, op, err, errlen) != 0)
		return -1;
	p = xcalloc(1, sizeof(*p));
	if (regcomp(&p->re, pattern, REG_EXTENDED | REG_NOSUB) != 0) {
		free(p);
		snprintf(err, errlen, "Validation failed\n\n<<\"%s\">> is not a valid regular expression\n",
		         pattern);
		return -1;
	}
	p->vhost = xstrndup(vhost, strlen(vhost));
	p->name = xstrndup(name, strlen(name));
	p->pattern = xstrndup(pattern, strlen(pattern));
	p->apply_to = apply_to;
	p->priority = priority;
	p->definition = json_incref(definition);
	p->operator_policy = op;
	int     created = 1;
	ssize_t i = policy_index(vhost, name, op);
	if (i >= 0) {
		policy_free(policies[i]);
		policies[i] = p;
		created = 0;
	} else {
		if (npolicies == policies_cap) {
			policies_cap = policies_cap ? policies_cap * 2 : 8;
			policies = xrealloc(policies, policies_cap * sizeof(*policies));
		}
		policies[npolicies++] = p;
	}
	if (hook)
		hook(vhost);
	return created;
}

const struct policy *
policy_get(const char *vhost, const char *name, bool op)
{
	ssize_t i = policy_index(vhost, name, op);
	return i < 0 ? NULL : policies[i];
}

int
policy_delete(const char *vhost, const char *name, bool op)
{
	ssize_t i = policy_index(vhost, name, op);
	char   *vh;

	if (i < 0)
		return -1;
	vh = xstrndup(vhost, strlen(vhost));
	policy_free(policies[i]);
	memmove(&policies[i], &policies[i + 1], (npolicies - (size_t)i - 1) * sizeof(*policies));
	npolicies--;
	if (hook)
		hook(vh);
	free(vh);
	return 0;
}

const struct policy *
policy_at(size_t i)
{
	return i < npolicies ? policies[i] : NULL;
}

static bool
applies(const struct policy *p, bool is_queue, const char *queue_type)
{
	bool classic = queue_type == NULL || strcmp(queue_type, "classic") == 0;

	switch (p->apply_to) {
	case POLICY_APPLY_ALL:
		return true;
	case POLICY_APPLY_EXCHANGES:
		return !is_queue;
	case POLICY_APPLY_QUEUES:
		return is_queue;
	case POLICY_APPLY_CLASSIC_QUEUES:
		return is_queue && classic;
	case POLICY_APPLY_QUORUM_QUEUES:
		return is_queue && queue_type && strcmp(queue_type, "quorum") == 0;
	case POLICY_APPLY_STREAMS:
		return is_queue && queue_type && strcmp(queue_type, "stream") == 0;
	}
	return false;
}

const struct policy *
policy_match(const char *vhost, const char *name, bool is_queue, const char *queue_type, bool op)
{
	const struct policy *best = NULL;

	/* RabbitMQ never applies policies to the default exchange or amq.* exchanges' peers. */
	if (!is_queue && *name == '\0')
		return NULL;
	for (size_t i = 0; i < npolicies; i++) {
		const struct policy *p = policies[i];
		if (p->operator_policy != op || strcmp(p->vhost, vhost) != 0 ||
		    !applies(p, is_queue, queue_type) || regexec(&p->re, name, 0, NULL, 0) != 0)
			continue;
		if (best == NULL || p->priority > best->priority ||
		    (p->priority == best->priority && strcmp(p->name, best->name) > 0))
			best = p;
	}
	return best;
}

static bool
streq_null(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static ssize_t
param_index(const char *component, const char *vhost, const char *name)
{
	for (size_t i = 0; i < nparams; i++)
		if (streq_null(params[i]->component, component) && streq_null(params[i]->vhost, vhost) &&
		    strcmp(params[i]->name, name) == 0)
			return (ssize_t)i;
	return -1;
}

static char *
dup_null(const char *s)
{
	return s ? xstrndup(s, strlen(s)) : NULL;
}

static void
param_free(struct policy_param *p)
{
	free(p->component);
	free(p->vhost);
	free(p->name);
	json_decref(p->value);
	free(p);
}

int
policy_param_set(const char *component, const char *vhost, const char *name, json_t *value)
{
	struct policy_param *p = xcalloc(1, sizeof(*p));
	ssize_t              i = param_index(component, vhost, name);

	p->component = dup_null(component);
	p->vhost = dup_null(vhost);
	p->name = xstrndup(name, strlen(name));
	p->value = json_incref(value);
	if (i >= 0) {
		param_free(params[i]);
		params[i] = p;
		return 0;
	}
	if (nparams == params_cap) {
		params_cap = params_cap ? params_cap * 2 : 8;
		params = xrealloc(params, params_cap * sizeof(*params));
	}
	params[nparams++] = p;
	return 1;
}

const struct policy_param *
policy_param_get(const char *component, const char *vhost, const char *name)
{
	ssize_t i = param_index(component, vhost, name);
	return i < 0 ? NULL : params[i];
}

int
policy_param_delete(const char *component, const char *vhost, const char *name)
{
	ssize_t i = param_index(component, vhost, name);

	if (i < 0)
		return -1;
	param_free(params[i]);
	memmove(&params[i], &params[i + 1], (nparams - (size_t)i - 1) * sizeof(*params));
	nparams--;
	return 0;
}

const struct policy_param *
policy_param_at(size_t i)
{
	return i < nparams ? params[i] : NULL;
}

void
policy_forget_vhost(const char *vhost)
{
	size_t j = 0;

	for (size_t i = 0; i < npolicies; i++)
		if (strcmp(policies[i]->vhost, vhost) == 0)
			policy_free(policies[i]);
		else
			policies[j++] = policies[i];
	npolicies = j;
	j = 0;
	for (size_t i = 0; i < nparams; i++)
		if (params[i]->vhost && strcmp(params[i]->vhost, vhost) == 0)
			param_free(params[i]);
		else
			params[j++] = params[i];
	nparams = j;
}

void
policy_free_all(void)
{
	for (size_t i = 0; i < npolicies; i++)
		policy_free(policies[i]);
	for (size_t i = 0; i < nparams; i++)
		param_free(params[i]);
	free(policies);
	free(params);
	policies = NULL;
	params = NULL;
	npolicies = policies_cap = nparams = params_cap = 0;
}
