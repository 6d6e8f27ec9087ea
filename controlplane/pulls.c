/*
 * pulls (spcp): RTSP pulls of cameras behind agents (docs/rtsp.md, "Pulls").
 *
 *   /rtsp/pull   id, device, url, flow[, audio_flow][, target][, user, pass]
 *                -> MSG_RTSP_PULL start to the worker of the ingest flow
 *                (flow add ingest=DEVICE placed it where the tunnel is)
 *   /rtsp/stop   id -> MSG_RTSP_PULL stop (TEARDOWN, then stopped)
 *   on_demand=1  the pull runs only while its flows have subscribers: the
 *                first one starts it, and linger_ms after the last one
 *                left it is stopped (state "idle"); the command, with its
 *                credentials, is kept for the next start and wiped when
 *                the pull is stopped for good
 *   /rtsp        every pull: state, attempts, the last end and its reason,
 *                the tracks playing; never the credentials
 *
 * spdp keeps retrying an ended attempt on its own (backoff); spcp only
 * records what it hears. Bounded (CP_PULLS_MAX).
 */
#include "pulls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cp_event.h"
#include "ctl.h"
#include "ctlsock.h"
#include "log.h"
#include "rtsp_msg.h"
#include "tun_frame.h"
#include "tunnels.h"

enum pstate { PS_STARTING = 0, PS_CONNECTING, PS_PLAYING, PS_RETRYING, PS_STOPPING, PS_STOPPED,
	      PS_FAILED, PS_IDLE, PS_LOST };
static const char *const pstate_names[] = { "starting", "connecting", "playing", "retrying",
					    "stopping", "stopped", "failed", "idle", "lost" };

/* Over for spdp: nothing of it runs there; the id may be started again. */
static bool over(enum pstate s)
{
	return s == PS_STOPPED || s == PS_FAILED || s == PS_LOST;
}

struct cp_pull {
	bool used;
	uint32_t id, worker;
	enum pstate state;
	uint64_t seq;
	char device[MSG_TUNNEL_DEVICE_LEN];
	char target[MSG_TUNNEL_TARGET_LEN];
	char url[MSG_RTSP_URL_LEN];
	bool auth;
	uint32_t flow_id[MSG_RTSP_TRACKS];
	uint32_t attempts, plays, ends;
	uint8_t last_reason;
	uint16_t last_status;
	int32_t last_error;
	uint32_t retry_ms;
	uint8_t n_tracks;
	struct msg_rtsp_track tracks[MSG_RTSP_TRACKS];
	uint64_t since_ns;
	/* on demand */
	bool on_demand;
	bool parking;           /* stopping because nobody watches: idle, not stopped, after */
	uint32_t linger_ms;
	uint64_t unwatched_since; /* 0: watched */
	uint32_t starts;
	int dp_pid;             /* the spdp it was started on */
	struct msg_rtsp_pull cmd; /* kept (credentials too) to start again */
};

struct cp_pulls {
	dp_link *link;
	cp_flows *flows;
	const cp_tunnels *tunnels;
	struct cp_pull pulls[CP_PULLS_MAX];
	uint64_t seq;
	uint64_t events, cmd_drops;
};

static struct cp_pull *find(cp_pulls *p, uint32_t id)
{
	for (unsigned i = 0; i < CP_PULLS_MAX; i++)
		if (p->pulls[i].used && p->pulls[i].id == id)
			return &p->pulls[i];
	return NULL;
}

static void pull_event(const char *kind, const struct cp_pull *u)
{
	cJSON *e = cJSON_CreateObject();
	cJSON_AddNumberToObject(e, "pull", u->id);
	cJSON_AddNumberToObject(e, "flow", u->flow_id[0]);
	cp_event(kind, e);
}

static void on_event(void *ctx, uint32_t worker, const struct msg_rtsp_event *ev)
{
	cp_pulls *p = ctx;
	struct cp_pull *u = find(p, ev->pull_id);

	p->events++;
	if (!u || u->worker != worker)
		return;
	u->attempts = ev->attempts;
	u->since_ns = clock_mono_ns();
	switch (ev->kind) {
	case RTSP_EV_STARTED:
		if (u->state != PS_STOPPING)
			u->state = PS_CONNECTING;
		break;
	case RTSP_EV_PLAYING:
		if (u->state != PS_STOPPING)
			u->state = PS_PLAYING;
		u->plays++;
		pull_event("pull_playing", u);
		u->n_tracks = ev->n_tracks;
		memcpy(u->tracks, ev->tracks, sizeof(u->tracks));
		break;
	case RTSP_EV_ENDED:
		if (u->state != PS_STOPPING)
			u->state = PS_RETRYING;
		u->ends++;
		pull_event("pull_ended", u);
		u->last_reason = ev->reason;
		u->last_status = ev->status;
		u->last_error = ev->error;
		u->retry_ms = ev->retry_ms;
		u->n_tracks = 0;
		break;
	case RTSP_EV_STOPPED:
		u->state = u->parking ? PS_IDLE : PS_STOPPED;
		u->parking = false;
		u->n_tracks = 0;
		if (u->state == PS_STOPPED)
			explicit_bzero(&u->cmd, sizeof(u->cmd));
		break;
	case RTSP_EV_FAILED:
		u->state = PS_FAILED;
		u->last_error = ev->error;
		log_warn(-ev->error, "spdp worker %u refused rtsp pull %u", worker, u->id);
		break;
	default:
		break;
	}
}

/* A new spdp (restarted): the pulls started on the old one are gone. */
static void on_attach(void *ctx)
{
	cp_pulls *p = ctx;
	int pid = dp_link_pid(p->link);

	for (unsigned i = 0; i < CP_PULLS_MAX; i++) {
		struct cp_pull *u = &p->pulls[i];
		if (!u->used || over(u->state) || u->state == PS_IDLE || u->dp_pid == pid)
			continue;
		log_warn(0, "rtsp pull %u: spdp pid %d is gone; start the pull again", u->id, u->dp_pid);
		u->state = PS_LOST;
		u->n_tracks = 0;
		explicit_bzero(&u->cmd, sizeof(u->cmd));
	}
}

static bool feeds(void *ctx, uint32_t flow_id)
{
	cp_pulls *p = ctx;

	for (unsigned i = 0; i < CP_PULLS_MAX; i++) {
		const struct cp_pull *u = &p->pulls[i];
		if (u->used && !over(u->state) && (u->flow_id[0] == flow_id || u->flow_id[1] == flow_id))
			return true;
	}
	return false;
}

cp_pulls *cp_pulls_create(dp_link *link, cp_flows *flows, const cp_tunnels *tunnels)
{
	cp_pulls *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->link = link;
	p->flows = flows;
	p->tunnels = tunnels;
	dp_link_on_rtsp_event(link, on_event, p);
	dp_link_on_attach(link, on_attach, p);
	cp_flows_set_in_use(flows, feeds, p);
	return p;
}

void cp_pulls_destroy(cp_pulls *p)
{
	if (p)
		explicit_bzero(p->pulls, sizeof(p->pulls));
	free(p);
}

static int send_start(cp_pulls *p, struct cp_pull *u)
{
	u->cmd.seq = ++p->seq;
	u->cmd.op = MSG_RTSP_START;
	int rc = dp_link_send(p->link, u->worker, MSG_RTSP_PULL, &u->cmd, sizeof(u->cmd));
	if (rc < 0) {
		p->cmd_drops++;
		return rc;
	}
	u->seq = u->cmd.seq;
	u->state = PS_STARTING;
	u->starts++;
	u->dp_pid = dp_link_pid(p->link);
	u->since_ns = clock_mono_ns();
	return 0;
}

static int send_stop(cp_pulls *p, struct cp_pull *u)
{
	struct msg_rtsp_pull m = { .seq = ++p->seq, .op = MSG_RTSP_STOP, .pull_id = u->id };
	if (dp_link_send(p->link, u->worker, MSG_RTSP_PULL, &m, sizeof(m)) < 0) {
		p->cmd_drops++;
		return -ENOBUFS;
	}
	u->state = PS_STOPPING;
	return 0;
}

static bool watched(cp_pulls *p, const struct cp_pull *u)
{
	int a = cp_flows_sub_count(p->flows, u->flow_id[0]);
	int b = u->flow_id[1] ? cp_flows_sub_count(p->flows, u->flow_id[1]) : 0;
	return a > 0 || b > 0;
}

void cp_pulls_tick(cp_pulls *p, uint64_t now)
{
	for (unsigned i = 0; i < CP_PULLS_MAX; i++) {
		struct cp_pull *u = &p->pulls[i];
		if (!u->used || !u->on_demand)
			continue;
		bool w = watched(p, u);
		if (u->state == PS_IDLE) {
			if (w && send_start(p, u) == 0)
				log_info("rtsp pull %u: a viewer came, starting", u->id);
			continue;
		}
		if (u->state == PS_STOPPING || over(u->state))
			continue;
		if (w) {
			u->unwatched_since = 0;
		} else if (!u->unwatched_since) {
			u->unwatched_since = now;
		} else if (now - u->unwatched_since >= (uint64_t)u->linger_ms * 1000000 &&
			   send_stop(p, u) == 0) {
			u->parking = true;
			u->unwatched_since = 0;
			log_info("rtsp pull %u: nobody watched for %u ms, stopping", u->id, u->linger_ms);
		}
	}
}

static cJSON *pull_json(const struct cp_pull *u)
{
	static const char *const media[] = { "other", "video", "audio", "application" };
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "id", u->id);
	cJSON_AddStringToObject(o, "state", pstate_names[u->state]);
	cJSON_AddStringToObject(o, "device", u->device);
	cJSON_AddStringToObject(o, "target", u->target);
	cJSON_AddStringToObject(o, "url", u->url);
	cJSON_AddBoolToObject(o, "auth", u->auth);
	cJSON_AddNumberToObject(o, "worker", u->worker);
	cJSON_AddNumberToObject(o, "flow", u->flow_id[0]);
	if (u->flow_id[1])
		cJSON_AddNumberToObject(o, "audio_flow", u->flow_id[1]);
	cJSON_AddBoolToObject(o, "on_demand", u->on_demand);
	if (u->on_demand) {
		cJSON_AddNumberToObject(o, "linger_ms", u->linger_ms);
		cJSON_AddNumberToObject(o, "starts", u->starts);
	}
	cJSON_AddNumberToObject(o, "attempts", u->attempts);
	cJSON_AddNumberToObject(o, "plays", u->plays);
	cJSON_AddNumberToObject(o, "ends", u->ends);
	if (u->ends) {
		cJSON *e = cJSON_AddObjectToObject(o, "last_end");
		cJSON_AddStringToObject(e, "reason", msg_rtsp_end_name(u->last_reason));
		if (u->last_status)
			cJSON_AddNumberToObject(e, "status", u->last_status);
		if (u->last_error)
			cJSON_AddStringToObject(e, "stream_error", strerror(-u->last_error));
		cJSON_AddNumberToObject(e, "retry_ms", u->retry_ms);
	}
	if (u->state == PS_FAILED && u->last_error)
		cJSON_AddStringToObject(o, "error", strerror(-u->last_error));
	cJSON *tr = cJSON_AddArrayToObject(o, "tracks");
	for (unsigned i = 0; i < u->n_tracks && i < MSG_RTSP_TRACKS; i++) {
		const struct msg_rtsp_track *t = &u->tracks[i];
		if (!t->flow_id)
			continue;
		cJSON *x = cJSON_CreateObject();
		char enc[MSG_RTSP_ENC_LEN + 1];
		snprintf(enc, sizeof(enc), "%.*s", (int)sizeof(t->encoding), t->encoding);
		cJSON_AddStringToObject(x, "media", media[t->media < 4 ? t->media : 0]);
		cJSON_AddStringToObject(x, "encoding", enc);
		cJSON_AddNumberToObject(x, "pt", t->pt);
		cJSON_AddNumberToObject(x, "clock", t->clock);
		cJSON_AddNumberToObject(x, "flow", t->flow_id);
		cJSON_AddItemToArray(tr, x);
	}
	return o;
}

/* The camera-local host:port of the URL, if the agent can take it as a target. */
static bool url_target(const char *url, char *out, size_t cap)
{
	int n = rtsp_url_hostport(url, out, cap);
	return n > 0 && tun_target_valid(out, (size_t)n);
}

static int cmd_pull(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	cp_pulls *p = ctx;
	struct msg_rtsp_pull m = { .op = MSG_RTSP_START };
	uint32_t af = 0;
	int w;

	(void)cmd;
	if (!params || !ctl_param_u32(params, "id", UINT32_MAX, &m.pull_id) || !m.pull_id)
		return ctl_error_reply(reply, "id=<1..4294967295> required");
	struct cp_pull *u = find(p, m.pull_id);
	if (u && !over(u->state))
		return ctl_error_reply(reply, "pull id in use");
	if (!ctl_param(params, "device", m.device, sizeof(m.device)) || !m.device[0])
		return ctl_error_reply(reply, "device=<id> required");
	if (!ctl_param(params, "url", m.url, sizeof(m.url)) || strncmp(m.url, "rtsp://", 7))
		return ctl_error_reply(reply, "url=rtsp://host[:port]/path required");
	if (memchr(m.url + 7, '@', strcspn(m.url + 7, "/?#")))
		return ctl_error_reply(reply, "no credentials in url: give user= and pass=");
	if (!ctl_param_u32(params, "flow", UINT32_MAX, &m.flow_id[0]) ||
	    (w = cp_flows_ingest_worker(p->flows, m.flow_id[0])) < 0)
		return ctl_error_reply(reply, "flow=<ingest flow id> required (flow add ingest=DEVICE)");
	if (cp_tunnels_worker(p->tunnels, m.device) != w)
		return ctl_error_reply(reply, "the device's tunnel is not up on the flow's worker "
					      "(flow add ingest=DEVICE places it there)");
	if (feeds(p, m.flow_id[0]))
		return ctl_error_reply(reply, "another pull feeds that flow");
	if (ctl_param_u32(params, "audio_flow", UINT32_MAX, &af) && af) {
		if (af == m.flow_id[0] || cp_flows_ingest_worker(p->flows, af) != w)
			return ctl_error_reply(reply, "audio_flow=<another ingest flow of the same device>");
		if (feeds(p, af))
			return ctl_error_reply(reply, "another pull feeds audio_flow");
		m.flow_id[1] = af;
	}
	if (ctl_param(params, "target", m.target, sizeof(m.target))) {
		if (!tun_target_valid(m.target, strlen(m.target)))
			return ctl_error_reply(reply, "target=<host:port> invalid");
	} else if (!url_target(m.url, m.target, sizeof(m.target))) {
		return ctl_error_reply(reply, "url has no usable host:port (give target=)");
	}
	uint32_t od = 0, linger = 10000;
	(void)ctl_param_u32(params, "on_demand", 1, &od);
	char lb[16];
	if (ctl_param(params, "linger_ms", lb, sizeof(lb)) &&
	    !ctl_param_u32(params, "linger_ms", 3600000, &linger))
		return ctl_error_reply(reply, "linger_ms=<0..3600000> invalid");
	bool hu = ctl_param(params, "user", m.user, sizeof(m.user));
	bool hp = ctl_param(params, "pass", m.pass, sizeof(m.pass));
	if (hu != hp || (hu && !m.user[0])) {
		explicit_bzero(&m, sizeof(m));
		return ctl_error_reply(reply, "user= and pass= go together");
	}
	if (!u) {
		for (unsigned i = 0; i < CP_PULLS_MAX && !u; i++)
			if (!p->pulls[i].used)
				u = &p->pulls[i];
		for (unsigned i = 0; i < CP_PULLS_MAX && !u; i++)
			if (over(p->pulls[i].state))
				u = &p->pulls[i];
		if (!u) {
			explicit_bzero(&m, sizeof(m));
			return ctl_error_reply(reply, "too many pulls");
		}
	}
	explicit_bzero(u, sizeof(*u));
	u->used = true;
	u->id = m.pull_id;
	u->worker = (uint32_t)w;
	u->auth = hu;
	u->on_demand = od;
	u->linger_ms = linger;
	u->state = PS_IDLE;
	memcpy(u->flow_id, m.flow_id, sizeof(u->flow_id));
	snprintf(u->device, sizeof(u->device), "%s", m.device);
	snprintf(u->target, sizeof(u->target), "%s", m.target);
	snprintf(u->url, sizeof(u->url), "%s", m.url);
	u->cmd = m;
	explicit_bzero(&m, sizeof(m));
	u->since_ns = clock_mono_ns();
	if ((!u->on_demand || watched(p, u)) && send_start(p, u) < 0) {
		explicit_bzero(u, sizeof(*u));
		return ctl_error_reply(reply, "command ring to spdp full or detached; retry");
	}
	if (!u->on_demand)
		explicit_bzero(&u->cmd, sizeof(u->cmd)); /* never started again: no copy kept */
	log_info("rtsp pull %u: %s via %s (%s) into flow %u on worker %d%s", u->id, u->url, u->device,
		 u->target, u->flow_id[0], w, u->on_demand ? ", on demand" : "");
	*reply = pull_json(u);
	return 0;
}

static int cmd_stop(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	cp_pulls *p = ctx;
	uint32_t id;
	struct cp_pull *u;

	(void)cmd;
	if (!params || !ctl_param_u32(params, "id", UINT32_MAX, &id) || !(u = find(p, id)))
		return ctl_error_reply(reply, "id=<pull id> unknown");
	/* A START refused as a duplicate (spdp still runs a pull of that id,
	 * started by an earlier spcp): STOP it there. */
	bool orphan = u->state == PS_FAILED && u->last_error == -EEXIST;
	if ((over(u->state) && !orphan))
		return ctl_error_reply(reply, "pull not running");
	u->parking = false;
	if (u->state == PS_IDLE) {
		u->state = PS_STOPPED; /* nothing runs in spdp */
	} else if (send_stop(p, u) < 0) {
		return ctl_error_reply(reply, "command ring to spdp full or detached; retry");
	}
	explicit_bzero(&u->cmd, sizeof(u->cmd));
	*reply = pull_json(u);
	return 0;
}

static int cmd_list(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	cp_pulls *p = ctx;
	cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "pulls");
	unsigned n = 0;

	(void)cmd;
	(void)params;
	for (unsigned i = 0; i < CP_PULLS_MAX; i++)
		if (p->pulls[i].used) {
			cJSON_AddItemToArray(arr, pull_json(&p->pulls[i]));
			n++;
		}
	cJSON_AddNumberToObject(o, "count", n);
	cJSON_AddNumberToObject(o, "events", (double)p->events);
	cJSON_AddNumberToObject(o, "cmd_drops", (double)p->cmd_drops);
	*reply = o;
	return 0;
}

int cp_pulls_register_ctl(cp_pulls *p, struct ctlsock *cs)
{
	if (ctlsock_register(cs, "/rtsp", cmd_list, p, "RTSP pulls: state, attempts, last end, tracks") ||
	    ctlsock_register(cs, "/rtsp/pull", cmd_pull, p,
			     "Pull a camera over its agent tunnel into ingest flows. id=N&device=D&url=rtsp://..."
			     "&flow=N[&audio_flow=N][&target=HOST:PORT][&user=U&pass=P][&on_demand=1[&linger_ms=N]]") ||
	    ctlsock_register(cs, "/rtsp/stop", cmd_stop, p, "Stop a pull (TEARDOWN). id=N"))
		return -EINVAL;
	return 0;
}
