/*
 * test_rtsp_auth: Basic and Digest, client and server.
 *  - known answers: RFC 2617's example (Mufasa, MD5, qop=auth), RFC 7616's
 *    MD5 and SHA-256 examples, RFC 7617's Basic example, an old camera
 *    without qop, MD5-sess (expected values computed independently with
 *    Python's hashlib);
 *  - a table of WWW-Authenticate values (what parses, what is refused);
 *  - the strongest challenge picked among several headers;
 *  - the server: challenge -> client answer -> verify, and each way a
 *    verification must fail (wrong password, forged/foreign/expired/future
 *    nonce, realm, URI, algorithm, qop fields, Basic when not allowed).
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rtsp_auth.h"

static struct rtsp_str S(const char *s) { return (struct rtsp_str){ s, (uint32_t)strlen(s) }; }

/* ---- client: known answers ---- */

Test(rtsp_auth, rfc2617_mufasa)
{
	struct rtsp_auth_challenge c;
	cr_assert_eq(rtsp_auth_parse_challenge(S("Digest realm=\"testrealm@host.com\", "
						 "qop=\"auth,auth-int\", "
						 "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
						 "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""),
					       &c), 0);
	cr_assert_eq(c.scheme, RTSP_AUTH_DIGEST);
	cr_assert(c.qop_auth && c.has_opaque && !c.has_alg);
	char out[512];
	int n = rtsp_auth_client_header(&c, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", 1,
					"0a4f113b", out, sizeof(out));
	static const char want[] =
		"Digest username=\"Mufasa\", realm=\"testrealm@host.com\", "
		"nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", "
		"response=\"6629fae49393a05397450978507c4ef1\", "
		"opaque=\"5ccc069c403ebaf9f0171e9517f40e41\", qop=auth, nc=00000001, "
		"cnonce=\"0a4f113b\"";
	cr_assert_eq(n, (int)sizeof(want) - 1, "%s", out);
	cr_assert_str_eq(out, want);
	for (int cap = 0; cap <= n; cap++)
		cr_assert_eq(rtsp_auth_client_header(&c, "Mufasa", "Circle Of Life", "GET",
						     "/dir/index.html", 1, "0a4f113b", out,
						     (size_t)cap), -ENOSPC);
}

static void rfc7616(const char *alg, const char *response)
{
	char hdr[512], out[512];
	snprintf(hdr, sizeof(hdr),
		 "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=%s, "
		 "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
		 "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"", alg);
	struct rtsp_auth_challenge c;
	cr_assert_eq(rtsp_auth_parse_challenge(S(hdr), &c), 0);
	cr_assert(c.has_alg && c.qop_auth);
	int n = rtsp_auth_client_header(&c, "Mufasa", "Circle of Life", "GET", "/dir/index.html", 1,
					"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", out,
					sizeof(out));
	cr_assert_gt(n, 0);
	char want[160];
	snprintf(want, sizeof(want), "response=\"%s\", algorithm=%s,", response, alg);
	cr_assert_not_null(strstr(out, want), "%s", out);
}

Test(rtsp_auth, rfc7616_md5_and_sha256)
{
	rfc7616("MD5", "8ca523f5e9506fed4657c9700eebdbec");
	rfc7616("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
}

Test(rtsp_auth, camera_without_qop)
{
	/* what many cameras send: no qop, no algorithm (RFC 2069 response) */
	struct rtsp_auth_challenge c;
	cr_assert_eq(rtsp_auth_parse_challenge(S("Digest realm=\"IP Camera(C1234)\", "
						 "nonce=\"4e5449334d4459344e6a51364f4451334d6a51324d54513d\", "
						 "stale=\"FALSE\""), &c), 0);
	cr_assert(!c.qop_auth && !c.stale);
	char out[512];
	int n = rtsp_auth_client_header(&c, "admin", "12345", "DESCRIBE",
					"rtsp://192.168.1.64:554/Streaming/Channels/101", 0, NULL,
					out, sizeof(out));
	cr_assert_gt(n, 0);
	cr_assert_str_eq(out, "Digest username=\"admin\", realm=\"IP Camera(C1234)\", "
			      "nonce=\"4e5449334d4459344e6a51364f4451334d6a51324d54513d\", "
			      "uri=\"rtsp://192.168.1.64:554/Streaming/Channels/101\", "
			      "response=\"9652adfa24617c8ee60d577873b9c171\"");
}

Test(rtsp_auth, md5_sess)
{
	struct rtsp_auth_challenge c;
	cr_assert_eq(rtsp_auth_parse_challenge(S("Digest realm=\"r\",nonce=\"n\",qop=auth,"
						 "algorithm=MD5-sess"), &c), 0);
	cr_assert_eq(c.alg, RTSP_AUTH_MD5_SESS);
	char out[512];
	cr_assert_gt(rtsp_auth_client_header(&c, "u", "p", "PLAY", "rtsp://x/s", 2, "c", out,
					     sizeof(out)), 0);
	cr_assert_not_null(strstr(out, "response=\"f89f35d75ca0e35b8e156ddcf3efda76\""), "%s", out);
	cr_assert_not_null(strstr(out, "algorithm=MD5-sess"));
	cr_assert_not_null(strstr(out, "nc=00000002"));
}

Test(rtsp_auth, basic)
{
	struct rtsp_auth_challenge c;
	cr_assert_eq(rtsp_auth_parse_challenge(S("Basic realm=\"WallyWorld\""), &c), 0);
	cr_assert_eq(c.scheme, RTSP_AUTH_BASIC);
	cr_assert_str_eq(c.realm, "WallyWorld");
	char out[128];
	int n = rtsp_auth_client_header(&c, "Aladdin", "open sesame", "DESCRIBE", "rtsp://x", 0, NULL,
					out, sizeof(out));
	cr_assert_str_eq(out, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
	for (int cap = 0; cap <= n; cap++)
		cr_assert_eq(rtsp_auth_client_header(&c, "Aladdin", "open sesame", "DESCRIBE",
						     "rtsp://x", 0, NULL, out, (size_t)cap), -ENOSPC);
	cr_assert_eq(rtsp_auth_client_header(&c, "a:b", "p", "M", "u", 0, NULL, out, sizeof(out)),
		     -EINVAL);
	cr_assert_eq(rtsp_auth_client_header(&c, "a", "p\r\nX: y", "M", "u", 0, NULL, out,
					     sizeof(out)), -EINVAL);
}

Test(rtsp_auth, client_refuses)
{
	struct rtsp_auth_challenge c;
	char out[512];
	cr_assert_eq(rtsp_auth_parse_challenge(S("Digest realm=\"r\", nonce=\"n\", qop=\"auth\""), &c), 0);
	cr_assert_eq(rtsp_auth_client_header(&c, "u", "p", "GET", "/", 1, NULL, out, sizeof(out)), -EINVAL);
	cr_assert_eq(rtsp_auth_client_header(&c, "u", "p", "GET", "/", 0, "c", out, sizeof(out)), -EINVAL);
	cr_assert_eq(rtsp_auth_client_header(&c, "u", "p", "GET", "/\n", 1, "c", out, sizeof(out)), -EINVAL);
	cr_assert_eq(rtsp_auth_client_header(&c, "u\x01", "p", "GET", "/", 1, "c", out, sizeof(out)), -EINVAL);
	/* quotes and backslashes in the username are escaped, not injected */
	cr_assert_gt(rtsp_auth_client_header(&c, "a\"b\\c", "p", "GET", "/", 1, "c", out, sizeof(out)), 0);
	cr_assert_not_null(strstr(out, "username=\"a\\\"b\\\\c\""), "%s", out);
	struct rtsp_auth_creds cr;
	cr_assert_eq(rtsp_auth_parse_credentials(S(out), &cr), 0);
	cr_assert_str_eq(cr.username, "a\"b\\c");
}

/* ---- challenge table ---- */

Test(rtsp_auth, challenge_table)
{
	static const struct {
		const char *in;
		int rc;
		enum rtsp_auth_scheme scheme;
		enum rtsp_auth_alg alg;
		bool qop, stale;
		const char *realm, *nonce;
	} c[] = {
		{ "Digest realm=\"a\", nonce=\"b\"", 0, RTSP_AUTH_DIGEST, RTSP_AUTH_MD5, false, false, "a", "b" },
		{ "digest REALM=a,NONCE=b,stale=TRUE", 0, RTSP_AUTH_DIGEST, RTSP_AUTH_MD5, false, true, "a", "b" },
		{ "Digest realm=\"a \\\"q\\\"\", nonce=\"b\", qop=\"auth-int, auth\"", 0,
		  RTSP_AUTH_DIGEST, RTSP_AUTH_MD5, true, false, "a \"q\"", "b" },
		{ "Digest realm=\"a\", nonce=\"b\", algorithm=sha-256", 0, RTSP_AUTH_DIGEST,
		  RTSP_AUTH_SHA256, false, false, "a", "b" },
		{ "Digest realm=\"a\", nonce=\"b\", algorithm=SHA-256-sess, qop=auth", 0,
		  RTSP_AUTH_DIGEST, RTSP_AUTH_SHA256_SESS, true, false, "a", "b" },
		{ "Digest realm=\"a\", nonce=\"b\", domain=\"/x /y\", charset=UTF-8", 0,
		  RTSP_AUTH_DIGEST, RTSP_AUTH_MD5, false, false, "a", "b" },
		{ "Digest realm=\"\", nonce=\"\"", 0, RTSP_AUTH_DIGEST, RTSP_AUTH_MD5, false, false, "", "" },
		{ "Basic realm=\"x\", Digest realm=\"a\", nonce=\"b\"", 0, RTSP_AUTH_BASIC,
		  RTSP_AUTH_MD5, false, false, "x", "" },
		{ "Basic", 0, RTSP_AUTH_BASIC, RTSP_AUTH_MD5, false, false, "", "" },
		{ "Digest realm=\"a\"", -EINVAL, RTSP_AUTH_NONE, RTSP_AUTH_MD5, false, false, NULL, NULL },
		{ "Digest nonce=\"b\"", -EINVAL, RTSP_AUTH_NONE, RTSP_AUTH_MD5, false, false, NULL, NULL },
		{ "Digest realm=\"a, nonce=\"b\"", -EINVAL, RTSP_AUTH_NONE, RTSP_AUTH_MD5, false, false, NULL, NULL },
		{ "Digest realm=\"a\" nonce=\"b\"", -EINVAL, RTSP_AUTH_NONE, RTSP_AUTH_MD5, false, false, NULL, NULL },
		{ "Digest realm=, nonce=b", -EINVAL, RTSP_AUTH_NONE, RTSP_AUTH_MD5, false, false, NULL, NULL },
		{ "Digest realm=\"a\x01\", nonce=\"b\"", -EINVAL, RTSP_AUTH_NONE, RTSP_AUTH_MD5, false, false, NULL, NULL },
		{ "Digest realm=\"a\", nonce=\"b\\", -EINVAL, RTSP_AUTH_NONE, RTSP_AUTH_MD5, false, false, NULL, NULL },
		{ "Digest =x", -EINVAL, RTSP_AUTH_NONE, RTSP_AUTH_MD5, false, false, NULL, NULL },
		{ "Digest realm", -EINVAL, RTSP_AUTH_NONE, RTSP_AUTH_MD5, false, false, NULL, NULL },
		{ "Digestrealm=\"a\"", -ENOTSUP, RTSP_AUTH_NONE, RTSP_AUTH_MD5, false, false, NULL, NULL },
		{ "", -EINVAL, RTSP_AUTH_NONE, RTSP_AUTH_MD5, false, false, NULL, NULL },
		{ "Bearer realm=\"x\"", -ENOTSUP, RTSP_AUTH_NONE, RTSP_AUTH_MD5, false, false, NULL, NULL },
		{ "NTLM", -ENOTSUP, RTSP_AUTH_NONE, RTSP_AUTH_MD5, false, false, NULL, NULL },
		{ "Digest realm=\"a\", nonce=\"b\", algorithm=SHA-512-256", -ENOTSUP, RTSP_AUTH_NONE, RTSP_AUTH_MD5, false, false, NULL, NULL },
		{ "Digest realm=\"a\", nonce=\"b\", qop=\"auth-int\"", -ENOTSUP, RTSP_AUTH_NONE, RTSP_AUTH_MD5, false, false, NULL, NULL },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct rtsp_auth_challenge ch;
		int rc = rtsp_auth_parse_challenge(S(c[i].in), &ch);
		cr_assert_eq(rc, c[i].rc, "%s: %d", c[i].in, rc);
		if (rc)
			continue;
		cr_assert_eq(ch.scheme, c[i].scheme, "%s", c[i].in);
		cr_assert_eq(ch.alg, c[i].alg, "%s", c[i].in);
		cr_assert_eq(ch.qop_auth, c[i].qop, "%s", c[i].in);
		cr_assert_eq(ch.stale, c[i].stale, "%s", c[i].in);
		cr_assert_str_eq(ch.realm, c[i].realm);
		cr_assert_str_eq(ch.nonce, c[i].nonce);
	}
	/* a field of 255 bytes fits, 256 does not */
	char big[400];
	for (int len = 255; len <= 256; len++) {
		snprintf(big, sizeof(big), "Digest realm=\"%0*d\", nonce=\"n\"", len, 0);
		struct rtsp_auth_challenge ch;
		cr_assert_eq(rtsp_auth_parse_challenge(S(big), &ch), len == 255 ? 0 : -EINVAL);
	}
}

Test(rtsp_auth, pick_strongest)
{
	static const char in[] = "RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\n"
				 "WWW-Authenticate: Basic realm=\"cam\"\r\n"
				 "WWW-Authenticate: Digest realm=\"cam\", nonce=\"m\"\r\n"
				 "WWW-Authenticate: Digest realm=\"cam\", nonce=\"s\", algorithm=SHA-256\r\n"
				 "WWW-Authenticate: Negotiate abc\r\n\r\n";
	rtsp_reader *r = rtsp_reader_new(NULL);
	size_t used;
	struct rtsp_event ev;
	cr_assert_eq(rtsp_reader_feed(r, (const uint8_t *)in, sizeof(in) - 1, &used, &ev), 1);
	struct rtsp_auth_challenge c;
	cr_assert_eq(rtsp_auth_pick(ev.msg, &c), 0);
	cr_assert_eq(c.alg, RTSP_AUTH_SHA256);
	cr_assert_str_eq(c.nonce, "s");
	rtsp_reader_free(r);

	static const char none[] = "RTSP/1.0 401 Unauthorized\r\nWWW-Authenticate: NTLM\r\n\r\n";
	r = rtsp_reader_new(NULL);
	cr_assert_eq(rtsp_reader_feed(r, (const uint8_t *)none, sizeof(none) - 1, &used, &ev), 1);
	cr_assert_eq(rtsp_auth_pick(ev.msg, &c), -ENOENT);
	rtsp_reader_free(r);
}

Test(rtsp_auth, cnonce)
{
	char a[RTSP_AUTH_CNONCE_LEN + 1], b[RTSP_AUTH_CNONCE_LEN + 1];
	cr_assert_eq(rtsp_auth_cnonce(a), 0);
	cr_assert_eq(rtsp_auth_cnonce(b), 0);
	cr_assert_eq(strlen(a), RTSP_AUTH_CNONCE_LEN);
	cr_assert_str_neq(a, b);
}

/* ---- server ---- */

static const uint8_t secret[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
#define T0 1700000000ull
#define URI "rtsp://sp.example/cam1/main"

static rtsp_auth_server *server(bool sha256, bool basic, const uint8_t *key)
{
	struct rtsp_auth_server_cfg cfg = { .secret = key, .secret_len = 32, .realm = "streampoint",
					    .nonce_ttl = 60, .sha256 = sha256, .allow_basic = basic };
	rtsp_auth_server *s = rtsp_auth_server_new(&cfg);
	cr_assert_not_null(s);
	return s;
}

/* A viewer answering the server's challenge issued at t_issue. */
static void answer(const rtsp_auth_server *s, uint64_t t_issue, const char *user, const char *pass,
		   const char *method, const char *uri, struct rtsp_auth_creds *cr, char *hdr, size_t cap)
{
	char chal[256];
	struct rtsp_auth_challenge c;
	cr_assert_gt(rtsp_auth_server_challenge(s, t_issue, false, chal, sizeof(chal)), 0);
	cr_assert_eq(rtsp_auth_parse_challenge(S(chal), &c), 0, "%s", chal);
	cr_assert(c.qop_auth && c.has_alg);
	cr_assert_eq(strlen(c.nonce), RTSP_AUTH_NONCE_LEN);
	cr_assert_gt(rtsp_auth_client_header(&c, user, pass, method, uri, 1, "deadbeef", hdr, cap), 0);
	cr_assert_eq(rtsp_auth_parse_credentials(S(hdr), cr), 0, "%s", hdr);
}

Test(rtsp_auth, server_round_trip)
{
	for (int sha = 0; sha < 2; sha++) {
		rtsp_auth_server *s = server(sha, false, secret);
		struct rtsp_auth_creds cr;
		char hdr[512];
		answer(s, T0, "viewer", "pw", "DESCRIBE", URI, &cr, hdr, sizeof(hdr));
		cr_assert_str_eq(cr.username, "viewer");
		cr_assert(cr.qop_auth && cr.has_nc && cr.nc == 1);
		cr_assert_eq(rtsp_auth_server_verify(s, &cr, "DESCRIBE", URI, "pw", T0), RTSP_AUTH_OK);
		cr_assert_eq(rtsp_auth_server_verify(s, &cr, "DESCRIBE", URI, "pw", T0 + 60), RTSP_AUTH_OK);
		cr_assert_eq(rtsp_auth_server_verify(s, &cr, "DESCRIBE", URI, "pw", T0 + 61),
			     RTSP_AUTH_ERR_STALE);
		cr_assert_eq(rtsp_auth_server_verify(s, &cr, "DESCRIBE", URI, "pW", T0),
			     RTSP_AUTH_ERR_RESPONSE);
		cr_assert_eq(rtsp_auth_server_verify(s, &cr, "SETUP", URI, "pw", T0),
			     RTSP_AUTH_ERR_RESPONSE, "method is covered");
		cr_assert_eq(rtsp_auth_server_verify(s, &cr, "DESCRIBE", URI "/x", "pw", T0),
			     RTSP_AUTH_ERR_URI);
		/* issued in the (near) future: clock skew between workers is tolerated */
		cr_assert_eq(rtsp_auth_server_verify(s, &cr, "DESCRIBE", URI, "pw", T0 - 30), RTSP_AUTH_OK);
		cr_assert_eq(rtsp_auth_server_verify(s, &cr, "DESCRIBE", URI, "pw", T0 - 31),
			     RTSP_AUTH_ERR_NONCE);
		/* upper-case hex response */
		struct rtsp_auth_creds up = cr;
		for (char *p = up.response; *p; p++)
			if (*p >= 'a' && *p <= 'f')
				*p = (char)(*p - 'a' + 'A');
		cr_assert_eq(rtsp_auth_server_verify(s, &up, "DESCRIBE", URI, "pw", T0), RTSP_AUTH_OK);
		/* the other algorithm is refused */
		struct rtsp_auth_creds other = cr;
		other.alg = sha ? RTSP_AUTH_MD5 : RTSP_AUTH_SHA256;
		cr_assert_eq(rtsp_auth_server_verify(s, &other, "DESCRIBE", URI, "pw", T0),
			     RTSP_AUTH_ERR_ALG);
		rtsp_auth_creds_clear(&cr);
		rtsp_auth_server_free(s);
	}
}

Test(rtsp_auth, server_rejects_nonces)
{
	rtsp_auth_server *s = server(false, false, secret);
	struct rtsp_auth_creds cr, t;
	char hdr[512];
	answer(s, T0, "viewer", "pw", "PLAY", URI, &cr, hdr, sizeof(hdr));
	/* every single-character change of the nonce is caught */
	for (size_t i = 0; i < RTSP_AUTH_NONCE_LEN; i++) {
		t = cr;
		t.nonce[i] = t.nonce[i] == '0' ? '1' : '0';
		cr_assert_eq(rtsp_auth_server_verify(s, &t, "PLAY", URI, "pw", T0), RTSP_AUTH_ERR_NONCE,
			     "offset %zu", i);
	}
	t = cr;
	t.nonce[10] = 'g';
	cr_assert_eq(rtsp_auth_server_verify(s, &t, "PLAY", URI, "pw", T0), RTSP_AUTH_ERR_NONCE);
	t = cr;
	t.nonce[RTSP_AUTH_NONCE_LEN - 1] = '\0';
	cr_assert_eq(rtsp_auth_server_verify(s, &t, "PLAY", URI, "pw", T0), RTSP_AUTH_ERR_NONCE);
	/* another server's secret */
	uint8_t other_key[32] = { 9 };
	rtsp_auth_server *o = server(false, false, other_key);
	cr_assert_eq(rtsp_auth_server_verify(o, &cr, "PLAY", URI, "pw", T0), RTSP_AUTH_ERR_NONCE);
	rtsp_auth_server_free(o);
	/* realm */
	t = cr;
	strcpy(t.realm, "other");
	cr_assert_eq(rtsp_auth_server_verify(s, &t, "PLAY", URI, "pw", T0), RTSP_AUTH_ERR_REALM);
	/* qop=auth without cnonce, or cnonce without qop */
	t = cr;
	t.cnonce[0] = '\0';
	cr_assert_eq(rtsp_auth_server_verify(s, &t, "PLAY", URI, "pw", T0), RTSP_AUTH_ERR_QOP);
	t = cr;
	t.qop_auth = false;
	cr_assert_eq(rtsp_auth_server_verify(s, &t, "PLAY", URI, "pw", T0), RTSP_AUTH_ERR_QOP);
	/* the stale challenge says so */
	char chal[256];
	cr_assert_gt(rtsp_auth_server_challenge(s, T0, true, chal, sizeof(chal)), 0);
	struct rtsp_auth_challenge c;
	cr_assert_eq(rtsp_auth_parse_challenge(S(chal), &c), 0);
	cr_assert(c.stale);
	rtsp_auth_server_free(s);
}

Test(rtsp_auth, server_no_qop_client)
{
	/* an RFC 2069 client (no qop) still verifies */
	rtsp_auth_server *s = server(false, false, secret);
	char chal[256], hdr[512];
	struct rtsp_auth_challenge c;
	struct rtsp_auth_creds cr;
	cr_assert_gt(rtsp_auth_server_challenge(s, T0, false, chal, sizeof(chal)), 0);
	cr_assert_eq(rtsp_auth_parse_challenge(S(chal), &c), 0);
	c.qop_auth = false;
	cr_assert_gt(rtsp_auth_client_header(&c, "v", "pw", "OPTIONS", "*", 0, NULL, hdr, sizeof(hdr)), 0);
	cr_assert_eq(rtsp_auth_parse_credentials(S(hdr), &cr), 0);
	cr_assert_eq(rtsp_auth_server_verify(s, &cr, "OPTIONS", "*", "pw", T0 + 1), RTSP_AUTH_OK);
	rtsp_auth_server_free(s);
}

Test(rtsp_auth, server_basic)
{
	rtsp_auth_server *no = server(false, false, secret), *yes = server(false, true, secret);
	struct rtsp_auth_creds cr;
	cr_assert_eq(rtsp_auth_parse_credentials(S("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="), &cr), 0);
	cr_assert_str_eq(cr.username, "Aladdin");
	cr_assert_str_eq(cr.password, "open sesame");
	cr_assert_eq(rtsp_auth_server_verify(no, &cr, "PLAY", URI, "open sesame", T0), RTSP_AUTH_ERR_SCHEME);
	cr_assert_eq(rtsp_auth_server_verify(yes, &cr, "PLAY", URI, "open sesame", T0), RTSP_AUTH_OK);
	cr_assert_eq(rtsp_auth_server_verify(yes, &cr, "PLAY", URI, "open sesamE", T0), RTSP_AUTH_ERR_RESPONSE);
	cr_assert_eq(rtsp_auth_server_verify(yes, &cr, "PLAY", URI, "open sesame!", T0), RTSP_AUTH_ERR_RESPONSE);
	rtsp_auth_creds_clear(&cr);
	cr_assert_eq(cr.password[0], 0);
	rtsp_auth_server_free(no);
	rtsp_auth_server_free(yes);
}

Test(rtsp_auth, credentials_table)
{
	static const struct {
		const char *in;
		int rc;
	} c[] = {
		{ "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", 0 },
		{ "Basic QWxhZGRpbjo=", 0 },                /* "Aladdin:" empty password */
		{ "Basic QWxhZGRpbg==", -EINVAL },          /* no colon */
		{ "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ", 0 },   /* unpadded: accepted */
		{ "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=", -EINVAL }, /* half padded */
		{ "Basic QWxhZGRpbjpvcGVuIHNlc2FtZ", -EINVAL }, /* 4n+1 characters */
		{ "Basic QWxhZGRp*npvcGVuIHNlc2FtZQ==", -EINVAL },
		{ "Basic", -EINVAL },
		{ "Basic QWxh ZGRp", -EINVAL },
		{ "Basic YQBiOmM=", -EINVAL },              /* "a\0b:c" */
		{ "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"x\"", 0 },
		{ "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\"", -EINVAL },
		{ "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"x\", nc=1",
		  -EINVAL },
		{ "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"x\", "
		  "nc=0000000g", -EINVAL },
		{ "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"x\", "
		  "qop=auth-int", -ENOTSUP },
		{ "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"x\", "
		  "algorithm=MD4", -ENOTSUP },
		{ "Token abc", -ENOTSUP },
		{ "", -EINVAL },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct rtsp_auth_creds cr;
		cr_assert_eq(rtsp_auth_parse_credentials(S(c[i].in), &cr), c[i].rc, "%s", c[i].in);
	}
}

Test(rtsp_auth, server_config)
{
	struct rtsp_auth_server_cfg cfg = { .secret = secret, .secret_len = 15, .realm = "r" };
	cr_assert_null(rtsp_auth_server_new(&cfg));
	cfg.secret_len = 16;
	cr_assert_not_null(cfg.realm);
	rtsp_auth_server *s = rtsp_auth_server_new(&cfg);
	cr_assert_not_null(s);
	rtsp_auth_server_free(s);
	cfg.realm = "a\"b";
	cr_assert_null(rtsp_auth_server_new(&cfg));
	cfg.realm = "a\r\nb";
	cr_assert_null(rtsp_auth_server_new(&cfg));
	cfg.realm = "";
	cr_assert_null(rtsp_auth_server_new(&cfg));
	cr_assert_null(rtsp_auth_server_new(NULL));
	for (int r = 0; r < RTSP_AUTH__COUNT; r++)
		cr_assert_str_neq(rtsp_auth_result_name((enum rtsp_auth_result)r), "unknown");
}
