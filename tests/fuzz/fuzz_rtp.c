/*
 * fuzz_rtp: rtp_parse(), RFC 8285 element lookup, keyframe detection on the
 * payload, and the packet history fed from the input.
 *
 * The input is one RTP packet. Whenever the parser accepts it, its promises
 * are checked: header + payload + padding account for every byte, the
 * extension lies inside the header, every element found lies inside the
 * extension. The payload is classified as H.264 and as H.265 (from an
 * exact-size copy, so any over-read past the payload is an ASan report).
 * Then the input is replayed as a stream of 4-byte history operations
 * (seq, kind) into a small nack_hist, and every buffer id must come back
 * exactly once (evicted or popped).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyframe.h"
#include "nack.h"
#include "rtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size);

static void check_packet(const uint8_t *buf, size_t size)
{
	struct rtp_hdr h;
	uint8_t *payload;

	if (rtp_parse(buf, size, &h) != RTP_OK)
		return;
	if ((size_t)h.payload_off + h.payload_len + h.pad_len != size)
		abort();
	if (h.payload_off < RTP_HDR_LEN + 4u * h.cc)
		abort();
	if (h.extension && (size_t)h.ext_off + h.ext_len > h.payload_off)
		abort();
	for (unsigned i = 0; i <= h.cc; i++)
		(void)rtp_csrc(buf, &h, i);
	for (unsigned id = 0; id < 256; id++) {
		uint16_t off, len;

		if (rtp_ext_find(buf, &h, (uint8_t)id, &off, &len) == 0 &&
		    (off < h.ext_off || (size_t)off + len > (size_t)h.ext_off + h.ext_len))
			abort();
	}

	payload = malloc(h.payload_len ? h.payload_len : 1);
	if (!payload)
		abort();
	memcpy(payload, buf + h.payload_off, h.payload_len);
	if (keyframe_detect(KEYFRAME_H264, payload, h.payload_len) >= KEYFRAME__COUNT ||
	    keyframe_detect(KEYFRAME_H265, payload, h.payload_len) >= KEYFRAME__COUNT)
		abort();
	free(payload);
}

static void check_history(const uint8_t *buf, size_t size)
{
	static uint8_t held[4096];
	nack_hist *h = nack_hist_create(16);
	uint32_t n_held = 0, id = 0, ev;
	uint16_t seq;

	if (!h)
		abort();
	memset(held, 0, sizeof(held));
	for (size_t off = 0; size - off >= 4 && id < sizeof(held); off += 4, id++) {
		struct nack_hist_pkt p = {
			.seq = (uint16_t)(buf[off] << 8 | buf[off + 1]),
			.ts = buf[off + 2] >> 4,
			.kf = (uint8_t)(buf[off + 3] % KEYFRAME__COUNT),
			.buf_id = id,
		};
		struct nack_hist_pkt got;
		int r = nack_hist_put(h, &p, &ev);

		if (r >= 0) {
			held[id] = 1;
			n_held++;
		}
		if (r == 1) {
			if (ev >= id || !held[ev])
				abort();
			held[ev] = 0;
			n_held--;
		}
		if (nack_hist_count(h) != n_held || n_held > 16)
			abort();
		if (r >= 0 && (!nack_hist_lookup(h, p.seq, &got) || got.buf_id != id))
			abort();
		if (nack_hist_keyframe(h, &seq) && !nack_hist_lookup(h, seq, &got))
			abort();
	}
	while (nack_hist_pop(h, &ev)) {
		if (ev >= id || !held[ev])
			abort();
		held[ev] = 0;
		n_held--;
	}
	if (n_held != 0)
		abort();
	nack_hist_destroy(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size)
{
	check_packet(buf, size);
	check_history(buf, size);
	return 0;
}
