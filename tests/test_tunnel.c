/*
 * test_tunnel: dataplane/tunnel.c over the fake backend, plaintext agents
 * (cfg.tls NULL; TLS itself is tls_stream's and the integration test's).
 * Time is a variable; the agent is this file, speaking frames built and
 * parsed with common/tun_frame.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "tunnel.h"
#include "tunnel_fake_backend.h"

#define S 1000000000ull
#define UNIX_NOW 1700000000ull

static struct dp_backend *be;
static tunnel *tn;
static agent_auth_keyring *kr;
static struct stats_block st;
static struct msg_tunnel_event evs[64];
static unsigned nev;
static uint64_t now;
static uint32_t lport;
static uint32_t rd[TB_PORTS]; /* bytes of each sink already read as frames */
static const uint8_t KEY[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };

static void on_event(void *ctx, const struct msg_tunnel_event *ev)
{
	(void)ctx;
	evs[nev++ % 64] = *ev;
}

static int dump_room = -1; /* dump records the "ring" takes; -1: any */

static int on_dump(void *ctx, const struct msg_tunnel_event *ev)
{
	if (dump_room == 0)
		return -ENOBUFS;
	if (dump_room > 0)
		dump_room--;
	on_event(ctx, ev);
	return 0;
}

static uint64_t unix_now(void *ctx)
{
	(void)ctx;
	return UNIX_NOW;
}

static void setup_window(uint32_t window)
{
	be = tb_new();
	kr = agent_auth_keyring_new();
	cr_assert_eq(agent_auth_keyring_add(kr, "k1", KEY, sizeof(KEY), true), 0);
	struct tunnel_cfg cfg = { .worker = 0, .max_ports = TB_PORTS, .max_agents = 4,
				  .max_streams = 8, .max_forwards = 4, .stream_window = window,
				  .buf_size = TB_BUF_SIZE, .handshake_ns = 1 * S,
				  .heartbeat_ns = 10 * S, .streampoint_id = "sp1", .keys = kr };
	struct tunnel_hooks hooks = { .event = on_event, .dump = on_dump, .unix_now = unix_now };
	dump_room = -1;
	memset(&st, 0, sizeof(st));
	memset(rd, 0, sizeof(rd));
	nev = 0;
	now = 5 * S;
	tn = tunnel_create(&cfg, &tb_ops, be, &st, &hooks);
	cr_assert_not_null(tn);
	cr_assert_eq(tb_listen_adopt(be, -1, &lport), 0);
	cr_assert_eq(tunnel_add_listener(tn, lport), 0);
}

static void setup(void)
{
	setup_window(8192);
}

static void teardown(void)
{
	tunnel_destroy(tn);
	cr_expect_eq(tb_refs_held(be), 0, "every buffer reference came back");
	agent_auth_keyring_free(kr);
	tb_free(be);
}

static void in(struct dp_pkt p)
{
	tunnel_input(tn, &p, 1, now);
}

static void tick(uint64_t dt)
{
	now += dt;
	tunnel_timers(tn, now);
}

static void send_bytes(uint32_t conn, const void *d, size_t len)
{
	const uint8_t *p = d;
	while (len) {
		uint32_t n = len > TB_BUF_SIZE ? TB_BUF_SIZE : (uint32_t)len;
		in(tb_rx(be, conn, p, n));
		p += n;
		len -= n;
	}
}

static uint32_t connect_agent(void)
{
	struct dp_pkt p = tb_accept(be, lport);
	in(p);
	return p.port;
}

static void sign(char *out, size_t cap, const char *dev, const char *sp, uint64_t iat,
		 uint32_t ttl, const agent_auth_keyring *with)
{
	cr_assert_gt(agent_auth_token_sign(with, dev, sp, iat, ttl, out, cap), 0);
}

static void upgrade(uint32_t conn, const char *tok)
{
	char req[1024];
	int n = agent_auth_upgrade_request(req, sizeof(req), "sp.test", "/agent", tok);
	cr_assert_gt(n, 0);
	send_bytes(conn, req, (size_t)n);
}

static int status_of(uint32_t conn)
{
	int code = 0;
	const struct tb_port *p = &be->p[conn];
	if (p->sink_len < 12 || sscanf((const char *)p->sink, "HTTP/1.1 %d", &code) != 1)
		return 0;
	return code;
}

static uint64_t drops(enum stat_drop d)
{
	return stats_read(&st.drops[d]);
}

/* The next frame spdp sent on conn (after the 101); false: none. */
static bool next_frame(uint32_t conn, struct tun_frame *f, uint8_t *payload)
{
	const struct tb_port *p = &be->p[conn];
	if (!rd[conn]) {
		const char *e = memmem(p->sink, p->sink_len, "\r\n\r\n", 4);
		cr_assert_not_null(e);
		rd[conn] = (uint32_t)((const uint8_t *)e + 4 - p->sink);
	}
	if (rd[conn] == p->sink_len)
		return false;
	tun_parser *ps = tun_parser_new(TUN_MAX_PAYLOAD);
	size_t used = 0;
	int rc = tun_parser_feed(ps, p->sink + rd[conn], p->sink_len - rd[conn], &used, f);
	cr_assert_eq(rc, 1, "spdp sent a whole, valid frame");
	if (f->len)
		memcpy(payload, f->payload, f->len);
	f->payload = payload;
	if (f->type == TUN_OPEN)
		f->target = (const char *)payload + 4;
	rd[conn] += (uint32_t)used;
	tun_parser_free(ps);
	return true;
}

static struct tun_frame expect_frame(uint32_t conn, uint8_t type, uint8_t *payload)
{
	struct tun_frame f;
	cr_assert(next_frame(conn, &f, payload), "a %s frame", tun_type_name((enum tun_type)type));
	cr_assert_eq(f.type, type, "got %s, expected %s", tun_type_name((enum tun_type)f.type),
		     tun_type_name((enum tun_type)type));
	return f;
}

static void no_frame(uint32_t conn)
{
	struct tun_frame f;
	uint8_t buf[TUN_MAX_PAYLOAD];
	bool got = next_frame(conn, &f, buf);
	cr_assert(!got, "unexpected %s frame", tun_type_name((enum tun_type)f.type));
}

static void agent_frame(uint32_t conn, uint8_t type, uint8_t flags, uint32_t stream,
			const void *data, uint32_t len, uint32_t window, uint16_t reason)
{
	struct tun_frame f = { .type = type, .flags = flags, .stream = stream, .len = len,
			       .payload = data, .window = window, .reason = reason };
	uint8_t buf[TUN_HEADER_LEN + TUN_MAX_PAYLOAD];
	if (type == TUN_OPEN_OK || type == TUN_WINDOW_UPDATE)
		f.len = 4;
	else if (type == TUN_CLOSE || type == TUN_OPEN_FAIL)
		f.len = 2;
	int n = tun_frame_encode(&f, buf, sizeof(buf));
	cr_assert_gt(n, 0);
	send_bytes(conn, buf, (size_t)n);
}

static uint32_t agent_up(const char *device)
{
	char tok[600];
	sign(tok, sizeof(tok), device, "sp1", UNIX_NOW - 10, 600, kr);
	uint32_t c = connect_agent();
	upgrade(c, tok);
	cr_assert_eq(status_of(c), 101);
	cr_assert_eq(evs[(nev - 1) % 64].kind, TUNNEL_EV_UP);
	cr_assert_str_eq(evs[(nev - 1) % 64].device, device);
	return c;
}

static uint32_t forward(const char *device, uint32_t fwd_id)
{
	struct msg_tunnel_cmd m = { .seq = 7, .op = MSG_TUNNEL_LISTEN, .fwd_id = fwd_id,
				    .idle_ms = 5000 };
	snprintf(m.device, sizeof(m.device), "%s", device);
	snprintf(m.target, sizeof(m.target), "127.0.0.1:80");
	tunnel_cmd(tn, &m, now);
	const struct msg_tunnel_event *ev = &evs[(nev - 1) % 64];
	cr_assert_eq(ev->kind, TUNNEL_EV_LISTENING, "error %d", ev->error);
	cr_assert_eq(ev->seq, 7);
	return ev->port - 40000u; /* the fake's listener numbering */
}

/* A local connection on forward listener fport; returns it, *stream its id. */
static uint32_t local_connect(uint32_t agent, uint32_t fport, uint32_t *stream)
{
	uint8_t pl[TUN_MAX_PAYLOAD];
	struct dp_pkt p = tb_accept(be, fport);
	in(p);
	struct tun_frame f = expect_frame(agent, TUN_OPEN, pl);
	cr_assert_eq(f.target_len, 12);
	cr_assert(!memcmp(f.target, "127.0.0.1:80", 12));
	*stream = f.stream;
	cr_assert(be->p[p.port].paused, "bytes wait until OPEN_OK");
	return p.port;
}

static uint32_t open_stream(uint32_t agent, uint32_t fport, uint32_t window, uint32_t *stream)
{
	uint32_t l = local_connect(agent, fport, stream);
	agent_frame(agent, TUN_OPEN_OK, 0, *stream, NULL, 0, window, 0);
	cr_assert(!be->p[l].paused);
	return l;
}

TestSuite(tunnel, .init = setup, .fini = teardown);

/* ------------------------------------------------------------ upgrade */

struct refusal {
	const char *name;
	const char *request; /* NULL: Upgrade with the token below */
	int token;           /* 0 none, 1 other key, 2 expired, 3 wrong streampoint, 4 unknown kid */
	int status;
	enum stat_drop drop;
};

Test(tunnel, upgrade_refusals)
{
	static const struct refusal cases[] = {
		{ "no token", NULL, 0, 401, DROP_TUN_NO_TOKEN },
		{ "bad signature", NULL, 1, 401, DROP_TUN_TOKEN_BAD },
		{ "expired", NULL, 2, 401, DROP_TUN_TOKEN_EXPIRED },
		{ "wrong streampoint", NULL, 3, 401, DROP_TUN_TOKEN_WRONG_SP },
		{ "unknown key id", NULL, 4, 401, DROP_TUN_TOKEN_BAD },
		{ "no upgrade", "GET /agent HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n\r\n", 0, 426,
		  DROP_TUN_BAD_PROTOCOL },
		{ "not GET", "POST /agent HTTP/1.1\r\nHost: x\r\n\r\n", 0, 400, DROP_TUN_BAD_REQUEST },
		{ "bare LF", "GET /agent HTTP/1.1\nHost: x\n\n", 0, 400, DROP_TUN_BAD_REQUEST },
	};
	agent_auth_keyring *other = agent_auth_keyring_new();
	uint8_t k2[32] = { 9 };
	agent_auth_keyring_add(other, "k1", k2, sizeof(k2), true);
	agent_auth_keyring *nokid = agent_auth_keyring_new();
	agent_auth_keyring_add(nokid, "k9", KEY, sizeof(KEY), true);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct refusal *c = &cases[i];
		uint64_t before = drops(c->drop);
		uint32_t conn = connect_agent();
		if (c->request) {
			send_bytes(conn, c->request, strlen(c->request));
		} else {
			char tok[600];
			switch (c->token) {
			case 1: sign(tok, sizeof(tok), "cam1", "sp1", UNIX_NOW, 600, other); break;
			case 2: sign(tok, sizeof(tok), "cam1", "sp1", UNIX_NOW - 7200, 60, kr); break;
			case 3: sign(tok, sizeof(tok), "cam1", "sp2", UNIX_NOW, 600, kr); break;
			case 4: sign(tok, sizeof(tok), "cam1", "sp1", UNIX_NOW, 600, nokid); break;
			default: break;
			}
			upgrade(conn, c->token ? tok : NULL);
		}
		cr_assert_eq(status_of(conn), c->status, "%s: status %d", c->name, status_of(conn));
		cr_assert_eq(drops(c->drop), before + 1, "%s counted", c->name);
		tick(S / 5); /* the answer is flushed: closed */
		cr_assert(!be->p[conn].open, "%s: closed after the answer", c->name);
		be->p[conn].sink_len = 0;
	}
	cr_assert_eq(tunnel_refusals(tn, AGENT_AUTH_TOK_EXPIRED), 1);
	cr_assert_eq(tunnel_refusals(tn, AGENT_AUTH_TOK_BAD_SIG), 1);
	cr_assert_eq(tunnel_refusals(tn, AGENT_AUTH_TOK_UNKNOWN_KID), 1);
	cr_assert_eq(nev, 0, "no tunnel came up");
	agent_auth_keyring_free(other);
	agent_auth_keyring_free(nokid);
}

Test(tunnel, oversized_header_refused)
{
	uint32_t conn = connect_agent();
	char line[200];
	const char *start = "GET /agent HTTP/1.1\r\n";
	send_bytes(conn, start, strlen(start));
	memset(line, 'a', sizeof(line));
	memcpy(line, "X-Pad: ", 7);
	line[198] = '\r';
	line[199] = '\n';
	for (int i = 0; i < 45 && be->p[conn].sink_len == 0; i++)
		send_bytes(conn, line, sizeof(line)); /* 9000 bytes, never a blank line */
	cr_assert_eq(status_of(conn), 400);
	cr_assert_eq(drops(DROP_TUN_BAD_REQUEST), 1);
}

Test(tunnel, slowloris_closed_at_deadline)
{
	uint32_t quiet = connect_agent();
	uint32_t half = connect_agent();
	const char *part = "GET /agent HTTP/1.1\r\nHost: x\r\n";
	send_bytes(half, part, strlen(part));
	tick(S / 2);
	cr_assert(be->p[quiet].open && be->p[half].open);
	tick(S / 2 + S / 10);
	cr_assert(!be->p[quiet].open && !be->p[half].open);
	cr_assert_eq(drops(DROP_TUN_HANDSHAKE_TIMEOUT), 2);
	cr_assert_eq(be->p[half].sink_len, 0, "no answer to a slowloris");
}

Test(tunnel, full_table_closes_at_accept)
{
	for (int i = 0; i < 4; i++)
		connect_agent();
	uint32_t c = connect_agent();
	cr_assert(!be->p[c].open);
	cr_assert_eq(drops(DROP_TUN_FULL), 1);
}

Test(tunnel, up_with_early_frames)
{
	/* The Upgrade and a PING in one read: the PING is answered. */
	char tok[600], req[1100];
	sign(tok, sizeof(tok), "cam1", "sp1", UNIX_NOW, 600, kr);
	int n = agent_auth_upgrade_request(req, sizeof(req), "h", "/agent", tok);
	struct tun_frame ping = { .type = TUN_PING, .len = 8 };
	memcpy(ping.ping, "12345678", 8);
	n += tun_frame_encode(&ping, (uint8_t *)req + n, sizeof(req) - (size_t)n);
	uint32_t c = connect_agent();
	send_bytes(c, req, (size_t)n);
	cr_assert_eq(status_of(c), 101);
	uint8_t pl[64];
	struct tun_frame f = expect_frame(c, TUN_PONG, pl);
	cr_assert(!memcmp(f.ping, "12345678", 8));
	cr_assert_eq(stats_read(&st.counters[STAT_TUN_UP]), 1);
}

/* ------------------------------------------------------------ streams */

Test(tunnel, local_to_agent_within_window_and_paused)
{
	uint8_t pl[TUN_MAX_PAYLOAD], data[4000];
	uint32_t a = agent_up("cam1"), stream;
	uint32_t fp = forward("cam1", 1);
	uint32_t l = local_connect(a, fp, &stream);
	for (int i = 0; i < 4000; i++)
		data[i] = (uint8_t)i;

	send_bytes(l, data, 2000); /* before OPEN_OK: held */
	no_frame(a);
	agent_frame(a, TUN_OPEN_OK, 0, stream, NULL, 0, 3000, 0);
	struct tun_frame f = expect_frame(a, TUN_DATA, pl);
	cr_assert_eq(f.len, 2000);
	cr_assert(!memcmp(pl, data, 2000));
	cr_assert(!be->p[l].paused);

	/* A read larger than the window left: the rest is held, the local
	 * connection paused, the receive buffer kept. */
	send_bytes(l, data + 2000, 2000);
	f = expect_frame(a, TUN_DATA, pl);
	cr_assert_eq(f.len, 1000);
	cr_assert(!memcmp(pl, data + 2000, 1000));
	no_frame(a);
	cr_assert(be->p[l].paused);
	cr_assert_eq(tb_refs_held(be), 1, "the read's buffer is held");
	tick(1);
	no_frame(a);

	agent_frame(a, TUN_WINDOW_UPDATE, 0, stream, NULL, 0, 5000, 0);
	f = expect_frame(a, TUN_DATA, pl);
	cr_assert_eq(f.len, 1000);
	cr_assert(!memcmp(pl, data + 3000, 1000));
	cr_assert(!be->p[l].paused, "resumed once nothing is held");
	cr_assert_eq(tb_refs_held(be), 0);
	cr_assert_eq(stats_read(&st.counters[STAT_TUN_TO_AGENT]), 4000);
}

Test(tunnel, local_to_agent_waits_for_room)
{
	uint8_t pl[TUN_MAX_PAYLOAD], data[1500] = { 7 };
	uint32_t a = agent_up("cam1"), stream;
	uint32_t l = open_stream(a, forward("cam1", 1), 1 << 20, &stream);
	be->p[a].room_fixed = true;
	be->p[a].room = 50; /* less than a DATA record: the queue is full */
	send_bytes(l, data, sizeof(data));
	no_frame(a);
	cr_assert(be->p[l].paused);
	be->p[a].room = 1 << 20;
	tick(1);
	struct tun_frame f = expect_frame(a, TUN_DATA, pl);
	cr_assert_eq(f.len, sizeof(data));
	cr_assert(!be->p[l].paused);
}

Test(tunnel, agent_to_local_coalesced_credit_after_handoff)
{
	uint8_t pl[TUN_MAX_PAYLOAD], data[3000];
	uint32_t a = agent_up("cam1"), stream;
	uint32_t l = open_stream(a, forward("cam1", 1), 1 << 20, &stream);
	memset(data, 'x', sizeof(data));

	/* Four DATA frames in one read: one send of 2000 bytes, by reference. */
	uint8_t burst[4 * (TUN_HEADER_LEN + 500)];
	size_t off = 0;
	for (int i = 0; i < 4; i++) {
		struct tun_frame f = { .type = TUN_DATA, .stream = stream, .len = 500, .payload = data };
		off += (size_t)tun_frame_encode(&f, burst + off, sizeof(burst) - off);
	}
	uint32_t sends = be->p[l].sends;
	send_bytes(a, burst, off);
	cr_assert_eq(be->p[l].sends, sends + 1, "coalesced into one buffer");
	cr_assert_eq(be->p[l].sink_len, 2000);
	no_frame(a); /* 2000 < half the window: no credit yet */

	/* The local queue is full: 3000 more are held, not credited. */
	be->p[l].qcap = be->p[l].qn;
	agent_frame(a, TUN_DATA, 0, stream, data, 3000, 0, 0);
	cr_assert_eq(be->p[l].sink_len, 2000);
	no_frame(a);
	struct tunnel_counts tc;
	tunnel_get_counts(tn, &tc);
	cr_assert_eq(tc.holding, 1);
	cr_assert_eq(stats_read(&st.counters[STAT_TUN_HELD]), 1);
	tick(1);
	no_frame(a);

	/* The reader catches up: handed over, then credited (5000 >= 4096). */
	be->p[l].qcap = 0;
	tb_drain(be, l);
	tick(1);
	cr_assert_eq(be->p[l].sink_len, 5000);
	struct tun_frame f = expect_frame(a, TUN_WINDOW_UPDATE, pl);
	cr_assert_eq(f.stream, stream);
	cr_assert_eq(f.window, 5000);
	tb_drain(be, l);
}

Test(tunnel, agent_over_window_is_a_stream_error)
{
	uint8_t pl[TUN_MAX_PAYLOAD], data[2048] = { 0 };
	uint32_t a = agent_up("cam1"), stream;
	uint32_t l = open_stream(a, forward("cam1", 1), 1 << 20, &stream);
	be->p[l].qcap = 1;
	for (int i = 0; i < 4; i++) /* 8192: the whole window, held */
		agent_frame(a, TUN_DATA, 0, stream, data, sizeof(data), 0, 0);
	no_frame(a);
	agent_frame(a, TUN_DATA, 0, stream, data, 1, 0, 0);
	struct tun_frame f = expect_frame(a, TUN_CLOSE, pl);
	cr_assert_eq(f.reason, TUN_R_FLOW_CONTROL);
	cr_assert(!be->p[l].open, "its local connection closed");
	cr_assert_eq(drops(DROP_TUN_STREAM_ERROR), 1);
}

Test(tunnel, stalled_stream_does_not_block_another)
{
	uint8_t pl[TUN_MAX_PAYLOAD], data[2048];
	uint32_t a = agent_up("cam1"), sa, sb;
	uint32_t fp = forward("cam1", 1);
	uint32_t la = open_stream(a, fp, 1 << 20, &sa);
	uint32_t lb = open_stream(a, fp, 1 << 20, &sb);
	memset(data, 'b', sizeof(data));
	be->p[la].qcap = 1;
	agent_frame(a, TUN_DATA, 0, sa, data, sizeof(data), 0, 0); /* fills A's queue */
	for (int round = 0; round < 3; round++) {
		/* A's whole window arrives and stays held ... */
		if (round == 0)
			for (int i = 0; i < 3; i++)
				agent_frame(a, TUN_DATA, 0, sa, data, sizeof(data), 0, 0);
		/* ... while B moves a window per round, credited each time. */
		for (int i = 0; i < 4; i++)
			agent_frame(a, TUN_DATA, 0, sb, data, sizeof(data), 0, 0);
		tb_drain(be, lb);
		tick(1);
		struct tun_frame f;
		bool got_b = false;
		while (next_frame(a, &f, pl)) {
			cr_assert_neq(f.stream, sa, "no credit for the stalled stream");
			got_b |= f.type == TUN_WINDOW_UPDATE && f.stream == sb;
		}
		cr_assert(got_b, "round %d: B credited", round);
	}
	cr_assert_eq(be->p[lb].sink_len, 3 * 8192);
	cr_assert_eq(be->p[la].sink_len, 2048);
	struct tunnel_counts tc;
	tunnel_get_counts(tn, &tc);
	cr_assert_eq(tc.holding, 1);
	tb_drain(be, la);
}

Test(tunnel, fin_both_ways_frees_the_stream)
{
	uint8_t pl[TUN_MAX_PAYLOAD], data[100] = { 1 };
	uint32_t a = agent_up("cam1"), stream;
	uint32_t l = open_stream(a, forward("cam1", 1), 1 << 20, &stream);
	agent_frame(a, TUN_DATA, TUN_FLAG_FIN, stream, data, sizeof(data), 0, 0);
	cr_assert_eq(be->p[l].sink_len, 100);
	cr_assert(be->p[l].open, "kept open until its queue drained");
	tb_drain(be, l);
	tick(1);
	cr_assert(!be->p[l].open, "closed once everything was sent");
	struct tun_frame f = expect_frame(a, TUN_DATA, pl);
	cr_assert_eq(f.flags, TUN_FLAG_FIN);
	cr_assert_eq(f.len, 0);
	struct tunnel_counts tc;
	tunnel_get_counts(tn, &tc);
	cr_assert_eq(tc.streams, 0, "both FINs: the stream is gone");
}

Test(tunnel, local_close_sends_fin)
{
	uint8_t pl[TUN_MAX_PAYLOAD], data[10] = { 1 };
	uint32_t a = agent_up("cam1"), stream;
	uint32_t l = open_stream(a, forward("cam1", 1), 1 << 20, &stream);
	send_bytes(l, data, sizeof(data));
	in(tb_closed(l));
	struct tun_frame f = expect_frame(a, TUN_DATA, pl);
	cr_assert_eq(f.len, 10);
	f = expect_frame(a, TUN_DATA, pl);
	cr_assert_eq(f.flags, TUN_FLAG_FIN);
	cr_assert(!be->p[l].open);
	/* The agent's late data is dropped and credited; its FIN ends it. */
	agent_frame(a, TUN_DATA, TUN_FLAG_FIN, stream, data, sizeof(data), 0, 0);
	tick(1);
	struct tunnel_counts tc;
	tunnel_get_counts(tn, &tc);
	cr_assert_eq(tc.streams, 0);
}

Test(tunnel, open_fail_closes_local)
{
	uint32_t a = agent_up("cam1"), stream;
	uint32_t l = local_connect(a, forward("cam1", 1), &stream);
	agent_frame(a, TUN_OPEN_FAIL, 0, stream, NULL, 0, 0, TUN_R_CONNECT_FAILED);
	cr_assert(!be->p[l].open);
	cr_assert_eq(tunnel_open_failures(tn, TUN_R_CONNECT_FAILED), 1);
	cr_assert_eq(drops(DROP_TUN_OPEN_FAILED), 1);
}

/* ------------------------------------------------------------ tunnel */

Test(tunnel, heartbeat_ping_then_dead)
{
	uint8_t pl[64];
	uint32_t a = agent_up("cam1");
	tick(10 * S + S / 5);
	expect_frame(a, TUN_PING, pl);
	tick(10 * S);
	tick(10 * S);
	struct tun_frame f;
	while (next_frame(a, &f, pl) && f.type == TUN_PING)
		; /* one per silent interval */
	cr_assert_eq(f.type, TUN_GOAWAY);
	cr_assert_eq(f.reason, TUN_R_TIMEOUT);
	const struct msg_tunnel_event *ev = &evs[(nev - 1) % 64];
	cr_assert_eq(ev->kind, TUNNEL_EV_DOWN);
	cr_assert_eq(ev->reason, TUNNEL_DOWN_HEARTBEAT);
	cr_assert_eq(drops(DROP_TUN_HEARTBEAT), 1);
	tick(2 * S);
	cr_assert(!be->p[a].open);
}

Test(tunnel, newer_tunnel_replaces_older)
{
	uint8_t pl[64];
	uint32_t old = agent_up("cam1");
	uint64_t old_id = evs[(nev - 1) % 64].tunnel_id;
	uint32_t fresh = agent_up("cam1");
	struct tun_frame f = expect_frame(old, TUN_GOAWAY, pl);
	cr_assert_eq(f.reason, TUN_R_SHUTDOWN);
	tick(S / 5);
	bool down = false;
	for (unsigned i = 0; i < nev; i++)
		down |= evs[i].kind == TUNNEL_EV_DOWN && evs[i].tunnel_id == old_id &&
			evs[i].reason == TUNNEL_DOWN_REPLACED;
	cr_assert(down);
	/* Forwards go to the new one. */
	forward("cam1", 2);
	cr_assert(be->p[fresh].open);
}

Test(tunnel, commands_fail_cleanly)
{
	struct msg_tunnel_cmd m = { .seq = 3, .op = MSG_TUNNEL_LISTEN, .fwd_id = 1 };
	snprintf(m.device, sizeof(m.device), "nobody");
	snprintf(m.target, sizeof(m.target), "127.0.0.1:80");
	tunnel_cmd(tn, &m, now);
	cr_assert_eq(evs[0].kind, TUNNEL_EV_FAILED);
	cr_assert_eq(evs[0].error, -ENOENT);
	agent_up("cam1");
	snprintf(m.device, sizeof(m.device), "cam1");
	snprintf(m.target, sizeof(m.target), "no port");
	tunnel_cmd(tn, &m, now);
	cr_assert_eq(evs[(nev - 1) % 64].error, -EINVAL);
	m.op = MSG_TUNNEL_UNLISTEN;
	m.fwd_id = 99;
	tunnel_cmd(tn, &m, now);
	cr_assert_eq(evs[(nev - 1) % 64].error, -ENOENT);
}

/* spcp restarted: the dump reports live tunnels and forwards (not a
 * replaced one), waits while the ring is full, and ends with DUMP_DONE. */
Test(tunnel, dump_reports_live_tunnels_and_forwards)
{
	agent_up("cam1");
	uint32_t c2 = agent_up("cam2");
	uint64_t id2 = evs[(nev - 1) % 64].tunnel_id;
	agent_up("cam1"); /* the first cam1 drains: not reported */
	uint64_t id1 = evs[(nev - 1) % 64].tunnel_id;
	uint32_t fp = forward("cam2", 5);
	cr_assert(be->p[c2].open && be->p[fp].open);

	nev = 0;
	dump_room = 1;
	struct msg_tunnel_cmd m = { .seq = 42, .op = MSG_TUNNEL_DUMP };
	tunnel_cmd(tn, &m, now);
	cr_assert_eq(nev, 1);
	tunnel_timers(tn, now); /* ring full: waits */
	cr_assert_eq(nev, 1);
	dump_room = -1;
	tunnel_timers(tn, now);
	unsigned up1 = 0, up2 = 0, fwd = 0, done = 0;
	for (unsigned i = 0; i < nev; i++) {
		const struct msg_tunnel_event *ev = &evs[i];
		if (ev->seq != 42)
			continue;
		up1 += ev->kind == TUNNEL_EV_UP && ev->tunnel_id == id1 && !strcmp(ev->device, "cam1");
		up2 += ev->kind == TUNNEL_EV_UP && ev->tunnel_id == id2 && !strcmp(ev->device, "cam2");
		fwd += ev->kind == TUNNEL_EV_LISTENING && ev->fwd_id == 5 && ev->tunnel_id == id2 &&
		       ev->port == 40000u + fp && !strcmp(ev->device, "cam2");
		if (ev->kind == TUNNEL_EV_DUMP_DONE) {
			done++;
			cr_assert_eq(ev->streams, 3);
			cr_assert_eq(i, nev - 1, "DUMP_DONE comes last");
		}
		cr_assert_neq(ev->kind == TUNNEL_EV_UP && ev->tunnel_id != id1 && ev->tunnel_id != id2, 1,
			      "a replaced tunnel was dumped");
	}
	cr_assert_eq(up1 + up2 + fwd + done, 4, "%u %u %u %u", up1, up2, fwd, done);
	tunnel_timers(tn, now); /* done: nothing more */
	cr_assert_eq(evs[(nev - 1) % 64].kind, TUNNEL_EV_DUMP_DONE);
}

Test(tunnel, forward_closes_when_idle)
{
	agent_up("cam1");
	uint32_t fp = forward("cam1", 4);
	tick(4 * S);
	cr_assert(be->p[fp].open);
	tick(S + S / 5);
	cr_assert(!be->p[fp].open);
	const struct msg_tunnel_event *ev = &evs[(nev - 1) % 64];
	cr_assert_eq(ev->kind, TUNNEL_EV_FWD_CLOSED);
	cr_assert_eq(ev->fwd_id, 4);
	cr_assert_eq(ev->reason, TUNNEL_FWD_IDLE);
}

Test(tunnel, protocol_error_goaway)
{
	uint8_t pl[64];
	uint32_t a = agent_up("cam1");
	const uint8_t junk[8] = { 0x7f, 0, 0, 0, 0, 0, 0, 1 }; /* undefined type */
	send_bytes(a, junk, sizeof(junk));
	struct tun_frame f = expect_frame(a, TUN_GOAWAY, pl);
	cr_assert_eq(f.reason, TUN_R_PROTOCOL);
	cr_assert_eq(drops(DROP_TUN_PROTOCOL), 1);
	cr_assert_eq(evs[(nev - 1) % 64].reason, TUNNEL_DOWN_PROTOCOL);
}

/* ------------------------------------------------------------ in-process streams */

struct consumer {
	uint64_t h;
	int opened, writable, closed;
	enum tunnel_stream_end why;
	uint8_t got[1 << 16];
	size_t got_len;
	size_t take_max;     /* bytes taken per call; 0: all */
	bool abort_in_data;
	bool write_in_opened;
	bool reopen_on_close;
	uint64_t reopened;
};

static void c_opened(void *ctx)
{
	struct consumer *c = ctx;
	c->opened++;
	if (c->write_in_opened)
		cr_assert_eq(tunnel_stream_write(tn, c->h, "OPTIONS", 7), 7);
}

static size_t c_data(void *ctx, const uint8_t *d, size_t len)
{
	struct consumer *c = ctx;
	if (c->abort_in_data) {
		cr_assert_eq(tunnel_stream_abort(tn, c->h), 0);
		cr_assert_eq(tunnel_stream_write(tn, c->h, "x", 1), -EBADF, "dead after abort");
		return 0;
	}
	size_t n = c->take_max && len > c->take_max ? c->take_max : len;
	cr_assert_leq(c->got_len + n, sizeof(c->got));
	memcpy(c->got + c->got_len, d, n);
	c->got_len += n;
	return n;
}

static void c_writable(void *ctx)
{
	((struct consumer *)ctx)->writable++;
}

static const struct tunnel_stream_cb ccb;

static void c_closed(void *ctx, enum tunnel_stream_end why)
{
	struct consumer *c = ctx;
	c->closed++;
	c->why = why;
	if (c->reopen_on_close)
		cr_assert_eq(tunnel_stream_open(tn, "cam1", "127.0.0.1:554", &ccb, c, &c->reopened), 0);
}

static const struct tunnel_stream_cb ccb = { .opened = c_opened, .data = c_data,
					     .writable = c_writable, .closed = c_closed };

/* An in-process stream to 127.0.0.1:554 on cam1's tunnel, OPEN seen. */
static uint32_t inproc_open(uint32_t a, struct consumer *c)
{
	uint8_t pl[TUN_MAX_PAYLOAD];
	cr_assert_eq(tunnel_stream_open(tn, "cam1", "127.0.0.1:554", &ccb, c, &c->h), 0);
	cr_assert_neq(c->h, 0);
	struct tun_frame f = expect_frame(a, TUN_OPEN, pl);
	cr_assert_eq(f.target_len, 13);
	cr_assert(!memcmp(f.target, "127.0.0.1:554", 13));
	return f.stream;
}

Test(tunnel, inproc_request_response_eof)
{
	uint8_t pl[TUN_MAX_PAYLOAD];
	struct consumer c = { .write_in_opened = true };
	uint32_t a = agent_up("cam1");
	uint32_t s = inproc_open(a, &c);
	cr_assert_eq(tunnel_stream_write(tn, c.h, "x", 1), -ENOTCONN, "not before OPEN_OK");
	agent_frame(a, TUN_OPEN_OK, 0, s, NULL, 0, 1 << 20, 0);
	cr_assert_eq(c.opened, 1);
	struct tun_frame f = expect_frame(a, TUN_DATA, pl);
	cr_assert_eq(f.stream, s);
	cr_assert_eq(f.len, 7);
	cr_assert(!memcmp(pl, "OPTIONS", 7), "written from inside opened()");
	cr_assert_eq(tunnel_stream_write(tn, c.h, " rtsp://x RTSP/1.0\r\n\r\n", 22), 22);
	f = expect_frame(a, TUN_DATA, pl);
	cr_assert_eq(f.len, 22);

	agent_frame(a, TUN_DATA, 0, s, "RTSP/1.0 200 OK\r\n", 17, 0, 0);
	agent_frame(a, TUN_DATA, TUN_FLAG_FIN, s, "\r\n", 2, 0, 0);
	cr_assert_eq(c.got_len, 19);
	cr_assert(!memcmp(c.got, "RTSP/1.0 200 OK\r\n\r\n", 19));
	tick(1);
	cr_assert_eq(c.closed, 1);
	cr_assert_eq(c.why, TUNNEL_STREAM_EOF);
	f = expect_frame(a, TUN_DATA, pl);
	cr_assert_eq(f.flags, TUN_FLAG_FIN, "our FIN follows theirs");
	struct tunnel_counts tc;
	tunnel_get_counts(tn, &tc);
	cr_assert_eq(tc.streams, 0);
	cr_assert_eq(tunnel_stream_write(tn, c.h, "x", 1), -EBADF, "the handle is dead");
	cr_assert_eq(tunnel_stream_close(tn, c.h), -EBADF);
	cr_assert_eq(stats_read(&st.counters[STAT_TUN_TO_AGENT]), 29);
	cr_assert_eq(stats_read(&st.counters[STAT_TUN_FROM_AGENT]), 19);
}

Test(tunnel, inproc_slow_consumer_credit_only_for_taken_bytes)
{
	uint8_t pl[TUN_MAX_PAYLOAD], data[6000];
	struct consumer c = { .take_max = 1000 };
	uint32_t a = agent_up("cam1");
	uint32_t s = inproc_open(a, &c);
	agent_frame(a, TUN_OPEN_OK, 0, s, NULL, 0, 1 << 20, 0);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	agent_frame(a, TUN_DATA, 0, s, data, sizeof(data), 0, 0);
	cr_assert_lt(c.got_len, sizeof(data), "took 1000 per offer, kept the rest");
	cr_assert_eq(c.got_len % 1000, 0);
	uint32_t credited = 0;
	for (int i = 0; i < 20; i++) {
		struct tun_frame f;
		while (next_frame(a, &f, pl)) {
			cr_assert_eq(f.type, TUN_WINDOW_UPDATE);
			credited += f.window;
			cr_assert_leq(credited, c.got_len, "credit only for taken bytes");
		}
		tick(1);
	}
	cr_assert_eq(c.got_len, sizeof(data));
	cr_assert(!memcmp(c.got, data, sizeof(data)), "in order, nothing lost or repeated");
	cr_assert_geq(credited, 4096, "window (8192) half used: credited");
	tunnel_stream_abort(tn, c.h);
	cr_assert_eq(c.closed, 0, "no callback after an abort");
}

Test(tunnel, inproc_short_write_then_writable)
{
	uint8_t pl[TUN_MAX_PAYLOAD], data[3000] = { 5 };
	struct consumer c = { 0 };
	uint32_t a = agent_up("cam1");
	uint32_t s = inproc_open(a, &c);
	agent_frame(a, TUN_OPEN_OK, 0, s, NULL, 0, 1000, 0);
	cr_assert_eq(tunnel_stream_write(tn, c.h, data, sizeof(data)), 1000, "the window");
	cr_assert_eq(expect_frame(a, TUN_DATA, pl).len, 1000);
	tick(1);
	cr_assert_eq(c.writable, 0, "no credit yet");
	agent_frame(a, TUN_WINDOW_UPDATE, 0, s, NULL, 0, 5000, 0);
	cr_assert_eq(c.writable, 1);
	cr_assert_eq(tunnel_stream_write(tn, c.h, data + 1000, 2000), 2000);
	cr_assert_eq(expect_frame(a, TUN_DATA, pl).len, 2000);
	tick(1);
	cr_assert_eq(c.writable, 1, "owed once");

	/* The consumer's FIN; the far side still talks, then finishes. */
	cr_assert_eq(tunnel_stream_close(tn, c.h), 0);
	no_frame(a); /* sent from the timers, never from inside the call */
	tick(1);
	struct tun_frame f = expect_frame(a, TUN_DATA, pl);
	cr_assert_eq(f.flags, TUN_FLAG_FIN);
	cr_assert_eq(tunnel_stream_write(tn, c.h, "x", 1), -EPIPE);
	agent_frame(a, TUN_DATA, TUN_FLAG_FIN, s, "bye", 3, 0, 0);
	tick(1);
	cr_assert_eq(c.got_len, 3);
	cr_assert_eq(c.why, TUNNEL_STREAM_EOF);
	struct tunnel_counts tc;
	tunnel_get_counts(tn, &tc);
	cr_assert_eq(tc.streams, 0);
}

Test(tunnel, inproc_refused_then_reopened_from_closed)
{
	uint8_t pl[TUN_MAX_PAYLOAD];
	struct consumer c = { .reopen_on_close = true };
	uint32_t a = agent_up("cam1");
	uint32_t s = inproc_open(a, &c);
	agent_frame(a, TUN_OPEN_FAIL, 0, s, NULL, 0, 0, TUN_R_REFUSED);
	cr_assert_eq(c.closed, 1);
	cr_assert_eq(c.why, TUNNEL_STREAM_REFUSED);
	cr_assert_eq(tunnel_open_failures(tn, TUN_R_REFUSED), 1);
	cr_assert_neq(c.reopened, 0);
	cr_assert_neq(c.reopened, c.h, "a fresh handle");
	struct tun_frame f = expect_frame(a, TUN_OPEN, pl);
	cr_assert_neq(f.stream, s);
	c.reopen_on_close = false;
	agent_frame(a, TUN_CLOSE, 0, f.stream, NULL, 0, 0, TUN_R_NONE);
	cr_assert_eq(c.closed, 2);
	cr_assert_eq(c.why, TUNNEL_STREAM_RESET);
}

Test(tunnel, inproc_tunnel_down)
{
	struct consumer c1 = { 0 }, c2 = { 0 };
	uint32_t a = agent_up("cam1");
	uint32_t s1 = inproc_open(a, &c1);
	inproc_open(a, &c2);
	agent_frame(a, TUN_OPEN_OK, 0, s1, NULL, 0, 1 << 20, 0);
	agent_frame(a, TUN_DATA, 0, s1, "abc", 3, 0, 0);
	in(tb_closed(a));
	cr_assert_eq(c1.closed, 1);
	cr_assert_eq(c1.why, TUNNEL_STREAM_TUNNEL_DOWN);
	cr_assert_eq(c2.closed, 1, "the one still opening too");
	cr_assert_eq(c2.why, TUNNEL_STREAM_TUNNEL_DOWN);
}

Test(tunnel, inproc_abort_inside_data)
{
	uint8_t pl[TUN_MAX_PAYLOAD], data[5000] = { 0 };
	struct consumer c = { .abort_in_data = true };
	uint32_t a = agent_up("cam1");
	uint32_t s = inproc_open(a, &c);
	agent_frame(a, TUN_OPEN_OK, 0, s, NULL, 0, 1 << 20, 0);
	agent_frame(a, TUN_DATA, 0, s, data, sizeof(data), 0, 0);
	tick(1);
	struct tun_frame f = expect_frame(a, TUN_CLOSE, pl);
	cr_assert_eq(f.stream, s);
	cr_assert_eq(c.closed, 0);
	struct tunnel_counts tc;
	tunnel_get_counts(tn, &tc);
	cr_assert_eq(tc.streams, 0);
	/* late frames on the closed stream are harmless */
	agent_frame(a, TUN_DATA, 0, s, data, 10, 0, 0);
	tick(1);
}

Test(tunnel, inproc_open_errors)
{
	struct consumer c[9] = { 0 };
	uint64_t h;
	cr_assert_eq(tunnel_stream_open(tn, "cam1", "127.0.0.1:554", &ccb, &c[0], &h), -ENOENT);
	uint32_t a = agent_up("cam1");
	cr_assert_eq(tunnel_stream_open(tn, "cam1", "no-port", &ccb, &c[0], &h), -EINVAL);
	struct tunnel_stream_cb partial = { .data = c_data };
	cr_assert_eq(tunnel_stream_open(tn, "cam1", "127.0.0.1:554", &partial, &c[0], &h), -EINVAL);
	for (int i = 0; i < 8; i++)
		inproc_open(a, &c[i]);
	cr_assert_eq(tunnel_stream_open(tn, "cam1", "127.0.0.1:554", &ccb, &c[8], &h), -ENOSPC);
	cr_assert_eq(tunnel_stream_write(tn, 0, "x", 1), -EBADF);
	cr_assert_eq(tunnel_stream_abort(tn, (uint64_t)1 << 32 | 999), -EBADF);
}
