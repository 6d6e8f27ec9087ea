/*
 * ctlsock: the operators' control socket of spcp (and later spdp), speaking
 * the framing of DPDK's telemetry v2 socket so that DPDK's unmodified
 * `dpdk-telemetry.py` works against it, plus the client side spctl uses.
 *
 * Protocol (docs/control-socket.md has the whole story):
 *   - AF_UNIX SOCK_SEQPACKET: one request or reply per message.
 *   - On accept the server sends the greeting
 *       {"version":"<cfg.version>","pid":<pid>,"max_output_len":16384}
 *   - A request is "/command" or "/command,params" (at most 1023 bytes,
 *     printable ASCII). The reply is one JSON object {"/command": <data>}, at
 *     most max_output_len bytes. Unknown commands and failing handlers
 *     answer {"/command":null}; malformed requests answer {"none":null}.
 *   - Built-in: "/" (sorted list of commands), "/help,/cmd" ({"/cmd":"text"}),
 *     "/info" (version, pid, max_output_len).
 *
 * Server side: single-threaded, owned by one event loop. ctlsock_fd() is an
 * epoll fd the owner polls for input; ctlsock_dispatch() then accepts,
 * reads and answers without ever blocking. A client that stops reading is
 * dropped as soon as one of its replies would block: there is no output
 * queue. Peers are checked with fdpass_peer_allowed() on accept.
 */
#ifndef SP_CTLSOCK_H
#define SP_CTLSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

/* Limits shared with DPDK 22.11 lib/telemetry/telemetry.c. */
#define CTLSOCK_MAX_REQ_LEN 1023     /* DPDK reads a request into char[1024] + NUL */
#define CTLSOCK_MAX_CMD_LEN 56       /* command incl. NUL (DPDK MAX_CMD_LEN) */
#define CTLSOCK_MAX_OUTPUT_LEN 16384 /* whole reply message (DPDK MAX_OUTPUT_LEN) */
#define CTLSOCK_GREETING_MAX 1024    /* dpdk-telemetry.py reads the greeting with recv(1024) */
#define CTLSOCK_DEFAULT_MAX_CLIENTS 10 /* DPDK MAX_CONNECTIONS */
/* Ours. */
#define CTLSOCK_MAX_HELP_LEN 256     /* help text incl. NUL */
#define CTLSOCK_MAX_VERSION_LEN 128  /* keeps the greeting far below 1024 bytes */
#define CTLSOCK_MAX_COMMANDS 128     /* built-ins included */
#define CTLSOCK_MAX_CLIENTS_LIMIT 1024
#define CTLSOCK_CONNECT_TIMEOUT_MS 5000 /* client: wait this long for the greeting */

typedef struct ctlsock ctlsock;

/*
 * A command handler. `cmd` is the registered name, `params` what followed the
 * first comma (NULL when absent or empty). On success it returns 0 and may
 * store a cJSON value in *reply, which the ctlsock then owns and frees (NULL
 * means a null reply). On failure it returns -errno (any *reply is freed)
 * and the client gets {"/cmd":null}. Handlers run on the owner's thread and
 * must not block. Convention: a request the handler understands but cannot
 * satisfy answers 0 with {"error":"why"} so the client sees the reason.
 */
typedef int (*ctlsock_handler)(void *ctx, const char *cmd, const char *params, cJSON **reply);

struct ctlsock_cfg {
	const char *path;     /* socket path (< 108 bytes); its directory must exist */
	gid_t allowed_gid;    /* (gid_t)-1: root and our own uid only */
	mode_t mode;          /* socket file mode; 0 means 0660 */
	const char *version;  /* greeting and /info "version", e.g. "streampoint 0.1.0" */
	unsigned max_clients; /* 0 means CTLSOCK_DEFAULT_MAX_CLIENTS */
	size_t max_output_len; /* 0 means CTLSOCK_MAX_OUTPUT_LEN (DPDK's); at most
				* CTLSOCK_MAX_OUTPUT_LIMIT. Clients (spctl,
				* dpdk-telemetry.py) size their reads from the greeting. */
};
#define CTLSOCK_MAX_OUTPUT_LIMIT (4u << 20)

/* Why a request was rejected; indexes ctlsock_stats.bad_request[]. */
enum ctlsock_req_status {
	CTLSOCK_REQ_OK = 0,
	CTLSOCK_REQ_EMPTY,        /* zero bytes (after an optional trailing newline) */
	CTLSOCK_REQ_TOO_LONG,     /* more than CTLSOCK_MAX_REQ_LEN bytes */
	CTLSOCK_REQ_NONPRINT,     /* a byte outside 0x20..0x7e (NUL, control, 8-bit) */
	CTLSOCK_REQ_NO_SLASH,     /* does not start with '/' */
	CTLSOCK_REQ_CMD_TOO_LONG, /* command part >= CTLSOCK_MAX_CMD_LEN */
	CTLSOCK_REQ__COUNT
};

/* A parsed request; fixed-size so parsing never allocates. */
struct ctlsock_req {
	char cmd[CTLSOCK_MAX_CMD_LEN];
	char params[CTLSOCK_MAX_REQ_LEN + 1];
	bool has_params; /* false when there was no comma or nothing after it */
};

struct ctlsock_stats {
	uint64_t accepted;          /* connections admitted (greeting sent) */
	uint64_t refused_peer;      /* closed at once: failed fdpass_peer_allowed() */
	uint64_t refused_full;      /* closed at once: max_clients reached */
	uint64_t dropped_slow;      /* closed: a reply would have blocked (peer not reading) */
	uint64_t requests;          /* well-formed requests answered (incl. unknown ones) */
	uint64_t unknown_cmds;      /* well-formed, no such command */
	uint64_t handler_errors;    /* handler returned -errno */
	uint64_t replies_truncated; /* reply cut to fit max_output_len */
	uint64_t bad_requests;      /* sum of bad_request[] */
	uint64_t bad_request[CTLSOCK_REQ__COUNT]; /* per reason; [CTLSOCK_REQ_OK] stays 0 */
	unsigned clients;           /* connected now */
};

/*
 * Create the socket: a stale socket file at cfg->path (nobody listening) is
 * removed; a live one fails with EADDRINUSE, any other file with EEXIST. The
 * file gets cfg->mode and, when configured, group allowed_gid before
 * listen(), so nobody connects through looser permissions. Registers the
 * built-in commands. NULL with errno set on failure.
 */
ctlsock *ctlsock_listen(const struct ctlsock_cfg *cfg);
/*
 * Add a command. cmd: starts with '/', shorter than CTLSOCK_MAX_CMD_LEN,
 * printable, no ',' (which starts the parameters); help may be NULL.
 * 0, -EINVAL (bad name/help), -EEXIST (taken), -ENOSPC (table full).
 */
int ctlsock_register(ctlsock *cs, const char *cmd, ctlsock_handler fn, void *ctx, const char *help);
/*
 * Run a registered command as a client's request would (other front ends
 * such as MQTT reuse the handlers). params may be NULL. The handler's
 * return value, or -ENOENT when no such command is registered; *reply as
 * for a handler (caller frees).
 */
int ctlsock_invoke(ctlsock *cs, const char *cmd, const char *params, cJSON **reply);
/* One pollable fd (an internal epoll fd): readable when dispatch has work. */
int ctlsock_fd(const ctlsock *cs);
/* Accept, read and answer whatever is ready; never blocks. 0 or -errno. */
int ctlsock_dispatch(ctlsock *cs);
void ctlsock_get_stats(const ctlsock *cs, struct ctlsock_stats *out);
/* Close every client and the socket; unlink the path if it is still ours. */
void ctlsock_close(ctlsock *cs);

/*
 * Parse one request message of len bytes (no NUL needed). A single trailing
 * "\n" or "\r\n" is ignored (socat-style clients). Pure: no I/O, no
 * allocation; safe on any input.
 */
enum ctlsock_req_status ctlsock_parse_request(const void *buf, size_t len, struct ctlsock_req *out);
const char *ctlsock_req_status_name(enum ctlsock_req_status st);

/* Client. */

/*
 * Connect to a ctlsock (or a DPDK telemetry v2 socket) and read the greeting
 * (stored in *greeting when not NULL; caller frees). Blocking, bounded by
 * CTLSOCK_CONNECT_TIMEOUT_MS. Returns the fd (close it when done) or -errno:
 * -EPROTO when the greeting is not a telemetry greeting.
 */
int ctlsock_connect(const char *path, cJSON **greeting);
/*
 * Send one request and wait up to timeout_ms (< 0: forever) for its reply.
 * *reply gets the value under the command's key (a cJSON null for unknown
 * commands; caller frees). -EINVAL: request malformed (not sent);
 * -ETIMEDOUT: no reply in time (close the fd: a late reply would be taken
 * for the next one); -ECONNRESET: server closed; -EPROTO: reply not
 * {"<cmd>": value}.
 */
int ctlsock_call(int fd, const char *request, int timeout_ms, cJSON **reply);
/*
 * Check a reply message of len bytes against the command `cmd` and return
 * the value under its key in *value (caller frees). Pure. 0 or -EPROTO
 * (-ENOMEM when cJSON cannot allocate).
 */
int ctlsock_parse_reply(const char *buf, size_t len, const char *cmd, cJSON **value);

#endif
