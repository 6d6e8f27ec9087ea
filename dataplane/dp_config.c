/* dp_config: every spdp configuration key, documented once (see config.h). */
#include <stddef.h>

#include "config.h"
#include "dp.h"
#include "shm-t.h"

#define OFF(f) offsetof(struct dp_config, f)
#define STR(f) OFF(f), sizeof(((struct dp_config *)0)->f)

const struct cfg_key dp_config_keys[] = {
	{ "spdp", "instance", CFG_STRING, STR(instance), 1, 0, "default",
	  "name of this streampoint instance; several can run on one host", 0 },
	{ "spdp", "runtime_dir", CFG_STRING, STR(runtime_dir), 1, 0, "/run/streampoint",
	  "directory for sockets; spdp uses <runtime_dir>/<instance>/", 0 },
	{ "spdp", "workers", CFG_UINT, OFF(workers), 0, 1, SHM_MAX_WORKERS, "2",
	  "data-plane worker threads, one per core you give to forwarding", 0 },
	{ "spdp", "log_level", CFG_LOGLEVEL, OFF(log_level), 0, 0, 0, "info",
	  "log verbosity", 0 },
	{ "spdp", "ctl_group", CFG_STRING, STR(ctl_group), 0, 0, "",
	  "group (besides root) allowed to attach and observe; empty: root only", 0 },
	{ "spdp", "idle_sleep_ms", CFG_UINT, OFF(idle_sleep_ms), 0, 1, 1000, "100",
	  "longest an idle worker sleeps before refreshing its heartbeat", 0 },
	{ "rings", "main_bytes", CFG_SIZE, OFF(main_ring_bytes), 0, 4096, 1u << 30, "256K",
	  "size of each main-thread ring (commands in, events out)", CFG_POW2 },
	{ "rings", "cmd_bytes", CFG_SIZE, OFF(cmd_ring_bytes), 0, 4096, 1u << 30, "1M",
	  "size of each worker's command ring (spcp -> worker)", CFG_POW2 },
	{ "rings", "evt_bytes", CFG_SIZE, OFF(evt_ring_bytes), 0, 4096, 1u << 30, "1M",
	  "size of each worker's event ring (worker -> spcp); when full, events are dropped and counted",
	  CFG_POW2 },
	{ "rings", "exc_bytes", CFG_SIZE, OFF(exc_ring_bytes), 0, 4096, 1u << 30, "4M",
	  "size of each exception-packet ring, one per direction per worker", CFG_POW2 },
};
const size_t dp_config_nkeys = sizeof(dp_config_keys) / sizeof(dp_config_keys[0]);
