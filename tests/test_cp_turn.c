/*
 * test_cp_turn: spcp's TURN wiring (controlplane/turn.c), white-box.
 *
 * The alloc_id -> worker map (open addressing with backward-shift
 * deletion) against a reference model under random operations with forced
 * collisions; the [turn] configuration table of refusals; and the paths
 * that keep spcp's view consistent with spdp without a live spdp: an
 * install that cannot be queued (spdp not attached) leaves no allocation
 * and no response, and FAILED / EXPIRED events from spdp make spcp forget
 * the allocation. (The attached paths run in tests/integration/test_turn.py.)
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <string.h>

/* White-box: the module's statics (map, handlers) are what is tested. */
#include "../controlplane/turn.c"

#include "stun.h"

static struct cp_config base(void)
{
	struct cp_config c;
	char err[CFG_ERRLEN];
	memset(&c, 0, sizeof(c));
	cr_assert_eq(cfg_defaults(cp_config_keys, cp_config_nkeys, &c, err, sizeof(err)), 0, "%s", err);
	strcpy(c.runtime_dir, "/tmp/sp-test-cp-turn");
	c.turn_enable = true;
	strcpy(c.turn_relay_address, "192.0.2.1");
	strcpy(c.turn_users, "alice:pw, bob:pw2");
	c.turn_max_allocs = 8;
	return c;
}

Test(cp_turn, map_matches_a_model)
{
	static struct cp_config c;
	c = base();
	dp_link *l = dp_link_create(&c, -1);
	cp_turn *t = cp_turn_create(&c, l);
	cr_assert_not_null(t);
	/* 16 slots for at most 8 ids; ids from a small range collide a lot */
	uint32_t model[64] = { 0 }; /* id -> worker + 1 */
	uint64_t rng = 12345;
	unsigned live = 0;
	for (int step = 0; step < 20000; step++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		uint32_t id = 1 + (uint32_t)(rng >> 33) % 63, w = (uint32_t)(rng >> 20) % 7;
		bool put = (rng >> 60) & 1;
		if (put && !model[id] && live < 8) {
			map_put(t, id, w);
			model[id] = w + 1;
			live++;
		} else if (!put && model[id]) {
			map_del(t, id);
			model[id] = 0;
			live--;
		}
		for (uint32_t k = 1; k < 64; k++)
			cr_assert_eq(worker_of(t, k), model[k] ? model[k] - 1 : NO_WORKER,
				     "step %d id %u", step, k);
	}
	cp_turn_destroy(t);
	dp_link_destroy(l);
}

Test(cp_turn, disabled_does_nothing)
{
	static struct cp_config c;
	c = base();
	c.turn_enable = false;
	c.turn_relay_address[0] = '\0';
	dp_link *l = dp_link_create(&c, -1);
	cp_turn *t = cp_turn_create(&c, l);
	cr_assert_not_null(t);
	cr_expect_null(t->ts);
	cJSON *r = NULL;
	cr_assert_eq(cmd_turn(t, "/turn", NULL, &r), 0);
	cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(r, "enabled")));
	cJSON_Delete(r);
	cp_turn_tick(t, 1);
	cp_turn_destroy(t);
	dp_link_destroy(l);
}

Test(cp_turn, config_refusals)
{
	static const struct {
		const char *name;
		const char *relay, *relay6, *users, *secrets, *allow;
		uint32_t pmin, pmax, def_life, max_life;
	} bad[] = {
		{ "no relay address", "", "", "a:b", "", "", 49152, 65535, 600, 3600 },
		{ "relay not IPv4", "2001:db8::1", "", "a:b", "", "", 49152, 65535, 600, 3600 },
		{ "relay6 not IPv6", "192.0.2.1", "192.0.2.2", "a:b", "", "", 49152, 65535, 600, 3600 },
		{ "relay not an address", "relay.example", "", "a:b", "", "", 49152, 65535, 600, 3600 },
		{ "user without password", "192.0.2.1", "", "alice", "", "", 49152, 65535, 600, 3600 },
		{ "user without name", "192.0.2.1", "", ":pw", "", "", 49152, 65535, 600, 3600 },
		{ "user empty password", "192.0.2.1", "", "a:", "", "", 49152, 65535, 600, 3600 },
		{ "five rest secrets", "192.0.2.1", "", "", "a,b,c,d,e", "", 49152, 65535, 600, 3600 },
		{ "bad cidr", "192.0.2.1", "", "a:b", "", "10.0.0.0/8, 300.1.2.3/8", 49152, 65535, 600, 3600 },
		{ "ports reversed", "192.0.2.1", "", "a:b", "", "", 50000, 49999, 600, 3600 },
		{ "default above max lifetime", "192.0.2.1", "", "a:b", "", "", 49152, 65535, 3601, 3600 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		static struct cp_config c;
		c = base();
		strcpy(c.turn_relay_address, bad[i].relay);
		strcpy(c.turn_relay_address6, bad[i].relay6);
		strcpy(c.turn_users, bad[i].users);
		strcpy(c.turn_rest_secrets, bad[i].secrets);
		strcpy(c.turn_peer_allow, bad[i].allow);
		c.turn_port_min = bad[i].pmin;
		c.turn_port_max = bad[i].pmax;
		c.turn_default_lifetime_s = bad[i].def_life;
		c.turn_max_lifetime_s = bad[i].max_life;
		dp_link *l = dp_link_create(&c, -1);
		errno = 0;
		cr_expect_null(cp_turn_create(&c, l), "%s: refused", bad[i].name);
		cr_expect_eq(errno, EINVAL, "%s", bad[i].name);
		dp_link_destroy(l);
	}
	/* and accepted: spaces around list items, IPv6 only, 4 secrets, CIDRs */
	static struct cp_config c;
	c = base();
	strcpy(c.turn_relay_address, "");
	strcpy(c.turn_relay_address6, "2001:db8::1");
	strcpy(c.turn_users, " alice:pass:with:colons ,bob:x");
	strcpy(c.turn_rest_secrets, "a, b,c ,d");
	strcpy(c.turn_peer_allow, "10.0.0.0/8, fd00::/8,127.0.0.1");
	dp_link *l = dp_link_create(&c, -1);
	cp_turn *t = cp_turn_create(&c, l);
	cr_expect_not_null(t);
	cp_turn_destroy(t);
	dp_link_destroy(l);
}

/* An Allocate from worker 1 through on_exc(): the 401, then an
 * authenticated request. */
static void exc_from(cp_turn *t, uint32_t worker, const uint8_t *msg, size_t len)
{
	struct msg_exc_packet h = { .worker = worker, .socket_id = 3, .family = AF_INET,
				    .proto = IPPROTO_UDP, .local_port = htons(3478),
				    .local_addr = { 192, 0, 2, 1 }, .remote_port = htons(40000),
				    .remote_addr = { 198, 51, 100, 10 }, .payload_len = (uint32_t)len };
	on_exc(t, worker, &h, msg);
}

static size_t allocate_req(uint8_t *buf, size_t cap, const char *nonce)
{
	struct stun_builder b;
	uint8_t tid[12] = { 1, 2, 3, 4 }, key[16];
	stun_build_init(&b, buf, cap, STUN_METHOD_ALLOCATE, STUN_CLASS_REQUEST, tid);
	stun_build_add_requested_transport(&b, STUN_TRANSPORT_UDP);
	if (nonce) {
		cr_assert_eq(stun_key_long_term("alice", 5, "streampoint", 11, "pw", 2, key), 0);
		stun_build_add(&b, STUN_ATTR_USERNAME, "alice", 5);
		stun_build_add(&b, STUN_ATTR_REALM, "streampoint", 11);
		stun_build_add(&b, STUN_ATTR_NONCE, nonce, strlen(nonce));
		stun_build_add_integrity(&b, key, 16);
	}
	int n = stun_build_finish(&b);
	cr_assert_gt(n, 0);
	return (size_t)n;
}

Test(cp_turn, detached_install_leaves_nothing_and_events_forget)
{
	static struct cp_config c;
	c = base();
	dp_link *l = dp_link_create(&c, -1);
	cp_turn *t = cp_turn_create(&c, l);
	struct turn_server_stats st;
	uint8_t buf[512];
	char nonce[TURN_NONCE_LEN + 1] = { 0 };
	struct sp_addr client;
	cr_assert_not_null(t);

	sp_addr_parse(&client, "198.51.100.10:40000");
	turn_server_make_nonce(t->ts, &client, clock_mono_ns(), nonce);
	exc_from(t, 1, buf, allocate_req(buf, sizeof(buf), NULL));
	cr_expect_eq(t->n.requests, 1);
	cr_expect_eq(t->n.response_drops, 1, "the 401 could not be queued: not attached");
	exc_from(t, 1, buf, allocate_req(buf, sizeof(buf), nonce));
	turn_server_get_stats(t->ts, &st);
	cr_expect_eq(st.count[TURN_STAT_ALLOCATE_OK], 1);
	cr_expect_eq(st.allocs, 0, "an install that could not be queued is forgotten");
	cr_expect_eq(t->n.effect_drops, 2, "the install, then the removal");
	cr_expect_eq(t->n.responses, 0);
	cr_expect_eq(t->n.response_drops, 1, "and no success response was sent");
	cr_expect_eq(worker_of(t, 1), NO_WORKER);

	/* Events: a failed install, an expiry and a closed TCP/TLS client
	 * connection all make spcp forget. */
	struct turn_5tuple ft = { .client = client, .transport = TURN_TP_UDP };
	sp_addr_parse(&ft.server, "192.0.2.1:3478");
	for (int k = 0; k < 3; k++) {
		struct turn_effect e[8];
		uint8_t resp[512];
		size_t rlen;
		ft.client.port = htons((uint16_t)(41000 + k));
		turn_server_make_nonce(t->ts, &ft.client, clock_mono_ns(), nonce);
		size_t n = allocate_req(buf, sizeof(buf), nonce);
		cr_assert_eq(turn_server_handle(t->ts, &ft, buf, n, clock_mono_ns(), resp, sizeof(resp),
						&rlen), 0);
		cr_assert_eq(turn_server_drain(t->ts, e, 8), 1);
		cr_assert_eq(e[0].type, TURN_EFF_ALLOC_INSTALL);
		map_put(t, e[0].alloc_id, 0);
		turn_server_get_stats(t->ts, &st);
		cr_assert_eq(st.allocs, 1);
		struct msg_turn_event ev = { .kind = k == 2 ? TURN_EV_CLOSED : k ? TURN_EV_EXPIRED : TURN_EV_FAILED,
					     .alloc_id = e[0].alloc_id, .error = -EADDRINUSE,
					     .effect_type = MSG_TURN_ALLOC_INSTALL };
		on_event(t, 0, &ev);
		turn_server_get_stats(t->ts, &st);
		cr_expect_eq(st.allocs, 0, "forgotten after %s", k ? "EXPIRED" : "FAILED");
		cr_expect_eq(worker_of(t, e[0].alloc_id), NO_WORKER);
	}
	cr_expect_eq(t->n.failed, 1);
	cr_expect_eq(t->n.expired, 1);
	cr_expect_eq(t->n.conn_closed, 1);
	cr_expect_eq(t->n.removed_after_event, 4, "the lost install, then these three");
	/* a failed permission for an allocation spdp still has: kept */
	struct msg_turn_event pf = { .kind = TURN_EV_FAILED, .alloc_id = 99, .error = -ENOSPC,
				     .effect_type = MSG_TURN_PERM_INSTALL };
	on_event(t, 0, &pf);
	cr_expect_eq(t->n.removed_after_event, 4);
	/* what spcp ignores */
	struct msg_exc_packet sctp = { .proto = IPPROTO_SCTP, .family = AF_INET };
	on_exc(t, 0, &sctp, buf);
	cr_expect_eq(t->n.ignored, 1);

	cJSON *r = NULL;
	cr_assert_eq(cmd_turn(t, "/turn", NULL, &r), 0);
	cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(r, "enabled")));
	cr_expect_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "counts"), "allocate_ok")->valueint, 4);
	cJSON_Delete(r);
	cp_turn_destroy(t);
	dp_link_destroy(l);
}
