/* bytering: bounded byte FIFO (see bytering.h). */
#include "bytering.h"

#include <stdlib.h>
#include <string.h>

void bytering_init(struct bytering *r, size_t cap)
{
	memset(r, 0, sizeof(*r));
	r->cap = cap;
}

void bytering_free(struct bytering *r)
{
	free(r->buf);
	r->buf = NULL;
	r->head = r->len = 0;
}

void bytering_release(struct bytering *r)
{
	if (r->len == 0)
		bytering_free(r);
}

static int ensure(struct bytering *r)
{
	if (!r->buf && r->cap)
		r->buf = malloc(r->cap);
	return r->buf ? 0 : -1;
}

int bytering_space(struct bytering *r, struct iovec iov[2], size_t max)
{
	size_t room = r->cap - r->len, n;
	int c = 0;

	if (room > max)
		room = max;
	if (room == 0 || ensure(r) < 0)
		return room == 0 ? 0 : -1;
	size_t tail = (r->head + r->len) % r->cap;
	n = r->cap - tail < room ? r->cap - tail : room;
	iov[c].iov_base = r->buf + tail;
	iov[c++].iov_len = n;
	if (room > n) {
		iov[c].iov_base = r->buf;
		iov[c++].iov_len = room - n;
	}
	return c;
}

int bytering_data(const struct bytering *r, struct iovec iov[2], size_t max)
{
	size_t len = r->len < max ? r->len : max, n;
	int c = 0;

	if (len == 0)
		return 0;
	n = r->cap - r->head < len ? r->cap - r->head : len;
	iov[c].iov_base = r->buf + r->head;
	iov[c++].iov_len = n;
	if (len > n) {
		iov[c].iov_base = r->buf;
		iov[c++].iov_len = len - n;
	}
	return c;
}

void bytering_commit(struct bytering *r, size_t n)
{
	r->len += n;
}

void bytering_consume(struct bytering *r, size_t n)
{
	r->head = (r->head + n) % r->cap;
	r->len -= n;
	if (r->len == 0)
		r->head = 0;
}

size_t bytering_push(struct bytering *r, const void *data, size_t n)
{
	struct iovec iov[2];
	int c = bytering_space(r, iov, n);
	size_t done = 0;

	for (int i = 0; i < c; i++) {
		memcpy(iov[i].iov_base, (const uint8_t *)data + done, iov[i].iov_len);
		done += iov[i].iov_len;
	}
	bytering_commit(r, done);
	return done;
}
