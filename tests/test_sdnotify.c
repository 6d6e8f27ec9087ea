/*
 * test_sdnotify: systemd's notify protocol (common/sdnotify.c) against a
 * real datagram socket standing in for systemd:
 *  - $NOTIFY_SOCKET and $WATCHDOG_USEC/$WATCHDOG_PID parsing: a table of
 *    good, hostile and foreign values;
 *  - READY/STATUS/STOPPING arrive as one datagram each, on a path socket and
 *    on an abstract one; the variables are unset after opening;
 *  - the watchdog pings at half the interval, not more often, and never
 *    while the caller says it is not alive;
 *  - no $NOTIFY_SOCKET: everything is a quiet no-op; a receiver that went
 *    away is counted, not fatal.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sdnotify.h"

struct wdcase {
	const char *usec, *pid;
	bool self_pid;  /* pid is replaced by our own */
	int64_t want;
};

static const struct wdcase wdcases[] = {
	{ NULL, NULL, false, 0 },
	{ "1000000", NULL, false, 1000000000 },
	{ "1", NULL, false, 1000 },
	{ "20000000", "x", true, 20000000000 },
	{ "20000000", "1", false, 0 },                 /* another process's watchdog */
	{ "", NULL, false, -EINVAL },
	{ "0", NULL, false, -EINVAL },
	{ "-5", NULL, false, -EINVAL },
	{ "+5", NULL, false, -EINVAL },
	{ " 5", NULL, false, -EINVAL },
	{ "5 ", NULL, false, -EINVAL },
	{ "5s", NULL, false, -EINVAL },
	{ "0x10", NULL, false, -EINVAL },
	{ "18446744073709551615", NULL, false, -EINVAL }, /* overflows ns */
	{ "99999999999999999999999", NULL, false, -EINVAL },
	{ "9223372036854775", NULL, false, 9223372036854775000 },
	{ "9223372036854776", NULL, false, -EINVAL },
	{ "1000", "", false, -EINVAL },
	{ "1000", "0", false, -EINVAL },
	{ "1000", "12ab", false, -EINVAL },
};

Test(sdnotify, parse_watchdog_table)
{
	char self[32];
	snprintf(self, sizeof(self), "%ld", (long)getpid());
	for (size_t i = 0; i < sizeof(wdcases) / sizeof(wdcases[0]); i++) {
		const struct wdcase *c = &wdcases[i];
		int64_t got = sdnotify_parse_watchdog(c->usec, c->self_pid ? self : c->pid, getpid());
		cr_expect_eq(got, c->want, "case %zu (%s, %s): got %lld want %lld", i,
			     c->usec ? c->usec : "NULL", c->pid ? c->pid : "NULL", (long long)got,
			     (long long)c->want);
	}
}

struct sockcase {
	const char *in;
	int rc;
	size_t path_len; /* bytes of sun_path the address uses */
	bool abstract;
};

Test(sdnotify, parse_socket_table)
{
	char longp[200], maxpath[108], maxabs[109];

	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = 0;
	memset(maxpath, 'p', sizeof(maxpath) - 1); /* 107 bytes + NUL: fits */
	maxpath[0] = '/';
	maxpath[sizeof(maxpath) - 1] = 0;
	memset(maxabs, 'b', sizeof(maxabs) - 1);   /* 108 bytes, no NUL needed */
	maxabs[0] = '@';
	maxabs[sizeof(maxabs) - 1] = 0;
	const struct sockcase cases[] = {
		{ "/run/systemd/notify", 0, 19, false },
		{ "@/org/freedesktop/systemd1/notify/123", 0, 37, true },
		{ maxpath, 0, 107, false },
		{ maxabs, 0, 108, true },
		{ "", -EINVAL, 0, false },
		{ "/", -EINVAL, 0, false },
		{ "@", -EINVAL, 0, false },
		{ "relative/notify", -EINVAL, 0, false },
		{ "vsock:2:1234", -EAFNOSUPPORT, 0, false },
		{ longp, -EINVAL, 0, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sockaddr_un sa;
		socklen_t len = 0;
		int rc = sdnotify_parse_socket(cases[i].in, &sa, &len);
		cr_expect_eq(rc, cases[i].rc, "case %zu: rc %d want %d", i, rc, cases[i].rc);
		if (rc || cases[i].rc)
			continue;
		cr_expect_eq(len, offsetof(struct sockaddr_un, sun_path) + cases[i].path_len, "case %zu", i);
		cr_expect_eq(sa.sun_path[0] == '\0', cases[i].abstract, "case %zu", i);
		cr_expect_eq(memcmp(sa.sun_path + 1, cases[i].in + 1, cases[i].path_len - 1), 0,
			     "case %zu", i);
	}
	cr_expect_eq(sdnotify_parse_socket(NULL, NULL, NULL), -EINVAL);
}

/* The stand-in for systemd: a datagram socket at a path or abstract name. */
static int listener(const char *name, char *env, size_t envlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	cr_assert(fd >= 0);
	if (name[0] == '@') {
		snprintf(env, envlen, "@sp-test-sdnotify-%ld-%s", (long)getpid(), name + 1);
		memcpy(sa.sun_path + 1, env + 1, strlen(env) - 1);
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(env));
	} else {
		snprintf(env, envlen, "/tmp/sp-test-sdnotify-%ld-%s", (long)getpid(), name);
		unlink(env);
		strcpy(sa.sun_path, env);
		len = sizeof(sa);
	}
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, len), 0, "bind %s: %s", env, strerror(errno));
	struct timeval tv = { .tv_sec = 10 }; /* a lost datagram fails, not hangs */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void expect_msg(int fd, const char *want)
{
	char buf[1024];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
	cr_assert(n > 0, "no datagram (want '%s')", want);
	buf[n] = 0;
	cr_expect_str_eq(buf, want);
}

static bool pending(int fd)
{
	char b;
	return recv(fd, &b, 1, MSG_DONTWAIT | MSG_PEEK) >= 0;
}

static void roundtrip(const char *name)
{
	char env[108], ready[256];
	int fd = listener(name, env, sizeof(env));
	struct sdnotify n;

	setenv("NOTIFY_SOCKET", env, 1);
	setenv("WATCHDOG_USEC", "2000000", 1);
	unsetenv("WATCHDOG_PID");
	cr_assert_eq(sdnotify_open(&n), 0);
	cr_expect(sdnotify_enabled(&n));
	cr_expect_eq(n.watchdog_ns, 2000000000ull);
	cr_expect_null(getenv("NOTIFY_SOCKET"), "not inherited by children");
	cr_expect_null(getenv("WATCHDOG_USEC"));

	cr_expect_eq(sdnotify_ready(&n, "running"), 0);
	snprintf(ready, sizeof(ready), "READY=1\nMAINPID=%ld\nSTATUS=running", (long)getpid());
	expect_msg(fd, ready);
	cr_expect_eq(sdnotify_status(&n, "attached to spdp pid %d\nREADY=0", 42), 0);
	expect_msg(fd, "STATUS=attached to spdp pid 42 READY=0"); /* no smuggled assignment */

	/* the first turn pings; then only once half the interval has passed */
	cr_expect(sdnotify_watchdog(&n, 5000000000ull, true));
	expect_msg(fd, "WATCHDOG=1");
	cr_expect_not(sdnotify_watchdog(&n, 5000000000ull + 999999999ull, true));
	cr_expect_not(pending(fd));
	cr_expect_not(sdnotify_watchdog(&n, 5000000000ull + 1000000000ull, false),
		      "not alive: no ping");
	cr_expect_not(pending(fd));
	cr_expect(sdnotify_watchdog(&n, 5000000000ull + 1000000000ull, true));
	expect_msg(fd, "WATCHDOG=1");

	cr_expect_eq(sdnotify_send(&n, "STOPPING=1"), 0);
	expect_msg(fd, "STOPPING=1");
	cr_expect_eq(n.send_errors, 0);
	sdnotify_close(&n);
	close(fd);
	if (name[0] != '@')
		unlink(env);
}

Test(sdnotify, path_socket) { roundtrip("path"); }
Test(sdnotify, abstract_socket) { roundtrip("@abstract"); }

Test(sdnotify, off_without_env)
{
	struct sdnotify n;

	unsetenv("NOTIFY_SOCKET");
	setenv("WATCHDOG_USEC", "1000", 1);
	cr_assert_eq(sdnotify_open(&n), 0);
	cr_expect_not(sdnotify_enabled(&n));
	cr_expect_eq(sdnotify_ready(&n, "x"), 0);
	cr_expect_eq(sdnotify_status(&n, "%s", "x"), 0);
	cr_expect_not(sdnotify_watchdog(&n, 1, true));
	sdnotify_close(&n);
	unsetenv("WATCHDOG_USEC");
}

Test(sdnotify, bad_env_is_an_error_and_off)
{
	struct sdnotify n;

	setenv("NOTIFY_SOCKET", "vsock:2:9", 1);
	cr_expect_eq(sdnotify_open(&n), -EAFNOSUPPORT);
	cr_expect_not(sdnotify_enabled(&n));
	setenv("NOTIFY_SOCKET", "/tmp/whatever", 1);
	setenv("WATCHDOG_USEC", "soon", 1);
	cr_expect_eq(sdnotify_open(&n), -EINVAL);
	cr_expect_not(sdnotify_enabled(&n));
	cr_expect_null(getenv("NOTIFY_SOCKET"));
}

Test(sdnotify, watchdog_for_another_pid)
{
	struct sdnotify n;
	char env[108];
	int fd = listener("otherpid", env, sizeof(env));

	setenv("NOTIFY_SOCKET", env, 1);
	setenv("WATCHDOG_USEC", "1000000", 1);
	setenv("WATCHDOG_PID", "1", 1);
	cr_assert_eq(sdnotify_open(&n), 0);
	cr_expect(sdnotify_enabled(&n));
	cr_expect_eq(n.watchdog_ns, 0);
	cr_expect_not(sdnotify_watchdog(&n, 1, true));
	sdnotify_close(&n);
	close(fd);
	unlink(env);
}

Test(sdnotify, receiver_gone_is_counted)
{
	struct sdnotify n;
	char env[108];
	int fd = listener("gone", env, sizeof(env));

	setenv("NOTIFY_SOCKET", env, 1);
	unsetenv("WATCHDOG_USEC");
	cr_assert_eq(sdnotify_open(&n), 0);
	close(fd);
	unlink(env);
	cr_expect_lt(sdnotify_send(&n, "READY=1"), 0);
	cr_expect_eq(n.send_errors, 1);
	sdnotify_close(&n);
}
