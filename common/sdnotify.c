/* sdnotify: systemd's notify protocol (see sdnotify.h). */
#include "sdnotify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sdnotify_parse_socket(const char *s, struct sockaddr_un *sa, socklen_t *len)
{
	size_t l = s ? strlen(s) : 0;

	if (l == 0)
		return -EINVAL;
	if (s[0] != '/' && s[0] != '@')
		/* vsock:CID:PORT and friends: not for a streampoint host */
		return strchr(s, ':') ? -EAFNOSUPPORT : -EINVAL;
	/* abstract names may fill sun_path; paths need their NUL */
	if (l > sizeof(sa->sun_path) - (s[0] == '/') || l < 2)
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, s, l);
	if (s[0] == '@')
		sa->sun_path[0] = '\0';
	/* an abstract address is exactly its length; a path's NUL is optional */
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + l);
	return 0;
}

/* Decimal digits only, no sign or spaces: -1 otherwise or on overflow. */
static int parse_u64(const char *s, uint64_t *v)
{
	uint64_t x = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || x > (UINT64_MAX - 9) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*v = x;
	return 0;
}

int64_t sdnotify_parse_watchdog(const char *usec, const char *pid, pid_t self)
{
	uint64_t us, p;

	if (!usec)
		return 0;
	if (parse_u64(usec, &us) < 0 || us == 0 || us > (uint64_t)INT64_MAX / 1000)
		return -EINVAL;
	if (pid) {
		if (parse_u64(pid, &p) < 0 || p == 0)
			return -EINVAL;
		if (p != (uint64_t)self)
			return 0; /* set for a parent or a sibling, not us */
	}
	return (int64_t)(us * 1000);
}

int sdnotify_open(struct sdnotify *n)
{
	const char *s = getenv("NOTIFY_SOCKET");
	int64_t wd;
	int rc;

	memset(n, 0, sizeof(*n));
	n->fd = -1;
	if (!s)
		return 0;
	rc = sdnotify_parse_socket(s, &n->addr, &n->addr_len);
	wd = sdnotify_parse_watchdog(getenv("WATCHDOG_USEC"), getenv("WATCHDOG_PID"), getpid());
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	if (rc < 0)
		return rc;
	if (wd < 0)
		return (int)wd;
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (n->fd < 0)
		return -errno;
	n->watchdog_ns = (uint64_t)wd;
	return 0;
}

void sdnotify_close(struct sdnotify *n)
{
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
}

int sdnotify_send(struct sdnotify *n, const char *msg)
{
	if (n->fd < 0)
		return 0;
	if (sendto(n->fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&n->addr,
		   n->addr_len) < 0) {
		n->send_errors++;
		return -errno;
	}
	return 0;
}

int sdnotify_ready(struct sdnotify *n, const char *status)
{
	char buf[512];

	/* MAINPID: harmless for Type=notify, needed if a wrapper forked us */
	snprintf(buf, sizeof(buf), "READY=1\nMAINPID=%ld\nSTATUS=%s", (long)getpid(), status);
	return sdnotify_send(n, buf);
}

int sdnotify_status(struct sdnotify *n, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int l;

	if (n->fd < 0)
		return 0;
	l = snprintf(buf, sizeof(buf), "STATUS=");
	va_start(ap, fmt);
	vsnprintf(buf + l, sizeof(buf) - (size_t)l, fmt, ap);
	va_end(ap);
	/* a newline would start another assignment */
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return sdnotify_send(n, buf);
}

bool sdnotify_watchdog(struct sdnotify *n, uint64_t now_ns, bool alive)
{
	if (n->fd < 0 || !n->watchdog_ns || !alive ||
	    (n->last_ping_ns && now_ns - n->last_ping_ns < n->watchdog_ns / 2))
		return false;
	n->last_ping_ns = now_ns;
	sdnotify_send(n, "WATCHDOG=1");
	return true;
}
