/*
 * test_log: the logger and its packet-path rate limiter (common/log.h).
 *
 * log_ratelimit_ok() reads CLOCK_MONOTONIC itself and has no clock
 * argument; its state struct is public, so a window is ended by moving
 * window_start_ns back one period rather than by sleeping. The one thing
 * that still depends on the clock is that a burst of calls made right after
 * a window opens falls inside it; each such sequence measures its own
 * duration and skips (never fails) if it somehow took a whole period.
 *
 * Output is captured by pointing fd 2 at a memfd for the duration of a call.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define PERIOD_NS ((uint64_t)LOG_RL_PERIOD_S * 1000000000ull)

static int saved_fd = -1, cap_fd = -1;

static void capture_begin(void)
{
	cap_fd = memfd_create("log-capture", MFD_CLOEXEC);
	cr_assert_geq(cap_fd, 0);
	saved_fd = dup(STDERR_FILENO);
	cr_assert_geq(saved_fd, 0);
	cr_assert_eq(dup2(cap_fd, STDERR_FILENO), STDERR_FILENO);
}

/* Restore stderr; returns what was written (caller frees). */
static char *capture_end(void)
{
	dup2(saved_fd, STDERR_FILENO);
	close(saved_fd);
	off_t n = lseek(cap_fd, 0, SEEK_END);
	char *buf = calloc(1, (size_t)n + 1);
	cr_assert_eq(pread(cap_fd, buf, (size_t)n, 0), n);
	close(cap_fd);
	return buf;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void fresh_logger(void)
{
	log_init("sptest", LOG_LVL_INFO);
}

/* Start a window now: zero state, as a call site's static starts. */
static uint64_t open_window(struct log_ratelimit *rl)
{
	memset(rl, 0, sizeof(*rl));
	uint64_t t0 = clock_mono_ns();
	rl->window_start_ns = t0;
	return t0;
}

static void skip_if_slow(uint64_t t0)
{
	if (clock_mono_ns() - t0 >= PERIOD_NS)
		cr_skip_test("a whole rate-limit period passed during the test; cannot judge");
}

Test(log, ratelimit_burst_then_suppress, .init = fresh_logger)
{
	struct log_ratelimit rl;
	uint64_t t0 = open_window(&rl);
	int allowed = 0;

	capture_begin();
	for (int i = 0; i < LOG_RL_BURST + 25; i++)
		allowed += log_ratelimit_ok(&rl, LOG_LVL_WARNING);
	char *out = capture_end();
	skip_if_slow(t0);
	cr_assert_eq(allowed, LOG_RL_BURST);
	cr_assert_eq(rl.in_window, LOG_RL_BURST);
	cr_assert_eq(rl.suppressed, 25);
	cr_assert_str_eq(out, "", "nothing reported until the window ends");
	free(out);
}

Test(log, ratelimit_reports_suppressed_count, .init = fresh_logger)
{
	struct log_ratelimit rl;
	uint64_t t0 = open_window(&rl);

	for (int i = 0; i < LOG_RL_BURST + 7; i++)
		(void)log_ratelimit_ok(&rl, LOG_LVL_WARNING);
	skip_if_slow(t0);
	cr_assert_eq(rl.suppressed, 7);

	/* End the window: the next call speaks, says how many were dropped,
	 * and starts a new window with a fresh burst. */
	rl.window_start_ns -= PERIOD_NS;
	capture_begin();
	t0 = clock_mono_ns();
	bool ok = log_ratelimit_ok(&rl, LOG_LVL_WARNING);
	char *out = capture_end();
	cr_assert(ok);
	cr_assert_eq(rl.suppressed, 0);
	cr_assert_eq(rl.in_window, 1);
	cr_assert_geq(rl.window_start_ns, t0);
	char want[128];
	snprintf(want, sizeof(want), "<%d>sptest[%d]: warning: (7 similar messages suppressed)\n",
		 LOG_LVL_WARNING, (int)getpid());
	cr_assert_str_eq(out, want);
	free(out);

	int allowed = 1;
	for (int i = 0; i < LOG_RL_BURST + 3; i++)
		allowed += log_ratelimit_ok(&rl, LOG_LVL_WARNING);
	skip_if_slow(t0);
	cr_assert_eq(allowed, LOG_RL_BURST);
	cr_assert_eq(rl.suppressed, 4);

	/* A window with nothing suppressed ends silently. */
	memset(&rl, 0, sizeof(rl));
	rl.window_start_ns = clock_mono_ns() - PERIOD_NS;
	capture_begin();
	cr_assert(log_ratelimit_ok(&rl, LOG_LVL_WARNING));
	out = capture_end();
	cr_assert_str_eq(out, "");
	free(out);
}

Test(log, ratelimit_zero_state_allows, .init = fresh_logger)
{
	/* A call site's zeroed static state: the first call is allowed. */
	struct log_ratelimit rl = { 0 };
	cr_assert(log_ratelimit_ok(&rl, LOG_LVL_ERR));
	cr_assert_eq(rl.suppressed, 0);
	cr_assert_eq(rl.in_window, 1);
}

Test(log, ratelimit_report_respects_level, .init = fresh_logger)
{
	struct log_ratelimit rl;
	uint64_t t0 = open_window(&rl);
	for (int i = 0; i < LOG_RL_BURST + 5; i++)
		(void)log_ratelimit_ok(&rl, LOG_LVL_DEBUG);
	skip_if_slow(t0);
	rl.window_start_ns -= PERIOD_NS;
	capture_begin();
	cr_assert(log_ratelimit_ok(&rl, LOG_LVL_DEBUG));
	char *out = capture_end();
	cr_assert_str_eq(out, "", "debug is off: the report is not printed either");
	cr_assert_eq(rl.suppressed, 0);
	free(out);
}

Test(log, log_rl_macro_limits_a_call_site, .init = fresh_logger)
{
	uint64_t t0 = clock_mono_ns();
	capture_begin();
	for (int i = 0; i < 40; i++)
		log_rl(LOG_LVL_WARNING, 0, "flow %d: bad packet", i);
	char *out = capture_end();
	skip_if_slow(t0);
	cr_assert_eq(count_lines(out), LOG_RL_BURST, "%s", out);
	cr_assert_not_null(strstr(out, "flow 0: bad packet\n"));
	cr_assert_null(strstr(out, "flow 10: bad packet\n"));
	free(out);

	/* Disabled level: nothing printed and the limiter is not consumed. */
	capture_begin();
	for (int i = 0; i < 40; i++)
		log_rl(LOG_LVL_DEBUG, 0, "quiet %d", i);
	out = capture_end();
	cr_assert_str_eq(out, "");
	free(out);
}

Test(log, line_format, .init = fresh_logger)
{
	char want[256];

	capture_begin();
	log_msg(LOG_LVL_ERR, ENOENT, "open %s", "/x");
	log_info("camera %u up", 7u);
	log_debug("not shown");
	log_msg(LOG_LVL_DEBUG + 1, 0, "never");
	char *out = capture_end();
	snprintf(want, sizeof(want),
		 "<3>sptest[%d]: err: open /x: %s\n<6>sptest[%d]: info: camera 7 up\n", (int)getpid(),
		 strerror(ENOENT), (int)getpid());
	cr_assert_str_eq(out, want);
	free(out);

	log_set_level(LOG_LVL_DEBUG);
	capture_begin();
	log_debug("shown %d", 1);
	out = capture_end();
	snprintf(want, sizeof(want), "<7>sptest[%d]: debug: shown 1\n", (int)getpid());
	cr_assert_str_eq(out, want);
	free(out);
}

Test(log, long_lines_truncated_whole, .init = fresh_logger)
{
	static char big[4000];
	memset(big, 'z', sizeof(big) - 1);

	for (int with_err = 0; with_err < 2; with_err++) {
		capture_begin();
		log_msg(LOG_LVL_ERR, with_err ? EPERM : 0, "%s", big);
		char *out = capture_end();
		size_t n = strlen(out);
		cr_assert_leq(n, 1023);
		cr_assert_geq(n, 1000);
		cr_assert_eq(out[n - 1], '\n', "one line, newline-terminated");
		cr_assert_eq(count_lines(out), 1);
		free(out);
	}
}

Test(log, levels)
{
	static const struct {
		const char *s;
		int want;
	} cases[] = {
		{ "err", LOG_LVL_ERR },       { "error", LOG_LVL_ERR },     { "ERR", LOG_LVL_ERR },
		{ "warning", LOG_LVL_WARNING }, { "warn", LOG_LVL_WARNING }, { "notice", LOG_LVL_NOTICE },
		{ "info", LOG_LVL_INFO },     { "Debug", LOG_LVL_DEBUG },  { "3", LOG_LVL_ERR },
		{ "7", LOG_LVL_DEBUG },       { "2", -EINVAL },            { "8", -EINVAL },
		{ "", -EINVAL },              { "33", -EINVAL },           { "trace", -EINVAL },
		{ "info ", -EINVAL },         { "crit", -EINVAL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(log_level_parse(cases[i].s), cases[i].want, "'%s'", cases[i].s);
	cr_expect_eq(log_level_parse(NULL), -EINVAL);
	for (int l = LOG_LVL_ERR; l <= LOG_LVL_DEBUG; l++)
		cr_expect_eq(log_level_parse(log_level_name(l)), l);
	cr_expect_str_eq(log_level_name(2), "?");
	cr_expect_str_eq(log_level_name(8), "?");
	cr_expect_str_eq(log_level_name(-1), "?");

	log_set_level(0);
	cr_expect_eq(log_get_level(), LOG_LVL_ERR);
	log_set_level(100);
	cr_expect_eq(log_get_level(), LOG_LVL_DEBUG);
	log_set_level(LOG_LVL_NOTICE);
	cr_expect(log_enabled(LOG_LVL_NOTICE));
	cr_expect(!log_enabled(LOG_LVL_INFO));
}

Test(log, ident_truncated)
{
	log_init("an-identifier-far-longer-than-thirty-one-characters", LOG_LVL_INFO);
	capture_begin();
	log_info("x");
	char *out = capture_end();
	char want[128];
	snprintf(want, sizeof(want), "<6>an-identifier-far-longer-than-t[%d]: info: x\n", (int)getpid());
	cr_assert_str_eq(out, want);
	free(out);
}
