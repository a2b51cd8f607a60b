/*
 * The unit tests of server/'s pure modules (config, log, topic, headers):
 * one Check suite per source file, run together by test_main.c.
 */
#ifndef TEST_SERVER_H
#define TEST_SERVER_H

#include <check.h>

Suite *config_suite(void);
Suite *log_suite(void);
Suite *topic_suite(void);
Suite *headers_suite(void);
Suite *hmap_suite(void);
Suite *transport_suite(void);

#endif
