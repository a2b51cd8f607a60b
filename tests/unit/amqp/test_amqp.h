/*
 * The amqp/ unit tests: one Check suite per source file, run together by
 * test_main.c, plus the byte helpers they share.
 */
#ifndef TEST_AMQP_H
#define TEST_AMQP_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

Suite *frame_suite(void);
Suite *table_suite(void);
Suite *spec_suite(void);
Suite *props_suite(void);

/* A small deterministic generator, so failures reproduce. */
static inline uint32_t
test_rand(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *state = x;
}

#endif
