"""Connection level, through pika's BlockingConnection: handshake, server
properties, authentication, vhosts, tuning, channel limits."""

import unittest

import pika
import pika.exceptions

from helpers import (BrokerTestCase, params, uname, closed_by_broker, USER, PASSWORD,
                     HOST, PORT)


class ConnectionTests(BrokerTestCase):

    def test_handshake_and_close(self):
        c = self.connect()
        self.assertTrue(c.is_open)
        ch = c.channel()
        self.assertTrue(ch.is_open)
        ch.close()
        self.assertTrue(ch.is_closed)
        c.close()
        self.assertTrue(c.is_closed)

    def test_server_properties(self):
        c = self.connect()
        props = c._impl.server_properties
        for key in ("product", "version", "platform", "copyright", "information",
                    "capabilities"):
            self.assertIn(key, props)
        self.assertIsInstance(props["product"], (bytes, str))

    def test_server_capabilities(self):
        c = self.connect()
        caps = c._impl.server_capabilities
        for cap in ("publisher_confirms", "exchange_exchange_bindings", "basic.nack",
                    "consumer_cancel_notify", "connection.blocked",
                    "authentication_failure_close", "per_consumer_qos",
                    "direct_reply_to"):
            self.assertIs(caps.get(cap), True, cap)
        self.assertTrue(c.basic_nack_supported)
        self.assertTrue(c.consumer_cancel_notify_supported)
        self.assertTrue(c.exchange_exchange_bindings_supported)
        self.assertTrue(c.publisher_confirms_supported)

    def test_wrong_password(self):
        p = params(credentials=pika.PlainCredentials(USER, "wrong-" + PASSWORD))
        with self.assertRaises(pika.exceptions.ProbableAuthenticationError) as cm:
            pika.BlockingConnection(p)
        self.assertEqual(
            closed_by_broker(cm.exception),
            (403, "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. "
                  "For details see the broker logfile."))

    def test_unknown_user(self):
        p = params(credentials=pika.PlainCredentials(uname("nobody"), "x"))
        with self.assertRaises(pika.exceptions.ProbableAuthenticationError) as cm:
            pika.BlockingConnection(p)
        self.assertEqual(closed_by_broker(cm.exception)[0], 403)

    def test_unknown_vhost(self):
        vhost = uname("vhost")
        # pika reports a close during connection.open as "probable access denied"
        with self.assertRaises(pika.exceptions.ProbableAccessDeniedError) as cm:
            pika.BlockingConnection(params(virtual_host=vhost))
        self.assertEqual(closed_by_broker(cm.exception),
                         (530, "NOT_ALLOWED - vhost %s not found" % vhost))

    def test_default_tuning(self):
        # the client asks for no limit (0): it gets the server's values
        c = self.connect(channel_max=65535, frame_max=131072)
        self.assertEqual(c._impl.params.channel_max, 2047)
        self.assertEqual(c._impl.params.frame_max, 131072)

    def test_negotiate_smaller(self):
        c = self.connect(channel_max=10, frame_max=8192, heartbeat=7)
        self.assertEqual(c._impl.params.channel_max, 10)
        self.assertEqual(c._impl.params.frame_max, 8192)
        self.assertEqual(c._impl.params.heartbeat, 7)
        ch = c.channel()
        q = self.queue(ch, exclusive=True)
        ch.basic_publish("", q, b"x" * 20000)
        m, _p, body = self.drain(ch, q, 1)[0]
        self.assertEqual(len(body), 20000)

    def test_heartbeat_server_value(self):
        # pika's default heartbeat callback takes the server's proposal
        c = pika.BlockingConnection(pika.ConnectionParameters(
            host=HOST, port=PORT, socket_timeout=5, connection_attempts=1,
            credentials=pika.PlainCredentials(USER, PASSWORD)))
        self._conns.append(c)
        self.assertEqual(c._impl.params.heartbeat, 60)

    def test_channel_max_exceeded(self):
        c = self.connect(channel_max=3)
        chans = [c.channel() for _ in range(3)]
        self.assertEqual(sorted(ch.channel_number for ch in chans), [1, 2, 3])
        # pika refuses to go past channel_max itself, so ask for number 4
        # explicitly: pika sends channel.open on 4 and the broker refuses.
        with self.assertRaises(pika.exceptions.ConnectionClosedByBroker) as cm:
            c._impl._next_channel_number = lambda: 4
            c.channel(4)
        self.assertEqual(cm.exception.reply_code, 530)
        self.assertEqual(
            cm.exception.reply_text,
            "NOT_ALLOWED - number of channels opened (3) has reached the negotiated "
            "channel_max (3)")

    def test_many_channels(self):
        c = self.connect()
        chans = [c.channel() for _ in range(50)]
        q = self.queue(chans[0], exclusive=True)
        for i, ch in enumerate(chans):
            ch.basic_publish("", q, str(i).encode())
        # channels are independent: no order is promised across them
        got = [b for _m, _p, b in self.drain(chans[-1], q, 50)]
        self.assertEqual(sorted(got), sorted(str(i).encode() for i in range(50)))
        for ch in chans[::2]:
            ch.close()
        for ch in chans[1::2]:
            self.assertTrue(ch.is_open)
            ch.queue_declare(q, passive=True)

    def test_channel_reuse_after_close(self):
        c = self.connect()
        ch = c.channel(5)
        ch.close()
        ch2 = c.channel(5)
        self.assertTrue(ch2.is_open)
        ch2.queue_declare("", exclusive=True)

    def test_channel_error_keeps_other_channels(self):
        c = self.connect()
        good = c.channel()
        bad = c.channel()
        q = self.queue(good, exclusive=True)
        missing = uname("missing")
        self.assertChannelClosed(
            404, "NOT_FOUND - no queue '%s' in vhost '/'" % missing,
            bad.queue_declare, missing, passive=True)
        self.assertTrue(bad.is_closed)
        self.assertTrue(good.is_open)
        self.assertTrue(c.is_open)
        good.basic_publish("", q, b"still here")
        self.assertEqual(self.drain(good, q, 1)[0][2], b"still here")
        # a fresh channel on the same connection works too
        again = c.channel()
        again.queue_declare(q, passive=True)

    def test_close_connection_with_open_channels(self):
        c = self.connect()
        for _ in range(5):
            c.channel()
        c.close()
        self.assertTrue(c.is_closed)

    def test_connection_blocked_callback_registration(self):
        # the broker is not in alarm: a publish goes through unblocked
        c = self.connect()
        blocked = []
        c.add_on_connection_blocked_callback(lambda *a: blocked.append(a))
        ch = c.channel()
        q = self.queue(ch, exclusive=True)
        ch.basic_publish("", q, b"x")
        c.process_data_events(time_limit=0.1)
        self.assertEqual(blocked, [])


if __name__ == "__main__":
    unittest.main()
