/*
 * ring-t.h: the in-memory layout of a single-producer/single-consumer ring of
 * variable-length messages, as it lives in the spcp/spdp shared segment.
 * Types only; the API is ring.h. Nothing here is a pointer: the segment is
 * mapped at different addresses in each process.
 *
 * A ring is a control block (struct ring_ctrl) and a data area of `capacity`
 * bytes (a power of two). head and tail are free-running byte counters
 * (never wrapped; offset = counter & (capacity - 1)), so full and empty are
 * unambiguous: used = head - tail.
 *
 * Each message is a record: an 8-byte header (struct ring_msg_hdr) followed by
 * `len` payload bytes, padded to RING_ALIGN. Records never wrap: when one does
 * not fit before the end of the data area the producer writes a RING_MSG_PAD
 * header and continues at offset 0, so the consumer always sees a contiguous
 * payload it can parse in place.
 *
 * Memory ordering: the producer writes records, then store-releases head;
 * the consumer load-acquires head, reads records, then store-releases tail.
 * Each side caches the other's counter and reloads it only when it must.
 */
#ifndef SP_RING_T_H
#define SP_RING_T_H

#include <stdatomic.h>
#include <stdint.h>

#define RING_CACHELINE 64
#define RING_ALIGN 8u
#define RING_MSG_PAD 0 /* type reserved for wrap padding */
#define RING_MIN_CAPACITY 4096u
#define RING_MAX_CAPACITY (1u << 30)

struct ring_msg_hdr {
	uint16_t type;
	uint8_t version;
	uint8_t flags;
	uint32_t len; /* payload bytes, excluding this header and padding */
};

struct ring_ctrl {
	/* Producer's line: written by the producer only. */
	_Alignas(RING_CACHELINE) _Atomic uint64_t head;
	_Atomic uint64_t enq_msgs;   /* messages published */
	_Atomic uint64_t drops_full; /* messages dropped: ring full */
	_Atomic uint64_t wakeups;    /* doorbell writes */

	/* Consumer's line: written by the consumer only. */
	_Alignas(RING_CACHELINE) _Atomic uint64_t tail;
	_Atomic uint64_t deq_msgs;  /* messages consumed (accepted or not) */
	_Atomic uint64_t rejected;  /* records refused by the consumer's checks */
	_Atomic uint64_t corrupt;   /* times the consumer found head/len impossible and resynced */

	/* Its own line: the producer reads it after every publish, and sharing
	 * the consumer's line with tail cost a cache-line transfer per message
	 * (measured: about 2x on per-message throughput, benchmarks/README.md). */
	_Alignas(RING_CACHELINE) _Atomic uint32_t waiting; /* consumer is (about to be) asleep */
};

#endif
