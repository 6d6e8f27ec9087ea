/*
 * test_tun_frame: the tunnel framing and stream/credit session.
 *  - tests/data/tun_frame/frames.txt: every header field and every typed
 *    field at and just past its limits, with the reason each must fail;
 *    valid rows re-encode byte for byte.
 *  - the same rows, and a long mixed stream, parsed whole, split at every
 *    byte offset, and byte by byte: identical results.
 *  - two sessions (spdp = opener, agent = acceptor) wired through encoder
 *    and parser: interleaved streams, window exhaustion and update, FIN,
 *    and a table of peer violations saying which close the stream and
 *    which close the connection.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tun_frame.h"
#include "testdata.h"

#define DATA SP_TEST_DATA "/tun_frame/"

/* ---- vector file ---- */

struct vec {
	char name[64];
	char expect[32];
	uint8_t bytes[512];
	size_t len;
};

static size_t load_vectors(struct vec *v, size_t max)
{
	FILE *f = fopen(DATA "frames.txt", "r");
	cr_assert_not_null(f, "cannot open frames.txt");
	char line[2048];
	size_t n = 0;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		cr_assert_lt(n, max);
		int off = 0;
		cr_assert_eq(sscanf(line, "%63s %31s %n", v[n].name, v[n].expect, &off), 2);
		line[strcspn(line, "#")] = '\0'; /* trailing comment */
		long got = decode_hex(line + off, v[n].bytes, sizeof(v[n].bytes));
		cr_assert_geq(got, 0, "%s: bad hex", v[n].name);
		v[n].len = (size_t)got;
		n++;
	}
	fclose(f);
	return n;
}

/* Result of feeding a byte stream in a given chunking: the frames (copied)
 * and the final error. */
struct frame_copy {
	struct tun_frame f;
	uint8_t payload[TUN_MAX_PAYLOAD];
};

struct run {
	struct frame_copy *frames;
	size_t n, cap;
	enum tun_err err;
	bool idle;
};

static void run_init(struct run *r, size_t cap)
{
	r->frames = calloc(cap, sizeof(*r->frames));
	cr_assert_not_null(r->frames);
	r->n = 0;
	r->cap = cap;
	r->err = TUN_OK;
}

static void run_free(struct run *r) { free(r->frames); }

/* chunks: sizes to feed in turn (cycled); 0 = everything at once */
static void feed_all(tun_parser *p, const uint8_t *buf, size_t len, const size_t *chunks,
		     size_t nchunks, struct run *r)
{
	size_t off = 0, ci = 0;
	while (off < len) {
		size_t c = nchunks ? chunks[ci++ % nchunks] : len;
		if (c > len - off)
			c = len - off;
		size_t pos = 0;
		while (pos < c) {
			size_t used = 0;
			struct tun_frame f;
			int rc = tun_parser_feed(p, buf + off + pos, c - pos, &used, &f);
			cr_assert_leq(used, c - pos);
			pos += used;
			if (rc < 0) {
				cr_assert_eq(rc, -EPROTO);
				r->err = tun_parser_err(p);
				r->idle = false;
				return;
			}
			if (rc == 1) {
				cr_assert_lt(r->n, r->cap);
				struct frame_copy *fc = &r->frames[r->n++];
				fc->f = f;
				if (f.len)
					memcpy(fc->payload, f.payload, f.len);
				fc->f.payload = NULL;
				if (f.type == TUN_OPEN)
					fc->f.target = (const char *)fc->payload + 4;
			} else {
				cr_assert_eq(pos, c, "need-more must take everything");
			}
		}
		off += c;
	}
	r->idle = tun_parser_idle(p);
}

static void assert_same(const struct run *a, const struct run *b, const char *what)
{
	cr_assert_eq(a->n, b->n, "%s: %zu frames vs %zu", what, a->n, b->n);
	cr_assert_eq(a->err, b->err, "%s: err %s vs %s", what, tun_err_name(a->err),
		     tun_err_name(b->err));
	for (size_t i = 0; i < a->n; i++) {
		const struct tun_frame *x = &a->frames[i].f, *y = &b->frames[i].f;
		cr_assert_eq(x->type, y->type, "%s frame %zu", what, i);
		cr_assert_eq(x->flags, y->flags);
		cr_assert_eq(x->stream, y->stream);
		cr_assert_eq(x->len, y->len);
		cr_assert_eq(x->window, y->window);
		cr_assert_eq(x->reason, y->reason);
		cr_assert_eq(x->last_stream, y->last_stream);
		cr_assert_eq(x->target_len, y->target_len);
		cr_assert_eq(memcmp(x->ping, y->ping, TUN_PING_LEN), 0);
		cr_assert_eq(memcmp(a->frames[i].payload, b->frames[i].payload, x->len), 0,
			     "%s frame %zu payload", what, i);
	}
}

static struct vec vecs[256];

Test(tun_frame, vectors)
{
	size_t n = load_vectors(vecs, 256);
	cr_assert_gt(n, 50);
	for (size_t i = 0; i < n; i++) {
		struct vec *v = &vecs[i];
		tun_parser *p = tun_parser_new(TUN_MAX_PAYLOAD);
		struct run r;
		run_init(&r, 4);
		feed_all(p, v->bytes, v->len, NULL, 0, &r);
		cr_assert_str_eq(tun_err_name(r.err), v->expect, "%s: got %s want %s", v->name,
				 tun_err_name(r.err), v->expect);
		if (r.err == TUN_OK) {
			cr_assert_eq(r.n, 1, "%s", v->name);
			/* re-encode from the typed fields */
			uint8_t out[600];
			struct tun_frame f = r.frames[0].f;
			f.payload = r.frames[0].payload;
			int len = tun_frame_encode(&f, out, sizeof(out));
			cr_assert_eq(len, (int)v->len, "%s: encode %d", v->name, len);
			cr_assert_eq(memcmp(out, v->bytes, v->len), 0, "%s: re-encode differs", v->name);
			cr_assert_eq(tun_frame_check(&f, TUN_MAX_PAYLOAD), TUN_OK);
		} else {
			/* a failed parser stays failed */
			size_t used;
			struct tun_frame f;
			cr_assert_eq(tun_parser_feed(p, v->bytes, v->len, &used, &f), -EPROTO);
			cr_assert_eq(used, 0);
		}
		/* split at every offset: same verdict, same frame */
		for (size_t k = 1; k < v->len; k++) {
			tun_parser *q = tun_parser_new(TUN_MAX_PAYLOAD);
			struct run s;
			run_init(&s, 4);
			size_t chunks[2] = { k, v->len - k };
			feed_all(q, v->bytes, v->len, chunks, 2, &s);
			assert_same(&r, &s, v->name);
			run_free(&s);
			tun_parser_free(q);
		}
		run_free(&r);
		tun_parser_free(p);
	}
}

Test(tun_frame, length_limits)
{
	static uint8_t buf[TUN_HEADER_LEN + TUN_MAX_PAYLOAD];
	memset(buf, 0x5a, sizeof(buf));
	struct { uint32_t max; uint32_t len; enum tun_err want; } rows[] = {
		{ TUN_MAX_PAYLOAD, TUN_MAX_PAYLOAD, TUN_OK },
		{ TUN_MAX_PAYLOAD, 1, TUN_OK },
		{ 1024, 1024, TUN_OK },
		{ 1024, 1025, TUN_ERR_TOO_LONG },
		{ 16384, 16385, TUN_ERR_TOO_LONG },
		{ 16384, 16384, TUN_OK },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		tun_frame_header(buf, TUN_DATA, 0, 7, (uint16_t)rows[i].len);
		tun_parser *p = tun_parser_new(rows[i].max);
		cr_assert_not_null(p);
		struct run r;
		run_init(&r, 2);
		feed_all(p, buf, TUN_HEADER_LEN + rows[i].len, NULL, 0, &r);
		cr_assert_eq(r.err, rows[i].want, "row %zu: %s", i, tun_err_name(r.err));
		if (rows[i].want == TUN_OK)
			cr_assert_eq(r.frames[0].f.len, rows[i].len);
		run_free(&r);
		tun_parser_free(p);
	}
	/* the parser refuses an oversized frame from the header alone */
	tun_parser *p = tun_parser_new(1024);
	tun_frame_header(buf, TUN_DATA, 0, 7, 2000);
	size_t used;
	struct tun_frame f;
	cr_assert_eq(tun_parser_feed(p, buf, TUN_HEADER_LEN, &used, &f), -EPROTO);
	cr_assert_eq(tun_parser_err(p), TUN_ERR_TOO_LONG);
	tun_parser_free(p);
	/* parser configuration range */
	cr_assert_null(tun_parser_new(TUN_MIN_PAYLOAD_CFG - 1));
	cr_assert_null(tun_parser_new(TUN_MAX_PAYLOAD + 1));
}

Test(tun_frame, target_limits)
{
	char t[300];
	/* host of 249 chars + ":65535" = 255 bytes: the longest valid target */
	memset(t, 'h', 249);
	memcpy(t + 249, ":65535", 6);
	cr_assert(tun_target_valid(t, 255));
	memset(t, 'h', 250);
	memcpy(t + 250, ":65535", 6);
	cr_assert_not(tun_target_valid(t, 256));
	struct { const char *t; bool ok; } rows[] = {
		{ "127.0.0.1:554", true }, { "localhost:80", true }, { "cam-1.lan:8080", true },
		{ "[::1]:554", true }, { "[fe80::1]:1", true }, { "a:1", true },
		{ "a:0", false }, { "a:65536", false }, { "a:099", false }, { "a:", false },
		{ ":80", false }, { "a", false }, { "a:8o", false }, { "-a:80", false },
		{ ".a:80", false }, { "[]:80", false }, { "[::1]80", false }, { "[::g]:80", false },
		{ "a/b:80", false }, { "a:1:2x", false }, { "a:123456", false },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		cr_assert_eq(tun_target_valid(rows[i].t, strlen(rows[i].t)), rows[i].ok, "%s",
			     rows[i].t);
	/* encoder refuses what the parser would refuse */
	struct tun_frame f = { .type = TUN_OPEN, .stream = 1, .window = 1, .target = "nope",
			       .target_len = 4 };
	uint8_t out[300];
	cr_assert_eq(tun_frame_encode(&f, out, sizeof(out)), -EINVAL);
	f.target = "ok:1";
	cr_assert_eq(tun_frame_encode(&f, out, 10), -ENOSPC);
	cr_assert_eq(tun_frame_encode(&f, out, sizeof(out)), TUN_HEADER_LEN + 8);
}

/* A stream of mixed frames, parsed whole vs split at every offset vs byte
 * by byte vs odd chunk sizes: the frames must be identical. */
static size_t build_stream(uint8_t *buf, size_t cap)
{
	size_t n = 0;
	static uint8_t big[3000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	struct tun_frame fs[] = {
		{ .type = TUN_PING, .ping = { 1, 2, 3, 4, 5, 6, 7, 8 } },
		{ .type = TUN_OPEN, .stream = 1, .window = 4096, .target = "127.0.0.1:554", .target_len = 13 },
		{ .type = TUN_OPEN, .stream = 3, .window = TUN_MAX_WINDOW, .target = "[::1]:80", .target_len = 8 },
		{ .type = TUN_OPEN_OK, .stream = 1, .window = 65536 },
		{ .type = TUN_DATA, .stream = 1, .len = 1, .payload = big },
		{ .type = TUN_DATA, .stream = 3, .len = sizeof(big), .payload = big },
		{ .type = TUN_WINDOW_UPDATE, .stream = 1, .window = 1 },
		{ .type = TUN_DATA, .stream = 1, .flags = TUN_FLAG_FIN, .len = 0 },
		{ .type = TUN_CLOSE, .stream = 3, .reason = TUN_R_RESET },
		{ .type = TUN_OPEN_FAIL, .stream = 5, .reason = TUN_R_REFUSED },
		{ .type = TUN_AUTH_HELLO, .len = 3, .payload = big },
		{ .type = TUN_PONG, .ping = { 9, 9, 9, 9, 9, 9, 9, 9 } },
		{ .type = TUN_GOAWAY, .last_stream = 5, .reason = TUN_R_SHUTDOWN },
	};
	for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++) {
		int len = tun_frame_encode(&fs[i], buf + n, cap - n);
		cr_assert_gt(len, 0, "frame %zu: %d", i, len);
		n += (size_t)len;
	}
	return n;
}

Test(tun_frame, split_every_offset)
{
	static uint8_t buf[8192];
	size_t len = build_stream(buf, sizeof(buf));
	struct run whole;
	run_init(&whole, 32);
	tun_parser *p = tun_parser_new(TUN_MAX_PAYLOAD);
	feed_all(p, buf, len, NULL, 0, &whole);
	tun_parser_free(p);
	cr_assert_eq(whole.err, TUN_OK);
	cr_assert_eq(whole.n, 13);
	cr_assert(whole.idle);

	for (size_t k = 1; k < len; k++) {
		struct run r;
		run_init(&r, 32);
		size_t chunks[2] = { k, len };
		tun_parser *q = tun_parser_new(TUN_MAX_PAYLOAD);
		feed_all(q, buf, len, chunks, 2, &r);
		assert_same(&whole, &r, "split");
		cr_assert(r.idle);
		tun_parser_free(q);
		run_free(&r);
	}
	const size_t patterns[][3] = { { 1, 1, 1 }, { 3, 5, 7 }, { 8, 8, 8 }, { 9, 1, 4096 }, { 7, 13, 2 } };
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		struct run r;
		run_init(&r, 32);
		tun_parser *q = tun_parser_new(TUN_MAX_PAYLOAD);
		feed_all(q, buf, len, patterns[i], 3, &r);
		assert_same(&whole, &r, "pattern");
		tun_parser_free(q);
		run_free(&r);
	}
	/* a partial frame leaves the parser non-idle */
	tun_parser *q = tun_parser_new(TUN_MAX_PAYLOAD);
	struct run r;
	run_init(&r, 32);
	feed_all(q, buf, len - 1, NULL, 0, &r);
	cr_assert_not(r.idle);
	cr_assert_eq(r.n, 12);
	run_free(&r);
	tun_parser_free(q);
	run_free(&whole);
}

Test(tun_frame, idle_parser_is_small)
{
	static uint8_t buf[8192];
	size_t len = build_stream(buf, sizeof(buf));
	tun_parser *p = tun_parser_new(TUN_MAX_PAYLOAD);
	size_t idle = tun_parser_footprint(p);
	cr_assert_lt(idle, 512, "idle parser holds %zu bytes", idle);
	/* whole frames in one chunk: parsed in place, nothing allocated */
	struct run r;
	run_init(&r, 32);
	feed_all(p, buf, len, NULL, 0, &r);
	cr_assert_eq(r.n, 13);
	cr_assert_eq(tun_parser_footprint(p), idle);
	/* a split frame needs the reassembly buffer... */
	size_t chunks[1] = { 5 };
	r.n = 0;
	feed_all(p, buf, len, chunks, 1, &r);
	cr_assert_eq(r.n, 13);
	cr_assert_gt(tun_parser_footprint(p), idle);
	/* ...which trim gives back between frames, and only then */
	size_t used;
	struct tun_frame f;
	cr_assert_eq(tun_parser_feed(p, buf, 20, &used, &f), 1); /* PING, 16 bytes */
	cr_assert_eq(tun_parser_feed(p, buf + 16, 4, &used, &f), 0); /* half a header */
	tun_parser_trim(p);
	cr_assert_eq(tun_parser_footprint(p), idle, "no payload pending: buffer released");
	cr_assert_eq(tun_parser_feed(p, buf + 20, 10, &used, &f), 0); /* header + 6 payload bytes */
	tun_parser_trim(p);
	cr_assert_gt(tun_parser_footprint(p), idle, "payload pending: buffer kept");
	run_free(&r);
	tun_parser_free(p);
}

/* ---- sessions ---- */

/* Encodes a session's frame (DATA takes payload from data) and parses it
 * back as the peer would. */
static uint8_t wire[TUN_HEADER_LEN + TUN_MAX_PAYLOAD];

static struct tun_frame transmit(const struct tun_frame *f, const uint8_t *data, tun_parser *p)
{
	struct tun_frame c = *f;
	if (c.type == TUN_DATA)
		c.payload = data;
	int len = tun_frame_encode(&c, wire, sizeof(wire));
	cr_assert_gt(len, 0, "encode %s: %d", tun_type_name(c.type), len);
	size_t used;
	struct tun_frame out;
	cr_assert_eq(tun_parser_feed(p, wire, (size_t)len, &used, &out), 1);
	cr_assert_eq(used, (size_t)len);
	return out;
}

struct pair {
	tun_session *dp, *ag;         /* spdp (opener), agent (acceptor) */
	tun_parser *to_dp, *to_ag;
};

static void pair_init(struct pair *pr, uint32_t dp_window, uint32_t ag_window, uint32_t max_streams)
{
	struct tun_session_cfg c1 = { .opener = true, .initial_window = dp_window, .max_streams = max_streams };
	struct tun_session_cfg c2 = { .opener = false, .initial_window = ag_window, .max_streams = max_streams };
	pr->dp = tun_session_new(&c1);
	pr->ag = tun_session_new(&c2);
	pr->to_dp = tun_parser_new(TUN_MAX_PAYLOAD);
	pr->to_ag = tun_parser_new(TUN_MAX_PAYLOAD);
	cr_assert(pr->dp && pr->ag && pr->to_dp && pr->to_ag);
}

static void pair_free(struct pair *pr)
{
	tun_session_free(pr->dp);
	tun_session_free(pr->ag);
	tun_parser_free(pr->to_dp);
	tun_parser_free(pr->to_ag);
}

/* dp opens a stream to target, agent accepts; returns the id. */
static uint32_t open_stream(struct pair *pr, const char *target)
{
	uint32_t id;
	struct tun_frame f, g;
	struct tun_event ev;
	cr_assert_eq(tun_session_open(pr->dp, target, strlen(target), &id, &f), 0);
	g = transmit(&f, NULL, pr->to_ag);
	cr_assert_eq(tun_session_on_frame(pr->ag, &g, &ev), 0);
	cr_assert_eq(ev.kind, TUN_EV_OPEN);
	cr_assert_eq(ev.stream, id);
	cr_assert_eq(ev.target_len, strlen(target));
	cr_assert_eq(memcmp(ev.target, target, ev.target_len), 0);
	/* dp may not send before OPEN_OK */
	size_t allowed;
	cr_assert_eq(tun_session_send(pr->dp, id, 10, false, &allowed, &f), -EAGAIN);
	cr_assert_eq(tun_session_accept(pr->ag, id, &f), 0);
	g = transmit(&f, NULL, pr->to_dp);
	cr_assert_eq(tun_session_on_frame(pr->dp, &g, &ev), 0);
	cr_assert_eq(ev.kind, TUN_EV_OPENED);
	return id;
}

Test(tun_session, open_data_fin)
{
	struct pair pr;
	pair_init(&pr, 0, 0, 0);
	uint32_t id = open_stream(&pr, "127.0.0.1:554");
	cr_assert_eq(id, 1);
	cr_assert_eq(tun_session_send_window(pr.dp, id), TUN_DEFAULT_WINDOW);
	cr_assert_eq(tun_session_send_window(pr.ag, id), TUN_DEFAULT_WINDOW);

	static uint8_t msg[100000];
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i ^ (i >> 8));
	size_t off = 0;
	static uint8_t got[100000];
	size_t got_n = 0;
	bool fin = false;
	while (!fin) {
		size_t allowed;
		struct tun_frame f;
		cr_assert_eq(tun_session_send(pr.ag, id, sizeof(msg) - off, true, &allowed, &f), 0);
		cr_assert_leq(allowed, TUN_MAX_PAYLOAD);
		struct tun_frame g = transmit(&f, msg + off, pr.to_dp);
		off += allowed;
		struct tun_event ev;
		cr_assert_eq(tun_session_on_frame(pr.dp, &g, &ev), 0);
		cr_assert_eq(ev.kind, TUN_EV_DATA);
		memcpy(got + got_n, ev.data, ev.len);
		got_n += ev.len;
		fin = ev.fin;
	}
	cr_assert_eq(got_n, sizeof(msg));
	cr_assert_eq(memcmp(got, msg, sizeof(msg)), 0);
	/* agent half-closed: more sends are refused */
	size_t allowed;
	struct tun_frame f;
	cr_assert_eq(tun_session_send(pr.ag, id, 1, false, &allowed, &f), -EPIPE);
	/* dp finishes its side: stream freed on both */
	cr_assert_eq(tun_session_send(pr.dp, id, 0, true, &allowed, &f), 0);
	struct tun_frame g = transmit(&f, NULL, pr.to_ag);
	struct tun_event ev;
	cr_assert_eq(tun_session_on_frame(pr.ag, &g, &ev), 0);
	cr_assert_eq(ev.kind, TUN_EV_DATA);
	cr_assert(ev.fin);
	cr_assert_eq(tun_session_live(pr.ag), 0);
	cr_assert_eq(tun_session_live(pr.dp), 0);
	pair_free(&pr);
}

Test(tun_session, interleaved_streams)
{
	struct pair pr;
	pair_init(&pr, 0, 0, 8);
	enum { NS = 5, LEN = 20000 };
	uint32_t ids[NS];
	static uint8_t src[NS][LEN], dst[NS][LEN];
	size_t sent[NS] = { 0 }, recv[NS] = { 0 };
	for (int i = 0; i < NS; i++) {
		ids[i] = open_stream(&pr, i % 2 ? "127.0.0.1:80" : "127.0.0.1:554");
		for (int j = 0; j < LEN; j++)
			src[i][j] = (uint8_t)(i * 31 + j * 7);
	}
	/* round robin, uneven slices, both directions on odd streams */
	bool more = true;
	for (int round = 0; more; round++) {
		more = false;
		for (int i = 0; i < NS; i++) {
			if (sent[i] == LEN)
				continue;
			size_t want = (size_t)(1 + (round * 37 + i * 101) % 3000);
			if (want > LEN - sent[i])
				want = LEN - sent[i];
			size_t allowed;
			struct tun_frame f;
			cr_assert_eq(tun_session_send(pr.ag, ids[i], want, false, &allowed, &f), 0);
			struct tun_frame g = transmit(&f, src[i] + sent[i], pr.to_dp);
			sent[i] += allowed;
			struct tun_event ev;
			cr_assert_eq(tun_session_on_frame(pr.dp, &g, &ev), 0);
			cr_assert_eq(ev.kind, TUN_EV_DATA);
			int k = -1;
			for (int j = 0; j < NS; j++)
				if (ids[j] == ev.stream)
					k = j;
			cr_assert_eq(k, i);
			memcpy(dst[k] + recv[k], ev.data, ev.len);
			recv[k] += ev.len;
			if (sent[i] < LEN)
				more = true;
		}
	}
	for (int i = 0; i < NS; i++) {
		cr_assert_eq(recv[i], LEN);
		cr_assert_eq(memcmp(src[i], dst[i], LEN), 0, "stream %u corrupted", ids[i]);
	}
	pair_free(&pr);
}

Test(tun_session, window_exhaustion_and_update)
{
	struct pair pr;
	/* agent receives with a 4 KiB window per stream */
	pair_init(&pr, 0, 4096, 0);
	uint32_t a = open_stream(&pr, "127.0.0.1:554");
	uint32_t b = open_stream(&pr, "127.0.0.1:80");
	static uint8_t data[8192];
	size_t allowed;
	struct tun_frame f, g;
	struct tun_event ev;
	cr_assert_eq(tun_session_send(pr.dp, a, 5000, false, &allowed, &f), 0);
	cr_assert_eq(allowed, 4096);
	g = transmit(&f, data, pr.to_ag);
	cr_assert_eq(tun_session_on_frame(pr.ag, &g, &ev), 0);
	cr_assert_eq(ev.len, 4096);
	cr_assert_eq(tun_session_recv_window(pr.ag, a), 0);
	/* stream a blocked, stream b unaffected */
	cr_assert_eq(tun_session_send(pr.dp, a, 1, false, &allowed, &f), -EAGAIN);
	cr_assert_eq(tun_session_send(pr.dp, b, 100, false, &allowed, &f), 0);
	cr_assert_eq(allowed, 100);
	g = transmit(&f, data, pr.to_ag);
	cr_assert_eq(tun_session_on_frame(pr.ag, &g, &ev), 0);
	cr_assert_eq(ev.kind, TUN_EV_DATA);
	/* consuming less than half the window sends nothing */
	cr_assert_eq(tun_session_consumed(pr.ag, a, 1000, &f), 0);
	/* more than was received is a caller bug */
	cr_assert_eq(tun_session_consumed(pr.ag, a, 4000, &f), -EINVAL);
	cr_assert_eq(tun_session_consumed(pr.ag, a, 1048, &f), 1);
	cr_assert_eq(f.type, TUN_WINDOW_UPDATE);
	cr_assert_eq(f.window, 2048);
	cr_assert_eq(tun_session_recv_window(pr.ag, a), 2048);
	g = transmit(&f, NULL, pr.to_dp);
	cr_assert_eq(tun_session_on_frame(pr.dp, &g, &ev), 0);
	cr_assert_eq(ev.kind, TUN_EV_WRITABLE);
	cr_assert_eq(ev.stream, a);
	cr_assert_eq(tun_session_send_window(pr.dp, a), 2048);
	cr_assert_eq(tun_session_send(pr.dp, a, 3000, false, &allowed, &f), 0);
	cr_assert_eq(allowed, 2048);
	pair_free(&pr);
}

Test(tun_session, local_api_errors)
{
	struct pair pr;
	pair_init(&pr, 0, 0, 2);
	uint32_t id;
	struct tun_frame f;
	size_t allowed;
	/* only the opener opens */
	cr_assert_eq(tun_session_open(pr.ag, "a:1", 3, &id, &f), -EPERM);
	cr_assert_eq(tun_session_open(pr.dp, "bad", 3, &id, &f), -EINVAL);
	uint32_t a = open_stream(&pr, "a:1");
	open_stream(&pr, "a:2");
	cr_assert_eq(tun_session_open(pr.dp, "a:3", 3, &id, &f), -ENOSPC, "max_streams");
	cr_assert_eq(tun_session_send(pr.dp, 99, 1, false, &allowed, &f), -ENOENT);
	cr_assert_eq(tun_session_send(pr.dp, a, 0, false, &allowed, &f), -EINVAL);
	cr_assert_eq(tun_session_accept(pr.ag, a, &f), -EINVAL, "already accepted");
	cr_assert_eq(tun_session_close(pr.dp, a, TUN_R_NONE, &f), 0);
	cr_assert_eq(f.type, TUN_CLOSE);
	cr_assert_eq(tun_session_close(pr.dp, a, TUN_R_NONE, &f), -ENOENT);
	cr_assert_eq(tun_session_live(pr.dp), 1);
	cr_assert_eq(tun_session_goaway(pr.dp, TUN_R_SHUTDOWN, &f), 0);
	cr_assert_eq(f.type, TUN_GOAWAY);
	cr_assert_eq(tun_session_open(pr.dp, "a:3", 3, &id, &f), -ESHUTDOWN);
	/* bad configurations */
	struct tun_session_cfg bad1 = { .max_streams = TUN_MAX_STREAMS_CFG + 1 };
	struct tun_session_cfg bad2 = { .max_payload = 100 };
	cr_assert_null(tun_session_new(&bad1));
	cr_assert_null(tun_session_new(&bad2));
	pair_free(&pr);
}

Test(tun_session, refuse_and_limits)
{
	struct pair pr;
	pair_init(&pr, 0, 0, 1);
	uint32_t id;
	struct tun_frame f, g;
	struct tun_event ev;
	/* the agent refuses a target outside its allow-list */
	cr_assert_eq(tun_session_open(pr.dp, "10.0.0.1:22", 11, &id, &f), 0);
	g = transmit(&f, NULL, pr.to_ag);
	cr_assert_eq(tun_session_on_frame(pr.ag, &g, &ev), 0);
	cr_assert_eq(ev.kind, TUN_EV_OPEN);
	cr_assert_eq(tun_session_refuse(pr.ag, id, TUN_R_REFUSED, &f), 0);
	g = transmit(&f, NULL, pr.to_dp);
	cr_assert_eq(tun_session_on_frame(pr.dp, &g, &ev), 0);
	cr_assert_eq(ev.kind, TUN_EV_OPEN_FAILED);
	cr_assert_eq(ev.reason, TUN_R_REFUSED);
	cr_assert_eq(tun_session_live(pr.dp), 0);
	cr_assert_eq(tun_session_live(pr.ag), 0);

	/* agent full (max_streams 1): second OPEN answered OPEN_FAIL by the session */
	open_stream(&pr, "a:1");
	struct tun_frame o = { .type = TUN_OPEN, .stream = 10, .window = 100, .target = "a:2", .target_len = 3 };
	g = transmit(&o, NULL, pr.to_ag);
	cr_assert_eq(tun_session_on_frame(pr.ag, &g, &ev), 0);
	cr_assert_eq(ev.kind, TUN_EV_NONE);
	cr_assert(ev.has_reply);
	cr_assert_eq(ev.reply.type, TUN_OPEN_FAIL);
	cr_assert_eq(ev.reply.reason, TUN_R_TOO_MANY_STREAMS);

	/* PING answered with the same opaque */
	tun_session_ping(pr.dp, 0x0102030405060708ull, &f);
	g = transmit(&f, NULL, pr.to_ag);
	cr_assert_eq(tun_session_on_frame(pr.ag, &g, &ev), 0);
	cr_assert_eq(ev.kind, TUN_EV_PING);
	cr_assert_eq(ev.reply.type, TUN_PONG);
	cr_assert_eq(memcmp(ev.reply.ping, f.ping, 8), 0);
	g = transmit(&ev.reply, NULL, pr.to_dp);
	cr_assert_eq(tun_session_on_frame(pr.dp, &g, &ev), 0);
	cr_assert_eq(ev.kind, TUN_EV_PONG);

	/* GOAWAY from the agent stops new opens at spdp */
	cr_assert_eq(tun_session_goaway(pr.ag, TUN_R_SHUTDOWN, &f), 0);
	cr_assert_eq(f.last_stream, 10);
	g = transmit(&f, NULL, pr.to_dp);
	cr_assert_eq(tun_session_on_frame(pr.dp, &g, &ev), 0);
	cr_assert_eq(ev.kind, TUN_EV_GOAWAY);
	cr_assert_eq(ev.last_stream, 10);
	cr_assert_eq(tun_session_open(pr.dp, "a:1", 3, &id, &f), -ESHUTDOWN);
	pair_free(&pr);
}

/* Peer violations against an agent session holding stream 1 (open, 1 KiB
 * windows both ways, 10 bytes already received with FIN on stream 3 in
 * rows that say so). Which frames close one stream and which the
 * connection, with which reason. */
struct violation {
	const char *name;
	struct tun_frame f;
	int rc;
	enum tun_event_kind kind;
	uint8_t reply_type;     /* 0xff: no reply */
	enum tun_reason reason;
};

static const uint8_t zeros[2048];

static const struct violation violations[] = {
	{ "data_over_window", { .type = TUN_DATA, .stream = 1, .len = 1025 }, 0,
	  TUN_EV_STREAM_ERROR, TUN_CLOSE, TUN_R_FLOW_CONTROL },
	{ "data_at_window", { .type = TUN_DATA, .stream = 1, .len = 1024 }, 0,
	  TUN_EV_DATA, 0xff, 0 },
	{ "data_after_fin", { .type = TUN_DATA, .stream = 3, .len = 1 }, 0,
	  TUN_EV_STREAM_ERROR, TUN_CLOSE, TUN_R_STREAM_CLOSED },
	{ "data_never_opened", { .type = TUN_DATA, .stream = 9, .len = 1 }, -EPROTO,
	  TUN_EV_CONN_ERROR, TUN_GOAWAY, TUN_R_PROTOCOL },
	{ "data_closed_stream", { .type = TUN_DATA, .stream = 2, .len = 1 }, 0,
	  TUN_EV_NONE, 0xff, 0 },
	{ "window_closed_stream", { .type = TUN_WINDOW_UPDATE, .stream = 2, .window = 1 }, 0,
	  TUN_EV_NONE, 0xff, 0 },
	{ "window_overflow", { .type = TUN_WINDOW_UPDATE, .stream = 1, .window = TUN_MAX_WINDOW }, 0,
	  TUN_EV_STREAM_ERROR, TUN_CLOSE, TUN_R_FLOW_CONTROL },
	{ "window_to_max", { .type = TUN_WINDOW_UPDATE, .stream = 1, .window = TUN_MAX_WINDOW - 1024 }, 0,
	  TUN_EV_WRITABLE, 0xff, 0 },
	{ "window_never_opened", { .type = TUN_WINDOW_UPDATE, .stream = 7, .window = 1 }, -EPROTO,
	  TUN_EV_CONN_ERROR, TUN_GOAWAY, TUN_R_PROTOCOL },
	{ "open_reused_id", { .type = TUN_OPEN, .stream = 1, .window = 1, .target = "a:1", .target_len = 3 },
	  -EPROTO, TUN_EV_CONN_ERROR, TUN_GOAWAY, TUN_R_PROTOCOL },
	{ "open_lower_id", { .type = TUN_OPEN, .stream = 2, .window = 1, .target = "a:1", .target_len = 3 },
	  -EPROTO, TUN_EV_CONN_ERROR, TUN_GOAWAY, TUN_R_PROTOCOL },
	{ "open_next_id", { .type = TUN_OPEN, .stream = 4, .window = 1, .target = "a:1", .target_len = 3 },
	  0, TUN_EV_OPEN, 0xff, 0 },
	{ "open_ok_to_acceptor", { .type = TUN_OPEN_OK, .stream = 1, .window = 1 }, -EPROTO,
	  TUN_EV_CONN_ERROR, TUN_GOAWAY, TUN_R_PROTOCOL },
	{ "open_fail_to_acceptor", { .type = TUN_OPEN_FAIL, .stream = 1, .reason = TUN_R_REFUSED }, -EPROTO,
	  TUN_EV_CONN_ERROR, TUN_GOAWAY, TUN_R_PROTOCOL },
	{ "close", { .type = TUN_CLOSE, .stream = 1, .reason = TUN_R_RESET }, 0,
	  TUN_EV_CLOSED, 0xff, 0 },
	{ "ping", { .type = TUN_PING }, 0, TUN_EV_PING, TUN_PONG, 0 },
	{ "goaway", { .type = TUN_GOAWAY, .reason = TUN_R_SHUTDOWN }, 0, TUN_EV_GOAWAY, 0xff, 0 },
	{ "auth_frame", { .type = TUN_AUTH_HELLO, .len = 1 }, 0, TUN_EV_CONTROL, 0xff, 0 },
};

static tun_session *violation_setup(void)
{
	struct tun_session_cfg c = { .opener = false, .initial_window = 1024, .max_streams = 8 };
	tun_session *s = tun_session_new(&c);
	struct tun_event ev;
	/* streams 1, 2, 3 opened and accepted; 2 closed locally; 3 got FIN */
	for (uint32_t id = 1; id <= 3; id++) {
		struct tun_frame o = { .type = TUN_OPEN, .stream = id, .window = 1024,
				       .target = "a:1", .target_len = 3, .len = 7 };
		struct tun_frame f;
		cr_assert_eq(tun_session_on_frame(s, &o, &ev), 0);
		cr_assert_eq(tun_session_accept(s, id, &f), 0);
	}
	struct tun_frame f;
	cr_assert_eq(tun_session_close(s, 2, TUN_R_NONE, &f), 0);
	struct tun_frame d = { .type = TUN_DATA, .stream = 3, .flags = TUN_FLAG_FIN, .len = 10,
			       .payload = zeros };
	cr_assert_eq(tun_session_on_frame(s, &d, &ev), 0);
	cr_assert(ev.fin);
	return s;
}

Test(tun_session, violations_table)
{
	for (size_t i = 0; i < sizeof(violations) / sizeof(violations[0]); i++) {
		const struct violation *v = &violations[i];
		tun_session *s = violation_setup();
		struct tun_frame f = v->f;
		if (f.type == TUN_DATA || f.type >= TUN_AUTH_HELLO)
			f.payload = zeros;
		/* the table's frames are well-formed (they go through the encoder
		 * and the parser): the violations are session-level */
		tun_parser *p = tun_parser_new(TUN_MAX_PAYLOAD);
		f = transmit(&f, zeros, p);
		struct tun_event ev;
		unsigned live = tun_session_live(s);
		int rc = tun_session_on_frame(s, &f, &ev);
		cr_assert_eq(rc, v->rc, "%s: rc %d", v->name, rc);
		cr_assert_eq(ev.kind, v->kind, "%s: kind %d", v->name, ev.kind);
		if (v->reply_type == 0xff) {
			cr_assert_not(ev.has_reply, "%s", v->name);
		} else {
			cr_assert(ev.has_reply, "%s", v->name);
			cr_assert_eq(ev.reply.type, v->reply_type, "%s", v->name);
			if (v->reply_type != TUN_PONG) {
				cr_assert_eq(ev.reply.reason, v->reason, "%s", v->name);
				cr_assert_eq(tun_session_violations(s, v->reason), 1, "%s", v->name);
			}
			/* the reply is itself a valid frame */
			uint8_t out[64];
			cr_assert_gt(tun_frame_encode(&ev.reply, out, sizeof(out)), 0, "%s", v->name);
		}
		if (v->kind == TUN_EV_STREAM_ERROR) {
			/* that stream is gone, the others live on */
			cr_assert_eq(tun_session_live(s), live - 1, "%s", v->name);
			cr_assert_eq(tun_session_send_window(s, f.stream), -1);
			cr_assert_geq(tun_session_send_window(s, f.stream == 1 ? 3 : 1), 0);
		}
		tun_session_free(s);
		tun_parser_free(p);
	}
}

Test(tun_session, opener_side_violations)
{
	struct tun_session_cfg c = { .opener = true, .initial_window = 1024 };
	tun_session *s = tun_session_new(&c);
	struct tun_event ev;
	struct tun_frame f;
	uint32_t id;
	/* the agent may not open streams */
	struct tun_frame o = { .type = TUN_OPEN, .stream = 1, .window = 1, .target = "a:1",
			       .target_len = 3, .len = 7 };
	cr_assert_eq(tun_session_on_frame(s, &o, &ev), -EPROTO);
	cr_assert_eq(ev.reply.type, TUN_GOAWAY);
	tun_session_free(s);

	s = tun_session_new(&c);
	cr_assert_eq(tun_session_open(s, "a:1", 3, &id, &f), 0);
	/* DATA before OPEN_OK */
	struct tun_frame d = { .type = TUN_DATA, .stream = id, .len = 1, .payload = zeros };
	cr_assert_eq(tun_session_on_frame(s, &d, &ev), -EPROTO);
	cr_assert_eq(ev.reason, TUN_R_PROTOCOL);
	tun_session_free(s);

	s = tun_session_new(&c);
	cr_assert_eq(tun_session_open(s, "a:1", 3, &id, &f), 0);
	struct tun_frame ok = { .type = TUN_OPEN_OK, .stream = id, .window = 10 };
	cr_assert_eq(tun_session_on_frame(s, &ok, &ev), 0);
	cr_assert_eq(ev.kind, TUN_EV_OPENED);
	/* second OPEN_OK */
	cr_assert_eq(tun_session_on_frame(s, &ok, &ev), -EPROTO);
	tun_session_free(s);

	/* OPEN_OK for a stream we closed while it was opening: dropped */
	s = tun_session_new(&c);
	cr_assert_eq(tun_session_open(s, "a:1", 3, &id, &f), 0);
	cr_assert_eq(tun_session_close(s, id, TUN_R_TIMEOUT, &f), 0);
	cr_assert_eq(tun_session_on_frame(s, &ok, &ev), 0);
	cr_assert_eq(ev.kind, TUN_EV_NONE);
	tun_session_free(s);
}

Test(tun_frame, names)
{
	for (int i = 0; i < TUN_ERR__COUNT; i++)
		cr_assert_not_null(tun_err_name((enum tun_err)i));
	for (int i = 0; i < TUN_R__COUNT; i++)
		cr_assert_str_neq(tun_reason_name((enum tun_reason)i), "unknown");
	cr_assert_str_eq(tun_err_name(TUN_ERR__COUNT), "unknown");
	cr_assert_str_eq(tun_type_name(TUN_WINDOW_UPDATE), "WINDOW_UPDATE");
}
