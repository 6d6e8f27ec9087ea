/*
 * mqtt: spcp's MQTT 5 session (see mqtt.h, docs/mqtt.md).
 *
 * Threads: libmosquitto's connect blocks on DNS, TCP and the TLS handshake,
 * and the control loop must never wait for a broker. So the session runs
 * on its own thread: connect with backoff, then mosquitto_loop_forever(),
 * which reconnects by itself (reconnect_delay_set). Its callbacks only copy
 * what arrived into a bounded queue and poke an eventfd; everything else
 * (commands, status, events) happens on the control loop, where the ctl
 * handlers live. Publishing from the control loop is thread-safe in
 * libmosquitto (threaded_set) and never blocks: it queues for the thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "clock.h"
#include "cp_event.h"
#include "log.h"
#include "mqtt.h"
#include "mqtt_cmd.h"
#include "mqtt_idem.h"

#define MQ_QUEUE 256            /* arrivals waiting for the control loop */
#define MQ_TOPIC_MAX 256
#define MQ_CHANGE_MIN_NS 1000000000ull /* status republished on change at most 1/s */
#define MQ_JOIN_TIMEOUT_S 3
#define MQTT_DISCONNECT_WITH_WILL 0x04

enum mq_kind { MQI_CONNECTED, MQI_DISCONNECTED, MQI_MESSAGE };

struct mq_item {
	enum mq_kind kind;
	int rc;
	char *topic;
	void *payload;  /* NULL when the payload was over MQTT_CMD_MAX_PAYLOAD */
	size_t len;
	char *resp_topic;
	void *corr;
	uint16_t corr_len;
};

struct mq_event {
	char *topic, *payload;
};

enum mq_cmd_result {
	MQR_OK, MQR_FAILED, MQR_BAD_REQUEST, MQR_UNKNOWN, MQR_UNAUTHORISED, MQR_TOO_BIG,
	MQR_REPEATED, MQR_NO_RESPONSE_TOPIC, MQR__COUNT
};
static const char *const result_names[MQR__COUNT] = {
	"ok", "failed", "bad_request", "unknown", "unauthorised", "too_big", "repeated",
	"no_response_topic",
};

struct cp_mqtt {
	const struct cp_config *cfg;
	ctlsock *cs;
	dp_link *link;
	bool enabled;
	struct mosquitto *mosq;
	pthread_t thread;
	bool thread_started;
	atomic_bool stop;
	int efd;

	/* shared with the session thread, under mu */
	pthread_mutex_t mu;
	struct mq_item q[MQ_QUEUE];
	unsigned qhead, qlen;
	uint64_t queue_drops;
	char last_error[160];

	/* control loop only */
	bool connected, draining, dirty, attached;
	char client_id[128];
	char t_status[MQ_TOPIC_MAX], t_cmd[MQ_TOPIC_MAX], t_events[MQ_TOPIC_MAX];
	char t_cmd_sub[MQ_TOPIC_MAX];
	mqtt_idem *idem;
	struct mq_event *ev;
	unsigned ev_head, ev_len;
	uint64_t next_status_ns, last_status_ns;
	uint64_t cpu_prev_ns, wall_prev_ns;
	double rx_prev_bytes;
	struct {
		uint64_t published, publish_errors, connects, disconnects;
		uint64_t cmd[MQR__COUNT];
		uint64_t ev_published, ev_dropped;
	} n;
};

static const char *const cluster_cmd_prefix = "sp/v1/cluster/cmd/";
static const char *const cluster_cmd_sub = "$share/sp/sp/v1/cluster/cmd/+/+";

/* ------------------------------------------------------------ session thread */

__attribute__((format(printf, 2, 3)))
static void set_error(cp_mqtt *m, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&m->mu);
	va_start(ap, fmt);
	vsnprintf(m->last_error, sizeof(m->last_error), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&m->mu);
}

static void item_free(struct mq_item *it)
{
	free(it->topic);
	free(it->payload);
	free(it->resp_topic);
	free(it->corr);
	memset(it, 0, sizeof(*it));
}

/* Session thread: hand an arrival to the control loop, or count it dropped. */
static void push(cp_mqtt *m, struct mq_item *it)
{
	uint64_t one = 1;
	bool ok;

	pthread_mutex_lock(&m->mu);
	ok = m->qlen < MQ_QUEUE;
	if (ok) {
		m->q[(m->qhead + m->qlen) % MQ_QUEUE] = *it;
		m->qlen++;
	} else {
		m->queue_drops++;
	}
	pthread_mutex_unlock(&m->mu);
	if (!ok)
		item_free(it);
	else if (write(m->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn(errno, "mqtt: eventfd");
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags, const mosquitto_property *p)
{
	cp_mqtt *m = obj;
	struct mq_item it = { .kind = MQI_CONNECTED, .rc = rc };

	(void)mosq, (void)flags, (void)p;
	if (rc)
		set_error(m, "broker refused the connection: %s", mosquitto_reason_string(rc));
	push(m, &it);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc, const mosquitto_property *p)
{
	cp_mqtt *m = obj;
	struct mq_item it = { .kind = MQI_DISCONNECTED, .rc = rc };

	(void)mosq, (void)p;
	if (rc && !atomic_load(&m->stop))
		set_error(m, "disconnected: %s", rc == MOSQ_ERR_ERRNO ? strerror(errno) :
						 mosquitto_strerror(rc));
	push(m, &it);
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg,
		       const mosquitto_property *props)
{
	cp_mqtt *m = obj;
	struct mq_item it = { .kind = MQI_MESSAGE, .len = (size_t)msg->payloadlen };
	void *corr = NULL;

	(void)mosq;
	it.topic = strdup(msg->topic);
	if (it.len <= MQTT_CMD_MAX_PAYLOAD) {
		it.payload = malloc(it.len + 1);
		if (it.payload) {
			memcpy(it.payload, msg->payload, it.len);
			((char *)it.payload)[it.len] = '\0';
		}
	}
	mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &it.resp_topic, false);
	if (mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &corr, &it.corr_len, false))
		it.corr = corr;
	if (!it.topic || (it.len <= MQTT_CMD_MAX_PAYLOAD && !it.payload)) {
		item_free(&it);
		pthread_mutex_lock(&m->mu);
		m->queue_drops++;
		pthread_mutex_unlock(&m->mu);
		return;
	}
	push(m, &it);
}

static void *session(void *arg)
{
	cp_mqtt *m = arg;
	const struct cp_config *cfg = m->cfg;
	unsigned delay = cfg->mqtt_reconnect_min_s;

	while (!atomic_load(&m->stop)) {
		int rc = mosquitto_connect_bind_v5(m->mosq, cfg->mqtt_host, (int)cfg->mqtt_port,
						   (int)cfg->mqtt_keepalive_s, NULL, NULL);
		if (rc == MOSQ_ERR_SUCCESS)
			break;
		set_error(m, "connect %s:%u: %s", cfg->mqtt_host, cfg->mqtt_port,
			  rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		for (unsigned i = 0; i < delay * 10 && !atomic_load(&m->stop); i++)
			usleep(100 * 1000);
		delay = delay * 2 > cfg->mqtt_reconnect_max_s ? cfg->mqtt_reconnect_max_s : delay * 2;
	}
	/* returns after mosquitto_disconnect(); reconnects by itself before that */
	if (!atomic_load(&m->stop))
		mosquitto_loop_forever(m->mosq, 1000, 1);
	return NULL;
}

/* ------------------------------------------------------------ publishing */

static int publish(cp_mqtt *m, const char *topic, const char *payload, bool retain,
		   const mosquitto_property *props)
{
	int rc = mosquitto_publish_v5(m->mosq, NULL, topic, (int)strlen(payload), payload, 1, retain, props);

	if (rc) {
		m->n.publish_errors++;
		set_error(m, "publish %.80s: %s", topic, mosquitto_strerror(rc));
		return -EIO;
	}
	m->n.published++;
	return 0;
}

static double cpu_seconds_of(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* fields after the command name, which may hold spaces: utime is the 14th */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Item count of a ctl command's reply: key "count", else the array under arr. */
static double ctl_count(cp_mqtt *m, const char *cmd, const char *params, const char *arr)
{
	cJSON *r = NULL, *v;
	double n = 0;

	if (ctlsock_invoke(m->cs, cmd, params, &r) == 0 && r) {
		if (arr && cJSON_IsArray(v = cJSON_GetObjectItemCaseSensitive(r, arr)))
			n = cJSON_GetArraySize(v);
		else if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(r, "count")))
			n = v->valuedouble;
	}
	cJSON_Delete(r);
	return n;
}

static cJSON *load_json(cp_mqtt *m)
{
	cJSON *o = cJSON_CreateObject(), *r = NULL, *fl;
	double flows = 0, subs = 0, rx = 0, cpu, bw = 0, cpu_pct = 0;
	uint64_t now = clock_mono_ns();
	struct timespec ts;

	/* the registry's own view, through the same handler spctl uses */
	if (ctlsock_invoke(m->cs, "/flows", NULL, &r) == 0 && r &&
	    cJSON_IsArray(fl = cJSON_GetObjectItemCaseSensitive(r, "flows"))) {
		const cJSON *f;
		cJSON_ArrayForEach(f, fl) {
			const cJSON *s = cJSON_GetObjectItemCaseSensitive(f, "subscribers");
			const cJSON *b = cJSON_GetObjectItemCaseSensitive(f, "rx_bytes");
			flows++;
			subs += cJSON_IsNumber(s) ? s->valuedouble : 0;
			rx += cJSON_IsNumber(b) ? b->valuedouble : 0;
		}
	}
	cJSON_Delete(r);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	cpu = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	if (dp_link_pid(m->link) > 0)
		cpu += cpu_seconds_of(dp_link_pid(m->link));
	if (m->wall_prev_ns && now > m->wall_prev_ns) {
		double dt = (double)(now - m->wall_prev_ns) / 1e9;
		cpu_pct = (cpu - (double)m->cpu_prev_ns / 1e9) / dt * 100;
		bw = rx >= m->rx_prev_bytes ? (rx - m->rx_prev_bytes) * 8 / dt : 0;
	}
	m->wall_prev_ns = now;
	m->cpu_prev_ns = (uint64_t)(cpu * 1e9);
	m->rx_prev_bytes = rx;
	cJSON_AddNumberToObject(o, "flows", flows);
	cJSON_AddNumberToObject(o, "subscribers", subs);
	cJSON_AddNumberToObject(o, "agents", ctl_count(m, "/agents", NULL, NULL));
	cJSON_AddNumberToObject(o, "tunnels", ctl_count(m, "/tunnels", NULL, "tunnels"));
	cJSON_AddNumberToObject(o, "pulls", ctl_count(m, "/rtsp", NULL, NULL));
	cJSON_AddNumberToObject(o, "ingest_bps", bw < 0 ? 0 : (double)(uint64_t)bw);
	cJSON_AddNumberToObject(o, "cpu_percent", cpu_pct < 0 ? 0 : (double)(int)(cpu_pct * 10) / 10);
	return o;
}

static const char *state_name(const cp_mqtt *m)
{
	return m->draining ? "draining" : "up";
}

static cJSON *status_json(cp_mqtt *m, const char *state)
{
	cJSON *o = cJSON_CreateObject(), *a;
	const char *p = m->cfg->mqtt_addresses;

	cJSON_AddStringToObject(o, "state", state);
	cJSON_AddStringToObject(o, "id", m->cfg->mqtt_sp_id);
	cJSON_AddStringToObject(o, "version", SP_VERSION);
	cJSON_AddNumberToObject(o, "time", (double)time(NULL));
	if (strcmp(state, "down")) {
		cJSON_AddBoolToObject(o, "spdp_attached", dp_link_attached(m->link));
		a = cJSON_AddObjectToObject(o, "addresses");
		while (*p) {
			char kv[256], *eq;
			size_t n = strcspn(p, ", ");
			if (n && n < sizeof(kv)) {
				memcpy(kv, p, n);
				kv[n] = '\0';
				if ((eq = strchr(kv, '=')) && eq != kv) {
					*eq = '\0';
					cJSON_AddStringToObject(a, kv, eq + 1);
				}
			}
			p += n;
			p += strspn(p, ", ");
		}
		if (m->cfg->ep_enable)
			cJSON_AddStringToObject(a, "endpoint", m->cfg->ep_listen);
		cJSON_AddItemToObject(o, "load", load_json(m));
	}
	return o;
}

static void publish_status(cp_mqtt *m, const char *state)
{
	cJSON *o = status_json(m, state);
	char *s = cJSON_PrintUnformatted(o);

	if (s && m->connected)
		publish(m, m->t_status, s, true, NULL);
	free(s);
	cJSON_Delete(o);
	m->dirty = false;
	m->last_status_ns = clock_mono_ns();
	m->next_status_ns = m->last_status_ns + (uint64_t)m->cfg->mqtt_status_interval_s * 1000000000ull;
}

/* ------------------------------------------------------------ events */

static void ev_drop_oldest(cp_mqtt *m)
{
	struct mq_event *e = &m->ev[m->ev_head];

	free(e->topic);
	free(e->payload);
	e->topic = e->payload = NULL;
	m->ev_head = (m->ev_head + 1) % m->cfg->mqtt_max_events;
	m->ev_len--;
	m->n.ev_dropped++;
}

static void on_cp_event(void *ctx, const char *kind, cJSON *data)
{
	cp_mqtt *m = ctx;
	char topic[MQ_TOPIC_MAX];
	char *payload;

	m->dirty = true; /* events are load changes: refresh the status soon */
	if (!data)
		data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "event", kind);
	cJSON_AddStringToObject(data, "streampoint", m->cfg->mqtt_sp_id);
	cJSON_AddNumberToObject(data, "time", (double)time(NULL));
	payload = cJSON_PrintUnformatted(data);
	cJSON_Delete(data);
	snprintf(topic, sizeof(topic), "%s%s", m->t_events, kind);
	if (!payload)
		return;
	if (m->connected && m->ev_len == 0 && publish(m, topic, payload, false, NULL) == 0) {
		m->n.ev_published++;
		free(payload);
		return;
	}
	/* broker unreachable: keep it, oldest dropped first */
	if (!m->cfg->mqtt_max_events) {
		m->n.ev_dropped++;
		free(payload);
		return;
	}
	if (m->ev_len == m->cfg->mqtt_max_events)
		ev_drop_oldest(m);
	struct mq_event *e = &m->ev[(m->ev_head + m->ev_len) % m->cfg->mqtt_max_events];
	e->topic = strdup(topic);
	e->payload = payload;
	if (!e->topic) {
		free(e->payload);
		e->payload = NULL;
		m->n.ev_dropped++;
		return;
	}
	m->ev_len++;
}

static void ev_flush(cp_mqtt *m)
{
	while (m->ev_len && m->connected) {
		struct mq_event *e = &m->ev[m->ev_head];
		if (publish(m, e->topic, e->payload, false, NULL) < 0)
			break;
		m->n.ev_published++;
		free(e->topic);
		free(e->payload);
		e->topic = e->payload = NULL;
		m->ev_head = (m->ev_head + 1) % m->cfg->mqtt_max_events;
		m->ev_len--;
	}
}

/* ------------------------------------------------------------ commands */

static const char *const pos_switch[] = { "device", "streampoint", NULL };
static const char *const pos_level[] = { "level", NULL };

enum verb_internal { V_CTL, V_STATUS, V_DRAIN, V_UNDRAIN };

/* MQTT command name -> the control-socket command with the same params. */
static const struct verb {
	const char *name, *ctl;
	const char *const *positional;
	enum verb_internal internal;
} verbs[] = {
	{ "status", NULL, NULL, V_STATUS },
	{ "drain", NULL, NULL, V_DRAIN },
	{ "undrain", NULL, NULL, V_UNDRAIN },
	{ "list_agents", "/agents", NULL, V_CTL },
	{ "list_flows", "/flows", NULL, V_CTL },
	{ "describe_flow", "/flow", NULL, V_CTL },
	{ "list_tunnels", "/tunnels", NULL, V_CTL },
	{ "list_pulls", "/rtsp", NULL, V_CTL },
	{ "flow_add", "/flow/add", NULL, V_CTL },
	{ "flow_del", "/flow/del", NULL, V_CTL },
	{ "flow_rekey", "/flow/rekey", NULL, V_CTL },
	{ "sub_add", "/sub/add", NULL, V_CTL },
	{ "sub_del", "/sub/del", NULL, V_CTL },
	{ "sub_rekey", "/sub/rekey", NULL, V_CTL },
	{ "rtsp_pull", "/rtsp/pull", NULL, V_CTL },
	{ "rtsp_stop", "/rtsp/stop", NULL, V_CTL },
	{ "agent_switch", "/agent/switch", pos_switch, V_CTL },
	{ "set_log_level", "/log_level", pos_level, V_CTL },
};

static const struct verb *find_verb(const char *name)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(verbs[i].name, name))
			return &verbs[i];
	return NULL;
}

/* Drain: the status says so, and a local endpoint stops assigning us. */
static cJSON *set_draining(cp_mqtt *m, bool on)
{
	cJSON *r = cJSON_CreateObject(), *ep = NULL;
	bool changed = m->draining != on;

	m->draining = on;
	cJSON_AddStringToObject(r, "state", state_name(m));
	if (ctlsock_invoke(m->cs, on ? "/streampoint/down" : "/streampoint/up", m->cfg->mqtt_sp_id,
			   &ep) == 0 && ep)
		cJSON_AddItemToObject(r, "endpoint", ep);
	else
		cJSON_Delete(ep);
	if (changed) {
		log_notice("mqtt: streampoint %s %s", m->cfg->mqtt_sp_id, on ? "draining" : "up again");
		cp_event_str(on ? "streampoint_draining" : "streampoint_up", "id", m->cfg->mqtt_sp_id);
		m->dirty = true;
		m->last_status_ns = 0; /* a state change goes out at once */
	}
	return r;
}

/* Run a verb: *ok false with an error string as the result, else the result. */
static cJSON *run_verb(cp_mqtt *m, const struct verb *v, const char *params, bool *ok)
{
	cJSON *r = NULL, *e;
	int rc;

	*ok = true;
	switch (v->internal) {
	case V_STATUS:
		return status_json(m, state_name(m));
	case V_DRAIN:
	case V_UNDRAIN:
		return set_draining(m, v->internal == V_DRAIN);
	case V_CTL:
		break;
	}
	rc = ctlsock_invoke(m->cs, v->ctl, params, &r);
	m->dirty = true;
	if (rc == -ENOENT) {
		*ok = false;
		return cJSON_CreateString("not available on this streampoint (module disabled)");
	}
	if (rc < 0) {
		*ok = false;
		return cJSON_CreateString(strerror(-rc));
	}
	/* handlers answer requests they cannot satisfy with {"error": why} */
	if (cJSON_IsObject(r) && cJSON_IsString(e = cJSON_GetObjectItemCaseSensitive(r, "error"))) {
		cJSON *s = cJSON_CreateString(e->valuestring);
		cJSON_Delete(r);
		*ok = false;
		return s;
	}
	return r ? r : cJSON_CreateObject();
}

static char *response(cp_mqtt *m, const char *id, bool ok, cJSON *res_or_err)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	if (id)
		cJSON_AddStringToObject(o, "id", id);
	else
		cJSON_AddNullToObject(o, "id");
	cJSON_AddBoolToObject(o, "ok", ok);
	cJSON_AddStringToObject(o, "streampoint", m->cfg->mqtt_sp_id);
	cJSON_AddItemToObject(o, ok ? "result" : "error", res_or_err);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static void respond(cp_mqtt *m, const struct mq_item *it, const char *payload)
{
	mosquitto_property *props = NULL;

	if (!payload)
		return;
	if (!it->resp_topic) {
		m->n.cmd[MQR_NO_RESPONSE_TOPIC]++;
		return;
	}
	if (it->corr)
		mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, it->corr, it->corr_len);
	publish(m, it->resp_topic, payload, false, props);
	mosquitto_property_free_all(&props);
}

static void fail_cmd(cp_mqtt *m, const struct mq_item *it, enum mq_cmd_result why, const char *id,
		     const char *msg)
{
	char *s = response(m, id && *id ? id : NULL, false, cJSON_CreateString(msg));

	m->n.cmd[why]++;
	respond(m, it, s);
	free(s);
}

/* "<identity>/<name>" after one of our command prefixes, else false. */
static bool split_topic(cp_mqtt *m, const char *topic, char *ident, char *name)
{
	const char *rest, *slash;
	size_t cl = strlen(m->t_cmd), gl = strlen(cluster_cmd_prefix);

	if (!strncmp(topic, m->t_cmd, cl))
		rest = topic + cl;
	else if (!strncmp(topic, cluster_cmd_prefix, gl))
		rest = topic + gl;
	else
		return false;
	slash = strchr(rest, '/');
	if (!slash || strchr(slash + 1, '/') || !mqtt_cmd_identity_ok(rest, (size_t)(slash - rest)) ||
	    !mqtt_cmd_name_ok(slash + 1, strlen(slash + 1)))
		return false;
	memcpy(ident, rest, (size_t)(slash - rest));
	ident[slash - rest] = '\0';
	strcpy(name, slash + 1);
	return true;
}

static void handle_command(cp_mqtt *m, const struct mq_item *it)
{
	char ident[MQTT_CMD_IDENTITY_LEN + 1], name[MQTT_CMD_NAME_LEN + 1];
	struct mqtt_cmd_req req;
	const struct verb *v;
	const char *why, *cached;
	bool ok;

	if (!split_topic(m, it->topic, ident, name))
		return fail_cmd(m, it, MQR_BAD_REQUEST, NULL, "bad command topic");
	if (!it->payload)
		return fail_cmd(m, it, MQR_TOO_BIG, NULL, "payload too big");
	v = find_verb(name);
	enum mqtt_cmd_status st = mqtt_cmd_parse(it->payload, it->len, v ? v->positional : NULL, &req, &why);
	if (st != MQTT_CMD_OK)
		return fail_cmd(m, it, MQR_BAD_REQUEST, req.id, why);
	if (!v)
		return fail_cmd(m, it, MQR_UNKNOWN, req.id, "unknown command");
	if (!mqtt_cmd_allowed(m->cfg->mqtt_acl, ident, name)) {
		log_info("mqtt: %s may not run %s", ident, name);
		return fail_cmd(m, it, MQR_UNAUTHORISED, req.id, "not authorised");
	}
	if ((cached = mqtt_idem_get(m->idem, ident, req.id))) {
		m->n.cmd[MQR_REPEATED]++;
		respond(m, it, cached);
		return;
	}
	cJSON *r = run_verb(m, v, req.params, &ok);
	char *s = response(m, req.id, ok, r);
	m->n.cmd[ok ? MQR_OK : MQR_FAILED]++;
	log_info("mqtt: %s ran %s (id %s): %s", ident, name, req.id, ok ? "ok" : "failed");
	if (s && mqtt_idem_put(m->idem, ident, req.id, s) < 0)
		log_warn(ENOMEM, "mqtt: idempotency cache");
	respond(m, it, s);
	free(s);
}

/* ------------------------------------------------------------ control loop */

static void on_connected(cp_mqtt *m)
{
	int rc;

	m->connected = true;
	if (m->n.connects++)
		log_notice("mqtt: reconnected to %s:%u", m->cfg->mqtt_host, m->cfg->mqtt_port);
	else
		log_notice("mqtt: connected to %s:%u as %s", m->cfg->mqtt_host, m->cfg->mqtt_port,
			   m->client_id);
	if ((rc = mosquitto_subscribe_v5(m->mosq, NULL, m->t_cmd_sub, 1, 0, NULL)) ||
	    (rc = mosquitto_subscribe_v5(m->mosq, NULL, cluster_cmd_sub, 1, 0, NULL)))
		set_error(m, "subscribe: %s", mosquitto_strerror(rc));
	publish_status(m, state_name(m));
	ev_flush(m);
}

void cp_mqtt_dispatch(cp_mqtt *m)
{
	uint64_t v;
	struct mq_item it;

	if (read(m->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn(errno, "mqtt: eventfd");
	for (;;) {
		pthread_mutex_lock(&m->mu);
		bool got = m->qlen > 0;
		if (got) {
			it = m->q[m->qhead];
			m->qhead = (m->qhead + 1) % MQ_QUEUE;
			m->qlen--;
		}
		pthread_mutex_unlock(&m->mu);
		if (!got)
			break;
		switch (it.kind) {
		case MQI_CONNECTED:
			if (it.rc == 0)
				on_connected(m);
			break;
		case MQI_DISCONNECTED:
			if (m->connected) {
				m->n.disconnects++;
				log_warn(0, "mqtt: lost the broker (%s); events buffered up to %u",
					 mosquitto_strerror(it.rc), m->cfg->mqtt_max_events);
			}
			m->connected = false;
			break;
		case MQI_MESSAGE:
			handle_command(m, &it);
			break;
		}
		item_free(&it);
	}
}

void cp_mqtt_tick(cp_mqtt *m, uint64_t now)
{
	if (!m || !m->enabled || !m->connected)
		return;
	if (dp_link_attached(m->link) != m->attached) {
		m->attached = dp_link_attached(m->link);
		m->dirty = true;
	}
	if (now >= m->next_status_ns || (m->dirty && now >= m->last_status_ns + MQ_CHANGE_MIN_NS))
		publish_status(m, state_name(m));
	ev_flush(m);
}

int cp_mqtt_fd(const cp_mqtt *m)
{
	return m && m->enabled ? m->efd : -1;
}

static int cmd_mqtt(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	cp_mqtt *m = ctx;
	cJSON *o = cJSON_CreateObject(), *c, *e;
	char broker[300];

	(void)cmd, (void)params;
	*reply = o;
	cJSON_AddBoolToObject(o, "enabled", m->enabled);
	if (!m->enabled)
		return 0;
	snprintf(broker, sizeof(broker), "%s:%u", m->cfg->mqtt_host, m->cfg->mqtt_port);
	cJSON_AddStringToObject(o, "broker", broker);
	cJSON_AddBoolToObject(o, "tls", m->cfg->mqtt_tls);
	cJSON_AddStringToObject(o, "client_id", m->client_id);
	cJSON_AddStringToObject(o, "streampoint_id", m->cfg->mqtt_sp_id);
	cJSON_AddBoolToObject(o, "connected", m->connected);
	cJSON_AddStringToObject(o, "state", state_name(m));
	pthread_mutex_lock(&m->mu);
	cJSON_AddStringToObject(o, "last_error", m->last_error);
	uint64_t qd = m->queue_drops;
	pthread_mutex_unlock(&m->mu);
	cJSON_AddNumberToObject(o, "published", (double)m->n.published);
	cJSON_AddNumberToObject(o, "publish_errors", (double)m->n.publish_errors);
	cJSON_AddNumberToObject(o, "connects", (double)m->n.connects);
	cJSON_AddNumberToObject(o, "reconnects", (double)(m->n.connects ? m->n.connects - 1 : 0));
	cJSON_AddNumberToObject(o, "disconnects", (double)m->n.disconnects);
	c = cJSON_AddObjectToObject(o, "commands");
	for (int i = 0; i < MQR__COUNT; i++)
		cJSON_AddNumberToObject(c, result_names[i], (double)m->n.cmd[i]);
	cJSON_AddNumberToObject(c, "queue_drops", (double)qd);
	cJSON_AddNumberToObject(c, "idempotency_entries", mqtt_idem_count(m->idem));
	e = cJSON_AddObjectToObject(o, "events");
	cJSON_AddNumberToObject(e, "published", (double)m->n.ev_published);
	cJSON_AddNumberToObject(e, "buffered", m->ev_len);
	cJSON_AddNumberToObject(e, "dropped", (double)m->n.ev_dropped);
	return 0;
}

int cp_mqtt_register_ctl(cp_mqtt *m, ctlsock *cs)
{
	return ctlsock_register(cs, "/mqtt", cmd_mqtt, m,
				"MQTT session: connection, broker, last error, counters (commands by result, "
				"events dropped, reconnects)");
}

/* ------------------------------------------------------------ setup */

static int read_password(const char *path, char *out, size_t len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");

	if (!f) {
		snprintf(err, errlen, "[mqtt] password_file %s: %s", path, strerror(errno));
		return -1;
	}
	if (!fgets(out, (int)len, f))
		out[0] = '\0';
	fclose(f);
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

static int configure(cp_mqtt *m, char *err, size_t errlen)
{
	const struct cp_config *cfg = m->cfg;
	char will[256], pw[256] = "";
	int rc;

	m->mosq = mosquitto_new(m->client_id, true, m);
	if (!m->mosq) {
		snprintf(err, errlen, "mqtt: mosquitto_new: %s", strerror(errno));
		return -1;
	}
	mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	/* small requests and responses: Nagle + delayed ACK would add ~40 ms each */
	mosquitto_int_option(m->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_threaded_set(m->mosq, true);
	mosquitto_reconnect_delay_set(m->mosq, cfg->mqtt_reconnect_min_s, cfg->mqtt_reconnect_max_s, true);
	mosquitto_connect_v5_callback_set(m->mosq, on_connect);
	mosquitto_disconnect_v5_callback_set(m->mosq, on_disconnect);
	mosquitto_message_v5_callback_set(m->mosq, on_message);
	snprintf(will, sizeof(will), "{\"state\":\"down\",\"id\":\"%s\",\"version\":\"%s\",\"reason\":\"will\"}",
		 cfg->mqtt_sp_id, SP_VERSION);
	if ((rc = mosquitto_will_set_v5(m->mosq, m->t_status, (int)strlen(will), will, 1, true, NULL))) {
		snprintf(err, errlen, "mqtt: will: %s", mosquitto_strerror(rc));
		return -1;
	}
	if (cfg->mqtt_password_file[0] && read_password(cfg->mqtt_password_file, pw, sizeof(pw), err, errlen))
		return -1;
	rc = cfg->mqtt_username[0] ? mosquitto_username_pw_set(m->mosq, cfg->mqtt_username,
							       pw[0] ? pw : NULL) : 0;
	explicit_bzero(pw, sizeof(pw));
	if (rc) {
		snprintf(err, errlen, "mqtt: username: %s", mosquitto_strerror(rc));
		return -1;
	}
	if (cfg->mqtt_tls) {
		if (!cfg->mqtt_ca_file[0]) {
			snprintf(err, errlen, "[mqtt] tls needs ca_file");
			return -1;
		}
		rc = mosquitto_tls_set(m->mosq, cfg->mqtt_ca_file, NULL,
				       cfg->mqtt_cert_file[0] ? cfg->mqtt_cert_file : NULL,
				       cfg->mqtt_key_file[0] ? cfg->mqtt_key_file : NULL, NULL);
		if (!rc)
			rc = mosquitto_tls_opts_set(m->mosq, 1, "tlsv1.2", NULL);
		if (rc) {
			snprintf(err, errlen, "mqtt: TLS setup (ca_file %s, cert_file %s): %s",
				 cfg->mqtt_ca_file, cfg->mqtt_cert_file, mosquitto_strerror(rc));
			return -1;
		}
	}
	return 0;
}

cp_mqtt *cp_mqtt_create(const struct cp_config *cfg, ctlsock *cs, dp_link *link, char *err, size_t errlen)
{
	cp_mqtt *m = calloc(1, sizeof(*m));

	if (!m) {
		snprintf(err, errlen, "mqtt: out of memory");
		return NULL;
	}
	m->cfg = cfg;
	m->cs = cs;
	m->link = link;
	m->efd = -1;
	m->enabled = cfg->mqtt_enable;
	pthread_mutex_init(&m->mu, NULL);
	if (!m->enabled)
		return m;
	if (!cfg->mqtt_host[0] || !mqtt_cmd_identity_ok(cfg->mqtt_sp_id, strlen(cfg->mqtt_sp_id))) {
		snprintf(err, errlen, "[mqtt] needs host and a streampoint_id of [A-Za-z0-9_.-]{1,64}");
		goto fail;
	}
	if (cfg->mqtt_client_id[0])
		snprintf(m->client_id, sizeof(m->client_id), "%s", cfg->mqtt_client_id);
	else
		snprintf(m->client_id, sizeof(m->client_id), "sp-%s", cfg->mqtt_sp_id);
	snprintf(m->t_status, sizeof(m->t_status), "sp/v1/streampoints/%s/status", cfg->mqtt_sp_id);
	snprintf(m->t_cmd, sizeof(m->t_cmd), "sp/v1/streampoints/%s/cmd/", cfg->mqtt_sp_id);
	snprintf(m->t_cmd_sub, sizeof(m->t_cmd_sub), "sp/v1/streampoints/%s/cmd/+/+", cfg->mqtt_sp_id);
	snprintf(m->t_events, sizeof(m->t_events), "sp/v1/streampoints/%s/events/", cfg->mqtt_sp_id);
	m->idem = mqtt_idem_create(cfg->mqtt_idem_entries);
	m->ev = calloc(cfg->mqtt_max_events ? cfg->mqtt_max_events : 1, sizeof(*m->ev));
	m->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!m->idem || !m->ev || m->efd < 0) {
		snprintf(err, errlen, "mqtt: setup: %s", strerror(errno));
		goto fail;
	}
	mosquitto_lib_init();
	if (configure(m, err, errlen) < 0)
		goto fail;
	if (pthread_create(&m->thread, NULL, session, m)) {
		snprintf(err, errlen, "mqtt: thread: %s", strerror(errno));
		goto fail;
	}
	m->thread_started = true;
	cp_event_set_sink(on_cp_event, m);
	log_notice("mqtt: streampoint %s, broker %s:%u (%s), client id %s", cfg->mqtt_sp_id, cfg->mqtt_host,
		   cfg->mqtt_port, cfg->mqtt_tls ? "TLS" : "plain TCP", m->client_id);
	return m;
fail:
	cp_mqtt_destroy(m);
	return NULL;
}

void cp_mqtt_destroy(cp_mqtt *m)
{
	if (!m)
		return;
	if (m->thread_started) {
		struct timespec ts;

		cp_event_set_sink(NULL, NULL);
		/* our own "down" first; reason 4 also has the broker send the Will */
		if (m->connected)
			publish_status(m, "down");
		atomic_store(&m->stop, true);
		mosquitto_disconnect_v5(m->mosq, MQTT_DISCONNECT_WITH_WILL, NULL);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += MQ_JOIN_TIMEOUT_S;
		if (pthread_timedjoin_np(m->thread, NULL, &ts)) {
			/* stuck in a blocking connect: leave it (and what it uses)
			 * to the process exit rather than hold the exit up */
			log_warn(0, "mqtt: session thread did not stop within %d s", MQ_JOIN_TIMEOUT_S);
			return;
		}
	}
	if (m->mosq) {
		mosquitto_destroy(m->mosq);
		mosquitto_lib_cleanup();
	}
	pthread_mutex_lock(&m->mu);
	while (m->qlen) {
		item_free(&m->q[m->qhead]);
		m->qhead = (m->qhead + 1) % MQ_QUEUE;
		m->qlen--;
	}
	pthread_mutex_unlock(&m->mu);
	while (m->ev && m->ev_len)
		ev_drop_oldest(m);
	free(m->ev);
	mqtt_idem_destroy(m->idem);
	if (m->efd >= 0)
		close(m->efd);
	pthread_mutex_destroy(&m->mu);
	free(m);
}
