/*
 * bench.h: the little every spbench subcommand shares: a clock, CPU time,
 * percentiles, number parsing, a stop flag for SIGINT/SIGTERM, small cJSON
 * getters, and the JSON envelope a result is written in ({"benchmark",
 * "machine", "command", "params", "results", "baselines", "ratios",
 * "goals"}). benchmarks/run.py reads that envelope; keep it stable.
 */
#ifndef SP_BENCH_H
#define SP_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* Subcommands (one file each); argv[0] is the subcommand name. */
int bench_ring_main(int argc, char **argv);
int bench_rtp_main(int argc, char **argv);

uint64_t bench_now_ns(void); /* CLOCK_MONOTONIC: comparable between processes */
double bench_now_s(void);    /* the same clock, in seconds */
void bench_sleep_ms(unsigned ms);

/* Non-zero once SIGINT or SIGTERM arrived (bench_catch_signals): every wait
 * and step gives up, and the result is written as "interrupted". */
extern volatile int bench_stop;
/* SIGINT/SIGTERM set bench_stop; SIGPIPE is ignored (a child may go away). */
void bench_catch_signals(void);

/* With on: "spbench <who>: <message>" on stderr (the -v progress lines). */
void bench_log(bool on, const char *who, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

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
/* Decimal in [min, max]; 0 or -EINVAL. */
int bench_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);

/* The directory spbench runs from ("." if unknown): <build>/benchmarks,
 * where the programs a benchmark starts are found by default. */
void bench_exe_dir(char *out, size_t len);

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

/* Member k of o: its number (-1 if none or not a number), its string ("" if
 * none or not a string). For replies of spcp and other tools' results. */
double bench_jnum(const cJSON *o, const char *k);
const char *bench_jstr(const cJSON *o, const char *k);

/* Appends {"goal": what, "value", "met"[, "note"]} to arr (note may be
 * NULL): a goal of the benchmark's issue checked against this run. */
void bench_add_goal(cJSON *arr, const char *what, double value, bool met, const char *note);

/* Pretty JSON to path, or stdout when path is NULL or "-"; 0 or -errno. */
int bench_emit(cJSON *root, const char *path);

#endif
