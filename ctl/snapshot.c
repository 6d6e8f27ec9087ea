/*
 * snapshot (spctl): one HTTP GET through a forward (snapshot.h). Blocking
 * tool code: one connection at a time, poll() against one deadline.
 */
#include "snapshot.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "http_resp.h"
#include "rtsp_auth.h"

#define READ_CHUNK 65536
#define REQ_MAX 4096

uint64_t snap_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct sink {
	http_resp *r;
	uint8_t *buf;
	size_t len, cap;
	bool nomem;
};

/* Keeps the body of a 2xx answer only; error pages and redirects are dropped. */
static int on_body(void *ctx, const uint8_t *p, size_t n)
{
	struct sink *s = ctx;

	if (http_resp_status(s->r) >= 300)
		return 0;
	if (n > s->cap - s->len) {
		size_t cap = s->cap ? s->cap : 65536;
		while (cap - s->len < n)
			cap *= 2;
		uint8_t *b = realloc(s->buf, cap);
		if (!b) {
			s->nomem = true;
			return -1;
		}
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	return 0;
}

static int remaining(const struct snap_req *q)
{
	uint64_t now = snap_now_ms();
	return now >= q->deadline_ms ? 0 : (int)(q->deadline_ms - now);
}

/* Visible ASCII, no space: what goes on the request line or in Host. */
static bool clean_token(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);
	if (!n || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return false;
	return true;
}

static void copy_printable(char *dst, size_t cap, struct http_str v)
{
	size_t k = 0;
	for (uint32_t i = 0; i < v.len && k + 1 < cap; i++)
		dst[k++] = v.p[i] >= 0x20 && v.p[i] < 0x7f ? v.p[i] : '?';
	dst[k] = '\0';
}

/* One connection: send req, feed the answer to r. */
static enum snap_fail exchange(const struct snap_req *q, const char *req, size_t req_len,
			       http_resp *r, char *why, size_t whylen)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(q->fwd_port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	enum snap_fail f = SNAP_OK;
	size_t sent = 0, got = 0;
	static uint8_t buf[READ_CHUNK];
	int fd, rc = HTTP_RESP_MORE;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		snprintf(why, whylen, "cannot connect to the forward 127.0.0.1:%u: %s", q->fwd_port,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return SNAP_LOCAL;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	while (rc == HTTP_RESP_MORE) {
		struct pollfd p = { .fd = fd, .events = sent < req_len ? POLLIN | POLLOUT : POLLIN };
		int ms = remaining(q);
		if (!ms || poll(&p, 1, ms) == 0) {
			snprintf(why, whylen, "timed out: %s after %zu bytes of the response",
				 got ? "no complete response" : "no response", got);
			f = SNAP_TIMEOUT;
			break;
		}
		if (sent < req_len && (p.revents & POLLOUT)) {
			ssize_t n = send(fd, req + sent, req_len - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				sent = req_len; /* the read side tells what happened */
		}
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n > 0) {
			got += (size_t)n;
			rc = http_resp_feed(r, buf, (size_t)n);
			continue;
		}
		if (!got) {
			snprintf(why, whylen, "the tunnel stream closed before any response");
			f = SNAP_NO_ANSWER;
			break;
		}
		rc = http_resp_eof(r);
	}
	close(fd);
	if (f == SNAP_OK && rc == HTTP_RESP_ERROR) {
		enum http_resp_err e = http_resp_error(r);
		snprintf(why, whylen, "malformed response (%s) after %zu bytes%s", http_resp_err_name(e),
			 got, e == HTTP_RESP_ERR_TRUNCATED ? ": the connection closed mid-response" :
			 e == HTTP_RESP_ERR_BODY_TOO_BIG ? ": over the size cap" : "");
		f = SNAP_MALFORMED;
	}
	return f;
}

/* The strongest challenge of a 401 we can answer; false if none. */
static bool pick(const http_resp *r, struct rtsp_auth_challenge *best)
{
	struct rtsp_auth_challenge c;
	struct http_str v;
	int rank = 0;

	for (uint32_t i = 0; http_resp_header(r, "WWW-Authenticate", i, &v); i++) {
		if (rtsp_auth_parse_challenge((struct rtsp_str){ v.p, v.len }, &c))
			continue;
		int k = c.scheme == RTSP_AUTH_BASIC ? 1 :
			c.alg == RTSP_AUTH_SHA256 || c.alg == RTSP_AUTH_SHA256_SESS ? 3 : 2;
		if (k > rank) {
			rank = k;
			*best = c;
		}
	}
	return rank > 0;
}

int snap_fetch(const struct snap_req *q, struct snap_result *res)
{
	static const struct http_resp_limits lim0 = { 0 };
	struct http_resp_limits lim = lim0;
	char req[REQ_MAX], authz[2048] = "", hostport[300];
	struct sink s = { 0 };
	bool creds = q->user && q->pass;
	int n;

	memset(res, 0, sizeof(*res));
	res->auth = "none";
	if (!clean_token(q->path, 2048) || q->path[0] != '/' || !clean_token(q->host, 255)) {
		res->fail = SNAP_LOCAL;
		snprintf(res->why, sizeof(res->why),
			 "path must start with '/' and hold no space or control character; host likewise");
		return 0;
	}
	snprintf(hostport, sizeof(hostport), strchr(q->host, ':') && q->host[0] != '[' ? "[%s]:%u" :
		 "%s:%u", q->host, q->port);
	lim.max_body = q->max_body;
	for (res->attempts = 1; res->attempts <= 2; res->attempts++) {
		n = snprintf(req, sizeof(req),
			     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: spctl-snapshot\r\n"
			     "Accept: */*\r\nConnection: close\r\n%s%s%s\r\n", q->path, hostport,
			     authz[0] ? "Authorization: " : "", authz, authz[0] ? "\r\n" : "");
		if (n <= 0 || (size_t)n >= sizeof(req)) {
			res->fail = SNAP_LOCAL;
			snprintf(res->why, sizeof(res->why), "request too long");
			break;
		}
		http_resp *r = http_resp_new(&lim, on_body, &s);
		if (!r) {
			OPENSSL_cleanse(req, sizeof(req));
			OPENSSL_cleanse(authz, sizeof(authz));
			return -ENOMEM;
		}
		s.r = r;
		s.len = 0;
		res->fail = exchange(q, req, (size_t)n, r, res->why, sizeof(res->why));
		OPENSSL_cleanse(req, sizeof(req));
		if (s.nomem) {
			http_resp_free(r);
			free(s.buf);
			OPENSSL_cleanse(authz, sizeof(authz));
			return -ENOMEM;
		}
		res->status = http_resp_status(r);
		if (res->fail == SNAP_OK) {
			struct http_str v;
			copy_printable(res->reason, sizeof(res->reason), http_resp_reason(r));
			if (http_resp_header(r, "Content-Type", 0, &v))
				copy_printable(res->content_type, sizeof(res->content_type), v);
		}
		struct rtsp_auth_challenge c;
		if (res->fail == SNAP_OK && res->status == 401 && creds && !authz[0] && pick(r, &c)) {
			char cnonce[RTSP_AUTH_CNONCE_LEN + 1] = "";
			bool basic = c.scheme == RTSP_AUTH_BASIC;
			if ((!basic && rtsp_auth_cnonce(cnonce)) ||
			    rtsp_auth_client_header(&c, q->user, q->pass, "GET", q->path, 1, cnonce,
						    authz, sizeof(authz)) < 0) {
				res->fail = SNAP_LOCAL;
				snprintf(res->why, sizeof(res->why),
					 "cannot answer the camera's %s challenge with these credentials"
					 " (control character, or ':' in a Basic user name)",
					 basic ? "Basic" : "Digest");
				http_resp_free(r);
				break;
			}
			res->auth = basic ? "basic" : "digest";
			http_resp_free(r);
			continue;
		}
		if (res->fail == SNAP_OK && res->status >= 300) {
			struct http_str loc = { "", 0 };
			char where[128];
			http_resp_header(r, "Location", 0, &loc);
			copy_printable(where, sizeof(where), loc);
			res->fail = SNAP_HTTP;
			snprintf(res->why, sizeof(res->why), "HTTP %d %s%s%s", res->status, res->reason,
				 res->status < 400 ? ": redirect not followed, Location: " :
				 res->status != 401 ? "" :
				 authz[0] ? ": the camera refused the credentials" :
				 creds ? ": no authentication scheme we can answer" :
				 ": the camera needs credentials (--user/--pass or --auth-file)",
				 res->status < 400 ? where : "");
		}
		http_resp_free(r);
		break;
	}
	OPENSSL_cleanse(authz, sizeof(authz));
	if (res->fail == SNAP_OK) {
		res->body = s.buf;
		res->len = s.len;
	} else {
		free(s.buf);
	}
	return 0;
}
