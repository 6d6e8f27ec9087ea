/* aconn: spagent's outbound TLS connections (see aconn.h). */
#include "aconn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "agent_auth.h"
#include "proxy.h"

static const char *const state_names[] = {
	[AC_IDLE] = "idle", [AC_TCP] = "tcp", [AC_PROXY] = "proxy", [AC_TLS] = "tls",
	[AC_UPGRADE] = "upgrade", [AC_OPEN] = "open", [AC_FAILED] = "failed",
};

const char *aconn_state_name(enum aconn_state st)
{
	return (unsigned)st <= AC_FAILED ? state_names[st] : "?";
}

static int fail(struct aconn *c, const char *why)
{
	c->why = why;
	c->wbuf = NULL; /* owned by the SSL */
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		if (c->registered)
			epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->registered = false;
	c->st = AC_FAILED;
	return -1;
}

static int tcp_connect(const struct hostport *hp, int *fdp)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *ai;
	char port[8];
	int fd, one = 1;

	snprintf(port, sizeof(port), "%u", (unsigned)hp->port);
	/* a name costs a blocking lookup here (see docs/agent.md) */
	if (getaddrinfo(hp->host, port, &hints, &ai) != 0)
		return -EHOSTUNREACH;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		freeaddrinfo(ai);
		return -errno;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (rc < 0 && errno != EINPROGRESS) {
		rc = -errno;
		close(fd);
		return rc;
	}
	*fdp = fd;
	return 0;
}

static int start_tls(struct aconn *c);
static int start_upgrade(struct aconn *c);

int aconn_start(struct aconn *c, int epfd, SSL_CTX *ctx, const struct hostport *target,
		const struct hostport *proxy, const char *proxy_auth, const char *token,
		uint64_t now_ns)
{
	void *owner = c->owner;
	int rc;

	memset(c, 0, sizeof(*c));
	c->owner = owner;
	c->tag.kind = EVTAG_CONN;
	c->fd = -1;
	c->epfd = epfd;
	c->target = *target;
	c->since_ns = now_ns;
	c->via_proxy = proxy != NULL;
	if (token && strlen(token) < sizeof(c->token))
		strcpy(c->token, token);
	if (proxy_auth && strlen(proxy_auth) < sizeof(c->proxy_auth))
		strcpy(c->proxy_auth, proxy_auth);
	c->ssl = SSL_new(ctx);
	if (!c->ssl) {
		fail(c, "out of memory");
		return -ENOMEM;
	}
	/* the certificate must name the host we asked for */
	if (inet_pton(AF_INET, target->host, &(struct in_addr){ 0 }) == 1 ||
	    inet_pton(AF_INET6, target->host, &(struct in6_addr){ 0 }) == 1) {
		if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), target->host)) {
			fail(c, "bad address");
			return -EINVAL;
		}
	} else if (!SSL_set_tlsext_host_name(c->ssl, target->host) ||
		   !SSL_set1_host(c->ssl, target->host)) {
		fail(c, "bad host name");
		return -EINVAL;
	}
	rc = tcp_connect(proxy ? proxy : target, &c->fd);
	if (rc < 0) {
		fail(c, rc == -EHOSTUNREACH ? "cannot resolve" : "connect failed");
		return rc;
	}
	c->st = AC_TCP;
	return 0;
}

static int send_req(struct aconn *c, bool tls)
{
	while (c->req_off < c->req_len) {
		ssize_t n;
		if (tls) {
			n = aconn_write(c, c->req + c->req_off, c->req_len - c->req_off);
			if (n < 0)
				return -1;
		} else {
			n = send(c->fd, c->req + c->req_off, c->req_len - c->req_off, MSG_NOSIGNAL);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				n = 0;
			else if (n < 0)
				return -1;
		}
		if (n == 0)
			return 0;
		c->req_off += (size_t)n;
	}
	return 1;
}

static int start_tls(struct aconn *c)
{
	if (!SSL_set_fd(c->ssl, c->fd))
		return fail(c, "tls setup");
	SSL_set_connect_state(c->ssl);
	c->st = AC_TLS;
	return 0;
}

static int start_upgrade(struct aconn *c)
{
	char host[HOSTPORT_HOST_MAX + 10];
	int n;

	if (hostport_format(&c->target, host, sizeof(host)) < 0)
		return fail(c, "bad host");
	n = agent_auth_upgrade_request(c->req, sizeof(c->req), host, "/agent",
				       c->token[0] ? c->token : NULL);
	if (n < 0)
		return fail(c, "upgrade request");
	c->req_len = (size_t)n;
	c->req_off = 0;
	c->resp_len = 0;
	c->st = AC_UPGRADE;
	return 0;
}

int aconn_pump(struct aconn *c)
{
	for (;;) {
		switch (c->st) {
		case AC_TCP: {
			int err = 0;
			socklen_t el = sizeof(err);
			struct sockaddr_storage ss;
			socklen_t sl = sizeof(ss);
			getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
			if (err)
				return fail(c, c->via_proxy ? "proxy unreachable" : "connect failed");
			if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) < 0)
				return 0; /* not connected yet */
			if (c->via_proxy) {
				char t[HOSTPORT_HOST_MAX + 10];
				int n;
				if (hostport_format(&c->target, t, sizeof(t)) < 0 ||
				    (n = proxy_connect_request(c->req, sizeof(c->req), t,
							       c->proxy_auth[0] ? c->proxy_auth : NULL)) < 0)
					return fail(c, "proxy request");
				c->req_len = (size_t)n;
				c->req_off = 0;
				c->resp_len = 0;
				c->st = AC_PROXY;
			} else if (start_tls(c) < 0) {
				return -1;
			}
			continue;
		}
		case AC_PROXY: {
			int rc = send_req(c, false);
			if (rc < 0)
				return fail(c, "proxy closed");
			if (rc == 0)
				return 0;
			/* one byte at a time would be slow; the proxy sends nothing
			 * after its header until we speak TLS, so read greedily */
			ssize_t n = recv(c->fd, c->resp + c->resp_len, sizeof(c->resp) - c->resp_len, 0);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return 0;
			if (n <= 0)
				return fail(c, "proxy closed");
			c->resp_len += (size_t)n;
			size_t hl;
			enum proxy_err e = proxy_response_parse(c->resp, c->resp_len, &c->status, &hl);
			if (e == PROXY_NEED_MORE)
				continue;
			if (e != PROXY_OK)
				return fail(c, e == PROXY_REFUSED ? "proxy refused" : "proxy answer malformed");
			if (start_tls(c) < 0)
				return -1;
			continue;
		}
		case AC_TLS: {
			int rc = SSL_do_handshake(c->ssl);
			if (rc == 1) {
				if (start_upgrade(c) < 0)
					return -1;
				continue;
			}
			int e = SSL_get_error(c->ssl, rc);
			c->ssl_wants_read = e == SSL_ERROR_WANT_READ;
			c->ssl_wants_write = e == SSL_ERROR_WANT_WRITE;
			if (c->ssl_wants_read || c->ssl_wants_write)
				return 0;
			ERR_clear_error();
			return fail(c, SSL_get_verify_result(c->ssl) != X509_V_OK ?
					       "server certificate not trusted" : "tls handshake failed");
		}
		case AC_UPGRADE: {
			int rc = send_req(c, true);
			if (rc < 0)
				return fail(c, "closed during upgrade");
			if (rc == 0)
				return 0;
			if (c->resp_len == sizeof(c->resp))
				return fail(c, "upgrade answer too large");
			int n = SSL_read(c->ssl, c->resp + c->resp_len, (int)(sizeof(c->resp) - c->resp_len));
			if (n <= 0) {
				int e = SSL_get_error(c->ssl, n);
				c->ssl_wants_read = e == SSL_ERROR_WANT_READ;
				c->ssl_wants_write = e == SSL_ERROR_WANT_WRITE;
				if (c->ssl_wants_read || c->ssl_wants_write)
					return 0;
				ERR_clear_error();
				return fail(c, "closed during upgrade");
			}
			c->resp_len += (size_t)n;
			size_t hl;
			enum agent_auth_err e = agent_auth_upgrade_response_parse(c->resp, c->resp_len,
										  &c->status, &hl);
			if (e == AGENT_AUTH_NEED_MORE)
				continue;
			if (e != AGENT_AUTH_OK)
				return fail(c, c->status == 401 ? "token refused (401)" :
					       c->status == 503 ? "server busy (503)" :
					       c->status ? "upgrade refused" : "upgrade answer malformed");
			c->resp_off = hl; /* frames may follow in the same read */
			c->st = AC_OPEN;
			return 1;
		}
		default:
			return 0;
		}
	}
}

ssize_t aconn_read(struct aconn *c, void *buf, size_t cap)
{
	if (c->st != AC_OPEN)
		return -1;
	if (c->resp_off < c->resp_len) {
		size_t n = c->resp_len - c->resp_off;
		if (n > cap)
			n = cap;
		memcpy(buf, c->resp + c->resp_off, n);
		c->resp_off += n;
		return (ssize_t)n;
	}
	if (cap > INT32_MAX)
		cap = INT32_MAX;
	int n = SSL_read(c->ssl, buf, (int)cap);
	if (n > 0) {
		c->ssl_wants_read = false;
		return n;
	}
	int e = SSL_get_error(c->ssl, n);
	c->ssl_wants_read = e == SSL_ERROR_WANT_READ;
	c->rd_blocked = c->ssl_wants_read;
	c->ssl_wants_write = e == SSL_ERROR_WANT_WRITE;
	if (c->ssl_wants_read || c->ssl_wants_write)
		return 0;
	ERR_clear_error();
	return -1;
}

ssize_t aconn_write(struct aconn *c, const void *buf, size_t len)
{
	/* OpenSSL wants a retried write to be the same one */
	if (c->wpending && len >= c->wpending)
		len = c->wpending;
	if (len > INT32_MAX)
		len = INT32_MAX;
	int n = SSL_write(c->ssl, buf, (int)len);
	if (n > 0) {
		c->wpending = 0;
		c->ssl_wants_write = false;
		return n;
	}
	int e = SSL_get_error(c->ssl, n);
	if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
		c->wpending = len;
		c->ssl_wants_write = e == SSL_ERROR_WANT_WRITE;
		return 0;
	}
	ERR_clear_error();
	return -1;
}

int aconn_buffer_writes(struct aconn *c, size_t size)
{
	BIO *sock, *buf;

	if (c->st != AC_OPEN || !c->wbuf == !size)
		return 0;
	if (!size) {
		if (BIO_wpending(c->wbuf))
			return 0; /* later, once sent */
		sock = BIO_next(c->wbuf);
		if (!BIO_up_ref(sock))
			return -ENOMEM;
		SSL_set0_wbio(c->ssl, sock); /* frees the buffer, drops its reference */
		c->wbuf = NULL;
		return 0;
	}
	sock = SSL_get_wbio(c->ssl);
	buf = BIO_new(BIO_f_buffer());
	if (!buf || !BIO_set_write_buffer_size(buf, (long)size) || !BIO_up_ref(sock)) {
		BIO_free(buf);
		return -ENOMEM;
	}
	/* the socket BIO stays the read side and ends the write chain */
	BIO_push(buf, sock);
	SSL_set0_wbio(c->ssl, buf);
	c->wbuf = buf;
	return 0;
}

int aconn_flush(struct aconn *c)
{
	if (!c->wbuf || !BIO_wpending(c->wbuf))
		return 0;
	if (BIO_flush(c->wbuf) > 0)
		return 0;
	return BIO_should_retry(c->wbuf) ? 1 : -1;
}

bool aconn_readable(const struct aconn *c)
{
	return !c->rd_blocked || aconn_pending(c);
}

void aconn_event(struct aconn *c, uint32_t events)
{
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		c->rd_blocked = false;
}

bool aconn_pending(const struct aconn *c)
{
	return c->st == AC_OPEN && (c->resp_off < c->resp_len || SSL_pending(c->ssl) > 0);
}

void aconn_update(struct aconn *c, bool want_read, bool has_output)
{
	uint32_t ev = 0;

	if (c->fd < 0)
		return;
	switch (c->st) {
	case AC_TCP:
		ev = EPOLLOUT;
		break;
	case AC_PROXY:
		ev = c->req_off < c->req_len ? EPOLLOUT : EPOLLIN;
		break;
	case AC_TLS:
	case AC_UPGRADE:
		ev = (c->ssl_wants_write ? EPOLLOUT : 0) | (c->ssl_wants_read ? EPOLLIN : 0);
		if (c->st == AC_UPGRADE && c->req_off < c->req_len)
			ev |= EPOLLOUT;
		if (!ev)
			ev = EPOLLIN;
		break;
	case AC_OPEN:
		if (c->wbuf && BIO_wpending(c->wbuf))
			has_output = true;
		ev = (want_read ? EPOLLIN : 0) | (has_output || c->ssl_wants_write ? EPOLLOUT : 0);
		break;
	default:
		return;
	}
	if (c->registered && ev == c->events)
		return;
	struct epoll_event e = { .events = ev, .data.ptr = &c->tag };
	if (ev == 0) {
		if (c->registered)
			epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		c->registered = false;
	} else if (epoll_ctl(c->epfd, c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &e) == 0) {
		c->registered = true;
	}
	c->events = ev;
}

void aconn_close(struct aconn *c)
{
	if (c->ssl && c->st == AC_OPEN) {
		SSL_shutdown(c->ssl); /* best effort: one close_notify, no wait */
		aconn_flush(c);
	}
	ERR_clear_error();
	fail(c, c->why);
	c->st = AC_IDLE;
}
