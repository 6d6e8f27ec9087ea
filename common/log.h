/*
 * log: one logger for every streampoint process.
 *
 * Lines go to stderr with a syslog-style "<N>" level prefix, which journald
 * turns into the entry's priority, followed by the process name. Callers say
 * which peer/flow/agent a line is about in the text; `err` (an errno value,
 * 0 for none) is appended as ": <strerror>" the way nginx's ngx_log_error does.
 *
 * log_rl() is the packet-path variant: each call site keeps a per-thread
 * token bucket (burst LOG_RL_BURST per LOG_RL_PERIOD_S seconds) and reports how
 * many lines it suppressed when it speaks again. Never log keys or tokens.
 */
#ifndef SP_LOG_H
#define SP_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARNING = 4,
	LOG_LVL_NOTICE = 5,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

#define LOG_RL_BURST 10
#define LOG_RL_PERIOD_S 5

/* Per-call-site state of log_rl(); zero-initialised. */
struct log_ratelimit {
	uint64_t window_start_ns;
	uint32_t in_window;
	uint32_t suppressed;
};

void log_init(const char *ident, int level);
/* Also send every line to syslog(3) (LOG_DAEMON), for cameras without journald. */
void log_syslog(bool on);
void log_set_level(int level);
int log_get_level(void);
/* "err", "warning", "notice", "info", "debug" (or 3..7); -EINVAL otherwise. */
int log_level_parse(const char *s);
const char *log_level_name(int level);

static inline bool log_enabled(int level)
{
	extern int log_current_level;
	return level <= __atomic_load_n(&log_current_level, __ATOMIC_RELAXED);
}

void log_msg(int level, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* True when the call site may log now; accounts suppressed lines. */
bool log_ratelimit_ok(struct log_ratelimit *rl, int level);

#define log_error(err, ...) log_msg(LOG_LVL_ERR, (err), __VA_ARGS__)
#define log_warn(err, ...) log_msg(LOG_LVL_WARNING, (err), __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, 0, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, 0, __VA_ARGS__)
#define log_debug(...)                                                     \
	do {                                                                   \
		if (log_enabled(LOG_LVL_DEBUG))                                    \
			log_msg(LOG_LVL_DEBUG, 0, __VA_ARGS__);                        \
	} while (0)

#define log_rl(level, err, ...)                                            \
	do {                                                                   \
		static _Thread_local struct log_ratelimit log_rl_state_;           \
		if (log_enabled(level) && log_ratelimit_ok(&log_rl_state_, level)) \
			log_msg((level), (err), __VA_ARGS__);                          \
	} while (0)

#endif
