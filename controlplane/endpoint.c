/* endpoint: spcp's agent endpoint (see endpoint.h). */
#include "endpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "addr.h"
#include "agent_auth.h"
#include "clock.h"
#include "cp_event.h"
#include "keyhex.h"
#include "log.h"

#define MS 1000000ull
#define EP_OUT_MAX 4096
#define CLOSE_LINGER_NS (1000 * MS) /* a refusal gets this long to leave */
#define MAX_REVOKED 4096
/* An agent reports after several failed attempts; faster is a broken or
 * hostile one, and each report costs a token and a SWITCH. */
#define REPORT_GAP_NS (1000 * MS)

/* Refusals besides agent_auth_err's, indexed after them. */
enum ep_refusal {
	EPR_TLS,          /* TLS handshake failed */
	EPR_DEADLINE,     /* TLS + Upgrade + handshake not done in time (slowloris) */
	EPR_RATE_LIMITED, /* closed on accept: too many failures from the source */
	EPR_FULL,         /* 503: max_agents */
	EPR_PENDING_FULL, /* closed on accept: too many connections in their handshake */
	EPR_FRAME,        /* malformed frame, or a frame out of order after auth */
	EPR_NO_STREAMPOINT,
	EPR_AGENT_REFUSED, /* GOAWAY(auth) in the handshake: our proof failed at the agent (key mismatch, server_id) */
	EPR__COUNT
};

static const char *const refusal_names[EPR__COUNT] = {
	[EPR_TLS] = "tls", [EPR_DEADLINE] = "deadline", [EPR_RATE_LIMITED] = "rate_limited",
	[EPR_FULL] = "full", [EPR_PENDING_FULL] = "pending_full", [EPR_FRAME] = "frame",
	[EPR_NO_STREAMPOINT] = "no_streampoint", [EPR_AGENT_REFUSED] = "agent_refused",
};

enum ep_state { EPC_TLS, EPC_UPGRADE, EPC_HELLO, EPC_PROOF, EPC_READY, EPC_CLOSING };

struct ep_conn {
	struct ep_conn *next, *prev;
	cp_endpoint *ep;
	int fd;
	SSL *ssl;
	enum ep_state st;
	bool registered;
	uint32_t events;
	bool want_write;
	struct sp_addr peer;
	uint64_t since_ns, last_rx_ns, last_ping_ns, close_by_ns;
	uint64_t auth_real_s;  /* wall clock of AUTH_OK */
	char *hdr;             /* Upgrade request until its blank line */
	size_t hdr_len;
	tun_parser *p;
	agent_auth_hs *hs;
	char device[AGENT_AUTH_ID_MAX + 1];
	int sp;                /* streampoint index, -1 before AUTH_OK */
	uint64_t avoid;        /* bit i: the agent reported streampoint i unreachable */
	uint64_t report_ns;    /* last UNREACHABLE acted on */
	uint64_t ping_seq;
	size_t out_len, wpending;
	uint8_t out[EP_OUT_MAX];
};

struct rl_entry {
	struct sp_addr ip; /* port zero */
	uint64_t last_ns;
	double tokens;
};

struct cp_endpoint {
	const struct cp_config *cfg;
	int epfd, lfd;
	SSL_CTX *ssl;
	agent_auth_keyring *kr;
	uint8_t master[64];
	int master_len;
	char *keys;            /* listed keys file text */
	size_t keys_len;
	char (*revoked)[65];
	int nrevoked;
	struct ep_streampoint sps[EP_MAX_STREAMPOINTS];
	int nsps;
	struct ep_conn *conns;
	uint32_t nconns, nagents;
	struct rl_entry *rl;
	uint64_t refused_auth[AGENT_AUTH_ERR__COUNT];
	uint64_t refused[EPR__COUNT];
	uint64_t accepted, authenticated, switches, goaways;
	uint64_t unreachable, unreachable_stale, unreachable_no_alt, unreachable_too_fast;
	uint64_t last_tick_ns;
	char listen_tag;
};

/* ---- pure helpers ---- */

static void trim(const char **b, size_t *l)
{
	while (*l && (**b == ' ' || **b == '\t'))
		(*b)++, (*l)--;
	while (*l && ((*b)[*l - 1] == ' ' || (*b)[*l - 1] == '\t'))
		(*l)--;
}

int ep_streampoints_parse(const char *csv, struct ep_streampoint *out, size_t max, char *err,
			  size_t errlen)
{
	size_t n = 0;
	const char *p = csv;

	if (errlen)
		err[0] = '\0';
	for (;;) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		const char *b = p;
		trim(&b, &l);
		if (!l && !e && n == 0)
			return 0; /* empty list */
		const char *at = memchr(b, '@', l);
		size_t il = at ? (size_t)(at - b) : 0;
		if (!at || !agent_auth_id_valid(b, il) || !tun_target_valid(at + 1, l - il - 1)) {
			snprintf(err, errlen, "'%.*s' is not id@host:port", (int)(l > 80 ? 80 : l), b);
			return -EINVAL;
		}
		for (size_t i = 0; i < n; i++) {
			if (strlen(out[i].id) == il && !memcmp(out[i].id, b, il)) {
				snprintf(err, errlen, "streampoint '%.*s' listed twice", (int)il, b);
				return -EINVAL;
			}
		}
		if (n == max) {
			snprintf(err, errlen, "more than %zu streampoints", max);
			return -E2BIG;
		}
		memset(&out[n], 0, sizeof(out[n]));
		memcpy(out[n].id, b, il);
		memcpy(out[n].addr, at + 1, l - il - 1);
		n++;
		if (!e)
			return (int)n;
		p = e + 1;
	}
}

int ep_ids_parse(const char *csv, char (*out)[65], size_t max, char *err, size_t errlen)
{
	size_t n = 0;
	const char *p = csv;

	if (errlen)
		err[0] = '\0';
	for (;;) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		const char *b = p;
		trim(&b, &l);
		if (!l && !e && n == 0)
			return 0;
		if (!agent_auth_id_valid(b, l)) {
			snprintf(err, errlen, "'%.*s' is not a device id", (int)(l > 80 ? 80 : l), b);
			return -EINVAL;
		}
		if (n == max) {
			snprintf(err, errlen, "more than %zu ids", max);
			return -E2BIG;
		}
		memcpy(out[n], b, l);
		out[n][l] = '\0';
		n++;
		if (!e)
			return (int)n;
		p = e + 1;
	}
}

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t ep_rendezvous(const char *device, const char *streampoint)
{
	/* FNV-1a over "device\0streampoint", then a finaliser so that close
	 * ids spread; stable across restarts and hosts */
	uint64_t h = 0xcbf29ce484222325ull;
	for (const char *p = device; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	h = (h ^ 0) * 0x100000001b3ull;
	for (const char *p = streampoint; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	return mix64(h);
}

int ep_pick(const struct ep_streampoint *sps, size_t n, const char *device)
{
	return ep_pick_avoid(sps, n, device, 0);
}

int ep_pick_avoid(const struct ep_streampoint *sps, size_t n, const char *device, uint64_t avoid)
{
	int best = -1;
	uint64_t bs = 0;

	for (size_t i = 0; i < n; i++) {
		if (sps[i].down || (i < 64 && (avoid >> i & 1)))
			continue;
		uint64_t s = ep_rendezvous(device, sps[i].id);
		if (best < 0 || s > bs || (s == bs && strcmp(sps[i].id, sps[best].id) < 0)) {
			best = (int)i;
			bs = s;
		}
	}
	return best;
}

/* ---- failure rate limit per source address ---- */

static struct rl_entry *rl_find(cp_endpoint *ep, const struct sp_addr *src, bool create, uint64_t now)
{
	struct sp_addr a = *src, *ip = &a;
	a.port = 0; /* per address, whatever the source port */
	uint32_t n = ep->cfg->ep_rl_entries, h = sp_addr_hash(ip) % n;
	struct rl_entry *old = NULL;

	for (uint32_t k = 0; k < 8; k++) {
		struct rl_entry *e = &ep->rl[(h + k) % n];
		if (e->ip.family && sp_addr_equal(&e->ip, ip))
			return e;
		if (!old || !e->ip.family || e->last_ns < old->last_ns)
			old = e;
	}
	if (!create)
		return NULL;
	old->ip = *ip;
	old->last_ns = now;
	old->tokens = ep->cfg->ep_fail_burst;
	return old;
}

static void rl_refill(cp_endpoint *ep, struct rl_entry *e, uint64_t now)
{
	double rate = (double)ep->cfg->ep_fail_burst / ((double)ep->cfg->ep_fail_window_s * 1e9);
	e->tokens += (double)(now - e->last_ns) * rate;
	if (e->tokens > ep->cfg->ep_fail_burst)
		e->tokens = ep->cfg->ep_fail_burst;
	e->last_ns = now;
}

static bool rl_blocked(cp_endpoint *ep, const struct sp_addr *ip, uint64_t now)
{
	if (!ep->cfg->ep_fail_burst)
		return false;
	struct rl_entry *e = rl_find(ep, ip, false, now);
	if (!e)
		return false;
	rl_refill(ep, e, now);
	return e->tokens < 1.0;
}

static void rl_failure(cp_endpoint *ep, const struct sp_addr *ip, uint64_t now)
{
	if (!ep->cfg->ep_fail_burst)
		return;
	struct rl_entry *e = rl_find(ep, ip, true, now);
	rl_refill(ep, e, now);
	e->tokens = e->tokens >= 1.0 ? e->tokens - 1.0 : 0;
}

/* ---- keys ---- */

static bool is_revoked(const cp_endpoint *ep, const char *device)
{
	for (int i = 0; i < ep->nrevoked; i++)
		if (!strcmp(ep->revoked[i], device))
			return true;
	return false;
}

static int key_lookup(void *ctx, const char *device, uint8_t key[AGENT_AUTH_KEY_LEN])
{
	cp_endpoint *ep = ctx;

	if (is_revoked(ep, device))
		return -EACCES;
	if (ep->keys && agent_auth_keyfile_lookup(ep->keys, ep->keys_len, device, key) == 0)
		return 0;
	if (ep->master_len > 0)
		return agent_auth_derive_key(ep->master, (size_t)ep->master_len, device, key) == 0 ?
			       0 : -ENOENT;
	return -ENOENT;
}

/* ---- connections ---- */

static void set_events(struct ep_conn *c)
{
	uint32_t want = EPOLLIN;
	if (c->out_len || c->want_write)
		want |= EPOLLOUT;
	if (c->registered && want == c->events)
		return;
	struct epoll_event ev = { .events = want, .data.ptr = c };
	if (epoll_ctl(c->ep->epfd, c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) == 0) {
		c->registered = true;
		c->events = want;
	}
}

static void conn_free(struct ep_conn *c)
{
	cp_endpoint *ep = c->ep;

	if (c->st == EPC_READY || (c->st == EPC_CLOSING && c->sp >= 0)) {
		cp_event_str("agent_offline", "device", c->device);
		ep->nagents--;
		if (c->sp >= 0)
			ep->sps[c->sp].agents--;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		ep->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ep->nconns--;
	if (c->ssl) {
		if (c->st == EPC_READY || c->st == EPC_CLOSING)
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	ERR_clear_error();
	close(c->fd);
	free(c->hdr);
	tun_parser_free(c->p);
	agent_auth_hs_free(c->hs);
	free(c);
}

static int queue_bytes(struct ep_conn *c, const void *p, size_t n)
{
	if (c->out_len + n > sizeof(c->out))
		return -ENOBUFS;
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
	return 0;
}

static int queue_frame(struct ep_conn *c, uint8_t type, const void *payload, uint32_t len,
		       uint16_t reason)
{
	struct tun_frame f = { .type = type, .len = len, .payload = payload, .reason = reason };
	uint8_t buf[TUN_HEADER_LEN + TUN_AUTH_MAX_PAYLOAD];

	if (type == TUN_PING || type == TUN_PONG)
		memcpy(f.ping, payload, TUN_PING_LEN);
	if (type == TUN_GOAWAY)
		f.len = 6;
	if (type == TUN_AUTH_FAIL)
		f.len = 2;
	int n = tun_frame_encode(&f, buf, sizeof(buf));
	return n < 0 ? n : queue_bytes(c, buf, (size_t)n);
}

/* Sends what is queued, then closes (CLOSE_LINGER_NS at most). */
static void conn_closing(struct ep_conn *c, uint64_t now)
{
	if (c->st == EPC_READY && c->sp >= 0) {
		/* still counted as an agent until freed */
	}
	if (c->st != EPC_READY)
		c->sp = -1;
	c->st = EPC_CLOSING;
	c->close_by_ns = now + CLOSE_LINGER_NS;
}

static void refuse(struct ep_conn *c, enum agent_auth_err e, uint64_t now)
{
	cp_endpoint *ep = c->ep;
	char ab[SP_ADDR_STRLEN];

	ep->refused_auth[e]++;
	rl_failure(ep, &c->peer, now);
	log_rl(LOG_LVL_INFO, 0, "endpoint: %s%s%s refused: %s", sp_addr_str(&c->peer, ab),
	       c->device[0] ? " device " : "", c->device, agent_auth_err_name(e));
}

static void http_refuse(struct ep_conn *c, int status, uint64_t now)
{
	char buf[256];
	const char *text = status == 400 ? "Bad Request" : status == 426 ? "Upgrade Required" :
			   "Service Unavailable";
	int n = snprintf(buf, sizeof(buf), "HTTP/1.1 %d %s\r\n%s%sContent-Length: 0\r\n"
			 "Connection: close\r\n\r\n", status, text,
			 status == 426 ? "Upgrade: " AGENT_AUTH_PROTO "\r\n" : "",
			 status == 503 ? "Retry-After: 30\r\n" : "");
	queue_bytes(c, buf, (size_t)n);
	conn_closing(c, now);
}

static struct ep_conn *find_device(cp_endpoint *ep, const char *device)
{
	for (struct ep_conn *c = ep->conns; c; c = c->next)
		if (c->st == EPC_READY && !strcmp(c->device, device))
			return c;
	return NULL;
}

/* AUTH_OK / SWITCH payload for device on streampoint sp. */
static int assignment(cp_endpoint *ep, const char *device, int sp, uint8_t *out, size_t cap)
{
	char tok[AGENT_AUTH_TOKEN_MAX + 1];
	int n = agent_auth_token_sign(ep->kr, device, ep->sps[sp].id, (uint64_t)time(NULL),
				      ep->cfg->ep_token_lifetime_s, tok, sizeof(tok));
	if (n < 0)
		return n;
	struct agent_auth_assign a = { .token = tok, .token_len = (size_t)n,
				       .addr = ep->sps[sp].addr, .addr_len = strlen(ep->sps[sp].addr) };
	n = agent_auth_assign_encode(&a, out, cap);
	OPENSSL_cleanse(tok, sizeof(tok));
	return n;
}

static void authenticated(struct ep_conn *c, uint64_t now)
{
	cp_endpoint *ep = c->ep;
	uint8_t a[TUN_AUTH_MAX_PAYLOAD];
	char ab[SP_ADDR_STRLEN];

	snprintf(c->device, sizeof(c->device), "%s", agent_auth_hs_device(c->hs));
	agent_auth_hs_free(c->hs);
	c->hs = NULL;
	int sp = ep_pick(ep->sps, (size_t)ep->nsps, c->device);
	int n = sp >= 0 ? assignment(ep, c->device, sp, a, sizeof(a)) : -ENOENT;
	if (n < 0) {
		ep->refused[sp < 0 ? EPR_NO_STREAMPOINT : EPR_FRAME]++;
		queue_frame(c, TUN_GOAWAY, NULL, 0, TUN_R_SHUTDOWN);
		conn_closing(c, now);
		log_warn(0, "endpoint: device %s: %s", c->device,
			 sp < 0 ? "no streampoint is up" : "cannot sign a token");
		return;
	}
	/* one control connection per device: the newest wins */
	struct ep_conn *old = find_device(ep, c->device);
	if (old) {
		queue_frame(old, TUN_GOAWAY, NULL, 0, TUN_R_SHUTDOWN);
		conn_closing(old, now);
	}
	queue_frame(c, TUN_AUTH_OK, a, (uint32_t)n, 0);
	c->st = EPC_READY;
	c->sp = sp;
	c->auth_real_s = (uint64_t)time(NULL);
	ep->sps[sp].agents++;
	ep->nagents++;
	ep->authenticated++;
	log_notice("endpoint: device %s authenticated from %s, streampoint %s (%s)", c->device,
		   sp_addr_str(&c->peer, ab), ep->sps[sp].id, ep->sps[sp].addr);
	cJSON *e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "device", c->device);
	cJSON_AddStringToObject(e, "streampoint", ep->sps[sp].id);
	cp_event("agent_online", e);
}

static int do_switch(cp_endpoint *ep, struct ep_conn *c, int sp);

/* The device's best streampoint, skipping those it reported unreachable;
 * when that leaves none, the reports are forgotten but the last one
 * (streampoints come back, and trying one that failed before beats
 * staying on the one that just failed). */
static int pick_for(cp_endpoint *ep, struct ep_conn *c)
{
	int sp = ep_pick_avoid(ep->sps, (size_t)ep->nsps, c->device, c->avoid);

	if (sp < 0 && c->sp >= 0) {
		c->avoid = 1ull << c->sp;
		sp = ep_pick_avoid(ep->sps, (size_t)ep->nsps, c->device, c->avoid);
	}
	return sp;
}

/* UNREACHABLE: the agent failed to bring its tunnel up at the streampoint
 * it was assigned; move it to its next pick. Only a report naming the
 * current assignment counts: one that crossed a SWITCH is stale. */
static void on_unreachable(struct ep_conn *c, const struct tun_frame *f, uint64_t now)
{
	cp_endpoint *ep = c->ep;
	const char *addr;
	size_t al;

	if (agent_auth_unreachable_parse(f->payload, f->len, &addr, &al) != AGENT_AUTH_OK) {
		ep->refused[EPR_FRAME]++;
		return;
	}
	if (c->sp < 0 || al != strlen(ep->sps[c->sp].addr) || memcmp(addr, ep->sps[c->sp].addr, al)) {
		ep->unreachable_stale++;
		return;
	}
	if (c->report_ns && now - c->report_ns < REPORT_GAP_NS) {
		ep->unreachable_too_fast++;
		return;
	}
	c->report_ns = now;
	ep->unreachable++;
	ep->sps[c->sp].unreachable++;
	c->avoid |= 1ull << c->sp;
	int to = pick_for(ep, c);
	if (to < 0 || to == c->sp) {
		ep->unreachable_no_alt++;
		log_rl(LOG_LVL_WARNING, 0, "endpoint: device %s cannot reach streampoint %s and has no other",
		       c->device, ep->sps[c->sp].id);
		return;
	}
	log_rl(LOG_LVL_NOTICE, 0, "endpoint: device %s cannot reach streampoint %s", c->device,
	       ep->sps[c->sp].id);
	do_switch(ep, c, to);
}

static void on_frame(struct ep_conn *c, const struct tun_frame *f, uint64_t now)
{
	uint8_t out[AGENT_AUTH_CHALLENGE_MAX];
	size_t ol = 0;
	enum agent_auth_err e;

	if (c->st == EPC_HELLO || c->st == EPC_PROOF) {
		/* the agent checks our proof first: a wrong device key (ours or
		 * its) shows up here, not as hs_bad_proof */
		if (c->st == EPC_PROOF && f->type == TUN_GOAWAY && f->reason == TUN_R_AUTH) {
			char ab[SP_ADDR_STRLEN];
			c->ep->refused[EPR_AGENT_REFUSED]++;
			rl_failure(c->ep, &c->peer, now);
			log_rl(LOG_LVL_INFO, 0, "endpoint: %s device %s refused our proof (key mismatch?)",
			       sp_addr_str(&c->peer, ab), agent_auth_hs_device(c->hs));
			conn_closing(c, now);
			return;
		}
		if (c->st == EPC_HELLO && f->type == TUN_AUTH_HELLO)
			e = agent_auth_hs_on_hello(c->hs, f->payload, f->len, out, sizeof(out), &ol);
		else if (c->st == EPC_PROOF && f->type == TUN_AUTH_PROOF)
			e = agent_auth_hs_on_proof(c->hs, f->payload, f->len);
		else
			e = AGENT_AUTH_HS_STATE; /* strict order before auth */
		/* the device id is only a claim until the proof verifies */
		if (c->hs)
			snprintf(c->device, sizeof(c->device), "%s", agent_auth_hs_device(c->hs));
		if (e != AGENT_AUTH_OK) {
			refuse(c, e, now);
			queue_frame(c, TUN_AUTH_FAIL, NULL, 0, TUN_R_AUTH);
			conn_closing(c, now);
			return;
		}
		if (c->st == EPC_HELLO) {
			queue_frame(c, TUN_AUTH_CHALLENGE, out, (uint32_t)ol, 0);
			c->st = EPC_PROOF;
		} else {
			authenticated(c, now);
		}
		return;
	}
	switch (f->type) {
	case TUN_PING:
		queue_frame(c, TUN_PONG, f->ping, TUN_PING_LEN, 0);
		return;
	case TUN_PONG:
		return;
	case TUN_UNREACHABLE:
		on_unreachable(c, f, now);
		return;
	case TUN_GOAWAY:
		log_info("endpoint: device %s leaves (%s)", c->device,
			 tun_reason_name((enum tun_reason)f->reason));
		conn_closing(c, now);
		return;
	default:
		c->ep->refused[EPR_FRAME]++;
		queue_frame(c, TUN_GOAWAY, NULL, 0, TUN_R_PROTOCOL);
		conn_closing(c, now);
	}
}

static void feed_frames(struct ep_conn *c, const uint8_t *buf, size_t len, uint64_t now)
{
	size_t off = 0;

	while (off < len && c->st != EPC_CLOSING) {
		struct tun_frame f;
		size_t used;
		int rc = tun_parser_feed(c->p, buf + off, len - off, &used, &f);
		off += used;
		if (rc == 0)
			break;
		if (rc < 0) {
			if (c->st == EPC_READY) {
				c->ep->refused[EPR_FRAME]++;
				queue_frame(c, TUN_GOAWAY, NULL, 0, TUN_R_PROTOCOL);
			} else {
				refuse(c, AGENT_AUTH_HS_BAD_MESSAGE, now);
				queue_frame(c, TUN_AUTH_FAIL, NULL, 0, TUN_R_AUTH);
			}
			conn_closing(c, now);
			return;
		}
		on_frame(c, &f, now);
	}
	if (tun_parser_idle(c->p))
		tun_parser_trim(c->p);
}

static void on_upgrade(struct ep_conn *c, uint64_t now)
{
	cp_endpoint *ep = c->ep;
	struct agent_auth_upgrade up;
	enum agent_auth_err e = agent_auth_upgrade_parse(c->hdr, c->hdr_len, &up);
	char buf[256];

	if (e == AGENT_AUTH_NEED_MORE)
		return;
	if (e != AGENT_AUTH_OK) {
		refuse(c, e, now);
		http_refuse(c, e == AGENT_AUTH_UP_NO_UPGRADE || e == AGENT_AUTH_UP_NO_CONNECTION ?
			       426 : 400, now);
		return;
	}
	if (ep->nagents >= ep->cfg->ep_max_agents) {
		ep->refused[EPR_FULL]++;
		http_refuse(c, 503, now);
		return;
	}
	int n = agent_auth_upgrade_accept(buf, sizeof(buf));
	c->hs = agent_auth_hs_server_new(ep->cfg->ep_server_id, key_lookup, ep);
	c->p = tun_parser_new(TUN_AUTH_MAX_PAYLOAD);
	if (n < 0 || !c->hs || !c->p) {
		ep->refused[EPR_FULL]++;
		http_refuse(c, 503, now);
		return;
	}
	queue_bytes(c, buf, (size_t)n);
	c->st = EPC_HELLO;
	/* bytes after the blank line are already frames */
	size_t rest = c->hdr_len - up.header_len;
	char *hdr = c->hdr;
	c->hdr = NULL;
	if (rest)
		feed_frames(c, (const uint8_t *)hdr + up.header_len, rest, now);
	free(hdr);
}

static void conn_flush(struct ep_conn *c)
{
	while (c->out_len) {
		size_t len = c->wpending ? c->wpending : c->out_len;
		int n = SSL_write(c->ssl, c->out, (int)len);
		if (n <= 0) {
			int e = SSL_get_error(c->ssl, n);
			if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
				c->wpending = len;
				c->want_write = e == SSL_ERROR_WANT_WRITE;
				return;
			}
			ERR_clear_error();
			c->out_len = 0; /* peer gone: closing drops it */
			c->st = EPC_CLOSING;
			c->close_by_ns = 0;
			return;
		}
		c->wpending = 0;
		c->want_write = false;
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
}

/* Reads and answers whatever the connection has; false: free it. */
static bool conn_run(struct ep_conn *c, uint64_t now)
{
	cp_endpoint *ep = c->ep;

	if (c->st == EPC_TLS) {
		int rc = SSL_accept(c->ssl);
		if (rc != 1) {
			int e = SSL_get_error(c->ssl, rc);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
				c->want_write = e == SSL_ERROR_WANT_WRITE;
				return true;
			}
			ERR_clear_error();
			ep->refused[EPR_TLS]++;
			rl_failure(ep, &c->peer, now);
			return false;
		}
		c->want_write = false;
		c->st = EPC_UPGRADE;
		c->hdr = malloc(AGENT_AUTH_UP_MAX_TOTAL);
		if (!c->hdr)
			return false;
	}
	for (int i = 0; i < 16 && c->st != EPC_CLOSING; i++) {
		uint8_t buf[4096];
		int n;
		if (c->st == EPC_UPGRADE)
			n = SSL_read(c->ssl, c->hdr + c->hdr_len, (int)(AGENT_AUTH_UP_MAX_TOTAL - c->hdr_len));
		else
			n = SSL_read(c->ssl, buf, sizeof(buf));
		if (n <= 0) {
			int e = SSL_get_error(c->ssl, n);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
				c->want_write = e == SSL_ERROR_WANT_WRITE;
				break;
			}
			ERR_clear_error();
			if (c->st == EPC_READY)
				log_info("endpoint: device %s disconnected", c->device);
			return false;
		}
		c->last_rx_ns = now;
		if (c->st == EPC_UPGRADE) {
			c->hdr_len += (size_t)n;
			on_upgrade(c, now);
		} else {
			feed_frames(c, buf, (size_t)n, now);
		}
	}
	conn_flush(c);
	if (c->st == EPC_CLOSING && (!c->out_len || now >= c->close_by_ns))
		return false;
	return true;
}

static void accept_all(cp_endpoint *ep, uint64_t now)
{
	uint32_t pending_max = ep->cfg->ep_max_agents / 4 + 16;

	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(ep->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct sp_addr peer;
		sp_addr_from_sockaddr(&peer, (struct sockaddr *)&ss, sl);
		if (rl_blocked(ep, &peer, now)) {
			ep->refused[EPR_RATE_LIMITED]++;
			close(fd);
			continue;
		}
		if (ep->nconns - ep->nagents >= pending_max) {
			ep->refused[EPR_PENDING_FULL]++;
			close(fd);
			continue;
		}
		struct ep_conn *c = calloc(1, sizeof(*c));
		if (!c || !(c->ssl = SSL_new(ep->ssl)) || !SSL_set_fd(c->ssl, fd)) {
			if (c)
				SSL_free(c->ssl);
			free(c);
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->ep = ep;
		c->fd = fd;
		c->peer = peer;
		c->sp = -1;
		c->since_ns = c->last_rx_ns = c->last_ping_ns = now;
		c->next = ep->conns;
		if (ep->conns)
			ep->conns->prev = c;
		ep->conns = c;
		ep->nconns++;
		ep->accepted++;
		SSL_set_accept_state(c->ssl);
		if (!conn_run(c, now))
			conn_free(c);
		else
			set_events(c);
	}
}

void cp_endpoint_dispatch(cp_endpoint *ep, uint64_t now)
{
	struct epoll_event evs[64];
	int n = epoll_wait(ep->epfd, evs, 64, 0);

	for (int i = 0; i < n; i++) {
		if (evs[i].data.ptr == &ep->listen_tag) {
			accept_all(ep, now);
			continue;
		}
		struct ep_conn *c = evs[i].data.ptr;
		if (!conn_run(c, now))
			conn_free(c);
		else
			set_events(c);
	}
}

void cp_endpoint_tick(cp_endpoint *ep, uint64_t now)
{
	uint64_t hb = (uint64_t)ep->cfg->ep_heartbeat_s * 1000 * MS;
	uint64_t dl = (uint64_t)ep->cfg->ep_handshake_timeout_ms * MS;
	struct ep_conn *next;

	if (now - ep->last_tick_ns < 50 * MS)
		return; /* spcp's loop may spin faster than its tick */
	ep->last_tick_ns = now;
	for (struct ep_conn *c = ep->conns; c; c = next) {
		next = c->next;
		if (c->st < EPC_READY && now - c->since_ns >= dl) {
			ep->refused[EPR_DEADLINE]++;
			rl_failure(ep, &c->peer, now);
			conn_free(c);
			continue;
		}
		if (c->st == EPC_CLOSING && now >= c->close_by_ns) {
			conn_free(c);
			continue;
		}
		if (c->st == EPC_READY) {
			if (now - c->last_rx_ns >= 3 * hb) {
				log_info("endpoint: device %s silent for 3 heartbeats: closed", c->device);
				queue_frame(c, TUN_GOAWAY, NULL, 0, TUN_R_TIMEOUT);
				conn_closing(c, now);
			} else if (now - c->last_rx_ns >= hb && now - c->last_ping_ns >= hb) {
				uint8_t ping[TUN_PING_LEN];
				uint64_t s = ++c->ping_seq;
				for (int i = 0; i < TUN_PING_LEN; i++)
					ping[i] = (uint8_t)(s >> (56 - 8 * i));
				queue_frame(c, TUN_PING, ping, TUN_PING_LEN, 0);
				c->last_ping_ns = now;
			}
		}
		conn_flush(c);
		if (c->st == EPC_CLOSING && !c->out_len)
			conn_free(c);
		else
			set_events(c);
	}
}

int cp_endpoint_fd(const cp_endpoint *ep) { return ep->epfd; }

/* ---- setup ---- */

static int listen_on(const char *spec, char *err, size_t errlen)
{
	struct sp_addr a;
	struct sockaddr_storage ss;
	int fd, one = 1;

	if (sp_addr_parse(&a, spec) < 0) {
		snprintf(err, errlen, "[endpoint] listen: '%s' is not address:port", spec);
		return -EINVAL;
	}
	socklen_t sl = sp_addr_to_sockaddr(&a, &ss);
	fd = socket(a.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 512) < 0) {
		snprintf(err, errlen, "[endpoint] listen %s: %s", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	return fd;
}

static char *read_text(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0;

	*len = 0;
	if (!f)
		return NULL;
	for (;;) {
		if (*len + 4096 > cap) {
			if (cap > (16u << 20))
				break;
			char *nb = realloc(buf, cap = cap ? 2 * cap : 8192);
			if (!nb)
				break;
			buf = nb;
		}
		size_t n = fread(buf + *len, 1, cap - *len, f);
		*len += n;
		if (n == 0) {
			fclose(f);
			return buf ? buf : calloc(1, 1);
		}
	}
	fclose(f);
	free(buf);
	return NULL;
}

cp_endpoint *cp_endpoint_create(const struct cp_config *cfg, char *err, size_t errlen)
{
	cp_endpoint *ep = calloc(1, sizeof(*ep));
	char kerr[320];
	uint8_t probe[AGENT_AUTH_KEY_LEN];
	int n;

	if (!ep) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ep->cfg = cfg;
	ep->epfd = ep->lfd = -1;
	if (!agent_auth_id_valid(cfg->ep_server_id, strlen(cfg->ep_server_id))) {
		snprintf(err, errlen, "[endpoint] server_id: 1..64 characters of A-Za-z0-9._:- needed");
		goto fail;
	}
	n = ep_streampoints_parse(cfg->ep_streampoints, ep->sps, EP_MAX_STREAMPOINTS, err, errlen);
	if (n <= 0) {
		if (n == 0)
			snprintf(err, errlen, "at least one streampoint is needed");
		char tmp[256];
		snprintf(tmp, sizeof(tmp), "[endpoint] streampoint: %s", err);
		snprintf(err, errlen, "%s", tmp);
		goto fail;
	}
	ep->nsps = n;
	ep->revoked = calloc(MAX_REVOKED, sizeof(*ep->revoked));
	ep->rl = calloc(cfg->ep_rl_entries, sizeof(*ep->rl));
	if (!ep->revoked || !ep->rl) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	n = ep_ids_parse(cfg->ep_revoked, ep->revoked, MAX_REVOKED, err, errlen);
	if (n < 0) {
		char tmp[256];
		snprintf(tmp, sizeof(tmp), "[endpoint] revoked: %s", err);
		snprintf(err, errlen, "%s", tmp);
		goto fail;
	}
	ep->nrevoked = n;
	if (!cfg->ep_master_key_file[0] && !cfg->ep_key_file[0]) {
		snprintf(err, errlen, "[endpoint] master_key_file or key_file is needed");
		goto fail;
	}
	if (cfg->ep_master_key_file[0]) {
		ep->master_len = keyhex_read(cfg->ep_master_key_file, ep->master, 16, sizeof(ep->master));
		if (ep->master_len < 0) {
			snprintf(err, errlen, "[endpoint] master_key_file %s: %s", cfg->ep_master_key_file,
				 ep->master_len == -EINVAL ? "not 32..128 hex digits" : strerror(-ep->master_len));
			goto fail;
		}
	}
	if (cfg->ep_key_file[0]) {
		ep->keys = read_text(cfg->ep_key_file, &ep->keys_len);
		/* a malformed line refuses the whole file: find out now, not per device */
		if (!ep->keys || agent_auth_keyfile_lookup(ep->keys, ep->keys_len, "-", probe) == -EINVAL) {
			snprintf(err, errlen, "[endpoint] key_file %s: %s", cfg->ep_key_file,
				 ep->keys ? "malformed (lines: <device_id> <64 hex>)" : "cannot read");
			goto fail;
		}
		OPENSSL_cleanse(probe, sizeof(probe));
	}
	ep->kr = agent_auth_keyring_new();
	if (!ep->kr) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (!cfg->ep_token_key_file[0]) {
		snprintf(err, errlen, "[endpoint] token_key_file is needed");
		goto fail;
	}
	/* the same keyring file as spdp's [tunnel] token_key_file; we sign with its current key */
	n = agent_auth_keyring_load(ep->kr, cfg->ep_token_key_file, true, kerr, sizeof(kerr));
	if (n < 0) {
		snprintf(err, errlen, "[endpoint] token_key_file %s", kerr);
		goto fail;
	}
	ep->ssl = SSL_CTX_new(TLS_server_method());
	int minv = !strcmp(cfg->ep_tls_min_version, "1.3") ? TLS1_3_VERSION :
		   !strcmp(cfg->ep_tls_min_version, "1.2") ? TLS1_2_VERSION : 0;
	if (!minv) {
		snprintf(err, errlen, "[endpoint] tls_min_version: 1.3 or 1.2");
		goto fail;
	}
	if (!ep->ssl || !SSL_CTX_set_min_proto_version(ep->ssl, minv) ||
	    SSL_CTX_use_certificate_chain_file(ep->ssl, cfg->ep_tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ep->ssl, cfg->ep_tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ep->ssl) != 1) {
		snprintf(err, errlen, "[endpoint] tls_cert '%s' / tls_key '%s': cannot load them",
			 cfg->ep_tls_cert, cfg->ep_tls_key);
		ERR_clear_error();
		goto fail;
	}
	/* idle agents should not each pin 2 x 16 KiB of record buffers */
	SSL_CTX_set_mode(ep->ssl, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
				  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_cache_mode(ep->ssl, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ep->ssl, 0);
	ep->epfd = epoll_create1(EPOLL_CLOEXEC);
	ep->lfd = listen_on(cfg->ep_listen, err, errlen);
	if (ep->epfd < 0 || ep->lfd < 0)
		goto fail;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &ep->listen_tag };
	epoll_ctl(ep->epfd, EPOLL_CTL_ADD, ep->lfd, &ev);
	log_notice("endpoint: listening on %s (server_id %s, %d streampoint(s), keys: %s%s%s)",
		   cfg->ep_listen, cfg->ep_server_id, ep->nsps, ep->master_len > 0 ? "derived" : "",
		   ep->master_len > 0 && ep->keys ? " + " : "", ep->keys ? "listed" : "");
	return ep;
fail:
	cp_endpoint_destroy(ep);
	return NULL;
}

void cp_endpoint_destroy(cp_endpoint *ep)
{
	if (!ep)
		return;
	while (ep->conns) {
		struct ep_conn *c = ep->conns;
		if (c->st == EPC_READY) {
			queue_frame(c, TUN_GOAWAY, NULL, 0, TUN_R_SHUTDOWN);
			conn_flush(c);
		}
		conn_free(c);
	}
	if (ep->lfd >= 0)
		close(ep->lfd);
	if (ep->epfd >= 0)
		close(ep->epfd);
	SSL_CTX_free(ep->ssl);
	agent_auth_keyring_free(ep->kr);
	OPENSSL_cleanse(ep->master, sizeof(ep->master));
	if (ep->keys) {
		OPENSSL_cleanse(ep->keys, ep->keys_len);
		free(ep->keys);
	}
	free(ep->revoked);
	free(ep->rl);
	free(ep);
}

/* ---- control socket ---- */

static cJSON *refusals_json(const cp_endpoint *ep)
{
	cJSON *o = cJSON_CreateObject();
	for (int i = AGENT_AUTH_UP_TOO_LARGE; i < AGENT_AUTH_ERR__COUNT; i++)
		cJSON_AddNumberToObject(o, agent_auth_err_name((enum agent_auth_err)i),
					(double)ep->refused_auth[i]);
	for (int i = 0; i < EPR__COUNT; i++)
		cJSON_AddNumberToObject(o, refusal_names[i], (double)ep->refused[i]);
	return o;
}

static int cmd_agents(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	cp_endpoint *ep = ctx;
	uint64_t now = clock_mono_ns();
	char ab[SP_ADDR_STRLEN];

	(void)cmd, (void)params;
	cJSON *r = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(r, "agents");
	for (struct ep_conn *c = ep->conns; c; c = c->next) {
		if (c->st != EPC_READY)
			continue;
		cJSON *a = cJSON_CreateObject();
		cJSON_AddStringToObject(a, "device", c->device);
		cJSON_AddStringToObject(a, "source", sp_addr_str(&c->peer, ab));
		cJSON_AddNumberToObject(a, "since", (double)c->auth_real_s);
		cJSON_AddStringToObject(a, "streampoint", c->sp >= 0 ? ep->sps[c->sp].id : "-");
		cJSON_AddStringToObject(a, "streampoint_addr", c->sp >= 0 ? ep->sps[c->sp].addr : "-");
		cJSON_AddNumberToObject(a, "last_heard_s", (double)(now - c->last_rx_ns) / 1e9);
		cJSON_AddItemToArray(list, a);
	}
	cJSON_AddNumberToObject(r, "count", ep->nagents);
	cJSON_AddNumberToObject(r, "connections", ep->nconns);
	cJSON_AddNumberToObject(r, "accepted", (double)ep->accepted);
	cJSON_AddNumberToObject(r, "authenticated", (double)ep->authenticated);
	cJSON_AddNumberToObject(r, "switches", (double)ep->switches);
	cJSON_AddNumberToObject(r, "goaways", (double)ep->goaways);
	cJSON *u = cJSON_AddObjectToObject(r, "unreachable");
	cJSON_AddNumberToObject(u, "reports", (double)ep->unreachable);
	cJSON_AddNumberToObject(u, "stale", (double)ep->unreachable_stale);
	cJSON_AddNumberToObject(u, "no_alternative", (double)ep->unreachable_no_alt);
	cJSON_AddNumberToObject(u, "too_fast", (double)ep->unreachable_too_fast);
	cJSON_AddItemToObject(r, "refused", refusals_json(ep));
	cJSON *sps = cJSON_AddArrayToObject(r, "streampoints");
	for (int i = 0; i < ep->nsps; i++) {
		cJSON *s = cJSON_CreateObject();
		cJSON_AddStringToObject(s, "id", ep->sps[i].id);
		cJSON_AddStringToObject(s, "addr", ep->sps[i].addr);
		cJSON_AddBoolToObject(s, "down", ep->sps[i].down);
		cJSON_AddNumberToObject(s, "agents", ep->sps[i].agents);
		cJSON_AddNumberToObject(s, "reported_unreachable", (double)ep->sps[i].unreachable);
		cJSON_AddItemToArray(sps, s);
	}
	*reply = r;
	return 0;
}

static cJSON *error_reply(const char *msg)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "error", msg);
	return r;
}

static int sp_index(const cp_endpoint *ep, const char *id)
{
	for (int i = 0; i < ep->nsps; i++)
		if (!strcmp(ep->sps[i].id, id))
			return i;
	return -1;
}

/* Moves a connected device to streampoint sp with SWITCH. */
static int do_switch(cp_endpoint *ep, struct ep_conn *c, int sp)
{
	uint8_t a[TUN_AUTH_MAX_PAYLOAD];
	int n = assignment(ep, c->device, sp, a, sizeof(a));
	if (n < 0 || queue_frame(c, TUN_SWITCH, a, (uint32_t)n, 0) < 0)
		return -ENOBUFS;
	ep->sps[c->sp].agents--;
	ep->sps[sp].agents++;
	c->sp = sp;
	ep->switches++;
	conn_flush(c);
	set_events(c);
	log_notice("endpoint: device %s switched to streampoint %s", c->device, ep->sps[sp].id);
	return 0;
}

/* "word word": splits params into two ids. */
static int two_words(const char *params, char *a, char *b)
{
	if (!params || sscanf(params, "%64[A-Za-z0-9._:-] %64[A-Za-z0-9._:-]", a, b) != 2)
		return -EINVAL;
	return 0;
}

static int cmd_switch(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	cp_endpoint *ep = ctx;
	char dev[65], sp[65];

	(void)cmd;
	if (two_words(params, dev, sp) < 0) {
		*reply = error_reply("usage: agent switch <device> <streampoint-id>");
		return 0;
	}
	struct ep_conn *c = find_device(ep, dev);
	int i = sp_index(ep, sp);
	if (!c || i < 0) {
		*reply = error_reply(!c ? "no such device connected" : "no such streampoint");
		return 0;
	}
	if (do_switch(ep, c, i) < 0) {
		*reply = error_reply("the agent's queue is full");
		return 0;
	}
	*reply = cJSON_CreateObject();
	cJSON_AddStringToObject(*reply, "device", dev);
	cJSON_AddStringToObject(*reply, "streampoint", sp);
	return 0;
}

static int cmd_goaway(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	cp_endpoint *ep = ctx;
	bool revoke = !strcmp(cmd, "/agent/revoke");
	struct ep_conn *c = params ? find_device(ep, params) : NULL;

	if (revoke && params && agent_auth_id_valid(params, strlen(params)) && !is_revoked(ep, params)) {
		if (ep->nrevoked == MAX_REVOKED) {
			*reply = error_reply("revoked list full");
			return 0;
		}
		snprintf(ep->revoked[ep->nrevoked++], 65, "%s", params);
		log_notice("endpoint: device %s revoked via the control socket", params);
	} else if (!c) {
		*reply = error_reply(revoke ? "not a device id" : "no such device connected");
		return 0;
	}
	if (c) {
		queue_frame(c, TUN_GOAWAY, NULL, 0, revoke ? TUN_R_AUTH : TUN_R_SHUTDOWN);
		conn_closing(c, clock_mono_ns());
		conn_flush(c);
		set_events(c);
		ep->goaways++;
	}
	*reply = cJSON_CreateObject();
	cJSON_AddStringToObject(*reply, "device", params);
	cJSON_AddBoolToObject(*reply, "connected", c != NULL);
	return 0;
}

static int cmd_sp(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	cp_endpoint *ep = ctx;
	bool down = !strcmp(cmd, "/streampoint/down");
	int i = params ? sp_index(ep, params) : -1, moved = 0;

	if (i < 0) {
		*reply = error_reply("no such streampoint");
		return 0;
	}
	ep->sps[i].down = down;
	/* its agents go where the hash sends them now */
	if (down) {
		for (struct ep_conn *c = ep->conns; c; c = c->next) {
			if (c->st != EPC_READY || c->sp != i)
				continue;
			int to = pick_for(ep, c);
			if (to >= 0 && do_switch(ep, c, to) == 0)
				moved++;
		}
	}
	log_notice("endpoint: streampoint %s marked %s (%d agents moved)", params,
		   down ? "down" : "up", moved);
	*reply = cJSON_CreateObject();
	cJSON_AddStringToObject(*reply, "streampoint", params);
	cJSON_AddBoolToObject(*reply, "down", down);
	cJSON_AddNumberToObject(*reply, "moved", moved);
	return 0;
}

int cp_endpoint_register_ctl(cp_endpoint *ep, ctlsock *cs)
{
	if (ctlsock_register(cs, "/agents", cmd_agents, ep,
			     "Agent endpoint: connected agents, refusals by reason, streampoints") ||
	    ctlsock_register(cs, "/agent/switch", cmd_switch, ep,
			     "Move an agent: SWITCH to another streampoint. Parameter: <device> <streampoint-id>") ||
	    ctlsock_register(cs, "/agent/goaway", cmd_goaway, ep,
			     "GOAWAY(shutdown) to an agent: it moves to its next endpoint. Parameter: <device>") ||
	    ctlsock_register(cs, "/agent/revoke", cmd_goaway, ep,
			     "Refuse a device from now on (until restart); GOAWAY(auth) if connected. Parameter: <device>") ||
	    ctlsock_register(cs, "/streampoint/down", cmd_sp, ep,
			     "Stop assigning a streampoint and SWITCH its agents away. Parameter: <id>") ||
	    ctlsock_register(cs, "/streampoint/up", cmd_sp, ep,
			     "Assign a streampoint again. Parameter: <id>"))
		return -EINVAL;
	return 0;
}
