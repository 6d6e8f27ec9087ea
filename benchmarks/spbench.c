/*
 * spbench: streampoint's load generator and measurement tool. One
 * subcommand per benchmark (bench_<name>.c); each prints a JSON result
 * (see bench.h) and a one-line summary on stderr. benchmarks/run.py drives
 * them with presets and records the results.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "bench_srtp.h"
#include "bench_turn.h"
#include "srtp_raw.h"

struct subcommand {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *what;
};

static const struct subcommand subcommands[] = {
	{ "ring", bench_ring_main,
	  "shm ring throughput between two processes vs pipe(2) and AF_UNIX baselines" },
	{ "rtp", bench_rtp_main,
	  "RTP fan-out through spdp vs a naive epoll forwarder and the loopback limit" },
	{ "srtp", bench_srtp_main,
	  "SRTP fan-out through spdp: passthrough/terminate/protect vs plain, vs raw libsrtp" },
	{ "srtp-raw", bench_srtp_raw, "SRTP protect/unprotect per core: libsrtp vs srtp_leg, per suite" },
	{ "turn", bench_turn_main,
	  "TURN relay: streampoint (spdp + spcp) vs coturn, lossless relayed pps, RTT, CPU, allocs/s" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: spbench <benchmark> [options]   (spbench <benchmark> --help)\n"
		   "benchmarks:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  %-10s %s\n", subcommands[i].name, subcommands[i].what);
}

int main(int argc, char **argv)
{
	bench_set_argv(argc, argv);
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "list") == 0) {
		for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
			printf("%s\n", subcommands[i].name);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("spbench %s\n", SP_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (strcmp(argv[1], subcommands[i].name) == 0)
			return subcommands[i].main(argc - 1, argv + 1);
	fprintf(stderr, "spbench: unknown benchmark '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
