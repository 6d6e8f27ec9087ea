/*
 * agent_tunnel_peer: the streampoint side of an agent tunnel, for tests
 * (the real one is spdp's). A TLS server that takes spagent's Upgrade,
 * verifies its Bearer token with agent_auth_token_verify (signature,
 * expiry, bound to this streampoint id), answers 101 or 401, then acts as
 * the stream OPENER through tun_relay: every TCP connection accepted on a
 * forward port (-f LPORT=TARGET, like ssh -R) becomes a stream OPENed to
 * TARGET on the newest tunnel, with bytes relayed both ways.
 *
 * It prints one line per event on stdout for the test to wait on:
 *   listening | tunnel up device=D | tunnel down device=D why=W |
 *   refused err=E | open_ok stream=N | open_fail stream=N reason=R |
 *   closed stream=N reason=R | goaway reason=R | no_tunnel
 *
 *   agent_tunnel_peer -l ADDR:PORT -c CERT -k KEY -i STREAMPOINT_ID
 *                     -t TOKEN_KEY_FILE [-f LPORT=HOST:PORT]...
 *                     [-w WINDOW] [-T seconds to live]
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "addr.h"
#include "agent_auth.h"
#include "clock.h"
#include "evtag.h"
#include "tun_relay.h"

#define MAX_TUN 8
#define MAX_FWD 8

struct ptun {
	struct evtag tag; /* EVTAG_CONN */
	bool used, up, registered;
	int fd;
	SSL *ssl;
	bool tls_done;
	uint32_t events;
	char hdr[AGENT_AUTH_UP_MAX_TOTAL];
	size_t hdr_len;
	char device[AGENT_AUTH_ID_MAX + 1];
	tun_relay *relay;
	uint8_t in[16384];
	size_t in_off, in_len, wpending;
	uint64_t seq;
	bool closing;
};

struct fwd {
	struct evtag tag; /* EVTAG_LISTEN */
	int fd;
	char target[TUN_TARGET_MAX + 1];
};

static struct {
	int epfd;
	SSL_CTX *ctx;
	agent_auth_keyring *kr;
	const char *sp_id;
	uint32_t window;
	struct evtag ltag;
	int lfd;
	struct ptun t[MAX_TUN];
	struct fwd f[MAX_FWD];
	int nf;
	int newest;
} P = { .newest = -1 };

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static int listen_tcp(const char *spec)
{
	struct sp_addr a;
	struct sockaddr_storage ss;
	int one = 1;

	if (sp_addr_parse(&a, spec) < 0)
		return -1;
	socklen_t sl = sp_addr_to_sockaddr(&a, &ss);
	int fd = socket(a.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 64) < 0)
		return -1;
	return fd;
}

static void note(void *ctx, enum tun_relay_note n, uint32_t stream, uint16_t reason)
{
	(void)ctx;
	const char *r = tun_reason_name((enum tun_reason)reason);
	switch (n) {
	case TUN_NOTE_OPEN_OK: say("open_ok stream=%u", stream); break;
	case TUN_NOTE_OPEN_FAIL: say("open_fail stream=%u reason=%s", stream, r); break;
	case TUN_NOTE_CLOSED: say("closed stream=%u reason=%s", stream, r); break;
	case TUN_NOTE_GOAWAY: say("goaway reason=%s", r); break;
	case TUN_NOTE_CONN_ERROR: say("conn_error reason=%s", r); break;
	default: break;
	}
}

static void tun_free(struct ptun *t, const char *why)
{
	if (t->up)
		say("tunnel down device=%s why=%s", t->device, why);
	tun_relay_free(t->relay);
	if (t->ssl)
		SSL_free(t->ssl);
	ERR_clear_error();
	close(t->fd);
	memset(t, 0, sizeof(*t));
	if (P.newest == (int)(t - P.t))
		P.newest = -1;
}

static void tun_events(struct ptun *t, uint32_t want)
{
	struct epoll_event ev = { .events = want, .data.ptr = &t->tag };
	if (t->registered && want == t->events)
		return;
	epoll_ctl(P.epfd, t->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, t->fd, &ev);
	t->registered = true;
	t->events = want;
}

static void respond(struct ptun *t, const char *s)
{
	/* small, into a fresh socket buffer: one write does it */
	int n = SSL_write(t->ssl, s, (int)strlen(s));
	(void)n;
}

static bool on_upgrade(struct ptun *t)
{
	struct agent_auth_upgrade up;
	enum agent_auth_err e = agent_auth_upgrade_parse(t->hdr, t->hdr_len, &up);
	struct agent_auth_token_info ti;
	char buf[256];

	if (e == AGENT_AUTH_NEED_MORE)
		return true;
	if (e == AGENT_AUTH_OK && !up.token)
		e = AGENT_AUTH_UP_BAD_AUTHZ;
	if (e == AGENT_AUTH_OK)
		e = agent_auth_token_verify(P.kr, up.token, up.token_len, P.sp_id, NULL,
					    (uint64_t)time(NULL), &ti);
	if (e != AGENT_AUTH_OK) {
		say("refused err=%s", agent_auth_err_name(e));
		respond(t, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
		return false;
	}
	struct tun_relay_cfg rc = { .opener = true, .window = P.window, .note = note };
	t->relay = tun_relay_new(&rc, P.epfd);
	if (!t->relay)
		return false;
	int n = agent_auth_upgrade_accept(buf, sizeof(buf));
	respond(t, buf);
	(void)n;
	snprintf(t->device, sizeof(t->device), "%s", ti.device_id);
	t->up = true;
	P.newest = (int)(t - P.t);
	say("tunnel up device=%s", t->device);
	/* frames after the header */
	t->in_len = t->hdr_len - up.header_len;
	memcpy(t->in, t->hdr + up.header_len, t->in_len);
	t->in_off = 0;
	return true;
}

/* false: free the tunnel */
static bool tun_run(struct ptun *t, uint64_t now)
{
	if (!t->tls_done) {
		int rc = SSL_accept(t->ssl);
		if (rc != 1) {
			int e = SSL_get_error(t->ssl, rc);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
				tun_events(t, e == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN);
				return true;
			}
			say("refused err=tls");
			return false;
		}
		t->tls_done = true;
	}
	while (!t->up) {
		int n = SSL_read(t->ssl, t->hdr + t->hdr_len, (int)(sizeof(t->hdr) - t->hdr_len));
		if (n <= 0) {
			int e = SSL_get_error(t->ssl, n);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
				tun_events(t, EPOLLIN);
				return true;
			}
			return false;
		}
		t->hdr_len += (size_t)n;
		if (!on_upgrade(t))
			return false;
	}
	for (int i = 0; i < 16; i++) {
		if (t->in_off == t->in_len) {
			if (!tun_relay_can_input(t->relay))
				break;
			int n = SSL_read(t->ssl, t->in, sizeof(t->in));
			if (n <= 0) {
				int e = SSL_get_error(t->ssl, n);
				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
					break;
				ERR_clear_error();
				tun_free(t, "closed");
				return true;
			}
			t->in_off = 0;
			t->in_len = (size_t)n;
		}
		size_t used;
		int rc = tun_relay_input(t->relay, t->in + t->in_off, t->in_len - t->in_off, &used);
		t->in_off += used;
		if (rc < 0 || t->in_off < t->in_len)
			break;
	}
	tun_relay_pump(t->relay, now);
	while (tun_relay_out_len(t->relay)) {
		struct iovec iov[2];
		tun_relay_out(t->relay, iov, SIZE_MAX);
		size_t len = t->wpending ? t->wpending : iov[0].iov_len;
		int n = SSL_write(t->ssl, iov[0].iov_base, (int)len);
		if (n <= 0) {
			int e = SSL_get_error(t->ssl, n);
			if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
				t->wpending = len;
				break;
			}
			ERR_clear_error();
			tun_free(t, "write failed");
			return true;
		}
		t->wpending = 0;
		tun_relay_out_done(t->relay, (size_t)n);
	}
	if (tun_relay_failed(t->relay) && !tun_relay_out_len(t->relay)) {
		tun_free(t, "protocol");
		return true;
	}
	tun_events(t, (t->in_off == t->in_len && tun_relay_can_input(t->relay) ? EPOLLIN : 0) |
			      (tun_relay_out_len(t->relay) ? EPOLLOUT : 0));
	return true;
}

static void accept_tunnel(uint64_t now)
{
	int fd = accept4(P.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (int i = 0; i < MAX_TUN; i++) {
		struct ptun *t = &P.t[i];
		if (t->used)
			continue;
		t->used = true;
		t->tag.kind = EVTAG_CONN;
		t->fd = fd;
		t->ssl = SSL_new(P.ctx);
		SSL_set_fd(t->ssl, fd);
		SSL_set_accept_state(t->ssl);
		if (!tun_run(t, now))
			tun_free(t, "setup");
		return;
	}
	close(fd);
}

static void accept_forward(struct fwd *f)
{
	int fd = accept4(f->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	uint32_t id;

	if (fd < 0)
		return;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (P.newest < 0 || !P.t[P.newest].up) {
		say("no_tunnel");
		close(fd);
		return;
	}
	int rc = tun_relay_open(P.t[P.newest].relay, fd, f->target, &id);
	if (rc < 0)
		say("open_error err=%d", rc);
	else
		say("open stream=%u target=%s", id, f->target);
}

int main(int argc, char **argv)
{
	const char *listen = NULL, *cert = NULL, *key = NULL, *tkey = NULL;
	char kerr[320];
	int c, ttl = 600;

	P.window = 0;
	while ((c = getopt(argc, argv, "l:c:k:i:t:f:w:T:")) != -1) {
		switch (c) {
		case 'l': listen = optarg; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'i': P.sp_id = optarg; break;
		case 't': tkey = optarg; break;
		case 'w': P.window = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'T': ttl = atoi(optarg); break;
		case 'f': {
			char *eq = strchr(optarg, '=');
			if (!eq || P.nf == MAX_FWD)
				return 2;
			*eq = '\0';
			char spec[64];
			snprintf(spec, sizeof(spec), "127.0.0.1:%s", optarg);
			P.f[P.nf].tag.kind = EVTAG_LISTEN;
			P.f[P.nf].fd = listen_tcp(spec);
			snprintf(P.f[P.nf].target, sizeof(P.f[P.nf].target), "%s", eq + 1);
			if (P.f[P.nf].fd < 0) {
				perror("forward listen");
				return 1;
			}
			P.nf++;
			break;
		}
		default:
			return 2;
		}
	}
	if (!listen || !cert || !key || !P.sp_id || !tkey) {
		fprintf(stderr, "usage: see the header of tests/agent_tunnel_peer.c\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	alarm((unsigned)ttl); /* a test that dies never leaves this behind for long */
	P.kr = agent_auth_keyring_new();
	if (!P.kr || agent_auth_keyring_load(P.kr, tkey, false, kerr, sizeof(kerr)) < 0) {
		fprintf(stderr, "token key file %s\n", kerr);
		return 1;
	}
	P.ctx = SSL_CTX_new(TLS_server_method());
	if (SSL_CTX_use_certificate_chain_file(P.ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(P.ctx, key, SSL_FILETYPE_PEM) != 1) {
		fprintf(stderr, "cert/key unusable\n");
		return 1;
	}
	SSL_CTX_set_mode(P.ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	P.epfd = epoll_create1(EPOLL_CLOEXEC);
	P.lfd = listen_tcp(listen);
	if (P.lfd < 0) {
		perror("listen");
		return 1;
	}
	P.ltag.kind = EVTAG_OTHER;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &P.ltag };
	epoll_ctl(P.epfd, EPOLL_CTL_ADD, P.lfd, &ev);
	for (int i = 0; i < P.nf; i++) {
		struct epoll_event fe = { .events = EPOLLIN, .data.ptr = &P.f[i].tag };
		epoll_ctl(P.epfd, EPOLL_CTL_ADD, P.f[i].fd, &fe);
	}
	say("listening");
	for (;;) {
		struct epoll_event evs[32];
		int n = epoll_wait(P.epfd, evs, 32, 100);
		uint64_t now = clock_mono_ns();
		for (int i = 0; i < n; i++) {
			struct evtag *tag = evs[i].data.ptr;
			if (tag == &P.ltag)
				accept_tunnel(now);
			else if (tag->kind == EVTAG_LISTEN)
				accept_forward((struct fwd *)tag);
			else if (tag->kind == EVTAG_STREAM)
				tun_relay_event(tag, evs[i].events);
		}
		for (int i = 0; i < MAX_TUN; i++)
			if (P.t[i].used && !tun_run(&P.t[i], now))
				tun_free(&P.t[i], "refused");
	}
}
