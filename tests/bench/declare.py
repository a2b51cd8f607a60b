#!/usr/bin/python3
"""Durable declarations: how fast one client declares (and binds) durable
queues as their number grows.  Each declare-ok and bind-ok comes once the
change is on disk.  Prints the rate per slice of N queues.

    tests/bench/declare.py --port AMQP [--queues 10000] [--slice 2500]
"""

import argparse
import time
import uuid

import pika


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--queues", type=int, default=10000)
    ap.add_argument("--slice", type=int, default=2500)
    a = ap.parse_args()
    conn = pika.BlockingConnection(pika.ConnectionParameters(a.host, a.port, heartbeat=0))
    ch = conn.channel()
    tag = uuid.uuid4().hex[:8]
    names = []
    for start in range(0, a.queues, a.slice):
        t = time.monotonic()
        for i in range(start, min(start + a.slice, a.queues)):
            name = "decl-%s-%d" % (tag, i)
            ch.queue_declare(name, durable=True)
            ch.queue_bind(name, "amq.direct", name)
            names.append(name)
        took = time.monotonic() - t
        n = min(start + a.slice, a.queues) - start
        print("queues %6d-%6d: %7.0f declare+bind/s (%.2f s)" % (start, start + n, n / took, took),
              flush=True)
    t = time.monotonic()
    for name in names:
        ch.queue_delete(name)
    print("deleted %d: %.0f/s" % (len(names), len(names) / (time.monotonic() - t)))
    conn.close()


if __name__ == "__main__":
    main()
