# SPDX-License-Identifier: MIT
"""The reader threads (limits.readers; docs/architecture.md, "The path of a
request"): reads and the early checks of writes run beside the storage
thread on read-only storage handles. What must hold whatever thread reads:
an acknowledged write is seen by every read that starts after the
acknowledgement, a revoked session is refused at once (the loop's
authentication cache never outlives a logout), and limits.readers: 0 (the
storage thread reads, as before) serves the same."""

import os
import random
import threading
import unittest

import lmstest
from lmstest import ADMIN, ADMIN_PW, E2ETestCase


class ReadersTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(name="readers", limits={"readers": 3})
        cls.client_id = random.getrandbits(63) | 1
        cls.seq = 0

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def next_seq(self):
        ReadersTest.seq += 1
        return ReadersTest.seq

    def write(self, conn, token, body):
        return conn.call(dict(body, token=token, client_id=self.client_id,
                              seq=self.next_seq()))

    def test_the_node_says_how_many_readers_it_runs(self):
        self.assertIn("storage: 3 reader threads beside the storage thread",
                      self.node.log_text())

    def test_a_read_after_an_acknowledged_write_sees_it(self):
        """Each course is created on one connection and looked for on
        another right after the acknowledgement: whichever reader takes
        the read, its read transaction begins after the commit."""
        with self.node.raw() as w, self.node.raw() as r:
            admin = w.login(ADMIN, ADMIN_PW)
            for i in range(40):
                code = "RD%03d" % i
                res = self.write(w, admin, {"create_course": {"code": code,
                                                              "title": "t%d" % i}})
                self.assertStatus(res, "OK", "create_course %s" % code)
                listed = r.call({"token": admin, "list_courses": {}})
                self.assertStatus(listed, "OK", "list_courses after %s" % code)
                codes = {c["code"] for c in listed["courses"]["courses"]}
                self.assertIn(code, codes,
                              "a read after the acknowledgement of %s missed it" % code)

    def test_a_logged_out_session_is_refused_at_once(self):
        """Each token is used (so the loop caches whom it stands for),
        logged out, and used again at once, while other connections keep
        every reader busy with a valid token of the same user."""
        with self.node.raw() as c:
            keeper = c.login(ADMIN, ADMIN_PW)
        stop = threading.Event()
        problems = []

        def busy():
            try:
                with self.node.raw() as b:
                    while not stop.is_set():
                        res = b.call({"token": keeper, "whoami": {}})
                        if res["status"] != "OK":
                            problems.append(res)
                            return
            except Exception as e:  # reported below
                problems.append(repr(e))

        threads = [threading.Thread(target=busy) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            with self.node.raw() as c, self.node.raw() as other:
                for i in range(25):
                    token = c.login(ADMIN, ADMIN_PW)
                    self.assertStatus(c.call({"token": token, "whoami": {}}), "OK",
                                      "whoami with a fresh token (%d)" % i)
                    self.assertStatus(self.write(c, token, {"logout": {}}), "OK",
                                      "logout (%d)" % i)
                    for conn, where in ((c, "same connection"), (other, "another connection")):
                        res = conn.call({"token": token, "whoami": {}})
                        self.assertStatus(res, "UNAUTHENTICATED",
                                          "whoami with a logged-out token on the %s (%d)"
                                          % (where, i))
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertEqual(problems, [], "the valid token was refused meanwhile")


PIPELINED = 300


def pipeline_writes(node, tag):
    """Send PIPELINED create_course writes of one client, seq 1..N, back to
    back on one connection; return the answers that are not OK."""
    client_id = random.getrandbits(63) | 1
    bad = []
    with node.raw(timeout=60.0) as c:
        token = c.login(ADMIN, ADMIN_PW)
        ids = {}
        for seq in range(1, PIPELINED + 1):
            rid = c.send({"token": token, "client_id": client_id, "seq": seq,
                          "create_course": {"code": "%s%04d" % (tag, seq),
                                            "title": "t%d" % seq}})
            ids[rid] = seq
        for _ in range(PIPELINED):
            res = c.recv()
            if res["status"] != "OK":
                bad.append((ids.get(res["id"]), res["status"], res["message"]))
    return sorted(bad)


class PipelinedWritesTest(E2ETestCase):
    """docs/protocol.md lets a client pipeline its writes, seq growing by
    one per write. Prepare batches run on several readers and may finish
    in any order; they must still reach the proposal in the order they
    came, or the state machine refuses the lower seq as stale (found by
    review: 72 of 300 refused before the batches were put back in order)."""

    def check(self, readers, tag):
        node = lmstest.started_node(name="pipe%d" % readers,
                                    limits={"readers": readers})
        try:
            bad = pipeline_writes(node, tag)
            self.assertEqual(bad, [], "%d of %d pipelined writes refused, first: %s"
                             % (len(bad), PIPELINED, bad[:3]))
        finally:
            node.cleanup()

    def test_pipelined_writes_of_one_client_with_readers(self):
        self.check(4, "PB")

    def test_pipelined_writes_of_one_client_without_readers(self):
        self.check(0, "PA")


class NoReadersTest(E2ETestCase):
    """limits.readers: 0 reads on the storage thread and serves the same."""

    def test_no_readers_serves_reads_and_writes(self):
        node = lmstest.started_node(name="noreaders", limits={"readers": 0})
        try:
            self.assertNotIn("reader thread", node.log_text())
            a = node.cli("lms-admin")
            self.ok(a.login(ADMIN, ADMIN_PW), "admin login")
            self.ok(a.run("create-course", "NR101", "--title", "No readers"),
                    "create-course")
            doc = self.ok(a.run("courses", json=True), "courses --json")
            self.assertIn("NR101", [c["code"] for c in doc["courses"]])
            self.ok(a.run("whoami"), "whoami")
            self.ok(a.run("logout"), "logout")
        finally:
            node.cleanup()


if __name__ == "__main__":
    unittest.main()
