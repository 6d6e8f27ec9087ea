/*
 * attach_server: spdp's side of the attach protocol (common/attach.h).
 *
 * Runs in the main thread's epoll loop and never blocks it: accepted
 * connections wait in a small pending table until their request arrives or
 * a deadline passes. At most one control plane is attached; a new one is
 * refused while the previous spcp process still exists (checked with a
 * pidfd), because two live producers on a command ring would corrupt it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "attach.h"
#include "clock.h"
#include "dp.h"
#include "fdpass.h"
#include "log.h"

#define PENDING_MAX 16
#define PENDING_DEADLINE_NS (2ull * 1000000000ull)

struct pending {
	int fd;
	uint64_t deadline;
};

struct dp_attach_server {
	struct dp *dp;
	int epfd;
	int listen_fd;
	int cp_fd;      /* attached control plane, or -1 */
	int cp_pidfd;   /* pidfd of the current/last spcp, or -1 */
	pid_t cp_pid;
	struct pending pending[PENDING_MAX];
	/* epoll tags: addresses of these bytes identify the source */
	char tag_listen, tag_cp, tag_pending[PENDING_MAX];
};

static int pidfd_open_compat(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

/* True while the process behind pidfd has not exited. */
static bool pidfd_alive(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	return poll(&p, 1, 0) == 0;
}

static int listen_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, probe;

	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* Refuse to steal the socket of a live spdp; remove a stale one. */
	probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (probe >= 0) {
		if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			return -EADDRINUSE;
		}
		close(probe);
	}
	unlink(path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

struct dp_attach_server *dp_attach_server_open(struct dp *dp, int epfd)
{
	struct dp_attach_server *as = calloc(1, sizeof(*as));
	struct epoll_event ev = { .events = EPOLLIN };
	int fd;

	if (!as)
		return NULL;
	as->dp = dp;
	as->epfd = epfd;
	as->cp_fd = as->cp_pidfd = -1;
	for (int i = 0; i < PENDING_MAX; i++)
		as->pending[i].fd = -1;
	fd = listen_socket(dp->sock_path);
	if (fd < 0) {
		log_error(-fd, "cannot listen on %s", dp->sock_path);
		free(as);
		return NULL;
	}
	if (dp->ctl_gid != (gid_t)-1) {
		if (chown(dp->sock_path, (uid_t)-1, dp->ctl_gid) < 0)
			log_warn(errno, "chown %s", dp->sock_path);
		chmod(dp->sock_path, 0660);
	} else {
		chmod(dp->sock_path, 0600);
	}
	as->listen_fd = fd;
	ev.data.ptr = &as->tag_listen;
	epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
	log_info("attach socket %s ready", dp->sock_path);
	return as;
}

static void reply(int fd, uint16_t mode, int status, const int *fds, int nfds, struct dp *dp)
{
	struct shm_procinfo *pi = shm_procinfo(dp->seg);
	struct attach_rep rep = {
		.magic = ATTACH_MAGIC, .proto = ATTACH_PROTO, .mode = mode, .status = status,
		.n_fds = (uint32_t)nfds, .attach_count = atomic_load(&pi->cp_attach_count),
		.dp_pid = (int32_t)getpid(),
	};
	int rc = fdpass_send(fd, &rep, sizeof(rep), fds, nfds);
	if (rc < 0)
		log_warn(-rc, "attach reply");
}

static void cp_detach(struct dp_attach_server *as, const char *why)
{
	struct shm_procinfo *pi = shm_procinfo(as->dp->seg);

	epoll_ctl(as->epfd, EPOLL_CTL_DEL, as->cp_fd, NULL);
	close(as->cp_fd);
	as->cp_fd = -1;
	atomic_store(&pi->cp_pid, 0);
	log_notice("spcp pid %d detached (%s); forwarding goes on alone", (int)as->cp_pid, why);
}

static void handle_control(struct dp_attach_server *as, int fd, pid_t pid)
{
	struct dp *dp = as->dp;
	struct shm_procinfo *pi = shm_procinfo(dp->seg);
	int fds[1 + 2 + SHM_MAX_WORKERS];
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = &as->tag_cp };

	/* The previous spcp may come back itself (it gave up on an attach it
	 * could not use and closed its rings): that is not a second producer. */
	bool same_spcp = as->cp_fd < 0 && pid == as->cp_pid;
	if (as->cp_fd >= 0 || (!same_spcp && as->cp_pidfd >= 0 && pidfd_alive(as->cp_pidfd))) {
		log_warn(0, "attach from pid %d refused: spcp pid %d is still %s", (int)pid,
			 (int)as->cp_pid, as->cp_fd >= 0 ? "attached" : "alive");
		reply(fd, ATTACH_CONTROL, -EBUSY, NULL, 0, dp);
		close(fd);
		return;
	}
	if (as->cp_pidfd >= 0)
		close(as->cp_pidfd);
	as->cp_pidfd = pidfd_open_compat(pid);
	if (as->cp_pidfd < 0)
		log_warn(errno, "pidfd_open(%d); relying on the socket alone", (int)pid);
	atomic_fetch_add(&pi->cp_attach_count, 1);
	atomic_store(&pi->cp_attach_mono_ns, clock_mono_ns());
	atomic_store(&pi->cp_pid, (int32_t)pid);
	fds[0] = shm_fd(dp->seg);
	for (uint32_t i = 0; i < dp->n_doorbells; i++)
		fds[1 + i] = dp->doorbells[i];
	reply(fd, ATTACH_CONTROL, 0, fds, 1 + (int)dp->n_doorbells, dp);
	as->cp_fd = fd;
	as->cp_pid = pid;
	epoll_ctl(as->epfd, EPOLL_CTL_ADD, fd, &ev);
	log_notice("spcp pid %d attached (attach #%llu)", (int)pid,
		   (unsigned long long)atomic_load(&pi->cp_attach_count));
}

static void handle_observe(struct dp_attach_server *as, int fd, pid_t pid)
{
	char path[64];
	int ro;

	/* A fresh read-only open file description: the observer cannot mmap
	 * it writable, whatever it tries. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", shm_fd(as->dp->seg));
	ro = open(path, O_RDONLY | O_CLOEXEC);
	if (ro < 0) {
		log_warn(errno, "observer pid %d: reopen segment read-only", (int)pid);
		reply(fd, ATTACH_OBSERVE, -errno, NULL, 0, as->dp);
	} else {
		reply(fd, ATTACH_OBSERVE, 0, &ro, 1, as->dp);
		close(ro);
		log_debug("observer pid %d got the segment", (int)pid);
	}
	close(fd);
}

static void handle_request(struct dp_attach_server *as, int slot)
{
	int fd = as->pending[slot].fd;
	struct attach_req req;
	int fds[4], nfds = 4;
	pid_t pid = 0;
	ssize_t n;

	epoll_ctl(as->epfd, EPOLL_CTL_DEL, fd, NULL);
	as->pending[slot].fd = -1;
	n = fdpass_recv(fd, &req, sizeof(req), fds, &nfds);
	for (int i = 0; i < nfds; i++)
		close(fds[i]); /* clients send none; never keep what we did not ask for */
	fdpass_peer_cred(fd, &pid, NULL, NULL);
	if (n != (ssize_t)sizeof(req) || req.magic != ATTACH_MAGIC || req.proto != ATTACH_PROTO ||
	    (req.mode != ATTACH_CONTROL && req.mode != ATTACH_OBSERVE)) {
		log_rl(LOG_LVL_WARNING, 0, "attach: bad request from pid %d", (int)pid);
		if (n > 0)
			reply(fd, 0, -EPROTO, NULL, 0, as->dp);
		close(fd);
		return;
	}
	if (req.mode == ATTACH_CONTROL)
		handle_control(as, fd, pid);
	else
		handle_observe(as, fd, pid);
}

static void handle_accept(struct dp_attach_server *as)
{
	for (;;) {
		int fd = accept4(as->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK), slot = -1;
		pid_t pid = 0;

		if (fd < 0)
			return;
		if (!fdpass_peer_allowed(fd, as->dp->ctl_gid)) {
			fdpass_peer_cred(fd, &pid, NULL, NULL);
			log_rl(LOG_LVL_WARNING, 0, "attach: pid %d not allowed (not root, owner or ctl_group)",
			       (int)pid);
			reply(fd, 0, -EACCES, NULL, 0, as->dp);
			close(fd);
			continue;
		}
		for (int i = 0; i < PENDING_MAX; i++)
			if (as->pending[i].fd < 0) {
				slot = i;
				break;
			}
		if (slot < 0) {
			log_rl(LOG_LVL_WARNING, 0, "attach: too many pending connections");
			close(fd);
			continue;
		}
		as->pending[slot] = (struct pending){ fd, clock_mono_ns() + PENDING_DEADLINE_NS };
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &as->tag_pending[slot] };
		epoll_ctl(as->epfd, EPOLL_CTL_ADD, fd, &ev);
	}
}

void dp_attach_server_event(struct dp_attach_server *as, void *tag, uint32_t events)
{
	if (tag == &as->tag_listen) {
		handle_accept(as);
	} else if (tag == &as->tag_cp) {
		char buf[64];
		ssize_t n = recv(as->cp_fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN) || (events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)))
			cp_detach(as, "connection closed");
	} else {
		int slot = (int)((char *)tag - as->tag_pending);
		if (slot >= 0 && slot < PENDING_MAX && as->pending[slot].fd >= 0)
			handle_request(as, slot);
	}
}

void dp_attach_server_tick(struct dp_attach_server *as)
{
	uint64_t now = clock_mono_ns();

	for (int i = 0; i < PENDING_MAX; i++) {
		if (as->pending[i].fd >= 0 && now > as->pending[i].deadline) {
			epoll_ctl(as->epfd, EPOLL_CTL_DEL, as->pending[i].fd, NULL);
			close(as->pending[i].fd);
			as->pending[i].fd = -1;
			log_rl(LOG_LVL_WARNING, 0, "attach: connection sent no request in time; closed");
		}
	}
}

void dp_attach_server_close(struct dp_attach_server *as)
{
	if (!as)
		return;
	for (int i = 0; i < PENDING_MAX; i++)
		if (as->pending[i].fd >= 0)
			close(as->pending[i].fd);
	if (as->cp_fd >= 0)
		close(as->cp_fd);
	if (as->cp_pidfd >= 0)
		close(as->cp_pidfd);
	close(as->listen_fd);
	unlink(as->dp->sock_path);
	free(as);
}
