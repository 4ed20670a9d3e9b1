# SPDX-License-Identifier: MIT
"""Announcements and the student's inbox end to end, through the real CLIs
against a real lmsd: a course with an instructor (teach1), a teaching
assistant (ta1) and students. Announcements reach the course's members
only, newest first; a TA may not post one. The inbox shows each thing that
happened for a student once (announcements, new assignments, grades they
may see, replies to their questions, extensions), marks it read once
shown, and shows nothing of courses they do not take; --all, --since,
--until and --keep-unread read without moving the mark; a held grade
appears when it is released.

Each test makes a course of its own (fresh students), so that what one
test posts never shows in another's inbox."""

import datetime
import itertools
import os
import time
import unittest

import lmstest
from lmstest import E2ETestCase, World, iso

ESC = "\x1b"


def iso_ms(ms):
    """ms since the epoch -> ISO 8601 UTC with milliseconds."""
    d = datetime.datetime.fromtimestamp(ms / 1000.0, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def kinds(doc):
    """(kind, id) of each inbox item, in the order given."""
    return [(it["kind"], it["id"]) for it in doc.get("items", [])]


class InboxTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(name="inbox")
        w = cls.w = World(cls.node)
        w.add_user("ta1", "student")
        w.enroll("CS101", "ta1", "ta")  # a TA may log in to lms-instructor
        cls.ta = w.login("lms-instructor", "ta1")
        cls.ta_student = lmstest.Cli(cls.node, "lms-student", home=cls.ta.home)
        cls.files = os.path.join(cls.node.dir, "files")
        os.makedirs(cls.files)
        cls.counter = itertools.count(1)

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    # ---- helpers ------------------------------------------------------------

    def new_course(self):
        """A course of its own: teach1 teaches it, ta1 assists, two fresh
        students take it. Returns (code, student cli, name, other student cli)."""
        n = next(self.counter)
        code = "IN%d" % n
        self.w.course(code, "Inbox course %d" % n)
        self.w.enroll(code, "teach1", "instructor")
        self.w.enroll(code, "ta1", "ta")
        clis = []
        for who in ("a", "b"):
            name = "in%d%s" % (n, who)
            self.w.add_user(name, "student")
            self.w.enroll(code, name, "student")
            clis.append(self.w.login("lms-student", name))
        return code, clis[0], "in%da" % n, clis[1]

    def file(self, data=b"my work\n"):
        path = os.path.join(self.files, "work%d.txt" % next(self.counter))
        with open(path, "wb") as f:
            f.write(data)
        return path

    def announce(self, cli, code, text, title=None):
        args = ["announce", "--course", code] + (["--title", title] if title else []) + [text]
        return self.ok(cli.run(*args, json=True), "announce in %s" % code)["id"]

    def announcements(self, cli, *args):
        return self.ok(cli.run("announcements", *args, json=True))

    def inbox(self, cli, *args):
        return self.ok(cli.run("inbox", *args, json=True), "inbox %s" % " ".join(args))

    def raw_teacher(self):
        c = self.node.raw()
        return c, c.login("teach1", World.PW)

    # ---- announcements ---------------------------------------------------------

    def test_announcements_reach_members_newest_first(self):
        code, s, _, _ = self.new_course()
        t, admin = self.w["teach1"], self.w.admin
        a1 = self.announce(t, code, "Read chapter 1 before Monday.", title="Welcome")
        a2 = self.announce(t, code.lower(), "Exam on Friday \u2713 Pr\u00fcfung am Freitag.")
        a3 = self.announce(admin, code, "Room 2 is closed; we meet in room 3.")
        for who, cli in [("student", s), ("ta", self.ta), ("instructor", t), ("admin", admin)]:
            doc = self.announcements(cli, "--course", code)
            self.assertEqualMsg([a["id"] for a in doc["announcements"]], [a3, a2, a1],
                                "announcements of %s as the %s, newest first" % (code, who))
        doc = self.announcements(s, "--course", code)
        first = doc["announcements"][2]
        self.assertEqualMsg((first["title"], first["author"], first["course"], first["text"]),
                            ("Welcome", "teach1", code, "Read chapter 1 before Monday."),
                            "the first announcement as stored")
        self.assertEqualMsg(doc["announcements"][1]["text"],
                            "Exam on Friday \u2713 Pr\u00fcfung am Freitag.", "UTF-8 kept")
        self.assertEqualMsg(doc["more"], False, "no older page")
        out = self.ok(s.run("announcements", "--course", code)).out
        self.assertIn("#%d %s, teach1, " % (a1, code), out)
        self.assertLess(out.index("#%d " % a3), out.index("#%d " % a1), "newest first in text")
        self.assertIn("\n  Read chapter 1 before Monday.\n", out)
        # not a member: refused for the course, and nothing of it in their own list
        self.refused(self.w["stud3"].run("announcements", "--course", code, json=True),
                     "PERMISSION_DENIED", in_message="only the members of course")
        self.refused(self.w["teach2"].run("announcements", "--course", code, json=True),
                     "PERMISSION_DENIED")
        mine = self.announcements(self.w["stud3"])
        self.assertEqualMsg([a for a in mine["announcements"] if a["course"] == code], [],
                            "stud3's announcements without --course")

    def test_who_may_announce_and_bad_input(self):
        code, s, _, _ = self.new_course()
        before = self.announcements(s, "--course", code)
        self.refused(self.ta.run("announce", "--course", code, "From the TA", json=True),
                     "PERMISSION_DENIED", in_message="an announcement speaks for the course")
        self.refused(self.w["teach2"].run("announce", "--course", code, "Not mine", json=True),
                     "PERMISSION_DENIED",
                     in_message="only the instructors of course %s may post" % code)
        as_student = lmstest.Cli(self.node, "lms-instructor", home=s.home)
        self.refused(as_student.run("announce", "--course", code, "Me", json=True),
                     "PERMISSION_DENIED")
        t = self.w["teach1"]
        self.refused(t.run("announce", "--course", code, "", json=True), "INVALID_ARGUMENT",
                     in_message="the announcement is empty")
        self.refused(t.run("announce", "--course", code, "--title", "Exam" + ESC + "[2J", "x",
                           json=True),
                     "INVALID_ARGUMENT", in_message=["announcement's title", "(U+001B)"])
        self.refused(t.run("announce", "--course", code, "a" * (64 * 1024 + 1), json=True),
                     "INVALID_ARGUMENT", in_message="at most 65536 are allowed")
        self.refused(t.run("announce", "--course", "NOPE9", "x", json=True), "NOT_FOUND",
                     in_message="course NOPE9 does not exist")
        c, tok = self.raw_teacher()
        with c:
            r = c.call({"token": tok, "client_id": 77, "seq": 1,
                        "announce": {"course": code, "text": b"bad \xff byte"}})
            self.assertStatus(r, "INVALID_ARGUMENT", "an announcement that is not UTF-8")
        self.assertEqualMsg(self.announcements(s, "--course", code), before,
                            "the refusals stored nothing")
        # one that is fine, in text
        out = self.ok(t.run("announce", "--course", code, "Office", "hours", "moved")).out
        self.assertRegex(out, r"^posted announcement \d+ to the members of %s\n$" % code)

    def test_announcement_pages(self):
        code, s, _, _ = self.new_course()
        c, tok = self.raw_teacher()
        ids = []
        with c:
            for i in range(53):
                r = c.call({"token": tok, "client_id": 5000 + i, "seq": 1,
                            "announce": {"course": code, "text": "news %d" % i}})
                self.assertStatus(r, "OK", "announcement %d" % i)
                ids.append(r["announcement"]["id"])
        doc = self.announcements(s, "--course", code)
        got = [a["id"] for a in doc["announcements"]]
        self.assertEqualMsg(got, ids[::-1][:50], "the newest 50")
        self.assertEqualMsg(doc["more"], True, "more")
        out = self.ok(s.run("announcements", "--course", code)).out
        self.assertIn("older ones: lms-student announcements --course %s --before %d"
                      % (code, got[-1]), out)
        doc = self.announcements(s, "--course", code, "--before", str(got[-1]))
        self.assertEqualMsg([a["id"] for a in doc["announcements"]], ids[2::-1], "the rest")
        self.assertEqualMsg(doc["more"], False, "no more")

    # ---- the inbox -----------------------------------------------------------------

    def test_inbox_shows_each_thing_once_and_marks_it_read(self):
        code, s, sname, s2 = self.new_course()
        t, ta = self.w["teach1"], self.ta
        ann = self.announce(t, code, "Welcome!\nRead the syllabus.", title="Hello")
        due = iso(time.time() + 7 * 86400)
        a = self.ok(t.run("create-assignment", "--course", code, "--title", "Lab", "--due", due,
                          json=True))["id"]
        h = self.ok(t.run("create-assignment", "--course", code, "--title", "Held lab",
                          "--due", due, "--hold-grades", json=True))["id"]
        sub_a = self.ok(s.run("submit", a, self.file(), json=True))["id"]
        sub_h = self.ok(s.run("submit", h, self.file(), json=True))["id"]
        q = self.ok(s.run("ask", "--course", code, "--instructor", "How long should it be?",
                          json=True))["id"]
        q2 = self.ok(s2.run("ask", "--course", code, "--instructor", "Another question",
                            json=True))["id"]
        self.ok(t.run("grade", str(sub_a), "--grade", "7", "--feedback", "ok"))
        self.ok(ta.run("grade", str(sub_h), "--grade", "9"))
        self.ok(ta.run("reply", str(q), "Two pages."))
        self.ok(t.run("reply", str(q2), "For the other student."))
        self.ok(t.run("extend", "--assignment", str(a), "--student", sname,
                      "--until", iso(time.time() + 14 * 86400)))
        want = {("announcement", ann), ("assignment", a), ("assignment", h),
                ("grade", sub_a), ("reply", q), ("extension", a)}

        doc = self.inbox(s, "--keep-unread")
        got = kinds(doc)
        self.assertEqualMsg(sorted(got), sorted(want), "each kind once, the held grade not yet")
        self.assertEqualMsg([it["unread"] for it in doc["items"]], [True] * len(want), "unread")
        times = [it["time"] for it in doc["items"]]
        self.assertEqualMsg(times, sorted(times, reverse=True), "newest first")
        by = {(it["kind"], it["id"]): it for it in doc["items"]}
        self.assertEqualMsg(by[("reply", q)]["by"], "ta1", "who replied")
        self.assertEqualMsg(by[("reply", q)]["summary"],
                            "ta1 replied to \"How long should it be?\": Two pages.", "summary")
        self.assertEqualMsg(by[("announcement", ann)]["summary"], "Hello: Welcome!", "summary")
        self.assertEqualMsg(by[("grade", sub_a)]["summary"],
                            "grade 7/100 for \"Lab\" (attempt 1)", "summary")
        self.assertEqualMsg(doc["mark"], None, "never read")
        self.assertEqualMsg(sorted(kinds(self.inbox(s, "--keep-unread"))), sorted(want),
                            "--keep-unread left them unread")

        # shown, then marked read, like a mail client
        out = self.ok(s.run("inbox")).out
        for kind, ident in want:
            self.assertRegex(out, r"\b%s\s+%d\s" % (kind, ident))
        self.assertIn("TIME", out.splitlines()[0])
        self.assertRegex(self.ok(s.run("inbox")).out, r"^nothing new since \S+Z\n$")
        doc = self.inbox(s)
        self.assertEqualMsg(kinds(doc), [], "nothing unread")
        self.assertIsNotNone(doc["mark"], "the mark")
        doc = self.inbox(s, "--all")
        self.assertEqualMsg(sorted(kinds(doc)), sorted(want), "--all shows the read ones")
        self.assertEqualMsg([it["unread"] for it in doc["items"]], [False] * len(want), "read")

        # the held grade, once released; --json marks too
        self.ok(t.run("release", "--assignment", str(h)))
        doc = self.inbox(s)
        self.assertEqualMsg(kinds(doc), [("grade", sub_h)], "the released grade, once")
        self.assertEqualMsg(kinds(self.inbox(s)), [], "and then read")

        # the other student: their own reply, nobody else's grades or extensions
        got2 = kinds(self.inbox(s2, "--all"))
        self.assertEqualMsg(sorted(got2), sorted([("announcement", ann), ("assignment", a),
                                                  ("assignment", h), ("reply", q2)]),
                            "the other student's inbox")
        # a student of another course sees nothing of this one; the TA sees
        # its announcements, not its students' work
        other = self.inbox(self.w["stud3"], "--all")
        self.assertEqualMsg([it for it in other["items"] if it["course"] == code], [],
                            "stud3's inbox")
        mine = [(it["kind"], it["id"]) for it in self.inbox(self.ta_student, "--all")["items"]
                if it["course"] == code]
        self.assertEqualMsg(mine, [("announcement", ann)], "the TA's inbox of the course")
        # instructors and admins have no inbox
        as_teacher = lmstest.Cli(self.node, "lms-student", home=t.home)
        self.refused(as_teacher.run("inbox", json=True), "PERMISSION_DENIED",
                     in_message="only students may do this")
        # a course left (unenroll) leaves the inbox, announcements and all
        self.ok(self.w.admin.run("unenroll", code, sname))
        self.assertEqualMsg(kinds(self.inbox(s, "--all")), [], "the inbox after unenroll")

    def test_changed_hidden_and_deleted_assignments(self):
        code, s, _, _ = self.new_course()
        t = self.w["teach1"]
        due = iso(time.time() + 7 * 86400)

        def create(title):
            return self.ok(t.run("create-assignment", "--course", code, "--title", title,
                                 "--due", due, json=True))["id"]
        a, b = create("Lab"), create("Essay")
        self.assertEqualMsg(sorted(kinds(self.inbox(s))), sorted([("assignment", a),
                                                                  ("assignment", b)]),
                            "two new assignments, then read")
        self.ok(t.run("edit-assignment", str(a), "--title", "Lab v2",
                      "--due", iso(time.time() + 9 * 86400)))
        self.ok(t.run("hide-assignment", str(b)))
        c = create("Draft")
        self.ok(t.run("hide-assignment", str(c)))
        doc = self.inbox(s)
        self.assertEqualMsg(kinds(doc), [("assignment", a)], "the edit, not the hidden ones")
        self.assertEqualMsg(doc["items"][0]["summary"],
                            "assignment \"Lab v2\" changed: title, due", "what changed")
        self.ok(t.run("unhide-assignment", str(b)))
        self.ok(t.run("delete-assignment", str(c)))
        doc = self.inbox(s)
        self.assertEqualMsg(kinds(doc), [("assignment", b)], "shown again")
        self.assertRegex(doc["items"][0]["summary"], r'^assignment "Essay" is shown again, due ')
        self.assertNotIn(c, [i for _, i in kinds(self.inbox(s, "--all"))], "the deleted one")

    def test_since_until_and_all(self):
        code, s, _, _ = self.new_course()
        t = self.w["teach1"]
        x1 = self.announce(t, code, "first")
        mid = int(time.time() * 1000)
        lmstest.wait_until(lambda: int(time.time() * 1000) > mid + 1, what="the next ms")
        x2 = self.announce(t, code, "second")
        self.assertEqualMsg(kinds(self.inbox(s, "--since", iso_ms(mid))), [("announcement", x2)],
                            "--since")
        self.assertEqualMsg(kinds(self.inbox(s, "--until", iso_ms(mid))), [("announcement", x1)],
                            "--until")
        doc = self.inbox(s, "--keep-unread")
        self.assertEqualMsg(kinds(doc), [("announcement", x2), ("announcement", x1)],
                            "--since and --until marked nothing read")
        self.ok(s.run("inbox"))
        doc = self.inbox(s, "--since", iso_ms(mid))
        self.assertEqualMsg([(it["id"], it["unread"]) for it in doc["items"]], [(x2, False)],
                            "--since shows read ones too")
        self.assertRegex(self.ok(s.run("inbox", "--since", iso(time.time() + 3600))).out,
                         r"^nothing in that time\n$")
        self.refused(s.run("inbox", "--all", "--since", iso_ms(mid), json=True),
                     "INVALID_ARGUMENT", rc=2)
        self.refused(s.run("inbox", "--since", iso_ms(mid), "--until", iso_ms(mid - 5000),
                           json=True),
                     "INVALID_ARGUMENT", in_message="is not after since")

    def test_inbox_pages(self):
        code, s, _, _ = self.new_course()
        c, tok = self.raw_teacher()
        ids = []
        with c:
            for i in range(105):
                r = c.call({"token": tok, "client_id": 9000 + i, "seq": 1,
                            "announce": {"course": code, "text": "item %d" % i}})
                self.assertStatus(r, "OK", "announcement %d" % i)
                ids.append(r["announcement"]["id"])
        doc = self.inbox(s, "--keep-unread")
        shown = [i for _, i in kinds(doc)]
        self.assertEqualMsg(len(shown), 100, "a page of 100")
        self.assertEqualMsg(doc["more"], 5, "5 more")
        out = self.ok(s.run("inbox")).out
        hint = [l for l in out.splitlines() if "older items not shown" in l]
        self.assertEqualMsg(len(hint), 1, "the hint for the older ones: %r" % out[-300:])
        args = hint[0].split("lms-student inbox ", 1)[1].split()
        rest = [i for _, i in kinds(self.inbox(s, *args))]
        left_out = set(ids) - set(shown)
        self.assertEqualMsg(len(left_out), 5, "5 left out")
        self.assertEqualMsg(left_out - set(rest), set(),
                            "the hint's page (%r) holds the 5 left out" % args)
        self.assertEqualMsg(kinds(self.inbox(s)), [], "all read after the first page")

    def test_inbox_seen_is_a_mark_that_only_moves_forward(self):
        code, s, sname, _ = self.new_course()
        x = self.announce(self.w["teach1"], code, "news")
        with self.node.raw() as c:
            tok = c.login(sname, World.PW)
            now = int(time.time() * 1000)
            r = c.call({"token": tok, "client_id": 31, "seq": 1,
                        "inbox_seen": {"up_to": now + 3600 * 1000}})
            self.assertStatus(r, "INVALID_ARGUMENT", "a mark an hour ahead")
            self.assertIn("is in the future", r["message"])
            for _ in range(2):  # a retry with the same client_id and seq
                r = c.call({"token": tok, "client_id": 31, "seq": 2,
                            "inbox_seen": {"up_to": now}})
                self.assertStatus(r, "OK", "inbox_seen")
            r = c.call({"token": tok, "client_id": 31, "seq": 3, "inbox_seen": {"up_to": 1}})
            self.assertStatus(r, "OK", "an older mark")
            r = c.call({"token": tok, "inbox": {}})
            self.assertStatus(r, "OK", "inbox")
            self.assertEqualMsg(r["inbox"]["mark"], now, "the mark stayed at the newest")
            self.assertEqualMsg(r["inbox"].get("items", []), [], "read: %d" % x)
            tt = c.login("teach1", World.PW)
            r = c.call({"token": tt, "client_id": 32, "seq": 1, "inbox_seen": {"up_to": now}})
            self.assertStatus(r, "PERMISSION_DENIED", "an instructor's mark")


if __name__ == "__main__":
    unittest.main()
