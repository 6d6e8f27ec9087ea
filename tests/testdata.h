/*
 * testdata: the hex notation the table-driven tests keep their byte vectors
 * in (tests/data/...): hex digit pairs, with spaces and '-' ignored, and
 * "(hex)xN" for N repetitions of a group. Header-only: each Criterion test
 * is its own program.
 */
#ifndef SP_TESTDATA_H
#define SP_TESTDATA_H

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Bytes written to out, or -1 on a syntax error or when cap is too small. */
static inline long decode_hex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;

	while (*s) {
		if (isspace((unsigned char)*s) || *s == '-') {
			s++;
		} else if (*s == '(') {
			uint8_t grp[64];
			long g;
			const char *close = strchr(s, ')');
			char tmp[129];
			unsigned long rep;
			char *end;

			if (!close || close - s - 1 > 128 || close[1] != 'x')
				return -1;
			memcpy(tmp, s + 1, (size_t)(close - s - 1));
			tmp[close - s - 1] = 0;
			g = decode_hex(tmp, grp, sizeof(grp));
			rep = strtoul(close + 2, &end, 10);
			if (g <= 0 || n + (size_t)g * rep > cap)
				return -1;
			for (unsigned long i = 0; i < rep; i++, n += (size_t)g)
				memcpy(out + n, grp, (size_t)g);
			s = end;
		} else {
			int hi = hexval(s[0]), lo = s[1] ? hexval(s[1]) : -1;

			if (hi < 0 || lo < 0 || n >= cap)
				return -1;
			out[n++] = (uint8_t)(hi << 4 | lo);
			s += 2;
		}
	}
	return (long)n;
}

#endif
