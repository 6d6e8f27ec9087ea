/*
 * test_config: the table-driven INI loader (common/config.h).
 *
 * One small key table with one key of each type. File cases live in
 * tests/data/config/: every NAME.ini has either NAME.err, the exact error
 * text that must follow "<path> " (so it names the line and the key), or
 * NAME.out, the cfg_print_values() output after loading it over the
 * defaults. Adding a case is adding two files. Value parsing (sizes,
 * booleans, log levels) and overrides are static tables here.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

struct tcfg {
	uint32_t workers;
	uint64_t ring_bytes;
	uint64_t buf_bytes;
	uint64_t align;
	bool verbose;
	char name[16];
	int level;
};

#define F(f) offsetof(struct tcfg, f)
static const struct cfg_key keys[] = {
	{ "core", "workers", CFG_UINT, F(workers), 0, 1, 64, "4", "worker threads", 0 },
	{ "core", "ring_bytes", CFG_SIZE, F(ring_bytes), 0, 4096, 1ull << 30, "64K", "ring size", CFG_POW2 },
	{ "core", "buf_bytes", CFG_SIZE, F(buf_bytes), 0, 0, 1ull << 40, "1M", "buffer bytes", 0 },
	{ "core", "align", CFG_SIZE, F(align), 0, 0, 4096, "64", "alignment", CFG_POW2 },
	{ "core", "verbose", CFG_BOOL, F(verbose), 0, 0, 0, "false", "chatty", 0 },
	{ "net", "name", CFG_STRING, F(name), sizeof(((struct tcfg *)0)->name), 1, 0, "sp", "instance name", 0 },
	{ "log", "level", CFG_LOGLEVEL, F(level), 0, 0, 0, "info", "log level", 0 },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static struct tcfg fresh(void)
{
	struct tcfg c;
	char err[CFG_ERRLEN];
	memset(&c, 0xcc, sizeof(c));
	cr_assert_eq(cfg_defaults(keys, NKEYS, &c, err, sizeof(err)), 0, "%s", err);
	return c;
}

/* cfg_print_values() into a malloc'd string. */
static char *values(const struct tcfg *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	cfg_print_values(keys, NKEYS, c, f);
	fclose(f);
	return buf;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n = getdelim(&buf, &cap, '\0', f);
	fclose(f);
	if (n < 0) {
		free(buf);
		return strdup("");
	}
	return buf;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

Test(config, data_files)
{
	const char *dir = SP_TEST_DATA "/config";
	DIR *d = opendir(dir);
	cr_assert_not_null(d, "%s: %s", dir, strerror(errno));
	char *names[256];
	size_t n = 0, good = 0, bad = 0;
	struct dirent *e;

	while ((e = readdir(d)) && n < 256)
		if (ends_with(e->d_name, ".ini"))
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_names);

	for (size_t i = 0; i < n; i++) {
		char path[512], side[512], err[CFG_ERRLEN];
		size_t stem = strlen(names[i]) - 4;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		snprintf(side, sizeof(side), "%s/%.*s.err", dir, (int)stem, names[i]);
		char *want_err = slurp(side);
		snprintf(side, sizeof(side), "%s/%.*s.out", dir, (int)stem, names[i]);
		char *want_out = slurp(side);
		cr_expect((want_err != NULL) != (want_out != NULL),
			  "%s needs exactly one of .err / .out beside it", names[i]);

		struct tcfg c = fresh();
		strcpy(err, "(untouched)");
		int rc = cfg_load_file(keys, NKEYS, &c, path, err, sizeof(err));
		if (want_err) {
			char expect[CFG_ERRLEN + 512];
			want_err[strcspn(want_err, "\n")] = '\0';
			snprintf(expect, sizeof(expect), "%s %s", path, want_err);
			cr_expect_eq(rc, -EINVAL, "%s: rc %d", names[i], rc);
			cr_expect_str_eq(err, expect, "%s", names[i]);
			bad++;
		} else if (want_out) {
			cr_expect_eq(rc, 0, "%s: %s", names[i], err);
			char *got = values(&c);
			cr_expect_str_eq(got, want_out, "%s", names[i]);
			free(got);
			good++;
		}
		free(want_err);
		free(want_out);
		free(names[i]);
	}
	/* The cases the issue asks for are all there. */
	cr_expect_geq(bad, 25, "only %zu error cases", bad);
	cr_expect_geq(good, 4, "only %zu good cases", good);
}

Test(config, missing_file)
{
	struct tcfg c = fresh();
	char err[CFG_ERRLEN];
	const char *path = SP_TEST_DATA "/config/does-not-exist.ini";
	char expect[512];

	cr_assert_eq(cfg_load_file(keys, NKEYS, &c, path, err, sizeof(err)), -ENOENT);
	snprintf(expect, sizeof(expect), "%s: cannot open: %s", path, strerror(ENOENT));
	cr_assert_str_eq(err, expect);
	/* A directory is not a config file either. */
	cr_assert_eq(cfg_load_file(keys, NKEYS, &c, SP_TEST_DATA, err, sizeof(err)), -EISDIR);
	snprintf(expect, sizeof(expect), "%s: cannot read: %s", SP_TEST_DATA, strerror(EISDIR));
	cr_assert_str_eq(err, expect);
}

Test(config, load_string_names_lines)
{
	struct tcfg c = fresh();
	char err[CFG_ERRLEN];

	/* Comments, blank lines and a multi-line continuation keep the count. */
	const char *text = "; top\n\n[core]\nworkers = 2\n  3\n\n# x\nverbose = yes\nbogus = 1\n";
	cr_assert_eq(cfg_load_string(keys, NKEYS, &c, text, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "config line 9: [core] unknown key 'bogus'");
	cr_assert_eq(c.workers, 3, "continuation line re-sets the key");
	cr_assert(c.verbose);

	/* CRLF line ends and a final line without newline. */
	c = fresh();
	cr_assert_eq(cfg_load_string(keys, NKEYS, &c, "[core]\r\nworkers = 7\r\nalign = 8", err,
				     sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(c.workers, 7);
	cr_assert_eq(c.align, 8);
	cr_assert_eq(cfg_load_string(keys, NKEYS, &c, "", err, sizeof(err)), 0);
	cr_assert_eq(cfg_load_string(keys, NKEYS, &c, "\n\n\n[net]\nname=" "0123456789abcdef", err,
				     sizeof(err)),
		     -EINVAL);
	cr_assert_str_eq(err, "config line 5: [net] name: length 16 is outside 1..15");
}

/* ---- value parsing, through overrides on one key of each type */

struct value_case {
	const char *assignment;
	uint64_t want; /* when err is NULL */
	const char *err;
};

Test(config, sizes)
{
	static const struct value_case cases[] = {
		{ "core.buf_bytes=0", 0, NULL },
		{ "core.buf_bytes=4096", 4096, NULL },
		{ "core.buf_bytes=64K", 64 << 10, NULL },
		{ "core.buf_bytes=64k", 64 << 10, NULL },
		{ "core.buf_bytes=64KB", 64 << 10, NULL },
		{ "core.buf_bytes=64kib", 64 << 10, NULL },
		{ "core.buf_bytes=3M", 3ull << 20, NULL },
		{ "core.buf_bytes=1G", 1ull << 30, NULL },
		{ "core.buf_bytes=1024G", 1ull << 40, NULL },
		{ "core.buf_bytes=1025G", 0, "override: [core] buf_bytes: 1100585369600 is outside 0..1099511627776" },
		{ "core.buf_bytes=1T", 0, "override: [core] buf_bytes: '1T' is not a size (e.g. 4096, 64K, 1M)" },
		{ "core.buf_bytes=K", 0, "override: [core] buf_bytes: 'K' is not a size (e.g. 4096, 64K, 1M)" },
		{ "core.buf_bytes=1KK", 0, "override: [core] buf_bytes: '1KK' is not a size (e.g. 4096, 64K, 1M)" },
		{ "core.buf_bytes=1 K", 0, "override: [core] buf_bytes: '1 K' is not a size (e.g. 4096, 64K, 1M)" },
		{ "core.buf_bytes=-1", 0, "override: [core] buf_bytes: '-1' is not a size (e.g. 4096, 64K, 1M)" },
		{ "core.buf_bytes=", 0, "override: [core] buf_bytes: '' is not a size (e.g. 4096, 64K, 1M)" },
		{ "core.buf_bytes=18446744073709551615K", 0, "override: [core] buf_bytes: '18446744073709551615K' is not a size (e.g. 4096, 64K, 1M)" },
		{ "core.ring_bytes=4K", 4096, NULL },
		{ "core.ring_bytes=1G", 1ull << 30, NULL },
		{ "core.ring_bytes=4097", 0, "override: [core] ring_bytes: 4097 is not a power of two" },
		{ "core.ring_bytes=96K", 0, "override: [core] ring_bytes: 98304 is not a power of two" },
		{ "core.ring_bytes=2K", 0, "override: [core] ring_bytes: 2048 is outside 4096..1073741824" },
		{ "core.align=1", 1, NULL },
		{ "core.align=0", 0, "override: [core] align: 0 is not a power of two" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tcfg c = fresh();
		char err[CFG_ERRLEN] = "";
		int rc = cfg_override(keys, NKEYS, &c, cases[i].assignment, err, sizeof(err));
		const char *a = cases[i].assignment;
		if (cases[i].err) {
			cr_expect_eq(rc, -EINVAL, "%s", a);
			cr_expect_str_eq(err, cases[i].err, "%s", a);
		} else {
			cr_expect_eq(rc, 0, "%s: %s", a, err);
			uint64_t got = strncmp(a, "core.buf", 8) == 0 ? c.buf_bytes :
				       strncmp(a, "core.ring", 9) == 0 ? c.ring_bytes : c.align;
			cr_expect_eq(got, cases[i].want, "%s: got %llu", a, (unsigned long long)got);
		}
	}
}

Test(config, booleans_levels_uints)
{
	static const struct {
		const char *assignment;
		int want; /* -1: error */
	} cases[] = {
		{ "core.verbose=true", 1 }, { "core.verbose=TRUE", 1 }, { "core.verbose=yes", 1 },
		{ "core.verbose=On", 1 },   { "core.verbose=1", 1 },    { "core.verbose=false", 0 },
		{ "core.verbose=No", 0 },   { "core.verbose=off", 0 },  { "core.verbose=0", 0 },
		{ "core.verbose=2", -1 },   { "core.verbose=y", -1 },   { "core.verbose=", -1 },
		{ "core.verbose=truee", -1 }, { "core.verbose= true", -1 },
		{ "log.level=err", LOG_LVL_ERR },         { "log.level=error", LOG_LVL_ERR },
		{ "log.level=warn", LOG_LVL_WARNING },    { "log.level=WARNING", LOG_LVL_WARNING },
		{ "log.level=notice", LOG_LVL_NOTICE },   { "log.level=info", LOG_LVL_INFO },
		{ "log.level=debug", LOG_LVL_DEBUG },     { "log.level=3", LOG_LVL_ERR },
		{ "log.level=7", LOG_LVL_DEBUG },         { "log.level=2", -1 },
		{ "log.level=8", -1 },                    { "log.level=trace", -1 },
		{ "log.level=", -1 },                     { "log.level=37", -1 },
		{ "core.workers=1", 1 },    { "core.workers=64", 64 },  { "core.workers=064", 64 },
		{ "core.workers=65", -1 },  { "core.workers=0", -1 },   { "core.workers=+5", -1 },
		{ "core.workers=5 ", -1 },  { "core.workers=4294967297", -1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tcfg c = fresh();
		char err[CFG_ERRLEN] = "";
		const char *a = cases[i].assignment;
		int rc = cfg_override(keys, NKEYS, &c, a, err, sizeof(err));
		if (cases[i].want < 0) {
			cr_expect_eq(rc, -EINVAL, "%s", a);
			/* The error names the section and the key. */
			char prefix[64];
			snprintf(prefix, sizeof(prefix), "override: [%.*s] %.*s: ", (int)strcspn(a, "."), a,
				 (int)(strcspn(a, "=") - strcspn(a, ".") - 1), a + strcspn(a, ".") + 1);
			cr_expect_eq(strncmp(err, prefix, strlen(prefix)), 0, "%s: '%s'", a, err);
			continue;
		}
		cr_expect_eq(rc, 0, "%s: %s", a, err);
		int got = a[0] == 'l' ? c.level : a[5] == 'v' ? (int)c.verbose : (int)c.workers;
		cr_expect_eq(got, cases[i].want, "%s", a);
	}
}

Test(config, override_syntax)
{
	static const struct {
		const char *assignment;
		const char *err;
	} cases[] = {
		{ "workers=8", "override 'workers=8': expected section.key=value" },
		{ "core.workers", "override 'core.workers': expected section.key=value" },
		{ "=8", "override '=8': expected section.key=value" },
		{ ".workers=8", "override '.workers=8': expected section.key=value" },
		{ "core.=8", "override 'core.=8': expected section.key=value" },
		{ "core=x.y", "override 'core=x.y': expected section.key=value" },
		{ "", "override '': expected section.key=value" },
		{ "core.nope=1", "override: [core] unknown key 'nope'" },
		{ "nope.workers=1", "override: [nope] unknown key 'workers'" },
		{ "core.workers=x", "override: [core] workers: 'x' is not an unsigned integer" },
		{ "core.workers.x=1", "override: [core] unknown key 'workers.x'" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tcfg c = fresh();
		char err[CFG_ERRLEN] = "";
		cr_expect_eq(cfg_override(keys, NKEYS, &c, cases[i].assignment, err, sizeof(err)), -EINVAL,
			     "'%s'", cases[i].assignment);
		cr_expect_str_eq(err, cases[i].err, "'%s'", cases[i].assignment);
	}

	/* Section and key names longer than the parser's buffers are refused,
	 * not truncated into a different key. */
	char long_sec[200], long_key[200], err[CFG_ERRLEN];
	struct tcfg c = fresh();
	snprintf(long_sec, sizeof(long_sec), "%0100d.workers=1", 0);
	cr_expect_eq(cfg_override(keys, NKEYS, &c, long_sec, err, sizeof(err)), -EINVAL);
	snprintf(long_key, sizeof(long_key), "core.workers%090d=1", 0);
	cr_expect_eq(cfg_override(keys, NKEYS, &c, long_key, err, sizeof(err)), -EINVAL);
	cr_expect_eq(c.workers, 4);

	/* Good ones: the value may contain '=' and '.'. */
	cr_expect_eq(cfg_override(keys, NKEYS, &c, "net.name=a=b.c", err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(c.name, "a=b.c");
	cr_expect_eq(cfg_override(keys, NKEYS, &c, "core.workers=9", err, sizeof(err)), 0);
	cr_expect_eq(c.workers, 9);
}

Test(config, strings)
{
	struct tcfg c = fresh();
	char err[CFG_ERRLEN];

	cr_assert_eq(cfg_override(keys, NKEYS, &c, "net.name=0123456789abcde", err, sizeof(err)), 0);
	cr_assert_str_eq(c.name, "0123456789abcde");
	cr_assert_eq(cfg_override(keys, NKEYS, &c, "net.name=0123456789abcdef", err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "override: [net] name: length 16 is outside 1..15");
	cr_assert_str_eq(c.name, "0123456789abcde", "a refused value leaves the old one");
	cr_assert_eq(cfg_override(keys, NKEYS, &c, "net.name=", err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "override: [net] name: length 0 is outside 1..15");
}

/* A list key: every occurrence adds to it, so a long list spans lines. */
Test(config, list_keys_append)
{
	struct lcfg {
		char users[24];
		char name[8];
	} c;
	static const struct cfg_key lk[] = {
		{ "turn", "user", CFG_STRING, offsetof(struct lcfg, users), sizeof(c.users), 0, 0, "",
		  "users", CFG_APPEND },
		{ "turn", "name", CFG_STRING, offsetof(struct lcfg, name), sizeof(c.name), 0, 0, "x",
		  "plain", 0 },
	};
	static const struct cfg_key bad[] = {
		{ "turn", "user", CFG_STRING, offsetof(struct lcfg, users), sizeof(c.users), 0, 0, "a",
		  "users", CFG_APPEND },
	};
	char err[CFG_ERRLEN];

	memset(&c, 0xcc, sizeof(c));
	cr_assert_eq(cfg_defaults(lk, 2, &c, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(c.users, "");
	cr_assert_eq(cfg_load_string(lk, 2, &c, "[turn]\nuser = a:1\nname = y\nuser = b:2,c:3\nname = z\n",
				     err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(c.users, "a:1,b:2,c:3");
	cr_expect_str_eq(c.name, "z", "a plain key is replaced");
	cr_assert_eq(cfg_override(lk, 2, &c, "turn.user=d:4", err, sizeof(err)), 0);
	cr_expect_str_eq(c.users, "a:1,b:2,c:3,d:4");
	cr_expect_eq(cfg_override(lk, 2, &c, "turn.user=eeeeeeeeeee", err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, "override: [turn] user: the list would exceed 23 bytes");
	cr_expect_str_eq(c.users, "a:1,b:2,c:3,d:4", "a refused value leaves the list");
	cr_assert_eq(cfg_override(lk, 2, &c, "turn.user=", err, sizeof(err)), 0);
	cr_expect_str_eq(c.users, "", "an empty occurrence clears the list");
	cr_assert_eq(cfg_override(lk, 2, &c, "turn.user=f:5", err, sizeof(err)), 0);
	cr_expect_str_eq(c.users, "f:5");
	cr_expect_eq(cfg_defaults(bad, 1, &c, err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, "[turn] user: a list key must be a string with an empty default");
}

Test(config, bad_table_default)
{
	static const struct cfg_key bad[] = {
		{ "core", "workers", CFG_UINT, F(workers), 0, 1, 64, "100", "worker threads", 0 },
	};
	struct tcfg c;
	char err[CFG_ERRLEN];
	cr_assert_eq(cfg_defaults(bad, 1, &c, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "built-in default of [core] workers: 100 is outside 1..64");
}

Test(config, example_and_values_round_trip)
{
	char *buf = NULL, err[CFG_ERRLEN];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cfg_print_example(keys, NKEYS, "test daemon", f);
	fclose(f);

	/* Every key appears, documented, with its default. */
	for (size_t i = 0; i < NKEYS; i++) {
		char line[128];
		snprintf(line, sizeof(line), "\n%s = %s\n", keys[i].name, keys[i].def);
		cr_expect_not_null(strstr(buf, line), "example lacks '%s'", line + 1);
		cr_expect_not_null(strstr(buf, keys[i].help), "example lacks help of %s", keys[i].name);
	}
	cr_expect_not_null(strstr(buf, "power of two"));

	/* The example loads cleanly and yields the defaults. */
	struct tcfg c = fresh(), d = fresh();
	c.workers = 33;
	cr_assert_eq(cfg_load_string(keys, NKEYS, &c, buf, err, sizeof(err)), 0, "%s", err);
	char *a = values(&c), *b = values(&d);
	cr_expect_str_eq(a, b);
	free(a);
	free(b);
	free(buf);

	/* Printed values load back to the same values. */
	c = fresh();
	cr_assert_eq(cfg_load_file(keys, NKEYS, &c, SP_TEST_DATA "/config/good_all.ini", err,
				   sizeof(err)),
		     0, "%s", err);
	a = values(&c);
	d = fresh();
	cr_assert_eq(cfg_load_string(keys, NKEYS, &d, a, err, sizeof(err)), 0, "%s", err);
	b = values(&d);
	cr_expect_str_eq(a, b);
	free(a);
	free(b);
}
