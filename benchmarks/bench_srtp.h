/*
 * bench_srtp: `spbench srtp`, SRTP fan-out through spdp (issue 4): plain vs
 * passthrough vs terminate vs protect per suite, against raw libsrtp
 * (spbench srtp-raw). See bench_srtp.c and benchmarks/README.md.
 */
#ifndef SP_BENCH_SRTP_H
#define SP_BENCH_SRTP_H

/* argv[0] is the subcommand name; returns the process exit status. */
int bench_srtp_main(int argc, char **argv);

#endif
