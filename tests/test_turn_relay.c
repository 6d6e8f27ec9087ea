/*
 * test_turn_relay: the data plane's TURN fast path (dataplane/turn_relay.c)
 * against a fake backend that records sends (tests/turn_fake_backend.h).
 *
 * A fixture installs, through the same effects spcp sends, an allocation
 * for client 198.51.100.10:40000 on listener 192.0.2.1:3478 with relay
 * 192.0.2.1:50000 (and [2001:db8::1]:50000 when dual), a permission for
 * 203.0.113.5 and channel 0x4001 <-> 203.0.113.5:9000. Then: ChannelData
 * leaves zero copy (the receive buffer from offset 4, trimmed to the
 * channel length); peers' datagrams come back as ChannelData or Data
 * indications, parsed back with common/stun.h; everything unpermitted,
 * unbound, expired, malformed or over the bandwidth cap is dropped and
 * counted by reason; Binding is answered here and other requests go up
 * with the right header; responses from spcp leave from the listener only
 * while their allocation exists. DONT-FRAGMENT sets DF on the relay ports.
 * A dump (spcp re-attached) reports every allocation, permission and
 * channel with the dump's seq, at most 64 records per loop turn, and when
 * the event ring is full it waits and resumes without losing a record,
 * also when the tables change meanwhile. Time is simulated (now_ns).
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stun.h"
#include "turn_fake_backend.h"
#include "dp.h"
#include "turn_relay.h"

#define SEC 1000000000ull
#define T0 (1000 * SEC)
#define ALLOC 7u
#define CH 0x4001

static struct dp_backend be;
static struct stats_block st;
static turn_relay *tr;
static uint32_t lport; /* listener's backend port */

static struct msg_turn_event events[16];
static unsigned nevents;
static struct {
	struct msg_exc_packet h;
	uint8_t payload[2048];
} ups[8];
static unsigned nups;

/* What dumps sent: records and ends, and how much room the "ring" has. */
#define MAX_RECS 1024
static struct msg_turn_effect recs[MAX_RECS];
static uint32_t rec_len[MAX_RECS];
static unsigned nrecs;
static struct msg_turn_event dones[4];
static unsigned ndones;
static int room = -1; /* records the ring takes before it is full; -1: no limit */

static int on_dump(void *ctx, uint16_t type, const void *msg, uint32_t len)
{
	(void)ctx;
	if (room == 0)
		return -ENOBUFS;
	if (room > 0)
		room--;
	if (type == MSG_TURN_STATE) {
		cr_assert_lt(nrecs, MAX_RECS);
		cr_assert_leq(len, sizeof(recs[0]));
		memset(&recs[nrecs], 0, sizeof(recs[0]));
		memcpy(&recs[nrecs], msg, len);
		rec_len[nrecs++] = len;
		/* what the ring's gate will check */
		struct ring_msg m = { .type = type, .version = 1, .len = len, .payload = msg };
		cr_expect_eq(msg_check(&m, RING_KIND_EVT), 0);
	} else {
		cr_assert_eq(type, MSG_TURN_EVENT);
		cr_assert_eq(len, sizeof(dones[0]));
		cr_assert_lt(ndones, 4);
		memcpy(&dones[ndones++], msg, len);
		struct ring_msg m = { .type = type, .version = 2, .len = len, .payload = msg };
		cr_expect_eq(msg_check(&m, RING_KIND_EVT), 0);
	}
	return 0;
}

static void on_event(void *ctx, const struct msg_turn_event *ev)
{
	(void)ctx;
	if (nevents < 16)
		events[nevents] = *ev;
	nevents++;
}

static int on_exc_up(void *ctx, const struct msg_exc_packet *h, const uint8_t *payload)
{
	(void)ctx;
	if (nups < 8) {
		ups[nups].h = *h;
		memcpy(ups[nups].payload, payload, h->payload_len);
	}
	nups++;
	return 0;
}

static struct sp_addr A(const char *s)
{
	struct sp_addr a;
	cr_assert_eq(sp_addr_parse(&a, s), 0, "%s", s);
	return a;
}

static uint64_t dropped(enum stat_drop d)
{
	return stats_read(&st.drops[d]);
}

static uint64_t counted(enum stat_counter c)
{
	return stats_read(&st.counters[c]);
}

static void effect(struct msg_turn_effect m, uint64_t now)
{
	static uint64_t seq;
	m.seq = ++seq;
	turn_relay_effect(tr, &m, now);
}

static struct msg_turn_effect alloc_install(uint32_t id, const char *client, uint64_t expiry,
					    uint64_t bps, bool dual)
{
	struct msg_turn_effect m = { .type = MSG_TURN_ALLOC_INSTALL, .alloc_id = id,
				     .expiry_ns = expiry, .bandwidth_bps = bps,
				     .client = A(client), .server = A("192.0.2.1:3478"),
				     .relay = A("192.0.2.1:50000") };
	m.relay.port = htons((uint16_t)(50000 + id));
	if (dual) {
		m.relay6 = A("[2001:db8::1]:0");
		m.relay6.port = m.relay.port;
	}
	return m;
}

static void perm(uint32_t id, const char *ip, uint64_t expiry)
{
	struct msg_turn_effect m = { .type = MSG_TURN_PERM_INSTALL, .alloc_id = id,
				     .expiry_ns = expiry };
	char buf[64];
	snprintf(buf, sizeof(buf), strchr(ip, ':') ? "[%s]:0" : "%s:0", ip);
	m.peer = A(buf);
	effect(m, T0);
}

static void chan(uint32_t id, uint16_t num, const char *peer, uint64_t expiry)
{
	struct msg_turn_effect m = { .type = MSG_TURN_CHANNEL_INSTALL, .alloc_id = id,
				     .channel = num, .expiry_ns = expiry, .peer = A(peer) };
	effect(m, T0);
}

static void setup_common(uint32_t max_allocs, uint64_t bps, bool dual)
{
	memset(&be, 0, sizeof(be));
	memset(&st, 0, sizeof(st));
	nevents = nups = nrecs = ndones = 0;
	room = -1;
	uint32_t pool = max_allocs > 4 ? 256 : 8;
	struct turn_relay_cfg cfg = { .worker = 3, .max_allocs = max_allocs, .max_perms = pool,
				      .max_channels = pool, .max_ports = FB_PORTS };
	struct turn_relay_hooks hooks = { .event = on_event, .exc_up = on_exc_up, .dump = on_dump };
	tr = turn_relay_create(&cfg, &fb_ops, &be, &st, &hooks);
	cr_assert_not_null(tr);
	struct sp_addr la = A("192.0.2.1:3478");
	lport = fb_listener(&be, &la);
	cr_assert_eq(turn_relay_add_listener(tr, lport), 0);
	cr_assert(turn_relay_owns(tr, lport));
	effect(alloc_install(ALLOC, "198.51.100.10:40000", T0 + 600 * SEC, bps, dual), T0);
	cr_assert_eq(nevents, 1);
	cr_assert_eq(events[0].kind, TURN_EV_INSTALLED);
	cr_assert_eq(events[0].alloc_id, ALLOC);
	cr_assert_eq(events[0].worker, 3);
	perm(ALLOC, "203.0.113.5", T0 + 300 * SEC);
	chan(ALLOC, CH, "203.0.113.5:9000", T0 + 600 * SEC);
	if (dual)
		perm(ALLOC, "2001:db8::99", T0 + 300 * SEC);
	nevents = 0;
}

static void setup(void) { setup_common(4, 0, false); }

static void teardown(void)
{
	turn_relay_destroy(tr);
	tr = NULL;
	/* Every reference the relay took was given back. */
	for (int b = 0; b < FB_BUFS; b++)
		cr_expect_eq(be.refs[b], 0, "buffer %d still referenced", b);
	for (int p = 0; p < FB_PORTS; p++)
		cr_expect(!be.open[p] || p == (int)lport, "port %d left open", p);
}

/* The backend port an address is bound to. */
static uint32_t port_of(const char *addr)
{
	struct sp_addr a = A(addr);
	for (uint32_t p = 0; p < FB_PORTS; p++)
		if (be.open[p] && sp_addr_equal(&be.bound[p], &a))
			return p;
	cr_assert_fail("no port bound to %s", addr);
	return 0;
}

/* Deliver one datagram (receive buffer 0) and return the number of sends. */
static unsigned in(uint32_t port, const char *from, const void *data, uint32_t len, uint64_t now)
{
	struct sp_addr src = A(from);
	struct dp_pkt p = fb_rx(&be, 0, port, &src, data, len);
	unsigned before = be.nsends;
	turn_relay_input(tr, &p, 1, now);
	cr_assert_eq(be.refs[0], 0, "the relay released the packet");
	return be.nsends - before;
}

static unsigned from_client(const void *data, uint32_t len, uint64_t now)
{
	return in(lport, "198.51.100.10:40000", data, len, now);
}

static size_t chdata(uint8_t *buf, uint16_t ch, uint16_t lenfield, const char *payload, size_t n)
{
	buf[0] = (uint8_t)(ch >> 8);
	buf[1] = (uint8_t)ch;
	buf[2] = (uint8_t)(lenfield >> 8);
	buf[3] = (uint8_t)lenfield;
	memcpy(buf + 4, payload, n);
	return 4 + n;
}

static const struct fb_send *last(void)
{
	cr_assert_gt(be.nsends, 0);
	return &be.sends[be.nsends - 1];
}

/* ------------------------------------------------------------------ */

static void setup_bw(void) { setup_common(4, 80000, false); }
static void setup_dual(void) { setup_common(4, 0, true); }

Test(turn_relay, channeldata_to_peer_zero_copy, .init = setup, .fini = teardown)
{
	uint8_t buf[64];
	size_t n = chdata(buf, CH, 5, "hello\0\0\0", 8); /* padded to 4 */

	cr_assert_eq(from_client(buf, (uint32_t)n, T0 + SEC), 1);
	const struct fb_send *s = last();
	cr_expect_eq(s->port, port_of("192.0.2.1:50007"));
	cr_expect(sp_addr_equal(&s->dst, &(struct sp_addr){ 0 }) == false);
	cr_expect(sp_addr_equal(&s->dst, &(struct sp_addr){ .family = AF_INET, .port = htons(9000),
							   .ip = { 203, 0, 113, 5 } }));
	cr_expect(!s->copy);
	cr_expect_eq(s->buf, 0, "sent from the receive buffer itself");
	cr_expect_eq(s->skip, 4);
	cr_expect_eq(s->len, 5, "trimmed to the channel length, padding left out");
	cr_expect_eq(s->hdr_len, 0);
	cr_expect_arr_eq(s->bytes, "hello", 5);
	cr_expect_eq(counted(STAT_TURN_TO_PEER), 1);
}

/* Table: ChannelData from the client, what becomes of it. */
Test(turn_relay, channeldata_table, .init = setup, .fini = teardown)
{
	chan(ALLOC, 0x58E6, "203.0.113.5:9100", T0 + 600 * SEC);
	static const struct {
		const char *name;
		const char *from;
		uint16_t ch, lenfield;
		uint8_t datalen;   /* bytes after the header */
		uint32_t cut;      /* datagram length override (0: 4 + datalen) */
		int drop;          /* -1: relayed */
		uint32_t sent_len;
	} cases[] = {
		{ "exact", "198.51.100.10:40000", CH, 10, 10, 0, -1, 10 },
		{ "padding ignored", "198.51.100.10:40000", CH, 9, 12, 0, -1, 9 },
		{ "empty payload", "198.51.100.10:40000", CH, 0, 0, 0, -1, 0 },
		{ "shorter than length", "198.51.100.10:40000", CH, 11, 10, 0, DROP_TURN_CHDATA_SHORT, 0 },
		{ "length 0xffff", "198.51.100.10:40000", CH, 0xffff, 10, 0, DROP_TURN_CHDATA_SHORT, 0 },
		{ "3 bytes", "198.51.100.10:40000", CH, 0, 0, 3, DROP_TURN_MALFORMED, 0 },
		{ "1 byte", "198.51.100.10:40000", CH, 0, 0, 1, DROP_TURN_MALFORMED, 0 },
		{ "unbound channel", "198.51.100.10:40000", 0x4002, 4, 4, 0, DROP_TURN_NO_CHANNEL, 0 },
		{ "last channel, unbound", "198.51.100.10:40000", 0x4FFF, 4, 4, 0, DROP_TURN_NO_CHANNEL, 0 },
		{ "RFC 5766 channel, unbound", "198.51.100.10:40000", 0x5000, 4, 4, 0, DROP_TURN_NO_CHANNEL, 0 },
		{ "RFC 5766 bound", "198.51.100.10:40000", 0x58E6, 4, 4, 0, -1, 4 },
		{ "other client port", "198.51.100.10:40001", CH, 4, 4, 0, DROP_TURN_NO_ALLOC, 0 },
		{ "other client ip", "198.51.100.11:40000", CH, 4, 4, 0, DROP_TURN_NO_ALLOC, 0 },
		{ "ipv6 client", "[2001:db8::5]:40000", CH, 4, 4, 0, DROP_TURN_NO_ALLOC, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t buf[64] = { 0 };
		char payload[32];
		memset(payload, 'a' + (int)i, sizeof(payload));
		size_t n = chdata(buf, cases[i].ch, cases[i].lenfield, payload, cases[i].datalen);
		if (cases[i].cut)
			n = cases[i].cut;
		uint64_t d0 = cases[i].drop >= 0 ? dropped((enum stat_drop)cases[i].drop) : 0;
		unsigned sent = in(lport, cases[i].from, buf, (uint32_t)n, T0 + SEC);
		if (cases[i].drop < 0) {
			cr_expect_eq(sent, 1, "%s: relayed", cases[i].name);
			if (sent) {
				cr_expect_eq(last()->len, cases[i].sent_len, "%s", cases[i].name);
				cr_expect_eq(last()->skip, 4, "%s", cases[i].name);
				cr_expect_eq(memcmp(last()->bytes, payload, cases[i].sent_len), 0, "%s",
					     cases[i].name);
			}
		} else {
			cr_expect_eq(sent, 0, "%s: dropped", cases[i].name);
			cr_expect_eq(dropped((enum stat_drop)cases[i].drop), d0 + 1, "%s: counted as %s",
				     cases[i].name, stats_drop_names[cases[i].drop]);
		}
	}
}

/* A channel whose peer IP lost its permission relays nothing. */
Test(turn_relay, channel_without_permission_dropped, .init = setup, .fini = teardown)
{
	uint8_t buf[16];
	size_t n = chdata(buf, CH, 4, "data", 4);

	effect((struct msg_turn_effect){ .type = MSG_TURN_PERM_REMOVE, .alloc_id = ALLOC,
					 .peer = A("203.0.113.5:0") }, T0);
	cr_expect_eq(from_client(buf, (uint32_t)n, T0 + SEC), 0);
	cr_expect_eq(dropped(DROP_TURN_NO_PERM), 1);
	/* and nothing from the peer comes back either */
	cr_expect_eq(in(port_of("192.0.2.1:50007"), "203.0.113.5:9000", "x", 1, T0 + SEC), 0);
	cr_expect_eq(dropped(DROP_TURN_NO_PERM), 2);
}

Test(turn_relay, peer_to_client_channeldata, .init = setup, .fini = teardown)
{
	uint32_t rp = port_of("192.0.2.1:50007");
	struct stun_chdata cd;

	cr_assert_eq(in(rp, "203.0.113.5:9000", "pong!!!", 7, T0 + SEC), 1);
	const struct fb_send *s = last();
	cr_expect_eq(s->port, lport, "sent from the listener the client uses");
	cr_expect(sp_addr_equal(&s->dst, &(struct sp_addr){ .family = AF_INET, .port = htons(40000),
							   .ip = { 198, 51, 100, 10 } }));
	cr_expect_eq(s->buf, 0, "payload zero copy");
	cr_expect_eq(s->skip, 0);
	cr_expect_eq(s->hdr_len, 4);
	cr_assert_eq(stun_chdata_parse(s->bytes, s->wire_len, false, &cd), STUN_OK);
	cr_expect_eq(cd.channel, CH);
	cr_expect_eq(cd.len, 7);
	cr_expect_arr_eq(cd.data, "pong!!!", 7);
	cr_expect_eq(s->wire_len, 11, "no padding over UDP");
	cr_expect_eq(counted(STAT_TURN_TO_CLIENT), 1);
}

/* Data indications for permitted peers without a channel: every payload
 * length (padding 0..3), parsed back byte for byte. */
Test(turn_relay, peer_to_client_data_indication, .init = setup, .fini = teardown)
{
	uint32_t rp = port_of("192.0.2.1:50007");
	uint8_t payload[40];
	for (unsigned i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 1);

	for (uint32_t len = 0; len <= 9; len++) {
		struct stun_msg m;
		struct stun_addr peer;
		const uint8_t *d;
		size_t dl;
		cr_assert_eq(in(rp, "203.0.113.5:9001", payload, len, T0 + SEC), 1, "len %u", len);
		const struct fb_send *s = last();
		cr_expect_eq(s->port, lport);
		cr_expect_neq(s->buf, 0, "built in a transmit buffer");
		cr_expect_eq(s->wire_len % 4, 0, "DATA padded to 4");
		cr_assert_eq(stun_parse(s->bytes, s->wire_len, &m), STUN_OK, "len %u", len);
		cr_expect_eq(m.cls, STUN_CLASS_INDICATION);
		cr_expect_eq(m.method, STUN_METHOD_DATA);
		cr_assert_eq(stun_get_addr(&m, STUN_ATTR_XOR_PEER_ADDRESS, &peer), 0);
		cr_expect_eq(peer.family, STUN_AF_IPV4);
		cr_expect_eq(peer.port, 9001);
		cr_expect_arr_eq(peer.ip, ((uint8_t[]){ 203, 0, 113, 5 }), 4);
		cr_assert_eq(stun_get_data(&m, &d, &dl), 0);
		cr_expect_eq(dl, len);
		cr_expect_eq(memcmp(d, payload, len), 0);
		cr_expect_eq(m.n_attrs, 2);
	}
	/* two indications never share a transaction id */
	cr_expect_neq(memcmp(be.sends[be.nsends - 1].bytes + 8, be.sends[be.nsends - 2].bytes + 8, 12), 0);
	cr_expect_eq(counted(STAT_TURN_TO_CLIENT), 10);
	/* no transmit buffer: counted, nothing sent */
	be.no_tx_buffers = true;
	cr_expect_eq(in(rp, "203.0.113.5:9001", payload, 4, T0 + SEC), 0);
	cr_expect_eq(dropped(DROP_TX_NO_BUFFER), 1);
}

Test(turn_relay, peer_without_permission_never_forwarded, .init = setup, .fini = teardown)
{
	uint32_t rp = port_of("192.0.2.1:50007");
	static const char *const strangers[] = { "203.0.113.6:9000", "203.0.113.4:9000",
						 "198.51.100.10:40000", "192.0.2.1:3478" };
	for (size_t i = 0; i < 4; i++)
		cr_expect_eq(in(rp, strangers[i], "x", 1, T0 + SEC), 0, "%s", strangers[i]);
	cr_expect_eq(dropped(DROP_TURN_NO_PERM), 4);
	cr_expect_eq(counted(STAT_TURN_TO_CLIENT), 0);
}

static size_t send_ind(uint8_t *buf, size_t cap, const struct stun_addr *peer, const void *data,
		       size_t len, bool fingerprint)
{
	struct stun_builder b;
	static const uint8_t tid[12] = { 1, 2, 3 };
	stun_build_init(&b, buf, cap, STUN_METHOD_SEND, STUN_CLASS_INDICATION, tid);
	if (peer)
		stun_build_add_addr(&b, STUN_ATTR_XOR_PEER_ADDRESS, peer);
	if (data)
		stun_build_add(&b, STUN_ATTR_DATA, data, len);
	if (fingerprint)
		stun_build_add_fingerprint(&b);
	int n = stun_build_finish(&b);
	cr_assert_gt(n, 0);
	return (size_t)n;
}

Test(turn_relay, send_indication_zero_copy, .init = setup, .fini = teardown)
{
	uint8_t buf[256];
	struct stun_addr peer = { .family = STUN_AF_IPV4, .port = 9002, .ip = { 203, 0, 113, 5 } };
	size_t n = send_ind(buf, sizeof(buf), &peer, "abcde", 5, true);

	cr_assert_eq(from_client(buf, (uint32_t)n, T0 + SEC), 1);
	const struct fb_send *s = last();
	cr_expect_eq(s->port, port_of("192.0.2.1:50007"));
	cr_expect_eq(ntohs(s->dst.port), 9002);
	cr_expect_eq(s->buf, 0);
	cr_expect_eq(s->len, 5);
	cr_expect_eq(memcmp(buf + s->skip, "abcde", 5), 0, "skip points at the DATA value");
	cr_expect_arr_eq(s->bytes, "abcde", 5);

	/* IPv4-mapped spelling of a permitted peer: normalised, relayed over IPv4 */
	struct stun_addr mapped = { .family = STUN_AF_IPV6, .port = 9003,
				    .ip = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 5 } };
	n = send_ind(buf, sizeof(buf), &mapped, "xy", 2, false);
	cr_assert_eq(from_client(buf, (uint32_t)n, T0 + SEC), 1);
	cr_expect_eq(last()->dst.family, AF_INET);
	cr_expect_eq(counted(STAT_TURN_TO_PEER), 2);
}

Test(turn_relay, send_indication_table, .init = setup, .fini = teardown)
{
	static const struct {
		const char *name;
		const char *peer; /* NULL: no XOR-PEER-ADDRESS */
		bool data;
		int drop;
	} cases[] = {
		{ "no permission", "203.0.113.6:9000", true, DROP_TURN_NO_PERM },
		{ "ipv6 peer on an ipv4 allocation", "[2001:db8::99]:9000", true, DROP_TURN_NO_PERM },
		{ "mapped unpermitted", "[::ffff:203.0.113.6]:1", true, DROP_TURN_NO_PERM },
		{ "peer port 0", "203.0.113.5:0", true, DROP_TURN_NO_PERM },
		{ "no peer", NULL, true, DROP_TURN_MALFORMED },
		{ "no data", "203.0.113.5:9000", false, DROP_TURN_MALFORMED },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t buf[256];
		struct stun_addr sa = { 0 };
		if (cases[i].peer) {
			struct sp_addr a = A(cases[i].peer);
			sa.family = a.family == AF_INET ? STUN_AF_IPV4 : STUN_AF_IPV6;
			sa.port = ntohs(a.port);
			memcpy(sa.ip, a.ip, 16);
		}
		size_t n = send_ind(buf, sizeof(buf), cases[i].peer ? &sa : NULL,
				    cases[i].data ? "zz" : NULL, 2, false);
		uint64_t d0 = dropped((enum stat_drop)cases[i].drop);
		cr_expect_eq(from_client(buf, (uint32_t)n, T0 + SEC), 0, "%s", cases[i].name);
		cr_expect_eq(dropped((enum stat_drop)cases[i].drop), d0 + 1, "%s", cases[i].name);
	}
	/* from a client with no allocation */
	uint8_t buf[256];
	struct stun_addr sa = { .family = STUN_AF_IPV4, .port = 9000, .ip = { 203, 0, 113, 5 } };
	size_t n = send_ind(buf, sizeof(buf), &sa, "zz", 2, false);
	cr_expect_eq(in(lport, "198.51.100.99:1", buf, (uint32_t)n, T0 + SEC), 0);
	cr_expect_eq(dropped(DROP_TURN_NO_ALLOC), 1);
}

static size_t binding(uint8_t *buf, size_t cap, bool fp, bool username, uint16_t extra_attr)
{
	struct stun_builder b;
	static const uint8_t tid[12] = { 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2 };
	stun_build_init(&b, buf, cap, STUN_METHOD_BINDING, STUN_CLASS_REQUEST, tid);
	if (username)
		stun_build_add(&b, STUN_ATTR_USERNAME, "u", 1);
	if (extra_attr)
		stun_build_add(&b, extra_attr, "abcd", 4);
	if (fp)
		stun_build_add_fingerprint(&b);
	int n = stun_build_finish(&b);
	cr_assert_gt(n, 0);
	return (size_t)n;
}

Test(turn_relay, binding_answered_here, .init = setup, .fini = teardown)
{
	uint8_t buf[128];
	struct stun_msg m;
	struct stun_addr mapped;

	for (int fp = 0; fp <= 1; fp++) {
		size_t n = binding(buf, sizeof(buf), fp, false, 0);
		cr_assert_eq(in(lport, "198.51.100.77:5555", buf, (uint32_t)n, T0), 1);
		const struct fb_send *s = last();
		cr_expect(s->copy);
		cr_expect_eq(s->port, lport);
		cr_expect_eq(ntohs(s->dst.port), 5555);
		cr_assert_eq(stun_parse(s->bytes, s->wire_len, &m), STUN_OK);
		cr_expect_eq(m.cls, STUN_CLASS_SUCCESS);
		cr_expect_eq(m.method, STUN_METHOD_BINDING);
		cr_expect_eq(memcmp(stun_msg_tid(&m), buf + 8, 12), 0);
		cr_assert_eq(stun_get_addr(&m, STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped), 0);
		cr_expect_eq(mapped.port, 5555);
		cr_expect_arr_eq(mapped.ip, ((uint8_t[]){ 198, 51, 100, 77 }), 4);
		cr_expect_eq(stun_check_fingerprint(&m), fp == 1, "FINGERPRINT iff the request had one");
	}
	cr_expect_eq(counted(STAT_TURN_BINDING), 2);
	cr_expect_eq(nups, 0);
}

/* What goes up to spcp, what is dropped, by table. */
Test(turn_relay, listener_dispatch_table, .init = setup, .fini = teardown)
{
	uint8_t alloc_req[128], bind_user[128], bind_unknown[128], resp[128];
	struct stun_builder b;
	static const uint8_t tid[12] = { 5 };

	stun_build_init(&b, alloc_req, sizeof(alloc_req), STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST, tid);
	stun_build_add_requested_transport(&b, 17);
	size_t n_alloc = (size_t)stun_build_finish(&b);
	size_t n_bu = binding(bind_user, sizeof(bind_user), true, true, 0);
	size_t n_bk = binding(bind_unknown, sizeof(bind_unknown), false, false, 0x7777);
	stun_build_init(&b, resp, sizeof(resp), STUN_METHOD_BINDING, STUN_CLASS_SUCCESS, tid);
	size_t n_resp = (size_t)stun_build_finish(&b);
	uint8_t rtp[12] = { 0x80, 96 }, junk[8] = { 0x17, 0xfe, 0xfd }, badstun[24] = { 0, 1, 0, 4 };

	static const struct {
		const char *name;
		int which;      /* index into msgs below */
		int up;         /* 1: passed to spcp */
		int drop;       /* or dropped for this reason (-1: neither) */
	} cases[] = {
		{ "allocate request", 0, 1, -1 },
		{ "binding with username", 1, 1, -1 },
		{ "binding with unknown comprehension-required attribute", 2, 1, -1 },
		{ "a response", 3, 0, DROP_TURN_NOT_REQUEST },
		{ "rtp", 4, 0, DROP_TURN_NOT_STUN },
		{ "dtls-looking", 5, 0, DROP_TURN_NOT_STUN },
		{ "first byte 0x80", 8, 0, DROP_TURN_NOT_STUN },
		{ "first byte 0x3f", 9, 0, DROP_TURN_NOT_STUN },
		{ "stun that does not parse", 6, 0, DROP_TURN_MALFORMED },
		{ "empty datagram", 7, 0, DROP_TURN_NOT_STUN },
	};
	const struct {
		const void *p;
		size_t n;
	} msgs[] = { { alloc_req, n_alloc }, { bind_user, n_bu }, { bind_unknown, n_bk },
		     { resp, n_resp }, { rtp, sizeof(rtp) }, { junk, sizeof(junk) },
		     { badstun, sizeof(badstun) }, { "", 0 }, { "\x80\x00\x00\x04" "abcd", 8 },
		     { "\x3f\x00\x00\x04" "abcd", 8 } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned up0 = nups;
		uint64_t d0 = cases[i].drop >= 0 ? dropped((enum stat_drop)cases[i].drop) : 0;
		cr_expect_eq(in(lport, "198.51.100.10:40000", msgs[cases[i].which].p,
				(uint32_t)msgs[cases[i].which].n, T0), 0, "%s: nothing sent", cases[i].name);
		cr_expect_eq(nups - up0, (unsigned)cases[i].up, "%s", cases[i].name);
		if (cases[i].drop >= 0)
			cr_expect_eq(dropped((enum stat_drop)cases[i].drop), d0 + 1, "%s", cases[i].name);
	}
	/* The header spcp gets: worker, the socket, both transport addresses. */
	const struct msg_exc_packet *h = &ups[0].h;
	cr_expect_eq(h->worker, 3);
	cr_expect_eq(h->socket_id, lport);
	cr_expect_eq(h->family, AF_INET);
	cr_expect_eq(h->proto, IPPROTO_UDP);
	cr_expect_eq(ntohs(h->local_port), 3478);
	cr_expect_arr_eq(h->local_addr, ((uint8_t[]){ 192, 0, 2, 1 }), 4);
	cr_expect_eq(ntohs(h->remote_port), 40000);
	cr_expect_arr_eq(h->remote_addr, ((uint8_t[]){ 198, 51, 100, 10 }), 4);
	cr_expect_eq(h->payload_len, n_alloc);
	cr_expect_eq(memcmp(ups[0].payload, alloc_req, n_alloc), 0);
	cr_expect_eq(h->alloc_id, 0);
	cr_expect_eq(counted(STAT_TURN_REQ_UP), 3);
	cr_expect_eq(counted(STAT_EXC_UP), 3);
}

Test(turn_relay, expiry_refuses_then_sweeps, .init = setup, .fini = teardown)
{
	uint8_t buf[16];
	size_t n = chdata(buf, CH, 4, "data", 4);
	uint32_t rp = port_of("192.0.2.1:50007");
	struct turn_relay_counts c;

	/* the permission (300 s) lapses before the channel (600 s) */
	cr_expect_eq(from_client(buf, (uint32_t)n, T0 + 299 * SEC), 1);
	cr_expect_eq(from_client(buf, (uint32_t)n, T0 + 300 * SEC), 0);
	cr_expect_eq(dropped(DROP_TURN_NO_PERM), 1);
	cr_expect_eq(in(rp, "203.0.113.5:9000", "x", 1, T0 + 300 * SEC), 0);
	cr_expect_eq(dropped(DROP_TURN_NO_PERM), 2);
	/* refreshed (and the allocation too): relays again; then the channel
	 * lapses: Data indications */
	perm(ALLOC, "203.0.113.5", T0 + 900 * SEC);
	effect((struct msg_turn_effect){ .type = MSG_TURN_ALLOC_REFRESH, .alloc_id = ALLOC,
					 .expiry_ns = T0 + 700 * SEC }, T0);
	cr_expect_eq(from_client(buf, (uint32_t)n, T0 + 301 * SEC), 1);
	cr_expect_eq(from_client(buf, (uint32_t)n, T0 + 600 * SEC), 0);
	cr_expect_eq(dropped(DROP_TURN_NO_CHANNEL), 1);
	cr_assert_eq(in(rp, "203.0.113.5:9000", "x", 1, T0 + 590 * SEC), 1);
	cr_expect_eq(last()->hdr_len, 4, "channel still bound: ChannelData");
	cr_assert_eq(in(rp, "203.0.113.5:9000", "x", 1, T0 + 600 * SEC), 1);
	cr_expect_eq(last()->hdr_len, 0, "channel expired: Data indication");
	/* the allocation's expiry: nothing passes */
	cr_expect_eq(in(rp, "203.0.113.5:9000", "x", 1, T0 + 700 * SEC), 0);
	cr_expect_eq(from_client(buf, (uint32_t)n, T0 + 700 * SEC), 0);
	cr_expect_eq(dropped(DROP_TURN_NO_ALLOC), 2);
	/* the sweep: entries stay for the grace period (spcp removes them
	 * normally), then go; an allocation removed here is reported */
	turn_relay_timers(tr, T0 + 701 * SEC);
	turn_relay_get_counts(tr, &c);
	cr_expect_eq(c.allocs, 1);
	cr_expect_eq(c.channels, 0, "the channel lapsed more than the grace ago");
	cr_expect_eq(nevents, 0);
	turn_relay_timers(tr, T0 + 700 * SEC + TURN_RELAY_GRACE_NS + SEC);
	turn_relay_get_counts(tr, &c);
	cr_expect_eq(c.allocs, 0);
	cr_expect_eq(c.perms, 0);
	cr_expect_eq(c.channels, 0);
	cr_assert_eq(nevents, 1);
	cr_expect_eq(events[0].kind, TURN_EV_EXPIRED);
	cr_expect_eq(events[0].alloc_id, ALLOC);
	cr_expect_eq(events[0].seq, 0);
	cr_expect(!be.open[rp], "relay port closed");
	cr_expect(!turn_relay_owns(tr, rp));
}

Test(turn_relay, sweep_frees_lapsed_permissions_and_channels, .init = setup, .fini = teardown)
{
	struct turn_relay_counts c;

	chan(ALLOC, 0x4002, "203.0.113.5:9001", T0 + 10 * SEC);
	perm(ALLOC, "203.0.113.9", T0 + 10 * SEC);
	turn_relay_get_counts(tr, &c);
	cr_expect_eq(c.perms, 2);
	cr_expect_eq(c.channels, 2);
	turn_relay_timers(tr, T0 + 10 * SEC + TURN_RELAY_GRACE_NS + 1);
	turn_relay_get_counts(tr, &c);
	cr_expect_eq(c.allocs, 1);
	cr_expect_eq(c.perms, 1);
	cr_expect_eq(c.channels, 1);
}

/* 80 kbit/s = 10 000 B/s; the bucket holds 250 ms at that rate, at least
 * 3000 bytes: 3000 here. Each direction has its own. */
Test(turn_relay, bandwidth_cap, .init = setup_bw, .fini = teardown)
{
	uint8_t buf[1100];
	char payload[1000];
	memset(payload, 'p', sizeof(payload));
	size_t n = chdata(buf, CH, 1000, payload, 1000);
	uint32_t rp = port_of("192.0.2.1:50007");
	uint64_t t = T0 + SEC;

	for (int i = 0; i < 3; i++)
		cr_expect_eq(from_client(buf, (uint32_t)n, t), 1, "packet %d within the burst", i);
	cr_expect_eq(from_client(buf, (uint32_t)n, t), 0);
	cr_expect_eq(dropped(DROP_TURN_BANDWIDTH), 1);
	/* the other direction is not charged for it */
	cr_expect_eq(in(rp, "203.0.113.5:9000", payload, 1000, t), 1);
	/* 99 ms refill 990 bytes: not enough; 100 ms: one more packet */
	cr_expect_eq(from_client(buf, (uint32_t)n, t + 99000000), 0);
	cr_expect_eq(from_client(buf, (uint32_t)n, t + 100000000), 1);
	cr_expect_eq(dropped(DROP_TURN_BANDWIDTH), 2);
	/* a long pause refills only to the burst */
	for (int i = 0; i < 3; i++)
		cr_expect_eq(from_client(buf, (uint32_t)n, t + 200 * SEC), 1);
	cr_expect_eq(from_client(buf, (uint32_t)n, t + 200 * SEC), 0);
	cr_expect_eq(dropped(DROP_TURN_BANDWIDTH), 3);
}

Test(turn_relay, dual_allocation_uses_the_peer_family, .init = setup_dual, .fini = teardown)
{
	uint32_t r4 = port_of("192.0.2.1:50007"), r6 = port_of("[2001:db8::1]:50007");
	uint8_t buf[256];
	struct stun_addr p6 = { .family = STUN_AF_IPV6, .port = 7000,
				.ip = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x99 } };
	size_t n = send_ind(buf, sizeof(buf), &p6, "six", 3, false);

	cr_assert_eq(from_client(buf, (uint32_t)n, T0 + SEC), 1);
	cr_expect_eq(last()->port, r6);
	cr_expect_eq(last()->dst.family, AF_INET6);
	/* the IPv6 peer answers on the IPv6 relay: a Data indication */
	struct stun_msg m;
	struct stun_addr pa;
	cr_assert_eq(in(r6, "[2001:db8::99]:7000", "back", 4, T0 + SEC), 1);
	cr_assert_eq(stun_parse(last()->bytes, last()->wire_len, &m), STUN_OK);
	cr_assert_eq(stun_get_addr(&m, STUN_ATTR_XOR_PEER_ADDRESS, &pa), 0);
	cr_expect_eq(pa.family, STUN_AF_IPV6);
	cr_expect_eq(pa.port, 7000);
	/* IPv4 still on the IPv4 relay */
	n = chdata(buf, CH, 2, "v4", 2);
	cr_assert_eq(from_client(buf, (uint32_t)n, T0 + SEC), 1);
	cr_expect_eq(last()->port, r4);
	effect((struct msg_turn_effect){ .type = MSG_TURN_ALLOC_REMOVE, .alloc_id = ALLOC }, T0);
	cr_expect(!be.open[r4] && !be.open[r6], "both relay ports closed");
}

Test(turn_relay, effect_results, .init = setup, .fini = teardown)
{
	struct turn_relay_counts c;

	/* a relay port that cannot be bound: FAILED with the errno, nothing left */
	be.fail_port = 50008;
	effect(alloc_install(8, "198.51.100.10:40008", T0 + 600 * SEC, 0, false), T0);
	cr_assert_eq(nevents, 1);
	cr_expect_eq(events[0].kind, TURN_EV_FAILED);
	cr_expect_eq(events[0].error, -EADDRINUSE);
	cr_expect_eq(events[0].effect_type, MSG_TURN_ALLOC_INSTALL);
	cr_expect_eq(events[0].alloc_id, 8);
	/* ... and of a dual allocation, the second bind failing closes the first */
	unsigned opens = be.opens, closes = be.closes;
	be.fail_port = 0;
	struct msg_turn_effect d = alloc_install(9, "198.51.100.10:40009", T0 + 600 * SEC, 0, true);
	be.fail_open = 0;
	effect(d, T0);
	cr_expect_eq(events[1].kind, TURN_EV_INSTALLED);
	cr_expect_eq(be.opens - opens, 2);
	cr_expect(sp_addr_equal(&events[1].relay6, &d.relay6));
	effect((struct msg_turn_effect){ .type = MSG_TURN_ALLOC_REMOVE, .alloc_id = 9 }, T0);
	cr_expect_eq(be.closes - closes, 2);
	/* unknown allocation: refresh/permission/channel fail, removals are no-ops */
	nevents = 0;
	effect((struct msg_turn_effect){ .type = MSG_TURN_ALLOC_REFRESH, .alloc_id = 99 }, T0);
	effect((struct msg_turn_effect){ .type = MSG_TURN_PERM_INSTALL, .alloc_id = 99,
					 .peer = A("203.0.113.5:0") }, T0);
	effect((struct msg_turn_effect){ .type = MSG_TURN_CHANNEL_INSTALL, .alloc_id = 99,
					 .channel = 0x4000, .peer = A("203.0.113.5:1") }, T0);
	effect((struct msg_turn_effect){ .type = MSG_TURN_ALLOC_REMOVE, .alloc_id = 99 }, T0);
	effect((struct msg_turn_effect){ .type = MSG_TURN_PERM_REMOVE, .alloc_id = 99,
					 .peer = A("203.0.113.5:0") }, T0);
	cr_assert_eq(nevents, 3);
	for (int i = 0; i < 3; i++) {
		cr_expect_eq(events[i].kind, TURN_EV_FAILED);
		cr_expect_eq(events[i].error, -ENOENT);
	}
	cr_expect_eq(events[2].channel, 0x4000);
	/* a listener we do not have; a TCP 5-tuple */
	nevents = 0;
	struct msg_turn_effect m = alloc_install(10, "198.51.100.10:1", T0 + SEC, 0, false);
	m.server = A("192.0.2.1:3479");
	effect(m, T0);
	m = alloc_install(10, "198.51.100.10:1", T0 + SEC, 0, false);
	m.transport = MSG_TURN_TP_TCP;
	effect(m, T0);
	cr_assert_eq(nevents, 2);
	cr_expect_eq(events[0].error, -EADDRNOTAVAIL);
	cr_expect_eq(events[1].error, -EADDRNOTAVAIL); /* no TCP listener there */
	/* pools: 4 allocations, 8 permissions, 8 channels */
	nevents = 0;
	for (uint32_t id = 20; id < 24; id++)
		effect(alloc_install(id, "198.51.100.20:1", T0 + SEC, 0, false), T0);
	/* the same 5-tuple each time: each install replaced the previous one */
	turn_relay_get_counts(tr, &c);
	cr_expect_eq(c.allocs, 2);
	char client[32];
	for (uint32_t id = 30; id < 33; id++) {
		snprintf(client, sizeof(client), "198.51.100.30:%u", id);
		effect(alloc_install(id, client, T0 + SEC, 0, false), T0);
	}
	cr_expect_eq(events[nevents - 1].kind, TURN_EV_FAILED);
	cr_expect_eq(events[nevents - 1].error, -ENOSPC);
	cr_expect_eq(dropped(DROP_TURN_TABLE_FULL), 1);
	nevents = 0;
	for (int i = 0; i < 8; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "203.0.113.%d", 100 + i);
		perm(ALLOC, ip, T0 + SEC);
	}
	cr_expect_eq(nevents, 1, "the 8th permission does not fit (one is in use)");
	cr_expect_eq(events[0].error, -ENOSPC);
	/* a refresh of an existing one always fits */
	perm(ALLOC, "203.0.113.100", T0 + 2 * SEC);
	cr_expect_eq(nevents, 1);
}

Test(turn_relay, same_id_replaces, .init = setup, .fini = teardown)
{
	struct turn_relay_counts c;
	uint32_t old = port_of("192.0.2.1:50007");
	struct msg_turn_effect m = alloc_install(ALLOC, "198.51.100.50:1", T0 + 600 * SEC, 0, false);

	m.relay.port = htons(51000);
	effect(m, T0);
	turn_relay_get_counts(tr, &c);
	cr_expect_eq(c.allocs, 1);
	cr_expect_eq(c.perms, 0, "the old allocation's permissions went with it");
	cr_expect(!be.open[old] || ntohs(be.bound[old].port) == 51000, "the old relay port closed");
	port_of("192.0.2.1:51000");
}

Test(turn_relay, responses_from_spcp, .init = setup, .fini = teardown)
{
	uint8_t pkt[40] = { 1, 1, 0, 0 };
	struct msg_exc_packet h = { .worker = 3, .socket_id = lport, .family = AF_INET,
				    .proto = IPPROTO_UDP, .local_port = htons(3478),
				    .local_addr = { 192, 0, 2, 1 }, .remote_port = htons(40000),
				    .remote_addr = { 198, 51, 100, 10 }, .payload_len = sizeof(pkt),
				    .alloc_id = ALLOC };
	unsigned n0 = be.nsends;

	turn_relay_send(tr, &h, pkt, T0);
	cr_assert_eq(be.nsends, n0 + 1);
	cr_expect(last()->copy);
	cr_expect_eq(last()->port, lport);
	cr_expect_eq(ntohs(last()->dst.port), 40000);
	cr_expect_eq(last()->wire_len, sizeof(pkt));
	cr_expect_eq(counted(STAT_TURN_RESP), 1);
	/* a stale socket hint: found by the local address */
	h.socket_id = 60;
	turn_relay_send(tr, &h, pkt, T0);
	cr_expect_eq(be.nsends, n0 + 2);
	cr_expect_eq(last()->port, lport);
	/* depends on an allocation this worker lacks: not sent */
	h.alloc_id = 4242;
	turn_relay_send(tr, &h, pkt, T0);
	cr_expect_eq(be.nsends, n0 + 2);
	cr_expect_eq(dropped(DROP_TURN_RESP_DROPPED), 1);
	/* no listener on that address */
	h.alloc_id = 0;
	h.local_port = htons(3479);
	h.socket_id = 60;
	turn_relay_send(tr, &h, pkt, T0);
	cr_expect_eq(dropped(DROP_TURN_RESP_DROPPED), 2);
	/* TCP: no such connection (the client went) */
	h.local_port = htons(3478);
	h.proto = IPPROTO_TCP;
	turn_relay_send(tr, &h, pkt, T0);
	cr_expect_eq(dropped(DROP_TURN_RESP_DROPPED), 2);
	cr_expect_eq(dropped(DROP_CONN_GONE), 1);
	cr_expect_eq(be.nsends, n0 + 2);
	cr_expect_eq(counted(STAT_EXC_DOWN), 5);
}

Test(turn_relay, bad_config_and_listeners)
{
	struct turn_relay_hooks hooks = { .event = on_event, .exc_up = on_exc_up };
	struct turn_relay_cfg bad[] = {
		{ .max_allocs = 0, .max_perms = 1, .max_channels = 1, .max_ports = 8 },
		{ .max_allocs = 1, .max_perms = 0, .max_channels = 1, .max_ports = 8 },
		{ .max_allocs = 1, .max_perms = 1, .max_channels = 0, .max_ports = 8 },
		{ .max_allocs = 1, .max_perms = 1, .max_channels = 1, .max_ports = 0 },
		{ .max_allocs = 1u << 30, .max_perms = 1, .max_channels = 1, .max_ports = 8 },
	};
	memset(&be, 0, sizeof(be));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_null(turn_relay_create(&bad[i], &fb_ops, &be, &st, &hooks), "cfg %zu", i);
	struct turn_relay_cfg cfg = { .max_allocs = 1, .max_perms = 1, .max_channels = 1,
				      .max_ports = 16 };
	turn_relay *t = turn_relay_create(&cfg, &fb_ops, &be, &st, &hooks);
	cr_assert_not_null(t);
	cr_expect_eq(turn_relay_add_listener(t, 16), -EINVAL, "outside the port map");
	cr_expect_eq(turn_relay_add_listener(t, 2), -ENOENT, "not open");
	cr_expect_eq(turn_relay_add_stream_listener(t, 2, false), -EINVAL, "max_conns 0");
	for (int i = 0; i < TURN_RELAY_MAX_LISTENERS; i++) {
		struct sp_addr a = A("127.0.0.1:1");
		a.port = htons((uint16_t)(3478 + i));
		cr_assert_eq(turn_relay_add_listener(t, fb_listener(&be, &a)), 0);
	}
	struct sp_addr a = A("127.0.0.1:9");
	uint32_t p = fb_listener(&be, &a);
	cr_expect_eq(turn_relay_add_listener(t, p), -ENOSPC);
	cr_expect_eq(turn_relay_add_listener(t, 0), -EINVAL, "already a listener");
	cr_expect(!turn_relay_owns(t, 1000));
	turn_relay_destroy(t);
	turn_relay_destroy(NULL);
}

/* [turn] listen: a comma-separated list of IP:port, at most 4. */
Test(turn_relay, listen_list_parsing)
{
	static const struct {
		const char *s;
		int n;
	} cases[] = {
		{ "0.0.0.0:3478", 1 },
		{ "127.0.0.1:3478,[::1]:3478", 2 },
		{ " 127.0.0.1:1 , [::]:2 ,", 2 },
		{ "1.1.1.1:1,1.1.1.2:1,1.1.1.3:1,1.1.1.4:1", 4 },
		{ "", 0 },
		{ "1.1.1.1:1,1.1.1.2:1,1.1.1.3:1,1.1.1.4:1,1.1.1.5:1", -EINVAL },
		{ "127.0.0.1", -EINVAL },
		{ "127.0.0.1:0", -EINVAL },
		{ "turn.example:3478", -EINVAL },
		{ "[::1:3478", -EINVAL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sp_addr a[4];
		cr_expect_eq(dp_parse_listen(cases[i].s, a, 4), cases[i].n, "'%s'", cases[i].s);
	}
	struct sp_addr a[4];
	cr_assert_eq(dp_parse_listen("127.0.0.1:3478,[::1]:3479", a, 4), 2);
	cr_expect_eq(a[0].family, AF_INET);
	cr_expect_eq(ntohs(a[0].port), 3478);
	cr_expect_eq(a[1].family, AF_INET6);
	cr_expect_eq(ntohs(a[1].port), 3479);
}

/* ------------------------------------------------------------ TCP clients */

static uint32_t tport;  /* the TCP listener's backend port */
static uint32_t conn;   /* the test client's connection port */
#define TCP_ALLOC 11u
#define TCP_CLIENT "198.51.100.20:50000"

static void setup_tcp(void)
{
	memset(&be, 0, sizeof(be));
	memset(&st, 0, sizeof(st));
	nevents = nups = 0;
	struct turn_relay_cfg cfg = { .worker = 3, .max_allocs = 4, .max_perms = 8,
				      .max_channels = 8, .max_ports = FB_PORTS, .max_conns = 4,
				      .conn_idle_ns = 30 * SEC, .tls_handshake_ns = 10 * SEC };
	struct turn_relay_hooks hooks = { .event = on_event, .exc_up = on_exc_up };
	tr = turn_relay_create(&cfg, &fb_ops, &be, &st, &hooks);
	cr_assert_not_null(tr);
	struct sp_addr la = A("192.0.2.1:3478"), peer = A(TCP_CLIENT);
	lport = fb_listener(&be, &la);
	cr_assert_eq(turn_relay_add_listener(tr, lport), 0);
	cr_assert_eq(fb_ops.listen_adopt(&be, -1, &tport), 0);
	be.bound[tport] = la; /* TCP 3478 beside UDP 3478 */
	cr_assert_eq(turn_relay_add_stream_listener(tr, tport, false), 0);
	cr_expect_eq(turn_relay_add_stream_listener(tr, tport, true), -EINVAL, "TLS without cfg.tls");
	struct dp_pkt o = fb_accept(&be, tport, &la, &peer);
	conn = o.port;
	cr_assert(turn_relay_owns(tr, o.parent));
	turn_relay_input(tr, &o, 1, T0);
	cr_assert(turn_relay_owns(tr, conn));
	struct msg_turn_effect m = alloc_install(TCP_ALLOC, TCP_CLIENT, T0 + 600 * SEC, 0, false);
	m.transport = MSG_TURN_TP_TCP;
	effect(m, T0);
	cr_assert_eq(nevents, 1);
	cr_assert_eq(events[0].kind, TURN_EV_INSTALLED, "error %d", events[0].error);
	perm(TCP_ALLOC, "203.0.113.5", T0 + 300 * SEC);
	perm(TCP_ALLOC, "203.0.113.6", T0 + 300 * SEC);
	chan(TCP_ALLOC, CH, "203.0.113.5:9000", T0 + 600 * SEC);
	nevents = 0;
}

static void teardown_tcp(void)
{
	turn_relay_destroy(tr);
	tr = NULL;
	for (int b = 0; b < FB_BUFS; b++)
		cr_expect_eq(be.refs[b], 0, "buffer %d still referenced", b);
	for (int p = 0; p < FB_PORTS; p++)
		cr_expect(!be.open[p] || p == (int)lport || p == (int)tport, "port %d left open", p);
}

/* Bytes from the test client on its connection, in receive buffer b. */
static void stream_in(uint32_t b, const void *data, uint32_t len, uint64_t now)
{
	struct sp_addr src = A(TCP_CLIENT);
	struct dp_pkt p = fb_stream_rx(&be, b, conn, &src, data, len);
	turn_relay_input(tr, &p, 1, now);
}

/* A Binding request, ChannelData (padded to 4, as on any stream) and a Send
 * indication back to back, cut in two at every offset: each message is
 * handled exactly once, whole; those inside one read leave by reference. */
Test(turn_relay, tcp_framing_at_every_split, .init = setup_tcp, .fini = teardown_tcp)
{
	uint8_t stream[512];
	size_t n = binding(stream, sizeof(stream), true, false, 0);
	size_t nb = n;
	n += chdata(stream + n, CH, 5, "hello\0\0\0", 8);
	struct stun_addr pa = { .family = STUN_AF_IPV4, .port = 9000, .ip = { 203, 0, 113, 5 } };
	n += send_ind(stream + n, sizeof(stream) - n, &pa, "world", 5, false);

	for (size_t k = 0; k < n; k++) {
		be.nsends = 0;
		if (k)
			stream_in(0, stream, (uint32_t)k, T0 + SEC);
		stream_in(1, stream + k, (uint32_t)(n - k), T0 + SEC);
		cr_assert_eq(be.nsends, 3, "split at %zu", k);
		const struct fb_send *bind = &be.sends[0], *hello = &be.sends[1], *world = &be.sends[2];
		cr_expect(bind->stream && bind->port == conn, "split %zu: Binding answered on the connection", k);
		cr_expect_eq(stun_demux(bind->bytes, bind->wire_len), STUN_DEMUX_STUN);
		cr_expect(!hello->stream && hello->len == 5 && memcmp(hello->bytes, "hello", 5) == 0,
			  "split %zu", k);
		cr_expect(!world->stream && world->len == 5 && memcmp(world->bytes, "world", 5) == 0,
			  "split %zu", k);
		/* ChannelData inside the second read: the receive buffer itself */
		if (k <= nb)
			cr_expect_eq(hello->buf, 1, "split %zu: zero copy", k);
		else if (k < nb + 12)
			cr_expect_geq(hello->buf, FB_RX_BUFS, "split %zu: assembled", k);
		for (int b = 0; b < FB_BUFS; b++)
			cr_assert_eq(be.refs[b], 0, "split %zu: buffer %d", k, b);
	}
	cr_expect_eq(counted(STAT_TURN_TO_PEER), 2 * n);
	cr_expect_eq(counted(STAT_TURN_BINDING), n);
}

/* Peer datagrams go to a TCP client on its connection: ChannelData padded
 * to 4 with the payload by reference, or a Data indication. */
Test(turn_relay, tcp_peer_to_client, .init = setup_tcp, .fini = teardown_tcp)
{
	uint32_t rp = port_of("192.0.2.1:50011");
	cr_assert_eq(in(rp, "203.0.113.5:9000", "abcde", 5, T0 + SEC), 1);
	const struct fb_send *s = last();
	cr_expect(s->stream);
	cr_expect_eq(s->port, conn);
	cr_expect_eq(s->buf, 0, "payload by reference");
	cr_expect_eq(s->wire_len, 12, "4 + 5 + 3 bytes of padding");
	cr_expect_arr_eq(s->bytes, "\x40\x01\x00\x05" "abcde\0\0\0", 12);
	cr_assert_eq(in(rp, "203.0.113.6:7", "xyz", 3, T0 + SEC), 1);
	s = last();
	cr_expect(s->stream && s->port == conn);
	cr_expect_eq(stun_demux(s->bytes, s->wire_len), STUN_DEMUX_STUN, "a Data indication");
	cr_expect_eq(counted(STAT_TURN_TO_CLIENT), 2);
	/* a client that does not read: whole messages are dropped, counted */
	be.full_stream = true;
	cr_expect_eq(in(rp, "203.0.113.5:9000", "abcde", 5, T0 + SEC), 0);
	cr_expect_eq(dropped(DROP_CONN_BACKLOG), 1);
	cr_expect(be.open[conn], "the connection stays");
}

/* Requests go up as TCP from the connection; spcp's answer goes back on it. */
Test(turn_relay, tcp_requests_and_responses, .init = setup_tcp, .fini = teardown_tcp)
{
	uint8_t buf[128];
	size_t n = binding(buf, sizeof(buf), false, true, 0); /* with USERNAME: for spcp */
	stream_in(0, buf, (uint32_t)n, T0 + SEC);
	cr_assert_eq(nups, 1);
	cr_expect_eq(ups[0].h.proto, IPPROTO_TCP);
	cr_expect_eq(ups[0].h.flags, 0);
	cr_expect_eq(ups[0].h.socket_id, conn);
	cr_expect_eq(ups[0].h.payload_len, n);
	unsigned before = be.nsends;
	turn_relay_send(tr, &ups[0].h, buf, T0 + SEC);
	cr_assert_eq(be.nsends, before + 1);
	cr_expect(last()->stream && last()->port == conn && last()->copy);
	/* a stale hint still finds the connection by its 5-tuple */
	struct msg_exc_packet h = ups[0].h;
	h.socket_id = lport;
	turn_relay_send(tr, &h, buf, T0 + SEC);
	cr_expect_eq(be.nsends, before + 2);
	cr_expect_eq(counted(STAT_TURN_RESP), 2);
}

/* Table: what ends a connection, and the allocation with it. */
Test(turn_relay, tcp_bad_streams_close, .init = setup_tcp, .fini = teardown_tcp)
{
	static const struct {
		const char *what;
		uint8_t bytes[8];
		uint32_t len;
		enum stat_drop why;
	} cases[] = {
		{ "not STUN or ChannelData", { 0xFF, 0, 0, 0 }, 4, DROP_TURN_NOT_STUN },
		{ "STUN length not a multiple of 4", { 0x00, 0x01, 0x00, 0x05 }, 4, DROP_TURN_NOT_STUN },
		{ "ChannelData longer than a buffer", { 0x40, 0x01, 0x0F, 0xA0, 1, 2 }, 6,
		  DROP_CONN_OVERSIZE },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sp_addr la = A("192.0.2.1:3478"), peer = A(TCP_CLIENT);
		if (i) { /* a fresh connection and allocation */
			struct dp_pkt o = fb_accept(&be, tport, &la, &peer);
			conn = o.port;
			turn_relay_input(tr, &o, 1, T0);
			struct msg_turn_effect m = alloc_install(TCP_ALLOC, TCP_CLIENT, T0 + 600 * SEC, 0, false);
			m.transport = MSG_TURN_TP_TCP;
			effect(m, T0);
		}
		nevents = 0;
		uint64_t d0 = dropped(cases[i].why);
		stream_in(0, cases[i].bytes, cases[i].len, T0 + SEC);
		cr_expect(!be.open[conn], "%s: closed", cases[i].what);
		cr_expect_eq(dropped(cases[i].why), d0 + 1, "%s", cases[i].what);
		cr_assert_eq(nevents, 1, "%s", cases[i].what);
		cr_expect_eq(events[0].kind, TURN_EV_CLOSED);
		cr_expect_eq(events[0].alloc_id, TCP_ALLOC);
	}
	struct turn_relay_counts c;
	turn_relay_get_counts(tr, &c);
	cr_expect_eq(c.conns, 0);
	cr_expect_eq(c.allocs, 0);
}

/* The client closing removes the allocation; a connection that never
 * allocates is closed when idle; one with an allocation is not. */
Test(turn_relay, tcp_close_and_idle, .init = setup_tcp, .fini = teardown_tcp)
{
	struct sp_addr la = A("192.0.2.1:3478"), p2 = A("198.51.100.21:1");
	struct dp_pkt o = fb_accept(&be, tport, &la, &p2);
	uint32_t idle = o.port;
	turn_relay_input(tr, &o, 1, T0);
	turn_relay_timers(tr, T0 + 29 * SEC);
	cr_expect(be.open[idle] && be.open[conn]);
	turn_relay_timers(tr, T0 + 31 * SEC);
	cr_expect(!be.open[idle], "idle without an allocation: closed");
	cr_expect(be.open[conn], "holding an allocation: kept");
	cr_expect_eq(dropped(DROP_CONN_IDLE), 1);
	struct dp_pkt c = { .port = conn, .buf = UINT32_MAX, .kind = DP_PKT_CLOSED };
	turn_relay_input(tr, &c, 1, T0 + 32 * SEC);
	cr_expect(!be.open[conn]);
	cr_assert_eq(nevents, 1);
	cr_expect_eq(events[0].kind, TURN_EV_CLOSED);
	cr_expect_eq(events[0].alloc_id, TCP_ALLOC);
	struct turn_relay_counts n;
	turn_relay_get_counts(tr, &n);
	cr_expect_eq(n.allocs, 0);
	cr_expect_eq(n.conns, 0);
	/* connections past max_conns are refused at once */
	for (int i = 0; i < 5; i++) {
		struct sp_addr p = A("198.51.100.30:1");
		p.port = htons((uint16_t)(100 + i));
		o = fb_accept(&be, tport, &la, &p);
		turn_relay_input(tr, &o, 1, T0 + 33 * SEC);
	}
	cr_expect_eq(dropped(DROP_CONN_REFUSED), 1);
}

/* ------------------------------------------------------------------ DONT-FRAGMENT */

Test(turn_relay, dont_fragment_sets_df_on_relay_ports, .init = setup, .fini = teardown)
{
	cr_expect(!be.df[port_of("192.0.2.1:50007")], "no DONT-FRAGMENT: the kernel's default");
	struct msg_turn_effect m = alloc_install(8, "198.51.100.10:40008", T0 + 600 * SEC, 0, true);
	m.dont_fragment = 1;
	effect(m, T0);
	cr_assert_eq(events[0].kind, TURN_EV_INSTALLED);
	cr_expect(be.df[port_of("192.0.2.1:50008")]);
	cr_expect(be.df[port_of("[2001:db8::1]:50008")], "both relays of a dual allocation");
	/* a backend that refuses: no allocation, nothing left open, the errno to spcp */
	unsigned opens = be.opens, closes = be.closes;
	be.fail_df = -EPERM;
	m = alloc_install(9, "198.51.100.10:40009", T0 + 600 * SEC, 0, false);
	m.dont_fragment = 1;
	effect(m, T0);
	cr_assert_eq(nevents, 2);
	cr_expect_eq(events[1].kind, TURN_EV_FAILED);
	cr_expect_eq(events[1].error, -EPERM);
	cr_expect_eq(be.opens - opens, be.closes - closes);
	struct turn_relay_counts c;
	turn_relay_get_counts(tr, &c);
	cr_expect_eq(c.allocs, 2);
}

Test(turn_relay, dont_fragment_without_backend_support)
{
	static struct dp_backend_ops no_df;
	memset(&be, 0, sizeof(be));
	memset(&st, 0, sizeof(st));
	nevents = 0;
	no_df = fb_ops;
	no_df.port_set_df = NULL;
	struct turn_relay_cfg cfg = { .worker = 1, .max_allocs = 2, .max_perms = 2,
				      .max_channels = 2, .max_ports = FB_PORTS };
	struct turn_relay_hooks hooks = { .event = on_event };
	tr = turn_relay_create(&cfg, &no_df, &be, &st, &hooks);
	struct sp_addr la = A("192.0.2.1:3478");
	lport = fb_listener(&be, &la);
	cr_assert_eq(turn_relay_add_listener(tr, lport), 0);
	struct msg_turn_effect m = alloc_install(1, "198.51.100.10:1", T0 + SEC, 0, false);
	m.dont_fragment = 1;
	effect(m, T0);
	cr_assert_eq(nevents, 1);
	cr_expect_eq(events[0].error, -EOPNOTSUPP);
	effect(alloc_install(2, "198.51.100.10:2", T0 + SEC, 0, false), T0);
	cr_expect_eq(events[1].kind, TURN_EV_INSTALLED, "without DF it works");
	turn_relay_destroy(tr);
	tr = NULL;
}

/* ------------------------------------------------------------------ dump */

static unsigned run_dump(uint64_t seq)
{
	turn_relay_dump(tr, &(struct msg_turn_dump){ .seq = seq });
	unsigned turns = 0, n;
	while (!ndones) {
		n = turn_relay_dump_continue(tr);
		cr_assert_leq(n, 64 + 1, "bounded per loop turn");
		cr_assert_lt(++turns, 10000);
	}
	return turns;
}

static const struct msg_turn_effect *find_rec(uint8_t type, uint32_t id, const char *peer,
					      uint16_t ch)
{
	struct sp_addr p = peer ? A(peer) : (struct sp_addr){ 0 };
	for (unsigned i = 0; i < nrecs; i++)
		if (recs[i].type == type && recs[i].alloc_id == id &&
		    (!peer || sp_addr_equal(&recs[i].peer, &p)) && (!ch || recs[i].channel == ch))
			return &recs[i];
	return NULL;
}

Test(turn_relay, dump_reports_everything, .init = setup_dual, .fini = teardown)
{
	/* a second allocation: owner, DF, bandwidth */
	struct msg_turn_effect m = alloc_install(8, "198.51.100.11:40001", T0 + 300 * SEC, 64000, false);
	m.dont_fragment = 1;
	m.owner_len = 5;
	memcpy(m.owner, "alice", 5);
	effect(m, T0);
	chan(8, 0x4002, "203.0.113.6:9001", T0 + 100 * SEC);
	perm(8, "203.0.113.6", T0 + 90 * SEC);

	run_dump(42);
	cr_assert_eq(ndones, 1);
	cr_expect_eq(dones[0].seq, 42);
	cr_expect_eq(dones[0].kind, TURN_EV_DUMP_DONE);
	cr_expect_eq(dones[0].alloc_id, 0);
	cr_expect_eq(dones[0].worker, 3);
	cr_expect_eq(dones[0].allocs, 2);
	cr_expect_eq(dones[0].perms, 3);
	cr_expect_eq(dones[0].channels, 2);
	cr_assert_eq(nrecs, 7);
	for (unsigned i = 0; i < nrecs; i++)
		cr_expect_eq(recs[i].seq, 42);

	const struct msg_turn_effect *a = find_rec(MSG_TURN_ALLOC_INSTALL, ALLOC, NULL, 0);
	cr_assert_not_null(a);
	struct msg_turn_effect want = alloc_install(ALLOC, "198.51.100.10:40000", T0 + 600 * SEC, 0, true);
	cr_expect(sp_addr_equal(&a->client, &want.client));
	cr_expect(sp_addr_equal(&a->server, &want.server));
	cr_expect(sp_addr_equal(&a->relay, &want.relay));
	cr_expect(sp_addr_equal(&a->relay6, &want.relay6));
	cr_expect_eq(a->expiry_ns, T0 + 600 * SEC);
	cr_expect_eq(a->transport, MSG_TURN_TP_UDP);
	cr_expect_eq(a->owner_len, 0);
	cr_expect_eq(a->dont_fragment, 0);
	cr_expect(find_rec(MSG_TURN_PERM_INSTALL, ALLOC, "203.0.113.5:0", 0));
	cr_expect(find_rec(MSG_TURN_PERM_INSTALL, ALLOC, "[2001:db8::99]:0", 0));
	const struct msg_turn_effect *c = find_rec(MSG_TURN_CHANNEL_INSTALL, ALLOC, "203.0.113.5:9000", CH);
	cr_assert_not_null(c);
	cr_expect_eq(c->expiry_ns, T0 + 600 * SEC);

	const struct msg_turn_effect *b = find_rec(MSG_TURN_ALLOC_INSTALL, 8, NULL, 0);
	cr_assert_not_null(b);
	cr_expect_eq(b->owner_len, 5);
	cr_expect_arr_eq(b->owner, "alice", 5);
	cr_expect_eq(b->dont_fragment, 1);
	cr_expect_eq(b->bandwidth_bps, 64000);
	cr_expect_eq(b->relay6.family, 0);
	unsigned bi = (unsigned)(b - recs);
	cr_expect_eq(rec_len[bi], MSG_TURN_EFFECT_LEN(5), "the message ends after the owner");
	const struct msg_turn_effect *bp = find_rec(MSG_TURN_PERM_INSTALL, 8, "203.0.113.6:0", 0);
	cr_assert_not_null(bp);
	cr_expect_eq(bp->expiry_ns, T0 + 90 * SEC);
	cr_expect_gt(bp, b, "an allocation's permissions and channels come after it");
	cr_expect(find_rec(MSG_TURN_CHANNEL_INSTALL, 8, "203.0.113.6:9001", 0x4002));
	cr_expect_eq(counted(STAT_TURN_DUMP_RECORDS), 7);

	/* nothing more once done, and a dump of an empty table is just its end */
	cr_expect_eq(turn_relay_dump_continue(tr), 0);
	effect((struct msg_turn_effect){ .type = MSG_TURN_ALLOC_REMOVE, .alloc_id = ALLOC }, T0);
	effect((struct msg_turn_effect){ .type = MSG_TURN_ALLOC_REMOVE, .alloc_id = 8 }, T0);
	nrecs = ndones = 0;
	run_dump(43);
	cr_expect_eq(nrecs, 0);
	cr_expect_eq(dones[0].seq, 43);
	cr_expect_eq(dones[0].allocs, 0);
}

static void setup_big(void) { setup_common(48, 0, false); }

/* 48 allocations with 3 permissions and 2 channels each: 288 records. */
static void fill_big(void)
{
	char client[40], ip[40], peer[48];
	for (uint32_t id = 100; id < 147; id++) {
		snprintf(client, sizeof(client), "198.51.100.%u:41000", id);
		struct msg_turn_effect m = alloc_install(id, client, T0 + 600 * SEC, 0, false);
		m.relay.port = htons((uint16_t)(52000 + id));
		effect(m, T0);
		for (int k = 0; k < 3; k++) {
			snprintf(ip, sizeof(ip), "203.0.%u.%d", id - 90, k + 1);
			perm(id, ip, T0 + 300 * SEC);
		}
		for (int k = 0; k < 2; k++) {
			snprintf(peer, sizeof(peer), "203.0.%u.%d:%d", id - 90, k + 1, 7000 + k);
			chan(id, (uint16_t)(0x4000 + k), peer, T0 + 600 * SEC);
		}
	}
	struct turn_relay_counts c;
	turn_relay_get_counts(tr, &c);
	cr_assert_eq(c.allocs, 48);
	cr_assert_eq(c.perms, 1 + 47 * 3);
	cr_assert_eq(c.channels, 1 + 47 * 2);
	nevents = 0;
}

/* Every entry of the tables has a record (duplicates allowed: `exact` says
 * whether there may be any). */
static void expect_complete(bool exact)
{
	char ip[40], peer[48];
	cr_expect(find_rec(MSG_TURN_ALLOC_INSTALL, ALLOC, NULL, 0));
	for (uint32_t id = 100; id < 147; id++) {
		cr_expect(find_rec(MSG_TURN_ALLOC_INSTALL, id, NULL, 0), "allocation %u", id);
		for (int k = 0; k < 3; k++) {
			snprintf(ip, sizeof(ip), "203.0.%u.%d:0", id - 90, k + 1);
			cr_expect(find_rec(MSG_TURN_PERM_INSTALL, id, ip, 0), "%u %s", id, ip);
		}
		for (int k = 0; k < 2; k++) {
			snprintf(peer, sizeof(peer), "203.0.%u.%d:%d", id - 90, k + 1, 7000 + k);
			cr_expect(find_rec(MSG_TURN_CHANNEL_INSTALL, id, peer, (uint16_t)(0x4000 + k)),
				  "%u %s", id, peer);
		}
	}
	if (exact)
		cr_expect_eq(nrecs, 48 + 1 + 47 * 3 + 1 + 47 * 2);
}

Test(turn_relay, dump_is_bounded_per_turn, .init = setup_big, .fini = teardown)
{
	fill_big();
	unsigned turns = run_dump(7);
	cr_expect_geq(turns, 288 / 64, "spread over several loop turns");
	cr_expect_eq(dones[0].allocs, 48);
	cr_expect_eq(dones[0].perms, 142);
	cr_expect_eq(dones[0].channels, 95);
	expect_complete(true);
	cr_expect_eq(counted(STAT_TURN_DUMP_WAITS), 0);
}

Test(turn_relay, dump_resumes_when_the_ring_is_full, .init = setup_big, .fini = teardown)
{
	fill_big();
	turn_relay_dump(tr, &(struct msg_turn_dump){ .seq = 9 });
	/* The ring takes 0..4 records per turn, so the dump stops everywhere:
	 * on an allocation, inside its permissions, inside its channels, at
	 * its end. */
	for (unsigned turn = 0; !ndones; turn++) {
		cr_assert_lt(turn, 100000);
		room = (int)(turn % 5);
		unsigned before = nrecs;
		unsigned n = turn_relay_dump_continue(tr);
		cr_expect_eq(n, nrecs - before + (ndones ? 1u : 0u));
	}
	expect_complete(true);
	cr_expect_eq(dones[0].seq, 9);
	cr_expect_eq(dones[0].perms + dones[0].channels + dones[0].allocs, nrecs);
	cr_expect_gt(counted(STAT_TURN_DUMP_WAITS), 0);
	cr_expect_eq(counted(STAT_TURN_DUMP_RECORDS), nrecs);
	cr_expect_eq(dropped(DROP_RING_FULL), 0, "waiting is not dropping");
}

Test(turn_relay, dump_survives_changes_while_waiting, .init = setup_big, .fini = teardown)
{
	fill_big();
	turn_relay_dump(tr, &(struct msg_turn_dump){ .seq = 11 });
	/* Stop inside allocation 100's permissions: its record and one permission. */
	unsigned guard = 0;
	while (!find_rec(MSG_TURN_ALLOC_INSTALL, 100, NULL, 0)) {
		room = 1;
		turn_relay_dump_continue(tr);
		cr_assert_lt(++guard, 1000);
	}
	room = 1;
	turn_relay_dump_continue(tr);
	room = 0;
	cr_expect_eq(turn_relay_dump_continue(tr), 0, "the ring is full: it waits");
	/* Meanwhile: the permission it would send next goes (lists run newest
	 * first, so that is the newest not yet reported), one is added, an
	 * allocation not yet reported goes, a new one arrives. */
	const struct msg_turn_effect *last_perm = &recs[nrecs - 1];
	cr_assert_eq(last_perm->type, MSG_TURN_PERM_INSTALL);
	cr_assert_eq(last_perm->alloc_id, 100);
	char next[48];
	int k = 3;
	for (; k >= 1; k--) {
		snprintf(next, sizeof(next), "203.0.10.%d:0", k);
		if (!find_rec(MSG_TURN_PERM_INSTALL, 100, next, 0))
			break;
	}
	cr_assert_geq(k, 1);
	struct msg_turn_effect rm = { .type = MSG_TURN_PERM_REMOVE, .alloc_id = 100, .peer = A(next) };
	effect(rm, T0);
	perm(100, "203.0.10.9", T0 + 300 * SEC);
	effect((struct msg_turn_effect){ .type = MSG_TURN_ALLOC_REMOVE, .alloc_id = 146 }, T0);
	effect(alloc_install(200, "198.51.100.250:1", T0 + 600 * SEC, 0, false), T0);
	room = -1;
	while (!ndones)
		turn_relay_dump_continue(tr);
	/* Everything that lived through the dump was reported (the list was
	 * sent again from its head: the new permission too); the removed
	 * allocation only if it was reached before it went (it was not). */
	for (int j = 1; j <= 3; j++) {
		char ip[48];
		snprintf(ip, sizeof(ip), "203.0.10.%d:0", j);
		cr_expect(j == k || find_rec(MSG_TURN_PERM_INSTALL, 100, ip, 0), "%s", ip);
	}
	cr_expect(find_rec(MSG_TURN_PERM_INSTALL, 100, "203.0.10.9:0", 0));
	cr_expect(!find_rec(MSG_TURN_ALLOC_INSTALL, 146, NULL, 0));
	for (uint32_t id = 101; id < 146; id++)
		cr_expect(find_rec(MSG_TURN_ALLOC_INSTALL, id, NULL, 0), "allocation %u", id);
	cr_expect(find_rec(MSG_TURN_CHANNEL_INSTALL, 100, "203.0.10.1:7000", 0x4000));
	cr_expect(find_rec(MSG_TURN_CHANNEL_INSTALL, 100, "203.0.10.2:7001", 0x4001));
}

Test(turn_relay, dump_starts_over_on_a_new_request, .init = setup_big, .fini = teardown)
{
	fill_big();
	turn_relay_dump(tr, &(struct msg_turn_dump){ .seq = 1 });
	turn_relay_dump_continue(tr);
	cr_assert_gt(nrecs, 0);
	cr_assert_eq(ndones, 0);
	nrecs = 0;
	run_dump(2);
	cr_assert_eq(ndones, 1);
	cr_expect_eq(dones[0].seq, 2);
	for (unsigned i = 0; i < nrecs; i++)
		cr_expect_eq(recs[i].seq, 2);
	expect_complete(true);
	cr_expect_eq(dones[0].allocs, 48, "counts are the new dump's alone");
}

/* ------------------------------------------------------------ TLS clients */

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

static tls_server *tls_srv;
static SSL_CTX *cli_ctx;
static SSL *cli;
static BIO *cli_in, *cli_out; /* what the client reads / what it wrote */

/* A throwaway self-signed P-256 certificate in the test's temp files. */
static void make_cert(char *certf, char *keyf)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	cr_assert(k && x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"turn.test", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	cr_assert(X509_sign(x, k, EVP_sha256()) > 0);
	int cfd = mkstemp(certf), kfd = mkstemp(keyf);
	cr_assert(cfd >= 0 && kfd >= 0);
	FILE *cf = fdopen(cfd, "w"), *kf = fdopen(kfd, "w");
	cr_assert(PEM_write_X509(cf, x) && PEM_write_PrivateKey(kf, k, NULL, NULL, 0, NULL, NULL));
	fclose(cf);
	fclose(kf);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void setup_tls(void)
{
	char certf[] = "/tmp/sp-turn-crt-XXXXXX", keyf[] = "/tmp/sp-turn-key-XXXXXX", why[256];
	make_cert(certf, keyf);
	tls_srv = tls_server_create(certf, keyf, "1.2", why, sizeof(why));
	unlink(certf);
	unlink(keyf);
	cr_assert_not_null(tls_srv, "%s", why);
	memset(&be, 0, sizeof(be));
	memset(&st, 0, sizeof(st));
	nevents = nups = 0;
	struct turn_relay_cfg cfg = { .worker = 3, .max_allocs = 4, .max_perms = 8,
				      .max_channels = 8, .max_ports = FB_PORTS, .max_conns = 4,
				      .conn_idle_ns = 30 * SEC, .tls_handshake_ns = 10 * SEC,
				      .tls = tls_srv };
	struct turn_relay_hooks hooks = { .event = on_event, .exc_up = on_exc_up };
	tr = turn_relay_create(&cfg, &fb_ops, &be, &st, &hooks);
	cr_assert_not_null(tr);
	struct sp_addr la = A("192.0.2.1:5349"), peer = A(TCP_CLIENT);
	lport = fb_listener(&be, &la);
	cr_assert_eq(turn_relay_add_listener(tr, lport), 0);
	cr_assert_eq(fb_ops.listen_adopt(&be, -1, &tport), 0);
	be.bound[tport] = la;
	cr_assert_eq(turn_relay_add_stream_listener(tr, tport, true), 0);
	struct dp_pkt o = fb_accept(&be, tport, &la, &peer);
	conn = o.port;
	turn_relay_input(tr, &o, 1, T0);
	/* The client: OpenSSL on memory BIOs, certificate not checked here
	 * (the integration test verifies one). */
	cli_ctx = SSL_CTX_new(TLS_client_method());
	cli = SSL_new(cli_ctx);
	cli_in = BIO_new(BIO_s_mem());
	cli_out = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(cli_in, -1);
	SSL_set_bio(cli, cli_in, cli_out);
	SSL_set_connect_state(cli);
}

static void teardown_tls(void)
{
	SSL_free(cli);
	SSL_CTX_free(cli_ctx);
	teardown_tcp();
	tls_server_destroy(tls_srv);
}

/* Move bytes both ways until neither side has anything to say; what spdp
 * sent on the connection since `from` goes into the client. */
static void pump(uint64_t now)
{
	for (int round = 0; round < 16; round++) {
		bool moved = false;
		uint8_t buf[1800];
		int n;
		while ((n = BIO_read(cli_out, buf, sizeof(buf))) > 0) {
			be.nsends = 0;
			if (be.open[conn])
				stream_in(0, buf, (uint32_t)n, now);
			for (unsigned i = 0; i < be.nsends; i++)
				if (be.sends[i].stream && be.sends[i].port == conn)
					BIO_write(cli_in, be.sends[i].bytes, (int)be.sends[i].wire_len);
			moved = true;
		}
		if (!SSL_is_init_finished(cli) && SSL_do_handshake(cli) <= 0 &&
		    SSL_get_error(cli, -1) != SSL_ERROR_WANT_READ)
			cr_assert_fail("client handshake failed");
		if (!moved && BIO_ctrl_pending(cli_out) == 0)
			return;
	}
}

/* The handshake, then a Binding answered inside TLS; the connection moves
 * from the handshake deadline to the idle one once the handshake is done. */
Test(turn_relay, tls_binding_and_deadlines, .init = setup_tls, .fini = teardown_tls)
{
	SSL_do_handshake(cli);
	pump(T0 + SEC);
	cr_assert(SSL_is_init_finished(cli), "handshake done");
	uint8_t req[128], resp[256];
	size_t n = binding(req, sizeof(req), true, false, 0);
	cr_assert_eq(SSL_write(cli, req, (int)n), (int)n);
	pump(T0 + 2 * SEC);
	int r = SSL_read(cli, resp, sizeof(resp));
	cr_assert_gt(r, 20, "a Binding answer came back through TLS");
	cr_expect_eq(resp[0] << 8 | resp[1], 0x0101);
	cr_expect_arr_eq(resp + 8, req + 8, 12, "same transaction");
	cr_expect_eq(counted(STAT_TURN_BINDING), 1);
	/* past the handshake deadline (10 s), inside the idle one (30 s) */
	turn_relay_timers(tr, T0 + 15 * SEC);
	cr_expect(be.open[conn], "an established client waits for the idle deadline");
	turn_relay_timers(tr, T0 + 40 * SEC);
	cr_expect(!be.open[conn]);
	cr_expect_eq(dropped(DROP_CONN_IDLE), 1);
}

Test(turn_relay, tls_garbage_and_silence_close, .init = setup_tls, .fini = teardown_tls)
{
	/* not a TLS record at all */
	stream_in(0, "GET / HTTP/1.1\r\n\r\n", 18, T0 + SEC);
	cr_expect(!be.open[conn]);
	cr_expect_eq(dropped(DROP_CONN_TLS), 1);
	/* a client that never says hello: closed at the handshake deadline */
	struct sp_addr la = A("192.0.2.1:5349"), peer = A("198.51.100.22:1");
	struct dp_pkt o = fb_accept(&be, tport, &la, &peer);
	turn_relay_input(tr, &o, 1, T0);
	turn_relay_timers(tr, T0 + 9 * SEC);
	cr_expect(be.open[o.port]);
	turn_relay_timers(tr, T0 + 11 * SEC);
	cr_expect(!be.open[o.port]);
	cr_expect_eq(dropped(DROP_CONN_IDLE), 1);
}
