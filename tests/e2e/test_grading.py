# SPDX-License-Identifier: MIT
"""Grading, end to end through the real CLIs against a 3-node cluster: the
to-grade queue, fetch-all (a directory or a .tar.gz, with its manifest),
export-grades' states and neutralised formulas, the identical-submission
marks that instructors see and students do not, and a student's view of
assignments (attempts left, `assignment ID`).

Each test builds a course of its own, taught by an instructor of its own,
so that what it lists is exactly what it made."""

import csv
import io
import os
import stat
import tarfile
import time
import unittest

import lmstest
from lmstest import E2ETestCase, World, iso, sha256_hex


class GradingTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = lmstest.Cluster(3, name="grading")
        try:
            cls.cluster.start()
            cls.w = World(cls.cluster)
        except BaseException:
            cls.cluster.cleanup()
            raise
        cls.files = os.path.join(cls.cluster.dir, "files")
        os.makedirs(cls.files)
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.cluster.cleanup()

    # ---- helpers -------------------------------------------------------------

    def course(self, *students, full_names=None):
        """A new course taught by a new instructor, with new students:
        (code, instructor Cli, instructor name, {student: Cli})."""
        GradingTest.n += 1
        n = self.n
        code = "G%d" % n
        self.w.course(code, "Grading %d" % n)
        teacher = "gteach%d" % n
        self.w.add_user(teacher, "instructor")
        self.w.enroll(code, teacher, "instructor")
        studs = {}
        for s in students:
            name = "%s%d" % (s, n)
            full = (full_names or {}).get(s, "Student %s" % name)
            self.w.add_user(name, "student", full_name=full)
            self.w.enroll(code, name, "student")
            studs[s] = (name, self.w.login("lms-student", name))
        return code, self.w.login("lms-instructor", teacher), teacher, studs

    def assignment(self, teacher, code, title="HW", extra=()):
        res = teacher.run("create-assignment", "--course", code, "--title", title,
                          "--due", iso(time.time() + 7 * 86400), *extra, json=True)
        return self.ok(res, "create-assignment %s" % title)["id"]

    def file(self, name, data):
        d = os.path.join(self.files, "f%d" % self.n)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def submit(self, student_cli, aid, name, data):
        doc = self.ok(student_cli.run("submit", aid, self.file(name, data), json=True),
                      "submit %s" % name)
        return doc["id"]

    def queue_ids(self, cli, *args):
        doc = self.ok(cli.run("to-grade", *args, json=True), "to-grade %s" % " ".join(args))
        return [it["submission"]["id"] for it in doc["queue"]], doc

    # ---- to-grade ------------------------------------------------------------------

    def test_to_grade_queue(self):
        code, t, tname, s = self.course("amy", "ben", "cat")
        (amy, sa), (ben, sb), (cat, sc) = s["amy"], s["ben"], s["cat"]
        a1 = self.assignment(t, code, "Essay")
        a2 = self.assignment(t, code, "Quiz")
        # a second course of the same instructor, for the queue across courses
        code2 = code + "X"
        self.w.course(code2, "Second")
        self.w.enroll(code2, tname, "instructor")
        self.w.enroll(code2, ben, "student")
        b1 = self.assignment(t, code2, "Lab")

        self.assertEqualMsg(self.ok(t.run("to-grade")).out.strip(), "nothing to grade",
                            "an empty queue")
        x_amy1 = self.submit(sa, a1, "e.txt", b"amy 1")
        x_ben = self.submit(sb, a1, "e.txt", b"ben 1")
        x_amy2 = self.submit(sa, a1, "e.txt", b"amy 2")    # supersedes x_amy1
        x_cat = self.submit(sc, a2, "q.txt", b"cat quiz")
        x_lab = self.submit(sb, b1, "l.txt", b"ben lab")

        ids, doc = self.queue_ids(t, "--course", code)
        self.assertEqualMsg(ids, [x_ben, x_amy2, x_cat],
                            "the queue of %s: latest attempts, oldest first" % code)
        self.assertNotIn(x_amy1, ids, "a superseded attempt is not in the queue")
        first = doc["queue"][0]
        self.assertEqualMsg((first["course"], first["assignment_title"],
                             first["submission"]["student"], first["submission"]["attempt"]),
                            (code, "Essay", ben, 1), "a queue entry (course, title, student, attempt)")
        ids, _ = self.queue_ids(t)
        self.assertEqualMsg(ids, [x_ben, x_amy2, x_cat, x_lab],
                            "the queue across the instructor's courses")
        ids, _ = self.queue_ids(t, "--course", code2.lower())
        self.assertEqualMsg(ids, [x_lab], "--course ignores case")

        # grading takes an entry out; a new attempt after a grade puts it back
        self.ok(t.run("grade", x_amy2, "--grade", "80"))
        self.ok(t.run("grade", x_ben, "--grade", "70"))
        ids, _ = self.queue_ids(t, "--course", code)
        self.assertEqualMsg(ids, [x_cat], "graded attempts leave the queue")
        self.ok(t.run("grade", x_amy1, "--grade", "10"))   # an old attempt: changes nothing
        x_ben2 = self.submit(sb, a1, "e.txt", b"ben 2")
        ids, _ = self.queue_ids(t, "--course", code)
        self.assertEqualMsg(ids, [x_cat, x_ben2], "a resubmission after a grade awaits a grade")

        res = self.ok(t.run("to-grade", "--course", code))
        lines = res.out.splitlines()
        self.assertRegex(lines[0], r"^SUBMISSION\s+COURSE\s+ASSIGNMENT\s+TITLE\s+STUDENT\s+ATTEMPT\s+"
                                   r"SUBMITTED\s+LATE\s+IDENTICAL TO$")
        self.assertRegex(lines[2], r"^%d\s+%s\s+%d\s+Essay\s+%s\s+2\s+" % (x_ben2, code, a1, ben))

        # a teaching assistant grades too: the course's queue, marks included
        ta = "gta%d" % self.n
        self.w.add_user(ta, "student")
        self.w.enroll(code, ta, "ta")
        tcli = self.w.login("lms-instructor", ta)
        ids, _ = self.queue_ids(tcli)
        self.assertEqualMsg(ids, [x_cat, x_ben2], "the TA's queue: the course it assists in")
        ids, _ = self.queue_ids(tcli, "--course", code)
        self.assertEqualMsg(ids, [x_cat, x_ben2], "the TA's queue of the course")
        self.refused(tcli.run("to-grade", "--course", code2, json=True), "PERMISSION_DENIED",
                     "a TA's queue of a course it does not assist in")

        # an admin may look at any course; others are refused
        admin = self.cluster.cli("lms-instructor", home=self.w.admin.home)
        ids, _ = self.queue_ids(admin, "--course", code)
        self.assertEqualMsg(ids, [x_cat, x_ben2], "the admin's view of the queue")
        ids, _ = self.queue_ids(admin)
        self.assertTrue({x_cat, x_ben2, x_lab} <= set(ids), "the admin's queue of every course")
        self.refused(t.run("to-grade", "--course", "MA201", json=True), "PERMISSION_DENIED",
                     "to-grade of a course the instructor does not teach")
        self.refused(self.w["teach1"].run("to-grade", "--course", code, json=True),
                     "PERMISSION_DENIED", "to-grade of another instructor's course")
        self.refused(t.run("to-grade", "--course", "NOPE", json=True), "NOT_FOUND",
                     "to-grade of an unknown course")
        as_student = self.cluster.cli("lms-instructor", home=sa.home)
        self.refused(as_student.run("to-grade", json=True), "PERMISSION_DENIED",
                     "to-grade as a student (the server decides)")
        ids, _ = self.queue_ids(self.w["teach1"])
        self.assertFalse({x_cat, x_ben2, x_lab} & set(ids),
                         "another instructor's queue shows none of this course")

    # ---- fetch-all -------------------------------------------------------------------

    def test_fetch_all_directory(self):
        code, t, tname, s = self.course("bob", "eve", "dan", "kim")
        (bob, sb), (eve, se), (dan, sd), (kim, sk) = s["bob"], s["eve"], s["dan"], s["kim"]
        aid = self.assignment(t, code, "Report")
        long_name = "x" * 240 + ".txt"
        sub = {
            "bob1": self.submit(sb, aid, "report.pdf", b"bob first"),
            "eve": self.submit(se, aid, "report.pdf", b"eve's report"),
            "bob2": self.submit(sb, aid, "report.pdf", b"bob second"),
            "dan": self.submit(sd, aid, "-rf", b"dan"),
            "kim": self.submit(sk, aid, long_name, b"kim"),
        }
        # a name with a path the server never takes
        with self.cluster.leader().raw() as c:
            tok = c.login(eve, World.PW)
            r = c.call({"token": tok, "submit": {"assignment_id": aid, "file_name": "../x",
                                                  "data": b"escape"}})
            self.assertStatus(r, "INVALID_ARGUMENT", "a submission named ../x")

        out = os.path.join(self.files, "all-%d" % aid)
        res = self.ok(t.run("fetch-all", "--assignment", aid, out), "fetch-all")
        self.assertIn("saved 4 submissions of assignment %d" % aid, res.out)
        self.assertEqualMsg(stat.S_IMODE(os.stat(out).st_mode), 0o700, "mode of the new directory")
        want = {
            "%s-%d-report.pdf" % (bob, sub["bob2"]): b"bob second",
            "%s-%d-report.pdf" % (eve, sub["eve"]): b"eve's report",
            "%s-%d--rf" % (dan, sub["dan"]): b"dan",
        }
        names = sorted(os.listdir(out))
        kim_name = [n for n in names if n.startswith("%s-%d-" % (kim, sub["kim"]))]
        self.assertEqualMsg(len(kim_name), 1, "kim's file is there: %r" % names)
        self.assertTrue(len(kim_name[0].encode()) <= 255 and kim_name[0].endswith(".txt"),
                        "a long name is cut and keeps its extension: %r" % kim_name[0])
        want[kim_name[0]] = b"kim"
        self.assertEqualMsg(names, sorted(list(want) + ["manifest.csv"]),
                            "the files of the directory (nothing else, no temporary file)")
        for name, data in want.items():
            with open(os.path.join(out, name), "rb") as f:
                self.assertEqualMsg(f.read(), data, "the bytes of %s" % name)
            self.assertEqualMsg(stat.S_IMODE(os.stat(os.path.join(out, name)).st_mode), 0o600,
                                "mode of %s" % name)

        with open(os.path.join(out, "manifest.csv"), newline="") as f:
            rows = list(csv.reader(f))
        self.assertEqualMsg(rows[0], ["student", "submission_id", "attempt", "submitted", "late",
                                      "sha256", "size", "file_name", "saved_as", "identical_to"],
                            "the manifest's header")
        recs = {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
        self.assertEqualMsg(sorted(recs), sorted([bob, eve, dan, kim]), "one row per student")
        b = recs[bob]
        self.assertEqualMsg((b["submission_id"], b["attempt"], b["late"], b["sha256"], b["size"],
                             b["file_name"], b["saved_as"]),
                            (str(sub["bob2"]), "2", "no", sha256_hex(b"bob second"), "10",
                             "report.pdf", "%s-%d-report.pdf" % (bob, sub["bob2"])),
                            "bob's row: his latest attempt")
        self.assertRegex(b["submitted"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqualMsg(recs[dan]["file_name"], "'-rf",
                            "a file name a spreadsheet would run is neutralised")

        # an existing, non-empty directory is refused, and left alone
        before = {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in os.listdir(out)}
        self.refused(t.run("fetch-all", "--assignment", aid, out, json=True), "ALREADY_EXISTS",
                     "fetch-all into a directory that is not empty")
        after = {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in os.listdir(out)}
        self.assertEqualMsg(after, before, "the refused fetch-all changed the directory")
        x_bob3 = self.submit(sb, aid, "report.pdf", b"bob third")
        doc = self.ok(t.run("fetch-all", "--assignment", aid, "--force", out, json=True),
                      "fetch-all --force")
        self.assertEqualMsg((doc["saved"], doc["dir"], doc["manifest"]), (4, out, "manifest.csv"),
                            "fetch-all --json (saved, dir, manifest)")
        by = {f["student"]: f for f in doc["files"]}
        self.assertEqualMsg((by[bob]["id"], by[bob]["saved_as"], by[bob]["sha256"]),
                            (x_bob3, "%s-%d-report.pdf" % (bob, x_bob3), sha256_hex(b"bob third")),
                            "--json: bob's newest attempt")
        self.assertIn("%s-%d-report.pdf" % (bob, x_bob3), os.listdir(out))

        # an empty directory is fine; a file in its place is not
        empty = os.path.join(self.files, "empty-%d" % aid)
        os.mkdir(empty)
        self.ok(t.run("fetch-all", "--assignment", aid, empty), "fetch-all into an empty directory")
        self.assertEqualMsg(len(os.listdir(empty)), 5, "four files and the manifest")
        plain = self.file("not-a-dir", b"x")
        self.refused(t.run("fetch-all", "--assignment", aid, plain, json=True), "ALREADY_EXISTS",
                     "fetch-all onto a file")

        # usage, and refusals that leave nothing behind
        self.assertRc(t.run("fetch-all", "--assignment", aid), 2, "fetch-all without DIR or --tar")
        self.assertRc(t.run("fetch-all", "--assignment", aid, "--tar", out + ".tgz", out + "2"), 2,
                      "fetch-all with DIR and --tar")
        self.assertRc(t.run("fetch-all", out + "3"), 2, "fetch-all without --assignment")
        other = os.path.join(self.files, "other-%d" % aid)
        self.refused(self.w["teach2"].run("fetch-all", "--assignment", aid, other, json=True),
                     "PERMISSION_DENIED", "fetch-all by the instructor of another course")
        self.assertFalse(os.path.exists(other), "a refused fetch-all made its directory")
        self.refused(t.run("fetch-all", "--assignment", 999999, other, json=True), "NOT_FOUND",
                     "fetch-all of an unknown assignment")
        self.assertFalse(os.path.exists(other), "a refused fetch-all made its directory")

    def test_fetch_all_tar(self):
        code, t, tname, s = self.course("ann", "tom")
        (ann, sa), (tom, st) = s["ann"], s["tom"]
        aid = self.assignment(t, code, "Tarred")
        xa = self.submit(sa, aid, "main.c", b"int main(void) { return 0; }\n")
        xt = self.submit(st, aid, "main.c", b"int main(void) { return 1; }\n")
        path = os.path.join(self.files, "a%d.tar.gz" % aid)
        res = self.ok(t.run("fetch-all", "--assignment", aid, "--tar", path), "fetch-all --tar")
        self.assertIn("saved 2 submissions of assignment %d" % aid, res.out)
        top = "assignment-%d" % aid
        with tarfile.open(path, "r:gz") as tf:
            members = {m.name: m for m in tf.getmembers()}
            self.assertEqualMsg(sorted(members),
                                sorted([top, "%s/%s-%d-main.c" % (top, ann, xa),
                                        "%s/%s-%d-main.c" % (top, tom, xt), top + "/manifest.csv"]),
                                "the members of the archive")
            self.assertTrue(members[top].isdir(), "the archive's directory")
            got = tf.extractfile("%s/%s-%d-main.c" % (top, tom, xt)).read()
            self.assertEqualMsg(got, b"int main(void) { return 1; }\n", "tom's file in the archive")
            manifest = tf.extractfile(top + "/manifest.csv").read().decode()
        self.assertIn("%s,%d,1," % (ann, xa), manifest)
        self.assertEqualMsg([n for n in os.listdir(self.files) if n.startswith("a%d.tar.gz." % aid)],
                            [], "no temporary file left beside the archive")
        self.refused(t.run("fetch-all", "--assignment", aid, "--tar", path, json=True),
                     "ALREADY_EXISTS", "fetch-all --tar onto an existing file")
        doc = self.ok(t.run("fetch-all", "--assignment", aid, "--tar", path, "--force", json=True))
        self.assertEqualMsg((doc["tar"], doc["saved"]), (path, 2), "fetch-all --tar --force --json")

        # an assignment nobody handed in: a manifest without rows
        nobody = self.assignment(t, code, "Nobody")
        out = os.path.join(self.files, "nobody-%d" % nobody)
        doc = self.ok(t.run("fetch-all", "--assignment", nobody, out, json=True))
        self.assertEqualMsg((doc["saved"], doc["files"], os.listdir(out)), (0, [], ["manifest.csv"]),
                            "fetch-all of an assignment without submissions")
        with open(os.path.join(out, "manifest.csv")) as f:
            self.assertEqualMsg(len(f.read().splitlines()), 1, "the manifest holds its header only")

    # ---- export-grades --------------------------------------------------------------

    def test_export_grades_states_and_formulas(self):
        code, t, tname, s = self.course(
            "eq", "plus", "none", "at",
            full_names={"eq": "=HYPERLINK(\"http://evil.example\",\"click\")", "plus": "+1-2",
                        "none": "Nora None", "at": "@SUM(A1:A9)"})
        (eq, se), (plus, sp), (none, sn), (at, sa) = s["eq"], s["plus"], s["none"], s["at"]
        aid = self.assignment(t, code, "-2+3 points", extra=["--max-points", "20"])
        x_eq = self.submit(se, aid, "a.txt", b"eq")               # submitted, not graded
        x_plus1 = self.submit(sp, aid, "a.txt", b"plus 1")
        self.ok(t.run("grade", x_plus1, "--grade", "12"))
        x_plus2 = self.submit(sp, aid, "a.txt", b"plus 2")        # graded, newer attempt not graded
        x_at = self.submit(sa, aid, "a.txt", b"at")
        self.ok(t.run("grade", x_at, "--grade", "19.5"))          # graded

        res = self.ok(t.run("export-grades", "--course", code), "export-grades")
        rows = list(csv.reader(io.StringIO(res.out, newline="")))
        self.assertEqualMsg(rows[0][-2:], ["status", "latest_submission_id"], "the new columns")
        recs = {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
        got = {k: (v["status"], v["latest_submission_id"], v["submission_id"], v["grade"])
               for k, v in recs.items()}
        self.assertEqualMsg(got, {
            eq: ("submitted, not graded", str(x_eq), "", ""),
            plus: ("graded, newer attempt not graded", str(x_plus2), str(x_plus1), "12"),
            none: ("not submitted", "", "", ""),
            at: ("graded", str(x_at), str(x_at), "19.5"),
        }, "each student's (status, latest, graded submission, grade)")
        self.assertEqualMsg(recs[eq]["full_name"], "'=HYPERLINK(\"http://evil.example\",\"click\")",
                            "a full name starting with = is neutralised")
        self.assertEqualMsg(recs[plus]["full_name"], "'+1-2", "a full name starting with +")
        self.assertEqualMsg(recs[at]["full_name"], "'@SUM(A1:A9)", "a full name starting with @")
        self.assertEqualMsg(recs[none]["full_name"], "Nora None", "a plain name is left alone")
        self.assertEqualMsg(recs[eq]["assignment"], "'-2+3 points", "a title starting with -")
        for line in res.out.split("\r\n"):
            for cell in next(csv.reader([line])) if line else []:
                self.assertFalse(cell[:1] in ("=", "+", "-", "@"),
                                 "a cell a spreadsheet would run: %r" % cell)

    # ---- identical submissions --------------------------------------------------------

    def test_identical_submissions_marked_for_instructors_only(self):
        code, t, tname, s = self.course("al", "bo", "cy", "di", "ed")
        (al, sa), (bo, sb), (cy, sc), (di, sd), (ed, se) = (s[k] for k in ("al", "bo", "cy", "di", "ed"))
        aid = self.assignment(t, code, "Same")
        other = self.assignment(t, code, "Other")
        same = b"the same bytes\n"
        x_al = self.submit(sa, aid, "a.txt", same)
        x_bo = self.submit(sb, aid, "b.txt", same)
        x_cy = self.submit(sc, aid, "c.txt", b"my own work\n")
        x_di = self.submit(sd, aid, "d.txt", same)
        x_ed1 = self.submit(se, aid, "e.txt", b"twice the same\n")
        x_ed2 = self.submit(se, aid, "e.txt", b"twice the same\n")   # one's own: not flagged
        x_other = self.submit(sc, other, "c.txt", same)              # another assignment

        doc = self.ok(t.run("submissions", "--assignment", aid, json=True))
        marks = {x["id"]: (x["identical_to"], x["identical_student"], x["identical_count"])
                 for x in doc["submissions"]}
        self.assertEqualMsg(marks, {
            x_al: (x_bo, bo, 2), x_bo: (x_al, al, 2), x_di: (x_al, al, 2),
            x_cy: (0, "", 0), x_ed1: (0, "", 0), x_ed2: (0, "", 0),
        }, "identical marks (earliest other submission, its student, how many other students)")
        res = self.ok(t.run("submissions", "--assignment", aid))
        line = [l for l in res.out.splitlines() if l.startswith("%d " % x_al)][0]
        self.assertTrue(line.rstrip().endswith("#%d (%s) +1 more" % (x_bo, bo)),
                        "the text mark of al's submission: %r" % line)
        line = [l for l in res.out.splitlines() if l.startswith("%d " % x_cy)][0]
        self.assertNotIn("#", line, "cy's own work is not marked")
        doc = self.ok(t.run("submissions", "--assignment", other, json=True))
        self.assertEqualMsg(doc["submissions"][0]["identical_to"], 0,
                            "the same bytes in another assignment are not marked")

        # marks survive --ungraded: bo's graded submission still counts
        self.ok(t.run("grade", x_bo, "--grade", "50"))
        doc = self.ok(t.run("submissions", "--assignment", aid, "--ungraded", json=True))
        listed = {x["id"]: x["identical_to"] for x in doc["submissions"]}
        self.assertNotIn(x_bo, listed, "--ungraded leaves out the graded one")
        self.assertEqualMsg(listed[x_al], x_bo, "al still marked as identical to bo's")
        queue = self.ok(t.run("to-grade", "--course", code, json=True))["queue"]
        q = {it["submission"]["id"]: it["submission"]["identical_to"] for it in queue}
        self.assertEqualMsg(q.get(x_di), x_al, "to-grade shows the mark too")

        # students never see them
        for name, cli in ((al, sa), (bo, sb), (di, sd)):
            doc = self.ok(cli.run("submissions", "--assignment", aid, json=True))
            for x in doc["submissions"]:
                self.assertEqualMsg((x["identical_to"], x["identical_student"], x["identical_count"]),
                                    (0, "", 0), "%s's own list carries no mark" % name)
            res = self.ok(cli.run("submissions", "--assignment", aid))
            self.assertNotIn("IDENTICAL", res.out, "%s's table has no identical column" % name)
            for other_name in (al, bo, di):
                if other_name != name:
                    self.assertNotIn(other_name, res.out, "%s's list names %s" % (name, other_name))

    # ---- the student's view of assignments ----------------------------------------------

    def test_assignments_show_submitted_and_attempts_left(self):
        code, t, tname, s = self.course("liz", "max")
        (liz, sl), (mx, sm) = s["liz"], s["max"]
        two = self.assignment(t, code, "Two tries", extra=["--max-attempts", "2"])
        free = self.assignment(t, code, "Any number")
        self.submit(sl, two, "a.txt", b"1")

        def mine(cli):
            doc = self.ok(cli.run("assignments", "--course", code, json=True))
            return {a["id"]: (a["my_attempts"], a["my_last_submitted"] is not None)
                    for a in doc["assignments"]}
        self.assertEqualMsg(mine(sl), {two: (1, True), free: (0, False)}, "liz's attempts")
        self.assertEqualMsg(mine(sm), {two: (0, False), free: (0, False)}, "max's attempts")
        res = self.ok(sl.run("assignments", "--course", code))
        lines = res.out.splitlines()
        self.assertRegex(lines[0], r"^ID\s+COURSE\s+TITLE\s+DUE\s+CUTOFF\s+POINTS\s+SUBMITTED\s+"
                                   r"ATTEMPTS LEFT$")
        row = {l.split()[0]: l for l in lines[1:]}
        self.assertRegex(row[str(two)], r"yes, 1 attempt\s+1 of 2$")
        self.assertRegex(row[str(free)], r"\bno\s+unlimited$")
        self.submit(sl, two, "a.txt", b"2")
        self.submit(sl, free, "a.txt", b"1")
        self.submit(sl, free, "a.txt", b"2")
        res = self.ok(sl.run("assignments", "--course", code))
        row = {l.split()[0]: l for l in res.out.splitlines()[1:]}
        self.assertRegex(row[str(two)], r"yes, 2 attempts\s+0 of 2$")
        self.assertRegex(row[str(free)], r"yes, 2 attempts\s+unlimited$")
        res = self.ok(sm.run("assignments", "--course", code))
        self.assertRegex([l for l in res.out.splitlines() if l.startswith(str(two) + " ")][0],
                         r"\bno\s+2 of 2$", "max's attempts are his own")

    def test_assignment_id_shows_description_and_limits(self):
        code, t, tname, s = self.course("ida")
        ida, si = s["ida"]
        due, cutoff = int(time.time()) + 86400, int(time.time()) + 2 * 86400
        aid = self.assignment(t, code, "Parser", extra=[
            "--due", iso(due), "--cutoff", iso(cutoff), "--max-points", "42.5",
            "--max-attempts", "3", "--max-size", "64KiB", "--hold-grades",
            "--description", "Write a parser.\nThen test it:\n\t- edge cases"])
        self.submit(si, aid, "p.c", b"int x;")
        res = self.ok(si.run("assignment", aid), "assignment ID")
        self.assertEqualMsg(res.out.splitlines(), [
            "assignment:   %d in %s: Parser" % (aid, code),
            "due:          %s" % iso(due),
            "cut-off:      %s (late submissions are accepted until then)" % iso(cutoff),
            "points:       42.5",
            "attempts:     3 (you used 1; 2 left)",
            "max size:     64 KiB (65536 bytes)",
            "grades:       held until the instructors release them",
            "submitted:    yes, last at %s" % res.out.split("last at ")[1].split()[0],
            "description:",
            "  Write a parser.",
            "  Then test it:",
            "  \t- edge cases",
        ], "lms-student assignment ID")
        doc = self.ok(si.run("assignment", aid, json=True))
        self.assertEqualMsg((doc["id"], doc["max_points"], doc["max_attempts"], doc["my_attempts"],
                             doc["description"]),
                            (aid, 42.5, 3, 1, "Write a parser.\nThen test it:\n\t- edge cases"),
                            "assignment ID --json")
        # an extension shows as the student's due time
        until = int(time.time()) + 5 * 86400
        self.ok(t.run("extend", "--assignment", aid, "--student", ida, "--until", iso(until)))
        res = self.ok(si.run("assignment", aid))
        self.assertIn("due:          %s (your extension; the assignment's due time is %s)"
                      % (iso(until), iso(due)), res.out)
        self.assertIn("cut-off:      %s" % iso(until), res.out)
        # the instructor's view: the assignment's own limits
        res = self.ok(t.run("assignment", aid))
        self.assertIn("attempts:     3\n", res.out)
        self.assertNotIn("you used", res.out)
        self.assertNotIn("submitted:", res.out)
        plain = self.assignment(t, code, "Plain")
        res = self.ok(si.run("assignment", plain))
        self.assertIn("cut-off:      none", res.out)
        self.assertIn("attempts:     unlimited (you used 0)", res.out)
        self.assertIn("submitted:    no", res.out)
        self.assertIn("description:  none", res.out)
        self.refused(self.w["stud3"].run("assignment", aid, json=True), "PERMISSION_DENIED",
                     "assignment ID of a course the student is not in")
        self.refused(si.run("assignment", 999999, json=True), "NOT_FOUND", "an unknown assignment")
        self.assertRc(si.run("assignment"), 2, "assignment without ID")


if __name__ == "__main__":
    unittest.main()
