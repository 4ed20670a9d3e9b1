# SPDX-License-Identifier: MIT
"""The tutor end to end: real lmsd nodes with tutor_openai against
tests/tutor/mock_openai.py (every failure path of the provider through
`lms-student ask --tutor`), with tutor_local answering from uploaded
materials and the instructors' replies they shared, with no tutor at all, and `kill -HUP`
swapping tutors under an open connection.

Each question carries a mock marker ("[mock:429-then-ok#t1]"); the tag
keeps a test's attempt count apart from the others'."""

import json
import os
import time
import unittest

import lmstest
from lmstest import ADMIN, ADMIN_PW, E2ETestCase, MockOpenAI, World, wait_until

HINT = "lms-student ask --course CS101 --instructor"
DEFAULT_PROMPT = ("You are a patient tutor for the course %s. Guide the student with hints "
                  "and questions; do not hand out solutions to graded assignments.")


def tutor_exchanges(doc):
    """The tutor exchanges in a queries/tutor-log --json document."""
    return [q for q in doc["queries"] if q["kind"] == "TO_TUTOR"]


class TutorOpenAITest(E2ETestCase):
    """tutor_openai: retries and deadlines short, so failures come fast."""

    @classmethod
    def setUpClass(cls):
        cls.mock = MockOpenAI()
        try:
            cls.node = lmstest.started_node(
                name="tutor-openai", limits={"tutor_deadline": "4s"}, env=cls.mock.env,
                metrics=True,
                tutor=cls.mock.tutor_config(timeout="2s", retries=2, backoff_base="100ms",
                                            backoff_max="500ms"))
        except BaseException:
            cls.mock.stop()
            raise
        cls.w = World(cls.node)
        cls.stud1, cls.stud2, cls.teach1 = cls.w["stud1"], cls.w["stud2"], cls.w["teach1"]

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()
        cls.mock.stop()

    def ask(self, text, who=None, json=False, course="CS101"):
        return (who or self.stud1).run("ask", "--course", course, "--tutor", text, json=json)

    def count(self, who=None):
        res = self.ok((who or self.stud1).run("queries", json=True), "queries --json")
        return len(tutor_exchanges(res))

    def failed(self, marker, status, words):
        """A question that the provider fails: refused with status, the
        student pointed to the instructors, nothing recorded."""
        before = self.count()
        res = self.ask("Why? [mock:%s]" % marker)
        self.refused(res, status, "ask --tutor with [mock:%s]" % marker,
                     in_message=[HINT] + words)
        self.assertEqualMsg(res.out, "", "stdout of a failed ask --tutor")
        self.assertEqualMsg(self.count(), before, "tutor exchanges after [mock:%s]" % marker)
        return res

    # ---- answers ------------------------------------------------------------

    def test_answer_is_recorded_and_survives_a_crash(self):
        res = self.ok(self.ask("What is a loop invariant? [mock:ok#rec]"), "ask --tutor")
        self.assertEqualMsg(res.out, self.mock.ANSWER + "\n", "stdout when not a terminal")
        doc = self.ok(self.ask("And a loop variant? [mock:ok#rec]", json=True))
        self.assertEqualMsg(doc["kind"], "TO_TUTOR", "kind of the answer's query")
        self.assertEqualMsg((doc["tutor"]["provider"], doc["tutor"]["model"]),
                            ("tutor_openai", "mock-model-mock"), "provider and model")
        self.assertEqualMsg((doc["tutor"]["prompt_tokens"], doc["tutor"]["completion_tokens"]),
                            (21, 8), "token counts")
        self.assertEqualMsg([(r["author"], r["text"]) for r in doc["replies"]],
                            [("tutor", self.mock.ANSWER)], "the answer is the one reply")
        self.assertTrue(doc["resolved"], "a tutor exchange is resolved")
        qid = doc["id"]

        mine = {q["id"]: q for q in tutor_exchanges(self.ok(self.stud1.run("queries", json=True)))}
        self.assertIn(qid, mine, "student queries list the exchange")
        text = self.ok(self.stud1.run("queries")).out
        self.assertIn("#%d [tutor] CS101: And a loop variant?" % qid, text)
        self.assertIn("tutor (tutor_openai/mock-model-mock, 21 prompt + 8 completion tokens", text)

        log = self.ok(self.teach1.run("tutor-log", "--course", "CS101", json=True))
        self.assertIn(qid, [q["id"] for q in log["queries"]], "tutor-log shows it")
        log = self.ok(self.teach1.run("tutor-log", "--course", "CS101", "--student", "stud2",
                                      json=True))
        self.assertNotIn(qid, [q["id"] for q in log["queries"]], "tutor-log --student stud2")
        res = self.ok(self.teach1.run("queries", "--all", json=True))
        self.assertNotIn(qid, [q["id"] for q in res["queries"]],
                         "instructor queries show questions to the instructors only")

        self.node.kill9()
        self.node.start()
        mine = {q["id"]: q for q in tutor_exchanges(self.ok(self.stud1.run("queries", json=True)))}
        self.assertIn(qid, mine, "the exchange after SIGKILL and restart")
        self.assertEqualMsg(mine[qid]["replies"][0]["text"], self.mock.ANSWER,
                            "the answer after restart")

    def test_streamed_pieces(self):
        with self.node.raw() as c:
            tok = c.login("stud1", World.PW)
            partials, final = c.call_streamed({"token": tok, "client_id": 77, "seq": 1, "ask": {
                "course": "CS101", "text": "Stream it [mock:stream#raw]", "tutor": True}})
        self.assertStatus(final, "OK", "the final response")
        self.assertGreater(len(partials), 3, "partial responses before the final one")
        text = "".join(p["tutor_chunk"]["text"] for p in partials)
        self.assertEqualMsg(text, self.mock.ANSWER, "the pieces put together")
        self.assertEqualMsg(final["query"]["replies"][0]["text"], self.mock.ANSWER,
                            "the final answer")

    def test_streamed_on_a_terminal(self):
        rc, out = self.stud1.run_tty("ask", "--course", "CS101", "--tutor",
                                     "Stream please [mock:stream#tty]")
        self.assertEqualMsg(rc, 0, "exit of ask --tutor on a terminal:\n%s" % out)
        out = out.replace("\r\n", "\n")
        self.assertTrue(out.startswith(self.mock.ANSWER + "\n"),
                        "the answer first, once: %r" % out)
        self.assertEqualMsg(out.count(self.mock.ANSWER), 1, "times the answer is shown")
        self.assertIn("-- tutor_openai/mock-model-mock, 21 prompt + 8 completion tokens", out)
        self.assertRegex(out, r"lms-student escalate \d+")

    def test_rate_limited_then_answered(self):
        t0 = time.monotonic()
        res = self.ok(self.ask("Busy? [mock:429-then-ok#e2e]"))
        self.assertEqualMsg(res.out.strip(), self.mock.ANSWER, "answer after a 429")
        self.assertEqualMsg(self.mock.attempts("429-then-ok#e2e"), 2, "attempts")
        self.assertGreaterEqual(time.monotonic() - t0, 0.9, "Retry-After: 1 was honoured")

    def test_server_error_then_answered(self):
        res = self.ok(self.ask("Down? [mock:500-then-ok#e2e]"))
        self.assertEqualMsg(res.out.strip(), self.mock.ANSWER, "answer after a 500")
        self.assertEqualMsg(self.mock.attempts("500-then-ok#e2e"), 2, "attempts")

    def test_bad_key_is_not_retried(self):
        res = self.failed("401#e2e", "PERMISSION_DENIED", ["credentials"])
        self.assertNotIn(self.mock.key, res.err, "the key must not show")
        self.assertEqualMsg(self.mock.attempts("401#e2e"), 1, "attempts at a 401")

    def test_quota(self):
        self.failed("quota#e2e", "RESOURCE_EXHAUSTED", ["quota"])
        self.assertEqualMsg(self.mock.attempts("quota#e2e"), 1, "attempts at insufficient_quota")

    def test_hang_past_the_deadline(self):
        t0 = time.monotonic()
        self.failed("hang#e2e", "DEADLINE_EXCEEDED", [])
        self.assertLess(time.monotonic() - t0, 15, "seconds until DEADLINE_EXCEEDED")

    def test_metrics_count_the_answers(self):
        """/metrics: each question the plugin was asked, by how it ended,
        and its time in the plugin."""
        from test_metrics import scrape, value
        before = scrape(self.node)
        self.ok(self.ask("What is a pointer?"), "ask --tutor")
        self.failed("500#metrics", "FAILED_PRECONDITION", ["HTTP 500"])
        after = scrape(self.node)

        def delta(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)
        self.assertEqualMsg(delta("lms_tutor_answers_total", status="OK"), 1,
                            "answered questions counted")
        failed = sum(v for (n, labels), v in after.items()
                     if n == "lms_tutor_answers_total" and dict(labels)["status"] != "OK") - \
            sum(v for (n, labels), v in before.items()
                if n == "lms_tutor_answers_total" and dict(labels)["status"] != "OK")
        self.assertEqualMsg(failed, 1, "the failed question counted, not as OK")
        self.assertEqualMsg(delta("lms_tutor_seconds_count"), 2,
                            "both questions' time in the plugin")

    def test_provider_down(self):
        # the plugin's UNAVAILABLE reaches the client as FAILED_PRECONDITION,
        # which the client does not retry: the tutor is asked once per ask
        self.failed("500#e2e", "FAILED_PRECONDITION", ["HTTP 500"])
        self.assertEqualMsg(self.mock.attempts("500#e2e"), 3, "attempts: 1 + 2 retries")

    def test_broken_body(self):
        self.failed("broken#e2e", "INTERNAL", ["broken"])

    def test_client_gone_mid_question(self):
        with self.node.raw() as c:
            tok = c.login("stud2", World.PW)
            c.send({"token": tok, "client_id": 78, "seq": 1, "ask": {
                "course": "CS101", "text": "Hello? [mock:hang#gone]", "tutor": True}})
            wait_until(lambda: self.mock.attempts("hang#gone") == 1, what="the mock asked")
        time.sleep(0.6)  # the watchdog notices, the plugin cancels
        self.ok(self.ask("Still there? [mock:ok#after-gone]", who=self.stud2))
        self.assertEqualMsg(self.count(self.stud2) >= 1, True, "stud2's exchange")

    # ---- limits, settings, escalation ----------------------------------------

    def test_daily_limit(self):
        stud3, teach2 = self.w["stud3"], self.w["teach2"]
        self.ok(teach2.run("tutor-settings", "--course", "MA201", "--daily-limit", "1"))
        try:
            self.ok(self.ask("One [mock:ok#limit]", who=stud3, course="MA201"))
            before = self.count(stud3)
            res = self.ask("Two [mock:ok#limit]", who=stud3, course="MA201")
            self.refused(res, "RESOURCE_EXHAUSTED", "the second question of the day", in_message=[
                "you have used your 1 tutor question for today",
                "lms-student ask --course MA201 --instructor"])
            self.assertEqualMsg(self.count(stud3), before, "exchanges after the refusal")
            self.assertEqualMsg(self.mock.attempts("ok#limit"), 1, "the mock was not asked")
            doc = self.ok(stud3.run("tutor-settings", "--course", "MA201", json=True))
            self.assertEqualMsg((doc["daily_limit"], doc["used_today"]), (1, 1),
                                "student tutor-settings")
            self.assertIn("1 tutor questions per student per day (1 used today)",
                          self.ok(stud3.run("tutor-settings", "--course", "MA201")).out)
        finally:
            self.ok(teach2.run("tutor-settings", "--course", "MA201", "--daily-limit", "0"))
        self.ok(self.ask("Three [mock:ok#limit]", who=stud3, course="MA201"))

    def test_system_prompt(self):
        t = self.teach1
        doc = self.ok(t.run("tutor-settings", "--course", "CS101", json=True))
        self.assertEqualMsg((doc["system_prompt"], doc["default_prompt"]),
                            (DEFAULT_PROMPT % "CS101", True), "the default prompt")
        self.ok(self.ask("Prompt? [mock:ok#prompt]"))
        self.assertEqualMsg(self.mock.last()["messages"][0],
                            {"role": "system", "content": DEFAULT_PROMPT % "CS101"},
                            "the system message sent")
        try:
            self.ok(t.run("tutor-settings", "--course", "CS101", "--system-prompt",
                          "Answer like a pirate."))
            self.ok(self.ask("Prompt? [mock:ok#prompt]"))
            self.assertEqualMsg(self.mock.last()["messages"][0]["content"],
                                "Answer like a pirate.", "the course's own prompt")
            self.assertEqualMsg(self.mock.last()["messages"][-1]["content"],
                                "Prompt? [mock:ok#prompt]", "the question")
            doc = self.ok(self.stud1.run("tutor-settings", "--course", "CS101", json=True))
            self.assertEqualMsg((doc["system_prompt"], doc["default_prompt"]),
                                ("Answer like a pirate.", False), "the student sees it")
            self.assertRc(t.run("tutor-settings", "--course", "CS101", "--system-prompt", "x",
                                "--default-prompt"), 2, "--system-prompt with --default-prompt")
        finally:
            self.ok(t.run("tutor-settings", "--course", "CS101", "--default-prompt"))
        self.ok(self.ask("Prompt? [mock:ok#prompt]"))
        self.assertEqualMsg(self.mock.last()["messages"][0]["content"], DEFAULT_PROMPT % "CS101",
                            "back to the default")

    def test_escalate(self):
        asked = self.ok(self.ask("What is a fence post error? [mock:ok#esc]", json=True))
        res = self.ok(self.stud1.run("escalate", asked["id"], "I still do not get it"))
        self.assertRegex(res.out, r"query \d+ sent to the instructors of CS101, with tutor "
                         r"exchange %d attached" % asked["id"])
        doc = self.ok(self.teach1.run("queries", json=True))
        esc = [q for q in doc["queries"] if q["escalated_from"] == asked["id"]]
        self.assertEqualMsg(len(esc), 1, "escalated questions the instructor sees")
        q = esc[0]
        self.assertEqualMsg(q["kind"], "TO_INSTRUCTOR", "the escalated question's kind")
        for part in ("I still do not get it", "What is a fence post error? [mock:ok#esc]",
                     self.mock.ANSWER):
            self.assertIn(part, q["text"], "the escalated question carries the exchange")
        self.assertIn("(from tutor exchange #%d)" % asked["id"], self.ok(self.teach1.run("queries")).out)
        self.ok(self.teach1.run("reply", q["id"], "Count the posts, not the gaps."))
        mine = self.ok(self.stud1.run("queries", json=True))
        got = [x for x in mine["queries"] if x["id"] == q["id"]][0]
        self.assertEqualMsg(got["replies"][-1]["text"], "Count the posts, not the gaps.",
                            "the instructor's reply reaches the student")

    # ---- who may do what -------------------------------------------------------

    def test_authorization(self):
        asked = self.ok(self.ask("Mine [mock:ok#authz]", json=True))
        self.refused(self.stud2.run("escalate", asked["id"], json=True), "PERMISSION_DENIED",
                     "escalating someone else's exchange")
        self.refused(self.stud1.run("escalate", 999999, json=True), "NOT_FOUND",
                     "escalating an unknown query")
        q = self.ok(self.stud1.run("ask", "--course", "CS101", "--instructor", "Human?",
                                   json=True))
        self.refused(self.stud1.run("escalate", q["id"], json=True), "FAILED_PRECONDITION",
                     "escalating a question to the instructors")
        self.refused(self.teach1.run("reply", asked["id"], "x", json=True),
                     "FAILED_PRECONDITION", "replying to a tutor exchange")
        self.refused(self.w["teach2"].run("tutor-log", "--course", "CS101", json=True),
                     "PERMISSION_DENIED", "tutor-log of a course one does not teach")
        self.refused(self.w["teach2"].run("tutor-settings", "--course", "CS101",
                                          "--daily-limit", "3", json=True),
                     "PERMISSION_DENIED", "settings of a course one does not teach")
        with self.node.raw() as c:
            for user, pw in (("teach1", World.PW), (ADMIN, ADMIN_PW)):
                tok = c.login(user, pw)
                r = c.call({"token": tok, "ask": {"course": "CS101", "text": "hi [mock:ok#authz]",
                                                  "tutor": True}})
                self.assertStatus(r, "PERMISSION_DENIED", "%s asking the tutor" % user)
            tok = c.login("stud1", World.PW)
            r = c.call({"token": tok, "tutor_log": {"course": "CS101"}})
            self.assertStatus(r, "PERMISSION_DENIED", "a student reading tutor-log")
            r = c.call({"token": tok, "client_id": 79, "seq": 1, "tutor_settings": {
                "course": "CS101", "set_limit": True, "daily_limit": 100}})
            self.assertStatus(r, "PERMISSION_DENIED", "a student changing the settings")
        self.assertEqualMsg(self.mock.attempts("ok#authz"), 1, "the mock asked only once")

    def test_usage(self):
        self.assertRc(self.stud1.run("ask", "--course", "CS101", "x"), 2, "ask without whom")
        res = self.stud1.run("ask", "--course", "CS101", "--tutor", "--instructor", "x")
        self.assertRc(res, 2, "ask with both")
        self.assertIn("exclude each other", res.err)


class TutorLocalTest(E2ETestCase):
    """tutor_local, as in scripts/demo: answers from the course's own
    materials and the instructors' replies they shared."""

    NOTES = ("Recursion: a function that calls itself. Every recursion needs a base case "
             "that stops it, or the stack overflows.\n\nLoops repeat a block of code while "
             "a condition holds.\n")

    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(name="tutor-local", tutor={"plugin": "tutor_local"})
        cls.w = World(cls.node)
        files = os.path.join(cls.node.dir, "files")
        os.makedirs(files)
        with open(os.path.join(files, "notes.txt"), "w") as f:
            f.write(cls.NOTES)
        with open(os.path.join(files, "slides.bin"), "wb") as f:
            f.write(b"\x00\x01binary recursion base case\xff")
        t = cls.w["teach1"]
        cls.material = cls.w._check(t.run("upload", "--course", "CS101", "--title",
                                          "Week 2 notes", os.path.join(files, "notes.txt"),
                                          json=True), "upload notes").json["id"]
        cls.w._check(t.run("upload", "--course", "CS101", "--title", "Binary slides",
                           os.path.join(files, "slides.bin")), "upload slides")

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def ask(self, who, text):
        return self.ok(self.w[who].run("ask", "--course", "CS101", "--tutor", text),
                       "ask --tutor %r" % text)

    def test_cites_the_material(self):
        res = self.ask("stud1", "What does a recursion need so that it stops?")
        self.assertIn('From "Week 2 notes" (material %d' % self.material, res.out)
        self.assertIn("base case", res.out)
        self.assertNotIn("Binary slides", res.out, "a binary material is not learned")

    def test_nothing_relevant(self):
        res = self.ask("stud1", "How do I bake sourdough bread?")
        self.assertIn("ask your instructor", res.out)
        self.assertIn(HINT, res.out)

    def test_learns_instructor_replies(self):
        # only shared ones: a question to the instructors is private until
        # an instructor shares it (test_privacy.py has the rest)
        s, t = self.w["stud2"], self.w["teach1"]
        q = self.ok(s.run("ask", "--course", "CS101", "--instructor",
                          "How do I free a linked list without leaking?", json=True))
        self.ok(t.run("reply", q["id"], "--share", "Walk the list, save each node's next "
                      "pointer, then free the node."))
        res = self.ask("stud1", "how to free every node of a linked list")
        self.assertIn("An instructor answered a similar question", res.out)
        self.assertIn("save each node's next pointer", res.out)
        log = self.ok(t.run("tutor-log", "--course", "CS101", "--student", "stud1", json=True))
        self.assertTrue(all(x["tutor"]["provider"] == "tutor_local" for x in log["queries"]),
                        "tutor-log: every exchange is tutor_local's")


class NoTutorTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(name="no-tutor")
        cls.w = World(cls.node)

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def test_no_tutor_configured(self):
        res = self.w["stud1"].run("ask", "--course", "CS101", "--tutor", "Anyone?")
        self.refused(res, "FAILED_PRECONDITION", "ask --tutor without a tutor",
                     in_message=["no tutor configured", HINT])
        doc = self.ok(self.w["stud1"].run("queries", json=True))
        self.assertEqualMsg(doc["queries"], [], "nothing recorded")


class TutorReloadTest(E2ETestCase):
    """kill -HUP: tutor_local -> tutor_openai under an open connection; a
    broken tutor section keeps the tutor that works."""

    @classmethod
    def setUpClass(cls):
        cls.mock = MockOpenAI()
        try:
            cls.node = lmstest.started_node(name="tutor-reload", env=cls.mock.env,
                                            tutor={"plugin": "tutor_local"})
        except BaseException:
            cls.mock.stop()
            raise
        cls.w = World(cls.node)

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()
        cls.mock.stop()

    def provider(self, conn, tok, seq):
        _, r = conn.call_streamed({"token": tok, "client_id": 91, "seq": seq, "ask": {
            "course": "CS101", "text": "What is a loop? [mock:ok#hup]", "tutor": True}})
        self.assertStatus(r, "OK", "ask over the open connection")
        return r["query"]["tutor"]["provider"]

    def test_hup_swaps_the_tutor(self):
        with self.node.raw(timeout=20) as c:
            tok = c.login("stud1", World.PW)
            self.assertEqualMsg(self.provider(c, tok, 1), "tutor_local", "the first tutor")
            self.node.set_tutor(self.mock.tutor_config())
            self.node.hup()
            seq = [1]

            def swapped():
                seq[0] += 1
                return self.provider(c, tok, seq[0]) == "tutor_openai"
            wait_until(swapped, timeout=10, interval=0.1, what="answers from tutor_openai")
            self.assertIn("replaces tutor_local", self.node.log_text())

            # a tutor that cannot start: the one that works stays
            self.node.set_tutor({"plugin": "tutor_openai", "model": "m",
                                 "api_key_env": "LMS_E2E_UNSET_KEY"})
            self.node.hup()
            wait_until(lambda: "tutor reload failed" in self.node.log_text(), what="the log")
            self.assertIn("LMS_E2E_UNSET_KEY", self.node.log_text())
            self.assertEqualMsg(self.provider(c, tok, seq[0] + 1), "tutor_openai",
                                "the tutor after a failed reload")
            # a config file that does not parse: the same (nothing of it is
            # applied, the tutor included)
            with open(self.node.config_path, "a") as f:
                f.write("tutor: [unbalanced\n")
            self.node.hup()
            wait_until(lambda: "reload failed: " in self.node.log_text(),
                       what="the failed reload in the log")
            self.assertEqualMsg(self.provider(c, tok, seq[0] + 2), "tutor_openai",
                                "the tutor after a config that does not parse")
            r = c.call({"token": tok, "whoami": {}})
            self.assertStatus(r, "OK", "the connection opened before the reloads")
        self.node.set_tutor(self.mock.tutor_config())  # one lmsd can restart with


if __name__ == "__main__":
    unittest.main()
