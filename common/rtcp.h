/*
 * rtcp: compound RTCP (RFC 3550 §6) as checked views, and the few packets
 * the forwarder writes itself.
 *
 * A compound datagram is accepted or dropped whole (RFC 3550 §A.2):
 * rtcp_iter_init() walks every packet first, checking version 2, that each
 * length field stays inside the datagram and the lengths add up to it, the
 * padding count, and per type that the body holds what its count says (SR /
 * RR report blocks, SDES chunks, BYE list and reason, APP name, feedback
 * FCI size for generic NACK, PLI and FIR). Only then does rtcp_next() hand
 * out the packets. Packet types it does not know (XR, future types) are
 * length-checked, skipped and counted in `n_unknown`; the walk goes on.
 *
 * The first packet is not required to be SR/RR: reduced-size RTCP (RFC
 * 5506, what browsers send) carries a lone PLI or NACK.
 *
 * Builders write PLI, FIR, generic NACK and RR into a caller buffer and
 * return the bytes written or a negative errno; packets concatenate into a
 * compound. Nothing here allocates or does I/O.
 */
#ifndef SP_RTCP_H
#define SP_RTCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rtcp_pt {
	RTCP_SR = 200,
	RTCP_RR = 201,
	RTCP_SDES = 202,
	RTCP_BYE = 203,
	RTCP_APP = 204,
	RTCP_RTPFB = 205, /* transport-layer feedback, RFC 4585 §6.2 */
	RTCP_PSFB = 206,  /* payload-specific feedback, RFC 4585 §6.3 */
};

enum {
	RTCP_FMT_NACK = 1, /* RTPFB: generic NACK (RFC 4585 §6.2.1) */
	RTCP_FMT_PLI = 1,  /* PSFB: picture loss (RFC 4585 §6.3.1) */
	RTCP_FMT_FIR = 4,  /* PSFB: full intra request (RFC 5104 §4.3.1) */
};

#define RTCP_HDR_LEN 4u
#define RTCP_RB_LEN 24u       /* one report block */
#define RTCP_MAX_RB 31u       /* 5-bit count */
#define RTCP_PLI_LEN 12u
#define RTCP_FIR_ENTRY_LEN 8u
#define RTCP_NACK_ENTRY_LEN 4u

enum rtcp_err {
	RTCP_OK = 0,
	RTCP_ERR_EMPTY,    /* zero-length datagram */
	RTCP_ERR_TRUNC,    /* fewer than 4 bytes left where a packet header should start */
	RTCP_ERR_VERSION,  /* version field is not 2 */
	RTCP_ERR_LEN,      /* a length field runs past the datagram */
	RTCP_ERR_PAD,      /* padding count 0 or larger than the packet body */
	RTCP_ERR_SHORT,    /* body too short for its type: SR/RR blocks, APP, feedback header */
	RTCP_ERR_SDES,     /* SDES chunk or item runs past its packet, or is unterminated */
	RTCP_ERR_BYE,      /* BYE SSRC list or reason runs past its packet */
	RTCP_ERR_FCI,      /* feedback FCI size wrong for NACK / PLI / FIR */
	RTCP_ERR__COUNT
};

/* One packet of a compound, valid while the datagram is. */
struct rtcp_pkt {
	const uint8_t *data;  /* the packet's 4-byte header */
	uint32_t len;         /* whole packet: 4 * (length field + 1) */
	uint32_t body_len;    /* after the header, padding removed */
	uint8_t pt;           /* enum rtcp_pt */
	uint8_t count;        /* RC, SC or FMT: the 5 low bits of byte 0 */
	bool padding;
	uint32_t ssrc;        /* sender SSRC; SDES/BYE: first SSRC (0 if none) */
	uint32_t media_ssrc;  /* RTPFB/PSFB: media source SSRC */
	const uint8_t *fci;   /* RTPFB/PSFB: feedback control information */
	uint32_t fci_len;
};

/* A compound being walked. Fields are read-only for the caller. */
struct rtcp_iter {
	const uint8_t *buf;
	size_t len;
	size_t off;
	uint32_t n_pkts;      /* known packets rtcp_next() will yield */
	uint32_t n_unknown;   /* packets of unknown type, skipped */
};

struct rtcp_sender_info {
	uint32_t ntp_sec;
	uint32_t ntp_frac;
	uint32_t rtp_ts;
	uint32_t pkt_count;
	uint32_t octet_count;
};

struct rtcp_report_block {
	uint32_t ssrc;
	uint8_t fraction_lost;
	int32_t cum_lost;      /* 24-bit signed on the wire */
	uint32_t ext_high_seq;
	uint32_t jitter;
	uint32_t lsr;
	uint32_t dlsr;
};

struct rtcp_fir_entry {
	uint32_t ssrc;
	uint8_t seq_nr;
};

/*
 * Check the whole compound in buf[0..len). On RTCP_OK the iterator yields
 * its known packets in order; on any error it yields nothing.
 */
enum rtcp_err rtcp_iter_init(struct rtcp_iter *it, const uint8_t *buf, size_t len);

/* Next known packet; false at the end. */
bool rtcp_next(struct rtcp_iter *it, struct rtcp_pkt *pkt);

const char *rtcp_err_name(enum rtcp_err err);

static inline bool rtcp_is_nack(const struct rtcp_pkt *p)
{
	return p->pt == RTCP_RTPFB && p->count == RTCP_FMT_NACK;
}

static inline bool rtcp_is_pli(const struct rtcp_pkt *p)
{
	return p->pt == RTCP_PSFB && p->count == RTCP_FMT_PLI;
}

static inline bool rtcp_is_fir(const struct rtcp_pkt *p)
{
	return p->pt == RTCP_PSFB && p->count == RTCP_FMT_FIR;
}

/* Sender info of an SR; -EINVAL for other types. */
int rtcp_sr_info(const struct rtcp_pkt *p, struct rtcp_sender_info *si);

/* Report block i (< p->count) of an SR or RR; -EINVAL / -ERANGE otherwise. */
int rtcp_report_block(const struct rtcp_pkt *p, unsigned i, struct rtcp_report_block *rb);

/* Number of FIR entries of a FIR packet (0 for other packets). */
unsigned rtcp_fir_count(const struct rtcp_pkt *p);

/* FIR entry i; -EINVAL / -ERANGE otherwise. */
int rtcp_fir_entry(const struct rtcp_pkt *p, unsigned i, struct rtcp_fir_entry *e);

/*
 * Builders: each writes one packet at buf and returns its length, or
 * -ENOSPC when cap is too small, -EINVAL for impossible arguments.
 */

/* PLI: 12 bytes (RFC 4585 §6.3.1). */
int rtcp_build_pli(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc);

/* FIR with n >= 1 entries (RFC 5104 §4.3.1); media SSRC field is 0 as required. */
int rtcp_build_fir(uint8_t *buf, size_t cap, uint32_t sender_ssrc,
		   const struct rtcp_fir_entry *e, size_t n);

/*
 * Generic NACK for n >= 1 lost sequence numbers. Each entry covers a PID and
 * the 16 numbers after it (BLP bit i = PID+i+1, wrapping at 65535). Any
 * order is reported correctly; ascending order (wrap-aware) packs tightest.
 * Duplicates are folded when they fall in the current entry.
 */
int rtcp_build_nack(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc,
		    const uint16_t *lost, size_t n);

/* RR with n <= 31 report blocks (RFC 3550 §6.4.2); n may be 0. */
int rtcp_build_rr(uint8_t *buf, size_t cap, uint32_t sender_ssrc,
		  const struct rtcp_report_block *rb, size_t n);

#endif
