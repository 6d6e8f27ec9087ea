/*
 * http_resp: HTTP/1.x response reader (http_resp.h). A state machine over
 * lines (status, headers, chunk sizes, trailers) and runs of body bytes;
 * lines are found with memchr and copied once, body bytes never.
 */
#include "http_resp.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HEADER_BYTES_CFG (1u << 20)
#define MAX_HEADERS_CFG 4096u

enum st { ST_STATUS, ST_HEADERS, ST_BODY_LEN, ST_BODY_CLOSE, ST_CHUNK_SIZE, ST_CHUNK_DATA,
	  ST_CHUNK_CR, ST_CHUNK_LF, ST_TRAILER, ST_DONE, ST_ERROR };

struct hdr {
	uint32_t no, nl, vo, vl; /* offsets into hb */
};

struct http_resp {
	enum st st;
	enum http_resp_err err;
	enum http_resp_framing framing;
	uint32_t max_hb, max_headers;
	uint64_t max_body;
	http_resp_body_fn body;
	void *ctx;
	char *hb;               /* header block, LFs included */
	uint32_t hlen, line_start;
	struct hdr *h;
	uint32_t nh;
	int status, minor;
	uint32_t reason_o, reason_l;
	uint32_t interim;
	bool headers_done;
	uint64_t left;          /* of Content-Length or of the current chunk */
	uint64_t body_bytes, extra;
	uint32_t trailer_bytes, trailers;
	char cl[HTTP_RESP_CHUNK_LINE];
	uint32_t cl_len;
};

static const char *const err_names[HTTP_RESP_ERR__COUNT] = {
	[HTTP_RESP_OK] = "ok",
	[HTTP_RESP_ERR_STATUS_LINE] = "status_line",
	[HTTP_RESP_ERR_VERSION] = "version",
	[HTTP_RESP_ERR_HEADER] = "header",
	[HTTP_RESP_ERR_NUL] = "nul",
	[HTTP_RESP_ERR_BARE_CR] = "bare_cr",
	[HTTP_RESP_ERR_HEADER_TOO_BIG] = "header_too_big",
	[HTTP_RESP_ERR_TOO_MANY_HEADERS] = "too_many_headers",
	[HTTP_RESP_ERR_CONTENT_LENGTH] = "content_length",
	[HTTP_RESP_ERR_TRANSFER_ENCODING] = "transfer_encoding",
	[HTTP_RESP_ERR_CHUNK] = "chunk",
	[HTTP_RESP_ERR_BODY_TOO_BIG] = "body_too_big",
	[HTTP_RESP_ERR_INTERIM] = "interim",
	[HTTP_RESP_ERR_TRUNCATED] = "truncated",
	[HTTP_RESP_ERR_CONSUMER] = "consumer",
};

const char *http_resp_err_name(enum http_resp_err e)
{
	return (unsigned)e < HTTP_RESP_ERR__COUNT ? err_names[e] : "?";
}

http_resp *http_resp_new(const struct http_resp_limits *lim, http_resp_body_fn body, void *ctx)
{
	struct http_resp_limits l = lim ? *lim : (struct http_resp_limits){ 0 };
	http_resp *r;

	if (!l.max_header_bytes)
		l.max_header_bytes = HTTP_RESP_DEFAULT_MAX_HEADER_BYTES;
	if (!l.max_headers)
		l.max_headers = HTTP_RESP_DEFAULT_MAX_HEADERS;
	if (!l.max_body)
		l.max_body = HTTP_RESP_DEFAULT_MAX_BODY;
	if (l.max_header_bytes > MAX_HEADER_BYTES_CFG || l.max_headers > MAX_HEADERS_CFG)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->hb = malloc(l.max_header_bytes);
	r->h = calloc(l.max_headers, sizeof(*r->h));
	if (!r->hb || !r->h) {
		http_resp_free(r);
		return NULL;
	}
	r->max_hb = l.max_header_bytes;
	r->max_headers = l.max_headers;
	r->max_body = l.max_body;
	r->body = body;
	r->ctx = ctx;
	return r;
}

void http_resp_free(http_resp *r)
{
	if (!r)
		return;
	free(r->hb);
	free(r->h);
	free(r);
}

static int fail(http_resp *r, enum http_resp_err e)
{
	r->st = ST_ERROR;
	r->err = e;
	return HTTP_RESP_ERROR;
}

/* Copies input up to and including the next LF to buf[*len..cap).
 * 1: a line is complete (LF included in *len); 0: the input ran out;
 * -1: the line does not fit. */
static int line_take(char *buf, uint32_t cap, uint32_t *len, const uint8_t **p, const uint8_t *end)
{
	const uint8_t *lf = memchr(*p, '\n', (size_t)(end - *p));
	size_t k = (size_t)((lf ? lf + 1 : end) - *p);

	if (k > cap - *len)
		return -1;
	memcpy(buf + *len, *p, k);
	*len += (uint32_t)k;
	*p += k;
	return lf != NULL;
}

/* A complete line of n bytes (LF included): its length without CR LF, or
 * a negative enum http_resp_err. */
static int line_check(const char *s, uint32_t n)
{
	n--; /* the LF */
	if (n && s[n - 1] == '\r')
		n--;
	for (uint32_t i = 0; i < n; i++) {
		if (s[i] == '\0')
			return -HTTP_RESP_ERR_NUL;
		if (s[i] == '\r')
			return -HTTP_RESP_ERR_BARE_CR;
	}
	return (int)n;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit((char)c) ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* HT, SP, visible ASCII, obs-text. */
static bool is_text(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int parse_status(http_resp *r, const char *s, uint32_t n)
{
	if (n < 12 || memcmp(s, "HTTP/", 5) || !is_digit(s[5]) || s[6] != '.' || !is_digit(s[7]) ||
	    s[8] != ' ')
		return fail(r, HTTP_RESP_ERR_STATUS_LINE);
	if (s[5] != '1' || (s[7] != '0' && s[7] != '1'))
		return fail(r, HTTP_RESP_ERR_VERSION);
	if (!is_digit(s[9]) || !is_digit(s[10]) || !is_digit(s[11]) || (n > 12 && s[12] != ' '))
		return fail(r, HTTP_RESP_ERR_STATUS_LINE);
	int code = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	if (code < 100 || code > 599 || code == 101)
		return fail(r, HTTP_RESP_ERR_STATUS_LINE);
	for (uint32_t i = 13; i < n; i++)
		if (!is_text((unsigned char)s[i]))
			return fail(r, HTTP_RESP_ERR_STATUS_LINE);
	r->status = code;
	r->minor = s[7] - '0';
	r->reason_o = (uint32_t)(s - r->hb) + (n > 13 ? 13 : n);
	r->reason_l = n > 13 ? n - 13 : 0;
	return HTTP_RESP_MORE;
}

/* name ":" OWS value OWS: offsets of name and trimmed value, or false. */
static bool split_header(const char *s, uint32_t n, uint32_t *nl, uint32_t *vo, uint32_t *vl)
{
	const char *c = memchr(s, ':', n);
	uint32_t i, e;

	if (!c || c == s)
		return false;
	*nl = (uint32_t)(c - s);
	for (i = 0; i < *nl; i++)
		if (!is_tchar((unsigned char)s[i]))
			return false;
	for (i = *nl + 1; i < n && (s[i] == ' ' || s[i] == '\t'); i++)
		;
	for (e = n; e > i && (s[e - 1] == ' ' || s[e - 1] == '\t'); e--)
		;
	for (uint32_t k = i; k < e; k++)
		if (!is_text((unsigned char)s[k]))
			return false;
	*vo = i;
	*vl = e - i;
	return true;
}

static bool str_ieq(struct http_str s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && !strncasecmp(s.p, lit, n);
}

static int deliver(http_resp *r, const uint8_t *p, size_t n)
{
	if (!n)
		return 0;
	r->body_bytes += n;
	if (r->body && r->body(r->ctx, p, n) < 0)
		return fail(r, HTTP_RESP_ERR_CONSUMER);
	return 0;
}

static int done(http_resp *r)
{
	r->st = ST_DONE;
	return HTTP_RESP_DONE;
}

/* The blank line after the headers: interim response, or the framing. */
static int headers_end(http_resp *r)
{
	struct http_str v;
	uint64_t cl = 0;
	bool has_cl = false;

	if (r->status < 200) {
		if (++r->interim > HTTP_RESP_MAX_INTERIM)
			return fail(r, HTTP_RESP_ERR_INTERIM);
		r->hlen = r->line_start = r->nh = 0;
		r->status = 0;
		r->st = ST_STATUS;
		return HTTP_RESP_MORE;
	}
	r->headers_done = true;
	if (r->status == 204 || r->status == 304) {
		r->framing = HTTP_RESP_NO_BODY;
		return done(r);
	}
	for (uint32_t i = 0; http_resp_header(r, "Content-Length", i, &v); i++) {
		uint64_t x = 0;
		if (!v.len || v.len > 19)
			return fail(r, HTTP_RESP_ERR_CONTENT_LENGTH);
		for (uint32_t k = 0; k < v.len; k++) {
			if (!is_digit(v.p[k]))
				return fail(r, HTTP_RESP_ERR_CONTENT_LENGTH);
			x = x * 10 + (uint64_t)(v.p[k] - '0');
		}
		if (has_cl && x != cl)
			return fail(r, HTTP_RESP_ERR_CONTENT_LENGTH);
		has_cl = true;
		cl = x;
	}
	if (http_resp_header(r, "Transfer-Encoding", 0, &v)) {
		if (has_cl || http_resp_header(r, "Transfer-Encoding", 1, &v) || !str_ieq(v, "chunked"))
			return fail(r, HTTP_RESP_ERR_TRANSFER_ENCODING);
		r->framing = HTTP_RESP_CHUNKED;
		r->cl_len = 0;
		r->st = ST_CHUNK_SIZE;
		return HTTP_RESP_MORE;
	}
	if (has_cl) {
		if (cl > r->max_body)
			return fail(r, HTTP_RESP_ERR_BODY_TOO_BIG);
		r->framing = HTTP_RESP_LENGTH;
		r->left = cl;
		if (!cl)
			return done(r);
		r->st = ST_BODY_LEN;
		return HTTP_RESP_MORE;
	}
	r->framing = HTTP_RESP_UNTIL_CLOSE;
	r->st = ST_BODY_CLOSE;
	return HTTP_RESP_MORE;
}

static int head_line(http_resp *r)
{
	const char *s = r->hb + r->line_start;
	int n = line_check(s, r->hlen - r->line_start);
	uint32_t nl, vo, vl;

	r->line_start = r->hlen;
	if (n < 0)
		return fail(r, (enum http_resp_err)-n);
	if (r->st == ST_STATUS) {
		if (parse_status(r, s, (uint32_t)n) < 0)
			return HTTP_RESP_ERROR;
		r->st = ST_HEADERS;
		return HTTP_RESP_MORE;
	}
	if (!n)
		return headers_end(r);
	if (!split_header(s, (uint32_t)n, &nl, &vo, &vl))
		return fail(r, HTTP_RESP_ERR_HEADER);
	if (r->nh == r->max_headers)
		return fail(r, HTTP_RESP_ERR_TOO_MANY_HEADERS);
	uint32_t base = (uint32_t)(s - r->hb);
	r->h[r->nh++] = (struct hdr){ base, nl, base + vo, vl };
	return HTTP_RESP_MORE;
}

/* chunk-size [ BWS ";" chunk-ext ]: a hex size of at most 15 digits. */
static int chunk_size_line(http_resp *r)
{
	int n = line_check(r->cl, r->cl_len);
	uint64_t x = 0;
	int i = 0;

	r->cl_len = 0;
	if (n < 0)
		return fail(r, HTTP_RESP_ERR_CHUNK);
	for (; i < n; i++) {
		char c = r->cl[i];
		int d = is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 :
			(c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
		if (d < 0)
			break;
		if (x >> 60)
			return fail(r, HTTP_RESP_ERR_CHUNK);
		x = x << 4 | (uint64_t)d;
	}
	if (!i)
		return fail(r, HTTP_RESP_ERR_CHUNK);
	if (i < n) {
		int k = i;
		while (k < n && (r->cl[k] == ' ' || r->cl[k] == '\t'))
			k++;
		if (k == n || r->cl[k] != ';')
			return fail(r, HTTP_RESP_ERR_CHUNK);
		for (; k < n; k++)
			if (!is_text((unsigned char)r->cl[k]))
				return fail(r, HTTP_RESP_ERR_CHUNK);
	}
	if (!x) {
		r->st = ST_TRAILER;
		return HTTP_RESP_MORE;
	}
	if (x > r->max_body - r->body_bytes)
		return fail(r, HTTP_RESP_ERR_BODY_TOO_BIG);
	r->left = x;
	r->st = ST_CHUNK_DATA;
	return HTTP_RESP_MORE;
}

static int trailer_line(http_resp *r)
{
	int n = line_check(r->cl, r->cl_len);
	uint32_t nl, vo, vl;

	r->trailer_bytes += r->cl_len;
	r->cl_len = 0;
	if (n < 0)
		return fail(r, (enum http_resp_err)-n);
	if (!n)
		return done(r);
	if (r->trailer_bytes > r->max_hb)
		return fail(r, HTTP_RESP_ERR_HEADER_TOO_BIG);
	if (++r->trailers > r->max_headers)
		return fail(r, HTTP_RESP_ERR_TOO_MANY_HEADERS);
	if (!split_header(r->cl, (uint32_t)n, &nl, &vo, &vl))
		return fail(r, HTTP_RESP_ERR_HEADER);
	return HTTP_RESP_MORE; /* trailers are not kept */
}

int http_resp_feed(http_resp *r, const void *buf, size_t n)
{
	const uint8_t *p = buf, *end = p + n;
	int rc;

	while (p < end) {
		size_t avail = (size_t)(end - p), k;
		switch (r->st) {
		case ST_STATUS:
		case ST_HEADERS:
			rc = line_take(r->hb, r->max_hb, &r->hlen, &p, end);
			if (rc < 0)
				return fail(r, HTTP_RESP_ERR_HEADER_TOO_BIG);
			if (rc && head_line(r) < 0)
				return HTTP_RESP_ERROR;
			continue;
		case ST_BODY_LEN:
			k = avail < r->left ? avail : (size_t)r->left;
			r->left -= k;
			if (deliver(r, p, k) < 0)
				return HTTP_RESP_ERROR;
			p += k;
			if (!r->left)
				done(r);
			continue;
		case ST_BODY_CLOSE:
			if (avail > r->max_body - r->body_bytes)
				return fail(r, HTTP_RESP_ERR_BODY_TOO_BIG);
			if (deliver(r, p, avail) < 0)
				return HTTP_RESP_ERROR;
			p = end;
			continue;
		case ST_CHUNK_SIZE:
		case ST_TRAILER:
			rc = line_take(r->cl, sizeof(r->cl), &r->cl_len, &p, end);
			if (rc < 0)
				return fail(r, r->st == ST_TRAILER ? HTTP_RESP_ERR_HEADER_TOO_BIG :
					    HTTP_RESP_ERR_CHUNK);
			if (rc && (r->st == ST_CHUNK_SIZE ? chunk_size_line(r) : trailer_line(r)) < 0)
				return HTTP_RESP_ERROR;
			continue;
		case ST_CHUNK_DATA:
			k = avail < r->left ? avail : (size_t)r->left;
			r->left -= k;
			if (deliver(r, p, k) < 0)
				return HTTP_RESP_ERROR;
			p += k;
			if (!r->left)
				r->st = ST_CHUNK_CR;
			continue;
		case ST_CHUNK_CR:
			if (*p == '\r') {
				r->st = ST_CHUNK_LF;
				p++;
				continue;
			}
			/* a bare LF ends the chunk too */
			/* fall through */
		case ST_CHUNK_LF:
			if (*p++ != '\n')
				return fail(r, HTTP_RESP_ERR_CHUNK);
			r->st = ST_CHUNK_SIZE;
			continue;
		case ST_DONE:
			r->extra += avail;
			return HTTP_RESP_DONE;
		case ST_ERROR:
			return HTTP_RESP_ERROR;
		}
	}
	return r->st == ST_DONE ? HTTP_RESP_DONE : r->st == ST_ERROR ? HTTP_RESP_ERROR : HTTP_RESP_MORE;
}

int http_resp_eof(http_resp *r)
{
	if (r->st == ST_BODY_CLOSE)
		return done(r);
	if (r->st == ST_DONE)
		return HTTP_RESP_DONE;
	if (r->st == ST_ERROR)
		return HTTP_RESP_ERROR;
	return fail(r, HTTP_RESP_ERR_TRUNCATED);
}

enum http_resp_err http_resp_error(const http_resp *r)
{
	return r->err;
}

bool http_resp_headers_done(const http_resp *r)
{
	return r->headers_done;
}

int http_resp_status(const http_resp *r)
{
	return r->headers_done ? r->status : 0;
}

int http_resp_version_minor(const http_resp *r)
{
	return r->minor;
}

struct http_str http_resp_reason(const http_resp *r)
{
	return (struct http_str){ r->headers_done ? r->hb + r->reason_o : "",
				  r->headers_done ? r->reason_l : 0 };
}

enum http_resp_framing http_resp_framing(const http_resp *r)
{
	return r->framing;
}

uint32_t http_resp_header_count(const http_resp *r)
{
	return r->headers_done ? r->nh : 0;
}

bool http_resp_header_at(const http_resp *r, uint32_t i, struct http_str *name,
			 struct http_str *value)
{
	if (i >= r->nh)
		return false;
	if (name)
		*name = (struct http_str){ r->hb + r->h[i].no, r->h[i].nl };
	if (value)
		*value = (struct http_str){ r->hb + r->h[i].vo, r->h[i].vl };
	return true;
}

bool http_resp_header(const http_resp *r, const char *name, uint32_t idx, struct http_str *value)
{
	struct http_str n, v;

	/* value is only written on a match: callers test a second lookup */
	for (uint32_t i = 0; http_resp_header_at(r, i, &n, &v); i++)
		if (str_ieq(n, name) && !idx--) {
			if (value)
				*value = v;
			return true;
		}
	return false;
}

uint64_t http_resp_body_bytes(const http_resp *r)
{
	return r->body_bytes;
}

uint64_t http_resp_extra(const http_resp *r)
{
	return r->extra;
}
