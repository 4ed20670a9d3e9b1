# SPDX-License-Identifier: MIT
"""The authorization matrix, end to end: for every write and read operation
of the CLIs, every (role, operation) pair that must be forbidden is refused
by the server (exit 1, PERMISSION_DENIED in the --json status) and leaves
the stored data unchanged, and the allowed pairs succeed.

The actors (World): admin (root); teach1 teaches CS101, teach2 teaches MA201
(the instructor of another course); stud1 and stud2 are students of CS101
(stud2 is "another student"); stud3 is a student of MA201 (the student of
another course); ta1 is a teaching assistant of CS101 (enroll --as ta) and
a student of MA201: it grades and answers in CS101, changes none of its
settings, and is a plain student in MA201. Every operation targets CS101's objects. A forbidden pair
is tried through the program that offers the operation, run with the
actor's session (as a student would who got hold of lms-instructor): the
server decides, not the CLI.
"""

import itertools
import os
import unittest

import lmstest
from lmstest import E2ETestCase, World

ACTORS = ["admin", "teach1", "teach2", "stud1", "stud2", "stud3", "ta1"]
PW = World.PW


class AuthzTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(name="authz")
        w = cls.w = World(cls.node)
        w.add_user("ta1", "student")
        w.enroll("CS101", "ta1", "ta")
        w.enroll("MA201", "ta1", "student")
        w.clis["ta1"] = w.login("lms-instructor", "ta1")
        cls.homes = {"admin": w.admin.home}
        cls.homes.update({n: c.home for n, c in w.clis.items()})
        cls.files = os.path.join(cls.node.dir, "files")
        os.makedirs(cls.files)
        cls.file = os.path.join(cls.files, "work.txt")
        with open(cls.file, "wb") as f:
            f.write(b"some work\x00\n")
        cls.csv = os.path.join(cls.files, "users.csv")
        # CS101's objects: an assignment, stud1's submission (graded), a
        # query of stud1, a material
        cls.A = w.create_assignment(title="Authz HW")["id"]
        cls.S1 = cls._ok(w["stud1"].run("submit", cls.A, cls.file, json=True))["id"]
        cls._ok(w["teach1"].run("grade", cls.S1, "--grade", "50", "--feedback", "secret feedback"))
        cls.Q1 = cls._ok(w["stud1"].run("ask", "--course", "CS101", "--instructor",
                                        "private question", json=True))["id"]
        cls.M1 = cls._ok(w["teach1"].run("upload", "--course", "CS101", "--title", "Slides",
                                         cls.file, json=True))["id"]
        cls.N1 = cls._ok(w["teach1"].run("announce", "--course", "CS101", "Exam next week",
                                         json=True))["id"]
        # MA201's too, so that "nothing leaks" is not trivially true
        cls.A3 = w.create_assignment(teacher="teach2", course="MA201", title="Other HW")["id"]
        cls.S3 = cls._ok(w["stud3"].run("submit", cls.A3, cls.file, json=True))["id"]
        cls.admin_conn = cls.node.raw()
        cls.admin_token = cls.admin_conn.login(lmstest.ADMIN, lmstest.ADMIN_PW)
        cls.teach_conn = cls.node.raw()
        cls.teach_token = cls.teach_conn.login("teach1", PW)
        cls.counter = itertools.count(1)

    @classmethod
    def tearDownClass(cls):
        cls.admin_conn.close()
        cls.teach_conn.close()
        cls.node.cleanup()

    @staticmethod
    def _ok(res):
        if res.rc != 0:
            raise AssertionError("setup: %r" % res)
        return res.json

    # ---- helpers ----------------------------------------------------------

    def run_as(self, actor, prog, args, input=None):
        return lmstest.Cli(self.node, prog, home=self.homes[actor]).run(*args, json=True, input=input)

    def snapshot(self):
        """Everything stored that the operations below could change, as the
        admin and CS101's instructor list it (raw protocol: fast)."""
        snap = {}
        a, t = (self.admin_conn, self.admin_token), (self.teach_conn, self.teach_token)
        for key, (conn, tok), req in [
            ("users", a, {"list_users": {}}),
            ("courses", a, {"list_courses": {}}),
            ("assignments", a, {"list_assignments": {}}),
            ("materials", a, {"list_materials": {}}),
            ("submissions", t, {"list_submissions": {"assignment_id": self.A}}),
            ("grades", t, {"list_grades": {"course": "CS101"}}),
            ("queries", t, {"list_queries": {"all": True}}),
            ("export", t, {"export_grades": {"course": "CS101"}}),
            ("announcements", a, {"list_announcements": {}}),
        ]:
            req = dict(req, token=tok)
            r = conn.call(req)
            self.assertStatus(r, "OK", "snapshot %s" % key)
            body = {k: v for k, v in r.items() if k not in ("id", "status", "message", "leader")}
            snap[key] = body
        # enrolments, as each member sees their courses
        for actor in ACTORS[1:]:
            doc = self.run_as(actor, "lms-student", ["courses"]).json
            snap["courses of " + actor] = doc
        return snap

    def check_write(self, prog, args, allowed, input=None, what=None):
        """args(actor) -> argv. Every actor not in allowed is refused with
        PERMISSION_DENIED and changes nothing; then each allowed one succeeds."""
        what = what or (prog + " " + args("x")[0])
        for actor in ACTORS:
            if actor in allowed:
                continue
            with self.subTest(op=what, actor=actor):
                before = self.snapshot()
                res = self.run_as(actor, prog, args(actor), input=input)
                self.refused(res, "PERMISSION_DENIED", "%s as %s" % (what, actor))
                after = self.snapshot()
                for key in before:
                    self.assertEqual(after[key], before[key],
                                     "%s as %s (refused) changed %s" % (what, actor, key))
        docs = {}
        for actor in allowed:
            with self.subTest(op=what, actor=actor):
                docs[actor] = self.ok(self.run_as(actor, prog, args(actor), input=input),
                                      "%s as %s (allowed)" % (what, actor))
        return docs

    def check_read(self, prog, args, allowed, denied, check=None, what=None):
        """Every actor in denied is refused with PERMISSION_DENIED; every
        actor in allowed succeeds and check(actor, doc) holds."""
        what = what or " ".join([prog] + [str(a) for a in args])
        self.assertEqual(sorted(allowed + denied), sorted(ACTORS), "matrix of %s is complete" % what)
        for actor in denied:
            with self.subTest(op=what, actor=actor):
                self.refused(self.run_as(actor, prog, args), "PERMISSION_DENIED",
                             "%s as %s" % (what, actor))
        for actor in allowed:
            with self.subTest(op=what, actor=actor):
                doc = self.ok(self.run_as(actor, prog, args), "%s as %s (allowed)" % (what, actor))
                if check:
                    check(actor, doc)

    def fresh(self, prefix):
        return "%s%d" % (prefix, next(self.counter))

    # ---- writes -------------------------------------------------------------

    def test_write_add_user(self):
        self.check_write("lms-admin", lambda a: ["add-user", self.fresh("nu"), "--role", "student",
                                                 "--password-stdin"], {"admin"}, input=PW + "\n")

    def test_write_import_users(self):
        def args(actor):
            with open(self.csv, "w") as f:
                f.write("%s,student,Imported,%s\n" % (self.fresh("imp"), PW))
            return ["import-users", self.csv]
        self.check_write("lms-admin", args, {"admin"})

    def test_write_create_course(self):
        self.check_write("lms-admin", lambda a: ["create-course", self.fresh("NEW"), "--title", "T"],
                         {"admin"})

    def test_write_enroll(self):
        name = self.fresh("enr")
        self.w.add_user(name, "student")
        self.check_write("lms-admin", lambda a: ["enroll", "CS101", name, "--as", "student"], {"admin"})

    def test_write_create_assignment(self):
        self.check_write("lms-instructor", lambda a: ["create-assignment", "--course", "CS101", "--title",
                                                      "by " + a, "--due", "2031-01-01"], {"teach1"})

    def test_write_submit(self):
        docs = self.check_write("lms-student", lambda a: ["submit", self.A, self.file], {"stud1", "stud2"})
        self.assertEqualMsg(docs["stud2"]["student"], "stud2", "stud2's submission is stud2's")

    def test_write_grade(self):
        self.check_write("lms-instructor", lambda a: ["grade", self.S1, "--grade", "50",
                                                      "--feedback", "secret feedback"],
                         {"teach1", "ta1"})

    def test_write_release(self):
        self.check_write("lms-instructor", lambda a: ["release", "--assignment", self.A], {"teach1"})

    def test_write_extend(self):
        self.check_write("lms-instructor", lambda a: ["extend", "--assignment", self.A, "--student",
                                                      "stud2", "--until", "2031-01-01"], {"teach1"})

    def test_write_ask(self):
        self.check_write("lms-student", lambda a: ["ask", "--course", "CS101", "--instructor",
                                                   "question of " + a], {"stud1", "stud2"})

    def test_write_reply(self):
        self.check_write("lms-instructor", lambda a: ["reply", self.Q1, "reply of " + a],
                         {"teach1", "stud1", "ta1"})

    def test_write_resolve(self):
        self.check_write("lms-instructor", lambda a: ["resolve", self.Q1],
                         {"teach1", "stud1", "ta1"})

    def test_write_upload(self):
        self.check_write("lms-instructor", lambda a: ["upload", "--course", "CS101", "--title",
                                                      "by " + a, self.file], {"teach1"})

    def test_write_reset_password(self):
        name = self.fresh("reset")
        self.w.add_user(name, "student")
        self.check_write("lms-admin", lambda a: ["reset-password", name, "--password-stdin"],
                         {"admin"}, input="one-time-pw-1\n")

    def test_write_disable_enable_user(self):
        name = self.fresh("dis")
        self.w.add_user(name, "student")
        self.check_write("lms-admin", lambda a: ["disable-user", name], {"admin"})
        self.check_write("lms-admin", lambda a: ["enable-user", name], {"admin"})

    # Correcting an assignment is a course setting: its instructors only.
    # Admins stand outside courses (they enrol an instructor who does it);
    # TAs and the instructors of other courses are refused.

    def fresh_assignment(self, title):
        return self._ok(self.w["teach1"].run("create-assignment", "--course", "CS101",
                                             "--title", self.fresh(title), "--due",
                                             "2031-01-01", json=True))["id"]

    def test_write_edit_assignment(self):
        a = self.fresh_assignment("edit")
        self.check_write("lms-instructor", lambda actor: ["edit-assignment", a, "--description",
                                                          "by " + actor, "--late-penalty", "5"],
                         {"teach1"})

    def test_write_hide_unhide_assignment(self):
        a = self.fresh_assignment("hide")
        self.check_write("lms-instructor", lambda actor: ["hide-assignment", a], {"teach1"})
        self.check_write("lms-instructor", lambda actor: ["unhide-assignment", a], {"teach1"})

    def test_write_delete_assignment(self):
        a = self.fresh_assignment("delete")
        self.check_write("lms-instructor", lambda actor: ["delete-assignment", a], {"teach1"})
    def test_write_replace_material(self):
        self.check_write("lms-instructor", lambda a: ["replace-material", self.M1, self.file,
                                                      "--title", "Slides by " + a], {"teach1"})

    def test_write_delete_material(self):
        m = self._ok(self.w["teach1"].run("upload", "--course", "CS101", "--title", "To delete",
                                          self.file, json=True))["id"]
        self.check_write("lms-instructor", lambda a: ["delete-material", m], {"teach1"})

    def test_write_unenroll(self):
        name = self.fresh("unenr")
        self.w.add_user(name, "student")
        self.w.enroll("CS101", name, "student")
        self.check_write("lms-admin", lambda a: ["unenroll", "CS101", name], {"admin"})

    def test_write_announce(self):
        # a course's instructors and admins; not its TA (an announcement
        # speaks for the course), not another course's instructor
        self.check_write("lms-instructor", lambda a: ["announce", "--course", "CS101",
                                                      "from " + a], {"teach1", "admin"})

    # ---- reads --------------------------------------------------------------

    def test_read_grade_history(self):
        def check(actor, doc):
            self.assertIn("secret feedback", [g["feedback"] for g in doc["grades"]],
                          "%s sees the grade's feedback" % actor)
        self.check_read("lms-instructor", ["grade-history", self.S1], ["teach1", "ta1"],
                        ["admin", "teach2", "stud1", "stud2", "stud3"], check)

    def test_read_material_history_and_versions(self):
        out = os.path.join(self.files, "material-v1")
        members, others = ["admin", "teach1", "stud1", "stud2", "ta1"], ["teach2", "stud3"]
        self.check_read("lms-student", ["material-history", self.M1], members, others,
                        lambda a, d: self.assertEqualMsg(d["versions"][0]["version"], 1,
                                                         "the first version"))
        self.check_read("lms-student", ["download", self.M1, "--version", "1", "-o", out],
                        members, others)

    def test_read_users(self):
        self.check_read("lms-admin", ["users"], ["admin"],
                        ["teach1", "teach2", "stud1", "stud2", "stud3", "ta1"])

    def test_read_courses_whoami(self):
        expect = {"teach1": ["CS101"], "teach2": ["MA201"], "stud1": ["CS101"], "stud2": ["CS101"],
                  "stud3": ["MA201"], "ta1": ["CS101", "MA201"]}

        def check(actor, doc):
            codes = sorted(c["code"] for c in doc["courses"])
            if actor == "admin":
                self.assertTrue({"CS101", "MA201"} <= set(codes), "the admin sees every course")
            else:
                self.assertEqualMsg(codes, expect[actor], "courses of %s" % actor)
        self.check_read("lms-student", ["courses"], ACTORS, [], check)
        self.check_read("lms-student", ["whoami"], ACTORS, [],
                        lambda a, d: self.assertEqualMsg(d["user"]["name"],
                                                         lmstest.ADMIN if a == "admin" else a, "whoami"))

    def test_read_assignments(self):
        def check(actor, doc):
            self.assertIn(self.A, [x["id"] for x in doc["assignments"]], "%s sees CS101's assignment" % actor)
        self.check_read("lms-student", ["assignments", "--course", "CS101"],
                        ["admin", "teach1", "stud1", "stud2", "ta1"], ["teach2", "stud3"], check)

        def own_only(actor, doc):
            courses = {x["course"] for x in doc["assignments"]}
            if actor != "admin":
                mine = {"ta1": {"CS101", "MA201"}}.get(
                    actor, {"CS101" if actor in ("teach1", "stud1", "stud2") else "MA201"})
                self.assertTrue(courses <= mine,
                                "%s sees assignments of courses it is not in: %r" % (actor, courses))
        self.check_read("lms-student", ["assignments"], ACTORS, [], own_only)

    def test_read_submissions(self):
        def check(actor, doc):
            students = {x["student"] for x in doc["submissions"]}
            if actor in ("teach1", "ta1"):
                self.assertIn("stud1", students, "%s sees stud1's submission" % actor)
            else:
                self.assertTrue(students <= {actor},
                                "%s sees submissions of %r" % (actor, students - {actor}))
            if actor == "stud1":
                self.assertIn(self.S1, [x["id"] for x in doc["submissions"]])
        self.check_read("lms-instructor", ["submissions", "--assignment", self.A],
                        ["teach1", "stud1", "stud2", "ta1"], ["teach2", "admin", "stud3"], check)
        # a student's own list, without --assignment: nothing of the others
        for actor in ("stud1", "stud2", "stud3"):
            doc = self.ok(self.run_as(actor, "lms-student", ["submissions"]))
            others = {x["student"] for x in doc["submissions"]} - {actor}
            self.assertFalse(others, "%s's submissions list shows %r" % (actor, others))

    def test_read_fetch(self):
        out = os.path.join(self.files, "fetched")

        def check(actor, doc):
            self.assertEqualMsg(doc["student"], "stud1", "fetched submission's student")
        self.check_read("lms-instructor", ["fetch", self.S1, "-o", out],
                        ["teach1", "stud1", "ta1"], ["teach2", "stud2", "stud3", "admin"], check,
                        what="fetch stud1's submission")
        self.check_read("lms-instructor", ["fetch", self.S3, "-o", out],
                        ["teach2", "stud3"], ["teach1", "stud1", "stud2", "admin", "ta1"],
                        what="fetch stud3's submission (MA201)")

    def test_read_grades(self):
        def check(actor, doc):
            entries = [(g["student"], g["submission_id"]) for g in doc["grades"]]
            if actor in ("teach1", "ta1"):
                self.assertIn(("stud1", self.S1), entries, "%s sees stud1's grade" % actor)
            elif actor == "stud1":
                self.assertIn(("stud1", self.S1), entries, "stud1 sees its own grade")
            else:
                self.assertFalse([e for e in entries if e[0] != actor],
                                 "%s sees grades of others: %r" % (actor, entries))
            if actor not in ("teach1", "stud1", "ta1"):
                self.assertNotIn("secret feedback", str(doc), "%s sees stud1's feedback" % actor)
        self.check_read("lms-student", ["grades", "--course", "CS101"],
                        ["teach1", "stud1", "stud2", "ta1"], ["teach2", "admin", "stud3"], check)
        for actor in ("stud2", "stud3"):
            doc = self.ok(self.run_as(actor, "lms-student", ["grades"]))
            self.assertFalse([g for g in doc["grades"] if g["student"] != actor],
                             "%s's grades show others: %r" % (actor, doc["grades"]))

    def test_read_export_grades(self):
        self.check_read("lms-instructor", ["export-grades", "--course", "CS101"], ["teach1"],
                        ["teach2", "stud1", "stud2", "stud3", "admin", "ta1"],
                        lambda a, d: self.assertIn("stud1", d["csv"]))

    def test_read_to_grade(self):
        """The grading queue: CS101's instructor, its TA and the admin;
        nobody else, and a refusal changes nothing. Without --course, a
        queue holds the caller's own courses only (ta1 studies in MA201)."""
        def check(actor, doc):
            self.assertTrue({it["course"] for it in doc["queue"]} <= {"CS101"},
                            "%s's queue of CS101 holds other courses" % actor)
            ids = [it["submission"]["id"] for it in doc["queue"]]
            self.assertNotIn(self.S1, ids, "graded stud1's submission is in the queue")
        before = self.snapshot()
        self.check_read("lms-instructor", ["to-grade", "--course", "CS101"],
                        ["admin", "teach1", "ta1"], ["teach2", "stud1", "stud2", "stud3"], check)
        for actor in ("stud1", "stud3"):
            self.refused(self.run_as(actor, "lms-instructor", ["to-grade"]), "PERMISSION_DENIED",
                         "to-grade as %s" % actor)
        self.assertEqual(self.snapshot(), before, "refused to-grade requests changed something")
        doc = self.ok(self.run_as("teach2", "lms-instructor", ["to-grade"]))
        self.assertEqualMsg({it["course"] for it in doc["queue"]}, {"MA201"}, "teach2's queue")
        self.assertIn(self.S3, [it["submission"]["id"] for it in doc["queue"]],
                      "stud3's ungraded submission in teach2's queue")
        for actor in ("teach1", "ta1"):
            doc = self.ok(self.run_as(actor, "lms-instructor", ["to-grade"]))
            self.assertNotIn(self.S3, [it["submission"]["id"] for it in doc["queue"]],
                             "%s's queue shows MA201's submission" % actor)

    def test_read_assignment(self):
        def check(actor, doc):
            self.assertEqualMsg((doc["id"], doc["course"]), (self.A, "CS101"), "the assignment")
            if actor == "stud1":
                self.assertTrue(doc["my_attempts"] >= 1, "stud1's attempts: %r" % doc["my_attempts"])
            if actor in ("admin", "teach1", "ta1"):
                self.assertEqualMsg(doc["my_attempts"], 0, "%s has no attempts of its own" % actor)
        before = self.snapshot()
        self.check_read("lms-student", ["assignment", self.A],
                        ["admin", "teach1", "stud1", "stud2", "ta1"], ["teach2", "stud3"], check)
        self.assertEqual(self.snapshot(), before, "refused assignment requests changed something")

    def test_read_fetch_all(self):
        """fetch-all is built from submissions + fetch, so the server's rules
        for those decide: CS101's instructor and TA get every student's latest,
        a student only their own; the others are refused and get no
        directory."""
        before = self.snapshot()
        for actor in ("teach2", "admin", "stud3"):
            with self.subTest(op="fetch-all", actor=actor):
                out = os.path.join(self.files, "fetch-all-" + actor)
                self.refused(self.run_as(actor, "lms-instructor",
                                         ["fetch-all", "--assignment", self.A, out]),
                             "PERMISSION_DENIED", "fetch-all as %s" % actor)
                self.assertFalse(os.path.exists(out), "a refused fetch-all made %s" % out)
        self.assertEqual(self.snapshot(), before, "refused fetch-all requests changed something")
        for actor in ("teach1", "ta1", "stud1", "stud2"):
            with self.subTest(op="fetch-all", actor=actor):
                out = os.path.join(self.files, "fetch-all-%s-%d" % (actor, next(self.counter)))
                doc = self.ok(self.run_as(actor, "lms-instructor",
                                          ["fetch-all", "--assignment", self.A, out]),
                              "fetch-all as %s" % actor)
                students = {f["student"] for f in doc["files"]}
                if actor in ("teach1", "ta1"):
                    self.assertIn("stud1", students, "%s gets stud1's submission" % actor)
                else:
                    self.assertTrue(students <= {actor}, "%s gets the files of %r"
                                    % (actor, students - {actor}))

    def test_read_queries(self):
        def check(actor, doc):
            askers = {q["student"] for q in doc["queries"]}
            if actor in ("teach1", "ta1"):
                self.assertIn(self.Q1, [q["id"] for q in doc["queries"]],
                              "%s sees stud1's query" % actor)
            else:
                self.assertTrue(askers <= {actor}, "%s sees queries of %r" % (actor, askers - {actor}))
                self.assertNotIn("private question", str(doc) if actor != "stud1" else "")
        self.check_read("lms-instructor", ["queries", "--course", "CS101", "--all"],
                        ["teach1", "stud1", "stud2", "ta1"], ["teach2", "admin", "stud3"], check)
        for actor in ("teach2", "stud2", "stud3"):
            prog = "lms-instructor" if actor.startswith("teach") else "lms-student"
            args = ["queries", "--all"] if prog == "lms-instructor" else ["queries"]
            doc = self.ok(self.run_as(actor, prog, args))
            self.assertNotIn(self.Q1, [q["id"] for q in doc["queries"]],
                             "%s's queries include stud1's private one" % actor)

    def test_read_materials_and_download(self):
        out = os.path.join(self.files, "material")
        self.check_read("lms-student", ["materials", "--course", "CS101"],
                        ["admin", "teach1", "stud1", "stud2", "ta1"], ["teach2", "stud3"],
                        lambda a, d: self.assertIn(self.M1, [m["id"] for m in d["materials"]]))
        self.check_read("lms-student", ["download", self.M1, "-o", out],
                        ["admin", "teach1", "stud1", "stud2", "ta1"], ["teach2", "stud3"])
        for actor in ("teach2", "stud3"):
            doc = self.ok(self.run_as(actor, "lms-student", ["materials"]))
            self.assertNotIn(self.M1, [m["id"] for m in doc["materials"]],
                             "%s lists CS101's material" % actor)

    def test_read_announcements(self):
        self.check_read("lms-student", ["announcements", "--course", "CS101"],
                        ["admin", "teach1", "stud1", "stud2", "ta1"], ["teach2", "stud3"],
                        lambda a, d: self.assertIn(self.N1,
                                                   [x["id"] for x in d["announcements"]]))
        for actor in ("teach2", "stud3"):
            doc = self.ok(self.run_as(actor, "lms-student", ["announcements"]))
            self.assertNotIn(self.N1, [x["id"] for x in doc["announcements"]],
                             "%s lists CS101's announcement" % actor)

    def test_read_inbox(self):
        """Students only (a TA is one), each their own: stud1 sees its
        grade, nobody else sees it; stud3 nothing of CS101; the TA only
        CS101's announcements. --all: reading marks nothing."""
        def check(actor, doc):
            items = [(x["kind"], x["id"], x["course"]) for x in doc["items"]]
            grade = ("grade", self.S1, "CS101")
            if actor == "stud1":
                self.assertIn(grade, items, "stud1's own grade")
            else:
                self.assertNotIn(grade, items, "%s sees stud1's grade" % actor)
            self.assertEqualMsg(("announcement", self.N1, "CS101") in items,
                                actor != "stud3", "%s sees CS101's announcement" % actor)
            if actor == "stud3":
                self.assertFalse([x for x in items if x[2] == "CS101"], "stud3 sees CS101")
            if actor == "ta1":
                self.assertEqualMsg({x[0] for x in items if x[2] == "CS101"},
                                    {"announcement"}, "the TA's view of CS101")
            self.assertNotIn("secret feedback", str(doc))
        self.check_read("lms-student", ["inbox", "--all"], ["stud1", "stud2", "stud3", "ta1"],
                        ["admin", "teach1", "teach2"], check)

    def test_unauthenticated_everything(self):
        """Without a session every operation is refused (exit 4), on the
        server too: raw requests with no token get UNAUTHENTICATED."""
        with self.node.raw() as c:
            for req in [{"whoami": {}}, {"list_users": {}}, {"list_courses": {}},
                        {"create_course": {"code": "X1", "title": "t"}},
                        {"submit": {"assignment_id": self.A, "file_name": "f", "data": b"x"}},
                        {"fetch_submission": {"submission_id": self.S1}},
                        {"list_grades": {}}, {"download_material": {"material_id": self.M1}},
                        {"announce": {"course": "CS101", "text": "x"}}, {"inbox": {}},
                        {"list_announcements": {}}, {"inbox_seen": {"up_to": 1}},
                        {"add_user": {"name": "sneaky", "role": "ADMIN", "password": "password-1"}}]:
                r = c.call(req)
                self.assertStatus(r, "UNAUTHENTICATED", "raw %s without a token" % list(req)[0])
        self.assertNotIn("sneaky", str(self.snapshot()["users"]))


if __name__ == "__main__":
    unittest.main()
