/*
 * tls_stream: OpenSSL with a memory BIO pair per connection (see
 * tls_stream.h). The read BIO holds ciphertext the backend received, the
 * write BIO collects what OpenSSL wants sent; neither ever blocks.
 */
#include "tls_stream.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

struct tls_server {
	SSL_CTX *ctx;
};

struct tls_stream {
	SSL *ssl;
	BIO *rbio, *wbio; /* owned by ssl */
	const char *why;
};

static void err_text(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errlen, "%s%s%s", what, e ? ": " : "", buf);
	ERR_clear_error();
}

tls_server *tls_server_create(const char *cert_file, const char *key_file,
			      const char *min_version, char *err, size_t errlen)
{
	tls_server *srv = calloc(1, sizeof(*srv));
	int minv = TLS1_2_VERSION;

	if (!srv) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (min_version && strcmp(min_version, "1.3") == 0)
		minv = TLS1_3_VERSION;
	else if (min_version && *min_version && strcmp(min_version, "1.2") != 0) {
		snprintf(err, errlen, "TLS minimum version '%s': use 1.2 or 1.3", min_version);
		goto fail;
	}
	srv->ctx = SSL_CTX_new(TLS_server_method());
	if (!srv->ctx) {
		err_text(err, errlen, "SSL_CTX_new");
		goto fail;
	}
	SSL_CTX_set_min_proto_version(srv->ctx, minv);
	/* No renegotiation (a client-driven CPU sink) and no session tickets
	 * to keep per connection; release record buffers while idle. */
	SSL_CTX_set_options(srv->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(srv->ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE);
	if (SSL_CTX_use_certificate_chain_file(srv->ctx, cert_file) != 1) {
		err_text(err, errlen, cert_file);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(srv->ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		err_text(err, errlen, key_file);
		goto fail;
	}
	if (SSL_CTX_check_private_key(srv->ctx) != 1) {
		err_text(err, errlen, "the key does not match the certificate");
		goto fail;
	}
	return srv;
fail:
	tls_server_destroy(srv);
	return NULL;
}

void tls_server_destroy(tls_server *srv)
{
	if (!srv)
		return;
	SSL_CTX_free(srv->ctx);
	free(srv);
}

tls_stream *tls_stream_new(tls_server *srv)
{
	tls_stream *ts = calloc(1, sizeof(*ts));

	if (!ts)
		return NULL;
	ts->ssl = SSL_new(srv->ctx);
	ts->rbio = BIO_new(BIO_s_mem());
	ts->wbio = BIO_new(BIO_s_mem());
	if (!ts->ssl || !ts->rbio || !ts->wbio) {
		SSL_free(ts->ssl);
		BIO_free(ts->rbio);
		BIO_free(ts->wbio);
		free(ts);
		ERR_clear_error();
		return NULL;
	}
	/* An empty read BIO means "try again", not EOF. */
	BIO_set_mem_eof_return(ts->rbio, -1);
	SSL_set_bio(ts->ssl, ts->rbio, ts->wbio);
	SSL_set_accept_state(ts->ssl);
	return ts;
}

void tls_stream_free(tls_stream *ts)
{
	if (!ts)
		return;
	SSL_free(ts->ssl);
	free(ts);
}

int tls_stream_feed(tls_stream *ts, const uint8_t *in, size_t len)
{
	while (len) {
		int chunk = len > (1u << 30) ? 1 << 30 : (int)len;
		int n = BIO_write(ts->rbio, in, chunk);
		if (n <= 0) {
			ts->why = "out of memory";
			return -1;
		}
		in += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fatal(tls_stream *ts, int ssl_err)
{
	if (ssl_err == SSL_ERROR_ZERO_RETURN)
		ts->why = "closed by the peer";
	else if (!SSL_is_init_finished(ts->ssl))
		ts->why = "handshake failed";
	else
		ts->why = "bad record";
	ERR_clear_error();
	return -1;
}

int tls_stream_read(tls_stream *ts, uint8_t *out, size_t cap)
{
	int n = SSL_read(ts->ssl, out, cap > (1u << 30) ? 1 << 30 : (int)cap);

	if (n > 0)
		return n;
	int e = SSL_get_error(ts->ssl, n);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	return fatal(ts, e);
}

int tls_stream_write(tls_stream *ts, const uint8_t *plain, size_t len)
{
	/* Memory BIOs take everything: one call writes it all or fails. */
	while (len) {
		int chunk = len > (1u << 30) ? 1 << 30 : (int)len;
		int n = SSL_write(ts->ssl, plain, chunk);
		if (n <= 0)
			return fatal(ts, SSL_get_error(ts->ssl, n));
		plain += n;
		len -= (size_t)n;
	}
	return 0;
}

size_t tls_stream_pending(const tls_stream *ts)
{
	return BIO_ctrl_pending(ts->wbio);
}

size_t tls_stream_take(tls_stream *ts, uint8_t *out, size_t cap)
{
	int n = BIO_read(ts->wbio, out, cap > (1u << 30) ? 1 << 30 : (int)cap);
	return n > 0 ? (size_t)n : 0;
}

bool tls_stream_established(const tls_stream *ts)
{
	return SSL_is_init_finished(ts->ssl);
}

const char *tls_stream_why(const tls_stream *ts)
{
	return ts->why ? ts->why : "";
}
