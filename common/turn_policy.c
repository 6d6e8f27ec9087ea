/*
 * turn_policy: the TURN peer deny-list and its allow-list overrides (see
 * turn_policy.h). Ranges are a static table of (family, prefix, length,
 * verdict), walked in order; the allow-list is a fixed array. A peer is
 * normalised to IPv4 first when it is IPv4-mapped or IPv4-compatible, so
 * no IPv6 spelling reaches an IPv4 address the table denies.
 */
#include "turn_policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct cidr {
	uint8_t family; /* AF_INET / AF_INET6 */
	uint8_t bits;
	uint8_t ip[16];
};

struct turn_policy {
	unsigned n_allow;
	unsigned n_relay;
	struct cidr allow[TURN_POLICY_MAX_ALLOW];
	struct sp_addr relay[TURN_POLICY_MAX_RELAY];
};

struct deny_range {
	struct cidr c;
	enum turn_peer_verdict v;
};

#define V4(a, b, c_, d) { a, b, c_, d }
/* Order matters only where ranges nest: broadcast before 240/4. */
static const struct deny_range deny[] = {
	{ { AF_INET, 8, V4(0, 0, 0, 0) }, TURN_PEER_DENY_UNSPECIFIED },
	{ { AF_INET, 8, V4(127, 0, 0, 0) }, TURN_PEER_DENY_LOOPBACK },
	{ { AF_INET, 8, V4(10, 0, 0, 0) }, TURN_PEER_DENY_PRIVATE },
	{ { AF_INET, 12, V4(172, 16, 0, 0) }, TURN_PEER_DENY_PRIVATE },
	{ { AF_INET, 16, V4(192, 168, 0, 0) }, TURN_PEER_DENY_PRIVATE },
	{ { AF_INET, 10, V4(100, 64, 0, 0) }, TURN_PEER_DENY_CGNAT },
	{ { AF_INET, 16, V4(169, 254, 0, 0) }, TURN_PEER_DENY_LINK_LOCAL },
	{ { AF_INET, 4, V4(224, 0, 0, 0) }, TURN_PEER_DENY_MULTICAST },
	{ { AF_INET, 32, V4(255, 255, 255, 255) }, TURN_PEER_DENY_BROADCAST },
	{ { AF_INET, 4, V4(240, 0, 0, 0) }, TURN_PEER_DENY_RESERVED },
	{ { AF_INET6, 128, { 0 } }, TURN_PEER_DENY_UNSPECIFIED },
	{ { AF_INET6, 128, { [15] = 1 } }, TURN_PEER_DENY_LOOPBACK },
	{ { AF_INET6, 7, { 0xfc } }, TURN_PEER_DENY_ULA },
	{ { AF_INET6, 10, { 0xfe, 0x80 } }, TURN_PEER_DENY_LINK_LOCAL },
	{ { AF_INET6, 8, { 0xff } }, TURN_PEER_DENY_MULTICAST },
	{ { AF_INET6, 16, { 0x20, 0x02 } }, TURN_PEER_DENY_6TO4 },
	{ { AF_INET6, 32, { 0x20, 0x01, 0x00, 0x00 } }, TURN_PEER_DENY_TEREDO },
};

static const char *const verdict_names[TURN_PEER_VERDICT__COUNT] = {
	[TURN_PEER_ALLOWED] = "allowed",
	[TURN_PEER_DENY_FAMILY] = "deny_family",
	[TURN_PEER_DENY_UNSPECIFIED] = "deny_unspecified",
	[TURN_PEER_DENY_LOOPBACK] = "deny_loopback",
	[TURN_PEER_DENY_PRIVATE] = "deny_private",
	[TURN_PEER_DENY_CGNAT] = "deny_cgnat",
	[TURN_PEER_DENY_LINK_LOCAL] = "deny_link_local",
	[TURN_PEER_DENY_MULTICAST] = "deny_multicast",
	[TURN_PEER_DENY_RESERVED] = "deny_reserved",
	[TURN_PEER_DENY_BROADCAST] = "deny_broadcast",
	[TURN_PEER_DENY_ULA] = "deny_ula",
	[TURN_PEER_DENY_6TO4] = "deny_6to4",
	[TURN_PEER_DENY_TEREDO] = "deny_teredo",
	[TURN_PEER_DENY_RELAY_SELF] = "deny_relay_self",
};

const char *turn_peer_verdict_name(enum turn_peer_verdict v)
{
	if ((unsigned)v >= TURN_PEER_VERDICT__COUNT)
		return "unknown";
	return verdict_names[v];
}

struct turn_policy *turn_policy_create(void)
{
	return calloc(1, sizeof(struct turn_policy));
}

void turn_policy_destroy(struct turn_policy *p)
{
	free(p);
}

static bool prefix_match(const uint8_t *ip, const uint8_t *pfx, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(ip, pfx, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (ip[full] & mask) == (pfx[full] & mask);
}

static bool cidr_match(const struct cidr *c, const struct sp_addr *a)
{
	return c->family == a->family && prefix_match(a->ip, c->ip, c->bits);
}

static const uint8_t mapped_pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
static const uint8_t zero12[12];

bool turn_policy_normalise(struct sp_addr *a)
{
	if (a->family != AF_INET6)
		return false;
	bool mapped = memcmp(a->ip, mapped_pfx, 12) == 0;
	bool compat = memcmp(a->ip, zero12, 12) == 0;
	if (compat) {
		/* :: and ::1 are IPv6's own unspecified and loopback. */
		static const uint8_t one[4] = { 0, 0, 0, 1 };
		if (memcmp(a->ip + 12, zero12, 4) == 0 || memcmp(a->ip + 12, one, 4) == 0)
			return false;
	}
	if (!mapped && !compat)
		return false;
	memmove(a->ip, a->ip + 12, 4);
	memset(a->ip + 4, 0, 12);
	a->family = AF_INET;
	a->scope = 0;
	return true;
}

static bool ip_equal(const struct sp_addr *a, const struct sp_addr *b)
{
	return a->family == b->family &&
	       memcmp(a->ip, b->ip, a->family == AF_INET ? 4 : 16) == 0;
}

enum turn_peer_verdict turn_policy_check(const struct turn_policy *p, const struct sp_addr *peer)
{
	struct sp_addr a = *peer;

	if (a.family != AF_INET && a.family != AF_INET6)
		return TURN_PEER_DENY_FAMILY;
	if (a.family == AF_INET)
		memset(a.ip + 4, 0, 12); /* a caller's garbage must not matter */
	turn_policy_normalise(&a);
	for (unsigned i = 0; p && i < p->n_relay; i++)
		if (ip_equal(&a, &p->relay[i]))
			return TURN_PEER_DENY_RELAY_SELF;

	enum turn_peer_verdict v = TURN_PEER_ALLOWED;
	for (size_t i = 0; i < sizeof(deny) / sizeof(deny[0]); i++) {
		if (cidr_match(&deny[i].c, &a)) {
			v = deny[i].v;
			break;
		}
	}
	/* "This host" (0.0.0.0/8, ::) reaches the server itself: never allowed. */
	if (v == TURN_PEER_ALLOWED || v == TURN_PEER_DENY_UNSPECIFIED)
		return v;
	for (unsigned i = 0; p && i < p->n_allow; i++)
		if (cidr_match(&p->allow[i], &a))
			return TURN_PEER_ALLOWED;
	return v;
}

int turn_policy_allow_cidr(struct turn_policy *p, const char *cidr)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash;
	size_t hl;
	long bits = -1;
	struct cidr c = { 0 };

	if (!p || !cidr)
		return -EINVAL;
	if (p->n_allow >= TURN_POLICY_MAX_ALLOW)
		return -ENOSPC;
	slash = strchr(cidr, '/');
	hl = slash ? (size_t)(slash - cidr) : strlen(cidr);
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, cidr, hl);
	host[hl] = '\0';
	if (slash) {
		char *end;
		if (slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		bits = strtol(slash + 1, &end, 10);
		if (*end != '\0')
			return -EINVAL;
	}
	if (inet_pton(AF_INET, host, c.ip) == 1) {
		c.family = AF_INET;
		if (bits < 0)
			bits = 32;
		if (bits > 32)
			return -EINVAL;
	} else if (inet_pton(AF_INET6, host, c.ip) == 1) {
		c.family = AF_INET6;
		if (bits < 0)
			bits = 128;
		if (bits > 128)
			return -EINVAL;
		if (bits >= 96 && (memcmp(c.ip, mapped_pfx, 12) == 0 ||
				   memcmp(c.ip, zero12, 12) == 0)) {
			/* Same rule as a peer, so "::ffff:10.0.0.0/104" allows 10/8. */
			struct sp_addr tmp = { .family = AF_INET6 };
			memcpy(tmp.ip, c.ip, 16);
			if (turn_policy_normalise(&tmp)) {
				memcpy(c.ip, tmp.ip, 16);
				c.family = AF_INET;
				bits -= 96;
			}
		}
	} else {
		return -EINVAL;
	}
	c.bits = (uint8_t)bits;
	p->allow[p->n_allow++] = c;
	return 0;
}

int turn_policy_add_relay_addr(struct turn_policy *p, const struct sp_addr *relay)
{
	if (!p || !relay || (relay->family != AF_INET && relay->family != AF_INET6))
		return -EINVAL;
	if (p->n_relay >= TURN_POLICY_MAX_RELAY)
		return -ENOSPC;
	struct sp_addr a = *relay;
	if (a.family == AF_INET)
		memset(a.ip + 4, 0, 12);
	turn_policy_normalise(&a);
	a.port = 0;
	a.scope = 0;
	p->relay[p->n_relay++] = a;
	return 0;
}
