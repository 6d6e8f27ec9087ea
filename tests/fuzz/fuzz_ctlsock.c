/*
 * fuzz_ctlsock: the two parsers of ctlsock that see untrusted bytes.
 * First byte even: the rest is one request message for the server's
 * ctlsock_parse_request(); odd: the rest is one reply message for the
 * client's ctlsock_parse_reply(). Checks the invariants the server relies
 * on (an accepted command is printable, starts with '/', has no comma and
 * fits CTLSOCK_MAX_CMD_LEN) and that nothing leaks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctlsock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ctlsock_req req;
	cJSON *v = NULL;

	if (size == 0)
		return 0;
	if ((data[0] & 1) == 0) {
		enum ctlsock_req_status st = ctlsock_parse_request(data + 1, size - 1, &req);
		if (st >= CTLSOCK_REQ__COUNT || !ctlsock_req_status_name(st))
			abort();
		if (st != CTLSOCK_REQ_OK) {
			if (req.cmd[0] || req.has_params)
				abort();
			return 0;
		}
		if (req.cmd[0] != '/' || strlen(req.cmd) >= CTLSOCK_MAX_CMD_LEN || strchr(req.cmd, ','))
			abort();
		check_printable(req.cmd);
		check_printable(req.params);
		if (req.has_params != (req.params[0] != '\0'))
			abort();
		if (strlen(req.cmd) + (req.has_params ? 1 + strlen(req.params) : 0) > size - 1)
			abort();
		return 0;
	}
	if (ctlsock_parse_reply((const char *)data + 1, size - 1, "/x", &v) == 0) {
		if (!v)
			abort();
		cJSON_Delete(v);
	} else if (v) {
		abort();
	}
	return 0;
}
