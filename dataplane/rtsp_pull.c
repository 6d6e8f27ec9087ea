/*
 * rtsp_pull: RTSP pulls of one worker (see rtsp_pull.h).
 *
 * A pull is a slot with its command (device, target, URL, credentials,
 * flows) and, while an attempt lives, an rtsp_up and a tunnel stream
 * handle. Callbacks from the tunnel and from rtsp_up only record an
 * attempt's end; the attempt is freed, reported and rescheduled from
 * rtsp_pulls_timers(), where nothing is calling back into us.
 */
#include "rtsp_pull.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "rtsp_msg.h"
#include "rtsp_up.h"
#include "tun_frame.h"

#define NO_FLOW 0u
#define STABLE_NS (30 * 1000000000ull) /* playing this long: the backoff starts over */
#define MAX_REDIRECTS 3 /* in a row, without playing in between */

enum pull_state { P_FREE = 0, P_WAIT, P_LIVE };

struct pull {
	uint8_t state;          /* enum pull_state */
	bool ended;             /* the attempt ended: reap in timers */
	bool stopping;
	bool playing;
	uint8_t end_why;        /* enum rtsp_up_end */
	uint16_t end_status;
	int32_t open_error;     /* the tunnel stream could not be opened */
	uint64_t stop_seq;
	uint64_t retry_at, playing_since;
	uint32_t attempts, fails;
	uint64_t h;             /* tunnel stream; 0: none */
	rtsp_up *up;
	uint32_t track_flow[RTSP_UP_MAX_TRACKS];
	uint8_t redirects;      /* followed in a row */
	bool opened;            /* the stream's OPEN was answered */
	uint64_t attempt_at;
	char orig_url[MSG_RTSP_URL_LEN];       /* START's, back to after a failed redirect */
	char orig_target[MSG_TUNNEL_TARGET_LEN];
	char redirect[MSG_RTSP_URL_LEN]; /* the attempt ended with this Location */
	struct rtsp_pulls *owner;
	struct msg_rtsp_pull cmd;
};

struct rtsp_pulls {
	struct rtsp_pull_cfg cfg;
	tunnel *tn;
	flow_table *ft;
	struct stats_block *st;
	struct rtsp_pull_hooks hooks;
	struct pull *pulls;
	uint32_t n;
	uint64_t rng;
};

static void emit(rtsp_pulls *ps, struct msg_rtsp_event *ev)
{
	ev->worker = ps->cfg.worker;
	if (ps->hooks.event)
		ps->hooks.event(ps->hooks.ctx, ev);
}

static void emit_simple(rtsp_pulls *ps, const struct pull *p, uint64_t seq, uint8_t kind)
{
	struct msg_rtsp_event ev = { .seq = seq, .pull_id = p->cmd.pull_id, .kind = kind,
				     .attempts = p->attempts };
	emit(ps, &ev);
}

rtsp_pulls *rtsp_pulls_create(const struct rtsp_pull_cfg *cfg, tunnel *tn, flow_table *ft,
			      struct stats_block *stats, const struct rtsp_pull_hooks *hooks)
{
	rtsp_pulls *ps;

	if (!cfg || !tn || !ft || !stats || !hooks || !cfg->max_pulls || !cfg->retry_min_ns ||
	    cfg->retry_max_ns < cfg->retry_min_ns) {
		errno = EINVAL;
		return NULL;
	}
	if (!(ps = calloc(1, sizeof(*ps))) || !(ps->pulls = calloc(cfg->max_pulls, sizeof(*ps->pulls)))) {
		free(ps);
		errno = ENOMEM;
		return NULL;
	}
	ps->cfg = *cfg;
	if (!ps->cfg.request_timeout_ns)
		ps->cfg.request_timeout_ns = 10 * 1000000000ull;
	ps->tn = tn;
	ps->ft = ft;
	ps->st = stats;
	ps->hooks = *hooks;
	ps->rng = clock_mono_ns() | 1;
	return ps;
}

/* The attempt's resources go (no event). */
static void attempt_free(rtsp_pulls *ps, struct pull *p)
{
	if (p->h)
		tunnel_stream_abort(ps->tn, p->h);
	p->h = 0;
	rtsp_up_free(p->up);
	p->up = NULL;
	p->playing = false;
}

static void pull_free(rtsp_pulls *ps, struct pull *p)
{
	attempt_free(ps, p);
	/* The command holds the camera's password. */
	volatile uint8_t *b = (volatile uint8_t *)p;
	for (size_t i = 0; i < sizeof(*p); i++)
		b[i] = 0;
	ps->n--;
}

void rtsp_pulls_destroy(rtsp_pulls *ps)
{
	if (!ps)
		return;
	for (uint32_t i = 0; i < ps->cfg.max_pulls; i++)
		if (ps->pulls[i].state != P_FREE)
			pull_free(ps, &ps->pulls[i]);
	free(ps->pulls);
	free(ps);
}

uint32_t rtsp_pulls_count(const rtsp_pulls *ps)
{
	return ps->n;
}

static struct pull *find(rtsp_pulls *ps, uint32_t id)
{
	for (uint32_t i = 0; i < ps->cfg.max_pulls; i++)
		if (ps->pulls[i].state != P_FREE && ps->pulls[i].cmd.pull_id == id)
			return &ps->pulls[i];
	return NULL;
}

/* ------------------------------------------------------------ rtsp_up side */

static ssize_t up_send(void *ctx, const void *d, size_t len)
{
	struct pull *p = ctx;

	if (!p->h)
		return -EPIPE;
	ssize_t n = tunnel_stream_write(p->owner->tn, p->h, d, len);
	return n == -ENOTCONN ? 0 : n;
}

static void up_playing(void *ctx, const struct rtsp_up_track *t, unsigned n)
{
	struct pull *p = ctx;
	struct msg_rtsp_event ev = { .pull_id = p->cmd.pull_id, .kind = RTSP_EV_PLAYING,
				     .attempts = p->attempts };
	bool video = false, audio = false;

	/* The first video track feeds flow 0, the first audio track flow 1. */
	for (unsigned i = 0; i < n && i < RTSP_UP_MAX_TRACKS; i++) {
		uint32_t fl = NO_FLOW;
		unsigned slot = 0;
		if (t[i].type == SDP_MEDIA_VIDEO && !video) {
			video = true;
			fl = p->cmd.flow_id[0];
			slot = 0;
		} else if (t[i].type == SDP_MEDIA_AUDIO && !audio && p->cmd.flow_id[1]) {
			audio = true;
			fl = p->cmd.flow_id[1];
			slot = 1;
		}
		p->track_flow[i] = fl;
		if (fl == NO_FLOW)
			continue;
		struct msg_rtsp_track *mt = &ev.tracks[slot];
		mt->media = (uint8_t)t[i].type;
		mt->pt = t[i].pt;
		mt->clock = t[i].clock;
		mt->flow_id = fl;
		snprintf(mt->encoding, sizeof(mt->encoding), "%.15s", t[i].encoding);
		if (slot + 1u > ev.n_tracks)
			ev.n_tracks = (uint8_t)(slot + 1);
	}
	p->playing = true;
	p->playing_since = clock_mono_ns();
	p->redirects = 0;
	stats_add(p->owner->st, STAT_RTSP_PULL_PLAYING, 1);
	log_info("worker %u: rtsp pull %u of %s playing (%u tracks)", p->owner->cfg.worker,
		 p->cmd.pull_id, p->cmd.device, n);
	emit(p->owner, &ev);
}

static void up_packet(void *ctx, unsigned track, bool rtcp, const uint8_t *d, size_t len)
{
	struct pull *p = ctx;
	uint32_t fl = track < RTSP_UP_MAX_TRACKS ? p->track_flow[track] : NO_FLOW;

	if (fl == NO_FLOW) {
		stats_drop(p->owner->st, DROP_RTSP_CHANNEL);
		return;
	}
	stats_add(p->owner->st, STAT_RTSP_IN_PKTS, 1);
	/* Drops inside are counted by the flow table. */
	(void)flow_ingest(p->owner->ft, fl, rtcp, d, (uint32_t)len, clock_mono_ns());
}

static void up_ended(void *ctx, enum rtsp_up_end why, unsigned status)
{
	struct pull *p = ctx;

	p->ended = true;
	p->end_why = (uint8_t)why;
	p->end_status = (uint16_t)status;
	p->redirect[0] = '\0';
	if (why == RTSP_UP_REDIRECT) {
		/* Only a Location that fits whole and has no space is followed. */
		const char *loc = rtsp_up_redirect(p->up);
		if (strlen(loc) < sizeof(p->redirect) && !strpbrk(loc, " \t"))
			memcpy(p->redirect, loc, strlen(loc) + 1);
	}
	if (p->h) {
		tunnel_stream_abort(p->owner->tn, p->h); /* deferred inside a tunnel callback */
		p->h = 0;
	}
}

static const struct rtsp_up_cb up_cb = { up_send, up_playing, up_packet, up_ended };

/* ------------------------------------------------------------ tunnel side */

static void ts_opened(void *ctx)
{
	struct pull *p = ctx;
	p->opened = true;
	if (p->up)
		rtsp_up_start(p->up, clock_mono_ns());
}

static size_t ts_data(void *ctx, const uint8_t *d, size_t len)
{
	struct pull *p = ctx;
	if (p->up)
		rtsp_up_input(p->up, d, len, clock_mono_ns());
	return len; /* all of it: media goes straight into the flows */
}

static void ts_writable(void *ctx)
{
	struct pull *p = ctx;
	if (p->up)
		rtsp_up_writable(p->up);
}

static void ts_closed(void *ctx, enum tunnel_stream_end why)
{
	struct pull *p = ctx;

	p->h = 0;
	if (why == TUNNEL_STREAM_REFUSED || why == TUNNEL_STREAM_TUNNEL_DOWN)
		p->open_error = why == TUNNEL_STREAM_REFUSED ? -ECONNREFUSED : -ENOTCONN;
	if (p->up)
		rtsp_up_closed(p->up);
	else
		p->ended = true;
}

static const struct tunnel_stream_cb ts_cb = { ts_opened, ts_data, ts_writable, ts_closed };

/* ------------------------------------------------------------ attempts */

static void attempt(rtsp_pulls *ps, struct pull *p)
{
	struct rtsp_up_cfg uc = { .url = p->cmd.url, .audio = p->cmd.flow_id[1] != NO_FLOW,
				  .request_timeout_ns = ps->cfg.request_timeout_ns,
				  .silence_ns = ps->cfg.silence_ns };
	int rc;

	if (p->cmd.user[0]) {
		uc.user = p->cmd.user;
		uc.pass = p->cmd.pass;
	}
	p->attempts++;
	p->attempt_at = clock_mono_ns();
	p->opened = false;
	p->ended = false;
	p->open_error = 0;
	p->end_why = RTSP_UP_EOF;
	p->end_status = 0;
	memset(p->track_flow, 0, sizeof(p->track_flow));
	p->state = P_LIVE;
	if (!(p->up = rtsp_up_new(&uc, &up_cb, p))) {
		p->ended = true;
		p->end_why = errno == ENOMEM ? RTSP_UP_NO_MEMORY : RTSP_UP_PROTOCOL;
		return;
	}
	rc = tunnel_stream_open(ps->tn, p->cmd.device, p->cmd.target, &ts_cb, p, &p->h);
	if (rc < 0) {
		p->h = 0;
		p->ended = true;
		p->open_error = rc;
	}
}

static uint64_t backoff(rtsp_pulls *ps, struct pull *p)
{
	uint64_t d = ps->cfg.retry_min_ns;

	for (uint32_t i = 1; i < p->fails && d < ps->cfg.retry_max_ns; i++)
		d *= 2;
	if (d > ps->cfg.retry_max_ns)
		d = ps->cfg.retry_max_ns;
	/* Jitter: between half and all of it, so cameras behind one dead
	 * agent do not come back in step. */
	ps->rng ^= ps->rng << 13;
	ps->rng ^= ps->rng >> 7;
	ps->rng ^= ps->rng << 17;
	return d / 2 + ps->rng % (d / 2 + 1);
}

/* A camera's 3xx: the next attempt asks the Location, connecting (through
 * the agent, so its allow-list still decides) to the host:port it names. */
static bool follow_redirect(struct pull *p)
{
	char hp[MSG_TUNNEL_TARGET_LEN];
	size_t ul = strlen(p->redirect);
	int n;

	if (p->end_why != RTSP_UP_REDIRECT || p->redirects >= MAX_REDIRECTS || !ul ||
	    ul >= sizeof(p->cmd.url) || strncmp(p->redirect, "rtsp://", 7) ||
	    (n = rtsp_url_hostport(p->redirect, hp, sizeof(hp))) <= 0 ||
	    !tun_target_valid(hp, (size_t)n))
		return false;
	memcpy(p->cmd.url, p->redirect, ul + 1);
	memcpy(p->cmd.target, hp, (size_t)n + 1);
	p->redirects++;
	return true;
}

/* An attempt ended: report, then retry later or finish a STOP. */
static void reap(rtsp_pulls *ps, struct pull *p, uint64_t now)
{
	/* playing_since came from a later clock read than the loop's now. */
	bool was_stable = p->playing && now > p->playing_since && now - p->playing_since >= STABLE_NS;

	attempt_free(ps, p);
	stats_add(ps->st, STAT_RTSP_PULL_ENDED, 1);
	if (p->stopping) {
		emit_simple(ps, p, p->stop_seq, RTSP_EV_STOPPED);
		pull_free(ps, p);
		return;
	}
	bool redirected = follow_redirect(p);
	if (!redirected && p->redirects) {
		/* A Location that did not play: START's URL again. */
		memcpy(p->cmd.url, p->orig_url, sizeof(p->cmd.url));
		memcpy(p->cmd.target, p->orig_target, sizeof(p->cmd.target));
		p->redirects = 0;
	}
	p->fails = was_stable || redirected ? 1 : p->fails + 1;
	uint64_t wait = redirected ? 0 : backoff(ps, p);
	struct msg_rtsp_event ev = { .pull_id = p->cmd.pull_id, .kind = RTSP_EV_ENDED,
				     .reason = p->end_why, .status = p->end_status,
				     .error = p->open_error, .attempts = p->attempts,
				     .retry_ms = (uint32_t)(wait / 1000000) };
	if (redirected)
		log_info("worker %u: rtsp pull %u of %s redirected (%u) to %s", ps->cfg.worker,
			 p->cmd.pull_id, p->cmd.device, p->end_status, p->cmd.target);
	else
		log_rl(LOG_LVL_INFO, 0, "worker %u: rtsp pull %u of %s ended (%s%s%d), retry in %u ms",
		       ps->cfg.worker, p->cmd.pull_id, p->cmd.device, rtsp_up_end_name(p->end_why),
		       p->open_error ? ", stream error " : ", status ",
		       p->open_error ? p->open_error : p->end_status, ev.retry_ms);
	emit(ps, &ev);
	p->state = P_WAIT;
	p->retry_at = now + wait;
}

static bool flow_fed(rtsp_pulls *ps, uint32_t flow_id)
{
	for (uint32_t i = 0; i < ps->cfg.max_pulls; i++) {
		const struct pull *p = &ps->pulls[i];
		if (p->state != P_FREE && (p->cmd.flow_id[0] == flow_id || p->cmd.flow_id[1] == flow_id))
			return true;
	}
	return false;
}

void rtsp_pulls_cmd(rtsp_pulls *ps, const struct msg_rtsp_pull *m, uint64_t now)
{
	struct pull *p = find(ps, m->pull_id);
	struct msg_rtsp_event ev = { .seq = m->seq, .pull_id = m->pull_id, .kind = RTSP_EV_FAILED };

	if (m->op == MSG_RTSP_STOP) {
		if (!p) {
			ev.error = -ENOENT;
			emit(ps, &ev);
			return;
		}
		p->stopping = true;
		p->stop_seq = m->seq;
		if (p->state == P_LIVE && p->up && !p->ended)
			rtsp_up_teardown(p->up, now); /* ended(CLOSED) when answered */
		else
			p->ended = true;
		rtsp_pulls_timers(ps, now);
		return;
	}
	if (p)
		ev.error = -EEXIST;
	else if (!flow_is_ingest(ps->ft, m->flow_id[0]) ||
		 (m->flow_id[1] && !flow_is_ingest(ps->ft, m->flow_id[1])))
		ev.error = -ENOENT;
	else if (flow_fed(ps, m->flow_id[0]) || (m->flow_id[1] && flow_fed(ps, m->flow_id[1])))
		ev.error = -EBUSY; /* one source per flow */
	if (!ev.error) {
		for (uint32_t i = 0; i < ps->cfg.max_pulls && !p; i++)
			if (ps->pulls[i].state == P_FREE)
				p = &ps->pulls[i];
		if (!p)
			ev.error = -ENOSPC;
	}
	if (ev.error) {
		emit(ps, &ev);
		return;
	}
	memset(p, 0, sizeof(*p));
	p->owner = ps;
	p->cmd = *m;
	memcpy(p->orig_url, m->url, sizeof(p->orig_url));
	memcpy(p->orig_target, m->target, sizeof(p->orig_target));
	ps->n++;
	emit_simple(ps, p, m->seq, RTSP_EV_STARTED);
	attempt(ps, p);
	rtsp_pulls_timers(ps, now);
}

void rtsp_pulls_timers(rtsp_pulls *ps, uint64_t now)
{
	if (!ps->n)
		return;
	for (uint32_t i = 0; i < ps->cfg.max_pulls; i++) {
		struct pull *p = &ps->pulls[i];
		if (p->state == P_LIVE && p->up && !p->ended)
			rtsp_up_timers(p->up, now);
		/* An agent that never answers the OPEN: the attempt times out too. */
		if (p->state == P_LIVE && !p->ended && !p->opened && now > p->attempt_at &&
		    now - p->attempt_at >= ps->cfg.request_timeout_ns)
			up_ended(p, RTSP_UP_TIMEOUT, 0);
		if (p->state == P_LIVE && p->ended)
			reap(ps, p, now);
		else if (p->state == P_WAIT && p->stopping)
			reap(ps, p, now);
		else if (p->state == P_WAIT && now >= p->retry_at)
			attempt(ps, p);
	}
}

void rtsp_pulls_upstream(void *ctx, uint32_t flow_id, const uint8_t *rtcp, uint32_t len)
{
	rtsp_pulls *ps = ctx;

	for (uint32_t i = 0; i < ps->cfg.max_pulls; i++) {
		struct pull *p = &ps->pulls[i];
		if (p->state != P_LIVE || !p->up || !p->playing || p->ended)
			continue;
		for (unsigned t = 0; t < RTSP_UP_MAX_TRACKS; t++)
			if (p->track_flow[t] == flow_id) {
				(void)rtsp_up_send_rtcp(p->up, t, rtcp, len);
				return;
			}
	}
}
