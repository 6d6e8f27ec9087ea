/*
 * fuzz_rtsp_auth: libFuzzer target for the WWW-Authenticate / Authorization
 * parsers and the Digest server (common/rtsp_auth.c).
 *
 * Input: the header value. Invariants (abort() on failure):
 *  - a challenge that parses yields an Authorization value that parses
 *    back as credentials with the same username, realm, nonce and uri;
 *  - a Digest answer to our own challenge verifies; fuzzed credentials
 *    never verify against a password they were not made with;
 *  - no parser writes past its fixed fields.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rtsp_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)               \
	do {                      \
		if (!(cond))      \
			abort();  \
	} while (0)

static const uint8_t key[32] = { 7 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rtsp_str v = { (const char *)data, (uint32_t)size };
	struct rtsp_auth_challenge c;
	struct rtsp_auth_creds cr;
	static char hdr[4096];
	if (size > 8192)
		return 0;
	if (rtsp_auth_parse_challenge(v, &c) == 0) {
		CHECK(strlen(c.realm) < RTSP_AUTH_MAX_FIELD && strlen(c.nonce) < RTSP_AUTH_MAX_FIELD);
		int n = rtsp_auth_client_header(&c, "user\"x", "pass", "DESCRIBE", "rtsp://h/s", 1,
						"0123abcd", hdr, sizeof(hdr));
		/* a realm/nonce with control characters cannot come out of the
		 * parser, so the answer is always writable */
		CHECK(n > 0);
		struct rtsp_str h = { hdr, (uint32_t)n };
		CHECK(rtsp_auth_parse_credentials(h, &cr) == 0);
		CHECK(cr.scheme == c.scheme);
		CHECK(strcmp(cr.username, "user\"x") == 0 || c.scheme == RTSP_AUTH_BASIC);
		if (c.scheme == RTSP_AUTH_DIGEST)
			CHECK(!strcmp(cr.realm, c.realm) && !strcmp(cr.nonce, c.nonce) &&
			      !strcmp(cr.uri, "rtsp://h/s"));
	}
	struct rtsp_auth_server_cfg cfg = { .secret = key, .secret_len = 32, .realm = "sp",
					    .nonce_ttl = 60, .sha256 = size & 1,
					    .allow_basic = size & 2 };
	rtsp_auth_server *s = rtsp_auth_server_new(&cfg);
	CHECK(s);
	if (rtsp_auth_parse_credentials(v, &cr) == 0) {
		enum rtsp_auth_result r = rtsp_auth_server_verify(s, &cr, "PLAY", cr.uri,
								  "not-the-password", 1000);
		/* Basic with exactly that password is the only way in */
		CHECK(r != RTSP_AUTH_OK || (cr.scheme == RTSP_AUTH_BASIC &&
					    !strcmp(cr.password, "not-the-password")));
	}
	/* our own challenge, answered with the fuzzed bytes as the password */
	char chal[512], pw[RTSP_AUTH_MAX_FIELD];
	size_t pl = size < sizeof(pw) - 1 ? size : sizeof(pw) - 1;
	memcpy(pw, data, pl);
	pw[pl] = '\0';
	CHECK(rtsp_auth_server_challenge(s, 1000, false, chal, sizeof(chal)) > 0);
	struct rtsp_str cv = { chal, (uint32_t)strlen(chal) };
	CHECK(rtsp_auth_parse_challenge(cv, &c) == 0);
	int n = rtsp_auth_client_header(&c, "viewer", pw, "PLAY", "rtsp://h/s", 1, "c0ffee", hdr,
					sizeof(hdr));
	if (n > 0) { /* -EINVAL when the password holds a control character */
		struct rtsp_str h = { hdr, (uint32_t)n };
		CHECK(rtsp_auth_parse_credentials(h, &cr) == 0);
		CHECK(rtsp_auth_server_verify(s, &cr, "PLAY", "rtsp://h/s", pw, 1010) == RTSP_AUTH_OK);
	}
	rtsp_auth_server_free(s);
	return 0;
}
