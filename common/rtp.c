/*
 * rtp: RTP header parser (see rtp.h). Checks are ordered as the bytes are
 * laid out: fixed header, CSRC list, extension, then padding, which is
 * counted back from the end and must not reach into the header.
 */
#include "rtp.h"

#include <errno.h>

static const char *const err_names[RTP_ERR__COUNT] = {
	[RTP_OK] = "ok",
	[RTP_ERR_TOO_SHORT] = "rtp_too_short",
	[RTP_ERR_TOO_LONG] = "rtp_too_long",
	[RTP_ERR_VERSION] = "rtp_bad_version",
	[RTP_ERR_CSRC] = "rtp_csrc_truncated",
	[RTP_ERR_EXT_HDR] = "rtp_ext_hdr_truncated",
	[RTP_ERR_EXT_LEN] = "rtp_ext_len_overrun",
	[RTP_ERR_EXT_ELEM] = "rtp_ext_elem_overrun",
	[RTP_ERR_PAD_ZERO] = "rtp_pad_zero",
	[RTP_ERR_PAD_LEN] = "rtp_pad_overrun",
};

const char *rtp_err_name(enum rtp_err err)
{
	if ((unsigned)err >= RTP_ERR__COUNT)
		return "rtp_unknown";
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

/*
 * Walk the RFC 8285 elements in d[0..n). A zero byte is padding in both
 * forms (§4.1); in the one-byte form ID 15 ends processing (§4.2), and its
 * length is not trusted. Returns 1 and the element's data when `want` is
 * found, 0 at the end, -1 when an element runs past n.
 */
static int ext_walk(const uint8_t *d, size_t n, enum rtp_ext_kind kind, uint8_t want,
		    size_t *off, size_t *len)
{
	size_t i = 0;

	while (i < n) {
		uint8_t b = d[i];
		uint8_t id;
		size_t l, hl;

		if (b == 0) {
			i++;
			continue;
		}
		if (kind == RTP_EXT_ONE_BYTE) {
			id = b >> 4;
			if (id == 15)
				return 0;
			l = (size_t)(b & 0x0f) + 1;
			hl = 1;
		} else {
			if (n - i < 2)
				return -1;
			id = b;
			l = d[i + 1];
			hl = 2;
		}
		if (n - i - hl < l)
			return -1;
		if (want && id == want) {
			*off = i + hl;
			*len = l;
			return 1;
		}
		i += hl + l;
	}
	return 0;
}

static enum rtp_ext_kind ext_kind_of(uint16_t profile)
{
	if (profile == 0xBEDE)
		return RTP_EXT_ONE_BYTE;
	if ((profile & 0xfff0) == 0x1000)
		return RTP_EXT_TWO_BYTE;
	return RTP_EXT_OTHER;
}

enum rtp_err rtp_parse(const uint8_t *buf, size_t len, struct rtp_hdr *out)
{
	struct rtp_hdr h = { 0 };
	size_t off, payload;

	if (len < RTP_HDR_LEN)
		return RTP_ERR_TOO_SHORT;
	if (len > RTP_MAX_LEN)
		return RTP_ERR_TOO_LONG;
	if (buf[0] >> 6 != 2)
		return RTP_ERR_VERSION;

	h.padding = buf[0] & 0x20;
	h.extension = buf[0] & 0x10;
	h.cc = buf[0] & 0x0f;
	h.marker = buf[1] & 0x80;
	h.pt = buf[1] & 0x7f;
	h.seq = be16(buf + 2);
	h.ts = be32(buf + 4);
	h.ssrc = be32(buf + 8);

	off = RTP_HDR_LEN + 4u * h.cc;
	if (off > len)
		return RTP_ERR_CSRC;

	if (h.extension) {
		size_t ext_len;

		if (len - off < 4)
			return RTP_ERR_EXT_HDR;
		h.ext_profile = be16(buf + off);
		ext_len = 4u * be16(buf + off + 2);
		off += 4;
		if (len - off < ext_len)
			return RTP_ERR_EXT_LEN;
		h.ext_kind = (uint8_t)ext_kind_of(h.ext_profile);
		h.ext_off = (uint16_t)off;
		h.ext_len = (uint16_t)ext_len;
		if (h.ext_kind != RTP_EXT_OTHER) {
			size_t eo, el;

			if (ext_walk(buf + off, ext_len, (enum rtp_ext_kind)h.ext_kind, 0, &eo, &el) < 0)
				return RTP_ERR_EXT_ELEM;
		}
		off += ext_len;
	}

	payload = len - off;
	if (h.padding) {
		/* With nothing after the header the count byte would be header. */
		if (payload == 0)
			return RTP_ERR_PAD_LEN;
		h.pad_len = buf[len - 1];
		if (h.pad_len == 0)
			return RTP_ERR_PAD_ZERO;
		if (h.pad_len > payload)
			return RTP_ERR_PAD_LEN;
		payload -= h.pad_len;
	}
	h.payload_off = (uint16_t)off;
	h.payload_len = (uint16_t)payload;
	*out = h;
	return RTP_OK;
}

int rtp_ext_find(const uint8_t *buf, const struct rtp_hdr *h, uint8_t id,
		 uint16_t *off, uint16_t *len)
{
	size_t eo, el;

	if (id == 0 || (h->ext_kind != RTP_EXT_ONE_BYTE && h->ext_kind != RTP_EXT_TWO_BYTE))
		return -ENOENT;
	if (ext_walk(buf + h->ext_off, h->ext_len, (enum rtp_ext_kind)h->ext_kind, id, &eo, &el) != 1)
		return -ENOENT;
	*off = (uint16_t)(h->ext_off + eo);
	*len = (uint16_t)el;
	return 0;
}

bool rtp_is_rtcp(const uint8_t *buf, size_t len)
{
	return len >= 2 && buf[0] >> 6 == 2 && buf[1] >= 192 && buf[1] <= 223;
}
