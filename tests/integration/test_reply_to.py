"""Direct reply-to: the pseudo queue amq.rabbitmq.reply-to."""

import unittest

import pika
import pika.exceptions

from helpers import BrokerTestCase, uname

REPLY_TO = "amq.rabbitmq.reply-to"


class DirectReplyToTests(BrokerTestCase):

    def test_rpc_round_trip(self):
        server_conn = self.connect()
        server = server_conn.channel()
        rpc_q = self.queue(server, exclusive=True)
        seen = {}

        def on_request(ch, m, p, b):
            seen["reply_to"] = p.reply_to
            ch.basic_publish("", p.reply_to, b"reply to " + b,
                             pika.BasicProperties(correlation_id=p.correlation_id))
            ch.basic_ack(m.delivery_tag)
        server.basic_consume(rpc_q, on_request)

        client_conn = self.connect()
        client = client_conn.channel()
        replies = []
        client.basic_consume(REPLY_TO, lambda ch, m, p, b: replies.append((m, p, b)),
                             auto_ack=True)
        client.basic_publish("", rpc_q, b"ping",
                             pika.BasicProperties(reply_to=REPLY_TO, correlation_id="c-1"))
        for _ in range(100):
            if replies:
                break
            server_conn.process_data_events(time_limit=0.02)
            client_conn.process_data_events(time_limit=0.02)
        self.assertEqual(len(replies), 1)
        m, p, b = replies[0]
        self.assertEqual(b, b"reply to ping")
        self.assertEqual(p.correlation_id, "c-1")
        self.assertTrue(seen["reply_to"].startswith(REPLY_TO + "."), seen["reply_to"])
        self.assertEqual(m.routing_key, seen["reply_to"])
        self.assertEqual(m.exchange, "")

    def test_several_requests(self):
        c = self.connect()
        ch = c.channel()
        rpc_q = self.queue(ch, exclusive=True)
        replies = []
        ch.basic_consume(REPLY_TO, lambda ch_, m, p, b: replies.append(b), auto_ack=True)
        for i in range(5):
            ch.basic_publish("", rpc_q, b"%d" % i, pika.BasicProperties(reply_to=REPLY_TO))
        got = self.drain(c.channel(), rpc_q, 5)
        for _m, p, b in got:
            ch.basic_publish("", p.reply_to, b"r" + b)
        self.assertTrue(self.wait_for(lambda: len(replies) == 5, conn=c))
        self.assertEqual(replies, [b"r0", b"r1", b"r2", b"r3", b"r4"])

    def test_consume_with_ack_refused(self):
        ch = self.channel()
        self.assertChannelClosed(
            406, "PRECONDITION_FAILED - reply consumer cannot acknowledge",
            ch.basic_consume, REPLY_TO, lambda *a: None, auto_ack=False)

    def test_publish_without_consumer_refused(self):
        ch = self.channel()
        q = self.queue(ch, exclusive=True)
        ch.basic_publish("", q, b"x", pika.BasicProperties(reply_to=REPLY_TO))
        self.assertChannelClosed(
            406, "PRECONDITION_FAILED - fast reply consumer does not exist",
            ch.queue_declare, "", exclusive=True)

    def test_reply_to_unknown_is_dropped(self):
        # a reply to an address that names no live consumer goes nowhere
        ch = self.channel()
        ch.confirm_delivery()
        ch.basic_publish("", REPLY_TO + ".g2dkAA-bogus", b"x")
        self.assertTrue(ch.is_open)

    def test_declare_passive(self):
        ch = self.channel()
        ok = ch.queue_declare(REPLY_TO, passive=True)
        self.assertEqual(ok.method.queue, REPLY_TO)
        self.assertEqual(ok.method.message_count, 0)
        # RabbitMQ always reports one consumer for the pseudo queue
        self.assertEqual(ok.method.consumer_count, 1)
        # a non-passive declare gets the same answer
        ok = ch.queue_declare(REPLY_TO)
        self.assertEqual((ok.method.queue, ok.method.message_count, ok.method.consumer_count),
                         (REPLY_TO, 0, 1))


if __name__ == "__main__":
    unittest.main()
