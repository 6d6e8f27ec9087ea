/* proxy: HTTP CONNECT request and response (see proxy.h). */
#include "proxy.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "tun_frame.h"

static const char *const names[PROXY_ERR__COUNT] = {
	[PROXY_OK] = "ok",
	[PROXY_NEED_MORE] = "need_more",
	[PROXY_TOO_LARGE] = "too_large",
	[PROXY_BAD_EOL] = "bad_eol",
	[PROXY_BAD_STATUS_LINE] = "bad_status_line",
	[PROXY_BAD_HEADER] = "bad_header",
	[PROXY_REFUSED] = "refused",
	[PROXY_TRAILING] = "trailing",
};

const char *proxy_err_name(enum proxy_err e)
{
	return (unsigned)e < PROXY_ERR__COUNT ? names[e] : "?";
}

int proxy_connect_request(char *out, size_t cap, const char *target, const char *auth)
{
	char b64[4 * ((256 + 2) / 3) + 1];
	int n;

	if (!tun_target_valid(target, strlen(target)))
		return -EINVAL;
	if (auth && *auth) {
		size_t al = strlen(auth);
		if (al > 256 || !strchr(auth, ':'))
			return -EINVAL;
		for (size_t i = 0; i < al; i++)
			if ((unsigned char)auth[i] < 0x20 || auth[i] == 0x7f)
				return -EINVAL;
		EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)auth, (int)al);
		n = snprintf(out, cap, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n"
			     "Proxy-Authorization: Basic %s\r\n\r\n", target, target, b64);
	} else {
		n = snprintf(out, cap, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target);
	}
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

/* "HTTP/1.x DDD[ reason]" */
static bool status_line(const char *l, size_t n, int *status)
{
	if (n < 12 || memcmp(l, "HTTP/1.", 7) || (l[7] != '0' && l[7] != '1') || l[8] != ' ')
		return false;
	for (int i = 9; i < 12; i++)
		if (l[i] < '0' || l[i] > '9')
			return false;
	if (n > 12 && l[12] != ' ')
		return false;
	if (l[9] == '0')
		return false;
	*status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	for (size_t i = 13; i < n; i++)
		if (((unsigned char)l[i] < 0x20 && l[i] != '\t') || l[i] == 0x7f)
			return false;
	return true;
}

static bool header_line(const char *l, size_t n)
{
	const char *colon = memchr(l, ':', n);
	if (!colon || colon == l)
		return false;
	for (const char *p = l; p < colon; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return false;
	for (const char *p = colon + 1; p < l + n; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
			return false;
	return true;
}

enum proxy_err proxy_response_parse(const char *buf, size_t len, int *status,
				    size_t *header_len)
{
	size_t pos = 0, lines = 0;

	*status = 0;
	*header_len = 0;
	for (;;) {
		size_t i = pos;
		while (i < len && i < PROXY_RESP_MAX && buf[i] != '\r' && buf[i] != '\n' && buf[i])
			i++;
		if (i >= PROXY_RESP_MAX)
			return PROXY_TOO_LARGE;
		if (i >= len)
			return PROXY_NEED_MORE; /* the lines so far were fine */
		if (buf[i] != '\r')
			return PROXY_BAD_EOL;
		if (i + 1 >= PROXY_RESP_MAX)
			return PROXY_TOO_LARGE;
		if (i + 1 >= len)
			return PROXY_NEED_MORE;
		if (buf[i + 1] != '\n')
			return PROXY_BAD_EOL;
		size_t n = i - pos;
		if (lines == 0) {
			if (!status_line(buf + pos, n, status))
				return PROXY_BAD_STATUS_LINE;
		} else if (n == 0) {
			*header_len = i + 2;
			if (*status < 200 || *status > 299)
				return PROXY_REFUSED;
			return len > *header_len ? PROXY_TRAILING : PROXY_OK;
		} else if (!header_line(buf + pos, n)) {
			return PROXY_BAD_HEADER;
		}
		lines++;
		pos = i + 2;
	}
}
