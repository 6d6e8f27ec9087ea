/*
 * bench.c: helpers shared by spbench subcommands (see bench.h).
 */
#include "bench.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double bench_now_s(void) { return (double)bench_now_ns() / 1e9; }

void bench_sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

volatile int bench_stop;

static void on_stop_signal(int sig)
{
	(void)sig;
	bench_stop = 1;
}

void bench_catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

void bench_log(bool on, const char *who, const char *fmt, ...)
{
	va_list ap;

	if (!on)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "spbench %s: ", who);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void bench_cpu_now(struct bench_cpu *c)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	c->user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
	c->sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_percentile(double *v, size_t n, double pct)
{
	double pos, frac;
	size_t lo;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	if (pct <= 0)
		return v[0];
	if (pct >= 100)
		return v[n - 1];
	pos = pct / 100.0 * (double)(n - 1);
	lo = (size_t)pos;
	frac = pos - (double)lo;
	return lo + 1 < n ? v[lo] + (v[lo + 1] - v[lo]) * frac : v[lo];
}

int bench_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

int bench_parse_size_list(const char *s, uint64_t *out, size_t max, size_t *n)
{
	char buf[256], *save = NULL, *tok;

	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", s);
	*n = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*n == max)
			return -E2BIG;
		if (bench_parse_size(tok, &out[*n]) < 0)
			return -EINVAL;
		(*n)++;
	}
	return *n ? 0 : -EINVAL;
}

int bench_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

void bench_exe_dir(char *out, size_t len)
{
	char exe[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0) {
		snprintf(out, len, ".");
		return;
	}
	exe[n] = 0;
	if ((slash = strrchr(exe, '/')))
		*slash = 0;
	snprintf(out, len, "%s", exe);
}

/* Quote only what needs it, so the common case reads like what was typed. */
static void append_quoted(char **buf, size_t *len, size_t *cap, const char *arg)
{
	bool plain = *arg != '\0';
	size_t need;

	for (const char *p = arg; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("-_./=,:+%@", *p))
			plain = false;
	need = *len + 4 * strlen(arg) + 4;
	if (need > *cap) {
		char *nb = realloc(*buf, need * 2);
		if (!nb)
			return;
		*buf = nb;
		*cap = need * 2;
	}
	if (*len)
		(*buf)[(*len)++] = ' ';
	if (plain) {
		memcpy(*buf + *len, arg, strlen(arg));
		*len += strlen(arg);
	} else {
		(*buf)[(*len)++] = '\'';
		for (const char *p = arg; *p; p++) {
			if (*p == '\'') {
				memcpy(*buf + *len, "'\\''", 4);
				*len += 4;
			} else {
				(*buf)[(*len)++] = *p;
			}
		}
		(*buf)[(*len)++] = '\'';
	}
	(*buf)[*len] = '\0';
}

char *bench_command_line(int argc, char **argv)
{
	size_t len = 0, cap = 256;
	char *buf = malloc(cap);

	if (!buf)
		return NULL;
	buf[0] = '\0';
	for (int i = 0; i < argc; i++)
		append_quoted(&buf, &len, &cap, argv[i]);
	return buf;
}

static void cpu_model(char *out, size_t len)
{
	char line[512];
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(out, len, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "model name", 10) == 0) {
			char *colon = strchr(line, ':');
			if (colon) {
				colon++;
				while (*colon == ' ' || *colon == '\t')
					colon++;
				colon[strcspn(colon, "\n")] = '\0';
				snprintf(out, len, "%s", colon);
			}
			break;
		}
	}
	fclose(f);
}

static int saved_argc;
static char **saved_argv;

void bench_set_argv(int argc, char **argv)
{
	saved_argc = argc;
	saved_argv = argv;
}

cJSON *bench_envelope(const char *name)
{
	cJSON *root = cJSON_CreateObject(), *m;
	char model[256], *cmd;
	struct utsname u;
	cpu_set_t set;

	if (!root)
		return NULL;
	cJSON_AddStringToObject(root, "benchmark", name);
	m = cJSON_AddObjectToObject(root, "machine");
	cpu_model(model, sizeof(model));
	cJSON_AddStringToObject(m, "cpu_model", model);
	cJSON_AddNumberToObject(m, "cpus_online", (double)sysconf(_SC_NPROCESSORS_ONLN));
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		cJSON_AddNumberToObject(m, "cpus_allowed", CPU_COUNT(&set));
	if (uname(&u) == 0) {
		cJSON_AddStringToObject(m, "kernel", u.release);
		cJSON_AddStringToObject(m, "arch", u.machine);
	}
	cmd = bench_command_line(saved_argc, saved_argv);
	cJSON_AddStringToObject(root, "command", cmd ? cmd : "");
	free(cmd);
	return root;
}

double bench_jnum(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

const char *bench_jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : "";
}

void bench_add_goal(cJSON *arr, const char *what, double value, bool met, const char *note)
{
	cJSON *g = cJSON_CreateObject();

	cJSON_AddStringToObject(g, "goal", what);
	cJSON_AddNumberToObject(g, "value", value);
	cJSON_AddBoolToObject(g, "met", met);
	if (note)
		cJSON_AddStringToObject(g, "note", note);
	cJSON_AddItemToArray(arr, g);
}

int bench_emit(cJSON *root, const char *path)
{
	char *text = cJSON_Print(root);
	FILE *f;
	int rc = 0;

	if (!text)
		return -ENOMEM;
	if (!path || strcmp(path, "-") == 0) {
		f = stdout;
	} else {
		f = fopen(path, "w");
		if (!f) {
			rc = -errno;
			free(text);
			return rc;
		}
	}
	if (fprintf(f, "%s\n", text) < 0)
		rc = -EIO;
	if (f != stdout) {
		if (fclose(f) != 0 && rc == 0)
			rc = -errno;
	} else if (fflush(f) != 0) {
		rc = -errno;
	}
	free(text);
	return rc;
}
