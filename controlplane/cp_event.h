/*
 * cp_event: things that happened (agent online, tunnel down, pull ended...)
 * reported by the modules that see them, handed to one sink (mqtt.c
 * publishes them). No sink: dropped silently (standalone spcp).
 */
#ifndef SP_CP_EVENT_H
#define SP_CP_EVENT_H

#include <cjson/cJSON.h>

typedef void (*cp_event_sink)(void *ctx, const char *kind, cJSON *data);

void cp_event_set_sink(cp_event_sink fn, void *ctx);
/* kind: [a-z_]+ (the topic's last level); data is consumed (may be NULL). */
void cp_event(const char *kind, cJSON *data);
/* An event whose data is {key: value}. */
void cp_event_str(const char *kind, const char *key, const char *value);

#endif
