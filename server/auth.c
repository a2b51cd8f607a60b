/*
 * Password hashing and the permission tables.  The tables are small
 * (users times vhosts), kept in arrays in the order they were set, which
 * is also the order definitions export them in.
 */
#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#include "server/util.h"

static const char *const hash_names[] = {
	[AUTH_HASH_SHA256] = "rabbit_password_hashing_sha256",
	[AUTH_HASH_SHA512] = "rabbit_password_hashing_sha512",
	[AUTH_HASH_MD5] = "rabbit_password_hashing_md5",
};

const char *
auth_hash_name(enum auth_hash alg)
{
	return hash_names[alg];
}

int
auth_hash_parse(const char *name, enum auth_hash *alg)
{
	for (size_t i = 0; i < sizeof(hash_names) / sizeof(hash_names[0]); i++)
		if (strcmp(name, hash_names[i]) == 0) {
			*alg = (enum auth_hash)i;
			return 0;
		}
	return -1;
}

static const EVP_MD *
md_of(enum auth_hash alg)
{
	switch (alg) {
	case AUTH_HASH_SHA512:
		return EVP_sha512();
	case AUTH_HASH_MD5:
		return EVP_md5();
	default:
		return EVP_sha256();
	}
}

/* salt (4 bytes) ‖ H(salt ‖ password) into out; returns the length. */
static size_t
digest(enum auth_hash alg, const uint8_t *salt, const void *password, size_t len, uint8_t *out)
{
	unsigned int n = 0;
	EVP_MD_CTX  *ctx = EVP_MD_CTX_new();

	memcpy(out, salt, 4);
	if (ctx == NULL || EVP_DigestInit_ex(ctx, md_of(alg), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, salt, 4) != 1 || EVP_DigestUpdate(ctx, password, len) != 1 ||
	    EVP_DigestFinal_ex(ctx, out + 4, &n) != 1)
		n = 0;
	EVP_MD_CTX_free(ctx);
	return 4 + n;
}

int
auth_hash_password(enum auth_hash alg, const uint8_t *salt, const void *password, size_t len,
                   char *out, size_t outlen)
{
	uint8_t s[4], raw[4 + EVP_MAX_MD_SIZE];

	if (salt == NULL) {
		if (RAND_bytes(s, sizeof(s)) != 1)
			memset(s, 0x5a, sizeof(s));
		salt = s;
	}
	size_t n = digest(alg, salt, password, len, raw);
	if (outlen < 4 * ((n + 2) / 3) + 1)
		return -1;
	EVP_EncodeBlock((unsigned char *)out, raw, (int)n);
	return 0;
}

/* Decode base64 into out (cap bytes); returns the length or -1. */
static int
unbase64(const char *b64, uint8_t *out, size_t cap)
{
	size_t len = strlen(b64);

	if (len == 0 || len % 4 != 0 || len / 4 * 3 > cap)
		return -1;
	int n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)len);
	if (n < 0)
		return -1;
	if (b64[len - 1] == '=')
		n--;
	if (b64[len - 2] == '=')
		n--;
	return n;
}

bool
auth_hash_valid(enum auth_hash alg, const char *hash_b64)
{
	uint8_t raw[4 + EVP_MAX_MD_SIZE + 3];
	int     n = unbase64(hash_b64, raw, sizeof(raw));

	return n == 4 + EVP_MD_get_size(md_of(alg));
}

bool
auth_check_password(enum auth_hash alg, const char *hash_b64, const void *password, size_t len)
{
	uint8_t stored[4 + EVP_MAX_MD_SIZE + 3], mine[4 + EVP_MAX_MD_SIZE];

	int n = unbase64(hash_b64, stored, sizeof(stored));
	if (n <= 4)
		return false;
	size_t m = digest(alg, stored, password, len, mine);
	return (size_t)n == m && CRYPTO_memcmp(stored, mine, m) == 0;
}

unsigned
auth_tags_mask(const char *tags)
{
	static const struct {
		const char *name;
		unsigned    bit;
	} known[] = {
		{ "administrator", AUTH_TAG_ADMINISTRATOR },
		{ "monitoring", AUTH_TAG_MONITORING },
		{ "policymaker", AUTH_TAG_POLICYMAKER },
		{ "management", AUTH_TAG_MANAGEMENT },
		{ "impersonator", AUTH_TAG_IMPERSONATOR },
	};
	unsigned mask = 0;
	const char *p = tags;

	while (p && *p) {
		while (*p == ',' || *p == ' ')
			p++;
		size_t n = strcspn(p, ", ");
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (n == strlen(known[i].name) && strncmp(p, known[i].name, n) == 0)
				mask |= known[i].bit;
		p += n;
	}
	return mask;
}

/* Permission tables. */

static struct auth_perm       **perms;
static size_t                   nperms, perms_cap;
static struct auth_topic_perm **tperms;
static size_t                   ntperms, tperms_cap;

static int
compile(regex_t *re, const char *src)
{
	return regcomp(re, src, REG_EXTENDED | REG_NOSUB) == 0 ? 0 : -1;
}

static ssize_t
perm_index(const char *vhost, const char *user)
{
	for (size_t i = 0; i < nperms; i++)
		if (strcmp(perms[i]->vhost, vhost) == 0 && strcmp(perms[i]->user, user) == 0)
			return (ssize_t)i;
	return -1;
}

static void
perm_free(struct auth_perm *p)
{
	for (int k = 0; k < 3; k++) {
		regfree(&p->compiled[k]);
		free(p->re[k]);
	}
	free(p->user);
	free(p->vhost);
	free(p);
}

int
auth_set_permission(const char *vhost, const char *user, const char *configure,
                    const char *write, const char *read)
{
	const char       *src[3] = { configure, write, read };
	struct auth_perm *p = xcalloc(1, sizeof(*p));
	int               k;

	for (k = 0; k < 3; k++)
		if (compile(&p->compiled[k], src[k]) != 0)
			break;
	if (k < 3) {
		while (k-- > 0)
			regfree(&p->compiled[k]);
		free(p);
		return -1;
	}
	for (k = 0; k < 3; k++)
		p->re[k] = xstrndup(src[k], strlen(src[k]));
	p->user = xstrndup(user, strlen(user));
	p->vhost = xstrndup(vhost, strlen(vhost));
	ssize_t i = perm_index(vhost, user);
	if (i >= 0) {
		perm_free(perms[i]);
		perms[i] = p;
		return 0;
	}
	if (nperms == perms_cap) {
		perms_cap = perms_cap ? perms_cap * 2 : 16;
		perms = xrealloc(perms, perms_cap * sizeof(*perms));
	}
	perms[nperms++] = p;
	return 1;
}

const struct auth_perm *
auth_permission(const char *vhost, const char *user)
{
	ssize_t i = perm_index(vhost, user);
	return i < 0 ? NULL : perms[i];
}

const struct auth_perm *
auth_permission_at(size_t i)
{
	return i < nperms ? perms[i] : NULL;
}

int
auth_delete_permission(const char *vhost, const char *user)
{
	ssize_t i = perm_index(vhost, user);

	if (i < 0)
		return -1;
	perm_free(perms[i]);
	memmove(&perms[i], &perms[i + 1], (nperms - (size_t)i - 1) * sizeof(*perms));
	nperms--;
	return 0;
}

static void
tperm_free(struct auth_topic_perm *p)
{
	for (int k = 0; k < 2; k++) {
		regfree(&p->compiled[k]);
		free(p->re[k]);
	}
	free(p->user);
	free(p->vhost);
	free(p->exchange);
	free(p);
}

/* Does p start an ERE interval: {n}, {n,} or {n,m}? */
static bool
is_interval(const char *p)
{
	size_t i = 1;

	if (p[i] < '0' || p[i] > '9')
		return false;
	while (p[i] >= '0' && p[i] <= '9')
		i++;
	if (p[i] == ',')
		for (i++; p[i] >= '0' && p[i] <= '9'; i++)
			;
	return p[i] == '}';
}

/*
 * Replace each {username} and {vhost} in re by the names, literally (as
 * RabbitMQ's binary:replace does), and escape any other '{' that does not
 * start an interval: PCRE, which RabbitMQ uses, reads it as a literal
 * (so "^{client_id}\\." is valid there), POSIX regcomp refuses it.
 * Returns an allocated string.
 */
static char *
expand_topic_vars(const char *re, const char *user, const char *vhost)
{
	size_t n = strlen(re) + 1;
	bool   in_bracket = false;

	for (const char *p = re; (p = strchr(p, '{')) != NULL; p++)
		n += strlen(user) + strlen(vhost) + 1; /* enough for any of the three */
	char *out = xmalloc(n), *o = out;
	while (*re) {
		if (strncmp(re, "{username}", 10) == 0) {
			o = stpcpy(o, user);
			re += 10;
		} else if (strncmp(re, "{vhost}", 7) == 0) {
			o = stpcpy(o, vhost);
			re += 7;
		} else if (in_bracket) {
			if (*re == ']')
				in_bracket = false;
			*o++ = *re++;
		} else if (*re == '\\' && re[1]) {
			*o++ = *re++;
			*o++ = *re++;
		} else if (*re == '[') {
			in_bracket = true;
			*o++ = *re++;
			if (*re == '^')
				*o++ = *re++;
			if (*re == ']')
				*o++ = *re++; /* a leading ']' is a member */
		} else if (*re == '{' && !is_interval(re)) {
			*o++ = '\\';
			*o++ = *re++;
		} else {
			*o++ = *re++;
		}
	}
	*o = '\0';
	return out;
}

int
auth_set_topic_permission(const char *vhost, const char *user, const char *exchange,
                          const char *write, const char *read)
{
	const char             *src[2] = { write, read };
	struct auth_topic_perm *p = xcalloc(1, sizeof(*p));
	int                     k;

	/* A topic permission only ever applies to its own user and vhost, so
	 * the variables are expanded once, here. */
	for (k = 0; k < 2; k++) {
		char *expanded = expand_topic_vars(src[k], user, vhost);
		int   rc = compile(&p->compiled[k], expanded);
		free(expanded);
		if (rc != 0)
			break;
	}
	if (k < 2) {
		while (k-- > 0)
			regfree(&p->compiled[k]);
		free(p);
		return -1;
	}
	for (k = 0; k < 2; k++)
		p->re[k] = xstrndup(src[k], strlen(src[k]));
	p->user = xstrndup(user, strlen(user));
	p->vhost = xstrndup(vhost, strlen(vhost));
	p->exchange = xstrndup(exchange, strlen(exchange));
	for (size_t i = 0; i < ntperms; i++)
		if (strcmp(tperms[i]->vhost, vhost) == 0 && strcmp(tperms[i]->user, user) == 0 &&
		    strcmp(tperms[i]->exchange, exchange) == 0) {
			tperm_free(tperms[i]);
			tperms[i] = p;
			return 0;
		}
	if (ntperms == tperms_cap) {
		tperms_cap = tperms_cap ? tperms_cap * 2 : 16;
		tperms = xrealloc(tperms, tperms_cap * sizeof(*tperms));
	}
	tperms[ntperms++] = p;
	return 1;
}

const struct auth_topic_perm *
auth_topic_permission_at(size_t i)
{
	return i < ntperms ? tperms[i] : NULL;
}

int
auth_delete_topic_permission(const char *vhost, const char *user, const char *exchange)
{
	int    n = 0;
	size_t j = 0;

	for (size_t i = 0; i < ntperms; i++) {
		struct auth_topic_perm *p = tperms[i];
		if ((vhost == NULL || strcmp(p->vhost, vhost) == 0) &&
		    (user == NULL || strcmp(p->user, user) == 0) &&
		    (exchange == NULL || strcmp(p->exchange, exchange) == 0)) {
			tperm_free(p);
			n++;
		} else {
			tperms[j++] = p;
		}
	}
	ntperms = j;
	return n;
}

bool
auth_check_topic(const char *vhost, const char *user, const char *exchange,
                 enum auth_access what, const char *routing_key)
{
	int k = what == AUTH_READ ? 1 : 0;

	for (size_t i = 0; i < ntperms; i++) {
		const struct auth_topic_perm *p = tperms[i];
		if (strcmp(p->exchange, exchange) != 0 || strcmp(p->user, user) != 0 ||
		    strcmp(p->vhost, vhost) != 0)
			continue;
		if (p->re[k][0] == '\0')
			return routing_key[0] == '\0'; /* RabbitMQ reads "" as "^$" */
		return regexec(&p->compiled[k], routing_key, 0, NULL, 0) == 0;
	}
	return true;
}

void
auth_forget(const char *vhost, const char *user)
{
	size_t j = 0;

	for (size_t i = 0; i < nperms; i++) {
		struct auth_perm *p = perms[i];
		if ((vhost && strcmp(p->vhost, vhost) == 0) || (user && strcmp(p->user, user) == 0))
			perm_free(p);
		else
			perms[j++] = p;
	}
	nperms = j;
	if (vhost)
		auth_delete_topic_permission(vhost, NULL, NULL);
	if (user)
		auth_delete_topic_permission(NULL, user, NULL);
}

bool
auth_vhost_access(const char *vhost, const char *user)
{
	return perm_index(vhost, user) >= 0;
}

bool
auth_check(const char *vhost, const char *user, enum auth_access what, const char *name)
{
	const struct auth_perm *p = auth_permission(vhost, user);

	if (p == NULL)
		return false;
	if (*name == '\0')
		name = "amq.default";
	/* RabbitMQ: an empty regex matches nothing, not everything. */
	if (p->re[what][0] == '\0')
		return false;
	return regexec(&p->compiled[what], name, 0, NULL, 0) == 0;
}

void
auth_free_all(void)
{
	for (size_t i = 0; i < nperms; i++)
		perm_free(perms[i]);
	for (size_t i = 0; i < ntperms; i++)
		tperm_free(tperms[i]);
	free(perms);
	free(tperms);
	perms = NULL;
	tperms = NULL;
	nperms = perms_cap = ntperms = tperms_cap = 0;
}
