/*
 * nack: the sequence-number side of loss repair and fast start.
 *
 * nack_expand() turns the FCI of an RTCP generic NACK (RFC 4585 §6.2.1:
 * entries of PID + 16-bit BLP) into the sequence numbers it asks for.
 *
 * nack_hist is a flow's bounded history of the last N packets it forwarded,
 * keyed by RTP sequence number, so that a viewer's NACK is answered from it
 * and a new viewer starts at the latest keyframe. It stores opaque 32-bit
 * buffer ids, never packet bytes: the data plane owns buffers and their
 * reference counts, and holds one reference for every id in a history.
 * Ownership moves as follows:
 *   - nack_hist_put() takes the caller's reference when it returns >= 0;
 *     when it returns 1 it hands back the reference of the entry it evicted
 *     (*evicted), which the caller must drop. On -EEXIST / -ERANGE it took
 *     nothing.
 *   - nack_hist_lookup() lends an id: valid until the next put or pop.
 *   - nack_hist_pop() hands back one reference per call (flow teardown).
 *
 * Slots are indexed by an extended (32-bit, wrap-counted) sequence number
 * modulo N, so a lookup checks both the slot's extended number and that it
 * lies in the window [newest - N + 1, newest]: 16-bit wrap-around at 65535
 * and the ring's own wrap are both exact, and an entry outliving its window
 * is never returned. A packet more than N behind the newest is refused
 * (-ERANGE); two consecutive such packets are taken as a sender restart
 * (RFC 3550 §A.1's resynchronisation) and the history moves to them.
 *
 * The keyframe mark: a packet put with KEYFRAME_START makes its access unit
 * the latest keyframe. The access unit begins at that packet, extended back
 * over the contiguous packets just before it that carry the same RTP
 * timestamp or are parameter sets (SPS/PPS/SEI precede the IDR slice), at
 * most NACK_HIST_AU_BACK of them. nack_hist_keyframe() returns where a fast
 * start begins, or false once that packet has left the history.
 */
#ifndef SP_NACK_H
#define SP_NACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keyframe.h"

#define NACK_MAX_PER_ENTRY 17u   /* PID + 16 BLP bits */
#define NACK_HIST_MAX 32768u     /* half the sequence space */
#define NACK_HIST_AU_BACK 64u    /* packets a keyframe start may reach back */

/*
 * Sequence numbers named by a generic NACK FCI (fci_len a multiple of 4;
 * a trailing partial entry is ignored), in FCI order, PID first then BLP
 * bits from least significant; PID + i wraps at 65535. Writes at most `max`
 * and returns the number written.
 */
size_t nack_expand(const uint8_t *fci, size_t fci_len, uint16_t *seqs, size_t max);

typedef struct nack_hist nack_hist;

/* One packet as the history stores it. */
struct nack_hist_pkt {
	uint16_t seq;
	uint16_t len;        /* packet length, for the sender */
	uint32_t ts;         /* RTP timestamp */
	uint32_t buf_id;     /* opaque buffer handle of the data plane */
	uint8_t kf;          /* enum keyframe_kind of the payload */
};

/* Bytes a history of `capacity` packets needs (0: capacity invalid). */
size_t nack_hist_memsize(uint32_t capacity);

/*
 * Build an empty history in caller memory (a preallocated pool slot, at
 * least nack_hist_memsize() bytes, aligned for uint64_t). `capacity` is a
 * power of two in [2, NACK_HIST_MAX]. NULL when either is wrong.
 */
nack_hist *nack_hist_init(void *mem, size_t size, uint32_t capacity);

/* Same, in memory of its own (flow setup, never per packet). */
nack_hist *nack_hist_create(uint32_t capacity);
/* Frees a nack_hist_create() history; entries must have been popped. */
void nack_hist_destroy(nack_hist *h);

/*
 * Store a packet. Returns 0 (stored), 1 (stored; *evicted is the buffer of
 * the entry it replaced), -EEXIST (that sequence number is already held:
 * a duplicate) or -ERANGE (older than the window: not stored).
 */
int nack_hist_put(nack_hist *h, const struct nack_hist_pkt *p, uint32_t *evicted);

/* The packet with sequence number `seq`, if still in the history. */
bool nack_hist_lookup(const nack_hist *h, uint16_t seq, struct nack_hist_pkt *out);

/* Where a fast start begins: first packet of the latest keyframe's access unit. */
bool nack_hist_keyframe(const nack_hist *h, uint16_t *start_seq);

/* Highest sequence number stored so far; false while empty. */
bool nack_hist_newest(const nack_hist *h, uint16_t *seq);

/* Number of packets held. */
uint32_t nack_hist_count(const nack_hist *h);

/*
 * Remove any one packet and hand back its buffer; false when empty, and the
 * history is then as new. Loop on it to release everything (O(N) in all).
 */
bool nack_hist_pop(nack_hist *h, uint32_t *buf_id);

#endif
