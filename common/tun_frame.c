/*
 * tun_frame: codec, incremental parser and stream/credit bookkeeping for the
 * agent tunnel (docs/agent-protocol.md). See tun_frame.h for the API.
 *
 * The parser checks everything the header alone can tell (type, flags,
 * stream id, length for the type) as soon as the 8 header bytes are in, so
 * a hostile peer cannot make us buffer a frame we would refuse anyway. When
 * the caller's chunk holds the whole payload the frame points into it (no
 * copy); only frames split across chunks are copied into the parser's
 * buffer. Both paths end in the same field checks, which is why a frame
 * split at any offset parses identically.
 *
 * The session keeps streams in a small fixed array (max_streams is tens to
 * a few hundred per agent): a linear scan is cheaper than a hash at that
 * size and never allocates. Stream ids only grow, so "id <= highest seen and
 * not in the table" means "closed earlier": frames still in flight for such
 * a stream are dropped quietly, as HTTP/2 does.
 */
#include "tun_frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const err_names[TUN_ERR__COUNT] = {
	[TUN_OK] = "ok",
	[TUN_ERR_BAD_TYPE] = "bad_type",
	[TUN_ERR_BAD_FLAGS] = "bad_flags",
	[TUN_ERR_BAD_STREAM] = "bad_stream",
	[TUN_ERR_TOO_LONG] = "too_long",
	[TUN_ERR_BAD_LENGTH] = "bad_length",
	[TUN_ERR_EMPTY_DATA] = "empty_data",
	[TUN_ERR_BAD_WINDOW] = "bad_window",
	[TUN_ERR_BAD_REASON] = "bad_reason",
	[TUN_ERR_BAD_TARGET] = "bad_target",
};

static const char *const reason_names[TUN_R__COUNT] = {
	[TUN_R_NONE] = "none",
	[TUN_R_PROTOCOL] = "protocol",
	[TUN_R_FLOW_CONTROL] = "flow_control",
	[TUN_R_STREAM_CLOSED] = "stream_closed",
	[TUN_R_REFUSED] = "refused",
	[TUN_R_CONNECT_FAILED] = "connect_failed",
	[TUN_R_TIMEOUT] = "timeout",
	[TUN_R_TOO_MANY_STREAMS] = "too_many_streams",
	[TUN_R_FRAME_SIZE] = "frame_size",
	[TUN_R_INTERNAL] = "internal",
	[TUN_R_SHUTDOWN] = "shutdown",
	[TUN_R_AUTH] = "auth",
	[TUN_R_RESET] = "reset",
};

const char *tun_err_name(enum tun_err e)
{
	if ((unsigned)e >= TUN_ERR__COUNT)
		return "unknown";
	return err_names[e];
}

const char *tun_reason_name(enum tun_reason r)
{
	if ((unsigned)r >= TUN_R__COUNT)
		return "unknown";
	return reason_names[r];
}

const char *tun_type_name(enum tun_type t)
{
	switch (t) {
	case TUN_DATA: return "DATA";
	case TUN_OPEN: return "OPEN";
	case TUN_OPEN_OK: return "OPEN_OK";
	case TUN_OPEN_FAIL: return "OPEN_FAIL";
	case TUN_CLOSE: return "CLOSE";
	case TUN_WINDOW_UPDATE: return "WINDOW_UPDATE";
	case TUN_PING: return "PING";
	case TUN_PONG: return "PONG";
	case TUN_GOAWAY: return "GOAWAY";
	case TUN_AUTH_HELLO: return "AUTH_HELLO";
	case TUN_AUTH_CHALLENGE: return "AUTH_CHALLENGE";
	case TUN_AUTH_PROOF: return "AUTH_PROOF";
	case TUN_AUTH_OK: return "AUTH_OK";
	case TUN_AUTH_FAIL: return "AUTH_FAIL";
	case TUN_SWITCH: return "SWITCH";
	case TUN_UNREACHABLE: return "UNREACHABLE";
	}
	return "unknown";
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

bool tun_target_valid(const char *t, size_t len)
{
	if (!t || len < 3 || len > TUN_TARGET_MAX)
		return false;
	size_t colon = len;
	while (colon > 0 && t[colon - 1] != ':')
		colon--;
	if (colon == 0)
		return false;
	colon--; /* index of the last ':' */
	/* port: 1..65535, decimal, no leading zero */
	size_t pl = len - colon - 1;
	if (pl < 1 || pl > 5 || t[colon + 1] == '0')
		return false;
	uint32_t port = 0;
	for (size_t i = colon + 1; i < len; i++) {
		if (t[i] < '0' || t[i] > '9')
			return false;
		port = port * 10 + (uint32_t)(t[i] - '0');
	}
	if (port < 1 || port > 65535)
		return false;
	if (colon == 0)
		return false;
	if (t[0] == '[') {
		/* [v6]: hex digits, ':' and '.' (v4-mapped) inside brackets */
		if (colon < 4 || t[colon - 1] != ']')
			return false;
		for (size_t i = 1; i < colon - 1; i++) {
			char c = t[i];
			bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
				  (c >= 'A' && c <= 'F') || c == ':' || c == '.';
			if (!ok)
				return false;
		}
		return true;
	}
	if (t[0] == '.' || t[0] == '-')
		return false;
	for (size_t i = 0; i < colon; i++) {
		char c = t[i];
		bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
			  (c >= 'A' && c <= 'Z') || c == '.' || c == '-' || c == '_';
		if (!ok)
			return false;
	}
	return true;
}

static bool type_on_stream0(uint8_t type)
{
	return type == TUN_PING || type == TUN_PONG || type == TUN_GOAWAY ||
	       (type >= TUN_AUTH_HELLO && type <= TUN_UNREACHABLE);
}

/* What the 8 header bytes alone decide. */
static enum tun_err check_header(uint8_t type, uint8_t flags, uint32_t stream, uint32_t len,
				 uint32_t max_payload)
{
	uint32_t min = 0, max = max_payload;

	switch (type) {
	case TUN_DATA:
		if (flags & ~TUN_FLAG_FIN)
			return TUN_ERR_BAD_FLAGS;
		break;
	case TUN_OPEN: min = 4 + 3; max = 4 + TUN_TARGET_MAX; break;
	case TUN_OPEN_OK: min = max = 4; break;
	case TUN_OPEN_FAIL: case TUN_CLOSE: case TUN_AUTH_FAIL: min = max = 2; break;
	case TUN_WINDOW_UPDATE: min = max = 4; break;
	case TUN_PING: case TUN_PONG: min = max = TUN_PING_LEN; break;
	case TUN_GOAWAY: min = max = 6; break;
	case TUN_AUTH_HELLO: case TUN_AUTH_CHALLENGE: case TUN_AUTH_PROOF:
	case TUN_AUTH_OK: case TUN_SWITCH: case TUN_UNREACHABLE:
		min = 1; max = TUN_AUTH_MAX_PAYLOAD; break;
	default:
		return TUN_ERR_BAD_TYPE;
	}
	if (type != TUN_DATA && flags)
		return TUN_ERR_BAD_FLAGS;
	if (stream > TUN_MAX_STREAM_ID)
		return TUN_ERR_BAD_STREAM;
	if (type_on_stream0(type) != (stream == 0))
		return TUN_ERR_BAD_STREAM;
	if (len > max_payload)
		return TUN_ERR_TOO_LONG;
	if (len < min || len > max)
		return TUN_ERR_BAD_LENGTH;
	if (type == TUN_DATA && len == 0 && !(flags & TUN_FLAG_FIN))
		return TUN_ERR_EMPTY_DATA;
	return TUN_OK;
}

/* Field ranges of a frame whose typed fields are filled in. */
static enum tun_err check_fields(const struct tun_frame *f)
{
	switch (f->type) {
	case TUN_OPEN:
		if (f->window > TUN_MAX_WINDOW)
			return TUN_ERR_BAD_WINDOW;
		if (!tun_target_valid(f->target, f->target_len))
			return TUN_ERR_BAD_TARGET;
		break;
	case TUN_OPEN_OK:
		if (f->window > TUN_MAX_WINDOW)
			return TUN_ERR_BAD_WINDOW;
		break;
	case TUN_WINDOW_UPDATE:
		if (f->window == 0 || f->window > TUN_MAX_WINDOW)
			return TUN_ERR_BAD_WINDOW;
		break;
	case TUN_GOAWAY:
		if (f->last_stream > TUN_MAX_STREAM_ID)
			return TUN_ERR_BAD_STREAM;
		/* fall through */
	case TUN_OPEN_FAIL:
	case TUN_CLOSE:
	case TUN_AUTH_FAIL:
		if (f->reason >= TUN_R__COUNT)
			return TUN_ERR_BAD_REASON;
		break;
	default:
		break;
	}
	return TUN_OK;
}

/* Fills the typed fields from f->payload (length already checked). */
static void decode_fields(struct tun_frame *f)
{
	const uint8_t *p = f->payload;

	switch (f->type) {
	case TUN_OPEN:
		f->window = rd32(p);
		f->target = (const char *)p + 4;
		f->target_len = f->len - 4;
		break;
	case TUN_OPEN_OK:
	case TUN_WINDOW_UPDATE:
		f->window = rd32(p);
		break;
	case TUN_OPEN_FAIL:
	case TUN_CLOSE:
	case TUN_AUTH_FAIL:
		f->reason = rd16(p);
		break;
	case TUN_PING:
	case TUN_PONG:
		memcpy(f->ping, p, TUN_PING_LEN);
		break;
	case TUN_GOAWAY:
		f->last_stream = rd32(p);
		f->reason = rd16(p + 4);
		break;
	default:
		break;
	}
}

enum tun_err tun_frame_check(const struct tun_frame *f, uint32_t max_payload)
{
	enum tun_err e = check_header(f->type, f->flags, f->stream, f->len, max_payload);
	if (e != TUN_OK)
		return e;
	return check_fields(f);
}

size_t tun_frame_header(uint8_t out[TUN_HEADER_LEN], uint8_t type, uint8_t flags,
			uint32_t stream, uint16_t len)
{
	out[0] = type;
	out[1] = flags;
	wr16(out + 2, len);
	wr32(out + 4, stream);
	return TUN_HEADER_LEN;
}

int tun_frame_encode(const struct tun_frame *f, uint8_t *out, size_t cap)
{
	struct tun_frame c = *f;

	switch (f->type) {
	case TUN_OPEN: c.len = 4 + f->target_len; break;
	case TUN_OPEN_OK: case TUN_WINDOW_UPDATE: c.len = 4; break;
	case TUN_OPEN_FAIL: case TUN_CLOSE: case TUN_AUTH_FAIL: c.len = 2; break;
	case TUN_PING: case TUN_PONG: c.len = TUN_PING_LEN; break;
	case TUN_GOAWAY: c.len = 6; break;
	default: break; /* DATA and auth payloads: f->len bytes at f->payload */
	}
	if (c.type == TUN_OPEN && c.target_len > TUN_TARGET_MAX)
		return -EINVAL;
	if (tun_frame_check(&c, TUN_MAX_PAYLOAD) != TUN_OK)
		return -EINVAL;
	if (cap < TUN_HEADER_LEN + (size_t)c.len)
		return -ENOSPC;
	tun_frame_header(out, c.type, c.flags, c.stream, (uint16_t)c.len);
	uint8_t *p = out + TUN_HEADER_LEN;
	switch (c.type) {
	case TUN_OPEN:
		wr32(p, c.window);
		memcpy(p + 4, c.target, c.target_len);
		break;
	case TUN_OPEN_OK: case TUN_WINDOW_UPDATE: wr32(p, c.window); break;
	case TUN_OPEN_FAIL: case TUN_CLOSE: case TUN_AUTH_FAIL: wr16(p, c.reason); break;
	case TUN_PING: case TUN_PONG: memcpy(p, c.ping, TUN_PING_LEN); break;
	case TUN_GOAWAY: wr32(p, c.last_stream); wr16(p + 4, c.reason); break;
	default:
		if (c.len) {
			if (!c.payload)
				return -EINVAL;
			memcpy(p, c.payload, c.len);
		}
		break;
	}
	return (int)(TUN_HEADER_LEN + c.len);
}

/* ---- parser ---- */

struct tun_parser {
	uint32_t max_payload;
	enum tun_err err;
	uint8_t hdr[TUN_HEADER_LEN];
	uint32_t hdr_have;   /* header bytes buffered */
	bool in_payload;     /* header complete, payload pending */
	uint32_t pay_have;   /* payload bytes buffered in buf */
	struct tun_frame cur;
	uint8_t *buf;        /* max_payload bytes, only while frames arrive split */
};

tun_parser *tun_parser_new(uint32_t max_payload)
{
	if (max_payload < TUN_MIN_PAYLOAD_CFG || max_payload > TUN_MAX_PAYLOAD)
		return NULL;
	tun_parser *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->max_payload = max_payload;
	return p;
}

void tun_parser_free(tun_parser *p)
{
	if (!p)
		return;
	free(p->buf);
	free(p);
}

void tun_parser_trim(tun_parser *p)
{
	if (p->in_payload)
		return;
	free(p->buf);
	p->buf = NULL;
}

size_t tun_parser_footprint(const tun_parser *p)
{
	return sizeof(*p) + (p->buf ? p->max_payload : 0);
}
enum tun_err tun_parser_err(const tun_parser *p) { return p->err; }
bool tun_parser_idle(const tun_parser *p) { return p->err == TUN_OK && p->hdr_have == 0 && !p->in_payload; }

static int parser_fail(tun_parser *p, enum tun_err e)
{
	p->err = e;
	return -EPROTO;
}

static int parser_finish(tun_parser *p, const uint8_t *payload, struct tun_frame *f)
{
	struct tun_frame *c = &p->cur;
	c->payload = c->len ? payload : NULL;
	decode_fields(c);
	enum tun_err e = check_fields(c);
	if (e != TUN_OK)
		return parser_fail(p, e);
	*f = *c;
	p->hdr_have = 0;
	p->in_payload = false;
	p->pay_have = 0;
	return 1;
}

int tun_parser_feed(tun_parser *p, const uint8_t *buf, size_t len, size_t *used,
		    struct tun_frame *f)
{
	size_t off = 0;

	*used = 0;
	if (p->err != TUN_OK)
		return -EPROTO;
	if (!p->in_payload) {
		size_t take = TUN_HEADER_LEN - p->hdr_have;
		if (take > len)
			take = len;
		memcpy(p->hdr + p->hdr_have, buf, take);
		p->hdr_have += (uint32_t)take;
		off += take;
		if (p->hdr_have < TUN_HEADER_LEN) {
			*used = off;
			return 0;
		}
		memset(&p->cur, 0, sizeof(p->cur));
		p->cur.type = p->hdr[0];
		p->cur.flags = p->hdr[1];
		p->cur.len = rd16(p->hdr + 2);
		p->cur.stream = rd32(p->hdr + 4);
		enum tun_err e = check_header(p->cur.type, p->cur.flags, p->cur.stream,
					      p->cur.len, p->max_payload);
		if (e != TUN_OK) {
			*used = off;
			return parser_fail(p, e);
		}
		p->in_payload = true;
		p->pay_have = 0;
	}
	size_t need = p->cur.len - p->pay_have;
	size_t avail = len - off;
	if (p->pay_have == 0 && avail >= need) {
		/* whole payload in the caller's chunk: no copy */
		*used = off + need;
		return parser_finish(p, buf + off, f);
	}
	size_t take = avail < need ? avail : need;
	if (take == 0) {
		*used = off;
		return 0;
	}
	if (!p->buf) {
		/* First split frame: from here on the connection is busy and
		 * keeps the buffer until tun_parser_trim(). */
		p->buf = malloc(p->max_payload);
		if (!p->buf) {
			*used = off; /* the header is kept; retry with the payload */
			return -ENOMEM;
		}
	}
	memcpy(p->buf + p->pay_have, buf + off, take);
	p->pay_have += (uint32_t)take;
	*used = off + take;
	if (p->pay_have < p->cur.len)
		return 0;
	return parser_finish(p, p->buf, f);
}

/* ---- session ---- */

enum st_state { ST_FREE = 0, ST_OPENING, ST_PENDING, ST_OPEN };

struct tun_stream {
	uint32_t id;
	uint8_t state;
	bool lfin, rfin;
	int64_t send_win;     /* credit the peer gave us */
	int64_t recv_win;     /* credit we gave the peer, not yet used */
	uint64_t unconsumed;  /* received, not yet taken by the application */
	uint64_t owed;        /* taken by the application, not yet re-granted */
};

struct tun_session {
	struct tun_session_cfg cfg;
	uint32_t last_id;     /* opener: last id allocated; acceptor: highest OPEN seen */
	uint32_t live;
	bool goaway_sent, goaway_recv;
	uint64_t violations[TUN_R__COUNT];
	struct tun_stream st[];
};

tun_session *tun_session_new(const struct tun_session_cfg *cfg)
{
	struct tun_session_cfg c = *cfg;
	if (c.max_streams == 0)
		c.max_streams = TUN_DEFAULT_MAX_STREAMS;
	if (c.initial_window == 0)
		c.initial_window = TUN_DEFAULT_WINDOW;
	if (c.max_payload == 0)
		c.max_payload = TUN_MAX_PAYLOAD;
	if (c.max_streams > TUN_MAX_STREAMS_CFG || c.initial_window > TUN_MAX_WINDOW ||
	    c.max_payload < TUN_MIN_PAYLOAD_CFG || c.max_payload > TUN_MAX_PAYLOAD)
		return NULL;
	tun_session *s = calloc(1, sizeof(*s) + c.max_streams * sizeof(struct tun_stream));
	if (!s)
		return NULL;
	s->cfg = c;
	return s;
}

void tun_session_free(tun_session *s) { free(s); }

static struct tun_stream *find(tun_session *s, uint32_t id)
{
	if (id == 0)
		return NULL;
	for (uint32_t i = 0; i < s->cfg.max_streams; i++)
		if (s->st[i].state != ST_FREE && s->st[i].id == id)
			return &s->st[i];
	return NULL;
}

static const struct tun_stream *cfind(const tun_session *s, uint32_t id)
{
	return find((tun_session *)s, id);
}

static struct tun_stream *alloc_slot(tun_session *s, uint32_t id)
{
	for (uint32_t i = 0; i < s->cfg.max_streams; i++) {
		if (s->st[i].state == ST_FREE) {
			memset(&s->st[i], 0, sizeof(s->st[i]));
			s->st[i].id = id;
			s->live++;
			return &s->st[i];
		}
	}
	return NULL;
}

static void free_slot(tun_session *s, struct tun_stream *st)
{
	st->state = ST_FREE;
	s->live--;
}

static void mk(struct tun_frame *f, uint8_t type, uint32_t stream)
{
	memset(f, 0, sizeof(*f));
	f->type = type;
	f->stream = stream;
}

static uint32_t peer_last(const tun_session *s) { return s->cfg.opener ? 0 : s->last_id; }

static int conn_error(tun_session *s, enum tun_reason r, struct tun_event *ev)
{
	s->violations[r]++;
	s->goaway_sent = true;
	ev->kind = TUN_EV_CONN_ERROR;
	ev->reason = (uint16_t)r;
	ev->has_reply = true;
	mk(&ev->reply, TUN_GOAWAY, 0);
	ev->reply.last_stream = peer_last(s);
	ev->reply.reason = (uint16_t)r;
	return -EPROTO;
}

static int stream_error(tun_session *s, struct tun_stream *st, enum tun_reason r,
			struct tun_event *ev)
{
	s->violations[r]++;
	ev->kind = TUN_EV_STREAM_ERROR;
	ev->stream = st->id;
	ev->reason = (uint16_t)r;
	ev->has_reply = true;
	mk(&ev->reply, TUN_CLOSE, st->id);
	ev->reply.reason = (uint16_t)r;
	free_slot(s, st);
	return 0;
}

static void maybe_done(tun_session *s, struct tun_stream *st)
{
	if (st->lfin && st->rfin)
		free_slot(s, st);
}

static int on_open(tun_session *s, const struct tun_frame *f, struct tun_event *ev)
{
	if (s->cfg.opener)
		return conn_error(s, TUN_R_PROTOCOL, ev);
	if (f->stream <= s->last_id)
		return conn_error(s, TUN_R_PROTOCOL, ev); /* ids only grow */
	s->last_id = f->stream;
	enum tun_reason refuse = TUN_R_NONE;
	struct tun_stream *st = NULL;
	if (s->goaway_sent)
		refuse = TUN_R_SHUTDOWN;
	else if (!(st = alloc_slot(s, f->stream)))
		refuse = TUN_R_TOO_MANY_STREAMS;
	if (refuse != TUN_R_NONE) {
		ev->kind = TUN_EV_NONE;
		ev->stream = f->stream;
		ev->has_reply = true;
		mk(&ev->reply, TUN_OPEN_FAIL, f->stream);
		ev->reply.reason = (uint16_t)refuse;
		return 0;
	}
	st->state = ST_PENDING;
	st->send_win = f->window;
	st->recv_win = s->cfg.initial_window;
	ev->kind = TUN_EV_OPEN;
	ev->stream = f->stream;
	ev->target = f->target;
	ev->target_len = f->target_len;
	return 0;
}

int tun_session_on_frame(tun_session *s, const struct tun_frame *f, struct tun_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->stream = f->stream;

	switch (f->type) {
	case TUN_PING:
		ev->kind = TUN_EV_PING;
		ev->has_reply = true;
		mk(&ev->reply, TUN_PONG, 0);
		memcpy(ev->reply.ping, f->ping, TUN_PING_LEN);
		return 0;
	case TUN_PONG:
		ev->kind = TUN_EV_PONG;
		return 0;
	case TUN_GOAWAY:
		s->goaway_recv = true;
		ev->kind = TUN_EV_GOAWAY;
		ev->reason = f->reason;
		ev->last_stream = f->last_stream;
		return 0;
	case TUN_OPEN:
		return on_open(s, f, ev);
	case TUN_DATA: case TUN_OPEN_OK: case TUN_OPEN_FAIL:
	case TUN_CLOSE: case TUN_WINDOW_UPDATE:
		break;
	default:
		ev->kind = TUN_EV_CONTROL;
		ev->data = f->payload;
		ev->len = f->len;
		return 0;
	}

	struct tun_stream *st = find(s, f->stream);
	if (!st) {
		if (f->stream > s->last_id)
			return conn_error(s, TUN_R_PROTOCOL, ev); /* never opened */
		ev->kind = TUN_EV_NONE; /* closed earlier: in-flight frame, drop */
		return 0;
	}

	switch (f->type) {
	case TUN_OPEN_OK:
		if (st->state != ST_OPENING)
			return conn_error(s, TUN_R_PROTOCOL, ev);
		st->state = ST_OPEN;
		st->send_win = f->window;
		ev->kind = TUN_EV_OPENED;
		return 0;
	case TUN_OPEN_FAIL:
		if (st->state != ST_OPENING)
			return conn_error(s, TUN_R_PROTOCOL, ev);
		free_slot(s, st);
		ev->kind = TUN_EV_OPEN_FAILED;
		ev->reason = f->reason;
		return 0;
	case TUN_CLOSE:
		free_slot(s, st);
		ev->kind = TUN_EV_CLOSED;
		ev->reason = f->reason;
		return 0;
	case TUN_WINDOW_UPDATE:
		if (st->state != ST_OPEN)
			return conn_error(s, TUN_R_PROTOCOL, ev);
		if (st->send_win + (int64_t)f->window > (int64_t)TUN_MAX_WINDOW)
			return stream_error(s, st, TUN_R_FLOW_CONTROL, ev);
		st->send_win += f->window;
		ev->kind = st->lfin ? TUN_EV_NONE : TUN_EV_WRITABLE;
		return 0;
	default: /* DATA */
		if (st->state != ST_OPEN)
			return conn_error(s, TUN_R_PROTOCOL, ev); /* before OPEN_OK */
		if (st->rfin)
			return stream_error(s, st, TUN_R_STREAM_CLOSED, ev);
		if ((int64_t)f->len > st->recv_win)
			return stream_error(s, st, TUN_R_FLOW_CONTROL, ev);
		st->recv_win -= f->len;
		st->unconsumed += f->len;
		ev->kind = TUN_EV_DATA;
		ev->data = f->payload;
		ev->len = f->len;
		ev->fin = (f->flags & TUN_FLAG_FIN) != 0;
		if (ev->fin) {
			st->rfin = true;
			maybe_done(s, st);
		}
		return 0;
	}
}

int tun_session_open(tun_session *s, const char *target, size_t target_len,
		     uint32_t *stream, struct tun_frame *send)
{
	if (!s->cfg.opener)
		return -EPERM;
	if (s->goaway_sent || s->goaway_recv)
		return -ESHUTDOWN;
	if (!tun_target_valid(target, target_len))
		return -EINVAL;
	if (s->last_id >= TUN_MAX_STREAM_ID)
		return -ENOSPC;
	struct tun_stream *st = alloc_slot(s, s->last_id + 1);
	if (!st)
		return -ENOSPC;
	s->last_id++;
	st->state = ST_OPENING;
	st->recv_win = s->cfg.initial_window;
	*stream = st->id;
	mk(send, TUN_OPEN, st->id);
	send->window = s->cfg.initial_window;
	send->target = target;
	send->target_len = (uint32_t)target_len;
	send->len = 4 + (uint32_t)target_len;
	return 0;
}

int tun_session_accept(tun_session *s, uint32_t stream, struct tun_frame *send)
{
	struct tun_stream *st = find(s, stream);
	if (!st)
		return -ENOENT;
	if (st->state != ST_PENDING)
		return -EINVAL;
	st->state = ST_OPEN;
	mk(send, TUN_OPEN_OK, stream);
	send->window = s->cfg.initial_window;
	send->len = 4;
	return 0;
}

int tun_session_refuse(tun_session *s, uint32_t stream, enum tun_reason reason,
		       struct tun_frame *send)
{
	struct tun_stream *st = find(s, stream);
	if (!st)
		return -ENOENT;
	if (st->state != ST_PENDING || (unsigned)reason >= TUN_R__COUNT)
		return -EINVAL;
	free_slot(s, st);
	mk(send, TUN_OPEN_FAIL, stream);
	send->reason = (uint16_t)reason;
	send->len = 2;
	return 0;
}

int tun_session_close(tun_session *s, uint32_t stream, enum tun_reason reason,
		      struct tun_frame *send)
{
	struct tun_stream *st = find(s, stream);
	if (!st)
		return -ENOENT;
	if ((unsigned)reason >= TUN_R__COUNT)
		return -EINVAL;
	free_slot(s, st);
	mk(send, TUN_CLOSE, stream);
	send->reason = (uint16_t)reason;
	send->len = 2;
	return 0;
}

int tun_session_send(tun_session *s, uint32_t stream, size_t want, bool fin,
		     size_t *allowed, struct tun_frame *send)
{
	struct tun_stream *st = find(s, stream);
	*allowed = 0;
	if (!st)
		return -ENOENT;
	if (st->state == ST_OPENING)
		return -EAGAIN;
	if (st->state != ST_OPEN)
		return -EINVAL;
	if (st->lfin)
		return -EPIPE;
	if (want == 0 && !fin)
		return -EINVAL;
	size_t n = want;
	if (n > s->cfg.max_payload)
		n = s->cfg.max_payload;
	if ((int64_t)n > st->send_win)
		n = (size_t)st->send_win;
	if (n == 0 && want > 0)
		return -EAGAIN;
	bool f = fin && n == want;
	st->send_win -= (int64_t)n;
	mk(send, TUN_DATA, stream);
	send->len = (uint32_t)n;
	send->flags = f ? TUN_FLAG_FIN : 0;
	*allowed = n;
	if (f) {
		st->lfin = true;
		maybe_done(s, st);
	}
	return 0;
}

int tun_session_consumed(tun_session *s, uint32_t stream, size_t n, struct tun_frame *send)
{
	struct tun_stream *st = find(s, stream);
	if (!st)
		return -ENOENT;
	if (n > st->unconsumed)
		return -EINVAL;
	st->unconsumed -= n;
	if (st->rfin)
		return 0; /* the peer sends no more: no credit needed */
	st->owed += n;
	uint64_t threshold = s->cfg.initial_window / 2;
	if (threshold == 0)
		threshold = 1;
	if (st->owed < threshold)
		return 0;
	mk(send, TUN_WINDOW_UPDATE, stream);
	send->window = (uint32_t)st->owed; /* recv_win + owed <= initial_window */
	send->len = 4;
	st->recv_win += (int64_t)st->owed;
	st->owed = 0;
	return 1;
}

int tun_session_goaway(tun_session *s, enum tun_reason reason, struct tun_frame *send)
{
	if ((unsigned)reason >= TUN_R__COUNT)
		return -EINVAL;
	s->goaway_sent = true;
	mk(send, TUN_GOAWAY, 0);
	send->last_stream = peer_last(s);
	send->reason = (uint16_t)reason;
	send->len = 6;
	return 0;
}

void tun_session_ping(tun_session *s, uint64_t seq, struct tun_frame *send)
{
	(void)s;
	mk(send, TUN_PING, 0);
	for (int i = 0; i < TUN_PING_LEN; i++)
		send->ping[i] = (uint8_t)(seq >> (56 - 8 * i));
	send->len = TUN_PING_LEN;
}

unsigned tun_session_live(const tun_session *s) { return s->live; }

int64_t tun_session_send_window(const tun_session *s, uint32_t stream)
{
	const struct tun_stream *st = cfind(s, stream);
	return st ? st->send_win : -1;
}

int64_t tun_session_recv_window(const tun_session *s, uint32_t stream)
{
	const struct tun_stream *st = cfind(s, stream);
	return st ? st->recv_win : -1;
}

uint64_t tun_session_violations(const tun_session *s, enum tun_reason r)
{
	if ((unsigned)r >= TUN_R__COUNT)
		return 0;
	return s->violations[r];
}
