/*
 * mqtt: spcp's session to an MQTT 5 broker (docs/mqtt.md): retained status
 * with a Last Will, commands with request/response that run the same
 * handlers as the control socket, and events. Disabled ([mqtt] enable =
 * false) it only answers /mqtt with {"enabled": false}.
 */
#ifndef SP_CP_MQTT_H
#define SP_CP_MQTT_H

#include <stdint.h>

#include "cp.h"
#include "ctlsock.h"

typedef struct cp_mqtt cp_mqtt;

/* Starts the session thread when enabled. NULL with err filled on bad config. */
cp_mqtt *cp_mqtt_create(const struct cp_config *cfg, ctlsock *cs, dp_link *link, char *err, size_t errlen);
/* Publishes status down, disconnects (the broker then also sends the Will),
 * joins the session thread. */
void cp_mqtt_destroy(cp_mqtt *m);
int cp_mqtt_register_ctl(cp_mqtt *m, ctlsock *cs);
/* An eventfd the control loop polls (-1 when disabled); then dispatch. */
int cp_mqtt_fd(const cp_mqtt *m);
void cp_mqtt_dispatch(cp_mqtt *m);
/* Status refresh; call every tick. */
void cp_mqtt_tick(cp_mqtt *m, uint64_t now_ns);

#endif
