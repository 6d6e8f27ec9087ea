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
