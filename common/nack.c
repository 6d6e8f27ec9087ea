/*
 * nack: generic NACK expansion and the per-flow packet history (nack.h).
 *
 * The history is a power-of-two array of slots indexed by extended
 * sequence number (32 bits: the 16-bit RTP number plus a wrap count kept
 * here) modulo the capacity. Because the capacity divides 65536, the slot
 * of a packet does not change at the 16-bit wrap, and within the window
 * every slot belongs to exactly one sequence number. Each put touches one
 * slot (plus at most NACK_HIST_AU_BACK reads for a keyframe start), so the
 * cost per packet is bounded whatever the sender does.
 */
#include "nack.h"

#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>

size_t nack_expand(const uint8_t *fci, size_t fci_len, uint16_t *seqs, size_t max)
{
	size_t n = 0;

	for (size_t off = 0; fci_len - off >= 4; off += 4) {
		uint16_t pid = (uint16_t)(fci[off] << 8 | fci[off + 1]);
		uint16_t blp = (uint16_t)(fci[off + 2] << 8 | fci[off + 3]);

		if (n == max)
			return n;
		seqs[n++] = pid;
		for (unsigned b = 0; b < 16; b++) {
			if (!(blp & (1u << b)))
				continue;
			if (n == max)
				return n;
			seqs[n++] = (uint16_t)(pid + b + 1);
		}
	}
	return n;
}

struct slot {
	uint32_t ext;     /* extended sequence number */
	uint32_t buf_id;
	uint32_t ts;
	uint16_t len;
	uint8_t kf;
	uint8_t used;
};

struct nack_hist {
	uint32_t cap;
	uint32_t mask;
	uint32_t count;
	uint32_t head;      /* extended number of the newest packet */
	uint32_t key_idr;   /* extended number of the latest keyframe start packet */
	uint32_t key_au;    /* ... and of the first packet of its access unit */
	uint32_t pop_pos;
	uint16_t probe_seq; /* a restart is taken when this one arrives next */
	bool has_head;
	bool has_key;
	bool probing;
	bool owned;         /* allocated by nack_hist_create() */
	struct slot slots[];
};

size_t nack_hist_memsize(uint32_t capacity)
{
	if (capacity < 2 || capacity > NACK_HIST_MAX || (capacity & (capacity - 1)))
		return 0;
	return sizeof(struct nack_hist) + (size_t)capacity * sizeof(struct slot);
}

nack_hist *nack_hist_init(void *mem, size_t size, uint32_t capacity)
{
	size_t need = nack_hist_memsize(capacity);
	nack_hist *h = mem;

	if (!mem || need == 0 || size < need || (uintptr_t)mem % alignof(struct nack_hist))
		return NULL;
	*h = (struct nack_hist){ .cap = capacity, .mask = capacity - 1 };
	for (uint32_t i = 0; i < capacity; i++)
		h->slots[i] = (struct slot){ 0 };
	return h;
}

nack_hist *nack_hist_create(uint32_t capacity)
{
	size_t need = nack_hist_memsize(capacity);
	nack_hist *h;
	void *mem;

	if (need == 0)
		return NULL;
	mem = malloc(need);
	if (!mem)
		return NULL;
	h = nack_hist_init(mem, need, capacity);
	if (!h) {
		free(mem);
		return NULL;
	}
	h->owned = true;
	return h;
}

void nack_hist_destroy(nack_hist *h)
{
	if (h && h->owned)
		free(h);
}

static inline bool in_window(const nack_hist *h, uint32_t ext)
{
	return h->has_head && h->head - ext < h->cap;
}

/* The slot holding extended number `ext`, or NULL. */
static const struct slot *find(const nack_hist *h, uint32_t ext)
{
	const struct slot *s = &h->slots[ext & h->mask];

	if (!in_window(h, ext) || !s->used || s->ext != ext)
		return NULL;
	return s;
}

/* First packet of the access unit whose keyframe start is at `ext`. */
static uint32_t au_start(const nack_hist *h, uint32_t ext, uint32_t ts)
{
	uint32_t start = ext;

	for (uint32_t i = 1; i <= NACK_HIST_AU_BACK; i++) {
		const struct slot *s = find(h, ext - i);

		if (!s || (s->ts != ts && s->kf != KEYFRAME_PARAMS))
			break;
		start = ext - i;
	}
	return start;
}

int nack_hist_put(nack_hist *h, const struct nack_hist_pkt *p, uint32_t *evicted)
{
	uint16_t head16 = (uint16_t)h->head;
	uint16_t ahead = (uint16_t)(p->seq - head16);
	uint32_t ext;
	struct slot *s;
	int ret = 0;

	if (!h->has_head) {
		ext = p->seq;
	} else if (ahead != 0 && ahead < 0x8000) {
		ext = h->head + ahead;
	} else if ((uint16_t)(head16 - p->seq) < h->cap) {
		ext = h->head - (uint16_t)(head16 - p->seq);
	} else if (h->probing && p->seq == h->probe_seq) {
		/* Restart: jump far enough that every old entry is out of window. */
		uint32_t base = h->head + h->cap;

		ext = base + (uint16_t)(p->seq - (uint16_t)base);
	} else {
		h->probing = true;
		h->probe_seq = (uint16_t)(p->seq + 1);
		return -ERANGE;
	}
	h->probing = false;

	s = &h->slots[ext & h->mask];
	if (h->has_head && s->used && s->ext == ext)
		return -EEXIST;
	if (s->used) {
		*evicted = s->buf_id;
		h->count--;
		ret = 1;
	}
	*s = (struct slot){ .ext = ext, .buf_id = p->buf_id, .ts = p->ts, .len = p->len,
			    .kf = p->kf, .used = 1 };
	h->count++;
	if (!h->has_head || (int32_t)(ext - h->head) > 0)
		h->head = ext;
	h->has_head = true;

	if (p->kf == KEYFRAME_START && (!h->has_key || (int32_t)(ext - h->key_idr) > 0)) {
		h->key_idr = ext;
		h->key_au = au_start(h, ext, p->ts);
		h->has_key = true;
	}
	return ret;
}

bool nack_hist_lookup(const nack_hist *h, uint16_t seq, struct nack_hist_pkt *out)
{
	uint16_t back = (uint16_t)((uint16_t)h->head - seq);
	const struct slot *s;

	if (!h->has_head || back >= h->cap)
		return false;
	s = find(h, h->head - back);
	if (!s)
		return false;
	*out = (struct nack_hist_pkt){ .seq = seq, .len = s->len, .ts = s->ts,
				       .buf_id = s->buf_id, .kf = s->kf };
	return true;
}

bool nack_hist_keyframe(const nack_hist *h, uint16_t *start_seq)
{
	if (!h->has_key || !find(h, h->key_au))
		return false;
	*start_seq = (uint16_t)h->key_au;
	return true;
}

bool nack_hist_newest(const nack_hist *h, uint16_t *seq)
{
	if (!h->has_head)
		return false;
	*seq = (uint16_t)h->head;
	return true;
}

uint32_t nack_hist_count(const nack_hist *h)
{
	return h->count;
}

bool nack_hist_pop(nack_hist *h, uint32_t *buf_id)
{
	if (h->count == 0) {
		bool owned = h->owned;
		uint32_t cap = h->cap;

		*h = (struct nack_hist){ .cap = cap, .mask = cap - 1, .owned = owned };
		return false;
	}
	for (uint32_t i = 0; i < h->cap; i++) {
		struct slot *s = &h->slots[(h->pop_pos + i) & h->mask];

		if (!s->used) {
			continue;
		}
		*buf_id = s->buf_id;
		s->used = 0;
		h->count--;
		h->pop_pos = (h->pop_pos + i + 1) & h->mask;
		return true;
	}
	return false; /* count said otherwise; cannot happen */
}
