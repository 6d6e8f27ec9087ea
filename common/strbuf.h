/*
 * strbuf: text appended to a caller's fixed buffer, always NUL-terminated;
 * running out of room is remembered (full) instead of checked at every
 * call, so a writer appends freely and tests once at the end.
 */
#ifndef SP_STRBUF_H
#define SP_STRBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct strbuf {
	char *p;
	size_t cap, len;  /* cap > 0: room for the NUL */
	bool full;
};

static inline void strbuf_put(struct strbuf *o, const void *s, size_t n)
{
	if (o->full || n >= o->cap - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static inline void strbuf_puts(struct strbuf *o, const char *s)
{
	strbuf_put(o, s, strlen(s));
}

#endif
