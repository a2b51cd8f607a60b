/*
 * The unit tests of mgmt/'s pure parts (query.c, http.c over byte strings)
 * and of server/auth.c's password hashing: one Check suite per file.
 */
#ifndef TEST_MGMT_H
#define TEST_MGMT_H

#include <check.h>

Suite *query_suite(void);
Suite *http_suite(void);
Suite *auth_suite(void);
Suite *www_suite(void);

#endif
