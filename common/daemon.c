/* daemon: signal handling shared by the daemons (see daemon.h). */
#include "daemon.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "log.h"

int daemon_signals(void)
{
	sigset_t mask;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	/* Blocked before any thread starts, so only the loop takes them. */
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

bool daemon_signals_read(int sfd, const char *prog)
{
	struct signalfd_siginfo si;
	bool running = true;

	while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			log_notice("SIGHUP: configuration reload is not supported; restart %s", prog);
			continue;
		}
		log_notice("signal %u: shutting down", si.ssi_signo);
		running = false;
	}
	return running;
}
