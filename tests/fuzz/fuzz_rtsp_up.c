/*
 * fuzz_rtsp_up: a hostile camera against the RTSP client (dataplane/rtsp_up.c).
 *
 * The input is the camera's byte stream, cut into reads by a length byte
 * before each piece; a piece whose length byte is 0xff is an op instead:
 * time passes (keepalives, deadlines), our TEARDOWN, our RTCP, a short
 * send window. Credentials are set, so 401 answers exercise both auth
 * schemes.
 *
 * Invariants (abort): ended exactly once at most and nothing is delivered
 * after it; packets name a track that was set up and fit a frame; what we
 * send is bounded. ASan/UBSan catch the rest.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rtsp_up.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                  \
	do {                      \
		if (!(c))         \
			abort();  \
	} while (0)

static struct {
	int ended;
	unsigned tracks;
	ssize_t room;
	size_t sent;
} st;

static ssize_t f_send(void *ctx, const void *d, size_t len)
{
	(void)ctx;
	CHECK(!st.ended && len && d);
	if (st.room >= 0 && (size_t)st.room < len)
		len = (size_t)st.room;
	st.sent += len;
	return (ssize_t)len;
}

static void f_playing(void *ctx, const struct rtsp_up_track *t, unsigned n)
{
	(void)ctx;
	CHECK(!st.ended && t && n >= 1 && n <= RTSP_UP_MAX_TRACKS);
	st.tracks = n;
}

static void f_packet(void *ctx, unsigned track, bool rtcp, const uint8_t *d, size_t len)
{
	(void)ctx;
	(void)rtcp;
	CHECK(!st.ended && track < st.tracks && len <= 65535);
	if (len) {
		volatile uint8_t x = d[0] ^ d[len - 1];
		(void)x;
	}
}

static void f_ended(void *ctx, enum rtsp_up_end why, unsigned status)
{
	(void)ctx;
	CHECK(!st.ended && (unsigned)why < RTSP_UP__COUNT && status < 1000);
	st.ended = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct rtsp_up_cb cb = { f_send, f_playing, f_packet, f_ended };
	struct rtsp_up_cfg cfg = { .url = "rtsp://127.0.0.1:554/live", .user = "admin",
				   .pass = "secret", .audio = true };
	uint64_t now = 1000000000ull;

	memset(&st, 0, sizeof(st));
	st.room = -1;
	rtsp_up *u = rtsp_up_new(&cfg, &cb, NULL);
	CHECK(u);
	rtsp_up_start(u, now);
	size_t i = 0;
	while (i < size) {
		uint8_t n = data[i++];
		if (n == 0xff) {
			if (i >= size)
				break;
			uint8_t op = data[i++];
			switch (op & 3) {
			case 0:
				now += (uint64_t)(op >> 2) * 500000000ull;
				rtsp_up_timers(u, now);
				break;
			case 1:
				rtsp_up_teardown(u, now);
				break;
			case 2: {
				uint8_t pli[12] = { 0x81, 206, 0, 2 };
				int rc = rtsp_up_send_rtcp(u, op >> 4, pli, sizeof(pli));
				CHECK(rc == 0 || rc < 0);
				break;
			}
			default:
				st.room = (op >> 2) == 0x3f ? -1 : (op >> 2) * 16;
				rtsp_up_writable(u);
				break;
			}
			continue;
		}
		size_t len = n < size - i ? n : size - i;
		rtsp_up_input(u, data + i, len, now);
		i += len;
	}
	rtsp_up_closed(u);
	CHECK(st.ended == 1);
	CHECK(rtsp_up_done(u));
	unsigned nt;
	rtsp_up_tracks(u, &nt);
	CHECK(nt <= RTSP_UP_MAX_TRACKS);
	rtsp_up_free(u);
	return 0;
}
