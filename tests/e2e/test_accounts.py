# SPDX-License-Identifier: MIT
"""Accounts and per-course roles end to end, through the real CLIs against
a real lmsd: a teaching assistant (enroll --as ta) grades and answers
questions in the course they assist in and nowhere else, and changes none
of its settings; a student may assist in one course and study in another."""

import os
import time
import unittest

import lmstest
from lmstest import E2ETestCase, World, iso


class TeachingAssistantTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(name="accounts-ta")
        cls.w = World(cls.node)
        w = cls.w
        # stud3 (a student of MA201) assists in CS101; teach2 (who teaches
        # MA201) assists in CS101 too
        w.enroll("CS101", "stud3", "ta")
        w.enroll("CS101", "teach2", "ta")
        cls.hw = w.create_assignment(title="TA HW")["id"]
        path = os.path.join(cls.node.dir, "answer.txt")
        with open(path, "wb") as f:
            f.write(b"stud1's answer\n")
        cls.sub = w["stud1"].run("submit", str(cls.hw), path, json=True).json["id"]
        cls.ta = w.login("lms-instructor", "stud3")

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def test_enrolment_roles(self):
        doc = self.ok(self.w["stud3"].run("courses", json=True))
        roles = {c["code"]: c["my_role"] for c in doc["courses"]}
        self.assertEqualMsg(roles, {"CS101": "ta", "MA201": "student"}, "stud3's courses")
        # an admin cannot assist; a role that does not exist is refused
        self.refused(self.w.admin.run("enroll", "CS101", lmstest.ADMIN, "--as", "ta"),
                     "FAILED_PRECONDITION", in_message="is an admin and cannot be enrolled")

    def test_student_ta_logs_in_to_lms_instructor(self):
        # a student who assists nowhere still cannot
        c = self.node.cli("lms-instructor")
        self.refused(c.login("stud2", World.PW, json=True), "PERMISSION_DENIED")
        self.ok(self.ta.run("whoami"))
        res = self.ok(self.node.cli("lms-instructor").login("stud3", World.PW))
        self.assertIn("logged in as stud3 (student; a teaching assistant of some course)",
                      res.out)

    def test_ta_grades_in_their_course(self):
        doc = self.ok(self.ta.run("submissions", "--assignment", str(self.hw), json=True))
        self.assertIn(self.sub, [s["id"] for s in doc["submissions"]])
        self.ok(self.ta.run("fetch", str(self.sub), "--output",
                            os.path.join(self.node.dir, "fetched-by-ta.txt")))
        self.ok(self.ta.run("grade", str(self.sub), "--grade", "77", "--feedback", "ok"))
        doc = self.ok(self.w["stud1"].run("grades", "--course", "CS101", json=True))
        got = [g["grade"] for g in doc["grades"] if g["submission_id"] == self.sub]
        self.assertEqualMsg(got, [77], "the grade the TA gave, as the student sees it")
        # as a student of MA201, stud3 still sees only their own grades there
        doc = self.ok(self.w["stud3"].run("grades", "--course", "MA201", json=True))
        self.assertEqualMsg(doc.get("grades", []), [], "stud3's own grades in MA201")

    def test_ta_sees_no_standing_of_their_own(self):
        # stud3 takes MA201 as a student and assists in CS101
        doc = self.ok(self.w["stud3"].run("assignments", json=True))
        mine = {a["course"]: a.get("as_student", False) for a in doc["assignments"]}
        self.assertEqualMsg(mine.get("CS101"), False, "no standing in the course they assist in")
        res = self.ok(self.ta.run("assignment", str(self.hw)))
        self.assertNotIn("you used", res.out)
        self.assertNotIn("submitted:", res.out)
        res = self.ok(self.w["stud1"].run("assignment", str(self.hw)))
        self.assertIn("submitted:    yes", res.out)

    def test_ta_changes_no_course_settings(self):
        t = self.ta
        self.refused(t.run("create-assignment", "--course", "CS101", "--title", "x",
                           "--due", iso(time.time() + 86400)),
                     "PERMISSION_DENIED")
        self.refused(t.run("release", "--assignment", str(self.hw)), "PERMISSION_DENIED")
        self.refused(t.run("extend", "--assignment", str(self.hw), "--student", "stud2",
                           "--until", iso(time.time() + 30 * 86400)), "PERMISSION_DENIED")
        self.refused(t.run("export-grades", "--course", "CS101"), "PERMISSION_DENIED")
        path = os.path.join(self.node.dir, "notes.txt")
        with open(path, "w") as f:
            f.write("notes\n")
        self.refused(t.run("upload", "--course", "CS101", "--title", "n", path),
                     "PERMISSION_DENIED")

    def test_ta_grades_nowhere_else(self):
        # stud3 studies MA201: a submission there is not theirs to grade
        hw2 = self.w.create_assignment(teacher="teach2", course="MA201", title="MA HW")["id"]
        path = os.path.join(self.node.dir, "ma.txt")
        with open(path, "wb") as f:
            f.write(b"stud3's own answer\n")
        own = self.ok(self.w["stud3"].run("submit", str(hw2), path, json=True))["id"]
        self.refused(self.ta.run("grade", str(own), "--grade", "100"), "PERMISSION_DENIED",
                     in_message="only the instructors and teaching assistants")
        # and a plain student of CS101 may not grade there (lms-instructor
        # on stud2's session: the server decides, not the program)
        as_stud2 = self.node.cli("lms-instructor", home=self.w["stud2"].home)
        self.refused(as_stud2.run("grade", str(self.sub), "--grade", "1"),
                     "PERMISSION_DENIED")
        doc = self.ok(self.w["stud3"].run("grades", "--course", "MA201", json=True))
        self.assertEqualMsg([g for g in doc.get("grades", []) if g["submission_id"] == own],
                            [], "no grade stored for the refused attempt")

    def test_ta_answers_questions(self):
        q = self.ok(self.w["stud2"].run("ask", "--course", "CS101", "--instructor",
                                        "Is the deadline strict?", json=True))["id"]
        doc = self.ok(self.ta.run("queries", "--course", "CS101", json=True))
        self.assertIn(q, [x["id"] for x in doc["queries"]])
        self.ok(self.ta.run("reply", str(q), "--share", "Yes, it is."))
        doc = self.ok(self.w["stud1"].run("faq", "--course", "CS101", json=True))
        shared = [x for x in doc["queries"] if x["id"] == q]
        self.assertEqualMsg(len(shared), 1, "the question the TA shared, seen by the course")
        self.assertEqualMsg([r["author"] for r in shared[0]["replies"]], ["stud3"],
                            "the TA's reply is part of the shared answer")


class AccountsTest(E2ETestCase):
    """passwd, reset-password (a one-time password), disable-user and
    enable-user, and import-users --must-change-password."""

    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(name="accounts")
        cls.w = World(cls.node)
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def new_student(self):
        AccountsTest.n += 1
        name = "acct%d" % self.n
        self.w.add_user(name, "student")
        self.w.enroll("CS101", name, "student")
        return name

    def login(self, name, pw=World.PW, prog="lms-student"):
        c = self.node.cli(prog)
        return c, c.login(name, pw, json=True)

    def passwd(self, cli, old, new):
        return cli.run("passwd", "--password-stdin", input="%s\n%s\n" % (old, new), json=True)

    def test_passwd_keeps_this_session_and_ends_the_others(self):
        name = self.new_student()
        a, res = self.login(name)
        self.ok(res)
        b, res = self.login(name)
        self.ok(res)
        self.ok(self.passwd(a, World.PW, "brand-new-pw-1"))
        self.ok(a.run("whoami"), "the session that changed it stays")
        self.refused(b.run("assignments", json=True), "UNAUTHENTICATED",
                     rc=4)
        self.refused(self.login(name)[1], "UNAUTHENTICATED", rc=4)
        self.ok(self.login(name, "brand-new-pw-1")[1])

    def test_passwd_refusals_change_nothing(self):
        name = self.new_student()
        a, res = self.login(name)
        self.ok(res)
        self.refused(self.passwd(a, "not-the-password", "another-pw-2"), "PERMISSION_DENIED",
                     in_message="the current password is wrong")
        self.refused(self.passwd(a, World.PW, "short"), "INVALID_ARGUMENT",
                     in_message="too short")
        self.refused(self.passwd(a, World.PW, World.PW), "INVALID_ARGUMENT",
                     in_message="is the current one")
        self.ok(self.login(name)[1], "the old password still works")

    def test_reset_password_is_one_time(self):
        name = self.new_student()
        old, res = self.login(name)
        self.ok(res)
        admin = self.w.admin
        self.ok(admin.run("reset-password", name, "--password-stdin", input="temp-pass-123\n"))
        self.refused(old.run("assignments", json=True), "UNAUTHENTICATED", rc=4)
        doc = self.ok(admin.run("users", json=True))
        me = [u for u in doc["users"] if u["name"] == name][0]
        self.assertEqualMsg(me.get("must_change_password"), True, "users shows the one-time password")
        c, res = self.login(name, "temp-pass-123")
        doc = self.ok(res)
        self.assertEqualMsg(doc.get("must_change_password"), True, "login says so")
        # every request but passwd, whoami and logout waits for the change
        self.refused(c.run("assignments", json=True), "FAILED_PRECONDITION",
                     in_message="change it first")
        self.ok(c.run("whoami"))
        self.ok(self.passwd(c, "temp-pass-123", "my-own-pw-456"))
        self.ok(c.run("assignments"))
        doc = self.ok(admin.run("users", json=True))
        me = [u for u in doc["users"] if u["name"] == name][0]
        self.assertEqualMsg(me.get("must_change_password", False), False, "changed now")
        # only admins reset passwords
        self.refused(lmstest.Cli(self.node, "lms-admin", home=c.home).run(
            "reset-password", "stud2", "--password-stdin", input="temp-pass-123\n", json=True),
            "PERMISSION_DENIED")

    def test_disable_and_enable(self):
        name = self.new_student()
        c, res = self.login(name)
        self.ok(res)
        hw = self.w.create_assignment(title="work of %s" % name)["id"]
        path = os.path.join(self.node.dir, "%s.txt" % name)
        with open(path, "wb") as f:
            f.write(b"my work\n")
        sub = self.ok(c.run("submit", str(hw), path, json=True))["id"]
        admin = self.w.admin
        self.ok(admin.run("disable-user", name))
        self.refused(c.run("assignments", json=True), "UNAUTHENTICATED", rc=4)
        self.refused(self.login(name)[1], "PERMISSION_DENIED", in_message="is disabled")
        # a wrong password does not tell that the account is disabled
        self.refused(self.login(name, "wrong-password-9")[1], "UNAUTHENTICATED", rc=4)
        doc = self.ok(admin.run("users", json=True))
        me = [u for u in doc["users"] if u["name"] == name][0]
        self.assertEqualMsg(me.get("disabled"), True, "users shows it disabled")
        # their work stays
        doc = self.ok(self.w["teach1"].run("submissions", "--assignment", str(hw), json=True))
        self.assertIn(sub, [s["id"] for s in doc["submissions"]])
        self.ok(admin.run("disable-user", name), "disabling twice is fine")
        self.ok(admin.run("enable-user", name))
        self.ok(self.login(name)[1])
        # an admin cannot disable themselves; others cannot disable anyone
        self.refused(admin.run("disable-user", lmstest.ADMIN, json=True), "FAILED_PRECONDITION",
                     in_message="your own account")
        self.refused(lmstest.Cli(self.node, "lms-admin", home=self.w["teach1"].home).run(
            "disable-user", "stud2", json=True), "PERMISSION_DENIED")
        self.refused(admin.run("disable-user", "nobody-here", json=True), "NOT_FOUND")

    def test_import_with_one_time_passwords(self):
        csv = os.path.join(self.node.dir, "onetime.csv")
        with open(csv, "w") as f:
            f.write("name,role,full_name,password\nimp1,student,Imp One,first-pass-1\n")
        self.ok(self.w.admin.run("import-users", csv, "--must-change-password"))
        c, res = self.login("imp1", "first-pass-1")
        self.assertEqualMsg(self.ok(res).get("must_change_password"), True, "imported: one-time")
        self.refused(c.run("courses", json=True), "FAILED_PRECONDITION")


if __name__ == "__main__":
    unittest.main()
