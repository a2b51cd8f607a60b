"""exchange.declare / delete / bind / unbind, the predeclared exchanges,
exchange-to-exchange bindings and alternate exchanges."""

import unittest

import pika
import pika.exceptions

from helpers import BrokerTestCase, uname, not_found_exchange, not_found_queue


class ExchangeDeclareTests(BrokerTestCase):

    def test_declare_each_type(self):
        ch = self.channel()
        for t in ("direct", "fanout", "topic", "headers"):
            x = self.exchange(ch, t)
            ch.exchange_declare(x, exchange_type=t)          # idempotent
            ch.exchange_declare(x, passive=True)
            ch.exchange_declare(x, exchange_type=t, passive=True)

    def test_declare_durable_and_auto_delete(self):
        ch = self.channel()
        x = self.exchange(ch, "fanout", durable=True)
        ch.exchange_declare(x, exchange_type="fanout", durable=True)
        y = self.exchange(ch, "fanout", auto_delete=True)
        ch.exchange_declare(y, passive=True)

    def test_passive_missing(self):
        ch = self.channel()
        x = uname("x")
        self.assertChannelClosed(404, not_found_exchange(x),
                                 ch.exchange_declare, x, passive=True)

    def test_unknown_type(self):
        c = self.connect()
        ch = c.channel()
        x = uname("x")
        self.assertConnectionClosed(503, "COMMAND_INVALID - unknown exchange type 'nosuchtype'",
                                    ch.exchange_declare, x, exchange_type="nosuchtype")

    def test_redeclare_different_type(self):
        ch = self.channel()
        x = self.exchange(ch, "direct")
        self.assertChannelClosed(
            406,
            "PRECONDITION_FAILED - inequivalent arg 'type' for exchange '%s' in vhost '/': "
            "received 'fanout' but current is 'direct'" % x,
            ch.exchange_declare, x, exchange_type="fanout")

    def test_redeclare_different_durable(self):
        ch = self.channel()
        x = self.exchange(ch, "direct")
        self.assertChannelClosed(
            406,
            "PRECONDITION_FAILED - inequivalent arg 'durable' for exchange '%s' in vhost '/': "
            "received 'true' but current is 'false'" % x,
            ch.exchange_declare, x, exchange_type="direct", durable=True)

    def test_redeclare_different_auto_delete(self):
        ch = self.channel()
        x = self.exchange(ch, "direct")
        self.assertChannelClosed(
            406,
            "PRECONDITION_FAILED - inequivalent arg 'auto_delete' for exchange '%s' in vhost "
            "'/': received 'true' but current is 'false'" % x,
            ch.exchange_declare, x, exchange_type="direct", auto_delete=True)

    def test_redeclare_different_internal(self):
        ch = self.channel()
        x = self.exchange(ch, "direct")
        self.assertChannelClosed(
            406,
            "PRECONDITION_FAILED - inequivalent arg 'internal' for exchange '%s' in vhost "
            "'/': received 'true' but current is 'false'" % x,
            ch.exchange_declare, x, exchange_type="direct", internal=True)

    def test_passive_ignores_type(self):
        # a passive declare checks existence only
        ch = self.channel()
        x = self.exchange(ch, "direct")
        ch.exchange_declare(x, exchange_type="fanout", passive=True)

    def test_reserved_amq_prefix(self):
        ch = self.channel()
        name = "amq." + uname("x")
        self.assertChannelClosed(
            403, "ACCESS_REFUSED - exchange name '%s' contains reserved prefix 'amq.*'" % name,
            ch.exchange_declare, name, exchange_type="direct")

    def test_passive_amq_prefix_missing(self):
        ch = self.channel()
        name = "amq." + uname("x")
        self.assertChannelClosed(404, not_found_exchange(name),
                                 ch.exchange_declare, name, passive=True)

    def test_delete(self):
        ch = self.channel()
        x = self.exchange(ch, "topic")
        ch.exchange_delete(x)
        self.assertChannelClosed(404, not_found_exchange(x),
                                 ch.exchange_declare, x, passive=True)

    def test_delete_missing_is_ok(self):
        ch = self.channel()
        ch.exchange_delete(uname("x"))
        self.assertTrue(ch.is_open)

    def test_delete_if_unused(self):
        ch = self.channel()
        x = self.exchange(ch, "direct")
        q = self.queue(ch, exclusive=True)
        ch.queue_bind(q, x, "k")
        self.assertChannelClosed(
            406, "PRECONDITION_FAILED - exchange '%s' in vhost '/' in use" % x,
            ch.exchange_delete, x, if_unused=True)
        ch = self.channel(ch.connection)
        ch.queue_unbind(q, x, "k")
        ch.exchange_delete(x, if_unused=True)
        self.assertChannelClosed(404, not_found_exchange(x),
                                 ch.exchange_declare, x, passive=True)

    def test_delete_if_unused_source_of_e2e(self):
        ch = self.channel()
        src = self.exchange(ch, "direct")
        dst = self.exchange(ch, "direct")
        ch.exchange_bind(dst, src, "k")
        # being the source of a binding counts as used ...
        self.assertChannelClosed(
            406, "PRECONDITION_FAILED - exchange '%s' in vhost '/' in use" % src,
            ch.exchange_delete, src, if_unused=True)
        # ... being only the destination does not
        ch = self.channel()
        ch.exchange_delete(dst, if_unused=True)

    def test_delete_removes_bindings(self):
        ch = self.channel()
        x = self.exchange(ch, "direct")
        q = self.queue(ch, exclusive=True)
        ch.queue_bind(q, x, "k")
        ch.exchange_delete(x)
        ch.exchange_declare(x, exchange_type="direct")
        ch.basic_publish(x, "k", b"after re-create")
        self.assertEqual(ch.queue_declare(q, passive=True).method.message_count, 0)

    def test_internal_exchange_publish_refused(self):
        ch = self.channel()
        x = self.exchange(ch, "fanout", internal=True)
        ch.basic_publish(x, "", b"nope")
        self.assertChannelClosed(
            403, "ACCESS_REFUSED - cannot publish to internal exchange '%s' in vhost '/'" % x,
            ch.queue_declare, "", exclusive=True)

    def test_internal_exchange_routes_via_e2e(self):
        ch = self.channel()
        front = self.exchange(ch, "fanout")
        inner = self.exchange(ch, "fanout", internal=True)
        q = self.queue(ch, exclusive=True)
        ch.queue_bind(q, inner)
        ch.exchange_bind(inner, front)
        ch.basic_publish(front, "", b"via internal")
        self.assertEqual(self.drain(ch, q, 1)[0][2], b"via internal")


class PredeclaredExchangeTests(BrokerTestCase):

    def test_predeclared_exist(self):
        ch = self.channel()
        for x in ("amq.direct", "amq.fanout", "amq.topic", "amq.headers", "amq.match"):
            ch.exchange_declare(x, passive=True)

    def test_predeclared_redeclare_same(self):
        ch = self.channel()
        for x, t in (("amq.direct", "direct"), ("amq.fanout", "fanout"),
                     ("amq.topic", "topic"), ("amq.headers", "headers"),
                     ("amq.match", "headers")):
            ch.exchange_declare(x, exchange_type=t, durable=True)

    def test_predeclared_redeclare_different_type(self):
        ch = self.channel()
        self.assertChannelClosed(
            406,
            "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'amq.direct' in vhost "
            "'/': received 'fanout' but current is 'direct'",
            ch.exchange_declare, "amq.direct", exchange_type="fanout", durable=True)

    def test_predeclared_delete_refused(self):
        ch = self.channel()
        self.assertChannelClosed(
            403, "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not "
                 "allowed", ch.exchange_delete, "amq.direct")

    def test_routing_through_predeclared(self):
        ch = self.channel()
        q = self.queue(ch, exclusive=True)
        ch.queue_bind(q, "amq.direct", q)
        ch.queue_bind(q, "amq.fanout")
        ch.queue_bind(q, "amq.topic", "a.*." + q)
        ch.queue_bind(q, "amq.headers", arguments={"x-match": "all", "qq": q})
        ch.queue_bind(q, "amq.match", arguments={"x-match": "any", "qm": q})
        ch.basic_publish("amq.direct", q, b"1")
        ch.basic_publish("amq.topic", "a.b." + q, b"3")
        ch.basic_publish("amq.headers", "", b"4",
                         pika.BasicProperties(headers={"qq": q}))
        ch.basic_publish("amq.match", "", b"5",
                         pika.BasicProperties(headers={"qm": q, "other": 1}))
        got = sorted(b for _m, _p, b in self.drain(ch, q, 4))
        self.assertEqual(got, [b"1", b"3", b"4", b"5"])
        ch.queue_unbind(q, "amq.fanout")

    def test_default_exchange_routes_by_queue_name(self):
        ch = self.channel()
        q = self.queue(ch, exclusive=True)
        ch.basic_publish("", q, b"hello")
        m, _p, body = self.drain(ch, q, 1)[0]
        self.assertEqual(body, b"hello")
        self.assertEqual(m.exchange, "")
        self.assertEqual(m.routing_key, q)

    def test_default_exchange_declare(self):
        ch = self.channel()
        self.assertChannelClosed(
            403, "ACCESS_REFUSED - operation not permitted on the default exchange",
            ch.exchange_declare, "", exchange_type="direct")

    def test_default_exchange_declare_passive(self):
        ch = self.channel()
        self.assertChannelClosed(
            403, "ACCESS_REFUSED - operation not permitted on the default exchange",
            ch.exchange_declare, "", passive=True)

    def test_bind_to_default_refused(self):
        ch = self.channel()
        q = self.queue(ch, exclusive=True)
        self.assertChannelClosed(
            403, "ACCESS_REFUSED - operation not permitted on the default exchange",
            ch.queue_bind, q, "", "k")

    def test_unbind_from_default_refused(self):
        ch = self.channel()
        q = self.queue(ch, exclusive=True)
        self.assertChannelClosed(
            403, "ACCESS_REFUSED - operation not permitted on the default exchange",
            ch.queue_unbind, q, "", q)

    def test_delete_default_refused(self):
        ch = self.channel()
        self.assertChannelClosed(
            403, "ACCESS_REFUSED - operation not permitted on the default exchange",
            ch.exchange_delete, "")

    def test_e2e_bind_default_refused(self):
        ch = self.channel()
        x = self.exchange(ch, "fanout")
        self.assertChannelClosed(
            403, "ACCESS_REFUSED - operation not permitted on the default exchange",
            ch.exchange_bind, x, "", "k")


class BindingTests(BrokerTestCase):

    def test_bind_missing_exchange(self):
        ch = self.channel()
        q = self.queue(ch, exclusive=True)
        x = uname("x")
        self.assertChannelClosed(404, not_found_exchange(x), ch.queue_bind, q, x, "k")

    def test_bind_missing_queue(self):
        ch = self.channel()
        x = self.exchange(ch)
        q = uname("q")
        self.assertChannelClosed(404, not_found_queue(q), ch.queue_bind, q, x, "k")

    def test_bind_missing_both(self):
        ch = self.channel()
        q, x = uname("q"), uname("x")
        e = self.assertChannelClosed(404, None, ch.queue_bind, q, x, "k")
        self.assertEqual(e.reply_text,
                         "NOT_FOUND - no exchange '%s' in vhost '/'" % x)

    def test_bind_twice_and_unbind(self):
        ch = self.channel()
        x = self.exchange(ch, "direct")
        q = self.queue(ch, exclusive=True)
        ch.queue_bind(q, x, "k")
        ch.queue_bind(q, x, "k")  # idempotent: still one binding
        ch.basic_publish(x, "k", b"once")
        self.assertEqual(len(self.drain(ch, q, 2, timeout=0.5)), 1)
        ch.queue_unbind(q, x, "k")
        ch.basic_publish(x, "k", b"gone")
        ch.queue_declare(q, passive=True)
        self.assertEqual(ch.queue_declare(q, passive=True).method.message_count, 0)

    def test_unbind_missing_binding_is_ok(self):
        ch = self.channel()
        x = self.exchange(ch, "direct")
        q = self.queue(ch, exclusive=True)
        ch.queue_unbind(q, x, "never-bound")
        self.assertTrue(ch.is_open)

    def test_unbind_missing_exchange_is_ok(self):
        ch = self.channel()
        q = self.queue(ch, exclusive=True)
        ch.queue_unbind(q, uname("x"), "k")
        self.assertTrue(ch.is_open)

    def test_unbind_missing_queue_is_ok(self):
        ch = self.channel()
        x = self.exchange(ch, "direct")
        ch.queue_unbind(uname("q"), x, "k")
        self.assertTrue(ch.is_open)

    def test_same_queue_two_keys_gets_one_copy(self):
        ch = self.channel()
        x = self.exchange(ch, "topic")
        q = self.queue(ch, exclusive=True)
        ch.queue_bind(q, x, "a.*")
        ch.queue_bind(q, x, "*.b")
        ch.queue_bind(q, x, "#")
        ch.basic_publish(x, "a.b", b"one copy")
        self.assertEqual(len(self.drain(ch, q, 3, timeout=0.5)), 1)

    def test_binding_args_distinguish_bindings(self):
        ch = self.channel()
        x = self.exchange(ch, "direct")
        q = self.queue(ch, exclusive=True)
        ch.queue_bind(q, x, "k", arguments={"a": 1})
        ch.queue_bind(q, x, "k", arguments={"a": 2})
        ch.queue_unbind(q, x, "k", arguments={"a": 1})
        ch.basic_publish(x, "k", b"still bound by a=2")
        self.assertEqual(len(self.drain(ch, q, 1)), 1)
        ch.queue_unbind(q, x, "k", arguments={"a": 2})
        ch.basic_publish(x, "k", b"unbound")
        self.assertEqual(ch.queue_declare(q, passive=True).method.message_count, 0)


class E2ETests(BrokerTestCase):

    def test_exchange_to_exchange(self):
        ch = self.channel()
        src = self.exchange(ch, "topic")
        dst = self.exchange(ch, "direct")
        q = self.queue(ch, exclusive=True)
        ch.queue_bind(q, dst, "a.b")
        ch.exchange_bind(dst, src, "a.*")
        ch.basic_publish(src, "a.b", b"routed")
        ch.basic_publish(src, "a.c", b"dropped at dst")
        ch.basic_publish(src, "b.b", b"dropped at src")
        got = self.drain(ch, q, 3, timeout=0.5)
        self.assertEqual([b for _m, _p, b in got], [b"routed"])
        self.assertEqual(got[0][0].exchange, src)
        ch.exchange_unbind(dst, src, "a.*")
        ch.basic_publish(src, "a.b", b"after unbind")
        self.assertEqual(ch.queue_declare(q, passive=True).method.message_count, 0)

    def test_e2e_chain_and_cycle(self):
        ch = self.channel()
        a = self.exchange(ch, "fanout")
        b = self.exchange(ch, "fanout")
        c = self.exchange(ch, "fanout")
        q = self.queue(ch, exclusive=True)
        ch.exchange_bind(b, a)
        ch.exchange_bind(c, b)
        ch.exchange_bind(a, c)   # a cycle: each queue still gets one copy
        ch.queue_bind(q, c)
        ch.queue_bind(q, a)
        ch.basic_publish(a, "", b"once")
        self.assertEqual(len(self.drain(ch, q, 3, timeout=0.5)), 1)

    def test_e2e_bind_missing(self):
        ch = self.channel()
        x = self.exchange(ch, "fanout")
        missing = uname("x")
        self.assertChannelClosed(404, not_found_exchange(missing),
                                 ch.exchange_bind, x, missing)
        ch = self.channel()
        self.assertChannelClosed(404, not_found_exchange(missing),
                                 ch.exchange_bind, missing, x)

    def test_e2e_destination_deleted(self):
        ch = self.channel()
        src = self.exchange(ch, "fanout")
        dst = self.exchange(ch, "fanout")
        ch.exchange_bind(dst, src)
        ch.exchange_delete(dst)
        # src is unused again
        ch.exchange_delete(src, if_unused=True)


class AlternateExchangeTests(BrokerTestCase):

    def test_alternate_exchange(self):
        ch = self.channel()
        ae = self.exchange(ch, "fanout")
        x = self.exchange(ch, "direct", arguments={"alternate-exchange": ae})
        q = self.queue(ch, exclusive=True)
        unrouted = self.queue(ch, exclusive=True)
        ch.queue_bind(q, x, "k")
        ch.queue_bind(unrouted, ae)
        ch.basic_publish(x, "k", b"routed")
        ch.basic_publish(x, "other", b"to ae")
        self.assertEqual([b for _m, _p, b in self.drain(ch, q, 1)], [b"routed"])
        got = self.drain(ch, unrouted, 1)
        self.assertEqual(got[0][2], b"to ae")
        self.assertEqual(got[0][0].exchange, x)
        self.assertEqual(got[0][0].routing_key, "other")

    def test_alternate_exchange_mandatory_not_returned(self):
        ch = self.channel()
        ae = self.exchange(ch, "fanout")
        x = self.exchange(ch, "direct", arguments={"alternate-exchange": ae})
        q = self.queue(ch, exclusive=True)
        ch.queue_bind(q, ae)
        returned = []
        ch.add_on_return_callback(lambda *a: returned.append(a))
        ch.basic_publish(x, "nowhere", b"m", mandatory=True)
        self.assertEqual(len(self.drain(ch, q, 1)), 1)
        ch.connection.process_data_events(time_limit=0.2)
        self.assertEqual(returned, [])

    def test_alternate_exchange_missing_returns(self):
        # an AE that does not exist: unroutable, so mandatory returns it
        ch = self.channel()
        x = self.exchange(ch, "direct", arguments={"alternate-exchange": uname("none")})
        returned = []
        ch.add_on_return_callback(lambda c, m, p, b: returned.append((m.reply_code, b)))
        ch.basic_publish(x, "nowhere", b"m", mandatory=True)
        self.wait_for(lambda: returned, conn=ch.connection)
        self.assertEqual(returned, [(312, b"m")])

    def test_alternate_exchange_chain(self):
        ch = self.channel()
        ae2 = self.exchange(ch, "fanout")
        ae1 = self.exchange(ch, "direct", arguments={"alternate-exchange": ae2})
        x = self.exchange(ch, "direct", arguments={"alternate-exchange": ae1})
        q = self.queue(ch, exclusive=True)
        ch.queue_bind(q, ae2)
        ch.basic_publish(x, "nowhere", b"two hops")
        self.assertEqual(self.drain(ch, q, 1)[0][2], b"two hops")


if __name__ == "__main__":
    unittest.main()
