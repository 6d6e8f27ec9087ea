/*
 * config: table-driven INI configuration (libinih underneath).
 *
 * Each process describes its keys once in a `struct cfg_key` table: section,
 * name, type, where the value goes in its config struct, limits, default and
 * a help line. The same table loads defaults, parses the file, applies
 * command-line overrides (`-o section.key=value`) and prints the documented
 * example (`--print-config`), so the example under deploy/ cannot drift from
 * the code. Every error names the file, line, section and key.
 */
#ifndef SP_CONFIG_H
#define SP_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum cfg_type {
	CFG_UINT,     /* uint32_t, decimal, within [min, max] */
	CFG_SIZE,     /* uint64_t with optional K/M/G suffix (powers of 1024) */
	CFG_BOOL,     /* bool: true/false, yes/no, on/off, 1/0 */
	CFG_STRING,   /* char[size] */
	CFG_LOGLEVEL, /* int: err, warning, notice, info, debug */
};

struct cfg_key {
	const char *section;
	const char *name;
	enum cfg_type type;
	size_t offset; /* into the config struct */
	size_t size;   /* CFG_STRING: buffer size */
	uint64_t min, max;
	const char *def;  /* default, as it would be written in the file */
	const char *help; /* one line for the example file */
	unsigned flags;
};
#define CFG_POW2 1u /* CFG_SIZE must be a power of two */
/* CFG_STRING list: every occurrence (file lines, -o overrides) adds its
 * value, comma-separated, so long lists can span lines; an empty value
 * clears the list. The default must be empty. */
#define CFG_APPEND 2u

#define CFG_ERRLEN 256

/* Load every default. 0, or -EINVAL with err set (a bad table). */
int cfg_defaults(const struct cfg_key *keys, size_t n, void *obj, char *err, size_t errlen);
/* Parse an INI file on top of what obj holds. Unknown sections or keys are
 * errors (a typo must not be silently ignored). 0 or -errno with err set. */
int cfg_load_file(const struct cfg_key *keys, size_t n, void *obj, const char *path,
		  char *err, size_t errlen);
/* Same, from a string (tests, fuzzing). */
int cfg_load_string(const struct cfg_key *keys, size_t n, void *obj, const char *text,
		    char *err, size_t errlen);
/* Apply "section.key=value". 0 or -EINVAL with err set. */
int cfg_override(const struct cfg_key *keys, size_t n, void *obj, const char *assignment,
		 char *err, size_t errlen);
/* Write a commented example holding every key with its default. */
void cfg_print_example(const struct cfg_key *keys, size_t n, const char *title, FILE *out);
/* Write the values obj holds, as INI. */
void cfg_print_values(const struct cfg_key *keys, size_t n, const void *obj, FILE *out);

#endif

/*
 * Command line shared by the daemons: -c FILE, -o section.key=value
 * (repeatable, applied after the file), --print-config (documented example
 * on stdout), --show-config (effective values), -h, -V.
 * Returns 0 to run, 1 when the caller should exit 0 (help/version/print
 * done), or -EINVAL after printing the error to stderr.
 */
int cfg_from_args(const struct cfg_key *keys, size_t n, void *obj, int argc, char **argv,
		  const char *prog, const char *title);
