# SPDX-License-Identifier: MIT
"""The file store (docs/operations.md, "Data directory"): the bodies of
submissions and materials live in <data_dir>/files, named by their SHA-256,
not in the database; identical files are stored once; every member of a
cluster holds them, also one that caught up from a snapshot; a body that
went missing is an error, never another file."""

import hashlib
import os
import sqlite3
import tempfile
import unittest

import lmstest
from lmstest import ClusterTestCase, E2ETestCase, World, file_body, wait_until


def body_files(node):
    """{hex name: size} of every body in node's file store."""
    out = {}
    root = os.path.join(node.data_dir, "files")
    for sub in os.listdir(root):
        if sub == "tmp":
            continue
        for name in os.listdir(os.path.join(root, sub)):
            out[name] = os.path.getsize(os.path.join(root, sub, name))
    return out


def db_columns(node, table):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(node.data_dir, "lms.db"),
                         uri=True)
    try:
        return [r[1] for r in db.execute("PRAGMA table_info(%s)" % table)]
    finally:
        db.close()


class FilesSingleNodeTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(name="files")
        cls.w = World(cls.node)
        cls.dir = tempfile.mkdtemp(prefix="lms-files-")

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def write(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def test_bodies_live_in_the_file_store_once(self):
        a = self.w.create_assignment(title="Same file")
        same = b"\x00identical answer\n" * 4096  # 69 KB, NULs included
        s1 = self.ok(self.w["stud1"].run("submit", a["id"], self.write("s1.c", same),
                                         json=True), "submit (stud1)")
        s2 = self.ok(self.w["stud2"].run("submit", a["id"], self.write("s2.c", same),
                                         json=True), "submit (stud2)")
        self.assertNotEqual(s1["id"], s2["id"])
        name = hashlib.sha256(same).hexdigest()
        self.assertEqual(file_body(self.node, bytes.fromhex(name)), same,
                         "the body under its SHA-256 in data/files")
        self.assertEqual([n for n in body_files(self.node) if n == name], [name],
                         "two identical submissions are stored once")
        for table in ("submissions", "materials"):
            self.assertNotIn("file", db_columns(self.node, table),
                             "the database holds no file bodies (%s)" % table)
        db = os.path.join(self.node.data_dir, "lms.db")
        self.assertEqual(os.listdir(os.path.join(self.node.data_dir, "files", "tmp")), [],
                         "nothing left half-written")
        # both come back whole
        for sid in (s1["id"], s2["id"]):
            out = os.path.join(self.dir, "fetched-%d" % sid)
            self.ok(self.w["teach1"].run("fetch", sid, "-o", out), "fetch %d" % sid)
            with open(out, "rb") as f:
                self.assertTrue(f.read() == same, "fetch %d: bytes differ" % sid)
        self.assertTrue(os.path.getsize(db) < 4 << 20, "lms.db stays small")

    def test_a_missing_body_is_an_error_not_another_file(self):
        data = os.urandom(5000)
        doc = self.ok(self.w["teach1"].run("upload", "--course", "CS101", "--title",
                                           "Gone", self.write("gone.bin", data), json=True),
                      "upload")
        h = hashlib.sha256(data).hexdigest()
        os.unlink(os.path.join(self.node.data_dir, "files", h[:2], h))
        res = self.w["stud1"].run("download", doc["id"], "-o",
                                  os.path.join(self.dir, "gone.out"), json=True)
        self.refused(res, "INTERNAL", "download of a material whose body is gone")
        self.assertIn("file store", self.node.log_text())
        self.assertFalse(os.path.exists(os.path.join(self.dir, "gone.out")),
                         "no file written for a failed download")
        # the rest is served as before
        self.ok(self.w["stud1"].run("materials", "--course", "CS101", json=True),
                "materials after the failed download")


class FilesClusterTest(ClusterTestCase):
    N = 3
    RAFT = {"snapshot_entries": 40, "keep_entries": 10, "segment_bytes": "64KiB"}

    def test_every_member_holds_the_bodies_also_after_a_snapshot(self):
        c = self.cluster
        w = World(c, self)
        d = tempfile.mkdtemp(prefix="lms-files-c-")
        leader = c.leader()
        follower = [nd for nd in c.nodes if nd is not leader][0]
        follower.stop()
        bodies = {}
        for i in range(3):
            data = os.urandom(100000 + i)
            path = os.path.join(d, "m%d.bin" % i)
            with open(path, "wb") as f:
                f.write(data)
            self.ok(w["teach1"].run("upload", "--course", "CS101", "--title", "m%d" % i,
                                    path), "upload %d" % i)
            bodies[hashlib.sha256(data).hexdigest()] = data
        for i in range(60):  # past the snapshot threshold: the log compacts
            self.ok(w["stud1"].run("ask", "--course", "CS101", "--instructor",
                                   "--title", "q%d" % i, "a question"), "ask %d" % i)
        wait_until(lambda: "log compacted up to" in c.leader().log_text(), timeout=30,
                   what="the leader snapshots and compacts")
        follower.start()
        c.wait_caught_up(timeout=60)
        for nd in c.nodes:
            for h, data in bodies.items():
                self.assertEqual(file_body(nd, bytes.fromhex(h)), data,
                                 "node %d holds body %s..." % (nd.node_id, h[:12]))
        self.assertIn("installed snapshot", follower.log_text(),
                      "the restarted follower caught up from a snapshot")


if __name__ == "__main__":
    unittest.main()


class FilesSecondLmsdTest(E2ETestCase):
    """Review (h-review2): a second lmsd started on a running node's data dir
    (by mistake, or a restart that races the old process) must be refused
    before it touches anything. Today filestore_open (core/main.c start())
    empties files/tmp before the WAL's flock is tried, deleting the running
    node's bodies in flight: their rename then fails, and on the apply path
    that stops the node ("apply failed")."""

    def test_second_lmsd_leaves_bodies_in_flight_alone(self):
        node = lmstest.started_node(name="files2nd")
        try:
            tmp = os.path.join(node.data_dir, "files", "tmp")
            in_flight = os.path.join(tmp, "body-inflight")
            with open(in_flight, "wb") as f:  # a body being written right now
                f.write(b"half of a 32 MiB upload")
            p = node.run_lmsd("--config", node.config_path, timeout=30)
            self.assertNotEqual(p.returncode, 0, "a second lmsd on the same data dir")
            self.assertTrue(os.path.exists(in_flight),
                            "the second lmsd deleted the running node's body in flight "
                            "(exit %d: %s)" % (p.returncode, p.stderr.decode(errors="replace")[-300:]))
        finally:
            node.cleanup()
