/*
 * baselines: the kernel IPC paths the shm ring is measured against, each
 * used the plain way a program would use it, with no tricks the ring does
 * not also get:
 *
 *   pipe         pipe(2), one write(2) per message of [u32 length][payload];
 *                the pipe is resized (F_SETPIPE_SZ) to the ring's capacity so
 *                neither side has more buffering. The reader reads 64 KiB at a
 *                time and splits frames itself (what any stream reader does),
 *                so it makes fewer syscalls than there are messages.
 *   unix         AF_UNIX SOCK_SEQPACKET socketpair: one send(2) and one
 *                recv(2) per message; the kernel keeps message boundaries.
 *                Socket buffers at the kernel defaults (recorded).
 *   unix_stream  AF_UNIX SOCK_STREAM socketpair, framed and read like the pipe.
 *
 * Every syscall costs about 1 us on this kind of virtual machine, which is
 * exactly the cost the ring exists to avoid.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc.h"

enum { V_PIPE = 1, V_UNIX_STREAM = 2, V_UNIX_SEQPACKET = 3 };

#define READ_CHUNK 65536u

struct base_state {
	unsigned variant;
	int rfd, wfd; /* consumer's and producer's end */
	int pipe_bytes;
};

static int base_setup(void **state, const struct ipc_params *p, unsigned variant)
{
	struct base_state *s = calloc(1, sizeof(*s));
	int fds[2], rc;

	if (!s)
		return -ENOMEM;
	s->variant = variant;
	if (variant == V_PIPE) {
		rc = pipe2(fds, O_CLOEXEC);
		if (rc == 0) {
			s->rfd = fds[0];
			s->wfd = fds[1];
			/* Best effort: pipe-max-size (1 MiB by default) caps it. */
			(void)fcntl(s->wfd, F_SETPIPE_SZ, (int)(p->ring_bytes > (1u << 30) ? (1u << 30) : p->ring_bytes));
			s->pipe_bytes = fcntl(s->wfd, F_GETPIPE_SZ);
		}
	} else {
		int type = variant == V_UNIX_STREAM ? SOCK_STREAM : SOCK_SEQPACKET;
		rc = socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds);
		if (rc == 0) {
			s->rfd = fds[0];
			s->wfd = fds[1];
		}
	}
	if (rc < 0) {
		rc = -errno;
		free(s);
		return rc;
	}
	*state = s;
	return 0;
}

static void base_after_fork(void *state, bool producer)
{
	struct base_state *s = state;

	if (producer) {
		close(s->rfd);
		s->rfd = -1;
	} else {
		close(s->wfd);
		s->wfd = -1;
	}
}

static int write_all(int fd, const uint8_t *buf, size_t len, uint64_t *calls)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		(*calls)++;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int base_produce(void *state, const struct ipc_params *p, struct ipc_producer_out *out)
{
	struct base_state *s = state;
	bool framed = s->variant != V_UNIX_SEQPACKET;
	size_t hdr = framed ? sizeof(uint32_t) : 0, len = hdr + p->size;
	uint8_t *buf = malloc(len);
	uint32_t size32 = p->size;
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	memcpy(buf, &size32, sizeof(size32));
	ipc_msg_fill(buf + hdr, p->size);
	for (uint64_t seq = 0; seq < p->count; seq++) {
		ipc_msg_stamp(buf + hdr, p->size, ipc_wire_seq(p, seq));
		if (framed) {
			rc = write_all(s->wfd, buf, len, &out->syscalls);
		} else {
			ssize_t n;
			do {
				n = send(s->wfd, buf, len, MSG_NOSIGNAL);
				out->syscalls++;
			} while (n < 0 && errno == EINTR);
			rc = n < 0 ? -errno : (size_t)n != len ? -EIO : 0;
		}
		if (rc < 0) {
			snprintf(out->why, sizeof(out->why), "send of message %llu: %s",
				 (unsigned long long)seq, strerror(-rc));
			break;
		}
	}
	free(buf);
	return rc;
}

/* Length-prefixed frames from a byte stream, read in large chunks. */
static int consume_stream(struct base_state *s, const struct ipc_params *p,
			  struct ipc_consumer_out *out)
{
	size_t frame = sizeof(uint32_t) + p->size, cap = READ_CHUNK + frame, have = 0, pos = 0;
	uint8_t *buf = malloc(cap);
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	while (out->received < p->count) {
		if (have - pos < frame) {
			memmove(buf, buf + pos, have - pos);
			have -= pos;
			pos = 0;
			ssize_t n = read(s->rfd, buf + have, cap - have);
			out->syscalls++;
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				rc = n < 0 ? -errno : -EPIPE;
				snprintf(out->why, sizeof(out->why), "read after %llu messages: %s",
					 (unsigned long long)out->received,
					 n < 0 ? strerror(errno) : "end of stream (messages lost)");
				break;
			}
			have += (size_t)n;
			continue;
		}
		uint32_t len;
		memcpy(&len, buf + pos, sizeof(len));
		const uint8_t *msg = buf + pos + sizeof(len);
		if (len != p->size || !ipc_msg_ok(msg, len, p->size, out->received)) {
			ipc_msg_explain(out, msg, len, p->size, out->received);
			rc = -EBADMSG;
			break;
		}
		pos += frame;
		out->received++;
	}
	free(buf);
	return rc;
}

static int consume_seqpacket(struct base_state *s, const struct ipc_params *p,
			     struct ipc_consumer_out *out)
{
	uint8_t *buf = malloc(p->size);
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	while (out->received < p->count) {
		/* MSG_TRUNC: the real length, so an oversized message is caught. */
		ssize_t n = recv(s->rfd, buf, p->size, MSG_TRUNC);
		out->syscalls++;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EPIPE;
			snprintf(out->why, sizeof(out->why), "recv after %llu messages: %s",
				 (unsigned long long)out->received,
				 n < 0 ? strerror(errno) : "peer closed (messages lost)");
			break;
		}
		uint32_t len = (uint32_t)n;
		if (!ipc_msg_ok(buf, len, p->size, out->received)) {
			ipc_msg_explain(out, buf, len > p->size ? p->size + 1 : len, p->size,
					out->received);
			rc = -EBADMSG;
			break;
		}
		out->received++;
	}
	free(buf);
	return rc;
}

static int base_consume(void *state, const struct ipc_params *p, struct ipc_consumer_out *out)
{
	struct base_state *s = state;

	return s->variant == V_UNIX_SEQPACKET ? consume_seqpacket(s, p, out) :
						consume_stream(s, p, out);
}

static void base_describe(void *state, cJSON *obj)
{
	struct base_state *s = state;
	int v;
	socklen_t sl = sizeof(v);

	if (s->variant == V_PIPE) {
		cJSON_AddNumberToObject(obj, "pipe_bytes", s->pipe_bytes);
	} else {
		if (getsockopt(s->wfd, SOL_SOCKET, SO_SNDBUF, &v, &sl) == 0)
			cJSON_AddNumberToObject(obj, "so_sndbuf", v);
		sl = sizeof(v);
		if (getsockopt(s->rfd, SOL_SOCKET, SO_RCVBUF, &v, &sl) == 0)
			cJSON_AddNumberToObject(obj, "so_rcvbuf", v);
	}
	if (s->variant != V_UNIX_SEQPACKET)
		cJSON_AddNumberToObject(obj, "read_chunk", READ_CHUNK);
}

static void base_teardown(void *state)
{
	struct base_state *s = state;

	if (!s)
		return;
	if (s->rfd >= 0)
		close(s->rfd);
	if (s->wfd >= 0)
		close(s->wfd);
	free(s);
}

const struct ipc_ops ipc_pipe_ops = {
	.name = "pipe",
	.kind = "baseline",
	.describe = "pipe(2): one write per length-prefixed message, reader reads 64 KiB chunks",
	.variant = V_PIPE,
	.setup = base_setup,
	.after_fork = base_after_fork,
	.produce = base_produce,
	.consume = base_consume,
	.describe_params = base_describe,
	.teardown = base_teardown,
};

const struct ipc_ops ipc_unix_seqpacket_ops = {
	.name = "unix",
	.kind = "baseline",
	.describe = "AF_UNIX SOCK_SEQPACKET socketpair: one send and one recv per message",
	.variant = V_UNIX_SEQPACKET,
	.setup = base_setup,
	.after_fork = base_after_fork,
	.produce = base_produce,
	.consume = base_consume,
	.describe_params = base_describe,
	.teardown = base_teardown,
};

const struct ipc_ops ipc_unix_stream_ops = {
	.name = "unix_stream",
	.kind = "baseline",
	.describe = "AF_UNIX SOCK_STREAM socketpair: one write per length-prefixed message, "
		    "reader reads 64 KiB chunks",
	.variant = V_UNIX_STREAM,
	.setup = base_setup,
	.after_fork = base_after_fork,
	.produce = base_produce,
	.consume = base_consume,
	.describe_params = base_describe,
	.teardown = base_teardown,
};
