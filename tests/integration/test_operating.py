"""Operating warren (issue #8), beyond warrenctl: a bad configuration file
stops the broker with the line that is wrong; the log file (log.file) gets
one line per event with connection ids and is reopened on SIGHUP, as
logrotate needs; systemd's notification protocol (Type=notify: READY=1,
WATCHDOG=1, STOPPING=1).  All warren-only: each test starts a warren of
its own (helpers.OwnBroker, or the binary itself for a start that must
fail)."""

import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import pika
import pika.exceptions

from helpers import WARREN_BIN, BrokerTestCase, OwnBroker, connect

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \[(debug|info|warning|error)\] "


class WarrenTestCase(BrokerTestCase):
    timeout = 60

    def setUp(self):
        super().setUp()
        if not WARREN_BIN:
            self.skipTest("warren only: needs WARREN_BIN")
        self.tmp = tempfile.mkdtemp(prefix="warren-ops-")
        self.addCleanup(subprocess.run, ["rm", "-rf", self.tmp])

    def start_failing(self, conf_text, *extra):
        """Run warren with conf_text as its configuration; it must exit at once."""
        conf = os.path.join(self.tmp, "warren.conf")
        with open(conf, "w") as f:
            f.write(conf_text)
        p = subprocess.run([WARREN_BIN, "--config", conf, "--port", "0", "--mgmt-port", "0",
                            "--prometheus-port", "0", "--data-dir",
                            os.path.join(self.tmp, "data")] + list(extra),
                           capture_output=True, text=True, timeout=10)
        return conf, p


class BadConfigTests(WarrenTestCase):

    def test_unknown_key_names_the_line(self):
        conf, p = self.start_failing("# a comment\n"
                                     "heartbeat = 30\n"
                                     "\n"
                                     "listeners.tcp.defualt.typo = 5672\n"
                                     "frame_max = 131072\n")
        self.assertEqual(p.returncode, 64, p.stderr)
        self.assertEqual(p.stderr, "warren: %s:4: unknown key 'listeners.tcp.defualt.typo'\n"
                         % conf)
        self.assertEqual(p.stdout, "")

    def test_bad_value_says_what_was_expected(self):
        cases = [
            ("heartbeat = often\n", 1,
             "heartbeat: expected an integer 0..65535, got 'often' (invalid)"),
            ("default_user = a\n\n\nchannel_max = 70000\n", 4,
             "channel_max: expected an integer 0..65535, got '70000' (too large)"),
            ("log.console.level = loud\n", 1,
             "log.console.level: expected one of debug, info, notice, warning, error, "
             "critical, alert, emergency, none; got 'loud'"),
            ("log.console = yes\n", 1, "log.console: expected true or false, got 'yes'"),
            ("log.file = true\n", 1, "log.file: expected a file name or false, got 'true'"),
            ("vm_memory_high_watermark.relative = 2\n", 1,
             "vm_memory_high_watermark.relative: expected a fraction between 0 and 1, got '2'"),
            ("heartbeat 30\n", 1, "expected '=' after key 'heartbeat'"),
        ]
        for text, line, why in cases:
            with self.subTest(text=text):
                conf, p = self.start_failing(text)
                self.assertEqual(p.returncode, 64, p.stderr)
                self.assertEqual(p.stderr, "warren: %s:%d: %s\n" % (conf, line, why))

    def test_unopenable_log_file_stops_the_start(self):
        path = os.path.join(self.tmp, "no", "such", "dir", "warren.log")
        _, p = self.start_failing("log.file = %s\n" % path)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot open the log file %s: No such file or directory" % path, p.stderr)


class LogFileTests(WarrenTestCase):

    def test_lines_and_reopen_on_sighup(self):
        log = os.path.join(self.tmp, "warren.log")
        b = OwnBroker(self, config="log.dir = %s\nlog.file = warren.log\nlog.console = false\n"
                      % self.tmp)
        c = b.connect()
        ch = c.channel()
        with self.assertRaises(pika.exceptions.ChannelClosedByBroker):
            ch.queue_declare("no-such-queue", passive=True)
        c.close()
        deadline = time.monotonic() + 5
        while "closed (" not in open(log).read() and time.monotonic() < deadline:
            time.sleep(0.05)
        first = open(log).read()
        lines = first.splitlines()
        for line in lines:
            self.assertRegex(line, "^" + STAMP)
        # the client's connection: every line about it carries its id
        auth = [l for l in lines if "authenticated and granted access" in l]
        self.assertEqual(len(auth), 1, first)
        cid = re.search(r"<conn (\d+)>", auth[0]).group(1)
        conn_lines = [l for l in lines if "<conn %s>" % cid in l]
        text = "\n".join(conn_lines)
        self.assertRegex(text, r"<conn \d+> accepting AMQP connection \(127\.0\.0\.1:\d+ -> "
                               r"127\.0\.0\.1:%d\)" % b.port)
        self.assertIn("user 'guest' authenticated and granted access to vhost '/'", text)
        # RabbitMQ's wordings, with warren's connection ids
        peer = r"127\.0\.0\.1:\d+ -> 127\.0\.0\.1:%d" % b.port
        self.assertRegex(text, r"Channel error on connection \(%s, vhost: '/', user: 'guest'\), "
                               r"channel 1: operation queue\.declare caused a channel exception "
                               r"not_found: no queue 'no-such-queue' in vhost '/'" % peer)
        self.assertRegex(text, r"closing AMQP connection \(%s, vhost: '/', user: 'guest'\)" % peer)
        # log.console = false: nothing on stderr
        self.assertEqual(b.read_log(), "")

        # logrotate: move the file away, SIGHUP, new lines go to a new file
        os.rename(log, log + ".1")
        b.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while not os.path.exists(log) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(os.path.exists(log), "not reopened after SIGHUP")
        b.connect().close()
        time.sleep(0.3)
        self.assertIsNone(b.proc.poll())
        new = open(log).read()
        self.assertIn("received SIGHUP, reopened the log file %s" % log, new)
        self.assertIn("accepting AMQP connection", new)
        self.assertEqual(open(log + ".1").read(), first)  # nothing more went to the old one

    def test_authentication_failure_is_logged(self):
        b = OwnBroker(self)
        with self.assertRaises(pika.exceptions.AMQPConnectionError):
            b.connect(credentials=pika.PlainCredentials("guest", "wrong"))
        deadline = time.monotonic() + 5
        while "login refused" not in b.read_log() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertRegex(b.read_log(), STAMP + r"<conn \d+> Error on AMQP connection "
                         r"\(127\.0\.0\.1:\d+ -> 127\.0\.0\.1:%d, state: starting\): PLAIN login "
                         r"refused: user 'guest' - invalid credentials\n" % b.port)

    def test_console_and_file_levels(self):
        log = os.path.join(self.tmp, "w.log")
        b = OwnBroker(self, config="log.file = %s\nlog.file.level = warning\n"
                                   "log.console.level = info\n" % log)
        b.connect().close()
        time.sleep(0.3)
        self.assertIn("accepting AMQP connection", b.read_log())  # info, on stderr
        self.assertNotIn("accepting AMQP connection", open(log).read())


class RecoveryLogTests(WarrenTestCase):

    def test_recovery_summary(self):
        data = os.path.join(self.tmp, "data")
        b = OwnBroker(self, data_dir=data)
        c = b.connect()
        ch = c.channel()
        ch.confirm_delivery()
        for q in ("d1", "d2"):
            ch.queue_declare(q, durable=True)
        for _ in range(3):
            ch.basic_publish("", "d1", b"x", pika.BasicProperties(delivery_mode=2))
        c.close()
        b.stop()
        b2 = OwnBroker(self, data_dir=data)
        b2.connect().close()
        self.assertRegex(b2.read_log(), STAMP + r"recovered 3 messages of queue 'd1' in vhost '/'\n")
        self.assertRegex(b2.read_log(), STAMP + r"Recovering 2 queues of type "
                                               r"rabbit_classic_queue took \d+ms; 3 messages "
                                               r"recovered\n")


class AlarmStatusTests(WarrenTestCase):

    def test_memory_alarm_in_status(self):
        b = OwnBroker(self, config="vm_memory_high_watermark.absolute = 1MB\n", mgmt=True)
        deadline = time.monotonic() + 5
        while "memory resource limit alarm set" not in b.read_log():
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        self.assertRegex(b.read_log(), STAMP + r"vm_memory_high_watermark set\. Memory used:\d+ "
                                              r"allowed:1000000\n")
        ctl = os.path.join(os.path.dirname(WARREN_BIN), "warrenctl")
        p = subprocess.run([ctl, "--socket", os.path.join(b.data_dir, "warren.sock"), "status"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"\nAlarms\n\nMemory alarm on node \S+\n")
        self.assertNotIn("(none)", p.stdout)
        # the management API says so too: nodes, and the health check (503)
        import base64
        import http.client
        import json
        auth = {"Authorization": "Basic " + base64.b64encode(b"guest:guest").decode()}
        h = http.client.HTTPConnection("127.0.0.1", b.mgmt_port, timeout=5)
        h.request("GET", "/api/nodes", headers=auth)
        node = json.loads(h.getresponse().read())[0]
        self.assertIs(node["mem_alarm"], True)
        self.assertIs(node["disk_free_alarm"], False)
        h.request("GET", "/api/health/checks/alarms", headers=auth)
        r = h.getresponse()
        body = json.loads(r.read())
        self.assertEqual(r.status, 503)
        self.assertEqual(body["status"], "failed")
        self.assertEqual([a["resource"] for a in body["alarms"]], ["memory"])
        h.close()


class NotifyTests(WarrenTestCase):

    def test_ready_watchdog_stopping(self):
        path = os.path.join(self.tmp, "notify.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        s.bind(path)
        s.settimeout(5)
        b = OwnBroker(self, env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})
        got = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and sum(m == "WATCHDOG=1" for m in got) < 3:
            got.append(s.recv(4096).decode())
        ready = [m for m in got if m.startswith("READY=1")]
        self.assertEqual(len(ready), 1, got)
        self.assertIn("\nMAINPID=%d\n" % b.proc.pid, ready[0])
        self.assertIn("STATUS=accepting AMQP 0-9-1 connections on", ready[0])
        # READY only once the listener accepts: a client gets in right away
        connect(port=b.port).close()
        self.assertGreaterEqual(got.count("WATCHDOG=1"), 3, got)
        t0 = time.monotonic()
        s.recv(4096)  # the next WATCHDOG=1, about 0.1 s later
        self.assertLess(time.monotonic() - t0, 1.0)
        b.proc.send_signal(signal.SIGTERM)
        msgs = []
        while not any(m.startswith("STOPPING=1") for m in msgs):
            msgs.append(s.recv(4096).decode())
        self.assertEqual(b.proc.wait(5), 0)

    def test_no_socket_no_notification(self):
        b = OwnBroker(self)
        b.connect().close()
        self.assertNotIn("NOTIFY", b.read_log())
        self.assertNotIn("watchdog", b.read_log())


if __name__ == "__main__":
    unittest.main()
