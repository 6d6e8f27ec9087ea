/*
 * fuzz_sdes: libFuzzer target for the SRTP key text parser
 * (controlplane/sdes.c). Byte 0 picks the suite (0..5, so invalid ones
 * too); the rest, NUL-terminated, is the key text. A key that parses must
 * format back and parse to the same key; a refused one leaves nothing set.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sdes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg_srtp_key k, again;
	char text[72];

	if (size < 1 || size > 4096)
		return 0;
	char *s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	uint8_t suite = (uint8_t)(data[0] % 6);
	if (sdes_suite_parse(s) > 4)
		abort();
	if (sdes_key_parse(&k, suite, s) == 0) {
		if (k.suite != suite || k.master_len == 0 || k.master_len > sizeof(k.master))
			abort();
		if (sdes_key_format(&k, text, sizeof(text)) != 0 ||
		    sdes_key_parse(&again, suite, text) != 0 || !sdes_key_equal(&k, &again))
			abort();
	} else if (k.suite || k.master_len) {
		abort();
	}
	free(s);
	return 0;
}
