/*
 * addr: a compact, hashable transport address (IPv4 or IPv6 + UDP/TCP port)
 * used as a key by flow tables, permission lists and ring messages. IPv4 is
 * stored as such (not IPv4-mapped), so equal endpoints compare equal.
 */
#ifndef SP_ADDR_H
#define SP_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct sp_addr {
	uint8_t family;  /* AF_INET or AF_INET6; 0: unset */
	uint8_t reserved;
	uint16_t port;   /* network order */
	uint32_t scope;  /* IPv6 scope id */
	uint8_t ip[16];  /* IPv4 in the first 4 bytes, rest zero */
};

#define SP_ADDR_STRLEN 64 /* "[ipv6%scope]:port" */

/* From a sockaddr; IPv4-mapped IPv6 is normalised to IPv4. -EAFNOSUPPORT. */
int sp_addr_from_sockaddr(struct sp_addr *a, const struct sockaddr *sa, socklen_t len);
/* To a sockaddr_storage; returns its length (0 for an unset address). */
socklen_t sp_addr_to_sockaddr(const struct sp_addr *a, struct sockaddr_storage *ss);
/* "1.2.3.4:5" or "[::1]:5"; -EINVAL on bad input. */
int sp_addr_parse(struct sp_addr *a, const char *s);
const char *sp_addr_str(const struct sp_addr *a, char buf[SP_ADDR_STRLEN]);
bool sp_addr_equal(const struct sp_addr *a, const struct sp_addr *b);
uint32_t sp_addr_hash(const struct sp_addr *a);

/*
 * Which of n workers receives datagrams from `a` on a shared port. spdp
 * steers in the kernel with a classic BPF program on the SO_REUSEPORT group
 * (dataplane/steer.c) computing exactly this: the source IPv4 address (for
 * IPv6, its last 32 bits) xor the source port, times 2654435761 (32-bit),
 * shifted right 16, modulo n. spcp uses it to place a flow on that worker.
 */
uint32_t sp_addr_steer(const struct sp_addr *a, uint32_t n);

#endif
