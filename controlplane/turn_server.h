/*
 * turn_server: the I/O-free TURN server core spcp runs (RFC 8656 over the
 * common/stun.h codec). It owns allocation state, credentials, quotas,
 * expiry and the relay port pool; it never touches a socket and never reads
 * a clock: every call takes now_ns (CLOCK_MONOTONIC), so tests drive
 * expiry without sleeping.
 *
 * One call, turn_server_handle(), takes one STUN message received from a
 * client 5-tuple and writes the response to send back (or nothing: silent
 * drops). What the data plane must change is queued as effects, a plain
 * struct array the caller drains with turn_server_drain() and turns into
 * ring commands to spdp (install allocation, install/refresh permission,
 * install channel, remove). turn_server_expire() sweeps lifetimes and
 * queues removals.
 *
 * Auth is the long-term mechanism with STATELESS nonces (timestamp + HMAC
 * of the client address and timestamp under a server secret): an
 * unauthenticated request commits no state but one bounded token bucket
 * entry, and 401/438/400 answers to unauthenticated requests are rate
 * limited per source IP. Passwords come from a static user table or from
 * TURN REST API secrets ("expiry:user", password base64(HMAC-SHA1)).
 *
 * Memory is allocated once at create (allocations, permissions, channels,
 * users, rate-limit table, port bitmap); nothing per request.
 * docs/turn.md lists every response code and when it is sent.
 */
#ifndef SP_TURN_SERVER_H
#define SP_TURN_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "turn_policy.h"

/* Client-side transport of a 5-tuple. */
enum turn_transport {
	TURN_TP_UDP = 0,
	TURN_TP_TCP = 1,
	TURN_TP_TLS = 2,
};

/* Where a request came from: the client's address, the server address it
 * was sent to, and the transport. An allocation is keyed by this. */
struct turn_5tuple {
	struct sp_addr client;
	struct sp_addr server;
	uint8_t transport; /* enum turn_transport */
};

/* What the data plane must do. ALLOC_REMOVE implies removing every
 * permission and channel of the allocation (no separate effects). */
enum turn_effect_type {
	TURN_EFF_ALLOC_INSTALL = 1, /* new allocation: 5-tuple, relay(s), expiry, bandwidth */
	TURN_EFF_ALLOC_REFRESH,     /* new expiry for an installed allocation */
	TURN_EFF_ALLOC_REMOVE,      /* Refresh 0, expiry */
	TURN_EFF_PERM_INSTALL,      /* install or refresh: peer IP (port 0), expiry */
	TURN_EFF_PERM_REMOVE,       /* permission expired */
	TURN_EFF_CHANNEL_INSTALL,   /* install or refresh: channel <-> peer addr:port */
	TURN_EFF_CHANNEL_REMOVE,    /* binding expired (the number stays reserved 5 min here) */
};

/* An allocation's owner is the USERNAME of its Allocate, at most this long
 * (STUN allows 512 bytes; an Allocate with a longer one gets 400). It goes
 * to the data plane with ALLOC_INSTALL and comes back in its dumps, so a
 * restarted spcp knows whose allocation it is (turn_server_restore_alloc). */
#define TURN_OWNER_MAX 255

/*
 * One effect. Plain data (no pointers) so it maps 1:1 onto a ring message.
 * relay / relay6: the allocation's relayed transport addresses (family 0
 * when absent; a dual allocation has both, same port). expiry_ns is on the
 * caller's monotonic clock; the data plane may also expire on it.
 */
struct turn_effect {
	uint8_t type;          /* enum turn_effect_type */
	uint8_t dont_fragment; /* ALLOC_INSTALL: client asked for DF */
	uint16_t channel;      /* CHANNEL_*: 0x4000..cfg.channel_max */
	uint32_t alloc_id;     /* never 0; unique while the server lives */
	uint64_t expiry_ns;
	uint64_t bandwidth_bps; /* ALLOC_INSTALL: cap the data plane enforces, 0 = none */
	struct turn_5tuple ft;  /* ALLOC_*: the client 5-tuple */
	struct sp_addr relay;   /* relayed address, IPv4 (or the only one) */
	struct sp_addr relay6;  /* second relayed address of a dual allocation */
	struct sp_addr peer;    /* PERM_*: IP with port 0; CHANNEL_*: IP and port */
	uint16_t owner_len;     /* ALLOC_INSTALL: the owner (USERNAME), not NUL-terminated */
	char owner[TURN_OWNER_MAX];
};

/* The effect queue is sized at create for the worst single call (64 peers
 * of a CreatePermission plus the lazy expiry of one allocation) twice over;
 * handle() refuses (-EAGAIN) to run with less than one worst case free, so
 * draining after every call is always enough. */
#define TURN_MAX_REST_SECRETS 4
#define TURN_NONCE_LEN 32

struct turn_server_cfg {
	const char *realm;               /* required, < 128 chars */
	const uint8_t *nonce_secret;     /* required: HMAC key of the nonces */
	size_t nonce_secret_len;         /* >= 16 */
	const char *software;            /* SOFTWARE attribute, NULL: none */
	struct sp_addr relay_v4;         /* relay IP (port ignored), family 0: none */
	struct sp_addr relay_v6;
	uint16_t port_min, port_max;     /* relay port range, inclusive */
	uint32_t max_allocs;             /* total -> 508 */
	uint32_t max_allocs_per_user;    /* -> 486 */
	uint32_t max_perms_per_alloc;    /* -> 508 */
	uint32_t max_channels_per_alloc; /* -> 508 */
	uint32_t max_users;              /* static user table size */
	/* Highest CHANNEL-NUMBER a ChannelBind may name: 0x4FFF (RFC 8656,
	 * the default); up to 0x7FFF admits RFC 5766's range, which older
	 * clients (coturn's turnutils_uclient among them) pick from. */
	uint16_t channel_max;
	uint64_t bandwidth_bps;          /* per allocation, carried in ALLOC_INSTALL */
	uint32_t default_lifetime_s;     /* 600 */
	uint32_t max_lifetime_s;         /* 3600 */
	uint32_t perm_lifetime_s;        /* 300 */
	uint32_t channel_lifetime_s;     /* 600 */
	uint32_t nonce_lifetime_s;       /* 600 */
	uint32_t rl_rate;                /* unauthenticated answers per second per IP */
	uint32_t rl_burst;
	uint32_t rl_entries;             /* token bucket table size (rounded up to 4) */
	/* now_ns + wall_offset_ns = Unix time in ns (REST expiries and nonce
	 * timestamps); spcp sets clock_real_ns() - clock_mono_ns(). */
	int64_t wall_offset_ns;
	const char *const *peer_allow;   /* CIDR overrides of the deny-list */
	size_t n_peer_allow;
};

/* Fill the defaults (every field the comments give a number for). */
void turn_server_cfg_defaults(struct turn_server_cfg *cfg);

/* Why a message got no answer, or which answer it got (drop counters). */
enum turn_stat {
	TURN_STAT_PARSE_ERROR,     /* stun_parse refused it */
	TURN_STAT_NOT_REQUEST,     /* indication/response sent to spcp: dropped */
	TURN_STAT_RATE_LIMITED,    /* unauthenticated answer suppressed */
	TURN_STAT_BUILD_ERROR,     /* response did not fit the caller's buffer */
	TURN_STAT_BINDING,
	TURN_STAT_ALLOCATE_OK,
	TURN_STAT_REFRESH_OK,
	TURN_STAT_PERMISSION_OK,
	TURN_STAT_CHANNEL_OK,
	TURN_STAT_ERR_400,
	TURN_STAT_ERR_401,
	TURN_STAT_ERR_403,
	TURN_STAT_ERR_420,
	TURN_STAT_ERR_437,
	TURN_STAT_ERR_438,
	TURN_STAT_ERR_440,
	TURN_STAT_ERR_441,
	TURN_STAT_ERR_442,
	TURN_STAT_ERR_443,
	TURN_STAT_ERR_486,
	TURN_STAT_ERR_500,
	TURN_STAT_ERR_508,
	TURN_STAT__COUNT
};

struct turn_server_stats {
	uint64_t count[TURN_STAT__COUNT];
	uint64_t peer_denied[TURN_PEER_VERDICT__COUNT];
	uint32_t allocs, perms, channels; /* live now */
	uint32_t effects_pending;
};

struct turn_server; /* opaque */

/* NULL on a bad config (errno EINVAL) or no memory (ENOMEM). Copies
 * everything it needs from cfg. */
struct turn_server *turn_server_create(const struct turn_server_cfg *cfg);
void turn_server_destroy(struct turn_server *s);

/* Static long-term user (key MD5(user:realm:SASLprep(pw)) stored, not the
 * password). Same user again replaces the key. -ENOSPC, -EINVAL, or the
 * SASLprep error. */
int turn_server_add_user(struct turn_server *s, const char *user, const char *password);
/* TURN REST API secret; up to TURN_MAX_REST_SECRETS, all accepted (add the
 * new one, remove the old one later). */
int turn_server_add_rest_secret(struct turn_server *s, const char *secret);
int turn_server_remove_rest_secret(struct turn_server *s, const char *secret);

/*
 * Handle one STUN message from `ft`. On return *resp_len is the length of
 * the response written to resp (0: send nothing). Effects are queued.
 * Returns 0, -EAGAIN when the effect queue lacks room for a worst-case call
 * (drain first; the message was not looked at), -EINVAL for bad
 * arguments. A hostile message is never an error: it is an answer or a
 * counted drop.
 */
int turn_server_handle(struct turn_server *s, const struct turn_5tuple *ft, const uint8_t *msg,
		       size_t len, uint64_t now_ns, uint8_t *resp, size_t cap, size_t *resp_len);

/*
 * Expire allocations, permissions and channel bindings whose time is past
 * now_ns, queueing the removal effects. Stops when the effect queue is
 * full; the next call continues. Returns the number of effects queued.
 */
int turn_server_expire(struct turn_server *s, uint64_t now_ns);

/*
 * Forget allocation `alloc_id` now, with its permissions and channels (the
 * data plane could not install it, or removed it on its own), releasing its
 * relay port and quota. Queues ALLOC_REMOVE like any removal, so a data
 * plane that still holds it lets go too. 0, -ENOENT (no such allocation),
 * -EAGAIN (effect queue full: drain first).
 */
int turn_server_remove_alloc(struct turn_server *s, uint32_t alloc_id);

/*
 * Restore (docs/turn.md "spcp restart"): a restarted spcp rebuilds its view
 * from what the data plane kept relaying. Each call takes one record of the
 * data plane's dump in the shape of the effect that would have created it,
 * checks it against today's configuration and queues nothing (the data
 * plane has it; the caller removes there what is refused here).
 *
 * turn_server_restore_alloc(): an ALLOC_INSTALL (id, 5-tuple, relay and
 * relay6, expiry, DF, owner). The allocation holds its relay port, counts
 * against max_allocs and its owner's per-user quota, expires like any other,
 * and ids handed out later are above it. Its key is not known: the first
 * request that authenticates with the owner's USERNAME binds it (the key
 * is derived from username, realm and password, or the REST secret, as for
 * every request); a request with another username gets 441.
 * 0; -EEXIST this id is held already (nothing done); -ETIME expired;
 * -EINVAL not an allocation, no owner, a transport other than UDP;
 * -EADDRNOTAVAIL the relay is not our relay address or its port is outside
 * port_min..port_max (configuration changed); -EADDRINUSE the 5-tuple or
 * the port belongs to another allocation; -ENOSPC max_allocs reached.
 */
int turn_server_restore_alloc(struct turn_server *s, const struct turn_effect *e, uint64_t now_ns);
/*
 * A PERM_INSTALL (peer IP, expiry) or CHANNEL_INSTALL (number, peer,
 * expiry) of an allocation. The peer passes today's policy again.
 * 0; -EEXIST already there (nothing done); -ENOENT no such allocation;
 * -ETIME expired; -EINVAL wrong effect type; -EAFNOSUPPORT a family the
 * allocation does not hold; -EACCES the peer is denied now; -ERANGE a
 * channel number not admitted now (channel_max); -EADDRINUSE number or peer
 * bound otherwise; -ENOSPC the allocation's slots are full.
 */
int turn_server_restore_perm(struct turn_server *s, const struct turn_effect *e, uint64_t now_ns);
int turn_server_restore_channel(struct turn_server *s, const struct turn_effect *e, uint64_t now_ns);

/* One allocation as /turn lists it. */
struct turn_alloc_info {
	uint32_t id;
	struct turn_5tuple ft;
	struct sp_addr relay, relay6; /* relay6: family 0 unless dual */
	uint64_t expiry_ns;
	uint32_t perms, channels;     /* alive (channels: bound) */
	bool dont_fragment;
	bool key_pending;             /* restored, no request from its owner yet */
	uint16_t owner_len;
	char owner[TURN_OWNER_MAX];
};
/* The allocation at or after slot *cursor (start with 0), which moves past
 * it; false when there is none. */
bool turn_server_next_alloc(const struct turn_server *s, uint32_t *cursor,
			    struct turn_alloc_info *out);

/* Move up to `cap` queued effects to out[] in order; returns how many. */
size_t turn_server_drain(struct turn_server *s, struct turn_effect *out, size_t cap);

void turn_server_get_stats(const struct turn_server *s, struct turn_server_stats *st);

/* Build a nonce for `client` at now (what a 401 carries); exposed for tests
 * and for spcp re-issuing one. Writes TURN_NONCE_LEN chars, no NUL. */
void turn_server_make_nonce(const struct turn_server *s, const struct sp_addr *client,
			    uint64_t now_ns, char out[TURN_NONCE_LEN]);

#endif
