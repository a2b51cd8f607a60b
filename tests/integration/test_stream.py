"""Stream queues (x-queue-type: stream) over AMQP 0-9-1, as RabbitMQ 3.10
offers them to AMQP clients: declaration rules, consumers that read from an
offset (first, last, next, a number, a timestamp, an interval) without
removing anything, the x-stream-offset header on every delivery, prefetch
and manual acks required, basic.get / purge / nack refused, retention by
size, and the management API's view.  Every test passes against RabbitMQ
3.10.8 too, except those marked warren-only."""

import base64
import datetime
import json
import os
import time
import unittest
import urllib.request

import pika
import pika.exceptions

from helpers import BrokerTestCase, OwnBroker, uname, HOST, is_rabbitmq, mgmt_get

S = {"x-queue-type": "stream"}
MGMT_PORT = os.environ.get("MGMT_PORT")




class StreamCase(BrokerTestCase):

    def what(self, name):
        return "queue '%s' in vhost '/'" % name

    def stream(self, ch=None, n=0, **args):
        ch = ch or self.channel()
        q = self.queue(ch, durable=True, arguments=dict(S, **args))
        if n:
            ch.confirm_delivery()
            for i in range(n):
                ch.basic_publish("", q, b"m%d" % i, pika.BasicProperties(headers={"i": i}))
        return q

    def read(self, q, n, offset=None, prefetch=100, ack=True, conn=None, timeout=3):
        """Consume from q until n deliveries came (or timeout): [(method, props, body)]."""
        conn = conn or self.connect()
        ch = conn.channel()
        ch.basic_qos(prefetch_count=prefetch)
        got = []

        def on_msg(c, m, p, b):
            got.append((m, p, b))
            if ack:
                c.basic_ack(m.delivery_tag)
        args = {} if offset is None else {"x-stream-offset": offset}
        ch.basic_consume(q, on_msg, arguments=args)
        self.wait_for(lambda: len(got) >= n, timeout=timeout, conn=conn)
        conn.process_data_events(time_limit=0.2)  # anything beyond n would show now
        ch.close()
        return got

    @staticmethod
    def offsets(got):
        return [p.headers["x-stream-offset"] for _m, p, _b in got]


class DeclareTests(StreamCase):

    def test_declare_ok_counts_nothing(self):
        ch = self.channel()
        q = self.stream(ch, 3)
        ok = ch.queue_declare(q, durable=True, arguments=S)
        self.assertEqual(ok.method.message_count, 0)

    def test_properties_refused(self):
        for kw, prop in (({"durable": False}, "non-durable"),
                         ({"durable": True, "exclusive": True}, "exclusive-owner"),
                         ({"durable": True, "auto_delete": True}, "auto-delete")):
            name = uname("s")
            self.assertChannelClosed(
                406, "PRECONDITION_FAILED - invalid property '%s' for %s" % (prop, self.what(name)),
                self.channel().queue_declare, name, arguments=S, **kw)
        self.assertChannelClosed(
            406, "PRECONDITION_FAILED - Cannot declare a server-named queue for type "
                 "rabbit_stream_queue",
            self.channel().queue_declare, "", durable=True, arguments=S)

    def test_arguments_of_other_types_refused(self):
        for arg, val in (("x-message-ttl", 1000), ("x-max-length", 10), ("x-expires", 5000),
                         ("x-dead-letter-exchange", "x"), ("x-max-priority", 5),
                         ("x-overflow", "reject-publish"), ("x-single-active-consumer", True),
                         ("x-delivery-limit", 3), ("x-quorum-initial-group-size", 3)):
            name = uname("s")
            self.assertChannelClosed(
                406, "PRECONDITION_FAILED - invalid arg '%s' for %s of queue type "
                     "rabbit_stream_queue" % (arg, self.what(name)),
                self.channel().queue_declare, name, durable=True, arguments=dict(S, **{arg: val}))

    def test_stream_arguments_accepted(self):
        self.stream(**{"x-max-age": "7D", "x-max-length-bytes": 10000000,
                       "x-stream-max-segment-size-bytes": 1000000,
                       "x-initial-cluster-size": 1, "x-queue-leader-locator": "client-local"})

    def test_bad_max_age(self):
        # "m", "-1h" or "h1" make RabbitMQ 3.10 fail with 541 INTERNAL_ERROR; warren
        # answers them like these
        bads = ["30x", "1.5h", "1", "0h", "10S"]
        if not is_rabbitmq(self.connect()):
            bads += ["m", "-1h", "h1"]
        for bad in bads:
            name = uname("s")
            self.assertChannelClosed(
                406, "PRECONDITION_FAILED - invalid arg 'x-max-age' for %s: invalid_max_age"
                     % self.what(name),
                self.channel().queue_declare, name, durable=True,
                arguments=dict(S, **{"x-max-age": bad}))


class RefusedTests(StreamCase):

    def test_basic_get_refused(self):
        q = self.stream()
        self.assertConnectionClosed(
            540, "NOT_IMPLEMENTED - basic.get not supported by stream queues %s" % self.what(q),
            self.channel().basic_get, q)

    def test_purge_refused(self):
        q = self.stream()
        self.assertConnectionClosed(
            540, "NOT_IMPLEMENTED - queue.purge not supported by stream queues %s" % self.what(q),
            self.channel().queue_purge, q)

    def test_consume_needs_prefetch(self):
        q = self.stream()
        self.assertChannelClosed(
            406, "PRECONDITION_FAILED - consumer prefetch count is not set for '%s'"
                 % self.what(q),
            self.channel().basic_consume, q, lambda *a: None)
        ch = self.channel()
        ch.basic_qos(prefetch_count=10, global_qos=True)
        self.assertChannelClosed(406, None, ch.basic_consume, q, lambda *a: None)

    def test_consume_needs_manual_ack(self):
        q = self.stream()
        ch = self.channel()
        ch.basic_qos(prefetch_count=10)
        self.assertConnectionClosed(
            540, "NOT_IMPLEMENTED - automatic acknowledgement not supported by stream queues %s"
                 % self.what(q),
            ch.basic_consume, q, lambda *a: None, auto_ack=True)

    def test_nack_refused(self):
        q = self.stream(n=2)
        conn = self.connect()
        ch = conn.channel()
        ch.basic_qos(prefetch_count=10)
        got = []
        ch.basic_consume(q, lambda c, m, p, b: got.append(m),
                         arguments={"x-stream-offset": "first"})
        self.wait_for(lambda: got, conn=conn)
        with self.assertRaises(pika.exceptions.ConnectionClosedByBroker) as cm:
            ch.basic_nack(got[0].delivery_tag, requeue=True)
            conn.process_data_events(time_limit=1)
        self.assertEqual(cm.exception.reply_code, 540)
        self.assertEqual(cm.exception.reply_text,
                         "NOT_IMPLEMENTED - basic.nack and basic.reject not supported by "
                         "stream queues %s" % self.what(q))

    def test_bad_offset_fails_the_consume(self):
        """RabbitMQ answers with 541 INTERNAL_ERROR; warren with a 406 naming the argument."""
        q = self.stream()
        ch = self.channel()
        rabbit = is_rabbitmq(ch.connection)
        ch.basic_qos(prefetch_count=10)
        with self.assertRaises((pika.exceptions.ChannelClosedByBroker,
                                pika.exceptions.ConnectionClosedByBroker)) as cm:
            ch.basic_consume(q, lambda *a: None, arguments={"x-stream-offset": "yesterday"})
        if not rabbit:
            self.assertEqual(cm.exception.reply_code, 406)
            self.assertIn("x-stream-offset", cm.exception.reply_text)


class ReadTests(StreamCase):

    def test_first_reads_everything_with_offsets(self):
        q = self.stream(n=5)
        got = self.read(q, 5, "first")
        self.assertEqual([b for _m, _p, b in got], [b"m%d" % i for i in range(5)])
        self.assertEqual(self.offsets(got), [0, 1, 2, 3, 4])
        self.assertEqual([p.headers["i"] for _m, p, _b in got], [0, 1, 2, 3, 4])
        self.assertFalse(any(m.redelivered for m, _p, _b in got))

    def test_reading_removes_nothing(self):
        q = self.stream(n=4)
        self.assertEqual(self.offsets(self.read(q, 4, "first")), [0, 1, 2, 3])
        self.assertEqual(self.offsets(self.read(q, 4, "first")), [0, 1, 2, 3])

    def test_offset_specs(self):
        q = self.stream(n=5)
        self.assertEqual(self.offsets(self.read(q, 1, "last")), [4])
        self.assertEqual(self.offsets(self.read(q, 2, 3)), [3, 4])
        self.assertEqual(self.offsets(self.read(q, 5, -1)), [0, 1, 2, 3, 4])
        self.assertEqual(self.offsets(self.read(q, 5, datetime.datetime(2020, 1, 1))),
                         [0, 1, 2, 3, 4])
        self.assertEqual(self.offsets(self.read(q, 5, "1m")), [0, 1, 2, 3, 4])
        self.assertEqual(self.read(q, 1, 100, timeout=0.5), [])
        self.assertEqual(self.read(q, 1, "next", timeout=0.5), [])
        self.assertEqual(self.read(q, 1, None, timeout=0.5), [])  # default: next

    def test_next_waits_for_new_messages(self):
        q = self.stream(n=3)
        conn = self.connect()
        ch = conn.channel()
        ch.basic_qos(prefetch_count=10)
        got = []
        ch.basic_consume(q, lambda c, m, p, b: (got.append(p.headers["x-stream-offset"]),
                                                c.basic_ack(m.delivery_tag)),
                         arguments={"x-stream-offset": "next"})
        conn.process_data_events(time_limit=0.3)
        self.assertEqual(got, [])
        pub = self.channel()
        pub.confirm_delivery()
        pub.basic_publish("", q, b"new")
        self.wait_for(lambda: got, conn=conn)
        self.assertEqual(got, [3])

    def test_prefetch_bounds_unacked_deliveries(self):
        q = self.stream(n=10)
        got = self.read(q, 10, "first", prefetch=3, ack=False, timeout=1)
        self.assertEqual(self.offsets(got), [0, 1, 2])

    def test_many_consumers_each_at_its_own_offset(self):
        q = self.stream(n=20)
        conn = self.connect()
        results = {}
        chans = []
        for start in (0, 5, 10, 19):
            ch = conn.channel()
            ch.basic_qos(prefetch_count=7)
            results[start] = []
            ch.basic_consume(q, lambda c, m, p, b, s=start: (
                results[s].append(p.headers["x-stream-offset"]), c.basic_ack(m.delivery_tag)),
                arguments={"x-stream-offset": start})
            chans.append(ch)
        self.wait_for(lambda: all(len(v) == 20 - k for k, v in results.items()), conn=conn)
        for start, offs in results.items():
            self.assertEqual(offs, list(range(start, 20)))

    def test_properties_kept(self):
        q = self.stream()
        ch = self.channel()
        ch.confirm_delivery()
        ch.basic_publish("", q, b"body", pika.BasicProperties(
            content_type="text/plain", message_id="id1", delivery_mode=1, priority=3,
            correlation_id="c1", headers={"k": "v"}))
        (m, p, b), = self.read(q, 1, "first")
        self.assertEqual((p.content_type, p.message_id, p.delivery_mode, p.priority,
                          p.correlation_id), ("text/plain", "id1", 1, 3, "c1"))
        self.assertEqual(p.headers, {"k": "v", "x-stream-offset": 0})
        self.assertEqual(m.routing_key, q)

    def test_retention_by_size(self):
        q = self.stream(**{"x-max-length-bytes": 20000, "x-stream-max-segment-size-bytes": 5000})
        ch = self.channel()
        ch.confirm_delivery()
        for i in range(100):
            ch.basic_publish("", q, b"%04d" % i + b"x" * 996)
        deadline = time.monotonic() + 10
        while True:
            got = self.read(q, 1, "first", prefetch=1, ack=False, timeout=2)
            if (got and self.offsets(got)[0] > 0) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        # old segments went: at most ~25 KB are kept
        self.assertGreater(int(got[0][2][:4]), 50)
        self.assertGreater(self.offsets(got)[0], 50)
        (_m, _p, body), = self.read(q, 1, "last")
        self.assertEqual(body[:4], b"0099")

    @unittest.skipUnless(MGMT_PORT, "needs the management API")
    def test_management_view(self):
        q = self.stream(n=5)
        deadline = time.monotonic() + 10
        while True:
            info = mgmt_get("/api/queues/%2F/" + q)
            if info.get("messages") == 5 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(info["type"], "stream")
        self.assertEqual(info["messages"], 5)
        self.assertEqual(info["messages_ready"], 5)
        self.assertEqual(info["messages_unacknowledged"], 0)
        self.assertEqual(info["arguments"], S)


@unittest.skipUnless(MGMT_PORT, "needs the management API")
class DefinitionsTests(StreamCase):

    def test_types_import_and_export(self):
        qq, ss = uname("qq"), uname("s")
        self.track_queue(qq)
        self.track_queue(ss)
        defs = {"queues": [
            {"name": qq, "vhost": "/", "durable": True, "auto_delete": False,
             "arguments": {"x-queue-type": "quorum", "x-delivery-limit": 3}},
            {"name": ss, "vhost": "/", "durable": True, "auto_delete": False,
             "arguments": {"x-queue-type": "stream", "x-max-age": "1D"}}]}
        req = urllib.request.Request("http://%s:%s/api/definitions" % (HOST, MGMT_PORT),
                                     data=json.dumps(defs).encode(), method="POST")
        req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertIn(r.status, (200, 204))
        self.assertEqual(mgmt_get("/api/queues/%2F/" + qq)["type"], "quorum")
        self.assertEqual(mgmt_get("/api/queues/%2F/" + ss)["type"], "stream")
        out = {q["name"]: q for q in mgmt_get("/api/definitions")["queues"]}
        self.assertEqual(out[qq]["arguments"], {"x-queue-type": "quorum", "x-delivery-limit": 3})
        self.assertEqual(out[ss]["arguments"], {"x-queue-type": "stream", "x-max-age": "1D"})
        # and they behave as their type
        ch = self.channel()
        self.assertConnectionClosed(
            540, "NOT_IMPLEMENTED - basic.get not supported by stream queues %s" % self.what(ss),
            ch.basic_get, ss)


class RestartTests(StreamCase):
    """warren-only here: a stream survives kill -9 and readers start where they asked."""

    def test_stream_survives_kill(self):
        own = OwnBroker(self)
        ch = own.connect().channel()
        ch.queue_declare("s-kill", durable=True, arguments=S)
        ch.confirm_delivery()
        for i in range(50):
            ch.basic_publish("", "s-kill", b"%d" % i, pika.BasicProperties(delivery_mode=1))
        own.proc.kill()
        own.proc.wait(10)
        own2 = OwnBroker(self, data_dir=own.data_dir)
        conn = own2.connect()
        got = self.read("s-kill", 50, "first", conn=conn)
        self.assertEqual([b for _m, _p, b in got], [b"%d" % i for i in range(50)])
        ch = conn.channel()
        ch.confirm_delivery()
        ch.basic_publish("", "s-kill", b"after")
        got = self.read("s-kill", 1, "last", conn=conn)
        self.assertEqual(self.offsets(got), [50])


if __name__ == "__main__":
    unittest.main()
