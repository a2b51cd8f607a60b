/*
 * CRC32C (Castagnoli, the iSCSI polynomial 0x1EDC6F41, reflected), the
 * checksum of every record storage/ writes.  Pure functions, no state.
 */
#ifndef STORE_CRC32C_H
#define STORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * The CRC32C of p[0..n).
 */
uint32_t store_crc32c(const void *p, size_t n);

/*
 * Extend a finished CRC32C: store_crc32c_update(store_crc32c(a), b) is the
 * CRC32C of a followed by b.  store_crc32c_update(0, p, n) is
 * store_crc32c(p, n).
 */
uint32_t store_crc32c_update(uint32_t crc, const void *p, size_t n);

/*
 * The same by table lookups only.  store_crc32c_update() uses the CPU's
 * CRC32C instruction where there is one (x86-64 with SSE4.2, checked at
 * run time) and this otherwise; exported so tests cover both.
 */
uint32_t store_crc32c_portable(uint32_t crc, const void *p, size_t n);

#endif
