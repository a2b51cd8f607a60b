"""warrenctl, verb by verb (issue #8): the same command lines as
rabbitmqctl, the same output and exit codes.

Each test runs against a warren of its own (helpers.OwnBroker; warrenctl
beside WARREN_BIN, aimed at the broker's control socket with --socket), or,
when run.sh aims at an external broker and RABBITMQCTL names its
rabbitmqctl, against RabbitMQ 3.10 with rabbitmqctl: the expectations are
rabbitmqctl's, so both must meet them.  Tests of warren-only things (the
control socket's access rules, stop, await_startup of a broker that is
not up yet) skip against RabbitMQ.  Names are unique and every test works
in a vhost of its own, so a shared RabbitMQ is left as it was found."""

import json
import os
import re
import socket
import stat
import subprocess
import tempfile
import time
import unittest

import pika
import pika.exceptions

from helpers import (PASSWORD, PORT, USER, WARREN_BIN, BrokerTestCase, OwnBroker,
                     params, uname)

RABBITMQCTL = os.environ.get("RABBITMQCTL")
PID_RE = r"<[^<>\s]+\.\d+\.\d+>"


class Ctl:
    """The control tool and the broker it controls."""

    def __init__(self, tc, **own_kw):
        self.tc = tc
        if WARREN_BIN:
            self.own = OwnBroker(tc, **own_kw)
            self.socket = os.path.join(self.own.data_dir, "warren.sock")
            exe = os.path.join(os.path.dirname(WARREN_BIN), "warrenctl")
            if not os.access(exe, os.X_OK):
                tc.skipTest("no warrenctl beside %s" % WARREN_BIN)
            self.cmd = [exe, "--socket", self.socket]
            self.port = self.own.port
            self.warren = True
        elif RABBITMQCTL:
            self.own = None
            self.cmd = [RABBITMQCTL]
            self.port = PORT
            self.warren = False
        else:
            tc.skipTest("needs WARREN_BIN (warren) or RABBITMQCTL (RabbitMQ)")

    def run(self, *args, input=None, timeout=60):
        return subprocess.run(self.cmd + list(args), capture_output=True, text=True,
                              input=input, timeout=timeout)

    def ok(self, *args, **kw):
        p = self.run(*args, **kw)
        self.tc.assertEqual(p.returncode, 0, "%s: %s%s" % (args, p.stdout, p.stderr))
        return p.stdout

    def connect(self, vhost="/", **kw):
        return pika.BlockingConnection(params(port=self.port, virtual_host=vhost, **kw))


class CtlTestCase(BrokerTestCase):
    timeout = 120  # rabbitmqctl takes about a second per call

    def setUp(self):
        super().setUp()
        self.ctl = Ctl(self)
        self.vhosts, self.users = [], []
        self.addCleanup(self.cleanup_names)

    def cleanup_names(self):
        for v in self.vhosts:
            self.ctl.run("delete_vhost", v)
        for u in self.users:
            self.ctl.run("delete_user", u)

    def vhost(self):
        """A vhost of the test's own, where guest may do everything."""
        v = uname("v")
        self.vhosts.append(v)
        self.ctl.ok("add_vhost", v)
        self.ctl.ok("set_permissions", "-p", v, USER, ".*", ".*", ".*")
        return v

    def user(self):
        u = uname("u")
        self.users.append(u)
        return u

    def assertRun(self, p, rc, stdout=None, stderr=None):
        self.assertEqual(p.returncode, rc, "stdout %r stderr %r" % (p.stdout, p.stderr))
        if stdout is not None:
            self.assertEqual(p.stdout, stdout)
        if stderr is not None:
            self.assertEqual(p.stderr, stderr)

    def rows(self, out):
        return [line.split("\t") for line in out.splitlines()]


class ListingTests(CtlTestCase):

    def populate(self):
        v = self.vhost()
        c = self.ctl.connect(v, client_properties={"connection_name": "ctl-test"})
        self.addCleanup(c.close)
        ch = c.channel()
        ch.queue_declare("q1", arguments={"x-max-length": 10})
        ch.queue_declare("q2", durable=True)
        ch.exchange_declare("x1", exchange_type="topic")
        ch.queue_bind("q1", "x1", "a.#")
        ch.basic_publish("", "q1", b"one")
        ch.basic_publish("", "q1", b"two")
        ch2 = c.channel()
        ch2.basic_consume("q2", lambda *a: None, consumer_tag="ctag-1")
        c.process_data_events(0.2)
        return v, c

    def test_list_queues(self):
        v, _ = self.populate()
        head = "Timeout: 60.0 seconds ...\nListing queues for vhost %s ...\n" % v
        out = self.ctl.ok("list_queues", "-p", v)
        self.assertTrue(out.startswith(head + "name\tmessages\n"), out)
        self.assertEqual(sorted(out[len(head):].splitlines()[1:]), ["q1\t2", "q2\t0"])
        out = self.ctl.ok("list_queues", "-p", v, "name", "messages", "consumers", "durable",
                          "arguments")
        self.assertIn("name\tmessages\tconsumers\tdurable\targuments\n", out)
        self.assertIn('q1\t2\t0\tfalse\t[{"x-max-length",10}]\n', out)
        self.assertIn("q2\t0\t1\ttrue\t[]\n", out)
        # -q: no informational lines; -s: no header either; --no-table-headers
        out = self.ctl.ok("-q", "list_queues", "-p", v, "name", "durable")
        self.assertEqual(sorted(out.splitlines()), ["name\tdurable", "q1\tfalse", "q2\ttrue"])
        out = self.ctl.ok("list_queues", "-p", v, "-s", "name")
        self.assertEqual(sorted(out.splitlines()), ["q1", "q2"])
        out = self.ctl.ok("list_queues", "-p", v, "--no-table-headers", "name")
        self.assertEqual(out.splitlines()[:2], head.splitlines())
        self.assertEqual(sorted(out.splitlines()[2:]), ["q1", "q2"])

    def test_list_queues_unknown_column_and_vhost(self):
        p = self.ctl.run("list_queues", "name", "bogus")
        self.assertRun(p, 64, stdout="")
        self.assertTrue(p.stderr.startswith(
            "Error (argument validation): Info key(s) bogus are not supported\n"), p.stderr)
        # a vhost that does not exist lists nothing, successfully
        nv = uname("nov")
        self.assertRun(self.ctl.run("list_queues", "-p", nv), 0,
                       "Timeout: 60.0 seconds ...\nListing queues for vhost %s ...\n" % nv)

    def test_list_exchanges(self):
        v, _ = self.populate()
        out = self.ctl.ok("list_exchanges", "-p", v, "name", "type", "durable")
        lines = out.splitlines()
        self.assertEqual(lines[:2], ["Listing exchanges for vhost %s ..." % v,
                                     "name\ttype\tdurable"])
        self.assertEqual(sorted(lines[2:]), sorted([
            "\tdirect\ttrue", "amq.direct\tdirect\ttrue", "amq.fanout\tfanout\ttrue",
            "amq.headers\theaders\ttrue", "amq.match\theaders\ttrue",
            "amq.rabbitmq.trace\ttopic\ttrue", "amq.topic\ttopic\ttrue",
            "x1\ttopic\tfalse"]))
        out = self.ctl.ok("-q", "list_exchanges", "-p", v)
        self.assertEqual(out.splitlines()[0], "name\ttype")

    def test_list_bindings(self):
        v, _ = self.populate()
        out = self.ctl.ok("list_bindings", "-p", v)
        lines = out.splitlines()
        self.assertEqual(lines[:2], [
            "Listing bindings for vhost %s..." % v,
            "source_name\tsource_kind\tdestination_name\tdestination_kind\trouting_key\targuments"])
        self.assertEqual(sorted(lines[2:]), sorted([
            "\texchange\tq1\tqueue\tq1\t[]", "\texchange\tq2\tqueue\tq2\t[]",
            "x1\texchange\tq1\tqueue\ta.#\t[]"]))

    def test_list_connections(self):
        v, c = self.populate()
        out = self.ctl.ok("list_connections")
        self.assertEqual(out.splitlines()[:2], ["Listing connections ...",
                                                "user\tpeer_host\tpeer_port\tstate"])
        out = self.ctl.ok("-s", "list_connections", "vhost", "user", "state", "channels",
                          "protocol", "pid", "name")
        mine = [r for r in self.rows(out) if r[0] == v]
        self.assertEqual(len(mine), 1, out)
        self.assertEqual(mine[0][1:5], [USER, "running", "2", "{0,9,1}"])
        self.assertRegex(mine[0][5], "^%s$" % PID_RE)
        self.assertRegex(mine[0][6], r"^127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+$")

    def test_list_channels(self):
        v, c = self.populate()
        out = self.ctl.ok("list_channels")
        self.assertEqual(out.splitlines()[:2], [
            "Listing channels ...", "pid\tuser\tconsumer_count\tmessages_unacknowledged"])
        out = self.ctl.ok("-s", "list_channels", "vhost", "number", "consumer_count", "pid",
                          "connection")
        mine = sorted(r for r in self.rows(out) if r[0] == v)
        self.assertEqual([r[1:3] for r in mine], [["1", "0"], ["2", "1"]])
        for r in mine:
            self.assertRegex(r[3], "^%s$" % PID_RE)
            self.assertRegex(r[4], "^%s$" % PID_RE)
        p = self.ctl.run("list_channels", "state")  # not a channel column in 3.10
        self.assertRun(p, 64, stdout="")

    def test_list_consumers(self):
        v, _ = self.populate()
        out = self.ctl.ok("list_consumers", "-p", v)
        lines = out.splitlines()
        self.assertEqual(lines[:2], [
            "Listing consumers in vhost %s ..." % v,
            "queue_name\tchannel_pid\tconsumer_tag\tack_required\tprefetch_count\tactive\targuments"])
        self.assertEqual(len(lines), 3, out)
        self.assertRegex(lines[2], r"^q2\t%s\tctag-1\ttrue\t0\ttrue\t\[\]$" % PID_RE)

    def test_list_vhosts(self):
        v = self.vhost()
        out = self.ctl.ok("list_vhosts")
        self.assertEqual(out.splitlines()[:2], ["Listing vhosts ...", "name"])
        self.assertIn(v, out.splitlines())
        out = self.ctl.ok("-s", "list_vhosts", "name", "tracing")
        self.assertIn("%s\tfalse" % v, out.splitlines())

    def test_list_users(self):
        u = self.user()
        self.ctl.ok("add_user", u, "pw")
        out = self.ctl.ok("list_users")
        self.assertEqual(out.splitlines()[:2], ["Listing users ...", "user\ttags"])
        self.assertIn("%s\t[]" % u, out.splitlines())
        self.assertRun(self.ctl.run("list_users", "name"), 64, stdout="")

    def test_list_permissions(self):
        v = self.vhost()
        self.assertRun(self.ctl.run("list_permissions", "-p", v), 0,
                       'Listing permissions for vhost "%s" ...\n'
                       "user\tconfigure\twrite\tread\n%s\t.*\t.*\t.*\n" % (v, USER))
        nv = uname("nov")
        self.assertRun(self.ctl.run("list_permissions", "-p", nv), 65,
                       'Listing permissions for vhost "%s" ...\n' % nv,
                       "Virtual host '%s' does not exist\n" % nv)


class UserTests(CtlTestCase):

    def login(self, user, password):
        c = pika.BlockingConnection(params(port=self.ctl.port,
                                           credentials=pika.PlainCredentials(user, password)))
        c.close()

    def test_add_user(self):
        u = self.user()
        self.assertRun(self.ctl.run("add_user", u, "s3cret"), 0,
                       'Adding user "%s" ...\nDone. Don\'t forget to grant the user permissions '
                       "to some virtual hosts! See '%s help set_permissions' to learn more.\n"
                       % (u, "warrenctl" if self.ctl.warren else "rabbitmqctl"))
        self.assertRun(self.ctl.run("add_user", u, "other"), 70,
                       'Adding user "%s" ...\n' % u, 'Error:\nUser "%s" already exists\n' % u)
        self.ctl.ok("set_permissions", u, ".*", ".*", ".*")
        self.login(u, "s3cret")
        self.assertRun(self.ctl.run("add_user"), 64, stdout="")

    def test_delete_user(self):
        u = self.user()
        self.ctl.ok("add_user", u, "pw")
        self.assertRun(self.ctl.run("delete_user", u), 0, 'Deleting user "%s" ...\n' % u)
        self.assertRun(self.ctl.run("delete_user", u), 67, 'Deleting user "%s" ...\n' % u,
                       'Error:\nUser "%s" does not exist\n' % u)

    def test_change_password(self):
        u = self.user()
        self.ctl.ok("add_user", u, "old")
        self.ctl.ok("set_user_tags", u, "monitoring")
        self.ctl.ok("set_permissions", u, ".*", ".*", ".*")
        self.assertRun(self.ctl.run("change_password", u, "new"), 0,
                       'Changing password for user "%s" ...\n' % u)
        self.login(u, "new")
        with self.assertRaises(pika.exceptions.AMQPConnectionError):
            self.login(u, "old")
        # the tags survive a password change
        self.assertIn("%s\t[monitoring]" % u, self.ctl.ok("-q", "list_users").splitlines())
        nu = uname("nou")
        self.assertRun(self.ctl.run("change_password", nu, "x"), 67,
                       'Changing password for user "%s" ...\n' % nu,
                       'Error:\nUser "%s" does not exist\n' % nu)

    def test_set_user_tags(self):
        u = self.user()
        self.ctl.ok("add_user", u, "pw")
        self.assertRun(self.ctl.run("set_user_tags", u, "administrator", "monitoring"), 0,
                       'Setting tags for user "%s" to [administrator, monitoring] ...\n' % u)
        self.assertIn("%s\t[administrator, monitoring]" % u,
                      self.ctl.ok("-s", "list_users").splitlines())
        self.assertRun(self.ctl.run("set_user_tags", u), 0,
                       'Setting tags for user "%s" to [] ...\n' % u)
        self.assertIn("%s\t[]" % u, self.ctl.ok("-s", "list_users").splitlines())
        # the password survives a change of tags
        self.ctl.ok("set_permissions", u, ".*", ".*", ".*")
        self.login(u, "pw")
        nu = uname("nou")
        self.assertRun(self.ctl.run("set_user_tags", nu, "administrator"), 67,
                       'Setting tags for user "%s" to [administrator] ...\n' % nu,
                       'Error:\nUser "%s" does not exist\n' % nu)


class VhostPermissionTests(CtlTestCase):

    def test_add_vhost(self):
        v = uname("v")
        self.vhosts.append(v)
        self.assertRun(self.ctl.run("add_vhost", v), 0, 'Adding vhost "%s" ...\n' % v)
        self.assertRun(self.ctl.run("add_vhost", v), 0, 'Adding vhost "%s" ...\n' % v)
        self.assertIn(v, self.ctl.ok("-s", "list_vhosts").splitlines())
        # add_vhost grants nobody anything (an empty listing is one empty line)
        self.assertEqual(self.ctl.ok("-s", "list_permissions", "-p", v), "\n")
        self.assertEqual(self.ctl.ok("-q", "list_policies", "-p", v), "\n")
        nv = uname("nov")
        self.assertRun(self.ctl.run("list_policies", "-p", nv), 65,
                       stderr="Virtual host '%s' does not exist\n" % nv)

    def test_delete_vhost(self):
        v = self.vhost()
        self.assertRun(self.ctl.run("delete_vhost", v), 0, 'Deleting vhost "%s" ...\n' % v)
        self.assertRun(self.ctl.run("delete_vhost", v), 65, 'Deleting vhost "%s" ...\n' % v,
                       "Virtual host '%s' does not exist\n" % v)

    def test_set_permissions(self):
        """The Celery setup guide's lines."""
        v, u = uname("v"), self.user()
        self.vhosts.append(v)
        self.ctl.ok("add_user", u, "pw")
        self.ctl.ok("add_vhost", v)
        self.ctl.ok("set_user_tags", u, "mytag")
        self.assertRun(self.ctl.run("set_permissions", "-p", v, u, ".*", ".*", ".*"), 0,
                       'Setting permissions for user "%s" in vhost "%s" ...\n' % (u, v))
        c = pika.BlockingConnection(params(port=self.ctl.port, virtual_host=v,
                                           credentials=pika.PlainCredentials(u, "pw")))
        c.channel().queue_declare(uname("q"), exclusive=True)
        c.close()
        self.assertIn("%s\t.*\t.*\t.*" % u,
                      self.ctl.ok("-s", "list_permissions", "-p", v).splitlines())
        nu, nv = uname("nou"), uname("nov")
        self.assertRun(self.ctl.run("set_permissions", "-p", v, nu, ".*", ".*", ".*"), 67,
                       'Setting permissions for user "%s" in vhost "%s" ...\n' % (nu, v),
                       "Error:\nUser %s does not exist\n" % nu)
        self.assertRun(self.ctl.run("set_permissions", "-p", nv, u, ".*", ".*", ".*"), 69,
                       'Setting permissions for user "%s" in vhost "%s" ...\n' % (u, nv),
                       "Error:\nVirtual host %s does not exist\n" % nv)
        self.assertRun(self.ctl.run("set_permissions", "-p", v, u, ".*"), 64, stdout="")

    def test_clear_permissions(self):
        v, u = self.vhost(), self.user()
        self.ctl.ok("add_user", u, "pw")
        self.ctl.ok("set_permissions", "-p", v, u, "^a", "^b", "^c")
        self.assertIn("%s\t^a\t^b\t^c" % u, self.ctl.ok("-s", "list_permissions", "-p", v))
        msg = 'Clearing permissions for user "%s" in vhost "%s" ...\n' % (u, v)
        self.assertRun(self.ctl.run("clear_permissions", "-p", v, u), 0, msg)
        self.assertNotIn(u, self.ctl.ok("-s", "list_permissions", "-p", v))
        self.assertRun(self.ctl.run("clear_permissions", "-p", v, u), 0, msg)
        nu = uname("nou")
        self.assertRun(self.ctl.run("clear_permissions", "-p", v, nu), 67,
                       'Clearing permissions for user "%s" in vhost "%s" ...\n' % (nu, v),
                       "Error:\nUser %s does not exist\n" % nu)


class PolicyTests(CtlTestCase):

    def test_set_list_clear_policy(self):
        v = self.vhost()
        self.assertRun(self.ctl.run("list_policies", "-p", v), 0,
                       'Listing policies for vhost "%s" ...\n\n' % v)
        self.assertRun(
            self.ctl.run("set_policy", "-p", v, "--priority", "3", "--apply-to", "queues",
                         "lim", "^q", '{"max-length":1}'), 0,
            'Setting policy "lim" for pattern "^q" to "{"max-length":1}" with priority "3" '
            'for vhost "%s" ...\n' % v)
        self.assertRun(self.ctl.run("list_policies", "-p", v), 0,
                       'Listing policies for vhost "%s" ...\n'
                       "vhost\tname\tpattern\tapply-to\tdefinition\tpriority\n"
                       '%s\tlim\t^q\tqueues\t{"max-length":1}\t3\n' % (v, v))
        # the policy is in force: max-length 1 keeps the last message
        c = self.ctl.connect(v)
        self.addCleanup(c.close)
        ch = c.channel()
        ch.queue_declare("q-limited")
        for body in (b"1", b"2", b"3"):
            ch.basic_publish("", "q-limited", body)
        self.assertEqual(ch.queue_declare("q-limited", passive=True).method.message_count, 1)
        self.assertRun(self.ctl.run("clear_policy", "-p", v, "lim"), 0,
                       'Clearing policy "lim" on vhost "%s" ...\n' % v)
        self.assertRun(self.ctl.run("clear_policy", "-p", v, "lim"), 69,
                       'Clearing policy "lim" on vhost "%s" ...\n' % v,
                       "Error:\nParameter does not exist\n")

    def test_set_policy_bad_definition(self):
        v = self.vhost()
        p = self.ctl.run("set_policy", "-p", v, "bad", "^x", "{bad")
        self.assertRun(p, 69, stderr="Error:\nJSON decoding error. Reason: badarg\n")
        p = self.ctl.run("set_policy", "-p", v, "bad", "^x", '{"bogus-key":1}')
        self.assertEqual(p.returncode, 69)
        self.assertTrue(p.stderr.startswith("Error:\nValidation failed\n\n"), p.stderr)
        self.assertIn("are not recognised policy settings", p.stderr)
        self.assertNotIn("bad", self.ctl.ok("-s", "list_policies", "-p", v))


class QueueConnectionTests(CtlTestCase):

    def test_purge_queue(self):
        v = self.vhost()
        c = self.ctl.connect(v)
        self.addCleanup(c.close)
        ch = c.channel()
        ch.queue_declare("q")
        for _ in range(3):
            ch.basic_publish("", "q", b"x")
        self.assertRun(self.ctl.run("purge_queue", "-p", v, "q"), 0,
                       "Purging queue 'q' in vhost '%s' ...\n" % v)
        self.assertEqual(ch.queue_declare("q", passive=True).method.message_count, 0)
        self.assertRun(self.ctl.run("purge_queue", "-p", v, "nosuch"), 69,
                       "Purging queue 'nosuch' in vhost '%s' ...\n" % v, "Error:\nnot_found\n")

    def test_delete_queue(self):
        v = self.vhost()
        c = self.ctl.connect(v)
        self.addCleanup(c.close)
        ch = c.channel()
        ch.queue_declare("q")
        for _ in range(2):
            ch.basic_publish("", "q", b"x")
        c.process_data_events(0.1)
        self.assertRun(self.ctl.run("delete_queue", "-p", v, "q"), 0,
                       "Deleting queue 'q' on vhost '%s' ...\n"
                       "Queue was successfully deleted with 2 ready messages\n" % v)
        self.assertEqual(self.ctl.ok("-s", "list_queues", "-p", v), "")
        self.assertRun(self.ctl.run("delete_queue", "-p", v, "q"), 64,
                       "Deleting queue 'q' on vhost '%s' ...\n" % v,
                       "Error:\nQueue not found\n")

    def test_close_connection(self):
        v = self.vhost()
        c = self.ctl.connect(v)
        out = self.ctl.ok("-s", "list_connections", "vhost", "pid")
        pids = [r[1] for r in self.rows(out) if r[0] == v]
        self.assertEqual(len(pids), 1, out)
        self.assertRun(self.ctl.run("close_connection", pids[0], "go away"), 0,
                       "Closing connection %s, reason: go away...\n" % pids[0])
        with self.assertRaises(pika.exceptions.ConnectionClosedByBroker) as cm:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                c.process_data_events(0.2)
        self.assertEqual(cm.exception.reply_code, 320)
        self.assertEqual(cm.exception.reply_text, "CONNECTION_FORCED - go away")

    def test_close_connection_by_name_warren(self):
        if not self.ctl.warren:
            self.skipTest("rabbitmqctl takes a pid only")
        v = self.vhost()
        c = self.ctl.connect(v)
        out = self.ctl.ok("-s", "list_connections", "vhost", "name")
        names = [r[1] for r in self.rows(out) if r[0] == v]
        self.ctl.ok("close_connection", names[0], "bye")
        with self.assertRaises(pika.exceptions.ConnectionClosedByBroker):
            for _ in range(50):
                c.process_data_events(0.2)
        p = self.ctl.run("close_connection", "<rabbit@nowhere.999999.0>", "x")
        self.assertEqual(p.returncode, 69)


class DefinitionTests(CtlTestCase):

    def test_export_definitions(self):
        v = self.vhost()
        c = self.ctl.connect(v)
        self.addCleanup(c.close)
        c.channel().queue_declare("kept", durable=True)
        out = self.ctl.ok("export_definitions", "-")
        d = json.loads(out)
        self.assertIn(v, [x["name"] for x in d["vhosts"]])
        self.assertIn(("kept", v), [(q["name"], q["vhost"]) for q in d["queues"]])
        with tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o777)  # RabbitMQ's node writes the file, as its own user
            path = os.path.join(tmp, "defs.json")
            self.assertRun(self.ctl.run("export_definitions", path), 0,
                           'Exporting definitions in JSON to a file at "%s" ...\n' % path)
            with open(path) as f:
                self.assertIn(v, [x["name"] for x in json.load(f)["vhosts"]])

    def test_import_definitions(self):
        v, u = uname("v"), self.user()
        self.vhosts.append(v)
        defs = {"vhosts": [{"name": v}],
                "users": [{"name": u, "password_hash":
                           "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR",
                           "hashing_algorithm": "rabbit_password_hashing_sha256",
                           "tags": ["monitoring"]}],
                "permissions": [{"user": u, "vhost": v, "configure": ".*", "write": ".*",
                                 "read": ".*"}],
                "queues": [{"name": "imported", "vhost": v, "durable": True,
                            "auto_delete": False, "arguments": {}}]}
        with tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o755)  # RabbitMQ's node reads the file, as its own user
            path = os.path.join(tmp, "defs.json")
            with open(path, "w") as f:
                json.dump(defs, f)
            os.chmod(path, 0o644)
            self.assertRun(self.ctl.run("import_definitions", path), 0,
                           'Importing definitions in JSON from a file at "%s" ...\n'
                           "Successfully started definition import. This process is "
                           "asynchronous and can take some time.\n" % path)
        deadline = time.monotonic() + 10
        while "imported" not in self.ctl.ok("-s", "list_queues", "-p", v, "name"):
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.2)
        self.assertIn("%s\t[monitoring]" % u, self.ctl.ok("-s", "list_users"))
        self.assertIn(u, self.ctl.ok("-s", "list_permissions", "-p", v))


class HelpAndUsageTests(CtlTestCase):

    def test_help(self):
        p = self.ctl.run("list_queues", "--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn("Usage", p.stdout)
        self.assertIn("list_queues [--vhost <vhost>]", p.stdout)
        for verb in ("status", "await_startup", "stop", "add_user", "set_permissions",
                     "set_policy", "close_connection", "import_definitions"):
            p = self.ctl.run("help", verb)
            self.assertEqual(p.returncode, 0, verb)
            self.assertIn(verb, p.stdout)

    def test_usage_errors(self):
        p = self.ctl.run("no_such_command")
        self.assertEqual(p.returncode, 64)
        self.assertIn("Command 'no_such_command' not found", p.stderr)
        self.assertEqual(self.ctl.run("delete_user").returncode, 64)
        self.assertEqual(self.ctl.run("delete_user", "a", "b").returncode, 64)
        self.assertEqual(self.ctl.run("list_users", "--no-such-flag").returncode, 64)

    def test_status(self):
        out = self.ctl.ok("status")
        self.assertRegex(out, r"^Status of node \S+ \.\.\.\n")
        self.assertRegex(out, r"\nOS PID: \d+\n")
        self.assertRegex(out, r"\nInterface: \S+, port: %d, protocol: amqp, purpose: "
                              r"AMQP 0-9-1 and AMQP 1\.0\n" % self.ctl.port)
        if self.ctl.warren:
            self.assertIn("\nOS PID: %d\n" % self.ctl.own.proc.pid, out)
            self.assertIn("\nNode data directory: %s\n" % self.ctl.own.data_dir, out)

    def test_await_startup(self):
        self.assertRun(self.ctl.run("await_startup"), 0, "", "")


class WarrenOnlyTests(BrokerTestCase):
    """The control socket itself, stop, await_startup of a broker not yet up."""

    timeout = 60

    def setUp(self):
        super().setUp()
        if not WARREN_BIN:
            self.skipTest("warren only")
        self.exe = os.path.join(os.path.dirname(WARREN_BIN), "warrenctl")

    def test_socket_is_owner_only(self):
        ctl = Ctl(self)
        st = os.stat(ctl.socket)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_uid, os.geteuid())

    def test_other_users_are_refused(self):
        """Even through a socket opened to everyone, SO_PEERCRED refuses other uids."""
        if os.geteuid() != 0:
            self.skipTest("needs root to run a client as another user")
        ctl = Ctl(self)
        for d in (ctl.own.tmp, ctl.own.data_dir):
            os.chmod(d, 0o755)
        os.chmod(ctl.socket, 0o666)

        def as_nobody():
            os.setgid(65534)
            os.setuid(65534)
        p = subprocess.run(ctl.cmd + ["list_users"], capture_output=True, text=True,
                           preexec_fn=as_nobody, timeout=10)
        self.assertEqual(p.returncode, 69, p.stdout + p.stderr)
        self.assertNotIn("guest", p.stdout)
        self.assertIn("control socket: refused a client with uid 65534", ctl.own.read_log())
        ctl.ok("list_users")  # the owner still can

    def test_control_routes_not_over_tcp(self):
        import base64
        import http.client
        ctl = Ctl(self, mgmt=True)
        auth = "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
        for method, path in (("GET", "/api/ctl/status"), ("POST", "/api/ctl/stop")):
            h = http.client.HTTPConnection("127.0.0.1", ctl.own.mgmt_port, timeout=5)
            h.request(method, path, headers={"Authorization": auth})
            self.assertEqual(h.getresponse().status, 404, path)
            h.close()
        self.assertIsNone(ctl.own.proc.poll())

    def test_unreachable(self):
        p = subprocess.run([self.exe, "--socket", "/nonexistent/warren.sock", "list_queues"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 69)
        self.assertIn("unable to perform an operation on node", p.stderr)
        p = subprocess.run([self.exe, "--socket", "/nonexistent/warren.sock", "--timeout", "0.3",
                            "await_startup"], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 69)
        p = subprocess.run([self.exe, "--socket", "/nonexistent/warren.sock", "stop",
                            "--idempotent"], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 0)

    def test_await_startup_waits(self):
        tmp = tempfile.mkdtemp(prefix="warren-await-")
        data = os.path.join(tmp, "data")
        sock = os.path.join(data, "warren.sock")
        waiter = subprocess.Popen([self.exe, "--socket", sock, "--timeout", "20",
                                   "await_startup"])
        self.addCleanup(lambda: waiter.poll() is None and waiter.kill())
        time.sleep(0.5)
        self.assertIsNone(waiter.poll())
        OwnBroker(self, data_dir=data)
        self.assertEqual(waiter.wait(15), 0)

    def test_stop(self):
        ctl = Ctl(self)
        c = ctl.connect()
        p = ctl.run("stop")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "Stopping and halting node warren ...\n")
        # stop returns once the process is gone; it exited cleanly
        self.assertEqual(ctl.own.proc.wait(5), 0)
        self.assertFalse(os.path.exists(ctl.socket))
        with self.assertRaises(pika.exceptions.ConnectionClosedByBroker) as cm:
            c.process_data_events(1)
        self.assertEqual(cm.exception.reply_code, 320)
        self.assertIn("warrenctl stop, stopping", ctl.own.read_log())


if __name__ == "__main__":
    unittest.main()
