/*
 * rtcp: compound RTCP walk and builders (see rtcp.h).
 *
 * parse_one() is the single place that reads an RTCP packet: it checks the
 * common header against the bytes left, strips padding, then checks the
 * body of the types it knows. rtcp_iter_init() runs it over the whole
 * datagram before anything is yielded, so a bad second packet drops the
 * compound instead of leaving the first half acted upon.
 */
#include "rtcp.h"

#include <errno.h>

static const char *const err_names[RTCP_ERR__COUNT] = {
	[RTCP_OK] = "ok",
	[RTCP_ERR_EMPTY] = "rtcp_empty",
	[RTCP_ERR_TRUNC] = "rtcp_truncated",
	[RTCP_ERR_VERSION] = "rtcp_bad_version",
	[RTCP_ERR_LEN] = "rtcp_len_overrun",
	[RTCP_ERR_PAD] = "rtcp_bad_padding",
	[RTCP_ERR_SHORT] = "rtcp_body_short",
	[RTCP_ERR_SDES] = "rtcp_bad_sdes",
	[RTCP_ERR_BYE] = "rtcp_bad_bye",
	[RTCP_ERR_FCI] = "rtcp_bad_fci",
};

const char *rtcp_err_name(enum rtcp_err err)
{
	if ((unsigned)err >= RTCP_ERR__COUNT)
		return "rtcp_unknown";
	return err_names[err];
}

static inline uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * SDES (RFC 3550 §6.5): `sc` chunks of SSRC + items (type, length, text),
 * each list ended by a null octet and null-padded to 32 bits. Padding that
 * would run past a body whose RTCP padding was odd-sized is not demanded.
 */
static enum rtcp_err check_sdes(const uint8_t *b, size_t body, unsigned sc)
{
	size_t off = 0;

	for (unsigned c = 0; c < sc; c++) {
		if (body - off < 4)
			return RTCP_ERR_SDES;
		off += 4;
		for (;;) {
			if (off >= body)
				return RTCP_ERR_SDES; /* no terminating null item */
			if (b[off] == 0) {
				off++;
				break;
			}
			if (body - off < 2 || body - off - 2 < b[off + 1])
				return RTCP_ERR_SDES;
			off += 2u + b[off + 1];
		}
		off = (off + 3) & ~(size_t)3;
		if (off > body)
			off = body;
	}
	return RTCP_OK;
}

static enum rtcp_err check_fb(const struct rtcp_pkt *pkt)
{
	if (pkt->pt == RTCP_RTPFB && pkt->count == RTCP_FMT_NACK) {
		if (pkt->fci_len == 0 || pkt->fci_len % RTCP_NACK_ENTRY_LEN)
			return RTCP_ERR_FCI;
	} else if (pkt->pt == RTCP_PSFB && pkt->count == RTCP_FMT_PLI) {
		/* "PLI does not require parameters. Therefore, the length field MUST be 2." */
		if (pkt->fci_len != 0)
			return RTCP_ERR_FCI;
	} else if (pkt->pt == RTCP_PSFB && pkt->count == RTCP_FMT_FIR) {
		if (pkt->fci_len == 0 || pkt->fci_len % RTCP_FIR_ENTRY_LEN)
			return RTCP_ERR_FCI;
	}
	return RTCP_OK;
}

/* Check the packet at p with `avail` bytes left in the datagram. */
static enum rtcp_err parse_one(const uint8_t *p, size_t avail, struct rtcp_pkt *pkt, bool *known)
{
	size_t plen, body;
	const uint8_t *b;

	*known = false;
	if (avail < RTCP_HDR_LEN)
		return RTCP_ERR_TRUNC;
	if (p[0] >> 6 != 2)
		return RTCP_ERR_VERSION;
	plen = 4u * ((size_t)be16(p + 2) + 1);
	if (plen > avail)
		return RTCP_ERR_LEN;
	body = plen - RTCP_HDR_LEN;

	*pkt = (struct rtcp_pkt){
		.data = p,
		.len = (uint32_t)plen,
		.pt = p[1],
		.count = p[0] & 0x1f,
		.padding = p[0] & 0x20,
	};
	if (pkt->padding) {
		uint8_t pad = p[plen - 1];

		/* With an empty body the count byte would be the header's. */
		if (body == 0 || pad == 0 || pad > body)
			return RTCP_ERR_PAD;
		body -= pad;
	}
	pkt->body_len = (uint32_t)body;
	b = p + RTCP_HDR_LEN;

	switch (pkt->pt) {
	case RTCP_SR:
		if (body < 24u + (size_t)RTCP_RB_LEN * pkt->count)
			return RTCP_ERR_SHORT;
		pkt->ssrc = be32(b);
		break;
	case RTCP_RR:
		if (body < 4u + (size_t)RTCP_RB_LEN * pkt->count)
			return RTCP_ERR_SHORT;
		pkt->ssrc = be32(b);
		break;
	case RTCP_SDES: {
		enum rtcp_err e = check_sdes(b, body, pkt->count);

		if (e != RTCP_OK)
			return e;
		pkt->ssrc = pkt->count ? be32(b) : 0;
		break;
	}
	case RTCP_BYE: {
		size_t list = 4u * pkt->count;

		if (body < list)
			return RTCP_ERR_BYE;
		/* Optional reason: a length octet and that many bytes. */
		if (body > list && body - list - 1 < b[list])
			return RTCP_ERR_BYE;
		pkt->ssrc = pkt->count ? be32(b) : 0;
		break;
	}
	case RTCP_APP:
		if (body < 8) /* SSRC + 4-byte name */
			return RTCP_ERR_SHORT;
		pkt->ssrc = be32(b);
		break;
	case RTCP_RTPFB:
	case RTCP_PSFB: {
		enum rtcp_err e;

		if (body < 8)
			return RTCP_ERR_SHORT;
		pkt->ssrc = be32(b);
		pkt->media_ssrc = be32(b + 4);
		pkt->fci = b + 8;
		pkt->fci_len = (uint32_t)(body - 8);
		e = check_fb(pkt);
		if (e != RTCP_OK)
			return e;
		break;
	}
	default:
		return RTCP_OK; /* unknown type: length checked, body opaque */
	}
	*known = true;
	return RTCP_OK;
}

enum rtcp_err rtcp_iter_init(struct rtcp_iter *it, const uint8_t *buf, size_t len)
{
	struct rtcp_pkt pkt;
	size_t off = 0;
	uint32_t n_known = 0, n_unknown = 0;

	*it = (struct rtcp_iter){ .buf = buf };
	if (len == 0)
		return RTCP_ERR_EMPTY;
	while (off < len) {
		bool known;
		enum rtcp_err e = parse_one(buf + off, len - off, &pkt, &known);

		if (e != RTCP_OK)
			return e;
		if (known)
			n_known++;
		else
			n_unknown++;
		off += pkt.len;
	}
	it->len = len;
	it->n_pkts = n_known;
	it->n_unknown = n_unknown;
	return RTCP_OK;
}

bool rtcp_next(struct rtcp_iter *it, struct rtcp_pkt *pkt)
{
	while (it->off < it->len) {
		bool known;

		if (parse_one(it->buf + it->off, it->len - it->off, pkt, &known) != RTCP_OK) {
			it->off = it->len; /* cannot happen after a clean init */
			return false;
		}
		it->off += pkt->len;
		if (known)
			return true;
	}
	return false;
}

int rtcp_sr_info(const struct rtcp_pkt *p, struct rtcp_sender_info *si)
{
	const uint8_t *b = p->data + RTCP_HDR_LEN + 4;

	if (p->pt != RTCP_SR)
		return -EINVAL;
	si->ntp_sec = be32(b);
	si->ntp_frac = be32(b + 4);
	si->rtp_ts = be32(b + 8);
	si->pkt_count = be32(b + 12);
	si->octet_count = be32(b + 16);
	return 0;
}

int rtcp_report_block(const struct rtcp_pkt *p, unsigned i, struct rtcp_report_block *rb)
{
	const uint8_t *b;
	uint32_t lost;

	if (p->pt != RTCP_SR && p->pt != RTCP_RR)
		return -EINVAL;
	if (i >= p->count)
		return -ERANGE;
	b = p->data + RTCP_HDR_LEN + (p->pt == RTCP_SR ? 24u : 4u) + (size_t)RTCP_RB_LEN * i;
	lost = be32(b + 4) & 0xffffff;
	rb->ssrc = be32(b);
	rb->fraction_lost = b[4];
	rb->cum_lost = (lost & 0x800000) ? (int32_t)lost - 0x1000000 : (int32_t)lost;
	rb->ext_high_seq = be32(b + 8);
	rb->jitter = be32(b + 12);
	rb->lsr = be32(b + 16);
	rb->dlsr = be32(b + 20);
	return 0;
}

unsigned rtcp_fir_count(const struct rtcp_pkt *p)
{
	return rtcp_is_fir(p) ? p->fci_len / RTCP_FIR_ENTRY_LEN : 0;
}

int rtcp_fir_entry(const struct rtcp_pkt *p, unsigned i, struct rtcp_fir_entry *e)
{
	const uint8_t *b;

	if (!rtcp_is_fir(p))
		return -EINVAL;
	if (i >= rtcp_fir_count(p))
		return -ERANGE;
	b = p->fci + (size_t)RTCP_FIR_ENTRY_LEN * i;
	e->ssrc = be32(b);
	e->seq_nr = b[4];
	return 0;
}

/* Common header: V=2, P=0, count/FMT, PT, length in words minus one. */
static void put_hdr(uint8_t *buf, uint8_t count, uint8_t pt, size_t len)
{
	buf[0] = (uint8_t)(0x80 | (count & 0x1f));
	buf[1] = pt;
	put16(buf + 2, (uint16_t)(len / 4 - 1));
}

int rtcp_build_pli(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc)
{
	if (cap < RTCP_PLI_LEN)
		return -ENOSPC;
	put_hdr(buf, RTCP_FMT_PLI, RTCP_PSFB, RTCP_PLI_LEN);
	put32(buf + 4, sender_ssrc);
	put32(buf + 8, media_ssrc);
	return RTCP_PLI_LEN;
}

int rtcp_build_fir(uint8_t *buf, size_t cap, uint32_t sender_ssrc,
		   const struct rtcp_fir_entry *e, size_t n)
{
	size_t len;

	if (n == 0 || n > 8191) /* length field: 2 + 2n words < 65536 */
		return -EINVAL;
	len = 12 + RTCP_FIR_ENTRY_LEN * n;
	if (cap < len)
		return -ENOSPC;
	put_hdr(buf, RTCP_FMT_FIR, RTCP_PSFB, len);
	put32(buf + 4, sender_ssrc);
	put32(buf + 8, 0); /* RFC 5104 §4.3.1.2: media source SSRC SHALL be 0 */
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = buf + 12 + RTCP_FIR_ENTRY_LEN * i;

		put32(p, e[i].ssrc);
		p[4] = e[i].seq_nr;
		p[5] = p[6] = p[7] = 0;
	}
	return (int)len;
}

int rtcp_build_nack(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc,
		    const uint16_t *lost, size_t n)
{
	size_t off = 12;
	uint16_t pid = 0, blp = 0;

	if (n == 0)
		return -EINVAL;
	if (cap < 12 + RTCP_NACK_ENTRY_LEN)
		return -ENOSPC;
	for (size_t i = 0; i < n; i++) {
		uint16_t d = (uint16_t)(lost[i] - pid);

		if (i > 0 && d == 0)
			continue;
		if (i > 0 && d <= 16) {
			blp |= (uint16_t)(1u << (d - 1));
			continue;
		}
		if (i > 0) { /* close the current entry, open a new one */
			put16(buf + off, pid);
			put16(buf + off + 2, blp);
			off += RTCP_NACK_ENTRY_LEN;
			if (cap - off < RTCP_NACK_ENTRY_LEN || off / 4 > 65535)
				return -ENOSPC;
		}
		pid = lost[i];
		blp = 0;
	}
	put16(buf + off, pid);
	put16(buf + off + 2, blp);
	off += RTCP_NACK_ENTRY_LEN;
	put_hdr(buf, RTCP_FMT_NACK, RTCP_RTPFB, off);
	put32(buf + 4, sender_ssrc);
	put32(buf + 8, media_ssrc);
	return (int)off;
}

int rtcp_build_rr(uint8_t *buf, size_t cap, uint32_t sender_ssrc,
		  const struct rtcp_report_block *rb, size_t n)
{
	size_t len;

	if (n > RTCP_MAX_RB)
		return -EINVAL;
	len = 8 + RTCP_RB_LEN * n;
	if (cap < len)
		return -ENOSPC;
	put_hdr(buf, (uint8_t)n, RTCP_RR, len);
	put32(buf + 4, sender_ssrc);
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = buf + 8 + RTCP_RB_LEN * i;
		int32_t lost = rb[i].cum_lost;

		/* 24-bit signed on the wire: clamp, never wrap. */
		if (lost > 0x7fffff)
			lost = 0x7fffff;
		if (lost < -0x800000)
			lost = -0x800000;
		put32(p, rb[i].ssrc);
		put32(p + 4, (uint32_t)rb[i].fraction_lost << 24 | ((uint32_t)lost & 0xffffff));
		put32(p + 8, rb[i].ext_high_seq);
		put32(p + 12, rb[i].jitter);
		put32(p + 16, rb[i].lsr);
		put32(p + 20, rb[i].dlsr);
	}
	return (int)len;
}
