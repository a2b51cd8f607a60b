"""Quorum queues (x-queue-type: quorum) as RabbitMQ 3.10 offers them on one
node: what a declaration may and may not say, every message kept on disk,
x-delivery-count on every delivery, returns to the back of the queue, the
delivery limit with dead-lettering, the at-least-once dead-letter strategy,
global qos refused, and the management API's view.  Every test passes
against RabbitMQ 3.10.8 too, except those marked warren-only."""

import os
import time
import unittest

import pika
import pika.exceptions

from helpers import BrokerTestCase, OwnBroker, uname, is_rabbitmq, mgmt_get

Q = {"x-queue-type": "quorum"}
MGMT_PORT = os.environ.get("MGMT_PORT")




class DeclareTests(BrokerTestCase):

    def what(self, name):
        return "queue '%s' in vhost '/'" % name

    def test_declare_and_redeclare(self):
        ch = self.channel()
        q = self.queue(ch, durable=True, arguments=Q)
        ok = ch.queue_declare(q, durable=True, arguments=Q)
        self.assertEqual(ok.method.message_count, 0)
        ok = ch.queue_declare(q, passive=True)
        self.assertEqual(ok.method.queue, q)

    def test_properties_refused(self):
        for kw, prop in (({"durable": False}, "non-durable"),
                         ({"durable": True, "exclusive": True}, "exclusive-owner"),
                         ({"durable": True, "auto_delete": True}, "auto-delete"),
                         ({"durable": False, "exclusive": True}, "exclusive-owner"),
                         ({"durable": True, "exclusive": True, "auto_delete": True},
                          "auto-delete")):
            name = uname("qq")
            self.assertChannelClosed(
                406, "PRECONDITION_FAILED - invalid property '%s' for %s" % (prop, self.what(name)),
                self.channel().queue_declare, name, arguments=Q, **kw)

    def test_server_named_refused(self):
        self.assertChannelClosed(
            406, "PRECONDITION_FAILED - Cannot declare a server-named queue for type "
                 "rabbit_quorum_queue",
            self.channel().queue_declare, "", durable=True, arguments=Q)

    def test_arguments_of_other_types_refused(self):
        for arg, val in (("x-max-priority", 5), ("x-queue-mode", "lazy"),
                         ("x-queue-master-locator", "min-masters"), ("x-max-age", "1h"),
                         ("x-stream-max-segment-size-bytes", 1000),
                         ("x-initial-cluster-size", 1)):
            name = uname("qq")
            self.assertChannelClosed(
                406, "PRECONDITION_FAILED - invalid arg '%s' for %s of queue type "
                     "rabbit_quorum_queue" % (arg, self.what(name)),
                self.channel().queue_declare, name, durable=True, arguments=dict(Q, **{arg: val}))

    def test_argument_checked_before_properties(self):
        name = uname("qq")
        self.assertChannelClosed(
            406, "PRECONDITION_FAILED - invalid arg 'x-max-priority' for %s of queue type "
                 "rabbit_quorum_queue" % self.what(name),
            self.channel().queue_declare, name, durable=False,
            arguments=dict(Q, **{"x-max-priority": 4}))

    def test_quorum_only_arguments_on_classic_refused(self):
        for arg, val in (("x-quorum-initial-group-size", 3),
                         ("x-queue-leader-locator", "balanced"),
                         ("x-dead-letter-strategy", "at-most-once"),
                         ("x-max-in-memory-length", 5)):
            name = uname("cq")
            self.assertChannelClosed(
                406, "PRECONDITION_FAILED - invalid arg '%s' for %s of queue type "
                     "rabbit_classic_queue" % (arg, self.what(name)),
                self.channel().queue_declare, name, durable=True, arguments={arg: val})

    def test_cluster_arguments_accepted_and_reported(self):
        ch = self.channel()
        args = dict(Q, **{"x-quorum-initial-group-size": 3, "x-queue-leader-locator": "balanced",
                          "x-max-in-memory-length": 10, "x-max-in-memory-bytes": 1000,
                          "x-dead-letter-strategy": "at-most-once"})
        q = self.queue(ch, durable=True, arguments=args)
        if MGMT_PORT:
            info = mgmt_get("/api/queues/%2F/" + q)
            self.assertEqual(info["arguments"], args)
            self.assertEqual(info["type"], "quorum")

    def test_bad_values(self):
        name = uname("qq")
        self.assertChannelClosed(
            406, "PRECONDITION_FAILED - invalid arg 'x-dead-letter-strategy' for %s: "
                 "invalid_dlx_strategy" % self.what(name),
            self.channel().queue_declare, name, durable=True,
            arguments=dict(Q, **{"x-dead-letter-strategy": "sometimes"}))
        self.assertChannelClosed(
            406, "PRECONDITION_FAILED - invalid arg 'x-queue-leader-locator' for %s: "
                 "invalid_queue_locator_arg" % self.what(name),
            self.channel().queue_declare, name, durable=True,
            arguments=dict(Q, **{"x-queue-leader-locator": "nearest"}))
        self.assertChannelClosed(
            406, "PRECONDITION_FAILED - invalid arg 'x-quorum-initial-group-size' for %s: "
                 "\"expected integer, got longstr\"" % self.what(name),
            self.channel().queue_declare, name, durable=True,
            arguments=dict(Q, **{"x-quorum-initial-group-size": "three"}))
        self.assertChannelClosed(
            406, "PRECONDITION_FAILED - invalid arg 'x-queue-type' for %s: "
                 "\"unsupported queue type 'fast'\"" % self.what(name),
            self.channel().queue_declare, name, durable=True, arguments={"x-queue-type": "fast"})

    def test_redeclare_with_another_type(self):
        ch = self.channel()
        c = self.queue(ch, durable=True)
        self.assertChannelClosed(
            406, "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for %s: received the "
                 "value 'quorum' of type 'longstr' but current is none" % self.what(c),
            self.channel().queue_declare, c, durable=True, arguments=Q)
        q = self.queue(self.channel(), durable=True, arguments=Q)
        self.assertChannelClosed(
            406, "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for %s: received "
                 "'classic' but current is 'quorum'" % self.what(q),
            self.channel().queue_declare, q, durable=True, arguments={"x-queue-type": "classic"})
        self.assertChannelClosed(
            406, "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for %s: received none "
                 "but current is the value 'quorum' of type 'longstr'" % self.what(q),
            self.channel().queue_declare, q, durable=True)
        # an explicit classic is the same as none
        c2 = self.queue(self.channel(), durable=True, arguments={"x-queue-type": "classic"})
        self.channel().queue_declare(c2, durable=True)


class DeliveryTests(BrokerTestCase):

    def test_delivery_count_on_every_delivery(self):
        ch = self.channel()
        q = self.queue(ch, durable=True, arguments=Q)
        ch.confirm_delivery()
        ch.basic_publish("", q, b"m", pika.BasicProperties(headers={"a": 1}, delivery_mode=1))
        m, p, b = self.drain_noack(ch, q)
        self.assertFalse(m.redelivered)
        self.assertEqual(p.headers, {"a": 1, "x-delivery-count": 0})
        self.assertEqual(p.delivery_mode, 1)  # kept on disk, the property is not changed
        ch.basic_nack(m.delivery_tag, requeue=True)
        m, p, b = self.drain_noack(ch, q)
        self.assertTrue(m.redelivered)
        self.assertEqual(p.headers, {"a": 1, "x-delivery-count": 1})
        ch.basic_reject(m.delivery_tag, requeue=True)
        got = []
        ch2 = self.channel(ch.connection)
        ch2.basic_qos(prefetch_count=1)
        ch2.basic_consume(q, lambda c, m, p, b: got.append((m, p)))
        self.wait_for(lambda: got, conn=ch.connection)
        self.assertTrue(got[0][0].redelivered)
        self.assertEqual(got[0][1].headers["x-delivery-count"], 2)

    def test_returned_message_goes_to_the_back(self):
        ch = self.channel()
        q = self.queue(ch, durable=True, arguments=Q)
        ch.confirm_delivery()
        for i in range(3):
            ch.basic_publish("", q, b"%d" % i)
        m, _p, b = self.drain_noack(ch, q)
        self.assertEqual(b, b"0")
        ch.basic_nack(m.delivery_tag, requeue=True)
        order = []
        for _ in range(3):
            m, _p, b = self.drain_noack(ch, q)
            order.append((b, m.redelivered))
            ch.basic_ack(m.delivery_tag)
        self.assertEqual(order, [(b"1", False), (b"2", False), (b"0", True)])

    def test_with_a_delivery_limit_returns_come_first(self):
        ch = self.channel()
        q = self.queue(ch, durable=True, arguments=dict(Q, **{"x-delivery-limit": 5}))
        ch.confirm_delivery()
        for i in range(3):
            ch.basic_publish("", q, b"%d" % i)
        m, _p, b = self.drain_noack(ch, q)
        ch.basic_nack(m.delivery_tag, requeue=True)
        order = []
        for _ in range(3):
            m, _p, b = self.drain_noack(ch, q)
            order.append((b, m.redelivered))
            ch.basic_ack(m.delivery_tag)
        self.assertEqual(order, [(b"0", True), (b"1", False), (b"2", False)])

    def test_delivery_limit_dead_letters(self):
        ch = self.channel()
        dlq = self.queue(ch, durable=True)
        q = self.queue(ch, durable=True, arguments=dict(Q, **{
            "x-delivery-limit": 1, "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": dlq}))
        ch.confirm_delivery()
        ch.basic_publish("", q, b"poison")
        counts = []
        for _ in range(2):
            m, p, _b = self.drain_noack(ch, q)
            counts.append(p.headers["x-delivery-count"])
            ch.basic_nack(m.delivery_tag, requeue=True)
        self.assertEqual(counts, [0, 1])
        (dm, dp, body), = self.drain(ch, dlq, 1)
        self.assertEqual(body, b"poison")
        self.assertEqual(dp.headers["x-first-death-reason"], "delivery_limit")
        self.assertEqual(dp.headers["x-first-death-queue"], q)
        d = dp.headers["x-death"][0]
        self.assertEqual((d["reason"], d["queue"], d["count"], d["exchange"], d["routing-keys"]),
                         ("delivery_limit", q, 1, "", [q]))
        self.assertIsNone(ch.basic_get(q)[0])

    def test_reject_without_requeue_dead_letters(self):
        ch = self.channel()
        dlq = self.queue(ch, durable=True)
        q = self.queue(ch, durable=True, arguments=dict(Q, **{
            "x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq}))
        ch.confirm_delivery()
        ch.basic_publish("", q, b"no")
        m, _p, _b = self.drain_noack(ch, q)
        ch.basic_reject(m.delivery_tag, requeue=False)
        (dm, dp, body), = self.drain(ch, dlq, 1)
        self.assertEqual(dp.headers["x-first-death-reason"], "rejected")

    def test_at_least_once_with_a_routable_target(self):
        ch = self.channel()
        dlq = self.queue(ch, durable=True)
        q = self.queue(ch, durable=True, arguments=dict(Q, **{
            "x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq,
            "x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}))
        ch.confirm_delivery()
        ch.basic_publish("", q, b"once")
        m, _p, _b = self.drain_noack(ch, q)
        ch.basic_reject(m.delivery_tag, requeue=False)
        (dm, dp, body), = self.drain(ch, dlq, 1)
        self.assertEqual(body, b"once")

    def test_at_least_once_waits_for_a_target(self):
        """warren-only timing: RabbitMQ retries after minutes; warren every second."""
        ch = self.channel()
        if is_rabbitmq(ch.connection):
            self.skipTest("RabbitMQ's dead-letter worker retries too slowly for a test")
        dlx = uname("dlx")
        q = self.queue(ch, durable=True, arguments=dict(Q, **{
            "x-dead-letter-exchange": dlx, "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish"}))
        ch.confirm_delivery()
        ch.basic_publish("", q, b"kept")
        m, _p, _b = self.drain_noack(ch, q)
        ch.basic_reject(m.delivery_tag, requeue=False)
        if MGMT_PORT:
            self.assertEqual(mgmt_get("/api/queues/%2F/" + q)["messages_dlx"], 1)
        # the target appears later: the message gets there
        self.exchange(ch, "fanout", name=dlx, durable=True)
        dlq = self.queue(ch, durable=True)
        ch.queue_bind(dlq, dlx)
        (dm, dp, body), = self.drain(ch, dlq, 1, timeout=5)
        self.assertEqual(body, b"kept")
        self.assertEqual(dp.headers["x-first-death-reason"], "rejected")

    def test_at_most_once_drops_unroutable(self):
        ch = self.channel()
        if is_rabbitmq(ch.connection):
            self.skipTest("checks warren's messages_dlx count")
        q = self.queue(ch, durable=True, arguments=dict(Q, **{
            "x-dead-letter-exchange": uname("nowhere")}))
        ch.confirm_delivery()
        ch.basic_publish("", q, b"gone")
        m, _p, _b = self.drain_noack(ch, q)
        ch.basic_reject(m.delivery_tag, requeue=False)
        if MGMT_PORT:
            self.assertEqual(mgmt_get("/api/queues/%2F/" + q)["messages_dlx"], 0)
        self.assertIsNone(ch.basic_get(q)[0])

    def test_global_qos_refused(self):
        ch = self.channel()
        q = self.queue(ch, durable=True, arguments=Q)
        ch.basic_qos(prefetch_count=10, global_qos=True)
        self.assertConnectionClosed(
            540, "NOT_IMPLEMENTED - queue '%s' in vhost '/' does not support global qos" % q,
            ch.basic_consume, q, lambda *a: None)

    def test_global_qos_zero_allowed(self):
        ch = self.channel()
        q = self.queue(ch, durable=True, arguments=Q)
        ch.basic_qos(prefetch_count=0, global_qos=True)
        ch.basic_consume(q, lambda *a: None)

    def test_reject_publish_overflow(self):
        # rabbit_fifo refuses once the queue is over its limit, not at it
        ch = self.channel()
        q = self.queue(ch, durable=True, arguments=dict(Q, **{
            "x-max-length": 2, "x-overflow": "reject-publish"}))
        ch.confirm_delivery()
        out = []
        for _ in range(5):
            try:
                ch.basic_publish("", q, b"x")
                out.append("ack")
            except pika.exceptions.NackError:
                out.append("nack")
        self.assertEqual(out, ["ack", "ack", "ack", "nack", "nack"])
        self.assertMessageCount(ch, q, 3)

    def test_drop_head_overflow(self):
        ch = self.channel()
        q = self.queue(ch, durable=True, arguments=dict(Q, **{"x-max-length": 2}))
        ch.confirm_delivery()
        for i in range(5):
            ch.basic_publish("", q, b"%d" % i)
        self.assertMessageCount(ch, q, 2)
        self.assertEqual(ch.basic_get(q, auto_ack=True)[2], b"3")

    @unittest.skipUnless(MGMT_PORT, "needs the management API")
    def test_management_view(self):
        ch = self.channel()
        q = self.queue(ch, durable=True, arguments=Q)
        ch.confirm_delivery()
        ch.basic_publish("", q, b"abc", pika.BasicProperties(delivery_mode=1))
        deadline = time.monotonic() + 10
        while True:
            info = mgmt_get("/api/queues/%2F/" + q)
            if info.get("messages") == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(info["type"], "quorum")
        self.assertTrue(info["durable"])
        self.assertEqual(info["messages"], 1)
        self.assertEqual(info["messages_ready"], 1)
        self.assertEqual(info["leader"], info["node"])
        self.assertEqual(info["members"], [info["node"]])
        self.assertEqual(info["online"], [info["node"]])
        self.assertEqual(info["messages_dlx"], 0)
        self.assertIn("single_active_consumer_ctag", info)


class RestartTests(BrokerTestCase):
    """warren-only here (RabbitMQ's restart lives in test_restart)."""

    def test_transient_message_survives_kill(self):
        own = OwnBroker(self)
        conn = own.connect()
        ch = conn.channel()
        ch.queue_declare("qq-kill", durable=True, arguments=Q)
        ch.confirm_delivery()
        for i in range(5):
            ch.basic_publish("", "qq-kill", b"%d" % i, pika.BasicProperties(delivery_mode=1))
        m, _p, _b = ch.basic_get("qq-kill")
        self.assertEqual(_b, b"0")
        own.proc.kill()
        own.proc.wait(10)
        own2 = OwnBroker(self, data_dir=own.data_dir)
        ch = own2.connect().channel()
        got = []
        for _ in range(5):
            m, p, b = ch.basic_get("qq-kill", auto_ack=True)
            got.append((b, m.redelivered, p.headers["x-delivery-count"]))
        self.assertEqual(got[0], (b"0", True, 1))
        self.assertEqual([g[0] for g in got], [b"0", b"1", b"2", b"3", b"4"])
        ok = ch.queue_declare("qq-kill", passive=True)
        self.assertEqual(ok.method.message_count, 0)


if __name__ == "__main__":
    unittest.main()
