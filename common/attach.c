/* attach: client side of the spdp attach protocol (see attach.h). */
#include "attach.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdpass.h"

int attach_path(char *buf, size_t len, const char *runtime_dir, const char *instance,
		const char *name)
{
	struct sockaddr_un sa;
	int n = snprintf(buf, len, "%s/%s/%s", runtime_dir, instance, name);

	if (n < 0 || (size_t)n >= len || (size_t)n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	return 0;
}

static int mkdir_one(const char *p, mode_t mode)
{
	if (mkdir(p, mode) == 0 || errno == EEXIST)
		return 0;
	return -errno;
}

int attach_make_dir(const char *runtime_dir, const char *instance, unsigned gid)
{
	char path[256];
	int rc;

	if (snprintf(path, sizeof(path), "%s", runtime_dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	/* mkdir -p for the runtime dir itself. */
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		rc = mkdir_one(path, 0755);
		*p = '/';
		if (rc)
			return rc;
	}
	if ((rc = mkdir_one(path, 0755)))
		return rc;
	if (snprintf(path, sizeof(path), "%s/%s", runtime_dir, instance) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if ((rc = mkdir_one(path, gid != (unsigned)-1 ? 0770 : 0750)))
		return rc;
	if (gid != (unsigned)-1 && (chown(path, (uid_t)-1, (gid_t)gid) < 0 || chmod(path, 0770) < 0))
		return -errno;
	return 0;
}

int attach_connect(const char *path, enum attach_mode mode, int timeout_ms,
		   struct attach_result *res)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct attach_req req = { .magic = ATTACH_MAGIC, .proto = ATTACH_PROTO,
				  .mode = (uint16_t)mode, .pid = (int32_t)getpid() };
	struct attach_rep rep;
	int fds[1 + ATTACH_MAX_DOORBELLS], nfds = 1 + ATTACH_MAX_DOORBELLS, fd, rc;
	struct pollfd pfd;
	ssize_t n;

	memset(res, 0, sizeof(*res));
	res->sock = res->shm_fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		goto out_close;
	}
	/* A peer spdp refuses at accept time sends its reply and closes: the
	 * send may then fail, but the reply with the real reason is waiting. */
	if ((rc = fdpass_send(fd, &req, sizeof(req), NULL, 0)) < 0 && rc != -EPIPE &&
	    rc != -ECONNRESET)
		goto out_close;
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	rc = poll(&pfd, 1, timeout_ms);
	if (rc <= 0) {
		rc = rc == 0 ? -ETIMEDOUT : -errno;
		goto out_close;
	}
	n = fdpass_recv(fd, &rep, sizeof(rep), fds, &nfds);
	if (n < 0) {
		rc = (int)n;
		goto out_close;
	}
	if (n != (ssize_t)sizeof(rep) || rep.magic != ATTACH_MAGIC || rep.proto != ATTACH_PROTO) {
		rc = n == 0 ? -ECONNRESET : -EPROTO;
		goto out_fds;
	}
	if (rep.status < 0) {
		rc = rep.status;
		goto out_fds;
	}
	if (nfds < 1 || (uint32_t)nfds != rep.n_fds || nfds > 1 + ATTACH_MAX_DOORBELLS ||
	    (mode == ATTACH_OBSERVE && nfds != 1)) {
		rc = -EPROTO;
		goto out_fds;
	}
	res->shm_fd = fds[0];
	for (int i = 1; i < nfds; i++)
		res->doorbells[res->n_doorbells++] = fds[i];
	res->attach_count = rep.attach_count;
	res->dp_pid = rep.dp_pid;
	if (mode == ATTACH_CONTROL) {
		res->sock = fd;
	} else {
		close(fd);
	}
	return 0;

out_fds:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
out_close:
	close(fd);
	return rc;
}

void attach_result_close(struct attach_result *res)
{
	if (res->sock >= 0)
		close(res->sock);
	if (res->shm_fd >= 0)
		close(res->shm_fd);
	for (int i = 0; i < res->n_doorbells; i++)
		close(res->doorbells[i]);
	res->sock = res->shm_fd = -1;
	res->n_doorbells = 0;
}
