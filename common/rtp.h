/*
 * rtp: the RTP fixed header (RFC 3550 §5.1) as a checked, read-only view.
 *
 * rtp_parse() validates everything the forwarder relies on before it looks
 * at a packet: version 2, the CSRC list, the header extension (its 4-byte
 * header and length, and for RFC 8285 one-byte / two-byte forms every
 * element), and the padding count. It returns a reason code (an rtp_err,
 * one drop counter each) and on success fills a struct rtp_hdr of host-order
 * fields and offsets into the caller's buffer; nothing is copied, nothing is
 * allocated, nothing outside [buf, buf+len) is ever read.
 *
 * RTP and RTCP may share a port (rtcp-mux, RFC 5761): call rtp_is_rtcp()
 * first; rtp_parse() itself does not reject payload types 64..95.
 */
#ifndef SP_RTP_H
#define SP_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RTP_HDR_LEN 12u      /* fixed header, no CSRC */
#define RTP_MAX_LEN 65535u   /* largest packet accepted (UDP, RFC 4571 framing) */

enum rtp_err {
	RTP_OK = 0,
	RTP_ERR_TOO_SHORT,  /* fewer than 12 bytes */
	RTP_ERR_TOO_LONG,   /* more than RTP_MAX_LEN bytes */
	RTP_ERR_VERSION,    /* version field is not 2 */
	RTP_ERR_CSRC,       /* CSRC list runs past the end */
	RTP_ERR_EXT_HDR,    /* X set but no room for the 4-byte extension header */
	RTP_ERR_EXT_LEN,    /* extension length runs past the end */
	RTP_ERR_EXT_ELEM,   /* RFC 8285 element runs past the extension */
	RTP_ERR_PAD_ZERO,   /* P set and padding count 0 (it counts itself) */
	RTP_ERR_PAD_LEN,    /* padding count larger than what follows the header */
	RTP_ERR__COUNT
};

enum rtp_ext_kind {
	RTP_EXT_NONE = 0,
	RTP_EXT_ONE_BYTE,   /* profile 0xBEDE (RFC 8285 §4.2) */
	RTP_EXT_TWO_BYTE,   /* profile 0x100X (RFC 8285 §4.3) */
	RTP_EXT_OTHER,      /* any other profile: opaque bytes */
};

/* A parsed packet. Offsets are from the start of the packet. */
struct rtp_hdr {
	bool padding;
	bool extension;
	bool marker;
	uint8_t cc;            /* CSRC count, 0..15 */
	uint8_t pt;            /* payload type, 0..127 */
	uint8_t ext_kind;      /* enum rtp_ext_kind */
	uint16_t seq;
	uint32_t ts;
	uint32_t ssrc;
	uint16_t ext_profile;  /* "defined by profile" field; 0 without extension */
	uint16_t ext_off;      /* extension data, after its 4-byte header */
	uint16_t ext_len;      /* bytes of extension data (4 * length field) */
	uint16_t payload_off;  /* == header length */
	uint16_t payload_len;  /* bytes of payload, padding excluded */
	uint8_t pad_len;       /* bytes of padding (count byte included) */
};

/* Parse and check one RTP packet. `out` is written only on RTP_OK. */
enum rtp_err rtp_parse(const uint8_t *buf, size_t len, struct rtp_hdr *out);

/* Stable, lowercase name of a reason (a drop counter label). */
const char *rtp_err_name(enum rtp_err err);

/* CSRC number `i` of a packet rtp_parse() accepted; 0 when i >= h->cc. */
static inline uint32_t rtp_csrc(const uint8_t *buf, const struct rtp_hdr *h, unsigned i)
{
	const uint8_t *p = buf + RTP_HDR_LEN + 4u * i;
	if (i >= h->cc)
		return 0;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Find RFC 8285 element `id` (1..14 one-byte, 1..255 two-byte) in a packet
 * rtp_parse() accepted. On success *off / *len locate its data; returns 0,
 * or -ENOENT (absent, or the extension is not RFC 8285).
 */
int rtp_ext_find(const uint8_t *buf, const struct rtp_hdr *h, uint8_t id,
		 uint16_t *off, uint16_t *len);

/*
 * RFC 5761 §4 demultiplexing: true when a datagram on an rtcp-mux port is
 * RTCP (version 2 and second byte 192..223, i.e. RTCP types 192..223, which
 * RTP payload types 64..95 with the marker set would collide with).
 */
bool rtp_is_rtcp(const uint8_t *buf, size_t len);

#endif
