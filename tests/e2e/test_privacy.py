# SPDX-License-Identifier: MIT
"""Questions to the instructors are private (issue 9, part 3): the tutor
never quotes an instructor's reply to one student to another student, until
an instructor shares it with the course (`lms-instructor share`, or `reply
--share`); then every student of the course reads it in `faq`, without the
name of the student who asked, and the tutor may use it; `unshare` withdraws
it from both, on every node of a cluster.

The story of the bug: stud2 (Bob) asks privately for more time; teach1
answers with a sentence that names his medical certificate; stud1 (Alice)
asks the tutor "Can I get more time?"."""

import json
import unittest

import lmstest
from lmstest import Cluster, E2ETestCase, MockOpenAI, World

SECRET = "Given your medical certificate I extend your deadline by 3 days."
FOLLOW_UP = "Thanks! The certificate says I had the flu."


def tutor_says(doc):
    """The tutor's answer in an ask --tutor --json document."""
    return "\n".join(r["text"] for r in doc["replies"] if r["author"] == "tutor")


def faq_ids(tc, who, course="CS101"):
    doc = tc.ok(who.run("faq", "--course", course, json=True), "faq --json")
    return {q["id"]: q for q in doc["queries"]}


class PrivacyLocalTest(E2ETestCase):
    """tutor_local on one node."""

    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(name="privacy-local", tutor={"plugin": "tutor_local"})
        cls.w = World(cls.node)

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def tutor(self, who="stud1", text="Can I get more time?"):
        res = self.ok(self.w[who].run("ask", "--course", "CS101", "--tutor", text, json=True),
                      "%s asks the tutor %r" % (who, text))
        return tutor_says(res)

    def assertPrivate(self, qid, when):
        answer = self.tutor()
        for secret in (SECRET, "medical certificate", "query %d" % qid, "stud2", FOLLOW_UP):
            self.assertNotIn(secret, answer, "the tutor's answer %s" % when)
        self.assertNotIn(qid, faq_ids(self, self.w["stud1"]), "stud1's faq %s" % when)
        self.assertNotIn(qid, faq_ids(self, self.w["teach1"]), "teach1's faq %s" % when)

    def assertShared(self, qid, when):
        answer = self.tutor()
        self.assertIn("extend your deadline by 3 days", answer, "the tutor's answer %s" % when)
        self.assertIn("query %d" % qid, answer, "the tutor cites the shared answer %s" % when)
        for secret in ("stud2", FOLLOW_UP):
            self.assertNotIn(secret, answer, "the tutor's answer %s" % when)
        entry = faq_ids(self, self.w["stud1"]).get(qid)
        self.assertIsNotNone(entry, "query %d in stud1's faq %s" % (qid, when))
        self.assertEqualMsg(entry.get("student", ""), "", "the student's name in the faq")
        self.assertEqualMsg([(r["author"], r["text"]) for r in entry["replies"]],
                            [("teach1", SECRET)], "the faq's replies: the instructor's only")
        self.assertIs(entry["shared"], True, "shared flag in the faq")
        text = self.ok(self.w["stud1"].run("faq", "--course", "CS101"), "faq").out
        self.assertIn("#%d [open, shared] CS101: More time?" % qid, text)
        self.assertIn("a student, ", text)
        self.assertIn(SECRET, text)
        for secret in ("stud2", FOLLOW_UP):
            self.assertNotIn(secret, text, "stud1's faq as text %s" % when)
        # another course's students do not see it
        self.assertNotIn(qid, faq_ids(self, self.w["stud3"], "MA201"), "MA201's faq")
        self.refused(self.w["stud3"].run("faq", "--course", "CS101", json=True),
                     "PERMISSION_DENIED", "faq of a course one does not take")

    def test_private_until_shared_and_after_unshare(self):
        s, t = self.w["stud2"], self.w["teach1"]
        q = self.ok(s.run("ask", "--course", "CS101", "--instructor", "--title", "More time?",
                          "Can I get more time for the homework? I have a medical certificate.",
                          json=True), "stud2 asks the instructors")
        qid = q["id"]
        self.ok(t.run("reply", qid, SECRET), "teach1 replies")
        self.assertPrivate(qid, "before sharing")

        # what the student added to the thread is never shared
        with self.node.raw() as c:
            tok = c.login("stud2", World.PW)
            r = c.call({"token": tok, "client_id": 301, "seq": 1,
                        "reply": {"query_id": qid, "text": FOLLOW_UP}})
            self.assertStatus(r, "OK", "stud2's follow-up")

        res = self.ok(t.run("share", qid), "share")
        self.assertIn("shared query %d with the course" % qid, res.out)
        self.assertShared(qid, "after share")
        self.ok(t.run("share", qid), "share again is OK")
        doc = self.ok(t.run("queries", "--all", json=True))
        mine = [x for x in doc["queries"] if x["id"] == qid][0]
        self.assertIs(mine["shared"], True, "the instructor's queries show the flag")
        self.assertEqualMsg(mine["student"], "stud2", "the instructor still sees who asked")

        res = self.ok(t.run("unshare", qid), "unshare")
        self.assertIn("query %d is private again" % qid, res.out)
        self.assertPrivate(qid, "after unshare")
        self.ok(t.run("unshare", qid), "unshare again is OK")

        # the index is rebuilt from storage at start: only shared answers
        self.node.kill9()
        self.node.start()
        self.assertPrivate(qid, "after unshare and a restart")
        self.ok(t.run("share", qid), "share after the restart")
        self.node.restart()
        self.assertShared(qid, "after share and a restart")
        self.ok(t.run("unshare", qid), "unshare at the end")

    def test_reply_share(self):
        s, t = self.w["stud1"], self.w["teach1"]
        q = self.ok(s.run("ask", "--course", "CS101", "--instructor", "--title", "Exam room",
                          "Where is the final exam held?", json=True))
        res = self.ok(t.run("reply", q["id"], "--share",
                            "The final exam is in the main hall; bring your student card."))
        self.assertIn("replied to query %d and shared it with the course" % q["id"], res.out)
        self.assertIn(q["id"], faq_ids(self, self.w["stud2"]), "stud2's faq")
        answer = self.tutor("stud2", "where is the final exam held")
        self.assertIn("main hall", answer, "the tutor learns a reply --share")
        self.ok(t.run("unshare", q["id"]))
        self.assertNotIn("main hall", self.tutor("stud2", "where is the final exam held"),
                         "after unshare")

    def test_who_may_share(self):
        s, t, t2 = self.w["stud2"], self.w["teach1"], self.w["teach2"]
        q = self.ok(s.run("ask", "--course", "CS101", "--instructor", "Private matter",
                          json=True))
        qid = q["id"]
        self.refused(t.run("share", qid, json=True), "FAILED_PRECONDITION",
                     "sharing a question nobody answered")
        self.refused(t.run("share", qid), "FAILED_PRECONDITION", "the same, as text",
                     in_message=["no reply from an instructor", "lms-instructor reply %d --share"
                                 % qid])
        self.refused(t.run("share", 999999, json=True), "NOT_FOUND", "an unknown query")
        self.ok(t.run("reply", qid, "Come to my office hours."))
        self.refused(t2.run("share", qid, json=True), "PERMISSION_DENIED",
                     "an instructor of another course")
        self.refused(t2.run("unshare", qid, json=True), "PERMISSION_DENIED",
                     "an instructor of another course unsharing")
        with self.node.raw() as c:
            tok = c.login("stud2", World.PW)
            r = c.call({"token": tok, "client_id": 302, "seq": 1,
                        "share": {"query_id": qid, "shared": True}})
            self.assertStatus(r, "PERMISSION_DENIED", "the student who asked sharing")
            r = c.call({"token": tok, "client_id": 302, "seq": 2,
                        "reply": {"query_id": qid, "text": "ok", "share": True}})
            self.assertStatus(r, "PERMISSION_DENIED", "the student replying with share")
            tok = c.login("teach2", World.PW)
            r = c.call({"token": tok, "client_id": 303, "seq": 1,
                        "reply": {"query_id": qid, "text": "mine", "share": True}})
            self.assertStatus(r, "PERMISSION_DENIED", "another course's instructor, reply share")
        ex = self.ok(self.w["stud1"].run("ask", "--course", "CS101", "--tutor", "hello",
                                         json=True))
        self.refused(t.run("share", ex["id"], json=True), "FAILED_PRECONDITION",
                     "sharing a tutor exchange")
        self.assertNotIn(qid, faq_ids(self, self.w["stud1"]), "nothing was shared")
        self.assertNotIn("office hours", self.tutor(text="when are office hours"),
                         "nothing was learned")


    def test_record_answers_only_its_own_request(self):
        """A client's dedup record answers a retry of the same request by
        the same user only: the answer of a retry is read back from what the
        request names (reply: its query) or what the record names (ask: the
        query id), so another request or another user with the same
        (client_id, seq) would read a private question."""
        q = self.ok(self.w["stud2"].run("ask", "--course", "CS101", "--instructor",
                                        "--title", "Private", "My grandmother died.",
                                        json=True), "stud2 asks privately")
        self.ok(self.w["teach1"].run("reply", q["id"], "My condolences; take a week."))
        mine = {"course": "MA201", "text": "Is the exam open book?"}
        with self.node.raw() as c:
            tok = c.login("stud3", World.PW)
            first = c.call({"token": tok, "client_id": 501, "seq": 1, "ask": mine})
            self.assertStatus(first, "OK", "stud3 asks")
            again = c.call({"token": tok, "client_id": 501, "seq": 1, "ask": mine})
            self.assertStatus(again, "OK", "the same request again")
            self.assertEqualMsg(again["query"]["id"], first["query"]["id"], "its retry")
            for body, what in [({"reply": {"query_id": q["id"], "text": "hi"}},
                                "a reply to stud2's question with stud3's (client_id, seq)"),
                               ({"resolve": {"query_id": q["id"]}}, "a resolve, the same"),
                               ({"ask": {"course": "MA201", "text": "other"}},
                                "another question with the same (client_id, seq)")]:
                req = {"token": tok, "client_id": 501, "seq": 1}
                req.update(body)
                r = c.call(req)
                self.assertStatus(r, "FAILED_PRECONDITION", what)
                self.assertNotIn("grandmother", repr(r), what)
                self.assertNotIn("condolences", repr(r), what)
            # another user sending stud3's very request
            tok1 = c.login("stud1", World.PW)
            r = c.call({"token": tok1, "client_id": 501, "seq": 1, "ask": mine})
            self.assertStatus(r, "FAILED_PRECONDITION", "stud1 with stud3's (client_id, seq)")
            self.assertNotIn("open book", repr(r), "stud3's question")


class PrivacyOpenAITest(E2ETestCase):
    """tutor_openai against the mock: the prompt it sends never carries a
    private reply. (tutor_openai learns no course documents today, so a
    shared reply does not reach its prompt either.)"""

    @classmethod
    def setUpClass(cls):
        cls.mock = MockOpenAI()
        try:
            cls.node = lmstest.started_node(name="privacy-openai", env=cls.mock.env,
                                            tutor=cls.mock.tutor_config())
        except BaseException:
            cls.mock.stop()
            raise
        cls.w = World(cls.node)

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()
        cls.mock.stop()

    def prompt(self, tag):
        question = "Can I get more time? [mock:ok#%s]" % tag
        self.ok(self.w["stud1"].run("ask", "--course", "CS101", "--tutor", question),
                "ask tutor_openai")
        sent = json.dumps(self.mock.last())
        self.assertIn("Can I get more time?", sent, "the mock got the question (%s)" % tag)
        return sent

    def test_private_reply_never_in_the_prompt(self):
        s, t = self.w["stud2"], self.w["teach1"]
        q = self.ok(s.run("ask", "--course", "CS101", "--instructor", "--title", "More time?",
                          "Can I get more time? I have a medical certificate.", json=True))
        qid = q["id"]
        self.ok(t.run("reply", qid, SECRET))
        for tag, step in (("private", None), ("shared", "share"), ("unshared", "unshare")):
            if step:
                self.ok(t.run(step, qid), step)
            sent = self.prompt(tag)
            for secret in (SECRET, "medical certificate", "stud2"):
                if tag == "shared" and secret == SECRET:
                    continue  # a shared answer may be used
                self.assertNotIn(secret, sent, "the prompt sent to the provider (%s)" % tag)


class PrivacyClusterTest(E2ETestCase):
    """3 nodes with tutor_local: share and unshare change the tutor of a
    node that applied them as a follower. The tutor that answers is the
    leader's, so the check asks a node that was a follower when the command
    was applied, after the leader of that time is gone."""

    def setUp(self):
        self.cluster = Cluster(3, name="privacy", tutor={"plugin": "tutor_local"})
        try:
            self.cluster.start()
        except BaseException:
            self.cluster.cleanup()
            raise

    def tearDown(self):
        self.cluster.cleanup()

    def tutor(self, w):
        res = self.ok(w["stud1"].run("ask", "--course", "CS101", "--tutor",
                                     "Can I get more time?", json=True), "ask the tutor")
        return tutor_says(res)

    def test_followers_apply_share_and_unshare(self):
        c = self.cluster
        w = World(c)
        q = self.ok(w["stud2"].run("ask", "--course", "CS101", "--instructor", "--title",
                                   "More time?", "Can I get more time? I have a medical "
                                   "certificate.", json=True))
        qid = q["id"]
        self.ok(w["teach1"].run("reply", qid, SECRET))
        self.assertNotIn("medical certificate", self.tutor(w), "before sharing")

        first = c.leader()
        self.ok(w["teach1"].run("share", qid))
        c.wait_caught_up()
        first.kill9()
        second = c.leader(among=[nd for nd in c.nodes if nd is not first])
        answer = self.tutor(w)  # answered by second, a follower at the share
        self.assertIn("extend your deadline by 3 days", answer,
                      "the tutor of node %d, which applied the share as a follower"
                      % second.node_id)

        first.start()
        self.ok(w["teach1"].run("unshare", qid))
        c.wait_caught_up()
        second.kill9()
        third = c.leader(among=[nd for nd in c.nodes if nd is not second])
        answer = self.tutor(w)
        for secret in (SECRET, "medical certificate", "query %d" % qid):
            self.assertNotIn(secret, answer, "the tutor of node %d, which applied the unshare "
                             "as a follower" % third.node_id)
        self.assertNotIn(qid, faq_ids(self, w["stud1"]), "the faq after unshare")


if __name__ == "__main__":
    unittest.main()
