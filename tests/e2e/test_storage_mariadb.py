# SPDX-License-Identifier: MIT
"""Nodes on MariaDB (storage_mysql) beside nodes on SQLite, end to end:
real lmsd processes, the tests' own MariaDB server (scripts/mariadb-test,
started by ctest's "mariadb" fixture), the real CLIs.

A 3-node cluster with node 1 on SQLite, node 2 on MariaDB and node 3 on
SQLite takes writes (material uploads from two CLIs) all along while:

- node 3 is switched to MariaDB (its `storage:` edited, restarted: its new,
  empty database is filled from the node's snapshot and the log, then
  follows the leader);
- the MariaDB server is restarted (nodes 2 and 3 lose every connection;
  they hold what they cannot apply and reconnect by themselves);
- node 3 is switched back to SQLite (its old file is behind: the node
  brings it up to date from the log or a snapshot).

Each CLI call ends acknowledged (exit 0), not stored (exit 3, UNAVAILABLE,
"nothing was stored") or unknown (exit 3, UNKNOWN: rerun from the same
home until it is one of the first two). Then every acknowledged upload is
on every node exactly once, whatever its backend, the nodes hold the
same rows, and lms-admin cluster-verify finds every node equal.
"""

import os
import subprocess
import threading
import time
import unittest

import lmstest
from lmstest import E2ETestCase, World, node_rows, wait_until

ROWS = "SELECT id, course, title, file_name, size, uploaded_by FROM materials ORDER BY id"


def mariadb_dir():
    return os.path.dirname(os.environ["LMS_MARIADB_ENV"])


def run_mariadb_test(cmd):
    script = os.path.join(os.environ["LMS_SOURCE_DIR"], "scripts", "mariadb-test")
    p = subprocess.run([script, cmd, mariadb_dir()], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120)
    if p.returncode != 0:
        raise AssertionError("mariadb-test %s: %s" % (cmd, p.stdout.decode(errors="replace")))


class Uploads:
    """Two CLIs uploading small materials until stopped; every call's
    outcome is recorded by title."""

    def __init__(self, tc, world, files):
        self.tc, self.w, self.files = tc, world, files
        self.acked, self.not_stored, self.other = set(), set(), []
        self.lock, self.stop = threading.Lock(), threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(k,), daemon=True)
                        for k in range(2)]

    def run(self, k):
        cli = self.w["teach1"] if k == 0 else self.w.clis.setdefault(
            "teach1b", self.w.login("lms-instructor", "teach1"))
        i = 0
        while not self.stop.is_set():
            title = "w%d-%d" % (k, i)
            i += 1
            path = os.path.join(self.files, title + ".txt")
            with open(path, "w") as f:
                f.write("material %s\n" % title)
            t0 = time.monotonic()
            while True:
                res = cli.run("upload", "--course", "CS101", "--title", title, path,
                              json=True, env={"LMS_CLIENT_TIMEOUT": "8"})
                if res.rc == 0:
                    outcome = "acked"
                elif (res.rc == 3 and res.status == "UNAVAILABLE"
                      and "nothing was stored" in res.err):
                    outcome = "not_stored"
                elif res.rc == 3 and res.status == "UNKNOWN" and time.monotonic() - t0 < 60:
                    time.sleep(0.2)
                    continue  # rerun from the same home, as the message says
                else:
                    outcome = "other"
                break
            with self.lock:
                if outcome == "acked":
                    self.acked.add(title)
                elif outcome == "not_stored":
                    self.not_stored.add(title)
                else:
                    self.other.append(res)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(120)

    def count(self):
        with self.lock:
            return len(self.acked)

    def wait_more(self, n, what, timeout=60):
        start = self.count()
        wait_until(lambda: self.count() >= start + n, timeout=timeout,
                   what="%d more acknowledged uploads %s" % (n, what))


class MixedBackendsTest(E2ETestCase):
    def setUp(self):
        lmstest.mariadb_options("probe")  # skips without storage_mysql
        self.tag = "e2e_mix_%d" % os.getpid()
        self.cluster = lmstest.Cluster(3, name="mix")
        self.addCleanup(self.cluster.cleanup)
        self.use(self.cluster.nodes[1], "mysql", "n2")
        self.cluster.start()
        self.w = World(self.cluster, self)
        self.files = os.path.join(self.cluster.dir, "files")
        os.makedirs(self.files, exist_ok=True)

    def use(self, node, backend, db):
        if backend == "mysql":
            node.storage_plugin = "storage_mysql"
            node.storage_options = lmstest.mariadb_options("%s_%s" % (self.tag, db))
        else:
            node.storage_plugin = "storage_sqlite"
            node.storage_options = {}
        node.write_config()

    def switch(self, node, backend, db):
        node.stop()
        self.use(node, backend, db)
        node.start()

    def test_mixed_cluster_switches_backends_and_survives_a_database_restart(self):
        n1, n2, n3 = self.cluster.nodes
        with Uploads(self, self.w, self.files) as load:
            load.wait_more(10, "before any change")
            self.switch(n3, "mysql", "n3")
            self.assertIn("storage_mysql", n3.log_text())
            load.wait_more(10, "after node 3 moved to MariaDB")
            run_mariadb_test("restart")
            load.wait_more(10, "after the MariaDB server restarted")
            self.switch(n3, "sqlite", "n3")
            load.wait_more(10, "after node 3 moved back to SQLite")
        self.assertEqual(load.other, [], "calls that ended neither acked nor not stored")
        self.cluster.wait_caught_up(timeout=60)

        def same():
            r = [node_rows(nd, ROWS) for nd in (n1, n2, n3)]
            return r if r[0] == r[1] == r[2] else None
        try:
            rows = wait_until(same, timeout=30, what="the same materials on every node")
        except AssertionError:
            rows = [node_rows(nd, ROWS) for nd in (n1, n2, n3)]
            self.assertEqual(rows[0], rows[1], "node 1 (SQLite) and node 2 (MariaDB) differ")
            self.assertEqual(rows[0], rows[2], "node 1 and node 3 differ")
            raise
        # cluster-verify: one digest at one index, whatever the backend
        res = self.cluster.admin.run("cluster-verify", json=True)
        if res.rc != 0:  # the table says which node and table, in a few lines
            text = self.cluster.admin.run("cluster-verify")
            if os.environ.get("LMS_E2E_DEBUG"):
                a = node_rows(n1, "SELECT client_id, seq, status, message, result_id, updated, hex(answer) FROM clients ORDER BY client_id")
                b = node_rows(n2, "SELECT client_id, seq, status, message, result_id, updated, hex(answer) FROM clients ORDER BY client_id")
                for x, y in zip(a, b):
                    if x != y:
                        print("sqlite:", x, "\nmysql: ", y)
            self.fail("cluster-verify on mixed backends: exit %d\n%s%s"
                      % (res.rc, text.out, text.err))
        self.assertTrue(res.json["equal"], res.json)
        backends = {n["id"]: n["digest"]["backend"] for n in res.json["nodes"]}
        self.assertEqual(backends, {1: "storage_sqlite", 2: "storage_mysql",
                                    3: "storage_sqlite"})
        titles = [r[2] for r in rows[0]]
        self.assertEqual(len(titles), len(set(titles)), "a material stored twice")
        self.assertLessEqual(load.acked, set(titles), "acknowledged uploads missing")
        self.assertFalse(load.not_stored & set(titles), "an upload said 'nothing was stored'")

class DatabaseDownTest(E2ETestCase):
    """A node on MariaDB whose server is down tells the truth: reads and
    the checks before a write cannot reach the store, so the answer is
    UNAVAILABLE, or UNKNOWN for a write the client stopped waiting for (the
    CLI exits 3 either way), never a
    refusal the store did not make: not "only the instructors of course
    CS101 may upload materials" for an instructor who teaches it (the check's read failed), not "log in
    again" (the session's user could not be read). Once the server is
    back the same calls work, without a restart of lmsd."""

    def test_a_node_whose_database_is_down_refuses_nothing(self):
        node = lmstest.Node(name="dbdown", storage_plugin="storage_mysql",
                            storage_options=lmstest.mariadb_options(
                                "e2e_down_%d" % os.getpid()))
        self.addCleanup(node.cleanup)
        node.init_admin()
        node.start()
        w = World(node, self)
        files = os.path.join(node.dir, "files")
        os.makedirs(files, exist_ok=True)
        path = os.path.join(files, "notes.txt")
        with open(path, "w") as f:
            f.write("notes\n")
        env = {"LMS_CLIENT_TIMEOUT": "2"}
        self.ok(w["teach1"].run("upload", "--course", "CS101", "--title", "before", path,
                                json=True, env=env), "upload before")
        run_mariadb_test("stop")
        try:
            for args in (["upload", "--course", "CS101", "--title", "during", path],
                         ["materials", "--course", "CS101"]):
                res = w["teach1"].run(*args, json=True, env=env)
                self.assertEqual(res.rc, 3, "%s with the database down: %r" % (args[0], res))
                # UNAVAILABLE (the node answered), or, for the write, UNKNOWN
                # (the client stopped waiting first): both true, no refusal
                self.assertIn(res.status, ("UNAVAILABLE", "UNKNOWN"), repr(res))
                if res.status == "UNAVAILABLE" and args[0] == "upload":
                    self.assertIn("nothing was stored", res.err, repr(res))
                self.assertNotIn("only the instructors of", res.err)
                self.assertNotIn("log in again", res.err)
        finally:
            run_mariadb_test("start")
        wait_until(lambda: w["teach1"].run("upload", "--course", "CS101", "--title", "after",
                                           path, json=True, env=env).rc == 0,
                   timeout=30, what="an upload once the database is back")
        titles = [m["title"] for m in self.ok(w["teach1"].run(
            "materials", "--course", "CS101", json=True), "materials")["materials"]]
        # "during" was never acknowledged: there at most once
        self.assertIn(sorted(titles), (["after", "before"], ["after", "before", "during"]))


if __name__ == "__main__":
    unittest.main()
