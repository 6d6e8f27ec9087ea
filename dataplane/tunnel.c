/*
 * tunnel: agent tunnels of one worker (see tunnel.h).
 *
 * Tables, all sized at create:
 *   agents[]   agent connections: handshake (TLS, Upgrade), up (a
 *              tun_session and parser), draining (GOAWAY sent or received:
 *              no new streams), linger (a refusal or GOAWAY being flushed
 *              before the close)
 *   locals[]   streams: one forwarded local connection each, its stream id
 *              on its agent's session, chunks held back (local -> agent)
 *              and transmit buffers not yet handed over (agent -> local)
 *              or, for an in-process stream (tunnel_stream_open), its
 *              consumer's callbacks instead of a connection
 *   fwds[]     forward listeners (127.0.0.1:0), each bound to one agent
 *   owner[]    backend port index -> what it is, one load per packet
 *
 * Output to an agent: frames are staged in one plaintext buffer (the
 * worker's, owned by one agent at a time), encrypted per stage into the
 * agent's TLS output and moved onto its connection as far as the send
 * queue takes it; what does not fit waits in OpenSSL's BIO (bounded by
 * TUNNEL_OUT_MAX, or the agent is dropped). DATA is only staged when the
 * queue has room for it, so the bound only ever catches control frames
 * from an agent that does not read.
 *
 * Streams that could not finish their work (window or room short, a full
 * local queue, a drain before close) carry a flag; tunnel_timers() retries
 * them, and a send completion wakes the worker, so they resume promptly.
 *
 * In-process consumers are called back from inside the tunnel's work;
 * what they ask for there that would free a slot under the caller (an
 * abort) is deferred to the stream's next progress, and `closed` is
 * queued (notes[]) and delivered at the end of the entry point, when no
 * slot is being walked.
 */
#include "tunnel.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

#define NO_IDX UINT32_MAX
#define OWN_SHIFT 28
#define OWN_LISTENER 1u
#define OWN_AGENT 2u
#define OWN_FWD 3u
#define OWN_LOCAL 4u
#define OWN(kind, idx) ((kind) << OWN_SHIFT | (idx))
#define OWN_KIND(v) ((v) >> OWN_SHIFT)
#define OWN_IDX(v) ((v) & ((1u << OWN_SHIFT) - 1))
#define SWEEP_NS (100 * 1000000ull)
#define LINGER_NS (1000 * 1000000ull)
#define STAGE_CAP 16384u
#define RBUF_CAP 16384u
/* Largest DATA payload we send: one frame per staged record. */
#define DATA_MAX (STAGE_CAP - TUN_HEADER_LEN)

_Static_assert(MSG_TUNNEL_DEVICE_LEN > AGENT_AUTH_ID_MAX, "device field");
_Static_assert(MSG_TUNNEL_TARGET_LEN > TUN_TARGET_MAX, "target field");

enum ag_state { AG_FREE = 0, AG_HANDSHAKE, AG_UP, AG_DRAINING, AG_LINGER };

struct agent {
	uint8_t state;          /* enum ag_state */
	uint8_t down_reason;    /* DRAINING: reported when its streams are done */
	int16_t kill;           /* > 0: close at the next safe point (msg_tunnel_down + 1) */
	uint32_t port;
	uint64_t id;            /* tunnel id, from UP */
	uint64_t deadline;      /* HANDSHAKE, LINGER */
	uint64_t last_rx;
	uint64_t ping_at;       /* a PING is unanswered since; 0: none */
	uint64_t ping_seq;
	uint32_t room_empty;    /* stream_room of the empty queue */
	uint32_t n_streams;
	bool backlog;           /* output waiting for the send queue */
	struct sp_addr src;
	tls_stream *tls;
	char *hdr;              /* HANDSHAKE: the Upgrade request so far */
	uint32_t hdr_len;
	uint8_t *obuf;          /* plaintext agents: output waiting for the queue */
	uint32_t olen;
	tun_session *sess;
	tun_parser *parser;
	uint32_t next_free;
	char device[AGENT_AUTH_ID_MAX + 1];
};

enum ls_state { LS_FREE = 0, LS_OPENING, LS_OPEN };

struct hold {
	uint8_t *data;
	uint32_t len, buf;
};

struct local {
	uint8_t state;          /* enum ls_state */
	bool lc_open;           /* the local connection is ours to use */
	bool in_done;           /* no more bytes from it (closed, or we closed it) */
	bool paused;
	bool fin_sent, fin_recv;
	bool work;              /* retry in tunnel_timers */
	bool holding;           /* counted in STAT_TUN_HELD for this episode */
	bool inproc;            /* a consumer's stream: cb/ctx, no port; lc_open = attached */
	bool want_write;        /* a write came up short: `writable` is owed */
	bool abort_req;         /* aborted inside a callback: CLOSE at the next progress */
	uint8_t end;            /* enum tunnel_stream_end reported if freed while attached */
	uint32_t port;
	uint32_t agent, fwd;
	uint32_t stream;
	uint32_t room_empty;
	uint64_t linger;        /* local side gone, our FIN sent: CLOSE if the agent's FIN is not in by then */
	/* local -> agent: chunks kept, the first from h_off */
	struct hold held[TUNNEL_HOLD];
	uint32_t h_head, h_n, h_off;
	/* agent -> local: transmit buffers not yet handed over, the last
	 * one filling; a ring of out_cap */
	struct dp_pkt *out;
	uint32_t o_head, o_n;
	uint32_t c_off;         /* in-process: bytes of out[o_head] the consumer took */
	const struct tunnel_stream_cb *cb;
	void *ctx;
	uint32_t next_free;
	uint32_t gen;           /* in-process handles: bumped per open, kept across frees */
};

struct note {
	const struct tunnel_stream_cb *cb;
	void *ctx;
	enum tunnel_stream_end why;
};

struct fwd {
	bool used;
	uint32_t port;
	uint32_t agent;
	uint32_t id;
	uint16_t lport;
	uint64_t idle_ns, deadline;
	uint32_t n_conns, served;
	uint32_t next_free;
	uint16_t target_len;
	char target[TUN_TARGET_MAX + 1];
};

struct tunnel {
	struct tunnel_cfg cfg;
	char sp_id[AGENT_AUTH_ID_MAX + 1];
	const struct dp_backend_ops *ops;
	struct dp_backend *be;
	struct stats_block *st;
	struct tunnel_hooks hooks;
	uint32_t *owner;
	uint32_t listeners[TUNNEL_MAX_LISTENERS];
	uint32_t n_listeners;
	struct agent *agents;
	uint32_t free_agent, n_handshakes, n_tunnels, n_killed, n_backlog;
	struct local *locals;
	struct dp_pkt *outs;    /* out_cap per local */
	uint32_t out_cap;
	uint32_t free_local, n_locals, n_work;
	struct note *notes;     /* closed() owed to consumers, a ring of max_streams */
	uint32_t note_head, n_notes, n_attached, in_cb;
	bool notifying;
	uint64_t now;
	struct fwd *fwds;
	uint32_t free_fwd, n_fwds;
	uint64_t seq;
	uint64_t dump_seq;      /* MSG_TUNNEL_DUMP in progress; 0: none */
	uint32_t dump_pos, dump_n; /* next agent, then forward slot; records sent */
	uint64_t next_sweep;
	uint32_t stage_owner, stage_len;
	uint8_t stage[STAGE_CAP];
	uint8_t rbuf[RBUF_CAP];
	uint8_t cipher[STAGE_CAP + 1024];
	uint64_t refused[AGENT_AUTH_ERR__COUNT];
	uint64_t open_failed[TUN_R__COUNT];
};

static inline void cnt(tunnel *t, enum stat_counter c, uint64_t n)
{
	stats_add(t->st, c, n);
}

static inline void drop(tunnel *t, enum stat_drop d)
{
	stats_drop(t->st, d);
}

static uint32_t aidx(const tunnel *t, const struct agent *a)
{
	return (uint32_t)(a - t->agents);
}

static void emit(tunnel *t, struct msg_tunnel_event *ev)
{
	ev->worker = t->cfg.worker;
	if (t->hooks.event)
		t->hooks.event(t->hooks.ctx, ev);
}

static uint64_t unix_now(tunnel *t)
{
	if (t->hooks.unix_now)
		return t->hooks.unix_now(t->hooks.ctx);
	return clock_real_ns() / 1000000000ull;
}

/* ------------------------------------------------------------ lifecycle */

tunnel *tunnel_create(const struct tunnel_cfg *cfg, const struct dp_backend_ops *ops,
		      struct dp_backend *be, struct stats_block *stats,
		      const struct tunnel_hooks *hooks)
{
	tunnel *t;

	if (!cfg || !ops || !stats || !hooks || !cfg->max_ports || !cfg->max_agents ||
	    !cfg->max_streams || !cfg->max_forwards || !cfg->buf_size || !cfg->keys ||
	    !cfg->streampoint_id || !agent_auth_id_valid(cfg->streampoint_id, strlen(cfg->streampoint_id)) ||
	    cfg->max_ports >= (1u << OWN_SHIFT) || cfg->max_agents >= (1u << OWN_SHIFT) ||
	    cfg->max_streams >= (1u << OWN_SHIFT) || cfg->max_forwards >= (1u << OWN_SHIFT) ||
	    cfg->stream_window < 1024 || cfg->stream_window > TUN_MAX_WINDOW || !cfg->heartbeat_ns ||
	    !cfg->handshake_ns || !ops->stream_pause || !ops->listen_open) {
		errno = EINVAL;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->cfg = *cfg;
	snprintf(t->sp_id, sizeof(t->sp_id), "%s", cfg->streampoint_id);
	t->cfg.streampoint_id = t->sp_id;
	t->ops = ops;
	t->be = be;
	t->st = stats;
	t->hooks = *hooks;
	/* Every byte of the window may sit in buffers, the last one partly. */
	t->out_cap = cfg->stream_window / cfg->buf_size + 2;
	t->owner = calloc(cfg->max_ports, sizeof(*t->owner));
	t->agents = calloc(cfg->max_agents, sizeof(*t->agents));
	t->locals = calloc(cfg->max_streams, sizeof(*t->locals));
	t->outs = calloc((size_t)cfg->max_streams * t->out_cap, sizeof(*t->outs));
	t->fwds = calloc(cfg->max_forwards, sizeof(*t->fwds));
	t->notes = calloc(cfg->max_streams, sizeof(*t->notes));
	if (!t->owner || !t->agents || !t->locals || !t->outs || !t->fwds || !t->notes) {
		tunnel_destroy(t);
		errno = ENOMEM;
		return NULL;
	}
	for (uint32_t i = 0; i < cfg->max_agents; i++)
		t->agents[i].next_free = i + 1 < cfg->max_agents ? i + 1 : NO_IDX;
	for (uint32_t i = 0; i < cfg->max_streams; i++) {
		t->locals[i].next_free = i + 1 < cfg->max_streams ? i + 1 : NO_IDX;
		t->locals[i].out = &t->outs[(size_t)i * t->out_cap];
	}
	for (uint32_t i = 0; i < cfg->max_forwards; i++)
		t->fwds[i].next_free = i + 1 < cfg->max_forwards ? i + 1 : NO_IDX;
	t->stage_owner = NO_IDX;
	return t;
}

static void release_buf(tunnel *t, uint32_t buf)
{
	struct dp_pkt p = { .buf = buf };
	t->ops->release(t->be, &p);
}

/* Transmit buffers not handed over go back; returns their bytes. */
static uint32_t local_release_out(tunnel *t, struct local *l)
{
	uint32_t bytes = 0;

	for (; l->o_n; l->o_n--, l->o_head = (l->o_head + 1) % t->out_cap) {
		bytes += l->out[l->o_head].len;
		t->ops->release(t->be, &l->out[l->o_head]);
	}
	bytes -= bytes >= l->c_off ? l->c_off : bytes; /* credited when taken */
	l->c_off = 0;
	l->holding = false;
	return bytes;
}

static void local_release(tunnel *t, struct local *l)
{
	for (; l->h_n; l->h_n--, l->h_head = (l->h_head + 1) % TUNNEL_HOLD)
		release_buf(t, l->held[l->h_head].buf);
	l->h_off = 0;
	local_release_out(t, l);
}

static void agent_free(struct agent *a)
{
	tls_stream_free(a->tls);
	free(a->hdr);
	free(a->obuf);
	tun_session_free(a->sess);
	tun_parser_free(a->parser);
	a->tls = NULL;
	a->hdr = NULL;
	a->obuf = NULL;
	a->sess = NULL;
	a->parser = NULL;
}

void tunnel_destroy(tunnel *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; t->locals && i < t->cfg.max_streams; i++) {
		struct local *l = &t->locals[i];
		if (l->state == LS_FREE)
			continue;
		local_release(t, l);
		if (l->lc_open && !l->inproc)
			t->ops->port_close(t->be, l->port);
	}
	for (uint32_t i = 0; t->fwds && i < t->cfg.max_forwards; i++)
		if (t->fwds[i].used)
			t->ops->port_close(t->be, t->fwds[i].port);
	for (uint32_t i = 0; t->agents && i < t->cfg.max_agents; i++) {
		struct agent *a = &t->agents[i];
		if (a->state == AG_FREE)
			continue;
		agent_free(a);
		t->ops->port_close(t->be, a->port);
	}
	free(t->owner);
	free(t->agents);
	free(t->locals);
	free(t->outs);
	free(t->fwds);
	free(t->notes);
	free(t);
}

int tunnel_add_listener(tunnel *t, uint32_t port)
{
	if (port >= t->cfg.max_ports || t->owner[port])
		return -EINVAL;
	if (t->n_listeners == TUNNEL_MAX_LISTENERS)
		return -ENOSPC;
	t->listeners[t->n_listeners] = port;
	t->owner[port] = OWN(OWN_LISTENER, t->n_listeners);
	t->n_listeners++;
	return 0;
}

bool tunnel_owns(const tunnel *t, uint32_t port)
{
	return port < t->cfg.max_ports && t->owner[port] != 0;
}

void tunnel_get_counts(const tunnel *t, struct tunnel_counts *out)
{
	*out = (struct tunnel_counts){ .handshakes = t->n_handshakes, .tunnels = t->n_tunnels,
				       .streams = t->n_locals, .forwards = t->n_fwds,
				       .listeners = t->n_listeners };
	for (uint32_t i = 0; i < t->cfg.max_streams; i++) {
		const struct local *l = &t->locals[i];
		if (l->state == LS_FREE)
			continue;
		out->paused += l->paused;
		out->holding += l->o_n > 0;
	}
}

uint64_t tunnel_refusals(const tunnel *t, enum agent_auth_err e)
{
	return (unsigned)e < AGENT_AUTH_ERR__COUNT ? t->refused[e] : 0;
}

uint64_t tunnel_open_failures(const tunnel *t, enum tun_reason r)
{
	return (unsigned)r < TUN_R__COUNT ? t->open_failed[r] : 0;
}

/* ------------------------------------------------------------ output to an agent */

static void agent_kill(tunnel *t, struct agent *a, enum msg_tunnel_down why)
{
	if (a->kill)
		return;
	a->kill = (int16_t)(why + 1);
	t->n_killed++;
}

/* Queue what waits onto the connection, as far as its send queue takes it. */
static void out_flush(tunnel *t, struct agent *a)
{
	uint32_t room = t->ops->stream_room(t->be, a->port);

	if (a->tls) {
		size_t n;
		while (room && (n = tls_stream_pending(a->tls)) > 0) {
			if (n > room)
				n = room;
			if (n > sizeof(t->cipher))
				n = sizeof(t->cipher);
			n = tls_stream_take(a->tls, t->cipher, n);
			if (t->ops->stream_send_copy(t->be, a->port, t->cipher, (uint32_t)n) < 0) {
				/* Part of a record cannot be taken back. */
				agent_kill(t, a, TUNNEL_DOWN_CLOSED);
				return;
			}
			room -= (uint32_t)n;
		}
	} else if (a->olen && room) {
		uint32_t n = a->olen < room ? a->olen : room;
		if (t->ops->stream_send_copy(t->be, a->port, a->obuf, n) < 0) {
			agent_kill(t, a, TUNNEL_DOWN_CLOSED);
			return;
		}
		memmove(a->obuf, a->obuf + n, a->olen - n);
		a->olen -= n;
	}
}

static size_t out_pending(const tunnel *t, const struct agent *a)
{
	size_t n = a->tls ? tls_stream_pending(a->tls) : a->olen;
	if (t->stage_owner == aidx(t, a))
		n += t->stage_len;
	return n;
}

static void backlog_mark(tunnel *t, struct agent *a)
{
	bool b = out_pending(t, a) > 0;

	if (b != a->backlog) {
		a->backlog = b;
		if (b)
			t->n_backlog++;
		else
			t->n_backlog--;
	}
}

/* The stage into the agent's output (TLS records or the plaintext buffer). */
static void stage_flush(tunnel *t)
{
	if (t->stage_owner == NO_IDX)
		return;
	struct agent *a = &t->agents[t->stage_owner];
	uint32_t len = t->stage_len;

	t->stage_owner = NO_IDX;
	t->stage_len = 0;
	if (!len || a->kill)
		return;
	if (a->tls) {
		if (tls_stream_write(a->tls, t->stage, len) < 0) {
			agent_kill(t, a, TUNNEL_DOWN_TLS);
			return;
		}
	} else {
		if (!a->obuf && !(a->obuf = malloc(TUNNEL_OUT_MAX))) {
			agent_kill(t, a, TUNNEL_DOWN_BACKLOG);
			return;
		}
		if (a->olen + len > TUNNEL_OUT_MAX) {
			drop(t, DROP_TUN_BACKLOG);
			agent_kill(t, a, TUNNEL_DOWN_BACKLOG);
			return;
		}
		memcpy(a->obuf + a->olen, t->stage, len);
		a->olen += len;
	}
	out_flush(t, a);
	if (a->tls && tls_stream_pending(a->tls) > TUNNEL_OUT_MAX && !a->kill) {
		drop(t, DROP_TUN_BACKLOG);
		agent_kill(t, a, TUNNEL_DOWN_BACKLOG);
	}
	backlog_mark(t, a);
}

static void ag_write(tunnel *t, struct agent *a, const void *p, uint32_t n)
{
	if (a->kill)
		return;
	if (t->stage_owner != aidx(t, a)) {
		stage_flush(t);
		t->stage_owner = aidx(t, a);
	}
	if (t->stage_len + n > STAGE_CAP) {
		stage_flush(t);
		t->stage_owner = aidx(t, a);
	}
	memcpy(t->stage + t->stage_len, p, n);
	t->stage_len += n;
}

static void send_frame(tunnel *t, struct agent *a, const struct tun_frame *f)
{
	uint8_t buf[TUN_HEADER_LEN + 4 + TUN_TARGET_MAX + 8];
	int n = tun_frame_encode(f, buf, sizeof(buf));

	if (n > 0)
		ag_write(t, a, buf, (uint32_t)n);
}

/* Bytes of DATA payload the agent connection takes now. */
static uint32_t data_room(tunnel *t, struct agent *a)
{
	uint64_t room = t->ops->stream_room(t->be, a->port);
	uint64_t used = out_pending(t, a) + TUN_HEADER_LEN + TLS_STREAM_OVERHEAD;

	if (a->kill || room <= used)
		return 0;
	room -= used;
	return room > DATA_MAX ? DATA_MAX : (uint32_t)room;
}

/* ------------------------------------------------------------ streams */

static struct local *find_local(tunnel *t, const struct agent *a, uint32_t stream)
{
	uint32_t ai = aidx(t, a);

	for (uint32_t i = 0; i < t->cfg.max_streams && stream; i++) {
		struct local *l = &t->locals[i];
		if (l->state != LS_FREE && l->agent == ai && l->stream == stream)
			return l;
	}
	return NULL;
}

static void work_mark(tunnel *t, struct local *l, bool on)
{
	if (l->work == on)
		return;
	l->work = on;
	if (on)
		t->n_work++;
	else
		t->n_work--;
}

static void fwd_close(tunnel *t, struct fwd *f, uint16_t why, uint64_t seq);

static void fwd_conn_gone(tunnel *t, uint32_t fi, uint64_t now)
{
	if (fi == NO_IDX || !t->fwds[fi].used)
		return;
	struct fwd *f = &t->fwds[fi];
	if (f->n_conns && --f->n_conns == 0)
		f->deadline = now + f->idle_ns;
}

/* The consumer of an in-process stream hears closed(why) (queued) and is
 * detached: nothing more is delivered to it. */
static void consumer_end(tunnel *t, struct local *l, enum tunnel_stream_end why)
{
	if (!l->inproc || !l->cb)
		return;
	t->notes[(t->note_head + t->n_notes) % t->cfg.max_streams] =
		(struct note){ .cb = l->cb, .ctx = l->ctx, .why = why };
	t->n_notes++;
	t->n_attached--;
	l->cb = NULL;
	l->ctx = NULL;
	l->lc_open = false;
	l->in_done = true;
	l->want_write = false;
}

static void notes_flush(tunnel *t)
{
	if (t->notifying)
		return;
	t->notifying = true;
	while (t->n_notes) {
		struct note n = t->notes[t->note_head];
		t->note_head = (t->note_head + 1) % t->cfg.max_streams;
		t->n_notes--;
		t->in_cb++;
		if (n.cb->closed)
			n.cb->closed(n.ctx, n.why);
		t->in_cb--;
	}
	t->notifying = false;
	stage_flush(t); /* what the callbacks wrote */
}

static void local_close_port(tunnel *t, struct local *l)
{
	if (!l->lc_open)
		return;
	if (l->inproc) {
		consumer_end(t, l, (enum tunnel_stream_end)l->end);
		return;
	}
	t->ops->port_close(t->be, l->port);
	if (l->port < t->cfg.max_ports)
		t->owner[l->port] = 0;
	l->lc_open = false;
	l->in_done = true;
}

/* The stream slot goes; the session's stream must be gone already (or
 * closed with this call's caller sending CLOSE). */
static void local_free(tunnel *t, struct local *l, uint64_t now)
{
	uint32_t li = (uint32_t)(l - t->locals);

	consumer_end(t, l, (enum tunnel_stream_end)l->end);
	local_release(t, l);
	local_close_port(t, l);
	if (l->agent != NO_IDX && t->agents[l->agent].n_streams)
		t->agents[l->agent].n_streams--;
	fwd_conn_gone(t, l->fwd, now);
	work_mark(t, l, false);
	memset(l, 0, offsetof(struct local, next_free));
	l->out = &t->outs[(size_t)li * t->out_cap];
	l->next_free = t->free_local;
	t->free_local = li;
	t->n_locals--;
}

/* Abort a stream: CLOSE to the agent (if it is still open there), free. */
static void local_abort(tunnel *t, struct local *l, enum tun_reason why, uint64_t now)
{
	struct agent *a = &t->agents[l->agent];
	struct tun_frame f;

	if (a->sess && tun_session_close(a->sess, l->stream, why, &f) == 0)
		send_frame(t, a, &f);
	local_free(t, l, now);
}

static bool stream_gone(const struct agent *a, const struct local *l)
{
	return !a->sess || tun_session_send_window(a->sess, l->stream) < 0;
}

static void pause_local(tunnel *t, struct local *l, bool pause)
{
	if (l->inproc || !l->lc_open || l->paused == pause)
		return;
	if (t->ops->stream_pause(t->be, l->port, pause) == 0) {
		l->paused = pause;
		if (pause)
			cnt(t, STAT_TUN_PAUSED, 1);
	}
}

/* Credit for bytes handed to the local connection (or dropped with it). */
static void give_credit(tunnel *t, struct agent *a, struct local *l, uint32_t n)
{
	struct tun_frame f;

	if (n && a->sess && tun_session_consumed(a->sess, l->stream, n, &f) == 1)
		send_frame(t, a, &f);
}

/* agent -> local: hand over the buffers, as many as the queue takes. */
static void to_local(tunnel *t, struct agent *a, struct local *l)
{
	uint32_t done = 0;

	while (l->o_n && l->lc_open) {
		struct dp_pkt *p = &l->out[l->o_head];
		int rc = t->ops->stream_send(t->be, l->port, NULL, 0, p, 0, p->len, 0);
		if (rc == -ENOBUFS) {
			if (!l->holding) {
				l->holding = true;
				cnt(t, STAT_TUN_HELD, 1);
			}
			break;
		}
		if (rc < 0) {
			/* The connection failed; its CLOSED follows. Drop the rest. */
			local_close_port(t, l);
			break;
		}
		done += p->len;
		t->ops->release(t->be, p);
		l->o_head = (l->o_head + 1) % t->out_cap;
		l->o_n--;
	}
	if (!l->o_n)
		l->holding = false;
	cnt(t, STAT_TUN_FROM_AGENT, done);
	if (!l->lc_open)
		done += local_release_out(t, l); /* nobody to read them: credit anyway */
	give_credit(t, a, l, done);
}

/* agent -> consumer: the buffers, as far as it takes them. */
static void to_consumer(tunnel *t, struct agent *a, struct local *l)
{
	uint32_t done = 0;

	while (l->o_n && l->lc_open && !l->abort_req) {
		struct dp_pkt *p = &l->out[l->o_head];
		uint32_t avail = p->len - l->c_off;
		t->in_cb++;
		size_t n = l->cb->data(l->ctx, p->data + l->c_off, avail);
		t->in_cb--;
		if (n > avail)
			n = avail;
		done += (uint32_t)n;
		l->c_off += (uint32_t)n;
		if (l->c_off < p->len)
			break; /* it is full: offered again at the next progress */
		t->ops->release(t->be, p);
		l->o_head = (l->o_head + 1) % t->out_cap;
		l->o_n--;
		l->c_off = 0;
	}
	l->holding = l->o_n > 0;
	cnt(t, STAT_TUN_FROM_AGENT, done);
	if (!l->lc_open)
		done += local_release_out(t, l);
	give_credit(t, a, l, done);
}

/* local -> agent: held chunks as DATA within the window and the room;
 * FIN after the last one once the local side ended. */
static void from_local(tunnel *t, struct agent *a, struct local *l)
{
	uint8_t hdr[TUN_HEADER_LEN];
	struct tun_frame f;
	size_t allowed;

	while (l->h_n && l->state == LS_OPEN && !l->fin_sent && !a->kill) {
		struct hold *h = &l->held[l->h_head];
		uint32_t avail = h->len - l->h_off, room = data_room(t, a);
		if (!room)
			break; /* the agent connection's queue: retried when it drains */
		int rc = tun_session_send(a->sess, l->stream, avail < room ? avail : room, false,
					  &allowed, &f);
		if (rc == -EAGAIN)
			break; /* no credit: WINDOW_UPDATE resumes it */
		if (rc < 0) {
			/* Closed under us: nothing of this goes anywhere. */
			local_release(t, l);
			l->fin_sent = true;
			break;
		}
		tun_frame_header(hdr, TUN_DATA, f.flags, l->stream, (uint16_t)allowed);
		ag_write(t, a, hdr, TUN_HEADER_LEN);
		ag_write(t, a, h->data + l->h_off, (uint32_t)allowed);
		cnt(t, STAT_TUN_TO_AGENT, allowed);
		l->h_off += (uint32_t)allowed;
		if (l->h_off == h->len) {
			release_buf(t, h->buf);
			l->h_head = (l->h_head + 1) % TUNNEL_HOLD;
			l->h_n--;
			l->h_off = 0;
		}
	}
	if (!l->h_n && l->in_done && l->state == LS_OPEN && !l->fin_sent && !a->kill &&
	    data_room(t, a)) {
		if (tun_session_send(a->sess, l->stream, 0, true, &allowed, &f) == 0) {
			tun_frame_header(hdr, TUN_DATA, TUN_FLAG_FIN, l->stream, 0);
			ag_write(t, a, hdr, TUN_HEADER_LEN);
		}
		l->fin_sent = true;
	}
}

#define LOCAL_LINGER_NS (10 * 1000000000ull)

/* Everything a stream can do now; frees it when it is finished. */
static void local_progress(tunnel *t, struct local *l, uint64_t now)
{
	struct agent *a = &t->agents[l->agent];

	if (a->kill || !a->sess)
		return;
	if (l->inproc) {
		if (!l->abort_req)
			to_consumer(t, a, l);
		if (l->abort_req) {
			local_abort(t, l, TUN_R_NONE, now);
			return;
		}
		/* Everything reached the consumer: the stream is done for it. */
		if (l->fin_recv && !l->o_n)
			consumer_end(t, l, TUNNEL_STREAM_EOF);
	} else {
		to_local(t, a, l);
		/* The agent finished and everything reached the local
		 * connection's queue: close once the queue is empty (the
		 * backend has no half-close; closing earlier would drop
		 * queued bytes). */
		if (l->fin_recv && !l->o_n && l->lc_open &&
		    t->ops->stream_room(t->be, l->port) >= l->room_empty)
			local_close_port(t, l);
	}
	from_local(t, a, l);
	if (l->inproc && l->want_write && l->lc_open && !l->in_done && l->state == LS_OPEN &&
	    tun_session_send_window(a->sess, l->stream) > 0 && data_room(t, a)) {
		l->want_write = false;
		t->in_cb++;
		l->cb->writable(l->ctx);
		t->in_cb--;
		if (l->abort_req) {
			local_abort(t, l, TUN_R_NONE, now);
			return;
		}
	}
	if (l->lc_open && !l->inproc) {
		if (l->h_n || l->state != LS_OPEN)
			pause_local(t, l, true);
		else if (!l->in_done)
			pause_local(t, l, false);
	}
	if (!l->lc_open && l->state == LS_OPEN && l->fin_sent && !l->h_n) {
		if (stream_gone(a, l)) {
			local_free(t, l, now);
			return;
		}
		if (!l->linger)
			l->linger = now + LOCAL_LINGER_NS;
	}
	work_mark(t, l, l->h_n || l->o_n || (l->fin_recv && l->lc_open) || l->want_write ||
			(l->in_done && !l->fin_sent && l->state == LS_OPEN));
}

/* agent -> local: DATA payload into the stream's transmit buffers. */
static void deliver(tunnel *t, struct agent *a, struct local *l, const uint8_t *d, uint32_t len,
		    uint64_t now)
{
	if (!l->lc_open) {
		give_credit(t, a, l, len); /* nobody reads them any more */
		return;
	}
	if (l->inproc && !l->o_n && !l->abort_req) {
		/* Straight from the decrypted record; only a rest is copied. */
		t->in_cb++;
		size_t n = l->cb->data(l->ctx, d, len);
		t->in_cb--;
		if (n > len)
			n = len;
		cnt(t, STAT_TUN_FROM_AGENT, n);
		give_credit(t, a, l, (uint32_t)n);
		d += n;
		len -= (uint32_t)n;
		if (!l->lc_open || l->abort_req)
			return; /* the stream goes at its next progress */
	}
	while (len) {
		struct dp_pkt *tail = l->o_n ? &l->out[(l->o_head + l->o_n - 1) % t->out_cap] : NULL;
		if (!tail || tail->len == t->cfg.buf_size) {
			struct dp_pkt p;
			uint32_t cap;
			/* The window bounds the ring; an agent over it already
			 * got a stream error from the session. */
			if (l->o_n == t->out_cap || t->ops->tx_alloc(t->be, &p, &cap) < 0) {
				drop(t, DROP_TX_NO_BUFFER);
				l->end = TUNNEL_STREAM_NO_BUFFER;
				local_abort(t, l, TUN_R_INTERNAL, now);
				return;
			}
			if (cap < t->cfg.buf_size) {
				t->ops->release(t->be, &p);
				local_abort(t, l, TUN_R_INTERNAL, now);
				return;
			}
			p.len = 0;
			p.kind = DP_PKT_STREAM;
			tail = &l->out[(l->o_head + l->o_n) % t->out_cap];
			*tail = p;
			l->o_n++;
		}
		uint32_t n = t->cfg.buf_size - tail->len;
		if (n > len)
			n = len;
		memcpy(tail->data + tail->len, d, n);
		tail->len += n;
		d += n;
		len -= n;
	}
}

/* ------------------------------------------------------------ tunnel state */

static void fwd_close(tunnel *t, struct fwd *f, uint16_t why, uint64_t seq)
{
	uint32_t fi = (uint32_t)(f - t->fwds);
	struct msg_tunnel_event ev = { .seq = seq, .kind = TUNNEL_EV_FWD_CLOSED,
				       .tunnel_id = t->agents[f->agent].id, .fwd_id = f->id,
				       .port = f->lport, .reason = why, .streams = f->served };

	snprintf(ev.device, sizeof(ev.device), "%s", t->agents[f->agent].device);
	t->ops->port_close(t->be, f->port);
	if (f->port < t->cfg.max_ports)
		t->owner[f->port] = 0;
	for (uint32_t i = 0; i < t->cfg.max_streams; i++)
		if (t->locals[i].state != LS_FREE && t->locals[i].fwd == fi)
			t->locals[i].fwd = NO_IDX; /* its connections go on */
	memset(f, 0, sizeof(*f));
	f->next_free = t->free_fwd;
	t->free_fwd = fi;
	t->n_fwds--;
	emit(t, &ev);
}

static void agent_close(tunnel *t, struct agent *a)
{
	uint32_t ai = aidx(t, a);

	if (t->stage_owner == ai) {
		t->stage_owner = NO_IDX;
		t->stage_len = 0;
	}
	if (a->kill)
		t->n_killed--;
	if (a->backlog)
		t->n_backlog--;
	if (a->state == AG_HANDSHAKE)
		t->n_handshakes--;
	agent_free(a);
	t->ops->port_close(t->be, a->port);
	if (a->port < t->cfg.max_ports)
		t->owner[a->port] = 0;
	memset(a, 0, sizeof(*a));
	a->next_free = t->free_agent;
	t->free_agent = ai;
}

/* No new streams: forwards close, GOAWAY(reason) to the agent; the tunnel
 * ends (why) when its last stream does. */
static void agent_drain(tunnel *t, struct agent *a, enum tun_reason reason,
			enum msg_tunnel_down why)
{
	struct tun_frame f;

	if (a->state != AG_UP)
		return;
	a->state = AG_DRAINING;
	a->down_reason = (uint8_t)why;
	if (reason != TUN_R__COUNT && tun_session_goaway(a->sess, reason, &f) == 0)
		send_frame(t, a, &f);
	for (uint32_t i = 0; i < t->cfg.max_forwards; i++)
		if (t->fwds[i].used && t->fwds[i].agent == aidx(t, a))
			fwd_close(t, &t->fwds[i], TUNNEL_FWD_TUNNEL_DOWN, 0);
}

/* The tunnel ends: streams and forwards go, spcp hears DOWN. The
 * connection then closes, after what was written is flushed (linger) if
 * it still works. */
static void agent_down(tunnel *t, struct agent *a, enum msg_tunnel_down why, bool linger,
		       uint64_t now)
{
	uint32_t ai = aidx(t, a);
	char buf[SP_ADDR_STRLEN];

	if (a->state == AG_UP || a->state == AG_DRAINING) {
		struct msg_tunnel_event ev = { .kind = TUNNEL_EV_DOWN, .tunnel_id = a->id,
					       .reason = (uint16_t)why, .streams = a->n_streams,
					       .source = a->src };
		snprintf(ev.device, sizeof(ev.device), "%s", a->device);
		for (uint32_t i = 0; i < t->cfg.max_forwards; i++)
			if (t->fwds[i].used && t->fwds[i].agent == ai)
				fwd_close(t, &t->fwds[i], TUNNEL_FWD_TUNNEL_DOWN, 0);
		for (uint32_t i = 0; i < t->cfg.max_streams; i++)
			if (t->locals[i].state != LS_FREE && t->locals[i].agent == ai) {
				t->locals[i].end = TUNNEL_STREAM_TUNNEL_DOWN;
				local_free(t, &t->locals[i], now);
			}
		t->n_tunnels--;
		cnt(t, STAT_TUN_DOWN, 1);
		log_info("worker %u: tunnel %llx of device %s from %s down (%u)", t->cfg.worker,
			 (unsigned long long)a->id, a->device, sp_addr_str(&a->src, buf), why);
		emit(t, &ev);
	}
	if (a->state == AG_HANDSHAKE) {
		t->n_handshakes--;
		free(a->hdr);
		a->hdr = NULL;
	}
	a->state = AG_LINGER;
	if (linger && !a->kill) {
		a->deadline = now + LINGER_NS;
		stage_flush(t);
		if (!a->kill)
			return;
	}
	agent_close(t, a);
}

/* A connection error: GOAWAY(reason) if we can, then close. */
static void agent_fail(tunnel *t, struct agent *a, enum tun_reason reason,
		       enum msg_tunnel_down why, uint64_t now)
{
	struct tun_frame f;

	if (a->sess && tun_session_goaway(a->sess, reason, &f) == 0)
		send_frame(t, a, &f);
	agent_down(t, a, why, true, now);
}

static void agent_reap(tunnel *t, struct agent *a, uint64_t now)
{
	if (a->state != AG_FREE && a->kill)
		agent_down(t, a, (enum msg_tunnel_down)(a->kill - 1), false, now);
}

static void on_event(tunnel *t, struct agent *a, const struct tun_event *ev, uint64_t now)
{
	struct local *l = ev->stream ? find_local(t, a, ev->stream) : NULL;

	switch (ev->kind) {
	case TUN_EV_OPENED:
		if (l) {
			l->state = LS_OPEN;
			if (l->inproc && l->lc_open && l->cb->opened) {
				t->in_cb++;
				l->cb->opened(l->ctx);
				t->in_cb--;
			}
			local_progress(t, l, now);
		}
		break;
	case TUN_EV_OPEN_FAILED:
		if (ev->reason < TUN_R__COUNT)
			t->open_failed[ev->reason]++;
		drop(t, DROP_TUN_OPEN_FAILED);
		log_rl(LOG_LVL_INFO, 0, "worker %u: device %s refused a stream: %s", t->cfg.worker,
		       a->device, tun_reason_name((enum tun_reason)ev->reason));
		if (l) {
			l->end = TUNNEL_STREAM_REFUSED;
			local_free(t, l, now);
		}
		break;
	case TUN_EV_DATA:
		if (!l)
			break;
		if (ev->len)
			deliver(t, a, l, ev->data, ev->len, now);
		if (l->state == LS_FREE)
			break;
		if (ev->fin)
			l->fin_recv = true;
		work_mark(t, l, true); /* handed over at the end of this input */
		break;
	case TUN_EV_WRITABLE:
		if (l)
			local_progress(t, l, now);
		break;
	case TUN_EV_STREAM_ERROR:
		/* The session freed the stream; CLOSE is the reply. */
		drop(t, DROP_TUN_STREAM_ERROR);
		if (l)
			local_free(t, l, now);
		break;
	case TUN_EV_CLOSED:
		if (l)
			local_free(t, l, now);
		break;
	case TUN_EV_PONG:
		a->ping_at = 0;
		break;
	case TUN_EV_GOAWAY:
		/* The agent leaves: no new streams, the open ones finish. */
		agent_drain(t, a, TUN_R__COUNT, TUNNEL_DOWN_GOAWAY);
		break;
	case TUN_EV_CONTROL:
		/* Auth frames belong to the control connection, not here. */
		drop(t, DROP_TUN_PROTOCOL);
		agent_fail(t, a, TUN_R_PROTOCOL, TUNNEL_DOWN_PROTOCOL, now);
		return;
	default:
		break;
	}
	if (ev->has_reply && a->state != AG_LINGER)
		send_frame(t, a, &ev->reply);
}

static void frames_input(tunnel *t, struct agent *a, const uint8_t *d, size_t len, uint64_t now)
{
	while (len && (a->state == AG_UP || a->state == AG_DRAINING) && !a->kill) {
		struct tun_frame f;
		struct tun_event ev;
		size_t used = 0;
		int rc = tun_parser_feed(a->parser, d, len, &used, &f);
		d += used;
		len -= used;
		if (rc == 0)
			break;
		if (rc < 0) {
			enum tun_err e = tun_parser_err(a->parser);
			drop(t, DROP_TUN_PROTOCOL);
			log_rl(LOG_LVL_INFO, 0, "worker %u: device %s: bad frame (%s)", t->cfg.worker,
			       a->device, rc == -EPROTO ? tun_err_name(e) : "no memory");
			agent_fail(t, a, e == TUN_ERR_TOO_LONG || e == TUN_ERR_BAD_LENGTH ?
				   TUN_R_FRAME_SIZE : rc == -EPROTO ? TUN_R_PROTOCOL : TUN_R_INTERNAL,
				   TUNNEL_DOWN_PROTOCOL, now);
			return;
		}
		a->last_rx = now;
		if (tun_session_on_frame(a->sess, &f, &ev) < 0) {
			drop(t, DROP_TUN_PROTOCOL);
			log_rl(LOG_LVL_INFO, 0, "worker %u: device %s broke the stream rules (%s frame)",
			       t->cfg.worker, a->device, tun_type_name((enum tun_type)f.type));
			if (ev.has_reply)
				send_frame(t, a, &ev.reply);
			agent_down(t, a, TUNNEL_DOWN_PROTOCOL, true, now);
			return;
		}
		on_event(t, a, &ev, now);
	}
}

/* ------------------------------------------------------------ handshake */

static void refuse(tunnel *t, struct agent *a, int status, enum stat_drop d, const char *why,
		   uint64_t now)
{
	char buf[SP_ADDR_STRLEN], resp[192];
	const char *text = status == 401 ? "Unauthorized" : status == 426 ? "Upgrade Required" :
			   status == 503 ? "Service Unavailable" : "Bad Request";
	int n = snprintf(resp, sizeof(resp),
			 "HTTP/1.1 %d %s\r\n%sConnection: close\r\nContent-Length: 0\r\n\r\n", status,
			 text, status == 426 ? "Upgrade: " AGENT_AUTH_PROTO "\r\n" : "");

	drop(t, d);
	log_rl(LOG_LVL_INFO, 0, "worker %u: agent %s refused: %d (%s)", t->cfg.worker,
	       sp_addr_str(&a->src, buf), status, why);
	ag_write(t, a, resp, (uint32_t)n);
	agent_down(t, a, TUNNEL_DOWN_CLOSED, true, now);
}

static enum stat_drop token_drop(enum agent_auth_err e)
{
	switch (e) {
	case AGENT_AUTH_TOK_EXPIRED:
	case AGENT_AUTH_TOK_NOT_YET_VALID:
		return DROP_TUN_TOKEN_EXPIRED;
	case AGENT_AUTH_TOK_WRONG_STREAMPOINT:
		return DROP_TUN_TOKEN_WRONG_SP;
	default:
		return DROP_TUN_TOKEN_BAD;
	}
}

/* The token checked out: the tunnel is up for info's device. */
static void tunnel_up(tunnel *t, struct agent *a, const char *device, uint64_t now)
{
	struct tun_session_cfg sc = { .opener = true,
				      .max_streams = t->cfg.max_streams < TUN_MAX_STREAMS_CFG ?
						     t->cfg.max_streams : TUN_MAX_STREAMS_CFG,
				      .initial_window = t->cfg.stream_window };
	char resp[128], buf[SP_ADDR_STRLEN];
	int n;

	a->sess = tun_session_new(&sc);
	a->parser = tun_parser_new(TUN_MAX_PAYLOAD);
	if (!a->sess || !a->parser || (n = agent_auth_upgrade_accept(resp, sizeof(resp))) < 0) {
		refuse(t, a, 503, DROP_TUN_FULL, "no memory", now);
		return;
	}
	/* One live tunnel per device: the older one on this worker drains. */
	for (uint32_t i = 0; i < t->cfg.max_agents; i++) {
		struct agent *o = &t->agents[i];
		if (o != a && o->state == AG_UP && !strcmp(o->device, device))
			agent_drain(t, o, TUN_R_SHUTDOWN, TUNNEL_DOWN_REPLACED);
	}
	snprintf(a->device, sizeof(a->device), "%s", device);
	t->n_handshakes--;
	free(a->hdr);
	a->hdr = NULL;
	a->state = AG_UP;
	a->id = (uint64_t)(t->cfg.worker + 1) << 48 | ++t->seq;
	a->last_rx = now;
	a->deadline = 0;
	t->n_tunnels++;
	cnt(t, STAT_TUN_UP, 1);
	ag_write(t, a, resp, (uint32_t)n);
	struct msg_tunnel_event ev = { .kind = TUNNEL_EV_UP, .tunnel_id = a->id, .source = a->src };
	snprintf(ev.device, sizeof(ev.device), "%s", device);
	log_info("worker %u: tunnel %llx of device %s from %s up", t->cfg.worker,
		 (unsigned long long)a->id, device, sp_addr_str(&a->src, buf));
	emit(t, &ev);
}

/* Upgrade bytes; what follows the header block is already frames. */
static void upgrade_input(tunnel *t, struct agent *a, const uint8_t *d, size_t len, uint64_t now)
{
	struct agent_auth_upgrade up;
	struct agent_auth_token_info info;
	size_t take = AGENT_AUTH_UP_MAX_TOTAL - a->hdr_len;

	if (take > len)
		take = len;
	memcpy(a->hdr + a->hdr_len, d, take);
	a->hdr_len += (uint32_t)take;
	enum agent_auth_err e = agent_auth_upgrade_parse(a->hdr, a->hdr_len, &up);
	if (e == AGENT_AUTH_NEED_MORE)
		return;
	if (e != AGENT_AUTH_OK) {
		t->refused[e]++;
		if (e == AGENT_AUTH_UP_NO_UPGRADE)
			refuse(t, a, 426, DROP_TUN_BAD_PROTOCOL, agent_auth_err_name(e), now);
		else
			refuse(t, a, 400, DROP_TUN_BAD_REQUEST, agent_auth_err_name(e), now);
		return;
	}
	if (!up.token) {
		refuse(t, a, 401, DROP_TUN_NO_TOKEN, "no token", now);
		return;
	}
	e = agent_auth_token_verify(t->cfg.keys, up.token, up.token_len, t->sp_id, NULL,
				    unix_now(t), &info);
	if (e != AGENT_AUTH_OK) {
		t->refused[e]++;
		refuse(t, a, 401, token_drop(e), agent_auth_err_name(e), now);
		return;
	}
	/* Frames after the header block: keep them before the buffer goes. */
	size_t rest = a->hdr_len - up.header_len;
	uint8_t early[AGENT_AUTH_UP_MAX_TOTAL];
	memcpy(early, a->hdr + up.header_len, rest);
	tunnel_up(t, a, info.device_id, now);
	if (a->state != AG_UP)
		return;
	frames_input(t, a, early, rest, now);
	frames_input(t, a, d + take, len - take, now);
}

static void agent_bytes(tunnel *t, struct agent *a, const uint8_t *d, size_t len, uint64_t now)
{
	if (a->state == AG_HANDSHAKE)
		upgrade_input(t, a, d, len, now);
	else if (a->state == AG_UP || a->state == AG_DRAINING)
		frames_input(t, a, d, len, now);
}

static void on_agent_stream(tunnel *t, struct agent *a, const struct dp_pkt *p, uint64_t now)
{
	if (a->state == AG_LINGER)
		return;
	if (!a->tls) {
		agent_bytes(t, a, p->data, p->len, now);
	} else if (tls_stream_feed(a->tls, p->data, p->len) < 0) {
		agent_kill(t, a, TUNNEL_DOWN_TLS);
	} else {
		for (;;) {
			int n = tls_stream_read(a->tls, t->rbuf, sizeof(t->rbuf));
			if (n > 0) {
				agent_bytes(t, a, t->rbuf, (size_t)n, now);
				if (a->kill || a->state == AG_LINGER || a->state == AG_FREE)
					break;
				continue;
			}
			if (n < 0) {
				bool bye = !strcmp(tls_stream_why(a->tls), "closed by the peer");
				if (!bye)
					drop(t, DROP_CONN_TLS);
				out_flush(t, a); /* an alert, if the queue takes it */
				agent_down(t, a, bye ? TUNNEL_DOWN_CLOSED : TUNNEL_DOWN_TLS, false, now);
				return;
			}
			break;
		}
	}
	if (a->state == AG_FREE)
		return;
	stage_flush(t);
	if (a->tls && !a->kill)
		out_flush(t, a); /* handshake records */
	backlog_mark(t, a);
	agent_reap(t, a, now);
}

static void on_agent_open(tunnel *t, const struct dp_pkt *p, uint64_t now)
{
	struct agent *a;

	if (p->port >= t->cfg.max_ports || t->owner[p->port] || t->free_agent == NO_IDX) {
		if (p->port < t->cfg.max_ports && !t->owner[p->port])
			t->ops->port_close(t->be, p->port);
		drop(t, DROP_TUN_FULL);
		return;
	}
	uint32_t ai = t->free_agent;
	a = &t->agents[ai];
	t->free_agent = a->next_free;
	memset(a, 0, sizeof(*a));
	a->state = AG_HANDSHAKE;
	a->port = p->port;
	a->src = p->src;
	a->deadline = now + t->cfg.handshake_ns;
	a->room_empty = t->ops->stream_room(t->be, p->port);
	t->owner[p->port] = OWN(OWN_AGENT, ai);
	t->n_handshakes++;
	a->hdr = malloc(AGENT_AUTH_UP_MAX_TOTAL);
	if (!a->hdr || (t->cfg.tls && !(a->tls = tls_stream_new(t->cfg.tls)))) {
		drop(t, DROP_TUN_FULL);
		agent_down(t, a, TUNNEL_DOWN_CLOSED, false, now);
	}
}

/* ------------------------------------------------------------ forwards */

static void on_local_open(tunnel *t, const struct dp_pkt *p, uint32_t fi, uint64_t now)
{
	struct fwd *f = &t->fwds[fi];
	struct agent *a = &t->agents[f->agent];
	struct tun_frame fr;
	uint32_t id;

	if (p->port >= t->cfg.max_ports || t->owner[p->port] || a->state != AG_UP || a->kill ||
	    t->free_local == NO_IDX ||
	    tun_session_open(a->sess, f->target, f->target_len, &id, &fr) < 0) {
		if (p->port < t->cfg.max_ports && !t->owner[p->port])
			t->ops->port_close(t->be, p->port);
		drop(t, DROP_TUN_LOCAL_REFUSED);
		return;
	}
	uint32_t li = t->free_local;
	struct local *l = &t->locals[li];
	t->free_local = l->next_free;
	l->state = LS_OPENING;
	l->lc_open = true;
	l->port = p->port;
	l->agent = f->agent;
	l->fwd = fi;
	l->stream = id;
	l->room_empty = t->ops->stream_room(t->be, p->port);
	t->owner[p->port] = OWN(OWN_LOCAL, li);
	t->n_locals++;
	a->n_streams++;
	f->n_conns++;
	f->served++;
	cnt(t, STAT_TUN_STREAMS, 1);
	send_frame(t, a, &fr);
	pause_local(t, l, true); /* its bytes wait until OPEN_OK */
	(void)now;
}

/* Returns true when the chunk's reference was kept. */
static bool on_local_stream(tunnel *t, struct local *l, const struct dp_pkt *p, uint64_t now)
{
	if (l->in_done || !p->len)
		return false;
	if (l->h_n == TUNNEL_HOLD) {
		/* Cannot happen with a backend that honours pause; never grow. */
		drop(t, DROP_TUN_LOCAL_REFUSED);
		local_abort(t, l, TUN_R_INTERNAL, now);
		return false;
	}
	l->held[(l->h_head + l->h_n) % TUNNEL_HOLD] = (struct hold){ p->data, p->len, p->buf };
	l->h_n++;
	local_progress(t, l, now);
	return true;
}

static void on_local_closed(tunnel *t, struct local *l, uint64_t now)
{
	local_close_port(t, l);
	local_progress(t, l, now);
}

void tunnel_input(tunnel *t, struct dp_pkt *pkts, unsigned n, uint64_t now)
{
	t->now = now;
	for (unsigned i = 0; i < n; i++) {
		struct dp_pkt *p = &pkts[i];
		uint32_t at = p->kind == DP_PKT_OPEN ? p->parent : p->port;
		uint32_t o = at < t->cfg.max_ports ? t->owner[at] : 0;
		bool kept = false;

		switch (p->kind) {
		case DP_PKT_OPEN:
			if (OWN_KIND(o) == OWN_LISTENER) {
				on_agent_open(t, p, now);
			} else if (OWN_KIND(o) == OWN_FWD) {
				on_local_open(t, p, OWN_IDX(o), now);
			} else {
				if (p->port < t->cfg.max_ports && !t->owner[p->port])
					t->ops->port_close(t->be, p->port);
				drop(t, DROP_CONN_REFUSED);
			}
			break;
		case DP_PKT_STREAM:
			if (OWN_KIND(o) == OWN_AGENT)
				on_agent_stream(t, &t->agents[OWN_IDX(o)], p, now);
			else if (OWN_KIND(o) == OWN_LOCAL)
				kept = on_local_stream(t, &t->locals[OWN_IDX(o)], p, now);
			else
				drop(t, DROP_NO_PORT);
			break;
		case DP_PKT_CLOSED:
			if (OWN_KIND(o) == OWN_AGENT) {
				struct agent *a = &t->agents[OWN_IDX(o)];
				agent_kill(t, a, TUNNEL_DOWN_CLOSED);
				agent_reap(t, a, now);
			} else if (OWN_KIND(o) == OWN_LOCAL) {
				on_local_closed(t, &t->locals[OWN_IDX(o)], now);
			} else if (!o && at < t->cfg.max_ports) {
				t->ops->port_close(t->be, p->port); /* not ours to keep */
			}
			break;
		default:
			break;
		}
		if (!kept)
			t->ops->release(t->be, p);
	}
	tunnel_timers(t, now);
}

static struct agent *find_device(tunnel *t, const char *device)
{
	for (uint32_t i = 0; i < t->cfg.max_agents; i++) {
		struct agent *a = &t->agents[i];
		if (a->state == AG_UP && !a->kill && !strcmp(a->device, device))
			return a;
	}
	return NULL;
}

static int fwd_open(tunnel *t, const struct msg_tunnel_cmd *m, uint64_t now, uint16_t *lport)
{
	struct agent *a = find_device(t, m->device);
	size_t tl = strnlen(m->target, sizeof(m->target));
	struct sp_addr bind, got;
	uint32_t port;
	int rc;

	if (!a)
		return -ENOENT;
	if (!tun_target_valid(m->target, tl))
		return -EINVAL;
	for (uint32_t i = 0; i < t->cfg.max_forwards; i++)
		if (t->fwds[i].used && t->fwds[i].id == m->fwd_id)
			return -EEXIST;
	if (t->free_fwd == NO_IDX)
		return -ENOSPC;
	if (sp_addr_parse(&bind, "127.0.0.1:0") < 0)
		return -EINVAL;
	if ((rc = t->ops->listen_open(t->be, &bind, &port)) < 0)
		return rc;
	if (port >= t->cfg.max_ports || t->owner[port] ||
	    (rc = t->ops->port_addr(t->be, port, &got)) < 0) {
		t->ops->port_close(t->be, port);
		return rc < 0 ? rc : -ENOSPC;
	}
	uint32_t fi = t->free_fwd;
	struct fwd *f = &t->fwds[fi];
	t->free_fwd = f->next_free;
	memset(f, 0, sizeof(*f));
	f->used = true;
	f->port = port;
	f->agent = aidx(t, a);
	f->id = m->fwd_id;
	f->lport = ntohs(got.port);
	f->idle_ns = (uint64_t)(m->idle_ms ? m->idle_ms : 1) * 1000000ull;
	f->deadline = now + f->idle_ns;
	memcpy(f->target, m->target, tl);
	f->target_len = (uint16_t)tl;
	t->owner[port] = OWN(OWN_FWD, fi);
	t->n_fwds++;
	*lport = f->lport;
	return 0;
}

static int dump_out(tunnel *t, struct msg_tunnel_event *ev)
{
	ev->seq = t->dump_seq;
	ev->worker = t->cfg.worker;
	if (!t->hooks.dump) {
		emit(t, ev);
		return 0;
	}
	return t->hooks.dump(t->hooks.ctx, ev);
}

/* spcp restarted and lost its view: live tunnels (not draining ones: they
 * were replaced) and forward listeners, up to 64 records a call. */
static void dump_step(tunnel *t)
{
	uint32_t na = t->cfg.max_agents, end = na + t->cfg.max_forwards;

	for (int budget = 64; t->dump_seq && budget; budget--) {
		struct msg_tunnel_event ev = { .kind = TUNNEL_EV_UP };
		while (t->dump_pos < end) {
			uint32_t i = t->dump_pos;
			if (i < na && t->agents[i].state == AG_UP)
				break;
			if (i >= na && t->fwds[i - na].used)
				break;
			t->dump_pos++;
		}
		if (t->dump_pos == end) {
			ev.kind = TUNNEL_EV_DUMP_DONE;
			ev.streams = t->dump_n;
			if (dump_out(t, &ev) == 0)
				t->dump_seq = 0;
			return;
		}
		const struct agent *a;
		if (t->dump_pos < na) {
			a = &t->agents[t->dump_pos];
			ev.streams = a->n_streams;
			ev.source = a->src;
		} else {
			const struct fwd *f = &t->fwds[t->dump_pos - na];
			a = &t->agents[f->agent];
			ev.kind = TUNNEL_EV_LISTENING;
			ev.fwd_id = f->id;
			ev.port = f->lport;
			ev.streams = f->served;
		}
		ev.tunnel_id = a->id;
		snprintf(ev.device, sizeof(ev.device), "%s", a->device);
		if (dump_out(t, &ev) < 0)
			return;
		t->dump_pos++;
		t->dump_n++;
	}
}

void tunnel_cmd(tunnel *t, const struct msg_tunnel_cmd *m, uint64_t now)
{
	struct msg_tunnel_event ev = { .seq = m->seq, .kind = TUNNEL_EV_FAILED, .fwd_id = m->fwd_id,
				       .tunnel_id = m->tunnel_id };
	int rc = -EINVAL;

	t->now = now;
	snprintf(ev.device, sizeof(ev.device), "%.*s", (int)strnlen(m->device, sizeof(m->device)),
		 m->device);
	switch (m->op) {
	case MSG_TUNNEL_LISTEN: {
		struct agent *a = find_device(t, ev.device);
		rc = fwd_open(t, m, now, &ev.port);
		if (rc == 0) {
			ev.kind = TUNNEL_EV_LISTENING;
			ev.tunnel_id = a->id;
		}
		break;
	}
	case MSG_TUNNEL_UNLISTEN:
		rc = -ENOENT;
		for (uint32_t i = 0; i < t->cfg.max_forwards; i++)
			if (t->fwds[i].used && t->fwds[i].id == m->fwd_id) {
				fwd_close(t, &t->fwds[i], TUNNEL_FWD_UNLISTEN, m->seq);
				return;
			}
		break;
	case MSG_TUNNEL_DUMP:
		/* a new dump starts over */
		t->dump_seq = m->seq ? m->seq : 1;
		t->dump_pos = t->dump_n = 0;
		dump_step(t);
		return;
	case MSG_TUNNEL_KICK:
		rc = -ENOENT;
		for (uint32_t i = 0; i < t->cfg.max_agents; i++) {
			struct agent *a = &t->agents[i];
			if (a->state == AG_UP && a->id == m->tunnel_id) {
				agent_drain(t, a, TUN_R_SHUTDOWN, TUNNEL_DOWN_REPLACED);
				stage_flush(t);
				return;
			}
		}
		break;
	default:
		break;
	}
	ev.error = rc;
	emit(t, &ev);
	stage_flush(t);
	notes_flush(t);
}

/* ------------------------------------------------------------ timers */

static void sweep_agent(tunnel *t, struct agent *a, uint64_t now)
{
	uint64_t hb = t->cfg.heartbeat_ns;

	switch (a->state) {
	case AG_HANDSHAKE:
		if (now >= a->deadline) {
			drop(t, DROP_TUN_HANDSHAKE_TIMEOUT);
			agent_down(t, a, TUNNEL_DOWN_CLOSED, false, now);
		}
		break;
	case AG_UP:
	case AG_DRAINING:
		if (a->state == AG_DRAINING && !a->n_streams) {
			agent_down(t, a, (enum msg_tunnel_down)a->down_reason, true, now);
			break;
		}
		if (now - a->last_rx >= 3 * hb) {
			drop(t, DROP_TUN_HEARTBEAT);
			agent_fail(t, a, TUN_R_TIMEOUT, TUNNEL_DOWN_HEARTBEAT, now);
			break;
		}
		if (now - a->last_rx >= hb && (!a->ping_at || now - a->ping_at >= hb)) {
			struct tun_frame f;
			tun_session_ping(a->sess, ++a->ping_seq, &f);
			send_frame(t, a, &f);
			a->ping_at = now;
		}
		if (tun_parser_idle(a->parser))
			tun_parser_trim(a->parser);
		break;
	case AG_LINGER:
		out_flush(t, a);
		if (a->kill || now >= a->deadline ||
		    (!out_pending(t, a) && t->ops->stream_room(t->be, a->port) >= a->room_empty))
			agent_close(t, a);
		break;
	default:
		break;
	}
}

void tunnel_timers(tunnel *t, uint64_t now)
{
	t->now = now;
	if (t->dump_seq)
		dump_step(t);
	if (t->n_work)
		for (uint32_t i = 0; i < t->cfg.max_streams; i++)
			if (t->locals[i].work)
				local_progress(t, &t->locals[i], now);
	stage_flush(t);
	if (t->n_backlog)
		for (uint32_t i = 0; i < t->cfg.max_agents; i++) {
			struct agent *a = &t->agents[i];
			if (a->backlog && !a->kill) {
				out_flush(t, a);
				backlog_mark(t, a);
			}
		}
	if (t->n_killed)
		for (uint32_t i = 0; i < t->cfg.max_agents; i++)
			agent_reap(t, &t->agents[i], now);
	if (now < t->next_sweep) {
		notes_flush(t);
		return;
	}
	t->next_sweep = now + SWEEP_NS;
	for (uint32_t i = 0; i < t->cfg.max_agents; i++)
		if (t->agents[i].state != AG_FREE)
			sweep_agent(t, &t->agents[i], now);
	for (uint32_t i = 0; i < t->cfg.max_forwards; i++) {
		struct fwd *f = &t->fwds[i];
		if (f->used && !f->n_conns && now >= f->deadline)
			fwd_close(t, f, TUNNEL_FWD_IDLE, 0);
	}
	for (uint32_t i = 0; i < t->cfg.max_streams; i++) {
		struct local *l = &t->locals[i];
		if (l->state != LS_FREE && l->linger && now >= l->linger)
			local_abort(t, l, TUN_R_NONE, now); /* the agent never finished */
	}
	stage_flush(t);
	if (t->n_killed)
		for (uint32_t i = 0; i < t->cfg.max_agents; i++)
			agent_reap(t, &t->agents[i], now);
	notes_flush(t);
}

/* ------------------------------------------------------------ in-process streams */

const char *tunnel_stream_end_name(enum tunnel_stream_end e)
{
	static const char *const names[TUNNEL_STREAM__COUNT] = {
		[TUNNEL_STREAM_EOF] = "eof",
		[TUNNEL_STREAM_REFUSED] = "refused",
		[TUNNEL_STREAM_RESET] = "reset",
		[TUNNEL_STREAM_TUNNEL_DOWN] = "tunnel down",
		[TUNNEL_STREAM_NO_BUFFER] = "no buffer",
	};
	return (unsigned)e < TUNNEL_STREAM__COUNT ? names[e] : "?";
}

/* The attached stream a handle names, or NULL. */
static struct local *stream_of(tunnel *t, uint64_t handle)
{
	uint32_t li = (uint32_t)handle, gen = (uint32_t)(handle >> 32);

	if (li >= t->cfg.max_streams)
		return NULL;
	struct local *l = &t->locals[li];
	if (l->state == LS_FREE || !l->inproc || !l->cb || l->gen != gen)
		return NULL;
	return l;
}

int tunnel_stream_open(tunnel *t, const char *device, const char *target,
		       const struct tunnel_stream_cb *cb, void *ctx, uint64_t *handle)
{
	struct agent *a = find_device(t, device);
	size_t tl = strnlen(target, TUN_TARGET_MAX + 1);
	struct tun_frame fr;
	uint32_t id;

	if (!cb || !cb->data || !cb->writable || !cb->closed)
		return -EINVAL;
	if (!a)
		return -ENOENT;
	if (!tun_target_valid(target, tl))
		return -EINVAL;
	/* Each attached stream owes at most one note. */
	if (t->free_local == NO_IDX || t->n_attached + t->n_notes >= t->cfg.max_streams)
		return -ENOSPC;
	if (tun_session_open(a->sess, target, tl, &id, &fr) < 0)
		return -EAGAIN;
	uint32_t li = t->free_local;
	struct local *l = &t->locals[li];
	t->free_local = l->next_free;
	l->state = LS_OPENING;
	l->inproc = true;
	l->lc_open = true;
	l->port = NO_IDX;
	l->agent = aidx(t, a);
	l->fwd = NO_IDX;
	l->stream = id;
	l->end = TUNNEL_STREAM_RESET;
	l->cb = cb;
	l->ctx = ctx;
	l->gen = l->gen + 1 ? l->gen + 1 : 1;
	t->n_locals++;
	t->n_attached++;
	a->n_streams++;
	cnt(t, STAT_TUN_STREAMS, 1);
	send_frame(t, a, &fr);
	if (!t->in_cb)
		stage_flush(t);
	*handle = (uint64_t)l->gen << 32 | li;
	return 0;
}

ssize_t tunnel_stream_write(tunnel *t, uint64_t handle, const void *d, size_t len)
{
	struct local *l = stream_of(t, handle);
	const uint8_t *p = d;
	uint8_t hdr[TUN_HEADER_LEN];
	struct tun_frame f;
	size_t done = 0, allowed;

	if (!l)
		return -EBADF;
	struct agent *a = &t->agents[l->agent];
	if (l->in_done || l->abort_req || a->kill || !a->sess)
		return -EPIPE;
	if (l->state != LS_OPEN)
		return -ENOTCONN;
	while (done < len) {
		uint32_t room = data_room(t, a);
		if (!room)
			break;
		int rc = tun_session_send(a->sess, l->stream, len - done < room ? len - done : room,
					  false, &allowed, &f);
		if (rc == -EAGAIN)
			break;
		if (rc < 0) {
			if (!done)
				return -EPIPE;
			break;
		}
		tun_frame_header(hdr, TUN_DATA, f.flags, l->stream, (uint16_t)allowed);
		ag_write(t, a, hdr, TUN_HEADER_LEN);
		ag_write(t, a, p + done, (uint32_t)allowed);
		done += allowed;
	}
	cnt(t, STAT_TUN_TO_AGENT, done);
	if (done < len) {
		l->want_write = true;
		work_mark(t, l, true);
	}
	if (!t->in_cb)
		stage_flush(t);
	return (ssize_t)done;
}

int tunnel_stream_close(tunnel *t, uint64_t handle)
{
	struct local *l = stream_of(t, handle);

	if (!l)
		return -EBADF;
	if (!l->in_done) {
		/* The FIN goes at the next tunnel_timers (from_local, when open):
		 * progress here could end the stream and owe a `closed` outside
		 * any entry point. */
		l->in_done = true;
		l->want_write = false;
		work_mark(t, l, true);
	}
	return 0;
}

int tunnel_stream_abort(tunnel *t, uint64_t handle)
{
	struct local *l = stream_of(t, handle);

	if (!l)
		return -EBADF;
	l->cb = NULL; /* detached: no callback, no note */
	l->ctx = NULL;
	l->lc_open = false;
	l->in_done = true;
	t->n_attached--;
	if (t->in_cb) {
		l->abort_req = true;
		work_mark(t, l, true);
		return 0;
	}
	local_abort(t, l, TUN_R_NONE, t->now);
	stage_flush(t);
	return 0;
}
