/*
 * tunnels (spcp): the device -> worker map and the forwards (tunnels.h).
 * Linear tables: a device lookup per event or command, not per packet.
 */
#include "tunnels.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cp_event.h"
#include "ctl.h"
#include "ctlsock.h"
#include "log.h"
#include "tun_frame.h"

enum fwd_state { FWD_FREE = 0, FWD_PENDING, FWD_LISTENING, FWD_FAILED, FWD_CLOSED };
static const char *const fwd_state_names[] = { "free", "pending", "listening", "failed", "closed" };
static const char *const down_names[TUNNEL_DOWN__MAX + 1] = {
	"closed", "protocol", "heartbeat", "replaced", "goaway", "tls", "backlog", "shutdown",
};
/* TUNNEL_FWD_* and, past them, spcp's own: spdp went away (a dump brings
 * back those that were still listening) */
#define FWD_DETACHED 3
static const char *const fwd_closed_names[] = { "idle", "unlisten", "tunnel_down", "detached" };

struct cp_tun {
	char device[MSG_TUNNEL_DEVICE_LEN]; /* "": free */
	uint32_t worker;
	uint64_t id;
	struct sp_addr source;
	uint64_t since_ns;
	bool restored;         /* learnt from a dump: up since before since_ns */
};

struct cp_fwd {
	uint8_t state;
	uint32_t id;
	uint32_t worker;
	uint64_t seq;
	uint64_t tunnel_id;
	int32_t error;
	uint16_t port, reason;
	uint32_t idle_ms, served;
	uint64_t created_ns;
	char device[MSG_TUNNEL_DEVICE_LEN];
	char target[MSG_TUNNEL_TARGET_LEN];
};

struct cp_tunnels {
	cp_tunnels_send_fn send;
	void *send_ctx;
	struct cp_tun *tun;
	uint32_t n_tun, cap_tun;
	struct cp_fwd fwd[CP_TUNNELS_FWD_MAX];
	uint32_t next_fwd_id;
	uint64_t seq;
	uint64_t dump_seq;     /* the current attach's MSG_TUNNEL_DUMP */
	uint32_t dump_pending; /* workers that have not sent DUMP_DONE */
	struct {
		uint64_t up, down, replaced, kicks, listening, failed, closed, stale, cmd_drops;
		uint64_t dumps_done, restored_tunnels, restored_forwards;
	} n;
};

static int link_send(void *ctx, uint32_t worker, uint16_t type, const void *p, uint32_t len)
{
	return dp_link_send(ctx, worker, type, p, len);
}

static void on_link_event(void *ctx, uint32_t worker, const struct msg_tunnel_event *ev)
{
	cp_tunnels_on_event(ctx, worker, ev);
}

static void on_link_attach(void *ctx)
{
	cp_tunnels *t = ctx;
	cp_tunnels_on_attach(t, dp_link_workers(t->send_ctx));
}

cp_tunnels *cp_tunnels_create_with(cp_tunnels_send_fn send, void *ctx)
{
	cp_tunnels *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->send = send;
	t->send_ctx = ctx;
	return t;
}

cp_tunnels *cp_tunnels_create(dp_link *link)
{
	cp_tunnels *t = cp_tunnels_create_with(link_send, link);

	if (t) {
		dp_link_on_tunnel_event(link, on_link_event, t);
		dp_link_on_attach(link, on_link_attach, t);
	}
	return t;
}

void cp_tunnels_destroy(cp_tunnels *t)
{
	if (!t)
		return;
	free(t->tun);
	free(t);
}

static struct cp_tun *find_tun(const cp_tunnels *t, const char *device)
{
	for (uint32_t i = 0; i < t->n_tun; i++)
		if (!strcmp(t->tun[i].device, device))
			return &t->tun[i];
	return NULL;
}

int cp_tunnels_worker(const cp_tunnels *t, const char *device)
{
	const struct cp_tun *u = find_tun(t, device);
	return u ? (int)u->worker : -ENOENT;
}

static struct cp_fwd *find_fwd(cp_tunnels *t, uint32_t id)
{
	for (int i = 0; i < CP_TUNNELS_FWD_MAX; i++)
		if (t->fwd[i].state != FWD_FREE && t->fwd[i].id == id)
			return &t->fwd[i];
	return NULL;
}

static struct cp_fwd *fwd_slot(cp_tunnels *t);

/* A newly attached spdp: what spcp knew may be gone (spdp restarted) and
 * what spdp holds may be unknown (spcp restarted). Forget the tunnels, then
 * ask every worker for its live tunnels and forwards. */
void cp_tunnels_on_attach(cp_tunnels *t, uint32_t workers)
{
	t->n_tun = 0;
	for (int i = 0; i < CP_TUNNELS_FWD_MAX; i++) {
		struct cp_fwd *f = &t->fwd[i];
		if (f->state == FWD_PENDING || f->state == FWD_LISTENING) {
			f->state = FWD_CLOSED;
			f->reason = FWD_DETACHED;
		}
	}
	t->dump_seq = ++t->seq;
	t->dump_pending = 0;
	for (uint32_t w = 0; w < workers; w++) {
		struct msg_tunnel_cmd d = { .seq = t->dump_seq, .op = MSG_TUNNEL_DUMP };
		if (t->send(t->send_ctx, w, MSG_TUNNEL_CMD, &d, sizeof(d)) < 0) {
			t->n.cmd_drops++;
			log_warn(0, "tunnels: could not ask worker %u for its tunnels", w);
			continue;
		}
		t->dump_pending++;
	}
}

/* A forward spdp still has (dump record): adopt it, and never hand out its
 * id again. Its target and idle time stay with spdp. */
static void restore_fwd(cp_tunnels *t, uint32_t worker, const struct msg_tunnel_event *ev,
			const char *dev)
{
	struct cp_fwd *f = find_fwd(t, ev->fwd_id);

	if (!f) {
		if (!(f = fwd_slot(t)))
			return;
		memset(f, 0, sizeof(*f));
		f->id = ev->fwd_id;
		f->created_ns = clock_mono_ns();
		snprintf(f->device, sizeof(f->device), "%s", dev);
	}
	f->state = FWD_LISTENING;
	f->worker = worker;
	f->port = ev->port;
	f->tunnel_id = ev->tunnel_id;
	f->served = ev->streams;
	if ((int32_t)(ev->fwd_id - t->next_fwd_id) > 0)
		t->next_fwd_id = ev->fwd_id;
	t->n.restored_forwards++;
}

static void on_up(cp_tunnels *t, uint32_t worker, const struct msg_tunnel_event *ev)
{
	struct cp_tun *u = find_tun(t, ev->device);

	t->n.up++;
	cp_event_str("tunnel_up", "device", ev->device);
	if (u && u->id != ev->tunnel_id) {
		t->n.replaced++;
		if (u->worker != worker) {
			/* The old one is on another worker: spdp cannot see it. */
			struct msg_tunnel_cmd k = { .seq = ++t->seq, .op = MSG_TUNNEL_KICK,
						    .tunnel_id = u->id };
			if (t->send(t->send_ctx, u->worker, MSG_TUNNEL_CMD, &k, sizeof(k)) < 0)
				t->n.cmd_drops++;
			else
				t->n.kicks++;
		}
	}
	if (!u) {
		if (t->n_tun == t->cap_tun) {
			uint32_t cap = t->cap_tun ? 2 * t->cap_tun : 64;
			struct cp_tun *nt;
			if (cap > CP_TUNNELS_MAX || !(nt = realloc(t->tun, cap * sizeof(*nt)))) {
				log_rl(LOG_LVL_WARNING, 0, "tunnels: table full, device %s not tracked",
				       ev->device);
				return;
			}
			t->tun = nt;
			t->cap_tun = cap;
		}
		u = &t->tun[t->n_tun++];
	}
	memset(u, 0, sizeof(*u));
	snprintf(u->device, sizeof(u->device), "%s", ev->device);
	u->worker = worker;
	u->id = ev->tunnel_id;
	u->source = ev->source;
	u->since_ns = clock_mono_ns();
	u->restored = ev->seq != 0;
}

void cp_tunnels_on_event(cp_tunnels *t, uint32_t worker, const struct msg_tunnel_event *ev)
{
	struct cp_fwd *f = ev->fwd_id ? find_fwd(t, ev->fwd_id) : NULL;
	char dev[MSG_TUNNEL_DEVICE_LEN];

	snprintf(dev, sizeof(dev), "%.*s", (int)strnlen(ev->device, sizeof(ev->device)), ev->device);
	bool dumped = ev->seq && ev->seq == t->dump_seq;
	switch (ev->kind) {
	case TUNNEL_EV_UP:
		if (ev->seq && !dumped)
			break; /* a record of an older dump */
		if (dev[0])
			on_up(t, worker, ev);
		if (dumped)
			t->n.restored_tunnels++;
		break;
	case TUNNEL_EV_DUMP_DONE:
		if (dumped && t->dump_pending) {
			t->n.dumps_done++;
			if (!--t->dump_pending)
				log_info("tunnels: %u tunnels and %" PRIu64 " forwards learnt from spdp", t->n_tun,
					 t->n.restored_forwards);
		}
		break;
	case TUNNEL_EV_DOWN: {
		struct cp_tun *u = find_tun(t, dev);
		t->n.down++;
		cp_event_str("tunnel_down", "device", dev);
		log_info("tunnel %" PRIx64 " of device %s on worker %u down: %s", ev->tunnel_id, dev,
			 worker, ev->reason <= TUNNEL_DOWN__MAX ? down_names[ev->reason] : "?");
		if (u && u->id == ev->tunnel_id) {
			*u = t->tun[--t->n_tun];
		} else {
			t->n.stale++; /* an older tunnel the device already replaced */
		}
		break;
	}
	case TUNNEL_EV_LISTENING:
		if (dumped && ev->fwd_id && dev[0]) {
			restore_fwd(t, worker, ev, dev);
		} else if (f && f->state == FWD_PENDING) {
			f->state = FWD_LISTENING;
			f->port = ev->port;
			f->tunnel_id = ev->tunnel_id;
			t->n.listening++;
		}
		break;
	case TUNNEL_EV_FAILED:
		t->n.failed++;
		if (f && f->state == FWD_PENDING) {
			f->state = FWD_FAILED;
			f->error = ev->error;
		}
		break;
	case TUNNEL_EV_FWD_CLOSED:
		t->n.closed++;
		if (f && (f->state == FWD_LISTENING || f->state == FWD_PENDING)) {
			f->state = FWD_CLOSED;
			f->reason = ev->reason;
			f->served = ev->streams;
		}
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------ ctl */

static cJSON *fwd_json(const struct cp_fwd *f)
{
	cJSON *o = cJSON_CreateObject();
	char buf[24];

	cJSON_AddNumberToObject(o, "id", f->id);
	cJSON_AddStringToObject(o, "device", f->device);
	cJSON_AddStringToObject(o, "target", f->target[0] ? f->target : "?");
	cJSON_AddNumberToObject(o, "worker", f->worker);
	cJSON_AddStringToObject(o, "state", fwd_state_names[f->state]);
	if (f->state == FWD_LISTENING || f->state == FWD_CLOSED) {
		cJSON_AddStringToObject(o, "host", "127.0.0.1");
		cJSON_AddNumberToObject(o, "port", f->port);
	}
	if (f->state == FWD_FAILED) {
		cJSON_AddStringToObject(o, "error", f->error == -ENOENT ? "no tunnel for the device on its worker" :
					strerror(-f->error));
	}
	if (f->state == FWD_CLOSED) {
		cJSON_AddStringToObject(o, "closed", f->reason <= FWD_DETACHED ? fwd_closed_names[f->reason] : "?");
		cJSON_AddNumberToObject(o, "connections", f->served);
	}
	cJSON_AddNumberToObject(o, "idle_ms", f->idle_ms);
	snprintf(buf, sizeof(buf), "%" PRIx64, f->tunnel_id);
	cJSON_AddStringToObject(o, "tunnel", buf);
	return o;
}

static int cmd_tunnels(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	cp_tunnels *t = ctx;
	uint64_t now = clock_mono_ns();
	cJSON *o, *a, *c;

	(void)cmd, (void)params;
	o = *reply = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(o, "tunnels");
	for (uint32_t i = 0; i < t->n_tun; i++) {
		const struct cp_tun *u = &t->tun[i];
		cJSON *e = cJSON_CreateObject();
		char buf[SP_ADDR_STRLEN], id[24];
		snprintf(id, sizeof(id), "%" PRIx64, u->id);
		cJSON_AddStringToObject(e, "device", u->device);
		cJSON_AddNumberToObject(e, "worker", u->worker);
		cJSON_AddStringToObject(e, "tunnel", id);
		cJSON_AddStringToObject(e, "source", sp_addr_str(&u->source, buf));
		cJSON_AddNumberToObject(e, "up_s", (double)(now - u->since_ns) / 1e9);
		if (u->restored)
			cJSON_AddBoolToObject(e, "restored", true); /* up_s: since spcp learnt it */
		cJSON_AddItemToArray(a, e);
	}
	a = cJSON_AddArrayToObject(o, "forwards");
	for (int i = 0; i < CP_TUNNELS_FWD_MAX; i++)
		if (t->fwd[i].state != FWD_FREE)
			cJSON_AddItemToArray(a, fwd_json(&t->fwd[i]));
	c = cJSON_AddObjectToObject(o, "events");
	cJSON_AddNumberToObject(c, "up", (double)t->n.up);
	cJSON_AddNumberToObject(c, "down", (double)t->n.down);
	cJSON_AddNumberToObject(c, "replaced", (double)t->n.replaced);
	cJSON_AddNumberToObject(c, "kicks_sent", (double)t->n.kicks);
	cJSON_AddNumberToObject(c, "down_stale", (double)t->n.stale);
	cJSON_AddNumberToObject(c, "listening", (double)t->n.listening);
	cJSON_AddNumberToObject(c, "failed", (double)t->n.failed);
	cJSON_AddNumberToObject(c, "forwards_closed", (double)t->n.closed);
	cJSON_AddNumberToObject(c, "command_drops", (double)t->n.cmd_drops);
	c = cJSON_AddObjectToObject(o, "restore");
	cJSON_AddNumberToObject(c, "workers_pending", t->dump_pending);
	cJSON_AddNumberToObject(c, "dumps_done", (double)t->n.dumps_done);
	cJSON_AddNumberToObject(c, "tunnels", (double)t->n.restored_tunnels);
	cJSON_AddNumberToObject(c, "forwards", (double)t->n.restored_forwards);
	return 0;
}

/* A slot for a new forward: a free one, else the oldest finished one. */
static struct cp_fwd *fwd_slot(cp_tunnels *t)
{
	struct cp_fwd *old = NULL;

	for (int i = 0; i < CP_TUNNELS_FWD_MAX; i++) {
		struct cp_fwd *f = &t->fwd[i];
		if (f->state == FWD_FREE)
			return f;
		if ((f->state == FWD_FAILED || f->state == FWD_CLOSED) &&
		    (!old || f->created_ns < old->created_ns))
			old = f;
	}
	return old;
}

static int cmd_open(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	cp_tunnels *t = ctx;
	char dev[MSG_TUNNEL_DEVICE_LEN], host[200] = "127.0.0.1", ib[16];
	uint32_t port, idle_ms = 60000;
	struct msg_tunnel_cmd m = { .op = MSG_TUNNEL_LISTEN };

	(void)cmd;
	if (!params || !ctl_param(params, "device", dev, sizeof(dev)) || !dev[0])
		return ctl_error_reply(reply, "device=<id> required");
	if (!ctl_param_u32(params, "port", 65535, &port) || !port)
		return ctl_error_reply(reply, "port=<1..65535> required");
	if (ctl_param(params, "host", host, sizeof(host)) && !host[0])
		return ctl_error_reply(reply, "host=<name or address> invalid");
	if (ctl_param(params, "idle_ms", ib, sizeof(ib)) &&
	    (!ctl_param_u32(params, "idle_ms", 86400000, &idle_ms) || !idle_ms))
		return ctl_error_reply(reply, "idle_ms=<1..86400000> invalid");
	int n = snprintf(m.target, sizeof(m.target), strchr(host, ':') && host[0] != '[' ?
			 "[%s]:%u" : "%s:%u", host, port);
	if (n <= 0 || !tun_target_valid(m.target, (size_t)n))
		return ctl_error_reply(reply, "host:port is not a valid target");
	struct cp_tun *u = find_tun(t, dev);
	if (!u)
		return ctl_error_reply(reply, "no tunnel for this device");
	struct cp_fwd *f = fwd_slot(t);
	if (!f)
		return ctl_error_reply(reply, "too many forwards open");
	snprintf(m.device, sizeof(m.device), "%s", dev);
	m.seq = ++t->seq;
	m.idle_ms = idle_ms;
	do { /* never an id spdp may still hold */
		if (!++t->next_fwd_id)
			t->next_fwd_id = 1;
	} while (find_fwd(t, t->next_fwd_id));
	m.fwd_id = t->next_fwd_id;
	if (t->send(t->send_ctx, u->worker, MSG_TUNNEL_CMD, &m, sizeof(m)) < 0) {
		t->n.cmd_drops++;
		return ctl_error_reply(reply, "command ring to spdp full or detached; retry");
	}
	memset(f, 0, sizeof(*f));
	f->state = FWD_PENDING;
	f->id = m.fwd_id;
	f->worker = u->worker;
	f->seq = m.seq;
	f->tunnel_id = u->id;
	f->idle_ms = idle_ms;
	f->created_ns = clock_mono_ns();
	snprintf(f->device, sizeof(f->device), "%s", dev);
	snprintf(f->target, sizeof(f->target), "%s", m.target);
	*reply = fwd_json(f);
	return 0;
}

static int cmd_forward(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	cp_tunnels *t = ctx;
	uint32_t id;
	struct cp_fwd *f;

	(void)cmd;
	if (!params || !ctl_param_u32(params, "id", UINT32_MAX, &id) || !(f = find_fwd(t, id)))
		return ctl_error_reply(reply, "id=<forward id> unknown");
	*reply = fwd_json(f);
	return 0;
}

static int cmd_close(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	cp_tunnels *t = ctx;
	uint32_t id;
	struct cp_fwd *f;

	(void)cmd;
	if (!params || !ctl_param_u32(params, "id", UINT32_MAX, &id) || !(f = find_fwd(t, id)))
		return ctl_error_reply(reply, "id=<forward id> unknown");
	if (f->state != FWD_LISTENING && f->state != FWD_PENDING)
		return ctl_error_reply(reply, "forward not open");
	struct msg_tunnel_cmd m = { .seq = ++t->seq, .op = MSG_TUNNEL_UNLISTEN, .fwd_id = id };
	if (t->send(t->send_ctx, f->worker, MSG_TUNNEL_CMD, &m, sizeof(m)) < 0) {
		t->n.cmd_drops++;
		return ctl_error_reply(reply, "command ring to spdp full or detached; retry");
	}
	*reply = fwd_json(f);
	cJSON_AddStringToObject(*reply, "closing", "requested");
	return 0;
}

int cp_tunnels_register_ctl(cp_tunnels *t, struct ctlsock *cs)
{
	if (ctlsock_register(cs, "/tunnels", cmd_tunnels, t,
			     "Agent tunnels (device, worker, source) and forwards; events from spdp") ||
	    ctlsock_register(cs, "/tunnel/open", cmd_open, t,
			     "Forward a local port to a device's target: device=ID&port=N[&host=H][&idle_ms=N]; "
			     "pending until spdp answers (see /tunnel/forward)") ||
	    ctlsock_register(cs, "/tunnel/forward", cmd_forward, t, "One forward: id=N") ||
	    ctlsock_register(cs, "/tunnel/close", cmd_close, t, "Close a forward's listener: id=N"))
		return -EINVAL;
	return 0;
}
