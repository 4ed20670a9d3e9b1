# SPDX-License-Identifier: MIT
"""A node never runs on a store it does not own (core/store_owner.c,
storage ABI 1.3 meta_get/meta_put).

A store records the cluster and node it belongs to at the first start. A
node pointed at another node's store (two configurations sharing one
database or file), or at a store of another cluster, refuses to start
with a message that names the owner and says what to do, and the store is
left as it was; --adopt-storage takes it over on purpose (after a rename).
Shown here with SQLite (storage.path shared by two data dirs); the same
check runs for every backend with meta ops (the MariaDB nodes of
test_storage_mariadb.py are each in a database of their own).
"""

import os
import shutil
import tempfile
import unittest

import lmstest
from lmstest import E2ETestCase


class StoreOwnerTest(E2ETestCase):
    def setUp(self):
        self.shared = tempfile.mkdtemp(prefix="lms-e2e-owner-")
        self.addCleanup(shutil.rmtree, self.shared, True)
        self.db = os.path.join(self.shared, "shared.db")

    def node(self, name, node_id=1, cluster="lms"):
        nd = lmstest.Node(name=name, node_id=node_id,
                          storage_options={"path": self.db},
                          extra_yaml="cluster: { id: %s }\n" % cluster)
        self.addCleanup(nd.cleanup)
        return nd

    def refused(self, nd, *wants, args=()):
        p = nd.run_lmsd("--config", nd.config_path, *args, timeout=30)
        # without --init-admin, lmsd serves until stopped: a refusal exits
        err = p.stderr.decode(errors="replace")
        self.assertNotEqual(p.returncode, 0, "lmsd started on a store it does not own")
        for w in wants:
            self.assertIn(w, err)
        return err

    def users(self):
        return sorted(r[0] for r in db_rows_path(self.db, "SELECT name FROM users"))

    def test_owner_is_recorded_and_other_nodes_and_clusters_are_refused(self):
        a = self.node("owner-a", node_id=1, cluster="alpha")
        a.init_admin()
        a.start()
        self.assertIn("recording the store as node 1's of cluster 'alpha'", a.log_text())
        a.stop()
        before = self.users()
        self.assertEqual(before, [lmstest.ADMIN])

        # Another node of the same cluster, the same store: refused.
        b = self.node("owner-b", node_id=2, cluster="alpha")
        self.refused(b, "belongs to node 1 of this cluster ('alpha')",
                     "this is node 2", "two nodes must never share a store",
                     "--adopt-storage")
        # A node of another cluster: refused, naming both clusters.
        c = self.node("owner-c", node_id=1, cluster="beta")
        self.refused(c, "belongs to node 1 of another cluster ('alpha'",
                     "this is node 1 of 'beta'")
        self.assertEqual(self.users(), before, "a refused node changed the store")

        # The owner itself starts as before, its state intact.
        a.start()
        a.stop()

        # The cluster renamed: refused, until --adopt-storage takes the
        # store over on purpose; from then on it is beta's.
        a.extra_yaml = "cluster: { id: beta }\n"
        a.write_config()
        self.refused(a, "belongs to node 1 of another cluster ('alpha'",
                     "this is node 1 of 'beta'")
        a.start(args=("--adopt-storage",))
        self.assertIn("--adopt-storage: the store of node 1 of cluster 'alpha' becomes "
                      "node 1's of cluster 'beta'", a.log_text())
        a.stop()
        a.start()  # no flag needed any more
        a.stop()
        self.assertEqual(self.users(), before)

def db_rows_path(path, sql):
    import sqlite3
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


if __name__ == "__main__":
    unittest.main()
