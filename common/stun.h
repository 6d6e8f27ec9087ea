/*
 * stun: STUN/TURN message codec (RFC 8489, compatible with RFC 5389; TURN
 * RFC 8656): parser, typed attribute getters, a builder, integrity and
 * fingerprint, key derivation, TURN ChannelData framing and the RFC 7983
 * first-byte demultiplexer. No I/O, no allocation state, no malloc: the
 * parser returns a view into the caller's buffer and the builder writes into
 * the caller's buffer.
 *
 * Receive:  stun_demux() -> stun_parse() (or stun_chdata_parse()) -> look
 *           at msg->n_unknown (420 if non-zero for a request) ->
 *           stun_get_*() / stun_attr_find() -> stun_check_integrity().
 * Send:     stun_build_init() -> stun_build_add_*() ... ->
 *           stun_build_add_integrity() -> stun_build_add_fingerprint() ->
 *           stun_build_finish() returns the length to send.
 *
 * stun_parse() checks structure completely: after it succeeds every
 * attribute it lists has a length and encoding its type allows, so a typed
 * getter can only answer "absent". It does not check MESSAGE-INTEGRITY (that
 * needs a key, see stun_check_integrity) but it does check FINGERPRINT.
 * Failures are an enum stun_err, one per reason, meant to be drop counters.
 */
#ifndef SP_STUN_H
#define SP_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stun_attr.h"

#define STUN_HEADER_LEN 20
#define STUN_MAGIC_COOKIE 0x2112A442u
#define STUN_TID_LEN 12
#define STUN_FINGERPRINT_XOR 0x5354554Eu
/* Attributes walked per message, ignored ones included: bounds the work an
 * attacker can cause with one datagram. */
#define STUN_MAX_ATTRS 64
/* Unknown comprehension-required types remembered for UNKNOWN-ATTRIBUTES. */
#define STUN_MAX_UNKNOWN 16
/* USERNAME must be shorter than 513 bytes (RFC 5389; RFC 8489 says 509,
 * accepting up to 512 keeps RFC 5389 clients working). */
#define STUN_MAX_USERNAME 512
/* REALM, NONCE, SOFTWARE and the ERROR-CODE reason: < 128 characters, which
 * is at most 763 bytes of UTF-8. */
#define STUN_MAX_TEXT 763
#define STUN_HMAC_SHA1_LEN 20
#define STUN_HMAC_SHA256_LEN 32
#define STUN_LONG_TERM_KEY_LEN 16 /* MD5 */
#define STUN_CHDATA_HEADER_LEN 4
#define STUN_CHANNEL_MIN 0x4000
#define STUN_CHANNEL_MAX 0x4FFF

/* Why a message was refused. Names (stun_err_name) fit a stats label. */
enum stun_err {
	STUN_OK = 0,
	STUN_ERR_TOO_SHORT,            /* shorter than the fixed header (20 or 4) */
	STUN_ERR_NOT_STUN,             /* top two bits of the message type set */
	STUN_ERR_BAD_COOKIE,           /* magic cookie is not 0x2112A442 */
	STUN_ERR_LEN_ALIGN,            /* message length not a multiple of 4 */
	STUN_ERR_TRUNCATED,            /* datagram shorter than the header says */
	STUN_ERR_TRAILING,             /* datagram longer than the header says */
	STUN_ERR_ATTR_OVERRUN,         /* attribute length runs past the message */
	STUN_ERR_TOO_MANY_ATTRS,       /* more than STUN_MAX_ATTRS attributes */
	STUN_ERR_ATTR_LEN,             /* known attribute, length its type forbids */
	STUN_ERR_ADDR_FAMILY,          /* address attribute, family not 1 or 2 */
	STUN_ERR_ATTR_VALUE,           /* known attribute, meaningless value */
	STUN_ERR_USERNAME_TOO_LONG,    /* USERNAME of 513 bytes or more */
	STUN_ERR_TEXT_TOO_LONG,        /* REALM/NONCE/SOFTWARE/reason > 763 bytes */
	STUN_ERR_DUP_INTEGRITY,        /* second MESSAGE-INTEGRITY(-SHA256) */
	STUN_ERR_FINGERPRINT_NOT_LAST, /* an attribute follows FINGERPRINT */
	STUN_ERR_FINGERPRINT_MISMATCH, /* FINGERPRINT does not match the CRC */
	STUN_ERR_CHANNEL_RANGE,        /* ChannelData channel not 0x4000-0x4FFF */
	STUN_ERR_CHDATA_TRUNCATED,     /* ChannelData longer than the datagram */
	STUN_ERR__COUNT
};

/* "ok", "too_short", ...; "unknown" for a value out of range. */
const char *stun_err_name(enum stun_err e);

/* One attribute of a parsed message: a view, the value is not copied. */
struct stun_attr {
	uint16_t type;
	uint16_t len; /* value length, padding excluded */
	uint32_t off; /* offset of the value from the start of the message */
};

/*
 * A parsed message. `buf` is the caller's buffer, which must outlive the
 * view. attrs[] holds, in order, every attribute that counts: attributes
 * after MESSAGE-INTEGRITY (other than MESSAGE-INTEGRITY-SHA256 and
 * FINGERPRINT) and after MESSAGE-INTEGRITY-SHA256 (other than FINGERPRINT)
 * are ignored as RFC 8489 14.5/14.6 require, and are not listed.
 */
struct stun_msg {
	const uint8_t *buf;
	uint32_t len;          /* 20 + message length: the whole message */
	uint16_t type;         /* raw message type */
	uint16_t method;       /* enum stun_method */
	uint8_t cls;           /* enum stun_class */
	uint8_t n_unknown;     /* entries in unknown[] */
	uint16_t n_attrs;      /* entries in attrs[] */
	int16_t integrity;     /* index in attrs[] of MESSAGE-INTEGRITY, or -1 */
	int16_t integrity_sha256;
	int16_t fingerprint;
	/* Comprehension-required types this codec does not understand, without
	 * duplicates (first STUN_MAX_UNKNOWN). A request with any gets 420. */
	uint16_t unknown[STUN_MAX_UNKNOWN];
	struct stun_attr attrs[STUN_MAX_ATTRS];
};

/* A transport address as the address attributes carry it. */
struct stun_addr {
	uint8_t family; /* STUN_AF_IPV4 or STUN_AF_IPV6 */
	uint16_t port;  /* host byte order */
	uint8_t ip[16]; /* network byte order; IPv4 uses ip[0..3] */
};

static inline uint16_t stun_msg_type(uint16_t method, enum stun_class cls)
{
	return (uint16_t)((method & 0x000F) | ((method & 0x0070) << 1) |
			  ((method & 0x0F80) << 2) | ((cls & 1) << 4) | ((cls & 2) << 7));
}

static inline const uint8_t *stun_msg_tid(const struct stun_msg *m)
{
	return m->buf + 8;
}

/*
 * Parse one complete STUN message: `len` must be exactly the datagram (UDP)
 * or the frame stun_stream_frame() delimited (TCP/TLS). Fills *out even on
 * failure (with what was seen so far); returns STUN_OK or the reason.
 */
enum stun_err stun_parse(const uint8_t *buf, size_t len, struct stun_msg *out);

/* First attribute of `type`, or NULL. */
const struct stun_attr *stun_attr_find(const struct stun_msg *m, uint16_t type);
/* Next attribute after `prev` with the same type, or NULL (for the several
 * XOR-PEER-ADDRESS of a CreatePermission). */
const struct stun_attr *stun_attr_next(const struct stun_msg *m, const struct stun_attr *prev);

static inline const uint8_t *stun_attr_value(const struct stun_msg *m, const struct stun_attr *a)
{
	return m->buf + a->off;
}

/*
 * Typed getters. Each returns 0, -ENOENT when the attribute is absent, or
 * -EINVAL when it is malformed (impossible after a successful stun_parse).
 * Strings are views into the message, not NUL-terminated.
 */
/* MAPPED-ADDRESS, ALTERNATE-SERVER (plain) or XOR-MAPPED/-PEER/-RELAYED-
 * ADDRESS (un-XORed with the cookie and transaction id). */
int stun_attr_get_addr(const struct stun_msg *m, const struct stun_attr *a, struct stun_addr *out);
int stun_get_addr(const struct stun_msg *m, uint16_t type, struct stun_addr *out);
/* USERNAME, REALM, NONCE, SOFTWARE (raw bytes, UTF-8 not checked). */
int stun_get_text(const struct stun_msg *m, uint16_t type, const char **s, size_t *len);
/* ERROR-CODE: code = class * 100 + number (300..699); reason may be NULL. */
int stun_get_error_code(const struct stun_msg *m, uint16_t *code, const char **reason,
			size_t *reason_len);
/* UNKNOWN-ATTRIBUTES: copies up to `cap` types, *n is the total listed. */
int stun_get_unknown_attrs(const struct stun_msg *m, uint16_t *types, size_t cap, size_t *n);
int stun_get_lifetime(const struct stun_msg *m, uint32_t *seconds);
/* REQUESTED-TRANSPORT protocol number (17 = UDP). */
int stun_get_requested_transport(const struct stun_msg *m, uint8_t *proto);
/* REQUESTED-ADDRESS-FAMILY or ADDITIONAL-ADDRESS-FAMILY: the raw family
 * byte (checking it is the TURN layer's job: 440 vs 400). */
int stun_get_family(const struct stun_msg *m, uint16_t type, uint8_t *family);
/* CHANNEL-NUMBER, raw (range checked by the TURN layer: 400). */
int stun_get_channel_number(const struct stun_msg *m, uint16_t *channel);
int stun_get_data(const struct stun_msg *m, const uint8_t **data, size_t *len);
/* EVEN-PORT: *reserve is the R bit. */
int stun_get_even_port(const struct stun_msg *m, bool *reserve);
int stun_get_reservation_token(const struct stun_msg *m, uint8_t token[8]);
static inline bool stun_has_attr(const struct stun_msg *m, uint16_t type)
{
	return stun_attr_find(m, type) != NULL;
}

/*
 * Verification. MESSAGE-INTEGRITY is HMAC-SHA1, MESSAGE-INTEGRITY-SHA256 is
 * HMAC-SHA256 (16 to 32 bytes: a truncated one is compared as long as it
 * is), both over the message up to the attribute with the header length
 * rewritten to end at the attribute. Compared in constant time (it may
 * allocate inside OpenSSL: integrity is for control messages, never on the
 * relay path). Returns 0 (valid), -ENOENT (attribute absent),
 * -EACCES (wrong), or -ENOMEM/-EIO when OpenSSL fails.
 */
int stun_check_integrity(const struct stun_msg *m, const uint8_t *key, size_t keylen);
int stun_check_integrity_sha256(const struct stun_msg *m, const uint8_t *key, size_t keylen);
/* True when FINGERPRINT is present and right (stun_parse refuses a wrong
 * one, so after a parse this only says "present"). */
bool stun_check_fingerprint(const struct stun_msg *m);

/*
 * Keys (RFC 8489 9.1.1, 9.2.2 with the MD5 algorithm; RFC 5389 15.4).
 * short-term: key = SASLprep(password), written to key[0..*keylen).
 * long-term:  key = MD5(username ":" realm ":" SASLprep(password)); username
 *             and realm are taken as they appear on the wire.
 * Return 0 or the negative errno of saslprep() (-EILSEQ, -EINVAL,
 * -EOPNOTSUPP, -ENOSPC) or -EIO from OpenSSL. Passwords longer than 512
 * bytes get -ENOSPC for the long-term key.
 */
int stun_key_short_term(const char *password, size_t len, uint8_t *key, size_t cap,
			size_t *keylen);
int stun_key_long_term(const char *username, size_t ulen, const char *realm, size_t rlen,
		       const char *password, size_t plen, uint8_t key[STUN_LONG_TERM_KEY_LEN]);

/*
 * Builder: writes one message into the caller's buffer. Every add_*
 * returns 0 or a negative errno (-ENOSPC: buffer or 64 KiB message full;
 * -EINVAL: value the parser would refuse, or an attribute after
 * MESSAGE-INTEGRITY/FINGERPRINT that would be ignored); the first error
 * sticks and is returned again by stun_build_finish(). The header length is
 * kept current after every attribute.
 */
struct stun_builder {
	uint8_t *buf;
	size_t cap;
	size_t len;    /* bytes written, header included */
	int err;       /* first error, 0 if none */
	uint8_t pad;   /* padding byte, 0 unless stun_build_set_padding() */
	uint8_t stage; /* what was last sealed: 0, integrity, sha256, fingerprint */
};

int stun_build_init(struct stun_builder *b, uint8_t *buf, size_t cap, uint16_t method,
		    enum stun_class cls, const uint8_t tid[STUN_TID_LEN]);
/* Byte used to pad the following attributes. RFC 8489 says padding is
 * ignored and SHOULD be zero; the RFC 5769 vectors pad with spaces. */
void stun_build_set_padding(struct stun_builder *b, uint8_t byte);
/* Any attribute from raw value bytes (USERNAME, REALM, NONCE, SOFTWARE,
 * DATA, RESERVATION-TOKEN, DONT-FRAGMENT with len 0, ...). Known types are
 * checked as the parser checks them. Not for MESSAGE-INTEGRITY(-SHA256) or
 * FINGERPRINT, which have their own calls. */
int stun_build_add(struct stun_builder *b, uint16_t type, const void *val, size_t len);
/* 32-bit attributes: LIFETIME, PRIORITY, ... */
int stun_build_add_u32(struct stun_builder *b, uint16_t type, uint32_t v);
/* Address attributes; XOR types are XORed here. */
int stun_build_add_addr(struct stun_builder *b, uint16_t type, const struct stun_addr *a);
int stun_build_add_error_code(struct stun_builder *b, uint16_t code, const char *reason,
			      size_t reason_len);
int stun_build_add_unknown_attrs(struct stun_builder *b, const uint16_t *types, size_t n);
int stun_build_add_requested_transport(struct stun_builder *b, uint8_t proto);
/* REQUESTED-ADDRESS-FAMILY or ADDITIONAL-ADDRESS-FAMILY. */
int stun_build_add_family(struct stun_builder *b, uint16_t type, uint8_t family);
int stun_build_add_channel_number(struct stun_builder *b, uint16_t channel);
int stun_build_add_even_port(struct stun_builder *b, bool reserve);
/* MESSAGE-INTEGRITY (HMAC-SHA1), then optionally MESSAGE-INTEGRITY-SHA256
 * (full 32 bytes), then optionally FINGERPRINT: in that order. */
int stun_build_add_integrity(struct stun_builder *b, const uint8_t *key, size_t keylen);
int stun_build_add_integrity_sha256(struct stun_builder *b, const uint8_t *key, size_t keylen);
int stun_build_add_fingerprint(struct stun_builder *b);
/* Length of the finished message (> 0), or the first error. */
int stun_build_finish(struct stun_builder *b);

/*
 * TURN ChannelData (RFC 8656 12.4): 2-byte channel, 2-byte length, data,
 * padded to 4 bytes over TCP/TLS. Over UDP padding is optional, bytes after
 * the data are ignored, and a datagram shorter than 4 + length is dropped.
 * Channels outside 0x4000-0x4FFF (0x5000-0xFFFF are reserved) are refused.
 */
struct stun_chdata {
	uint16_t channel;
	uint16_t len;
	const uint8_t *data;
};

enum stun_err stun_chdata_parse(const uint8_t *buf, size_t len, bool stream,
				struct stun_chdata *out);
/* Write the 4-byte header; the caller sends [hdr][data][padding]. */
void stun_chdata_header(uint8_t hdr[STUN_CHDATA_HEADER_LEN], uint16_t channel, uint16_t len);
/* Padding bytes after `len` data bytes: 0 over UDP, to 4 over a stream. */
static inline size_t stun_chdata_padding(size_t len, bool stream)
{
	return stream ? (4 - (len & 3)) & 3 : 0;
}

/*
 * TCP/TLS framing: the length of the STUN message or ChannelData frame
 * starting at buf (STUN: 20 + length; ChannelData: 4 + length padded to 4).
 * With fewer than 4 bytes available *frame_len is 4 (read more). The caller
 * reads until it has *frame_len bytes and parses exactly that. Refuses what
 * can never become a valid frame (first byte neither STUN nor ChannelData,
 * STUN length not a multiple of 4).
 */
enum stun_err stun_stream_frame(const uint8_t *buf, size_t avail, size_t *frame_len);

/* What a datagram on a shared port is, by its first byte (RFC 7983). */
enum stun_demux {
	STUN_DEMUX_OTHER = 0, /* empty, or a first byte no protocol owns */
	STUN_DEMUX_STUN,      /* 0..3 */
	STUN_DEMUX_ZRTP,      /* 16..19 */
	STUN_DEMUX_DTLS,      /* 20..63 */
	STUN_DEMUX_CHDATA,    /* 64..79: TURN ChannelData */
	STUN_DEMUX_RTP,       /* 128..191: RTP/RTCP */
};

enum stun_demux stun_demux(const uint8_t *buf, size_t len);

#endif
