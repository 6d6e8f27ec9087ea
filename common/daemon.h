/*
 * daemon: what spdp and spcp do alike as long-running processes: signals
 * arrive on a signalfd in the event loop (never in handlers), SIGPIPE is
 * ignored, SIGHUP is reported as not supported.
 */
#ifndef SP_DAEMON_H
#define SP_DAEMON_H

#include <stdbool.h>

/* Block SIGTERM, SIGINT and SIGHUP in this thread (and threads it starts
 * afterwards) and return a non-blocking signalfd for them; -errno. */
int daemon_signals(void);
/* Drain the signalfd; false once a stop signal arrived. */
bool daemon_signals_read(int sfd, const char *prog);

#endif
