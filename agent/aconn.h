/*
 * aconn: one outbound connection of spagent, non-blocking from connect()
 * to the first frame: TCP (optionally through an HTTP proxy's CONNECT),
 * TLS with the configured CA and the server's name or address checked,
 * then the HTTP/1.1 Upgrade of docs/agent-protocol.md §1.1 (with a Bearer
 * token on the tunnel). After that it moves TLS bytes for its owner (the
 * control connection or a tunnel). Registered on the owner's epoll with
 * struct evtag EVTAG_CONN.
 */
#ifndef SP_ACONN_H
#define SP_ACONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "evtag.h"
#include "hostport.h"

enum aconn_state { AC_IDLE, AC_TCP, AC_PROXY, AC_TLS, AC_UPGRADE, AC_OPEN, AC_FAILED };

struct aconn {
	struct evtag tag; /* EVTAG_CONN */
	enum aconn_state st;
	int fd, epfd;
	SSL *ssl;
	bool registered;
	uint32_t events;
	bool ssl_wants_write; /* TLS must write before it can go on */
	bool ssl_wants_read;
	bool rd_blocked;      /* the last read would block: wait for EPOLLIN (aconn_readable) */
	int status;           /* HTTP status of the proxy's / server's answer */
	const char *why;      /* why it failed (static string) */
	struct hostport target;
	char req[1024];       /* CONNECT or Upgrade request being sent */
	size_t req_len, req_off;
	char resp[8192];      /* answer being read; then bytes after the 101 */
	size_t resp_len, resp_off;
	size_t wpending;      /* length of an SSL_write to retry as it was */
	BIO *wbuf;            /* aconn_buffer_writes(): TLS records gathered here */
	uint64_t since_ns;    /* start of this attempt */
	char token[520];      /* Bearer token (tunnel); "" on the control connection */
	char proxy_auth[260];
	bool via_proxy;
	void *owner;          /* for the owner's dispatch */
};

/* Starts connecting to target (through proxy when not NULL). The SSL_CTX
 * holds the CA; the server certificate must match target's host (name or
 * IP). token may be NULL. 0, or -errno with c->why set (c is then
 * AC_FAILED and holds nothing). */
int aconn_start(struct aconn *c, int epfd, SSL_CTX *ctx, const struct hostport *target,
		const struct hostport *proxy, const char *proxy_auth, const char *token,
		uint64_t now_ns);
/* Advances the setup after an event. 1: just became AC_OPEN; 0: nothing
 * new; -1: failed (c->why, c->status). */
int aconn_pump(struct aconn *c);
/* AC_OPEN: >0 bytes read, 0 would block, -1 closed or failed. */
/* Worth calling aconn_read(): not blocked since the last EPOLLIN, or TLS
 * or the Upgrade left bytes behind. Saves a failing read() per loop round. */
bool aconn_readable(const struct aconn *c);
/* The owner got an epoll event on c. */
void aconn_event(struct aconn *c, uint32_t events);
ssize_t aconn_read(struct aconn *c, void *buf, size_t cap);
/* AC_OPEN: >0 bytes written, 0 would block, -1 failed. */
ssize_t aconn_write(struct aconn *c, const void *buf, size_t len);
/* AC_OPEN: gather TLS records in a buffer of size bytes and write them
 * with one send() per buffer instead of one per 16 KiB record (a bulk
 * tunnel's cost is mostly per system call and per TCP push). The owner
 * must then call aconn_flush() after its writes. size 0 drops the buffer
 * (once it is empty; until then nothing changes). 0 or -ENOMEM. */
int aconn_buffer_writes(struct aconn *c, size_t size);
/* Sends what aconn_buffer_writes() gathered: 0 all sent (or unbuffered),
 * 1 some left (the socket is full; aconn_update() asks for EPOLLOUT),
 * -1 failed. */
int aconn_flush(struct aconn *c);
/* AC_OPEN: TLS holds decrypted bytes epoll cannot see. */
bool aconn_pending(const struct aconn *c);
/* Sets the epoll interest: before AC_OPEN from the setup's needs, after it
 * from the owner's (want_read, has_output) plus TLS's own. */
void aconn_update(struct aconn *c, bool want_read, bool has_output);
/* Closes (TLS close_notify attempted, not waited for). Back to AC_IDLE. */
void aconn_close(struct aconn *c);
const char *aconn_state_name(enum aconn_state st);

#endif
