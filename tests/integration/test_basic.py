"""basic.*: publish (mandatory, immediate, missing exchange), consume and
cancel, get, ack / nack / reject / recover, qos prefetch."""

import time
import unittest

import pika
import pika.exceptions
import pika.spec

from helpers import BrokerTestCase, uname, not_found_exchange, not_found_queue, HOST, PORT
import amqpframe as af


def unknown_tag(n):
    return "PRECONDITION_FAILED - unknown delivery tag %d" % n


class PublishTests(BrokerTestCase):

    def test_mandatory_unroutable_returned(self):
        ch = self.channel()
        x = self.exchange(ch, "direct")
        returned = []
        ch.add_on_return_callback(lambda c, m, p, b: returned.append((m, p, b)))
        ch.basic_publish(x, "nowhere", b"back to sender",
                         pika.BasicProperties(message_id="mid-1"), mandatory=True)
        self.assertTrue(self.wait_for(lambda: returned, conn=ch.connection))
        m, p, b = returned[0]
        self.assertEqual(m.reply_code, 312)
        self.assertEqual(m.reply_text, "NO_ROUTE")
        self.assertEqual(m.exchange, x)
        self.assertEqual(m.routing_key, "nowhere")
        self.assertEqual(p.message_id, "mid-1")
        self.assertEqual(b, b"back to sender")

    def test_mandatory_default_exchange_no_queue(self):
        ch = self.channel()
        returned = []
        ch.add_on_return_callback(lambda c, m, p, b: returned.append((m.reply_code, m.reply_text, m.exchange)))
        ch.basic_publish("", uname("noqueue"), b"x", mandatory=True)
        self.assertTrue(self.wait_for(lambda: returned, conn=ch.connection))
        self.assertEqual(returned, [(312, "NO_ROUTE", "")])

    def test_mandatory_routed_not_returned(self):
        ch = self.channel()
        q = self.queue(ch, exclusive=True)
        returned = []
        ch.add_on_return_callback(lambda *a: returned.append(a))
        ch.basic_publish("", q, b"x", mandatory=True)
        ch.connection.process_data_events(time_limit=0.2)
        self.assertEqual(returned, [])
        self.assertMessageCount(ch, q, 1)

    def test_not_mandatory_unroutable_dropped(self):
        ch = self.channel()
        x = self.exchange(ch, "fanout")
        returned = []
        ch.add_on_return_callback(lambda *a: returned.append(a))
        ch.basic_publish(x, "", b"dropped")
        ch.connection.process_data_events(time_limit=0.2)
        self.assertEqual(returned, [])
        self.assertTrue(ch.is_open)

    def test_mandatory_return_with_confirm(self):
        # with confirms on, an unroutable mandatory message is returned and
        # then acked; pika's blocking channel turns that into UnroutableError
        ch = self.channel()
        ch.confirm_delivery()
        x = self.exchange(ch, "direct")
        with self.assertRaises(pika.exceptions.UnroutableError) as cm:
            ch.basic_publish(x, "nowhere", b"x", mandatory=True)
        self.assertEqual(cm.exception.messages[0].method.reply_code, 312)
        self.assertEqual(cm.exception.messages[0].method.reply_text, "NO_ROUTE")

    def test_immediate_not_implemented(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch, exclusive=True)
        ch._impl._send_method(
            pika.spec.Basic.Publish(exchange="", routing_key=q, immediate=True),
            (pika.BasicProperties(), b"x"))
        self.assertConnectionClosed(540, "NOT_IMPLEMENTED - immediate=true",
                                    ch.queue_declare, "", exclusive=True)

    def test_publish_missing_exchange(self):
        ch = self.channel()
        x = uname("x")
        ch.basic_publish(x, "k", b"x")
        self.assertChannelClosed(404, not_found_exchange(x),
                                 ch.queue_declare, "", exclusive=True)

    def test_publish_empty_body(self):
        ch = self.channel()
        q = self.queue(ch, exclusive=True)
        ch.basic_publish("", q, b"")
        m, p, b = self.drain(ch, q, 1)[0]
        self.assertEqual(b, b"")

    def test_delivery_fields(self):
        ch = self.channel()
        x = self.exchange(ch, "topic")
        q = self.queue(ch, exclusive=True)
        ch.queue_bind(q, x, "a.#")
        ch.basic_publish(x, "a.b.c", b"x")
        m, _p, _b = self.drain(ch, q, 1)[0]
        self.assertEqual(m.exchange, x)
        self.assertEqual(m.routing_key, "a.b.c")
        self.assertFalse(m.redelivered)


class GetTests(BrokerTestCase):

    def test_get_empty(self):
        ch = self.channel()
        q = self.queue(ch, exclusive=True)
        m, p, b = ch.basic_get(q)
        self.assertIsNone(m)

    def test_get_message_count(self):
        ch = self.channel()
        q = self.queue(ch, exclusive=True)
        for i in range(3):
            ch.basic_publish("", q, b"m%d" % i)
        self.assertMessageCount(ch, q, 3)
        counts = []
        for i in range(3):
            m, _p, b = ch.basic_get(q, auto_ack=True)
            counts.append((m.message_count, b))
        self.assertEqual(counts, [(2, b"m0"), (1, b"m1"), (0, b"m2")])
        self.assertEqual(ch.basic_get(q)[0], None)

    def test_get_delivery_tags_increase(self):
        ch = self.channel()
        q = self.queue(ch, exclusive=True)
        for i in range(3):
            ch.basic_publish("", q, b"x")
        self.assertMessageCount(ch, q, 3)
        tags = [ch.basic_get(q)[0].delivery_tag for _ in range(3)]
        self.assertEqual(tags, [1, 2, 3])
        ch.basic_ack(3, multiple=True)
        self.assertMessageCount(ch, q, 0)

    def test_get_missing_queue(self):
        ch = self.channel()
        q = uname("q")
        self.assertChannelClosed(404, not_found_queue(q), ch.basic_get, q)

    def test_get_no_ack_then_close_loses_nothing_else(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch)
        ch.basic_publish("", q, b"a")
        ch.basic_publish("", q, b"b")
        self.assertMessageCount(ch, q, 2)
        ch.basic_get(q, auto_ack=True)
        ch.basic_get(q, auto_ack=False)
        c.close()
        ch = self.channel()
        got = self.drain(ch, q, 2, timeout=1)
        self.assertEqual([(m.redelivered, b) for m, _p, b in got], [(True, b"b")])


class ConsumeTests(BrokerTestCase):

    def test_consume_server_named_tag(self):
        # pika always picks its own tag, so ask with an empty one on raw frames
        r = af.RawConnection(HOST, PORT)
        self.addCleanup(r.close)
        r.handshake()
        r.open_channel(1)
        r.send(af.method(1, "queue.declare", 0, "", False, False, True, True, False, {}))
        q = r.expect("queue.declare-ok").args[0]
        tags = set()
        for _ in range(2):
            r.send(af.method(1, "basic.consume", 0, q, "", False, False, False, False, {}))
            tag = r.expect("basic.consume-ok").args[0]
            self.assertTrue(tag.startswith("amq.ctag-"), tag)
            tags.add(tag)
        self.assertEqual(len(tags), 2)
        r.send(af.method(1, "basic.cancel", tags.pop(), False))
        r.expect("basic.cancel-ok")

    def test_consume_order(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch, exclusive=True)
        got = []
        tag = ch.basic_consume(q, lambda c_, m, p, b: got.append((m.consumer_tag, b)),
                               auto_ack=True)
        for i in range(20):
            ch.basic_publish("", q, b"%d" % i)
        self.assertTrue(self.wait_for(lambda: len(got) == 20, conn=c))
        self.assertEqual(got, [(tag, b"%d" % i) for i in range(20)])

    def test_consume_client_tag(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch, exclusive=True)
        tag = ch.basic_consume(q, lambda *a: None, consumer_tag="my-tag")
        self.assertEqual(tag, "my-tag")
        self.assertEqual(ch.queue_declare(q, passive=True).method.consumer_count, 1)
        ch.basic_cancel("my-tag")
        self.assertEqual(ch.queue_declare(q, passive=True).method.consumer_count, 0)

    def test_consume_missing_queue(self):
        ch = self.channel()
        q = uname("q")
        self.assertChannelClosed(404, not_found_queue(q), ch.basic_consume, q, lambda *a: None)

    def test_exclusive_consumer_conflict(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch)
        ch.basic_consume(q, lambda *a: None, exclusive=True)
        ch2 = self.channel()
        self.assertChannelClosed(
            403, "ACCESS_REFUSED - queue '%s' in vhost '/' in exclusive use" % q,
            ch2.basic_consume, q, lambda *a: None)

    def test_exclusive_consume_when_others_exist(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch)
        ch.basic_consume(q, lambda *a: None)
        ch2 = self.channel()
        self.assertChannelClosed(
            403, "ACCESS_REFUSED - queue '%s' in vhost '/' in exclusive use" % q,
            ch2.basic_consume, q, lambda *a: None, exclusive=True)

    def test_exclusive_consumer_released_on_cancel(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch)
        tag = ch.basic_consume(q, lambda *a: None, exclusive=True)
        ch.basic_cancel(tag)
        ch2 = self.channel()
        ch2.basic_consume(q, lambda *a: None, exclusive=True)

    def test_duplicate_consumer_tag(self):
        # pika refuses duplicate tags itself, so speak raw frames
        r = af.RawConnection(HOST, PORT)
        self.addCleanup(r.close)
        r.handshake()
        r.open_channel(1)
        r.send(af.method(1, "queue.declare", 0, "", False, False, True, True, False, {}))
        q = r.expect("queue.declare-ok").args[0]
        r.send(af.method(1, "basic.consume", 0, q, "dup", False, False, False, False, {}))
        self.assertEqual(r.expect("basic.consume-ok").args, ["dup"])
        r.send(af.method(1, "basic.consume", 0, q, "dup", False, False, False, False, {}))
        f = r.read_close()
        self.assertIsNotNone(f)
        self.assertEqual((f.name, f.channel), ("connection.close", 0))
        self.assertEqual(f.args, [530, "NOT_ALLOWED - attempt to reuse consumer tag 'dup'",
                                  60, 20])

    def test_cancel_stops_delivery(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch, exclusive=True)
        got = []
        tag = ch.basic_consume(q, lambda c_, m, p, b: got.append(b), auto_ack=True)
        ch.basic_publish("", q, b"1")
        self.assertTrue(self.wait_for(lambda: got, conn=c))
        ch.basic_cancel(tag)
        ch.basic_publish("", q, b"2")
        c.process_data_events(time_limit=0.2)
        self.assertEqual(got, [b"1"])
        self.assertMessageCount(ch, q, 1)

    def test_cancel_unknown_tag_is_ok(self):
        ch = self.channel()
        ch._impl.basic_cancel("no-such-tag")
        ch.queue_declare("", exclusive=True)
        self.assertTrue(ch.is_open)

    def test_ack_after_cancel(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch)
        got = []
        tag = ch.basic_consume(q, lambda c_, m, p, b: got.append(m.delivery_tag))
        ch.basic_publish("", q, b"x")
        self.assertTrue(self.wait_for(lambda: got, conn=c))
        ch.basic_cancel(tag)
        ch.basic_ack(got[0])
        ch.queue_declare(q, passive=True)
        self.assertTrue(ch.is_open)
        c.close()
        ch = self.channel()
        self.assertMessageCount(ch, q, 0)

    def test_unacked_requeued_on_channel_close(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch)
        for i in range(3):
            ch.basic_publish("", q, b"m%d" % i)
        got = []
        ch.basic_consume(q, lambda c_, m, p, b: got.append(b))
        self.assertTrue(self.wait_for(lambda: len(got) == 3, conn=c))
        ch.close()
        ch = c.channel()
        again = self.drain(ch, q, 3)
        self.assertEqual([(m.redelivered, b) for m, _p, b in again],
                         [(True, b"m0"), (True, b"m1"), (True, b"m2")])

    def test_round_robin_between_consumers(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch, exclusive=True)
        got = {"a": [], "b": []}
        ch.basic_consume(q, lambda c_, m, p, b: got["a"].append(b), auto_ack=True)
        ch.basic_consume(q, lambda c_, m, p, b: got["b"].append(b), auto_ack=True)
        for i in range(10):
            ch.basic_publish("", q, b"%d" % i)
        self.assertTrue(self.wait_for(lambda: len(got["a"]) + len(got["b"]) == 10, conn=c))
        self.assertEqual(len(got["a"]), 5)
        self.assertEqual(len(got["b"]), 5)

    def test_server_cancel_on_queue_delete(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch)
        cancelled = []
        ch.add_on_cancel_callback(lambda frame: cancelled.append(frame.method))
        tag = ch.basic_consume(q, lambda *a: None)
        other = self.channel()
        other.queue_delete(q)
        self.assertTrue(self.wait_for(lambda: cancelled, conn=c))
        self.assertEqual(cancelled[0].consumer_tag, tag)
        self.assertTrue(ch.is_open)
        # the channel still works
        ch.queue_declare("", exclusive=True)

    def test_server_cancel_raw_frame(self):
        # the broker sends basic.cancel(tag, nowait=false) to a client that
        # announced consumer_cancel_notify
        r = af.RawConnection(HOST, PORT)
        self.addCleanup(r.close)
        r.handshake()
        r.open_channel(1)
        q = uname("q")
        self.track_queue(q)
        r.send(af.method(1, "queue.declare", 0, q, False, False, False, False, False, {}))
        r.expect("queue.declare-ok")
        r.send(af.method(1, "basic.consume", 0, q, "c1", False, False, False, False, {}))
        r.expect("basic.consume-ok")
        self.channel().queue_delete(q)
        f = r.expect("basic.cancel")
        self.assertEqual(f.channel, 1)
        self.assertEqual(f.args[0], "c1")


class AckTests(BrokerTestCase):

    def publish_and_get(self, ch, q, n):
        for i in range(n):
            ch.basic_publish("", q, b"m%d" % i)
        self.assertMessageCount(ch, q, n)
        return [ch.basic_get(q)[0].delivery_tag for _ in range(n)]

    def test_ack_unknown_tag(self):
        ch = self.channel()
        ch.basic_ack(5)
        self.assertChannelClosed(406, unknown_tag(5), ch.queue_declare, "", exclusive=True)

    def test_ack_tag_zero_single(self):
        ch = self.channel()
        ch.basic_ack(0)
        self.assertChannelClosed(406, unknown_tag(0), ch.queue_declare, "", exclusive=True)

    def test_ack_zero_multiple_nothing_outstanding(self):
        ch = self.channel()
        ch.basic_ack(0, multiple=True)
        ch.queue_declare("", exclusive=True)
        self.assertTrue(ch.is_open)

    def test_nack_and_reject_unknown_tag(self):
        ch = self.channel()
        ch.basic_nack(7)
        self.assertChannelClosed(406, unknown_tag(7), ch.queue_declare, "", exclusive=True)
        ch = self.channel()
        ch.basic_reject(9)
        self.assertChannelClosed(406, unknown_tag(9), ch.queue_declare, "", exclusive=True)
        ch = self.channel()
        ch.basic_ack(9, multiple=True)
        self.assertChannelClosed(406, unknown_tag(9), ch.queue_declare, "", exclusive=True)

    def test_double_ack(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch)
        tags = self.publish_and_get(ch, q, 1)
        ch.basic_ack(tags[0])
        ch.basic_ack(tags[0])
        self.assertChannelClosed(406, unknown_tag(tags[0]), ch.queue_declare, "", exclusive=True)

    def test_ack_on_other_channel_unknown(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch)
        tags = self.publish_and_get(ch, q, 1)
        ch2 = c.channel()
        ch2.basic_ack(tags[0])
        self.assertChannelClosed(406, unknown_tag(tags[0]), ch2.queue_declare, "",
                                 exclusive=True)
        self.assertTrue(ch.is_open)

    def test_ack_multiple(self):
        ch = self.channel()
        q = self.queue(ch, exclusive=True)
        tags = self.publish_and_get(ch, q, 5)
        ch.basic_ack(tags[2], multiple=True)    # acks 1, 2, 3
        ch.basic_nack(tags[4], requeue=True)    # 5 back
        self.assertMessageCount(ch, q, 1)
        ch.basic_ack(tags[3])
        ch.basic_ack(tags[2])
        self.assertChannelClosed(406, unknown_tag(tags[2]), ch.queue_declare, "",
                                 exclusive=True)

    def test_nack_multiple_requeue(self):
        ch = self.channel()
        q = self.queue(ch, exclusive=True)
        tags = self.publish_and_get(ch, q, 4)
        ch.basic_nack(tags[2], multiple=True, requeue=True)
        got = self.drain(ch, q, 4, timeout=1)
        self.assertEqual([(m.redelivered, b) for m, _p, b in got],
                         [(True, b"m0"), (True, b"m1"), (True, b"m2")])
        ch.basic_ack(tags[3])

    def test_nack_requeue_false_drops(self):
        ch = self.channel()
        q = self.queue(ch, exclusive=True)
        tags = self.publish_and_get(ch, q, 3)
        ch.basic_nack(tags[1], multiple=True, requeue=False)
        ch.basic_reject(tags[2], requeue=False)
        self.assertMessageCount(ch, q, 0)
        self.assertEqual(ch.basic_get(q)[0], None)

    def test_reject_requeue(self):
        ch = self.channel()
        q = self.queue(ch, exclusive=True)
        tags = self.publish_and_get(ch, q, 1)
        ch.basic_reject(tags[0], requeue=True)
        m, _p, b = self.drain_noack(ch, q)
        self.assertTrue(m.redelivered)
        self.assertEqual(b, b"m0")
        self.assertEqual(m.delivery_tag, 2)

    def test_requeue_order_original_position(self):
        # a requeued message goes back to its original place: ahead of
        # messages published after it
        ch = self.channel()
        q = self.queue(ch, exclusive=True)
        for i in range(4):
            ch.basic_publish("", q, b"m%d" % i)
        self.assertMessageCount(ch, q, 4)
        tags = [ch.basic_get(q)[0].delivery_tag for _ in range(3)]   # m0 m1 m2 out
        ch.basic_nack(tags[1], requeue=True)                          # m1 back
        got = self.drain(ch, q, 2)
        self.assertEqual([(m.redelivered, b) for m, _p, b in got],
                         [(True, b"m1"), (False, b"m3")])
        ch.basic_nack(tags[2], multiple=True, requeue=True)           # m0, m2 back
        got = self.drain(ch, q, 2)
        self.assertEqual([(m.redelivered, b) for m, _p, b in got],
                         [(True, b"m0"), (True, b"m2")])

    def test_requeue_order_out_of_order_rejects(self):
        ch = self.channel()
        q = self.queue(ch, exclusive=True)
        for i in range(5):
            ch.basic_publish("", q, b"m%d" % i)
        self.assertMessageCount(ch, q, 5)
        tags = [ch.basic_get(q)[0].delivery_tag for _ in range(4)]
        ch.basic_reject(tags[3], requeue=True)
        ch.basic_reject(tags[0], requeue=True)
        ch.basic_nack(tags[2], requeue=True)
        got = self.drain(ch, q, 4)
        self.assertEqual([(m.redelivered, b) for m, _p, b in got],
                         [(True, b"m0"), (True, b"m2"), (True, b"m3"), (False, b"m4")])
        ch.basic_ack(tags[1])

    def test_recover_requeue(self):
        ch = self.channel()
        q = self.queue(ch, exclusive=True)
        for i in range(3):
            ch.basic_publish("", q, b"m%d" % i)
        self.assertMessageCount(ch, q, 3)
        tags = [ch.basic_get(q)[0].delivery_tag for _ in range(2)]
        self.assertEqual(tags, [1, 2])
        ch.basic_recover(requeue=True)
        got = self.drain(ch, q, 3)
        self.assertEqual([(m.delivery_tag, m.redelivered, b) for m, _p, b in got],
                         [(3, True, b"m0"), (4, True, b"m1"), (5, False, b"m2")])

    def test_recover_redelivers_to_consumer(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch, exclusive=True)
        got = []
        ch.basic_consume(q, lambda c_, m, p, b: got.append((m.redelivered, b)))
        ch.basic_publish("", q, b"x")
        self.assertTrue(self.wait_for(lambda: got, conn=c))
        ch.basic_recover(requeue=True)
        self.assertTrue(self.wait_for(lambda: len(got) == 2, conn=c))
        self.assertEqual(got, [(False, b"x"), (True, b"x")])

    def test_recover_no_requeue_not_implemented(self):
        ch = self.channel()
        ch._impl.basic_recover(requeue=False)
        self.assertConnectionClosed(540, "NOT_IMPLEMENTED - requeue=false",
                                    ch.queue_declare, "", exclusive=True)


class QosTests(BrokerTestCase):

    def consume_counts(self, c, ch, queues, settle=0.5):
        got = {}
        for name, q in queues.items():
            ch.basic_consume(q, (lambda n: lambda c_, m, p, b: got.setdefault(n, []).append(b))(name))
        c.process_data_events(time_limit=settle)
        return {k: len(v) for k, v in got.items()}

    def filled_queue(self, ch, n=10):
        q = self.queue(ch, exclusive=True)
        for i in range(n):
            ch.basic_publish("", q, b"m%d" % i)
        self.assertMessageCount(ch, q, n)
        return q

    def test_prefetch_per_consumer(self):
        c = self.connect()
        ch = c.channel()
        q = self.filled_queue(ch)
        ch.basic_qos(prefetch_count=2)
        self.assertEqual(self.consume_counts(c, ch, {"a": q}), {"a": 2})
        self.assertEqual(ch.queue_declare(q, passive=True).method.message_count, 8)

    def test_prefetch_ack_releases_credit(self):
        c = self.connect()
        ch = c.channel()
        q = self.filled_queue(ch)
        ch.basic_qos(prefetch_count=2)
        got = []
        ch.basic_consume(q, lambda c_, m, p, b: got.append(m.delivery_tag))
        c.process_data_events(time_limit=0.3)
        self.assertEqual(len(got), 2)
        ch.basic_ack(got[0])
        c.process_data_events(time_limit=0.3)
        self.assertEqual(len(got), 3)
        ch.basic_ack(got[-1], multiple=True)
        c.process_data_events(time_limit=0.3)
        self.assertEqual(len(got), 5)

    def test_prefetch_global_shared_by_consumers(self):
        c = self.connect()
        ch = c.channel()
        q = self.filled_queue(ch)
        ch.basic_qos(prefetch_count=3, global_qos=True)
        counts = self.consume_counts(c, ch, {"a": q, "b": q})
        self.assertEqual(sum(counts.values()), 3)

    def test_prefetch_global_across_queues(self):
        c = self.connect()
        ch = c.channel()
        q1, q2 = self.filled_queue(ch), self.filled_queue(ch)
        ch.basic_qos(prefetch_count=3, global_qos=True)
        counts = self.consume_counts(c, ch, {"a": q1, "b": q2})
        self.assertEqual(sum(counts.values()), 3)

    def test_prefetch_both_per_consumer_then_global(self):
        # per-consumer 2 and channel-wide 3: each consumer <= 2, all <= 3
        c = self.connect()
        ch = c.channel()
        q1, q2 = self.filled_queue(ch), self.filled_queue(ch)
        ch.basic_qos(prefetch_count=2)
        ch.basic_qos(prefetch_count=3, global_qos=True)
        counts = self.consume_counts(c, ch, {"a": q1, "b": q2})
        self.assertEqual(counts, {"a": 2, "b": 1})

    def test_per_consumer_qos_clears_global(self):
        # RabbitMQ 3.10: basic.qos(global=false) after basic.qos(global=true)
        # removes the channel-wide limit; only the per-consumer one remains
        c = self.connect()
        ch = c.channel()
        q1, q2, q3 = self.filled_queue(ch), self.filled_queue(ch), self.filled_queue(ch)
        ch.basic_qos(prefetch_count=5, global_qos=True)
        ch.basic_qos(prefetch_count=2)
        counts = self.consume_counts(c, ch, {"a": q1, "b": q2, "c": q3})
        self.assertEqual(counts, {"a": 2, "b": 2, "c": 2})

    def test_prefetch_applies_to_later_consumers_only(self):
        c = self.connect()
        ch = c.channel()
        q1, q2 = self.filled_queue(ch), self.filled_queue(ch)
        ch.basic_qos(prefetch_count=2)
        a = self.consume_counts(c, ch, {"a": q1})
        ch.basic_qos(prefetch_count=5)
        b = self.consume_counts(c, ch, {"b": q2})
        self.assertEqual((a, b), ({"a": 2}, {"b": 5}))

    def test_prefetch_zero_unlimited(self):
        c = self.connect()
        ch = c.channel()
        q = self.filled_queue(ch)
        ch.basic_qos(prefetch_count=0)
        self.assertEqual(self.consume_counts(c, ch, {"a": q}), {"a": 10})

    def test_prefetch_ignored_for_no_ack(self):
        c = self.connect()
        ch = c.channel()
        q = self.filled_queue(ch)
        ch.basic_qos(prefetch_count=2)
        got = []
        ch.basic_consume(q, lambda c_, m, p, b: got.append(b), auto_ack=True)
        self.assertTrue(self.wait_for(lambda: len(got) == 10, conn=c))

    def test_global_prefetch_counts_basic_get(self):
        # an unacked basic.get does not use up a consumer's global credit
        c = self.connect()
        ch = c.channel()
        q = self.filled_queue(ch)
        ch.basic_qos(prefetch_count=3, global_qos=True)
        ch.basic_get(q)
        self.assertEqual(self.consume_counts(c, ch, {"a": q}), {"a": 3})

    def test_prefetch_size_not_implemented(self):
        ch = self.channel()
        self.assertConnectionClosed(540, "NOT_IMPLEMENTED - prefetch_size!=0 (1000)",
                                    ch.basic_qos, prefetch_size=1000)


class FlowTests(BrokerTestCase):

    def test_flow_active_true(self):
        ch = self.channel()
        self.assertTrue(ch.flow(True))

    def test_flow_active_false_not_implemented(self):
        ch = self.channel()
        self.assertConnectionClosed(540, "NOT_IMPLEMENTED - active=false", ch.flow, False)


if __name__ == "__main__":
    unittest.main()
