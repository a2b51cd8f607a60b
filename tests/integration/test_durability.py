"""Durability across restarts: each test runs a warren of its own on a data
folder it keeps, stops it (cleanly or with SIGKILL) and starts it again.
Durable exchanges, queues, bindings, users and persistent messages come
back; transient ones do not; a delivered but unacknowledged message
comes back redelivered; an acknowledged one does not."""

import os
import signal
import tempfile
import shutil
import time
import unittest

import pika

from helpers import BrokerTestCase, OwnBroker


class DurabilityTests(BrokerTestCase):

    def setUp(self):
        super().setUp()
        self.data = tempfile.mkdtemp(prefix="warren-dur-")
        self.addCleanup(shutil.rmtree, self.data, True)

    def broker(self):
        return OwnBroker(self, data_dir=self.data)

    def restart(self, b, kill=False):
        if kill:
            b.proc.send_signal(signal.SIGKILL)
        else:
            b.proc.terminate()
        b.proc.wait(10)
        return self.broker()

    def test_topology_survives_clean_restart(self):
        b = self.broker()
        c = b.connect()
        ch = c.channel()
        ch.exchange_declare("dx", "topic", durable=True)
        ch.exchange_declare("tx", "fanout", durable=False)
        ch.queue_declare("dq", durable=True, arguments={"x-max-length": 10})
        ch.queue_declare("tq", durable=False)
        ch.queue_bind("dq", "dx", "a.#")
        ch.queue_bind("tq", "dx", "b.#")
        c.close()
        b = self.restart(b)
        ch = b.connect().channel()
        ch.exchange_declare("dx", "topic", durable=True, passive=True)
        ok = ch.queue_declare("dq", durable=True, arguments={"x-max-length": 10})
        self.assertEqual(ok.method.message_count, 0)
        # the binding came back: a.# routes to dq
        ch.basic_publish("dx", "a.z", b"routed")
        self.assertEqual(ch.basic_get("dq", auto_ack=True)[2], b"routed")
        for kind, name in (("exchange", "tx"), ("queue", "tq")):
            ch2 = b.connect().channel()
            with self.assertRaises(pika.exceptions.ChannelClosedByBroker) as cm:
                if kind == "queue":
                    ch2.queue_declare(name, passive=True)
                else:
                    ch2.exchange_declare(name, passive=True)
            self.assertEqual(cm.exception.reply_code, 404)

    def publish(self, ch, n, queue="dq", mode=2):
        ch.confirm_delivery()
        for i in range(n):
            ch.basic_publish("", queue, b"m%d" % i,
                             pika.BasicProperties(delivery_mode=mode, message_id="id%d" % i,
                                                  headers={"n": i, "nested": {"k": [1, "x"]}},
                                                  content_type="application/x-test"))

    def check_bodies(self, ch, want, queue="dq"):
        got = []
        while True:
            m, p, body = ch.basic_get(queue, auto_ack=True)
            if m is None:
                break
            got.append(body)
            n = int(body[1:])
            self.assertEqual(p.message_id, "id%d" % n)
            self.assertEqual(p.headers, {"n": n, "nested": {"k": [1, "x"]}})
            self.assertEqual(p.content_type, "application/x-test")
            self.assertEqual(p.delivery_mode, 2)
        self.assertEqual(got, want)

    def test_persistent_messages_survive_clean_stop(self):
        b = self.broker()
        ch = b.connect().channel()
        ch.queue_declare("dq", durable=True)
        ch.queue_declare("tq", durable=True)
        self.publish(ch, 50)
        self.publish(ch, 5, queue="tq", mode=1)     # transient messages in a durable queue
        b = self.restart(b)
        ch = b.connect().channel()
        self.check_bodies(ch, [b"m%d" % i for i in range(50)])
        self.assertEqual(ch.queue_declare("tq", passive=True).method.message_count, 0)

    def test_confirmed_messages_survive_kill_9(self):
        b = self.broker()
        ch = b.connect().channel()
        ch.queue_declare("dq", durable=True)
        self.publish(ch, 200)     # every publish confirmed before the next
        b = self.restart(b, kill=True)
        ch = b.connect().channel()
        self.check_bodies(ch, [b"m%d" % i for i in range(200)])

    def test_unacked_comes_back_redelivered_acked_does_not(self):
        b = self.broker()
        c = b.connect()
        ch = c.channel()
        ch.queue_declare("dq", durable=True)
        self.publish(ch, 3)
        m0 = ch.basic_get("dq")                    # delivered, never acked
        m1 = ch.basic_get("dq")
        ch.basic_ack(m1[0].delivery_tag)          # acked
        self.assertEqual((m0[2], m1[2]), (b"m0", b"m1"))
        c.process_data_events(0.2)
        b = self.restart(b, kill=True)
        ch = b.connect().channel()
        got = []
        while True:
            m, _p, body = ch.basic_get("dq", auto_ack=True)
            if m is None:
                break
            got.append((body, m.redelivered))
        self.assertEqual(got, [(b"m0", True), (b"m2", False)])

    def test_http_get_with_ack_is_durable(self):
        # the management API's "get messages" with ackmode ack_requeue_false
        # acknowledges in the queue's log too: the message does not come back
        import base64, json, urllib.request
        b = OwnBroker(self, data_dir=self.data, mgmt=True)
        ch = b.connect().channel()
        ch.queue_declare("dq", durable=True)
        self.publish(ch, 3)
        req = urllib.request.Request(
            "http://127.0.0.1:%d/api/queues/%%2F/dq/get" % b.mgmt_port, method="POST",
            data=json.dumps({"count": 1, "ackmode": "ack_requeue_false",
                             "encoding": "auto"}).encode())
        req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertEqual(json.load(r)[0]["payload"], "m0")
        ch.connection.process_data_events(0.2)
        b = self.restart(b, kill=True)
        ch = b.connect().channel()
        self.check_bodies(ch, [b"m1", b"m2"])

    def test_delivery_count_survives_kill_9(self):
        # x-delivery-count (as RabbitMQ's quorum queues report it) on a queue
        # with a delivery limit keeps counting across a crash, so the limit
        # cannot be escaped by one
        b = self.broker()
        ch = b.connect().channel()
        ch.queue_declare("dl", durable=True, arguments={"x-delivery-limit": 5})
        ch.confirm_delivery()
        ch.basic_publish("", "dl", b"again", pika.BasicProperties(delivery_mode=2))
        counts = []
        for _ in range(3):
            m, p, _b = ch.basic_get("dl")
            counts.append((p.headers or {}).get("x-delivery-count"))
            ch.basic_nack(m.delivery_tag, requeue=True)
        self.assertEqual(counts, [None, 1, 2])
        ch.connection.process_data_events(0.2)
        b = self.restart(b, kill=True)
        ch = b.connect().channel()
        m, p, body = ch.basic_get("dl", auto_ack=True)
        self.assertEqual((body, m.redelivered, p.headers.get("x-delivery-count")),
                         (b"again", True, 3))

    def test_definitions_journal_survives_kill_9(self):
        # Declarations and deletions of durable queues, exchanges and bindings
        # go to the definitions journal; a declare-ok is sent once its record
        # is on disk, so a kill -9 right after the last one loses nothing, also
        # across a rewrite of the definitions file (forced here by a vhost
        # created over HTTP) with journal records before and after it.
        import base64, json, urllib.request

        def defs(b):
            req = urllib.request.Request("http://127.0.0.1:%d/api/definitions" % b.mgmt_port)
            req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
            with urllib.request.urlopen(req, timeout=10) as r:
                d = json.load(r)
            return {k: d[k] for k in ("vhosts", "queues", "exchanges", "bindings")}

        b = OwnBroker(self, data_dir=self.data, mgmt=True)
        ch = b.connect().channel()
        ch.exchange_declare("dx", "topic", durable=True)
        ch.exchange_declare("gone-x", "fanout", durable=True)
        for i in range(20):
            ch.queue_declare("q%d" % i, durable=True, arguments={"x-max-length": i + 1})
            ch.queue_bind("q%d" % i, "dx", "k.%d" % i)
        ch.queue_bind("q0", "gone-x")
        ch.exchange_bind("dx", "gone-x", "e")
        def http(method, path, body):
            req = urllib.request.Request("http://127.0.0.1:%d%s" % (b.mgmt_port, path),
                                         method=method, data=json.dumps(body).encode())
            req.add_header("Authorization",
                           "Basic " + base64.b64encode(b"guest:guest").decode())
            req.add_header("Content-Type", "application/json")
            urllib.request.urlopen(req, timeout=10).close()

        http("PUT", "/api/vhosts/v2", {})
        # over HTTP, the same journal: a queue and a binding
        http("PUT", "/api/queues/%2F/httpq", {"durable": True, "arguments": {"x-max-length": 7}})
        http("POST", "/api/bindings/%2F/e/dx/q/httpq", {"routing_key": "via.http"})
        ch.queue_unbind("q1", "dx", "k.1")
        ch.queue_delete("q2")
        ch.exchange_delete("gone-x")
        ch.queue_declare("q2", durable=True, arguments={"x-message-ttl": 5000})
        ch.queue_bind("q2", "dx", "other")
        ch.queue_declare("transient", durable=False)
        ch.queue_bind("transient", "dx", "t")
        ch.queue_declare("excl", durable=True, exclusive=True)
        ch.queue_bind("excl", "dx", "x")
        ch.queue_declare("last", durable=True)
        before = defs(b)
        # the export lists transient queues too; what survives is the durable part
        before["queues"] = [q for q in before["queues"] if q["durable"]]
        before["bindings"] = [x for x in before["bindings"] if x["destination"] != "transient"]
        b.proc.send_signal(signal.SIGKILL)
        b.proc.wait(10)
        b = OwnBroker(self, data_dir=self.data, mgmt=True)
        after = defs(b)
        self.assertEqual(after, before)
        names = sorted(q["name"] for q in after["queues"])
        self.assertEqual(names, sorted(["q%d" % i for i in range(20)] + ["last", "httpq"]))
        self.assertIn("via.http", [x["routing_key"] for x in after["bindings"]])
        q2 = [q for q in after["queues"] if q["name"] == "q2"][0]
        self.assertEqual(q2["arguments"], {"x-message-ttl": 5000})
        self.assertEqual(sorted(v["name"] for v in after["vhosts"]), ["/", "v2"])
        self.assertNotIn("k.1", [x["routing_key"] for x in after["bindings"]])
        self.assertNotIn("gone-x", [x["name"] for x in after["exchanges"]])

    def test_deleted_queue_stays_deleted(self):
        b = self.broker()
        ch = b.connect().channel()
        ch.queue_declare("dq", durable=True)
        self.publish(ch, 3)
        ch.queue_delete("dq")
        b = self.restart(b)
        ch = b.connect().channel()
        with self.assertRaises(pika.exceptions.ChannelClosedByBroker) as cm:
            ch.queue_declare("dq", passive=True)
        self.assertEqual(cm.exception.reply_code, 404)
        logs = os.listdir(os.path.join(self.data, "queues"))
        self.assertEqual([x for x in logs if not x.startswith("meta-journal-")], [])

    def consume_all(self, conn, queue, n):
        ch = conn.channel()
        ch.basic_qos(prefetch_count=500)
        got = []

        def on(c, m, p, body):
            got.append((int(p.message_id), body, m.redelivered))
            if len(got) % 250 == 0 or len(got) == n:
                c.basic_ack(m.delivery_tag, multiple=True)
            if len(got) == n:
                c.stop_consuming()
        ch.basic_consume(queue, on)
        ch.start_consuming()
        return got

    def test_long_queue_pages_bodies_out(self):
        # 60 MiB of persistent messages: past the paging threshold only the
        # index stays in memory; every body comes back, in order, also after
        # a restart that recovers them as an index only
        b = self.broker()
        c = b.connect()
        ch = c.channel()
        ch.queue_declare("big", durable=True)
        n, size = 60000, 1024
        for i in range(n):
            ch.basic_publish("", "big", (b"%08d" % i) * (size // 8),
                             pika.BasicProperties(delivery_mode=2, message_id=str(i)))
        ch.confirm_delivery()
        ch.basic_publish("", "big", b"last", pika.BasicProperties(delivery_mode=2, message_id=str(n)))
        with open("/proc/%d/status" % b.proc.pid) as f:
            rss = int([l for l in f if l.startswith("VmRSS")][0].split()[1]) // 1024
        # (under AddressSanitizer memory figures mean nothing: shadow memory, quarantine)
        if "ASAN_OPTIONS" not in os.environ:
            self.assertLess(rss, 45, "resident memory %d MiB after 60 MiB of persistent messages"
                            % rss)
        c.close()
        b = self.restart(b, kill=True)
        got = self.consume_all(b.connect(), "big", n + 1)
        self.assertEqual([i for i, _b, _r in got], list(range(n + 1)))
        for i, body, redelivered in got[:n]:
            self.assertEqual(body, (b"%08d" % i) * (size // 8))

    def test_disk_space_comes_back(self):
        b = self.broker()
        ch = b.connect().channel()
        ch.queue_declare("dq", durable=True)
        ch.confirm_delivery()
        body = b"x" * 1024
        for i in range(5000):
            ch.basic_publish("", "dq", body, pika.BasicProperties(delivery_mode=2))
        while ch.basic_get("dq", auto_ack=True)[0] is not None:
            pass
        b = self.restart(b)
        size = 0
        for root, _dirs, files in os.walk(self.data):
            size += sum(os.path.getsize(os.path.join(root, f)) for f in files)
        self.assertLess(size, 512 * 1024)


if __name__ == "__main__":
    unittest.main()
