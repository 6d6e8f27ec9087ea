/*
 * srtp_leg: one SRTP/SRTCP crypto context per media leg, on libsrtp2.
 *
 * A leg is one direction of one peer: the camera's ingest (INBOUND:
 * unprotect), a subscriber's media (OUTBOUND: protect), a viewer's RTCP
 * feedback (INBOUND again, with the viewer's own SDES key). libsrtp forbids
 * one wildcard context from serving both directions (it would let an SSRC
 * reuse a keystream), so a direction is fixed at creation.
 *
 * A leg carries any number of SSRCs (video, audio, RTX) under one master
 * key: it is built on libsrtp's ssrc_any_inbound / ssrc_any_outbound
 * template, which libsrtp clones into a per-SSRC stream (own ROC, own replay
 * window, shared key and key-usage counter) on that SSRC's first packet --
 * for inbound, only after the packet authenticated. That clone is the one
 * allocation outside create/rekey; max_ssrcs bounds how many there can be.
 *
 * I/O free and allocation free per packet: protect copies into a caller
 * buffer (one copy per subscriber is unavoidable because tags differ),
 * unprotect works in place. Every failure is a reason (enum srtp_leg_err)
 * and is counted per leg. Keys are copied into the leg, never logged, and
 * wiped on rekey and destroy. See docs/srtp.md.
 *
 * Not thread-safe per leg: a leg belongs to one worker.
 */
#ifndef SP_SRTP_LEG_H
#define SP_SRTP_LEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum srtp_leg_suite {
	SRTP_LEG_AES_CM_128_HMAC_SHA1_80 = 0, /* RFC 3711/4568, 10-byte tag */
	SRTP_LEG_AES_CM_128_HMAC_SHA1_32,     /* 4-byte tag on SRTP, 10 on SRTCP */
	SRTP_LEG_AEAD_AES_128_GCM,            /* RFC 7714, 16-byte tag */
	SRTP_LEG_AEAD_AES_256_GCM,
	SRTP_LEG_SUITE__COUNT
};

enum srtp_leg_dir {
	SRTP_LEG_INBOUND = 0,   /* unprotect (from a peer) */
	SRTP_LEG_OUTBOUND,      /* protect (towards a peer) */
};

/* Master key + master salt, SDES order (key first, then salt). */
#define SRTP_LEG_MAX_KEY_LEN  32u
#define SRTP_LEG_MAX_SALT_LEN 14u
#define SRTP_LEG_MAX_MASTER_LEN (SRTP_LEG_MAX_KEY_LEN + SRTP_LEG_MAX_SALT_LEN)

/* Most bytes protect adds: the 16-byte GCM tag; SRTCP adds the 4-byte E|index. */
#define SRTP_LEG_RTP_MAX_OVERHEAD  16u
#define SRTP_LEG_RTCP_MAX_OVERHEAD 20u

#define SRTP_LEG_MAX_PKT 65535u       /* larger input is refused */

/* Replay window (SRTP only): libsrtp accepts 64..32767 packets. SRTCP's
 * window is fixed by libsrtp at 128. */
#define SRTP_LEG_WINDOW_DEFAULT 1024u
#define SRTP_LEG_WINDOW_MIN     64u
#define SRTP_LEG_WINDOW_MAX     32767u

/* Key lifetimes (RFC 3711 §9.2): 2^48 SRTP packets, 2^31 SRTCP packets. */
#define SRTP_LEG_RTP_LIFETIME_MAX  (UINT64_C(1) << 48)
#define SRTP_LEG_RTCP_LIFETIME_MAX (UINT64_C(1) << 31)

#define SRTP_LEG_SSRCS_DEFAULT 8u
#define SRTP_LEG_SSRCS_MAX     64u

/* Why a packet was refused: one drop counter each. */
enum srtp_leg_err {
	SRTP_LEG_OK = 0,
	SRTP_LEG_ERR_TOO_SHORT,    /* shorter than header + trailer */
	SRTP_LEG_ERR_TOO_LONG,     /* longer than SRTP_LEG_MAX_PKT */
	SRTP_LEG_ERR_HEADER,       /* RTP/RTCP header malformed (version, CSRC, extension) */
	SRTP_LEG_ERR_NO_ROOM,      /* protect: output buffer too small */
	SRTP_LEG_ERR_DIRECTION,    /* protect on an inbound leg or the reverse */
	SRTP_LEG_ERR_AUTH,         /* tag did not verify (bad tag, wrong key) */
	SRTP_LEG_ERR_REPLAY,       /* index already seen inside the window */
	SRTP_LEG_ERR_TOO_OLD,      /* index behind the replay window */
	SRTP_LEG_ERR_KEY_EXPIRED,  /* key lifetime exhausted: rekey or remove the leg */
	SRTP_LEG_ERR_SSRC_LIMIT,   /* a new SSRC beyond max_ssrcs */
	SRTP_LEG_ERR_CRYPTO,       /* any other libsrtp failure */
	SRTP_LEG_ERR__COUNT
};

struct srtp_leg_cfg {
	enum srtp_leg_suite suite;
	enum srtp_leg_dir dir;
	const uint8_t *master;      /* key || salt */
	size_t master_len;          /* must equal srtp_leg_master_len(suite) */
	uint32_t window;            /* 0: SRTP_LEG_WINDOW_DEFAULT */
	uint64_t rtp_lifetime;      /* packets; 0 or > max: SRTP_LEG_RTP_LIFETIME_MAX */
	uint64_t rtcp_lifetime;     /* packets; 0 or > max: SRTP_LEG_RTCP_LIFETIME_MAX */
	uint32_t max_ssrcs;         /* 0: SRTP_LEG_SSRCS_DEFAULT; at most SRTP_LEG_SSRCS_MAX */
	bool allow_repeat_tx;       /* outbound: re-protecting a seq is allowed (NACK
	                             * resend of the SAME payload only) */
};

/* Per-leg counters. Owned by the leg; read with srtp_leg_get_stats(). */
struct srtp_leg_stats {
	uint64_t rtp_ok;            /* packets protected / unprotected */
	uint64_t rtcp_ok;
	uint64_t drops[SRTP_LEG_ERR__COUNT]; /* by reason; drops[SRTP_LEG_OK] stays 0 */
	uint64_t rekeys;
	uint64_t key_expired_events; /* times the leg went into the expired state */
};

enum srtp_leg_rekey_mode {
	/* libsrtp's srtp_update(): every SSRC keeps its ROC / sequence
	 * position and SRTCP index, the replay bitmap restarts; the peer
	 * switches key and continues its counters. */
	SRTP_LEG_REKEY_CONTINUE = 0,
	/* fresh context: ROC, SRTCP index and replay state start over, as for
	 * a peer that re-created its session (a new SDES offer/answer). */
	SRTP_LEG_REKEY_RESET,
};

typedef struct srtp_leg srtp_leg;

/* Bytes of key || salt a suite needs (30, 30, 28, 44); 0 for a bad suite. */
size_t srtp_leg_master_len(enum srtp_leg_suite suite);

/* Create a leg. 0, -EINVAL (bad suite/length/window/direction), -ENOMEM,
 * -EIO (libsrtp refused the policy). The key bytes are copied. */
int srtp_leg_create(const struct srtp_leg_cfg *cfg, srtp_leg **out);

/* Wipe the key copies and free everything. NULL is a no-op. */
void srtp_leg_destroy(srtp_leg *leg);

/* Outbound: protect the RTP packet in[0..in_len) into out[0..cap); *out_len
 * gets the SRTP length (in_len + the tag). out may equal in. */
enum srtp_leg_err srtp_leg_protect_rtp(srtp_leg *leg, const uint8_t *in, size_t in_len,
                                       uint8_t *out, size_t cap, size_t *out_len);

/* Outbound: same for RTCP (adds E|SRTCP index and the tag). */
enum srtp_leg_err srtp_leg_protect_rtcp(srtp_leg *leg, const uint8_t *in, size_t in_len,
                                        uint8_t *out, size_t cap, size_t *out_len);

/* Inbound: authenticate, replay-check and decrypt buf in place; on OK *len
 * becomes the plain length. On failure buf may have been clobbered only
 * where libsrtp does so (never beyond *len) and must be dropped. */
enum srtp_leg_err srtp_leg_unprotect_rtp(srtp_leg *leg, uint8_t *buf, size_t *len);
enum srtp_leg_err srtp_leg_unprotect_rtcp(srtp_leg *leg, uint8_t *buf, size_t *len);

/* Replace the master key (same suite) without dropping the leg; the next
 * packet uses the new key. Clears the expired state and the key-usage
 * counters. 0, -EINVAL (wrong length), -EIO (libsrtp refused). RESET
 * builds the new context first, so on failure the old key stays; CONTINUE
 * (srtp_update) can only fail on allocation inside libsrtp and may leave
 * the leg half-updated: remove the leg then. */
int srtp_leg_rekey(srtp_leg *leg, const uint8_t *master, size_t master_len,
                   enum srtp_leg_rekey_mode mode);

/* True when both legs use the same suite, key and salt: the forwarder can
 * then pass the source's SRTP through unchanged. Direction, window and
 * lifetimes do not matter. Constant-time over the key bytes. */
bool srtp_leg_same_params(const srtp_leg *a, const srtp_leg *b);

/* True once the key lifetime is exhausted (the leg refuses every packet
 * with SRTP_LEG_ERR_KEY_EXPIRED until rekeyed). Poll after a burst. */
bool srtp_leg_key_expired(const srtp_leg *leg);

/* The rollover counter libsrtp holds for an SSRC; -ENOENT before its first
 * packet. */
int srtp_leg_roc(const srtp_leg *leg, uint32_t ssrc, uint32_t *roc);

/* Set the rollover counter the next packet of an SSRC is protected or
 * unprotected with (libsrtp's srtp_set_stream_roc: the next packet's index
 * is roc << 16 | seq). -ENOENT before the SSRC's first packet. */
int srtp_leg_set_roc(srtp_leg *leg, uint32_t ssrc, uint32_t roc);

enum srtp_leg_suite srtp_leg_get_suite(const srtp_leg *leg);
enum srtp_leg_dir srtp_leg_get_dir(const srtp_leg *leg);

/* Bytes protect adds to an RTP / RTCP packet for this leg's suite. */
size_t srtp_leg_rtp_overhead(const srtp_leg *leg);
size_t srtp_leg_rtcp_overhead(const srtp_leg *leg);

void srtp_leg_get_stats(const srtp_leg *leg, struct srtp_leg_stats *out);

/* Stable, lowercase name of a reason (a drop counter label). */
const char *srtp_leg_err_name(enum srtp_leg_err err);

/* Which libsrtp this process runs on, for logs and benchmark records:
 * "libsrtp2 2.5.0, crypto openssl, /path/to/libsrtp2.so.1". The crypto
 * engine is what the build linked (libsrtp has no API for it; CMake's
 * SP_SRTP_CRYPTO); the path is the library actually loaded ("static" when
 * linked in). Static string, valid for the process's life. */
const char *srtp_leg_crypto_backend(void);

#endif /* SP_SRTP_LEG_H */
