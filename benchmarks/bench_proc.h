/*
 * bench_proc: the child processes a benchmark starts (the forwarders under
 * test, spcp) and what it reads about them: start one with its output in a
 * log and the CPUs wanted, notice or force its end and say how it ended,
 * its CPU time and memory from /proc, the tool's own per-thread CPU, and
 * the last words of a log and removal of a temp dir for after the run.
 * Used by `spbench rtp` and `spbench srtp` (bench_spdp.c too).
 */
#ifndef SP_BENCH_PROC_H
#define SP_BENCH_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* proc_spawn's cpu, besides a CPU number to pin the child to. */
#define PROC_CPU_ALL (-1)     /* every online CPU: undoes a pin the tool put on itself */
#define PROC_CPU_INHERIT (-2) /* the affinity the tool has (e.g. from taskset) */

/* fork + exec argv[0]: stdout to out_fd (< 0: the log), stderr to log_path
 * (truncated); the child dies with us (PR_SET_PDEATHSIG). The pid, or -1
 * with errno from fork. */
pid_t proc_spawn(char *const argv[], int out_fd, const char *log_path, int cpu);

/* A wait status as text: "exit 0", "killed by signal 9 (Killed)", ... */
void proc_describe_status(int st, char *buf, size_t len);
/* Non-blocking: true (and how it ended in buf) once pid has exited. */
bool proc_exited(pid_t pid, char *buf, size_t len);
/* SIGTERM, wait up to ms, then SIGKILL; how it ended goes in buf. Nothing
 * for pid <= 0. */
void proc_stop(pid_t pid, unsigned ms, char *buf, size_t len);
/* After proc_stop: a clean end is exit 0 or death by that SIGTERM; anything
 * else (a crash, an error exit) is the child's fault. */
bool proc_ended_cleanly(const char *status);

/* utime + stime of a whole process (all threads), seconds; < 0 if gone. */
double proc_cpu_s(pid_t pid);
/* VmRSS in KiB; -1 if gone. */
long proc_rss_kib(pid_t pid);
/* A thread's CPU clock (CLOCK_THREAD_CPUTIME_ID, pthread_getcpuclockid) in
 * seconds; 0 on error. */
double proc_thread_cpu_s(clockid_t cid);

/* rm -r dir (no links followed). */
void proc_remove_tree(const char *dir);
/* The last len - 1 bytes of a log on one line ('\n' -> '|'), for error
 * messages; "" if unreadable. */
void proc_log_tail(const char *path, char *out, size_t len);

#endif
