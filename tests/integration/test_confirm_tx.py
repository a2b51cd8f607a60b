"""Publisher confirms and transactions (tx.*), and how they exclude each other."""

import unittest

import pika
import pika.exceptions

from helpers import BrokerTestCase, uname, HOST, PORT
import amqpframe as af


class ConfirmTests(BrokerTestCase):

    def test_confirm_blocking(self):
        ch = self.channel()
        ch.confirm_delivery()
        q = self.queue(ch, exclusive=True)
        for i in range(10):
            ch.basic_publish("", q, b"m%d" % i)   # raises unless acked
        self.assertMessageCount(ch, q, 10)

    def test_confirm_unroutable_is_acked(self):
        ch = self.channel()
        ch.confirm_delivery()
        x = self.exchange(ch, "fanout")
        ch.basic_publish(x, "", b"nowhere")   # acked: no NackError
        self.assertTrue(ch.is_open)

    def raw_confirm_channel(self):
        r = af.RawConnection(HOST, PORT)
        self.addCleanup(r.close)
        r.handshake()
        r.open_channel(1)
        r.send(af.method(1, "confirm.select", False))
        r.expect("confirm.select-ok")
        r.send(af.method(1, "queue.declare", 0, "", False, False, True, True, False, {}))
        q = r.expect("queue.declare-ok").args[0]
        return r, q

    def test_confirm_tags_increase(self):
        r, q = self.raw_confirm_channel()
        n = 200
        r.send(b"".join(af.publish(1, "", q, b"m%d" % i) for i in range(n)))
        acked = 0
        last = 0
        while acked < n:
            f = r.expect("basic.ack")
            tag, multiple = f.args
            self.assertGreater(tag, last)
            self.assertLessEqual(tag, n)
            if not multiple:
                self.assertEqual(tag, last + 1, "single ack must be the next tag")
            acked = tag
            last = tag
        self.assertEqual(last, n)

    def test_confirm_select_nowait(self):
        r = af.RawConnection(HOST, PORT)
        self.addCleanup(r.close)
        r.handshake()
        r.open_channel(1)
        r.send(af.method(1, "confirm.select", True))   # no confirm.select-ok
        r.send(af.publish(1, "", uname("nowhere"), b"x"))
        f = r.expect("basic.ack")
        self.assertEqual(f.args, [1, False])

    def test_confirm_select_twice(self):
        r, q = self.raw_confirm_channel()
        r.send(af.method(1, "confirm.select", False))
        r.expect("confirm.select-ok")
        r.send(af.publish(1, "", q, b"x"))
        self.assertEqual(r.expect("basic.ack").args[0], 1)

    def test_confirm_mandatory_return_before_ack(self):
        r, _q = self.raw_confirm_channel()
        r.send(af.publish(1, "amq.direct", uname("nowhere"), b"ret", mandatory=True))
        f = r.read_frame()
        self.assertEqual(f.name, "basic.return")
        self.assertEqual(f.args[:2], [312, "NO_ROUTE"])
        self.assertEqual(r.read_content()[3], b"ret")
        self.assertEqual(r.expect("basic.ack").args, [1, False])

    def test_confirm_nack_on_reject_publish(self):
        r, _q = self.raw_confirm_channel()
        q = uname("q")
        self.track_queue(q)
        r.send(af.method(1, "queue.declare", 0, q, False, False, False, False, False,
                         {"x-max-length": 1, "x-overflow": "reject-publish"}))
        r.expect("queue.declare-ok")
        r.send(af.publish(1, "", q, b"fits") + af.publish(1, "", q, b"rejected"))
        f1 = r.read_frame()
        f2 = r.read_frame()
        self.assertEqual((f1.name, f1.args), ("basic.ack", [1, False]))
        self.assertEqual((f2.name, f2.args[:2]), ("basic.nack", [2, False]))

    def test_tx_then_confirm_refused(self):
        ch = self.channel()
        ch.tx_select()
        self.assertChannelClosed(
            406, "PRECONDITION_FAILED - cannot switch from tx to confirm mode",
            ch.confirm_delivery)

    def test_confirm_then_tx_refused(self):
        ch = self.channel()
        ch.confirm_delivery()
        self.assertChannelClosed(
            406, "PRECONDITION_FAILED - cannot switch from confirm to tx mode",
            ch.tx_select)


class TxTests(BrokerTestCase):

    def test_commit_publishes(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch)
        ch.tx_select()
        ch.basic_publish("", q, b"a")
        ch.basic_publish("", q, b"b")
        other = c.channel()
        self.assertEqual(other.queue_declare(q, passive=True).method.message_count, 0)
        ch.tx_commit()
        self.assertMessageCount(other, q, 2)
        self.assertEqual([b for _m, _p, b in self.drain(other, q, 2)], [b"a", b"b"])

    def test_rollback_publishes(self):
        ch = self.channel()
        q = self.queue(ch)
        ch.tx_select()
        ch.basic_publish("", q, b"never")
        ch.tx_rollback()
        ch.basic_publish("", q, b"later")
        ch.tx_commit()
        got = self.drain(ch, q, 2, timeout=0.7)
        self.assertEqual([b for _m, _p, b in got], [b"later"])

    def test_rollback_ack_leaves_unacked(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch)
        ch.basic_publish("", q, b"x")
        self.assertMessageCount(ch, q, 1)
        ch.tx_select()
        m, _p, _b = ch.basic_get(q)
        ch.basic_ack(m.delivery_tag)
        ch.tx_rollback()
        # still unacked: not ready, and back with redelivered when the channel goes
        self.assertEqual(ch.queue_declare(q, passive=True).method.message_count, 0)
        ch.close()
        ch = c.channel()
        got = self.drain(ch, q, 1)
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0][0].redelivered)

    def test_rollback_then_ack_again(self):
        ch = self.channel()
        q = self.queue(ch)
        ch.basic_publish("", q, b"x")
        self.assertMessageCount(ch, q, 1)
        ch.tx_select()
        m, _p, _b = ch.basic_get(q)
        ch.basic_ack(m.delivery_tag)
        ch.tx_rollback()
        ch.basic_ack(m.delivery_tag)      # the tag is still valid
        ch.tx_commit()
        ch.close()
        ch = self.channel()
        self.assertMessageCount(ch, q, 0)

    def test_commit_ack(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch)
        ch.basic_publish("", q, b"x")
        self.assertMessageCount(ch, q, 1)
        ch.tx_select()
        m, _p, _b = ch.basic_get(q)
        ch.basic_ack(m.delivery_tag)
        ch.tx_commit()
        ch.close()
        ch = c.channel()
        self.assertMessageCount(ch, q, 0)

    def test_tx_select_twice(self):
        ch = self.channel()
        ch.tx_select()
        ch.tx_select()
        ch.tx_commit()
        ch.tx_commit()   # an empty commit is fine

    def test_commit_without_select(self):
        ch = self.channel()
        self.assertChannelClosed(406, "PRECONDITION_FAILED - channel is not transactional",
                                 ch.tx_commit)

    def test_rollback_without_select(self):
        ch = self.channel()
        self.assertChannelClosed(406, "PRECONDITION_FAILED - channel is not transactional",
                                 ch.tx_rollback)

    def test_uncommitted_publishes_dropped_on_close(self):
        c = self.connect()
        ch = c.channel()
        q = self.queue(ch)
        ch.tx_select()
        ch.basic_publish("", q, b"lost")
        ch.close()
        ch = c.channel()
        ch.queue_declare(q, passive=True)
        self.assertEqual(self.drain(ch, q, 1, timeout=0.5), [])

    def test_tx_mandatory_return_on_commit(self):
        ch = self.channel()
        returned = []
        ch.add_on_return_callback(lambda c, m, p, b: returned.append(b))
        ch.tx_select()
        ch.basic_publish("amq.direct", uname("nowhere"), b"r", mandatory=True)
        ch.tx_commit()
        self.assertTrue(self.wait_for(lambda: returned, conn=ch.connection))
        self.assertEqual(returned, [b"r"])


if __name__ == "__main__":
    unittest.main()
