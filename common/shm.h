/*
 * shm: create, map and validate the spcp/spdp shared segment (layout in
 * shm-t.h). spdp creates it; spcp maps it read-write, spctl read-only.
 */
#ifndef SP_SHM_H
#define SP_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shm-t.h"

struct shm_params {
	uint32_t workers;
	uint64_t main_ring_bytes; /* each main ring */
	uint64_t cmd_ring_bytes;  /* each worker command ring */
	uint64_t evt_ring_bytes;  /* each worker event ring */
	uint64_t exc_ring_bytes;  /* each exception ring, both directions */
	const char *instance;
	uint32_t max_flows;       /* per worker; 0: no flow counters */
	uint32_t max_subs;        /* per worker */
};

typedef struct shm_seg shm_seg;

/* New segment in a sealed-size memfd. NULL with errno on failure. */
shm_seg *shm_create(const struct shm_params *p);
/*
 * Map a segment received from spdp and validate its header, offsets and ring
 * descriptors against the file size. On failure returns NULL and writes the
 * reason to err.
 */
shm_seg *shm_map(int fd, bool writable, char *err, size_t errlen);
void shm_unmap(shm_seg *s);

int shm_fd(const shm_seg *s);
const struct shm_header *shm_header(const shm_seg *s);
struct shm_procinfo *shm_procinfo(const shm_seg *s);
const struct ring_desc *shm_ring_desc(const shm_seg *s, uint32_t idx);
struct ring_ctrl *shm_ring_ctrl(const shm_seg *s, uint32_t idx);
void *shm_ring_data(const shm_seg *s, uint32_t idx);
/* block = worker index, or n_workers for spdp's main thread. */
struct stats_block *shm_stats(const shm_seg *s, uint32_t block);
/* Counter slots of worker w (NULL when out of range). */
struct flow_stat *shm_flow_stats(const shm_seg *s, uint32_t worker);
struct sub_stat *shm_sub_stats(const shm_seg *s, uint32_t worker);
/* Name of counter i (i < n_counters) or drop j (n_counters + j); "" if absent. */
const char *shm_stat_name(const shm_seg *s, uint32_t i);

#endif
