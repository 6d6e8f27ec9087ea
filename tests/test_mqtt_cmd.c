/*
 * mqtt_cmd and mqtt_idem tests: command payloads as a table (good ones and
 * every refusal reason), topic levels, authorisation rules, and the
 * idempotency cache's lookups, replacement and eviction.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt_cmd.h"
#include "mqtt_idem.h"

struct pcase {
	const char *payload;
	int positional; /* 0: k=v, 1: {device, streampoint} */
	enum mqtt_cmd_status st;
	const char *id, *params;
};

static const struct pcase pcases[] = {
	{ "{\"id\":\"a1\"}", 0, MQTT_CMD_OK, "a1", "" },
	{ "{\"id\":\"a1\",\"params\":null}", 0, MQTT_CMD_OK, "a1", "" },
	{ "{\"id\":\"a1\",\"params\":{}}", 0, MQTT_CMD_OK, "a1", "" },
	{ "{\"id\":\"a1\",\"params\":{\"id\":7,\"port\":\"5004\"}}", 0, MQTT_CMD_OK, "a1", "id=7&port=5004" },
	{ "{\"id\":\"x\",\"params\":{\"rtcp_mux\":true,\"on_demand\":false}}", 0, MQTT_CMD_OK, "x",
	  "rtcp_mux=1&on_demand=0" },
	{ "{\"id\":\"x\",\"params\":{\"url\":\"rtsp://10.0.0.1:554/s?a=b\"}}", 0, MQTT_CMD_OK, "x",
	  "url=rtsp://10.0.0.1:554/s?a=b" },
	{ "{\"params\":{\"streampoint\":\"sp2\",\"device\":\"cam1\"},\"id\":\"s\"}", 1, MQTT_CMD_OK, "s",
	  "cam1 sp2" },
	/* refusals */
	{ "", 0, MQTT_CMD_BAD_JSON, "", "" },
	{ "{\"id\":", 0, MQTT_CMD_BAD_JSON, "", "" },
	{ "[1,2]", 0, MQTT_CMD_BAD_JSON, "", "" },
	{ "\"id\"", 0, MQTT_CMD_BAD_JSON, "", "" },
	{ "{}", 0, MQTT_CMD_BAD_ID, "", "" },
	{ "{\"id\":5}", 0, MQTT_CMD_BAD_ID, "", "" },
	{ "{\"id\":\"\"}", 0, MQTT_CMD_BAD_ID, "", "" },
	{ "{\"id\":\"a b\"}", 0, MQTT_CMD_BAD_ID, "", "" },
	{ "{\"id\":\"0123456789012345678901234567890123456789012345678901234567890123456789\"}", 0,
	  MQTT_CMD_BAD_ID, "", "" },
	{ "{\"id\":\"a\",\"params\":[1]}", 0, MQTT_CMD_BAD_PARAMS, "a", "" },
	{ "{\"id\":\"a\",\"params\":\"id=1\"}", 0, MQTT_CMD_BAD_PARAMS, "a", "" },
	{ "{\"id\":\"a\",\"params\":{\"Id\":1}}", 0, MQTT_CMD_BAD_PARAMS, "a", "" },
	{ "{\"id\":\"a\",\"params\":{\"id\":1,\"id\":2}}", 0, MQTT_CMD_BAD_PARAMS, "a", "" },
	{ "{\"id\":\"a\",\"params\":{\"id\":-1}}", 0, MQTT_CMD_BAD_VALUE, "a", "" },
	{ "{\"id\":\"a\",\"params\":{\"id\":1.5}}", 0, MQTT_CMD_BAD_VALUE, "a", "" },
	{ "{\"id\":\"a\",\"params\":{\"id\":1e300}}", 0, MQTT_CMD_BAD_VALUE, "a", "" },
	{ "{\"id\":\"a\",\"params\":{\"id\":{}}}", 0, MQTT_CMD_BAD_VALUE, "a", "" },
	{ "{\"id\":\"a\",\"params\":{\"id\":null}}", 0, MQTT_CMD_BAD_VALUE, "a", "" },
	{ "{\"id\":\"a\",\"params\":{\"url\":\"x&id=9\"}}", 0, MQTT_CMD_BAD_VALUE, "a", "" },
	{ "{\"id\":\"a\",\"params\":{\"url\":\"x y\"}}", 0, MQTT_CMD_BAD_VALUE, "a", "" },
	{ "{\"id\":\"a\",\"params\":{\"url\":\"\"}}", 0, MQTT_CMD_BAD_VALUE, "a", "" },
	{ "{\"id\":\"a\",\"params\":{\"device\":\"cam1\"}}", 1, MQTT_CMD_BAD_PARAMS, "a", "" },
	{ "{\"id\":\"a\",\"params\":{\"device\":\"c\",\"streampoint\":\"s\",\"x\":1}}", 1,
	  MQTT_CMD_BAD_PARAMS, "a", "" },
};

#define N_PCASES (sizeof(pcases) / sizeof(pcases[0]))
static size_t pidx[N_PCASES];

/* indices, not pointers: Criterion runs each case in a fresh process */
ParameterizedTestParameters(mqtt_cmd, parse)
{
	for (size_t i = 0; i < N_PCASES; i++)
		pidx[i] = i;
	return cr_make_param_array(size_t, pidx, N_PCASES);
}

ParameterizedTest(size_t *i, mqtt_cmd, parse)
{
	const struct pcase *c = &pcases[*i];
	static const char *const pos[] = { "device", "streampoint", NULL };
	struct mqtt_cmd_req r;
	const char *why = NULL;
	enum mqtt_cmd_status st = mqtt_cmd_parse(c->payload, strlen(c->payload),
						 c->positional ? pos : NULL, &r, &why);

	cr_expect_eq(st, c->st, "%s: %s (%s), want %s", c->payload, mqtt_cmd_status_name(st), why,
		     mqtt_cmd_status_name(c->st));
	cr_expect_str_eq(r.id, c->id, "%s", c->payload);
	cr_expect_str_eq(r.params, c->params, "%s", c->payload);
	cr_expect_not_null(why);
}

Test(mqtt_cmd, size_limits)
{
	size_t n = MQTT_CMD_MAX_PAYLOAD + 1;
	char *big = malloc(n + 64);
	struct mqtt_cmd_req r;
	const char *why;

	memset(big, ' ', n);
	cr_expect_eq(mqtt_cmd_parse(big, n, NULL, &r, &why), MQTT_CMD_TOO_BIG);
	/* one value just under the payload cap, far over the ctl request cap */
	n = (size_t)sprintf(big, "{\"id\":\"a\",\"params\":{\"url\":\"");
	memset(big + n, 'x', 4000);
	strcpy(big + n + 4000, "\"}}");
	cr_expect_eq(mqtt_cmd_parse(big, strlen(big), NULL, &r, &why), MQTT_CMD_BAD_VALUE);
	/* sixteen keys of 900 bytes each: every value fits, the sum does not */
	n = (size_t)sprintf(big, "{\"id\":\"a\",\"params\":{");
	for (int k = 0; k < 2; k++) {
		n += (size_t)sprintf(big + n, "%s\"k%d\":\"", k ? "," : "", k);
		memset(big + n, 'y', 900);
		n += 900;
		big[n++] = '"';
	}
	strcpy(big + n, "}}");
	cr_expect_eq(mqtt_cmd_parse(big, strlen(big), NULL, &r, &why), MQTT_CMD_TOO_LONG);
	free(big);
}

Test(mqtt_cmd, topic_levels)
{
	cr_expect(mqtt_cmd_name_ok("flow_add", 8));
	cr_expect(!mqtt_cmd_name_ok("", 0));
	cr_expect(!mqtt_cmd_name_ok("Flow", 4));
	cr_expect(!mqtt_cmd_name_ok("a/b", 3));
	cr_expect(!mqtt_cmd_name_ok("abcdefghijabcdefghijabcdefghijabc", 33));
	cr_expect(mqtt_cmd_identity_ok("ops-1.example", 13));
	cr_expect(!mqtt_cmd_identity_ok("a+", 2));
	cr_expect(!mqtt_cmd_identity_ok("#", 1));
}

Test(mqtt_cmd, allowed)
{
	const char *rules = "ops:*, billing:list_*,billing:status,*:status";

	cr_expect(mqtt_cmd_allowed(rules, "ops", "flow_add"));
	cr_expect(mqtt_cmd_allowed(rules, "billing", "list_flows"));
	cr_expect(mqtt_cmd_allowed(rules, "billing", "status"));
	cr_expect(!mqtt_cmd_allowed(rules, "billing", "flow_add"));
	cr_expect(!mqtt_cmd_allowed(rules, "opsx", "flow_add"));
	cr_expect(mqtt_cmd_allowed(rules, "anyone", "status"));
	cr_expect(!mqtt_cmd_allowed(rules, "anyone", "status_x"));
	cr_expect(!mqtt_cmd_allowed("", "ops", "status"));
	cr_expect(!mqtt_cmd_allowed("ops", "ops", "status"));
}

Test(mqtt_idem, get_put_evict)
{
	mqtt_idem *c = mqtt_idem_create(3);
	char id[8];

	cr_assert_not_null(c);
	cr_expect_null(mqtt_idem_get(c, "ops", "1"));
	cr_expect_eq(mqtt_idem_put(c, "ops", "1", "r1"), 0);
	cr_expect_str_eq(mqtt_idem_get(c, "ops", "1"), "r1");
	/* ids are per identity: another caller's id is not a repeat */
	cr_expect_null(mqtt_idem_get(c, "billing", "1"));
	cr_expect_eq(mqtt_idem_put(c, "ops", "1", "r1b"), 0);
	cr_expect_str_eq(mqtt_idem_get(c, "ops", "1"), "r1b");
	cr_expect_eq(mqtt_idem_count(c), 1);
	for (int i = 2; i <= 4; i++) {
		snprintf(id, sizeof(id), "%d", i);
		cr_expect_eq(mqtt_idem_put(c, "ops", id, id), 0);
	}
	cr_expect_eq(mqtt_idem_count(c), 3);
	cr_expect_null(mqtt_idem_get(c, "ops", "1"), "oldest evicted");
	cr_expect_str_eq(mqtt_idem_get(c, "ops", "4"), "4");
	cr_expect_str_eq(mqtt_idem_get(c, "ops", "2"), "2");
	cr_expect_eq(mqtt_idem_put(c, "ops", "0123456789012345678901234567890123456789012345678901234567890123456789", "x"), -EINVAL);
	mqtt_idem_destroy(c);
}
