# SPDX-License-Identifier: MIT
"""passwd's check of the current password is throttled by the login guard,
as a login of the same name from the same address: a holder of a stolen
session cannot guess the account's password online without limit, and gets
no budget of guesses apart from login's. Through the real CLIs."""

import time
import unittest

import lmstest
from lmstest import ADMIN, ADMIN_PW, E2ETestCase

PW = "password-123"
WRONG = "not-the-password"


class PasswdThrottleTest(E2ETestCase):
    """One node: 3 failures per name lock it (1 s, doubling up to 2 s); the
    per-address threshold is high (the tests all come from 127.0.0.1)."""

    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(
            name="passwd-throttle",
            limits={"login_failures": 3, "login_failures_per_address": 100000,
                    "login_backoff_max": "2s"})
        admin = cls.node.cli("lms-admin")
        res = admin.login(ADMIN, ADMIN_PW)
        if res.rc != 0:
            raise AssertionError("admin login: %r" % res)
        for name in ("pia", "quinn"):
            res = admin.run("add-user", name, "--role", "student", "--password-stdin",
                            input=PW + "\n")
            if res.rc != 0:
                raise AssertionError("add-user %s: %r" % (name, res))

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def session(self, name, pw=PW):
        c = self.node.cli("lms-student")
        self.ok(c.login(name, pw, json=True), "%s logs in" % name)
        return c

    def login(self, name, pw):
        return self.node.cli("lms-student").login(name, pw, json=True)

    def passwd(self, cli, old, new):
        return cli.run("passwd", "--password-stdin", input="%s\n%s\n" % (old, new), json=True)

    def wrong_passwd(self, cli, what):
        self.refused(self.passwd(cli, WRONG, "guessed-new-pw"), "PERMISSION_DENIED", what,
                     in_message="the current password is wrong")

    def throttled_passwd(self, res, name, what):
        self.refused(res, "RESOURCE_EXHAUSTED", what,
                     in_message=["the current password was not checked",
                                 "too many failed logins for %s; try again in " % name])

    def test_wrong_current_passwords_lock_passwd_and_login(self):
        a = self.session("pia")
        for i in range(3):  # the 3rd locks the name for 1 s
            self.wrong_passwd(a, "wrong current password %d" % (i + 1))
        time.sleep(1.3)
        # the 4th failure locks it for 2 s: room for the checks below
        self.wrong_passwd(a, "wrong current password 4")
        # Refused before the hash: the right current password too.
        self.throttled_passwd(self.passwd(a, PW, "brand-new-pw-1"), "pia",
                              "passwd with the right current password while locked")
        # One budget: the failed passwds lock pia's logins as well.
        self.refused(self.login("pia", PW), "RESOURCE_EXHAUSTED",
                     "login right after the failed passwds",
                     in_message="too many failed logins for pia; try again in ")
        self.ok(a.run("whoami"), "the session stays: a refusal is not a logout")
        time.sleep(2.3)
        # After the backoff the right current password is checked again,
        # and it is still the old one: the throttled passwd changed nothing.
        self.ok(self.passwd(a, PW, "brand-new-pw-1"), "passwd after the backoff")
        self.refused(self.login("pia", PW), "UNAUTHENTICATED", rc=4,
                     what="the old password after the change")
        self.ok(self.login("pia", "brand-new-pw-1"), "the new password")

    def test_passwd_and_login_share_one_count(self):
        a = self.session("quinn")
        # 2 failed logins + 1 wrong current password = 3 failures of quinn
        for i in range(2):
            self.refused(self.login("quinn", WRONG), "UNAUTHENTICATED", rc=4,
                         what="wrong login %d" % (i + 1))
        self.wrong_passwd(a, "wrong current password after 2 failed logins")
        self.refused(self.login("quinn", PW), "RESOURCE_EXHAUSTED",
                     "login right after the failed passwd",
                     in_message="too many failed logins for quinn; try again in ")
        self.throttled_passwd(self.passwd(a, PW, "brand-new-pw-2"), "quinn",
                              "passwd while quinn is locked")
        time.sleep(1.3)
        # unchanged: the old password logs in (and clears quinn's count) ...
        self.ok(self.login("quinn", PW), "the old password after the backoff")
        # ... so does a right current password: two wrong ones lock nothing
        self.wrong_passwd(a, "wrong current password after the reset 1")
        self.wrong_passwd(a, "wrong current password after the reset 2")
        self.ok(self.passwd(a, PW, "brand-new-pw-2"), "passwd with the right one")
        self.wrong_passwd(a, "wrong current password after passwd cleared the name 1")
        self.wrong_passwd(a, "wrong current password after passwd cleared the name 2")
        self.ok(self.login("quinn", "brand-new-pw-2"),
                "a right passwd cleared the count: 2 more failures lock nothing")


if __name__ == "__main__":
    unittest.main()
