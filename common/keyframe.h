/*
 * keyframe: does this RTP payload start a keyframe?
 *
 * A new viewer can only start decoding at a random access point, so the
 * forwarder marks, per packet, whether it begins one (fast start, and the
 * "drop to the next keyframe" of a slow viewer). This module looks only at
 * the payload's first bytes; it never reassembles.
 *
 * H.264 (RFC 6184, packetization modes 0 and 1): single NAL units, STAP-A
 * and FU-A. H.265 (RFC 7798): single NAL units, AP and FU, without DONL
 * (sprop-max-don-diff = 0, the usual case; with DONL the answer is wrong).
 *
 * KEYFRAME_START: the packet carries the first slice of an IDR picture
 * (H.264 type 5) or of an IRAP picture (H.265 types 16..21): a single NAL,
 * an aggregate containing one, or the first fragment (S bit) of one. "First
 * slice" is read from the slice header (first_mb_in_slice == 0 for H.264,
 * first_slice_segment_in_pic_flag for H.265), so a multi-slice keyframe has
 * exactly one start packet.
 * KEYFRAME_PARAMS: parameter sets only (SPS/PPS, or VPS/SPS/PPS), which
 * precede the keyframe in the same access unit; the packet history uses
 * them to begin a fast start before the IDR slice.
 * Anything malformed or unknown (STAP-B, MTAP, FU-B, PACI) is KEYFRAME_NONE.
 */
#ifndef SP_KEYFRAME_H
#define SP_KEYFRAME_H

#include <stddef.h>
#include <stdint.h>

enum keyframe_codec {
	KEYFRAME_H264 = 1,
	KEYFRAME_H265 = 2,
};

enum keyframe_kind {
	KEYFRAME_NONE = 0,
	KEYFRAME_START,
	KEYFRAME_PARAMS,
	KEYFRAME__COUNT
};

/* Classify one RTP payload (after the RTP header, padding excluded). */
enum keyframe_kind keyframe_detect(enum keyframe_codec codec, const uint8_t *payload, size_t len);

const char *keyframe_kind_name(enum keyframe_kind kind);

#endif
