# SPDX-License-Identifier: MIT
"""A 3-node Raft cluster on loopback, end to end.

- One leader is elected; a write through any node's address succeeds (the
  client follows NOT_LEADER to the leader) and is seen through every node.
- lms-admin cluster-status shows every node (text and --json), for admins.
- kill -9 of the leader while clients write: a new leader takes over (the
  failover time, kill to the first acknowledged write, is printed), every
  acknowledged write is on every node exactly once, and the killed node
  catches up when it comes back.
- The leader stopped with SIGSTOP (isolated): the others elect a new
  leader; what is sent to the old one is never acknowledged; after SIGCONT
  it steps down and catches up, and no acknowledged write is lost or doubled.
- SIGTERM of the leader hands leadership over before it exits.
- lms-admin cluster-add adds a fourth node as a learner, which the leader
  promotes once it has caught up; cluster-remove takes it out again.
- A follower's WAL with a torn tail is cut at restart and the follower
  catches up from the leader; one with a flipped byte in the middle (entries
  it had acknowledged and applied are lost) is refilled from the leader's
  log before it rejoins (log repair).

The data on each node is compared in its SQLite file (read-only), once the
node reports that it applied everything the leader committed.
"""

import glob
import os
import signal
import threading
import time
import unittest

from lmstest import (ADMIN, ADMIN_PW, Cluster, ClusterTestCase, RawConn, World, titles,
                     wait_until)

CLIENT_TIMEOUT = "8"


class Writers:
    """Student CLIs asking questions in a loop through the whole cluster;
    records which titles were acknowledged (exit 0) and which were not. A
    call that ends "outcome unknown" is run again, as its message says,
    until it is acknowledged or says nothing was stored (or the load
    stops: then it stays unknown). not_stored: the titles whose last run
    said "nothing was stored"; the rest of failed are unknown."""

    def __init__(self, world, students, tag):
        self.acked, self.failed, self.not_stored = [], [], []
        self.first_ack_after = {}  # time -> first ack at or after it
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.loop, args=(world[s], s, tag), daemon=True)
                        for s in students]
        self.ack_times = []

    def loop(self, cli, name, tag):
        n = 0
        env = {"LMS_CLIENT_TIMEOUT": CLIENT_TIMEOUT}
        while not self.stop.is_set():
            n += 1
            title = "%s-%s-%d" % (tag, name, n)
            t0 = time.monotonic()
            argv = ("ask", "--course", "CS101", "--instructor", "--title", title, title)
            r = cli.run(*argv, env=env, timeout=60, json=True)
            while r.rc == 3 and r.status == "UNKNOWN" and not self.stop.is_set():
                time.sleep(0.1)
                r = cli.run(*argv, env=env, timeout=60, json=True)
            with self.lock:
                if r.rc == 0:
                    self.acked.append(title)
                    self.ack_times.append((t0, time.monotonic()))
                else:
                    self.failed.append((title, r.rc, r.err.strip()[-200:]))
                    if r.rc == 3 and r.status == "UNAVAILABLE" and "nothing was stored" in r.err:
                        self.not_stored.append(title)

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(90)

    def wait_acks(self, count, timeout=20):
        wait_until(lambda: len(self.acked) >= count, timeout=timeout,
                   what="%d acknowledged writes" % count)


class TestElection(ClusterTestCase):
    def test_one_leader_and_writes_through_any_node(self):
        c = self.cluster
        leader = c.leader()
        roles = sorted(Cluster.probe(nd) for nd in c.nodes)
        self.assertEqualMsg(roles, ["follower", "follower", "leader"], "roles of the 3 nodes")
        follower = next(nd for nd in c.nodes if nd is not leader)

        def hint():  # a node that just started may not have heard from the leader
            with RawConn(follower.port) as raw:
                r = raw.call({"whoami": {}})
            return r if r["leader"] else None
        r = wait_until(hint, timeout=5, what="a leader hint from node %d" % follower.node_id)
        self.assertStatus(r, "NOT_LEADER", "a follower")
        self.assertEqualMsg(r["leader"], leader.addr, "the leader hint")
        self.assertIn(leader.addr, r["message"])
        admin = c.admin
        for nd in c.nodes:  # each node alone: the client follows the hint
            self.ok(admin.run("-s", nd.addr, "create-course", "N%d" % nd.node_id,
                              "--title", "via node %d" % nd.node_id, server=False),
                    "create-course through node %d" % nd.node_id)
        for nd in c.nodes:
            res = self.ok(admin.run("-s", nd.addr, "courses", json=True, server=False))
            codes = sorted(x["code"] for x in res["courses"])
            self.assertEqualMsg(codes, ["N1", "N2", "N3"], "courses seen through node %d"
                                % nd.node_id)

    def test_cluster_status(self):
        c = self.cluster
        leader = c.leader()
        self.ok(c.admin.run("create-course", "CS9", "--title", "status"))
        st = c.wait_caught_up()
        self.assertEqualMsg(st["leader"], leader.node_id, "leader in cluster-status")
        self.assertEqualMsg(sorted(m["id"] for m in st["members"]), [1, 2, 3], "members")
        for m in st["members"]:
            want = "leader" if m["id"] == leader.node_id else "follower"
            self.assertEqualMsg(m["role"], want, "role of node %d" % m["id"])
            self.assertEqualMsg(m["address"], c.nodes[m["id"] - 1].addr, "address")
            self.assertEqualMsg(m["applied"], st["commit"], "applied of node %d" % m["id"])
            self.assertEqualMsg(m["lag"], 0, "lag of node %d" % m["id"])
            self.assertTrue(m["voter"])
        text = self.ok(c.admin.run("cluster-status")).out
        self.assertIn("leader: node %d" % leader.node_id, text)
        for h in ("ID", "ADDRESS", "ROLE", "TERM", "COMMIT", "APPLIED", "SNAPSHOT", "LAG"):
            self.assertIn(h, text)
        for nd in c.nodes:
            self.assertIn(nd.addr, text)
        # a follower that stopped shows as unreachable, with its lag growing
        down = next(nd for nd in c.nodes if nd is not leader)
        down.kill9()
        self.ok(c.admin.run("create-course", "CS10", "--title", "while down"))

        def shows_down():
            m = [x for x in c.status()["members"] if x["id"] == down.node_id][0]
            return m if m["role"] == "unreachable" and m["lag"] > 0 else None
        wait_until(shows_down, timeout=10, what="node %d shown unreachable" % down.node_id)
        # admins only
        self.ok(c.admin.run("add-user", "stu", "--role", "student", "--password-stdin",
                            input=World.PW + "\n"))
        with RawConn(c.leader().port) as raw:
            token = raw.login("stu", World.PW)
            r = raw.call({"token": token, "cluster_status": {}})
        self.assertStatus(r, "PERMISSION_DENIED", "cluster-status by a student")

    def test_sigterm_of_the_leader_hands_over(self):
        c = self.cluster
        c.wait_caught_up()  # every node up and connected
        leader = c.leader()
        t0 = time.monotonic()
        leader.stop()  # asserts exit 0
        new = c.leader(among=[nd for nd in c.nodes if nd is not leader])
        took = time.monotonic() - t0
        self.assertIn("handing leadership to node %d" % new.node_id, leader.log_text())
        print("\nSIGTERM of the leader: node %d leads %.0f ms later"
              % (new.node_id, took * 1000))
        self.ok(c.admin.run("create-course", "AFTER", "--title", "after the handover"))
        leader.start()
        c.wait_caught_up()


class TestMembership(ClusterTestCase):
    def member(self, node_id):
        ms = [m for m in self.cluster.status()["members"] if m["id"] == node_id]
        return ms[0] if ms else None

    def test_add_and_remove_a_node(self):
        c = self.cluster
        admin = c.admin
        for i in range(5):
            self.ok(admin.run("create-course", "M%d" % i, "--title", "before the new node"))
        new = c.add_node()
        new.start()
        self.ok(admin.run("cluster-add", new.node_id, "127.0.0.1:%d" % new.peer_port,
                          new.addr), "cluster-add")
        # a learner first; a voter once it has caught up, by itself
        m = wait_until(lambda: (lambda m: m if m and m["voter"] and m["known"] else None)(
            self.member(new.node_id)), timeout=15, what="node 4 promoted to a voter")
        self.assertEqualMsg(m["address"], new.addr, "node 4's client address")
        self.assertIn("membership: node 4 caught up; promoting it to a voter",
                      c.leader().log_text())
        self.ok(admin.run("create-course", "M9", "--title", "with four nodes"))
        c.wait_caught_up()
        self.assertEqualMsg(len(c.status()["members"]), 4, "members after cluster-add")
        res = self.ok(admin.run("-s", new.addr, "courses", json=True, server=False))
        self.assertEqualMsg(len(res["courses"]), 6, "courses read through node 4")
        r = admin.run("cluster-add", new.node_id, "127.0.0.1:1", "127.0.0.1:2")
        self.refused(r, "INVALID_ARGUMENT", "adding a member twice", in_message="member already")
        self.ok(admin.run("cluster-remove", new.node_id), "cluster-remove")
        wait_until(lambda: self.member(new.node_id) is None, timeout=10,
                   what="node 4 gone from cluster-status")
        new.stop()
        self.ok(admin.run("create-course", "M10", "--title", "three again"))
        c.nodes.remove(new)
        c.wait_caught_up()


class TestFailures(ClusterTestCase):
    def world(self):
        w = World(self.cluster)
        return w

    def test_kill_leader_while_writing(self):
        c = self.cluster
        w = self.world()
        load = Writers(w, ["stud1", "stud2"], "k")
        load.start()
        try:
            load.wait_acks(10)
            leader = c.leader()
            t_kill = time.monotonic()
            leader.kill9()
            # the first write acknowledged after the kill, from a fresh client
            probe = c.cli("lms-admin", home=c.admin.home)
            n = 0
            while True:
                n += 1
                r = probe.run("create-course", "F%d" % n, "--title", "failover probe",
                              env={"LMS_CLIENT_TIMEOUT": "20"})
                if r.rc == 0:
                    break
                self.assertLess(time.monotonic() - t_kill, 30, "no write within 30 s: %r" % r)
            failover = time.monotonic() - t_kill
            survivors = [nd for nd in c.nodes if nd is not leader]
            new = c.leader(among=survivors)
            print("\nfailover: kill -9 of leader node %d -> first acknowledged write on "
                  "node %d in %.0f ms" % (leader.node_id, new.node_id, failover * 1000))
            before = len(load.acked)
            load.wait_acks(before + 10)
        finally:
            load.finish()
        c.wait_caught_up(nodes=survivors)
        failed_titles = [t for t, _, _ in load.failed]
        # strict: every failure says nothing was stored, and nothing was
        # (an unknown outcome was run again until it said which)
        unknown = [f for f in load.failed if f[0] not in load.not_stored]
        self.assertFalse(unknown, "writes that did not end acknowledged or 'nothing was "
                         "stored': %r" % unknown[:5])
        self.assertExactlyOnce(survivors, load.acked, absent=failed_titles)
        self.assertSameData(survivors)
        # the killed node comes back and catches up
        leader.start()
        c.wait_caught_up()
        self.assertExactlyOnce(c.nodes, load.acked, absent=failed_titles)
        self.assertSameData(c.nodes)

    def test_isolated_leader_commits_nothing(self):
        c = self.cluster
        w = self.world()
        old = c.leader()
        with RawConn(old.port) as raw:
            token = raw.login("stud1", World.PW)
        load = Writers(w, ["stud2"], "i")
        load.start()
        try:
            load.wait_acks(5)
            old.proc.send_signal(signal.SIGSTOP)
            try:
                others = [nd for nd in c.nodes if nd is not old]
                new = c.leader(among=others)
                # a write sent to the stopped leader alone
                raw = RawConn(old.port, timeout=20)
                rid = raw.send({"token": token, "client_id": 77, "seq": 1,
                                "ask": {"course": "CS101", "title": "to-the-old-leader",
                                        "text": "lost?"}})
                before = len(load.acked)
                load.wait_acks(before + 10)  # the others go on without it
            finally:
                old.proc.send_signal(signal.SIGCONT)
            r = raw.recv()
            raw.close()
            self.assertEqualMsg(r["id"], rid, "response id")
            # NOT_LEADER if it hears of the new term before it reads the
            # request; UNKNOWN if it proposes first and then loses office
            # (it cannot know whether its entry survived: it did not, as
            # checked below, but saying "refused" would be a guess)
            self.assertIn(r["status"], ("NOT_LEADER", "UNAVAILABLE", "UNKNOWN"),
                          "the old leader's answer after SIGCONT")
            wait_until(lambda: Cluster.probe(old) == "follower", timeout=10,
                       what="the old leader to step down")
            self.assertEqualMsg(c.leader(), new, "the leader after SIGCONT")
            before = len(load.acked)
            load.wait_acks(before + 5)
        finally:
            load.finish()
        c.wait_caught_up()
        self.assertExactlyOnce(c.nodes, load.acked, [t for t, _, _ in load.failed])
        for nd in c.nodes:
            self.assertNotIn("to-the-old-leader", titles(nd), "node %d" % nd.node_id)
        self.assertSameData(c.nodes)

    @staticmethod
    def tear_tail(nd):
        """Half a record at the end of the last segment: a torn write."""
        seg = sorted(glob.glob(os.path.join(nd.data_dir, "wal", "wal-*.log")))[-1]
        with open(seg, "ab") as f:
            f.write(b"\x40\x00\x00\x00\x11\x22\x33\x44partial")

    @staticmethod
    def flip_byte(nd):
        """One bit in the middle of the log: that record and every later
        one are cut, entries the node had applied among them."""
        seg = sorted(glob.glob(os.path.join(nd.data_dir, "wal", "wal-*.log")))[-1]
        middle = os.path.getsize(seg) // 2
        with open(seg, "r+b") as f:
            f.seek(middle)
            b = f.read(1)
            f.seek(middle)
            f.write(bytes([b[0] ^ 0x01]))

    def test_damaged_follower_logs_are_repaired(self):
        c = self.cluster
        w = self.world()
        asks = []

        def ask(tag, n):
            for i in range(n):
                t = "%s-%d" % (tag, i)
                self.ok(w["stud1"].run("ask", "--course", "CS101", "--instructor",
                                       "--title", t, t))
                asks.append(t)
        ask("before", 20)
        c.wait_caught_up()
        leader = c.leader()
        torn, flipped = [nd for nd in c.nodes if nd is not leader]
        for nd, damage, logged in (
                (torn, self.tear_tail, ["(torn tail)"]),
                (flipped, self.flip_byte, ["corruption before the tail",
                                           "log repair: entries up to"])):
            nd.stop()
            damage(nd)
            ask("while-%d-down" % nd.node_id, 5)
            nd.start()
            c.wait_caught_up()
            for what in logged:
                self.assertIn(what, nd.log_text(), "node %d's log" % nd.node_id)
        self.assertNotIn("log repair", torn.log_text(),
                         "a torn tail was never acknowledged: nothing to repair")
        self.assertExactlyOnce(c.nodes, asks)
        self.assertSameData(c.nodes)
        # and they serve: without the leader, they elect one of themselves
        leader.kill9()
        c.leader(among=[torn, flipped])
        ask("after", 1)


if __name__ == "__main__":
    unittest.main()
