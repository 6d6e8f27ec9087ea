/*
 * turn (spcp): turn_server wired to spdp's rings (see turn.h for the flow).
 *
 * Everything runs on spcp's one event loop: a request up from a worker is
 * handled to completion (answer, effects, response queued) before the next
 * ring message. The only state besides the core is the alloc_id -> worker
 * map (open addressing, sized at create like the core's pools) and
 * counters for /turn.
 *
 * Restore: on every attach spcp asks each worker for its TURN state
 * (MSG_TURN_DUMP) and imports the records into the core
 * (turn_server_restore_*); what the core refuses (expired, not ours under
 * today's configuration, a peer now denied) is removed from that worker.
 * Until every worker has answered, requests are dropped (counted; clients
 * retransmit): a fresh allocation must not take an id or a port spdp still
 * holds, and a Refresh must not meet a 437 for an allocation not imported
 * yet. After a complete dump, allocations spcp has and no worker reported
 * are forgotten (spdp restarted without them).
 */
#include "turn.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "clock.h"
#include "ctlsock.h"
#include "log.h"
#include "turn_server.h"

#define EXPIRE_NS 1000000000ull
#define BATCH 64
#define NO_WORKER UINT32_MAX
/* A worker that has not finished its dump by then is given up on. */
#define RESTORE_TIMEOUT_NS (10 * 1000000000ull)
#define SECRET_FILE_MAX 1024
#define LIST_MAX 2000

/* The ring's effect and transport numbers are the core's. */
#define SAME(a, b) ((int)(a) == (int)(b))
_Static_assert(SAME(MSG_TURN_ALLOC_INSTALL, TURN_EFF_ALLOC_INSTALL) &&
	       SAME(MSG_TURN_ALLOC_REFRESH, TURN_EFF_ALLOC_REFRESH) &&
	       SAME(MSG_TURN_ALLOC_REMOVE, TURN_EFF_ALLOC_REMOVE) &&
	       SAME(MSG_TURN_PERM_INSTALL, TURN_EFF_PERM_INSTALL) &&
	       SAME(MSG_TURN_PERM_REMOVE, TURN_EFF_PERM_REMOVE) &&
	       SAME(MSG_TURN_CHANNEL_INSTALL, TURN_EFF_CHANNEL_INSTALL) &&
	       SAME(MSG_TURN_CHANNEL_REMOVE, TURN_EFF_CHANNEL_REMOVE) &&
	       SAME(MSG_TURN__MAX, TURN_EFF_CHANNEL_REMOVE), "effect numbers");
_Static_assert(SAME(MSG_TURN_TP_UDP, TURN_TP_UDP) && SAME(MSG_TURN_TP_TCP, TURN_TP_TCP) &&
	       SAME(MSG_TURN_TP_TLS, TURN_TP_TLS), "transport numbers");
_Static_assert(TURN_OWNER_MAX == MSG_TURN_OWNER_MAX, "owner sizes");

struct slot {
	uint32_t id;     /* 0: empty */
	uint32_t worker;
	bool seen;       /* reported by the current restore's dumps */
};

enum restore_state { RS_NONE, RS_RUNNING, RS_DONE, RS_TIMED_OUT };
static const char *const restore_names[] = { "none", "running", "done", "timed_out" };

/* One restore: the dumps asked at an attach and what came of them. */
struct restore {
	enum restore_state state;
	bool complete;       /* every worker answered in full: reconcile */
	uint64_t seq;        /* the dumps' */
	uint64_t attach;     /* dp_link_attaches() it belongs to */
	uint32_t pending;    /* workers yet to send DUMP_DONE */
	uint64_t started_ns, finished_ns;
	struct { uint32_t allocs, perms, chans; bool done; } w[SHM_MAX_WORKERS];
	uint64_t allocs, perms, chans, known, refused, forgotten, stale;
};

struct cp_turn {
	const struct cp_config *cfg;
	dp_link *link;
	struct turn_server *ts;   /* NULL: TURN disabled */
	struct slot *map;
	uint32_t map_mask;
	uint64_t seq;
	uint64_t next_expire;
	/* requests are answered only once the restore of this attach ended */
	uint64_t synced_attach;
	struct restore rs;
	/* the request being handled: copied out of the ring (spdp could still
	 * write the ring), and the response with its exc_packet header */
	uint8_t pkt[MSG_EXC_MAX_PAYLOAD];
	_Alignas(8) uint8_t out[sizeof(struct msg_exc_packet) + 4096];
	struct {
		uint64_t requests, ignored, responses, response_drops;
		uint64_t effects, effect_drops, unrouted;
		uint64_t installed, failed, expired, conn_closed, removed_after_event;
		uint64_t dropped_restoring;
	} n;
};

static const char *const stat_names[TURN_STAT__COUNT] = {
	[TURN_STAT_PARSE_ERROR] = "parse_error", [TURN_STAT_NOT_REQUEST] = "not_request",
	[TURN_STAT_RATE_LIMITED] = "rate_limited", [TURN_STAT_BUILD_ERROR] = "build_error",
	[TURN_STAT_BINDING] = "binding", [TURN_STAT_ALLOCATE_OK] = "allocate_ok",
	[TURN_STAT_REFRESH_OK] = "refresh_ok", [TURN_STAT_PERMISSION_OK] = "permission_ok",
	[TURN_STAT_CHANNEL_OK] = "channel_bind_ok", [TURN_STAT_ERR_400] = "err_400",
	[TURN_STAT_ERR_401] = "err_401", [TURN_STAT_ERR_403] = "err_403",
	[TURN_STAT_ERR_420] = "err_420", [TURN_STAT_ERR_437] = "err_437",
	[TURN_STAT_ERR_438] = "err_438", [TURN_STAT_ERR_440] = "err_440",
	[TURN_STAT_ERR_441] = "err_441", [TURN_STAT_ERR_442] = "err_442",
	[TURN_STAT_ERR_443] = "err_443", [TURN_STAT_ERR_486] = "err_486",
	[TURN_STAT_ERR_500] = "err_500", [TURN_STAT_ERR_508] = "err_508",
};

static const char *const effect_names[MSG_TURN__MAX + 1] = {
	"?", "alloc_install", "alloc_refresh", "alloc_remove", "perm_install", "perm_remove",
	"channel_install", "channel_remove",
};

/* ------------------------------------------------------------ alloc_id -> worker */

static uint32_t map_hash(uint32_t id)
{
	return id * 2654435761u;
}

static struct slot *map_find(cp_turn *t, uint32_t id)
{
	for (uint32_t i = map_hash(id) & t->map_mask;; i = (i + 1) & t->map_mask) {
		if (t->map[i].id == id)
			return &t->map[i];
		if (t->map[i].id == 0)
			return NULL;
	}
}

static void map_put(cp_turn *t, uint32_t id, uint32_t worker)
{
	uint32_t i = map_hash(id) & t->map_mask;
	while (t->map[i].id != 0 && t->map[i].id != id)
		i = (i + 1) & t->map_mask;
	t->map[i] = (struct slot){ id, worker, true };
}

/* Linear probing deletion by backward shift: no tombstones. */
static void map_del(cp_turn *t, uint32_t id)
{
	struct slot *s = map_find(t, id);
	if (!s)
		return;
	uint32_t i = (uint32_t)(s - t->map), j = i;
	for (;;) {
		j = (j + 1) & t->map_mask;
		if (t->map[j].id == 0)
			break;
		uint32_t home = map_hash(t->map[j].id) & t->map_mask;
		/* move j back to i unless its home lies cyclically in (i, j] */
		if ((i < j) ? (home <= i || home > j) : (home <= i && home > j)) {
			t->map[i] = t->map[j];
			i = j;
		}
	}
	t->map[i] = (struct slot){ 0, 0, false };
}

static uint32_t worker_of(cp_turn *t, uint32_t id)
{
	const struct slot *s = map_find(t, id);
	return s ? s->worker : NO_WORKER;
}

/* ------------------------------------------------------------ effects */

static void to_msg(const struct turn_effect *e, uint64_t seq, struct msg_turn_effect *m)
{
	memset(m, 0, sizeof(*m));
	m->seq = seq;
	m->type = e->type;
	m->dont_fragment = e->dont_fragment ? 1 : 0;
	m->channel = e->channel;
	m->alloc_id = e->alloc_id;
	m->expiry_ns = e->expiry_ns;
	m->bandwidth_bps = e->bandwidth_bps;
	m->client = e->ft.client;
	m->server = e->ft.server;
	m->transport = e->ft.transport;
	m->relay = e->relay;
	m->relay6 = e->relay6;
	m->peer = e->peer;
	m->owner_len = e->owner_len <= MSG_TURN_OWNER_MAX ? e->owner_len : 0;
	memcpy(m->owner, e->owner, m->owner_len);
}

static void from_msg(const struct msg_turn_effect *m, struct turn_effect *e)
{
	memset(e, 0, sizeof(*e));
	e->type = m->type;
	e->dont_fragment = m->dont_fragment;
	e->channel = m->channel;
	e->alloc_id = m->alloc_id;
	e->expiry_ns = m->expiry_ns;
	e->bandwidth_bps = m->bandwidth_bps;
	e->ft.client = m->client;
	e->ft.server = m->server;
	e->ft.transport = m->transport;
	e->relay = m->relay;
	e->relay6 = m->relay6;
	e->peer = m->peer;
	e->owner_len = m->owner_len <= TURN_OWNER_MAX ? m->owner_len : 0;
	memcpy(e->owner, m->owner, e->owner_len);
}

static int send_effect(cp_turn *t, uint32_t worker, const struct msg_turn_effect *m)
{
	return dp_link_send(t->link, worker, MSG_TURN_EFFECT, m, MSG_TURN_EFFECT_LEN(m->owner_len));
}

/*
 * Send every queued effect to the worker holding its allocation; a new
 * allocation goes to `worker` (the one its Allocate came from). Returns the
 * id of an allocation installed by this batch (0: none), or sets *lost when
 * an install could not be queued (the caller then forgets it).
 */
static uint32_t flush_effects(cp_turn *t, uint32_t worker, uint32_t *lost)
{
	struct turn_effect e[BATCH];
	uint32_t installed = 0;
	size_t n;

	while ((n = turn_server_drain(t->ts, e, BATCH)) > 0) {
		for (size_t i = 0; i < n; i++) {
			struct msg_turn_effect m;
			uint32_t w;
			if (e[i].type == TURN_EFF_ALLOC_INSTALL) {
				w = worker;
				if (w != NO_WORKER)
					map_put(t, e[i].alloc_id, w);
			} else {
				w = worker_of(t, e[i].alloc_id);
			}
			if (w == NO_WORKER) {
				t->n.unrouted++;
				continue;
			}
			to_msg(&e[i], ++t->seq, &m);
			if (send_effect(t, w, &m) < 0) {
				t->n.effect_drops++;
				log_rl(LOG_LVL_WARNING, 0, "TURN: effect for allocation %u to worker %u not "
				       "queued (spdp detached or command ring full)", e[i].alloc_id, w);
				if (e[i].type == TURN_EFF_ALLOC_INSTALL && lost)
					*lost = e[i].alloc_id;
			} else {
				t->n.effects++;
				if (e[i].type == TURN_EFF_ALLOC_INSTALL)
					installed = e[i].alloc_id;
			}
			if (e[i].type == TURN_EFF_ALLOC_REMOVE)
				map_del(t, e[i].alloc_id);
		}
	}
	return installed;
}

/* Forget an allocation spdp does not hold; tells spdp too (harmless). */
static void forget(cp_turn *t, uint32_t id)
{
	int rc = turn_server_remove_alloc(t->ts, id);
	if (rc == -EAGAIN) {
		flush_effects(t, NO_WORKER, NULL);
		rc = turn_server_remove_alloc(t->ts, id);
	}
	if (rc == 0)
		t->n.removed_after_event++;
	flush_effects(t, NO_WORKER, NULL);
	map_del(t, id);
}

/* ------------------------------------------------------------ requests */

static void exc_addr(struct sp_addr *a, uint8_t family, const uint8_t ip[16], uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->family = family;
	a->port = port;
	memcpy(a->ip, ip, family == AF_INET ? 4 : 16);
}

static void on_exc(void *ctx, uint32_t worker, const struct msg_exc_packet *h,
		   const uint8_t *payload)
{
	cp_turn *t = ctx;
	struct msg_exc_packet *down = (struct msg_exc_packet *)t->out;
	uint8_t *resp = t->out + sizeof(*down);
	struct turn_5tuple ft = { .transport = TURN_TP_UDP };
	size_t rlen = 0;
	uint32_t lost = 0;
	uint64_t now = clock_mono_ns();
	int rc;

	if (!t->ts || (h->proto != IPPROTO_UDP && h->proto != IPPROTO_TCP) ||
	    h->payload_len > sizeof(t->pkt)) {
		t->n.ignored++;
		return;
	}
	if (t->synced_attach != dp_link_attaches(t->link)) {
		/* Restoring from spdp: the client retransmits. */
		t->n.dropped_restoring++;
		return;
	}
	if (h->proto == IPPROTO_TCP)
		ft.transport = h->flags & MSG_EXC_F_TLS ? TURN_TP_TLS : TURN_TP_TCP;
	t->n.requests++;
	memcpy(t->pkt, payload, h->payload_len);
	exc_addr(&ft.client, h->family, h->remote_addr, h->remote_port);
	exc_addr(&ft.server, h->family, h->local_addr, h->local_port);
	rc = turn_server_handle(t->ts, &ft, t->pkt, h->payload_len, now, resp,
				sizeof(t->out) - sizeof(*down), &rlen);
	if (rc == -EAGAIN) {
		flush_effects(t, NO_WORKER, NULL);
		rc = turn_server_handle(t->ts, &ft, t->pkt, h->payload_len, now, resp,
					sizeof(t->out) - sizeof(*down), &rlen);
	}
	if (rc < 0) {
		t->n.ignored++;
		return;
	}
	uint32_t installed = flush_effects(t, worker, &lost);
	if (lost) {
		/* The relay will not exist: no success response, no allocation. */
		forget(t, lost);
		return;
	}
	if (!rlen)
		return;
	*down = (struct msg_exc_packet){ .worker = worker, .socket_id = h->socket_id,
					 .family = h->family, .proto = h->proto, .flags = h->flags,
					 .local_port = h->local_port, .remote_port = h->remote_port,
					 .payload_len = (uint32_t)rlen, .alloc_id = installed };
	memcpy(down->local_addr, h->local_addr, 16);
	memcpy(down->remote_addr, h->remote_addr, 16);
	/* Same ring as the effects, after them. */
	if (dp_link_send(t->link, worker, MSG_EXC_PACKET, t->out, (uint32_t)(sizeof(*down) + rlen)) < 0)
		t->n.response_drops++;
	else
		t->n.responses++;
}

/* ------------------------------------------------------------ restore */

static void restore_finish(cp_turn *t, enum restore_state how)
{
	struct restore *r = &t->rs;
	uint32_t *gone = NULL, n = 0;

	r->state = how;
	r->finished_ns = clock_mono_ns();
	t->synced_attach = r->attach;
	/* After a complete dump, what no worker reported is not in spdp. */
	if (how == RS_DONE && r->complete &&
	    (gone = malloc((t->map_mask + 1) * sizeof(*gone)))) {
		for (uint32_t i = 0; i <= t->map_mask; i++)
			if (t->map[i].id && !t->map[i].seen)
				gone[n++] = t->map[i].id;
		for (uint32_t i = 0; i < n; i++)
			forget(t, gone[i]);
		r->forgotten += n;
		free(gone);
	}
	log_notice("TURN: restore from spdp %s in %.1f ms: %llu allocations, %llu permissions, "
		   "%llu channels imported; %llu known already, %llu refused (removed in spdp), "
		   "%u forgotten (not in spdp)", how == RS_DONE ? "done" : "given up",
		   (double)(r->finished_ns - r->started_ns) / 1e6, (unsigned long long)r->allocs,
		   (unsigned long long)r->perms, (unsigned long long)r->chans,
		   (unsigned long long)r->known, (unsigned long long)r->refused, n);
}

/* After an attach (hello acknowledged): ask every worker for its state. */
static void on_attach(void *ctx)
{
	cp_turn *t = ctx;
	struct restore *r = &t->rs;
	uint32_t nw = dp_link_workers(t->link);

	if (!t->ts)
		return;
	memset(r, 0, sizeof(*r));
	r->state = RS_RUNNING;
	r->complete = true;
	r->seq = ++t->seq;
	r->attach = dp_link_attaches(t->link);
	r->started_ns = clock_mono_ns();
	for (uint32_t i = 0; i <= t->map_mask; i++)
		t->map[i].seen = false;
	for (uint32_t w = 0; w < nw && w < SHM_MAX_WORKERS; w++) {
		struct msg_turn_dump d = { .seq = r->seq };
		if (dp_link_send(t->link, w, MSG_TURN_DUMP, &d, sizeof(d)) < 0) {
			log_warn(0, "TURN: could not ask worker %u for its allocations", w);
			r->complete = false;
			continue;
		}
		r->pending++;
	}
	if (!r->pending)
		restore_finish(t, nw ? RS_TIMED_OUT : RS_DONE);
}

/* Undo in one worker what the core refused (or what belongs elsewhere). */
static void refuse(cp_turn *t, uint32_t worker, const struct msg_turn_effect *rec, int rc)
{
	struct msg_turn_effect m = { .seq = ++t->seq, .alloc_id = rec->alloc_id,
				     .channel = rec->channel, .peer = rec->peer };
	char a[SP_ADDR_STRLEN];

	t->rs.refused++;
	m.type = rec->type == MSG_TURN_ALLOC_INSTALL ? MSG_TURN_ALLOC_REMOVE :
		 rec->type == MSG_TURN_PERM_INSTALL ? MSG_TURN_PERM_REMOVE : MSG_TURN_CHANNEL_REMOVE;
	log_rl(LOG_LVL_NOTICE, -rc, "TURN: worker %u holds %s of allocation %u%s%s that spcp does "
	       "not take back; removing it there", worker, effect_names[rec->type], rec->alloc_id,
	       rec->type == MSG_TURN_ALLOC_INSTALL ? "" : ", peer ",
	       rec->type == MSG_TURN_ALLOC_INSTALL ? "" : sp_addr_str(&rec->peer, a));
	if (send_effect(t, worker, &m) < 0)
		t->n.effect_drops++;
	else
		t->n.effects++;
}

/* One record of a worker's dump. */
static void on_state(void *ctx, uint32_t worker, const struct msg_turn_effect *rec)
{
	cp_turn *t = ctx;
	struct restore *r = &t->rs;
	struct turn_effect e;
	uint64_t now = clock_mono_ns();
	int rc;

	if (!t->ts || rec->seq != r->seq || worker >= SHM_MAX_WORKERS) {
		r->stale++;
		return;
	}
	from_msg(rec, &e);
	if (rec->type == MSG_TURN_ALLOC_INSTALL) {
		r->w[worker].allocs++;
		rc = turn_server_restore_alloc(t->ts, &e, now);
		struct slot *sl = map_find(t, rec->alloc_id);
		if (rc == 0) {
			map_put(t, rec->alloc_id, worker);
			r->allocs++;
		} else if (rc == -EEXIST && sl && sl->worker == worker) {
			sl->seen = true; /* spcp knew it (spdp restarted or the link flapped) */
			r->known++;
		} else {
			refuse(t, worker, rec, rc);
		}
		return;
	}
	bool perm = rec->type == MSG_TURN_PERM_INSTALL;
	if (perm)
		r->w[worker].perms++;
	else
		r->w[worker].chans++;
	if (worker_of(t, rec->alloc_id) != worker) {
		/* its allocation was refused (and removed), or is another worker's */
		r->refused++;
		return;
	}
	rc = perm ? turn_server_restore_perm(t->ts, &e, now)
		  : turn_server_restore_channel(t->ts, &e, now);
	if (rc == 0) {
		if (perm)
			r->perms++;
		else
			r->chans++;
	} else if (rc == -EEXIST) {
		r->known++;
	} else {
		refuse(t, worker, rec, rc);
	}
}

static void on_dump_done(cp_turn *t, uint32_t worker, const struct msg_turn_event *ev)
{
	struct restore *r = &t->rs;

	if (ev->seq != r->seq || worker >= SHM_MAX_WORKERS || r->w[worker].done) {
		r->stale++;
		return;
	}
	r->w[worker].done = true;
	if (ev->allocs != r->w[worker].allocs || ev->perms != r->w[worker].perms ||
	    ev->channels != r->w[worker].chans) {
		/* a record was lost on the way (refused by the gate) */
		log_warn(0, "TURN: worker %u reported %u/%u/%u allocations/permissions/channels, "
			 "%u/%u/%u arrived", worker, ev->allocs, ev->perms, ev->channels,
			 r->w[worker].allocs, r->w[worker].perms, r->w[worker].chans);
		r->complete = false;
	}
	if (r->state == RS_RUNNING && r->pending && --r->pending == 0)
		restore_finish(t, RS_DONE);
}

/* ------------------------------------------------------------ events */

static void on_event(void *ctx, uint32_t worker, const struct msg_turn_event *ev)
{
	cp_turn *t = ctx;

	if (!t->ts)
		return;
	switch (ev->kind) {
	case TURN_EV_INSTALLED:
		t->n.installed++;
		break;
	case TURN_EV_FAILED:
		t->n.failed++;
		log_rl(LOG_LVL_WARNING, -ev->error, "TURN: worker %u could not apply %s to allocation %u",
		       worker, ev->effect_type <= MSG_TURN__MAX ? effect_names[ev->effect_type] : "?",
		       ev->alloc_id);
		/* spdp lacks the allocation (failed install, or it went): so do we. */
		if (ev->effect_type == MSG_TURN_ALLOC_INSTALL || ev->error == -ENOENT ||
		    ev->error == -EOPNOTSUPP)
			forget(t, ev->alloc_id);
		break;
	case TURN_EV_EXPIRED:
		t->n.expired++;
		forget(t, ev->alloc_id);
		break;
	case TURN_EV_CLOSED:
		t->n.conn_closed++;
		forget(t, ev->alloc_id);
		break;
	case TURN_EV_DUMP_DONE:
		on_dump_done(t, worker, ev);
		break;
	}
}

void cp_turn_tick(cp_turn *t, uint64_t now)
{
	if (t && t->ts && t->rs.state == RS_RUNNING && now - t->rs.started_ns > RESTORE_TIMEOUT_NS) {
		log_warn(0, "TURN: %u worker(s) did not finish their dump in %llu s; answering "
			 "requests again", t->rs.pending,
			 (unsigned long long)(RESTORE_TIMEOUT_NS / 1000000000ull));
		restore_finish(t, RS_TIMED_OUT);
	}
	if (!t || !t->ts || now < t->next_expire)
		return;
	t->next_expire = now + EXPIRE_NS;
	/* expire() stops when the effect queue fills: drain and go on. */
	for (int i = 0; i < 1024 && turn_server_expire(t->ts, now) > 0; i++)
		flush_effects(t, NO_WORKER, NULL);
	flush_effects(t, NO_WORKER, NULL);
}

/* ------------------------------------------------------------ setup */

/* Calls fn on every comma-separated item of a list; stops at the first error. */
static int each_item(const char *list, int (*fn)(void *ctx, char *item, unsigned idx), void *ctx)
{
	char buf[2048];
	unsigned idx = 0;
	int rc = 0;

	if (strlen(list) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, list);
	for (char *save = NULL, *it = strtok_r(buf, ",", &save); it && rc == 0;
	     it = strtok_r(NULL, ",", &save)) {
		while (*it == ' ' || *it == '\t')
			it++;
		size_t l = strlen(it);
		while (l && (it[l - 1] == ' ' || it[l - 1] == '\t'))
			it[--l] = '\0';
		if (*it)
			rc = fn(ctx, it, idx++);
	}
	explicit_bzero(buf, sizeof(buf)); /* passwords */
	return rc;
}

static int count_item(void *ctx, char *item, unsigned idx)
{
	(void)item, (void)idx;
	(*(unsigned *)ctx)++;
	return 0;
}

static int add_user(void *ctx, char *item, unsigned idx)
{
	char *colon = strchr(item, ':');
	if (!colon || colon == item || !colon[1]) {
		log_error(0, "[turn] user: entry %u is not name:password", idx + 1);
		return -EINVAL;
	}
	*colon = '\0';
	int rc = turn_server_add_user(ctx, item, colon + 1);
	if (rc < 0)
		log_error(-rc, "[turn] user '%s' (entry %u): refused", item, idx + 1);
	return rc;
}

static int add_secret(void *ctx, char *item, unsigned idx)
{
	int rc = turn_server_add_rest_secret(ctx, item);
	if (rc < 0)
		log_error(-rc, "[turn] rest_secret: entry %u refused (at most 4, each 1..255 bytes)",
			  idx + 1);
	return rc;
}

struct allow_list {
	char items[64][64];
	const char *ptrs[64];
	size_t n;
};

static int add_cidr(void *ctx, char *item, unsigned idx)
{
	struct allow_list *al = ctx;
	struct turn_policy *p = turn_policy_create();
	int rc = p ? turn_policy_allow_cidr(p, item) : -ENOMEM;

	turn_policy_destroy(p);
	if (rc < 0 || al->n == 64 || strlen(item) >= sizeof(al->items[0])) {
		log_error(0, "[turn] peer_allow: entry %u '%s' is not a CIDR (or more than 64)", idx + 1,
			  item);
		return -EINVAL;
	}
	strcpy(al->items[al->n], item);
	al->ptrs[al->n] = al->items[al->n];
	al->n++;
	return 0;
}

static int parse_relay(const char *key, const char *s, int family, struct sp_addr *out)
{
	char buf[80];

	memset(out, 0, sizeof(*out));
	if (!*s)
		return 0;
	snprintf(buf, sizeof(buf), family == AF_INET6 ? "[%s]:0" : "%s:0", s);
	if (sp_addr_parse(out, buf) < 0 || out->family != family) {
		log_error(0, "[turn] %s: '%s' is not an %s address", key, s,
			  family == AF_INET6 ? "IPv6" : "IPv4");
		return -EINVAL;
	}
	return 0;
}

/*
 * [turn] nonce_secret_file: 16..1024 bytes (trailing CR/LF stripped, so
 * `openssl rand -hex 32 > file` works); more than 64 are reduced with
 * SHA-256. Every spcp reading the same file derives the same nonces.
 */
static int load_nonce_secret(const char *path, uint8_t out[64], size_t *len)
{
	uint8_t buf[SECRET_FILE_MAX + 2];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), rc = 0;

	if (fd < 0) {
		log_error(errno, "[turn] nonce_secret_file %s", path);
		return -EINVAL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_error(0, "[turn] nonce_secret_file %s is not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	if (st.st_mode & S_IROTH)
		log_warn(0, "[turn] nonce_secret_file %s is readable by everyone (chmod o-r)", path);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0) {
		log_error(errno, "[turn] nonce_secret_file %s", path);
		return -EINVAL;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n < 16 || n > SECRET_FILE_MAX) {
		log_error(0, "[turn] nonce_secret_file %s: %s bytes of secret (16 to %d wanted)", path,
			  n < 16 ? "fewer than 16" : "too many", SECRET_FILE_MAX);
		rc = -EINVAL;
	} else if (n > 64) {
		SHA256(buf, (size_t)n, out);
		*len = SHA256_DIGEST_LENGTH;
	} else {
		memcpy(out, buf, (size_t)n);
		*len = (size_t)n;
	}
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

static struct turn_server *make_server(const struct cp_config *c)
{
	struct turn_server_cfg tc;
	struct allow_list *al = calloc(1, sizeof(*al));
	uint8_t secret[64];
	size_t secret_len = 32;
	unsigned users = 0;
	struct turn_server *ts = NULL;

	if (!al)
		return NULL;
	turn_server_cfg_defaults(&tc);
	tc.realm = c->turn_realm;
	tc.software = c->turn_software[0] ? c->turn_software : NULL;
	if (parse_relay("relay_address", c->turn_relay_address, AF_INET, &tc.relay_v4) < 0 ||
	    parse_relay("relay_address6", c->turn_relay_address6, AF_INET6, &tc.relay_v6) < 0)
		goto out;
	if (!tc.relay_v4.family && !tc.relay_v6.family) {
		log_error(0, "[turn] enable = true needs relay_address and/or relay_address6");
		goto out;
	}
	if (c->turn_port_min > c->turn_port_max) {
		log_error(0, "[turn] port_min (%u) is above port_max (%u)", c->turn_port_min,
			  c->turn_port_max);
		goto out;
	}
	if (c->turn_default_lifetime_s > c->turn_max_lifetime_s) {
		log_error(0, "[turn] default_lifetime_s is above max_lifetime_s");
		goto out;
	}
	if (each_item(c->turn_peer_allow, add_cidr, al) < 0)
		goto out;
	each_item(c->turn_users, count_item, &users);
	if (c->turn_nonce_secret_file[0]) {
		if (load_nonce_secret(c->turn_nonce_secret_file, secret, &secret_len) < 0)
			goto out;
		log_info("TURN: nonce secret from %s (nonces stay valid across restarts)",
			 c->turn_nonce_secret_file);
	} else if (getrandom(secret, secret_len, 0) != (ssize_t)secret_len) {
		log_error(errno, "[turn] no randomness for the nonce secret");
		goto out;
	}
	tc.nonce_secret = secret;
	tc.nonce_secret_len = secret_len;
	tc.port_min = (uint16_t)c->turn_port_min;
	tc.port_max = (uint16_t)c->turn_port_max;
	tc.max_allocs = c->turn_max_allocs;
	tc.max_allocs_per_user = c->turn_max_allocs_per_user;
	tc.max_perms_per_alloc = c->turn_max_perms_per_alloc;
	tc.max_channels_per_alloc = c->turn_max_channels_per_alloc;
	tc.max_users = users ? users : 1;
	tc.channel_max = c->turn_rfc5766_channels ? 0x7FFF : 0x4FFF;
	tc.bandwidth_bps = c->turn_bandwidth_bps;
	tc.default_lifetime_s = c->turn_default_lifetime_s;
	tc.max_lifetime_s = c->turn_max_lifetime_s;
	tc.perm_lifetime_s = c->turn_perm_lifetime_s;
	tc.channel_lifetime_s = c->turn_channel_lifetime_s;
	tc.nonce_lifetime_s = c->turn_nonce_lifetime_s;
	tc.rl_rate = c->turn_rl_rate;
	tc.rl_burst = c->turn_rl_burst;
	tc.rl_entries = c->turn_rl_entries;
	tc.wall_offset_ns = (int64_t)(clock_real_ns() - clock_mono_ns());
	tc.peer_allow = al->ptrs;
	tc.n_peer_allow = al->n;
	ts = turn_server_create(&tc);
	explicit_bzero(secret, sizeof(secret));
	if (!ts) {
		log_error(errno, "[turn] the TURN server refused its configuration");
		goto out;
	}
	if (each_item(c->turn_users, add_user, ts) < 0 ||
	    each_item(c->turn_rest_secrets, add_secret, ts) < 0) {
		turn_server_destroy(ts);
		ts = NULL;
		goto out;
	}
	if (!users && !c->turn_rest_secrets[0])
		log_warn(0, "[turn] no user and no rest_secret: every TURN request will get 401");
out:
	explicit_bzero(secret, sizeof(secret));
	free(al);
	return ts;
}

cp_turn *cp_turn_create(const struct cp_config *cfg, dp_link *link)
{
	cp_turn *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->cfg = cfg;
	t->link = link;
	if (!cfg->turn_enable)
		return t;
	t->ts = make_server(cfg);
	uint32_t cap = 16;
	while (cap < 2 * cfg->turn_max_allocs)
		cap <<= 1;
	t->map = calloc(cap, sizeof(*t->map));
	t->map_mask = cap - 1;
	if (!t->ts || !t->map) {
		int e = t->ts ? ENOMEM : EINVAL;
		cp_turn_destroy(t);
		errno = e;
		return NULL;
	}
	dp_link_on_exc_packet(link, on_exc, t);
	dp_link_on_turn_event(link, on_event, t);
	dp_link_on_turn_state(link, on_state, t);
	dp_link_on_attach(link, on_attach, t);
	char r4[SP_ADDR_STRLEN] = "-", r6[SP_ADDR_STRLEN] = "-";
	log_notice("TURN: realm '%s', relay %s %s, ports %u-%u, %u allocations at most", cfg->turn_realm,
		   cfg->turn_relay_address[0] ? cfg->turn_relay_address : r4,
		   cfg->turn_relay_address6[0] ? cfg->turn_relay_address6 : r6, cfg->turn_port_min,
		   cfg->turn_port_max, cfg->turn_max_allocs);
	return t;
}

void cp_turn_destroy(cp_turn *t)
{
	if (!t)
		return;
	turn_server_destroy(t->ts);
	free(t->map);
	explicit_bzero(t, sizeof(*t)); /* the last request/response may hold credentials */
	free(t);
}

/* ------------------------------------------------------------ ctl */

static int cmd_turn(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	cp_turn *t = ctx;
	struct turn_server_stats st;
	cJSON *o, *c;

	(void)cmd, (void)params;
	o = *reply = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "enabled", t->ts != NULL);
	if (!t->ts)
		return 0;
	turn_server_get_stats(t->ts, &st);
	cJSON_AddStringToObject(o, "realm", t->cfg->turn_realm);
	cJSON_AddStringToObject(o, "relay_address", t->cfg->turn_relay_address);
	cJSON_AddStringToObject(o, "relay_address6", t->cfg->turn_relay_address6);
	cJSON_AddNumberToObject(o, "port_min", t->cfg->turn_port_min);
	cJSON_AddNumberToObject(o, "port_max", t->cfg->turn_port_max);
	cJSON_AddNumberToObject(o, "allocations", st.allocs);
	cJSON_AddNumberToObject(o, "permissions", st.perms);
	cJSON_AddNumberToObject(o, "channels", st.channels);
	cJSON_AddNumberToObject(o, "effects_pending", st.effects_pending);
	c = cJSON_AddObjectToObject(o, "link");
	cJSON_AddNumberToObject(c, "requests", (double)t->n.requests);
	cJSON_AddNumberToObject(c, "ignored", (double)t->n.ignored);
	cJSON_AddNumberToObject(c, "responses", (double)t->n.responses);
	cJSON_AddNumberToObject(c, "response_drops", (double)t->n.response_drops);
	cJSON_AddNumberToObject(c, "effects", (double)t->n.effects);
	cJSON_AddNumberToObject(c, "effect_drops", (double)t->n.effect_drops);
	cJSON_AddNumberToObject(c, "effects_unrouted", (double)t->n.unrouted);
	cJSON_AddNumberToObject(c, "installed", (double)t->n.installed);
	cJSON_AddNumberToObject(c, "failed", (double)t->n.failed);
	cJSON_AddNumberToObject(c, "expired_by_spdp", (double)t->n.expired);
	cJSON_AddNumberToObject(c, "closed_connections", (double)t->n.conn_closed);
	cJSON_AddNumberToObject(c, "removed_after_event", (double)t->n.removed_after_event);
	cJSON_AddNumberToObject(c, "dropped_while_restoring", (double)t->n.dropped_restoring);
	c = cJSON_AddObjectToObject(o, "restore");
	cJSON_AddStringToObject(c, "state", restore_names[t->rs.state]);
	cJSON_AddNumberToObject(c, "workers_pending", t->rs.pending);
	cJSON_AddNumberToObject(c, "allocations", (double)t->rs.allocs);
	cJSON_AddNumberToObject(c, "permissions", (double)t->rs.perms);
	cJSON_AddNumberToObject(c, "channels", (double)t->rs.chans);
	cJSON_AddNumberToObject(c, "already_known", (double)t->rs.known);
	cJSON_AddNumberToObject(c, "refused", (double)t->rs.refused);
	cJSON_AddNumberToObject(c, "forgotten", (double)t->rs.forgotten);
	cJSON_AddNumberToObject(c, "stale_records", (double)t->rs.stale);
	cJSON_AddNumberToObject(c, "duration_ms",
				t->rs.state == RS_DONE || t->rs.state == RS_TIMED_OUT
					? (double)(t->rs.finished_ns - t->rs.started_ns) / 1e6 : 0);
	c = cJSON_AddObjectToObject(o, "counts");
	for (int i = 0; i < TURN_STAT__COUNT; i++)
		cJSON_AddNumberToObject(c, stat_names[i], (double)st.count[i]);
	c = cJSON_AddObjectToObject(o, "peer_denied");
	for (int i = 1; i < TURN_PEER_VERDICT__COUNT; i++)
		cJSON_AddNumberToObject(c, turn_peer_verdict_name((enum turn_peer_verdict)i),
					(double)st.peer_denied[i]);
	return 0;
}

static void add_addr(cJSON *o, const char *k, const struct sp_addr *a)
{
	char b[SP_ADDR_STRLEN];
	if (a->family)
		cJSON_AddStringToObject(o, k, sp_addr_str(a, b));
	else
		cJSON_AddNullToObject(o, k);
}

/* Every allocation (the first LIST_MAX), as spcp holds it. */
static int cmd_allocs(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	cp_turn *t = ctx;
	struct turn_alloc_info *ai;
	uint32_t cursor = 0, n = 0;
	uint64_t now = clock_mono_ns();
	cJSON *o, *arr;

	(void)cmd, (void)params;
	o = *reply = cJSON_CreateObject();
	if (!t->ts) {
		cJSON_AddBoolToObject(o, "enabled", 0);
		return 0;
	}
	if (!(ai = malloc(sizeof(*ai))))
		return -ENOMEM;
	arr = cJSON_AddArrayToObject(o, "allocations");
	while (turn_server_next_alloc(t->ts, &cursor, ai)) {
		if (++n > LIST_MAX)
			continue;
		cJSON *e = cJSON_CreateObject();
		char user[TURN_OWNER_MAX + 1];
		memcpy(user, ai->owner, ai->owner_len);
		user[ai->owner_len] = '\0';
		cJSON_AddNumberToObject(e, "id", ai->id);
		uint32_t w = worker_of(t, ai->id);
		cJSON_AddNumberToObject(e, "worker", w == NO_WORKER ? -1 : (double)w);
		cJSON_AddStringToObject(e, "user", user);
		add_addr(e, "client", &ai->ft.client);
		add_addr(e, "server", &ai->ft.server);
		add_addr(e, "relay", &ai->relay);
		add_addr(e, "relay6", &ai->relay6);
		cJSON_AddNumberToObject(e, "expires_in_s",
					ai->expiry_ns > now ? (double)((ai->expiry_ns - now) / 1000000000ull) : 0);
		cJSON_AddNumberToObject(e, "permissions", ai->perms);
		cJSON_AddNumberToObject(e, "channels", ai->channels);
		cJSON_AddBoolToObject(e, "dont_fragment", ai->dont_fragment);
		/* restored from spdp and not used by its owner since */
		cJSON_AddBoolToObject(e, "restored", ai->key_pending);
		cJSON_AddItemToArray(arr, e);
	}
	cJSON_AddNumberToObject(o, "count", n);
	cJSON_AddBoolToObject(o, "truncated", n > LIST_MAX);
	explicit_bzero(ai, sizeof(*ai));
	free(ai);
	return 0;
}

int cp_turn_register_ctl(cp_turn *t, struct ctlsock *cs)
{
	if (ctlsock_register(cs, "/turn", cmd_turn, t,
			     "TURN server: allocations, answers by code, peers denied by reason, "
			     "effects to spdp, restore after an attach (data-plane counters: "
			     "/spdp/status)") ||
	    ctlsock_register(cs, "/turn/allocs", cmd_allocs, t,
			     "TURN allocations: id, worker, user, client, relay, expiry, "
			     "permissions, channels"))
		return -EINVAL;
	return 0;
}
