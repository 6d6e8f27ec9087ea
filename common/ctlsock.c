/*
 * ctlsock: DPDK-telemetry-compatible control socket (see ctlsock.h).
 *
 * How it works: one listening SOCK_SEQPACKET socket and up to max_clients
 * accepted ones, all in a private epoll set whose fd the owner polls. Each
 * dispatch handles a bounded number of requests per client (level-triggered
 * epoll brings the rest back next turn), so one chatty client cannot starve
 * the owner's loop. Replies are rendered into one preallocated buffer of
 * CTLSOCK_MAX_OUTPUT_LEN bytes and sent with MSG_DONTWAIT: SEQPACKET sends
 * are atomic, so a reply either goes out whole or the client is not reading
 * and gets dropped. A reply that does not fit is cut the way DPDK cuts it:
 * trailing elements of the top-level array/object are left out (a string is
 * shortened), so the client always receives valid JSON.
 */
#include "ctlsock.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fdpass.h"
#include "log.h"

#define CTLSOCK_BACKLOG 16
#define CTLSOCK_REQS_PER_TURN 8   /* per client per dispatch: fairness */
#define CTLSOCK_ACCEPTS_PER_TURN 32
#define CTLSOCK_EVENTS 32
#define CTLSOCK_LISTEN_TAG 0       /* epoll data.u64; clients are slot + 1 */
#define PRINT_SLACK 8              /* see print_into() */

struct ctlsock_cmd {
	char name[CTLSOCK_MAX_CMD_LEN];
	char help[CTLSOCK_MAX_HELP_LEN];
	ctlsock_handler fn;
	void *ctx;
};

/* Owned by the ctlsock; all memory is allocated in ctlsock_listen(). */
struct ctlsock {
	int lfd;
	int epfd;
	gid_t allowed_gid;
	unsigned max_clients;
	dev_t dev; /* identity of our socket file, so close never unlinks another's */
	ino_t ino;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char version_json[2 + 6 * CTLSOCK_MAX_VERSION_LEN + 1 + PRINT_SLACK]; /* quoted, escaped */
	char version[CTLSOCK_MAX_VERSION_LEN + 1];
	int *clients; /* max_clients slots; -1 = free */
	unsigned ncmds;
	struct ctlsock_cmd cmds[CTLSOCK_MAX_COMMANDS]; /* sorted by name, like DPDK */
	struct ctlsock_stats st;
	struct ctlsock_req req;
	char rx[CTLSOCK_MAX_REQ_LEN + 1];
	char *out;            /* max_output + 1 + PRINT_SLACK bytes; see print_into() */
	size_t max_output;    /* largest reply message, announced in the greeting */
};

/* ---- request parser (pure) ---- */

static bool printable(unsigned char c)
{
	return c >= 0x20 && c <= 0x7e;
}

enum ctlsock_req_status ctlsock_parse_request(const void *buf, size_t len, struct ctlsock_req *out)
{
	const unsigned char *p = buf;
	size_t cmd_len, plen;
	const unsigned char *comma;

	out->cmd[0] = '\0';
	out->params[0] = '\0';
	out->has_params = false;
	if (len > CTLSOCK_MAX_REQ_LEN)
		return CTLSOCK_REQ_TOO_LONG;
	if (len > 0 && p[len - 1] == '\n') {
		len--;
		if (len > 0 && p[len - 1] == '\r')
			len--;
	}
	if (len == 0)
		return CTLSOCK_REQ_EMPTY;
	for (size_t i = 0; i < len; i++)
		if (!printable(p[i]))
			return CTLSOCK_REQ_NONPRINT;
	if (p[0] != '/')
		return CTLSOCK_REQ_NO_SLASH;
	comma = memchr(p, ',', len);
	cmd_len = comma ? (size_t)(comma - p) : len;
	if (cmd_len >= CTLSOCK_MAX_CMD_LEN)
		return CTLSOCK_REQ_CMD_TOO_LONG;
	memcpy(out->cmd, p, cmd_len);
	out->cmd[cmd_len] = '\0';
	if (comma) {
		plen = len - cmd_len - 1; /* < CTLSOCK_MAX_REQ_LEN */
		memcpy(out->params, comma + 1, plen);
		out->params[plen] = '\0';
		out->has_params = plen > 0; /* "/cmd," is "/cmd", as with DPDK's strtok */
	}
	return CTLSOCK_REQ_OK;
}

const char *ctlsock_req_status_name(enum ctlsock_req_status st)
{
	switch (st) {
	case CTLSOCK_REQ_OK: return "ok";
	case CTLSOCK_REQ_EMPTY: return "empty";
	case CTLSOCK_REQ_TOO_LONG: return "too_long";
	case CTLSOCK_REQ_NONPRINT: return "non_printable";
	case CTLSOCK_REQ_NO_SLASH: return "no_slash";
	case CTLSOCK_REQ_CMD_TOO_LONG: return "cmd_too_long";
	case CTLSOCK_REQ__COUNT: break;
	}
	return "unknown";
}

/* ---- reply rendering ---- */

/* JSON-quote a printable-ASCII key (commands are validated printable). */
static size_t quote_key(char *dst, const char *key)
{
	size_t n = 0;

	dst[n++] = '"';
	for (; *key; key++) {
		if (*key == '"' || *key == '\\')
			dst[n++] = '\\';
		dst[n++] = *key;
	}
	dst[n++] = '"';
	return n;
}

/*
 * cJSON_PrintPreallocated wants a little more room than it finally uses
 * (its own header says so), so it gets PRINT_SLACK extra bytes and the
 * limit is checked on the result: "fits" means at most `limit` characters.
 * dst must have limit + 1 + PRINT_SLACK bytes.
 */
static bool print_into(cJSON *v, char *dst, size_t limit)
{
	return cJSON_PrintPreallocated(v, dst, (int)(limit + 1 + PRINT_SLACK), 0) &&
	       strlen(dst) <= limit;
}

/* Print v with only its first k children (array or object). */
static bool print_first_k(cJSON *v, int k, char *dst, size_t cap)
{
	cJSON *head = v->child, *last, *rest;
	bool ok;

	if (k == 0) {
		v->child = NULL;
		ok = print_into(v, dst, cap);
		v->child = head;
		return ok;
	}
	last = head;
	for (int i = 1; i < k; i++)
		last = last->next;
	rest = last->next;
	last->next = NULL;
	ok = print_into(v, dst, cap);
	last->next = rest;
	return ok;
}

/* Print the longest prefix of a string that fits, never splitting UTF-8. */
static bool print_string_prefix(cJSON *v, char *dst, size_t cap)
{
	char *s = v->valuestring;
	size_t lo = 0, hi = strlen(s), best;
	char saved;
	bool ok;

	/* Escaping only grows output, so "fits" is monotonic in the length. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo + 1) / 2;
		saved = s[mid];
		s[mid] = '\0';
		ok = print_into(v, dst, cap);
		s[mid] = saved;
		if (ok)
			lo = mid;
		else
			hi = mid - 1;
	}
	best = lo;
	while (best > 0 && ((unsigned char)s[best] & 0xc0) == 0x80)
		best--;
	saved = s[best];
	s[best] = '\0';
	ok = print_into(v, dst, cap);
	s[best] = saved;
	return ok;
}

static bool print_truncated(cJSON *v, char *dst, size_t cap)
{
	int lo = 0, hi, best = -1;

	if (cJSON_IsString(v) && v->valuestring)
		return print_string_prefix(v, dst, cap);
	if (!(cJSON_IsArray(v) || cJSON_IsObject(v)) || !v->child)
		return false;
	hi = cJSON_GetArraySize(v) - 1;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		if (print_first_k(v, mid, dst, cap)) {
			best = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return best >= 0 && print_first_k(v, best, dst, cap);
}

/*
 * Render {"<key>":<value>} into cs->out; value may be NULL (null). Returns
 * the message length (<= CTLSOCK_MAX_OUTPUT_LEN).
 */
static size_t render(ctlsock *cs, const char *key, cJSON *value)
{
	char *o = cs->out;
	size_t n = 0, cap;

	o[n++] = '{';
	n += quote_key(o + n, key);
	o[n++] = ':';
	cap = cs->max_output - n - 1; /* value characters; 1 for the '}' */
	if (!value || cJSON_IsNull(value)) {
		memcpy(o + n, "null", 4);
		n += 4;
	} else if (print_into(value, o + n, cap)) {
		n += strlen(o + n);
	} else {
		cs->st.replies_truncated++;
		log_rl(LOG_LVL_WARNING, 0, "ctlsock %s: reply to %s exceeds %zu bytes, truncated",
		       cs->path, key, cs->max_output);
		if (print_truncated(value, o + n, cap)) {
			n += strlen(o + n);
		} else {
			memcpy(o + n, "null", 4);
			n += 4;
		}
	}
	o[n++] = '}';
	o[n] = '\0';
	return n;
}

/* ---- clients ---- */

static void client_close(ctlsock *cs, unsigned slot)
{
	int fd = cs->clients[slot];

	if (fd < 0)
		return;
	epoll_ctl(cs->epfd, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	cs->clients[slot] = -1;
	cs->st.clients--;
}

/* false when the client was dropped */
static bool client_send(ctlsock *cs, unsigned slot, const char *buf, size_t len)
{
	ssize_t n;

	do
		n = send(cs->clients[slot], buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)len)
		return true;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
		cs->st.dropped_slow++;
		log_rl(LOG_LVL_WARNING, 0, "ctlsock %s: client not reading its replies, dropped",
		       cs->path);
	}
	client_close(cs, slot);
	return false;
}

static const struct ctlsock_cmd *find_cmd(const ctlsock *cs, const char *name)
{
	unsigned lo = 0, hi = cs->ncmds;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		int c = strcmp(name, cs->cmds[mid].name);
		if (c == 0)
			return &cs->cmds[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static bool handle_request(ctlsock *cs, unsigned slot, size_t len)
{
	enum ctlsock_req_status st;
	const struct ctlsock_cmd *c;
	cJSON *reply = NULL;
	size_t n;
	int rc;

	st = len > CTLSOCK_MAX_REQ_LEN ? CTLSOCK_REQ_TOO_LONG :
					 ctlsock_parse_request(cs->rx, len, &cs->req);
	if (st != CTLSOCK_REQ_OK) {
		cs->st.bad_requests++;
		cs->st.bad_request[st]++;
		log_rl(LOG_LVL_INFO, 0, "ctlsock %s: bad request (%s, %zu bytes)", cs->path,
		       ctlsock_req_status_name(st), len);
		n = render(cs, "none", NULL);
		return client_send(cs, slot, cs->out, n);
	}
	cs->st.requests++;
	c = find_cmd(cs, cs->req.cmd);
	if (!c) {
		cs->st.unknown_cmds++;
	} else {
		rc = c->fn(c->ctx, cs->req.cmd, cs->req.has_params ? cs->req.params : NULL, &reply);
		if (rc < 0) {
			cs->st.handler_errors++;
			cJSON_Delete(reply);
			reply = NULL;
		}
	}
	n = render(cs, cs->req.cmd, reply);
	cJSON_Delete(reply);
	return client_send(cs, slot, cs->out, n);
}

static void client_event(ctlsock *cs, unsigned slot, uint32_t events)
{
	for (int i = 0; i < CTLSOCK_REQS_PER_TURN; i++) {
		ssize_t n;

		if (cs->clients[slot] < 0)
			return;
		/* MSG_TRUNC: n is the real message length, so oversize is seen. */
		n = recv(cs->clients[slot], cs->rx, sizeof(cs->rx), MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0 && errno == EINTR) {
			i--;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) { /* EOF (a zero-length message too, as in DPDK) or error */
			client_close(cs, slot);
			return;
		}
		if (!handle_request(cs, slot, (size_t)n))
			return;
	}
	if ((events & (EPOLLHUP | EPOLLERR)) && !(events & EPOLLIN))
		client_close(cs, slot);
}

static void accept_one(ctlsock *cs, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	char greeting[CTLSOCK_GREETING_MAX];
	unsigned slot;
	pid_t pid = 0;
	uid_t uid = 0;
	int len;

	if (!fdpass_peer_allowed(fd, cs->allowed_gid)) {
		fdpass_peer_cred(fd, &pid, &uid, NULL);
		cs->st.refused_peer++;
		log_rl(LOG_LVL_WARNING, 0, "ctlsock %s: pid %d uid %u not allowed (not root, owner or group)",
		       cs->path, (int)pid, (unsigned)uid);
		close(fd);
		return;
	}
	for (slot = 0; slot < cs->max_clients; slot++)
		if (cs->clients[slot] < 0)
			break;
	if (slot == cs->max_clients) {
		cs->st.refused_full++;
		log_rl(LOG_LVL_WARNING, 0, "ctlsock %s: %u clients already, connection refused",
		       cs->path, cs->max_clients);
		close(fd);
		return;
	}
	len = snprintf(greeting, sizeof(greeting), "{\"version\":%s,\"pid\":%d,\"max_output_len\":%zu}",
		       cs->version_json, (int)getpid(), cs->max_output);
	if (cs->max_output > CTLSOCK_MAX_OUTPUT_LEN) {
		/* A SEQPACKET message must fit the send buffer whole. */
		int sb = (int)(cs->max_output * 2 + 65536);
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sb, sizeof(sb)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb));
	}
	ev.data.u64 = (uint64_t)slot + 1;
	if (epoll_ctl(cs->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_rl(LOG_LVL_WARNING, errno, "ctlsock %s: epoll_ctl", cs->path);
		close(fd);
		return;
	}
	cs->clients[slot] = fd;
	cs->st.clients++;
	if (client_send(cs, slot, greeting, (size_t)len))
		cs->st.accepted++;
}

static void accept_all(ctlsock *cs)
{
	for (int i = 0; i < CTLSOCK_ACCEPTS_PER_TURN; i++) {
		int fd = accept4(cs->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_rl(LOG_LVL_WARNING, errno, "ctlsock %s: accept", cs->path);
			return;
		}
		accept_one(cs, fd);
	}
}

int ctlsock_dispatch(ctlsock *cs)
{
	struct epoll_event evs[CTLSOCK_EVENTS];
	int n;

	n = epoll_wait(cs->epfd, evs, CTLSOCK_EVENTS, 0);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	/*
	 * A slot freed while handling one event can be reused by an accept later
	 * in this batch, but each fd appears once per batch and its own event is
	 * handled before it is closed, so no stale event reaches a new client.
	 */
	for (int i = 0; i < n; i++) {
		if (evs[i].data.u64 == CTLSOCK_LISTEN_TAG)
			accept_all(cs);
		else
			client_event(cs, (unsigned)(evs[i].data.u64 - 1), evs[i].events);
	}
	return 0;
}

/* ---- built-in commands ---- */

static int builtin_list(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	ctlsock *cs = ctx;
	cJSON *a = cJSON_CreateArray();

	(void)cmd, (void)params;
	if (!a)
		return -ENOMEM;
	for (unsigned i = 0; i < cs->ncmds; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(cs->cmds[i].name));
	*reply = a;
	return 0;
}

static int builtin_info(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	ctlsock *cs = ctx;
	cJSON *o = cJSON_CreateObject();

	(void)cmd, (void)params;
	if (!o)
		return -ENOMEM;
	cJSON_AddStringToObject(o, "version", cs->version);
	cJSON_AddNumberToObject(o, "pid", getpid());
	cJSON_AddNumberToObject(o, "max_output_len", (double)cs->max_output);
	*reply = o;
	return 0;
}

static int builtin_help(void *ctx, const char *cmd, const char *params, cJSON **reply)
{
	ctlsock *cs = ctx;
	const struct ctlsock_cmd *c;
	cJSON *o;

	(void)cmd;
	if (!params)
		return -EINVAL;
	c = find_cmd(cs, params);
	if (!c)
		return -ENOENT;
	o = cJSON_CreateObject();
	if (!o)
		return -ENOMEM;
	cJSON_AddStringToObject(o, c->name, c->help);
	*reply = o;
	return 0;
}

int ctlsock_invoke(ctlsock *cs, const char *cmd, const char *params, cJSON **reply)
{
	const struct ctlsock_cmd *c = find_cmd(cs, cmd);
	int rc;

	*reply = NULL;
	if (!c)
		return -ENOENT;
	rc = c->fn(c->ctx, c->name, params && *params ? params : NULL, reply);
	if (rc < 0) {
		cJSON_Delete(*reply);
		*reply = NULL;
	}
	return rc;
}

int ctlsock_register(ctlsock *cs, const char *cmd, ctlsock_handler fn, void *ctx, const char *help)
{
	size_t len;
	unsigned i;

	if (!cs || !cmd || !fn || cmd[0] != '/')
		return -EINVAL;
	len = strlen(cmd);
	if (len >= CTLSOCK_MAX_CMD_LEN)
		return -EINVAL;
	for (i = 0; i < len; i++)
		if (!printable((unsigned char)cmd[i]) || cmd[i] == ',')
			return -EINVAL;
	if (!help)
		help = "";
	if (strlen(help) >= CTLSOCK_MAX_HELP_LEN)
		return -EINVAL;
	if (find_cmd(cs, cmd))
		return -EEXIST;
	if (cs->ncmds == CTLSOCK_MAX_COMMANDS)
		return -ENOSPC;
	for (i = 0; i < cs->ncmds && strcmp(cmd, cs->cmds[i].name) > 0; i++)
		;
	memmove(&cs->cmds[i + 1], &cs->cmds[i], (cs->ncmds - i) * sizeof(cs->cmds[0]));
	memcpy(cs->cmds[i].name, cmd, len + 1);
	snprintf(cs->cmds[i].help, sizeof(cs->cmds[i].help), "%s", help);
	cs->cmds[i].fn = fn;
	cs->cmds[i].ctx = ctx;
	cs->ncmds++;
	return 0;
}

/* ---- life cycle ---- */

/* A socket file nobody listens on is stale and may go; anything else stays. */
static int clear_stale(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat sb;
	int fd, rc;

	if (lstat(path, &sb) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(sb.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	rc = rc == 0 ? -EADDRINUSE : errno == ECONNREFUSED ? 0 : -EADDRINUSE;
	close(fd);
	if (rc == 0 && unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return rc;
}

static int make_version_json(ctlsock *cs, const char *version)
{
	cJSON *s = cJSON_CreateString(version);
	bool ok;

	if (!s)
		return -ENOMEM;
	ok = print_into(s, cs->version_json, sizeof(cs->version_json) - 1 - PRINT_SLACK);
	cJSON_Delete(s);
	return ok ? 0 : -EINVAL;
}

static int setup(ctlsock *cs, const struct ctlsock_cfg *cfg)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = CTLSOCK_LISTEN_TAG };
	struct stat sb;
	int rc;

	if ((rc = make_version_json(cs, cfg->version)) < 0)
		return rc;
	if ((rc = clear_stale(cs->path)) < 0)
		return rc;
	cs->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (cs->lfd < 0)
		return -errno;
	memcpy(sun.sun_path, cs->path, sizeof(cs->path));
	if (bind(cs->lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return -errno;
	if (stat(cs->path, &sb) < 0)
		return -errno;
	cs->dev = sb.st_dev;
	cs->ino = sb.st_ino;
	/* Permissions before listen(): until then every connect is refused. */
	if (chmod(cs->path, cfg->mode ? cfg->mode : 0660) < 0)
		return -errno;
	if (cfg->allowed_gid != (gid_t)-1 && chown(cs->path, (uid_t)-1, cfg->allowed_gid) < 0)
		return -errno;
	if (listen(cs->lfd, CTLSOCK_BACKLOG) < 0)
		return -errno;
	cs->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (cs->epfd < 0)
		return -errno;
	if (epoll_ctl(cs->epfd, EPOLL_CTL_ADD, cs->lfd, &ev) < 0)
		return -errno;
	if (ctlsock_register(cs, "/", builtin_list, cs,
			     "Returns list of available commands, Takes no parameters") < 0 ||
	    ctlsock_register(cs, "/info", builtin_info, cs,
			     "Returns version, pid and max_output_len. Takes no parameters") < 0 ||
	    ctlsock_register(cs, "/help", builtin_help, cs,
			     "Returns help text for a command. Parameters: string command") < 0)
		return -EINVAL;
	return 0;
}

ctlsock *ctlsock_listen(const struct ctlsock_cfg *cfg)
{
	ctlsock *cs;
	size_t plen;
	int rc;

	if (!cfg || !cfg->path || !cfg->version || strlen(cfg->version) > CTLSOCK_MAX_VERSION_LEN ||
	    cfg->max_clients > CTLSOCK_MAX_CLIENTS_LIMIT ||
	    (cfg->max_output_len && (cfg->max_output_len < 1024 ||
				     cfg->max_output_len > CTLSOCK_MAX_OUTPUT_LIMIT))) {
		errno = EINVAL;
		return NULL;
	}
	plen = strlen(cfg->path);
	if (plen == 0 || plen >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		errno = plen ? ENAMETOOLONG : EINVAL;
		return NULL;
	}
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return NULL;
	cs->lfd = -1;
	cs->epfd = -1;
	cs->allowed_gid = cfg->allowed_gid;
	cs->max_clients = cfg->max_clients ? cfg->max_clients : CTLSOCK_DEFAULT_MAX_CLIENTS;
	cs->max_output = cfg->max_output_len ? cfg->max_output_len : CTLSOCK_MAX_OUTPUT_LEN;
	cs->out = malloc(cs->max_output + 1 + PRINT_SLACK);
	if (!cs->out) {
		free(cs);
		errno = ENOMEM;
		return NULL;
	}
	memcpy(cs->path, cfg->path, plen + 1);
	memcpy(cs->version, cfg->version, strlen(cfg->version) + 1);
	cs->clients = malloc(cs->max_clients * sizeof(*cs->clients));
	if (!cs->clients) {
		free(cs->out);
		free(cs);
		errno = ENOMEM;
		return NULL;
	}
	for (unsigned i = 0; i < cs->max_clients; i++)
		cs->clients[i] = -1;
	rc = setup(cs, cfg);
	if (rc < 0) {
		ctlsock_close(cs);
		errno = -rc;
		return NULL;
	}
	return cs;
}

int ctlsock_fd(const ctlsock *cs)
{
	return cs->epfd;
}

void ctlsock_get_stats(const ctlsock *cs, struct ctlsock_stats *out)
{
	*out = cs->st;
}

void ctlsock_close(ctlsock *cs)
{
	struct stat sb;
	int saved = errno;

	if (!cs)
		return;
	for (unsigned i = 0; i < cs->max_clients; i++)
		client_close(cs, i);
	if (cs->lfd >= 0) {
		/* Only our own file: a newer server may already have replaced it. */
		if (cs->ino && stat(cs->path, &sb) == 0 && sb.st_dev == cs->dev && sb.st_ino == cs->ino)
			unlink(cs->path);
		close(cs->lfd);
	}
	if (cs->epfd >= 0)
		close(cs->epfd);
	free(cs->clients);
	free(cs->out);
	free(cs);
	errno = saved;
}

/* ---- client ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for `events` on fd until the deadline (< 0: none). 0 or -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	for (;;) {
		int t = -1, n;

		if (deadline >= 0) {
			int64_t left = deadline - now_ms();
			t = left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
		}
		n = poll(&pfd, 1, t);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n == 0 && deadline >= 0 && now_ms() >= deadline)
			return -ETIMEDOUT;
	}
}

/* Receive one whole message into a malloc'ed buffer (NUL-terminated). */
static ssize_t recv_msg(int fd, char **out)
{
	char probe;
	ssize_t n, m;
	char *buf;

	do /* MSG_TRUNC with a 1-byte peek returns the message's real length */
		n = recv(fd, &probe, 1, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0) {
		/* EOF, or an empty message: consume it either way */
		(void)recv(fd, &probe, 1, MSG_DONTWAIT);
		return -ECONNRESET;
	}
	buf = malloc((size_t)n + 1);
	if (!buf)
		return -ENOMEM;
	do
		m = recv(fd, buf, (size_t)n, MSG_DONTWAIT);
	while (m < 0 && errno == EINTR);
	if (m < 0) {
		m = -errno;
		free(buf);
		return m;
	}
	buf[m] = '\0';
	*out = buf;
	return m;
}

int ctlsock_connect(const char *path, cJSON **greeting)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int64_t deadline = now_ms() + CTLSOCK_CONNECT_TIMEOUT_MS;
	struct timeval tv = { .tv_sec = CTLSOCK_CONNECT_TIMEOUT_MS / 1000,
			      .tv_usec = (CTLSOCK_CONNECT_TIMEOUT_MS % 1000) * 1000 };
	const cJSON *mol;
	char *buf = NULL;
	cJSON *g;
	ssize_t n;
	int fd, rc;

	if (greeting)
		*greeting = NULL;
	if (!path || !*path)
		return -EINVAL;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* connect() to a unix socket blocks while the listener's backlog is
	 * full (a stuck server): bound it like the greeting wait. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		rc = -errno;
		goto out_close;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		rc = errno == EAGAIN || errno == EINPROGRESS ? -ETIMEDOUT : -errno;
		goto out_close;
	}
	rc = wait_fd(fd, POLLIN, deadline);
	if (rc < 0)
		goto out_close;
	n = recv_msg(fd, &buf);
	if (n < 0) {
		rc = (int)n;
		goto out_close;
	}
	g = cJSON_ParseWithLength(buf, (size_t)n);
	free(buf);
	mol = cJSON_GetObjectItemCaseSensitive(g, "max_output_len");
	if (!cJSON_IsObject(g) || !cJSON_IsNumber(mol)) {
		cJSON_Delete(g);
		rc = -EPROTO;
		goto out_close;
	}
	if (greeting)
		*greeting = g;
	else
		cJSON_Delete(g);
	return fd;
out_close:
	close(fd);
	return rc;
}

int ctlsock_parse_reply(const char *buf, size_t len, const char *cmd, cJSON **value)
{
	const char *end = NULL;
	cJSON *o, *v;

	*value = NULL;
	o = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
	if (!o)
		return -EPROTO;
	while (end && end < buf + len && (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
		end++;
	v = cJSON_IsObject(o) ? o->child : NULL;
	if (!v || v->next || !v->string || strcmp(v->string, cmd) != 0 || end != buf + len) {
		cJSON_Delete(o);
		return -EPROTO;
	}
	*value = cJSON_DetachItemViaPointer(o, v);
	cJSON_Delete(o);
	return 0;
}

int ctlsock_call(int fd, const char *request, int timeout_ms, cJSON **reply)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	struct ctlsock_req req;
	char *buf = NULL;
	size_t len;
	ssize_t n;
	int rc;

	*reply = NULL;
	if (!request)
		return -EINVAL;
	len = strlen(request);
	if (ctlsock_parse_request(request, len, &req) != CTLSOCK_REQ_OK)
		return -EINVAL;
	rc = wait_fd(fd, POLLOUT, deadline);
	if (rc < 0)
		return rc;
	do
		n = send(fd, request, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EPIPE ? -ECONNRESET : -errno;
	rc = wait_fd(fd, POLLIN, deadline);
	if (rc < 0)
		return rc;
	n = recv_msg(fd, &buf);
	if (n < 0)
		return (int)n;
	rc = ctlsock_parse_reply(buf, (size_t)n, req.cmd, reply);
	free(buf);
	return rc;
}
