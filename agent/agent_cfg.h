/*
 * agent_cfg: spagent's configuration: the key table (file and -o flags,
 * like the daemons) and its validation into ready-to-use lists. Pure
 * (no I/O besides nothing): tests and the fuzzer call agent_cfg_check().
 */
#ifndef SP_AGENT_CFG_H
#define SP_AGENT_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "hostport.h"

#define AGENT_MAX_ENDPOINTS 8
#define AGENT_MAX_ALLOW 32

struct agent_config {
	char device_id[65];
	char key_file[256];
	char endpoints[1024]; /* host:port,... */
	char server_id[65];   /* expected endpoint server_id; empty: any */
	char ca_file[256];
	char tls_min_version[8];
	char proxy[300];      /* host:port; empty: direct */
	char proxy_auth[260]; /* user:password */
	char allow[2048];     /* host:port,... */
	uint32_t heartbeat_s;
	uint32_t connect_timeout_ms;
	uint32_t backoff_base_ms, backoff_cap_ms;
	uint32_t auth_backoff_s;
	uint32_t stable_s;
	uint32_t max_streams;
	uint64_t window;
	uint64_t queue;
	uint32_t open_timeout_ms;
	uint32_t drain_s;
	uint32_t failover_after;
	int log_level;
	bool syslog;
};

extern const struct cfg_key agent_cfg_keys[];
extern const size_t agent_cfg_nkeys;

/* The configuration after validation. */
struct agent_conf {
	struct hostport endpoints[AGENT_MAX_ENDPOINTS];
	int nendpoints;
	struct hostport allow[AGENT_MAX_ALLOW];
	int nallow;
	bool use_proxy;
	struct hostport proxy;
	int tls_min; /* TLS1_2_VERSION or TLS1_3_VERSION */
};

/* Checks cross-field rules and parses the lists. 0 or -EINVAL with err. */
int agent_cfg_check(const struct agent_config *c, struct agent_conf *out, char *err,
		    size_t errlen);
/* Is "host:port" (len bytes) on the allow-list? Exact match of host and
 * port (hosts compared case-insensitively). */
bool agent_cfg_allowed(const struct agent_conf *c, const char *target, size_t len);

#endif
