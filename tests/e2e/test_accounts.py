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


if __name__ == "__main__":
    unittest.main()
