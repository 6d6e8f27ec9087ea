/* keyhex: hex key files (see keyhex.h). */
#include "keyhex.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <openssl/crypto.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

int keyhex_parse(const char *text, size_t len, uint8_t *out, size_t min, size_t max)
{
	size_t b = 0, e = len;

	while (b < e && is_space(text[b]))
		b++;
	while (e > b && is_space(text[e - 1]))
		e--;
	if ((e - b) % 2 || (e - b) / 2 < min || (e - b) / 2 > max)
		return -EINVAL;
	for (size_t i = 0; i < (e - b) / 2; i++) {
		int hi = hexval(text[b + 2 * i]), lo = hexval(text[b + 2 * i + 1]);
		if (hi < 0 || lo < 0) {
			OPENSSL_cleanse(out, i);
			return -EINVAL;
		}
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (int)((e - b) / 2);
}

int keyhex_read(const char *path, uint8_t *out, size_t min, size_t max)
{
	char buf[4096];
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			close(fd);
			return rc;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == sizeof(buf)) {
			close(fd);
			OPENSSL_cleanse(buf, sizeof(buf));
			return -EFBIG;
		}
	}
	close(fd);
	rc = keyhex_parse(buf, len, out, min, max);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}
