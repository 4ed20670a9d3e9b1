# SPDX-License-Identifier: MIT
"""lms-instructor end to end: every subcommand of the issue through the real
CLI against a real lmsd, in human and --json form, with the exit codes of
the contract."""

import csv
import io
import os
import time
import unittest

import lmstest
from lmstest import E2ETestCase, World, iso, sha256_hex

PROG = "lms-instructor"
COMMANDS = ["login", "logout", "whoami", "courses", "create-assignment", "edit-assignment",
            "hide-assignment", "unhide-assignment", "delete-assignment", "assignments",
            "submissions", "fetch", "grade", "release", "extend", "queries", "reply",
            "resolve", "upload", "materials", "export-grades", "assignment", "to-grade",
            "fetch-all"]


class InstructorTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(name="instructor")
        cls.w = World(cls.node)
        cls.files = os.path.join(cls.node.dir, "files")
        os.makedirs(cls.files)
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def write(self, name, data):
        path = os.path.join(self.files, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def course_with(self, *students):
        """A new course taught by teach1 with new students; their Clis."""
        InstructorTest.n += 1
        code = "C%d" % self.n
        self.w.course(code, "Course %d" % self.n)
        self.w.enroll(code, "teach1", "instructor")
        clis = []
        for s in students:
            name = "%s_%d" % (s, self.n)
            self.w.add_user(name, "student", full_name="Student %s" % name.upper())
            self.w.enroll(code, name, "student")
            clis.append((name, self.w.login("lms-student", name)))
        return code, clis

    # ---- session and courses ------------------------------------------

    def test_login_whoami_logout_courses(self):
        c = self.node.cli(PROG)
        res = self.ok(c.login("teach1", World.PW), "login")
        self.assertIn("logged in as teach1 (instructor)", res.out)
        doc = self.ok(c.run("whoami", json=True))
        self.assertEqualMsg((doc["user"]["name"], doc["user"]["role"]), ("teach1", "instructor"),
                            "whoami (name, role)")
        doc = self.ok(c.run("courses", json=True), "courses --json")
        got = {x["code"]: x["my_role"] for x in doc["courses"]}
        self.assertEqualMsg(got.get("CS101"), "instructor", "teach1's role in CS101")
        self.assertNotIn("MA201", got, "teach1 does not teach MA201")
        res = self.ok(c.run("courses"))
        self.assertIn("Intro to CS", res.out)
        self.ok(c.run("logout"), "logout")
        self.assertRc(c.run("courses"), 4, "courses after logout")

    # ---- assignments ----------------------------------------------------

    def test_create_assignment_every_option(self):
        t = self.w["teach1"]
        due, cutoff = int(time.time()) + 86400, int(time.time()) + 2 * 86400
        doc = self.ok(t.run("create-assignment", "--course", "CS101", "--title", "Full options",
                            "--due", iso(due), "--cutoff", iso(cutoff), "--max-points", "42.5",
                            "--max-attempts", "3", "--max-size", "64KiB", "--hold-grades",
                            "--description", "Write a parser, then test it.", json=True),
                      "create-assignment with every option")
        want = {"course": "CS101", "title": "Full options", "description": "Write a parser, then test it.",
                "due": iso(due), "cutoff": iso(cutoff), "max_points": 42.5, "max_attempts": 3,
                "max_size": 65536, "hold_grades": True, "released": False}
        for k, v in want.items():
            self.assertEqualMsg(doc.get(k), v, "create-assignment --json %s" % k)
        self.assertIsInstance(doc["id"], int)
        full = doc
        # defaults
        res = self.ok(t.run("create-assignment", "--course", "CS101", "--title", "Defaults",
                            "--due", "2030-01-02T03:04:05Z"), "create-assignment (human)")
        self.assertRegex(res.out, r"created assignment \d+ in CS101: Defaults \(due 2030-01-02T03:04:05Z\)")
        doc = self.ok(t.run("assignments", "--course", "CS101", json=True), "assignments --json")
        by_title = {a["title"]: a for a in doc["assignments"]}
        d = by_title["Defaults"]
        self.assertEqualMsg((d["max_points"], d["max_attempts"], d["max_size"], d["hold_grades"], d["cutoff"]),
                            (100.0, 0, 10485760, False, None),
                            "defaults (max_points, max_attempts, max_size, hold_grades, cutoff)")
        f = by_title["Full options"]
        self.assertEqualMsg((f["id"], f["max_points"], f["cutoff"], f["hold_grades"]),
                            (full["id"], 42.5, iso(cutoff), True), "the listed assignment")
        res = self.ok(t.run("assignments"))
        self.assertIn("Full options", res.out)
        # time with an offset and a date without a time (local = UTC here)
        doc = self.ok(t.run("create-assignment", "--course", "CS101", "--title", "Offset",
                            "--due", "2030-06-01T12:00:00+02:00", json=True))
        self.assertEqualMsg(doc["due"], "2030-06-01T10:00:00Z", "due given with +02:00")
        doc = self.ok(t.run("create-assignment", "--course", "CS101", "--title", "Date only",
                            "--due", "2030-06-01", json=True))
        self.assertEqualMsg(doc["due"], "2030-06-01T00:00:00Z", "due given as a date (TZ=UTC)")
        # usage errors are the CLI's
        for bad in (["--due", "tomorrow"], ["--due", "2030-02-30"], ["--max-points", "lots"],
                    ["--max-size", "12XB"], ["--max-attempts", "-1"]):
            args = ["create-assignment", "--course", "CS101", "--title", "Bad"]
            if bad[0] != "--due":
                args += ["--due", "2030-01-01"]
            self.assertRc(t.run(*(args + bad)), 2, "create-assignment %s" % " ".join(bad))
        self.assertRc(t.run("create-assignment", "--course", "CS101", "--due", "2030-01-01"), 2,
                      "create-assignment without --title")
        # refusals are the server's
        self.refused(t.run("create-assignment", "--course", "CS101", "--title", "Cut first",
                           "--due", "2030-01-02", "--cutoff", "2030-01-01", json=True),
                     "INVALID_ARGUMENT", "cut-off before the due time")
        self.refused(t.run("create-assignment", "--course", "CS101", "--title", "Zero",
                           "--due", "2030-01-02", "--max-points", "0", json=True),
                     "INVALID_ARGUMENT", "max points 0")

    # ---- submissions, fetch, grade ----------------------------------------

    def test_submissions_fetch_grade(self):
        t = self.w["teach1"]
        code, studs = self.course_with("ann", "bob")
        (ann, sa), (bob, sb) = studs
        a = self.w.create_assignment(course=code, title="Grade me", extra=["--max-points", "10"])
        data_a = b"ann's \x00 answer\n" * 50
        data_b = b"\x00" * 1000 + b"bob"
        s1 = self.ok(sa.run("submit", a["id"], self.write("ann.c", data_a), json=True))
        s2 = self.ok(sb.run("submit", a["id"], self.write("bob.c", data_b), json=True))
        s3 = self.ok(sb.run("submit", a["id"], self.write("bob.c", data_b + b"2"), json=True))

        doc = self.ok(t.run("submissions", "--assignment", a["id"], json=True), "submissions --json")
        got = sorted((x["id"], x["student"], x["attempt"], x["graded"]) for x in doc["submissions"])
        self.assertEqualMsg(got, sorted([(s1["id"], ann, 1, False), (s2["id"], bob, 1, False),
                                         (s3["id"], bob, 2, False)]),
                            "submissions (id, student, attempt, graded)")
        res = self.ok(t.run("submissions", "--assignment", a["id"]))
        for want in (ann, bob, "ann.c", "bob.c"):
            self.assertIn(want, res.out)
        self.assertRc(t.run("submissions"), 2, "submissions without --assignment")

        # fetch: -o, and the default name in the current directory
        out = os.path.join(self.files, "fetched-ann")
        res = self.ok(t.run("fetch", s1["id"], "-o", out), "fetch -o")
        self.assertIn("saved submission %d to %s (%d bytes, sha256 %s)"
                      % (s1["id"], out, len(data_a), sha256_hex(data_a)), res.out)
        with open(out, "rb") as f:
            self.assertTrue(f.read() == data_a, "fetch -o: bytes differ")
        cwd = os.path.join(self.files, "fetch-%s" % code)
        os.makedirs(cwd)
        doc = self.ok(t.run("fetch", s2["id"], json=True, cwd=cwd), "fetch (default name)")
        self.assertEqualMsg((doc["path"], doc["student"], doc["sha256"], doc["size"]),
                            ("bob.c", bob, sha256_hex(data_b), len(data_b)),
                            "fetch --json (path, student, sha256, size)")
        self.assertNotIn("data", doc, "fetch --json must not dump the file")
        with open(os.path.join(cwd, "bob.c"), "rb") as f:
            self.assertTrue(f.read() == data_b, "fetch to the default name: bytes differ")

        # grade
        res = self.ok(t.run("grade", s1["id"], "--grade", "8.5", "--feedback", "Nice, \"clean\" code"),
                      "grade")
        self.assertIn("graded submission %d: 8.5" % s1["id"], res.out)
        doc = self.ok(t.run("grade", s3["id"], "--grade", "6", json=True), "grade --json")
        self.assertEqualMsg((doc.get("submission_id"), doc.get("grade"), doc.get("student")),
                            (s3["id"], 6.0, bob), "grade --json (submission_id, grade, student)")
        self.refused(t.run("grade", s2["id"], "--grade", "11", json=True), "INVALID_ARGUMENT",
                     "grade above max points", in_message=["11", "10"])
        self.refused(t.run("grade", s2["id"], "--grade", "-1", json=True), "INVALID_ARGUMENT",
                     "negative grade")
        self.assertRc(t.run("grade", s2["id"]), 2, "grade without --grade")
        # regrade replaces
        self.ok(t.run("grade", s1["id"], "--grade", "9"), "regrade")

        doc = self.ok(t.run("submissions", "--assignment", a["id"], "--ungraded", json=True),
                      "submissions --ungraded")
        self.assertEqualMsg([x["id"] for x in doc["submissions"]], [s2["id"]],
                            "ungraded submissions")
        doc = self.ok(sa.run("grades", json=True))
        self.assertEqualMsg([(g["submission_id"], g["grade"]) for g in doc["grades"]],
                            [(s1["id"], 9.0)], "ann's grades after the regrade")

    def test_release(self):
        t = self.w["teach1"]
        code, [(name, s)] = self.course_with("held")
        a = self.w.create_assignment(course=code, title="Held", extra=["--hold-grades"])
        sub = self.ok(s.run("submit", a["id"], self.write("h.txt", b"h"), json=True))
        self.ok(t.run("grade", sub["id"], "--grade", "77"))
        doc = self.ok(s.run("grades", json=True))
        self.assertEqualMsg(doc["grades"], [], "grades before release")
        # the instructor sees held grades
        doc = self.ok(t.run("export-grades", "--course", code, json=True))
        self.assertIn("77", doc["csv"], "the instructor's export shows the held grade")
        res = self.ok(t.run("release", "--assignment", a["id"]), "release")
        self.assertIn("released the grades of assignment %d" % a["id"], res.out)
        doc = self.ok(s.run("grades", json=True))
        self.assertEqualMsg([g["grade"] for g in doc["grades"]], [77.0], "grades after release")
        doc = self.ok(t.run("assignments", "--course", code, json=True))
        self.assertIs(doc["assignments"][0]["released"], True, "released flag")
        self.ok(t.run("release", "--assignment", a["id"], json=True), "release twice")
        self.assertRc(t.run("release"), 2, "release without --assignment")

    def test_extend(self):
        t = self.w["teach1"]
        code, [(late, s), (other, so)] = self.course_with("late", "ontime")
        now = time.time()
        a = self.w.create_assignment(course=code, title="Past", due=now - 7200,
                                     extra=["--cutoff", iso(now - 3600)])
        p = self.write("x.txt", b"x")
        self.refused(s.run("submit", a["id"], p, json=True), "FAILED_PRECONDITION",
                     "submit after the cut-off")
        until = int(now) + 3600
        res = self.ok(t.run("extend", "--assignment", a["id"], "--student", late, "--until", iso(until)),
                      "extend")
        self.assertIn("extended assignment %d for %s until %s" % (a["id"], late, iso(until)), res.out)
        doc = self.ok(s.run("submit", a["id"], p, json=True), "submit after the extension")
        self.assertIs(doc["late"], False, "not late: the extension moved the due time")
        doc = self.ok(s.run("assignments", json=True))
        self.assertEqualMsg(doc["assignments"][0]["my_due"], iso(until), "my_due after the extension")
        # the others are still closed out
        self.refused(so.run("submit", a["id"], p, json=True), "FAILED_PRECONDITION",
                     "another student without an extension")
        self.refused(t.run("extend", "--assignment", a["id"], "--student", "teach1",
                           "--until", iso(until), json=True),
                     "FAILED_PRECONDITION", "extension for a non-student")
        self.assertRc(t.run("extend", "--assignment", a["id"], "--student", late), 2,
                      "extend without --until")
        # one that ends before the due time would change nothing: refused, with the reason
        early = iso(now - 3 * 3600)
        res = t.run("extend", "--assignment", a["id"], "--student", other, "--until", early, json=True)
        self.refused(res, "INVALID_ARGUMENT", "an extension that ends before the due time",
                     in_message="assignment %d: the extension's end %s is not after the assignment's "
                                "due time %s; an extension must end after it"
                                % (a["id"], early, iso(now - 7200)))
        self.refused(t.run("extend", "--assignment", a["id"], "--student", other,
                           "--until", iso(now - 7200)),
                     "INVALID_ARGUMENT", "an extension that ends at the due time")
        doc = self.ok(so.run("assignments", json=True))
        self.assertEqualMsg(doc["assignments"][0]["my_due"], iso(now - 7200),
                            "the due time of the student whose extension was refused")
        self.refused(so.run("submit", a["id"], p, json=True), "FAILED_PRECONDITION",
                     "submit after a refused extension")

    # ---- queries ----------------------------------------------------------

    def test_queries_reply_resolve(self):
        t = self.w["teach1"]
        code, [(name, s)] = self.course_with("asker")
        q1 = self.ok(s.run("ask", "--course", code, "--instructor", "--title", "Q1", "first", json=True))
        q2 = self.ok(s.run("ask", "--course", code, "--instructor", "second", json=True))
        doc = self.ok(t.run("queries", "--course", code, json=True), "queries --course")
        self.assertEqualMsg(sorted(q["id"] for q in doc["queries"]), sorted([q1["id"], q2["id"]]),
                            "open queries of the course")
        res = self.ok(t.run("reply", q1["id"], "See", "the", "notes."), "reply")
        self.assertIn("replied to query %d" % q1["id"], res.out)
        doc = self.ok(t.run("reply", q1["id"], "Also the book.", json=True), "reply --json")
        self.assertEqualMsg([r["text"] for r in doc["replies"]], ["See the notes.", "Also the book."],
                            "reply --json shows the thread")
        self.ok(s.run("ask", "--course", code, "--instructor", "unrelated"))  # noise
        res = self.ok(t.run("resolve", q1["id"]), "resolve")
        self.assertIn("resolved query %d" % q1["id"], res.out)
        doc = self.ok(t.run("queries", "--course", code, json=True))
        ids = [q["id"] for q in doc["queries"]]
        self.assertNotIn(q1["id"], ids, "a resolved query is hidden without --all")
        self.assertIn(q2["id"], ids)
        doc = self.ok(t.run("queries", "--course", code, "--all", json=True), "queries --all")
        got = {q["id"]: q for q in doc["queries"]}
        self.assertIn(q1["id"], got, "--all shows resolved queries")
        self.assertIs(got[q1["id"]]["resolved"], True)
        self.assertEqualMsg([(r["author"], r["text"]) for r in got[q1["id"]]["replies"]],
                            [("teach1", "See the notes."), ("teach1", "Also the book.")], "replies")
        doc = self.ok(t.run("queries", "--all", json=True), "queries --all over every course")
        self.assertTrue({q1["id"], q2["id"]} <= {q["id"] for q in doc["queries"]})
        res = self.ok(t.run("queries", "--course", code, "--all"))
        for want in ("#%d [resolved] %s: Q1" % (q1["id"], code), "See the notes.", "first"):
            self.assertIn(want, res.out, "queries output: expected %r in %r" % (want, res.out))
        # the student answers back in the same thread
        self.ok(s.run("queries"))
        self.refused(t.run("reply", q1["id"], "", json=True), "INVALID_ARGUMENT", "an empty reply")
        self.refused(t.run("reply", 999999, "hello", json=True), "NOT_FOUND", "reply to no query")

    # ---- materials --------------------------------------------------------

    def test_upload_and_materials(self):
        t = self.w["teach1"]
        data = bytes(range(256)) * 300 + b"\x00tail"
        path = self.write("notes.bin", data)
        res = self.ok(t.run("upload", "--course", "CS101", "--title", "Notes, part 1", path), "upload")
        self.assertRegex(res.out, r"uploaded material \d+ to CS101: notes.bin \(%d bytes, sha256 %s\)"
                         % (len(data), sha256_hex(data)))
        doc = self.ok(t.run("upload", "--course", "CS101", "--title", "Notes again", path, json=True))
        self.assertEqualMsg((doc["size"], doc["sha256"], doc["file_name"], doc["course"], doc["uploaded_by"]),
                            (len(data), sha256_hex(data), "notes.bin", "CS101", "teach1"),
                            "upload --json (size, sha256, file, course, by)")
        lst = self.ok(t.run("materials", "--course", "CS101", json=True), "materials")
        self.assertIn(doc["id"], [m["id"] for m in lst["materials"]])
        out = os.path.join(self.files, "back.bin")
        self.ok(self.w["stud2"].run("download", doc["id"], "-o", out))
        with open(out, "rb") as f:
            self.assertTrue(f.read() == data, "material round trip: bytes differ")
        self.refused(t.run("upload", "--course", "MA201", "--title", "x", path, json=True),
                     "PERMISSION_DENIED", "upload to a course teach1 does not teach")
        self.assertRc(t.run("upload", "--course", "CS101", path), 2, "upload without --title")

    # ---- export -----------------------------------------------------------

    def test_export_grades(self):
        t = self.w["teach1"]
        code, studs = self.course_with("zed", "amy", "kim")
        (zed, sz), (amy, sa), (kim, sk) = studs
        a1 = self.w.create_assignment(course=code, title="Essay, \"final\"", extra=["--max-points", "20"])
        a2 = self.w.create_assignment(course=code, title="Quiz", due=time.time() - 60,
                                      extra=["--cutoff", iso(time.time() + 3600)])
        p = self.write("e.txt", b"essay")
        z1 = self.ok(sz.run("submit", a1["id"], p, json=True))
        z2 = self.ok(sz.run("submit", a1["id"], p, json=True))
        am = self.ok(sa.run("submit", a2["id"], p, json=True))
        self.ok(sk.run("submit", a1["id"], p, json=True))  # not graded
        self.ok(t.run("grade", z1["id"], "--grade", "10"))
        self.ok(t.run("grade", z2["id"], "--grade", "19.25"))
        self.ok(t.run("grade", am["id"], "--grade", "55"))

        res = self.ok(t.run("export-grades", "--course", code), "export-grades")
        rows = list(csv.reader(io.StringIO(res.out, newline="")))
        header = rows[0]
        self.assertEqualMsg(header, ["student", "full_name", "assignment_id", "assignment", "submission_id",
                                     "attempt", "grade", "max_points", "graded_at", "late", "days_late",
                                     "penalty", "adjusted_grade", "status", "latest_submission_id"],
                            "CSV header")
        recs = [dict(zip(header, r)) for r in rows[1:]]
        self.assertEqualMsg(len(recs), 6, "one row per (student, assignment): 3 x 2")
        self.assertEqualMsg([(r["student"], int(r["assignment_id"])) for r in recs],
                            [(s, a) for s in sorted([zed, amy, kim]) for a in (a1["id"], a2["id"])],
                            "rows ordered by student, then assignment")
        by = {(r["student"], int(r["assignment_id"])): r for r in recs}
        z = by[(zed, a1["id"])]
        self.assertEqualMsg((z["submission_id"], z["attempt"], z["grade"], z["max_points"], z["late"],
                             z["assignment"], z["full_name"]),
                            (str(z2["id"]), "2", "19.25", "20", "no", 'Essay, "final"',
                             "Student %s" % zed.upper()),
                            "zed's essay: the latest graded attempt")
        self.assertRegex(z["graded_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        m = by[(amy, a2["id"])]
        self.assertEqualMsg((m["grade"], m["max_points"], m["late"]), ("55", "100", "yes"),
                            "amy's late quiz")
        for key in ((kim, a1["id"]), (kim, a2["id"]), (amy, a1["id"]), (zed, a2["id"])):
            self.assertEqualMsg((by[key]["grade"], by[key]["submission_id"]), ("", ""),
                                "no graded submission for %r" % (key,))
        doc = self.ok(t.run("export-grades", "--course", code, json=True), "export-grades --json")
        self.assertEqualMsg(doc["csv"], res.out, "--json carries the same CSV")
        self.refused(t.run("export-grades", "--course", "MA201", json=True), "PERMISSION_DENIED",
                     "export of a course teach1 does not teach")
        self.refused(t.run("export-grades", "--course", "NOPE", json=True), "NOT_FOUND",
                     "export of an unknown course")
        self.assertRc(t.run("export-grades"), 2, "export-grades without --course")

    # ---- the CLI contract ---------------------------------------------------

    def test_help_version_usage(self):
        c = self.node.cli(PROG)
        for cmd in COMMANDS:
            res = c.run(cmd, "--help")
            self.assertRc(res, 0, "%s --help" % cmd)
            self.assertIn("usage: %s %s" % (PROG, cmd), res.out, "%s --help prints its usage" % cmd)
        res = c.run("--help")
        self.assertRc(res, 0, "--help")
        for cmd in COMMANDS:
            self.assertIn(cmd, res.out, "--help lists %s" % cmd)
        res = c.run("--version")
        self.assertRc(res, 0, "--version")
        self.assertRegex(res.out, r"^%s \d+\.\d+\.\d+" % PROG)
        self.assertRc(c.run("submit", "1", "x"), 2, "a student command in lms-instructor")
        self.assertRc(c.run("frobnicate"), 2, "unknown subcommand")
        self.assertRc(c.run("grade", "1", "--grade", "5", "--bogus"), 2, "unknown option")
        self.assertRc(c.run("fetch", "x"), 2, "non-numeric id")


if __name__ == "__main__":
    unittest.main()
