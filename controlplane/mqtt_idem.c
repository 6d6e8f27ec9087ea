/* mqtt_idem: bounded cache of command responses (see mqtt_idem.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt_cmd.h"
#include "mqtt_idem.h"

struct idem_entry {
	char identity[MQTT_CMD_IDENTITY_LEN + 1];
	char id[MQTT_CMD_ID_LEN + 1];
	char *response; /* NULL: free slot */
};

struct mqtt_idem {
	unsigned cap, next, count;
	struct idem_entry e[];
};

mqtt_idem *mqtt_idem_create(unsigned capacity)
{
	mqtt_idem *c;

	if (!capacity)
		capacity = 1;
	c = calloc(1, sizeof(*c) + capacity * sizeof(c->e[0]));
	if (c)
		c->cap = capacity;
	return c;
}

void mqtt_idem_destroy(mqtt_idem *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < c->cap; i++)
		free(c->e[i].response);
	free(c);
}

/* Linear: commands arrive at human/automation rates and N is small. */
static struct idem_entry *find(const mqtt_idem *c, const char *identity, const char *id)
{
	for (unsigned i = 0; i < c->cap; i++) {
		struct idem_entry *e = (struct idem_entry *)&c->e[i];
		if (e->response && !strcmp(e->id, id) && !strcmp(e->identity, identity))
			return e;
	}
	return NULL;
}

const char *mqtt_idem_get(const mqtt_idem *c, const char *identity, const char *id)
{
	struct idem_entry *e = find(c, identity, id);
	return e ? e->response : NULL;
}

int mqtt_idem_put(mqtt_idem *c, const char *identity, const char *id, const char *response)
{
	struct idem_entry *e;
	char *copy;

	if (strlen(identity) > MQTT_CMD_IDENTITY_LEN || strlen(id) > MQTT_CMD_ID_LEN)
		return -EINVAL;
	copy = strdup(response);
	if (!copy)
		return -ENOMEM;
	e = find(c, identity, id);
	if (!e) {
		e = &c->e[c->next];
		c->next = (c->next + 1) % c->cap;
		if (!e->response)
			c->count++;
	}
	free(e->response);
	e->response = copy;
	strcpy(e->identity, identity);
	strcpy(e->id, id);
	return 0;
}

unsigned mqtt_idem_count(const mqtt_idem *c)
{
	return c->count;
}
