/*
 * sdp: parser, fmtp helpers, control URL resolution and the proxy rewrite.
 * See sdp.h.
 *
 * Cameras write sloppy SDP (LF endings, lines out of RFC order, trailing
 * spaces), so order is not enforced beyond "v=0 first" and unknown lines
 * are kept; what we interpret (m=, c=, rtpmap, fmtp) must be well formed,
 * because a wrong payload type or clock rate would break every viewer.
 */
#include "sdp.h"

#include "base64.h"
#include "strbuf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const err_names[SDP_ERR__COUNT] = {
	[SDP_OK] = "ok",
	[SDP_ERR_TOO_LARGE] = "too_large",
	[SDP_ERR_LINE_TOO_LONG] = "line_too_long",
	[SDP_ERR_BAD_CHAR] = "bad_char",
	[SDP_ERR_BAD_LINE] = "bad_line",
	[SDP_ERR_BAD_VERSION] = "bad_version",
	[SDP_ERR_TOO_MANY_MEDIA] = "too_many_media",
	[SDP_ERR_TOO_MANY_ATTRS] = "too_many_attrs",
	[SDP_ERR_TOO_MANY_FMTS] = "too_many_fmts",
	[SDP_ERR_TOO_MANY_MAPS] = "too_many_maps",
	[SDP_ERR_BAD_MEDIA] = "bad_media",
	[SDP_ERR_BAD_CONNECTION] = "bad_connection",
	[SDP_ERR_BAD_BANDWIDTH] = "bad_bandwidth",
	[SDP_ERR_BAD_RTPMAP] = "bad_rtpmap",
	[SDP_ERR_BAD_FMTP] = "bad_fmtp",
};

const char *sdp_err_name(enum sdp_err e)
{
	if ((unsigned)e >= SDP_ERR__COUNT)
		return "unknown";
	return err_names[e];
}

static bool is_ws(char c) { return c == ' ' || c == '\t'; }

static struct sdp_str trim(const char *p, size_t len)
{
	while (len && is_ws(*p)) {
		p++;
		len--;
	}
	while (len && is_ws(p[len - 1]))
		len--;
	return (struct sdp_str){ p, (uint32_t)len };
}

static bool str_ieq(struct sdp_str s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && strncasecmp(s.p, lit, n) == 0;
}

static bool has_prefix(struct sdp_str s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len >= n && strncasecmp(s.p, lit, n) == 0;
}

static int to_u32(struct sdp_str s, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;
	if (s.len == 0 || s.len > 10)
		return -EINVAL;
	for (uint32_t i = 0; i < s.len; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s.p[i] - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* Next whitespace-separated token of *s; false at the end. */
static bool token(struct sdp_str *s, struct sdp_str *tok)
{
	while (s->len && is_ws(*s->p)) {
		s->p++;
		s->len--;
	}
	if (!s->len)
		return false;
	uint32_t n = 0;
	while (n < s->len && !is_ws(s->p[n]))
		n++;
	*tok = (struct sdp_str){ s->p, n };
	s->p += n;
	s->len -= n;
	return true;
}

/* Line iterator: CRLF or LF; the last line may lack an ending. */
struct lines {
	const char *p, *end;
};

static bool next_line(struct lines *it, struct sdp_str *l)
{
	if (it->p >= it->end)
		return false;
	const char *nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
	const char *e = nl ? nl : it->end;
	l->p = it->p;
	l->len = (uint32_t)(e - it->p);
	if (l->len && l->p[l->len - 1] == '\r')
		l->len--;
	it->p = nl ? nl + 1 : it->end;
	return true;
}

static enum sdp_err check_line(struct sdp_str l)
{
	if (l.len > SDP_MAX_LINE)
		return SDP_ERR_LINE_TOO_LONG;
	for (uint32_t i = 0; i < l.len; i++) {
		unsigned char c = (unsigned char)l.p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return SDP_ERR_BAD_CHAR;
	}
	if (l.len < 2 || l.p[0] < 'a' || l.p[0] > 'z' || l.p[1] != '=')
		return SDP_ERR_BAD_LINE;
	return SDP_OK;
}

static enum sdp_err parse_conn(struct sdp_str v, struct sdp_str *addr)
{
	struct sdp_str nt, at, a, extra;
	if (!token(&v, &nt) || !token(&v, &at) || !token(&v, &a) || token(&v, &extra) ||
	    !str_ieq(nt, "IN") || !(str_ieq(at, "IP4") || str_ieq(at, "IP6")))
		return SDP_ERR_BAD_CONNECTION;
	*addr = a;
	return SDP_OK;
}

static enum sdp_err parse_bw(struct sdp_str v, bool *has, uint32_t *bw)
{
	if (!has_prefix(v, "AS:"))
		return SDP_OK; /* CT, TIAS, RR, RS: kept, not interpreted */
	if (to_u32(trim(v.p + 3, v.len - 3), UINT32_MAX, bw))
		return SDP_ERR_BAD_BANDWIDTH;
	*has = true;
	return SDP_OK;
}

static enum sdp_err parse_media(struct sdp_str v, struct sdp_media *m)
{
	struct sdp_str type, port, proto, f;
	uint32_t x;
	if (!token(&v, &type) || !token(&v, &port) || !token(&v, &proto))
		return SDP_ERR_BAD_MEDIA;
	m->type_text = type;
	m->type = str_ieq(type, "video") ? SDP_MEDIA_VIDEO
		: str_ieq(type, "audio") ? SDP_MEDIA_AUDIO
		: str_ieq(type, "application") ? SDP_MEDIA_APPLICATION : SDP_MEDIA_OTHER;
	const char *slash = memchr(port.p, '/', port.len);
	uint32_t pl = slash ? (uint32_t)(slash - port.p) : port.len;
	if (to_u32((struct sdp_str){ port.p, pl }, 65535, &x))
		return SDP_ERR_BAD_MEDIA;
	m->port = (uint16_t)x;
	m->nports = 1;
	if (slash) {
		if (to_u32((struct sdp_str){ slash + 1, port.len - pl - 1 }, 65535, &x) || !x)
			return SDP_ERR_BAD_MEDIA;
		m->nports = (uint16_t)x;
	}
	m->proto = proto;
	m->rtp = has_prefix(proto, "RTP/");
	m->fmt_text = trim(v.p, v.len);
	if (m->fmt_text.len == 0)
		return SDP_ERR_BAD_MEDIA;
	while (m->rtp && token(&v, &f)) {
		if (to_u32(f, 127, &x))
			return SDP_ERR_BAD_MEDIA;
		if (m->n_fmts >= SDP_MAX_FMTS)
			return SDP_ERR_TOO_MANY_FMTS;
		m->fmts[m->n_fmts++] = (uint8_t)x;
	}
	return SDP_OK;
}

/* "96 H264/90000[/2]" */
static enum sdp_err parse_rtpmap(struct sdp_str v, struct sdp_media *m)
{
	struct sdp_str pt, enc, extra;
	uint32_t x, clock, ch = 0;
	if (!token(&v, &pt) || !token(&v, &enc) || token(&v, &extra) || to_u32(pt, 127, &x))
		return SDP_ERR_BAD_RTPMAP;
	const char *s1 = memchr(enc.p, '/', enc.len);
	if (!s1 || s1 == enc.p)
		return SDP_ERR_BAD_RTPMAP;
	struct sdp_str name = { enc.p, (uint32_t)(s1 - enc.p) };
	struct sdp_str rest = { s1 + 1, enc.len - name.len - 1 };
	const char *s2 = memchr(rest.p, '/', rest.len);
	struct sdp_str cl = { rest.p, s2 ? (uint32_t)(s2 - rest.p) : rest.len };
	if (to_u32(cl, UINT32_MAX, &clock) || !clock)
		return SDP_ERR_BAD_RTPMAP;
	if (s2 && (to_u32((struct sdp_str){ s2 + 1, rest.len - cl.len - 1 }, 255, &ch) || !ch))
		return SDP_ERR_BAD_RTPMAP;
	if (m->n_rtpmap >= SDP_MAX_MAPS)
		return SDP_ERR_TOO_MANY_MAPS;
	struct sdp_rtpmap *r = &m->rtpmap[m->n_rtpmap++];
	r->pt = (uint8_t)x;
	r->encoding = name;
	r->clock = clock;
	r->channels = (uint8_t)ch;
	return SDP_OK;
}

/* "96 packetization-mode=1;..." (params may be empty) */
static enum sdp_err parse_fmtp(struct sdp_str v, struct sdp_media *m)
{
	struct sdp_str pt;
	uint32_t x;
	if (!token(&v, &pt) || to_u32(pt, 127, &x))
		return SDP_ERR_BAD_FMTP;
	if (m->n_fmtp >= SDP_MAX_MAPS)
		return SDP_ERR_TOO_MANY_MAPS;
	struct sdp_fmtp *f = &m->fmtp[m->n_fmtp++];
	f->pt = (uint8_t)x;
	f->params = trim(v.p, v.len);
	return SDP_OK;
}

static enum sdp_dir dir_of(struct sdp_str a)
{
	if (str_ieq(a, "sendrecv"))
		return SDP_DIR_SENDRECV;
	if (str_ieq(a, "sendonly"))
		return SDP_DIR_SENDONLY;
	if (str_ieq(a, "recvonly"))
		return SDP_DIR_RECVONLY;
	if (str_ieq(a, "inactive"))
		return SDP_DIR_INACTIVE;
	return SDP_DIR_UNSET;
}

static enum sdp_err parse_attr(struct sdp *s, struct sdp_media *m, struct sdp_str v)
{
	uint16_t *n = m ? &m->n_attrs : &s->n_attrs;
	if (*n >= SDP_MAX_ATTRS)
		return SDP_ERR_TOO_MANY_ATTRS;
	(*n)++;
	const char *colon = memchr(v.p, ':', v.len);
	struct sdp_str name = trim(v.p, colon ? (size_t)(colon - v.p) : v.len);
	struct sdp_str val = colon ? trim(colon + 1, v.len - (size_t)(colon - v.p) - 1)
				   : (struct sdp_str){ v.p + v.len, 0 };
	enum sdp_dir d = dir_of(name);
	if (d != SDP_DIR_UNSET && !colon) {
		if (m)
			m->dir = d;
		else
			s->dir = d;
	} else if (str_ieq(name, "control")) {
		if (m)
			m->control = val;
		else
			s->control = val;
	} else if (!m && str_ieq(name, "range")) {
		s->range = val;
	} else if (m && m->rtp && str_ieq(name, "rtpmap")) {
		return parse_rtpmap(val, m);
	} else if (m && m->rtp && str_ieq(name, "fmtp")) {
		return parse_fmtp(val, m);
	} else if (m && str_ieq(name, "framerate")) {
		m->framerate = val;
	}
	return SDP_OK;
}

enum sdp_err sdp_parse(const char *text, size_t len, struct sdp *s)
{
	struct lines it = { text, text + len };
	struct sdp_str l;
	struct sdp_media *m = NULL;
	bool first = true;
	enum sdp_err e;

	memset(s, 0, sizeof(*s));
	if (len > SDP_MAX_TEXT)
		return SDP_ERR_TOO_LARGE;
	while (next_line(&it, &l)) {
		if (l.len == 0)
			continue;
		if ((e = check_line(l)) != SDP_OK)
			return e;
		struct sdp_str v = { l.p + 2, l.len - 2 };
		if (first) {
			if (l.p[0] != 'v' || !str_ieq(trim(v.p, v.len), "0"))
				return SDP_ERR_BAD_VERSION;
			first = false;
			continue;
		}
		e = SDP_OK;
		switch (l.p[0]) {
		case 'o':
			if (!m)
				s->origin = trim(v.p, v.len);
			break;
		case 's':
			if (!m)
				s->name = v;
			break;
		case 'c':
			e = parse_conn(v, m ? &m->conn : &s->conn);
			break;
		case 'b':
			e = m ? parse_bw(v, &m->has_bw_as, &m->bw_as) : parse_bw(v, &s->has_bw_as, &s->bw_as);
			break;
		case 'm':
			if (s->n_media >= SDP_MAX_MEDIA)
				return SDP_ERR_TOO_MANY_MEDIA;
			m = &s->media[s->n_media++];
			e = parse_media(v, m);
			break;
		case 'a':
			e = parse_attr(s, m, v);
			break;
		default:
			break;
		}
		if (e != SDP_OK)
			return e;
	}
	return first ? SDP_ERR_BAD_VERSION : SDP_OK;
}

const struct sdp_rtpmap *sdp_rtpmap_find(const struct sdp_media *m, uint8_t pt)
{
	for (unsigned i = 0; i < m->n_rtpmap; i++)
		if (m->rtpmap[i].pt == pt)
			return &m->rtpmap[i];
	return NULL;
}

const struct sdp_fmtp *sdp_fmtp_find(const struct sdp_media *m, uint8_t pt)
{
	for (unsigned i = 0; i < m->n_fmtp; i++)
		if (m->fmtp[i].pt == pt)
			return &m->fmtp[i];
	return NULL;
}

int sdp_fmtp_param(struct sdp_str params, const char *key, struct sdp_str *val)
{
	const char *p = params.p, *end = params.p + params.len;
	while (p && p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		struct sdp_str it = trim(p, semi ? (size_t)(semi - p) : (size_t)(end - p));
		const char *eq = memchr(it.p, '=', it.len);
		if (eq && str_ieq(trim(it.p, (size_t)(eq - it.p)), key)) {
			*val = trim(eq + 1, it.len - (size_t)(eq - it.p) - 1);
			return 0;
		}
		p = semi ? semi + 1 : NULL;
	}
	return -ENOENT;
}

/* Comma-separated base64 NAL units -> Annex B at out + *len. */
static int append_nals(struct sdp_str v, uint8_t *out, size_t cap, size_t *len)
{
	const char *p = v.p, *end = v.p + v.len;
	while (p) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		struct sdp_str one = trim(p, comma ? (size_t)(comma - p) : (size_t)(end - p));
		if (cap - *len < 4)
			return -ENOSPC;
		memcpy(out + *len, "\0\0\0\1", 4);
		if (one.len == 0)
			return -EINVAL;
		int k = base64_decode(one.p, one.len, out + *len + 4, cap - *len - 4);
		if (k < 0)
			return k;
		*len += 4 + (size_t)k;
		p = comma ? comma + 1 : NULL;
	}
	return 0;
}

static int sprops(const struct sdp_media *m, uint8_t pt, const char *const *keys, size_t nkeys,
		  uint8_t *out, size_t cap)
{
	const struct sdp_fmtp *f = sdp_fmtp_find(m, pt);
	size_t len = 0;
	bool any = false;
	if (!f)
		return -ENOENT;
	for (size_t i = 0; i < nkeys; i++) {
		struct sdp_str v;
		if (sdp_fmtp_param(f->params, keys[i], &v))
			continue;
		any = true;
		int rc = append_nals(v, out, cap, &len);
		if (rc)
			return rc;
	}
	return any ? (int)len : -ENOENT;
}

int sdp_h264_sprops(const struct sdp_media *m, uint8_t pt, uint8_t *out, size_t cap)
{
	static const char *const k[] = { "sprop-parameter-sets" };
	return sprops(m, pt, k, 1, out, cap);
}

int sdp_h265_sprops(const struct sdp_media *m, uint8_t pt, uint8_t *out, size_t cap)
{
	static const char *const k[] = { "sprop-vps", "sprop-sps", "sprop-pps" };
	return sprops(m, pt, k, 3, out, cap);
}

/* Length of "scheme://" when s starts with one, else 0. */
static size_t scheme_len(const char *s, size_t len)
{
	size_t i = 0;
	while (i < len && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
			   (i && ((s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' ||
				  s[i] == '.'))))
		i++;
	if (i == 0 || len - i < 3 || memcmp(s + i, "://", 3) != 0)
		return 0;
	return i + 3;
}

int sdp_control_url(const char *base, size_t blen, const char *control, size_t clen, char *out,
		    size_t cap)
{
	if (!control)
		clen = 0;
	size_t sl = scheme_len(base, blen);
	struct sdp_str b = { base, (uint32_t)blen };
	if (!sl || !(has_prefix(b, "rtsp://") || has_prefix(b, "rtsps://") ||
		     has_prefix(b, "rtspu://")))
		return -EINVAL;
	const char *pre = base, *sep = "";
	size_t prel = blen;
	if (clen == 0 || (clen == 1 && control[0] == '*')) {
		clen = 0;
	} else if (scheme_len(control, clen)) {
		prel = 0;
	} else if (control[0] == '/') {
		prel = sl;
		while (prel < blen && base[prel] != '/' && base[prel] != '?' && base[prel] != '#')
			prel++;
	} else if (blen && base[blen - 1] != '/') {
		sep = "/";
	}
	size_t total = prel + strlen(sep) + clen;
	if (total >= cap)
		return -ENOSPC;
	memcpy(out, pre, prel);
	memcpy(out + prel, sep, strlen(sep));
	if (clen)
		memcpy(out + prel + strlen(sep), control, clen);
	out[total] = '\0';
	return (int)total;
}

/* ---- proxy rewrite ---- */


static void put_track(struct strbuf *o, int idx)
{
	char tmp[48];
	int k = snprintf(tmp, sizeof(tmp), "a=control:trackID=%d\r\n", idx);
	strbuf_put(o, tmp, (size_t)k);
}

/* The same name test parse_attr() makes. */
static bool attr_is_control(struct sdp_str v)
{
	const char *colon = memchr(v.p, ':', v.len);
	return str_ieq(trim(v.p, colon ? (size_t)(colon - v.p) : v.len), "control");
}

static bool one_line(const char *s, bool spaces)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || (!spaces && *s == ' '))
			return false;
	return true;
}

int sdp_write_proxy(const char *text, size_t len, const struct sdp_proxy_opts *o, char *buf,
		    size_t cap, enum sdp_err *err)
{
	struct sdp s; /* ~9 KiB */
	struct sdp *sp = &s;
	const char *addr = o->origin_addr ? o->origin_addr : "0.0.0.0";
	*err = SDP_OK;
	if (!*addr || !one_line(addr, false) ||
	    (o->session_name && !one_line(o->session_name, true)))
		return -EINVAL;
	*err = sdp_parse(text, len, sp);
	if (*err != SDP_OK)
		return -EINVAL;

	struct strbuf w = { buf, cap, 0, cap == 0 || cap > INT32_MAX };
	if (cap)
		buf[0] = '\0';
	struct lines it = { text, text + len };
	struct sdp_str l;
	int sec = -1;             /* current media section, -1 = session */
	bool need_conn = sp->conn.p == NULL, sec_control = false;
	char tmp[160];
	while (next_line(&it, &l)) {
		if (l.len == 0)
			continue;
		char k = l.p[0];
		if (sec < 0 && need_conn && strchr("btrzkam", k)) {
			strbuf_puts(&w, "c=IN IP4 0.0.0.0\r\n");
			need_conn = false;
		}
		if (k == 'm') {
			if (sec >= 0 && !sec_control)
				put_track(&w, sec);
			sec++;
			sec_control = false;
		}
		struct sdp_str v = { l.p + 2, l.len - 2 };
		if (k == 'o' && sec < 0) {
			int n = snprintf(tmp, sizeof(tmp), "o=- %llu %llu IN IP4 ",
					 (unsigned long long)o->sess_id,
					 (unsigned long long)o->sess_version);
			strbuf_put(&w, tmp, (size_t)n);
			strbuf_puts(&w, addr);
			strbuf_puts(&w, "\r\n");
		} else if (k == 's' && sec < 0 && o->session_name) {
			strbuf_puts(&w, "s=");
			strbuf_puts(&w, *o->session_name ? o->session_name : " ");
			strbuf_puts(&w, "\r\n");
		} else if (k == 'c') {
			strbuf_puts(&w, "c=IN IP4 0.0.0.0\r\n");
		} else if (k == 'a' && attr_is_control(v)) {
			if (sec < 0) {
				strbuf_puts(&w, "a=control:*\r\n");
			} else if (!sec_control) {
				put_track(&w, sec);
				sec_control = true;
			}
		} else {
			strbuf_put(&w, l.p, l.len);
			strbuf_puts(&w, "\r\n");
		}
	}
	if (sec < 0 && need_conn)
		strbuf_puts(&w, "c=IN IP4 0.0.0.0\r\n");
	if (sec >= 0 && !sec_control)
		put_track(&w, sec);
	if (w.full)
		return -ENOSPC;
	return (int)w.len;
}
