/*
 * srtp_raw: `spbench srtp-raw`, SRTP protect/unprotect cost per core, through
 * libsrtp directly (the baseline) and through common/srtp_leg. See
 * srtp_raw.c and docs/srtp.md "Crypto backend".
 */
#ifndef SP_BENCH_SRTP_RAW_H
#define SP_BENCH_SRTP_RAW_H

/* argv[0] is the subcommand name; returns the process exit status. */
int bench_srtp_raw(int argc, char **argv);

#endif
