"""A tiny AMQP 0-9-1 frame encoder/decoder for the raw-socket tests.

Only what the tests need: the frame layer, field tables (every type RabbitMQ
knows), and a table of the methods the tests send or expect, described by a
small format string:

    o octet   h short   l long   q longlong
    s shortstr   S longstr   F table   b bit (consecutive bits share octets)

Everything is plain stdlib; no client library is involved, so these tests can
send bytes that no well-behaved client would.
"""

import socket
import struct
import time

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"

FRAME_METHOD = 1
FRAME_HEADER = 2
FRAME_BODY = 3
FRAME_HEARTBEAT = 8
FRAME_END = 0xCE

# (class_id, method_id) -> (name, fields)
METHODS = {
    (10, 10): ("connection.start", "oo" "F" "S" "S"),
    (10, 11): ("connection.start-ok", "F" "s" "S" "s"),
    (10, 20): ("connection.secure", "S"),
    (10, 21): ("connection.secure-ok", "S"),
    (10, 30): ("connection.tune", "hlh"),
    (10, 31): ("connection.tune-ok", "hlh"),
    (10, 40): ("connection.open", "ssb"),
    (10, 41): ("connection.open-ok", "s"),
    (10, 50): ("connection.close", "hshh"),
    (10, 51): ("connection.close-ok", ""),
    (10, 60): ("connection.blocked", "s"),
    (10, 61): ("connection.unblocked", ""),
    (10, 70): ("connection.update-secret", "Ss"),
    (10, 71): ("connection.update-secret-ok", ""),
    (20, 10): ("channel.open", "s"),
    (20, 11): ("channel.open-ok", "S"),
    (20, 20): ("channel.flow", "b"),
    (20, 21): ("channel.flow-ok", "b"),
    (20, 40): ("channel.close", "hshh"),
    (20, 41): ("channel.close-ok", ""),
    (40, 10): ("exchange.declare", "hsssbbbbbF"),
    (40, 11): ("exchange.declare-ok", ""),
    (40, 20): ("exchange.delete", "hsbb"),
    (40, 21): ("exchange.delete-ok", ""),
    (40, 30): ("exchange.bind", "hsssbF"),
    (40, 31): ("exchange.bind-ok", ""),
    (40, 40): ("exchange.unbind", "hsssbF"),
    (40, 51): ("exchange.unbind-ok", ""),
    (50, 10): ("queue.declare", "hsbbbbbF"),
    (50, 11): ("queue.declare-ok", "sll"),
    (50, 20): ("queue.bind", "hsssbF"),
    (50, 21): ("queue.bind-ok", ""),
    (50, 50): ("queue.unbind", "hsssF"),
    (50, 51): ("queue.unbind-ok", ""),
    (50, 30): ("queue.purge", "hsb"),
    (50, 31): ("queue.purge-ok", "l"),
    (50, 40): ("queue.delete", "hsbbb"),
    (50, 41): ("queue.delete-ok", "l"),
    (60, 10): ("basic.qos", "lhb"),
    (60, 11): ("basic.qos-ok", ""),
    (60, 20): ("basic.consume", "hssbbbbF"),
    (60, 21): ("basic.consume-ok", "s"),
    (60, 30): ("basic.cancel", "sb"),
    (60, 31): ("basic.cancel-ok", "s"),
    (60, 40): ("basic.publish", "hssbb"),
    (60, 50): ("basic.return", "hsss"),
    (60, 60): ("basic.deliver", "sqbss"),
    (60, 70): ("basic.get", "hsb"),
    (60, 71): ("basic.get-ok", "qbssl"),
    (60, 72): ("basic.get-empty", "s"),
    (60, 80): ("basic.ack", "qb"),
    (60, 90): ("basic.reject", "qb"),
    (60, 100): ("basic.recover-async", "b"),
    (60, 110): ("basic.recover", "b"),
    (60, 111): ("basic.recover-ok", ""),
    (60, 120): ("basic.nack", "qbb"),
    (85, 10): ("confirm.select", "b"),
    (85, 11): ("confirm.select-ok", ""),
    (90, 10): ("tx.select", ""),
    (90, 11): ("tx.select-ok", ""),
    (90, 20): ("tx.commit", ""),
    (90, 21): ("tx.commit-ok", ""),
    (90, 30): ("tx.rollback", ""),
    (90, 31): ("tx.rollback-ok", ""),
}
BY_NAME = {name: (key, fields) for key, (name, fields) in METHODS.items()}


# ---------------------------------------------------------------- encoding

def shortstr(v):
    if isinstance(v, str):
        v = v.encode()
    if len(v) > 255:
        raise ValueError("shortstr too long")
    return struct.pack("B", len(v)) + v


def longstr(v):
    if isinstance(v, str):
        v = v.encode()
    return struct.pack(">I", len(v)) + v


def field_value(v):
    if isinstance(v, bool):
        return b"t" + struct.pack("B", 1 if v else 0)
    if isinstance(v, int):
        if -2**31 <= v < 2**31:
            return b"I" + struct.pack(">i", v)
        return b"l" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"d" + struct.pack(">d", v)
    if isinstance(v, str):
        return b"S" + longstr(v)
    if isinstance(v, bytes):
        return b"x" + longstr(v)
    if isinstance(v, dict):
        return b"F" + table(v)
    if isinstance(v, (list, tuple)):
        body = b"".join(field_value(x) for x in v)
        return b"A" + struct.pack(">I", len(body)) + body
    if v is None:
        return b"V"
    raise TypeError(type(v))


def table(d):
    body = b"".join(shortstr(k) + field_value(v) for k, v in (d or {}).items())
    return struct.pack(">I", len(body)) + body


def encode_args(fields, args):
    out = b""
    bits, nbits = 0, 0
    args = list(args)
    if len(args) != len(fields):
        raise ValueError("expected %d args for %r, got %d" % (len(fields), fields, len(args)))
    for f, a in zip(fields, args):
        if f != "b" and nbits:
            out += struct.pack("B", bits)
            bits, nbits = 0, 0
        if f == "b":
            if nbits == 8:
                out += struct.pack("B", bits)
                bits, nbits = 0, 0
            bits |= (1 if a else 0) << nbits
            nbits += 1
        elif f == "o":
            out += struct.pack("B", a)
        elif f == "h":
            out += struct.pack(">H", a)
        elif f == "l":
            out += struct.pack(">I", a)
        elif f == "q":
            out += struct.pack(">Q", a)
        elif f == "s":
            out += shortstr(a)
        elif f == "S":
            out += longstr(a)
        elif f == "F":
            out += table(a)
        else:
            raise ValueError(f)
    if nbits:
        out += struct.pack("B", bits)
    return out


def frame(ftype, channel, payload, end=FRAME_END):
    return struct.pack(">BHI", ftype, channel, len(payload)) + payload + struct.pack("B", end)


def method_payload(name, *args):
    (cid, mid), fields = BY_NAME[name]
    return struct.pack(">HH", cid, mid) + encode_args(fields, args)


def method(channel, name, *args):
    return frame(FRAME_METHOD, channel, method_payload(name, *args))


def content_header(channel, body_size, class_id=60, flags=0, props=b""):
    return frame(FRAME_HEADER, channel,
                 struct.pack(">HHQH", class_id, 0, body_size, flags) + props)


def publish(channel, exchange, routing_key, data, mandatory=False, props=b"", flags=0,
            frame_max=131072):
    """basic.publish + content header + body frames split to frame_max."""
    out = method(channel, "basic.publish", 0, exchange, routing_key, mandatory, False)
    out += content_header(channel, len(data), flags=flags, props=props)
    step = frame_max - 8
    for i in range(0, len(data), step):
        out += body(channel, data[i:i + step])
    return out


def body(channel, data):
    return frame(FRAME_BODY, channel, data)


def heartbeat():
    return frame(FRAME_HEARTBEAT, 0, b"")


# ---------------------------------------------------------------- decoding

class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError("short read")
        v = self.data[self.pos:self.pos + n]
        self.pos += n
        return v

    def unpack(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def shortstr(self):
        return self.take(self.unpack("B")).decode("utf-8", "replace")

    def longstr(self):
        return self.take(self.unpack(">I"))

    def table(self):
        r = Reader(self.longstr())
        out = {}
        while r.pos < len(r.data):
            k = r.shortstr()
            out[k] = r.value()
        return out

    def value(self):
        t = self.take(1)
        simple = {b"t": "B", b"b": "b", b"B": "B", b"s": ">h", b"u": ">H",
                  b"I": ">i", b"i": ">I", b"l": ">q", b"L": ">Q",
                  b"f": ">f", b"d": ">d", b"T": ">Q"}
        if t in simple:
            v = self.unpack(simple[t])
            return bool(v) if t == b"t" else v
        if t == b"S":
            return self.longstr().decode("utf-8", "replace")
        if t == b"x":
            return self.longstr()
        if t == b"F":
            return self.table()
        if t == b"A":
            r = Reader(self.longstr())
            out = []
            while r.pos < len(r.data):
                out.append(r.value())
            return out
        if t == b"D":
            scale = self.unpack("B")
            return (scale, self.unpack(">i"))
        if t == b"V":
            return None
        raise ValueError("unknown field type %r" % t)


def decode_args(fields, data):
    r = Reader(data)
    out = []
    bits, nbits = 0, 8
    for f in fields:
        if f == "b":
            if nbits == 8:
                bits, nbits = r.unpack("B"), 0
            out.append(bool(bits & (1 << nbits)))
            nbits += 1
            continue
        nbits = 8
        if f == "o":
            out.append(r.unpack("B"))
        elif f == "h":
            out.append(r.unpack(">H"))
        elif f == "l":
            out.append(r.unpack(">I"))
        elif f == "q":
            out.append(r.unpack(">Q"))
        elif f == "s":
            out.append(r.shortstr())
        elif f == "S":
            out.append(r.longstr())
        elif f == "F":
            out.append(r.table())
    return out


class Frame:
    def __init__(self, ftype, channel, payload):
        self.type, self.channel, self.payload = ftype, channel, payload
        self.name, self.args = None, None
        if ftype == FRAME_METHOD and len(payload) >= 4:
            cid, mid = struct.unpack(">HH", payload[:4])
            self.class_id, self.method_id = cid, mid
            name, fields = METHODS.get((cid, mid), ("%d.%d" % (cid, mid), ""))
            self.name = name
            self.args = decode_args(fields, payload[4:]) if fields else []

    def __repr__(self):
        return "<Frame type=%d ch=%d %s %r>" % (self.type, self.channel, self.name, self.args)


class Closed(Exception):
    """The broker closed the TCP connection."""


class RawConnection:
    """A socket speaking frames; every read has a deadline."""

    def __init__(self, host, port, timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data)

    def recv_some(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("deadline passed")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            raise Closed()
        self.buf += data

    def recv_exact(self, n, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < n:
            self.recv_some(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self, timeout=None, skip_heartbeats=True):
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            while len(self.buf) < 7:
                self.recv_some(deadline)
            ftype, ch, size = struct.unpack(">BHI", self.buf[:7])
            while len(self.buf) < 8 + size:
                self.recv_some(deadline)
            payload = self.buf[7:7 + size]
            end = self.buf[7 + size]
            self.buf = self.buf[8 + size:]
            if end != FRAME_END:
                raise ValueError("bad frame end from broker: %r" % end)
            if ftype == FRAME_HEARTBEAT and skip_heartbeats:
                continue
            return Frame(ftype, ch, payload)

    def expect(self, name, timeout=None):
        f = self.read_frame(timeout)
        if f.name != name:
            raise AssertionError("expected %s, got %r" % (name, f))
        return f

    def read_until_closed(self, timeout=None):
        """Read frames until the broker closes the socket; return them."""
        deadline = time.monotonic() + (timeout or self.timeout)
        frames = []
        while True:
            try:
                frames.append(self.read_frame(max(0.01, deadline - time.monotonic())))
            except Closed:
                return frames
            except (socket.timeout, TimeoutError):
                frames.append("timeout")
                return frames

    def read_close(self, timeout=None):
        """Read until a connection.close or channel.close arrives; return it
        (None if the socket was closed or the deadline passed first)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            try:
                f = self.read_frame(max(0.01, deadline - time.monotonic()))
            except (Closed, socket.timeout, TimeoutError):
                return None
            if f.name in ("connection.close", "channel.close"):
                return f

    def is_closed(self, timeout=None):
        """True when the broker closes the socket (EOF) within timeout."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            try:
                self.recv_some(deadline)
                self.buf = b""
            except Closed:
                return True
            except (socket.timeout, TimeoutError):
                return False

    # -- the handshake, in steps so that tests can stop anywhere --

    def start(self, header=PROTOCOL_HEADER):
        self.send(header)
        return self.expect("connection.start")

    def start_ok(self, user="guest", password="guest", mechanism="PLAIN",
                 capabilities=None, response=None):
        caps = {"authentication_failure_close": True,
                "consumer_cancel_notify": True,
                "publisher_confirms": True,
                "basic.nack": True,
                "exchange_exchange_bindings": True,
                "connection.blocked": True}
        if capabilities is not None:
            caps = capabilities
        props = {"product": "warren-tests raw", "capabilities": caps}
        if response is None:
            response = b"\x00" + user.encode() + b"\x00" + password.encode()
        self.send(method(0, "connection.start-ok", props, mechanism, response, "en_US"))

    def handshake(self, user="guest", password="guest", vhost="/",
                  channel_max=None, frame_max=None, heartbeat=0):
        self.start()
        self.start_ok(user, password)
        tune = self.expect("connection.tune")
        cmax, fmax, _hb = tune.args
        cmax = channel_max if channel_max is not None else cmax
        fmax = frame_max if frame_max is not None else fmax
        self.frame_max = fmax
        self.send(method(0, "connection.tune-ok", cmax, fmax, heartbeat))
        self.send(method(0, "connection.open", vhost, "", False))
        self.expect("connection.open-ok")
        return tune

    def open_channel(self, ch=1):
        self.send(method(ch, "channel.open", ""))
        return self.expect("channel.open-ok")

    def read_content(self, timeout=None):
        """After basic.deliver / get-ok / return: read the content header and
        body frames; return (class_id, body_size, property_flags, body)."""
        h = self.read_frame(timeout)
        if h.type != FRAME_HEADER:
            raise AssertionError("expected a content header, got %r" % h)
        class_id, _weight, size, flags = struct.unpack(">HHQH", h.payload[:14])
        data = b""
        while len(data) < size:
            f = self.read_frame(timeout)
            if f.type != FRAME_BODY:
                raise AssertionError("expected a body frame, got %r" % f)
            data += f.payload
        return class_id, size, flags, data
