# SPDX-License-Identifier: MIT
"""lms-student end to end: every subcommand of the issue through the real CLI
against a real lmsd, in human and --json form, with the exit codes of the
contract (0 ok, 1 refused, 2 usage, 3 unreachable, 4 not logged in)."""

import json
import os
import stat
import time
import unittest

import lmstest
from lmstest import E2ETestCase, World, iso, sha256_hex

PROG = "lms-student"
COMMANDS = ["login", "logout", "whoami", "courses", "assignments", "submit",
            "submissions", "grades", "ask", "queries", "materials", "download", "fetch",
            "assignment"]


class StudentTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(name="student")
        cls.w = World(cls.node)
        cls.files = os.path.join(cls.node.dir, "files")
        os.makedirs(cls.files)

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def write(self, name, data):
        path = os.path.join(self.files, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def new_student(self, name):
        """A fresh student enrolled in CS101, logged in."""
        self.w.add_user(name, "student")
        self.w.enroll("CS101", name, "student")
        return self.w.login(PROG, name)

    # ---- session ---------------------------------------------------------

    def test_login_whoami_logout(self):
        c = self.node.cli(PROG)
        res = c.login("stud1", World.PW)
        self.ok(res, "login --password-stdin")
        self.assertIn("logged in as stud1 (student)", res.out,
                      "human login output: expected 'logged in as stud1 (student)', got %r" % res.out)
        session = os.path.join(c.home, "session")
        self.assertTrue(os.path.exists(session), "expected a session file at %s" % session)
        mode = stat.S_IMODE(os.stat(session).st_mode)
        self.assertEqualMsg(mode, 0o600, "mode of the session file")

        doc = self.ok(c.login("stud1", World.PW, json=True), "login --json")
        self.assertEqualMsg(doc["user"]["name"], "stud1", "login --json user.name")
        self.assertEqualMsg(doc["user"]["role"], "student", "login --json user.role")
        self.assertNotIn("token", json.dumps(doc), "login --json must not show the token")
        self.assertRegex(doc["expires"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$",
                         "login --json expires: expected ISO 8601")

        res = self.ok(c.run("whoami"), "whoami")
        for want in ("stud1", "student"):
            self.assertIn(want, res.out, "whoami output: expected %r in %r" % (want, res.out))
        doc = self.ok(c.run("whoami", json=True), "whoami --json")
        self.assertEqualMsg(doc["user"]["name"], "stud1", "whoami --json user.name")
        self.assertEqualMsg(doc["user"]["role"], "student", "whoami --json user.role")
        exp = time.mktime(time.strptime(doc["expires"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        self.assertTrue(time.time() + 23 * 3600 < exp < time.time() + 25 * 3600,
                        "whoami expires: expected about now + 24h (the default ttl), got %s"
                        % doc["expires"])

        # keep the token to prove that logout revoked it on the server
        with open(session) as f:
            saved = f.read()
        token = json.loads(saved)["token"]
        res = self.ok(c.run("logout"), "logout")
        self.assertIn("logged out", res.out)
        self.assertFalse(os.path.exists(session), "logout must remove the session file")
        self.refused(c.run("whoami", json=True), "UNAUTHENTICATED", "whoami after logout", rc=4)
        res = c.run("whoami")
        self.assertRc(res, 4, "whoami after logout (human)")
        self.assertIn("not logged in", res.err)
        with open(session, "w") as f:
            f.write(saved)
        os.chmod(session, 0o600)
        self.refused(c.run("whoami", json=True), "UNAUTHENTICATED",
                     "whoami with the token of a logged-out session", rc=4)
        with self.node.raw() as conn:
            r = conn.call({"token": token, "whoami": {}})
            self.assertStatus(r, "UNAUTHENTICATED", "raw whoami with a revoked token")

    def test_login_wrong_password_and_not_logged_in(self):
        c = self.node.cli(PROG)
        res = c.login("stud1", "wrong-password")
        self.refused(res, "UNAUTHENTICATED", "login with a wrong password", rc=4)
        self.assertFalse(os.path.exists(os.path.join(c.home, "session")),
                         "a failed login must not leave a session file")
        res = c.login("nosuchuser", "whatever-123", json=True)
        self.refused(res, "UNAUTHENTICATED", "login as an unknown user", rc=4)
        for cmd in (["whoami"], ["courses"], ["assignments"], ["grades"], ["queries"]):
            self.assertRc(c.run(*cmd), 4, "%s without a session" % cmd[0])
            self.refused(c.run(*cmd, json=True), "UNAUTHENTICATED",
                         "%s --json without a session" % cmd[0], rc=4)
        # $LMS_HOME is the default for --home
        home = os.path.join(self.node.dir, "envhome")
        env = {"LMS_HOME": home}
        res = c.run("login", "stud1", "--password-stdin", input=World.PW + "\n", home=False, env=env)
        self.ok(res, "login with $LMS_HOME")
        self.assertTrue(os.path.exists(os.path.join(home, "session")),
                        "login with $LMS_HOME=%s must save the session there" % home)
        self.ok(c.run("whoami", home=False, env=env), "whoami with $LMS_HOME")

    # ---- courses and assignments ------------------------------------------

    def test_courses(self):
        doc = self.ok(self.w["stud1"].run("courses", json=True), "courses --json")
        codes = [(c["code"], c["my_role"]) for c in doc["courses"]]
        self.assertEqualMsg(codes, [("CS101", "student")], "stud1's courses (code, role)")
        res = self.ok(self.w["stud1"].run("courses"), "courses")
        self.assertIn("CS101", res.out)
        self.assertIn("Intro to CS", res.out)
        self.assertNotIn("MA201", res.out, "stud1 must not see MA201 (not enrolled)")
        doc = self.ok(self.w["stud3"].run("courses", json=True))
        self.assertEqualMsg([c["code"] for c in doc["courses"]], ["MA201"], "stud3's courses")

    def test_assignments(self):
        a1 = self.w.create_assignment(title="Assign list 1")
        a2 = self.w.create_assignment(teacher="teach2", course="MA201", title="Assign list 2")
        doc = self.ok(self.w["stud1"].run("assignments", json=True), "assignments --json")
        ids = [a["id"] for a in doc["assignments"]]
        self.assertIn(a1["id"], ids, "stud1 sees the CS101 assignment")
        self.assertNotIn(a2["id"], ids, "stud1 must not see the MA201 assignment")
        self.assertTrue(all(a["course"] == "CS101" for a in doc["assignments"]),
                        "only CS101 assignments: got %r" % [a["course"] for a in doc["assignments"]])
        doc = self.ok(self.w["stud1"].run("assignments", "--course", "CS101", json=True))
        self.assertIn(a1["id"], [a["id"] for a in doc["assignments"]])
        res = self.ok(self.w["stud1"].run("assignments", "--course", "CS101"))
        self.assertIn("Assign list 1", res.out)
        self.assertIn(str(a1["id"]), res.out)
        self.refused(self.w["stud1"].run("assignments", "--course", "MA201", json=True),
                     "PERMISSION_DENIED", "assignments of a course stud1 is not in")
        self.refused(self.w["stud1"].run("assignments", "--course", "NOPE"),
                     "NOT_FOUND", "assignments of an unknown course")

    # ---- submissions ------------------------------------------------------

    def test_submit_attempts_sha_and_binary_roundtrip(self):
        a = self.w.create_assignment(title="Binary upload")
        data = bytes(range(256)) * 40 + b"\x00\x00end\x00"
        path = self.write("prog.bin", data)
        s = self.w["stud1"]
        subs = []
        for attempt in (1, 2, 3):
            doc = self.ok(s.run("submit", a["id"], path, json=True), "submit #%d" % attempt)
            self.assertEqualMsg(doc["attempt"], attempt, "attempt number of submission %d" % attempt)
            self.assertEqualMsg(doc["sha256"], sha256_hex(data), "sha256 reported by submit")
            self.assertEqualMsg(doc["size"], len(data), "size reported by submit")
            self.assertEqualMsg(doc["file_name"], "prog.bin", "file name (the base name)")
            self.assertEqualMsg(doc["assignment_id"], a["id"], "assignment id")
            self.assertEqualMsg(doc["student"], "stud1", "student")
            self.assertIs(doc["late"], False, "late flag before the due time")
            subs.append(doc["id"])
        self.assertEqual(len(set(subs)), 3, "three distinct submission ids: %r" % subs)
        # human form
        res = self.ok(s.run("submit", a["id"], path), "submit (human)")
        for want in ("attempt:    4", sha256_hex(data), "on time", "prog.bin"):
            self.assertIn(want, res.out, "submit output: expected %r in %r" % (want, res.out))
        # the instructor gets the same bytes back
        out = os.path.join(self.files, "fetched.bin")
        doc = self.ok(self.w["teach1"].run("fetch", subs[1], "-o", out, json=True), "fetch")
        with open(out, "rb") as f:
            got = f.read()
        self.assertTrue(got == data, "fetched file differs from the submitted one "
                        "(%d bytes vs %d)" % (len(got), len(data)))
        self.assertEqualMsg(doc["sha256"], sha256_hex(data), "fetch sha256")
        # an empty file is refused before it is sent, and spends no attempt
        empty = self.write("empty.txt", b"")
        self.refused(s.run("submit", a["id"], empty, json=True), "INVALID_ARGUMENT",
                     "submit an empty file", in_message="is empty")
        res = s.run("submit", a["id"], empty)
        self.assertRc(res, 1, "submit an empty file (human)")
        self.assertIn("empty.txt is empty; there is nothing to hand in", res.err)
        doc = self.ok(s.run("submissions", "--assignment", a["id"], json=True))
        self.assertEqualMsg(len(doc["submissions"]), 4, "submissions after the empty ones")
        # the server refuses one too: what this CLI never sends
        with self.node.raw() as c:
            tok = c.login("stud1", World.PW)
            r = c.call({"token": tok, "submit": {"assignment_id": a["id"], "file_name": "e.txt",
                                                 "data": b""}})
            self.assertStatus(r, "INVALID_ARGUMENT", "an empty submission over a raw connection")
            self.assertIn("the file is empty", r["message"])
        doc = self.ok(s.run("submissions", "--assignment", a["id"], json=True))
        self.assertEqualMsg(len(doc["submissions"]), 4, "submissions after the raw empty one")

    def test_submit_late_limits_and_cutoff(self):
        now = time.time()
        late = self.w.create_assignment(title="Late one", due=now - 3600,
                                        extra=["--cutoff", iso(now + 3600)])
        path = self.write("late.txt", b"late work\n")
        doc = self.ok(self.w["stud1"].run("submit", late["id"], path, json=True), "late submit")
        self.assertIs(doc["late"], True, "late flag after the due time, before the cut-off")
        res = self.ok(self.w["stud1"].run("submit", late["id"], path))
        self.assertIn("LATE", res.out, "human output marks a late submission: %r" % res.out)

        closed = self.w.create_assignment(title="Closed", due=now - 7200,
                                          extra=["--cutoff", iso(now - 3600)])
        res = self.w["stud1"].run("submit", closed["id"], path)
        self.refused(res, "FAILED_PRECONDITION", "submit after the cut-off", in_message="cut-off")

        limited = self.w.create_assignment(title="Two tries", extra=["--max-attempts", "2"])
        for i in (1, 2):
            self.ok(self.w["stud1"].run("submit", limited["id"], path), "attempt %d of 2" % i)
        res = self.w["stud1"].run("submit", limited["id"], path, json=True)
        self.refused(res, "FAILED_PRECONDITION", "third attempt of two", in_message="attempts")
        doc = self.ok(self.w["stud1"].run("submissions", "--assignment", limited["id"], json=True))
        self.assertEqualMsg(len(doc["submissions"]), 2, "submissions kept after the refused one")

        self.refused(self.w["stud1"].run("submit", late["id"], os.path.join(self.files, "missing"),
                                         json=True),
                     "NOT_FOUND", "submit a file that does not exist")

    def test_submissions_lists_own_only(self):
        a = self.w.create_assignment(title="Mine only")
        s4 = self.new_student("stud4")
        p = self.write("mine.txt", b"mine")
        mine = self.ok(s4.run("submit", a["id"], p, json=True))
        other = self.ok(self.w["stud2"].run("submit", a["id"], p, json=True))
        doc = self.ok(s4.run("submissions", json=True), "submissions --json")
        ids = [x["id"] for x in doc["submissions"]]
        self.assertEqualMsg(ids, [mine["id"]], "stud4's submissions")
        self.assertNotIn(other["id"], ids)
        doc = self.ok(s4.run("submissions", "--assignment", a["id"], json=True))
        self.assertEqualMsg([x["id"] for x in doc["submissions"]], [mine["id"]],
                            "stud4's submissions to the assignment")
        self.assertEqualMsg(doc["submissions"][0]["sha256"], sha256_hex(b"mine"), "listed sha256")
        res = self.ok(s4.run("submissions"))
        self.assertIn("mine.txt", res.out)
        fresh = self.new_student("stud5")
        res = self.ok(fresh.run("submissions"))
        self.assertIn("no submissions", res.out)

    # ---- grades -----------------------------------------------------------

    def test_grades_held_until_release(self):
        s = self.new_student("stud6")
        t = self.w["teach1"]
        held = self.w.create_assignment(title="Held", extra=["--hold-grades", "--max-points", "20"])
        shown = self.w.create_assignment(title="Shown", extra=["--max-points", "10"])
        p = self.write("g.txt", b"answer")
        sub_h = self.ok(s.run("submit", held["id"], p, json=True))
        sub_s = self.ok(s.run("submit", shown["id"], p, json=True))
        self.ok(t.run("grade", sub_h["id"], "--grade", "17.5", "--feedback", "good, but late"))
        self.ok(t.run("grade", sub_s["id"], "--grade", "9", "--feedback", "fine"))

        doc = self.ok(s.run("grades", json=True), "grades --json")
        got = {g["assignment_id"]: g for g in doc["grades"]}
        self.assertIn(shown["id"], got, "a grade without hold is visible at once")
        self.assertNotIn(held["id"], got, "a held grade must be invisible before release")
        g = got[shown["id"]]
        self.assertEqualMsg((g["grade"], g["max_points"], g["feedback"], g["grader"]),
                            (9.0, 10.0, "fine", "teach1"), "grade entry (grade, max, feedback, grader)")
        res = self.ok(s.run("grades"))
        self.assertIn("9/10", res.out)
        self.assertNotIn("17.5", res.out, "held grade leaked into the human output")

        self.ok(t.run("release", "--assignment", held["id"]), "release")
        doc = self.ok(s.run("grades", "--course", "CS101", json=True))
        got = {g["assignment_id"]: g for g in doc["grades"]}
        self.assertIn(held["id"], got, "the held grade is visible after release")
        self.assertEqualMsg((got[held["id"]]["grade"], got[held["id"]]["feedback"]),
                            (17.5, "good, but late"), "released grade and feedback")
        res = self.ok(s.run("grades"))
        self.assertIn("17.5/20", res.out)
        # a new student with nothing graded
        res = self.ok(self.new_student("stud7").run("grades"))
        self.assertIn("no grades", res.out)

    # ---- queries ----------------------------------------------------------

    def test_ask_and_queries(self):
        s = self.new_student("stud8")
        t = self.w["teach1"]
        doc = self.ok(s.run("ask", "--course", "CS101", "--instructor", "--title", "Deadline?",
                            "Is", "the", "deadline", "strict?", json=True), "ask --json")
        qid = doc["id"]
        self.assertEqualMsg((doc["course"], doc["student"], doc["title"], doc["text"], doc["resolved"]),
                            ("CS101", "stud8", "Deadline?", "Is the deadline strict?", False),
                            "the query (course, student, title, text joined, resolved)")
        res = self.ok(s.run("ask", "--course", "CS101", "--instructor", "Second question\nwith two lines"))
        self.assertRegex(res.out, r"query \d+ sent to the instructors of CS101")
        self.assertRc(s.run("ask", "--course", "CS101", "text without --instructor"), 2,
                      "ask without --instructor")
        self.refused(s.run("ask", "--course", "MA201", "--instructor", "not mine"),
                     "PERMISSION_DENIED", "ask in a course stud8 is not in")

        self.ok(t.run("reply", qid, "Yes,", "it", "is."), "reply")
        self.ok(t.run("resolve", qid), "resolve")
        doc = self.ok(s.run("queries", json=True), "queries --json")
        qs = {q["id"]: q for q in doc["queries"]}
        self.assertEqualMsg(len(qs), 2, "stud8's queries")
        q = qs[qid]
        self.assertIs(q["resolved"], True, "resolved flag")
        self.assertEqualMsg([(r["author"], r["text"]) for r in q["replies"]],
                            [("teach1", "Yes, it is.")], "replies")
        other = [x for x in qs.values() if x["id"] != qid][0]
        self.assertEqualMsg(other["title"], "Second question", "default title = first line of the text")
        self.assertIs(other["resolved"], False)
        res = self.ok(s.run("queries"), "queries")
        for want in ("#%d [resolved] CS101: Deadline?" % qid, "Yes, it is.", "teach1",
                     "[open] CS101: Second question"):
            self.assertIn(want, res.out, "queries output: expected %r in %r" % (want, res.out))
        # another student sees none of these
        doc = self.ok(self.w["stud2"].run("queries", json=True))
        self.assertFalse([q for q in doc["queries"] if q["student"] != "stud2"],
                         "stud2 sees queries of others: %r" % doc["queries"])

    # ---- materials --------------------------------------------------------

    def test_materials_and_download(self):
        t = self.w["teach1"]
        data = b"%PDF-1.4\n\x00\x01\x02\xff binary \x00 material\n" * 100
        path = self.write("slides.pdf", data)
        up = self.ok(t.run("upload", "--course", "CS101", "--title", "Week 1 slides", path, json=True))
        mid = up["id"]
        self.ok(self.w["teach2"].run("upload", "--course", "MA201", "--title", "Other",
                                     self.write("other.txt", b"x")))
        s = self.w["stud1"]
        doc = self.ok(s.run("materials", json=True), "materials --json")
        mats = {m["id"]: m for m in doc["materials"]}
        self.assertIn(mid, mats, "the CS101 material is listed")
        self.assertTrue(all(m["course"] == "CS101" for m in mats.values()),
                        "stud1 sees only CS101 materials: %r" % [m["course"] for m in mats.values()])
        m = mats[mid]
        self.assertEqualMsg((m["title"], m["file_name"], m["size"], m["sha256"], m["uploaded_by"]),
                            ("Week 1 slides", "slides.pdf", len(data), sha256_hex(data), "teach1"),
                            "material (title, file, size, sha256, uploader)")
        doc = self.ok(s.run("materials", "--course", "CS101", json=True))
        self.assertIn(mid, [x["id"] for x in doc["materials"]])
        res = self.ok(s.run("materials"))
        self.assertIn("Week 1 slides", res.out)

        out = os.path.join(self.files, "dl-out.pdf")
        res = self.ok(s.run("download", mid, "-o", out), "download -o")
        self.assertIn("saved material %d to %s" % (mid, out), res.out)
        with open(out, "rb") as f:
            self.assertTrue(f.read() == data, "download -o: bytes differ")
        # default name, in the current directory; never replacing a file
        cwd = os.path.join(self.files, "dl")
        os.makedirs(cwd)
        doc = self.ok(s.run("download", mid, json=True, cwd=cwd), "download (default name)")
        self.assertEqualMsg(doc["path"], "slides.pdf", "download --json path")
        self.assertEqualMsg(doc["sha256"], sha256_hex(data), "download --json sha256")
        with open(os.path.join(cwd, "slides.pdf"), "rb") as f:
            self.assertTrue(f.read() == data, "download to the default name: bytes differ")
        res = s.run("download", mid, cwd=cwd, json=True)
        self.refused(res, "ALREADY_EXISTS", "download over an existing file without -o")
        self.assertRc(s.run("download", mid, cwd=cwd), 1, "download over an existing file (human)")
        # -o replaces
        with open(out, "wb") as f:
            f.write(b"old")
        self.ok(s.run("download", mid, "-o", out))
        with open(out, "rb") as f:
            self.assertTrue(f.read() == data, "download -o over an existing file: bytes differ")
        # -o - writes to stdout
        res = s.run("download", mid, "-o", "-", binary=True)
        self.assertRc(res, 0, "download -o -")
        self.assertTrue(res.raw_out == data, "download -o -: stdout differs from the file")
        self.refused(s.run("download", 999999), "NOT_FOUND", "download of an unknown material")

    # ---- fetching one's own submission -------------------------------------

    def test_fetch_own_submission(self):
        a = self.w.create_assignment(title="Fetch back")
        s = self.new_student("fetcher")
        data = b"\x00my work\xff\n" * 50
        mine = self.ok(s.run("submit", a["id"], self.write("work.bin", data), json=True))
        other = self.ok(self.w["stud2"].run("submit", a["id"], self.write("theirs.txt", b"theirs"),
                                            json=True))
        out = os.path.join(self.files, "fetched-own.bin")
        res = self.ok(s.run("fetch", mine["id"], "-o", out), "fetch -o")
        self.assertIn("saved submission %d to %s" % (mine["id"], out), res.out)
        with open(out, "rb") as f:
            self.assertTrue(f.read() == data, "fetch -o: the bytes differ from those handed in")
        # default name, in the current directory; never replacing a file
        cwd = os.path.join(self.files, "fetch-cwd")
        os.makedirs(cwd)
        doc = self.ok(s.run("fetch", mine["id"], json=True, cwd=cwd), "fetch (default name)")
        self.assertEqualMsg((doc["path"], doc["sha256"], doc["size"]),
                            ("work.bin", sha256_hex(data), len(data)), "fetch --json (path, sha256, size)")
        self.assertNotIn("data", doc, "fetch --json leaves the bytes out")
        with open(os.path.join(cwd, "work.bin"), "rb") as f:
            self.assertTrue(f.read() == data, "fetch to the default name: the bytes differ")
        self.refused(s.run("fetch", mine["id"], cwd=cwd, json=True), "ALREADY_EXISTS",
                     "fetch over an existing file without -o")
        # someone else's, and one that does not exist
        theirs = os.path.join(self.files, "not-mine.txt")
        self.refused(s.run("fetch", other["id"], "-o", theirs, json=True), "PERMISSION_DENIED",
                     "fetch another student's submission", in_message="not yours")
        self.assertFalse(os.path.exists(theirs), "nothing saved of another student's submission")
        self.refused(s.run("fetch", 999999, json=True), "NOT_FOUND", "fetch an unknown submission")
        self.assertRc(s.run("fetch"), 2, "fetch without SUBMISSION_ID")

    # ---- extensions ------------------------------------------------------------

    def test_assignments_show_my_extended_cutoff(self):
        now = int(time.time())
        due, cutoff, until = now - 7200, now - 3600, now + 86400
        a = self.w.create_assignment(title="Extended", due=due, extra=["--cutoff", iso(cutoff)])
        s = self.new_student("extended1")
        self.ok(self.w["teach1"].run("extend", "--assignment", a["id"], "--student", "extended1",
                                     "--until", iso(until)), "extend past the cut-off")
        doc = self.ok(s.run("assignments", json=True))
        mine = [x for x in doc["assignments"] if x["id"] == a["id"]][0]
        self.assertEqualMsg((mine["due"], mine["cutoff"], mine["my_due"], mine["my_cutoff"]),
                            (iso(due), iso(cutoff), iso(until), iso(until)),
                            "the extended student's (due, cutoff, my_due, my_cutoff)")
        res = self.ok(s.run("assignments"))
        row = [l for l in res.out.splitlines() if l.split()[:1] == [str(a["id"])]]
        self.assertEqualMsg(len(row), 1, "one row for assignment %d in %r" % (a["id"], res.out))
        self.assertEqualMsg(row[0].count(iso(until)), 2, "DUE and CUTOFF show the extension: %r" % row[0])
        self.assertNotIn(iso(cutoff), row[0], "the assignment's own cut-off is not shown to her")
        doc = self.ok(self.w["stud1"].run("assignments", json=True))
        theirs = [x for x in doc["assignments"] if x["id"] == a["id"]][0]
        self.assertEqualMsg((theirs["my_due"], theirs["my_cutoff"]), (iso(due), iso(cutoff)),
                            "a student without an extension: (my_due, my_cutoff)")

    # ---- the program that fits the role -------------------------------------

    def sessions_of(self, user):
        return lmstest.db_rows(self.node, "SELECT count(*) FROM sessions WHERE user = '%s'" % user)[0][0]

    def test_login_refuses_a_program_that_does_not_fit_the_role(self):
        cases = [("lms-student", "teach1", World.PW, "teach1 is an instructor; lms-student is for students",
                  "Use: lms-instructor login teach1"),
                 ("lms-student", lmstest.ADMIN, lmstest.ADMIN_PW,
                  "%s is an admin; lms-student is for students" % lmstest.ADMIN,
                  "Use: lms-admin login %s" % lmstest.ADMIN),
                 ("lms-instructor", "stud1", World.PW, "stud1 is a student; lms-instructor is for instructors",
                  "Use: lms-student login stud1"),
                 ("lms-admin", "teach1", World.PW, "teach1 is an instructor; lms-admin is for admins",
                  "Use: lms-instructor login teach1")]
        for prog, name, pw, why, use in cases:
            with self.subTest(prog=prog, user=name):
                before = self.sessions_of(name)
                c = self.node.cli(prog)
                res = c.login(name, pw)
                self.assertRc(res, 1, "%s login %s" % (prog, name))
                self.assertIn(why, res.err, "the refusal names the role")
                self.assertIn(use, res.err, "the refusal names the program that fits")
                self.assertFalse(os.path.exists(os.path.join(c.home, "session")),
                                 "no session file after a refused login")
                self.assertEqualMsg(self.sessions_of(name), before,
                                    "%s's sessions on the server (the new one was ended)" % name)
                self.assertRc(c.run("whoami"), 4, "whoami after a refused login")
                self.refused(c.login(name, pw, json=True), "PERMISSION_DENIED", "%s login --json" % prog)
        # the program that fits still logs in
        self.ok(self.node.cli("lms-instructor").login("teach1", World.PW), "lms-instructor login teach1")

    def test_an_instructor_session_in_lms_student_says_why(self):
        """The session file is shared by the programs: an instructor's session
        used through lms-student gets an answer that names the problem."""
        t = self.w.login("lms-instructor", "teach1")
        s = self.node.cli(PROG, home=t.home)
        self.refused(s.run("grades", json=True), "INVALID_ARGUMENT", "grades as an instructor",
                     in_message="teach1 is not enrolled as a student in any course")
        self.refused(s.run("submissions", json=True), "INVALID_ARGUMENT",
                     "submissions as an instructor",
                     in_message="teach1 is not enrolled as a student in any course")

    # ---- course codes ignore case ---------------------------------------------

    def test_course_codes_ignore_case(self):
        a = self.w.create_assignment(title="Any case")
        s = self.w["stud1"]
        doc = self.ok(s.run("assignments", "--course", "cs101", json=True), "assignments --course cs101")
        self.assertIn(a["id"], [x["id"] for x in doc["assignments"]])
        self.assertEqualMsg({x["course"] for x in doc["assignments"]}, {"CS101"},
                            "the course as created, whatever the case asked")
        doc = self.ok(s.run("ask", "--course", "Cs101", "--instructor", "which room?", json=True),
                      "ask --course Cs101")
        self.assertEqualMsg(doc["course"], "CS101", "the question's course")
        self.refused(self.w.admin.run("create-course", "cs101", "--title", "Again", json=True),
                     "ALREADY_EXISTS", "create-course cs101 next to CS101",
                     in_message="already exists as CS101")
        self.refused(s.run("assignments", "--course", "cs999", json=True), "NOT_FOUND",
                     "an unknown course in lower case", in_message="course cs999 does not exist")

    # ---- the CLI contract ---------------------------------------------------

    def test_help_version_usage(self):
        c = self.node.cli(PROG)
        for cmd in COMMANDS:
            res = c.run(cmd, "--help")
            self.assertRc(res, 0, "%s --help" % cmd)
            self.assertIn("usage: %s %s" % (PROG, cmd), res.out, "%s --help prints its usage" % cmd)
            self.assertRc(c.run(cmd, "-h"), 0, "%s -h" % cmd)
        res = c.run("--help")
        self.assertRc(res, 0, "--help")
        for cmd in COMMANDS:
            self.assertIn(cmd, res.out, "--help lists %s" % cmd)
        res = c.run("--version")
        self.assertRc(res, 0, "--version")
        self.assertRegex(res.out, r"^%s \d+\.\d+\.\d+" % PROG)
        self.assertRc(c.run("frobnicate"), 2, "unknown subcommand")
        self.assertRc(c.run(), 2, "no subcommand")
        res = c.run("courses", "--bogus", json=True)
        self.assertRc(res, 2, "unknown option")
        self.assertEqualMsg(res.status, "INVALID_ARGUMENT", "--json status of a usage error")
        self.assertRc(c.run("submit", "abc", "/etc/hostname"), 2, "non-numeric assignment id")
        self.assertRc(c.run("submit", "1"), 2, "submit without FILE")
        self.assertRc(c.run("download"), 2, "download without MATERIAL_ID")
        self.assertRc(c.run("login"), 2, "login without NAME")
        self.assertRc(c.run("ask", "--instructor", "text"), 2, "ask without --course")
        self.assertRc(c.run("create-assignment"), 2, "an instructor command in lms-student")

    def test_terminal_password_prompt_and_progress_bar(self):
        """login NAME asks on the terminal without echo; transfers of more
        than a few MB show a progress bar there, and never in a pipe."""
        c = self.node.cli(PROG)
        secret = World.PW
        rc, shown = c.run_tty("login", "stud1", answers=[secret])
        self.assertEqualMsg(rc, 0, "login on a terminal (shown: %r)" % shown)
        self.assertIn("Password:", shown, "the prompt")
        self.assertNotIn(secret, shown, "the password must not be echoed")
        self.assertIn("logged in as stud1", shown)
        rc, shown = c.run_tty("login", "stud1", answers=["wrong-password"])
        self.assertEqualMsg(rc, 4, "a wrong password typed on the terminal (shown: %r)" % shown)
        self.assertNotIn("wrong-password", shown, "the password must not be echoed")
        res = c.run("login", "stud1", input=secret + "\n")
        self.assertRc(res, 2, "login without a terminal and without --password-stdin")

        a = self.w.create_assignment(title="Big file")
        data = os.urandom(6 << 20)
        path = self.write("big.bin", data)
        rc, shown = c.run_tty("submit", a["id"], path)
        self.assertEqualMsg(rc, 0, "submit of 6 MiB on a terminal")
        self.assertRegex(shown, r"sending\s+\[#+\]\s+100%", "a progress bar while sending: %r" % shown[-300:])
        res = c.run("submit", a["id"], path)
        self.ok(res, "submit of 6 MiB in a pipe")
        self.assertNotIn("sending", res.err, "no progress bar when stderr is not a terminal")
        up = self.ok(self.w["teach1"].run("upload", "--course", "CS101", "--title", "Big", path, json=True))
        out = os.path.join(self.files, "big-dl.bin")
        rc, shown = c.run_tty("download", up["id"], "-o", out)
        self.assertEqualMsg(rc, 0, "download of 6 MiB on a terminal")
        self.assertRegex(shown, r"receiving\s+\[#+\]\s+100%", "a progress bar while receiving")
        with open(out, "rb") as f:
            self.assertTrue(f.read() == data, "6 MiB download: bytes differ")

    def test_unreachable_server_exit_3(self):
        port = lmstest.free_port()
        c = self.w["stud1"]
        res = c.run("-s", "127.0.0.1:%d" % port, "courses", server=False,
                    env={"LMS_CLIENT_TIMEOUT": "1"})
        self.assertRc(res, 3, "courses with no server listening")
        res = c.run("-s", "127.0.0.1:%d" % port, "courses", server=False, json=True,
                    env={"LMS_CLIENT_TIMEOUT": "1"})
        self.assertRc(res, 3, "courses --json with no server listening")
        self.assertEqualMsg(res.status, "UNAVAILABLE", "--json status when unreachable")
        # LMS_SERVERS is the default for -s
        res = c.run("courses", server=False, env={"LMS_SERVERS": self.node.addr})
        self.ok(res, "courses via $LMS_SERVERS")


if __name__ == "__main__":
    unittest.main()
