/*
 * log: stderr logger with syslog level prefixes and per-call-site rate limits.
 * One write(2) per line so lines from different threads never interleave.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

int log_current_level = LOG_LVL_INFO;
static char log_ident[32] = "streampoint";
static bool log_syslog_on;

static const char *const level_names[] = {
	[LOG_LVL_ERR] = "err",       [LOG_LVL_WARNING] = "warning",
	[LOG_LVL_NOTICE] = "notice", [LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

void log_init(const char *ident, int level)
{
	snprintf(log_ident, sizeof(log_ident), "%s", ident);
	log_set_level(level);
}

void log_syslog(bool on)
{
	if (on && !log_syslog_on)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!on && log_syslog_on)
		closelog();
	log_syslog_on = on;
}

void log_set_level(int level)
{
	if (level < LOG_LVL_ERR)
		level = LOG_LVL_ERR;
	if (level > LOG_LVL_DEBUG)
		level = LOG_LVL_DEBUG;
	__atomic_store_n(&log_current_level, level, __ATOMIC_RELAXED);
}

int log_get_level(void)
{
	return __atomic_load_n(&log_current_level, __ATOMIC_RELAXED);
}

int log_level_parse(const char *s)
{
	if (!s)
		return -EINVAL;
	for (int l = LOG_LVL_ERR; l <= LOG_LVL_DEBUG; l++)
		if (strcasecmp(s, level_names[l]) == 0)
			return l;
	if (strcasecmp(s, "error") == 0)
		return LOG_LVL_ERR;
	if (strcasecmp(s, "warn") == 0)
		return LOG_LVL_WARNING;
	if (s[0] >= '3' && s[0] <= '7' && s[1] == '\0')
		return s[0] - '0';
	return -EINVAL;
}

const char *log_level_name(int level)
{
	if (level < LOG_LVL_ERR || level > LOG_LVL_DEBUG)
		return "?";
	return level_names[level];
}

void log_msg(int level, int err, const char *fmt, ...)
{
	char line[1024];
	int n;
	va_list ap;

	if (!log_enabled(level))
		return;
	n = snprintf(line, sizeof(line), "<%d>%s[%d]: %s: ", level, log_ident,
		     (int)getpid(), log_level_name(level));
	if (n < 0)
		return;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n >= sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	if (err) {
		char ebuf[128];
		/* _GNU_SOURCE strerror_r returns the message (maybe not in ebuf). */
		const char *es = strerror_r(err, ebuf, sizeof(ebuf));
		int k = snprintf(line + n, sizeof(line) - (size_t)n, ": %s", es);
		if (k > 0)
			n += k;
		if ((size_t)n >= sizeof(line) - 2)
			n = (int)sizeof(line) - 2;
	}
	if (log_syslog_on) {
		line[n] = '\0';
		syslog(level, "%s", strchr(line, ':') + 2); /* syslog adds ident and pid */
	}
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

bool log_ratelimit_ok(struct log_ratelimit *rl, int level)
{
	uint64_t now = clock_mono_ns();

	if (now - rl->window_start_ns >= (uint64_t)LOG_RL_PERIOD_S * 1000000000ull) {
		if (rl->suppressed)
			log_msg(level, 0, "(%u similar messages suppressed)", rl->suppressed);
		rl->window_start_ns = now;
		rl->in_window = 0;
		rl->suppressed = 0;
	}
	if (rl->in_window < LOG_RL_BURST) {
		rl->in_window++;
		return true;
	}
	rl->suppressed++;
	return false;
}
