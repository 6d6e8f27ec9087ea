/*
 * fuzz_agent_upgrade: libFuzzer target for everything agent_auth parses
 * from the network (common/agent_auth.c): the HTTP/1.1 Upgrade request and
 * response, the handshake messages (HELLO at the server, PROOF after it),
 * the assignment message, tokens and key files.
 *
 * Byte 0 picks the parser; the rest is its input. Invariants (abort()):
 *  - an accepted request's views lie inside the input and before
 *    header_len, and the header block alone parses the same;
 *  - NEED_MORE only for inputs shorter than the size limit;
 *  - a token the fuzzer made up never verifies (it cannot know the key);
 *  - an accepted assignment re-encodes to the same bytes;
 *  - a PROOF the fuzzer made up never authenticates.
 * Deterministic control flow (the server nonce is random, but no branch the
 * fuzzer can reach depends on its value), no I/O, nothing kept.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)               \
	do {                      \
		if (!(cond))      \
			abort();  \
	} while (0)

static bool inside(const char *base, size_t len, const char *p, size_t n)
{
	return p >= base && p + n <= base + len;
}

static int fixed_key(void *ctx, const char *dev, uint8_t key[AGENT_AUTH_KEY_LEN])
{
	(void)ctx;
	static const uint8_t master[] = "fuzz-master";
	if (dev[0] == 'x')
		return -ENOENT;
	return agent_auth_derive_key(master, sizeof(master) - 1, dev, key);
}

static void fuzz_request(const char *buf, size_t len)
{
	struct agent_auth_upgrade up;
	enum agent_auth_err e = agent_auth_upgrade_parse(buf, len, &up);
	CHECK((unsigned)e < AGENT_AUTH_ERR__COUNT);
	if (e == AGENT_AUTH_NEED_MORE)
		CHECK(len < AGENT_AUTH_UP_MAX_TOTAL);
	if (e != AGENT_AUTH_OK)
		return;
	CHECK(up.header_len >= 4 && up.header_len <= len && up.header_len <= AGENT_AUTH_UP_MAX_TOTAL);
	CHECK(inside(buf, up.header_len, up.path, up.path_len) && up.path_len > 0 && up.path[0] == '/');
	CHECK(inside(buf, up.header_len, up.host, up.host_len) && up.host_len > 0);
	if (up.token)
		CHECK(inside(buf, up.header_len, up.token, up.token_len) && up.token_len > 0);
	struct agent_auth_upgrade again;
	CHECK(agent_auth_upgrade_parse(buf, up.header_len, &again) == AGENT_AUTH_OK);
	CHECK(again.header_len == up.header_len && again.path == up.path && again.token == up.token);
	if (up.header_len > 0)
		CHECK(agent_auth_upgrade_parse(buf, up.header_len - 1, &again) == AGENT_AUTH_NEED_MORE);
}

static void fuzz_response(const char *buf, size_t len)
{
	int status;
	size_t hl;
	enum agent_auth_err e = agent_auth_upgrade_response_parse(buf, len, &status, &hl);
	CHECK((unsigned)e < AGENT_AUTH_ERR__COUNT);
	CHECK(status >= 0 && status <= 999);
	if (e == AGENT_AUTH_OK)
		CHECK(status == 101 && hl <= len && hl >= 4);
}

static void fuzz_token(const char *buf, size_t len)
{
	static const uint8_t k[32] = "fuzz-token-key-0123456789abcdef";
	agent_auth_keyring *kr = agent_auth_keyring_new();
	CHECK(kr);
	CHECK(agent_auth_keyring_add(kr, "k1", k, sizeof(k), true) == 0);
	struct agent_auth_token_info ti;
	enum agent_auth_err e = agent_auth_token_verify(kr, buf, len, "sp-1", NULL, 1800000000ull, &ti);
	CHECK(e != AGENT_AUTH_OK);
	CHECK((unsigned)e < AGENT_AUTH_ERR__COUNT);
	/* a real token built from the input's ids must verify */
	char dev[AGENT_AUTH_ID_MAX + 1];
	size_t dl = len < AGENT_AUTH_ID_MAX ? len : AGENT_AUTH_ID_MAX;
	memcpy(dev, buf, dl);
	dev[dl] = '\0';
	char tok[AGENT_AUTH_TOKEN_MAX + 1];
	int n = agent_auth_token_sign(kr, dev, "sp-1", 1800000000ull, 60, tok, sizeof(tok));
	/* the signer takes a C string: an embedded NUL ends the id */
	if (agent_auth_id_valid(dev, strlen(dev))) {
		CHECK(n > 0);
		CHECK(agent_auth_token_verify(kr, tok, (size_t)n, "sp-1", dev, 1800000000ull, &ti) ==
		      AGENT_AUTH_OK);
		CHECK(strcmp(ti.device_id, dev) == 0);
	} else {
		CHECK(n == -EINVAL);
	}
	agent_auth_keyring_free(kr);
}

/* AUTH_OK / SWITCH and UNREACHABLE payloads: what parses re-encodes the same */
static void fuzz_assign(const uint8_t *buf, size_t len)
{
	struct agent_auth_assign a;
	uint8_t out[4096];
	const char *addr;
	size_t al;
	int n;

	if (agent_auth_unreachable_parse(buf, len, &addr, &al) == AGENT_AUTH_OK) {
		n = agent_auth_unreachable_encode(addr, al, out, sizeof(out));
		CHECK(n >= 0 && (size_t)n == len && memcmp(out, buf, len) == 0);
	}
	if (agent_auth_assign_parse(buf, len, &a) != AGENT_AUTH_OK)
		return;
	n = agent_auth_assign_encode(&a, out, sizeof(out));
	CHECK(n >= 0 && (size_t)n == len && memcmp(out, buf, len) == 0);
}

static void fuzz_handshake(const uint8_t *buf, size_t len)
{
	/* first byte: HELLO length; then HELLO; then PROOF */
	if (len < 1)
		return;
	size_t hl = buf[0];
	if (hl > len - 1)
		hl = len - 1;
	agent_auth_hs *sv = agent_auth_hs_server_new("ep-1", fixed_key, NULL);
	CHECK(sv);
	uint8_t chal[AGENT_AUTH_CHALLENGE_MAX];
	size_t cl;
	enum agent_auth_err e = agent_auth_hs_on_hello(sv, buf + 1, hl, chal, sizeof(chal), &cl);
	CHECK((unsigned)e < AGENT_AUTH_ERR__COUNT);
	if (e == AGENT_AUTH_OK) {
		CHECK(cl > 0 && cl <= sizeof(chal));
		e = agent_auth_hs_on_proof(sv, buf + 1 + hl, len - 1 - hl);
		CHECK(e != AGENT_AUTH_OK);
		CHECK(!agent_auth_hs_done(sv));
	} else {
		CHECK(cl == 0);
	}
	agent_auth_hs_free(sv);
}

static void fuzz_keyfile(const char *buf, size_t len)
{
	uint8_t key[AGENT_AUTH_KEY_LEN];
	int rc = agent_auth_keyfile_lookup(buf, len, "cam-1", key);
	CHECK(rc == 0 || rc == -ENOENT || rc == -EINVAL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const uint8_t *buf = data + 1;
	size_t len = size - 1;
	switch (data[0] % 6) {
	case 0: fuzz_request((const char *)buf, len); break;
	case 1: fuzz_response((const char *)buf, len); break;
	case 2: fuzz_token((const char *)buf, len); break;
	case 3: fuzz_assign(buf, len); break;
	case 4: fuzz_handshake(buf, len); break;
	default: fuzz_keyfile((const char *)buf, len); break;
	}
	return 0;
}
