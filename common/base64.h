/*
 * base64: standard alphabet (RFC 4648 section 4), for SDP sprop parameter
 * sets and RTSP Basic auth. Encoding pads; decoding accepts input with or
 * without padding but nothing else (no whitespace, no URL alphabet).
 */
#ifndef SP_BASE64_H
#define SP_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Characters needed to encode n bytes, NUL excluded. */
#define BASE64_ENC_LEN(n) (((n) + 2) / 3 * 4)

/* NUL-terminated; returns the length or -ENOSPC. */
int base64_encode(const uint8_t *in, size_t n, char *out, size_t cap);
/* Returns the bytes written, -EINVAL (bad character, bad length or
 * padding), -ENOSPC. */
int base64_decode(const char *in, size_t n, uint8_t *out, size_t cap);

#endif
