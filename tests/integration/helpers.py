"""Shared helpers for the integration tests: where the broker is, unique
names, a per-test alarm so nothing can hang, and a base TestCase that cleans
up every queue and exchange a test made.

The target comes from the environment (run.sh sets it):
    AMQP_HOST (127.0.0.1)  AMQP_PORT (5672)  WARREN_PID (only when run.sh
    started warren itself; tests that signal the broker need it).
"""

import os
import signal
import sys
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import pika  # noqa: E402
import pika.exceptions  # noqa: E402

HOST = os.environ.get("AMQP_HOST", "127.0.0.1")
PORT = int(os.environ.get("AMQP_PORT", "5672"))
USER = os.environ.get("AMQP_USER", "guest")
PASSWORD = os.environ.get("AMQP_PASSWORD", "guest")
WARREN_PID = int(os.environ["WARREN_PID"]) if os.environ.get("WARREN_PID") else None
URL = "amqp://%s:%s@%s:%d/%%2F" % (USER, PASSWORD, HOST, PORT)

# The warren binary the runner uses, for tests that start a broker of their own.
WARREN_BIN = os.environ.get("WARREN_BIN") or None

# Seconds one test may take before the alarm fails it.
TEST_TIMEOUT = int(os.environ.get("TEST_TIMEOUT", "30"))



def is_rabbitmq(conn):
    """Is the broker behind this pika connection RabbitMQ (not warren)?"""
    props = conn._impl.server_properties
    return props.get("product") in (b"RabbitMQ", "RabbitMQ")


def mgmt_get(path, port=None):
    """GET a management API path as guest: the parsed JSON (MGMT_PORT by default)."""
    import base64
    import json
    import urllib.request
    req = urllib.request.Request("http://%s:%s%s" % (HOST, port or os.environ.get("MGMT_PORT"),
                                                     path))
    req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)

def uname(prefix="t"):
    """A name no other test (or other user of a shared broker) has."""
    return "%s-%s" % (prefix, uuid.uuid4().hex[:16])


def params(**kw):
    """pika ConnectionParameters for the target; every wait is bounded."""
    kw.setdefault("host", HOST)
    kw.setdefault("port", PORT)
    kw.setdefault("credentials", pika.PlainCredentials(USER, PASSWORD))
    kw.setdefault("socket_timeout", 5)
    kw.setdefault("stack_timeout", 10)
    kw.setdefault("blocked_connection_timeout", 10)
    kw.setdefault("connection_attempts", 1)
    kw.setdefault("heartbeat", 0)
    return pika.ConnectionParameters(**kw)


def connect(**kw):
    return pika.BlockingConnection(params(**kw))


class TestTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise TestTimeout("test took longer than %d s" % TEST_TIMEOUT)


class BrokerTestCase(unittest.TestCase):
    """Base class: a per-test alarm, connection tracking and cleanup.

    self.connect() / self.channel() give connections that are closed after
    the test; self.queue() / self.exchange() declare uniquely named entities
    that are deleted after the test from a fresh connection (so cleanup works
    even when the test's own channel was closed by an error).
    """

    timeout = TEST_TIMEOUT

    def setUp(self):
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.alarm(self.timeout)
        self.addCleanup(signal.alarm, 0)
        self._conns = []
        self._queues = []
        self._exchanges = []
        self.addCleanup(self._cleanup)

    # -- connections --------------------------------------------------

    def connect(self, **kw):
        c = connect(**kw)
        self._conns.append(c)
        return c

    def channel(self, conn=None):
        conn = conn or self.connect()
        return conn.channel()

    # -- entities -----------------------------------------------------

    def queue(self, ch=None, name=None, **kw):
        """Declare a queue (unique name unless given); deleted after the test."""
        ch = ch or self.channel()
        if name is None:
            name = uname("q")
        ok = ch.queue_declare(name, **kw)
        self.track_queue(ok.method.queue)
        return ok.method.queue

    def exchange(self, ch=None, type="direct", name=None, **kw):
        ch = ch or self.channel()
        if name is None:
            name = uname("x")
        ch.exchange_declare(name, exchange_type=type, **kw)
        self.track_exchange(name)
        return name

    def track_queue(self, name):
        self._queues.append(name)

    def track_exchange(self, name):
        self._exchanges.append(name)

    def _cleanup(self):
        for c in self._conns:
            try:
                if c.is_open:
                    c.close()
            except Exception:
                pass
        if not self._queues and not self._exchanges:
            return
        try:
            c = connect()
        except Exception:
            return
        try:
            for kind, names in (("q", self._queues), ("x", self._exchanges)):
                for n in names:
                    try:
                        ch = c.channel()
                        if kind == "q":
                            ch.queue_delete(n)
                        else:
                            ch.exchange_delete(n)
                        ch.close()
                    except Exception:
                        pass
        finally:
            try:
                c.close()
            except Exception:
                pass

    # -- assertions ---------------------------------------------------

    def assertChannelClosed(self, code, text, fn, *args, **kw):
        """fn(*args) must make the broker close the channel with exactly
        (code, text).  text may be None to check the code only."""
        with self.assertRaises(pika.exceptions.ChannelClosedByBroker) as cm:
            fn(*args, **kw)
        self.assertEqual(cm.exception.reply_code, code, cm.exception)
        if text is not None:
            self.assertEqual(cm.exception.reply_text, text)
        return cm.exception

    def assertConnectionClosed(self, code, text, fn, *args, **kw):
        with self.assertRaises(pika.exceptions.ConnectionClosedByBroker) as cm:
            fn(*args, **kw)
        self.assertEqual(cm.exception.reply_code, code, cm.exception)
        if text is not None:
            self.assertEqual(cm.exception.reply_text, text)
        return cm.exception

    def drain(self, ch, queue, n, timeout=5):
        """basic_get until n messages were read (or timeout): [(method, props, body)]."""
        import time
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline:
            m, p, b = ch.basic_get(queue, auto_ack=True)
            if m is None:
                ch.connection.sleep(0.01)
                continue
            out.append((m, p, b))
        return out

    def drain_noack(self, ch, queue, timeout=5):
        """basic_get (manual ack) until one message comes: (method, props, body)."""
        import time
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m, p, b = ch.basic_get(queue, auto_ack=False)
            if m is not None:
                return m, p, b
            ch.connection.sleep(0.01)
        return None

    def message_count(self, ch, queue):
        return ch.queue_declare(queue, passive=True).method.message_count

    def assertMessageCount(self, ch, queue, n, timeout=3):
        """The queue's ready count becomes n (polled: RabbitMQ updates it
        asynchronously after a publish, ack or requeue)."""
        import time
        deadline = time.monotonic() + timeout
        while True:
            got = self.message_count(ch, queue)
            if got == n or time.monotonic() > deadline:
                break
            ch.connection.sleep(0.02)
        self.assertEqual(got, n, "message_count of %s" % queue)

    def wait_for(self, pred, timeout=5, conn=None, step=0.02):
        """Poll pred() (processing conn's events while waiting) until true."""
        import time
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return True
            if conn is not None:
                conn.process_data_events(time_limit=step)
            else:
                time.sleep(step)
        return pred()


def not_found_queue(name, vhost="/"):
    return "NOT_FOUND - no queue '%s' in vhost '%s'" % (name, vhost)


def not_found_exchange(name, vhost="/"):
    return "NOT_FOUND - no exchange '%s' in vhost '%s'" % (name, vhost)


def closed_by_broker(exc):
    """(code, text) from a pika connection error raised during the handshake.

    pika wraps the broker's connection.close in ProbableAuthenticationError /
    ProbableAccessDeniedError whose only argument is the string
    "ConnectionClosedByBroker: (CODE) 'TEXT'"."""
    import re
    if isinstance(exc, pika.exceptions.ConnectionClosedByBroker):
        return exc.reply_code, exc.reply_text
    s = str(exc.args[0]) if exc.args else str(exc)
    m = re.match(r"^ConnectionClosedByBroker: \((\d+)\) (['\"])(.*)\2$", s, re.S)
    if not m:
        raise AssertionError("not a broker close: %r" % (exc,))
    return int(m.group(1)), m.group(3)


class OwnBroker:
    """A warren of a test's own: its own port, data folder and
    configuration (rabbitmq.conf lines), stopped by PID when the test ends.
    Only when the runner exported WARREN_BIN (it does when it runs warren)."""

    def __init__(self, testcase, config="", data_dir=None, env=None, mgmt=False):
        import socket
        import subprocess
        import tempfile
        import time
        if not WARREN_BIN:
            testcase.skipTest("needs WARREN_BIN (a warren of the test's own)")
        self.tmp = tempfile.mkdtemp(prefix="warren-own-")
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        socks = [socket.socket() for _ in range(2)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        self.port, self.mgmt_port = (s.getsockname()[1] for s in socks)
        for s in socks:
            s.close()
        if not mgmt:
            self.mgmt_port = 0
        conf = os.path.join(self.tmp, "warren.conf")
        with open(conf, "w") as f:
            f.write(config)
        self.log = open(os.path.join(self.tmp, "warren.log"), "wb")
        self.proc = subprocess.Popen(
            [WARREN_BIN, "--port", str(self.port), "--mgmt-port", str(self.mgmt_port),
             "--prometheus-port", "0",
             "--data-dir",
             self.data_dir, "--config", conf], stdout=self.log, stderr=subprocess.STDOUT,
            env=dict(os.environ, **(env or {})))
        testcase.addCleanup(self.stop)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.02)
        raise RuntimeError("own warren did not start: %s" % self.read_log())

    def connect(self, **kw):
        kw.setdefault("port", self.port)
        return connect(**kw)

    def read_log(self):
        self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        import shutil
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except Exception:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class RestartableBroker:
    """The broker a restart test restarts with its own tools: a warren of
    the test's own (WARREN_BIN), or the external broker under test when
    RABBITMQCTL names its rabbitmqctl (stop_app, start_app).  Skips
    otherwise."""

    def __init__(self, testcase, data_dir=None):
        self.testcase = testcase
        self.data_dir = data_dir
        self.ctl = os.environ.get("RABBITMQCTL")
        if WARREN_BIN:
            self.own = OwnBroker(testcase, data_dir=data_dir)
            self.port = self.own.port
        elif self.ctl:
            self.own = None
            self.port = PORT
        else:
            testcase.skipTest("needs WARREN_BIN, or RABBITMQCTL to restart an external broker")

    def connect(self, **kw):
        kw.setdefault("port", self.port)
        return connect(**kw)

    def restart(self, kill=False):
        import subprocess
        import time
        if self.own:
            if kill:
                self.own.proc.kill()
            else:
                self.own.proc.terminate()
            self.own.proc.wait(10)
            self.own = OwnBroker(self.testcase, data_dir=self.data_dir)
            self.port = self.own.port
            return
        # RabbitMQ: a clean restart of the application (kill -9 is not its own tool)
        subprocess.run([self.ctl, "-q", "stop_app"], check=True, timeout=60)
        subprocess.run([self.ctl, "-q", "start_app"], check=True, timeout=60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.connect().close()
                return
            except Exception:
                time.sleep(0.2)
        raise RuntimeError("the broker did not come back")
