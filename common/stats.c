/* stats: names of the counters and drop reasons (see stats.h). */
#include "stats.h"

const char *const stats_counter_names[STAT__COUNT] = {
	[STAT_LOOPS] = "loops",
	[STAT_SLEEPS] = "sleeps",
	[STAT_CMDS] = "commands",
	[STAT_EVENTS] = "events",
	[STAT_EXC_UP] = "exception_up",
	[STAT_EXC_DOWN] = "exception_down",
	[STAT_PINGS] = "pings",
	[STAT_RX_PACKETS] = "rx_packets",
	[STAT_RX_BYTES] = "rx_bytes",
	[STAT_TX_PACKETS] = "tx_packets",
	[STAT_TX_BYTES] = "tx_bytes",
	[STAT_RX_REARMS] = "rx_rearms",
	[STAT_RTP_IN] = "rtp_in",
	[STAT_RTCP_IN] = "rtcp_in",
	[STAT_FANOUT] = "fanout_sends",
	[STAT_FAST_START] = "fast_start_pkts",
	[STAT_NACK_HIT] = "nack_resent",
	[STAT_PLI_UP] = "pli_upstream",
	[STAT_PLI_DEDUP] = "pli_absorbed",
};

const char *const stats_drop_names[DROP__COUNT] = {
	[DROP_RING_FULL] = "ring_full",
	[DROP_MSG_BAD_TYPE] = "msg_bad_type",
	[DROP_MSG_BAD_VERSION] = "msg_bad_version",
	[DROP_MSG_BAD_LEN] = "msg_bad_len",
	[DROP_MSG_WRONG_RING] = "msg_wrong_ring",
	[DROP_MSG_BAD_FIELD] = "msg_bad_field",
	[DROP_RING_STALE] = "ring_stale",
	[DROP_RX_NO_BUFFER] = "rx_no_buffer",
	[DROP_RX_TRUNCATED] = "rx_truncated",
	[DROP_TX_NO_SLOT] = "tx_no_slot",
	[DROP_TX_ERROR] = "tx_error",
	[DROP_UNKNOWN_SOURCE] = "unknown_source",
	[DROP_RTP_MALFORMED] = "rtp_malformed",
	[DROP_RTCP_MALFORMED] = "rtcp_malformed",
	[DROP_SSRC_MISMATCH] = "ssrc_mismatch",
	[DROP_NACK_MISS] = "nack_miss",
	[DROP_NO_PORT] = "no_port",
};
