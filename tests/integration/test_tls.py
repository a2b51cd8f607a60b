"""AMQP over TLS (amqps), HTTPS management and the EXTERNAL mechanism.

Each test starts a warren of its own (helpers.OwnBroker) with a TLS
configuration; a CA, a server certificate and client certificates are made
with the openssl CLI in a temporary folder when the module starts.  Without
WARREN_BIN (--broker external) they skip.

RabbitMQ 3.10.8 behaviour, established against a separate node with
listeners.ssl.default, ssl_options.verify = verify_peer,
fail_if_no_peer_cert = false, auth_mechanisms.1..3 = PLAIN AMQPLAIN
EXTERNAL, ssl_cert_login_from = common_name, rabbitmq_auth_mechanism_ssl
enabled, and management.ssl.port:
  - connection.start over TLS offers "AMQPLAIN PLAIN EXTERNAL", whether or
    not the client sent a certificate; on the plain port the same node
    offers "AMQPLAIN PLAIN" (pika: "could not negotiate use of the EXTERNAL
    authentication mechanism");
  - EXTERNAL with a client certificate whose CN is an existing user logs in
    as that user, no password asked;
  - EXTERNAL over TLS without a client certificate, or with one whose CN is
    no user: conn 403 "ACCESS_REFUSED - Login was refused using
    authentication mechanism EXTERNAL. For details see the broker
    logfile." (logged: "EXTERNAL login refused: connection peer presented
    no TLS (x.509) certificate" / "user 'X' - invalid credentials");
  - PLAIN over TLS works as on the plain port;
  - a client certificate from an unknown CA (verify_peer): the handshake
    fails (the client sees a TLS alert or the connection closed);
  - plain AMQP sent to the TLS port: a TLS alert, then the socket closes;
  - HTTPS management: /api/overview answers 200 with the CA's certificate;
  - with no ssl_options.versions, that node also accepted TLS 1.0 and 1.1
    (Erlang's defaults); warren never speaks them (only 1.2 and 1.3), and a
    configured tlsv1.1 is a configuration error.
"""

import base64
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import unittest
import urllib.request

import pika
import pika.credentials
import pika.exceptions

import helpers
from helpers import OwnBroker, uname

CERTS = None


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, cwd=CERTS)


def make_client_cert(name, cn):
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out",
            name + ".csr", "-subj", "/CN=%s/O=warren-tests" % cn)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", name + ".pem", "-days", "2")


def setUpModule():
    global CERTS
    if not shutil.which("openssl"):
        raise unittest.SkipTest("needs the openssl CLI")
    CERTS = tempfile.mkdtemp(prefix="warren-tls-")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=warren-test-ca")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
            "server.csr", "-subj", "/CN=localhost")
    with open(os.path.join(CERTS, "san.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext")
    make_client_cert("guest", "guest")
    make_client_cert("nobody", "nobody-" + uname("x"))
    # the server key again, encrypted with a password
    openssl("pkey", "-in", "server.key", "-aes256", "-passout", "pass:s3cret", "-out",
            "server-enc.key")
    # a certificate with the right name from a CA nobody trusts
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "rogue.key", "-out",
            "rogue.pem", "-days", "2", "-subj", "/CN=guest")


def tearDownModule():
    if CERTS:
        shutil.rmtree(CERTS, ignore_errors=True)


def cert(name):
    return os.path.join(CERTS, name)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def client_context(certname=None, max_version=None):
    ctx = ssl.create_default_context(cafile=cert("ca.pem"))
    if certname:
        ctx.load_cert_chain(cert(certname + ".pem"), cert(certname + ".key"))
    if max_version is not None:
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = max_version
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    return ctx


def tls_config(port, extra=""):
    return ("listeners.ssl.default = %d\n"
            "ssl_options.cacertfile = %s\n"
            "ssl_options.certfile = %s\n"
            "ssl_options.keyfile = %s\n"
            "ssl_options.verify = verify_peer\n"
            "ssl_options.fail_if_no_peer_cert = false\n"
            "auth_mechanisms.1 = PLAIN\n"
            "auth_mechanisms.2 = AMQPLAIN\n"
            "auth_mechanisms.3 = EXTERNAL\n"
            "ssl_cert_login_from = common_name\n" % (
                port, cert("ca.pem"), cert("server.pem"), cert("server.key"))) + extra


def read_start_mechanisms(sock):
    """Send the protocol header, return connection.start's mechanisms."""
    sock.sendall(b"AMQP\x00\x00\x09\x01")
    data = b""
    while len(data) < 7:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("closed before connection.start")
        data += chunk
    size = struct.unpack(">I", data[3:7])[0]
    while len(data) < size + 8:
        data += sock.recv(65536)
    p = data[7 + 4 + 2:]                      # class, method, version
    tlen = struct.unpack(">I", p[:4])[0]      # server-properties
    p = p[4 + tlen:]
    mlen = struct.unpack(">I", p[:4])[0]
    return p[4:4 + mlen].decode()


class TlsTests(helpers.BrokerTestCase):

    def start(self, extra="", mgmt=False):
        self.tls_port = free_port()
        self.broker = OwnBroker(self, config=tls_config(self.tls_port, extra), mgmt=mgmt)
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.tls_port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        return self.broker

    def tls_params(self, certname=None, credentials=None, **kw):
        return pika.ConnectionParameters(
            "localhost", self.tls_port,
            credentials=credentials or pika.PlainCredentials("guest", "guest"),
            ssl_options=pika.SSLOptions(client_context(certname), "localhost"),
            socket_timeout=5, stack_timeout=10, connection_attempts=1, heartbeat=0, **kw)

    def tls_connect(self, certname=None, credentials=None):
        conn = pika.BlockingConnection(self.tls_params(certname, credentials))
        self.addCleanup(lambda: conn.is_open and conn.close())
        return conn

    def roundtrip(self, conn, sizes=(0, 10, 5000, 70000, 1 << 20)):
        ch = conn.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.confirm_delivery()
        bodies = [os.urandom(n) for n in sizes] + [b"m%d" % i for i in range(200)]
        for b in bodies:
            ch.basic_publish("", q, b)
        got = []
        for _ in bodies:
            _, _, body = next(ch.consume(q, auto_ack=True, inactivity_timeout=5))
            self.assertIsNotNone(body)
            got.append(body)
        ch.cancel()
        self.assertEqual(got, bodies)

    def test_plain_login_over_tls(self):
        """PLAIN over TLS 1.3: messages from empty to 1 MiB (several TLS
        records, large writes) and 200 small ones (gathered into records)
        come back intact and in order."""
        self.start()
        conn = self.tls_connect()
        self.roundtrip(conn)

    def test_encrypted_key(self):
        """ssl_options.password unlocks an encrypted key."""
        self.start(extra="ssl_options.keyfile = %s\nssl_options.password = s3cret\n" %
                   cert("server-enc.key"))
        self.roundtrip(self.tls_connect(), sizes=(10,))

    def test_tls12_works(self):
        self.start()
        s = client_context(max_version=ssl.TLSVersion.TLSv1_2).wrap_socket(
            socket.create_connection(("127.0.0.1", self.tls_port), timeout=5),
            server_hostname="localhost")
        self.assertEqual(s.version(), "TLSv1.2")
        self.assertIn("PLAIN", read_start_mechanisms(s))
        s.close()

    def test_old_tls_versions_refused(self):
        self.start()
        for v in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            raw = socket.create_connection(("127.0.0.1", self.tls_port), timeout=5)
            try:
                with self.assertRaises((ssl.SSLError, OSError)):
                    client_context(max_version=v).wrap_socket(raw, server_hostname="localhost")
            finally:
                raw.close()
        self.assertIsNone(self.broker.proc.poll())

    def test_mechanisms_offered(self):
        """EXTERNAL is offered over TLS only (with or without a client
        certificate), as RabbitMQ does."""
        self.start()
        for certname in (None, "guest"):
            s = client_context(certname).wrap_socket(
                socket.create_connection(("127.0.0.1", self.tls_port), timeout=5),
                server_hostname="localhost")
            self.assertEqual(read_start_mechanisms(s), "AMQPLAIN PLAIN EXTERNAL")
            s.close()
        s = socket.create_connection(("127.0.0.1", self.broker.port), timeout=5)
        self.assertEqual(read_start_mechanisms(s), "AMQPLAIN PLAIN")
        s.close()

    def test_external_login(self):
        """Also what /api/connections shows of it (RabbitMQ's values for the
        same TLS 1.3 connection: ssl true, ssl_protocol "tlsv1.3",
        ssl_key_exchange "any", ssl_cipher "aes_256_gcm", ssl_hash "aead",
        peer_cert_subject "O=warren-tests,CN=guest", peer_cert_issuer
        "CN=warren-test-ca", peer_cert_validity "FROM - TO")."""
        self.start(mgmt=True)
        conn = self.tls_connect("guest", pika.credentials.ExternalCredentials())
        self.roundtrip(conn, sizes=(100,))
        req = urllib.request.Request("http://127.0.0.1:%d/api/connections" % self.broker.mgmt_port)
        req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
        deadline = time.monotonic() + 5
        while True:
            with urllib.request.urlopen(req, timeout=5) as r:
                conns = json.loads(r.read())
            if conns or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(len(conns), 1)
        c = conns[0]
        self.assertEqual(c["auth_mechanism"], "EXTERNAL")
        self.assertEqual(c["user"], "guest")
        self.assertIs(c["ssl"], True)
        self.assertEqual(c["ssl_protocol"], "tlsv1.3")
        self.assertEqual(c["ssl_key_exchange"], "any")
        self.assertEqual(c["ssl_cipher"], "aes_256_gcm")
        self.assertEqual(c["ssl_hash"], "aead")
        self.assertEqual(c["peer_cert_subject"], "O=warren-tests,CN=guest")
        self.assertEqual(c["peer_cert_issuer"], "CN=warren-test-ca")
        self.assertRegex(c["peer_cert_validity"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ - \d{4}-")

    def assertExternalRefused(self, certname):
        with self.assertRaises(pika.exceptions.ProbableAuthenticationError) as cm:
            pika.BlockingConnection(
                self.tls_params(certname, pika.credentials.ExternalCredentials()))
        self.assertIn("ACCESS_REFUSED - Login was refused using authentication mechanism "
                      "EXTERNAL. For details see the broker logfile.", str(cm.exception))

    def test_external_without_certificate(self):
        self.start()
        self.assertExternalRefused(None)
        self.assertIn("EXTERNAL login refused: connection peer presented no TLS (x.509) "
                      "certificate", self.broker.read_log())

    def test_external_unknown_user(self):
        self.start()
        self.assertExternalRefused("nobody")
        self.assertIn("- invalid credentials", self.broker.read_log())

    def test_external_not_on_plain_port(self):
        self.start()
        with self.assertRaises(pika.exceptions.AuthenticationError):
            pika.BlockingConnection(pika.ConnectionParameters(
                "127.0.0.1", self.broker.port, credentials=pika.credentials.ExternalCredentials(),
                socket_timeout=5, connection_attempts=1))

    def test_external_distinguished_name(self):
        """ssl_cert_login_from = distinguished_name (RabbitMQ's default): the
        user is the subject in RFC 4514 form."""
        self.start(extra="ssl_cert_login_from = distinguished_name\n", mgmt=True)
        dn = "O=warren-tests,CN=guest"
        self.assertExternalRefused("guest")
        self.assertIn("user '%s' - invalid credentials" % dn, self.broker.read_log())
        req = urllib.request.Request(
            "http://127.0.0.1:%d/api/users/%s" % (self.broker.mgmt_port,
                                                   urllib.request.quote(dn, safe="")),
            data=json.dumps({"password": "", "tags": ""}).encode(), method="PUT")
        req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
        req.add_header("Content-Type", "application/json")
        urllib.request.urlopen(req, timeout=5).close()
        req = urllib.request.Request(
            "http://127.0.0.1:%d/api/permissions/%%2F/%s" % (
                self.broker.mgmt_port, urllib.request.quote(dn, safe="")),
            data=json.dumps({"configure": ".*", "write": ".*", "read": ".*"}).encode(),
            method="PUT")
        req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
        req.add_header("Content-Type", "application/json")
        urllib.request.urlopen(req, timeout=5).close()
        conn = self.tls_connect("guest", pika.credentials.ExternalCredentials())
        self.roundtrip(conn, sizes=(1,))

    def test_untrusted_certificate(self):
        """verify_peer: a certificate from an unknown CA fails the handshake;
        with fail_if_no_peer_cert a client without one fails too."""
        self.start(extra="ssl_options.fail_if_no_peer_cert = true\n")
        for certname in ("rogue", None):
            raw = socket.create_connection(("127.0.0.1", self.tls_port), timeout=5)
            try:
                with self.assertRaises((ssl.SSLError, OSError, AssertionError)):
                    s = client_context(certname).wrap_socket(raw, server_hostname="localhost")
                    read_start_mechanisms(s)  # TLS 1.3: the refusal comes after the client's finish
            finally:
                raw.close()
        self.assertIn("TLS handshake failed", self.broker.read_log())
        conn = self.tls_connect("guest")
        self.roundtrip(conn, sizes=(10,))

    def test_bad_clients_do_not_hurt_others(self):
        """Plain AMQP on the TLS port, garbage, a silent client and a
        half-finished handshake close only their own sockets."""
        self.start()
        conn = self.tls_connect()
        ch = conn.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        bad = []
        s = socket.create_connection(("127.0.0.1", self.tls_port), timeout=5)
        s.sendall(b"AMQP\x00\x00\x09\x01")
        bad.append(s)
        s = socket.create_connection(("127.0.0.1", self.tls_port), timeout=5)
        s.sendall(os.urandom(3000))
        bad.append(s)
        s = socket.create_connection(("127.0.0.1", self.tls_port), timeout=5)
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello, cut short
        bad.append(s)
        for s in bad[:2]:
            try:
                data = s.recv(100)
            except OSError:
                data = b""
            self.assertFalse(data.startswith(b"AMQP"), data)
            self.assertNotIn(b"\x01\x00\x00", data[:3])
        for i in range(50):
            ch.basic_publish("", q, b"still %d" % i)
        self.assertEqual(ch.queue_declare(q, passive=True).method.message_count, 50)
        self.roundtrip(self.tls_connect(), sizes=(100,))
        for s in bad:
            s.close()
        self.assertIsNone(self.broker.proc.poll())

    def test_handshake_timeout_covers_tls(self):
        self.start(extra="handshake_timeout = 500\n")
        s = socket.create_connection(("127.0.0.1", self.tls_port), timeout=5)
        t0 = time.monotonic()
        self.assertEqual(s.recv(10), b"")
        self.assertLess(time.monotonic() - t0, 3)
        s.close()

    def test_https_management(self):
        port = free_port()
        self.start(mgmt=True, extra=(
            "management.ssl.port = %d\nmanagement.ssl.cacertfile = %s\n"
            "management.ssl.certfile = %s\nmanagement.ssl.keyfile = %s\n") % (
                port, cert("ca.pem"), cert("server.pem"), cert("server.key")))
        req = urllib.request.Request("https://localhost:%d/api/overview" % port)
        req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
        with urllib.request.urlopen(req, context=client_context(), timeout=5) as r:
            self.assertEqual(r.status, 200)
            overview = json.loads(r.read())
        # the listeners as RabbitMQ lists them: "amqp/ssl" with its TLS
        # options, "https" with its ssl_opts
        by_proto = {l["protocol"]: l for l in overview["listeners"]}
        amqps = by_proto["amqp/ssl"]
        self.assertEqual(amqps["port"], self.tls_port)
        self.assertEqual(amqps["socket_opts"]["versions"], ["tlsv1.3", "tlsv1.2"])
        self.assertEqual(amqps["socket_opts"]["verify"], "verify_peer")
        self.assertIs(amqps["socket_opts"]["fail_if_no_peer_cert"], False)
        self.assertEqual(amqps["socket_opts"]["certfile"], cert("server.pem"))
        https = by_proto["https"]
        self.assertEqual(https["port"], port)
        self.assertEqual(https["socket_opts"]["ssl_opts"]["keyfile"], cert("server.key"))
        self.assertIn(str(port), [c["port"] for c in overview["contexts"]])
        # a large answer (chunked, several records) over HTTPS
        conn = self.tls_connect()
        ch = conn.channel()
        names = [uname("q") for _ in range(300)]
        for n in names:
            ch.queue_declare(n, exclusive=True)
        req = urllib.request.Request("https://localhost:%d/api/queues" % port)
        req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
        with urllib.request.urlopen(req, context=client_context(), timeout=10) as r:
            got = {q["name"] for q in json.loads(r.read())}
        self.assertTrue(set(names) <= got)
        # plain HTTP on the HTTPS port is not served
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /api/overview HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(100)
        except OSError:
            data = b""
        self.assertFalse(data.startswith(b"HTTP/1.1 200"))
        s.close()

    def test_py_amqp(self):
        import amqp
        self.start()
        # py-amqp prefers EXTERNAL over TLS when the server offers it (so it
        # does with RabbitMQ): ask for AMQPLAIN
        conn = amqp.Connection("localhost:%d" % self.tls_port, userid="guest", password="guest",
                               login_method="AMQPLAIN",
                               ssl={"ca_certs": cert("ca.pem"), "cert_reqs": ssl.CERT_REQUIRED,
                                    "server_hostname": "localhost"},
                               connect_timeout=5)
        conn.connect()
        try:
            ch = conn.channel()
            q, _, _ = ch.queue_declare("", exclusive=True)
            ch.basic_publish(amqp.Message(b"over tls"), "", q)
            msg = None
            for _ in range(50):
                msg = ch.basic_get(q, no_ack=True)
                if msg:
                    break
                time.sleep(0.05)
            self.assertEqual(msg.body, b"over tls")
        finally:
            conn.close()

    def test_amqplib(self):
        """amqplib (node) with an amqps:// URL and the CA."""
        node_dir = os.path.join(helpers.HERE, "amqplib")
        if not shutil.which("node") or not os.path.isdir(
                os.path.join(node_dir, "node_modules", "amqplib")):
            self.skipTest("needs node and amqplib (run.sh installs it)")
        self.start()
        script = """
const amqp = require('amqplib'); const fs = require('fs');
(async () => {
  const conn = await amqp.connect(process.argv[1], { ca: [fs.readFileSync(process.argv[2])],
                                                   servername: 'localhost', timeout: 5000 });
  const ch = await conn.createChannel();
  const q = (await ch.assertQueue('', { exclusive: true })).queue;
  const body = Buffer.alloc(300000, 7);
  ch.sendToQueue(q, body);
  const got = await new Promise((res) => ch.consume(q, (m) => res(m.content), { noAck: true }));
  if (!got.equals(body)) throw new Error('body differs');
  await conn.close();
  console.log('amqps ok');
})().catch((e) => { console.error(e); process.exit(1); });
"""
        r = subprocess.run(["node", "-e", script,
                            "amqps://guest:guest@localhost:%d/%%2F" % self.tls_port,
                            cert("ca.pem")], cwd=node_dir, capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertIn(b"amqps ok", r.stdout)


class TlsConfigTests(unittest.TestCase):

    def run_warren(self, conf):
        if not helpers.WARREN_BIN:
            self.skipTest("needs WARREN_BIN")
        tmp = tempfile.mkdtemp(prefix="warren-tlsconf-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "w.conf")
        with open(path, "w") as f:
            f.write(conf)
        return subprocess.run([helpers.WARREN_BIN, "--port", str(free_port()), "--mgmt-port", "0",
                               "--prometheus-port", "0", "--data-dir",
                               os.path.join(tmp, "data"), "--config", path],
                              capture_output=True, timeout=10)

    def test_old_version_is_a_config_error(self):
        r = self.run_warren("ssl_options.versions.1 = tlsv1.2\nssl_options.versions.2 = tlsv1.1\n")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"tlsv1.1 is not allowed", r.stderr)

    def test_wrong_password_is_an_error(self):
        r = self.run_warren("listeners.ssl.default = %d\nssl_options.certfile = %s\n"
                            "ssl_options.keyfile = %s\nssl_options.password = nope\n" % (
                                free_port(), cert("server.pem"), cert("server-enc.key")))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"cannot load the private key", r.stderr)

    def test_missing_key_is_an_error(self):
        r = self.run_warren("listeners.ssl.default = %d\nssl_options.certfile = /nonexistent.pem\n"
                            "ssl_options.keyfile = /nonexistent.key\n" % free_port())
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"/nonexistent.pem", r.stderr)


if __name__ == "__main__":
    unittest.main()
