# SPDX-License-Identifier: MIT
"""lmsd's log as JSON lines (log.format: json), and request ids carried from
the client to the server's log line of the request (docs/operations.md,
"Logs").

A node at level debug writing JSON: every line it writes is one JSON object;
a CLI call that the server refuses prints its request id, and the server's
line for that request carries the same id with the request's kind, caller,
status, duration and address, exactly once; a request slower than
log.slow_request is a warning; a malformed request id from a raw client is
refused with a message that says what is wrong, never lands in the log as
sent, and the connection goes on serving; a request without an id (an old
client) gets one the server makes; passwords and tokens never appear."""

import json
import os
import re
import time

import lmstest
from lmstest import E2ETestCase, World, iso, wait_until

HEX16 = re.compile(r"^[0-9a-f]{16}$")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def json_lines(node):
    """Every line lmsd wrote, parsed (the harness's own '--- ' lines left
    out); a line that is not one JSON object fails the test."""
    out = []
    for line in node.log_text().splitlines():
        if line.startswith("--- "):
            continue
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise AssertionError("a log line that is not JSON (%s): %r" % (e, line))
        if not isinstance(obj, dict):
            raise AssertionError("a log line that is not a JSON object: %r" % line)
        out.append(obj)
    return out


class LogsTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(name="logs", log_level="debug",
                                        log_options={"format": "json",
                                                     "slow_request": "150ms"})
        cls.w = World(cls.node)

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def request_lines(self, rid):
        return [o for o in json_lines(self.node) if o.get("request_id") == rid]

    def wait_line(self, rid):
        """The one line of request rid (it is written as the answer goes
        out, so it may trail the CLI's exit a little)."""
        lines = wait_until(lambda: self.request_lines(rid), timeout=10,
                           what="a log line with request_id %s" % rid)
        self.assertEqual(len(lines), 1, "request %s logged once, got %r" % (rid, lines))
        return lines[0]

    def test_every_line_is_a_json_object(self):
        lines = json_lines(self.node)
        self.assertGreater(len(lines), 10, "the start and World's requests are logged")
        for o in lines:
            self.assertRegex(o.get("time", ""), TIME, "time of %r" % o)
            self.assertIn(o.get("level"), ("debug", "info", "warn", "error"), repr(o))
            self.assertIsInstance(o.get("msg"), str, repr(o))
            self.assertEqual(o.get("node"), 1, repr(o))
        # the term, once the node has one
        serving = [o for o in lines if "serving clients on" in o["msg"]]
        self.assertTrue(serving, "the start line")
        self.assertGreaterEqual(serving[-1].get("term", 0), 1, repr(serving[-1]))

    def test_a_refusal_names_its_request_id_and_the_server_logs_it(self):
        # teach1 does not teach MA201: refused, PERMISSION_DENIED
        res = self.w["teach1"].run("create-assignment", "--course", "MA201", "--title", "x",
                                   "--due", iso(time.time() + 86400), json=True)
        self.refused(res, "PERMISSION_DENIED")
        rid = res.json.get("request_id")
        self.assertRegex(rid or "", HEX16, "request_id in the --json error: %r" % res)
        self.assertIn("(request id %s)" % rid, res.err)
        line = self.wait_line(rid)
        self.assertEqual(line["op"], "create-assignment", repr(line))
        self.assertEqual(line["user"], "teach1", repr(line))
        self.assertEqual(line["status"], "PERMISSION_DENIED", repr(line))
        self.assertIsInstance(line["duration_ms"], (int, float), repr(line))
        self.assertGreaterEqual(line["duration_ms"], 0, repr(line))
        # a refusal is not a server failure: debug, unless the (busy)
        # machine made it slower than log.slow_request
        self.assertEqual(line["level"], "warn" if line["duration_ms"] > 150 else "debug",
                         repr(line))
        self.assertTrue(line["peer"].startswith("127.0.0.1:"), repr(line))
        self.assertGreaterEqual(line.get("term", 0), 1, repr(line))
        # without --json: the same on stderr, a new id for a new call
        res2 = self.w["teach1"].run("create-assignment", "--course", "MA201", "--title", "x",
                                    "--due", iso(time.time() + 86400))
        self.refused(res2, "PERMISSION_DENIED")
        m = re.search(r"\(request id ([0-9a-f]{16})\)", res2.err)
        self.assertIsNotNone(m, "a request id on stderr: %r" % res2)
        self.assertNotEqual(m.group(1), rid)
        self.assertEqual(self.wait_line(m.group(1))["status"], "PERMISSION_DENIED")

    def test_a_request_slower_than_slow_request_is_a_warning(self):
        # every fsync of the command log now waits 400 ms: a write takes longer
        # than log.slow_request (150ms) whatever the machine
        self.node.stall_fsync(400)
        try:
            res = self.w.admin.run("create-course", "SLOW1", "--title", "Slow", json=True)
        finally:
            self.node.stall_fsync(0)
        self.ok(res, "create-course")

        def slow_line():
            return [o for o in json_lines(self.node)
                    if o.get("op") == "create-course" and o.get("level") == "warn"]
        line = wait_until(slow_line, timeout=10, what="a warn line for the slow create-course")[-1]
        self.assertEqual(line["msg"], "slow request (over 150 ms)", repr(line))
        self.assertEqual(line["status"], "OK", repr(line))
        self.assertGreaterEqual(line["duration_ms"], 150, repr(line))
        self.assertRegex(line["request_id"], HEX16, repr(line))

    def test_a_malformed_request_id_is_refused_and_the_node_goes_on(self):
        with self.node.raw() as c:
            tok = c.login("stud1", World.PW)
            for bad, want in [
                ("bad id", "the request id contains ' ' (0x20) at byte 4; only letters, "
                           "digits, '.', '_' and '-' are allowed"),
                ("x" * 65, "the request id is 65 bytes; at most 64 are allowed"),
                ("evil\n{\"level\":\"error\"}", "the request id contains (0x0A) at byte 5"),
                ("caf\u00e9", "the request id contains (0xC3) at byte 4"),
            ]:
                r = c.call({"token": tok, "request_id": bad, "whoami": {}})
                self.assertStatus(r, "INVALID_ARGUMENT", "request id %r" % bad)
                self.assertIn(want, r["message"], "request id %r" % bad)
            # the same connection still serves, and a good id is logged
            r = c.call({"token": tok, "request_id": "raw-ok.1_A", "whoami": {}})
            self.assertStatus(r, "OK", "whoami after the refusals")
            # an old client sends none: the server makes one
            r = c.call({"token": tok, "whoami": {}})
            self.assertStatus(r, "OK", "whoami without a request id")
        line = self.wait_line("raw-ok.1_A")
        self.assertEqual((line["op"], line["user"], line["status"]), ("whoami", "stud1", "OK"))
        lines = json_lines(self.node)
        made = [o for o in lines if o.get("op") == "whoami"
                and re.match(r"^n1-\d+$", o.get("request_id", ""))]
        # refused before the token was read: no user
        refused = [o for o in made if o["status"] == "INVALID_ARGUMENT" and "user" not in o]
        self.assertEqual(len(refused), 4, "the refused ones, under ids the server made: %r"
                         % refused)
        self.assertTrue([o for o in made if o["status"] == "OK" and o.get("user") == "stud1"],
                        "the one without an id")
        text = self.node.log_text()
        for sent in ("bad id", "x" * 65, "evil"):
            self.assertNotIn(sent, text, "a refused request id in the log")
        self.assertTrue(self.node.running)

    def test_no_password_or_token_in_the_log(self):
        cli = self.node.cli("lms-student")
        self.ok(cli.login("stud2", World.PW), "login")
        self.ok(cli.run("whoami"), "whoami")
        with open(os.path.join(cli.home, "session")) as f:
            token = json.load(f)["token"]
        self.assertGreaterEqual(len(token), 32, "the session's token")
        text = self.node.log_text()
        self.assertNotIn(World.PW, text)
        self.assertNotIn(lmstest.ADMIN_PW, text)
        self.assertNotIn(token, text, "the session token in the log")
        # the login itself is there, by name
        self.assertTrue([o for o in json_lines(self.node)
                         if o.get("op") == "login" and o.get("user") == "stud2"
                         and o.get("status") == "OK"])
