/*
 * spctl: the operator's tool. Asks spcp over its control socket and reads
 * spdp's shared segment itself (read-only), so it still reports the data
 * plane when the control plane is down.
 *
 * Exit status: 0 both processes reachable and attached; 2 spcp unreachable;
 * 3 spdp unreachable; 4 neither; 5 both up but not (yet) attached;
 * 1 usage or request error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "attach.h"
#include "ctlsock.h"
#include "shm.h"
#include "snapshot.h"
#include "status.h"

enum { EXIT_USAGE = 1, EXIT_NO_CP = 2, EXIT_NO_DP = 3, EXIT_NONE = 4, EXIT_DETACHED = 5 };

static struct {
	const char *instance;
	const char *runtime_dir;
	bool json;
	int timeout_ms;
} opt = { "default", "/run/streampoint", false, 2000 };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: spctl [-i INSTANCE] [-r RUNTIME_DIR] [--json] [-t MS] COMMAND\n"
		"commands:\n"
		"  status              spcp and spdp: pids, uptime, workers, rings, drops by reason\n"
		"  log-level [LEVEL]   show or set the log level of both processes\n"
		"  config              spcp's effective configuration\n"
		"  flows               every flow (flow ID: one flow with its subscribers)\n"
		"  flow add|del K=V... create/delete a flow, e.g. flow add id=1 source=10.0.0.5:5004\n"
		"  sub add|del K=V...  add/remove a subscriber, e.g. sub add flow=1 id=1 rtp=10.0.0.9:6000\n"
		"  turn                TURN server: allocations, answers by code, peers denied (spcp)\n"
		"  turn allocs         TURN allocations: user, client, relay, expiry (spcp)\n"
		"  agents              agent endpoint: agents, refusals by reason, streampoints (spcp)\n"
		"  agent switch DEVICE STREAMPOINT   move an agent's tunnel (SWITCH)\n"
		"  agent goaway DEVICE send an agent to its next endpoint (GOAWAY shutdown)\n"
		"  agent revoke DEVICE refuse a device from now on (GOAWAY auth if connected)\n"
		"  streampoint down|up ID  stop/resume assigning a streampoint (down moves its agents)\n"
		"  tunnels             agent tunnels (device, worker) and forwards\n"
		"  mqtt                MQTT session: connected, broker, last error, counters\n"
		"  tunnel open DEVICE PORT [--host H] [--idle-ms N]\n"
		"                      a local port forwarded through DEVICE's tunnel to H:PORT\n"
		"                      (default 127.0.0.1 on the agent side); prints 127.0.0.1:LOCALPORT\n"
		"  tunnel close ID     close forward ID's listener\n"
		"  snapshot DEVICE [--port 80] [--host 127.0.0.1] [--path /snapshot.jpg]\n"
		"           [--user U --pass P | --auth-file F] [-o FILE] [--timeout-ms 10000]\n"
		"                      GET a camera-local HTTP path through DEVICE's tunnel (a\n"
		"                      short-lived forward); body to FILE or stdout, summary to stderr;\n"
		"                      exit 6 no tunnel, 7 HTTP >= 400 (or 3xx), 8 timeout, 9 malformed,\n"
		"                      10 refused by the agent / no answer\n"
		"  rtsp                RTSP pulls: state, attempts, last end, tracks\n"
		"  rtsp pull|stop K=V... pull a camera through its agent into ingest flows, e.g.\n"
		"                      flow add id=1 ingest=cam-1 codec=h264; rtsp pull id=1 device=cam-1\n"
		"                      url=rtsp://127.0.0.1:554/live flow=1 [user=U pass=P]; rtsp stop id=1\n"
		"  call PATH[,PARAMS]  raw control-socket request (e.g. call /)\n"
		"environment: SP_INSTANCE, SP_RUNTIME_DIR\n"
		"exit: 0 ok, 2 spcp unreachable, 3 spdp unreachable, 4 neither, 5 not attached, 1 error\n");
}

static int cp_call(const char *request, cJSON **reply, char *err, size_t errlen)
{
	char path[108];
	int fd, rc;

	if (attach_path(path, sizeof(path), opt.runtime_dir, opt.instance, "spcp.sock") < 0) {
		snprintf(err, errlen, "socket path too long");
		return -ENAMETOOLONG;
	}
	fd = ctlsock_connect(path, NULL);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-fd));
		return fd;
	}
	rc = ctlsock_call(fd, request, opt.timeout_ms, reply);
	close(fd);
	if (rc < 0)
		snprintf(err, errlen, "%s: %s", request, strerror(-rc));
	return rc;
}

static cJSON *dp_observe(char *err, size_t errlen)
{
	struct attach_result ar;
	char path[108], why[160];
	shm_seg *seg;
	cJSON *o;
	int rc;

	if (attach_path(path, sizeof(path), opt.runtime_dir, opt.instance, ATTACH_SOCKET_NAME) < 0) {
		snprintf(err, errlen, "socket path too long");
		return NULL;
	}
	rc = attach_connect(path, ATTACH_OBSERVE, opt.timeout_ms, &ar);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return NULL;
	}
	seg = shm_map(ar.shm_fd, false, why, sizeof(why));
	if (!seg) {
		snprintf(err, errlen, "segment from %s unusable: %s", path, why);
		attach_result_close(&ar);
		return NULL;
	}
	o = status_spdp_json(seg);
	shm_unmap(seg);
	attach_result_close(&ar);
	return o;
}

static double num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static bool flag(const cJSON *o, const char *k)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static void print_table(const cJSON *cp, const cJSON *dp)
{
	const cJSON *r, *w;

	if (flag(cp, "reachable")) {
		printf("spcp  pid %-7.0f up %-9.1fs ", num(cp, "pid"), num(cp, "uptime_s"));
		if (flag(cp, "attached"))
			printf("attached to spdp pid %.0f (attach #%.0f)", num(cp, "dp_pid"),
			       num(cp, "attach_count"));
		else
			printf("NOT attached (attempts %.0f)", num(cp, "attach_attempts"));
		const cJSON *ll = cJSON_GetObjectItemCaseSensitive(cp, "log_level");
		printf("  log %s\n", cJSON_IsString(ll) ? ll->valuestring : "?");
	} else {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(cp, "error");
		printf("spcp  UNREACHABLE (%s)\n", cJSON_IsString(e) ? e->valuestring : "?");
	}
	if (!flag(dp, "reachable")) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(dp, "error");
		printf("spdp  UNREACHABLE (%s)\n", cJSON_IsString(e) ? e->valuestring : "?");
		return;
	}
	printf("spdp  pid %-7.0f up %-9.1fs workers %.0f  heartbeat %.0f ms ago  ", num(dp, "pid"),
	       num(dp, "uptime_s"), num(dp, "workers"), num(dp, "heartbeat_age_ms"));
	if (flag(dp, "cp_attached"))
		printf("spcp pid %.0f attached\n", num(dp, "cp_pid"));
	else
		printf("no spcp attached\n");

	printf("\n%-9s %6s %10s %9s %7s %10s %10s %8s %8s %7s\n", "RING", "WORKER", "CAPACITY",
	       "USED", "DEPTH", "ENQUEUED", "DEQUEUED", "FULL", "REJECTED", "CORRUPT");
	cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(dp, "rings")) {
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(r, "kind");
		const cJSON *wk = cJSON_GetObjectItemCaseSensitive(r, "worker");
		char wbuf[16] = "-";
		if (cJSON_IsNumber(wk))
			snprintf(wbuf, sizeof(wbuf), "%d", wk->valueint);
		printf("%-9s %6s %10.0f %9.0f %7.0f %10.0f %10.0f %8.0f %8.0f %7.0f\n",
		       cJSON_IsString(k) ? k->valuestring : "?", wbuf, num(r, "capacity"),
		       num(r, "used_bytes"), num(r, "depth"), num(r, "enqueued"), num(r, "dequeued"),
		       num(r, "drops_full"), num(r, "rejected"), num(r, "corrupt"));
	}
	printf("\n%-7s %12s %12s %10s %10s %10s\n", "WORKER", "HEARTBEAT_MS", "LOOPS", "COMMANDS",
	       "EVENTS", "PINGS");
	cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(dp, "workers_stats")) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(w, "worker");
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(w, "counters");
		char ibuf[16];
		if (cJSON_IsString(id))
			snprintf(ibuf, sizeof(ibuf), "%s", id->valuestring);
		else
			snprintf(ibuf, sizeof(ibuf), "%d", id ? id->valueint : -1);
		printf("%-7s %12.0f %12.0f %10.0f %10.0f %10.0f\n", ibuf, num(w, "heartbeat_age_ms"),
		       num(c, "loops"), num(c, "commands"), num(c, "events"), num(c, "pings"));
	}
	printf("\nDROPS  ");
	const cJSON *d;
	cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(dp, "drops"))
		printf(" %s=%.0f", d->string, d->valuedouble);
	printf("\n");
}

static int cmd_status(void)
{
	char err[512];
	cJSON *reply = NULL, *cp, *dp, *out;
	int code;

	if (cp_call("/status", &reply, err, sizeof(err)) == 0 && cJSON_IsObject(reply)) {
		cp = cJSON_DetachItemFromObjectCaseSensitive(reply, "spcp");
	} else {
		cp = NULL;
	}
	if (!cp) {
		cp = cJSON_CreateObject();
		cJSON_AddBoolToObject(cp, "reachable", 0);
		cJSON_AddStringToObject(cp, "error", err);
	}
	dp = dp_observe(err, sizeof(err));
	if (!dp) {
		dp = cJSON_CreateObject();
		cJSON_AddBoolToObject(dp, "reachable", 0);
		cJSON_AddStringToObject(dp, "error", err);
	}
	cJSON_Delete(reply);

	bool cp_ok = flag(cp, "reachable"), dp_ok = flag(dp, "reachable");
	code = cp_ok && dp_ok ? (flag(cp, "attached") ? 0 : EXIT_DETACHED) :
	       cp_ok ? EXIT_NO_DP : dp_ok ? EXIT_NO_CP : EXIT_NONE;
	if (opt.json) {
		out = cJSON_CreateObject();
		cJSON_AddItemToObject(out, "spcp", cp);
		cJSON_AddItemToObject(out, "spdp", dp);
		char *s = cJSON_Print(out);
		puts(s);
		free(s);
		cJSON_Delete(out);
	} else {
		print_table(cp, dp);
		cJSON_Delete(cp);
		cJSON_Delete(dp);
	}
	return code;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "-";
}

static void print_flow_row(const cJSON *f)
{
	printf("%-8.0f %6.0f %-8s %6.0f %-22s %5.0f %12.0f %12.0f %6.0f %5.0f\n", num(f, "flow"),
	       num(f, "worker"), str(f, "state"), num(f, "rtp_port"), str(f, "source"),
	       num(f, "subscribers"), num(f, "rx_pkts"), num(f, "fanout_sends"), num(f, "keyframes"),
	       num(f, "drops"));
}

static void print_flows_table(const cJSON *r, bool one)
{
	const cJSON *e;

	printf("%-8s %6s %-8s %6s %-22s %5s %12s %12s %6s %5s\n", "FLOW", "WORKER", "STATE", "PORT",
	       "SOURCE", "SUBS", "RX_PKTS", "FANOUT", "KEYFR", "DROPS");
	if (one) {
		print_flow_row(r);
		printf("srtp: %s", str(r, "srtp"));
		if (strcmp(str(r, "srtp"), "plain"))
			printf("  auth failures %.0f, replays %.0f%s", num(r, "srtp_auth_fail"),
			       num(r, "srtp_replay"), cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "key_expired"))
			       ? "  KEY EXPIRED" : "");
		printf("\n");
		printf("\n%-8s %-8s %-11s %-22s %-22s %12s %8s %8s %8s %8s %8s\n", "SUB", "STATE", "MODE",
		       "RTP", "RTCP", "TX_PKTS", "ERRORS", "RTCP_IN", "NACK_RS", "FASTST", "SRTP_BAD");
		const cJSON *stats = cJSON_GetObjectItemCaseSensitive(r, "subs_stats");
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(r, "subs")) {
			const cJSON *st = NULL, *x;
			cJSON_ArrayForEach(x, stats)
				if (num(x, "sub") == num(e, "sub"))
					st = x;
			printf("%-8.0f %-8s %-11s %-22s %-22s %12.0f %8.0f %8.0f %8.0f %8.0f %8.0f\n",
			       num(e, "sub"), str(e, "state"), str(e, "mode"), str(e, "rtp"), str(e, "rtcp"),
			       num(st, "tx_pkts"), num(st, "send_errors"), num(st, "rtcp_in"),
			       num(st, "nack_resent"), num(st, "fast_start"), num(st, "srtp_auth_fail"));
		}
		return;
	}
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(r, "flows"))
		print_flow_row(e);
	printf("(%0.f flows)\n", num(r, "count"));
}

static void print_agents_table(const cJSON *r)
{
	const cJSON *e;

	printf("%-24s %-24s %-20s %-12s %8s\n", "DEVICE", "SOURCE", "SINCE", "STREAMPOINT", "HEARD_S");
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(r, "agents")) {
		char since[32];
		time_t t = (time_t)num(e, "since");
		struct tm tm;
		strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
		printf("%-24s %-24s %-20s %-12s %8.1f\n", str(e, "device"), str(e, "source"), since,
		       str(e, "streampoint"), num(e, "last_heard_s"));
	}
	printf("(%.0f agents, %.0f connections)\nrefused:", num(r, "count"), num(r, "connections"));
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(r, "refused"))
		if (cJSON_IsNumber(e) && e->valuedouble > 0)
			printf(" %s=%.0f", e->string, e->valuedouble);
	printf("\nstreampoints:");
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(r, "streampoints"))
		printf(" %s@%s%s(%.0f)", str(e, "id"), str(e, "addr"),
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "down")) ? "[down]" : "",
		       num(e, "agents"));
	printf("\n");
}

static int print_call(const char *request)
{
	char err[512];
	cJSON *reply = NULL;

	if (cp_call(request, &reply, err, sizeof(err)) < 0) {
		fprintf(stderr, "spctl: %s\n", err);
		return EXIT_NO_CP;
	}
	bool is_err = cJSON_GetObjectItemCaseSensitive(reply, "error") != NULL;
	if (cJSON_IsString(reply) && !opt.json) {
		fputs(reply->valuestring, stdout);
	} else if (!opt.json && !is_err && cJSON_IsObject(reply) &&
		   (!strcmp(request, "/flows") || !strncmp(request, "/flow,", 6))) {
		print_flows_table(reply, request[5] == ',');
	} else if (!opt.json && !is_err && cJSON_IsObject(reply) && !strcmp(request, "/agents")) {
		print_agents_table(reply);
	} else {
		char *s = opt.json ? cJSON_Print(reply) : cJSON_Print(reply);
		puts(s ? s : "null");
		free(s);
	}
	bool failed = cJSON_IsNull(reply) || cJSON_GetObjectItemCaseSensitive(reply, "error");
	cJSON_Delete(reply);
	return failed ? EXIT_USAGE : 0;
}

/* tunnel open: ask spcp, then poll the forward until spdp answered. */
static int cmd_tunnel_open(int argc, char **argv)
{
	const char *host = NULL, *idle = NULL;
	char req[1024], err[512];
	cJSON *reply = NULL;

	if (argc < 2)
		goto usage;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--host") && i + 1 < argc)
			host = argv[++i];
		else if (!strcmp(argv[i], "--idle-ms") && i + 1 < argc)
			idle = argv[++i];
		else
			goto usage;
	}
	int n = snprintf(req, sizeof(req), "/tunnel/open,device=%s&port=%s%s%s%s%s", argv[0], argv[1],
			 host ? "&host=" : "", host ? host : "", idle ? "&idle_ms=" : "", idle ? idle : "");
	if (n <= 0 || (size_t)n >= sizeof(req) || strpbrk(argv[0], "& ,") ||
	    (host && strpbrk(host, "& ,")))
		goto usage;
	if (cp_call(req, &reply, err, sizeof(err)) < 0) {
		fprintf(stderr, "spctl: %s\n", err);
		return EXIT_NO_CP;
	}
	for (int waited = 0;; waited += 20) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(reply, "error");
		const char *state = str(reply, "state");
		if (e || strcmp(state, "pending") || waited >= opt.timeout_ms) {
			bool ok = !e && !strcmp(state, "listening");
			if (opt.json || !ok) {
				char *s = cJSON_Print(reply);
				fprintf(ok ? stdout : stderr, "%s%s\n", ok ? "" : "spctl: ", s ? s : "null");
				free(s);
			} else {
				printf("127.0.0.1:%.0f\n", num(reply, "port"));
			}
			cJSON_Delete(reply);
			return ok ? 0 : EXIT_USAGE;
		}
		snprintf(req, sizeof(req), "/tunnel/forward,id=%.0f", num(reply, "id"));
		cJSON_Delete(reply);
		reply = NULL;
		usleep(20000);
		if (cp_call(req, &reply, err, sizeof(err)) < 0) {
			fprintf(stderr, "spctl: %s\n", err);
			return EXIT_NO_CP;
		}
	}
usage:
	fprintf(stderr, "spctl: tunnel open DEVICE PORT [--host H] [--idle-ms N]\n");
	return EXIT_USAGE;
}

/* ---- snapshot: a short-lived forward, one GET through it, closed ---- */

enum { EXIT_SNAP_NO_TUNNEL = 6, EXIT_SNAP_HTTP, EXIT_SNAP_TIMEOUT, EXIT_SNAP_MALFORMED,
       EXIT_SNAP_NO_ANSWER };

/* One line USER:PASSWORD (the password may hold ':'). */
static int read_auth_file(const char *path, char *user, size_t ucap, char *pass, size_t pcap)
{
	char line[1024];
	FILE *f = fopen(path, "re");
	int rc = -EINVAL;

	if (!f)
		return -errno;
	if (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		char *c = strchr(line, ':');
		if (c && c != line && (size_t)(c - line) < ucap && strlen(c + 1) < pcap) {
			*c = '\0';
			memcpy(user, line, (size_t)(c - line) + 1); /* lengths checked above */
			memcpy(pass, c + 1, strlen(c + 1) + 1);
			rc = 0;
		}
	}
	fclose(f);
	OPENSSL_cleanse(line, sizeof(line));
	return rc;
}

/* One of spdp's drop counters, or -1 when spdp cannot be observed. */
static double dp_drop(const char *name)
{
	char err[256];
	cJSON *dp = dp_observe(err, sizeof(err));
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(dp, "drops"),
							 name);
	double x = cJSON_IsNumber(v) ? v->valuedouble : -1;

	cJSON_Delete(dp);
	return x;
}

/* Asks for the forward's state until it leaves `from` or the deadline. */
static cJSON *fwd_poll(cJSON *reply, uint32_t id, const char *from, uint64_t deadline)
{
	char req[64], err[256];

	while (!cJSON_GetObjectItemCaseSensitive(reply, "error") && !strcmp(str(reply, "state"), from) &&
	       snap_now_ms() < deadline) {
		usleep(20000);
		snprintf(req, sizeof(req), "/tunnel/forward,id=%u", id);
		cJSON_Delete(reply);
		reply = NULL;
		if (cp_call(req, &reply, err, sizeof(err)) < 0)
			break;
	}
	return reply;
}

static void fwd_close(uint32_t id)
{
	char req[64], err[256];
	cJSON *reply = NULL;

	snprintf(req, sizeof(req), "/tunnel/close,id=%u", id);
	if (cp_call(req, &reply, err, sizeof(err)) < 0 || cJSON_GetObjectItemCaseSensitive(reply, "error")) {
		fprintf(stderr, "spctl: snapshot: closing forward %u: %s\n", id,
			reply ? str(reply, "error") : err);
		cJSON_Delete(reply);
		return;
	}
	/* spdp answers through the ring: wait a little so `spctl tunnels` is current */
	cJSON_Delete(fwd_poll(reply, id, "listening", snap_now_ms() + 1000));
}

static void snap_summary(const char *dev, const struct snap_req *q, const struct snap_result *r,
			 const char *why, uint64_t ms, uint32_t fwd)
{
	if (opt.json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "device", dev);
		cJSON_AddStringToObject(o, "host", q->host);
		cJSON_AddNumberToObject(o, "port", q->port);
		cJSON_AddStringToObject(o, "path", q->path);
		if (r->status)
			cJSON_AddNumberToObject(o, "status", r->status);
		if (r->content_type[0])
			cJSON_AddStringToObject(o, "content_type", r->content_type);
		cJSON_AddNumberToObject(o, "bytes", (double)r->len);
		cJSON_AddNumberToObject(o, "ms", (double)ms);
		cJSON_AddStringToObject(o, "auth", r->auth ? r->auth : "none");
		if (fwd)
			cJSON_AddNumberToObject(o, "forward", fwd);
		if (why)
			cJSON_AddStringToObject(o, "error", why);
		char *s = cJSON_PrintUnformatted(o);
		fprintf(stderr, "%s\n", s ? s : "{}");
		free(s);
		cJSON_Delete(o);
		return;
	}
	if (why)
		fprintf(stderr, "spctl: snapshot %s %s:%u%s: %s\n", dev, q->host, q->port, q->path, why);
	else
		fprintf(stderr, "snapshot %s %s:%u%s: %d %s, %s, %zu bytes, %" PRIu64 " ms, auth %s\n",
			dev, q->host, q->port, q->path, r->status, r->reason,
			r->content_type[0] ? r->content_type : "no content-type", r->len, ms, r->auth);
}

static int cmd_snapshot(int argc, char **argv)
{
	const char *dev, *file = NULL, *auth_file = NULL;
	char user[256] = "", pass[256] = "", req[1024], err[512];
	char why[sizeof(((struct snap_result *)0)->why) + 64];
	struct snap_req q = { .host = "127.0.0.1", .port = 80, .path = "/snapshot.jpg",
			      .max_body = 16u << 20 };
	struct snap_result r = { .auth = "none" };
	uint32_t timeout_ms = 10000, port = 80, id = 0;
	cJSON *reply = NULL;
	int code = 0;

	if (argc < 1 || argv[0][0] == '-')
		goto usage;
	dev = argv[0];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end;
		if (!v)
			goto usage;
		i++;
		if (!strcmp(a, "--port")) {
			unsigned long x = strtoul(v, &end, 10);
			if (*end || !x || x > 65535)
				goto usage;
			port = (uint32_t)x;
		} else if (!strcmp(a, "--host")) {
			q.host = v;
		} else if (!strcmp(a, "--path")) {
			q.path = v;
		} else if (!strcmp(a, "--user")) {
			snprintf(user, sizeof(user), "%s", v);
		} else if (!strcmp(a, "--pass")) {
			snprintf(pass, sizeof(pass), "%s", v);
		} else if (!strcmp(a, "--auth-file")) {
			auth_file = v;
		} else if (!strcmp(a, "-o")) {
			file = v;
		} else if (!strcmp(a, "--timeout-ms")) {
			unsigned long x = strtoul(v, &end, 10);
			if (*end || !x || x > 3600000)
				goto usage;
			timeout_ms = (uint32_t)x;
		} else {
			goto usage;
		}
	}
	if (q.path[0] != '/')
		goto usage;
	if ((user[0] != 0) != (pass[0] != 0) || (auth_file && user[0])) {
		fprintf(stderr, "spctl: snapshot: give --user and --pass together, or --auth-file\n");
		return EXIT_USAGE;
	}
	if (auth_file) {
		int rc = read_auth_file(auth_file, user, sizeof(user), pass, sizeof(pass));
		if (rc < 0) {
			fprintf(stderr, "spctl: snapshot: %s: %s\n", auth_file,
				rc == -EINVAL ? "want one line USER:PASSWORD" : strerror(-rc));
			return EXIT_USAGE;
		}
	}
	q.port = (uint16_t)port;
	q.user = user[0] ? user : NULL;
	q.pass = user[0] ? pass : NULL;
	uint64_t t0 = snap_now_ms();
	q.deadline_ms = t0 + timeout_ms;

	/* The forward idles out on its own if we die before closing it. */
	int n = snprintf(req, sizeof(req), "/tunnel/open,device=%s&port=%u&host=%s&idle_ms=%u", dev,
			 port, q.host, timeout_ms + 5000);
	if (n <= 0 || (size_t)n >= sizeof(req) || strpbrk(dev, "& ,") || strpbrk(q.host, "& ,"))
		goto usage;
	if (cp_call(req, &reply, err, sizeof(err)) < 0) {
		fprintf(stderr, "spctl: %s\n", err);
		code = EXIT_NO_CP;
		goto out;
	}
	id = (uint32_t)num(reply, "id");
	reply = fwd_poll(reply, id, "pending", q.deadline_ms);
	if (!reply || strcmp(str(reply, "state"), "listening")) {
		const char *e = str(reply, "error");
		if (reply && !strcmp(str(reply, "state"), "pending")) {
			snprintf(why, sizeof(why), "timed out waiting for spdp to open the forward");
			code = EXIT_SNAP_TIMEOUT;
		} else if (!strcmp(e, "no tunnel for this device") ||
			   !strcmp(e, "no tunnel for the device on its worker")) {
			snprintf(why, sizeof(why), "no tunnel for device %s (its agent is not connected "
				 "to this streampoint)", dev);
			code = EXIT_SNAP_NO_TUNNEL;
		} else {
			snprintf(why, sizeof(why), "forward refused: %s", reply ? e : "spcp went away");
			code = EXIT_SNAP_NO_TUNNEL;
		}
		if (cJSON_GetObjectItemCaseSensitive(reply, "error"))
			id = 0; /* nothing was opened */
		snap_summary(dev, &q, &r, why, snap_now_ms() - t0, id);
		goto out;
	}
	q.fwd_port = (uint16_t)num(reply, "port");
	double refused0 = dp_drop("tun_open_failed");
	if (snap_fetch(&q, &r) < 0) {
		fprintf(stderr, "spctl: snapshot: out of memory\n");
		code = EXIT_USAGE;
		goto out;
	}
	snprintf(why, sizeof(why), "%s", r.why);
	switch (r.fail) {
	case SNAP_OK: code = 0; break;
	case SNAP_HTTP: code = EXIT_SNAP_HTTP; break;
	case SNAP_TIMEOUT: code = EXIT_SNAP_TIMEOUT; break;
	case SNAP_MALFORMED: code = EXIT_SNAP_MALFORMED; break;
	case SNAP_LOCAL: code = EXIT_USAGE; break;
	case SNAP_NO_ANSWER:
		code = EXIT_SNAP_NO_ANSWER;
		if (refused0 >= 0 && dp_drop("tun_open_failed") > refused0)
			snprintf(why, sizeof(why), "the device's agent refused to open %s:%u (not in its "
				 "allow-list, or nothing listens there)", q.host, q.port);
		break;
	}
	uint64_t ms = snap_now_ms() - t0;
	if (!code) {
		FILE *f = file ? fopen(file, "we") : stdout;
		if (!f || fwrite(r.body ? (void *)r.body : "", 1, r.len, f) != r.len ||
		    (file ? fclose(f) : fflush(f)) != 0) {
			snprintf(why, sizeof(why), "writing %s: %s", file ? file : "stdout", strerror(errno));
			code = EXIT_USAGE;
		}
	}
	snap_summary(dev, &q, &r, code ? why : NULL, ms, id);
out:
	cJSON_Delete(reply);
	if (id)
		fwd_close(id);
	free(r.body);
	OPENSSL_cleanse(user, sizeof(user));
	OPENSSL_cleanse(pass, sizeof(pass));
	return code;
usage:
	fprintf(stderr, "spctl: snapshot DEVICE [--port 80] [--host 127.0.0.1] [--path /snapshot.jpg] "
		"[--user U --pass P | --auth-file F] [-o FILE] [--timeout-ms N]\n");
	OPENSSL_cleanse(pass, sizeof(pass));
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "instance", required_argument, NULL, 'i' },
		{ "runtime-dir", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char req[1024];
	int c;

	if (getenv("SP_INSTANCE"))
		opt.instance = getenv("SP_INSTANCE");
	if (getenv("SP_RUNTIME_DIR"))
		opt.runtime_dir = getenv("SP_RUNTIME_DIR");
	while ((c = getopt_long(argc, argv, "+i:r:t:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'i': opt.instance = optarg; break;
		case 'r': opt.runtime_dir = optarg; break;
		case 'j': opt.json = true; break;
		case 't': opt.timeout_ms = atoi(optarg) > 0 ? atoi(optarg) : 2000; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[optind++];
	if (!strcmp(cmd, "status") && optind == argc)
		return cmd_status();
	if (!strcmp(cmd, "log-level") && argc - optind <= 1) {
		snprintf(req, sizeof(req), "/log_level%s%s", optind < argc ? "," : "",
			 optind < argc ? argv[optind] : "");
		return print_call(req);
	}
	if (!strcmp(cmd, "config") && optind == argc)
		return print_call("/config");
	if (!strcmp(cmd, "flows") && optind == argc)
		return print_call("/flows");
	if (!strcmp(cmd, "turn") && optind == argc)
		return print_call("/turn");
	if (!strcmp(cmd, "turn") && argc - optind == 1 && !strcmp(argv[optind], "allocs"))
		return print_call("/turn/allocs");
	if (!strcmp(cmd, "flow") && argc - optind == 1 && strchr("0123456789", argv[optind][0])) {
		snprintf(req, sizeof(req), "/flow,id=%s", argv[optind]);
		return print_call(req);
	}
	if (!strcmp(cmd, "rtsp") && optind == argc)
		return print_call("/rtsp");
	if (((!strcmp(cmd, "flow") || !strcmp(cmd, "sub")) && argc - optind >= 2 &&
	     (!strcmp(argv[optind], "add") || !strcmp(argv[optind], "del"))) ||
	    (!strcmp(cmd, "rtsp") && argc - optind >= 2 &&
	     (!strcmp(argv[optind], "pull") || !strcmp(argv[optind], "stop")))) {
		/* spctl flow add id=1 source=... -> /flow/add,id=1&source=... */
		int n = snprintf(req, sizeof(req), "/%s/%s,", cmd, argv[optind]);
		for (int i = optind + 1; i < argc && n > 0 && (size_t)n < sizeof(req); i++)
			n += snprintf(req + n, sizeof(req) - (size_t)n, "%s%s", i > optind + 1 ? "&" : "",
				      argv[i]);
		if (n <= 0 || (size_t)n >= sizeof(req)) {
			fprintf(stderr, "spctl: request too long\n");
			return EXIT_USAGE;
		}
		return print_call(req);
	}
	if (!strcmp(cmd, "agents") && optind == argc)
		return print_call("/agents");
	if (!strcmp(cmd, "agent") && argc - optind >= 2) {
		const char *sub = argv[optind];
		int want = !strcmp(sub, "switch") ? 3 : 2;
		if ((!strcmp(sub, "switch") || !strcmp(sub, "goaway") || !strcmp(sub, "revoke")) &&
		    argc - optind == want) {
			snprintf(req, sizeof(req), "/agent/%s,%s%s%s", sub, argv[optind + 1],
				 want == 3 ? " " : "", want == 3 ? argv[optind + 2] : "");
			return print_call(req);
		}
	}
	if (!strcmp(cmd, "streampoint") && argc - optind == 2 &&
	    (!strcmp(argv[optind], "down") || !strcmp(argv[optind], "up"))) {
		snprintf(req, sizeof(req), "/streampoint/%s,%s", argv[optind], argv[optind + 1]);
		return print_call(req);
	}
	if (!strcmp(cmd, "tunnels") && optind == argc)
		return print_call("/tunnels");
	if (!strcmp(cmd, "mqtt") && optind == argc)
		return print_call("/mqtt");
	if (!strcmp(cmd, "tunnel") && argc - optind >= 1 && !strcmp(argv[optind], "open"))
		return cmd_tunnel_open(argc - optind - 1, argv + optind + 1);
	if (!strcmp(cmd, "tunnel") && argc - optind == 2 && !strcmp(argv[optind], "close")) {
		snprintf(req, sizeof(req), "/tunnel/close,id=%s", argv[optind + 1]);
		return print_call(req);
	}
	if (!strcmp(cmd, "snapshot"))
		return cmd_snapshot(argc - optind, argv + optind);
	if (!strcmp(cmd, "call") && argc - optind == 1)
		return print_call(argv[optind]);
	fprintf(stderr, "spctl: unknown command or wrong arguments: %s\n", cmd);
	usage(stderr);
	return EXIT_USAGE;
}
