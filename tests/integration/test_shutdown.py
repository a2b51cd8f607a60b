"""Broker shutdown on SIGTERM: connected clients get connection.close 320
CONNECTION_FORCED.  Only runs when the runner started the broker itself
(WARREN_PID set); the runner runs DESTRUCTIVE modules last, one at a time,
and restarts the broker before each."""

import os
import signal
import time
import unittest

import pika
import pika.exceptions

from helpers import BrokerTestCase, WARREN_PID, HOST, PORT, uname
import amqpframe as af

DESTRUCTIVE = True

SHUTDOWN_TEXT = "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"


def process_gone(pid):
    """True when pid has exited (gone, or a zombie waiting for its parent)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@unittest.skipUnless(WARREN_PID, "needs WARREN_PID (a broker the runner started)")
class SigtermTests(BrokerTestCase):

    def test_sigterm_closes_clients_with_320(self):
        conn = self.connect()
        ch = conn.channel()
        ch.queue_declare(uname("q"), exclusive=True)

        raw = af.RawConnection(HOST, PORT, timeout=10)
        self.addCleanup(raw.close)
        raw.handshake()
        raw.open_channel(1)

        os.kill(WARREN_PID, signal.SIGTERM)

        f = raw.read_close(timeout=10)
        self.assertIsNotNone(f, "no connection.close before the socket went")
        self.assertEqual((f.name, f.channel), ("connection.close", 0))
        self.assertEqual(f.args, [320, SHUTDOWN_TEXT, 0, 0])
        try:
            raw.send(af.method(0, "connection.close-ok"))
        except OSError:
            pass    # the broker may already have dropped the socket

        with self.assertRaises(pika.exceptions.ConnectionClosedByBroker) as cm:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                conn.process_data_events(time_limit=0.1)
        self.assertEqual(cm.exception.reply_code, 320)
        self.assertEqual(cm.exception.reply_text, SHUTDOWN_TEXT)

        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not process_gone(WARREN_PID):
            time.sleep(0.05)
        self.assertTrue(process_gone(WARREN_PID), "broker still running 15 s after SIGTERM")


if __name__ == "__main__":
    unittest.main()
