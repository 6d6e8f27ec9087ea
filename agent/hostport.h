/*
 * hostport: "host:port" lists of spagent's configuration (endpoints,
 * allow-list, proxy). Hosts follow the OPEN target rules of
 * docs/agent-protocol.md §2.1 (names, IPv4, bracketed IPv6); ports 1..65535.
 */
#ifndef SP_HOSTPORT_H
#define SP_HOSTPORT_H

#include <stddef.h>
#include <stdint.h>

#define HOSTPORT_HOST_MAX 253

struct hostport {
	char host[HOSTPORT_HOST_MAX + 1]; /* without IPv6 brackets */
	uint16_t port;
};

/* One "host:port" (len bytes). 0 or -EINVAL. */
int hostport_parse(const char *s, size_t len, struct hostport *hp);
/* Comma-separated list (spaces around items ignored, empty items refused).
 * Returns the number of items (0 for an empty string), -EINVAL with err
 * naming the bad item, -E2BIG past max items. */
int hostport_list_parse(const char *csv, struct hostport *out, size_t max, char *err,
			size_t errlen);
/* Canonical "host:port" ("[v6]:port" for IPv6). */
int hostport_format(const struct hostport *hp, char *out, size_t cap);

#endif
