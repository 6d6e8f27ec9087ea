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
	{ "turn", "enable", CFG_BOOL, OFF(turn_enable), 0, 0, 0, "false",
	  "answer the STUN/TURN requests spdp passes up (spdp's [turn] listen opens the ports)", 0 },
	{ "turn", "realm", CFG_STRING, STR(turn_realm), 1, 0, "streampoint",
	  "REALM of the long-term credentials", 0 },
	{ "turn", "software", CFG_STRING, STR(turn_software), 0, 0, "streampoint",
	  "SOFTWARE attribute of responses; empty: none", 0 },
	{ "turn", "user", CFG_STRING, STR(turn_users), 0, 0, "",
	  "static users, name:password (no comma in passwords; only the key "
	  "MD5(name:realm:password) is kept)", CFG_APPEND },
	{ "turn", "rest_secret", CFG_STRING, STR(turn_rest_secrets), 0, 0, "",
	  "TURN REST API secrets, at most 4 (rotate: add the new, later remove the old); "
	  "password = base64(HMAC-SHA1(secret, \"expiry:user\"))", CFG_APPEND },
	{ "turn", "relay_address", CFG_STRING, STR(turn_relay_address), 0, 0, "",
	  "IPv4 address relays are bound to and advertised (XOR-RELAYED-ADDRESS); required for "
	  "IPv4 allocations", 0 },
	{ "turn", "relay_address6", CFG_STRING, STR(turn_relay_address6), 0, 0, "",
	  "IPv6 relay address; empty: IPv6 allocations get 440", 0 },
	{ "turn", "port_min", CFG_UINT, OFF(turn_port_min), 0, 1024, 65535, "49152",
	  "lowest relay port (keep the range apart from spdp's [media] range)", 0 },
	{ "turn", "port_max", CFG_UINT, OFF(turn_port_max), 0, 1024, 65535, "65535",
	  "highest relay port", 0 },
	{ "turn", "max_allocs", CFG_UINT, OFF(turn_max_allocs), 0, 1, 1000000, "4096",
	  "allocations in total (508 past it); spdp's [turn] max_allocs is per worker", 0 },
	{ "turn", "max_allocs_per_user", CFG_UINT, OFF(turn_max_allocs_per_user), 0, 0, 1000000, "64",
	  "allocations of one user (486 past it; REST users count by their name part); 0: no limit", 0 },
	{ "turn", "max_perms_per_alloc", CFG_UINT, OFF(turn_max_perms_per_alloc), 0, 1, 4096, "16",
	  "permissions of one allocation (508 past it)", 0 },
	{ "turn", "max_channels_per_alloc", CFG_UINT, OFF(turn_max_channels_per_alloc), 0, 1, 4096, "16",
	  "channel bindings of one allocation (508 past it)", 0 },
	{ "turn", "bandwidth_bps", CFG_UINT, OFF(turn_bandwidth_bps), 0, 0, 4000000000u, "0",
	  "cap per allocation and direction in bits/s, enforced by spdp (drops counted); 0: none", 0 },
	{ "turn", "default_lifetime_s", CFG_UINT, OFF(turn_default_lifetime_s), 0, 1, 86400, "600",
	  "allocation lifetime when the client asks for less or nothing", 0 },
	{ "turn", "max_lifetime_s", CFG_UINT, OFF(turn_max_lifetime_s), 0, 1, 86400, "3600",
	  "longest allocation lifetime granted", 0 },
	{ "turn", "perm_lifetime_s", CFG_UINT, OFF(turn_perm_lifetime_s), 0, 1, 86400, "300",
	  "permission lifetime (RFC 8656: 300)", 0 },
	{ "turn", "channel_lifetime_s", CFG_UINT, OFF(turn_channel_lifetime_s), 0, 1, 86400, "600",
	  "channel binding lifetime (RFC 8656: 600)", 0 },
	{ "turn", "nonce_lifetime_s", CFG_UINT, OFF(turn_nonce_lifetime_s), 0, 1, 86400, "600",
	  "how long a nonce is accepted (438 after); nonces are stateless, keyed by the nonce secret", 0 },
	{ "turn", "nonce_secret_file", CFG_STRING, STR(turn_nonce_secret_file), 0, 0, "",
	  "nonce secret file (16-1024 bytes, final newline ignored): nonces survive restarts and "
	  "spcps sharing it accept each other's; empty: random per process", 0 },
	{ "turn", "rl_rate", CFG_UINT, OFF(turn_rl_rate), 0, 0, 1000000, "50",
	  "answers to unauthenticated requests per second per source IP (0: no limit)", 0 },
	{ "turn", "rl_burst", CFG_UINT, OFF(turn_rl_burst), 0, 1, 1000000, "100",
	  "burst of those answers", 0 },
	{ "turn", "rl_entries", CFG_UINT, OFF(turn_rl_entries), 0, 4, 16000000, "4096",
	  "source IPs the rate limit tracks (fixed memory; least recently used evicted)", 0 },
	{ "turn", "peer_allow", CFG_STRING, STR(turn_peer_allow), 0, 0, "",
	  "CIDRs allowed as peers despite the deny-list (loopback, RFC 1918, ULA...); "
	  "never 0.0.0.0/8, :: or the relay addresses", CFG_APPEND },
	{ "turn", "rfc5766_channels", CFG_BOOL, OFF(turn_rfc5766_channels), 0, 0, 0, "false",
	  "accept ChannelBind numbers 0x5000-0x7FFF (RFC 5766; RFC 8656 reserves them) for older "
	  "clients such as coturn's turnutils_uclient", 0 },
	{ "telemetry", "dpdk_link", CFG_BOOL, OFF(dpdk_link), 0, 0, 0, "false",
	  "also expose the control socket where dpdk-telemetry.py looks "
	  "(<dpdk_runtime_dir>/streampoint-<instance>/dpdk_telemetry.v2)", 0 },
	{ "telemetry", "dpdk_runtime_dir", CFG_STRING, STR(dpdk_runtime_dir), 1, 0, "/var/run/dpdk",
	  "DPDK's runtime directory, as dpdk-telemetry.py expects it", 0 },
};
const size_t cp_config_nkeys = sizeof(cp_config_keys) / sizeof(cp_config_keys[0]);
