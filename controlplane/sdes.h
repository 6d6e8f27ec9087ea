/*
 * sdes: SRTP keys as operators and signalling hand them over (RFC 4568
 * "inline:" key||salt in base64, suite names as in SDP a=crypto lines),
 * turned into the msg_srtp_key spcp sends to spdp. Also makes fresh keys.
 * Never logs key bytes.
 */
#ifndef SP_CP_SDES_H
#define SP_CP_SDES_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"
#include "srtp_leg.h"

/* The suite spcp picks when a key comes without one (RFC 7714 GCM: the
 * fastest here, see docs/srtp.md). */
#define SDES_DEFAULT_SUITE (SRTP_LEG_AEAD_AES_128_GCM + 1)

/* msg_srtp_key.suite (1..4) for an SDP name such as AES_CM_128_HMAC_SHA1_80
 * or AEAD_AES_128_GCM, case-insensitive; 0 if unknown. */
uint8_t sdes_suite_parse(const char *name);
/* The SDP name of a suite, "plain" for 0, "?" for others. */
const char *sdes_suite_name(uint8_t suite);

/* Decode base64 key||salt (an "inline:" prefix is accepted) for `suite`.
 * 0, -EINVAL (not base64, wrong length for the suite, bad suite) or
 * -ENOTSUP (lifetime/MKI parameters after '|': not supported). */
int sdes_key_parse(struct msg_srtp_key *k, uint8_t suite, const char *b64);
/* A fresh random key for `suite` (OpenSSL RAND_bytes). 0 or -EINVAL/-EIO. */
int sdes_key_generate(struct msg_srtp_key *k, uint8_t suite);
/* key||salt in base64 into out; 0 or -ENOSPC (needs 65 bytes at most). */
int sdes_key_format(const struct msg_srtp_key *k, char *out, size_t outlen);

/* True when two keys are the same suite and bytes (constant time). */
int sdes_key_equal(const struct msg_srtp_key *a, const struct msg_srtp_key *b);

#endif
