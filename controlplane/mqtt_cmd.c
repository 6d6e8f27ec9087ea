/* mqtt_cmd: MQTT command payloads into control-socket parameters (see mqtt_cmd.h). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "mqtt_cmd.h"
#include "strbuf.h"

static const char *const status_names[MQTT_CMD__COUNT] = {
	[MQTT_CMD_OK] = "ok",
	[MQTT_CMD_TOO_BIG] = "too_big",
	[MQTT_CMD_BAD_JSON] = "bad_json",
	[MQTT_CMD_BAD_ID] = "bad_id",
	[MQTT_CMD_BAD_PARAMS] = "bad_params",
	[MQTT_CMD_BAD_VALUE] = "bad_value",
	[MQTT_CMD_TOO_LONG] = "too_long",
};

const char *mqtt_cmd_status_name(enum mqtt_cmd_status st)
{
	return (unsigned)st < MQTT_CMD__COUNT ? status_names[st] : "?";
}

static bool key_ok(const char *k)
{
	size_t n = strlen(k);

	if (n == 0 || n > 32)
		return false;
	for (; *k; k++)
		if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_'))
			return false;
	return true;
}

/* The ctl handlers split on '&' and ' ' and only see printable ASCII. */
static bool str_value_ok(const char *v)
{
	for (; *v; v++)
		if (*v <= 0x20 || *v >= 0x7f || *v == '&')
			return false;
	return true;
}

/* Render one value into out; false when its type or content is refused. */
static bool value_str(const cJSON *v, char *out, size_t outlen)
{
	if (cJSON_IsString(v)) {
		if (!v->valuestring[0] || !str_value_ok(v->valuestring) ||
		    strlen(v->valuestring) >= outlen)
			return false;
		strcpy(out, v->valuestring);
		return true;
	}
	if (cJSON_IsBool(v)) {
		snprintf(out, outlen, "%d", cJSON_IsTrue(v) ? 1 : 0);
		return true;
	}
	if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		/* integers only, and exactly representable */
		if (!(d >= 0 && d <= 9007199254740991.0) || (double)(uint64_t)d != d)
			return false;
		snprintf(out, outlen, "%.0f", d);
		return true;
	}
	return false;
}

static enum mqtt_cmd_status fail(enum mqtt_cmd_status st, const char *msg, const char **why)
{
	*why = msg;
	return st;
}

static enum mqtt_cmd_status render(const cJSON *params, const char *const *positional,
				   struct strbuf *sb, const char **why)
{
	char val[CTLSOCK_MAX_REQ_LEN + 1];
	unsigned nkeys = 0;
	const cJSON *it;

	cJSON_ArrayForEach(it, params) {
		if (++nkeys > MQTT_CMD_MAX_KEYS)
			return fail(MQTT_CMD_BAD_PARAMS, "too many params", why);
		if (!it->string || !key_ok(it->string))
			return fail(MQTT_CMD_BAD_PARAMS, "param names are [a-z0-9_], at most 32", why);
		for (const cJSON *o = params->child; o != it; o = o->next)
			if (!strcmp(o->string, it->string))
				return fail(MQTT_CMD_BAD_PARAMS, "duplicate param", why);
		if (!value_str(it, val, sizeof(val)))
			return fail(MQTT_CMD_BAD_VALUE, "param values are non-empty strings "
				    "(printable, no space or '&'), non-negative integers or booleans", why);
		if (positional) {
			bool known = false;
			for (const char *const *k = positional; *k; k++)
				known |= !strcmp(*k, it->string);
			if (!known)
				return fail(MQTT_CMD_BAD_PARAMS, "unknown param", why);
		} else {
			if (sb->len)
				strbuf_puts(sb, "&");
			strbuf_puts(sb, it->string);
			strbuf_puts(sb, "=");
			strbuf_puts(sb, val);
		}
	}
	for (const char *const *k = positional; k && *k; k++) {
		it = cJSON_GetObjectItemCaseSensitive(params, *k);
		if (!it)
			return fail(MQTT_CMD_BAD_PARAMS, "missing param", why);
		value_str(it, val, sizeof(val));
		if (sb->len)
			strbuf_puts(sb, " ");
		strbuf_puts(sb, val);
	}
	if (sb->full)
		return fail(MQTT_CMD_TOO_LONG, "params too long", why);
	return MQTT_CMD_OK;
}

enum mqtt_cmd_status mqtt_cmd_parse(const void *buf, size_t len, const char *const *positional,
				    struct mqtt_cmd_req *out, const char **why)
{
	enum mqtt_cmd_status st;
	const cJSON *id, *params;
	cJSON *root;

	memset(out, 0, sizeof(*out));
	*why = "ok";
	if (len > MQTT_CMD_MAX_PAYLOAD)
		return fail(MQTT_CMD_TOO_BIG, "payload too big", why);
	root = cJSON_ParseWithLength(buf, len);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return fail(MQTT_CMD_BAD_JSON, "payload is not a JSON object", why);
	}
	id = cJSON_GetObjectItemCaseSensitive(root, "id");
	if (!cJSON_IsString(id) || !id->valuestring[0] || strlen(id->valuestring) > MQTT_CMD_ID_LEN ||
	    !str_value_ok(id->valuestring)) {
		st = fail(MQTT_CMD_BAD_ID, "\"id\" must be a printable string of 1-64 bytes", why);
		goto out;
	}
	strcpy(out->id, id->valuestring);
	params = cJSON_GetObjectItemCaseSensitive(root, "params");
	if (params && !cJSON_IsObject(params) && !cJSON_IsNull(params)) {
		st = fail(MQTT_CMD_BAD_PARAMS, "\"params\" must be an object", why);
		goto out;
	}
	struct strbuf sb = { .p = out->params, .cap = sizeof(out->params) };
	static const cJSON empty = { .type = cJSON_Object };
	st = render(cJSON_IsObject(params) ? params : &empty, positional, &sb, why);
	if (st != MQTT_CMD_OK)
		out->params[0] = '\0';
out:
	cJSON_Delete(root);
	return st;
}

static bool level_ok(const char *s, size_t len, size_t max, bool ident)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || c == '_' ||
			  (ident && ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
				     c == '.' || c == '-'));
		if (!ok)
			return false;
	}
	return true;
}

bool mqtt_cmd_name_ok(const char *s, size_t len)
{
	return level_ok(s, len, MQTT_CMD_NAME_LEN, false);
}

bool mqtt_cmd_identity_ok(const char *s, size_t len)
{
	return level_ok(s, len, MQTT_CMD_IDENTITY_LEN, true);
}

static bool match(const char *pat, size_t plen, const char *s)
{
	if (plen && pat[plen - 1] == '*')
		return !strncmp(pat, s, plen - 1);
	return strlen(s) == plen && !strncmp(pat, s, plen);
}

bool mqtt_cmd_allowed(const char *rules, const char *identity, const char *name)
{
	const char *p = rules;

	while (p && *p) {
		while (*p == ',' || *p == ' ')
			p++;
		size_t n = strcspn(p, ", ");
		const char *colon = memchr(p, ':', n);
		if (colon && match(p, (size_t)(colon - p), identity) &&
		    match(colon + 1, n - (size_t)(colon + 1 - p), name))
			return true;
		p += n;
	}
	return false;
}
