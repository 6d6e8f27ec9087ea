/*
 * mqtt_cmd: the untrusted half of an MQTT command. Checks the topic's
 * identity and command name and turns the JSON payload
 *   {"id": "<command id>", "params": {"k": "v" | integer | bool, ...}}
 * into the control-socket parameter string the ctl handlers already parse
 * ("k=v&k=v", or positional "v1 v2" for handlers such as /agent/switch).
 * Pure: no I/O; allocations only inside cJSON, freed before returning.
 */
#ifndef SP_CP_MQTT_CMD_H
#define SP_CP_MQTT_CMD_H

#include <stdbool.h>
#include <stddef.h>

#include "ctlsock.h"

#define MQTT_CMD_MAX_PAYLOAD (64u * 1024)
#define MQTT_CMD_ID_LEN 64       /* command id, without NUL */
#define MQTT_CMD_NAME_LEN 32     /* topic level of the command name */
#define MQTT_CMD_IDENTITY_LEN 64 /* topic level of the caller's identity */
#define MQTT_CMD_MAX_KEYS 16

enum mqtt_cmd_status {
	MQTT_CMD_OK = 0,
	MQTT_CMD_TOO_BIG,     /* payload above MQTT_CMD_MAX_PAYLOAD */
	MQTT_CMD_BAD_JSON,    /* not JSON, or not an object */
	MQTT_CMD_BAD_ID,      /* "id" missing, not a string, empty, too long, not printable */
	MQTT_CMD_BAD_PARAMS,  /* "params" not an object, or an unknown/missing key */
	MQTT_CMD_BAD_VALUE,   /* a value of the wrong type or with a forbidden character */
	MQTT_CMD_TOO_LONG,    /* the parameter string would exceed the control socket's */
	MQTT_CMD__COUNT
};

struct mqtt_cmd_req {
	char id[MQTT_CMD_ID_LEN + 1];
	char params[CTLSOCK_MAX_REQ_LEN + 1]; /* "" when there are none */
};

/*
 * Parse len bytes of payload (no NUL needed). positional: NULL for "k=v&..."
 * (any key [a-z0-9_]), or a NULL-terminated list of keys that must all be
 * present, rendered in that order separated by spaces. On error, *why is a
 * static message for the error response and out->id holds the id when it
 * could be read (so the response can still carry it).
 */
enum mqtt_cmd_status mqtt_cmd_parse(const void *buf, size_t len, const char *const *positional,
				    struct mqtt_cmd_req *out, const char **why);
const char *mqtt_cmd_status_name(enum mqtt_cmd_status st);

/* A topic level usable as command name ([a-z_], 1..MQTT_CMD_NAME_LEN). */
bool mqtt_cmd_name_ok(const char *s, size_t len);
/* A topic level usable as identity ([A-Za-z0-9_.-], 1..MQTT_CMD_IDENTITY_LEN). */
bool mqtt_cmd_identity_ok(const char *s, size_t len);

/*
 * Authorisation: rules "identity:pattern,identity:pattern,..." where a
 * pattern is a command name, "*", or a prefix ending in '*' ("list_*").
 * identity "*" matches anyone. True when some rule allows name.
 */
bool mqtt_cmd_allowed(const char *rules, const char *identity, const char *name);

#endif
