"""queue.declare / bind / unbind / purge / delete, exclusive and auto-delete
life cycles, and the common x-arguments."""

import time
import unittest

import pika
import pika.exceptions

from helpers import BrokerTestCase, uname, not_found_queue


def locked(q):
    return ("RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '%s' in vhost "
            "'/'. It could be originally declared on another connection or the exclusive "
            "property value does not match that of the original declaration." % q)


def inequivalent(q, arg, received, current):
    return ("PRECONDITION_FAILED - inequivalent arg '%s' for queue '%s' in vhost '/': "
            "received %s but current is %s" % (arg, q, received, current))


class QueueDeclareTests(BrokerTestCase):

    def test_server_named(self):
        ch = self.channel()
        ok = ch.queue_declare("", exclusive=True)
        q = ok.method.queue
        self.assertTrue(q.startswith("amq.gen-"), q)
        self.assertEqual(ok.method.message_count, 0)
        self.assertEqual(ok.method.consumer_count, 0)
        ok2 = ch.queue_declare("", exclusive=True)
        self.assertNotEqual(ok2.method.queue, q)
        ch.queue_declare(q, passive=True)

    def test_declare_ok_counts(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch)
        for i in range(3):
            ch.basic_publish("", q, b"m%d" % i)
        self.assertMessageCount(ch, q, 3)
        ok = ch.queue_declare(q, passive=True)
        self.assertEqual(ok.method.queue, q)
        self.assertEqual(ok.method.message_count, 3)
        self.assertEqual(ok.method.consumer_count, 0)
        ch2 = c.channel()
        ch2.basic_qos(prefetch_count=1)
        ch2.basic_consume(q, lambda *a: None)
        ch2.basic_consume(q, lambda *a: None)
        c.process_data_events(time_limit=0.2)
        # each consumer (prefetch 1) holds one unacked message: not counted
        self.assertMessageCount(ch, q, 1)
        ok = ch.queue_declare(q)
        self.assertEqual(ok.method.consumer_count, 2)
        self.assertEqual(ok.method.message_count, 1)

    def test_passive_missing(self):
        ch = self.channel()
        q = uname("q")
        self.assertChannelClosed(404, not_found_queue(q), ch.queue_declare, q, passive=True)

    def test_reserved_prefix(self):
        ch = self.channel()
        q = "amq." + uname("q")
        self.assertChannelClosed(
            403, "ACCESS_REFUSED - queue name '%s' contains reserved prefix 'amq.*'" % q,
            ch.queue_declare, q)

    def test_passive_reserved_prefix_missing(self):
        ch = self.channel()
        q = "amq." + uname("q")
        self.assertChannelClosed(404, not_found_queue(q), ch.queue_declare, q, passive=True)

    def test_durable_flags_roundtrip(self):
        ch = self.channel()
        q = self.queue(ch, durable=True)
        ch.queue_declare(q, durable=True)
        ch.queue_declare(q, passive=True)

    def test_redeclare_different_durable(self):
        ch = self.channel()
        q = self.queue(ch)
        self.assertChannelClosed(406, inequivalent(q, "durable", "'true'", "'false'"),
                                 ch.queue_declare, q, durable=True)

    def test_redeclare_different_auto_delete(self):
        ch = self.channel()
        q = self.queue(ch, durable=True)
        self.assertChannelClosed(406, inequivalent(q, "auto_delete", "'true'", "'false'"),
                                 ch.queue_declare, q, durable=True, auto_delete=True)

    def test_redeclare_different_exclusive_other_connection(self):
        ch = self.channel()
        q = self.queue(ch)
        ch2 = self.channel()
        self.assertChannelClosed(405, locked(q), ch2.queue_declare, q, exclusive=True)

    def test_redeclare_different_exclusive_same_connection(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch, exclusive=True)
        # even the owner must repeat the exclusive flag
        self.assertChannelClosed(405, locked(q), ch.queue_declare, q)
        ch = c.channel()
        ch.queue_declare(q, exclusive=True)
        q2 = self.queue(ch)
        self.assertChannelClosed(405, locked(q2), ch.queue_declare, q2, exclusive=True)

    def test_redeclare_different_args(self):
        ch = self.channel()
        q = self.queue(ch, arguments={"x-message-ttl": 1000})
        self.assertChannelClosed(
            406, inequivalent(q, "x-message-ttl", "'2000'", "'1000'"),
            ch.queue_declare, q, arguments={"x-message-ttl": 2000})

    def test_redeclare_missing_arg(self):
        ch = self.channel()
        q = self.queue(ch, arguments={"x-max-length": 10})
        self.assertChannelClosed(
            406, inequivalent(q, "x-max-length", "none",
                              "the value '10' of type 'signedint'"),
            ch.queue_declare, q)

    def test_redeclare_extra_arg(self):
        ch = self.channel()
        q = self.queue(ch)
        self.assertChannelClosed(
            406, inequivalent(q, "x-expires", "the value '60000' of type 'signedint'",
                              "none"),
            ch.queue_declare, q, arguments={"x-expires": 60000})

    def test_redeclare_unknown_args_ignored(self):
        # arguments RabbitMQ does not know are not compared
        ch = self.channel()
        q = self.queue(ch, arguments={"my-arg": "a"})
        ch.queue_declare(q, arguments={"my-arg": "b"})
        ch.queue_declare(q)

    def test_passive_ignores_flags(self):
        ch = self.channel()
        q = self.queue(ch)
        ch.queue_declare(q, passive=True, durable=True, auto_delete=True)

    def test_invalid_arg_value(self):
        ch = self.channel()
        q = uname("q")
        self.assertChannelClosed(
            406, "PRECONDITION_FAILED - invalid arg 'x-max-length' for queue '%s' in vhost "
                 "'/': {value_negative,-1}" % q,
            ch.queue_declare, q, arguments={"x-max-length": -1})

    def test_invalid_arg_type(self):
        ch = self.channel()
        q = uname("q")
        self.assertChannelClosed(
            406, "PRECONDITION_FAILED - invalid arg 'x-message-ttl' for queue '%s' in vhost "
                 "'/': \"expected integer, got longstr\"" % q,
            ch.queue_declare, q, arguments={"x-message-ttl": "soon"})


class ExclusiveQueueTests(BrokerTestCase):

    def test_exclusive_from_other_connection(self):
        ch = self.channel()
        q = self.queue(ch, exclusive=True)
        other = self.channel()
        self.assertChannelClosed(405, locked(q), other.queue_declare, q, passive=True)
        other = self.channel()
        self.assertChannelClosed(405, locked(q), other.queue_declare, q, exclusive=True)
        other = self.channel()
        self.assertChannelClosed(405, locked(q), other.basic_consume, q, lambda *a: None)
        other = self.channel()
        self.assertChannelClosed(405, locked(q), other.basic_get, q)
        other = self.channel()
        self.assertChannelClosed(405, locked(q), other.queue_purge, q)
        other = self.channel()
        self.assertChannelClosed(405, locked(q), other.queue_delete, q)
        other = self.channel()
        self.assertChannelClosed(405, locked(q), other.queue_bind, q, "amq.fanout")

    def test_exclusive_publish_from_other_connection_allowed(self):
        ch = self.channel()
        q = self.queue(ch, exclusive=True)
        other = self.channel()
        other.basic_publish("", q, b"from elsewhere")
        self.assertEqual(self.drain(ch, q, 1)[0][2], b"from elsewhere")

    def test_exclusive_shared_between_channels(self):
        c = self.connect()
        ch1, ch2 = c.channel(), c.channel()
        q = self.queue(ch1, exclusive=True)
        ch2.queue_declare(q, passive=True)
        ch2.basic_publish("", q, b"x")
        self.assertEqual(len(self.drain(ch2, q, 1)), 1)

    def test_exclusive_gone_after_connection_close(self):
        c = self.connect()
        q = self.queue(c.channel(), exclusive=True)
        c.close()
        ch = self.channel()
        ok = self.wait_for(lambda: self._queue_missing(q), timeout=5)
        self.assertTrue(ok, "exclusive queue %s survived its connection" % q)

    def test_exclusive_survives_channel_close(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch, exclusive=True)
        ch.close()
        c.channel().queue_declare(q, passive=True)

    def _queue_missing(self, q):
        ch = self.channel()
        try:
            ch.queue_declare(q, passive=True)
            return False
        except pika.exceptions.ChannelClosedByBroker as e:
            self.assertEqual(e.reply_code, 404)
            return True


class AutoDeleteTests(BrokerTestCase):

    def _exists(self, q):
        ch = self.channel()
        try:
            ch.queue_declare(q, passive=True)
            return True
        except pika.exceptions.ChannelClosedByBroker as e:
            self.assertEqual(e.reply_code, 404)
            return False

    def test_auto_delete_after_last_consumer_cancels(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch, auto_delete=True)
        t1 = ch.basic_consume(q, lambda *a: None)
        t2 = ch.basic_consume(q, lambda *a: None)
        ch.basic_cancel(t1)
        self.assertTrue(self._exists(q))
        ch.basic_cancel(t2)
        self.assertTrue(self.wait_for(lambda: not self._exists(q)))

    def test_auto_delete_never_consumed_stays(self):
        ch = self.channel()
        q = self.queue(ch, auto_delete=True)
        ch.basic_publish("", q, b"x")
        ch.basic_get(q, auto_ack=True)
        self.assertTrue(self._exists(q))

    def test_auto_delete_when_consumer_channel_closes(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch, auto_delete=True)
        ch.basic_consume(q, lambda *a: None)
        ch.close()
        self.assertTrue(self.wait_for(lambda: not self._exists(q)))

    def test_auto_delete_exchange_after_last_binding(self):
        ch = self.channel()
        x = self.exchange(ch, "direct", auto_delete=True)
        q = self.queue(ch)
        ch.queue_bind(q, x, "a")
        ch.queue_bind(q, x, "b")
        ch.queue_unbind(q, x, "a")
        ch.exchange_declare(x, passive=True)
        ch.queue_unbind(q, x, "b")
        self.assertChannelClosed(404, "NOT_FOUND - no exchange '%s' in vhost '/'" % x,
                                 ch.exchange_declare, x, passive=True)

    def test_auto_delete_exchange_when_queue_deleted(self):
        ch = self.channel()
        x = self.exchange(ch, "fanout", auto_delete=True)
        q = self.queue(ch)
        ch.queue_bind(q, x)
        ch.queue_delete(q)
        self.assertChannelClosed(404, "NOT_FOUND - no exchange '%s' in vhost '/'" % x,
                                 ch.exchange_declare, x, passive=True)


class QueueOpsTests(BrokerTestCase):

    def test_purge(self):
        ch = self.channel()
        q = self.queue(ch)
        for i in range(5):
            ch.basic_publish("", q, b"x")
        ok = ch.queue_purge(q)
        self.assertEqual(ok.method.message_count, 5)
        self.assertEqual(ch.queue_declare(q, passive=True).method.message_count, 0)
        self.assertEqual(ch.queue_purge(q).method.message_count, 0)

    def test_purge_leaves_unacked(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch)
        for i in range(3):
            ch.basic_publish("", q, b"m%d" % i)
        m, _p, _b = ch.basic_get(q)
        self.assertEqual(ch.queue_purge(q).method.message_count, 2)
        ch.basic_nack(m.delivery_tag, requeue=True)
        self.assertMessageCount(ch, q, 1)

    def test_purge_missing(self):
        ch = self.channel()
        q = uname("q")
        self.assertChannelClosed(404, not_found_queue(q), ch.queue_purge, q)

    def test_delete_count(self):
        ch = self.channel()
        q = self.queue(ch)
        for i in range(4):
            ch.basic_publish("", q, b"x")
        self.assertEqual(ch.queue_delete(q).method.message_count, 4)
        self.assertChannelClosed(404, not_found_queue(q), ch.queue_declare, q, passive=True)

    def test_delete_missing_is_ok(self):
        ch = self.channel()
        self.assertEqual(ch.queue_delete(uname("q")).method.message_count, 0)

    def test_delete_if_unused(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch)
        tag = ch.basic_consume(q, lambda *a: None)
        self.assertChannelClosed(
            406, "PRECONDITION_FAILED - queue '%s' in vhost '/' in use" % q,
            ch.queue_delete, q, if_unused=True)
        ch = c.channel()
        ch.queue_delete(q, if_unused=False)

    def test_delete_if_unused_without_consumers(self):
        ch = self.channel()
        q = self.queue(ch)
        ch.basic_publish("", q, b"x")
        self.assertEqual(ch.queue_delete(q, if_unused=True).method.message_count, 1)

    def test_delete_if_empty(self):
        ch = self.channel()
        q = self.queue(ch)
        ch.basic_publish("", q, b"x")
        self.assertChannelClosed(
            406, "PRECONDITION_FAILED - queue '%s' in vhost '/' not empty" % q,
            ch.queue_delete, q, if_empty=True)
        ch = self.channel()
        ch.queue_purge(q)
        self.assertEqual(ch.queue_delete(q, if_empty=True).method.message_count, 0)

    def test_delete_if_empty_with_unacked(self):
        # only ready messages count: a queue whose messages are all out
        # unacknowledged is empty, and its delete-ok counts 0
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch)
        ch.basic_publish("", q, b"x")
        self.assertIsNotNone(self.drain_noack(ch, q))
        ch2 = c.channel()
        self.assertEqual(ch2.queue_delete(q, if_empty=True).method.message_count, 0)

    def test_bind_unbind_routing(self):
        ch = self.channel()
        x = self.exchange(ch, "direct")
        q = self.queue(ch)
        ch.queue_bind(q, x, "k1")
        ch.basic_publish(x, "k1", b"a")
        ch.basic_publish(x, "k2", b"b")
        ch.queue_bind(q, x, "k2")
        ch.basic_publish(x, "k2", b"c")
        ch.queue_unbind(q, x, "k1")
        ch.basic_publish(x, "k1", b"d")
        got = [b for _m, _p, b in self.drain(ch, q, 4, timeout=0.5)]
        self.assertEqual(got, [b"a", b"c"])

    def test_bind_empty_routing_key_means_queue_name(self):
        # pika's queue_bind passes routing_key=None as the queue name
        ch = self.channel()
        x = self.exchange(ch, "direct")
        q = self.queue(ch)
        ch.queue_bind(q, x)
        ch.basic_publish(x, q, b"by name")
        self.assertEqual(len(self.drain(ch, q, 1)), 1)

    def test_deleted_queue_bindings_gone(self):
        ch = self.channel()
        x = self.exchange(ch, "fanout")
        q = self.queue(ch)
        ch.queue_bind(q, x)
        ch.queue_delete(q)
        ch.queue_declare(q)
        ch.basic_publish(x, "", b"not routed")
        self.assertEqual(ch.queue_declare(q, passive=True).method.message_count, 0)


class QueueArgumentTests(BrokerTestCase):

    def test_max_length_drops_head(self):
        ch = self.channel()
        q = self.queue(ch, arguments={"x-max-length": 2})
        for i in range(5):
            ch.basic_publish("", q, b"m%d" % i)
        got = [b for _m, _p, b in self.drain(ch, q, 3, timeout=0.5)]
        self.assertEqual(got, [b"m3", b"m4"])

    def test_max_length_reject_publish(self):
        ch = self.channel()
        q = self.queue(ch, arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
        ch.confirm_delivery()
        ch.basic_publish("", q, b"fits")
        with self.assertRaises(pika.exceptions.NackError):
            ch.basic_publish("", q, b"rejected")
        self.assertEqual(ch.queue_declare(q, passive=True).method.message_count, 1)

    def test_message_ttl(self):
        ch = self.channel()
        q = self.queue(ch, arguments={"x-message-ttl": 100})
        ch.basic_publish("", q, b"short lived")
        time.sleep(0.3)
        m, _p, _b = ch.basic_get(q, auto_ack=True)
        self.assertIsNone(m)

    def test_per_message_expiration(self):
        ch = self.channel()
        q = self.queue(ch)
        ch.basic_publish("", q, b"expires", pika.BasicProperties(expiration="100"))
        ch.basic_publish("", q, b"stays")
        time.sleep(0.3)
        got = [b for _m, _p, b in self.drain(ch, q, 2, timeout=0.5)]
        self.assertEqual(got, [b"stays"])

    def test_dead_letter_on_reject(self):
        ch = self.channel()
        dlx = self.exchange(ch, "fanout")
        dlq = self.queue(ch)
        ch.queue_bind(dlq, dlx)
        q = self.queue(ch, arguments={"x-dead-letter-exchange": dlx})
        ch.basic_publish("", q, b"doomed")
        m, _p, _b = ch.basic_get(q)
        ch.basic_reject(m.delivery_tag, requeue=False)
        got = self.drain(ch, dlq, 1)
        self.assertEqual(got[0][2], b"doomed")
        death = got[0][1].headers["x-death"][0]
        self.assertEqual(death["queue"], q)
        self.assertEqual(death["reason"], "rejected")
        self.assertEqual(death["count"], 1)
        self.assertEqual(death["exchange"], "")
        self.assertEqual(death["routing-keys"], [q])

    def test_dead_letter_on_expiry_with_routing_key(self):
        ch = self.channel()
        dlq = self.queue(ch)
        q = self.queue(ch, arguments={"x-message-ttl": 50, "x-dead-letter-exchange": "",
                                      "x-dead-letter-routing-key": dlq})
        ch.basic_publish("", q, b"expired")
        got = self.drain(ch, dlq, 1)
        self.assertEqual(got[0][2], b"expired")
        self.assertEqual(got[0][1].headers["x-death"][0]["reason"], "expired")

    def test_queue_expires(self):
        ch = self.channel()
        q = self.queue(ch, arguments={"x-expires": 200})
        time.sleep(0.8)
        self.assertChannelClosed(404, not_found_queue(q), ch.queue_declare, q, passive=True)


if __name__ == "__main__":
    unittest.main()
