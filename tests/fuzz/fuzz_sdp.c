/*
 * fuzz_sdp: libFuzzer target for the SDP parser, its helpers and the proxy
 * rewrite (common/sdp.c).
 *
 * Input: the SDP text. Invariants (abort() on failure):
 *  - counts within their limits, every view inside the input;
 *  - an SDP that parses rewrites (unless the output buffer is too small),
 *    the rewrite parses with the same number of sections, every media
 *    control becomes trackID=N, and rewriting the rewrite changes nothing;
 *  - sprop helpers and control URL resolution stay within their buffers.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)               \
	do {                      \
		if (!(cond))      \
			abort();  \
	} while (0)

static bool inside(struct sdp_str s, const char *buf, size_t len)
{
	return s.p == NULL || (s.p >= buf && s.p + s.len <= buf + len);
}

static char out[4 * SDP_MAX_TEXT], again[4 * SDP_MAX_TEXT];
static struct sdp s, s2;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	if (sdp_parse(text, size, &s) != SDP_OK)
		return 0;
	CHECK(s.n_media <= SDP_MAX_MEDIA && s.n_attrs <= SDP_MAX_ATTRS);
	CHECK(inside(s.control, text, size) && inside(s.origin, text, size) &&
	      inside(s.range, text, size) && inside(s.conn, text, size));
	for (unsigned i = 0; i < s.n_media; i++) {
		const struct sdp_media *m = &s.media[i];
		CHECK(m->n_fmts <= SDP_MAX_FMTS && m->n_rtpmap <= SDP_MAX_MAPS &&
		      m->n_fmtp <= SDP_MAX_MAPS && m->n_attrs <= SDP_MAX_ATTRS);
		CHECK(inside(m->control, text, size) && inside(m->proto, text, size));
		for (unsigned k = 0; k < m->n_rtpmap; k++)
			CHECK(m->rtpmap[k].pt < 128 && m->rtpmap[k].clock > 0 &&
			      inside(m->rtpmap[k].encoding, text, size));
		for (unsigned k = 0; k < m->n_fmtp; k++) {
			uint8_t ps[64];
			int n = sdp_h264_sprops(m, m->fmtp[k].pt, ps, sizeof(ps));
			CHECK(n == -ENOENT || n == -EINVAL || n == -ENOSPC || (n >= 4 && n <= 64));
			n = sdp_h265_sprops(m, m->fmtp[k].pt, ps, sizeof(ps));
			CHECK(n == -ENOENT || n == -EINVAL || n == -ENOSPC || (n >= 4 && n <= 64));
		}
		char url[96];
		int n = sdp_control_url("rtsp://cam:554/s?x=1", 20, m->control.p ? m->control.p : "",
					m->control.len, url, sizeof(url));
		CHECK(n == -ENOSPC || (n >= 0 && (size_t)n < sizeof(url) && url[n] == '\0'));
	}
	struct sdp_proxy_opts o = { .sess_id = 1, .sess_version = 2, .origin_addr = "10.0.0.1" };
	enum sdp_err e;
	int n = sdp_write_proxy(text, size, &o, out, sizeof(out), &e);
	if (n == -ENOSPC)
		return 0;
	CHECK(n > 0 && e == SDP_OK);
	e = sdp_parse(out, (size_t)n, &s2);
	/* the rewrite adds CRs and at most a line per section: it can pass a
	 * limit the original was just under, nothing else */
	if (e == SDP_ERR_TOO_LARGE || e == SDP_ERR_TOO_MANY_ATTRS)
		return 0;
	CHECK(e == SDP_OK);
	CHECK(s2.n_media == s.n_media);
	for (unsigned i = 0; i < s2.n_media; i++) {
		char want[32];
		int k = snprintf(want, sizeof(want), "trackID=%u", i);
		CHECK(s2.media[i].control.len == (uint32_t)k &&
		      memcmp(s2.media[i].control.p, want, (size_t)k) == 0);
	}
	int n2 = sdp_write_proxy(out, (size_t)n, &o, again, sizeof(again), &e);
	CHECK(n2 == n && memcmp(out, again, (size_t)n) == 0);
	return 0;
}
