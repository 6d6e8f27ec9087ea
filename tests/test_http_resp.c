/*
 * test_http_resp: the HTTP/1.x response reader (common/http_resp.c).
 *  - a table of responses and what each must give (result, error, status,
 *    decoded body, framing), each read whole, byte by byte and split at
 *    every offset: the outcome must not change;
 *  - chunked edge cases (extensions, trailers, bare LF, hex case, sizes that
 *    overflow), bad and conflicting lengths, smuggling shapes;
 *  - hostile sizes: 1 MiB of header, 10k headers, bodies over the cap;
 *  - header lookups, 1xx skipped, extra bytes after the end counted.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_resp.h"

struct sink {
	char buf[4096];
	size_t len;
	int stop_after; /* refuse once this many bytes came (0: never) */
	int status_seen;
};

static int on_body(void *ctx, const uint8_t *p, size_t n)
{
	struct sink *s = ctx;
	if (n > sizeof(s->buf) - s->len)
		n = sizeof(s->buf) - s->len;
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	return s->stop_after && s->len >= (size_t)s->stop_after ? -1 : 0;
}

struct tcase {
	const char *name;
	const char *in;
	bool eof;          /* the connection closes after the input */
	int rc;            /* HTTP_RESP_DONE / ERROR / MORE */
	enum http_resp_err err;
	int status;
	const char *body;
	enum http_resp_framing framing;
};

static const struct tcase cases[] = {
	{ "length", "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 5\r\n\r\nhello",
	  false, HTTP_RESP_DONE, 0, 200, "hello", HTTP_RESP_LENGTH },
	{ "length 0", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, HTTP_RESP_DONE, 0, 200,
	  "", HTTP_RESP_LENGTH },
	{ "http/1.0 until close", "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nabc\r\ndef", true,
	  HTTP_RESP_DONE, 0, 200, "abc\r\ndef", HTTP_RESP_UNTIL_CLOSE },
	{ "until close, not closed yet", "HTTP/1.1 200 OK\r\n\r\nabc", false, HTTP_RESP_MORE, 0, 200,
	  "abc", HTTP_RESP_UNTIL_CLOSE },
	{ "bare LF lines", "HTTP/1.1 404 Not Found\nContent-Length: 3\n\nnop", false, HTTP_RESP_DONE,
	  0, 404, "nop", HTTP_RESP_LENGTH },
	{ "no reason", "HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx", false, HTTP_RESP_DONE, 0, 200,
	  "x", HTTP_RESP_LENGTH },
	{ "empty reason", "HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\nx", false, HTTP_RESP_DONE, 0,
	  200, "x", HTTP_RESP_LENGTH },
	{ "204 no body", "HTTP/1.1 204 No Content\r\nContent-Length: 99\r\n\r\n", false,
	  HTTP_RESP_DONE, 0, 204, "", HTTP_RESP_NO_BODY },
	{ "304 no body", "HTTP/1.1 304 Not Modified\r\n\r\n", false, HTTP_RESP_DONE, 0, 304, "",
	  HTTP_RESP_NO_BODY },
	{ "100 continue skipped",
	  "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\n"
	  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, HTTP_RESP_DONE, 0, 200, "ok",
	  HTTP_RESP_LENGTH },
	{ "same length twice", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length:2\r\n\r\nok",
	  false, HTTP_RESP_DONE, 0, 200, "ok", HTTP_RESP_LENGTH },
	{ "OWS around values", "HTTP/1.1 200 OK\r\nContent-Length: \t 2 \t\r\n\r\nok", false,
	  HTTP_RESP_DONE, 0, 200, "ok", HTTP_RESP_LENGTH },
	{ "truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", true, HTTP_RESP_ERROR,
	  HTTP_RESP_ERR_TRUNCATED, 200, "hel", HTTP_RESP_LENGTH },
	{ "truncated head", "HTTP/1.1 200 OK\r\nContent-Le", true, HTTP_RESP_ERROR,
	  HTTP_RESP_ERR_TRUNCATED, 0, "", HTTP_RESP_NO_BODY },
	{ "closed before anything", "", true, HTTP_RESP_ERROR, HTTP_RESP_ERR_TRUNCATED, 0, "",
	  HTTP_RESP_NO_BODY },
	/* chunked */
	{ "chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	  "5\r\nhello\r\n1;ext=1;x\r\n \r\nA\r\n0123456789\r\n0\r\n\r\n", false, HTTP_RESP_DONE, 0,
	  200, "hello 0123456789", HTTP_RESP_CHUNKED },
	{ "chunked hex case, leading zeros, trailers",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
	  "0000b\r\nhello world\r\nB\r\nHELLO WORLD\r\n000\r\nX-Sum: 1\r\nX-More: 2\r\n\r\n", false,
	  HTTP_RESP_DONE, 0, 200, "hello worldHELLO WORLD", HTTP_RESP_CHUNKED },
	{ "chunked, headers after TE", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	  "Connection: close\r\n\r\n2\r\nab\r\n0\r\n\r\n", false, HTTP_RESP_DONE, 0, 200, "ab",
	  HTTP_RESP_CHUNKED },
	{ "chunked bare LF", "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n", false,
	  HTTP_RESP_DONE, 0, 200, "abc", HTTP_RESP_CHUNKED },
	{ "chunk BWS before ext", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	  "3 ;a\r\nabc\r\n0\r\n\r\n", false, HTTP_RESP_DONE, 0, 200, "abc", HTTP_RESP_CHUNKED },
	{ "chunk without CRLF after data", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	  "3\r\nabcd\r\n0\r\n\r\n", false, HTTP_RESP_ERROR, HTTP_RESP_ERR_CHUNK, 200, "abc",
	  HTTP_RESP_CHUNKED },
	{ "chunk size not hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false,
	  HTTP_RESP_ERROR, HTTP_RESP_ERR_CHUNK, 200, "", HTTP_RESP_CHUNKED },
	{ "chunk size empty", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", false,
	  HTTP_RESP_ERROR, HTTP_RESP_ERR_CHUNK, 200, "", HTTP_RESP_CHUNKED },
	{ "chunk size signed", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", false,
	  HTTP_RESP_ERROR, HTTP_RESP_ERR_CHUNK, 200, "", HTTP_RESP_CHUNKED },
	{ "chunk size junk after", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3x\r\n",
	  false, HTTP_RESP_ERROR, HTTP_RESP_ERR_CHUNK, 200, "", HTTP_RESP_CHUNKED },
	{ "chunk size overflows", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	  "10000000000000001\r\n", false, HTTP_RESP_ERROR, HTTP_RESP_ERR_CHUNK, 200, "",
	  HTTP_RESP_CHUNKED },
	{ "chunk over the body cap", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	  "1000001\r\n", false, HTTP_RESP_ERROR, HTTP_RESP_ERR_BODY_TOO_BIG, 200, "",
	  HTTP_RESP_CHUNKED },
	{ "chunk line NUL", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;\0\r\n", false,
	  HTTP_RESP_ERROR, HTTP_RESP_ERR_CHUNK, 200, "", HTTP_RESP_CHUNKED },
	{ "chunked truncated", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", true,
	  HTTP_RESP_ERROR, HTTP_RESP_ERR_TRUNCATED, 200, "ab", HTTP_RESP_CHUNKED },
	{ "chunked missing last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	  "3\r\nabc\r\n", true, HTTP_RESP_ERROR, HTTP_RESP_ERR_TRUNCATED, 200, "abc",
	  HTTP_RESP_CHUNKED },
	{ "bad trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nno colon\r\n\r\n",
	  false, HTTP_RESP_ERROR, HTTP_RESP_ERR_HEADER, 200, "", HTTP_RESP_CHUNKED },
	{ "TE and CL (smuggling)", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
	  "Transfer-Encoding: chunked\r\n\r\n", false, HTTP_RESP_ERROR,
	  HTTP_RESP_ERR_TRANSFER_ENCODING, 200, "", HTTP_RESP_NO_BODY },
	{ "TE gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false,
	  HTTP_RESP_ERROR, HTTP_RESP_ERR_TRANSFER_ENCODING, 200, "", HTTP_RESP_NO_BODY },
	{ "TE twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked"
	  "\r\n\r\n", false, HTTP_RESP_ERROR, HTTP_RESP_ERR_TRANSFER_ENCODING, 200, "",
	  HTTP_RESP_NO_BODY },
	/* lengths */
	{ "CL disagree", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", false,
	  HTTP_RESP_ERROR, HTTP_RESP_ERR_CONTENT_LENGTH, 200, "", HTTP_RESP_NO_BODY },
	{ "CL list", "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", false, HTTP_RESP_ERROR,
	  HTTP_RESP_ERR_CONTENT_LENGTH, 200, "", HTTP_RESP_NO_BODY },
	{ "CL negative", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false, HTTP_RESP_ERROR,
	  HTTP_RESP_ERR_CONTENT_LENGTH, 200, "", HTTP_RESP_NO_BODY },
	{ "CL plus", "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n", false, HTTP_RESP_ERROR,
	  HTTP_RESP_ERR_CONTENT_LENGTH, 200, "", HTTP_RESP_NO_BODY },
	{ "CL hex", "HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n", false, HTTP_RESP_ERROR,
	  HTTP_RESP_ERR_CONTENT_LENGTH, 200, "", HTTP_RESP_NO_BODY },
	{ "CL empty", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", false, HTTP_RESP_ERROR,
	  HTTP_RESP_ERR_CONTENT_LENGTH, 200, "", HTTP_RESP_NO_BODY },
	{ "CL 20 digits", "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551617\r\n\r\n", false,
	  HTTP_RESP_ERROR, HTTP_RESP_ERR_CONTENT_LENGTH, 200, "", HTTP_RESP_NO_BODY },
	{ "CL over the cap", "HTTP/1.1 200 OK\r\nContent-Length: 16777217\r\n\r\n", false,
	  HTTP_RESP_ERROR, HTTP_RESP_ERR_BODY_TOO_BIG, 200, "", HTTP_RESP_NO_BODY },
	/* status line */
	{ "HTTP/2", "HTTP/2.0 200 OK\r\n\r\n", false, HTTP_RESP_ERROR, HTTP_RESP_ERR_VERSION, 0, "",
	  HTTP_RESP_NO_BODY },
	{ "HTTP/1.2", "HTTP/1.2 200 OK\r\n\r\n", false, HTTP_RESP_ERROR, HTTP_RESP_ERR_VERSION, 0,
	  "", HTTP_RESP_NO_BODY },
	{ "RTSP", "RTSP/1.0 200 OK\r\n\r\n", false, HTTP_RESP_ERROR, HTTP_RESP_ERR_STATUS_LINE, 0,
	  "", HTTP_RESP_NO_BODY },
	{ "blank first", "\r\nHTTP/1.1 200 OK\r\n\r\n", false, HTTP_RESP_ERROR,
	  HTTP_RESP_ERR_STATUS_LINE, 0, "", HTTP_RESP_NO_BODY },
	{ "code 2 digits", "HTTP/1.1 20 OK\r\n\r\n", false, HTTP_RESP_ERROR,
	  HTTP_RESP_ERR_STATUS_LINE, 0, "", HTTP_RESP_NO_BODY },
	{ "code 4 digits", "HTTP/1.1 2000 OK\r\n\r\n", false, HTTP_RESP_ERROR,
	  HTTP_RESP_ERR_STATUS_LINE, 0, "", HTTP_RESP_NO_BODY },
	{ "code 600", "HTTP/1.1 600 X\r\n\r\n", false, HTTP_RESP_ERROR, HTTP_RESP_ERR_STATUS_LINE, 0,
	  "", HTTP_RESP_NO_BODY },
	{ "101 unasked", "HTTP/1.1 101 Switching\r\n\r\n", false, HTTP_RESP_ERROR,
	  HTTP_RESP_ERR_STATUS_LINE, 0, "", HTTP_RESP_NO_BODY },
	{ "control in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", false, HTTP_RESP_ERROR,
	  HTTP_RESP_ERR_STATUS_LINE, 0, "", HTTP_RESP_NO_BODY },
	{ "too many 1xx", "HTTP/1.1 100 C\r\n\r\nHTTP/1.1 100 C\r\n\r\nHTTP/1.1 100 C\r\n\r\n"
	  "HTTP/1.1 100 C\r\n\r\nHTTP/1.1 100 C\r\n\r\nHTTP/1.1 100 C\r\n\r\nHTTP/1.1 100 C\r\n\r\n"
	  "HTTP/1.1 100 C\r\n\r\nHTTP/1.1 100 C\r\n\r\n", false, HTTP_RESP_ERROR,
	  HTTP_RESP_ERR_INTERIM, 0, "", HTTP_RESP_NO_BODY },
	/* headers */
	{ "space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\nx", false,
	  HTTP_RESP_ERROR, HTTP_RESP_ERR_HEADER, 0, "", HTTP_RESP_NO_BODY },
	{ "obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", false, HTTP_RESP_ERROR,
	  HTTP_RESP_ERR_HEADER, 0, "", HTTP_RESP_NO_BODY },
	{ "no colon", "HTTP/1.1 200 OK\r\nContent-Length 1\r\n\r\n", false, HTTP_RESP_ERROR,
	  HTTP_RESP_ERR_HEADER, 0, "", HTTP_RESP_NO_BODY },
	{ "empty name", "HTTP/1.1 200 OK\r\n: 1\r\n\r\n", false, HTTP_RESP_ERROR,
	  HTTP_RESP_ERR_HEADER, 0, "", HTTP_RESP_NO_BODY },
	{ "control in value", "HTTP/1.1 200 OK\r\nX: a\x7f\r\n\r\n", false, HTTP_RESP_ERROR,
	  HTTP_RESP_ERR_HEADER, 0, "", HTTP_RESP_NO_BODY },
	{ "NUL in header", "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n", false, HTTP_RESP_ERROR,
	  HTTP_RESP_ERR_NUL, 0, "", HTTP_RESP_NO_BODY },
	{ "bare CR", "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", false, HTTP_RESP_ERROR,
	  HTTP_RESP_ERR_BARE_CR, 0, "", HTTP_RESP_NO_BODY },
};

/* Inputs hold NULs: lengths come from the literal, so the table keeps a
 * length per case computed from a parallel sizeof table. */
#define LEN(i) (case_len[i])
static size_t case_len[sizeof(cases) / sizeof(cases[0])];

static void init_lengths(void)
{
	/* strlen is wrong for the NUL cases: find them by name. */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *s = cases[i].in;
		size_t n = strlen(s);
		if (!strcmp(cases[i].name, "NUL in header") || !strcmp(cases[i].name, "chunk line NUL"))
			n += 1 + strlen(s + n + 1);
		case_len[i] = n;
	}
}

struct outcome {
	int rc;
	enum http_resp_err err;
	int status;
	enum http_resp_framing framing;
	struct sink sink;
};

/* Feeds in pieces: cut[] are the piece ends (ascending, last == n). */
static void run(const struct tcase *c, size_t n, const size_t *cuts, size_t ncuts,
		struct outcome *o)
{
	memset(o, 0, sizeof(*o));
	http_resp *r = http_resp_new(NULL, on_body, &o->sink);
	cr_assert(r);
	size_t at = 0;
	int rc = HTTP_RESP_MORE;
	for (size_t i = 0; i < ncuts && rc == HTTP_RESP_MORE; i++) {
		rc = http_resp_feed(r, c->in + at, cuts[i] - at);
		at = cuts[i];
	}
	if (c->eof && rc == HTTP_RESP_MORE)
		rc = http_resp_eof(r);
	o->rc = rc;
	o->err = http_resp_error(r);
	o->status = http_resp_status(r);
	o->framing = http_resp_framing(r);
	http_resp_free(r);
	(void)n;
}

static void check(const struct tcase *c, const struct outcome *o, const char *how)
{
	cr_expect_eq(o->rc, c->rc, "%s (%s): rc %d, want %d (err %s)", c->name, how, o->rc, c->rc,
		     http_resp_err_name(o->err));
	cr_expect_eq(o->err, c->err, "%s (%s): err %s, want %s", c->name, how,
		     http_resp_err_name(o->err), http_resp_err_name(c->err));
	cr_expect_eq(o->status, c->status, "%s (%s): status %d", c->name, how, o->status);
	cr_expect_eq(o->framing, c->framing, "%s (%s): framing %d", c->name, how, o->framing);
	cr_expect(o->sink.len == strlen(c->body) && !memcmp(o->sink.buf, c->body, o->sink.len),
		  "%s (%s): body '%.*s'", c->name, how, (int)o->sink.len, o->sink.buf);
}

Test(http_resp, table_every_split)
{
	init_lengths();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *c = &cases[i];
		size_t n = LEN(i), cuts[2], *bytes = malloc((n + 1) * sizeof(*bytes));
		struct outcome o;
		char how[32];

		cuts[0] = n;
		run(c, n, cuts, 1, &o);
		check(c, &o, "whole");
		for (size_t k = 0; k < n; k++)
			bytes[k] = k + 1;
		run(c, n, bytes, n, &o);
		check(c, &o, "bytewise");
		for (size_t k = 1; k < n; k++) {
			cuts[0] = k;
			cuts[1] = n;
			run(c, n, cuts, 2, &o);
			snprintf(how, sizeof(how), "split at %zu", k);
			check(c, &o, how);
		}
		free(bytes);
	}
}

Test(http_resp, headers_and_extra)
{
	static const char in[] = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"a\", "
				 "nonce=\"n\"\r\nwww-authenticate: Basic realm=\"a\"\r\n"
				 "Content-Length: 2\r\n\r\nnoEXTRA";
	struct sink s = { 0 };
	http_resp *r = http_resp_new(NULL, on_body, &s);
	struct http_str v, nm;

	cr_assert_eq(http_resp_feed(r, in, sizeof(in) - 1), HTTP_RESP_DONE);
	cr_assert_eq(http_resp_status(r), 401);
	v = http_resp_reason(r);
	cr_assert(v.len == 12 && !memcmp(v.p, "Unauthorized", 12));
	cr_assert_eq(http_resp_header_count(r), 3);
	cr_assert(http_resp_header(r, "www-authenticate", 1, &v));
	cr_assert(v.len == 15 && !memcmp(v.p, "Basic realm=\"a\"", 15));
	cr_assert(!http_resp_header(r, "www-authenticate", 2, &v));
	cr_assert(v.len == 15 && !memcmp(v.p, "Basic realm=\"a\"", 15), "untouched on a miss");
	cr_assert(http_resp_header_at(r, 2, &nm, &v));
	cr_assert(nm.len == 14 && v.len == 1 && v.p[0] == '2');
	cr_assert_eq(http_resp_extra(r), 5);
	cr_assert_eq(http_resp_feed(r, "more", 4), HTTP_RESP_DONE);
	cr_assert_eq(http_resp_extra(r), 9);
	cr_assert_eq(http_resp_body_bytes(r), 2);
	cr_assert_eq(http_resp_version_minor(r), 1);
	http_resp_free(r);
}

Test(http_resp, consumer_refuses)
{
	static const char in[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
	struct sink s = { .stop_after = 1 };
	http_resp *r = http_resp_new(NULL, on_body, &s);

	cr_assert_eq(http_resp_feed(r, in, sizeof(in) - 1), HTTP_RESP_ERROR);
	cr_assert_eq(http_resp_error(r), HTTP_RESP_ERR_CONSUMER);
	cr_assert_eq(http_resp_feed(r, "x", 1), HTTP_RESP_ERROR, "terminal");
	cr_assert_eq(http_resp_eof(r), HTTP_RESP_ERROR);
	http_resp_free(r);
}

Test(http_resp, huge_header_block)
{
	size_t n = 1u << 20;
	char *big = malloc(n);
	http_resp *r = http_resp_new(NULL, NULL, NULL);
	static const char head[] = "HTTP/1.1 200 OK\r\nX-Big: ";

	memset(big, 'a', n);
	cr_assert_eq(http_resp_feed(r, head, sizeof(head) - 1), HTTP_RESP_MORE);
	cr_assert_eq(http_resp_feed(r, big, n), HTTP_RESP_ERROR);
	cr_assert_eq(http_resp_error(r), HTTP_RESP_ERR_HEADER_TOO_BIG);
	http_resp_free(r);
	free(big);
}

Test(http_resp, ten_thousand_headers)
{
	http_resp *r = http_resp_new(&(struct http_resp_limits){ .max_header_bytes = 1u << 20 }, NULL,
				     NULL);
	int rc = http_resp_feed(r, "HTTP/1.1 200 OK\r\n", 17);

	for (int i = 0; i < 10000 && rc == HTTP_RESP_MORE; i++)
		rc = http_resp_feed(r, "X: y\r\n", 6);
	cr_assert_eq(rc, HTTP_RESP_ERROR);
	cr_assert_eq(http_resp_error(r), HTTP_RESP_ERR_TOO_MANY_HEADERS);
	http_resp_free(r);
}

Test(http_resp, until_close_cap_and_limits)
{
	struct http_resp_limits l = { .max_body = 8 };
	http_resp *r = http_resp_new(&l, NULL, NULL);

	cr_assert_eq(http_resp_feed(r, "HTTP/1.0 200 OK\r\n\r\n12345678", 27), HTTP_RESP_MORE);
	cr_assert_eq(http_resp_feed(r, "9", 1), HTTP_RESP_ERROR);
	cr_assert_eq(http_resp_error(r), HTTP_RESP_ERR_BODY_TOO_BIG);
	http_resp_free(r);
	cr_assert_null(http_resp_new(&(struct http_resp_limits){ .max_headers = 5000 }, NULL, NULL));
	cr_assert_null(http_resp_new(&(struct http_resp_limits){ .max_header_bytes = 2u << 20 },
				     NULL, NULL));
	/* chunked trailers are bounded too */
	r = http_resp_new(&(struct http_resp_limits){ .max_headers = 2 }, NULL, NULL);
	static const char t[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
				"A: 1\r\nB: 2\r\nC: 3\r\n\r\n";
	cr_assert_eq(http_resp_feed(r, t, sizeof(t) - 1), HTTP_RESP_ERROR);
	cr_assert_eq(http_resp_error(r), HTTP_RESP_ERR_TOO_MANY_HEADERS);
	http_resp_free(r);
	cr_assert_str_eq(http_resp_err_name(HTTP_RESP_ERR_CHUNK), "chunk");
	cr_assert_str_eq(http_resp_err_name((enum http_resp_err)99), "?");
}
