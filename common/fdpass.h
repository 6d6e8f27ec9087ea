/*
 * fdpass: send and receive file descriptors over AF_UNIX sockets
 * (SCM_RIGHTS), with the peer's credentials (SO_PEERCRED) for access checks.
 */
#ifndef SP_FDPASS_H
#define SP_FDPASS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define FDPASS_MAX_FDS 250 /* below the kernel's SCM_MAX_FD (253) */

/* One message of len bytes carrying nfds descriptors. 0 or -errno. */
int fdpass_send(int sock, const void *buf, size_t len, const int *fds, int nfds);
/*
 * Receive one message; up to *nfds descriptors are stored in fds (all
 * O_CLOEXEC) and *nfds is set to how many arrived. Extra descriptors beyond
 * the caller's room are closed and the call fails with -EMSGSIZE.
 * Returns bytes received, 0 on EOF, or -errno.
 */
ssize_t fdpass_recv(int sock, void *buf, size_t len, int *fds, int *nfds);

/* Peer credentials of a connected unix socket. 0 or -errno. */
int fdpass_peer_cred(int sock, pid_t *pid, uid_t *uid, gid_t *gid);
/*
 * Access policy shared by every streampoint socket: root, our own uid, or a
 * member (primary or supplementary) of `allowed_gid` (ignored when
 * (gid_t)-1). Supplementary groups are read from /proc/<pid>/status.
 */
bool fdpass_peer_allowed(int sock, gid_t allowed_gid);

#endif
