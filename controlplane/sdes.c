/* sdes: SRTP key text <-> msg_srtp_key (see sdes.h). */
#include "sdes.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "srtp_leg.h"

static const char *const names[SRTP_LEG_SUITE__COUNT] = {
	[SRTP_LEG_AES_CM_128_HMAC_SHA1_80] = "AES_CM_128_HMAC_SHA1_80",
	[SRTP_LEG_AES_CM_128_HMAC_SHA1_32] = "AES_CM_128_HMAC_SHA1_32",
	[SRTP_LEG_AEAD_AES_128_GCM] = "AEAD_AES_128_GCM",
	[SRTP_LEG_AEAD_AES_256_GCM] = "AEAD_AES_256_GCM",
};

uint8_t sdes_suite_parse(const char *name)
{
	for (unsigned i = 0; i < SRTP_LEG_SUITE__COUNT; i++)
		if (name && !strcasecmp(name, names[i]))
			return (uint8_t)(i + 1);
	return 0;
}

const char *sdes_suite_name(uint8_t suite)
{
	if (suite == 0)
		return "plain";
	return suite <= SRTP_LEG_SUITE__COUNT ? names[suite - 1] : "?";
}

static size_t suite_len(uint8_t suite)
{
	if (suite == 0 || suite > SRTP_LEG_SUITE__COUNT)
		return 0;
	return srtp_leg_master_len((enum srtp_leg_suite)(suite - 1));
}

int sdes_key_parse(struct msg_srtp_key *k, uint8_t suite, const char *b64)
{
	/* Room for the longest key's base64 plus slack for a wrong one. */
	uint8_t raw[96];
	size_t want = suite_len(suite), n;
	int pad = 0, got;

	memset(k, 0, sizeof(*k));
	if (!want || !b64)
		return -EINVAL;
	if (!strncmp(b64, "inline:", 7))
		b64 += 7;
	if (strchr(b64, '|'))
		return -ENOTSUP;
	n = strlen(b64);
	if (n == 0 || n % 4 || n > 4 * (sizeof(raw) / 3))
		return -EINVAL;
	/* EVP_DecodeBlock counts '=' padding as zero bytes and skips
	 * whitespace: refuse anything but the alphabet first. */
	for (size_t i = 0; i < n; i++) {
		char c = b64[i];
		bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			     c == '+' || c == '/';
		if (c == '=' && i >= n - 2)
			pad++;
		else if (!alpha || pad)
			return -EINVAL;
	}
	got = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
	if (got < 0 || (size_t)got - (size_t)pad != want) {
		OPENSSL_cleanse(raw, sizeof(raw));
		return -EINVAL;
	}
	k->suite = suite;
	k->master_len = (uint8_t)want;
	memcpy(k->master, raw, want);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

int sdes_key_generate(struct msg_srtp_key *k, uint8_t suite)
{
	size_t want = suite_len(suite);

	memset(k, 0, sizeof(*k));
	if (!want)
		return -EINVAL;
	if (RAND_bytes(k->master, (int)want) != 1)
		return -EIO;
	k->suite = suite;
	k->master_len = (uint8_t)want;
	return 0;
}

int sdes_key_format(const struct msg_srtp_key *k, char *out, size_t outlen)
{
	size_t need = 4 * ((k->master_len + 2u) / 3u) + 1;

	if (k->master_len > sizeof(k->master) || outlen < need)
		return -ENOSPC;
	EVP_EncodeBlock((unsigned char *)out, k->master, k->master_len);
	return 0;
}

int sdes_key_equal(const struct msg_srtp_key *a, const struct msg_srtp_key *b)
{
	return a->suite == b->suite && a->master_len == b->master_len &&
	       CRYPTO_memcmp(a->master, b->master, a->master_len) == 0;
}
