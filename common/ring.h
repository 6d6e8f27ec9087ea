/*
 * ring: SPSC rings of variable-length messages in shared memory (layout in
 * ring-t.h). A `ring` handle is process-local and says which side this
 * process plays; only that side's functions may be called on it.
 *
 * Producer:  ring_prepare() -> fill payload -> ring_stage() (repeat for a
 *            burst) -> ring_publish(). ring_enqueue() does all three for one
 *            message. A full ring is never waited on: the call fails with
 *            -ENOBUFS and the drop is counted in the ring (drops_full).
 * Consumer:  ring_dequeue_burst() returns views into the ring, valid until
 *            ring_release(). Records with impossible lengths are never
 *            trusted: the consumer counts them and resynchronises.
 * Sleeping:  a consumer arms its rings (ring_arm) and sleeps on the doorbell
 *            eventfd shared by all rings it consumes; a producer rings the
 *            doorbell only when the consumer said it is waiting.
 */
#ifndef SP_RING_H
#define SP_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ring-t.h"

enum ring_role { RING_PRODUCER = 1, RING_CONSUMER = 2, RING_OBSERVER = 3 };

typedef struct ring ring;

/* A message as the consumer sees it; payload points into the ring. */
struct ring_msg {
	uint16_t type;
	uint8_t version;
	uint8_t flags;
	uint32_t len;
	const uint8_t *payload;
};

/* Bytes a record of `len` payload bytes occupies. */
static inline uint64_t ring_record_size(uint32_t len)
{
	return (sizeof(struct ring_msg_hdr) + (uint64_t)len + RING_ALIGN - 1) & ~(uint64_t)(RING_ALIGN - 1);
}

/* Largest payload a ring of `capacity` bytes accepts (a quarter, so a
 * record plus wrap padding always fits in an empty ring). */
static inline uint32_t ring_max_payload(uint64_t capacity)
{
	return (uint32_t)(capacity / 4 - sizeof(struct ring_msg_hdr));
}

/* Zero the control block of a fresh ring (done once by the segment creator). */
void ring_ctrl_init(struct ring_ctrl *ctrl);

/*
 * Open a process-local handle on a ring whose control block and data area
 * are already mapped. `capacity` must be a power of two within
 * [RING_MIN_CAPACITY, RING_MAX_CAPACITY]. `doorbell_fd` is the eventfd of the
 * ring's consumer (-1: never wake, the consumer polls). A consumer handle
 * created on a ring with a previous consumer starts at the current tail.
 * Returns NULL with errno set on bad arguments or allocation failure.
 */
ring *ring_open(struct ring_ctrl *ctrl, void *data, uint64_t capacity,
		int doorbell_fd, enum ring_role role);
void ring_close(ring *r);

/* ---- producer ---- */
/* Space for one payload of `len` bytes, or NULL when full (not yet counted)
 * or when len > ring_max_payload (errno EMSGSIZE). */
void *ring_prepare(ring *r, uint32_t len);
/* Write the header for the payload just prepared and advance locally. */
void ring_stage(ring *r, uint16_t type, uint8_t version, uint8_t flags, uint32_t len);
/* Make everything staged visible and wake the consumer if it sleeps. */
void ring_publish(ring *r);
/* Count one message dropped because the ring was full. */
void ring_count_drop(ring *r);
/* prepare + copy + stage + publish; 0, -ENOBUFS (full, counted) or -EMSGSIZE. */
int ring_enqueue(ring *r, uint16_t type, uint8_t version, const void *payload, uint32_t len);

struct ring_msg_in {
	uint16_t type;
	uint8_t version;
	const void *payload;
	uint32_t len;
};
/* Enqueue up to n messages with one publish; returns how many went in.
 * Messages that did not fit are counted as drops. */
unsigned ring_enqueue_burst(ring *r, const struct ring_msg_in *msgs, unsigned n);

/* ---- consumer ---- */
/* Up to `max` messages; views stay valid until ring_release(). */
unsigned ring_dequeue_burst(ring *r, struct ring_msg *out, unsigned max);
/* Give back the space of every message dequeued so far. */
void ring_release(ring *r);
/* Count one dequeued message the consumer refused (bad type/version/len). */
void ring_count_reject(ring *r);
/* Skip everything currently queued (a new consumer discarding stale
 * messages); returns the number of bytes skipped. */
uint64_t ring_discard(ring *r);
/*
 * Prepare to sleep: mark the consumer as waiting, then re-check. Returns true
 * when the ring is still empty (safe to sleep on the doorbell), false when
 * data arrived meanwhile (the mark is cleared; do not sleep).
 */
bool ring_arm(ring *r);
void ring_disarm(ring *r);
bool ring_empty(ring *r);

/* ---- any side ---- */
uint64_t ring_capacity(const ring *r);
/* Snapshot of the shared counters (readable from an observer mapping). */
struct ring_stats {
	uint64_t used_bytes, capacity;
	uint64_t enq_msgs, deq_msgs, depth_msgs;
	uint64_t drops_full, rejected, corrupt, wakeups;
};
void ring_ctrl_stats(const struct ring_ctrl *ctrl, uint64_t capacity, struct ring_stats *st);

#endif
