/*
 * msg: the catalogue of ring messages between spcp and spdp.
 * docs/ring-messages.md is the human copy of this table; keep them in step.
 *
 * Payloads are fixed-layout structs of fixed-width fields in host byte order
 * (both processes run on one host). A receiver accepts versions 1..current of
 * a type; a later version may only append fields, so min_len stays valid.
 * msg_check() is the one gate every dequeued message passes before a
 * handler sees it; msg_read() copies a payload into its struct (zero-filling
 * fields an older sender did not send) so handlers never parse in place
 * memory the peer can still write.
 */
#ifndef SP_MSG_H
#define SP_MSG_H

#include <stdint.h>
#include <string.h>

#include "ring.h"
#include "shm-t.h"
#include "stats.h"

enum msg_type {
	MSG_HELLO = 1,         /* spcp -> spdp main: a control plane attached */
	MSG_HELLO_ACK = 2,     /* spdp main -> spcp */
	MSG_PING = 3,          /* spcp -> spdp main or worker: heartbeat */
	MSG_PONG = 4,          /* spdp main or worker -> spcp */
	MSG_SET_LOG_LEVEL = 5, /* spcp -> spdp main */
	MSG_CMD_ERROR = 6,     /* spdp -> spcp: a command was refused */
	MSG_EXC_PACKET = 7,    /* exception packet, either direction */
	MSG__COUNT
};

#define MSG_PROTO_VERSION 1u

struct msg_hello {
	int32_t cp_pid;
	uint32_t proto_version;
	uint64_t attach_count; /* spcp echoes the count it was told at attach */
};

struct msg_hello_ack {
	int32_t dp_pid;
	uint32_t proto_version;
	uint32_t n_workers;
	uint32_t reserved;
	uint64_t dp_start_real_ns;
};

struct msg_ping {
	uint64_t seq;
	uint64_t sent_ns; /* CLOCK_MONOTONIC at spcp */
};

struct msg_pong {
	uint64_t seq;
	uint64_t sent_ns;   /* echoed */
	uint64_t recv_ns;   /* CLOCK_MONOTONIC at spdp */
	uint32_t worker;    /* UINT32_MAX: spdp main */
	uint32_t reserved;
};

struct msg_set_log_level {
	uint32_t level; /* LOG_LVL_ERR..LOG_LVL_DEBUG */
	uint32_t reserved;
};

struct msg_cmd_error {
	uint32_t cmd_type;
	int32_t error; /* negative errno */
	uint64_t cmd_seq;
};

/* Followed by payload_len bytes of packet. Addresses in network order. */
struct msg_exc_packet {
	uint32_t worker;
	uint32_t socket_id;    /* which spdp socket it came in on / must leave from */
	uint8_t family;        /* AF_INET or AF_INET6 */
	uint8_t proto;         /* IPPROTO_UDP or IPPROTO_TCP */
	uint16_t local_port;   /* network order */
	uint16_t remote_port;  /* network order */
	uint16_t reserved;
	uint8_t local_addr[16];
	uint8_t remote_addr[16];
	uint32_t payload_len;
	uint32_t reserved2;
};
#define MSG_EXC_MAX_PAYLOAD 65535u

struct msg_info {
	const char *name;
	uint8_t version;    /* current version; 0: type not in use */
	uint32_t min_len;
	uint32_t max_len;
	uint32_t ring_kinds; /* RING_KIND_BIT()s it may travel on */
};

/* NULL for unknown types. */
const struct msg_info *msg_lookup(uint16_t type);
const char *msg_type_name(uint16_t type);

/* 0 when the message may be handled on a ring of `kind`; otherwise the
 * drop reason (> 0) the caller counts. Field ranges are checked too. */
int msg_check(const struct ring_msg *m, enum ring_kind kind);

/* Copy a checked payload into its struct, zero-filling what was not sent. */
static inline void msg_read(const struct ring_msg *m, void *dst, size_t size)
{
	size_t n = m->len < size ? m->len : size;
	memcpy(dst, m->payload, n);
	if (n < size)
		memset((uint8_t *)dst + n, 0, size - n);
}

#endif
