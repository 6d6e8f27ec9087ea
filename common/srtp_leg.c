/*
 * srtp_leg: SRTP/SRTCP per leg on libsrtp2 (see srtp_leg.h, docs/srtp.md).
 *
 * libsrtp does the crypto, the ROC estimate and the replay windows; this
 * file adds what the forwarder needs around it: header checks before
 * libsrtp sees a byte, a reason for every failure, per-leg counters, a key
 * lifetime we can configure (libsrtp's is fixed at 2^48 and not exported),
 * an SSRC cap, and key hygiene (one copy of key||salt per leg, cleansed on
 * rekey and destroy, the policy's stack copy cleansed right after use).
 */
#include "srtp_leg.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <srtp2/srtp.h>

struct srtp_leg {
	srtp_t session;
	enum srtp_leg_suite suite;
	enum srtp_leg_dir dir;
	bool expired;
	bool allow_repeat_tx;
	uint32_t window;
	uint32_t max_ssrcs;
	uint32_t n_ssrcs;
	uint64_t rtp_lifetime, rtcp_lifetime;
	uint64_t rtp_used, rtcp_used;     /* packets under the current key */
	struct srtp_leg_stats stats;
	uint32_t ssrcs[SRTP_LEG_SSRCS_MAX]; /* SSRCs libsrtp holds a stream for */
	uint8_t master[SRTP_LEG_MAX_MASTER_LEN];
	size_t master_len;
};

struct suite_info {
	srtp_profile_t profile;
	uint8_t master_len;
	uint8_t rtp_tag;
	uint8_t rtcp_tag;
};

static const struct suite_info suites[SRTP_LEG_SUITE__COUNT] = {
	[SRTP_LEG_AES_CM_128_HMAC_SHA1_80] = { srtp_profile_aes128_cm_sha1_80, 30, 10, 10 },
	[SRTP_LEG_AES_CM_128_HMAC_SHA1_32] = { srtp_profile_aes128_cm_sha1_32, 30, 4, 10 },
	[SRTP_LEG_AEAD_AES_128_GCM] = { srtp_profile_aead_aes_128_gcm, 28, 16, 16 },
	[SRTP_LEG_AEAD_AES_256_GCM] = { srtp_profile_aead_aes_256_gcm, 44, 16, 16 },
};

static const char *const err_names[SRTP_LEG_ERR__COUNT] = {
	[SRTP_LEG_OK] = "ok",
	[SRTP_LEG_ERR_TOO_SHORT] = "srtp_too_short",
	[SRTP_LEG_ERR_TOO_LONG] = "srtp_too_long",
	[SRTP_LEG_ERR_HEADER] = "srtp_bad_header",
	[SRTP_LEG_ERR_NO_ROOM] = "srtp_no_room",
	[SRTP_LEG_ERR_DIRECTION] = "srtp_wrong_direction",
	[SRTP_LEG_ERR_AUTH] = "srtp_auth_fail",
	[SRTP_LEG_ERR_REPLAY] = "srtp_replay",
	[SRTP_LEG_ERR_TOO_OLD] = "srtp_too_old",
	[SRTP_LEG_ERR_KEY_EXPIRED] = "srtp_key_expired",
	[SRTP_LEG_ERR_SSRC_LIMIT] = "srtp_ssrc_limit",
	[SRTP_LEG_ERR_CRYPTO] = "srtp_crypto_fail",
};

const char *srtp_leg_err_name(enum srtp_leg_err err)
{
	if ((unsigned)err >= SRTP_LEG_ERR__COUNT)
		return "srtp_unknown";
	return err_names[err];
}

size_t srtp_leg_master_len(enum srtp_leg_suite suite)
{
	if ((unsigned)suite >= SRTP_LEG_SUITE__COUNT)
		return 0;
	return suites[suite].master_len;
}

/* srtp_init() is global and not reentrant: run it once per process. It is
 * never undone (srtp_shutdown would pull the crypto kernel from under legs
 * other threads still own). */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static srtp_err_status_t init_status = srtp_err_status_init_fail;

static void do_init(void)
{
	init_status = srtp_init();
}

static int new_session(const srtp_leg *leg, const uint8_t *master, srtp_t *out)
{
	const struct suite_info *si = &suites[leg->suite];
	uint8_t key[SRTP_LEG_MAX_MASTER_LEN];
	srtp_policy_t pol;
	srtp_err_status_t st;

	memset(&pol, 0, sizeof(pol));
	if (srtp_crypto_policy_set_from_profile_for_rtp(&pol.rtp, si->profile) ||
	    srtp_crypto_policy_set_from_profile_for_rtcp(&pol.rtcp, si->profile))
		return -EIO;
	/* libsrtp wants a writable key pointer; give it a scratch copy. */
	memcpy(key, master, si->master_len);
	pol.key = key;
	pol.ssrc.type = leg->dir == SRTP_LEG_INBOUND ? ssrc_any_inbound : ssrc_any_outbound;
	pol.window_size = leg->window;
	pol.allow_repeat_tx = leg->allow_repeat_tx;
	pol.next = NULL;
	st = srtp_create(out, &pol);
	OPENSSL_cleanse(key, sizeof(key));
	return st == srtp_err_status_ok ? 0 : -EIO;
}

int srtp_leg_create(const struct srtp_leg_cfg *cfg, srtp_leg **out)
{
	srtp_leg *leg;
	int err;

	if (!cfg || !out || (unsigned)cfg->suite >= SRTP_LEG_SUITE__COUNT || !cfg->master ||
	    cfg->master_len != suites[cfg->suite].master_len ||
	    (cfg->dir != SRTP_LEG_INBOUND && cfg->dir != SRTP_LEG_OUTBOUND) ||
	    (cfg->window && (cfg->window < SRTP_LEG_WINDOW_MIN || cfg->window > SRTP_LEG_WINDOW_MAX)) ||
	    cfg->max_ssrcs > SRTP_LEG_SSRCS_MAX)
		return -EINVAL;
	pthread_once(&init_once, do_init);
	if (init_status != srtp_err_status_ok)
		return -EIO;

	leg = calloc(1, sizeof(*leg));
	if (!leg)
		return -ENOMEM;
	leg->suite = cfg->suite;
	leg->dir = cfg->dir;
	leg->allow_repeat_tx = cfg->allow_repeat_tx;
	leg->window = cfg->window ? cfg->window : SRTP_LEG_WINDOW_DEFAULT;
	leg->max_ssrcs = cfg->max_ssrcs ? cfg->max_ssrcs : SRTP_LEG_SSRCS_DEFAULT;
	leg->rtp_lifetime = cfg->rtp_lifetime && cfg->rtp_lifetime <= SRTP_LEG_RTP_LIFETIME_MAX
		? cfg->rtp_lifetime : SRTP_LEG_RTP_LIFETIME_MAX;
	leg->rtcp_lifetime = cfg->rtcp_lifetime && cfg->rtcp_lifetime <= SRTP_LEG_RTCP_LIFETIME_MAX
		? cfg->rtcp_lifetime : SRTP_LEG_RTCP_LIFETIME_MAX;
	memcpy(leg->master, cfg->master, cfg->master_len);
	leg->master_len = cfg->master_len;

	err = new_session(leg, leg->master, &leg->session);
	if (err) {
		OPENSSL_cleanse(leg->master, sizeof(leg->master));
		free(leg);
		return err;
	}
	*out = leg;
	return 0;
}

void srtp_leg_destroy(srtp_leg *leg)
{
	if (!leg)
		return;
	/* srtp_dealloc zeroes the derived session keys it holds. */
	if (leg->session)
		srtp_dealloc(leg->session);
	OPENSSL_cleanse(leg->master, sizeof(leg->master));
	free(leg);
}

static inline uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* RTP header checks over buf[0..len): what libsrtp walks before the
 * payload (CSRCs, extension) must lie inside; `trailer` bytes at the end
 * belong to SRTP, not to the header. */
static enum srtp_leg_err check_rtp(const uint8_t *buf, size_t len, size_t trailer)
{
	size_t hdr;

	if (len > SRTP_LEG_MAX_PKT)
		return SRTP_LEG_ERR_TOO_LONG;
	if (len < 12 + trailer)
		return SRTP_LEG_ERR_TOO_SHORT;
	len -= trailer;
	if ((buf[0] >> 6) != 2)
		return SRTP_LEG_ERR_HEADER;
	hdr = 12 + 4u * (buf[0] & 0x0f);
	if (buf[0] & 0x10) {
		if (hdr + 4 > len)
			return SRTP_LEG_ERR_HEADER;
		hdr += 4 + 4u * (size_t)(buf[hdr + 2] << 8 | buf[hdr + 3]);
	}
	if (hdr > len)
		return SRTP_LEG_ERR_HEADER;
	return SRTP_LEG_OK;
}

/* RTCP: libsrtp reads the first 8 bytes (V/P/RC, PT, length, sender SSRC). */
static enum srtp_leg_err check_rtcp(const uint8_t *buf, size_t len, size_t trailer)
{
	if (len > SRTP_LEG_MAX_PKT)
		return SRTP_LEG_ERR_TOO_LONG;
	if (len < 8 + trailer)
		return SRTP_LEG_ERR_TOO_SHORT;
	if ((buf[0] >> 6) != 2)
		return SRTP_LEG_ERR_HEADER;
	return SRTP_LEG_OK;
}

static enum srtp_leg_err map_status(srtp_err_status_t st)
{
	switch (st) {
	case srtp_err_status_ok:
		return SRTP_LEG_OK;
	case srtp_err_status_auth_fail:
	/* SRTCP with the E bit clear where the suite encrypts: libsrtp will
	 * not check it, and an unchecked packet is as good as forged. */
	case srtp_err_status_cant_check:
		return SRTP_LEG_ERR_AUTH;
	case srtp_err_status_replay_fail:
		return SRTP_LEG_ERR_REPLAY;
	case srtp_err_status_replay_old:
	case srtp_err_status_pkt_idx_old:
		return SRTP_LEG_ERR_TOO_OLD;
	case srtp_err_status_key_expired:
		return SRTP_LEG_ERR_KEY_EXPIRED;
	case srtp_err_status_bad_param:
	case srtp_err_status_parse_err:
		return SRTP_LEG_ERR_HEADER;
	default:
		return SRTP_LEG_ERR_CRYPTO;
	}
}

static enum srtp_leg_err drop(srtp_leg *leg, enum srtp_leg_err e)
{
	leg->stats.drops[e]++;
	if (e == SRTP_LEG_ERR_KEY_EXPIRED && !leg->expired) {
		leg->expired = true;
		leg->stats.key_expired_events++;
	}
	return e;
}

/* A new SSRC makes libsrtp allocate a stream: refuse beyond the cap. */
static int ssrc_slot(const srtp_leg *leg, uint32_t ssrc)
{
	for (uint32_t i = 0; i < leg->n_ssrcs; i++)
		if (leg->ssrcs[i] == ssrc)
			return (int)i;
	return leg->n_ssrcs < leg->max_ssrcs ? -1 : -2;
}

static void ssrc_seen(srtp_leg *leg, uint32_t ssrc, int slot)
{
	if (slot == -1)
		leg->ssrcs[leg->n_ssrcs++] = ssrc;
}

/* Count one packet under the key; the one that reaches the lifetime still
 * passes, every later one is refused. */
static void key_used(srtp_leg *leg, uint64_t *used, uint64_t lifetime)
{
	if (++*used >= lifetime && !leg->expired) {
		leg->expired = true;
		leg->stats.key_expired_events++;
	}
}

static enum srtp_leg_err protect(srtp_leg *leg, bool rtcp, const uint8_t *in, size_t in_len,
                                 uint8_t *out, size_t cap, size_t *out_len)
{
	size_t trailer = rtcp ? srtp_leg_rtcp_overhead(leg) : srtp_leg_rtp_overhead(leg);
	uint32_t ssrc;
	enum srtp_leg_err e;
	srtp_err_status_t st;
	int len, slot;

	if (leg->dir != SRTP_LEG_OUTBOUND)
		return drop(leg, SRTP_LEG_ERR_DIRECTION);
	if (leg->expired)
		return drop(leg, SRTP_LEG_ERR_KEY_EXPIRED);
	e = rtcp ? check_rtcp(in, in_len, 0) : check_rtp(in, in_len, 0);
	if (e)
		return drop(leg, e);
	if (in_len + trailer > SRTP_LEG_MAX_PKT)
		return drop(leg, SRTP_LEG_ERR_TOO_LONG);
	if (cap < in_len + trailer)
		return drop(leg, SRTP_LEG_ERR_NO_ROOM);
	ssrc = be32(in + (rtcp ? 4 : 8));
	slot = ssrc_slot(leg, ssrc);
	if (slot == -2)
		return drop(leg, SRTP_LEG_ERR_SSRC_LIMIT);
	if (out != in)
		memmove(out, in, in_len);
	len = (int)in_len;
	st = rtcp ? srtp_protect_rtcp(leg->session, out, &len) : srtp_protect(leg->session, out, &len);
	if (st != srtp_err_status_ok)
		return drop(leg, map_status(st));
	ssrc_seen(leg, ssrc, slot);
	*out_len = (size_t)len;
	if (rtcp) {
		leg->stats.rtcp_ok++;
		key_used(leg, &leg->rtcp_used, leg->rtcp_lifetime);
	} else {
		leg->stats.rtp_ok++;
		key_used(leg, &leg->rtp_used, leg->rtp_lifetime);
	}
	return SRTP_LEG_OK;
}

static enum srtp_leg_err unprotect(srtp_leg *leg, bool rtcp, uint8_t *buf, size_t *len_io)
{
	size_t trailer = rtcp ? srtp_leg_rtcp_overhead(leg) : srtp_leg_rtp_overhead(leg);
	uint32_t ssrc;
	enum srtp_leg_err e;
	srtp_err_status_t st;
	int len, slot;

	if (leg->dir != SRTP_LEG_INBOUND)
		return drop(leg, SRTP_LEG_ERR_DIRECTION);
	if (leg->expired)
		return drop(leg, SRTP_LEG_ERR_KEY_EXPIRED);
	e = rtcp ? check_rtcp(buf, *len_io, trailer) : check_rtp(buf, *len_io, trailer);
	if (e)
		return drop(leg, e);
	ssrc = be32(buf + (rtcp ? 4 : 8));
	slot = ssrc_slot(leg, ssrc);
	if (slot == -2)
		return drop(leg, SRTP_LEG_ERR_SSRC_LIMIT);
	len = (int)*len_io;
	st = rtcp ? srtp_unprotect_rtcp(leg->session, buf, &len)
		  : srtp_unprotect(leg->session, buf, &len);
	if (st != srtp_err_status_ok)
		return drop(leg, map_status(st));
	ssrc_seen(leg, ssrc, slot);
	*len_io = (size_t)len;
	if (rtcp) {
		leg->stats.rtcp_ok++;
		key_used(leg, &leg->rtcp_used, leg->rtcp_lifetime);
	} else {
		leg->stats.rtp_ok++;
		key_used(leg, &leg->rtp_used, leg->rtp_lifetime);
	}
	return SRTP_LEG_OK;
}

enum srtp_leg_err srtp_leg_protect_rtp(srtp_leg *leg, const uint8_t *in, size_t in_len,
                                       uint8_t *out, size_t cap, size_t *out_len)
{
	return protect(leg, false, in, in_len, out, cap, out_len);
}

enum srtp_leg_err srtp_leg_protect_rtcp(srtp_leg *leg, const uint8_t *in, size_t in_len,
                                        uint8_t *out, size_t cap, size_t *out_len)
{
	return protect(leg, true, in, in_len, out, cap, out_len);
}

enum srtp_leg_err srtp_leg_unprotect_rtp(srtp_leg *leg, uint8_t *buf, size_t *len)
{
	return unprotect(leg, false, buf, len);
}

enum srtp_leg_err srtp_leg_unprotect_rtcp(srtp_leg *leg, uint8_t *buf, size_t *len)
{
	return unprotect(leg, true, buf, len);
}

int srtp_leg_rekey(srtp_leg *leg, const uint8_t *master, size_t master_len,
                   enum srtp_leg_rekey_mode mode)
{
	const struct suite_info *si;
	srtp_t fresh;
	int err;

	if (!leg || !master || master_len != suites[leg->suite].master_len ||
	    (mode != SRTP_LEG_REKEY_CONTINUE && mode != SRTP_LEG_REKEY_RESET))
		return -EINVAL;
	si = &suites[leg->suite];
	if (mode == SRTP_LEG_REKEY_RESET) {
		/* Build the new context first: on failure the old key stays. */
		err = new_session(leg, master, &fresh);
		if (err)
			return err;
		srtp_dealloc(leg->session);
		leg->session = fresh;
		leg->n_ssrcs = 0;
	} else {
		uint8_t key[SRTP_LEG_MAX_MASTER_LEN];
		srtp_policy_t pol;
		srtp_err_status_t st;

		memset(&pol, 0, sizeof(pol));
		srtp_crypto_policy_set_from_profile_for_rtp(&pol.rtp, si->profile);
		srtp_crypto_policy_set_from_profile_for_rtcp(&pol.rtcp, si->profile);
		memcpy(key, master, si->master_len);
		pol.key = key;
		pol.ssrc.type = leg->dir == SRTP_LEG_INBOUND ? ssrc_any_inbound : ssrc_any_outbound;
		pol.window_size = leg->window;
		pol.allow_repeat_tx = leg->allow_repeat_tx;
		/* Replaces the template and re-clones every SSRC's stream,
		 * carrying over its extended RTP index and SRTCP replay state. */
		st = srtp_update(leg->session, &pol);
		OPENSSL_cleanse(key, sizeof(key));
		if (st != srtp_err_status_ok)
			return -EIO;
	}
	OPENSSL_cleanse(leg->master, sizeof(leg->master));
	memcpy(leg->master, master, master_len);
	leg->rtp_used = 0;
	leg->rtcp_used = 0;
	leg->expired = false;
	leg->stats.rekeys++;
	return 0;
}

bool srtp_leg_same_params(const srtp_leg *a, const srtp_leg *b)
{
	if (!a || !b || a->suite != b->suite || a->master_len != b->master_len)
		return false;
	return CRYPTO_memcmp(a->master, b->master, a->master_len) == 0;
}

bool srtp_leg_key_expired(const srtp_leg *leg)
{
	return leg->expired;
}

int srtp_leg_roc(const srtp_leg *leg, uint32_t ssrc, uint32_t *roc)
{
	/* libsrtp looks the SSRC up in network order internally and takes it
	 * in host order here. */
	if (srtp_get_stream_roc(leg->session, ssrc, roc) != srtp_err_status_ok)
		return -ENOENT;
	return 0;
}

int srtp_leg_set_roc(srtp_leg *leg, uint32_t ssrc, uint32_t roc)
{
	if (srtp_set_stream_roc(leg->session, ssrc, roc) != srtp_err_status_ok)
		return -ENOENT;
	return 0;
}

enum srtp_leg_suite srtp_leg_get_suite(const srtp_leg *leg)
{
	return leg->suite;
}

enum srtp_leg_dir srtp_leg_get_dir(const srtp_leg *leg)
{
	return leg->dir;
}

size_t srtp_leg_rtp_overhead(const srtp_leg *leg)
{
	return suites[leg->suite].rtp_tag;
}

size_t srtp_leg_rtcp_overhead(const srtp_leg *leg)
{
	return 4u + suites[leg->suite].rtcp_tag;
}

void srtp_leg_get_stats(const srtp_leg *leg, struct srtp_leg_stats *out)
{
	*out = leg->stats;
}

#ifndef SP_SRTP_CRYPTO
#define SP_SRTP_CRYPTO "unknown" /* built outside CMake */
#endif

static pthread_once_t backend_once = PTHREAD_ONCE_INIT;
static char backend[512];

static void describe_backend(void)
{
	/* Both Debian's and the private OpenSSL build use this soname; the
	 * loaded object's path shows which one the rpath picked. */
	void *h = dlopen("libsrtp2.so.1", RTLD_LAZY | RTLD_NOLOAD);
	struct link_map *lm = NULL;
	const char *where = "static";

	if (h && dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name && *lm->l_name)
		where = lm->l_name;
	snprintf(backend, sizeof(backend), "%s, crypto %s, %s", srtp_get_version_string(),
		 SP_SRTP_CRYPTO, where);
	if (h)
		dlclose(h);
}

const char *srtp_leg_crypto_backend(void)
{
	pthread_once(&backend_once, describe_backend);
	return backend;
}
