/*
 * snapshot (spctl): one HTTP GET through a local forward port (a tunnel
 * stream to a camera-local HTTP server), read with common/http_resp.
 *
 * The first request goes without credentials; on a 401 with credentials
 * given, the strongest challenge offered (Digest SHA-256, Digest MD5,
 * Basic; common/rtsp_auth.h) is answered once on a new connection.
 * Credentials are never printed; buffers that held them are wiped.
 */
#ifndef SP_CTL_SNAPSHOT_H
#define SP_CTL_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

enum snap_fail {
	SNAP_OK = 0,
	SNAP_HTTP,      /* the camera answered >= 300 (redirects are not followed) */
	SNAP_TIMEOUT,
	SNAP_MALFORMED, /* the response broke http_resp's rules or limits */
	SNAP_NO_ANSWER, /* the stream closed before any byte: OPEN refused or target down */
	SNAP_LOCAL,     /* request invalid, or the forward port could not be reached */
};

struct snap_req {
	const char *host;    /* camera-side host, for the Host header */
	uint16_t port;       /* camera-side port */
	const char *path;    /* absolute path (and query) */
	const char *user, *pass; /* NULL: none */
	uint16_t fwd_port;   /* 127.0.0.1 port of the forward */
	uint64_t deadline_ms; /* CLOCK_MONOTONIC, whole fetch */
	uint64_t max_body;
};

struct snap_result {
	enum snap_fail fail;
	int status;
	char reason[64];
	char content_type[128]; /* printable ASCII only */
	const char *auth;       /* "none", "basic", "digest" */
	uint8_t *body;          /* malloc'd (the caller frees); NULL unless 2xx */
	size_t len;
	int attempts;
	char why[512];          /* for fail != SNAP_OK */
};

uint64_t snap_now_ms(void);
/* Fills res (res->fail says how it went); 0, or -errno for ENOMEM. */
int snap_fetch(const struct snap_req *q, struct snap_result *res);

#endif
