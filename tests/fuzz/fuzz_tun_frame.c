/*
 * fuzz_tun_frame: libFuzzer target for the tunnel frame parser and the
 * stream session (common/tun_frame.c).
 *
 * Input: byte 0 picks the receiver's max_payload, the chunking pattern and
 * the session role; the rest is the byte stream. It is parsed whole and in
 * chunks; invariants are checked with abort() so libFuzzer reports them:
 *  - both chunkings give the same frames and the same final error;
 *  - every frame the parser accepts passes tun_frame_check and re-encodes
 *    to exactly the bytes it was parsed from;
 *  - every reply the session asks us to send encodes and parses back;
 *  - the session's windows stay within 0..2^31-1 and live <= max_streams.
 * Deterministic, no I/O, everything freed before returning.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tun_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)               \
	do {                      \
		if (!(cond))      \
			abort();  \
	} while (0)

#define MAX_FRAMES 256

struct rec {
	uint8_t type, flags;
	uint32_t stream, len, window, last_stream;
	uint16_t reason;
	size_t start, end; /* span in the input */
};

static uint8_t enc[TUN_HEADER_LEN + TUN_MAX_PAYLOAD];

static void check_reply(const struct tun_frame *r)
{
	static const uint8_t zeros[TUN_MAX_PAYLOAD];
	struct tun_frame c = *r;
	if (c.type == TUN_DATA)
		c.payload = zeros;
	int n = tun_frame_encode(&c, enc, sizeof(enc));
	CHECK(n >= TUN_HEADER_LEN);
	tun_parser *p = tun_parser_new(TUN_MAX_PAYLOAD);
	CHECK(p);
	size_t used;
	struct tun_frame back;
	CHECK(tun_parser_feed(p, enc, (size_t)n, &used, &back) == 1);
	CHECK(used == (size_t)n);
	tun_parser_free(p);
}

static void session_step(tun_session *s, const struct tun_frame *f, bool opener, unsigned knob)
{
	struct tun_event ev;
	int rc = tun_session_on_frame(s, f, &ev);
	CHECK(rc == 0 || rc == -EPROTO);
	CHECK((rc == -EPROTO) == (ev.kind == TUN_EV_CONN_ERROR));
	if (ev.has_reply)
		check_reply(&ev.reply);
	struct tun_frame out;
	size_t allowed;
	switch (ev.kind) {
	case TUN_EV_OPEN:
		if (knob & 1) {
			CHECK(tun_session_accept(s, ev.stream, &out) == 0);
			check_reply(&out);
		} else {
			CHECK(tun_session_refuse(s, ev.stream, TUN_R_REFUSED, &out) == 0);
			check_reply(&out);
		}
		break;
	case TUN_EV_DATA:
		if (ev.len && tun_session_consumed(s, ev.stream, ev.len, &out) == 1)
			check_reply(&out);
		break;
	case TUN_EV_OPENED:
	case TUN_EV_WRITABLE:
		if (tun_session_send(s, ev.stream, 70000, knob & 2, &allowed, &out) == 0) {
			CHECK(allowed <= TUN_MAX_PAYLOAD);
			check_reply(&out);
		}
		break;
	default:
		break;
	}
	if (opener && (knob & 4)) {
		uint32_t id;
		if (tun_session_open(s, "127.0.0.1:554", 13, &id, &out) == 0)
			check_reply(&out);
	}
	if (ev.stream) {
		int64_t w = tun_session_send_window(s, ev.stream);
		CHECK(w >= -1 && w <= TUN_MAX_WINDOW);
		w = tun_session_recv_window(s, ev.stream);
		CHECK(w >= -1 && w <= TUN_MAX_WINDOW);
	}
	CHECK(tun_session_live(s) <= 4);
}

/* Parses buf in chunks of the given sizes (cycled; none = whole). */
static size_t run(const uint8_t *buf, size_t len, uint32_t max_payload, const size_t *chunks,
		  size_t nchunks, struct rec *recs, enum tun_err *err, tun_session *s, bool opener)
{
	tun_parser *p = tun_parser_new(max_payload);
	CHECK(p);
	size_t off = 0, n = 0, ci = 0, frame_start = 0;
	*err = TUN_OK;
	while (off < len && *err == TUN_OK) {
		size_t c = nchunks ? chunks[ci++ % nchunks] : len;
		if (c > len - off)
			c = len - off;
		size_t pos = 0;
		while (pos < c) {
			size_t used;
			struct tun_frame f;
			int rc = tun_parser_feed(p, buf + off + pos, c - pos, &used, &f);
			CHECK(used <= c - pos);
			pos += used;
			if (rc < 0) {
				CHECK(rc == -EPROTO);
				*err = tun_parser_err(p);
				CHECK(*err != TUN_OK);
				break;
			}
			if (rc == 0) {
				CHECK(pos == c);
				continue;
			}
			size_t end = off + pos;
			CHECK(tun_frame_check(&f, max_payload) == TUN_OK);
			CHECK(f.len <= max_payload);
			int el = tun_frame_encode(&f, enc, sizeof(enc));
			CHECK(el >= 0 && (size_t)el == end - frame_start);
			CHECK(memcmp(enc, buf + frame_start, (size_t)el) == 0);
			if (n < MAX_FRAMES) {
				struct rec *r = &recs[n];
				r->type = f.type;
				r->flags = f.flags;
				r->stream = f.stream;
				r->len = f.len;
				r->window = f.window;
				r->last_stream = f.last_stream;
				r->reason = f.reason;
				r->start = frame_start;
				r->end = end;
			}
			n++;
			if (s)
				session_step(s, &f, opener, (unsigned)(f.stream ^ f.len ^ n));
			frame_start = end;
		}
		off += c;
	}
	tun_parser_free(p);
	return n;
}

static struct rec a[MAX_FRAMES], b[MAX_FRAMES];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t ctl = data[0];
	const uint8_t *buf = data + 1;
	size_t len = size - 1;
	static const uint32_t maxes[4] = { TUN_MAX_PAYLOAD, TUN_MIN_PAYLOAD_CFG, 16384, 4096 };
	static const size_t pats[4][3] = { { 1, 1, 1 }, { 3, 7, 2 }, { 8, 9, 10 }, { 100, 1, 5000 } };
	uint32_t max = maxes[ctl & 3];
	bool opener = ctl & 0x10;

	struct tun_session_cfg cfg = { .opener = opener, .max_streams = 4,
				       .initial_window = (ctl & 0x20) ? 1024 : 0 };
	tun_session *s = tun_session_new(&cfg);
	CHECK(s);
	enum tun_err ea, eb;
	size_t na = run(buf, len, max, NULL, 0, a, &ea, s, opener);
	size_t nb = run(buf, len, max, pats[(ctl >> 2) & 3], 3, b, &eb, NULL, opener);
	CHECK(na == nb);
	CHECK(ea == eb);
	for (size_t i = 0; i < na && i < MAX_FRAMES; i++)
		CHECK(a[i].type == b[i].type && a[i].flags == b[i].flags &&
		      a[i].stream == b[i].stream && a[i].len == b[i].len &&
		      a[i].window == b[i].window && a[i].last_stream == b[i].last_stream &&
		      a[i].reason == b[i].reason && a[i].start == b[i].start && a[i].end == b[i].end);
	tun_session_free(s);
	return 0;
}
