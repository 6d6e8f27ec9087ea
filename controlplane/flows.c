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
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "cp.h"
#include "ctlsock.h"
#include "log.h"
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
};

struct cp_flows {
	dp_link *link;
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
	free(fl->subs);
	*fl = f->flows[--f->n];
}

static void remove_sub(struct cp_flow *fl, struct cp_sub *s)
{
	*s = fl->subs[--fl->nsubs];
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
				  .rtp_port = fl->req_port, .source = fl->source };
	fl->state = ST_PENDING;
	return dp_link_send(f->link, fl->worker, MSG_FLOW_ADD, &m, sizeof(m));
}

static int send_sub_add(cp_flows *f, struct cp_flow *fl, struct cp_sub *s)
{
	struct msg_sub_add m = { .seq = ++f->seq, .flow_id = fl->id, .sub_id = s->id,
				 .flags = s->flags, .rtp = s->rtp, .rtcp = s->rtcp };
	s->state = ST_PENDING;
	return dp_link_send(f->link, fl->worker, MSG_SUB_ADD, &m, sizeof(m));
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
		}
		break;
	case FLOW_EV_SUB_REMOVED:
		if (fl && (s = find_sub(fl, ev->sub_id))) {
			if (ev->reason != SUB_RM_COMMAND) {
				f->removed_by_spdp++;
				log_notice("flow %u subscriber %u removed by spdp: %s", ev->flow_id, ev->sub_id,
					   ev->reason == SUB_RM_SEND_ERRORS ? "send errors" :
					   ev->reason == SUB_RM_RTCP_TIMEOUT ? "no RTCP" : "flow removed");
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

/* Value of `key` in "k=v&k=v" (also space separated) into out. */
static bool param(const char *params, const char *key, char *out, size_t outlen)
{
	size_t kl = strlen(key);
	const char *p = params;

	while (p && *p) {
		while (*p == '&' || *p == ' ')
			p++;
		const char *end = p + strcspn(p, "& ");
		if ((size_t)(end - p) > kl && !strncmp(p, key, kl) && p[kl] == '=') {
			size_t vl = (size_t)(end - p) - kl - 1;
			if (vl >= outlen)
				return false;
			memcpy(out, p + kl + 1, vl);
			out[vl] = '\0';
			return true;
		}
		p = end;
	}
	return false;
}

static bool param_u32(const char *params, const char *key, uint32_t max, uint32_t *out)
{
	char buf[16], *end;
	if (!param(params, key, buf, sizeof(buf)) || !buf[0])
		return false;
	unsigned long v = strtoul(buf, &end, 10);
	if (*end || v > max)
		return false;
	*out = (uint32_t)v;
	return true;
}

static int error_reply(cJSON **reply, const char *why)
{
	*reply = cJSON_CreateObject();
	cJSON_AddStringToObject(*reply, "error", why);
	return 0;
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
	cJSON_AddStringToObject(o, "source", fl->source.family ? sp_addr_str(&fl->source, a) : "latch");
	cJSON_AddBoolToObject(o, "rtcp_mux", fl->flags & MSG_FLOW_F_RTCP_MUX);
	static const char *const codecs[] = { "h264", "h265", "other" };
	cJSON_AddStringToObject(o, "codec", codecs[fl->codec <= 2 ? fl->codec : 2]);
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
		return error_reply(reply, "spdp not attached");
	if (!params || !param_u32(params, "id", UINT32_MAX, &fl.id) || fl.id == 0)
		return error_reply(reply, "id=<1..4294967295> required");
	if (find_flow(f, fl.id))
		return error_reply(reply, "flow id exists");
	if (f->n == f->max)
		return error_reply(reply, "flow limit reached");
	if (param(params, "source", buf, sizeof(buf))) {
		if (sp_addr_parse(&fl.source, buf) < 0 || !fl.source.port)
			return error_reply(reply, "source=<ip:port> invalid");
	} else if (param_u32(params, "latch", 1, &v) && v) {
		fl.flags |= MSG_FLOW_F_LATCH;
	} else {
		return error_reply(reply, "source=<ip:port> or latch=1 required");
	}
	if (param(params, "port", buf, sizeof(buf))) {
		if (!param_u32(params, "port", 65534, &v))
			return error_reply(reply, "port=<0..65534> invalid");
		fl.req_port = (uint16_t)v;
		if (v)
			fl.flags |= MSG_FLOW_F_PINNED_PORT;
	}
	if (param(params, "ssrc", buf, sizeof(buf))) {
		if (!param_u32(params, "ssrc", UINT32_MAX, &fl.ssrc))
			return error_reply(reply, "ssrc=<u32> invalid");
		fl.ssrc_filter = true;
	}
	if (param_u32(params, "rtcp_mux", 1, &v) && v)
		fl.flags |= MSG_FLOW_F_RTCP_MUX;
	if (param(params, "codec", buf, sizeof(buf))) {
		if (!strcmp(buf, "h264"))
			fl.codec = MSG_CODEC_H264;
		else if (!strcmp(buf, "h265"))
			fl.codec = MSG_CODEC_H265;
		else if (!strcmp(buf, "other"))
			fl.codec = MSG_CODEC_OTHER;
		else
			return error_reply(reply, "codec=h264|h265|other");
	}
	/* A flow with a known source lives on the worker the kernel steers that
	 * source to on the shared port (same hash); latched flows on the
	 * least-loaded worker. */
	if (fl.source.family)
		fl.worker = sp_addr_steer(&fl.source, nw);
	else
		fl.worker = least_loaded(f, nw);
	fl.seen = true; /* installed now: a dump in progress must not re-install it */
	f->flows[f->n] = fl;
	if (send_flow_add(f, &f->flows[f->n]) < 0)
		return error_reply(reply, "command ring to spdp full; retry");
	*reply = flow_json(f, &f->flows[f->n++], false);
	return 0;
}

static int cmd_flow_del(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	cp_flows *f = ctx;
	struct cp_flow *fl;
	uint32_t id;

	(void)cmd;
	if (!params || !param_u32(params, "id", UINT32_MAX, &id) || !(fl = find_flow(f, id)))
		return error_reply(reply, "id=<existing flow> required");
	struct msg_flow_del m = { .seq = ++f->seq, .flow_id = id };
	if (fl->state != ST_FAILED && dp_link_send(f->link, fl->worker, MSG_FLOW_DEL, &m, sizeof(m)) < 0)
		return error_reply(reply, "spdp not attached or command ring full");
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
	if (!params || !param_u32(params, "flow", UINT32_MAX, &fid) || !(fl = find_flow(f, fid)))
		return error_reply(reply, "flow=<existing flow> required");
	if (!param_u32(params, "id", UINT32_MAX, &s.id) || s.id == 0)
		return error_reply(reply, "id=<1..4294967295> required");
	if (find_sub(fl, s.id))
		return error_reply(reply, "subscriber id exists in this flow");
	if (!param(params, "rtp", buf, sizeof(buf)) || sp_addr_parse(&s.rtp, buf) < 0 || !s.rtp.port)
		return error_reply(reply, "rtp=<ip:port> required");
	if (param_u32(params, "rtcp_mux", 1, &v) && v) {
		s.flags |= MSG_SUB_F_RTCP_MUX;
	} else if (param(params, "rtcp", buf, sizeof(buf))) {
		if (sp_addr_parse(&s.rtcp, buf) < 0 || !s.rtcp.port)
			return error_reply(reply, "rtcp=<ip:port> invalid");
	} else {
		/* RFC 3550 default: RTCP on the next port up. */
		s.rtcp = s.rtp;
		s.rtcp.port = htons((uint16_t)(ntohs(s.rtp.port) + 1));
	}
	if (!(ns = add_sub(fl, s.id)))
		return -ENOMEM;
	s.seen = true; /* installed now: a dump in progress must not re-install it */
	*ns = s;
	if (fl->state != ST_FAILED && send_sub_add(f, fl, ns) < 0) {
		remove_sub(fl, ns);
		return error_reply(reply, "spdp not attached or command ring full");
	}
	*reply = cJSON_CreateObject();
	cJSON_AddNumberToObject(*reply, "flow", fid);
	cJSON_AddNumberToObject(*reply, "sub", s.id);
	cJSON_AddStringToObject(*reply, "state", "pending");
	return 0;
}

static int cmd_sub_del(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	cp_flows *f = ctx;
	struct cp_flow *fl;
	struct cp_sub *s;
	uint32_t fid, id;

	(void)cmd;
	if (!params || !param_u32(params, "flow", UINT32_MAX, &fid) || !(fl = find_flow(f, fid)) ||
	    !param_u32(params, "id", UINT32_MAX, &id) || !(s = find_sub(fl, id)))
		return error_reply(reply, "flow=<flow>&id=<subscriber> required");
	struct msg_sub_del m = { .seq = ++f->seq, .flow_id = fid, .sub_id = id };
	if (dp_link_send(f->link, fl->worker, MSG_SUB_DEL, &m, sizeof(m)) < 0)
		return error_reply(reply, "spdp not attached or command ring full");
	remove_sub(fl, s);
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
	if (!params || !param_u32(params, "id", UINT32_MAX, &id) || !(fl = find_flow(f, id)))
		return error_reply(reply, "id=<existing flow> required");
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
		param_u32(params, "start", UINT32_MAX, &start);
		param_u32(params, "count", UINT32_MAX, &count);
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
			     "Create a flow. id=N&source=IP:PORT (or latch=1)[&port=P][&ssrc=N][&rtcp_mux=1][&codec=h264|h265|other]") ||
	    ctlsock_register(cs, "/flow/del", cmd_flow_del, f, "Delete a flow. id=N") ||
	    ctlsock_register(cs, "/flow", cmd_flow, f, "One flow with its subscribers. id=N") ||
	    ctlsock_register(cs, "/flows", cmd_flows, f, "Flows, with counters. [start=N&count=M] pages through them") ||
	    ctlsock_register(cs, "/sub/add", cmd_sub_add, f,
			     "Add a subscriber. flow=N&id=N&rtp=IP:PORT[&rtcp=IP:PORT|&rtcp_mux=1]") ||
	    ctlsock_register(cs, "/sub/del", cmd_sub_del, f, "Remove a subscriber. flow=N&id=N"))
		return -EINVAL;
	return 0;
}
