/*
 * fuzz_turn_server: arbitrary traffic into the TURN core from four client
 * 5-tuples over simulated time. The input is a little program of ops:
 *
 *   op byte: low 2 bits = which 5-tuple, the rest picks the op
 *   RAW     <len:1> <bytes>      a datagram exactly as given
 *   SIGNED  <method> <n> (<type> <len> <bytes>)*   a request built from
 *           fuzzed attributes, then signed with valid credentials and a
 *           fresh nonce (or a stale one), so the fuzzer reaches the
 *           allocation state machine instead of stopping at 401
 *   TIME    <k>                  advance the clock k * 7 s
 *   EXPIRE / DRAIN
 *   RESTORE <kind> <id> <sel> <port> <k> <peer> <ch>   (op >= 240) one record
 *           of a data plane's dump: an allocation, permission or channel
 *           with fuzzed id, owner, relay, expiry, peer and number
 *
 * Invariants (abort on violation): every response parses as STUN, live
 * counts never exceed the configured bounds, every effect is well formed.
 * ASan/LSan catch leaks and overreads; memory is fixed at create.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../../controlplane/turn_server.c"

#define MAX_ALLOCS 3
#define MAX_PERMS 3
#define MAX_CHANS 3

static const uint8_t fz_secret[16] = "fuzz-nonce-key!!";
static const uint16_t methods[] = { STUN_METHOD_ALLOCATE, STUN_METHOD_REFRESH,
				    STUN_METHOD_CREATE_PERMISSION, STUN_METHOD_CHANNEL_BIND,
				    STUN_METHOD_BINDING, STUN_METHOD_CONNECT };
static const uint16_t attr_types[] = {
	STUN_ATTR_REQUESTED_TRANSPORT, STUN_ATTR_LIFETIME,      STUN_ATTR_XOR_PEER_ADDRESS,
	STUN_ATTR_CHANNEL_NUMBER,      STUN_ATTR_EVEN_PORT,     STUN_ATTR_RESERVATION_TOKEN,
	STUN_ATTR_DONT_FRAGMENT,       STUN_ATTR_REQUESTED_ADDRESS_FAMILY,
	STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, STUN_ATTR_DATA,    STUN_ATTR_SOFTWARE,
	0x7777,                        0xC0DE,
};

struct cur {
	const uint8_t *p;
	size_t n;
};

static uint8_t take(struct cur *c)
{
	if (c->n == 0)
		return 0;
	c->n--;
	return *c->p++;
}

static void check_effects(struct turn_server *s)
{
	struct turn_effect e[64];
	size_t n;
	while ((n = turn_server_drain(s, e, 64)) > 0) {
		for (size_t i = 0; i < n; i++) {
			if (e[i].type < TURN_EFF_ALLOC_INSTALL || e[i].type > TURN_EFF_CHANNEL_REMOVE)
				abort();
			if (e[i].alloc_id == 0)
				abort();
			if ((e[i].type == TURN_EFF_CHANNEL_INSTALL ||
			     e[i].type == TURN_EFF_CHANNEL_REMOVE) &&
			    (e[i].channel < 0x4000 || e[i].channel > 0x4FFF))
				abort();
			if (e[i].type == TURN_EFF_PERM_INSTALL &&
			    turn_policy_check(s->policy, &e[i].peer) != TURN_PEER_ALLOWED)
				abort();
		}
	}
}

static void deliver(struct turn_server *s, const struct turn_5tuple *ft, const uint8_t *m,
		    size_t len, uint64_t now)
{
	uint8_t resp[1500];
	size_t rlen = 0;
	int rc = turn_server_handle(s, ft, m, len, now, resp, sizeof(resp), &rlen);
	if (rc == -EAGAIN) {
		check_effects(s);
		rc = turn_server_handle(s, ft, m, len, now, resp, sizeof(resp), &rlen);
	}
	if (rc != 0)
		abort();
	if (rlen) {
		struct stun_msg msg;
		if (stun_parse(resp, rlen, &msg) != STUN_OK)
			abort();
		if (msg.cls != STUN_CLASS_SUCCESS && msg.cls != STUN_CLASS_ERROR)
			abort();
	}
	struct turn_server_stats st;
	turn_server_get_stats(s, &st);
	if (st.allocs > MAX_ALLOCS || st.perms > MAX_ALLOCS * MAX_PERMS ||
	    st.channels > MAX_ALLOCS * MAX_CHANS)
		abort();
}

static void signed_req(struct turn_server *s, const struct turn_5tuple *ft, struct cur *c,
		       uint64_t now)
{
	uint8_t buf[1200], tid[12] = { 0 };
	struct stun_builder b;
	uint8_t sel = take(c), nattr = take(c) % 8;
	uint16_t method = methods[sel % (sizeof(methods) / sizeof(methods[0]))];

	tid[0] = take(c);
	tid[1] = take(c);
	stun_build_init(&b, buf, sizeof(buf), method, STUN_CLASS_REQUEST, tid);
	for (uint8_t i = 0; i < nattr; i++) {
		uint8_t t = take(c), len = take(c) % 24, val[24] = { 0 };
		for (uint8_t k = 0; k < len; k++)
			val[k] = take(c);
		uint16_t type = attr_types[t % (sizeof(attr_types) / sizeof(attr_types[0]))];
		if (type == STUN_ATTR_XOR_PEER_ADDRESS) {
			/* Mostly well-formed addresses, so the policy is reached. */
			struct stun_addr a = { 0 };
			a.family = (val[0] & 1) ? STUN_AF_IPV6 : STUN_AF_IPV4;
			a.port = (uint16_t)(val[1] << 8 | val[2]);
			memcpy(a.ip, val + 3, 16);
			if (val[0] & 2) /* IPv4-mapped spelling */
				memcpy(a.ip, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12);
			stun_build_add_addr(&b, type, &a);
		} else if (type == STUN_ATTR_CHANNEL_NUMBER) {
			stun_build_add_channel_number(&b, (uint16_t)(0x3FFE + (val[0] << 4 | val[1]) % 0x1010));
		} else if (type == STUN_ATTR_REQUESTED_TRANSPORT) {
			stun_build_add_requested_transport(&b, val[0] & 1 ? 6 : 17);
		} else {
			stun_build_add(&b, type, val, len);
		}
		if (b.err) /* the builder refused: keep the message valid */
			stun_build_init(&b, buf, sizeof(buf), method, STUN_CLASS_REQUEST, tid);
	}
	uint8_t how = take(c);
	if (how & 1) {
		const char *user = (how & 2) ? "bob" : "alice";
		char nonce[TURN_NONCE_LEN];
		uint8_t key[16];
		turn_server_make_nonce(s, &ft->client, (how & 4) ? now - 3600ull * NS : now, nonce);
		stun_key_long_term(user, strlen(user), "fuzz", 4, (how & 8) ? "bad" : "pw", 2 + !!(how & 8), key);
		stun_build_add(&b, STUN_ATTR_USERNAME, user, strlen(user));
		stun_build_add(&b, STUN_ATTR_REALM, "fuzz", 4);
		stun_build_add(&b, STUN_ATTR_NONCE, nonce, sizeof(nonce));
		if (how & 16)
			stun_build_add_integrity_sha256(&b, key, 16);
		else
			stun_build_add_integrity(&b, key, 16);
	}
	if (how & 32)
		stun_build_add_fingerprint(&b);
	int n = stun_build_finish(&b);
	if (n > 0)
		deliver(s, ft, buf, (size_t)n, now);
}

/* A record as a restarted spcp gets it from spdp's dump. */
static void restore(struct turn_server *s, const struct turn_5tuple *ft, struct cur *c,
		    uint64_t now)
{
	static const char *const owners[] = { "alice", "bob", "", "mallory" };
	static const char *const peers[] = { "198.51.100.9:7", "10.1.2.3:8", "127.0.0.1:9",
					     "[2001:db8::77]:10", "[::ffff:10.0.0.1]:11",
					     "203.0.113.1:12" };
	uint8_t kind = take(c) % 3, id = take(c) % 6, sel = take(c), port = take(c), k = take(c);
	uint8_t pe = take(c), ch = take(c);
	struct turn_effect e = { .alloc_id = id, .expiry_ns = now + (uint64_t)k * 7 * NS };

	e.type = kind == 0 ? TURN_EFF_ALLOC_INSTALL :
		 kind == 1 ? TURN_EFF_PERM_INSTALL : TURN_EFF_CHANNEL_INSTALL;
	e.ft = *ft;
	e.dont_fragment = sel & 1;
	e.owner_len = (uint16_t)strlen(owners[(sel >> 1) & 3]);
	memcpy(e.owner, owners[(sel >> 1) & 3], e.owner_len);
	sp_addr_parse(&e.relay, (sel & 8) ? "[2001:db8::1]:0" : "203.0.113.1:0");
	e.relay.port = htons((uint16_t)(49998 + port % 8));
	if (sel & 16) {
		sp_addr_parse(&e.relay6, "[2001:db8::1]:0");
		e.relay6.port = (sel & 32) ? e.relay.port : htons(50001);
	}
	sp_addr_parse(&e.peer, peers[pe % 6]);
	e.channel = (uint16_t)(0x3FFE + ch * 97 % 0x1010);
	int rc = kind == 0 ? turn_server_restore_alloc(s, &e, now) :
		 kind == 1 ? turn_server_restore_perm(s, &e, now) : turn_server_restore_channel(s, &e, now);
	if (rc > 0)
		abort();
	struct turn_server_stats st;
	turn_server_get_stats(s, &st);
	if (st.allocs > MAX_ALLOCS || st.perms > MAX_ALLOCS * MAX_PERMS ||
	    st.channels > MAX_ALLOCS * MAX_CHANS || st.effects_pending)
		abort(); /* restoring queues nothing */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct turn_server_cfg cfg;
	struct turn_5tuple ft[4];
	const char *clients[4] = { "198.51.100.1:1000", "198.51.100.1:1001", "198.51.100.2:1000",
				   "[2001:db8::9]:1000" };
	const char *allow[] = { "10.0.0.0/8" };

	turn_server_cfg_defaults(&cfg);
	cfg.realm = "fuzz";
	cfg.nonce_secret = fz_secret;
	cfg.nonce_secret_len = sizeof(fz_secret);
	cfg.software = "fz";
	sp_addr_parse(&cfg.relay_v4, "203.0.113.1:0");
	sp_addr_parse(&cfg.relay_v6, "[2001:db8::1]:0");
	cfg.port_min = 50000;
	cfg.port_max = 50003;
	cfg.max_allocs = MAX_ALLOCS;
	cfg.max_allocs_per_user = 2;
	cfg.max_perms_per_alloc = MAX_PERMS;
	cfg.max_channels_per_alloc = MAX_CHANS;
	cfg.rl_rate = 5;
	cfg.rl_burst = 5;
	cfg.rl_entries = 4;
	cfg.peer_allow = allow;
	cfg.n_peer_allow = 1;
	struct turn_server *s = turn_server_create(&cfg);
	if (!s)
		abort();
	turn_server_add_user(s, "alice", "pw");
	turn_server_add_user(s, "bob", "pw");
	for (int i = 0; i < 4; i++) {
		memset(&ft[i], 0, sizeof(ft[i]));
		sp_addr_parse(&ft[i].client, clients[i]);
		sp_addr_parse(&ft[i].server, "203.0.113.1:3478");
		ft[i].transport = i == 3 ? TURN_TP_TCP : TURN_TP_UDP;
	}

	uint64_t now = 1700000000ull * NS;
	struct cur c = { data, size };
	while (c.n > 0) {
		uint8_t op = take(&c);
		const struct turn_5tuple *t = &ft[op & 3];
		if (op >= 240) {
			check_effects(s);
			restore(s, t, &c, now);
			continue;
		}
		switch ((op >> 2) % 5) {
		case 0: {
			size_t len = take(&c);
			if (len > c.n)
				len = c.n;
			deliver(s, t, c.p, len, now);
			c.p += len;
			c.n -= len;
			break;
		}
		case 1:
			signed_req(s, t, &c, now);
			break;
		case 2:
			now += (uint64_t)take(&c) * 7 * NS;
			break;
		case 3:
			turn_server_expire(s, now);
			break;
		default:
			check_effects(s);
			break;
		}
	}
	/* Everything expires eventually. */
	now += 100000ull * NS;
	while (turn_server_expire(s, now) > 0)
		check_effects(s);
	check_effects(s);
	struct turn_server_stats st;
	turn_server_get_stats(s, &st);
	if (st.allocs || st.perms || st.channels)
		abort();
	turn_server_destroy(s);
	return 0;
}
