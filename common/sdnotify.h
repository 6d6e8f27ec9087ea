/*
 * sdnotify: systemd's notify protocol (sd_notify(3)) without libsystemd.
 *
 * Under a Type=notify unit systemd sets $NOTIFY_SOCKET (a path or, with a
 * leading '@', an abstract AF_UNIX datagram socket); with WatchdogSec= it
 * also sets $WATCHDOG_USEC (and $WATCHDOG_PID: the watchdog is ours only
 * when it names this pid). Messages are newline-separated KEY=VALUE lines
 * sent as one datagram: READY=1, STATUS=..., WATCHDOG=1, STOPPING=1.
 *
 * Everything is a no-op without $NOTIFY_SOCKET, so the daemons call it
 * unconditionally. Sends never block the loop: a full or absent receiver
 * loses the message (systemd re-reads nothing, the next ping is the retry).
 * The loop that proves the process alive calls sdnotify_watchdog() every
 * turn; it pings at half the interval systemd asked for.
 */
#ifndef SP_SDNOTIFY_H
#define SP_SDNOTIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

struct sdnotify {
	int fd;                   /* -1: notifications off */
	struct sockaddr_un addr;
	socklen_t addr_len;
	uint64_t watchdog_ns;     /* systemd's interval; 0: no watchdog */
	uint64_t last_ping_ns;
	uint64_t send_errors;
};

/* Read the environment and open the socket. 0 when notifications are off
 * (no $NOTIFY_SOCKET) or on, -errno when $NOTIFY_SOCKET or $WATCHDOG_USEC is
 * set but unusable (n is then off: the caller logs and goes on). Unsets the
 * variables so they are not inherited. Call before starting threads. */
int sdnotify_open(struct sdnotify *n);
void sdnotify_close(struct sdnotify *n);
static inline bool sdnotify_enabled(const struct sdnotify *n) { return n->fd >= 0; }

/* Send one message ("READY=1\nSTATUS=..."); 0, or -errno (counted). */
int sdnotify_send(struct sdnotify *n, const char *msg);
/* READY=1 with MAINPID and a STATUS line. */
int sdnotify_ready(struct sdnotify *n, const char *status);
/* STATUS=<printf>: what `systemctl status` shows. */
int sdnotify_status(struct sdnotify *n, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* WATCHDOG=1 when half the interval passed since the last ping and `alive`;
 * true when it pinged. A loop that is stuck, or says it is not alive (a
 * stalled worker), stops the pings and systemd restarts the service. */
bool sdnotify_watchdog(struct sdnotify *n, uint64_t now_ns, bool alive);

/* Parsers (exposed for tests). $NOTIFY_SOCKET to an address: 0 or -EINVAL
 * (empty, relative, too long), -EAFNOSUPPORT (vsock: and the like). */
int sdnotify_parse_socket(const char *s, struct sockaddr_un *sa, socklen_t *len);
/* $WATCHDOG_USEC and $WATCHDOG_PID (either may be NULL) for process `self`:
 * the interval in ns, 0 when there is no watchdog for us (unset, or for
 * another pid), -EINVAL when malformed (not all digits, zero, overflow). */
int64_t sdnotify_parse_watchdog(const char *usec, const char *pid, pid_t self);

#endif
