#!/usr/bin/env python3
"""Write the seed corpus of the fuzz targets (python3 stdlib only).

Usage: python3 tests/fuzz/gen-corpus.py [CORPUS_DIR]   (default: next to
this script).  fuzz_frame inputs are 4 bytes of frame_max and then what a
client or RabbitMQ puts on the wire; fuzz_table inputs are table bodies and
encoded basic properties.  Inputs found by fuzzing are added to the corpus
directories by hand (or with -merge=1) and are not written here.
"""

import os
import struct
import sys


def shortstr(s):
    if isinstance(s, str):
        s = s.encode()
    return bytes([len(s)]) + s


def longstr(s):
    if isinstance(s, str):
        s = s.encode()
    return struct.pack(">I", len(s)) + s


def value(v):
    """(tag, python value) -> tagged field value."""
    tag, x = v
    if tag == "t":
        return b"t" + bytes([1 if x else 0])
    if tag == "b":
        return b"b" + struct.pack(">b", x)
    if tag == "B":
        return b"B" + struct.pack(">B", x)
    if tag == "s":
        return b"s" + struct.pack(">h", x)
    if tag == "u":
        return b"u" + struct.pack(">H", x)
    if tag == "I":
        return b"I" + struct.pack(">i", x)
    if tag == "i":
        return b"i" + struct.pack(">I", x)
    if tag == "l":
        return b"l" + struct.pack(">q", x)
    if tag == "L":
        return b"L" + struct.pack(">Q", x)
    if tag == "f":
        return b"f" + struct.pack(">f", x)
    if tag == "d":
        return b"d" + struct.pack(">d", x)
    if tag == "D":
        return b"D" + struct.pack(">BI", x[0], x[1])
    if tag == "S":
        return b"S" + longstr(x)
    if tag == "x":
        return b"x" + longstr(x)
    if tag == "T":
        return b"T" + struct.pack(">Q", x)
    if tag == "V":
        return b"V"
    if tag == "F":
        return b"F" + longstr(table_body(x))
    if tag == "A":
        return b"A" + longstr(b"".join(value(e) for e in x))
    raise ValueError(tag)


def table_body(entries):
    return b"".join(shortstr(k) + value(v) for k, v in entries)


def table(entries):
    return longstr(table_body(entries))


def frame(ftype, channel, payload):
    return struct.pack(">BHI", ftype, channel, len(payload)) + payload + b"\xce"


def method(channel, class_id, method_id, args=b""):
    return frame(1, channel, struct.pack(">HH", class_id, method_id) + args)


def props(flags, fields=b""):
    return struct.pack(">H", flags) + fields


def content(channel, body, prop_bytes=props(0)):
    header = struct.pack(">HHQ", 60, 0, len(body)) + prop_bytes
    return frame(2, channel, header) + frame(3, channel, body)


PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
HEARTBEAT = frame(8, 0, b"")

CLIENT_PROPERTIES = [
    ("product", ("S", "pika")),
    ("platform", ("S", "Python 3.11")),
    ("capabilities", ("F", [
        ("authentication_failure_close", ("t", True)),
        ("basic.nack", ("t", True)),
        ("connection.blocked", ("t", True)),
        ("consumer_cancel_notify", ("t", True)),
        ("publisher_confirms", ("t", True)),
    ])),
    ("information", ("S", "See https://pika.readthedocs.io")),
    ("version", ("S", "1.3.1")),
]

START_OK = method(0, 10, 11, table(CLIENT_PROPERTIES) + shortstr("PLAIN") +
                  longstr(b"\x00guest\x00guest") + shortstr("en_US"))
TUNE_OK = method(0, 10, 31, struct.pack(">HIH", 2047, 131072, 60))
OPEN = method(0, 10, 40, shortstr("/") + shortstr("") + b"\x00")
CHANNEL_OPEN = method(1, 20, 10, shortstr(""))

SERVER_PROPERTIES = [
    ("capabilities", ("F", [("publisher_confirms", ("t", True)),
                            ("exchange_exchange_bindings", ("t", True)),
                            ("basic.nack", ("t", True)),
                            ("consumer_cancel_notify", ("t", True))])),
    ("product", ("S", "RabbitMQ")),
    ("version", ("S", "3.10.8")),
]
START = method(0, 10, 10, b"\x00\x09" + table(SERVER_PROPERTIES) +
               longstr("AMQPLAIN PLAIN") + longstr("en_US"))

ALL_PROPS = props(0xFFFC,
                  shortstr("application/json") + shortstr("gzip") +
                  table([("x-retries", ("l", 3)), ("trace", ("S", "abc"))]) +
                  b"\x02\x05" + shortstr("corr-1") + shortstr("reply.q") +
                  shortstr("60000") + shortstr("msg-1") +
                  struct.pack(">Q", 1700000000) + shortstr("type") +
                  shortstr("guest") + shortstr("app") + shortstr(""))

PUBLISH = method(1, 60, 40, struct.pack(">H", 0) + shortstr("amq.direct") +
                 shortstr("rk") + b"\x01")

EVERY_TYPE = [
    ("t", ("t", True)), ("b", ("b", -5)), ("B", ("B", 250)),
    ("s", ("s", -300)), ("u", ("u", 60000)), ("I", ("I", -70000)),
    ("i", ("i", 4000000000)), ("l", ("l", -5000000000)),
    ("L", ("L", 2**64 - 1)), ("f", ("f", 1.5)), ("d", ("d", -2.25)),
    ("D", ("D", (2, 12345))), ("S", ("S", "str")),
    ("A", ("A", [("l", 1), ("S", "x"), ("A", []), ("F", [])])),
    ("T", ("T", 1700000000)), ("F", ("F", [("k", ("V", None))])),
    ("V", ("V", None)), ("x", ("x", b"\x01\x02\x03")),
]


def fmax(n):
    return struct.pack(">I", n)


def nested(depth, tag):
    v = ("F", []) if tag == "F" else ("A", [])
    for _ in range(depth - 1):
        v = ("F", [("k", v)]) if tag == "F" else ("A", [v])
    return table_body([("k", v)])


FRAME_SEEDS = {
    "handshake": fmax(4096) + PROTOCOL_HEADER + START_OK + TUNE_OK + OPEN +
    CHANNEL_OPEN,
    "connection-start": fmax(0) + START,
    "publish": fmax(131072) + PUBLISH + content(1, b"hello"),
    "publish-all-props": fmax(131072) + PUBLISH +
    content(1, b"{\"a\": 1}", ALL_PROPS),
    "publish-split-body": fmax(4096) + PUBLISH +
    frame(2, 1, struct.pack(">HHQ", 60, 0, 6) + props(0)) +
    frame(3, 1, b"abc") + frame(3, 1, b"def"),
    "heartbeat": fmax(4096) + HEARTBEAT + HEARTBEAT,
    "deliver": fmax(131072) + method(1, 60, 60, shortstr("amq.ctag-1") +
                                     struct.pack(">Q", 42) + b"\x01" +
                                     shortstr("amq.direct") + shortstr("rk")) +
    content(1, b"hello", props(0x9000, shortstr("text/plain") + b"\x02")),
    "declare-bind-consume": fmax(131072) +
    method(1, 40, 10, struct.pack(">H", 0) + shortstr("ex") +
           shortstr("headers") + b"\x02" +
           table([("alternate-exchange", ("S", "ae"))])) +
    method(1, 50, 10, struct.pack(">H", 0) + shortstr("q") + b"\x02" +
           table([("x-max-length", ("l", 10)), ("x-queue-type",
                                                 ("S", "classic"))])) +
    method(1, 50, 20, struct.pack(">H", 0) + shortstr("q") + shortstr("ex") +
           shortstr("") + b"\x00" +
           table([("x-match", ("S", "all")), ("k", ("I", 1))])) +
    method(1, 60, 10, struct.pack(">IHB", 0, 10, 0)) +
    method(1, 60, 20, struct.pack(">H", 0) + shortstr("q") + shortstr("") +
           b"\x00" + table([("x-priority", ("I", 5))])) +
    method(1, 60, 80, struct.pack(">QB", 1, 1)) +
    method(1, 85, 10, b"\x00") + method(1, 90, 10),
    "close": fmax(4096) + method(1, 20, 40, struct.pack(">H", 406) +
                                 shortstr("PRECONDITION_FAILED - x") +
                                 struct.pack(">HH", 50, 10)) +
    method(1, 20, 41) + method(0, 10, 50, struct.pack(">H", 200) +
                               shortstr("Goodbye") + struct.pack(">HH", 0, 0)) +
    method(0, 10, 51),
    "bad-frame-end": fmax(4096) + HEARTBEAT[:-1] + b"\x00",
    "oversize": fmax(4096) + struct.pack(">BHI", 3, 1, 5000) + b"x" * 16,
    "short-method": fmax(4096) + frame(1, 1, b"\x00\x3c\x00"),
    "short-header": fmax(4096) + frame(2, 1, b"\x00" * 13),
    "continuation-bit": fmax(4096) + PUBLISH +
    frame(2, 1, struct.pack(">HHQ", 60, 0, 0) + props(0x8001, shortstr("x"))),
    "unknown-method": fmax(4096) + method(1, 60, 41) + method(1, 99, 10),
    "bad-utf8": fmax(4096) + method(1, 50, 10, struct.pack(">H", 0) +
                                    shortstr(b"\xc0\x80") + b"\x00" +
                                    table([])),
}

TABLE_SEEDS = {
    "every-type": table_body(EVERY_TYPE),
    "client-properties": table_body(CLIENT_PROPERTIES),
    "headers-binding": table_body([("x-match", ("S", "any")),
                                   ("format", ("S", "pdf")),
                                   ("type", ("S", "report"))]),
    "nested-10-tables": nested(10, "F"),
    "nested-10-arrays": nested(10, "A"),
    "props-all": ALL_PROPS,
    "props-none": props(0),
    "props-persistent": props(0x9000, shortstr("text/plain") + b"\x02"),
    "bad-tag": table_body([("k", ("t", True))]) + b"\x01kZ",
    "length-past-end": b"\x01kS\x00\x00\x00\x10abc",
}


def write(directory, seeds):
    os.makedirs(directory, exist_ok=True)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)


def main(argv):
    base = argv[1] if len(argv) > 1 else \
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    write(os.path.join(base, "fuzz_frame"), FRAME_SEEDS)
    write(os.path.join(base, "fuzz_table"), TABLE_SEEDS)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
