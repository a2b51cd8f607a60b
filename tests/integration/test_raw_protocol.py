"""Hand-encoded frames over a plain socket: the protocol header, malformed
frames, frames out of order, heartbeats, and the handshake's failures.
Codes and texts are RabbitMQ 3.10.8's."""

import socket
import struct
import time
import unittest

from helpers import BrokerTestCase, uname, HOST, PORT
import amqpframe as af
from amqpframe import method, frame, content_header, body, RawConnection


class RawTestCase(BrokerTestCase):

    def raw(self, timeout=5.0):
        r = RawConnection(HOST, PORT, timeout=timeout)
        self.addCleanup(r.close)
        return r

    def ready(self, **kw):
        """A connection past the handshake with channel 1 open."""
        r = self.raw()
        r.handshake(**kw)
        r.open_channel(1)
        return r

    def assertBetterThanInternalError(self, r):
        """RabbitMQ answers a malformed property list with 541 INTERNAL_ERROR;
        warren names the problem: 502 SYNTAX_ERROR on basic.publish.  Either
        way the connection is closed with a connection.close."""
        f = r.read_close()
        self.assertIsNotNone(f, "no connection.close arrived")
        self.assertEqual((f.name, f.channel), ("connection.close", 0), f)
        self.assertIn(f.args, ([541, "INTERNAL_ERROR", 0, 0],
                               [502, "SYNTAX_ERROR - malformed content header properties", 60, 40]))
        r.send(method(0, "connection.close-ok"))
        self.assertTrue(r.is_closed(3), "socket still open after close-ok")

    def assertConnClose(self, r, code, text, class_id=0, method_id=0, eof_after_close_ok=None):
        f = r.read_close()
        self.assertIsNotNone(f, "no connection.close arrived")
        self.assertEqual((f.name, f.channel), ("connection.close", 0), f)
        self.assertEqual(f.args, [code, text, class_id, method_id])
        if eof_after_close_ok is None:
            # after a FRAME_ERROR RabbitMQ's frame parser is out of step and
            # may never see the close-ok; otherwise close-ok ends it at once
            eof_after_close_ok = code != 501
        if eof_after_close_ok:
            # after our close-ok the broker closes the socket
            r.send(method(0, "connection.close-ok"))
            self.assertTrue(r.is_closed(3), "socket still open after close-ok")
        return f

    def assertClosedWithoutFrame(self, r, timeout=6):
        # RabbitMQ waits 3 s (its SILENT_CLOSE_DELAY) before such a close
        frames = r.read_until_closed(timeout)
        self.assertEqual(frames, [], "expected the socket to close without a frame")

    def assertBrokerAlive(self):
        r = self.raw()
        r.handshake()
        r.open_channel(1)


class ProtocolHeaderTests(RawTestCase):

    def check_refused_header(self, header):
        r = self.raw()
        r.send(header)
        self.assertEqual(r.recv_exact(8), af.PROTOCOL_HEADER)
        self.assertTrue(r.is_closed(3))

    def test_header_0_9_0(self):
        self.check_refused_header(b"AMQP\x00\x00\x09\x00")

    def test_header_1_0_0(self):
        self.check_refused_header(b"AMQP\x00\x01\x00\x00")

    def test_header_http(self):
        self.check_refused_header(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")

    def test_header_http_short(self):
        self.check_refused_header(b"HTTP/1.1")

    def test_connection_start(self):
        r = self.raw()
        f = r.start()
        self.assertEqual(f.channel, 0)
        major, minor, props, mechanisms, locales = f.args
        self.assertEqual((major, minor), (0, 9))
        self.assertEqual(set(mechanisms.split()), {b"PLAIN", b"AMQPLAIN"})
        self.assertIn(b"en_US", locales.split())
        caps = props["capabilities"]
        for cap in ("publisher_confirms", "exchange_exchange_bindings", "basic.nack",
                    "consumer_cancel_notify", "connection.blocked",
                    "authentication_failure_close", "per_consumer_qos", "direct_reply_to"):
            self.assertIs(caps.get(cap), True, cap)
        for key in ("product", "version", "platform", "copyright", "information"):
            self.assertIn(key, props)

    def test_connection_tune_defaults(self):
        r = self.raw()
        r.start()
        r.start_ok()
        tune = r.expect("connection.tune")
        self.assertEqual(tune.args, [2047, 131072, 60])

    def test_handshake_timeout(self):
        # a client that sends nothing at all is dropped after 10 s
        r = self.raw()
        t = time.monotonic()
        self.assertTrue(r.is_closed(14))
        self.assertGreater(time.monotonic() - t, 8)


class AuthTests(RawTestCase):

    REFUSED = ("ACCESS_REFUSED - Login was refused using authentication mechanism %s. "
               "For details see the broker logfile.")

    def test_plain_ok(self):
        r = self.raw()
        r.start()
        r.start_ok()
        r.expect("connection.tune")

    def test_amqplain_ok(self):
        r = self.raw()
        r.start()
        resp = af.table({"LOGIN": "guest", "PASSWORD": "guest"})[4:]
        r.start_ok(mechanism="AMQPLAIN", response=resp)
        tune = r.expect("connection.tune")
        r.send(method(0, "connection.tune-ok", *tune.args))
        r.send(method(0, "connection.open", "/", "", False))
        r.expect("connection.open-ok")

    def test_amqplain_wrong_password(self):
        r = self.raw()
        r.start()
        resp = af.table({"LOGIN": "guest", "PASSWORD": "wrong"})[4:]
        r.start_ok(mechanism="AMQPLAIN", response=resp)
        f = r.read_close()
        self.assertEqual(f.args, [403, self.REFUSED % "AMQPLAIN", 0, 0])

    def test_plain_wrong_password_with_capability(self):
        r = self.raw()
        r.start()
        r.start_ok(password="wrong")
        f = r.read_close()
        self.assertEqual(f.args, [403, self.REFUSED % "PLAIN", 0, 0])
        # RabbitMQ closes the socket ~3 s later (its silent-close delay)
        self.assertTrue(r.is_closed(6))

    def test_plain_unknown_user(self):
        r = self.raw()
        r.start()
        r.start_ok(user=uname("nobody"), password="x")
        f = r.read_close()
        self.assertEqual(f.args, [403, self.REFUSED % "PLAIN", 0, 0])

    def test_wrong_password_without_capability(self):
        # no authentication_failure_close: the socket is just closed
        r = self.raw()
        r.start()
        r.start_ok(password="wrong", capabilities={})
        self.assertClosedWithoutFrame(r)

    def test_unknown_mechanism(self):
        r = self.raw()
        r.start()
        r.start_ok(mechanism="CRAM-MD5")
        self.assertClosedWithoutFrame(r)

    def test_malformed_plain_response(self):
        r = self.raw()
        r.start()
        r.start_ok(response=b"no-nul-bytes")
        self.assertClosedWithoutFrame(r)

    def test_unknown_vhost(self):
        r = self.raw()
        r.start()
        r.start_ok()
        tune = r.expect("connection.tune")
        r.send(method(0, "connection.tune-ok", *tune.args))
        vhost = uname("vh")
        r.send(method(0, "connection.open", vhost, "", False))
        self.assertConnClose(r, 530, "NOT_ALLOWED - vhost %s not found" % vhost, 10, 40)

    def test_open_before_start_ok(self):
        r = self.raw()
        r.start()
        r.send(method(0, "connection.open", "/", "", False))
        self.assertClosedWithoutFrame(r)

    def test_update_secret(self):
        r = self.raw()
        r.handshake()
        r.send(method(0, "connection.update-secret", b"guest", "rotation"))
        r.expect("connection.update-secret-ok")
        r.open_channel(1)


class FrameErrorTests(RawTestCase):

    def test_bad_frame_end(self):
        r = self.raw()
        r.handshake()
        r.send(frame(1, 0, struct.pack(">HH", 20, 10) + b"\x00", end=0x00))
        self.assertConnClose(
            r, 501, "FRAME_ERROR - type 1, all octets = <<0,20,0,10,0>>: "
                    "{invalid_frame_end_marker,0}")

    def test_body_frame_too_large(self):
        r = self.ready(frame_max=4096)
        r.send(method(1, "basic.publish", 0, "", "q", False, False))
        r.send(content_header(1, 10000))
        r.send(body(1, b"x" * 5000))
        # (RabbitMQ goes on parsing the rest of the oversized frame as frames,
        # so it may not see our close-ok: don't insist on the socket closing)
        self.assertConnClose(
            r, 501, "FRAME_ERROR - type 3, all octets = <<>>: {frame_too_large,5000,4088}",
            eof_after_close_ok=False)

    def test_method_frame_too_large(self):
        r = self.raw()
        r.handshake(frame_max=4096)
        r.send(method(0, "connection.update-secret", b"x" * 5000, "r"))
        self.assertConnClose(
            r, 501, "FRAME_ERROR - type 1, all octets = <<>>: {frame_too_large,5010,4088}",
            eof_after_close_ok=False)

    def test_frame_exactly_frame_max_ok(self):
        r = self.ready(frame_max=4096)
        r.send(method(1, "queue.declare", 0, "", False, False, True, True, False, {}))
        q = r.expect("queue.declare-ok").args[0]
        r.send(method(1, "basic.publish", 0, "", q, False, False))
        r.send(content_header(1, 4088))
        r.send(body(1, b"y" * 4088))          # 4088 + 8 = 4096 bytes on the wire
        r.send(method(1, "queue.declare", 0, q, True, False, False, False, False, {}))
        self.assertEqual(r.expect("queue.declare-ok").args[0], q)

    def test_truncated_method_arguments(self):
        r = self.ready()
        p = af.method_payload("queue.declare", 0, "abcdef", False, False, False, True, False, {})
        r.send(frame(1, 1, p[:9]))
        self.assertConnClose(r, 501, "FRAME_ERROR - cannot decode <<0,0,6,97,98>>", 50, 10)

    def test_truncated_method_id(self):
        r = self.ready()
        r.send(frame(1, 1, b"\x00\x32"))
        self.assertConnClose(r, 501, "FRAME_ERROR - type 1, all octets = <<0,50>>: unknown_frame")

    def test_unknown_frame_type(self):
        r = self.raw()
        r.handshake()
        r.send(frame(7, 0, b"abc"))
        self.assertConnClose(r, 501, 'FRAME_ERROR - type 7, all octets = <<"abc">>: unknown_frame')

    def test_heartbeat_with_payload(self):
        r = self.raw()
        r.handshake()
        r.send(frame(8, 0, b"xx"))
        self.assertConnClose(r, 501, 'FRAME_ERROR - type 8, all octets = <<"xx">>: unknown_frame')

    def test_heartbeat_on_channel(self):
        r = self.raw()
        r.handshake()
        r.send(frame(8, 1, b""))
        self.assertConnClose(r, 505, "UNEXPECTED_FRAME - type 8, all octets = <<>>")

    def test_unknown_method_id(self):
        # RabbitMQ's connection process crashes on an unknown method id and
        # drops the socket without a frame; a connection.close 540/503 first
        # is tolerated.  Either way the broker keeps serving others.
        r = self.ready()
        r.send(frame(1, 1, struct.pack(">HH", 60, 999)))
        frames = r.read_until_closed(5)
        self.assertNotEqual(frames[-1:], ["timeout"], "socket not closed")
        for f in frames:
            self.assertEqual(f.name, "connection.close")
            self.assertIn(f.args[0], (540, 503))
        self.assertBrokerAlive()

    def test_unknown_class_id(self):
        r = self.ready()
        r.send(frame(1, 1, struct.pack(">HH", 99, 10)))
        frames = r.read_until_closed(5)
        self.assertNotEqual(frames[-1:], ["timeout"], "socket not closed")
        for f in frames:
            self.assertEqual(f.name, "connection.close")
            self.assertIn(f.args[0], (540, 503))
        self.assertBrokerAlive()

    def test_malformed_table_in_content_header(self):
        r = self.ready()
        tbl = af.shortstr("k") + b"Z" + b"abc"         # 'Z' is no field type
        props = struct.pack(">I", len(tbl)) + tbl
        r.send(af.publish(1, "", "q", b"body", props=props, flags=0x2000))
        self.assertBetterThanInternalError(r)

    def test_truncated_content_properties(self):
        r = self.ready()
        r.send(method(1, "basic.publish", 0, "", "q", False, False))
        r.send(content_header(1, 3, flags=0x8000, props=b""))   # content-type missing
        r.send(body(1, b"abc"))
        self.assertBetterThanInternalError(r)


class FrameOrderTests(RawTestCase):

    def test_content_header_without_publish(self):
        r = self.ready()
        r.send(content_header(1, 5))
        self.assertConnClose(
            r, 505, "UNEXPECTED_FRAME - expected method frame, got non method frame instead")

    def test_body_without_publish(self):
        r = self.ready()
        r.send(body(1, b"abc"))
        self.assertConnClose(
            r, 505, "UNEXPECTED_FRAME - expected method frame, got non method frame instead")

    def test_method_instead_of_content_header(self):
        r = self.ready()
        r.send(method(1, "basic.publish", 0, "", "q", False, False))
        r.send(method(1, "basic.qos", 0, 1, False))
        self.assertConnClose(
            r, 505, "UNEXPECTED_FRAME - expected content header for class 60, got non content "
                    "header frame instead", 60, 40)

    def test_body_instead_of_content_header(self):
        r = self.ready()
        r.send(method(1, "basic.publish", 0, "", "q", False, False))
        r.send(body(1, b"abc"))
        self.assertConnClose(
            r, 505, "UNEXPECTED_FRAME - expected content header for class 60, got non content "
                    "header frame instead", 60, 40)

    def test_content_header_wrong_class(self):
        r = self.ready()
        r.send(method(1, "basic.publish", 0, "", "q", False, False))
        r.send(content_header(1, 3, class_id=50))
        self.assertConnClose(
            r, 505, "UNEXPECTED_FRAME - expected content header for class 60, got one for "
                    "class 50 instead", 60, 40)

    def test_zero_length_body_needs_no_body_frame(self):
        r = self.ready()
        r.send(method(1, "queue.declare", 0, "", False, False, True, True, False, {}))
        q = r.expect("queue.declare-ok").args[0]
        r.send(method(1, "basic.publish", 0, "", q, False, False))
        r.send(content_header(1, 0))
        for _ in range(100):
            r.send(method(1, "basic.get", 0, q, True))
            f = r.read_frame()
            if f.name == "basic.get-ok":
                break
            time.sleep(0.01)
        self.assertEqual(f.name, "basic.get-ok")
        cls, size, _flags, data = r.read_content()
        self.assertEqual((cls, size, data), (60, 0, b""))
        # no body frame follows: the next frame answers the next method
        r.send(method(1, "basic.qos", 0, 1, False))
        self.assertEqual(r.read_frame().name, "basic.qos-ok")

    def test_method_on_unopened_channel(self):
        r = self.raw()
        r.handshake()
        r.send(method(3, "basic.qos", 0, 1, False))
        self.assertConnClose(r, 504, "CHANNEL_ERROR - expected 'channel.open'", 60, 10)

    def test_content_on_unopened_channel(self):
        r = self.raw()
        r.handshake()
        r.send(content_header(3, 5))
        self.assertConnClose(
            r, 505, "UNEXPECTED_FRAME - expected method frame, got non method frame instead")

    def test_connection_method_on_channel(self):
        r = self.raw()
        r.handshake()
        r.send(method(1, "connection.open", "/", "", False))
        self.assertConnClose(r, 504, "CHANNEL_ERROR - expected 'channel.open'", 10, 40)

    def test_channel_open_twice(self):
        r = self.ready()
        r.send(method(1, "channel.open", ""))
        self.assertConnClose(r, 504, "CHANNEL_ERROR - second 'channel.open' seen", 20, 10)

    def test_channel_method_on_channel_zero(self):
        r = self.raw()
        r.handshake()
        r.send(method(0, "channel.open", ""))
        self.assertConnClose(
            r, 504, "CHANNEL_ERROR - unexpected method in connection state running", 20, 10)

    def test_basic_method_on_channel_zero(self):
        r = self.raw()
        r.handshake()
        r.send(method(0, "basic.qos", 0, 1, False))
        self.assertConnClose(
            r, 504, "CHANNEL_ERROR - unexpected method in connection state running", 60, 10)

    def test_second_connection_open(self):
        r = self.raw()
        r.handshake()
        r.send(method(0, "connection.open", "/", "", False))
        self.assertConnClose(
            r, 504, "CHANNEL_ERROR - unexpected method in connection state running", 10, 40)

    def test_unsolicited_channel_close_ok(self):
        r = self.ready()
        r.send(method(1, "channel.close-ok"))
        self.assertConnClose(r, 503, "COMMAND_INVALID - unimplemented method", 20, 41)

    def test_channel_max_exceeded(self):
        r = self.raw()
        r.handshake(channel_max=2)
        r.open_channel(1)
        r.open_channel(2)
        r.send(method(3, "channel.open", ""))
        self.assertConnClose(
            r, 530, "NOT_ALLOWED - number of channels opened (2) has reached the negotiated "
                    "channel_max (2)")

    def test_channel_close_handshake(self):
        # a channel error, frames the client sends before channel.close-ok
        # are dropped, and after close-ok the channel number is reusable
        r = self.ready()
        q = uname("missing")
        r.send(method(1, "queue.declare", 0, q, True, False, False, False, False, {}))
        f = r.read_close()
        self.assertEqual((f.name, f.channel), ("channel.close", 1))
        self.assertEqual(f.args, [404, "NOT_FOUND - no queue '%s' in vhost '/'" % q, 50, 10])
        r.send(method(1, "queue.declare", 0, "", False, False, False, True, False, {}))
        r.send(method(1, "channel.close-ok"))
        r.send(method(1, "channel.open", ""))
        self.assertEqual(r.read_frame().name, "channel.open-ok")

    def test_client_channel_close(self):
        r = self.ready()
        r.send(method(1, "channel.close", 200, "bye", 0, 0))
        f = r.read_frame()
        self.assertEqual((f.name, f.channel), ("channel.close-ok", 1))

    def test_client_connection_close(self):
        r = self.ready()
        r.send(method(0, "connection.close", 200, "bye", 0, 0))
        f = r.read_frame()
        self.assertEqual((f.name, f.channel), ("connection.close-ok", 0))


class HeartbeatTests(RawTestCase):

    def test_heartbeat_timeout_closes_socket(self):
        r = self.raw()
        r.handshake(heartbeat=1)
        t = time.monotonic()
        beats = 0
        try:
            while True:
                f = r.read_frame(6, skip_heartbeats=False)
                self.assertEqual(f.type, af.FRAME_HEARTBEAT, f)
                beats += 1
        except af.Closed:
            pass
        elapsed = time.monotonic() - t
        self.assertGreaterEqual(beats, 1, "the broker sent no heartbeat")
        self.assertGreater(elapsed, 1.5)
        self.assertLess(elapsed, 4.5)

    def test_heartbeats_keep_connection_alive(self):
        r = self.raw()
        r.handshake(heartbeat=1)
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            r.send(af.heartbeat())
            try:
                r.read_frame(0.4, skip_heartbeats=False)
            except (socket.timeout, TimeoutError):
                pass
        r.open_channel(1)


if __name__ == "__main__":
    unittest.main()
