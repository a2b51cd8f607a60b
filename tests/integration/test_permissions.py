"""Per-user, per-vhost permissions (configure, write, read regular
expressions) enforced on AMQP operations as RabbitMQ enforces them, with
its 403/530 answers.  Users and permissions are made through the
management API, so this needs MGMT_PORT."""

import base64
import json
import os
import urllib.error
import urllib.request
import unittest

import pika
import pika.exceptions

from helpers import BrokerTestCase, connect, uname


def api(method, path, body=None):
    port = os.environ.get("MGMT_PORT")
    req = urllib.request.Request("http://127.0.0.1:%s/api/%s" % (port, path),
                                 data=json.dumps(body).encode() if body is not None else None,
                                 method=method)
    req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status


class PermissionTests(BrokerTestCase):

    def setUp(self):
        super().setUp()
        if not os.environ.get("MGMT_PORT"):
            self.skipTest("needs MGMT_PORT")
        self.user = uname("u")
        api("PUT", "users/" + self.user, {"password": "pw", "tags": ""})
        self.addCleanup(api, "DELETE", "users/" + self.user)
        api("PUT", "permissions/%2F/" + self.user,
            {"configure": "^cfg-.*", "write": "^(cfg|w)-.*", "read": "^(r|w)-.*"})

    def user_channel(self):
        c = connect(credentials=pika.PlainCredentials(self.user, "pw"))
        self._conns.append(c)
        return c.channel()

    def refused(self, kind, name):
        return "ACCESS_REFUSED - access to %s '%s' in vhost '/' refused for user '%s'" % (
            kind, name, self.user)

    def test_configure(self):
        ch = self.user_channel()
        q = "cfg-" + uname("q")
        ch.queue_declare(q)
        self.track_queue(q)
        other = uname("q")
        self.assertChannelClosed(403, self.refused("queue", other), ch.queue_declare, other)
        ch = self.user_channel()
        self.assertChannelClosed(403, self.refused("exchange", "x-nope"),
                                 ch.exchange_declare, "x-nope", "fanout")
        ch = self.user_channel()
        self.assertChannelClosed(403, self.refused("queue", other), ch.queue_delete, other)

    def test_passive_declare_needs_no_configure(self):
        admin = self.channel()
        q = self.queue(admin)
        ch = self.user_channel()
        self.assertEqual(ch.queue_declare(q, passive=True).method.queue, q)

    def test_write_on_publish(self):
        admin = self.channel()
        ch = self.user_channel()
        ch.basic_publish("", "anything", b"x")          # not yet checked: fire and forget
        with self.assertRaises(pika.exceptions.ChannelClosedByBroker) as cm:
            ch.queue_declare(uname("r-q"), passive=True)  # any round trip shows the close
        self.assertEqual((cm.exception.reply_code, cm.exception.reply_text),
                         (403, self.refused("exchange", "amq.default")))
        x = self.exchange(admin, "fanout", name="w-" + uname("x"))
        q = self.queue(admin, name="w-" + uname("q"))
        admin.queue_bind(q, x)
        ch = self.user_channel()
        ch.confirm_delivery()
        ch.basic_publish(x, "", b"allowed")
        self.assertEqual(admin.basic_get(q, auto_ack=True)[2], b"allowed")

    def test_read_on_get_consume_purge(self):
        admin = self.channel()
        q = self.queue(admin, name="cfg-" + uname("q"))     # configure and write, no read
        admin.basic_publish("", q, b"x")
        for op in (lambda ch: ch.basic_get(q),
                   lambda ch: ch.basic_consume(q, lambda *a: None),
                   lambda ch: ch.queue_purge(q)):
            ch = self.user_channel()
            self.assertChannelClosed(403, self.refused("queue", q), op, ch)
        r = self.queue(admin, name="r-" + uname("q"))
        admin.basic_publish("", r, b"y")
        ch = self.user_channel()
        self.assertEqual(self.drain(ch, r, 1)[0][2], b"y")

    def test_bind_needs_write_on_queue_and_read_on_exchange(self):
        admin = self.channel()
        x_unreadable = self.exchange(admin, "fanout", name="cfg-" + uname("x"))
        x_readable = self.exchange(admin, "fanout", name="r-" + uname("x"))
        q = self.queue(admin, name="cfg-" + uname("q"))
        ch = self.user_channel()
        self.assertChannelClosed(403, self.refused("exchange", x_unreadable),
                                 ch.queue_bind, q, x_unreadable)
        ch = self.user_channel()
        ch.queue_bind(q, x_readable)

    def test_no_permissions_on_vhost(self):
        user = uname("u")
        api("PUT", "users/" + user, {"password": "pw", "tags": ""})
        self.addCleanup(api, "DELETE", "users/" + user)
        # pika reports a 530 on connection.open as ProbableAccessDeniedError
        with self.assertRaises(pika.exceptions.ProbableAccessDeniedError) as cm:
            connect(credentials=pika.PlainCredentials(user, "pw"))
        self.assertIn("(530) \"NOT_ALLOWED - access to vhost '/' refused for user '%s'\"" % user,
                      str(cm.exception))

    def test_user_id_must_match(self):
        ch = self.user_channel()
        q = "cfg-" + uname("q")
        ch.queue_declare(q)
        self.track_queue(q)
        x = "cfg-" + uname("x")
        ch.exchange_declare(x, "fanout")
        self.track_exchange(x)
        ch.basic_publish(x, "", b"x", pika.BasicProperties(user_id="someone-else"))
        with self.assertRaises(pika.exceptions.ChannelClosedByBroker) as cm:
            ch.queue_declare(q, passive=True)
        self.assertEqual(
            (cm.exception.reply_code, cm.exception.reply_text),
            (406, "PRECONDITION_FAILED - user_id property set to 'someone-else' but "
                  "authenticated user was '%s'" % self.user))


if __name__ == "__main__":
    unittest.main()


class VhostLimitTests(BrokerTestCase):
    """max-connections and max-queues set through /api/vhost-limits."""

    def setUp(self):
        super().setUp()
        if not os.environ.get("MGMT_PORT"):
            self.skipTest("needs MGMT_PORT")
        self.vhost = uname("vh")
        api("PUT", "vhosts/" + self.vhost, {})
        self.addCleanup(api, "DELETE", "vhosts/" + self.vhost)
        api("PUT", "permissions/%s/guest" % self.vhost,
            {"configure": ".*", "write": ".*", "read": ".*"})

    def open(self):
        c = connect(virtual_host=self.vhost)
        self._conns.append(c)
        return c

    def test_max_queues(self):
        api("PUT", "vhost-limits/%s/max-queues" % self.vhost, {"value": 1})
        ch = self.open().channel()
        ch.queue_declare("first")
        ch.queue_declare("first")                 # redeclaring is fine
        self.assertChannelClosed(
            406, "PRECONDITION_FAILED - cannot declare queue 'second': queue limit in vhost "
                 "'%s' (1) is reached" % self.vhost, ch.queue_declare, "second")

    def test_max_connections(self):
        api("PUT", "vhost-limits/%s/max-connections" % self.vhost, {"value": 1})
        self.open()
        with self.assertRaises(pika.exceptions.ProbableAccessDeniedError) as cm:
            connect(virtual_host=self.vhost)
        self.assertIn("(530) \"NOT_ALLOWED - access to vhost '%s' refused for user 'guest': "
                      "connection limit (1) is reached\"" % self.vhost, str(cm.exception))


def api_get(path):
    port = os.environ.get("MGMT_PORT")
    req = urllib.request.Request("http://127.0.0.1:%s/api/%s" % (port, path))
    req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


class TopicPermissionTests(BrokerTestCase):
    """Topic permissions (RabbitMQ's rabbit_auth_backend_internal, checked
    by rabbit_channel): on a topic exchange the user has a topic
    permission for, publishing needs the routing key to match the write
    regex and queue.bind / queue.unbind / exchange.bind / exchange.unbind
    (with it as source) the read regex; {username} and {vhost} in a regex
    stand for the names; an empty regex matches only the empty key; other
    exchange types and exchanges without a topic permission are not
    checked.  Refusals close the channel: 403 "ACCESS_REFUSED - access to
    topic 'K' in exchange 'X' in vhost 'V' refused for user 'U'" (checked
    against RabbitMQ 3.10.8).  PUT /api/topic-permissions/V/U answers 201
    when the user had none on the vhost, else 204."""

    def setUp(self):
        super().setUp()
        if not os.environ.get("MGMT_PORT"):
            self.skipTest("needs MGMT_PORT")
        self.user = uname("tu")
        api("PUT", "users/" + self.user, {"password": "pw", "tags": ""})
        self.addCleanup(api, "DELETE", "users/" + self.user)
        api("PUT", "permissions/%2F/" + self.user, {"configure": ".*", "write": ".*", "read": ".*"})
        self.x = uname("tx")
        self.x2 = uname("tx2")
        ch = self.channel()
        for x, kind in ((self.x, "topic"), (self.x2, "topic")):
            ch.exchange_declare(x, kind)
            self.track_exchange(x)
        self.assertEqual(api("PUT", "topic-permissions/%2F/" + self.user,
                             {"exchange": self.x, "write": "^{username}\\.",
                              "read": "^r-{vhost}-.*"}), 201)
        self.assertEqual(api("PUT", "topic-permissions/%2F/" + self.user,
                             {"exchange": self.x2, "write": "", "read": ""}), 204)

    def user_channel(self):
        c = self.connect(credentials=pika.PlainCredentials(self.user, "pw"))
        ch = c.channel()
        ch.confirm_delivery()
        return ch

    def refused(self, key, x):
        return ("ACCESS_REFUSED - access to topic '%s' in exchange '%s' in vhost '/' refused "
                "for user '%s'" % (key, x, self.user))

    def test_publish_write_regex(self):
        ch = self.user_channel()
        ch.basic_publish(self.x, self.user + ".anything", b"ok")
        self.assertChannelClosed(403, self.refused("other.key", self.x),
                                 ch.basic_publish, self.x, "other.key", b"no")

    def test_empty_regex_matches_only_empty_key(self):
        ch = self.user_channel()
        ch.basic_publish(self.x2, "", b"ok")
        self.assertChannelClosed(403, self.refused("a", self.x2),
                                 ch.basic_publish, self.x2, "a", b"no")

    def test_other_exchanges_unchecked(self):
        ch = self.user_channel()
        d = uname("td")
        ch.exchange_declare(d, "direct")
        self.track_exchange(d)
        t = uname("tt")
        ch.exchange_declare(t, "topic")
        self.track_exchange(t)
        ch.basic_publish(d, "zzz", b"direct")
        ch.basic_publish(t, "zzz", b"topic without a topic permission")
        ch.basic_publish("", "zzz", b"default")

    def test_bind_and_unbind_read_regex(self):
        ch = self.user_channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind(q, self.x, "r-/-x")
        ch.queue_unbind(q, self.x, "r-/-x")
        self.assertChannelClosed(403, self.refused("zz", self.x), ch.queue_bind, q, self.x, "zz")
        ch = self.user_channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        self.assertChannelClosed(403, self.refused("zz", self.x),
                                 ch.queue_unbind, q, self.x, "zz")

    def test_exchange_bind_read_regex(self):
        ch = self.user_channel()
        dest = uname("tdest")
        ch.exchange_declare(dest, "fanout")
        self.track_exchange(dest)
        ch.exchange_bind(dest, self.x, "r-/-1")
        self.assertChannelClosed(403, self.refused("zz", self.x),
                                 ch.exchange_bind, dest, self.x, "zz")

    def test_missing_exchange_is_404_first(self):
        ch = self.user_channel()
        self.assertChannelClosed(
            404, "NOT_FOUND - no exchange 'nope-%s' in vhost '/'" % self.user,
            ch.basic_publish, "nope-" + self.user, "k", b"x")

    def test_client_id_is_literal(self):
        """{client_id} is set only for MQTT in RabbitMQ: for AMQP 0-9-1 it
        stays in the regex as written, where PCRE reads the brace as a
        literal (the API accepts it)."""
        self.assertEqual(api("PUT", "topic-permissions/%2F/" + self.user,
                             {"exchange": self.x, "write": "^{client_id}\\.a|^b{2}$",
                              "read": ".*"}), 204)
        ch = self.user_channel()
        ch.basic_publish(self.x, "{client_id}.a", b"ok")
        ch.basic_publish(self.x, "bb", b"ok")
        self.assertChannelClosed(403, self.refused("b", self.x),
                                 ch.basic_publish, self.x, "b", b"no")

    def test_api_listings_and_delete(self):
        mine = [p for p in api_get("topic-permissions") if p["user"] == self.user]
        self.assertEqual(sorted(p["exchange"] for p in mine), sorted([self.x, self.x2]))
        p = [p for p in mine if p["exchange"] == self.x][0]
        self.assertEqual(p, {"user": self.user, "vhost": "/", "exchange": self.x,
                             "write": "^{username}\\.", "read": "^r-{vhost}-.*"})
        self.assertEqual(len(api_get("users/%s/topic-permissions" % self.user)), 2)
        self.assertEqual(len(api_get("topic-permissions/%%2F/%s" % self.user)), 2)
        self.assertTrue(any(p["user"] == self.user
                            for p in api_get("vhosts/%2F/topic-permissions")))
        defs = api_get("definitions")
        self.assertTrue(any(p["user"] == self.user and p["exchange"] == self.x
                            for p in defs["topic_permissions"]))
        # RabbitMQ 3.10's route has no exchange binding: ?exchange= is not
        # looked at and every topic permission of the user on the vhost goes
        self.assertEqual(api("DELETE", "topic-permissions/%%2F/%s?exchange=%s" % (
            self.user, self.x2)), 204)
        with self.assertRaises(urllib.error.HTTPError) as cm:
            api_get("topic-permissions/%%2F/%s" % self.user)
        self.assertEqual(cm.exception.code, 404)
        # with the permissions gone, anything goes on those exchanges
        ch = self.user_channel()
        ch.basic_publish(self.x2, "a", b"ok")
        ch.basic_publish(self.x, "b", b"ok")
