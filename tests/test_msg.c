/*
 * test_msg: the ring message catalogue and its gate, msg_check().
 *
 * One static table of hostile and valid messages, each row naming the exact
 * drop reason msg_check() must return (0 = accepted). Rows build the payload
 * from a valid one for the type and then break one thing: the length, the
 * version, the ring it arrived on, or one field. The table is written out
 * with sizeof() of each payload struct so a layout change moves the limits
 * with it. A second test crosses every type with every ring kind against an
 * independent copy of the routing rules (who may send what where).
 */
#include <criterion/criterion.h>

#include <errno.h>

#include <netinet/in.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "msg.h"

#define EXC sizeof(struct msg_exc_packet)

/* Each row: a valid payload for the type (see valid_payload), then `edit`
 * breaks one field (NULL: leave it valid). */
typedef void edit_fn(uint8_t *p, uint32_t len);

struct msg_case {
	const char *name;
	uint16_t type;
	uint8_t version;
	uint32_t len;
	enum ring_kind kind;
	edit_fn *edit;
	int expect; /* 0 or enum stat_drop */
};

#define OK 0
#define V MSG_PROTO_VERSION
#define ROW(n, t, ver, l, k, e) { n, t, ver, l, k, NULL, e }

/* Write field `f` of payload struct `st` at the start of p. */
#define SET(st, f, val)                                     \
	do {                                                    \
		struct st s_;                                       \
		memcpy(&s_, p, sizeof(s_));                         \
		s_.f = (val);                                       \
		memcpy(p, &s_, sizeof(s_));                         \
	} while (0)

static void set_addr(struct sp_addr *a, uint8_t family, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->family = family;
	a->port = htons(port);
	a->ip[0] = 10;
	a->ip[3] = 7;
}

/* Valid content for every type; bytes past the struct are packet data. */
static void valid_payload(uint16_t type, uint8_t *p, uint32_t len)
{
	memset(p, 0x5a, len);
	switch (type) {
	case MSG_SET_LOG_LEVEL: {
		struct msg_set_log_level v = { .level = LOG_LVL_INFO };
		memcpy(p, &v, sizeof(v) < len ? sizeof(v) : len);
		break;
	}
	case MSG_EXC_PACKET: {
		struct msg_exc_packet v = { .family = AF_INET, .proto = IPPROTO_UDP,
					    .payload_len = len >= EXC ? len - (uint32_t)EXC : 0 };
		memcpy(p, &v, sizeof(v) < len ? sizeof(v) : len);
		break;
	}
	case MSG_FLOW_ADD: {
		struct msg_flow_add v = { .seq = 1, .flow_id = 2 };
		set_addr(&v.source, AF_INET, 5004);
		memcpy(p, &v, sizeof(v) < len ? sizeof(v) : len);
		break;
	}
	case MSG_SUB_ADD: {
		struct msg_sub_add v = { .seq = 1, .flow_id = 2, .sub_id = 3 };
		set_addr(&v.rtp, AF_INET, 6000);
		set_addr(&v.rtcp, AF_INET, 6001);
		memcpy(p, &v, sizeof(v) < len ? sizeof(v) : len);
		break;
	}
	case MSG_FLOW_EVENT: {
		struct msg_flow_event v = { .seq = 1, .kind = FLOW_EV_ADDED };
		memcpy(p, &v, sizeof(v) < len ? sizeof(v) : len);
		break;
	}
	case MSG_SRTP_REKEY: {
		struct msg_srtp_rekey v = { .seq = 1, .flow_id = 2, .which = MSG_REKEY_RX | MSG_REKEY_TX,
					    .key = { .suite = 1, .master_len = 30 } };
		memcpy(p, &v, sizeof(v) < len ? sizeof(v) : len);
		break;
	}
	case MSG_TURN_DUMP: {
		struct msg_turn_dump v = { .seq = 1 };
		memcpy(p, &v, sizeof(v) < len ? sizeof(v) : len);
		break;
	}
	case MSG_TURN_EFFECT:
	case MSG_TURN_STATE: {
		/* a dual allocation: every address field set, no owner */
		struct msg_turn_effect v = { .seq = 1, .type = MSG_TURN_ALLOC_INSTALL, .alloc_id = 9,
					     .expiry_ns = 1000, .bandwidth_bps = 8000 };
		set_addr(&v.client, AF_INET, 40000);
		set_addr(&v.server, AF_INET, 3478);
		set_addr(&v.relay, AF_INET, 50000);
		set_addr(&v.relay6, AF_INET6, 50000);
		set_addr(&v.peer, AF_INET, 9);
		v.channel = 0x4000;
		memcpy(p, &v, sizeof(v) < len ? sizeof(v) : len);
		break;
	}
	case MSG_TURN_EVENT: {
		struct msg_turn_event v = { .seq = 1, .kind = TURN_EV_INSTALLED, .alloc_id = 9 };
		memcpy(p, &v, sizeof(v) < len ? sizeof(v) : len);
		break;
	}
	case MSG_TUNNEL_CMD: {
		struct msg_tunnel_cmd v = { .seq = 1, .op = MSG_TUNNEL_LISTEN, .fwd_id = 3,
					    .idle_ms = 1000, .device = "cam-1", .target = "127.0.0.1:80" };
		memcpy(p, &v, sizeof(v) < len ? sizeof(v) : len);
		break;
	}
	case MSG_TUNNEL_EVENT: {
		struct msg_tunnel_event v = { .seq = 1, .kind = TUNNEL_EV_UP, .device = "cam-1" };
		memcpy(p, &v, sizeof(v) < len ? sizeof(v) : len);
		break;
	}
	case MSG_RTSP_PULL: {
		struct msg_rtsp_pull v = { .seq = 1, .op = MSG_RTSP_START, .pull_id = 4,
					   .flow_id = { 7, 0 }, .device = "cam-1",
					   .target = "127.0.0.1:554", .url = "rtsp://127.0.0.1/live" };
		memcpy(p, &v, sizeof(v) < len ? sizeof(v) : len);
		break;
	}
	case MSG_RTSP_EVENT: {
		struct msg_rtsp_event v = { .seq = 1, .pull_id = 4, .kind = RTSP_EV_PLAYING, .n_tracks = 1 };
		memcpy(p, &v, sizeof(v) < len ? sizeof(v) : len);
		break;
	}
	}
}

static void lvl_err(uint8_t *p, uint32_t l) { (void)l; SET(msg_set_log_level, level, LOG_LVL_ERR); }
static void lvl_debug(uint8_t *p, uint32_t l) { (void)l; SET(msg_set_log_level, level, LOG_LVL_DEBUG); }
static void lvl_below(uint8_t *p, uint32_t l) { (void)l; SET(msg_set_log_level, level, LOG_LVL_ERR - 1); }
static void lvl_above(uint8_t *p, uint32_t l) { (void)l; SET(msg_set_log_level, level, LOG_LVL_DEBUG + 1); }
static void lvl_zero(uint8_t *p, uint32_t l) { (void)l; SET(msg_set_log_level, level, 0); }
static void lvl_max(uint8_t *p, uint32_t l) { (void)l; SET(msg_set_log_level, level, UINT32_MAX); }

static void exc_v6_tcp(uint8_t *p, uint32_t l)
{
	(void)l;
	SET(msg_exc_packet, family, AF_INET6);
	SET(msg_exc_packet, proto, IPPROTO_TCP);
}
static void exc_plen_short(uint8_t *p, uint32_t l) { SET(msg_exc_packet, payload_len, l - (uint32_t)EXC - 1); }
static void exc_plen_long(uint8_t *p, uint32_t l) { SET(msg_exc_packet, payload_len, l - (uint32_t)EXC + 1); }
static void exc_plen_zero(uint8_t *p, uint32_t l) { (void)l; SET(msg_exc_packet, payload_len, 0); }
static void exc_plen_max(uint8_t *p, uint32_t l) { (void)l; SET(msg_exc_packet, payload_len, UINT32_MAX); }
/* header + payload_len would wrap in 32-bit arithmetic */
static void exc_plen_wrap(uint8_t *p, uint32_t l) { (void)l; SET(msg_exc_packet, payload_len, UINT32_MAX - (uint32_t)EXC + 1); }
static void exc_fam_0(uint8_t *p, uint32_t l) { (void)l; SET(msg_exc_packet, family, 0); }
static void exc_fam_unix(uint8_t *p, uint32_t l) { (void)l; SET(msg_exc_packet, family, AF_UNIX); }
static void exc_fam_255(uint8_t *p, uint32_t l) { (void)l; SET(msg_exc_packet, family, 255); }
static void exc_proto_icmp(uint8_t *p, uint32_t l) { (void)l; SET(msg_exc_packet, proto, IPPROTO_ICMP); }
static void exc_proto_0(uint8_t *p, uint32_t l) { (void)l; SET(msg_exc_packet, proto, 0); }
static void exc_proto_sctp(uint8_t *p, uint32_t l) { (void)l; SET(msg_exc_packet, proto, IPPROTO_SCTP); }
static void exc_len_and_fam(uint8_t *p, uint32_t l)
{
	exc_plen_short(p, l);
	exc_fam_0(p, l);
}

static void fa_latch_unset(uint8_t *p, uint32_t l)
{
	(void)l;
	struct sp_addr a = { 0 };
	SET(msg_flow_add, flags, MSG_FLOW_F_LATCH);
	SET(msg_flow_add, source, a);
}
static void fa_all_flags(uint8_t *p, uint32_t l) { (void)l; SET(msg_flow_add, flags, 7); }
static void fa_unset_no_latch(uint8_t *p, uint32_t l)
{
	(void)l;
	struct sp_addr a = { 0 };
	SET(msg_flow_add, source, a);
}
/* SRTP keys: suite 0 is plain and must carry nothing; otherwise the length
 * is the suite's and the window within RFC 3711's bounds. */
static const struct msg_srtp_key K_CM80 = { .suite = 1, .master_len = 30 };
static const struct msg_srtp_key K_GCM256 = { .suite = 4, .master_len = 44, .window = 32767 };
static void fa_key_cm80(uint8_t *p, uint32_t l) { (void)l; SET(msg_flow_add, srtp_rx, K_CM80); }
static void fa_key_gcm256_tx(uint8_t *p, uint32_t l)
{
	(void)l;
	SET(msg_flow_add, srtp_rx, K_GCM256);
	SET(msg_flow_add, srtp_tx, K_GCM256);
}
static void fa_key_suite_5(uint8_t *p, uint32_t l) { (void)l; SET(msg_flow_add, srtp_rx.suite, 5); SET(msg_flow_add, srtp_rx.master_len, 30); }
static void fa_key_len_short(uint8_t *p, uint32_t l) { (void)l; fa_key_cm80(p, l); SET(msg_flow_add, srtp_rx.master_len, 29); }
static void fa_key_len_huge(uint8_t *p, uint32_t l) { (void)l; fa_key_cm80(p, l); SET(msg_flow_add, srtp_rx.master_len, 255); }
static void fa_key_window_63(uint8_t *p, uint32_t l) { (void)l; fa_key_cm80(p, l); SET(msg_flow_add, srtp_rx.window, 63); }
static void fa_key_window_max1(uint8_t *p, uint32_t l) { (void)l; fa_key_cm80(p, l); SET(msg_flow_add, srtp_rx.window, 32768); }
static void fa_plain_with_len(uint8_t *p, uint32_t l) { (void)l; SET(msg_flow_add, srtp_rx.master_len, 30); }
static void fa_tx_without_rx(uint8_t *p, uint32_t l) { (void)l; SET(msg_flow_add, srtp_tx, K_CM80); }
static void fa_tx_other_suite(uint8_t *p, uint32_t l)
{
	(void)l;
	SET(msg_flow_add, srtp_rx, K_CM80);
	SET(msg_flow_add, srtp_tx, K_GCM256);
}
static void sa_key_own(uint8_t *p, uint32_t l) { (void)l; SET(msg_sub_add, srtp_tx, K_CM80); SET(msg_sub_add, srtp_rx, K_CM80); }
static void sa_rx_without_tx(uint8_t *p, uint32_t l) { (void)l; SET(msg_sub_add, srtp_rx, K_CM80); }
static void sa_key_len_gcm(uint8_t *p, uint32_t l) { (void)l; SET(msg_sub_add, srtp_tx, K_CM80); SET(msg_sub_add, srtp_tx.suite, 3); }
static void rk_plain_key(uint8_t *p, uint32_t l) { (void)l; struct msg_srtp_key z = { 0 }; SET(msg_srtp_rekey, key, z); }
static void rk_which_0(uint8_t *p, uint32_t l) { (void)l; SET(msg_srtp_rekey, which, 0); }
static void rk_which_4(uint8_t *p, uint32_t l) { (void)l; SET(msg_srtp_rekey, which, 4); }
static void rk_mode_2(uint8_t *p, uint32_t l) { (void)l; SET(msg_srtp_rekey, mode, 2); }
static void rk_reset_rx(uint8_t *p, uint32_t l) { (void)l; SET(msg_srtp_rekey, mode, 1); SET(msg_srtp_rekey, which, MSG_REKEY_RX); }
static void rk_bad_len(uint8_t *p, uint32_t l) { (void)l; SET(msg_srtp_rekey, key.master_len, 28); }

static void fa_bad_flags(uint8_t *p, uint32_t l) { (void)l; SET(msg_flow_add, flags, 8); }
static void fa_port_0(uint8_t *p, uint32_t l) { (void)l; SET(msg_flow_add, source.port, 0); }
static void fa_family_unix(uint8_t *p, uint32_t l) { (void)l; SET(msg_flow_add, source.family, AF_UNIX); }
static void fa_latch_bad_family(uint8_t *p, uint32_t l)
{
	(void)l;
	SET(msg_flow_add, flags, MSG_FLOW_F_LATCH);
	SET(msg_flow_add, source.family, 200);
}

static void sa_v6(uint8_t *p, uint32_t l) { (void)l; SET(msg_sub_add, rtp.family, AF_INET6); }
static void sa_mux_rtcp_unset(uint8_t *p, uint32_t l)
{
	(void)l;
	struct sp_addr a = { 0 };
	SET(msg_sub_add, flags, MSG_SUB_F_RTCP_MUX);
	SET(msg_sub_add, rtcp, a);
}
static void sa_rtcp_unset(uint8_t *p, uint32_t l)
{
	(void)l;
	struct sp_addr a = { 0 };
	SET(msg_sub_add, rtcp, a);
}
static void sa_rtp_unset(uint8_t *p, uint32_t l)
{
	(void)l;
	struct sp_addr a = { 0 };
	SET(msg_sub_add, rtp, a);
}
static void sa_bad_flags(uint8_t *p, uint32_t l) { (void)l; SET(msg_sub_add, flags, 2); }
static void sa_rtp_port_0(uint8_t *p, uint32_t l) { (void)l; SET(msg_sub_add, rtp.port, 0); }
static void sa_rtcp_family(uint8_t *p, uint32_t l) { (void)l; SET(msg_sub_add, rtcp.family, AF_UNIX); }

/* turn_effect: type, id, channel range, addresses per type */
#define TE(name, body) static void name(uint8_t *p, uint32_t l) { (void)l; body; }
TE(te_type_0, SET(msg_turn_effect, type, 0))
TE(te_type_8, SET(msg_turn_effect, type, MSG_TURN__MAX + 1))
TE(te_type_255, SET(msg_turn_effect, type, 255))
TE(te_id_0, SET(msg_turn_effect, alloc_id, 0))
TE(te_df_2, SET(msg_turn_effect, dont_fragment, 2))
TE(te_df_1, SET(msg_turn_effect, dont_fragment, 1))
TE(te_transport_tls, SET(msg_turn_effect, transport, MSG_TURN_TP_TLS))
TE(te_transport_3, SET(msg_turn_effect, transport, 3))
TE(te_v4_only, struct sp_addr z = { 0 }; SET(msg_turn_effect, relay6, z))
TE(te_client_port_0, SET(msg_turn_effect, client.port, 0))
TE(te_client_unset, SET(msg_turn_effect, client.family, 0))
TE(te_server_unix, SET(msg_turn_effect, server.family, AF_UNIX))
TE(te_relay_unset, SET(msg_turn_effect, relay.family, 0))
TE(te_relay_port_0, SET(msg_turn_effect, relay.port, 0))
TE(te_relay6_is_v4, SET(msg_turn_effect, relay6.family, AF_INET))
TE(te_relay6_port_0, SET(msg_turn_effect, relay6.port, 0))
/* an IPv6-only allocation has its one relay in `relay`; relay6 is for dual */
TE(te_v6_only, struct sp_addr z = { 0 }; SET(msg_turn_effect, relay.family, AF_INET6);
   SET(msg_turn_effect, relay6, z))
TE(te_v6_with_relay6, SET(msg_turn_effect, relay.family, AF_INET6))
TE(te_refresh_no_addrs, struct sp_addr z = { 0 }; SET(msg_turn_effect, type, MSG_TURN_ALLOC_REFRESH);
   SET(msg_turn_effect, client, z); SET(msg_turn_effect, relay, z))
TE(te_remove, SET(msg_turn_effect, type, MSG_TURN_ALLOC_REMOVE))
TE(te_refresh_id_0, SET(msg_turn_effect, type, MSG_TURN_ALLOC_REFRESH); SET(msg_turn_effect, alloc_id, 0))
TE(te_perm, SET(msg_turn_effect, type, MSG_TURN_PERM_INSTALL); SET(msg_turn_effect, peer.port, 0))
TE(te_perm_v6, SET(msg_turn_effect, type, MSG_TURN_PERM_REMOVE); SET(msg_turn_effect, peer.family, AF_INET6))
TE(te_perm_no_peer, SET(msg_turn_effect, type, MSG_TURN_PERM_INSTALL); SET(msg_turn_effect, peer.family, 0))
TE(te_perm_unix, SET(msg_turn_effect, type, MSG_TURN_PERM_REMOVE); SET(msg_turn_effect, peer.family, AF_UNIX))
TE(te_chan, SET(msg_turn_effect, type, MSG_TURN_CHANNEL_INSTALL))
TE(te_chan_max, SET(msg_turn_effect, type, MSG_TURN_CHANNEL_REMOVE); SET(msg_turn_effect, channel, 0x4FFF))
TE(te_chan_low, SET(msg_turn_effect, type, MSG_TURN_CHANNEL_INSTALL); SET(msg_turn_effect, channel, 0x3FFF))
TE(te_chan_5000, SET(msg_turn_effect, type, MSG_TURN_CHANNEL_INSTALL); SET(msg_turn_effect, channel, 0x5000))
TE(te_chan_7fff, SET(msg_turn_effect, type, MSG_TURN_CHANNEL_INSTALL); SET(msg_turn_effect, channel, 0x7FFF))
TE(te_chan_high, SET(msg_turn_effect, type, MSG_TURN_CHANNEL_INSTALL); SET(msg_turn_effect, channel, 0x8000))
TE(te_chan_0, SET(msg_turn_effect, type, MSG_TURN_CHANNEL_REMOVE); SET(msg_turn_effect, channel, 0))
TE(te_chan_peer_port_0, SET(msg_turn_effect, type, MSG_TURN_CHANNEL_INSTALL); SET(msg_turn_effect, peer.port, 0))
TE(tv_failed, SET(msg_turn_event, kind, TURN_EV_FAILED); SET(msg_turn_event, error, -ENOSPC))
TE(tv_expired, SET(msg_turn_event, kind, TURN_EV_EXPIRED))
TE(tv_kind_0, SET(msg_turn_event, kind, 0))
TE(tv_kind_past, SET(msg_turn_event, kind, TURN_EV__MAX + 1))
TE(tv_id_0, SET(msg_turn_event, alloc_id, 0))
/* owner (turn_effect version 2): its bytes must be in the message. These
 * rows are shorter than the struct: write the one field, if it was sent. */
static void owner_len(uint8_t *p, uint32_t l, uint16_t v)
{
	if (l >= offsetof(struct msg_turn_effect, owner_len) + sizeof(v))
		memcpy(p + offsetof(struct msg_turn_effect, owner_len), &v, sizeof(v));
}
TE(te_owner_10, owner_len(p, l, 10))
TE(te_owner_max, owner_len(p, l, MSG_TURN_OWNER_MAX))
TE(te_owner_past_max, owner_len(p, l, MSG_TURN_OWNER_MAX + 1))
TE(te_owner_huge, owner_len(p, l, 0xffff))
/* turn_state: what a worker holds, installs only, an owner only on an allocation */
TE(ts_refresh, SET(msg_turn_effect, type, MSG_TURN_ALLOC_REFRESH))
TE(ts_remove, SET(msg_turn_effect, type, MSG_TURN_ALLOC_REMOVE))
TE(ts_perm_owner, SET(msg_turn_effect, type, MSG_TURN_PERM_INSTALL); owner_len(p, l, 1))
TE(ts_chan_id_0, SET(msg_turn_effect, type, MSG_TURN_CHANNEL_INSTALL); SET(msg_turn_effect, alloc_id, 0))
/* turn_event: the end of a dump names no allocation, every other event does */
TE(tv_dump_done, SET(msg_turn_event, kind, TURN_EV_DUMP_DONE); SET(msg_turn_event, alloc_id, 0);
   SET(msg_turn_event, allocs, 3))
TE(tv_dump_done_id, SET(msg_turn_event, kind, TURN_EV_DUMP_DONE))
/* tunnel_cmd: op, ids, NUL-terminated strings per op */
TE(tc_op_0, SET(msg_tunnel_cmd, op, 0))
TE(tc_op_past, SET(msg_tunnel_cmd, op, MSG_TUNNEL__MAX + 1))
TE(tc_fwd_0, SET(msg_tunnel_cmd, fwd_id, 0))
TE(tc_no_device, SET(msg_tunnel_cmd, device[0], 0))
TE(tc_device_unterminated, memset(p + offsetof(struct msg_tunnel_cmd, device), 'a', MSG_TUNNEL_DEVICE_LEN))
TE(tc_target_unterminated, memset(p + offsetof(struct msg_tunnel_cmd, target), '1', MSG_TUNNEL_TARGET_LEN))
TE(tc_unlisten, SET(msg_tunnel_cmd, op, MSG_TUNNEL_UNLISTEN); SET(msg_tunnel_cmd, device[0], 0))
TE(tc_kick, SET(msg_tunnel_cmd, op, MSG_TUNNEL_KICK); SET(msg_tunnel_cmd, tunnel_id, 5))
TE(tc_kick_0, SET(msg_tunnel_cmd, op, MSG_TUNNEL_KICK))
TE(tn_kind_0, SET(msg_tunnel_event, kind, 0))
TE(tn_kind_past, SET(msg_tunnel_event, kind, TUNNEL_EV__MAX + 1))
TE(tn_device_unterminated, memset(p + offsetof(struct msg_tunnel_event, device), 'a', MSG_TUNNEL_DEVICE_LEN))
/* rtsp_pull: op, ids, flows, text fields without control bytes, credentials in pairs */
TE(rp_op_0, SET(msg_rtsp_pull, op, 0))
TE(rp_op_3, SET(msg_rtsp_pull, op, 3))
TE(rp_id_0, SET(msg_rtsp_pull, pull_id, 0))
TE(rp_flow_0, SET(msg_rtsp_pull, flow_id[0], 0))
TE(rp_same_flows, SET(msg_rtsp_pull, flow_id[1], 7))
TE(rp_audio, SET(msg_rtsp_pull, flow_id[1], 8))
TE(rp_no_device, SET(msg_rtsp_pull, device[0], 0))
TE(rp_no_target, SET(msg_rtsp_pull, target[0], 0))
TE(rp_url_http, memcpy(p + offsetof(struct msg_rtsp_pull, url), "http://x/", 10))
TE(rp_url_crlf, memcpy(p + offsetof(struct msg_rtsp_pull, url), "rtsp://x/\r\nX: y", 16))
TE(rp_url_unterminated, memset(p + offsetof(struct msg_rtsp_pull, url), 'a', MSG_RTSP_URL_LEN))
TE(rp_user_only, memcpy(p + offsetof(struct msg_rtsp_pull, user), "admin", 6))
TE(rp_creds, memcpy(p + offsetof(struct msg_rtsp_pull, user), "admin", 6);
   memcpy(p + offsetof(struct msg_rtsp_pull, pass), "pw", 3))
TE(rp_pass_ctl, memcpy(p + offsetof(struct msg_rtsp_pull, user), "admin", 6);
   memcpy(p + offsetof(struct msg_rtsp_pull, pass), "p\nw", 4))
TE(rp_stop, SET(msg_rtsp_pull, op, MSG_RTSP_STOP); SET(msg_rtsp_pull, device[0], 0))
TE(re_kind_0, SET(msg_rtsp_event, kind, 0))
TE(re_kind_past, SET(msg_rtsp_event, kind, RTSP_EV__MAX + 1))
TE(re_id_0, SET(msg_rtsp_event, pull_id, 0))
TE(re_tracks_3, SET(msg_rtsp_event, n_tracks, 3))
/* exc_packet down with a dependency on an allocation */
TE(exc_alloc_id, SET(msg_exc_packet, alloc_id, 77))

static void fe_kind_0(uint8_t *p, uint32_t l) { (void)l; SET(msg_flow_event, kind, 0); }
static void fe_kind_last(uint8_t *p, uint32_t l) { (void)l; SET(msg_flow_event, kind, FLOW_EV__MAX); }
static void fe_kind_past(uint8_t *p, uint32_t l) { (void)l; SET(msg_flow_event, kind, FLOW_EV__MAX + 1); }
static void fe_kind_huge(uint8_t *p, uint32_t l) { (void)l; SET(msg_flow_event, kind, UINT32_MAX); }

/* The four length, two version and one ring rows every fixed-size type gets. */
#define FIXED(t, st, okring, badring)                                                          \
	ROW(#t " ok", t, V, sizeof(struct st), okring, OK),                                        \
	ROW(#t " len min-1", t, V, sizeof(struct st) - 1, okring, DROP_MSG_BAD_LEN),               \
	ROW(#t " len max+1", t, V, sizeof(struct st) + 1, okring, DROP_MSG_BAD_LEN),               \
	ROW(#t " len 0", t, V, 0, okring, DROP_MSG_BAD_LEN),                                       \
	ROW(#t " version 0", t, 0, sizeof(struct st), okring, DROP_MSG_BAD_VERSION),               \
	ROW(#t " version +1", t, V + 1, sizeof(struct st), okring, DROP_MSG_BAD_VERSION),          \
	ROW(#t " version 255", t, 255, sizeof(struct st), okring, DROP_MSG_BAD_VERSION),           \
	ROW(#t " wrong ring", t, V, sizeof(struct st), badring, DROP_MSG_WRONG_RING)

#define SLL sizeof(struct msg_set_log_level)
#define FA sizeof(struct msg_flow_add)
#define SA sizeof(struct msg_sub_add)
#define FE sizeof(struct msg_flow_event)
#define FA1 offsetof(struct msg_flow_add, srtp_rx)   /* without keys */
#define SA1 offsetof(struct msg_sub_add, srtp_tx)
#define RK sizeof(struct msg_srtp_rekey)
#define TEF sizeof(struct msg_turn_effect)
#define TEF1 MSG_TURN_EFFECT_V1_LEN
#define TEV sizeof(struct msg_turn_event)
#define TEV1 MSG_TURN_EVENT_V1_LEN

/* Types at version 2 that appended fields: version 1's length still passes. */
#define VERSIONED(t, ver, mn, mx, okring, badring)                                             \
	ROW(#t " ok", t, ver, mx, okring, OK),                                                     \
	ROW(#t " ok version 1 length", t, 1, mn, okring, OK),                                      \
	ROW(#t " ok version 1 length as v2", t, ver, mn, okring, OK),                              \
	ROW(#t " len min-1", t, ver, mn - 1, okring, DROP_MSG_BAD_LEN),                            \
	ROW(#t " len max+1", t, ver, mx + 1, okring, DROP_MSG_BAD_LEN),                            \
	ROW(#t " len 0", t, ver, 0, okring, DROP_MSG_BAD_LEN),                                     \
	ROW(#t " version 0", t, 0, mx, okring, DROP_MSG_BAD_VERSION),                              \
	ROW(#t " version +1", t, ver + 1, mx, okring, DROP_MSG_BAD_VERSION),                       \
	ROW(#t " wrong ring", t, ver, mx, badring, DROP_MSG_WRONG_RING)
#define TCM sizeof(struct msg_tunnel_cmd)
#define TNE sizeof(struct msg_tunnel_event)
#define RPL sizeof(struct msg_rtsp_pull)
#define REV sizeof(struct msg_rtsp_event)

/* Rows for the two commands whose SRTP keys may be left off the end. */
#define VARIABLE(t, mn, mx, okring, badring)                                                   \
	ROW(#t " ok", t, V, mx, okring, OK),                                                       \
	ROW(#t " ok without keys", t, V, mn, okring, OK),                                          \
	ROW(#t " ok half a key", t, V, mn + 8, okring, OK),                                        \
	ROW(#t " len min-1", t, V, mn - 1, okring, DROP_MSG_BAD_LEN),                              \
	ROW(#t " len max+1", t, V, mx + 1, okring, DROP_MSG_BAD_LEN),                              \
	ROW(#t " len 0", t, V, 0, okring, DROP_MSG_BAD_LEN),                                       \
	ROW(#t " version 0", t, 0, mx, okring, DROP_MSG_BAD_VERSION),                              \
	ROW(#t " version +1", t, V + 1, mx, okring, DROP_MSG_BAD_VERSION),                         \
	ROW(#t " wrong ring", t, V, mx, badring, DROP_MSG_WRONG_RING)

static const struct msg_case cases[] = {
	FIXED(MSG_HELLO, msg_hello, RING_KIND_MAIN_CMD, RING_KIND_CMD),
	ROW("hello on main evt", MSG_HELLO, V, sizeof(struct msg_hello), RING_KIND_MAIN_EVT, DROP_MSG_WRONG_RING),
	FIXED(MSG_HELLO_ACK, msg_hello_ack, RING_KIND_MAIN_EVT, RING_KIND_MAIN_CMD),
	ROW("hello_ack on worker evt", MSG_HELLO_ACK, V, sizeof(struct msg_hello_ack), RING_KIND_EVT, DROP_MSG_WRONG_RING),
	FIXED(MSG_PING, msg_ping, RING_KIND_CMD, RING_KIND_EVT),
	ROW("ping ok main", MSG_PING, V, sizeof(struct msg_ping), RING_KIND_MAIN_CMD, OK),
	ROW("ping on exc down", MSG_PING, V, sizeof(struct msg_ping), RING_KIND_EXC_DOWN, DROP_MSG_WRONG_RING),
	FIXED(MSG_PONG, msg_pong, RING_KIND_EVT, RING_KIND_CMD),
	ROW("pong ok main", MSG_PONG, V, sizeof(struct msg_pong), RING_KIND_MAIN_EVT, OK),
	ROW("pong on exc up", MSG_PONG, V, sizeof(struct msg_pong), RING_KIND_EXC_UP, DROP_MSG_WRONG_RING),
	FIXED(MSG_CMD_ERROR, msg_cmd_error, RING_KIND_EVT, RING_KIND_MAIN_CMD),
	ROW("cmd_error ok main", MSG_CMD_ERROR, V, sizeof(struct msg_cmd_error), RING_KIND_MAIN_EVT, OK),
	FIXED(MSG_FLOW_DEL, msg_flow_del, RING_KIND_CMD, RING_KIND_MAIN_CMD),
	FIXED(MSG_SUB_DEL, msg_sub_del, RING_KIND_CMD, RING_KIND_EVT),
	FIXED(MSG_FLOW_DUMP, msg_flow_dump, RING_KIND_CMD, RING_KIND_MAIN_CMD),

	/* ---- set_log_level: the level is range-checked */
	FIXED(MSG_SET_LOG_LEVEL, msg_set_log_level, RING_KIND_MAIN_CMD, RING_KIND_CMD),
	{ "set_log_level err", MSG_SET_LOG_LEVEL, V, SLL, RING_KIND_MAIN_CMD, lvl_err, OK },
	{ "set_log_level debug", MSG_SET_LOG_LEVEL, V, SLL, RING_KIND_MAIN_CMD, lvl_debug, OK },
	{ "set_log_level below err", MSG_SET_LOG_LEVEL, V, SLL, RING_KIND_MAIN_CMD, lvl_below, DROP_MSG_BAD_FIELD },
	{ "set_log_level above debug", MSG_SET_LOG_LEVEL, V, SLL, RING_KIND_MAIN_CMD, lvl_above, DROP_MSG_BAD_FIELD },
	{ "set_log_level 0", MSG_SET_LOG_LEVEL, V, SLL, RING_KIND_MAIN_CMD, lvl_zero, DROP_MSG_BAD_FIELD },
	{ "set_log_level UINT32_MAX", MSG_SET_LOG_LEVEL, V, SLL, RING_KIND_MAIN_CMD, lvl_max, DROP_MSG_BAD_FIELD },
	/* A bad level on the wrong ring: the ring is checked first. */
	{ "set_log_level bad level wrong ring", MSG_SET_LOG_LEVEL, V, SLL, RING_KIND_EVT, lvl_max, DROP_MSG_WRONG_RING },

	/* ---- exc_packet: header + payload_len bytes, both exception rings */
	ROW("MSG_EXC_PACKET ok", MSG_EXC_PACKET, V, EXC + 20, RING_KIND_EXC_UP, OK),
	ROW("exc_packet ok empty", MSG_EXC_PACKET, V, EXC, RING_KIND_EXC_UP, OK),
	ROW("exc_packet ok 1 byte", MSG_EXC_PACKET, V, EXC + 1, RING_KIND_EXC_DOWN, OK),
	ROW("MSG_EXC_PACKET len max", MSG_EXC_PACKET, V, EXC + MSG_EXC_MAX_PAYLOAD, RING_KIND_EXC_UP, OK),
	ROW("MSG_EXC_PACKET len min-1", MSG_EXC_PACKET, V, EXC - 1, RING_KIND_EXC_UP, DROP_MSG_BAD_LEN),
	ROW("MSG_EXC_PACKET len max+1", MSG_EXC_PACKET, V, EXC + MSG_EXC_MAX_PAYLOAD + 1, RING_KIND_EXC_UP, DROP_MSG_BAD_LEN),
	ROW("MSG_EXC_PACKET len 0", MSG_EXC_PACKET, V, 0, RING_KIND_EXC_UP, DROP_MSG_BAD_LEN),
	ROW("MSG_EXC_PACKET version 0", MSG_EXC_PACKET, 0, EXC + 20, RING_KIND_EXC_UP, DROP_MSG_BAD_VERSION),
	ROW("MSG_EXC_PACKET version +1", MSG_EXC_PACKET, V + 1, EXC + 20, RING_KIND_EXC_UP, DROP_MSG_BAD_VERSION),
	ROW("MSG_EXC_PACKET wrong ring", MSG_EXC_PACKET, V, EXC + 20, RING_KIND_EVT, DROP_MSG_WRONG_RING),
	/* a STUN response on the command ring, behind its request's effects */
	ROW("exc_packet ok on cmd", MSG_EXC_PACKET, V, EXC + 20, RING_KIND_CMD, OK),
	ROW("exc_packet on main cmd", MSG_EXC_PACKET, V, EXC + 20, RING_KIND_MAIN_CMD, DROP_MSG_WRONG_RING),
	{ "exc_packet alloc_id dependency", MSG_EXC_PACKET, V, EXC + 20, RING_KIND_CMD, exc_alloc_id, OK },
	ROW("exc_packet on main evt", MSG_EXC_PACKET, V, EXC + 20, RING_KIND_MAIN_EVT, DROP_MSG_WRONG_RING),
	{ "exc_packet ipv6 tcp", MSG_EXC_PACKET, V, EXC + 20, RING_KIND_EXC_UP, exc_v6_tcp, OK },
	{ "exc_packet payload_len short", MSG_EXC_PACKET, V, EXC + 20, RING_KIND_EXC_UP, exc_plen_short, DROP_MSG_BAD_LEN },
	{ "exc_packet payload_len long", MSG_EXC_PACKET, V, EXC + 20, RING_KIND_EXC_UP, exc_plen_long, DROP_MSG_BAD_LEN },
	{ "exc_packet payload_len 0 with data", MSG_EXC_PACKET, V, EXC + 20, RING_KIND_EXC_UP, exc_plen_zero, DROP_MSG_BAD_LEN },
	{ "exc_packet payload_len UINT32_MAX", MSG_EXC_PACKET, V, EXC + 20, RING_KIND_EXC_UP, exc_plen_max, DROP_MSG_BAD_LEN },
	{ "exc_packet payload_len wraps 32 bits", MSG_EXC_PACKET, V, EXC + 20, RING_KIND_EXC_UP, exc_plen_wrap, DROP_MSG_BAD_LEN },
	{ "exc_packet family 0", MSG_EXC_PACKET, V, EXC + 20, RING_KIND_EXC_UP, exc_fam_0, DROP_MSG_BAD_FIELD },
	{ "exc_packet family unix", MSG_EXC_PACKET, V, EXC + 20, RING_KIND_EXC_UP, exc_fam_unix, DROP_MSG_BAD_FIELD },
	{ "exc_packet family 255", MSG_EXC_PACKET, V, EXC + 20, RING_KIND_EXC_DOWN, exc_fam_255, DROP_MSG_BAD_FIELD },
	{ "exc_packet proto icmp", MSG_EXC_PACKET, V, EXC + 20, RING_KIND_EXC_UP, exc_proto_icmp, DROP_MSG_BAD_FIELD },
	{ "exc_packet proto 0", MSG_EXC_PACKET, V, EXC + 20, RING_KIND_EXC_DOWN, exc_proto_0, DROP_MSG_BAD_FIELD },
	{ "exc_packet proto sctp", MSG_EXC_PACKET, V, EXC + 20, RING_KIND_EXC_UP, exc_proto_sctp, DROP_MSG_BAD_FIELD },
	/* Length mismatch and a bad family: the length is reported. */
	{ "exc_packet bad len and family", MSG_EXC_PACKET, V, EXC + 20, RING_KIND_EXC_UP, exc_len_and_fam, DROP_MSG_BAD_LEN },

	/* ---- flow_add: flags and the camera source */
	VARIABLE(MSG_FLOW_ADD, FA1, FA, RING_KIND_CMD, RING_KIND_MAIN_CMD),
	{ "flow_add srtp cm80", MSG_FLOW_ADD, V, FA, RING_KIND_CMD, fa_key_cm80, OK },
	{ "flow_add srtp gcm256 rx+tx", MSG_FLOW_ADD, V, FA, RING_KIND_CMD, fa_key_gcm256_tx, OK },
	{ "flow_add srtp suite 5", MSG_FLOW_ADD, V, FA, RING_KIND_CMD, fa_key_suite_5, DROP_MSG_BAD_FIELD },
	{ "flow_add srtp key short", MSG_FLOW_ADD, V, FA, RING_KIND_CMD, fa_key_len_short, DROP_MSG_BAD_FIELD },
	{ "flow_add srtp key len 255", MSG_FLOW_ADD, V, FA, RING_KIND_CMD, fa_key_len_huge, DROP_MSG_BAD_FIELD },
	{ "flow_add srtp window 63", MSG_FLOW_ADD, V, FA, RING_KIND_CMD, fa_key_window_63, DROP_MSG_BAD_FIELD },
	{ "flow_add srtp window 32768", MSG_FLOW_ADD, V, FA, RING_KIND_CMD, fa_key_window_max1, DROP_MSG_BAD_FIELD },
	{ "flow_add plain key with a length", MSG_FLOW_ADD, V, FA, RING_KIND_CMD, fa_plain_with_len, DROP_MSG_BAD_FIELD },
	{ "flow_add srtp tx without rx", MSG_FLOW_ADD, V, FA, RING_KIND_CMD, fa_tx_without_rx, DROP_MSG_BAD_FIELD },
	{ "flow_add srtp tx other suite", MSG_FLOW_ADD, V, FA, RING_KIND_CMD, fa_tx_other_suite, DROP_MSG_BAD_FIELD },
	{ "flow_add latch, no source", MSG_FLOW_ADD, V, FA, RING_KIND_CMD, fa_latch_unset, OK },
	{ "flow_add every flag", MSG_FLOW_ADD, V, FA, RING_KIND_CMD, fa_all_flags, OK },
	{ "flow_add no source, no latch", MSG_FLOW_ADD, V, FA, RING_KIND_CMD, fa_unset_no_latch, DROP_MSG_BAD_FIELD },
	{ "flow_add unknown flag", MSG_FLOW_ADD, V, FA, RING_KIND_CMD, fa_bad_flags, DROP_MSG_BAD_FIELD },
	{ "flow_add source port 0", MSG_FLOW_ADD, V, FA, RING_KIND_CMD, fa_port_0, DROP_MSG_BAD_FIELD },
	{ "flow_add source family unix", MSG_FLOW_ADD, V, FA, RING_KIND_CMD, fa_family_unix, DROP_MSG_BAD_FIELD },
	{ "flow_add latch, bad source family", MSG_FLOW_ADD, V, FA, RING_KIND_CMD, fa_latch_bad_family, DROP_MSG_BAD_FIELD },

	/* ---- sub_add: RTP address always, RTCP unless muxed */
	VARIABLE(MSG_SUB_ADD, SA1, SA, RING_KIND_CMD, RING_KIND_EXC_DOWN),
	{ "sub_add own key", MSG_SUB_ADD, V, SA, RING_KIND_CMD, sa_key_own, OK },
	{ "sub_add srtp rx without tx", MSG_SUB_ADD, V, SA, RING_KIND_CMD, sa_rx_without_tx, DROP_MSG_BAD_FIELD },
	{ "sub_add gcm with a cm-length key", MSG_SUB_ADD, V, SA, RING_KIND_CMD, sa_key_len_gcm, DROP_MSG_BAD_FIELD },

	/* ---- srtp_rekey: a real key, a leg, a mode */
	FIXED(MSG_SRTP_REKEY, msg_srtp_rekey, RING_KIND_CMD, RING_KIND_EVT),
	{ "srtp_rekey reset rx", MSG_SRTP_REKEY, V, RK, RING_KIND_CMD, rk_reset_rx, OK },
	{ "srtp_rekey plain key", MSG_SRTP_REKEY, V, RK, RING_KIND_CMD, rk_plain_key, DROP_MSG_BAD_FIELD },
	{ "srtp_rekey which 0", MSG_SRTP_REKEY, V, RK, RING_KIND_CMD, rk_which_0, DROP_MSG_BAD_FIELD },
	{ "srtp_rekey which 4", MSG_SRTP_REKEY, V, RK, RING_KIND_CMD, rk_which_4, DROP_MSG_BAD_FIELD },
	{ "srtp_rekey mode 2", MSG_SRTP_REKEY, V, RK, RING_KIND_CMD, rk_mode_2, DROP_MSG_BAD_FIELD },
	{ "srtp_rekey key length", MSG_SRTP_REKEY, V, RK, RING_KIND_CMD, rk_bad_len, DROP_MSG_BAD_FIELD },
	{ "sub_add rtp ipv6", MSG_SUB_ADD, V, SA, RING_KIND_CMD, sa_v6, OK },
	{ "sub_add mux, no rtcp", MSG_SUB_ADD, V, SA, RING_KIND_CMD, sa_mux_rtcp_unset, OK },
	{ "sub_add no rtcp, no mux", MSG_SUB_ADD, V, SA, RING_KIND_CMD, sa_rtcp_unset, DROP_MSG_BAD_FIELD },
	{ "sub_add no rtp", MSG_SUB_ADD, V, SA, RING_KIND_CMD, sa_rtp_unset, DROP_MSG_BAD_FIELD },
	{ "sub_add unknown flag", MSG_SUB_ADD, V, SA, RING_KIND_CMD, sa_bad_flags, DROP_MSG_BAD_FIELD },
	{ "sub_add rtp port 0", MSG_SUB_ADD, V, SA, RING_KIND_CMD, sa_rtp_port_0, DROP_MSG_BAD_FIELD },
	{ "sub_add rtcp family unix", MSG_SUB_ADD, V, SA, RING_KIND_CMD, sa_rtcp_family, DROP_MSG_BAD_FIELD },

	/* ---- flow_event: kind in range */
	FIXED(MSG_FLOW_EVENT, msg_flow_event, RING_KIND_EVT, RING_KIND_CMD),
	{ "flow_event last kind", MSG_FLOW_EVENT, V, FE, RING_KIND_EVT, fe_kind_last, OK },
	{ "flow_event kind 0", MSG_FLOW_EVENT, V, FE, RING_KIND_EVT, fe_kind_0, DROP_MSG_BAD_FIELD },
	{ "flow_event kind past last", MSG_FLOW_EVENT, V, FE, RING_KIND_EVT, fe_kind_past, DROP_MSG_BAD_FIELD },
	{ "flow_event kind UINT32_MAX", MSG_FLOW_EVENT, V, FE, RING_KIND_EVT, fe_kind_huge, DROP_MSG_BAD_FIELD },

	/* ---- turn_effect: known type, id, per-type fields */
	VERSIONED(MSG_TURN_EFFECT, 2, TEF1, TEF, RING_KIND_CMD, RING_KIND_EXC_DOWN),
	ROW("turn_effect on evt", MSG_TURN_EFFECT, V, TEF, RING_KIND_EVT, DROP_MSG_WRONG_RING),
	{ "turn_effect owner 10", MSG_TURN_EFFECT, 2, MSG_TURN_EFFECT_LEN(10), RING_KIND_CMD, te_owner_10, OK },
	{ "turn_effect owner 10, 9 sent", MSG_TURN_EFFECT, 2, MSG_TURN_EFFECT_LEN(9), RING_KIND_CMD, te_owner_10, DROP_MSG_BAD_LEN },
	{ "turn_effect owner 10, v1 length", MSG_TURN_EFFECT, 2, TEF1, RING_KIND_CMD, te_owner_10, OK },
	{ "turn_effect owner max", MSG_TURN_EFFECT, 2, MSG_TURN_EFFECT_LEN(MSG_TURN_OWNER_MAX), RING_KIND_CMD, te_owner_max, OK },
	{ "turn_effect owner max+1", MSG_TURN_EFFECT, 2, TEF, RING_KIND_CMD, te_owner_past_max, DROP_MSG_BAD_LEN },
	{ "turn_effect owner 0xffff", MSG_TURN_EFFECT, 2, TEF, RING_KIND_CMD, te_owner_huge, DROP_MSG_BAD_LEN },
	{ "turn_effect type 0", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_type_0, DROP_MSG_BAD_FIELD },
	{ "turn_effect type past last", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_type_8, DROP_MSG_BAD_FIELD },
	{ "turn_effect type 255", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_type_255, DROP_MSG_BAD_FIELD },
	{ "turn_effect alloc_id 0", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_id_0, DROP_MSG_BAD_FIELD },
	{ "turn_effect df 1", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_df_1, OK },
	{ "turn_effect df 2", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_df_2, DROP_MSG_BAD_FIELD },
	{ "turn_effect transport tls", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_transport_tls, OK },
	{ "turn_effect transport 3", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_transport_3, DROP_MSG_BAD_FIELD },
	{ "turn_effect install v4 only", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_v4_only, OK },
	{ "turn_effect install v6 only", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_v6_only, OK },
	{ "turn_effect install client port 0", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_client_port_0, DROP_MSG_BAD_FIELD },
	{ "turn_effect install no client", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_client_unset, DROP_MSG_BAD_FIELD },
	{ "turn_effect install server unix", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_server_unix, DROP_MSG_BAD_FIELD },
	{ "turn_effect install no relay", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_relay_unset, DROP_MSG_BAD_FIELD },
	{ "turn_effect install relay port 0", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_relay_port_0, DROP_MSG_BAD_FIELD },
	{ "turn_effect install relay6 ipv4", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_relay6_is_v4, DROP_MSG_BAD_FIELD },
	{ "turn_effect install relay6 port 0", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_relay6_port_0, DROP_MSG_BAD_FIELD },
	{ "turn_effect install relay6 beside v6", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_v6_with_relay6, DROP_MSG_BAD_FIELD },
	{ "turn_effect refresh needs no addresses", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_refresh_no_addrs, OK },
	{ "turn_effect remove", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_remove, OK },
	{ "turn_effect refresh id 0", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_refresh_id_0, DROP_MSG_BAD_FIELD },
	{ "turn_effect perm port 0", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_perm, OK },
	{ "turn_effect perm remove ipv6", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_perm_v6, OK },
	{ "turn_effect perm no peer", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_perm_no_peer, DROP_MSG_BAD_FIELD },
	{ "turn_effect perm peer unix", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_perm_unix, DROP_MSG_BAD_FIELD },
	{ "turn_effect channel 0x4000", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_chan, OK },
	{ "turn_effect channel 0x4fff", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_chan_max, OK },
	{ "turn_effect channel 0x3fff", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_chan_low, DROP_MSG_BAD_FIELD },
	{ "turn_effect channel 0x5000 (RFC 5766)", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_chan_5000, OK },
	{ "turn_effect channel 0x7fff (RFC 5766)", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_chan_7fff, OK },
	{ "turn_effect channel 0x8000", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_chan_high, DROP_MSG_BAD_FIELD },
	{ "turn_effect channel 0", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_chan_0, DROP_MSG_BAD_FIELD },
	{ "turn_effect channel peer port 0", MSG_TURN_EFFECT, V, TEF, RING_KIND_CMD, te_chan_peer_port_0, DROP_MSG_BAD_FIELD },

	/* ---- turn_dump, turn_state: a worker's TURN state after an attach */
	FIXED(MSG_TURN_DUMP, msg_turn_dump, RING_KIND_CMD, RING_KIND_EVT),
	VERSIONED(MSG_TURN_STATE, 1, TEF1, TEF, RING_KIND_EVT, RING_KIND_CMD),
	{ "turn_state perm", MSG_TURN_STATE, V, TEF, RING_KIND_EVT, te_perm, OK },
	{ "turn_state channel", MSG_TURN_STATE, V, TEF, RING_KIND_EVT, te_chan, OK },
	{ "turn_state allocation with owner", MSG_TURN_STATE, V, MSG_TURN_EFFECT_LEN(10), RING_KIND_EVT, te_owner_10, OK },
	{ "turn_state owner cut short", MSG_TURN_STATE, V, MSG_TURN_EFFECT_LEN(9), RING_KIND_EVT, te_owner_10, DROP_MSG_BAD_LEN },
	{ "turn_state refresh", MSG_TURN_STATE, V, TEF, RING_KIND_EVT, ts_refresh, DROP_MSG_BAD_FIELD },
	{ "turn_state remove", MSG_TURN_STATE, V, TEF, RING_KIND_EVT, ts_remove, DROP_MSG_BAD_FIELD },
	{ "turn_state perm with owner", MSG_TURN_STATE, V, TEF, RING_KIND_EVT, ts_perm_owner, DROP_MSG_BAD_FIELD },
	{ "turn_state channel id 0", MSG_TURN_STATE, V, TEF, RING_KIND_EVT, ts_chan_id_0, DROP_MSG_BAD_FIELD },
	{ "turn_state no client", MSG_TURN_STATE, V, TEF, RING_KIND_EVT, te_client_unset, DROP_MSG_BAD_FIELD },

	/* ---- turn_event: kind in range, an allocation */
	VERSIONED(MSG_TURN_EVENT, 2, TEV1, TEV, RING_KIND_EVT, RING_KIND_CMD),
	{ "turn_event dump done", MSG_TURN_EVENT, 2, TEV, RING_KIND_EVT, tv_dump_done, OK },
	{ "turn_event dump done with an id", MSG_TURN_EVENT, 2, TEV, RING_KIND_EVT, tv_dump_done_id, DROP_MSG_BAD_FIELD },
	ROW("turn_event on exc up", MSG_TURN_EVENT, V, TEV, RING_KIND_EXC_UP, DROP_MSG_WRONG_RING),
	{ "turn_event failed", MSG_TURN_EVENT, V, TEV, RING_KIND_EVT, tv_failed, OK },
	{ "turn_event expired", MSG_TURN_EVENT, V, TEV, RING_KIND_EVT, tv_expired, OK },
	{ "turn_event kind 0", MSG_TURN_EVENT, V, TEV, RING_KIND_EVT, tv_kind_0, DROP_MSG_BAD_FIELD },
	{ "turn_event kind past last", MSG_TURN_EVENT, V, TEV, RING_KIND_EVT, tv_kind_past, DROP_MSG_BAD_FIELD },
	{ "turn_event alloc_id 0", MSG_TURN_EVENT, V, TEV, RING_KIND_EVT, tv_id_0, DROP_MSG_BAD_FIELD },
	FIXED(MSG_TUNNEL_CMD, msg_tunnel_cmd, RING_KIND_CMD, RING_KIND_EXC_DOWN),
	{ "tunnel_cmd op 0", MSG_TUNNEL_CMD, V, TCM, RING_KIND_CMD, tc_op_0, DROP_MSG_BAD_FIELD },
	{ "tunnel_cmd op past last", MSG_TUNNEL_CMD, V, TCM, RING_KIND_CMD, tc_op_past, DROP_MSG_BAD_FIELD },
	{ "tunnel_cmd listen fwd 0", MSG_TUNNEL_CMD, V, TCM, RING_KIND_CMD, tc_fwd_0, DROP_MSG_BAD_FIELD },
	{ "tunnel_cmd listen no device", MSG_TUNNEL_CMD, V, TCM, RING_KIND_CMD, tc_no_device, DROP_MSG_BAD_FIELD },
	{ "tunnel_cmd device unterminated", MSG_TUNNEL_CMD, V, TCM, RING_KIND_CMD, tc_device_unterminated,
	  DROP_MSG_BAD_FIELD },
	{ "tunnel_cmd target unterminated", MSG_TUNNEL_CMD, V, TCM, RING_KIND_CMD, tc_target_unterminated,
	  DROP_MSG_BAD_FIELD },
	{ "tunnel_cmd unlisten", MSG_TUNNEL_CMD, V, TCM, RING_KIND_CMD, tc_unlisten, OK },
	{ "tunnel_cmd kick", MSG_TUNNEL_CMD, V, TCM, RING_KIND_CMD, tc_kick, OK },
	{ "tunnel_cmd kick id 0", MSG_TUNNEL_CMD, V, TCM, RING_KIND_CMD, tc_kick_0, DROP_MSG_BAD_FIELD },
	FIXED(MSG_TUNNEL_EVENT, msg_tunnel_event, RING_KIND_EVT, RING_KIND_CMD),
	{ "tunnel_event kind 0", MSG_TUNNEL_EVENT, V, TNE, RING_KIND_EVT, tn_kind_0, DROP_MSG_BAD_FIELD },
	{ "tunnel_event kind past last", MSG_TUNNEL_EVENT, V, TNE, RING_KIND_EVT, tn_kind_past, DROP_MSG_BAD_FIELD },
	{ "tunnel_event device unterminated", MSG_TUNNEL_EVENT, V, TNE, RING_KIND_EVT, tn_device_unterminated,
	  DROP_MSG_BAD_FIELD },
	FIXED(MSG_RTSP_PULL, msg_rtsp_pull, RING_KIND_CMD, RING_KIND_EVT),
	{ "rtsp_pull op 0", MSG_RTSP_PULL, V, RPL, RING_KIND_CMD, rp_op_0, DROP_MSG_BAD_FIELD },
	{ "rtsp_pull op 3", MSG_RTSP_PULL, V, RPL, RING_KIND_CMD, rp_op_3, DROP_MSG_BAD_FIELD },
	{ "rtsp_pull id 0", MSG_RTSP_PULL, V, RPL, RING_KIND_CMD, rp_id_0, DROP_MSG_BAD_FIELD },
	{ "rtsp_pull no video flow", MSG_RTSP_PULL, V, RPL, RING_KIND_CMD, rp_flow_0, DROP_MSG_BAD_FIELD },
	{ "rtsp_pull audio = video flow", MSG_RTSP_PULL, V, RPL, RING_KIND_CMD, rp_same_flows, DROP_MSG_BAD_FIELD },
	{ "rtsp_pull audio flow", MSG_RTSP_PULL, V, RPL, RING_KIND_CMD, rp_audio, OK },
	{ "rtsp_pull no device", MSG_RTSP_PULL, V, RPL, RING_KIND_CMD, rp_no_device, DROP_MSG_BAD_FIELD },
	{ "rtsp_pull no target", MSG_RTSP_PULL, V, RPL, RING_KIND_CMD, rp_no_target, DROP_MSG_BAD_FIELD },
	{ "rtsp_pull http url", MSG_RTSP_PULL, V, RPL, RING_KIND_CMD, rp_url_http, DROP_MSG_BAD_FIELD },
	{ "rtsp_pull url with CRLF", MSG_RTSP_PULL, V, RPL, RING_KIND_CMD, rp_url_crlf, DROP_MSG_BAD_FIELD },
	{ "rtsp_pull url unterminated", MSG_RTSP_PULL, V, RPL, RING_KIND_CMD, rp_url_unterminated,
	  DROP_MSG_BAD_FIELD },
	{ "rtsp_pull user without pass", MSG_RTSP_PULL, V, RPL, RING_KIND_CMD, rp_user_only, DROP_MSG_BAD_FIELD },
	{ "rtsp_pull credentials", MSG_RTSP_PULL, V, RPL, RING_KIND_CMD, rp_creds, OK },
	{ "rtsp_pull password with LF", MSG_RTSP_PULL, V, RPL, RING_KIND_CMD, rp_pass_ctl, DROP_MSG_BAD_FIELD },
	{ "rtsp_pull stop", MSG_RTSP_PULL, V, RPL, RING_KIND_CMD, rp_stop, OK },
	FIXED(MSG_RTSP_EVENT, msg_rtsp_event, RING_KIND_EVT, RING_KIND_CMD),
	{ "rtsp_event kind 0", MSG_RTSP_EVENT, V, REV, RING_KIND_EVT, re_kind_0, DROP_MSG_BAD_FIELD },
	{ "rtsp_event kind past last", MSG_RTSP_EVENT, V, REV, RING_KIND_EVT, re_kind_past, DROP_MSG_BAD_FIELD },
	{ "rtsp_event pull 0", MSG_RTSP_EVENT, V, REV, RING_KIND_EVT, re_id_0, DROP_MSG_BAD_FIELD },
	{ "rtsp_event 3 tracks", MSG_RTSP_EVENT, V, REV, RING_KIND_EVT, re_tracks_3, DROP_MSG_BAD_FIELD },

	/* ---- unknown types, padding */
	ROW("type PAD", RING_MSG_PAD, V, 16, RING_KIND_MAIN_CMD, DROP_MSG_BAD_TYPE),
	ROW("type PAD len 0", RING_MSG_PAD, 0, 0, RING_KIND_EXC_UP, DROP_MSG_BAD_TYPE),
	ROW("type MSG__COUNT", MSG__COUNT, V, 16, RING_KIND_MAIN_CMD, DROP_MSG_BAD_TYPE),
	ROW("type 1000", 1000, V, 16, RING_KIND_CMD, DROP_MSG_BAD_TYPE),
	ROW("type 0xffff", 0xffff, V, 16, RING_KIND_CMD, DROP_MSG_BAD_TYPE),
	/* Unknown type with everything else wrong too: type comes first. */
	ROW("type unknown version 0", 0x7777, 0, 1 << 20, RING_KIND_EVT, DROP_MSG_BAD_TYPE),
	/* Version before length, length before ring. */
	ROW("ping version 0 bad len", MSG_PING, 0, 1, RING_KIND_EVT, DROP_MSG_BAD_VERSION),
	ROW("ping bad len wrong ring", MSG_PING, V, 1, RING_KIND_EVT, DROP_MSG_BAD_LEN),
};

/* The gate reads an exact-size heap copy, so ASan sees any read past len. */
static uint8_t *build(const struct msg_case *c)
{
	uint8_t *buf = malloc(c->len ? c->len : 1);
	cr_assert_not_null(buf);
	valid_payload(c->type, buf, c->len);
	if (c->edit)
		c->edit(buf, c->len);
	return buf;
}

/* A new message type must come with its rows: accepted at its lengths,
 * refused one byte either side, at version 0 and current+1, on a wrong ring. */
Test(msg, table_covers_catalogue)
{
	for (uint16_t t = 1; t < MSG__COUNT; t++) {
		const struct msg_info *mi = msg_lookup(t);
		bool ok_min = false, ok_max = false, below = false, above = false, v0 = false,
		     vnext = false, wrong = false;
		cr_assert_not_null(mi, "type %u", t);
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			const struct msg_case *c = &cases[i];
			if (c->type != t)
				continue;
			ok_min |= c->expect == OK && c->len == mi->min_len;
			ok_max |= c->expect == OK && c->len == mi->max_len;
			below |= c->expect == DROP_MSG_BAD_LEN && c->len == mi->min_len - 1 && !c->edit;
			above |= c->expect == DROP_MSG_BAD_LEN && c->len == mi->max_len + 1 && !c->edit;
			v0 |= c->expect == DROP_MSG_BAD_VERSION && c->version == 0;
			vnext |= c->expect == DROP_MSG_BAD_VERSION && c->version == mi->version + 1;
			wrong |= c->expect == DROP_MSG_WRONG_RING;
		}
		cr_expect(ok_min && ok_max && below && above && v0 && vnext && wrong,
			  "%s: rows missing (min %d max %d min-1 %d max+1 %d v0 %d v+1 %d ring %d)",
			  mi->name, ok_min, ok_max, below, above, v0, vnext, wrong);
	}
}

Test(msg, check_table)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct msg_case *c = &cases[i];
		uint8_t *buf = build(c);
		struct ring_msg m = { .type = c->type, .version = c->version, .len = c->len, .payload = buf };
		int got = msg_check(&m, c->kind);
		cr_expect_eq(got, c->expect, "%s: got %d (%s), want %d (%s)", c->name, got,
			     got > 0 && got < DROP__COUNT ? stats_drop_names[got] : "ok", c->expect,
			     c->expect > 0 ? stats_drop_names[c->expect] : "ok");
		free(buf);
	}
}

/* Independent copy of the routing rules: what may travel on which ring. */
static bool allowed(uint16_t type, enum ring_kind k)
{
	switch (type) {
	case MSG_HELLO: return k == RING_KIND_MAIN_CMD;
	case MSG_HELLO_ACK: return k == RING_KIND_MAIN_EVT;
	case MSG_PING: return k == RING_KIND_MAIN_CMD || k == RING_KIND_CMD;
	case MSG_PONG: return k == RING_KIND_MAIN_EVT || k == RING_KIND_EVT;
	case MSG_SET_LOG_LEVEL: return k == RING_KIND_MAIN_CMD;
	case MSG_CMD_ERROR: return k == RING_KIND_MAIN_EVT || k == RING_KIND_EVT;
	case MSG_EXC_PACKET: return k == RING_KIND_EXC_UP || k == RING_KIND_EXC_DOWN || k == RING_KIND_CMD;
	case MSG_TURN_EFFECT:
	case MSG_TURN_DUMP: return k == RING_KIND_CMD;
	case MSG_TURN_EVENT:
	case MSG_TURN_STATE: return k == RING_KIND_EVT;
	case MSG_TUNNEL_CMD: return k == RING_KIND_CMD;
	case MSG_TUNNEL_EVENT: return k == RING_KIND_EVT;
	case MSG_RTSP_PULL: return k == RING_KIND_CMD;
	case MSG_RTSP_EVENT: return k == RING_KIND_EVT;
	case MSG_FLOW_ADD:
	case MSG_FLOW_DEL:
	case MSG_SUB_ADD:
	case MSG_SUB_DEL:
	case MSG_FLOW_DUMP:
	case MSG_SRTP_REKEY: return k == RING_KIND_CMD;
	case MSG_FLOW_EVENT: return k == RING_KIND_EVT;
	}
	return false;
}

Test(msg, every_type_on_every_ring)
{
	for (uint16_t t = MSG_HELLO; t < MSG__COUNT; t++) {
		const struct msg_info *mi = msg_lookup(t);
		cr_assert_not_null(mi, "type %u missing from the catalogue", t);
		cr_assert(mi->version >= 1 && mi->version <= 2, "%s", mi->name);
		for (int k = RING_KIND_MAIN_CMD; k <= RING_KIND_EXC_DOWN; k++) {
			struct msg_case c = { mi->name, t, 1, mi->min_len, (enum ring_kind)k, NULL, 0 };
			uint8_t *buf = build(&c);
			struct ring_msg m = { .type = t, .version = 1, .len = mi->min_len, .payload = buf };
			int want = allowed(t, (enum ring_kind)k) ? 0 : DROP_MSG_WRONG_RING;
			cr_expect_eq(msg_check(&m, (enum ring_kind)k), want, "%s on ring kind %d", mi->name, k);
			free(buf);
		}
		/* A ring kind outside the enum carries nothing. */
		struct msg_case c = { mi->name, t, 1, mi->min_len, RING_KIND_CMD, NULL, 0 };
		uint8_t *buf = build(&c);
		struct ring_msg m = { .type = t, .version = 1, .len = mi->min_len, .payload = buf };
		cr_expect_eq(msg_check(&m, (enum ring_kind)0), DROP_MSG_WRONG_RING, "%s kind 0", mi->name);
		cr_expect_eq(msg_check(&m, (enum ring_kind)7), DROP_MSG_WRONG_RING, "%s kind 7", mi->name);
		free(buf);
		/* Travel direction matches what each side consumes. */
		bool to_dp = mi->ring_kinds & RING_KINDS_TO_DP, to_cp = mi->ring_kinds & ~RING_KINDS_TO_DP;
		cr_expect(to_dp || to_cp, "%s travels nowhere", mi->name);
	}
}

Test(msg, catalogue_lookup_and_names)
{
	static const struct {
		uint16_t type;
		const char *name;
		uint32_t min, max;
	} want[] = {
		{ MSG_HELLO, "hello", sizeof(struct msg_hello), sizeof(struct msg_hello) },
		{ MSG_HELLO_ACK, "hello_ack", sizeof(struct msg_hello_ack), sizeof(struct msg_hello_ack) },
		{ MSG_PING, "ping", sizeof(struct msg_ping), sizeof(struct msg_ping) },
		{ MSG_PONG, "pong", sizeof(struct msg_pong), sizeof(struct msg_pong) },
		{ MSG_SET_LOG_LEVEL, "set_log_level", sizeof(struct msg_set_log_level), sizeof(struct msg_set_log_level) },
		{ MSG_CMD_ERROR, "cmd_error", sizeof(struct msg_cmd_error), sizeof(struct msg_cmd_error) },
		{ MSG_EXC_PACKET, "exc_packet", EXC, EXC + MSG_EXC_MAX_PAYLOAD },
		{ MSG_FLOW_ADD, "flow_add", FA1, FA },
		{ MSG_FLOW_DEL, "flow_del", sizeof(struct msg_flow_del), sizeof(struct msg_flow_del) },
		{ MSG_SUB_ADD, "sub_add", SA1, SA },
		{ MSG_SUB_DEL, "sub_del", sizeof(struct msg_sub_del), sizeof(struct msg_sub_del) },
		{ MSG_FLOW_DUMP, "flow_dump", sizeof(struct msg_flow_dump), sizeof(struct msg_flow_dump) },
		{ MSG_FLOW_EVENT, "flow_event", FE, FE },
		{ MSG_SRTP_REKEY, "srtp_rekey", RK, RK },
		{ MSG_TURN_EFFECT, "turn_effect", TEF1, TEF },
		{ MSG_TURN_EVENT, "turn_event", TEV1, TEV },
		{ MSG_TURN_DUMP, "turn_dump", sizeof(struct msg_turn_dump), sizeof(struct msg_turn_dump) },
		{ MSG_TURN_STATE, "turn_state", TEF1, TEF },
		{ MSG_TUNNEL_CMD, "tunnel_cmd", TCM, TCM },
		{ MSG_TUNNEL_EVENT, "tunnel_event", TNE, TNE },
		{ MSG_RTSP_PULL, "rtsp_pull", RPL, RPL },
		{ MSG_RTSP_EVENT, "rtsp_event", REV, REV },
	};
	cr_assert_eq(sizeof(want) / sizeof(want[0]), MSG__COUNT - 1, "table covers every type");
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct msg_info *mi = msg_lookup(want[i].type);
		cr_assert_not_null(mi);
		cr_expect_str_eq(mi->name, want[i].name);
		cr_expect_str_eq(msg_type_name(want[i].type), want[i].name);
		cr_expect_eq(mi->min_len, want[i].min, "%s", want[i].name);
		cr_expect_eq(mi->max_len, want[i].max, "%s", want[i].name);
		/* Every message fits a minimum-size ring, or the exception rings
		 * must be configured bigger (checked by whoever sizes them). */
		if (want[i].type != MSG_EXC_PACKET)
			cr_expect_leq(mi->max_len, ring_max_payload(RING_MIN_CAPACITY), "%s", want[i].name);
	}
	cr_expect_null(msg_lookup(RING_MSG_PAD));
	cr_expect_null(msg_lookup(MSG__COUNT));
	cr_expect_null(msg_lookup(UINT16_MAX));
	cr_expect_str_eq(msg_type_name(RING_MSG_PAD), "unknown");
	cr_expect_str_eq(msg_type_name(4242), "unknown");
	/* Payload layouts the other process relies on. */
	cr_expect_eq(sizeof(struct msg_exc_packet), 56);
	cr_expect_eq(sizeof(struct msg_pong), 32);
	cr_expect_eq(offsetof(struct msg_turn_effect, owner_len), 160); /* version 1's end */
	cr_expect_eq(offsetof(struct msg_turn_effect, owner), 168);
	cr_expect_eq(offsetof(struct msg_turn_event, allocs), 104);
	cr_expect_eq(sizeof(struct msg_turn_event), 120);
	cr_expect_eq(offsetof(struct msg_exc_packet, alloc_id), 52);
}

Test(msg, read_copies_and_zero_fills)
{
	struct msg_pong full = { .seq = 7, .sent_ns = 8, .recv_ns = 9, .worker = 10 }, out;
	uint8_t *buf = malloc(sizeof(full) + 8);

	/* An older sender's shorter payload: the missing fields read as zero. */
	memcpy(buf, &full, sizeof(full));
	struct ring_msg m = { .type = MSG_PONG, .version = 1, .len = 16, .payload = buf };
	memset(&out, 0xff, sizeof(out));
	msg_read(&m, &out, sizeof(out));
	cr_expect_eq(out.seq, 7);
	cr_expect_eq(out.sent_ns, 8);
	cr_expect_eq(out.recv_ns, 0);
	cr_expect_eq(out.worker, 0);
	cr_expect_eq(out.reserved, 0);

	/* A newer sender's longer payload: only our struct's bytes are read. */
	memset(buf + sizeof(full), 0xee, 8);
	m.len = sizeof(full) + 8;
	msg_read(&m, &out, sizeof(out));
	cr_expect_eq(memcmp(&out, &full, sizeof(out)), 0);

	m.len = 0;
	memset(&out, 0xff, sizeof(out));
	msg_read(&m, &out, sizeof(out));
	cr_expect_eq(out.seq, 0);
	cr_expect_eq(out.reserved, 0);
	free(buf);
}

/* Through a real ring: what the consumer dequeues is what the gate judges. */
Test(msg, through_a_ring)
{
	struct ring_ctrl *ctrl = aligned_alloc(RING_CACHELINE, sizeof(*ctrl));
	uint8_t *data = malloc(1 << 17);
	ring_ctrl_init(ctrl);
	ring *p = ring_open(ctrl, data, 1 << 17, -1, RING_PRODUCER);
	ring *c = ring_open(ctrl, data, 1 << 17, -1, RING_CONSUMER);
	struct ring_msg m[4];
	struct msg_ping ping = { .seq = 41, .sent_ns = 1 };
	struct msg_exc_packet *exc = calloc(1, EXC + 100);

	exc->family = AF_INET6;
	exc->proto = IPPROTO_UDP;
	exc->payload_len = 100;
	cr_assert_eq(ring_enqueue(p, MSG_PING, 1, &ping, sizeof(ping)), 0);
	cr_assert_eq(ring_enqueue(p, MSG_EXC_PACKET, 1, exc, EXC + 100), 0);
	cr_assert_eq(ring_enqueue(p, MSG_PING, 2, &ping, sizeof(ping)), 0);
	cr_assert_eq(ring_dequeue_burst(c, m, 4), 3);
	cr_expect_eq(msg_check(&m[0], RING_KIND_CMD), 0);
	cr_expect_eq(msg_check(&m[1], RING_KIND_EXC_DOWN), 0);
	cr_expect_eq(msg_check(&m[2], RING_KIND_CMD), DROP_MSG_BAD_VERSION);
	struct msg_ping got;
	msg_read(&m[0], &got, sizeof(got));
	cr_expect_eq(got.seq, 41);
	ring_release(c);
	free(exc);
	ring_close(p);
	ring_close(c);
	free(data);
	free(ctrl);
}
