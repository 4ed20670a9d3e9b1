# SPDX-License-Identifier: MIT
"""Log repair from the leader's snapshot, end to end (issue 8, bug 4).

A follower whose command log lost entries it had applied (a flipped byte
in a complete record, valid records after it) must refill its log from the
leader before it rejoins Raft (core/repl/node_repair.c). When the leader has
meanwhile compacted its log past what the follower kept, no entries can
fill the gap: the follower asks for the leader's snapshot, installs it
(storage restored, snapshot file under its final name, command log reset
after it), fetches the entries after it and only then starts Raft.

The cluster snapshots every 40 entries and keeps 10 behind a snapshot, so
a hundred writes while the follower is down compact the leader's log far
past it; a 1.5 MB material makes the snapshot span several chunks.

- Quiet cluster: the repaired node's log says it installed the leader's
  snapshot during repair and fetched the entries after it; every
  acknowledged write is on every node exactly once, the material byte for
  byte; it then votes (the old leader killed, the other two elect) and
  restarts from the installed snapshot.
- Under load: writers keep going while the snapshot streams (slowed to
  512 KiB/s, so it takes about 3 s), is installed and the entries after it
  are fetched, and the leader snapshots and compacts again meanwhile; the
  leader keeps the entries after the snapshot it streams
  (core/repl/node_snapshot.c), so the node installs that one snapshot and
  catches up, acknowledged writes exactly once, unacknowledged ones at
  most once.
"""

import hashlib
import os
import unittest

import test_cluster
import test_snapshot
from lmstest import wait_until
from test_cluster import Writers
from test_snapshot import materials, titles

RAFT = {"snapshot_entries": 40, "keep_entries": 10, "segment_bytes": "64KiB"}
# one bit in the middle of the last segment (modules imported whole, so
# that their test classes are not run again here)
flip_byte = test_cluster.TestFailures.flip_byte


class RepairTestCase(test_snapshot.SnapshotTestCase):
    RAFT = RAFT

    def damage_behind_a_compacted_leader(self):
        """A follower stopped with a flipped byte in its log while the
        leader snapshots and compacts past what it kept; returns (leader,
        damaged, other) and the material's bytes."""
        c = self.cluster
        self.ask("before", 60)
        c.wait_caught_up()
        leader = c.leader()
        damaged, other = [nd for nd in c.nodes if nd is not leader]
        damaged.stop()
        flip_byte(damaged)
        blob = self.upload("Big", 1536 << 10)
        self.ask("down", 100)
        wait_until(lambda: "log compacted up to" in leader.log_text(), timeout=20,
                   what="the leader snapshots and compacts its log")
        return leader, damaged, other, blob

    def assertRepairedFromSnapshot(self, leader, damaged):
        log = damaged.log_text()
        for what in ("corruption before the tail",
                     "compacted its log behind snapshot",
                     "log repair: installed the leader's snapshot",
                     "log repair: entries up to"):
            self.assertIn(what, log, "the repaired node's log")
        self.assertNotIn("take this node out", log)
        # The leader that sent it: a loaded machine can move leadership
        # between damage_behind_a_compacted_leader and the repair.
        senders = [nd.node_id for nd in self.cluster.nodes if nd is not damaged and
                   "sent to member %d" % damaged.node_id in nd.log_text()]
        self.assertTrue(senders, "no node's log says it sent node %d a snapshot "
                        "(the leader was node %d)" % (damaged.node_id, leader.node_id))


class TestRepairFromSnapshot(RepairTestCase):
    def test_damaged_log_behind_a_compacted_leader_is_repaired_from_its_snapshot(self):
        c = self.cluster
        leader, damaged, other, blob = self.damage_behind_a_compacted_leader()
        damaged.start()
        c.wait_caught_up(timeout=60)
        self.assertRepairedFromSnapshot(leader, damaged)
        self.assertExactlyOnce(c.nodes, self.asked)
        self.assertSameData(c.nodes, titles, materials)
        size, sha, _ = materials(damaged)["Big"]
        self.assertEqual((size, sha), (len(blob), hashlib.sha256(blob).digest()))

        # It follows the log afterwards and serves as a voter: without the
        # old leader, it and the third node elect one of themselves.
        self.ask("after", 5)
        c.wait_caught_up()
        leader.kill9()
        c.leader(among=[damaged, other])
        self.ask("failover", 3)
        c.wait_caught_up(nodes=[damaged, other])
        self.assertExactlyOnce([damaged, other], self.asked)
        self.assertSameData([damaged, other], titles, materials)

        # A restart after the repair starts from the installed snapshot.
        damaged.stop()
        damaged.start()
        c.wait_caught_up(nodes=[damaged, other])
        self.assertExactlyOnce([damaged, other], self.asked)


class TestRepairInterrupted(RepairTestCase):
    """A crash during repair: the log was already cut back to its committed
    prefix (which lowers the acked index the WAL keeps), so only the
    durable marker <data_dir>/repairing says that the node still lacks
    entries it acknowledged. A start that finds it repairs again before it
    votes, and removes it once done."""

    def test_a_start_that_finds_the_repair_marker_repairs_again(self):
        c = self.cluster
        self.ask("before", 20)
        c.wait_caught_up()
        leader = c.leader()
        follower = [nd for nd in c.nodes if nd is not leader][0]
        follower.stop()
        marker = os.path.join(follower.data_dir, "repairing")
        with open(marker, "w") as f:  # as a crash mid-repair leaves it
            f.write("log repair under way\n")
        self.ask("down", 10)
        follower.start()
        c.wait_caught_up(timeout=60)
        log = follower.log_text()
        self.assertIn("log repair: entries up to", log,
                      "the node repairs again when the marker is there")
        self.assertFalse(os.path.exists(marker), "the marker is removed once "
                         "the repair is done")
        self.assertExactlyOnce(c.nodes, self.asked)
        self.assertSameData(c.nodes, titles)

        # A clean restart without the marker needs no repair.
        follower.stop()
        n_repairs = follower.log_text().count("log repair: entries up to")
        follower.start()
        c.wait_caught_up()
        self.assertEqual(follower.log_text().count("log repair: entries up to"),
                         n_repairs, "no repair without the marker")


class TestGrownFromOneNode(RepairTestCase):
    """A cluster grown from one node with cluster-add: node 1's config
    still lists only itself (cluster.members is the initial
    configuration). Whether it is alone is its log's configuration's call,
    not the config file's (found by review): its damaged log is repaired
    from the other members, not refused as a lone voter's."""

    N = 1
    RAFT = None

    def test_first_node_of_a_grown_cluster_repairs_from_the_others(self):
        c = self.cluster
        first = c.nodes[0]
        admin = c.admin
        for _ in range(2):
            nd = c.add_node()
            nd.start()
            self.ok(admin.run("cluster-add", nd.node_id, "127.0.0.1:%d" % nd.peer_port,
                              nd.addr), "cluster-add %d" % nd.node_id)
            wait_until(lambda: any(m["id"] == nd.node_id and m["voter"]
                                   for m in c.status()["members"]),
                       timeout=20, what="node %d a voter" % nd.node_id)
        self.ask("grown", 30)
        c.wait_caught_up()
        first.stop()
        flip_byte(first)
        self.ask("without-1", 5)
        first.start()
        c.wait_caught_up(timeout=30)
        log = first.log_text()
        self.assertIn("corruption before the tail", log)
        self.assertNotIn("no other member to refill them", log,
                         "node 1 took itself for a lone voter")
        self.assertIn("log repair: entries up to", log)
        self.assertExactlyOnce(c.nodes)
        self.assertSameData(c.nodes)


class TestRepairUnderLoad(RepairTestCase):
    RAFT = dict(RAFT, snapshot_rate="512KiB")

    def test_repair_from_a_snapshot_while_writes_go_on(self):
        c = self.cluster
        leader, damaged, other, blob = self.damage_behind_a_compacted_leader()
        load = Writers(self.w, ["stud1", "stud2"], "load")
        load.start()
        try:
            load.wait_acks(5)
            damaged.start()
            before = len(load.acked)
            load.wait_acks(before + 60, timeout=60)
        finally:
            load.finish()
        c.wait_caught_up(timeout=60)
        self.assertRepairedFromSnapshot(leader, damaged)
        log = damaged.log_text()
        installs = (log.count("log repair: installed the leader's snapshot"),
                    log.count("installed snapshot"))
        self.assertEqual(installs, (1, 0), "snapshots node %d installed in repair "
                         "and after it (expected one in repair, none after)"
                         % damaged.node_id)
        self.assertExactlyOnce(c.nodes, self.asked + load.acked,
                               [t for t, _, _ in load.failed])
        self.assertSameData(c.nodes, titles, materials)
        self.assertEqual(materials(damaged)["Big"][0], len(blob))


if __name__ == "__main__":
    unittest.main()
