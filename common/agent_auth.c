/*
 * agent_auth: device keys, the mutual challenge/response handshake,
 * streampoint tokens and the HTTP/1.1 Upgrade, as pure functions over
 * buffers (docs/agent-protocol.md; API in agent_auth.h).
 *
 * Secrets never leave through error paths: every MAC comparison is
 * CRYPTO_memcmp, key material in handles is wiped with OPENSSL_cleanse when
 * they are freed, and a handshake that failed once refuses every later call
 * (no second guess on the same nonce).
 *
 * Token: "spt1.<kid>.<b64u device_id>.<b64u streampoint_id>.<b64u iat|exp>.<b64u mac>"
 * where mac = HMAC-SHA256(token_key[kid], everything before the last '.')
 * and iat|exp are two big-endian u64 Unix times. Text, so it fits an
 * Authorization header unchanged; base64url, so no field can smuggle a '.'.
 */
#include "agent_auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "tun_frame.h"

static const char *const err_names[AGENT_AUTH_ERR__COUNT] = {
	[AGENT_AUTH_OK] = "ok",
	[AGENT_AUTH_NEED_MORE] = "need_more",
	[AGENT_AUTH_UP_TOO_LARGE] = "up_too_large",
	[AGENT_AUTH_UP_LINE_TOO_LONG] = "up_line_too_long",
	[AGENT_AUTH_UP_TOO_MANY_HEADERS] = "up_too_many_headers",
	[AGENT_AUTH_UP_BAD_EOL] = "up_bad_eol",
	[AGENT_AUTH_UP_BAD_REQUEST_LINE] = "up_bad_request_line",
	[AGENT_AUTH_UP_BAD_METHOD] = "up_bad_method",
	[AGENT_AUTH_UP_BAD_VERSION] = "up_bad_version",
	[AGENT_AUTH_UP_BAD_HEADER] = "up_bad_header",
	[AGENT_AUTH_UP_OBS_FOLD] = "up_obs_fold",
	[AGENT_AUTH_UP_DUP_HEADER] = "up_dup_header",
	[AGENT_AUTH_UP_NO_HOST] = "up_no_host",
	[AGENT_AUTH_UP_NO_UPGRADE] = "up_no_upgrade",
	[AGENT_AUTH_UP_NO_CONNECTION] = "up_no_connection",
	[AGENT_AUTH_UP_HAS_BODY] = "up_has_body",
	[AGENT_AUTH_UP_BAD_AUTHZ] = "up_bad_authz",
	[AGENT_AUTH_UP_BAD_STATUS] = "up_bad_status",
	[AGENT_AUTH_HS_BAD_MESSAGE] = "hs_bad_message",
	[AGENT_AUTH_HS_BAD_VERSION] = "hs_bad_version",
	[AGENT_AUTH_HS_BAD_ID] = "hs_bad_id",
	[AGENT_AUTH_HS_UNKNOWN_DEVICE] = "hs_unknown_device",
	[AGENT_AUTH_HS_REVOKED] = "hs_revoked",
	[AGENT_AUTH_HS_BAD_PROOF] = "hs_bad_proof",
	[AGENT_AUTH_HS_REFLECTED] = "hs_reflected",
	[AGENT_AUTH_HS_WRONG_SERVER] = "hs_wrong_server",
	[AGENT_AUTH_HS_STATE] = "hs_state",
	[AGENT_AUTH_TOK_MALFORMED] = "tok_malformed",
	[AGENT_AUTH_TOK_BAD_VERSION] = "tok_bad_version",
	[AGENT_AUTH_TOK_UNKNOWN_KID] = "tok_unknown_kid",
	[AGENT_AUTH_TOK_BAD_SIG] = "tok_bad_sig",
	[AGENT_AUTH_TOK_EXPIRED] = "tok_expired",
	[AGENT_AUTH_TOK_NOT_YET_VALID] = "tok_not_yet_valid",
	[AGENT_AUTH_TOK_WRONG_STREAMPOINT] = "tok_wrong_streampoint",
	[AGENT_AUTH_TOK_WRONG_DEVICE] = "tok_wrong_device",
};

const char *agent_auth_err_name(enum agent_auth_err e)
{
	if ((unsigned)e >= AGENT_AUTH_ERR__COUNT)
		return "unknown";
	return err_names[e];
}

static bool hmac256(const uint8_t *key, size_t klen, const uint8_t *msg, size_t mlen,
		    uint8_t out[AGENT_AUTH_MAC_LEN])
{
	unsigned int olen = 0;
	if (!HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &olen))
		return false;
	return olen == AGENT_AUTH_MAC_LEN;
}

/* ---- keys and proofs ---- */

int agent_auth_nonce(uint8_t out[AGENT_AUTH_NONCE_LEN])
{
	return RAND_bytes(out, AGENT_AUTH_NONCE_LEN) == 1 ? 0 : -EIO;
}

bool agent_auth_id_valid(const char *id, size_t len)
{
	if (!id || len < 1 || len > AGENT_AUTH_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = id[i];
		bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
			  (c >= 'A' && c <= 'Z') || c == '.' || c == '_' || c == ':' || c == '-';
		if (!ok)
			return false;
	}
	return true;
}

static bool cstr_id_valid(const char *id)
{
	return id && agent_auth_id_valid(id, strnlen(id, AGENT_AUTH_ID_MAX + 1));
}

int agent_auth_derive_key(const uint8_t *master, size_t master_len, const char *device_id,
			  uint8_t key[AGENT_AUTH_KEY_LEN])
{
	static const char label[] = "sp-device-key|";
	uint8_t msg[sizeof(label) - 1 + AGENT_AUTH_ID_MAX];

	if (!master || master_len == 0 || master_len > 1024 || !cstr_id_valid(device_id))
		return -EINVAL;
	size_t n = strlen(device_id);
	memcpy(msg, label, sizeof(label) - 1);
	memcpy(msg + sizeof(label) - 1, device_id, n);
	return hmac256(master, master_len, msg, sizeof(label) - 1 + n, key) ? 0 : -EIO;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int agent_auth_keyfile_lookup(const char *text, size_t len, const char *device_id,
			      uint8_t key[AGENT_AUTH_KEY_LEN])
{
	uint8_t found[AGENT_AUTH_KEY_LEN];
	int matches = 0;
	size_t i = 0;

	if (!text || !cstr_id_valid(device_id))
		return -EINVAL;
	size_t want = strlen(device_id);
	while (i < len) {
		size_t e = i;
		while (e < len && text[e] != '\n')
			e++;
		size_t ll = e, p = i;
		if (ll > p && text[ll - 1] == '\r')
			ll--;
		while (p < ll && (text[p] == ' ' || text[p] == '\t'))
			p++;
		if (p < ll && text[p] != '#') {
			size_t id0 = p;
			while (p < ll && text[p] != ' ' && text[p] != '\t')
				p++;
			size_t idn = p - id0;
			if (!agent_auth_id_valid(text + id0, idn))
				goto bad;
			while (p < ll && (text[p] == ' ' || text[p] == '\t'))
				p++;
			if (ll - p < 2 * AGENT_AUTH_KEY_LEN)
				goto bad;
			uint8_t k[AGENT_AUTH_KEY_LEN];
			for (size_t j = 0; j < AGENT_AUTH_KEY_LEN; j++) {
				int hi = hexval(text[p + 2 * j]), lo = hexval(text[p + 2 * j + 1]);
				if (hi < 0 || lo < 0)
					goto bad;
				k[j] = (uint8_t)(hi << 4 | lo);
			}
			p += 2 * AGENT_AUTH_KEY_LEN;
			while (p < ll && (text[p] == ' ' || text[p] == '\t'))
				p++;
			if (p != ll)
				goto bad;
			if (idn == want && memcmp(text + id0, device_id, want) == 0) {
				matches++;
				memcpy(found, k, sizeof(found));
			}
			OPENSSL_cleanse(k, sizeof(k));
		}
		i = e + 1;
	}
	if (matches != 1) {
		OPENSSL_cleanse(found, sizeof(found));
		return matches == 0 ? -ENOENT : -EINVAL; /* duplicate entry: ambiguous */
	}
	memcpy(key, found, AGENT_AUTH_KEY_LEN);
	OPENSSL_cleanse(found, sizeof(found));
	return 0;
bad:
	OPENSSL_cleanse(found, sizeof(found));
	return -EINVAL;
}

int agent_auth_proof(const uint8_t key[AGENT_AUTH_KEY_LEN], enum agent_auth_dir dir,
		     const struct agent_auth_transcript *t, uint8_t out[AGENT_AUTH_MAC_LEN])
{
	/* Labels differ per direction: what makes a reflected proof useless. */
	static const char l_a2s[] = "sp-auth-v1|agent->server|";
	static const char l_s2a[] = "sp-auth-v1|server->agent|";
	uint8_t msg[32 + 2 * AGENT_AUTH_NONCE_LEN + 2 * (1 + AGENT_AUTH_ID_MAX)];
	size_t n = 0;

	if (!cstr_id_valid(t->device_id) || !cstr_id_valid(t->server_id))
		return -EINVAL;
	const char *l = dir == AGENT_AUTH_AGENT_TO_SERVER ? l_a2s : l_s2a;
	size_t ll = strlen(l);
	memcpy(msg, l, ll);
	n = ll;
	memcpy(msg + n, t->nonce_a, AGENT_AUTH_NONCE_LEN);
	n += AGENT_AUTH_NONCE_LEN;
	memcpy(msg + n, t->nonce_s, AGENT_AUTH_NONCE_LEN);
	n += AGENT_AUTH_NONCE_LEN;
	/* length-prefixed so ("ab","c") and ("a","bc") differ */
	size_t dl = strlen(t->device_id), sl = strlen(t->server_id);
	msg[n++] = (uint8_t)dl;
	memcpy(msg + n, t->device_id, dl);
	n += dl;
	msg[n++] = (uint8_t)sl;
	memcpy(msg + n, t->server_id, sl);
	n += sl;
	return hmac256(key, AGENT_AUTH_KEY_LEN, msg, n, out) ? 0 : -EIO;
}

bool agent_auth_proof_verify(const uint8_t key[AGENT_AUTH_KEY_LEN], enum agent_auth_dir dir,
			     const struct agent_auth_transcript *t,
			     const uint8_t proof[AGENT_AUTH_MAC_LEN])
{
	uint8_t want[AGENT_AUTH_MAC_LEN];
	if (agent_auth_proof(key, dir, t, want) != 0)
		return false;
	bool ok = CRYPTO_memcmp(want, proof, AGENT_AUTH_MAC_LEN) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}

/* ---- handshake ---- */

enum hs_state { HS_START, HS_HELLO_SENT, HS_CHALLENGED, HS_DONE, HS_FAILED };

struct agent_auth_hs {
	bool server;
	enum hs_state st;
	char self_id[AGENT_AUTH_ID_MAX + 1];  /* server: server_id; agent: device_id */
	char peer_id[AGENT_AUTH_ID_MAX + 1];  /* server: device_id; agent: server_id */
	char expect[AGENT_AUTH_ID_MAX + 1];   /* agent: expected server_id or "" */
	uint8_t key[AGENT_AUTH_KEY_LEN];
	uint8_t nonce_a[AGENT_AUTH_NONCE_LEN];
	uint8_t nonce_s[AGENT_AUTH_NONCE_LEN];
	agent_auth_key_fn key_fn;
	void *ctx;
};

agent_auth_hs *agent_auth_hs_agent_new(const char *device_id, const uint8_t key[AGENT_AUTH_KEY_LEN],
				       const char *expect_server)
{
	if (!cstr_id_valid(device_id) || !key || (expect_server && !cstr_id_valid(expect_server)))
		return NULL;
	agent_auth_hs *hs = calloc(1, sizeof(*hs));
	if (!hs)
		return NULL;
	strcpy(hs->self_id, device_id);
	if (expect_server)
		strcpy(hs->expect, expect_server);
	memcpy(hs->key, key, AGENT_AUTH_KEY_LEN);
	return hs;
}

agent_auth_hs *agent_auth_hs_server_new(const char *server_id, agent_auth_key_fn key_fn, void *ctx)
{
	if (!cstr_id_valid(server_id) || !key_fn)
		return NULL;
	agent_auth_hs *hs = calloc(1, sizeof(*hs));
	if (!hs)
		return NULL;
	hs->server = true;
	strcpy(hs->self_id, server_id);
	hs->key_fn = key_fn;
	hs->ctx = ctx;
	return hs;
}

void agent_auth_hs_free(agent_auth_hs *hs)
{
	if (!hs)
		return;
	OPENSSL_cleanse(hs, sizeof(*hs));
	free(hs);
}

bool agent_auth_hs_done(const agent_auth_hs *hs) { return hs->st == HS_DONE; }
const char *agent_auth_hs_device(const agent_auth_hs *hs) { return hs->server ? hs->peer_id : hs->self_id; }

static enum agent_auth_err hs_fail(agent_auth_hs *hs, enum agent_auth_err e)
{
	hs->st = HS_FAILED;
	OPENSSL_cleanse(hs->key, sizeof(hs->key));
	return e;
}

static void transcript(const agent_auth_hs *hs, struct agent_auth_transcript *t)
{
	memcpy(t->nonce_a, hs->nonce_a, AGENT_AUTH_NONCE_LEN);
	memcpy(t->nonce_s, hs->nonce_s, AGENT_AUTH_NONCE_LEN);
	t->device_id = hs->server ? hs->peer_id : hs->self_id;
	t->server_id = hs->server ? hs->self_id : hs->peer_id;
}

int agent_auth_hs_hello(agent_auth_hs *hs, uint8_t *out, size_t cap)
{
	if (hs->server || hs->st != HS_START)
		return -EINVAL;
	size_t idn = strlen(hs->self_id);
	size_t n = 2 + idn + AGENT_AUTH_NONCE_LEN;
	if (cap < n)
		return -ENOSPC;
	if (agent_auth_nonce(hs->nonce_a) != 0)
		return -EIO;
	out[0] = AGENT_AUTH_VERSION;
	out[1] = (uint8_t)idn;
	memcpy(out + 2, hs->self_id, idn);
	memcpy(out + 2 + idn, hs->nonce_a, AGENT_AUTH_NONCE_LEN);
	hs->st = HS_HELLO_SENT;
	return (int)n;
}

/* [version][id_len][id] prefix shared by HELLO and CHALLENGE. */
static enum agent_auth_err parse_id_prefix(const uint8_t *in, size_t len, size_t rest,
					   char id[AGENT_AUTH_ID_MAX + 1])
{
	if (len < 2)
		return AGENT_AUTH_HS_BAD_MESSAGE;
	if (in[0] != AGENT_AUTH_VERSION)
		return AGENT_AUTH_HS_BAD_VERSION;
	size_t idn = in[1];
	if (len != 2 + idn + rest)
		return AGENT_AUTH_HS_BAD_MESSAGE;
	if (!agent_auth_id_valid((const char *)in + 2, idn))
		return AGENT_AUTH_HS_BAD_ID;
	memcpy(id, in + 2, idn);
	id[idn] = '\0';
	return AGENT_AUTH_OK;
}

enum agent_auth_err agent_auth_hs_on_hello(agent_auth_hs *hs, const uint8_t *in, size_t len,
					   uint8_t *out, size_t cap, size_t *out_len)
{
	*out_len = 0;
	if (!hs->server || hs->st != HS_START)
		return hs_fail(hs, AGENT_AUTH_HS_STATE);
	enum agent_auth_err e = parse_id_prefix(in, len, AGENT_AUTH_NONCE_LEN, hs->peer_id);
	if (e != AGENT_AUTH_OK)
		return hs_fail(hs, e);
	memcpy(hs->nonce_a, in + len - AGENT_AUTH_NONCE_LEN, AGENT_AUTH_NONCE_LEN);
	int krc = hs->key_fn(hs->ctx, hs->peer_id, hs->key);
	if (krc != 0)
		return hs_fail(hs, krc == -EACCES ? AGENT_AUTH_HS_REVOKED : AGENT_AUTH_HS_UNKNOWN_DEVICE);
	size_t sn = strlen(hs->self_id);
	size_t n = 2 + sn + AGENT_AUTH_NONCE_LEN + AGENT_AUTH_MAC_LEN;
	if (cap < n)
		return hs_fail(hs, AGENT_AUTH_HS_STATE);
	/* Fresh per connection: the agent's proof must cover it, so a proof
	 * recorded from another connection never verifies here. */
	if (agent_auth_nonce(hs->nonce_s) != 0)
		return hs_fail(hs, AGENT_AUTH_HS_STATE);
	struct agent_auth_transcript t;
	transcript(hs, &t);
	out[0] = AGENT_AUTH_VERSION;
	out[1] = (uint8_t)sn;
	memcpy(out + 2, hs->self_id, sn);
	memcpy(out + 2 + sn, hs->nonce_s, AGENT_AUTH_NONCE_LEN);
	if (agent_auth_proof(hs->key, AGENT_AUTH_SERVER_TO_AGENT, &t,
			     out + 2 + sn + AGENT_AUTH_NONCE_LEN) != 0)
		return hs_fail(hs, AGENT_AUTH_HS_STATE);
	hs->st = HS_CHALLENGED;
	*out_len = n;
	return AGENT_AUTH_OK;
}

enum agent_auth_err agent_auth_hs_on_challenge(agent_auth_hs *hs, const uint8_t *in, size_t len,
					       uint8_t *out, size_t cap, size_t *out_len)
{
	*out_len = 0;
	if (hs->server || hs->st != HS_HELLO_SENT)
		return hs_fail(hs, AGENT_AUTH_HS_STATE);
	enum agent_auth_err e = parse_id_prefix(in, len, AGENT_AUTH_NONCE_LEN + AGENT_AUTH_MAC_LEN,
						hs->peer_id);
	if (e != AGENT_AUTH_OK)
		return hs_fail(hs, e);
	if (hs->expect[0] && strcmp(hs->expect, hs->peer_id) != 0)
		return hs_fail(hs, AGENT_AUTH_HS_WRONG_SERVER);
	const uint8_t *ns = in + len - AGENT_AUTH_NONCE_LEN - AGENT_AUTH_MAC_LEN;
	memcpy(hs->nonce_s, ns, AGENT_AUTH_NONCE_LEN);
	if (CRYPTO_memcmp(hs->nonce_s, hs->nonce_a, AGENT_AUTH_NONCE_LEN) == 0)
		return hs_fail(hs, AGENT_AUTH_HS_REFLECTED);
	struct agent_auth_transcript t;
	transcript(hs, &t);
	if (!agent_auth_proof_verify(hs->key, AGENT_AUTH_SERVER_TO_AGENT, &t, ns + AGENT_AUTH_NONCE_LEN))
		return hs_fail(hs, AGENT_AUTH_HS_BAD_PROOF);
	if (cap < AGENT_AUTH_MAC_LEN)
		return hs_fail(hs, AGENT_AUTH_HS_STATE);
	if (agent_auth_proof(hs->key, AGENT_AUTH_AGENT_TO_SERVER, &t, out) != 0)
		return hs_fail(hs, AGENT_AUTH_HS_STATE);
	*out_len = AGENT_AUTH_MAC_LEN;
	hs->st = HS_DONE;
	return AGENT_AUTH_OK;
}

enum agent_auth_err agent_auth_hs_on_proof(agent_auth_hs *hs, const uint8_t *in, size_t len)
{
	if (!hs->server || hs->st != HS_CHALLENGED)
		return hs_fail(hs, AGENT_AUTH_HS_STATE);
	if (len != AGENT_AUTH_MAC_LEN)
		return hs_fail(hs, AGENT_AUTH_HS_BAD_MESSAGE);
	struct agent_auth_transcript t;
	transcript(hs, &t);
	if (!agent_auth_proof_verify(hs->key, AGENT_AUTH_AGENT_TO_SERVER, &t, in))
		return hs_fail(hs, AGENT_AUTH_HS_BAD_PROOF);
	hs->st = HS_DONE;
	return AGENT_AUTH_OK;
}

/* ---- base64url (RFC 4648 §5, no padding, canonical only) ---- */

static const char b64u_alpha[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64u_encode(const uint8_t *in, size_t n, char *out)
{
	size_t o = 0, i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64u_alpha[v >> 18 & 63];
		out[o++] = b64u_alpha[v >> 12 & 63];
		out[o++] = b64u_alpha[v >> 6 & 63];
		out[o++] = b64u_alpha[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = b64u_alpha[v >> 18 & 63];
		out[o++] = b64u_alpha[v >> 12 & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64u_alpha[v >> 18 & 63];
		out[o++] = b64u_alpha[v >> 12 & 63];
		out[o++] = b64u_alpha[v >> 6 & 63];
	}
	return o;
}

static int b64u_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Returns the decoded length or -1 (bad character, length, non-zero pad
 * bits, or more than cap bytes). */
static int b64u_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
	if (n % 4 == 1)
		return -1;
	size_t olen = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
	if (olen > cap)
		return -1;
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64u_val(in[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		return -1; /* leftover bits must be zero: one encoding per value */
	return (int)o;
}

/* ---- assignment ---- */

static bool token_chars(const char *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b64u_val(t[i]) < 0 && t[i] != '.')
			return false;
	return n > 0;
}

int agent_auth_assign_encode(const struct agent_auth_assign *a, uint8_t *out, size_t cap)
{
	if (a->token_len > AGENT_AUTH_TOKEN_MAX || !token_chars(a->token, a->token_len) ||
	    !tun_target_valid(a->addr, a->addr_len))
		return -EINVAL;
	size_t n = 1 + 2 + a->token_len + 1 + a->addr_len;
	if (cap < n)
		return -ENOSPC;
	out[0] = AGENT_AUTH_VERSION;
	out[1] = (uint8_t)(a->token_len >> 8);
	out[2] = (uint8_t)a->token_len;
	memcpy(out + 3, a->token, a->token_len);
	out[3 + a->token_len] = (uint8_t)a->addr_len;
	memcpy(out + 4 + a->token_len, a->addr, a->addr_len);
	return (int)n;
}

enum agent_auth_err agent_auth_assign_parse(const uint8_t *in, size_t len,
					    struct agent_auth_assign *a)
{
	if (len < 3)
		return AGENT_AUTH_HS_BAD_MESSAGE;
	if (in[0] != AGENT_AUTH_VERSION)
		return AGENT_AUTH_HS_BAD_VERSION;
	size_t tl = (size_t)in[1] << 8 | in[2];
	if (tl > AGENT_AUTH_TOKEN_MAX || len < 3 + tl + 1)
		return AGENT_AUTH_HS_BAD_MESSAGE;
	size_t al = in[3 + tl];
	if (len != 4 + tl + al)
		return AGENT_AUTH_HS_BAD_MESSAGE;
	const char *tok = (const char *)in + 3, *addr = (const char *)in + 4 + tl;
	if (!token_chars(tok, tl) || !tun_target_valid(addr, al))
		return AGENT_AUTH_HS_BAD_MESSAGE;
	a->token = tok;
	a->token_len = tl;
	a->addr = addr;
	a->addr_len = al;
	return AGENT_AUTH_OK;
}

int agent_auth_unreachable_encode(const char *addr, size_t addr_len, uint8_t *out, size_t cap)
{
	if (!tun_target_valid(addr, addr_len))
		return -EINVAL;
	if (cap < 2 + addr_len)
		return -ENOSPC;
	out[0] = AGENT_AUTH_VERSION;
	out[1] = (uint8_t)addr_len;
	memcpy(out + 2, addr, addr_len);
	return (int)(2 + addr_len);
}

enum agent_auth_err agent_auth_unreachable_parse(const uint8_t *in, size_t len, const char **addr,
						 size_t *addr_len)
{
	if (len < 2)
		return AGENT_AUTH_HS_BAD_MESSAGE;
	if (in[0] != AGENT_AUTH_VERSION)
		return AGENT_AUTH_HS_BAD_VERSION;
	if (len != 2 + (size_t)in[1] || !tun_target_valid((const char *)in + 2, in[1]))
		return AGENT_AUTH_HS_BAD_MESSAGE;
	*addr = (const char *)in + 2;
	*addr_len = in[1];
	return AGENT_AUTH_OK;
}

/* ---- tokens ---- */

struct kr_entry {
	bool used;
	char kid[AGENT_AUTH_KID_MAX + 1];
	uint8_t key[AGENT_AUTH_TOKEN_KEY_MAX];
	size_t key_len;
};

struct agent_auth_keyring {
	int current; /* index or -1 */
	struct kr_entry e[AGENT_AUTH_KEYRING_MAX];
};

static bool kid_valid(const char *kid, size_t n)
{
	if (n < 1 || n > AGENT_AUTH_KID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (b64u_val(kid[i]) < 0)
			return false;
	return true;
}

agent_auth_keyring *agent_auth_keyring_new(void)
{
	agent_auth_keyring *kr = calloc(1, sizeof(*kr));
	if (kr)
		kr->current = -1;
	return kr;
}

void agent_auth_keyring_free(agent_auth_keyring *kr)
{
	if (!kr)
		return;
	OPENSSL_cleanse(kr, sizeof(*kr));
	free(kr);
}

static const struct kr_entry *kr_find(const agent_auth_keyring *kr, const char *kid, size_t n)
{
	for (int i = 0; i < AGENT_AUTH_KEYRING_MAX; i++)
		if (kr->e[i].used && strlen(kr->e[i].kid) == n && memcmp(kr->e[i].kid, kid, n) == 0)
			return &kr->e[i];
	return NULL;
}

int agent_auth_keyring_add(agent_auth_keyring *kr, const char *kid, const uint8_t *key,
			   size_t key_len, bool current)
{
	if (!kid || !key || !kid_valid(kid, strnlen(kid, AGENT_AUTH_KID_MAX + 1)) ||
	    key_len < AGENT_AUTH_TOKEN_KEY_MIN || key_len > AGENT_AUTH_TOKEN_KEY_MAX)
		return -EINVAL;
	struct kr_entry *e = (struct kr_entry *)kr_find(kr, kid, strlen(kid));
	for (int i = 0; !e && i < AGENT_AUTH_KEYRING_MAX; i++)
		if (!kr->e[i].used)
			e = &kr->e[i];
	if (!e)
		return -ENOSPC;
	OPENSSL_cleanse(e, sizeof(*e));
	e->used = true;
	strcpy(e->kid, kid);
	memcpy(e->key, key, key_len);
	e->key_len = key_len;
	if (current)
		kr->current = (int)(e - kr->e);
	return 0;
}

int agent_auth_keyring_remove(agent_auth_keyring *kr, const char *kid)
{
	if (!kid)
		return -EINVAL;
	struct kr_entry *e = (struct kr_entry *)kr_find(kr, kid, strlen(kid));
	if (!e)
		return -ENOENT;
	if (kr->current == (int)(e - kr->e))
		kr->current = -1;
	OPENSSL_cleanse(e, sizeof(*e));
	return 0;
}

/* One line of a keyring file, without its '\n'. 1 key added, 0 blank or
 * comment, -1 malformed (why set). */
static int kr_line(agent_auth_keyring *kr, const char *l, size_t n, int *n_current,
		   const char **why)
{
	const char *tok[4];
	size_t tl[4];
	int nt = 0;
	size_t i = 0;

	while (i < n && l[i] != '#') {
		while (i < n && (l[i] == ' ' || l[i] == '\t' || l[i] == '\r'))
			i++;
		if (i >= n || l[i] == '#')
			break;
		size_t s = i;
		while (i < n && l[i] != ' ' && l[i] != '\t' && l[i] != '\r' && l[i] != '#')
			i++;
		if (nt == 4) {
			*why = "extra field";
			return -1;
		}
		tok[nt] = l + s;
		tl[nt++] = i - s;
	}
	if (!nt)
		return 0;
	if (nt < 2 || nt > 3) {
		*why = nt < 2 ? "no key" : "extra field";
		return -1;
	}
	if (!kid_valid(tok[0], tl[0])) {
		*why = "bad key id (1..16 of A-Za-z0-9_-)";
		return -1;
	}
	if (nt == 3 && (tl[2] != 7 || memcmp(tok[2], "current", 7))) {
		*why = "third field is not 'current'";
		return -1;
	}
	if (tl[1] % 2 || tl[1] / 2 < AGENT_AUTH_TOKEN_KEY_MIN || tl[1] / 2 > AGENT_AUTH_TOKEN_KEY_MAX) {
		*why = "key is not 32..128 hex digits";
		return -1;
	}
	char kid[AGENT_AUTH_KID_MAX + 1];
	memcpy(kid, tok[0], tl[0]);
	kid[tl[0]] = '\0';
	if (kr_find(kr, kid, tl[0])) {
		*why = "duplicate key id";
		return -1;
	}
	uint8_t key[AGENT_AUTH_TOKEN_KEY_MAX];
	for (size_t k = 0; k < tl[1] / 2; k++) {
		int h = hexval(tok[1][2 * k]), lo = hexval(tok[1][2 * k + 1]);
		if (h < 0 || lo < 0) {
			OPENSSL_cleanse(key, sizeof(key));
			*why = "key is not hex";
			return -1;
		}
		key[k] = (uint8_t)(h << 4 | lo);
	}
	if (nt == 3 && ++*n_current > 1) {
		OPENSSL_cleanse(key, sizeof(key));
		*why = "second 'current' key";
		return -1;
	}
	int rc = agent_auth_keyring_add(kr, kid, key, tl[1] / 2, nt == 3);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc < 0) {
		*why = rc == -ENOSPC ? "too many keys" : "bad key";
		return -1;
	}
	return 1;
}

int agent_auth_keyring_parse(agent_auth_keyring *kr, const char *text, size_t len,
			     bool need_current, char *err, size_t errlen)
{
	const char *why = NULL;
	unsigned ln = 0;
	int n = 0, n_current = 0;

	if (err && errlen)
		err[0] = '\0';
	for (size_t i = 0; i < len;) {
		size_t e = i;
		while (e < len && text[e] != '\n')
			e++;
		ln++;
		if (memchr(text + i, '\0', e - i)) {
			why = "NUL byte";
			goto bad;
		}
		int rc = kr_line(kr, text + i, e - i, &n_current, &why);
		if (rc < 0)
			goto bad;
		n += rc;
		i = e + 1;
	}
	if (!n) {
		if (err && errlen)
			snprintf(err, errlen, "no key (lines: <kid> <hex key> [current])");
		return -ENOKEY;
	}
	/* a signer with no current key would refuse every agent at runtime */
	if (need_current && !n_current) {
		if (err && errlen)
			snprintf(err, errlen, "no key marked 'current' to sign with");
		return -ENOKEY;
	}
	return n;
bad:
	if (err && errlen)
		snprintf(err, errlen, "line %u: %s (lines: <kid> <hex key> [current])", ln, why);
	return -EINVAL;
}

int agent_auth_keyring_load(agent_auth_keyring *kr, const char *path, bool need_current,
			    char *err, size_t errlen)
{
	/* 8 keys of 128 hex digits plus comments fit easily */
	static const size_t cap = 16384;
	char *text = malloc(cap);
	char tmp[192];
	FILE *f = text ? fopen(path, "r") : NULL;
	int rc;

	if (!f) {
		rc = text ? -errno : -ENOMEM;
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		free(text);
		return rc;
	}
	size_t len = fread(text, 1, cap, f);
	bool big = len == cap, ioerr = ferror(f);
	fclose(f);
	if (big || ioerr) {
		rc = big ? -EFBIG : -EIO;
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", path, big ? "too large" : "read error");
	} else {
		rc = agent_auth_keyring_parse(kr, text, len, need_current, tmp, sizeof(tmp));
		if (rc < 0 && err && errlen)
			snprintf(err, errlen, "%s: %s", path, tmp);
	}
	OPENSSL_cleanse(text, cap);
	free(text);
	return rc;
}

static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

#define TOKEN_PREFIX "spt1"

int agent_auth_token_sign(const agent_auth_keyring *kr, const char *device_id,
			  const char *streampoint_id, uint64_t now, uint32_t ttl,
			  char *out, size_t cap)
{
	char buf[AGENT_AUTH_TOKEN_MAX + 1];
	uint8_t times[16], mac[AGENT_AUTH_MAC_LEN];

	if (!cstr_id_valid(device_id) || !cstr_id_valid(streampoint_id) || ttl == 0 ||
	    now > UINT64_MAX - ttl)
		return -EINVAL;
	if (kr->current < 0)
		return -ENOKEY;
	const struct kr_entry *k = &kr->e[kr->current];
	size_t n = 0;
	/* worst case 4+1+16+1+86+1+86+1+22+1+43 = 262 < AGENT_AUTH_TOKEN_MAX */
	memcpy(buf, TOKEN_PREFIX ".", 5);
	n = 5;
	size_t kl = strlen(k->kid);
	memcpy(buf + n, k->kid, kl);
	n += kl;
	buf[n++] = '.';
	n += b64u_encode((const uint8_t *)device_id, strlen(device_id), buf + n);
	buf[n++] = '.';
	n += b64u_encode((const uint8_t *)streampoint_id, strlen(streampoint_id), buf + n);
	buf[n++] = '.';
	be64(times, now);
	be64(times + 8, now + ttl);
	n += b64u_encode(times, sizeof(times), buf + n);
	if (!hmac256(k->key, k->key_len, (const uint8_t *)buf, n, mac))
		return -EIO;
	buf[n++] = '.';
	n += b64u_encode(mac, sizeof(mac), buf + n);
	buf[n] = '\0';
	if (cap < n + 1)
		return -ENOSPC;
	memcpy(out, buf, n + 1);
	return (int)n;
}

/* Decodes an id field into a NUL-terminated string and checks its charset. */
static bool decode_id(const char *f, size_t n, char out[AGENT_AUTH_ID_MAX + 1])
{
	int l = b64u_decode(f, n, (uint8_t *)out, AGENT_AUTH_ID_MAX);
	if (l < 0 || !agent_auth_id_valid(out, (size_t)l))
		return false;
	out[l] = '\0';
	return true;
}

enum agent_auth_err agent_auth_token_verify(const agent_auth_keyring *kr, const char *tok,
					    size_t len, const char *streampoint_id,
					    const char *device_id, uint64_t now,
					    struct agent_auth_token_info *info)
{
	const char *f[6];
	size_t fl[6];
	int nf = 0;

	if (!tok || len == 0 || len > AGENT_AUTH_TOKEN_MAX || !streampoint_id)
		return AGENT_AUTH_TOK_MALFORMED;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || tok[i] == '.') {
			if (nf == 6)
				return AGENT_AUTH_TOK_MALFORMED;
			f[nf] = tok + start;
			fl[nf] = i - start;
			nf++;
			start = i + 1;
		} else if (b64u_val(tok[i]) < 0) {
			return AGENT_AUTH_TOK_MALFORMED;
		}
	}
	if (nf < 1 || fl[0] < 3 || memcmp(f[0], "spt", 3) != 0)
		return AGENT_AUTH_TOK_MALFORMED;
	if (fl[0] != 4 || memcmp(f[0], TOKEN_PREFIX, 4) != 0)
		return AGENT_AUTH_TOK_BAD_VERSION;
	if (nf != 6 || !kid_valid(f[1], fl[1]))
		return AGENT_AUTH_TOK_MALFORMED;
	const struct kr_entry *k = kr_find(kr, f[1], fl[1]);
	if (!k)
		return AGENT_AUTH_TOK_UNKNOWN_KID;
	uint8_t got[AGENT_AUTH_MAC_LEN + 1], want[AGENT_AUTH_MAC_LEN];
	if (b64u_decode(f[5], fl[5], got, sizeof(got)) != AGENT_AUTH_MAC_LEN)
		return AGENT_AUTH_TOK_MALFORMED;
	size_t signed_len = (size_t)(f[5] - tok) - 1;
	if (!hmac256(k->key, k->key_len, (const uint8_t *)tok, signed_len, want))
		return AGENT_AUTH_TOK_BAD_SIG;
	if (CRYPTO_memcmp(got, want, AGENT_AUTH_MAC_LEN) != 0)
		return AGENT_AUTH_TOK_BAD_SIG;

	/* Authentic from here on: the rest is us checking our own output. */
	struct agent_auth_token_info ti;
	uint8_t times[17];
	memset(&ti, 0, sizeof(ti));
	if (!decode_id(f[2], fl[2], ti.device_id) || !decode_id(f[3], fl[3], ti.streampoint_id) ||
	    b64u_decode(f[4], fl[4], times, sizeof(times)) != 16)
		return AGENT_AUTH_TOK_MALFORMED;
	memcpy(ti.kid, f[1], fl[1]);
	ti.iat = rd64(times);
	ti.exp = rd64(times + 8);
	if (ti.exp <= ti.iat)
		return AGENT_AUTH_TOK_MALFORMED;
	if (ti.iat > now && ti.iat - now > AGENT_AUTH_CLOCK_SKEW)
		return AGENT_AUTH_TOK_NOT_YET_VALID;
	if (now >= ti.exp)
		return AGENT_AUTH_TOK_EXPIRED;
	if (strcmp(ti.streampoint_id, streampoint_id) != 0)
		return AGENT_AUTH_TOK_WRONG_STREAMPOINT;
	if (device_id && strcmp(ti.device_id, device_id) != 0)
		return AGENT_AUTH_TOK_WRONG_DEVICE;
	if (info)
		*info = ti;
	return AGENT_AUTH_OK;
}

/* ---- HTTP/1.1 Upgrade ---- */

/* Finds the blank line ending the header block within the limits; checks
 * line endings (CRLF only) and line lengths on the way. */
static enum agent_auth_err head_scan(const char *buf, size_t len, size_t *head_len)
{
	size_t n = len < AGENT_AUTH_UP_MAX_TOTAL ? len : AGENT_AUTH_UP_MAX_TOTAL;
	size_t line_start = 0;
	unsigned lines = 0;

	for (size_t i = 0; i < n; i++) {
		char c = buf[i];
		if (c == '\0' || c == '\n')
			return AGENT_AUTH_UP_BAD_EOL;
		if (c == '\r') {
			if (i + 1 >= n)
				break;
			if (buf[i + 1] != '\n')
				return AGENT_AUTH_UP_BAD_EOL;
			size_t ll = i - line_start;
			if (ll == 0) {
				if (lines == 0)
					return AGENT_AUTH_UP_BAD_REQUEST_LINE;
				*head_len = i + 2;
				return AGENT_AUTH_OK;
			}
			if (++lines > AGENT_AUTH_UP_MAX_HEADERS + 1)
				return AGENT_AUTH_UP_TOO_MANY_HEADERS;
			i++;
			line_start = i + 1;
			continue;
		}
		if (i - line_start >= AGENT_AUTH_UP_MAX_LINE)
			return AGENT_AUTH_UP_LINE_TOO_LONG;
	}
	if (len >= AGENT_AUTH_UP_MAX_TOTAL)
		return AGENT_AUTH_UP_TOO_LARGE;
	return AGENT_AUTH_NEED_MORE;
}

static bool tchar(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool ieq(const char *a, size_t an, const char *b)
{
	return strlen(b) == an && strncasecmp(a, b, an) == 0;
}

/* Is `want` one of the comma-separated elements of v (case-insensitive)? */
static bool list_has(const char *v, size_t n, const char *want)
{
	size_t i = 0;
	while (i <= n) {
		size_t e = i;
		while (e < n && v[e] != ',')
			e++;
		size_t a = i, b = e;
		while (a < b && (v[a] == ' ' || v[a] == '\t'))
			a++;
		while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
			b--;
		if (ieq(v + a, b - a, want))
			return true;
		i = e + 1;
	}
	return false;
}

struct hdr {
	const char *name, *val;
	size_t nlen, vlen;
};

static enum agent_auth_err split_header(const char *l, size_t ll, struct hdr *h)
{
	if (l[0] == ' ' || l[0] == '\t')
		return AGENT_AUTH_UP_OBS_FOLD;
	size_t i = 0;
	while (i < ll && tchar(l[i]))
		i++;
	if (i == 0 || i >= ll || l[i] != ':')
		return AGENT_AUTH_UP_BAD_HEADER;
	h->name = l;
	h->nlen = i;
	size_t a = i + 1, b = ll;
	while (a < b && (l[a] == ' ' || l[a] == '\t'))
		a++;
	while (b > a && (l[b - 1] == ' ' || l[b - 1] == '\t'))
		b--;
	for (size_t k = a; k < b; k++) {
		unsigned char c = (unsigned char)l[k];
		if ((c < 0x20 && c != '\t') || c >= 0x7f)
			return AGENT_AUTH_UP_BAD_HEADER;
	}
	h->val = l + a;
	h->vlen = b - a;
	return AGENT_AUTH_OK;
}

/* Header walk shared by request and response. */
struct head_state {
	bool host, upgrade, upgrade_ok, conn_ok, authz;
	struct agent_auth_upgrade *up; /* request only */
};

static enum agent_auth_err on_header(struct head_state *hs, const struct hdr *h, bool request)
{
	if (ieq(h->name, h->nlen, "Upgrade")) {
		if (hs->upgrade)
			return AGENT_AUTH_UP_DUP_HEADER;
		hs->upgrade = true;
		hs->upgrade_ok = list_has(h->val, h->vlen, AGENT_AUTH_PROTO);
	} else if (ieq(h->name, h->nlen, "Connection")) {
		if (list_has(h->val, h->vlen, "upgrade"))
			hs->conn_ok = true;
	} else if (request && (ieq(h->name, h->nlen, "Content-Length") ||
			       ieq(h->name, h->nlen, "Transfer-Encoding"))) {
		/* no body before the frames; also closes request-smuggling doors */
		return AGENT_AUTH_UP_HAS_BODY;
	} else if (request && ieq(h->name, h->nlen, "Host")) {
		if (hs->host)
			return AGENT_AUTH_UP_DUP_HEADER;
		if (h->vlen == 0)
			return AGENT_AUTH_UP_NO_HOST;
		hs->host = true;
		hs->up->host = h->val;
		hs->up->host_len = h->vlen;
	} else if (request && ieq(h->name, h->nlen, "Authorization")) {
		if (hs->authz)
			return AGENT_AUTH_UP_DUP_HEADER;
		hs->authz = true;
		if (h->vlen < 8 || strncasecmp(h->val, "Bearer ", 7) != 0)
			return AGENT_AUTH_UP_BAD_AUTHZ;
		const char *t = h->val + 7;
		size_t tl = h->vlen - 7;
		if (tl > AGENT_AUTH_TOKEN_MAX || !token_chars(t, tl))
			return AGENT_AUTH_UP_BAD_AUTHZ;
		hs->up->token = t;
		hs->up->token_len = tl;
	}
	return AGENT_AUTH_OK;
}

/* Walks the header lines after the first one. */
static enum agent_auth_err walk_headers(const char *buf, size_t first_end, size_t head_len,
					struct head_state *st, bool request)
{
	size_t p = first_end + 2;
	while (p + 2 < head_len) {
		size_t e = p;
		while (buf[e] != '\r')
			e++;
		struct hdr h;
		enum agent_auth_err err = split_header(buf + p, e - p, &h);
		if (err == AGENT_AUTH_OK)
			err = on_header(st, &h, request);
		if (err != AGENT_AUTH_OK)
			return err;
		p = e + 2;
	}
	return AGENT_AUTH_OK;
}

static size_t line_end(const char *buf) /* head_scan guarantees a CR */
{
	size_t e = 0;
	while (buf[e] != '\r')
		e++;
	return e;
}

enum agent_auth_err agent_auth_upgrade_parse(const char *buf, size_t len,
					     struct agent_auth_upgrade *up)
{
	size_t head_len = 0;

	memset(up, 0, sizeof(*up));
	enum agent_auth_err e = head_scan(buf, len, &head_len);
	if (e != AGENT_AUTH_OK)
		return e;
	size_t le = line_end(buf);
	/* request-line = method SP request-target SP HTTP-version */
	size_t m = 0;
	while (m < le && tchar(buf[m]))
		m++;
	if (m == 0 || m >= le || buf[m] != ' ')
		return AGENT_AUTH_UP_BAD_REQUEST_LINE;
	size_t t0 = m + 1, t = t0;
	while (t < le && buf[t] > 0x20 && buf[t] < 0x7f)
		t++;
	if (t == t0 || t >= le || buf[t] != ' ' || buf[t0] != '/')
		return AGENT_AUTH_UP_BAD_REQUEST_LINE;
	const char *ver = buf + t + 1;
	size_t vl = le - t - 1;
	if (!(m == 3 && memcmp(buf, "GET", 3) == 0))
		return AGENT_AUTH_UP_BAD_METHOD;
	if (vl != 8 || memcmp(ver, "HTTP/", 5) != 0 || ver[6] != '.' ||
	    ver[5] < '0' || ver[5] > '9' || ver[7] < '0' || ver[7] > '9')
		return AGENT_AUTH_UP_BAD_REQUEST_LINE;
	if (memcmp(ver, "HTTP/1.1", 8) != 0)
		return AGENT_AUTH_UP_BAD_VERSION;
	up->path = buf + t0;
	up->path_len = t - t0;

	struct head_state st = { .up = up };
	e = walk_headers(buf, le, head_len, &st, true);
	if (e == AGENT_AUTH_OK && !st.host)
		e = AGENT_AUTH_UP_NO_HOST;
	if (e == AGENT_AUTH_OK && !st.upgrade_ok)
		e = AGENT_AUTH_UP_NO_UPGRADE;
	if (e == AGENT_AUTH_OK && !st.conn_ok)
		e = AGENT_AUTH_UP_NO_CONNECTION;
	if (e != AGENT_AUTH_OK) {
		struct agent_auth_upgrade z = { 0 };
		*up = z;
		return e;
	}
	up->header_len = head_len;
	return AGENT_AUTH_OK;
}

static bool header_value_ok(const char *s, bool allow_space)
{
	if (!s || !*s)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x21 || c > 0x7e) {
			if (!(allow_space && c == ' '))
				return false;
		}
	}
	return true;
}

int agent_auth_upgrade_request(char *out, size_t cap, const char *host, const char *path,
			       const char *token)
{
	if (!header_value_ok(host, false) || !header_value_ok(path, false) || path[0] != '/' ||
	    (token && (strlen(token) > AGENT_AUTH_TOKEN_MAX || !token_chars(token, strlen(token)))))
		return -EINVAL;
	int n = snprintf(out, cap,
			 "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: " AGENT_AUTH_PROTO
			 "\r\nConnection: Upgrade\r\n%s%s%s\r\n",
			 path, host, token ? "Authorization: Bearer " : "", token ? token : "",
			 token ? "\r\n" : "");
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= cap || n > AGENT_AUTH_UP_MAX_TOTAL)
		return -ENOSPC;
	return n;
}

int agent_auth_upgrade_accept(char *out, size_t cap)
{
	static const char resp[] = "HTTP/1.1 101 Switching Protocols\r\n"
				   "Upgrade: " AGENT_AUTH_PROTO "\r\n"
				   "Connection: Upgrade\r\n\r\n";
	if (cap < sizeof(resp))
		return -ENOSPC;
	memcpy(out, resp, sizeof(resp));
	return (int)sizeof(resp) - 1;
}

enum agent_auth_err agent_auth_upgrade_response_parse(const char *buf, size_t len,
						      int *status, size_t *header_len)
{
	size_t head_len = 0;

	*status = 0;
	*header_len = 0;
	enum agent_auth_err e = head_scan(buf, len, &head_len);
	if (e != AGENT_AUTH_OK)
		return e;
	size_t le = line_end(buf);
	/* status-line = HTTP-version SP 3DIGIT SP [reason] */
	if (le < 12)
		return AGENT_AUTH_UP_BAD_REQUEST_LINE;
	if (memcmp(buf, "HTTP/1.1 ", 9) != 0)
		return memcmp(buf, "HTTP/", 5) == 0 ? AGENT_AUTH_UP_BAD_VERSION
						    : AGENT_AUTH_UP_BAD_REQUEST_LINE;
	for (int i = 9; i < 12; i++)
		if (buf[i] < '0' || buf[i] > '9')
			return AGENT_AUTH_UP_BAD_REQUEST_LINE;
	if (le > 12 && buf[12] != ' ')
		return AGENT_AUTH_UP_BAD_REQUEST_LINE;
	for (size_t i = 13; i < le; i++) {
		unsigned char c = (unsigned char)buf[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return AGENT_AUTH_UP_BAD_REQUEST_LINE;
	}
	*status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');

	struct agent_auth_upgrade dummy;
	struct head_state st = { .up = &dummy };
	e = walk_headers(buf, le, head_len, &st, false);
	if (e != AGENT_AUTH_OK)
		return e;
	if (*status != 101)
		return AGENT_AUTH_UP_BAD_STATUS;
	if (!st.upgrade_ok)
		return AGENT_AUTH_UP_NO_UPGRADE;
	if (!st.conn_ok)
		return AGENT_AUTH_UP_NO_CONNECTION;
	*header_len = head_len;
	return AGENT_AUTH_OK;
}
