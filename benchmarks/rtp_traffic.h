/*
 * rtp_traffic: synthetic cameras and viewers for the RTP fan-out benchmark
 * (`spbench rtp`) and for the forwarding integration tests.
 *
 * A camera sends an H.264-shaped RTP stream (RFC 6184): every GOP starts with
 * a keyframe [SPS][PPS][FU-A start, IDR][FU-A IDR ...][FU-A end, IDR] and
 * goes on with non-IDR frames (type 1, one single-NAL packet or an FU-A run
 * per frame), so a forwarder's keyframe detection works on it. Right after
 * the two NAL/FU bytes each payload carries a stamp (camera, epoch, 64-bit
 * sequence, CLOCK_MONOTONIC send time) and its last 8 bytes a check word
 * derived from (camera, epoch, sequence), so the checker knows exactly which
 * packet it holds even if a forwarder rewrites RTP headers.
 *
 * Addresses are how both ends stay cheap on a 2-core box: 127.0.0.0/8 is all
 * local, so camera c sends from 127.32.x.y (one socket, source chosen per
 * message with IP_PKTINFO) and subscriber s listens on 127.64.x.y:PORT, all
 * subscribers sharing ONE socket bound to 0.0.0.0:PORT; the checker tells
 * them apart by the destination address (IP_PKTINFO). The forwarder still
 * sees N distinct sources and sends to N*M distinct destinations, but the
 * tool drains everything with one recvmmsg per 64 packets.
 *
 * An epoch is one measurement step: the sender restarts its per-camera
 * sequence at 0 (with a keyframe) and the checker ignores packets of other
 * epochs, so late packets of a previous step never count.
 *
 * Beyond counting, tests can act as viewers (rtpt_receiver_send_as: a PLI or
 * NACK from a given subscriber; rtpt_receiver_send_rr keeps forwarders that
 * drop silent viewers happy) and see what reaches the cameras
 * (rtpt_sender_poll_feedback: PLI/FIR/NACK per camera).
 *
 * SRTP (`spbench srtp`): a camera may protect its packets and a subscriber
 * unprotect them, each with an srtp_leg the caller creates and destroys after
 * the sender / receiver (rtpt_sender_set_srtp, rtpt_receiver_set_srtp).
 * Decrypting costs the tool CPU (up to ~5 us a packet for AES-CM/HMAC-SHA1
 * here), so a receiver may unprotect only a deterministic sample: subscriber
 * s the packets whose epoch sequence is s modulo verify_every (so that with
 * verify_every <= subscribers per camera every sequence number is checked
 * by one of them). Those are checked in
 * full (authentication, replay, stamp, content); every other SRTP packet is
 * still counted for loss, duplicates and order from its clear RTP header
 * (SSRC, sequence number relative to the camera's first one of the epoch,
 * rtpt_receiver_set_seq_base) and its length. Without legs nothing changes.
 *
 * Threads: an rtpt_sender and an rtpt_receiver are each used by one thread at
 * a time; rtpt_receiver_received() may be read from another thread.
 */
#ifndef SP_RTP_TRAFFIC_H
#define SP_RTP_TRAFFIC_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "srtp_leg.h"

/* "\xd3PRT" little-endian. Its first byte is the first byte of an FU-A
 * fragment's slice header, so its top bit must be set: that is
 * first_mb_in_slice = 0, which makes spdp's keyframe detector see the IDR
 * start (with 'S' = 0x53 there no keyframe was ever found). */
#define RTPT_MAGIC 0x545250d3u
#define RTPT_RTP_HDR 12u
#define RTPT_STAMP_OFF 2u             /* stamp after the NAL header / FU indicator+header */
#define RTPT_STAMP_LEN 32u
#define RTPT_TAIL_LEN 8u
#define RTPT_MIN_PKT (RTPT_RTP_HDR + RTPT_STAMP_OFF + RTPT_STAMP_LEN + RTPT_TAIL_LEN)
#define RTPT_PARAM_SET_LEN 64u        /* SPS and PPS packets */
#define RTPT_MAX_PKT 8192u
#define RTPT_MAX_BATCH 256u
#define RTPT_MAX_ADDRS 4000000u       /* cameras or subscribers addressable */
#define RTPT_WINDOW 1024u             /* reorder/duplicate window per subscriber */

/* The stream every camera sends; sender and checker must agree on it. */
struct rtpt_stream_cfg {
	uint32_t pkt_size;   /* datagram bytes of slice/IDR packets (RTPT_MIN_PKT..RTPT_MAX_PKT) */
	uint32_t ppf;        /* packets per non-key frame (>= 1) */
	uint32_t key_pkts;   /* packets of a keyframe incl. SPS and PPS (>= 4) */
	uint32_t gop;        /* frames per GOP, keyframe first (>= 1) */
	uint32_t ssrc_base;  /* camera c uses ssrc_base + c */
	uint8_t pt;          /* RTP payload type (dynamic, 96..127) */
};

/* What sequence number `seq` of an epoch is. */
struct rtpt_pkt_info {
	uint32_t len;        /* datagram bytes */
	uint8_t nal_type;    /* 7 SPS, 8 PPS, 5 IDR, 1 non-IDR slice */
	bool fu;             /* FU-A fragment (else single NAL unit) */
	bool fu_start, fu_end;
	bool marker;         /* last packet of its frame */
	bool key_start;      /* first packet of a keyframe (the SPS) */
	uint64_t frame;      /* frame number in the epoch */
};

int rtpt_stream_check(const struct rtpt_stream_cfg *s);
void rtpt_stream_default(struct rtpt_stream_cfg *s);
void rtpt_pkt_layout(const struct rtpt_stream_cfg *s, uint64_t seq, struct rtpt_pkt_info *out);
uint64_t rtpt_pkts_per_gop(const struct rtpt_stream_cfg *s);

/* Index <-> loopback address (host order). Camera sources live in 127.32/11,
 * subscribers in 127.64/10; no address ends in .0 or .255. */
uint32_t rtpt_camera_ip(uint32_t cam);
uint32_t rtpt_sub_ip(uint32_t sub);
/* -1 when ip is not a subscriber address. */
int64_t rtpt_sub_index(uint32_t ip);

/* Parsed stamp of a received datagram. */
struct rtpt_stamp {
	uint32_t cam, epoch;
	uint64_t seq, send_ns;
	uint32_t ssrc;
	uint16_t rtp_seq;
	uint32_t payload_off; /* RTP payload offset (after CSRCs and extension) */
};

enum rtpt_parse_status {
	RTPT_OK = 0,
	RTPT_SHORT,       /* shorter than an RTP header + stamp */
	RTPT_NOT_RTP,     /* version != 2 */
	RTPT_RTCP,        /* payload type 72..76 with marker: RTCP on a muxed port */
	RTPT_NO_STAMP,    /* no magic: not ours */
};
/* Pure, any input: finds and reads the stamp. */
enum rtpt_parse_status rtpt_parse(const uint8_t *p, uint32_t len, struct rtpt_stamp *st);
/* Writes a whole datagram (filler included) into buf (>= info.len bytes);
 * returns its length. send_ns can be patched later with rtpt_set_send_ns(). */
uint32_t rtpt_build(const struct rtpt_stream_cfg *s, uint32_t cam, uint32_t epoch, uint64_t seq,
		    uint16_t rtp_seq, uint32_t rtp_ts, uint8_t *buf);
void rtpt_set_send_ns(uint8_t *buf, uint64_t send_ns);
/* True when the datagram is exactly what camera/epoch/seq must look like
 * (length, NAL/FU bytes, check word). */
bool rtpt_verify(const struct rtpt_stream_cfg *s, const uint8_t *p, uint32_t len,
		 const struct rtpt_stamp *st);

/* ---- Latency histogram (log-linear, ~3% resolution, 0..2^63 ns) ---- */
#define RTPT_HIST_SUB 5
#define RTPT_HIST_BUCKETS ((65 - RTPT_HIST_SUB) << RTPT_HIST_SUB)
struct rtpt_hist {
	uint64_t n, max, min, sum;
	uint64_t b[RTPT_HIST_BUCKETS];
};
void rtpt_hist_reset(struct rtpt_hist *h);
void rtpt_hist_add(struct rtpt_hist *h, uint64_t v);
void rtpt_hist_merge(struct rtpt_hist *dst, const struct rtpt_hist *src);
/* q in [0,1]; 0 when empty. */
uint64_t rtpt_hist_quantile(const struct rtpt_hist *h, double q);

/* ---- Sender: the cameras ---- */
typedef struct rtpt_sender rtpt_sender;

struct rtpt_sender_cfg {
	struct rtpt_stream_cfg stream;
	uint32_t cameras;
	uint32_t copies;          /* destinations per packet: 1, or M to bypass a forwarder */
	uint32_t batch;           /* datagrams per sendmmsg (1..RTPT_MAX_BATCH) */
	bool camera_sources;      /* send camera c from rtpt_camera_ip(c):src_port */
	uint16_t src_port;        /* 0: kernel's choice */
	int sndbuf;               /* bytes (forced when allowed); 0: default */
};

struct rtpt_run {
	double rate_pps;          /* camera packets/s, all cameras together (copies not counted) */
	uint64_t duration_ns;
	volatile int *stop;       /* optional: non-zero aborts */
};

struct rtpt_send_report {
	uint64_t packets;         /* camera packets sent (each to `copies` destinations) */
	uint64_t datagrams;       /* datagrams handed to the kernel */
	uint64_t errors;          /* datagrams the kernel refused */
	uint64_t syscalls;
	uint64_t elapsed_ns;      /* first send to last send */
	uint64_t behind_ns;       /* how late the last packet left vs its schedule */
	uint64_t srtp_errors;     /* packets the camera's SRTP leg refused to protect (sent as they were) */
	uint64_t prepared;        /* packets sent from rtpt_sender_prepare's buffer */
};

rtpt_sender *rtpt_sender_create(const struct rtpt_sender_cfg *cfg);
void rtpt_sender_destroy(rtpt_sender *tx);
/* Destination `copy` of camera `cam`. 0 or -EINVAL. */
int rtpt_sender_set_dest(rtpt_sender *tx, uint32_t cam, uint32_t copy, const struct sockaddr_in *dst);
/* Address the forwarder sees packets of camera `cam` come from. */
int rtpt_sender_source(const rtpt_sender *tx, uint32_t cam, struct sockaddr_in *out);
/* New epoch: per-camera sequence back to 0 (RTP sequence and timestamp go on). */
void rtpt_sender_begin(rtpt_sender *tx, uint32_t epoch);
/* Send the next n packets of camera cam now (tests). 0 or -errno. */
int rtpt_sender_send(rtpt_sender *tx, uint32_t cam, uint32_t n);
/* Paced run: cameras interleaved evenly (packet g goes to camera g % cameras). */
int rtpt_sender_run(rtpt_sender *tx, const struct rtpt_run *run, struct rtpt_send_report *out);
/* Packets camera cam sent in this epoch. */
uint64_t rtpt_sender_sent(const rtpt_sender *tx, uint32_t cam);
/* Camera cam protects every packet with `leg` (an OUTBOUND leg the caller
 * keeps; NULL: plain again). With any leg set, packets are stamped and
 * protected when queued rather than when flushed. 0 or -EINVAL. */
int rtpt_sender_set_srtp(rtpt_sender *tx, uint32_t cam, srtp_leg *leg);
/* The RTP sequence number camera cam sends next (after rtpt_sender_begin:
 * the first of the epoch). */
uint16_t rtpt_sender_rtp_seq(const rtpt_sender *tx, uint32_t cam);
/* Build (and protect) the next n packets of a paced run now, after
 * rtpt_sender_begin, so that rtpt_sender_run only sends them: the cameras'
 * crypto then costs nothing while a forwarder is measured. They carry no
 * send time (the checker takes no latency sample from them). Packets the
 * run does not send are dropped at the next begin/prepare (their sequence
 * numbers are skipped). n * ~1.2 KiB of memory. 0 or -ENOMEM. */
int rtpt_sender_prepare(rtpt_sender *tx, uint64_t n);

/* RTCP feedback a forwarder sent upstream to a camera (RFC 4585). */
struct rtpt_feedback {
	uint64_t pli, fir, nack;  /* PSFB FMT 1, PSFB FMT 4, RTPFB FMT 1 */
	uint64_t other;           /* any other RTCP packet (SR, RR, SDES...) */
	uint64_t not_rtcp;        /* datagrams that are no RTCP at all */
};
/* Drain what arrived on the cameras' socket without waiting; adds to
 * fb[cam] (cameras entries; told apart by destination address). Returns
 * datagrams read, or -errno. */
int rtpt_sender_poll_feedback(rtpt_sender *tx, struct rtpt_feedback *fb);
/* Count the RTCP packets of one (compound) datagram into *fb. Pure. */
void rtpt_feedback_count(const uint8_t *p, uint32_t len, struct rtpt_feedback *fb);

/* ---- Receiver: the subscribers and the checker ---- */
typedef struct rtpt_receiver rtpt_receiver;

struct rtpt_receiver_cfg {
	struct rtpt_stream_cfg stream;
	uint32_t cameras;
	uint32_t subs_per_cam;    /* subscriber s = cam * subs_per_cam + j at rtpt_sub_ip(s) */
	uint16_t port;            /* 0: kernel's choice */
	int rcvbuf;               /* bytes (forced when allowed); 0: default */
	uint32_t batch;           /* datagrams per recvmmsg (1..RTPT_MAX_BATCH) */
	uint32_t verify_every;    /* SRTP subscriber s: unprotect epoch sequences equal to s
	                           * modulo this (0 or 1: every packet) */
};

/* Per subscriber, for one epoch. */
struct rtpt_sub_report {
	uint64_t received;        /* distinct packets */
	uint64_t dups, late, too_old;
	uint64_t first_seq, last_seq;
	bool any;
	bool first_key;           /* the first packet received was a keyframe start */
};

/* For one epoch, all subscribers. */
struct rtpt_rx_report {
	uint64_t expected;        /* sum over subscribers of what their camera sent */
	uint64_t received;        /* distinct (subscriber, packet) pairs */
	uint64_t lost;            /* expected - received */
	uint64_t dups;            /* same packet twice at one subscriber */
	uint64_t late;            /* arrived after a later packet (reordered) */
	uint64_t too_old;         /* later than RTPT_WINDOW packets: duplicates not checked */
	uint64_t misrouted;       /* a subscriber got another camera's packet */
	uint64_t corrupt;         /* our stamp, wrong length/content/NAL bytes */
	uint64_t unknown_dst;     /* sent to an address that is no subscriber of ours */
	uint64_t stale;           /* other epochs */
	uint64_t foreign;         /* not RTP, or no stamp */
	uint64_t rtcp;
	uint64_t ssrc_mismatch;   /* informational: SSRC rewritten */
	uint64_t socket_drops;    /* our socket's kernel drops during the epoch */
	uint64_t truncated;
	uint32_t subs_lossy;      /* subscribers with at least one packet lost */
	uint32_t subs_first_not_key; /* subscribers whose first packet was no keyframe start */
	uint64_t recv_calls;
	uint64_t lat_n, lat_min_ns, lat_p50_ns, lat_p99_ns, lat_p999_ns, lat_max_ns;
	uint64_t lat_negative;    /* stamps later than the arrival (clock trouble) */
	bool kernel_timestamps;   /* latencies from SO_TIMESTAMPNS, not user time */
	/* SRTP subscribers (zero without legs): */
	uint64_t srtp_verified;   /* unprotected and checked in full (latency from these only) */
	uint64_t srtp_counted;    /* counted from the clear header (not in the sample) */
	uint64_t srtp_fail[SRTP_LEG_ERR__COUNT]; /* unprotect refused, by reason: lost to the checker */
	uint64_t srtp_fail_total;
	uint64_t srtcp_ok, srtcp_fail; /* SRTCP to the subscribers, all unprotected */
};

rtpt_receiver *rtpt_receiver_create(const struct rtpt_receiver_cfg *cfg);
void rtpt_receiver_destroy(rtpt_receiver *rx);
uint16_t rtpt_receiver_port(const rtpt_receiver *rx);
int rtpt_receiver_fd(const rtpt_receiver *rx);
/* Address of subscriber j of camera cam. */
void rtpt_receiver_sub_addr(const rtpt_receiver *rx, uint32_t cam, uint32_t j, struct sockaddr_in *out);
/* Where the subscribers of camera cam send RTCP (the flow's RTCP port, or
 * its RTP port with rtcp-mux). 0 or -EINVAL. */
int rtpt_receiver_set_rtcp_dest(rtpt_receiver *rx, uint32_t cam, const struct sockaddr_in *dst);
/* One RTCP receiver report from every subscriber whose camera has an RTCP
 * destination, each from the subscriber's own address, as live viewers do
 * (forwarders drop viewers that stay silent). Reports sent, or -errno. */
int rtpt_receiver_send_rr(rtpt_receiver *rx);
/* Send any datagram (a PLI, a NACK...) from subscriber j of camera cam.
 * 0 or -errno. */
int rtpt_receiver_send_as(rtpt_receiver *rx, uint32_t cam, uint32_t j, const struct sockaddr_in *dst,
			  const void *buf, size_t len);
/* Subscriber j of camera cam gets SRTP: `in` (INBOUND) unprotects the
 * SRTP/SRTCP it receives, `rtcp_out` (OUTBOUND, may be NULL) protects its
 * receiver reports. The caller keeps both legs. 0, -EINVAL or -ENOMEM. */
int rtpt_receiver_set_srtp(rtpt_receiver *rx, uint32_t cam, uint32_t j, srtp_leg *in, srtp_leg *rtcp_out);
/* Camera cam's first RTP sequence number of the coming epoch
 * (rtpt_sender_rtp_seq after rtpt_sender_begin); set before
 * rtpt_receiver_begin. Only SRTP subscribers use it. */
void rtpt_receiver_set_seq_base(rtpt_receiver *rx, uint32_t cam, uint16_t rtp_seq);
/* Start counting epoch `epoch` from zero. */
void rtpt_receiver_begin(rtpt_receiver *rx, uint32_t epoch);
/* Drain the socket; wait up to timeout_ms for the first datagram when none
 * is queued (0: don't wait). Returns datagrams handled or -errno. */
int rtpt_receiver_poll(rtpt_receiver *rx, int timeout_ms);
/* Distinct packets received in this epoch; safe from another thread. */
uint64_t rtpt_receiver_received(const rtpt_receiver *rx);
/* Summarise the epoch; sent[cam] is what each camera sent (rtpt_sender_sent). */
void rtpt_receiver_report(rtpt_receiver *rx, const uint64_t *sent, struct rtpt_rx_report *out);
int rtpt_receiver_sub(const rtpt_receiver *rx, uint32_t cam, uint32_t j, struct rtpt_sub_report *out);
/* The raw latency histogram of the epoch (ns). */
const struct rtpt_hist *rtpt_receiver_hist(const rtpt_receiver *rx);

/* ---- Helpers shared with the benchmark ---- */
/* Kernel receive drops of every UDP socket bound to `port` (/proc/net/udp);
 * -errno on failure. ports_mask: optional 65536-bit set, summed instead. */
int64_t rtpt_udp_drops(uint16_t port, const uint64_t *ports_mask);
/* /proc/net/snmp Udp RcvbufErrors; -errno on failure. */
int64_t rtpt_snmp_rcvbuf_errors(void);
/* SO_RCVBUFFORCE (root) or SO_RCVBUF; returns the size the kernel granted. */
int rtpt_set_bufsize(int fd, int opt_force, int opt, int bytes);

#endif
