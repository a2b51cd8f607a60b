"""Message lifecycle: dead-lettering with x-death, TTL, length limits,
priorities, single active consumer, queue expiry.  The same expectations
hold against RabbitMQ 3.10; the tests marked warren-only exercise what
warren offers beyond it (a delivery limit on classic queues)."""

import time
import unittest

import pika
import pika.exceptions

from helpers import BrokerTestCase, OwnBroker, is_rabbitmq, uname



class DeadLetterTests(BrokerTestCase):

    def dlx_setup(self, ch, **qargs):
        dlx = self.exchange(ch, "fanout")
        dlq = self.queue(ch)
        ch.queue_bind(dlq, dlx)
        args = {"x-dead-letter-exchange": dlx}
        args.update(qargs)
        q = self.queue(ch, arguments=args)
        return dlx, dlq, q

    def test_x_death_fields_on_reject(self):
        ch = self.channel()
        dlx, dlq, q = self.dlx_setup(ch)
        props = pika.BasicProperties(headers={"app": "kept"}, message_id="m1",
                                     content_type="text/plain")
        ch.basic_publish("", q, b"doomed", props)
        m, _p, _b = self.drain_noack(ch, q)
        before = int(time.time())
        ch.basic_nack(m.delivery_tag, requeue=False)
        (dm, dp, body), = self.drain(ch, dlq, 1)
        self.assertEqual(body, b"doomed")
        self.assertEqual(dm.exchange, dlx)
        self.assertEqual(dm.routing_key, q)
        self.assertEqual(dp.message_id, "m1")
        self.assertEqual(dp.content_type, "text/plain")
        h = dp.headers
        self.assertEqual(h["app"], "kept")
        self.assertEqual(h["x-first-death-reason"], "rejected")
        self.assertEqual(h["x-first-death-queue"], q)
        self.assertEqual(h["x-first-death-exchange"], "")
        self.assertEqual(len(h["x-death"]), 1)
        d = h["x-death"][0]
        self.assertEqual(d["count"], 1)
        self.assertEqual(d["reason"], "rejected")
        self.assertEqual(d["queue"], q)
        self.assertEqual(d["exchange"], "")
        self.assertEqual(d["routing-keys"], [q])
        self.assertLessEqual(abs(d["time"].timestamp() - before), 5)
        self.assertNotIn("original-expiration", d)

    def test_dead_letter_routing_key_override(self):
        ch = self.channel()
        dlx = self.exchange(ch, "direct")
        dlq = self.queue(ch)
        ch.queue_bind(dlq, dlx, "parked")
        q = self.queue(ch, arguments={"x-dead-letter-exchange": dlx,
                                      "x-dead-letter-routing-key": "parked"})
        ch.basic_publish("", q, b"x")
        m, _p, _b = self.drain_noack(ch, q)
        ch.basic_reject(m.delivery_tag, requeue=False)
        (dm, dp, _b), = self.drain(ch, dlq, 1)
        self.assertEqual(dm.routing_key, "parked")
        self.assertEqual(dp.headers["x-death"][0]["routing-keys"], [q])

    def test_expired_keeps_original_expiration(self):
        ch = self.channel()
        dlx, dlq, q = self.dlx_setup(ch)
        ch.basic_publish("", q, b"old", pika.BasicProperties(expiration="30"))
        (dm, dp, body), = self.drain(ch, dlq, 1)
        self.assertEqual(body, b"old")
        self.assertIsNone(dp.expiration)
        d = dp.headers["x-death"][0]
        self.assertEqual(d["reason"], "expired")
        self.assertEqual(d["original-expiration"], "30")

    def test_queue_ttl_dead_letters_without_consumer(self):
        ch = self.channel()
        dlx, dlq, q = self.dlx_setup(ch, **{"x-message-ttl": 40})
        for i in range(20):
            ch.basic_publish("", q, b"%d" % i)
        got = self.drain(ch, dlq, 20)
        self.assertEqual([b for _m, _p, b in got], [b"%d" % i for i in range(20)])
        self.assertTrue(all(p.headers["x-death"][0]["reason"] == "expired" for _m, p, _b in got))

    def test_maxlen_dead_letters_head(self):
        ch = self.channel()
        dlx, dlq, q = self.dlx_setup(ch, **{"x-max-length": 2})
        for i in range(4):
            ch.basic_publish("", q, b"%d" % i)
        got = self.drain(ch, dlq, 2)
        self.assertEqual([b for _m, _p, b in got], [b"0", b"1"])
        self.assertEqual(got[0][1].headers["x-death"][0]["reason"], "maxlen")
        self.assertEqual([b for _m, _p, b in self.drain(ch, q, 2)], [b"2", b"3"])

    def test_max_length_bytes(self):
        ch = self.channel()
        q = self.queue(ch, arguments={"x-max-length-bytes": 10})
        for i in range(5):
            ch.basic_publish("", q, b"abcd%d" % i)   # 5 bytes each
        self.assertEqual([b for _m, _p, b in self.drain(ch, q, 5, timeout=0.5)],
                         [b"abcd3", b"abcd4"])

    def test_reject_publish_dlx(self):
        ch = self.channel()
        dlx, dlq, q = self.dlx_setup(ch, **{"x-max-length": 1,
                                            "x-overflow": "reject-publish-dlx"})
        ch.confirm_delivery()
        ch.basic_publish("", q, b"fits")
        with self.assertRaises(pika.exceptions.NackError):
            ch.basic_publish("", q, b"overflow")
        (dm, dp, body), = self.drain(ch, dlq, 1)
        self.assertEqual(body, b"overflow")
        self.assertEqual(dp.headers["x-death"][0]["reason"], "maxlen")
        self.assertEqual(self.message_count(ch, q), 1)

    def test_cycle_with_reject_is_allowed_count_grows(self):
        # q -> (reject) -> dlx -> q again: a rejection breaks no cycle rule, and
        # the x-death entry for (q, rejected) is updated in place: count grows.
        ch = self.channel()
        dlx = self.exchange(ch, "fanout")
        q = self.queue(ch, arguments={"x-dead-letter-exchange": dlx})
        ch.queue_bind(q, dlx)
        ch.basic_publish("", q, b"loop")
        for n in (1, 2, 3):
            m, p, _b = self.drain_noack(ch, q)
            if n > 1:
                self.assertEqual(p.headers["x-death"][0]["count"], n - 1)
            ch.basic_reject(m.delivery_tag, requeue=False)
        m, p, _b = self.drain_noack(ch, q)
        self.assertEqual(len(p.headers["x-death"]), 1)
        self.assertEqual(p.headers["x-death"][0]["count"], 3)
        ch.basic_ack(m.delivery_tag)

    def test_expiry_cycle_is_dropped(self):
        # q (ttl) -> dlx -> q: an automatic cycle; RabbitMQ drops the message
        ch = self.channel()
        dlx = self.exchange(ch, "fanout")
        q = self.queue(ch, arguments={"x-dead-letter-exchange": dlx, "x-message-ttl": 30})
        ch.queue_bind(q, dlx)
        ch.basic_publish("", q, b"spin")
        time.sleep(0.4)
        self.assertEqual(self.message_count(ch, q), 0)

    def test_two_queue_history_most_recent_first(self):
        # a --reject--> b --expire--> c: x-death lists b/expired then a/rejected
        ch = self.channel()
        xb = self.exchange(ch, "fanout")
        xc = self.exchange(ch, "fanout")
        c = self.queue(ch)
        ch.queue_bind(c, xc)
        b = self.queue(ch, arguments={"x-dead-letter-exchange": xc, "x-message-ttl": 20})
        ch.queue_bind(b, xb)
        a = self.queue(ch, arguments={"x-dead-letter-exchange": xb})
        ch.basic_publish("", a, b"hop")
        m, _p, _b = self.drain_noack(ch, a)
        ch.basic_reject(m.delivery_tag, requeue=False)
        (_m, p, _b), = self.drain(ch, c, 1)
        deaths = p.headers["x-death"]
        self.assertEqual([(d["queue"], d["reason"]) for d in deaths],
                         [(b, "expired"), (a, "rejected")])
        self.assertEqual(p.headers["x-first-death-queue"], a)
        self.assertEqual(p.headers["x-first-death-reason"], "rejected")

    def test_missing_dlx_drops(self):
        ch = self.channel()
        q = self.queue(ch, arguments={"x-dead-letter-exchange": uname("nowhere")})
        ch.basic_publish("", q, b"x")
        m, _p, _b = self.drain_noack(ch, q)
        ch.basic_reject(m.delivery_tag, requeue=False)
        self.assertEqual(self.message_count(ch, q), 0)


class TTLTests(BrokerTestCase):

    def test_lower_ttl_wins(self):
        ch = self.channel()
        q = self.queue(ch, arguments={"x-message-ttl": 60000})
        ch.basic_publish("", q, b"short", pika.BasicProperties(expiration="20"))
        time.sleep(0.2)
        self.assertEqual(self.drain(ch, q, 1, timeout=0.3), [])

    def test_ttl_zero_delivers_to_waiting_consumer(self):
        ch = self.channel()
        q = self.queue(ch, arguments={"x-message-ttl": 0})
        got = []
        ch.basic_consume(q, lambda c, m, p, b: got.append(b), auto_ack=True)
        pub = self.channel()
        pub.basic_publish("", q, b"now")
        deadline = time.monotonic() + 3
        while not got and time.monotonic() < deadline:
            ch.connection.process_data_events(0.05)
        self.assertEqual(got, [b"now"])

    def test_ttl_zero_without_consumer_expires(self):
        ch = self.channel()
        q = self.queue(ch, arguments={"x-message-ttl": 0})
        ch.basic_publish("", q, b"gone")
        time.sleep(0.1)
        self.assertEqual(self.drain(ch, q, 1, timeout=0.3), [])

    def test_invalid_expiration(self):
        for value, why in (("soon", "no_integer"), ("-5", "{value_negative,-5}")):
            ch = self.channel()
            q = self.queue(ch)
            ch.basic_publish("", q, b"x", pika.BasicProperties(expiration=value))
            with self.assertRaises(pika.exceptions.ChannelClosedByBroker) as cm:
                ch.queue_declare(q, passive=True)
            self.assertEqual((cm.exception.reply_code, cm.exception.reply_text),
                             (406, "PRECONDITION_FAILED - invalid expiration '%s': %s" % (value, why)))

    def test_invalid_lifecycle_arguments(self):
        cases = [
            ({"x-max-priority": 256}, "{max_value_exceeded,256}"),
            ({"x-max-priority": -1}, "{value_negative,-1}"),
            ({"x-overflow": "bogus"}, "invalid_overflow"),
            ({"x-expires": 0}, "{value_zero,0}"),
            ({"x-single-active-consumer": "yes"}, "{unacceptable_type,longstr}"),
            ({"x-queue-mode": "bogus"}, "\"unsupported queue mode 'bogus'\""),
            ({"x-queue-type": "weird"}, "\"unsupported queue type 'weird'\""),
            ({"x-max-length": "x"}, "\"expected integer, got longstr\""),
            ({"x-dead-letter-routing-key": "k"}, "routing_key_but_no_dlx_defined"),
        ]
        for args, why in cases:
            ch = self.channel()
            q = uname("q")
            key = list(args)[0]
            self.assertChannelClosed(
                406, "PRECONDITION_FAILED - invalid arg '%s' for queue '%s' in vhost '/': %s"
                     % (key, q, why), ch.queue_declare, q, arguments=args)
        ch = self.channel()
        q = uname("q")
        self.assertChannelClosed(
            406, "PRECONDITION_FAILED - invalid type 'signedint' for arg 'x-dead-letter-exchange' "
                 "in queue '%s' in vhost '/'" % q,
            ch.queue_declare, q, arguments={"x-dead-letter-exchange": 5})

    def test_requeued_message_keeps_expiry(self):
        ch = self.channel()
        q = self.queue(ch, arguments={"x-message-ttl": 200})
        ch.basic_publish("", q, b"x")
        m, _p, _b = self.drain_noack(ch, q)
        time.sleep(0.3)
        ch.basic_nack(m.delivery_tag, requeue=True)
        time.sleep(0.1)
        self.assertEqual(self.drain(ch, q, 1, timeout=0.3), [])


class QueueExpiryTests(BrokerTestCase):

    def test_consumer_keeps_queue(self):
        ch = self.channel()
        q = self.queue(ch, arguments={"x-expires": 150})
        tag = ch.basic_consume(q, lambda *a: None, auto_ack=True)
        time.sleep(0.4)
        ch.queue_declare(q, passive=True)
        ch.basic_cancel(tag)
        time.sleep(0.5)
        with self.assertRaises(pika.exceptions.ChannelClosedByBroker) as cm:
            ch.queue_declare(q, passive=True)
        self.assertEqual(cm.exception.reply_code, 404)

    def test_get_resets_clock(self):
        ch = self.channel()
        q = self.queue(ch, arguments={"x-expires": 300})
        for _ in range(4):
            time.sleep(0.15)
            ch.basic_get(q, auto_ack=True)
        ch.queue_declare(q, passive=True)


class PriorityTests(BrokerTestCase):

    def test_priority_order_fifo_within(self):
        ch = self.channel()
        q = self.queue(ch, arguments={"x-max-priority": 5})
        order = [(1, "a"), (5, "b"), (3, "c"), (5, "d"), (0, "e"), (None, "f"), (3, "g")]
        for prio, body in order:
            ch.basic_publish("", q, body.encode(), pika.BasicProperties(priority=prio))
        got = [b.decode() for _m, _p, b in self.drain(ch, q, len(order))]
        self.assertEqual(got, ["b", "d", "c", "g", "a", "e", "f"])

    def test_priority_above_max_is_clamped(self):
        ch = self.channel()
        q = self.queue(ch, arguments={"x-max-priority": 2})
        ch.basic_publish("", q, b"low", pika.BasicProperties(priority=1))
        ch.basic_publish("", q, b"huge", pika.BasicProperties(priority=200))
        ch.basic_publish("", q, b"max", pika.BasicProperties(priority=2))
        got = [b for _m, _p, b in self.drain(ch, q, 3)]
        self.assertEqual(got, [b"huge", b"max", b"low"])

    def test_requeue_keeps_priority_position(self):
        ch = self.channel()
        q = self.queue(ch, arguments={"x-max-priority": 3})
        for prio, body in ((3, b"h1"), (3, b"h2"), (1, b"l1")):
            ch.basic_publish("", q, body, pika.BasicProperties(priority=prio))
        m, _p, b = self.drain_noack(ch, q)
        self.assertEqual(b, b"h1")
        ch.basic_nack(m.delivery_tag, requeue=True)
        got = [(b, m.redelivered) for m, _p, b in self.drain(ch, q, 3)]
        self.assertEqual(got, [(b"h1", True), (b"h2", False), (b"l1", False)])

    def test_no_priority_queue_ignores_priority(self):
        ch = self.channel()
        q = self.queue(ch)
        ch.basic_publish("", q, b"first", pika.BasicProperties(priority=0))
        ch.basic_publish("", q, b"second", pika.BasicProperties(priority=9))
        self.assertEqual([b for _m, _p, b in self.drain(ch, q, 2)], [b"first", b"second"])


class SingleActiveConsumerTests(BrokerTestCase):

    def test_only_one_consumer_receives_then_next_takes_over(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch, arguments={"x-single-active-consumer": True})
        got = {"a": [], "b": []}
        ta = ch.basic_consume(q, lambda c_, m, p, b: got["a"].append(b), auto_ack=True)
        ch.basic_consume(q, lambda c_, m, p, b: got["b"].append(b), auto_ack=True)
        pub = self.channel()
        for i in range(6):
            pub.basic_publish("", q, b"%d" % i)
        deadline = time.monotonic() + 3
        while len(got["a"]) + len(got["b"]) < 6 and time.monotonic() < deadline:
            c.process_data_events(0.05)
        self.assertEqual(len(got["a"]), 6)
        self.assertEqual(got["b"], [])
        ch.basic_cancel(ta)
        for i in range(3):
            pub.basic_publish("", q, b"x%d" % i)
        deadline = time.monotonic() + 3
        while len(got["b"]) < 3 and time.monotonic() < deadline:
            c.process_data_events(0.05)
        self.assertEqual(got["b"], [b"x0", b"x1", b"x2"])


class ConsumerPriorityTests(BrokerTestCase):

    def consume_counts(self, conn, consumers, n):
        got = {name: [] for name, _ch, _q, _prio in consumers}
        for name, ch, q, prio in consumers:
            ch.basic_consume(q, lambda c, m, p, b, name=name: got[name].append(b),
                             arguments={"x-priority": prio} if prio is not None else None)
        deadline = time.monotonic() + 3
        while sum(len(v) for v in got.values()) < n and time.monotonic() < deadline:
            conn.process_data_events(0.05)
        conn.process_data_events(0.2)
        return got

    def test_higher_priority_served_first_until_full(self):
        c = self.connect()
        q = self.queue(c.channel())
        a, b = c.channel(), c.channel()
        a.basic_qos(prefetch_count=2)
        b.basic_qos(prefetch_count=2)
        got = self.consume_counts(c, [("low", b, q, 1), ("high", a, q, 5)], 0)
        pub = self.channel()
        for i in range(3):
            pub.basic_publish("", q, b"%d" % i)
        deadline = time.monotonic() + 3
        while len(got["low"]) + len(got["high"]) < 3 and time.monotonic() < deadline:
            c.process_data_events(0.05)
        self.assertEqual(got["high"], [b"0", b"1"])
        self.assertEqual(got["low"], [b"2"])

    def test_single_active_consumer_first_registered_stays_active(self):
        c = self.connect()
        q = self.queue(c.channel(), arguments={"x-single-active-consumer": True})
        first, second = c.channel(), c.channel()
        got = self.consume_counts(c, [("first", first, q, 1), ("second", second, q, 9)], 0)
        pub = self.channel()
        for i in range(3):
            pub.basic_publish("", q, b"%d" % i)
        deadline = time.monotonic() + 3
        while len(got["first"]) + len(got["second"]) < 3 and time.monotonic() < deadline:
            c.process_data_events(0.05)
        self.assertEqual((got["first"], got["second"]), ([b"0", b"1", b"2"], []))


class DeliveryLimitTests(BrokerTestCase):
    """warren-only: x-delivery-limit on classic queues."""

    def test_poison_message_parked(self):
        c = self.connect()
        if is_rabbitmq(c):
            self.skipTest("x-delivery-limit on classic queues is warren's extension")
        ch = c.channel()
        park = self.queue(ch)
        q = self.queue(ch, arguments={"x-delivery-limit": 2, "x-dead-letter-exchange": "",
                                      "x-dead-letter-routing-key": park})
        ch.basic_publish("", q, b"poison")
        for _ in range(3):
            m, _p, _b = self.drain_noack(ch, q)
            ch.basic_nack(m.delivery_tag, requeue=True)
        (_m, p, b), = self.drain(ch, park, 1)
        self.assertEqual(b, b"poison")
        self.assertEqual(p.headers["x-death"][0]["reason"], "delivery_limit")
        self.assertEqual(self.message_count(ch, q), 0)


class ConsumerTimeoutTests(BrokerTestCase):

    def test_consumer_timeout_closes_channel(self):
        # RabbitMQ's consumer_timeout, shortened through the configuration file
        b = OwnBroker(self, "consumer_timeout = 300\n")
        c = b.connect()
        ch = c.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.basic_publish("", q, b"slow")
        reasons = []
        ch._impl.add_on_close_callback(lambda _ch, reason: reasons.append(reason))
        ch.basic_consume(q, lambda *a: None)
        deadline = time.monotonic() + 5
        while not reasons and time.monotonic() < deadline:
            c.process_data_events(0.05)
        self.assertEqual(len(reasons), 1)
        self.assertIsInstance(reasons[0], pika.exceptions.ChannelClosedByBroker)
        self.assertEqual(reasons[0].reply_code, 406)
        self.assertEqual(
            reasons[0].reply_text,
            "PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. Timeout "
            "value used: 300 ms. This timeout value can be configured, see consumers doc "
            "guide to learn more")
        # the delivery went back to the queue
        m, _p, b_ = c.channel().basic_get(q, auto_ack=True)
        self.assertEqual((b_, m.redelivered), (b"slow", True))

    def test_queue_consumer_timeout_cancels_only_that_consumer(self):
        c = self.connect()
        if is_rabbitmq(c):
            self.skipTest("x-consumer-timeout is warren's extension")
        ch = c.channel()
        q = self.queue(ch, arguments={"x-consumer-timeout": 200})
        other = self.queue(ch)
        ch.basic_publish("", q, b"stuck")
        cancelled = []
        ch.add_on_cancel_callback(lambda frame: cancelled.append(frame.method.consumer_tag))
        tag = ch.basic_consume(q, lambda *a: None)
        deadline = time.monotonic() + 3
        while not cancelled and time.monotonic() < deadline:
            c.process_data_events(0.05)
        self.assertEqual(cancelled, [tag])
        # the channel is still open and the message is back in the queue
        ch.basic_publish("", other, b"fine")
        self.assertEqual([b for _m, _p, b in self.drain(ch, other, 1)], [b"fine"])
        (m, _p, b), = self.drain(ch, q, 1)
        self.assertEqual((b, m.redelivered), (b"stuck", True))


class PolicyTests(BrokerTestCase):
    """Policies set through the management API take effect on existing queues."""

    def api(self, method, path, body=None):
        import base64
        import json
        import os
        import urllib.request
        port = os.environ.get("MGMT_PORT")
        if not port:
            self.skipTest("needs MGMT_PORT")
        req = urllib.request.Request("http://127.0.0.1:%s/api/%s" % (port, path),
                                     data=json.dumps(body).encode() if body is not None else None,
                                     method=method)
        req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status

    def policy(self, name, pattern, definition, priority=0):
        self.api("PUT", "policies/%2F/" + name,
                 {"pattern": pattern, "definition": definition, "apply-to": "queues",
                  "priority": priority})
        self.addCleanup(lambda: self.api("DELETE", "policies/%2F/" + name))

    def test_policy_limits_existing_queue_and_lifting_it(self):
        ch = self.channel()
        q = self.queue(ch, name=uname("polq"))
        name = uname("p")
        self.api("PUT", "policies/%2F/" + name,
                 {"pattern": "^" + q + "$", "definition": {"max-length": 1}, "apply-to": "queues"})
        time.sleep(0.3)     # RabbitMQ applies policies asynchronously
        for i in range(3):
            ch.basic_publish("", q, b"%d" % i)
        self.assertEqual([b for _m, _p, b in self.drain(ch, q, 3, timeout=0.5)], [b"2"])
        self.api("DELETE", "policies/%2F/" + name)
        time.sleep(0.3)
        for i in range(3):
            ch.basic_publish("", q, b"%d" % i)
        self.assertEqual([b for _m, _p, b in self.drain(ch, q, 3, timeout=0.5)],
                         [b"0", b"1", b"2"])

    def test_argument_smaller_than_policy_wins(self):
        ch = self.channel()
        q = self.queue(ch, name=uname("polq"), arguments={"x-max-length": 1})
        self.policy(uname("p"), "^" + q + "$", {"max-length": 5})
        time.sleep(0.3)
        for i in range(3):
            ch.basic_publish("", q, b"%d" % i)
        self.assertEqual([b for _m, _p, b in self.drain(ch, q, 3, timeout=0.5)], [b"2"])

    def test_policy_dead_letter_exchange(self):
        ch = self.channel()
        dlx = self.exchange(ch, "fanout")
        dlq = self.queue(ch)
        ch.queue_bind(dlq, dlx)
        q = self.queue(ch, name=uname("polq"))
        self.policy(uname("p"), "^" + q + "$", {"dead-letter-exchange": dlx, "message-ttl": 50})
        time.sleep(0.3)
        ch.basic_publish("", q, b"expire me")
        (_m, p, body), = self.drain(ch, dlq, 1)
        self.assertEqual(body, b"expire me")
        self.assertEqual(p.headers["x-death"][0]["reason"], "expired")


class WorkQueueScenarioTests(BrokerTestCase):
    """A consumer rejects every third message; rejected ones wait in a
    delay queue (TTL + DLX back to the work queue); on warren a delivery
    limit parks a poison message.  Checks where each message ends up."""

    def test_retry_through_delay_queue(self):
        c = self.connect()
        ch = c.channel()
        work_x = self.exchange(ch, "direct")
        retry_x = self.exchange(ch, "direct")
        work = self.queue(ch, arguments={"x-dead-letter-exchange": retry_x,
                                         "x-dead-letter-routing-key": "retry"})
        ch.queue_bind(work, work_x, "work")
        delay = self.queue(ch, arguments={"x-message-ttl": 50,
                                          "x-dead-letter-exchange": work_x,
                                          "x-dead-letter-routing-key": "work"})
        ch.queue_bind(delay, retry_x, "retry")
        for i in range(9):
            ch.basic_publish(work_x, "work", b"job-%d" % i)
        done, seen = [], 0
        deadline = time.monotonic() + 10
        while len(done) < 9 and time.monotonic() < deadline:
            m, p, b = ch.basic_get(work, auto_ack=False)
            if m is None:
                c.sleep(0.02)
                continue
            seen += 1
            retried = p.headers and "x-death" in p.headers
            if seen % 3 == 0 and not retried:
                ch.basic_reject(m.delivery_tag, requeue=False)
            else:
                ch.basic_ack(m.delivery_tag)
                done.append((b, bool(retried)))
        self.assertEqual(sorted(b for b, _r in done), [b"job-%d" % i for i in range(9)])
        self.assertEqual(sum(1 for _b, r in done if r), 3)
        self.assertEqual(self.message_count(ch, work), 0)
        self.assertEqual(self.message_count(ch, delay), 0)

    def test_retry_and_park_poison(self):
        # The whole pattern on warren: every third job is rejected once and
        # retried through the delay queue; poison jobs make the consumer
        # requeue them until the delivery limit parks them.  A headers
        # exchange sorts what dies by reason (x-match all-with-x).
        c = self.connect()
        if is_rabbitmq(c):
            self.skipTest("x-delivery-limit on classic queues is warren's extension")
        ch = c.channel()
        work_x = self.exchange(ch, "direct")
        dead_x = self.exchange(ch, "headers")
        work = self.queue(ch, arguments={"x-dead-letter-exchange": dead_x,
                                         "x-delivery-limit": 2})
        ch.queue_bind(work, work_x, "work")
        delay = self.queue(ch, arguments={"x-message-ttl": 50, "x-dead-letter-exchange": work_x,
                                          "x-dead-letter-routing-key": "work"})
        park = self.queue(ch)
        ch.queue_bind(delay, dead_x, arguments={"x-match": "all-with-x",
                                                "x-first-death-reason": "rejected"})
        ch.queue_bind(park, dead_x, arguments={"x-match": "all-with-x",
                                               "x-first-death-reason": "delivery_limit"})
        jobs = [b"job-%d" % i for i in range(9)] + [b"poison-a", b"poison-b"]
        for j in jobs:
            ch.basic_publish(work_x, "work", j)
        done, seen = [], 0
        deadline = time.monotonic() + 10
        while len(done) < 9 and time.monotonic() < deadline:
            m, p, b = ch.basic_get(work, auto_ack=False)
            if m is None:
                c.sleep(0.02)
                continue
            if b.startswith(b"poison"):
                ch.basic_nack(m.delivery_tag, requeue=True)     # the consumer chokes on it
                continue
            seen += 1
            if seen % 3 == 0 and not (p.headers and "x-death" in p.headers):
                ch.basic_reject(m.delivery_tag, requeue=False)
            else:
                ch.basic_ack(m.delivery_tag)
                done.append(b)
        self.assertEqual(sorted(done), sorted(jobs[:9]))
        parked = self.drain(ch, park, 2)
        self.assertEqual(sorted(b for _m, _p, b in parked), [b"poison-a", b"poison-b"])
        for _m, p, _b in parked:
            self.assertEqual(p.headers["x-death"][0]["reason"], "delivery_limit")
        for q in (work, delay, park):
            self.assertEqual(self.message_count(ch, q), 0)


if __name__ == "__main__":
    unittest.main()
