/*
 * ctl: the commands spcp serves on its control socket (spctl,
 * dpdk-telemetry.py). Each handler builds a JSON reply; none blocks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "cp.h"
#include "ctl.h"
#include "log.h"

static struct {
	const struct cp_config *cfg;
	dp_link *link;
	uint64_t start_ns;
} ctl;

static cJSON *spcp_json(void)
{
	cJSON *o = dp_link_status_json(ctl.link);

	cJSON_AddBoolToObject(o, "reachable", 1);
	cJSON_AddNumberToObject(o, "pid", getpid());
	cJSON_AddNumberToObject(o, "uptime_s", (double)(clock_mono_ns() - ctl.start_ns) / 1e9);
	cJSON_AddStringToObject(o, "instance", ctl.cfg->instance);
	cJSON_AddStringToObject(o, "version", SP_VERSION);
	cJSON_AddStringToObject(o, "log_level", log_level_name(log_get_level()));
	return o;
}

static int cmd_status(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	(void)ctx, (void)cmd, (void)params;
	*reply = cJSON_CreateObject();
	cJSON_AddItemToObject(*reply, "spcp", spcp_json());
	cJSON_AddItemToObject(*reply, "spdp", dp_link_spdp_json(ctl.link));
	return 0;
}

static int cmd_spcp(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	(void)ctx, (void)cmd, (void)params;
	*reply = spcp_json();
	return 0;
}

static int cmd_spdp(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	(void)ctx, (void)cmd, (void)params;
	*reply = dp_link_spdp_json(ctl.link);
	return 0;
}

static int cmd_log_level(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	int level, rc = 0;

	(void)ctx, (void)cmd;
	*reply = cJSON_CreateObject();
	if (!params || !*params) {
		cJSON_AddStringToObject(*reply, "spcp", log_level_name(log_get_level()));
		return 0;
	}
	level = log_level_parse(params);
	if (level < 0) {
		cJSON_AddStringToObject(*reply, "error",
					"expected a level: err, warning, notice, info, debug");
		return 0;
	}
	log_set_level(level);
	log_notice("log level set to %s via the control socket", log_level_name(level));
	cJSON_AddStringToObject(*reply, "spcp", log_level_name(level));
	rc = dp_link_set_log_level(ctl.link, level);
	cJSON_AddStringToObject(*reply, "spdp", rc == 0 ? log_level_name(level) :
					  rc == -ENOTCONN ? "not attached" : "command ring full");
	return 0;
}

static int cmd_config(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)ctx, (void)cmd, (void)params;
	if (!f)
		return -ENOMEM;
	cfg_print_values(cp_config_keys, cp_config_nkeys, ctl.cfg, f);
	fclose(f);
	*reply = cJSON_CreateString(buf ? buf : "");
	free(buf);
	return 0;
}

int ctl_register(ctlsock *cs, const struct cp_config *cfg, dp_link *link)
{
	ctl.cfg = cfg;
	ctl.link = link;
	ctl.start_ns = clock_mono_ns();
	if (ctlsock_register(cs, "/status", cmd_status, NULL,
			     "Both processes: spcp's link state and spdp's segment (workers, rings, drops)") ||
	    ctlsock_register(cs, "/spcp/status", cmd_spcp, NULL, "spcp only") ||
	    ctlsock_register(cs, "/spdp/status", cmd_spdp, NULL,
			     "spdp's shared segment: workers, rings, counters, drops by reason") ||
	    ctlsock_register(cs, "/log_level", cmd_log_level, NULL,
			     "Show, or with a parameter set, the log level of spcp and spdp. Parameter: err|warning|notice|info|debug") ||
	    ctlsock_register(cs, "/config", cmd_config, NULL, "spcp's effective configuration (INI)"))
		return -EINVAL;
	return 0;
}

/* ------------------------------------------------------------ request helpers */

/* Value of `key` in "k=v&k=v" (also space separated) into out. */
bool ctl_param(const char *params, const char *key, char *out, size_t outlen)
{
	size_t kl = strlen(key);
	const char *p = params;

	while (p && *p) {
		while (*p == '&' || *p == ' ')
			p++;
		const char *end = p + strcspn(p, "& ");
		if ((size_t)(end - p) > kl && !strncmp(p, key, kl) && p[kl] == '=') {
			size_t vl = (size_t)(end - p) - kl - 1;
			if (vl >= outlen)
				return false;
			memcpy(out, p + kl + 1, vl);
			out[vl] = '\0';
			return true;
		}
		p = end;
	}
	return false;
}

bool ctl_param_u32(const char *params, const char *key, uint32_t max, uint32_t *out)
{
	char buf[16], *end;
	if (!ctl_param(params, key, buf, sizeof(buf)) || !buf[0])
		return false;
	unsigned long v = strtoul(buf, &end, 10);
	if (*end || v > max)
		return false;
	*out = (uint32_t)v;
	return true;
}

int ctl_error_reply(cJSON **reply, const char *why)
{
	*reply = cJSON_CreateObject();
	cJSON_AddStringToObject(*reply, "error", why);
	return 0;
}
