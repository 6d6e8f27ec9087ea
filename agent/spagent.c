/*
 * spagent: the camera-side agent (docs/agent.md, docs/agent-protocol.md).
 *
 * One epoll loop, no threads. Two kinds of outbound TLS connections:
 *  - the control connection to an endpoint (spcp): Upgrade, the mutual
 *    handshake, then AUTH_OK's assignment (token + streampoint), SWITCH,
 *    GOAWAY and heartbeats. Endpoints are tried in order; every failed
 *    attempt moves to the next one after a backoff with full jitter.
 *  - the tunnel to the assigned streampoint (spdp): Upgrade with the token,
 *    then spdp OPENs streams that tun_relay connects to camera-local
 *    services on the allow-list. On SWITCH the new tunnel comes up first;
 *    the old one then gets GOAWAY(shutdown) and its streams may finish.
 * The tunnel lives on when the control connection drops (and the other way
 * round); each reconnects with its own backoff. A streampoint that refuses
 * failover_after attempts in a row is reported to the endpoint
 * (UNREACHABLE), which answers with a SWITCH to another one.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "aconn.h"
#include "agent_auth.h"
#include "agent_cfg.h"
#include "backoff.h"
#include "bytering.h"
#include "clock.h"
#include "keyhex.h"
#include "log.h"
#include "sdnotify.h"
#include "tun_frame.h"
#include "tun_relay.h"

#define MS 1000000ull
#define TICK_MS 100
#define CTL_QUEUE 8192
/* While a tunnel has streams, its TLS records are gathered up to this and
 * sent with one send(): a 64 KiB DATA frame is four records, each was one
 * send(). */
#define TUN_WBUF (128u << 10)

enum ctl_state { CTL_WAIT, CTL_SETUP, CTL_HANDSHAKE, CTL_READY };
enum tun_state { T_NONE, T_SETUP, T_UP };

struct tunnel {
	struct aconn c;
	enum tun_state st;
	tun_relay *relay;
	bool draining;
	char addr[TUN_TARGET_MAX + 1];
	uint8_t in[16384];
	size_t in_off, in_len;
	uint64_t last_rx_ns, last_ping_ns, up_ns, drain_deadline_ns;
	uint64_t ping_seq;
};

static struct agent {
	struct agent_config cfg;
	struct agent_conf conf;
	int epfd, sfd;
	SSL_CTX *ssl;
	uint8_t key[AGENT_AUTH_KEY_LEN];
	struct evtag sig_tag;
	/* control connection */
	struct aconn ctl;
	enum ctl_state ctl_st;
	int ep;                 /* endpoint index of the current/next attempt */
	struct backoff ctl_bo;
	uint64_t ctl_next_ns, ctl_rx_ns, ctl_ping_ns, ctl_up_ns;
	uint64_t ctl_seq, ctl_attempts;
	tun_parser *ctl_parser;
	agent_auth_hs *hs;
	struct bytering ctl_out;
	/* assignment */
	bool assigned;
	char token[AGENT_AUTH_TOKEN_MAX + 1];
	char sp_addr[TUN_TARGET_MAX + 1];
	/* tunnels: tun[cur] is current, the other one drains after a switch */
	struct tunnel tun[2];
	int cur;
	struct backoff tun_bo;
	uint64_t tun_next_ns;
	uint32_t tun_fails;     /* attempts in a row that did not come up */
} A;

static uint32_t rnd32(void)
{
	uint32_t r = 0;
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (uint32_t)random();
	return r;
}

/* ---- control connection ---- */

static void ctl_queue(uint8_t type, uint32_t stream, const void *payload, uint32_t len,
		      uint16_t reason)
{
	struct tun_frame f = { .type = type, .stream = stream, .len = len, .payload = payload,
			       .reason = reason };
	uint8_t buf[TUN_HEADER_LEN + TUN_AUTH_MAX_PAYLOAD];

	if (type == TUN_PING || type == TUN_PONG)
		memcpy(f.ping, payload, TUN_PING_LEN);
	if (type == TUN_GOAWAY)
		f.len = 6;
	int n = tun_frame_encode(&f, buf, sizeof(buf));
	if (n > 0)
		bytering_push(&A.ctl_out, buf, (size_t)n);
}

/* Ends the control connection; a failed attempt (not READY yet) moves on
 * to the next endpoint. extra_ms replaces the backoff when non-zero. */
static void ctl_down(const char *why, uint64_t now, uint64_t extra_ms)
{
	char ep[HOSTPORT_HOST_MAX + 10];
	bool was_ready = A.ctl_st == CTL_READY;
	uint64_t delay;

	hostport_format(&A.conf.endpoints[A.ep], ep, sizeof(ep));
	aconn_close(&A.ctl);
	agent_auth_hs_free(A.hs);
	A.hs = NULL;
	tun_parser_free(A.ctl_parser);
	A.ctl_parser = NULL;
	bytering_free(&A.ctl_out);
	if (was_ready && now - A.ctl_up_ns >= (uint64_t)A.cfg.stable_s * 1000 * MS)
		backoff_reset(&A.ctl_bo);
	if (!was_ready)
		A.ep = (A.ep + 1) % A.conf.nendpoints;
	delay = extra_ms ? extra_ms : backoff_next(&A.ctl_bo, rnd32());
	A.ctl_next_ns = now + delay * MS;
	A.ctl_st = CTL_WAIT;
	log_warn(0, "control: %s %s; next attempt in %llu ms", ep, why, (unsigned long long)delay);
}

static void ctl_start(uint64_t now)
{
	const struct hostport *ep = &A.conf.endpoints[A.ep];

	A.ctl_attempts++;
	log_info("control: connecting to %s:%u (attempt %llu)", ep->host, (unsigned)ep->port,
		 (unsigned long long)A.ctl_attempts);
	A.ctl.owner = &A;
	if (aconn_start(&A.ctl, A.epfd, A.ssl, ep, A.conf.use_proxy ? &A.conf.proxy : NULL,
			A.cfg.proxy_auth, NULL, now) < 0) {
		A.ctl_st = CTL_SETUP; /* so ctl_down counts a failed attempt */
		ctl_down(A.ctl.why, now, 0);
		return;
	}
	A.ctl_st = CTL_SETUP;
}

static void tunnel_close(struct tunnel *t, const char *why);
static void tunnel_start(struct tunnel *t, uint64_t now);
static void tunnel_attempt_failed(void);

/* A new assignment (AUTH_OK or SWITCH). */
static void on_assign(const uint8_t *p, size_t len, bool is_switch, uint64_t now)
{
	struct agent_auth_assign a;
	enum agent_auth_err e = agent_auth_assign_parse(p, len, &a);

	if (e != AGENT_AUTH_OK) {
		ctl_queue(TUN_GOAWAY, 0, NULL, 0, TUN_R_PROTOCOL);
		ctl_down("sent a malformed assignment", now, 0);
		return;
	}
	bool moved = !A.assigned || a.addr_len != strlen(A.sp_addr) ||
		     memcmp(a.addr, A.sp_addr, a.addr_len);
	memcpy(A.token, a.token, a.token_len);
	A.token[a.token_len] = '\0';
	memcpy(A.sp_addr, a.addr, a.addr_len);
	A.sp_addr[a.addr_len] = '\0';
	A.assigned = true;
	/* failures count from here: an outage that also cut the control
	 * connection says nothing about the streampoint */
	A.tun_fails = 0;
	log_notice("control: %s: streampoint %s", is_switch ? "SWITCH" : "assigned", A.sp_addr);
	if (!moved && !is_switch)
		return; /* same streampoint: the running tunnel stays */
	struct tunnel *t = &A.tun[A.cur], *o = &A.tun[1 - A.cur];
	if (t->st == T_UP) {
		/* the new tunnel comes up first; this one drains after that */
		tunnel_close(o, "replaced by another switch");
		A.cur = 1 - A.cur;
		t = o;
	} else {
		tunnel_close(t, "superseded by a new assignment");
	}
	backoff_reset(&A.tun_bo);
	tunnel_start(t, now);
}

static void ctl_frame(const struct tun_frame *f, uint64_t now)
{
	uint8_t out[AGENT_AUTH_MAC_LEN + 8];
	size_t ol;
	enum agent_auth_err e;

	switch (f->type) {
	case TUN_AUTH_CHALLENGE:
		if (A.ctl_st != CTL_HANDSHAKE)
			break;
		e = agent_auth_hs_on_challenge(A.hs, f->payload, f->len, out, sizeof(out), &ol);
		if (e != AGENT_AUTH_OK) {
			char why[64];
			snprintf(why, sizeof(why), "failed the handshake (%s)", agent_auth_err_name(e));
			ctl_queue(TUN_GOAWAY, 0, NULL, 0, TUN_R_AUTH);
			/* ctl_down drops the queue: write the GOAWAY now (best
			 * effort) so the endpoint can count the refusal */
			struct iovec iov[2];
			if (bytering_data(&A.ctl_out, iov, SIZE_MAX) > 0)
				aconn_write(&A.ctl, iov[0].iov_base, iov[0].iov_len);
			ctl_down(why, now, 0);
			return;
		}
		ctl_queue(TUN_AUTH_PROOF, 0, out, (uint32_t)ol, 0);
		return;
	case TUN_AUTH_OK:
		if (A.ctl_st != CTL_HANDSHAKE || !agent_auth_hs_done(A.hs))
			break;
		A.ctl_st = CTL_READY;
		A.ctl_up_ns = now;
		agent_auth_hs_free(A.hs);
		A.hs = NULL;
		log_notice("control: authenticated at %s:%u", A.conf.endpoints[A.ep].host,
			   (unsigned)A.conf.endpoints[A.ep].port);
		on_assign(f->payload, f->len, false, now);
		return;
	case TUN_AUTH_FAIL:
		ctl_down("refused the device (AUTH_FAIL)", now, 0);
		return;
	case TUN_SWITCH:
		if (A.ctl_st != CTL_READY)
			break;
		on_assign(f->payload, f->len, true, now);
		return;
	case TUN_PING:
		ctl_queue(TUN_PONG, 0, f->ping, TUN_PING_LEN, 0);
		return;
	case TUN_PONG:
		return;
	case TUN_GOAWAY:
		if (f->reason == TUN_R_AUTH) {
			/* revoked: nothing may go on under this identity */
			tunnel_close(&A.tun[0], "device revoked");
			tunnel_close(&A.tun[1], "device revoked");
			A.assigned = false;
			A.ctl_st = CTL_SETUP; /* next endpoint */
			ctl_down("revoked the device (GOAWAY auth)", now,
				 (uint64_t)A.cfg.auth_backoff_s * 1000);
		} else {
			A.ctl_st = CTL_SETUP;
			ctl_down(f->reason == TUN_R_SHUTDOWN ? "is draining (GOAWAY shutdown)" :
							       "sent GOAWAY", now, 0);
		}
		return;
	default:
		break;
	}
	ctl_queue(TUN_GOAWAY, 0, NULL, 0, TUN_R_PROTOCOL);
	ctl_down("broke the protocol", now, 0);
}

static void ctl_pump(uint64_t now)
{
	if (A.ctl_st == CTL_WAIT) {
		if (now >= A.ctl_next_ns)
			ctl_start(now);
		if (A.ctl_st == CTL_WAIT)
			return;
	}
	if (A.ctl_st == CTL_SETUP) {
		int rc = aconn_pump(&A.ctl);
		if (rc < 0) {
			ctl_down(A.ctl.why, now, 0);
			return;
		}
		if (rc == 1) {
			uint8_t hello[AGENT_AUTH_HELLO_MAX];
			A.hs = agent_auth_hs_agent_new(A.cfg.device_id, A.key,
						       A.cfg.server_id[0] ? A.cfg.server_id : NULL);
			A.ctl_parser = tun_parser_new(TUN_AUTH_MAX_PAYLOAD);
			bytering_init(&A.ctl_out, CTL_QUEUE);
			int n = A.hs && A.ctl_parser ? agent_auth_hs_hello(A.hs, hello, sizeof(hello)) : -1;
			if (n < 0) {
				ctl_down("handshake setup failed", now, 0);
				return;
			}
			ctl_queue(TUN_AUTH_HELLO, 0, hello, (uint32_t)n, 0);
			A.ctl_st = CTL_HANDSHAKE;
			A.ctl_rx_ns = now;
		} else if (now - A.ctl.since_ns > (uint64_t)A.cfg.connect_timeout_ms * MS) {
			A.ctl.why = NULL;
			ctl_down("timed out", now, 0);
			return;
		} else {
			aconn_update(&A.ctl, false, false);
			return;
		}
	}
	/* frames in */
	for (int i = 0; i < 64 && A.ctl_st >= CTL_HANDSHAKE; i++) {
		uint8_t buf[4096];
		ssize_t n = aconn_read(&A.ctl, buf, sizeof(buf));
		if (n == 0)
			break;
		if (n < 0) {
			ctl_down("closed the connection", now, 0);
			return;
		}
		A.ctl_rx_ns = now;
		size_t off = 0;
		while (off < (size_t)n && A.ctl_st >= CTL_HANDSHAKE) {
			struct tun_frame f;
			size_t used;
			int rc = tun_parser_feed(A.ctl_parser, buf + off, (size_t)n - off, &used, &f);
			off += used;
			if (rc == 0)
				break;
			if (rc < 0) {
				ctl_queue(TUN_GOAWAY, 0, NULL, 0, TUN_R_PROTOCOL);
				ctl_down("sent a malformed frame", now, 0);
				return;
			}
			ctl_frame(&f, now);
		}
	}
	if (A.ctl_st < CTL_HANDSHAKE)
		return;
	/* heartbeats; the handshake must finish within the connect timeout */
	uint64_t hb = (uint64_t)A.cfg.heartbeat_s * 1000 * MS;
	if (A.ctl_st == CTL_HANDSHAKE && now - A.ctl.since_ns > (uint64_t)A.cfg.connect_timeout_ms * MS) {
		ctl_down("did not finish the handshake in time", now, 0);
		return;
	}
	if (A.ctl_st == CTL_READY) {
		if (now - A.ctl_rx_ns >= 3 * hb) {
			ctl_queue(TUN_GOAWAY, 0, NULL, 0, TUN_R_TIMEOUT);
			ctl_down("went silent (3 heartbeats)", now, 0);
			return;
		}
		if (now - A.ctl_rx_ns >= hb && now - A.ctl_ping_ns >= hb) {
			uint8_t ping[TUN_PING_LEN];
			uint64_t s = ++A.ctl_seq;
			for (int i = 0; i < TUN_PING_LEN; i++)
				ping[i] = (uint8_t)(s >> (56 - 8 * i));
			ctl_queue(TUN_PING, 0, ping, TUN_PING_LEN, 0);
			A.ctl_ping_ns = now;
		}
	}
	/* frames out */
	while (bytering_len(&A.ctl_out)) {
		struct iovec iov[2];
		bytering_data(&A.ctl_out, iov, SIZE_MAX);
		ssize_t n = aconn_write(&A.ctl, iov[0].iov_base, iov[0].iov_len);
		if (n < 0) {
			ctl_down("closed the connection", now, 0);
			return;
		}
		if (n == 0)
			break;
		bytering_consume(&A.ctl_out, (size_t)n);
	}
	aconn_update(&A.ctl, true, bytering_len(&A.ctl_out) > 0);
}

/* ---- tunnels ---- */

static bool allow_cb(void *ctx, const char *target, size_t len)
{
	(void)ctx;
	return agent_cfg_allowed(&A.conf, target, len);
}

static void note_cb(void *ctx, enum tun_relay_note n, uint32_t stream, uint16_t reason)
{
	struct tunnel *t = ctx;
	const char *r = tun_reason_name((enum tun_reason)reason);

	switch (n) {
	case TUN_NOTE_OPEN_OK:
		log_info("tunnel %s: stream %u open", t->addr, stream);
		break;
	case TUN_NOTE_OPEN_FAIL:
		log_info("tunnel %s: stream %u refused: %s", t->addr, stream, r);
		break;
	case TUN_NOTE_CLOSED:
		log_debug("tunnel %s: stream %u closed: %s", t->addr, stream, r);
		break;
	case TUN_NOTE_GOAWAY:
		log_notice("tunnel %s: streampoint sent GOAWAY (%s)", t->addr, r);
		t->draining = true;
		break;
	case TUN_NOTE_CONN_ERROR:
		log_warn(0, "tunnel %s: protocol violation (%s)", t->addr, r);
		break;
	default:
		break;
	}
}

static void tunnel_close(struct tunnel *t, const char *why)
{
	if (t->st == T_NONE)
		return;
	if (why)
		log_notice("tunnel %s: closed: %s", t->addr, why);
	aconn_close(&t->c);
	tun_relay_free(t->relay);
	t->relay = NULL;
	t->st = T_NONE;
	t->draining = false;
	t->in_off = t->in_len = 0;
}

static void tunnel_start(struct tunnel *t, uint64_t now)
{
	struct hostport hp;

	if (hostport_parse(A.sp_addr, strlen(A.sp_addr), &hp) < 0) {
		log_warn(0, "tunnel: assignment address %s unusable", A.sp_addr);
		A.tun_next_ns = now + backoff_next(&A.tun_bo, rnd32()) * MS;
		return;
	}
	snprintf(t->addr, sizeof(t->addr), "%s", A.sp_addr);
	t->c.owner = t;
	t->draining = false;
	log_info("tunnel: connecting to %s", t->addr);
	if (aconn_start(&t->c, A.epfd, A.ssl, &hp, A.conf.use_proxy ? &A.conf.proxy : NULL,
			A.cfg.proxy_auth, A.token, now) < 0) {
		uint64_t d = backoff_next(&A.tun_bo, rnd32());
		log_warn(0, "tunnel %s: %s; next attempt in %llu ms", t->addr, t->c.why,
			 (unsigned long long)d);
		A.tun_next_ns = now + d * MS;
		t->st = T_NONE;
		if (t == &A.tun[A.cur])
			tunnel_attempt_failed();
		return;
	}
	t->st = T_SETUP;
}

/* The streampoint does not let the tunnel come up (dead, unreachable from
 * here): ask the endpoint for another one (UNREACHABLE, answered with a
 * SWITCH) instead of retrying it forever. */
static void tunnel_attempt_failed(void)
{
	uint8_t p[2 + TUN_TARGET_MAX];

	if (!A.cfg.failover_after || A.ctl_st != CTL_READY || ++A.tun_fails < A.cfg.failover_after)
		return;
	int n = agent_auth_unreachable_encode(A.sp_addr, strlen(A.sp_addr), p, sizeof(p));
	if (n < 0)
		return;
	ctl_queue(TUN_UNREACHABLE, 0, p, (uint32_t)n, 0);
	A.tun_fails = 0;
	log_notice("control: streampoint %s unreachable after %u attempts: asking for another",
		   A.sp_addr, A.cfg.failover_after);
}

static void tunnel_failed(struct tunnel *t, const char *why, uint64_t now)
{
	bool was_up = t->st == T_UP;
	int status = t->c.status;

	if (was_up && now - t->up_ns >= (uint64_t)A.cfg.stable_s * 1000 * MS)
		backoff_reset(&A.tun_bo);
	uint64_t d = backoff_next(&A.tun_bo, rnd32());
	log_warn(0, "tunnel %s: %s; next attempt in %llu ms", t->addr, why, (unsigned long long)d);
	tunnel_close(t, NULL);
	A.tun_next_ns = now + d * MS;
	if (status == 401 && !was_up) {
		/* token expired or refused: a fresh one comes with a new control session */
		A.assigned = false;
		if (A.ctl_st == CTL_READY)
			ctl_down("reconnecting for a fresh token", now, 1);
	} else if (!was_up && t == &A.tun[A.cur]) {
		tunnel_attempt_failed();
	}
}

static void tunnel_up(struct tunnel *t, uint64_t now)
{
	struct tun_relay_cfg rc = {
		.opener = false, .max_streams = A.cfg.max_streams, .window = (uint32_t)A.cfg.window,
		.out_cap = (size_t)A.cfg.queue, .connect_timeout_ms = A.cfg.open_timeout_ms,
		.allow = allow_cb, .note = note_cb, .ctx = t,
	};
	t->relay = tun_relay_new(&rc, A.epfd);
	if (!t->relay) {
		tunnel_failed(t, "out of memory", now);
		return;
	}
	t->st = T_UP;
	t->up_ns = t->last_rx_ns = t->last_ping_ns = now;
	A.tun_fails = 0;
	log_notice("tunnel %s: up", t->addr);
	struct tunnel *old = &A.tun[1 - A.cur];
	if (t == &A.tun[A.cur] && old->st == T_UP && !old->draining) {
		tun_relay_goaway(old->relay, TUN_R_SHUTDOWN);
		old->draining = true;
		old->drain_deadline_ns = now + (uint64_t)A.cfg.drain_s * 1000 * MS;
		log_notice("tunnel %s: draining (%u streams) after the switch to %s", old->addr,
			   tun_relay_live(old->relay), t->addr);
	}
}

static void tunnel_pump(struct tunnel *t, uint64_t now)
{
	if (t->st == T_SETUP) {
		int rc = aconn_pump(&t->c);
		if (rc < 0) {
			tunnel_failed(t, t->c.why, now);
			return;
		}
		if (rc == 0) {
			if (now - t->c.since_ns > (uint64_t)A.cfg.connect_timeout_ms * MS)
				tunnel_failed(t, "timed out", now);
			else
				aconn_update(&t->c, false, false);
			return;
		}
		tunnel_up(t, now);
		if (t->st != T_UP)
			return;
	}
	if (t->st != T_UP)
		return;
	for (int i = 0; i < 16; i++) {
		if (t->in_off == t->in_len) {
			if (!tun_relay_can_input(t->relay) || !aconn_readable(&t->c))
				break;
			ssize_t n = aconn_read(&t->c, t->in, sizeof(t->in));
			if (n == 0)
				break;
			if (n < 0) {
				tunnel_failed(t, "connection lost", now);
				return;
			}
			t->in_off = 0;
			t->in_len = (size_t)n;
			t->last_rx_ns = now;
		}
		size_t used;
		int rc = tun_relay_input(t->relay, t->in + t->in_off, t->in_len - t->in_off, &used);
		t->in_off += used;
		if (rc < 0 || t->in_off < t->in_len)
			break;
	}
	tun_relay_pump(t->relay, now);
	uint64_t hb = (uint64_t)A.cfg.heartbeat_s * 1000 * MS;
	if (now - t->last_rx_ns >= 3 * hb) {
		tun_relay_goaway(t->relay, TUN_R_TIMEOUT);
		tunnel_failed(t, "went silent (3 heartbeats)", now);
		return;
	}
	if (now - t->last_rx_ns >= hb && now - t->last_ping_ns >= hb) {
		tun_relay_ping(t->relay, ++t->ping_seq);
		t->last_ping_ns = now;
	}
	/* frames out; the write buffer only while streams live (idle tunnels stay small) */
	if (aconn_buffer_writes(&t->c, tun_relay_live(t->relay) ? TUN_WBUF : 0) < 0) {
		tunnel_failed(t, "out of memory", now);
		return;
	}
	size_t queued = tun_relay_out_len(t->relay);
	while (tun_relay_out_len(t->relay)) {
		struct iovec iov[2];
		tun_relay_out(t->relay, iov, SIZE_MAX);
		ssize_t n = aconn_write(&t->c, iov[0].iov_base, iov[0].iov_len);
		if (n < 0) {
			tunnel_failed(t, "connection lost", now);
			return;
		}
		if (n == 0)
			break;
		tun_relay_out_done(t->relay, (size_t)n);
	}
	if (aconn_flush(&t->c) < 0) {
		tunnel_failed(t, "connection lost", now);
		return;
	}
	/* the queue drained: local reads it had stopped may go on (their
	 * epoll interest was computed while it was full) */
	if (tun_relay_out_len(t->relay) < queued)
		tun_relay_pump(t->relay, now);
	if (tun_relay_failed(t->relay) && !tun_relay_out_len(t->relay)) {
		tunnel_failed(t, "protocol violation", now);
		return;
	}
	if (t->draining && t != &A.tun[A.cur] &&
	    (tun_relay_live(t->relay) == 0 || now >= t->drain_deadline_ns)) {
		tunnel_close(t, "drained");
		return;
	}
	aconn_update(&t->c, t->in_off == t->in_len && tun_relay_can_input(t->relay),
		     tun_relay_out_len(t->relay) > 0);
}

static void tunnels_pump(uint64_t now)
{
	struct tunnel *t = &A.tun[A.cur], *o = &A.tun[1 - A.cur];

	tunnel_pump(o, now);
	tunnel_pump(t, now);
	/* the streampoint drains this tunnel: let it finish aside, connect again */
	if (t->st == T_UP && t->draining) {
		tunnel_close(o, "replaced");
		t->drain_deadline_ns = now + (uint64_t)A.cfg.drain_s * 1000 * MS;
		A.cur = 1 - A.cur;
		t = o;
		A.tun_next_ns = now;
	}
	if (t->st == T_NONE && A.assigned && now >= A.tun_next_ns)
		tunnel_start(t, now);
}

static bool any_pending(void)
{
	return aconn_pending(&A.ctl) ||
	       (A.tun[0].st == T_UP && aconn_pending(&A.tun[0].c) && tun_relay_can_input(A.tun[0].relay)) ||
	       (A.tun[1].st == T_UP && aconn_pending(&A.tun[1].c) && tun_relay_can_input(A.tun[1].relay));
}

static int setup(int argc, char **argv)
{
	char err[256];
	int rc = cfg_from_args(agent_cfg_keys, agent_cfg_nkeys, &A.cfg, argc, argv, "spagent",
			       "spagent: streampoint camera agent");

	if (rc)
		return rc > 0 ? 1 : -1;
	log_init("spagent", A.cfg.log_level);
	log_syslog(A.cfg.syslog);
	if (agent_cfg_check(&A.cfg, &A.conf, err, sizeof(err)) < 0) {
		log_error(0, "%s", err);
		return -1;
	}
	rc = keyhex_read(A.cfg.key_file, A.key, AGENT_AUTH_KEY_LEN, AGENT_AUTH_KEY_LEN);
	if (rc < 0) {
		log_error(rc == -EINVAL ? 0 : -rc, "[agent] key_file %s%s", A.cfg.key_file,
			  rc == -EINVAL ? ": not 64 hex digits" : "");
		return -1;
	}
	A.ssl = SSL_CTX_new(TLS_client_method());
	if (!A.ssl || !SSL_CTX_set_min_proto_version(A.ssl, A.conf.tls_min) ||
	    SSL_CTX_load_verify_locations(A.ssl, A.cfg.ca_file, NULL) != 1) {
		log_error(0, "[agent] ca_file %s: cannot load CA certificates", A.cfg.ca_file);
		return -1;
	}
	SSL_CTX_set_verify(A.ssl, SSL_VERIFY_PEER, NULL);
	/* AES-128-GCM first (servers take the client's order by default): the
	 * mandatory TLS 1.3 suite, and four fewer AES rounds per block than
	 * AES-256 on every tunnel byte */
	SSL_CTX_set_ciphersuites(A.ssl, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
				 "TLS_CHACHA20_POLY1305_SHA256");
	SSL_CTX_set_mode(A.ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				SSL_MODE_RELEASE_BUFFERS);
	backoff_init(&A.ctl_bo, A.cfg.backoff_base_ms, A.cfg.backoff_cap_ms);
	backoff_init(&A.tun_bo, A.cfg.backoff_base_ms, A.cfg.backoff_cap_ms);
	A.ctl.fd = A.tun[0].c.fd = A.tun[1].c.fd = -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct sdnotify sdn;
	sigset_t ss;
	int rc = setup(argc, argv);

	if (rc)
		return rc > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
	if ((rc = sdnotify_open(&sdn)) < 0)
		log_warn(-rc, "NOTIFY_SOCKET/WATCHDOG_USEC unusable: no systemd notifications");
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	A.sfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
	A.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (A.sfd < 0 || A.epfd < 0) {
		log_error(errno, "signalfd/epoll");
		return EXIT_FAILURE;
	}
	A.sig_tag.kind = EVTAG_OTHER;
	struct epoll_event sev = { .events = EPOLLIN, .data.ptr = &A.sig_tag };
	epoll_ctl(A.epfd, EPOLL_CTL_ADD, A.sfd, &sev);
	log_notice("spagent %s: device %s, %d endpoint(s), %d allowed target(s)", SP_VERSION,
		   A.cfg.device_id, A.conf.nendpoints, A.conf.nallow);
	/* Ready once configured: reaching an endpoint is the loop's job, with
	 * backoff, and may take as long as the uplink is down. */
	sdnotify_ready(&sdn, "connecting");

	for (bool running = true; running;) {
		struct epoll_event evs[32];
		int n = epoll_wait(A.epfd, evs, 32, any_pending() ? 0 : TICK_MS);
		if (n < 0 && errno != EINTR) {
			log_error(errno, "epoll_wait");
			break;
		}
		for (int i = 0; i < n; i++) {
			struct evtag *tag = evs[i].data.ptr;
			if (tag == &A.sig_tag)
				running = false;
			else if (tag->kind == EVTAG_STREAM)
				tun_relay_event(tag, evs[i].events);
			else if (tag->kind == EVTAG_CONN)
				aconn_event((struct aconn *)tag, evs[i].events);
			/* connections are pumped below, every round */
		}
		uint64_t now = clock_mono_ns();
		ctl_pump(now);
		tunnels_pump(now);
		sdnotify_watchdog(&sdn, now, true);
	}
	sdnotify_send(&sdn, "STOPPING=1");
	sdnotify_close(&sdn);
	log_notice("spagent stopping");
	if (A.ctl_st >= CTL_HANDSHAKE) {
		ctl_queue(TUN_GOAWAY, 0, NULL, 0, TUN_R_SHUTDOWN);
		struct iovec iov[2];
		if (bytering_data(&A.ctl_out, iov, SIZE_MAX) > 0)
			aconn_write(&A.ctl, iov[0].iov_base, iov[0].iov_len);
	}
	for (int i = 0; i < 2; i++) {
		if (A.tun[i].st == T_UP) {
			tun_relay_goaway(A.tun[i].relay, TUN_R_SHUTDOWN);
			struct iovec iov[2];
			if (tun_relay_out(A.tun[i].relay, iov, SIZE_MAX) > 0)
				aconn_write(&A.tun[i].c, iov[0].iov_base, iov[0].iov_len);
		}
		tunnel_close(&A.tun[i], NULL);
	}
	aconn_close(&A.ctl);
	agent_auth_hs_free(A.hs);
	tun_parser_free(A.ctl_parser);
	bytering_free(&A.ctl_out);
	SSL_CTX_free(A.ssl);
	OPENSSL_cleanse(A.key, sizeof(A.key));
	return EXIT_SUCCESS;
}
