/* hostport: "host:port" parsing for spagent's lists (see hostport.h). */
#include "hostport.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tun_frame.h"

int hostport_parse(const char *s, size_t len, struct hostport *hp)
{
	if (!tun_target_valid(s, len))
		return -EINVAL;
	const char *colon = memrchr(s, ':', len);
	size_t hl = (size_t)(colon - s);
	const char *h = s;
	if (h[0] == '[') { /* tun_target_valid checked the brackets */
		h++;
		hl -= 2;
		if (!memchr(h, ':', hl))
			return -EINVAL; /* brackets hold an IPv6 literal, nothing else */
	}
	if (hl == 0 || hl > HOSTPORT_HOST_MAX)
		return -EINVAL;
	unsigned port = 0;
	for (const char *p = colon + 1; p < s + len; p++)
		port = port * 10 + (unsigned)(*p - '0');
	memcpy(hp->host, h, hl);
	hp->host[hl] = '\0';
	hp->port = (uint16_t)port;
	return 0;
}

int hostport_list_parse(const char *csv, struct hostport *out, size_t max, char *err,
			size_t errlen)
{
	size_t n = 0;
	const char *p = csv;

	if (err && errlen)
		err[0] = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p)
		return 0;
	for (;;) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		const char *b = p;
		while (l && (*b == ' ' || *b == '\t'))
			b++, l--;
		while (l && (b[l - 1] == ' ' || b[l - 1] == '\t'))
			l--;
		if (n == max) {
			if (err)
				snprintf(err, errlen, "more than %zu items", max);
			return -E2BIG;
		}
		if (hostport_parse(b, l, &out[n]) < 0) {
			if (err)
				snprintf(err, errlen, "'%.*s' is not host:port", (int)(l > 80 ? 80 : l), b);
			return -EINVAL;
		}
		n++;
		if (!e)
			break;
		p = e + 1;
	}
	return (int)n;
}

int hostport_format(const struct hostport *hp, char *out, size_t cap)
{
	int n = snprintf(out, cap, strchr(hp->host, ':') ? "[%s]:%u" : "%s:%u", hp->host,
			 (unsigned)hp->port);
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}
