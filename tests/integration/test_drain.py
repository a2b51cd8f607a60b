"""Draining a backlog: a no-ack consumer on a queue of 10,000 messages of
4000 bytes must get them at the speed of the socket.  Two stalls made it
about 4 MB/s (10 s here): deliveries stopped at the output high-water mark
resumed only when a single write took the backlog from above it to below
the low mark, and the prepare step's capped rounds left resumed deliveries
waiting for the next timer.  Raw frames on both sides, so the client is not
the bottleneck; RabbitMQ 3.10.8 drains it in about a second too.
"""

import socket
import struct
import time

from helpers import BrokerTestCase, HOST, PORT, PASSWORD, USER, uname


def frame(t, ch, payload):
    return struct.pack(">BHI", t, ch, len(payload)) + payload + b"\xce"


def shortstr(s):
    return bytes([len(s)]) + s


class Conn:
    def __init__(self):
        self.s = socket.create_connection((HOST, PORT), timeout=10)
        self.buf = bytearray()
        self.s.sendall(b"AMQP\x00\x00\x09\x01")
        self.recv_frame()                                      # start
        resp = b"\x00" + USER.encode() + b"\x00" + PASSWORD.encode()
        self.s.sendall(frame(1, 0, struct.pack(">HHI", 10, 11, 0) + shortstr(b"PLAIN") +
                             struct.pack(">I", len(resp)) + resp + shortstr(b"en_US")))
        self.recv_frame()                                      # tune
        self.s.sendall(frame(1, 0, struct.pack(">HHHIH", 10, 31, 2047, 131072, 0)))
        self.s.sendall(frame(1, 0, struct.pack(">HH", 10, 40) + shortstr(b"/") + shortstr(b"") +
                             b"\x00"))
        self.recv_frame()                                      # open-ok
        self.s.sendall(frame(1, 1, struct.pack(">HH", 20, 10) + shortstr(b"")))
        self.recv_frame()                                      # channel open-ok

    def recv_frame(self):
        while True:
            if len(self.buf) >= 7:
                size = struct.unpack(">I", self.buf[3:7])[0]
                if len(self.buf) >= size + 8:
                    f = bytes(self.buf[:size + 8])
                    del self.buf[:size + 8]
                    return f
            d = self.s.recv(65536)
            if not d:
                raise EOFError("closed")
            self.buf += d

    def close(self):
        self.s.close()


class DrainTests(BrokerTestCase):

    def test_issue_6_no_ack_consumer_drains_backlog(self):
        n, size = 10000, 4000
        q = uname("drain").encode()
        ch = self.channel()
        ch.queue_declare(q.decode(), auto_delete=False)
        self.track_queue(q.decode())
        pub = Conn()
        one = (frame(1, 1, struct.pack(">HHH", 60, 40, 0) + shortstr(b"") + shortstr(q) + b"\x00") +
               frame(2, 1, struct.pack(">HHQH", 60, 0, size, 0)) + frame(3, 1, b"d" * size))
        for _ in range(n // 100):
            pub.s.sendall(one * 100)
        deadline = time.monotonic() + 20
        while ch.queue_declare(q.decode(), passive=True).method.message_count < n:
            self.assertLess(time.monotonic(), deadline, "publishing did not finish")
            time.sleep(0.05)
        pub.close()

        con = Conn()
        con.s.sendall(frame(1, 1, struct.pack(">HHH", 60, 20, 0) + shortstr(q) + shortstr(b"c") +
                            b"\x02" + struct.pack(">I", 0)))      # no-ack
        con.recv_frame()                                          # consume-ok
        per = (8 + 4 + 2 + 8 + 1 + 1 + 1 + len(q)) + (8 + 14) + (8 + size)
        want = n * per - len(con.buf)
        t0 = time.monotonic()
        got = 0
        view = memoryview(bytearray(1 << 20))
        while got < want:
            k = con.s.recv_into(view)
            self.assertTrue(k, "closed after %d of %d bytes" % (got, want))
            got += k
        elapsed = time.monotonic() - t0
        con.close()
        self.assertEqual(got, want)
        self.assertLess(elapsed, 5.0, "40 MB drained in %.1f s" % elapsed)
