/*
 * ctlsock tests: the DPDK-telemetry wire behaviour (greeting, "/", "/help",
 * "/info", null replies, size limits), request validation as a table,
 * access control with a real unprivileged peer, client limits, a client
 * that never reads, truncation of large replies and the client API.
 *
 * Most tests drive the server in-process: send a request on a raw socket,
 * call ctlsock_dispatch() (never blocks), read the reply. The client API
 * tests run the server on a thread because ctlsock_call() blocks.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctlsock.h"

#define NOBODY 65534
#define REPLY_BUF CTLSOCK_MAX_OUTPUT_LEN /* what dpdk-telemetry.py passes to recv() */

static char dir[64];
static char path[100];

static void setup_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ctlsock-test-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	/* traversable, so an unprivileged child can reach the socket file */
	cr_assert_eq(chmod(dir, 0711), 0);
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
}

static void teardown_dir(void)
{
	unlink(path);
	rmdir(dir);
}

TestSuite(ctlsock, .init = setup_dir, .fini = teardown_dir, .timeout = 60);

/* ---- handlers ---- */

static int h_echo(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	(void)ctx, (void)cmd;
	*reply = params ? cJSON_CreateString(params) : NULL;
	return 0;
}

static int h_fail(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	(void)ctx, (void)cmd, (void)params;
	*reply = cJSON_CreateString("must be freed, not sent");
	return -EIO;
}

static int h_count(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	(void)cmd, (void)params;
	(*(int *)ctx)++;
	*reply = cJSON_CreateNumber(*(int *)ctx);
	return 0;
}

/* A string whose whole reply {"/exact":"..."} is exactly max_output_len
 * bytes; with params "over" one byte longer. */
#define EXACT_PREFIX "{\"/exact\":"
#define EXACT_LEN (CTLSOCK_MAX_OUTPUT_LEN - (int)strlen(EXACT_PREFIX) - 3)
static int h_exact(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	size_t n = (size_t)EXACT_LEN + (params && !strcmp(params, "over") ? 1 : 0);
	char *s = malloc(n + 1);

	(void)ctx, (void)cmd;
	memset(s, 'x', n);
	s[n] = '\0';
	*reply = cJSON_CreateString(s);
	free(s);
	return 0;
}

static int h_array(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	(void)ctx, (void)cmd, (void)params;
	*reply = cJSON_CreateArray();
	for (int i = 0; i < 5000; i++)
		cJSON_AddItemToArray(*reply, cJSON_CreateNumber(i));
	return 0;
}

static int h_object(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	char k[32];

	(void)ctx, (void)cmd, (void)params;
	*reply = cJSON_CreateObject();
	for (int i = 0; i < 3000; i++) {
		snprintf(k, sizeof(k), "key%05d", i);
		cJSON_AddStringToObject(*reply, k, "value");
	}
	return 0;
}

static int h_utf8(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	/* 2-byte sequences; the cut lands on an odd offset in the raw bytes */
	size_t n = 9000;
	char *s = malloc(2 * n + 2);

	(void)ctx, (void)cmd, (void)params;
	s[0] = 'a';
	for (size_t i = 0; i < n; i++)
		memcpy(s + 1 + 2 * i, "\xc3\xa9", 2);
	s[2 * n + 1] = '\0';
	*reply = cJSON_CreateString(s);
	free(s);
	return 0;
}

/* ---- helpers ---- */

static ctlsock *server(gid_t gid, mode_t mode, unsigned max_clients)
{
	struct ctlsock_cfg cfg = { .path = path, .allowed_gid = gid, .mode = mode,
				   .version = "streampoint test", .max_clients = max_clients };
	ctlsock *cs = ctlsock_listen(&cfg);

	cr_assert_not_null(cs, "ctlsock_listen: %s", strerror(errno));
	return cs;
}

static int raw_connect_nowait(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0, "connect: %s",
		     strerror(errno));
	return fd;
}

/* Receive one message (waiting at most 5 s for it); -1 on nothing. */
static ssize_t recv_one(int fd, char *buf, size_t cap)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, 5000) != 1)
		return -1;
	n = recv(fd, buf, cap, MSG_TRUNC);
	cr_assert_leq(n, (ssize_t)cap, "message of %zd bytes truncated by a %zu-byte read", n, cap);
	if (n >= 0 && (size_t)n < cap)
		buf[n] = '\0';
	return n;
}

/* Connect and return the fd with its greeting already consumed. */
static int raw_connect(ctlsock *cs, cJSON **greeting)
{
	char buf[1024];
	int fd = raw_connect_nowait();
	ssize_t n;

	cr_assert_eq(ctlsock_dispatch(cs), 0);
	n = recv_one(fd, buf, sizeof(buf) - 1);
	cr_assert_gt(n, 0, "no greeting");
	if (greeting) {
		*greeting = cJSON_ParseWithLength(buf, (size_t)n);
		cr_assert_not_null(*greeting, "greeting is not JSON: %s", buf);
	}
	return fd;
}

/* Send len bytes as one request, dispatch, return the raw reply in buf. */
static ssize_t raw_req_n(ctlsock *cs, int fd, const void *req, size_t len, char *buf, size_t cap)
{
	cr_assert_eq(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
	cr_assert_eq(ctlsock_dispatch(cs), 0);
	return recv_one(fd, buf, cap);
}

/* Request -> the parsed reply object (caller frees). */
static cJSON *req_json(ctlsock *cs, int fd, const char *req)
{
	static char buf[REPLY_BUF + 1];
	ssize_t n = raw_req_n(cs, fd, req, strlen(req), buf, REPLY_BUF);
	cJSON *o;

	cr_assert_gt(n, 0, "no reply to %s", req);
	o = cJSON_ParseWithLength(buf, (size_t)n);
	cr_assert_not_null(o, "reply to %s is not JSON: %.200s", req, buf);
	cr_assert(cJSON_IsObject(o));
	cr_assert_eq(cJSON_GetArraySize(o), 1, "reply must have exactly one key");
	return o;
}

static struct ctlsock_stats stats(const ctlsock *cs)
{
	struct ctlsock_stats st;

	ctlsock_get_stats(cs, &st);
	return st;
}

/* ---- protocol ---- */

Test(ctlsock, greeting_shape)
{
	ctlsock *cs = server((gid_t)-1, 0, 0);
	cJSON *g;
	int fd = raw_connect(cs, &g);

	cr_assert_eq(cJSON_GetArraySize(g), 3);
	cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(g, "version")->valuestring, "streampoint test");
	cr_assert_eq(cJSON_GetObjectItemCaseSensitive(g, "pid")->valueint, getpid());
	cr_assert_eq(cJSON_GetObjectItemCaseSensitive(g, "max_output_len")->valueint,
		     CTLSOCK_MAX_OUTPUT_LEN);
	cr_assert_eq(stats(cs).accepted, 1);
	cr_assert_eq(stats(cs).clients, 1);
	cJSON_Delete(g);
	close(fd);
	ctlsock_close(cs);
}

Test(ctlsock, greeting_escapes_version)
{
	struct ctlsock_cfg cfg = { .path = path, .allowed_gid = (gid_t)-1,
				   .version = "quote\" back\\slash" };
	ctlsock *cs = ctlsock_listen(&cfg);
	cJSON *g;
	int fd;

	cr_assert_not_null(cs);
	fd = raw_connect(cs, &g);
	cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(g, "version")->valuestring,
			 "quote\" back\\slash");
	cJSON_Delete(g);
	close(fd);
	ctlsock_close(cs);
}

Test(ctlsock, list_commands_sorted)
{
	static const char *const want[] = { "/", "/a/echo", "/help", "/info", "/z" };
	ctlsock *cs = server((gid_t)-1, 0, 0);
	int n = 0, fd;
	cJSON *o, *a, *e;

	cr_assert_eq(ctlsock_register(cs, "/z", h_echo, NULL, "z"), 0);
	cr_assert_eq(ctlsock_register(cs, "/a/echo", h_echo, NULL, "echo"), 0);
	fd = raw_connect(cs, NULL);
	o = req_json(cs, fd, "/");
	a = cJSON_GetObjectItemCaseSensitive(o, "/");
	cr_assert(cJSON_IsArray(a));
	cr_assert_eq(cJSON_GetArraySize(a), 5);
	cJSON_ArrayForEach(e, a)
		cr_assert_str_eq(e->valuestring, want[n++]);
	cJSON_Delete(o);
	close(fd);
	ctlsock_close(cs);
}

Test(ctlsock, help)
{
	ctlsock *cs = server((gid_t)-1, 0, 0);
	char buf[256];
	ssize_t n;
	cJSON *o, *h;
	int fd;

	cr_assert_eq(ctlsock_register(cs, "/x", h_echo, NULL, "Echoes its parameter"), 0);
	fd = raw_connect(cs, NULL);
	o = req_json(cs, fd, "/help,/x");
	h = cJSON_GetObjectItemCaseSensitive(o, "/help");
	cr_assert(cJSON_IsObject(h));
	cr_assert_eq(cJSON_GetArraySize(h), 1);
	cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(h, "/x")->valuestring,
			 "Echoes its parameter");
	cJSON_Delete(o);
	/* DPDK answers null without a parameter or for an unknown command */
	n = raw_req_n(cs, fd, "/help", 5, buf, sizeof(buf));
	cr_assert_eq(n, 14);
	cr_assert_str_eq(buf, "{\"/help\":null}");
	n = raw_req_n(cs, fd, "/help,/nope", 11, buf, sizeof(buf));
	cr_assert_eq(n, 14);
	cr_assert_str_eq(buf, "{\"/help\":null}");
	cr_assert_eq(stats(cs).handler_errors, 2);
	close(fd);
	ctlsock_close(cs);
}

Test(ctlsock, info)
{
	ctlsock *cs = server((gid_t)-1, 0, 0);
	int fd = raw_connect(cs, NULL);
	cJSON *o = req_json(cs, fd, "/info"), *i = cJSON_GetObjectItemCaseSensitive(o, "/info");

	cr_assert(cJSON_IsObject(i));
	cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(i, "version")->valuestring, "streampoint test");
	cr_assert_eq(cJSON_GetObjectItemCaseSensitive(i, "pid")->valueint, getpid());
	cr_assert_eq(cJSON_GetObjectItemCaseSensitive(i, "max_output_len")->valueint,
		     CTLSOCK_MAX_OUTPUT_LEN);
	cJSON_Delete(o);
	close(fd);
	ctlsock_close(cs);
}

Test(ctlsock, params_passing)
{
	static const struct {
		const char *req;
		const char *want; /* NULL: null reply (handler saw params == NULL) */
	} cases[] = {
		{ "/echo,hello", "hello" },
		{ "/echo,a,b c", "a,b c" },   /* only the first comma splits */
		{ "/echo,,x", ",x" },
		{ "/echo", NULL },
		{ "/echo,", NULL },           /* empty params are no params (DPDK strtok) */
		{ "/echo,x\n", "x" },         /* one trailing newline is ignored */
		{ "/echo, sp ", " sp " },
	};
	ctlsock *cs = server((gid_t)-1, 0, 0);
	int fd;

	cr_assert_eq(ctlsock_register(cs, "/echo", h_echo, NULL, NULL), 0);
	fd = raw_connect(cs, NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *o = req_json(cs, fd, cases[i].req), *v = cJSON_GetObjectItemCaseSensitive(o, "/echo");
		cr_assert_not_null(v, "%s: reply key", cases[i].req);
		if (cases[i].want)
			cr_assert_str_eq(v->valuestring, cases[i].want, "%s", cases[i].req);
		else
			cr_assert(cJSON_IsNull(v), "%s: want null", cases[i].req);
		cJSON_Delete(o);
	}
	cr_assert_eq(stats(cs).requests, sizeof(cases) / sizeof(cases[0]));
	close(fd);
	ctlsock_close(cs);
}

Test(ctlsock, handler_ctx_and_errors)
{
	ctlsock *cs = server((gid_t)-1, 0, 0);
	char buf[64];
	int count = 0, fd;
	cJSON *o;

	cr_assert_eq(ctlsock_register(cs, "/count", h_count, &count, "counts"), 0);
	cr_assert_eq(ctlsock_register(cs, "/fail", h_fail, NULL, "fails"), 0);
	fd = raw_connect(cs, NULL);
	o = req_json(cs, fd, "/count");
	cJSON_Delete(o);
	o = req_json(cs, fd, "/count");
	cr_assert_eq(cJSON_GetObjectItemCaseSensitive(o, "/count")->valueint, 2);
	cJSON_Delete(o);
	cr_assert_eq(count, 2);
	cr_assert_eq(raw_req_n(cs, fd, "/fail", 5, buf, sizeof(buf)), 14);
	cr_assert_str_eq(buf, "{\"/fail\":null}");
	cr_assert_eq(stats(cs).handler_errors, 1);
	close(fd);
	ctlsock_close(cs);
}

Test(ctlsock, unknown_command_null)
{
	ctlsock *cs = server((gid_t)-1, 0, 0);
	char buf[128];
	int fd = raw_connect(cs, NULL);
	ssize_t n;

	n = raw_req_n(cs, fd, "/nope", 5, buf, sizeof(buf));
	cr_assert_eq(n, 14);
	cr_assert_str_eq(buf, "{\"/nope\":null}");
	/* params do not change the key; a quote in the command is escaped */
	n = raw_req_n(cs, fd, "/n\"o,p", 6, buf, sizeof(buf));
	cr_assert_str_eq(buf, "{\"/n\\\"o\":null}");
	cr_assert_eq(n, (ssize_t)strlen(buf));
	cr_assert_eq(stats(cs).unknown_cmds, 2);
	cr_assert_eq(stats(cs).bad_requests, 0);
	close(fd);
	ctlsock_close(cs);
}

/* ---- request validation ---- */

struct req_case {
	const char *name;
	const char *bytes;
	size_t len; /* 0: strlen */
	enum ctlsock_req_status want;
	const char *cmd;
	const char *params; /* NULL: has_params false */
};

static const struct req_case req_cases[] = {
	{ "plain", "/info", 0, CTLSOCK_REQ_OK, "/info", NULL },
	{ "root", "/", 0, CTLSOCK_REQ_OK, "/", NULL },
	{ "params", "/help,/info", 0, CTLSOCK_REQ_OK, "/help", "/info" },
	{ "two commas", "/x,a,b", 0, CTLSOCK_REQ_OK, "/x", "a,b" },
	{ "empty params", "/x,", 0, CTLSOCK_REQ_OK, "/x", NULL },
	{ "slash comma", "/,", 0, CTLSOCK_REQ_OK, "/", NULL },
	{ "lf", "/info\n", 0, CTLSOCK_REQ_OK, "/info", NULL },
	{ "crlf", "/x,p\r\n", 0, CTLSOCK_REQ_OK, "/x", "p" },
	{ "empty", "", 0, CTLSOCK_REQ_EMPTY, "", NULL },
	{ "only lf", "\n", 0, CTLSOCK_REQ_EMPTY, "", NULL },
	{ "two lf", "/info\n\n", 0, CTLSOCK_REQ_NONPRINT, "", NULL },
	{ "lone cr", "/info\r", 0, CTLSOCK_REQ_NONPRINT, "", NULL },
	{ "no slash", "info", 0, CTLSOCK_REQ_NO_SLASH, "", NULL },
	{ "leading comma", ",/info", 0, CTLSOCK_REQ_NO_SLASH, "", NULL },
	{ "leading space", " /info", 0, CTLSOCK_REQ_NO_SLASH, "", NULL },
	{ "tab", "/in\tfo", 0, CTLSOCK_REQ_NONPRINT, "", NULL },
	{ "nul inside", "/info\0x", 7, CTLSOCK_REQ_NONPRINT, "", NULL },
	{ "nul only", "\0", 1, CTLSOCK_REQ_NONPRINT, "", NULL },
	{ "del", "/\x7f", 0, CTLSOCK_REQ_NONPRINT, "", NULL },
	{ "escape", "/\x1b[2J", 0, CTLSOCK_REQ_NONPRINT, "", NULL },
	{ "utf-8", "/caf\xc3\xa9", 0, CTLSOCK_REQ_NONPRINT, "", NULL },
	{ "high byte in params", "/x,\xff", 0, CTLSOCK_REQ_NONPRINT, "", NULL },
	{ "cmd 55", "/234567890123456789012345678901234567890123456789012345", 0, CTLSOCK_REQ_OK,
	  "/234567890123456789012345678901234567890123456789012345", NULL },
	{ "cmd 56", "/2345678901234567890123456789012345678901234567890123456", 0,
	  CTLSOCK_REQ_CMD_TOO_LONG, "", NULL },
};

/*
 * Criterion may run each parameter in a fresh process image, where pointers
 * inside a copied parameter are meaningless: pass indexes into the table.
 */
#define N_REQ_CASES (sizeof(req_cases) / sizeof(req_cases[0]))
static size_t req_idx[N_REQ_CASES];

ParameterizedTestParameters(ctlsock, parse_table)
{
	for (size_t i = 0; i < N_REQ_CASES; i++)
		req_idx[i] = i;
	return cr_make_param_array(size_t, req_idx, N_REQ_CASES);
}

ParameterizedTest(size_t *idx, ctlsock, parse_table)
{
	const struct req_case *c = &req_cases[*idx];
	struct ctlsock_req r;
	size_t len = c->len ? c->len : strlen(c->bytes);
	enum ctlsock_req_status st = ctlsock_parse_request(c->bytes, len, &r);

	cr_assert_eq(st, c->want, "%s: got %s want %s", c->name, ctlsock_req_status_name(st),
		     ctlsock_req_status_name(c->want));
	cr_assert_str_eq(r.cmd, c->cmd, "%s", c->name);
	cr_assert_eq(r.has_params, c->params != NULL, "%s", c->name);
	if (c->params)
		cr_assert_str_eq(r.params, c->params, "%s", c->name);
}

Test(ctlsock, parse_length_limit)
{
	char buf[CTLSOCK_MAX_REQ_LEN + 2];
	struct ctlsock_req r;

	memset(buf, 'p', sizeof(buf));
	memcpy(buf, "/x,", 3);
	cr_assert_eq(ctlsock_parse_request(buf, CTLSOCK_MAX_REQ_LEN, &r), CTLSOCK_REQ_OK);
	cr_assert_eq(strlen(r.params), CTLSOCK_MAX_REQ_LEN - 3);
	cr_assert_eq(ctlsock_parse_request(buf, CTLSOCK_MAX_REQ_LEN + 1, &r), CTLSOCK_REQ_TOO_LONG);
	cr_assert_eq(ctlsock_parse_request(buf, (size_t)-1, &r), CTLSOCK_REQ_TOO_LONG);
}

Test(ctlsock, oversize_request)
{
	ctlsock *cs = server((gid_t)-1, 0, 0);
	static char req[4096];
	char buf[128];
	int fd;
	cJSON *o;

	cr_assert_eq(ctlsock_register(cs, "/echo", h_echo, NULL, NULL), 0);
	fd = raw_connect(cs, NULL);
	memset(req, 'p', sizeof(req));
	memcpy(req, "/echo,", 6);
	/* 1023 bytes is the longest DPDK accepts: answered in full */
	cr_assert_eq(send(fd, req, CTLSOCK_MAX_REQ_LEN, 0), CTLSOCK_MAX_REQ_LEN);
	cr_assert_eq(ctlsock_dispatch(cs), 0);
	{
		static char big[REPLY_BUF + 1];
		ssize_t n = recv_one(fd, big, REPLY_BUF);
		o = cJSON_ParseWithLength(big, (size_t)n);
		cr_assert_eq(strlen(cJSON_GetObjectItemCaseSensitive(o, "/echo")->valuestring),
			     CTLSOCK_MAX_REQ_LEN - 6);
		cJSON_Delete(o);
	}
	/* 1024 and 4096 bytes: rejected whole, connection kept */
	cr_assert_eq(raw_req_n(cs, fd, req, CTLSOCK_MAX_REQ_LEN + 1, buf, sizeof(buf)), 13);
	cr_assert_eq(memcmp(buf, "{\"none\":null}", 13), 0);
	cr_assert_eq(raw_req_n(cs, fd, req, sizeof(req), buf, sizeof(buf)), 13);
	cr_assert_eq(memcmp(buf, "{\"none\":null}", 13), 0);
	cr_assert_eq(stats(cs).bad_request[CTLSOCK_REQ_TOO_LONG], 2);
	cr_assert_eq(stats(cs).bad_requests, 2);
	o = req_json(cs, fd, "/info");
	cJSON_Delete(o);
	close(fd);
	ctlsock_close(cs);
}

Test(ctlsock, non_printable_request)
{
	static const struct {
		const char *bytes;
		size_t len;
		enum ctlsock_req_status why;
	} bad[] = {
		{ "/info\0", 6, CTLSOCK_REQ_NONPRINT },
		{ "/in\x01fo", 6, CTLSOCK_REQ_NONPRINT },
		{ "/info,\xff\xfe", 8, CTLSOCK_REQ_NONPRINT },
		{ "info", 4, CTLSOCK_REQ_NO_SLASH },
		{ "\n", 1, CTLSOCK_REQ_EMPTY },
	};
	ctlsock *cs = server((gid_t)-1, 0, 0);
	char buf[64];
	int fd = raw_connect(cs, NULL);
	cJSON *o;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(raw_req_n(cs, fd, bad[i].bytes, bad[i].len, buf, sizeof(buf)), 13);
		cr_assert_eq(memcmp(buf, "{\"none\":null}", 13), 0, "case %zu", i);
	}
	cr_assert_eq(stats(cs).bad_request[CTLSOCK_REQ_NONPRINT], 3);
	cr_assert_eq(stats(cs).bad_request[CTLSOCK_REQ_NO_SLASH], 1);
	cr_assert_eq(stats(cs).bad_request[CTLSOCK_REQ_EMPTY], 1);
	cr_assert_eq(stats(cs).bad_requests, 5);
	cr_assert_eq(stats(cs).requests, 0);
	o = req_json(cs, fd, "/info"); /* still served */
	cJSON_Delete(o);
	close(fd);
	ctlsock_close(cs);
}

/* ---- large replies ---- */

Test(ctlsock, reply_exactly_max_output_len)
{
	ctlsock *cs = server((gid_t)-1, 0, 0);
	static char buf[REPLY_BUF + 1];
	int fd;
	ssize_t n;
	cJSON *o;

	cr_assert_eq(ctlsock_register(cs, "/exact", h_exact, NULL, NULL), 0);
	fd = raw_connect(cs, NULL);
	n = raw_req_n(cs, fd, "/exact", 6, buf, REPLY_BUF);
	cr_assert_eq(n, CTLSOCK_MAX_OUTPUT_LEN);
	o = cJSON_ParseWithLength(buf, (size_t)n);
	cr_assert_eq(strlen(cJSON_GetObjectItemCaseSensitive(o, "/exact")->valuestring),
		     (size_t)EXACT_LEN);
	cJSON_Delete(o);
	cr_assert_eq(stats(cs).replies_truncated, 0);

	/* one byte more: the string is cut so the message still fits */
	n = raw_req_n(cs, fd, "/exact,over", 11, buf, REPLY_BUF);
	cr_assert_eq(n, CTLSOCK_MAX_OUTPUT_LEN);
	o = cJSON_ParseWithLength(buf, (size_t)n);
	cr_assert_not_null(o);
	cr_assert_eq(strlen(cJSON_GetObjectItemCaseSensitive(o, "/exact")->valuestring),
		     (size_t)EXACT_LEN);
	cJSON_Delete(o);
	cr_assert_eq(stats(cs).replies_truncated, 1);
	close(fd);
	ctlsock_close(cs);
}

Test(ctlsock, large_containers_truncated_to_prefix)
{
	ctlsock *cs = server((gid_t)-1, 0, 0);
	static char buf[REPLY_BUF + 1];
	int fd, k = 0;
	ssize_t n;
	cJSON *o, *v, *e;

	cr_assert_eq(ctlsock_register(cs, "/array", h_array, NULL, NULL), 0);
	cr_assert_eq(ctlsock_register(cs, "/object", h_object, NULL, NULL), 0);
	fd = raw_connect(cs, NULL);

	n = raw_req_n(cs, fd, "/array", 6, buf, REPLY_BUF);
	cr_assert_gt(n, CTLSOCK_MAX_OUTPUT_LEN - 8, "should fill the buffer, got %zd", n);
	o = cJSON_ParseWithLength(buf, (size_t)n);
	cr_assert_not_null(o, "truncated array must stay valid JSON");
	v = cJSON_GetObjectItemCaseSensitive(o, "/array");
	cr_assert_gt(cJSON_GetArraySize(v), 1000);
	cr_assert_lt(cJSON_GetArraySize(v), 5000);
	cJSON_ArrayForEach(e, v)
		cr_assert_eq(e->valueint, k++, "elements must be the leading ones");
	cJSON_Delete(o);

	n = raw_req_n(cs, fd, "/object", 7, buf, REPLY_BUF);
	cr_assert_gt(n, CTLSOCK_MAX_OUTPUT_LEN - 32);
	o = cJSON_ParseWithLength(buf, (size_t)n);
	cr_assert_not_null(o);
	v = cJSON_GetObjectItemCaseSensitive(o, "/object");
	cr_assert_gt(cJSON_GetArraySize(v), 100);
	cr_assert_lt(cJSON_GetArraySize(v), 3000);
	cr_assert_not_null(cJSON_GetObjectItemCaseSensitive(v, "key00000"));
	cJSON_Delete(o);
	cr_assert_eq(stats(cs).replies_truncated, 2);
	close(fd);
	ctlsock_close(cs);
}

Test(ctlsock, truncated_string_keeps_utf8_whole)
{
	ctlsock *cs = server((gid_t)-1, 0, 0);
	static char buf[REPLY_BUF + 1];
	const char *s;
	int fd;
	ssize_t n;
	size_t len;
	cJSON *o;

	cr_assert_eq(ctlsock_register(cs, "/utf8", h_utf8, NULL, NULL), 0);
	fd = raw_connect(cs, NULL);
	n = raw_req_n(cs, fd, "/utf8", 5, buf, REPLY_BUF);
	cr_assert_leq(n, CTLSOCK_MAX_OUTPUT_LEN);
	o = cJSON_ParseWithLength(buf, (size_t)n);
	s = cJSON_GetObjectItemCaseSensitive(o, "/utf8")->valuestring;
	len = strlen(s);
	cr_assert_eq(len % 2, 1, "cut inside a UTF-8 sequence (length %zu)", len);
	cr_assert_eq((unsigned char)s[len - 1], 0xa9);
	cJSON_Delete(o);
	close(fd);
	ctlsock_close(cs);
}

/* ---- clients ---- */

Test(ctlsock, max_clients)
{
	ctlsock *cs = server((gid_t)-1, 0, 2);
	char buf[64];
	int a = raw_connect(cs, NULL), b = raw_connect(cs, NULL), c, d;

	c = raw_connect_nowait();
	cr_assert_eq(ctlsock_dispatch(cs), 0);
	cr_assert_eq(recv_one(c, buf, sizeof(buf)), 0, "third client must be closed, not greeted");
	cr_assert_eq(stats(cs).refused_full, 1);
	cr_assert_eq(stats(cs).clients, 2);
	close(a);
	cr_assert_eq(ctlsock_dispatch(cs), 0); /* sees a's hangup */
	cr_assert_eq(stats(cs).clients, 1);
	d = raw_connect(cs, NULL);
	cr_assert_eq(stats(cs).clients, 2);
	cr_assert_eq(stats(cs).accepted, 3);
	close(b);
	close(c);
	close(d);
	ctlsock_close(cs);
}

Test(ctlsock, client_that_never_reads_is_dropped)
{
	ctlsock *cs = server((gid_t)-1, 0, 0);
	int slow, good, i, msgs = 0;
	static char buf[REPLY_BUF];
	ssize_t n;

	cr_assert_eq(ctlsock_register(cs, "/array", h_array, NULL, NULL), 0);
	slow = raw_connect_nowait(); /* does not even read its greeting */
	good = raw_connect(cs, NULL);
	for (i = 0; i < 10000 && stats(cs).dropped_slow == 0; i++) {
		/* may fail once the server has dropped us: that is the point */
		(void)send(slow, "/array", 6, MSG_DONTWAIT | MSG_NOSIGNAL);
		cr_assert_eq(ctlsock_dispatch(cs), 0);
		if (i % 4 == 0) {
			cJSON *o = req_json(cs, good, "/info");
			cr_assert_not_null(cJSON_GetObjectItemCaseSensitive(o, "/info"));
			cJSON_Delete(o);
		}
	}
	cr_assert_eq(stats(cs).dropped_slow, 1, "the reader that stopped must be dropped");
	cr_assert_eq(stats(cs).clients, 1);
	cJSON_Delete(req_json(cs, good, "/info"));
	/* the slow one finds what was queued, then EOF */
	while ((n = recv_one(slow, buf, sizeof(buf))) != 0) {
		cr_assert_gt(n, 0);
		cr_assert_lt(++msgs, 10000);
	}
	cr_assert_gt(msgs, 0);
	close(slow);
	close(good);
	ctlsock_close(cs);
}

/* Fork a child running as nobody:nogroup that connects; returns its verdict. */
enum { PEER_GREETED = 0, PEER_CLOSED = 1, PEER_NO_CONNECT = 2, PEER_OTHER = 3 };

static int run_peer_as_nobody(ctlsock *cs)
{
	pid_t pid = fork();
	int status;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		struct pollfd p;
		char buf[1024];
		int fd;

		if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(PEER_OTHER);
		fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
			_exit(PEER_NO_CONNECT);
		p = (struct pollfd){ .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 10000) != 1)
			_exit(PEER_OTHER);
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		_exit(n > 0 ? PEER_GREETED : n == 0 ? PEER_CLOSED : PEER_OTHER);
	}
	for (;;) {
		struct pollfd p = { .fd = ctlsock_fd(cs), .events = POLLIN };
		pid_t w;

		poll(&p, 1, 50);
		cr_assert_eq(ctlsock_dispatch(cs), 0);
		w = waitpid(pid, &status, WNOHANG);
		cr_assert_geq(w, 0);
		if (w == pid)
			break;
	}
	cr_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

Test(ctlsock, peer_refused_unless_in_group)
{
	ctlsock *cs;
	struct stat sb;

	if (geteuid() != 0)
		cr_skip("needs root to run a peer as uid %d", NOBODY);

	/* file open to all, no group allowed: the credential check refuses */
	cs = server((gid_t)-1, 0666, 0);
	cr_assert_eq(run_peer_as_nobody(cs), PEER_CLOSED);
	cr_assert_eq(stats(cs).refused_peer, 1);
	cr_assert_eq(stats(cs).accepted, 0);
	ctlsock_close(cs);

	/* another group allowed: still refused */
	cs = server(12345, 0666, 0);
	cr_assert_eq(run_peer_as_nobody(cs), PEER_CLOSED);
	cr_assert_eq(stats(cs).refused_peer, 1);
	ctlsock_close(cs);

	/* default mode 0660 root:root: the file permissions already keep it out */
	cs = server((gid_t)-1, 0, 0);
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0660);
	cr_assert_eq(run_peer_as_nobody(cs), PEER_NO_CONNECT);
	ctlsock_close(cs);

	/* allowed_gid = nogroup: file group set, peer admitted */
	cs = server(NOBODY, 0660, 0);
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0660);
	cr_assert_eq(sb.st_gid, NOBODY);
	cr_assert(S_ISSOCK(sb.st_mode));
	cr_assert_eq(run_peer_as_nobody(cs), PEER_GREETED);
	cr_assert_eq(stats(cs).refused_peer, 0);
	cr_assert_eq(stats(cs).accepted, 1);
	ctlsock_close(cs);
}

/* ---- life cycle ---- */

Test(ctlsock, stale_live_and_foreign_files)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	ctlsock *cs, *cs2;
	int fd;
	FILE *f;

	/* stale: a socket file whose listener is gone */
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	cs = server((gid_t)-1, 0, 0);

	/* live: a second server must not steal the path */
	struct ctlsock_cfg cfg = { .path = path, .allowed_gid = (gid_t)-1, .version = "v" };
	cs2 = ctlsock_listen(&cfg);
	cr_assert_null(cs2);
	cr_assert_eq(errno, EADDRINUSE);
	ctlsock_close(cs);
	cr_assert_eq(access(path, F_OK), -1, "close unlinks the socket");

	/* a regular file is never removed */
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fclose(f);
	cr_assert_null(ctlsock_listen(&cfg));
	cr_assert_eq(errno, EEXIST);
	cr_assert_eq(access(path, F_OK), 0);
	unlink(path);

	/* bad configurations */
	cfg.version = NULL;
	cr_assert_null(ctlsock_listen(&cfg));
	cr_assert_eq(errno, EINVAL);
	cfg.version = "v";
	cfg.path = "/tmp/0123456789012345678901234567890123456789012345678901234567890123456789"
		   "0123456789012345678901234567890123456789";
	cr_assert_null(ctlsock_listen(&cfg));
	cr_assert_eq(errno, ENAMETOOLONG);
	ctlsock_close(NULL);
}

Test(ctlsock, close_leaves_a_replacement_alone)
{
	ctlsock *cs = server((gid_t)-1, 0, 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	/* someone replaced our file (e.g. a new instance after rm) */
	cr_assert_eq(unlink(path), 0);
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ctlsock_close(cs);
	cr_assert_eq(access(path, F_OK), 0);
	close(fd);
}

Test(ctlsock, register_validation)
{
	ctlsock *cs = server((gid_t)-1, 0, 0);
	char help[CTLSOCK_MAX_HELP_LEN + 1];

	memset(help, 'h', sizeof(help));
	help[sizeof(help) - 1] = '\0';
	cr_assert_eq(ctlsock_register(cs, "nope", h_echo, NULL, NULL), -EINVAL);
	cr_assert_eq(ctlsock_register(cs, "/a,b", h_echo, NULL, NULL), -EINVAL);
	cr_assert_eq(ctlsock_register(cs, "/a\tb", h_echo, NULL, NULL), -EINVAL);
	cr_assert_eq(ctlsock_register(cs, "/x", NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(ctlsock_register(cs, "/2345678901234567890123456789012345678901234567890123456",
				      h_echo, NULL, NULL), -EINVAL);
	cr_assert_eq(ctlsock_register(cs, "/x", h_echo, NULL, help), -EINVAL);
	help[CTLSOCK_MAX_HELP_LEN - 1] = '\0';
	cr_assert_eq(ctlsock_register(cs, "/x", h_echo, NULL, help), 0);
	cr_assert_eq(ctlsock_register(cs, "/x", h_echo, NULL, NULL), -EEXIST);
	cr_assert_eq(ctlsock_register(cs, "/info", h_echo, NULL, NULL), -EEXIST);
	for (int i = 0;; i++) {
		char name[16];
		snprintf(name, sizeof(name), "/c%d", i);
		int rc = ctlsock_register(cs, name, h_echo, NULL, NULL);
		if (rc == -ENOSPC) {
			cr_assert_eq(i, CTLSOCK_MAX_COMMANDS - 4); /* 3 built-ins + /x */
			break;
		}
		cr_assert_eq(rc, 0);
	}
	ctlsock_close(cs);
}

/* ---- client API ---- */

struct srv_thread {
	ctlsock *cs;
	int stop[2];
	pthread_t th;
};

static void *srv_loop(void *arg)
{
	struct srv_thread *t = arg;

	for (;;) {
		struct pollfd p[2] = { { .fd = ctlsock_fd(t->cs), .events = POLLIN },
				       { .fd = t->stop[0], .events = POLLIN } };
		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents)
			return NULL;
		ctlsock_dispatch(t->cs);
	}
}

static void srv_start(struct srv_thread *t, ctlsock *cs)
{
	t->cs = cs;
	cr_assert_eq(pipe(t->stop), 0);
	cr_assert_eq(pthread_create(&t->th, NULL, srv_loop, t), 0);
}

static void srv_stop(struct srv_thread *t)
{
	cr_assert_eq(write(t->stop[1], "x", 1), 1);
	pthread_join(t->th, NULL);
	close(t->stop[0]);
	close(t->stop[1]);
}

Test(ctlsock, client_connect_and_call)
{
	ctlsock *cs = server((gid_t)-1, 0, 0);
	struct srv_thread t;
	cJSON *g, *r;
	int fd;

	cr_assert_eq(ctlsock_register(cs, "/echo", h_echo, NULL, NULL), 0);
	cr_assert_eq(ctlsock_register(cs, "/exact", h_exact, NULL, NULL), 0);
	srv_start(&t, cs);
	fd = ctlsock_connect(path, &g);
	cr_assert_geq(fd, 0, "ctlsock_connect: %s", strerror(-fd));
	cr_assert_eq(cJSON_GetObjectItemCaseSensitive(g, "max_output_len")->valueint,
		     CTLSOCK_MAX_OUTPUT_LEN);
	cJSON_Delete(g);

	cr_assert_eq(ctlsock_call(fd, "/info", 5000, &r), 0);
	cr_assert_eq(cJSON_GetObjectItemCaseSensitive(r, "pid")->valueint, getpid());
	cJSON_Delete(r);
	cr_assert_eq(ctlsock_call(fd, "/echo,hi there", 5000, &r), 0);
	cr_assert_str_eq(r->valuestring, "hi there");
	cJSON_Delete(r);
	cr_assert_eq(ctlsock_call(fd, "/nope", 5000, &r), 0);
	cr_assert(cJSON_IsNull(r));
	cJSON_Delete(r);
	cr_assert_eq(ctlsock_call(fd, "/exact", -1, &r), 0);
	cr_assert_eq(strlen(r->valuestring), (size_t)EXACT_LEN);
	cJSON_Delete(r);
	/* malformed requests are refused locally and never sent */
	cr_assert_eq(ctlsock_call(fd, "info", 5000, &r), -EINVAL);
	cr_assert_null(r);
	cr_assert_eq(ctlsock_call(fd, "/in\x01", 5000, &r), -EINVAL);
	cr_assert_eq(ctlsock_call(fd, "/help,/echo", 5000, &r), 0);
	cJSON_Delete(r);
	close(fd);

	/* the greeting is optional */
	fd = ctlsock_connect(path, NULL);
	cr_assert_geq(fd, 0);
	close(fd);
	srv_stop(&t);
	cr_assert_eq(stats(cs).bad_requests, 0);
	ctlsock_close(cs);

	cr_assert_eq(ctlsock_connect(path, NULL), -ENOENT);
}

Test(ctlsock, client_errors)
{
	int sv[2];
	cJSON *r;

	/* nobody answers: timeout */
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	cr_assert_eq(ctlsock_call(sv[0], "/info", 20, &r), -ETIMEDOUT);
	/* an answer for another command: protocol error */
	cr_assert_eq(send(sv[1], "{\"/other\":1}", 12, 0), 12);
	cr_assert_eq(ctlsock_call(sv[0], "/info", 5000, &r), -EPROTO);
	cr_assert_null(r);
	/* server gone */
	close(sv[1]);
	cr_assert_eq(ctlsock_call(sv[0], "/info", 5000, &r), -ECONNRESET);
	close(sv[0]);
}

struct reply_case {
	const char *bytes;
	const char *cmd;
	int want;
	int type; /* cJSON type of the value when want == 0 */
};

static const struct reply_case reply_cases[] = {
	{ "{\"/x\":1}", "/x", 0, cJSON_Number },
	{ "{\"/x\":null}", "/x", 0, cJSON_NULL },
	{ "{\"/x\": {\"a\": [1, 2]}}\n", "/x", 0, cJSON_Object },
	{ "{\"/y\":1}", "/x", -EPROTO, 0 },
	{ "{\"/x\":1,\"/z\":2}", "/x", -EPROTO, 0 },
	{ "{}", "/x", -EPROTO, 0 },
	{ "[1]", "/x", -EPROTO, 0 },
	{ "\"/x\"", "/x", -EPROTO, 0 },
	{ "{\"/x\":1} junk", "/x", -EPROTO, 0 },
	{ "{\"/x\":", "/x", -EPROTO, 0 },
	{ "", "/x", -EPROTO, 0 },
};

#define N_REPLY_CASES (sizeof(reply_cases) / sizeof(reply_cases[0]))
static size_t reply_idx[N_REPLY_CASES];

ParameterizedTestParameters(ctlsock, reply_table)
{
	for (size_t i = 0; i < N_REPLY_CASES; i++)
		reply_idx[i] = i;
	return cr_make_param_array(size_t, reply_idx, N_REPLY_CASES);
}

ParameterizedTest(size_t *idx, ctlsock, reply_table)
{
	const struct reply_case *c = &reply_cases[*idx];
	cJSON *v;
	int rc = ctlsock_parse_reply(c->bytes, strlen(c->bytes), c->cmd, &v);

	cr_assert_eq(rc, c->want, "%s: rc %d", c->bytes, rc);
	if (rc == 0) {
		cr_assert_not_null(v);
		cr_assert_eq(v->type & 0xff, c->type, "%s", c->bytes);
		cJSON_Delete(v);
	} else {
		cr_assert_null(v);
	}
}
