/*
 * test_shm: the spcp/spdp shared segment (common/shm.h).
 *
 * shm_create() is checked against the layout shm-t.h documents for several
 * worker counts. shm_map() is the reader's gate: a real segment maps; then
 * a table of damaged copies (each a second memfd holding the segment's
 * bytes with one header or ring-descriptor field broken) must each be
 * refused with a message saying what is wrong. Finally the memfd's
 * protections: a descriptor reopened read-only cannot be mapped writable,
 * and the size seals stop any resize.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ring.h"
#include "shm.h"

static struct shm_params params(uint32_t workers)
{
	return (struct shm_params){
		.workers = workers,
		.main_ring_bytes = 8192,
		.cmd_ring_bytes = 4096,
		.evt_ring_bytes = 16384,
		.exc_ring_bytes = 65536,
		.instance = "test",
		.max_flows = 16,
		.max_subs = 40,
	};
}

static uint64_t fd_size(int fd)
{
	struct stat st;
	cr_assert_eq(fstat(fd, &st), 0);
	return (uint64_t)st.st_size;
}

static void check_layout(shm_seg *s, const struct shm_params *p)
{
	const struct shm_header *h = shm_header(s);
	uint32_t nw = p->workers;

	cr_assert_eq(h->magic, SHM_MAGIC);
	cr_assert_eq(h->layout_version, SHM_LAYOUT_VERSION);
	cr_assert_eq(h->header_size, sizeof(*h));
	cr_assert_eq(h->total_size, fd_size(shm_fd(s)));
	cr_assert_eq(h->n_workers, nw);
	cr_assert_eq(h->n_rings, 2 + 4 * nw);
	cr_assert_eq(h->n_doorbells, 2 + nw);
	cr_assert_eq(h->n_counters, STAT__COUNT);
	cr_assert_eq(h->n_drops, DROP__COUNT);
	cr_assert_eq(h->stats_block_size, sizeof(struct stats_block));
	cr_assert_eq(h->procinfo_off % 64, 0);
	cr_assert_eq(h->rings_off % 64, 0);
	cr_assert_eq(h->stats_off % 64, 0);

	/* Areas in the documented order, none overlapping. */
	cr_assert_geq(h->procinfo_off, sizeof(*h));
	cr_assert_geq(h->rings_off, h->procinfo_off + sizeof(struct shm_procinfo));
	cr_assert_geq(h->names_off, h->rings_off + h->n_rings * sizeof(struct ring_desc));
	cr_assert_geq(h->stats_off, h->names_off + (h->n_counters + h->n_drops) * STATS_NAME_LEN);
	uint64_t end = h->stats_off + (nw + 1) * sizeof(struct stats_block);
	cr_assert_eq(h->max_flows, p->max_flows);
	cr_assert_eq(h->max_subs, p->max_subs);
	cr_assert_eq(h->flow_stats_off % 64, 0);
	cr_assert_eq(h->sub_stats_off % 64, 0);
	cr_assert_geq(h->flow_stats_off, end);
	end = h->flow_stats_off + (uint64_t)nw * p->max_flows * sizeof(struct flow_stat);
	cr_assert_geq(h->sub_stats_off, end);
	end = h->sub_stats_off + (uint64_t)nw * p->max_subs * sizeof(struct sub_stat);
	for (uint32_t w = 0; w < nw; w++) {
		struct flow_stat *fs = shm_flow_stats(s, w);
		struct sub_stat *ss = shm_sub_stats(s, w);
		cr_assert_eq(fs == NULL, p->max_flows == 0, "worker %u", w);
		cr_assert_eq(ss == NULL, p->max_subs == 0, "worker %u", w);
		if (fs)
			cr_assert_eq((uint8_t *)fs, (const uint8_t *)h + h->flow_stats_off +
							   (uint64_t)w * p->max_flows * sizeof(*fs));
		if (ss)
			cr_assert_eq(atomic_load(&ss[p->max_subs - 1].active), 0);
	}
	cr_assert_null(shm_flow_stats(s, nw));
	cr_assert_null(shm_sub_stats(s, nw));

	for (uint32_t i = 0; i < h->n_rings; i++) {
		const struct ring_desc *d = shm_ring_desc(s, i);
		uint32_t kind = i == 0 ? RING_KIND_MAIN_CMD : i == 1 ? RING_KIND_MAIN_EVT : 3 + (i - 2) % 4;
		uint32_t w = i < 2 ? UINT32_MAX : (i - 2) / 4;
		uint64_t cap = i < 2 ? p->main_ring_bytes :
			       kind == RING_KIND_CMD ? p->cmd_ring_bytes :
			       kind == RING_KIND_EVT ? p->evt_ring_bytes : p->exc_ring_bytes;
		uint32_t bell = (RING_KIND_BIT(kind) & RING_KINDS_TO_DP) ?
					(i == 0 ? SHM_DOORBELL_MAIN : SHM_DOORBELL_WORKER(w)) :
					SHM_DOORBELL_CP;

		cr_assert_not_null(d);
		cr_assert_eq(d->kind, kind, "ring %u", i);
		cr_assert_eq(d->worker, w, "ring %u", i);
		cr_assert_eq(d->capacity, cap, "ring %u", i);
		cr_assert_eq(d->doorbell, bell, "ring %u", i);
		cr_assert_lt(d->doorbell, h->n_doorbells);
		if (i >= 2)
			cr_assert_eq(shm_ring_index((enum ring_kind)kind, w), i);
		cr_assert_eq(d->ctrl_off % 64, 0);
		cr_assert_eq(d->data_off % 4096, 0, "data page aligned");
		cr_assert_geq(d->ctrl_off, end, "ring %u overlaps what precedes it", i);
		cr_assert_geq(d->data_off, d->ctrl_off + sizeof(struct ring_ctrl));
		end = d->data_off + d->capacity;
		cr_assert_leq(end, h->total_size);
		cr_assert_eq((uint8_t *)shm_ring_ctrl(s, i), (const uint8_t *)h + d->ctrl_off);
		cr_assert_eq((uint8_t *)shm_ring_data(s, i), (const uint8_t *)h + d->data_off);
		struct ring_stats st;
		ring_ctrl_stats(shm_ring_ctrl(s, i), d->capacity, &st);
		cr_assert_eq(st.enq_msgs + st.used_bytes + st.drops_full, 0, "fresh ring %u", i);
	}
	cr_assert_null(shm_ring_desc(s, h->n_rings));
	cr_assert_null(shm_ring_ctrl(s, h->n_rings));
	cr_assert_null(shm_ring_data(s, UINT32_MAX));

	for (uint32_t b = 0; b <= nw; b++) {
		struct stats_block *sb = shm_stats(s, b);
		cr_assert_not_null(sb);
		cr_assert_eq((uintptr_t)sb % 64, 0);
		cr_assert_eq(stats_read(&sb->counters[0]), 0);
	}
	cr_assert_null(shm_stats(s, nw + 1));
	for (uint32_t i = 0; i < STAT__COUNT; i++)
		cr_assert_str_eq(shm_stat_name(s, i), stats_counter_names[i]);
	for (uint32_t i = 0; i < DROP__COUNT; i++)
		cr_assert_str_eq(shm_stat_name(s, STAT__COUNT + i), stats_drop_names[i]);
	cr_assert_str_eq(shm_stat_name(s, STAT__COUNT + DROP__COUNT), "");
	cr_assert_eq(atomic_load(&shm_procinfo(s)->cp_pid), 0);
}

Test(shm, create_worker_counts)
{
	const uint32_t counts[] = { 1, 2, 3, 8, SHM_MAX_WORKERS };
	for (size_t i = 0; i < 2 * sizeof(counts) / sizeof(counts[0]); i++) {
		struct shm_params p = params(counts[i / 2]);
		if (i % 2) /* and without per-flow counters */
			p.max_flows = p.max_subs = 0;
		shm_seg *s = shm_create(&p);
		cr_assert_not_null(s, "%u workers: %s", counts[i / 2], strerror(errno));
		check_layout(s, &p);
		cr_assert_str_eq(shm_header(s)->instance, "test");
		shm_unmap(s);
	}
}

Test(shm, create_rejects_bad_params)
{
	struct shm_params p;
	const struct {
		uint32_t workers;
		uint64_t bytes;
	} bad[] = {
		{ 0, 4096 }, { SHM_MAX_WORKERS + 1, 4096 }, { 1, 0 }, { 1, 2048 },
		{ 1, 3 * 4096 }, { 1, (uint64_t)RING_MAX_CAPACITY * 2 }, { 1, 4097 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (int field = 0; field < 4; field++) {
			p = params(bad[i].workers);
			uint64_t *f[4] = { &p.main_ring_bytes, &p.cmd_ring_bytes, &p.evt_ring_bytes,
					   &p.exc_ring_bytes };
			*f[field] = bad[i].bytes;
			errno = 0;
			cr_expect_null(shm_create(&p), "case %zu field %d", i, field);
			cr_expect_eq(errno, EINVAL, "case %zu field %d", i, field);
		}
	}
	p = params(1);
	p.max_flows = (1u << 24) + 1;
	cr_expect_null(shm_create(&p));
	p = params(1);
	p.max_subs = (1u << 26) + 1;
	cr_expect_null(shm_create(&p));

	/* Instance names are cut to the header field, always terminated. */
	p = params(1);
	p.instance = "an-instance-name-much-longer-than-thirty-two-bytes";
	shm_seg *s = shm_create(&p);
	cr_assert_not_null(s);
	cr_assert_eq(strlen(shm_header(s)->instance), SHM_INSTANCE_LEN - 1);
	shm_unmap(s);
	p.instance = NULL;
	s = shm_create(&p);
	cr_assert_str_eq(shm_header(s)->instance, "default");
	shm_unmap(s);
}

Test(shm, map_real_segment)
{
	struct shm_params p = params(2);
	shm_seg *s = shm_create(&p);
	char err[256] = "";
	cr_assert_not_null(s);

	shm_seg *m = shm_map(shm_fd(s), true, err, sizeof(err));
	cr_assert_not_null(m, "%s", err);
	cr_assert_neq(shm_header(m), shm_header(s), "a second mapping");
	check_layout(m, &p);

	/* The two mappings share memory: a ring produced on one is consumed
	 * on the other. */
	uint32_t idx = shm_ring_index(RING_KIND_EXC_UP, 1);
	uint64_t cap = shm_ring_desc(s, idx)->capacity;
	ring *prod = ring_open(shm_ring_ctrl(s, idx), shm_ring_data(s, idx), cap, -1, RING_PRODUCER);
	ring *cons = ring_open(shm_ring_ctrl(m, idx), shm_ring_data(m, idx), cap, -1, RING_CONSUMER);
	struct ring_msg msg;
	cr_assert_eq(ring_enqueue(prod, 7, 1, "hello", 5), 0);
	cr_assert_eq(ring_dequeue_burst(cons, &msg, 1), 1);
	cr_assert_eq(memcmp(msg.payload, "hello", 5), 0);
	ring_release(cons);
	ring_close(prod);
	ring_close(cons);
	atomic_store(&shm_procinfo(m)->cp_pid, 1234);
	cr_assert_eq(atomic_load(&shm_procinfo(s)->cp_pid), 1234);

	/* shm_unmap of a mapping does not close the descriptor it was given. */
	shm_unmap(m);
	cr_assert_neq(fcntl(shm_fd(s), F_GETFD), -1);
	shm_unmap(s);
	shm_unmap(NULL);
}

/* ---- damaged copies */

struct damage {
	const char *name;
	void (*edit)(struct shm_header *h, uint8_t *base);
	const char *expect; /* substring of the error */
};

static struct ring_desc *desc(struct shm_header *h, uint8_t *base, uint32_t i)
{
	return (struct ring_desc *)(base + h->rings_off) + i;
}

#define EDIT(fn, body)                                             \
	static void fn(struct shm_header *h, uint8_t *base)            \
	{                                                              \
		(void)base;                                                \
		body;                                                      \
	}

EDIT(d_magic, h->magic ^= 1)
EDIT(d_magic_zero, h->magic = 0)
EDIT(d_layout, h->layout_version = SHM_LAYOUT_VERSION + 1)
EDIT(d_layout_zero, h->layout_version = 0)
EDIT(d_header_size, h->header_size = sizeof(*h) + 8)
EDIT(d_total_big, h->total_size += 4096)
EDIT(d_total_huge, h->total_size = UINT64_MAX)
EDIT(d_workers_zero, h->n_workers = 0)
EDIT(d_workers_many, h->n_workers = SHM_MAX_WORKERS + 1; h->n_rings = 2 + 4 * h->n_workers;
     h->n_doorbells = 2 + h->n_workers)
EDIT(d_rings_more, h->n_rings++)
EDIT(d_rings_less, h->n_rings--)
EDIT(d_rings_huge, h->n_rings = UINT32_MAX)
EDIT(d_doorbells, h->n_doorbells++)
EDIT(d_counters, h->n_counters = STATS_MAX_COUNTERS + 1)
EDIT(d_drops, h->n_drops = STATS_MAX_DROPS + 1)
EDIT(d_block_size, h->stats_block_size = 64)
EDIT(d_procinfo_out, h->procinfo_off = h->total_size)
EDIT(d_procinfo_wrap, h->procinfo_off = UINT64_MAX - 63)
EDIT(d_procinfo_misaligned, h->procinfo_off += 8)
EDIT(d_rings_out, h->rings_off = h->total_size - 64)
EDIT(d_rings_misaligned, h->rings_off += 8)
EDIT(d_names_out, h->names_off = h->total_size - 32)
EDIT(d_names_wrap, h->names_off = UINT64_MAX)
EDIT(d_stats_out, h->stats_off = h->total_size - 64)
EDIT(d_stats_misaligned, h->stats_off += 32)
EDIT(d_flows_huge, h->max_flows = (1u << 24) + 1)
EDIT(d_subs_huge, h->max_subs = UINT32_MAX)
EDIT(d_flow_stats_out, h->flow_stats_off = h->total_size - 64)
EDIT(d_flow_stats_misaligned, h->flow_stats_off += 8)
EDIT(d_sub_stats_out, h->sub_stats_off = UINT64_MAX - 63)
EDIT(d_sub_stats_misaligned, h->sub_stats_off += 16)
EDIT(d_cap_not_pow2, desc(h, base, 0)->capacity = 12288)
EDIT(d_cap_small, desc(h, base, 1)->capacity = RING_MIN_CAPACITY / 2)
EDIT(d_cap_huge, desc(h, base, 2)->capacity = (uint64_t)RING_MAX_CAPACITY * 2)
EDIT(d_cap_zero, desc(h, base, 3)->capacity = 0)
EDIT(d_cap_past_end, desc(h, base, h->n_rings - 1)->capacity *= 2)
EDIT(d_ctrl_misaligned, desc(h, base, 4)->ctrl_off += 8)
EDIT(d_ctrl_out, desc(h, base, 4)->ctrl_off = h->total_size)
EDIT(d_ctrl_wrap, desc(h, base, 4)->ctrl_off = UINT64_MAX - 63)
EDIT(d_data_misaligned, desc(h, base, 5)->data_off += 4)
EDIT(d_data_out, desc(h, base, h->n_rings - 1)->data_off += 4096)
EDIT(d_data_wrap, desc(h, base, 5)->data_off = UINT64_MAX - 4095)
EDIT(d_doorbell, desc(h, base, 6)->doorbell = h->n_doorbells)
EDIT(d_kind_zero, desc(h, base, 0)->kind = 0)
EDIT(d_kind_big, desc(h, base, 7)->kind = RING_KIND_EXC_DOWN + 1)
EDIT(d_worker, desc(h, base, 2)->worker = h->n_workers)

#define BAD_COUNTS "impossible worker/ring counts"
#define BAD_AREA "area offsets outside the segment or misaligned"
static const struct damage damages[] = {
	{ "magic", d_magic, "bad magic 0x31304d4853505350" },
	{ "magic 0", d_magic_zero, "bad magic 0" },
	{ "layout version", d_layout, "this build speaks" }, /* exact text checked below */
	{ "layout version 0", d_layout_zero, "layout version 0, this build speaks" },
	{ "header size", d_header_size, "do not match the segment" },
	{ "total size > file", d_total_big, "do not match the segment" },
	{ "total size huge", d_total_huge, "do not match the segment" },
	{ "no workers", d_workers_zero, BAD_COUNTS },
	{ "too many workers", d_workers_many, BAD_COUNTS },
	{ "n_rings + 1", d_rings_more, BAD_COUNTS },
	{ "n_rings - 1", d_rings_less, BAD_COUNTS },
	{ "n_rings huge", d_rings_huge, BAD_COUNTS },
	{ "n_doorbells", d_doorbells, BAD_COUNTS },
	{ "n_counters", d_counters, "impossible stats layout" },
	{ "n_drops", d_drops, "impossible stats layout" },
	{ "stats block size", d_block_size, "impossible stats layout" },
	{ "procinfo outside", d_procinfo_out, BAD_AREA },
	{ "procinfo wraps", d_procinfo_wrap, BAD_AREA },
	{ "procinfo misaligned", d_procinfo_misaligned, BAD_AREA },
	{ "ring table outside", d_rings_out, BAD_AREA },
	{ "ring table misaligned", d_rings_misaligned, BAD_AREA },
	{ "names outside", d_names_out, BAD_AREA },
	{ "names wrap", d_names_wrap, BAD_AREA },
	{ "stats outside", d_stats_out, BAD_AREA },
	{ "stats misaligned", d_stats_misaligned, BAD_AREA },
	{ "max_flows huge", d_flows_huge, BAD_AREA },
	{ "max_subs huge", d_subs_huge, BAD_AREA },
	{ "flow stats outside", d_flow_stats_out, BAD_AREA },
	{ "flow stats misaligned", d_flow_stats_misaligned, BAD_AREA },
	{ "sub stats wrap", d_sub_stats_out, BAD_AREA },
	{ "sub stats misaligned", d_sub_stats_misaligned, BAD_AREA },
	{ "capacity not power of two", d_cap_not_pow2, "ring 0 descriptor invalid" },
	{ "capacity below minimum", d_cap_small, "ring 1 descriptor invalid" },
	{ "capacity above maximum", d_cap_huge, "ring 2 descriptor invalid" },
	{ "capacity 0", d_cap_zero, "ring 3 descriptor invalid" },
	{ "capacity past the end", d_cap_past_end, "ring 9 descriptor invalid" },
	{ "ctrl misaligned", d_ctrl_misaligned, "ring 4 descriptor invalid" },
	{ "ctrl outside", d_ctrl_out, "ring 4 descriptor invalid" },
	{ "ctrl wraps", d_ctrl_wrap, "ring 4 descriptor invalid" },
	{ "data misaligned", d_data_misaligned, "ring 5 descriptor invalid" },
	{ "data past the end", d_data_out, "ring 9 descriptor invalid" },
	{ "data wraps", d_data_wrap, "ring 5 descriptor invalid" },
	{ "doorbell index", d_doorbell, "ring 6 descriptor invalid" },
	{ "kind 0", d_kind_zero, "ring 0 descriptor invalid" },
	{ "kind past last", d_kind_big, "ring 7 descriptor invalid" },
	{ "worker index", d_worker, "ring 2 descriptor invalid" },
};

/* A new memfd holding `size` bytes of `src`, after `edit` (may be NULL). */
static int damaged_copy(const void *src, uint64_t size, uint64_t file_size,
			void (*edit)(struct shm_header *, uint8_t *))
{
	int fd = memfd_create("test-shm-copy", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)file_size), 0);
	if (file_size) {
		uint8_t *p = mmap(NULL, file_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		cr_assert_neq(p, MAP_FAILED);
		memcpy(p, src, size < file_size ? size : file_size);
		if (edit)
			edit((struct shm_header *)p, p);
		munmap(p, file_size);
	}
	/* Sealed like spdp's own: shm_map refuses anything else. */
	cr_assert_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
	return fd;
}

Test(shm, map_refuses_unsealed_segment)
{
	struct shm_params p = params(1);
	shm_seg *s = shm_create(&p);
	cr_assert_not_null(s);
	uint64_t size = shm_header(s)->total_size;
	int fd = memfd_create("test-shm-unsealed", MFD_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)size), 0);
	uint8_t *q = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	cr_assert_neq(q, MAP_FAILED);
	memcpy(q, shm_header(s), size);
	munmap(q, size);
	char err[256] = "";
	cr_assert_null(shm_map(fd, false, err, sizeof(err)));
	cr_assert_str_eq(err, "segment is not sealed against resizing");
	close(fd);
	shm_unmap(s);
}

Test(shm, map_refuses_damaged_header)
{
	struct shm_params p = params(2); /* 10 rings */
	shm_seg *s = shm_create(&p);
	cr_assert_not_null(s);
	const void *base = shm_header(s);
	uint64_t size = shm_header(s)->total_size;
	char err[256];

	/* Control: an undamaged copy maps. */
	int fd = damaged_copy(base, size, size, NULL);
	shm_seg *m = shm_map(fd, false, err, sizeof(err));
	cr_assert_not_null(m, "%s", err);
	shm_unmap(m);
	close(fd);

	for (size_t i = 0; i < sizeof(damages) / sizeof(damages[0]); i++) {
		const struct damage *d = &damages[i];
		fd = damaged_copy(base, size, size, d->edit);
		strcpy(err, "");
		m = shm_map(fd, true, err, sizeof(err));
		cr_expect_null(m, "%s: mapped anyway", d->name);
		cr_expect_not_null(strstr(err, d->expect), "%s: error '%s', want '%s'", d->name, err,
				   d->expect);
		if (m)
			shm_unmap(m);
		close(fd);
	}

	/* The version message names both versions. */
	char want_ver[96];
	fd = damaged_copy(base, size, size, d_layout);
	cr_expect_null(shm_map(fd, false, err, sizeof(err)));
	snprintf(want_ver, sizeof(want_ver), "layout version %u, this build speaks %u",
		 SHM_LAYOUT_VERSION + 1, SHM_LAYOUT_VERSION);
	cr_expect_str_eq(err, want_ver);
	close(fd);

	/* Files too small to hold a header. */
	const uint64_t small[] = { 0, 1, sizeof(struct shm_header) - 1 };
	for (size_t i = 0; i < 3; i++) {
		char want[64];
		fd = damaged_copy(base, size, small[i], NULL);
		cr_expect_null(shm_map(fd, false, err, sizeof(err)));
		snprintf(want, sizeof(want), "segment too small (%llu bytes)", (unsigned long long)small[i]);
		cr_expect_str_eq(err, want);
		close(fd);
	}
	/* A file cut short of total_size (header intact). */
	fd = damaged_copy(base, size, size - 4096, NULL);
	cr_expect_null(shm_map(fd, false, err, sizeof(err)));
	cr_expect_not_null(strstr(err, "do not match the segment"), "%s", err);
	close(fd);
	/* Not a descriptor at all. */
	cr_expect_null(shm_map(-1, false, err, sizeof(err)));
	cr_expect_not_null(strstr(err, "fstat"), "%s", err);
	shm_unmap(s);
}

static bool maps_contain(const char *needle)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	bool found = false;
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			found = true;
	fclose(f);
	return found;
}

/* A file larger than total_size maps (the extra is unused) and unmaps whole. */
Test(shm, map_larger_file_unmaps_everything)
{
	struct shm_params p = params(1);
	shm_seg *s = shm_create(&p);
	uint64_t size = shm_header(s)->total_size;
	char err[256];
	int fd = damaged_copy(shm_header(s), size, size + 8 * 4096, NULL);

	cr_assert(!maps_contain("test-shm-copy"));
	shm_seg *m = shm_map(fd, false, err, sizeof(err));
	cr_assert_not_null(m, "%s", err);
	cr_assert(maps_contain("test-shm-copy"));
	shm_unmap(m);
	cr_assert(!maps_contain("test-shm-copy"), "part of the mapping left behind");
	close(fd);
	shm_unmap(s);
}

/* ---- protections */

Test(shm, read_only_descriptor_cannot_map_writable)
{
	struct shm_params p = params(1);
	shm_seg *s = shm_create(&p);
	uint64_t size = shm_header(s)->total_size;
	char path[64], err[256];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", shm_fd(s));
	int ro = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(ro, 0, "%s: %s", path, strerror(errno));

	errno = 0;
	cr_assert_eq(mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0), MAP_FAILED);
	cr_assert_eq(errno, EACCES);

	cr_assert_null(shm_map(ro, true, err, sizeof(err)));
	char want[128];
	snprintf(want, sizeof(want), "mmap: %s", strerror(EACCES));
	cr_assert_str_eq(err, want);

	/* spctl's way in: read-only, and it stays read-only. */
	shm_seg *m = shm_map(ro, false, err, sizeof(err));
	cr_assert_not_null(m, "%s", err);
	cr_assert_eq(shm_header(m)->magic, SHM_MAGIC);
	errno = 0;
	cr_assert_eq(mprotect((void *)shm_header(m), 4096, PROT_READ | PROT_WRITE), -1);
	cr_assert_eq(errno, EACCES);
	shm_unmap(m);
	close(ro);
	shm_unmap(s);
}

Test(shm, seals_prevent_resize)
{
	struct shm_params p = params(1);
	shm_seg *s = shm_create(&p);
	int fd = shm_fd(s);
	uint64_t size = shm_header(s)->total_size;

	int seals = fcntl(fd, F_GET_SEALS);
	cr_assert_geq(seals, 0);
	cr_assert_eq(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
		     F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	errno = 0;
	cr_assert_eq(ftruncate(fd, (off_t)(size - 4096)), -1);
	cr_assert_eq(errno, EPERM);
	cr_assert_eq(ftruncate(fd, 0), -1);
	cr_assert_eq(ftruncate(fd, (off_t)(size + 4096)), -1);
	cr_assert_eq(errno, EPERM);
	/* Writing past the end would grow it too. */
	errno = 0;
	cr_assert_eq(pwrite(fd, "x", 1, (off_t)size), -1);
	cr_assert_eq(errno, EPERM);
	/* And the seals themselves are sealed. */
	cr_assert_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	cr_assert_eq(errno, EPERM);
	cr_assert_eq(fd_size(fd), size);
	/* Close-on-exec: the descriptor only leaves by SCM_RIGHTS. */
	cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	shm_unmap(s);
}
