/*
 * ctlsock_demo_server: a tiny ctlsock server for the compatibility test that
 * drives it with DPDK's own dpdk-telemetry.py (tests/dts_support/
 * telemetry_compat.py). Also handy by hand:
 *
 *   ctlsock_demo_server /var/run/dpdk/demo/dpdk_telemetry.v2 &
 *   dpdk-telemetry.py -f demo
 *
 * Commands: /demo/echo,TEXT (the text back), /demo/list (an object with an
 * array and numbers), /demo/big (a reply larger than max_output_len, cut to
 * fit), /demo/fail (a handler error: null). Prints "ready" on stdout once
 * listening; exits on SIGTERM/SIGINT, unlinking the socket.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctlsock.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int demo_echo(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	(void)ctx, (void)cmd;
	*reply = params ? cJSON_CreateString(params) : NULL;
	return 0;
}

static int demo_list(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	static const char *const names[] = { "cam-1", "cam-2", "cam-3" };
	cJSON *o = cJSON_CreateObject();

	(void)ctx, (void)cmd, (void)params;
	cJSON_AddItemToObject(o, "cameras", cJSON_CreateStringArray(names, 3));
	cJSON_AddNumberToObject(o, "viewers", 42);
	cJSON_AddBoolToObject(o, "standalone", 1);
	*reply = o;
	return 0;
}

static int demo_big(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	cJSON *a = cJSON_CreateArray();

	(void)ctx, (void)cmd, (void)params;
	for (int i = 0; i < 10000; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(i));
	*reply = a;
	return 0;
}

static int demo_fail(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	(void)ctx, (void)cmd, (void)params, (void)reply;
	return -EIO;
}

int main(int argc, char **argv)
{
	struct ctlsock_cfg cfg = { .allowed_gid = (gid_t)-1, .mode = 0660,
				   .version = "streampoint-demo " SP_VERSION };
	struct sigaction sa = { .sa_handler = on_signal };
	ctlsock *cs;

	if (argc != 2) {
		fprintf(stderr, "usage: %s SOCKET_PATH\n", argv[0]);
		return EXIT_FAILURE;
	}
	cfg.path = argv[1];
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	cs = ctlsock_listen(&cfg);
	if (!cs) {
		fprintf(stderr, "ctlsock_demo_server: cannot listen on %s: %s\n", cfg.path,
			strerror(errno));
		return EXIT_FAILURE;
	}
	if (ctlsock_register(cs, "/demo/echo", demo_echo, NULL, "Echoes its parameter") < 0 ||
	    ctlsock_register(cs, "/demo/list", demo_list, NULL, "A small object") < 0 ||
	    ctlsock_register(cs, "/demo/big", demo_big, NULL,
			     "A reply larger than max_output_len, truncated to fit") < 0 ||
	    ctlsock_register(cs, "/demo/fail", demo_fail, NULL, "Always fails (null reply)") < 0) {
		fprintf(stderr, "ctlsock_demo_server: register failed\n");
		ctlsock_close(cs);
		return EXIT_FAILURE;
	}
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		struct pollfd p = { .fd = ctlsock_fd(cs), .events = POLLIN };
		if (poll(&p, 1, 200) > 0)
			ctlsock_dispatch(cs);
	}
	ctlsock_close(cs);
	return EXIT_SUCCESS;
}
