/*
 * A connection's byte stream, plain TCP or TLS (OpenSSL), behind one small
 * ops table, so that the AMQP and HTTP connection code above it reads and
 * writes without knowing which it has.  Only transport.c includes OpenSSL.
 *
 * Everything is non-blocking.  A call that cannot go on returns
 * TRANSPORT_AGAIN and says which socket event would let it: a TLS read may
 * need the socket writable (read_wants_write), a TLS write may need it
 * readable (write_wants_read), and the handshake may need either
 * (handshake_wants_write).  TLS also buffers decrypted input the kernel no
 * longer signals: transport_pending() says when to read again without
 * waiting for the socket.
 */
#ifndef SERVER_TRANSPORT_H
#define SERVER_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#define TRANSPORT_ERROR (-1) /* the stream is broken; why is in t->error */
#define TRANSPORT_AGAIN (-2) /* try again when the socket is ready */

#define TRANSPORT_TLS12 0x1
#define TRANSPORT_TLS13 0x2

/* A TLS server setup: certificate, key, CAs, peer verification, versions. */
struct transport_tls;

struct transport_tls_settings {
	const char *certfile;     /* PEM chain, required */
	const char *keyfile;      /* PEM key, required */
	const char *cacertfile;   /* CAs that sign client certificates, or NULL */
	const char *password;     /* of an encrypted key, or NULL */
	const char *ciphers;      /* ':'-separated OpenSSL names (TLS 1.3 "TLS_..."
	                           * suites and TLS 1.2 ciphers mixed), or NULL */
	bool        verify_peer;  /* ask for a client certificate and verify it */
	bool        fail_if_no_peer_cert; /* with verify_peer: refuse clients without one */
	bool        honor_cipher_order;   /* the server's cipher preference wins */
	unsigned    versions;     /* TRANSPORT_TLS12 | TRANSPORT_TLS13; 0 = both */
	int         depth;        /* certificate chain depth, -1 = OpenSSL's default */
};

struct transport_ops;

struct transport {
	const struct transport_ops *ops;
	int   fd;
	void *ssl;                /* owned: SSL *, TLS only */
	bool  handshaken;         /* plain: always */
	bool  handshake_wants_write;
	bool  read_wants_write;
	bool  write_wants_read;
	bool  broken;             /* a fatal TLS error: no close_notify */
	char  error[160];         /* why the last call failed */
};

/*
 * Load the files and build the setup.  Returns NULL with a message naming
 * the file or the setting in err when it cannot.
 */
struct transport_tls *transport_tls_new(const struct transport_tls_settings *s, char *err,
                                        size_t errlen);
void transport_tls_free(struct transport_tls *tls);

/* The same from ssl_options.* / management.ssl.* settings (config.h). */
struct config_tls;
struct transport_tls *transport_tls_from_config(const struct config_tls *c, char *err,
                                                size_t errlen);

/* Attach a connected socket: plain, or TLS as the server side of a handshake. */
void transport_plain(struct transport *t, int fd);
void transport_tls_accept(struct transport *t, struct transport_tls *tls, int fd);

/*
 * Advance the TLS handshake.  Returns 1 when it is done (and at once for
 * plain), TRANSPORT_AGAIN (handshake_wants_write says for which event), or
 * TRANSPORT_ERROR.
 */
int transport_handshake(struct transport *t);

/* Read up to n bytes: > 0 bytes, 0 at the end of the stream, TRANSPORT_AGAIN or
 * TRANSPORT_ERROR. */
ssize_t transport_read(struct transport *t, void *buf, size_t n);

/*
 * Write from iov: the bytes written (TLS coalesces small pieces into full
 * records), TRANSPORT_AGAIN when nothing could be written, or
 * TRANSPORT_ERROR.  After TRANSPORT_AGAIN (or a short count) a TLS
 * transport must be given the same bytes again, from where it stopped.
 */
ssize_t transport_writev(struct transport *t, const struct iovec *iov, int iovcnt);

/* True when decrypted input is buffered: read again without waiting. */
bool transport_pending(const struct transport *t);

bool transport_is_tls(const struct transport *t);

/* "TLSv1.3" and the cipher's name, or NULL for plain or before the handshake. */
const char *transport_tls_version(const struct transport *t);
const char *transport_tls_cipher(const struct transport *t);

/*
 * The verified peer certificate's subject: its common name (dn false) or
 * its whole distinguished name in RFC 4514 form (dn true).  Returns 1 with
 * the name, 0 when the peer presented no certificate (or this is plain),
 * -1 when the certificate has no such name.
 */
int transport_peer_name(const struct transport *t, bool dn, char *out, size_t len);

/*
 * What the management API shows of a TLS connection, in RabbitMQ's terms
 * (Erlang's names: "tlsv1.3", key exchange "ecdhe_rsa" or "any" for TLS
 * 1.3, cipher "aes_256_gcm", hash "aead" or "sha384"), and the peer
 * certificate's subject, issuer (RFC 4514) and validity, "" without one.
 */
struct transport_tls_info {
	char protocol[16], key_exchange[24], cipher[32], hash[16];
	char peer_subject[256], peer_issuer[256], peer_validity[80];
};
/* Returns false for plain connections and before the handshake. */
bool transport_tls_describe(const struct transport *t, struct transport_tls_info *out);

/* Send close_notify when possible (best effort, never waits), free, close the socket. */
void transport_close(struct transport *t);

#endif
