/*
 * mqtt_idem: the last N command responses by (identity, command id), so a
 * command the broker redelivers (QoS 1) or a client retries gets the same
 * response without running twice. Fixed capacity, oldest evicted first.
 */
#ifndef SP_CP_MQTT_IDEM_H
#define SP_CP_MQTT_IDEM_H

#include <stddef.h>

typedef struct mqtt_idem mqtt_idem;

mqtt_idem *mqtt_idem_create(unsigned capacity);
void mqtt_idem_destroy(mqtt_idem *c);
/* The stored response (valid until the next put), or NULL. */
const char *mqtt_idem_get(const mqtt_idem *c, const char *identity, const char *id);
/* Remember a response (copied); replaces an entry with the same key. 0 or -ENOMEM. */
int mqtt_idem_put(mqtt_idem *c, const char *identity, const char *id, const char *response);
unsigned mqtt_idem_count(const mqtt_idem *c);

#endif
