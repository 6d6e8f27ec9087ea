/* msg: catalogue of ring messages and the gate that checks them (msg.h). */
#include "msg.h"

#include <sys/socket.h>
#include <netinet/in.h>

#include "log.h"

#define K(k) RING_KIND_BIT(RING_KIND_##k)

static const struct msg_info catalogue[MSG__COUNT] = {
	[MSG_HELLO] = { "hello", 1, sizeof(struct msg_hello), sizeof(struct msg_hello), K(MAIN_CMD) },
	[MSG_HELLO_ACK] = { "hello_ack", 1, sizeof(struct msg_hello_ack),
			    sizeof(struct msg_hello_ack), K(MAIN_EVT) },
	[MSG_PING] = { "ping", 1, sizeof(struct msg_ping), sizeof(struct msg_ping),
		       K(MAIN_CMD) | K(CMD) },
	[MSG_PONG] = { "pong", 1, sizeof(struct msg_pong), sizeof(struct msg_pong),
		       K(MAIN_EVT) | K(EVT) },
	[MSG_SET_LOG_LEVEL] = { "set_log_level", 1, sizeof(struct msg_set_log_level),
				sizeof(struct msg_set_log_level), K(MAIN_CMD) },
	[MSG_CMD_ERROR] = { "cmd_error", 1, sizeof(struct msg_cmd_error),
			    sizeof(struct msg_cmd_error), K(MAIN_EVT) | K(EVT) },
	[MSG_EXC_PACKET] = { "exc_packet", 1, sizeof(struct msg_exc_packet),
			     sizeof(struct msg_exc_packet) + MSG_EXC_MAX_PAYLOAD,
			     K(EXC_UP) | K(EXC_DOWN) },
};

const struct msg_info *msg_lookup(uint16_t type)
{
	if (type == RING_MSG_PAD || type >= MSG__COUNT || !catalogue[type].version)
		return NULL;
	return &catalogue[type];
}

const char *msg_type_name(uint16_t type)
{
	const struct msg_info *mi = msg_lookup(type);
	return mi ? mi->name : "unknown";
}

static int check_fields(const struct ring_msg *m)
{
	switch (m->type) {
	case MSG_SET_LOG_LEVEL: {
		struct msg_set_log_level p;
		msg_read(m, &p, sizeof(p));
		return p.level >= LOG_LVL_ERR && p.level <= LOG_LVL_DEBUG ? 0 : DROP_MSG_BAD_FIELD;
	}
	case MSG_EXC_PACKET: {
		struct msg_exc_packet p;
		msg_read(m, &p, sizeof(p));
		if ((uint64_t)sizeof(p) + p.payload_len != m->len)
			return DROP_MSG_BAD_LEN;
		if ((p.family != AF_INET && p.family != AF_INET6) ||
		    (p.proto != IPPROTO_UDP && p.proto != IPPROTO_TCP))
			return DROP_MSG_BAD_FIELD;
		return 0;
	}
	default:
		return 0;
	}
}

int msg_check(const struct ring_msg *m, enum ring_kind kind)
{
	const struct msg_info *mi = msg_lookup(m->type);

	if (!mi)
		return DROP_MSG_BAD_TYPE;
	if (m->version == 0 || m->version > mi->version)
		return DROP_MSG_BAD_VERSION;
	if (m->len < mi->min_len || m->len > mi->max_len)
		return DROP_MSG_BAD_LEN;
	if (!(mi->ring_kinds & RING_KIND_BIT(kind)))
		return DROP_MSG_WRONG_RING;
	return check_fields(m);
}
