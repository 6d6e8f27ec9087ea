/*
 * spagent: the camera-side agent (outbound-only tunnels to streampoint).
 *
 * This is its starting shape: the configuration it will run with (device
 * identity, endpoints, the allow-list of camera-local services), validated
 * with the same table-driven parser the daemons use. The endpoint handshake
 * and the multiplexed tunnel arrive with the agent issue (docs/ will hold
 * the protocol). Small on purpose: it must fit buildroot camera firmware.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

struct agent_config {
	char device_id[64];
	char key_file[128];
	char endpoints[256];
	char allow[256];
	int log_level;
};

#define OFF(f) offsetof(struct agent_config, f)
#define STR(f) OFF(f), sizeof(((struct agent_config *)0)->f)

static const struct cfg_key agent_keys[] = {
	{ "agent", "device_id", CFG_STRING, STR(device_id), 1, 0, "camera-0001",
	  "this device's identity, as the endpoint knows it", 0 },
	{ "agent", "key_file", CFG_STRING, STR(key_file), 1, 0, "/etc/spagent/device.key",
	  "file holding the device key (never logged)", 0 },
	{ "agent", "endpoints", CFG_STRING, STR(endpoints), 1, 0, "endpoint.example:443",
	  "comma-separated endpoints host:port, tried in order with backoff", 0 },
	{ "agent", "allow", CFG_STRING, STR(allow), 0, 0, "127.0.0.1:554,127.0.0.1:80",
	  "camera-local host:port pairs the streampoint may open tunnels to", 0 },
	{ "agent", "log_level", CFG_LOGLEVEL, OFF(log_level), 0, 0, 0, "info", "log verbosity", 0 },
};

int main(int argc, char **argv)
{
	struct agent_config cfg;
	int rc = cfg_from_args(agent_keys, sizeof(agent_keys) / sizeof(agent_keys[0]), &cfg, argc,
			       argv, "spagent", "spagent: streampoint camera agent");

	if (rc)
		return rc > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
	log_init("spagent", cfg.log_level);
	log_error(0, "device %s: the tunnel protocol is not in this build yet; "
		     "use --show-config to check a configuration", cfg.device_id);
	return EXIT_FAILURE;
}
