/*
 * rtsp_auth: Basic and Digest for RTSP, client and server. See rtsp_auth.h.
 *
 * Hashes run over the ':'-joined parts with an incremental EVP context, so
 * no field is concatenated into a fixed buffer (a long URI cannot be cut).
 * Nothing here logs: inputs include passwords.
 */
#include "rtsp_auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "base64.h"
#include "strbuf.h"

#define DEFAULT_TTL 300
#define FUTURE_SKEW 30 /* seconds a nonce's time may be ahead of ours */

static const char *const result_names[RTSP_AUTH__COUNT] = {
	[RTSP_AUTH_OK] = "ok",
	[RTSP_AUTH_ERR_SCHEME] = "scheme",
	[RTSP_AUTH_ERR_ALG] = "algorithm",
	[RTSP_AUTH_ERR_REALM] = "realm",
	[RTSP_AUTH_ERR_NONCE] = "bad_nonce",
	[RTSP_AUTH_ERR_STALE] = "stale_nonce",
	[RTSP_AUTH_ERR_URI] = "uri",
	[RTSP_AUTH_ERR_QOP] = "qop",
	[RTSP_AUTH_ERR_RESPONSE] = "response",
};

const char *rtsp_auth_result_name(enum rtsp_auth_result r)
{
	if ((unsigned)r >= RTSP_AUTH__COUNT)
		return "unknown";
	return result_names[r];
}

static const char *const alg_names[] = {
	[RTSP_AUTH_MD5] = "MD5",
	[RTSP_AUTH_MD5_SESS] = "MD5-sess",
	[RTSP_AUTH_SHA256] = "SHA-256",
	[RTSP_AUTH_SHA256_SESS] = "SHA-256-sess",
};

static int alg_from(const char *s, size_t len, enum rtsp_auth_alg *a)
{
	for (unsigned i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++)
		if (strlen(alg_names[i]) == len && strncasecmp(alg_names[i], s, len) == 0) {
			*a = (enum rtsp_auth_alg)i;
			return 0;
		}
	return -ENOTSUP;
}

static bool is_sess(enum rtsp_auth_alg a) { return a == RTSP_AUTH_MD5_SESS || a == RTSP_AUTH_SHA256_SESS; }
static bool is_sha256(enum rtsp_auth_alg a) { return a == RTSP_AUTH_SHA256 || a == RTSP_AUTH_SHA256_SESS; }

/* ---- auth-param lists ---- */

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

struct cursor {
	const char *p, *end;
};

static void skip_ows(struct cursor *c)
{
	while (c->p < c->end && is_ows(*c->p))
		c->p++;
}

static size_t tok(struct cursor *c)
{
	const char *s = c->p;
	while (c->p < c->end && is_tchar((unsigned char)*c->p))
		c->p++;
	return (size_t)(c->p - s);
}

/*
 * Next "name = value" (value a token or a quoted-string, unescaped into
 * val). Returns 1 with a parameter, 0 at the end of this challenge (end of
 * text, or a new scheme starts), -EINVAL on syntax or a value too long.
 */
static int next_param(struct cursor *c, const char **name, size_t *nlen, char val[RTSP_AUTH_MAX_FIELD])
{
	for (;;) {
		skip_ows(c);
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			continue;
		}
		break;
	}
	if (c->p >= c->end)
		return 0;
	struct cursor save = *c;
	*name = c->p;
	*nlen = tok(c);
	if (*nlen == 0)
		return -EINVAL;
	skip_ows(c);
	if (c->p >= c->end || *c->p != '=') {
		/* "Basic realm=..., Digest ...": a token not followed by '='
		 * starts the next challenge. */
		if (c->p < c->end && *c->p != ',') {
			*c = save;
			return 0;
		}
		return -EINVAL;
	}
	c->p++;
	skip_ows(c);
	size_t n = 0;
	if (c->p < c->end && *c->p == '"') {
		c->p++;
		for (;;) {
			if (c->p >= c->end)
				return -EINVAL;
			char ch = *c->p++;
			if (ch == '"')
				break;
			if (ch == '\\') {
				if (c->p >= c->end)
					return -EINVAL;
				ch = *c->p++;
			}
			if ((unsigned char)ch < 0x20 && ch != '\t')
				return -EINVAL;
			if (n + 1 >= RTSP_AUTH_MAX_FIELD)
				return -EINVAL;
			val[n++] = ch;
		}
	} else {
		const char *s = c->p;
		while (c->p < c->end && *c->p != ',' && !is_ows(*c->p)) {
			unsigned char ch = (unsigned char)*c->p;
			if (ch < 0x21 || ch == 0x7f || ch == '"')
				return -EINVAL;
			c->p++;
		}
		n = (size_t)(c->p - s);
		if (n == 0 || n >= RTSP_AUTH_MAX_FIELD)
			return -EINVAL;
		memcpy(val, s, n);
	}
	val[n] = '\0';
	skip_ows(c);
	if (c->p < c->end && *c->p != ',')
		return -EINVAL;
	return 1;
}

static bool name_is(const char *n, size_t len, const char *lit)
{
	return strlen(lit) == len && strncasecmp(n, lit, len) == 0;
}

/* "auth" among a comma/space separated qop list */
static bool has_auth(const char *list)
{
	const char *p = list;
	while (*p) {
		while (*p == ',' || is_ows(*p))
			p++;
		size_t n = strcspn(p, ", \t");
		if (n == 4 && strncasecmp(p, "auth", 4) == 0)
			return true;
		p += n;
	}
	return false;
}

static int scheme_of(struct cursor *c, enum rtsp_auth_scheme *s)
{
	skip_ows(c);
	const char *n = c->p;
	size_t len = tok(c);
	if (len == 0)
		return -EINVAL;
	if (name_is(n, len, "Basic"))
		*s = RTSP_AUTH_BASIC;
	else if (name_is(n, len, "Digest"))
		*s = RTSP_AUTH_DIGEST;
	else
		return -ENOTSUP;
	if (c->p < c->end && !is_ows(*c->p))
		return -EINVAL;
	return 0;
}

int rtsp_auth_parse_challenge(struct rtsp_str v, struct rtsp_auth_challenge *ch)
{
	struct cursor c = { v.p, v.p + v.len };
	char val[RTSP_AUTH_MAX_FIELD];
	const char *n;
	size_t nl;
	int rc;
	bool realm = false, nonce = false, qop = false;

	memset(ch, 0, sizeof(*ch));
	if (!v.p || (rc = scheme_of(&c, &ch->scheme)))
		return v.p ? rc : -EINVAL;
	while ((rc = next_param(&c, &n, &nl, val)) == 1) {
		if (name_is(n, nl, "realm")) {
			memcpy(ch->realm, val, sizeof(val));
			realm = true;
		} else if (name_is(n, nl, "nonce")) {
			memcpy(ch->nonce, val, sizeof(val));
			nonce = true;
		} else if (name_is(n, nl, "opaque")) {
			memcpy(ch->opaque, val, sizeof(val));
			ch->has_opaque = true;
		} else if (name_is(n, nl, "algorithm")) {
			if (alg_from(val, strlen(val), &ch->alg))
				return -ENOTSUP;
			ch->has_alg = true;
		} else if (name_is(n, nl, "qop")) {
			qop = true;
			ch->qop_auth = has_auth(val);
		} else if (name_is(n, nl, "stale")) {
			ch->stale = strcasecmp(val, "true") == 0;
		}
	}
	if (rc < 0)
		return rc;
	if (ch->scheme == RTSP_AUTH_DIGEST) {
		if (!realm || !nonce)
			return -EINVAL;
		if (qop && !ch->qop_auth)
			return -ENOTSUP; /* auth-int only */
	}
	return 0;
}

static int rank(const struct rtsp_auth_challenge *c)
{
	if (c->scheme == RTSP_AUTH_DIGEST)
		return is_sha256(c->alg) ? 3 : 2;
	return c->scheme == RTSP_AUTH_BASIC ? 1 : 0;
}

int rtsp_auth_pick(const struct rtsp_msg *m, struct rtsp_auth_challenge *best)
{
	struct rtsp_auth_challenge c;
	const struct rtsp_str *v;
	uint32_t from = 0;
	int br = 0;
	while ((v = rtsp_msg_header(m, "WWW-Authenticate", &from))) {
		if (rtsp_auth_parse_challenge(*v, &c) == 0 && rank(&c) > br) {
			br = rank(&c);
			*best = c;
		}
	}
	OPENSSL_cleanse(&c, sizeof(c));
	return br ? 0 : -ENOENT;
}

/* ---- digest computation ---- */

/* hex(H(p0 ":" p1 ":" ...)) into hex (65 bytes). */
static int hash_parts(enum rtsp_auth_alg alg, const char *const *parts, size_t n, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestInit_ex(ctx, is_sha256(alg) ? EVP_sha256() : EVP_md5(), NULL);
	for (size_t i = 0; ok && i < n; i++) {
		if (i)
			ok = EVP_DigestUpdate(ctx, ":", 1);
		if (ok)
			ok = EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]));
	}
	if (ok)
		ok = EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -EIO;
	for (unsigned i = 0; i < mdlen; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[2 * mdlen] = '\0';
	OPENSSL_cleanse(md, sizeof(md));
	return 0;
}

/* The response for one request (RFC 7616 3.4.1). */
static int digest_response(enum rtsp_auth_alg alg, const char *user, const char *realm,
			   const char *pass, const char *nonce, const char *method,
			   const char *uri, bool qop, uint32_t nc, const char *cnonce, char *out)
{
	char ha1[65], ha2[65], ncs[9];
	int rc;
	const char *p1[] = { user, realm, pass };
	if ((rc = hash_parts(alg, p1, 3, ha1)))
		return rc;
	if (is_sess(alg)) {
		const char *ps[] = { ha1, nonce, cnonce };
		char tmp[65];
		if ((rc = hash_parts(alg, ps, 3, tmp)))
			return rc;
		memcpy(ha1, tmp, sizeof(tmp));
		OPENSSL_cleanse(tmp, sizeof(tmp));
	}
	const char *p2[] = { method, uri };
	if ((rc = hash_parts(alg, p2, 2, ha2)))
		return rc;
	snprintf(ncs, sizeof(ncs), "%08x", (unsigned)nc);
	if (qop) {
		const char *p3[] = { ha1, nonce, ncs, cnonce, "auth", ha2 };
		rc = hash_parts(alg, p3, 6, out);
	} else {
		const char *p3[] = { ha1, nonce, ha2 };
		rc = hash_parts(alg, p3, 3, out);
	}
	OPENSSL_cleanse(ha1, sizeof(ha1));
	return rc;
}

/* ---- client ---- */


/* name="value" with '"' and '\' escaped */
static void put_quoted(struct strbuf *o, const char *name, const char *v)
{
	strbuf_puts(o, name);
	strbuf_puts(o, "=\"");
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			strbuf_puts(o, "\\");
		strbuf_put(o, v, 1);
	}
	strbuf_puts(o, "\"");
}

static bool clean(const char *s, size_t max)
{
	size_t n = 0;
	for (; *s; s++, n++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || n >= max)
			return false;
	return true;
}

int rtsp_auth_client_header(const struct rtsp_auth_challenge *c, const char *user,
			    const char *pass, const char *method, const char *uri, uint32_t nc,
			    const char *cnonce, char *buf, size_t cap)
{
	struct strbuf o = { buf, cap, 0, cap == 0 || cap > INT32_MAX };
	if (cap)
		buf[0] = '\0';
	if (!user || !pass || !clean(user, RTSP_AUTH_MAX_FIELD - 1) ||
	    !clean(pass, RTSP_AUTH_MAX_FIELD - 1))
		return -EINVAL;
	if (c->scheme == RTSP_AUTH_BASIC) {
		char up[2 * RTSP_AUTH_MAX_FIELD];
		char b64[BASE64_ENC_LEN(sizeof(up)) + 1];
		if (strchr(user, ':'))
			return -EINVAL;
		int n = snprintf(up, sizeof(up), "%s:%s", user, pass);
		int k = base64_encode((const uint8_t *)up, (size_t)n, b64, sizeof(b64));
		OPENSSL_cleanse(up, sizeof(up));
		if (k < 0)
			return -EINVAL;
		strbuf_puts(&o, "Basic ");
		strbuf_puts(&o, b64);
		OPENSSL_cleanse(b64, sizeof(b64));
		return o.full ? -ENOSPC : (int)o.len;
	}
	if (c->scheme != RTSP_AUTH_DIGEST || !method || !uri || !clean(method, 64) ||
	    !clean(uri, 8192))
		return -EINVAL;
	bool need_cnonce = c->qop_auth || is_sess(c->alg);
	if (need_cnonce && (!cnonce || !*cnonce || !clean(cnonce, RTSP_AUTH_MAX_FIELD - 1) ||
			    nc == 0))
		return -EINVAL;
	char resp[65];
	if (digest_response(c->alg, user, c->realm, pass, c->nonce, method, uri, c->qop_auth, nc,
			    cnonce ? cnonce : "", resp))
		return -EIO;
	strbuf_puts(&o, "Digest ");
	put_quoted(&o, "username", user);
	strbuf_puts(&o, ", ");
	put_quoted(&o, "realm", c->realm);
	strbuf_puts(&o, ", ");
	put_quoted(&o, "nonce", c->nonce);
	strbuf_puts(&o, ", ");
	put_quoted(&o, "uri", uri);
	strbuf_puts(&o, ", ");
	put_quoted(&o, "response", resp);
	if (c->has_alg) {
		strbuf_puts(&o, ", algorithm=");
		strbuf_puts(&o, alg_names[c->alg]);
	}
	if (c->has_opaque) {
		strbuf_puts(&o, ", ");
		put_quoted(&o, "opaque", c->opaque);
	}
	if (c->qop_auth) {
		char ncs[16];
		snprintf(ncs, sizeof(ncs), "%08x", (unsigned)nc);
		strbuf_puts(&o, ", qop=auth, nc=");
		strbuf_puts(&o, ncs);
		strbuf_puts(&o, ", ");
		put_quoted(&o, "cnonce", cnonce);
	}
	return o.full ? -ENOSPC : (int)o.len;
}

int rtsp_auth_cnonce(char out[RTSP_AUTH_CNONCE_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	uint8_t r[RTSP_AUTH_CNONCE_LEN / 2];
	if (RAND_bytes(r, sizeof(r)) != 1)
		return -EIO;
	for (size_t i = 0; i < sizeof(r); i++) {
		out[2 * i] = digits[r[i] >> 4];
		out[2 * i + 1] = digits[r[i] & 15];
	}
	out[RTSP_AUTH_CNONCE_LEN] = '\0';
	return 0;
}

/* ---- server ---- */

struct rtsp_auth_server {
	uint8_t secret[64];
	size_t secret_len;
	char realm[RTSP_AUTH_MAX_FIELD];
	uint32_t ttl;
	bool sha256, allow_basic;
};

rtsp_auth_server *rtsp_auth_server_new(const struct rtsp_auth_server_cfg *cfg)
{
	if (!cfg || !cfg->secret || cfg->secret_len < 16 || cfg->secret_len > 64 || !cfg->realm ||
	    !*cfg->realm || !clean(cfg->realm, RTSP_AUTH_MAX_FIELD - 1) ||
	    strpbrk(cfg->realm, "\"\\"))
		return NULL;
	rtsp_auth_server *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	memcpy(s->secret, cfg->secret, cfg->secret_len);
	s->secret_len = cfg->secret_len;
	snprintf(s->realm, sizeof(s->realm), "%s", cfg->realm);
	s->ttl = cfg->nonce_ttl ? cfg->nonce_ttl : DEFAULT_TTL;
	s->sha256 = cfg->sha256;
	s->allow_basic = cfg->allow_basic;
	return s;
}

void rtsp_auth_server_free(rtsp_auth_server *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

/* nonce = hex16(t) hex32(HMAC-SHA256(secret, be64(t) || realm)[0..15]) */
static int make_nonce(const rtsp_auth_server *s, uint64_t t, char out[RTSP_AUTH_NONCE_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	uint8_t msg[8 + RTSP_AUTH_MAX_FIELD], mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t rl = strlen(s->realm);
	for (int i = 0; i < 8; i++)
		msg[i] = (uint8_t)(t >> (56 - 8 * i));
	memcpy(msg + 8, s->realm, rl);
	if (!HMAC(EVP_sha256(), s->secret, (int)s->secret_len, msg, 8 + rl, mac, &maclen))
		return -EIO;
	for (int i = 0; i < 8; i++) {
		out[2 * i] = digits[msg[i] >> 4];
		out[2 * i + 1] = digits[msg[i] & 15];
	}
	for (int i = 0; i < 16; i++) {
		out[16 + 2 * i] = digits[mac[i] >> 4];
		out[16 + 2 * i + 1] = digits[mac[i] & 15];
	}
	out[RTSP_AUTH_NONCE_LEN] = '\0';
	return 0;
}

int rtsp_auth_server_challenge(const rtsp_auth_server *s, uint64_t now, bool stale, char *buf,
			       size_t cap)
{
	char nonce[RTSP_AUTH_NONCE_LEN + 1];
	struct strbuf o = { buf, cap, 0, cap == 0 || cap > INT32_MAX };
	if (cap)
		buf[0] = '\0';
	if (make_nonce(s, now, nonce))
		return -EIO;
	strbuf_puts(&o, "Digest ");
	put_quoted(&o, "realm", s->realm);
	strbuf_puts(&o, ", ");
	put_quoted(&o, "nonce", nonce);
	strbuf_puts(&o, s->sha256 ? ", algorithm=SHA-256" : ", algorithm=MD5");
	strbuf_puts(&o, ", qop=\"auth\"");
	if (stale)
		strbuf_puts(&o, ", stale=true");
	return o.full ? -ENOSPC : (int)o.len;
}

static void copy_field(char *dst, const char *src) { memcpy(dst, src, RTSP_AUTH_MAX_FIELD); }

int rtsp_auth_parse_credentials(struct rtsp_str v, struct rtsp_auth_creds *cr)
{
	struct cursor c = { v.p, v.p + v.len };
	char val[RTSP_AUTH_MAX_FIELD];
	const char *n;
	size_t nl;
	int rc;
	unsigned seen = 0;

	memset(cr, 0, sizeof(*cr));
	if (!v.p)
		return -EINVAL;
	if ((rc = scheme_of(&c, &cr->scheme)))
		return rc;
	if (cr->scheme == RTSP_AUTH_BASIC) {
		uint8_t up[2 * RTSP_AUTH_MAX_FIELD];
		skip_ows(&c);
		const char *b = c.p;
		while (c.p < c.end && !is_ows(*c.p))
			c.p++;
		size_t bl = (size_t)(c.p - b);
		skip_ows(&c);
		int k = c.p == c.end ? base64_decode(b, bl, up, sizeof(up) - 1) : -EINVAL;
		if (k <= 0)
			return -EINVAL;
		uint8_t *colon = memchr(up, ':', (size_t)k);
		size_t ul = colon ? (size_t)(colon - up) : 0;
		size_t pl = colon ? (size_t)k - ul - 1 : 0;
		rc = -EINVAL;
		if (colon && ul < RTSP_AUTH_MAX_FIELD && pl < RTSP_AUTH_MAX_FIELD &&
		    !memchr(up, 0, (size_t)k)) {
			memcpy(cr->username, up, ul);
			memcpy(cr->password, colon + 1, pl);
			rc = 0;
		}
		OPENSSL_cleanse(up, sizeof(up));
		return rc;
	}
	while ((rc = next_param(&c, &n, &nl, val)) == 1) {
		if (name_is(n, nl, "username")) {
			copy_field(cr->username, val);
			seen |= 1;
		} else if (name_is(n, nl, "realm")) {
			copy_field(cr->realm, val);
			seen |= 2;
		} else if (name_is(n, nl, "nonce")) {
			copy_field(cr->nonce, val);
			seen |= 4;
		} else if (name_is(n, nl, "uri")) {
			copy_field(cr->uri, val);
			seen |= 8;
		} else if (name_is(n, nl, "response")) {
			copy_field(cr->response, val);
			seen |= 16;
		} else if (name_is(n, nl, "cnonce")) {
			copy_field(cr->cnonce, val);
		} else if (name_is(n, nl, "algorithm")) {
			if (alg_from(val, strlen(val), &cr->alg))
				return -ENOTSUP;
		} else if (name_is(n, nl, "qop")) {
			if (strcasecmp(val, "auth") != 0)
				return -ENOTSUP;
			cr->qop_auth = true;
		} else if (name_is(n, nl, "nc")) {
			char *end;
			if (strlen(val) != 8 || strspn(val, "0123456789abcdefABCDEF") != 8)
				return -EINVAL;
			cr->nc = (uint32_t)strtoul(val, &end, 16);
			cr->has_nc = true;
		}
	}
	if (rc < 0)
		return rc;
	return seen == 31 ? 0 : -EINVAL;
}

void rtsp_auth_creds_clear(struct rtsp_auth_creds *c) { OPENSSL_cleanse(c, sizeof(*c)); }

static bool ct_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	/* length is not secret (fixed per algorithm); the content is */
	return la == lb && CRYPTO_memcmp(a, b, la) == 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

enum rtsp_auth_result rtsp_auth_server_verify(const rtsp_auth_server *s,
					      const struct rtsp_auth_creds *c, const char *method,
					      const char *uri, const char *password, uint64_t now)
{
	if (c->scheme == RTSP_AUTH_BASIC) {
		if (!s->allow_basic)
			return RTSP_AUTH_ERR_SCHEME;
		return ct_eq(c->password, password) ? RTSP_AUTH_OK : RTSP_AUTH_ERR_RESPONSE;
	}
	if (c->scheme != RTSP_AUTH_DIGEST)
		return RTSP_AUTH_ERR_SCHEME;
	if (c->alg != (s->sha256 ? RTSP_AUTH_SHA256 : RTSP_AUTH_MD5))
		return RTSP_AUTH_ERR_ALG;
	if (strcmp(c->realm, s->realm) != 0)
		return RTSP_AUTH_ERR_REALM;
	/* nonce: ours, untouched, not from the future, not expired */
	if (strlen(c->nonce) != RTSP_AUTH_NONCE_LEN)
		return RTSP_AUTH_ERR_NONCE;
	uint64_t t = 0;
	for (int i = 0; i < 16; i++) {
		int d = hexval(c->nonce[i]);
		if (d < 0)
			return RTSP_AUTH_ERR_NONCE;
		t = t << 4 | (uint64_t)d;
	}
	char want[RTSP_AUTH_NONCE_LEN + 1];
	if (make_nonce(s, t, want) || !ct_eq(want, c->nonce))
		return RTSP_AUTH_ERR_NONCE;
	if (t > now + FUTURE_SKEW)
		return RTSP_AUTH_ERR_NONCE;
	if (now > t && now - t > s->ttl)
		return RTSP_AUTH_ERR_STALE;
	if (strcmp(c->uri, uri) != 0)
		return RTSP_AUTH_ERR_URI;
	if (c->qop_auth && (!c->has_nc || !c->cnonce[0]))
		return RTSP_AUTH_ERR_QOP;
	if (!c->qop_auth && c->cnonce[0])
		return RTSP_AUTH_ERR_QOP;
	char resp[65], got[RTSP_AUTH_MAX_FIELD];
	if (digest_response(c->alg, c->username, s->realm, password, c->nonce, method, uri,
			    c->qop_auth, c->nc, c->cnonce, resp))
		return RTSP_AUTH_ERR_RESPONSE;
	/* clients may send the hex in upper case */
	size_t i;
	for (i = 0; c->response[i] && i + 1 < sizeof(got); i++)
		got[i] = (c->response[i] >= 'A' && c->response[i] <= 'F')
			? (char)(c->response[i] - 'A' + 'a') : c->response[i];
	got[i] = '\0';
	bool ok = ct_eq(resp, got);
	OPENSSL_cleanse(resp, sizeof(resp));
	return ok ? RTSP_AUTH_OK : RTSP_AUTH_ERR_RESPONSE;
}
