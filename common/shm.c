/*
 * shm: the shared segment (see shm-t.h). Created once by spdp as a memfd
 * whose size is sealed, so a peer can never shrink it under a mapping (which
 * would turn reads into SIGBUS).
 */
#include "shm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>

#include "ring.h"

struct shm_seg {
	uint8_t *base;
	uint64_t size;
	int fd;
	bool owner;
};

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static bool pow2_in_range(uint64_t v)
{
	return v >= RING_MIN_CAPACITY && v <= RING_MAX_CAPACITY && !(v & (v - 1));
}

shm_seg *shm_create(const struct shm_params *p)
{
	uint32_t nw = p->workers, nrings = 2 + 4 * nw;
	uint32_t nnames = STAT__COUNT + DROP__COUNT;
	uint64_t off = 0, total;
	struct shm_header h;
	shm_seg *s;

	if (nw == 0 || nw > SHM_MAX_WORKERS || p->max_flows > (1u << 24) || p->max_subs > (1u << 26) || !pow2_in_range(p->main_ring_bytes) ||
	    !pow2_in_range(p->cmd_ring_bytes) || !pow2_in_range(p->evt_ring_bytes) ||
	    !pow2_in_range(p->exc_ring_bytes)) {
		errno = EINVAL;
		return NULL;
	}
	memset(&h, 0, sizeof(h));
	h.magic = SHM_MAGIC;
	h.layout_version = SHM_LAYOUT_VERSION;
	h.header_size = sizeof(h);
	h.n_workers = nw;
	h.n_rings = nrings;
	h.n_counters = STAT__COUNT;
	h.n_drops = DROP__COUNT;
	h.n_doorbells = 2 + nw;
	h.stats_block_size = sizeof(struct stats_block);
	snprintf(h.instance, sizeof(h.instance), "%s", p->instance ? p->instance : "default");

	off = align_up(sizeof(h), 64);
	h.procinfo_off = off;
	off = align_up(off + sizeof(struct shm_procinfo), 64);
	h.rings_off = off;
	off = align_up(off + (uint64_t)nrings * sizeof(struct ring_desc), 64);
	h.names_off = off;
	off = align_up(off + (uint64_t)nnames * STATS_NAME_LEN, 64);
	h.stats_off = off;
	off = align_up(off + (uint64_t)(nw + 1) * sizeof(struct stats_block), 64);
	h.max_flows = p->max_flows;
	h.max_subs = p->max_subs;
	h.flow_stats_off = off;
	off = align_up(off + (uint64_t)nw * p->max_flows * sizeof(struct flow_stat), 64);
	h.sub_stats_off = off;
	off = align_up(off + (uint64_t)nw * p->max_subs * sizeof(struct sub_stat), 4096);

	struct ring_desc *descs = calloc(nrings, sizeof(*descs));
	if (!descs)
		return NULL;
	for (uint32_t i = 0; i < nrings; i++) {
		struct ring_desc *d = &descs[i];
		if (i < 2) {
			d->kind = i == 0 ? RING_KIND_MAIN_CMD : RING_KIND_MAIN_EVT;
			d->worker = UINT32_MAX;
			d->capacity = p->main_ring_bytes;
			d->doorbell = i == 0 ? SHM_DOORBELL_MAIN : SHM_DOORBELL_CP;
		} else {
			uint32_t w = (i - 2) / 4, k = (i - 2) % 4;
			static const uint32_t kinds[4] = { RING_KIND_CMD, RING_KIND_EVT,
							   RING_KIND_EXC_UP, RING_KIND_EXC_DOWN };
			d->kind = kinds[k];
			d->worker = w;
			d->capacity = k == 0 ? p->cmd_ring_bytes :
				      k == 1 ? p->evt_ring_bytes : p->exc_ring_bytes;
			d->doorbell = (RING_KIND_BIT(d->kind) & RING_KINDS_TO_DP) ?
					      SHM_DOORBELL_WORKER(w) : SHM_DOORBELL_CP;
		}
		d->ctrl_off = off;
		off = align_up(off + sizeof(struct ring_ctrl), 4096);
		d->data_off = off;
		off = align_up(off + d->capacity, 4096);
	}
	total = off;
	h.total_size = total;

	s = calloc(1, sizeof(*s));
	if (!s)
		goto out_descs;
	s->fd = memfd_create("streampoint-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (s->fd < 0)
		goto out_seg;
	if (ftruncate(s->fd, (off_t)total) < 0)
		goto out_fd;
	if (fcntl(s->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto out_fd;
	s->base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
	if (s->base == MAP_FAILED)
		goto out_fd;
	s->size = total;
	s->owner = true;

	memcpy(s->base, &h, sizeof(h));
	memcpy(s->base + h.rings_off, descs, nrings * sizeof(*descs));
	char *names = (char *)s->base + h.names_off;
	for (uint32_t i = 0; i < STAT__COUNT; i++)
		snprintf(names + i * STATS_NAME_LEN, STATS_NAME_LEN, "%s", stats_counter_names[i]);
	for (uint32_t i = 0; i < DROP__COUNT; i++)
		snprintf(names + (STAT__COUNT + i) * STATS_NAME_LEN, STATS_NAME_LEN, "%s",
			 stats_drop_names[i]);
	for (uint32_t i = 0; i < nrings; i++)
		ring_ctrl_init((struct ring_ctrl *)(s->base + descs[i].ctrl_off));
	free(descs);
	return s;

out_fd:
	{
		int e = errno;
		close(s->fd);
		errno = e;
	}
out_seg:
	free(s);
out_descs:
	free(descs);
	return NULL;
}

#define FAIL(...)                                   \
	do {                                        \
		snprintf(err, errlen, __VA_ARGS__); \
		goto out_unmap;                     \
	} while (0)

static bool span_ok(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

shm_seg *shm_map(int fd, bool writable, char *err, size_t errlen)
{
	struct stat st;
	struct shm_header h;
	shm_seg *s;

	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "fstat: %s", strerror(errno));
		return NULL;
	}
	/* Without the size seals a peer could shrink the file under our
	 * mapping and turn reads into SIGBUS. */
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW)) {
		snprintf(err, errlen, "segment is not sealed against resizing");
		return NULL;
	}
	if ((uint64_t)st.st_size < sizeof(h)) {
		snprintf(err, errlen, "segment too small (%lld bytes)", (long long)st.st_size);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->fd = fd;
	s->size = (uint64_t)st.st_size;
	s->base = mmap(NULL, s->size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
	if (s->base == MAP_FAILED) {
		snprintf(err, errlen, "mmap: %s", strerror(errno));
		free(s);
		return NULL;
	}
	memcpy(&h, s->base, sizeof(h));
	if (h.magic != SHM_MAGIC)
		FAIL("bad magic %#llx", (unsigned long long)h.magic);
	if (h.layout_version != SHM_LAYOUT_VERSION)
		FAIL("layout version %u, this build speaks %u", h.layout_version, SHM_LAYOUT_VERSION);
	if (h.header_size != sizeof(h) || h.total_size > s->size)
		FAIL("header size %u / total %llu do not match the segment (%llu bytes)",
		     h.header_size, (unsigned long long)h.total_size, (unsigned long long)s->size);
	if (h.n_workers == 0 || h.n_workers > SHM_MAX_WORKERS || h.n_rings != 2 + 4 * h.n_workers ||
	    h.n_doorbells != 2 + h.n_workers)
		FAIL("impossible worker/ring counts (%u workers, %u rings)", h.n_workers, h.n_rings);
	if (h.n_counters > STATS_MAX_COUNTERS || h.n_drops > STATS_MAX_DROPS ||
	    h.stats_block_size != sizeof(struct stats_block))
		FAIL("impossible stats layout");
	if (!span_ok(h.procinfo_off, sizeof(struct shm_procinfo), h.total_size) ||
	    !span_ok(h.rings_off, (uint64_t)h.n_rings * sizeof(struct ring_desc), h.total_size) ||
	    !span_ok(h.names_off, (uint64_t)(h.n_counters + h.n_drops) * STATS_NAME_LEN, h.total_size) ||
	    !span_ok(h.stats_off, (uint64_t)(h.n_workers + 1) * sizeof(struct stats_block), h.total_size) ||
	    !span_ok(h.flow_stats_off, (uint64_t)h.n_workers * h.max_flows * sizeof(struct flow_stat),
		     h.total_size) ||
	    !span_ok(h.sub_stats_off, (uint64_t)h.n_workers * h.max_subs * sizeof(struct sub_stat),
		     h.total_size) ||
	    h.max_flows > (1u << 24) || h.max_subs > (1u << 26) ||
	    (h.procinfo_off | h.rings_off | h.stats_off | h.flow_stats_off | h.sub_stats_off) % 64)
		FAIL("area offsets outside the segment or misaligned");
	for (uint32_t i = 0; i < h.n_rings; i++) {
		struct ring_desc d;
		memcpy(&d, s->base + h.rings_off + i * sizeof(d), sizeof(d));
		if (!pow2_in_range(d.capacity) || d.ctrl_off % 64 || d.data_off % RING_ALIGN ||
		    !span_ok(d.ctrl_off, sizeof(struct ring_ctrl), h.total_size) ||
		    !span_ok(d.data_off, d.capacity, h.total_size) || d.doorbell >= h.n_doorbells ||
		    d.kind < RING_KIND_MAIN_CMD || d.kind > RING_KIND_EXC_DOWN ||
		    (i >= 2 && d.worker >= h.n_workers))
			FAIL("ring %u descriptor invalid", i);
	}
	/* s->size stays the mapped length (st_size), which shm_unmap() needs. */
	return s;

out_unmap:
	munmap(s->base, (size_t)st.st_size);
	free(s);
	return NULL;
}

void shm_unmap(shm_seg *s)
{
	if (!s)
		return;
	munmap(s->base, s->size);
	if (s->owner)
		close(s->fd);
	free(s);
}

int shm_fd(const shm_seg *s) { return s->fd; }

const struct shm_header *shm_header(const shm_seg *s)
{
	return (const struct shm_header *)s->base;
}

struct shm_procinfo *shm_procinfo(const shm_seg *s)
{
	return (struct shm_procinfo *)(s->base + shm_header(s)->procinfo_off);
}

const struct ring_desc *shm_ring_desc(const shm_seg *s, uint32_t idx)
{
	const struct shm_header *h = shm_header(s);
	if (idx >= h->n_rings)
		return NULL;
	return (const struct ring_desc *)(s->base + h->rings_off) + idx;
}

struct ring_ctrl *shm_ring_ctrl(const shm_seg *s, uint32_t idx)
{
	const struct ring_desc *d = shm_ring_desc(s, idx);
	return d ? (struct ring_ctrl *)(s->base + d->ctrl_off) : NULL;
}

void *shm_ring_data(const shm_seg *s, uint32_t idx)
{
	const struct ring_desc *d = shm_ring_desc(s, idx);
	return d ? s->base + d->data_off : NULL;
}

struct stats_block *shm_stats(const shm_seg *s, uint32_t block)
{
	const struct shm_header *h = shm_header(s);
	if (block > h->n_workers)
		return NULL;
	return (struct stats_block *)(s->base + h->stats_off) + block;
}

struct flow_stat *shm_flow_stats(const shm_seg *s, uint32_t worker)
{
	const struct shm_header *h = shm_header(s);
	if (worker >= h->n_workers || !h->max_flows)
		return NULL;
	return (struct flow_stat *)(s->base + h->flow_stats_off) + (uint64_t)worker * h->max_flows;
}

struct sub_stat *shm_sub_stats(const shm_seg *s, uint32_t worker)
{
	const struct shm_header *h = shm_header(s);
	if (worker >= h->n_workers || !h->max_subs)
		return NULL;
	return (struct sub_stat *)(s->base + h->sub_stats_off) + (uint64_t)worker * h->max_subs;
}

const char *shm_stat_name(const shm_seg *s, uint32_t i)
{
	const struct shm_header *h = shm_header(s);
	static _Thread_local char name[STATS_NAME_LEN];

	if (i >= h->n_counters + h->n_drops)
		return "";
	memcpy(name, s->base + h->names_off + (uint64_t)i * STATS_NAME_LEN, STATS_NAME_LEN);
	name[STATS_NAME_LEN - 1] = '\0';
	return name;
}
