#!/usr/bin/python3
"""What idle things cost a broker in memory: N idle AMQP connections (each
with one open channel, heartbeats off) and N idle queues (declared over one
channel).  Prints the broker's resident memory (VmRSS of --pid) before and
after each, and the cost per item.  Loopback only; bounded by the counts.

    tests/bench/idle_mem.py --port 5672 --pid PID [--conns 10000] [--queues 100000]

Run it against warren and RabbitMQ (the same counts) and compare the
deltas; for 10,000 connections both the broker and this script need an
open-files limit above 10,000 (ulimit -n)."""

import argparse
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import amqpframe  # noqa: E402


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def settle(pid, secs=3.0):
    """RSS after the broker had a moment (RabbitMQ's GC, stats) to settle."""
    time.sleep(secs)
    return rss_kib(pid)


def idle_conns(host, port, n):
    conns = []
    for _ in range(n):
        c = amqpframe.RawConnection(host, port, timeout=30)
        c.handshake(heartbeat=0)
        c.open_channel(1)
        conns.append(c)
    return conns


def idle_queues(host, port, n, prefix):
    c = amqpframe.RawConnection(host, port, timeout=60)
    c.handshake(heartbeat=0)
    c.open_channel(1)
    batch = []
    for i in range(n):
        # queue.declare: ticket, name, passive, durable, exclusive, auto-delete, nowait, args
        batch.append(amqpframe.method(1, "queue.declare", 0, "%s-%d" % (prefix, i),
                                      False, False, False, False, True, {}))
        if len(batch) == 1000:
            c.send(b"".join(batch))
            batch = []
    if batch:
        c.send(b"".join(batch))
    # a synchronous declare at the end: every nowait one before it is done
    c.send(amqpframe.method(1, "queue.declare", 0, "%s-last" % prefix,
                            False, False, False, False, False, {}))
    c.expect("queue.declare-ok", timeout=300)
    return c


def delete_queues(host, port, n, prefix):
    c = amqpframe.RawConnection(host, port, timeout=60)
    c.handshake(heartbeat=0)
    c.open_channel(1)
    batch = []
    for i in list(range(n)) + ["last"]:
        # queue.delete: ticket, name, if-unused, if-empty, nowait
        batch.append(amqpframe.method(1, "queue.delete", 0, "%s-%s" % (prefix, i),
                                      False, False, True))
        if len(batch) == 1000:
            c.send(b"".join(batch))
            batch = []
    c.send(b"".join(batch))
    c.send(amqpframe.method(1, "queue.delete", 0, "%s-last" % prefix, False, False, False))
    c.expect("queue.delete-ok", timeout=300)
    c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5672)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--queues", type=int, default=100000)
    a = ap.parse_args()

    base = settle(a.pid, 1)
    print("idle: %.1f MiB resident" % (base / 1024))
    if a.conns:
        t = time.monotonic()
        conns = idle_conns(a.host, a.port, a.conns)
        took = time.monotonic() - t
        after = settle(a.pid, 12)  # idle for a while: warren trims idle buffers after 5-10 s
        print("%d idle connections (opened in %.1f s): +%.1f MiB, %.1f KiB each"
              % (a.conns, took, (after - base) / 1024, (after - base) / a.conns))
        for c in conns:
            c.close()
        base = settle(a.pid)
    if a.queues:
        prefix = "idle-mem-%d" % os.getpid()
        t = time.monotonic()
        c = idle_queues(a.host, a.port, a.queues, prefix)
        took = time.monotonic() - t
        after = settle(a.pid)
        print("%d idle queues (declared in %.1f s): +%.1f MiB, %.2f KiB each"
              % (a.queues, took, (after - base) / 1024, (after - base) / a.queues))
        c.close()
        delete_queues(a.host, a.port, a.queues, prefix)


if __name__ == "__main__":
    main()
