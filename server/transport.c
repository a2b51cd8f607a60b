/*
 * Plain and TLS byte streams (see transport.h).  The TLS side is OpenSSL
 * in non-blocking mode with partial writes and movable write buffers, so
 * that a write that would block can be retried later from a rebuilt
 * buffer holding the same bytes.
 */
#include "server/transport.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "server/config.h"
#include "server/util.h"

#define TLS_RECORD 16384 /* the largest TLS plaintext record */

struct transport_tls {
	SSL_CTX *ctx; /* owned */
};

struct transport_ops {
	ssize_t (*read)(struct transport *t, void *buf, size_t n);
	ssize_t (*writev)(struct transport *t, const struct iovec *iov, int iovcnt);
};

/*
 * Small writes are gathered here into one record.  One buffer serves every
 * connection: it is only read during an SSL_write call, and a retried write
 * rebuilds the same bytes from the caller's iovecs.
 */
static unsigned char gather[TLS_RECORD];

static void
set_error(struct transport *t, const char *what)
{
	unsigned long e = ERR_get_error();
	char          reason[120];

	if (e) {
		ERR_error_string_n(e, reason, sizeof(reason));
		snprintf(t->error, sizeof(t->error), "%s: %s", what, reason);
	} else if (errno) {
		snprintf(t->error, sizeof(t->error), "%s: %s", what, strerror(errno));
	} else {
		snprintf(t->error, sizeof(t->error), "%s", what);
	}
	ERR_clear_error();
}

/* Plain TCP. */

static ssize_t
plain_read(struct transport *t, void *buf, size_t n)
{
	ssize_t r = read(t->fd, buf, n);

	if (r >= 0)
		return r;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return TRANSPORT_AGAIN;
	snprintf(t->error, sizeof(t->error), "read: %s", strerror(errno));
	return TRANSPORT_ERROR;
}

static ssize_t
plain_writev(struct transport *t, const struct iovec *iov, int iovcnt)
{
	for (;;) {
		ssize_t w = writev(t->fd, iov, iovcnt);
		if (w >= 0)
			return w;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return TRANSPORT_AGAIN;
		snprintf(t->error, sizeof(t->error), "write: %s", strerror(errno));
		return TRANSPORT_ERROR;
	}
}

static const struct transport_ops plain_ops = { plain_read, plain_writev };

/* TLS. */

/* Map a failed SSL call to AGAIN (noting the event it waits for) or ERROR. */
static ssize_t
tls_failed(struct transport *t, int rc, bool writing, bool *wants_other)
{
	int         e = SSL_get_error(t->ssl, rc);
	const char *what = writing ? "write" : "read";

	switch (e) {
	case SSL_ERROR_WANT_READ:
		*wants_other = writing;
		return TRANSPORT_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		*wants_other = !writing;
		return TRANSPORT_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		t->broken = true;
		if (ERR_peek_error() == 0 && errno == 0)
			return 0; /* the peer went away without close_notify */
		set_error(t, what);
		return TRANSPORT_ERROR;
	default:
		t->broken = true;
		set_error(t, what);
		return TRANSPORT_ERROR;
	}
}

static ssize_t
tls_read(struct transport *t, void *buf, size_t n)
{
	int r;

	t->read_wants_write = false;
	if (n > INT_MAX)
		n = INT_MAX;
	ERR_clear_error();
	errno = 0;
	r = SSL_read(t->ssl, buf, (int)n);
	if (r > 0)
		return r;
	return tls_failed(t, r, false, &t->read_wants_write);
}

/*
 * Write iov as full records: a piece of a record's size or more goes to
 * SSL_write as it is, smaller ones are gathered first.  In partial-write
 * mode SSL_write returns after each record, so this loops until all is
 * written or the socket is full.
 */
static ssize_t
tls_writev(struct transport *t, const struct iovec *iov, int iovcnt)
{
	size_t total = 0, off = 0;
	int    i = 0;

	t->write_wants_read = false;
	while (i < iovcnt) {
		const unsigned char *p;
		size_t               len, left = iov[i].iov_len - off;

		if (left == 0) {
			i++;
			off = 0;
			continue;
		}
		if (left >= TLS_RECORD) {
			p = (const unsigned char *)iov[i].iov_base + off;
			len = left > INT_MAX ? INT_MAX : left;
		} else {
			size_t o = off;
			len = 0;
			for (int j = i; j < iovcnt && len < TLS_RECORD;) {
				size_t n = iov[j].iov_len - o;
				if (n > TLS_RECORD - len)
					n = TLS_RECORD - len;
				memcpy(gather + len, (const unsigned char *)iov[j].iov_base + o, n);
				len += n;
				o += n;
				if (o == iov[j].iov_len) {
					j++;
					o = 0;
				}
			}
			p = gather;
		}
		ERR_clear_error();
		errno = 0;
		int r = SSL_write(t->ssl, p, (int)len);
		if (r <= 0) {
			ssize_t rc = tls_failed(t, r, true, &t->write_wants_read);
			if (rc == 0) {
				snprintf(t->error, sizeof(t->error), "write: connection closed by peer");
				return TRANSPORT_ERROR;
			}
			if (rc == TRANSPORT_AGAIN && total > 0)
				return (ssize_t)total;
			return rc;
		}
		total += (size_t)r;
		/* advance past what was written */
		size_t w = (size_t)r;
		while (w > 0) {
			size_t n = iov[i].iov_len - off;
			if (w < n) {
				off += w;
				w = 0;
			} else {
				w -= n;
				i++;
				off = 0;
			}
		}
	}
	return (ssize_t)total;
}

static const struct transport_ops tls_ops = { tls_read, tls_writev };

void
transport_plain(struct transport *t, int fd)
{
	memset(t, 0, sizeof(*t));
	t->ops = &plain_ops;
	t->fd = fd;
	t->handshaken = true;
}

void
transport_tls_accept(struct transport *t, struct transport_tls *tls, int fd)
{
	memset(t, 0, sizeof(*t));
	t->ops = &tls_ops;
	t->fd = fd;
	t->ssl = SSL_new(tls->ctx);
	if (t->ssl == NULL || SSL_set_fd(t->ssl, fd) != 1) {
		set_error(t, "SSL_new");
		t->broken = true;
		return;
	}
	SSL_set_accept_state(t->ssl);
}

int
transport_handshake(struct transport *t)
{
	if (t->handshaken)
		return 1;
	if (t->ssl == NULL)
		return TRANSPORT_ERROR;
	t->handshake_wants_write = false;
	ERR_clear_error();
	errno = 0;
	int r = SSL_do_handshake(t->ssl);
	if (r == 1) {
		t->handshaken = true;
		return 1;
	}
	int e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		return TRANSPORT_AGAIN;
	if (e == SSL_ERROR_WANT_WRITE) {
		t->handshake_wants_write = true;
		return TRANSPORT_AGAIN;
	}
	t->broken = true;
	if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
		snprintf(t->error, sizeof(t->error), "%s",
		         errno ? strerror(errno) : "connection closed by peer");
	else
		set_error(t, "handshake");
	if (SSL_get_verify_result(t->ssl) != X509_V_OK) {
		size_t used = strlen(t->error);
		snprintf(t->error + used, sizeof(t->error) - used, " (certificate: %s)",
		         X509_verify_cert_error_string(SSL_get_verify_result(t->ssl)));
	}
	return TRANSPORT_ERROR;
}

ssize_t
transport_read(struct transport *t, void *buf, size_t n)
{
	return t->ops->read(t, buf, n);
}

ssize_t
transport_writev(struct transport *t, const struct iovec *iov, int iovcnt)
{
	return t->ops->writev(t, iov, iovcnt);
}

bool
transport_pending(const struct transport *t)
{
	return t->ssl != NULL && t->handshaken && SSL_pending(t->ssl) > 0;
}

bool
transport_is_tls(const struct transport *t)
{
	return t->ops == &tls_ops;
}

const char *
transport_tls_version(const struct transport *t)
{
	return t->ssl && t->handshaken ? SSL_get_version(t->ssl) : NULL;
}

const char *
transport_tls_cipher(const struct transport *t)
{
	return t->ssl && t->handshaken ? SSL_get_cipher_name((SSL *)t->ssl) : NULL;
}

int
transport_peer_name(const struct transport *t, bool dn, char *out, size_t len)
{
	if (t->ssl == NULL || !t->handshaken || len == 0)
		return 0;
	X509 *cert = SSL_get1_peer_certificate(t->ssl);
	if (cert == NULL)
		return 0;
	int        rc = -1;
	X509_NAME *name = X509_get_subject_name(cert);
	if (dn) {
		BIO *b = BIO_new(BIO_s_mem());
		if (b && X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
			int n = BIO_read(b, out, (int)(len - 1 > INT_MAX ? INT_MAX : len - 1));
			if (n > 0) {
				out[n] = '\0';
				rc = 1;
			}
		}
		BIO_free(b);
	} else {
		int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
		if (i >= 0) {
			ASN1_STRING   *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
			unsigned char *u = NULL;
			int            n = ASN1_STRING_to_UTF8(&u, s);
			if (n >= 0 && (size_t)n < len && memchr(u, 0, (size_t)n) == NULL) {
				memcpy(out, u, (size_t)n);
				out[n] = '\0';
				rc = 1;
			}
			OPENSSL_free(u);
		}
	}
	X509_free(cert);
	return rc;
}

static void
name_rfc4514(X509_NAME *name, char *out, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	int  n = 0;

	out[0] = '\0';
	if (b && X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0)
		n = BIO_read(b, out, (int)(len - 1 > INT_MAX ? INT_MAX : len - 1));
	if (n > 0)
		out[n] = '\0';
	BIO_free(b);
}

static void
asn1_time_iso(const ASN1_TIME *t, char *out, size_t len)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) == 1)
		strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	else
		snprintf(out, len, "?");
}

/* OpenSSL's short name in Erlang's style: lower case, '_' for '-'. */
static void
erlang_style(const char *sn, char *out, size_t len)
{
	size_t i;

	for (i = 0; sn[i] && i + 1 < len; i++)
		out[i] = sn[i] == '-' ? '_' : (char)(sn[i] >= 'A' && sn[i] <= 'Z' ? sn[i] + 32 : sn[i]);
	out[i] = '\0';
}

bool
transport_tls_describe(const struct transport *t, struct transport_tls_info *out)
{
	memset(out, 0, sizeof(*out));
	if (t->ssl == NULL || !t->handshaken)
		return false;
	SSL              *ssl = t->ssl;
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	int               version = SSL_version(ssl);

	snprintf(out->protocol, sizeof(out->protocol), "%s",
	         version == TLS1_3_VERSION ? "tlsv1.3" : version == TLS1_2_VERSION ? "tlsv1.2" : "?");
	if (c) {
		int kx = SSL_CIPHER_get_kx_nid(c), au = SSL_CIPHER_get_auth_nid(c);
		const char *k = kx == NID_kx_any    ? "any" :
		                kx == NID_kx_rsa    ? "rsa" :
		                kx == NID_kx_ecdhe  ? (au == NID_auth_ecdsa ? "ecdhe_ecdsa" : "ecdhe_rsa") :
		                kx == NID_kx_dhe    ? "dhe_rsa" : "unknown";
		snprintf(out->key_exchange, sizeof(out->key_exchange), "%s", k);
		int         cn = SSL_CIPHER_get_cipher_nid(c);
		const char *sn = cn == NID_chacha20_poly1305 ? "chacha20_poly1305" :
		                 cn == NID_aes_256_gcm       ? "aes_256_gcm" :
		                 cn == NID_aes_128_gcm       ? "aes_128_gcm" :
		                 cn == NID_aes_256_cbc       ? "aes_256_cbc" :
		                 cn == NID_aes_128_cbc       ? "aes_128_cbc" :
		                 cn == NID_aes_128_ccm       ? "aes_128_ccm" : OBJ_nid2sn(cn);
		erlang_style(sn ? sn : "unknown", out->cipher, sizeof(out->cipher));
		if (SSL_CIPHER_is_aead(c)) {
			snprintf(out->hash, sizeof(out->hash), "aead");
		} else {
			int dn = SSL_CIPHER_get_digest_nid(c);
			snprintf(out->hash, sizeof(out->hash), "%s",
			         dn == NID_sha1 ? "sha" : dn == NID_sha256 ? "sha256" :
			         dn == NID_sha384 ? "sha384" : "unknown");
		}
	}
	X509 *cert = SSL_get1_peer_certificate(ssl);
	if (cert) {
		char from[24], to[24];
		name_rfc4514(X509_get_subject_name(cert), out->peer_subject, sizeof(out->peer_subject));
		name_rfc4514(X509_get_issuer_name(cert), out->peer_issuer, sizeof(out->peer_issuer));
		asn1_time_iso(X509_get0_notBefore(cert), from, sizeof(from));
		asn1_time_iso(X509_get0_notAfter(cert), to, sizeof(to));
		snprintf(out->peer_validity, sizeof(out->peer_validity), "%s - %s", from, to);
		X509_free(cert);
	}
	return true;
}

void
transport_close(struct transport *t)
{
	if (t->ssl) {
		if (t->handshaken && !t->broken) {
			ERR_clear_error();
			SSL_shutdown(t->ssl); /* queue close_notify; never wait for the peer's */
		}
		ERR_clear_error();
		SSL_free(t->ssl);
		t->ssl = NULL;
	}
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

/* Setup. */

static struct transport_tls *
tls_fail(SSL_CTX *ctx, char *err, size_t errlen, const char *what, const char *file)
{
	unsigned long e = ERR_get_error();
	char          reason[160] = "";

	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	snprintf(err, errlen, "%s%s%s%s%s", what, file ? " " : "", file ? file : "",
	         *reason ? ": " : "", reason);
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

/* Split the cipher list: TLS 1.3 suites are named "TLS_...", the rest are TLS 1.2's. */
static int
set_ciphers(SSL_CTX *ctx, const char *list)
{
	size_t n = strlen(list) + 1;
	char  *v12 = xcalloc(1, n), *v13 = xcalloc(1, n), *copy = xstrndup(list, n - 1);
	int    ok = 1;

	for (char *save = NULL, *c = strtok_r(copy, ":", &save); c; c = strtok_r(NULL, ":", &save)) {
		char *dst = strncmp(c, "TLS_", 4) == 0 ? v13 : v12;
		if (*dst)
			strcat(dst, ":");
		strcat(dst, c);
	}
	if (*v12 && SSL_CTX_set_cipher_list(ctx, v12) != 1)
		ok = 0;
	if (*v13 && SSL_CTX_set_ciphersuites(ctx, v13) != 1)
		ok = 0;
	free(v12);
	free(v13);
	free(copy);
	return ok;
}

struct transport_tls *
transport_tls_new(const struct transport_tls_settings *s, char *err, size_t errlen)
{
	static const unsigned char sid_ctx[] = "warren";
	SSL_CTX                   *ctx;
	unsigned                   v = s->versions ? s->versions : TRANSPORT_TLS12 | TRANSPORT_TLS13;

	if (s->certfile == NULL || s->keyfile == NULL) {
		snprintf(err, errlen, "TLS needs a certificate and a key (certfile, keyfile)");
		return NULL;
	}
	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		return tls_fail(NULL, err, errlen, "SSL_CTX_new", NULL);
	SSL_CTX_set_min_proto_version(ctx, (v & TRANSPORT_TLS12) ? TLS1_2_VERSION : TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(ctx, (v & TRANSPORT_TLS13) ? TLS1_3_VERSION : TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	                         SSL_OP_IGNORE_UNEXPECTED_EOF |
	                         (s->honor_cipher_order ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0));
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	                      SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	if (s->password)
		SSL_CTX_set_default_passwd_cb_userdata(ctx, (void *)(uintptr_t)s->password);
	if (SSL_CTX_use_certificate_chain_file(ctx, s->certfile) != 1)
		return tls_fail(ctx, err, errlen, "cannot load the certificate", s->certfile);
	if (SSL_CTX_use_PrivateKey_file(ctx, s->keyfile, SSL_FILETYPE_PEM) != 1)
		return tls_fail(ctx, err, errlen, "cannot load the private key", s->keyfile);
	if (SSL_CTX_check_private_key(ctx) != 1)
		return tls_fail(ctx, err, errlen, "the private key does not match the certificate",
		                s->keyfile);
	/* the password callback's data must not outlive this call */
	SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
	if (s->cacertfile) {
		if (SSL_CTX_load_verify_locations(ctx, s->cacertfile, NULL) != 1)
			return tls_fail(ctx, err, errlen, "cannot load the CA certificates", s->cacertfile);
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(s->cacertfile);
		if (names)
			SSL_CTX_set_client_CA_list(ctx, names);
	}
	if (s->ciphers && *s->ciphers && !set_ciphers(ctx, s->ciphers))
		return tls_fail(ctx, err, errlen, "no usable cipher in", s->ciphers);
	SSL_CTX_set_verify(ctx,
	                   s->verify_peer ? SSL_VERIFY_PEER | (s->fail_if_no_peer_cert
	                                                           ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT
	                                                           : 0)
	                                  : SSL_VERIFY_NONE,
	                   NULL);
	if (s->depth >= 0)
		SSL_CTX_set_verify_depth(ctx, s->depth);

	struct transport_tls *tls = xcalloc(1, sizeof(*tls));
	tls->ctx = ctx;
	return tls;
}

void
transport_tls_free(struct transport_tls *tls)
{
	if (tls == NULL)
		return;
	SSL_CTX_free(tls->ctx);
	free(tls);
}

struct transport_tls *
transport_tls_from_config(const struct config_tls *c, char *err, size_t errlen)
{
	struct transport_tls_settings s = {
		.certfile = c->certfile,
		.keyfile = c->keyfile,
		.cacertfile = c->cacertfile,
		.password = c->password,
		.ciphers = c->ciphers,
		.verify_peer = c->verify_peer,
		.fail_if_no_peer_cert = c->fail_if_no_peer_cert,
		.honor_cipher_order = c->honor_cipher_order,
		.versions = ((c->versions & CONFIG_TLS12) ? TRANSPORT_TLS12 : 0) |
		            ((c->versions & CONFIG_TLS13) ? TRANSPORT_TLS13 : 0),
		.depth = c->depth,
	};
	return transport_tls_new(&s, err, errlen);
}
