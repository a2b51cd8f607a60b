"""py-amqp (the `amqp` package that kombu and Celery use)."""

import time
import unittest

import amqp
import amqp.exceptions

from helpers import BrokerTestCase, uname, HOST, PORT, USER, PASSWORD


class PyAmqpTests(BrokerTestCase):

    def conn(self, **kw):
        c = amqp.Connection(host="%s:%d" % (HOST, PORT), userid=USER, password=PASSWORD,
                            virtual_host="/", connect_timeout=5, read_timeout=5,
                            write_timeout=5, **kw)
        c.connect()
        self.addCleanup(self._close, c)
        return c

    @staticmethod
    def _close(c):
        try:
            c.close()
        except Exception:
            pass

    def test_connect_properties(self):
        c = self.conn()
        self.assertTrue(c.connected)
        caps = c.server_capabilities
        self.assertTrue(caps.get("publisher_confirms"))
        self.assertTrue(caps.get("consumer_cancel_notify"))

    def test_declare_publish_get(self):
        c = self.conn()
        ch = c.channel()
        q = uname("q")
        self.track_queue(q)
        ok = ch.queue_declare(q, durable=False, auto_delete=False)
        self.assertEqual((ok.queue, ok.message_count, ok.consumer_count), (q, 0, 0))
        ch.basic_publish(amqp.Message(b"hello", content_type="text/plain",
                                      application_headers={"k": "v", "n": 3}),
                         exchange="", routing_key=q)
        msg = None
        for _ in range(100):
            msg = ch.basic_get(q, no_ack=False)
            if msg is not None:
                break
            time.sleep(0.01)
        self.assertIsNotNone(msg)
        self.assertEqual(msg.body, b"hello")
        self.assertEqual(msg.content_type, "text/plain")
        self.assertEqual(msg.headers, {"k": "v", "n": 3})
        self.assertEqual(msg.delivery_info["routing_key"], q)
        self.assertEqual(msg.delivery_info["message_count"], 0)
        ch.basic_ack(msg.delivery_tag)
        self.assertIsNone(ch.basic_get(q))

    def test_consume_drain_events(self):
        c = self.conn()
        ch = c.channel()
        x = uname("x")
        q = uname("q")
        self.track_exchange(x)
        self.track_queue(q)
        ch.exchange_declare(x, "topic", durable=False, auto_delete=False)
        ch.queue_declare(q, auto_delete=False)
        ch.queue_bind(q, x, "a.#")
        got = []

        def on_message(msg):
            got.append((msg.delivery_info["routing_key"], msg.body))
            msg.channel.basic_ack(msg.delivery_tag)
        tag = ch.basic_consume(q, callback=on_message)
        for i in range(5):
            ch.basic_publish(amqp.Message(b"%d" % i), exchange=x, routing_key="a.b.%d" % i)
        while len(got) < 5:
            c.drain_events(timeout=5)
        self.assertEqual(got, [("a.b.%d" % i, b"%d" % i) for i in range(5)])
        ch.basic_cancel(tag)

    def test_confirm_publish(self):
        c = self.conn(confirm_publish=True)
        ch = c.channel()
        q = uname("q")
        self.track_queue(q)
        ch.queue_declare(q, auto_delete=False)
        for i in range(10):
            ch.basic_publish(amqp.Message(b"x"), exchange="", routing_key=q)  # waits for ack
        self.assertEqual(ch.queue_declare(q, passive=True).message_count, 10)

    def test_confirm_select_explicit(self):
        c = self.conn()
        ch = c.channel()
        ch.confirm_select()
        q = uname("q")
        self.track_queue(q)
        ch.queue_declare(q, auto_delete=False)
        ch.basic_publish_confirm(amqp.Message(b"x"), exchange="", routing_key=q)

    def test_not_found(self):
        c = self.conn()
        ch = c.channel()
        q = uname("q")
        with self.assertRaises(amqp.exceptions.NotFound) as cm:
            ch.queue_declare(q, passive=True)
        self.assertEqual(cm.exception.reply_code, 404)
        self.assertEqual(cm.exception.reply_text, "NOT_FOUND - no queue '%s' in vhost '/'" % q)
        self.assertEqual(cm.exception.method_name, "Queue.declare")
        # the connection survives a channel error
        c.channel().queue_declare("", exclusive=True)

    def test_precondition_failed(self):
        c = self.conn()
        ch = c.channel()
        x = uname("x")
        self.track_exchange(x)
        ch.exchange_declare(x, "direct", auto_delete=False)
        with self.assertRaises(amqp.exceptions.PreconditionFailed) as cm:
            ch.exchange_declare(x, "fanout", auto_delete=False)
        self.assertEqual(cm.exception.reply_code, 406)

    def test_access_refused(self):
        c = self.conn()
        ch = c.channel()
        with self.assertRaises(amqp.exceptions.AccessRefused) as cm:
            ch.exchange_declare("amq." + uname("x"), "direct")
        self.assertEqual(cm.exception.reply_code, 403)

    def test_resource_locked(self):
        c1 = self.conn()
        q = c1.channel().queue_declare("", exclusive=True).queue
        c2 = self.conn()
        with self.assertRaises(amqp.exceptions.ResourceLocked) as cm:
            c2.channel().queue_declare(q, passive=True)
        self.assertEqual(cm.exception.reply_code, 405)

    def test_not_implemented_is_connection_error(self):
        c = self.conn()
        ch = c.channel()
        with self.assertRaises(amqp.exceptions.AMQPNotImplementedError) as cm:
            ch.basic_qos(prefetch_size=1, prefetch_count=0, a_global=False)
        self.assertEqual(cm.exception.reply_code, 540)
        self.assertEqual(cm.exception.reply_text, "NOT_IMPLEMENTED - prefetch_size!=0 (1)")

    def test_wrong_password(self):
        with self.assertRaises(amqp.exceptions.AccessRefused) as cm:
            c = amqp.Connection(host="%s:%d" % (HOST, PORT), userid=USER,
                                password="wrong", connect_timeout=5, read_timeout=5)
            self.addCleanup(self._close, c)
            c.connect()
        self.assertEqual(cm.exception.reply_code, 403)


if __name__ == "__main__":
    unittest.main()
