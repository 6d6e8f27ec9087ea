/*
 * fuzz_agent_lists: libFuzzer target for the parsers spagent and the
 * endpoint added (agent/proxy.c, agent/hostport.c, agent/agent_cfg.c,
 * controlplane/endpoint.c lists, common/keyhex.c): the HTTP proxy's answer
 * to CONNECT (network input), the host:port and id@host:port lists, device
 * id lists, hex keys, and a whole [agent] configuration.
 *
 * Byte 0 picks the parser; the rest is its input. Invariants (abort()):
 *  - a proxy answer accepted has its header inside the input, and every
 *    shorter prefix of it needs more;
 *  - every item a list parser returns re-validates (and host:port items
 *    print back to something that parses the same);
 *  - a valid configuration's allow-list admits each of its own items.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent_auth.h"
#include "agent_cfg.h"
#include "endpoint.h"
#include "hostport.h"
#include "keyhex.h"
#include "proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)               \
	do {                      \
		if (!(cond))      \
			abort();  \
	} while (0)

static void fuzz_proxy(const char *buf, size_t len)
{
	int status;
	size_t hl;
	enum proxy_err e = proxy_response_parse(buf, len, &status, &hl);
	CHECK((unsigned)e < PROXY_ERR__COUNT);
	if (e == PROXY_OK) {
		CHECK(hl == len && status >= 200 && status <= 299);
		for (size_t n = hl > 64 ? hl - 64 : 0; n < hl; n++)
			CHECK(proxy_response_parse(buf, n, &status, &hl) == PROXY_NEED_MORE);
	}
	if (e == PROXY_NEED_MORE)
		CHECK(len < PROXY_RESP_MAX);
}

static void fuzz_hostports(const char *s)
{
	struct hostport hp[8], again;
	char err[160], out[300];
	int n = hostport_list_parse(s, hp, 8, err, sizeof(err));
	CHECK(n >= 0 || n == -EINVAL || n == -E2BIG);
	for (int i = 0; i < n; i++) {
		CHECK(hp[i].port > 0 && hp[i].host[0]);
		CHECK(hostport_format(&hp[i], out, sizeof(out)) > 0);
		CHECK(hostport_parse(out, strlen(out), &again) == 0);
		CHECK(again.port == hp[i].port && !strcmp(again.host, hp[i].host));
	}
}

static void fuzz_streampoints(const char *s)
{
	struct ep_streampoint sp[8];
	char err[160], ids[8][65];
	int n = ep_streampoints_parse(s, sp, 8, err, sizeof(err));
	for (int i = 0; i < n; i++) {
		CHECK(agent_auth_id_valid(sp[i].id, strlen(sp[i].id)));
		CHECK(tun_target_valid(sp[i].addr, strlen(sp[i].addr)));
		for (int j = 0; j < i; j++)
			CHECK(strcmp(sp[i].id, sp[j].id));
	}
	if (n > 0) {
		int p = ep_pick(sp, (size_t)n, "cam-1");
		CHECK(p >= 0 && p < n);
	}
	n = ep_ids_parse(s, ids, 8, err, sizeof(err));
	for (int i = 0; i < n; i++)
		CHECK(agent_auth_id_valid(ids[i], strlen(ids[i])));
}

static void fuzz_config(const char *s)
{
	static struct agent_config c;
	struct agent_conf out;
	char err[CFG_ERRLEN];

	if (cfg_defaults(agent_cfg_keys, agent_cfg_nkeys, &c, err, sizeof(err)) < 0)
		abort();
	if (cfg_load_string(agent_cfg_keys, agent_cfg_nkeys, &c, s, err, sizeof(err)) < 0)
		return;
	if (agent_cfg_check(&c, &out, err, sizeof(err)) < 0)
		return;
	CHECK(out.nendpoints >= 1 && out.nendpoints <= AGENT_MAX_ENDPOINTS);
	for (int i = 0; i < out.nallow; i++) {
		char t[300];
		int n = hostport_format(&out.allow[i], t, sizeof(t));
		CHECK(n > 0 && agent_cfg_allowed(&out, t, (size_t)n));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 16384)
		return 0;
	char *s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 5) {
	case 0: fuzz_proxy(s, size - 1); break;
	case 1: fuzz_hostports(s); break;
	case 2: fuzz_streampoints(s); break;
	case 3: {
		uint8_t k[64];
		int n = keyhex_parse(s, size - 1, k, 1, 64);
		CHECK(n == -EINVAL || (n >= 1 && n <= 64));
		break;
	}
	default: fuzz_config(s); break;
	}
	free(s);
	return 0;
}
