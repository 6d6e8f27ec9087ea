/* cp_config: every spcp configuration key, documented once (see config.h). */
#include <stddef.h>

#include "cp.h"

#define OFF(f) offsetof(struct cp_config, f)
#define STR(f) OFF(f), sizeof(((struct cp_config *)0)->f)

const struct cfg_key cp_config_keys[] = {
	{ "spcp", "instance", CFG_STRING, STR(instance), 1, 0, "default",
	  "streampoint instance to control (must match spdp's)", 0 },
	{ "spcp", "runtime_dir", CFG_STRING, STR(runtime_dir), 1, 0, "/run/streampoint",
	  "directory for sockets; spcp uses <runtime_dir>/<instance>/", 0 },
	{ "spcp", "log_level", CFG_LOGLEVEL, OFF(log_level), 0, 0, 0, "info", "log verbosity", 0 },
	{ "spcp", "ctl_group", CFG_STRING, STR(ctl_group), 0, 0, "",
	  "group (besides root) allowed on the control socket (spctl); empty: root only", 0 },
	{ "spcp", "heartbeat_ms", CFG_UINT, OFF(heartbeat_ms), 0, 10, 60000, "1000",
	  "interval of heartbeats to spdp's main thread and every worker", 0 },
	{ "spcp", "dp_timeout_ms", CFG_UINT, OFF(dp_timeout_ms), 0, 100, 600000, "5000",
	  "a worker that has not answered a heartbeat for this long is reported unresponsive", 0 },
	{ "spcp", "reattach_min_ms", CFG_UINT, OFF(reattach_min_ms), 0, 10, 60000, "100",
	  "first retry delay when spdp is absent; doubles up to reattach_max_ms (with jitter)", 0 },
	{ "spcp", "reattach_max_ms", CFG_UINT, OFF(reattach_max_ms), 0, 10, 600000, "2000",
	  "longest delay between attach attempts", 0 },
	{ "spcp", "max_flows", CFG_UINT, OFF(max_flows), 0, 1, 1000000, "65536",
	  "flows the registry holds (spdp has its own limits, per worker)", 0 },
	{ "telemetry", "dpdk_link", CFG_BOOL, OFF(dpdk_link), 0, 0, 0, "false",
	  "also expose the control socket where dpdk-telemetry.py looks "
	  "(<dpdk_runtime_dir>/streampoint-<instance>/dpdk_telemetry.v2)", 0 },
	{ "telemetry", "dpdk_runtime_dir", CFG_STRING, STR(dpdk_runtime_dir), 1, 0, "/var/run/dpdk",
	  "DPDK's runtime directory, as dpdk-telemetry.py expects it", 0 },
};
const size_t cp_config_nkeys = sizeof(cp_config_keys) / sizeof(cp_config_keys[0]);
