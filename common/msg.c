/* msg: catalogue of ring messages and the gate that checks them (msg.h). */
#include "msg.h"

#include <stddef.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "log.h"
#include "srtp_leg.h"

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
			     /* down on the command ring: behind the TURN effects of
			      * the same request, in one FIFO */
			     K(EXC_UP) | K(EXC_DOWN) | K(CMD) },
	/* flow_add and sub_add without their trailing SRTP keys are plain */
	[MSG_FLOW_ADD] = { "flow_add", 1, offsetof(struct msg_flow_add, srtp_rx),
			   sizeof(struct msg_flow_add), K(CMD) },
	[MSG_FLOW_DEL] = { "flow_del", 1, sizeof(struct msg_flow_del), sizeof(struct msg_flow_del), K(CMD) },
	[MSG_SUB_ADD] = { "sub_add", 1, offsetof(struct msg_sub_add, srtp_tx),
			  sizeof(struct msg_sub_add), K(CMD) },
	[MSG_SUB_DEL] = { "sub_del", 1, sizeof(struct msg_sub_del), sizeof(struct msg_sub_del), K(CMD) },
	[MSG_FLOW_DUMP] = { "flow_dump", 1, sizeof(struct msg_flow_dump), sizeof(struct msg_flow_dump), K(CMD) },
	[MSG_FLOW_EVENT] = { "flow_event", 1, sizeof(struct msg_flow_event),
			     sizeof(struct msg_flow_event), K(EVT) },
	[MSG_SRTP_REKEY] = { "srtp_rekey", 1, sizeof(struct msg_srtp_rekey),
			     sizeof(struct msg_srtp_rekey), K(CMD) },
	/* version 2 appended the owner (turn_effect) and dump counts (turn_event) */
	[MSG_TURN_EFFECT] = { "turn_effect", 2, MSG_TURN_EFFECT_V1_LEN,
			      sizeof(struct msg_turn_effect), K(CMD) },
	[MSG_TURN_EVENT] = { "turn_event", 2, MSG_TURN_EVENT_V1_LEN,
			     sizeof(struct msg_turn_event), K(EVT) },
	[MSG_TURN_DUMP] = { "turn_dump", 1, sizeof(struct msg_turn_dump),
			    sizeof(struct msg_turn_dump), K(CMD) },
	/* a turn_effect (version 2 layout) describing what the worker holds */
	[MSG_TURN_STATE] = { "turn_state", 1, MSG_TURN_EFFECT_V1_LEN,
			     sizeof(struct msg_turn_effect), K(EVT) },
	[MSG_TUNNEL_CMD] = { "tunnel_cmd", 1, sizeof(struct msg_tunnel_cmd),
			     sizeof(struct msg_tunnel_cmd), K(CMD) },
	[MSG_TUNNEL_EVENT] = { "tunnel_event", 1, sizeof(struct msg_tunnel_event),
			       sizeof(struct msg_tunnel_event), K(EVT) },
	[MSG_RTSP_PULL] = { "rtsp_pull", 1, sizeof(struct msg_rtsp_pull), sizeof(struct msg_rtsp_pull),
			    K(CMD) },
	[MSG_RTSP_EVENT] = { "rtsp_event", 1, sizeof(struct msg_rtsp_event),
			     sizeof(struct msg_rtsp_event), K(EVT) },
};

const char *msg_rtsp_end_name(unsigned reason)
{
	static const char *const names[MSG_RTSP_END_COUNT] = {
		"closed", "eof", "refused", "auth", "redirect", "no tracks", "transport",
		"protocol", "timeout", "silent", "io", "no memory",
	};
	return reason < MSG_RTSP_END_COUNT ? names[reason] : "?";
}

static bool addr_ok(const struct sp_addr *a, bool may_be_unset)
{
	if (a->family == 0)
		return may_be_unset;
	return (a->family == AF_INET || a->family == AF_INET6) && a->port != 0;
}

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

/* A key is plain (suite 0, nothing else set) or complete for its suite. */
static bool srtp_key_ok(const struct msg_srtp_key *k)
{
	if (k->suite == 0)
		return k->master_len == 0 && k->window == 0;
	if (k->suite > SRTP_LEG_SUITE__COUNT)
		return false;
	return k->master_len == srtp_leg_master_len((enum srtp_leg_suite)(k->suite - 1)) &&
	       (k->window == 0 || (k->window >= SRTP_LEG_WINDOW_MIN && k->window <= SRTP_LEG_WINDOW_MAX));
}

static bool ip_family_ok(const struct sp_addr *a)
{
	return a->family == AF_INET || a->family == AF_INET6;
}

static bool turn_effect_ok(const struct msg_turn_effect *p)
{
	if (p->type < MSG_TURN_ALLOC_INSTALL || p->type > MSG_TURN__MAX || p->alloc_id == 0 ||
	    p->dont_fragment > 1 || p->transport > MSG_TURN_TP_TLS)
		return false;
	switch (p->type) {
	case MSG_TURN_ALLOC_INSTALL:
		/* relay6 only beside an IPv4 relay (a dual allocation) */
		return addr_ok(&p->client, false) && ip_family_ok(&p->server) &&
		       addr_ok(&p->relay, false) &&
		       (p->relay6.family == 0 ||
			(p->relay6.family == AF_INET6 && p->relay6.port != 0 &&
			 p->relay.family == AF_INET));
	case MSG_TURN_PERM_INSTALL:
	case MSG_TURN_PERM_REMOVE:
		return ip_family_ok(&p->peer);
	case MSG_TURN_CHANNEL_INSTALL:
	case MSG_TURN_CHANNEL_REMOVE:
		/* RFC 8656's 0x4000-0x4FFF, or RFC 5766's to 0x7FFF when spcp admits it */
		return p->channel >= 0x4000 && p->channel <= 0x7FFF && addr_ok(&p->peer, false);
	default:
		return true;
	}
}

/* NUL-terminated within its field, and not empty. */
static bool cstr_ok(const char *s, size_t cap)
{
	return s[0] && memchr(s, 0, cap) != NULL;
}

static bool tunnel_cmd_ok(const struct msg_tunnel_cmd *p)
{
	switch (p->op) {
	case MSG_TUNNEL_LISTEN:
		return p->fwd_id && cstr_ok(p->device, sizeof(p->device)) &&
		       cstr_ok(p->target, sizeof(p->target));
	case MSG_TUNNEL_UNLISTEN:
		return p->fwd_id != 0;
	case MSG_TUNNEL_KICK:
		return p->tunnel_id != 0;
	case MSG_TUNNEL_DUMP:
		return true;
	default:
		return false;
	}
}

/* A NUL-terminated field without control characters (credentials and
 * URLs end up in request lines). */
static bool text_ok(const char *s, size_t cap, bool may_be_empty)
{
	const char *z = memchr(s, 0, cap);
	if (!z || (!may_be_empty && z == s))
		return false;
	for (const char *c = s; c < z; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return false;
	return true;
}

static bool rtsp_pull_ok(const struct msg_rtsp_pull *p)
{
	if (!p->pull_id)
		return false;
	if (p->op == MSG_RTSP_STOP)
		return true;
	return p->op == MSG_RTSP_START && p->flow_id[0] && p->flow_id[0] != p->flow_id[1] &&
	       text_ok(p->device, sizeof(p->device), false) &&
	       text_ok(p->target, sizeof(p->target), false) &&
	       text_ok(p->url, sizeof(p->url), false) && !strncmp(p->url, "rtsp://", 7) &&
	       text_ok(p->user, sizeof(p->user), true) && text_ok(p->pass, sizeof(p->pass), true) &&
	       !p->user[0] == !p->pass[0];
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
	case MSG_FLOW_ADD: {
		struct msg_flow_add p;
		msg_read(m, &p, sizeof(p));
		/* a latched or ingest flow has no source address; others must */
		bool nosrc = p.flags & (MSG_FLOW_F_LATCH | MSG_FLOW_F_INGEST);
		if (p.flags & ~15u || !addr_ok(&p.source, nosrc) || (!nosrc && p.source.family == 0) ||
		    ((p.flags & MSG_FLOW_F_INGEST) && p.source.family) ||
		    p.codec > MSG_CODEC_OTHER || !srtp_key_ok(&p.srtp_rx) || !srtp_key_ok(&p.srtp_tx) ||
		    (p.srtp_tx.suite && (!p.srtp_rx.suite || p.srtp_tx.suite != p.srtp_rx.suite)))
			return DROP_MSG_BAD_FIELD;
		return 0;
	}
	case MSG_SUB_ADD: {
		struct msg_sub_add p;
		msg_read(m, &p, sizeof(p));
		if (p.flags & ~1u || !addr_ok(&p.rtp, false) ||
		    !addr_ok(&p.rtcp, (p.flags & MSG_SUB_F_RTCP_MUX) != 0) ||
		    !srtp_key_ok(&p.srtp_tx) || !srtp_key_ok(&p.srtp_rx) ||
		    (p.srtp_rx.suite && (!p.srtp_tx.suite || p.srtp_rx.suite != p.srtp_tx.suite)))
			return DROP_MSG_BAD_FIELD;
		return 0;
	}
	case MSG_SRTP_REKEY: {
		struct msg_srtp_rekey p;
		msg_read(m, &p, sizeof(p));
		if (!p.key.suite || !srtp_key_ok(&p.key) || p.mode > SRTP_LEG_REKEY_RESET ||
		    !p.which || p.which & ~3u)
			return DROP_MSG_BAD_FIELD;
		return 0;
	}
	case MSG_FLOW_EVENT: {
		struct msg_flow_event p;
		msg_read(m, &p, sizeof(p));
		return p.kind >= 1 && p.kind <= FLOW_EV__MAX ? 0 : DROP_MSG_BAD_FIELD;
	}
	case MSG_TURN_EFFECT:
	case MSG_TURN_STATE: {
		struct msg_turn_effect p;
		msg_read(m, &p, sizeof(p));
		/* the owner's bytes must be there (the message ends after them) */
		if (p.owner_len > MSG_TURN_OWNER_MAX ||
		    (p.owner_len && MSG_TURN_EFFECT_LEN(p.owner_len) > m->len))
			return DROP_MSG_BAD_LEN;
		if (!turn_effect_ok(&p))
			return DROP_MSG_BAD_FIELD;
		/* a dump describes state: installs only, an owner only on an allocation */
		if (m->type == MSG_TURN_STATE &&
		    ((p.type != MSG_TURN_ALLOC_INSTALL && p.type != MSG_TURN_PERM_INSTALL &&
		      p.type != MSG_TURN_CHANNEL_INSTALL) ||
		     (p.owner_len && p.type != MSG_TURN_ALLOC_INSTALL)))
			return DROP_MSG_BAD_FIELD;
		return 0;
	}
	case MSG_TURN_EVENT: {
		struct msg_turn_event p;
		msg_read(m, &p, sizeof(p));
		if (p.kind < 1 || p.kind > TURN_EV__MAX)
			return DROP_MSG_BAD_FIELD;
		/* every event names an allocation but the end of a dump */
		return (p.alloc_id != 0) == (p.kind != TURN_EV_DUMP_DONE) ? 0 : DROP_MSG_BAD_FIELD;
	}
	case MSG_TUNNEL_CMD: {
		struct msg_tunnel_cmd p;
		msg_read(m, &p, sizeof(p));
		return tunnel_cmd_ok(&p) ? 0 : DROP_MSG_BAD_FIELD;
	}
	case MSG_TUNNEL_EVENT: {
		struct msg_tunnel_event p;
		msg_read(m, &p, sizeof(p));
		return p.kind >= 1 && p.kind <= TUNNEL_EV__MAX &&
		       memchr(p.device, 0, sizeof(p.device)) ? 0 : DROP_MSG_BAD_FIELD;
	}
	case MSG_RTSP_PULL: {
		struct msg_rtsp_pull p;
		msg_read(m, &p, sizeof(p));
		bool ok = rtsp_pull_ok(&p);
		explicit_bzero(&p, sizeof(p)); /* a camera password */
		return ok ? 0 : DROP_MSG_BAD_FIELD;
	}
	case MSG_RTSP_EVENT: {
		struct msg_rtsp_event p;
		msg_read(m, &p, sizeof(p));
		return p.kind >= 1 && p.kind <= RTSP_EV__MAX && p.pull_id &&
		       p.n_tracks <= MSG_RTSP_TRACKS ? 0 : DROP_MSG_BAD_FIELD;
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
