/*
 * turn_client: the TURN client of `spbench turn` (RFC 8656 over UDP/IPv4,
 * long-term credentials with MESSAGE-INTEGRITY, built and parsed with
 * common/stun.h). Two uses:
 *
 *  - a session per client socket, set up with blocking transactions:
 *    Allocate (401 -> authenticated Allocate), CreatePermission,
 *    ChannelBind, Refresh; 438 (stale nonce) is retried with the new nonce,
 *    lost datagrams are retransmitted;
 *  - the allocation churn of the allocations/s figure: one thread keeps W
 *    cycles in flight, each Allocate (401 -> authenticated Allocate) then
 *    Refresh LIFETIME=0 on a socket opened for the cycle (a fresh 5-tuple
 *    per allocation, as a new client has), the sockets' addresses rotating
 *    over S loopback addresses (so a per-source limit on 401s meets the
 *    load of many clients, not of one), and counts what came back.
 *
 * Every answer is parsed with stun_parse() and must carry the transaction
 * id sent; success answers to authenticated requests must verify with the
 * key. Anything else is counted, never trusted.
 */
#ifndef SP_TURN_CLIENT_H
#define SP_TURN_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "stun.h"

struct tc_creds {
	const char *user, *password;
};

struct tc_session {
	int fd;                         /* the caller's UDP socket (not owned) */
	struct sockaddr_in server;
	const struct tc_creds *creds;
	char realm[STUN_MAX_TEXT + 1], nonce[STUN_MAX_TEXT + 1];
	size_t realm_len, nonce_len;
	uint8_t key[STUN_LONG_TERM_KEY_LEN];
	bool have_key;                  /* realm learned from a 401 */
	uint8_t tid[STUN_TID_LEN];      /* the transaction in flight */
	struct stun_addr relayed;       /* from the Allocate success */
	uint32_t rto_ms, tries;         /* retransmission: 250 ms, 4 tries */
	uint64_t stray;                 /* datagrams that were not the awaited answer */
	uint64_t retransmits;
};

void tc_session_init(struct tc_session *s, int fd, const struct sockaddr_in *server,
		     const struct tc_creds *c);

/* Each returns 0 on success, the STUN error code (> 0) of an error answer,
 * or -ETIMEDOUT / -EPROTO (an answer that does not verify) / -errno;
 * why says what happened. */
int tc_allocate(struct tc_session *s, uint32_t lifetime_s, char *why, size_t len);
int tc_permit(struct tc_session *s, const struct sockaddr_in *peer, char *why, size_t len);
int tc_channel_bind(struct tc_session *s, uint16_t channel, const struct sockaddr_in *peer, char *why,
		    size_t len);
int tc_refresh(struct tc_session *s, uint32_t lifetime_s, char *why, size_t len);

/* The allocation churn. */
struct tc_churn_cfg {
	struct sockaddr_in server;
	const struct tc_creds *creds;
	uint32_t sources;      /* source addresses 127.1.x.y the cycles rotate over */
	uint32_t inflight;     /* cycles in flight (W) */
	uint32_t duration_ms;  /* the measured window; cycles in flight then finish */
	uint32_t rto_ms, tries;
	int rcvbuf;
};

#define TC_MAX_CODES 8

struct tc_churn_report {
	double window_s;
	uint64_t allocs;           /* authenticated Allocates answered with success in the window */
	uint64_t freed;            /* Refresh LIFETIME=0 answered with success (window and wind-down) */
	uint64_t requests, retransmits, timeouts, stale_nonce;
	uint64_t unverified;       /* success answers whose integrity did not verify */
	uint64_t stray;            /* datagrams that answer nothing in flight */
	uint64_t left;             /* cycles abandoned (timed out): their allocation may remain */
	uint16_t code[TC_MAX_CODES];   /* unexpected error answers by code */
	uint64_t code_n[TC_MAX_CODES];
	double cycle_p50_ms, cycle_p99_ms; /* first Allocate sent to its success, per allocation */
};

/* Runs the churn on the calling thread; 0, or -errno with why set when a
 * socket could not be opened (the report holds what was done until then). */
int tc_churn(const struct tc_churn_cfg *c, struct tc_churn_report *r, char *why, size_t len);

#endif
