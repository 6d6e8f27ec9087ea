/*
 * agent_auth: the agent protocol's security core, with no I/O
 * (docs/agent-protocol.md): device keys, the mutual challenge/response
 * handshake, streampoint tokens, and the HTTP/1.1 Upgrade that starts both
 * the control connection (spagent -> spcp) and the tunnel (spagent -> spdp).
 *
 * Only libc and OpenSSL (libcrypto): spagent links this on camera firmware.
 *
 * Handshake (frames on stream 0, see tun_frame.h):
 *   agent  -> server  AUTH_HELLO      version, device_id, nonce_a
 *   server -> agent   AUTH_CHALLENGE  version, server_id, nonce_s, proof_s
 *   agent  -> server  AUTH_PROOF      proof_a
 *   server -> agent   AUTH_OK (assignment) or AUTH_FAIL
 * proof_x = HMAC-SHA256(device_key, label_x || nonce_a || nonce_s ||
 * device_id || server_id) with a different label per direction, so a proof
 * reflected back to its author never verifies, and each side checks a proof
 * over the nonce it generated itself for this connection, so a replayed
 * proof never verifies either. The server keeps nothing but the
 * per-connection handshake object until the agent's proof checks out.
 *
 * Failures are one enum agent_auth_err (a drop counter per reason). The wire
 * never says which check failed (AUTH_FAIL carries TUN_R_AUTH); the counters
 * do.
 */
#ifndef SP_AGENT_AUTH_H
#define SP_AGENT_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGENT_AUTH_VERSION 1
#define AGENT_AUTH_PROTO "streampoint-agent/1"
#define AGENT_AUTH_NONCE_LEN 32
#define AGENT_AUTH_KEY_LEN 32
#define AGENT_AUTH_MAC_LEN 32
#define AGENT_AUTH_ID_MAX 64        /* device_id, server_id, streampoint_id */
#define AGENT_AUTH_KID_MAX 16       /* token key id */
#define AGENT_AUTH_TOKEN_MAX 512
#define AGENT_AUTH_TOKEN_KEY_MIN 16 /* bytes */
#define AGENT_AUTH_TOKEN_KEY_MAX 64
#define AGENT_AUTH_KEYRING_MAX 8
#define AGENT_AUTH_CLOCK_SKEW 60    /* seconds a token's iat may lie ahead */
#define AGENT_AUTH_HELLO_MAX (2 + AGENT_AUTH_ID_MAX + AGENT_AUTH_NONCE_LEN)
#define AGENT_AUTH_CHALLENGE_MAX (2 + AGENT_AUTH_ID_MAX + AGENT_AUTH_NONCE_LEN + AGENT_AUTH_MAC_LEN)
/* HTTP Upgrade request limits. */
#define AGENT_AUTH_UP_MAX_TOTAL 8192
#define AGENT_AUTH_UP_MAX_LINE 1024
#define AGENT_AUTH_UP_MAX_HEADERS 32

enum agent_auth_err {
	AGENT_AUTH_OK = 0,
	AGENT_AUTH_NEED_MORE,          /* upgrade: header block not complete yet */
	/* upgrade request / response */
	AGENT_AUTH_UP_TOO_LARGE,       /* no blank line within AGENT_AUTH_UP_MAX_TOTAL */
	AGENT_AUTH_UP_LINE_TOO_LONG,
	AGENT_AUTH_UP_TOO_MANY_HEADERS,
	AGENT_AUTH_UP_BAD_EOL,         /* bare CR or LF, NUL */
	AGENT_AUTH_UP_BAD_REQUEST_LINE,
	AGENT_AUTH_UP_BAD_METHOD,      /* not GET */
	AGENT_AUTH_UP_BAD_VERSION,     /* not HTTP/1.1 */
	AGENT_AUTH_UP_BAD_HEADER,      /* name not a token, no colon, control char */
	AGENT_AUTH_UP_OBS_FOLD,        /* continuation line */
	AGENT_AUTH_UP_DUP_HEADER,      /* second Host / Upgrade / Authorization */
	AGENT_AUTH_UP_NO_HOST,
	AGENT_AUTH_UP_NO_UPGRADE,      /* Upgrade missing or without our protocol */
	AGENT_AUTH_UP_NO_CONNECTION,   /* Connection without "upgrade" */
	AGENT_AUTH_UP_HAS_BODY,        /* Content-Length / Transfer-Encoding */
	AGENT_AUTH_UP_BAD_AUTHZ,       /* Authorization not "Bearer <token>" */
	AGENT_AUTH_UP_BAD_STATUS,      /* response: not 101 */
	/* handshake */
	AGENT_AUTH_HS_BAD_MESSAGE,     /* length / layout wrong */
	AGENT_AUTH_HS_BAD_VERSION,
	AGENT_AUTH_HS_BAD_ID,          /* id empty, too long or bad characters */
	AGENT_AUTH_HS_UNKNOWN_DEVICE,
	AGENT_AUTH_HS_REVOKED,         /* key source says the device is revoked */
	AGENT_AUTH_HS_BAD_PROOF,       /* wrong key, replay */
	AGENT_AUTH_HS_REFLECTED,       /* peer echoed our own nonce */
	AGENT_AUTH_HS_WRONG_SERVER,    /* server_id not the one configured */
	AGENT_AUTH_HS_STATE,           /* message out of order, or after a failure */
	/* tokens */
	AGENT_AUTH_TOK_MALFORMED,
	AGENT_AUTH_TOK_BAD_VERSION,
	AGENT_AUTH_TOK_UNKNOWN_KID,    /* key id not (or no longer) in the keyring */
	AGENT_AUTH_TOK_BAD_SIG,
	AGENT_AUTH_TOK_EXPIRED,
	AGENT_AUTH_TOK_NOT_YET_VALID,
	AGENT_AUTH_TOK_WRONG_STREAMPOINT,
	AGENT_AUTH_TOK_WRONG_DEVICE,
	AGENT_AUTH_ERR__COUNT
};

const char *agent_auth_err_name(enum agent_auth_err e);

/* ---- keys and proofs ---- */

/* RAND_bytes. 0 or -EIO. */
int agent_auth_nonce(uint8_t out[AGENT_AUTH_NONCE_LEN]);

/* 1..AGENT_AUTH_ID_MAX of [A-Za-z0-9._:-]. */
bool agent_auth_id_valid(const char *id, size_t len);

/* key = HMAC-SHA256(master, "sp-device-key|" || device_id). 0 or -EINVAL. */
int agent_auth_derive_key(const uint8_t *master, size_t master_len, const char *device_id,
			  uint8_t key[AGENT_AUTH_KEY_LEN]);

/* Looks device_id up in a key file's text: lines "<device_id> <64 hex>",
 * '#' comments, blank lines. 0, -ENOENT, or -EINVAL for a malformed line
 * (the whole file is refused: a typo must not silently lock a device out). */
int agent_auth_keyfile_lookup(const char *text, size_t len, const char *device_id,
			      uint8_t key[AGENT_AUTH_KEY_LEN]);

enum agent_auth_dir { AGENT_AUTH_AGENT_TO_SERVER, AGENT_AUTH_SERVER_TO_AGENT };

struct agent_auth_transcript {
	uint8_t nonce_a[AGENT_AUTH_NONCE_LEN];
	uint8_t nonce_s[AGENT_AUTH_NONCE_LEN];
	const char *device_id;
	const char *server_id;
};

int agent_auth_proof(const uint8_t key[AGENT_AUTH_KEY_LEN], enum agent_auth_dir dir,
		     const struct agent_auth_transcript *t, uint8_t out[AGENT_AUTH_MAC_LEN]);
/* Constant-time comparison (CRYPTO_memcmp). */
bool agent_auth_proof_verify(const uint8_t key[AGENT_AUTH_KEY_LEN], enum agent_auth_dir dir,
			     const struct agent_auth_transcript *t,
			     const uint8_t proof[AGENT_AUTH_MAC_LEN]);

/* ---- handshake state machine ---- */

typedef struct agent_auth_hs agent_auth_hs;

/* Server side key source: 0 and the key, -ENOENT unknown, -EACCES revoked. */
typedef int (*agent_auth_key_fn)(void *ctx, const char *device_id,
				 uint8_t key[AGENT_AUTH_KEY_LEN]);

/* expect_server may be NULL (accept any server_id). */
agent_auth_hs *agent_auth_hs_agent_new(const char *device_id, const uint8_t key[AGENT_AUTH_KEY_LEN],
				       const char *expect_server);
agent_auth_hs *agent_auth_hs_server_new(const char *server_id, agent_auth_key_fn key_fn, void *ctx);
void agent_auth_hs_free(agent_auth_hs *hs); /* wipes keys */

/* Agent: writes AUTH_HELLO's payload. Length, or -ENOSPC / -EIO / -EINVAL (state). */
int agent_auth_hs_hello(agent_auth_hs *hs, uint8_t *out, size_t cap);
/* Server: reads AUTH_HELLO, writes AUTH_CHALLENGE's payload. */
enum agent_auth_err agent_auth_hs_on_hello(agent_auth_hs *hs, const uint8_t *in, size_t len,
					   uint8_t *out, size_t cap, size_t *out_len);
/* Agent: reads AUTH_CHALLENGE (checks the server's proof), writes AUTH_PROOF's payload. */
enum agent_auth_err agent_auth_hs_on_challenge(agent_auth_hs *hs, const uint8_t *in, size_t len,
					       uint8_t *out, size_t cap, size_t *out_len);
/* Server: reads AUTH_PROOF. AGENT_AUTH_OK means the agent is authenticated. */
enum agent_auth_err agent_auth_hs_on_proof(agent_auth_hs *hs, const uint8_t *in, size_t len);
/* Both sides proved themselves (agent: after on_challenge; server: after on_proof). */
bool agent_auth_hs_done(const agent_auth_hs *hs);
/* Device id claimed in HELLO (server), NUL-terminated; "" before. */
const char *agent_auth_hs_device(const agent_auth_hs *hs);

/* ---- assignment (AUTH_OK / SWITCH payload) ---- */

struct agent_auth_assign {
	const char *token;   /* not NUL-terminated */
	size_t token_len;
	const char *addr;    /* streampoint "host:port" */
	size_t addr_len;
};

int agent_auth_assign_encode(const struct agent_auth_assign *a, uint8_t *out, size_t cap);
enum agent_auth_err agent_auth_assign_parse(const uint8_t *in, size_t len,
					    struct agent_auth_assign *a);

/* ---- UNREACHABLE (agent -> endpoint): u8 version, u8 len, "host:port" of
 * the assigned streampoint the agent could not reach ---- */

int agent_auth_unreachable_encode(const char *addr, size_t addr_len, uint8_t *out, size_t cap);
/* addr points into in (not NUL-terminated). */
enum agent_auth_err agent_auth_unreachable_parse(const uint8_t *in, size_t len, const char **addr,
						 size_t *addr_len);

/* ---- tokens ---- */

typedef struct agent_auth_keyring agent_auth_keyring;

agent_auth_keyring *agent_auth_keyring_new(void);
void agent_auth_keyring_free(agent_auth_keyring *kr); /* wipes keys */
/* kid: 1..AGENT_AUTH_KID_MAX of [A-Za-z0-9_-]; a kid already present is
 * replaced. current: sign new tokens with it. -EINVAL, -ENOSPC. */
int agent_auth_keyring_add(agent_auth_keyring *kr, const char *kid, const uint8_t *key,
			   size_t key_len, bool current);
/* Keyring file (spcp's [endpoint] and spdp's [tunnel] token_key_file, one
 * file for both): lines "<kid> <hex key, 16..64 bytes> [current]", blank
 * lines, '#' comments. Several keys allow rotation; at most one is current
 * (the signer's), and a signer (need_current) needs exactly one. Duplicate
 * kids, more than AGENT_AUTH_KEYRING_MAX keys or any malformed line refuse
 * the whole file. Returns the number of keys, or -EINVAL (err says line and
 * why), -ENOKEY (no key / no current key), -errno from reading (load). err
 * never contains key material. */
int agent_auth_keyring_parse(agent_auth_keyring *kr, const char *text, size_t len,
			     bool need_current, char *err, size_t errlen);
int agent_auth_keyring_load(agent_auth_keyring *kr, const char *path, bool need_current,
			    char *err, size_t errlen);
/* Revokes: tokens signed with kid stop verifying. 0 or -ENOENT. */
int agent_auth_keyring_remove(agent_auth_keyring *kr, const char *kid);

/* Signs a token for device_id on streampoint_id valid [now, now + ttl).
 * Writes a NUL-terminated string; returns its length or -EINVAL / -ENOSPC /
 * -ENOKEY (no current key). Times are Unix seconds. */
int agent_auth_token_sign(const agent_auth_keyring *kr, const char *device_id,
			  const char *streampoint_id, uint64_t now, uint32_t ttl,
			  char *out, size_t cap);

struct agent_auth_token_info {
	char device_id[AGENT_AUTH_ID_MAX + 1];
	char streampoint_id[AGENT_AUTH_ID_MAX + 1];
	char kid[AGENT_AUTH_KID_MAX + 1];
	uint64_t iat, exp;
};

/* Checks format, key id, signature (constant time), expiry and binding to
 * streampoint_id (and to device_id unless NULL). info may be NULL. */
enum agent_auth_err agent_auth_token_verify(const agent_auth_keyring *kr, const char *tok,
					    size_t len, const char *streampoint_id,
					    const char *device_id, uint64_t now,
					    struct agent_auth_token_info *info);

/* ---- HTTP/1.1 Upgrade ---- */

struct agent_auth_upgrade {
	const char *path;   /* views into the caller's buffer */
	size_t path_len;
	const char *host;
	size_t host_len;
	const char *token;  /* "Authorization: Bearer <token>"; NULL if absent */
	size_t token_len;
	size_t header_len;  /* bytes up to and including the blank line */
};

/* Parses the request. AGENT_AUTH_NEED_MORE until the blank line is in
 * (bytes after header_len are the first frames). */
enum agent_auth_err agent_auth_upgrade_parse(const char *buf, size_t len,
					     struct agent_auth_upgrade *up);
/* Writes the agent's request; token may be NULL. Length or -ENOSPC / -EINVAL. */
int agent_auth_upgrade_request(char *out, size_t cap, const char *host, const char *path,
			       const char *token);
/* Writes the 101 answer. Length or -ENOSPC. */
int agent_auth_upgrade_accept(char *out, size_t cap);
/* Agent side: parses the answer. OK only for 101 with our Upgrade and
 * Connection: upgrade; *status gets the status code when the status line
 * parsed (e.g. 401, 503). */
enum agent_auth_err agent_auth_upgrade_response_parse(const char *buf, size_t len,
						      int *status, size_t *header_len);

#endif
