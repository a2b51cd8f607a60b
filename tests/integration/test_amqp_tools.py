"""The rabbitmq-c command-line tools (Debian's amqp-tools) against the target:
amqp-declare-queue, amqp-publish, amqp-get, amqp-consume, amqp-delete-queue."""

import shutil
import subprocess
import time
import unittest

from helpers import BrokerTestCase, uname, HOST, PORT, USER, PASSWORD

URL = "amqp://%s:%s@%s:%d" % (USER, PASSWORD, HOST, PORT)
TOOLS = ("amqp-declare-queue", "amqp-publish", "amqp-get", "amqp-consume",
         "amqp-delete-queue")


def tool(*args, input=None, timeout=10):
    return subprocess.run(list(args[:1]) + ["-u", URL] + list(args[1:]), input=input,
                          capture_output=True, timeout=timeout)


@unittest.skipUnless(all(shutil.which(t) for t in TOOLS), "amqp-tools not installed")
class AmqpToolsTests(BrokerTestCase):

    def test_declare_publish_get_delete(self):
        q = uname("tools")
        self.track_queue(q)
        r = tool("amqp-declare-queue", "-q", q)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), q.encode())
        r = tool("amqp-publish", "-r", q, "-b", "hello tools", "-C", "text/plain")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertMessageCount(self.channel(), q, 1)
        r = tool("amqp-get", "-q", q)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"hello tools")
        r = tool("amqp-get", "-q", q)   # empty queue: exit status 2
        self.assertEqual(r.returncode, 2)
        tool("amqp-publish", "-r", q, "-b", "x")
        tool("amqp-publish", "-r", q, "-b", "y")
        self.assertMessageCount(self.channel(), q, 2)
        r = tool("amqp-delete-queue", "-q", q)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), b"2")

    def test_durable_declare(self):
        q = uname("tools")
        self.track_queue(q)
        r = tool("amqp-declare-queue", "-d", "-q", q)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.channel().queue_declare(q, passive=True, durable=True)

    def test_publish_from_stdin(self):
        q = self.queue()
        r = tool("amqp-publish", "-r", q, input=b"from stdin\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = tool("amqp-get", "-q", q)
        self.assertEqual(r.stdout, b"from stdin\n")

    def test_consume_count_1(self):
        q = self.queue()
        for body in ("first", "second"):
            tool("amqp-publish", "-r", q, "-b", body)
        self.assertMessageCount(self.channel(), q, 2)
        r = tool("amqp-consume", "-q", q, "-c", "1", "cat")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"first")
        self.assertMessageCount(self.channel(), q, 1)

    def test_consume_bound_to_exchange(self):
        ch = self.channel()
        ch.confirm_delivery()
        x = self.exchange(ch, "fanout")
        # (this amqp-consume crashes when -e is given without -r)
        p = subprocess.Popen(["amqp-consume", "-u", URL, "-e", x, "-r", "k", "-c", "2", "cat"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            # publish mandatory until the tool's exclusive queue is bound
            import pika.exceptions
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    ch.basic_publish(x, "k", b"ping", mandatory=True)
                    break
                except pika.exceptions.UnroutableError:
                    time.sleep(0.05)
            r = tool("amqp-publish", "-e", x, "-r", "k", "-b", "pong")
            self.assertEqual(r.returncode, 0, r.stderr)
            out, err = p.communicate(timeout=10)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(out, b"pingpong")

    def test_get_missing_queue(self):
        q = uname("missing")
        r = tool("amqp-get", "-q", q)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(("server channel error 404, message: NOT_FOUND - no queue '%s' in "
                       "vhost '/'" % q).encode(), r.stderr)


if __name__ == "__main__":
    unittest.main()
