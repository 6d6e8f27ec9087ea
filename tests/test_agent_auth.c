/*
 * test_agent_auth: device keys (checked against an independent HMAC), key
 * files, the handshake both ways (good, replayed proof, replayed challenge,
 * reflected proof, reflected nonce, wrong key either side, unknown device,
 * wrong server, malformed and out-of-order messages), tokens (good,
 * expired, not yet valid, another streampoint, another device, every byte
 * tampered, rotated and revoked keys), the assignment message, and the
 * HTTP Upgrade parser as a table of hostile requests plus every split
 * point and every limit.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "agent_auth.h"
#include "tun_frame.h"

static const uint8_t master[] = "streampoint-test-master-key-0123456789";

static int derive_fn(void *ctx, const char *dev, uint8_t key[AGENT_AUTH_KEY_LEN])
{
	(void)ctx;
	if (strncmp(dev, "cam-", 4) != 0)
		return -ENOENT; /* "unknown" devices in these tests */
	if (strcmp(dev, "cam-revoked") == 0)
		return -EACCES;
	return agent_auth_derive_key(master, sizeof(master) - 1, dev, key);
}

/* ---- keys ---- */

Test(agent_auth, derive_key_matches_spec)
{
	uint8_t k[32], want[32];
	unsigned int len = 0;
	const char msg[] = "sp-device-key|cam-0001";
	cr_assert_eq(agent_auth_derive_key(master, sizeof(master) - 1, "cam-0001", k), 0);
	HMAC(EVP_sha256(), master, sizeof(master) - 1, (const uint8_t *)msg, strlen(msg), want, &len);
	cr_assert_eq(len, 32);
	cr_assert_eq(memcmp(k, want, 32), 0);
	uint8_t k2[32];
	cr_assert_eq(agent_auth_derive_key(master, sizeof(master) - 1, "cam-0002", k2), 0);
	cr_assert_neq(memcmp(k, k2, 32), 0);
	cr_assert_eq(agent_auth_derive_key(master, sizeof(master) - 1, "bad id", k2), -EINVAL);
	cr_assert_eq(agent_auth_derive_key(master, 0, "cam-1", k2), -EINVAL);
	char longid[70];
	memset(longid, 'a', 65);
	longid[65] = '\0';
	cr_assert_eq(agent_auth_derive_key(master, sizeof(master) - 1, longid, k2), -EINVAL);
	longid[64] = '\0';
	cr_assert_eq(agent_auth_derive_key(master, sizeof(master) - 1, longid, k2), 0);
}

Test(agent_auth, nonce_fresh)
{
	uint8_t a[32], b[32];
	cr_assert_eq(agent_auth_nonce(a), 0);
	cr_assert_eq(agent_auth_nonce(b), 0);
	cr_assert_neq(memcmp(a, b, 32), 0);
}

#define K1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

Test(agent_auth, keyfile)
{
	struct { const char *text; const char *dev; int rc; uint8_t first; } rows[] = {
		{ "cam-1 " K1 "\n", "cam-1", 0, 0x00 },
		{ "# comment\n\n  cam-1\t" K1 "  \r\n", "cam-1", 0, 0x00 },
		{ "cam-2 " K1 "\ncam-1 ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "cam-1", 0, 0xff },
		{ "cam-2 " K1 "\n", "cam-1", -ENOENT, 0 },
		{ "cam-1 " K1 "\ncam-1 " K1 "\n", "cam-1", -EINVAL, 0 },   /* duplicate */
		{ "cam-1 0001\n", "cam-1", -EINVAL, 0 },                    /* short key */
		{ "cam-1 " K1 "00\n", "cam-1", -EINVAL, 0 },                /* long key */
		{ "cam-1 zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", "cam-1", -EINVAL, 0 },
		{ "bad/id " K1 "\ncam-1 " K1 "\n", "cam-1", -EINVAL, 0 },   /* any bad line refuses all */
		{ "cam-1 " K1 " trailing\n", "cam-1", -EINVAL, 0 },
		{ "", "cam-1", -ENOENT, 0 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint8_t k[32] = { 0x55 };
		int rc = agent_auth_keyfile_lookup(rows[i].text, strlen(rows[i].text), rows[i].dev, k);
		cr_assert_eq(rc, rows[i].rc, "row %zu: %d", i, rc);
		if (rc == 0) {
			cr_assert_eq(k[0], rows[i].first, "row %zu", i);
			cr_assert_eq(k[31], 0x1f);
		}
	}
}

#define T16 "000102030405060708090a0b0c0d0e0f"

/* The token keyring file spcp and spdp share. */
Test(agent_auth, keyring_file)
{
	static const struct {
		const char *text;
		bool need_current;
		int rc;
		const char *err;     /* substring of the error */
		const char *signer;  /* kid of the token signed afterwards, if rc > 0 */
	} rows[] = {
		{ "k1 " T16 " current\n", true, 1, NULL, "k1" },
		{ "# keys\n\n  k1\t" T16 "\r\nk2 ffffffffffffffffffffffffffffffff current # new\n", true, 2, NULL, "k2" },
		{ "k1 " T16, false, 1, NULL, NULL },                   /* no final newline, verifier */
		{ "k1 " T16 T16 T16 T16 " current\n", true, 1, NULL, "k1" }, /* 64 bytes */
		{ "k1 " T16 "\n", true, -ENOKEY, "no key marked", NULL },
		{ "", false, -ENOKEY, "no key", NULL },
		{ "# only a comment\n\n", true, -ENOKEY, "no key", NULL },
		{ "k1 0001\n", false, -EINVAL, "line 1: key is not", NULL },
		{ "k1 " T16 T16 T16 T16 "00\n", false, -EINVAL, "line 1: key is not", NULL },
		{ "k1 000102030405060708090a0b0c0d0e0\n", false, -EINVAL, "line 1: key is not", NULL },
		{ "k1 000102030405060708090a0b0c0d0e0g\n", false, -EINVAL, "line 1: key is not hex", NULL },
		{ "\nk1 " T16 " now\n", false, -EINVAL, "line 2: third field", NULL },
		{ "k.1 " T16 "\n", false, -EINVAL, "line 1: bad key id", NULL },
		{ "k12345678901234567 " T16 "\n", false, -EINVAL, "line 1: bad key id", NULL },
		{ "k1\n", false, -EINVAL, "line 1: no key", NULL },
		{ "k1 " T16 " current extra\n", false, -EINVAL, "line 1: extra field", NULL },
		{ "k1 " T16 "\nk1 " T16 "\n", false, -EINVAL, "line 2: duplicate", NULL },
		{ "k1 " T16 " current\nk2 " T16 " current\n", false, -EINVAL, "line 2: second 'current'", NULL },
		{ "a " T16 "\nb " T16 "\nc " T16 "\nd " T16 "\ne " T16 "\nf " T16 "\ng " T16 "\nh " T16
		  "\ni " T16 "\n", false, -EINVAL, "line 9: too many", NULL },
		{ "k1 " T16 "\n# fine\nk2 " T16 " currentt\n", false, -EINVAL, "line 3: third field", NULL },
		{ "k1 \0" T16 "\n", false, -EINVAL, "NUL", NULL },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		agent_auth_keyring *kr = agent_auth_keyring_new();
		char err[256];
		/* the NUL row: length includes what follows the NUL */
		size_t len = strlen(rows[i].text);
		if (strstr(rows[i].err ? rows[i].err : "", "NUL"))
			len = 4 + strlen(T16) + 1;
		int rc = agent_auth_keyring_parse(kr, rows[i].text, len, rows[i].need_current, err,
						  sizeof(err));
		cr_expect_eq(rc, rows[i].rc, "row %zu: %d (%s)", i, rc, err);
		if (rows[i].err)
			cr_expect(strstr(err, rows[i].err), "row %zu: '%s'", i, err);
		if (rc > 0 && rows[i].signer) {
			char tok[AGENT_AUTH_TOKEN_MAX];
			struct agent_auth_token_info info;
			int n = agent_auth_token_sign(kr, "cam-1", "sp-1", 1000, 60, tok, sizeof(tok));
			cr_assert_gt(n, 0, "row %zu", i);
			cr_expect_eq(agent_auth_token_verify(kr, tok, (size_t)n, "sp-1", "cam-1", 1001, &info),
				     AGENT_AUTH_OK, "row %zu", i);
			cr_expect_str_eq(info.kid, rows[i].signer, "row %zu", i);
		}
		agent_auth_keyring_free(kr);
	}
}

Test(agent_auth, keyring_load)
{
	char path[] = "/tmp/sp-keyring-XXXXXX", err[512];
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	const char text[] = "old " T16 "\nnew " T16 T16 " current\n";
	cr_assert_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	agent_auth_keyring *kr = agent_auth_keyring_new();
	cr_expect_eq(agent_auth_keyring_load(kr, path, true, err, sizeof(err)), 2, "%s", err);
	agent_auth_keyring_free(kr);
	unlink(path);
	kr = agent_auth_keyring_new();
	cr_expect_eq(agent_auth_keyring_load(kr, path, false, err, sizeof(err)), -ENOENT);
	cr_expect(strstr(err, path), "%s", err);
	agent_auth_keyring_free(kr);
}

/* ---- handshake ---- */

struct hs_run {
	uint8_t hello[128], chal[256], proof[64];
	size_t hello_len, chal_len, proof_len;
};

/* One complete good exchange; keeps the messages for replay tests. */
static void good_exchange(const char *dev, struct hs_run *r)
{
	uint8_t key[32];
	cr_assert_eq(agent_auth_derive_key(master, sizeof(master) - 1, dev, key), 0);
	agent_auth_hs *ag = agent_auth_hs_agent_new(dev, key, "ep-1");
	agent_auth_hs *sv = agent_auth_hs_server_new("ep-1", derive_fn, NULL);
	cr_assert(ag && sv);
	int n = agent_auth_hs_hello(ag, r->hello, sizeof(r->hello));
	cr_assert_gt(n, 0);
	r->hello_len = (size_t)n;
	cr_assert_eq(agent_auth_hs_on_hello(sv, r->hello, r->hello_len, r->chal, sizeof(r->chal),
					    &r->chal_len), AGENT_AUTH_OK);
	cr_assert_not(agent_auth_hs_done(sv));
	cr_assert_eq(agent_auth_hs_on_challenge(ag, r->chal, r->chal_len, r->proof, sizeof(r->proof),
						&r->proof_len), AGENT_AUTH_OK);
	cr_assert(agent_auth_hs_done(ag));
	cr_assert_eq(agent_auth_hs_on_proof(sv, r->proof, r->proof_len), AGENT_AUTH_OK);
	cr_assert(agent_auth_hs_done(sv));
	cr_assert_str_eq(agent_auth_hs_device(sv), dev);
	/* the messages fit the frames that carry them */
	cr_assert_leq(r->hello_len, AGENT_AUTH_HELLO_MAX);
	cr_assert_leq(r->chal_len, AGENT_AUTH_CHALLENGE_MAX);
	agent_auth_hs_free(ag);
	agent_auth_hs_free(sv);
}

Test(agent_auth, handshake_good)
{
	struct hs_run r;
	good_exchange("cam-0001", &r);
	good_exchange("cam-x.y_z:9", &r);
}

Test(agent_auth, replayed_proof_fails)
{
	/* An eavesdropper replays a recorded HELLO and PROOF to a new server
	 * connection: the server's fresh nonce_s makes the old proof useless. */
	struct hs_run r;
	good_exchange("cam-0001", &r);
	agent_auth_hs *sv = agent_auth_hs_server_new("ep-1", derive_fn, NULL);
	uint8_t chal[256];
	size_t cl;
	cr_assert_eq(agent_auth_hs_on_hello(sv, r.hello, r.hello_len, chal, sizeof(chal), &cl),
		     AGENT_AUTH_OK);
	cr_assert_neq(memcmp(chal, r.chal, cl), 0, "server nonce must be fresh");
	cr_assert_eq(agent_auth_hs_on_proof(sv, r.proof, r.proof_len), AGENT_AUTH_HS_BAD_PROOF);
	cr_assert_not(agent_auth_hs_done(sv));
	/* no second try on the same handshake */
	cr_assert_eq(agent_auth_hs_on_proof(sv, r.proof, r.proof_len), AGENT_AUTH_HS_STATE);
	agent_auth_hs_free(sv);
}

Test(agent_auth, replayed_challenge_fails)
{
	/* A fake server replays a recorded CHALLENGE to a new agent connection:
	 * the agent's fresh nonce_a makes the old server proof useless. */
	struct hs_run r;
	good_exchange("cam-0001", &r);
	uint8_t key[32], hello[128], proof[64];
	size_t pl;
	agent_auth_derive_key(master, sizeof(master) - 1, "cam-0001", key);
	agent_auth_hs *ag = agent_auth_hs_agent_new("cam-0001", key, NULL);
	cr_assert_gt(agent_auth_hs_hello(ag, hello, sizeof(hello)), 0);
	cr_assert_eq(agent_auth_hs_on_challenge(ag, r.chal, r.chal_len, proof, sizeof(proof), &pl),
		     AGENT_AUTH_HS_BAD_PROOF);
	cr_assert_eq(pl, 0);
	cr_assert_not(agent_auth_hs_done(ag));
	agent_auth_hs_free(ag);
}

Test(agent_auth, reflected_proof_fails)
{
	/* An attacker without the key connects as the device and hands the
	 * server's own proof back as the agent's proof. */
	agent_auth_hs *sv = agent_auth_hs_server_new("ep-1", derive_fn, NULL);
	uint8_t hello[2 + 8 + 32] = { AGENT_AUTH_VERSION, 8, 'c', 'a', 'm', '-', '0', '0', '0', '1' };
	memset(hello + 10, 0xab, 32);
	uint8_t chal[256];
	size_t cl;
	cr_assert_eq(agent_auth_hs_on_hello(sv, hello, sizeof(hello), chal, sizeof(chal), &cl),
		     AGENT_AUTH_OK);
	const uint8_t *server_proof = chal + cl - AGENT_AUTH_MAC_LEN;
	cr_assert_eq(agent_auth_hs_on_proof(sv, server_proof, AGENT_AUTH_MAC_LEN),
		     AGENT_AUTH_HS_BAD_PROOF);
	agent_auth_hs_free(sv);

	/* The same with a second server connection used as an oracle: open it
	 * with nonce_a = the first connection's nonce_s; its proof is still
	 * labelled server->agent and does not pass as the agent's. */
	agent_auth_hs *s1 = agent_auth_hs_server_new("ep-1", derive_fn, NULL);
	agent_auth_hs *s2 = agent_auth_hs_server_new("ep-1", derive_fn, NULL);
	uint8_t c1[256], c2[256];
	size_t l1, l2;
	cr_assert_eq(agent_auth_hs_on_hello(s1, hello, sizeof(hello), c1, sizeof(c1), &l1), AGENT_AUTH_OK);
	memcpy(hello + 10, c1 + 2 + 4, 32); /* server_id "ep-1" is 4 bytes */
	cr_assert_eq(agent_auth_hs_on_hello(s2, hello, sizeof(hello), c2, sizeof(c2), &l2), AGENT_AUTH_OK);
	cr_assert_eq(agent_auth_hs_on_proof(s1, c2 + l2 - 32, 32), AGENT_AUTH_HS_BAD_PROOF);
	agent_auth_hs_free(s1);
	agent_auth_hs_free(s2);
}

Test(agent_auth, reflected_nonce_fails)
{
	/* A fake server echoes the agent's nonce as its own. */
	uint8_t key[32], hello[128], chal[256], proof[64];
	size_t pl;
	agent_auth_derive_key(master, sizeof(master) - 1, "cam-0001", key);
	agent_auth_hs *ag = agent_auth_hs_agent_new("cam-0001", key, NULL);
	int hl = agent_auth_hs_hello(ag, hello, sizeof(hello));
	cr_assert_gt(hl, 0);
	chal[0] = AGENT_AUTH_VERSION;
	chal[1] = 4;
	memcpy(chal + 2, "ep-1", 4);
	memcpy(chal + 6, hello + hl - 32, 32);
	memset(chal + 38, 0, 32);
	cr_assert_eq(agent_auth_hs_on_challenge(ag, chal, 70, proof, sizeof(proof), &pl),
		     AGENT_AUTH_HS_REFLECTED);
	agent_auth_hs_free(ag);
}

Test(agent_auth, wrong_key)
{
	uint8_t bad[32], hello[128], chal[256], proof[64];
	size_t cl, pl;
	memset(bad, 7, sizeof(bad));
	/* the agent has the wrong key: it notices the server's proof fails */
	agent_auth_hs *ag = agent_auth_hs_agent_new("cam-0001", bad, NULL);
	agent_auth_hs *sv = agent_auth_hs_server_new("ep-1", derive_fn, NULL);
	int hl = agent_auth_hs_hello(ag, hello, sizeof(hello));
	cr_assert_eq(agent_auth_hs_on_hello(sv, hello, (size_t)hl, chal, sizeof(chal), &cl), AGENT_AUTH_OK);
	cr_assert_eq(agent_auth_hs_on_challenge(ag, chal, cl, proof, sizeof(proof), &pl),
		     AGENT_AUTH_HS_BAD_PROOF);
	/* an impostor that ignores the server's proof and signs with its own
	 * key is refused by the server */
	struct agent_auth_transcript t = { .device_id = "cam-0001", .server_id = "ep-1" };
	memcpy(t.nonce_a, hello + hl - 32, 32);
	memcpy(t.nonce_s, chal + 6, 32);
	cr_assert_eq(agent_auth_proof(bad, AGENT_AUTH_AGENT_TO_SERVER, &t, proof), 0);
	cr_assert_eq(agent_auth_hs_on_proof(sv, proof, 32), AGENT_AUTH_HS_BAD_PROOF);
	/* with the right key that same transcript verifies: the test is sound */
	uint8_t good[32];
	agent_auth_derive_key(master, sizeof(master) - 1, "cam-0001", good);
	cr_assert_eq(agent_auth_proof(good, AGENT_AUTH_AGENT_TO_SERVER, &t, proof), 0);
	cr_assert(agent_auth_proof_verify(good, AGENT_AUTH_AGENT_TO_SERVER, &t, proof));
	cr_assert_not(agent_auth_proof_verify(good, AGENT_AUTH_SERVER_TO_AGENT, &t, proof));
	agent_auth_hs_free(ag);
	agent_auth_hs_free(sv);
}

Test(agent_auth, unknown_revoked_wrong_server)
{
	uint8_t key[32] = { 0 }, hello[128], chal[256], proof[64];
	size_t cl, pl;
	agent_auth_hs *ag = agent_auth_hs_agent_new("nvr-9", key, NULL);
	agent_auth_hs *sv = agent_auth_hs_server_new("ep-1", derive_fn, NULL);
	int hl = agent_auth_hs_hello(ag, hello, sizeof(hello));
	cr_assert_eq(agent_auth_hs_on_hello(sv, hello, (size_t)hl, chal, sizeof(chal), &cl),
		     AGENT_AUTH_HS_UNKNOWN_DEVICE);
	cr_assert_eq(cl, 0);
	agent_auth_hs_free(ag);
	agent_auth_hs_free(sv);

	agent_auth_derive_key(master, sizeof(master) - 1, "cam-revoked", key);
	ag = agent_auth_hs_agent_new("cam-revoked", key, NULL);
	sv = agent_auth_hs_server_new("ep-1", derive_fn, NULL);
	hl = agent_auth_hs_hello(ag, hello, sizeof(hello));
	cr_assert_eq(agent_auth_hs_on_hello(sv, hello, (size_t)hl, chal, sizeof(chal), &cl),
		     AGENT_AUTH_HS_REVOKED);
	agent_auth_hs_free(ag);
	agent_auth_hs_free(sv);

	agent_auth_derive_key(master, sizeof(master) - 1, "cam-0001", key);
	ag = agent_auth_hs_agent_new("cam-0001", key, "ep-2");
	sv = agent_auth_hs_server_new("ep-1", derive_fn, NULL);
	hl = agent_auth_hs_hello(ag, hello, sizeof(hello));
	cr_assert_eq(agent_auth_hs_on_hello(sv, hello, (size_t)hl, chal, sizeof(chal), &cl), AGENT_AUTH_OK);
	cr_assert_eq(agent_auth_hs_on_challenge(ag, chal, cl, proof, sizeof(proof), &pl),
		     AGENT_AUTH_HS_WRONG_SERVER);
	agent_auth_hs_free(ag);
	agent_auth_hs_free(sv);
}

Test(agent_auth, malformed_hello_table)
{
	static const struct { const char *name; uint8_t b[80]; size_t len; enum agent_auth_err want; } rows[] = {
		{ "empty", { 0 }, 0, AGENT_AUTH_HS_BAD_MESSAGE },
		{ "one_byte", { 1 }, 1, AGENT_AUTH_HS_BAD_MESSAGE },
		{ "version_0", { 0, 5, 'c', 'a', 'm', '-', '1' }, 39, AGENT_AUTH_HS_BAD_VERSION },
		{ "version_2", { 2, 5, 'c', 'a', 'm', '-', '1' }, 39, AGENT_AUTH_HS_BAD_VERSION },
		{ "no_nonce", { 1, 5, 'c', 'a', 'm', '-', '1' }, 7, AGENT_AUTH_HS_BAD_MESSAGE },
		{ "short_nonce", { 1, 5, 'c', 'a', 'm', '-', '1' }, 38, AGENT_AUTH_HS_BAD_MESSAGE },
		{ "long", { 1, 5, 'c', 'a', 'm', '-', '1' }, 40, AGENT_AUTH_HS_BAD_MESSAGE },
		{ "id_len_past_end", { 1, 200, 'c' }, 39, AGENT_AUTH_HS_BAD_MESSAGE },
		{ "id_empty", { 1, 0 }, 34, AGENT_AUTH_HS_BAD_ID },
		{ "id_space", { 1, 5, 'c', 'a', 'm', ' ', '1' }, 39, AGENT_AUTH_HS_BAD_ID },
		{ "id_nul", { 1, 5, 'c', 'a', 'm', 0, '1' }, 39, AGENT_AUTH_HS_BAD_ID },
		{ "id_slash", { 1, 5, 'c', 'a', 'm', '/', '1' }, 39, AGENT_AUTH_HS_BAD_ID },
		{ "good", { 1, 5, 'c', 'a', 'm', '-', '1' }, 39, AGENT_AUTH_OK },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		agent_auth_hs *sv = agent_auth_hs_server_new("ep-1", derive_fn, NULL);
		uint8_t chal[256];
		size_t cl;
		cr_assert_eq(agent_auth_hs_on_hello(sv, rows[i].b, rows[i].len, chal, sizeof(chal), &cl),
			     rows[i].want, "%s", rows[i].name);
		agent_auth_hs_free(sv);
	}
	/* id of 65 bytes */
	uint8_t b[2 + 65 + 32];
	memset(b, 'a', sizeof(b));
	b[0] = 1;
	b[1] = 65;
	agent_auth_hs *sv = agent_auth_hs_server_new("ep-1", derive_fn, NULL);
	uint8_t chal[256];
	size_t cl;
	cr_assert_eq(agent_auth_hs_on_hello(sv, b, sizeof(b), chal, sizeof(chal), &cl), AGENT_AUTH_HS_BAD_ID);
	agent_auth_hs_free(sv);
}

Test(agent_auth, out_of_order)
{
	uint8_t key[32] = { 0 }, buf[256];
	size_t n;
	agent_auth_hs *sv = agent_auth_hs_server_new("ep-1", derive_fn, NULL);
	cr_assert_eq(agent_auth_hs_on_proof(sv, buf, 32), AGENT_AUTH_HS_STATE);
	agent_auth_hs_free(sv);
	agent_auth_hs *ag = agent_auth_hs_agent_new("cam-1", key, NULL);
	cr_assert_eq(agent_auth_hs_on_challenge(ag, buf, 70, buf, sizeof(buf), &n), AGENT_AUTH_HS_STATE);
	agent_auth_hs_free(ag);
	ag = agent_auth_hs_agent_new("cam-1", key, NULL);
	cr_assert_gt(agent_auth_hs_hello(ag, buf, sizeof(buf)), 0);
	cr_assert_eq(agent_auth_hs_hello(ag, buf, sizeof(buf)), -EINVAL);
	agent_auth_hs_free(ag);
	/* roles cannot be mixed */
	sv = agent_auth_hs_server_new("ep-1", derive_fn, NULL);
	cr_assert_eq(agent_auth_hs_hello(sv, buf, sizeof(buf)), -EINVAL);
	agent_auth_hs_free(sv);
	cr_assert_null(agent_auth_hs_agent_new("bad id", key, NULL));
	cr_assert_null(agent_auth_hs_server_new("", derive_fn, NULL));
}

/* ---- assignment ---- */

Test(agent_auth, unreachable_roundtrip_and_malformed)
{
	static const struct { const char *hex; enum agent_auth_err want; } rows[] = {
		{ "01 09 31302e302e302e313a31", AGENT_AUTH_HS_BAD_MESSAGE }, /* a byte left over */
		{ "01 0a 31302e302e302e313a31", AGENT_AUTH_OK },
		{ "02 0a 31302e302e302e313a31", AGENT_AUTH_HS_BAD_VERSION },
		{ "01 0b 31302e302e302e313a31", AGENT_AUTH_HS_BAD_MESSAGE }, /* length past the end */
		{ "01 0a 31302e302e302e313a30", AGENT_AUTH_HS_BAD_MESSAGE }, /* port 0 */
		{ "01 04 612062633a31", AGENT_AUTH_HS_BAD_MESSAGE },   /* space in the host */
		{ "01", AGENT_AUTH_HS_BAD_MESSAGE },
		{ "", AGENT_AUTH_HS_BAD_MESSAGE },
	};
	uint8_t buf[300];
	const char *addr;
	size_t al;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t n = 0;
		for (const char *h = rows[i].hex; *h;) {
			if (*h == ' ') {
				h++;
				continue;
			}
			unsigned v;
			cr_assert_eq(sscanf(h, "%2x", &v), 1);
			buf[n++] = (uint8_t)v;
			h += 2;
		}
		cr_assert_eq(agent_auth_unreachable_parse(buf, n, &addr, &al), rows[i].want, "row %zu", i);
	}
	int n = agent_auth_unreachable_encode("sp-2.example.net:443", 20, buf, sizeof(buf));
	cr_assert_eq(n, 22);
	cr_assert_eq(agent_auth_unreachable_parse(buf, (size_t)n, &addr, &al), AGENT_AUTH_OK);
	cr_assert_eq(al, 20);
	cr_assert_eq(memcmp(addr, "sp-2.example.net:443", 20), 0);
	cr_assert_eq(agent_auth_unreachable_encode("sp-2.example.net:443", 20, buf, 21), -ENOSPC);
	cr_assert_eq(agent_auth_unreachable_encode("no-port", 7, buf, sizeof(buf)), -EINVAL);
}

Test(agent_auth, assign_roundtrip_and_malformed)
{
	uint8_t buf[1024];
	struct agent_auth_assign a = { .token = "spt1.k.abc.def", .token_len = 14,
				       .addr = "sp-2.example.net:443", .addr_len = 20 };
	int n = agent_auth_assign_encode(&a, buf, sizeof(buf));
	cr_assert_gt(n, 0);
	struct agent_auth_assign b;
	cr_assert_eq(agent_auth_assign_parse(buf, (size_t)n, &b), AGENT_AUTH_OK);
	cr_assert_eq(b.token_len, 14);
	cr_assert_eq(memcmp(b.token, a.token, 14), 0);
	cr_assert_eq(b.addr_len, 20);
	for (int cut = 0; cut < n; cut++)
		cr_assert_neq(agent_auth_assign_parse(buf, (size_t)cut, &b), AGENT_AUTH_OK, "cut %d", cut);
	buf[n] = 0;
	cr_assert_eq(agent_auth_assign_parse(buf, (size_t)n + 1, &b), AGENT_AUTH_HS_BAD_MESSAGE);
	buf[0] = 2;
	cr_assert_eq(agent_auth_assign_parse(buf, (size_t)n, &b), AGENT_AUTH_HS_BAD_VERSION);
	buf[0] = 1;
	buf[3] = ' '; /* token char */
	cr_assert_eq(agent_auth_assign_parse(buf, (size_t)n, &b), AGENT_AUTH_HS_BAD_MESSAGE);
	a.addr = "no-port";
	a.addr_len = 7;
	cr_assert_eq(agent_auth_assign_encode(&a, buf, sizeof(buf)), -EINVAL);
}

/* ---- tokens ---- */

static const uint8_t tk1[32] = "token-key-one-0123456789abcdef!";
static const uint8_t tk2[32] = "token-key-two-0123456789abcdef!";
#define NOW 1800000000ull

static agent_auth_keyring *ring1(void)
{
	agent_auth_keyring *kr = agent_auth_keyring_new();
	cr_assert_eq(agent_auth_keyring_add(kr, "k1", tk1, sizeof(tk1), true), 0);
	return kr;
}

Test(agent_auth, token_good_and_bound)
{
	agent_auth_keyring *kr = ring1();
	char tok[AGENT_AUTH_TOKEN_MAX + 1];
	int n = agent_auth_token_sign(kr, "cam-0001", "sp-a", NOW, 600, tok, sizeof(tok));
	cr_assert_gt(n, 0);
	cr_assert_eq(strncmp(tok, "spt1.k1.", 8), 0);
	struct agent_auth_token_info ti;
	cr_assert_eq(agent_auth_token_verify(kr, tok, (size_t)n, "sp-a", "cam-0001", NOW, &ti), AGENT_AUTH_OK);
	cr_assert_str_eq(ti.device_id, "cam-0001");
	cr_assert_str_eq(ti.streampoint_id, "sp-a");
	cr_assert_str_eq(ti.kid, "k1");
	cr_assert_eq(ti.iat, NOW);
	cr_assert_eq(ti.exp, NOW + 600);
	struct { uint64_t now; const char *sp; const char *dev; enum agent_auth_err want; } rows[] = {
		{ NOW, "sp-a", NULL, AGENT_AUTH_OK },
		{ NOW + 599, "sp-a", "cam-0001", AGENT_AUTH_OK },
		{ NOW + 600, "sp-a", "cam-0001", AGENT_AUTH_TOK_EXPIRED },
		{ NOW + 100000, "sp-a", "cam-0001", AGENT_AUTH_TOK_EXPIRED },
		{ NOW - AGENT_AUTH_CLOCK_SKEW, "sp-a", "cam-0001", AGENT_AUTH_OK },
		{ NOW - AGENT_AUTH_CLOCK_SKEW - 1, "sp-a", "cam-0001", AGENT_AUTH_TOK_NOT_YET_VALID },
		{ NOW, "sp-b", "cam-0001", AGENT_AUTH_TOK_WRONG_STREAMPOINT },
		{ NOW, "sp-a", "cam-0002", AGENT_AUTH_TOK_WRONG_DEVICE },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		cr_assert_eq(agent_auth_token_verify(kr, tok, (size_t)n, rows[i].sp, rows[i].dev,
						     rows[i].now, NULL), rows[i].want, "row %zu", i);
	/* sign errors */
	cr_assert_eq(agent_auth_token_sign(kr, "bad id", "sp-a", NOW, 1, tok, sizeof(tok)), -EINVAL);
	cr_assert_eq(agent_auth_token_sign(kr, "cam-1", "sp-a", NOW, 0, tok, sizeof(tok)), -EINVAL);
	cr_assert_eq(agent_auth_token_sign(kr, "cam-1", "sp-a", NOW, 1, tok, 10), -ENOSPC);
	agent_auth_keyring_free(kr);
}

Test(agent_auth, token_tampered_every_byte)
{
	agent_auth_keyring *kr = ring1();
	char tok[AGENT_AUTH_TOKEN_MAX + 1];
	int n = agent_auth_token_sign(kr, "cam-0001", "sp-a", NOW, 600, tok, sizeof(tok));
	static const char repl[] = "Aa0-_.";
	for (int i = 0; i < n; i++) {
		for (size_t r = 0; r < sizeof(repl) - 1; r++) {
			char t[AGENT_AUTH_TOKEN_MAX + 1];
			memcpy(t, tok, (size_t)n + 1);
			if (t[i] == repl[r])
				continue;
			t[i] = repl[r];
			cr_assert_neq(agent_auth_token_verify(kr, t, (size_t)n, "sp-a", NULL, NOW, NULL),
				      AGENT_AUTH_OK, "byte %d -> %c accepted", i, repl[r]);
		}
	}
	/* truncations and extensions */
	for (int i = 0; i < n; i++)
		cr_assert_neq(agent_auth_token_verify(kr, tok, (size_t)i, "sp-a", NULL, NOW, NULL), AGENT_AUTH_OK);
	char t[AGENT_AUTH_TOKEN_MAX + 2];
	memcpy(t, tok, (size_t)n);
	t[n] = 'A';
	cr_assert_neq(agent_auth_token_verify(kr, t, (size_t)n + 1, "sp-a", NULL, NOW, NULL), AGENT_AUTH_OK);
	/* the same claims signed with another key under the same kid */
	agent_auth_keyring *other = agent_auth_keyring_new();
	agent_auth_keyring_add(other, "k1", tk2, sizeof(tk2), true);
	char forged[AGENT_AUTH_TOKEN_MAX + 1];
	int fl = agent_auth_token_sign(other, "cam-0001", "sp-a", NOW, 600, forged, sizeof(forged));
	cr_assert_eq(agent_auth_token_verify(kr, forged, (size_t)fl, "sp-a", NULL, NOW, NULL),
		     AGENT_AUTH_TOK_BAD_SIG);
	agent_auth_keyring_free(other);
	agent_auth_keyring_free(kr);
}

Test(agent_auth, token_malformed_table)
{
	agent_auth_keyring *kr = ring1();
	struct { const char *t; enum agent_auth_err want; } rows[] = {
		{ "", AGENT_AUTH_TOK_MALFORMED },
		{ "x", AGENT_AUTH_TOK_MALFORMED },
		{ "spt1", AGENT_AUTH_TOK_MALFORMED },
		{ "spt2.k1.a.b.c.d", AGENT_AUTH_TOK_BAD_VERSION },
		{ "spt0.k1.a.b.c.d", AGENT_AUTH_TOK_BAD_VERSION },
		{ "jwt.k1.a.b.c.d", AGENT_AUTH_TOK_MALFORMED },
		{ "spt1.k1.a.b.c", AGENT_AUTH_TOK_MALFORMED },
		{ "spt1.k1.a.b.c.d.e", AGENT_AUTH_TOK_MALFORMED },
		{ "spt1..a.b.c.d", AGENT_AUTH_TOK_MALFORMED },
		{ "spt1.k9.a.b.c.d", AGENT_AUTH_TOK_UNKNOWN_KID },
		{ "spt1.k1.a.b.c.d", AGENT_AUTH_TOK_MALFORMED },  /* mac not 32 bytes */
		{ "spt1.k1.a.b.c.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", AGENT_AUTH_TOK_BAD_SIG },
		{ "spt1.k1.a b.c.d.e", AGENT_AUTH_TOK_MALFORMED },
		{ "spt1.k1.a=.c.d.e", AGENT_AUTH_TOK_MALFORMED },
		{ "spt1.k1.a/.c.d.e", AGENT_AUTH_TOK_MALFORMED },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		cr_assert_eq(agent_auth_token_verify(kr, rows[i].t, strlen(rows[i].t), "sp-a", NULL, NOW, NULL),
			     rows[i].want, "%s: %s", rows[i].t,
			     agent_auth_err_name(agent_auth_token_verify(kr, rows[i].t, strlen(rows[i].t),
									 "sp-a", NULL, NOW, NULL)));
	char big[AGENT_AUTH_TOKEN_MAX + 2];
	memset(big, 'A', sizeof(big));
	cr_assert_eq(agent_auth_token_verify(kr, big, sizeof(big), "sp-a", NULL, NOW, NULL),
		     AGENT_AUTH_TOK_MALFORMED);
	agent_auth_keyring_free(kr);
}

Test(agent_auth, token_key_rotation)
{
	agent_auth_keyring *kr = ring1();
	char t1[AGENT_AUTH_TOKEN_MAX + 1], t2[AGENT_AUTH_TOKEN_MAX + 1];
	int n1 = agent_auth_token_sign(kr, "cam-1", "sp-a", NOW, 600, t1, sizeof(t1));
	/* rotate: k2 becomes current, k1 still verifies tokens in flight */
	cr_assert_eq(agent_auth_keyring_add(kr, "k2", tk2, sizeof(tk2), true), 0);
	int n2 = agent_auth_token_sign(kr, "cam-1", "sp-a", NOW, 600, t2, sizeof(t2));
	cr_assert_eq(strncmp(t2, "spt1.k2.", 8), 0);
	struct agent_auth_token_info ti;
	cr_assert_eq(agent_auth_token_verify(kr, t1, (size_t)n1, "sp-a", NULL, NOW, &ti), AGENT_AUTH_OK);
	cr_assert_str_eq(ti.kid, "k1");
	cr_assert_eq(agent_auth_token_verify(kr, t2, (size_t)n2, "sp-a", NULL, NOW, &ti), AGENT_AUTH_OK);
	cr_assert_str_eq(ti.kid, "k2");
	/* a verifier that only learned k2 refuses k1 tokens by id */
	agent_auth_keyring *only2 = agent_auth_keyring_new();
	agent_auth_keyring_add(only2, "k2", tk2, sizeof(tk2), false);
	cr_assert_eq(agent_auth_token_verify(only2, t1, (size_t)n1, "sp-a", NULL, NOW, NULL),
		     AGENT_AUTH_TOK_UNKNOWN_KID);
	cr_assert_eq(agent_auth_token_verify(only2, t2, (size_t)n2, "sp-a", NULL, NOW, NULL), AGENT_AUTH_OK);
	/* no current key: cannot sign */
	char t3[AGENT_AUTH_TOKEN_MAX + 1];
	cr_assert_eq(agent_auth_token_sign(only2, "cam-1", "sp-a", NOW, 600, t3, sizeof(t3)), -ENOKEY);
	agent_auth_keyring_free(only2);
	/* revoke k1 */
	cr_assert_eq(agent_auth_keyring_remove(kr, "k1"), 0);
	cr_assert_eq(agent_auth_keyring_remove(kr, "k1"), -ENOENT);
	cr_assert_eq(agent_auth_token_verify(kr, t1, (size_t)n1, "sp-a", NULL, NOW, NULL),
		     AGENT_AUTH_TOK_UNKNOWN_KID);
	cr_assert_eq(agent_auth_token_verify(kr, t2, (size_t)n2, "sp-a", NULL, NOW, NULL), AGENT_AUTH_OK);
	/* keyring limits */
	cr_assert_eq(agent_auth_keyring_add(kr, "bad.kid", tk1, 32, false), -EINVAL);
	cr_assert_eq(agent_auth_keyring_add(kr, "k3", tk1, AGENT_AUTH_TOKEN_KEY_MIN - 1, false), -EINVAL);
	cr_assert_eq(agent_auth_keyring_add(kr, "k01234567890123456", tk1, 32, false), -EINVAL);
	char kid[8];
	int added = 0;
	for (int i = 0; i < AGENT_AUTH_KEYRING_MAX + 2; i++) {
		snprintf(kid, sizeof(kid), "x%d", i);
		if (agent_auth_keyring_add(kr, kid, tk1, 32, false) == 0)
			added++;
	}
	cr_assert_eq(added, AGENT_AUTH_KEYRING_MAX - 1);
	agent_auth_keyring_free(kr);
}

/* ---- HTTP Upgrade ---- */

#define GOOD "GET /agent HTTP/1.1\r\nHost: ep.example.net\r\nUpgrade: streampoint-agent/1\r\nConnection: Upgrade\r\n\r\n"

Test(agent_auth, upgrade_table)
{
	static const struct { const char *name, *req; enum agent_auth_err want; } rows[] = {
		{ "good", GOOD, AGENT_AUTH_OK },
		{ "good_lists", "GET / HTTP/1.1\r\nhost: a\r\nUPGRADE: h2c, streampoint-agent/1 \r\nConnection: keep-alive, upgrade\r\nX-Other: x\r\n\r\n", AGENT_AUTH_OK },
		{ "good_token", "GET /t HTTP/1.1\r\nHost: a\r\nUpgrade: streampoint-agent/1\r\nConnection: Upgrade\r\nAuthorization: Bearer spt1.k1.a.b.c.d\r\n\r\n", AGENT_AUTH_OK },
		{ "partial", "GET /agent HTTP/1.1\r\nHost: a\r\n", AGENT_AUTH_NEED_MORE },
		{ "partial_cr", "GET /agent HTTP/1.1\r", AGENT_AUTH_NEED_MORE },
		{ "empty", "", AGENT_AUTH_NEED_MORE },
		{ "leading_crlf", "\r\nGET / HTTP/1.1\r\n\r\n", AGENT_AUTH_UP_BAD_REQUEST_LINE },
		{ "bare_lf", "GET / HTTP/1.1\nHost: a\n\n", AGENT_AUTH_UP_BAD_EOL },
		{ "bare_cr", "GET / HTTP/1.1\rHost: a\r\n\r\n", AGENT_AUTH_UP_BAD_EOL },
		{ "post", "POST /agent HTTP/1.1\r\nHost: a\r\nUpgrade: streampoint-agent/1\r\nConnection: Upgrade\r\n\r\n", AGENT_AUTH_UP_BAD_METHOD },
		{ "lower_get", "get / HTTP/1.1\r\nHost: a\r\n\r\n", AGENT_AUTH_UP_BAD_METHOD },
		{ "connect", "CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", AGENT_AUTH_UP_BAD_REQUEST_LINE },
		{ "http10", "GET / HTTP/1.0\r\nHost: a\r\n\r\n", AGENT_AUTH_UP_BAD_VERSION },
		{ "http2", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", AGENT_AUTH_UP_BAD_VERSION },
		{ "no_version", "GET /\r\nHost: a\r\n\r\n", AGENT_AUTH_UP_BAD_REQUEST_LINE },
		{ "double_space", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", AGENT_AUTH_UP_BAD_REQUEST_LINE },
		{ "trailing_space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", AGENT_AUTH_UP_BAD_REQUEST_LINE },
		{ "abs_form", "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", AGENT_AUTH_UP_BAD_REQUEST_LINE },
		{ "ctl_in_target", "GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", AGENT_AUTH_UP_BAD_REQUEST_LINE },
		{ "obs_fold", "GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", AGENT_AUTH_UP_OBS_FOLD },
		{ "space_before_colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", AGENT_AUTH_UP_BAD_HEADER },
		{ "no_colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", AGENT_AUTH_UP_BAD_HEADER },
		{ "empty_name", "GET / HTTP/1.1\r\n: a\r\n\r\n", AGENT_AUTH_UP_BAD_HEADER },
		{ "ctl_in_value", "GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", AGENT_AUTH_UP_BAD_HEADER },
		{ "high_in_value", "GET / HTTP/1.1\r\nHost: a\xc3\xa9\r\n\r\n", AGENT_AUTH_UP_BAD_HEADER },
		{ "no_host", "GET / HTTP/1.1\r\nUpgrade: streampoint-agent/1\r\nConnection: Upgrade\r\n\r\n", AGENT_AUTH_UP_NO_HOST },
		{ "empty_host", "GET / HTTP/1.1\r\nHost:\r\nUpgrade: streampoint-agent/1\r\nConnection: Upgrade\r\n\r\n", AGENT_AUTH_UP_NO_HOST },
		{ "dup_host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nUpgrade: streampoint-agent/1\r\nConnection: Upgrade\r\n\r\n", AGENT_AUTH_UP_DUP_HEADER },
		{ "no_upgrade", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n\r\n", AGENT_AUTH_UP_NO_UPGRADE },
		{ "websocket", "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", AGENT_AUTH_UP_NO_UPGRADE },
		{ "future_version", "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: streampoint-agent/2\r\nConnection: Upgrade\r\n\r\n", AGENT_AUTH_UP_NO_UPGRADE },
		{ "proto_prefix", "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: streampoint-agent/10\r\nConnection: Upgrade\r\n\r\n", AGENT_AUTH_UP_NO_UPGRADE },
		{ "dup_upgrade", "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: streampoint-agent/1\r\nUpgrade: streampoint-agent/1\r\nConnection: Upgrade\r\n\r\n", AGENT_AUTH_UP_DUP_HEADER },
		{ "no_connection", "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: streampoint-agent/1\r\n\r\n", AGENT_AUTH_UP_NO_CONNECTION },
		{ "connection_close", "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: streampoint-agent/1\r\nConnection: close\r\n\r\n", AGENT_AUTH_UP_NO_CONNECTION },
		{ "content_length", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nUpgrade: streampoint-agent/1\r\nConnection: Upgrade\r\n\r\n", AGENT_AUTH_UP_HAS_BODY },
		{ "chunked", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nUpgrade: streampoint-agent/1\r\nConnection: Upgrade\r\n\r\n", AGENT_AUTH_UP_HAS_BODY },
		{ "basic_auth", "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Basic YTpi\r\nUpgrade: streampoint-agent/1\r\nConnection: Upgrade\r\n\r\n", AGENT_AUTH_UP_BAD_AUTHZ },
		{ "bearer_empty", "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer\r\nUpgrade: streampoint-agent/1\r\nConnection: Upgrade\r\n\r\n", AGENT_AUTH_UP_BAD_AUTHZ },
		{ "bearer_bad_char", "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer a+b\r\nUpgrade: streampoint-agent/1\r\nConnection: Upgrade\r\n\r\n", AGENT_AUTH_UP_BAD_AUTHZ },
		{ "dup_authz", "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\nUpgrade: streampoint-agent/1\r\nConnection: Upgrade\r\n\r\n", AGENT_AUTH_UP_DUP_HEADER },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct agent_auth_upgrade up;
		enum agent_auth_err e = agent_auth_upgrade_parse(rows[i].req, strlen(rows[i].req), &up);
		cr_assert_eq(e, rows[i].want, "%s: got %s", rows[i].name, agent_auth_err_name(e));
		if (e != AGENT_AUTH_OK)
			cr_assert_null(up.path, "%s: no view on failure", rows[i].name);
	}
	/* NUL inside the header block (length given explicitly) */
	static const char nul[] = "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n";
	struct agent_auth_upgrade up;
	cr_assert_eq(agent_auth_upgrade_parse(nul, sizeof(nul) - 1, &up), AGENT_AUTH_UP_BAD_EOL);
}

Test(agent_auth, upgrade_fields_and_splits)
{
	static const char req[] = "GET /agent/v1 HTTP/1.1\r\nHost: ep.example.net:443\r\n"
				  "Upgrade: streampoint-agent/1\r\nConnection: Upgrade\r\n"
				  "Authorization: bearer spt1.k1.AA.BB.CC.DD\r\n\r\n\x08\x00";
	size_t len = sizeof(req) - 1, head = len - 2;
	struct agent_auth_upgrade up;
	cr_assert_eq(agent_auth_upgrade_parse(req, len, &up), AGENT_AUTH_OK);
	cr_assert_eq(up.header_len, head, "bytes after the blank line are frames");
	cr_assert_eq(up.path_len, 9);
	cr_assert_eq(memcmp(up.path, "/agent/v1", 9), 0);
	cr_assert_eq(up.host_len, 18);
	cr_assert_eq(memcmp(up.host, "ep.example.net:443", 18), 0);
	cr_assert_eq(up.token_len, 19);
	cr_assert_eq(memcmp(up.token, "spt1.k1.AA.BB.CC.DD", 19), 0);
	/* every prefix short of the blank line asks for more */
	for (size_t k = 0; k < head; k++)
		cr_assert_eq(agent_auth_upgrade_parse(req, k, &up), AGENT_AUTH_NEED_MORE, "prefix %zu", k);
	cr_assert_eq(agent_auth_upgrade_parse(req, head, &up), AGENT_AUTH_OK);
}

Test(agent_auth, upgrade_limits)
{
	static char buf[AGENT_AUTH_UP_MAX_TOTAL + 4096];
	/* longest line allowed, one more refused */
	for (int extra = 0; extra <= 1; extra++) {
		size_t n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: " AGENT_AUTH_PROTO
					    "\r\nConnection: Upgrade\r\nX: ");
		size_t fill = AGENT_AUTH_UP_MAX_LINE - 3 + (size_t)extra;
		memset(buf + n, 'v', fill);
		n += fill;
		memcpy(buf + n, "\r\n\r\n", 4);
		n += 4;
		struct agent_auth_upgrade up;
		cr_assert_eq(agent_auth_upgrade_parse(buf, n, &up),
			     extra ? AGENT_AUTH_UP_LINE_TOO_LONG : AGENT_AUTH_OK, "extra %d", extra);
		/* an over-long line is refused before its end arrives */
		if (extra)
			cr_assert_eq(agent_auth_upgrade_parse(buf, n - 4, &up), AGENT_AUTH_UP_LINE_TOO_LONG);
	}
	/* header count: MAX_HEADERS ok, one more refused */
	for (int extra = 0; extra <= 1; extra++) {
		size_t n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: " AGENT_AUTH_PROTO
					    "\r\nConnection: Upgrade\r\n");
		for (int i = 3; i < AGENT_AUTH_UP_MAX_HEADERS + extra; i++)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%d: y\r\n", i);
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
		struct agent_auth_upgrade up;
		cr_assert_eq(agent_auth_upgrade_parse(buf, n, &up),
			     extra ? AGENT_AUTH_UP_TOO_MANY_HEADERS : AGENT_AUTH_OK, "extra %d", extra);
	}
	/* total size: a slowloris that never ends the block */
	size_t n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n");
	while (n + 12 < sizeof(buf))
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X: %07zu\r\n", n);
	struct agent_auth_upgrade up;
	enum agent_auth_err e = agent_auth_upgrade_parse(buf, AGENT_AUTH_UP_MAX_TOTAL, &up);
	cr_assert(e == AGENT_AUTH_UP_TOO_LARGE || e == AGENT_AUTH_UP_TOO_MANY_HEADERS, "%s",
		  agent_auth_err_name(e));
	/* few long lines, no end: TOO_LARGE */
	n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n");
	while (n + 1010 < sizeof(buf)) {
		memcpy(buf + n, "X: ", 3);
		memset(buf + n + 3, 'z', 1000);
		memcpy(buf + n + 1003, "\r\n", 2);
		n += 1005;
	}
	cr_assert_eq(agent_auth_upgrade_parse(buf, AGENT_AUTH_UP_MAX_TOTAL, &up), AGENT_AUTH_UP_TOO_LARGE);
	cr_assert_eq(agent_auth_upgrade_parse(buf, AGENT_AUTH_UP_MAX_TOTAL - 1, &up), AGENT_AUTH_NEED_MORE);
}

Test(agent_auth, upgrade_builders_roundtrip)
{
	char req[1024], resp[256];
	int n = agent_auth_upgrade_request(req, sizeof(req), "sp-1.example.net:443", "/tunnel",
					   "spt1.k1.AA.BB.CC.DD");
	cr_assert_gt(n, 0);
	struct agent_auth_upgrade up;
	cr_assert_eq(agent_auth_upgrade_parse(req, (size_t)n, &up), AGENT_AUTH_OK);
	cr_assert_eq(up.header_len, (size_t)n);
	cr_assert_eq(up.token_len, 19);
	n = agent_auth_upgrade_request(req, sizeof(req), "ep", "/agent", NULL);
	cr_assert_eq(agent_auth_upgrade_parse(req, (size_t)n, &up), AGENT_AUTH_OK);
	cr_assert_null(up.token);
	cr_assert_eq(agent_auth_upgrade_request(req, sizeof(req), "a\r\nX: y", "/", NULL), -EINVAL);
	cr_assert_eq(agent_auth_upgrade_request(req, sizeof(req), "a", "nope", NULL), -EINVAL);
	cr_assert_eq(agent_auth_upgrade_request(req, 20, "a", "/", NULL), -ENOSPC);

	n = agent_auth_upgrade_accept(resp, sizeof(resp));
	cr_assert_gt(n, 0);
	int status;
	size_t hl;
	cr_assert_eq(agent_auth_upgrade_response_parse(resp, (size_t)n, &status, &hl), AGENT_AUTH_OK);
	cr_assert_eq(status, 101);
	cr_assert_eq(hl, (size_t)n);
	for (int k = 0; k < n; k++)
		cr_assert_eq(agent_auth_upgrade_response_parse(resp, (size_t)k, &status, &hl),
			     AGENT_AUTH_NEED_MORE, "prefix %d", k);
	static const struct { const char *r; enum agent_auth_err want; int status; } rows[] = {
		{ "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n", AGENT_AUTH_UP_BAD_STATUS, 401 },
		{ "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\r\n", AGENT_AUTH_UP_BAD_STATUS, 503 },
		{ "HTTP/1.1 101\r\nUpgrade: streampoint-agent/1\r\nConnection: upgrade\r\n\r\n", AGENT_AUTH_OK, 101 },
		{ "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", AGENT_AUTH_UP_NO_UPGRADE, 101 },
		{ "HTTP/1.1 101 Switching Protocols\r\nUpgrade: streampoint-agent/1\r\n\r\n", AGENT_AUTH_UP_NO_CONNECTION, 101 },
		{ "HTTP/1.0 101 x\r\n\r\n", AGENT_AUTH_UP_BAD_VERSION, 0 },
		{ "HTTP/1.1 1x1 x\r\n\r\n", AGENT_AUTH_UP_BAD_REQUEST_LINE, 0 },
		{ "SSH-2.0-OpenSSH_9.2\r\n\r\n", AGENT_AUTH_UP_BAD_REQUEST_LINE, 0 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		enum agent_auth_err e = agent_auth_upgrade_response_parse(rows[i].r, strlen(rows[i].r), &status, &hl);
		cr_assert_eq(e, rows[i].want, "row %zu: %s", i, agent_auth_err_name(e));
		cr_assert_eq(status, rows[i].status, "row %zu", i);
	}
}

Test(agent_auth, names)
{
	for (int i = 0; i < AGENT_AUTH_ERR__COUNT; i++)
		cr_assert_str_neq(agent_auth_err_name((enum agent_auth_err)i), "unknown", "%d", i);
	cr_assert_str_eq(agent_auth_err_name(AGENT_AUTH_ERR__COUNT), "unknown");
}
