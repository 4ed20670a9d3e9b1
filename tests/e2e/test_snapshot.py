# SPDX-License-Identifier: MIT
"""Snapshots and log compaction in a 3-node cluster, end to end.

The cluster snapshots every 40 entries, keeps 10 behind a snapshot and
writes its command log in 64 KiB segments, so a few hundred writes make
every node snapshot several times and drop whole log segments.

- A follower that was down while the leader compacted its log past the
  follower's last entry catches up from a snapshot streamed in chunks (a
  3 MB material makes the snapshot span several chunks): its log says it
  received and installed the snapshot, and its database holds every
  acknowledged write exactly once and the material byte for byte, like the
  other nodes. It then serves as a voter: without the old leader, it and
  the third node elect a leader and take writes.
- A node added with cluster-add after the log was compacted starts from
  the leader's snapshot, then follows the log and is promoted to a voter.
- A stream cut in the middle (raft.snapshot_rate slows it down): the
  receiver killed and restarted starts over and installs it, leaving no
  partial file; the leader killed, the new leader's snapshot replaces the
  half-received one.
- An idle node whose log holds more than 1 MiB snapshots and compacts all
  of it (default policy otherwise not reached).
- A member's malformed InstallSnapshot chunks (no metadata, a stale term,
  a stream not starting at 0, more bytes than announced, a gap, a frame
  that does not decode) are each refused with an ack saying why; the node
  keeps its data and goes on serving.
- A node restarts from its own newest snapshot and the entries after it:
  the log says so, the command log no longer starts at index 1, the data
  is intact, and it catches up.
- A node whose log was compacted behind a snapshot file that is gone
  refuses to start, leaving its log alone, and starts once it is back.
- A node restarted after a crash in the middle of an install (the storage
  still at the old state while the snapshot file and the reset log are
  there) restores the storage from the snapshot file.
- Issue 8, a crash during a snapshot install: a node whose data dir holds
  the leader's snapshot S under its final name next to a command log that
  runs past S with entries of an older term (what the old install order
  left after a crash before the log reset: Raft refused to start on every
  restart) drops that tail, starts from S alone and catches up. A follower
  killed -9 right after its stream ends, and again right after its
  install, comes back each time, catches up and leaves no temp file.
- Issue 8, a long stream: at 256 KiB/s a 3 MB snapshot streams for over
  10 s while writes make the leader snapshot every 10 entries and prune
  the streamed file; the stream keeps its file open and completes.
"""

import glob
import hashlib
import os
import sqlite3
import socket
import struct
import time
import unittest

from lmstest import (SOURCE_DIR, ClusterTestCase, Proto, World, db_rows, file_body,
                     thread_nice, titles, wait_applied, wait_until)
from test_cluster import Writers

RAFT = {"snapshot_entries": 40, "keep_entries": 10, "segment_bytes": "64KiB"}


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = (c >> 8) ^ _CRC32C[(c ^ b) & 0xFF]
    return c ^ 0xFFFFFFFF


def wal_last(node):
    """(index, term) of the last record of node's command log (core/repl/wal.h:
    u32 length | u32 crc32c | u64 index | u64 term | u32 type | data, little
    endian)."""
    last = (0, 0)
    for seg in wal_segments(node):
        with open(seg, "rb") as f:
            data = f.read()
        off = 0
        while off + 8 <= len(data):
            length, _ = struct.unpack_from("<II", data, off)
            if length < 20 or off + 8 + length > len(data):
                break
            last = struct.unpack_from("<QQ", data, off + 8)
            off += 8 + length
    return last


def wal_append(node, first, count, term):
    """Append entries first.. of term (empty commands) to node's log."""
    with open(wal_segments(node)[-1], "ab") as f:
        for index in range(first, first + count):
            payload = struct.pack("<QQI", index, term, 0)
            f.write(struct.pack("<II", len(payload), crc32c(payload)) + payload)


def snapshot_index(path):
    return int(os.path.basename(path)[len("snap-"):-len(".lmss")])


def compacted_past(node, index):
    """Until node's log says it compacted its log past index."""
    def past():
        marks = [int(x.split()[0].rstrip(";,.")) for x in
                 node.log_text().split("log compacted up to ")[1:]]
        return marks and max(marks) > index
    wait_until(past, timeout=30,
               what="node %d compacts its log past %d" % (node.node_id, index))


def since_start(node):
    """node's log since its last start."""
    return node.log_text().split("--- lmsd start")[-1]


def materials(node):
    """Each material's size and SHA-256 as its row says, and the SHA-256 of
    the body this node's file store holds for it (None: missing)."""
    out = {}
    for t, size, sha in db_rows(node, "SELECT title, size, sha256 FROM materials"):
        body = file_body(node, sha)
        out[t] = (size, bytes(sha),
                  hashlib.sha256(body).digest() if body is not None else None)
        if body is None or len(body) != size or out[t][2] != bytes(sha):
            raise AssertionError("node %d: material %r: its body in the file store "
                                 "is missing or not the one its row names"
                                 % (node.node_id, t))
    return out


def wal_segments(node):
    return sorted(glob.glob(os.path.join(node.data_dir, "wal", "wal-*.log")))


def snapshots(node):
    return sorted(glob.glob(os.path.join(node.data_dir, "snap", "snap-*.lmss")))


class SnapshotTestCase(ClusterTestCase):
    RAFT = RAFT

    def setUp(self):
        super().setUp()
        self.w = World(self.cluster)
        self.asked = []

    def ask(self, tag, n, pause=0.0):
        for i in range(n):
            t = "%s-%d" % (tag, i)
            self.ok(self.w["stud1"].run("ask", "--course", "CS101", "--instructor",
                                        "--title", t, t), "ask %s" % t)
            self.asked.append(t)
            if pause:
                time.sleep(pause)

    def upload(self, title, size):
        """A material of size random bytes, uploaded; returns the bytes."""
        data = os.urandom(size)
        path = os.path.join(self.cluster.dir, "%s.bin" % title)
        with open(path, "wb") as f:
            f.write(data)
        self.ok(self.w["teach1"].run("upload", "--course", "CS101", "--title", title, path),
                "upload %s" % title)
        return data

    @staticmethod
    def compacts(node):
        wait_until(lambda: "log compacted up to" in node.log_text(), timeout=20,
                   what="node %d snapshots and compacts its log" % node.node_id)

    def compacted_follower(self):
        """A follower that compacted its log past its first segment (a 200 KB
        entry fills a 64 KiB segment by itself; later entries go to new
        segments, and the first becomes removable behind a snapshot),
        stopped."""
        self.upload("Notes", 200 << 10)
        self.ask("a", 60)
        self.cluster.wait_caught_up()
        leader = self.cluster.leader()
        follower = [nd for nd in self.cluster.nodes if nd is not leader][0]
        self.compacts(follower)
        follower.stop()
        self.assertNotEqual(os.path.basename(wal_segments(follower)[0]), "wal-%020d.log" % 1,
                            "the follower's command log still starts at index 1")
        return follower

    def assertExactlyOnce(self, nodes, acked=None, not_acked=()):
        """Every question asked (or those given) once on every node."""
        super().assertExactlyOnce(nodes, self.asked if acked is None else acked,
                                  not_acked)

    def assertSameData(self, nodes, *readers):
        """Questions and materials (or what readers read) alike everywhere."""
        super().assertSameData(nodes, *(readers or (titles, materials)))


class TestSnapshotCatchUp(SnapshotTestCase):
    def test_follower_catches_up_from_a_snapshot(self):
        c = self.cluster
        self.ask("before", 10)
        c.wait_caught_up()
        leader = c.leader()
        lagging, other = [nd for nd in c.nodes if nd is not leader]
        lagging.stop()

        # While it is down: a 3 MB material and enough writes for the
        # leader to snapshot and compact past everything the follower has.
        blob = self.upload("Big", 3 << 20)
        self.ask("down", 120)
        self.compacts(leader)
        first_segment = os.path.basename(wal_segments(leader)[0])
        self.assertNotEqual(first_segment, "wal-%020d.log" % 1,
                            "the leader's command log still starts at index 1")
        self.assertTrue(snapshots(leader), "no snapshot file on the leader")
        self.assertLessEqual(len(snapshots(leader)), 2, "old snapshot files are removed")

        lagging.start()
        c.wait_caught_up(timeout=60)
        log = lagging.log_text()
        self.assertIn("receiving snapshot", log)
        self.assertIn("installed snapshot", log)
        self.assertIn("sent to member %d" % lagging.node_id, leader.log_text())
        self.assertExactlyOnce(c.nodes)
        self.assertSameData(c.nodes)
        st = c.status()
        for m in st["members"]:  # every node reports its newest snapshot
            self.assertGreaterEqual(int(m.get("snapshot", 0)), 40,
                                    "node %d's snapshot in cluster-status" % m["id"])
        size, sha, _ = materials(lagging)["Big"]
        self.assertEqual((size, sha), (len(blob), hashlib.sha256(blob).digest()))

        # It keeps up from the log afterwards, and votes: the old leader
        # goes, the other two elect one of themselves and take writes.
        self.ask("after", 5)
        c.wait_caught_up()
        leader.kill9()
        c.leader(among=[lagging, other])
        self.ask("failover", 3)
        c.wait_caught_up(nodes=[lagging, other])
        self.assertExactlyOnce([lagging, other])


class TestSnapshotInterrupted(SnapshotTestCase):
    """Streams slowed to 1 MiB/s (raft.snapshot_rate), so that a 3 MB
    snapshot takes seconds and can be cut in the middle."""
    RAFT = dict(RAFT, snapshot_rate="1MiB")

    def lag_behind_a_big_snapshot(self):
        c = self.cluster
        self.ask("before", 5)
        c.wait_caught_up()
        leader = c.leader()
        lagging = [nd for nd in c.nodes if nd is not leader][0]
        lagging.stop()
        self.upload("Big", 3 << 20)
        self.ask("down", 60)
        self.compacts(leader)
        lagging.start()
        wait_until(lambda: "receiving snapshot" in lagging.log_text(), timeout=20,
                   what="the follower receives a snapshot")
        self.assertNotIn("received snapshot", lagging.log_text(),
                         "at 1 MiB/s the stream cannot be over yet")
        return leader, lagging

    def test_receiver_killed_mid_stream(self):
        c = self.cluster
        leader, lagging = self.lag_behind_a_big_snapshot()
        partial = os.path.join(lagging.data_dir, "snap", "*.recv")
        wait_until(lambda: glob.glob(partial) and os.path.getsize(glob.glob(partial)[0]),
                   timeout=10, what="a partial snapshot file")
        lagging.kill9()
        self.assertNotIn("received snapshot", lagging.log_text(),
                         "killed in the middle of the stream")
        self.assertTrue(glob.glob(partial), "the kill leaves the partial file behind")
        lagging.start()
        c.wait_caught_up(timeout=60)
        self.assertIn("installed snapshot", lagging.log_text())
        self.assertEqual(glob.glob(os.path.join(lagging.data_dir, "snap", "*.recv")), [],
                         "the partial file is gone")
        self.assertExactlyOnce(c.nodes)
        self.assertSameData(c.nodes)

    def test_leader_killed_mid_stream(self):
        """The new leader streams its own snapshot; the follower drops the
        half-received one for it."""
        c = self.cluster
        leader, lagging = self.lag_behind_a_big_snapshot()
        leader.kill9()
        rest = [nd for nd in c.nodes if nd is not leader]
        c.leader(among=rest)
        c.wait_caught_up(timeout=60, nodes=rest)
        log = lagging.log_text()
        self.assertIn("installed snapshot", log)
        self.assertIn("abandoned", log)
        self.ask("after", 3)
        c.wait_caught_up(nodes=rest)
        self.assertExactlyOnce(rest)
        self.assertSameData(rest)


class TestIdleCompaction(SnapshotTestCase):
    """Default policy (10000 entries or 64 MiB): a few writes never reach
    it, but an idle node whose log holds over 1 MiB snapshots and drops all
    of it that every member has."""
    RAFT = {}

    def test_idle_node_gives_its_log_back(self):
        c = self.cluster
        self.upload("Notes", 2 << 20)
        self.ask("a", 3)
        st = c.wait_caught_up()
        last = st["last_index"]
        for nd in c.nodes:
            wait_until(lambda: "log compacted up to %d" % last in nd.log_text(), timeout=20,
                       what="node %d compacts its whole log once idle" % nd.node_id)
        self.ask("b", 3)
        c.wait_caught_up()
        self.assertExactlyOnce(c.nodes)
        self.assertSameData(c.nodes)


class TestStaggeredSnapshots(SnapshotTestCase):
    """The members do not all snapshot at the same index: node N's
    thresholds are scaled by 100/110/120/130 % (snapshot_entries 40: 40,
    44, 48), and past its threshold a node waits for a quiet moment (up to
    half as much again)."""

    def test_members_snapshot_at_their_own_points(self):
        c = self.cluster
        # A quiet moment after every question (nothing applied for 3 ticks
        # of 10 ms): each node takes its snapshot at the first one past its
        # own threshold. Without the pauses, a slow build's questions could
        # leave no quiet moment until one that every node, past its
        # threshold, takes at the same index (seen under ASan: all at 54).
        self.ask("s", 70, pause=0.08)
        c.wait_caught_up()

        def firsts():
            out = {}
            for nd in c.nodes:
                marks = [int(x.split()[0]) for x in
                         nd.log_text().split("snapshot at index ")[1:]]
                if marks:
                    out[nd.node_id] = min(marks)
            return out if len(out) == len(c.nodes) else None
        first = wait_until(firsts, timeout=20, what="every member's first snapshot")
        # the bootstrap entries (configuration, admin) come before the
        # questions; a node's threshold counts entries since index 0
        for nd in c.nodes:
            want = 40 * (100 + 10 * ((nd.node_id - 1) % 4)) // 100
            self.assertGreaterEqual(first[nd.node_id], want,
                                    "node %d's first snapshot: %r" % (nd.node_id, first))
            # the thread that wrote it yields to the serving threads
            self.assertEqual(thread_nice(nd, "snapshot-0"), 10,
                             "node %d's snapshot thread runs at nice 10" % nd.node_id)
            self.assertEqual(thread_nice(nd, "storage-0"), 0,
                             "node %d's storage thread keeps its priority" % nd.node_id)
            self.assertLessEqual(first[nd.node_id], want * 3 // 2 + 5,
                                 "node %d waited past half again: %r" % (nd.node_id, first))
        self.assertGreater(len(set(first.values())), 1,
                           "every member snapshotted at the same index: %r" % first)
        self.assertExactlyOnce(c.nodes)
        self.assertSameData(c.nodes)


class FakePeer:
    """Member 3 of the cluster, played by the test while node 3 is down
    (with node 3's certificate): it dials a node's peer port (a hello, then
    any PeerMessage) and listens on node 3's own peer port for what that
    node sends back."""

    def __init__(self, cluster, me, target):
        self.proto = Proto(os.path.join(SOURCE_DIR, "proto", "peer.proto"))
        self.cluster, self.me, self.target = cluster, me, target
        self.listener = cluster.peer_context(me.node_id, server_side=True).wrap_socket(
            socket.create_server(("127.0.0.1", me.peer_port)), server_side=True)
        self.listener.settimeout(10)
        self.out = cluster.peer_context(me.node_id).wrap_socket(
            socket.create_connection(("127.0.0.1", target.peer_port), timeout=10))
        self.send("PeerMessage", {"hello": {"cluster": cluster.id, "from": me.node_id,
                                            "to": target.node_id, "version": 1}})
        self.back, self.buf = None, b""

    def send(self, typ, value):
        self.send_raw(self.proto.encode(typ, value))

    def send_raw(self, payload):
        self.out.sendall(struct.pack(">I", len(payload)) + payload)

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.back.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _accept_target(self):
        """The target's own connection to member 3 (the leader dials member
        3 too, with its appends: those connections are closed)."""
        while True:
            self.back, _ = self.listener.accept()
            self.back.settimeout(10)
            self.buf = b""
            (n,) = struct.unpack(">I", self._read(4))
            hello = self.proto.decode("PeerMessage", self._read(n)).get("hello", {})
            if hello.get("from") == self.target.node_id:
                return
            self.back.close()

    def next_ack(self):
        """The next PeerSnapshotAck the node sends member 3 (other messages
        on the way are skipped)."""
        if self.back is None:
            self._accept_target()
        while True:
            (n,) = struct.unpack(">I", self._read(4))
            msg = self.proto.decode("PeerMessage", self._read(n))
            if "snapshot_ack" in msg:
                return msg["snapshot_ack"]

    def close(self):
        for s in (self.out, self.back, self.listener):
            if s is not None:
                s.close()


class TestBadChunks(SnapshotTestCase):
    def test_bad_snapshot_chunks_are_refused_and_nothing_breaks(self):
        """A member's malformed InstallSnapshot chunks are each refused
        with an ack that says why; the node keeps its data and serves."""
        c = self.cluster
        self.ask("a", 5)
        c.wait_caught_up()
        third = c.nodes[2]  # the test speaks for it while it is down
        third.stop()
        leader = c.leader(among=c.nodes[:2])
        target = [nd for nd in c.nodes[:2] if nd is not leader][0]
        st = c.status()
        term = st["term"]
        before = titles(target)
        fake = FakePeer(c, third, target)
        try:
            meta = {"index": 10**6, "term": term}
            cases = [
                ({"term": term, "offset": 0, "data": b"x", "total": 1, "stream": 1},
                 "metadata does not decode"),
                ({"term": 0, "meta": meta, "offset": 0, "data": b"x", "total": 1,
                  "stream": 2}, "stale term"),
                ({"term": term, "meta": meta, "offset": 5, "data": b"x", "total": 9,
                  "stream": 3}, "expected offset 0"),
                ({"term": term, "meta": meta, "offset": 0, "data": b"x" * 200,
                  "total": 100, "stream": 4}, "does not fit"),
                # whole, but not a snapshot: read through before Raft sees it
                ({"term": term, "meta": meta, "offset": 0, "data": b"z" * 100,
                  "total": 100, "last": True, "stream": 6},
                 "does not start with a snapshot header"),
            ]
            for chunk, why in cases:
                fake.send("PeerMessage", {"chunk": chunk})
                ack = fake.next_ack()
                for _ in range(5):  # progress acks may come first
                    if ack["error"] or ack.get("done"):
                        break
                    ack = fake.next_ack()
                self.assertIn(why, ack["error"], "ack of %r" % (chunk,))
                self.assertEqual(ack["stream"], chunk["stream"])
            # a good start, then a gap
            fake.send("PeerMessage", {"chunk": {"term": term, "meta": meta, "offset": 0,
                                                "data": b"y" * 100, "total": 1000,
                                                "stream": 5}})
            ack = fake.next_ack()
            self.assertEqual((ack["error"], ack["received"]), ("", 100))
            recv = os.path.join(target.data_dir, "snap", "*.recv")
            self.assertTrue(glob.glob(recv), "the stream's temp file")
            fake.send("PeerMessage", {"chunk": {"term": term, "meta": meta, "offset": 500,
                                                "data": b"y" * 100, "total": 1000,
                                                "stream": 5}})
            self.assertIn("expected 100", fake.next_ack()["error"])
            # a good start, then the same stream claiming another size
            fake.send("PeerMessage", {"chunk": {"term": term, "meta": meta, "offset": 0,
                                                "data": b"y" * 100, "total": 1000,
                                                "stream": 7}})
            self.assertEqual(fake.next_ack()["error"], "")
            fake.send("PeerMessage", {"chunk": {"term": term, "meta": meta, "offset": 100,
                                                "data": b"y" * 100, "total": 2000,
                                                "stream": 7}})
            self.assertIn("term or size changed", fake.next_ack()["error"])
            # and a frame that is not a PeerMessage at all: the link goes
            fake.send_raw(b"\xff\xff\xff")
        finally:
            fake.close()
        wait_until(lambda: "sent a frame that does not decode" in target.log_text(), timeout=10,
                   what="the node closing the link that sent garbage")
        wait_until(lambda: not glob.glob(recv), timeout=10,
                   what="the temp file of the abandoned stream removed")
        self.assertEqual(titles(target), before, "the node's data is untouched")
        self.assertTrue(target.running, "the node keeps running")
        # it goes on serving: writes commit with it, node 3 comes back
        self.ask("after", 3)
        third.start()
        c.wait_caught_up(timeout=30)
        self.assertExactlyOnce(c.nodes)
        self.assertSameData(c.nodes)


class TestSnapshotNewMember(SnapshotTestCase):
    def test_new_member_starts_from_a_snapshot(self):
        """A node added after the log was compacted gets the leader's
        snapshot as a learner, then the log, and is promoted."""
        c = self.cluster
        self.ask("before", 60)
        self.compacts(c.leader())
        new = c.add_node()
        new.start()
        self.ok(c.admin.run("cluster-add", new.node_id, "127.0.0.1:%d" % new.peer_port,
                            new.addr), "cluster-add")

        def promoted():
            ms = [m for m in c.status()["members"] if m["id"] == new.node_id]
            return ms and ms[0]["voter"] and ms[0]["known"]
        wait_until(promoted, timeout=30, what="node 4 promoted to a voter")
        self.assertIn("installed snapshot", new.log_text())
        self.ask("after", 5)
        c.wait_caught_up(timeout=30)
        self.assertExactlyOnce(c.nodes)
        self.assertSameData(c.nodes)


class TestSnapshotRestart(SnapshotTestCase):
    def test_restart_from_own_snapshot(self):
        c = self.cluster
        follower = self.compacted_follower()
        follower.start()
        self.assertIn("starting from snapshot", follower.log_text())
        self.ask("b", 10)
        c.wait_caught_up()
        self.assertExactlyOnce(c.nodes)
        self.assertSameData(c.nodes)

    def test_missing_snapshot_behind_a_compacted_log_is_refused(self):
        """A node whose log was compacted behind a snapshot that is gone
        refuses to start (DATA_LOSS, saying what is missing) and leaves its
        log alone; with the snapshot back it starts."""
        c = self.cluster
        follower = self.compacted_follower()
        segments = wal_segments(follower)
        snap_dir = os.path.join(follower.data_dir, "snap")
        hidden = snap_dir + ".hidden"
        os.rename(snap_dir, hidden)
        with self.assertRaises(AssertionError) as cm:
            follower.start(timeout=10)
        self.assertIn("exited with", str(cm.exception))
        self.assertIn("compacted behind a snapshot) but there is no readable snapshot",
                      follower.log_text())
        self.assertEqual(wal_segments(follower), segments, "the log was left alone")
        os.rename(snap_dir, snap_dir + ".empty")
        os.rename(hidden, snap_dir)
        follower.start()
        c.wait_caught_up()
        self.assertExactlyOnce(c.nodes)
        self.assertSameData(c.nodes)

    def test_storage_behind_its_snapshot_is_restored(self):
        """A crash between resetting the log and loading the storage leaves
        a store behind the newest snapshot: the restart loads the file."""
        c = self.cluster
        self.ask("a", 60)
        c.wait_caught_up()
        leader = c.leader()
        follower = [nd for nd in c.nodes if nd is not leader][0]
        wait_until(lambda: snapshots(follower), timeout=20, what="a snapshot on the follower")
        follower.stop()
        # Replace its store with an empty one of the same schema: as if the
        # snapshot's load never committed.
        db = os.path.join(follower.data_dir, "lms.db")
        con = sqlite3.connect(db)
        try:
            con.execute("DELETE FROM queries")
            con.execute("UPDATE meta SET value = 0 WHERE key = 'applied_index'")
            con.commit()
        finally:
            con.close()
        follower.start()
        self.assertIn("restoring the storage from snapshot", follower.log_text())
        st = c.wait_caught_up()
        # the leader may still hold the follower's report from before it
        # stopped: wait for the store itself (the entries after the
        # snapshot are applied again from the log)
        wait_applied(follower, st["commit"])
        self.assertExactlyOnce(c.nodes)
        self.assertSameData(c.nodes)


class TestCrashDuringInstall(SnapshotTestCase):
    """Issue 8: a node could wedge for good after a crash during a snapshot
    install."""

    def test_snapshot_beside_an_older_log_starts_from_the_snapshot_alone(self):
        c = self.cluster
        self.ask("a", 5)
        c.wait_caught_up()
        old_leader = c.leader()
        follower = [nd for nd in c.nodes if nd is not old_leader][0]
        follower.stop()
        last, term = wal_last(follower)
        # A new term, then enough writes for the new leader to snapshot
        # and compact well past the follower's log.
        old_leader.stop()
        rest = [nd for nd in c.nodes if nd is not follower and nd is not old_leader]
        old_leader.start()
        leader = c.leader(among=rest + [old_leader])
        self.ask("b", 60)
        c.wait_caught_up(nodes=[leader, old_leader])
        compacted_past(leader, last + 1)
        snap = snapshots(leader)[-1]
        s = snapshot_index(snap)
        self.assertGreater(s, last + 1, "the leader's snapshot is past the follower's log")
        # The crash state: the snapshot under its final name, the log not
        # reset and running past it with entries of the follower's older
        # term (a deposed leader's tail).
        with open(snap, "rb") as src, \
                open(os.path.join(follower.data_dir, "snap", os.path.basename(snap)), "wb") as dst:
            dst.write(src.read())
        wal_append(follower, last + 1, s - last + 20, term)
        self.assertEqual(wal_last(follower), (s + 20, term))
        follower.start()
        log = since_start(follower)
        self.assertIn("does not continue snapshot %d" % s, log)
        self.assertIn("starts from the snapshot alone", log)
        self.assertIn("starting from snapshot %d" % s, log)
        self.ask("c", 5)
        c.wait_caught_up(timeout=60)
        # the log started over after the snapshot (a snapshot the follower
        # took since, once caught up, may have compacted it further)
        first = int(os.path.basename(wal_segments(follower)[0])[len("wal-"):-len(".log")])
        self.assertGreaterEqual(first, s + 1, "the command log starts over after the "
                                "snapshot: its first segment begins at %d" % first)
        self.assertExactlyOnce(c.nodes)
        self.assertSameData(c.nodes)

    def kill_at(self, line):
        """A follower lagging behind a compacted log, started; killed -9 as
        soon as its log says line; started again: it must catch up."""
        c = self.cluster
        leader = c.leader()
        follower = [nd for nd in c.nodes if nd is not leader][0]
        follower.stop()
        last, _ = wal_last(follower)
        self.upload("Big-%d" % len(self.asked), 1 << 20)
        self.ask("down-%d" % len(self.asked), 50)
        compacted_past(leader, last)
        follower.start()
        wait_until(lambda: line in since_start(follower), timeout=30, interval=0.002,
                   what="node %d logs %r" % (follower.node_id, line))
        follower.kill9()
        follower.start()
        c.wait_caught_up(timeout=60)
        self.assertEqual(glob.glob(os.path.join(follower.data_dir, "snap", "*.recv")), [],
                         "no temp file is left")
        self.assertNotIn("cannot start", follower.log_text())

    def test_follower_killed_during_its_install_comes_back(self):
        c = self.cluster
        self.ask("a", 5)
        c.wait_caught_up()
        self.kill_at("received snapshot")
        self.kill_at("installed snapshot")
        self.ask("after", 3)
        c.wait_caught_up()
        self.assertExactlyOnce(c.nodes)
        self.assertSameData(c.nodes)


class TestLongStream(SnapshotTestCase):
    """Issue 8: a stream reopened its file for every chunk, while pruning
    keeps the newest two snapshots: a stream longer than two snapshot
    intervals failed every time."""
    RAFT = dict(RAFT, snapshot_entries=10, snapshot_rate="256KiB")

    def test_stream_outlives_its_file(self):
        c = self.cluster
        self.ask("a", 5)
        c.wait_caught_up()
        leader = c.leader()
        lagging = [nd for nd in c.nodes if nd is not leader][0]
        lagging.stop()
        last, _ = wal_last(lagging)
        self.upload("Big", 3 << 20)
        self.ask("down", 30)
        compacted_past(leader, last)
        lagging.start()
        wait_until(lambda: "sending snapshot" in leader.log_text(), timeout=20,
                   what="the leader streams a snapshot")
        streamed = int(leader.log_text().split("sending snapshot ")[1].split()[0])
        path = os.path.join(leader.data_dir, "snap", "snap-%020d.lmss" % streamed)
        # Writes during the stream: the leader snapshots again and again,
        # and its newest two no longer include the one being streamed.
        n = 0
        while os.path.exists(path):
            self.assertNotIn("installed snapshot", lagging.log_text(),
                             "the stream ended before its file was pruned")
            self.ask("during-%d" % n, 3)
            n += 1
            self.assertLess(n, 100, "the leader never pruned snapshot %d" % streamed)
        wait_until(lambda: "installed snapshot" in lagging.log_text(), timeout=60,
                   what="the follower installs the streamed snapshot")
        self.assertIn("installed snapshot %d " % streamed, lagging.log_text())
        self.assertNotIn("snapshot %d for member" % streamed, leader.log_text(),
                         "the stream did not fail")
        self.ask("after", 3)
        c.wait_caught_up(timeout=60)
        self.assertExactlyOnce(c.nodes)
        self.assertSameData(c.nodes)


class TestCatchUpUnderLoad(SnapshotTestCase):
    """Issue 8: a follower that needs a snapshot must catch up while writes
    go on. The leader snapshots every 10 entries and keeps 5 behind each;
    at 512 KiB/s a 3 MB snapshot streams for about 6 s, long enough for
    the leader to compact far past it. The leader keeps the entries after
    the snapshot being sent (node_snapshot.c, "Keeping the entries after a
    snapshot being sent"), so the follower installs it once and then
    follows the log; without that it needed the next snapshot, and the
    next, and never caught up."""
    RAFT = dict(RAFT, snapshot_entries=10, keep_entries=5, snapshot_rate="512KiB")

    def test_follower_catches_up_with_one_install_while_writes_go_on(self):
        c = self.cluster
        self.ask("a", 5)
        c.wait_caught_up()
        leader = c.leader()
        lagging = [nd for nd in c.nodes if nd is not leader][0]
        lagging.stop()
        last, _ = wal_last(lagging)
        blob = self.upload("Big", 3 << 20)
        self.ask("down", 20)
        compacted_past(leader, last)
        load = Writers(self.w, ["stud1", "stud2"], "load")
        load.start()
        try:
            load.wait_acks(5)
            lagging.start()
            wait_until(lambda: "installed snapshot" in lagging.log_text(), timeout=90,
                       what="node %d installs a snapshot" % lagging.node_id)
            # Caught up while the writers go on: it applies what the
            # leader had committed a moment ago, then keeps up for a while.
            for _ in range(3):
                commit = c.status()["commit"]

                def applied():
                    ms = [m for m in c.status()["members"] if m["id"] == lagging.node_id]
                    return ms and ms[0]["applied"] >= commit
                wait_until(applied, timeout=30, what="node %d applies up to %d while "
                           "writes go on" % (lagging.node_id, commit))
                load.wait_acks(len(load.acked) + 20, timeout=60)
        finally:
            load.finish()
        c.wait_caught_up(timeout=60)
        installs = lagging.log_text().count("installed snapshot")
        self.assertEqual(installs, 1, "snapshots node %d installed to catch up "
                         "(expected 1, got %d)" % (lagging.node_id, installs))
        # Once it caught up, the leader compacts past the snapshot again.
        streamed = int(leader.log_text().split("sending snapshot ")[1].split()[0])
        compacted_past(leader, streamed)
        self.assertNotIn("would hold more than", leader.log_text())
        self.asked += load.acked
        super(SnapshotTestCase, self).assertExactlyOnce(
            c.nodes, self.asked, [t for t, _, _ in load.failed])
        self.assertSameData(c.nodes)
        size, sha, _ = materials(lagging)["Big"]
        self.assertEqual((size, sha), (len(blob), hashlib.sha256(blob).digest()))


class TestKeptEntriesCap(SnapshotTestCase):
    """The entries kept for a snapshot's receiver are capped at
    snapshot_bytes (64 KiB here, the smallest allowed): a 3 MB stream at
    256 KiB/s runs for about 12 s, and a 128 KiB material uploaded
    meanwhile passes the cap. The leader then compacts past the snapshot
    (a warning says so) and the receiver needs a newer one: it catches up
    once the writes stop."""
    RAFT = dict(RAFT, snapshot_entries=10, keep_entries=5, snapshot_rate="256KiB",
                snapshot_bytes="64KiB")

    def test_past_the_cap_the_leader_compacts_and_the_receiver_takes_a_newer_snapshot(self):
        c = self.cluster
        self.ask("a", 5)
        c.wait_caught_up()
        leader = c.leader()
        lagging = [nd for nd in c.nodes if nd is not leader][0]
        lagging.stop()
        last, _ = wal_last(lagging)
        self.upload("Big", 3 << 20)
        self.ask("down", 20)
        compacted_past(leader, last)
        load = Writers(self.w, ["stud1", "stud2"], "load")
        load.start()
        try:
            lagging.start()
            wait_until(lambda: "receiving snapshot" in lagging.log_text(), timeout=20,
                       what="node %d receives a snapshot" % lagging.node_id)
            self.upload("Mid", 128 << 10)
            wait_until(lambda: "would hold more than" in leader.log_text(), timeout=20,
                       what="the leader stops keeping the entries after the snapshot "
                       "it streams to node %d" % lagging.node_id)
            self.assertNotIn("installed snapshot", lagging.log_text(),
                             "the cap is passed while the stream runs")
            warning = [ln for ln in leader.log_text().splitlines()
                       if "would hold more than" in ln][0]
            self.assertIn("WARN", warning)
            self.assertIn("member %d " % lagging.node_id, warning)
            self.assertIn("will need a newer snapshot", warning)
        finally:
            load.finish()
        c.wait_caught_up(timeout=90)
        installs = lagging.log_text().count("installed snapshot")
        self.assertGreaterEqual(installs, 2, "snapshots node %d installed (expected "
                                "a newer one after the first)" % lagging.node_id)
        self.asked += load.acked
        super(SnapshotTestCase, self).assertExactlyOnce(
            c.nodes, self.asked, [t for t, _, _ in load.failed])
        self.assertSameData(c.nodes)


if __name__ == "__main__":
    unittest.main()
