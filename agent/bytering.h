/*
 * bytering: a bounded byte FIFO for one direction of one stream (or the
 * frames queued for a tunnel). Fixed capacity set at init; the storage is
 * allocated on first use and given back by bytering_release() when empty,
 * so an idle stream costs a few words. Readers and writers see the data and
 * the free space as at most two segments (an iovec pair) so both sides can
 * use readv/writev without copying.
 */
#ifndef SP_BYTERING_H
#define SP_BYTERING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct bytering {
	uint8_t *buf;
	size_t cap, head, len; /* data: [head, head+len) mod cap */
};

void bytering_init(struct bytering *r, size_t cap);
/* Frees the storage (data is dropped). */
void bytering_free(struct bytering *r);
/* Frees the storage if empty (idle streams do not pin it). */
void bytering_release(struct bytering *r);
static inline size_t bytering_len(const struct bytering *r) { return r->len; }
static inline size_t bytering_room(const struct bytering *r) { return r->cap - r->len; }
/* Copies min(n, room) bytes in; returns how many (0 also when the storage
 * cannot be allocated). */
size_t bytering_push(struct bytering *r, const void *data, size_t n);
/* The data as 0..2 segments, at most max bytes in all. Returns the count. */
int bytering_data(const struct bytering *r, struct iovec iov[2], size_t max);
/* The free space as 0..2 segments, at most max bytes; allocates the
 * storage on first use (returns -1 when it cannot). */
int bytering_space(struct bytering *r, struct iovec iov[2], size_t max);
/* After bytering_space: n bytes were written there. */
void bytering_commit(struct bytering *r, size_t n);
/* After bytering_data: n bytes were taken. */
void bytering_consume(struct bytering *r, size_t n);

#endif
