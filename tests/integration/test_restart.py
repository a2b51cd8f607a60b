"""Restarts that RabbitMQ can do too: run against warren (a broker of the
test's own, restarted by signal) and against RabbitMQ 3.10 (restarted with
rabbitmqctl stop_app/start_app when RABBITMQCTL is set).  Durable things
and persistent messages come back, transient ones do not, and a
delivered but unacknowledged message comes back redelivered."""

import shutil
import tempfile
import unittest

import pika
import pika.exceptions

from helpers import BrokerTestCase, RestartableBroker, uname


class RestartTests(BrokerTestCase):
    timeout = 120

    def setUp(self):
        super().setUp()
        data = tempfile.mkdtemp(prefix="warren-restart-")
        self.addCleanup(shutil.rmtree, data, True)
        self.b = RestartableBroker(self, data_dir=data)
        self.addCleanup(self.cleanup_names)
        self.names = []

    def n(self, prefix):
        name = uname(prefix)
        self.names.append(name)
        return name

    def cleanup_names(self):
        try:
            c = self.b.connect()
        except Exception:
            return
        for name in self.names:
            try:
                ch = c.channel()
                ch.queue_delete(name)
                ch.exchange_delete(name)
            except Exception:
                pass
        c.close()

    def test_durable_topology_and_transient(self):
        dx, tx, dq, tq = self.n("dx"), self.n("tx"), self.n("dq"), self.n("tq")
        c = self.b.connect()
        ch = c.channel()
        ch.exchange_declare(dx, "topic", durable=True)
        ch.exchange_declare(tx, "fanout", durable=False)
        ch.queue_declare(dq, durable=True, arguments={"x-max-length": 10})
        ch.queue_declare(tq, durable=False)
        ch.queue_bind(dq, dx, "a.#")
        c.close()
        self.b.restart()
        ch = self.b.connect().channel()
        ch.exchange_declare(dx, "topic", durable=True, passive=True)
        ch.queue_declare(dq, durable=True, arguments={"x-max-length": 10})
        ch.confirm_delivery()
        ch.basic_publish(dx, "a.z", b"routed")
        self.assertEqual(ch.basic_get(dq, auto_ack=True)[2], b"routed")
        for declare in (lambda c: c.exchange_declare(tx, passive=True),
                        lambda c: c.queue_declare(tq, passive=True)):
            with self.assertRaises(pika.exceptions.ChannelClosedByBroker) as cm:
                declare(self.b.connect().channel())
            self.assertEqual(cm.exception.reply_code, 404)

    def test_persistent_and_redelivered(self):
        dq = self.n("dq")
        c = self.b.connect()
        ch = c.channel()
        ch.queue_declare(dq, durable=True)
        ch.confirm_delivery()
        for i in range(5):
            ch.basic_publish("", dq, b"p%d" % i,
                             pika.BasicProperties(delivery_mode=2, headers={"i": i},
                                                  content_type="text/plain"))
        ch.basic_publish("", dq, b"transient", pika.BasicProperties(delivery_mode=1))
        m0 = ch.basic_get(dq)                      # delivered, not acknowledged
        m1 = ch.basic_get(dq)
        ch.basic_ack(m1[0].delivery_tag)           # acknowledged
        self.assertEqual((m0[2], m1[2]), (b"p0", b"p1"))
        c.close()                                  # p0 goes back, redelivered
        self.b.restart()
        ch = self.b.connect().channel()
        got = []
        while True:
            m, p, body = ch.basic_get(dq, auto_ack=True)
            if m is None:
                break
            got.append((body, m.redelivered, p.headers, p.content_type))
        self.assertEqual(got, [(b"p0", True, {"i": 0}, "text/plain"),
                               (b"p2", False, {"i": 2}, "text/plain"),
                               (b"p3", False, {"i": 3}, "text/plain"),
                               (b"p4", False, {"i": 4}, "text/plain")])


    def test_ttl_counts_from_the_publish_across_a_restart(self):
        # A restart does not give a message its TTL again: a message
        # published 3 s before it expires is gone 3 s later, restart or not.
        import time
        ttl_q, q = self.n("ttlq"), self.n("q")
        ch = self.b.connect().channel()
        ch.queue_declare(ttl_q, durable=True, arguments={"x-message-ttl": 3000})
        ch.queue_declare(q, durable=True)
        ch.confirm_delivery()
        persistent = pika.BasicProperties(delivery_mode=2)
        ch.basic_publish("", ttl_q, b"queue-ttl", persistent)
        ch.basic_publish("", q, b"message-ttl", pika.BasicProperties(delivery_mode=2,
                                                                  expiration="3000"))
        ch.basic_publish("", q, b"kept", persistent)
        published = time.monotonic()
        self.b.restart()
        left = 3.5 - (time.monotonic() - published)
        if left > 0:
            time.sleep(left)
        ch = self.b.connect().channel()
        self.assertIsNone(ch.basic_get(ttl_q, auto_ack=True)[0])
        self.assertEqual(ch.basic_get(q, auto_ack=True)[2], b"kept")
        self.assertIsNone(ch.basic_get(q, auto_ack=True)[0])


if __name__ == "__main__":
    unittest.main()
