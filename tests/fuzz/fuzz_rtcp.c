/*
 * fuzz_rtcp: the compound RTCP walk, every accessor on what it yields, and
 * generic NACK expansion, with a round trip through the builder.
 *
 * The input is one datagram. When rtcp_iter_init() accepts it, every packet
 * yielded must lie inside the datagram, the counts must agree, and the
 * accessors must stay inside their packet (ASan watches). A NACK's expanded
 * sequence numbers are packed again with rtcp_build_nack(); the result must
 * parse and expand to exactly the same set.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nack.h"
#include "rtcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size);

#define MAX_SEQS 4096

static uint16_t seqs[MAX_SEQS], again[MAX_SEQS];
static uint8_t out[(MAX_SEQS + 3) * 4];
static uint8_t seen[65536 / 8];

static void nack_round_trip(const struct rtcp_pkt *p)
{
	size_t n = nack_expand(p->fci, p->fci_len, seqs, MAX_SEQS), m;
	struct rtcp_iter it;
	struct rtcp_pkt q;
	int len;

	if (n == 0 || n > (size_t)p->fci_len / 4 * NACK_MAX_PER_ENTRY)
		abort();
	if (n == MAX_SEQS)
		return;
	len = rtcp_build_nack(out, sizeof(out), p->ssrc, p->media_ssrc, seqs, n);
	if (len <= 0 || rtcp_iter_init(&it, out, (size_t)len) != RTCP_OK || !rtcp_next(&it, &q) ||
	    !rtcp_is_nack(&q) || q.ssrc != p->ssrc || q.media_ssrc != p->media_ssrc)
		abort();
	m = nack_expand(q.fci, q.fci_len, again, MAX_SEQS);
	/* same set both ways (the builder may fold duplicates) */
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < n; i++)
		seen[seqs[i] >> 3] |= (uint8_t)(1u << (seqs[i] & 7));
	for (size_t i = 0; i < m; i++)
		if (!(seen[again[i] >> 3] & (1u << (again[i] & 7))))
			abort();
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < m; i++)
		seen[again[i] >> 3] |= (uint8_t)(1u << (again[i] & 7));
	for (size_t i = 0; i < n; i++)
		if (!(seen[seqs[i] >> 3] & (1u << (seqs[i] & 7))))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size)
{
	struct rtcp_iter it;
	struct rtcp_pkt p;
	uint32_t yielded = 0;
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy)
		abort();
	if (size)
		memcpy(copy, buf, size);
	if (rtcp_iter_init(&it, copy, size) != RTCP_OK) {
		if (rtcp_next(&it, &p))
			abort();
		free(copy);
		return 0;
	}
	while (rtcp_next(&it, &p)) {
		struct rtcp_sender_info si;
		struct rtcp_report_block rb;
		struct rtcp_fir_entry fe;

		yielded++;
		if (p.data < copy || p.data + p.len > copy + size || p.body_len + 4 > p.len)
			abort();
		if (p.fci && (p.fci < p.data || p.fci + p.fci_len > p.data + p.len))
			abort();
		(void)rtcp_sr_info(&p, &si);
		for (unsigned i = 0; i <= p.count; i++)
			(void)rtcp_report_block(&p, i, &rb);
		for (unsigned i = 0; i <= rtcp_fir_count(&p); i++)
			(void)rtcp_fir_entry(&p, i, &fe);
		if (rtcp_is_nack(&p))
			nack_round_trip(&p);
	}
	if (yielded != it.n_pkts)
		abort();
	free(copy);
	return 0;
}
