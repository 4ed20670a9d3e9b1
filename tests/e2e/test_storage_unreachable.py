# SPDX-License-Identifier: MIT
"""A store that cannot be reached does not stop the node and never makes
it lie (storage.h, LMS_UNAVAILABLE; core/repl/node_apply.c).

A database server's connection can be lost at any time: before a batch
begins, inside it, or between COMMIT and its answer, when nobody knows
whether it committed. The fault hook LMSD_FAULT_STORAGE (core/base/fault.h, test
builds) makes the storage thread see exactly that with the real SQLite
store underneath:

- "down": every batch fails as unreachable before it begins. The node
  stays up, the write in flight is not reported as failed (exit 3, outcome
  unknown), later writes are refused with UNAVAILABLE saying that the node
  cannot reach its storage, and once the store is back the held write is
  applied exactly once without a restart.
- "lose-commit": the batch commits and its answer is lost. The retry finds
  it committed (the store's applied index says so) and does not apply it
  again; its client hears that the change was stored but its answer lost
  (UNKNOWN), and the CLI, repeating the same write, gets its recorded
  answer (exit 0, the upload's id); the change is there exactly once.
"""

import os
import tempfile
import time
import unittest

import lmstest
from lmstest import E2ETestCase, World

ENV = {"LMS_CLIENT_TIMEOUT": "4"}


class StorageUnreachableTest(E2ETestCase):
    def setUp(self):
        self.node = lmstest.Node(name="unreachable")
        self.fault = os.path.join(self.node.dir, "storage-fault")
        self.node.env["LMSD_FAULT_STORAGE"] = self.fault
        self.addCleanup(self.node.cleanup)
        self.node.init_admin()
        self.node.start()
        self.w = World(self.node, self)
        self.files = tempfile.mkdtemp(prefix="lms-unreachable-")

    def set_fault(self, mode):
        tmp = self.fault + ".tmp"
        with open(tmp, "w") as f:
            f.write(mode + "\n")
        os.replace(tmp, self.fault)

    def upload(self, title, env=ENV):
        path = os.path.join(self.files, title + ".txt")
        with open(path, "w") as f:
            f.write("notes of %s\n" % title)
        return self.w["teach1"].run("upload", "--course", "CS101", "--title", title,
                                    path, json=True, env=env)

    def titles(self):
        res = self.ok(self.w["teach1"].run("materials", "--course", "CS101", json=True,
                                           env={"LMS_CLIENT_TIMEOUT": "10"}),
                      "materials")
        return [m["title"] for m in res["materials"]]

    def wait_log(self, text, seconds=10):
        t0 = time.monotonic()
        while text not in self.node.log_text():
            if time.monotonic() - t0 > seconds:
                self.fail("no %r in the log after %d s:\n%s" % (text, seconds,
                                                                 self.node.log_tail()))
            time.sleep(0.1)

    def test_down_holds_the_write_refuses_the_next_and_recovers(self):
        self.ok(self.upload("before"), "upload before the fault")
        self.set_fault("down")
        held = self.upload("held")
        # Committed in the log, held by the storage: never a refusal.
        self.assertEqual(held.rc, 3, "the write in flight: %r" % held)
        self.wait_log("storage unreachable: the storage cannot apply entries")
        refused = self.upload("refused")
        # Refused before it was proposed: UNAVAILABLE, nothing stored (the
        # CLI's exit 3 with "nothing was stored", docs/clients.md).
        self.assertEqual(refused.rc, 3, "a write while the store is down: %r" % refused)
        self.assertEqual(refused.status, "UNAVAILABLE", repr(refused))
        self.assertIn("nothing was stored", refused.err, repr(refused))
        self.assertIn("cannot reach its storage", refused.err, repr(refused))
        self.assertIn("fault hook: the storage cannot be reached", refused.err, repr(refused))
        self.assertTrue(self.node.running, "lmsd exited:\n" + self.node.log_tail())

        self.set_fault("none")
        t0 = time.monotonic()
        while True:
            res = self.upload("after")
            if res.rc == 0:
                break
            self.assertLess(time.monotonic() - t0, 15,
                            "no write went through 15 s after the store came back: "
                            "%r\n%s" % (res, self.node.log_tail()))
            time.sleep(0.5)
        self.assertIn("the storage can be reached again", self.node.log_text())
        self.assertEqual(sorted(self.titles()), ["after", "before", "held"])
        # And after a restart (replay from the store's applied index).
        self.node.restart()
        self.assertEqual(sorted(self.titles()), ["after", "before", "held"])

    def test_a_lost_commit_answer_is_not_applied_twice(self):
        self.ok(self.upload("before"), "upload before the fault")
        self.set_fault("lose-commit")
        lost = self.upload("lost", env={"LMS_CLIENT_TIMEOUT": "15"})
        self.set_fault("none")
        # The node answers UNKNOWN (stored, answer lost); the CLI repeats
        # the same write (same client id and seq) and gets the recorded
        # answer: the upload's id, as if nothing had happened.
        self.ok(lost, "a write whose commit answer was lost")
        self.wait_log("before the answer to its commit was lost; they were not "
                      "applied again")
        self.ok(self.upload("after"), "a write after the fault")
        self.assertEqual(sorted(self.titles()), ["after", "before", "lost"])
        self.node.restart()
        self.assertEqual(sorted(self.titles()), ["after", "before", "lost"])

    def test_an_answer_that_cannot_be_read_back_is_not_a_refusal(self):
        """A write applied, whose answer cannot be read (the database went
        away between the commit and the read): never "refused" (exit 1),
        which would be a lie; the client sends the same write again, the
        record answers it without applying it twice, and once the store
        reads again the command ends with its real answer (found by CI:
        an upload during a MariaDB restart exited 1, "done, but material
        66 cannot be read back")."""
        self.set_fault("read-back")
        gave_up = self.upload("unread", env={"LMS_CLIENT_TIMEOUT": "2"})
        self.assertEqual(gave_up.rc, 3, "stored, answer not read: unknown, not refused: %r"
                         % gave_up)
        self.assertEqual(gave_up.status, "UNKNOWN", repr(gave_up))
        self.assertIn("run the same command again", gave_up.err)
        self.wait_log("applied, but cannot read back material")
        self.set_fault("none")
        # as the message says: the same command again, from the same home
        again = self.upload("unread", env={"LMS_CLIENT_TIMEOUT": "10"})
        self.assertEqual(again.rc, 0, "the rerun gets the real answer: %r" % again)
        self.assertEqual(again.json["title"], "unread")
        self.assertEqual(self.titles().count("unread"), 1, "stored exactly once")


if __name__ == "__main__":
    unittest.main()
