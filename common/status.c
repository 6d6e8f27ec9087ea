/* status: JSON view of spdp's shared segment (see status.h). */
#include "status.h"

#include <signal.h>
#include <stdatomic.h>

#include "clock.h"
#include "ring.h"

const char *status_ring_kind_name(uint32_t kind)
{
	switch (kind) {
	case RING_KIND_MAIN_CMD: return "main_cmd";
	case RING_KIND_MAIN_EVT: return "main_evt";
	case RING_KIND_CMD: return "cmd";
	case RING_KIND_EVT: return "evt";
	case RING_KIND_EXC_UP: return "exc_up";
	case RING_KIND_EXC_DOWN: return "exc_down";
	}
	return "?";
}

static double age_ms(uint64_t then_ns, uint64_t now_ns)
{
	return then_ns && now_ns >= then_ns ? (double)(now_ns - then_ns) / 1e6 : -1;
}

cJSON *status_spdp_json(const shm_seg *s)
{
	const struct shm_header *h = shm_header(s);
	struct shm_procinfo *pi = shm_procinfo(s);
	uint64_t now = clock_mono_ns();
	int32_t cp_pid = atomic_load(&pi->cp_pid);
	cJSON *o = cJSON_CreateObject(), *rings, *ws, *drops;
	uint64_t sum[STATS_MAX_DROPS] = { 0 };

	if (!o)
		return NULL;
	cJSON_AddBoolToObject(o, "reachable", 1);
	cJSON_AddStringToObject(o, "instance", h->instance);
	cJSON_AddNumberToObject(o, "pid", atomic_load(&pi->dp_pid));
	cJSON_AddNumberToObject(o, "uptime_s", age_ms(atomic_load(&pi->dp_start_mono_ns), now) / 1e3);
	cJSON_AddNumberToObject(o, "heartbeat_age_ms", age_ms(atomic_load(&pi->dp_heartbeat_ns), now));
	cJSON_AddNumberToObject(o, "workers", h->n_workers);
	cJSON_AddBoolToObject(o, "cp_attached", cp_pid != 0);
	if (cp_pid)
		cJSON_AddNumberToObject(o, "cp_pid", cp_pid);
	else
		cJSON_AddNullToObject(o, "cp_pid");
	cJSON_AddNumberToObject(o, "attach_count", (double)atomic_load(&pi->cp_attach_count));
	cJSON_AddNumberToObject(o, "layout_version", h->layout_version);
	cJSON_AddNumberToObject(o, "segment_bytes", (double)h->total_size);
	uint64_t nflows = 0, nsubs = 0;
	for (uint32_t w = 0; w < h->n_workers; w++) {
		struct flow_stat *fs = shm_flow_stats(s, w);
		struct sub_stat *ss = shm_sub_stats(s, w);
		for (uint32_t i = 0; fs && i < h->max_flows; i++)
			nflows += atomic_load_explicit(&fs[i].active, memory_order_relaxed) == 1;
		for (uint32_t i = 0; ss && i < h->max_subs; i++)
			nsubs += atomic_load_explicit(&ss[i].active, memory_order_relaxed) == 1;
	}
	cJSON_AddNumberToObject(o, "flows", (double)nflows);
	cJSON_AddNumberToObject(o, "subscribers", (double)nsubs);

	rings = cJSON_AddArrayToObject(o, "rings");
	for (uint32_t i = 0; i < h->n_rings; i++) {
		const struct ring_desc *d = shm_ring_desc(s, i);
		struct ring_stats st;
		cJSON *r = cJSON_CreateObject();

		ring_ctrl_stats(shm_ring_ctrl(s, i), d->capacity, &st);
		cJSON_AddStringToObject(r, "kind", status_ring_kind_name(d->kind));
		if (d->worker == UINT32_MAX)
			cJSON_AddNullToObject(r, "worker");
		else
			cJSON_AddNumberToObject(r, "worker", d->worker);
		cJSON_AddNumberToObject(r, "capacity", (double)st.capacity);
		cJSON_AddNumberToObject(r, "used_bytes", (double)st.used_bytes);
		cJSON_AddNumberToObject(r, "depth", (double)st.depth_msgs);
		cJSON_AddNumberToObject(r, "enqueued", (double)st.enq_msgs);
		cJSON_AddNumberToObject(r, "dequeued", (double)st.deq_msgs);
		cJSON_AddNumberToObject(r, "drops_full", (double)st.drops_full);
		cJSON_AddNumberToObject(r, "rejected", (double)st.rejected);
		cJSON_AddNumberToObject(r, "corrupt", (double)st.corrupt);
		cJSON_AddNumberToObject(r, "wakeups", (double)st.wakeups);
		cJSON_AddItemToArray(rings, r);
	}

	ws = cJSON_AddArrayToObject(o, "workers_stats");
	for (uint32_t w = 0; w <= h->n_workers; w++) {
		struct stats_block *b = shm_stats(s, w);
		cJSON *wj = cJSON_CreateObject(), *c, *d;

		if (w == h->n_workers)
			cJSON_AddStringToObject(wj, "worker", "main");
		else
			cJSON_AddNumberToObject(wj, "worker", w);
		cJSON_AddNumberToObject(wj, "heartbeat_age_ms", age_ms(stats_read(&b->heartbeat_ns), now));
		c = cJSON_AddObjectToObject(wj, "counters");
		for (uint32_t i = 0; i < h->n_counters; i++)
			cJSON_AddNumberToObject(c, shm_stat_name(s, i), (double)stats_read(&b->counters[i]));
		d = cJSON_AddObjectToObject(wj, "drops");
		for (uint32_t i = 0; i < h->n_drops; i++) {
			uint64_t v = stats_read(&b->drops[i]);
			sum[i] += v;
			cJSON_AddNumberToObject(d, shm_stat_name(s, h->n_counters + i), (double)v);
		}
		cJSON_AddItemToArray(ws, wj);
	}
	drops = cJSON_AddObjectToObject(o, "drops");
	for (uint32_t i = 0; i < h->n_drops; i++)
		cJSON_AddNumberToObject(drops, shm_stat_name(s, h->n_counters + i), (double)sum[i]);
	return o;
}

#define LD(x) ((double)atomic_load_explicit(&(x), memory_order_relaxed))

bool status_flow_counters(const shm_seg *s, uint32_t worker, uint32_t flow_id, bool subs,
			  cJSON *obj)
{
	const struct shm_header *h = shm_header(s);
	struct flow_stat *fs = shm_flow_stats(s, worker);
	struct sub_stat *ss = shm_sub_stats(s, worker);

	if (!fs)
		return false;
	for (uint32_t i = 0; i < h->max_flows; i++) {
		struct flow_stat *f = &fs[i];
		if (atomic_load_explicit(&f->active, memory_order_acquire) != 1 ||
		    atomic_load_explicit(&f->flow_id, memory_order_relaxed) != flow_id)
			continue;
		cJSON_AddNumberToObject(obj, "rx_pkts", LD(f->rx_pkts));
		cJSON_AddNumberToObject(obj, "rx_bytes", LD(f->rx_bytes));
		cJSON_AddNumberToObject(obj, "fanout_sends", LD(f->fanout));
		cJSON_AddNumberToObject(obj, "rtcp_in", LD(f->rtcp_in));
		cJSON_AddNumberToObject(obj, "keyframes", LD(f->keyframes));
		cJSON_AddNumberToObject(obj, "drops", LD(f->drops));
		cJSON_AddNumberToObject(obj, "srtp_auth_fail", LD(f->srtp_auth_fail));
		cJSON_AddNumberToObject(obj, "srtp_replay", LD(f->srtp_replay));
		if (!subs || !ss)
			return true;
		cJSON *arr = cJSON_AddArrayToObject(obj, "subs_stats");
		for (uint32_t k = 0; k < h->max_subs; k++) {
			struct sub_stat *u = &ss[k];
			if (atomic_load_explicit(&u->active, memory_order_acquire) != 1 ||
			    atomic_load_explicit(&u->flow_id, memory_order_relaxed) != flow_id)
				continue;
			cJSON *so = cJSON_CreateObject();
			cJSON_AddNumberToObject(so, "sub", LD(u->sub_id));
			cJSON_AddNumberToObject(so, "tx_pkts", LD(u->tx_pkts));
			cJSON_AddNumberToObject(so, "tx_bytes", LD(u->tx_bytes));
			cJSON_AddNumberToObject(so, "send_errors", LD(u->send_errors));
			cJSON_AddNumberToObject(so, "rtcp_in", LD(u->rtcp_in));
			cJSON_AddNumberToObject(so, "nack_resent", LD(u->nack_resent));
			cJSON_AddNumberToObject(so, "fast_start", LD(u->fast_start));
			cJSON_AddNumberToObject(so, "srtp_protected", LD(u->srtp_protected));
			cJSON_AddNumberToObject(so, "srtp_auth_fail", LD(u->srtp_auth_fail));
			cJSON_AddItemToArray(arr, so);
		}
		return true;
	}
	return false;
}
