/*
 * test_fdpass: SCM_RIGHTS passing and the peer-credential policy
 * (common/fdpass.h).
 *
 * Descriptors are eventfds created with distinct counter values, so the
 * receiver can tell which one it got and in what order. Leaks are measured
 * by counting /proc/self/fd before and after. The credential tests fork a
 * child that drops to nobody (uid/gid 65534) and connects to an abstract
 * unix socket; they need root and are skipped otherwise.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdpass.h"

#define NOBODY 65534

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;
	cr_assert_not_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static void pair(int sv[2])
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

/* n eventfds whose counters are 1000 + i. */
static void make_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++) {
		fds[i] = eventfd((unsigned)(1000 + i), EFD_CLOEXEC | EFD_NONBLOCK);
		cr_assert_geq(fds[i], 0);
	}
}

static void close_fds(const int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

static uint64_t counter(int fd)
{
	uint64_t v = 0;
	cr_assert_eq(read(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	return v;
}

static void send_recv(int count)
{
	int sv[2], fds[FDPASS_MAX_FDS], got[FDPASS_MAX_FDS];
	char buf[16];
	int before = open_fds();

	pair(sv);
	make_fds(fds, count);
	cr_assert_eq(fdpass_send(sv[0], "seg", 3, fds, count), 0);
	close_fds(fds, count); /* the kernel holds them in flight */

	int n = FDPASS_MAX_FDS;
	cr_assert_eq(fdpass_recv(sv[1], buf, sizeof(buf), got, &n), 3);
	cr_assert_eq(memcmp(buf, "seg", 3), 0);
	cr_assert_eq(n, count);
	for (int i = 0; i < n; i++) {
		cr_assert(fcntl(got[i], F_GETFD) & FD_CLOEXEC, "fd %d lacks O_CLOEXEC", i);
		cr_assert_eq(counter(got[i]), 1000 + (uint64_t)i, "descriptor %d out of order", i);
	}
	close_fds(got, n);
	close(sv[0]);
	close(sv[1]);
	cr_assert_eq(open_fds(), before);
}

Test(fdpass, one_fd)
{
	send_recv(1);
}

Test(fdpass, hundred_fds)
{
	send_recv(100);
}

Test(fdpass, max_fds)
{
	send_recv(FDPASS_MAX_FDS);
}

Test(fdpass, no_fds_and_eof)
{
	int sv[2], got[4], n = 4;
	char buf[8];
	pair(sv);
	cr_assert_eq(fdpass_send(sv[0], "ping", 4, NULL, 0), 0);
	cr_assert_eq(fdpass_recv(sv[1], buf, sizeof(buf), got, &n), 4);
	cr_assert_eq(n, 0);
	close(sv[0]);
	n = 4;
	cr_assert_eq(fdpass_recv(sv[1], buf, sizeof(buf), got, &n), 0, "EOF");
	cr_assert_eq(n, 0);
	close(sv[1]);
}

Test(fdpass, send_rejects_bad_counts)
{
	int sv[2], fd = 0;
	pair(sv);
	cr_assert_eq(fdpass_send(sv[0], "x", 1, &fd, -1), -EINVAL);
	cr_assert_eq(fdpass_send(sv[0], "x", 1, &fd, FDPASS_MAX_FDS + 1), -EINVAL);
	int bad = 1 << 20;
	cr_assert_eq(fdpass_send(sv[0], "x", 1, &bad, 1), -EBADF);
	close(sv[1]);
	cr_assert_eq(fdpass_send(sv[0], "x", 1, NULL, 0), -EPIPE, "no SIGPIPE, an error");
	close(sv[0]);
}

/* Receiver with room for fewer descriptors than were sent: the call fails
 * with -EMSGSIZE, reports none, and closes every one it was handed. */
Test(fdpass, too_little_room_leaks_nothing)
{
	const int rooms[] = { 0, 1, 10, 99 };
	for (size_t r = 0; r < sizeof(rooms) / sizeof(rooms[0]); r++) {
		int sv[2], fds[100], got[100];
		char buf[8];
		int before = open_fds();
		pair(sv);
		make_fds(fds, 100);
		cr_assert_eq(fdpass_send(sv[0], "seg", 3, fds, 100), 0);
		close_fds(fds, 100);
		int n = rooms[r];
		memset(got, 0xff, sizeof(got));
		cr_assert_eq(fdpass_recv(sv[1], buf, sizeof(buf), got, &n), -EMSGSIZE, "room %d", rooms[r]);
		cr_assert_eq(n, 0, "room %d", rooms[r]);
		close(sv[0]);
		close(sv[1]);
		cr_assert_eq(open_fds(), before, "room %d: descriptors leaked", rooms[r]);
	}
}

/* More descriptors than fdpass_recv's control buffer holds (raw sendmsg
 * with the kernel's maximum): truncated control data, nothing leaks. */
Test(fdpass, control_truncated_leaks_nothing)
{
	enum { N = 253 }; /* SCM_MAX_FD */
	int sv[2], fds[N], got[FDPASS_MAX_FDS];
	char buf[8];
	union {
		char b[CMSG_SPACE(sizeof(int) * N)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = "seg", .iov_len = 3 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
			     .msg_controllen = sizeof(u.b) };
	int before = open_fds();

	pair(sv);
	make_fds(fds, N);
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * N);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * N);
	cr_assert_eq(sendmsg(sv[0], &mh, 0), 3, "%s", strerror(errno));
	close_fds(fds, N);
	int n = FDPASS_MAX_FDS;
	cr_assert_eq(fdpass_recv(sv[1], buf, sizeof(buf), got, &n), -EMSGSIZE);
	cr_assert_eq(n, 0);
	close(sv[0]);
	close(sv[1]);
	cr_assert_eq(open_fds(), before);
}

/* ---- peer credentials */

struct listener {
	int fd;
	struct sockaddr_un addr;
	socklen_t len;
};

static void listen_abstract(struct listener *l)
{
	memset(l, 0, sizeof(*l));
	l->addr.sun_family = AF_UNIX;
	/* Abstract namespace: no file, no permission check for the child. */
	int k = snprintf(l->addr.sun_path + 1, sizeof(l->addr.sun_path) - 1, "sp-test-fdpass-%d",
			 (int)getpid());
	l->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)k);
	l->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	cr_assert_geq(l->fd, 0);
	cr_assert_eq(bind(l->fd, (struct sockaddr *)&l->addr, l->len), 0, "%s", strerror(errno));
	cr_assert_eq(listen(l->fd, 4), 0);
}

/* Child: become nobody (with `extra_group` as a supplementary group when
 * not -1), connect, wait until the parent has looked, exit. */
static pid_t spawn_peer(const struct listener *l, gid_t extra_group)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid)
		return pid;
	gid_t groups[1] = { extra_group };
	if (setgroups(extra_group == (gid_t)-1 ? 0 : 1, groups) < 0 || setgid(NOBODY) < 0 ||
	    setuid(NOBODY) < 0)
		_exit(10);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (const struct sockaddr *)&l->addr, l->len) < 0)
		_exit(11);
	char c;
	if (read(s, &c, 1) != 1) /* parent says done */
		_exit(12);
	_exit(0);
}

static void reap(pid_t pid, int conn)
{
	int st;
	cr_assert_eq(write(conn, "k", 1), 1);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "peer child status %#x", st);
}

Test(fdpass, peer_policy_nobody)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to become nobody");
	struct listener l;
	listen_abstract(&l);
	pid_t pid = spawn_peer(&l, (gid_t)-1);
	int conn = accept4(l.fd, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(conn, 0);

	pid_t ppid;
	uid_t uid;
	gid_t gid;
	cr_assert_eq(fdpass_peer_cred(conn, &ppid, &uid, &gid), 0);
	cr_assert_eq(ppid, pid);
	cr_assert_eq(uid, NOBODY);
	cr_assert_eq(gid, NOBODY);
	cr_assert_eq(fdpass_peer_cred(conn, NULL, NULL, NULL), 0);

	cr_assert(!fdpass_peer_allowed(conn, (gid_t)-1), "no group configured: refused");
	cr_assert(fdpass_peer_allowed(conn, NOBODY), "primary group matches: allowed");
	cr_assert(!fdpass_peer_allowed(conn, 4242), "other group: refused");
	cr_assert(!fdpass_peer_allowed(conn, 0), "root's group is not root");
	reap(pid, conn);
	close(conn);
	close(l.fd);
}

Test(fdpass, peer_policy_supplementary_group)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to become nobody");
	struct listener l;
	listen_abstract(&l);
	pid_t pid = spawn_peer(&l, 4242);
	int conn = accept4(l.fd, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(conn, 0);
	cr_assert(fdpass_peer_allowed(conn, 4242), "supplementary group: allowed");
	cr_assert(!fdpass_peer_allowed(conn, 4243));
	cr_assert(!fdpass_peer_allowed(conn, 424), "a prefix of a group id is not a match");
	cr_assert(!fdpass_peer_allowed(conn, (gid_t)-1));
	reap(pid, conn);
	close(conn);
	close(l.fd);
}

Test(fdpass, peer_policy_same_user)
{
	int sv[2];
	pair(sv);
	/* Root, or our own uid, always passes. */
	cr_assert(fdpass_peer_allowed(sv[0], (gid_t)-1));
	cr_assert(fdpass_peer_allowed(sv[1], 12345));
	close(sv[0]);
	close(sv[1]);
	/* Not a socket: refused, not crashed. */
	int p[2];
	cr_assert_eq(pipe(p), 0);
	cr_assert(!fdpass_peer_allowed(p[0], (gid_t)-1));
	cr_assert_eq(fdpass_peer_cred(p[0], NULL, NULL, NULL), -ENOTSOCK);
	close(p[0]);
	close(p[1]);
}
