/*
 * test_stun: the STUN/TURN codec against the RFC 5769 vectors (parsed and
 * rebuilt byte for byte), the table of hostile inputs in
 * tests/data/stun/malformed.txt, builder/getter round trips for every TURN
 * attribute, integrity/fingerprint tamper checks, ChannelData framing, the
 * RFC 7983 demux, and SASLprep against reference vectors generated from
 * Python's Unicode 3.2 data (tests/data/stun/saslprep.txt).
 */
#include <criterion/criterion.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "crc32.h"
#include "saslprep.h"
#include "stun.h"
#include "testdata.h"

#define DATA SP_TEST_DATA "/stun/"

static const char short_term_pw[] = "VOkJxbRl1RmTxUk/WvJxBt";
static const uint8_t tid_5769[12] = { 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
				      0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae };

/* ---- helpers ---- */


/* Decode hex with spaces, "-" for empty and "(hex)xN" repetition. Returns
 * the byte count, or -1 on a syntax error or overflow. */

/* A .hex file: '#' comment lines, then hex. */
static size_t load_hex(const char *name, uint8_t *out, size_t cap)
{
	char path[512], line[1024];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), DATA "%s", name);
	f = fopen(path, "r");
	cr_assert_not_null(f, "cannot open %s", path);
	while (fgets(line, sizeof(line), f)) {
		long got;

		if (line[0] == '#')
			continue;
		got = decode_hex(line, out + n, cap - n);
		cr_assert_geq(got, 0, "bad hex in %s: %s", path, line);
		n += (size_t)got;
	}
	fclose(f);
	return n;
}

static void short_key(uint8_t *key, size_t *keylen)
{
	cr_assert_eq(stun_key_short_term(short_term_pw, strlen(short_term_pw), key, 64, keylen), 0);
}

static void parse_ok(const uint8_t *buf, size_t len, struct stun_msg *m)
{
	enum stun_err e = stun_parse(buf, len, m);

	cr_assert_eq(e, STUN_OK, "parse failed: %s", stun_err_name(e));
}

static void expect_text(const struct stun_msg *m, uint16_t type, const char *want, size_t wlen)
{
	const char *s;
	size_t len;

	cr_assert_eq(stun_get_text(m, type, &s, &len), 0, "attribute 0x%04x", type);
	cr_expect_eq(len, wlen);
	cr_expect_eq(memcmp(s, want, wlen), 0, "attribute 0x%04x content", type);
}

static void expect_addr(const struct stun_addr *got, const struct stun_addr *want)
{
	cr_expect_eq(got->family, want->family);
	cr_expect_eq(got->port, want->port);
	cr_expect_eq(memcmp(got->ip, want->ip, 16), 0);
}

static void expect_same_bytes(const uint8_t *got, size_t glen, const uint8_t *want, size_t wlen)
{
	cr_assert_eq(glen, wlen, "length %zu, want %zu", glen, wlen);
	for (size_t i = 0; i < wlen; i++)
		cr_assert_eq(got[i], want[i], "byte %zu: 0x%02x, want 0x%02x", i, got[i], want[i]);
}

/* ---- CRC ---- */

Test(stun, crc32_check_value)
{
	cr_expect_eq(crc32_update(0, "123456789", 9), 0xCBF43926u);
	cr_expect_eq(crc32_update(crc32_update(0, "1234", 4), "56789", 5), 0xCBF43926u);
	cr_expect_eq(crc32_update(0, "", 0), 0u);
}

/* ---- message type ---- */

Test(stun, message_type_bits)
{
	cr_expect_eq(stun_msg_type(STUN_METHOD_BINDING, STUN_CLASS_REQUEST), 0x0001);
	cr_expect_eq(stun_msg_type(STUN_METHOD_BINDING, STUN_CLASS_INDICATION), 0x0011);
	cr_expect_eq(stun_msg_type(STUN_METHOD_BINDING, STUN_CLASS_SUCCESS), 0x0101);
	cr_expect_eq(stun_msg_type(STUN_METHOD_BINDING, STUN_CLASS_ERROR), 0x0111);
	cr_expect_eq(stun_msg_type(STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST), 0x0003);
	cr_expect_eq(stun_msg_type(STUN_METHOD_SEND, STUN_CLASS_INDICATION), 0x0016);
	cr_expect_eq(stun_msg_type(STUN_METHOD_DATA, STUN_CLASS_INDICATION), 0x0017);
	cr_expect_eq(stun_msg_type(STUN_METHOD_CHANNEL_BIND, STUN_CLASS_SUCCESS), 0x0109);
	cr_expect_eq(stun_msg_type(STUN_METHOD_CREATE_PERMISSION, STUN_CLASS_ERROR), 0x0118);
	cr_expect_eq(stun_msg_type(0xFFF, STUN_CLASS_ERROR), 0x3FFF);

	/* Every method and class survives build + parse. */
	for (uint16_t method = 0; method <= 0xFFF; method += 7) {
		for (int cls = 0; cls < 4; cls++) {
			uint8_t buf[64];
			struct stun_builder b;
			struct stun_msg m;
			int len;

			stun_build_init(&b, buf, sizeof(buf), method, (enum stun_class)cls, tid_5769);
			len = stun_build_finish(&b);
			cr_assert_eq(len, 20);
			parse_ok(buf, (size_t)len, &m);
			cr_assert_eq(m.method, method);
			cr_assert_eq(m.cls, cls);
		}
	}
}

/* ---- RFC 5769 ---- */

Test(stun, rfc5769_sample_request_parse)
{
	uint8_t buf[256], key[64];
	size_t len = load_hex("rfc5769_request.hex", buf, sizeof(buf)), keylen;
	const struct stun_attr *a;
	struct stun_msg m;

	cr_assert_eq(len, 108);
	parse_ok(buf, len, &m);
	cr_expect_eq(m.method, STUN_METHOD_BINDING);
	cr_expect_eq(m.cls, STUN_CLASS_REQUEST);
	cr_expect_eq(m.len, 108);
	cr_expect_eq(memcmp(stun_msg_tid(&m), tid_5769, 12), 0);
	cr_expect_eq(m.n_attrs, 6);
	cr_expect_eq(m.n_unknown, 0, "PRIORITY is understood (ignored), not a 420");
	expect_text(&m, STUN_ATTR_SOFTWARE, "STUN test client", 16);
	expect_text(&m, STUN_ATTR_USERNAME, "evtj:h6vY", 9);
	a = stun_attr_find(&m, STUN_ATTR_PRIORITY);
	cr_assert_not_null(a);
	cr_expect_eq(memcmp(stun_attr_value(&m, a), "\x6e\x00\x01\xff", 4), 0);
	a = stun_attr_find(&m, STUN_ATTR_ICE_CONTROLLED);
	cr_assert_not_null(a);
	cr_expect_eq(a->len, 8);
	cr_expect(stun_check_fingerprint(&m));

	short_key(key, &keylen);
	cr_expect_eq(stun_check_integrity(&m, key, keylen), 0);
	cr_expect_eq(stun_check_integrity(&m, (const uint8_t *)"wrong", 5), -EACCES);
	cr_expect_eq(stun_check_integrity_sha256(&m, key, keylen), -ENOENT);
}

Test(stun, rfc5769_sample_request_build)
{
	uint8_t want[256], buf[256], key[64];
	size_t wlen = load_hex("rfc5769_request.hex", want, sizeof(want)), keylen;
	static const uint8_t controlled[8] = { 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36 };
	struct stun_builder b;

	short_key(key, &keylen);
	cr_assert_eq(stun_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_REQUEST,
				     tid_5769), 0);
	cr_assert_eq(stun_build_add(&b, STUN_ATTR_SOFTWARE, "STUN test client", 16), 0);
	cr_assert_eq(stun_build_add_u32(&b, STUN_ATTR_PRIORITY, 0x6e0001ff), 0);
	cr_assert_eq(stun_build_add(&b, STUN_ATTR_ICE_CONTROLLED, controlled, 8), 0);
	stun_build_set_padding(&b, ' '); /* the vector pads USERNAME with spaces */
	cr_assert_eq(stun_build_add(&b, STUN_ATTR_USERNAME, "evtj:h6vY", 9), 0);
	cr_assert_eq(stun_build_add_integrity(&b, key, keylen), 0);
	cr_assert_eq(stun_build_add_fingerprint(&b), 0);
	expect_same_bytes(buf, (size_t)stun_build_finish(&b), want, wlen);
}

/* The two responses differ only in the mapped address. */
static void check_response(const char *file, const struct stun_addr *addr, size_t want_len)
{
	uint8_t want[256], buf[256], key[64];
	size_t wlen = load_hex(file, want, sizeof(want)), keylen;
	struct stun_builder b;
	struct stun_addr got;
	struct stun_msg m;

	cr_assert_eq(wlen, want_len);
	short_key(key, &keylen);
	parse_ok(want, wlen, &m);
	cr_expect_eq(m.method, STUN_METHOD_BINDING);
	cr_expect_eq(m.cls, STUN_CLASS_SUCCESS);
	expect_text(&m, STUN_ATTR_SOFTWARE, "test vector", 11);
	cr_assert_eq(stun_get_addr(&m, STUN_ATTR_XOR_MAPPED_ADDRESS, &got), 0);
	expect_addr(&got, addr);
	cr_expect_eq(stun_get_addr(&m, STUN_ATTR_MAPPED_ADDRESS, &got), -ENOENT);
	cr_expect(stun_check_fingerprint(&m));
	cr_expect_eq(stun_check_integrity(&m, key, keylen), 0);

	cr_assert_eq(stun_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_SUCCESS,
				     tid_5769), 0);
	stun_build_set_padding(&b, ' '); /* "test vector" + one space of padding */
	cr_assert_eq(stun_build_add(&b, STUN_ATTR_SOFTWARE, "test vector", 11), 0);
	cr_assert_eq(stun_build_add_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, addr), 0);
	cr_assert_eq(stun_build_add_integrity(&b, key, keylen), 0);
	cr_assert_eq(stun_build_add_fingerprint(&b), 0);
	expect_same_bytes(buf, (size_t)stun_build_finish(&b), want, wlen);
}

Test(stun, rfc5769_ipv4_response)
{
	struct stun_addr a = { .family = STUN_AF_IPV4, .port = 32853, .ip = { 192, 0, 2, 1 } };

	check_response("rfc5769_response_ipv4.hex", &a, 80);
}

Test(stun, rfc5769_ipv6_response)
{
	struct stun_addr a = { .family = STUN_AF_IPV6, .port = 32853,
			       .ip = { 0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78,
				       0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77 } };

	check_response("rfc5769_response_ipv6.hex", &a, 92);
}

/* U+30DE U+30C8 U+30EA U+30C3 U+30AF U+30B9 */
static const char lt_user[] = "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";
/* "The" U+00AD "M" U+00AA "tr" U+2168: SASLprep gives "TheMatrIX" */
static const char lt_pass[] = "The\xc2\xadM\xc2\xaatr\xe2\x85\xa8";
static const char lt_nonce[] = "f//499k954d6OL34oL9FSTvy64sA";
static const char lt_realm[] = "example.org";

Test(stun, rfc5769_long_term_parse)
{
	uint8_t buf[256], key[16], key2[16];
	size_t len = load_hex("rfc5769_request_long_term.hex", buf, sizeof(buf));
	struct stun_msg m;

	cr_assert_eq(len, 116);
	parse_ok(buf, len, &m);
	cr_expect_eq(m.method, STUN_METHOD_BINDING);
	cr_expect_eq(m.cls, STUN_CLASS_REQUEST);
	expect_text(&m, STUN_ATTR_USERNAME, lt_user, 18);
	expect_text(&m, STUN_ATTR_NONCE, lt_nonce, 28);
	expect_text(&m, STUN_ATTR_REALM, lt_realm, 11);
	cr_expect_not(stun_check_fingerprint(&m));
	cr_expect_eq(m.fingerprint, -1);

	/* The key from the raw password (SASLprep does the work) equals the key
	 * from the prepared one, and verifies the message. */
	cr_assert_eq(stun_key_long_term(lt_user, 18, lt_realm, 11, lt_pass, strlen(lt_pass), key), 0);
	cr_assert_eq(stun_key_long_term(lt_user, 18, lt_realm, 11, "TheMatrIX", 9, key2), 0);
	cr_expect_eq(memcmp(key, key2, 16), 0);
	cr_expect_eq(stun_check_integrity(&m, key, sizeof(key)), 0);

	/* Without SASLprep (raw password bytes) the key is wrong. */
	{
		uint8_t raw[16];
		unsigned int n;
		EVP_MD_CTX *c = EVP_MD_CTX_new();

		EVP_DigestInit_ex(c, EVP_md5(), NULL);
		EVP_DigestUpdate(c, lt_user, 18);
		EVP_DigestUpdate(c, ":example.org:", 13);
		EVP_DigestUpdate(c, lt_pass, strlen(lt_pass));
		EVP_DigestFinal_ex(c, raw, &n);
		EVP_MD_CTX_free(c);
		cr_expect_eq(stun_check_integrity(&m, raw, sizeof(raw)), -EACCES);
	}
}

Test(stun, rfc5769_long_term_build)
{
	uint8_t want[256], buf[256], key[16];
	size_t wlen = load_hex("rfc5769_request_long_term.hex", want, sizeof(want));
	static const uint8_t tid[12] = { 0x78, 0xad, 0x34, 0x33, 0xc6, 0xad,
					 0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e };
	struct stun_builder b;

	cr_assert_eq(stun_key_long_term(lt_user, 18, lt_realm, 11, lt_pass, strlen(lt_pass), key), 0);
	cr_assert_eq(stun_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_REQUEST,
				     tid), 0);
	cr_assert_eq(stun_build_add(&b, STUN_ATTR_USERNAME, lt_user, 18), 0);
	cr_assert_eq(stun_build_add(&b, STUN_ATTR_NONCE, lt_nonce, 28), 0);
	cr_assert_eq(stun_build_add(&b, STUN_ATTR_REALM, lt_realm, 11), 0);
	cr_assert_eq(stun_build_add_integrity(&b, key, sizeof(key)), 0);
	expect_same_bytes(buf, (size_t)stun_build_finish(&b), want, wlen);
}

/* No single-bit change anywhere still verifies. */
Test(stun, integrity_detects_every_byte)
{
	uint8_t buf[256], key[16];
	size_t len = load_hex("rfc5769_request_long_term.hex", buf, sizeof(buf));

	cr_assert_eq(stun_key_long_term(lt_user, 18, lt_realm, 11, "TheMatrIX", 9, key), 0);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			struct stun_msg m;

			buf[i] ^= (uint8_t)(1 << bit);
			/* -EACCES, or -ENOENT when the flip hit the MI type. */
			if (stun_parse(buf, len, &m) == STUN_OK)
				cr_expect_neq(stun_check_integrity(&m, key, sizeof(key)), 0,
					      "byte %zu bit %d not detected", i, bit);
			buf[i] ^= (uint8_t)(1 << bit);
		}
	}
}

/* A changed byte never parses as a message that still has a FINGERPRINT
 * (a flip can turn FINGERPRINT into another type, or make a length swallow
 * it: then there is no fingerprint left to trust). */
Test(stun, fingerprint_detects_every_byte)
{
	uint8_t buf[256];
	size_t len = load_hex("rfc5769_request.hex", buf, sizeof(buf));

	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			struct stun_msg m;

			buf[i] ^= (uint8_t)(1 << bit);
			if (stun_parse(buf, len, &m) == STUN_OK)
				cr_expect_eq(m.fingerprint, -1, "byte %zu bit %d accepted", i, bit);
			buf[i] ^= (uint8_t)(1 << bit);
		}
	}
}

/* ---- hostile inputs ---- */

Test(stun, malformed_table)
{
	char path[] = DATA "malformed.txt", line[8192];
	FILE *f = fopen(path, "r");
	int cases = 0;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		char name[64], kind[16], expect[40];
		static uint8_t buf[8192];
		enum stun_err got;
		int used = 0;
		long len;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		cr_assert_eq(sscanf(line, "%63s %15s %39s %n", name, kind, expect, &used), 3,
			     "bad line: %s", line);
		len = decode_hex(line + used, buf, sizeof(buf));
		cr_assert_geq(len, 0, "bad hex in case %s", name);
		if (strcmp(kind, "stun") == 0) {
			struct stun_msg m;

			got = stun_parse(buf, (size_t)len, &m);
		} else if (strcmp(kind, "chdata-udp") == 0 || strcmp(kind, "chdata-tcp") == 0) {
			struct stun_chdata cd;

			got = stun_chdata_parse(buf, (size_t)len, kind[7] == 't', &cd);
		} else {
			cr_assert_fail("case %s: unknown parser %s", name, kind);
			got = STUN_ERR__COUNT;
		}
		cr_expect_str_eq(stun_err_name(got), expect, "case %s: got %s, want %s", name,
				 stun_err_name(got), expect);
		cases++;
	}
	fclose(f);
	cr_expect_geq(cases, 60);
}

Test(stun, err_names)
{
	for (int i = 0; i < STUN_ERR__COUNT; i++) {
		const char *n = stun_err_name((enum stun_err)i);

		cr_assert_not_null(n);
		cr_expect_neq(strcmp(n, "unknown"), 0, "reason %d has no name", i);
		cr_expect_lt(strlen(n), 32, "name %s too long for a stats label", n);
		for (int j = 0; j < i; j++)
			cr_expect_neq(strcmp(n, stun_err_name((enum stun_err)j)), 0);
	}
	cr_expect_str_eq(stun_err_name(STUN_ERR__COUNT), "unknown");
	cr_expect_str_eq(stun_err_name((enum stun_err)-1), "unknown");
}

/* ---- unknown attributes and ordering rules ---- */

Test(stun, unknown_required_attributes_for_420)
{
	uint8_t buf[256], rsp[256];
	struct stun_builder b;
	struct stun_msg m;
	uint16_t types[8], code;
	const char *reason;
	size_t n, rlen;
	int len;

	stun_build_init(&b, buf, sizeof(buf), STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST, tid_5769);
	stun_build_add_u32(&b, STUN_ATTR_CHANGE_REQUEST, 0);
	stun_build_add(&b, 0x7fff, NULL, 0);
	stun_build_add(&b, 0x8fff, NULL, 0);        /* optional: never a 420 */
	stun_build_add_u32(&b, STUN_ATTR_CHANGE_REQUEST, 4); /* duplicate, listed once */
	stun_build_add_requested_transport(&b, STUN_TRANSPORT_UDP);
	len = stun_build_finish(&b);
	cr_assert_gt(len, 0);
	parse_ok(buf, (size_t)len, &m);
	cr_assert_eq(m.n_unknown, 2);
	cr_expect_eq(m.unknown[0], STUN_ATTR_CHANGE_REQUEST);
	cr_expect_eq(m.unknown[1], 0x7fff);

	/* The 420 answer carries them back. */
	stun_build_init(&b, rsp, sizeof(rsp), m.method, STUN_CLASS_ERROR, stun_msg_tid(&m));
	stun_build_add_error_code(&b, STUN_CODE_UNKNOWN_ATTRIBUTE, "Unknown Attribute", 17);
	stun_build_add_unknown_attrs(&b, m.unknown, m.n_unknown);
	len = stun_build_finish(&b);
	cr_assert_gt(len, 0);
	parse_ok(rsp, (size_t)len, &m);
	cr_expect_eq(m.cls, STUN_CLASS_ERROR);
	cr_assert_eq(stun_get_error_code(&m, &code, &reason, &rlen), 0);
	cr_expect_eq(code, 420);
	cr_expect_eq(rlen, 17);
	cr_expect_eq(memcmp(reason, "Unknown Attribute", 17), 0);
	cr_assert_eq(stun_get_unknown_attrs(&m, types, 8, &n), 0);
	cr_expect_eq(n, 2);
	cr_expect_eq(types[0], STUN_ATTR_CHANGE_REQUEST);
	cr_expect_eq(types[1], 0x7fff);
	cr_expect_eq(m.n_unknown, 0);
}

/* Hand-made: attributes after MESSAGE-INTEGRITY other than -SHA256 and
 * FINGERPRINT do not count (RFC 8489 14.5). */
Test(stun, attributes_after_integrity_are_ignored)
{
	uint8_t buf[256];
	size_t len = 0;
	struct stun_msg m;
	const char *s;
	size_t slen;

#define PUT(...)                                                  \
	do {                                                      \
		const uint8_t p_[] = { __VA_ARGS__ };             \
		memcpy(buf + len, p_, sizeof(p_));                \
		len += sizeof(p_);                                \
	} while (0)
	PUT(0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42);
	memcpy(buf + 8, tid_5769, 12);
	len = 20;
	PUT(0x00, 0x06, 0x00, 0x04, 'u', 's', 'e', 'r');          /* USERNAME */
	PUT(0x00, 0x08, 0x00, 0x14);                              /* MI */
	memset(buf + len, 0xAA, 20);
	len += 20;
	PUT(0x80, 0x22, 0x00, 0x03, 'x', 'y', 'z', 0);            /* SOFTWARE: ignored */
	PUT(0x7f, 0xff, 0x00, 0x00);                              /* unknown: ignored */
	PUT(0x00, 0x1c, 0x00, 0x10);                              /* MI-SHA256 (16) */
	memset(buf + len, 0xBB, 16);
	len += 16;
	PUT(0x00, 0x06, 0x00, 0x04, 'e', 'v', 'i', 'l');          /* USERNAME: ignored */
#undef PUT
	buf[2] = (uint8_t)((len - 20) >> 8);
	buf[3] = (uint8_t)(len - 20);

	parse_ok(buf, len, &m);
	cr_expect_eq(m.n_attrs, 3);
	cr_expect_eq(m.integrity, 1);
	cr_expect_eq(m.integrity_sha256, 2);
	cr_expect_eq(m.n_unknown, 0);
	cr_expect_null(stun_attr_find(&m, STUN_ATTR_SOFTWARE));
	cr_assert_eq(stun_get_text(&m, STUN_ATTR_USERNAME, &s, &slen), 0);
	cr_expect_eq(memcmp(s, "user", 4), 0, "the USERNAME after MI must not win");
	cr_expect_null(stun_attr_next(&m, stun_attr_find(&m, STUN_ATTR_USERNAME)));
	cr_expect_eq(stun_check_integrity(&m, (const uint8_t *)"k", 1), -EACCES);
	cr_expect_eq(stun_check_integrity_sha256(&m, (const uint8_t *)"k", 1), -EACCES);
}

/* ---- builder + getters for every TURN attribute ---- */

Test(stun, turn_attributes_round_trip)
{
	uint8_t buf[1024], key[16], token[8];
	static const uint8_t tok[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	static const uint8_t payload[5] = { 'h', 'e', 'l', 'l', 'o' };
	struct stun_addr p4 = { .family = STUN_AF_IPV4, .port = 5000, .ip = { 203, 0, 113, 9 } };
	struct stun_addr p6 = { .family = STUN_AF_IPV6, .port = 65535,
				.ip = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x42 } };
	struct stun_addr relayed = { .family = STUN_AF_IPV4, .port = 49152, .ip = { 198, 51, 100, 1 } };
	struct stun_addr mapped = { .family = STUN_AF_IPV6, .port = 1, .ip = { [0] = 0xfe, [15] = 1 } };
	struct stun_addr got;
	struct stun_builder b;
	struct stun_msg m;
	const struct stun_attr *a;
	const uint8_t *data;
	size_t dlen;
	uint32_t u32;
	uint16_t ch, code;
	uint8_t u8;
	bool reserve;
	int len;

	cr_assert_eq(stun_key_long_term("alice", 5, "sp", 2, "secret", 6, key), 0);
	stun_build_init(&b, buf, sizeof(buf), STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST, tid_5769);
	cr_assert_eq(stun_build_add_requested_transport(&b, STUN_TRANSPORT_UDP), 0);
	cr_assert_eq(stun_build_add_u32(&b, STUN_ATTR_LIFETIME, 3600), 0);
	cr_assert_eq(stun_build_add_family(&b, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, STUN_AF_IPV6), 0);
	cr_assert_eq(stun_build_add_family(&b, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, STUN_AF_IPV6), 0);
	cr_assert_eq(stun_build_add_even_port(&b, true), 0);
	cr_assert_eq(stun_build_add(&b, STUN_ATTR_RESERVATION_TOKEN, tok, 8), 0);
	cr_assert_eq(stun_build_add(&b, STUN_ATTR_DONT_FRAGMENT, NULL, 0), 0);
	cr_assert_eq(stun_build_add_addr(&b, STUN_ATTR_XOR_PEER_ADDRESS, &p4), 0);
	cr_assert_eq(stun_build_add_addr(&b, STUN_ATTR_XOR_PEER_ADDRESS, &p6), 0);
	cr_assert_eq(stun_build_add_addr(&b, STUN_ATTR_XOR_RELAYED_ADDRESS, &relayed), 0);
	cr_assert_eq(stun_build_add_addr(&b, STUN_ATTR_MAPPED_ADDRESS, &mapped), 0);
	cr_assert_eq(stun_build_add_channel_number(&b, 0x4001), 0);
	cr_assert_eq(stun_build_add(&b, STUN_ATTR_DATA, payload, 5), 0);
	cr_assert_eq(stun_build_add_error_code(&b, 438, "Stale Nonce", 11), 0);
	cr_assert_eq(stun_build_add(&b, STUN_ATTR_USERNAME, "alice", 5), 0);
	cr_assert_eq(stun_build_add(&b, STUN_ATTR_REALM, "sp", 2), 0);
	cr_assert_eq(stun_build_add(&b, STUN_ATTR_NONCE, "n0nce", 5), 0);
	cr_assert_eq(stun_build_add_integrity(&b, key, sizeof(key)), 0);
	cr_assert_eq(stun_build_add_integrity_sha256(&b, key, sizeof(key)), 0);
	cr_assert_eq(stun_build_add_fingerprint(&b), 0);
	len = stun_build_finish(&b);
	cr_assert_gt(len, 0);

	parse_ok(buf, (size_t)len, &m);
	cr_expect_eq(m.method, STUN_METHOD_ALLOCATE);
	cr_expect_eq(m.n_unknown, 0);
	cr_assert_eq(stun_get_requested_transport(&m, &u8), 0);
	cr_expect_eq(u8, 17);
	cr_assert_eq(stun_get_lifetime(&m, &u32), 0);
	cr_expect_eq(u32, 3600);
	cr_assert_eq(stun_get_family(&m, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, &u8), 0);
	cr_expect_eq(u8, STUN_AF_IPV6);
	cr_assert_eq(stun_get_family(&m, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, &u8), 0);
	cr_expect_eq(u8, STUN_AF_IPV6);
	cr_expect_eq(stun_get_family(&m, STUN_ATTR_LIFETIME, &u8), -EINVAL);
	cr_assert_eq(stun_get_even_port(&m, &reserve), 0);
	cr_expect(reserve);
	cr_assert_eq(stun_get_reservation_token(&m, token), 0);
	cr_expect_eq(memcmp(token, tok, 8), 0);
	cr_expect(stun_has_attr(&m, STUN_ATTR_DONT_FRAGMENT));
	cr_assert_eq(stun_get_channel_number(&m, &ch), 0);
	cr_expect_eq(ch, 0x4001);
	cr_assert_eq(stun_get_data(&m, &data, &dlen), 0);
	cr_expect_eq(dlen, 5);
	cr_expect_eq(memcmp(data, payload, 5), 0);
	cr_assert_eq(stun_get_error_code(&m, &code, NULL, NULL), 0);
	cr_expect_eq(code, 438);

	a = stun_attr_find(&m, STUN_ATTR_XOR_PEER_ADDRESS);
	cr_assert_not_null(a);
	cr_assert_eq(stun_attr_get_addr(&m, a, &got), 0);
	expect_addr(&got, &p4);
	/* On the wire the address is XORed, not in clear. */
	cr_expect_neq(memcmp(stun_attr_value(&m, a) + 4, p4.ip, 4), 0);
	a = stun_attr_next(&m, a);
	cr_assert_not_null(a);
	cr_assert_eq(stun_attr_get_addr(&m, a, &got), 0);
	expect_addr(&got, &p6);
	cr_expect_null(stun_attr_next(&m, a));
	cr_assert_eq(stun_get_addr(&m, STUN_ATTR_XOR_RELAYED_ADDRESS, &got), 0);
	expect_addr(&got, &relayed);
	cr_assert_eq(stun_get_addr(&m, STUN_ATTR_MAPPED_ADDRESS, &got), 0);
	expect_addr(&got, &mapped);
	cr_expect_eq(memcmp(stun_attr_value(&m, stun_attr_find(&m, STUN_ATTR_MAPPED_ADDRESS)) + 4,
			    mapped.ip, 16), 0, "MAPPED-ADDRESS is not XORed");
	cr_expect_eq(stun_get_addr(&m, STUN_ATTR_LIFETIME, &got), -EINVAL);

	cr_expect_eq(stun_check_integrity(&m, key, sizeof(key)), 0);
	cr_expect_eq(stun_check_integrity_sha256(&m, key, sizeof(key)), 0);
	cr_expect(stun_check_fingerprint(&m));
	key[0] ^= 1;
	cr_expect_eq(stun_check_integrity(&m, key, sizeof(key)), -EACCES);
	cr_expect_eq(stun_check_integrity_sha256(&m, key, sizeof(key)), -EACCES);
}

Test(stun, absent_attributes)
{
	uint8_t buf[64];
	struct stun_builder b;
	struct stun_msg m;
	struct stun_addr a;
	const char *s;
	size_t n;
	uint32_t u32;
	uint16_t u16;
	uint8_t u8, tok[8];
	const uint8_t *d;
	bool r;
	int len;

	stun_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_REQUEST, tid_5769);
	len = stun_build_finish(&b);
	parse_ok(buf, (size_t)len, &m);
	cr_expect_eq(stun_get_addr(&m, STUN_ATTR_XOR_MAPPED_ADDRESS, &a), -ENOENT);
	cr_expect_eq(stun_get_text(&m, STUN_ATTR_USERNAME, &s, &n), -ENOENT);
	cr_expect_eq(stun_get_text(&m, STUN_ATTR_DATA, &s, &n), -EINVAL);
	cr_expect_eq(stun_get_error_code(&m, &u16, &s, &n), -ENOENT);
	cr_expect_eq(stun_get_unknown_attrs(&m, &u16, 1, &n), -ENOENT);
	cr_expect_eq(stun_get_lifetime(&m, &u32), -ENOENT);
	cr_expect_eq(stun_get_requested_transport(&m, &u8), -ENOENT);
	cr_expect_eq(stun_get_family(&m, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, &u8), -ENOENT);
	cr_expect_eq(stun_get_channel_number(&m, &u16), -ENOENT);
	cr_expect_eq(stun_get_data(&m, &d, &n), -ENOENT);
	cr_expect_eq(stun_get_even_port(&m, &r), -ENOENT);
	cr_expect_eq(stun_get_reservation_token(&m, tok), -ENOENT);
	cr_expect_not(stun_has_attr(&m, STUN_ATTR_DONT_FRAGMENT));
	cr_expect_eq(stun_check_integrity(&m, (const uint8_t *)"k", 1), -ENOENT);
	cr_expect_not(stun_check_fingerprint(&m));
}

/* MESSAGE-INTEGRITY-SHA256 truncated to 16 bytes (RFC 8489 14.6), made by
 * hand with OpenSSL's one-shot HMAC as an independent implementation. */
Test(stun, integrity_sha256_truncated)
{
	uint8_t buf[128], mac[32];
	unsigned int maclen = 0;
	struct stun_builder b;
	struct stun_msg m;
	int len;

	stun_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_REQUEST, tid_5769);
	stun_build_add(&b, STUN_ATTR_USERNAME, "bob", 3);
	len = stun_build_finish(&b);
	cr_assert_eq(len, 28);
	buf[3] = 28 - 20 + 20; /* header length as if the 16-byte MAC were there */
	HMAC(EVP_sha256(), "key", 3, buf, 28, mac, &maclen);
	cr_assert_eq(maclen, 32);
	memcpy(buf + 28, "\x00\x1c\x00\x10", 4);
	memcpy(buf + 32, mac, 16);
	parse_ok(buf, 48, &m);
	cr_expect_eq(stun_check_integrity_sha256(&m, (const uint8_t *)"key", 3), 0);
	cr_expect_eq(stun_check_integrity_sha256(&m, (const uint8_t *)"kez", 3), -EACCES);
	buf[40] ^= 0x80;
	parse_ok(buf, 48, &m);
	cr_expect_eq(stun_check_integrity_sha256(&m, (const uint8_t *)"key", 3), -EACCES);
}

Test(stun, empty_key_is_a_key)
{
	uint8_t buf[128];
	struct stun_builder b;
	struct stun_msg m;
	int len;

	stun_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_REQUEST, tid_5769);
	cr_assert_eq(stun_build_add_integrity(&b, NULL, 0), 0);
	len = stun_build_finish(&b);
	cr_assert_eq(len, 44);
	parse_ok(buf, (size_t)len, &m);
	cr_expect_eq(stun_check_integrity(&m, (const uint8_t *)"", 0), 0);
	cr_expect_eq(stun_check_integrity(&m, (const uint8_t *)"x", 1), -EACCES);
}

Test(stun, builder_errors)
{
	uint8_t buf[64], big[1024];
	char user[600];
	struct stun_builder b;
	struct stun_addr bad = { .family = 3 };

	/* Too small for the header. */
	cr_expect_eq(stun_build_init(&b, buf, 19, 1, STUN_CLASS_REQUEST, tid_5769), -ENOSPC);
	cr_expect_eq(stun_build_add_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, &bad), -ENOSPC);
	cr_expect_eq(stun_build_finish(&b), -ENOSPC);
	cr_expect_eq(stun_build_init(&b, buf, 64, 0x1000, STUN_CLASS_REQUEST, tid_5769), -EINVAL);

	/* Full buffer: the error sticks. */
	stun_build_init(&b, buf, 32, 1, STUN_CLASS_REQUEST, tid_5769);
	cr_expect_eq(stun_build_add(&b, STUN_ATTR_SOFTWARE, "12345678", 8), 0);
	cr_expect_eq(stun_build_add(&b, STUN_ATTR_SOFTWARE, "x", 1), -ENOSPC);
	cr_expect_eq(stun_build_add_fingerprint(&b), -ENOSPC);
	cr_expect_eq(stun_build_finish(&b), -ENOSPC);

	/* What the parser would refuse, the builder refuses. */
	memset(user, 'u', sizeof(user));
	stun_build_init(&b, big, sizeof(big), 1, STUN_CLASS_REQUEST, tid_5769);
	cr_expect_eq(stun_build_add(&b, STUN_ATTR_USERNAME, user, 513), -EINVAL);
	cr_expect_eq(stun_build_finish(&b), -EINVAL);
	stun_build_init(&b, big, sizeof(big), 1, STUN_CLASS_REQUEST, tid_5769);
	cr_expect_eq(stun_build_add(&b, STUN_ATTR_USERNAME, user, 512), 0);
	cr_expect_eq(stun_build_add(&b, STUN_ATTR_LIFETIME, "ab", 2), -EINVAL);

	stun_build_init(&b, buf, sizeof(buf), 1, STUN_CLASS_REQUEST, tid_5769);
	cr_expect_eq(stun_build_add(&b, STUN_ATTR_FINGERPRINT, "abcd", 4), -EINVAL);
	stun_build_init(&b, buf, sizeof(buf), 1, STUN_CLASS_REQUEST, tid_5769);
	cr_expect_eq(stun_build_add(&b, STUN_ATTR_MESSAGE_INTEGRITY, buf, 20), -EINVAL);
	stun_build_init(&b, buf, sizeof(buf), 1, STUN_CLASS_REQUEST, tid_5769);
	cr_expect_eq(stun_build_add_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, &bad), -EINVAL);
	stun_build_init(&b, buf, sizeof(buf), 1, STUN_CLASS_REQUEST, tid_5769);
	cr_expect_eq(stun_build_add_addr(&b, STUN_ATTR_SOFTWARE, &bad), -EINVAL);
	stun_build_init(&b, buf, sizeof(buf), 1, STUN_CLASS_REQUEST, tid_5769);
	cr_expect_eq(stun_build_add_error_code(&b, 700, "x", 1), -EINVAL);
	stun_build_init(&b, buf, sizeof(buf), 1, STUN_CLASS_REQUEST, tid_5769);
	cr_expect_eq(stun_build_add_error_code(&b, 299, "x", 1), -EINVAL);
	stun_build_init(&b, buf, sizeof(buf), 1, STUN_CLASS_REQUEST, tid_5769);
	cr_expect_eq(stun_build_add_family(&b, STUN_ATTR_LIFETIME, 1), -EINVAL);

	/* Order: nothing but -SHA256/FINGERPRINT after MI, nothing after FP. */
	stun_build_init(&b, big, sizeof(big), 1, STUN_CLASS_REQUEST, tid_5769);
	cr_expect_eq(stun_build_add_integrity(&b, (const uint8_t *)"k", 1), 0);
	cr_expect_eq(stun_build_add(&b, STUN_ATTR_SOFTWARE, "x", 1), -EINVAL);
	stun_build_init(&b, big, sizeof(big), 1, STUN_CLASS_REQUEST, tid_5769);
	cr_expect_eq(stun_build_add_integrity(&b, (const uint8_t *)"k", 1), 0);
	cr_expect_eq(stun_build_add_integrity(&b, (const uint8_t *)"k", 1), -EINVAL);
	stun_build_init(&b, big, sizeof(big), 1, STUN_CLASS_REQUEST, tid_5769);
	cr_expect_eq(stun_build_add_integrity_sha256(&b, (const uint8_t *)"k", 1), 0);
	cr_expect_eq(stun_build_add_integrity(&b, (const uint8_t *)"k", 1), -EINVAL);
	stun_build_init(&b, big, sizeof(big), 1, STUN_CLASS_REQUEST, tid_5769);
	cr_expect_eq(stun_build_add_fingerprint(&b), 0);
	cr_expect_eq(stun_build_add_fingerprint(&b), -EINVAL);
	cr_expect_eq(stun_build_add_integrity(&b, (const uint8_t *)"k", 1), -EINVAL);
}

/* The length field is 16 bits: a message never exceeds 20 + 65532 bytes. */
Test(stun, builder_64k_limit)
{
	static uint8_t buf[70000], data[65532];
	struct stun_builder b;
	struct stun_msg m;
	int len;

	stun_build_init(&b, buf, sizeof(buf), STUN_METHOD_SEND, STUN_CLASS_INDICATION, tid_5769);
	cr_expect_eq(stun_build_add(&b, STUN_ATTR_DATA, data, 65528), 0);
	len = stun_build_finish(&b);
	cr_assert_eq(len, 20 + 65532);
	parse_ok(buf, (size_t)len, &m);
	cr_expect_eq(stun_build_add(&b, STUN_ATTR_DONT_FRAGMENT, NULL, 0), -ENOSPC);

	stun_build_init(&b, buf, sizeof(buf), STUN_METHOD_SEND, STUN_CLASS_INDICATION, tid_5769);
	cr_expect_eq(stun_build_add(&b, STUN_ATTR_DATA, data, 65529), -ENOSPC);
}

/* ---- ChannelData, framing, demux ---- */

Test(stun, chdata_round_trip)
{
	uint8_t frame[16] = { 0 };
	struct stun_chdata cd;

	stun_chdata_header(frame, 0x4abc, 5);
	memcpy(frame + 4, "hello", 5);
	cr_expect_eq(stun_chdata_padding(5, true), 3);
	cr_expect_eq(stun_chdata_padding(8, true), 0);
	cr_expect_eq(stun_chdata_padding(5, false), 0);
	cr_assert_eq(stun_chdata_parse(frame, 9, false, &cd), STUN_OK);
	cr_expect_eq(cd.channel, 0x4abc);
	cr_expect_eq(cd.len, 5);
	cr_expect_eq(cd.data, frame + 4);
	cr_expect_eq(stun_chdata_parse(frame, 9, true, &cd), STUN_ERR_CHDATA_TRUNCATED);
	cr_expect_eq(stun_chdata_parse(frame, 12, true, &cd), STUN_OK);
	cr_expect_eq(stun_chdata_parse(frame, 16, false, &cd), STUN_OK, "UDP trailing bytes ignored");
	cr_expect_eq(cd.len, 5);
}

Test(stun, stream_framing)
{
	uint8_t buf[64] = { 0 };
	size_t fl;

	cr_expect_eq(stun_stream_frame(buf, 0, &fl), STUN_OK);
	cr_expect_eq(fl, 4);
	memcpy(buf, "\x00\x01\x00\x08", 4);
	cr_expect_eq(stun_stream_frame(buf, 3, &fl), STUN_OK);
	cr_expect_eq(fl, 4);
	cr_expect_eq(stun_stream_frame(buf, 4, &fl), STUN_OK);
	cr_expect_eq(fl, 28);
	memcpy(buf, "\x00\x01\x00\x06", 4);
	cr_expect_eq(stun_stream_frame(buf, 4, &fl), STUN_ERR_LEN_ALIGN);
	memcpy(buf, "\x40\x00\x00\x05", 4);
	cr_expect_eq(stun_stream_frame(buf, 4, &fl), STUN_OK);
	cr_expect_eq(fl, 12, "ChannelData over TCP is padded");
	memcpy(buf, "\x4f\xff\x00\x00", 4);
	cr_expect_eq(stun_stream_frame(buf, 4, &fl), STUN_OK);
	cr_expect_eq(fl, 4);
	memcpy(buf, "\x50\x00\x00\x04", 4);
	cr_expect_eq(stun_stream_frame(buf, 4, &fl), STUN_ERR_CHANNEL_RANGE);
	memcpy(buf, "\x16\x03\x01\x00", 4); /* a TLS record on the plain port */
	cr_expect_eq(stun_stream_frame(buf, 4, &fl), STUN_ERR_NOT_STUN);
	memcpy(buf, "\x80\x60\x00\x01", 4); /* RTP */
	cr_expect_eq(stun_stream_frame(buf, 4, &fl), STUN_ERR_NOT_STUN);
	/* RFC 7983 cannot tell "GET " (0x47) from channel 0x4745: framing
	 * takes it as ChannelData, parsing the frame decides. */
	memcpy(buf, "GET ", 4);
	cr_expect_eq(stun_stream_frame(buf, 4, &fl), STUN_OK);
	cr_expect_eq(fl, 4 + 0x5420); /* "T " is the length */
}

Test(stun, demux_rfc7983)
{
	static const struct {
		uint8_t first;
		enum stun_demux want;
	} table[] = {
		{ 0, STUN_DEMUX_STUN },     { 3, STUN_DEMUX_STUN },     { 4, STUN_DEMUX_OTHER },
		{ 15, STUN_DEMUX_OTHER },   { 16, STUN_DEMUX_ZRTP },    { 19, STUN_DEMUX_ZRTP },
		{ 20, STUN_DEMUX_DTLS },    { 63, STUN_DEMUX_DTLS },    { 64, STUN_DEMUX_CHDATA },
		{ 79, STUN_DEMUX_CHDATA },  { 80, STUN_DEMUX_OTHER },   { 127, STUN_DEMUX_OTHER },
		{ 128, STUN_DEMUX_RTP },    { 191, STUN_DEMUX_RTP },    { 192, STUN_DEMUX_OTHER },
		{ 255, STUN_DEMUX_OTHER },
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		cr_expect_eq(stun_demux(&table[i].first, 1), table[i].want, "first byte %u",
			     table[i].first);
	cr_expect_eq(stun_demux(NULL, 0), STUN_DEMUX_OTHER);
}

/* ---- SASLprep and keys ---- */

Test(stun, saslprep_vectors)
{
	char path[] = DATA "saslprep.txt", line[512];
	FILE *f = fopen(path, "r");
	int cases = 0;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		char in_hex[256], want[256], out[256];
		uint8_t in[128], exp[128];
		long inlen, explen = -1;
		size_t outlen;
		int rc, want_rc = 0;

		if (line[0] == '#')
			continue;
		cr_assert_eq(sscanf(line, "%255s %255s", in_hex, want), 2, "bad line %s", line);
		inlen = decode_hex(in_hex, in, sizeof(in));
		cr_assert_geq(inlen, 0);
		if (strcmp(want, "EINVAL") == 0)
			want_rc = -EINVAL;
		else if (strcmp(want, "EOPNOTSUPP") == 0)
			want_rc = -EOPNOTSUPP;
		else
			explen = decode_hex(want, exp, sizeof(exp));
		rc = saslprep((const char *)in, (size_t)inlen, out, sizeof(out), &outlen);
		cr_expect_eq(rc, want_rc, "input %s: rc %d, want %s", in_hex, rc, want);
		if (rc == 0 && want_rc == 0) {
			cr_expect_eq((long)outlen, explen, "input %s: length", in_hex);
			cr_expect_eq(memcmp(out, exp, outlen), 0, "input %s: output", in_hex);
		}
		cases++;
	}
	fclose(f);
	cr_expect_geq(cases, 300);
}

Test(stun, saslprep_rfc4013_examples)
{
	static const struct {
		const char *in, *out;
		int rc;
	} t[] = {
		{ "I\xc2\xadX", "IX", 0 },          /* SOFT HYPHEN mapped to nothing */
		{ "user", "user", 0 },
		{ "USER", "USER", 0 },              /* case preserved */
		{ "\xc2\xaa", "a", 0 },             /* NFKC */
		{ "\xe2\x85\xa8", "IX", 0 },        /* NFKC */
		{ "\x07", NULL, -EINVAL },          /* prohibited */
		{ "\xd8\xa7" "1", NULL, -EINVAL },  /* bidi: RandALCat not last */
	};
	char out[64];
	size_t n;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = saslprep(t[i].in, strlen(t[i].in), out, sizeof(out), &n);

		cr_expect_eq(rc, t[i].rc, "case %zu", i);
		if (t[i].out && rc == 0) {
			cr_expect_eq(n, strlen(t[i].out), "case %zu", i);
			cr_expect_eq(memcmp(out, t[i].out, n), 0, "case %zu", i);
		}
	}
}

Test(stun, saslprep_bad_utf8_and_space)
{
	static const char *bad[] = {
		"\xc0\x80",          /* overlong NUL */
		"\xe0\x80\xaf",      /* overlong '/' */
		"\xed\xa0\x80",      /* surrogate */
		"\xf4\x90\x80\x80",  /* > U+10FFFF */
		"\xf5\x80\x80\x80",
		"\xe3\x83",          /* truncated */
		"\x80",              /* lone continuation */
		"a\xff",
	};
	char out[64];
	size_t n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(saslprep(bad[i], strlen(bad[i]), out, sizeof(out), &n), -EILSEQ,
			     "case %zu", i);
	cr_expect_eq(saslprep("abcdef", 6, out, 5, &n), -ENOSPC);
	cr_expect_eq(saslprep("\xc2\xbd", 2, out, 4, &n), -ENOSPC, "1/2 -> 5 bytes");
	cr_expect_eq(saslprep("\xc2\xbd", 2, out, 5, &n), 0);
	cr_expect_eq(n, 5);
	cr_expect_eq(saslprep("", 0, out, 0, &n), 0);
	cr_expect_eq(n, 0);
	/* Embedded NUL is a prohibited control character, not a terminator. */
	cr_expect_eq(saslprep("a\0b", 3, out, sizeof(out), &n), -EINVAL);
}

Test(stun, short_term_key)
{
	uint8_t key[64];
	size_t n;

	cr_assert_eq(stun_key_short_term("pa\xc2\xadss", 6, key, sizeof(key), &n), 0);
	cr_expect_eq(n, 4);
	cr_expect_eq(memcmp(key, "pass", 4), 0);
	cr_expect_eq(stun_key_short_term("a\xcc\x81", 3, key, sizeof(key), &n), -EOPNOTSUPP);
}

Test(stun, long_term_key_md5)
{
	/* MD5("user:realm:pass"), computed independently. */
	static const uint8_t want[16] = { 0x84, 0x93, 0xfb, 0xc5, 0x3b, 0xa5, 0x82, 0xfb,
					  0x4c, 0x04, 0x4c, 0x45, 0x6b, 0xdc, 0x40, 0xeb };
	uint8_t key[16];
	char big[600];

	cr_assert_eq(stun_key_long_term("user", 4, "realm", 5, "pass", 4, key), 0);
	cr_expect_eq(memcmp(key, want, 16), 0);
	memset(big, 'p', sizeof(big));
	cr_expect_eq(stun_key_long_term("u", 1, "r", 1, big, sizeof(big), key), -ENOSPC);
	cr_expect_eq(stun_key_long_term("u", 1, "r", 1, "\x07", 1, key), -EINVAL);
}
