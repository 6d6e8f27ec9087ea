/*
 * ring: SPSC variable-length message ring (see ring.h and ring-t.h).
 *
 * The consumer treats the shared control block and data as untrusted (the
 * producer is another process, and may have died or gone wrong): every head
 * it loads is checked against the capacity and every record length against
 * the bytes published, each read once into a local before use. An impossible
 * value is counted in `corrupt` and the consumer resynchronises at head.
 */
#include "ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ring {
	struct ring_ctrl *ctrl;
	uint8_t *data;
	uint64_t cap;
	uint64_t mask;
	int doorbell;
	enum ring_role role;
	/* Producer: local head (staged, maybe unpublished) and cached tail.
	 * Consumer: local tail (dequeued, maybe unreleased) and cached head. */
	uint64_t local;
	uint64_t cached;
	uint64_t staged_msgs; /* producer: staged since last publish */
	uint64_t taken_msgs;  /* consumer: dequeued since last release */
};

void ring_ctrl_init(struct ring_ctrl *ctrl)
{
	memset(ctrl, 0, sizeof(*ctrl));
}

ring *ring_open(struct ring_ctrl *ctrl, void *data, uint64_t capacity,
		int doorbell_fd, enum ring_role role)
{
	ring *r;

	if (!ctrl || !data || capacity < RING_MIN_CAPACITY || capacity > RING_MAX_CAPACITY ||
	    (capacity & (capacity - 1)) || (role != RING_PRODUCER && role != RING_CONSUMER &&
					    role != RING_OBSERVER)) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->ctrl = ctrl;
	r->data = data;
	r->cap = capacity;
	r->mask = capacity - 1;
	r->doorbell = doorbell_fd;
	r->role = role;
	if (role == RING_PRODUCER) {
		/* head is shared memory a peer could have left misaligned: an
		 * unaligned record header near the end would be written past
		 * the data area. Records always start aligned. */
		r->local = atomic_load_explicit(&ctrl->head, memory_order_relaxed);
		r->local = (r->local + RING_ALIGN - 1) & ~(uint64_t)(RING_ALIGN - 1);
		r->cached = atomic_load_explicit(&ctrl->tail, memory_order_acquire);
	} else {
		/* Nothing cached: the first dequeue loads head and checks it
		 * against the capacity like every later load. */
		r->local = atomic_load_explicit(&ctrl->tail, memory_order_relaxed);
		r->cached = r->local;
	}
	return r;
}

void ring_close(ring *r)
{
	free(r);
}

uint64_t ring_capacity(const ring *r)
{
	return r->cap;
}

/* ---------------------------------------------------------------- producer */

static inline uint64_t prod_free(ring *r, uint64_t need)
{
	uint64_t free_bytes = r->cap - (r->local - r->cached);

	if (free_bytes < need) {
		r->cached = atomic_load_explicit(&r->ctrl->tail, memory_order_acquire);
		free_bytes = r->cap - (r->local - r->cached);
		/* A consumer that moved tail past head is broken; treat as full. */
		if (free_bytes > r->cap)
			return 0;
	}
	return free_bytes;
}

void *ring_prepare(ring *r, uint32_t len)
{
	uint64_t rec, off, to_end, need;

	if (len > ring_max_payload(r->cap)) {
		errno = EMSGSIZE;
		return NULL;
	}
	rec = ring_record_size(len);
	off = r->local & r->mask;
	to_end = r->cap - off;
	need = rec <= to_end ? rec : to_end + rec;
	if (prod_free(r, need) < need) {
		errno = ENOBUFS;
		return NULL;
	}
	if (rec > to_end) {
		/* Pad to the end so the record is contiguous at offset 0. */
		struct ring_msg_hdr pad = { .type = RING_MSG_PAD, .len = (uint32_t)(to_end - sizeof(pad)) };
		memcpy(r->data + off, &pad, sizeof(pad));
		r->local += to_end;
		off = 0;
	}
	return r->data + off + sizeof(struct ring_msg_hdr);
}

void ring_stage(ring *r, uint16_t type, uint8_t version, uint8_t flags, uint32_t len)
{
	struct ring_msg_hdr h = { .type = type, .version = version, .flags = flags, .len = len };

	memcpy(r->data + (r->local & r->mask), &h, sizeof(h));
	r->local += ring_record_size(len);
	r->staged_msgs++;
}

void ring_publish(ring *r)
{
	struct ring_ctrl *c = r->ctrl;

	if (!r->staged_msgs)
		return;
	atomic_store_explicit(&c->enq_msgs,
			      atomic_load_explicit(&c->enq_msgs, memory_order_relaxed) + r->staged_msgs,
			      memory_order_relaxed);
	r->staged_msgs = 0;
	atomic_store_explicit(&c->head, r->local, memory_order_release);
	/* Pairs with the fence in ring_arm(): either the consumer sees the new
	 * head when it re-checks, or we see its waiting flag here. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&c->waiting, memory_order_relaxed) && r->doorbell >= 0) {
		atomic_store_explicit(&c->waiting, 0, memory_order_relaxed);
		uint64_t one = 1;
		ssize_t w = write(r->doorbell, &one, sizeof(one));
		(void)w; /* EAGAIN: the counter is saturated, the consumer wakes anyway */
		atomic_store_explicit(&c->wakeups,
				      atomic_load_explicit(&c->wakeups, memory_order_relaxed) + 1,
				      memory_order_relaxed);
	}
}

void ring_count_drop(ring *r)
{
	atomic_store_explicit(&r->ctrl->drops_full,
			      atomic_load_explicit(&r->ctrl->drops_full, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

int ring_enqueue(ring *r, uint16_t type, uint8_t version, const void *payload, uint32_t len)
{
	void *p = ring_prepare(r, len);

	if (!p) {
		if (errno == EMSGSIZE)
			return -EMSGSIZE;
		ring_count_drop(r);
		return -ENOBUFS;
	}
	if (len)
		memcpy(p, payload, len);
	ring_stage(r, type, version, 0, len);
	ring_publish(r);
	return 0;
}

unsigned ring_enqueue_burst(ring *r, const struct ring_msg_in *msgs, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		void *p = ring_prepare(r, msgs[i].len);
		if (!p)
			break;
		if (msgs[i].len)
			memcpy(p, msgs[i].payload, msgs[i].len);
		ring_stage(r, msgs[i].type, msgs[i].version, 0, msgs[i].len);
	}
	ring_publish(r);
	for (unsigned j = i; j < n; j++)
		ring_count_drop(r);
	return i;
}

/* ---------------------------------------------------------------- consumer */

static void cons_count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* Drop everything up to the producer's head after finding garbage. */
static void cons_resync(ring *r, uint64_t head)
{
	cons_count(&r->ctrl->corrupt, 1);
	r->local = head;
	r->cached = head;
	atomic_store_explicit(&r->ctrl->tail, head, memory_order_release);
}

unsigned ring_dequeue_burst(ring *r, struct ring_msg *out, unsigned max)
{
	unsigned n = 0;

	while (n < max) {
		uint64_t avail = r->cached - r->local;

		if (avail == 0) {
			uint64_t head = atomic_load_explicit(&r->ctrl->head, memory_order_acquire);
			if (head - r->local > r->cap) {
				cons_resync(r, head);
				break;
			}
			r->cached = head;
			avail = head - r->local;
			if (avail == 0)
				break;
		}
		uint64_t off = r->local & r->mask;
		struct ring_msg_hdr h;

		if (avail < sizeof(h) || (off & (RING_ALIGN - 1))) {
			cons_resync(r, r->cached);
			break;
		}
		memcpy(&h, r->data + off, sizeof(h)); /* read once: the peer may scribble */
		uint64_t rec = ring_record_size(h.len);
		if (h.type == RING_MSG_PAD) {
			/* Padding must run exactly to the end of the data area. */
			if (rec != r->cap - off || rec > avail) {
				cons_resync(r, r->cached);
				break;
			}
			r->local += rec;
			continue;
		}
		if (rec > avail || rec > r->cap - off) {
			cons_resync(r, r->cached);
			break;
		}
		out[n].type = h.type;
		out[n].version = h.version;
		out[n].flags = h.flags;
		out[n].len = h.len;
		out[n].payload = r->data + off + sizeof(h);
		r->local += rec;
		r->taken_msgs++;
		n++;
	}
	return n;
}

void ring_release(ring *r)
{
	if (r->taken_msgs) {
		cons_count(&r->ctrl->deq_msgs, r->taken_msgs);
		r->taken_msgs = 0;
	}
	atomic_store_explicit(&r->ctrl->tail, r->local, memory_order_release);
}

void ring_count_reject(ring *r)
{
	cons_count(&r->ctrl->rejected, 1);
}

uint64_t ring_discard(ring *r)
{
	uint64_t head = atomic_load_explicit(&r->ctrl->head, memory_order_acquire);
	uint64_t skipped = head - r->local;
	uint64_t enq = atomic_load_explicit(&r->ctrl->enq_msgs, memory_order_relaxed);

	if (skipped > r->cap) {
		cons_resync(r, head);
		return 0;
	}
	r->local = head;
	r->cached = head;
	r->taken_msgs = 0;
	/* Account the skipped messages as consumed so depth reads zero. */
	atomic_store_explicit(&r->ctrl->deq_msgs, enq, memory_order_relaxed);
	atomic_store_explicit(&r->ctrl->tail, head, memory_order_release);
	return skipped;
}

bool ring_empty(ring *r)
{
	if (r->cached != r->local)
		return false;
	uint64_t head = atomic_load_explicit(&r->ctrl->head, memory_order_acquire);
	/* Cache only a possible head: dequeue trusts the cached value, and
	 * must be the one to see (and count) an impossible one. */
	if (head - r->local <= r->cap)
		r->cached = head;
	return head == r->local;
}

bool ring_arm(ring *r)
{
	atomic_store_explicit(&r->ctrl->waiting, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	if (!ring_empty(r)) {
		atomic_store_explicit(&r->ctrl->waiting, 0, memory_order_relaxed);
		return false;
	}
	return true;
}

void ring_disarm(ring *r)
{
	atomic_store_explicit(&r->ctrl->waiting, 0, memory_order_relaxed);
}

void ring_ctrl_stats(const struct ring_ctrl *ctrl, uint64_t capacity, struct ring_stats *st)
{
	/* Const-cast is safe: atomic loads do not write. */
	struct ring_ctrl *c = (struct ring_ctrl *)ctrl;
	uint64_t tail = atomic_load_explicit(&c->tail, memory_order_acquire);
	uint64_t head = atomic_load_explicit(&c->head, memory_order_acquire);
	uint64_t deq = atomic_load_explicit(&c->deq_msgs, memory_order_relaxed);
	uint64_t enq = atomic_load_explicit(&c->enq_msgs, memory_order_relaxed);

	st->capacity = capacity;
	st->used_bytes = head - tail <= capacity ? head - tail : capacity;
	st->enq_msgs = enq;
	st->deq_msgs = deq;
	st->depth_msgs = enq >= deq ? enq - deq : 0;
	st->drops_full = atomic_load_explicit(&c->drops_full, memory_order_relaxed);
	st->rejected = atomic_load_explicit(&c->rejected, memory_order_relaxed);
	st->corrupt = atomic_load_explicit(&c->corrupt, memory_order_relaxed);
	st->wakeups = atomic_load_explicit(&c->wakeups, memory_order_relaxed);
}
