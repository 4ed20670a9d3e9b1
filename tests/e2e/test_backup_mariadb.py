# SPDX-License-Identifier: MIT
"""Backups across backends: a SQLite node's backup restored into a node
on MariaDB (the tests' own server, ctest's "mariadb" fixture), and that
node's backup restored into SQLite again. The state is the same at every
step: a backup taken from each restored node holds the records of the
first byte for byte (the stream is backend-neutral), the files come back
byte for byte, and each restored node takes writes. Skipped without
storage_mysql."""

import os

import lmstest
from backuptest import backup, new_node, populate, records, restore
from lmstest import E2ETestCase, World, started_node


class BackupAcrossBackendsTest(E2ETestCase):
    def test_sqlite_to_mariadb_and_back(self):
        opts = lmstest.mariadb_options("e2e_backup_%d" % os.getpid())  # skips without it
        src = started_node(name="bsql")
        self.addCleanup(src.cleanup)
        w = World(src, self)
        data = populate(self, w, os.path.join(src.dir, "in"))
        first = os.path.join(src.dir, "sqlite.lmsb")
        backup(self, w.admin, first, "backup of the SQLite node")
        body = records(first)[1]

        maria = new_node("bmaria", storage_plugin="storage_mysql", storage_options=opts)
        self.addCleanup(maria.cleanup)
        self.addCleanup(lmstest.mariadb_sql, "DROP DATABASE IF EXISTS %s" % opts["database"])
        r = restore(maria, first)
        self.assertEqual(r.returncode, 0, "restore into MariaDB: %s"
                         % r.stderr.decode(errors="replace"))
        maria.start()
        # the old sessions came along: the same CLIs, another node
        admin = maria.cli("lms-admin", home=w.admin.home)
        second = os.path.join(src.dir, "maria.lmsb")
        backup(self, admin, second, "backup of the MariaDB node")
        self.assertEqual(records(second)[1], body, "MariaDB holds the same records")
        self.assertIn("storage_mysql", records(second)[0].decode("latin-1"),
                      "written by storage_mysql")
        for sid, blob in data["submissions"].items():
            out = os.path.join(src.dir, "m-fetched-%d" % sid)
            teacher = "teach2" if sid == max(data["submissions"]) else "teach1"
            self.ok(maria.cli("lms-instructor", home=w[teacher].home)
                    .run("fetch", sid, "-o", out), "fetch %d from MariaDB" % sid)
            with open(out, "rb") as f:
                self.assertTrue(f.read() == blob, "submission %d byte for byte" % sid)
        self.ok(admin.run("create-course", "MARIA", "--title", "on MariaDB"),
                "a write on the MariaDB node")

        back = new_node("bback")
        self.addCleanup(back.cleanup)
        r = restore(back, second)
        self.assertEqual(r.returncode, 0, "restore into SQLite: %s"
                         % r.stderr.decode(errors="replace"))
        back.start()
        third = os.path.join(src.dir, "back.lmsb")
        backup(self, back.cli("lms-admin", home=w.admin.home), third,
               "backup of the SQLite node restored from MariaDB")
        self.assertEqual(records(third)[1], body, "SQLite again holds the same records")
        for mid, blob in data["materials"].items():
            out = os.path.join(src.dir, "b-downloaded-%d" % mid)
            self.ok(back.cli("lms-student", home=w["stud1"].home)
                    .run("download", mid, "-o", out), "download %d" % mid)
            with open(out, "rb") as f:
                self.assertTrue(f.read() == blob, "material %d byte for byte" % mid)
        for table in ("users", "courses", "assignments", "submissions", "grades", "materials"):
            self.assertEqual(lmstest.db_rows(back, "SELECT * FROM %s ORDER BY 1" % table),
                             lmstest.db_rows(src, "SELECT * FROM %s ORDER BY 1" % table),
                             "table %s after SQLite -> MariaDB -> SQLite" % table)
