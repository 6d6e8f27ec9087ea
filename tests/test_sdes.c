/* sdes: SRTP key text as operators and signalling give it (table-driven). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "sdes.h"

static const struct {
	const char *name;
	uint8_t suite;
} suite_rows[] = {
	{ "AES_CM_128_HMAC_SHA1_80", 1 }, { "aes_cm_128_hmac_sha1_80", 1 },
	{ "AES_CM_128_HMAC_SHA1_32", 2 }, { "AEAD_AES_128_GCM", 3 },
	{ "Aead_Aes_256_Gcm", 4 },        { "AES_CM_128_HMAC_SHA1_8", 0 },
	{ "AES_256_CM_HMAC_SHA1_80", 0 }, { "F8_128_HMAC_SHA1_80", 0 },
	{ "", 0 },                        { "AEAD_AES_128_GCM ", 0 },
};

Test(sdes, suite_names)
{
	for (size_t i = 0; i < sizeof(suite_rows) / sizeof(suite_rows[0]); i++)
		cr_expect_eq(sdes_suite_parse(suite_rows[i].name), suite_rows[i].suite, "%s",
			     suite_rows[i].name);
	cr_expect_eq(sdes_suite_parse(NULL), 0);
	cr_expect_str_eq(sdes_suite_name(0), "plain");
	cr_expect_str_eq(sdes_suite_name(3), "AEAD_AES_128_GCM");
	cr_expect_str_eq(sdes_suite_name(5), "?");
	for (uint8_t s = 1; s <= 4; s++)
		cr_expect_eq(sdes_suite_parse(sdes_suite_name(s)), s);
}

/* 30 bytes 0x00..0x1d, 28 bytes, 44 bytes, in base64 */
#define B30 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"
#define B28 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw=="
#define B44 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKis="

static const struct {
	const char *what;
	uint8_t suite;
	const char *text;
	int rc;
	size_t len;
} key_rows[] = {
	{ "cm80 30 bytes", 1, B30, 0, 30 },
	{ "cm32 30 bytes", 2, B30, 0, 30 },
	{ "gcm128 28 bytes, padded", 3, B28, 0, 28 },
	{ "gcm256 44 bytes, padded", 4, B44, 0, 44 },
	{ "inline: prefix", 1, "inline:" B30, 0, 30 },
	{ "gcm128 with a 30-byte key", 3, B30, -EINVAL, 0 },
	{ "cm80 with a 28-byte key", 1, B28, -EINVAL, 0 },
	{ "cm80 with a 44-byte key", 1, B44, -EINVAL, 0 },
	{ "lifetime and MKI", 1, "inline:" B30 "|2^20|1:4", -ENOTSUP, 0 },
	{ "empty", 1, "", -EINVAL, 0 },
	{ "inline: only", 1, "inline:", -EINVAL, 0 },
	{ "not a multiple of 4", 1, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw", -EINVAL, 0 },
	{ "bad character", 1, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGx*d", -EINVAL, 0 },
	{ "whitespace", 1, "AAECAwQFBgcICQoLDA0O DxAREhMUFRYXGBkaGxwd", -EINVAL, 0 },
	{ "padding in the middle", 3, "AAECAwQFBgcICQoLDA==ODxAREhMUFRYXGBkaGw==", -EINVAL, 0 },
	{ "three pads", 3, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaG===", -EINVAL, 0 },
	{ "suite 0", 0, B30, -EINVAL, 0 },
	{ "suite 5", 5, B30, -EINVAL, 0 },
	{ "very long", 1, B44 B44 B44, -EINVAL, 0 },
};

Test(sdes, key_parse_table)
{
	for (size_t i = 0; i < sizeof(key_rows) / sizeof(key_rows[0]); i++) {
		struct msg_srtp_key k;
		memset(&k, 0xee, sizeof(k));
		int rc = sdes_key_parse(&k, key_rows[i].suite, key_rows[i].text);
		cr_expect_eq(rc, key_rows[i].rc, "%s: rc %d", key_rows[i].what, rc);
		if (rc == 0) {
			cr_expect_eq(k.suite, key_rows[i].suite, "%s", key_rows[i].what);
			cr_expect_eq(k.master_len, key_rows[i].len, "%s", key_rows[i].what);
			for (size_t b = 0; b < k.master_len; b++)
				cr_expect_eq(k.master[b], b, "%s byte %zu", key_rows[i].what, b);
		} else {
			/* nothing half-parsed is left behind */
			cr_expect_eq(k.suite, 0, "%s", key_rows[i].what);
			cr_expect_eq(k.master_len, 0, "%s", key_rows[i].what);
		}
	}
	struct msg_srtp_key k;
	cr_expect_eq(sdes_key_parse(&k, 1, NULL), -EINVAL);
}

Test(sdes, generate_format_parse_round_trip)
{
	for (uint8_t s = 1; s <= 4; s++) {
		struct msg_srtp_key a, b, c;
		char text[72];
		cr_assert_eq(sdes_key_generate(&a, s), 0);
		cr_assert_eq(sdes_key_generate(&c, s), 0);
		cr_expect(!sdes_key_equal(&a, &c), "two generated keys differ");
		cr_assert_eq(sdes_key_format(&a, text, sizeof(text)), 0);
		cr_assert_eq(sdes_key_parse(&b, s, text), 0, "%s", text);
		cr_expect(sdes_key_equal(&a, &b));
		cr_expect_eq(sdes_key_format(&a, text, 8), -ENOSPC);
	}
	struct msg_srtp_key k;
	cr_expect_eq(sdes_key_generate(&k, 0), -EINVAL);
	cr_expect_eq(sdes_key_generate(&k, 9), -EINVAL);
}

Test(sdes, equal_needs_same_suite_and_bytes)
{
	struct msg_srtp_key a, b;
	cr_assert_eq(sdes_key_parse(&a, 1, B30), 0);
	cr_assert_eq(sdes_key_parse(&b, 2, B30), 0);
	cr_expect(!sdes_key_equal(&a, &b), "same bytes, other suite");
	cr_assert_eq(sdes_key_parse(&b, 1, B30), 0);
	cr_expect(sdes_key_equal(&a, &b));
	b.master[29] ^= 1;
	cr_expect(!sdes_key_equal(&a, &b));
}
