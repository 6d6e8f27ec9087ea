/*
 * keyframe: keyframe-start detection for H.264 / H.265 RTP payloads
 * (see keyframe.h). Every aggregate walk checks each unit's size against
 * the bytes left and stops at the first one that does not fit.
 */
#include "keyframe.h"

#include <stdbool.h>

/* H.264 NAL unit types (ITU-T H.264 Table 7-1) and RFC 6184 packet types. */
enum {
	H264_IDR = 5,
	H264_SPS = 7,
	H264_PPS = 8,
	H264_STAP_A = 24,
	H264_FU_A = 28,
};

/* H.265 NAL unit types (ITU-T H.265 Table 7-1) and RFC 7798 packet types. */
enum {
	H265_IRAP_FIRST = 16, /* BLA_W_LP */
	H265_IRAP_LAST = 21,  /* CRA_NUT; 22, 23 are reserved IRAP types */
	H265_VPS = 32,
	H265_SPS = 33,
	H265_PPS = 34,
	H265_AP = 48,
	H265_FU = 49,
};

static const char *const kind_names[KEYFRAME__COUNT] = {
	[KEYFRAME_NONE] = "none",
	[KEYFRAME_START] = "keyframe_start",
	[KEYFRAME_PARAMS] = "parameter_sets",
};

const char *keyframe_kind_name(enum keyframe_kind kind)
{
	if ((unsigned)kind >= KEYFRAME__COUNT)
		return "unknown";
	return kind_names[kind];
}

/*
 * The first bit of the slice header is first_mb_in_slice as ue(v) (H.264:
 * "1" encodes 0) or first_slice_segment_in_pic_flag (H.265): either way set
 * for the first slice of a picture. `rest` is the NAL payload after its
 * header; a slice with no header byte is not a usable start.
 */
static bool first_slice(const uint8_t *rest, size_t n)
{
	return n >= 1 && (rest[0] & 0x80);
}

/* One complete H.264 NAL unit (header byte first). */
static enum keyframe_kind h264_nal(const uint8_t *p, size_t n)
{
	uint8_t type;

	if (n < 1 || (p[0] & 0x80)) /* forbidden_zero_bit */
		return KEYFRAME_NONE;
	type = p[0] & 0x1f;
	if (type == H264_IDR)
		return first_slice(p + 1, n - 1) ? KEYFRAME_START : KEYFRAME_NONE;
	if (type == H264_SPS || type == H264_PPS)
		return KEYFRAME_PARAMS;
	return KEYFRAME_NONE;
}

/* One complete H.265 NAL unit (2-byte header first). */
static enum keyframe_kind h265_nal(const uint8_t *p, size_t n)
{
	uint8_t type;

	if (n < 2 || (p[0] & 0x80))
		return KEYFRAME_NONE;
	type = (p[0] >> 1) & 0x3f;
	if (type >= H265_IRAP_FIRST && type <= H265_IRAP_LAST)
		return first_slice(p + 2, n - 2) ? KEYFRAME_START : KEYFRAME_NONE;
	if (type >= H265_VPS && type <= H265_PPS)
		return KEYFRAME_PARAMS;
	return KEYFRAME_NONE;
}

/*
 * STAP-A / AP: after the packet header, units of [16-bit size][NAL unit].
 * A start anywhere in it wins over parameter sets.
 */
static enum keyframe_kind aggregate(enum keyframe_codec codec, const uint8_t *p, size_t n, size_t hdr)
{
	enum keyframe_kind best = KEYFRAME_NONE;
	size_t off = hdr;

	while (n - off >= 2) {
		size_t sz = (size_t)p[off] << 8 | p[off + 1];
		enum keyframe_kind k;

		off += 2;
		if (sz == 0 || sz > n - off)
			break;
		k = codec == KEYFRAME_H264 ? h264_nal(p + off, sz) : h265_nal(p + off, sz);
		if (k == KEYFRAME_START)
			return k;
		if (k == KEYFRAME_PARAMS)
			best = k;
		off += sz;
	}
	return best;
}

static enum keyframe_kind h264(const uint8_t *p, size_t n)
{
	uint8_t type, fu_type;

	if (n < 1 || (p[0] & 0x80))
		return KEYFRAME_NONE;
	type = p[0] & 0x1f;
	if (type >= 1 && type <= 23)
		return h264_nal(p, n);
	if (type == H264_STAP_A)
		return aggregate(KEYFRAME_H264, p, n, 1);
	if (type != H264_FU_A || n < 2 || !(p[1] & 0x80)) /* FU-A start fragments only */
		return KEYFRAME_NONE;
	fu_type = p[1] & 0x1f;
	if (fu_type == H264_IDR)
		return first_slice(p + 2, n - 2) ? KEYFRAME_START : KEYFRAME_NONE;
	if (fu_type == H264_SPS || fu_type == H264_PPS)
		return KEYFRAME_PARAMS;
	return KEYFRAME_NONE;
}

static enum keyframe_kind h265(const uint8_t *p, size_t n)
{
	uint8_t type, fu_type;

	if (n < 2 || (p[0] & 0x80))
		return KEYFRAME_NONE;
	type = (p[0] >> 1) & 0x3f;
	if (type < H265_AP)
		return h265_nal(p, n);
	if (type == H265_AP)
		return aggregate(KEYFRAME_H265, p, n, 2);
	if (type != H265_FU || n < 3 || !(p[2] & 0x80))
		return KEYFRAME_NONE;
	fu_type = p[2] & 0x3f;
	if (fu_type >= H265_IRAP_FIRST && fu_type <= H265_IRAP_LAST)
		return first_slice(p + 3, n - 3) ? KEYFRAME_START : KEYFRAME_NONE;
	if (fu_type >= H265_VPS && fu_type <= H265_PPS)
		return KEYFRAME_PARAMS;
	return KEYFRAME_NONE;
}

enum keyframe_kind keyframe_detect(enum keyframe_codec codec, const uint8_t *payload, size_t len)
{
	if (!payload)
		return KEYFRAME_NONE;
	switch (codec) {
	case KEYFRAME_H264:
		return h264(payload, len);
	case KEYFRAME_H265:
		return h265(payload, len);
	}
	return KEYFRAME_NONE;
}
