/*
 * rtp_traffic: synthetic H.264 cameras (sender) and subscribers (receiver +
 * checker). See rtp_traffic.h for the stream layout and the addressing
 * trick that lets one socket play thousands of cameras or viewers.
 *
 * Cost per packet is what matters here: the tool must not be the bottleneck
 * of the forwarder it measures on a 2-core machine. The sender writes only
 * the 12-byte RTP header, 2 NAL bytes, the 32-byte stamp and the 8-byte tail
 * into pre-filled slot buffers and hands up to `batch` datagrams to one
 * sendmmsg; copies to several destinations share one slot. The receiver
 * drains with recvmmsg, reads the destination address (IP_PKTINFO) and the
 * kernel's arrival time (SO_TIMESTAMPNS) from the control messages, and keeps
 * a 1024-packet bitmap per subscriber for duplicates and reordering.
 *
 * SRTP: a camera with a leg protects each packet in its slot when queued
 * (stamp first: the stamp is in the encrypted payload); a subscriber with a
 * leg unprotects in place the sampled packets, or counts the others from
 * their clear RTP header (rx_srtp).
 */
#include "rtp_traffic.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/sock_diag.h>

#include "clock.h"

#define CAM_NET 32u   /* 127.32.0.0 .. 127.63.255.254 */
#define SUB_NET 64u   /* 127.64.0.0 .. 127.127.255.254 */
#define NET_SPAN 32u  /* second-octet values per range (cameras) */
#define SUB_SPAN 64u
#define TICK_NS 200000u /* sender wakes at most every ~200 us when idle */

/* ---------------------------------------------------------------- stream */

void rtpt_stream_default(struct rtpt_stream_cfg *s)
{
	*s = (struct rtpt_stream_cfg){ .pkt_size = 1200, .ppf = 4, .key_pkts = 12, .gop = 50,
				       .ssrc_base = 0x5b000000u, .pt = 96 };
}

int rtpt_stream_check(const struct rtpt_stream_cfg *s)
{
	if (s->pkt_size < RTPT_MIN_PKT || s->pkt_size > RTPT_MAX_PKT || s->ppf < 1 ||
	    s->key_pkts < 4 || s->gop < 1 || s->pt < 96 || s->pt > 127)
		return -EINVAL;
	if (s->ppf > 1000000u || s->key_pkts > 1000000u || s->gop > 1000000u)
		return -EINVAL;
	return 0;
}

uint64_t rtpt_pkts_per_gop(const struct rtpt_stream_cfg *s)
{
	return (uint64_t)s->key_pkts + (uint64_t)(s->gop - 1) * s->ppf;
}

void rtpt_pkt_layout(const struct rtpt_stream_cfg *s, uint64_t seq, struct rtpt_pkt_info *o)
{
	uint64_t per_gop = rtpt_pkts_per_gop(s);
	uint64_t pos = seq % per_gop;

	memset(o, 0, sizeof(*o));
	o->frame = seq / per_gop * s->gop;
	o->len = s->pkt_size;
	if (pos < s->key_pkts) {
		if (pos < 2) { /* SPS then PPS: small single NAL units */
			o->nal_type = pos == 0 ? 7 : 8;
			o->len = RTPT_PARAM_SET_LEN < s->pkt_size ? RTPT_PARAM_SET_LEN : s->pkt_size;
			o->key_start = pos == 0;
			return;
		}
		o->nal_type = 5;
		o->fu = true;
		o->fu_start = pos == 2;
		o->fu_end = o->marker = pos == s->key_pkts - 1;
		return;
	}
	pos -= s->key_pkts;
	o->frame += 1 + pos / s->ppf;
	pos %= s->ppf;
	o->nal_type = 1;
	if (s->ppf == 1) {
		o->marker = true;
		return;
	}
	o->fu = true;
	o->fu_start = pos == 0;
	o->fu_end = o->marker = pos == s->ppf - 1;
}

/* ------------------------------------------------------------- addresses */

static uint32_t ip_of(uint32_t net, uint32_t idx)
{
	uint32_t o4 = idx % 254 + 1, rest = idx / 254;
	return (127u << 24) | ((net + rest / 256) << 16) | ((rest % 256) << 8) | o4;
}

uint32_t rtpt_camera_ip(uint32_t cam) { return ip_of(CAM_NET, cam); }

static int64_t camera_index(uint32_t ip)
{
	uint32_t o1 = ip >> 24, o2 = (ip >> 16) & 255, o3 = (ip >> 8) & 255, o4 = ip & 255;

	if (o1 != 127 || o2 < CAM_NET || o2 >= CAM_NET + NET_SPAN || o4 < 1 || o4 > 254)
		return -1;
	return ((int64_t)(o2 - CAM_NET) * 256 + o3) * 254 + (o4 - 1);
}
uint32_t rtpt_sub_ip(uint32_t sub) { return ip_of(SUB_NET, sub); }

int64_t rtpt_sub_index(uint32_t ip)
{
	uint32_t o1 = ip >> 24, o2 = (ip >> 16) & 255, o3 = (ip >> 8) & 255, o4 = ip & 255;

	if (o1 != 127 || o2 < SUB_NET || o2 >= SUB_NET + SUB_SPAN || o4 < 1 || o4 > 254)
		return -1;
	return ((int64_t)(o2 - SUB_NET) * 256 + o3) * 254 + (o4 - 1);
}

/* ---------------------------------------------------------------- packets */

static inline uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static inline uint64_t tail_word(uint32_t cam, uint32_t epoch, uint64_t seq)
{
	return mix64(mix64(((uint64_t)cam << 32) | epoch) ^ seq);
}

static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* NAL header byte: NRI 3 for parameter sets and IDR, 2 for other slices. */
static inline uint8_t nal_hdr(uint8_t type) { return (uint8_t)(((type == 1 ? 2 : 3) << 5) | type); }

/* Everything but the filler: header, NAL/FU bytes, stamp, tail. */
static uint32_t build_head(const struct rtpt_stream_cfg *s, const struct rtpt_pkt_info *in,
			   uint32_t cam, uint32_t epoch, uint64_t seq, uint16_t rtp_seq,
			   uint32_t rtp_ts, uint8_t *b)
{
	uint32_t zero = 0;
	uint64_t tail = tail_word(cam, epoch, seq), t0 = 0;
	uint32_t magic = RTPT_MAGIC;
	uint8_t *st = b + RTPT_RTP_HDR + RTPT_STAMP_OFF;

	b[0] = 0x80;
	b[1] = (uint8_t)((in->marker ? 0x80 : 0) | s->pt);
	put16(b + 2, rtp_seq);
	put32(b + 4, rtp_ts);
	put32(b + 8, s->ssrc_base + cam);
	if (in->fu) {
		b[12] = (uint8_t)((nal_hdr(in->nal_type) & 0x60) | 28);
		b[13] = (uint8_t)((in->fu_start ? 0x80 : 0) | (in->fu_end ? 0x40 : 0) | in->nal_type);
	} else {
		b[12] = nal_hdr(in->nal_type);
		b[13] = 0x88; /* first byte of the NAL payload: any value */
	}
	/* The stamp is host-endian: only this program writes and reads it. */
	memcpy(st, &magic, 4);
	memcpy(st + 4, &cam, 4);
	memcpy(st + 8, &epoch, 4);
	memcpy(st + 12, &zero, 4);
	memcpy(st + 16, &seq, 8);
	memcpy(st + 24, &t0, 8);
	memcpy(b + in->len - RTPT_TAIL_LEN, &tail, 8);
	return in->len;
}

uint32_t rtpt_build(const struct rtpt_stream_cfg *s, uint32_t cam, uint32_t epoch, uint64_t seq,
		    uint16_t rtp_seq, uint32_t rtp_ts, uint8_t *buf)
{
	struct rtpt_pkt_info in;

	rtpt_pkt_layout(s, seq, &in);
	memset(buf, 0x5a, in.len);
	return build_head(s, &in, cam, epoch, seq, rtp_seq, rtp_ts, buf);
}

void rtpt_set_send_ns(uint8_t *buf, uint64_t send_ns)
{
	memcpy(buf + RTPT_RTP_HDR + RTPT_STAMP_OFF + 24, &send_ns, 8);
}

enum rtpt_parse_status rtpt_parse(const uint8_t *p, uint32_t len, struct rtpt_stamp *st)
{
	uint32_t off, magic;
	const uint8_t *s;

	if (len < 2)
		return RTPT_SHORT;
	if ((p[0] >> 6) != 2)
		return RTPT_NOT_RTP;
	if (p[1] >= 200 && p[1] <= 206) /* RTCP SR..PSFB on a muxed port (RFC 5761) */
		return RTPT_RTCP;
	if (len < RTPT_RTP_HDR)
		return RTPT_SHORT;
	off = RTPT_RTP_HDR + 4u * (p[0] & 0x0f);
	if (p[0] & 0x10) { /* header extension: 4-byte header + length words */
		if (len < off + 4)
			return RTPT_SHORT;
		off += 4 + 4u * (((uint32_t)p[off + 2] << 8) | p[off + 3]);
	}
	if (len < off + RTPT_STAMP_OFF + RTPT_STAMP_LEN + RTPT_TAIL_LEN)
		return RTPT_SHORT;
	s = p + off + RTPT_STAMP_OFF;
	memcpy(&magic, s, 4);
	if (magic != RTPT_MAGIC)
		return RTPT_NO_STAMP;
	memcpy(&st->cam, s + 4, 4);
	memcpy(&st->epoch, s + 8, 4);
	memcpy(&st->seq, s + 16, 8);
	memcpy(&st->send_ns, s + 24, 8);
	st->ssrc = get32(p + 8);
	st->rtp_seq = (uint16_t)(p[2] << 8 | p[3]);
	st->payload_off = off;
	return RTPT_OK;
}

bool rtpt_verify(const struct rtpt_stream_cfg *s, const uint8_t *p, uint32_t len,
		 const struct rtpt_stamp *st)
{
	struct rtpt_pkt_info in;
	const uint8_t *pl = p + st->payload_off;
	uint64_t tail;

	rtpt_pkt_layout(s, st->seq, &in);
	/* Compare payload lengths: a forwarder may add CSRCs or an extension. */
	if (len < st->payload_off || len - st->payload_off != in.len - RTPT_RTP_HDR)
		return false;
	memcpy(&tail, p + len - RTPT_TAIL_LEN, 8);
	if (tail != tail_word(st->cam, st->epoch, st->seq))
		return false;
	if (((p[1] & 0x80) != 0) != in.marker)
		return false;
	if (in.fu)
		return (pl[0] & 0x1f) == 28 &&
		       pl[1] == (uint8_t)((in.fu_start ? 0x80 : 0) | (in.fu_end ? 0x40 : 0) | in.nal_type);
	return (pl[0] & 0x1f) == in.nal_type;
}

/* -------------------------------------------------------------- histogram */

static inline unsigned hist_idx(uint64_t v)
{
	unsigned msb, shift;

	if (v < (1u << (RTPT_HIST_SUB + 1)))
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - RTPT_HIST_SUB;
	return ((shift + 1) << RTPT_HIST_SUB) | (unsigned)((v >> shift) & ((1u << RTPT_HIST_SUB) - 1));
}

/* Middle of bucket i. */
static uint64_t hist_value(unsigned i)
{
	unsigned shift;

	if (i < (1u << (RTPT_HIST_SUB + 1)))
		return i;
	shift = (i >> RTPT_HIST_SUB) - 1;
	return (((uint64_t)(i & ((1u << RTPT_HIST_SUB) - 1)) | (1u << RTPT_HIST_SUB)) << shift) +
	       ((1ull << shift) >> 1);
}

void rtpt_hist_reset(struct rtpt_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void rtpt_hist_add(struct rtpt_hist *h, uint64_t v)
{
	h->n++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
	if (v < h->min)
		h->min = v;
	h->b[hist_idx(v)]++;
}

void rtpt_hist_merge(struct rtpt_hist *d, const struct rtpt_hist *s)
{
	d->n += s->n;
	d->sum += s->sum;
	if (s->max > d->max)
		d->max = s->max;
	if (s->min < d->min)
		d->min = s->min;
	for (unsigned i = 0; i < RTPT_HIST_BUCKETS; i++)
		d->b[i] += s->b[i];
}

uint64_t rtpt_hist_quantile(const struct rtpt_hist *h, double q)
{
	uint64_t rank, acc = 0, v;

	if (!h->n)
		return 0;
	if (q <= 0)
		return h->min;
	if (q >= 1)
		return h->max;
	rank = (uint64_t)(q * (double)h->n);
	if (rank >= h->n)
		rank = h->n - 1;
	for (unsigned i = 0; i < RTPT_HIST_BUCKETS; i++) {
		acc += h->b[i];
		if (acc > rank) {
			v = hist_value(i);
			return v > h->max ? h->max : v < h->min ? h->min : v;
		}
	}
	return h->max;
}

/* ----------------------------------------------------------------- helpers */

int rtpt_set_bufsize(int fd, int opt_force, int opt, int bytes)
{
	int v = 0;
	socklen_t l = sizeof(v);

	if (bytes > 0 && setsockopt(fd, SOL_SOCKET, opt_force, &bytes, sizeof(bytes)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof(bytes));
	if (getsockopt(fd, SOL_SOCKET, opt, &v, &l) < 0)
		return -errno;
	return v;
}

static int64_t udp_drops_file(const char *path, uint16_t port, const uint64_t *mask, int64_t *sum)
{
	char line[512];
	FILE *f = fopen(path, "re");

	if (!f)
		return errno == ENOENT ? 0 : -errno;
	if (!fgets(line, sizeof(line), f)) { /* header */
		fclose(f);
		return 0;
	}
	while (fgets(line, sizeof(line), f)) {
		char *tok[16], *save = NULL, *colon;
		unsigned n = 0, p;

		for (char *t = strtok_r(line, " \t\n", &save); t && n < 16; t = strtok_r(NULL, " \t\n", &save))
			tok[n++] = t;
		if (n < 13 || !(colon = strrchr(tok[1], ':')))
			continue;
		p = (unsigned)strtoul(colon + 1, NULL, 16);
		if (p > 65535)
			continue;
		if (mask ? (mask[p >> 6] >> (p & 63)) & 1 : p == port)
			*sum += strtoll(tok[12], NULL, 10);
	}
	fclose(f);
	return 0;
}

int64_t rtpt_udp_drops(uint16_t port, const uint64_t *ports_mask)
{
	int64_t sum = 0, rc;

	if ((rc = udp_drops_file("/proc/net/udp", port, ports_mask, &sum)) < 0)
		return rc;
	if ((rc = udp_drops_file("/proc/net/udp6", port, ports_mask, &sum)) < 0)
		return rc;
	return sum;
}

int64_t rtpt_snmp_rcvbuf_errors(void)
{
	char hdr[1024], val[1024];
	FILE *f = fopen("/proc/net/snmp", "re");
	int64_t out = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(hdr, sizeof(hdr), f)) {
		char *hs = NULL, *vs = NULL, *h, *v;

		if (strncmp(hdr, "Udp:", 4) || !fgets(val, sizeof(val), f))
			continue;
		h = strtok_r(hdr, " \n", &hs);
		v = strtok_r(val, " \n", &vs);
		while (h && v) {
			if (!strcmp(h, "RcvbufErrors")) {
				out = strtoll(v, NULL, 10);
				break;
			}
			h = strtok_r(NULL, " \n", &hs);
			v = strtok_r(NULL, " \n", &vs);
		}
		break;
	}
	fclose(f);
	return out;
}

/* ------------------------------------------------------------------ sender */

struct cam_state {
	uint64_t seq;        /* next sequence in this epoch */
	uint64_t frames_done; /* frames of earlier epochs: keeps the RTP timestamp going */
	uint32_t ts_base;
	uint16_t rtp_seq;
};

#define TX_CTL_LEN CMSG_SPACE(sizeof(struct in_pktinfo))

struct rtpt_sender {
	struct rtpt_sender_cfg cfg;
	int fd;
	uint16_t port;
	uint32_t epoch;
	struct sockaddr_in *dst;        /* cameras * copies */
	struct cam_state *cams;
	struct mmsghdr *msgs;
	struct iovec *iov;
	uint8_t *slots;                 /* batch * slot_size, filler written once */
	uint8_t *ctl;                   /* batch * TX_CTL_LEN */
	uint32_t slot_size;
	uint32_t n_msgs, n_slots;
	uint64_t datagrams, errors, syscalls;
	srtp_leg **srtp;                /* per camera, NULL until a leg is set */
	bool srtp_on;                   /* stamp at queue time */
	uint64_t srtp_errors;
	/* rtpt_sender_prepare: packets built (and protected) ahead of a run. */
	uint8_t *prep;                  /* prep_n * slot_size */
	uint32_t *prep_len, *prep_cam;
	uint64_t prep_n, prep_next, prepared_sent;
	uint64_t *prep_unsent;          /* per camera: prepared, not sent yet */
};

rtpt_sender *rtpt_sender_create(const struct rtpt_sender_cfg *cfg)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	rtpt_sender *tx;
	int on = 1, err;

	if (rtpt_stream_check(&cfg->stream) || !cfg->cameras || cfg->cameras > RTPT_MAX_ADDRS / 2 ||
	    !cfg->copies || (uint64_t)cfg->cameras * cfg->copies > RTPT_MAX_ADDRS ||
	    !cfg->batch || cfg->batch > RTPT_MAX_BATCH) {
		errno = EINVAL;
		return NULL;
	}
	if (!(tx = calloc(1, sizeof(*tx)))) {
		errno = ENOMEM;
		return NULL;
	}
	tx->cfg = *cfg;
	tx->fd = -1;
	/* Room for an SRTP tag (for 1200-byte packets still 1216 bytes). */
	tx->slot_size = (cfg->stream.pkt_size + SRTP_LEG_RTP_MAX_OVERHEAD + 63) & ~63u;
	tx->dst = calloc((size_t)cfg->cameras * cfg->copies, sizeof(*tx->dst));
	tx->cams = calloc(cfg->cameras, sizeof(*tx->cams));
	tx->msgs = calloc(cfg->batch, sizeof(*tx->msgs));
	tx->iov = calloc(cfg->batch, sizeof(*tx->iov));
	tx->slots = malloc((size_t)cfg->batch * tx->slot_size);
	tx->ctl = calloc(cfg->batch, TX_CTL_LEN);
	if (!tx->dst || !tx->cams || !tx->msgs || !tx->iov || !tx->slots || !tx->ctl) {
		err = ENOMEM;
		goto fail;
	}
	memset(tx->slots, 0x5a, (size_t)cfg->batch * tx->slot_size);
	for (uint32_t c = 0; c < cfg->cameras; c++) {
		/* Distinct, deterministic starting points, like real cameras. */
		uint64_t r = mix64(cfg->stream.ssrc_base + c);
		tx->cams[c].rtp_seq = (uint16_t)r;
		tx->cams[c].ts_base = (uint32_t)(r >> 32);
	}
	tx->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (tx->fd < 0) {
		err = errno;
		goto fail;
	}
	if (cfg->sndbuf > 0)
		rtpt_set_bufsize(tx->fd, SO_SNDBUFFORCE, SO_SNDBUF, cfg->sndbuf);
	/* Bound to the wildcard so IP_PKTINFO may pick any 127/8 source. */
	sa.sin_addr.s_addr = htonl(cfg->camera_sources ? INADDR_ANY : INADDR_LOOPBACK);
	sa.sin_port = htons(cfg->src_port);
	(void)setsockopt(tx->fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(tx->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(tx->fd, (struct sockaddr *)&sa, &sl) < 0) {
		err = errno;
		goto fail;
	}
	tx->port = ntohs(sa.sin_port);
	/* Feedback to the cameras is told apart by its destination address. */
	(void)setsockopt(tx->fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on));
	for (uint32_t i = 0; i < cfg->batch; i++) {
		tx->msgs[i].msg_hdr.msg_iov = &tx->iov[i];
		tx->msgs[i].msg_hdr.msg_iovlen = 1;
		tx->msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
	}
	return tx;
fail:
	rtpt_sender_destroy(tx);
	errno = err;
	return NULL;
}

void rtpt_sender_destroy(rtpt_sender *tx)
{
	if (!tx)
		return;
	if (tx->fd >= 0)
		close(tx->fd);
	free(tx->dst);
	free(tx->cams);
	free(tx->msgs);
	free(tx->iov);
	free(tx->slots);
	free(tx->ctl);
	free(tx->srtp);
	free(tx->prep);
	free(tx->prep_len);
	free(tx->prep_cam);
	free(tx->prep_unsent);
	free(tx);
}

/* Forget what was prepared and not sent: those sequence numbers are
 * skipped (they were protected once already and must not be again). */
static void prep_drop(rtpt_sender *tx)
{
	free(tx->prep);
	free(tx->prep_len);
	free(tx->prep_cam);
	tx->prep = NULL;
	tx->prep_len = tx->prep_cam = NULL;
	tx->prep_n = tx->prep_next = 0;
	if (tx->prep_unsent)
		memset(tx->prep_unsent, 0, tx->cfg.cameras * sizeof(*tx->prep_unsent));
}

/* Build (and with a leg, stamp and protect) camera cam's next packet into
 * slot; returns its length. */
static uint32_t tx_build(rtpt_sender *tx, uint32_t cam, uint8_t *slot, uint64_t send_ns)
{
	struct cam_state *cs = &tx->cams[cam];
	struct rtpt_pkt_info in;
	uint32_t len;

	rtpt_pkt_layout(&tx->cfg.stream, cs->seq, &in);
	len = build_head(&tx->cfg.stream, &in, cam, tx->epoch, cs->seq, cs->rtp_seq,
			 cs->ts_base + (uint32_t)((cs->frames_done + in.frame) * 3600u), slot);
	if (tx->srtp_on) {
		rtpt_set_send_ns(slot, send_ns);
		if (tx->srtp[cam]) {
			size_t out = len;
			/* In place; a refused packet goes out as it is and the
			 * subscribers count it as an authentication failure. */
			if (srtp_leg_protect_rtp(tx->srtp[cam], slot, len, slot, tx->slot_size, &out) == SRTP_LEG_OK)
				len = (uint32_t)out;
			else
				tx->srtp_errors++;
		}
	}
	cs->seq++;
	cs->rtp_seq++;
	return len;
}

int rtpt_sender_prepare(rtpt_sender *tx, uint64_t n)
{
	uint32_t cams = tx->cfg.cameras;

	prep_drop(tx);
	if (!n)
		return 0;
	if (n > SIZE_MAX / tx->slot_size)
		return -ENOMEM;
	if (!tx->prep_unsent && !(tx->prep_unsent = calloc(cams, sizeof(*tx->prep_unsent))))
		return -ENOMEM;
	tx->prep = malloc(n * tx->slot_size);
	tx->prep_len = malloc(n * sizeof(*tx->prep_len));
	tx->prep_cam = malloc(n * sizeof(*tx->prep_cam));
	if (!tx->prep || !tx->prep_len || !tx->prep_cam) {
		prep_drop(tx);
		return -ENOMEM;
	}
	/* The order rtpt_sender_run sends in: packet g from camera g % cams. */
	for (uint64_t g = 0; g < n; g++) {
		uint8_t *slot = tx->prep + g * tx->slot_size;
		uint32_t cam = (uint32_t)(g % cams);

		memset(slot, 0x5a, tx->cfg.stream.pkt_size);
		/* No send time: the stamp's 0 tells the checker to take no latency sample. */
		tx->prep_len[g] = tx_build(tx, cam, slot, 0);
		tx->prep_cam[g] = cam;
		tx->prep_unsent[cam]++;
	}
	tx->prep_n = n;
	return 0;
}

int rtpt_sender_set_srtp(rtpt_sender *tx, uint32_t cam, srtp_leg *leg)
{
	if (cam >= tx->cfg.cameras || (leg && srtp_leg_get_dir(leg) != SRTP_LEG_OUTBOUND))
		return -EINVAL;
	if (!tx->srtp && !(tx->srtp = calloc(tx->cfg.cameras, sizeof(*tx->srtp))))
		return -ENOMEM;
	tx->srtp[cam] = leg;
	tx->srtp_on = false;
	for (uint32_t c = 0; c < tx->cfg.cameras; c++)
		tx->srtp_on |= tx->srtp[c] != NULL;
	return 0;
}

uint16_t rtpt_sender_rtp_seq(const rtpt_sender *tx, uint32_t cam)
{
	return cam < tx->cfg.cameras ? tx->cams[cam].rtp_seq : 0;
}

int rtpt_sender_set_dest(rtpt_sender *tx, uint32_t cam, uint32_t copy, const struct sockaddr_in *dst)
{
	if (cam >= tx->cfg.cameras || copy >= tx->cfg.copies || dst->sin_family != AF_INET)
		return -EINVAL;
	tx->dst[(size_t)cam * tx->cfg.copies + copy] = *dst;
	return 0;
}

int rtpt_sender_source(const rtpt_sender *tx, uint32_t cam, struct sockaddr_in *out)
{
	if (cam >= tx->cfg.cameras)
		return -EINVAL;
	*out = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(tx->port) };
	out->sin_addr.s_addr = htonl(tx->cfg.camera_sources ? rtpt_camera_ip(cam) : INADDR_LOOPBACK);
	return 0;
}

void rtpt_sender_begin(rtpt_sender *tx, uint32_t epoch)
{
	struct rtpt_pkt_info in;

	prep_drop(tx);
	for (uint32_t c = 0; c < tx->cfg.cameras; c++) {
		struct cam_state *cs = &tx->cams[c];
		if (cs->seq) {
			rtpt_pkt_layout(&tx->cfg.stream, cs->seq - 1, &in);
			cs->frames_done += in.frame + 1;
		}
		cs->seq = 0;
	}
	tx->epoch = epoch;
}

uint64_t rtpt_sender_sent(const rtpt_sender *tx, uint32_t cam)
{
	if (cam >= tx->cfg.cameras)
		return 0;
	return tx->cams[cam].seq - (tx->prep_unsent ? tx->prep_unsent[cam] : 0);
}

void rtpt_feedback_count(const uint8_t *p, uint32_t len, struct rtpt_feedback *fb)
{
	uint32_t off = 0;

	if (len < 4 || (p[0] >> 6) != 2 || p[1] < 192 || p[1] > 223) {
		fb->not_rtcp++;
		return;
	}
	/* Compound packet: 4-byte headers, length in 32-bit words minus one. */
	while (off + 4 <= len) {
		uint8_t fmt = p[off] & 0x1f, pt = p[off + 1];
		uint32_t plen = 4u * (((uint32_t)p[off + 2] << 8 | p[off + 3]) + 1);

		if ((p[off] >> 6) != 2 || off + plen > len)
			break;
		if (pt == 206 && fmt == 1)
			fb->pli++;
		else if (pt == 206 && fmt == 4)
			fb->fir++;
		else if (pt == 205 && fmt == 1)
			fb->nack++;
		else
			fb->other++;
		off += plen;
	}
}

int rtpt_sender_poll_feedback(rtpt_sender *tx, struct rtpt_feedback *fb)
{
	uint8_t buf[2048], ctl[CMSG_SPACE(sizeof(struct in_pktinfo)) + 64];
	int n = 0;

	for (;;) {
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
				     .msg_controllen = sizeof(ctl) };
		ssize_t len = recvmsg(tx->fd, &mh, MSG_DONTWAIT);
		int64_t cam = -1;

		if (len < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? n : -errno;
		}
		n++;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo pi;
				uint32_t ip;
				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				ip = ntohl(pi.ipi_addr.s_addr);
				/* Without camera sources every camera is 127.0.0.1: camera 0. */
				cam = !tx->cfg.camera_sources ? 0 : camera_index(ip);
			}
		if (cam >= 0 && (uint64_t)cam < tx->cfg.cameras)
			rtpt_feedback_count(buf, (uint32_t)len, &fb[cam]);
	}
}

/* Hand the queued datagrams to the kernel; the stamp time is taken once,
 * right before, so it is as close to the wire as batching allows. */
static void tx_flush(rtpt_sender *tx)
{
	uint64_t now = clock_mono_ns();
	uint32_t off = 0;

	/* SRTP slots were stamped and sealed when queued. */
	for (uint32_t i = 0; i < tx->n_slots && !tx->srtp_on; i++)
		rtpt_set_send_ns(tx->slots + (size_t)i * tx->slot_size, now);
	while (off < tx->n_msgs) {
		int r = sendmmsg(tx->fd, tx->msgs + off, tx->n_msgs - off, 0);
		tx->syscalls++;
		if (r > 0) {
			off += (uint32_t)r;
			tx->datagrams += (uint64_t)r;
		} else if (r < 0 && errno == EINTR) {
			continue;
		} else if (r < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
			struct timespec ts = { 0, 20000 };
			nanosleep(&ts, NULL);
		} else {
			tx->errors++; /* skip the datagram the kernel refused */
			off++;
		}
	}
	tx->n_msgs = tx->n_slots = 0;
}

/* Queue the next packet of camera cam to all its destinations. */
static void tx_queue(rtpt_sender *tx, uint32_t cam)
{
	const struct rtpt_sender_cfg *cfg = &tx->cfg;
	uint8_t *slot;
	uint32_t ip = htonl(rtpt_camera_ip(cam)), len;

	if (tx->n_msgs && tx->n_msgs + cfg->copies > cfg->batch)
		tx_flush(tx);
	if (tx->prep_next < tx->prep_n && tx->prep_cam[tx->prep_next] == cam) {
		slot = tx->prep + tx->prep_next * tx->slot_size;
		len = tx->prep_len[tx->prep_next++];
		tx->prep_unsent[cam]--;
		tx->prepared_sent++;
	} else {
		slot = tx->slots + (size_t)tx->n_slots++ * tx->slot_size;
		len = tx_build(tx, cam, slot, tx->srtp_on ? clock_mono_ns() : 0);
	}
	for (uint32_t k = 0; k < cfg->copies; k++) {
		struct msghdr *mh;

		if (tx->n_msgs == cfg->batch) {
			/* More copies than a batch: the packet stays in slot 0. */
			uint32_t keep = tx->n_slots;
			tx_flush(tx);
			tx->n_slots = keep ? 1 : 0;
		}
		mh = &tx->msgs[tx->n_msgs].msg_hdr;
		tx->iov[tx->n_msgs].iov_base = slot;
		tx->iov[tx->n_msgs].iov_len = len;
		mh->msg_name = &tx->dst[(size_t)cam * cfg->copies + k];
		if (cfg->camera_sources) {
			uint8_t *cb = tx->ctl + (size_t)tx->n_msgs * TX_CTL_LEN;
			struct cmsghdr *cm = (struct cmsghdr *)(void *)cb;
			struct in_pktinfo pi = { 0 };

			pi.ipi_spec_dst.s_addr = ip;
			cm->cmsg_level = IPPROTO_IP;
			cm->cmsg_type = IP_PKTINFO;
			cm->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
			mh->msg_control = cb;
			mh->msg_controllen = TX_CTL_LEN;
		}
		tx->n_msgs++;
	}
}

int rtpt_sender_send(rtpt_sender *tx, uint32_t cam, uint32_t n)
{
	uint64_t e0 = tx->errors;

	if (cam >= tx->cfg.cameras)
		return -EINVAL;
	while (n--)
		tx_queue(tx, cam);
	tx_flush(tx);
	return tx->errors == e0 ? 0 : -EIO;
}

int rtpt_sender_run(rtpt_sender *tx, const struct rtpt_run *run, struct rtpt_send_report *out)
{
	uint64_t total, g = 0, t0, now, last = 0, d0 = tx->datagrams, e0 = tx->errors, s0 = tx->syscalls;
	uint64_t se0 = tx->srtp_errors, ps0 = tx->prepared_sent;
	uint32_t cams = tx->cfg.cameras, cam = 0;
	double ns_per_pkt;
	uint64_t gather;

	if (run->rate_pps <= 0 || !run->duration_ns)
		return -EINVAL;
	ns_per_pkt = 1e9 / run->rate_pps;
	total = (uint64_t)(run->rate_pps * (double)run->duration_ns / 1e9 + 0.5);
	/* When idle, sleep until this many packets are due (~TICK_NS worth). */
	gather = (uint64_t)((double)TICK_NS / ns_per_pkt);
	if (gather < 1)
		gather = 1;
	if (gather > tx->cfg.batch)
		gather = tx->cfg.batch;
	t0 = clock_mono_ns();
	while (g < total) {
		uint64_t due;

		if (run->stop && *run->stop)
			break;
		now = clock_mono_ns();
		due = (uint64_t)((double)(now - t0) / ns_per_pkt) + 1;
		if (due > total)
			due = total;
		if (due <= g) {
			struct timespec ts;
			uint64_t wake = t0 + (uint64_t)((double)(g + gather - 1) * ns_per_pkt);
			if (wake > now + 1000000)
				wake = now + 1000000;
			ts.tv_sec = (time_t)(wake / 1000000000u);
			ts.tv_nsec = (long)(wake % 1000000000u);
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
			continue;
		}
		/* Never queue more than two batches between clock reads. */
		if (due - g > 2u * tx->cfg.batch)
			due = g + 2u * tx->cfg.batch;
		while (g < due) {
			tx_queue(tx, cam);
			if (++cam == cams)
				cam = 0;
			g++;
		}
		tx_flush(tx);
		last = clock_mono_ns();
	}
	if (out) {
		uint64_t sched = total ? (uint64_t)((double)(total - 1) * ns_per_pkt) : 0;
		out->packets = g;
		out->datagrams = tx->datagrams - d0;
		out->errors = tx->errors - e0;
		out->syscalls = tx->syscalls - s0;
		out->elapsed_ns = last > t0 ? last - t0 : 0;
		out->behind_ns = out->elapsed_ns > sched ? out->elapsed_ns - sched : 0;
		out->srtp_errors = tx->srtp_errors - se0;
		out->prepared = tx->prepared_sent - ps0;
	}
	if (tx->prep_next == tx->prep_n)
		prep_drop(tx); /* all sent: give the memory back */
	return 0;
}

/* ---------------------------------------------------------------- receiver */

struct sub_state {
	uint64_t next;       /* highest sequence seen + 1 */
	uint64_t received, dups, late, too_old;
	uint64_t first_seq;
	uint8_t any, first_key;
	uint64_t win[RTPT_WINDOW / 64]; /* seen bits of [next - WINDOW, next), by seq % WINDOW */
};

#define RR_CAP (8 + SRTP_LEG_RTCP_MAX_OVERHEAD) /* an empty RR, protected */
#define RX_CTL_LEN (CMSG_SPACE(sizeof(struct in_pktinfo)) + CMSG_SPACE(sizeof(struct timespec)) + \
		    CMSG_SPACE(sizeof(uint32_t)) + 64)

struct rtpt_receiver {
	struct rtpt_receiver_cfg cfg;
	int fd;
	uint16_t port;
	uint32_t nsubs;
	uint32_t epoch;
	uint32_t buf_size;
	struct sub_state *subs;
	struct mmsghdr *msgs;
	struct iovec *iov;
	uint8_t *bufs;
	uint8_t *ctl;
	struct rtpt_hist hist;
	uint64_t misrouted, corrupt, unknown_dst, stale, foreign, rtcp, ssrc_mismatch, truncated;
	uint64_t recv_calls, lat_negative, user_ts;
	uint32_t drops_base;
	_Atomic uint64_t received;
	struct sockaddr_in *rtcp_dst;   /* per camera; sin_family 0: none */
	uint8_t (*rr)[RR_CAP];          /* batch receiver reports being sent */
	uint8_t *rr_ctl;                /* batch * TX_CTL_LEN */
	/* SRTP: per subscriber legs (NULL: plain), per camera sequence base. */
	srtp_leg **srtp_in, **srtcp_out;
	uint16_t *seq_base;
	uint64_t srtp_verified, srtp_counted, srtp_fail[SRTP_LEG_ERR__COUNT], srtcp_ok, srtcp_fail;
};

static uint32_t sock_drops(int fd)
{
	uint32_t mi[SK_MEMINFO_VARS] = { 0 };
	socklen_t l = sizeof(mi);

	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &l) < 0 || l <= SK_MEMINFO_DROPS * sizeof(uint32_t))
		return 0;
	return mi[SK_MEMINFO_DROPS];
}

rtpt_receiver *rtpt_receiver_create(const struct rtpt_receiver_cfg *cfg)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	rtpt_receiver *rx;
	uint64_t nsubs = (uint64_t)cfg->cameras * cfg->subs_per_cam;
	int on = 1, err;

	if (rtpt_stream_check(&cfg->stream) || !cfg->cameras || !cfg->subs_per_cam ||
	    nsubs > RTPT_MAX_ADDRS || !cfg->batch || cfg->batch > RTPT_MAX_BATCH) {
		errno = EINVAL;
		return NULL;
	}
	if (!(rx = calloc(1, sizeof(*rx)))) {
		errno = ENOMEM;
		return NULL;
	}
	rx->cfg = *cfg;
	rx->fd = -1;
	rx->nsubs = (uint32_t)nsubs;
	/* Room for longer datagrams than expected, so they show as corrupt. */
	rx->buf_size = (cfg->stream.pkt_size + 256 + 63) & ~63u;
	rx->subs = calloc(nsubs, sizeof(*rx->subs));
	rx->msgs = calloc(cfg->batch, sizeof(*rx->msgs));
	rx->iov = calloc(cfg->batch, sizeof(*rx->iov));
	rx->bufs = malloc((size_t)cfg->batch * rx->buf_size);
	rx->ctl = calloc(cfg->batch, RX_CTL_LEN);
	rx->rtcp_dst = calloc(cfg->cameras, sizeof(*rx->rtcp_dst));
	rx->rr = calloc(cfg->batch, sizeof(*rx->rr));
	rx->rr_ctl = calloc(cfg->batch, TX_CTL_LEN);
	if (!rx->subs || !rx->msgs || !rx->iov || !rx->bufs || !rx->ctl || !rx->rtcp_dst || !rx->rr ||
	    !rx->rr_ctl) {
		err = ENOMEM;
		goto fail;
	}
	rtpt_hist_reset(&rx->hist);
	rx->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (rx->fd < 0) {
		err = errno;
		goto fail;
	}
	if (setsockopt(rx->fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on)) < 0) {
		err = errno;
		goto fail;
	}
	(void)setsockopt(rx->fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
	if (cfg->rcvbuf > 0)
		rtpt_set_bufsize(rx->fd, SO_RCVBUFFORCE, SO_RCVBUF, cfg->rcvbuf);
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	sa.sin_port = htons(cfg->port);
	if (bind(rx->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(rx->fd, (struct sockaddr *)&sa, &sl) < 0) {
		err = errno;
		goto fail;
	}
	rx->port = ntohs(sa.sin_port);
	for (uint32_t i = 0; i < cfg->batch; i++) {
		rx->iov[i].iov_base = rx->bufs + (size_t)i * rx->buf_size;
		rx->iov[i].iov_len = rx->buf_size;
		rx->msgs[i].msg_hdr.msg_iov = &rx->iov[i];
		rx->msgs[i].msg_hdr.msg_iovlen = 1;
		rx->msgs[i].msg_hdr.msg_control = rx->ctl + (size_t)i * RX_CTL_LEN;
	}
	rtpt_receiver_begin(rx, 0);
	return rx;
fail:
	rtpt_receiver_destroy(rx);
	errno = err;
	return NULL;
}

void rtpt_receiver_destroy(rtpt_receiver *rx)
{
	if (!rx)
		return;
	if (rx->fd >= 0)
		close(rx->fd);
	free(rx->subs);
	free(rx->msgs);
	free(rx->iov);
	free(rx->bufs);
	free(rx->ctl);
	free(rx->rtcp_dst);
	free(rx->rr);
	free(rx->rr_ctl);
	free(rx->srtp_in);
	free(rx->srtcp_out);
	free(rx->seq_base);
	free(rx);
}

int rtpt_receiver_set_srtp(rtpt_receiver *rx, uint32_t cam, uint32_t j, srtp_leg *in, srtp_leg *rtcp_out)
{
	size_t s = (size_t)cam * rx->cfg.subs_per_cam + j;

	if (cam >= rx->cfg.cameras || j >= rx->cfg.subs_per_cam ||
	    (in && srtp_leg_get_dir(in) != SRTP_LEG_INBOUND) ||
	    (rtcp_out && srtp_leg_get_dir(rtcp_out) != SRTP_LEG_OUTBOUND))
		return -EINVAL;
	if (!rx->srtp_in) {
		rx->srtp_in = calloc(rx->nsubs, sizeof(*rx->srtp_in));
		rx->srtcp_out = calloc(rx->nsubs, sizeof(*rx->srtcp_out));
		if (!rx->seq_base)
			rx->seq_base = calloc(rx->cfg.cameras, sizeof(*rx->seq_base));
		if (!rx->srtp_in || !rx->srtcp_out || !rx->seq_base) {
			free(rx->srtp_in);
			free(rx->srtcp_out);
			rx->srtp_in = rx->srtcp_out = NULL;
			return -ENOMEM;
		}
	}
	rx->srtp_in[s] = in;
	rx->srtcp_out[s] = rtcp_out;
	return 0;
}

void rtpt_receiver_set_seq_base(rtpt_receiver *rx, uint32_t cam, uint16_t rtp_seq)
{
	if (cam >= rx->cfg.cameras)
		return;
	if (!rx->seq_base && !(rx->seq_base = calloc(rx->cfg.cameras, sizeof(*rx->seq_base))))
		return; /* only SRTP subscribers need it, and they allocated it */
	rx->seq_base[cam] = rtp_seq;
}

int rtpt_receiver_set_rtcp_dest(rtpt_receiver *rx, uint32_t cam, const struct sockaddr_in *dst)
{
	if (cam >= rx->cfg.cameras || dst->sin_family != AF_INET)
		return -EINVAL;
	rx->rtcp_dst[cam] = *dst;
	return 0;
}

/* Flush n queued reports; -EAGAIN when the socket is full. */
static int rr_flush(rtpt_receiver *rx, struct mmsghdr *m, unsigned n)
{
	unsigned off = 0;

	while (off < n) {
		int r = sendmmsg(rx->fd, m + off, n - off, MSG_DONTWAIT);
		if (r > 0)
			off += (unsigned)r;
		else if (r < 0 && errno == EINTR)
			continue;
		else if (r < 0 && (errno == EAGAIN || errno == ENOBUFS))
			return -EAGAIN;
		else
			off++; /* refused (no route, unreachable): skip that one */
	}
	return 0;
}

int rtpt_receiver_send_as(rtpt_receiver *rx, uint32_t cam, uint32_t j, const struct sockaddr_in *dst,
			  const void *buf, size_t len)
{
	uint8_t cb[TX_CTL_LEN];
	struct cmsghdr *cm = (struct cmsghdr *)(void *)cb;
	struct in_pktinfo pi = { 0 };
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_name = (void *)dst, .msg_namelen = sizeof(*dst), .msg_iov = &iov,
			     .msg_iovlen = 1, .msg_control = cb, .msg_controllen = sizeof(cb) };

	if (cam >= rx->cfg.cameras || j >= rx->cfg.subs_per_cam)
		return -EINVAL;
	memset(cb, 0, sizeof(cb));
	pi.ipi_spec_dst.s_addr = htonl(rtpt_sub_ip(cam * rx->cfg.subs_per_cam + j));
	cm->cmsg_level = IPPROTO_IP;
	cm->cmsg_type = IP_PKTINFO;
	cm->cmsg_len = CMSG_LEN(sizeof(pi));
	memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
	return sendmsg(rx->fd, &mh, 0) == (ssize_t)len ? 0 : -errno;
}

int rtpt_receiver_send_rr(rtpt_receiver *rx)
{
	struct mmsghdr m[RTPT_MAX_BATCH];
	struct iovec iov[RTPT_MAX_BATCH];
	unsigned n = 0;
	int sent = 0;

	memset(m, 0, sizeof(m[0]) * rx->cfg.batch);
	for (uint32_t s = 0; s < rx->nsubs; s++) {
		const struct sockaddr_in *dst = &rx->rtcp_dst[s / rx->cfg.subs_per_cam];
		struct cmsghdr *cm = (struct cmsghdr *)(void *)(rx->rr_ctl + (size_t)n * TX_CTL_LEN);
		struct in_pktinfo pi = { 0 };
		uint8_t *rr = rx->rr[n];
		size_t len = 8;

		if (!dst->sin_family)
			continue;
		/* RR with no report blocks: V=2 RC=0, PT 201, length 1, SSRC. */
		rr[0] = 0x80;
		rr[1] = 201;
		put16(rr + 2, 1);
		put32(rr + 4, 0x70000000u ^ s);
		if (rx->srtcp_out && rx->srtcp_out[s] &&
		    srtp_leg_protect_rtcp(rx->srtcp_out[s], rr, 8, rr, RR_CAP, &len) != SRTP_LEG_OK)
			continue;
		iov[n] = (struct iovec){ .iov_base = rr, .iov_len = len };
		pi.ipi_spec_dst.s_addr = htonl(rtpt_sub_ip(s));
		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		m[n].msg_hdr = (struct msghdr){ .msg_name = (void *)dst, .msg_namelen = sizeof(*dst),
						.msg_iov = &iov[n], .msg_iovlen = 1, .msg_control = cm,
						.msg_controllen = TX_CTL_LEN };
		if (++n == rx->cfg.batch) {
			if (rr_flush(rx, m, n) < 0)
				return sent;
			sent += (int)n;
			n = 0;
		}
	}
	if (n && rr_flush(rx, m, n) == 0)
		sent += (int)n;
	return sent;
}

uint16_t rtpt_receiver_port(const rtpt_receiver *rx) { return rx->port; }
int rtpt_receiver_fd(const rtpt_receiver *rx) { return rx->fd; }
const struct rtpt_hist *rtpt_receiver_hist(const rtpt_receiver *rx) { return &rx->hist; }

void rtpt_receiver_sub_addr(const rtpt_receiver *rx, uint32_t cam, uint32_t j, struct sockaddr_in *out)
{
	*out = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(rx->port) };
	out->sin_addr.s_addr = htonl(rtpt_sub_ip(cam * rx->cfg.subs_per_cam + j));
}

void rtpt_receiver_begin(rtpt_receiver *rx, uint32_t epoch)
{
	memset(rx->subs, 0, (size_t)rx->nsubs * sizeof(*rx->subs));
	rtpt_hist_reset(&rx->hist);
	rx->misrouted = rx->corrupt = rx->unknown_dst = rx->stale = rx->foreign = 0;
	rx->rtcp = rx->ssrc_mismatch = rx->truncated = rx->recv_calls = 0;
	rx->lat_negative = rx->user_ts = 0;
	rx->srtp_verified = rx->srtp_counted = rx->srtcp_ok = rx->srtcp_fail = 0;
	memset(rx->srtp_fail, 0, sizeof(rx->srtp_fail));
	rx->drops_base = sock_drops(rx->fd);
	atomic_store_explicit(&rx->received, 0, memory_order_relaxed);
	rx->epoch = epoch;
}

uint64_t rtpt_receiver_received(const rtpt_receiver *rx)
{
	return atomic_load_explicit(&rx->received, memory_order_relaxed);
}

/* Record seq at subscriber ss; returns 1 when it is new. */
static int sub_track(struct sub_state *ss, uint64_t seq, bool key_start)
{
	uint64_t bit = 1ull << (seq % 64);
	uint64_t *w = &ss->win[(seq % RTPT_WINDOW) / 64];

	if (!ss->any) {
		ss->any = 1;
		ss->first_seq = seq;
		ss->first_key = key_start;
		ss->next = seq + 1;
		*w |= bit;
		ss->received++;
		return 1;
	}
	if (seq >= ss->next) {
		/* Slots between the old and the new head now stand for new sequences. */
		if (seq - ss->next >= RTPT_WINDOW) {
			memset(ss->win, 0, sizeof(ss->win));
		} else {
			for (uint64_t s = ss->next; s < seq; s++)
				ss->win[(s % RTPT_WINDOW) / 64] &= ~(1ull << (s % 64));
		}
		*w |= bit;
		ss->next = seq + 1;
		ss->received++;
		return 1;
	}
	if (ss->next - seq > RTPT_WINDOW) {
		ss->too_old++;
		ss->late++;
		ss->received++;
		return 1;
	}
	if (*w & bit) {
		ss->dups++;
		return 0;
	}
	*w |= bit;
	ss->late++;
	ss->received++;
	return 1;
}

enum { SRTP_HANDLED, SRTP_DECRYPTED };

/* A datagram to SRTP subscriber `sub`: SRTCP is unprotected and counted; an
 * RTP packet in the sample is unprotected in place (*len becomes the plain
 * length, *seq what its stamp must say) for the caller's full check; any
 * other is counted here from its clear header (*fresh: it was new). */
static int rx_srtp(rtpt_receiver *rx, uint32_t sub, uint8_t *p, uint32_t *len, uint64_t *seq, unsigned *fresh)
{
	srtp_leg *leg = rx->srtp_in[sub];
	struct sub_state *ss = &rx->subs[sub];
	uint32_t cam = sub / rx->cfg.subs_per_cam, ssrc_cam, every = rx->cfg.verify_every;
	struct rtpt_pkt_info in;
	size_t l = *len;
	enum srtp_leg_err e;
	uint64_t ref;
	int64_t ext;

	*fresh = 0;
	if (*len >= 2 && (p[0] >> 6) == 2 && p[1] >= 200 && p[1] <= 206) {
		if (srtp_leg_unprotect_rtcp(leg, p, &l) == SRTP_LEG_OK)
			rx->srtcp_ok++;
		else
			rx->srtcp_fail++;
		rx->rtcp++;
		return SRTP_HANDLED;
	}
	if (*len < RTPT_RTP_HDR || (p[0] >> 6) != 2) {
		rx->foreign++;
		return SRTP_HANDLED;
	}
	ssrc_cam = get32(p + 8) - rx->cfg.stream.ssrc_base;
	if (ssrc_cam >= rx->cfg.cameras) {
		rx->foreign++;
		return SRTP_HANDLED;
	}
	if (ssrc_cam != cam) {
		rx->misrouted++;
		return SRTP_HANDLED;
	}
	/* Extend the 16-bit sequence around the highest one this subscriber
	 * has (RFC 3711's ROC guess); before the epoch's first: stale. */
	ref = ss->any ? ss->next - 1 : 0;
	ext = (int64_t)ref + (int16_t)(uint16_t)(get16(p + 2) - (uint16_t)(rx->seq_base[cam] + ref));
	if (ext < 0) {
		rx->stale++;
		return SRTP_HANDLED;
	}
	*seq = (uint64_t)ext;
	/* Each subscriber its own residue: together they check every sequence. */
	if (every <= 1 || *seq % every == sub % every) {
		if ((e = srtp_leg_unprotect_rtp(leg, p, &l)) != SRTP_LEG_OK) {
			rx->srtp_fail[e]++;
			return SRTP_HANDLED;
		}
		rx->srtp_verified++;
		*len = (uint32_t)l;
		return SRTP_DECRYPTED;
	}
	rtpt_pkt_layout(&rx->cfg.stream, *seq, &in);
	if (*len != in.len + srtp_leg_rtp_overhead(leg) || ((p[1] & 0x80) != 0) != in.marker) {
		rx->corrupt++;
		return SRTP_HANDLED;
	}
	rx->srtp_counted++;
	*fresh = (unsigned)sub_track(ss, *seq, in.key_start);
	return SRTP_HANDLED;
}

static unsigned rx_one(rtpt_receiver *rx, struct msghdr *mh, uint32_t len, uint64_t off_ns, uint64_t now_mono)
{
	uint8_t *p = mh->msg_iov[0].iov_base;
	struct rtpt_stamp st;
	struct rtpt_pkt_info in;
	int64_t sub = -1;
	uint64_t arrival = 0, want_seq = UINT64_MAX;
	enum rtpt_parse_status ps;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			sub = rtpt_sub_index(ntohl(pi.ipi_addr.s_addr));
		} else if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;
			memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
			arrival = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec - off_ns;
		}
	}
	if (mh->msg_flags & MSG_TRUNC) {
		rx->truncated++;
		return 0;
	}
	if (rx->srtp_in && sub >= 0 && (uint64_t)sub < rx->nsubs && rx->srtp_in[sub]) {
		unsigned fresh;
		if (rx_srtp(rx, (uint32_t)sub, p, &len, &want_seq, &fresh) == SRTP_HANDLED)
			return fresh;
	}
	ps = rtpt_parse(p, len, &st);
	if (ps == RTPT_RTCP) {
		rx->rtcp++;
		return 0;
	}
	if (ps != RTPT_OK) {
		rx->foreign++;
		return 0;
	}
	if (sub < 0 || (uint64_t)sub >= rx->nsubs) {
		rx->unknown_dst++;
		return 0;
	}
	if (st.epoch != rx->epoch) {
		rx->stale++;
		return 0;
	}
	if (st.cam >= rx->cfg.cameras || !rtpt_verify(&rx->cfg.stream, p, len, &st) ||
	    (want_seq != UINT64_MAX && st.seq != want_seq)) {
		rx->corrupt++;
		return 0;
	}
	if (st.cam != (uint64_t)sub / rx->cfg.subs_per_cam) {
		rx->misrouted++;
		return 0;
	}
	if (st.ssrc != rx->cfg.stream.ssrc_base + st.cam)
		rx->ssrc_mismatch++;
	if (!arrival) {
		arrival = now_mono;
		rx->user_ts++;
	}
	if (!st.send_ns)
		; /* built ahead of the run (rtpt_sender_prepare): no send time */
	else if (arrival >= st.send_ns)
		rtpt_hist_add(&rx->hist, arrival - st.send_ns);
	else
		rx->lat_negative++;
	rtpt_pkt_layout(&rx->cfg.stream, st.seq, &in);
	return (unsigned)sub_track(&rx->subs[sub], st.seq, in.key_start);
}

int rtpt_receiver_poll(rtpt_receiver *rx, int timeout_ms)
{
	int handled = 0;
	unsigned rounds = 0;
	bool waited = false;

	for (;;) {
		uint64_t mono, off, fresh;
		int n;

		for (uint32_t i = 0; i < rx->cfg.batch; i++) {
			rx->msgs[i].msg_hdr.msg_controllen = RX_CTL_LEN;
			rx->msgs[i].msg_hdr.msg_flags = 0;
		}
		n = recvmmsg(rx->fd, rx->msgs, rx->cfg.batch, MSG_DONTWAIT, NULL);
		rx->recv_calls++;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			if (handled || waited || timeout_ms <= 0)
				return handled;
			struct pollfd pfd = { .fd = rx->fd, .events = POLLIN };
			waited = true;
			if (poll(&pfd, 1, timeout_ms) <= 0)
				return handled;
			continue;
		}
		/* Kernel stamps are CLOCK_REALTIME; the stamp is CLOCK_MONOTONIC. */
		mono = clock_mono_ns();
		off = clock_real_ns() - mono;
		fresh = 0;
		for (int i = 0; i < n; i++)
			fresh += rx_one(rx, &rx->msgs[i].msg_hdr, rx->msgs[i].msg_len, off, mono);
		if (fresh)
			atomic_fetch_add_explicit(&rx->received, fresh, memory_order_relaxed);
		handled += n;
		/* A short batch means the queue is empty; a bounded number of
		 * full ones lets the caller do its housekeeping under load. */
		if ((uint32_t)n < rx->cfg.batch || ++rounds == 64)
			break;
	}
	return handled;
}

void rtpt_receiver_report(rtpt_receiver *rx, const uint64_t *sent, struct rtpt_rx_report *o)
{
	uint32_t per = rx->cfg.subs_per_cam;

	memset(o, 0, sizeof(*o));
	for (uint32_t s = 0; s < rx->nsubs; s++) {
		const struct sub_state *ss = &rx->subs[s];
		uint64_t exp = sent ? sent[s / per] : 0;

		o->expected += exp;
		o->received += ss->received;
		o->dups += ss->dups;
		o->late += ss->late;
		o->too_old += ss->too_old;
		if (ss->received < exp)
			o->subs_lossy++;
		if (ss->any && !ss->first_key)
			o->subs_first_not_key++;
	}
	o->lost = o->expected > o->received ? o->expected - o->received : 0;
	o->misrouted = rx->misrouted;
	o->corrupt = rx->corrupt;
	o->unknown_dst = rx->unknown_dst;
	o->stale = rx->stale;
	o->foreign = rx->foreign;
	o->rtcp = rx->rtcp;
	o->ssrc_mismatch = rx->ssrc_mismatch;
	o->truncated = rx->truncated;
	o->socket_drops = sock_drops(rx->fd) - rx->drops_base;
	o->recv_calls = rx->recv_calls;
	o->lat_n = rx->hist.n;
	o->lat_min_ns = rx->hist.n ? rx->hist.min : 0;
	o->lat_p50_ns = rtpt_hist_quantile(&rx->hist, 0.50);
	o->lat_p99_ns = rtpt_hist_quantile(&rx->hist, 0.99);
	o->lat_p999_ns = rtpt_hist_quantile(&rx->hist, 0.999);
	o->lat_max_ns = rx->hist.max;
	o->lat_negative = rx->lat_negative;
	o->kernel_timestamps = rx->user_ts == 0;
	o->srtp_verified = rx->srtp_verified;
	o->srtp_counted = rx->srtp_counted;
	o->srtcp_ok = rx->srtcp_ok;
	o->srtcp_fail = rx->srtcp_fail;
	for (int e = 0; e < SRTP_LEG_ERR__COUNT; e++) {
		o->srtp_fail[e] = rx->srtp_fail[e];
		o->srtp_fail_total += rx->srtp_fail[e];
	}
}

int rtpt_receiver_sub(const rtpt_receiver *rx, uint32_t cam, uint32_t j, struct rtpt_sub_report *o)
{
	const struct sub_state *ss;

	if (cam >= rx->cfg.cameras || j >= rx->cfg.subs_per_cam)
		return -EINVAL;
	ss = &rx->subs[(size_t)cam * rx->cfg.subs_per_cam + j];
	*o = (struct rtpt_sub_report){ .received = ss->received, .dups = ss->dups, .late = ss->late,
				       .too_old = ss->too_old, .first_seq = ss->first_seq,
				       .last_seq = ss->any ? ss->next - 1 : 0, .any = ss->any,
				       .first_key = ss->first_key };
	return 0;
}
