# SPDX-License-Identifier: MIT
"""lms-admin cluster-verify: every node's state compared at one index
(core/repl/node_verify.c, docs/operations.md "Is every node the same?").

A marker goes through the log; each node hashes its state right after
applying it (the whole state and each table, the backend-neutral snapshot
stream), and the CLI asks every member for its digest. Shown here:

- a quiet cluster and one under write load: all equal (exit 0), every
  table's rows counted the same on every node;
- a node whose store was changed behind lmsd's back (its SQLite file
  edited while it was down): named, with the table that differs (exit 1);
- a node that is down: named as unreachable, the others equal (exit 3);
- only admins may start one or ask a node for its digest.
"""

import os
import sqlite3
import threading
import unittest

import lmstest
from lmstest import RawConn, World, ADMIN, ADMIN_PW


class ClusterVerifyTest(lmstest.ClusterTestCase):
    def setUp(self):
        super().setUp()
        self.w = World(self.cluster, self)
        self.files = os.path.join(self.cluster.dir, "files")
        os.makedirs(self.files, exist_ok=True)

    def upload(self, title, cli=None):
        path = os.path.join(self.files, title + ".txt")
        with open(path, "w") as f:
            f.write("notes of %s\n" % title)
        return (cli or self.w["teach1"]).run("upload", "--course", "CS101", "--title", title,
                                            path, json=True)

    def verify(self, *args):
        return self.cluster.admin.run("cluster-verify", *args, json=True)

    def test_equal_when_quiet_and_under_load(self):
        self.ok(self.upload("first"), "an upload")
        doc = self.ok(self.verify(), "cluster-verify on a quiet cluster")
        self.assertTrue(doc["equal"], doc)
        self.assertEqual(sorted(n["id"] for n in doc["nodes"]), [1, 2, 3])
        rows = None
        for n in doc["nodes"]:
            self.assertEqual(n["verdict"], "equal", n)
            d = n["digest"]
            self.assertEqual(d["state"], "done")
            self.assertEqual(d["index"], doc["index"])
            self.assertEqual(d["backend"], "storage_sqlite")
            tables = {t["table"]: t["rows"] for t in d["tables"]}
            self.assertEqual(tables["user"], 6, tables)  # the admin and World's five
            self.assertEqual(tables["material"], 1, tables)
            rows = rows or tables
            self.assertEqual(tables, rows, "row counts differ between nodes")

        stop = threading.Event()
        done = []

        def load():
            cli = self.w.login("lms-instructor", "teach1")
            i = 0
            while not stop.is_set():
                res = self.upload("load-%d" % i, cli)
                done.append(res.rc)
                i += 1
        t = threading.Thread(target=load, daemon=True)
        t.start()
        try:
            for _ in range(3):
                doc = self.ok(self.verify(), "cluster-verify under load")
                self.assertTrue(doc["equal"], doc)
        finally:
            stop.set()
            t.join(60)
        self.assertTrue(done and all(rc == 0 for rc in done), done)

    def test_a_changed_store_is_named_with_its_table(self):
        self.ok(self.upload("first"), "an upload")
        n3 = self.cluster.nodes[2]
        self.cluster.wait_caught_up()
        n3.stop()
        db = sqlite3.connect(os.path.join(n3.data_dir, "lms.db"))
        db.execute("UPDATE users SET full_name = 'Mallory' WHERE name = 'stud1'")
        db.commit()
        db.close()
        n3.start()
        self.cluster.wait_caught_up()
        res = self.verify()
        self.assertEqual(res.rc, 1, "a node differs: %r" % res)
        doc = res.json
        self.assertFalse(doc["equal"])
        verdicts = {n["id"]: n for n in doc["nodes"]}
        self.assertEqual(verdicts[1]["verdict"], "equal")
        self.assertEqual(verdicts[2]["verdict"], "equal")
        self.assertEqual(verdicts[3]["verdict"], "differs")
        self.assertIn("user", verdicts[3]["differs"])
        self.assertNotIn("material", verdicts[3]["differs"])
        self.assertIn("1 node differs from the others", res.err)
        text = self.cluster.admin.run("cluster-verify")
        self.assertEqual(text.rc, 1, repr(text))
        self.assertIn("THEY DIFFER", text.out)

    def test_a_node_down_is_named_the_others_compared(self):
        self.cluster.wait_caught_up()
        n2 = self.cluster.nodes[1]
        n2.stop()
        res = self.verify("--wait", "3")
        self.assertEqual(res.rc, 3, "a node down: %r" % res)
        verdicts = {n["id"]: n for n in res.json["nodes"]}
        self.assertEqual(verdicts[2]["verdict"], "unreachable", verdicts[2])
        self.assertIn("why", verdicts[2])
        self.assertEqual(verdicts[1]["verdict"], "equal")
        self.assertEqual(verdicts[3]["verdict"], "equal")
        self.assertIn("could not be compared", res.err)

    def test_only_admins(self):
        leader = self.cluster.leader()
        with RawConn(leader.port, tls=leader.client_context()) as c:
            token = c.login("stud1", World.PW)
            r = c.call({"cluster_verify": {"index": 0}, "token": token,
                        "client_id": 77, "seq": 1})
            self.assertEqual(r["status"], "PERMISSION_DENIED", r)
            self.assertIn("cluster-verify: only admins may do this", r["message"])
            r = c.call({"cluster_verify": {"index": 5}, "token": token})
            self.assertEqual(r["status"], "PERMISSION_DENIED", r)
            admin = c.login(ADMIN, ADMIN_PW)
            r = c.call({"cluster_verify": {"index": 0}, "token": admin})
            self.assertEqual(r["status"], "INVALID_ARGUMENT", r)
            self.assertIn("a write", r["message"])


if __name__ == "__main__":
    unittest.main()
