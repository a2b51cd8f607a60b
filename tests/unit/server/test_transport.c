/*
 * server/transport.c over socketpairs with small kernel buffers, against
 * an OpenSSL client: the handshake, writes that stop half-way and are
 * retried from rebuilt iovecs (the stream must arrive intact), reads that
 * leave decrypted input pending, garbage instead of a ClientHello, and the
 * plain transport.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "server/transport.h"
#include "tests/unit/server/test_server.h"

static char cert_path[64], key_path[64];

/* A self-signed P-256 certificate and its key, in two temporary files. */
static void
make_cert(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509     *x = X509_new();
	FILE     *f;
	int       fd;

	ck_assert_ptr_nonnull(key);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	                           (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	ck_assert_int_gt(X509_sign(x, key, EVP_sha256()), 0);

	strcpy(cert_path, "/tmp/warren-test-cert-XXXXXX");
	fd = mkstemp(cert_path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	PEM_write_X509(f, x);
	fclose(f);
	strcpy(key_path, "/tmp/warren-test-key-XXXXXX");
	fd = mkstemp(key_path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(key);
}

static struct transport_tls *
server_setup(void)
{
	struct transport_tls_settings s = { .certfile = cert_path, .keyfile = key_path,
		                            .depth = -1 };
	char                          err[256];
	struct transport_tls         *tls;

	make_cert();
	tls = transport_tls_new(&s, err, sizeof(err));
	ck_assert_msg(tls != NULL, "%s", err);
	return tls;
}

static void
cleanup_cert(void)
{
	unlink(cert_path);
	unlink(key_path);
}

/* A non-blocking socketpair whose buffers fill after a few KiB. */
static void
small_pair(int sv[2])
{
	int small = 4096;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	for (int i = 0; i < 2; i++) {
		setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
		setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	}
}

static SSL *
client_new(SSL_CTX **cctx, int fd)
{
	*cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(*cctx, SSL_VERIFY_NONE, NULL);
	SSL *c = SSL_new(*cctx);
	SSL_set_fd(c, fd);
	SSL_set_connect_state(c);
	return c;
}

/* Drive both sides until the handshake is done. */
static void
handshake(struct transport *t, SSL *client)
{
	int server_done = 0, client_done = 0;

	for (int i = 0; i < 1000 && !(server_done && client_done); i++) {
		if (!client_done) {
			int r = SSL_do_handshake(client);
			if (r == 1)
				client_done = 1;
			else
				ck_assert_int_eq(SSL_get_error(client, r) == SSL_ERROR_WANT_READ ||
				                         SSL_get_error(client, r) == SSL_ERROR_WANT_WRITE,
				                 1);
		}
		if (!server_done) {
			int r = transport_handshake(t);
			ck_assert_msg(r != TRANSPORT_ERROR, "%s", t->error);
			server_done = r == 1;
		}
	}
	ck_assert(server_done && client_done);
}

static uint8_t
byte_at(size_t i)
{
	return (uint8_t)((i * 2654435761u) >> 13);
}

/*
 * The server writes a stream cut into pieces of mixed sizes (small ones
 * gathered into records, large ones written as they are) into a socket
 * that keeps filling up; the client reads a little at a time.  Every
 * retry rebuilds the iovecs from the unwritten offset, as conn.c does.
 */
START_TEST(test_tls_partial_writes)
{
	struct transport_tls *tls = server_setup();
	struct transport      t;
	SSL_CTX              *cctx;
	int                   sv[2];
	enum { TOTAL = 1 << 20 };
	static const size_t   pieces[] = { 7, 300, 1, 40000, 13, 16384, 16383, 5, 70000, 2, 250 };
	uint8_t              *src = malloc(TOTAL), *got = malloc(TOTAL);
	size_t                written = 0, received = 0;
	int                   again = 0;

	for (size_t i = 0; i < TOTAL; i++)
		src[i] = byte_at(i);
	small_pair(sv);
	transport_tls_accept(&t, tls, sv[0]);
	SSL *client = client_new(&cctx, sv[1]);
	handshake(&t, client);

	while (received < TOTAL) {
		if (written < TOTAL) {
			/* rebuild iovecs from the offset, along the fixed piece boundaries */
			struct iovec iov[64];
			int          n = 0;
			size_t       pos = 0, k = 0;
			while (pos < TOTAL && n < 64) {
				size_t len = pieces[k++ % (sizeof(pieces) / sizeof(pieces[0]))];
				if (len > TOTAL - pos)
					len = TOTAL - pos;
				if (pos + len > written) {
					size_t skip = written > pos ? written - pos : 0;
					iov[n].iov_base = src + pos + skip;
					iov[n].iov_len = len - skip;
					n++;
				}
				pos += len;
			}
			ssize_t w = transport_writev(&t, iov, n);
			ck_assert_msg(w != TRANSPORT_ERROR, "%s", t.error);
			if (w == TRANSPORT_AGAIN)
				again++;
			else
				written += (size_t)w;
		}
		int r = SSL_read(client, got + received, 3000);
		if (r > 0)
			received += (size_t)r;
		else
			ck_assert_int_eq(SSL_get_error(client, r), SSL_ERROR_WANT_READ);
	}
	ck_assert_int_gt(again, 0); /* the socket did fill up */
	ck_assert_int_eq(memcmp(src, got, TOTAL), 0);

	transport_close(&t);
	SSL_free(client);
	SSL_CTX_free(cctx);
	close(sv[1]);
	transport_tls_free(tls);
	cleanup_cert();
	free(src);
	free(got);
}
END_TEST

/* Reads smaller than a record leave the rest pending in OpenSSL. */
START_TEST(test_tls_pending_and_eof)
{
	struct transport_tls *tls = server_setup();
	struct transport      t;
	SSL_CTX              *cctx;
	int                   sv[2];
	uint8_t               msg[1000], buf[100];
	size_t                n = 0;

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = byte_at(i);
	small_pair(sv);
	transport_tls_accept(&t, tls, sv[0]);
	SSL *client = client_new(&cctx, sv[1]);
	handshake(&t, client);
	ck_assert_int_eq(SSL_write(client, msg, sizeof(msg)), (int)sizeof(msg));

	bool saw_pending = false;
	while (n < sizeof(msg)) {
		ssize_t r = transport_read(&t, buf, sizeof(buf));
		if (r == TRANSPORT_AGAIN)
			continue; /* TLS 1.3 session tickets come first */
		ck_assert_int_gt(r, 0);
		ck_assert_int_eq(memcmp(buf, msg + n, (size_t)r), 0);
		n += (size_t)r;
		if (n < sizeof(msg))
			saw_pending |= transport_pending(&t);
	}
	ck_assert(saw_pending);
	ck_assert(!transport_pending(&t));
	ck_assert_str_eq(transport_tls_version(&t), "TLSv1.3");

	SSL_shutdown(client);
	ssize_t r;
	while ((r = transport_read(&t, buf, sizeof(buf))) == TRANSPORT_AGAIN)
		;
	ck_assert_int_eq(r, 0); /* close_notify: the end of the stream */

	transport_close(&t);
	SSL_free(client);
	SSL_CTX_free(cctx);
	close(sv[1]);
	transport_tls_free(tls);
	cleanup_cert();
}
END_TEST

/* Plain AMQP (or anything) instead of a ClientHello fails the handshake. */
START_TEST(test_tls_garbage)
{
	struct transport_tls *tls = server_setup();
	struct transport      t;
	int                   sv[2];

	small_pair(sv);
	transport_tls_accept(&t, tls, sv[0]);
	ck_assert_int_eq(transport_handshake(&t), TRANSPORT_AGAIN);
	ck_assert_int_eq(write(sv[1], "AMQP\0\0\x09\x01", 8), 8);
	ck_assert_int_eq(transport_handshake(&t), TRANSPORT_ERROR);
	ck_assert_msg(strstr(t.error, "handshake") != NULL, "%s", t.error);
	transport_close(&t);
	close(sv[1]);
	transport_tls_free(tls);
	cleanup_cert();
}
END_TEST

START_TEST(test_tls_setup_errors)
{
	struct transport_tls_settings s = { .certfile = "/nonexistent.pem",
		                            .keyfile = "/nonexistent.key", .depth = -1 };
	char                          err[256];

	ck_assert_ptr_null(transport_tls_new(&s, err, sizeof(err)));
	ck_assert_msg(strstr(err, "/nonexistent.pem") != NULL, "%s", err);
	s.certfile = NULL;
	ck_assert_ptr_null(transport_tls_new(&s, err, sizeof(err)));
	ck_assert_msg(strstr(err, "certfile") != NULL, "%s", err);
}
END_TEST

START_TEST(test_plain)
{
	struct transport t;
	int              sv[2];
	uint8_t          buf[16];
	struct iovec     iov[2] = { { (void *)"ab", 2 }, { (void *)"cde", 3 } };

	small_pair(sv);
	transport_plain(&t, sv[0]);
	ck_assert(t.handshaken && !transport_is_tls(&t));
	ck_assert_int_eq(transport_handshake(&t), 1);
	ck_assert_int_eq(transport_read(&t, buf, sizeof(buf)), TRANSPORT_AGAIN);
	ck_assert_int_eq(transport_writev(&t, iov, 2), 5);
	ck_assert_int_eq(read(sv[1], buf, sizeof(buf)), 5);
	ck_assert_int_eq(memcmp(buf, "abcde", 5), 0);
	close(sv[1]);
	ck_assert_int_eq(transport_read(&t, buf, sizeof(buf)), 0);
	ck_assert_ptr_null(transport_tls_version(&t));
	transport_close(&t);
}
END_TEST

Suite *
transport_suite(void)
{
	Suite *s = suite_create("transport");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_tls_partial_writes);
	tcase_add_test(tc, test_tls_pending_and_eof);
	tcase_add_test(tc, test_tls_garbage);
	tcase_add_test(tc, test_tls_setup_errors);
	tcase_add_test(tc, test_plain);
	suite_add_tcase(s, tc);
	return s;
}
