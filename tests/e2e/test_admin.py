# SPDX-License-Identifier: MIT
"""lms-admin end to end: every subcommand of the issue through the real CLI
against a real lmsd (users, bulk import with its per-row report, courses,
enrolment), plus lmsd --init-admin."""

import os
import unittest

import lmstest
from lmstest import ADMIN, ADMIN_PW, E2ETestCase

PROG = "lms-admin"
COMMANDS = ["login", "logout", "whoami", "add-user", "import-users", "users",
            "create-course", "courses", "enroll"]
PW = "password-123"


class AdminTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(name="admin")
        cls.a = cls.node.cli(PROG)
        res = cls.a.login(ADMIN, ADMIN_PW)
        assert res.rc == 0, repr(res)

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def users(self):
        doc = self.ok(self.a.run("users", json=True), "users --json")
        return {u["name"]: u for u in doc["users"]}

    def add(self, name, role, pw=PW, *extra, json=False):
        return self.a.run("add-user", name, "--role", role, "--password-stdin", *extra,
                          input=pw + "\n", json=json)

    def can_login(self, prog, name, pw):
        return self.node.cli(prog).login(name, pw).rc == 0

    # ---- session -----------------------------------------------------------

    def test_login_whoami_logout(self):
        c = self.node.cli(PROG)
        res = self.ok(c.login(ADMIN, ADMIN_PW), "admin login")
        self.assertIn("logged in as %s (admin)" % ADMIN, res.out)
        doc = self.ok(c.run("whoami", json=True))
        self.assertEqualMsg((doc["user"]["name"], doc["user"]["role"]), (ADMIN, "admin"), "whoami")
        self.ok(c.run("logout", json=True), "logout --json")
        self.assertRc(c.run("users"), 4, "users after logout")
        self.refused(c.login(ADMIN, "not-the-password", json=True), "UNAUTHENTICATED",
                     "admin login with a wrong password", rc=4)

    def test_init_admin_only_on_empty_state(self):
        # while the node runs, its data dir is locked
        p = self.node.run_lmsd("--config", self.node.config_path, "--init-admin", "second",
                               input=b"another-pass-1\n")
        self.assertNotEqual(p.returncode, 0, "--init-admin next to a running lmsd must fail")
        self.assertIn(b"another lmsd", p.stderr, "the refusal names the reason: %r" % p.stderr)
        self.node.stop()
        try:
            p = self.node.run_lmsd("--config", self.node.config_path, "--init-admin", "second",
                                   input=b"another-pass-1\n")
        finally:
            self.node.start()
        self.assertNotEqual(p.returncode, 0, "--init-admin on a state with users must fail")
        self.assertIn(b"already", p.stderr, "--init-admin refusal names the reason: %r" % p.stderr)
        self.assertNotIn("second", self.users(), "--init-admin on a non-empty state created a user")
        # a fresh node: a too-short password is refused, a good one works
        n = lmstest.Node(name="initadmin")
        try:
            p = n.run_lmsd("--config", n.config_path, "--init-admin", "boss", input=b"short\n")
            self.assertNotEqual(p.returncode, 0, "--init-admin with a 5-character password")
            n.init_admin("boss", "long-enough-1")
            n.start()
            c = n.cli(PROG)
            self.ok(c.login("boss", "long-enough-1"), "log in as the first admin")
            doc = self.ok(c.run("users", json=True))
            self.assertEqualMsg([(u["name"], u["role"]) for u in doc["users"]], [("boss", "admin")],
                                "users of a fresh node")
        finally:
            n.cleanup()

    # ---- users ---------------------------------------------------------------

    def test_add_user_and_users(self):
        res = self.ok(self.add("alice", "student", PW, "--full-name", "Alice Liddell"), "add-user")
        self.assertIn("created user alice (student)", res.out)
        doc = self.ok(self.add("ivan", "instructor", PW, json=True), "add-user --json")
        self.assertEqualMsg((doc.get("name"), doc.get("role")), ("ivan", "instructor"), "add-user --json")
        self.ok(self.add("adm2", "admin", PW))
        us = self.users()
        self.assertEqualMsg((us["alice"]["role"], us["alice"]["full_name"]), ("student", "Alice Liddell"),
                            "alice (role, full name)")
        self.assertEqualMsg(us["ivan"]["role"], "instructor", "ivan's role")
        self.assertEqualMsg(us["adm2"]["role"], "admin", "adm2's role")
        self.assertEqualMsg(us[ADMIN]["role"], "admin", "the first admin")
        res = self.ok(self.a.run("users"), "users")
        for want in ("alice", "Alice Liddell", "ivan", "instructor"):
            self.assertIn(want, res.out)
        self.assertTrue(self.can_login("lms-student", "alice", PW), "alice can log in")
        self.assertTrue(self.can_login("lms-admin", "adm2", PW), "adm2 can log in")
        self.assertFalse(self.can_login("lms-student", "alice", "wrong-pass"), "wrong password")

        before = self.users()
        self.refused(self.add("alice", "student", json=True), "ALREADY_EXISTS", "duplicate user")
        self.refused(self.add("bad name", "student", json=True), "INVALID_ARGUMENT", "name with a space")
        self.refused(self.add("x" * 65, "student", json=True), "INVALID_ARGUMENT", "name of 65 bytes")
        self.refused(self.add("shorty", "student", "short", json=True), "INVALID_ARGUMENT",
                     "password of 5 characters", in_message="password")
        self.assertRc(self.add("roley", "teacher"), 2, "a role that does not exist")
        self.assertRc(self.a.run("add-user", "norole", "--password-stdin", input=PW + "\n"), 2,
                      "add-user without --role")
        self.assertRc(self.a.run("add-user", "nopw", "--role", "student"), 2,
                      "add-user without a terminal and without --password-stdin")
        self.assertEqualMsg(self.users(), before, "users after the refused add-user calls")

        # on a terminal: asked twice, without echo
        rc, shown = self.a.run_tty("add-user", "ttyuser", "--role", "student",
                                   answers=["tty-secret-1", "tty-secret-2"])
        self.assertEqualMsg(rc, 2, "add-user with two different passwords typed (shown %r)" % shown)
        self.assertNotIn("ttyuser", self.users(), "a mismatched password created the user")
        rc, shown = self.a.run_tty("add-user", "ttyuser", "--role", "student",
                                   answers=["tty-secret-1", "tty-secret-1"])
        self.assertEqualMsg(rc, 0, "add-user with the password typed twice (shown %r)" % shown)
        self.assertNotIn("tty-secret-1", shown, "the password must not be echoed")
        self.assertTrue(self.can_login("lms-student", "ttyuser", "tty-secret-1"), "ttyuser logs in")

    def test_import_users(self):
        path = os.path.join(self.node.dir, "users.csv")
        self.ok(self.add("existing", "student"))
        rows = [
            "name,role,full_name,password",               # 1 header
            "imp1,student,Imp One,password-1",            # 2 ok
            "imp2,instructor,\"Doe, Jane \"\"JD\"\"\",password-2",  # 3 ok, quoted
            "existing,student,Already There,password-3",  # 4 already exists
            "imp3,wizard,Bad Role,password-4",            # 5 bad role
            "imp4,student,Short,short",                   # 6 short password
            "imp1,student,Twice,password-5",              # 7 duplicate within the file
            "imp5,student",                               # 8 too few fields
            "imp6, admin ,Spaces Around,password-6",      # 9 ok (role trimmed)
        ]
        with open(path, "w") as f:
            f.write("\r\n".join(rows) + "\r\n")
        res = self.a.run("import-users", path, json=True)
        self.assertRc(res, 1, "import-users with failed rows")
        doc = res.json
        self.assertIsNotNone(doc, "import-users --json document: %r" % res)
        got = {r["line"]: (r["name"], r["status"]) for r in doc["results"]}
        want = {
            2: ("imp1", "OK"),
            3: ("imp2", "OK"),
            4: ("existing", "ALREADY_EXISTS"),
            5: ("imp3", "INVALID_ARGUMENT"),
            6: ("imp4", "INVALID_ARGUMENT"),
            7: ("imp1", "ALREADY_EXISTS"),
            8: ("imp5", "INVALID_ARGUMENT"),
            9: ("imp6", "OK"),
        }
        self.assertEqualMsg(got, want, "per-row report {line: (name, status)}")
        self.assertEqualMsg([r["line"] for r in doc["results"]], sorted(want), "report ordered by line")
        self.assertEqualMsg((doc["created"], doc["total"]), (3, 8), "import (created, total)")
        us = self.users()
        self.assertEqualMsg((us["imp1"]["role"], us["imp1"]["full_name"]), ("student", "Imp One"), "imp1")
        self.assertEqualMsg((us["imp2"]["role"], us["imp2"]["full_name"]),
                            ("instructor", 'Doe, Jane "JD"'), "imp2 (quoted field)")
        self.assertEqualMsg(us["imp6"]["role"], "admin", "imp6")
        self.assertEqualMsg(us["existing"]["full_name"], "", "an existing user is left alone")
        for name in ("imp3", "imp4", "imp5"):
            self.assertNotIn(name, us, "%s must not have been created" % name)
        self.assertTrue(self.can_login("lms-instructor", "imp2", "password-2"), "imp2 logs in")
        self.assertTrue(self.can_login("lms-student", "imp1", "password-1"),
                        "imp1 logs in with the password of its first row")

        # the human report, and again: now every row fails
        res = self.a.run("import-users", path)
        self.assertRc(res, 1, "import-users again")
        self.assertIn("created 0 of 8 users", res.out)
        self.assertRegex(res.out, r"(?m)^5\s+imp3\s+INVALID_ARGUMENT")
        self.assertRegex(res.out, r"(?m)^4\s+existing\s+ALREADY_EXISTS")
        self.assertIn("8 of 8 users not created", res.err)

        # all good: exit 0
        with open(path, "w") as f:
            f.write("good1,student,Good One,password-1\ngood2,student,,password-2\n")
        res = self.a.run("import-users", path)
        self.assertRc(res, 0, "import-users with only good rows (no header)")
        self.assertIn("created 2 of 2 users", res.out)
        self.assertTrue({"good1", "good2"} <= set(self.users()))
        self.refused(self.a.run("import-users", path + ".missing", json=True), "NOT_FOUND",
                     "import of a file that does not exist")

    # ---- courses and enrolment -----------------------------------------------

    def test_courses_and_enroll(self):
        res = self.ok(self.a.run("create-course", "PH100", "--title", "Physics"), "create-course")
        self.assertIn("created course PH100: Physics", res.out)
        doc = self.ok(self.a.run("create-course", "PH200", "--title", "More physics", json=True))
        self.assertEqualMsg((doc.get("code"), doc.get("title")), ("PH200", "More physics"),
                            "create-course --json")
        doc = self.ok(self.a.run("courses", json=True), "courses --json")
        got = {c["code"]: c["title"] for c in doc["courses"]}
        self.assertEqualMsg((got.get("PH100"), got.get("PH200")), ("Physics", "More physics"), "courses")
        self.assertIn("PH100", self.ok(self.a.run("courses")).out)
        self.refused(self.a.run("create-course", "PH100", "--title", "Again", json=True), "ALREADY_EXISTS",
                     "duplicate course")
        self.assertRc(self.a.run("create-course", "PH300"), 2, "create-course without --title")

        self.ok(self.add("phs", "student"))
        self.ok(self.add("phi", "instructor"))
        res = self.ok(self.a.run("enroll", "PH100", "phs", "--as", "student"), "enroll student")
        self.assertIn("enrolled phs in PH100 as student", res.out)
        self.ok(self.a.run("enroll", "PH100", "phi", "--as", "instructor", json=True), "enroll instructor")
        s = self.node.cli("lms-student")
        self.ok(s.login("phs", PW))
        doc = self.ok(s.run("courses", json=True))
        self.assertEqualMsg([(c["code"], c["my_role"]) for c in doc["courses"]], [("PH100", "student")],
                            "phs's courses after enrolment")
        i = self.node.cli("lms-instructor")
        self.ok(i.login("phi", PW))
        doc = self.ok(i.run("courses", json=True))
        self.assertEqualMsg([(c["code"], c["my_role"]) for c in doc["courses"]], [("PH100", "instructor")],
                            "phi's courses after enrolment")

        self.refused(self.a.run("enroll", "PH100", ADMIN, "--as", "student", json=True),
                     "FAILED_PRECONDITION", "enrol an admin")
        self.refused(self.a.run("enroll", "PH200", "phs", "--as", "instructor", json=True),
                     "FAILED_PRECONDITION", "a student as instructor")
        self.refused(self.a.run("enroll", "PH200", "phi", "--as", "student", json=True),
                     "FAILED_PRECONDITION", "an instructor as student")
        self.refused(self.a.run("enroll", "PH200", "ghost", "--as", "student", json=True),
                     "NOT_FOUND", "an unknown user")
        self.refused(self.a.run("enroll", "NOPE", "phs", "--as", "student", json=True),
                     "NOT_FOUND", "an unknown course")
        self.assertRc(self.a.run("enroll", "PH200", "phs", "--as", "tutor"), 2,
                      "enroll --as tutor (no such role)")
        self.assertRc(self.a.run("enroll", "PH200", "phs"), 2, "enroll without --as")
        doc = self.ok(s.run("courses", json=True))
        self.assertEqualMsg([c["code"] for c in doc["courses"]], ["PH100"],
                            "phs's courses after the refused enrolments")

    # ---- the CLI contract ---------------------------------------------------

    def test_help_version_usage(self):
        c = self.node.cli(PROG)
        for cmd in COMMANDS:
            res = c.run(cmd, "--help")
            self.assertRc(res, 0, "%s --help" % cmd)
            self.assertIn("usage: %s %s" % (PROG, cmd), res.out, "%s --help prints its usage" % cmd)
        res = c.run("help", "enroll")
        self.assertRc(res, 0, "help enroll")
        res = c.run("--help")
        self.assertRc(res, 0, "--help")
        for cmd in COMMANDS:
            self.assertIn(cmd, res.out, "--help lists %s" % cmd)
        res = c.run("--version")
        self.assertRc(res, 0, "--version")
        self.assertRegex(res.out, r"^%s \d+\.\d+\.\d+" % PROG)
        self.assertRc(c.run("frobnicate"), 2, "unknown subcommand")
        self.assertRc(c.run("users", "--bogus"), 2, "unknown option")
        self.assertRc(c.run("users", "extra-operand"), 2, "an operand too many")
        self.assertRc(self.a.run("-s", "127.0.0.1:notaport", "users"), 2, "a malformed server list")


if __name__ == "__main__":
    unittest.main()
