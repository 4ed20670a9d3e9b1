# SPDX-License-Identifier: MIT
"""Corrections to what a course holds, end to end through the real CLIs
against a real lmsd (issue 13, "Corrections"):

- replace-material: a new version of a material; everyone gets it from
  `materials` and `download ID`, the earlier ones stay in
  `material-history ID` and `download ID --version N` (their files
  travel in a backup: restored into a node that never saw them, they come
  back byte for byte); the tutor learns the new version and forgets the
  old one.
- delete-material: gone for the course's students ("material N does not
  exist") and the tutor; its staff still see it in material-history.
- lms-admin unenroll CODE NAME: the user loses access to the course and
  leaves its lists (submissions, export-grades) unless asked for
  (--include-unenrolled); their work stays stored, and enrolling them
  again brings it all back.
- grade-history SUBMISSION: every grade given, oldest first, for the
  course's instructors and teaching assistants.

Each refusal is checked with its status and words, and that it changed
nothing.
"""

import csv
import hashlib
import io
import os
import unittest

import lmstest
from backuptest import backup, new_node, restore
from lmstest import E2ETestCase, World


def sha(data):
    return hashlib.sha256(data).hexdigest()


class MaterialsTest(E2ETestCase):
    """replace-material, material-history, download --version and
    delete-material, with tutor_local learning from the materials."""

    V1 = b"Week 1 notes. Recursion: every recursion needs a base case.\n"
    V2 = b"Week 1 notes, corrected. Iteration: a loop repeats while its guard holds.\n"

    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(name="corrections-mat", tutor={"plugin": "tutor_local"})
        w = cls.w = World(cls.node)
        w.add_user("ta1", "student")
        w.enroll("CS101", "ta1", "ta")
        w.clis["ta1"] = w.login("lms-instructor", "ta1")
        cls.files = os.path.join(cls.node.dir, "files")
        os.makedirs(cls.files)
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def write(self, data, name=None):
        MaterialsTest.n += 1
        path = os.path.join(self.files, name or "file%d.txt" % self.n)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def upload(self, data=V1, title="Week 1", name="week1.txt"):
        return self.ok(self.w["teach1"].run("upload", "--course", "CS101", "--title", title,
                                            self.write(data, name), json=True), "upload")["id"]

    def materials(self, who):
        doc = self.ok(self.w[who].run("materials", "--course", "CS101", json=True),
                      "materials as %s" % who)
        return {m["id"]: m for m in doc.get("materials", [])}

    def download(self, who, mid, *extra):
        MaterialsTest.n += 1
        out = os.path.join(self.files, "dl%d" % self.n)
        res = self.w[who].run("download", mid, "-o", out, *extra, json=True)
        if res.rc != 0:
            return res, None
        with open(out, "rb") as f:
            return res, f.read()

    def history(self, who, mid):
        return self.w[who].run("material-history", mid, json=True)

    def tutor(self, text):
        doc = self.ok(self.w["stud1"].run("ask", "--course", "CS101", "--tutor", text,
                                          json=True), "ask the tutor %r" % text)
        return "\n".join(r["text"] for r in doc["replies"] if r["author"] == "tutor")

    def test_replace_keeps_the_history(self):
        m = self.upload()
        self.assertIn("base case", self.tutor("What does a recursion need to stop?"))
        before = self.ok(self.w["teach1"].run("create-assignment", "--course", "CS101",
                                              "--title", "marker", "--due", "2031-01-01",
                                              json=True))["id"]
        res = self.w["teach1"].run("replace-material", m, self.write(self.V2, "week1-v2.txt"),
                                   "--title", "Week 1 (corrected)")
        self.ok(res, "replace-material")
        self.assertIn("material %d is now version 2: week1-v2.txt" % m, res.out)
        after = self.ok(self.w["teach1"].run("create-assignment", "--course", "CS101",
                                             "--title", "marker", "--due", "2031-01-01",
                                             json=True))["id"]
        # everyone gets the latest
        for who in ("stud1", "teach1", "ta1"):
            row = self.materials(who)[m]
            self.assertEqualMsg((row["version"], row["file_name"], row["title"], row["size"]),
                                (2, "week1-v2.txt", "Week 1 (corrected)", len(self.V2)),
                                "materials as %s" % who)
            res, data = self.download(who, m)
            self.ok(res, "download as %s" % who)
            self.assertEqualMsg(data, self.V2, "download %d as %s" % (m, who))
        # the old one, by number
        res, data = self.download("stud1", m, "--version", "1")
        self.ok(res, "download --version 1")
        self.assertEqualMsg(data, self.V1, "version 1's bytes")
        self.assertEqualMsg(res.json["version"], 1, "the version downloaded")
        self.assertEqualMsg(res.json["file_name"], "week1.txt", "version 1's file name")
        res, data = self.download("stud1", m, "--version", "2")
        self.assertEqualMsg(data, self.V2, "version 2 by number")
        self.refused(self.download("stud1", m, "--version", "3")[0], "NOT_FOUND",
                     in_message="material %d: has no version 3 (it has versions 1 to 2)" % m)
        self.assertRc(self.w["stud1"].run("download", m, "--version", "0"), 2,
                      "--version 0 is a usage error")
        # the history, for members of the course
        for who in ("teach1", "ta1", "stud1"):
            doc = self.ok(self.history(who, m), "material-history as %s" % who)
            got = [(v["version"], v["file_name"], v["size"], v["sha256"], v["uploaded_by"],
                    v["title"]) for v in doc["versions"]]
            self.assertEqualMsg(got, [(1, "week1.txt", len(self.V1), sha(self.V1), "teach1",
                                       "Week 1"),
                                      (2, "week1-v2.txt", len(self.V2), sha(self.V2), "teach1",
                                       "Week 1 (corrected)")],
                                "the versions as %s sees them" % who)
            self.assertFalse(doc.get("deleted", False), "not deleted")
        text = self.ok(self.w["teach1"].run("material-history", m)).out
        self.assertIn("material %d of CS101: 2 versions" % m, text)
        self.assertIn(sha(self.V1), text)
        self.refused(self.history("stud3", m), "PERMISSION_DENIED",
                     in_message="only the members of course CS101")
        # the row that keeps version 1 is no material for anyone
        for hidden in range(before + 1, after):
            self.assertNotIn(hidden, self.materials("teach1"), "row %d in materials" % hidden)
            self.refused(self.download("teach1", hidden)[0], "NOT_FOUND",
                         in_message="material %d does not exist" % hidden)
            self.refused(self.history("teach1", hidden), "NOT_FOUND")
            self.refused(self.w["teach1"].run("replace-material", hidden, self.write(b"x"),
                                              json=True), "NOT_FOUND")
        # the tutor knows the new version only
        answer = self.tutor("How long does a loop repeat, what is its guard?")
        self.assertIn("material %d" % m, answer, "the tutor cites the new version")
        self.assertNotIn("base case", self.tutor("What does a recursion need to stop?"),
                         "the tutor forgot version 1")
        # and after a restart, which reads the documents from storage
        self.node.restart()
        self.assertNotIn("base case", self.tutor("What does a recursion need to stop?"))
        self.assertIn("material %d" % m, self.tutor("How long does a loop repeat?"))

    def test_replace_refusals_change_nothing(self):
        m = self.upload(name="refusals.txt")
        doc = self.ok(self.history("teach1", m))
        path = self.write(b"another version")
        # a TA is a student (globally) who assists: like upload, not theirs
        self.refused(self.w["ta1"].run("replace-material", m, path, json=True),
                     "PERMISSION_DENIED", in_message="only instructors may do this")
        self.refused(self.w["teach2"].run("replace-material", m, path, json=True),
                     "PERMISSION_DENIED",
                     in_message="only the instructors of course CS101 may replace")
        as_stud = self.node.cli("lms-instructor", home=self.w["stud1"].home)
        self.refused(as_stud.run("replace-material", m, path, json=True), "PERMISSION_DENIED")
        self.refused(self.w["teach1"].run("replace-material", 999999, path, json=True),
                     "NOT_FOUND", in_message="material 999999 does not exist")
        bad = "\x1b[31m"
        self.refused(self.w["teach1"].run("replace-material", m, path, "--title", bad,
                                          json=True), "INVALID_ARGUMENT",
                     in_message="control character")
        self.assertEqualMsg(self.ok(self.history("teach1", m)), doc, "the history after refusals")
        res, data = self.download("stud1", m)
        self.assertEqualMsg(data, self.V1, "still version 1")

    def test_delete(self):
        m = self.upload(b"Deleted notes. Pointers hold addresses of variables.\n",
                        name="gone.txt")
        self.assertIn("material %d" % m, self.tutor("What does a pointer hold?"))
        self.refused(self.w["ta1"].run("delete-material", m, json=True), "PERMISSION_DENIED",
                     in_message="only instructors may do this")
        self.refused(self.w["teach2"].run("delete-material", m, json=True), "PERMISSION_DENIED",
                     in_message="only the instructors of course CS101 may delete its materials")
        self.assertIn(m, self.materials("stud1"), "a refused delete changes nothing")
        res = self.ok(self.w["teach1"].run("delete-material", m), "delete-material")
        self.assertIn("deleted material %d" % m, res.out)
        # gone for the students and the tutor
        self.assertNotIn(m, self.materials("stud1"), "stud1's materials")
        self.assertNotIn(m, self.materials("teach1"), "teach1's materials")
        for extra in ((), ("--version", "1")):
            self.refused(self.download("stud1", m, *extra)[0], "NOT_FOUND",
                         in_message="material %d does not exist" % m)
        self.refused(self.history("stud1", m), "NOT_FOUND",
                     in_message="material %d does not exist" % m)
        self.assertNotIn("material %d" % m, self.tutor("What does a pointer hold?"))
        # the staff still see it, and its versions
        for who in ("teach1", "ta1"):
            doc = self.ok(self.history(who, m), "material-history as %s" % who)
            self.assertEqualMsg((doc["deleted"], doc["deleted_by"], len(doc["versions"])),
                                (True, "teach1", 1), "the deleted material's history")
            self.assertTrue(doc["deleted_at"], "when it was deleted")
            res, data = self.download(who, m, "--version", "1")
            self.ok(res, "the staff download a deleted material's version")
        self.assertIn("deleted by teach1", self.ok(self.w["teach1"].run("material-history",
                                                                         m)).out)
        self.ok(self.w["teach1"].run("delete-material", m), "deleting again is fine")
        self.refused(self.w["teach1"].run("replace-material", m, self.write(b"back"),
                                          json=True), "NOT_FOUND",
                     in_message="material %d: it was deleted; upload the file as a new "
                                "material instead" % m)
        self.node.restart()
        self.assertNotIn(m, self.materials("stud1"), "after a restart")
        self.assertNotIn("material %d" % m, self.tutor("What does a pointer hold?"))

    def test_a_retried_replace_is_applied_once(self):
        m = self.upload(name="retry.txt")
        req = {"client_id": 9001, "seq": 1,
               "replace_material": {"material_id": m, "file_name": "retry-v2.txt",
                                    "data": b"the second version\n"}}
        with self.node.raw() as c:
            req["token"] = c.login("teach1", World.PW)
            first = self.assertStatus(c.call(dict(req)), "OK", "replace")
            again = self.assertStatus(c.call(dict(req)), "OK", "the same replace again")
        self.assertEqualMsg(again["material"]["version"], first["material"]["version"],
                            "the retry's answer")
        doc = self.ok(self.history("teach1", m))
        self.assertEqualMsg([v["version"] for v in doc["versions"]], [1, 2],
                            "one new version, not two")

    def test_old_versions_travel_in_a_backup(self):
        v1, v2 = os.urandom(70000) + b"\x00v1", os.urandom(1000) + b"\x00v2"
        m = self.upload(v1, name="big.bin")
        self.ok(self.w["teach1"].run("replace-material", m, self.write(v2, "big2.bin")))
        path = os.path.join(self.node.dir, "corrections.lmsb")
        backup(self, self.w.admin, path)
        dst = new_node("corrections-restored")
        self.addCleanup(dst.cleanup)
        p = restore(dst, path)
        self.assertEqual(p.returncode, 0, "restore: %s" % p.stderr.decode(errors="replace"))
        dst.start()
        stud = dst.cli("lms-student", home=self.w["stud1"].home)
        for extra, want in (((), v2), (("--version", "1"), v1), (("--version", "2"), v2)):
            out = os.path.join(self.files, "restored-%d" % len(extra))
            self.ok(stud.run("download", m, "-o", out, *extra), "download %r" % (extra,))
            with open(out, "rb") as f:
                self.assertTrue(f.read() == want, "version %r byte for byte" % (extra,))


class UnenrollTest(E2ETestCase):
    """lms-admin unenroll, and enroll again."""

    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(name="corrections-unenr")
        cls.w = World(cls.node)
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def student_with_work(self):
        UnenrollTest.n += 1
        name = "leaver%d" % self.n
        self.w.add_user(name, "student", full_name="Lee Ver")
        self.w.enroll("CS101", name, "student")
        cli = self.w.login("lms-student", name)
        hw = self.w.create_assignment(title="work %d" % self.n)["id"]
        path = os.path.join(self.node.dir, "%s.txt" % name)
        with open(path, "wb") as f:
            f.write(b"my answer\n")
        sub = self.ok(cli.run("submit", hw, path, json=True))["id"]
        self.ok(self.w["teach1"].run("grade", sub, "--grade", "80", "--feedback", "fine"))
        return name, cli, hw, sub

    def submissions(self, hw, *extra):
        doc = self.ok(self.w["teach1"].run("submissions", "--assignment", hw, *extra,
                                           json=True))
        return [s["student"] for s in doc.get("submissions", [])]

    def export(self, *extra):
        out = self.ok(self.w["teach1"].run("export-grades", "--course", "CS101", *extra)).out
        return list(csv.DictReader(io.StringIO(out)))

    def test_unenroll_and_enroll_again(self):
        name, cli, hw, sub = self.student_with_work()
        res = self.ok(self.w.admin.run("unenroll", "CS101", name), "unenroll")
        self.assertIn("unenrolled %s from CS101" % name, res.out)
        # no access to the course
        doc = self.ok(cli.run("courses", json=True))
        self.assertEqualMsg([c["code"] for c in doc.get("courses", [])], [], "their courses")
        self.refused(cli.run("assignments", "--course", "CS101", json=True), "PERMISSION_DENIED",
                     in_message="only the members of course CS101")
        self.assertEqualMsg(self.ok(cli.run("assignments", json=True)).get("assignments", []),
                            [], "assignments of all their courses")
        self.refused(cli.run("submit", hw, os.path.join(self.node.dir, "%s.txt" % name),
                             json=True), "PERMISSION_DENIED", in_message="only students")
        self.refused(cli.run("fetch", sub, "-o", os.path.join(self.node.dir, "x"), json=True),
                     "PERMISSION_DENIED", in_message="only the members of course CS101")
        self.assertEqualMsg(self.ok(cli.run("submissions", json=True)).get("submissions", []),
                            [], "their own submissions")
        self.assertEqualMsg(self.ok(cli.run("grades", json=True)).get("grades", []), [],
                            "their own grades")
        # out of the course's lists unless asked for; their work stays
        self.assertNotIn(name, self.submissions(hw), "submissions")
        self.assertIn(name, self.submissions(hw, "--include-unenrolled"),
                      "submissions --include-unenrolled")
        self.assertNotIn(name, [r["student"] for r in self.export()], "export-grades")
        self.assertNotIn("enrolled", self.export()[0], "no new column unless asked for")
        rows = [r for r in self.export("--include-unenrolled") if r["student"] == name]
        self.assertEqualMsg([(r["grade"], r["enrolled"], r["full_name"]) for r in rows
                             if r["assignment_id"] == str(hw)], [("80", "no", "Lee Ver")],
                            "export-grades --include-unenrolled")
        self.assertTrue(all(r["enrolled"] == "yes" for r in self.export("--include-unenrolled")
                            if r["student"] == "stud1"), "stud1 is enrolled")
        with self.node.raw() as c:
            tok = c.login("teach1", World.PW)
            r = c.call({"token": tok, "list_grades": {"course": "CS101"}})
            self.assertNotIn(name, [g["student"] for g in r.get("grades", {}).get("grades", [])])
            r = c.call({"token": tok, "list_grades": {"course": "CS101",
                                                      "include_unenrolled": True}})
            self.assertIn(name, [g["student"] for g in r["grades"]["grades"]])
        # and back, with their work
        self.w.enroll("CS101", name, "student")
        self.assertIn(name, self.submissions(hw), "back in submissions")
        self.assertIn(name, [r["student"] for r in self.export()], "back in the export")
        self.assertEqualMsg([g["submission_id"] for g in
                             self.ok(cli.run("grades", json=True))["grades"]], [sub],
                            "their grade again")
        self.ok(cli.run("fetch", sub, "-o", os.path.join(self.node.dir, "back.txt")))

    def to_grade(self):
        doc = self.ok(self.w["teach1"].run("to-grade", "--course", "CS101", json=True))
        return [it["submission"]["student"] for it in doc.get("queue", [])]

    def test_to_grade_leaves_them_out(self):
        name, cli, hw, sub = self.student_with_work()
        path = os.path.join(self.node.dir, "%s.txt" % name)
        self.ok(cli.run("submit", hw, path), "a second attempt, not graded")
        self.assertIn(name, self.to_grade(), "in the queue")
        self.ok(self.w.admin.run("unenroll", "CS101", name))
        self.assertNotIn(name, self.to_grade(), "out of the queue once unenrolled")
        self.w.enroll("CS101", name, "student")
        self.assertIn(name, self.to_grade(), "back in the queue")

    def test_unenroll_refusals(self):
        name, cli, hw, sub = self.student_with_work()
        admin = self.w.admin
        self.refused(admin.run("unenroll", "CS101", "stud3", json=True), "FAILED_PRECONDITION",
                     in_message="course CS101: user stud3 is not enrolled in it")
        self.refused(admin.run("unenroll", "CS101", "nobody", json=True), "NOT_FOUND",
                     in_message="user nobody does not exist")
        self.refused(admin.run("unenroll", "XX999", name, json=True), "NOT_FOUND",
                     in_message="course XX999 does not exist")
        as_teacher = self.node.cli("lms-admin", home=self.w["teach1"].home)
        self.refused(as_teacher.run("unenroll", "CS101", name, json=True), "PERMISSION_DENIED")
        self.assertIn(name, self.submissions(hw), "nothing changed")
        # course codes ignore case, as for enroll
        self.ok(admin.run("unenroll", "cs101", name))
        self.refused(admin.run("unenroll", "CS101", name, json=True), "FAILED_PRECONDITION",
                     in_message="is not enrolled in it")

    def test_unenrolled_instructor_loses_the_course(self):
        self.w.add_user("teach9", "instructor")
        self.w.enroll("CS101", "teach9", "instructor")
        t = self.w.login("lms-instructor", "teach9")
        self.ok(t.run("materials", "--course", "CS101"))
        self.ok(self.w.admin.run("unenroll", "CS101", "teach9"))
        self.refused(t.run("create-assignment", "--course", "CS101", "--title", "x", "--due",
                           "2031-01-01", json=True), "PERMISSION_DENIED")
        self.assertEqualMsg(self.ok(t.run("courses", json=True)).get("courses", []), [],
                            "teach9's courses")


class GradeHistoryTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(name="corrections-gh")
        w = cls.w = World(cls.node)
        w.add_user("ta1", "student")
        w.enroll("CS101", "ta1", "ta")
        w.clis["ta1"] = w.login("lms-instructor", "ta1")
        cls.hw = w.create_assignment(title="Graded twice")["id"]
        path = os.path.join(cls.node.dir, "answer.txt")
        with open(path, "wb") as f:
            f.write(b"42\n")
        cls.sub = w._check(w["stud1"].run("submit", cls.hw, path, json=True), "submit").json["id"]
        cls.other = w._check(w["stud2"].run("submit", cls.hw, path, json=True),
                             "submit").json["id"]

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def test_regrading_keeps_the_history(self):
        w = self.w
        self.ok(w["teach1"].run("grade", self.sub, "--grade", "60", "--feedback", "first look"))
        self.ok(w["ta1"].run("grade", self.sub, "--grade", "75", "--feedback", "regraded"))
        self.ok(w["teach1"].run("grade", self.sub, "--grade", "70"))
        for who in ("teach1", "ta1"):
            doc = self.ok(w[who].run("grade-history", self.sub, json=True),
                          "grade-history as %s" % who)
            got = [(g["grade"], g["grader"], g.get("feedback", "")) for g in doc["grades"]]
            self.assertEqualMsg(got, [(60, "teach1", "first look"), (75, "ta1", "regraded"),
                                      (70, "teach1", "")], "the history as %s sees it" % who)
            times = [g["graded"] for g in doc["grades"]]
            self.assertEqualMsg(times, sorted(times), "oldest first")
            self.assertTrue(all(g["submission_id"] == self.sub and g["student"] == "stud1"
                                for g in doc["grades"]), "each entry names its submission")
        text = self.ok(w["teach1"].run("grade-history", self.sub)).out
        self.assertIn("regraded", text)
        self.assertIn("ta1", text)
        # the student sees their current grade only
        doc = self.ok(w["stud1"].run("grades", "--course", "CS101", json=True))
        self.assertEqualMsg([g["grade"] for g in doc["grades"] if g["submission_id"] == self.sub],
                            [70], "stud1's grade")

    def test_who_may_read_it(self):
        self.ok(self.w["teach1"].run("grade", self.other, "--grade", "50"))
        as_stud = self.node.cli("lms-instructor", home=self.w["stud2"].home)
        self.refused(as_stud.run("grade-history", self.other, json=True), "PERMISSION_DENIED",
                     in_message="only the instructors and teaching assistants of its course")
        self.refused(self.w["teach2"].run("grade-history", self.other, json=True),
                     "PERMISSION_DENIED",
                     in_message="only the instructors and teaching assistants of course CS101")
        self.refused(self.w["teach1"].run("grade-history", 999999, json=True), "NOT_FOUND",
                     in_message="submission 999999 does not exist")

    def test_not_graded_yet(self):
        path = os.path.join(self.node.dir, "late.txt")
        with open(path, "wb") as f:
            f.write(b"late\n")
        sub = self.ok(self.w["stud2"].run("submit", self.hw, path, json=True))["id"]
        res = self.ok(self.w["teach1"].run("grade-history", sub))
        self.assertIn("not graded yet", res.out)


if __name__ == "__main__":
    unittest.main()
