# SPDX-License-Identifier: MIT
"""Logins throttled per account and per source address, logins in flight
capped per connection and per address, sessions capped per user (issue
10): 1,000 pipelined guesses neither guess fast nor hold up a real user's
login; wrong passwords lock the account they name (known or not) with a
backoff that the message names, and a successful login clears it; a user's
oldest session ends when a new one would pass limits.max_sessions_per_user."""

import threading
import time
import unittest

import lmstest
from lmstest import ADMIN, ADMIN_PW, E2ETestCase

PW = "password-123"
WRONG = "not-the-password"


def add_users(node, *names):
    admin = node.cli("lms-admin")
    res = admin.login(ADMIN, ADMIN_PW)
    if res.rc != 0:
        raise AssertionError("admin login: %r" % res)
    for name in names:
        res = admin.run("add-user", name, "--role", "student", "--password-stdin",
                        input=PW + "\n")
        if res.rc != 0:
            raise AssertionError("add-user %s: %r" % (name, res))


class LoginThrottleTest(E2ETestCase):
    """One node: 5 failures per account, a high per-address threshold (the
    tests all come from 127.0.0.1), sessions capped at 3."""

    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(
            name="login-throttle",
            limits={"login_failures": 5, "login_failures_per_address": 100000,
                    "login_backoff_max": "4s", "logins_per_connection": 2,
                    "max_sessions_per_user": 3})
        add_users(cls.node, "alice", "bob", "carol", "dave", "erin", "frank")

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def login(self, c, name, password):
        return c.call({"login": {"name": name, "password": password}})

    def fail_times(self, c, name, n):
        for i in range(n):
            self.assertStatus(self.login(c, name, WRONG), "UNAUTHENTICATED",
                              "wrong password %d for %s" % (i + 1, name))

    def assertThrottled(self, resp, name, what):
        self.assertStatus(resp, "RESOURCE_EXHAUSTED", what)
        want = "too many failed logins for %s; try again in " % name
        if want not in resp["message"] or not resp["message"].endswith(" s"):
            self.fail("%s: expected a message with %r and the wait in s, got %r"
                      % (what, want, resp["message"]))

    def test_wrong_passwords_lock_that_account_only(self):
        with self.node.raw() as c:
            self.fail_times(c, "alice", 5)
            # Refused without checking: the right password too.
            self.assertThrottled(self.login(c, "alice", PW), "alice",
                                 "alice's 6th login, right password")
            self.assertStatus(self.login(c, "bob", PW), "OK",
                              "bob logs in while alice is locked")
            # An unknown name is throttled the same way: a refusal does not
            # tell whether the account exists.
            self.fail_times(c, "nobody-here", 5)
            self.assertThrottled(self.login(c, "nobody-here", WRONG), "nobody-here",
                                 "6th login of an unknown name")
            # The first wait is 1 s: after it, the right password works.
            time.sleep(1.3)
            self.assertStatus(self.login(c, "alice", PW), "OK",
                              "alice after the 1 s wait")

    def test_a_successful_login_resets_the_count(self):
        with self.node.raw() as c:
            self.fail_times(c, "erin", 4)
            self.assertStatus(self.login(c, "erin", PW), "OK", "erin's 5th login")
            self.fail_times(c, "erin", 4)  # 8 failures, but not 5 in a row
            self.assertStatus(self.login(c, "erin", PW), "OK",
                              "erin after 4 more failures")

    def test_pipelined_guesses_are_throttled_and_do_not_block_a_real_login(self):
        n = 1000
        with self.node.raw(timeout=60) as flood, self.node.raw(timeout=60) as real:
            ids = [flood.new_id() for _ in range(n)]
            payload = b"".join(
                lmstest.frame(lmstest.proto().encode(
                    "Request", {"id": i, "login": {"name": "carol",
                                                   "password": "guess-%d" % i}}))
                for i in ids)
            answers = []

            def read_flood():
                for _ in range(n):
                    answers.append(flood.recv())

            reader = threading.Thread(target=read_flood)
            reader.start()
            flood.send_bytes(payload)
            started = time.monotonic()
            resp = self.login(real, "dave", PW)
            took = time.monotonic() - started
            reader.join(120)
            self.assertFalse(reader.is_alive(), "the flood's answers did not all come")
            self.assertStatus(resp, "OK", "dave's login during the flood")
            self.assertLess(took, 5.0, "dave's login during the flood took %.1f s" % took)

        self.assertEqual(sorted(a["id"] for a in answers), sorted(ids),
                         "one answer per pipelined guess")
        checked = [a for a in answers if a["status"] == "UNAUTHENTICATED"]
        in_flight = [a for a in answers if "in flight on this connection" in a["message"]]
        locked = [a for a in answers if "too many failed logins for carol" in a["message"]]
        other = [a for a in answers if a["status"] not in ("UNAUTHENTICATED",
                                                           "RESOURCE_EXHAUSTED")]
        self.assertEqual(other, [], "answers other than refusals")
        self.assertEqual(len(checked) + len(in_flight) + len(locked), n,
                         "every guess is checked or refused: %d checked, %d in flight, "
                         "%d locked" % (len(checked), len(in_flight), len(locked)))
        # 5 before the lock, and the ones already in flight then, and one
        # more per (short) backoff that ended during the flood.
        self.assertLessEqual(len(checked), 20, "guesses whose password was checked")
        self.assertGreater(len(in_flight), 0, "guesses refused for the connection's cap")

    def test_oldest_session_ends_beyond_the_cap(self):
        with self.node.raw() as c:
            tokens = []
            for i in range(4):
                resp = self.assertStatus(self.login(c, "frank", PW), "OK",
                                         "frank's login %d" % (i + 1))
                tokens.append(resp["login"]["token"])
                time.sleep(0.01)  # distinct creation times
            first = c.call({"token": tokens[0], "whoami": {}})
            self.assertStatus(first, "UNAUTHENTICATED", "frank's oldest session")
            for i, t in enumerate(tokens[1:], 2):
                self.assertStatus(c.call({"token": t, "whoami": {}}), "OK",
                                  "frank's session %d" % i)


class AddressThrottleTest(E2ETestCase):
    """Failures counted per source address, whatever names they try."""

    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(
            name="login-address",
            limits={"login_failures": 100, "login_failures_per_address": 3})
        add_users(cls.node, "alice")

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def test_failures_from_one_address_lock_it(self):
        with self.node.raw() as c:
            for name in ("x1", "x2", "x3"):
                self.assertStatus(c.call({"login": {"name": name, "password": WRONG}}),
                                  "UNAUTHENTICATED", "wrong password for %s" % name)
            resp = c.call({"login": {"name": "alice", "password": PW}})
            self.assertStatus(resp, "RESOURCE_EXHAUSTED", "alice from the same address")
            self.assertIn("too many failed logins from 127.0.0.1; try again in 1 s",
                          resp["message"])
            time.sleep(1.3)
            self.assertStatus(c.call({"login": {"name": "alice", "password": PW}}), "OK",
                              "alice after the wait")


if __name__ == "__main__":
    unittest.main()
