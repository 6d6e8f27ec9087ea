/* config: table-driven INI parsing on libinih (see config.h). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

static const struct cfg_key *find_key(const struct cfg_key *keys, size_t n, const char *section,
				      const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static bool section_known(const struct cfg_key *keys, size_t n, const char *section)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i].section, section) == 0)
			return true;
	return false;
}

static int parse_u64(const char *s, uint64_t *out, bool suffix)
{
	char *end;
	uint64_t mul = 1;

	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (suffix && *end) {
		switch (toupper((unsigned char)*end)) {
		case 'K': mul = 1ull << 10; break;
		case 'M': mul = 1ull << 20; break;
		case 'G': mul = 1ull << 30; break;
		default: return -EINVAL;
		}
		end++;
		if (toupper((unsigned char)*end) == 'I' && toupper((unsigned char)end[1]) == 'B')
			end += 2;
		else if (toupper((unsigned char)*end) == 'B')
			end++;
	}
	if (*end)
		return -EINVAL;
	if (v > UINT64_MAX / mul)
		return -ERANGE;
	*out = v * mul;
	return 0;
}

static int set_value(const struct cfg_key *k, void *obj, const char *value, char *why, size_t wl,
		     bool append)
{
	char *dst = (char *)obj + k->offset;
	uint64_t v;

	switch (k->type) {
	case CFG_UINT:
	case CFG_SIZE:
		if (parse_u64(value, &v, k->type == CFG_SIZE) < 0) {
			snprintf(why, wl, "'%s' is not %s", value,
				 k->type == CFG_SIZE ? "a size (e.g. 4096, 64K, 1M)" : "an unsigned integer");
			return -EINVAL;
		}
		if (v < k->min || v > k->max) {
			snprintf(why, wl, "%" PRIu64 " is outside %" PRIu64 "..%" PRIu64, v, k->min, k->max);
			return -EINVAL;
		}
		if ((k->flags & CFG_POW2) && (v == 0 || (v & (v - 1)))) {
			snprintf(why, wl, "%" PRIu64 " is not a power of two", v);
			return -EINVAL;
		}
		if (k->type == CFG_UINT) {
			uint32_t u = (uint32_t)v;
			memcpy(dst, &u, sizeof(u));
		} else {
			memcpy(dst, &v, sizeof(v));
		}
		return 0;
	case CFG_BOOL: {
		bool b;
		if (!strcasecmp(value, "true") || !strcasecmp(value, "yes") || !strcasecmp(value, "on") ||
		    !strcmp(value, "1"))
			b = true;
		else if (!strcasecmp(value, "false") || !strcasecmp(value, "no") ||
			 !strcasecmp(value, "off") || !strcmp(value, "0"))
			b = false;
		else {
			snprintf(why, wl, "'%s' is not a boolean (true/false)", value);
			return -EINVAL;
		}
		memcpy(dst, &b, sizeof(b));
		return 0;
	}
	case CFG_STRING: {
		size_t len = strlen(value), have = 0;
		if (append && (k->flags & CFG_APPEND) && *dst && *value) {
			have = strnlen(dst, k->size);
			if (have + 1 + len >= k->size) {
				snprintf(why, wl, "the list would exceed %zu bytes", k->size - 1);
				return -EINVAL;
			}
			dst[have++] = ',';
		} else if (len >= k->size || len < k->min) {
			snprintf(why, wl, "length %zu is outside %" PRIu64 "..%zu", len, k->min, k->size - 1);
			return -EINVAL;
		}
		memcpy(dst + have, value, len + 1);
		return 0;
	}
	case CFG_LOGLEVEL: {
		int l = log_level_parse(value);
		if (l < 0) {
			snprintf(why, wl, "'%s' is not a log level (err, warning, notice, info, debug)", value);
			return -EINVAL;
		}
		memcpy(dst, &l, sizeof(l));
		return 0;
	}
	}
	snprintf(why, wl, "bad key type");
	return -EINVAL;
}

int cfg_defaults(const struct cfg_key *keys, size_t n, void *obj, char *err, size_t errlen)
{
	char why[160];

	for (size_t i = 0; i < n; i++) {
		if ((keys[i].flags & CFG_APPEND) && (keys[i].type != CFG_STRING || keys[i].def[0])) {
			snprintf(err, errlen, "[%s] %s: a list key must be a string with an empty default",
				 keys[i].section, keys[i].name);
			return -EINVAL;
		}
		if (set_value(&keys[i], obj, keys[i].def, why, sizeof(why), false) < 0) {
			snprintf(err, errlen, "built-in default of [%s] %s: %s", keys[i].section,
				 keys[i].name, why);
			return -EINVAL;
		}
	}
	return 0;
}

struct line_reader;

struct load_ctx {
	const struct cfg_key *keys;
	size_t n;
	void *obj;
	const char *origin;
	char *err;
	size_t errlen;
	int failed; /* line of the first error a handler reported, or 0 */
	struct line_reader *reader;
};

static int on_entry(void *user, const char *section, const char *name, const char *value,
		    int lineno)
{
	struct load_ctx *c = user;
	const struct cfg_key *k;
	char why[160];

	if (c->failed)
		return 0;
	if (!name) /* a section header alone */
		return 1;
	if (!section_known(c->keys, c->n, section)) {
		snprintf(c->err, c->errlen, "%s line %d: unknown section [%s] (key '%s')", c->origin,
			 lineno, section, name);
		c->failed = lineno;
		return 0;
	}
	k = find_key(c->keys, c->n, section, name);
	if (!k) {
		snprintf(c->err, c->errlen, "%s line %d: [%s] unknown key '%s'", c->origin, lineno,
			 section, name);
		c->failed = lineno;
		return 0;
	}
	if (set_value(k, c->obj, value ? value : "", why, sizeof(why), true) < 0) {
		snprintf(c->err, c->errlen, "%s line %d: [%s] %s: %s", c->origin, lineno, section, name,
			 why);
		c->failed = lineno;
		return 0;
	}
	return 1;
}

/* inih as Debian builds it does not pass line numbers: count them in the
 * reader instead (the handler runs right after its line was read). */
struct line_reader {
	FILE *f;          /* file source, or */
	const char *text; /* string source */
	int line;         /* number of the line last returned */
	int at_line_start;
	int too_long;     /* line number of a line that did not fit, or 0 */
	int max_len;      /* longest line inih takes whole */
};

static bool reader_at_end(struct line_reader *r)
{
	if (!r->f)
		return *r->text == '\0';
	int ch = getc(r->f);
	if (ch == EOF)
		return true;
	ungetc(ch, r->f);
	return false;
}

static char *read_line(char *str, int num, void *stream)
{
	struct line_reader *r = stream;
	char *out;

	if (num < 2)
		return NULL;
	if (r->f) {
		out = fgets(str, num, r->f);
	} else {
		const char *p = r->text;
		int i = 0;
		if (!*p)
			return NULL;
		while (*p && i < num - 1) {
			str[i++] = *p;
			if (*p++ == '\n')
				break;
		}
		str[i] = '\0';
		r->text = p;
		out = str;
	}
	if (out) {
		if (r->at_line_start)
			r->line++;
		size_t len = strlen(out);
		r->at_line_start = len > 0 && out[len - 1] == '\n';
		/* A longer line would reach inih in pieces, each parsed as a line
		 * of its own (a long comment's tail as a key): refuse it. */
		if (!r->at_line_start && !reader_at_end(r)) {
			r->too_long = r->line;
			r->max_len = num - 2;
			return NULL;
		}
	}
	return out;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *c = user;
	return on_entry(user, section, name, value, c->reader->line);
}

static int finish(struct load_ctx *c, int rc)
{
	/* inih keeps parsing after a syntax error: report whichever error
	 * comes first in the file. */
	if (c->failed && (rc <= 0 || c->failed <= rc))
		return -EINVAL;
	if (rc == -2) {
		snprintf(c->err, c->errlen, "%s: out of memory", c->origin);
		return -ENOMEM;
	}
	if (rc != 0) {
		snprintf(c->err, c->errlen, "%s line %d: syntax error", c->origin, rc > 0 ? rc : 0);
		return -EINVAL;
	}
	if (c->reader->too_long) {
		snprintf(c->err, c->errlen, "%s line %d: line longer than %d characters", c->origin,
			 c->reader->too_long, c->reader->max_len);
		return -EINVAL;
	}
	return 0;
}

int cfg_load_file(const struct cfg_key *keys, size_t n, void *obj, const char *path, char *err,
		  size_t errlen)
{
	struct line_reader r = { .at_line_start = 1 };
	struct load_ctx c = { keys, n, obj, path, err, errlen, 0, &r };
	int rc;

	r.f = fopen(path, "re");
	if (!r.f) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
		return -e;
	}
	errno = 0;
	rc = finish(&c, ini_parse_stream(read_line, &r, handler, &c));
	if (rc == 0 && ferror(r.f)) {
		/* fgets failing looks like the end of the file (a directory). */
		int e = errno ? errno : EIO;
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(e));
		rc = -e;
	}
	fclose(r.f);
	return rc;
}

int cfg_load_string(const struct cfg_key *keys, size_t n, void *obj, const char *text, char *err,
		    size_t errlen)
{
	struct line_reader r = { .text = text, .at_line_start = 1 };
	struct load_ctx c = { keys, n, obj, "config", err, errlen, 0, &r };
	return finish(&c, ini_parse_stream(read_line, &r, handler, &c));
}

int cfg_override(const struct cfg_key *keys, size_t n, void *obj, const char *assignment,
		 char *err, size_t errlen)
{
	char section[64], name[64], why[160];
	const char *dot = strchr(assignment, '.');
	const char *eq = strchr(assignment, '=');
	const struct cfg_key *k;

	if (!dot || !eq || dot > eq || (size_t)(dot - assignment) >= sizeof(section) ||
	    (size_t)(eq - dot - 1) >= sizeof(name) || dot == assignment || eq == dot + 1) {
		snprintf(err, errlen, "override '%s': expected section.key=value", assignment);
		return -EINVAL;
	}
	memcpy(section, assignment, (size_t)(dot - assignment));
	section[dot - assignment] = '\0';
	memcpy(name, dot + 1, (size_t)(eq - dot - 1));
	name[eq - dot - 1] = '\0';
	k = find_key(keys, n, section, name);
	if (!k) {
		snprintf(err, errlen, "override: [%s] unknown key '%s'", section, name);
		return -EINVAL;
	}
	if (set_value(k, obj, eq + 1, why, sizeof(why), true) < 0) {
		snprintf(err, errlen, "override: [%s] %s: %s", section, name, why);
		return -EINVAL;
	}
	return 0;
}

static void print_range(const struct cfg_key *k, FILE *out)
{
	switch (k->type) {
	case CFG_UINT:
		fprintf(out, " (%" PRIu64 "..%" PRIu64 ")", k->min, k->max);
		break;
	case CFG_SIZE:
		fprintf(out, " (bytes, K/M/G suffix; %" PRIu64 "..%" PRIu64 "%s)", k->min, k->max,
			k->flags & CFG_POW2 ? ", power of two" : "");
		break;
	case CFG_BOOL:
		fprintf(out, " (true/false)");
		break;
	case CFG_LOGLEVEL:
		fprintf(out, " (err, warning, notice, info, debug)");
		break;
	case CFG_STRING:
		if (k->flags & CFG_APPEND)
			fprintf(out, " (list, at most %zu bytes; each line adds, an empty one clears)", k->size - 1);
		else
			fprintf(out, " (text, at most %zu bytes)", k->size - 1);
		break;
	}
}

void cfg_print_example(const struct cfg_key *keys, size_t n, const char *title, FILE *out)
{
	const char *cur = NULL;

	fprintf(out, "# %s\n# Every key with its default. Generated by --print-config; edit freely.\n",
		title);
	for (size_t i = 0; i < n; i++) {
		const struct cfg_key *k = &keys[i];
		if (!cur || strcmp(cur, k->section) != 0) {
			fprintf(out, "\n[%s]\n", k->section);
			cur = k->section;
		}
		fprintf(out, "# %s", k->help);
		print_range(k, out);
		fprintf(out, "\n%s = %s\n", k->name, k->def);
	}
}

void cfg_print_values(const struct cfg_key *keys, size_t n, const void *obj, FILE *out)
{
	const char *cur = NULL;

	for (size_t i = 0; i < n; i++) {
		const struct cfg_key *k = &keys[i];
		const char *src = (const char *)obj + k->offset;
		if (!cur || strcmp(cur, k->section) != 0) {
			fprintf(out, "%s[%s]\n", cur ? "\n" : "", k->section);
			cur = k->section;
		}
		fprintf(out, "%s = ", k->name);
		switch (k->type) {
		case CFG_UINT: {
			uint32_t u;
			memcpy(&u, src, sizeof(u));
			fprintf(out, "%" PRIu32 "\n", u);
			break;
		}
		case CFG_SIZE: {
			uint64_t v;
			memcpy(&v, src, sizeof(v));
			fprintf(out, "%" PRIu64 "\n", v);
			break;
		}
		case CFG_BOOL: {
			bool b;
			memcpy(&b, src, sizeof(b));
			fprintf(out, "%s\n", b ? "true" : "false");
			break;
		}
		case CFG_STRING:
			fprintf(out, "%s\n", src);
			break;
		case CFG_LOGLEVEL: {
			int l;
			memcpy(&l, src, sizeof(l));
			fprintf(out, "%s\n", log_level_name(l));
			break;
		}
		}
	}
}

#include <getopt.h>

int cfg_from_args(const struct cfg_key *keys, size_t n, void *obj, int argc, char **argv,
		  const char *prog, const char *title)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "set", required_argument, NULL, 'o' },
		{ "print-config", no_argument, NULL, 'P' },
		{ "show-config", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	char err[CFG_ERRLEN];
	const char *file = NULL;
	bool show = false;
	int c;

	if (cfg_defaults(keys, n, obj, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return -EINVAL;
	}
	/* First pass: find the file, so overrides apply on top of it. */
	optind = 1;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "c:o:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': file = optarg; break;
		case 'o': break;
		case 'P': cfg_print_example(keys, n, title, stdout); return 1;
		case 'S': show = true; break;
		case 'h':
			printf("usage: %s [-c FILE] [-o section.key=value]... [--print-config] "
			       "[--show-config] [-V]\n"
			       "  -c, --config FILE     INI configuration (see --print-config)\n"
			       "  -o, --set S.K=V       override one key, after the file\n"
			       "      --print-config    print every key, documented, with defaults\n"
			       "      --show-config     print the effective configuration and exit\n",
			       prog);
			return 1;
		case 'V': printf("%s %s\n", prog, SP_VERSION); return 1;
		default: return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
		return -EINVAL;
	}
	if (file && cfg_load_file(keys, n, obj, file, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return -EINVAL;
	}
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:o:hV", opts, NULL)) != -1) {
		if (c == 'o' && cfg_override(keys, n, obj, optarg, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s: %s\n", prog, err);
			return -EINVAL;
		}
	}
	if (show) {
		cfg_print_values(keys, n, obj, stdout);
		return 1;
	}
	return 0;
}
