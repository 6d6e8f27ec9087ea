/*
 * rtsp_auth: HTTP-style authentication for RTSP, both sides, sans-IO.
 *
 * Client (spdp pulling a camera): parse the camera's WWW-Authenticate
 * challenges, pick the strongest (Digest SHA-256, then Digest MD5, then
 * Basic), and compute the Authorization header for each request: Basic
 * (RFC 7617) or Digest (RFC 2617 / RFC 7616: MD5, SHA-256 and their -sess
 * variants, with qop=auth and nc/cnonce, or without qop for old cameras).
 *
 * Server (spdp serving viewers): stateless Digest. The nonce is
 * hex(issue time) + hex(HMAC-SHA256(secret, time || realm))[:32], so any
 * worker can check it without a table; it expires after ttl seconds (the
 * client gets a fresh challenge with stale=true). Responses and MACs are
 * compared in constant time. A nonce can be replayed within its ttl (no nc
 * tracking): acceptable for RTSP over a connection the viewer already
 * holds, and documented in docs/rtsp.md.
 *
 * This module never logs. Credentials live in caller buffers; the server
 * handle's secret is wiped on free.
 */
#ifndef SP_RTSP_AUTH_H
#define SP_RTSP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtsp_msg.h"

#define RTSP_AUTH_MAX_FIELD 256 /* realm, nonce, opaque, username, uri, ... incl. NUL */
#define RTSP_AUTH_NONCE_LEN 48  /* server nonces: 16 + 32 hex */
#define RTSP_AUTH_CNONCE_LEN 32 /* rtsp_auth_cnonce(): hex, NUL excluded */

enum rtsp_auth_scheme { RTSP_AUTH_NONE = 0, RTSP_AUTH_BASIC, RTSP_AUTH_DIGEST };
enum rtsp_auth_alg { RTSP_AUTH_MD5 = 0, RTSP_AUTH_MD5_SESS, RTSP_AUTH_SHA256,
		     RTSP_AUTH_SHA256_SESS };

/* One WWW-Authenticate challenge. */
struct rtsp_auth_challenge {
	enum rtsp_auth_scheme scheme;
	enum rtsp_auth_alg alg;
	bool has_alg;  /* algorithm= was given (echoed back then) */
	bool qop_auth; /* qop offered and includes "auth" */
	bool stale;
	bool has_opaque;
	char realm[RTSP_AUTH_MAX_FIELD];
	char nonce[RTSP_AUTH_MAX_FIELD];
	char opaque[RTSP_AUTH_MAX_FIELD];
};

/* Parses the first challenge of a header value. 0; -EINVAL (syntax, a field
 * too long, Digest without realm or nonce); -ENOTSUP (unknown scheme or
 * algorithm, qop without "auth"). */
int rtsp_auth_parse_challenge(struct rtsp_str v, struct rtsp_auth_challenge *c);
/* The strongest usable challenge among m's WWW-Authenticate headers.
 * 0 or -ENOENT. */
int rtsp_auth_pick(const struct rtsp_msg *m, struct rtsp_auth_challenge *c);

/* Authorization header value for one request. nc counts requests made with
 * this nonce (from 1); cnonce: the client nonce (rtsp_auth_cnonce()), used
 * with qop=auth and -sess. NUL-terminated; returns the length, -ENOSPC,
 * -EINVAL (a control character in an input; ':' in a Basic username). */
int rtsp_auth_client_header(const struct rtsp_auth_challenge *c, const char *user,
			    const char *pass, const char *method, const char *uri, uint32_t nc,
			    const char *cnonce, char *out, size_t cap);
/* Random hex client nonce, RTSP_AUTH_CNONCE_LEN chars + NUL. 0 or -EIO. */
int rtsp_auth_cnonce(char out[RTSP_AUTH_CNONCE_LEN + 1]);

/* ---- server ---- */

/* Authorization header, as a viewer sent it. */
struct rtsp_auth_creds {
	enum rtsp_auth_scheme scheme;
	enum rtsp_auth_alg alg;
	bool qop_auth;
	bool has_nc;
	uint32_t nc;
	char username[RTSP_AUTH_MAX_FIELD];
	char password[RTSP_AUTH_MAX_FIELD]; /* Basic only */
	char realm[RTSP_AUTH_MAX_FIELD];
	char nonce[RTSP_AUTH_MAX_FIELD];
	char uri[RTSP_AUTH_MAX_FIELD];
	char response[RTSP_AUTH_MAX_FIELD];
	char cnonce[RTSP_AUTH_MAX_FIELD];
};

/* 0, -EINVAL (syntax, too long, Digest field missing), -ENOTSUP. */
int rtsp_auth_parse_credentials(struct rtsp_str v, struct rtsp_auth_creds *c);
/* Wipes c (it may hold a password). */
void rtsp_auth_creds_clear(struct rtsp_auth_creds *c);

enum rtsp_auth_result {
	RTSP_AUTH_OK = 0,
	RTSP_AUTH_ERR_SCHEME,   /* Basic when not allowed, or none */
	RTSP_AUTH_ERR_ALG,      /* algorithm we did not offer */
	RTSP_AUTH_ERR_REALM,
	RTSP_AUTH_ERR_NONCE,    /* not ours (forged, mangled, from the future) */
	RTSP_AUTH_ERR_STALE,    /* ours but expired: challenge again, stale=true */
	RTSP_AUTH_ERR_URI,      /* uri= is not the request's URI */
	RTSP_AUTH_ERR_QOP,      /* qop=auth without nc/cnonce */
	RTSP_AUTH_ERR_RESPONSE, /* wrong password (or user) */
	RTSP_AUTH__COUNT
};
const char *rtsp_auth_result_name(enum rtsp_auth_result r);

typedef struct rtsp_auth_server rtsp_auth_server;

struct rtsp_auth_server_cfg {
	const uint8_t *secret;  /* >= 16 bytes, e.g. from keyhex_read() */
	size_t secret_len;
	const char *realm;      /* < RTSP_AUTH_MAX_FIELD, no '"' '\\' or control */
	uint32_t nonce_ttl;     /* seconds; 0 = 300 */
	bool sha256;            /* challenge with SHA-256 (else MD5, what VMSs speak) */
	bool allow_basic;       /* accept Basic (RTSPS only, say) */
};

/* NULL for a bad config or ENOMEM. */
rtsp_auth_server *rtsp_auth_server_new(const struct rtsp_auth_server_cfg *cfg);
void rtsp_auth_server_free(rtsp_auth_server *s);
/* WWW-Authenticate value with a nonce for time now (seconds, any clock
 * that verify uses too). Returns the length or -ENOSPC. */
int rtsp_auth_server_challenge(const rtsp_auth_server *s, uint64_t now, bool stale, char *out,
			       size_t cap);
/* Checks credentials for a request (method, request URI) against the
 * password the caller looked up for c->username. */
enum rtsp_auth_result rtsp_auth_server_verify(const rtsp_auth_server *s,
					      const struct rtsp_auth_creds *c, const char *method,
					      const char *uri, const char *password, uint64_t now);

#endif
