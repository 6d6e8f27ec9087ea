/*
 * base64: see base64.h.
 */
#include "base64.h"

#include <errno.h>

static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
	size_t need = BASE64_ENC_LEN(n), o = 0;
	if (n > (size_t)INT32_MAX / 2 || need >= cap)
		return -ENOSPC;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = alpha[v >> 18 & 63];
		out[o++] = alpha[v >> 12 & 63];
		out[o++] = i + 1 < n ? alpha[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? alpha[v & 63] : '=';
	}
	out[o] = '\0';
	return (int)o;
}

static int val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int base64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
	size_t len = n, o = 0;
	uint32_t acc = 0, bits = 0;
	while (len && in[len - 1] == '=')
		len--;
	/* padding only completes the last quantum */
	if (n - len > 2 || len % 4 == 1 || (n != len && n % 4 != 0) || n > (size_t)INT32_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		int v = val(in[i]);
		if (v < 0)
			return -EINVAL;
		acc = (acc << 6 | (uint32_t)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= cap)
				return -ENOSPC;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return (int)o;
}
