/*
 * status: spdp's state as read from the shared segment, as JSON. One builder
 * used by spcp (its /status reply) and by spctl (reading the segment itself
 * when spcp is down), so both always print the same fields.
 */
#ifndef SP_STATUS_H
#define SP_STATUS_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "shm.h"

/* {"reachable": true, "pid", "uptime_s", "workers", "cp_attached", "cp_pid",
 *  "attach_count", "heartbeat_age_ms", "rings": [...], "workers_stats": [...],
 *  "drops": {...}}; NULL on allocation failure. */
cJSON *status_spdp_json(const shm_seg *s);

const char *status_ring_kind_name(uint32_t kind);

/* Add the segment's counters of flow `flow_id` on `worker` to obj ("rx_pkts",
 * ...; with subs, a "subs_stats" array). False when the flow has no slot. */
bool status_flow_counters(const shm_seg *s, uint32_t worker, uint32_t flow_id, bool subs,
			  cJSON *obj);

#endif
