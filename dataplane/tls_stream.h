/*
 * tls_stream: server-side TLS over memory BIOs (OpenSSL), for connections
 * whose bytes move through the backend (io_uring or DPDK), not through a
 * socket OpenSSL could own. Ciphertext in with tls_stream_feed(), plaintext
 * out with tls_stream_read(); plaintext in with tls_stream_write(),
 * ciphertext to send with tls_stream_take(). The handshake runs inside
 * feed/read; whatever it wants sent shows in tls_stream_pending().
 *
 * A tls_server (the SSL_CTX: certificate, key, versions) is shared by every
 * worker; a tls_stream belongs to one connection on one thread. Idle
 * connections keep no record buffers (SSL_MODE_RELEASE_BUFFERS).
 */
#ifndef SP_DP_TLS_STREAM_H
#define SP_DP_TLS_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tls_server tls_server;
typedef struct tls_stream tls_stream;

/* Per TLS record written: header, AEAD tag and padding, rounded up. */
#define TLS_STREAM_OVERHEAD 64

/* cert_file (PEM chain) and key_file (PEM); min_version "1.2" or "1.3".
 * NULL with a reason in err (the OpenSSL error text) on failure. */
tls_server *tls_server_create(const char *cert_file, const char *key_file,
			      const char *min_version, char *err, size_t errlen);
void tls_server_destroy(tls_server *srv);

tls_stream *tls_stream_new(tls_server *srv); /* NULL: ENOMEM */
void tls_stream_free(tls_stream *ts);

/* Ciphertext from the peer. 0, or -1 (out of memory). */
int tls_stream_feed(tls_stream *ts, const uint8_t *in, size_t len);
/* Plaintext: > 0 bytes, 0 when nothing more is decryptable now, -1 when
 * the connection is finished (handshake failure, bad record, close_notify
 * from the peer): send what is pending (an alert) and close. */
int tls_stream_read(tls_stream *ts, uint8_t *out, size_t cap);
/* Plaintext to send, encrypted whole into the pending output. 0 or -1. */
int tls_stream_write(tls_stream *ts, const uint8_t *plain, size_t len);
/* Ciphertext waiting to be sent, and taking it. */
size_t tls_stream_pending(const tls_stream *ts);
size_t tls_stream_take(tls_stream *ts, uint8_t *out, size_t cap);
bool tls_stream_established(const tls_stream *ts);
/* Why the last -1 happened (a static string). */
const char *tls_stream_why(const tls_stream *ts);

#endif
