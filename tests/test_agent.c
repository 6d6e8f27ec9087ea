/*
 * test_agent: spagent's and the endpoint's pure logic: backoff schedule,
 * rendezvous pick, config validation and lists, HTTP proxy answers, the
 * byte rings that bound every stream's buffer.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "agent_cfg.h"
#include "backoff.h"
#include "bytering.h"
#include "endpoint.h"
#include "hostport.h"
#include "keyhex.h"
#include "proxy.h"

/* ---- backoff ---- */

Test(backoff, ceiling_doubles_to_the_cap)
{
	struct backoff b;
	uint32_t want[] = { 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000 };

	backoff_init(&b, 1000, 60000);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		cr_assert_eq(backoff_ceiling(&b), want[i], "attempt %zu", i);
		backoff_next(&b, 0);
	}
	for (int i = 0; i < 100; i++) /* no overflow however long it fails */
		backoff_next(&b, UINT32_MAX);
	cr_assert_eq(backoff_ceiling(&b), 60000);
	backoff_reset(&b);
	cr_assert_eq(backoff_ceiling(&b), 1000);
}

Test(backoff, full_jitter_spans_zero_to_ceiling)
{
	struct backoff b;

	backoff_init(&b, 1000, 60000);
	cr_assert_eq(backoff_next(&b, 0), 0);
	backoff_init(&b, 1000, 60000);
	cr_assert_eq(backoff_next(&b, UINT32_MAX), 1000);
	backoff_init(&b, 1000, 60000);
	cr_assert_eq(backoff_next(&b, 1u << 31), 500);
	b.attempt = 40;
	uint32_t d = backoff_next(&b, UINT32_MAX);
	cr_assert(d <= 60000 && d >= 59990, "%u", d);
}

Test(backoff, cap_below_base_is_base)
{
	struct backoff b;
	backoff_init(&b, 5000, 10);
	cr_assert_eq(backoff_ceiling(&b), 5000);
}

/* ---- rendezvous ---- */

Test(endpoint, rendezvous_is_deterministic_and_moves_only_the_down_ones)
{
	struct ep_streampoint sp[3] = { { .id = "sp-1" }, { .id = "sp-2" }, { .id = "sp-3" } };
	int before[200], per[3] = { 0 };
	char dev[32];

	cr_assert_eq(ep_rendezvous("cam-1", "sp-1"), ep_rendezvous("cam-1", "sp-1"));
	cr_assert_neq(ep_rendezvous("cam-1", "sp-1"), ep_rendezvous("cam-1", "sp-2"));
	for (int i = 0; i < 200; i++) {
		snprintf(dev, sizeof(dev), "cam-%04d", i);
		before[i] = ep_pick(sp, 3, dev);
		cr_assert(before[i] >= 0 && before[i] < 3);
		per[before[i]]++;
	}
	for (int i = 0; i < 3; i++) /* spread: each gets a fair share */
		cr_assert(per[i] > 40, "sp %d got %d of 200", i, per[i]);
	sp[1].down = true;
	for (int i = 0; i < 200; i++) {
		snprintf(dev, sizeof(dev), "cam-%04d", i);
		int now = ep_pick(sp, 3, dev);
		cr_assert_neq(now, 1);
		if (before[i] != 1)
			cr_assert_eq(now, before[i], "device %d moved without cause", i);
	}
	sp[0].down = sp[2].down = true;
	cr_assert_eq(ep_pick(sp, 3, "cam-1"), -1);
	cr_assert_eq(ep_pick(sp, 0, "cam-1"), -1);
}

/* An avoided streampoint is skipped like a down one, for that device only:
 * the device gets its second choice, the others keep theirs. */
Test(endpoint, pick_avoid_skips_only_the_avoided)
{
	struct ep_streampoint sp[3] = { { .id = "sp-1" }, { .id = "sp-2" }, { .id = "sp-3" } };
	char dev[32];

	for (int i = 0; i < 100; i++) {
		snprintf(dev, sizeof(dev), "cam-%04d", i);
		int first = ep_pick(sp, 3, dev);
		cr_assert_eq(ep_pick_avoid(sp, 3, dev, 0), first);
		int second = ep_pick_avoid(sp, 3, dev, 1ull << first);
		cr_assert(second >= 0 && second != first);
		sp[first].down = true; /* the same as its next pick when first is down */
		cr_assert_eq(ep_pick(sp, 3, dev), second);
		sp[first].down = false;
		cr_assert_eq(ep_pick_avoid(sp, 3, dev, 7), -1);
		cr_assert_eq(ep_pick_avoid(sp, 3, dev, 1ull << 5), first, "bits past n are ignored");
	}
}

/* ---- lists ---- */

struct sp_case {
	const char *in;
	int rc;
	const char *id0, *addr0;
};

Test(endpoint, streampoint_lists)
{
	static const struct sp_case cases[] = {
		{ "", 0, NULL, NULL },
		{ "   ", 0, NULL, NULL },
		{ "sp-1@10.0.0.1:443", 1, "sp-1", "10.0.0.1:443" },
		{ " sp-1@a.example:8443 , sp-2@[::1]:443", 2, "sp-1", "a.example:8443" },
		{ "sp-1@10.0.0.1:443,sp-1@10.0.0.2:443", -EINVAL, NULL, NULL }, /* duplicate id */
		{ "sp-1@10.0.0.1", -EINVAL, NULL, NULL },
		{ "sp-1@10.0.0.1:0", -EINVAL, NULL, NULL },
		{ "sp-1@10.0.0.1:65536", -EINVAL, NULL, NULL },
		{ "@10.0.0.1:443", -EINVAL, NULL, NULL },
		{ "sp 1@10.0.0.1:443", -EINVAL, NULL, NULL },
		{ "sp-1@10.0.0.1:443,", -EINVAL, NULL, NULL },
		{ ",sp-1@10.0.0.1:443", -EINVAL, NULL, NULL },
		{ "sp-1@@10.0.0.1:443", -EINVAL, NULL, NULL },
		{ "10.0.0.1:443", -EINVAL, NULL, NULL },
		{ "sp-1@10.0.0.1:443,sp-2@10.0.0.2:443,sp-3@10.0.0.3:443", -E2BIG, NULL, NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ep_streampoint sp[2];
		char err[128];
		int rc = ep_streampoints_parse(cases[i].in, sp, 2, err, sizeof(err));
		cr_assert_eq(rc, cases[i].rc, "'%s': %d (%s)", cases[i].in, rc, err);
		if (rc < 0)
			cr_assert(err[0], "'%s': no error text", cases[i].in);
		if (cases[i].id0) {
			cr_assert_str_eq(sp[0].id, cases[i].id0);
			cr_assert_str_eq(sp[0].addr, cases[i].addr0);
			cr_assert(!sp[0].down);
		}
	}
}

Test(endpoint, id_lists)
{
	char ids[2][65], err[128];

	cr_assert_eq(ep_ids_parse("", ids, 2, err, sizeof(err)), 0);
	cr_assert_eq(ep_ids_parse("cam-1, cam:2", ids, 2, err, sizeof(err)), 2);
	cr_assert_str_eq(ids[1], "cam:2");
	cr_assert_eq(ep_ids_parse("cam 1", ids, 2, err, sizeof(err)), -EINVAL);
	cr_assert_eq(ep_ids_parse("a,,b", ids, 2, err, sizeof(err)), -EINVAL);
	cr_assert_eq(ep_ids_parse("a,b,c", ids, 2, err, sizeof(err)), -E2BIG);
}

struct hp_case {
	const char *in;
	int rc;
	const char *host;
	unsigned port;
};

Test(agent, hostport)
{
	static const struct hp_case cases[] = {
		{ "127.0.0.1:554", 0, "127.0.0.1", 554 },
		{ "[::1]:443", 0, "::1", 443 },
		{ "cam.local:80", 0, "cam.local", 80 },
		{ "cam.local:65535", 0, "cam.local", 65535 },
		{ "cam.local:0", -EINVAL, NULL, 0 },
		{ "cam.local:080", -EINVAL, NULL, 0 },
		{ "cam.local", -EINVAL, NULL, 0 },
		{ ":80", -EINVAL, NULL, 0 },
		{ "::1:80", -EINVAL, NULL, 0 },
		{ "-x:80", -EINVAL, NULL, 0 },
		{ "a b:80", -EINVAL, NULL, 0 },
		{ "[..]:6", -EINVAL, NULL, 0 }, /* fuzzer: brackets without IPv6 */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hostport hp;
		int rc = hostport_parse(cases[i].in, strlen(cases[i].in), &hp);
		cr_assert_eq(rc, cases[i].rc, "'%s'", cases[i].in);
		if (!rc) {
			char back[300];
			cr_assert_str_eq(hp.host, cases[i].host);
			cr_assert_eq(hp.port, cases[i].port);
			cr_assert(hostport_format(&hp, back, sizeof(back)) > 0);
			cr_assert_str_eq(back, cases[i].in);
		}
	}
	struct hostport l[3];
	char err[128];
	cr_assert_eq(hostport_list_parse(" a:1 , b:2", l, 3, err, sizeof(err)), 2);
	cr_assert_eq(hostport_list_parse("", l, 3, err, sizeof(err)), 0);
	cr_assert_eq(hostport_list_parse("a:1,,b:2", l, 3, err, sizeof(err)), -EINVAL);
	cr_assert_eq(hostport_list_parse("a:1,b:2,c:3,d:4", l, 3, err, sizeof(err)), -E2BIG);
}

/* ---- configuration ---- */

static void base_cfg(struct agent_config *c)
{
	char err[256];
	cr_assert_eq(cfg_defaults(agent_cfg_keys, agent_cfg_nkeys, c, err, sizeof(err)), 0, "%s", err);
	strcpy(c->endpoints, "ep1.example:443,ep2.example:443");
	strcpy(c->allow, "127.0.0.1:554,127.0.0.1:80");
}

Test(agent, config_validation)
{
	struct agent_config c;
	struct agent_conf out;
	char err[256];

	base_cfg(&c);
	cr_assert_eq(agent_cfg_check(&c, &out, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(out.nendpoints, 2);
	cr_assert_eq(out.nallow, 2);
	cr_assert(!out.use_proxy);
	cr_assert(agent_cfg_allowed(&out, "127.0.0.1:554", 13));
	cr_assert(!agent_cfg_allowed(&out, "127.0.0.1:555", 13));
	cr_assert(!agent_cfg_allowed(&out, "127.0.0.2:554", 13));
	cr_assert(!agent_cfg_allowed(&out, "127.0.0.1:5540", 14));
	cr_assert(!agent_cfg_allowed(&out, "garbage", 7));

	base_cfg(&c); c.endpoints[0] = '\0';
	cr_assert_eq(agent_cfg_check(&c, &out, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "endpoint"), "%s", err);
	base_cfg(&c); strcpy(c.device_id, "bad id");
	cr_assert_eq(agent_cfg_check(&c, &out, err, sizeof(err)), -EINVAL);
	base_cfg(&c); strcpy(c.allow, "127.0.0.1");
	cr_assert_eq(agent_cfg_check(&c, &out, err, sizeof(err)), -EINVAL);
	base_cfg(&c); strcpy(c.tls_min_version, "1.1");
	cr_assert_eq(agent_cfg_check(&c, &out, err, sizeof(err)), -EINVAL);
	base_cfg(&c); c.backoff_base_ms = 5000; c.backoff_cap_ms = 1000;
	cr_assert_eq(agent_cfg_check(&c, &out, err, sizeof(err)), -EINVAL);
	base_cfg(&c); strcpy(c.proxy_auth, "u:p");
	cr_assert_eq(agent_cfg_check(&c, &out, err, sizeof(err)), -EINVAL); /* no proxy */
	base_cfg(&c); strcpy(c.proxy, "proxy.lan:3128"); strcpy(c.proxy_auth, "u:p");
	cr_assert_eq(agent_cfg_check(&c, &out, err, sizeof(err)), 0, "%s", err);
	cr_assert(out.use_proxy && out.proxy.port == 3128);
	base_cfg(&c); strcpy(c.server_id, "ep 1");
	cr_assert_eq(agent_cfg_check(&c, &out, err, sizeof(err)), -EINVAL);
	base_cfg(&c); c.queue = 1000;
	cr_assert_eq(agent_cfg_check(&c, &out, err, sizeof(err)), -EINVAL);
	/* the list keys append across lines and -o flags */
	base_cfg(&c); c.endpoints[0] = '\0';
	cr_assert_eq(cfg_load_string(agent_cfg_keys, agent_cfg_nkeys, &c,
				     "[agent]\nendpoint = a:1\nendpoint = b:2\n", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cfg_override(agent_cfg_keys, agent_cfg_nkeys, &c, "agent.endpoint=c:3", err,
				  sizeof(err)), 0);
	cr_assert_eq(agent_cfg_check(&c, &out, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(out.nendpoints, 3);
	cr_assert_str_eq(out.endpoints[2].host, "c");
}

Test(agent, keyhex)
{
	uint8_t k[64];
	cr_assert_eq(keyhex_parse(" 00ff10\n", 8, k, 1, 64), 3);
	cr_assert_eq(k[1], 0xff);
	cr_assert_eq(keyhex_parse("0g", 2, k, 1, 64), -EINVAL);
	cr_assert_eq(keyhex_parse("abc", 3, k, 1, 64), -EINVAL);
	cr_assert_eq(keyhex_parse("ab", 2, k, 2, 64), -EINVAL);
	cr_assert_eq(keyhex_parse("ab cd", 5, k, 1, 64), -EINVAL);
	cr_assert_eq(keyhex_read("/nonexistent/key", k, 1, 64), -ENOENT);
}

/* ---- proxy ---- */

struct px_case {
	const char *in;
	enum proxy_err e;
	int status;
};

Test(proxy, responses)
{
	static const struct px_case cases[] = {
		{ "HTTP/1.1 200 Connection established\r\n\r\n", PROXY_OK, 200 },
		{ "HTTP/1.0 200 OK\r\nProxy-Agent: x\r\n\r\n", PROXY_OK, 200 },
		{ "HTTP/1.1 200\r\n\r\n", PROXY_OK, 200 },
		{ "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n",
		  PROXY_REFUSED, 407 },
		{ "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", PROXY_REFUSED, 403 },
		{ "HTTP/1.1 200 OK\r\n", PROXY_NEED_MORE, 200 },
		{ "HTTP/1.1 20", PROXY_NEED_MORE, 0 },
		{ "", PROXY_NEED_MORE, 0 },
		{ "HTTP/1.1 200 OK\n\n", PROXY_BAD_EOL, 0 },
		{ "HTTP/1.1 200 OK\r\nX: y\n\r\n", PROXY_BAD_EOL, 200 },
		{ "HTTP/1.1 200 OK\r\r\n", PROXY_BAD_EOL, 0 },
		{ "HTTP/2 200 OK\r\n\r\n", PROXY_BAD_STATUS_LINE, 0 },
		{ "HTTP/1.1 2000 OK\r\n\r\n", PROXY_BAD_STATUS_LINE, 0 },
		{ "HTTP/1.1 099 OK\r\n\r\n", PROXY_BAD_STATUS_LINE, 0 },
		{ "SSH-2.0-OpenSSH\r\n\r\n", PROXY_BAD_STATUS_LINE, 0 },
		{ "HTTP/1.1 200 OK\r\nno colon\r\n\r\n", PROXY_BAD_HEADER, 200 },
		{ "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n", PROXY_BAD_HEADER, 200 },
		{ "HTTP/1.1 200 OK\r\nX: a\x01\r\n\r\n", PROXY_BAD_HEADER, 200 },
		{ "HTTP/1.1 200 OK\r\n\r\n\x16\x03", PROXY_TRAILING, 200 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int status;
		size_t hl;
		enum proxy_err e = proxy_response_parse(cases[i].in, strlen(cases[i].in), &status, &hl);
		cr_assert_eq(e, cases[i].e, "case %zu: %s, want %s", i, proxy_err_name(e),
			     proxy_err_name(cases[i].e));
		if (e == PROXY_OK || e == PROXY_REFUSED)
			cr_assert_eq(status, cases[i].status, "case %zu", i);
	}
	/* every prefix of a good answer needs more, at every split */
	const char *ok = "HTTP/1.1 200 Connection established\r\nVia: 1.1 squid\r\n\r\n";
	for (size_t n = 0; n < strlen(ok); n++) {
		int status;
		size_t hl;
		cr_assert_eq(proxy_response_parse(ok, n, &status, &hl), PROXY_NEED_MORE, "prefix %zu", n);
	}
	/* an endless header is cut at PROXY_RESP_MAX */
	static char big[PROXY_RESP_MAX + 10];
	memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
	memset(big + 20, 'a', sizeof(big) - 20);
	int status;
	size_t hl;
	cr_assert_eq(proxy_response_parse(big, sizeof(big), &status, &hl), PROXY_TOO_LARGE);
}

Test(proxy, request)
{
	char out[512];
	int n = proxy_connect_request(out, sizeof(out), "ep.example:443", NULL);
	cr_assert_gt(n, 0);
	cr_assert_str_eq(out, "CONNECT ep.example:443 HTTP/1.1\r\nHost: ep.example:443\r\n\r\n");
	n = proxy_connect_request(out, sizeof(out), "ep.example:443", "user:pass");
	cr_assert(strstr(out, "Proxy-Authorization: Basic dXNlcjpwYXNz\r\n"), "%s", out);
	cr_assert_eq(proxy_connect_request(out, sizeof(out), "ep.example", NULL), -EINVAL);
	cr_assert_eq(proxy_connect_request(out, sizeof(out), "a:1", "nocolon"), -EINVAL);
	cr_assert_eq(proxy_connect_request(out, sizeof(out), "a:1", "u:p\r\nX: y"), -EINVAL);
	cr_assert_eq(proxy_connect_request(out, 10, "ep.example:443", NULL), -ENOSPC);
}

/* ---- byte rings ---- */

Test(bytering, bounded_fifo_with_wraparound)
{
	struct bytering r;
	uint8_t in[100], out[100];
	struct iovec iov[2];

	for (int i = 0; i < 100; i++)
		in[i] = (uint8_t)i;
	bytering_init(&r, 64);
	cr_assert_null(r.buf, "no storage before use");
	cr_assert_eq(bytering_push(&r, in, 100), 64, "bounded");
	cr_assert_eq(bytering_room(&r), 0);
	cr_assert_eq(bytering_push(&r, in, 1), 0);
	cr_assert_eq(bytering_data(&r, iov, 40), 1);
	cr_assert_eq(iov[0].iov_len, 40);
	bytering_consume(&r, 40);
	cr_assert_eq(bytering_push(&r, in + 64, 30), 30);
	/* data now wraps: two segments, in order */
	int c = bytering_data(&r, iov, SIZE_MAX);
	cr_assert_eq(c, 2);
	size_t got = 0;
	for (int i = 0; i < c; i++) {
		memcpy(out + got, iov[i].iov_base, iov[i].iov_len);
		got += iov[i].iov_len;
	}
	cr_assert_eq(got, 54);
	cr_assert_arr_eq(out, in + 40, 54);
	/* space is also given as segments, commit makes it data */
	bytering_consume(&r, 54);
	cr_assert_eq(bytering_len(&r), 0);
	c = bytering_space(&r, iov, 10);
	cr_assert_eq(c, 1);
	memset(iov[0].iov_base, 7, 10);
	bytering_commit(&r, 10);
	cr_assert_eq(bytering_len(&r), 10);
	bytering_release(&r);
	cr_assert_not_null(r.buf, "not released while holding data");
	bytering_consume(&r, 10);
	bytering_release(&r);
	cr_assert_null(r.buf, "released when empty");
	bytering_free(&r);
}

Test(bytering, every_split_preserves_order)
{
	uint8_t in[300], out[300];
	for (int i = 0; i < 300; i++)
		in[i] = (uint8_t)(i * 7);
	for (size_t cap = 1; cap <= 64; cap += 7) {
		struct bytering r;
		size_t pushed = 0, popped = 0;
		bytering_init(&r, cap);
		while (popped < sizeof(in)) {
			pushed += bytering_push(&r, in + pushed, (sizeof(in) - pushed) % 13 + 1 > sizeof(in) - pushed ?
						sizeof(in) - pushed : (sizeof(in) - pushed) % 13 + 1);
			struct iovec iov[2];
			int c = bytering_data(&r, iov, popped % 5 + 1);
			for (int i = 0; i < c; i++) {
				memcpy(out + popped, iov[i].iov_base, iov[i].iov_len);
				popped += iov[i].iov_len;
				bytering_consume(&r, iov[i].iov_len);
			}
			cr_assert(bytering_len(&r) <= cap);
		}
		cr_assert_arr_eq(out, in, sizeof(in), "cap %zu", cap);
		bytering_free(&r);
	}
}
