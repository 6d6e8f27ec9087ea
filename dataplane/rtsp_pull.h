/*
 * rtsp_pull: a worker's RTSP pulls (issue 7, upstream half).
 *
 * spcp asks a worker that holds a device's agent tunnel (MSG_RTSP_PULL) to
 * pull one of its cameras: the pull opens an in-process stream on the
 * tunnel (tunnel_stream_open) to the camera-local host:port, runs rtsp_up
 * over it, and feeds the video track (and the audio one, if asked) into
 * ingest flows on the same worker, whose subscribers get it by fan-out:
 * one upstream per camera however many viewers. Our RTCP to the camera
 * (PLI/FIR when a viewer needs a keyframe) goes back on the track's
 * interleaved RTCP channel.
 *
 * An attempt that ends (camera refused, dropped, silent; tunnel gone) is
 * reported (MSG_RTSP_EVENT ended) and retried with exponential backoff
 * and jitter until STOP; STOP sends TEARDOWN first. All state is sized at
 * create; one rtsp_up (and its buffers) exists per live attempt.
 */
#ifndef SP_DP_RTSP_PULL_H
#define SP_DP_RTSP_PULL_H

#include <stdint.h>

#include "flow.h"
#include "msg.h"
#include "stats.h"
#include "tunnel.h"

struct rtsp_pull_cfg {
	uint32_t worker;
	uint32_t max_pulls;
	uint64_t retry_min_ns;   /* first retry after this (then doubling, jittered) */
	uint64_t retry_max_ns;
	uint64_t request_timeout_ns; /* rtsp_up: answer to a request within */
	uint64_t silence_ns;     /* rtsp_up: playing with nothing from the camera this long */
};

struct rtsp_pull_hooks {
	void (*event)(void *ctx, const struct msg_rtsp_event *ev);
	void *ctx;
};

typedef struct rtsp_pulls rtsp_pulls;

/* NULL: EINVAL or ENOMEM. tn and ft belong to the same worker. */
rtsp_pulls *rtsp_pulls_create(const struct rtsp_pull_cfg *cfg, tunnel *tn, flow_table *ft,
			      struct stats_block *stats, const struct rtsp_pull_hooks *hooks);
/* Closes every stream it opened; no events, no TEARDOWN. */
void rtsp_pulls_destroy(rtsp_pulls *p);

/* One command (msg_check passed); answered with an event. */
void rtsp_pulls_cmd(rtsp_pulls *p, const struct msg_rtsp_pull *m, uint64_t now_ns);
/* Keepalives, deadlines, retries, finished attempts. Call every loop. */
void rtsp_pulls_timers(rtsp_pulls *p, uint64_t now_ns);
/* The flow table's upstream hook (flow_set_upstream): RTCP for a pull's camera. */
void rtsp_pulls_upstream(void *p, uint32_t flow_id, const uint8_t *rtcp, uint32_t len);

uint32_t rtsp_pulls_count(const rtsp_pulls *p);

#endif
