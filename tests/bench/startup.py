#!/usr/bin/python3
"""Start-up time: from exec of the broker to its AMQP port accepting a
connection and answering the protocol header with connection.start, with an
empty data folder and with one holding N durable queues of M persistent
messages each.  Median of R runs.

    tests/bench/startup.py path/to/warren [-r 11] [--queues 1000] [--messages 100]
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import amqpframe  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(binary, data):
    port, mport, pport = free_port(), free_port(), free_port()
    t0 = time.monotonic()
    proc = subprocess.Popen([binary, "--port", str(port), "--mgmt-port", str(mport),
                             "--prometheus-port", str(pport), "--data-dir", data],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
        except OSError:
            if time.monotonic() - t0 > 30:
                proc.kill()
                raise RuntimeError("no listener after 30 s")
            time.sleep(0.0005)
            continue
        s.sendall(amqpframe.PROTOCOL_HEADER)
        s.recv(7)  # the start of connection.start
        took = time.monotonic() - t0
        s.close()
        return proc, port, took


def stop(proc):
    proc.terminate()
    proc.wait(10)


def fill(binary, data, queues, messages):
    proc, port, _ = start(binary, data)
    c = amqpframe.RawConnection("127.0.0.1", port, timeout=60)
    c.handshake(heartbeat=0)
    c.open_channel(1)
    body = b"x" * 100
    for q in range(queues):
        name = "startup-%d" % q
        c.send(amqpframe.method(1, "queue.declare", 0, name, False, True, False, False, False, {}))
        c.expect("queue.declare-ok")
        # persistent: delivery-mode (property flag 0x1000) 2
        out = [amqpframe.publish(1, "", name, body, props=b"\x02", flags=0x1000)
               for _ in range(messages)]
        c.send(b"".join(out))
    # a reply after the publishes: warren syncs a turn's appends before its replies
    c.send(amqpframe.method(1, "queue.declare", 0, "startup-sync", False, True, False, False,
                            False, {}))
    c.expect("queue.declare-ok")
    stop(proc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("-r", "--runs", type=int, default=11)
    ap.add_argument("--queues", type=int, default=1000)
    ap.add_argument("--messages", type=int, default=100)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="warren-startup-")
    try:
        times = []
        for i in range(a.runs):
            data = os.path.join(tmp, "empty%d" % i)
            proc, _port, took = start(a.binary, data)
            stop(proc)
            times.append(took * 1000)
        print("empty data folder: median %.1f ms to connection.start (min %.1f, max %.1f, %d runs)"
              % (statistics.median(times), min(times), max(times), a.runs))
        if a.queues:
            data = os.path.join(tmp, "full")
            fill(a.binary, data, a.queues, a.messages)
            times = []
            for _ in range(max(3, a.runs // 3)):
                proc, _port, took = start(a.binary, data)
                stop(proc)
                times.append(took * 1000)
            print("%d durable queues x %d persistent messages: median %.1f ms to "
                  "connection.start (%d runs)" % (a.queues, a.messages, statistics.median(times),
                                                 len(times)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
