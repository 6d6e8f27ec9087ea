/*
 * attach: how spcp and spctl obtain the shared segment from spdp.
 *
 * spdp listens on <runtime_dir>/<instance>/spdp.sock (AF_UNIX SOCK_SEQPACKET).
 * A client sends one struct attach_req and receives one struct attach_rep
 * carrying descriptors (SCM_RIGHTS):
 *
 *   ATTACH_CONTROL  (spcp) the memfd read-write plus every doorbell eventfd,
 *                   in doorbell order. Exclusive: one control plane at a
 *                   time, because it is the single producer of the command
 *                   rings. The connection stays open; its EOF tells each side
 *                   the other is gone.
 *   ATTACH_OBSERVE  (spctl) the memfd reopened O_RDONLY, so the observer
 *                   cannot map it writable. spdp closes the connection.
 *
 * Both sides check peer credentials (fdpass_peer_allowed). Refusals carry a
 * negative errno in `status`: -EBUSY (another spcp attached), -EACCES,
 * -EPROTO (bad request).
 */
#ifndef SP_ATTACH_H
#define SP_ATTACH_H

#include <stddef.h>
#include <stdint.h>

#define ATTACH_MAGIC 0x54415053u /* "SPAT" */
#define ATTACH_PROTO 1u
#define ATTACH_SOCKET_NAME "spdp.sock"
#define ATTACH_MAX_DOORBELLS 130

enum attach_mode { ATTACH_CONTROL = 1, ATTACH_OBSERVE = 2 };

struct attach_req {
	uint32_t magic;
	uint16_t proto;
	uint16_t mode;
	int32_t pid;
	uint32_t reserved;
};

struct attach_rep {
	uint32_t magic;
	uint16_t proto;
	uint16_t mode;
	int32_t status;   /* 0 or -errno */
	uint32_t n_fds;   /* memfd + doorbells */
	uint64_t attach_count;
	int32_t dp_pid;
	uint32_t reserved;
};

struct attach_result {
	int sock;     /* kept open for ATTACH_CONTROL, closed (-1) otherwise */
	int shm_fd;
	int doorbells[ATTACH_MAX_DOORBELLS];
	int n_doorbells;
	uint64_t attach_count;
	int dp_pid;
};

/* "<runtime_dir>/<instance>/<name>"; -ENAMETOOLONG when it would not fit a
 * sockaddr_un. */
int attach_path(char *buf, size_t len, const char *runtime_dir, const char *instance,
		const char *name);
/* Create <runtime_dir>/<instance> (mode 0750, or 0770 with group gid). */
int attach_make_dir(const char *runtime_dir, const char *instance, unsigned gid);

/* Connect and attach. 0, or -errno (the refusal's status, or the socket's
 * error). timeout_ms bounds the wait for the reply. */
int attach_connect(const char *path, enum attach_mode mode, int timeout_ms,
		   struct attach_result *res);
void attach_result_close(struct attach_result *res);

#endif
