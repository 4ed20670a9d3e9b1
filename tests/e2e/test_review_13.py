# SPDX-License-Identifier: MIT
"""Review 13: findings of an adversarial review of the accounts, roles,
corrections, grading and inbox features, each as a test (through the raw
protocol where the CLIs never send such a request)."""

import hashlib
import struct
import unittest

import lmstest
from lmstest import E2ETestCase, World


def request_digest(user, kind, body_type, body):
    """What dispatch.c's request_digest computes for a request of this
    kind and body from user: SHA-256(user NUL, kind (u32 LE), packed body)."""
    packed = lmstest.proto().encode(body_type, body)
    return hashlib.sha256(user.encode() + b"\0" + struct.pack("<I", kind) + packed).digest()


def body_number(name):
    return lmstest.proto().messages["Request"][name][0]


class ReviewTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(name="review-13")
        cls.w = World(cls.node)

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def answer_blob(self, client_id):
        rows = lmstest.db_rows(self.node, "SELECT answer FROM clients WHERE client_id = %d"
                               % client_id)
        self.assertEqual(len(rows), 1, "client %d's dedup record" % client_id)
        return bytes(rows[0][0])

    # -- finding 1: a fast hash of the password in the dedup record ----------

    def test_digest_method_finds_a_plain_write(self):
        """The check below is not vacuous: the digest of a write without a
        password is found in its client's record as computed here."""
        with self.node.raw() as c:
            tok = c.login(lmstest.ADMIN, lmstest.ADMIN_PW)
            body = {"code": "REV13", "title": "Review"}
            self.assertStatus(c.call({"token": tok, "client_id": 1301, "seq": 1,
                                      "create_course": body}), "OK")
        d = request_digest(lmstest.ADMIN, body_number("create_course"),
                           "CreateCourseRequest", body)
        self.assertIn(d, self.answer_blob(1301))

    def test_passwd_leaves_no_fast_hash_of_the_passwords(self):
        """passwd's dedup record (replicated state, in every snapshot and
        backup, kept a day) must not hold SHA-256 of a request that holds
        the old and new password: with the user name known, that is an
        unsalted fast hash to guess both from (add-user and import-users
        leave their passwords out of the digest for this reason)."""
        self.w.add_user("rev13a", "student")
        old, new = World.PW, "a-brand-new-secret-13"
        body = {"old_password": old, "new_password": new}
        with self.node.raw() as c:
            tok = c.login("rev13a", old)
            self.assertStatus(c.call({"token": tok, "client_id": 1302, "seq": 1,
                                      "change_password": body}), "OK")
            # a retry of it is answered from the record, still
            self.assertStatus(c.call({"token": tok, "client_id": 1302, "seq": 1,
                                      "change_password": body}), "OK", "passwd retried")
        blob = self.answer_blob(1302)
        d = request_digest("rev13a", body_number("change_password"),
                           "ChangePasswordRequest", body)
        self.assertNotIn(d, blob, "SHA-256 of the passwords in the dedup record")

    def test_reset_password_leaves_no_fast_hash_of_the_password(self):
        self.w.add_user("rev13b", "student")
        body = {"user": "rev13b", "password": "one-time-secret-13"}
        with self.node.raw() as c:
            tok = c.login(lmstest.ADMIN, lmstest.ADMIN_PW)
            self.assertStatus(c.call({"token": tok, "client_id": 1303, "seq": 1,
                                      "reset_password": body}), "OK")
        d = request_digest(lmstest.ADMIN, body_number("reset_password"),
                           "ResetPasswordRequest", body)
        self.assertNotIn(d, self.answer_blob(1303),
                         "SHA-256 of the one-time password in the dedup record")

    # -- finding 2: an unenrolled student still posts in the course -----------

    def test_unenrolled_student_cannot_reply_resolve_or_list_questions(self):
        """docs/clients.md (unenroll): every check of the course treats them
        as not enrolled, questions included."""
        w = self.w
        w.add_user("rev13c", "student")
        w.enroll("CS101", "rev13c", "student")
        s = w.login("lms-student", "rev13c")
        doc = self.ok(s.run("ask", "--course", "CS101", "--instructor", "--title", "Q13",
                            "a question", json=True))
        qid = doc["id"]
        self.ok(w.admin.run("unenroll", "CS101", "rev13c"))
        with self.node.raw() as c:
            tok = c.login("rev13c", World.PW)
            self.assertStatus(c.call({"token": tok, "client_id": 1304, "seq": 1,
                                      "reply": {"query_id": qid, "text": "still here"}}),
                              "PERMISSION_DENIED", "a reply after unenroll")
            self.assertStatus(c.call({"token": tok, "client_id": 1304, "seq": 2,
                                      "resolve": {"query_id": qid}}),
                              "PERMISSION_DENIED", "resolve after unenroll")
            r = self.assertStatus(c.call({"token": tok, "list_queries": {}}), "OK")
            ids = [q["id"] for q in r["queries"]["queries"]]
            self.assertNotIn(qid, ids, "queries (no course) after unenroll")
        # enrolled again: their question is theirs again
        w.enroll("CS101", "rev13c", "student")
        with self.node.raw() as c:
            tok = c.login("rev13c", World.PW)
            self.assertStatus(c.call({"token": tok, "client_id": 1305, "seq": 1,
                                      "reply": {"query_id": qid, "text": "back"}}), "OK")
            r = self.assertStatus(c.call({"token": tok, "list_queries": {}}), "OK")
            self.assertIn(qid, [q["id"] for q in r["queries"]["queries"]])

    # -- finding 3: a TA grades their own submission (rule_grader) ---------------

    def test_ta_cannot_grade_their_own_submission(self):
        """A student of CS101 who hands in work and is then made a TA of
        CS101 (enroll --as ta replaces the role) may grade, and regrade,
        their own submission: apply_grade and grade_prepare only ask
        whether the grader is staff of the course."""
        w = self.w
        w.add_user("rev13d", "student")
        w.enroll("CS101", "rev13d", "student")
        hw = w.create_assignment(title="Self graded")["id"]
        s = w.login("lms-student", "rev13d")
        path = self.node.dir + "/rev13d.txt"
        with open(path, "wb") as f:
            f.write(b"my own work\n")
        sub = self.ok(s.run("submit", str(hw), path, json=True))["id"]
        w.enroll("CS101", "rev13d", "ta")
        ta = w.login("lms-instructor", "rev13d")
        self.refused(ta.run("grade", str(sub), "--grade", "100", json=True),
                     "PERMISSION_DENIED", "a TA grading their own submission")
        self.assertIn("is your own work", ta.run("grade", str(sub), "--grade", "1").err)


if __name__ == "__main__":
    unittest.main()
