/* SPDX-License-Identifier: MIT */
/*
 * crc32c.h: CRC-32C (Castagnoli), the checksum of WAL records and the
 * hardstate file. crc32c() uses the SSE4.2 instruction when the CPU has it
 * and a table-driven software path otherwise; both give the same result.
 */
#ifndef LMS_CORE_CRC32C_H
#define LMS_CORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extend crc (0 to start) with len bytes of data; the pre- and post-
 * inversion is done inside, so crc32c(crc32c(0, a), b) == crc32c(0, a|b)
 * and crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

/* The two implementations, for tests and benchmarks. crc32c_hw may only
 * be called when crc32c_hw_available() is true. */
uint32_t crc32c_sw(uint32_t crc, const void *data, size_t len);
uint32_t crc32c_hw(uint32_t crc, const void *data, size_t len);
int crc32c_hw_available(void);

#endif
