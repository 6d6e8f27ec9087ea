/*
 * spcp's tunnel map (controlplane/tunnels.c) across attaches: an attach
 * forgets what the previous spdp had and asks every worker for a dump; the
 * dump's records (its seq) rebuild the map, records of an older dump do
 * not. No spdp: commands go to a recording send function.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "msg.h"
#include "tunnels.h"

static struct msg_tunnel_cmd sent[16];
static uint32_t sent_to[16];
static unsigned nsent;
static bool ring_full;

static int rec_send(void *ctx, uint32_t worker, uint16_t type, const void *p, uint32_t len)
{
	(void)ctx;
	cr_assert_eq(type, MSG_TUNNEL_CMD);
	cr_assert_eq(len, sizeof(struct msg_tunnel_cmd));
	if (ring_full)
		return -ENOBUFS;
	sent_to[nsent % 16] = worker;
	memcpy(&sent[nsent++ % 16], p, len);
	return 0;
}

static void ev(cp_tunnels *t, uint32_t worker, uint32_t kind, uint64_t seq, uint64_t id,
	       const char *dev)
{
	struct msg_tunnel_event e = { .seq = seq, .kind = kind, .worker = worker, .tunnel_id = id };
	snprintf(e.device, sizeof(e.device), "%s", dev);
	cp_tunnels_on_event(t, worker, &e);
}

Test(cp_tunnels, attach_forgets_then_dump_restores)
{
	cp_tunnels *t = cp_tunnels_create_with(rec_send, NULL);
	cr_assert_not_null(t);
	nsent = 0;
	ring_full = false;

	ev(t, 1, TUNNEL_EV_UP, 0, 0x2000000000001ull, "cam-1");
	cr_assert_eq(cp_tunnels_worker(t, "cam-1"), 1);

	/* a new spdp (or a new spcp): the old map is gone, each worker asked */
	cp_tunnels_on_attach(t, 2);
	cr_assert_eq(cp_tunnels_worker(t, "cam-1"), -ENOENT);
	cr_assert_eq(nsent, 2);
	cr_assert_eq(sent[0].op, MSG_TUNNEL_DUMP);
	cr_assert_eq(sent_to[0], 0);
	cr_assert_eq(sent_to[1], 1);
	uint64_t seq = sent[0].seq;
	cr_assert_neq(seq, 0);
	cr_assert_eq(sent[1].seq, seq);

	/* records of an older dump are ignored; this dump's and live ones count */
	ev(t, 0, TUNNEL_EV_UP, seq + 100, 0x1000000000005ull, "cam-old");
	cr_assert_eq(cp_tunnels_worker(t, "cam-old"), -ENOENT);
	ev(t, 0, TUNNEL_EV_UP, seq, 0x1000000000007ull, "cam-1");
	ev(t, 1, TUNNEL_EV_UP, 0, 0x2000000000009ull, "cam-2");
	ev(t, 0, TUNNEL_EV_DUMP_DONE, seq, 0, "");
	ev(t, 1, TUNNEL_EV_DUMP_DONE, seq, 0, "");
	cr_assert_eq(cp_tunnels_worker(t, "cam-1"), 0);
	cr_assert_eq(cp_tunnels_worker(t, "cam-2"), 1);

	/* the restored tunnel goes down like any other */
	ev(t, 0, TUNNEL_EV_DOWN, 0, 0x1000000000007ull, "cam-1");
	cr_assert_eq(cp_tunnels_worker(t, "cam-1"), -ENOENT);
	cp_tunnels_destroy(t);
}

Test(cp_tunnels, dump_of_two_tunnels_of_a_device_kicks_one)
{
	cp_tunnels *t = cp_tunnels_create_with(rec_send, NULL);
	nsent = 0;
	ring_full = false;
	cp_tunnels_on_attach(t, 2);
	uint64_t seq = sent[0].seq;

	/* the agent reconnected to another worker while spcp was away: both
	 * are live; one is kicked, and if it was the newer one the agent just
	 * connects again */
	ev(t, 0, TUNNEL_EV_UP, seq, 0x1000000000001ull, "cam-1");
	ev(t, 1, TUNNEL_EV_UP, seq, 0x2000000000002ull, "cam-1");
	cr_assert_eq(cp_tunnels_worker(t, "cam-1"), 1);
	cr_assert_eq(nsent, 3);
	cr_assert_eq(sent[2].op, MSG_TUNNEL_KICK);
	cr_assert_eq(sent[2].tunnel_id, 0x1000000000001ull);
	cr_assert_eq(sent_to[2], 0);
	cp_tunnels_destroy(t);
}

Test(cp_tunnels, attach_with_a_full_ring_asks_the_others)
{
	cp_tunnels *t = cp_tunnels_create_with(rec_send, NULL);
	nsent = 0;
	ring_full = true;
	cp_tunnels_on_attach(t, 2); /* counted as command drops, no crash */
	cr_assert_eq(nsent, 0);
	ring_full = false;
	cp_tunnels_destroy(t);
}
