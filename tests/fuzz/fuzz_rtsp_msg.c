/*
 * fuzz_rtsp_msg: libFuzzer target for the RTSP reader and header value
 * parsers (common/rtsp_msg.c).
 *
 * Input: byte 0 picks the limits and the chunking pattern; the rest is the
 * byte stream. It is read whole and in chunks; invariants are checked with
 * abort() so libFuzzer reports them:
 *  - both chunkings give the same events (messages field by field, frames
 *    with the same length and payload checksum) and the same final error;
 *  - frame pieces lie inside the chunk just fed, in order, and add up to
 *    the frame length; bodies are exactly Content-Length <= max_body;
 *  - trimming the reader after every event changes nothing;
 *  - header counts within max_headers; every header value parser runs on
 *    every header; a Transport that parses and formats, parses again to
 *    the same number of specs and formats identically.
 * Deterministic, no I/O, everything freed before returning.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rtsp_auth.h"
#include "rtsp_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)               \
	do {                      \
		if (!(cond))      \
			abort();  \
	} while (0)

#define MAX_EV 512

struct ev_rec {
	uint8_t kind;
	uint8_t channel;
	uint16_t status;
	uint32_t len, n_headers, cseq, sum;
	uint32_t method;
};

struct run_rec {
	struct ev_rec ev[MAX_EV];
	size_t n;
	enum rtsp_err err;
};

static uint32_t sum(const uint8_t *p, size_t n, uint32_t s)
{
	for (size_t i = 0; i < n; i++)
		s = s * 31 + p[i];
	return s;
}

static void check_values(const struct rtsp_msg *m)
{
	for (uint32_t i = 0; i < m->n_headers; i++) {
		struct rtsp_str v = m->headers[i].value;
		struct rtsp_transport t[RTSP_MAX_TRANSPORTS], t2[RTSP_MAX_TRANSPORTS];
		size_t n, n2;
		struct rtsp_session_hdr sh;
		struct rtsp_rtp_info ri[4];
		static char out[2048], out2[2048];
		if (rtsp_parse_transport(v, t, RTSP_MAX_TRANSPORTS, &n) == 0) {
			int k = rtsp_format_transport(t, n, out, sizeof(out));
			if (k > 0) {
				struct rtsp_str s = { out, (uint32_t)k };
				CHECK(rtsp_parse_transport(s, t2, RTSP_MAX_TRANSPORTS, &n2) == 0);
				CHECK(n2 == n);
				CHECK(rtsp_format_transport(t2, n2, out2, sizeof(out2)) == k);
				CHECK(memcmp(out, out2, (size_t)k) == 0);
			}
		}
		if (rtsp_parse_session(v, &sh) == 0)
			CHECK(sh.id.len >= 1 && sh.id.len <= RTSP_MAX_SESSION_ID);
		if (rtsp_parse_rtp_info(v, ri, 4, &n) == 0)
			CHECK(n >= 1 && n <= 4);
		(void)rtsp_parse_public(v);
		struct rtsp_auth_challenge ch;
		struct rtsp_auth_creds cr;
		(void)rtsp_auth_parse_challenge(v, &ch);
		(void)rtsp_auth_parse_credentials(v, &cr);
	}
}

static void run(const struct rtsp_limits *lim, const uint8_t *buf, size_t len, const size_t *chunks,
		size_t nchunks, struct run_rec *r, bool values)
{
	rtsp_reader *rd = rtsp_reader_new(lim);
	CHECK(rd);
	size_t off = 0, ci = 0;
	bool in_frame = false;
	uint32_t fsum = 0, fnext = 0;
	r->n = 0;
	r->err = RTSP_OK;
	while (off < len && r->err == RTSP_OK) {
		size_t c = nchunks ? chunks[ci++ % nchunks] : len;
		if (c > len - off)
			c = len - off;
		const uint8_t *chunk = buf + off;
		size_t pos = 0;
		while (pos < c) {
			size_t used = 0;
			struct rtsp_event ev;
			int rc = rtsp_reader_feed(rd, chunk + pos, c - pos, &used, &ev);
			CHECK(used <= c - pos);
			pos += used;
			if (rc < 0) {
				CHECK(rc == -EPROTO);
				r->err = rtsp_reader_err(rd);
				CHECK(r->err != RTSP_OK);
				break;
			}
			if (rc == 0) {
				CHECK(pos == c);
				continue;
			}
			if (ev.kind == RTSP_EV_FRAME) {
				CHECK(ev.data >= chunk && ev.data + ev.len <= chunk + c);
				CHECK(ev.off == (in_frame ? fnext : 0));
				CHECK((uint32_t)ev.off + ev.len <= ev.frame_len);
				if (!in_frame)
					fsum = 0;
				in_frame = !ev.end;
				fsum = sum(ev.data, ev.len, fsum);
				fnext = (uint32_t)ev.off + ev.len;
				if (!ev.end)
					continue;
				CHECK(fnext == ev.frame_len);
				if (r->n < MAX_EV)
					r->ev[r->n] = (struct ev_rec){ .kind = 2, .channel = ev.channel,
								       .len = ev.frame_len, .sum = fsum };
				r->n++;
				if (!values)
					rtsp_reader_trim(rd);
				continue;
			}
			CHECK(ev.kind == RTSP_EV_MSG && !in_frame);
			const struct rtsp_msg *m = ev.msg;
			CHECK(m->body_len == m->content_length);
			CHECK(m->body_len <= (lim->max_body ? lim->max_body : RTSP_DEFAULT_MAX_BODY));
			CHECK(m->n_headers <= (lim->max_headers ? lim->max_headers : RTSP_DEFAULT_MAX_HEADERS));
			CHECK(!m->is_request || (m->method_text.len && m->uri.len));
			CHECK(m->is_request || (m->status >= 100 && m->status <= 999));
			if (values)
				check_values(m);
			if (r->n < MAX_EV)
				r->ev[r->n] = (struct ev_rec){
					.kind = 1, .status = m->status, .len = m->body_len,
					.n_headers = m->n_headers, .cseq = m->has_cseq ? m->cseq : ~0u,
					.sum = sum(m->body, m->body_len, sum((const uint8_t *)m->uri.p,
									     m->uri.len, 0)),
					.method = m->method };
			r->n++;
			/* the chunked run drops its buffers after every message:
			 * reading must not depend on them surviving */
			if (!values)
				rtsp_reader_trim(rd);
		}
		off += c;
	}
	rtsp_reader_free(rd);
}

static struct run_rec a, b;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t ctl = data[0];
	/* A Location from a camera, as a pull follows it: host:port or an error. */
	if (size < 600) {
		char url[600], hp[300];
		memcpy(url, data + 1, size - 1);
		url[size - 1] = '\0';
		int n = rtsp_url_hostport(url, hp, sizeof(hp));
		if (n > 0 && (size_t)n != strlen(hp))
			abort();
	}
	static const struct rtsp_limits lims[4] = {
		{ 0, 0, 0 }, { 64, 2, 16 }, { 256, 8, 1024 }, { 4096, 4096, 70000 } };
	static const size_t pats[4][3] = { { 1, 1, 1 }, { 3, 7, 2 }, { 4, 5, 1 }, { 100, 1, 5000 } };
	const struct rtsp_limits *lim = &lims[ctl & 3];
	run(lim, data + 1, size - 1, NULL, 0, &a, true);
	run(lim, data + 1, size - 1, pats[(ctl >> 2) & 3], 3, &b, false);
	CHECK(a.n == b.n && a.err == b.err);
	for (size_t i = 0; i < a.n && i < MAX_EV; i++)
		CHECK(memcmp(&a.ev[i], &b.ev[i], sizeof(a.ev[i])) == 0);
	return 0;
}
