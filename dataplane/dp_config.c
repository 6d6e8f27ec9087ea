/* dp_config: every spdp configuration key, documented once (see config.h). */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "config.h"
#include "dp.h"
#include "shm-t.h"

#define OFF(f) offsetof(struct dp_config, f)
#define STR(f) OFF(f), sizeof(((struct dp_config *)0)->f)

const struct cfg_key dp_config_keys[] = {
	{ "spdp", "instance", CFG_STRING, STR(instance), 1, 0, "default",
	  "name of this streampoint instance; several can run on one host", 0 },
	{ "spdp", "runtime_dir", CFG_STRING, STR(runtime_dir), 1, 0, "/run/streampoint",
	  "directory for sockets; spdp uses <runtime_dir>/<instance>/", 0 },
	{ "spdp", "workers", CFG_UINT, OFF(workers), 0, 1, SHM_MAX_WORKERS, "2",
	  "data-plane worker threads, one per core you give to forwarding", 0 },
	{ "spdp", "log_level", CFG_LOGLEVEL, OFF(log_level), 0, 0, 0, "info",
	  "log verbosity", 0 },
	{ "spdp", "ctl_group", CFG_STRING, STR(ctl_group), 0, 0, "",
	  "group (besides root) allowed to attach and observe; empty: root only", 0 },
	{ "spdp", "idle_sleep_ms", CFG_UINT, OFF(idle_sleep_ms), 0, 1, 1000, "100",
	  "longest an idle worker sleeps before refreshing its heartbeat", 0 },
	{ "media", "address", CFG_STRING, STR(media_address), 1, 0, "0.0.0.0",
	  "address flows bind their RTP/RTCP port pairs to", 0 },
	{ "media", "port_min", CFG_UINT, OFF(port_min), 0, 1024, 65534, "30000",
	  "lowest port of the media range (even ports RTP, odd RTCP; split between workers)", 0 },
	{ "media", "port_max", CFG_UINT, OFF(port_max), 0, 1025, 65535, "39999",
	  "highest port of the media range", 0 },
	{ "media", "shared_port", CFG_UINT, OFF(shared_port), 0, 0, 65535, "0",
	  "one UDP port every camera may push to (flows with a known source; demultiplexed by "
	  "source address/port and SSRC, steered to workers in the kernel); 0: off", 0 },
	{ "flows", "max_flows", CFG_UINT, OFF(max_flows), 0, 1, 1000000, "4096",
	  "flows per worker (all state is preallocated)", 0 },
	{ "flows", "max_subs", CFG_UINT, OFF(max_subs), 0, 1, 10000000, "16384",
	  "subscribers per worker, all flows together", 0 },
	{ "flows", "max_subs_per_flow", CFG_UINT, OFF(max_subs_per_flow), 0, 1, 4096, "64",
	  "subscribers of one flow", 0 },
	{ "flows", "history_pkts", CFG_UINT, OFF(history_pkts), 0, 16, 1u << 16, "512",
	  "packets kept per flow for fast start and NACK answers", CFG_POW2 },
	{ "flows", "history_bytes", CFG_SIZE, OFF(history_bytes), 0, 4096, 1u << 30, "512K",
	  "bytes kept per flow (reserved, touched only as used)", 0 },
	{ "flows", "pli_interval_ms", CFG_UINT, OFF(pli_interval_ms), 0, 0, 60000, "1000",
	  "at most one PLI/FIR upstream per flow per interval, whatever the viewers ask", 0 },
	{ "flows", "rtcp_timeout_ms", CFG_UINT, OFF(rtcp_timeout_ms), 0, 0, 3600000, "30000",
	  "remove a subscriber that sent no RTCP for this long (0: never)", 0 },
	{ "flows", "send_error_limit", CFG_UINT, OFF(send_error_limit), 0, 2, 1000000, "50",
	  "send errors (none forgiven before 5 s without one) before a subscriber is removed; at half the limit it is paused 1 s", 0 },
	{ "srtp", "replay_window", CFG_UINT, OFF(srtp_window), 0, 64, 32767, "1024",
	  "SRTP replay window in packets for legs whose key does not set one (RFC 3711 minimum 64)", 0 },
	{ "srtp", "key_lifetime", CFG_UINT, OFF(srtp_key_lifetime), 0, 0, 2147483647, "0",
	  "packets one SRTP key may protect or unprotect before its leg stops with an event (0: the RFC 3711 limits, 2^48 SRTP / 2^31 SRTCP)", 0 },
	{ "io", "rx_buffers", CFG_UINT, OFF(rx_buffers), 0, 64, 32768, "8192",
	  "receive buffers per worker (provided-buffer ring)", CFG_POW2 },
	{ "io", "rcvbuf", CFG_SIZE, OFF(rcvbuf), 0, 0, 1u << 30, "4M",
	  "kernel receive buffer of every media socket (0: kernel default; root may exceed rmem_max)", 0 },
	{ "io", "rx_buf_size", CFG_UINT, OFF(rx_buf_size), 0, 512, 65600, "2048",
	  "bytes per receive buffer (largest datagram plus ~150 bytes of headers)", 0 },
	{ "io", "tx_slots", CFG_UINT, OFF(tx_slots), 0, 64, 1u << 20, "8192",
	  "sends in flight per worker", 0 },
	{ "io", "tx_buffers", CFG_UINT, OFF(tx_buffers), 0, 64, 1u << 20, "2048",
	  "buffers per worker for packets built by spdp (SRTP: one per protected copy in flight)", 0 },
	{ "io", "zerocopy_send", CFG_BOOL, OFF(zerocopy_send), 0, 0, 0, "false",
	  "use IORING_OP_SENDMSG_ZC (pays for large packets on real NICs, never on loopback)", 0 },
	{ "turn", "listen", CFG_STRING, STR(turn_listen), 0, 0, "",
	  "TURN/STUN UDP listeners, comma-separated, at most 4 (0.0.0.0:3478, [::]:3478); "
	  "one steered socket per worker each; empty: TURN off", 0 },
	{ "turn", "listen_tcp", CFG_STRING, STR(turn_listen_tcp), 0, 0, "",
	  "TURN/STUN TCP listeners (RFC 8656 over TCP), comma-separated, at most 4 "
	  "(0.0.0.0:3478); one SO_REUSEPORT socket per worker each", 0 },
	{ "turn", "listen_tls", CFG_STRING, STR(turn_listen_tls), 0, 0, "",
	  "TURN/STUN TLS listeners, comma-separated, at most 4 (0.0.0.0:5349); needs tls_cert and tls_key", 0 },
	{ "turn", "tls_cert", CFG_STRING, STR(turn_tls_cert), 0, 0, "",
	  "PEM certificate chain for listen_tls", 0 },
	{ "turn", "tls_key", CFG_STRING, STR(turn_tls_key), 0, 0, "",
	  "PEM private key for listen_tls", 0 },
	{ "turn", "tls_min_version", CFG_STRING, STR(turn_tls_min_version), 0, 0, "1.2",
	  "oldest TLS version accepted on listen_tls: 1.2 or 1.3", 0 },
	{ "turn", "max_conns", CFG_UINT, OFF(turn_max_conns), 0, 1, 1000000, "1024",
	  "TCP/TLS client connections per worker (each holds a port index; TLS ~ 30 KiB while busy)", 0 },
	{ "turn", "conn_idle_ms", CFG_UINT, OFF(turn_conn_idle_ms), 0, 100, 3600000, "30000",
	  "a TCP/TLS connection holding no allocation is closed after this", 0 },
	{ "turn", "tls_handshake_ms", CFG_UINT, OFF(turn_tls_handshake_ms), 0, 100, 600000, "10000",
	  "a TLS connection must finish its handshake within this (slowloris)", 0 },
	{ "turn", "max_allocs", CFG_UINT, OFF(turn_max_allocs), 0, 1, 1000000, "4096",
	  "TURN allocations per worker (each holds one relay port, two when dual-stack)", 0 },
	{ "turn", "max_perms", CFG_UINT, OFF(turn_max_perms), 0, 1, 10000000, "16384",
	  "TURN permissions per worker, all allocations together", 0 },
	{ "turn", "max_channels", CFG_UINT, OFF(turn_max_channels), 0, 1, 10000000, "16384",
	  "TURN channel bindings per worker, all allocations together", 0 },
	{ "tunnel", "listen", CFG_STRING, STR(tunnel_listen), 0, 0, "",
	  "agent tunnel TLS listeners (spagent connects here), comma-separated, at most 4 "
	  "(0.0.0.0:8443); one SO_REUSEPORT socket per worker each; empty: tunnels off", 0 },
	{ "tunnel", "tls_cert", CFG_STRING, STR(tunnel_tls_cert), 0, 0, "",
	  "PEM certificate chain of the tunnel listener", 0 },
	{ "tunnel", "tls_key", CFG_STRING, STR(tunnel_tls_key), 0, 0, "",
	  "PEM private key of the tunnel listener", 0 },
	{ "tunnel", "tls_min_version", CFG_STRING, STR(tunnel_tls_min_version), 0, 0, "1.3",
	  "oldest TLS version agents may use: 1.2 or 1.3", 0 },
	{ "tunnel", "streampoint_id", CFG_STRING, STR(tunnel_streampoint_id), 0, 0, "",
	  "this streampoint's id: agent tokens must be issued for it", 0 },
	{ "tunnel", "token_key_file", CFG_STRING, STR(tunnel_token_key_file), 0, 0, "",
	  "token keyring '<kid> <hex key> [current]' lines: the same file as spcp's [endpoint] token_key_file", 0 },
	{ "tunnel", "max_agents", CFG_UINT, OFF(tunnel_max_agents), 0, 1, 1000000, "4096",
	  "agent connections per worker, handshakes included (more are closed at accept)", 0 },
	{ "tunnel", "max_streams", CFG_UINT, OFF(tunnel_max_streams), 0, 1, 65536, "32",
	  "forwarded connections per worker, all tunnels together (each may hold stream_window "
	  "bytes in transmit buffers: keep max_streams * stream_window / rx_buf_size below [io] tx_buffers)", 0 },
	{ "tunnel", "max_forwards", CFG_UINT, OFF(tunnel_max_forwards), 0, 1, 65536, "64",
	  "forward listeners (spctl tunnel open) per worker", 0 },
	{ "tunnel", "stream_window", CFG_SIZE, OFF(tunnel_stream_window), 0, 4096, 1u << 30, "64K",
	  "receive window per stream (agent -> local connection): what a slow local reader may hold", 0 },
	{ "tunnel", "handshake_ms", CFG_UINT, OFF(tunnel_handshake_ms), 0, 100, 600000, "10000",
	  "TLS handshake and Upgrade request within this from accept (slowloris)", 0 },
	{ "tunnel", "heartbeat_ms", CFG_UINT, OFF(tunnel_heartbeat_ms), 0, 100, 3600000, "15000",
	  "PING an agent silent this long; close it after 3 intervals", 0 },
	{ "rtsp", "max_pulls", CFG_UINT, OFF(rtsp_max_pulls), 0, 1, 65536, "256",
	  "cameras pulled over RTSP per worker (through its agent tunnels)", 0 },
	{ "rtsp", "retry_min_ms", CFG_UINT, OFF(rtsp_retry_min_ms), 0, 10, 3600000, "1000",
	  "first retry of a pull that ended, then doubling (with jitter) up to retry_max_ms", 0 },
	{ "rtsp", "retry_max_ms", CFG_UINT, OFF(rtsp_retry_max_ms), 0, 10, 3600000, "30000",
	  "longest wait between attempts of a pull", 0 },
	{ "rtsp", "request_timeout_ms", CFG_UINT, OFF(rtsp_request_timeout_ms), 0, 100, 600000, "10000",
	  "a camera must answer each RTSP request within this", 0 },
	{ "rtsp", "silence_ms", CFG_UINT, OFF(rtsp_silence_ms), 0, 100, 600000, "10000",
	  "a playing camera that sends nothing this long is dropped (and retried)", 0 },
	{ "rings", "main_bytes", CFG_SIZE, OFF(main_ring_bytes), 0, 4096, 1u << 30, "256K",
	  "size of each main-thread ring (commands in, events out)", CFG_POW2 },
	{ "rings", "cmd_bytes", CFG_SIZE, OFF(cmd_ring_bytes), 0, 4096, 1u << 30, "1M",
	  "size of each worker's command ring (spcp -> worker)", CFG_POW2 },
	{ "rings", "evt_bytes", CFG_SIZE, OFF(evt_ring_bytes), 0, 4096, 1u << 30, "1M",
	  "size of each worker's event ring (worker -> spcp); when full, events are dropped and counted",
	  CFG_POW2 },
	{ "rings", "exc_bytes", CFG_SIZE, OFF(exc_ring_bytes), 0, 4096, 1u << 30, "4M",
	  "size of each exception-packet ring, one per direction per worker", CFG_POW2 },
};
const size_t dp_config_nkeys = sizeof(dp_config_keys) / sizeof(dp_config_keys[0]);

int dp_parse_listen(const char *list, struct sp_addr *out, unsigned max)
{
	unsigned n = 0;
	const char *p = list;

	while (*p) {
		char item[SP_ADDR_STRLEN];
		size_t len;

		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		len = strcspn(p, ", ");
		if (len >= sizeof(item) || n == max)
			return -EINVAL;
		memcpy(item, p, len);
		item[len] = '\0';
		if (sp_addr_parse(&out[n], item) < 0 || !out[n].port)
			return -EINVAL;
		n++;
		p += len;
	}
	return (int)n;
}
