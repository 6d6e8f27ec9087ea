/*
 * test_rtsp_msg: the RTSP/1.0 reader, header value parsers and writers.
 *  - a table of byte streams and the trace of events each must give
 *    (messages, interleaved frames, the final error), each read whole,
 *    byte by byte, split at every offset and in an odd chunk pattern: the
 *    trace must not change;
 *  - the hostile inputs: 1 MiB of header, 10k headers, NUL bytes,
 *    bad Content-Length, frames of length 0 and 0xFFFF;
 *  - frame payloads handed out as views into the caller's chunk;
 *  - Transport / Session / RTP-Info / Public tables, writers (round trip,
 *    -ENOSPC at every short capacity, injection refused).
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtsp_msg.h"

/* ---- trace of a byte stream ---- */

struct trace {
	char s[4096];
	size_t len;
	/* current frame being assembled from pieces */
	bool in_frame;
	uint32_t frame_sum, frame_next;
};

static void tr_add(struct trace *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tr_add(struct trace *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (t->len)
		t->s[t->len++] = '|';
	int n = vsnprintf(t->s + t->len, sizeof(t->s) - t->len, fmt, ap);
	va_end(ap);
	cr_assert(n >= 0 && (size_t)n < sizeof(t->s) - t->len, "trace overflow");
	t->len += (size_t)n;
}

static void tr_msg(struct trace *t, const struct rtsp_msg *m)
{
	char cseq[16] = "-", body[64] = "";
	if (m->has_cseq)
		snprintf(cseq, sizeof(cseq), "%u", m->cseq);
	if (m->body_len && m->body_len <= 32)
		snprintf(body, sizeof(body), ":%.*s", (int)m->body_len, (const char *)m->body);
	cr_assert_eq(m->body_len, m->content_length);
	cr_assert_eq(m->body == NULL, m->body_len == 0);
	if (m->is_request)
		tr_add(t, "REQ %.*s%s %.*s cseq=%s h=%u body=%u%s", (int)m->method_text.len,
		       m->method_text.p, m->method == RTSP_M_UNKNOWN ? "?" : "", (int)m->uri.len,
		       m->uri.p, cseq, m->n_headers, m->body_len, body);
	else
		tr_add(t, "RSP %u %.*s cseq=%s h=%u body=%u%s", m->status, (int)m->reason.len,
		       m->reason.p, cseq, m->n_headers, m->body_len, body);
}

/* Feeds buf in chunks (sizes cycled; nchunks 0 = whole) into a fresh reader. */
static void run(const struct rtsp_limits *lim, const uint8_t *buf, size_t len,
		const size_t *chunks, size_t nchunks, struct trace *t)
{
	rtsp_reader *r = rtsp_reader_new(lim);
	cr_assert_not_null(r);
	memset(t, 0, sizeof(*t));
	size_t off = 0, ci = 0;
	int rc = 0;
	while (off < len && rc >= 0) {
		size_t c = nchunks ? chunks[ci++ % nchunks] : len;
		if (c > len - off)
			c = len - off;
		const uint8_t *chunk = buf + off;
		size_t pos = 0;
		while (pos < c) {
			size_t used = 0;
			struct rtsp_event ev;
			rc = rtsp_reader_feed(r, chunk + pos, c - pos, &used, &ev);
			cr_assert_leq(used, c - pos);
			pos += used;
			if (rc < 0) {
				cr_assert_eq(rc, -EPROTO);
				tr_add(t, "ERR %s", rtsp_err_name(rtsp_reader_err(r)));
				break;
			}
			if (rc == 0) {
				cr_assert_eq(pos, c, "need-more must take everything");
				continue;
			}
			if (ev.kind == RTSP_EV_MSG) {
				cr_assert(!t->in_frame);
				tr_msg(t, ev.msg);
				continue;
			}
			cr_assert_eq(ev.kind, RTSP_EV_FRAME);
			/* zero copy: the piece lies inside the chunk just fed */
			cr_assert(ev.data >= chunk && ev.data + ev.len <= chunk + c);
			cr_assert_eq(ev.off, t->in_frame ? t->frame_next : 0);
			if (!t->in_frame) {
				t->in_frame = true;
				t->frame_sum = 0;
			}
			for (uint16_t i = 0; i < ev.len; i++)
				t->frame_sum = t->frame_sum * 31 + ev.data[i];
			t->frame_next = ev.off + ev.len;
			cr_assert(ev.len > 0 || ev.frame_len == 0);
			if (ev.end) {
				cr_assert_eq(t->frame_next, ev.frame_len);
				tr_add(t, "FRM ch=%u len=%u sum=%08x", ev.channel, ev.frame_len,
				       t->frame_sum);
				t->in_frame = false;
			}
		}
		off += c;
	}
	if (rc >= 0 && !rtsp_reader_idle(r))
		tr_add(t, "PARTIAL");
	/* an error is terminal */
	if (rc < 0) {
		size_t used = 1;
		struct rtsp_event ev;
		cr_assert_eq(rtsp_reader_feed(r, (const uint8_t *)"OPTIONS * RTSP/1.0\r\n\r\n", 22,
					      &used, &ev), -EPROTO);
		cr_assert_eq(used, 0);
	}
	t->s[t->len] = '\0';
	rtsp_reader_free(r);
}

/* Reads buf whole, byte by byte, in a 3/7/2 pattern and split in two at
 * every offset; all must match the whole-buffer trace, which is returned. */
static void run_all_splits(const struct rtsp_limits *lim, const uint8_t *buf, size_t len,
			   struct trace *whole)
{
	static struct trace t;
	static const size_t one[] = { 1 }, odd[] = { 3, 7, 2 };
	run(lim, buf, len, NULL, 0, whole);
	run(lim, buf, len, one, 1, &t);
	cr_assert_str_eq(t.s, whole->s, "byte by byte");
	run(lim, buf, len, odd, 3, &t);
	cr_assert_str_eq(t.s, whole->s, "3/7/2");
	for (size_t k = 1; k < len; k++) {
		size_t two[] = { k, len };
		run(lim, buf, len, two, 2, &t);
		cr_assert_str_eq(t.s, whole->s, "split at %zu", k);
	}
}

/* ---- the table ---- */

struct rcase {
	const char *name;
	const char *in;
	size_t len; /* 0: strlen(in) */
	const char *want;
};

#define BIN(s) s, sizeof(s) - 1

static const struct rcase cases[] = {
	{ "options_crlf", "OPTIONS rtsp://cam/x RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: t\r\n\r\n", 0,
	  "REQ OPTIONS rtsp://cam/x cseq=1 h=2 body=0" },
	{ "options_lf", "OPTIONS rtsp://cam/x RTSP/1.0\nCSeq: 1\n\n", 0,
	  "REQ OPTIONS rtsp://cam/x cseq=1 h=1 body=0" },
	{ "mixed_endings", "OPTIONS * RTSP/1.0\r\nCSeq: 7\n\r\n", 0,
	  "REQ OPTIONS * cseq=7 h=1 body=0" },
	{ "every_method",
	  "DESCRIBE u RTSP/1.0\r\n\r\nSETUP u RTSP/1.0\r\n\r\nPLAY u RTSP/1.0\r\n\r\n"
	  "PAUSE u RTSP/1.0\r\n\r\nTEARDOWN u RTSP/1.0\r\n\r\nGET_PARAMETER u RTSP/1.0\r\n\r\n"
	  "SET_PARAMETER u RTSP/1.0\r\n\r\nANNOUNCE u RTSP/1.0\r\n\r\nRECORD u RTSP/1.0\r\n\r\n"
	  "REDIRECT u RTSP/1.0\r\n\r\nFOO-BAR u RTSP/1.0\r\n\r\n", 0,
	  "REQ DESCRIBE u cseq=- h=0 body=0|REQ SETUP u cseq=- h=0 body=0|"
	  "REQ PLAY u cseq=- h=0 body=0|REQ PAUSE u cseq=- h=0 body=0|"
	  "REQ TEARDOWN u cseq=- h=0 body=0|REQ GET_PARAMETER u cseq=- h=0 body=0|"
	  "REQ SET_PARAMETER u cseq=- h=0 body=0|REQ ANNOUNCE u cseq=- h=0 body=0|"
	  "REQ RECORD u cseq=- h=0 body=0|REQ REDIRECT u cseq=- h=0 body=0|"
	  "REQ FOO-BAR? u cseq=- h=0 body=0" },
	{ "lowercase_method_unknown", "options * RTSP/1.0\r\n\r\n", 0,
	  "REQ options? * cseq=- h=0 body=0" },
	{ "response_body",
	  "RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\n"
	  "Content-Length: 10\r\n\r\nv=0\r\ns=x\r\n", 0,
	  "RSP 200 OK cseq=2 h=3 body=10:v=0\r\ns=x\r\n" },
	{ "status_no_reason", "RTSP/1.0 200\r\nCSeq: 3\r\n\r\n", 0, "RSP 200  cseq=3 h=1 body=0" },
	{ "status_empty_reason", "RTSP/1.0 454 \r\n\r\n", 0, "RSP 454  cseq=- h=0 body=0" },
	{ "reason_with_spaces", "RTSP/1.0 401 Unauthorized Access\r\n\r\n", 0,
	  "RSP 401 Unauthorized Access cseq=- h=0 body=0" },
	{ "leading_empty_lines", "\r\n\r\n\nOPTIONS * RTSP/1.0\r\n\r\n\r\n", 0,
	  "REQ OPTIONS * cseq=- h=0 body=0" },
	{ "pipelined",
	  "GET_PARAMETER rtsp://a RTSP/1.0\r\nCSeq: 5\r\nContent-Length: 3\r\n\r\nabc"
	  "OPTIONS * RTSP/1.0\r\nCSeq: 6\r\n\r\n"
	  "PLAY rtsp://a RTSP/1.0\r\nCSeq: 7\r\nSession: 1234\r\n\r\n", 0,
	  "REQ GET_PARAMETER rtsp://a cseq=5 h=2 body=3:abc|REQ OPTIONS * cseq=6 h=1 body=0|"
	  "REQ PLAY rtsp://a cseq=7 h=2 body=0" },
	{ "value_trimmed_ows", "OPTIONS * RTSP/1.0\r\nCSeq:\t 9 \t\r\nContent-Length:  0\r\n\r\n", 0,
	  "REQ OPTIONS * cseq=9 h=2 body=0" },
	{ "empty_header_value", "OPTIONS * RTSP/1.0\r\nX-Empty:\r\n\r\n", 0,
	  "REQ OPTIONS * cseq=- h=1 body=0" },
	{ "utf8_in_value", "OPTIONS * RTSP/1.0\r\nX: caf\xc3\xa9\r\n\r\n", 0,
	  "REQ OPTIONS * cseq=- h=1 body=0" },
	{ "cl_dup_agree", "OPTIONS * RTSP/1.0\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok", 0,
	  "REQ OPTIONS * cseq=- h=2 body=2:ok" },
	{ "cl_zero", "OPTIONS * RTSP/1.0\r\nContent-Length: 0\r\n\r\n", 0,
	  "REQ OPTIONS * cseq=- h=1 body=0" },
	{ "cl_max_body",
	  "ANNOUNCE u RTSP/1.0\r\nContent-Length: 65536\r\n\r\n", 0, "PARTIAL" },
	{ "partial_header", "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n", 0, "PARTIAL" },
	{ "partial_body", "RTSP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nab", 0, "PARTIAL" },
	/* interleaved frames */
	{ "frame_small", BIN("$\x00\x00\x04\x80\x60\x00\x01"), "FRM ch=0 len=4 sum=003b97e1" },
	{ "frame_zero", BIN("$\x01\x00\x00"), "FRM ch=1 len=0 sum=00000000" },
	{ "frame_zero_then_msg", BIN("$\x01\x00\x00RTSP/1.0 200 OK\r\n\r\n"),
	  "FRM ch=1 len=0 sum=00000000|RSP 200 OK cseq=- h=0 body=0" },
	{ "frame_partial", BIN("$\x00\x00\x10\x80\x60"), "PARTIAL" },
	{ "frame_hdr_partial", BIN("$\x00\x00"), "PARTIAL" },
	{ "mixed",
	  BIN("PLAY rtsp://cam/s RTSP/1.0\r\nCSeq: 4\r\nSession: 9\r\n\r\n"
	      "$\x00\x00\x05\x80\x60\x12\x34\x56"
	      "$\x01\x00\x02\x81\xc8"
	      "RTSP/1.0 200 OK\r\nCSeq: 4\r\nRTP-Info: url=rtsp://cam/s/trackID=0;seq=1\r\n\r\n"
	      "$\xff\x00\x01\x00"),
	  "REQ PLAY rtsp://cam/s cseq=4 h=2 body=0|FRM ch=0 len=5 sum=0737ae54|"
	  "FRM ch=1 len=2 sum=00001067|RSP 200 OK cseq=4 h=2 body=0|FRM ch=255 len=1 sum=00000000" },
	/* errors */
	{ "nul_in_header", BIN("OPTIONS * RTSP/1.0\r\nCSeq: 1\x00\r\n\r\n"), "ERR nul_byte" },
	{ "nul_in_start_line", BIN("OPTIONS \x00 RTSP/1.0\r\n\r\n"), "ERR nul_byte" },
	{ "nul_after_message", BIN("OPTIONS * RTSP/1.0\r\n\r\n\x00"),
	  "REQ OPTIONS * cseq=- h=0 body=0|ERR nul_byte" },
	{ "bare_cr", "OPTIONS * RTSP/1.0\r\nCSeq: 1\rX: y\r\n\r\n", 0, "ERR bad_char" },
	{ "ctl_char", "OPTIONS * RTSP/1.0\r\nX: a\x01" "b\r\n\r\n", 0, "ERR bad_char" },
	{ "del_char", "OPTIONS * RTSP/1.0\r\nX: a\x7f\r\n\r\n", 0, "ERR bad_char" },
	{ "folding", "OPTIONS * RTSP/1.0\r\nX: a\r\n  b\r\n\r\n", 0, "ERR folding" },
	{ "folding_tab", "OPTIONS * RTSP/1.0\r\nX: a\r\n\tb\r\n\r\n", 0, "ERR folding" },
	{ "no_colon", "OPTIONS * RTSP/1.0\r\nNoColon\r\n\r\n", 0, "ERR bad_header" },
	{ "empty_name", "OPTIONS * RTSP/1.0\r\n: v\r\n\r\n", 0, "ERR bad_header" },
	{ "space_in_name", "OPTIONS * RTSP/1.0\r\nBad Name: v\r\n\r\n", 0, "ERR bad_header" },
	{ "space_before_colon", "OPTIONS * RTSP/1.0\r\nCSeq : 1\r\n\r\n", 0, "ERR bad_header" },
	{ "rl_one_token", "OPTIONS\r\n\r\n", 0, "ERR bad_request_line" },
	{ "rl_two_tokens", "OPTIONS rtsp://x\r\n\r\n", 0, "ERR bad_request_line" },
	{ "rl_double_space", "OPTIONS  rtsp://x RTSP/1.0\r\n\r\n", 0, "ERR bad_request_line" },
	{ "rl_trailing_space", "OPTIONS rtsp://x RTSP/1.0 \r\n\r\n", 0, "ERR bad_request_line" },
	{ "rl_four_tokens", "OPTIONS rtsp://x y RTSP/1.0\r\n\r\n", 0, "ERR bad_request_line" },
	{ "rl_bad_method", "OPT(ONS * RTSP/1.0\r\n\r\n", 0, "ERR bad_request_line" },
	{ "rl_long_method", "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG * RTSP/1.0\r\n\r\n", 0,
	  "ERR bad_request_line" },
	{ "rl_bad_version_shape", "OPTIONS * RTSP/1\r\n\r\n", 0, "ERR bad_request_line" },
	{ "rl_tls_record", BIN("\x16\x03\x01\x02\x00\x01\r\n"), "ERR nul_byte" },
	{ "rl_tls_hello", "\x16\x03\x01 * x\n", 0, "ERR bad_char" },
	{ "rtsp2", "OPTIONS * RTSP/2.0\r\n\r\n", 0, "ERR bad_version" },
	{ "http", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0, "ERR bad_version" },
	{ "rtsp11", "OPTIONS * RTSP/1.1\r\n\r\n", 0, "ERR bad_version" },
	{ "st_rtsp2", "RTSP/2.0 200 OK\r\n\r\n", 0, "ERR bad_version" },
	{ "st_two_digits", "RTSP/1.0 20 OK\r\n\r\n", 0, "ERR bad_status_line" },
	{ "st_four_digits", "RTSP/1.0 2000 OK\r\n\r\n", 0, "ERR bad_status_line" },
	{ "st_no_space", "RTSP/1.0 200OK\r\n\r\n", 0, "ERR bad_status_line" },
	{ "st_letters", "RTSP/1.0 2x0 OK\r\n\r\n", 0, "ERR bad_status_line" },
	{ "st_below_100", "RTSP/1.0 099 x\r\n\r\n", 0, "ERR bad_status_line" },
	{ "st_only_version", "RTSP/1.0\r\n\r\n", 0, "ERR bad_status_line" },
	{ "cl_negative", "OPTIONS * RTSP/1.0\r\nContent-Length: -1\r\n\r\n", 0,
	  "ERR bad_content_length" },
	{ "cl_plus", "OPTIONS * RTSP/1.0\r\nContent-Length: +5\r\n\r\n", 0, "ERR bad_content_length" },
	{ "cl_letters", "OPTIONS * RTSP/1.0\r\nContent-Length: 12a\r\n\r\n", 0,
	  "ERR bad_content_length" },
	{ "cl_hex", "OPTIONS * RTSP/1.0\r\nContent-Length: 0x10\r\n\r\n", 0,
	  "ERR bad_content_length" },
	{ "cl_empty", "OPTIONS * RTSP/1.0\r\nContent-Length:\r\n\r\n", 0, "ERR bad_content_length" },
	{ "cl_inner_space", "OPTIONS * RTSP/1.0\r\nContent-Length: 1 2\r\n\r\n", 0,
	  "ERR bad_content_length" },
	{ "cl_list", "OPTIONS * RTSP/1.0\r\nContent-Length: 5, 5\r\n\r\n", 0,
	  "ERR bad_content_length" },
	{ "cl_overflow_u32", "OPTIONS * RTSP/1.0\r\nContent-Length: 4294967296\r\n\r\n", 0,
	  "ERR bad_content_length" },
	{ "cl_overflow_u64", "OPTIONS * RTSP/1.0\r\nContent-Length: 99999999999999999999999\r\n\r\n",
	  0, "ERR bad_content_length" },
	{ "cl_dup_conflict", "OPTIONS * RTSP/1.0\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	  0, "ERR dup_content_length" },
	{ "cl_too_large", "OPTIONS * RTSP/1.0\r\nContent-Length: 65537\r\n\r\n", 0,
	  "ERR body_too_large" },
	{ "cl_u32_max", "OPTIONS * RTSP/1.0\r\nContent-Length: 4294967295\r\n\r\n", 0,
	  "ERR body_too_large" },
	{ "cseq_letters", "OPTIONS * RTSP/1.0\r\nCSeq: one\r\n\r\n", 0, "ERR bad_cseq" },
	{ "cseq_negative", "OPTIONS * RTSP/1.0\r\nCSeq: -1\r\n\r\n", 0, "ERR bad_cseq" },
	{ "cseq_overflow", "OPTIONS * RTSP/1.0\r\nCSeq: 4294967296\r\n\r\n", 0, "ERR bad_cseq" },
	{ "cseq_dup_conflict", "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nCSeq: 2\r\n\r\n", 0, "ERR bad_cseq" },
	{ "error_after_good", "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\nOPTIONS * RTSP/9.9\r\n\r\n", 0,
	  "REQ OPTIONS * cseq=1 h=1 body=0|ERR bad_version" },
};

Test(rtsp_msg, table_every_split)
{
	static struct trace whole;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rcase *c = &cases[i];
		size_t len = c->len ? c->len : strlen(c->in);
		run_all_splits(NULL, (const uint8_t *)c->in, len, &whole);
		cr_assert_str_eq(whole.s, c->want, "%s: got \"%s\"", c->name, whole.s);
	}
}

Test(rtsp_msg, header_lookup_case_insensitive)
{
	static const char in[] = "RTSP/1.0 200 OK\r\nCSeq: 2\r\ncontent-base: rtsp://cam/s/\r\n"
				 "WWW-Authenticate: Basic realm=\"a\"\r\n"
				 "www-authenticate: Digest realm=\"a\", nonce=\"n\"\r\n\r\n";
	rtsp_reader *r = rtsp_reader_new(NULL);
	size_t used;
	struct rtsp_event ev;
	cr_assert_eq(rtsp_reader_feed(r, (const uint8_t *)in, sizeof(in) - 1, &used, &ev), 1);
	const struct rtsp_str *v = rtsp_msg_header(ev.msg, "Content-Base", NULL);
	cr_assert_not_null(v);
	cr_assert_eq(v->len, 13);
	cr_assert_eq(memcmp(v->p, "rtsp://cam/s/", 13), 0);
	cr_assert_null(rtsp_msg_header(ev.msg, "Content-Bas", NULL));
	uint32_t from = 0;
	int n = 0;
	while (rtsp_msg_header(ev.msg, "WWW-AUTHENTICATE", &from))
		n++;
	cr_assert_eq(n, 2);
	rtsp_reader_free(r);
}

/* ---- the hostile inputs ---- */

static uint8_t *huge_header(size_t nbytes, size_t *len)
{
	static const char start[] = "DESCRIBE rtsp://cam/s RTSP/1.0\r\nX-Big: ";
	uint8_t *b = malloc(sizeof(start) + nbytes + 8);
	memcpy(b, start, sizeof(start) - 1);
	memset(b + sizeof(start) - 1, 'a', nbytes);
	memcpy(b + sizeof(start) - 1 + nbytes, "\r\n\r\n", 4);
	*len = sizeof(start) - 1 + nbytes + 4;
	return b;
}

Test(rtsp_msg, one_mib_header)
{
	size_t len;
	uint8_t *b = huge_header(1u << 20, &len);
	struct trace t;
	static const size_t chunks[] = { 4096 };
	run(NULL, b, len, NULL, 0, &t);
	cr_assert_str_eq(t.s, "ERR header_too_large");
	run(NULL, b, len, chunks, 1, &t);
	cr_assert_str_eq(t.s, "ERR header_too_large");
	/* refused after at most the limit: feed it in one call and look at used */
	rtsp_reader *r = rtsp_reader_new(NULL);
	size_t used;
	struct rtsp_event ev;
	cr_assert_eq(rtsp_reader_feed(r, b, len, &used, &ev), -EPROTO);
	cr_assert_leq(used, RTSP_DEFAULT_MAX_HEADER_BYTES);
	rtsp_reader_free(r);
	/* within a raised limit it reads */
	struct rtsp_limits lim = { .max_header_bytes = RTSP_MAX_HEADER_BYTES_CFG };
	free(b);
	b = huge_header((1u << 20) - 100, &len);
	run(&lim, b, len, chunks, 1, &t);
	cr_assert_str_eq(t.s, "REQ DESCRIBE rtsp://cam/s cseq=- h=1 body=0");
	free(b);
}

static uint8_t *many_headers(size_t n, size_t *len)
{
	static const char start[] = "OPTIONS * RTSP/1.0\r\n";
	uint8_t *b = malloc(sizeof(start) + n * 16 + 8);
	size_t o = sizeof(start) - 1;
	memcpy(b, start, o);
	for (size_t i = 0; i < n; i++)
		o += (size_t)sprintf((char *)b + o, "X%zu: v\r\n", i % 1000);
	memcpy(b + o, "\r\n", 2);
	*len = o + 2;
	return b;
}

Test(rtsp_msg, ten_thousand_headers)
{
	size_t len;
	uint8_t *b = many_headers(10000, &len);
	struct trace t;
	static const size_t chunks[] = { 1000 };
	/* each line is checked as it arrives: the 65th header is refused
	 * long before 8 KiB */
	run(NULL, b, len, NULL, 0, &t);
	cr_assert_str_eq(t.s, "ERR too_many_headers");
	/* with more headers allowed, the byte limit stops them */
	struct rtsp_limits lim = { .max_headers = RTSP_MAX_HEADERS_CFG };
	run(&lim, b, len, chunks, 1, &t);
	cr_assert_str_eq(t.s, "ERR header_too_large");
	/* with both at their maximum, the count does */
	lim.max_header_bytes = RTSP_MAX_HEADER_BYTES_CFG;
	run(&lim, b, len, chunks, 1, &t);
	cr_assert_str_eq(t.s, "ERR too_many_headers");
	free(b);
	/* exactly the limit reads, one more does not */
	b = many_headers(RTSP_DEFAULT_MAX_HEADERS, &len);
	run(NULL, b, len, NULL, 0, &t);
	cr_assert_str_eq(t.s, "REQ OPTIONS * cseq=- h=64 body=0");
	free(b);
	b = many_headers(RTSP_DEFAULT_MAX_HEADERS + 1, &len);
	run(NULL, b, len, NULL, 0, &t);
	cr_assert_str_eq(t.s, "ERR too_many_headers");
	free(b);
}

Test(rtsp_msg, header_limit_exact)
{
	/* a header block of exactly max_header_bytes reads; one more byte does not */
	struct rtsp_limits lim = { .max_header_bytes = 256 };
	char buf[512];
	static const char start[] = "OPTIONS * RTSP/1.0\r\nX: ";
	for (int extra = 0; extra < 2; extra++) {
		size_t pad = 256 - (sizeof(start) - 1) - 4 + (size_t)extra;
		memcpy(buf, start, sizeof(start) - 1);
		memset(buf + sizeof(start) - 1, 'x', pad);
		memcpy(buf + sizeof(start) - 1 + pad, "\r\n\r\n", 4);
		size_t len = sizeof(start) - 1 + pad + 4;
		struct trace t;
		run(&lim, (const uint8_t *)buf, len, NULL, 0, &t);
		cr_assert_str_eq(t.s, extra ? "ERR header_too_large" : "REQ OPTIONS * cseq=- h=1 body=0");
	}
}

Test(rtsp_msg, frame_0xffff)
{
	size_t len = 4 + 0xffff + 4 + 1 + 21;
	uint8_t *b = malloc(len);
	rtsp_frame_header(b, 2, 0xffff);
	for (size_t i = 0; i < 0xffff; i++)
		b[4 + i] = (uint8_t)(i * 7);
	rtsp_frame_header(b + 4 + 0xffff, 3, 1);
	b[4 + 0xffff + 4] = 0xaa;
	memcpy(b + 4 + 0xffff + 5, "RTSP/1.0 200 OK\r\n\r\n\r\n", 21);
	struct trace whole, t;
	run(NULL, b, len, NULL, 0, &whole);
	cr_assert(strncmp(whole.s, "FRM ch=2 len=65535 sum=", 23) == 0, "%s", whole.s);
	cr_assert(strstr(whole.s, "|FRM ch=3 len=1 sum=000000aa|RSP 200 OK cseq=- h=0 body=0"));
	static const size_t pats[][3] = { { 1, 1, 1 }, { 4, 4, 4 }, { 1000, 3, 65535 } };
	for (size_t p = 0; p < 3; p++) {
		run(NULL, b, len, pats[p], 3, &t);
		cr_assert_str_eq(t.s, whole.s);
	}
	/* at every offset around the frame boundaries */
	for (size_t k = 1; k < 16; k++) {
		size_t s1[] = { k, len }, s2[] = { 0xffff + k - 8, len };
		run(NULL, b, len, s1, 2, &t);
		cr_assert_str_eq(t.s, whole.s);
		run(NULL, b, len, s2, 2, &t);
		cr_assert_str_eq(t.s, whole.s);
	}
	free(b);
}

Test(rtsp_msg, mixed_stream_every_offset_twice)
{
	/* request + frame + response + frame, split at every pair of offsets */
	static const char in[] = "SETUP rtsp://c/s/trackID=0 RTSP/1.0\r\nCSeq: 3\r\n"
				 "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n"
				 "$\x00\x00\x03\x01\x02\x03"
				 "RTSP/1.0 200 OK\r\nCSeq: 3\r\nContent-Length: 4\r\n\r\nbody"
				 "$\x01\x00\x00";
	size_t len = sizeof(in) - 1;
	struct trace whole, t;
	run(NULL, (const uint8_t *)in, len, NULL, 0, &whole);
	cr_assert_str_eq(whole.s, "REQ SETUP rtsp://c/s/trackID=0 cseq=3 h=2 body=0|"
				  "FRM ch=0 len=3 sum=00000402|RSP 200 OK cseq=3 h=2 body=4:body|"
				  "FRM ch=1 len=0 sum=00000000");
	for (size_t a = 1; a < len; a++)
		for (size_t b = 1; a + b < len; b += 3) {
			size_t ch[] = { a, b, len };
			run(NULL, (const uint8_t *)in, len, ch, 3, &t);
			cr_assert_str_eq(t.s, whole.s, "split %zu+%zu", a, b);
		}
}

Test(rtsp_msg, body_view_or_copy)
{
	static const char in[] = "RTSP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nwxyz";
	rtsp_reader *r = rtsp_reader_new(NULL);
	size_t used, n = sizeof(in) - 1;
	struct rtsp_event ev;
	cr_assert_eq(rtsp_reader_feed(r, (const uint8_t *)in, n, &used, &ev), 1);
	cr_assert_eq(used, n);
	cr_assert_eq(ev.msg->body, (const uint8_t *)in + n - 4, "whole body: a view, no copy");
	/* split: a copy that survives the chunk */
	uint8_t chunk[64];
	memcpy(chunk, in, n - 2);
	cr_assert_eq(rtsp_reader_feed(r, chunk, n - 2, &used, &ev), 0);
	memset(chunk, 0, sizeof(chunk));
	memcpy(chunk, "yz", 2);
	cr_assert_eq(rtsp_reader_feed(r, chunk, 2, &used, &ev), 1);
	cr_assert_eq(memcmp(ev.msg->body, "wxyz", 4), 0);
	rtsp_reader_trim(r);
	cr_assert(rtsp_reader_idle(r));
	rtsp_reader_free(r);
}

Test(rtsp_msg, footprint_and_trim)
{
	rtsp_reader *r = rtsp_reader_new(NULL);
	size_t idle = rtsp_reader_footprint(r), used;
	struct rtsp_event ev;
	cr_assert_lt(idle, 256);
	static const char req[] = "PLAY rtsp://c/s RTSP/1.0\r\nCSeq: 5\r\n";
	cr_assert_eq(rtsp_reader_feed(r, (const uint8_t *)req, sizeof(req) - 1, &used, &ev), 0);
	cr_assert_geq(rtsp_reader_footprint(r), idle + RTSP_DEFAULT_MAX_HEADER_BYTES);
	rtsp_reader_trim(r); /* half a message: kept */
	cr_assert_eq(rtsp_reader_feed(r, (const uint8_t *)"\r\n", 2, &used, &ev), 1);
	cr_assert_eq(ev.msg->cseq, 5);
	rtsp_reader_trim(r);
	cr_assert_eq(rtsp_reader_footprint(r), idle);
	/* frames need no buffer */
	static const uint8_t frames[] = "$\x00\x00\x02" "ab$\x01\x00\x01" "c";
	size_t off = 0;
	int n = 0;
	while (off < sizeof(frames) - 1) {
		cr_assert_eq(rtsp_reader_feed(r, frames + off, sizeof(frames) - 1 - off, &used, &ev), 1);
		off += used;
		n++;
	}
	cr_assert_eq(n, 2);
	cr_assert_eq(rtsp_reader_footprint(r), idle);
	/* and the next message reads after a trim */
	cr_assert_eq(rtsp_reader_feed(r, (const uint8_t *)"OPTIONS * RTSP/1.0\r\n\r\n", 22, &used, &ev), 1);
	cr_assert_eq(ev.msg->method, RTSP_M_OPTIONS);
	rtsp_reader_free(r);
}

Test(rtsp_msg, limits_config)
{
	struct rtsp_limits bad[] = { { .max_header_bytes = 63 },
				     { .max_header_bytes = RTSP_MAX_HEADER_BYTES_CFG + 1 },
				     { .max_headers = RTSP_MAX_HEADERS_CFG + 1 },
				     { .max_body = RTSP_MAX_BODY_CFG + 1 } };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_null(rtsp_reader_new(&bad[i]));
	struct rtsp_limits small = { .max_body = 3 };
	struct trace t;
	static const char in[] = "RTSP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nwxyz";
	run(&small, (const uint8_t *)in, sizeof(in) - 1, NULL, 0, &t);
	cr_assert_str_eq(t.s, "ERR body_too_large");
}

/* ---- header value parsers ---- */

static struct rtsp_str S(const char *s) { return (struct rtsp_str){ s, (uint32_t)strlen(s) }; }

struct tcase {
	const char *in;
	const char *want; /* formatted back, "EINVAL", "ENOSPC" or "UNKNOWN" (parses, profile unknown) */
};

static const struct tcase tcases[] = {
	{ "RTP/AVP;unicast;client_port=8000-8001", "RTP/AVP;unicast;client_port=8000-8001" },
	{ "RTP/AVP/TCP;unicast;interleaved=0-1", "RTP/AVP/TCP;unicast;interleaved=0-1" },
	{ "RTP/AVP/TCP;interleaved=2", "RTP/AVP/TCP;unicast;interleaved=2-3" },
	{ "rtp/avp/tcp;INTERLEAVED=4-5", "RTP/AVP/TCP;unicast;interleaved=4-5" },
	{ "RTP/AVP/UDP;unicast;client_port=5000-5001;server_port=6970-6971;ssrc=1A2B3C4D;mode=\"PLAY\"",
	  "RTP/AVP;unicast;client_port=5000-5001;server_port=6970-6971;ssrc=1A2B3C4D" },
	{ "RTP/AVP;unicast;client_port=5000-5001;server_port=554-555;ssrc=abc",
	  "RTP/AVP;unicast;client_port=5000-5001;server_port=554-555;ssrc=00000ABC" },
	{ "RTP/AVP;multicast;destination=224.2.0.1;port=3456-3457;ttl=16",
	  "RTP/AVP;multicast;destination=224.2.0.1;port=3456-3457;ttl=16" },
	{ "RTP/AVP;unicast;source=10.0.0.5;client_port=1-2",
	  "RTP/AVP;unicast;source=10.0.0.5;client_port=1-2" },
	{ "RTP/AVP;unicast;mode=record", "RTP/AVP;unicast;mode=RECORD" },
	{ "RTP/SAVP;unicast;client_port=9-10", "RTP/SAVP;unicast;client_port=9-10" },
	{ "RTP/AVPF/TCP;interleaved=0-1", "RTP/AVPF/TCP;unicast;interleaved=0-1" },
	{ " RTP/AVP/TCP ; unicast ; interleaved = 0-1 ", "RTP/AVP/TCP;unicast;interleaved=0-1" },
	{ "RTP/AVP/TCP;unicast;interleaved=0-1;x-unknown=7;append",
	  "RTP/AVP/TCP;unicast;interleaved=0-1" },
	{ "RTP/AVP/TCP;unicast;interleaved=0-1, RTP/AVP;unicast;client_port=4588-4589",
	  "RTP/AVP/TCP;unicast;interleaved=0-1,RTP/AVP;unicast;client_port=4588-4589" },
	{ "RTP/AVP;client_port=65534", "RTP/AVP;unicast;client_port=65534-65535" },
	{ "RAW/RAW/UDP;unicast", "UNKNOWN" },
	{ "RTP/AVP/SCTP;unicast", "UNKNOWN" },
	{ "", "EINVAL" },
	{ ";unicast", "EINVAL" },
	{ "RTP", "EINVAL" },
	{ "RTP/AVP/TCP/X", "EINVAL" },
	{ "RTP/AVP,", "EINVAL" },
	{ "RTP/AVP;client_port=70000-70001", "EINVAL" },
	{ "RTP/AVP;client_port=65535", "EINVAL" },
	{ "RTP/AVP;client_port=-1", "EINVAL" },
	{ "RTP/AVP;client_port=", "EINVAL" },
	{ "RTP/AVP;client_port", "EINVAL" },
	{ "RTP/AVP;interleaved=a-b", "EINVAL" },
	{ "RTP/AVP;interleaved=0-256", "EINVAL" },
	{ "RTP/AVP;interleaved=255", "EINVAL" },
	{ "RTP/AVP;ssrc=123456789", "EINVAL" },
	{ "RTP/AVP;ssrc=xyz", "EINVAL" },
	{ "RTP/AVP;ttl=256", "EINVAL" },
	{ "RTP/AVP;mode=FOO", "EINVAL" },
	{ "RTP/AVP,RTP/AVP,RTP/AVP,RTP/AVP,RTP/AVP,RTP/AVP,RTP/AVP,RTP/AVP,RTP/AVP", "ENOSPC" },
};

Test(rtsp_msg, transport_table)
{
	for (size_t i = 0; i < sizeof(tcases) / sizeof(tcases[0]); i++) {
		const struct tcase *c = &tcases[i];
		struct rtsp_transport t[RTSP_MAX_TRANSPORTS];
		size_t n;
		char out[512];
		int rc = rtsp_parse_transport(S(c->in), t, RTSP_MAX_TRANSPORTS, &n);
		if (!strcmp(c->want, "EINVAL") || !strcmp(c->want, "ENOSPC")) {
			cr_assert_eq(rc, c->want[1] == 'I' ? -EINVAL : -ENOSPC, "%s: %d", c->in, rc);
			continue;
		}
		cr_assert_eq(rc, 0, "%s", c->in);
		int k = rtsp_format_transport(t, n, out, sizeof(out));
		if (!strcmp(c->want, "UNKNOWN")) {
			cr_assert_eq(t[0].profile, RTSP_PROF_UNKNOWN);
			cr_assert_eq(k, -EINVAL);
			continue;
		}
		cr_assert_gt(k, 0, "%s", c->in);
		cr_assert_str_eq(out, c->want);
		/* the formatted form parses to the same and formats the same */
		struct rtsp_transport t2[RTSP_MAX_TRANSPORTS];
		size_t n2;
		char out2[512];
		cr_assert_eq(rtsp_parse_transport(S(out), t2, RTSP_MAX_TRANSPORTS, &n2), 0);
		cr_assert_eq(n2, n);
		cr_assert_eq(rtsp_format_transport(t2, n2, out2, sizeof(out2)), k);
		cr_assert_str_eq(out2, out);
		/* every capacity short of k + 1 is -ENOSPC */
		for (int cap = 0; cap <= k; cap++)
			cr_assert_eq(rtsp_format_transport(t, n, out2, (size_t)cap), -ENOSPC);
	}
}

Test(rtsp_msg, transport_fields)
{
	struct rtsp_transport t[2];
	size_t n;
	cr_assert_eq(rtsp_parse_transport(S("RTP/AVP/TCP;unicast;interleaved=6-7;ssrc=DEADBEEF,"
					    "RTP/AVP;multicast;port=5000-5001"), t, 2, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert(t[0].tcp && !t[0].multicast && t[0].has_interleaved);
	cr_assert_eq(t[0].interleaved[0], 6);
	cr_assert_eq(t[0].interleaved[1], 7);
	cr_assert_eq(t[0].ssrc, 0xDEADBEEFu);
	cr_assert(!t[1].tcp && t[1].multicast && t[1].has_port && t[1].port[0] == 5000);
	/* format refuses a destination that would add a parameter */
	t[0].destination = S("1.2.3.4;evil=1");
	char out[128];
	cr_assert_eq(rtsp_format_transport(t, 1, out, sizeof(out)), -EINVAL);
	t[0].destination = S("1.2.3.4,RTP/AVP");
	cr_assert_eq(rtsp_format_transport(t, 1, out, sizeof(out)), -EINVAL);
	t[0].destination = S("1.2.3.4");
	cr_assert_gt(rtsp_format_transport(t, 1, out, sizeof(out)), 0);
}

Test(rtsp_msg, session_table)
{
	static const struct {
		const char *in;
		int rc;
		const char *id;
		bool has_timeout;
		uint32_t timeout;
	} c[] = {
		{ "12345678;timeout=60", 0, "12345678", true, 60 },
		{ "ABCDEF0123456789", 0, "ABCDEF0123456789", false, 60 },
		{ " 66334873 ; timeout = 30 ", 0, "66334873", true, 30 },
		{ "a$b-c_d.e+f;x=1;timeout=5", 0, "a$b-c_d.e+f", true, 5 },
		{ "abc;timeout=x", -EINVAL, NULL, false, 0 },
		{ "abc;timeout=", -EINVAL, NULL, false, 0 },
		{ "abc;timeout=2147483648", -EINVAL, NULL, false, 0 },
		{ ";timeout=5", -EINVAL, NULL, false, 0 },
		{ "", -EINVAL, NULL, false, 0 },
		{ "a b", -EINVAL, NULL, false, 0 },
		{ "a,b", -EINVAL, NULL, false, 0 },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct rtsp_session_hdr s;
		int rc = rtsp_parse_session(S(c[i].in), &s);
		cr_assert_eq(rc, c[i].rc, "%s", c[i].in);
		if (rc)
			continue;
		cr_assert_eq(s.id.len, strlen(c[i].id), "%s", c[i].in);
		cr_assert_eq(memcmp(s.id.p, c[i].id, s.id.len), 0);
		cr_assert_eq(s.has_timeout, c[i].has_timeout);
		cr_assert_eq(s.timeout, c[i].timeout);
	}
	char big[RTSP_MAX_SESSION_ID + 2];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	struct rtsp_session_hdr s;
	cr_assert_eq(rtsp_parse_session(S(big), &s), -EINVAL);
	big[RTSP_MAX_SESSION_ID] = '\0';
	cr_assert_eq(rtsp_parse_session(S(big), &s), 0);
}

Test(rtsp_msg, rtp_info)
{
	struct rtsp_rtp_info ri[4];
	size_t n;
	cr_assert_eq(rtsp_parse_rtp_info(S("url=rtsp://cam/s/trackID=1;seq=45102;rtptime=12345678,"
					   "url=rtsp://cam/s/trackID=2;seq=30211;rtptime=2252832"),
				     ri, 4, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(ri[0].url.len, strlen("rtsp://cam/s/trackID=1"));
	cr_assert(ri[0].has_seq && ri[0].seq == 45102 && ri[0].rtptime == 12345678);
	cr_assert(ri[1].has_rtptime && ri[1].rtptime == 2252832 && ri[1].seq == 30211);
	/* a comma inside a URL does not split */
	cr_assert_eq(rtsp_parse_rtp_info(S("url=rtsp://cam/a,b;seq=1 , url=rtsp://cam/c"), ri, 4, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(ri[0].url.len, strlen("rtsp://cam/a,b"));
	cr_assert(!ri[1].has_seq && !ri[1].has_rtptime);
	cr_assert_eq(rtsp_parse_rtp_info(S("url=x;seq=70000"), ri, 4, &n), -EINVAL);
	cr_assert_eq(rtsp_parse_rtp_info(S("url=x;rtptime=4294967296"), ri, 4, &n), -EINVAL);
	cr_assert_eq(rtsp_parse_rtp_info(S("seq=1"), ri, 4, &n), -EINVAL);
	cr_assert_eq(rtsp_parse_rtp_info(S("url=;seq=1"), ri, 4, &n), -EINVAL);
	cr_assert_eq(rtsp_parse_rtp_info(S("url=a,url=b,url=c"), ri, 2, &n), -ENOSPC);
}

Test(rtsp_msg, public)
{
	uint32_t m = rtsp_parse_public(S("OPTIONS, DESCRIBE, SETUP, TEARDOWN, PLAY, PAUSE, "
					 "GET_PARAMETER,SET_PARAMETER, X-FOO"));
	cr_assert_eq(m, (1u << RTSP_M_OPTIONS) | (1u << RTSP_M_DESCRIBE) | (1u << RTSP_M_SETUP) |
			(1u << RTSP_M_TEARDOWN) | (1u << RTSP_M_PLAY) | (1u << RTSP_M_PAUSE) |
			(1u << RTSP_M_GET_PARAMETER) | (1u << RTSP_M_SET_PARAMETER));
	cr_assert_eq(rtsp_parse_public(S("")), 0);
}

Test(rtsp_msg, u32_strict)
{
	uint32_t v;
	cr_assert_eq(rtsp_parse_u32("4294967295", 10, UINT32_MAX, &v), 0);
	cr_assert_eq(v, UINT32_MAX);
	cr_assert_eq(rtsp_parse_u32("4294967296", 10, UINT32_MAX, &v), -EINVAL);
	cr_assert_eq(rtsp_parse_u32("00000000001", 11, UINT32_MAX, &v), -EINVAL);
	cr_assert_eq(rtsp_parse_u32("", 0, UINT32_MAX, &v), -EINVAL);
	cr_assert_eq(rtsp_parse_u32("256", 3, 255, &v), -EINVAL);
}

/* ---- writers ---- */

Test(rtsp_msg, write_request_round_trip)
{
	static const char want[] = "SETUP rtsp://cam/s/trackID=0 RTSP/1.0\r\nCSeq: 3\r\n"
				   "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n"
				   "User-Agent: streampoint\r\n\r\n";
	struct rtsp_kv h[] = { { "Transport", "RTP/AVP/TCP;unicast;interleaved=0-1" },
			       { "User-Agent", "streampoint" } };
	char out[512];
	int n = rtsp_write_request(out, sizeof(out), RTSP_M_SETUP, NULL, "rtsp://cam/s/trackID=0", 3,
				   h, 2, NULL, 0);
	cr_assert_eq(n, (int)sizeof(want) - 1);
	cr_assert_str_eq(out, want);
	for (int cap = 0; cap <= n; cap++)
		cr_assert_eq(rtsp_write_request(out, (size_t)cap, RTSP_M_SETUP, NULL,
						"rtsp://cam/s/trackID=0", 3, h, 2, NULL, 0), -ENOSPC);
	/* unknown method by text, with a body */
	n = rtsp_write_request(out, sizeof(out), RTSP_M_UNKNOWN, "X-PING", "*", 9, NULL, 0, "hi", 2);
	cr_assert_str_eq(out, "X-PING * RTSP/1.0\r\nCSeq: 9\r\nContent-Length: 2\r\n\r\nhi");
	struct trace t;
	run(NULL, (const uint8_t *)out, (size_t)n, NULL, 0, &t);
	cr_assert_str_eq(t.s, "REQ X-PING? * cseq=9 h=2 body=2:hi");
}

Test(rtsp_msg, write_response)
{
	char out[256];
	struct rtsp_kv h[] = { { "Session", "12345678;timeout=60" } };
	int n = rtsp_write_response(out, sizeof(out), 454, NULL, 5, h, 1, NULL, 0);
	cr_assert_str_eq(out, "RTSP/1.0 454 Session Not Found\r\nCSeq: 5\r\n"
			      "Session: 12345678;timeout=60\r\n\r\n");
	struct trace t;
	run(NULL, (const uint8_t *)out, (size_t)n, NULL, 0, &t);
	cr_assert_str_eq(t.s, "RSP 454 Session Not Found cseq=5 h=2 body=0");
	for (int cap = 0; cap <= n; cap++)
		cr_assert_eq(rtsp_write_response(out, (size_t)cap, 454, NULL, 5, h, 1, NULL, 0),
			     -ENOSPC);
}

Test(rtsp_msg, writers_refuse_injection)
{
	char out[256];
	struct rtsp_kv crlf[] = { { "X", "a\r\nEvil: 1" } }, lf[] = { { "X", "a\nb" } },
		       name[] = { { "Bad Name", "v" } }, colon[] = { { "X:Y", "v" } },
		       empty[] = { { "", "v" } };
	cr_assert_eq(rtsp_write_request(out, sizeof(out), RTSP_M_OPTIONS, NULL, "*", 1, crlf, 1, NULL, 0), -EINVAL);
	cr_assert_eq(rtsp_write_request(out, sizeof(out), RTSP_M_OPTIONS, NULL, "*", 1, lf, 1, NULL, 0), -EINVAL);
	cr_assert_eq(rtsp_write_request(out, sizeof(out), RTSP_M_OPTIONS, NULL, "*", 1, name, 1, NULL, 0), -EINVAL);
	cr_assert_eq(rtsp_write_request(out, sizeof(out), RTSP_M_OPTIONS, NULL, "*", 1, colon, 1, NULL, 0), -EINVAL);
	cr_assert_eq(rtsp_write_request(out, sizeof(out), RTSP_M_OPTIONS, NULL, "*", 1, empty, 1, NULL, 0), -EINVAL);
	cr_assert_eq(rtsp_write_request(out, sizeof(out), RTSP_M_OPTIONS, NULL, "rtsp://a b", 1, NULL, 0, NULL, 0), -EINVAL);
	cr_assert_eq(rtsp_write_request(out, sizeof(out), RTSP_M_OPTIONS, NULL, "", 1, NULL, 0, NULL, 0), -EINVAL);
	cr_assert_eq(rtsp_write_request(out, sizeof(out), RTSP_M_UNKNOWN, "A B", "*", 1, NULL, 0, NULL, 0), -EINVAL);
	cr_assert_eq(rtsp_write_request(out, sizeof(out), RTSP_M_UNKNOWN, NULL, "*", 1, NULL, 0, NULL, 0), -EINVAL);
	cr_assert_eq(rtsp_write_response(out, sizeof(out), 200, "OK\r\nX: y", 1, NULL, 0, NULL, 0), -EINVAL);
	cr_assert_eq(rtsp_write_response(out, sizeof(out), 99, NULL, 1, NULL, 0, NULL, 0), -EINVAL);
}

Test(rtsp_msg, names)
{
	for (int e = 0; e < RTSP_ERR__COUNT; e++) {
		const char *n = rtsp_err_name((enum rtsp_err)e);
		cr_assert_not_null(n);
		cr_assert_lt(strlen(n), 32);
		cr_assert_str_neq(n, "unknown");
	}
	cr_assert_str_eq(rtsp_err_name(RTSP_ERR__COUNT), "unknown");
	for (int m = 1; m < RTSP_M__COUNT; m++) {
		const char *n = rtsp_method_name((enum rtsp_method)m);
		cr_assert_eq(rtsp_method_from(n, strlen(n)), (enum rtsp_method)m);
	}
	cr_assert_str_eq(rtsp_status_reason(461), "Unsupported Transport");
}

/* ------------------------------------------------------------ URL host:port */

Test(rtsp_url, hostport_table)
{
	static const struct {
		const char *url, *want; /* want NULL: -EINVAL */
	} urls[] = {
		{ "rtsp://127.0.0.1/live", "127.0.0.1:554" },
		{ "rtsp://127.0.0.1:8554/live", "127.0.0.1:8554" },
		{ "rtsp://admin:pw@cam.local:10554/Streaming/101?x=1", "cam.local:10554" },
		{ "rtsp://cam", "cam:554" },
		{ "rtsps://cam/x", "cam:322" },
		{ "rtsp://[fe80::1]:554/a", "[fe80::1]:554" },
		{ "rtsp://[::1]/a", "[::1]:554" },
		{ "rtsp://user@[::1]:9/a", "[::1]:9" },
		{ "http://cam/x", NULL },
		{ "rtsp:///x", NULL },
		{ "rtsp://cam:/x", NULL },
		{ "rtsp://cam:0/x", NULL },
		{ "rtsp://cam:65536/x", NULL },
		{ "rtsp://cam:12a/x", NULL },
		{ "rtsp://[::1/x", NULL },
		{ "rtsp://[]/x", NULL },
		{ "rtsp://[::1]x/x", NULL },
		{ "rtsp://ca m/x", NULL },
		{ "rtsp://@/x", NULL },
	};
	char out[64];
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		int n = rtsp_url_hostport(urls[i].url, out, sizeof(out));
		if (!urls[i].want) {
			cr_expect_eq(n, -EINVAL, "%s: %d", urls[i].url, n);
			continue;
		}
		cr_expect_eq(n, (int)strlen(urls[i].want), "%s: %d", urls[i].url, n);
		cr_expect_str_eq(out, urls[i].want, "%s", urls[i].url);
	}
	cr_expect_eq(rtsp_url_hostport("rtsp://a-long-camera-name/x", out, 8), -ENOSPC);
}
