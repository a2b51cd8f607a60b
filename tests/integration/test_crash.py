"""The crash test: a producer publishes persistent messages with confirms
while its broker is killed with SIGKILL at random moments, 20 times.  After
each restart every confirmed message must be there, by id and content;
unconfirmed ones may or may not be (duplicates are allowed only for them).
Prints how many were confirmed, recovered, duplicated and lost."""

import random
import shutil
import signal
import tempfile
import threading
import time
import unittest

import pika

from helpers import BrokerTestCase, OwnBroker

ROUNDS = 20


class CrashTests(BrokerTestCase):
    timeout = 180

    def test_kill_9_loses_no_confirmed_message(self):
        data = tempfile.mkdtemp(prefix="warren-crash-")
        self.addCleanup(shutil.rmtree, data, True)
        rng = random.Random(1234)
        confirmed = set()
        next_id = 0
        duplicated = 0
        b = OwnBroker(self, data_dir=data)
        c = b.connect()
        c.channel().queue_declare("crash", durable=True)
        c.close()
        for rnd in range(ROUNDS):
            stop = threading.Event()

            def killer(proc=b.proc, delay=rng.uniform(0.05, 0.4)):
                if not stop.wait(delay):
                    proc.send_signal(signal.SIGKILL)

            t = threading.Thread(target=killer)
            try:
                c = b.connect()
                ch = c.channel()
                ch.confirm_delivery()
                t.start()
                while True:
                    body = b"msg-%08d" % next_id
                    ch.basic_publish("", "crash", body,
                                     pika.BasicProperties(delivery_mode=2, message_id=str(next_id)))
                    confirmed.add(next_id)      # basic_publish returned: the broker confirmed it
                    next_id += 1
            except Exception:
                # The broker died under us, maybe with this message already on
                # disk and only its confirm lost: its id is never published
                # again, so any copy of an id seen twice is a real duplicate.
                next_id += 1
            finally:
                stop.set()
                if t.is_alive() or t.ident:
                    t.join()
            b.proc.wait(10)
            b = OwnBroker(self, data_dir=data)
            ch = b.connect().channel()
            seen = {}
            while True:
                m, p, body = ch.basic_get("crash", auto_ack=False)
                if m is None:
                    break
                i = int(p.message_id)
                self.assertEqual(body, b"msg-%08d" % i)
                seen[i] = seen.get(i, 0) + 1
            lost = confirmed - set(seen)
            dups = sum(n - 1 for n in seen.values())
            # dups may only be of unconfirmed messages
            self.assertEqual(sorted(lost), [], "round %d lost confirmed messages" % rnd)
            duplicated += dups
            dup_ids = sorted(i for i, n in seen.items() if n > 1)
            self.assertEqual(dups, 0, "round %d: duplicates of %s" % (rnd, dup_ids))
            ch.connection.close()          # leave them all in the queue, redelivered next round
        print("\ncrash test: %d kills; %d confirmed, %d recovered (the unconfirmed ones that "
              "reached the disk included), %d duplicated, %d lost" % (
                  ROUNDS, len(confirmed), len(seen), duplicated, len(lost)))


if __name__ == "__main__":
    unittest.main()
