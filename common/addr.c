/* addr: compact transport addresses (see addr.h). */
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sp_addr_from_sockaddr(struct sp_addr *a, const struct sockaddr *sa, socklen_t len)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		a->family = AF_INET;
		a->port = s4->sin_port;
		memcpy(a->ip, &s4->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		a->port = s6->sin6_port;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			a->family = AF_INET;
			memcpy(a->ip, s6->sin6_addr.s6_addr + 12, 4);
		} else {
			a->family = AF_INET6;
			a->scope = s6->sin6_scope_id;
			memcpy(a->ip, &s6->sin6_addr, 16);
		}
		return 0;
	}
	return -EAFNOSUPPORT;
}

socklen_t sp_addr_to_sockaddr(const struct sp_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = a->port;
		memcpy(&s4->sin_addr, a->ip, 4);
		return sizeof(*s4);
	}
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = a->port;
		s6->sin6_scope_id = a->scope;
		memcpy(&s6->sin6_addr, a->ip, 16);
		return sizeof(*s6);
	}
	return 0;
}

int sp_addr_parse(struct sp_addr *a, const char *s)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *h = s;
	size_t hl;
	char *end;

	memset(a, 0, sizeof(*a));
	if (!s)
		return -EINVAL;
	if (*s == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end || port > 65535)
		return -EINVAL;
	a->port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, a->ip) == 1) {
		a->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, host, a->ip) == 1) {
		struct in6_addr in6;
		memcpy(&in6, a->ip, 16);
		if (IN6_IS_ADDR_V4MAPPED(&in6)) {
			memmove(a->ip, a->ip + 12, 4);
			memset(a->ip + 4, 0, 12);
			a->family = AF_INET;
		} else {
			a->family = AF_INET6;
		}
		return 0;
	}
	memset(a, 0, sizeof(*a));
	return -EINVAL;
}

const char *sp_addr_str(const struct sp_addr *a, char buf[SP_ADDR_STRLEN])
{
	char ip[INET6_ADDRSTRLEN];

	if (a->family == AF_INET && inet_ntop(AF_INET, a->ip, ip, sizeof(ip)))
		snprintf(buf, SP_ADDR_STRLEN, "%s:%u", ip, ntohs(a->port));
	else if (a->family == AF_INET6 && inet_ntop(AF_INET6, a->ip, ip, sizeof(ip)))
		snprintf(buf, SP_ADDR_STRLEN, "[%s]:%u", ip, ntohs(a->port));
	else
		snprintf(buf, SP_ADDR_STRLEN, "-");
	return buf;
}

bool sp_addr_equal(const struct sp_addr *a, const struct sp_addr *b)
{
	return a->family == b->family && a->port == b->port &&
	       memcmp(a->ip, b->ip, a->family == AF_INET ? 4 : 16) == 0;
}

uint32_t sp_addr_hash(const struct sp_addr *a)
{
	/* FNV-1a over the bytes that identify the endpoint. */
	uint32_t h = 2166136261u;
	size_t n = a->family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < n; i++)
		h = (h ^ a->ip[i]) * 16777619u;
	h = (h ^ (a->port & 0xff)) * 16777619u;
	h = (h ^ (a->port >> 8)) * 16777619u;
	return h ^ (h >> 15);
}

uint32_t sp_addr_steer(const struct sp_addr *a, uint32_t n)
{
	const uint8_t *w = a->family == AF_INET6 ? a->ip + 12 : a->ip;
	uint32_t ip = (uint32_t)w[0] << 24 | (uint32_t)w[1] << 16 | (uint32_t)w[2] << 8 | w[3];
	uint32_t h = (ip ^ ntohs(a->port)) * 2654435761u;

	return n ? (h >> 16) % n : 0;
}
