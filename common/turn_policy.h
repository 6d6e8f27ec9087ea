/*
 * turn_policy: which peer addresses a TURN allocation may talk to.
 *
 * A TURN server relays to whatever address a client names, so without a
 * policy it is an open proxy into the server's own network (coturn shipped
 * CVEs for loopback, 0.0.0.0 and cloud metadata at 169.254.169.254). The
 * default here is deny for every non-public range: loopback, 0.0.0.0/8,
 * RFC 1918, CGNAT 100.64/10, link-local (metadata included), multicast,
 * 240/4 and broadcast, IPv6 ::, ::1, ULA fc00::/7, link-local fe80::/10,
 * multicast ff00::/8, 6to4 2002::/16 and Teredo 2001::/32 (both tunnel to
 * an embedded IPv4 address), plus the server's own relay addresses (a relay
 * to itself loops). IPv4-mapped (::ffff:0:0/96) and IPv4-compatible (::/96)
 * IPv6 addresses are normalised to IPv4 BEFORE the check, so
 * ::ffff:127.0.0.1 is loopback.
 *
 * Labs override with an allow-list of CIDRs ("10.0.0.0/8", "fd00::/8"),
 * checked against the normalised address. The allow-list never overrides
 * the relay-self rule or "this host" (0.0.0.0/8, ::).
 *
 * No allocation after create; checks are a few comparisons, no I/O.
 */
#ifndef SP_TURN_POLICY_H
#define SP_TURN_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"

#define TURN_POLICY_MAX_ALLOW 64
#define TURN_POLICY_MAX_RELAY 8

/* The verdict on one peer; non-zero values name the range that denied it
 * (turn_peer_verdict_name gives a stats label). */
enum turn_peer_verdict {
	TURN_PEER_ALLOWED = 0,
	TURN_PEER_DENY_FAMILY,      /* not IPv4/IPv6 */
	TURN_PEER_DENY_UNSPECIFIED, /* 0.0.0.0/8, :: */
	TURN_PEER_DENY_LOOPBACK,    /* 127/8, ::1 */
	TURN_PEER_DENY_PRIVATE,     /* 10/8, 172.16/12, 192.168/16 */
	TURN_PEER_DENY_CGNAT,       /* 100.64/10 */
	TURN_PEER_DENY_LINK_LOCAL,  /* 169.254/16 (metadata), fe80::/10 */
	TURN_PEER_DENY_MULTICAST,   /* 224/4, ff00::/8 */
	TURN_PEER_DENY_RESERVED,    /* 240/4 without the broadcast address */
	TURN_PEER_DENY_BROADCAST,   /* 255.255.255.255 */
	TURN_PEER_DENY_ULA,         /* fc00::/7 */
	TURN_PEER_DENY_6TO4,        /* 2002::/16 */
	TURN_PEER_DENY_TEREDO,      /* 2001::/32 */
	TURN_PEER_DENY_RELAY_SELF,  /* one of the server's relay addresses */
	TURN_PEER_VERDICT__COUNT
};

struct turn_policy; /* opaque */

struct turn_policy *turn_policy_create(void);
void turn_policy_destroy(struct turn_policy *p);

/* Allow a CIDR ("192.168.0.0/16", "fd00::/8", "10.1.2.3" = /32). The
 * prefix is normalised like a peer (an IPv4-mapped prefix of /96 or more
 * becomes IPv4). -EINVAL on a bad string, -ENOSPC past
 * TURN_POLICY_MAX_ALLOW. */
int turn_policy_allow_cidr(struct turn_policy *p, const char *cidr);
/* Register one of the server's relay IPs (port ignored): always denied.
 * -ENOSPC past TURN_POLICY_MAX_RELAY, -EINVAL for an unset address. */
int turn_policy_add_relay_addr(struct turn_policy *p, const struct sp_addr *relay);

/* IPv4-mapped and IPv4-compatible IPv6 (not :: or ::1) become IPv4, in
 * place; the port is kept. Returns true when the address changed. */
bool turn_policy_normalise(struct sp_addr *a);

/* Verdict for a peer (normalised internally; the port is ignored). */
enum turn_peer_verdict turn_policy_check(const struct turn_policy *p, const struct sp_addr *peer);

const char *turn_peer_verdict_name(enum turn_peer_verdict v);

#endif
