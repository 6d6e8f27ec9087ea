/*
 * fuzz_mqtt_cmd: MQTT command payloads (untrusted: anyone the broker lets
 * publish on a cmd topic). First byte even: key=value rendering; odd:
 * positional. Checks that an accepted request is printable and carries no
 * separator the ctl handlers would split on, and that errors leave params empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt_cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const pos[] = { "device", "streampoint", NULL };
	static struct mqtt_cmd_req r;
	const char *why = NULL;
	enum mqtt_cmd_status st;

	if (size == 0)
		return 0;
	st = mqtt_cmd_parse(data + 1, size - 1, (data[0] & 1) ? pos : NULL, &r, &why);
	if (st >= MQTT_CMD__COUNT || !why || strlen(r.id) > MQTT_CMD_ID_LEN)
		abort();
	for (const char *s = r.id; *s; s++)
		if (*s <= 0x20 || *s >= 0x7f || *s == '&')
			abort();
	if (st != MQTT_CMD_OK) {
		if (r.params[0])
			abort();
		return 0;
	}
	if (!r.id[0] || strlen(r.params) > CTLSOCK_MAX_REQ_LEN)
		abort();
	for (const char *s = r.params; *s; s++)
		if (*s < 0x20 || *s >= 0x7f || ((data[0] & 1) && *s == '&'))
			abort();
	/* identity and rules share the payload in a second use of the input */
	mqtt_cmd_allowed((const char *)r.params, "ops", "status");
	return 0;
}
