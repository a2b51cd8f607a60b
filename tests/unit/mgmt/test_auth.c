/*
 * server/auth.c: RabbitMQ's password hashes (vectors computed with
 * base64(salt ‖ H(salt ‖ password)) in Python), tags and permission regexes.
 */
#include <string.h>

#include "server/auth.h"
#include "tests/unit/mgmt/test_mgmt.h"

static const uint8_t salt[4] = { 0x90, 0x8d, 0xc6, 0x0a };

START_TEST(test_sha256_vector)
{
	char out[AUTH_HASH_B64_MAX];

	ck_assert_int_eq(auth_hash_password(AUTH_HASH_SHA256, salt, "test12", 6, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR");
	ck_assert(auth_check_password(AUTH_HASH_SHA256, out, "test12", 6));
	ck_assert(!auth_check_password(AUTH_HASH_SHA256, out, "test13", 6));
	ck_assert(!auth_check_password(AUTH_HASH_SHA256, out, "", 0));
}
END_TEST

START_TEST(test_sha512_vector)
{
	const char *h = "kI3GChuNuIYf8lRbCCxZjgjKwsY19ns6+uFO0zcXRBGA/XGJPYD8OWMy7EB8TaOmAzjP2azv84Gb"
	                "INYwX2cDWb4DHnc=";
	char out[AUTH_HASH_B64_MAX];

	ck_assert_int_eq(auth_hash_password(AUTH_HASH_SHA512, salt, "test12", 6, out, sizeof(out)), 0);
	ck_assert_str_eq(out, h);
	ck_assert(auth_check_password(AUTH_HASH_SHA512, h, "test12", 6));
	ck_assert(auth_hash_valid(AUTH_HASH_SHA512, h));
	ck_assert(!auth_hash_valid(AUTH_HASH_SHA256, h));
}
END_TEST

START_TEST(test_sample_guest_hash)
{
	/* users.json of the RabbitMQ samples: the hash of "guest" */
	ck_assert(auth_check_password(AUTH_HASH_SHA256,
	                              "wwfSY0h3y29bALovYzvw4bHuP1Vbzi0JAc/4ohD7lp4CmsD9", "guest", 5));
}
END_TEST

START_TEST(test_random_salt_differs)
{
	char a[AUTH_HASH_B64_MAX], b[AUTH_HASH_B64_MAX];

	auth_hash_password(AUTH_HASH_SHA256, NULL, "pw", 2, a, sizeof(a));
	auth_hash_password(AUTH_HASH_SHA256, NULL, "pw", 2, b, sizeof(b));
	ck_assert(auth_check_password(AUTH_HASH_SHA256, a, "pw", 2));
	ck_assert(auth_check_password(AUTH_HASH_SHA256, b, "pw", 2));
	ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(test_bad_hashes_match_nothing)
{
	ck_assert(!auth_check_password(AUTH_HASH_SHA256, "", "", 0));
	ck_assert(!auth_check_password(AUTH_HASH_SHA256, "not base64!", "x", 1));
	ck_assert(!auth_check_password(AUTH_HASH_SHA256, "AAAA", "x", 1));
}
END_TEST

START_TEST(test_names_and_tags)
{
	enum auth_hash a;

	ck_assert_int_eq(auth_hash_parse("rabbit_password_hashing_sha512", &a), 0);
	ck_assert_int_eq(a, AUTH_HASH_SHA512);
	ck_assert_int_eq(auth_hash_parse("bogus", &a), -1);
	ck_assert_str_eq(auth_hash_name(AUTH_HASH_SHA256), "rabbit_password_hashing_sha256");
	ck_assert_uint_eq(auth_tags_mask("administrator"), AUTH_TAG_ADMINISTRATOR);
	ck_assert_uint_eq(auth_tags_mask("monitoring, management"),
	                  AUTH_TAG_MONITORING | AUTH_TAG_MANAGEMENT);
	ck_assert_uint_eq(auth_tags_mask("adminx,policymaker"), AUTH_TAG_POLICYMAKER);
	ck_assert_uint_eq(auth_tags_mask(""), 0);
}
END_TEST

START_TEST(test_permissions)
{
	ck_assert_int_eq(auth_set_permission("/", "u", "^conf-", ".*", ""), 1);
	ck_assert(auth_check("/", "u", AUTH_CONFIGURE, "conf-q"));
	ck_assert(!auth_check("/", "u", AUTH_CONFIGURE, "other"));
	ck_assert(auth_check("/", "u", AUTH_WRITE, ""));    /* checked as amq.default */
	ck_assert(!auth_check("/", "u", AUTH_READ, "any")); /* empty regex matches nothing */
	ck_assert(!auth_check("other", "u", AUTH_WRITE, "x"));
	ck_assert_int_eq(auth_set_permission("/", "u", ".*", ".*", ".*"), 0);
	ck_assert_int_eq(auth_set_permission("/", "u", "(", ".*", ".*"), -1);
	ck_assert(auth_check("/", "u", AUTH_READ, "any"));
	ck_assert(auth_vhost_access("/", "u"));
	auth_forget(NULL, "u");
	ck_assert(!auth_vhost_access("/", "u"));
	auth_free_all();
}
END_TEST

/* Topic permissions: variables, PCRE's literal braces, empty regexes. */
START_TEST(test_topic_permissions)
{
	/* no topic permission: anything goes */
	ck_assert(auth_check_topic("/", "u", "t", AUTH_WRITE, "any.key"));
	ck_assert_int_eq(auth_set_topic_permission("/", "u", "t", "^{username}\\.", "^r-{vhost}-[{]x"), 1);
	ck_assert(auth_check_topic("/", "u", "t", AUTH_WRITE, "u.a"));
	ck_assert(!auth_check_topic("/", "u", "t", AUTH_WRITE, "v.a"));
	ck_assert(auth_check_topic("/", "u", "t", AUTH_READ, "r-/-{x"));
	ck_assert(!auth_check_topic("/", "u", "t", AUTH_READ, "r-/-x"));
	/* other users, vhosts and exchanges are not concerned */
	ck_assert(auth_check_topic("/", "w", "t", AUTH_WRITE, "v.a"));
	ck_assert(auth_check_topic("other", "u", "t", AUTH_WRITE, "v.a"));
	ck_assert(auth_check_topic("/", "u", "t2", AUTH_WRITE, "v.a"));
	/* {client_id} stays as written; a brace that is no interval is a literal */
	ck_assert_int_eq(auth_set_topic_permission("/", "u", "t", "^{client_id}\\.|^a{2}$", ""), 0);
	ck_assert(auth_check_topic("/", "u", "t", AUTH_WRITE, "{client_id}.x"));
	ck_assert(auth_check_topic("/", "u", "t", AUTH_WRITE, "aa"));
	ck_assert(!auth_check_topic("/", "u", "t", AUTH_WRITE, "a"));
	/* "" matches only the empty key */
	ck_assert(auth_check_topic("/", "u", "t", AUTH_READ, ""));
	ck_assert(!auth_check_topic("/", "u", "t", AUTH_READ, "a"));
	ck_assert_int_eq(auth_set_topic_permission("/", "u", "t", "(", ".*"), -1);
	ck_assert_int_eq(auth_delete_topic_permission("/", "u", NULL), 1);
	ck_assert(auth_check_topic("/", "u", "t", AUTH_WRITE, "v.a"));
	auth_free_all();
}
END_TEST

Suite *
auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_sha256_vector);
	tcase_add_test(tc, test_sha512_vector);
	tcase_add_test(tc, test_sample_guest_hash);
	tcase_add_test(tc, test_random_salt_differs);
	tcase_add_test(tc, test_bad_hashes_match_nothing);
	tcase_add_test(tc, test_names_and_tags);
	tcase_add_test(tc, test_permissions);
	tcase_add_test(tc, test_topic_permissions);
	suite_add_tcase(s, tc);
	return s;
}
