/*
 * fuzz_turn_relay: arbitrary datagrams and effects into spdp's TURN fast
 * path (dataplane/turn_relay.c) over the fake backend of
 * tests/turn_fake_backend.h (no I/O).
 *
 * Each input starts from the same state: one listener, two allocations
 * (one dual-stack) with permissions and channels, the way spcp installs
 * them. The input is then a little program of ops:
 *
 *   op byte: low 3 bits pick the op, the rest its first argument
 *   CLIENT <from:1> <len:2> <bytes>   datagram on the listener from one of
 *                                     four client addresses (two own an
 *                                     allocation)
 *   PEER   <from:1> <len:2> <bytes>   datagram on a relay port (which one
 *                                     and from which of eight peers: arg)
 *   EFFECT <14 bytes>                 an effect with fuzzed type, id,
 *                                     channel, peer, expiry (only what
 *                                     msg_check would pass is applied)
 *   TIME   <k>                        advance the clock k * 3 s; timers
 *   SEND   <len:1> <bytes>            a response from spcp (exc down) with
 *                                     fuzzed socket hint and dependency
 *   DUMP                              (arg bit 0: start a new one) continue a
 *                                     dump; the event ring takes arg >> 1
 *                                     records (15: no limit)
 *   STREAM <conn:1> [<len:2> <bytes>] on the TCP listener: accept a
 *                                     connection from one of the clients,
 *                                     bytes on a connection (any split of
 *                                     any frames), its close, or a client
 *                                     that stops reading, or no transmit
 *                                     buffers for a while (arg picks)
 *
 * Invariants (abort on violation): the fake backend aborts on any contract
 * breach (a send referencing a buffer without a reference, a skip past the
 * packet, an unknown port); every buffer reference comes back; nothing
 * leaves a relay port for an IP that never held a permission; the tables
 * never exceed their pools; every dump record passes the ring gate and a
 * loop turn sends at most 64 of them (+ the end). ASan/LSan catch overreads
 * and leaks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../turn_fake_backend.h"
#include "msg.h"
#include "turn_relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)               \
	do {                      \
		if (!(cond))      \
			abort();  \
	} while (0)

#define SEC 1000000000ull
#define MAX_ALLOCS 4
#define MAX_PERMS 6
#define MAX_CHANS 6

struct cur {
	const uint8_t *p;
	size_t n;
};

static uint8_t take(struct cur *c)
{
	if (!c->n)
		return 0;
	c->n--;
	return *c->p++;
}

static size_t take_n(struct cur *c, const uint8_t **out, size_t want)
{
	size_t n = want < c->n ? want : c->n;
	*out = c->p;
	c->p += n;
	c->n -= n;
	return n;
}

static struct dp_backend be;
static struct stats_block st;
static turn_relay *tr;
static uint32_t lport, tport;
static uint64_t now;

/* IPs that ever held a permission in this run: the only ones a relay port
 * may send to. */
static struct sp_addr permitted[64];
static unsigned npermitted;

static const char *const clients[] = { "198.51.100.1:1000", "[2001:db8::7]:2000",
				       "198.51.100.1:1001", "198.51.100.2:1000" };
static const char *const peers[] = { "203.0.113.5:9000", "203.0.113.5:9001", "203.0.113.6:9000",
				     "[2001:db8::99]:7000", "[2001:db8::99]:7001",
				     "[::ffff:203.0.113.5]:9000", "0.0.0.0:1", "203.0.113.7:65535" };

static struct sp_addr A(const char *s)
{
	struct sp_addr a;
	CHECK(sp_addr_parse(&a, s) == 0);
	return a;
}

static int room;
static uint64_t dump_seq;

static int on_dump(void *ctx, uint16_t type, const void *msg, uint32_t len)
{
	(void)ctx;
	if (room == 0)
		return -ENOBUFS;
	if (room > 0)
		room--;
	const struct msg_info *mi = msg_lookup(type);
	CHECK(mi);
	struct ring_msg rm = { .type = type, .version = mi->version, .len = len, .payload = msg };
	CHECK(msg_check(&rm, RING_KIND_EVT) == 0);
	return 0;
}

static void on_event(void *ctx, const struct msg_turn_event *ev)
{
	(void)ctx;
	CHECK(ev->kind >= TURN_EV_INSTALLED && ev->kind <= TURN_EV__MAX);
	CHECK(ev->alloc_id != 0);
	CHECK(ev->kind != TURN_EV_FAILED || ev->error < 0);
}

static int on_exc_up(void *ctx, const struct msg_exc_packet *h, const uint8_t *payload)
{
	(void)ctx;
	CHECK(h->payload_len <= FB_BUF_SIZE && (h->proto == IPPROTO_UDP || h->proto == IPPROTO_TCP));
	CHECK(h->family == AF_INET || h->family == AF_INET6);
	volatile uint8_t sink = 0;
	for (uint32_t i = 0; i < h->payload_len; i++)
		sink ^= payload[i]; /* ASan: the whole payload is readable */
	(void)sink;
	return (h->payload_len & 1) ? -ENOBUFS : 0; /* a full ring now and then */
}

static void note_permit(const struct sp_addr *peer)
{
	struct sp_addr ip = *peer;
	ip.port = 0;
	ip.scope = 0;
	for (unsigned i = 0; i < npermitted; i++)
		if (sp_addr_equal(&permitted[i], &ip))
			return;
	if (npermitted < 64)
		permitted[npermitted++] = ip;
}

/* Apply an effect only if the ring gate would let it through. */
static void effect(struct msg_turn_effect *m)
{
	static uint64_t seq;
	struct ring_msg rm = { .type = MSG_TURN_EFFECT, .version = 1, .len = sizeof(*m),
			       .payload = (const uint8_t *)m };
	m->seq = ++seq;
	if (msg_check(&rm, RING_KIND_CMD) != 0)
		return;
	if (m->type == MSG_TURN_PERM_INSTALL || m->type == MSG_TURN_CHANNEL_INSTALL) {
		struct sp_addr ip = m->peer;
		note_permit(&ip);
	}
	turn_relay_effect(tr, m, now);
}

static void install(uint32_t id, const char *client, const char *relay, const char *relay6)
{
	struct msg_turn_effect m = { .type = MSG_TURN_ALLOC_INSTALL, .alloc_id = id,
				     .expiry_ns = now + 600 * SEC, .bandwidth_bps = id == 2 ? 200000 : 0,
				     .client = A(client), .server = A("192.0.2.1:3478"),
				     .relay = A(relay) };
	if (relay6)
		m.relay6 = A(relay6);
	effect(&m);
}

static void setup(void)
{
	memset(&be, 0, sizeof(be));
	memset(&st, 0, sizeof(st));
	npermitted = 0;
	now = 1000 * SEC;
	struct turn_relay_cfg cfg = { .worker = 0, .max_allocs = MAX_ALLOCS, .max_perms = MAX_PERMS,
				      .max_channels = MAX_CHANS, .max_ports = FB_PORTS, .max_conns = 3,
				      .conn_idle_ns = 30 * SEC, .tls_handshake_ns = 10 * SEC };
	struct turn_relay_hooks hooks = { .event = on_event, .exc_up = on_exc_up, .dump = on_dump };
	tr = turn_relay_create(&cfg, &fb_ops, &be, &st, &hooks);
	CHECK(tr);
	struct sp_addr la = A("192.0.2.1:3478");
	lport = fb_listener(&be, &la);
	CHECK(turn_relay_add_listener(tr, lport) == 0);
	CHECK(fb_ops.listen_adopt(&be, -1, &tport) == 0);
	be.bound[tport] = la;
	CHECK(turn_relay_add_stream_listener(tr, tport, false) == 0);
	install(1, clients[0], "192.0.2.1:50001", "[2001:db8::1]:50001");
	install(2, clients[1], "[2001:db8::1]:50002", NULL);
	struct msg_turn_effect p = { .type = MSG_TURN_PERM_INSTALL, .alloc_id = 1,
				     .expiry_ns = now + 300 * SEC, .peer = A("203.0.113.5:0") };
	effect(&p);
	p.peer = A("[2001:db8::99]:0");
	effect(&p);
	p.alloc_id = 2;
	effect(&p);
	struct msg_turn_effect c = { .type = MSG_TURN_CHANNEL_INSTALL, .alloc_id = 1,
				     .channel = 0x4001, .expiry_ns = now + 600 * SEC,
				     .peer = A(peers[0]) };
	effect(&c);
	c.channel = 0x58E6;
	c.peer = A(peers[3]);
	effect(&c);
	c.alloc_id = 2;
	c.channel = 0x4000;
	effect(&c);
}

static void deliver(uint32_t port, const struct sp_addr *src, const uint8_t *d, size_t n)
{
	unsigned before = be.nsends;
	struct dp_pkt p = fb_rx(&be, 0, port, src, d, (uint32_t)n);
	turn_relay_input(tr, &p, 1, now);
	CHECK(be.refs[0] == 0);
	for (unsigned i = before; i < be.nsends && i < FB_SENDS; i++) {
		const struct fb_send *s = &be.sends[i];
		if (s->port == lport || s->stream)
			continue;
		/* from a relay port: only to a permitted IP */
		struct sp_addr ip = s->dst;
		ip.port = 0;
		ip.scope = 0;
		bool ok = false;
		for (unsigned k = 0; k < npermitted && !ok; k++)
			ok = sp_addr_equal(&permitted[k], &ip);
		CHECK(ok);
	}
}

/* The relay ports open now, in port order (their owners change with effects). */
static uint32_t relay_port(unsigned pick)
{
	uint32_t ports[FB_PORTS], n = 0;
	for (uint32_t p = 0; p < FB_PORTS; p++)
		if (be.open[p] && p != lport && p != tport)
			ports[n++] = p;
	return n ? ports[pick % n] : 60;
}

static void run(struct cur *c)
{
	uint8_t op = take(c);
	const uint8_t *d;
	size_t n;

	switch (op & 7) {
	case 0: /* CLIENT */
	case 1: {
		struct sp_addr src = A(clients[(op >> 3) & 3]);
		size_t want = (size_t)take(c) << 8 | take(c);
		n = take_n(c, &d, want % 1900);
		deliver(lport, &src, d, n);
		break;
	}
	case 2: { /* PEER */
		struct sp_addr src = A(peers[(op >> 3) & 7]);
		uint32_t port = relay_port(take(c));
		size_t want = (size_t)take(c) << 8 | take(c);
		n = take_n(c, &d, want % 1900);
		deliver(port, &src, d, n);
		break;
	}
	case 3: { /* EFFECT */
		struct msg_turn_effect m = { 0 };
		m.type = (uint8_t)(take(c) % 9);
		m.alloc_id = take(c) % 5;
		m.channel = (uint16_t)(0x3FF0 + (((unsigned)take(c) << 8 | take(c)) % 0x4100));
		m.dont_fragment = take(c) & 1;
		m.expiry_ns = now + (uint64_t)take(c) * SEC;
		m.bandwidth_bps = (uint64_t)take(c) * 8000;
		uint8_t sel = take(c);
		m.peer = A(peers[sel & 7]);
		if (sel & 8)
			m.peer.port = 0;
		m.client = A(clients[(sel >> 4) & 3]);
		m.server = A((sel & 0x40) ? "192.0.2.1:3479" : "192.0.2.1:3478");
		char relay[40];
		uint8_t rp = take(c);
		snprintf(relay, sizeof(relay), (rp & 1) ? "[2001:db8::1]:%u" : "192.0.2.1:%u",
			 50000u + (rp >> 1));
		m.relay = A(relay);
		if (take(c) & 1) {
			snprintf(relay, sizeof(relay), "[2001:db8::1]:%u", 50000u + (rp >> 1));
			m.relay6 = A(relay);
		}
		m.transport = take(c) % 4;
		effect(&m);
		break;
	}
	case 4: /* TIME */
		now += (uint64_t)(op >> 3) * 3 * SEC;
		turn_relay_timers(tr, now);
		break;
	case 5: { /* SEND */
		struct msg_exc_packet h = { .family = (op & 8) ? AF_INET6 : AF_INET,
					    .proto = (op & 16) ? IPPROTO_TCP : IPPROTO_UDP,
					    .socket_id = take(c) % (FB_PORTS + 2),
					    .local_port = htons((uint16_t)(3478 + (take(c) & 1))),
					    .remote_port = htons(take(c)), .alloc_id = take(c) % 4 };
		h.local_addr[0] = 192, h.local_addr[2] = 2, h.local_addr[3] = 1;
		h.remote_addr[0] = 198;
		n = take_n(c, &d, take(c));
		h.payload_len = (uint32_t)n;
		turn_relay_send(tr, &h, d, now);
		break;
	}
	case 6: /* DUMP */
		if (op & 8)
			turn_relay_dump(tr, &(struct msg_turn_dump){ .seq = ++dump_seq });
		room = (op >> 4) == 15 ? -1 : (int)(op >> 4);
		CHECK(turn_relay_dump_continue(tr) <= 65);
		break;
	case 7: { /* STREAM */
		struct sp_addr la = A("192.0.2.1:3478"), src = A(clients[(op >> 5) & 3]);
		uint32_t conn = relay_port(take(c));
		switch ((op >> 3) & 7) {
		case 0: {
			struct dp_pkt o = fb_accept(&be, tport, &la, &src);
			if (o.port == UINT32_MAX)
				break;
			turn_relay_input(tr, &o, 1, now);
			break;
		}
		case 1: {
			size_t want = (size_t)take(c) << 8 | take(c);
			n = take_n(c, &d, want % 1900);
			struct dp_pkt p = fb_stream_rx(&be, 0, conn, &src, d, (uint32_t)n);
			turn_relay_input(tr, &p, 1, now);
			CHECK(be.refs[0] == 0);
			break;
		}
		case 2: {
			struct dp_pkt p = { .port = conn, .buf = UINT32_MAX, .kind = DP_PKT_CLOSED };
			turn_relay_input(tr, &p, 1, now);
			break;
		}
		case 3:
			be.full_stream = !be.full_stream;
			break;
		default: /* out of transmit buffers for a while */
			be.no_tx_buffers = !be.no_tx_buffers;
			break;
		}
		break;
	}
	default: /* out of transmit buffers for a while */
		be.no_tx_buffers = !be.no_tx_buffers;
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cur c = { data, size };
	struct turn_relay_counts k;

	setup();
	for (int steps = 0; c.n && steps < 256; steps++) {
		run(&c);
		turn_relay_get_counts(tr, &k);
		CHECK(k.allocs <= MAX_ALLOCS && k.perms <= MAX_PERMS && k.channels <= MAX_CHANS);
	}
	turn_relay_destroy(tr);
	for (int b = 0; b < FB_BUFS; b++)
		CHECK(be.refs[b] == 0);
	for (uint32_t p = 0; p < FB_PORTS; p++)
		CHECK(!be.open[p] || p == lport || p == tport); /* every relay port and connection closed */
	return 0;
}
