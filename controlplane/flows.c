/*
 * flows: spcp's registry of media flows (one source, N subscribers) and the
 * control-socket commands that manage them.
 *
 * spcp decides, spdp executes: a flow is placed on the worker with the
 * fewest flows and created there by a command on that worker's ring; the
 * worker answers with a flow event (ports, or the error). The registry is
 * what spcp believes; spdp is what is true. On every attach spcp asks each
 * worker to dump its flows and subscribers, adopts what spdp has (a
 * restarted spcp rebuilds its view) and re-installs what spdp lacks (a
 * restarted spdp gets its flows back).
 *
 * SRTP keys (docs/srtp.md) are kept here only so a restarted spdp can get
 * its flows back; they are wiped when the flow or subscriber goes, never
 * logged, and shown only once: in the reply that generated them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "cp.h"
#include "cp_event.h"
#include "ctl.h"
#include "ctlsock.h"
#include "log.h"
#include "sdes.h"
#include "tunnels.h"
#include "status.h"

enum st { ST_PENDING, ST_ACTIVE, ST_FAILED };
static const char *const st_names[] = { "pending", "active", "failed" };

struct cp_sub {
	uint32_t id;
	enum st state;
	bool seen;          /* reported by the current dump */
	uint32_t flags;
	struct sp_addr rtp, rtcp;
	int error;
	uint8_t mode;       /* enum msg_sub_mode, as spdp reported it */
	struct msg_srtp_key srtp_tx, srtp_rx;
};

struct cp_flow {
	uint32_t id;
	uint32_t worker;
	enum st state;
	bool seen;
	int error;
	uint32_t flags, ssrc;
	bool ssrc_filter;
	uint8_t codec;
	uint16_t req_port, rtp_port, rtcp_port;
	struct sp_addr source;
	struct cp_sub *subs;
	uint32_t nsubs, cap_subs;
	uint8_t srtp_suite;  /* the camera's (0: plain), also for flows adopted from spdp */
	bool key_expired;
	struct msg_srtp_key srtp_rx, srtp_tx;
};

struct cp_flows {
	dp_link *link;
	const cp_tunnels *tunnels; /* ingest flows live where a device's tunnel is */
	bool (*in_use)(void *ctx, uint32_t flow_id); /* a pull feeds it: not deleted */
	void *in_use_ctx;
	struct cp_flow *flows;
	uint32_t n, max;
	uint64_t seq;
	uint32_t dumps_pending;
	uint64_t events, failures, removed_by_spdp;
};

static struct cp_flow *find_flow(cp_flows *f, uint32_t id)
{
	for (uint32_t i = 0; i < f->n; i++)
		if (f->flows[i].id == id)
			return &f->flows[i];
	return NULL;
}

static struct cp_sub *find_sub(struct cp_flow *fl, uint32_t id)
{
	for (uint32_t i = 0; i < fl->nsubs; i++)
		if (fl->subs[i].id == id)
			return &fl->subs[i];
	return NULL;
}

static void remove_flow(cp_flows *f, struct cp_flow *fl)
{
	if (fl->subs)
		explicit_bzero(fl->subs, fl->cap_subs * sizeof(*fl->subs));
	explicit_bzero(&fl->srtp_rx, sizeof(fl->srtp_rx));
	explicit_bzero(&fl->srtp_tx, sizeof(fl->srtp_tx));
	free(fl->subs);
	*fl = f->flows[--f->n];
}

static void remove_sub(struct cp_flow *fl, struct cp_sub *s)
{
	*s = fl->subs[--fl->nsubs];
	explicit_bzero(&fl->subs[fl->nsubs], sizeof(*s));
}

static struct cp_sub *add_sub(struct cp_flow *fl, uint32_t id)
{
	if (fl->nsubs == fl->cap_subs) {
		uint32_t cap = fl->cap_subs ? fl->cap_subs * 2 : 4;
		struct cp_sub *n = realloc(fl->subs, cap * sizeof(*n));
		if (!n)
			return NULL;
		fl->subs = n;
		fl->cap_subs = cap;
	}
	struct cp_sub *s = &fl->subs[fl->nsubs++];
	memset(s, 0, sizeof(*s));
	s->id = id;
	return s;
}

static int send_flow_add(cp_flows *f, struct cp_flow *fl)
{
	struct msg_flow_add m = { .seq = ++f->seq, .flow_id = fl->id, .flags = fl->flags,
				  .ssrc = fl->ssrc, .ssrc_filter = fl->ssrc_filter, .codec = fl->codec,
				  .rtp_port = fl->req_port, .source = fl->source,
				  .srtp_rx = fl->srtp_rx, .srtp_tx = fl->srtp_tx };
	fl->state = ST_PENDING;
	int rc = dp_link_send(f->link, fl->worker, MSG_FLOW_ADD, &m, sizeof(m));
	explicit_bzero(&m, sizeof(m));
	return rc;
}

static int send_sub_add(cp_flows *f, struct cp_flow *fl, struct cp_sub *s)
{
	struct msg_sub_add m = { .seq = ++f->seq, .flow_id = fl->id, .sub_id = s->id,
				 .flags = s->flags, .rtp = s->rtp, .rtcp = s->rtcp,
				 .srtp_tx = s->srtp_tx, .srtp_rx = s->srtp_rx };
	s->state = ST_PENDING;
	int rc = dp_link_send(f->link, fl->worker, MSG_SUB_ADD, &m, sizeof(m));
	explicit_bzero(&m, sizeof(m));
	return rc;
}

static const char *const mode_names[] = { "plain", "terminate", "passthrough", "protect" };

static const char *mode_name(uint8_t mode)
{
	return mode < 4 ? mode_names[mode] : "?";
}

/* The mode spdp will choose (it decides; this is for the reply). */
static uint8_t predict_mode(const struct cp_flow *fl, const struct cp_sub *s)
{
	if (!s->srtp_tx.suite)
		return fl->srtp_suite ? SUB_MODE_TERMINATE : SUB_MODE_PLAIN;
	return fl->srtp_rx.suite && sdes_key_equal(&fl->srtp_rx, &s->srtp_tx) ? SUB_MODE_PASSTHROUGH
									       : SUB_MODE_PROTECT;
}

/* ------------------------------------------------------------ events */

static void on_attach(void *ctx)
{
	cp_flows *f = ctx;
	uint32_t nw = dp_link_workers(f->link);

	for (uint32_t i = 0; i < f->n; i++) {
		f->flows[i].seen = false;
		for (uint32_t k = 0; k < f->flows[i].nsubs; k++)
			f->flows[i].subs[k].seen = false;
	}
	f->dumps_pending = nw;
	for (uint32_t w = 0; w < nw; w++) {
		struct msg_flow_dump d = { .seq = ++f->seq };
		if (dp_link_send(f->link, w, MSG_FLOW_DUMP, &d, sizeof(d)) < 0)
			f->dumps_pending--;
	}
	log_info("asked %u workers for their flows (%u in the registry)", nw, f->n);
}

/* After every worker dumped: re-install what spdp lacks. */
static void reconcile(cp_flows *f)
{
	uint32_t flows = 0, subs = 0;

	for (uint32_t i = 0; i < f->n; i++) {
		struct cp_flow *fl = &f->flows[i];
		if (fl->state == ST_FAILED)
			continue;
		if (!fl->seen) {
			if (fl->worker >= dp_link_workers(f->link))
				fl->worker = fl->id % dp_link_workers(f->link);
			send_flow_add(f, fl);
			flows++;
			for (uint32_t k = 0; k < fl->nsubs; k++, subs++)
				send_sub_add(f, fl, &fl->subs[k]);
			continue;
		}
		for (uint32_t k = 0; k < fl->nsubs; k++)
			if (!fl->subs[k].seen && fl->subs[k].state != ST_FAILED) {
				send_sub_add(f, fl, &fl->subs[k]);
				subs++;
			}
	}
	if (flows || subs)
		log_notice("re-installed %u flows and %u subscribers spdp did not have", flows, subs);
}

static void sub_event(const char *kind, uint32_t flow, uint32_t sub, const char *why)
{
	cJSON *e = cJSON_CreateObject();
	cJSON_AddNumberToObject(e, "flow", flow);
	cJSON_AddNumberToObject(e, "sub", sub);
	cJSON_AddStringToObject(e, "reason", why);
	cp_event(kind, e);
}

static void on_event(void *ctx, uint32_t worker, const struct msg_flow_event *ev)
{
	cp_flows *f = ctx;
	struct cp_flow *fl = find_flow(f, ev->flow_id);
	struct cp_sub *s;
	char a[SP_ADDR_STRLEN];

	f->events++;
	switch (ev->kind) {
	case FLOW_EV_ADDED:
		if (!fl) {
			/* spdp has a flow we did not know: adopt it (spcp restarted). */
			if (f->n == f->max)
				return;
			fl = &f->flows[f->n++];
			memset(fl, 0, sizeof(*fl));
			fl->id = ev->flow_id;
			fl->flags = ev->flags;
			fl->source = ev->source;
			fl->srtp_suite = ev->srtp_suite; /* the key stays with spdp */
		}
		fl->worker = worker;
		fl->state = ST_ACTIVE;
		fl->seen = true;
		fl->rtp_port = ev->rtp_port;
		fl->rtcp_port = ev->rtcp_port;
		if (ev->source.family)
			fl->source = ev->source;
		break;
	case FLOW_EV_LATCHED:
		if (fl) {
			fl->source = ev->source;
			log_info("flow %u latched to %s", ev->flow_id, sp_addr_str(&ev->source, a));
		}
		break;
	case FLOW_EV_REMOVED:
		if (fl)
			remove_flow(f, fl);
		break;
	case FLOW_EV_SUB_ADDED:
		if (!fl)
			return;
		s = find_sub(fl, ev->sub_id);
		if (!s && (s = add_sub(fl, ev->sub_id))) {
			s->flags = ev->flags;
			s->rtp = ev->source;
			s->rtcp = ev->rtcp;
		}
		if (s) {
			s->state = ST_ACTIVE;
			s->seen = true;
			s->mode = ev->mode;
		}
		break;
	case FLOW_EV_REKEYED:
		log_info("flow %u %s%.0u: new SRTP key in use", ev->flow_id, ev->sub_id ? "subscriber " : "",
			 ev->sub_id);
		if (fl && !ev->sub_id)
			fl->key_expired = false;
		break;
	case FLOW_EV_KEY_EXPIRED:
		log_warn(0, "flow %u: the camera's SRTP key expired; nothing is forwarded until /flow/rekey",
			 ev->flow_id);
		if (fl)
			fl->key_expired = true;
		break;
	case FLOW_EV_SUB_REMOVED:
		if (fl && (s = find_sub(fl, ev->sub_id))) {
			if (ev->reason != SUB_RM_COMMAND) {
				f->removed_by_spdp++;
				log_notice("flow %u subscriber %u removed by spdp: %s", ev->flow_id, ev->sub_id,
					   ev->reason == SUB_RM_SEND_ERRORS ? "send errors" :
					   ev->reason == SUB_RM_RTCP_TIMEOUT ? "no RTCP" :
					   ev->reason == SUB_RM_KEY_EXPIRED ? "SRTP key expired" : "flow removed");
				sub_event("subscriber_removed", ev->flow_id, ev->sub_id,
					  ev->reason == SUB_RM_SEND_ERRORS ? "send_errors" :
					  ev->reason == SUB_RM_RTCP_TIMEOUT ? "rtcp_timeout" :
					  ev->reason == SUB_RM_KEY_EXPIRED ? "key_expired" : "flow_removed");
			}
			remove_sub(fl, s);
		}
		break;
	case FLOW_EV_FAILED:
		f->failures++;
		log_warn(-ev->error, "worker %u refused a command for flow %u sub %u", worker,
			 ev->flow_id, ev->sub_id);
		if (!fl)
			break;
		if (ev->sub_id && (s = find_sub(fl, ev->sub_id))) {
			s->state = ST_FAILED;
			s->error = ev->error;
		} else if (!ev->sub_id) {
			fl->state = ST_FAILED;
			fl->error = ev->error;
		}
		break;
	case FLOW_EV_DUMP_DONE:
		if (f->dumps_pending && --f->dumps_pending == 0)
			reconcile(f);
		break;
	}
}

/* ------------------------------------------------------------ ctl */

/* srtp=<suite>, <keyname>=<base64>|generate, srtp_window=N into k; the
 * suite defaults to `dflt` (the flow's, or GCM). Returns NULL when no key
 * was given (plain) or when it parsed; otherwise the error for the reply. */
static const char *param_srtp(const char *params, const char *keyname, uint8_t dflt,
			      bool may_generate, struct msg_srtp_key *k, bool *generated)
{
	char buf[128];
	uint8_t suite = dflt ? dflt : SDES_DEFAULT_SUITE;
	uint32_t w = 0;
	int rc;

	memset(k, 0, sizeof(*k));
	if (generated)
		*generated = false;
	if (ctl_param(params, "srtp", buf, sizeof(buf)) && !(suite = sdes_suite_parse(buf)))
		return "srtp=AES_CM_128_HMAC_SHA1_80|AES_CM_128_HMAC_SHA1_32|AEAD_AES_128_GCM|AEAD_AES_256_GCM";
	if (!ctl_param(params, keyname, buf, sizeof(buf))) {
		if (!strcmp(keyname, "srtp_key") && ctl_param(params, "srtp", buf, sizeof(buf)))
			return "srtp=<suite> needs a key (srtp_key=<base64 key||salt>)";
		return NULL;
	}
	if (may_generate && !strcmp(buf, "generate")) {
		rc = sdes_key_generate(k, suite);
		if (generated)
			*generated = rc == 0;
	} else {
		rc = sdes_key_parse(k, suite, buf);
	}
	explicit_bzero(buf, sizeof(buf));
	if (rc == -ENOTSUP)
		return "SRTP key lifetime/MKI parameters are not supported";
	if (rc < 0)
		return "SRTP key: base64 of key||salt, of the suite's length (30, 30, 28 or 44 bytes)";
	if (ctl_param(params, "srtp_window", buf, sizeof(buf))) {
		if (!ctl_param_u32(params, "srtp_window", SRTP_LEG_WINDOW_MAX, &w) || w < SRTP_LEG_WINDOW_MIN)
			return "srtp_window=<64..32767>";
		k->window = (uint16_t)w;
	}
	return NULL;
}

/* A leg pair: `srtp_key` (with the suite and window) and the optional key
 * for the other direction, `second` (same suite; the window is the first
 * key's business). */
static const char *param_key_pair(const char *params, const char *second, uint8_t dflt,
				  bool may_generate, struct msg_srtp_key *first,
				  struct msg_srtp_key *other, bool *generated)
{
	const char *why = param_srtp(params, "srtp_key", dflt, may_generate, first, generated);

	memset(other, 0, sizeof(*other));
	if (!why && first->suite) {
		uint16_t w = first->window;
		why = param_srtp(params, second, first->suite, false, other, NULL);
		first->window = w;
		other->window = 0;
	}
	return why;
}

static cJSON *flow_json(cp_flows *f, const struct cp_flow *fl, bool with_subs)
{
	cJSON *o = cJSON_CreateObject();
	char a[SP_ADDR_STRLEN];

	cJSON_AddNumberToObject(o, "flow", fl->id);
	cJSON_AddNumberToObject(o, "worker", fl->worker);
	cJSON_AddStringToObject(o, "state", st_names[fl->state]);
	if (fl->state == ST_FAILED)
		cJSON_AddStringToObject(o, "error", strerror(-fl->error));
	cJSON_AddNumberToObject(o, "rtp_port", fl->rtp_port);
	cJSON_AddNumberToObject(o, "rtcp_port", fl->rtcp_port);
	cJSON_AddStringToObject(o, "source", fl->flags & MSG_FLOW_F_INGEST ? "ingest" :
					     fl->source.family ? sp_addr_str(&fl->source, a) : "latch");
	cJSON_AddBoolToObject(o, "rtcp_mux", fl->flags & MSG_FLOW_F_RTCP_MUX);
	static const char *const codecs[] = { "h264", "h265", "other" };
	cJSON_AddStringToObject(o, "codec", codecs[fl->codec <= 2 ? fl->codec : 2]);
	cJSON_AddStringToObject(o, "srtp", sdes_suite_name(fl->srtp_suite));
	if (fl->key_expired)
		cJSON_AddBoolToObject(o, "key_expired", true);
	cJSON_AddNumberToObject(o, "subscribers", fl->nsubs);
	const shm_seg *seg = dp_link_segment(f->link);
	if (seg && fl->state == ST_ACTIVE)
		status_flow_counters(seg, fl->worker, fl->id, with_subs, o);
	if (with_subs) {
		cJSON *arr = cJSON_AddArrayToObject(o, "subs");
		for (uint32_t k = 0; k < fl->nsubs; k++) {
			const struct cp_sub *s = &fl->subs[k];
			cJSON *so = cJSON_CreateObject();
			cJSON_AddNumberToObject(so, "sub", s->id);
			cJSON_AddStringToObject(so, "state", st_names[s->state]);
			if (s->state == ST_FAILED)
				cJSON_AddStringToObject(so, "error", strerror(-s->error));
			cJSON_AddStringToObject(so, "rtp", sp_addr_str(&s->rtp, a));
			cJSON_AddStringToObject(so, "mode", mode_name(s->mode));
			cJSON_AddStringToObject(so, "rtcp", s->flags & MSG_SUB_F_RTCP_MUX ? "mux" :
							      sp_addr_str(&s->rtcp, a));
			cJSON_AddItemToArray(arr, so);
		}
	}
	return o;
}

static uint32_t least_loaded(const cp_flows *f, uint32_t nw)
{
	uint32_t load[SHM_MAX_WORKERS] = { 0 }, best = 0;

	for (uint32_t i = 0; i < f->n; i++)
		if (f->flows[i].worker < nw && nw <= SHM_MAX_WORKERS)
			load[f->flows[i].worker]++;
	for (uint32_t w = 1; w < nw && w < SHM_MAX_WORKERS; w++)
		if (load[w] < load[best])
			best = w;
	return best;
}

static int cmd_flow_add(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	cp_flows *f = ctx;
	struct cp_flow fl = { 0 };
	char buf[SP_ADDR_STRLEN];
	uint32_t v, nw = dp_link_workers(f->link);

	(void)cmd;
	if (!nw)
		return ctl_error_reply(reply, "spdp not attached");
	if (!params || !ctl_param_u32(params, "id", UINT32_MAX, &fl.id) || fl.id == 0)
		return ctl_error_reply(reply, "id=<1..4294967295> required");
	if (find_flow(f, fl.id))
		return ctl_error_reply(reply, "flow id exists");
	if (f->n == f->max)
		return ctl_error_reply(reply, "flow limit reached");
	int ingest_worker = -1;
	if (ctl_param(params, "ingest", buf, sizeof(buf))) {
		/* Fed by an RTSP pull over the device's tunnel: on its worker. */
		if (!f->tunnels || (ingest_worker = cp_tunnels_worker(f->tunnels, buf)) < 0)
			return ctl_error_reply(reply, "ingest=<device with a tunnel up> required");
		fl.flags |= MSG_FLOW_F_INGEST;
	} else if (ctl_param(params, "source", buf, sizeof(buf))) {
		if (sp_addr_parse(&fl.source, buf) < 0 || !fl.source.port)
			return ctl_error_reply(reply, "source=<ip:port> invalid");
	} else if (ctl_param_u32(params, "latch", 1, &v) && v) {
		fl.flags |= MSG_FLOW_F_LATCH;
	} else {
		return ctl_error_reply(reply, "source=<ip:port>, latch=1 or ingest=<device> required");
	}
	if (ctl_param(params, "port", buf, sizeof(buf))) {
		if (!ctl_param_u32(params, "port", 65534, &v))
			return ctl_error_reply(reply, "port=<0..65534> invalid");
		fl.req_port = (uint16_t)v;
		if (v)
			fl.flags |= MSG_FLOW_F_PINNED_PORT;
	}
	if (ctl_param(params, "ssrc", buf, sizeof(buf))) {
		if (!ctl_param_u32(params, "ssrc", UINT32_MAX, &fl.ssrc))
			return ctl_error_reply(reply, "ssrc=<u32> invalid");
		fl.ssrc_filter = true;
	}
	if (ctl_param_u32(params, "rtcp_mux", 1, &v) && v)
		fl.flags |= MSG_FLOW_F_RTCP_MUX;
	if (ctl_param(params, "codec", buf, sizeof(buf))) {
		if (!strcmp(buf, "h264"))
			fl.codec = MSG_CODEC_H264;
		else if (!strcmp(buf, "h265"))
			fl.codec = MSG_CODEC_H265;
		else if (!strcmp(buf, "other"))
			fl.codec = MSG_CODEC_OTHER;
		else
			return ctl_error_reply(reply, "codec=h264|h265|other");
	}
	const char *why = param_key_pair(params, "srtp_tx_key", 0, false, &fl.srtp_rx, &fl.srtp_tx, NULL);
	if (why) {
		explicit_bzero(&fl, sizeof(fl));
		return ctl_error_reply(reply, why);
	}
	fl.srtp_suite = fl.srtp_rx.suite;
	/* A flow with a known source lives on the worker the kernel steers that
	 * source to on the shared port (same hash); latched flows on the
	 * least-loaded worker. */
	if (ingest_worker >= 0)
		fl.worker = (uint32_t)ingest_worker;
	else if (fl.source.family)
		fl.worker = sp_addr_steer(&fl.source, nw);
	else
		fl.worker = least_loaded(f, nw);
	fl.seen = true; /* installed now: a dump in progress must not re-install it */
	f->flows[f->n] = fl;
	if (send_flow_add(f, &f->flows[f->n]) < 0)
		return ctl_error_reply(reply, "command ring to spdp full; retry");
	*reply = flow_json(f, &f->flows[f->n++], false);
	return 0;
}

static int cmd_flow_del(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	cp_flows *f = ctx;
	struct cp_flow *fl;
	uint32_t id;

	(void)cmd;
	if (!params || !ctl_param_u32(params, "id", UINT32_MAX, &id) || !(fl = find_flow(f, id)))
		return ctl_error_reply(reply, "id=<existing flow> required");
	if (f->in_use && f->in_use(f->in_use_ctx, id))
		return ctl_error_reply(reply, "an RTSP pull feeds this flow: rtsp stop it first");
	struct msg_flow_del m = { .seq = ++f->seq, .flow_id = id };
	if (fl->state != ST_FAILED && dp_link_send(f->link, fl->worker, MSG_FLOW_DEL, &m, sizeof(m)) < 0)
		return ctl_error_reply(reply, "spdp not attached or command ring full");
	remove_flow(f, fl);
	*reply = cJSON_CreateObject();
	cJSON_AddNumberToObject(*reply, "flow", id);
	cJSON_AddStringToObject(*reply, "state", "deleted");
	return 0;
}

static int cmd_sub_add(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	cp_flows *f = ctx;
	struct cp_flow *fl;
	struct cp_sub s = { 0 }, *ns;
	char buf[SP_ADDR_STRLEN];
	uint32_t fid, v;

	(void)cmd;
	if (!params || !ctl_param_u32(params, "flow", UINT32_MAX, &fid) || !(fl = find_flow(f, fid)))
		return ctl_error_reply(reply, "flow=<existing flow> required");
	if (!ctl_param_u32(params, "id", UINT32_MAX, &s.id) || s.id == 0)
		return ctl_error_reply(reply, "id=<1..4294967295> required");
	if (find_sub(fl, s.id))
		return ctl_error_reply(reply, "subscriber id exists in this flow");
	if (!ctl_param(params, "rtp", buf, sizeof(buf)) || sp_addr_parse(&s.rtp, buf) < 0 || !s.rtp.port)
		return ctl_error_reply(reply, "rtp=<ip:port> required");
	if (ctl_param_u32(params, "rtcp_mux", 1, &v) && v) {
		s.flags |= MSG_SUB_F_RTCP_MUX;
	} else if (ctl_param(params, "rtcp", buf, sizeof(buf))) {
		if (sp_addr_parse(&s.rtcp, buf) < 0 || !s.rtcp.port)
			return ctl_error_reply(reply, "rtcp=<ip:port> invalid");
	} else {
		/* RFC 3550 default: RTCP on the next port up. */
		s.rtcp = s.rtp;
		s.rtcp.port = htons((uint16_t)(ntohs(s.rtp.port) + 1));
	}
	bool generated;
	const char *why = param_key_pair(params, "srtp_rx_key", fl->srtp_suite, true, &s.srtp_tx,
					 &s.srtp_rx, &generated);
	if (why) {
		explicit_bzero(&s, sizeof(s));
		return ctl_error_reply(reply, why);
	}
	if (!(ns = add_sub(fl, s.id)))
		return -ENOMEM;
	s.seen = true; /* installed now: a dump in progress must not re-install it */
	s.mode = predict_mode(fl, &s);
	*ns = s;
	explicit_bzero(&s, sizeof(s));
	if (fl->state != ST_FAILED && send_sub_add(f, fl, ns) < 0) {
		remove_sub(fl, ns);
		return ctl_error_reply(reply, "spdp not attached or command ring full");
	}
	*reply = cJSON_CreateObject();
	cJSON_AddNumberToObject(*reply, "flow", fid);
	cJSON_AddNumberToObject(*reply, "sub", ns->id);
	cJSON_AddStringToObject(*reply, "state", "pending");
	cJSON_AddStringToObject(*reply, "mode", mode_name(ns->mode));
	cJSON_AddStringToObject(*reply, "srtp", sdes_suite_name(ns->srtp_tx.suite));
	sub_event("subscriber_added", fid, ns->id, "command");
	if (generated) {
		/* The only time a key leaves spcp: the caller hands it to the viewer. */
		char b64[72];
		if (sdes_key_format(&ns->srtp_tx, b64, sizeof(b64)) == 0)
			cJSON_AddStringToObject(*reply, "srtp_key", b64);
		explicit_bzero(b64, sizeof(b64));
	}
	return 0;
}

/* /flow/rekey and /sub/rekey: a new key for a leg, without dropping it. */
static int cmd_rekey(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	cp_flows *f = ctx;
	bool is_sub = !strcmp(cmd, "/sub/rekey");
	struct msg_srtp_rekey m = { 0 };
	struct cp_flow *fl;
	struct cp_sub *s = NULL;
	struct msg_srtp_key *tx_slot, *rx_slot;
	char buf[64];
	uint32_t fid, id = 0;
	uint8_t suite;
	bool generated = false;

	if (!params || !ctl_param_u32(params, is_sub ? "flow" : "id", UINT32_MAX, &fid) ||
	    !(fl = find_flow(f, fid)))
		return ctl_error_reply(reply, is_sub ? "flow=<existing flow> required" : "id=<existing flow> required");
	if (is_sub && (!ctl_param_u32(params, "id", UINT32_MAX, &id) || !(s = find_sub(fl, id))))
		return ctl_error_reply(reply, "id=<existing subscriber> required");
	suite = is_sub ? s->srtp_tx.suite : fl->srtp_suite;
	if (!suite || (is_sub && s->mode == SUB_MODE_PASSTHROUGH))
		return ctl_error_reply(reply, is_sub ? "subscriber has no key of its own (plain or passthrough)"
						 : "flow is plain RTP");
	/* which=rx|tx|both: the leg that unprotects what the peer sends, the
	 * one that protects what we send, or both (the default). */
	m.which = MSG_REKEY_RX | MSG_REKEY_TX;
	if (ctl_param(params, "which", buf, sizeof(buf)))
		m.which = !strcmp(buf, "rx") ? MSG_REKEY_RX : !strcmp(buf, "tx") ? MSG_REKEY_TX :
			  !strcmp(buf, "both") ? (MSG_REKEY_RX | MSG_REKEY_TX) : 0;
	if (!m.which)
		return ctl_error_reply(reply, "which=rx|tx|both");
	m.mode = SRTP_LEG_REKEY_CONTINUE;
	if (ctl_param(params, "mode", buf, sizeof(buf)))
		m.mode = !strcmp(buf, "reset") ? SRTP_LEG_REKEY_RESET :
			 !strcmp(buf, "continue") ? SRTP_LEG_REKEY_CONTINUE : 0xff;
	if (m.mode == 0xff)
		return ctl_error_reply(reply, "mode=continue|reset");
	if (ctl_param(params, "srtp", buf, sizeof(buf)) && sdes_suite_parse(buf) != suite)
		return ctl_error_reply(reply, "a rekey keeps the leg's suite");
	const char *why = param_srtp(params, "srtp_key", suite, is_sub, &m.key, &generated);
	if (!why && !m.key.suite)
		why = "srtp_key=<base64 key||salt> required";
	if (why) {
		explicit_bzero(&m, sizeof(m));
		return ctl_error_reply(reply, why);
	}
	m.seq = ++f->seq;
	m.flow_id = fid;
	m.sub_id = id;
	if (fl->state == ST_FAILED ||
	    dp_link_send(f->link, fl->worker, MSG_SRTP_REKEY, &m, sizeof(m)) < 0) {
		explicit_bzero(&m, sizeof(m));
		return ctl_error_reply(reply, "spdp not attached or command ring full");
	}
	/* Remember it for a re-install after an spdp restart. */
	tx_slot = is_sub ? &s->srtp_tx : &fl->srtp_tx;
	rx_slot = is_sub ? &s->srtp_rx : &fl->srtp_rx;
	if (m.which & MSG_REKEY_TX)
		*tx_slot = m.key;
	if (m.which & MSG_REKEY_RX)
		*rx_slot = m.key;
	if (!is_sub && (m.which & MSG_REKEY_RX) && !(m.which & MSG_REKEY_TX) && !fl->srtp_tx.suite)
		fl->srtp_tx = fl->srtp_rx; /* the tx leg had been following the old rx key */
	*reply = cJSON_CreateObject();
	cJSON_AddNumberToObject(*reply, "flow", fid);
	if (is_sub)
		cJSON_AddNumberToObject(*reply, "sub", id);
	cJSON_AddStringToObject(*reply, "state", "pending");
	if (generated) {
		char b64[72];
		if (sdes_key_format(&m.key, b64, sizeof(b64)) == 0)
			cJSON_AddStringToObject(*reply, "srtp_key", b64);
		explicit_bzero(b64, sizeof(b64));
	}
	explicit_bzero(&m, sizeof(m));
	return 0;
}

static int cmd_sub_del(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	cp_flows *f = ctx;
	struct cp_flow *fl;
	struct cp_sub *s;
	uint32_t fid, id;

	(void)cmd;
	if (!params || !ctl_param_u32(params, "flow", UINT32_MAX, &fid) || !(fl = find_flow(f, fid)) ||
	    !ctl_param_u32(params, "id", UINT32_MAX, &id) || !(s = find_sub(fl, id)))
		return ctl_error_reply(reply, "flow=<flow>&id=<subscriber> required");
	struct msg_sub_del m = { .seq = ++f->seq, .flow_id = fid, .sub_id = id };
	if (dp_link_send(f->link, fl->worker, MSG_SUB_DEL, &m, sizeof(m)) < 0)
		return ctl_error_reply(reply, "spdp not attached or command ring full");
	remove_sub(fl, s);
	sub_event("subscriber_removed", fid, id, "command");
	*reply = cJSON_CreateObject();
	cJSON_AddNumberToObject(*reply, "flow", fid);
	cJSON_AddNumberToObject(*reply, "sub", id);
	cJSON_AddStringToObject(*reply, "state", "deleted");
	return 0;
}

static int cmd_flow(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	cp_flows *f = ctx;
	struct cp_flow *fl;
	uint32_t id;

	(void)cmd;
	if (!params || !ctl_param_u32(params, "id", UINT32_MAX, &id) || !(fl = find_flow(f, id)))
		return ctl_error_reply(reply, "id=<existing flow> required");
	*reply = flow_json(f, fl, true);
	return 0;
}

static int cmd_flows(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	cp_flows *f = ctx;
	uint32_t start = 0, count = UINT32_MAX;
	cJSON *arr;

	(void)cmd;
	if (params) {
		ctl_param_u32(params, "start", UINT32_MAX, &start);
		ctl_param_u32(params, "count", UINT32_MAX, &count);
	}
	*reply = cJSON_CreateObject();
	cJSON_AddNumberToObject(*reply, "count", f->n);
	cJSON_AddNumberToObject(*reply, "start", start);
	cJSON_AddNumberToObject(*reply, "events", (double)f->events);
	cJSON_AddNumberToObject(*reply, "failures", (double)f->failures);
	cJSON_AddNumberToObject(*reply, "subs_removed_by_spdp", (double)f->removed_by_spdp);
	arr = cJSON_AddArrayToObject(*reply, "flows");
	for (uint32_t i = start; i < f->n && i - start < count; i++)
		cJSON_AddItemToArray(arr, flow_json(f, &f->flows[i], false));
	return 0;
}

cp_flows *cp_flows_create(dp_link *link, uint32_t max_flows)
{
	cp_flows *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->flows = calloc(max_flows, sizeof(*f->flows));
	if (!f->flows) {
		free(f);
		return NULL;
	}
	f->max = max_flows;
	f->link = link;
	dp_link_on_attach(link, on_attach, f);
	dp_link_on_flow_event(link, on_event, f);
	return f;
}

void cp_flows_destroy(cp_flows *f)
{
	if (!f)
		return;
	for (uint32_t i = 0; i < f->n; i++)
		free(f->flows[i].subs);
	free(f->flows);
	free(f);
}

int cp_flows_register_ctl(cp_flows *f, struct ctlsock *cs)
{
	if (ctlsock_register(cs, "/flow/add", cmd_flow_add, f,
			     "Create a flow. id=N&source=IP:PORT (or latch=1, or ingest=DEVICE: fed by an RTSP pull)[&port=P][&ssrc=N][&rtcp_mux=1][&codec=h264|h265|other]"
			     "[&srtp=SUITE&srtp_key=BASE64[&srtp_tx_key=BASE64][&srtp_window=N]]") ||
	    ctlsock_register(cs, "/flow/del", cmd_flow_del, f, "Delete a flow. id=N") ||
	    ctlsock_register(cs, "/flow", cmd_flow, f, "One flow with its subscribers. id=N") ||
	    ctlsock_register(cs, "/flows", cmd_flows, f, "Flows, with counters. [start=N&count=M] pages through them") ||
	    ctlsock_register(cs, "/sub/add", cmd_sub_add, f,
			     "Add a subscriber. flow=N&id=N&rtp=IP:PORT[&rtcp=IP:PORT|&rtcp_mux=1]"
			     "[&srtp=SUITE][&srtp_key=BASE64|generate[&srtp_rx_key=BASE64]]") ||
	    ctlsock_register(cs, "/flow/rekey", cmd_rekey, f,
			     "New SRTP key for the camera's legs. id=N&srtp_key=BASE64[&which=rx|tx|both][&mode=continue|reset]") ||
	    ctlsock_register(cs, "/sub/rekey", cmd_rekey, f,
			     "New SRTP key for a subscriber's legs. flow=N&id=N&srtp_key=BASE64|generate[&which=rx|tx|both][&mode=continue|reset]") ||
	    ctlsock_register(cs, "/sub/del", cmd_sub_del, f, "Remove a subscriber. flow=N&id=N"))
		return -EINVAL;
	return 0;
}

void cp_flows_set_tunnels(cp_flows *f, const cp_tunnels *t)
{
	f->tunnels = t;
}

void cp_flows_set_in_use(cp_flows *f, bool (*fn)(void *ctx, uint32_t flow_id), void *ctx)
{
	f->in_use = fn;
	f->in_use_ctx = ctx;
}

int cp_flows_ingest_worker(cp_flows *f, uint32_t id)
{
	const struct cp_flow *fl = find_flow(f, id);

	if (!fl || !(fl->flags & MSG_FLOW_F_INGEST))
		return -ENOENT;
	return (int)fl->worker;
}

int cp_flows_sub_count(cp_flows *f, uint32_t id)
{
	const struct cp_flow *fl = find_flow(f, id);
	int n = 0;

	if (!fl)
		return -ENOENT;
	for (uint32_t i = 0; i < fl->nsubs; i++)
		n += fl->subs[i].state != ST_FAILED;
	return n;
}
