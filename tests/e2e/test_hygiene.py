# SPDX-License-Identifier: MIT
"""Input hygiene end to end (issue 10): text that could drive a terminal,
forge a log line or reorder what a reader sees is refused by the server;
what an older row still holds is printed escaped by the CLIs; numbers far
out of range are refused; lmsd keeps its files private and refuses a data
dir others may write to; tutor_openai sends its key over plain http:// only
to this machine.
"""

import os
import re
import stat
import subprocess
import time
import unittest

import lmstest
from lmstest import ADMIN, ADMIN_PW, E2ETestCase, World, MockOpenAI

INT64_MAX = (1 << 63) - 1
ESC = "\x1b"


class HygieneTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(name="hygiene")
        w = cls.w = World(cls.node)
        cls.files = os.path.join(cls.node.dir, "files")
        os.makedirs(cls.files)
        cls.A = w.create_assignment(title="Plain")["id"]

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def file(self, name, data=b"x"):
        path = os.path.join(self.files, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def test_control_and_bidi_characters_are_refused_naming_the_field(self):
        s, t, a = self.w["stud1"], self.w["teach1"], self.w.admin
        cases = [
            (s, ["submit", self.A, self.file("a" + ESC + "[31m.txt")],
             ["file name", "control character (U+001B)"]),
            (s, ["submit", self.A, self.file("x\u202egpj.exe")],
             ["file name", "(U+202E)"]),
            (s, ["submit", self.A, self.file("bell\x07.txt")], ["(U+0007)"]),
            (t, ["create-assignment", "--course", "CS101", "--title", "Lab" + ESC + "]0;x",
                 "--due", "2031-01-01"], ["title", "(U+001B)"]),
            (t, ["create-assignment", "--course", "CS101", "--title", "ok", "--due", "2031-01-01",
                 "--description", "one\n\u009b31m"], ["description", "(U+009B)"]),
            (t, ["upload", "--course", "CS101", "--title", "W\u2066eek", self.file("w.txt")],
             ["title", "(U+2066)"]),
            (s, ["ask", "--course", "CS101", "--instructor", "--title", "t\u200bt", "text"],
             ["title", "(U+200B)"]),
            (s, ["ask", "--course", "CS101", "--instructor", "a\rb"], ["(U+000D)"]),
            (a, ["create-course", "NEW9", "--title", "T\x1b[2J"], ["title", "(U+001B)"]),
            (a, ["add-user", "fresh1", "--role", "student", "--full-name", "Eve\u202e",
                 "--password-stdin"], ["full name", "(U+202E)"]),
        ]
        for who, args, msg in cases:
            label = ascii(args)
            with self.subTest(args=label):
                res = who.run(*args, input=World.PW + "\n" if "--password-stdin" in args else None)
                self.refused(res, "INVALID_ARGUMENT", label, in_message=msg)
        # multi-line text keeps newlines and tabs
        self.ok(t.run("create-assignment", "--course", "CS101", "--title", "Multi",
                      "--due", "2031-01-01", "--description", "line one\n\tline two", json=True),
                "a description with a newline and a tab")

    def test_nul_in_a_file_name_is_refused_not_truncated(self):
        with self.node.raw() as c:
            tok = c.login("stud2", World.PW)
            r = c.call({"token": tok, "submit": {"assignment_id": self.A,
                                                 "file_name": "report.pdf\x00.exe", "data": b"x"}})
            self.assertStatus(r, "INVALID_ARGUMENT", "a file name with NUL")
            self.assertIn("U+0000", r["message"])

    def test_numbers_out_of_range_are_refused(self):
        with self.node.raw() as c:
            tok = c.login("teach1", World.PW)
            base = {"course": "CS101", "title": "n", "due": 1924992000000, "max_points": 10.0,
                    "max_size": 1024}
            for what, change, word in [
                ("due INT64_MAX", {"due": INT64_MAX}, "9999"),
                ("cutoff INT64_MAX", {"cutoff": INT64_MAX}, "9999"),
                ("max_points 1e308", {"max_points": 1e308}, "maximum points"),
                ("max_points NaN", {"max_points": float("nan")}, "maximum points"),
                ("max_points -1", {"max_points": -1.0}, "maximum points"),
                ("max_attempts 2^32-1", {"max_attempts": (1 << 32) - 1}, "maximum attempts"),
            ]:
                r = c.call({"token": tok, "create_assignment": dict(base, **change)})
                self.assertStatus(r, "INVALID_ARGUMENT", what)
                self.assertIn(word, r["message"], what)
            sub = self.w["stud1"].run("submit", self.A, self.file("g.txt"), json=True).json["id"]
            for g in (float("nan"), float("inf"), -1.0, 1e9):
                r = c.call({"token": tok, "grade": {"submission_id": sub, "grade": g}})
                self.assertStatus(r, "INVALID_ARGUMENT", "grade %r" % g)

    def test_a_forged_log_line_is_escaped(self):
        forged = "x\n2026-01-01T00:00:00.000Z INFO  forged line"
        with self.node.raw() as c:
            r = c.call({"login": {"name": forged, "password": "nope"}})
            self.assertNotEqual(r["status"], "OK")
        lmstest.wait_until(lambda: "forged line" in self.node.log_text(), what="the login in the log")
        log = self.node.log_text()
        self.assertNotIn("\nforged line", log)
        for line in log.splitlines():
            self.assertFalse(line.startswith("2026-01-01T00:00:00.000Z INFO  forged"),
                             "a forged line in the log:\n%s" % line)
        self.assertIn("x\\x0A2026-01-01", log)

    def test_data_files_are_private(self):
        data = self.node.data_dir
        self.assertEqual(stat.S_IMODE(os.stat(data).st_mode) & 0o077, 0,
                         "data dir mode %o" % os.stat(data).st_mode)
        seen = 0
        for root, dirs, files in os.walk(data):
            for n in dirs + files:
                p = os.path.join(root, n)
                m = stat.S_IMODE(os.lstat(p).st_mode)
                self.assertEqual(m & 0o077, 0, "%s has mode %o" % (p, m))
                seen += 1
        self.assertGreater(seen, 0, "no files in the data dir")


class StoredRowsTest(E2ETestCase):
    """A row written before the rule (put in with sqlite3 while the node is
    stopped) reaches the terminal escaped."""

    def test_stored_controls_are_printed_escaped(self):
        node = lmstest.started_node(name="stored")
        try:
            w = World(node)
            aid = w.create_assignment(title="Clean")["id"]
            node.stop()
            import sqlite3
            db = sqlite3.connect(os.path.join(node.data_dir, "lms.db"))
            db.execute("UPDATE assignments SET title = ? WHERE id = ?",
                       ("T" + ESC + "[2J\u202eevil\u009b", aid))
            db.commit()
            db.close()
            node.start()
            res = self.ok(w["stud1"].run("assignments"), "listing assignments")
            out = res.out
            self.assertNotIn(ESC, out, "a raw ESC reached the terminal")
            self.assertNotIn("\u202e", out)
            self.assertNotIn("\u009b", out)
            self.assertIn("\\x1b[2J", out, "the escape shown")
            self.assertIn("\\u{202E}", out)
        finally:
            node.cleanup()


class PrivateFilesTest(E2ETestCase):
    def test_a_world_writable_data_dir_is_refused(self):
        node = lmstest.Node(name="wwdata")
        try:
            os.makedirs(node.data_dir)
            os.chmod(node.data_dir, 0o777)
            p = subprocess.run([lmstest.lmsd_path(), "--config", node.config_path],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(b"world-writable", p.stderr)
            self.assertIn(node.data_dir.encode(), p.stderr)
            os.chmod(node.config_path, 0o664)
            os.chmod(node.data_dir, 0o700)
            p = subprocess.run([lmstest.lmsd_path(), "--config", node.config_path],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(b"the config file", p.stderr)
            self.assertIn(b"group-writable", p.stderr)
        finally:
            node.cleanup()

    def test_tutor_openai_refuses_plain_http_to_another_host(self):
        mock = MockOpenAI()
        try:
            for allow in (False, True):
                cfg = mock.tutor_config(base_url="http://tutor.example.invalid/v1")
                if allow:
                    cfg["allow_insecure_http"] = True
                node = lmstest.Node(name="insecure", env=mock.env, tutor=cfg)
                try:
                    node.init_admin()
                    if allow:
                        node.start()  # loads; the host is never reached here
                        continue
                    proc = subprocess.Popen([lmstest.lmsd_path(), "--config", node.config_path],
                                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                            env=dict(os.environ, **mock.env))
                    try:
                        out, _ = proc.communicate(timeout=20)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        out, _ = proc.communicate()
                    self.assertIn(b"plain http://", out)
                    self.assertIn(b"allow_insecure_http", out)
                finally:
                    node.cleanup()
        finally:
            mock.stop()


if __name__ == "__main__":
    unittest.main()
