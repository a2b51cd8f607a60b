"""Message content: every basic property, header tables with every field
type, large bodies over several frames, many messages in order."""

import datetime
import decimal
import struct
import time
import unittest

import pika

from helpers import BrokerTestCase, uname, HOST, PORT, USER
import amqpframe as af


class PropertiesTests(BrokerTestCase):

    def test_all_properties_roundtrip(self):
        ch = self.channel()
        q = self.queue(ch, exclusive=True)
        props = pika.BasicProperties(
            content_type="application/json", content_encoding="gzip",
            headers={"h": "v"}, delivery_mode=2, priority=7, correlation_id="corr-1",
            reply_to="reply-q", expiration="60000", message_id="msg-1",
            timestamp=1700000000, type="my.type", user_id=USER, app_id="tests",
            cluster_id="cluster-x")
        ch.basic_publish("", q, b"{}", props)
        _m, p, b = self.drain(ch, q, 1)[0]
        for attr in ("content_type", "content_encoding", "headers", "delivery_mode",
                     "priority", "correlation_id", "reply_to", "expiration", "message_id",
                     "timestamp", "type", "user_id", "app_id", "cluster_id"):
            self.assertEqual(getattr(p, attr), getattr(props, attr), attr)
        self.assertEqual(b, b"{}")

    def test_no_properties(self):
        ch = self.channel()
        q = self.queue(ch, exclusive=True)
        ch.basic_publish("", q, b"bare")
        _m, p, _b = self.drain(ch, q, 1)[0]
        for attr in ("content_type", "headers", "delivery_mode", "priority", "message_id",
                     "timestamp", "user_id"):
            self.assertIsNone(getattr(p, attr), attr)

    def test_wrong_user_id_refused(self):
        ch = self.channel()
        q = self.queue(ch, exclusive=True)
        ch.basic_publish("", q, b"x", pika.BasicProperties(user_id="mallory"))
        self.assertChannelClosed(
            406, "PRECONDITION_FAILED - user_id property set to 'mallory' but authenticated "
                 "user was '%s'" % USER,
            ch.queue_declare, "", exclusive=True)

    def test_headers_every_pika_type(self):
        ch = self.channel()
        q = self.queue(ch, exclusive=True)
        headers = {
            "str": "text \u00e9\u4e2d",
            "bytes": b"\x00\x01binary\xff",
            "true": True,
            "false": False,
            "int": 42,
            "negative": -7,
            "big": 2 ** 40,
            "decimal": decimal.Decimal("3.14"),
            "timestamp": datetime.datetime(2024, 1, 2, 3, 4, 5),
            "void": None,
            "empty_str": "",
            "empty_table": {},
            "empty_array": [],
            "nested": {"level2": {"level3": {"deep": "yes", "n": 1}},
                       "list": [1, "two", {"three": 3}, [4, [5]], None, True]},
            "array": ["a", 1, False, {"k": "v"}, b"x"],
        }
        ch.basic_publish("", q, b"x", pika.BasicProperties(headers=headers))
        _m, p, _b = self.drain(ch, q, 1)[0]
        got = p.headers
        # pika decodes S as str and x as bytes; T as datetime
        self.assertEqual(got["str"], headers["str"])
        self.assertEqual(got["bytes"], headers["bytes"])
        self.assertIs(got["true"], True)
        self.assertIs(got["false"], False)
        self.assertEqual(got["int"], 42)
        self.assertEqual(got["negative"], -7)
        self.assertEqual(got["big"], 2 ** 40)
        self.assertEqual(got["decimal"], decimal.Decimal("3.14"))
        self.assertEqual(got["timestamp"], datetime.datetime(2024, 1, 2, 3, 4, 5))
        self.assertIsNone(got["void"])
        self.assertIn("void", got)
        self.assertEqual(got["empty_str"], "")
        self.assertEqual(got["empty_table"], {})
        self.assertEqual(got["empty_array"], [])
        self.assertEqual(got["nested"], {"level2": {"level3": {"deep": "yes", "n": 1}},
                                         "list": [1, "two", {"three": 3}, [4, [5]], None,
                                                  True]})
        self.assertEqual(got["array"], ["a", 1, False, {"k": "v"}, b"x"])

    def test_raw_field_types_byte_exact(self):
        # every field type RabbitMQ's table codec knows, sent as raw bytes;
        # the content header must come back unchanged, byte for byte
        def fv(tag, fmt, v):
            return tag + struct.pack(fmt, v)
        fields = [
            (b"t", fv(b"t", "B", 1)),
            (b"b", fv(b"b", "b", -5)),
            (b"B", fv(b"B", "B", 250)),
            (b"s", fv(b"s", ">h", -300)),
            (b"u", fv(b"u", ">H", 60000)),
            (b"I", fv(b"I", ">i", -70000)),
            (b"i", fv(b"i", ">I", 4000000000)),
            (b"l", fv(b"l", ">q", -2 ** 40)),
            (b"f", fv(b"f", ">f", 1.5)),
            (b"d", fv(b"d", ">d", -2.25)),
            (b"D", b"D" + struct.pack(">Bi", 2, 314)),
            (b"S", b"S" + af.longstr("long string")),
            (b"x", b"x" + af.longstr(b"\x00\xff")),
            (b"A", b"A" + struct.pack(">I", 8) + b"I" + struct.pack(">i", 1) + b"V" + b"t\x00"),
            (b"T", fv(b"T", ">Q", 1700000000)),
            (b"F", b"F" + af.table({"k": "v"})),
            (b"V", b"V"),
        ]
        tbl = b"".join(af.shortstr("k_" + chr(t[0])) + v for t, v in fields)
        props = struct.pack(">I", len(tbl)) + tbl
        flags = 0x2000  # headers only
        r = af.RawConnection(HOST, PORT)
        self.addCleanup(r.close)
        r.handshake()
        r.open_channel(1)
        r.send(af.method(1, "queue.declare", 0, "", False, False, True, True, False, {}))
        q = r.expect("queue.declare-ok").args[0]
        r.send(af.publish(1, "", q, b"body", props=props, flags=flags))
        for _ in range(100):
            r.send(af.method(1, "basic.get", 0, q, True))
            f = r.read_frame()
            if f.name == "basic.get-ok":
                break
            time.sleep(0.01)
        h = r.read_frame()
        self.assertEqual(h.type, af.FRAME_HEADER)
        self.assertEqual(h.payload[12:14], struct.pack(">H", flags))
        self.assertEqual(h.payload[14:], props)
        self.assertEqual(r.read_frame().payload, b"body")
        decoded = af.Reader(props).table()
        self.assertEqual(decoded["k_i"], 4000000000)
        self.assertEqual(decoded["k_A"], [1, None, False])


class LargeMessageTests(BrokerTestCase):

    def roundtrip(self, size, frame_max):
        c = self.connect(frame_max=frame_max)
        self.assertEqual(c._impl.params.frame_max, frame_max)
        ch = c.channel()
        q = self.queue(ch, exclusive=True)
        data = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
        ch.confirm_delivery()
        ch.basic_publish("", q, data)
        got = []
        ch.basic_consume(q, lambda c_, m, p, b: got.append(b), auto_ack=True)
        self.assertTrue(self.wait_for(lambda: got, conn=c, timeout=20))
        self.assertEqual(len(got[0]), size)
        self.assertEqual(got[0], data)

    def test_1mib_frame_max_4096(self):
        self.roundtrip(1 << 20, 4096)

    def test_1mib_frame_max_131072(self):
        self.roundtrip(1 << 20, 131072)

    def test_body_exactly_one_frame(self):
        self.roundtrip(4096 - 8, 4096)

    def test_body_one_byte_over_frame(self):
        self.roundtrip(4096 - 7, 4096)

    def test_raw_delivery_frames_respect_frame_max(self):
        r = af.RawConnection(HOST, PORT)
        self.addCleanup(r.close)
        r.handshake(frame_max=4096)
        r.open_channel(1)
        r.send(af.method(1, "queue.declare", 0, "", False, False, True, True, False, {}))
        q = r.expect("queue.declare-ok").args[0]
        data = b"abcdefgh" * 2000   # 16000 bytes
        r.send(af.publish(1, "", q, data, frame_max=4096))
        r.send(af.method(1, "basic.consume", 0, q, "c", True, True, False, False, {}))
        r.expect("basic.consume-ok")
        r.expect("basic.deliver")
        h = r.read_frame()
        self.assertEqual(struct.unpack(">Q", h.payload[4:12])[0], 16000)
        sizes = []
        while sum(sizes) < 16000:
            f = r.read_frame()
            self.assertEqual(f.type, af.FRAME_BODY)
            sizes.append(len(f.payload))
        self.assertEqual(sizes, [4088, 4088, 4088, 3736])


class ManyMessagesTests(BrokerTestCase):

    def test_10k_in_order(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch, exclusive=True)
        n = 10000
        for i in range(n):
            ch.basic_publish("", q, b"%d" % i)
        got = []
        ch.basic_qos(prefetch_count=500)

        def on_msg(ch_, m, p, b):
            got.append(int(b))
            if len(got) % 100 == 0:
                ch_.basic_ack(m.delivery_tag, multiple=True)
        ch.basic_consume(q, on_msg)
        self.assertTrue(self.wait_for(lambda: len(got) == n, conn=c, timeout=25))
        self.assertEqual(got, list(range(n)))

    def test_10k_confirmed_counts(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch, exclusive=True)
        ch.confirm_delivery()
        for i in range(2000):
            ch.basic_publish("", q, b"x" * 100)
        self.assertMessageCount(ch, q, 2000)
        self.assertEqual(ch.queue_purge(q).method.message_count, 2000)


if __name__ == "__main__":
    unittest.main()
