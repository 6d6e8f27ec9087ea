/*
 * test_turn_policy: the TURN peer deny-list as a table: every denied range
 * with both edges, the public addresses just outside them, IPv4-mapped and
 * IPv4-compatible spellings (normalised before the check), relay-self, and
 * allow-list overrides.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "turn_policy.h"

/* A raw address as a STUN decoder gives it: no normalisation here. */
static struct sp_addr ip(const char *s)
{
	struct sp_addr a = { 0 };
	if (inet_pton(AF_INET, s, a.ip) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, s, a.ip) == 1)
		a.family = AF_INET6;
	else
		cr_assert_fail("bad test address %s", s);
	a.port = htons(3478);
	return a;
}

struct vcase {
	const char *addr;
	enum turn_peer_verdict want;
};

static const struct vcase table[] = {
	/* 0.0.0.0/8 */
	{ "0.0.0.0", TURN_PEER_DENY_UNSPECIFIED },
	{ "0.255.255.255", TURN_PEER_DENY_UNSPECIFIED },
	{ "1.0.0.0", TURN_PEER_ALLOWED },
	/* loopback */
	{ "126.255.255.255", TURN_PEER_ALLOWED },
	{ "127.0.0.0", TURN_PEER_DENY_LOOPBACK },
	{ "127.0.0.1", TURN_PEER_DENY_LOOPBACK },
	{ "127.255.255.255", TURN_PEER_DENY_LOOPBACK },
	{ "128.0.0.0", TURN_PEER_ALLOWED },
	/* RFC 1918 */
	{ "9.255.255.255", TURN_PEER_ALLOWED },
	{ "10.0.0.0", TURN_PEER_DENY_PRIVATE },
	{ "10.255.255.255", TURN_PEER_DENY_PRIVATE },
	{ "11.0.0.0", TURN_PEER_ALLOWED },
	{ "172.15.255.255", TURN_PEER_ALLOWED },
	{ "172.16.0.0", TURN_PEER_DENY_PRIVATE },
	{ "172.31.255.255", TURN_PEER_DENY_PRIVATE },
	{ "172.32.0.0", TURN_PEER_ALLOWED },
	{ "192.167.255.255", TURN_PEER_ALLOWED },
	{ "192.168.0.0", TURN_PEER_DENY_PRIVATE },
	{ "192.168.255.255", TURN_PEER_DENY_PRIVATE },
	{ "192.169.0.0", TURN_PEER_ALLOWED },
	/* CGNAT 100.64/10 */
	{ "100.63.255.255", TURN_PEER_ALLOWED },
	{ "100.64.0.0", TURN_PEER_DENY_CGNAT },
	{ "100.127.255.255", TURN_PEER_DENY_CGNAT },
	{ "100.128.0.0", TURN_PEER_ALLOWED },
	/* link-local, cloud metadata */
	{ "169.253.255.255", TURN_PEER_ALLOWED },
	{ "169.254.0.0", TURN_PEER_DENY_LINK_LOCAL },
	{ "169.254.169.254", TURN_PEER_DENY_LINK_LOCAL },
	{ "169.254.255.255", TURN_PEER_DENY_LINK_LOCAL },
	{ "169.255.0.0", TURN_PEER_ALLOWED },
	/* multicast, reserved, broadcast */
	{ "223.255.255.255", TURN_PEER_ALLOWED },
	{ "224.0.0.0", TURN_PEER_DENY_MULTICAST },
	{ "239.255.255.255", TURN_PEER_DENY_MULTICAST },
	{ "240.0.0.0", TURN_PEER_DENY_RESERVED },
	{ "255.255.255.254", TURN_PEER_DENY_RESERVED },
	{ "255.255.255.255", TURN_PEER_DENY_BROADCAST },
	/* public */
	{ "8.8.8.8", TURN_PEER_ALLOWED },
	{ "1.1.1.1", TURN_PEER_ALLOWED },
	{ "198.51.100.7", TURN_PEER_ALLOWED },
	/* IPv6 */
	{ "::", TURN_PEER_DENY_UNSPECIFIED },
	{ "::1", TURN_PEER_DENY_LOOPBACK },
	{ "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", TURN_PEER_ALLOWED },
	{ "fc00::", TURN_PEER_DENY_ULA },
	{ "fd12:3456::1", TURN_PEER_DENY_ULA },
	{ "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", TURN_PEER_DENY_ULA },
	{ "fe00::", TURN_PEER_ALLOWED },
	{ "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", TURN_PEER_ALLOWED },
	{ "fe80::", TURN_PEER_DENY_LINK_LOCAL },
	{ "fe80::1", TURN_PEER_DENY_LINK_LOCAL },
	{ "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", TURN_PEER_DENY_LINK_LOCAL },
	{ "fec0::", TURN_PEER_ALLOWED },
	{ "ff02::1", TURN_PEER_DENY_MULTICAST },
	{ "2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", TURN_PEER_ALLOWED },
	{ "2002::", TURN_PEER_DENY_6TO4 },
	{ "2002:7f00:1::", TURN_PEER_DENY_6TO4 },
	{ "2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", TURN_PEER_DENY_6TO4 },
	{ "2003::", TURN_PEER_ALLOWED },
	{ "2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", TURN_PEER_ALLOWED },
	{ "2001::", TURN_PEER_DENY_TEREDO },
	{ "2001:0:ffff:ffff:ffff:ffff:ffff:ffff", TURN_PEER_DENY_TEREDO },
	{ "2001:1::", TURN_PEER_ALLOWED },
	{ "2001:4860:4860::8888", TURN_PEER_ALLOWED },
	{ "2a00:1450::1", TURN_PEER_ALLOWED },
	/* IPv4-mapped ::ffff:0:0/96, normalised first */
	{ "::ffff:127.0.0.1", TURN_PEER_DENY_LOOPBACK },
	{ "::ffff:10.1.2.3", TURN_PEER_DENY_PRIVATE },
	{ "::ffff:169.254.169.254", TURN_PEER_DENY_LINK_LOCAL },
	{ "::ffff:0.0.0.0", TURN_PEER_DENY_UNSPECIFIED },
	{ "::ffff:255.255.255.255", TURN_PEER_DENY_BROADCAST },
	{ "::ffff:8.8.8.8", TURN_PEER_ALLOWED },
	/* IPv4-compatible ::/96 (deprecated, still routable by some stacks) */
	{ "::127.0.0.1", TURN_PEER_DENY_LOOPBACK },
	{ "::192.168.1.1", TURN_PEER_DENY_PRIVATE },
	{ "::169.254.169.254", TURN_PEER_DENY_LINK_LOCAL },
	{ "::0.0.0.2", TURN_PEER_DENY_UNSPECIFIED },
	{ "::8.8.8.8", TURN_PEER_ALLOWED },
	/* neither mapped nor compatible: just IPv6 */
	{ "::fffe:7f00:1", TURN_PEER_ALLOWED },
	{ "0:0:0:0:1:ffff:7f00:1", TURN_PEER_ALLOWED },
};

Test(turn_policy, deny_list_table)
{
	struct turn_policy *p = turn_policy_create();
	cr_assert_not_null(p);
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		struct sp_addr a = ip(table[i].addr);
		enum turn_peer_verdict v = turn_policy_check(p, &a);
		cr_expect_eq(v, table[i].want, "%s: got %s want %s", table[i].addr,
			     turn_peer_verdict_name(v), turn_peer_verdict_name(table[i].want));
	}
	/* A NULL policy is the default deny-list. */
	struct sp_addr lo = ip("127.0.0.1");
	cr_expect_eq(turn_policy_check(NULL, &lo), TURN_PEER_DENY_LOOPBACK);
	turn_policy_destroy(p);
}

Test(turn_policy, normalise)
{
	struct sp_addr a = ip("::ffff:127.0.0.1");
	cr_assert(turn_policy_normalise(&a));
	cr_expect_eq(a.family, AF_INET);
	cr_expect_eq(a.port, htons(3478));
	cr_expect_arr_eq(a.ip, ((uint8_t[16]){ 127, 0, 0, 1 }), 16);
	a = ip("::127.0.0.1");
	cr_assert(turn_policy_normalise(&a));
	cr_expect_eq(a.family, AF_INET);
	a = ip("::1");
	cr_expect_not(turn_policy_normalise(&a));
	a = ip("::");
	cr_expect_not(turn_policy_normalise(&a));
	a = ip("8.8.8.8");
	cr_expect_not(turn_policy_normalise(&a));
	a = ip("2001:db8::1");
	cr_expect_not(turn_policy_normalise(&a));
}

Test(turn_policy, bad_family)
{
	struct sp_addr a = { 0 };
	cr_expect_eq(turn_policy_check(NULL, &a), TURN_PEER_DENY_FAMILY);
	a.family = 99;
	cr_expect_eq(turn_policy_check(NULL, &a), TURN_PEER_DENY_FAMILY);
	cr_expect_str_eq(turn_peer_verdict_name(TURN_PEER_VERDICT__COUNT), "unknown");
	cr_expect_str_eq(turn_peer_verdict_name(TURN_PEER_DENY_TEREDO), "deny_teredo");
}

Test(turn_policy, relay_self)
{
	struct turn_policy *p = turn_policy_create();
	struct sp_addr relay = ip("203.0.113.1"), relay6 = ip("2001:db8::1");
	cr_assert_eq(turn_policy_add_relay_addr(p, &relay), 0);
	cr_assert_eq(turn_policy_add_relay_addr(p, &relay6), 0);
	struct sp_addr a = ip("203.0.113.1");
	a.port = htons(50000); /* any port of it */
	cr_expect_eq(turn_policy_check(p, &a), TURN_PEER_DENY_RELAY_SELF);
	a = ip("::ffff:203.0.113.1");
	cr_expect_eq(turn_policy_check(p, &a), TURN_PEER_DENY_RELAY_SELF);
	a = ip("2001:db8::1");
	cr_expect_eq(turn_policy_check(p, &a), TURN_PEER_DENY_RELAY_SELF);
	a = ip("203.0.113.2");
	cr_expect_eq(turn_policy_check(p, &a), TURN_PEER_ALLOWED);
	/* The allow-list does not override relay-self. */
	cr_assert_eq(turn_policy_allow_cidr(p, "203.0.113.0/24"), 0);
	a = ip("203.0.113.1");
	cr_expect_eq(turn_policy_check(p, &a), TURN_PEER_DENY_RELAY_SELF);
	struct sp_addr unset = { 0 };
	cr_expect_eq(turn_policy_add_relay_addr(p, &unset), -EINVAL);
	for (int i = 2; i < TURN_POLICY_MAX_RELAY; i++)
		cr_assert_eq(turn_policy_add_relay_addr(p, &relay), 0);
	cr_expect_eq(turn_policy_add_relay_addr(p, &relay), -ENOSPC);
	turn_policy_destroy(p);
}

Test(turn_policy, allow_list_overrides)
{
	struct turn_policy *p = turn_policy_create();
	cr_assert_eq(turn_policy_allow_cidr(p, "10.0.0.0/8"), 0);
	cr_assert_eq(turn_policy_allow_cidr(p, "192.168.1.5"), 0);
	cr_assert_eq(turn_policy_allow_cidr(p, "fd00::/8"), 0);
	cr_assert_eq(turn_policy_allow_cidr(p, "::ffff:127.0.0.0/104"), 0); /* = 127/8 */
	cr_assert_eq(turn_policy_allow_cidr(p, "0.0.0.0/0"), 0);

	struct {
		const char *addr;
		enum turn_peer_verdict want;
	} t[] = {
		{ "10.1.2.3", TURN_PEER_ALLOWED },
		{ "::ffff:10.1.2.3", TURN_PEER_ALLOWED },
		{ "192.168.1.5", TURN_PEER_ALLOWED },
		{ "192.168.1.6", TURN_PEER_ALLOWED }, /* by 0.0.0.0/0 */
		{ "127.0.0.1", TURN_PEER_ALLOWED },
		{ "fd00::1", TURN_PEER_ALLOWED },
		{ "fc00::1", TURN_PEER_DENY_ULA },
		{ "::1", TURN_PEER_DENY_LOOPBACK },
		/* "this host" is never allowed */
		{ "0.0.0.0", TURN_PEER_DENY_UNSPECIFIED },
		{ "0.1.2.3", TURN_PEER_DENY_UNSPECIFIED },
		{ "::", TURN_PEER_DENY_UNSPECIFIED },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct sp_addr a = ip(t[i].addr);
		cr_expect_eq(turn_policy_check(p, &a), t[i].want, "%s", t[i].addr);
	}
	turn_policy_destroy(p);
}

Test(turn_policy, allow_list_narrow)
{
	struct turn_policy *p = turn_policy_create();
	cr_assert_eq(turn_policy_allow_cidr(p, "172.16.0.0/13"), 0);
	struct sp_addr a = ip("172.23.255.255");
	cr_expect_eq(turn_policy_check(p, &a), TURN_PEER_ALLOWED);
	a = ip("172.24.0.0");
	cr_expect_eq(turn_policy_check(p, &a), TURN_PEER_DENY_PRIVATE);
	turn_policy_destroy(p);
}

Test(turn_policy, bad_cidrs)
{
	struct turn_policy *p = turn_policy_create();
	static const char *bad[] = { "", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1",
				     "10.0.0.0/8x", "::/129", "hello", "10.0.0/8",
				     "10.0.0.0/8/8", "1.2.3.4 /8" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(turn_policy_allow_cidr(p, bad[i]), -EINVAL, "%s", bad[i]);
	cr_expect_eq(turn_policy_allow_cidr(p, NULL), -EINVAL);
	for (int i = 0; i < TURN_POLICY_MAX_ALLOW; i++)
		cr_assert_eq(turn_policy_allow_cidr(p, "8.8.8.8/32"), 0);
	cr_expect_eq(turn_policy_allow_cidr(p, "8.8.8.8/32"), -ENOSPC);
	turn_policy_destroy(p);
}
