/*
 * crc32: CRC-32/IEEE (the zlib/Ethernet CRC) over a byte buffer, for STUN
 * FINGERPRINT. Incremental like zlib's crc32(): start from 0 and feed the
 * previous result back in; crc32_update(0, "123456789", 9) == 0xCBF43926.
 */
#ifndef SP_CRC32_H
#define SP_CRC32_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32_update(uint32_t crc, const void *buf, size_t len);

#endif
