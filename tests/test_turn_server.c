/*
 * test_turn_server: the I/O-free TURN core driven like a client would,
 * with simulated time: the 401 -> authenticated Allocate flow, stale and
 * foreign nonces, REST credentials and secret rotation, permissions to
 * denied peers, ChannelBind numbering and rebind rules (cooldown included),
 * Refresh, quotas, expiry, 437/441/442/420/440/443/486/508 and the effects
 * queued for the data plane. controlplane/ is not in sp_common, so the
 * module is compiled into this test directly.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

/* White-box: the tests use turn_server.c's static helpers. */
#include "../controlplane/turn_server.c"

#define T0 (1700000000ull * NS) /* Unix time of the tests (wall_offset 0) */
#define SEC NS

static const uint8_t secret[32] = "0123456789abcdef0123456789abcdef";

struct client {
	struct turn_5tuple ft;
	const char *user, *pass;
	char nonce[64];
	size_t nlen;
	uint8_t tid_seed;
};

/* Last response, parsed. */
static uint8_t rbuf[1500];
static size_t rlen;
static struct stun_msg resp;

static struct sp_addr A(const char *s)
{
	struct sp_addr a;
	cr_assert_eq(sp_addr_parse(&a, s), 0, "%s", s);
	return a;
}

static void base_cfg(struct turn_server_cfg *c)
{
	turn_server_cfg_defaults(c);
	c->realm = "example.org";
	c->nonce_secret = secret;
	c->nonce_secret_len = sizeof(secret);
	c->software = "streampoint-test";
	c->relay_v4 = A("203.0.113.1:0");
	c->relay_v6 = A("[2001:db8::1]:0");
	c->port_min = 50000;
	c->port_max = 50009;
	c->max_allocs = 4;
	c->max_allocs_per_user = 2;
	c->max_perms_per_alloc = 4;
	c->max_channels_per_alloc = 4;
	c->bandwidth_bps = 8000000;
}

static struct turn_server *mk(const struct turn_server_cfg *c)
{
	struct turn_server *s = turn_server_create(c);
	cr_assert_not_null(s);
	cr_assert_eq(turn_server_add_user(s, "alice", "alicepw"), 0);
	cr_assert_eq(turn_server_add_user(s, "bob", "bobpw"), 0);
	cr_assert_eq(turn_server_add_user(s, "carol", "carolpw"), 0);
	return s;
}

static struct turn_server *mk_default(void)
{
	struct turn_server_cfg c;
	base_cfg(&c);
	return mk(&c);
}

static struct client cl(const char *from, const char *user, const char *pass)
{
	struct client c = { 0 };
	c.ft.client = A(from);
	c.ft.server = A("203.0.113.1:3478");
	c.ft.transport = TURN_TP_UDP;
	c.user = user;
	c.pass = pass;
	return c;
}

static void req_init(struct stun_builder *b, uint8_t *buf, size_t cap, uint16_t method,
		     struct client *c)
{
	uint8_t tid[12];
	memset(tid, 0, sizeof(tid));
	tid[0] = ++c->tid_seed;
	tid[1] = (uint8_t)method;
	tid[2] = (uint8_t)c->ft.client.port;
	cr_assert_eq(stun_build_init(b, buf, cap, method, STUN_CLASS_REQUEST, tid), 0);
}

static void client_key(const struct client *c, uint8_t key[16])
{
	cr_assert_eq(stun_key_long_term(c->user, strlen(c->user), "example.org", 11, c->pass,
					strlen(c->pass), key), 0);
}

/* Add USERNAME/REALM/NONCE, MESSAGE-INTEGRITY and FINGERPRINT. */
static size_t req_sign(struct stun_builder *b, const struct client *c)
{
	uint8_t key[16];
	client_key(c, key);
	stun_build_add(b, STUN_ATTR_USERNAME, c->user, strlen(c->user));
	stun_build_add(b, STUN_ATTR_REALM, "example.org", 11);
	stun_build_add(b, STUN_ATTR_NONCE, c->nonce, c->nlen);
	stun_build_add_integrity(b, key, 16);
	stun_build_add_fingerprint(b);
	int n = stun_build_finish(b);
	cr_assert_gt(n, 0);
	return (size_t)n;
}

/* Send; returns 0 for a success response, the error code, or -1 when there
 * was no answer. Remembers the nonce of a 401/438. */
static int xchg(struct turn_server *s, struct client *c, const uint8_t *msg, size_t len,
		uint64_t now)
{
	cr_assert_eq(turn_server_handle(s, &c->ft, msg, len, now, rbuf, sizeof(rbuf), &rlen), 0);
	if (rlen == 0)
		return -1;
	cr_assert_eq(stun_parse(rbuf, rlen, &resp), STUN_OK);
	cr_assert(memcmp(stun_msg_tid(&resp), msg + 8, 12) == 0);
	if (resp.cls == STUN_CLASS_SUCCESS)
		return 0;
	cr_assert_eq(resp.cls, STUN_CLASS_ERROR);
	uint16_t code;
	cr_assert_eq(stun_get_error_code(&resp, &code, NULL, NULL), 0);
	if (code == 401 || code == 438) {
		const char *n, *realm;
		size_t nl, rl;
		cr_assert_eq(stun_get_text(&resp, STUN_ATTR_NONCE, &n, &nl), 0);
		cr_assert_eq(stun_get_text(&resp, STUN_ATTR_REALM, &realm, &rl), 0);
		cr_assert_eq(rl, 11);
		cr_assert(memcmp(realm, "example.org", 11) == 0);
		cr_assert_lt(nl, sizeof(c->nonce));
		memcpy(c->nonce, n, nl);
		c->nlen = nl;
		cr_assert_lt(resp.integrity, 0, "401/438 carry no integrity");
	}
	return code;
}

/* An authenticated response must verify with the client's key. */
static void expect_signed(const struct client *c)
{
	uint8_t key[16];
	client_key(c, key);
	cr_assert_eq(stun_check_integrity(&resp, key, 16), 0);
	cr_assert(stun_check_fingerprint(&resp));
}

/* Get a nonce the way a client does: an unauthenticated request. */
static void get_nonce(struct turn_server *s, struct client *c, uint64_t now)
{
	uint8_t buf[512];
	struct stun_builder b;
	req_init(&b, buf, sizeof(buf), STUN_METHOD_ALLOCATE, c);
	stun_build_add_requested_transport(&b, STUN_TRANSPORT_UDP);
	int n = stun_build_finish(&b);
	cr_assert_eq(xchg(s, c, buf, (size_t)n, now), 401);
}

static int allocate(struct turn_server *s, struct client *c, uint64_t now)
{
	uint8_t buf[512];
	struct stun_builder b;
	req_init(&b, buf, sizeof(buf), STUN_METHOD_ALLOCATE, c);
	stun_build_add_requested_transport(&b, STUN_TRANSPORT_UDP);
	return xchg(s, c, buf, req_sign(&b, c), now);
}

static int refresh(struct turn_server *s, struct client *c, int64_t lifetime, uint64_t now)
{
	uint8_t buf[512];
	struct stun_builder b;
	req_init(&b, buf, sizeof(buf), STUN_METHOD_REFRESH, c);
	if (lifetime >= 0)
		stun_build_add_u32(&b, STUN_ATTR_LIFETIME, (uint32_t)lifetime);
	return xchg(s, c, buf, req_sign(&b, c), now);
}

static int permit(struct turn_server *s, struct client *c, const char *const *peers, size_t n,
		  uint64_t now)
{
	uint8_t buf[1024];
	struct stun_builder b;
	req_init(&b, buf, sizeof(buf), STUN_METHOD_CREATE_PERMISSION, c);
	for (size_t i = 0; i < n; i++) {
		struct stun_addr sa = { 0 };
		uint8_t raw[16];
		if (inet_pton(AF_INET, peers[i], raw) == 1) {
			sa.family = STUN_AF_IPV4;
			memcpy(sa.ip, raw, 4);
		} else {
			cr_assert_eq(inet_pton(AF_INET6, peers[i], raw), 1, "%s", peers[i]);
			sa.family = STUN_AF_IPV6;
			memcpy(sa.ip, raw, 16);
		}
		sa.port = 9;
		stun_build_add_addr(&b, STUN_ATTR_XOR_PEER_ADDRESS, &sa);
	}
	return xchg(s, c, buf, req_sign(&b, c), now);
}

static int chbind(struct turn_server *s, struct client *c, uint16_t ch, const char *peer,
		  uint64_t now)
{
	uint8_t buf[512];
	struct stun_builder b;
	struct sp_addr pa = A(peer);
	struct stun_addr sa;
	req_init(&b, buf, sizeof(buf), STUN_METHOD_CHANNEL_BIND, c);
	stun_build_add_channel_number(&b, ch);
	to_stun(&pa, &sa);
	stun_build_add_addr(&b, STUN_ATTR_XOR_PEER_ADDRESS, &sa);
	return xchg(s, c, buf, req_sign(&b, c), now);
}

static size_t drain(struct turn_server *s, struct turn_effect *e, size_t cap)
{
	return turn_server_drain(s, e, cap);
}

static void open_alloc(struct turn_server *s, struct client *c, uint64_t now)
{
	get_nonce(s, c, now);
	cr_assert_eq(allocate(s, c, now), 0);
	struct turn_effect e[8];
	drain(s, e, 8);
}

/* ------------------------------------------------------------------ */

Test(turn_server, allocate_flow)
{
	struct turn_server *s = mk_default();
	struct client c = cl("198.51.100.10:40000", "alice", "alicepw");
	struct turn_effect e[8];
	struct stun_addr relay, mapped;
	uint32_t life;

	/* No credentials: 401 with REALM and NONCE, and nothing installed. */
	get_nonce(s, &c, T0);
	cr_expect_eq(c.nlen, TURN_NONCE_LEN);
	cr_expect_eq(drain(s, e, 8), 0);

	cr_assert_eq(allocate(s, &c, T0 + 1 * SEC), 0);
	expect_signed(&c);
	cr_assert_eq(stun_get_addr(&resp, STUN_ATTR_XOR_RELAYED_ADDRESS, &relay), 0);
	cr_expect_eq(relay.family, STUN_AF_IPV4);
	cr_expect_arr_eq(relay.ip, ((uint8_t[4]){ 203, 0, 113, 1 }), 4);
	cr_expect(relay.port >= 50000 && relay.port <= 50009);
	cr_assert_eq(stun_get_addr(&resp, STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped), 0);
	cr_expect_arr_eq(mapped.ip, ((uint8_t[4]){ 198, 51, 100, 10 }), 4);
	cr_expect_eq(mapped.port, 40000);
	cr_assert_eq(stun_get_lifetime(&resp, &life), 0);
	cr_expect_eq(life, 600);
	const char *sw;
	size_t swl;
	cr_expect_eq(stun_get_text(&resp, STUN_ATTR_SOFTWARE, &sw, &swl), 0);

	cr_assert_eq(drain(s, e, 8), 1);
	cr_expect_eq(e[0].type, TURN_EFF_ALLOC_INSTALL);
	cr_expect_neq(e[0].alloc_id, 0);
	cr_expect_eq(e[0].expiry_ns, T0 + 601 * SEC);
	cr_expect_eq(e[0].bandwidth_bps, 8000000);
	cr_expect_eq(e[0].relay.family, AF_INET);
	cr_expect_eq(ntohs(e[0].relay.port), relay.port);
	cr_expect_eq(e[0].relay6.family, 0);
	cr_expect(ft_eq(&e[0].ft, &c.ft));

	struct turn_server_stats st;
	turn_server_get_stats(s, &st);
	cr_expect_eq(st.allocs, 1);
	cr_expect_eq(st.count[TURN_STAT_ERR_401], 1);
	cr_expect_eq(st.count[TURN_STAT_ALLOCATE_OK], 1);
	turn_server_destroy(s);
}

Test(turn_server, wrong_password_unknown_user_wrong_realm)
{
	struct turn_server *s = mk_default();
	struct client c = cl("198.51.100.10:40000", "alice", "nope");
	get_nonce(s, &c, T0);
	cr_expect_eq(allocate(s, &c, T0), 401);
	c.user = "mallory";
	cr_expect_eq(allocate(s, &c, T0), 401);

	/* Integrity right for another realm: refused before the key is looked at. */
	uint8_t buf[512], key[16];
	struct stun_builder b;
	c.user = "alice";
	c.pass = "alicepw";
	req_init(&b, buf, sizeof(buf), STUN_METHOD_ALLOCATE, &c);
	stun_build_add_requested_transport(&b, 17);
	stun_key_long_term("alice", 5, "evil.org", 8, "alicepw", 7, key);
	stun_build_add(&b, STUN_ATTR_USERNAME, "alice", 5);
	stun_build_add(&b, STUN_ATTR_REALM, "evil.org", 8);
	stun_build_add(&b, STUN_ATTR_NONCE, c.nonce, c.nlen);
	stun_build_add_integrity(&b, key, 16);
	cr_expect_eq(xchg(s, &c, buf, (size_t)stun_build_finish(&b), T0), 401);

	/* MESSAGE-INTEGRITY without USERNAME/REALM/NONCE: 400. */
	req_init(&b, buf, sizeof(buf), STUN_METHOD_ALLOCATE, &c);
	stun_build_add_requested_transport(&b, 17);
	stun_build_add_integrity(&b, key, 16);
	cr_expect_eq(xchg(s, &c, buf, (size_t)stun_build_finish(&b), T0), 400);

	struct turn_effect e[4];
	cr_expect_eq(drain(s, e, 4), 0);
	turn_server_destroy(s);
}

Test(turn_server, stale_and_foreign_nonce)
{
	struct turn_server *s = mk_default();
	struct client c = cl("198.51.100.10:40000", "alice", "alicepw");
	get_nonce(s, &c, T0);
	char old[64];
	memcpy(old, c.nonce, c.nlen);

	/* 601 s later the nonce is stale: 438 with a fresh one, which works. */
	cr_expect_eq(allocate(s, &c, T0 + 601 * SEC), 438);
	cr_expect(memcmp(old, c.nonce, TURN_NONCE_LEN) != 0);
	cr_expect_eq(allocate(s, &c, T0 + 601 * SEC), 0);

	/* A nonce issued to another address is not valid here. */
	struct client d = cl("198.51.100.11:40000", "bob", "bobpw");
	get_nonce(s, &d, T0);
	struct client e = cl("198.51.100.12:40000", "bob", "bobpw");
	memcpy(e.nonce, d.nonce, d.nlen);
	e.nlen = d.nlen;
	cr_expect_eq(allocate(s, &e, T0), 438);
	/* Garbage and a future timestamp too. */
	memcpy(e.nonce, "zz", 2);
	cr_expect_eq(allocate(s, &e, T0), 438);
	turn_server_make_nonce(s, &e.ft.client, T0 + 3600 * SEC, e.nonce);
	e.nlen = TURN_NONCE_LEN;
	cr_expect_eq(allocate(s, &e, T0), 438);
	/* A little clock skew between spcp instances is tolerated (60 s). */
	turn_server_make_nonce(s, &e.ft.client, T0 + 30 * SEC, e.nonce);
	cr_expect_eq(allocate(s, &e, T0), 0);
	/* Exactly nonce_lifetime_s old is still fresh; one second more is not. */
	struct client f = cl("198.51.100.13:40000", "carol", "carolpw");
	turn_server_make_nonce(s, &f.ft.client, T0, f.nonce);
	f.nlen = TURN_NONCE_LEN;
	cr_expect_eq(refresh(s, &f, 0, T0 + 601 * SEC), 438);
	turn_server_make_nonce(s, &f.ft.client, T0, f.nonce);
	cr_expect_eq(refresh(s, &f, 0, T0 + 600 * SEC), 437);
	turn_server_destroy(s);
}

static void rest_password(const char *secret_, const char *user, char *out)
{
	uint8_t mac[20];
	unsigned ml = 0;
	HMAC(EVP_sha1(), secret_, (int)strlen(secret_), (const uint8_t *)user, strlen(user), mac,
	     &ml);
	EVP_EncodeBlock((uint8_t *)out, mac, (int)ml);
}

Test(turn_server, rest_credentials)
{
	struct turn_server *s = mk_default();
	char user[64], pw[64];
	cr_assert_eq(turn_server_add_rest_secret(s, "s3cret-one"), 0);

	snprintf(user, sizeof(user), "%llu:viewer42", 1700000000ull + 3600);
	rest_password("s3cret-one", user, pw);
	struct client c = cl("198.51.100.20:40000", user, pw);
	get_nonce(s, &c, T0);
	cr_expect_eq(allocate(s, &c, T0), 0);
	expect_signed(&c);

	/* Wrong secret. */
	char pw2[64];
	rest_password("other", user, pw2);
	struct client d = cl("198.51.100.21:40000", user, pw2);
	get_nonce(s, &d, T0);
	cr_expect_eq(allocate(s, &d, T0), 401);

	/* Expired username (expiry in the past), right password. */
	char old[64], oldpw[64];
	snprintf(old, sizeof(old), "%llu:viewer42", 1700000000ull - 1);
	rest_password("s3cret-one", old, oldpw);
	struct client x = cl("198.51.100.22:40000", old, oldpw);
	get_nonce(s, &x, T0);
	cr_expect_eq(allocate(s, &x, T0), 401);

	/* Rotation: both secrets accepted, then only the new one. */
	cr_assert_eq(turn_server_add_rest_secret(s, "s3cret-two"), 0);
	char u2[64], p2[64];
	snprintf(u2, sizeof(u2), "%llu:viewer43", 1700000000ull + 3600);
	rest_password("s3cret-two", u2, p2);
	struct client n = cl("198.51.100.23:40000", u2, p2);
	get_nonce(s, &n, T0);
	cr_expect_eq(allocate(s, &n, T0), 0);
	cr_assert_eq(turn_server_remove_rest_secret(s, "s3cret-one"), 0);
	cr_expect_eq(turn_server_remove_rest_secret(s, "s3cret-one"), -ENOENT);
	struct client o = cl("198.51.100.24:40000", user, pw); /* signed with the old secret */
	get_nonce(s, &o, T0);
	cr_expect_eq(allocate(s, &o, T0), 401);
	struct client n2 = cl("198.51.100.25:40000", u2, p2);
	get_nonce(s, &n2, T0);
	cr_expect_eq(allocate(s, &n2, T0), 0);

	/* Quota is per user part: viewer43 has 2 allocations now (limit 2). */
	char u3[64], p3[64];
	snprintf(u3, sizeof(u3), "%llu:viewer43", 1700000000ull + 7200);
	rest_password("s3cret-two", u3, p3);
	struct client q = cl("198.51.100.26:40000", u3, p3);
	get_nonce(s, &q, T0);
	cr_expect_eq(allocate(s, &q, T0), 486);

	for (int i = 0; i < TURN_MAX_REST_SECRETS - 1; i++)
		cr_assert_eq(turn_server_add_rest_secret(s, "more"), 0);
	cr_expect_eq(turn_server_add_rest_secret(s, "full"), -ENOSPC);
	cr_expect_eq(turn_server_add_rest_secret(s, ""), -EINVAL);
	turn_server_destroy(s);
}

Test(turn_server, create_permission_policy)
{
	struct turn_server *s = mk_default();
	struct client c = cl("198.51.100.10:40000", "alice", "alicepw");
	struct turn_effect e[80];
	open_alloc(s, &c, T0);

	static const char *const denied[] = { "127.0.0.1", "::ffff:127.0.0.1", "::127.0.0.1",
					      "10.0.0.1", "169.254.169.254", "100.64.0.1",
					      "224.0.0.1", "255.255.255.255", "0.0.0.0",
					      "203.0.113.1", "192.168.1.1", "172.16.0.1" };
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
		cr_expect_eq(permit(s, &c, &denied[i], 1, T0), 403, "%s", denied[i]);
		expect_signed(&c);
	}
	/* All or nothing: one denied peer among good ones installs none. */
	const char *mix[] = { "8.8.8.8", "127.0.0.1" };
	cr_expect_eq(permit(s, &c, mix, 2, T0), 403);
	cr_expect_eq(drain(s, e, 80), 0);

	/* IPv6 peer on an IPv4 allocation: 443. */
	const char *v6[] = { "2a00:1450::1" };
	cr_expect_eq(permit(s, &c, v6, 1, T0), 443);
	/* No XOR-PEER-ADDRESS: 400. */
	cr_expect_eq(permit(s, &c, NULL, 0, T0), 400);

	const char *ok[] = { "8.8.8.8", "1.1.1.1", "8.8.8.8" };
	cr_expect_eq(permit(s, &c, ok, 3, T0 + 10 * SEC), 0);
	expect_signed(&c);
	size_t n = drain(s, e, 80);
	cr_assert_eq(n, 3);
	for (size_t i = 0; i < n; i++) {
		cr_expect_eq(e[i].type, TURN_EFF_PERM_INSTALL);
		cr_expect_eq(e[i].expiry_ns, T0 + 310 * SEC);
		cr_expect_eq(e[i].peer.port, 0);
	}
	cr_expect_arr_eq(e[1].peer.ip, ((uint8_t[4]){ 1, 1, 1, 1 }), 4);

	/* IPv4-mapped public peer normalises to IPv4 (and is allowed). */
	const char *mapped[] = { "::ffff:9.9.9.9" };
	cr_expect_eq(permit(s, &c, mapped, 1, T0 + 10 * SEC), 0);
	cr_assert_eq(drain(s, e, 80), 1);
	cr_expect_eq(e[0].peer.family, AF_INET);

	/* Quota: 3 used of 4; two new peers do not fit -> 508, nothing changes. */
	const char *two[] = { "4.4.4.4", "5.5.5.5" };
	cr_expect_eq(permit(s, &c, two, 2, T0 + 10 * SEC), 508);
	cr_expect_eq(drain(s, e, 80), 0);
	/* Refreshing existing ones always fits. */
	cr_expect_eq(permit(s, &c, ok, 2, T0 + 20 * SEC), 0);

	/* Expiry 300 s after the last refresh. */
	cr_expect_eq(drain(s, e, 80), 2);
	turn_server_expire(s, T0 + 311 * SEC);
	n = drain(s, e, 80);
	cr_expect_eq(n, 1); /* 9.9.9.9 */
	cr_expect_eq(e[0].type, TURN_EFF_PERM_REMOVE);
	turn_server_expire(s, T0 + 321 * SEC);
	cr_expect_eq(drain(s, e, 80), 2);

	struct turn_server_stats st;
	turn_server_get_stats(s, &st);
	cr_expect_eq(st.perms, 0);
	cr_expect_eq(st.peer_denied[TURN_PEER_DENY_LOOPBACK], 4);
	cr_expect_eq(st.peer_denied[TURN_PEER_DENY_RELAY_SELF], 1);
	turn_server_destroy(s);
}

Test(turn_server, peer_allow_list)
{
	struct turn_server_cfg cfg;
	const char *allow[] = { "10.0.0.0/8" };
	base_cfg(&cfg);
	cfg.peer_allow = allow;
	cfg.n_peer_allow = 1;
	struct turn_server *s = mk(&cfg);
	struct client c = cl("198.51.100.10:40000", "alice", "alicepw");
	open_alloc(s, &c, T0);
	const char *p[] = { "10.1.2.3" }, *q[] = { "192.168.0.1" };
	cr_expect_eq(permit(s, &c, p, 1, T0), 0);
	cr_expect_eq(permit(s, &c, q, 1, T0), 403);
	turn_server_destroy(s);

	const char *bad[] = { "10.0.0.0/99" };
	cfg.peer_allow = bad;
	cr_expect_null(turn_server_create(&cfg));
}

Test(turn_server, channel_bind)
{
	struct turn_server *s = mk_default();
	struct client c = cl("198.51.100.10:40000", "alice", "alicepw");
	struct turn_effect e[80];
	open_alloc(s, &c, T0);
	cr_assert_eq(refresh(s, &c, 3600, T0), 0);
	drain(s, e, 80);

	cr_expect_eq(chbind(s, &c, 0x4000, "8.8.8.8:5000", T0), 0);
	expect_signed(&c);
	cr_assert_eq(drain(s, e, 80), 2);
	cr_expect_eq(e[0].type, TURN_EFF_PERM_INSTALL);
	cr_expect_eq(e[1].type, TURN_EFF_CHANNEL_INSTALL);
	cr_expect_eq(e[1].channel, 0x4000);
	cr_expect_eq(ntohs(e[1].peer.port), 5000);
	cr_expect_eq(e[1].expiry_ns, T0 + 600 * SEC);

	/* Numbers outside 0x4000-0x4FFF. */
	cr_expect_eq(chbind(s, &c, 0x3FFF, "8.8.8.8:5001", T0), 400);
	cr_expect_eq(chbind(s, &c, 0x5000, "8.8.8.8:5001", T0), 400);
	cr_expect_eq(chbind(s, &c, 0xFFFF, "8.8.8.8:5001", T0), 400);
	cr_expect_eq(chbind(s, &c, 0x4FFF, "8.8.8.8:5001", T0), 0);
	/* Same number, same peer: refresh. */
	cr_expect_eq(chbind(s, &c, 0x4000, "8.8.8.8:5000", T0 + 100 * SEC), 0);
	/* Bound number to another peer, bound peer to another number: 400. */
	cr_expect_eq(chbind(s, &c, 0x4000, "8.8.8.8:5002", T0), 400);
	cr_expect_eq(chbind(s, &c, 0x4001, "8.8.8.8:5000", T0), 400);
	/* Denied peer: 403; IPv6 peer on IPv4 allocation: 443. */
	cr_expect_eq(chbind(s, &c, 0x4002, "127.0.0.1:5000", T0), 403);
	cr_expect_eq(chbind(s, &c, 0x4002, "[2a00:1450::1]:5000", T0), 443);
	/* Channel quota (4). */
	cr_expect_eq(chbind(s, &c, 0x4002, "8.8.8.8:6002", T0), 0);
	cr_expect_eq(chbind(s, &c, 0x4003, "8.8.8.8:6003", T0), 0);
	cr_expect_eq(chbind(s, &c, 0x4004, "8.8.8.8:6004", T0), 508);
	drain(s, e, 80);

	/* 0x4FFF, 0x4002 and 0x4003 expire at T0+600, 0x4000 at T0+700. */
	turn_server_expire(s, T0 + 650 * SEC);
	size_t n = drain(s, e, 80);
	size_t removes = 0;
	for (size_t i = 0; i < n; i++)
		removes += e[i].type == TURN_EFF_CHANNEL_REMOVE;
	cr_expect_eq(removes, 3);
	/* Cooldown: 0x4FFF cannot go to another peer, the peer not to another
	 * number, but the same pair may come back. */
	get_nonce(s, &c, T0 + 660 * SEC); /* the T0 nonce is stale by now */
	cr_expect_eq(chbind(s, &c, 0x4FFF, "8.8.8.8:7000", T0 + 660 * SEC), 400);
	cr_expect_eq(chbind(s, &c, 0x4005, "8.8.8.8:5001", T0 + 660 * SEC), 400);
	cr_expect_eq(chbind(s, &c, 0x4FFF, "8.8.8.8:5001", T0 + 660 * SEC), 0);
	/* After the 5-minute cooldown 0x4002 is free for anyone. */
	get_nonce(s, &c, T0 + 901 * SEC);
	cr_expect_eq(chbind(s, &c, 0x4002, "8.8.8.8:7000", T0 + 901 * SEC), 0);
	turn_server_destroy(s);
}

/* RFC 5766's channel range (0x4000-0x7FFF), which coturn's uclient picks
 * from, only when configured; never above it. */
Test(turn_server, rfc5766_channel_range)
{
	struct turn_server_cfg cfg;
	struct turn_effect e[8];
	base_cfg(&cfg);
	cfg.channel_max = 0x7FFF;
	struct turn_server *s = mk(&cfg);
	struct client c = cl("198.51.100.10:40000", "alice", "alicepw");
	open_alloc(s, &c, T0);

	cr_expect_eq(chbind(s, &c, 0x58E6, "8.8.8.8:5000", T0), 0);
	cr_assert_eq(drain(s, e, 8), 2);
	cr_expect_eq(e[1].type, TURN_EFF_CHANNEL_INSTALL);
	cr_expect_eq(e[1].channel, 0x58E6);
	cr_expect_eq(chbind(s, &c, 0x7FFF, "8.8.8.8:5001", T0), 0);
	cr_expect_eq(chbind(s, &c, 0x8000, "8.8.8.8:5002", T0), 400);
	turn_server_destroy(s);
	cfg.channel_max = 0x8000;
	cr_expect_null(turn_server_create(&cfg));
	cfg.channel_max = 0x4FFE;
	cr_expect_null(turn_server_create(&cfg));
}

Test(turn_server, refresh_and_delete)
{
	struct turn_server *s = mk_default();
	struct client c = cl("198.51.100.10:40000", "alice", "alicepw");
	struct turn_effect e[8];
	uint32_t life;
	open_alloc(s, &c, T0);

	cr_expect_eq(refresh(s, &c, 100000, T0 + 10 * SEC), 0);
	expect_signed(&c);
	cr_assert_eq(stun_get_lifetime(&resp, &life), 0);
	cr_expect_eq(life, 3600);
	cr_assert_eq(drain(s, e, 8), 1);
	cr_expect_eq(e[0].type, TURN_EFF_ALLOC_REFRESH);
	cr_expect_eq(e[0].expiry_ns, T0 + 3610 * SEC);
	cr_expect_eq(refresh(s, &c, 30, T0 + 10 * SEC), 0); /* below default: default */
	stun_get_lifetime(&resp, &life);
	cr_expect_eq(life, 600);
	cr_expect_eq(refresh(s, &c, -1, T0 + 10 * SEC), 0);
	stun_get_lifetime(&resp, &life);
	cr_expect_eq(life, 600);
	drain(s, e, 8);

	cr_expect_eq(refresh(s, &c, 0, T0 + 20 * SEC), 0);
	stun_get_lifetime(&resp, &life);
	cr_expect_eq(life, 0);
	cr_assert_eq(drain(s, e, 8), 1);
	cr_expect_eq(e[0].type, TURN_EFF_ALLOC_REMOVE);
	/* Gone: a second Refresh 0 and a CreatePermission get 437. */
	cr_expect_eq(refresh(s, &c, 0, T0 + 21 * SEC), 437);
	const char *p[] = { "8.8.8.8" };
	cr_expect_eq(permit(s, &c, p, 1, T0 + 21 * SEC), 437);
	/* The 5-tuple can allocate again. */
	cr_expect_eq(allocate(s, &c, T0 + 22 * SEC), 0);
	turn_server_destroy(s);
}

static uint16_t relay_port(void);

/* The data plane could not install an allocation (or dropped it): spcp
 * forgets it by id, and its quota slot, relay port and channels go. */
Test(turn_server, remove_alloc_by_id)
{
	struct turn_server *s = mk_default();
	struct client a1 = cl("198.51.100.1:1001", "alice", "alicepw");
	struct client a2 = cl("198.51.100.1:1002", "alice", "alicepw");
	struct client a3 = cl("198.51.100.1:1003", "alice", "alicepw");
	struct turn_effect e[8];
	struct turn_server_stats st;

	get_nonce(s, &a1, T0);
	cr_assert_eq(allocate(s, &a1, T0), 0);
	uint16_t port = relay_port();
	cr_assert_eq(drain(s, e, 8), 1);
	uint32_t id = e[0].alloc_id;
	cr_assert_eq(chbind(s, &a1, 0x4001, "8.8.8.8:53", T0), 0);
	drain(s, e, 8);
	open_alloc(s, &a2, T0);
	get_nonce(s, &a3, T0);
	cr_expect_eq(allocate(s, &a3, T0), 486);

	cr_expect_eq(turn_server_remove_alloc(s, 0), -ENOENT);
	cr_expect_eq(turn_server_remove_alloc(s, id + 100), -ENOENT);
	cr_assert_eq(turn_server_remove_alloc(s, id), 0);
	cr_assert_eq(drain(s, e, 8), 1);
	cr_expect_eq(e[0].type, TURN_EFF_ALLOC_REMOVE);
	cr_expect_eq(e[0].alloc_id, id);
	cr_expect(ft_eq(&e[0].ft, &a1.ft));
	cr_expect_eq(ntohs(e[0].relay.port), port);
	cr_expect_eq(turn_server_remove_alloc(s, id), -ENOENT);
	turn_server_get_stats(s, &st);
	cr_expect_eq(st.allocs, 1);
	cr_expect_eq(st.perms, 0);
	cr_expect_eq(st.channels, 0);
	/* The 5-tuple is free (437 for a request on it), the quota too. */
	cr_expect_eq(refresh(s, &a1, 600, T0), 437);
	cr_expect_eq(allocate(s, &a3, T0), 0);
	drain(s, e, 8);

	/* A full effect queue refuses (the caller drains and retries). */
	s->q_count = s->q_cap;
	cr_expect_eq(turn_server_remove_alloc(s, e[0].alloc_id), -EAGAIN);
	s->q_count = 0;
	turn_server_destroy(s);
}

Test(turn_server, quotas)
{
	struct turn_server *s = mk_default();
	struct client a1 = cl("198.51.100.1:1001", "alice", "alicepw");
	struct client a2 = cl("198.51.100.1:1002", "alice", "alicepw");
	struct client a3 = cl("198.51.100.1:1003", "alice", "alicepw");
	struct client b1 = cl("198.51.100.2:1001", "bob", "bobpw");
	struct client b2 = cl("198.51.100.2:1002", "bob", "bobpw");
	struct client c1 = cl("198.51.100.3:1001", "carol", "carolpw");
	open_alloc(s, &a1, T0);
	open_alloc(s, &a2, T0);
	get_nonce(s, &a3, T0);
	cr_expect_eq(allocate(s, &a3, T0), 486);
	expect_signed(&a3);
	open_alloc(s, &b1, T0);
	open_alloc(s, &b2, T0);
	get_nonce(s, &c1, T0);
	cr_expect_eq(allocate(s, &c1, T0), 508); /* 4 in total */
	/* One leaves, carol fits. */
	cr_expect_eq(refresh(s, &b2, 0, T0), 0);
	cr_expect_eq(allocate(s, &c1, T0), 0);
	turn_server_destroy(s);
}

static uint16_t relay_port(void)
{
	struct stun_addr ra;
	cr_assert_eq(stun_get_addr(&resp, STUN_ATTR_XOR_RELAYED_ADDRESS, &ra), 0);
	return ra.port;
}

Test(turn_server, port_pool_exhaustion_and_no_reuse)
{
	struct turn_server_cfg cfg;
	base_cfg(&cfg);
	cfg.port_min = 60000;
	cfg.port_max = 60002;
	cfg.max_allocs_per_user = 4;
	struct turn_server *s = mk(&cfg);
	struct client a = cl("198.51.100.1:1", "alice", "alicepw");
	struct client b = cl("198.51.100.1:2", "alice", "alicepw");
	struct client c = cl("198.51.100.1:3", "alice", "alicepw");
	struct client d = cl("198.51.100.1:4", "alice", "alicepw");
	get_nonce(s, &a, T0);
	b.nlen = c.nlen = d.nlen = 0;
	get_nonce(s, &b, T0);
	get_nonce(s, &c, T0);
	get_nonce(s, &d, T0);
	cr_assert_eq(allocate(s, &a, T0), 0);
	uint16_t pa = relay_port();
	cr_assert_eq(allocate(s, &b, T0), 0);
	uint16_t pb = relay_port();
	cr_assert_eq(allocate(s, &c, T0), 0);
	uint16_t pc = relay_port();
	cr_expect(pa != pb && pb != pc && pa != pc);
	cr_expect_eq(allocate(s, &d, T0), 508); /* ports, not allocations, ran out */
	cr_expect_eq(refresh(s, &b, 0, T0), 0);
	cr_assert_eq(allocate(s, &d, T0), 0);
	cr_expect_eq(relay_port(), pb); /* the only free one; never a held one */
	turn_server_destroy(s);
}

Test(turn_server, retransmit_and_mismatch)
{
	struct turn_server *s = mk_default();
	struct client c = cl("198.51.100.10:40000", "alice", "alicepw");
	uint8_t buf[512];
	struct stun_builder b;
	struct turn_effect e[8];
	get_nonce(s, &c, T0);
	req_init(&b, buf, sizeof(buf), STUN_METHOD_ALLOCATE, &c);
	stun_build_add_requested_transport(&b, 17);
	size_t n = req_sign(&b, &c);
	cr_assert_eq(xchg(s, &c, buf, n, T0), 0);
	uint16_t p1 = relay_port();
	/* Same transaction again: same answer, no new allocation. */
	cr_assert_eq(xchg(s, &c, buf, n, T0 + SEC), 0);
	cr_expect_eq(relay_port(), p1);
	cr_expect_eq(drain(s, e, 8), 1);
	/* A new Allocate on the same 5-tuple: 437. */
	cr_expect_eq(allocate(s, &c, T0 + SEC), 437);
	expect_signed(&c);
	turn_server_destroy(s);
}

Test(turn_server, unknown_attribute_420)
{
	struct turn_server *s = mk_default();
	struct client c = cl("198.51.100.10:40000", "alice", "alicepw");
	uint8_t buf[512], v[4] = { 1, 2, 3, 4 };
	struct stun_builder b;
	get_nonce(s, &c, T0);
	req_init(&b, buf, sizeof(buf), STUN_METHOD_ALLOCATE, &c);
	stun_build_add_requested_transport(&b, 17);
	stun_build_add(&b, 0x7777, v, 4);
	stun_build_add(&b, 0xC001, v, 4); /* comprehension-optional: ignored */
	cr_expect_eq(xchg(s, &c, buf, req_sign(&b, &c), T0), 420);
	expect_signed(&c);
	uint16_t types[4];
	size_t nt;
	cr_assert_eq(stun_get_unknown_attrs(&resp, types, 4, &nt), 0);
	cr_expect_eq(nt, 1);
	cr_expect_eq(types[0], 0x7777);
	struct turn_effect e[4];
	cr_expect_eq(drain(s, e, 4), 0);

	/* Binding with an unknown attribute: 420 too (no auth on Binding). */
	req_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, &c);
	stun_build_add(&b, 0x0003, v, 4); /* CHANGE-REQUEST: not understood */
	cr_expect_eq(xchg(s, &c, buf, (size_t)stun_build_finish(&b), T0), 420);
	turn_server_destroy(s);
}

Test(turn_server, requests_without_allocation)
{
	struct turn_server *s = mk_default();
	struct client c = cl("198.51.100.10:40000", "alice", "alicepw");
	const char *p[] = { "8.8.8.8" };
	get_nonce(s, &c, T0);
	cr_expect_eq(refresh(s, &c, 600, T0), 437);
	cr_expect_eq(permit(s, &c, p, 1, T0), 437);
	cr_expect_eq(chbind(s, &c, 0x4000, "8.8.8.8:1", T0), 437);
	/* Same client address, other server address or transport: another 5-tuple. */
	open_alloc(s, &c, T0);
	struct client t = c;
	t.ft.transport = TURN_TP_TCP;
	cr_expect_eq(permit(s, &t, p, 1, T0), 437);
	t = c;
	t.ft.server = A("203.0.113.1:3479");
	cr_expect_eq(permit(s, &t, p, 1, T0), 437);
	cr_expect_eq(permit(s, &c, p, 1, T0), 0);
	turn_server_destroy(s);
}

Test(turn_server, wrong_credentials_441)
{
	struct turn_server *s = mk_default();
	struct client c = cl("198.51.100.10:40000", "alice", "alicepw");
	open_alloc(s, &c, T0);
	struct client m = c;
	m.user = "bob";
	m.pass = "bobpw";
	cr_expect_eq(refresh(s, &m, 0, T0), 441);
	const char *p[] = { "8.8.8.8" };
	cr_expect_eq(permit(s, &m, p, 1, T0), 441);
	cr_expect_eq(refresh(s, &c, 600, T0), 0);
	turn_server_destroy(s);
}

static int alloc_with(struct turn_server *s, struct client *c, void (*add)(struct stun_builder *),
		      uint64_t now)
{
	uint8_t buf[512];
	struct stun_builder b;
	req_init(&b, buf, sizeof(buf), STUN_METHOD_ALLOCATE, c);
	add(&b);
	return xchg(s, c, buf, req_sign(&b, c), now);
}

static void add_tcp(struct stun_builder *b) { stun_build_add_requested_transport(b, 6); }
static void add_none(struct stun_builder *b) { (void)b; }
static void add_even_r(struct stun_builder *b)
{
	stun_build_add_requested_transport(b, 17);
	stun_build_add_even_port(b, true);
}
static void add_even(struct stun_builder *b)
{
	stun_build_add_requested_transport(b, 17);
	stun_build_add_even_port(b, false);
	stun_build_add(b, STUN_ATTR_DONT_FRAGMENT, NULL, 0);
}
static void add_token(struct stun_builder *b)
{
	stun_build_add_requested_transport(b, 17);
	stun_build_add(b, STUN_ATTR_RESERVATION_TOKEN, "12345678", 8);
}
static void add_token_even(struct stun_builder *b)
{
	add_token(b);
	stun_build_add_even_port(b, false);
}
static void add_fam3(struct stun_builder *b)
{
	stun_build_add_requested_transport(b, 17);
	stun_build_add_family(b, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, 3);
}
static void add_v6(struct stun_builder *b)
{
	stun_build_add_requested_transport(b, 17);
	stun_build_add_family(b, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, STUN_AF_IPV6);
}
static void add_dual(struct stun_builder *b)
{
	stun_build_add_requested_transport(b, 17);
	stun_build_add_family(b, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, STUN_AF_IPV6);
}
static void add_dual_v4(struct stun_builder *b)
{
	stun_build_add_requested_transport(b, 17);
	stun_build_add_family(b, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, STUN_AF_IPV4);
}
static void add_both_fam(struct stun_builder *b)
{
	add_v6(b);
	stun_build_add_family(b, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, STUN_AF_IPV6);
}

Test(turn_server, allocate_options)
{
	struct turn_server *s = mk_default();
	struct client c = cl("198.51.100.10:40000", "alice", "alicepw");
	struct turn_effect e[8];
	get_nonce(s, &c, T0);
	cr_expect_eq(alloc_with(s, &c, add_tcp, T0), 442);
	cr_expect_eq(alloc_with(s, &c, add_none, T0), 400);
	cr_expect_eq(alloc_with(s, &c, add_even_r, T0), 508);
	cr_expect_eq(alloc_with(s, &c, add_token, T0), 508);
	cr_expect_eq(alloc_with(s, &c, add_token_even, T0), 400);
	cr_expect_eq(alloc_with(s, &c, add_fam3, T0), 440);
	cr_expect_eq(alloc_with(s, &c, add_dual_v4, T0), 400);
	cr_expect_eq(alloc_with(s, &c, add_both_fam, T0), 400);
	cr_expect_eq(drain(s, e, 8), 0);

	cr_expect_eq(alloc_with(s, &c, add_even, T0), 0);
	cr_expect_eq(relay_port() % 2, 0);
	cr_assert_eq(drain(s, e, 8), 1);
	cr_expect_eq(e[0].dont_fragment, 1);

	struct client v6 = cl("[2001:db8:1::5]:40000", "bob", "bobpw");
	get_nonce(s, &v6, T0);
	cr_expect_eq(alloc_with(s, &v6, add_v6, T0), 0);
	struct stun_addr ra;
	cr_assert_eq(stun_get_addr(&resp, STUN_ATTR_XOR_RELAYED_ADDRESS, &ra), 0);
	cr_expect_eq(ra.family, STUN_AF_IPV6);
	cr_assert_eq(drain(s, e, 8), 1);
	cr_expect_eq(e[0].relay.family, AF_INET6);
	const char *p4[] = { "8.8.8.8" }, *p6[] = { "2a00:1450::1" };
	cr_expect_eq(permit(s, &v6, p4, 1, T0), 443);
	cr_expect_eq(permit(s, &v6, p6, 1, T0), 0);
	drain(s, e, 8);

	struct client d = cl("198.51.100.11:40000", "bob", "bobpw");
	get_nonce(s, &d, T0);
	cr_expect_eq(alloc_with(s, &d, add_dual, T0), 0);
	const struct stun_attr *at = stun_attr_find(&resp, STUN_ATTR_XOR_RELAYED_ADDRESS);
	cr_assert_not_null(at);
	cr_assert_not_null(stun_attr_next(&resp, at));
	cr_assert_eq(drain(s, e, 8), 1);
	cr_expect_eq(e[0].relay.family, AF_INET);
	cr_expect_eq(e[0].relay6.family, AF_INET6);
	cr_expect_eq(e[0].relay.port, e[0].relay6.port);
	cr_expect_eq(permit(s, &d, p4, 1, T0), 0);
	cr_expect_eq(permit(s, &d, p6, 1, T0), 0);
	turn_server_destroy(s);
}

Test(turn_server, dual_without_ipv6_relay)
{
	struct turn_server_cfg cfg;
	base_cfg(&cfg);
	memset(&cfg.relay_v6, 0, sizeof(cfg.relay_v6));
	struct turn_server *s = mk(&cfg);
	struct client c = cl("198.51.100.10:40000", "alice", "alicepw");
	get_nonce(s, &c, T0);
	cr_expect_eq(alloc_with(s, &c, add_v6, T0), 440);
	cr_expect_eq(alloc_with(s, &c, add_dual, T0), 0);
	const struct stun_attr *at = stun_attr_find(&resp, STUN_ATTR_XOR_RELAYED_ADDRESS);
	cr_assert_not_null(at);
	cr_expect_null(stun_attr_next(&resp, at));
	at = stun_attr_find(&resp, STUN_ATTR_ADDRESS_ERROR_CODE);
	cr_assert_not_null(at);
	const uint8_t *v = stun_attr_value(&resp, at);
	cr_expect_eq(v[0], STUN_AF_IPV6);
	cr_expect_eq(v[2] * 100 + v[3], 440);
	turn_server_destroy(s);
}

Test(turn_server, expiry_by_time)
{
	struct turn_server *s = mk_default();
	struct client c = cl("198.51.100.10:40000", "alice", "alicepw");
	struct turn_effect e[8];
	open_alloc(s, &c, T0);
	const char *p[] = { "8.8.8.8" };
	cr_assert_eq(permit(s, &c, p, 1, T0), 0);
	drain(s, e, 8);
	cr_expect_eq(turn_server_expire(s, T0 + 299 * SEC), 0);
	cr_expect_eq(turn_server_expire(s, T0 + 300 * SEC), 1); /* the permission */
	cr_expect_eq(drain(s, e, 8), 1);
	cr_expect_eq(turn_server_expire(s, T0 + 599 * SEC), 0);
	cr_expect_eq(turn_server_expire(s, T0 + 600 * SEC), 1);
	cr_assert_eq(drain(s, e, 8), 1);
	cr_expect_eq(e[0].type, TURN_EFF_ALLOC_REMOVE);
	struct turn_server_stats st;
	turn_server_get_stats(s, &st);
	cr_expect_eq(st.allocs, 0);
	get_nonce(s, &c, T0 + 601 * SEC);
	cr_expect_eq(refresh(s, &c, 600, T0 + 601 * SEC), 437);

	/* Lazily: an expired allocation not yet swept is gone for requests too. */
	open_alloc(s, &c, T0 + 1000 * SEC);
	cr_expect_eq(permit(s, &c, p, 1, T0 + 1700 * SEC), 438); /* nonce first */
	cr_expect_eq(permit(s, &c, p, 1, T0 + 1700 * SEC), 437);
	cr_assert_eq(drain(s, e, 8), 1);
	cr_expect_eq(e[0].type, TURN_EFF_ALLOC_REMOVE);
	turn_server_destroy(s);
}

Test(turn_server, rate_limited_401)
{
	struct turn_server_cfg cfg;
	base_cfg(&cfg);
	cfg.rl_rate = 2;
	cfg.rl_burst = 3;
	cfg.rl_entries = 8;
	struct turn_server *s = mk(&cfg);
	struct client c = cl("198.51.100.10:40000", "alice", "alicepw");
	uint8_t buf[64];
	struct stun_builder b;
	int answered = 0;
	for (int i = 0; i < 10; i++) {
		req_init(&b, buf, sizeof(buf), STUN_METHOD_ALLOCATE, &c);
		answered += xchg(s, &c, buf, (size_t)stun_build_finish(&b), T0) == 401;
	}
	cr_expect_eq(answered, 3);
	/* Same IP, other port: same bucket. */
	struct client c2 = cl("198.51.100.10:40001", "alice", "alicepw");
	req_init(&b, buf, sizeof(buf), STUN_METHOD_ALLOCATE, &c2);
	cr_expect_eq(xchg(s, &c2, buf, (size_t)stun_build_finish(&b), T0), -1);
	/* Another IP is unaffected; 1 s later two more tokens. */
	struct client o = cl("198.51.100.99:40000", "alice", "alicepw");
	req_init(&b, buf, sizeof(buf), STUN_METHOD_ALLOCATE, &o);
	cr_expect_eq(xchg(s, &o, buf, (size_t)stun_build_finish(&b), T0), 401);
	answered = 0;
	for (int i = 0; i < 5; i++) {
		req_init(&b, buf, sizeof(buf), STUN_METHOD_ALLOCATE, &c);
		answered += xchg(s, &c, buf, (size_t)stun_build_finish(&b), T0 + SEC) == 401;
	}
	cr_expect_eq(answered, 2);
	/* Authenticated answers are not limited. */
	cr_expect_eq(allocate(s, &c, T0 + SEC), 0);
	cr_expect_eq(refresh(s, &c, 600, T0 + SEC), 0);
	cr_expect_eq(refresh(s, &c, 600, T0 + SEC), 0);
	cr_expect_eq(refresh(s, &c, 600, T0 + SEC), 0);
	struct turn_server_stats st;
	turn_server_get_stats(s, &st);
	cr_expect_eq(st.count[TURN_STAT_RATE_LIMITED], 7 + 1 + 3);
	turn_server_destroy(s);
}

Test(turn_server, allocate_flood_commits_no_state)
{
	struct turn_server *s = mk_default();
	uint8_t buf[512];
	struct stun_builder b;
	struct turn_effect e[8];
	for (uint32_t i = 0; i < 20000; i++) {
		struct client c = { 0 };
		c.ft.client.family = AF_INET;
		c.ft.client.ip[0] = 198;
		c.ft.client.ip[1] = (uint8_t)(i >> 16);
		c.ft.client.ip[2] = (uint8_t)(i >> 8);
		c.ft.client.ip[3] = (uint8_t)i;
		c.ft.client.port = htons(1234);
		c.ft.server = A("203.0.113.1:3478");
		c.user = "alice";
		c.pass = "alicepw";
		memcpy(c.nonce, "00000000000000000000000000000000", 32);
		c.nlen = i % 2 ? 32 : 0;
		req_init(&b, buf, sizeof(buf), STUN_METHOD_ALLOCATE, &c);
		stun_build_add_requested_transport(&b, 17);
		size_t n = i % 2 ? req_sign(&b, &c) : (size_t)stun_build_finish(&b);
		cr_assert_eq(turn_server_handle(s, &c.ft, buf, n, T0 + i * 1000ull, rbuf,
						sizeof(rbuf), &rlen), 0);
	}
	struct turn_server_stats st;
	turn_server_get_stats(s, &st);
	cr_expect_eq(st.allocs, 0);
	cr_expect_eq(st.count[TURN_STAT_ERR_401], 10000);
	cr_expect_eq(st.count[TURN_STAT_ERR_438], 10000);
	cr_expect_eq(drain(s, e, 8), 0);
	turn_server_destroy(s);
}

Test(turn_server, binding_indication_junk)
{
	struct turn_server *s = mk_default();
	struct client c = cl("198.51.100.10:40000", "alice", "alicepw");
	uint8_t buf[128];
	struct stun_builder b;
	struct stun_addr m;
	req_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, &c);
	stun_build_add_fingerprint(&b);
	cr_expect_eq(xchg(s, &c, buf, (size_t)stun_build_finish(&b), T0), 0);
	cr_assert_eq(stun_get_addr(&resp, STUN_ATTR_XOR_MAPPED_ADDRESS, &m), 0);
	cr_expect_eq(m.port, 40000);
	cr_expect(stun_check_fingerprint(&resp));

	uint8_t tid[12] = { 0 };
	stun_build_init(&b, buf, sizeof(buf), STUN_METHOD_SEND, STUN_CLASS_INDICATION, tid);
	cr_expect_eq(xchg(s, &c, buf, (size_t)stun_build_finish(&b), T0), -1);
	stun_build_init(&b, buf, sizeof(buf), STUN_METHOD_ALLOCATE, STUN_CLASS_SUCCESS, tid);
	cr_expect_eq(xchg(s, &c, buf, (size_t)stun_build_finish(&b), T0), -1);
	cr_expect_eq(xchg(s, &c, (const uint8_t *)"hello", 5, T0), -1);
	cr_expect_eq(xchg(s, &c, buf, 0, T0), -1);
	req_init(&b, buf, sizeof(buf), STUN_METHOD_CONNECT, &c);
	cr_expect_eq(xchg(s, &c, buf, (size_t)stun_build_finish(&b), T0), 400);
	req_init(&b, buf, sizeof(buf), 0x0FF, &c);
	cr_expect_eq(xchg(s, &c, buf, (size_t)stun_build_finish(&b), T0), 400);

	/* Response buffer too small: counted, nothing sent. */
	req_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, &c);
	int n = stun_build_finish(&b);
	cr_assert_eq(turn_server_handle(s, &c.ft, buf, (size_t)n, T0, rbuf, 24, &rlen), 0);
	cr_expect_eq(rlen, 0);
	struct turn_server_stats st;
	turn_server_get_stats(s, &st);
	cr_expect_eq(st.count[TURN_STAT_BUILD_ERROR], 1);
	cr_expect_eq(st.count[TURN_STAT_NOT_REQUEST], 2);
	cr_expect_eq(st.count[TURN_STAT_PARSE_ERROR], 2);
	cr_expect_eq(turn_server_handle(s, NULL, buf, (size_t)n, T0, rbuf, 24, &rlen), -EINVAL);
	turn_server_destroy(s);
}

Test(turn_server, effect_queue_backpressure)
{
	struct turn_server *s = mk_default();
	struct client c = cl("198.51.100.10:40000", "alice", "alicepw");
	open_alloc(s, &c, T0);
	const char *p[] = { "8.8.8.8" };
	uint8_t buf[512];
	struct stun_builder b;
	int rc = 0, i;
	for (i = 0; i < 1000 && rc == 0; i++) {
		struct stun_addr sa = { .family = STUN_AF_IPV4, .port = 1, .ip = { 8, 8, 8, 8 } };
		req_init(&b, buf, sizeof(buf), STUN_METHOD_CREATE_PERMISSION, &c);
		stun_build_add_addr(&b, STUN_ATTR_XOR_PEER_ADDRESS, &sa);
		size_t n = req_sign(&b, &c);
		rc = turn_server_handle(s, &c.ft, buf, n, T0, rbuf, sizeof(rbuf), &rlen);
	}
	cr_expect_eq(rc, -EAGAIN);
	cr_expect_gt(i, 10);
	struct turn_effect e[512];
	cr_expect_gt(drain(s, e, 512), 10);
	cr_expect_eq(permit(s, &c, p, 1, T0), 0);
	turn_server_destroy(s);
}

Test(turn_server, bad_config_and_users)
{
	struct turn_server_cfg cfg;
	base_cfg(&cfg);
	cfg.nonce_secret_len = 8;
	cr_expect_null(turn_server_create(&cfg));
	base_cfg(&cfg);
	cfg.port_min = 10;
	cfg.port_max = 9;
	cr_expect_null(turn_server_create(&cfg));
	base_cfg(&cfg);
	memset(&cfg.relay_v4, 0, sizeof(cfg.relay_v4));
	memset(&cfg.relay_v6, 0, sizeof(cfg.relay_v6));
	cr_expect_null(turn_server_create(&cfg));
	cr_expect_null(turn_server_create(NULL));
	base_cfg(&cfg);
	cfg.max_users = 1;
	struct turn_server *s = turn_server_create(&cfg);
	cr_assert_not_null(s);
	cr_expect_eq(turn_server_add_user(s, "a", "x"), 0);
	cr_expect_eq(turn_server_add_user(s, "a", "y"), 0); /* replaces */
	cr_expect_eq(turn_server_add_user(s, "b", "x"), -ENOSPC);
	cr_expect_eq(turn_server_add_user(s, "", "x"), -EINVAL);
	cr_expect_eq(turn_server_add_user(s, "c", "\xff"), -EILSEQ);
	turn_server_destroy(s);
	turn_server_destroy(NULL);
}

Test(turn_server, integrity_sha256_and_auth_before_420)
{
	struct turn_server *s = mk_default();
	struct client c = cl("198.51.100.10:40000", "alice", "alicepw");
	uint8_t buf[512], key[16], v[4] = { 0 };
	struct stun_builder b;
	get_nonce(s, &c, T0);
	client_key(&c, key);
	req_init(&b, buf, sizeof(buf), STUN_METHOD_ALLOCATE, &c);
	stun_build_add_requested_transport(&b, 17);
	stun_build_add(&b, STUN_ATTR_USERNAME, "alice", 5);
	stun_build_add(&b, STUN_ATTR_REALM, "example.org", 11);
	stun_build_add(&b, STUN_ATTR_NONCE, c.nonce, c.nlen);
	stun_build_add_integrity_sha256(&b, key, 16);
	cr_assert_eq(xchg(s, &c, buf, (size_t)stun_build_finish(&b), T0), 0);
	cr_expect_eq(stun_check_integrity_sha256(&resp, key, 16), 0);
	cr_expect_lt(resp.integrity, 0);
	cr_expect_lt(resp.fingerprint, 0); /* the request had none */

	/* Unknown attribute without credentials: 401 first (RFC 8489 6.3.1). */
	struct client d = cl("198.51.100.11:40000", "bob", "bobpw");
	req_init(&b, buf, sizeof(buf), STUN_METHOD_ALLOCATE, &d);
	stun_build_add(&b, 0x7777, v, 4);
	cr_expect_eq(xchg(s, &d, buf, (size_t)stun_build_finish(&b), T0), 401);
	turn_server_destroy(s);
}

/* ------------------------------------------------------------------ restore */

/* A record of a data plane's dump: what ALLOC_INSTALL said. */
static struct turn_effect rec_alloc(uint32_t id, const char *client, uint16_t port,
				    const char *owner, uint64_t expiry)
{
	struct turn_effect e = { .type = TURN_EFF_ALLOC_INSTALL, .alloc_id = id, .expiry_ns = expiry };
	e.ft.client = A(client);
	e.ft.server = A("203.0.113.1:3478");
	e.ft.transport = TURN_TP_UDP;
	e.relay = A("203.0.113.1:0");
	e.relay.port = htons(port);
	e.owner_len = (uint16_t)strlen(owner);
	memcpy(e.owner, owner, e.owner_len);
	return e;
}

static struct turn_effect rec_perm(uint32_t id, const char *ip, uint64_t expiry)
{
	struct turn_effect e = { .type = TURN_EFF_PERM_INSTALL, .alloc_id = id, .expiry_ns = expiry };
	e.peer = A(ip);
	return e;
}

static struct turn_effect rec_chan(uint32_t id, uint16_t ch, const char *peer, uint64_t expiry)
{
	struct turn_effect e = { .type = TURN_EFF_CHANNEL_INSTALL, .alloc_id = id, .channel = ch,
				 .expiry_ns = expiry };
	e.peer = A(peer);
	return e;
}

/* What spdp would dump: the effects a server queued, as installs. */
static size_t installs(struct turn_server *s, struct turn_effect *out, size_t cap)
{
	struct turn_effect e[16];
	size_t n = drain(s, e, 16), k = 0;
	for (size_t i = 0; i < n && k < cap; i++)
		if (e[i].type == TURN_EFF_ALLOC_INSTALL || e[i].type == TURN_EFF_PERM_INSTALL ||
		    e[i].type == TURN_EFF_CHANNEL_INSTALL)
			out[k++] = e[i];
	return k;
}

Test(turn_server, restore_round_trip)
{
	/* spcp #1: alice allocates, permits a peer, binds a channel */
	struct turn_server *s = mk_default();
	struct client c = cl("198.51.100.10:40000", "alice", "alicepw");
	struct turn_effect rec[8];
	size_t n = 0;
	get_nonce(s, &c, T0);
	cr_assert_eq(allocate(s, &c, T0), 0);
	n += installs(s, rec + n, 8 - n);
	cr_assert_eq(rec[0].owner_len, 5, "the install carries the owner");
	cr_assert(memcmp(rec[0].owner, "alice", 5) == 0);
	const char *peer[] = { "198.51.100.77" };
	cr_assert_eq(permit(s, &c, peer, 1, T0 + SEC), 0);
	cr_assert_eq(chbind(s, &c, 0x4001, "198.51.100.78:5000", T0 + SEC), 0);
	n += installs(s, rec + n, 8 - n);
	cr_assert_eq(n, 4); /* allocation, permission, channel + its permission */
	uint32_t id = rec[0].alloc_id;
	turn_server_destroy(s);

	/* spcp #2 (same nonce secret) imports what spdp reports */
	s = mk_default();
	cr_expect_eq(turn_server_restore_alloc(s, &rec[0], T0 + 2 * SEC), 0);
	cr_expect_eq(turn_server_restore_perm(s, &rec[1], T0 + 2 * SEC), 0);
	cr_expect_eq(turn_server_restore_perm(s, &rec[2], T0 + 2 * SEC), 0);
	cr_expect_eq(turn_server_restore_channel(s, &rec[3], T0 + 2 * SEC), 0);
	struct turn_effect e[8];
	cr_expect_eq(drain(s, e, 8), 0, "restoring tells the data plane nothing");
	struct turn_server_stats st;
	turn_server_get_stats(s, &st);
	cr_expect_eq(st.allocs, 1);
	cr_expect_eq(st.perms, 2);
	cr_expect_eq(st.channels, 1);
	struct turn_alloc_info ai;
	uint32_t cur = 0;
	cr_assert(turn_server_next_alloc(s, &cur, &ai));
	cr_expect_eq(ai.id, id);
	cr_expect(ai.key_pending);
	cr_expect_eq(ai.perms, 2);
	cr_expect_eq(ai.channels, 1);
	cr_expect_eq(ai.owner_len, 5);
	cr_expect(ft_eq(&ai.ft, &c.ft));
	cr_expect(!turn_server_next_alloc(s, &cur, &ai));

	/* the same client with the same credentials (and nonce) carries on */
	cr_assert_eq(refresh(s, &c, 600, T0 + 3 * SEC), 0);
	expect_signed(&c);
	cr_assert_eq(drain(s, e, 8), 1);
	cr_expect_eq(e[0].type, TURN_EFF_ALLOC_REFRESH);
	cr_expect_eq(e[0].alloc_id, id);
	cr_expect_eq(ntohs(e[0].relay.port), ntohs(rec[0].relay.port));
	cr_expect_eq(chbind(s, &c, 0x4001, "198.51.100.78:5000", T0 + 4 * SEC), 0, "same pair refreshes");
	cr_expect_eq(chbind(s, &c, 0x4002, "198.51.100.78:5000", T0 + 4 * SEC), 400, "the peer is bound");
	cr_expect_eq(permit(s, &c, peer, 1, T0 + 4 * SEC), 0);
	cur = 0;
	turn_server_next_alloc(s, &cur, &ai);
	cr_expect(!ai.key_pending);
	turn_server_destroy(s);
}

Test(turn_server, restore_ownership)
{
	struct turn_server *s = mk_default();
	struct turn_effect a = rec_alloc(5, "198.51.100.10:40000", 50003, "alice", T0 + 600 * SEC);
	cr_assert_eq(turn_server_restore_alloc(s, &a, T0), 0);
	/* bob on alice's 5-tuple: 441 before and after alice came back */
	struct client b = cl("198.51.100.10:40000", "bob", "bobpw");
	get_nonce(s, &b, T0);
	cr_expect_eq(refresh(s, &b, 600, T0), 441);
	const char *peer[] = { "198.51.100.77" };
	cr_expect_eq(permit(s, &b, peer, 1, T0), 441);
	struct client c = cl("198.51.100.10:40000", "alice", "alicepw");
	get_nonce(s, &c, T0);
	/* a wrong password for the right user binds nothing: 401 */
	c.pass = "wrong";
	cr_expect_eq(refresh(s, &c, 600, T0), 401);
	c.pass = "alicepw";
	cr_expect_eq(permit(s, &c, peer, 1, T0 + SEC), 0);
	expect_signed(&c);
	cr_expect_eq(refresh(s, &b, 600, T0 + SEC), 441);
	/* an Allocate on it is a mismatch, not a retransmission */
	cr_expect_eq(allocate(s, &c, T0 + SEC), 437);
	turn_server_destroy(s);
}

Test(turn_server, restore_rest_owner_and_quota)
{
	struct turn_server *s = mk_default(); /* 2 allocations per user */
	char u1[64], u2[64], u3[64], pw[64];
	cr_assert_eq(turn_server_add_rest_secret(s, "s3cret"), 0);
	snprintf(u1, sizeof(u1), "%llu:viewer42", 1700000000ull + 3600);
	snprintf(u2, sizeof(u2), "%llu:viewer42", 1700000000ull + 7200);
	snprintf(u3, sizeof(u3), "%llu:viewer42", 1700000000ull + 9000);
	struct turn_effect a = rec_alloc(7, "198.51.100.10:40000", 50001, u1, T0 + 600 * SEC);
	struct turn_effect b = rec_alloc(40, "198.51.100.10:40001", 50002, u2, T0 + 600 * SEC);
	cr_assert_eq(turn_server_restore_alloc(s, &a, T0), 0);
	cr_assert_eq(turn_server_restore_alloc(s, &b, T0), 0);
	/* the same REST user with a third username: over its quota */
	rest_password("s3cret", u3, pw);
	struct client c = cl("198.51.100.10:40002", u3, pw);
	get_nonce(s, &c, T0);
	cr_expect_eq(allocate(s, &c, T0), 486);
	/* another user gets an id above every restored one, and a port none holds */
	struct client d = cl("198.51.100.11:40000", "bob", "bobpw");
	get_nonce(s, &d, T0);
	cr_assert_eq(allocate(s, &d, T0), 0);
	struct turn_effect e[4];
	cr_assert_eq(drain(s, e, 4), 1);
	cr_expect_gt(e[0].alloc_id, 40);
	uint16_t port = ntohs(e[0].relay.port);
	cr_expect(port != 50001 && port != 50002);
	/* the REST owner carries on with its own username and password */
	char pw1[64];
	rest_password("s3cret", u1, pw1);
	struct client o = cl("198.51.100.10:40000", u1, pw1);
	get_nonce(s, &o, T0);
	cr_expect_eq(refresh(s, &o, 600, T0), 0);
	/* a newly minted username of the same user is other credentials */
	struct client o2 = cl("198.51.100.10:40001", u3, pw);
	get_nonce(s, &o2, T0);
	cr_expect_eq(refresh(s, &o2, 600, T0), 441);
	turn_server_destroy(s);
}

Test(turn_server, restore_refusals)
{
	struct turn_server *s = mk_default(); /* 4 allocations, ports 50000-50009, 4 perms/channels */
	struct turn_effect a = rec_alloc(5, "198.51.100.10:40000", 50003, "alice", T0 + 600 * SEC), x;
	uint64_t now = T0;

	cr_assert_eq(turn_server_restore_alloc(s, &a, now), 0);
	cr_expect_eq(turn_server_restore_alloc(s, &a, now), -EEXIST);
	x = rec_alloc(6, "198.51.100.10:40001", 50004, "alice", now);
	cr_expect_eq(turn_server_restore_alloc(s, &x, now), -ETIME);
	x = rec_alloc(6, "198.51.100.10:40001", 50004, "", now + SEC);
	cr_expect_eq(turn_server_restore_alloc(s, &x, now), -EINVAL, "no owner");
	x = rec_alloc(6, "198.51.100.10:40001", 50004, "alice", now + SEC);
	x.ft.transport = 7;
	cr_expect_eq(turn_server_restore_alloc(s, &x, now), -EINVAL, "no such transport");
	x = rec_alloc(0, "198.51.100.10:40001", 50004, "alice", now + SEC);
	cr_expect_eq(turn_server_restore_alloc(s, &x, now), -EINVAL);
	x = rec_alloc(6, "198.51.100.10:40001", 50004, "alice", now + SEC);
	x.type = TURN_EFF_ALLOC_REFRESH;
	cr_expect_eq(turn_server_restore_alloc(s, &x, now), -EINVAL);
	x = rec_alloc(6, "198.51.100.10:40001", 50004, "alice", now + SEC);
	x.relay = A("203.0.113.2:50004");
	cr_expect_eq(turn_server_restore_alloc(s, &x, now), -EADDRNOTAVAIL, "not our relay address");
	x = rec_alloc(6, "198.51.100.10:40001", 50010, "alice", now + SEC);
	cr_expect_eq(turn_server_restore_alloc(s, &x, now), -EADDRNOTAVAIL, "outside the port range");
	x = rec_alloc(6, "198.51.100.10:40001", 50004, "alice", now + SEC);
	x.relay6 = A("[2001:db8::1]:50005");
	cr_expect_eq(turn_server_restore_alloc(s, &x, now), -EADDRNOTAVAIL, "dual on two ports");
	x = rec_alloc(6, "198.51.100.10:40000", 50004, "alice", now + SEC);
	cr_expect_eq(turn_server_restore_alloc(s, &x, now), -EADDRINUSE, "the 5-tuple is taken");
	x = rec_alloc(6, "198.51.100.10:40001", 50003, "alice", now + SEC);
	cr_expect_eq(turn_server_restore_alloc(s, &x, now), -EADDRINUSE, "the port is taken");
	x = rec_alloc(6, "198.51.100.10:40001", 50004, "alice", now + SEC);
	x.relay6 = A("[2001:db8::1]:50004");
	cr_expect_eq(turn_server_restore_alloc(s, &x, now), 0, "dual");
	for (uint32_t id = 7; id < 9; id++) {
		char cli[40];
		snprintf(cli, sizeof(cli), "198.51.100.%u:1", id);
		x = rec_alloc(id, cli, (uint16_t)(50000 + id - 7), "bob", now + SEC);
		if (id == 8)
			x.ft.transport = TURN_TP_TLS; /* its connection stayed in spdp */
		cr_expect_eq(turn_server_restore_alloc(s, &x, now), 0, "id %u", id);
	}
	x = rec_alloc(9, "198.51.100.9:1", 50009, "carol", now + SEC);
	cr_expect_eq(turn_server_restore_alloc(s, &x, now), -ENOSPC, "max_allocs 4");

	/* permissions */
	struct turn_effect p = rec_perm(5, "198.51.100.77:0", now + 300 * SEC);
	cr_expect_eq(turn_server_restore_perm(s, &p, now), 0);
	cr_expect_eq(turn_server_restore_perm(s, &p, now), -EEXIST);
	p = rec_perm(99, "198.51.100.77:0", now + 300 * SEC);
	cr_expect_eq(turn_server_restore_perm(s, &p, now), -ENOENT);
	p = rec_perm(5, "198.51.100.78:0", now);
	cr_expect_eq(turn_server_restore_perm(s, &p, now), -ETIME);
	p = rec_perm(5, "127.0.0.1:0", now + SEC);
	cr_expect_eq(turn_server_restore_perm(s, &p, now), -EACCES, "denied by today's policy");
	p = rec_perm(5, "[::ffff:10.0.0.1]:0", now + SEC);
	cr_expect_eq(turn_server_restore_perm(s, &p, now), -EACCES, "normalised first");
	p = rec_perm(5, "[2001:4860::1]:0", now + SEC);
	cr_expect_eq(turn_server_restore_perm(s, &p, now), -EAFNOSUPPORT);
	p = rec_perm(6, "[2001:4860::1]:0", now + SEC);
	cr_expect_eq(turn_server_restore_perm(s, &p, now), 0, "the dual one holds IPv6");
	p = rec_chan(5, 0x4000, "198.51.100.77:1", now + SEC);
	cr_expect_eq(turn_server_restore_perm(s, &p, now), -EINVAL);
	for (int i = 0; i < 3; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "198.51.100.%d:0", 80 + i);
		p = rec_perm(5, ip, now + SEC);
		cr_expect_eq(turn_server_restore_perm(s, &p, now), 0);
	}
	p = rec_perm(5, "198.51.100.90:0", now + SEC);
	cr_expect_eq(turn_server_restore_perm(s, &p, now), -ENOSPC, "4 per allocation");

	/* channels */
	struct turn_effect c = rec_chan(5, 0x4001, "198.51.100.77:5000", now + 600 * SEC);
	cr_expect_eq(turn_server_restore_channel(s, &c, now), 0);
	cr_expect_eq(turn_server_restore_channel(s, &c, now), -EEXIST);
	c = rec_chan(5, 0x4001, "198.51.100.77:5001", now + SEC);
	cr_expect_eq(turn_server_restore_channel(s, &c, now), -EADDRINUSE, "number bound to another peer");
	c = rec_chan(5, 0x4002, "198.51.100.77:5000", now + SEC);
	cr_expect_eq(turn_server_restore_channel(s, &c, now), -EADDRINUSE, "peer bound to another number");
	c = rec_chan(5, 0x5000, "198.51.100.77:6000", now + SEC);
	cr_expect_eq(turn_server_restore_channel(s, &c, now), -ERANGE, "RFC 5766 numbers not admitted");
	c = rec_chan(5, 0x4003, "10.0.0.1:6000", now + SEC);
	cr_expect_eq(turn_server_restore_channel(s, &c, now), -EACCES);
	c = rec_chan(5, 0x4003, "198.51.100.77:6000", now);
	cr_expect_eq(turn_server_restore_channel(s, &c, now), -ETIME);
	for (int i = 0; i < 3; i++) {
		char pe[32];
		snprintf(pe, sizeof(pe), "198.51.100.77:%d", 7000 + i);
		c = rec_chan(5, (uint16_t)(0x4010 + i), pe, now + SEC);
		cr_expect_eq(turn_server_restore_channel(s, &c, now), 0);
	}
	c = rec_chan(5, 0x4020, "198.51.100.77:8000", now + SEC);
	cr_expect_eq(turn_server_restore_channel(s, &c, now), -ENOSPC);

	struct turn_server_stats st;
	turn_server_get_stats(s, &st);
	cr_expect_eq(st.allocs, 4);
	cr_expect_eq(st.perms, 5);
	cr_expect_eq(st.channels, 4);
	cr_expect_eq(st.peer_denied[TURN_PEER_DENY_LOOPBACK], 1);
	struct turn_effect e[4];
	cr_expect_eq(drain(s, e, 4), 0);
	turn_server_destroy(s);
}

Test(turn_server, restored_entries_expire)
{
	struct turn_server *s = mk_default();
	struct turn_effect a = rec_alloc(5, "198.51.100.10:40000", 50003, "alice", T0 + 10 * SEC);
	struct turn_effect p = rec_perm(5, "198.51.100.77:0", T0 + 5 * SEC);
	struct turn_effect c = rec_chan(5, 0x4001, "198.51.100.78:5000", T0 + 7 * SEC);
	struct turn_effect e[8];
	struct turn_server_stats st;

	cr_assert_eq(turn_server_restore_alloc(s, &a, T0), 0);
	cr_assert_eq(turn_server_restore_perm(s, &p, T0), 0);
	cr_assert_eq(turn_server_restore_channel(s, &c, T0), 0);
	cr_expect_eq(turn_server_expire(s, T0 + 4 * SEC), 0);
	cr_expect_eq(turn_server_expire(s, T0 + 5 * SEC), 1);
	cr_assert_eq(drain(s, e, 8), 1);
	cr_expect_eq(e[0].type, TURN_EFF_PERM_REMOVE);
	cr_expect_eq(e[0].alloc_id, 5);
	cr_expect(ip_eq(&e[0].peer, &p.peer));
	cr_expect_eq(turn_server_expire(s, T0 + 7 * SEC), 1);
	cr_assert_eq(drain(s, e, 8), 1);
	cr_expect_eq(e[0].type, TURN_EFF_CHANNEL_REMOVE);
	cr_expect_eq(e[0].channel, 0x4001);
	cr_expect_eq(turn_server_expire(s, T0 + 10 * SEC), 1);
	cr_assert_eq(drain(s, e, 8), 1);
	cr_expect_eq(e[0].type, TURN_EFF_ALLOC_REMOVE);
	cr_expect_eq(e[0].alloc_id, 5);
	cr_expect_eq(ntohs(e[0].relay.port), 50003);
	cr_expect(ft_eq(&e[0].ft, &a.ft));
	turn_server_get_stats(s, &st);
	cr_expect_eq(st.allocs, 0);
	cr_expect_eq(st.perms, 0);
	cr_expect_eq(st.channels, 0);
	/* its quota slot and port are free again */
	struct turn_effect a2 = rec_alloc(6, "198.51.100.10:40001", 50003, "alice", T0 + 600 * SEC);
	cr_expect_eq(turn_server_restore_alloc(s, &a2, T0 + 11 * SEC), 0);
	/* and a Refresh on the expired one's 5-tuple finds nothing */
	struct client cli = cl("198.51.100.10:40000", "alice", "alicepw");
	get_nonce(s, &cli, T0 + 11 * SEC);
	cr_expect_eq(refresh(s, &cli, 600, T0 + 11 * SEC), 437);
	turn_server_destroy(s);
}

Test(turn_server, owner_bound_255_bytes)
{
	struct turn_server *s = mk_default();
	char user[400], pw[64];
	struct turn_effect e[4];
	cr_assert_eq(turn_server_add_rest_secret(s, "s3cret"), 0);
	/* "expiry:" + name, 255 bytes in all: fine, and carried whole */
	int n = snprintf(user, sizeof(user), "%llu:", 1700000000ull + 3600);
	memset(user + n, 'v', (size_t)(255 - n));
	user[255] = '\0';
	rest_password("s3cret", user, pw);
	struct client c = cl("198.51.100.10:40000", user, pw);
	get_nonce(s, &c, T0);
	cr_expect_eq(allocate(s, &c, T0), 0);
	cr_assert_eq(drain(s, e, 4), 1);
	cr_expect_eq(e[0].owner_len, 255);
	cr_expect(memcmp(e[0].owner, user, 255) == 0);
	/* one byte more: 400, nothing installed */
	memset(user + n, 'w', (size_t)(256 - n));
	user[256] = '\0';
	rest_password("s3cret", user, pw);
	struct client d = cl("198.51.100.10:40001", user, pw);
	get_nonce(s, &d, T0);
	cr_expect_eq(allocate(s, &d, T0), 400);
	expect_signed(&d);
	cr_expect_eq(drain(s, e, 4), 0);
	turn_server_destroy(s);
}
