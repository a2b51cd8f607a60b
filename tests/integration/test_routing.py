"""Routing tables for direct, fanout, topic and headers exchanges, as
RabbitMQ 3.10.8 routes them (the tables below were produced by experiment)."""

import time
import unittest

import pika

from helpers import BrokerTestCase, uname

# pattern -> the keys (of TOPIC_KEYS) it matches, established against RabbitMQ.
# Words are split on "."; "" is zero words, "." is two empty words.
TOPIC_KEYS = ["", "a", "b", "a.b", "a.b.c", "a.c", "a.x.y.c", "x.a.y", "a..b", "a.",
              ".a", "..", ".", "a.b.b.c", "b.a", "ab", "a.bb"]
TOPIC_TABLE = {
    "#": ["", ".", "..", ".a", "a", "a.", "a..b", "a.b", "a.b.b.c", "a.b.c", "a.bb", "a.c",
          "a.x.y.c", "ab", "b", "b.a", "x.a.y"],
    "*": ["a", "ab", "b"],
    "a": ["a"],
    "a.b": ["a.b"],
    "a.*": ["a.", "a.b", "a.bb", "a.c"],
    "*.b": ["a.b"],
    "a.#": ["a", "a.", "a..b", "a.b", "a.b.b.c", "a.b.c", "a.bb", "a.c", "a.x.y.c"],
    "#.b": ["a..b", "a.b", "b"],
    "#.a.#": [".a", "a", "a.", "a..b", "a.b", "a.b.b.c", "a.b.c", "a.bb", "a.c", "a.x.y.c",
              "b.a", "x.a.y"],
    "a.*.c": ["a.b.c"],
    "a.#.c": ["a.b.b.c", "a.b.c", "a.c", "a.x.y.c"],
    "*.*": [".", ".a", "a.", "a.b", "a.bb", "a.c", "b.a"],
    "#.#": ["", ".", "..", ".a", "a", "a.", "a..b", "a.b", "a.b.b.c", "a.b.c", "a.bb", "a.c",
            "a.x.y.c", "ab", "b", "b.a", "x.a.y"],
    "*.#": [".", "..", ".a", "a", "a.", "a..b", "a.b", "a.b.b.c", "a.b.c", "a.bb", "a.c",
            "a.x.y.c", "ab", "b", "b.a", "x.a.y"],
    "#.*": [".", "..", ".a", "a", "a.", "a..b", "a.b", "a.b.b.c", "a.b.c", "a.bb", "a.c",
            "a.x.y.c", "ab", "b", "b.a", "x.a.y"],
    "a.*.#": ["a.", "a..b", "a.b", "a.b.b.c", "a.b.c", "a.bb", "a.c", "a.x.y.c"],
    "": [""],
    "a..b": ["a..b"],
    "a.": ["a."],
    ".a": [".a"],
    "*.*.*": ["..", "a..b", "a.b.c", "x.a.y"],
    "a.b.#.c": ["a.b.b.c", "a.b.c"],
    "#.b.#": ["a..b", "a.b", "a.b.b.c", "a.b.c", "b", "b.a"],
}

# binding arguments -> the messages (by name, of HEADER_MSGS) it matches.
HEADER_MSGS = {
    "m_ab": {"a": 1, "b": "x"},
    "m_a": {"a": 1},
    "m_b": {"b": "x"},
    "m_abc": {"a": 1, "b": "x", "c": 3},
    "m_astr": {"a": "1", "b": "x"},
    "m_a2": {"a": 2},
    "m_none": None,
    "m_empty": {},
    "m_xfoo": {"x-foo": 1},
    "m_a_xfoo": {"a": 1, "x-foo": 1},
    "m_t": {"t": True},
    "m_along": {"a": 2 ** 40},
    "m_xmatch": {"x-match": "all"},
}
ALL_MSGS = sorted(HEADER_MSGS)
HEADER_TABLE = [
    ({"x-match": "all", "a": 1, "b": "x"}, ["m_ab", "m_abc"]),
    ({"x-match": "any", "a": 1, "b": "x"},
     ["m_a", "m_a_xfoo", "m_ab", "m_abc", "m_astr", "m_b"]),
    ({"a": 1, "b": "x"}, ["m_ab", "m_abc"]),                     # default is all
    ({"x-match": "all"}, ALL_MSGS),                               # nothing to check
    ({"x-match": "any"}, []),                                     # nothing can match
    ({}, ALL_MSGS),
    ({"x-match": "all", "x-foo": 1}, ALL_MSGS),                   # x-* ignored
    ({"x-match": "any", "x-foo": 1}, []),
    ({"x-match": "all-with-x", "x-foo": 1}, ["m_a_xfoo", "m_xfoo"]),
    ({"x-match": "any-with-x", "x-foo": 1}, ["m_a_xfoo", "m_xfoo"]),
    ({"x-match": "all-with-x", "a": 1, "x-foo": 1}, ["m_a_xfoo"]),
    ({"x-match": "any-with-x", "a": 1, "x-foo": 1},
     ["m_a", "m_a_xfoo", "m_ab", "m_abc", "m_xfoo"]),
    ({"x-match": "all", "a": None},                               # void: presence only
     ["m_a", "m_a2", "m_a_xfoo", "m_ab", "m_abc", "m_along", "m_astr"]),
    ({"x-match": "any", "a": "1"}, ["m_astr"]),                   # types must match
    ({"x-match": "all", "t": True}, ["m_t"]),
    ({"x-match": "all", "a": 2 ** 40}, ["m_along"]),
]


class RoutingTests(BrokerTestCase):

    def collect(self, ch, queues, settle=0.3):
        """Drain each queue (after letting routing settle): {key: sorted bodies}."""
        time.sleep(settle)
        out = {}
        for key, q in queues.items():
            got = []
            while True:
                m, _p, b = ch.basic_get(q, auto_ack=True)
                if m is None:
                    break
                got.append(b.decode())
            out[key] = sorted(got)
        return out

    def test_direct(self):
        ch = self.channel()
        x = self.exchange(ch, "direct")
        qs = {k: self.queue(ch, exclusive=True) for k in ("a", "b", "")}
        for k, q in qs.items():
            ch.queue_bind(q, x, k)
        for k in ("a", "b", "", "A", "a.b", "c"):
            ch.basic_publish(x, k, k.encode())
        self.assertEqual(self.collect(ch, qs), {"a": ["a"], "b": ["b"], "": [""]})

    def test_fanout_ignores_key(self):
        ch = self.channel()
        x = self.exchange(ch, "fanout")
        qs = {i: self.queue(ch, exclusive=True) for i in range(3)}
        for i, q in qs.items():
            ch.queue_bind(q, x, "key-%d" % i)
        ch.basic_publish(x, "whatever", b"m")
        self.assertEqual(self.collect(ch, qs), {0: ["m"], 1: ["m"], 2: ["m"]})

    def test_topic_table(self):
        ch = self.channel()
        x = self.exchange(ch, "topic")
        qs = {}
        for pattern in TOPIC_TABLE:
            qs[pattern] = self.queue(ch, exclusive=True)
            ch.queue_bind(qs[pattern], x, pattern)
        for key in TOPIC_KEYS:
            ch.basic_publish(x, key, key.encode())
        got = self.collect(ch, qs)
        for pattern, keys in TOPIC_TABLE.items():
            self.assertEqual(got[pattern], sorted(keys), "pattern %r" % pattern)

    def test_topic_hash_matches_empty_and_prefix(self):
        ch = self.channel()
        x = self.exchange(ch, "topic")
        q = self.queue(ch, exclusive=True)
        q2 = self.queue(ch, exclusive=True)
        ch.queue_bind(q, x, "#")
        ch.queue_bind(q2, x, "a.#")
        ch.basic_publish(x, "", b"empty")
        ch.basic_publish(x, "a", b"a")
        got = self.collect(ch, {"#": q, "a.#": q2})
        self.assertEqual(got, {"#": ["a", "empty"], "a.#": ["a"]})

    def test_topic_long_key(self):
        ch = self.channel()
        x = self.exchange(ch, "topic")
        q = self.queue(ch, exclusive=True)
        ch.queue_bind(q, x, "#.z")
        key = ".".join(["w"] * 100 + ["z"])
        ch.basic_publish(x, key, b"deep")
        ch.basic_publish(x, key + ".y", b"no")
        self.assertEqual(self.collect(ch, {"q": q}), {"q": ["deep"]})

    def test_topic_unbind(self):
        ch = self.channel()
        x = self.exchange(ch, "topic")
        q = self.queue(ch, exclusive=True)
        ch.queue_bind(q, x, "a.*")
        ch.queue_bind(q, x, "a.#")
        ch.queue_unbind(q, x, "a.*")
        ch.basic_publish(x, "a.b.c", b"1")
        ch.queue_unbind(q, x, "a.#")
        ch.basic_publish(x, "a.b", b"2")
        self.assertEqual(self.collect(ch, {"q": q}), {"q": ["1"]})

    def test_headers_table(self):
        ch = self.channel()
        x = self.exchange(ch, "headers")
        qs = {}
        for i, (args, _want) in enumerate(HEADER_TABLE):
            qs[i] = self.queue(ch, exclusive=True)
            ch.queue_bind(qs[i], x, "", arguments=args)
        for name, headers in HEADER_MSGS.items():
            ch.basic_publish(x, "ignored", name.encode(),
                             pika.BasicProperties(headers=headers))
        got = self.collect(ch, qs)
        for i, (args, want) in enumerate(HEADER_TABLE):
            self.assertEqual(got[i], sorted(want), "binding %r" % (args,))

    def test_headers_unbind_needs_same_args(self):
        ch = self.channel()
        x = self.exchange(ch, "headers")
        q = self.queue(ch, exclusive=True)
        args = {"x-match": "any", "k": "v"}
        ch.queue_bind(q, x, "", arguments=args)
        ch.queue_unbind(q, x, "", arguments={"x-match": "any", "k": "other"})
        ch.basic_publish(x, "", b"1", pika.BasicProperties(headers={"k": "v"}))
        ch.queue_unbind(q, x, "", arguments=args)
        ch.basic_publish(x, "", b"2", pika.BasicProperties(headers={"k": "v"}))
        self.assertEqual(self.collect(ch, {"q": q}), {"q": ["1"]})

    def test_headers_invalid_x_match_value(self):
        ch = self.channel()
        x = self.exchange(ch, "headers")
        q = self.queue(ch, exclusive=True)
        self.assertChannelClosed(
            406, 'PRECONDITION_FAILED - Invalid x-match field value <<"foo">>; expected all, '
                 'any, all-with-x, or any-with-x',
            ch.queue_bind, q, x, "", arguments={"x-match": "foo"})

    def test_headers_invalid_x_match_type(self):
        ch = self.channel()
        x = self.exchange(ch, "headers")
        q = self.queue(ch, exclusive=True)
        self.assertChannelClosed(
            406, "PRECONDITION_FAILED - Invalid x-match field type signedint (value 5); "
                 "expected longstr",
            ch.queue_bind, q, x, "", arguments={"x-match": 5})


if __name__ == "__main__":
    unittest.main()
