/*
 * keyhex: secrets kept in files as hex (device keys, the endpoint's master
 * and token keys). One line of hex digits; surrounding whitespace and a
 * trailing newline allowed, nothing else. Never logs the content.
 */
#ifndef SP_KEYHEX_H
#define SP_KEYHEX_H

#include <stddef.h>
#include <stdint.h>

/* Decodes text (len bytes) into out. Returns the key length (min..max
 * bytes) or -EINVAL (not hex, odd digit count, out of range). */
int keyhex_parse(const char *text, size_t len, uint8_t *out, size_t min, size_t max);
/* Reads path (at most 4 KiB) and parses it. -errno from open/read too. */
int keyhex_read(const char *path, uint8_t *out, size_t min, size_t max);

#endif
