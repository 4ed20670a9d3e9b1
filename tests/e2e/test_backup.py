# SPDX-License-Identifier: MIT
"""Backups (lms-admin backup FILE) and restores (lmsd --restore FILE), end
to end: real lmsd processes, the real CLIs.

- A backup of a populated node, restored into a new node, holds exactly
  the same state: the records of a backup taken from the restored node
  (before anything changes there) are byte for byte those of the first
  one, every submitted file and material comes back byte for byte through
  fetch and download, the students' grades read the same, and the
  sessions too (the old CLIs work against the new node). The new node is
  a cluster of one (its configuration's members, not the backup's), its
  snapshot is at the backup's index with term 1, and it takes writes.
- A backup is never written over an existing file, a non-admin is
  refused, and neither leaves a file behind.
- lmsd --restore refuses a damaged, truncated or foreign file with nothing
  changed (the same node then restores the good file), and refuses a
  node that has state, which keeps it.
- A client that leaves in the middle, or stops reading, does not hold the
  leader: other requests are served meanwhile, the view is released (the
  log says so), and the next backup runs.
- A backup taken from a 3-node cluster while writers go on is consistent:
  it holds every write acknowledged before it began, none that was never
  sent, every grade's submission and question's course, and restores to
  a node that starts.
"""

import os
import re
import socket
import threading
import time

from backuptest import backup, new_node, populate, records, restore, sha
from lmstest import (ADMIN, ADMIN_PW, ClusterTestCase, E2ETestCase, World, db_rows,
                     started_node, wait_until)
from test_cluster import Writers
from test_metrics import scrape, value


class BackupRestoreTest(E2ETestCase):
    def setUp(self):
        self.src = started_node(name="bsrc")
        self.addCleanup(self.src.cleanup)
        self.w = World(self.src, self)
        self.dir = self.src.dir
        self.data = populate(self, self.w, os.path.join(self.dir, "in"))

    def node(self, name, **kw):
        n = new_node(name, **kw)
        self.addCleanup(n.cleanup)
        return n

    def test_restore_holds_the_same_state_and_takes_writes(self):
        path = os.path.join(self.dir, "one.lmsb")
        got = backup(self, self.w.admin, path)
        header, body, _ = records(path)
        self.assertGreater(got["index"], 20, "the backup's index")

        # never over an existing file
        with open(path, "rb") as f:
            before = sha(f.read())
        res = self.w.admin.run("backup", path, json=True)
        self.refused(res, "ALREADY_EXISTS", "a backup to an existing file",
                     in_message="already exists")
        with open(path, "rb") as f:
            self.assertEqual(sha(f.read()), before, "the file is left alone")
        self.assertFalse(os.path.exists(path + ".tmp"), "no temp file")
        # admins only (lms-admin logs in admins only: the request by hand)
        with self.src.raw() as c:
            token = c.login("teach1", World.PW)
            r = c.call({"token": token, "backup": {}})
            self.assertEqual(r["status"], "PERMISSION_DENIED", "an instructor's backup")
            self.assertIn("only admins", r["message"])
            self.assertFalse(r["partial"], "no piece of the state")
        res = self.src.cli("lms-admin", home=self.w["teach1"].home).run(
            "backup", os.path.join(self.dir, "teach.lmsb"), json=True)
        self.assertNotEqual(res.rc, 0, "lms-admin backup with an instructor's session")
        self.assertFalse(os.path.exists(os.path.join(self.dir, "teach.lmsb")) or
                         os.path.exists(os.path.join(self.dir, "teach.lmsb.tmp")),
                         "a refused backup leaves no file")
        dst = self.node("bdst")
        p = restore(dst, path)
        self.assertEqual(p.returncode, 0, "restore: %s" % p.stderr.decode(errors="replace"))
        self.assertIn("index %d" % got["index"], p.stdout.decode(), "restore says the index")
        snap = os.path.join(dst.data_dir, "snap", "snap-%020d.lmss" % got["index"])
        self.assertTrue(os.path.exists(snap), "the backup is the new node's snapshot")
        # the node's snapshot has the same records under a header of its own
        self.assertEqual(records(snap)[1], body, "the snapshot's records are the backup's")
        dst.start()
        self.assertIn("starting from snapshot %d (term 1)" % got["index"], dst.log_text())

        # the sessions came along: the old CLIs work against the new node
        admin = dst.cli("lms-admin", home=self.w.admin.home)
        again = os.path.join(self.dir, "two.lmsb")
        got2 = backup(self, admin, again, "backup of the restored node")
        self.assertGreaterEqual(got2["index"], got["index"], "the restored node's index")
        self.assertEqual(records(again)[1], body,
                         "a backup of the restored node holds the same records")
        for sid, data in self.data["submissions"].items():
            out = os.path.join(self.dir, "fetched-%d" % sid)
            stud = dst.cli("lms-instructor", home=self.w["teach1"].home) \
                if sid != max(self.data["submissions"]) else \
                dst.cli("lms-instructor", home=self.w["teach2"].home)
            self.ok(stud.run("fetch", sid, "-o", out), "fetch %d on the new node" % sid)
            with open(out, "rb") as f:
                self.assertTrue(f.read() == data, "submission %d byte for byte" % sid)
        for mid, data in self.data["materials"].items():
            out = os.path.join(self.dir, "downloaded-%d" % mid)
            self.ok(dst.cli("lms-student", home=self.w["stud1"].home)
                    .run("download", mid, "-o", out), "download %d on the new node" % mid)
            with open(out, "rb") as f:
                self.assertTrue(f.read() == data, "material %d byte for byte" % mid)
        for stud in ("stud1", "stud3"):
            a = self.ok(self.w[stud].run("grades", json=True), "grades on the source")
            b = self.ok(dst.cli("lms-student", home=self.w[stud].home).run("grades", json=True),
                        "grades on the new node")
            self.assertEqual(a, b, "%s's grades" % stud)
            self.assertTrue(a, "%s has grades" % stud)
        for table in ("users", "courses", "enrolments", "assignments", "submissions",
                      "grades", "queries", "replies", "materials"):
            self.assertEqual(db_rows(dst, "SELECT * FROM %s ORDER BY 1" % table),
                             db_rows(self.src, "SELECT * FROM %s ORDER BY 1" % table),
                             "table %s" % table)

        # a new cluster of one, which takes writes
        st = self.ok(admin.run("cluster-status", json=True), "cluster-status")
        self.assertEqual([(m["id"], m["role"]) for m in st["members"]], [(1, "leader")],
                         "the restored node is a cluster of one")
        self.ok(admin.run("create-course", "NEW1", "--title", "After the restore"),
                "a write on the restored node")
        self.ok(self.w.admin.run("create-course", "SRC2", "--title", "Only on the source"),
                "the source goes on")
        codes = [c["code"] for c in self.ok(admin.run("courses", json=True), "courses")["courses"]]
        self.assertEqual(sorted(codes), ["CS101", "MA201", "NEW1"], "the new node's courses")
        dst.restart()
        self.ok(admin.run("courses"), "the restored node restarts and serves")

    def test_restore_refuses_damage_and_a_node_with_state(self):
        path = os.path.join(self.dir, "good.lmsb")
        got = backup(self, self.w.admin, path)
        with open(path, "rb") as f:
            good = f.read()
        bad = {}
        flipped = bytearray(good)
        flipped[len(good) // 2] ^= 0x40
        bad["damaged"] = bytes(flipped)
        bad["truncated"] = good[:-7]
        bad["longer"] = good + b"\x00\x00\x00\x01\x08"
        bad["foreign"] = b"not a backup at all\n" * 10
        dst = self.node("bdmg")
        for what, data in bad.items():
            p = os.path.join(self.dir, "%s.lmsb" % what)
            with open(p, "wb") as f:
                f.write(data)
            r = restore(dst, p)
            err = r.stderr.decode(errors="replace")
            self.assertEqual(r.returncode, 1, "--restore of a %s file: %s" % (what, err))
            self.assertIn("nothing was changed", err, "%s: says so" % what)
            snaps = os.listdir(os.path.join(dst.data_dir, "snap")) \
                if os.path.isdir(os.path.join(dst.data_dir, "snap")) else []
            self.assertEqual(snaps, [], "%s: no snapshot file" % what)
        # nothing changed: the same node takes the good file
        r = restore(dst, path)
        self.assertEqual(r.returncode, 0, "--restore of the good file after the refusals: %s"
                         % r.stderr.decode(errors="replace"))
        # ...once only: now it has state
        r = restore(dst, path)
        self.assertEqual(r.returncode, 1, "--restore on a node that has state")
        self.assertIn("already has state", r.stderr.decode(errors="replace"))
        dst.start()
        self.assertEqual(int(db_rows(dst, "SELECT value FROM meta WHERE key = "
                                          "'applied_index'")[0][0]) >= got["index"], True,
                         "the node starts at the backup's index")
        # the source, stopped, is refused too and keeps its data
        self.src.stop()
        users = db_rows(self.src, "SELECT name FROM users ORDER BY name")
        r = restore(self.src, path)
        self.assertEqual(r.returncode, 1, "--restore on the populated source")
        self.assertIn("already has state", r.stderr.decode(errors="replace"))
        self.src.start()
        self.assertEqual(db_rows(self.src, "SELECT name FROM users ORDER BY name"), users,
                         "the source keeps its users")
        self.ok(self.w.admin.run("users"), "the source serves")


class SlowClientTest(E2ETestCase):
    """A backup of about 24 MB: far more than the output queue a backup may
    fill (2 MiB) and the sockets hold, so a client that stops reading holds
    the stream."""

    def setUp(self):
        self.src = started_node(name="bslow", metrics=True,
                                limits={"idle_timeout": "5s", "max_upload_bytes": "16MiB"})
        self.addCleanup(self.src.cleanup)
        self.w = World(self.src, self)
        populate(self, self.w, os.path.join(self.src.dir, "in"), big=(8 << 20,) * 3)

    def backup_request(self, conn):
        token = conn.login(ADMIN, ADMIN_PW)
        return conn.send({"token": token, "backup": {}})

    def test_a_client_that_leaves_or_stops_reading_does_not_hold_the_leader(self):
        n = self.src
        # leaves after the first piece
        c = n.raw()
        self.backup_request(c)
        first = c.recv()
        self.assertTrue(first["partial"] and first["status"] == "OK", "a first piece")
        self.assertLessEqual(len(first["backup"]["data"]), 1 << 20, "a piece is at most 1 MiB")
        c.close()
        wait_until(lambda: "the client left; the view is released" in n.log_text(),
                   timeout=15, what="the backup stops once its client left")
        self.assertEqual(value(scrape(n), "lms_backup_views_pinned"), 0,
                         "/metrics: its view is released")

        # stops reading: a small receive buffer, nothing read
        c = n.raw()
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.backup_request(c)
        wait_until(lambda: n.log_text().count("view pinned, streaming") >= 2, timeout=15,
                   what="the second backup streams")
        # one backup at a time: refused at once, not retried
        res = n.cli("lms-admin", home=self.w.admin.home).run(
            "backup", os.path.join(n.dir, "busy.lmsb"), json=True)
        self.refused(res, "RESOURCE_EXHAUSTED", "a second backup while one runs",
                     in_message="another backup is running")
        self.assertFalse(os.path.exists(os.path.join(n.dir, "busy.lmsb")), "no file")
        # the leader serves everyone else meanwhile, writes included
        t0 = time.monotonic()
        self.ok(self.w.admin.run("users"), "a read during the stalled backup")
        self.ok(self.w.admin.run("create-course", "LIVE1", "--title", "During"),
                "a write during the stalled backup")
        self.assertLess(time.monotonic() - t0, 5, "served at once")
        self.assertEqual(n.log_text().count("the view is released"), 1,
                         "the stalled backup still runs")
        self.assertEqual(value(scrape(n), "lms_backup_views_pinned"), 1,
                         "/metrics: the stalled backup holds its view")
        # the write timeout (limits.idle_timeout) closes the connection;
        # the backup stops and lets go of its view
        wait_until(lambda: n.log_text().count("the view is released") >= 2, timeout=30,
                   what="the stalled backup stops")
        self.assertRegex(n.log_text(), r"backup at index \d+ stopped after \d+ bytes")
        stalled = [int(m) for m in re.findall(r"backup at index \d+ stopped after (\d+) bytes",
                                              n.log_text())]
        self.assertLess(stalled[-1], 20 << 20, "the stalled backup sent only part of it")
        c.close()
        # and the next backup runs to the end
        path = os.path.join(n.dir, "after.lmsb")
        got = backup(self, self.w.admin, path, "the backup after")
        self.assertGreater(got["size"], 24 << 20, "the whole state")
        m = scrape(n)
        self.assertEqual(value(m, "lms_backup_views_pinned"), 0, "/metrics: no view held")
        self.assertEqual(value(m, "lms_backups_total"), 1, "/metrics: one backup sent whole")
        self.assertEqual(value(m, "lms_backup_bytes_total"), got["size"], "/metrics: its bytes")


class Grader:
    """stud3 hands in, teach2 grades what was handed in, in a loop."""

    def __init__(self, tc, w, assignment, files):
        self.tc, self.w, self.a, self.files = tc, w, assignment, files
        self.stop = threading.Event()
        self.graded = []
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        i = 0
        while not self.stop.is_set():
            i += 1
            p = os.path.join(self.files, "g%d.txt" % i)
            with open(p, "w") as f:
                f.write("answer %d\n" % i)
            r = self.w["stud3"].run("submit", self.a, p, json=True)
            if r.rc != 0:
                continue
            g = self.w["teach2"].run("grade", r.json["id"], "--grade", str(i % 100))
            if g.rc == 0:
                self.graded.append(r.json["id"])


class ClusterBackupTest(ClusterTestCase):
    def test_a_backup_under_load_is_consistent(self):
        c = self.cluster
        w = World(c, self)
        files = os.path.join(c.dir, "files")
        os.makedirs(files, exist_ok=True)
        a = w.create_assignment(teacher="teach2", course="MA201", title="Load")["id"]
        writers = Writers(w, ["stud1", "stud2"], "w")
        grader = Grader(self, w, a, files)
        writers.start()
        grader.thread.start()
        try:
            writers.wait_acks(10, timeout=60)
            wait_until(lambda: len(grader.graded) >= 3, timeout=60, what="3 grades")
            with writers.lock:
                acked_before = list(writers.acked)
            graded_before = list(grader.graded)
            path = os.path.join(c.dir, "load.lmsb")
            got = backup(self, w.admin, path, "a backup under load")
            writers.wait_acks(len(acked_before) + 5, timeout=60)
        finally:
            writers.finish()
            grader.stop.set()
            grader.thread.join(60)
        dst = new_node("bload")
        self.addCleanup(dst.cleanup)
        r = restore(dst, path)
        self.assertEqual(r.returncode, 0, "restore: %s" % r.stderr.decode(errors="replace"))
        dst.start()
        titles = {t for (t,) in db_rows(dst, "SELECT title FROM queries")}
        with writers.lock:
            acked = set(writers.acked)
            unknown = {t for (t, _, _) in writers.failed}
        missing = [t for t in acked_before if t not in titles]
        self.assertEqual(missing, [], "every question acknowledged before the backup is in it")
        phantom = [t for t in titles if t.startswith("w-") and t not in acked | unknown]
        self.assertEqual(phantom, [], "no question that was never sent")
        self.assertLess(len([t for t in titles if t.startswith("w-")]), len(acked),
                        "the backup is a point in the load, not its end")
        subs = {s for (s,) in db_rows(dst, "SELECT id FROM submissions")}
        self.assertTrue(set(graded_before) <= subs, "every submission graded before it")
        self.assertEqual(db_rows(dst, "SELECT count(*) FROM grades g LEFT JOIN submissions s "
                                      "ON s.id = g.submission_id WHERE s.id IS NULL"), [(0,)],
                         "every grade's submission is there")
        self.assertEqual(db_rows(dst, "SELECT count(*) FROM queries q LEFT JOIN courses c "
                                      "ON c.code = q.course WHERE c.code IS NULL"), [(0,)],
                         "every question's course is there")
        leader = c.leader()
        self.assertIn("backup at index %d" % got["index"], leader.log_text(),
                      "the leader wrote it")
        admin = dst.cli("lms-admin", home=w.admin.home)
        st = self.ok(admin.run("cluster-status", json=True), "cluster-status")
        self.assertEqual([m["id"] for m in st["members"]], [1],
                         "the restored node does not take the old cluster's members")
        self.ok(admin.run("create-course", "AFTER", "--title", "x"), "a write after the restore")
