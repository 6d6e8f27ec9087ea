/*
 * fuzz_config: the INI loader over a key table holding every key type.
 *
 * The input is loaded as a config text (cfg_load_string) and applied as a
 * command-line override (cfg_override). Whatever it says, the call either
 * fails with a terminated error message or leaves every value inside its
 * declared limits; the values then print (into memory) without trouble.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

struct fcfg {
	uint32_t workers;
	uint64_t ring_bytes;
	uint64_t buf_bytes;
	bool verbose;
	char name[24];
	char path[200];
	int level;
};

#define F(f) offsetof(struct fcfg, f)
static const struct cfg_key keys[] = {
	{ "core", "workers", CFG_UINT, F(workers), 0, 1, 128, "2", "workers", 0 },
	{ "core", "ring_bytes", CFG_SIZE, F(ring_bytes), 0, 4096, 1ull << 30, "64K", "ring", CFG_POW2 },
	{ "core", "buf_bytes", CFG_SIZE, F(buf_bytes), 0, 0, UINT64_MAX, "1M", "buffer", 0 },
	{ "core", "verbose", CFG_BOOL, F(verbose), 0, 0, 0, "no", "verbose", 0 },
	{ "net", "name", CFG_STRING, F(name), sizeof(((struct fcfg *)0)->name), 1, 0, "sp", "name", 0 },
	{ "net", "path", CFG_STRING, F(path), sizeof(((struct fcfg *)0)->path), 0, 0, "", "path", 0 },
	{ "log", "level", CFG_LOGLEVEL, F(level), 0, 0, 0, "info", "level", 0 },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size);

static void check(const struct fcfg *c, int rc, const char *err)
{
	if (rc < 0) {
		if (strnlen(err, CFG_ERRLEN) >= CFG_ERRLEN || err[0] == '\0')
			abort();
		return;
	}
	if (rc != 0 || c->workers < 1 || c->workers > 128 || c->ring_bytes < 4096 ||
	    c->ring_bytes > (1ull << 30) || (c->ring_bytes & (c->ring_bytes - 1)) ||
	    strnlen(c->name, sizeof(c->name)) >= sizeof(c->name) || c->name[0] == '\0' ||
	    strnlen(c->path, sizeof(c->path)) >= sizeof(c->path) || c->level < LOG_LVL_ERR ||
	    c->level > LOG_LVL_DEBUG)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size)
{
	static char out[8192];
	char err[CFG_ERRLEN];
	struct fcfg c;
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, buf, size);
	text[size] = '\0';

	if (cfg_defaults(keys, NKEYS, &c, err, sizeof(err)) != 0)
		abort();
	memset(err, 0, sizeof(err));
	int rc = cfg_load_string(keys, NKEYS, &c, text, err, sizeof(err));
	check(&c, rc, err);

	memset(err, 0, sizeof(err));
	rc = cfg_override(keys, NKEYS, &c, text, err, sizeof(err));
	check(&c, rc, err);

	/* A small error buffer is still terminated. */
	char tiny[8] = "";
	(void)cfg_load_string(keys, NKEYS, &c, text, tiny, sizeof(tiny));
	if (strnlen(tiny, sizeof(tiny)) >= sizeof(tiny))
		abort();

	FILE *f = fmemopen(out, sizeof(out), "w");
	if (f) {
		cfg_print_values(keys, NKEYS, &c, f);
		fclose(f);
	}
	free(text);
	return 0;
}
