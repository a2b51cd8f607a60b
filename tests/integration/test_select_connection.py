"""pika's asynchronous SelectConnection: a publish / consume / ack round trip
with publisher confirms, driven entirely by callbacks."""

import unittest

import pika

from helpers import BrokerTestCase, params, uname


class SelectConnectionTests(BrokerTestCase):

    N = 50

    def test_async_round_trip_with_confirms(self):
        q = uname("q")
        self.track_queue(q)
        state = {"acks": [], "nacks": [], "got": [], "error": None, "closed": None,
                 "consumer_tag": None}

        def fail(msg):
            state["error"] = msg
            conn.close()

        def on_open(connection):
            connection.channel(on_open_callback=on_channel)

        def on_channel(ch):
            state["ch"] = ch
            ch.add_on_close_callback(lambda c, reason: state.update(closed=reason))
            ch.confirm_delivery(on_confirm)
            ch.queue_declare(q, callback=on_declared)

        def on_declared(frame):
            if frame.method.queue != q:
                return fail("declare-ok named %r" % frame.method.queue)
            ch = state["ch"]
            ch.basic_qos(prefetch_count=10, callback=lambda f: on_qos(ch))

        def on_qos(ch):
            state["consumer_tag"] = ch.basic_consume(q, on_message)
            for i in range(self.N):
                ch.basic_publish("", q, b"m%d" % i,
                                 pika.BasicProperties(message_id=str(i), delivery_mode=2))

        def on_confirm(frame):
            name = frame.method.NAME
            tag, multiple = frame.method.delivery_tag, frame.method.multiple
            target = state["acks"] if name == "Basic.Ack" else state["nacks"]
            last = max(state["acks"] + state["nacks"] + [0])
            target.extend(range(last + 1, tag + 1) if multiple else [tag])
            maybe_done()

        def on_message(ch, method, props, body):
            state["got"].append((props.message_id, body))
            ch.basic_ack(method.delivery_tag)
            maybe_done()

        def maybe_done():
            if len(state["got"]) == self.N and len(state["acks"]) + len(state["nacks"]) == self.N:
                ch = state["ch"]
                ch.basic_cancel(state["consumer_tag"],
                                callback=lambda f: ch.queue_delete(q, callback=lambda f2: conn.close()))

        conn = pika.SelectConnection(params(), on_open_callback=on_open,
                                     on_open_error_callback=lambda c, e: fail(repr(e)),
                                     on_close_callback=lambda c, r: c.ioloop.stop())
        conn.ioloop.call_later(15, lambda: fail("timed out"))
        conn.ioloop.start()

        self.assertIsNone(state["error"])
        self.assertEqual(sorted(state["acks"]), list(range(1, self.N + 1)))
        self.assertEqual(state["nacks"], [])
        self.assertEqual(state["got"], [(str(i), b"m%d" % i) for i in range(self.N)])

    def test_async_channel_error(self):
        state = {}
        missing = uname("missing")

        def on_open(connection):
            connection.channel(on_open_callback=on_channel)

        def on_channel(ch):
            ch.add_on_close_callback(on_channel_closed)
            ch.queue_declare(missing, passive=True)

        def on_channel_closed(ch, reason):
            state["reason"] = reason
            conn.close()

        conn = pika.SelectConnection(params(), on_open_callback=on_open,
                                     on_close_callback=lambda c, r: c.ioloop.stop())
        conn.ioloop.call_later(10, conn.close)
        conn.ioloop.start()
        reason = state["reason"]
        self.assertEqual(reason.reply_code, 404)
        self.assertEqual(reason.reply_text, "NOT_FOUND - no queue '%s' in vhost '/'" % missing)


if __name__ == "__main__":
    unittest.main()
