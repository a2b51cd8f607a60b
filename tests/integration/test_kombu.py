"""kombu, as Celery drives it: SimpleQueue, and Producer / Consumer with an
Exchange, a Queue and a binding."""

import socket
import unittest

import kombu
from kombu import Connection, Exchange, Queue, Producer, Consumer

from helpers import BrokerTestCase, uname, HOST, PORT, USER, PASSWORD

URL = "amqp://%s:%s@%s:%d//" % (USER, PASSWORD, HOST, PORT)


class KombuTests(BrokerTestCase):

    def conn(self):
        c = Connection(URL, connect_timeout=5, transport_options={"read_timeout": 5})
        c.connect()
        self.addCleanup(c.release)
        return c

    def test_connect(self):
        c = self.conn()
        self.assertTrue(c.connected)
        self.assertEqual(c.transport_cls, "amqp")

    def test_simple_queue(self):
        c = self.conn()
        name = uname("sq")
        self.track_queue(name)
        self.track_exchange(name)
        sq = c.SimpleQueue(name)
        self.addCleanup(sq.close)
        sq.put({"hello": "world", "n": [1, 2, 3]})
        sq.put("second")
        m = sq.get(block=True, timeout=5)
        self.assertEqual(m.payload, {"hello": "world", "n": [1, 2, 3]})
        m.ack()
        m = sq.get(block=True, timeout=5)
        self.assertEqual(m.payload, "second")
        m.ack()
        self.assertEqual(sq.qsize(), 0)
        with self.assertRaises(sq.Empty):
            sq.get(block=True, timeout=0.3)

    def test_producer_consumer(self):
        c = self.conn()
        ex = Exchange(uname("celery-x"), type="direct", durable=False, auto_delete=False)
        q = Queue(uname("celery-q"), exchange=ex, routing_key="tasks", durable=False,
                  auto_delete=False)
        self.track_exchange(ex.name)
        self.track_queue(q.name)
        got = []
        with c.channel() as pch:
            producer = Producer(pch, exchange=ex, serializer="json")
            producer.declare()
            q(pch).declare()
            for i in range(5):
                producer.publish({"task": "add", "args": [i, i]}, routing_key="tasks",
                                 headers={"id": str(i)}, declare=[q], retry=False)

        def on_message(body, message):
            got.append((message.headers["id"], body))
            message.ack()

        with c.channel() as cch:
            with Consumer(cch, queues=[q], callbacks=[on_message], accept=["json"]):
                while len(got) < 5:
                    c.drain_events(timeout=5)
        self.assertEqual(got, [(str(i), {"task": "add", "args": [i, i]}) for i in range(5)])

    def test_consumer_prefetch_and_reject(self):
        c = self.conn()
        name = uname("kq")
        q = Queue(name, exchange=Exchange("", type="direct"), routing_key=name,
                  auto_delete=False)
        self.track_queue(name)
        got = []
        with c.channel() as ch:
            q(ch).declare()
            p = Producer(ch, serializer="json")
            for i in range(3):
                p.publish(i, routing_key=name, retry=False)

            def on_message(body, message):
                got.append((body, message.delivery_info["redelivered"]))
                if body == 0 and not message.delivery_info["redelivered"]:
                    message.requeue()
                else:
                    message.ack()
            with Consumer(ch, queues=[q], callbacks=[on_message], accept=["json"],
                          prefetch_count=1):
                while len(got) < 4:
                    c.drain_events(timeout=5)
        self.assertEqual(got, [(0, False), (0, True), (1, False), (2, False)])


if __name__ == "__main__":
    unittest.main()
