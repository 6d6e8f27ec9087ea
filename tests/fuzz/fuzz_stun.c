/*
 * fuzz_stun: libFuzzer target for the STUN/TURN codec and SASLprep.
 *
 * Every input goes through the demux, the stream framer, both ChannelData
 * modes and stun_parse. A successful parse then runs every getter on every
 * attribute, verifies integrity with a fixed key, and rebuilds the message
 * with the builder; invariants that must hold for any accepted message are
 * checked with abort() so libFuzzer reports them:
 *  - no getter answers -EINVAL for an attribute stun_parse accepted;
 *  - the builder accepts every attribute stun_parse accepted, and the
 *    rebuilt message parses, with the same attributes, and verifies;
 *  - SASLprep output fits 4x the input and SASLprep is idempotent.
 * Deterministic, no I/O, nothing kept between runs.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "saslprep.h"
#include "stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t fuzz_key[] = "fuzz-key";

#define CHECK(cond)               \
	do {                      \
		if (!(cond))      \
			abort();  \
	} while (0)

static void run_getters(const struct stun_msg *m)
{
	struct stun_addr addr;
	const char *s;
	const uint8_t *d;
	size_t n;
	uint16_t types[STUN_MAX_ATTRS], u16;
	uint32_t u32;
	uint8_t u8, token[8];
	bool r;

	for (unsigned i = 0; i < m->n_attrs; i++) {
		const struct stun_attr *a = &m->attrs[i];
		int rc = stun_attr_get_addr(m, a, &addr);

		switch (a->type) {
		case STUN_ATTR_MAPPED_ADDRESS:
		case STUN_ATTR_XOR_MAPPED_ADDRESS:
		case STUN_ATTR_XOR_PEER_ADDRESS:
		case STUN_ATTR_XOR_RELAYED_ADDRESS:
		case STUN_ATTR_ALTERNATE_SERVER:
			CHECK(rc == 0);
			CHECK(addr.family == STUN_AF_IPV4 || addr.family == STUN_AF_IPV6);
			break;
		default:
			CHECK(rc == -EINVAL);
		}
		if (stun_attr_next(m, a))
			CHECK(stun_attr_next(m, a)->type == a->type);
	}
	CHECK(stun_get_text(m, STUN_ATTR_USERNAME, &s, &n) != -EINVAL);
	CHECK(stun_get_text(m, STUN_ATTR_REALM, &s, &n) != -EINVAL);
	CHECK(stun_get_text(m, STUN_ATTR_NONCE, &s, &n) != -EINVAL);
	CHECK(stun_get_text(m, STUN_ATTR_SOFTWARE, &s, &n) != -EINVAL);
	if (stun_get_error_code(m, &u16, &s, &n) == 0)
		CHECK(u16 >= 300 && u16 <= 699 && n <= STUN_MAX_TEXT);
	CHECK(stun_get_unknown_attrs(m, types, STUN_MAX_ATTRS, &n) != -EINVAL);
	CHECK(stun_get_lifetime(m, &u32) != -EINVAL);
	CHECK(stun_get_requested_transport(m, &u8) != -EINVAL);
	CHECK(stun_get_family(m, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, &u8) != -EINVAL);
	CHECK(stun_get_family(m, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, &u8) != -EINVAL);
	CHECK(stun_get_channel_number(m, &u16) != -EINVAL);
	CHECK(stun_get_data(m, &d, &n) != -EINVAL);
	CHECK(stun_get_even_port(m, &r) != -EINVAL);
	CHECK(stun_get_reservation_token(m, token) != -EINVAL);
	(void)stun_has_attr(m, STUN_ATTR_DONT_FRAGMENT);

	if (m->fingerprint >= 0)
		CHECK(stun_check_fingerprint(m));
	{
		int rc = stun_check_integrity(m, fuzz_key, sizeof(fuzz_key) - 1);

		CHECK(rc == 0 || rc == -EACCES || rc == -ENOENT);
		CHECK((rc == -ENOENT) == (m->integrity < 0));
		rc = stun_check_integrity_sha256(m, fuzz_key, sizeof(fuzz_key) - 1);
		CHECK(rc == 0 || rc == -EACCES || rc == -ENOENT);
	}
}

/* Rebuild the counted attributes, seal with a fixed key, parse again. */
static void rebuild(const struct stun_msg *m)
{
	static uint8_t out[STUN_HEADER_LEN + 0xFFFC];
	struct stun_builder b;
	struct stun_msg m2;
	unsigned copied = 0;
	int len;

	CHECK(stun_build_init(&b, out, sizeof(out), m->method, (enum stun_class)m->cls,
			      stun_msg_tid(m)) == 0);
	for (unsigned i = 0; i < m->n_attrs; i++) {
		const struct stun_attr *a = &m->attrs[i];

		if (a->type == STUN_ATTR_MESSAGE_INTEGRITY ||
		    a->type == STUN_ATTR_MESSAGE_INTEGRITY_SHA256 || a->type == STUN_ATTR_FINGERPRINT)
			continue;
		CHECK(stun_build_add(&b, a->type, stun_attr_value(m, a), a->len) == 0);
		copied++;
	}
	/* Sealing adds 24 + 36 + 8 bytes, which may not fit in 64 KiB. */
	if (stun_build_add_integrity(&b, fuzz_key, sizeof(fuzz_key) - 1) ||
	    stun_build_add_integrity_sha256(&b, fuzz_key, sizeof(fuzz_key) - 1) ||
	    stun_build_add_fingerprint(&b)) {
		CHECK(stun_build_finish(&b) == -ENOSPC);
		return;
	}
	len = stun_build_finish(&b);
	CHECK(len > 0);
	if (copied + 3 > STUN_MAX_ATTRS) {
		CHECK(stun_parse(out, (size_t)len, &m2) == STUN_ERR_TOO_MANY_ATTRS);
		return;
	}
	CHECK(stun_parse(out, (size_t)len, &m2) == STUN_OK);
	CHECK(m2.n_attrs == copied + 3);
	CHECK(m2.type == m->type && m2.n_unknown == m->n_unknown);
	CHECK(stun_check_integrity(&m2, fuzz_key, sizeof(fuzz_key) - 1) == 0);
	CHECK(stun_check_integrity_sha256(&m2, fuzz_key, sizeof(fuzz_key) - 1) == 0);
	CHECK(stun_check_fingerprint(&m2));
}

static void prep(const uint8_t *in, size_t len)
{
	static char out[4 * 4096], again[4 * 4096];
	size_t n, n2;
	int rc;

	if (len > 4096)
		len = 4096;
	rc = saslprep((const char *)in, len, out, sizeof(out), &n);
	CHECK(rc == 0 || rc == -EILSEQ || rc == -EINVAL || rc == -EOPNOTSUPP);
	if (rc)
		return;
	CHECK(n <= 4 * len);
	CHECK(saslprep(out, n, again, sizeof(again), &n2) == 0);
	CHECK(n2 == n && memcmp(out, again, n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stun_msg m;
	struct stun_chdata cd;
	size_t frame;
	enum stun_err e;

	(void)stun_demux(data, size);
	if (stun_stream_frame(data, size, &frame) == STUN_OK)
		CHECK(frame >= 4);
	if (stun_chdata_parse(data, size, false, &cd) == STUN_OK)
		CHECK(cd.data + cd.len <= data + size);
	if (stun_chdata_parse(data, size, true, &cd) == STUN_OK)
		CHECK(cd.data + cd.len + stun_chdata_padding(cd.len, true) <= data + size);

	e = stun_parse(data, size, &m);
	CHECK((unsigned)e < STUN_ERR__COUNT);
	if (e == STUN_OK) {
		const char *s;
		size_t n;
		uint8_t key[STUN_LONG_TERM_KEY_LEN];

		CHECK(m.len == size && m.n_attrs <= STUN_MAX_ATTRS);
		run_getters(&m);
		rebuild(&m);
		if (stun_get_text(&m, STUN_ATTR_USERNAME, &s, &n) == 0) {
			prep((const uint8_t *)s, n);
			(void)stun_key_long_term(s, n, "realm", 5, s, n, key);
		}
	} else {
		prep(data, size);
	}
	return 0;
}
