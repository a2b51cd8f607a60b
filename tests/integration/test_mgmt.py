"""The management HTTP API, field by field, as RabbitMQ 3.10's management
plugin answers.  The same tests pass against RabbitMQ itself:

    MGMT_PORT=15672 AMQP_PORT=5672 PROM_PORT=15692 /usr/bin/python3 runtests.py --module test_mgmt

Environment: AMQP_HOST, AMQP_PORT, MGMT_PORT (skipped without it),
PROM_PORT (the Prometheus tests are skipped without it), WARREN_BIN (the
definitions round trip then also imports into a second, fresh warren).
RabbitMQ refreshes statistics every 5 s, so fields that come from them are
polled for; warren answers at once.
"""

import base64
import hashlib
import json
import os
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from helpers import BrokerTestCase, HOST, PORT, uname, connect
import pika

MGMT_PORT = os.environ.get("MGMT_PORT")
PROM_PORT = os.environ.get("PROM_PORT")
HERE = os.path.dirname(os.path.abspath(__file__))
ADMIN = ("guest", "guest")


def q(s):
    """One path segment, percent-encoded (so "/" is %2F)."""
    return urllib.parse.quote(s, safe="")


def api(method, path, body=None, auth=ADMIN, headers=None, raw=None, port=None):
    """(status, headers, parsed JSON or bytes) of one request."""
    url = "http://%s:%s%s" % (HOST, port or MGMT_PORT, path)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    if auth:
        tok = base64.b64encode(("%s:%s" % auth).encode()).decode()
        req.add_header("Authorization", "Basic " + tok)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        resp = urllib.request.urlopen(req, timeout=15)
        status, hdrs, payload = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        status, hdrs, payload = e.code, e.headers, e.read()
    ctype = hdrs.get("content-type", "") or ""
    if payload and ctype.startswith("application/json"):
        return status, hdrs, json.loads(payload)
    return status, hdrs, payload


def eventually(fn, timeout=12.0):
    """Poll fn() until it returns something truthy (RabbitMQ's 5 s stats)."""
    end = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > end:
            return v
        time.sleep(0.25)


def is_warren():
    st, hdrs, _ = api("GET", "/api/overview")
    return (hdrs.get("server") or "").startswith("warren")


@unittest.skipUnless(MGMT_PORT, "MGMT_PORT is not set: no management API to test")
class MgmtCase(BrokerTestCase):
    def setUp(self):
        super().setUp()
        self._vhosts, self._users = [], []
        self.addCleanup(self._mgmt_cleanup)

    def _mgmt_cleanup(self):
        for v in self._vhosts:
            api("DELETE", "/api/vhosts/" + q(v))
        for u in self._users:
            api("DELETE", "/api/users/" + q(u))

    def vhost(self):
        name = uname("vh")
        st, _, _ = api("PUT", "/api/vhosts/" + q(name), {})
        self.assertEqual(st, 201)
        self._vhosts.append(name)
        return name

    def user(self, tags="", password="pw"):
        name = uname("u")
        st, _, _ = api("PUT", "/api/users/" + q(name), {"password": password, "tags": tags})
        self.assertEqual(st, 201)
        self._users.append(name)
        return name

    def http_queue(self, vhost="/", **body):
        name = uname("q")
        st, _, _ = api("PUT", "/api/queues/%s/%s" % (q(vhost), q(name)), body)
        self.assertEqual(st, 201)
        if vhost == "/":
            self.track_queue(name)
        return name

    def assertError(self, resp, status, error, reason=None):
        st, _, body = resp
        self.assertEqual(st, status, body)
        self.assertIsInstance(body, dict, body)
        self.assertEqual(set(body), {"error", "reason"})
        self.assertEqual(body["error"], error)
        if reason is not None:
            self.assertEqual(body["reason"], reason)

    def assertRate(self, obj, key):
        self.assertIn(key, obj)
        self.assertIsInstance(obj[key], int)
        self.assertIsInstance(obj[key + "_details"]["rate"], (int, float))


class Auth(MgmtCase):
    def test_no_credentials_is_401_with_empty_body(self):
        st, hdrs, body = api("GET", "/api/overview", auth=None)
        self.assertEqual(st, 401)
        self.assertEqual(body, b"")
        self.assertIn("Basic", hdrs.get("www-authenticate", ""))

    def test_wrong_password(self):
        r = api("GET", "/api/overview", auth=("guest", "wrong"))
        self.assertError(r, 401, "not_authorized", "Login failed")
        self.assertIn("Basic", r[1].get("www-authenticate", ""))

    def test_unknown_user(self):
        self.assertError(api("GET", "/api/queues", auth=(uname("nobody"), "x")), 401,
                         "not_authorized", "Login failed")

    def test_user_without_management_tag(self):
        u = self.user(tags="")
        self.assertError(api("GET", "/api/overview", auth=(u, "pw")), 401, "not_authorised",
                         "Not management user")

    def test_monitoring_user_is_not_administrator(self):
        u = self.user(tags="monitoring")
        self.assertError(api("GET", "/api/users", auth=(u, "pw")), 401, "not_authorised",
                         "Not administrator user")
        st, _, who = api("GET", "/api/whoami", auth=(u, "pw"))
        self.assertEqual(st, 200)
        self.assertEqual(who, {"name": u, "tags": ["monitoring"]})

    def test_management_user_needs_vhost_permission(self):
        u = self.user(tags="management")
        vh = self.vhost()
        self.assertError(api("GET", "/api/queues/" + q(vh), auth=(u, "pw")), 401,
                         "not_authorised", "User not authorised to access virtual host")
        # the list simply leaves the vhost out
        st, _, qs = api("GET", "/api/queues", auth=(u, "pw"))
        self.assertEqual(st, 200)
        self.assertEqual([x for x in qs if x["vhost"] == vh], [])

    def test_permission_regex_denies_declare(self):
        u = self.user(tags="management")
        vh = self.vhost()
        st, _, _ = api("PUT", "/api/permissions/%s/%s" % (q(vh), q(u)),
                       {"configure": "^allowed-", "write": ".*", "read": ".*"})
        self.assertEqual(st, 201)
        self.assertError(api("PUT", "/api/queues/%s/denied-q" % q(vh), {}, auth=(u, "pw")), 401,
                         "not_authorised", "Access refused.")
        st, _, _ = api("PUT", "/api/queues/%s/allowed-q" % q(vh), {}, auth=(u, "pw"))
        self.assertEqual(st, 201)

    def test_whoami(self):
        st, hdrs, who = api("GET", "/api/whoami")
        self.assertEqual(st, 200)
        self.assertEqual(who, {"name": "guest", "tags": ["administrator"]})
        self.assertEqual(hdrs.get("content-type"), "application/json")
        self.assertEqual(hdrs.get("cache-control"), "no-cache")


class Protocol(MgmtCase):
    def test_unknown_path_is_404(self):
        self.assertError(api("GET", "/api/no-such-thing"), 404, "Object Not Found", "Not Found")

    def test_wrong_method_is_405_with_allow(self):
        name = self.http_queue()
        st, hdrs, body = api("GET", "/api/queues/%2F/" + q(name) + "/contents")
        self.assertEqual(st, 405)
        self.assertIn("DELETE", hdrs.get("allow", ""))
        self.assertEqual(body, b"")

    def test_accept_html_is_406(self):
        st, _, _ = api("GET", "/api/overview", headers={"Accept": "text/html"})
        self.assertEqual(st, 406)

    def test_trailing_slash_and_lower_case_2f(self):
        st, _, a = api("GET", "/api/queues/")
        self.assertEqual(st, 200)
        self.assertIsInstance(a, list)
        st, _, b = api("GET", "/api/exchanges/%2f")
        self.assertEqual(st, 200)
        self.assertIn("amq.direct", [x["name"] for x in b])

    def test_plus_is_not_a_space(self):
        self.assertEqual(api("GET", "/api/queues/my+vhost")[0], 404)

    def test_bad_json_body(self):
        self.assertError(api("PUT", "/api/queues/%2F/" + uname("bad"), raw=b"{not json"), 400,
                         "bad_request", "not_json")

    def test_keep_alive_two_requests_one_socket(self):
        tok = base64.b64encode(b"guest:guest").decode()
        s = socket.create_connection((HOST, int(MGMT_PORT)), timeout=10)
        try:
            req = ("GET /api/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n\r\n" % tok)
            s.sendall((req + req).encode())
            data = b""
            end = time.time() + 10
            while data.count(b'"administrator"') < 2 and time.time() < end:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            self.assertEqual(data.count(b"HTTP/1.1 200"), 2, data)
        finally:
            s.close()

    def test_malformed_request_is_400(self):
        if not is_warren():
            self.skipTest("the exact answer to garbage is server specific")
        s = socket.create_connection((HOST, int(MGMT_PORT)), timeout=10)
        try:
            s.sendall(b"\x00\x01garbage\r\n\r\n")
            self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 400"))
        finally:
            s.close()

    def test_oversized_body_is_413(self):
        if not is_warren():
            self.skipTest("RabbitMQ's body limit differs")
        s = socket.create_connection((HOST, int(MGMT_PORT)), timeout=10)
        try:
            s.sendall(b"PUT /api/queues/%2F/x HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 999999999\r\n\r\n")
            self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 413"))
        finally:
            s.close()

    def test_chunked_large_listing(self):
        if not is_warren():
            self.skipTest("chunking is warren's choice")
        vh = self.vhost()
        for i in range(150):
            api("PUT", "/api/queues/%s/%s" % (q(vh), "bulk-%03d" % i), {})
        st, hdrs, qs = api("GET", "/api/queues/" + q(vh))
        self.assertEqual(st, 200)
        self.assertEqual(len(qs), 150)
        self.assertEqual(hdrs.get("transfer-encoding"), "chunked")


class Overview(MgmtCase):
    def test_overview_fields(self):
        st, _, o = api("GET", "/api/overview")
        self.assertEqual(st, 200)
        for k in ("management_version", "rabbitmq_version", "product_name", "product_version",
                  "cluster_name", "node", "erlang_version", "erlang_full_version"):
            self.assertIsInstance(o[k], str, k)
        self.assertEqual(o["rates_mode"], "basic")
        self.assertIs(o["disable_stats"], False)
        self.assertIs(o["enable_queue_totals"], False)
        for k in ("connections", "channels", "exchanges", "queues", "consumers"):
            self.assertIsInstance(o["object_totals"][k], int, k)
        for k in ("messages", "messages_ready", "messages_unacknowledged"):
            self.assertRate(o["queue_totals"], k)
        for k in ("connection_created", "connection_closed", "channel_created", "channel_closed",
                  "queue_declared", "queue_created", "queue_deleted"):
            self.assertRate(o["churn_rates"], k)
        self.assertEqual(sorted(t["name"] for t in o["exchange_types"]),
                         ["direct", "fanout", "headers", "topic"])
        amqp = [l for l in o["listeners"] if l["protocol"] == "amqp"]
        self.assertTrue(amqp)
        self.assertIn(PORT, [l["port"] for l in amqp])
        self.assertTrue(all(isinstance(c["port"], str) for c in o["contexts"]))
        self.assertIn("message_stats", o)

    def test_overview_columns_keep_whole_objects(self):
        st, _, o = api("GET", "/api/overview?columns=rabbitmq_version,cluster_name,"
                              "queue_totals.messages,object_totals.queues")
        self.assertEqual(st, 200)
        self.assertEqual(set(o), {"rabbitmq_version", "cluster_name", "queue_totals",
                                  "object_totals"})
        self.assertIn("connections", o["object_totals"])

    def test_cluster_name_and_nodes(self):
        st, _, cn = api("GET", "/api/cluster-name")
        self.assertEqual(st, 200)
        self.assertIsInstance(cn["name"], str)
        st, _, nodes = api("GET", "/api/nodes")
        self.assertEqual(st, 200)
        self.assertEqual(len(nodes), 1)
        n = nodes[0]
        self.assertEqual(n["type"], "disc")
        self.assertIs(n["running"], True)
        for k in ("mem_used", "mem_limit", "fd_used", "fd_total", "disk_free", "sockets_used",
                  "run_queue", "uptime", "processors"):
            self.assertIsInstance(n[k], int, k)
        self.assertIsInstance(n["partitions"], list)
        self.assertIs(n["mem_alarm"], False)
        self.assertIs(n["disk_free_alarm"], False)
        self.assertIsInstance(n["os_pid"], str)
        st, _, one = api("GET", "/api/nodes/" + q(n["name"]))
        self.assertEqual((st, one["name"]), (200, n["name"]))
        st, _, cols = api("GET", "/api/nodes?columns=name,type,mem_used")
        self.assertEqual(set(cols[0]), {"name", "type", "mem_used"})

    def test_blocked_reason_and_since(self):
        """Beyond RabbitMQ: a connection says why it is blocked and since
        when (and its state is "blocked", as RabbitMQ's).  Warren only."""
        from helpers import OwnBroker
        import datetime
        b = OwnBroker(self, "vm_memory_high_watermark.absolute = 1000000\n", mgmt=True)
        conn = b.connect()
        ch = conn.channel()
        ch.queue_declare("blocked-q")
        before = datetime.datetime.now(datetime.timezone.utc)
        ch.basic_publish("", "blocked-q", b"x")  # the alarm blocks it after this message
        conn.process_data_events(time_limit=0.5)
        def blocked():
            st, _, cs = api("GET", "/api/connections", port=b.mgmt_port)
            return [c for c in cs if c.get("blocked_reason")]
        cs = eventually(blocked)
        self.assertEqual(len(cs), 1)
        c = cs[0]
        self.assertEqual(c["blocked_reason"], "memory")
        self.assertEqual(c["state"], "blocked")
        since = datetime.datetime.fromisoformat(c["blocked_since"])
        self.assertLess(abs((since - before).total_seconds()), 10)
        st, _, one = api("GET", "/api/connections/" + q(c["name"]), port=b.mgmt_port)
        self.assertEqual(one["blocked_reason"], "memory")

    def test_issue_9_nodes_report_the_alarms_the_broker_enforces(self):
        """mem_limit, disk_free_limit and both alarms are the ones that
        block publishers (the console's overview draws them), not fixed
        values.  A broker of its own: warren only."""
        from helpers import OwnBroker
        b = OwnBroker(self, "vm_memory_high_watermark.absolute = 1000000\n"
                            "disk_free_limit.absolute = 1000000000000000\n", mgmt=True)
        deadline = time.monotonic() + 10
        while True:
            st, _, nodes = api("GET", "/api/nodes", port=b.mgmt_port)
            self.assertEqual(st, 200)
            n = nodes[0]
            if (n["mem_alarm"] and n["disk_free_alarm"]) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertIs(n["mem_alarm"], True)
        self.assertIs(n["disk_free_alarm"], True)
        self.assertEqual(n["mem_limit"], 1000000)
        self.assertEqual(n["disk_free_limit"], 1000000000000000)
        self.assertIn("memory resource limit alarm set", b.read_log())

    def test_extensions(self):
        st, _, e = api("GET", "/api/extensions")
        self.assertEqual(st, 200)
        self.assertIsInstance(e, list)


class Queues(MgmtCase):
    def test_put_get_delete(self):
        name = uname("q")
        path = "/api/queues/%2F/" + q(name)
        st, hdrs, body = api("PUT", path, {"durable": "true", "auto_delete": "false",
                                           "arguments": {"x-max-length": 100}, "name": name,
                                           "vhost": "/"})
        self.track_queue(name)
        self.assertEqual((st, body), (201, b""))
        self.assertEqual(api("PUT", path, {"durable": True,
                                           "arguments": {"x-max-length": 100}})[0], 204)
        st, _, qi = api("GET", path)
        self.assertEqual(st, 200)
        self.assertEqual(qi["name"], name)
        self.assertEqual(qi["vhost"], "/")
        self.assertIs(qi["durable"], True)
        self.assertIs(qi["auto_delete"], False)
        self.assertIs(qi["exclusive"], False)
        self.assertEqual(qi["arguments"], {"x-max-length": 100})
        self.assertEqual(qi["consumer_details"], [])
        self.assertEqual(qi["incoming"], [])
        self.assertEqual(qi["deliveries"], [])
        full = eventually(lambda: (lambda r: r[2] if "messages" in r[2] and "state" in r[2]
                                   else None)(api("GET", path)))
        self.assertEqual(full["messages"], 0)
        self.assertEqual(full["state"], "running")
        self.assertEqual(full["type"], "classic")
        self.assertIsNone(full["policy"])
        self.assertEqual(full["consumers"], 0)
        self.assertRate(full, "messages")
        self.assertRate(full, "messages_ready")
        self.assertRate(full, "messages_unacknowledged")
        self.assertIsInstance(full["node"], str)
        self.assertEqual(api("DELETE", path)[0], 204)
        self.assertError(api("GET", path), 404, "Object Not Found", "Not Found")
        self.assertError(api("DELETE", path), 404, "Object Not Found", "Not Found")

    def test_put_defaults_to_not_durable(self):
        name = self.http_queue()
        st, _, qi = api("GET", "/api/queues/%2F/" + q(name))
        self.assertIs(qi["durable"], False)
        self.assertIs(qi["auto_delete"], False)
        self.assertEqual(qi["arguments"], {})

    def test_inequivalent_redeclare(self):
        name = self.http_queue(durable=False)
        self.assertError(api("PUT", "/api/queues/%2F/" + q(name), {"durable": "true"}), 400,
                         "bad_request",
                         "inequivalent arg 'durable' for queue '%s' in vhost '/': received "
                         "'true' but current is 'false'" % name)

    def test_inequivalent_argument(self):
        name = self.http_queue(arguments={"x-max-length": 100000})
        self.assertError(api("PUT", "/api/queues/%2F/" + q(name),
                             {"arguments": {"x-max-length": 5}}), 400, "bad_request",
                         "inequivalent arg 'x-max-length' for queue '%s' in vhost '/': received "
                         "'5' but current is '100000'" % name)

    def test_put_into_missing_vhost(self):
        self.assertError(api("PUT", "/api/queues/%s/q1" % uname("novh"), {}), 404, "not_found",
                         "vhost_not_found")

    def test_reserved_name_refused(self):
        self.assertError(api("PUT", "/api/queues/%2F/amq.mine", {}), 401, "not_authorised",
                         "Access refused.")

    def test_delete_if_empty_and_if_unused(self):
        name = self.http_queue()
        api("POST", "/api/exchanges/%2F/amq.default/publish",
            {"properties": {}, "routing_key": name, "payload": "x", "payload_encoding": "string"})
        self.assertError(api("DELETE", "/api/queues/%2F/" + q(name) + "?if-empty=true"), 400,
                         "bad_request", "queue '%s' in vhost '/' not empty" % name)
        ch = self.channel()
        ch.basic_consume(name, lambda *a: None)
        self.assertError(api("DELETE", "/api/queues/%2F/" + q(name) + "?if-unused=true"), 400,
                         "bad_request", "queue '%s' in vhost '/' in use" % name)

    def test_purge(self):
        name = self.http_queue()
        for i in range(3):
            api("POST", "/api/exchanges/%2F/amq.default/publish",
                {"properties": {}, "routing_key": name, "payload": str(i),
                 "payload_encoding": "string"})
        st, _, body = api("DELETE", "/api/queues/%2F/" + q(name) + "/contents")
        self.assertEqual((st, body), (204, b""))
        ch = self.channel()
        self.assertEqual(ch.queue_declare(name, passive=True).method.message_count, 0)
        self.assertEqual(api("DELETE", "/api/queues/%2F/" + q(uname("none")) + "/contents")[0],
                         404)

    def test_list_contains_and_columns(self):
        name = self.http_queue()
        st, _, qs = api("GET", "/api/queues?columns=name,vhost")
        self.assertEqual(st, 200)
        self.assertIn({"name": name, "vhost": "/"}, qs)
        self.assertTrue(all(set(x) <= {"name", "vhost"} for x in qs))
        st, _, qs = api("GET", "/api/queues/%2F?columns=name")
        self.assertIn({"name": name}, qs)

    def test_nested_columns_trimmed(self):
        name = self.http_queue()
        api("POST", "/api/exchanges/%2F/amq.default/publish",
            {"properties": {}, "routing_key": name, "payload": "x", "payload_encoding": "string"})

        def row():
            st, _, qs = api("GET", "/api/queues/%2F?columns=name,message_stats.publish_details.rate")
            r = [x for x in qs if x["name"] == name]
            return r[0] if r and isinstance(r[0].get("message_stats"), dict) else None
        r = eventually(row)
        self.assertIsNotNone(r)
        self.assertEqual(set(r), {"name", "message_stats"})
        self.assertEqual(set(r["message_stats"]), {"publish_details"})
        self.assertEqual(set(r["message_stats"]["publish_details"]), {"rate"})

    def test_sort_numeric_and_reverse(self):
        vh = self.vhost()
        for name, n in (("a", 2), ("b", 10), ("c", 1)):
            api("PUT", "/api/queues/%s/%s" % (q(vh), name), {})
            for i in range(n):
                api("POST", "/api/exchanges/%s/amq.default/publish" % q(vh),
                    {"properties": {}, "routing_key": name, "payload": "x",
                     "payload_encoding": "string"})

        def order():
            st, _, qs = api("GET", "/api/queues/%s?columns=name,messages&sort=messages"
                                   "&sort_reverse=true" % q(vh))
            names = [x["name"] for x in qs]
            return names if names == ["b", "a", "c"] else None
        self.assertEqual(eventually(order), ["b", "a", "c"])
        st, _, qs = api("GET", "/api/queues/%s?columns=name" % q(vh))
        self.assertEqual([x["name"] for x in qs], ["a", "b", "c"])

    def test_pagination(self):
        vh = self.vhost()
        for name in ("p1", "p2", "p3", "p4", "other"):
            api("PUT", "/api/queues/%s/%s" % (q(vh), name), {})
        st, _, page = api("GET", "/api/queues/%s?page=1&page_size=2&columns=name" % q(vh))
        self.assertEqual(st, 200)
        self.assertEqual(page, {"filtered_count": 5, "item_count": 2,
                                "items": [{"name": "other"}, {"name": "p1"}], "page": 1,
                                "page_count": 3, "page_size": 2, "total_count": 5})
        st, _, page = api("GET", "/api/queues/%s?page=2&page_size=2&name=P&columns=name" % q(vh))
        self.assertEqual((page["filtered_count"], page["items"]),
                         (4, [{"name": "p3"}, {"name": "p4"}]))
        st, _, page = api("GET", "/api/queues/%s?page=1&name=%%5Ep%%5B13%%5D&use_regex=true"
                                 "&columns=name" % q(vh))
        self.assertEqual(page["items"], [{"name": "p1"}, {"name": "p3"}])
        self.assertError(api("GET", "/api/queues/%s?page=99&page_size=2" % q(vh)), 400,
                         "page_out_of_range", "Page out of range, page: 99 page size: 2, len: 5")
        self.assertError(api("GET", "/api/queues/%s?page=0" % q(vh)), 400,
                         "invalid_pagination_parameters")
        self.assertError(api("GET", "/api/queues/%s?page=1&page_size=501" % q(vh)), 400,
                         "invalid_pagination_parameters")
        self.assertError(api("GET", "/api/queues/%s?page=abc" % q(vh)), 400, "bad_request",
                         "Pagination parameters are invalid")
        # without page, name= and page_size= are ignored: a plain list
        st, _, plain = api("GET", "/api/queues/%s?page_size=2&name=p1" % q(vh))
        self.assertEqual(len(plain), 5)

    def test_queue_bindings(self):
        name = self.http_queue()
        st, _, bs = api("GET", "/api/queues/%2F/" + q(name) + "/bindings")
        self.assertEqual(st, 200)
        self.assertEqual(bs, [{"source": "", "vhost": "/", "destination": name,
                               "destination_type": "queue", "routing_key": name,
                               "arguments": {}, "properties_key": name}])

    def test_head_message_timestamp(self):
        name = self.http_queue()
        ch = self.channel()
        ch.confirm_delivery()
        ch.basic_publish("", name, b"a", pika.BasicProperties(timestamp=1700000000))
        ch.basic_publish("", name, b"b", pika.BasicProperties(timestamp=1700000100))
        info = eventually(lambda: (lambda d: d if d.get("head_message_timestamp") else None)(
            api("GET", "/api/queues/%2F/" + q(name))[2]))
        self.assertEqual(info["head_message_timestamp"], 1700000000)
        ch.basic_get(name, auto_ack=True)
        info = eventually(lambda: (lambda d: d if d.get("head_message_timestamp") == 1700000100
                                   else None)(api("GET", "/api/queues/%2F/" + q(name))[2]))
        self.assertIsNotNone(info)
        rows = api("GET", "/api/queues/%2F?columns=name,head_message_timestamp")[2]
        self.assertIn({"name": name, "head_message_timestamp": 1700000100}, rows)
        ch.basic_get(name, auto_ack=True)
        info = eventually(lambda: (lambda d: d if "head_message_timestamp" in d and
                                   d["head_message_timestamp"] is None else None)(
            api("GET", "/api/queues/%2F/" + q(name))[2]))
        self.assertIsNotNone(info)

    def test_get_counters(self):
        name = self.http_queue()
        ch = self.channel()
        ch.confirm_delivery()
        for i in range(3):
            ch.basic_publish("", name, b"m")
        m = ch.basic_get(name)[0]
        ch.basic_ack(m.delivery_tag)
        ch.basic_get(name, auto_ack=True)
        ch.basic_get(name, auto_ack=True)
        self.assertIsNone(ch.basic_get(name)[0])

        def stats():
            ms = api("GET", "/api/queues/%2F/" + q(name))[2].get("message_stats") or {}
            return ms if ms.get("get_no_ack") == 2 else None
        ms = eventually(stats)
        self.assertIsNotNone(ms)
        self.assertEqual(ms["get"], 1)
        # RabbitMQ 3.10 counts an empty get on the channel only (0 here); warren on the queue too
        self.assertEqual(ms["get_empty"], 1 if is_warren() else 0)
        self.assertEqual(ms["deliver_get"], 3)
        self.assertRate(ms, "get")
        self.assertRate(ms, "get_no_ack")

    def test_consumer_details(self):
        name = self.http_queue()
        ch = self.channel()
        ch.basic_qos(prefetch_count=5)
        ch.basic_consume(name, lambda *a: None, consumer_tag="worker-1")
        # RabbitMQ fills channel_details in once the channel's stats arrive
        cd = eventually(lambda: (lambda d: d if d and d[0].get("channel_details") else None)(
            api("GET", "/api/queues/%2F/" + q(name))[2].get("consumer_details")))
        self.assertEqual(len(cd), 1)
        c = cd[0]
        self.assertEqual(c["consumer_tag"], "worker-1")
        self.assertIs(c["ack_required"], True)
        self.assertIs(c["exclusive"], False)
        self.assertEqual(c["prefetch_count"], 5)
        self.assertEqual(c["queue"], {"name": name, "vhost": "/"})
        self.assertEqual(c["channel_details"]["number"], 1)
        self.assertEqual(c["channel_details"]["user"], "guest")
        self.assertIn(" -> ", c["channel_details"]["connection_name"])


class LargeListing(MgmtCase):
    """A listing big enough that warren collects and sorts it over several
    loop turns (2,000 objects and up): the same answers as a small one."""

    N = 2500

    def setUp(self):
        super().setUp()
        self.prefix = uname("big")
        conn = self.connect()
        ch = conn.channel()
        names = ["%s-%04d" % (self.prefix, i) for i in range(self.N)]
        for i, n in enumerate(names):
            # arguments vary so that a field sort has something to order
            ch.queue_declare(n, arguments={"x-max-length": i % 7})
            self.track_queue(n)
        self.names = names

    def test_filtered_sorted_paged(self):
        pat = "^" + self.prefix
        st, _, page = api("GET", "/api/queues/%%2F?page=3&page_size=100&name=%s&use_regex=true"
                          "&sort=name&sort_reverse=true&columns=name" % q(pat))
        self.assertEqual(st, 200)
        self.assertEqual(page["filtered_count"], self.N)
        self.assertEqual(page["page"], 3)
        self.assertEqual(page["page_count"], 25)
        self.assertEqual([i["name"] for i in page["items"]],
                         sorted(self.names, reverse=True)[200:300])
        st, _, page = api("GET", "/api/queues/%%2F?page=2&page_size=500&name=%s&use_regex=true"
                          "&sort=arguments.x-max-length&columns=name,arguments" % q(pat))
        self.assertEqual(st, 200)
        keys = [i["arguments"]["x-max-length"] for i in page["items"]]
        self.assertEqual(keys, sorted(keys))
        st, _, err = api("GET", "/api/queues/%%2F?page=99&page_size=100&name=%s&use_regex=true"
                         % q(pat))
        self.assertEqual(st, 400)
        self.assertEqual(err["error"], "page_out_of_range")

    def test_whole_listing(self):
        st, _, rows = api("GET", "/api/queues?columns=name,vhost")
        self.assertEqual(st, 200)
        mine = [r["name"] for r in rows if r["name"].startswith(self.prefix)]
        self.assertEqual(mine, sorted(self.names))
        vn = [(r["vhost"], r["name"]) for r in rows]
        self.assertEqual(vn, sorted(vn))


class PublishGet(MgmtCase):
    def publish(self, rk, payload="hello", enc="string", props=None, exchange="amq.default",
                vhost="/"):
        return api("POST", "/api/exchanges/%s/%s/publish" % (q(vhost), q(exchange)),
                   {"properties": props or {}, "routing_key": rk, "payload": payload,
                    "payload_encoding": enc})

    def test_publish_routed_and_unrouted(self):
        name = self.http_queue()
        st, _, r = self.publish(name)
        self.assertEqual((st, r), (200, {"routed": True}))
        st, _, r = self.publish(uname("nowhere"))
        self.assertEqual((st, r), (200, {"routed": False}))

    def test_publish_errors(self):
        self.assertError(api("POST", "/api/exchanges/%2F/amq.default/publish",
                             {"routing_key": "x", "payload": "y"}), 400, "bad_request",
                         "[{key_missing,properties},{key_missing,payload_encoding}]")
        x = uname("nox")
        self.assertError(self.publish("k", exchange=x), 400, "bad_request",
                         "404 NOT_FOUND - no exchange '%s' in vhost '/'" % x)
        st, _, body = self.publish("k", enc="nope")
        self.assertEqual(st, 400)
        self.assertEqual(body["reason"], ["unsupported_encoding", "nope"])
        st, _, body = self.publish("k", props={"delivery_mode": "2"})
        self.assertEqual(st, 400)
        self.assertEqual(body["reason"], ["not_int", "delivery_mode"])

    def test_get_requeue_then_remove(self):
        name = self.http_queue()
        self.publish(name, "one", props={"delivery_mode": 2, "content_type": "text/plain",
                                         "headers": {"source": "demo"}})
        self.publish(name, "two")
        path = "/api/queues/%2F/" + q(name) + "/get"
        st, _, msgs = api("POST", path, {"count": "1", "ackmode": "ack_requeue_true",
                                         "encoding": "auto", "queue": name, "vhost": "/"})
        self.assertEqual(st, 200)
        self.assertEqual(len(msgs), 1)
        m = msgs[0]
        self.assertEqual(m["payload"], "one")
        self.assertEqual(m["payload_bytes"], 3)
        self.assertEqual(m["payload_encoding"], "string")
        self.assertIs(m["redelivered"], False)
        self.assertEqual(m["exchange"], "")
        self.assertEqual(m["routing_key"], name)
        self.assertEqual(m["message_count"], 1)
        self.assertEqual(m["properties"], {"delivery_mode": 2, "content_type": "text/plain",
                                           "headers": {"source": "demo"}})
        st, _, msgs = api("POST", path, {"count": 2, "ackmode": "ack_requeue_false",
                                         "encoding": "auto"})
        self.assertEqual([x["payload"] for x in msgs], ["one", "two"])
        self.assertIs(msgs[0]["redelivered"], True)
        self.assertEqual(msgs[1]["properties"], [])  # RabbitMQ's quirk for no properties
        st, _, msgs = api("POST", path, {"count": 1, "ackmode": "ack_requeue_false",
                                         "encoding": "auto"})
        self.assertEqual((st, msgs), (200, []))

    def test_get_base64_truncate_and_binary(self):
        name = self.http_queue()
        self.publish(name, base64.b64encode(b"\xff\x00binary").decode(), enc="base64")
        self.publish(name, "a long text payload")
        path = "/api/queues/%2F/" + q(name) + "/get"
        st, _, msgs = api("POST", path, {"count": 2, "ackmode": "ack_requeue_true",
                                         "encoding": "auto", "truncate": 6})
        self.assertEqual(msgs[0]["payload_encoding"], "base64")
        self.assertEqual(base64.b64decode(msgs[0]["payload"]), b"\xff\x00bina")
        self.assertEqual(msgs[0]["payload_bytes"], 8)
        self.assertEqual(msgs[1]["payload"], "a long")
        st, _, msgs = api("POST", path, {"count": 1, "ackmode": "ack_requeue_true",
                                         "encoding": "base64"})
        self.assertEqual(msgs[0]["payload_encoding"], "base64")

    def test_get_errors(self):
        name = self.http_queue()
        path = "/api/queues/%2F/" + q(name) + "/get"
        self.assertError(api("POST", path, {"count": 1, "encoding": "auto"}), 400, "bad_request",
                         "[{key_missing,ackmode}]")
        missing = uname("nosuch")
        self.assertError(api("POST", "/api/queues/%2F/" + missing + "/get",
                             {"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"}),
                         404, "not_found", "NOT_FOUND - no queue '%s' in vhost '/'" % missing)
        st, _, _ = api("POST", path, {"count": 1, "ackmode": "bogus", "encoding": "auto"})
        self.assertEqual(st, 500)

    def test_peek_is_not_destructive(self):
        if not is_warren():
            self.skipTest("the peek endpoint is a warren extension")
        name = self.http_queue()
        for p in ("m1", "m2", "m3"):
            self.publish(name, p)
        ch = self.channel()
        ch.basic_qos(prefetch_count=1)
        ch.basic_consume(name, lambda *a: None)
        ch.connection.process_data_events(time_limit=0.5)
        st, _, msgs = api("GET", "/api/queues/%2F/" + q(name) + "/messages?offset=0&count=10")
        self.assertEqual(st, 200)
        self.assertEqual([m["payload"] for m in msgs], ["m1", "m2", "m3"])
        self.assertEqual([m["unacknowledged"] for m in msgs], [True, False, False])
        st, _, msgs = api("GET", "/api/queues/%2F/" + q(name) + "/messages?offset=1&count=1")
        self.assertEqual([m["payload"] for m in msgs], ["m2"])
        st, _, qi = api("GET", "/api/queues/%2F/" + q(name))
        self.assertEqual((qi["messages_ready"], qi["messages_unacknowledged"]), (2, 1))
        self.assertIsInstance(qi["oldest_unacked_age"], float)


class Exchanges(MgmtCase):
    def test_list_includes_builtins(self):
        st, _, xs = api("GET", "/api/exchanges/%2F")
        self.assertEqual(st, 200)
        names = {x["name"]: x for x in xs}
        for n in ("", "amq.direct", "amq.fanout", "amq.topic", "amq.headers", "amq.match"):
            self.assertIn(n, names)
        d = names[""]
        self.assertEqual((d["type"], d["durable"], d["auto_delete"], d["internal"], d["vhost"]),
                         ("direct", True, False, False, "/"))
        self.assertEqual(d["user_who_performed_action"], "rmq-internal")
        self.assertEqual(d["arguments"], {})
        st, _, xs = api("GET", "/api/exchanges?columns=name,type")
        self.assertIn({"name": "amq.topic", "type": "topic"}, xs)

    def test_put_get_delete(self):
        name = uname("x")
        path = "/api/exchanges/%2F/" + q(name)
        st, _, _ = api("PUT", path, {"type": "topic", "durable": "true", "auto_delete": "false",
                                     "internal": "false", "arguments": {}})
        self.track_exchange(name)
        self.assertEqual(st, 201)
        self.assertEqual(api("PUT", path, {"type": "topic", "durable": True})[0], 204)
        self.assertError(api("PUT", path, {"type": "fanout", "durable": True}), 400, "bad_request")
        st, _, x = api("GET", path)
        self.assertEqual((x["name"], x["type"], x["durable"], x["vhost"]),
                         (name, "topic", True, "/"))
        self.assertEqual((x["incoming"], x["outgoing"]), ([], []))
        self.assertEqual(api("DELETE", path)[0], 204)
        self.assertEqual(api("GET", path)[0], 404)

    def test_put_without_type_is_direct(self):
        name = uname("x")
        st, _, _ = api("PUT", "/api/exchanges/%2F/" + q(name), {})
        self.track_exchange(name)
        self.assertEqual(st, 201)
        self.assertEqual(api("GET", "/api/exchanges/%2F/" + q(name))[2]["type"], "direct")

    def test_bad_type(self):
        r = api("PUT", "/api/exchanges/%2F/" + uname("x"), {"type": "bogus"})
        self.assertError(r, 400, "bad_request")
        self.assertRegex(r[2]["reason"], "^(invalid|unknown) exchange type 'bogus'$")

    def test_builtins_protected(self):
        self.assertEqual(api("PUT", "/api/exchanges/%2F/amq.direct",
                             {"type": "direct", "durable": True})[0], 204)
        self.assertError(api("DELETE", "/api/exchanges/%2F/amq.direct"), 401, "not_authorised",
                         "Access refused.")

    def test_if_unused(self):
        x = uname("x")
        api("PUT", "/api/exchanges/%2F/" + q(x), {"type": "fanout"})
        self.track_exchange(x)
        qn = self.http_queue()
        api("POST", "/api/bindings/%2F/e/" + q(x) + "/q/" + q(qn), {})
        self.assertError(api("DELETE", "/api/exchanges/%2F/" + q(x) + "?if-unused=true"), 400,
                         "bad_request", "exchange '%s' in vhost '/' in use" % x)


class Churn(MgmtCase):

    def test_churn_rates_count(self):
        def churn():
            return api("GET", "/api/overview")[2]["churn_rates"]
        before = churn()
        conn = self.connect()
        for _ in range(2):
            conn.channel().close()
        ch = conn.channel()
        names = [ch.queue_declare("").method.queue for _ in range(3)]
        ch.queue_declare(names[0], passive=True)
        for n in names:
            ch.queue_delete(n)

        def grown():
            now = churn()
            want = {"queue_created": 3, "queue_deleted": 3, "channel_created": 3,
                    "channel_closed": 2, "queue_declared": 3}
            return now if all(now[k] - before[k] >= d for k, d in want.items()) else None
        now = eventually(grown)
        self.assertIsNotNone(now, (before, churn()))
        for k in ("queue_created", "queue_deleted", "channel_created", "channel_closed",
                  "queue_declared", "connection_created", "connection_closed"):
            self.assertIsInstance(now[k + "_details"]["rate"], (int, float))


class ExchangeRates(MgmtCase):

    def test_publish_in_out_and_unroutable(self):
        ch = self.channel()
        fan = self.exchange(ch, "fanout")
        direct = self.exchange(ch, "direct")
        qn = self.queue(ch)
        ch.queue_bind(qn, fan)
        ch.confirm_delivery()
        for _ in range(3):
            ch.basic_publish(fan, "", b"x")
        ch.basic_publish(direct, "nowhere", b"y")
        with self.assertRaises(pika.exceptions.UnroutableError):
            ch.basic_publish(direct, "nowhere", b"y", mandatory=True)

        def stats(x, want):
            ms = api("GET", "/api/exchanges/%2F/" + q(x))[2].get("message_stats") or {}
            return ms if all(ms.get(k) == n for k, n in want.items()) else None
        ms = eventually(lambda: stats(fan, {"publish_in": 3, "publish_out": 3}))
        self.assertIsNotNone(ms)
        self.assertIsInstance(ms["publish_in_details"]["rate"], (int, float))
        ms = eventually(lambda: stats(direct, {"publish_in": 2}))
        self.assertIsNotNone(ms)
        self.assertNotIn("publish_out", ms)  # nothing routed: no key, as RabbitMQ

        def chan():
            for c in api("GET", "/api/channels")[2]:
                if (c.get("message_stats") or {}).get("publish") == 5:
                    return c["message_stats"]
        ms = eventually(chan)
        self.assertEqual(ms["return_unroutable"], 1)
        if is_warren():
            # RabbitMQ 3.10 leaves drop_unroutable at 0 for a plain unroutable publish
            self.assertEqual(ms["drop_unroutable"], 1)


class Bindings(MgmtCase):
    def test_bind_list_get_delete(self):
        x = uname("x")
        api("PUT", "/api/exchanges/%2F/" + q(x), {"type": "topic"})
        self.track_exchange(x)
        qn = self.http_queue()
        st, hdrs, body = api("POST", "/api/bindings/%2F/e/" + q(x) + "/q/" + q(qn),
                             {"routing_key": "order.*", "arguments": {},
                              "destination_type": "queue"})
        self.assertEqual((st, body), (201, b""))
        self.assertEqual(hdrs.get("location"), q(qn) + "/order.%252A")
        b = {"source": x, "vhost": "/", "destination": qn, "destination_type": "queue",
             "routing_key": "order.*", "arguments": {}, "properties_key": "order.%2A"}
        st, _, all_b = api("GET", "/api/bindings/%2F")
        self.assertIn(b, all_b)
        self.assertIn({"source": "", "vhost": "/", "destination": qn,
                       "destination_type": "queue", "routing_key": qn, "arguments": {},
                       "properties_key": qn}, all_b)
        self.assertEqual(api("GET", "/api/bindings/%2F/e/" + q(x) + "/q/" + q(qn))[2], [b])
        self.assertEqual(api("GET", "/api/bindings/%2F/e/" + q(x) + "/q/" + q(qn) +
                             "/order.%252A")[2], b)
        self.assertEqual(api("GET", "/api/exchanges/%2F/" + q(x) + "/bindings/source")[2], [b])
        self.assertIn(b, api("GET", "/api/queues/%2F/" + q(qn) + "/bindings")[2])
        # repeating the same binding is 201 again
        self.assertEqual(api("POST", "/api/bindings/%2F/e/" + q(x) + "/q/" + q(qn),
                             {"routing_key": "order.*"})[0], 201)
        self.assertEqual(api("DELETE", "/api/bindings/%2F/e/" + q(x) + "/q/" + q(qn) +
                             "/order.%252A")[0], 204)
        self.assertEqual(api("GET", "/api/bindings/%2F/e/" + q(x) + "/q/" + q(qn))[2], [])
        self.assertEqual(api("DELETE", "/api/bindings/%2F/e/" + q(x) + "/q/" + q(qn) +
                             "/order.%252A")[0], 404)

    def test_empty_key_is_tilde_and_e2e(self):
        src, dst = uname("xs"), uname("xd")
        for n in (src, dst):
            api("PUT", "/api/exchanges/%2F/" + q(n), {"type": "fanout"})
            self.track_exchange(n)
        st, hdrs, _ = api("POST", "/api/bindings/%2F/e/" + q(src) + "/e/" + q(dst), {})
        self.assertEqual(st, 201)
        self.assertEqual(hdrs.get("location"), q(dst) + "/~")
        st, _, bs = api("GET", "/api/exchanges/%2F/" + q(dst) + "/bindings/destination")
        self.assertEqual(bs, [{"source": src, "vhost": "/", "destination": dst,
                               "destination_type": "exchange", "routing_key": "",
                               "arguments": {}, "properties_key": "~"}])
        self.assertEqual(api("DELETE", "/api/bindings/%2F/e/" + q(src) + "/e/" + q(dst) +
                             "/~")[0], 204)

    def test_missing_end(self):
        qn = self.http_queue()
        self.assertError(api("POST", "/api/bindings/%2F/e/nosuch-x/q/" + q(qn), {}), 404,
                         "not_found", "no exchange 'nosuch-x' in vhost '/'")


class VhostsUsersPermissions(MgmtCase):
    def test_vhost_lifecycle(self):
        name = uname("vh")
        path = "/api/vhosts/" + q(name)
        st, _, _ = api("PUT", path, {"description": "demo", "tags": "a,b"})
        self._vhosts.append(name)
        self.assertEqual(st, 201)
        st, _, v = api("GET", path)
        self.assertEqual(st, 200)
        self.assertEqual((v["name"], v["description"], v["tags"]), (name, "demo", ["a", "b"]))
        self.assertEqual(v["metadata"], {"description": "demo", "tags": ["a", "b"]})
        self.assertIs(v["tracing"], False)
        self.assertEqual(list(v["cluster_state"].values()), ["running"])
        # the creator gets full permissions
        st, _, p = api("GET", "/api/permissions/%s/guest" % q(name))
        self.assertEqual(p, {"user": "guest", "vhost": name, "configure": ".*", "write": ".*",
                             "read": ".*"})
        self.assertEqual(api("PUT", path, {})[0], 204)
        self.assertEqual(api("GET", path)[2]["description"], "")
        st, _, vs = api("GET", "/api/vhosts?columns=name")
        self.assertIn({"name": name}, vs)
        self.assertEqual(api("DELETE", path)[0], 204)
        self.assertEqual(api("DELETE", path)[0], 404)
        self.assertEqual(api("GET", path)[0], 404)

    def test_vhost_list_fields(self):
        vh = self.vhost()
        api("PUT", "/api/queues/%s/q" % q(vh), {})
        row = eventually(lambda: [v for v in api("GET", "/api/vhosts")[2]
                                  if v["name"] == vh and "messages" in v])
        v = row[0] if row else [v for v in api("GET", "/api/vhosts")[2] if v["name"] == vh][0]
        if "messages" in v:
            self.assertRate(v, "messages")
        self.assertEqual(v["default_queue_type"], "undefined")
        self.assertIsInstance(v["tags"], list)

    def test_user_lifecycle_and_hash(self):
        name = uname("u")
        path = "/api/users/" + q(name)
        self.assertError(api("PUT", path, {"password": "secret"}), 400, "bad_request",
                         "tags_not_present")
        st, _, _ = api("PUT", path, {"password": "secret", "tags": "monitoring,management"})
        self._users.append(name)
        self.assertEqual(st, 201)
        st, _, u = api("GET", path)
        self.assertEqual(u["name"], name)
        self.assertEqual(u["hashing_algorithm"], "rabbit_password_hashing_sha256")
        self.assertEqual(sorted(u["tags"]), ["management", "monitoring"])
        self.assertEqual(u["limits"], {})
        raw = base64.b64decode(u["password_hash"])
        self.assertEqual(len(raw), 36)
        self.assertEqual(raw[4:], hashlib.sha256(raw[:4] + b"secret").digest())
        # the new user can log in with that password
        self.assertEqual(api("GET", "/api/whoami", auth=(name, "secret"))[0], 200)
        # a hash given instead of a password is kept as it is
        salt = b"\x01\x02\x03\x04"
        h = base64.b64encode(salt + hashlib.sha256(salt + b"other").digest()).decode()
        self.assertEqual(api("PUT", path, {"password_hash": h, "tags": ["management"],
                                           "hashing_algorithm":
                                           "rabbit_password_hashing_sha256"})[0], 204)
        self.assertEqual(api("GET", path)[2]["password_hash"], h)
        self.assertEqual(api("GET", "/api/whoami", auth=(name, "other"))[0], 200)
        st, _, users = api("GET", "/api/users")
        self.assertIn(name, [x["name"] for x in users])
        self.assertEqual(api("DELETE", path)[0], 204)
        self.assertEqual(api("DELETE", path)[0], 404)

    def test_permissions(self):
        vh = self.vhost()
        u = self.user(tags="management")
        path = "/api/permissions/%s/%s" % (q(vh), q(u))
        self.assertError(api("PUT", path, {"configure": ".*"}), 400, "bad_request",
                         "[{key_missing,write},{key_missing,read}]")
        self.assertError(api("PUT", "/api/permissions/%s/%s" % (q(vh), uname("nobody")),
                             {"configure": ".*", "write": ".*", "read": ".*"}), 400,
                         "bad_request", "vhost_or_user_not_found")
        self.assertEqual(api("GET", path)[0], 404)
        self.assertEqual(api("PUT", path, {"configure": "^x-", "write": ".*",
                                           "read": ".*"})[0], 201)
        self.assertEqual(api("PUT", path, {"configure": "^y-", "write": ".*",
                                           "read": ".*"})[0], 204)
        want = {"user": u, "vhost": vh, "configure": "^y-", "write": ".*", "read": ".*"}
        self.assertEqual(api("GET", path)[2], want)
        self.assertIn(want, api("GET", "/api/permissions")[2])
        self.assertIn(want, api("GET", "/api/vhosts/%s/permissions" % q(vh))[2])
        self.assertEqual(api("GET", "/api/users/%s/permissions" % q(u))[2], [want])
        self.assertEqual(api("DELETE", path)[0], 204)
        self.assertEqual(api("GET", path)[0], 404)

    def test_topic_permissions(self):
        vh = self.vhost()
        u = self.user(tags="management")
        path = "/api/topic-permissions/%s/%s" % (q(vh), q(u))
        self.assertEqual(api("PUT", path, {"exchange": "amq.topic", "write": "^a\\.",
                                           "read": ".*"})[0], 201)
        want = {"user": u, "vhost": vh, "exchange": "amq.topic", "write": "^a\\.", "read": ".*"}
        self.assertIn(want, api("GET", "/api/topic-permissions")[2])
        self.assertEqual(api("GET", path)[2], [want])
        self.assertEqual(api("DELETE", path)[0], 204)

    def test_users_without_permissions(self):
        u = self.user(tags="management")
        st, _, us = api("GET", "/api/users/without-permissions")
        self.assertEqual(st, 200)
        self.assertIn(u, [x["name"] for x in us])


class Policies(MgmtCase):
    def test_policy_lifecycle(self):
        vh = self.vhost()
        api("PUT", "/api/queues/%s/audit" % q(vh), {})
        path = "/api/policies/%s/audit-ttl" % q(vh)
        self.assertError(api("PUT", path, {"pattern": "^audit$"}), 400, "bad_request",
                         "[{key_missing,definition}]")
        st, _, _ = api("PUT", path, {"pattern": "^audit$", "apply-to": "queues",
                                     "definition": {"message-ttl": 3600000}, "priority": 1})
        self.assertEqual(st, 201)
        want = {"vhost": vh, "name": "audit-ttl", "pattern": "^audit$", "apply-to": "queues",
                "definition": {"message-ttl": 3600000}, "priority": 1}
        self.assertEqual(api("GET", path)[2], want)
        self.assertIn(want, api("GET", "/api/policies")[2])
        self.assertEqual(api("GET", "/api/policies/" + q(vh))[2], [want])
        qi = eventually(lambda: (lambda x: x if x.get("policy") else None)(
            api("GET", "/api/queues/%s/audit" % q(vh))[2]))
        self.assertEqual(qi["policy"], "audit-ttl")
        self.assertEqual(qi["effective_policy_definition"], {"message-ttl": 3600000})
        self.assertEqual(api("PUT", path, {"pattern": "^audit$", "definition":
                                           {"message-ttl": 10}})[0], 204)
        self.assertEqual(api("DELETE", path)[0], 204)
        self.assertEqual(api("GET", path)[0], 404)

    def test_invalid_policy(self):
        vh = self.vhost()
        st, _, body = api("PUT", "/api/policies/%s/bad" % q(vh),
                          {"pattern": ".*", "definition": {"no-such-key": 1}})
        self.assertEqual(st, 400)
        self.assertEqual(body["error"], "bad_request")

    def test_parameters(self):
        st, _, ps = api("GET", "/api/parameters")
        self.assertEqual(st, 200)
        self.assertIsInstance(ps, list)
        st, _, gps = api("GET", "/api/global-parameters")
        self.assertEqual(st, 200)
        self.assertIn("internal_cluster_id", [p["name"] for p in gps])
        vh = self.vhost()
        st, _, _ = api("PUT", "/api/vhost-limits/%s/max-connections" % q(vh), {"value": 10})
        self.assertEqual(st, 204)
        self.assertEqual(api("GET", "/api/vhost-limits/" + q(vh))[2],
                         [{"vhost": vh, "value": {"max-connections": 10}}])
        self.assertEqual(api("DELETE", "/api/vhost-limits/%s/max-connections" % q(vh))[0], 204)


class ConnectionsChannels(MgmtCase):
    def test_connection_channel_consumer_fields(self):
        conn = connect(client_properties={"connection_name": "mgmt-test-conn"})
        self._conns.append(conn)
        ch = conn.channel()
        name = self.queue(ch)
        ch.basic_qos(prefetch_count=3)
        ch.basic_consume(name, lambda *a: None, consumer_tag="ctag-1")

        def mine():
            cs = api("GET", "/api/connections")[2]
            return [c for c in cs if c.get("user_provided_name") == "mgmt-test-conn"]
        cs = eventually(mine)
        self.assertEqual(len(cs), 1)
        c = cs[0]
        local = conn._impl._transport._sock.getsockname()
        self.assertEqual(c["name"], "%s:%d -> %s:%d" % (local[0], local[1], c["host"], PORT))
        self.assertEqual((c["peer_host"], c["peer_port"], c["port"]), (local[0], local[1], PORT))
        self.assertEqual(c["user"], "guest")
        self.assertEqual(c["vhost"], "/")
        self.assertEqual(c["protocol"], "AMQP 0-9-1")
        self.assertEqual(c["auth_mechanism"], "PLAIN")
        self.assertEqual(c["type"], "network")
        self.assertIs(c["ssl"], False)
        self.assertEqual(c["client_properties"]["connection_name"], "mgmt-test-conn")
        self.assertIn("capabilities", c["client_properties"])
        self.assertIsInstance(c["connected_at"], int)
        self.assertGreater(c["connected_at"], 1500000000000)
        self.assertIsInstance(c["frame_max"], int)
        self.assertIsInstance(c["channel_max"], int)
        self.assertIsInstance(c["timeout"], int)
        c2 = eventually(lambda: [x for x in mine() if "recv_oct" in x and x.get("channels")])[0]
        self.assertEqual(c2["channels"], 1)
        self.assertEqual(c2["state"], "running")
        self.assertRate(c2, "recv_oct")
        self.assertRate(c2, "send_oct")
        st, _, one = api("GET", "/api/connections/" + q(c["name"]))
        self.assertEqual((st, one["name"]), (200, c["name"]))
        self.assertEqual(one["ssl_protocol"] if "ssl_protocol" in one else "", "")
        chans = eventually(lambda: api("GET", "/api/connections/" + q(c["name"]) + "/channels")[2])
        self.assertEqual(len(chans), 1)
        h = chans[0]
        self.assertEqual(h["name"], c["name"] + " (1)")
        self.assertEqual(h["number"], 1)
        self.assertEqual(h["user"], "guest")
        self.assertEqual(h["vhost"], "/")
        self.assertEqual(h["connection_details"], {"name": c["name"], "peer_host": local[0],
                                                   "peer_port": local[1]})
        self.assertIs(h["confirm"], False)
        self.assertIs(h["transactional"], False)
        self.assertEqual(h["prefetch_count"], 3)
        hh = eventually(lambda: (lambda x: x if x.get("consumer_count") == 1 else None)(
            api("GET", "/api/channels/" + q(h["name"]))[2]))
        self.assertEqual(hh["consumer_count"], 1)
        self.assertEqual(len(hh["consumer_details"]), 1)
        self.assertIn(h["name"], [x["name"] for x in api("GET", "/api/channels")[2]])
        cons = [x for x in api("GET", "/api/consumers/%2F")[2] if x["consumer_tag"] == "ctag-1"]
        self.assertEqual(len(cons), 1)
        k = cons[0]
        self.assertEqual(k["queue"], {"name": name, "vhost": "/"})
        self.assertIs(k["ack_required"], True)
        self.assertIs(k["active"], True)
        self.assertEqual(k["activity_status"], "up")
        self.assertEqual(k["prefetch_count"], 3)
        self.assertEqual(k["channel_details"]["name"], h["name"])
        self.assertEqual(k["channel_details"]["connection_name"], c["name"])
        self.assertIn(c["name"], [x["name"] for x in
                                  api("GET", "/api/vhosts/%2F/connections")[2]])

    def test_close_connection_with_reason(self):
        conn = connect(client_properties={"connection_name": "mgmt-close-me"})
        self._conns.append(conn)
        found = eventually(lambda: [c for c in api("GET", "/api/connections")[2]
                                    if c.get("user_provided_name") == "mgmt-close-me"])
        st, _, _ = api("DELETE", "/api/connections/" + q(found[0]["name"]),
                       headers={"X-Reason": "bye from test"})
        self.assertEqual(st, 204)
        with self.assertRaises(pika.exceptions.ConnectionClosed) as cm:
            end = time.time() + 10
            while time.time() < end:
                conn.process_data_events(time_limit=0.5)
        self.assertEqual(cm.exception.reply_code, 320)
        self.assertIn("bye from test", cm.exception.reply_text)
        self.assertEqual(api("DELETE", "/api/connections/" + q("1.2.3.4:5 -> 6.7.8.9:10"))[0],
                         404)


class Health(MgmtCase):
    def test_checks(self):
        for path in ("/api/health/checks/alarms", "/api/health/checks/local-alarms",
                     "/api/health/checks/virtual-hosts"):
            st, _, body = api("GET", path)
            self.assertEqual((st, body), (200, {"status": "ok"}), path)
        st, _, body = api("GET", "/api/health/checks/port-listener/%d" % PORT)
        self.assertEqual((st, body), (200, {"status": "ok", "port": PORT}))
        st, _, body = api("GET", "/api/health/checks/port-listener/1")
        self.assertEqual(st, 503)
        self.assertEqual((body["status"], body["reason"], body["missing"]),
                         ("failed", "No active listener", 1))
        st, _, body = api("GET", "/api/health/checks/protocol-listener/amqp091")
        self.assertEqual((st, body), (200, {"status": "ok", "protocol": "amqp"}))
        st, _, body = api("GET", "/api/health/checks/node-is-quorum-critical")
        self.assertEqual(st, 200)
        self.assertEqual(body["status"], "ok")

    def test_aliveness_leaves_its_queue(self):
        vh = self.vhost()
        st, _, body = api("GET", "/api/aliveness-test/" + q(vh))
        self.assertEqual((st, body), (200, {"status": "ok"}))
        st, _, qi = api("GET", "/api/queues/%s/aliveness-test" % q(vh))
        self.assertEqual(st, 200)
        self.assertIs(qi["durable"], False)


class Definitions(MgmtCase):
    def test_export_shape(self):
        vh = self.vhost()
        api("PUT", "/api/queues/%s/dq" % q(vh), {"durable": True, "arguments": {"x-max-length": 7}})
        api("PUT", "/api/exchanges/%s/dx" % q(vh), {"type": "topic", "durable": True})
        api("POST", "/api/bindings/%s/e/dx/q/dq" % q(vh), {"routing_key": "a.#"})
        st, _, d = api("GET", "/api/definitions")
        self.assertEqual(st, 200)
        for k in ("rabbit_version", "rabbitmq_version", "product_name", "product_version"):
            self.assertIsInstance(d[k], str)
        for k in ("users", "vhosts", "permissions", "topic_permissions", "parameters",
                  "global_parameters", "policies", "queues", "exchanges", "bindings"):
            self.assertIsInstance(d[k], list, k)
        self.assertIn({"name": vh}, d["vhosts"])
        self.assertTrue(all(set(v) == {"name"} for v in d["vhosts"]))
        self.assertIn({"name": "dq", "vhost": vh, "durable": True, "auto_delete": False,
                       "arguments": {"x-max-length": 7}}, d["queues"])
        self.assertIn({"name": "dx", "vhost": vh, "type": "topic", "durable": True,
                       "auto_delete": False, "internal": False, "arguments": {}}, d["exchanges"])
        self.assertIn({"source": "dx", "vhost": vh, "destination": "dq",
                       "destination_type": "queue", "routing_key": "a.#", "arguments": {}},
                      d["bindings"])
        self.assertFalse([x for x in d["exchanges"] if x["name"] == "" or
                          x["name"].startswith("amq.")])
        self.assertFalse([b for b in d["bindings"] if b["source"] == ""])
        st, _, dv = api("GET", "/api/definitions/" + q(vh))
        self.assertEqual(st, 200)
        self.assertEqual(set(dv), {"rabbit_version", "parameters", "policies", "queues",
                                   "exchanges", "bindings"})
        self.assertEqual(dv["queues"], [{"name": "dq", "durable": True, "auto_delete": False,
                                         "arguments": {"x-max-length": 7}}])
        self.assertError(api("GET", "/api/definitions/" + uname("novh")), 400, "bad_request",
                         "vhost_not_found")

    def test_exclusive_queues_left_out(self):
        ch = self.channel()
        name = ch.queue_declare("", exclusive=True).method.queue
        st, _, d = api("GET", "/api/definitions")
        self.assertNotIn(name, [x["name"] for x in d["queues"]])

    def test_import_errors(self):
        self.assertError(api("POST", "/api/definitions", raw=b"{oops"), 400, "bad_request",
                         "failed_to_parse_json")
        self.assertEqual(api("POST", "/api/definitions", {})[0], 204)
        st, _, body = api("POST", "/api/definitions",
                          {"queues": [{"name": "x", "vhost": "nope-" + uname("v"),
                                       "durable": True, "auto_delete": False,
                                       "arguments": {}}]})
        self.assertEqual(st, 400)
        self.assertEqual(body["reason"][0], "no_such_vhost")

    def _import_example(self, port=None):
        with open(os.path.join(HERE, "data", "definitions-import-example.json"), "rb") as f:
            st, _, _ = api("POST", "/api/definitions", raw=f.read(), port=port)
        self.assertEqual(st, 204)

    def _drop_example(self, port=None):
        api("DELETE", "/api/vhosts/imported", port=port)
        api("DELETE", "/api/users/importer", port=port)
        api("DELETE", "/api/users/importer2", port=port)

    def test_round_trip(self):
        self.addCleanup(self._drop_example)
        self._drop_example()
        self._import_example()
        st, _, d1 = api("GET", "/api/definitions")
        self.assertIn({"name": "imported"}, d1["vhosts"])
        self.assertIn({"name": "imp-q", "vhost": "imported", "durable": True,
                       "auto_delete": False, "arguments": {"x-message-ttl": 60000}}, d1["queues"])
        self.assertIn({"source": "imp-x", "vhost": "imported", "destination": "imp-q",
                       "destination_type": "queue", "routing_key": "k", "arguments": {}},
                      d1["bindings"])
        imp = [u for u in d1["users"] if u["name"] == "importer"][0]
        self.assertEqual(imp["tags"], ["management"])
        self.assertEqual(api("GET", "/api/whoami", auth=("importer", "imp-secret"))[0], 200)
        imp2 = [u for u in d1["users"] if u["name"] == "importer2"][0]
        self.assertEqual(imp2["password_hash"],
                         "toEboWpXIB1cgbX9VavzSZZlJm+yHnF67WD885DYQndgIACV")
        st, _, v = api("GET", "/api/vhosts/imported")
        self.assertEqual(v["description"], "from definitions")
        # the export, imported after its objects are gone, exports the same again
        self._drop_example()
        st, _, _ = api("POST", "/api/definitions", raw=json.dumps(d1).encode())
        self.assertEqual(st, 204)
        st, _, d2 = api("GET", "/api/definitions")

        def ours(d, k):
            # only the example's objects: other clients may share the broker
            keep = [x for x in d[k] if x.get("vhost") == "imported" or
                    x.get("name") in ("imported", "importer", "importer2", "guest")]
            return sorted(json.dumps(x, sort_keys=True) for x in keep)
        for k in ("users", "vhosts", "permissions", "queues", "exchanges", "bindings",
                  "policies"):
            self.assertEqual(ours(d1, k), ours(d2, k), k)

    def test_round_trip_into_fresh_warren(self):
        binary = os.environ.get("WARREN_BIN")
        if not binary:
            self.skipTest("WARREN_BIN is not set: no second broker to import into")
        self.addCleanup(self._drop_example)
        self._import_example()
        st, _, d1 = api("GET", "/api/definitions")
        ports = []
        for _ in range(3):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
            s.close()
        data = tempfile.mkdtemp(prefix="warren-defs-")
        proc = subprocess.Popen([binary, "--port", str(ports[0]), "--mgmt-port", str(ports[1]),
                                 "--prometheus-port", "0", "--data-dir", data],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            end = time.time() + 10
            while time.time() < end:
                try:
                    if api("GET", "/api/overview", port=ports[1])[0] == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            st, _, _ = api("POST", "/api/definitions", raw=json.dumps(d1).encode(), port=ports[1])
            self.assertEqual(st, 204)
            st, _, d2 = api("GET", "/api/definitions", port=ports[1])
            st, _, d3 = api("GET", "/api/definitions")
            self.assertEqual(json.dumps(d2, sort_keys=True), json.dumps(d3, sort_keys=True))
        finally:
            proc.terminate()
            proc.wait(10)


@unittest.skipUnless(MGMT_PORT and PROM_PORT, "PROM_PORT is not set: no metrics endpoint")
class Prometheus(MgmtCase):
    DASHBOARD = ("rabbitmq_identity_info", "rabbitmq_build_info", "rabbitmq_queues",
                 "rabbitmq_connections", "rabbitmq_channels", "rabbitmq_consumers",
                 "rabbitmq_queue_messages_ready", "rabbitmq_queue_messages_unacked",
                 "rabbitmq_queue_messages", "rabbitmq_queue_consumers",
                 "rabbitmq_connections_opened_total", "rabbitmq_connections_closed_total",
                 "rabbitmq_connection_incoming_bytes_total",
                 "rabbitmq_connection_outgoing_bytes_total",
                 "rabbitmq_channel_messages_published_total",
                 "rabbitmq_channel_messages_delivered_ack_total",
                 "rabbitmq_channel_messages_acked_total",
                 "rabbitmq_global_messages_received_total", "rabbitmq_global_messages_routed_total",
                 "rabbitmq_process_resident_memory_bytes", "rabbitmq_resident_memory_limit_bytes",
                 "rabbitmq_disk_space_available_bytes", "rabbitmq_alarms_memory_used_watermark",
                 "rabbitmq_queue_messages_published_total")

    def scrape(self, path):
        st, hdrs, body = api("GET", path, auth=None, port=PROM_PORT)
        self.assertEqual(st, 200)
        self.assertTrue(hdrs.get("content-type", "").startswith("text/plain"))
        return body.decode()

    def parse(self, text):
        try:
            from prometheus_client.parser import text_string_to_metric_families
        except ImportError:
            self.skipTest("python3-prometheus-client is not installed")
        fams = {}
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                fams.setdefault(s.name, []).append(s)
        return fams

    def test_metrics_parse_and_dashboard_names(self):
        fams = self.parse(self.scrape("/metrics"))
        for name in self.DASHBOARD:
            self.assertIn(name, fams, name)
        ident = fams["rabbitmq_identity_info"][0]
        self.assertEqual(set(ident.labels), {"rabbitmq_node", "rabbitmq_cluster",
                                             "rabbitmq_cluster_permanent_id"})
        self.assertEqual(ident.value, 1)

    def test_per_object_queue_series(self):
        name = self.http_queue()
        api("POST", "/api/exchanges/%2F/amq.default/publish",
            {"properties": {}, "routing_key": name, "payload": "x", "payload_encoding": "string"})

        def series():
            fams = self.parse(self.scrape("/metrics/per-object"))
            return [s for s in fams.get("rabbitmq_queue_messages_ready", [])
                    if s.labels.get("queue") == name and s.value == 1]
        got = eventually(series, timeout=20)
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0].labels, {"vhost": "/", "queue": name})


if __name__ == "__main__":
    unittest.main()
