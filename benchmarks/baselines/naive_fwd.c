/*
 * sp_naive_fwd: the UDP fan-out forwarder as people first write it, kept as
 * the baseline of `spbench rtp`. One thread, epoll over one socket per
 * ingest port; for every readable socket, recvfrom() until it would block
 * and sendto() each datagram once per subscriber. No batching, no io_uring,
 * no buffer sharing: one system call per packet per destination, which is
 * what the benchmark compares streampoint's data plane against.
 *
 * The only concession to fairness: --rcvbuf sets the ingest sockets'
 * receive buffer (SO_RCVBUFFORCE as root), so both forwarders get the same
 * kernel buffering and the comparison is about forwarding cost.
 *
 * Configuration: arguments `PORT=ADDR:PORT[,ADDR:PORT...]` and/or
 * `-c FILE` with one flow per line: `PORT ADDR:PORT [ADDR:PORT ...]`
 * (`#` comments). PORT 0 lets the kernel choose. Once every socket is bound
 * it prints `port <flow-index> <bound-port>` per flow and `ready`, so a
 * parent can wait for it. SIGTERM/SIGINT: print counters to stderr, exit 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

struct flow {
	int fd;
	uint16_t port;
	uint32_t nsubs;
	struct sockaddr_in *subs;
};

static struct flow *flows;
static size_t nflows, capflows;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int parse_addr(const char *s, struct sockaddr_in *out)
{
	char ip[64];
	const char *colon = strrchr(s, ':');
	char *end;
	unsigned long port;

	if (!colon || (size_t)(colon - s) >= sizeof(ip))
		return -1;
	memcpy(ip, s, (size_t)(colon - s));
	ip[colon - s] = 0;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || port == 0 || port > 65535)
		return -1;
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, ip, &out->sin_addr) == 1 ? 0 : -1;
}

/* "PORT" then subscriber addresses separated by any of `seps`. */
static int add_flow(char *spec, const char *seps, const char *where)
{
	char *save = NULL, *tok = strtok_r(spec, seps, &save), *end;
	unsigned long port;
	struct flow *f;

	if (!tok)
		return 0; /* blank line */
	errno = 0;
	port = strtoul(tok, &end, 10);
	if (errno || *end || port > 65535) {
		fprintf(stderr, "sp_naive_fwd: %s: bad port '%s'\n", where, tok);
		return -1;
	}
	if (nflows == capflows) {
		size_t cap = capflows ? capflows * 2 : 64;
		struct flow *nf = realloc(flows, cap * sizeof(*nf));
		if (!nf)
			return -1;
		flows = nf;
		capflows = cap;
	}
	f = &flows[nflows];
	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->port = (uint16_t)port;
	while ((tok = strtok_r(NULL, seps, &save))) {
		struct sockaddr_in *ns = realloc(f->subs, (f->nsubs + 1) * sizeof(*ns));
		if (!ns)
			return -1;
		f->subs = ns;
		if (parse_addr(tok, &f->subs[f->nsubs])) {
			fprintf(stderr, "sp_naive_fwd: %s: bad subscriber address '%s'\n", where, tok);
			free(f->subs);
			return -1;
		}
		f->nsubs++;
	}
	nflows++;
	return 0;
}

static int load_file(const char *path)
{
	FILE *fp = fopen(path, "re");
	char *line = NULL, where[300];
	size_t cap = 0;
	unsigned lineno = 0;
	int rc = 0;

	if (!fp) {
		fprintf(stderr, "sp_naive_fwd: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, fp) > 0) {
		char *hash = strchr(line, '#');
		lineno++;
		if (hash)
			*hash = 0;
		snprintf(where, sizeof(where), "%s:%u", path, lineno);
		if ((rc = add_flow(line, " \t\r\n", where)))
			break;
	}
	free(line);
	fclose(fp);
	return rc;
}

static void usage(FILE *to)
{
	fprintf(to,
		"usage: sp_naive_fwd [-c FILE] [--bind IP] [--rcvbuf BYTES] [PORT=ADDR:PORT[,ADDR:PORT...]]...\n"
		"  The naive UDP fan-out baseline: epoll, recvfrom, one sendto per subscriber.\n"
		"  -c FILE          flows, one per line: PORT ADDR:PORT [ADDR:PORT ...]\n"
		"  --bind IP        address the ingest sockets bind to (default 127.0.0.1)\n"
		"  --rcvbuf BYTES   receive buffer of each ingest socket (default: kernel's)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "bind", required_argument, NULL, 'b' },
		{ "rcvbuf", required_argument, NULL, 'r' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct in_addr bind_ip = { htonl(INADDR_LOOPBACK) };
	struct epoll_event evs[64];
	struct rlimit rl;
	uint64_t rx = 0, tx = 0, tx_err = 0, rx_err = 0;
	static uint8_t buf[65536];
	int opt, epfd, rcvbuf = 0;

	while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			if (load_file(optarg))
				return EXIT_FAILURE;
			break;
		case 'b':
			if (inet_pton(AF_INET, optarg, &bind_ip) != 1) {
				fprintf(stderr, "sp_naive_fwd: --bind: bad IPv4 address '%s'\n", optarg);
				return EXIT_FAILURE;
			}
			break;
		case 'r':
			rcvbuf = atoi(optarg);
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return EXIT_FAILURE;
		}
	}
	for (int i = optind; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		if (!eq) {
			fprintf(stderr, "sp_naive_fwd: '%s': expected PORT=ADDR:PORT[,...]\n", argv[i]);
			return EXIT_FAILURE;
		}
		*eq = ' ';
		if (add_flow(argv[i], " ,", "argument"))
			return EXIT_FAILURE;
	}
	if (!nflows) {
		usage(stderr);
		return EXIT_FAILURE;
	}
	/* Thousands of flows need thousands of descriptors. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		perror("sp_naive_fwd: epoll_create1");
		return EXIT_FAILURE;
	}
	for (size_t i = 0; i < nflows; i++) {
		struct flow *f = &flows[i];
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr = bind_ip, .sin_port = htons(f->port) };
		socklen_t sl = sizeof(sa);
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = f };

		f->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (f->fd < 0 || bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    getsockname(f->fd, (struct sockaddr *)&sa, &sl) < 0) {
			fprintf(stderr, "sp_naive_fwd: flow %zu: bind port %u: %s\n", i, f->port, strerror(errno));
			return EXIT_FAILURE;
		}
		if (rcvbuf > 0 && setsockopt(f->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
			(void)setsockopt(f->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
		f->port = ntohs(sa.sin_port);
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, f->fd, &ev) < 0) {
			perror("sp_naive_fwd: epoll_ctl");
			return EXIT_FAILURE;
		}
		printf("port %zu %u\n", i, f->port);
	}
	printf("ready\n");
	fflush(stdout);

	while (!stop) {
		int n = epoll_wait(epfd, evs, 64, 1000);
		if (n < 0 && errno != EINTR) {
			perror("sp_naive_fwd: epoll_wait");
			return EXIT_FAILURE;
		}
		for (int i = 0; i < n; i++) {
			struct flow *f = evs[i].data.ptr;
			for (;;) {
				ssize_t len = recvfrom(f->fd, buf, sizeof(buf), 0, NULL, NULL);
				if (len < 0) {
					if (errno != EAGAIN && errno != EINTR)
						rx_err++;
					break;
				}
				rx++;
				for (uint32_t s = 0; s < f->nsubs; s++) {
					if (sendto(f->fd, buf, (size_t)len, 0, (struct sockaddr *)&f->subs[s],
						   sizeof(f->subs[s])) < 0)
						tx_err++;
					else
						tx++;
				}
			}
		}
	}
	fprintf(stderr, "sp_naive_fwd: flows %zu rx %llu tx %llu rx_errors %llu tx_errors %llu\n", nflows,
		(unsigned long long)rx, (unsigned long long)tx, (unsigned long long)rx_err,
		(unsigned long long)tx_err);
	for (size_t i = 0; i < nflows; i++) {
		close(flows[i].fd);
		free(flows[i].subs);
	}
	free(flows);
	close(epfd);
	return EXIT_SUCCESS;
}
