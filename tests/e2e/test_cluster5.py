# SPDX-License-Identifier: MIT
"""Raft clusters losing and regaining their majority, and membership changes
that take out the leader or a follower, end to end (real lmsd processes on
loopback, the real CLIs).

- Five nodes: one leader; a write through each node's address succeeds.
  kill -9 of the leader while clients write: a new leader, every
  acknowledged write on every survivor exactly once. kill -9 of the new
  leader (3 of 5 left, still a majority): writes go on. kill -9 of a third
  node (2 of 5): every write fails within a bounded time with exit 3, none
  is acknowledged, and each says what is true: UNAVAILABLE ("no lms leader
  available", nothing stored) or, for a write a leader took before it
  found itself without a majority, UNKNOWN ("outcome unknown": the entry
  is in a log and could still commit). Two of the
  killed nodes come back: a leader again, writes succeed, the restarted
  nodes catch up (cluster-status: applied = the leader's commit), every
  acknowledged write is on every node exactly once; the last one too.
- lms-admin cluster-remove of the leader itself (3 nodes): the command
  succeeds while clients write, the leader hands over to one of the others
  and steps down, writes go on through the remaining two, cluster-status no
  longer lists it, and while it keeps running it neither leads nor moves
  the others' term; it then stops cleanly (SIGTERM, exit 0).
- lms-admin cluster-remove of a follower while clients write, then a
  2-node cluster: every write acknowledged before, during and after is
  there exactly once on both; with either of the two killed no write
  succeeds (exit 3, UNAVAILABLE or UNKNOWN); with it back, writes succeed again.

Data are compared in each node's SQLite file once it reports that it
applied everything the leader committed (as in test_cluster.py).
"""

import threading
import time
import unittest

from lmstest import Cluster, ClusterTestCase, World, db_rows, titles, wait_until
from test_cluster import Writers

# how long a CLI retries before it gives up when there is no leader
SHORT_TIMEOUT = 3
# a write that fails for want of a leader must fail within this many seconds
# (the client's own timeout, an idle wait on a leader that lost its
# majority, and a slow machine)
FAIL_BOUND = 4 * SHORT_TIMEOUT + 10


def course_codes(node):
    return dict(db_rows(node, "SELECT code, count(*) FROM courses GROUP BY code"))


class Attempts:
    """Writers that expect nothing to succeed: each student CLI asks
    questions in a loop with a short client timeout, recording what was
    acknowledged (nothing should be) and how long each failure took."""

    def __init__(self, world, students, tag):
        self.acked, self.failed = [], []  # failed: (title, rc, status, stderr, seconds)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.loop, args=(world[s], s, tag), daemon=True)
                        for s in students]

    def loop(self, cli, name, tag):
        n = 0
        env = {"LMS_CLIENT_TIMEOUT": str(SHORT_TIMEOUT)}
        while not self.stop.is_set():
            n += 1
            title = "%s-%s-%d" % (tag, name, n)
            t0 = time.monotonic()
            r = cli.run("ask", "--course", "CS101", "--instructor", "--title", title, title,
                        env=env, timeout=120, json=True)
            took = time.monotonic() - t0
            with self.lock:
                if r.rc == 0:
                    self.acked.append(title)
                else:
                    self.failed.append((title, r.rc, r.status, r.err.strip(), took))

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(120)

    def wait_failures(self, count, timeout):
        wait_until(lambda: len(self.failed) >= count, timeout=timeout, interval=0.1,
                   what="%d failed writes" % count)


class Cluster5TestCase(ClusterTestCase):

    # -- helpers ------------------------------------------------------------

    def assertSameData(self, nodes):
        super().assertSameData(nodes, titles, course_codes)
        for code, count in course_codes(nodes[0]).items():
            self.assertEqualMsg(count, 1, "copies of course %s" % code)

    def write(self, code, timeout=20, what=None):
        """A course created through the cluster; asserts exit 0."""
        r = self.cluster.admin.run("create-course", code, "--title", "t " + code,
                                   env={"LMS_CLIENT_TIMEOUT": str(timeout)}, timeout=timeout * 3 + 30)
        self.ok(r, what or "create-course %s" % code)
        return code

    def assertNoLeaderOrUnknown(self, r, what):
        """Exit 3, and either nothing stored (UNAVAILABLE, "no lms leader
        available") or an honest unknown (UNKNOWN, "outcome unknown"): a
        leader that took the write before it lost its majority keeps the
        entry in its log, where a later term may commit it."""
        want = {"UNAVAILABLE": "no lms leader available", "UNKNOWN": "outcome unknown"}
        status = r.status if r.json is not None else (
            "UNKNOWN" if "outcome unknown" in r.err else "UNAVAILABLE")
        self.assertIn(status, want, "%s: status of %r" % (what, r))
        self.refused(r, status, what, rc=3, in_message=want[status])

    def write_fails(self, code, what):
        """A write that must fail for want of a leader: exit 3, UNAVAILABLE,
        within FAIL_BOUND seconds. Returns the code (it may still show up
        once, later: it was never acknowledged)."""
        t0 = time.monotonic()
        r = self.cluster.admin.run("create-course", code, "--title", "must fail",
                                   env={"LMS_CLIENT_TIMEOUT": str(SHORT_TIMEOUT)},
                                   timeout=FAIL_BOUND + 60, json=True)
        took = time.monotonic() - t0
        self.assertNoLeaderOrUnknown(r, what)
        self.assertLess(took, FAIL_BOUND, "%s: the failure took %.1f s" % (what, took))
        return code, took

    def terms(self, nodes):
        """(leader id, {node id: term}) from cluster-status, once every one of
        nodes reports; the leader's view."""
        ids = {nd.node_id for nd in nodes}

        def get():
            st = self.cluster.status()
            ms = {m["id"]: m for m in st["members"]}
            if not ids <= set(ms) or not all(ms[i]["known"] for i in ids):
                return None
            return st["leader"], {i: ms[i]["term"] for i in ids}
        return wait_until(get, timeout=15, interval=0.1,
                          what="cluster-status reporting nodes %s" % sorted(ids))

    def assertStable(self, nodes, removed, seconds=3.0):
        """For a few seconds: the same leader and the same terms on nodes,
        and the removed node (still running) never leads."""
        leader0, terms0 = self.terms(nodes)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.assertTrue(removed.running, "the removed node %d exited" % removed.node_id)
            self.assertNotEqual(Cluster.probe(removed), "leader",
                                "the removed node %d leads" % removed.node_id)
            leader, terms = self.terms(nodes)
            self.assertEqualMsg(leader, leader0, "the leader while node %d is removed"
                                % removed.node_id)
            self.assertEqualMsg(terms, terms0, "terms while node %d is removed"
                                % removed.node_id)
            time.sleep(0.3)
        return leader0, terms0


class TestFiveNodes(Cluster5TestCase):
    N = 5

    def test_lose_and_regain_the_majority(self):
        c = self.cluster
        leader = c.leader()
        roles = sorted(Cluster.probe(nd) for nd in c.nodes)
        self.assertEqualMsg(roles, ["follower"] * 4 + ["leader"], "roles of the 5 nodes")
        w = World(c)
        courses = []
        for nd in c.nodes:  # through each node alone: the client follows the hint
            code = "N%d" % nd.node_id
            self.ok(c.admin.run("-s", nd.addr, "create-course", code, "--title", "via",
                                server=False), "create-course through node %d" % nd.node_id)
            courses.append(code)

        # 1. kill -9 of the leader while clients write
        load = Writers(w, ["stud1", "stud2"], "a")
        load.start()
        try:
            load.wait_acks(10, timeout=30)
            first = c.leader()
            t_kill = time.monotonic()
            first.kill9()
            alive = [nd for nd in c.nodes if nd is not first]
            second = c.leader(among=alive, timeout=30)
            before = len(load.acked)
            load.wait_acks(before + 10, timeout=40)
            print("\n5 nodes: kill -9 of leader %d -> node %d leads, 10 more writes in "
                  "%.0f ms" % (first.node_id, second.node_id,
                               (time.monotonic() - t_kill) * 1000))
            # 2. kill -9 of the new leader: 3 of 5 are still a majority
            t_kill = time.monotonic()
            second.kill9()
            alive = [nd for nd in alive if nd is not second]
            third = c.leader(among=alive, timeout=30)
            before = len(load.acked)
            load.wait_acks(before + 10, timeout=40)
            print("3 of 5: kill -9 of leader %d -> node %d leads, 10 more writes in %.0f ms"
                  % (second.node_id, third.node_id, (time.monotonic() - t_kill) * 1000))
        finally:
            load.finish()
        acked = list(load.acked)
        not_acked = [t for t, _, _ in load.failed]
        courses.append(self.write("THREE", what="a write with 3 of 5 nodes"))
        c.wait_caught_up(nodes=alive)
        self.assertExactlyOnce(alive, acked, not_acked)
        self.assertSameData(alive)

        # 3. kill -9 of a third node: 2 of 5, no majority; nothing succeeds
        victim = next(nd for nd in alive if nd is not third)
        victim.kill9()
        alive = [nd for nd in alive if nd is not victim]
        none = Attempts(w, ["stud1", "stud2"], "m").start()
        try:
            none.wait_failures(4, timeout=4 * FAIL_BOUND)
        finally:
            none.finish()
        self.assertEqualMsg(none.acked, [], "writes acknowledged with 2 of 5 nodes")
        for title, rc, status, err, took in none.failed:
            self.assertIn((rc, status), [(3, "UNAVAILABLE"), (3, "UNKNOWN")],
                          "exit status and status of %s (%s)" % (title, err))
            self.assertIn("no lms leader available" if status == "UNAVAILABLE"
                          else "outcome unknown", err, title)
            self.assertLess(took, FAIL_BOUND, "%s failed after %.1f s" % (title, took))
        code, took = self.write_fails("MINORITY", "create-course with 2 of 5 nodes")
        not_acked += [x[0] for x in none.failed]
        print("2 of 5: %d writes refused, each within %.1f s"
              % (len(none.failed) + 1, max([took] + [x[4] for x in none.failed])))
        for nd in alive:
            self.assertNotEqual(Cluster.probe(nd), "leader",
                                "node %d leads without a majority" % nd.node_id)

        # 4. two of the three come back: a leader, writes, everyone caught up
        first.start()
        victim.start()
        alive += [first, victim]
        c.leader(among=alive, timeout=30)
        courses.append(self.write("BACK", timeout=30, what="a write with 4 of 5 nodes"))
        load = Writers(w, ["stud1", "stud3"], "b")
        load.start()
        try:
            load.wait_acks(5, timeout=40)
        finally:
            load.finish()
        acked += load.acked
        not_acked += [t for t, _, _ in load.failed]
        c.wait_caught_up(nodes=alive, timeout=40)
        self.assertExactlyOnce(alive, acked, not_acked)
        self.assertSameData(alive)
        got = course_codes(first)
        for code in courses:
            self.assertEqualMsg(got.get(code, 0), 1, "copies of course %s" % code)
        self.assertLessEqual(got.get("MINORITY", 0), 1)

        # and the last one
        second.start()
        c.wait_caught_up(timeout=40)
        self.assertExactlyOnce(c.nodes, acked, not_acked)
        self.assertSameData(c.nodes)


class TestRemoval(Cluster5TestCase):
    # These assert that leader and terms stay put for seconds: election
    # timeouts of 300-600 ms instead of 100-200 ms keep a busy machine (two
    # cores, ASan, other suites) from causing an election of its own. A
    # removed node that campaigns still would, well within that time.
    RAFT = {"election_ticks": 30}
    def test_remove_the_leader(self):
        c = self.cluster
        w = World(c)
        c.wait_caught_up()
        old = c.leader()
        others = [nd for nd in c.nodes if nd is not old]
        term0 = c.status()["term"]
        load = Writers(w, ["stud1", "stud2"], "r")
        load.start()
        try:
            load.wait_acks(10, timeout=30)
            marks = {nd.node_id: len(nd.log_text()) for nd in others}
            t0 = time.monotonic()
            r = c.admin.run("cluster-remove", old.node_id, env={"LMS_CLIENT_TIMEOUT": "20"})
            self.ok(r, "cluster-remove of the leader (node %d)" % old.node_id)
            took = time.monotonic() - t0
            new = c.leader(among=others, timeout=20)
            print("\ncluster-remove of leader %d: answered in %.0f ms, node %d leads"
                  % (old.node_id, took * 1000, new.node_id))
            before = len(load.acked)
            load.wait_acks(before + 10, timeout=40)
        finally:
            load.finish()
        self.assertTrue(old.running, "the removed leader exited")
        self.assertNotEqual(Cluster.probe(old), "leader", "the removed node")
        since = old.log_text().rsplit("membership: proposed", 1)[-1]
        self.assertIn("raft: follower", since, "the removed leader stepped down")
        # by TimeoutNow the new leader campaigns without a pre-vote round
        how = "election" if "pre-candidate" in new.log_text()[marks[new.node_id]:] \
            else "TimeoutNow"
        print("handover to node %d by %s" % (new.node_id, how))
        st = c.status()
        self.assertEqualMsg(sorted(m["id"] for m in st["members"]),
                            sorted(nd.node_id for nd in others), "members after the removal")
        self.assertEqualMsg(st["leader"], new.node_id, "leader in cluster-status")
        self.assertGreater(st["term"], term0, "the term after the handover")
        # writes through each of the remaining nodes alone
        for nd in others:
            self.ok(c.admin.run("-s", nd.addr, "create-course", "R%d" % nd.node_id,
                                "--title", "after removal", server=False),
                    "create-course through node %d" % nd.node_id)
        # the removed node, still running, does not disturb the others
        leader, terms = self.assertStable(others, old, seconds=3.0)
        self.assertEqualMsg(leader, new.node_id, "the leader")
        # not a voter any more, in its own log too: it never campaigns
        since = old.log_text().rsplit("membership: proposed", 1)[-1]
        self.assertNotIn("candidate in term", since, "the removed node's log")
        old.stop()  # exit 0
        self.write("AFTER")
        c.wait_caught_up(nodes=others)
        acked = load.acked
        self.assertExactlyOnce(others, acked, [t for t, _, _ in load.failed])
        self.assertSameData(others)
        # what the removed node had acknowledged as leader, it has too
        got = titles(old)
        self.assertEqualMsg([t for t in acked if t in got and got[t] != 1], [],
                            "doubled on the removed node")

    def test_remove_a_follower_then_two_nodes(self):
        c = self.cluster
        w = World(c)
        c.wait_caught_up()
        leader = c.leader()
        gone = next(nd for nd in c.nodes if nd is not leader)
        pair = [nd for nd in c.nodes if nd is not gone]
        load = Writers(w, ["stud1", "stud2"], "f")
        load.start()
        try:
            load.wait_acks(10, timeout=30)
            mark = len(gone.log_text())
            self.ok(c.admin.run("cluster-remove", gone.node_id,
                                env={"LMS_CLIENT_TIMEOUT": "20"}),
                    "cluster-remove of follower %d" % gone.node_id)
            before = len(load.acked)
            load.wait_acks(before + 10, timeout=40)
            st = c.status()
            self.assertEqualMsg(sorted(m["id"] for m in st["members"]),
                                sorted(nd.node_id for nd in pair), "members after the removal")
            self.assertEqualMsg(st["leader"], leader.node_id, "the leader")
            # the removed follower, still running, does not disturb the others
            self.assertStable(pair, gone, seconds=2.0)
        finally:
            load.finish()
        # it may not know it was removed (the leader stops sending to it at
        # once): it tries pre-votes, which nobody grants, so its term stays
        self.assertNotIn("raft: candidate in term", gone.log_text()[mark:],
                         "the removed follower's log")
        gone.stop()  # exit 0
        acked = list(load.acked)
        not_acked = [t for t, _, _ in load.failed]
        c.wait_caught_up(nodes=pair)
        self.assertExactlyOnce(pair, acked, not_acked)
        self.assertSameData(pair)

        # two voters: both are needed for a write
        courses = [self.write("PAIR")]
        failed = []
        lead2 = c.leader(among=pair)
        for victim in (lead2, next(nd for nd in pair if nd is not lead2)):
            victim.kill9()
            code, took = self.write_fails("DOWN%d" % victim.node_id,
                                          "a write with node %d of 2 down" % victim.node_id)
            failed.append(code)
            print("\n2 nodes, node %d down: write refused in %.1f s" % (victim.node_id, took))
            victim.start()
            c.leader(among=pair, timeout=30)
            courses.append(self.write("UP%d" % victim.node_id, timeout=30,
                                      what="a write with node %d back" % victim.node_id))
        r = w["stud1"].run("ask", "--course", "CS101", "--instructor", "--title", "last",
                           "last", env={"LMS_CLIENT_TIMEOUT": "20"})
        self.ok(r, "a question with both nodes up")
        acked.append("last")
        c.wait_caught_up(nodes=pair)
        self.assertExactlyOnce(pair, acked, not_acked)
        self.assertSameData(pair)
        got = course_codes(pair[0])
        for code in courses:
            self.assertEqualMsg(got.get(code, 0), 1, "copies of course %s" % code)


if __name__ == "__main__":
    unittest.main()
