/*
 * http_resp: an HTTP/1.x response reader for one request, sans-IO.
 *
 * Fed whatever chunks the connection returns, it parses the status line and
 * headers, skips interim 1xx responses, and hands the body to a callback as
 * views into the caller's chunks (Content-Length, chunked, or until the
 * connection closes, with chunk framing removed). A response split at any
 * byte offset reads the same as a whole one. Used by spctl snapshot on what
 * a camera sends through a tunnel: untrusted input.
 *
 * Limits: the header block is copied into a buffer of max_header_bytes
 * allocated at creation; more than max_headers headers, a body above
 * max_body, a chunk line above HTTP_RESP_CHUNK_LINE bytes and more than
 * HTTP_RESP_MAX_INTERIM 1xx responses are refused.
 *
 * Policy (strict): HTTP/1.0 or HTTP/1.1 only; lines end with CRLF or a bare
 * LF, a bare CR or a NUL anywhere in a line is refused; no whitespace
 * before a header's colon, no obs-fold, header names are tokens; values
 * hold no control character but HT. Content-Length is digits only; repeats
 * must agree. Transfer-Encoding must be exactly "chunked", and is refused
 * together with Content-Length (a smuggling shape). 204, 304 and 1xx have
 * no body. Every refusal is an enum http_resp_err and leaves the reader in
 * a terminal state. The reader never logs.
 */
#ifndef SP_HTTP_RESP_H
#define SP_HTTP_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_RESP_DEFAULT_MAX_HEADER_BYTES 16384u
#define HTTP_RESP_DEFAULT_MAX_HEADERS 64u
#define HTTP_RESP_DEFAULT_MAX_BODY (16u << 20)
#define HTTP_RESP_CHUNK_LINE 1024u /* chunk-size line with extensions, or a trailer line */
#define HTTP_RESP_MAX_INTERIM 8u

enum http_resp_err {
	HTTP_RESP_OK = 0,
	HTTP_RESP_ERR_STATUS_LINE,   /* not "HTTP/x.y NNN reason", code out of 100..599, 101 */
	HTTP_RESP_ERR_VERSION,       /* not HTTP/1.0 or HTTP/1.1 */
	HTTP_RESP_ERR_HEADER,        /* header syntax: no colon, bad name, control char, obs-fold */
	HTTP_RESP_ERR_NUL,
	HTTP_RESP_ERR_BARE_CR,
	HTTP_RESP_ERR_HEADER_TOO_BIG,
	HTTP_RESP_ERR_TOO_MANY_HEADERS,
	HTTP_RESP_ERR_CONTENT_LENGTH, /* not digits, overflow, repeats disagree */
	HTTP_RESP_ERR_TRANSFER_ENCODING, /* not "chunked", or with Content-Length */
	HTTP_RESP_ERR_CHUNK,         /* chunk size line or the CRLF after chunk data */
	HTTP_RESP_ERR_BODY_TOO_BIG,
	HTTP_RESP_ERR_INTERIM,       /* too many 1xx responses */
	HTTP_RESP_ERR_TRUNCATED,     /* connection closed before the response ended */
	HTTP_RESP_ERR_CONSUMER,      /* the body callback refused */
	HTTP_RESP_ERR__COUNT
};
const char *http_resp_err_name(enum http_resp_err e);

enum http_resp_framing { HTTP_RESP_NO_BODY = 0, HTTP_RESP_LENGTH, HTTP_RESP_CHUNKED,
			 HTTP_RESP_UNTIL_CLOSE };

struct http_resp_limits {
	uint32_t max_header_bytes; /* 0: default; status line + headers + blank line */
	uint32_t max_headers;      /* 0: default */
	uint64_t max_body;         /* 0: default; decoded bytes */
};

struct http_str {
	const char *p; /* not NUL-terminated */
	uint32_t len;
};

/* Body bytes, in order. Return 0 to go on, negative to stop (the reader
 * ends with HTTP_RESP_ERR_CONSUMER). */
typedef int (*http_resp_body_fn)(void *ctx, const uint8_t *p, size_t n);

typedef struct http_resp http_resp;

/* NULL on ENOMEM or limits above 1 MiB of header / 4096 headers. */
http_resp *http_resp_new(const struct http_resp_limits *lim, http_resp_body_fn body, void *ctx);
void http_resp_free(http_resp *r);

enum { HTTP_RESP_MORE = 0, HTTP_RESP_DONE = 1, HTTP_RESP_ERROR = -1 };
/* Feeds n bytes: MORE, DONE (bytes after the end are counted in
 * http_resp_extra() and otherwise ignored), or ERROR (http_resp_error()).
 * After DONE or ERROR, further feeds return the same. */
int http_resp_feed(http_resp *r, const void *p, size_t n);
/* The connection closed: DONE when the body runs until close, else ERROR
 * (TRUNCATED) unless already DONE. */
int http_resp_eof(http_resp *r);

enum http_resp_err http_resp_error(const http_resp *r);
/* Valid once the final response's headers are complete (also inside the
 * body callback); status 0 before. */
bool http_resp_headers_done(const http_resp *r);
int http_resp_status(const http_resp *r);
int http_resp_version_minor(const http_resp *r);
struct http_str http_resp_reason(const http_resp *r);
enum http_resp_framing http_resp_framing(const http_resp *r);
uint32_t http_resp_header_count(const http_resp *r);
/* Header i's name and value (value trimmed of SP/HT); false past the end. */
bool http_resp_header_at(const http_resp *r, uint32_t i, struct http_str *name,
			 struct http_str *value);
/* The idx-th header named name (case-insensitive); false when absent. */
bool http_resp_header(const http_resp *r, const char *name, uint32_t idx, struct http_str *value);
uint64_t http_resp_body_bytes(const http_resp *r);
uint64_t http_resp_extra(const http_resp *r);

#endif
