/*
 * test_srtp_leg: every srtp_leg path against an independent libsrtp peer
 * (a raw srtp_t built here from libsrtp's own policy setters, not through
 * srtp_leg), for each of the four suites: round trips both ways for SRTP
 * and SRTCP, replay and too-old drops, a bad tag that must not move the
 * window, sequence wrap with ROC, SRTCP index at the 2^31 edge (packets
 * built by a small RFC 3711 SRTCP implementation on OpenSSL, because
 * libsrtp's sender cannot be moved to that index without sending 2^31
 * packets), wrong key, rekey in both modes, key lifetime exhaustion,
 * same_params, the SSRC cap and a table of hostile headers.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <srtp2/srtp.h>

#include "srtp_leg.h"

#define PAYLOAD 160
#define BUF 1600

static const enum srtp_leg_suite all_suites[] = {
	SRTP_LEG_AES_CM_128_HMAC_SHA1_80,
	SRTP_LEG_AES_CM_128_HMAC_SHA1_32,
	SRTP_LEG_AEAD_AES_128_GCM,
	SRTP_LEG_AEAD_AES_256_GCM,
};
#define N_SUITES (sizeof(all_suites) / sizeof(all_suites[0]))

static const char *suite_name(enum srtp_leg_suite s)
{
	static const char *const n[] = { "AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32",
	                                 "AEAD_AES_128_GCM", "AEAD_AES_256_GCM" };
	return n[s];
}

static void fill_master(uint8_t *m, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		m[i] = (uint8_t)(seed * 31u + i * 7u + 1u);
}

static size_t make_rtp(uint8_t *b, uint32_t ssrc, uint16_t seq, size_t payload)
{
	b[0] = 0x80;
	b[1] = 96;
	b[2] = (uint8_t)(seq >> 8);
	b[3] = (uint8_t)seq;
	b[4] = 0; b[5] = 0; b[6] = (uint8_t)(seq >> 8); b[7] = (uint8_t)seq;
	b[8] = (uint8_t)(ssrc >> 24); b[9] = (uint8_t)(ssrc >> 16);
	b[10] = (uint8_t)(ssrc >> 8); b[11] = (uint8_t)ssrc;
	for (size_t i = 0; i < payload; i++)
		b[12 + i] = (uint8_t)(seq + i);
	return 12 + payload;
}

/* Receiver report with one report block: 32 bytes. */
static size_t make_rtcp(uint8_t *b, uint32_t ssrc, uint8_t salt)
{
	memset(b, 0, 32);
	b[0] = 0x81;
	b[1] = 201;
	b[3] = 7;
	b[4] = (uint8_t)(ssrc >> 24); b[5] = (uint8_t)(ssrc >> 16);
	b[6] = (uint8_t)(ssrc >> 8); b[7] = (uint8_t)ssrc;
	for (int i = 8; i < 32; i++)
		b[i] = (uint8_t)(i ^ salt);
	return 32;
}

/* srtp_init() may run once per process and srtp_leg owns that call: make
 * a throwaway leg before the first raw libsrtp call. */
static void ensure_srtp_init(void)
{
	uint8_t m[30] = { 0 };
	struct srtp_leg_cfg cfg = {
		.suite = SRTP_LEG_AES_CM_128_HMAC_SHA1_80, .dir = SRTP_LEG_INBOUND,
		.master = m, .master_len = sizeof(m),
	};
	srtp_leg *leg = NULL;

	cr_assert_eq(srtp_leg_create(&cfg, &leg), 0);
	srtp_leg_destroy(leg);
}

/* The peer: a plain libsrtp session configured with libsrtp's named
 * setters (independent of srtp_leg's profile table). */
static srtp_t peer_create(enum srtp_leg_suite s, const uint8_t *master, bool inbound)
{
	uint8_t key[SRTP_LEG_MAX_MASTER_LEN];
	srtp_policy_t p;
	srtp_t sess = NULL;

	ensure_srtp_init();
	memset(&p, 0, sizeof(p));
	switch (s) {
	case SRTP_LEG_AES_CM_128_HMAC_SHA1_80:
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtp);
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtcp);
		break;
	case SRTP_LEG_AES_CM_128_HMAC_SHA1_32:
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&p.rtp);
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtcp);
		break;
	case SRTP_LEG_AEAD_AES_128_GCM:
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtp);
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtcp);
		break;
	default:
		srtp_crypto_policy_set_aes_gcm_256_16_auth(&p.rtp);
		srtp_crypto_policy_set_aes_gcm_256_16_auth(&p.rtcp);
		break;
	}
	memcpy(key, master, srtp_leg_master_len(s));
	p.key = key;
	p.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
	p.window_size = 1024;
	cr_assert_eq(srtp_create(&sess, &p), srtp_err_status_ok, "peer %s", suite_name(s));
	return sess;
}

static void peer_update(srtp_t sess, enum srtp_leg_suite s, const uint8_t *master, bool inbound)
{
	/* Same policy as peer_create, through srtp_update. */
	uint8_t key[SRTP_LEG_MAX_MASTER_LEN];
	srtp_policy_t p;

	memset(&p, 0, sizeof(p));
	srtp_crypto_policy_set_from_profile_for_rtp(&p.rtp,
		s == SRTP_LEG_AES_CM_128_HMAC_SHA1_80 ? srtp_profile_aes128_cm_sha1_80 :
		s == SRTP_LEG_AES_CM_128_HMAC_SHA1_32 ? srtp_profile_aes128_cm_sha1_32 :
		s == SRTP_LEG_AEAD_AES_128_GCM ? srtp_profile_aead_aes_128_gcm :
		srtp_profile_aead_aes_256_gcm);
	srtp_crypto_policy_set_from_profile_for_rtcp(&p.rtcp,
		s == SRTP_LEG_AES_CM_128_HMAC_SHA1_80 ? srtp_profile_aes128_cm_sha1_80 :
		s == SRTP_LEG_AES_CM_128_HMAC_SHA1_32 ? srtp_profile_aes128_cm_sha1_32 :
		s == SRTP_LEG_AEAD_AES_128_GCM ? srtp_profile_aead_aes_128_gcm :
		srtp_profile_aead_aes_256_gcm);
	memcpy(key, master, srtp_leg_master_len(s));
	p.key = key;
	p.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
	p.window_size = 1024;
	cr_assert_eq(srtp_update(sess, &p), srtp_err_status_ok);
}

static srtp_leg *leg_create(enum srtp_leg_suite s, enum srtp_leg_dir dir, const uint8_t *master)
{
	struct srtp_leg_cfg cfg = {
		.suite = s, .dir = dir, .master = master, .master_len = srtp_leg_master_len(s),
	};
	srtp_leg *leg = NULL;

	cr_assert_eq(srtp_leg_create(&cfg, &leg), 0, "create %s", suite_name(s));
	return leg;
}

/* Peer protects (seq), returns the SRTP length in out. */
static size_t peer_protect(srtp_t peer, uint8_t *out, uint32_t ssrc, uint16_t seq)
{
	int len = (int)make_rtp(out, ssrc, seq, PAYLOAD);

	cr_assert_eq(srtp_protect(peer, out, &len), srtp_err_status_ok, "peer protect seq %u", seq);
	return (size_t)len;
}

static void check_plain(const uint8_t *b, size_t len, uint32_t ssrc, uint16_t seq)
{
	uint8_t want[BUF];
	size_t wl = make_rtp(want, ssrc, seq, PAYLOAD);

	cr_assert_eq(len, wl, "seq %u: len %zu want %zu", seq, len, wl);
	cr_assert_eq(memcmp(b, want, wl), 0, "seq %u: plaintext differs", seq);
}

static uint64_t drops(const srtp_leg *leg, enum srtp_leg_err e)
{
	struct srtp_leg_stats st;

	srtp_leg_get_stats(leg, &st);
	return st.drops[e];
}

Test(srtp_leg, master_lengths)
{
	cr_assert_eq(srtp_leg_master_len(SRTP_LEG_AES_CM_128_HMAC_SHA1_80), 30);
	cr_assert_eq(srtp_leg_master_len(SRTP_LEG_AES_CM_128_HMAC_SHA1_32), 30);
	cr_assert_eq(srtp_leg_master_len(SRTP_LEG_AEAD_AES_128_GCM), 28);
	cr_assert_eq(srtp_leg_master_len(SRTP_LEG_AEAD_AES_256_GCM), 44);
	cr_assert_eq(srtp_leg_master_len(SRTP_LEG_SUITE__COUNT), 0);
	for (int e = 0; e <= SRTP_LEG_ERR__COUNT; e++)
		cr_assert_not_null(srtp_leg_err_name((enum srtp_leg_err)e));
}

/* Outbound leg -> peer unprotect, RTP and RTCP, two SSRCs. */
Test(srtp_leg, roundtrip_outbound_all_suites)
{
	for (size_t k = 0; k < N_SUITES; k++) {
		enum srtp_leg_suite s = all_suites[k];
		uint8_t master[SRTP_LEG_MAX_MASTER_LEN], in[BUF], out[BUF];
		srtp_leg *leg;
		srtp_t peer;

		fill_master(master, sizeof(master), (uint8_t)k);
		leg = leg_create(s, SRTP_LEG_OUTBOUND, master);
		peer = peer_create(s, master, true);
		for (uint16_t seq = 100; seq < 150; seq++) {
			uint32_t ssrc = seq & 1 ? 0x11111111u : 0x22222222u;
			size_t il = make_rtp(in, ssrc, seq, PAYLOAD), ol = 0;
			int len;

			cr_assert_eq(srtp_leg_protect_rtp(leg, in, il, out, sizeof(out), &ol), SRTP_LEG_OK);
			cr_assert_eq(ol, il + srtp_leg_rtp_overhead(leg));
			cr_assert_neq(memcmp(out + 12, in + 12, PAYLOAD), 0, "payload not encrypted");
			len = (int)ol;
			cr_assert_eq(srtp_unprotect(peer, out, &len), srtp_err_status_ok,
			             "%s seq %u", suite_name(s), seq);
			check_plain(out, (size_t)len, ssrc, seq);
		}
		for (int i = 0; i < 10; i++) {
			size_t il = make_rtcp(in, 0x11111111u, (uint8_t)i), ol = 0;
			int len;

			cr_assert_eq(srtp_leg_protect_rtcp(leg, in, il, out, sizeof(out), &ol), SRTP_LEG_OK);
			cr_assert_eq(ol, il + srtp_leg_rtcp_overhead(leg));
			len = (int)ol;
			cr_assert_eq(srtp_unprotect_rtcp(peer, out, &len), srtp_err_status_ok,
			             "%s rtcp %d", suite_name(s), i);
			cr_assert_eq((size_t)len, il);
			make_rtcp(in, 0x11111111u, (uint8_t)i);
			cr_assert_eq(memcmp(out, in, il), 0);
		}
		/* In-place protect (out == in). */
		{
			size_t il = make_rtp(in, 0x11111111u, 150, PAYLOAD), ol = 0;
			int len;

			cr_assert_eq(srtp_leg_protect_rtp(leg, in, il, in, sizeof(in), &ol), SRTP_LEG_OK);
			len = (int)ol;
			cr_assert_eq(srtp_unprotect(peer, in, &len), srtp_err_status_ok);
			check_plain(in, (size_t)len, 0x11111111u, 150);
		}
		struct srtp_leg_stats st;
		srtp_leg_get_stats(leg, &st);
		cr_assert_eq(st.rtp_ok, 51);
		cr_assert_eq(st.rtcp_ok, 10);
		srtp_dealloc(peer);
		srtp_leg_destroy(leg);
	}
}

/* Peer protect -> inbound leg unprotect, RTP and RTCP. */
Test(srtp_leg, roundtrip_inbound_all_suites)
{
	for (size_t k = 0; k < N_SUITES; k++) {
		enum srtp_leg_suite s = all_suites[k];
		uint8_t master[SRTP_LEG_MAX_MASTER_LEN], pkt[BUF], want[BUF];
		srtp_leg *leg;
		srtp_t peer;

		fill_master(master, sizeof(master), (uint8_t)(k + 10));
		leg = leg_create(s, SRTP_LEG_INBOUND, master);
		peer = peer_create(s, master, false);
		for (uint16_t seq = 7; seq < 57; seq++) {
			uint32_t ssrc = seq % 3 ? 0xa1a2a3a4u : 0xb1b2b3b4u;
			size_t len = peer_protect(peer, pkt, ssrc, seq);

			cr_assert_eq(srtp_leg_unprotect_rtp(leg, pkt, &len), SRTP_LEG_OK,
			             "%s seq %u", suite_name(s), seq);
			check_plain(pkt, len, ssrc, seq);
		}
		for (int i = 0; i < 10; i++) {
			int plen = (int)make_rtcp(pkt, 0xa1a2a3a4u, (uint8_t)i);
			size_t len;

			cr_assert_eq(srtp_protect_rtcp(peer, pkt, &plen), srtp_err_status_ok);
			len = (size_t)plen;
			cr_assert_eq(srtp_leg_unprotect_rtcp(leg, pkt, &len), SRTP_LEG_OK,
			             "%s rtcp %d", suite_name(s), i);
			cr_assert_eq(len, make_rtcp(want, 0xa1a2a3a4u, (uint8_t)i));
			cr_assert_eq(memcmp(pkt, want, len), 0);
		}
		srtp_dealloc(peer);
		srtp_leg_destroy(leg);
	}
}

Test(srtp_leg, replay_rejected_and_counted)
{
	for (size_t k = 0; k < N_SUITES; k++) {
		uint8_t master[SRTP_LEG_MAX_MASTER_LEN], pkt[BUF], copy[BUF];
		srtp_leg *leg;
		srtp_t peer;
		size_t len, clen;
		int plen;

		fill_master(master, sizeof(master), 3);
		leg = leg_create(all_suites[k], SRTP_LEG_INBOUND, master);
		peer = peer_create(all_suites[k], master, false);
		len = peer_protect(peer, pkt, 1, 10);
		memcpy(copy, pkt, len);
		clen = len;
		cr_assert_eq(srtp_leg_unprotect_rtp(leg, pkt, &len), SRTP_LEG_OK);
		cr_assert_eq(srtp_leg_unprotect_rtp(leg, copy, &clen), SRTP_LEG_ERR_REPLAY);
		cr_assert_eq(drops(leg, SRTP_LEG_ERR_REPLAY), 1);

		/* SRTCP replay too. */
		plen = (int)make_rtcp(pkt, 1, 0);
		cr_assert_eq(srtp_protect_rtcp(peer, pkt, &plen), srtp_err_status_ok);
		memcpy(copy, pkt, (size_t)plen);
		len = clen = (size_t)plen;
		cr_assert_eq(srtp_leg_unprotect_rtcp(leg, pkt, &len), SRTP_LEG_OK);
		cr_assert_eq(srtp_leg_unprotect_rtcp(leg, copy, &clen), SRTP_LEG_ERR_REPLAY);
		cr_assert_eq(drops(leg, SRTP_LEG_ERR_REPLAY), 2);
		srtp_dealloc(peer);
		srtp_leg_destroy(leg);
	}
}

/* Window 1024: after 2000, 1000 is inside (accepted), 975 is behind. */
Test(srtp_leg, older_than_window_rejected)
{
	uint8_t master[SRTP_LEG_MAX_MASTER_LEN], p975[BUF], p1000[BUF], p2000[BUF], tmp[BUF];
	size_t l975 = 0, l1000 = 0, l2000 = 0;
	srtp_leg *leg;
	srtp_t peer;

	fill_master(master, sizeof(master), 4);
	leg = leg_create(SRTP_LEG_AEAD_AES_128_GCM, SRTP_LEG_INBOUND, master);
	peer = peer_create(SRTP_LEG_AEAD_AES_128_GCM, master, false);
	for (uint16_t seq = 1; seq <= 2000; seq++) {
		size_t l = peer_protect(peer, tmp, 5, seq);

		if (seq == 975) { memcpy(p975, tmp, l); l975 = l; }
		if (seq == 1000) { memcpy(p1000, tmp, l); l1000 = l; }
		if (seq == 2000) { memcpy(p2000, tmp, l); l2000 = l; }
		if (seq == 1) /* first packet creates the SSRC's stream */
			cr_assert_eq(srtp_leg_unprotect_rtp(leg, tmp, &l), SRTP_LEG_OK);
	}
	cr_assert_eq(srtp_leg_unprotect_rtp(leg, p2000, &l2000), SRTP_LEG_OK);
	cr_assert_eq(srtp_leg_unprotect_rtp(leg, p1000, &l1000), SRTP_LEG_OK);
	cr_assert_eq(srtp_leg_unprotect_rtp(leg, p975, &l975), SRTP_LEG_ERR_TOO_OLD);
	cr_assert_eq(drops(leg, SRTP_LEG_ERR_TOO_OLD), 1);
	srtp_dealloc(peer);
	srtp_leg_destroy(leg);
}

/* N accepted; N+100 with a bad tag refused; N+50 must still pass (the
 * window did not move), and so must the genuine N+100 afterwards. */
Test(srtp_leg, bad_tag_does_not_move_window)
{
	for (size_t k = 0; k < N_SUITES; k++) {
		enum srtp_leg_suite s = all_suites[k];
		uint8_t master[SRTP_LEG_MAX_MASTER_LEN], pN[BUF], p50[BUF], p100[BUF], bad[BUF];
		size_t lN = 0, l50 = 0, l100 = 0, lb;
		srtp_leg *leg;
		srtp_t peer;

		fill_master(master, sizeof(master), 5);
		leg = leg_create(s, SRTP_LEG_INBOUND, master);
		peer = peer_create(s, master, false);
		for (uint16_t seq = 1000; seq <= 1100; seq++) {
			size_t l = peer_protect(peer, bad, 9, seq);

			if (seq == 1000) { memcpy(pN, bad, l); lN = l; }
			if (seq == 1050) { memcpy(p50, bad, l); l50 = l; }
			if (seq == 1100) { memcpy(p100, bad, l); l100 = l; }
		}
		cr_assert_eq(srtp_leg_unprotect_rtp(leg, pN, &lN), SRTP_LEG_OK);
		memcpy(bad, p100, l100);
		bad[l100 - 1] ^= 0x01;
		lb = l100;
		cr_assert_eq(srtp_leg_unprotect_rtp(leg, bad, &lb), SRTP_LEG_ERR_AUTH, "%s", suite_name(s));
		cr_assert_eq(drops(leg, SRTP_LEG_ERR_AUTH), 1);
		cr_assert_eq(srtp_leg_unprotect_rtp(leg, p50, &l50), SRTP_LEG_OK, "%s", suite_name(s));
		check_plain(p50, l50, 9, 1050);
		cr_assert_eq(srtp_leg_unprotect_rtp(leg, p100, &l100), SRTP_LEG_OK);
		check_plain(p100, l100, 9, 1100);
		srtp_dealloc(peer);
		srtp_leg_destroy(leg);
	}
}

/* 65500..65599 (mod 2^16) both ways; ROC becomes 1 on both sides. */
Test(srtp_leg, sequence_wrap_roc)
{
	for (size_t k = 0; k < N_SUITES; k++) {
		enum srtp_leg_suite s = all_suites[k];
		uint8_t master[SRTP_LEG_MAX_MASTER_LEN], pkt[BUF], in[BUF];
		srtp_leg *rx, *tx;
		srtp_t psend, precv;
		uint32_t roc = 99;

		fill_master(master, sizeof(master), 6);
		rx = leg_create(s, SRTP_LEG_INBOUND, master);
		tx = leg_create(s, SRTP_LEG_OUTBOUND, master);
		psend = peer_create(s, master, false);
		precv = peer_create(s, master, true);
		cr_assert_eq(srtp_leg_roc(rx, 77, &roc), -ENOENT);
		for (uint32_t i = 0; i < 100; i++) {
			uint16_t seq = (uint16_t)(65500u + i);
			size_t len = peer_protect(psend, pkt, 77, seq), il, ol = 0;
			int plen;

			cr_assert_eq(srtp_leg_unprotect_rtp(rx, pkt, &len), SRTP_LEG_OK, "rx seq %u", seq);
			check_plain(pkt, len, 77, seq);
			il = make_rtp(in, 77, seq, PAYLOAD);
			cr_assert_eq(srtp_leg_protect_rtp(tx, in, il, pkt, sizeof(pkt), &ol), SRTP_LEG_OK);
			plen = (int)ol;
			cr_assert_eq(srtp_unprotect(precv, pkt, &plen), srtp_err_status_ok, "tx seq %u", seq);
			check_plain(pkt, (size_t)plen, 77, seq);
		}
		cr_assert_eq(srtp_leg_roc(rx, 77, &roc), 0);
		cr_assert_eq(roc, 1);
		cr_assert_eq(srtp_leg_roc(tx, 77, &roc), 0);
		cr_assert_eq(roc, 1);
		cr_assert_eq(srtp_get_stream_roc(precv, 77, &roc), srtp_err_status_ok);
		cr_assert_eq(roc, 1);
		srtp_dealloc(psend);
		srtp_dealloc(precv);
		srtp_leg_destroy(rx);
		srtp_leg_destroy(tx);
	}
}

/*
 * SRTCP index edge. RFC 3711 gives SRTCP a 31-bit index that must never
 * wrap under one key; libsrtp's sender returns key_expired at 2^31-1
 * rather than wrapping, and reaching it through its API takes 2^31
 * packets. So the sender here is a minimal RFC 3711 SRTCP implementation
 * (AES-CM-128 + HMAC-SHA1-80, key derivation §4.3) on OpenSSL, first
 * checked byte-for-byte against libsrtp's own packet.
 */
static void aes_cm(const uint8_t key[16], const uint8_t iv[16], uint8_t *buf, size_t n)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int ol = 0;

	cr_assert_not_null(c);
	cr_assert_eq(EVP_EncryptInit_ex(c, EVP_aes_128_ctr(), NULL, key, iv), 1);
	cr_assert_eq(EVP_EncryptUpdate(c, buf, &ol, buf, (int)n), 1);
	EVP_CIPHER_CTX_free(c);
}

static void kdf(const uint8_t *master, uint8_t label, uint8_t *out, size_t n)
{
	uint8_t iv[16] = { 0 };

	memcpy(iv, master + 16, 14);
	iv[7] ^= label;
	memset(out, 0, n);
	aes_cm(master, iv, out, n);
}

static size_t craft_srtcp(const uint8_t *master, uint8_t *pkt, size_t len, uint32_t index)
{
	uint8_t ke[16], ka[20], ks[14], iv[16] = { 0 }, mac[20];
	unsigned ml = 0;

	kdf(master, 3, ke, 16);
	kdf(master, 4, ka, 20);
	kdf(master, 5, ks, 14);
	memcpy(iv, ks, 14);
	for (int i = 0; i < 4; i++) {
		iv[4 + i] ^= pkt[4 + i];
		iv[10 + i] ^= (uint8_t)(index >> (24 - 8 * i));
	}
	aes_cm(ke, iv, pkt + 8, len - 8);
	pkt[len] = (uint8_t)(0x80 | (index >> 24));
	pkt[len + 1] = (uint8_t)(index >> 16);
	pkt[len + 2] = (uint8_t)(index >> 8);
	pkt[len + 3] = (uint8_t)index;
	HMAC(EVP_sha1(), ka, 20, pkt, len + 4, mac, &ml);
	memcpy(pkt + len + 4, mac, 10);
	return len + 14;
}

Test(srtp_leg, srtcp_index_edge)
{
	uint8_t master[SRTP_LEG_MAX_MASTER_LEN], ref[BUF], mine[BUF];
	enum srtp_leg_suite s = SRTP_LEG_AES_CM_128_HMAC_SHA1_80;
	srtp_leg *leg;
	srtp_t peer;
	uint32_t idx;
	size_t len;
	int plen;

	fill_master(master, sizeof(master), 7);
	leg = leg_create(s, SRTP_LEG_INBOUND, master);
	peer = peer_create(s, master, false);

	/* The crafted packet equals libsrtp's for the same index. */
	plen = (int)make_rtcp(ref, 0xc0c0c0c0u, 1);
	cr_assert_eq(srtp_protect_rtcp(peer, ref, &plen), srtp_err_status_ok);
	idx = ((uint32_t)ref[plen - 14] << 24 | (uint32_t)ref[plen - 13] << 16 |
	       (uint32_t)ref[plen - 12] << 8 | ref[plen - 11]) & 0x7fffffffu;
	len = craft_srtcp(master, mine, make_rtcp(mine, 0xc0c0c0c0u, 1), idx);
	cr_assert_eq(len, (size_t)plen);
	cr_assert_eq(memcmp(mine, ref, len), 0, "crafted SRTCP differs from libsrtp's");
	cr_assert_eq(srtp_leg_unprotect_rtcp(leg, mine, &len), SRTP_LEG_OK);

	/* Jump to the last indexes the 31-bit field can hold. */
	for (uint32_t i = 0x7ffffffeu; i <= 0x7fffffffu; i++) {
		len = craft_srtcp(master, mine, make_rtcp(mine, 0xc0c0c0c0u, 2), i);
		cr_assert_eq(srtp_leg_unprotect_rtcp(leg, mine, &len), SRTP_LEG_OK, "index %x", i);
	}
	/* What a wrapping sender would send next is behind the window. */
	len = craft_srtcp(master, mine, make_rtcp(mine, 0xc0c0c0c0u, 3), 0);
	cr_assert_eq(srtp_leg_unprotect_rtcp(leg, mine, &len), SRTP_LEG_ERR_TOO_OLD);
	/* The last index once more is a replay. */
	len = craft_srtcp(master, mine, make_rtcp(mine, 0xc0c0c0c0u, 4), 0x7fffffffu);
	cr_assert_eq(srtp_leg_unprotect_rtcp(leg, mine, &len), SRTP_LEG_ERR_REPLAY);
	srtp_dealloc(peer);
	srtp_leg_destroy(leg);
}

Test(srtp_leg, wrong_key_rejected_and_counted)
{
	for (size_t k = 0; k < N_SUITES; k++) {
		uint8_t master[SRTP_LEG_MAX_MASTER_LEN], other[SRTP_LEG_MAX_MASTER_LEN], pkt[BUF];
		srtp_leg *leg;
		srtp_t peer;
		size_t len;
		int plen;

		fill_master(master, sizeof(master), 8);
		memcpy(other, master, sizeof(other));
		other[0] ^= 0x80;
		leg = leg_create(all_suites[k], SRTP_LEG_INBOUND, master);
		peer = peer_create(all_suites[k], other, false);
		for (uint16_t seq = 0; seq < 3; seq++) {
			len = peer_protect(peer, pkt, 3, seq);
			cr_assert_eq(srtp_leg_unprotect_rtp(leg, pkt, &len), SRTP_LEG_ERR_AUTH);
		}
		plen = (int)make_rtcp(pkt, 3, 0);
		cr_assert_eq(srtp_protect_rtcp(peer, pkt, &plen), srtp_err_status_ok);
		len = (size_t)plen;
		cr_assert_eq(srtp_leg_unprotect_rtcp(leg, pkt, &len), SRTP_LEG_ERR_AUTH);
		cr_assert_eq(drops(leg, SRTP_LEG_ERR_AUTH), 4, "%s", suite_name(all_suites[k]));
		/* Nothing authenticated, so no SSRC stream was created. */
		uint32_t roc;
		cr_assert_eq(srtp_leg_roc(leg, 3, &roc), -ENOENT);
		srtp_dealloc(peer);
		srtp_leg_destroy(leg);
	}
}

/* CONTINUE: both ends switch key and keep counting (the peer uses
 * srtp_update too); a straggler under the old key fails auth. */
Test(srtp_leg, rekey_continue_mid_stream)
{
	for (size_t k = 0; k < N_SUITES; k++) {
		enum srtp_leg_suite s = all_suites[k];
		uint8_t ka[SRTP_LEG_MAX_MASTER_LEN], kb[SRTP_LEG_MAX_MASTER_LEN];
		uint8_t pkt[BUF], late[BUF], in[BUF];
		srtp_leg *rx, *tx;
		srtp_t psend, precv;
		size_t len, llate = 0, ol;
		int plen;

		fill_master(ka, sizeof(ka), 20);
		fill_master(kb, sizeof(kb), 21);
		rx = leg_create(s, SRTP_LEG_INBOUND, ka);
		tx = leg_create(s, SRTP_LEG_OUTBOUND, ka);
		psend = peer_create(s, ka, false);
		precv = peer_create(s, ka, true);
		/* Straddle a wrap so CONTINUE must carry the ROC over. */
		for (uint32_t i = 0; i < 60; i++) {
			uint16_t seq = (uint16_t)(65510u + i);

			if (i == 30) {
				cr_assert_eq(srtp_leg_rekey(rx, kb, srtp_leg_master_len(s),
				                            SRTP_LEG_REKEY_CONTINUE), 0);
				cr_assert_eq(srtp_leg_rekey(tx, kb, srtp_leg_master_len(s),
				                            SRTP_LEG_REKEY_CONTINUE), 0);
				peer_update(psend, s, kb, false);
				peer_update(precv, s, kb, true);
			}
			len = peer_protect(psend, pkt, 42, seq);
			if (i == 29) { /* held back: arrives after the rekey */
				memcpy(late, pkt, len);
				llate = len;
				continue;
			}
			cr_assert_eq(srtp_leg_unprotect_rtp(rx, pkt, &len), SRTP_LEG_OK,
			             "%s rx seq %u", suite_name(s), seq);
			check_plain(pkt, len, 42, seq);
			ol = 0;
			len = make_rtp(in, 42, seq, PAYLOAD);
			cr_assert_eq(srtp_leg_protect_rtp(tx, in, len, pkt, sizeof(pkt), &ol), SRTP_LEG_OK);
			plen = (int)ol;
			cr_assert_eq(srtp_unprotect(precv, pkt, &plen), srtp_err_status_ok,
			             "%s tx seq %u", suite_name(s), seq);
			check_plain(pkt, (size_t)plen, 42, seq);
		}
		cr_assert_eq(srtp_leg_unprotect_rtp(rx, late, &llate), SRTP_LEG_ERR_AUTH);
		/* RTCP continues too. */
		plen = (int)make_rtcp(pkt, 42, 1);
		cr_assert_eq(srtp_protect_rtcp(psend, pkt, &plen), srtp_err_status_ok);
		len = (size_t)plen;
		cr_assert_eq(srtp_leg_unprotect_rtcp(rx, pkt, &len), SRTP_LEG_OK);

		struct srtp_leg_stats st;
		srtp_leg_get_stats(rx, &st);
		cr_assert_eq(st.rekeys, 1);
		srtp_dealloc(psend);
		srtp_dealloc(precv);
		srtp_leg_destroy(rx);
		srtp_leg_destroy(tx);
	}
}

/* RESET: the peer re-created its session with the new key (ROC and SRTCP
 * index back to 0); so does the leg. */
Test(srtp_leg, rekey_reset_mid_stream)
{
	enum srtp_leg_suite s = SRTP_LEG_AEAD_AES_128_GCM;
	uint8_t ka[SRTP_LEG_MAX_MASTER_LEN], kb[SRTP_LEG_MAX_MASTER_LEN], pkt[BUF];
	srtp_leg *rx;
	srtp_t psend;
	size_t len;
	int plen;

	fill_master(ka, sizeof(ka), 30);
	fill_master(kb, sizeof(kb), 31);
	rx = leg_create(s, SRTP_LEG_INBOUND, ka);
	psend = peer_create(s, ka, false);
	for (uint16_t seq = 500; seq < 520; seq++) {
		len = peer_protect(psend, pkt, 8, seq);
		cr_assert_eq(srtp_leg_unprotect_rtp(rx, pkt, &len), SRTP_LEG_OK);
	}
	for (int i = 0; i < 3; i++) {
		plen = (int)make_rtcp(pkt, 8, (uint8_t)i);
		cr_assert_eq(srtp_protect_rtcp(psend, pkt, &plen), srtp_err_status_ok);
		len = (size_t)plen;
		cr_assert_eq(srtp_leg_unprotect_rtcp(rx, pkt, &len), SRTP_LEG_OK);
	}
	srtp_dealloc(psend);
	psend = peer_create(s, kb, false);
	cr_assert_eq(srtp_leg_rekey(rx, kb, srtp_leg_master_len(s), SRTP_LEG_REKEY_RESET), 0);
	for (uint16_t seq = 520; seq < 540; seq++) {
		len = peer_protect(psend, pkt, 8, seq);
		cr_assert_eq(srtp_leg_unprotect_rtp(rx, pkt, &len), SRTP_LEG_OK, "seq %u", seq);
		check_plain(pkt, len, 8, seq);
	}
	/* SRTCP index restarted at the peer: accepted because the leg reset. */
	plen = (int)make_rtcp(pkt, 8, 9);
	cr_assert_eq(srtp_protect_rtcp(psend, pkt, &plen), srtp_err_status_ok);
	len = (size_t)plen;
	cr_assert_eq(srtp_leg_unprotect_rtcp(rx, pkt, &len), SRTP_LEG_OK);
	/* Bad arguments. */
	cr_assert_eq(srtp_leg_rekey(rx, kb, 10, SRTP_LEG_REKEY_RESET), -EINVAL);
	cr_assert_eq(srtp_leg_rekey(rx, kb, srtp_leg_master_len(s), (enum srtp_leg_rekey_mode)7),
	             -EINVAL);
	srtp_dealloc(psend);
	srtp_leg_destroy(rx);
}

Test(srtp_leg, key_lifetime_exhausted)
{
	enum srtp_leg_suite s = SRTP_LEG_AES_CM_128_HMAC_SHA1_80;
	uint8_t master[SRTP_LEG_MAX_MASTER_LEN], kb[SRTP_LEG_MAX_MASTER_LEN], in[BUF], out[BUF];
	struct srtp_leg_cfg cfg = {
		.suite = s, .dir = SRTP_LEG_OUTBOUND, .master = master,
		.master_len = srtp_leg_master_len(s), .rtp_lifetime = 5, .rtcp_lifetime = 3,
	};
	struct srtp_leg_stats st;
	srtp_leg *tx, *rx;
	srtp_t psend;
	size_t il, ol, len;
	uint8_t pkt[BUF];

	fill_master(master, sizeof(master), 40);
	fill_master(kb, sizeof(kb), 41);
	cr_assert_eq(srtp_leg_create(&cfg, &tx), 0);
	for (uint16_t seq = 0; seq < 5; seq++) {
		il = make_rtp(in, 1, seq, PAYLOAD);
		cr_assert_eq(srtp_leg_protect_rtp(tx, in, il, out, sizeof(out), &ol), SRTP_LEG_OK);
	}
	cr_assert(srtp_leg_key_expired(tx));
	il = make_rtp(in, 1, 5, PAYLOAD);
	cr_assert_eq(srtp_leg_protect_rtp(tx, in, il, out, sizeof(out), &ol),
	             SRTP_LEG_ERR_KEY_EXPIRED);
	il = make_rtcp(in, 1, 0);
	cr_assert_eq(srtp_leg_protect_rtcp(tx, in, il, out, sizeof(out), &ol),
	             SRTP_LEG_ERR_KEY_EXPIRED);
	srtp_leg_get_stats(tx, &st);
	cr_assert_eq(st.drops[SRTP_LEG_ERR_KEY_EXPIRED], 2);
	cr_assert_eq(st.key_expired_events, 1);
	cr_assert_eq(st.rtp_ok, 5);
	/* A rekey brings the leg back. */
	cr_assert_eq(srtp_leg_rekey(tx, kb, cfg.master_len, SRTP_LEG_REKEY_CONTINUE), 0);
	cr_assert(!srtp_leg_key_expired(tx));
	il = make_rtp(in, 1, 5, PAYLOAD);
	cr_assert_eq(srtp_leg_protect_rtp(tx, in, il, out, sizeof(out), &ol), SRTP_LEG_OK);
	srtp_leg_destroy(tx);

	/* Inbound, SRTCP lifetime 3. */
	cfg.dir = SRTP_LEG_INBOUND;
	cr_assert_eq(srtp_leg_create(&cfg, &rx), 0);
	psend = peer_create(s, master, false);
	for (int i = 0; i < 4; i++) {
		int plen = (int)make_rtcp(pkt, 2, (uint8_t)i);

		cr_assert_eq(srtp_protect_rtcp(psend, pkt, &plen), srtp_err_status_ok);
		len = (size_t)plen;
		cr_assert_eq(srtp_leg_unprotect_rtcp(rx, pkt, &len),
		             i < 3 ? SRTP_LEG_OK : SRTP_LEG_ERR_KEY_EXPIRED, "rtcp %d", i);
	}
	len = peer_protect(psend, pkt, 2, 0);
	cr_assert_eq(srtp_leg_unprotect_rtp(rx, pkt, &len), SRTP_LEG_ERR_KEY_EXPIRED);
	cr_assert(srtp_leg_key_expired(rx));
	srtp_dealloc(psend);
	srtp_leg_destroy(rx);
}

Test(srtp_leg, same_params_table)
{
	struct {
		enum srtp_leg_suite sa, sb;
		enum srtp_leg_dir da, db;
		uint8_t seed_b;
		int flip; /* byte of b's master to flip, -1: none */
		bool want;
	} cases[] = {
		{ SRTP_LEG_AES_CM_128_HMAC_SHA1_80, SRTP_LEG_AES_CM_128_HMAC_SHA1_80,
		  SRTP_LEG_INBOUND, SRTP_LEG_OUTBOUND, 1, -1, true },
		{ SRTP_LEG_AEAD_AES_256_GCM, SRTP_LEG_AEAD_AES_256_GCM,
		  SRTP_LEG_INBOUND, SRTP_LEG_INBOUND, 1, -1, true },
		{ SRTP_LEG_AES_CM_128_HMAC_SHA1_80, SRTP_LEG_AES_CM_128_HMAC_SHA1_32,
		  SRTP_LEG_INBOUND, SRTP_LEG_OUTBOUND, 1, -1, false },   /* suite */
		{ SRTP_LEG_AEAD_AES_128_GCM, SRTP_LEG_AEAD_AES_128_GCM,
		  SRTP_LEG_INBOUND, SRTP_LEG_OUTBOUND, 2, -1, false },   /* key */
		{ SRTP_LEG_AEAD_AES_128_GCM, SRTP_LEG_AEAD_AES_128_GCM,
		  SRTP_LEG_INBOUND, SRTP_LEG_OUTBOUND, 1, 27, false },   /* salt's last byte */
		{ SRTP_LEG_AES_CM_128_HMAC_SHA1_32, SRTP_LEG_AES_CM_128_HMAC_SHA1_32,
		  SRTP_LEG_INBOUND, SRTP_LEG_OUTBOUND, 1, 0, false },    /* key's first byte */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t ma[SRTP_LEG_MAX_MASTER_LEN], mb[SRTP_LEG_MAX_MASTER_LEN];
		srtp_leg *a, *b;

		fill_master(ma, sizeof(ma), 1);
		fill_master(mb, sizeof(mb), cases[i].seed_b);
		if (cases[i].flip >= 0)
			mb[cases[i].flip] ^= 1;
		a = leg_create(cases[i].sa, cases[i].da, ma);
		b = leg_create(cases[i].sb, cases[i].db, mb);
		cr_assert_eq(srtp_leg_same_params(a, b), cases[i].want, "case %zu", i);
		cr_assert_eq(srtp_leg_same_params(b, a), cases[i].want, "case %zu", i);
		srtp_leg_destroy(a);
		srtp_leg_destroy(b);
	}
	/* After a rekey to the other's key, they match. */
	{
		uint8_t ma[SRTP_LEG_MAX_MASTER_LEN], mb[SRTP_LEG_MAX_MASTER_LEN];
		srtp_leg *a, *b;

		fill_master(ma, sizeof(ma), 1);
		fill_master(mb, sizeof(mb), 2);
		a = leg_create(SRTP_LEG_AEAD_AES_128_GCM, SRTP_LEG_INBOUND, ma);
		b = leg_create(SRTP_LEG_AEAD_AES_128_GCM, SRTP_LEG_OUTBOUND, mb);
		cr_assert(!srtp_leg_same_params(a, b));
		cr_assert_eq(srtp_leg_rekey(b, ma, 28, SRTP_LEG_REKEY_RESET), 0);
		cr_assert(srtp_leg_same_params(a, b));
		srtp_leg_destroy(a);
		srtp_leg_destroy(b);
	}
}

Test(srtp_leg, create_validation_and_libsrtp_window_limits)
{
	uint8_t master[SRTP_LEG_MAX_MASTER_LEN];
	struct srtp_leg_cfg cfg = {
		.suite = SRTP_LEG_AES_CM_128_HMAC_SHA1_80, .dir = SRTP_LEG_INBOUND,
		.master = master, .master_len = 30,
	};
	srtp_leg *leg = NULL;
	srtp_policy_t p;
	srtp_t s = NULL;

	fill_master(master, sizeof(master), 50);
	cfg.master_len = 28;
	cr_assert_eq(srtp_leg_create(&cfg, &leg), -EINVAL);
	cfg.master_len = 30;
	cfg.window = 63;
	cr_assert_eq(srtp_leg_create(&cfg, &leg), -EINVAL);
	cfg.window = 32768;
	cr_assert_eq(srtp_leg_create(&cfg, &leg), -EINVAL);
	cfg.window = 32767;
	cr_assert_eq(srtp_leg_create(&cfg, &leg), 0);
	srtp_leg_destroy(leg);
	cfg.window = 64;
	cr_assert_eq(srtp_leg_create(&cfg, &leg), 0);
	srtp_leg_destroy(leg);
	cfg.window = 0;
	cfg.suite = SRTP_LEG_SUITE__COUNT;
	cr_assert_eq(srtp_leg_create(&cfg, &leg), -EINVAL);
	cfg.suite = SRTP_LEG_AES_CM_128_HMAC_SHA1_80;
	cfg.max_ssrcs = SRTP_LEG_SSRCS_MAX + 1;
	cr_assert_eq(srtp_leg_create(&cfg, &leg), -EINVAL);
	srtp_leg_destroy(NULL);

	/* The bounds above are libsrtp's own: 64..32767. */
	ensure_srtp_init();
	memset(&p, 0, sizeof(p));
	srtp_crypto_policy_set_rtp_default(&p.rtp);
	srtp_crypto_policy_set_rtcp_default(&p.rtcp);
	p.key = master;
	p.ssrc.type = ssrc_any_inbound;
	p.window_size = 32768;
	cr_assert_neq(srtp_create(&s, &p), srtp_err_status_ok);
	p.window_size = 63;
	cr_assert_neq(srtp_create(&s, &p), srtp_err_status_ok);
	p.window_size = 32767;
	cr_assert_eq(srtp_create(&s, &p), srtp_err_status_ok);
	srtp_dealloc(s);
}

Test(srtp_leg, ssrc_cap)
{
	uint8_t master[SRTP_LEG_MAX_MASTER_LEN], in[BUF], out[BUF];
	struct srtp_leg_cfg cfg = {
		.suite = SRTP_LEG_AEAD_AES_128_GCM, .dir = SRTP_LEG_OUTBOUND,
		.master = master, .master_len = 28, .max_ssrcs = 2,
	};
	srtp_leg *leg;
	size_t il, ol;

	fill_master(master, sizeof(master), 60);
	cr_assert_eq(srtp_leg_create(&cfg, &leg), 0);
	for (uint32_t ssrc = 1; ssrc <= 3; ssrc++) {
		il = make_rtp(in, ssrc, 1, PAYLOAD);
		cr_assert_eq(srtp_leg_protect_rtp(leg, in, il, out, sizeof(out), &ol),
		             ssrc <= 2 ? SRTP_LEG_OK : SRTP_LEG_ERR_SSRC_LIMIT);
	}
	il = make_rtp(in, 2, 2, PAYLOAD);
	cr_assert_eq(srtp_leg_protect_rtp(leg, in, il, out, sizeof(out), &ol), SRTP_LEG_OK);
	cr_assert_eq(drops(leg, SRTP_LEG_ERR_SSRC_LIMIT), 1);
	srtp_leg_destroy(leg);
}

/* Hostile headers: each is refused before libsrtp reads it. */
Test(srtp_leg, hostile_inputs_table)
{
	static const struct {
		const char *name;
		uint8_t bytes[40];
		size_t len;
		bool rtcp;
		enum srtp_leg_err want;
	} cases[] = {
		{ "empty", { 0 }, 0, false, SRTP_LEG_ERR_TOO_SHORT },
		{ "header only, no tag", { 0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1 }, 12, false,
		  SRTP_LEG_ERR_TOO_SHORT },
		{ "version 0", { 0x00, 96 }, 40, false, SRTP_LEG_ERR_HEADER },
		{ "15 CSRCs in 40 bytes", { 0x8f, 96 }, 40, false, SRTP_LEG_ERR_HEADER },
		{ "extension header cut", { 0x94, 96 }, 36, false, SRTP_LEG_ERR_HEADER },
		{ "extension length overrun", { 0x90, 96, [12] = 0xbe, [13] = 0xde, [14] = 0xff,
		  [15] = 0xff }, 40, false, SRTP_LEG_ERR_HEADER },
		{ "rtcp too short", { 0x81, 201, 0, 1 }, 8, true, SRTP_LEG_ERR_TOO_SHORT },
		{ "rtcp version 1", { 0x41, 201, 0, 1 }, 40, true, SRTP_LEG_ERR_HEADER },
		{ "rtp garbage", { 0x80, 96, [39] = 1 }, 40, false, SRTP_LEG_ERR_AUTH },
		{ "rtcp garbage", { 0x81, 201, [39] = 1 }, 40, true, SRTP_LEG_ERR_AUTH },
	};
	uint8_t master[SRTP_LEG_MAX_MASTER_LEN], buf[64], big[SRTP_LEG_MAX_PKT + 2];
	srtp_leg *rx, *tx;
	size_t len, ol;

	fill_master(master, sizeof(master), 70);
	rx = leg_create(SRTP_LEG_AES_CM_128_HMAC_SHA1_80, SRTP_LEG_INBOUND, master);
	tx = leg_create(SRTP_LEG_AES_CM_128_HMAC_SHA1_80, SRTP_LEG_OUTBOUND, master);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(buf, cases[i].bytes, sizeof(cases[i].bytes));
		len = cases[i].len;
		enum srtp_leg_err e = cases[i].rtcp ? srtp_leg_unprotect_rtcp(rx, buf, &len)
		                                    : srtp_leg_unprotect_rtp(rx, buf, &len);
		cr_assert_eq(e, cases[i].want, "%s: got %s", cases[i].name, srtp_leg_err_name(e));
		cr_assert_eq(len, cases[i].len, "%s: length changed", cases[i].name);
	}
	memset(big, 0, sizeof(big));
	big[0] = 0x80;
	len = sizeof(big);
	cr_assert_eq(srtp_leg_unprotect_rtp(rx, big, &len), SRTP_LEG_ERR_TOO_LONG);
	/* Wrong direction, no room. */
	len = make_rtp(buf, 1, 1, 20);
	cr_assert_eq(srtp_leg_protect_rtp(rx, buf, len, big, sizeof(big), &ol), SRTP_LEG_ERR_DIRECTION);
	cr_assert_eq(srtp_leg_unprotect_rtp(tx, buf, &len), SRTP_LEG_ERR_DIRECTION);
	cr_assert_eq(srtp_leg_protect_rtp(tx, buf, len, big, len + 9, &ol), SRTP_LEG_ERR_NO_ROOM);
	cr_assert_eq(srtp_leg_protect_rtp(tx, buf, len, big, len + 10, &ol), SRTP_LEG_OK);
	cr_assert_eq(ol, len + 10);
	len = make_rtcp(buf, 1, 0);
	cr_assert_eq(srtp_leg_protect_rtcp(tx, buf, len, big, len + 13, &ol), SRTP_LEG_ERR_NO_ROOM);
	big[0] = 0x80;
	cr_assert_eq(srtp_leg_protect_rtp(tx, big, SRTP_LEG_MAX_PKT - 5, big, sizeof(big), &ol),
	             SRTP_LEG_ERR_TOO_LONG);
	srtp_leg_destroy(rx);
	srtp_leg_destroy(tx);
}
