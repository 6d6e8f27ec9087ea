/*
 * rtsp_msg: RTSP/1.0 reader, header value parsers and writers. See
 * rtsp_msg.h for the API and docs/rtsp.md for the policy.
 *
 * The reader copies the header block line by line into its fixed buffer and
 * checks each line as soon as its LF arrives, so a bad byte or the 65th
 * header is refused without waiting for (or buffering) the rest. Views in
 * struct rtsp_msg point into that buffer, which never moves. Interleaved
 * frames need only their 4 header bytes held; the payload is handed out in
 * pieces that point into the caller's chunk.
 */
#include "rtsp_msg.h"
#include "strbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const err_names[RTSP_ERR__COUNT] = {
	[RTSP_OK] = "ok",
	[RTSP_ERR_HEADER_TOO_LARGE] = "header_too_large",
	[RTSP_ERR_TOO_MANY_HEADERS] = "too_many_headers",
	[RTSP_ERR_NUL] = "nul_byte",
	[RTSP_ERR_BAD_CHAR] = "bad_char",
	[RTSP_ERR_BAD_REQUEST_LINE] = "bad_request_line",
	[RTSP_ERR_BAD_STATUS_LINE] = "bad_status_line",
	[RTSP_ERR_BAD_VERSION] = "bad_version",
	[RTSP_ERR_BAD_HEADER] = "bad_header",
	[RTSP_ERR_FOLDING] = "folding",
	[RTSP_ERR_BAD_CONTENT_LENGTH] = "bad_content_length",
	[RTSP_ERR_DUP_CONTENT_LENGTH] = "dup_content_length",
	[RTSP_ERR_BODY_TOO_LARGE] = "body_too_large",
	[RTSP_ERR_BAD_CSEQ] = "bad_cseq",
};

static const char *const method_names[RTSP_M__COUNT] = {
	[RTSP_M_UNKNOWN] = NULL,
	[RTSP_M_OPTIONS] = "OPTIONS",
	[RTSP_M_DESCRIBE] = "DESCRIBE",
	[RTSP_M_SETUP] = "SETUP",
	[RTSP_M_PLAY] = "PLAY",
	[RTSP_M_PAUSE] = "PAUSE",
	[RTSP_M_TEARDOWN] = "TEARDOWN",
	[RTSP_M_GET_PARAMETER] = "GET_PARAMETER",
	[RTSP_M_SET_PARAMETER] = "SET_PARAMETER",
	[RTSP_M_ANNOUNCE] = "ANNOUNCE",
	[RTSP_M_RECORD] = "RECORD",
	[RTSP_M_REDIRECT] = "REDIRECT",
};

const char *rtsp_err_name(enum rtsp_err e)
{
	if ((unsigned)e >= RTSP_ERR__COUNT)
		return "unknown";
	return err_names[e];
}

const char *rtsp_method_name(enum rtsp_method m)
{
	if ((unsigned)m >= RTSP_M__COUNT)
		return NULL;
	return method_names[m];
}

enum rtsp_method rtsp_method_from(const char *s, size_t len)
{
	for (unsigned m = 1; m < RTSP_M__COUNT; m++)
		if (strlen(method_names[m]) == len && memcmp(method_names[m], s, len) == 0)
			return (enum rtsp_method)m;
	return RTSP_M_UNKNOWN;
}

const char *rtsp_status_reason(unsigned status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 250: return "Low on Storage Space";
	case 300: return "Multiple Choices";
	case 301: return "Moved Permanently";
	case 302: return "Moved Temporarily";
	case 303: return "See Other";
	case 305: return "Use Proxy";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 413: return "Request Entity Too Large";
	case 414: return "Request-URI Too Large";
	case 415: return "Unsupported Media Type";
	case 451: return "Parameter Not Understood";
	case 453: return "Not Enough Bandwidth";
	case 454: return "Session Not Found";
	case 455: return "Method Not Valid in This State";
	case 457: return "Invalid Range";
	case 459: return "Aggregate Operation Not Allowed";
	case 460: return "Only Aggregate Operation Allowed";
	case 461: return "Unsupported Transport";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "RTSP Version Not Supported";
	case 551: return "Option not supported";
	}
	return "Unknown";
}

/* RFC 7230 tchar */
static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool all_tchar(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_tchar((unsigned char)s[i]))
			return false;
	return true;
}

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

static struct rtsp_str trim(const char *p, size_t len)
{
	while (len && is_ows(*p)) {
		p++;
		len--;
	}
	while (len && is_ows(p[len - 1]))
		len--;
	return (struct rtsp_str){ p, (uint32_t)len };
}

static bool str_ieq(struct rtsp_str s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && strncasecmp(s.p, lit, n) == 0;
}

int rtsp_parse_u32(const char *s, size_t len, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;
	if (len == 0 || len > 10)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

const struct rtsp_str *rtsp_msg_header(const struct rtsp_msg *m, const char *name,
				       uint32_t *from)
{
	size_t n = strlen(name);
	for (uint32_t i = from ? *from : 0; i < m->n_headers; i++) {
		const struct rtsp_header *h = &m->headers[i];
		if (h->name.len == n && strncasecmp(h->name.p, name, n) == 0) {
			if (from)
				*from = i + 1;
			return &h->value;
		}
	}
	return NULL;
}

/* ---- reader ---- */

enum rstate { ST_IDLE, ST_HEAD, ST_BODY, ST_FRAME_HDR, ST_FRAME_DATA, ST_ERROR };

struct rtsp_reader {
	struct rtsp_limits lim;
	enum rstate st;
	enum rtsp_err err;
	void *block;         /* hdrs then hdr, allocated with the first message */
	char *hdr;           /* max_header_bytes */
	uint32_t hlen;       /* bytes held */
	uint32_t line_start; /* start of the line being received */
	bool have_start;     /* start line parsed */
	struct rtsp_header *hdrs;
	struct rtsp_msg msg;
	uint8_t fh[RTSP_FRAME_HEADER_LEN];
	uint8_t fhn;
	uint16_t frame_len, frame_off;
	uint8_t *body;       /* split bodies only */
	uint32_t body_cap, body_have;
};

rtsp_reader *rtsp_reader_new(const struct rtsp_limits *lim)
{
	struct rtsp_limits l = lim ? *lim : (struct rtsp_limits){ 0 };
	if (!l.max_header_bytes)
		l.max_header_bytes = RTSP_DEFAULT_MAX_HEADER_BYTES;
	if (!l.max_headers)
		l.max_headers = RTSP_DEFAULT_MAX_HEADERS;
	if (!l.max_body)
		l.max_body = RTSP_DEFAULT_MAX_BODY;
	if (l.max_header_bytes < 64 || l.max_header_bytes > RTSP_MAX_HEADER_BYTES_CFG ||
	    l.max_headers > RTSP_MAX_HEADERS_CFG || l.max_body > RTSP_MAX_BODY_CFG)
		return NULL;
	rtsp_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->lim = l;
	return r;
}

void rtsp_reader_free(rtsp_reader *r)
{
	if (!r)
		return;
	free(r->block);
	free(r->body);
	free(r);
}

enum rtsp_err rtsp_reader_err(const rtsp_reader *r) { return r->err; }
bool rtsp_reader_idle(const rtsp_reader *r) { return r->st == ST_IDLE; }

void rtsp_reader_trim(rtsp_reader *r)
{
	if (r->st == ST_HEAD || r->st == ST_BODY)
		return; /* a message is half-received */
	free(r->block);
	r->block = NULL;
	r->hdr = NULL;
	r->hdrs = NULL;
	free(r->body);
	r->body = NULL;
	r->body_cap = 0;
}

size_t rtsp_reader_footprint(const rtsp_reader *r)
{
	size_t n = sizeof(*r) + r->body_cap;
	if (r->block)
		n += r->lim.max_headers * sizeof(struct rtsp_header) + r->lim.max_header_bytes;
	return n;
}

/* "RTSP/1.0"-shaped: proto "/" DIGIT "." DIGIT. Returns 1 for RTSP/1.0, 0
 * for another well-formed version, -1 if not a version at all. */
static int version(const char *s, size_t len, struct rtsp_msg *m)
{
	size_t slash = 0;
	while (slash < len && s[slash] != '/')
		slash++;
	if (slash == 0 || slash + 4 != len || !all_tchar(s, slash))
		return -1;
	const char *v = s + slash + 1;
	if (v[0] < '0' || v[0] > '9' || v[1] != '.' || v[2] < '0' || v[2] > '9')
		return -1;
	m->ver_major = (uint8_t)(v[0] - '0');
	m->ver_minor = (uint8_t)(v[2] - '0');
	return slash == 4 && memcmp(s, "RTSP", 4) == 0 && v[0] == '1' && v[2] == '0';
}

static enum rtsp_err request_line(struct rtsp_msg *m, const char *s, size_t len)
{
	const char *sp1 = memchr(s, ' ', len);
	if (!sp1)
		return RTSP_ERR_BAD_REQUEST_LINE;
	size_t ml = (size_t)(sp1 - s);
	const char *u = sp1 + 1;
	const char *sp2 = memchr(u, ' ', len - ml - 1);
	if (!sp2)
		return RTSP_ERR_BAD_REQUEST_LINE;
	size_t ul = (size_t)(sp2 - u);
	const char *v = sp2 + 1;
	size_t vl = len - ml - ul - 2;
	if (!all_tchar(s, ml) || ml > RTSP_METHOD_MAX || ul == 0 || memchr(v, ' ', vl))
		return RTSP_ERR_BAD_REQUEST_LINE;
	int ver = version(v, vl, m);
	if (ver < 0)
		return RTSP_ERR_BAD_REQUEST_LINE;
	if (ver == 0)
		return RTSP_ERR_BAD_VERSION;
	m->is_request = true;
	m->method_text = (struct rtsp_str){ s, (uint32_t)ml };
	m->method = rtsp_method_from(s, ml);
	m->uri = (struct rtsp_str){ u, (uint32_t)ul };
	return RTSP_OK;
}

static enum rtsp_err status_line(struct rtsp_msg *m, const char *s, size_t len)
{
	const char *sp = memchr(s, ' ', len);
	if (!sp)
		return RTSP_ERR_BAD_STATUS_LINE;
	size_t vl = (size_t)(sp - s);
	int ver = version(s, vl, m);
	if (ver < 0)
		return RTSP_ERR_BAD_STATUS_LINE;
	const char *c = sp + 1;
	size_t rest = len - vl - 1;
	/* 3DIGIT, then end of line or SP reason (possibly empty). */
	if (rest < 3 || (rest > 3 && c[3] != ' '))
		return RTSP_ERR_BAD_STATUS_LINE;
	uint32_t code;
	if (rtsp_parse_u32(c, 3, 999, &code) || code < 100)
		return RTSP_ERR_BAD_STATUS_LINE;
	if (ver == 0)
		return RTSP_ERR_BAD_VERSION;
	m->is_request = false;
	m->status = (uint16_t)code;
	m->reason = rest > 3 ? (struct rtsp_str){ c + 4, (uint32_t)(rest - 4) }
			     : (struct rtsp_str){ c + 3, 0 };
	return RTSP_OK;
}

static enum rtsp_err header_line(rtsp_reader *r, const char *s, size_t len)
{
	struct rtsp_msg *m = &r->msg;
	if (is_ows(s[0]))
		return RTSP_ERR_FOLDING;
	const char *colon = memchr(s, ':', len);
	if (!colon || !all_tchar(s, (size_t)(colon - s)))
		return RTSP_ERR_BAD_HEADER;
	if (m->n_headers >= r->lim.max_headers)
		return RTSP_ERR_TOO_MANY_HEADERS;
	struct rtsp_header *h = &r->hdrs[m->n_headers++];
	h->name = (struct rtsp_str){ s, (uint32_t)(colon - s) };
	h->value = trim(colon + 1, len - (size_t)(colon - s) - 1);
	uint32_t v;
	if (str_ieq(h->name, "Content-Length")) {
		if (rtsp_parse_u32(h->value.p, h->value.len, UINT32_MAX, &v))
			return RTSP_ERR_BAD_CONTENT_LENGTH;
		if (m->has_content_length && m->content_length != v)
			return RTSP_ERR_DUP_CONTENT_LENGTH;
		if (v > r->lim.max_body)
			return RTSP_ERR_BODY_TOO_LARGE;
		m->has_content_length = true;
		m->content_length = v;
	} else if (str_ieq(h->name, "CSeq")) {
		if (rtsp_parse_u32(h->value.p, h->value.len, UINT32_MAX, &v) ||
		    (m->has_cseq && m->cseq != v))
			return RTSP_ERR_BAD_CSEQ;
		m->has_cseq = true;
		m->cseq = v;
	}
	return RTSP_OK;
}

/* One complete line (LF excluded) at hdr[line_start..hlen-1). Sets *end
 * when it was the blank line closing the header block. */
static enum rtsp_err line(rtsp_reader *r, bool *end)
{
	char *s = r->hdr + r->line_start;
	size_t len = r->hlen - 1 - r->line_start;
	if (len && s[len - 1] == '\r')
		len--;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == 0)
			return RTSP_ERR_NUL;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return RTSP_ERR_BAD_CHAR;
	}
	*end = false;
	if (!r->have_start) {
		r->have_start = true;
		if (len >= 5 && memcmp(s, "RTSP/", 5) == 0)
			return status_line(&r->msg, s, len);
		return request_line(&r->msg, s, len);
	}
	if (len == 0) {
		*end = true;
		return RTSP_OK;
	}
	return header_line(r, s, len);
}

static int fail(rtsp_reader *r, enum rtsp_err e, size_t pos, size_t *used)
{
	r->st = ST_ERROR;
	r->err = e;
	*used = pos;
	return -EPROTO;
}

static int start_msg(rtsp_reader *r)
{
	if (!r->block) {
		size_t hb = r->lim.max_headers * sizeof(struct rtsp_header);
		r->block = malloc(hb + r->lim.max_header_bytes);
		if (!r->block)
			return -ENOMEM;
		r->hdrs = r->block;
		r->hdr = (char *)r->block + hb;
	}
	r->st = ST_HEAD;
	r->hlen = 0;
	r->line_start = 0;
	r->have_start = false;
	memset(&r->msg, 0, sizeof(r->msg));
	r->msg.headers = r->hdrs;
	return 0;
}

static int emit_msg(rtsp_reader *r, struct rtsp_event *ev, size_t pos, size_t *used)
{
	r->st = ST_IDLE;
	memset(ev, 0, sizeof(*ev));
	ev->kind = RTSP_EV_MSG;
	ev->msg = &r->msg;
	*used = pos;
	return 1;
}

static int emit_piece(rtsp_reader *r, struct rtsp_event *ev, const uint8_t *data, uint16_t n,
		      size_t pos, size_t *used)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = RTSP_EV_FRAME;
	ev->channel = r->fh[1];
	ev->frame_len = r->frame_len;
	ev->off = r->frame_off;
	ev->len = n;
	ev->data = data;
	r->frame_off = (uint16_t)(r->frame_off + n);
	ev->end = r->frame_off == r->frame_len;
	if (ev->end)
		r->st = ST_IDLE;
	*used = pos;
	return 1;
}

int rtsp_reader_feed(rtsp_reader *r, const uint8_t *buf, size_t len, size_t *used,
		     struct rtsp_event *ev)
{
	size_t pos = 0;
	if (r->st == ST_ERROR) {
		*used = 0;
		return -EPROTO;
	}
	while (pos < len) {
		switch (r->st) {
		case ST_IDLE:
			if (buf[pos] == '\r' || buf[pos] == '\n') {
				pos++; /* empty lines between messages */
			} else if (buf[pos] == '$' && len - pos >= RTSP_FRAME_HEADER_LEN) {
				/* the common case: the whole frame header at hand */
				memcpy(r->fh, buf + pos, RTSP_FRAME_HEADER_LEN);
				pos += RTSP_FRAME_HEADER_LEN;
				r->frame_len = (uint16_t)(r->fh[2] << 8 | r->fh[3]);
				r->frame_off = 0;
				r->st = ST_FRAME_DATA;
				if (r->frame_len == 0)
					return emit_piece(r, ev, buf + pos, 0, pos, used);
			} else if (buf[pos] == '$') {
				r->st = ST_FRAME_HDR;
				r->fhn = 0;
			} else if (start_msg(r)) {
				*used = pos;
				return -ENOMEM;
			}
			break;
		case ST_FRAME_HDR:
			r->fh[r->fhn++] = buf[pos++];
			if (r->fhn < RTSP_FRAME_HEADER_LEN)
				break;
			r->frame_len = (uint16_t)(r->fh[2] << 8 | r->fh[3]);
			r->frame_off = 0;
			r->st = ST_FRAME_DATA;
			if (r->frame_len == 0)
				return emit_piece(r, ev, buf + pos, 0, pos, used);
			break;
		case ST_FRAME_DATA: {
			size_t n = len - pos;
			if (n > (size_t)(r->frame_len - r->frame_off))
				n = (size_t)(r->frame_len - r->frame_off);
			const uint8_t *d = buf + pos;
			pos += n;
			return emit_piece(r, ev, d, (uint16_t)n, pos, used);
		}
		case ST_HEAD: {
			size_t n = len - pos;
			const uint8_t *lf = memchr(buf + pos, '\n', n);
			if (lf)
				n = (size_t)(lf - (buf + pos)) + 1;
			/* NUL refused on arrival, not at the line's end: a peer
			 * sending binary garbage is dropped at once. Only the
			 * bytes within the limit count, so the first offending
			 * byte decides the error whatever the chunking. */
			size_t room = r->lim.max_header_bytes - r->hlen;
			if (memchr(buf + pos, 0, n < room ? n : room))
				return fail(r, RTSP_ERR_NUL, pos, used);
			if (n > room)
				return fail(r, RTSP_ERR_HEADER_TOO_LARGE, pos, used);
			memcpy(r->hdr + r->hlen, buf + pos, n);
			r->hlen += (uint32_t)n;
			pos += n;
			if (!lf)
				break;
			bool end;
			enum rtsp_err e = line(r, &end);
			if (e != RTSP_OK)
				return fail(r, e, pos, used);
			r->line_start = r->hlen;
			if (!end)
				break;
			if (r->msg.content_length == 0)
				return emit_msg(r, ev, pos, used);
			r->st = ST_BODY;
			r->body_have = 0;
			break;
		}
		case ST_BODY: {
			uint32_t need = r->msg.content_length - r->body_have;
			size_t n = len - pos;
			if (r->body_have == 0 && n >= need) {
				r->msg.body = buf + pos; /* whole in this chunk: no copy */
				r->msg.body_len = need;
				pos += need;
				return emit_msg(r, ev, pos, used);
			}
			if (r->body_cap < r->msg.content_length) {
				uint8_t *b = realloc(r->body, r->msg.content_length);
				if (!b) {
					*used = pos;
					return -ENOMEM;
				}
				r->body = b;
				r->body_cap = r->msg.content_length;
			}
			if (n > need)
				n = need;
			memcpy(r->body + r->body_have, buf + pos, n);
			r->body_have += (uint32_t)n;
			pos += n;
			if (r->body_have == r->msg.content_length) {
				r->msg.body = r->body;
				r->msg.body_len = r->body_have;
				r->body_have = 0;
				return emit_msg(r, ev, pos, used);
			}
			break;
		}
		case ST_ERROR:
			*used = pos;
			return -EPROTO;
		}
	}
	*used = pos;
	return 0;
}

/* ---- header value parsers ---- */

/* Splits s at sep: *item gets the trimmed text before it, s advances past
 * it. False when s is exhausted. */
static bool next_item(struct rtsp_str *s, char sep, struct rtsp_str *item)
{
	if (s->p == NULL)
		return false;
	const char *e = memchr(s->p, sep, s->len);
	size_t n = e ? (size_t)(e - s->p) : s->len;
	*item = trim(s->p, n);
	if (e) {
		s->len -= (uint32_t)(n + 1);
		s->p = e + 1;
	} else {
		s->p = NULL;
		s->len = 0;
	}
	return true;
}

/* "name=value" or "name": trimmed halves; value.p NULL without '='. */
static void split_param(struct rtsp_str it, struct rtsp_str *name, struct rtsp_str *val)
{
	const char *eq = memchr(it.p, '=', it.len);
	if (!eq) {
		*name = it;
		*val = (struct rtsp_str){ NULL, 0 };
		return;
	}
	*name = trim(it.p, (size_t)(eq - it.p));
	*val = trim(eq + 1, it.len - (size_t)(eq - it.p) - 1);
}

static bool visible(struct rtsp_str s)
{
	for (uint32_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c <= 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

int rtsp_parse_session(struct rtsp_str v, struct rtsp_session_hdr *out)
{
	struct rtsp_str it, name, val;
	memset(out, 0, sizeof(*out));
	out->timeout = RTSP_DEFAULT_SESSION_TIMEOUT;
	if (!v.p || !next_item(&v, ';', &it) || it.len == 0 || it.len > RTSP_MAX_SESSION_ID ||
	    !visible(it) || memchr(it.p, ',', it.len))
		return -EINVAL;
	out->id = it;
	while (next_item(&v, ';', &it)) {
		split_param(it, &name, &val);
		if (!str_ieq(name, "timeout"))
			continue;
		if (!val.p || rtsp_parse_u32(val.p, val.len, 0x7fffffff, &out->timeout))
			return -EINVAL;
		out->has_timeout = true;
	}
	return 0;
}

static int parse_pair(struct rtsp_str v, uint32_t max, uint32_t out[2])
{
	if (!v.p)
		return -EINVAL;
	const char *dash = memchr(v.p, '-', v.len);
	if (!dash) {
		if (rtsp_parse_u32(v.p, v.len, max, &out[0]) || out[0] >= max)
			return -EINVAL;
		out[1] = out[0] + 1;
		return 0;
	}
	size_t a = (size_t)(dash - v.p);
	if (rtsp_parse_u32(v.p, a, max, &out[0]) ||
	    rtsp_parse_u32(dash + 1, v.len - a - 1, max, &out[1]))
		return -EINVAL;
	return 0;
}

static int parse_hex32(struct rtsp_str v, uint32_t *out)
{
	uint32_t x = 0;
	if (!v.p || v.len == 0 || v.len > 8)
		return -EINVAL;
	for (uint32_t i = 0; i < v.len; i++) {
		char c = v.p[i];
		int d = c >= '0' && c <= '9' ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return -EINVAL;
		x = x << 4 | (uint32_t)d;
	}
	*out = x;
	return 0;
}

static int transport_spec(struct rtsp_str spec, struct rtsp_transport *t)
{
	struct rtsp_str it, name, val;
	uint32_t p[2];
	memset(t, 0, sizeof(*t));
	if (!next_item(&spec, ';', &it) || it.len == 0)
		return -EINVAL;
	/* transport/profile[/lower] */
	struct rtsp_str parts[4], rest = it;
	size_t np = 0;
	while (np < 4 && next_item(&rest, '/', &parts[np]))
		np++;
	if (rest.p || np < 2)
		return -EINVAL;
	if (str_ieq(parts[0], "RTP")) {
		if (str_ieq(parts[1], "AVP"))
			t->profile = RTSP_PROF_AVP;
		else if (str_ieq(parts[1], "SAVP"))
			t->profile = RTSP_PROF_SAVP;
		else if (str_ieq(parts[1], "AVPF"))
			t->profile = RTSP_PROF_AVPF;
		else if (str_ieq(parts[1], "SAVPF"))
			t->profile = RTSP_PROF_SAVPF;
	}
	if (np == 3) {
		if (str_ieq(parts[2], "TCP"))
			t->tcp = true;
		else if (!str_ieq(parts[2], "UDP"))
			t->profile = RTSP_PROF_UNKNOWN;
	} else if (np > 3) {
		return -EINVAL;
	}
	while (next_item(&spec, ';', &it)) {
		split_param(it, &name, &val);
		if (str_ieq(name, "unicast")) {
			t->multicast = false;
		} else if (str_ieq(name, "multicast")) {
			t->multicast = true;
		} else if (str_ieq(name, "interleaved")) {
			if (parse_pair(val, 255, p))
				return -EINVAL;
			t->has_interleaved = true;
			t->interleaved[0] = (uint8_t)p[0];
			t->interleaved[1] = (uint8_t)p[1];
		} else if (str_ieq(name, "client_port") || str_ieq(name, "server_port") ||
			   str_ieq(name, "port")) {
			if (parse_pair(val, 65535, p))
				return -EINVAL;
			uint16_t *dst = name.p[0] == 'c' || name.p[0] == 'C' ? t->client_port
					: name.p[0] == 's' || name.p[0] == 'S' ? t->server_port
					: t->port;
			dst[0] = (uint16_t)p[0];
			dst[1] = (uint16_t)p[1];
			if (dst == t->client_port)
				t->has_client_port = true;
			else if (dst == t->server_port)
				t->has_server_port = true;
			else
				t->has_port = true;
		} else if (str_ieq(name, "ssrc")) {
			if (parse_hex32(val, &t->ssrc))
				return -EINVAL;
			t->has_ssrc = true;
		} else if (str_ieq(name, "ttl")) {
			if (!val.p || rtsp_parse_u32(val.p, val.len, 255, &p[0]))
				return -EINVAL;
			t->has_ttl = true;
			t->ttl = (uint8_t)p[0];
		} else if (str_ieq(name, "mode")) {
			if (val.len >= 2 && val.p[0] == '"' && val.p[val.len - 1] == '"')
				val = trim(val.p + 1, val.len - 2);
			if (str_ieq(val, "RECORD") || str_ieq(val, "RECEIVE"))
				t->record = true;
			else if (!str_ieq(val, "PLAY"))
				return -EINVAL;
		} else if (str_ieq(name, "destination")) {
			if (val.p && !visible(val))
				return -EINVAL;
			t->destination = val;
		} else if (str_ieq(name, "source")) {
			if (!val.p || !visible(val))
				return -EINVAL;
			t->source = val;
		}
		/* anything else: ignored (RFC 2326 12.39) */
	}
	return 0;
}

int rtsp_parse_transport(struct rtsp_str v, struct rtsp_transport *out, size_t max, size_t *n)
{
	struct rtsp_str spec;
	*n = 0;
	if (!v.p)
		return -EINVAL;
	while (next_item(&v, ',', &spec)) {
		if (*n >= max)
			return -ENOSPC;
		if (transport_spec(spec, &out[*n]))
			return -EINVAL;
		(*n)++;
	}
	return *n ? 0 : -EINVAL;
}


static void putu(struct strbuf *o, const char *prefix, unsigned long v)
{
	char tmp[32];
	int k = snprintf(tmp, sizeof(tmp), "%s%lu", prefix, v);
	strbuf_put(o, tmp, (size_t)k);
}

static int done(struct strbuf *o)
{
	if (o->full)
		return -ENOSPC;
	return (int)o->len;
}

static void out_init(struct strbuf *o, char *p, size_t cap)
{
	o->p = p;
	o->cap = cap;
	o->len = 0;
	o->full = cap == 0 || cap > INT32_MAX;
	if (cap)
		p[0] = '\0';
}

static bool safe_value(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			return false;
	return true;
}

/* a separator inside a value would split the spec when read back */
static bool strpbrk_n(struct rtsp_str s, const char *set)
{
	for (uint32_t i = 0; i < s.len; i++)
		if (strchr(set, s.p[i]))
			return true;
	return false;
}

int rtsp_format_transport(const struct rtsp_transport *t, size_t n, char *buf, size_t cap)
{
	static const char *const prof[] = { [RTSP_PROF_AVP] = "RTP/AVP", [RTSP_PROF_SAVP] = "RTP/SAVP",
					    [RTSP_PROF_AVPF] = "RTP/AVPF",
					    [RTSP_PROF_SAVPF] = "RTP/SAVPF" };
	struct strbuf o;
	out_init(&o, buf, cap);
	for (size_t i = 0; i < n; i++, t++) {
		if (t->profile == RTSP_PROF_UNKNOWN || (unsigned)t->profile > RTSP_PROF_SAVPF)
			return -EINVAL;
		if ((t->destination.p && !visible(t->destination)) ||
		    (t->source.p && !visible(t->source)) ||
		    (t->destination.p && strpbrk_n(t->destination, ";,")) ||
		    (t->source.p && strpbrk_n(t->source, ";,")))
			return -EINVAL;
		if (i)
			strbuf_puts(&o, ",");
		strbuf_puts(&o, prof[t->profile]);
		strbuf_puts(&o, t->tcp ? "/TCP" : "");
		strbuf_puts(&o, t->multicast ? ";multicast" : ";unicast");
		if (t->destination.p) {
			strbuf_puts(&o, ";destination=");
			strbuf_put(&o, t->destination.p, t->destination.len);
		}
		if (t->source.p) {
			strbuf_puts(&o, ";source=");
			strbuf_put(&o, t->source.p, t->source.len);
		}
		if (t->has_interleaved) {
			putu(&o, ";interleaved=", t->interleaved[0]);
			putu(&o, "-", t->interleaved[1]);
		}
		if (t->has_client_port) {
			putu(&o, ";client_port=", t->client_port[0]);
			putu(&o, "-", t->client_port[1]);
		}
		if (t->has_server_port) {
			putu(&o, ";server_port=", t->server_port[0]);
			putu(&o, "-", t->server_port[1]);
		}
		if (t->has_port) {
			putu(&o, ";port=", t->port[0]);
			putu(&o, "-", t->port[1]);
		}
		if (t->has_ttl)
			putu(&o, ";ttl=", t->ttl);
		if (t->has_ssrc) {
			char tmp[16];
			snprintf(tmp, sizeof(tmp), ";ssrc=%08X", (unsigned)t->ssrc);
			strbuf_puts(&o, tmp);
		}
		if (t->record)
			strbuf_puts(&o, ";mode=RECORD");
	}
	return done(&o);
}

/* Next RTP-Info entry: ends at a ',' followed by OWS "url=", or the end. */
static bool next_rtp_info(struct rtsp_str *s, struct rtsp_str *item)
{
	if (!s->p)
		return false;
	const char *p = s->p, *end = s->p + s->len;
	for (const char *c = p; c < end; c++) {
		if (*c != ',')
			continue;
		struct rtsp_str after = trim(c + 1, (size_t)(end - c - 1));
		if (after.len >= 4 && strncasecmp(after.p, "url=", 4) == 0) {
			*item = trim(p, (size_t)(c - p));
			s->len = (uint32_t)(end - c - 1);
			s->p = c + 1;
			return true;
		}
	}
	*item = trim(p, (size_t)(end - p));
	s->p = NULL;
	s->len = 0;
	return true;
}

int rtsp_parse_rtp_info(struct rtsp_str v, struct rtsp_rtp_info *out, size_t max, size_t *n)
{
	struct rtsp_str entry, it, name, val;
	uint32_t x;
	*n = 0;
	if (!v.p)
		return -EINVAL;
	while (next_rtp_info(&v, &entry)) {
		if (*n >= max)
			return -ENOSPC;
		struct rtsp_rtp_info *r = &out[*n];
		memset(r, 0, sizeof(*r));
		while (next_item(&entry, ';', &it)) {
			split_param(it, &name, &val);
			if (str_ieq(name, "url")) {
				if (!val.p || val.len == 0 || !visible(val))
					return -EINVAL;
				r->url = val;
			} else if (str_ieq(name, "seq")) {
				if (!val.p || rtsp_parse_u32(val.p, val.len, 65535, &x))
					return -EINVAL;
				r->has_seq = true;
				r->seq = (uint16_t)x;
			} else if (str_ieq(name, "rtptime")) {
				if (!val.p || rtsp_parse_u32(val.p, val.len, UINT32_MAX, &x))
					return -EINVAL;
				r->has_rtptime = true;
				r->rtptime = x;
			}
		}
		if (!r->url.p)
			return -EINVAL;
		(*n)++;
	}
	return *n ? 0 : -EINVAL;
}

int rtsp_url_hostport(const char *url, char *out, size_t cap)
{
	const char *h;
	unsigned def;

	if (!strncmp(url, "rtsp://", 7)) {
		h = url + 7;
		def = 554;
	} else if (!strncmp(url, "rtsps://", 8)) {
		h = url + 8;
		def = 322;
	} else {
		return -EINVAL;
	}
	const char *e = h + strcspn(h, "/?#");
	const char *at = memchr(h, '@', (size_t)(e - h));
	if (at)
		h = at + 1;
	const char *hend = e, *port = NULL;
	if (h < e && h[0] == '[') {
		const char *rb = memchr(h, ']', (size_t)(e - h));
		if (!rb || rb == h + 1)
			return -EINVAL;
		hend = rb + 1;
		if (hend < e && *hend != ':')
			return -EINVAL;
	} else {
		hend = memchr(h, ':', (size_t)(e - h));
		if (!hend)
			hend = e;
	}
	if (hend == h)
		return -EINVAL;
	for (const char *c = h; c < hend; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f || *c == '\\')
			return -EINVAL;
	uint32_t pnum = def;
	if (hend < e) {
		port = hend + 1;
		if (rtsp_parse_u32(port, (size_t)(e - port), 65535, &pnum) < 0 || !pnum)
			return -EINVAL;
	}
	int n = snprintf(out, cap, "%.*s:%u", (int)(hend - h), h, (unsigned)pnum);
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}

uint32_t rtsp_parse_public(struct rtsp_str v)
{
	struct rtsp_str it;
	uint32_t mask = 0;
	while (v.p && next_item(&v, ',', &it)) {
		enum rtsp_method m = rtsp_method_from(it.p, it.len);
		if (m != RTSP_M_UNKNOWN)
			mask |= 1u << m;
	}
	return mask;
}

/* ---- writers ---- */

static int headers_and_body(struct strbuf *o, uint32_t cseq, const struct rtsp_kv *hdrs, size_t n,
			    const void *body, size_t body_len)
{
	putu(o, "CSeq: ", cseq);
	strbuf_puts(o, "\r\n");
	for (size_t i = 0; i < n; i++) {
		const char *nm = hdrs[i].name, *v = hdrs[i].value;
		if (!nm || !v || !all_tchar(nm, strlen(nm)) || !safe_value(v))
			return -EINVAL;
		strbuf_puts(o, nm);
		strbuf_puts(o, ": ");
		strbuf_puts(o, v);
		strbuf_puts(o, "\r\n");
	}
	if (body_len) {
		if (!body || body_len > UINT32_MAX)
			return -EINVAL;
		putu(o, "Content-Length: ", (unsigned long)body_len);
		strbuf_puts(o, "\r\n");
	}
	strbuf_puts(o, "\r\n");
	if (body_len)
		strbuf_put(o, body, body_len);
	return done(o);
}

int rtsp_write_request(char *buf, size_t cap, enum rtsp_method m, const char *method_text,
		       const char *uri, uint32_t cseq, const struct rtsp_kv *hdrs, size_t n,
		       const void *body, size_t body_len)
{
	struct strbuf o;
	const char *mt = m == RTSP_M_UNKNOWN ? method_text : rtsp_method_name(m);
	if (!mt || !uri || !all_tchar(mt, strlen(mt)) || !*uri || !visible((struct rtsp_str){
		uri, (uint32_t)strlen(uri) }))
		return -EINVAL;
	out_init(&o, buf, cap);
	strbuf_puts(&o, mt);
	strbuf_puts(&o, " ");
	strbuf_puts(&o, uri);
	strbuf_puts(&o, " RTSP/1.0\r\n");
	return headers_and_body(&o, cseq, hdrs, n, body, body_len);
}

int rtsp_write_response(char *buf, size_t cap, unsigned status, const char *reason,
			uint32_t cseq, const struct rtsp_kv *hdrs, size_t n, const void *body,
			size_t body_len)
{
	struct strbuf o;
	if (status < 100 || status > 999)
		return -EINVAL;
	if (!reason)
		reason = rtsp_status_reason(status);
	if (!safe_value(reason))
		return -EINVAL;
	out_init(&o, buf, cap);
	putu(&o, "RTSP/1.0 ", status);
	strbuf_puts(&o, " ");
	strbuf_puts(&o, reason);
	strbuf_puts(&o, "\r\n");
	return headers_and_body(&o, cseq, hdrs, n, body, body_len);
}

void rtsp_frame_header(uint8_t out[RTSP_FRAME_HEADER_LEN], uint8_t channel, uint16_t len)
{
	out[0] = '$';
	out[1] = channel;
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
}
