/* agent_cfg: spagent's configuration keys and their validation. */
#include "agent_cfg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/ssl.h>

#include "agent_auth.h"
#include "tun_frame.h"

#define OFF(f) offsetof(struct agent_config, f)
#define STR(f) OFF(f), sizeof(((struct agent_config *)0)->f)

const struct cfg_key agent_cfg_keys[] = {
	{ "agent", "device_id", CFG_STRING, STR(device_id), 1, 0, "camera-0001",
	  "this device's identity, as the endpoint knows it (1..64 of A-Za-z0-9._:-)", 0 },
	{ "agent", "key_file", CFG_STRING, STR(key_file), 1, 0, "/etc/spagent/device.key",
	  "file holding the 32-byte device key as 64 hex digits (never logged)", 0 },
	{ "agent", "endpoint", CFG_STRING, STR(endpoints), 0, 0, "",
	  "endpoint host:port, main first then backups (repeat or comma-separate)", CFG_APPEND },
	{ "agent", "server_id", CFG_STRING, STR(server_id), 0, 0, "",
	  "the endpoints' server_id (handshake); empty: accept any the key proves", 0 },
	{ "agent", "ca_file", CFG_STRING, STR(ca_file), 1, 0, "/etc/spagent/ca.pem",
	  "CA certificates (PEM) that endpoint and streampoint certificates must chain to", 0 },
	{ "agent", "tls_min_version", CFG_STRING, STR(tls_min_version), 1, 0, "1.3",
	  "lowest TLS version: 1.3, or 1.2 when the network needs it", 0 },
	{ "agent", "proxy", CFG_STRING, STR(proxy), 0, 0, "",
	  "HTTP proxy host:port for CONNECT; empty: connect directly", 0 },
	{ "agent", "proxy_auth", CFG_STRING, STR(proxy_auth), 0, 0, "",
	  "user:password for the proxy (Basic); empty: none", 0 },
	{ "agent", "allow", CFG_STRING, STR(allow), 0, 0, "",
	  "camera-local host:port streams may go to, e.g. 127.0.0.1:554 (repeat or comma-separate)",
	  CFG_APPEND },
	{ "agent", "heartbeat_s", CFG_UINT, OFF(heartbeat_s), 0, 1, 3600, "15",
	  "PING after this long without a frame; a connection silent for 3 intervals is dead", 0 },
	{ "agent", "connect_timeout_ms", CFG_UINT, OFF(connect_timeout_ms), 0, 100, 600000, "10000",
	  "TCP + proxy + TLS + Upgrade (+ handshake) of one attempt must finish within this", 0 },
	{ "agent", "backoff_base_ms", CFG_UINT, OFF(backoff_base_ms), 0, 1, 3600000, "1000",
	  "first reconnect delay ceiling; doubles per failure, delay uniform in [0, ceiling]", 0 },
	{ "agent", "backoff_cap_ms", CFG_UINT, OFF(backoff_cap_ms), 0, 1, 3600000, "60000",
	  "largest reconnect delay ceiling", 0 },
	{ "agent", "auth_backoff_s", CFG_UINT, OFF(auth_backoff_s), 0, 1, 86400, "900",
	  "wait after the endpoint revoked this device (GOAWAY auth)", 0 },
	{ "agent", "stable_s", CFG_UINT, OFF(stable_s), 0, 1, 86400, "60",
	  "a connection up this long resets the backoff", 0 },
	{ "agent", "max_streams", CFG_UINT, OFF(max_streams), 0, 1, TUN_MAX_STREAMS_CFG, "16",
	  "streams a tunnel may have open at once (more: OPEN_FAIL too_many_streams)", 0 },
	{ "agent", "window", CFG_SIZE, OFF(window), 0, 4096, TUN_MAX_WINDOW, "256K",
	  "receive window per stream, and the most a stream buffers towards a local service", 0 },
	{ "agent", "queue", CFG_SIZE, OFF(queue), 0, 16384, 64u << 20, "256K",
	  "frames queued towards a tunnel; local reads pause while it is full", 0 },
	{ "agent", "open_timeout_ms", CFG_UINT, OFF(open_timeout_ms), 0, 10, 600000, "5000",
	  "connect to a local service within this, else OPEN_FAIL timeout", 0 },
	{ "agent", "drain_s", CFG_UINT, OFF(drain_s), 0, 0, 86400, "30",
	  "after a switch, the old tunnel's streams may finish for this long", 0 },
	{ "agent", "failover_after", CFG_UINT, OFF(failover_after), 0, 0, 1000, "3",
	  "failed tunnel attempts in a row before the agent tells the endpoint its streampoint is unreachable (0: never)", 0 },
	{ "agent", "log_level", CFG_LOGLEVEL, OFF(log_level), 0, 0, 0, "info", "log verbosity", 0 },
	{ "agent", "syslog", CFG_BOOL, OFF(syslog), 0, 0, 0, "false",
	  "also log to syslog (LOG_DAEMON)", 0 },
};
const size_t agent_cfg_nkeys = sizeof(agent_cfg_keys) / sizeof(agent_cfg_keys[0]);

int agent_cfg_check(const struct agent_config *c, struct agent_conf *out, char *err,
		    size_t errlen)
{
	char why[160];
	int n;

	memset(out, 0, sizeof(*out));
	if (!agent_auth_id_valid(c->device_id, strlen(c->device_id))) {
		snprintf(err, errlen, "[agent] device_id: 1..64 characters of A-Za-z0-9._:-");
		return -EINVAL;
	}
	if (c->server_id[0] && !agent_auth_id_valid(c->server_id, strlen(c->server_id))) {
		snprintf(err, errlen, "[agent] server_id: 1..64 characters of A-Za-z0-9._:-");
		return -EINVAL;
	}
	n = hostport_list_parse(c->endpoints, out->endpoints, AGENT_MAX_ENDPOINTS, why, sizeof(why));
	if (n <= 0) {
		snprintf(err, errlen, "[agent] endpoint: %s", n == 0 ? "at least one is needed" : why);
		return -EINVAL;
	}
	out->nendpoints = n;
	n = hostport_list_parse(c->allow, out->allow, AGENT_MAX_ALLOW, why, sizeof(why));
	if (n < 0) {
		snprintf(err, errlen, "[agent] allow: %s", why);
		return -EINVAL;
	}
	out->nallow = n;
	if (c->proxy[0]) {
		if (hostport_parse(c->proxy, strlen(c->proxy), &out->proxy) < 0) {
			snprintf(err, errlen, "[agent] proxy: '%s' is not host:port", c->proxy);
			return -EINVAL;
		}
		out->use_proxy = true;
	}
	if (c->proxy_auth[0] && (!c->proxy[0] || !strchr(c->proxy_auth, ':'))) {
		snprintf(err, errlen, "[agent] proxy_auth: user:password, and only with a proxy");
		return -EINVAL;
	}
	if (!strcmp(c->tls_min_version, "1.3")) {
		out->tls_min = TLS1_3_VERSION;
	} else if (!strcmp(c->tls_min_version, "1.2")) {
		out->tls_min = TLS1_2_VERSION;
	} else {
		snprintf(err, errlen, "[agent] tls_min_version: 1.3 or 1.2");
		return -EINVAL;
	}
	if (c->backoff_base_ms > c->backoff_cap_ms) {
		snprintf(err, errlen, "[agent] backoff_base_ms (%u) is above backoff_cap_ms (%u)",
			 c->backoff_base_ms, c->backoff_cap_ms);
		return -EINVAL;
	}
	if (c->queue < (uint64_t)2 * (TUN_HEADER_LEN + TUN_MAX_PAYLOAD)) {
		snprintf(err, errlen, "[agent] queue: at least %u bytes (two full frames)",
			 2 * (TUN_HEADER_LEN + TUN_MAX_PAYLOAD));
		return -EINVAL;
	}
	return 0;
}

bool agent_cfg_allowed(const struct agent_conf *c, const char *target, size_t len)
{
	struct hostport hp;

	if (hostport_parse(target, len, &hp) < 0)
		return false;
	for (int i = 0; i < c->nallow; i++)
		if (c->allow[i].port == hp.port && !strcasecmp(c->allow[i].host, hp.host))
			return true;
	return false;
}
