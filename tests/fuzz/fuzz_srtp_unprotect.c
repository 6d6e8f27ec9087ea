/*
 * fuzz_srtp_unprotect: srtp_leg's unprotect path (and protect, as a
 * round-trip oracle) on hostile bytes.
 *
 * Input: byte 0 picks the suite (low 2 bits); the next
 * srtp_leg_master_len(suite) bytes are key || salt; the rest is a list of
 * records [flags:1][len:2 big-endian][bytes:len] (a short tail is one last
 * record). Each record is copied to an exact-size heap buffer (so ASan sees
 * any over-read or over-write) and:
 *   flags bit0: RTCP instead of RTP;
 *   flags bit1: first protect it with an outbound leg on the same key into
 *               an exact-size buffer, then the inbound leg must accept it
 *               and give the same bytes back;
 * otherwise it goes straight to the inbound leg, which must return a
 * valid reason and never lengthen the packet. Two legs per input, both
 * destroyed: no state crosses inputs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "srtp_leg.h"

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size);

static void one(srtp_leg *rx, srtp_leg *tx, uint8_t flags, const uint8_t *p, size_t n)
{
	bool rtcp = flags & 1;
	enum srtp_leg_err e;
	uint8_t *b;
	size_t len = n;

	if (flags & 2) {
		size_t cap = n + (rtcp ? srtp_leg_rtcp_overhead(tx) : srtp_leg_rtp_overhead(tx));
		size_t ol = 0;

		b = malloc(cap ? cap : 1);
		if (!b)
			abort();
		e = rtcp ? srtp_leg_protect_rtcp(tx, p, n, b, cap, &ol)
			 : srtp_leg_protect_rtp(tx, p, n, b, cap, &ol);
		if (e >= SRTP_LEG_ERR__COUNT)
			abort();
		if (e == SRTP_LEG_OK) {
			if (ol != cap)
				abort();
			e = rtcp ? srtp_leg_unprotect_rtcp(rx, b, &ol) : srtp_leg_unprotect_rtp(rx, b, &ol);
			/* Same key, same history: the receiver may only refuse
			 * for replay/age/SSRC reasons, never for auth. */
			if (e == SRTP_LEG_OK && (ol != n || memcmp(b, p, n) != 0))
				abort();
			if (e == SRTP_LEG_ERR_AUTH || e >= SRTP_LEG_ERR__COUNT)
				abort();
		}
		free(b);
		return;
	}
	b = malloc(n ? n : 1);
	if (!b)
		abort();
	if (n)
		memcpy(b, p, n);
	e = rtcp ? srtp_leg_unprotect_rtcp(rx, b, &len) : srtp_leg_unprotect_rtp(rx, b, &len);
	if (e >= SRTP_LEG_ERR__COUNT || len > n || (e != SRTP_LEG_OK && len != n))
		abort();
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size)
{
	struct srtp_leg_cfg cfg = { 0 };
	srtp_leg *rx = NULL, *tx = NULL;
	size_t off, mlen;
	unsigned records = 0;

	if (size < 1)
		return 0;
	cfg.suite = (enum srtp_leg_suite)(buf[0] & 3);
	mlen = srtp_leg_master_len(cfg.suite);
	if (size < 1 + mlen)
		return 0;
	cfg.master = buf + 1;
	cfg.master_len = mlen;
	cfg.window = 64;
	cfg.dir = SRTP_LEG_INBOUND;
	if (srtp_leg_create(&cfg, &rx) != 0)
		abort();
	cfg.dir = SRTP_LEG_OUTBOUND;
	if (srtp_leg_create(&cfg, &tx) != 0)
		abort();

	off = 1 + mlen;
	while (off < size && records++ < 64) {
		uint8_t flags = buf[off];
		size_t n;

		if (size - off < 3) {
			one(rx, tx, 0, buf + off, size - off);
			break;
		}
		n = (size_t)buf[off + 1] << 8 | buf[off + 2];
		off += 3;
		if (n > size - off)
			n = size - off;
		one(rx, tx, flags, buf + off, n);
		off += n;
	}
	if (srtp_leg_same_params(rx, tx) != true)
		abort();
	srtp_leg_destroy(rx);
	srtp_leg_destroy(tx);
	return 0;
}
