"""Disk trouble is not a crash: when the data disk fills up (simulated with
warren's fault-injection hook, WARREN_FAULT_DISK_FULL), persistent
publishes are nacked, publishing connections get connection.blocked and
are no longer read, consumers keep draining, nothing unconfirmed is
confirmed, and everything resumes (connection.unblocked) when space comes
back."""

import os
import tempfile
import time
import unittest

import pika
import pika.exceptions

from helpers import BrokerTestCase, OwnBroker


class DiskFullTests(BrokerTestCase):
    timeout = 60

    def test_blocked_while_full_unblocked_after(self):
        flag = os.path.join(tempfile.mkdtemp(prefix="warren-full-"), "full")
        b = OwnBroker(self, env={"WARREN_FAULT_DISK_FULL": flag})
        pub = b.connect(blocked_connection_timeout=30)
        events = []
        pub.add_on_connection_blocked_callback(lambda c, f: events.append("blocked"))
        pub.add_on_connection_unblocked_callback(lambda c, f: events.append("unblocked"))
        ch = pub.channel()
        ch.queue_declare("dq", durable=True)
        ch.confirm_delivery()
        persistent = pika.BasicProperties(delivery_mode=2)
        for i in range(5):
            ch.basic_publish("", "dq", b"ok-%d" % i, persistent)
        open(flag, "w").close()                              # the disk is full
        with self.assertRaises(pika.exceptions.NackError):
            ch.basic_publish("", "dq", b"lost", persistent)
        deadline = time.monotonic() + 5
        while "blocked" not in events and time.monotonic() < deadline:
            pub.process_data_events(0.05)
        self.assertEqual(events, ["blocked"])
        # a consumer (a connection that never published) keeps draining
        cons = b.connect().channel()
        m, _p, body = cons.basic_get("dq", auto_ack=True)
        self.assertEqual(body, b"ok-0")
        self.assertIn("low on disk", b.read_log())
        os.unlink(flag)                                      # space comes back
        deadline = time.monotonic() + 15
        while "unblocked" not in events and time.monotonic() < deadline:
            pub.process_data_events(0.1)
        self.assertEqual(events, ["blocked", "unblocked"])
        ch.basic_publish("", "dq", b"after", persistent)    # confirmed again
        got = [cons.basic_get("dq", auto_ack=True)[2] for _ in range(5)]
        self.assertEqual(got[:4], [b"ok-1", b"ok-2", b"ok-3", b"ok-4"])
        self.assertIn(got[4], (b"lost", b"after"))           # the nacked one may be there


if __name__ == "__main__":
    unittest.main()


class MemoryAlarmTests(BrokerTestCase):
    """vm_memory_high_watermark: above it, publishers are blocked and
    consumers keep draining, as with RabbitMQ's memory alarm."""

    def test_publisher_blocked_above_watermark(self):
        b = OwnBroker(self, "vm_memory_high_watermark.absolute = 1MB\n")
        time.sleep(1.2)                                  # the monitor looks every second
        self.assertIn("memory resource limit alarm set on node", b.read_log())
        pub = b.connect(blocked_connection_timeout=30)
        events = []
        pub.add_on_connection_blocked_callback(lambda c, f: events.append(f.method.reason))
        ch = pub.channel()
        q = ch.queue_declare("", exclusive=False, auto_delete=False).method.queue
        ch.basic_publish("", q, b"one")                  # the first publish blocks the connection
        deadline = time.monotonic() + 5
        while not events and time.monotonic() < deadline:
            pub.process_data_events(0.05)
        self.assertEqual(events, ["low on memory"])
        cons = b.connect().channel()                     # never published: not blocked
        m, _p, body = cons.basic_get(q, auto_ack=True)
        self.assertEqual(body, b"one")


class DiskFreeLimitTests(BrokerTestCase):
    """disk_free_limit.absolute: less free space than that on the data
    folder's filesystem blocks publishers, as RabbitMQ's disk alarm."""

    def test_publisher_blocked_below_disk_free_limit(self):
        b = OwnBroker(self, "disk_free_limit.absolute = 1000000GB\n")
        time.sleep(1.2)
        self.assertIn("disk resource limit alarm set on node", b.read_log())
        pub = b.connect(blocked_connection_timeout=30)
        events = []
        pub.add_on_connection_blocked_callback(lambda c, f: events.append(f.method.reason))
        ch = pub.channel()
        q = ch.queue_declare("", exclusive=False, auto_delete=False).method.queue
        ch.basic_publish("", q, b"one")
        deadline = time.monotonic() + 5
        while not events and time.monotonic() < deadline:
            pub.process_data_events(0.05)
        self.assertEqual(events, ["low on disk"])
