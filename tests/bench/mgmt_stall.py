#!/usr/bin/python3
"""How long the management API holds up AMQP traffic: with N queues
declared, this process lists them over HTTP (several query shapes) while
another process (not a thread: reading 125 MB would hold the GIL and
stall it) does AMQP round trips (basic.qos / qos-ok) back to back; prints
each listing's time and the worst AMQP round trip seen during it.

    tests/bench/mgmt_stall.py --port AMQP --mgmt-port HTTP [--queues 100000]
"""

import argparse
import base64
import os
import sys
import multiprocessing
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import amqpframe  # noqa: E402
import idle_mem  # noqa: E402


def pinger(port, stop, worst):
    c = amqpframe.RawConnection("127.0.0.1", port, timeout=30)
    c.handshake(heartbeat=0)
    c.open_channel(1)
    while not stop.is_set():
        t = time.monotonic()
        c.send(amqpframe.method(1, "basic.qos", 0, 10, False))
        c.expect("basic.qos-ok")
        worst.value = max(worst.value, time.monotonic() - t)
    c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mgmt-port", type=int, required=True)
    ap.add_argument("--queues", type=int, default=100000)
    a = ap.parse_args()
    prefix = "stall-%d" % os.getpid()
    holder = idle_mem.idle_queues("127.0.0.1", a.port, a.queues, prefix)
    auth = "Basic " + base64.b64encode(b"guest:guest").decode()
    for path in ("/api/queues?columns=name", "/api/queues",
                 "/api/queues?page=1&page_size=100&sort=messages&sort_reverse=true",
                 "/api/queues?page=5&page_size=100&name=9&use_regex=true",
                 "/api/overview"):
        stop, worst = multiprocessing.Event(), multiprocessing.Value("d", 0.0)
        th = multiprocessing.Process(target=pinger, args=(a.port, stop, worst))
        th.start()
        time.sleep(0.5)
        worst.value = 0.0
        t = time.monotonic()
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (a.mgmt_port, path))
        req.add_header("Authorization", auth)
        with urllib.request.urlopen(req, timeout=120) as r:
            n = len(r.read())
        took = time.monotonic() - t
        time.sleep(0.1)
        stop.set()
        th.join()
        print("%-70s %6.0f ms, %9d bytes; worst AMQP round trip meanwhile %.1f ms"
              % (path, took * 1000, n, worst.value * 1000))
    holder.close()
    idle_mem.delete_queues("127.0.0.1", a.port, a.queues, prefix)


if __name__ == "__main__":
    main()
