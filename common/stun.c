/*
 * stun: STUN/TURN codec (API and contract in stun.h).
 *
 * Parsing is one bounded walk over the TLVs: the header is checked, then
 * each attribute's length is checked against what is left before anything
 * is read, its value is checked against the rule of its type (attr_check,
 * the single table of what a known attribute may look like, which the
 * builder also uses so it can never produce what the parser refuses), and
 * its offset is recorded. RFC 8489's ordering rules are a small state
 * machine: after MESSAGE-INTEGRITY only MESSAGE-INTEGRITY-SHA256 and
 * FINGERPRINT count, after MESSAGE-INTEGRITY-SHA256 only FINGERPRINT,
 * after FINGERPRINT nothing may follow.
 *
 * Integrity: the HMAC covers the message up to the integrity attribute with
 * the header's length field pretending the message ends right after it. The
 * verifier cannot write into the (const) received buffer, so it feeds a
 * patched copy of the 20-byte header and then the rest, in two updates.
 */
#include "stun.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "crc32.h"
#include "saslprep.h"

enum { STAGE_OPEN, STAGE_INTEGRITY, STAGE_SHA256, STAGE_FINGERPRINT };

static const char *const err_names[STUN_ERR__COUNT] = {
	[STUN_OK] = "ok",
	[STUN_ERR_TOO_SHORT] = "too_short",
	[STUN_ERR_NOT_STUN] = "not_stun",
	[STUN_ERR_BAD_COOKIE] = "bad_cookie",
	[STUN_ERR_LEN_ALIGN] = "len_not_multiple_of_4",
	[STUN_ERR_TRUNCATED] = "truncated",
	[STUN_ERR_TRAILING] = "trailing_bytes",
	[STUN_ERR_ATTR_OVERRUN] = "attr_overrun",
	[STUN_ERR_TOO_MANY_ATTRS] = "too_many_attrs",
	[STUN_ERR_ATTR_LEN] = "attr_bad_len",
	[STUN_ERR_ADDR_FAMILY] = "addr_bad_family",
	[STUN_ERR_ATTR_VALUE] = "attr_bad_value",
	[STUN_ERR_USERNAME_TOO_LONG] = "username_too_long",
	[STUN_ERR_TEXT_TOO_LONG] = "text_too_long",
	[STUN_ERR_DUP_INTEGRITY] = "dup_integrity",
	[STUN_ERR_FINGERPRINT_NOT_LAST] = "fingerprint_not_last",
	[STUN_ERR_FINGERPRINT_MISMATCH] = "fingerprint_mismatch",
	[STUN_ERR_CHANNEL_RANGE] = "channel_out_of_range",
	[STUN_ERR_CHDATA_TRUNCATED] = "chdata_truncated",
};

const char *stun_err_name(enum stun_err e)
{
	if ((unsigned)e >= STUN_ERR__COUNT)
		return "unknown";
	return err_names[e];
}

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline size_t pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

/* ---- what a known attribute may look like ---- */

static bool is_xor_addr(uint16_t type)
{
	return type == STUN_ATTR_XOR_MAPPED_ADDRESS || type == STUN_ATTR_XOR_PEER_ADDRESS ||
	       type == STUN_ATTR_XOR_RELAYED_ADDRESS;
}

static bool is_addr(uint16_t type)
{
	return is_xor_addr(type) || type == STUN_ATTR_MAPPED_ADDRESS ||
	       type == STUN_ATTR_ALTERNATE_SERVER;
}

/* Comprehension-required types we understand (or knowingly ignore); any
 * other type below 0x8000 goes into msg->unknown for a 420. */
static bool known_required(uint16_t type)
{
	switch (type) {
	case STUN_ATTR_MAPPED_ADDRESS:
	case STUN_ATTR_USERNAME:
	case STUN_ATTR_MESSAGE_INTEGRITY:
	case STUN_ATTR_ERROR_CODE:
	case STUN_ATTR_UNKNOWN_ATTRIBUTES:
	case STUN_ATTR_CHANNEL_NUMBER:
	case STUN_ATTR_LIFETIME:
	case STUN_ATTR_XOR_PEER_ADDRESS:
	case STUN_ATTR_DATA:
	case STUN_ATTR_REALM:
	case STUN_ATTR_NONCE:
	case STUN_ATTR_XOR_RELAYED_ADDRESS:
	case STUN_ATTR_REQUESTED_ADDRESS_FAMILY:
	case STUN_ATTR_EVEN_PORT:
	case STUN_ATTR_REQUESTED_TRANSPORT:
	case STUN_ATTR_DONT_FRAGMENT:
	case STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
	case STUN_ATTR_XOR_MAPPED_ADDRESS:
	case STUN_ATTR_RESERVATION_TOKEN:
	case STUN_ATTR_PRIORITY:
	case STUN_ATTR_USE_CANDIDATE:
		return true;
	default:
		return false;
	}
}

/* Fixed value length of a type, or -1 when variable or not checked. */
static int fixed_len(uint16_t type)
{
	switch (type) {
	case STUN_ATTR_MESSAGE_INTEGRITY:
		return STUN_HMAC_SHA1_LEN;
	case STUN_ATTR_FINGERPRINT:
	case STUN_ATTR_CHANNEL_NUMBER:
	case STUN_ATTR_LIFETIME:
	case STUN_ATTR_REQUESTED_TRANSPORT:
	case STUN_ATTR_REQUESTED_ADDRESS_FAMILY:
	case STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY:
	case STUN_ATTR_PRIORITY:
		return 4;
	case STUN_ATTR_EVEN_PORT:
		return 1;
	case STUN_ATTR_RESERVATION_TOKEN:
	case STUN_ATTR_ICE_CONTROLLED:
	case STUN_ATTR_ICE_CONTROLLING:
		return 8;
	case STUN_ATTR_DONT_FRAGMENT:
	case STUN_ATTR_USE_CANDIDATE:
		return 0;
	default:
		return -1;
	}
}

static enum stun_err attr_check(uint16_t type, const uint8_t *v, size_t len)
{
	int fixed = fixed_len(type);

	if (fixed >= 0)
		return len == (size_t)fixed ? STUN_OK : STUN_ERR_ATTR_LEN;
	if (is_addr(type)) {
		if (len < 4)
			return STUN_ERR_ATTR_LEN;
		if (v[1] == STUN_AF_IPV4)
			return len == 8 ? STUN_OK : STUN_ERR_ATTR_LEN;
		if (v[1] == STUN_AF_IPV6)
			return len == 20 ? STUN_OK : STUN_ERR_ATTR_LEN;
		return STUN_ERR_ADDR_FAMILY;
	}
	switch (type) {
	case STUN_ATTR_USERNAME:
		return len <= STUN_MAX_USERNAME ? STUN_OK : STUN_ERR_USERNAME_TOO_LONG;
	case STUN_ATTR_REALM:
	case STUN_ATTR_NONCE:
	case STUN_ATTR_SOFTWARE:
		return len <= STUN_MAX_TEXT ? STUN_OK : STUN_ERR_TEXT_TOO_LONG;
	case STUN_ATTR_ERROR_CODE:
		if (len < 4)
			return STUN_ERR_ATTR_LEN;
		if ((v[2] & 7) < 3 || (v[2] & 7) > 6 || v[3] > 99)
			return STUN_ERR_ATTR_VALUE;
		return len - 4 <= STUN_MAX_TEXT ? STUN_OK : STUN_ERR_TEXT_TOO_LONG;
	case STUN_ATTR_UNKNOWN_ATTRIBUTES:
		return (len & 1) ? STUN_ERR_ATTR_LEN : STUN_OK;
	case STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
		return (len >= 16 && len <= 32 && !(len & 3)) ? STUN_OK : STUN_ERR_ATTR_LEN;
	default:
		return STUN_OK;
	}
}

/* ---- parser ---- */

static void add_unknown(struct stun_msg *m, uint16_t type)
{
	for (unsigned i = 0; i < m->n_unknown; i++)
		if (m->unknown[i] == type)
			return;
	if (m->n_unknown < STUN_MAX_UNKNOWN)
		m->unknown[m->n_unknown++] = type;
}

static uint32_t fingerprint_of(const uint8_t *msg, size_t upto)
{
	return crc32_update(0, msg, upto) ^ STUN_FINGERPRINT_XOR;
}

enum stun_err stun_parse(const uint8_t *buf, size_t len, struct stun_msg *m)
{
	size_t off, end;
	unsigned walked = 0;
	int stage = STAGE_OPEN;

	m->buf = buf;
	m->len = 0;
	m->type = m->method = 0;
	m->cls = 0;
	m->n_unknown = 0;
	m->n_attrs = 0;
	m->integrity = m->integrity_sha256 = m->fingerprint = -1;

	if (len < STUN_HEADER_LEN)
		return STUN_ERR_TOO_SHORT;
	m->type = rd16(buf);
	if (m->type & 0xC000)
		return STUN_ERR_NOT_STUN;
	m->method = (uint16_t)((m->type & 0x000F) | ((m->type >> 1) & 0x0070) |
			       ((m->type >> 2) & 0x0F80));
	m->cls = (uint8_t)(((m->type >> 4) & 1) | ((m->type >> 7) & 2));
	if (rd32(buf + 4) != STUN_MAGIC_COOKIE)
		return STUN_ERR_BAD_COOKIE;
	end = STUN_HEADER_LEN + (size_t)rd16(buf + 2);
	if (end & 3)
		return STUN_ERR_LEN_ALIGN;
	if (len < end)
		return STUN_ERR_TRUNCATED;
	if (len > end)
		return STUN_ERR_TRAILING;
	m->len = (uint32_t)end;

	for (off = STUN_HEADER_LEN; off < end;) {
		uint16_t type, alen;
		size_t voff = off + 4;
		enum stun_err err;
		bool ignored = false;

		/* Cannot trigger while end and every attribute are 4-aligned,
		 * but the read below must never depend on that reasoning. */
		if (end - off < 4)
			return STUN_ERR_ATTR_OVERRUN;
		type = rd16(buf + off);
		alen = rd16(buf + off + 2);
		if (pad4(alen) > end - voff)
			return STUN_ERR_ATTR_OVERRUN;
		if (++walked > STUN_MAX_ATTRS)
			return STUN_ERR_TOO_MANY_ATTRS;
		if (stage == STAGE_FINGERPRINT)
			return STUN_ERR_FINGERPRINT_NOT_LAST;
		off = voff + pad4(alen);

		switch (type) {
		case STUN_ATTR_FINGERPRINT:
			stage = STAGE_FINGERPRINT;
			break;
		case STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
			if (m->integrity_sha256 >= 0)
				return STUN_ERR_DUP_INTEGRITY;
			stage = STAGE_SHA256;
			break;
		case STUN_ATTR_MESSAGE_INTEGRITY:
			if (stage == STAGE_SHA256) {
				ignored = true;
				break;
			}
			if (m->integrity >= 0)
				return STUN_ERR_DUP_INTEGRITY;
			stage = STAGE_INTEGRITY;
			break;
		default:
			ignored = stage != STAGE_OPEN;
			break;
		}
		if (ignored)
			continue;

		err = attr_check(type, buf + voff, alen);
		if (err != STUN_OK)
			return err;
		if (type < 0x8000 && !known_required(type))
			add_unknown(m, type);

		if (type == STUN_ATTR_FINGERPRINT)
			m->fingerprint = (int16_t)m->n_attrs;
		else if (type == STUN_ATTR_MESSAGE_INTEGRITY)
			m->integrity = (int16_t)m->n_attrs;
		else if (type == STUN_ATTR_MESSAGE_INTEGRITY_SHA256)
			m->integrity_sha256 = (int16_t)m->n_attrs;
		m->attrs[m->n_attrs++] = (struct stun_attr){ .type = type, .len = alen,
							      .off = (uint32_t)voff };
	}

	if (m->fingerprint >= 0) {
		const struct stun_attr *fp = &m->attrs[m->fingerprint];

		if (rd32(buf + fp->off) != fingerprint_of(buf, fp->off - 4))
			return STUN_ERR_FINGERPRINT_MISMATCH;
	}
	return STUN_OK;
}

/* ---- lookup and typed getters ---- */

const struct stun_attr *stun_attr_find(const struct stun_msg *m, uint16_t type)
{
	for (unsigned i = 0; i < m->n_attrs; i++)
		if (m->attrs[i].type == type)
			return &m->attrs[i];
	return NULL;
}

const struct stun_attr *stun_attr_next(const struct stun_msg *m, const struct stun_attr *prev)
{
	for (const struct stun_attr *a = prev + 1; a < m->attrs + m->n_attrs; a++)
		if (a->type == prev->type)
			return a;
	return NULL;
}

/* The attribute of `type`, re-checked: the getters also serve views that
 * did not come from stun_parse. */
static int find_checked(const struct stun_msg *m, uint16_t type, const struct stun_attr **out)
{
	const struct stun_attr *a = stun_attr_find(m, type);

	if (!a)
		return -ENOENT;
	if (attr_check(type, stun_attr_value(m, a), a->len) != STUN_OK)
		return -EINVAL;
	*out = a;
	return 0;
}

int stun_attr_get_addr(const struct stun_msg *m, const struct stun_attr *a, struct stun_addr *out)
{
	const uint8_t *v = stun_attr_value(m, a);
	size_t n;

	if (!is_addr(a->type) || attr_check(a->type, v, a->len) != STUN_OK)
		return -EINVAL;
	out->family = v[1];
	out->port = rd16(v + 2);
	n = out->family == STUN_AF_IPV4 ? 4 : 16;
	memset(out->ip, 0, sizeof(out->ip));
	memcpy(out->ip, v + 4, n);
	if (is_xor_addr(a->type)) {
		/* XOR with the cookie and, for IPv6, the transaction id: the
		 * header bytes 4..19 are exactly that key, in order. */
		out->port ^= (uint16_t)(STUN_MAGIC_COOKIE >> 16);
		for (size_t i = 0; i < n; i++)
			out->ip[i] ^= m->buf[4 + i];
	}
	return 0;
}

int stun_get_addr(const struct stun_msg *m, uint16_t type, struct stun_addr *out)
{
	const struct stun_attr *a = stun_attr_find(m, type);

	return a ? stun_attr_get_addr(m, a, out) : -ENOENT;
}

int stun_get_text(const struct stun_msg *m, uint16_t type, const char **s, size_t *len)
{
	const struct stun_attr *a;
	int rc;

	if (type != STUN_ATTR_USERNAME && type != STUN_ATTR_REALM && type != STUN_ATTR_NONCE &&
	    type != STUN_ATTR_SOFTWARE)
		return -EINVAL;
	rc = find_checked(m, type, &a);
	if (rc)
		return rc;
	*s = (const char *)stun_attr_value(m, a);
	*len = a->len;
	return 0;
}

int stun_get_error_code(const struct stun_msg *m, uint16_t *code, const char **reason,
			size_t *reason_len)
{
	const struct stun_attr *a;
	const uint8_t *v;
	int rc = find_checked(m, STUN_ATTR_ERROR_CODE, &a);

	if (rc)
		return rc;
	v = stun_attr_value(m, a);
	*code = (uint16_t)((v[2] & 7) * 100 + v[3]);
	if (reason) {
		*reason = (const char *)v + 4;
		*reason_len = a->len - 4u;
	}
	return 0;
}

int stun_get_unknown_attrs(const struct stun_msg *m, uint16_t *types, size_t cap, size_t *n)
{
	const struct stun_attr *a;
	const uint8_t *v;
	int rc = find_checked(m, STUN_ATTR_UNKNOWN_ATTRIBUTES, &a);

	if (rc)
		return rc;
	v = stun_attr_value(m, a);
	*n = a->len / 2u;
	for (size_t i = 0; i < *n && i < cap; i++)
		types[i] = rd16(v + 2 * i);
	return 0;
}

/* The big-endian 32-bit value of a 4-byte attribute. */
static int get_u32(const struct stun_msg *m, uint16_t type, uint32_t *out)
{
	const struct stun_attr *a;
	int rc = find_checked(m, type, &a);

	if (rc)
		return rc;
	*out = rd32(stun_attr_value(m, a));
	return 0;
}

int stun_get_lifetime(const struct stun_msg *m, uint32_t *seconds)
{
	return get_u32(m, STUN_ATTR_LIFETIME, seconds);
}

int stun_get_requested_transport(const struct stun_msg *m, uint8_t *proto)
{
	uint32_t v;
	int rc = get_u32(m, STUN_ATTR_REQUESTED_TRANSPORT, &v);

	if (rc == 0)
		*proto = (uint8_t)(v >> 24);
	return rc;
}

int stun_get_family(const struct stun_msg *m, uint16_t type, uint8_t *family)
{
	uint32_t v;
	int rc;

	if (type != STUN_ATTR_REQUESTED_ADDRESS_FAMILY && type != STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY)
		return -EINVAL;
	rc = get_u32(m, type, &v);
	if (rc == 0)
		*family = (uint8_t)(v >> 24);
	return rc;
}

int stun_get_channel_number(const struct stun_msg *m, uint16_t *channel)
{
	uint32_t v;
	int rc = get_u32(m, STUN_ATTR_CHANNEL_NUMBER, &v);

	if (rc == 0)
		*channel = (uint16_t)(v >> 16);
	return rc;
}

int stun_get_data(const struct stun_msg *m, const uint8_t **data, size_t *len)
{
	const struct stun_attr *a = stun_attr_find(m, STUN_ATTR_DATA);

	if (!a)
		return -ENOENT;
	*data = stun_attr_value(m, a);
	*len = a->len;
	return 0;
}

int stun_get_even_port(const struct stun_msg *m, bool *reserve)
{
	const struct stun_attr *a;
	int rc = find_checked(m, STUN_ATTR_EVEN_PORT, &a);

	if (rc == 0)
		*reserve = stun_attr_value(m, a)[0] & 0x80;
	return rc;
}

int stun_get_reservation_token(const struct stun_msg *m, uint8_t token[8])
{
	const struct stun_attr *a;
	int rc = find_checked(m, STUN_ATTR_RESERVATION_TOKEN, &a);

	if (rc == 0)
		memcpy(token, stun_attr_value(m, a), 8);
	return rc;
}

/* ---- HMAC, keys ---- */

static EVP_MAC *hmac_alg;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

/* Fetched once: EVP_MAC_fetch takes a global lock and a name lookup. */
static void hmac_fetch(void)
{
	hmac_alg = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
}

/* HMAC-<digest>(key, a || b) into out; returns the MAC length or -errno. */
static int hmac2(const char *digest, const uint8_t *key, size_t keylen, const uint8_t *a,
		 size_t alen, const uint8_t *b, size_t blen, uint8_t *out, size_t cap)
{
	static const uint8_t empty_key[1];
	OSSL_PARAM params[2];
	EVP_MAC_CTX *ctx;
	size_t outlen = 0;
	int rc = -EIO;

	pthread_once(&hmac_once, hmac_fetch);
	if (!hmac_alg)
		return -EIO;
	ctx = EVP_MAC_CTX_new(hmac_alg);
	if (!ctx)
		return -ENOMEM;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	/* OpenSSL reads a NULL key as "keep the previous key": an empty
	 * password must still mean an empty key. */
	if (EVP_MAC_init(ctx, keylen ? key : empty_key, keylen, params) == 1 &&
	    EVP_MAC_update(ctx, a, alen) == 1 && (blen == 0 || EVP_MAC_update(ctx, b, blen) == 1) &&
	    EVP_MAC_final(ctx, out, &outlen, cap) == 1)
		rc = (int)outlen;
	EVP_MAC_CTX_free(ctx);
	return rc;
}

static int check_mac(const struct stun_msg *m, int idx, const char *digest, const uint8_t *key,
		     size_t keylen)
{
	uint8_t hdr[STUN_HEADER_LEN], mac[STUN_HMAC_SHA256_LEN];
	const struct stun_attr *a;
	int rc;

	if (idx < 0 || idx >= m->n_attrs)
		return -ENOENT;
	a = &m->attrs[idx];
	if (a->off < STUN_HEADER_LEN + 4 || (size_t)a->off + a->len > m->len ||
	    a->len > sizeof(mac) || a->len == 0)
		return -EINVAL;
	memcpy(hdr, m->buf, STUN_HEADER_LEN);
	wr16(hdr + 2, (uint16_t)(a->off + a->len - STUN_HEADER_LEN));
	rc = hmac2(digest, key, keylen, hdr, sizeof(hdr), m->buf + STUN_HEADER_LEN,
		   a->off - 4 - STUN_HEADER_LEN, mac, sizeof(mac));
	if (rc < 0)
		return rc;
	if ((size_t)rc < a->len)
		return -EINVAL;
	return CRYPTO_memcmp(mac, stun_attr_value(m, a), a->len) == 0 ? 0 : -EACCES;
}

int stun_check_integrity(const struct stun_msg *m, const uint8_t *key, size_t keylen)
{
	return check_mac(m, m->integrity, "SHA1", key, keylen);
}

int stun_check_integrity_sha256(const struct stun_msg *m, const uint8_t *key, size_t keylen)
{
	return check_mac(m, m->integrity_sha256, "SHA256", key, keylen);
}

bool stun_check_fingerprint(const struct stun_msg *m)
{
	const struct stun_attr *fp;

	if (m->fingerprint < 0 || m->fingerprint >= m->n_attrs)
		return false;
	fp = &m->attrs[m->fingerprint];
	if (fp->len != 4 || fp->off < STUN_HEADER_LEN + 4 || fp->off + 4u > m->len)
		return false;
	return rd32(m->buf + fp->off) == fingerprint_of(m->buf, fp->off - 4);
}

int stun_key_short_term(const char *password, size_t len, uint8_t *key, size_t cap,
			size_t *keylen)
{
	return saslprep(password, len, (char *)key, cap, keylen);
}

int stun_key_long_term(const char *username, size_t ulen, const char *realm, size_t rlen,
		       const char *password, size_t plen, uint8_t key[STUN_LONG_TERM_KEY_LEN])
{
	char prepped[4 * STUN_MAX_USERNAME];
	size_t n;
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	int rc;

	if (plen > STUN_MAX_USERNAME)
		return -ENOSPC;
	rc = saslprep(password, plen, prepped, sizeof(prepped), &n);
	if (rc)
		return rc;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	rc = -EIO;
	if (EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, username, ulen) == 1 && EVP_DigestUpdate(ctx, ":", 1) == 1 &&
	    EVP_DigestUpdate(ctx, realm, rlen) == 1 && EVP_DigestUpdate(ctx, ":", 1) == 1 &&
	    EVP_DigestUpdate(ctx, prepped, n) == 1 && EVP_DigestFinal_ex(ctx, key, &mdlen) == 1 &&
	    mdlen == STUN_LONG_TERM_KEY_LEN)
		rc = 0;
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(prepped, sizeof(prepped));
	return rc;
}

/* ---- builder ---- */

/* Largest value of the message length field (a multiple of 4). */
#define STUN_MAX_BODY 0xFFFC

static int build_fail(struct stun_builder *b, int err)
{
	if (!b->err)
		b->err = err;
	return err;
}

/* Room for an attribute with `len` value bytes; returns its start or NULL. */
static uint8_t *build_reserve(struct stun_builder *b, uint16_t type, size_t len)
{
	size_t need = 4 + pad4(len);
	uint8_t *p;

	if (b->err)
		return NULL;
	if (len > 0xFFFF || b->len + need > b->cap || b->len - STUN_HEADER_LEN + need > STUN_MAX_BODY) {
		build_fail(b, -ENOSPC);
		return NULL;
	}
	p = b->buf + b->len;
	wr16(p, type);
	wr16(p + 2, (uint16_t)len);
	memset(p + 4 + len, b->pad, pad4(len) - len);
	b->len += need;
	wr16(b->buf + 2, (uint16_t)(b->len - STUN_HEADER_LEN));
	return p;
}

int stun_build_init(struct stun_builder *b, uint8_t *buf, size_t cap, uint16_t method,
		    enum stun_class cls, const uint8_t tid[STUN_TID_LEN])
{
	*b = (struct stun_builder){ .buf = buf, .cap = cap, .len = STUN_HEADER_LEN };
	if (method > 0xFFF || (unsigned)cls > 3)
		return build_fail(b, -EINVAL);
	if (cap < STUN_HEADER_LEN)
		return build_fail(b, -ENOSPC);
	wr16(buf, stun_msg_type(method, cls));
	wr16(buf + 2, 0);
	wr32(buf + 4, STUN_MAGIC_COOKIE);
	memcpy(buf + 8, tid, STUN_TID_LEN);
	return 0;
}

void stun_build_set_padding(struct stun_builder *b, uint8_t byte)
{
	b->pad = byte;
}

int stun_build_add(struct stun_builder *b, uint16_t type, const void *val, size_t len)
{
	uint8_t *p;

	if (b->err)
		return b->err;
	if (type == STUN_ATTR_MESSAGE_INTEGRITY || type == STUN_ATTR_MESSAGE_INTEGRITY_SHA256 ||
	    type == STUN_ATTR_FINGERPRINT || b->stage != STAGE_OPEN)
		return build_fail(b, -EINVAL);
	if (len > 0xFFFF)
		return build_fail(b, -ENOSPC);
	if (attr_check(type, val, len) != STUN_OK)
		return build_fail(b, -EINVAL);
	p = build_reserve(b, type, len);
	if (!p)
		return b->err;
	if (len)
		memcpy(p + 4, val, len);
	return 0;
}

int stun_build_add_u32(struct stun_builder *b, uint16_t type, uint32_t v)
{
	uint8_t val[4];

	wr32(val, v);
	return stun_build_add(b, type, val, sizeof(val));
}

int stun_build_add_addr(struct stun_builder *b, uint16_t type, const struct stun_addr *a)
{
	uint8_t val[20] = { 0 };
	size_t n;

	if (b->err)
		return b->err;
	if (!is_addr(type) || (a->family != STUN_AF_IPV4 && a->family != STUN_AF_IPV6))
		return build_fail(b, -EINVAL);
	n = a->family == STUN_AF_IPV4 ? 4 : 16;
	val[1] = a->family;
	wr16(val + 2, a->port);
	memcpy(val + 4, a->ip, n);
	if (is_xor_addr(type)) {
		/* The header's bytes 4..19 are cookie || transaction id. */
		wr16(val + 2, a->port ^ (uint16_t)(STUN_MAGIC_COOKIE >> 16));
		for (size_t i = 0; i < n; i++)
			val[4 + i] ^= b->buf[4 + i];
	}
	return stun_build_add(b, type, val, 4 + n);
}

int stun_build_add_error_code(struct stun_builder *b, uint16_t code, const char *reason,
			      size_t reason_len)
{
	uint8_t val[4 + STUN_MAX_TEXT];

	if (code < 300 || code > 699 || reason_len > STUN_MAX_TEXT)
		return build_fail(b, -EINVAL);
	val[0] = val[1] = 0;
	val[2] = (uint8_t)(code / 100);
	val[3] = (uint8_t)(code % 100);
	if (reason_len)
		memcpy(val + 4, reason, reason_len);
	return stun_build_add(b, STUN_ATTR_ERROR_CODE, val, 4 + reason_len);
}

int stun_build_add_unknown_attrs(struct stun_builder *b, const uint16_t *types, size_t n)
{
	uint8_t val[2 * STUN_MAX_ATTRS];

	if (n > STUN_MAX_ATTRS)
		return build_fail(b, -EINVAL);
	for (size_t i = 0; i < n; i++)
		wr16(val + 2 * i, types[i]);
	return stun_build_add(b, STUN_ATTR_UNKNOWN_ATTRIBUTES, val, 2 * n);
}

int stun_build_add_requested_transport(struct stun_builder *b, uint8_t proto)
{
	return stun_build_add_u32(b, STUN_ATTR_REQUESTED_TRANSPORT, (uint32_t)proto << 24);
}

int stun_build_add_family(struct stun_builder *b, uint16_t type, uint8_t family)
{
	if (type != STUN_ATTR_REQUESTED_ADDRESS_FAMILY && type != STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY)
		return build_fail(b, -EINVAL);
	return stun_build_add_u32(b, type, (uint32_t)family << 24);
}

int stun_build_add_channel_number(struct stun_builder *b, uint16_t channel)
{
	return stun_build_add_u32(b, STUN_ATTR_CHANNEL_NUMBER, (uint32_t)channel << 16);
}

int stun_build_add_even_port(struct stun_builder *b, bool reserve)
{
	uint8_t v = reserve ? 0x80 : 0;

	return stun_build_add(b, STUN_ATTR_EVEN_PORT, &v, 1);
}

/* An integrity attribute: reserve it (which sets the header length to end
 * right after it, as the HMAC wants), then MAC everything before it. */
static int build_mac(struct stun_builder *b, uint16_t type, const char *digest, size_t maclen,
		     const uint8_t *key, size_t keylen, int stage)
{
	uint8_t mac[STUN_HMAC_SHA256_LEN];
	size_t start = b->len;
	uint8_t *p;
	int rc;

	if (b->err)
		return b->err;
	if (b->stage >= stage)
		return build_fail(b, -EINVAL);
	p = build_reserve(b, type, maclen);
	if (!p)
		return b->err;
	rc = hmac2(digest, key, keylen, b->buf, start, NULL, 0, mac, sizeof(mac));
	if (rc < 0)
		return build_fail(b, rc);
	if ((size_t)rc != maclen)
		return build_fail(b, -EIO);
	memcpy(p + 4, mac, maclen);
	b->stage = (uint8_t)stage;
	return 0;
}

int stun_build_add_integrity(struct stun_builder *b, const uint8_t *key, size_t keylen)
{
	return build_mac(b, STUN_ATTR_MESSAGE_INTEGRITY, "SHA1", STUN_HMAC_SHA1_LEN, key, keylen,
			 STAGE_INTEGRITY);
}

int stun_build_add_integrity_sha256(struct stun_builder *b, const uint8_t *key, size_t keylen)
{
	return build_mac(b, STUN_ATTR_MESSAGE_INTEGRITY_SHA256, "SHA256", STUN_HMAC_SHA256_LEN, key,
			 keylen, STAGE_SHA256);
}

int stun_build_add_fingerprint(struct stun_builder *b)
{
	size_t start = b->len;
	uint8_t *p;

	if (b->err)
		return b->err;
	if (b->stage >= STAGE_FINGERPRINT)
		return build_fail(b, -EINVAL);
	p = build_reserve(b, STUN_ATTR_FINGERPRINT, 4);
	if (!p)
		return b->err;
	wr32(p + 4, fingerprint_of(b->buf, start));
	b->stage = STAGE_FINGERPRINT;
	return 0;
}

int stun_build_finish(struct stun_builder *b)
{
	return b->err ? b->err : (int)b->len;
}

/* ---- ChannelData, stream framing, demux ---- */

enum stun_err stun_chdata_parse(const uint8_t *buf, size_t len, bool stream,
				struct stun_chdata *out)
{
	size_t need;

	if (len < STUN_CHDATA_HEADER_LEN)
		return STUN_ERR_TOO_SHORT;
	out->channel = rd16(buf);
	out->len = rd16(buf + 2);
	out->data = buf + STUN_CHDATA_HEADER_LEN;
	if (out->channel < STUN_CHANNEL_MIN || out->channel > STUN_CHANNEL_MAX)
		return STUN_ERR_CHANNEL_RANGE;
	need = STUN_CHDATA_HEADER_LEN + (size_t)out->len + stun_chdata_padding(out->len, stream);
	if (len < need)
		return STUN_ERR_CHDATA_TRUNCATED;
	return STUN_OK;
}

void stun_chdata_header(uint8_t hdr[STUN_CHDATA_HEADER_LEN], uint16_t channel, uint16_t len)
{
	wr16(hdr, channel);
	wr16(hdr + 2, len);
}

enum stun_err stun_stream_frame(const uint8_t *buf, size_t avail, size_t *frame_len)
{
	uint16_t len;

	*frame_len = STUN_CHDATA_HEADER_LEN;
	if (avail < 4)
		return STUN_OK;
	len = rd16(buf + 2);
	switch (stun_demux(buf, avail)) {
	case STUN_DEMUX_STUN:
		if (len & 3)
			return STUN_ERR_LEN_ALIGN;
		*frame_len = STUN_HEADER_LEN + (size_t)len;
		return STUN_OK;
	case STUN_DEMUX_CHDATA:
		*frame_len = STUN_CHDATA_HEADER_LEN + pad4(len);
		return STUN_OK;
	default:
		/* 0x50-0x7F: reserved channel numbers; the rest is not ours. */
		return buf[0] >= 0x50 && buf[0] <= 0x7F ? STUN_ERR_CHANNEL_RANGE : STUN_ERR_NOT_STUN;
	}
}

enum stun_demux stun_demux(const uint8_t *buf, size_t len)
{
	uint8_t b;

	if (len == 0)
		return STUN_DEMUX_OTHER;
	b = buf[0];
	if (b <= 3)
		return STUN_DEMUX_STUN;
	if (b >= 16 && b <= 19)
		return STUN_DEMUX_ZRTP;
	if (b >= 20 && b <= 63)
		return STUN_DEMUX_DTLS;
	if (b >= 64 && b <= 79)
		return STUN_DEMUX_CHDATA;
	if (b >= 128 && b <= 191)
		return STUN_DEMUX_RTP;
	return STUN_DEMUX_OTHER;
}
