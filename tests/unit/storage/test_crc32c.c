/*
 * storage/crc32c.c: the test vectors of RFC 3720 (B.4), the usual check
 * value, and chaining over any split, for the table code and for whatever
 * store_crc32c() uses on this machine (the CPU instruction, on x86-64).
 */
#include <stdlib.h>
#include <string.h>

#include "storage/crc32c.h"
#include "tests/unit/storage/test_storage.h"

START_TEST(crc32c_rfc3720_vectors)
{
	/* An iSCSI read command PDU (RFC 3720 B.4). */
	static const uint8_t pdu[48] = {
		0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
		0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
		0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00
	};
	uint8_t buf[32];
	int     i;

	memset(buf, 0, sizeof(buf));
	ck_assert_uint_eq(store_crc32c(buf, 32), 0x8a9136aaU);
	ck_assert_uint_eq(store_crc32c_portable(0, buf, 32), 0x8a9136aaU);
	memset(buf, 0xff, sizeof(buf));
	ck_assert_uint_eq(store_crc32c(buf, 32), 0x62a8ab43U);
	ck_assert_uint_eq(store_crc32c_portable(0, buf, 32), 0x62a8ab43U);
	for (i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	ck_assert_uint_eq(store_crc32c(buf, 32), 0x46dd794eU);
	ck_assert_uint_eq(store_crc32c_portable(0, buf, 32), 0x46dd794eU);
	for (i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	ck_assert_uint_eq(store_crc32c(buf, 32), 0x113fdb5cU);
	ck_assert_uint_eq(store_crc32c_portable(0, buf, 32), 0x113fdb5cU);
	ck_assert_uint_eq(store_crc32c(pdu, sizeof(pdu)), 0xd9963a56U);
	ck_assert_uint_eq(store_crc32c_portable(0, pdu, sizeof(pdu)), 0xd9963a56U);
}
END_TEST

START_TEST(crc32c_check_value)
{
	ck_assert_uint_eq(store_crc32c("123456789", 9), 0xe3069283U);
	ck_assert_uint_eq(store_crc32c_portable(0, "123456789", 9), 0xe3069283U);
	ck_assert_uint_eq(store_crc32c("", 0), 0);
}
END_TEST

/* Both implementations agree on every length, offset and seed. */
START_TEST(crc32c_implementations_agree)
{
	uint8_t  buf[600];
	uint32_t seed = 99, crc;
	size_t   i, off, n;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)test_rand(&seed);
	for (off = 0; off < 9; off++) {
		for (n = 0; n + off <= sizeof(buf); n += 1 + n / 8) {
			crc = test_rand(&seed);
			ck_assert_uint_eq(store_crc32c_update(crc, buf + off, n),
			    store_crc32c_portable(crc, buf + off, n));
		}
	}
}
END_TEST

/* Every split point and every alignment gives the one-shot answer. */
START_TEST(crc32c_chaining_and_alignment)
{
	uint8_t  raw[300], *p;
	uint32_t want, seed = 7;
	size_t   i, off, n = 257;

	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)test_rand(&seed);
	want = store_crc32c(raw, n);
	for (i = 0; i <= n; i++)
		ck_assert_uint_eq(store_crc32c_update(store_crc32c(raw, i), raw + i, n - i), want);
	for (off = 1; off < 16; off++) {
		p = malloc(n + off);
		ck_assert_ptr_nonnull(p);
		memcpy(p + off, raw, n);
		ck_assert_uint_eq(store_crc32c(p + off, n), want);
		free(p);
	}
}
END_TEST

Suite *
crc32c_suite(void)
{
	Suite *s = suite_create("crc32c");
	TCase *tc = tcase_create("crc32c");

	tcase_add_test(tc, crc32c_rfc3720_vectors);
	tcase_add_test(tc, crc32c_check_value);
	tcase_add_test(tc, crc32c_implementations_agree);
	tcase_add_test(tc, crc32c_chaining_and_alignment);
	suite_add_tcase(s, tc);
	return s;
}
