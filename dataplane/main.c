/*
 * spdp: the streampoint data plane.
 *
 * The main thread creates the shared segment and the doorbells, starts one
 * worker per configured core, serves the attach socket, handles the main
 * command ring (process-wide commands from spcp) and keeps the process
 * heartbeat. Forwarding never depends on spcp: when it goes away spdp goes
 * on with the state it has, and a restarted spcp attaches again.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "attach.h"
#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "dp.h"
#include "log.h"
#include "msg.h"
#include "sdnotify.h"
#include "steer.h"
#include "tls_stream.h"
#include "tunnel.h"

#define MAIN_BURST 32
#define TICK_MS 100

static void main_emit(struct dp *dp, uint16_t type, const void *p, uint32_t len)
{
	if (ring_enqueue(dp->main_evt, type, 1, p, len) < 0) {
		stats_drop(dp->main_stats, DROP_RING_FULL);
		log_rl(LOG_LVL_WARNING, 0, "main event ring full, %s dropped", msg_type_name(type));
		return;
	}
	stats_add(dp->main_stats, STAT_EVENTS, 1);
}

static void main_handle(struct dp *dp, const struct ring_msg *m)
{
	switch (m->type) {
	case MSG_HELLO: {
		struct msg_hello h;
		struct shm_procinfo *pi = shm_procinfo(dp->seg);
		msg_read(m, &h, sizeof(h));
		log_info("hello from spcp pid %d (protocol %u)", h.cp_pid, h.proto_version);
		struct msg_hello_ack a = { .dp_pid = (int32_t)getpid(), .proto_version = MSG_PROTO_VERSION,
					   .n_workers = dp->cfg.workers,
					   .dp_start_real_ns = atomic_load(&pi->dp_start_real_ns) };
		main_emit(dp, MSG_HELLO_ACK, &a, sizeof(a));
		break;
	}
	case MSG_PING: {
		struct msg_ping p;
		msg_read(m, &p, sizeof(p));
		struct msg_pong r = { .seq = p.seq, .sent_ns = p.sent_ns, .recv_ns = clock_mono_ns(),
				      .worker = UINT32_MAX };
		stats_add(dp->main_stats, STAT_PINGS, 1);
		main_emit(dp, MSG_PONG, &r, sizeof(r));
		break;
	}
	case MSG_SET_LOG_LEVEL: {
		struct msg_set_log_level l;
		msg_read(m, &l, sizeof(l));
		log_set_level((int)l.level);
		log_notice("log level set to %s by spcp", log_level_name((int)l.level));
		break;
	}
	default: {
		struct msg_cmd_error e = { .cmd_type = m->type, .error = -EOPNOTSUPP };
		main_emit(dp, MSG_CMD_ERROR, &e, sizeof(e));
	}
	}
}

static void main_drain(struct dp *dp)
{
	struct ring_msg msgs[MAIN_BURST];
	unsigned n;

	while ((n = ring_dequeue_burst(dp->main_cmd, msgs, MAIN_BURST)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			int why = msg_check(&msgs[i], RING_KIND_MAIN_CMD);
			if (why) {
				ring_count_reject(dp->main_cmd);
				stats_drop(dp->main_stats, (enum stat_drop)why);
				log_rl(LOG_LVL_WARNING, 0, "main: rejected message type %u: %s",
				       msgs[i].type, stats_drop_names[why]);
				continue;
			}
			stats_add(dp->main_stats, STAT_CMDS, 1);
			main_handle(dp, &msgs[i]);
		}
		ring_release(dp->main_cmd);
	}
}

/* The first worker whose loop has not turned for limit_ns, or -1: the
 * watchdog must not be fed on behalf of a stuck worker. */
static int stalled_worker(const struct dp *dp, uint64_t now, uint64_t limit_ns)
{
	for (uint32_t w = 0; w < dp->cfg.workers; w++) {
		uint64_t hb = atomic_load_explicit(&dp->workers[w].stats->heartbeat_ns,
						   memory_order_relaxed);
		if (now > hb && now - hb > limit_ns)
			return (int)w;
	}
	return -1;
}

static int resolve_group(const char *name, gid_t *gid)
{
	struct group *g;

	*gid = (gid_t)-1;
	if (!name[0])
		return 0;
	g = getgrnam(name);
	if (!g)
		return -ENOENT;
	*gid = g->gr_gid;
	return 0;
}

static ring *open_ring(struct dp *dp, enum ring_kind kind, uint32_t worker, enum ring_role role)
{
	uint32_t idx = shm_ring_index(kind, worker);
	const struct ring_desc *d = shm_ring_desc(dp->seg, idx);
	return ring_open(shm_ring_ctrl(dp->seg, idx), shm_ring_data(dp->seg, idx), d->capacity,
			 dp->doorbells[d->doorbell], role);
}

static int dp_setup(struct dp *dp)
{
	struct shm_params sp = {
		.workers = dp->cfg.workers, .main_ring_bytes = dp->cfg.main_ring_bytes,
		.cmd_ring_bytes = dp->cfg.cmd_ring_bytes, .evt_ring_bytes = dp->cfg.evt_ring_bytes,
		.exc_ring_bytes = dp->cfg.exc_ring_bytes, .instance = dp->cfg.instance,
		.max_flows = dp->cfg.max_flows, .max_subs = dp->cfg.max_subs,
	};
	struct shm_procinfo *pi;
	int rc;

	rc = attach_path(dp->sock_path, sizeof(dp->sock_path), dp->cfg.runtime_dir,
			 dp->cfg.instance, ATTACH_SOCKET_NAME);
	if (rc < 0) {
		log_error(-rc, "[spdp] runtime_dir/instance make the socket path too long");
		return rc;
	}
	rc = attach_make_dir(dp->cfg.runtime_dir, dp->cfg.instance, (unsigned)dp->ctl_gid);
	if (rc < 0) {
		log_error(-rc, "cannot create %s/%s", dp->cfg.runtime_dir, dp->cfg.instance);
		return rc;
	}
	dp->seg = shm_create(&sp);
	if (!dp->seg) {
		log_error(errno, "cannot create the shared segment");
		return -errno;
	}
	pi = shm_procinfo(dp->seg);
	atomic_store(&pi->dp_pid, (int32_t)getpid());
	atomic_store(&pi->dp_start_real_ns, clock_real_ns());
	atomic_store(&pi->dp_start_mono_ns, clock_mono_ns());
	atomic_store(&pi->dp_heartbeat_ns, clock_mono_ns());

	dp->n_doorbells = shm_header(dp->seg)->n_doorbells;
	for (uint32_t i = 0; i < dp->n_doorbells; i++) {
		dp->doorbells[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (dp->doorbells[i] < 0) {
			log_error(errno, "eventfd");
			return -errno;
		}
	}
	dp->main_cmd = open_ring(dp, RING_KIND_MAIN_CMD, 0, RING_CONSUMER);
	dp->main_evt = open_ring(dp, RING_KIND_MAIN_EVT, 0, RING_PRODUCER);
	dp->main_stats = shm_stats(dp->seg, dp->cfg.workers);
	dp->workers = calloc(dp->cfg.workers, sizeof(*dp->workers));
	if (!dp->main_cmd || !dp->main_evt || !dp->workers)
		return -ENOMEM;
	for (uint32_t w = 0; w < dp->cfg.workers; w++) {
		struct dp_worker *wk = &dp->workers[w];
		wk->id = w;
		wk->dp = dp;
		wk->doorbell = dp->doorbells[SHM_DOORBELL_WORKER(w)];
		wk->stats = shm_stats(dp->seg, w);
		wk->cmd = open_ring(dp, RING_KIND_CMD, w, RING_CONSUMER);
		wk->exc_down = open_ring(dp, RING_KIND_EXC_DOWN, w, RING_CONSUMER);
		wk->evt = open_ring(dp, RING_KIND_EVT, w, RING_PRODUCER);
		wk->exc_up = open_ring(dp, RING_KIND_EXC_UP, w, RING_PRODUCER);
		if (!wk->cmd || !wk->exc_down || !wk->evt || !wk->exc_up)
			return -ENOMEM;
	}
	return 0;
}

static int add_fd(int epfd, int fd, void *tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* n listening TCP sockets bound to `bind` in one SO_REUSEPORT group (the
 * kernel spreads connections over them: one per worker). 0 or -errno. */
static int tcp_listen_open(const struct sp_addr *bind_addr, uint32_t n, int *fds)
{
	struct sockaddr_storage ss;
	socklen_t sl = sp_addr_to_sockaddr(bind_addr, &ss);
	int one = 1, rc;

	for (uint32_t i = 0; i < n; i++) {
		int fd = socket(bind_addr->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
		    (bind_addr->family == AF_INET6 &&
		     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
		    bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, SOMAXCONN) < 0) {
			rc = -errno;
			if (fd >= 0)
				close(fd);
			while (i--)
				close(fds[i]);
			return rc;
		}
		fds[i] = fd;
	}
	return 0;
}

/* Every address of one [turn] listen* key, one socket per worker each. */
static int turn_listeners(struct dp *dp, const char *key, const char *list, uint8_t tp)
{
	struct sp_addr la[DP_TURN_MAX_LISTENERS];
	int nl = dp_parse_listen(list, la, DP_TURN_MAX_LISTENERS), rc;

	if (nl <= 0) {
		log_error(0, "[turn] %s: '%s' is not a list of at most %d IP:port addresses", key,
			  list, DP_TURN_MAX_LISTENERS);
		return -EINVAL;
	}
	for (int k = 0; k < nl; k++) {
		int fds[SHM_MAX_WORKERS];
		char buf[SP_ADDR_STRLEN];
		rc = tp == MSG_TURN_TP_UDP ? steer_open(&la[k], dp->cfg.workers, fds)
					   : tcp_listen_open(&la[k], dp->cfg.workers, fds);
		if (rc < 0) {
			log_error(-rc, "[turn] %s %s", key, sp_addr_str(&la[k], buf));
			return rc;
		}
		for (uint32_t w = 0; w < dp->cfg.workers; w++) {
			struct dp_worker *wk = &dp->workers[w];
			wk->turn_fd_tp[wk->n_turn_fds] = tp;
			wk->turn_fds[wk->n_turn_fds++] = fds[w];
		}
		log_info("TURN %s listener %s: %u sockets%s", tp == MSG_TURN_TP_UDP ? "UDP" :
			 tp == MSG_TURN_TP_TCP ? "TCP" : "TLS", sp_addr_str(&la[k], buf),
			 dp->cfg.workers, tp == MSG_TURN_TP_UDP ? ", steered by source address" : "");
	}
	return 0;
}

/* [tunnel]: TLS context, token keys, one listener socket per worker per
 * address. 0 or -1 (logged). */
static int tunnel_setup(struct dp *dp)
{
	const struct dp_config *c = &dp->cfg;
	struct sp_addr la[DP_TURN_MAX_LISTENERS];
	char why[512];
	int nl = dp_parse_listen(c->tunnel_listen, la, DP_TURN_MAX_LISTENERS), rc;

	if (nl <= 0) {
		log_error(0, "[tunnel] listen: '%s' is not a list of at most %d IP:port addresses",
			  c->tunnel_listen, DP_TURN_MAX_LISTENERS);
		return -1;
	}
	if (!c->tunnel_tls_cert[0] || !c->tunnel_tls_key[0] || !c->tunnel_token_key_file[0] ||
	    !agent_auth_id_valid(c->tunnel_streampoint_id, strlen(c->tunnel_streampoint_id))) {
		log_error(0, "[tunnel] listen needs tls_cert, tls_key, token_key_file and a streampoint_id "
			  "(1..64 of [A-Za-z0-9._:-])");
		return -1;
	}
	dp->tunnel_keys = agent_auth_keyring_new();
	/* verify only: a current key is allowed (the file is spcp's too), not needed */
	rc = dp->tunnel_keys ? agent_auth_keyring_load(dp->tunnel_keys, c->tunnel_token_key_file,
						       false, why, sizeof(why)) : -ENOMEM;
	int nkeys = rc;
	if (rc <= 0) {
		log_error(0, "[tunnel] token_key_file %s", rc == -ENOMEM ? "out of memory" : why);
		return -1;
	}
	dp->tunnel_tls = tls_server_create(c->tunnel_tls_cert, c->tunnel_tls_key,
					   c->tunnel_tls_min_version, why, sizeof(why));
	if (!dp->tunnel_tls) {
		log_error(0, "[tunnel] TLS: %s", why);
		return -1;
	}
	uint64_t need = (uint64_t)c->tunnel_max_streams * (c->tunnel_stream_window / c->rx_buf_size + 2);
	if (need > c->tx_buffers)
		log_warn(0, "[tunnel] max_streams x stream_window needs up to %llu transmit buffers per "
			 "worker, [io] tx_buffers is %u: streams beyond it are closed (tx_no_buffer)",
			 (unsigned long long)need, c->tx_buffers);
	for (int k = 0; k < nl; k++) {
		int fds[SHM_MAX_WORKERS];
		char buf[SP_ADDR_STRLEN];
		if ((rc = tcp_listen_open(&la[k], c->workers, fds)) < 0) {
			log_error(-rc, "[tunnel] listen %s", sp_addr_str(&la[k], buf));
			return -1;
		}
		for (uint32_t w = 0; w < c->workers; w++)
			dp->workers[w].tun_fds[dp->workers[w].n_tun_fds++] = fds[w];
		log_info("agent tunnel listener %s: %u sockets, %d token keys", sp_addr_str(&la[k], buf),
			 c->workers, nkeys);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct dp dp;
	struct dp_attach_server *as;
	char tag_signal, tag_timer, tag_doorbell;
	int rc, epfd, sfd, tfd, started = 0, exit_code = EXIT_FAILURE, stalled = -1;
	struct sdnotify sdn;
	uint64_t stall_limit;

	rc = cfg_from_args(dp_config_keys, dp_config_nkeys, &dp.cfg, argc, argv, "spdp",
			   "spdp: streampoint data plane");
	if (rc)
		return rc > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
	log_init("spdp", dp.cfg.log_level);
	if (resolve_group(dp.cfg.ctl_group, &dp.ctl_gid) < 0) {
		log_error(0, "[spdp] ctl_group: no such group '%s'", dp.cfg.ctl_group);
		return EXIT_FAILURE;
	}
	sfd = daemon_signals(); /* before the workers start: only this thread takes them */
	if ((rc = sdnotify_open(&sdn)) < 0) /* before threads: it unsets the variables */
		log_warn(-rc, "NOTIFY_SOCKET/WATCHDOG_USEC unusable: no systemd notifications");
	/* Half the watchdog interval, but never less than an idle worker may
	 * sleep between heartbeats (plus a tick of slack). */
	stall_limit = sdn.watchdog_ns / 2;
	if (stall_limit < (2ull * dp.cfg.idle_sleep_ms + TICK_MS) * 1000000)
		stall_limit = (2ull * dp.cfg.idle_sleep_ms + TICK_MS) * 1000000;

	if (dp_setup(&dp) < 0)
		goto out;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (epfd < 0 || sfd < 0 || tfd < 0) {
		log_error(errno, "epoll/signalfd/timerfd");
		goto out;
	}
	struct itimerspec its = { .it_interval = { 0, TICK_MS * 1000000L },
				  .it_value = { 0, TICK_MS * 1000000L } };
	timerfd_settime(tfd, 0, &its, NULL);
	add_fd(epfd, sfd, &tag_signal);
	add_fd(epfd, tfd, &tag_timer);
	add_fd(epfd, dp.doorbells[SHM_DOORBELL_MAIN], &tag_doorbell);

	for (uint32_t w = 0; w < dp.cfg.workers; w++)
		dp.workers[w].shared_fd = -1;
	if (dp.cfg.shared_port) {
		struct sp_addr a;
		char buf[80];
		int fds[SHM_MAX_WORKERS];
		snprintf(buf, sizeof(buf), strchr(dp.cfg.media_address, ':') ? "[%s]:%u" : "%s:%u",
			 dp.cfg.media_address, dp.cfg.shared_port);
		if (sp_addr_parse(&a, buf) < 0 || (rc = steer_open(&a, dp.cfg.workers, fds)) < 0) {
			log_error(-rc, "[media] shared_port %u on %s", dp.cfg.shared_port,
				  dp.cfg.media_address);
			goto out;
		}
		for (uint32_t w = 0; w < dp.cfg.workers; w++)
			dp.workers[w].shared_fd = fds[w];
		log_info("shared ingest port %s: %u sockets, steered by source address", buf,
			 dp.cfg.workers);
	}
	if (dp.cfg.turn_listen_tls[0]) {
		char why[512];
		if (!dp.cfg.turn_tls_cert[0] || !dp.cfg.turn_tls_key[0]) {
			log_error(0, "[turn] listen_tls needs tls_cert and tls_key");
			goto out;
		}
		dp.turn_tls = tls_server_create(dp.cfg.turn_tls_cert, dp.cfg.turn_tls_key,
						dp.cfg.turn_tls_min_version, why, sizeof(why));
		if (!dp.turn_tls) {
			log_error(0, "[turn] TLS: %s", why);
			goto out;
		}
	}
	if ((dp.cfg.turn_listen_tcp[0] || dp.cfg.turn_listen_tls[0]) && !dp.cfg.turn_listen[0]) {
		log_error(0, "[turn] listen_tcp/listen_tls need the UDP listen as well");
		goto out;
	}
	if ((dp.cfg.turn_listen[0] &&
	     turn_listeners(&dp, "listen", dp.cfg.turn_listen, MSG_TURN_TP_UDP) < 0) ||
	    (dp.cfg.turn_listen_tcp[0] &&
	     turn_listeners(&dp, "listen_tcp", dp.cfg.turn_listen_tcp, MSG_TURN_TP_TCP) < 0) ||
	    (dp.cfg.turn_listen_tls[0] &&
	     turn_listeners(&dp, "listen_tls", dp.cfg.turn_listen_tls, MSG_TURN_TP_TLS) < 0))
		goto out;
	if (dp.cfg.tunnel_listen[0] && tunnel_setup(&dp) < 0)
		goto out;
	for (uint32_t w = 0; w < dp.cfg.workers; w++) {
		if ((rc = dp_worker_start(&dp.workers[w])) < 0) {
			log_error(-rc, "cannot start worker %u", w);
			goto out_workers;
		}
		started++;
	}
	if (dp.cfg.port_max - dp.cfg.port_min + 1 < 2 * dp.cfg.workers) {
		log_error(0, "[media] port_min..port_max must hold at least one port pair per worker");
		goto out_workers;
	}
	as = dp_attach_server_open(&dp, epfd);
	if (!as)
		goto out_workers;
	log_notice("spdp %s instance '%s' running: %u workers, segment %llu bytes", SP_VERSION,
		   dp.cfg.instance, dp.cfg.workers,
		   (unsigned long long)shm_header(dp.seg)->total_size);
	/* Ready once every worker runs and spcp can attach: the units order spcp
	 * after spdp on this. */
	sdnotify_ready(&sdn, "forwarding");

	for (bool running = true; running;) {
		struct epoll_event evs[16];
		int n;

		/* Arm before sleeping so spcp rings the main doorbell. */
		bool armed = ring_arm(dp.main_cmd);
		n = epoll_wait(epfd, evs, 16, armed ? TICK_MS : 0);
		ring_disarm(dp.main_cmd);
		if (n < 0 && errno != EINTR) {
			log_error(errno, "epoll_wait");
			break;
		}
		for (int i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;
			if (tag == &tag_signal) {
				running = daemon_signals_read(sfd, "spdp");
			} else if (tag == &tag_timer) {
				uint64_t ticks;
				ssize_t r = read(tfd, &ticks, sizeof(ticks));
				(void)r;
				dp_attach_server_tick(as);
			} else if (tag == &tag_doorbell) {
				uint64_t v;
				ssize_t r = read(dp.doorbells[SHM_DOORBELL_MAIN], &v, sizeof(v));
				(void)r;
			} else {
				dp_attach_server_event(as, tag, evs[i].events);
			}
		}
		uint64_t now = clock_mono_ns();
		atomic_store(&shm_procinfo(dp.seg)->dp_heartbeat_ns, now);
		atomic_store_explicit(&dp.main_stats->heartbeat_ns, now, memory_order_relaxed);
		stats_add(dp.main_stats, STAT_LOOPS, 1);
		main_drain(&dp);
		int st = sdn.watchdog_ns ? stalled_worker(&dp, now, stall_limit) : -1;
		if (st != stalled) {
			if (st >= 0) {
				log_warn(0, "worker %d has not turned its loop for %llu ms: "
					  "holding back the watchdog", st,
					  (unsigned long long)(stall_limit / 1000000));
				sdnotify_status(&sdn, "worker %d stalled", st);
			} else {
				log_notice("workers turning again");
				sdnotify_status(&sdn, "forwarding");
			}
			stalled = st;
		}
		sdnotify_watchdog(&sdn, now, st < 0);
	}
	sdnotify_send(&sdn, "STOPPING=1");
	exit_code = EXIT_SUCCESS;
	atomic_store(&shm_procinfo(dp.seg)->shutting_down, 1);
	dp_attach_server_close(as);
out_workers:
	for (int w = 0; w < started; w++)
		dp_worker_stop(&dp.workers[w]);
out:
	tls_server_destroy(dp.turn_tls);
	tls_server_destroy(dp.tunnel_tls);
	agent_auth_keyring_free(dp.tunnel_keys);
	sdnotify_close(&sdn);
	log_notice("spdp stopped");
	return exit_code;
}
