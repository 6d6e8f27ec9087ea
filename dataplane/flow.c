/*
 * flow: per-worker flow table and RTP/RTCP fan-out (see flow.h).
 *
 * Ports: every flow binds a port pair from the media range (even: RTP, odd:
 * RTCP); the range is split between workers so they never race for a port.
 * The camera pushes to the pair; subscribers receive from it and send their
 * RTCP back to it, so everything about a flow arrives on its own worker.
 *
 * History: each flow keeps copies of its last packets (a ring of entries
 * over a byte ring, both carved from one MAP_NORESERVE mapping per worker,
 * so untouched history costs no memory). It serves fast start (a joining
 * subscriber gets the packets from the last keyframe on at once) and NACKs.
 * The copy is one memcpy per received packet (~18 ns at 1200 B here), paid
 * once however many subscribers there are.
 *
 * SRTP (docs/srtp.md): a flow whose camera sends SRTP authenticates and
 * decrypts every packet once at ingest (nothing unauthenticated is
 * forwarded, latched on or kept in history). Subscribers then get, by mode:
 * terminate: the plain packet, zero copy; passthrough (same suite and key as
 * the camera): the camera's original ciphertext, zero copy -- when there are
 * such subscribers the packet is decrypted in a copy so the original stays
 * intact; protect (own key): one encryption per subscriber into a buffer
 * from the backend's transmit pool. History keeps the plain packet; resends
 * are protected again per subscriber.
 */
#include "flow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "clock.h"
#include "keyframe.h"
#include "log.h"
#include "nack.h"
#include "rtcp.h"
#include "rtp.h"
#include "srtp_leg.h"

#define NO_IDX UINT32_MAX
#define MS 1000000ull
#define TIMER_NS (100 * MS)
/* Send errors are forgiven after 5 s without one; at half the limit the
 * subscriber is paused 1 s (a transient route flap should not remove it),
 * and errors after the pause count on toward removal. */
#define ERROR_WINDOW_NS (5000 * MS)
#define BACKOFF_NS (1000 * MS)

enum port_role { PR_NONE = 0, PR_RTP = 1, PR_RTCP = 2 };

struct hist_ent {
	uint64_t pos;  /* byte-ring position of the copy (free-running) */
	uint32_t len;
	uint16_t seq;
	uint8_t valid;
	uint8_t key;   /* first packet of a keyframe */
};

struct flow {
	bool used;
	uint32_t id;
	uint32_t flags;
	uint32_t ssrc;
	bool ssrc_filter;
	bool have_source;        /* configured, or latched */
	bool have_src_rtcp;
	uint32_t rtp_port, rtcp_port;   /* backend port indexes */
	uint16_t rtp_num, rtcp_num;     /* host order */
	struct sp_addr source, src_rtcp;
	uint32_t media_ssrc;     /* last SSRC seen from the source */
	uint32_t *subs;          /* sub slots, nsubs of them */
	uint32_t nsubs;
	/* history: nack_hist indexes by sequence number (buf_id = entry slot);
	 * entries say where the copy is in the byte ring. */
	uint8_t codec;           /* enum msg_codec */
	nack_hist *nh;
	void *nh_mem;
	struct hist_ent *hist;
	uint8_t *hbytes;
	uint64_t hpos;           /* next byte position */
	uint64_t hcount;         /* packets ever stored */
	uint64_t last_pli_ns;
	uint64_t rx_pkts, rx_bytes;
	uint32_t src_next;       /* chain in the source hash (flows with a known source) */
	bool in_src_hash;
	/* SRTP: NULL legs for a plain camera */
	uint8_t srtp_suite;      /* msg_srtp_key.suite of the camera's key (0: plain) */
	bool key_expired;        /* srx ran out: nothing forwarded until rekeyed */
	uint32_t npass;          /* passthrough subscribers */
	srtp_leg *srx;           /* unprotects the camera's SRTP and SRTCP */
	srtp_leg *stx;           /* protects the SRTCP we send the camera (PLI) */
	srtp_leg *pass_tx;       /* the camera's key outbound: resends to passthrough subs */
	uint8_t pass_master[SRTP_LEG_MAX_MASTER_LEN]; /* for pass_tx, made on demand */
};

struct sub {
	bool used;
	uint32_t gen;            /* bumps on reuse: stale send errors are ignored */
	uint32_t id;
	uint32_t flow;           /* flow slot */
	uint32_t flags;
	struct sp_addr rtp, rtcp;
	uint32_t errors;
	uint64_t last_error_ns;
	uint64_t backoff_until;
	uint64_t last_rtcp_ns;
	uint32_t next_free;
	uint8_t mode;            /* enum msg_sub_mode */
	bool key_expired;
	srtp_leg *tx;            /* protect mode: our key towards the viewer */
	srtp_leg *rx;            /* the viewer's key for its SRTCP (NULL: plain RTCP) */
};

struct port_ref {
	uint32_t flow;
	uint8_t role;
};

struct flow_table {
	struct flow_cfg cfg;
	const struct dp_backend_ops *ops;
	struct dp_backend *be;
	struct stats_block *st;
	flow_event_fn emit;
	void *emit_ctx;
	struct flow *flows;
	uint32_t nflows;
	struct sub *subs;
	uint32_t free_sub, nsubs;
	uint32_t *flow_subs;
	struct port_ref *ports;
	uint32_t max_ports;
	void *hist_map;
	size_t hist_map_len;
	struct dp_tx *tx;
	uint8_t *hdrs;
	uint32_t port_cursor;
	uint64_t next_timer_ns;
	size_t nh_size;
	uint32_t *src_buckets;   /* source address -> first flow slot, for the shared port */
	uint32_t src_mask;
	uint32_t shared_port;    /* backend port index, or NO_IDX */
	uint32_t crypto_tick;    /* picks the SRTP operations that are timed */
	flow_upstream_fn upstream; /* RTCP for an ingest flow's source */
	void *upstream_ctx;
};

/* One SRTP protect or unprotect in CRYPTO_SAMPLE is timed (two clock reads,
 * ~60 ns here, would cost ~10% if done for every ~0.5 us operation): the
 * sampled time per operation is what spdp's own crypto costs per packet, as
 * opposed to its sends, comparable with raw libsrtp (spbench srtp). */
#define CRYPTO_SAMPLE 16u

_Static_assert(STAT_SRTP_PROTECT_TIMED_NS == STAT_SRTP_PROTECT_TIMED + 1 &&
		       STAT_SRTP_UNPROTECT_TIMED_NS == STAT_SRTP_UNPROTECT_TIMED + 1,
	       "each timed count is followed by its _ns counter");

static inline uint64_t crypto_t0(flow_table *ft)
{
	return ++ft->crypto_tick % CRYPTO_SAMPLE == 0 ? clock_mono_ns() : 0;
}

/* A sample longer than this had the thread preempted or interrupted in it
 * (the worker shares its core): counted apart, not averaged in. */
#define CRYPTO_SAMPLE_MAX_NS 20000u

static inline void crypto_t1(flow_table *ft, uint64_t t0, enum stat_counter timed)
{
	if (t0) {
		uint64_t ns = clock_mono_ns() - t0;
		if (ns > CRYPTO_SAMPLE_MAX_NS) {
			stats_add(ft->st, STAT_SRTP_TIMED_OUTLIERS, 1);
			return;
		}
		stats_add(ft->st, timed, 1);
		stats_add(ft->st, timed + 1, ns); /* the _ns counter follows */
	}
}

static inline void cnt(flow_table *ft, enum stat_counter c, uint64_t n)
{
	stats_add(ft->st, c, n);
}

static inline void drop(flow_table *ft, enum stat_drop d)
{
	stats_drop(ft->st, d);
}

static struct flow_stat dummy_fstat;
static struct sub_stat dummy_sstat;

/* Counter slots in the shared segment (a scratch slot when there is none,
 * so the packet path never branches on it). */
static inline struct flow_stat *fst(flow_table *ft, const struct flow *f)
{
	return ft->cfg.flow_stats ? &ft->cfg.flow_stats[f - ft->flows] : &dummy_fstat;
}

static inline struct sub_stat *sst(flow_table *ft, uint32_t slot)
{
	return ft->cfg.sub_stats ? &ft->cfg.sub_stats[slot] : &dummy_sstat;
}

static void emit(flow_table *ft, struct msg_flow_event *ev)
{
	ev->worker = ft->cfg.worker;
	ft->emit(ft->emit_ctx, ev);
}

static void emit_fail(flow_table *ft, uint64_t seq, uint32_t flow_id, uint32_t sub_id, int err)
{
	struct msg_flow_event ev = { .seq = seq, .kind = FLOW_EV_FAILED, .flow_id = flow_id,
				     .sub_id = sub_id, .error = err };
	emit(ft, &ev);
}

/* ------------------------------------------------------------ SRTP legs */

static int leg_create(flow_table *ft, const struct msg_srtp_key *k, enum srtp_leg_dir dir,
		      bool repeat_tx, srtp_leg **out)
{
	struct srtp_leg_cfg c = {
		.suite = (enum srtp_leg_suite)(k->suite - 1), .dir = dir, .master = k->master,
		.master_len = k->master_len, .window = k->window ? k->window : ft->cfg.srtp_window,
		.rtp_lifetime = ft->cfg.srtp_key_lifetime, .rtcp_lifetime = ft->cfg.srtp_key_lifetime,
		.allow_repeat_tx = repeat_tx,
	};
	return srtp_leg_create(&c, out);
}

static void flow_legs_free(struct flow *f)
{
	srtp_leg_destroy(f->srx);
	srtp_leg_destroy(f->stx);
	srtp_leg_destroy(f->pass_tx);
	f->srx = f->stx = f->pass_tx = NULL;
	explicit_bzero(f->pass_master, sizeof(f->pass_master));
	f->srtp_suite = 0;
	f->key_expired = false;
}

static void sub_legs_free(struct sub *s)
{
	srtp_leg_destroy(s->tx);
	srtp_leg_destroy(s->rx);
	s->tx = s->rx = NULL;
}

/* One drop counter per reason; replays and auth failures per flow too. */
static void srtp_drop(flow_table *ft, enum srtp_leg_err e)
{
	switch (e) {
	case SRTP_LEG_ERR_AUTH: drop(ft, DROP_SRTP_AUTH); break;
	case SRTP_LEG_ERR_REPLAY:
	case SRTP_LEG_ERR_TOO_OLD: drop(ft, DROP_SRTP_REPLAY); break;
	case SRTP_LEG_ERR_KEY_EXPIRED: drop(ft, DROP_SRTP_KEY_EXPIRED); break;
	case SRTP_LEG_ERR_NO_ROOM: drop(ft, DROP_TX_NO_BUFFER); break;
	default: drop(ft, DROP_SRTP_OTHER); break;
	}
}

flow_table *flow_table_create(const struct flow_cfg *cfg, const struct dp_backend_ops *ops,
			      struct dp_backend *be, struct stats_block *stats, flow_event_fn fn,
			      void *ctx)
{
	flow_table *ft;
	size_t per_flow;

	if (!cfg->max_flows || !cfg->max_subs || !cfg->max_subs_per_flow || !cfg->history_pkts ||
	    (cfg->history_pkts & (cfg->history_pkts - 1)) || cfg->history_bytes < 4096 ||
	    cfg->port_min > cfg->port_max || cfg->port_min == 0 || !cfg->workers) {
		errno = EINVAL;
		return NULL;
	}
	ft = calloc(1, sizeof(*ft));
	if (!ft)
		return NULL;
	ft->cfg = *cfg;
	ft->ops = ops;
	ft->be = be;
	ft->st = stats;
	ft->emit = fn;
	ft->emit_ctx = ctx;
	/* Port indexes are the backend's, which other modules (TURN) share. */
	ft->max_ports = cfg->max_ports ? cfg->max_ports : 2 * cfg->max_flows + 8;
	ft->flows = calloc(cfg->max_flows, sizeof(*ft->flows));
	ft->subs = calloc(cfg->max_subs, sizeof(*ft->subs));
	ft->flow_subs = calloc((size_t)cfg->max_flows * cfg->max_subs_per_flow, sizeof(uint32_t));
	ft->ports = calloc(ft->max_ports, sizeof(*ft->ports));
	ft->tx = calloc(cfg->max_subs_per_flow, sizeof(*ft->tx));
	ft->hdrs = calloc(cfg->max_subs_per_flow, DP_TX_HDR_MAX);
	ft->shared_port = NO_IDX;
	for (ft->src_mask = 1; ft->src_mask < 2 * cfg->max_flows; ft->src_mask <<= 1)
		;
	ft->src_buckets = malloc(ft->src_mask * sizeof(uint32_t));
	if (ft->src_buckets)
		memset(ft->src_buckets, 0xff, ft->src_mask * sizeof(uint32_t));
	ft->src_mask--;
	ft->nh_size = (nack_hist_memsize(cfg->history_pkts) + 63) & ~(size_t)63;
	if (!ft->nh_size) {
		free(ft);
		errno = EINVAL;
		return NULL;
	}
	per_flow = (ft->nh_size + cfg->history_pkts * sizeof(struct hist_ent) + cfg->history_bytes +
		    63) & ~(size_t)63;
	ft->hist_map_len = per_flow * cfg->max_flows;
	ft->hist_map = mmap(NULL, ft->hist_map_len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!ft->flows || !ft->subs || !ft->flow_subs || !ft->ports || !ft->tx || !ft->hdrs ||
	    !ft->src_buckets ||
	    ft->hist_map == MAP_FAILED) {
		if (ft->hist_map == MAP_FAILED)
			ft->hist_map = NULL;
		flow_table_destroy(ft);
		errno = ENOMEM;
		return NULL;
	}
	for (uint32_t i = 0; i < cfg->max_flows; i++) {
		struct flow *f = &ft->flows[i];
		uint8_t *base = (uint8_t *)ft->hist_map + per_flow * i;
		f->subs = ft->flow_subs + (size_t)i * cfg->max_subs_per_flow;
		f->nh_mem = base;
		f->hist = (struct hist_ent *)(base + ft->nh_size);
		f->hbytes = base + ft->nh_size + cfg->history_pkts * sizeof(struct hist_ent);
	}
	for (uint32_t i = 0; i < cfg->max_subs; i++)
		ft->subs[i].next_free = i + 1 < cfg->max_subs ? i + 1 : NO_IDX;
	ft->free_sub = 0;
	return ft;
}

static void flow_release_ports(flow_table *ft, struct flow *f)
{
	ft->ops->port_close(ft->be, f->rtp_port);
	ft->ops->port_close(ft->be, f->rtcp_port);
	if (f->rtp_port < ft->max_ports)
		ft->ports[f->rtp_port] = (struct port_ref){ 0 };
	if (f->rtcp_port < ft->max_ports)
		ft->ports[f->rtcp_port] = (struct port_ref){ 0 };
}

void flow_table_destroy(flow_table *ft)
{
	if (!ft)
		return;
	for (uint32_t i = 0; ft->flows && i < ft->cfg.max_flows; i++)
		if (ft->flows[i].used) {
			flow_release_ports(ft, &ft->flows[i]);
			flow_legs_free(&ft->flows[i]);
		}
	for (uint32_t i = 0; ft->subs && i < ft->cfg.max_subs; i++)
		sub_legs_free(&ft->subs[i]);
	if (ft->hist_map)
		munmap(ft->hist_map, ft->hist_map_len);
	free(ft->flows);
	free(ft->subs);
	free(ft->flow_subs);
	free(ft->ports);
	free(ft->tx);
	free(ft->hdrs);
	free(ft->src_buckets);
	free(ft);
}

void flow_set_shared_port(flow_table *ft, uint32_t port)
{
	ft->shared_port = port;
}

static void src_hash_add(flow_table *ft, uint32_t slot)
{
	struct flow *f = &ft->flows[slot];
	uint32_t b = sp_addr_hash(&f->source) & ft->src_mask;

	f->src_next = ft->src_buckets[b];
	ft->src_buckets[b] = slot;
	f->in_src_hash = true;
}

static void src_hash_del(flow_table *ft, uint32_t slot)
{
	struct flow *f = &ft->flows[slot];
	uint32_t *pp = &ft->src_buckets[sp_addr_hash(&f->source) & ft->src_mask];

	if (!f->in_src_hash)
		return;
	while (*pp != NO_IDX && *pp != slot)
		pp = &ft->flows[*pp].src_next;
	if (*pp == slot)
		*pp = f->src_next;
	f->in_src_hash = false;
}

/* The flow a datagram on the shared port belongs to: same source address
 * and port, and, for flows that filter on it, the same SSRC (a gateway may
 * send several cameras from one socket). */
static struct flow *src_hash_find(flow_table *ft, const struct dp_pkt *p)
{
	uint32_t ssrc = 0;
	bool have_ssrc = false;
	struct flow *any = NULL;

	if (p->len >= 12) {
		const uint8_t *q = p->data + (rtp_is_rtcp(p->data, p->len) ? 4 : 8);
		ssrc = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
		have_ssrc = true;
	}
	for (uint32_t i = ft->src_buckets[sp_addr_hash(&p->src) & ft->src_mask]; i != NO_IDX;
	     i = ft->flows[i].src_next) {
		struct flow *f = &ft->flows[i];
		if (!sp_addr_equal(&f->source, &p->src))
			continue;
		if (!f->ssrc_filter)
			any = f;
		else if (have_ssrc && f->ssrc == ssrc)
			return f;
	}
	return any;
}

uint32_t flow_count(const flow_table *ft) { return ft->nflows; }
uint32_t flow_sub_count(const flow_table *ft) { return ft->nsubs; }

static struct flow *find_flow(flow_table *ft, uint32_t id, uint32_t *slot)
{
	for (uint32_t i = 0; i < ft->cfg.max_flows; i++)
		if (ft->flows[i].used && ft->flows[i].id == id) {
			if (slot)
				*slot = i;
			return &ft->flows[i];
		}
	return NULL;
}

/* ------------------------------------------------------------ ports */

static int bind_pair(flow_table *ft, uint16_t num, uint32_t *rtp, uint32_t *rtcp)
{
	struct sp_addr a = ft->cfg.media_addr;
	int rc;

	a.port = htons(num);
	if ((rc = ft->ops->port_open(ft->be, &a, false, rtp)) < 0)
		return rc;
	a.port = htons((uint16_t)(num + 1));
	if ((rc = ft->ops->port_open(ft->be, &a, false, rtcp)) < 0) {
		ft->ops->port_close(ft->be, *rtp);
		return rc;
	}
	if (*rtp >= ft->max_ports || *rtcp >= ft->max_ports) {
		ft->ops->port_close(ft->be, *rtp);
		ft->ops->port_close(ft->be, *rtcp);
		return -ENOSPC;
	}
	return 0;
}

/* A free pair from this worker's share of the range: pair k belongs to
 * worker k % workers. */
static int alloc_pair(flow_table *ft, struct flow *f)
{
	uint32_t pairs = (uint32_t)(ft->cfg.port_max - ft->cfg.port_min + 1) / 2;
	uint32_t mine = (pairs + ft->cfg.workers - 1 - ft->cfg.worker) / ft->cfg.workers;

	for (uint32_t tries = 0; tries < mine; tries++) {
		uint32_t k = ft->cfg.worker + ft->cfg.workers * (ft->port_cursor++ % mine);
		uint16_t num = (uint16_t)(ft->cfg.port_min + 2 * k);
		if (bind_pair(ft, num, &f->rtp_port, &f->rtcp_port) == 0) {
			f->rtp_num = num;
			f->rtcp_num = (uint16_t)(num + 1);
			return 0;
		}
	}
	return -EADDRINUSE;
}

/* ------------------------------------------------------------ commands */

void flow_cmd_add(flow_table *ft, const struct msg_flow_add *m)
{
	struct flow *f = NULL;
	uint32_t slot;
	int rc;

	if (find_flow(ft, m->flow_id, NULL)) {
		emit_fail(ft, m->seq, m->flow_id, 0, -EEXIST);
		return;
	}
	for (slot = 0; slot < ft->cfg.max_flows; slot++)
		if (!ft->flows[slot].used) {
			f = &ft->flows[slot];
			break;
		}
	if (!f) {
		emit_fail(ft, m->seq, m->flow_id, 0, -ENOSPC);
		return;
	}
	/* Keys first: a refused key leaves nothing behind. */
	srtp_leg *srx = NULL, *stx = NULL;
	if (m->srtp_rx.suite) {
		const struct msg_srtp_key *tk = m->srtp_tx.suite ? &m->srtp_tx : &m->srtp_rx;
		if ((rc = leg_create(ft, &m->srtp_rx, SRTP_LEG_INBOUND, false, &srx)) < 0 ||
		    (rc = leg_create(ft, tk, SRTP_LEG_OUTBOUND, false, &stx)) < 0) {
			srtp_leg_destroy(srx);
			emit_fail(ft, m->seq, m->flow_id, 0, rc);
			return;
		}
	}
	struct hist_ent *hist = f->hist;
	uint8_t *hbytes = f->hbytes;
	uint32_t *subs = f->subs;
	void *nh_mem = f->nh_mem;
	memset(f, 0, sizeof(*f));
	f->hist = hist;
	f->hbytes = hbytes;
	f->subs = subs;
	f->nh_mem = nh_mem;
	f->codec = m->codec;
	f->id = m->flow_id;
	f->flags = m->flags;
	f->ssrc = m->ssrc;
	f->ssrc_filter = m->ssrc_filter;
	f->source = m->source;
	/* An ingest flow's source is in spdp: a zero address nothing on the
	 * network matches, so its ports take subscribers' RTCP only. */
	f->have_source = !(m->flags & MSG_FLOW_F_LATCH) || (m->flags & MSG_FLOW_F_INGEST);
	if (m->flags & MSG_FLOW_F_INGEST)
		memset(&f->source, 0, sizeof(f->source));
	f->srx = srx;
	f->stx = stx;
	f->srtp_suite = m->srtp_rx.suite;
	if (srx)
		memcpy(f->pass_master, m->srtp_rx.master, m->srtp_rx.master_len);
	if (m->flags & MSG_FLOW_F_PINNED_PORT) {
		rc = bind_pair(ft, m->rtp_port, &f->rtp_port, &f->rtcp_port);
		f->rtp_num = m->rtp_port;
		f->rtcp_num = (uint16_t)(m->rtp_port + 1);
	} else {
		rc = alloc_pair(ft, f);
	}
	if (rc < 0) {
		flow_legs_free(f);
		emit_fail(ft, m->seq, m->flow_id, 0, rc);
		return;
	}
	/* History entries from a previous flow in this slot must not match. */
	memset(f->hist, 0, ft->cfg.history_pkts * sizeof(struct hist_ent));
	f->nh = nack_hist_init(f->nh_mem, ft->nh_size, ft->cfg.history_pkts);
	if (!f->nh) {
		flow_release_ports(ft, f);
		flow_legs_free(f);
		emit_fail(ft, m->seq, m->flow_id, 0, -EINVAL);
		return;
	}
	f->used = true;
	ft->nflows++;
	struct flow_stat *fs = fst(ft, f);
	memset((void *)fs, 0, sizeof(*fs));
	atomic_store_explicit(&fs->flow_id, f->id, memory_order_relaxed);
	atomic_store_explicit(&fs->rtp_port, f->rtp_num, memory_order_relaxed);
	atomic_store_explicit(&fs->active, 1, memory_order_release);
	ft->ports[f->rtp_port] = (struct port_ref){ slot, PR_RTP };
	ft->ports[f->rtcp_port] = (struct port_ref){ slot, PR_RTCP };
	if (f->have_source && !(f->flags & MSG_FLOW_F_INGEST))
		src_hash_add(ft, slot);
	struct msg_flow_event ev = { .seq = m->seq, .kind = FLOW_EV_ADDED, .flow_id = f->id,
				     .rtp_port = f->rtp_num, .rtcp_port = f->rtcp_num,
				     .flags = f->flags, .source = f->source,
				     .srtp_suite = f->srtp_suite };
	emit(ft, &ev);
}

static void sub_free(flow_table *ft, struct flow *f, uint32_t pos)
{
	uint32_t s = f->subs[pos];

	f->subs[pos] = f->subs[--f->nsubs];
	if (ft->subs[s].mode == SUB_MODE_PASSTHROUGH)
		f->npass--;
	sub_legs_free(&ft->subs[s]);
	atomic_store_explicit(&sst(ft, s)->active, 0, memory_order_release);
	atomic_store_explicit(&fst(ft, f)->subs, f->nsubs, memory_order_relaxed);
	ft->subs[s].used = false;
	ft->subs[s].gen++;
	ft->subs[s].next_free = ft->free_sub;
	ft->free_sub = s;
	ft->nsubs--;
}

static void sub_remove(flow_table *ft, struct flow *f, uint32_t pos, uint64_t seq, uint32_t reason)
{
	struct msg_flow_event ev = { .seq = seq, .kind = FLOW_EV_SUB_REMOVED, .flow_id = f->id,
				     .sub_id = ft->subs[f->subs[pos]].id, .reason = reason };
	sub_free(ft, f, pos);
	emit(ft, &ev);
}

void flow_cmd_del(flow_table *ft, const struct msg_flow_del *m)
{
	struct flow *f = find_flow(ft, m->flow_id, NULL);

	if (!f) {
		emit_fail(ft, m->seq, m->flow_id, 0, -ENOENT);
		return;
	}
	while (f->nsubs)
		sub_remove(ft, f, f->nsubs - 1, m->seq, SUB_RM_FLOW_REMOVED);
	src_hash_del(ft, (uint32_t)(f - ft->flows));
	flow_release_ports(ft, f);
	flow_legs_free(f);
	atomic_store_explicit(&fst(ft, f)->active, 0, memory_order_release);
	f->used = false;
	ft->nflows--;
	struct msg_flow_event ev = { .seq = m->seq, .kind = FLOW_EV_REMOVED, .flow_id = m->flow_id };
	emit(ft, &ev);
}

/* ------------------------------------------------------------ history */

static void hist_store(flow_table *ft, struct flow *f, const uint8_t *data, uint32_t len,
		       const struct rtp_hdr *h, enum keyframe_kind kf)
{
	uint64_t cap = ft->cfg.history_bytes;
	uint64_t off = f->hpos % cap;
	uint32_t slot = (uint32_t)(f->hcount & (ft->cfg.history_pkts - 1)), evicted;

	if (len > cap / 4)
		return;
	struct nack_hist_pkt hp = { .seq = h->seq, .len = (uint16_t)len, .ts = h->ts, .buf_id = slot,
				    .kf = (uint8_t)kf };
	if (nack_hist_put(f->nh, &hp, &evicted) < 0)
		return; /* duplicate or too old: forwarded, not kept */
	if (off + len > cap)
		f->hpos += cap - off; /* keep each copy contiguous */
	memcpy(f->hbytes + f->hpos % cap, data, len);
	f->hist[slot] = (struct hist_ent){ .pos = f->hpos, .len = len, .seq = h->seq, .valid = 1,
					   .key = kf == KEYFRAME_START };
	f->hpos += len;
	f->hcount++;
}

/* The copy of packet `seq`, if the index has it and its bytes are intact. */
static const struct hist_ent *hist_find_seq(flow_table *ft, struct flow *f, uint16_t seq)
{
	struct nack_hist_pkt hp;

	if (!nack_hist_lookup(f->nh, seq, &hp) || hp.buf_id >= ft->cfg.history_pkts)
		return NULL;
	const struct hist_ent *e = &f->hist[hp.buf_id];
	if (!e->valid || e->seq != seq || f->hpos - e->pos > ft->cfg.history_bytes)
		return NULL; /* slot reused or bytes overwritten */
	return e;
}

static inline const uint8_t *hist_data(flow_table *ft, struct flow *f, const struct hist_ent *e)
{
	return f->hbytes + e->pos % ft->cfg.history_bytes;
}

/* ------------------------------------------------------------ sending */

static inline uint64_t sub_cookie(const struct sub *s, uint32_t slot)
{
	return ((uint64_t)s->gen << 32) | slot;
}

/* Encrypt a plain packet with `leg` straight into a transmit buffer and
 * queue it: the one copy protect mode costs. 0, -EKEYEXPIRED, -EINVAL or
 * -ENOBUFS (each counted). */
static int send_protected(flow_table *ft, srtp_leg *leg, uint32_t port, const struct sp_addr *dst,
			  const uint8_t *data, uint32_t len, bool rtcp, uint64_t cookie)
{
	struct dp_pkt b;
	uint32_t cap;
	size_t olen = 0;
	enum srtp_leg_err e;

	uint64_t t0 = crypto_t0(ft);
	if (ft->ops->tx_alloc(ft->be, &b, &cap) < 0) {
		drop(ft, DROP_TX_NO_BUFFER);
		return -ENOBUFS;
	}
	e = rtcp ? srtp_leg_protect_rtcp(leg, data, len, b.data, cap, &olen)
		 : srtp_leg_protect_rtp(leg, data, len, b.data, cap, &olen);
	if (e == SRTP_LEG_OK)
		crypto_t1(ft, t0, STAT_SRTP_PROTECT_TIMED);
	if (e != SRTP_LEG_OK) {
		ft->ops->release(ft->be, &b);
		srtp_drop(ft, e);
		return e == SRTP_LEG_ERR_KEY_EXPIRED ? -EKEYEXPIRED : -EINVAL;
	}
	b.len = (uint32_t)olen;
	struct dp_tx t = { .dst = *dst, .port = port, .cookie = cookie };
	int q = ft->ops->tx_fanout(ft->be, &b, &t, ft->hdrs, 1);
	ft->ops->release(ft->be, &b);
	cnt(ft, STAT_SRTP_PROTECT, 1);
	return q == 1 ? 0 : -ENOBUFS;
}

/* The camera's key as an outbound leg, made on first use: a resend to a
 * passthrough subscriber (fast start, NACK) is the plain copy from history
 * protected again, which gives the camera's own bytes back. */
static srtp_leg *pass_leg(flow_table *ft, struct flow *f)
{
	if (!f->pass_tx && f->srtp_suite) {
		struct msg_srtp_key k = { .suite = f->srtp_suite };
		k.master_len = (uint8_t)srtp_leg_master_len((enum srtp_leg_suite)(f->srtp_suite - 1));
		memcpy(k.master, f->pass_master, k.master_len);
		if (leg_create(ft, &k, SRTP_LEG_OUTBOUND, true, &f->pass_tx) < 0)
			f->pass_tx = NULL;
		explicit_bzero(&k, sizeof(k));
	}
	return f->pass_tx;
}

/* Give pass_tx the rollover counter the camera used for this packet, so the
 * re-protected copy matches its ciphertext after a sequence wrap too. */
static void pass_sync_roc(struct flow *f, const uint8_t *pkt, uint32_t len)
{
	uint32_t ssrc, roc, cur;
	uint16_t seq, newest;

	if (len < 12 || !nack_hist_newest(f->nh, &newest))
		return;
	ssrc = (uint32_t)pkt[8] << 24 | (uint32_t)pkt[9] << 16 | (uint32_t)pkt[10] << 8 | pkt[11];
	seq = (uint16_t)(pkt[2] << 8 | pkt[3]);
	if (srtp_leg_roc(f->srx, ssrc, &roc) < 0)
		return;
	/* History is behind the newest packet: a larger sequence number there
	 * is from before the last wrap. */
	if (roc && seq > newest)
		roc--;
	if (srtp_leg_roc(f->pass_tx, ssrc, &cur) < 0) {
		/* No stream for this SSRC yet: a throwaway protect makes one. */
		uint8_t scratch[SRTP_LEG_MAX_PKT > 2048 ? 2048 : SRTP_LEG_MAX_PKT];
		size_t olen;
		if (len + SRTP_LEG_RTP_MAX_OVERHEAD > sizeof(scratch))
			return;
		srtp_leg_protect_rtp(f->pass_tx, pkt, len, scratch, sizeof(scratch), &olen);
	}
	srtp_leg_set_roc(f->pass_tx, ssrc, roc);
}

/* A packet from history (plain) to one subscriber, in its mode. */
static int send_copy(flow_table *ft, struct flow *f, struct sub *s, uint32_t slot,
		     const uint8_t *data, uint32_t len)
{
	int rc;

	switch (s->mode) {
	case SUB_MODE_PROTECT:
		rc = send_protected(ft, s->tx, f->rtp_port, &s->rtp, data, len, false, sub_cookie(s, slot));
		if (rc == 0)
			stats_inc(&sst(ft, slot)->srtp_protected, 1);
		else if (rc == -EKEYEXPIRED)
			s->key_expired = true;
		return rc;
	case SUB_MODE_PASSTHROUGH:
		if (!pass_leg(ft, f))
			return -ENOMEM;
		pass_sync_roc(f, data, len);
		return send_protected(ft, f->pass_tx, f->rtp_port, &s->rtp, data, len, false,
				      sub_cookie(s, slot));
	default:
		return ft->ops->tx_copy(ft->be, f->rtp_port, &s->rtp, data, len, sub_cookie(s, slot));
	}
}

/* ------------------------------------------------------------ RTCP upstream */

static void send_upstream(flow_table *ft, struct flow *f, const uint8_t *pkt, uint32_t len)
{
	struct sp_addr dst;
	uint32_t port;

	if (f->flags & MSG_FLOW_F_INGEST) {
		if (ft->upstream)
			ft->upstream(ft->upstream_ctx, f->id, pkt, len);
		return;
	}
	if (!f->have_source)
		return;
	if (f->flags & MSG_FLOW_F_RTCP_MUX) {
		dst = f->source;
		port = f->rtp_port;
	} else if (f->have_src_rtcp) {
		dst = f->src_rtcp;
		port = f->rtcp_port;
	} else {
		dst = f->source;
		dst.port = htons((uint16_t)(ntohs(f->source.port) + 1));
		port = f->rtcp_port;
	}
	if (f->stx) {
		uint8_t out[RTCP_PLI_LEN + SRTP_LEG_RTCP_MAX_OVERHEAD + 64];
		size_t olen = 0;
		enum srtp_leg_err e = len + SRTP_LEG_RTCP_MAX_OVERHEAD <= sizeof(out)
			? srtp_leg_protect_rtcp(f->stx, pkt, len, out, sizeof(out), &olen)
			: SRTP_LEG_ERR_NO_ROOM;
		if (e != SRTP_LEG_OK) {
			srtp_drop(ft, e);
			return;
		}
		cnt(ft, STAT_SRTP_PROTECT, 1);
		ft->ops->tx_copy(ft->be, port, &dst, out, (uint32_t)olen, UINT64_MAX);
		return;
	}
	ft->ops->tx_copy(ft->be, port, &dst, pkt, len, UINT64_MAX);
}

/* One PLI per flow per pli_interval_ms however many viewers ask. */
static void request_keyframe(flow_table *ft, struct flow *f, uint64_t now)
{
	uint8_t pli[RTCP_PLI_LEN];

	if (f->last_pli_ns && now - f->last_pli_ns < (uint64_t)ft->cfg.pli_interval_ms * MS) {
		cnt(ft, STAT_PLI_DEDUP, 1);
		return;
	}
	if (!f->media_ssrc)
		return;
	f->last_pli_ns = now;
	rtcp_build_pli(pli, sizeof(pli), 0x53500000u | (f->id & 0xfffff), f->media_ssrc);
	send_upstream(ft, f, pli, RTCP_PLI_LEN);
	cnt(ft, STAT_PLI_UP, 1);
}

/* ------------------------------------------------------------ subscribers */

/* A joining subscriber gets the latest keyframe's access unit and every
 * packet since, at once; without one in history, ask the camera for one. */
static void fast_start(flow_table *ft, struct flow *f, struct sub *s, uint32_t slot, uint64_t now)
{
	uint16_t seq, newest;

	if (!nack_hist_keyframe(f->nh, &seq) || !nack_hist_newest(f->nh, &newest)) {
		request_keyframe(ft, f, now);
		return;
	}
	for (uint32_t i = 0; i < ft->cfg.history_pkts; i++, seq++) {
		const struct hist_ent *e = hist_find_seq(ft, f, seq);
		if (e && send_copy(ft, f, s, slot, hist_data(ft, f, e), e->len) == 0) {
			cnt(ft, STAT_FAST_START, 1);
			stats_inc(&sst(ft, slot)->fast_start, 1);
			stats_inc(&sst(ft, slot)->tx_pkts, 1);
			stats_inc(&sst(ft, slot)->tx_bytes, e->len);
		}
		if (seq == newest)
			break;
	}
}

void flow_cmd_sub_add(flow_table *ft, const struct msg_sub_add *m)
{
	struct flow *f = find_flow(ft, m->flow_id, NULL);
	uint32_t fslot = f ? (uint32_t)(f - ft->flows) : 0, s;
	struct sub *sub;

	if (!f) {
		emit_fail(ft, m->seq, m->flow_id, m->sub_id, -ENOENT);
		return;
	}
	for (uint32_t i = 0; i < f->nsubs; i++)
		if (ft->subs[f->subs[i]].id == m->sub_id) {
			emit_fail(ft, m->seq, m->flow_id, m->sub_id, -EEXIST);
			return;
		}
	if (f->nsubs == ft->cfg.max_subs_per_flow || ft->free_sub == NO_IDX) {
		emit_fail(ft, m->seq, m->flow_id, m->sub_id, -ENOSPC);
		return;
	}
	/* Legs before any state: a refused key leaves nothing behind. */
	srtp_leg *tx = NULL, *rx = NULL;
	uint8_t mode = f->srx ? SUB_MODE_TERMINATE : SUB_MODE_PLAIN;
	if (m->srtp_tx.suite) {
		const struct msg_srtp_key *rk = m->srtp_rx.suite ? &m->srtp_rx : &m->srtp_tx;
		int rc;
		if ((rc = leg_create(ft, &m->srtp_tx, SRTP_LEG_OUTBOUND, true, &tx)) < 0 ||
		    (rc = leg_create(ft, rk, SRTP_LEG_INBOUND, false, &rx)) < 0) {
			srtp_leg_destroy(tx);
			emit_fail(ft, m->seq, m->flow_id, m->sub_id, rc);
			return;
		}
		mode = SUB_MODE_PROTECT;
		if (f->srx && srtp_leg_same_params(tx, f->srx)) {
			mode = SUB_MODE_PASSTHROUGH;
			srtp_leg_destroy(tx);
			tx = NULL;
		}
	}
	s = ft->free_sub;
	sub = &ft->subs[s];
	ft->free_sub = sub->next_free;
	uint32_t gen = sub->gen;
	memset(sub, 0, sizeof(*sub));
	sub->gen = gen;
	sub->used = true;
	sub->id = m->sub_id;
	sub->flow = fslot;
	sub->flags = m->flags;
	sub->rtp = m->rtp;
	sub->rtcp = (m->flags & MSG_SUB_F_RTCP_MUX) ? m->rtp : m->rtcp;
	sub->mode = mode;
	sub->tx = tx;
	sub->rx = rx;
	if (mode == SUB_MODE_PASSTHROUGH)
		f->npass++;
	uint64_t now = clock_mono_ns();
	sub->last_rtcp_ns = now;
	f->subs[f->nsubs++] = s;
	ft->nsubs++;
	struct sub_stat *ss = sst(ft, s);
	memset((void *)ss, 0, sizeof(*ss));
	atomic_store_explicit(&ss->flow_id, f->id, memory_order_relaxed);
	atomic_store_explicit(&ss->sub_id, sub->id, memory_order_relaxed);
	atomic_store_explicit(&ss->active, 1, memory_order_release);
	atomic_store_explicit(&fst(ft, f)->subs, f->nsubs, memory_order_relaxed);
	struct msg_flow_event ev = { .seq = m->seq, .kind = FLOW_EV_SUB_ADDED, .flow_id = f->id,
				     .sub_id = sub->id, .flags = sub->flags, .source = sub->rtp,
				     .rtcp = sub->rtcp, .mode = sub->mode };
	emit(ft, &ev);
	fast_start(ft, f, sub, s, now);
}

void flow_cmd_sub_del(flow_table *ft, const struct msg_sub_del *m)
{
	struct flow *f = find_flow(ft, m->flow_id, NULL);

	if (f)
		for (uint32_t i = 0; i < f->nsubs; i++)
			if (ft->subs[f->subs[i]].id == m->sub_id) {
				sub_remove(ft, f, i, m->seq, SUB_RM_COMMAND);
				return;
			}
	emit_fail(ft, m->seq, m->flow_id, m->sub_id, -ENOENT);
}

/* New keys without dropping anything: the next packet uses them. */
void flow_cmd_rekey(flow_table *ft, const struct msg_srtp_rekey *m)
{
	struct flow *f = find_flow(ft, m->flow_id, NULL);
	enum srtp_leg_rekey_mode mode = (enum srtp_leg_rekey_mode)m->mode;
	const uint8_t *key = m->key.master;
	size_t klen = m->key.master_len;
	int rc = 0;

	if (!f) {
		emit_fail(ft, m->seq, m->flow_id, m->sub_id, -ENOENT);
		return;
	}
	if (m->sub_id == 0) {
		if (!f->srx || m->key.suite != f->srtp_suite) {
			emit_fail(ft, m->seq, m->flow_id, 0, -EINVAL); /* plain flow or other suite */
			return;
		}
		if (m->which & MSG_REKEY_RX) {
			rc = srtp_leg_rekey(f->srx, key, klen, mode);
			if (rc == 0) {
				/* passthrough resends follow the camera's new key */
				memcpy(f->pass_master, key, klen);
				srtp_leg_destroy(f->pass_tx);
				f->pass_tx = NULL;
				f->key_expired = false;
			}
		}
		if (rc == 0 && (m->which & MSG_REKEY_TX))
			rc = srtp_leg_rekey(f->stx, key, klen, mode);
	} else {
		struct sub *s = NULL;
		for (uint32_t i = 0; i < f->nsubs; i++)
			if (ft->subs[f->subs[i]].id == m->sub_id)
				s = &ft->subs[f->subs[i]];
		if (!s) {
			emit_fail(ft, m->seq, m->flow_id, m->sub_id, -ENOENT);
			return;
		}
		/* A passthrough subscriber's media key is the camera's: rekey the
		 * flow. Plain subscribers have no legs. */
		if (((m->which & MSG_REKEY_TX) && !s->tx) || ((m->which & MSG_REKEY_RX) && !s->rx) ||
		    (s->tx && (int)srtp_leg_get_suite(s->tx) != m->key.suite - 1) ||
		    (s->rx && (int)srtp_leg_get_suite(s->rx) != m->key.suite - 1)) {
			emit_fail(ft, m->seq, m->flow_id, m->sub_id, -EINVAL);
			return;
		}
		if (m->which & MSG_REKEY_TX)
			rc = srtp_leg_rekey(s->tx, key, klen, mode);
		if (rc == 0 && (m->which & MSG_REKEY_RX))
			rc = srtp_leg_rekey(s->rx, key, klen, mode);
		if (rc == 0)
			s->key_expired = false;
	}
	if (rc < 0) {
		emit_fail(ft, m->seq, m->flow_id, m->sub_id, rc);
		return;
	}
	struct msg_flow_event ev = { .seq = m->seq, .kind = FLOW_EV_REKEYED, .flow_id = f->id,
				     .sub_id = m->sub_id };
	emit(ft, &ev);
}

void flow_cmd_dump(flow_table *ft, const struct msg_flow_dump *m)
{
	for (uint32_t i = 0; i < ft->cfg.max_flows; i++) {
		struct flow *f = &ft->flows[i];
		if (!f->used)
			continue;
		struct msg_flow_event ev = { .seq = m->seq, .kind = FLOW_EV_ADDED, .flow_id = f->id,
					     .rtp_port = f->rtp_num, .rtcp_port = f->rtcp_num,
					     .flags = f->flags, .source = f->source,
					     .srtp_suite = f->srtp_suite };
		emit(ft, &ev);
		for (uint32_t k = 0; k < f->nsubs; k++) {
			struct sub *s = &ft->subs[f->subs[k]];
			struct msg_flow_event se = { .seq = m->seq, .kind = FLOW_EV_SUB_ADDED,
						     .flow_id = f->id, .sub_id = s->id, .flags = s->flags,
						     .source = s->rtp, .rtcp = s->rtcp, .mode = s->mode };
			emit(ft, &se);
		}
	}
	struct msg_flow_event done = { .seq = m->seq, .kind = FLOW_EV_DUMP_DONE };
	emit(ft, &done);
}

/* ------------------------------------------------------------ packet path */

/* Send a packet to every subscriber not in backoff; RTCP goes to the RTCP
 * address. `plain` is what plain/terminate subscribers get and protect mode
 * encrypts; `orig` is the camera's own bytes for passthrough subscribers. */
static void fanout(flow_table *ft, struct flow *f, const struct dp_pkt *plain,
		   const struct dp_pkt *orig, bool rtcp, uint64_t now)
{
	unsigned n = 0, np = 0, max = ft->cfg.max_subs_per_flow;
	uint64_t sent = 0;

	for (uint32_t i = 0; i < f->nsubs; i++) {
		uint32_t s = f->subs[i];
		struct sub *sub = &ft->subs[s];
		if (sub->backoff_until > now || sub->key_expired)
			continue;
		bool mux = sub->flags & MSG_SUB_F_RTCP_MUX;
		struct sub_stat *ss = sst(ft, s);
		struct dp_tx t = {
			.dst = rtcp ? sub->rtcp : sub->rtp,
			.port = rtcp && !mux ? f->rtcp_port : f->rtp_port,
			.cookie = sub_cookie(sub, s),
		};
		switch (sub->mode) {
		case SUB_MODE_PROTECT: {
			int rc = send_protected(ft, sub->tx, t.port, &t.dst, plain->data, plain->len, rtcp,
						t.cookie);
			if (rc == 0) {
				sent++;
				stats_inc(&ss->srtp_protected, 1);
				stats_inc(&ss->tx_pkts, 1);
				stats_inc(&ss->tx_bytes, plain->len + srtp_leg_rtp_overhead(sub->tx));
			} else if (rc == -EKEYEXPIRED) {
				sub->key_expired = true; /* removed by the timer, with an event */
			}
			continue;
		}
		case SUB_MODE_PASSTHROUGH:
			/* filled from the back: plain ones from the front */
			ft->tx[max - 1 - np++] = t;
			stats_inc(&ss->tx_bytes, orig->len);
			break;
		default:
			ft->tx[n++] = t;
			stats_inc(&ss->tx_bytes, plain->len);
			break;
		}
		stats_inc(&ss->tx_pkts, 1);
	}
	if (n) {
		int q = ft->ops->tx_fanout(ft->be, plain, ft->tx, ft->hdrs, n);
		if (q > 0)
			sent += (uint64_t)q;
	}
	if (np) {
		int q = ft->ops->tx_fanout(ft->be, orig, ft->tx + max - np, ft->hdrs, np);
		if (q > 0) {
			sent += (uint64_t)q;
			cnt(ft, STAT_SRTP_PASSTHROUGH, (uint64_t)q);
		}
	}
	if (sent) {
		cnt(ft, STAT_FANOUT, sent);
		stats_inc(&fst(ft, f)->fanout, sent);
	}
}

/* Authenticate and decrypt a camera packet once, at ingest. The plain
 * packet is *pkt itself decrypted in place, or, when passthrough
 * subscribers need the original, a copy in a transmit buffer (*copied: the
 * caller releases it). False when the packet must go (counted). */
static bool srtp_ingest(flow_table *ft, struct flow *f, const struct dp_pkt *pkt, bool rtcp,
			struct dp_pkt *plain, bool *copied)
{
	enum srtp_leg_err e;
	uint32_t cap;
	size_t len = pkt->len;

	*plain = *pkt;
	*copied = false;
	if (f->key_expired) {
		drop(ft, DROP_SRTP_KEY_EXPIRED);
		return false;
	}
	uint64_t t0 = crypto_t0(ft);
	if (f->npass) {
		if (ft->ops->tx_alloc(ft->be, plain, &cap) < 0 || cap < pkt->len) {
			if (plain->data != pkt->data)
				ft->ops->release(ft->be, plain);
			drop(ft, DROP_TX_NO_BUFFER);
			return false;
		}
		memcpy(plain->data, pkt->data, pkt->len);
		plain->port = pkt->port;
		plain->src = pkt->src;
		*copied = true;
	}
	e = rtcp ? srtp_leg_unprotect_rtcp(f->srx, plain->data, &len)
		 : srtp_leg_unprotect_rtp(f->srx, plain->data, &len);
	if (e != SRTP_LEG_OK) {
		if (*copied)
			ft->ops->release(ft->be, plain);
		*copied = false;
		srtp_drop(ft, e);
		stats_inc(&fst(ft, f)->drops, 1);
		if (e == SRTP_LEG_ERR_AUTH)
			stats_inc(&fst(ft, f)->srtp_auth_fail, 1);
		else if (e == SRTP_LEG_ERR_REPLAY || e == SRTP_LEG_ERR_TOO_OLD)
			stats_inc(&fst(ft, f)->srtp_replay, 1);
		else if (e == SRTP_LEG_ERR_KEY_EXPIRED && !f->key_expired) {
			f->key_expired = true;
			log_warn(0, "flow %u: the camera's SRTP key expired; forwarding stops until rekeyed",
				    f->id);
			struct msg_flow_event ev = { .kind = FLOW_EV_KEY_EXPIRED, .flow_id = f->id };
			emit(ft, &ev);
		}
		return false;
	}
	crypto_t1(ft, t0, STAT_SRTP_UNPROTECT_TIMED);
	plain->len = (uint32_t)len;
	cnt(ft, STAT_SRTP_UNPROTECT, 1);
	return true;
}

static void on_rtp(flow_table *ft, struct flow *f, const struct dp_pkt *pkt, uint64_t now)
{
	struct dp_pkt dec;
	const struct dp_pkt *plain = pkt;
	bool copied = false;
	struct rtp_hdr h;
	enum rtp_err e;

	if (f->srx) {
		if (!srtp_ingest(ft, f, pkt, false, &dec, &copied))
			return;
		plain = &dec;
	}
	e = rtp_parse(plain->data, plain->len, &h);
	if (e != RTP_OK) {
		drop(ft, DROP_RTP_MALFORMED);
		stats_inc(&fst(ft, f)->drops, 1);
		goto out;
	}
	if (f->ssrc_filter && h.ssrc != f->ssrc) {
		drop(ft, DROP_SSRC_MISMATCH);
		stats_inc(&fst(ft, f)->drops, 1);
		goto out;
	}
	if (!f->have_source) {
		char a[SP_ADDR_STRLEN];
		f->source = pkt->src;
		f->have_source = true;
		log_info("flow %u latched to %s", f->id, sp_addr_str(&pkt->src, a));
		struct msg_flow_event ev = { .kind = FLOW_EV_LATCHED, .flow_id = f->id,
					     .source = pkt->src };
		emit(ft, &ev);
	}
	f->media_ssrc = h.ssrc;
	f->rx_pkts++;
	f->rx_bytes += pkt->len;
	cnt(ft, STAT_RTP_IN, 1);
	stats_inc(&fst(ft, f)->rx_pkts, 1);
	stats_inc(&fst(ft, f)->rx_bytes, pkt->len);
	enum keyframe_kind kf = KEYFRAME_NONE;
	if (f->codec != MSG_CODEC_OTHER)
		kf = keyframe_detect(f->codec == MSG_CODEC_H265 ? KEYFRAME_H265 : KEYFRAME_H264,
				     plain->data + h.payload_off, h.payload_len);
	if (kf == KEYFRAME_START)
		stats_inc(&fst(ft, f)->keyframes, 1);
	hist_store(ft, f, plain->data, plain->len, &h, kf);
	fanout(ft, f, plain, pkt, false, now);
out:
	if (copied)
		ft->ops->release(ft->be, &dec);
}

static struct sub *find_sub_by_addr(flow_table *ft, struct flow *f, const struct sp_addr *a,
				    uint32_t *slot)
{
	for (uint32_t i = 0; i < f->nsubs; i++) {
		struct sub *s = &ft->subs[f->subs[i]];
		if (sp_addr_equal(&s->rtcp, a) || sp_addr_equal(&s->rtp, a)) {
			*slot = f->subs[i];
			return s;
		}
	}
	return NULL;
}

struct sub_rtcp_ctx {
	flow_table *ft;
	struct flow *f;
	struct sub *s;
	uint32_t slot;
	uint64_t now;
	bool want_key;
};

static void on_nack_seq(struct sub_rtcp_ctx *c, uint16_t seq)
{
	const struct hist_ent *e = hist_find_seq(c->ft, c->f, seq);

	if (!e) {
		drop(c->ft, DROP_NACK_MISS);
		return;
	}
	if (send_copy(c->ft, c->f, c->s, c->slot, hist_data(c->ft, c->f, e), e->len) == 0) {
		cnt(c->ft, STAT_NACK_HIT, 1);
		stats_inc(&sst(c->ft, c->slot)->nack_resent, 1);
		stats_inc(&sst(c->ft, c->slot)->tx_pkts, 1);
		stats_inc(&sst(c->ft, c->slot)->tx_bytes, e->len);
	}
}

static void on_sub_rtcp_pkt(struct sub_rtcp_ctx *c, const struct rtcp_pkt *p)
{
	uint16_t seqs[64];

	if (rtcp_is_pli(p) || rtcp_is_fir(p)) {
		c->want_key = true;
	} else if (rtcp_is_nack(p)) {
		size_t n = nack_expand(p->fci, p->fci_len, seqs, 64);
		for (size_t i = 0; i < n; i++)
			on_nack_seq(c, seqs[i]);
	}
}

static bool same_ip(const struct sp_addr *a, const struct sp_addr *b)
{
	return a->family == b->family && !memcmp(a->ip, b->ip, a->family == AF_INET ? 4 : 16);
}

/* RTCP from the camera: its RTP address (rtcp-mux), the RTCP address it
 * used before, or, before that is known, its IP on our RTCP port (the port
 * it sends from may be rewritten by a NAT, so port+1 is not required). */
static bool from_source(const struct flow *f, const struct sp_addr *src, bool on_rtp_port)
{
	if (!f->have_source)
		return false;
	if (sp_addr_equal(src, &f->source))
		return true;
	if (f->have_src_rtcp)
		return sp_addr_equal(src, &f->src_rtcp);
	return !on_rtp_port && same_ip(src, &f->source);
}

static void on_rtcp(flow_table *ft, struct flow *f, struct dp_pkt *pkt, bool on_rtp_port,
		    uint64_t now)
{
	struct rtcp_iter it;
	struct rtcp_pkt rp;
	struct sub *s;
	uint32_t slot;

	/* A subscriber's feedback: absorbed, acted on. Checked first: viewers
	 * and cameras may share an IP (a NAT, or loopback in tests). */
	s = find_sub_by_addr(ft, f, &pkt->src, &slot);
	if (s) {
		struct sub_rtcp_ctx c = { ft, f, s, slot, now, false };
		if (s->rx) {
			/* SRTCP: believed only once authenticated. Decrypted in
			 * place: viewer feedback is never forwarded as is. */
			size_t len = pkt->len;
			enum srtp_leg_err e = srtp_leg_unprotect_rtcp(s->rx, pkt->data, &len);
			if (e != SRTP_LEG_OK) {
				srtp_drop(ft, e);
				if (e == SRTP_LEG_ERR_AUTH)
					stats_inc(&sst(ft, slot)->srtp_auth_fail, 1);
				return;
			}
			pkt->len = (uint32_t)len;
			cnt(ft, STAT_SRTP_UNPROTECT, 1);
		}
		if (rtcp_iter_init(&it, pkt->data, pkt->len) != RTCP_OK) {
			drop(ft, DROP_RTCP_MALFORMED);
			return;
		}
		while (rtcp_next(&it, &rp))
			on_sub_rtcp_pkt(&c, &rp);
		cnt(ft, STAT_RTCP_IN, 1);
		stats_inc(&sst(ft, slot)->rtcp_in, 1);
		s->last_rtcp_ns = now;
		if (c.want_key)
			request_keyframe(ft, f, now);
		return;
	}
	/* The camera's reports go to every subscriber. */
	if (from_source(f, &pkt->src, on_rtp_port)) {
		struct dp_pkt dec;
		const struct dp_pkt *plain = pkt;
		bool copied = false;
		if (f->srx) {
			if (!srtp_ingest(ft, f, pkt, true, &dec, &copied))
				return;
			plain = &dec;
		}
		if (rtcp_iter_init(&it, plain->data, plain->len) != RTCP_OK) {
			drop(ft, DROP_RTCP_MALFORMED);
			stats_inc(&fst(ft, f)->drops, 1);
		} else {
			if (!on_rtp_port && !f->have_src_rtcp) {
				f->src_rtcp = pkt->src;
				f->have_src_rtcp = true;
			}
			cnt(ft, STAT_RTCP_IN, 1);
			stats_inc(&fst(ft, f)->rtcp_in, 1);
			fanout(ft, f, plain, pkt, true, now);
		}
		if (copied)
			ft->ops->release(ft->be, &dec);
		return;
	}
	drop(ft, DROP_UNKNOWN_SOURCE);
	stats_inc(&fst(ft, f)->drops, 1);
}

void flow_input(flow_table *ft, struct dp_pkt *pkts, unsigned n, uint64_t now)
{
	for (unsigned i = 0; i < n; i++) {
		struct dp_pkt *p = &pkts[i];
		struct port_ref pr = p->port < ft->max_ports ? ft->ports[p->port] : (struct port_ref){ 0 };
		struct flow *f = pr.role ? &ft->flows[pr.flow] : NULL;

		if (p->port == ft->shared_port) {
			f = src_hash_find(ft, p);
			if (!f)
				drop(ft, DROP_UNKNOWN_SOURCE);
			else if (rtp_is_rtcp(p->data, p->len))
				on_rtcp(ft, f, p, true, now);
			else
				on_rtp(ft, f, p, now);
		} else if (!f || !f->used) {
			drop(ft, DROP_NO_PORT);
		} else if (pr.role == PR_RTCP) {
			on_rtcp(ft, f, p, false, now);
		} else if (rtp_is_rtcp(p->data, p->len)) {
			/* RFC 5761 demultiplexing on the RTP port. */
			on_rtcp(ft, f, p, true, now);
		} else if (!f->have_source || sp_addr_equal(&p->src, &f->source)) {
			on_rtp(ft, f, p, now);
		} else {
			drop(ft, DROP_UNKNOWN_SOURCE);
		}
		ft->ops->release(ft->be, p);
	}
}

/* ------------------------------------------------------------ timers */

static void handle_send_errors(flow_table *ft, uint64_t now)
{
	struct dp_tx_err errs[64];
	unsigned n;

	while ((n = ft->ops->tx_errors(ft->be, errs, 64)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			uint32_t slot = (uint32_t)errs[i].cookie, gen = (uint32_t)(errs[i].cookie >> 32);
			if (slot >= ft->cfg.max_subs || !ft->subs[slot].used || ft->subs[slot].gen != gen)
				continue;
			struct sub *s = &ft->subs[slot];
			stats_inc(&sst(ft, slot)->send_errors, 1);
			if (now > s->last_error_ns && now - s->last_error_ns > ERROR_WINDOW_NS)
				s->errors = 0;
			s->errors++;
			s->last_error_ns = now;
			/* Half the limit: stop sending for a while; the limit: remove. */
			if (s->errors * 2 >= ft->cfg.send_error_limit && s->errors * 2 - 2 < ft->cfg.send_error_limit)
				s->backoff_until = now + BACKOFF_NS;
		}
	}
}

void flow_timers(flow_table *ft, uint64_t now)
{
	handle_send_errors(ft, now);
	if (now < ft->next_timer_ns)
		return;
	ft->next_timer_ns = now + TIMER_NS;
	for (uint32_t i = 0; i < ft->cfg.max_flows; i++) {
		struct flow *f = &ft->flows[i];
		if (!f->used)
			continue;
		for (uint32_t k = f->nsubs; k-- > 0;) {
			struct sub *s = &ft->subs[f->subs[k]];
			if (s->errors >= ft->cfg.send_error_limit)
				sub_remove(ft, f, k, 0, SUB_RM_SEND_ERRORS);
			else if (s->key_expired)
				sub_remove(ft, f, k, 0, SUB_RM_KEY_EXPIRED);
			else if (ft->cfg.rtcp_timeout_ms && now > s->last_rtcp_ns &&
				 now - s->last_rtcp_ns > (uint64_t)ft->cfg.rtcp_timeout_ms * MS)
				/* now > last: a subscriber added during this loop turn
				 * is younger than the turn's clock reading. */
				sub_remove(ft, f, k, 0, SUB_RM_RTCP_TIMEOUT);
		}
	}
}

/* ------------------------------------------------------------ ingest */

bool flow_is_ingest(flow_table *ft, uint32_t flow_id)
{
	struct flow *f = find_flow(ft, flow_id, NULL);
	return f && (f->flags & MSG_FLOW_F_INGEST);
}

void flow_set_upstream(flow_table *ft, flow_upstream_fn fn, void *ctx)
{
	ft->upstream = fn;
	ft->upstream_ctx = ctx;
}

int flow_ingest(flow_table *ft, uint32_t flow_id, bool rtcp, const uint8_t *d, uint32_t len,
		uint64_t now)
{
	struct flow *f = find_flow(ft, flow_id, NULL);
	struct dp_pkt p;
	uint32_t cap;

	if (!f || !(f->flags & MSG_FLOW_F_INGEST))
		return -ENOENT;
	if (!len) {
		drop(ft, rtcp ? DROP_RTCP_MALFORMED : DROP_RTP_MALFORMED);
		return -EINVAL;
	}
	/* One copy, into a buffer the fan-out then sends by reference. */
	if (ft->ops->tx_alloc(ft->be, &p, &cap) < 0) {
		drop(ft, DROP_TX_NO_BUFFER);
		return -ENOBUFS;
	}
	if (cap < len) {
		ft->ops->release(ft->be, &p);
		drop(ft, DROP_RTSP_OVERSIZE);
		return -EMSGSIZE;
	}
	memcpy(p.data, d, len);
	p.len = len;
	p.port = f->rtp_port;
	p.src = f->source;
	if (rtcp)
		on_rtcp(ft, f, &p, true, now);
	else
		on_rtp(ft, f, &p, now);
	ft->ops->release(ft->be, &p);
	return 0;
}
