"""The disk is written and fsynced on an I/O thread: a slow disk delays
only what depends on it.  With every fsync made 800 ms slower (warren's
fault-injection hook, WARREN_FAULT_FSYNC_DELAY_MS), a persistent message's
confirm and its first delivery (its delivery count must be on disk first)
wait for the fsync, while transient traffic on other connections goes on
at full speed meanwhile.  warren-only: it needs the hook."""

import threading
import time

import pika

from helpers import BrokerTestCase, OwnBroker

DELAY = 0.8


class SlowDiskTests(BrokerTestCase):
    timeout = 60

    def test_transient_traffic_does_not_wait_for_the_disk(self):
        b = OwnBroker(self, env={"WARREN_FAULT_FSYNC_DELAY_MS": str(int(DELAY * 1000))})
        setup = b.connect().channel()
        setup.queue_declare("dq", durable=True)
        setup.queue_declare("tq", durable=False)

        persistent_took = []

        def publish_persistent():
            conn = b.connect()
            ch = conn.channel()
            ch.confirm_delivery()
            for i in range(3):
                t = time.monotonic()
                ch.basic_publish("", "dq", b"p%d" % i, pika.BasicProperties(delivery_mode=2))
                persistent_took.append(time.monotonic() - t)
            conn.close()

        th = threading.Thread(target=publish_persistent)
        th.start()
        time.sleep(0.2)                      # its first confirm is waiting for the disk
        conn = b.connect()
        ch = conn.channel()
        ch.confirm_delivery()
        transient_took = []
        while th.is_alive() and len(transient_took) < 200:
            t = time.monotonic()
            ch.basic_publish("", "tq", b"t", pika.BasicProperties(delivery_mode=1))
            m, _p, body = ch.basic_get("tq", auto_ack=False)
            ch.basic_ack(m.delivery_tag)
            self.assertEqual(body, b"t")
            transient_took.append(time.monotonic() - t)
        th.join()
        print("\nslow disk: persistent confirms took %s s; %d transient publish+get+ack "
              "round trips meanwhile, the slowest %.1f ms" %
              (", ".join("%.2f" % x for x in persistent_took), len(transient_took),
               max(transient_took) * 1e3))
        self.assertEqual(len(persistent_took), 3)
        for took in persistent_took:         # confirmed only once on disk
            self.assertGreaterEqual(took, DELAY * 0.9)
        self.assertGreater(len(transient_took), 20)
        self.assertLess(max(transient_took), DELAY / 2)

        # A persistent message's first delivery waits until its count is on disk.
        t = time.monotonic()
        m, _p, body = setup.basic_get("dq", auto_ack=False)
        took = time.monotonic() - t
        self.assertEqual(body, b"p0")
        self.assertGreaterEqual(took, DELAY * 0.9)
        # ... while an autoack get, which records no count, does not wait.
        t = time.monotonic()
        m, _p, body = setup.basic_get("dq", auto_ack=True)
        self.assertEqual(body, b"p1")
        self.assertLess(time.monotonic() - t, DELAY / 2)
