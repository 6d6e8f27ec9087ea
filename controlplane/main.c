/*
 * spcp: the streampoint control plane.
 *
 * One epoll loop: the link to spdp (attach, heartbeats, events, TURN
 * requests passed up by spdp), the agent endpoint (when enabled), the
 * control socket for spctl and dpdk-telemetry.py, the MQTT session's queue
 * (when enabled), signals and a 100 ms tick. spcp can
 * be restarted at any time; spdp keeps forwarding meanwhile and the new spcp
 * attaches again.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "clock.h"
#include "cp.h"
#include "ctl.h"
#include "ctlsock.h"
#include "daemon.h"
#include "endpoint.h"
#include "log.h"
#include "mqtt.h"
#include "pulls.h"
#include "sdnotify.h"
#include "tunnels.h"
#include "turn.h"

#define TICK_MS 100

static int add_fd(int epfd, int fd, void *tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* dpdk-telemetry.py finds sockets at <dir>/<file-prefix>/dpdk_telemetry.v2. */
static int dpdk_link_path(const struct cp_config *cfg, char *dir, size_t dlen, char *link, size_t llen)
{
	if (snprintf(dir, dlen, "%s/streampoint-%s", cfg->dpdk_runtime_dir, cfg->instance) >= (int)dlen ||
	    snprintf(link, llen, "%s/dpdk_telemetry.v2", dir) >= (int)llen)
		return -ENAMETOOLONG;
	return 0;
}

int main(int argc, char **argv)
{
	static struct cp_config cfg;
	char tag_signal, tag_timer, tag_ctl, tag_ep, tag_mqtt;
	char sock_path[108], ldir[160], lpath[200];
	gid_t gid = (gid_t)-1;
	int rc, epfd, sfd, tfd, exit_code = EXIT_FAILURE;
	bool linked = false, attached = false;
	struct sdnotify sdn;
	ctlsock *cs;
	dp_link *link;
	cp_flows *flows = NULL;
	cp_turn *turn = NULL;
	cp_endpoint *ep = NULL;
	cp_tunnels *tunnels = NULL;
	cp_pulls *pulls = NULL;
	cp_mqtt *mqtt = NULL;

	rc = cfg_from_args(cp_config_keys, cp_config_nkeys, &cfg, argc, argv, "spcp",
			   "spcp: streampoint control plane");
	if (rc)
		return rc > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
	log_init("spcp", cfg.log_level);
	if (cfg.reattach_min_ms > cfg.reattach_max_ms) {
		log_error(0, "[spcp] reattach_min_ms (%u) is above reattach_max_ms (%u)",
			  cfg.reattach_min_ms, cfg.reattach_max_ms);
		return EXIT_FAILURE;
	}
	if (cfg.ctl_group[0]) {
		struct group *g = getgrnam(cfg.ctl_group);
		if (!g) {
			log_error(0, "[spcp] ctl_group: no such group '%s'", cfg.ctl_group);
			return EXIT_FAILURE;
		}
		gid = g->gr_gid;
	}
	srand((unsigned)(clock_real_ns() ^ (uint64_t)getpid()));
	sfd = daemon_signals();
	if ((rc = sdnotify_open(&sdn)) < 0)
		log_warn(-rc, "NOTIFY_SOCKET/WATCHDOG_USEC unusable: no systemd notifications");

	if ((rc = attach_path(sock_path, sizeof(sock_path), cfg.runtime_dir, cfg.instance, "spcp.sock")) < 0 ||
	    (rc = attach_make_dir(cfg.runtime_dir, cfg.instance, (unsigned)gid)) < 0) {
		log_error(-rc, "runtime directory %s/%s", cfg.runtime_dir, cfg.instance);
		return EXIT_FAILURE;
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (epfd < 0 || sfd < 0 || tfd < 0) {
		log_error(errno, "epoll/signalfd/timerfd");
		return EXIT_FAILURE;
	}
	struct itimerspec its = { .it_interval = { 0, TICK_MS * 1000000L },
				  .it_value = { 0, 1 } };
	timerfd_settime(tfd, 0, &its, NULL);
	add_fd(epfd, sfd, &tag_signal);
	add_fd(epfd, tfd, &tag_timer);

	struct ctlsock_cfg ccfg = { .path = sock_path, .allowed_gid = gid,
				    .mode = gid != (gid_t)-1 ? 0660 : 0600,
				    .version = "streampoint " SP_VERSION, .max_clients = 16,
				    /* flow lists outgrow DPDK's 16 KiB; clients read the greeting */
				    .max_output_len = 1u << 20 };
	cs = ctlsock_listen(&ccfg);
	if (!cs) {
		log_error(errno, "control socket %s", sock_path);
		return EXIT_FAILURE;
	}
	add_fd(epfd, ctlsock_fd(cs), &tag_ctl);
	link = dp_link_create(&cfg, epfd);
	flows = link ? cp_flows_create(link, cfg.max_flows) : NULL;
	turn = flows ? cp_turn_create(&cfg, link) : NULL;
	tunnels = turn ? cp_tunnels_create(link) : NULL;
	pulls = tunnels ? cp_pulls_create(link, flows, tunnels) : NULL;
	if (flows && tunnels)
		cp_flows_set_tunnels(flows, tunnels);
	if (!link || !flows || !turn || !tunnels || !pulls || ctl_register(cs, &cfg, link) < 0 ||
	    cp_flows_register_ctl(flows, cs) < 0 || cp_turn_register_ctl(turn, cs) < 0 ||
	    cp_tunnels_register_ctl(tunnels, cs) < 0 || cp_pulls_register_ctl(pulls, cs) < 0) {
		log_error(errno, "startup");
		goto out_ctl;
	}
	if (cfg.ep_enable) {
		char err[512];
		ep = cp_endpoint_create(&cfg, err, sizeof(err));
		if (!ep) {
			log_error(0, "%s", err);
			goto out_ctl;
		}
		if (cp_endpoint_register_ctl(ep, cs) < 0 || add_fd(epfd, cp_endpoint_fd(ep), &tag_ep) < 0) {
			log_error(errno, "endpoint startup");
			goto out_ctl;
		}
	}
	{
		char err[512];
		mqtt = cp_mqtt_create(&cfg, cs, link, err, sizeof(err));
		if (!mqtt) {
			log_error(0, "%s", err);
			goto out_ctl;
		}
		if (cp_mqtt_register_ctl(mqtt, cs) < 0 ||
		    (cp_mqtt_fd(mqtt) >= 0 && add_fd(epfd, cp_mqtt_fd(mqtt), &tag_mqtt) < 0)) {
			log_error(errno, "mqtt startup");
			goto out_ctl;
		}
	}
	if (cfg.dpdk_link) {
		if (dpdk_link_path(&cfg, ldir, sizeof(ldir), lpath, sizeof(lpath)) < 0 ||
		    (mkdir(cfg.dpdk_runtime_dir, 0755) < 0 && errno != EEXIST) ||
		    (mkdir(ldir, 0750) < 0 && errno != EEXIST) ||
		    (gid != (gid_t)-1 && chown(ldir, (uid_t)-1, gid) < 0) ||
		    ((void)unlink(lpath), symlink(sock_path, lpath) < 0))
			log_warn(errno, "dpdk-telemetry link %s", lpath);
		else
			linked = true;
	}
	log_notice("spcp %s instance '%s': control socket %s", SP_VERSION, cfg.instance, sock_path);
	/* Ready without spdp: spcp attaches whenever spdp comes (and spctl
	 * works meanwhile); waiting for it would fail the unit's start. */
	sdnotify_ready(&sdn, "not attached to spdp");

	for (bool running = true; running;) {
		struct epoll_event evs[16];
		bool armed = dp_link_arm(link);
		int n = epoll_wait(epfd, evs, 16, armed ? TICK_MS : 0);

		if (n < 0 && errno != EINTR) {
			log_error(errno, "epoll_wait");
			break;
		}
		for (int i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;
			if (tag == &tag_signal) {
				running = daemon_signals_read(sfd, "spcp");
			} else if (tag == &tag_timer) {
				uint64_t t;
				ssize_t r = read(tfd, &t, sizeof(t));
				(void)r;
			} else if (tag == &tag_ctl) {
				ctlsock_dispatch(cs);
			} else if (tag == &tag_mqtt) {
				cp_mqtt_dispatch(mqtt);
			} else if (tag == &tag_ep) {
				cp_endpoint_dispatch(ep, clock_mono_ns());
			} else if (dp_link_owns(link, tag)) {
				dp_link_event(link, tag, evs[i].events);
			}
		}
		dp_link_poll(link);
		dp_link_tick(link);
		cp_turn_tick(turn, clock_mono_ns());
		cp_pulls_tick(pulls, clock_mono_ns());
		if (ep)
			cp_endpoint_tick(ep, clock_mono_ns());
		cp_mqtt_tick(mqtt, clock_mono_ns());
		if (dp_link_attached(link) != attached) {
			attached = !attached;
			sdnotify_status(&sdn, attached ? "attached to spdp" : "not attached to spdp");
		}
		sdnotify_watchdog(&sdn, clock_mono_ns(), true);
	}
	sdnotify_send(&sdn, "STOPPING=1");
	exit_code = EXIT_SUCCESS;
	if (linked) {
		unlink(lpath);
		rmdir(ldir);
	}
out_ctl:
	/* first: its down status may still read the other modules */
	cp_mqtt_destroy(mqtt);
	cp_endpoint_destroy(ep);
	cp_pulls_destroy(pulls);
	cp_tunnels_destroy(tunnels);
	cp_turn_destroy(turn);
	cp_flows_destroy(flows);
	dp_link_destroy(link);
	ctlsock_close(cs);
	sdnotify_close(&sdn);
	log_notice("spcp stopped");
	return exit_code;
}
