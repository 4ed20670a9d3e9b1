# SPDX-License-Identifier: MIT
"""Real partitions between real processes, through faultproxy.FaultNet.

- TestFaultNet: the proxy itself, over plain sockets: frames pass whole and
  are counted; cut(1, 2) drops 1 -> 2 on a live connection while 2 -> 1
  passes, and heal() restores it on the same connection; delay holds frames
  in order; bandwidth paces them; reset() aborts with RST; partition() and
  isolate() cut the right directed links.
- TestOneWay: in a 3-node cluster, cutting the leader -> follower link
  alone (the follower still talks to the leader) shows in the counters and
  makes the follower start elections the leader refuses to lose.
- TestIsolatedLeader: the leader isolated both ways: the others elect a
  new leader whose acknowledged writes survive the heal; the old leader
  steps down and catches up.
- TestAddThroughProxy: a node added with cluster-add is proxied as well
  (its links carry frames, a cut to it holds it back, heal catches it up).
- TestStaleLeaderRefusal (issue 8, bug 2): a leader that still believes
  it leads, behind a one-way cut with a slow return path, is sent a write
  that the new leader's state allows (stud1's question in a course created
  and joined through the new leader). It must not refuse it from its stale
  state (NOT_FOUND, PERMISSION_DENIED): NOT_LEADER / UNAVAILABLE, or success.
"""

import socket
import struct
import threading
import time
import unittest

from faultproxy import FaultNet, hello_frame
from lmstest import (Cluster, ClusterTestCase, Cli, RawConn, World, db_rows, titles,
                     wait_until)


# ---------------------------------------------------------------------------
# the proxy on plain sockets


class FakeNode:
    """A peer port that records every frame it reads, per connection."""

    def __init__(self):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.ls.settimeout(0.2)
        self.port = self.ls.getsockname()[1]
        self.frames = []    # (connection number, payload)
        self.ends = []      # (connection number, "eof" | "reset")
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.accept, daemon=True)
        self.t.start()

    def accept(self):
        n = 0
        while not self.stop.is_set():
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:  # closed
                return
            n += 1
            threading.Thread(target=self.read, args=(c, n), daemon=True).start()

    def read(self, c, n):
        c.settimeout(0.2)
        buf = b""
        end = "eof"
        try:
            while not self.stop.is_set():
                try:
                    chunk = c.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    break
                buf += chunk
                while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">I", buf[:4])[0]:
                    ln = struct.unpack(">I", buf[:4])[0]
                    with self.lock:
                        self.frames.append((n, buf[4:4 + ln]))
                    buf = buf[4 + ln:]
        except ConnectionResetError:
            end = "reset"
        finally:
            c.close()
            with self.lock:
                self.ends.append((n, end))

    def payloads(self):
        with self.lock:
            return [p for _, p in self.frames]

    def close(self):
        self.stop.set()
        self.ls.close()


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


class TestFaultNet(unittest.TestCase):
    def setUp(self):
        self.net = FaultNet(seed=7)
        self.fakes = {i: FakeNode() for i in (1, 2, 3)}
        self.proxy = {i: self.net.add_node(i, f.port) for i, f in self.fakes.items()}
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close()
        self.net.stop()
        for f in self.fakes.values():
            f.close()

    def connect(self, src, dst):
        """src's outbound connection to dst (through the proxy), hello sent."""
        s = socket.create_connection(("127.0.0.1", self.proxy[dst]), timeout=5)
        s.sendall(hello_frame("t", src, dst))
        self.socks.append(s)
        wait_until(lambda: self.net.live(src, dst) == 1, timeout=5,
                   what="the proxy to see the hello of %d->%d" % (src, dst))
        return s

    def wait_payloads(self, dst, count, what):
        return wait_until(lambda: (lambda p: p if len(p) >= count else None)(
            self.fakes[dst].payloads()), timeout=5, what=what)

    def test_frames_pass_whole_and_are_counted(self):
        s = self.connect(1, 2)
        big = b"x" * 300000
        s.sendall(frame(b"a") + frame(big) + frame(b""))
        got = self.wait_payloads(2, 4, "hello + 3 frames at node 2")
        self.assertEqual(got[1:], [b"a", big, b""], "frames at node 2, whole and in order")
        c = self.net.counters(1, 2)
        self.assertEqual((c["frames_passed"], c["bytes_passed"], c["hellos"]),
                         (3, 4 + 1 + 4 + len(big) + 4, 1), "counters of 1->2: %r" % c)

    def test_cut_is_one_way_and_heals_on_the_same_connection(self):
        s12, s21 = self.connect(1, 2), self.connect(2, 1)
        self.net.cut(1, 2)
        s12.sendall(frame(b"lost-1") + frame(b"lost-2"))
        s21.sendall(frame(b"back"))
        self.wait_payloads(1, 2, "2->1 still passing")
        wait_until(lambda: self.net.counters(1, 2)["frames_dropped"] == 2, timeout=5,
                   what="2 frames dropped on 1->2")
        self.assertEqual(self.fakes[2].payloads()[1:], [], "frames at node 2 while cut")
        self.assertEqual(self.net.counters(2, 1)["frames_dropped"], 0, "drops on 2->1")
        self.net.heal(1, 2)
        s12.sendall(frame(b"after"))
        got = self.wait_payloads(2, 2, "the frame after heal")
        self.assertEqual(got[1:], [b"after"], "node 2 after heal")
        self.assertEqual(self.net.counters(1, 2)["connections"], 1,
                         "1->2 kept its one connection through the cut")

    def test_delay_holds_frames_in_order(self):
        s = self.connect(1, 3)
        self.net.delay(1, 3, 300, jitter_ms=100)
        t0 = time.monotonic()
        for i in range(20):
            s.sendall(frame(b"%d" % i))
        got = self.wait_payloads(3, 21, "20 delayed frames")
        took = time.monotonic() - t0
        self.assertEqual(got[1:], [b"%d" % i for i in range(20)], "order after delay")
        self.assertGreaterEqual(took, 0.29, "frames delayed 300 ms arrived after %.3f s" % took)

    def test_bandwidth_paces_bytes(self):
        s = self.connect(2, 3)
        self.net.bandwidth(2, 3, 200000)
        t0 = time.monotonic()
        for _ in range(10):
            s.sendall(frame(b"y" * 10000))
        self.wait_payloads(3, 11, "10 frames of 10 kB")
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, 0.4, "100 kB at 200 kB/s took %.3f s" % took)

    def test_reset_aborts_with_rst(self):
        s = self.connect(1, 2)
        n = self.net.reset(1, 2)
        self.assertEqual(n, 1, "connections reset")
        err = None
        try:
            s.settimeout(5)
            data = s.recv(10)
            err = "eof" if data == b"" else data
        except ConnectionResetError:
            err = "reset"
        self.assertEqual(err, "reset", "what the sender sees after reset()")
        wait_until(lambda: self.fakes[2].ends, timeout=5, what="node 2's side closed")
        self.assertEqual(self.fakes[2].ends[0][1], "reset", "what the receiver sees")
        self.assertEqual(self.net.counters(1, 2)["resets"], 1, "reset counter")
        s2 = self.connect(1, 2)  # a new connection works
        s2.sendall(frame(b"again"))
        self.assertIn(b"again", self.wait_payloads(2, 3, "a frame after reconnecting"))

    def test_drop_loses_some_frames(self):
        s = self.connect(3, 1)
        self.net.drop(3, 1, 0.5)
        for i in range(200):
            s.sendall(frame(b"%d" % i))
        c = wait_until(lambda: (lambda c: c if c["frames_passed"] + c["frames_dropped"] == 200
                                else None)(self.net.counters(3, 1)), timeout=5,
                       what="200 frames through 3->1")
        self.assertTrue(40 < c["frames_dropped"] < 160, "dropped with p=0.5: %r" % c)

    def test_partition_and_isolate_cut_the_directed_links(self):
        self.net.partition([1], [2, 3], one_way=True)
        cut = {(s, d) for s in (1, 2, 3) for d in (1, 2, 3)
               if s != d and self.net.faults(s, d)["cut"]}
        self.assertEqual(cut, {(1, 2), (1, 3)}, "one-way partition {1} -> {2,3}")
        self.net.heal()
        self.net.isolate(2)
        cut = {(s, d) for s in (1, 2, 3) for d in (1, 2, 3)
               if s != d and self.net.faults(s, d)["cut"]}
        self.assertEqual(cut, {(2, 1), (2, 3), (1, 2), (3, 2)}, "isolate(2)")
        self.net.heal(dst=2)
        cut = {(s, d) for s in (1, 2, 3) for d in (1, 2, 3)
               if s != d and self.net.faults(s, d)["cut"]}
        self.assertEqual(cut, {(2, 1), (2, 3)}, "after heal(dst=2)")

    def test_unreachable_destination_closes_the_source(self):
        self.fakes[3].close()
        time.sleep(0.3)  # the listener is gone: the proxy cannot connect
        s = socket.create_connection(("127.0.0.1", self.proxy[3]), timeout=5)
        self.socks.append(s)
        s.settimeout(5)
        try:
            data = s.recv(10)
        except ConnectionResetError:
            data = b""
        self.assertEqual(data, b"", "the source's connection once dst is unreachable")


# ---------------------------------------------------------------------------
# real clusters behind the proxy


class PartitionCase(ClusterTestCase):
    PROXIED = True

    def pinned(self, node, cli):
        """cli's user, talking to node alone."""
        return Cli(node, cli.prog, home=cli.home)

    def others(self, node):
        return [nd for nd in self.cluster.nodes if nd is not node]

    def report(self):
        print("\n" + self.cluster.net.report())


class TestOneWay(PartitionCase):
    def test_cut_leader_to_follower_only(self):
        c, net = self.cluster, self.cluster.net
        w = World(c)
        lead = c.leader()
        cut, other = self.others(lead)
        net.cut(lead.node_id, cut.node_id)
        back0 = net.counters(cut.node_id, lead.node_id)["frames_passed"]
        self.ok(w["stud1"].run("ask", "--course", "CS101", "--instructor", "--title",
                               "during-cut", "one way"), "a write during the one-way cut")
        time.sleep(1.0)  # several election timeouts of the cut follower
        self.assertIs(c.leader(among=[lead, other]), lead, "the leader during the cut")
        fwd = net.counters(lead.node_id, cut.node_id)
        back = net.counters(cut.node_id, lead.node_id)
        self.assertGreater(fwd["frames_dropped"], 0, "frames dropped leader->follower: %r" % fwd)
        self.assertGreater(back["frames_passed"], back0,
                           "frames follower->leader passed during the cut: %r" % back)
        self.assertEqual(back["frames_dropped"], 0, "follower->leader drops: %r" % back)
        self.assertNotIn("during-cut", titles(cut), "the write on the cut-off follower")
        self.assertIn("during-cut", titles(other), "the write on the other follower")
        net.heal()
        c.wait_caught_up()
        self.assertIs(c.leader(), lead, "the leader after heal (the cut follower's "
                      "pre-votes never disrupted it)")
        self.assertExactlyOnce(c.nodes, ["during-cut"])
        self.report()


class TestIsolatedLeader(PartitionCase):
    def test_isolated_leader_steps_down_and_catches_up(self):
        c, net = self.cluster, self.cluster.net
        w = World(c)
        old = c.leader()
        net.isolate(old.node_id)
        others = self.others(old)
        new = c.leader(among=others, timeout=20)
        stud = self.pinned(new, w["stud1"])
        acked = []
        for i in range(5):
            t = "iso-%d" % i
            self.ok(stud.run("ask", "--course", "CS101", "--instructor", "--title", t, t),
                    "write %s through the new leader" % t)
            acked.append(t)
        wait_until(lambda: Cluster.probe(old) != "leader", timeout=10,
                   what="the isolated old leader to step down by itself")
        for t in acked:
            self.assertNotIn(t, titles(old), "write on the isolated old leader")
        dropped = [net.counters(s, d)["frames_dropped"] for s, d in
                   [(old.node_id, o.node_id) for o in others] +
                   [(o.node_id, old.node_id) for o in others]]
        self.assertTrue(all(n > 0 for n in dropped), "drops on all 4 links: %r" % dropped)
        net.heal()
        c.wait_caught_up()
        self.assertIs(c.leader(), new, "the leader after heal")
        self.assertExactlyOnce(c.nodes, acked)
        self.assertSameData(c.nodes)
        self.report()


class TestStaleLeaderRefusal(PartitionCase):
    """Issue 8, bug 2. The old leader L must keep believing it leads while
    a new one acknowledges writes. Raft's check-quorum makes a leader that
    hears nothing step down within two election timeouts, so a plain cut
    leaves too short a window; what keeps L's belief alive is hearing its
    followers' answers LATE: with every follower -> L link delayed by D (in
    steady state first), cutting L -> followers lets the followers elect N
    at once while L goes on receiving answers from before the cut for D
    seconds, and N's messages only reach L after D. The delay grows in
    steps shorter than an election timeout: a jump to D at once would
    leave L hearing nothing for D, and it would step down then."""

    RAFT = {"election_ticks": 30}  # 300 ms at the default 10 ms tick
    DELAY_MS = 3000
    STEP_MS = 150

    def ramp_delay(self, links):
        ms = 0
        while ms < self.DELAY_MS:
            ms = min(ms + self.STEP_MS, self.DELAY_MS)
            for src, dst in links:
                self.cluster.net.delay(src, dst, ms)
            time.sleep(self.STEP_MS * 1.5 / 1000.0)

    def test_stale_leader_does_not_refuse_from_stale_state(self):
        c, net = self.cluster, self.cluster.net
        w = World(c)
        old = c.leader()
        followers = self.others(old)
        with RawConn(old.port) as raw:
            token = raw.login("stud1", World.PW)
        mark = len(old.log_text())
        self.ramp_delay([(f.node_id, old.node_id) for f in followers])
        time.sleep(self.DELAY_MS / 1000.0)  # late answers flowing steadily
        t_cut = time.monotonic()
        for f in followers:
            net.cut(old.node_id, f.node_id)
        new = c.leader(among=followers, timeout=self.DELAY_MS / 1000.0)
        admin = self.pinned(new, c.admin)
        self.ok(admin.run("create-course", "X101", "--title", "made by the new leader"))
        self.ok(admin.run("enroll", "X101", "stud1", "--as", "student"))
        raw = RawConn(old.port, timeout=self.DELAY_MS / 1000.0 + 20)
        rid = raw.send({"token": token, "client_id": 4242, "seq": 1,
                        "ask": {"course": "X101", "title": "stale-q", "text": "to the old"}})
        sent_after = time.monotonic() - t_cut
        steps = [ln for ln in old.log_text()[mark:].splitlines()
                 if "raft: " in ln and "raft: leader" not in ln]
        if steps:
            # a precondition of the scenario, not a fault of lmsd: on a busy
            # machine the old leader may step down before the write gets
            # there, and then there is no stale leader to test
            raw.close()
            self.skipTest("the old leader had stepped down before the write reached it "
                          "(%.2f s after the cut): the stale-leader window was missed: %s"
                          % (sent_after, steps[:2]))
        self.assertIsNot(new, old, "the new leader")
        r = raw.recv()
        raw.close()
        answered_after = time.monotonic() - t_cut
        print("\nstale leader: write sent %.2f s after the cut, answered %s after %.2f s"
              % (sent_after, r["status"], answered_after))
        self.assertEqual(r["id"], rid, "response id")
        if r["status"] not in ("NOT_LEADER", "UNAVAILABLE", "OK"):
            self.fail("the old leader, still believing it leads, refused stud1's question "
                      "in X101 (created and joined through the new leader) from its stale "
                      "state: expected NOT_LEADER, UNAVAILABLE or OK, got %s %r"
                      % (r["status"], r["message"]))
        net.heal()
        c.wait_caught_up()
        if r["status"] != "OK":
            self.ok(w["stud1"].run("ask", "--course", "X101", "--instructor", "--title",
                                   "stale-q", "again"), "the question through the cluster")
            c.wait_caught_up()  # every node applied the question asked again
        self.assertExactlyOnce(c.nodes, ["stale-q"])
        self.assertSameData(c.nodes)
        self.report()


class TestSlowDisk(PartitionCase):
    """The slow-disk fault hook (core/base/fault.h, test builds): a follower
    whose fsyncs stall 4 s does not hold back the others, nor apply an
    entry before its own disk has it; a leader with a slow disk still
    acknowledges every write exactly once."""

    def test_slow_disks_delay_but_lose_nothing(self):
        c = self.cluster
        w = World(c)
        lead = c.leader()
        if "fault hook (a test build)" not in lead.log_text():
            self.skipTest("lmsd was built without -DLMS_FAULT_HOOKS=ON (scripts/test "
                          "builds with it)")
        slow, other = self.others(lead)
        slow.stall_fsync(4000)
        self.ok(w["stud1"].run("ask", "--course", "CS101", "--instructor", "--title",
                               "slow-follower", "x"), "a write while a follower's disk stalls")
        # the other follower applies it once it hears the new commit index
        # (the next heartbeat), long before the stalled disk returns
        wait_until(lambda: "slow-follower" in titles(other), timeout=3,
                   what="the write applied on the other follower")
        self.assertNotIn("slow-follower", titles(slow),
                         "applied on the stalled follower before its disk had it")
        wait_until(lambda: "command-log fsyncs now stall 4000 ms" in slow.log_text(),
                   timeout=10, what="the stalled follower's log to say so")
        slow.stall_fsync(0)
        lead.stall_fsync(300)
        acked = []
        for i in range(5):
            t = "slow-leader-%d" % i
            self.ok(w["stud1"].run("ask", "--course", "CS101", "--instructor", "--title",
                                   t, t), "write %s with a slow leader disk" % t)
            acked.append(t)
        self.assertIn("command-log fsyncs now stall 300 ms", lead.log_text())
        lead.stall_fsync(0)
        c.wait_caught_up()
        self.assertExactlyOnce(c.nodes, acked + ["slow-follower"])
        self.assertSameData(c.nodes)


class TestSecondHelloFromSameMember(ClusterTestCase):
    """A member that reconnects while its old inbound connection is still
    up (it restarted behind a partition, a half-open TCP link): the new
    connection replaces the old one. peer.c freed the old one inside the
    loop that walked the list, then read its next pointer (found by
    review; a heap use-after-free under ASan)."""

    def test_a_second_hello_replaces_the_first(self):
        c = self.cluster
        a, b = c.nodes[0], c.nodes[1]
        socks = []
        try:
            for _ in range(3):
                s = socket.create_connection(("127.0.0.1", a.peer_port), timeout=5)
                s = c.peer_context(b.node_id).wrap_socket(s)  # b's certificate
                s.sendall(hello_frame(c.id, b.node_id, a.node_id))
                socks.append(s)
                time.sleep(0.3)
            self.assertTrue(a.running, "node %d died on a repeated hello from member %d:\n%s"
                            % (a.node_id, b.node_id, a.log_tail()))
            self.assertIsNotNone(c.leader(), "the cluster still has a leader")
        finally:
            for s in socks:
                s.close()


class TestAddThroughProxy(PartitionCase):
    def test_added_node_is_proxied_too(self):
        c, net = self.cluster, self.cluster.net
        admin = c.admin
        new = c.add_node()
        new.start()
        self.ok(admin.run("cluster-add", new.node_id, new.peer_addr, new.addr), "cluster-add")

        def voter():
            ms = [m for m in c.status()["members"] if m["id"] == new.node_id]
            return ms and ms[0]["voter"] and ms[0]["known"]
        wait_until(voter, timeout=20, what="node 4 promoted to a voter")
        lead = c.leader()
        for src, dst in ((lead.node_id, 4), (4, lead.node_id)):
            self.assertGreater(net.counters(src, dst)["frames_passed"], 0,
                               "frames through the proxy on %d->%d" % (src, dst))
        net.cut(lead.node_id, 4)
        self.ok(admin.run("create-course", "P1", "--title", "while 4 is cut off"))
        courses = lambda nd: {r[0] for r in db_rows(nd, "SELECT code FROM courses")}
        self.assertNotIn("P1", courses(new), "course on node 4 while leader->4 is cut")
        net.heal()
        c.wait_caught_up()
        self.assertIn("P1", courses(new), "course on node 4 after heal")
        addrs = {m["id"]: m["peer_address"] for m in c.status()["members"]}
        self.assertEqual({i: a.startswith("[::1]:") for i, a in addrs.items()},
                         {i: True for i in addrs}, "every member's peer address proxied: %r"
                         % addrs)
        self.report()
