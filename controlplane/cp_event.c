/* cp_event: one sink for the control plane's events (see cp_event.h). */
#include "cp_event.h"

static struct {
	cp_event_sink fn;
	void *ctx;
} sink;

void cp_event_set_sink(cp_event_sink fn, void *ctx)
{
	sink.fn = fn;
	sink.ctx = ctx;
}

void cp_event(const char *kind, cJSON *data)
{
	if (sink.fn)
		sink.fn(sink.ctx, kind, data);
	else
		cJSON_Delete(data);
}

void cp_event_str(const char *kind, const char *key, const char *value)
{
	cJSON *o;

	if (!sink.fn)
		return;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, key, value);
	cp_event(kind, o);
}
