/*
 * fuzz_http_resp: a hostile camera's HTTP response (common/http_resp.c).
 *
 * The first byte picks the cut pattern; the rest is the byte stream. It is
 * read whole and cut into pieces, then the connection closes. Invariants
 * (abort): both readings give the same result, error, status and body;
 * the body stays within the cap; a finished reader stays finished; the
 * status is 0 or 200..599; header views lie inside what was fed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

struct sum {
	uint64_t n, h;
};

static int on_body(void *ctx, const uint8_t *p, size_t n)
{
	struct sum *s = ctx;
	for (size_t i = 0; i < n; i++)
		s->h = (s->h ^ p[i]) * 1099511628211ull;
	s->n += n;
	return 0;
}

struct res {
	int rc, status;
	enum http_resp_err err;
	struct sum sum;
};

static void read_all(const uint8_t *d, size_t n, unsigned pattern, struct res *o)
{
	static const struct http_resp_limits lim = { .max_header_bytes = 4096, .max_headers = 16,
						     .max_body = 1u << 16 };
	http_resp *r = http_resp_new(&lim, on_body, &o->sum);
	size_t at = 0, step = pattern ? pattern : n;
	int rc = HTTP_RESP_MORE;

	CHECK(r);
	while (at < n) {
		size_t k = n - at < step ? n - at : step;
		rc = http_resp_feed(r, d + at, k);
		at += k;
		if (rc != HTTP_RESP_MORE)
			CHECK(http_resp_feed(r, "x", 1) == rc); /* terminal */
		if (pattern)
			step = (step * 7 + 3) % 61 + 1;
	}
	if (rc == HTTP_RESP_MORE)
		rc = http_resp_eof(r);
	CHECK(rc == HTTP_RESP_DONE || rc == HTTP_RESP_ERROR);
	o->rc = rc;
	o->err = http_resp_error(r);
	o->status = http_resp_status(r);
	CHECK(o->status == 0 || (o->status >= 200 && o->status <= 599));
	CHECK(http_resp_body_bytes(r) == o->sum.n && o->sum.n <= lim.max_body);
	struct http_str nm, v;
	for (uint32_t i = 0; http_resp_header_at(r, i, &nm, &v); i++)
		CHECK(nm.len && nm.len + v.len < lim.max_header_bytes);
	http_resp_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct res a = { 0 }, b = { 0 };

	if (!size)
		return 0;
	read_all(data + 1, size - 1, 0, &a);
	read_all(data + 1, size - 1, data[0] % 64 + 1, &b);
	CHECK(a.rc == b.rc && a.err == b.err && a.status == b.status);
	CHECK(a.sum.n == b.sum.n && a.sum.h == b.sum.h);
	return 0;
}
