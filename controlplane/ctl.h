/* ctl: registers spcp's control-socket commands (see ctl.c). */
#ifndef SP_CP_CTL_H
#define SP_CP_CTL_H

#include "cp.h"
#include "ctlsock.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

int ctl_register(ctlsock *cs, const struct cp_config *cfg, dp_link *link);

/* Helpers for command handlers (flows.c, tunnels.c). Value of `key` in
 * "k=v&k=v" (also space separated) into out; false when absent or too long. */
bool ctl_param(const char *params, const char *key, char *out, size_t outlen);
/* A decimal value of `key`, at most max. */
bool ctl_param_u32(const char *params, const char *key, uint32_t max, uint32_t *out);
/* *reply = {"error": why}; returns 0 (the request itself was answered). */
int ctl_error_reply(cJSON **reply, const char *why);

#endif
