/* steer: SO_REUSEPORT group with source-hash steering (see steer.h). */
#include "steer.h"

#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif

/*
 * Runs with the packet's data at the UDP payload; SKF_NET_OFF reaches the
 * IP header. IPv4: source address at +12, UDP source port after the IHL.
 * IPv6: last word of the source address at +20, UDP source port at +40
 * (datagrams with extension headers are rare on media paths; they land on
 * a wrong worker and are counted there as unknown_source).
 * Returning an index >= n makes the kernel fall back to its own hash.
 */
static int attach(int fd, uint32_t n)
{
	struct sock_filter code[] = {
		/* 0 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, (uint32_t)SKF_NET_OFF),
		/* 1 */ BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 4),
		/* 2 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 7, 0),
		/* IPv4 */
		/* 3 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)SKF_NET_OFF + 12),
		/* 4 */ BPF_STMT(BPF_ST, 0),
		/* 5 */ BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, (uint32_t)SKF_NET_OFF),
		/* 6 */ BPF_STMT(BPF_LD | BPF_H | BPF_IND, (uint32_t)SKF_NET_OFF),
		/* 7 */ BPF_STMT(BPF_LDX | BPF_MEM, 0),
		/* 8 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
		/* 9 */ BPF_JUMP(BPF_JMP | BPF_JA, 5, 0, 0), /* to 15 */
		/* IPv6 */
		/* 10 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)SKF_NET_OFF + 20),
		/* 11 */ BPF_STMT(BPF_ST, 0),
		/* 12 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, (uint32_t)SKF_NET_OFF + 40),
		/* 13 */ BPF_STMT(BPF_LDX | BPF_MEM, 0),
		/* 14 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
		/* hash */
		/* 15 */ BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 2654435761u),
		/* 16 */ BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16),
		/* 17 */ BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n),
		/* 18 */ BPF_STMT(BPF_RET | BPF_A, 0),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };

	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0)
		return -errno;
	return 0;
}

int steer_open(const struct sp_addr *bind_addr, uint32_t n, int *fds)
{
	struct sockaddr_storage ss;
	socklen_t sl = sp_addr_to_sockaddr(bind_addr, &ss);
	int one = 1, rc;
	uint32_t i;

	if (!sl || n == 0)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		fds[i] = socket(bind_addr->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fds[i] < 0)
			goto fail;
		if (setsockopt(fds[i], SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
			goto fail_close;
		if (bind_addr->family == AF_INET6)
			setsockopt(fds[i], IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		/* Group index = order of bind, so socket i is worker i. */
		if (bind(fds[i], (struct sockaddr *)&ss, sl) < 0)
			goto fail_close;
	}
	if ((rc = attach(fds[0], n)) < 0) {
		for (uint32_t k = 0; k < n; k++)
			close(fds[k]);
		return rc;
	}
	return 0;

fail_close:
	close(fds[i]);
fail:
	rc = -errno;
	while (i-- > 0)
		close(fds[i]);
	return rc;
}
