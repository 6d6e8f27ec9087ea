/*
 * fuzz_tunnel: arbitrary agent and local-connection bytes into spdp's
 * tunnel (dataplane/tunnel.c) over the fake backend of
 * tests/tunnel_fake_backend.h (no I/O, plaintext agents).
 *
 * Each input starts from the same state: one agent up (a valid Upgrade with
 * a good token), one forward listener on it. The input is then ops:
 *
 *   op byte: low 3 bits pick the op, the rest its argument
 *   AGENT  <len:2> <bytes>   bytes on the agent's connection (frames of any
 *                            split: OPEN_OK, DATA, WINDOW_UPDATE, ...)
 *   RAW    <len:2> <bytes>   bytes on a second agent connection, opened if
 *                            needed: the Upgrade parser and token check
 *   LOCAL  <len:1> <bytes>   bytes from local connection arg % 3, accepted
 *                            on the forward listener first if needed
 *   LCLOSE                   local connection arg % 3 ends
 *   TIME   advance arg * 700 ms; timers
 *   QUEUE  local arg % 3: drain its queue (even arg) or let it fill (odd)
 *   CMD    a command: listen / unlisten / kick with fuzzed ids; with arg
 *          >= 24 an in-process stream op instead (open, write, close,
 *          abort, how much the consumer takes, abort from its data())
 *   ROOM   the agent connection's room: arg * 512 bytes (0: unlimited)
 *
 * Invariants (abort): the fake backend aborts on any contract breach (a
 * send by reference without a reference, a buffer released twice, a pause
 * of a non-connection); no stream holds more transmit buffers than its
 * window needs; every buffer reference comes back at destroy; an
 * in-process consumer is called only while its stream lives, and closed()
 * at most once, never after its abort. ASan/LSan
 * catch overreads and leaks.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TB_SINK (256u << 10)
#include "../tunnel_fake_backend.h"
#include "tunnel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)               \
	do {                      \
		if (!(cond))      \
			abort();  \
	} while (0)

#define MS 1000000ull
#define UNIX_NOW 1700000000ull
#define WINDOW 8192u

static void on_event(void *ctx, const struct msg_tunnel_event *ev)
{
	(void)ctx;
	CHECK(ev->kind >= 1 && ev->kind <= TUNNEL_EV__MAX);
	CHECK(memchr(ev->device, 0, sizeof(ev->device)));
}

static uint64_t unix_now(void *ctx)
{
	(void)ctx;
	return UNIX_NOW;
}

/* The in-process consumer: one stream at a time. */
static struct {
	tunnel *t;
	uint64_t h;
	bool live;
	bool abort_in_data;
	size_t take;
} cons;

static void c_opened(void *ctx)
{
	CHECK(ctx == &cons && cons.live);
}

static size_t c_data(void *ctx, const uint8_t *d, size_t len)
{
	CHECK(ctx == &cons && cons.live && len);
	volatile uint8_t x = d[0] ^ d[len - 1]; /* ASan: the whole range is readable */
	(void)x;
	if (cons.abort_in_data) {
		CHECK(tunnel_stream_abort(cons.t, cons.h) == 0);
		cons.live = false;
		return 0;
	}
	return len < cons.take ? len : cons.take;
}

static void c_writable(void *ctx)
{
	CHECK(ctx == &cons && cons.live);
	(void)tunnel_stream_write(cons.t, cons.h, "more", 4);
}

static void c_closed(void *ctx, enum tunnel_stream_end why)
{
	CHECK(ctx == &cons && cons.live && (unsigned)why < TUNNEL_STREAM__COUNT);
	cons.live = false;
}

static const struct tunnel_stream_cb ccb = { c_opened, c_data, c_writable, c_closed };

static void inproc_op(tunnel *t, unsigned op, uint8_t a, uint8_t b)
{
	uint8_t buf[256];

	switch (op) {
	case 0:
		if (!cons.live && tunnel_stream_open(t, "cam1", "127.0.0.1:554", &ccb, &cons,
						     &cons.h) == 0)
			cons.live = true;
		break;
	case 1: {
		memset(buf, b, sizeof(buf));
		ssize_t n = tunnel_stream_write(t, cons.h, buf, a);
		CHECK(n <= (ssize_t)a && (n >= 0 || !cons.live || n == -ENOTCONN || n == -EPIPE));
		break;
	}
	case 2:
		CHECK(tunnel_stream_close(t, cons.h) == (cons.live ? 0 : -EBADF));
		break;
	case 3:
		CHECK(tunnel_stream_abort(t, cons.h) == (cons.live ? 0 : -EBADF));
		cons.live = false;
		break;
	case 4:
		cons.take = a ? (size_t)a * 64 : SIZE_MAX;
		break;
	default:
		cons.abort_in_data = a & 1;
		break;
	}
}

static void feed(tunnel *t, struct dp_backend *be, uint32_t conn, const uint8_t *d, size_t len,
		 uint64_t now)
{
	while (len && be->p[conn].open) {
		uint32_t n = len > TB_BUF_SIZE ? TB_BUF_SIZE : (uint32_t)len;
		uint32_t b = 0;
		while (b < TB_RX_BUFS && be->refs[b])
			b++;
		if (b == TB_RX_BUFS)
			return; /* every receive buffer held: the backend would wait too */
		struct dp_pkt p = tb_rx(be, conn, d, n);
		tunnel_input(t, &p, 1, now);
		d += n;
		len -= n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[32] = { 1, 2, 3 };
	struct stats_block st;
	struct dp_backend *be = tb_new();
	agent_auth_keyring *kr = agent_auth_keyring_new();
	struct tunnel_cfg cfg = { .worker = 1, .max_ports = TB_PORTS, .max_agents = 3,
				  .max_streams = 4, .max_forwards = 2, .stream_window = WINDOW,
				  .buf_size = TB_BUF_SIZE, .handshake_ns = 1000 * MS,
				  .heartbeat_ns = 2000 * MS, .streampoint_id = "sp1", .keys = kr };
	struct tunnel_hooks hooks = { .event = on_event, .unix_now = unix_now };
	uint32_t lport, agent, raw = UINT32_MAX, local[3] = { UINT32_MAX, UINT32_MAX, UINT32_MAX };
	uint32_t fport = UINT32_MAX;
	uint64_t now = 10000 * MS;
	char tok[600], req[1200];

	memset(&st, 0, sizeof(st));
	memset(&cons, 0, sizeof(cons));
	cons.take = SIZE_MAX;
	agent_auth_keyring_add(kr, "k1", key, sizeof(key), true);
	tunnel *t = tunnel_create(&cfg, &tb_ops, be, &st, &hooks);
	CHECK(t);
	cons.t = t;
	CHECK(tb_listen_adopt(be, -1, &lport) == 0 && tunnel_add_listener(t, lport) == 0);
	struct dp_pkt op = tb_accept(be, lport);
	agent = op.port;
	tunnel_input(t, &op, 1, now);
	CHECK(agent_auth_token_sign(kr, "cam1", "sp1", UNIX_NOW, 600, tok, sizeof(tok)) > 0);
	int n = agent_auth_upgrade_request(req, sizeof(req), "h", "/agent", tok);
	feed(t, be, agent, (const uint8_t *)req, (size_t)n, now);
	struct msg_tunnel_cmd m = { .seq = 1, .op = MSG_TUNNEL_LISTEN, .fwd_id = 1, .idle_ms = 3000,
				    .device = "cam1", .target = "127.0.0.1:80" };
	tunnel_cmd(t, &m, now);
	for (uint32_t p = 0; p < TB_PORTS; p++)
		if (be->p[p].open && be->p[p].listener && p != lport)
			fport = p;

	size_t i = 0;
	while (i < size) {
		uint8_t o = data[i++], arg = o >> 3;
		switch (o & 7) {
		case 0:
		case 1: {
			if (i + 2 > size)
				goto out;
			size_t len = (size_t)(data[i] << 8 | data[i + 1]);
			i += 2;
			if (len > size - i)
				len = size - i;
			if ((o & 7) == 1 && (raw == UINT32_MAX || !be->p[raw].open)) {
				struct dp_pkt a = tb_accept(be, lport);
				raw = a.port;
				tunnel_input(t, &a, 1, now);
			}
			if ((o & 7) == 0 || raw != UINT32_MAX)
				feed(t, be, (o & 7) == 0 ? agent : raw, data + i, len, now);
			i += len;
			break;
		}
		case 2: {
			if (i + 1 > size)
				goto out;
			size_t len = data[i++];
			if (len > size - i)
				len = size - i;
			uint32_t *l = &local[arg % 3];
			if (fport != UINT32_MAX && be->p[fport].open &&
			    (*l == UINT32_MAX || !be->p[*l].open)) {
				struct dp_pkt a = tb_accept(be, fport);
				*l = a.port;
				tunnel_input(t, &a, 1, now);
			}
			if (*l != UINT32_MAX && be->p[*l].open && len)
				feed(t, be, *l, data + i, len, now);
			i += len;
			break;
		}
		case 3: {
			uint32_t l = local[arg % 3];
			if (l != UINT32_MAX && be->p[l].open) {
				struct dp_pkt c = tb_closed(l);
				tunnel_input(t, &c, 1, now);
			}
			break;
		}
		case 4:
			now += arg * 700 * MS;
			tunnel_timers(t, now);
			break;
		case 5: {
			uint32_t l = local[arg % 3];
			if (l == UINT32_MAX || !be->p[l].open)
				break;
			if (arg & 8) {
				be->p[l].qcap = be->p[l].qn ? be->p[l].qn : 1;
			} else {
				be->p[l].qcap = 0;
				tb_drain(be, l);
			}
			tunnel_timers(t, now);
			break;
		}
		case 6: {
			if (i + 2 > size)
				goto out;
			if (arg >= 24) {
				inproc_op(t, arg - 24u, data[i], data[i + 1]);
				i += 2;
				break;
			}
			struct msg_tunnel_cmd c = { .seq = 2, .op = (uint8_t)(arg % 3 + 1),
						    .fwd_id = data[i], .idle_ms = data[i + 1] * 100u,
						    .tunnel_id = (uint64_t)2 << 48 | data[i + 1],
						    .device = "cam1", .target = "127.0.0.1:554" };
			i += 2;
			if (c.fwd_id || c.op == MSG_TUNNEL_KICK)
				tunnel_cmd(t, &c, now);
			for (uint32_t p = 0; p < TB_PORTS; p++)
				if (be->p[p].open && be->p[p].listener && p != lport)
					fport = p;
			break;
		}
		case 7:
			be->p[agent].room_fixed = arg != 0;
			be->p[agent].room = arg * 512u;
			tunnel_timers(t, now);
			break;
		}
		/* Bound the sinks: what was sent is not looked at. */
		for (uint32_t p = 0; p < TB_PORTS; p++)
			if (be->p[p].sink_len > TB_SINK / 2)
				be->p[p].sink_len = 0;
		struct tunnel_counts tc;
		tunnel_get_counts(t, &tc);
		CHECK(tc.streams <= cfg.max_streams && tc.forwards <= cfg.max_forwards);
		/* Transmit buffers held: at most a window (+ a partial) per stream. */
		unsigned tx = 0;
		for (int b = TB_RX_BUFS; b < TB_BUFS; b++)
			tx += be->refs[b] != 0;
		CHECK(tx <= cfg.max_streams * (WINDOW / TB_BUF_SIZE + 2));
	}
out:
	tunnel_destroy(t);
	CHECK(tb_refs_held(be) == 0);
	agent_auth_keyring_free(kr);
	tb_free(be);
	return 0;
}
