/*
 * proxy: the HTTP CONNECT exchange spagent runs through an HTTP proxy
 * before TLS (docs/agent-protocol.md §1). Pure: the caller does the I/O.
 */
#ifndef SP_PROXY_H
#define SP_PROXY_H

#include <stddef.h>

#define PROXY_RESP_MAX 8192 /* status line + headers */

enum proxy_err {
	PROXY_OK = 0,        /* 2xx: the tunnel is open after header_len bytes */
	PROXY_NEED_MORE,     /* blank line not in yet */
	PROXY_TOO_LARGE,     /* no blank line within PROXY_RESP_MAX */
	PROXY_BAD_EOL,       /* bare CR or LF, NUL */
	PROXY_BAD_STATUS_LINE,
	PROXY_BAD_HEADER,    /* control character or no colon */
	PROXY_REFUSED,       /* well-formed, status not 2xx (*status says which) */
	PROXY_TRAILING,      /* bytes after the header: a TLS server never speaks first */
	PROXY_ERR__COUNT
};

const char *proxy_err_name(enum proxy_err e);
/* "CONNECT host:port HTTP/1.1" with Host and, when auth (user:password)
 * is given, Proxy-Authorization: Basic. Length or -ENOSPC / -EINVAL. */
int proxy_connect_request(char *out, size_t cap, const char *target, const char *auth);
/* Parses the proxy's answer in buf. *status: the code once the status
 * line parsed (0 before). */
enum proxy_err proxy_response_parse(const char *buf, size_t len, int *status,
				    size_t *header_len);

#endif
