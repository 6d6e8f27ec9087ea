/*
 * bench_turn: `spbench turn`, streampoint's TURN relay (spdp + spcp) side by
 * side with coturn (Debian's turnserver) under the same load from spbench's
 * own TURN client: lossless relayed packets/s, round trip, server CPU per
 * relayed packet, allocations/s (issue 5). See bench_turn.c.
 */
#ifndef SP_BENCH_TURN_H
#define SP_BENCH_TURN_H

int bench_turn_main(int argc, char **argv);

#endif
