# SPDX-License-Identifier: MIT
"""lms-bench follows NOT_LEADER, end to end: pointed at a follower of a
3-node cluster only, a short write run ends with no errors, its report
counts the redirects to the leader, and every acknowledged question is
stored exactly once (a redirected request is sent again with its client_id
and seq). With every node in its list, a run through a kill -9 of the
leader ends with no errors either."""

import json
import os
import subprocess
import threading
import unittest

import lmstest
from lmstest import Cluster, E2ETestCase, db_rows

PW = "password-123"


class BenchRedirectTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.bench = lmstest._env_path("LMS_BENCH")
        cls.cluster = Cluster(n=3, name="bench")
        try:
            cls.cluster.start()
            admin = cls.cluster.admin
            for args, inp in [(("add-user", "stud1", "--role", "student", "--password-stdin"),
                               PW + "\n"),
                              (("create-course", "CS101", "--title", "Intro"), None),
                              (("enroll", "CS101", "stud1", "--as", "student"), None)]:
                r = admin.run(*args, input=inp)
                if r.rc != 0:
                    raise AssertionError("setup: %r" % (r,))
            cls.stud = cls.cluster.cli("lms-student")
            r = cls.stud.login("stud1", PW)
            if r.rc != 0:
                raise AssertionError("stud1 login: %r" % (r,))
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for nd in cls.cluster.nodes:
            nd.cleanup()

    def run_bench(self, *args):
        argv = [self.bench, "--token-file", os.path.join(self.stud.home, "session"),
                "--json"] + [str(a) for a in args]
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120)
        what = "$ %s\n  exit %d\n  stdout: %s\n  stderr: %s" % (
            " ".join(argv), p.returncode, p.stdout.decode()[:2000], p.stderr.decode()[:2000])
        self.assertEqual(p.returncode, 0, "lms-bench failed\n" + what)
        try:
            return json.loads(p.stdout), what
        except ValueError as e:
            self.fail("lms-bench --json printed no JSON (%s)\n%s" % (e, what))

    def bench_questions(self, node):
        """Titles of the questions lms-bench asked, stored on node, and those
        stored more than once."""
        rows = db_rows(node, "SELECT title, count(*) FROM queries "
                             "WHERE title LIKE 'bench %' GROUP BY title")
        return {t for t, _ in rows}, [t for t, n in rows if n != 1]

    def assertExactlyOnceRun(self, node, before, res, what):
        """Every request of the run acknowledged, each stored once on node."""
        self.assertEqual(res["errors"], 0, "errors in the run\n" + what)
        self.assertGreater(res["ok"], 0, "no write acknowledged\n" + what)
        self.assertEqual(res["sent"], res["ok"], what)
        after, twice = self.bench_questions(node)
        self.assertEqual(twice, [], "questions stored more than once")
        self.assertEqual(len(after - before), res["ok"],
                         "questions stored vs. acknowledged\n" + what)

    def test_writes_at_a_follower_follow_the_leader(self):
        leader = self.cluster.leader()
        follower = next(nd for nd in self.cluster.nodes if nd is not leader)
        before, _ = self.bench_questions(leader)
        res, what = self.run_bench("-s", follower.addr, "-c", 2, "--pipeline", 2, "-d", 1,
                                   "--op", "ask", "--course", "CS101", "--label", "redirect")
        self.assertGreaterEqual(res["redirects"], 2, "each client redirected once at least\n"
                                + what)
        self.assertExactlyOnceRun(leader, before, res, what)

    def test_writes_go_on_when_the_leader_is_killed(self):
        c = self.cluster
        leader = c.leader()
        before, _ = self.bench_questions(leader)
        killer = threading.Timer(0.5, leader.kill9)
        killer.start()
        try:
            res, what = self.run_bench("-s", c.addr, "-c", 2, "-d", 2, "--op", "ask",
                                       "--course", "CS101", "--label", "failover")
        finally:
            killer.join()
        survivor = c.leader(among=[nd for nd in c.nodes if nd is not leader])
        self.assertExactlyOnceRun(survivor, before, res, what)
        leader.start()  # for the tests after this one
        c.wait_caught_up()

    def test_a_list_whose_first_server_is_a_follower(self):
        leader = self.cluster.leader()
        follower = next(nd for nd in self.cluster.nodes if nd is not leader)
        res, what = self.run_bench("-s", "%s,%s" % (follower.addr, leader.addr), "-c", 1,
                                   "-n", 20, "--op", "whoami")
        self.assertEqual((res["errors"], res["ok"]), (0, 20), what)
        self.assertEqual(res["redirects"], 1, what)


if __name__ == "__main__":
    unittest.main()
