/*
 * fuzz_msg: the ring message gate, msg_check(), and msg_read().
 *
 * Input: [type:2][version:1][unused:1] then the payload (its length is
 * what is left). The message is judged on every ring kind (and two that do
 * not exist); whenever the gate accepts it, its promises are checked: a
 * known type, a length inside the catalogue's bounds, a travelling ring
 * the catalogue allows, a consistent exception-packet length. The payload
 * is then read into a struct of every size a handler might use. The same
 * message also goes through a real ring and must come out identical.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size);

static uint8_t sink[sizeof(struct msg_exc_packet) + MSG_EXC_MAX_PAYLOAD + 64];
static uint8_t ring_data[1u << 19]; /* max payload 128K - 8: holds any exc_packet */
static _Alignas(RING_CACHELINE) struct ring_ctrl ring_ctrl_block;

static void check_accepted(const struct ring_msg *m, int kind)
{
	const struct msg_info *mi = msg_lookup(m->type);
	if (!mi || m->version == 0 || m->version > mi->version || m->len < mi->min_len ||
	    m->len > mi->max_len || !(mi->ring_kinds & RING_KIND_BIT(kind)))
		abort();
	if (m->type == MSG_EXC_PACKET) {
		struct msg_exc_packet p;
		msg_read(m, &p, sizeof(p));
		if (sizeof(p) + (uint64_t)p.payload_len != m->len)
			abort();
	}
	if (m->type == MSG_TURN_EFFECT || m->type == MSG_TURN_STATE) {
		/* an owner's bytes are all in the message */
		struct msg_turn_effect p;
		msg_read(m, &p, sizeof(p));
		if (p.owner_len > MSG_TURN_OWNER_MAX ||
		    (p.owner_len && MSG_TURN_EFFECT_LEN(p.owner_len) > m->len))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size)
{
	if (size < 4 || size - 4 > UINT32_MAX)
		return 0;
	struct ring_msg m = {
		.type = (uint16_t)(buf[0] | buf[1] << 8),
		.version = buf[2],
		.len = (uint32_t)(size - 4),
		.payload = buf + 4,
	};

	int first = -1;
	for (int kind = 0; kind <= 7; kind++) {
		int rc = msg_check(&m, (enum ring_kind)kind);
		if (rc < 0 || rc >= DROP__COUNT)
			abort();
		if (rc == 0)
			check_accepted(&m, kind);
		/* Only the ring check depends on the ring: every other verdict
		 * is the same on each ring it is reached on. */
		if (rc != DROP_MSG_WRONG_RING) {
			if (first >= 0 && first != rc)
				abort();
			first = rc;
		}
	}
	(void)msg_type_name(m.type);

	/* Handlers read with the size of their struct, whatever was sent. */
	static const size_t sizes[] = { 1, 8, sizeof(struct msg_hello), sizeof(struct msg_pong),
					sizeof(struct msg_flow_add), sizeof(struct msg_exc_packet),
					sizeof(sink) };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		msg_read(&m, sink, sizes[i]);

	/* Through a ring: what comes out is what went in, and judged the same. */
	ring_ctrl_init(&ring_ctrl_block);
	ring *p = ring_open(&ring_ctrl_block, ring_data, sizeof(ring_data), -1, RING_PRODUCER);
	ring *c = ring_open(&ring_ctrl_block, ring_data, sizeof(ring_data), -1, RING_CONSUMER);
	if (!p || !c)
		abort();
	if (m.type != RING_MSG_PAD && ring_enqueue(p, m.type, m.version, m.payload, m.len) == 0) {
		struct ring_msg got;
		if (ring_dequeue_burst(c, &got, 1) != 1 || got.type != m.type ||
		    got.version != m.version || got.len != m.len ||
		    (m.len && memcmp(got.payload, m.payload, m.len) != 0))
			abort();
		for (int kind = 0; kind <= 7; kind++)
			if (msg_check(&got, (enum ring_kind)kind) != msg_check(&m, (enum ring_kind)kind))
				abort();
		ring_release(c);
	}
	ring_close(p);
	ring_close(c);
	return 0;
}
