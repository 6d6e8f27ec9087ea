/*
 * bench.h: the little every spbench subcommand shares: a clock, CPU time,
 * percentiles, number parsing, and the JSON envelope a result is written in
 * ({"benchmark", "machine", "command", "params", "results", "baselines",
 * "ratios"}). benchmarks/run.py reads that envelope; keep it stable.
 */
#ifndef SP_BENCH_H
#define SP_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* Subcommands (one file each); argv[0] is the subcommand name. */
int bench_ring_main(int argc, char **argv);
int bench_rtp_main(int argc, char **argv);

uint64_t bench_now_ns(void); /* CLOCK_MONOTONIC: comparable between processes */

struct bench_cpu {
	double user_s, sys_s;
};
/* CPU time this process has used so far (getrusage RUSAGE_SELF). */
void bench_cpu_now(struct bench_cpu *c);

/* pct in [0, 100], linear interpolation; sorts v in place; 0 when n == 0. */
double bench_percentile(double *v, size_t n, double pct);

/* "64", "4K", "1M" (binary units) -> value; 0 or -EINVAL. */
int bench_parse_size(const char *s, uint64_t *out);
/* Comma-separated sizes; 0, -EINVAL or -E2BIG (more than max). */
int bench_parse_size_list(const char *s, uint64_t *out, size_t max, size_t *n);

/* The command line, shell-quoted, for the "command" field (caller frees). */
char *bench_command_line(int argc, char **argv);
/* spbench's main records its whole argv here for bench_envelope(). */
void bench_set_argv(int argc, char **argv);

/*
 * The envelope: {"benchmark": name, "machine": {...}, "command": ...}.
 * machine holds what spbench itself can see (CPU model, CPUs online and
 * allowed, kernel); run.py adds the toolchain and git facts.
 */
cJSON *bench_envelope(const char *name);

/* Pretty JSON to path, or stdout when path is NULL or "-"; 0 or -errno. */
int bench_emit(cJSON *root, const char *path);

#endif
