/*
 * test_cp_turn: spcp's TURN wiring (controlplane/turn.c), white-box.
 *
 * The alloc_id -> worker map (open addressing with backward-shift
 * deletion) against a reference model under random operations with forced
 * collisions; the [turn] configuration table of refusals; and the paths
 * that keep spcp's view consistent with spdp without a live spdp: an
 * install that cannot be queued (spdp not attached) leaves no allocation
 * and no response, and FAILED / EXPIRED events from spdp make spcp forget
 * the allocation; the restore after an attach (records imported, refused,
 * stale; requests held back until every worker answered; reconciling only
 * after a complete dump; the timeout); [turn] nonce_secret_file. (The
 * attached paths run in tests/integration/test_turn.py.)
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* ------------------------------------------------------------ restore */

static struct msg_turn_effect st_alloc(uint32_t id, uint16_t client_port, uint16_t relay_port,
				       const char *owner, uint64_t expiry)
{
	struct msg_turn_effect m = { .seq = 77, .type = MSG_TURN_ALLOC_INSTALL, .alloc_id = id,
				     .expiry_ns = expiry, .transport = MSG_TURN_TP_UDP };
	sp_addr_parse(&m.client, "198.51.100.10:1");
	m.client.port = htons(client_port);
	sp_addr_parse(&m.server, "192.0.2.1:3478");
	sp_addr_parse(&m.relay, "192.0.2.1:1");
	m.relay.port = htons(relay_port);
	m.owner_len = (uint16_t)strlen(owner);
	memcpy(m.owner, owner, m.owner_len);
	return m;
}

static struct msg_turn_effect st_perm(uint32_t id, const char *ip, uint64_t expiry)
{
	struct msg_turn_effect m = { .seq = 77, .type = MSG_TURN_PERM_INSTALL, .alloc_id = id,
				     .expiry_ns = expiry };
	sp_addr_parse(&m.peer, ip);
	return m;
}

/* A restore as on_attach() starts it, for two workers (the link is not
 * attached in these tests, so the dump commands themselves cannot go). */
static void begin_restore(cp_turn *t, uint64_t attach)
{
	memset(&t->rs, 0, sizeof(t->rs));
	t->rs.state = RS_RUNNING;
	t->rs.complete = true;
	t->rs.seq = 77;
	t->rs.attach = attach;
	t->rs.pending = 2;
	t->rs.started_ns = clock_mono_ns();
	for (uint32_t i = 0; i <= t->map_mask; i++)
		t->map[i].seen = false;
}

static struct msg_turn_event done_ev(uint32_t a, uint32_t p, uint32_t c)
{
	return (struct msg_turn_event){ .seq = 77, .kind = TURN_EV_DUMP_DONE, .allocs = a,
					.perms = p, .channels = c };
}

Test(cp_turn, restore_imports_refuses_and_reconciles)
{
	static struct cp_config c;
	c = base();
	dp_link *l = dp_link_create(&c, -1);
	cp_turn *t = cp_turn_create(&c, l);
	uint64_t now = clock_mono_ns(), later = now + 600 * 1000000000ull;
	struct turn_server_stats st;
	struct turn_effect e;
	cr_assert_not_null(t);

	/* What this spcp held before the attach: 3 on worker 1, 4 on worker 0. */
	struct msg_turn_effect a3 = st_alloc(3, 40003, 50003, "alice", later);
	struct msg_turn_effect a4 = st_alloc(4, 40004, 50004, "bob", later);
	from_msg(&a3, &e);
	cr_assert_eq(turn_server_restore_alloc(t->ts, &e, now), 0);
	map_put(t, 3, 1);
	from_msg(&a4, &e);
	cr_assert_eq(turn_server_restore_alloc(t->ts, &e, now), 0);
	map_put(t, 4, 0);

	begin_restore(t, 0); /* the link's attach count (it never attached here) */
	t->synced_attach = UINT64_MAX; /* restored for an earlier attach */
	struct msg_turn_effect r;
	on_state(t, 1, &a3);                           /* known: seen */
	r = st_alloc(9, 40009, 50009, "alice", later); /* new: imported on worker 0 */
	on_state(t, 0, &r);
	r = st_perm(9, "198.51.100.77:0", later);
	on_state(t, 0, &r);
	r = st_perm(9, "198.51.100.78:0", later);      /* worker 1 does not hold 9 */
	on_state(t, 1, &r);
	r = st_perm(9, "127.0.0.1:0", later);          /* denied today: removed in spdp */
	on_state(t, 0, &r);
	r = st_alloc(3, 40013, 50013, "carol", later); /* id 3 on another worker */
	on_state(t, 0, &r);
	r = st_alloc(10, 40010, 50010, "alice", now - 1); /* expired */
	on_state(t, 0, &r);
	r = st_alloc(11, 40011, 50011, "alice", later);
	r.seq = 76;                                    /* another dump's */
	on_state(t, 0, &r);
	cr_expect_eq(worker_of(t, 9), 0);
	cr_expect_eq(worker_of(t, 3), 1);
	cr_expect_eq(t->rs.allocs, 1);
	cr_expect_eq(t->rs.perms, 1);
	cr_expect_eq(t->rs.known, 1);
	cr_expect_eq(t->rs.refused, 4);
	cr_expect_eq(t->rs.stale, 1);
	cr_expect_eq(t->n.effect_drops, 3, "three removals for spdp (not attached here)");

	/* requests wait until every worker answered */
	uint8_t buf[512];
	exc_from(t, 0, buf, allocate_req(buf, sizeof(buf), NULL));
	cr_expect_eq(t->n.dropped_restoring, 1);
	cr_expect_eq(t->n.requests, 0);

	struct msg_turn_event d0 = done_ev(3, 2, 0), d1 = done_ev(1, 1, 0);
	on_event(t, 0, &d0);
	cr_expect_eq(t->rs.state, RS_RUNNING);
	on_event(t, 0, &d0); /* twice: ignored */
	cr_expect_eq(t->rs.stale, 2);
	on_event(t, 1, &d1);
	cr_expect_eq(t->rs.state, RS_DONE);
	cr_expect_eq(t->synced_attach, 0);
	exc_from(t, 0, buf, allocate_req(buf, sizeof(buf), NULL));
	cr_expect_eq(t->n.requests, 1, "answered again");
	/* 4 was in spcp, no worker reported it: spdp lost it */
	cr_expect_eq(t->rs.forgotten, 1);
	cr_expect_eq(worker_of(t, 4), NO_WORKER);
	turn_server_get_stats(t->ts, &st);
	cr_expect_eq(st.allocs, 2);
	cr_expect_eq(st.perms, 1);

	cJSON *j = NULL;
	cr_assert_eq(cmd_turn(t, "/turn", NULL, &j), 0);
	cJSON *rj = cJSON_GetObjectItem(j, "restore");
	cr_expect_str_eq(cJSON_GetObjectItem(rj, "state")->valuestring, "done");
	cr_expect_eq(cJSON_GetObjectItem(rj, "allocations")->valueint, 1);
	cJSON_Delete(j);
	cr_assert_eq(cmd_allocs(t, "/turn/allocs", NULL, &j), 0);
	cr_expect_eq(cJSON_GetObjectItem(j, "count")->valueint, 2);
	cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "allocations"), 0);
	cr_expect_str_eq(cJSON_GetObjectItem(first, "user")->valuestring, "alice");
	cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(first, "restored")));
	cJSON_Delete(j);

	/* a dump that lost a record reconciles nothing; records after it still count */
	begin_restore(t, 0);
	on_state(t, 0, &r); /* seq 76: stale */
	struct msg_turn_event short0 = done_ev(1, 0, 0), ok1 = done_ev(0, 0, 0);
	on_event(t, 0, &short0);
	on_event(t, 1, &ok1);
	cr_expect_eq(t->rs.state, RS_DONE);
	cr_expect(!t->rs.complete);
	cr_expect_eq(t->rs.forgotten, 0, "3 and 9 were not reported, but the dump was incomplete");
	turn_server_get_stats(t->ts, &st);
	cr_expect_eq(st.allocs, 2);

	/* a worker that never answers: given up on after 10 s, nothing forgotten */
	begin_restore(t, 0);
	t->synced_attach = UINT64_MAX;
	on_event(t, 0, &ok1);
	cp_turn_tick(t, t->rs.started_ns + RESTORE_TIMEOUT_NS - 1);
	cr_expect_eq(t->rs.state, RS_RUNNING);
	cp_turn_tick(t, t->rs.started_ns + RESTORE_TIMEOUT_NS + 1);
	cr_expect_eq(t->rs.state, RS_TIMED_OUT);
	cr_expect_eq(t->synced_attach, 0, "answering requests again");
	turn_server_get_stats(t->ts, &st);
	cr_expect_eq(st.allocs, 2);
	cp_turn_destroy(t);
	dp_link_destroy(l);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	fclose(f);
}

/* The nonce a cp_turn made from `secret_file` gives for one client and time
 * (empty string: refused at create). */
static void nonce_with(const char *secret_file, char out[TURN_NONCE_LEN + 1])
{
	static struct cp_config c;
	c = base();
	strcpy(c.turn_nonce_secret_file, secret_file);
	dp_link *l = dp_link_create(&c, -1);
	errno = 0;
	cp_turn *t = cp_turn_create(&c, l);
	memset(out, 0, TURN_NONCE_LEN + 1);
	if (t) {
		struct sp_addr a;
		sp_addr_parse(&a, "198.51.100.10:40000");
		turn_server_make_nonce(t->ts, &a, 1000000000ull, out);
	} else {
		cr_expect_eq(errno, EINVAL);
	}
	cp_turn_destroy(t);
	dp_link_destroy(l);
}

Test(cp_turn, nonce_secret_file)
{
	char dir[64], p[128], n1[TURN_NONCE_LEN + 1], n2[TURN_NONCE_LEN + 1];
	uint8_t big[1100];
	snprintf(dir, sizeof(dir), "/tmp/sp-test-cp-turn-%d", (int)getpid());
	cr_assert(mkdir(dir, 0700) == 0 || errno == EEXIST);

	/* the same file: the same nonces (a restart, or two spcps) */
	snprintf(p, sizeof(p), "%s/a", dir);
	write_file(p, "0123456789abcdef0123456789abcdef\n", 33);
	nonce_with(p, n1);
	nonce_with(p, n2);
	cr_expect_eq(strlen(n1), TURN_NONCE_LEN);
	cr_expect_str_eq(n1, n2);
	/* its final newline is not part of the secret */
	snprintf(p, sizeof(p), "%s/b", dir);
	write_file(p, "0123456789abcdef0123456789abcdef", 32);
	nonce_with(p, n2);
	cr_expect_str_eq(n1, n2);
	/* another secret, other nonces */
	write_file(p, "0123456789abcdef0123456789abcdeX", 32);
	nonce_with(p, n2);
	cr_expect_str_neq(n1, n2);
	/* long secrets are hashed, still the same for every reader */
	memset(big, 0xa5, sizeof(big));
	write_file(p, big, 1024);
	nonce_with(p, n1);
	nonce_with(p, n2);
	cr_expect_eq(strlen(n1), TURN_NONCE_LEN);
	cr_expect_str_eq(n1, n2);
	/* no file at all: a random secret per process */
	nonce_with("", n1);
	nonce_with("", n2);
	cr_expect_eq(strlen(n1), TURN_NONCE_LEN);
	cr_expect_str_neq(n1, n2);

	/* refused with a clear error: too short, too long, missing, a directory */
	write_file(p, "0123456789abcde\n", 16);
	nonce_with(p, n1);
	cr_expect_str_empty(n1, "15 bytes");
	write_file(p, big, 1025);
	nonce_with(p, n1);
	cr_expect_str_empty(n1, "1025 bytes");
	write_file(p, "", 0);
	nonce_with(p, n1);
	cr_expect_str_empty(n1, "empty");
	snprintf(p, sizeof(p), "%s/missing", dir);
	nonce_with(p, n1);
	cr_expect_str_empty(n1, "missing");
	nonce_with(dir, n1);
	cr_expect_str_empty(n1, "a directory");

	snprintf(p, sizeof(p), "%s/a", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/b", dir);
	unlink(p);
	rmdir(dir);
}
