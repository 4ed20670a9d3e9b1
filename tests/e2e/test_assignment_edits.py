# SPDX-License-Identifier: MIT
"""Correcting assignments, end to end through the real CLIs against a
3-node cluster: edit-assignment (only the options given change; lateness follows the
due time as it is now; points never fall below a grade given; fewer
attempts or a smaller size keep what was handed in; every change recorded),
hide-assignment / unhide-assignment (students neither see nor submit; their
grades stay), delete-assignment (only without submissions; then gone
everywhere) and the late policy (--late-penalty: grades, export-grades).

Times: submissions are stamped with the server's clock, so a late one is
made by giving a due time in the past; 2.5 days ago is 3 started days late
for as long as this test can run.
"""

import csv
import io
import os
import time
import unittest

import lmstest
from lmstest import E2ETestCase, World, iso

DAY = 86400


class AssignmentEditsTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.Cluster(3, name="asgedit")
        try:
            cls.node.start()
            w = cls.w = World(cls.node)
            w.add_user("ta1", "student")
            w.enroll("CS101", "ta1", "ta")
            w.clis["ta1"] = w.login("lms-instructor", "ta1")
        except BaseException:
            cls.node.cleanup()
            raise
        cls.files = os.path.join(cls.node.dir, "files")
        os.makedirs(cls.files)
        cls.file = cls.write("work.txt", b"x" * 100)
        cls.small = cls.write("small.txt", b"tiny\n")

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    @classmethod
    def write(cls, name, data):
        path = os.path.join(cls.files, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    # ---- helpers ----------------------------------------------------------

    def as_student_cli(self, who):
        """who's session through lms-student (grades and the admin's lists
        live there; the session file is shared)."""
        home = self.w.admin.home if who == "admin" else self.w[who].home
        return lmstest.Cli(self.node, "lms-student", home=home)

    def teach(self, *args, who="teach1"):
        return self.w[who].run(*[str(a) for a in args], json=True)

    def listed(self, who, aid):
        """The assignment as who's `assignments --json` shows it, or None."""
        doc = self.ok(self.w[who].run("assignments", "--course", "CS101", json=True),
                      "assignments as %s" % who)
        got = [a for a in doc["assignments"] if a["id"] == aid]
        return got[0] if got else None

    def submissions(self, aid):
        return self.ok(self.teach("submissions", "--assignment", aid),
                       "submissions of %d" % aid)["submissions"]

    def export(self):
        res = self.ok(self.w["teach1"].run("export-grades", "--course", "CS101"), "export-grades")
        rows = list(csv.reader(io.StringIO(res.out, newline="")))
        return rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]

    def export_row(self, student, aid):
        _, recs = self.export()
        got = [r for r in recs if r["student"] == student and int(r["assignment_id"]) == aid]
        return got[0] if got else None

    def unchanged(self, aid, before, what):
        self.assertEqualMsg(self.listed("teach1", aid), before, "%s changed nothing" % what)

    # ---- edit-assignment -----------------------------------------------------

    def test_edit_changes_only_the_options_given_and_records_who_and_when(self):
        a = self.w.create_assignment(title="Essay", extra=["--description", "Write 500 words.",
                                                           "--max-points", "20", "--max-attempts", "2",
                                                           "--cutoff", iso(time.time() + 8 * DAY)])
        res = self.ok(self.w["teach1"].run("edit-assignment", str(a["id"]), "--title", "Long essay"),
                      "edit --title")
        self.assertIn("assignment %d is now: Long essay (due " % a["id"], res.out)
        got = self.listed("teach1", a["id"])
        for k in ("description", "due", "cutoff", "max_points", "max_attempts", "max_size"):
            self.assertEqualMsg(got[k], a[k], "%s after editing only the title" % k)
        self.assertEqualMsg(got["title"], "Long essay", "title after the edit")
        self.assertEqualMsg((got["edited_by"], got["edit_count"]), ("teach1", 1), "who edited")
        self.assertEqualMsg([(e["by"], e["changed"]) for e in got["edits"]],
                            [("teach1", "title")], "the edit's record")
        self.assertTrue(got["edited"], "when it was edited")

        doc = self.ok(self.teach("edit-assignment", a["id"], "--due", iso(time.time() + 9 * DAY),
                                 "--no-cutoff", "--max-points", "25", "--description", "Write more."),
                      "edit several")
        self.assertEqualMsg((doc["cutoff"], doc["max_points"], doc["description"], doc["title"]),
                            (None, 25.0, "Write more.", "Long essay"), "after the second edit")
        self.assertEqualMsg([e["changed"] for e in doc["edits"]],
                            ["title", "description, due, cutoff, max-points"], "edit history")
        # the same value again changes nothing and records nothing
        self.ok(self.teach("edit-assignment", a["id"], "--max-points", "25"), "edit to the same value")
        self.assertEqualMsg(self.listed("teach1", a["id"])["edit_count"], 2, "no-op edit not counted")
        # a student sees the assignment as it is, without who edited it
        st = self.listed("stud1", a["id"])
        self.assertEqualMsg((st["title"], st["max_points"], st["edited_by"], st["edits"]),
                            ("Long essay", 25.0, "", []), "the student's view")
        # assignment ID shows the changes: when to everyone, who and what to staff
        text = self.ok(self.w["teach1"].run("assignment", str(a["id"])), "assignment ID").out
        self.assertRegex(text, r"edited: +\S+Z by teach1 \(2 changes\)")
        self.assertRegex(text, r"\n  \S+Z by teach1: title\n  \S+Z by teach1: description, due, "
                               r"cutoff, max-points\n")
        self.assertNotIn("late penalty", text, "no policy, no line")
        text = self.ok(self.w["stud1"].run("assignment", str(a["id"])), "the student's").out
        self.assertRegex(text, r"edited: +\S+Z\n")
        self.assertNotIn("teach1", text, "a student is not told who edited it")
        doc = self.ok(self.w["ta1"].run("assignment", str(a["id"]), json=True), "the TA's")
        self.assertEqualMsg((doc["edited_by"], doc["edit_count"]), ("teach1", 2), "a TA sees who")

    def test_edit_refusals_change_nothing(self):
        a = self.w.create_assignment(title="Refusals")
        aid = a["id"]
        before = self.listed("teach1", aid)
        for args, status, words in [
            ([], "INVALID_ARGUMENT", "nothing to change"),
            (["--late-penalty", "101"], "INVALID_ARGUMENT", "the late penalty must be 0 to 100"),
            (["--cutoff", iso(time.time())], "INVALID_ARGUMENT", "the cut-off"),
            (["--max-points", "0"], "INVALID_ARGUMENT", "maximum points must be a number above 0"),
            (["--title", ""], "INVALID_ARGUMENT", "the title is empty"),
            (["--max-size", "0"], "INVALID_ARGUMENT", "the maximum file size must be at least 1 byte"),
        ]:
            self.refused(self.teach("edit-assignment", aid, *args), status,
                         "edit %r" % args, in_message="assignment %d: %s" % (aid, words))
            self.unchanged(aid, before, "edit %r" % args)
        self.assertRc(self.w["teach1"].run("edit-assignment", str(aid), "--cutoff", iso(time.time()),
                                           "--no-cutoff"), 2, "--cutoff with --no-cutoff")
        self.refused(self.teach("edit-assignment", 999999, "--title", "x"), "NOT_FOUND",
                     in_message="assignment 999999 does not exist")
        # teach2 teaches another course; ta1, a student who assists in CS101,
        # changes none of its settings
        for who, words in [("teach2", "only the instructors of course CS101 may edit its "
                                      "assignments"),
                           ("ta1", "only instructors may do this")]:
            self.refused(self.teach("edit-assignment", aid, "--title", "mine", who=who),
                         "PERMISSION_DENIED", "edit as %s" % who, in_message=words)
        # a student with lms-instructor: the server refuses, not the CLI
        stud = lmstest.Cli(self.node, "lms-instructor", home=self.w["stud1"].home)
        self.refused(stud.run("edit-assignment", str(aid), "--title", "x", json=True),
                     "PERMISSION_DENIED", "a student's edit")
        self.unchanged(aid, before, "the refused edits")

    def test_moving_the_due_time_judges_lateness_again(self):
        a = self.w.create_assignment(title="Moved", due=time.time() - 3600)
        aid = a["id"]
        s = self.ok(self.w["stud1"].run("submit", str(aid), self.file, json=True), "late submission")
        self.assertIs(s["late"], True, "late by the first due time")
        self.ok(self.teach("grade", s["id"], "--grade", "50"))
        self.ok(self.teach("edit-assignment", aid, "--due", iso(time.time() + DAY)), "due moved later")
        self.assertEqualMsg([x["late"] for x in self.submissions(aid)], [False],
                            "on time by the due time as it is now")
        mine = self.ok(self.w["stud1"].run("submissions", "--assignment", str(aid), json=True))
        self.assertEqualMsg([x["late"] for x in mine["submissions"]], [False], "the student's view")
        self.assertEqualMsg(self.export_row("stud1", aid)["late"], "no", "export: not late")
        self.ok(self.teach("edit-assignment", aid, "--due", iso(time.time() - 2 * 3600)), "due earlier")
        self.assertEqualMsg([x["late"] for x in self.submissions(aid)], [True], "late again")
        self.assertEqualMsg(self.export_row("stud1", aid)["late"], "yes", "export: late again")

    def test_points_never_fall_below_a_grade_given(self):
        a = self.w.create_assignment(title="Points")
        aid = a["id"]
        s1 = self.ok(self.w["stud1"].run("submit", str(aid), self.file, json=True))
        s2 = self.ok(self.w["stud2"].run("submit", str(aid), self.file, json=True))
        self.ok(self.teach("grade", s1["id"], "--grade", "80"))
        self.ok(self.teach("grade", s2["id"], "--grade", "60"))
        before = self.listed("teach1", aid)
        self.refused(self.teach("edit-assignment", aid, "--max-points", "50"), "FAILED_PRECONDITION",
                     "points below two grades",
                     in_message="assignment %d: 2 grades are above 50 points; regrade them first" % aid)
        self.refused(self.teach("edit-assignment", aid, "--max-points", "70"), "FAILED_PRECONDITION",
                     "points below one grade", in_message="1 grade is above 70 points; regrade it first")
        self.unchanged(aid, before, "the refused max-points")
        self.ok(self.teach("grade", s1["id"], "--grade", "70"), "regrade")
        doc = self.ok(self.teach("edit-assignment", aid, "--max-points", "70"), "points at the top grade")
        self.assertEqualMsg(doc["max_points"], 70.0, "max_points after the edit")

    def test_fewer_attempts_and_a_smaller_size_keep_what_was_handed_in(self):
        a = self.w.create_assignment(title="Attempts", extra=["--max-attempts", "3"])
        aid = a["id"]
        for _ in range(2):
            self.ok(self.w["stud1"].run("submit", str(aid), self.file, json=True))
        self.ok(self.teach("edit-assignment", aid, "--max-attempts", "1", "--max-size", "10"))
        self.assertEqualMsg(len(self.submissions(aid)), 2, "both attempts kept")
        self.refused(self.w["stud1"].run("submit", str(aid), self.small, json=True),
                     "FAILED_PRECONDITION", "a third attempt", in_message="all 1 attempts used")
        self.refused(self.w["stud2"].run("submit", str(aid), self.file, json=True),
                     "INVALID_ARGUMENT", "a file above the new size", in_message="accepts at most 10")
        self.ok(self.w["stud2"].run("submit", str(aid), self.small, json=True), "a small file")
        self.ok(self.teach("edit-assignment", aid, "--max-attempts", "0"), "no limit again")
        self.ok(self.w["stud1"].run("submit", str(aid), self.small, json=True), "a third attempt now")

    # ---- hide-assignment ---------------------------------------------------------

    def test_hidden_assignment_is_its_staff_only_and_takes_no_submissions(self):
        a = self.w.create_assignment(title="Draft")
        aid = a["id"]
        s = self.ok(self.w["stud1"].run("submit", str(aid), self.file, json=True))
        self.ok(self.teach("grade", s["id"], "--grade", "42"))
        res = self.ok(self.w["teach1"].run("hide-assignment", str(aid)), "hide")
        self.assertIn("assignment %d is hidden" % aid, res.out)
        self.assertIsNone(self.listed("stud1", aid), "a student does not list a hidden assignment")
        for who in ("teach1", "ta1"):
            self.assertIs(self.listed(who, aid)["hidden"], True, "%s sees it, marked hidden" % who)
        doc = self.ok(self.as_student_cli("admin").run("assignments", "--course", "CS101", json=True))
        self.assertIn(aid, [x["id"] for x in doc["assignments"] if x["hidden"]], "the admin sees it")
        text = self.ok(self.w["teach1"].run("assignments", "--course", "CS101")).out
        self.assertIn("Draft [hidden]", text, "the text list marks it")
        self.refused(self.w["stud2"].run("submit", str(aid), self.file, json=True),
                     "FAILED_PRECONDITION", "submit to a hidden one",
                     in_message="assignment %d is hidden" % aid)
        self.refused(self.w["stud1"].run("assignment", str(aid), json=True), "FAILED_PRECONDITION",
                     "a student's assignment ID", in_message="assignment %d is hidden" % aid)
        self.assertIn("hidden:       yes", self.ok(self.w["teach1"].run("assignment", str(aid))).out)
        grades = self.ok(self.w["stud1"].run("grades", "--course", "CS101", json=True))["grades"]
        self.assertIn((aid, 42.0), [(g["assignment_id"], g["grade"]) for g in grades],
                      "the student's grade stays")
        self.assertTrue(self.export_row("stud1", aid), "export-grades keeps it")
        for who in ("teach2", "ta1"):
            self.refused(self.teach("unhide-assignment", aid, who=who), "PERMISSION_DENIED",
                         "unhide as %s" % who)
        self.ok(self.teach("hide-assignment", aid), "hiding a hidden one is OK")
        self.ok(self.w["teach1"].run("unhide-assignment", str(aid)), "unhide")
        self.assertIs(self.listed("stud1", aid)["hidden"], False, "listed again")
        self.ok(self.w["stud2"].run("submit", str(aid), self.file, json=True), "submit again")
        self.assertEqualMsg([e["changed"] for e in self.listed("teach1", aid)["edits"]],
                            ["hidden", "unhidden"], "hide and unhide are recorded")

    # ---- delete-assignment -----------------------------------------------------------

    def test_delete_only_without_submissions_then_gone_everywhere(self):
        used = self.w.create_assignment(title="Used")["id"]
        self.ok(self.w["stud1"].run("submit", str(used), self.file, json=True))
        self.refused(self.teach("delete-assignment", used), "FAILED_PRECONDITION", "delete with work",
                     in_message=["assignment %d: has 1 submission" % used,
                                 "lms-instructor hide-assignment %d" % used])
        self.assertTrue(self.listed("stud1", used), "the refused delete changed nothing")

        aid = self.w.create_assignment(title="Mistake")["id"]
        for who in ("teach2", "ta1"):
            self.refused(self.teach("delete-assignment", aid, who=who), "PERMISSION_DENIED",
                         "delete as %s" % who)
        res = self.ok(self.w["teach1"].run("delete-assignment", str(aid)), "delete")
        self.assertIn("deleted assignment %d" % aid, res.out)
        for who in ("teach1", "stud1", "ta1"):
            self.assertIsNone(self.listed(who, aid), "%s no longer lists it" % who)
        doc = self.ok(self.as_student_cli("admin").run("assignments", json=True))
        self.assertNotIn(aid, [x["id"] for x in doc["assignments"]], "nor does the admin")
        gone = "assignment %d does not exist" % aid
        for who, args in [
            ("stud1", ["submit", aid, self.file]),
            ("stud1", ["submissions", "--assignment", aid]),
            ("stud1", ["assignment", aid]),
            ("teach1", ["assignment", aid]),
            ("teach1", ["fetch-all", "--assignment", aid, os.path.join(self.files, "gone")]),
            ("teach1", ["submissions", "--assignment", aid]),
            ("teach1", ["edit-assignment", aid, "--title", "back"]),
            ("teach1", ["hide-assignment", aid]),
            ("teach1", ["delete-assignment", aid]),
            ("teach1", ["release", "--assignment", aid]),
            ("teach1", ["extend", "--assignment", aid, "--student", "stud1",
                        "--until", iso(time.time() + 30 * DAY)]),
        ]:
            self.refused(self.w[who].run(*[str(x) for x in args], json=True), "NOT_FOUND",
                         "%s after the delete" % args[0], in_message=gone)
        header, recs = self.export()
        self.assertNotIn(str(aid), [r["assignment_id"] for r in recs], "export-grades drops it")

    # ---- the late policy ---------------------------------------------------------------

    def test_late_penalty_in_grades_and_export(self):
        self.refused(self.teach("create-assignment", "--course", "CS101", "--title", "x", "--due",
                                iso(time.time() + DAY), "--late-penalty", "101"),
                     "INVALID_ARGUMENT", "create with 101%", in_message="the late penalty must be 0 to 100")
        a = self.w.create_assignment(title="Penalised", due=time.time() - 2.5 * DAY,
                                     extra=["--late-penalty", "10"])
        aid = a["id"]
        self.assertEqualMsg(a["late_penalty"], 10, "late_penalty as created")
        text = self.ok(self.w["teach1"].run("assignments", "--course", "CS101")).out
        self.assertIn("10%/day", text, "the instructors' list shows the policy")
        text = self.ok(self.w["stud1"].run("assignment", str(aid))).out
        self.assertIn("late penalty: 10% of the points per started day late", text)
        s1 = self.ok(self.w["stud1"].run("submit", str(aid), self.file, json=True))
        s2 = self.ok(self.w["stud2"].run("submit", str(aid), self.file, json=True))
        g = self.ok(self.teach("grade", s1["id"], "--grade", "85"))
        self.assertEqualMsg((g["grade"], g["days_late"], g["penalty"], g["adjusted_grade"]),
                            (85.0, 3, 30.0, 55.0), "grade's answer: 3 days at 10% of 100")
        self.ok(self.teach("grade", s2["id"], "--grade", "20"))

        mine = self.ok(self.w["stud1"].run("grades", "--course", "CS101", json=True))["grades"]
        e = [x for x in mine if x["assignment_id"] == aid][0]
        self.assertEqualMsg((e["grade"], e["late_penalty"], e["days_late"], e["penalty"],
                             e["adjusted_grade"]), (85.0, 10, 3, 30.0, 55.0), "the student's grade")
        text = self.ok(self.w["stud1"].run("grades", "--course", "CS101")).out
        self.assertIn("55/100 (85, 3 days late: -30)", text, "grades text shows the penalty")
        staff = self.ok(self.as_student_cli("ta1").run("grades", "--course", "CS101", json=True))["grades"]
        e2 = [x for x in staff if x["submission_id"] == s2["id"]][0]
        self.assertEqualMsg((e2["grade"], e2["penalty"], e2["adjusted_grade"]), (20.0, 20.0, 0.0),
                            "never below 0: 30 off a 20")

        header, _ = self.export()
        self.assertEqualMsg(header[9:13], ["late", "days_late", "penalty", "adjusted_grade"],
                            "export's late policy columns")
        row = self.export_row("stud1", aid)
        self.assertEqualMsg((row["grade"], row["days_late"], row["penalty"], row["adjusted_grade"]),
                            ("85", "3", "30", "55"), "export: raw, penalty, adjusted")

        # an extension past the submission makes it on time: no penalty
        self.ok(self.teach("extend", "--assignment", aid, "--student", "stud1",
                           "--until", iso(time.time() + DAY)))
        e = [x for x in self.ok(self.w["stud1"].run("grades", "--course", "CS101", json=True))["grades"]
             if x["assignment_id"] == aid][0]
        self.assertEqualMsg((e["days_late"], e["penalty"], e["adjusted_grade"]), (0, 0.0, 85.0),
                            "on time by the extension")
        # a changed policy applies to every grade shown; the stored grade stays
        self.ok(self.teach("edit-assignment", aid, "--late-penalty", "5"))
        row = self.export_row("stud2", aid)
        self.assertEqualMsg((row["grade"], row["penalty"], row["adjusted_grade"]), ("20", "15", "5"),
                            "5% a day for 3 days of 100 points")
        self.ok(self.teach("edit-assignment", aid, "--late-penalty", "0"))
        row = self.export_row("stud2", aid)
        self.assertEqualMsg((row["grade"], row["penalty"], row["adjusted_grade"], row["late"]),
                            ("20", "0", "20", "yes"), "no policy: late, but nothing taken off")

    def test_z_every_node_holds_the_same_state(self):
        """Run last (by name): after every change above, the nodes agree
        (lms-admin cluster-verify hashes each node's tables, records
        included, at one index)."""
        res = self.w.admin.run("cluster-verify", "--wait", "60")
        self.assertRc(res, 0, "cluster-verify after the edits")
        self.assertIn("all equal", res.out)


if __name__ == "__main__":
    unittest.main()
