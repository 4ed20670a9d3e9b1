# SPDX-License-Identifier: MIT
"""Bad input, end to end: each gets a clear error, the node keeps serving
other clients, and the stored data is unchanged (a listing after each bad
input equals the one before).

Frames (malformed, truncated, oversized, unknown request type) go over raw
connections; tokens, ids, strings and files through the real CLIs (and raw
requests where the CLIs would never send such a thing); bad configs and
broken plugins through lmsd itself.
"""

import json
import os
import shutil
import re
import struct
import subprocess
import time
import unittest

import lmstest
from lmstest import ADMIN, ADMIN_PW, E2ETestCase, World, proto

MAX_FRAME = 1 << 20        # limits.max_frame_bytes
MAX_UPLOAD = 256 << 10     # limits.max_upload_bytes


class BadInputTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(name="badinput", limits={
            "max_frame_bytes": "1MiB", "max_upload_bytes": "256KiB"})
        w = cls.w = World(cls.node)
        cls.files = os.path.join(cls.node.dir, "files")
        os.makedirs(cls.files)
        cls.A = w.create_assignment(title="Small files", extra=["--max-size", "1KiB"])["id"]
        p = cls.file("ok.txt", b"fine")
        cls.S = w["stud1"].run("submit", cls.A, p, json=True).json["id"]
        cls.Q = w["stud1"].run("ask", "--course", "CS101", "--instructor", "q", json=True).json["id"]
        cls.M = w["teach1"].run("upload", "--course", "CS101", "--title", "m", p, json=True).json["id"]
        # long-lived raw sessions: the admin's and the instructor's, opened
        # before any bad input, used after each
        cls.admin = cls.node.raw()
        cls.admin_tok = cls.admin.login(ADMIN, ADMIN_PW)
        cls.teach = cls.node.raw()
        cls.teach_tok = cls.teach.login("teach1", World.PW)

    @classmethod
    def tearDownClass(cls):
        cls.admin.close()
        cls.teach.close()
        cls.node.cleanup()

    @classmethod
    def file(cls, name, data):
        path = os.path.join(cls.files, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def setUp(self):
        self.before = self.listing()

    # ---- helpers ----------------------------------------------------------

    def listing(self):
        """Everything stored, as the admin and CS101's instructor list it,
        over the connections opened in setUpClass (so this also proves
        those are still served)."""
        out = {}
        for key, conn, tok, req in [
            ("users", self.admin, self.admin_tok, {"list_users": {}}),
            ("courses", self.admin, self.admin_tok, {"list_courses": {}}),
            ("assignments", self.admin, self.admin_tok, {"list_assignments": {}}),
            ("materials", self.admin, self.admin_tok, {"list_materials": {}}),
            ("submissions", self.teach, self.teach_tok, {"list_submissions": {"assignment_id": self.A}}),
            ("queries", self.teach, self.teach_tok, {"list_queries": {"all": True}}),
            ("grades", self.teach, self.teach_tok, {"export_grades": {"course": "CS101"}}),
        ]:
            r = conn.call(dict(req, token=tok))
            self.assertStatus(r, "OK", "listing %s" % key)
            out[key] = {k: v for k, v in r.items() if k != "id"}
        return out

    def assertUnchanged(self, what):
        after = self.listing()
        for key in self.before:
            self.assertEqual(after[key], self.before[key], "%s changed the stored %s" % (what, key))

    def served(self, what):
        """The already-open connections and a new one are still served."""
        r = self.admin.call({"token": self.admin_tok, "whoami": {}})
        self.assertStatus(r, "OK", "the admin's open connection after %s" % what)
        with self.node.raw() as c:
            r = c.call({"token": self.teach_tok, "whoami": {}})
            self.assertStatus(r, "OK", "a new connection after %s" % what)
        self.assertTrue(self.node.running, "lmsd died after %s:\n%s" % (what, self.node.log_tail()))

    def test_default_max_size_follows_the_upload_limit(self):
        """Without --max-size the server fills in 10 MiB, or its upload
        limit when that is lower (here 256 KiB)."""
        doc = self.ok(self.w["teach1"].run("create-assignment", "--course", "CS101", "--title",
                                           "Default size", "--due", "2031-01-01", json=True),
                      "create-assignment without --max-size")
        self.assertEqualMsg(doc["max_size"], MAX_UPLOAD, "the default max_size")

    # ---- frames -----------------------------------------------------------

    def test_malformed_frames(self):
        for what, payload in [
            ("garbage bytes", b"hello, not protobuf \xff\xfe"),
            ("an overlong varint", b"\xff" * 16),
            ("a length past the end", b"\x12\x7f" + b"x" * 10),
            ("a message field sent as a varint", b"\x50\x01"),   # field 10 (login), wire type 0
            ("a valid request, then garbage", proto().encode("Request", {"id": 5, "whoami": {}}) + b"\xff"),
        ]:
            with self.subTest(what):
                with self.node.raw() as c:
                    c.send_frame(payload)
                    r = c.recv()
                    self.assertStatus(r, "INVALID_ARGUMENT", what)
                    self.assertEqualMsg(r["id"], 0, "%s: the answer to an undecodable frame has id 0" % what)
                    self.assertIn("malformed", r["message"], "%s: the message says why" % what)
                    self.assertTrue(c.is_closed(), "%s: the server must close the connection" % what)
                self.served(what)
        self.assertUnchanged("malformed frames")

    def test_truncated_frames(self):
        # length 100, 10 bytes, then hang up
        c = self.node.raw()
        c.send_bytes(struct.pack(">I", 100) + b"\x08" * 10)
        c.close()
        self.served("a truncated frame and a hang-up")
        # a slow sender: half a frame, others are served meanwhile, then the rest
        body = proto().encode("Request", {"id": 77, "token": self.teach_tok, "whoami": {}})
        body += proto().encode("Request", {99: b"p" * (200 - len(body) - 3)})  # padding: unknown field
        with self.node.raw() as slow:
            slow.send_bytes(struct.pack(">I", len(body)) + body[:50])
            self.served("half a frame")
            self.assertFalse(slow.is_closed(0.2), "a partial frame must not close the connection")
            slow.send_bytes(body[50:])
            r = slow.recv()
            self.assertStatus(r, "OK", "the completed slow frame")
            self.assertEqualMsg((r["id"], r["whoami"]["user"]["name"]), (77, "teach1"), "slow frame's answer")
        # header only, then hang up
        c = self.node.raw()
        c.send_bytes(b"\x00\x00")
        c.close()
        self.served("half a length prefix")
        self.assertUnchanged("truncated frames")

    def test_oversized_frame(self):
        with self.node.raw() as c:
            c.send_bytes(struct.pack(">I", MAX_FRAME + 1) + b"\x00" * 4096)
            r = c.recv()
            self.assertStatus(r, "RESOURCE_EXHAUSTED", "a frame above the limit before login")
            for n in (str(MAX_FRAME + 1), str(64 << 10), "not logged in"):
                self.assertIn(n, r["message"], "names both sizes (limits.preauth_frame_bytes): %r"
                              % r["message"])
            self.assertTrue(c.is_closed(), "the server must close after an oversized frame")
        with self.node.raw() as c:
            self.assertStatus(c.call({"token": self.teach_tok, "whoami": {}}), "OK", "whoami")
            c.send_bytes(struct.pack(">I", MAX_FRAME + 1) + b"\x00" * 4096)
            r = c.recv()
            self.assertStatus(r, "RESOURCE_EXHAUSTED", "a frame above limits.max_frame_bytes")
            for n in (str(MAX_FRAME + 1), str(MAX_FRAME)):
                self.assertIn(n, r["message"], "the message names both sizes: %r" % r["message"])
            self.assertTrue(c.is_closed(), "the server must close after an oversized frame")
        with self.node.raw() as c:
            c.send_bytes(b"\xff\xff\xff\xff")
            self.assertStatus(c.recv(), "RESOURCE_EXHAUSTED", "a 4 GiB length")
        self.served("oversized frames")
        # a frame of exactly the limit is read (and refused for what it is)
        body = proto().encode("Request", {"id": 9, "token": self.teach_tok, "whoami": {}})
        body += proto().encode("Request", {99: b"p" * (MAX_FRAME - len(body) - 5)})
        self.assertEqualMsg(len(body), MAX_FRAME, "test frame size")
        with self.node.raw() as c:
            self.assertStatus(c.call({"token": self.teach_tok, "whoami": {}}), "OK", "whoami")
            c.send_frame(body)
            self.assertStatus(c.recv(), "OK", "a frame of exactly max_frame_bytes")
        # through the CLI: a file too big for one frame
        big = self.file("big.bin", b"\x00" * (4 * MAX_FRAME))
        res = self.w["stud1"].run("submit", self.A, big, json=True)
        self.refused(res, "RESOURCE_EXHAUSTED", "submit of a file larger than the frame limit")
        self.served("the CLI's oversized frame")
        self.assertUnchanged("oversized frames")

    def test_unknown_request_type(self):
        with self.node.raw() as c:
            for what, req in [("field 99", {"id": 41, "token": self.teach_tok, 99: b""}),
                              ("field 99 as a varint", {"id": 42, "token": self.teach_tok, (99, 0): 1}),
                              ("no body at all", {"id": 43, "token": self.teach_tok})]:
                r = c.call(req)
                self.assertStatus(r, "UNIMPLEMENTED", what)
                self.assertEqualMsg(r["id"], req["id"], "%s: the answer carries the request id" % what)
                r = c.call({"token": self.teach_tok, "whoami": {}})
                self.assertStatus(r, "OK", "the same connection after %s" % what)
        self.assertUnchanged("unknown request types")

    def test_pipelined_requests(self):
        with self.node.raw() as c:
            ids = [c.send({"token": self.teach_tok, "whoami": {}}),
                   c.send({"token": self.teach_tok, "list_courses": {}}),
                   c.send({"token": self.teach_tok, 99: b"x"}),
                   c.send({"token": "nope", "whoami": {}}),
                   c.send({"token": self.teach_tok, "list_assignments": {"course": "CS101"}})]
            got = {}
            for _ in ids:
                r = c.recv()
                got[r["id"]] = r["status"]
            self.assertEqualMsg(got, {ids[0]: "OK", ids[1]: "OK", ids[2]: "UNIMPLEMENTED",
                                      ids[3]: "UNAUTHENTICATED", ids[4]: "OK"},
                                "answers to five pipelined requests by id")
        self.assertUnchanged("pipelined requests")

    def test_too_many_connections(self):
        n = lmstest.started_node(name="maxconn", limits={"max_connections": 3})
        conns = []
        try:
            # one at a time, each served before the next (so that the probe
            # connection of Node.start is surely gone)
            tok = None
            for i in range(3):
                conns.append(n.raw())
                tok = tok or conns[0].login(ADMIN, ADMIN_PW)
                self.assertStatus(conns[-1].call({"token": tok, "whoami": {}}), "OK",
                                  "connection %d of 3" % (i + 1))
            with n.raw() as extra:
                r = extra.recv()
                self.assertStatus(r, "UNAVAILABLE", "a 4th connection with max_connections 3")
                self.assertIn("too many connections", r["message"])
                self.assertTrue(extra.is_closed(), "the 4th connection is closed")
            for c in conns:
                self.assertStatus(c.call({"token": tok, "whoami": {}}), "OK", "the 3 after the 4th")
            conns.pop().close()
            time.sleep(0.1)
            with n.raw() as again:
                self.assertStatus(again.call({"token": tok, "whoami": {}}), "OK",
                                  "a new connection once one closed")
        finally:
            for c in conns:
                c.close()
            n.cleanup()

    # ---- tokens -------------------------------------------------------------

    def test_bad_token(self):
        with self.node.raw() as c:
            for tok in ("0" * 64, "not-a-token", "x" * 5000):
                r = c.call({"token": tok, "list_courses": {}})
                self.assertStatus(r, "UNAUTHENTICATED", "token %r..." % tok[:10])
                r = c.call({"token": tok, "create_course": {"code": "EVIL", "title": "t"}})
                self.assertStatus(r, "UNAUTHENTICATED", "a write with token %r..." % tok[:10])
        # a CLI whose saved session holds a forged token
        s = self.w.login("lms-student", "stud2")
        path = os.path.join(s.home, "session")
        with open(path) as f:
            sess = json.load(f)
        sess["token"] = "ab" * 32
        with open(path, "w") as f:
            json.dump(sess, f)
        self.refused(s.run("courses", json=True), "UNAUTHENTICATED", "a forged token", rc=4)
        res = s.run("submit", self.A, self.file("t.txt", b"t"))
        self.assertRc(res, 4, "a write with a forged token")
        self.assertIn("login", res.err, "the message tells what to do: %r" % res.err)
        # a damaged session file
        with open(path, "w") as f:
            f.write("{not json")
        self.assertRc(s.run("courses"), 4, "a damaged session file")
        self.served("bad tokens")
        self.assertUnchanged("bad tokens")

    def test_expired_token(self):
        n = lmstest.started_node(name="ttl", ttl="2s")
        try:
            c = n.cli("lms-admin")
            with n.raw() as conn:
                tok = conn.login(ADMIN, ADMIN_PW)  # before the CLI's: expires first
                self.ok(c.login(ADMIN, ADMIN_PW, json=True))
                self.ok(c.run("users"), "users right after login")
                lmstest.wait_until(lambda: c.run("users").rc == 4, timeout=15,
                                   what="the 2s session to expire (exit 4)")
                res = c.run("users", json=True)
                self.refused(res, "UNAUTHENTICATED", "users with an expired session", rc=4)
                r = conn.call({"token": tok, "list_users": {}})
                self.assertStatus(r, "UNAUTHENTICATED", "raw request with an expired token")
                self.assertIn("expired", r["message"])
                r = conn.call({"token": tok, "create_course": {"code": "LATE", "title": "t"}})
                self.assertStatus(r, "UNAUTHENTICATED", "a write with an expired token")
            self.ok(c.login(ADMIN, ADMIN_PW), "log in again")
            doc = self.ok(c.run("courses", json=True))
            self.assertEqualMsg(doc["courses"], [], "nothing was created with the expired token")
        finally:
            n.cleanup()

    # ---- ids ----------------------------------------------------------------

    def test_unknown_ids(self):
        s, t, a = self.w["stud1"], self.w["teach1"], self.w.admin
        f = self.file("u.txt", b"u")
        N = "987654"
        for who, args, needle in [
            (s, ["submit", N, f], "assignment " + N),
            (t, ["submissions", "--assignment", N], "assignment " + N),
            (t, ["release", "--assignment", N], "assignment " + N),
            (t, ["extend", "--assignment", N, "--student", "stud1", "--until", "2031-01-01"], "assignment " + N),
            (t, ["fetch", N], "submission " + N),
            (t, ["grade", N, "--grade", "1"], "submission " + N),
            (s, ["submissions", "--assignment", N], "assignment " + N),
            (t, ["reply", N, "hello"], "query " + N),
            (t, ["resolve", N], "query " + N),
            (s, ["download", N], "material " + N),
            (s, ["assignments", "--course", "NOPE"], "NOPE"),
            (s, ["materials", "--course", "NOPE"], "NOPE"),
            (s, ["grades", "--course", "NOPE"], "NOPE"),
            (s, ["ask", "--course", "NOPE", "--instructor", "hi"], "NOPE"),
            (t, ["create-assignment", "--course", "NOPE", "--title", "x", "--due", "2031-01-01"], "NOPE"),
            (t, ["upload", "--course", "NOPE", "--title", "x", f], "NOPE"),
            (t, ["export-grades", "--course", "NOPE"], "NOPE"),
            (t, ["queries", "--course", "NOPE"], "NOPE"),
            (a, ["enroll", "NOPE", "stud1", "--as", "student"], "NOPE"),
            (a, ["enroll", "CS101", "ghost", "--as", "student"], "ghost"),
        ]:
            with self.subTest(args=args):
                res = who.run(*args, json=True)
                self.refused(res, "NOT_FOUND", " ".join(args), in_message=needle)
        # the CS101 instructor cannot extend for an unknown student either
        res = t.run("extend", "--assignment", self.A, "--student", "ghost", "--until", "2031-01-01", json=True)
        self.refused(res, "FAILED_PRECONDITION", "extend for an unknown student", in_message="ghost")
        self.served("unknown ids")
        self.assertUnchanged("unknown ids")

    # ---- strings ------------------------------------------------------------

    def test_empty_and_overlong_strings(self):
        s, t, a = self.w["stud1"], self.w["teach1"], self.w.admin
        f = self.file("s.txt", b"s")
        for who, args, inp in [
            (t, ["create-assignment", "--course", "CS101", "--title", "", "--due", "2031-01-01",
                 "--max-size", "1KiB"], None),
            (t, ["create-assignment", "--course", "CS101", "--title", "T" * 201, "--due", "2031-01-01",
                 "--max-size", "1KiB"], None),
            (t, ["create-assignment", "--course", "CS101", "--title", "\u00e9" * 100 + "x",
                 "--due", "2031-01-01", "--max-size", "1KiB"], None),  # 201 bytes, 101 characters
            (t, ["create-assignment", "--course", "CS101", "--title", "ok", "--due", "2031-01-01",
                 "--max-size", "1KiB", "--description", "d" * (64 * 1024 + 1)], None),
            (t, ["upload", "--course", "CS101", "--title", "", f], None),
            (t, ["upload", "--course", "CS101", "--title", "u" * 201, f], None),
            (t, ["reply", str(self.Q), ""], None),
            (t, ["grade", str(self.S), "--grade", "1", "--feedback", "f" * (64 * 1024 + 1)], None),
            (s, ["ask", "--course", "CS101", "--instructor", ""], None),
            (s, ["ask", "--course", "CS101", "--instructor", "--title", "q" * 201, "text"], None),
            (s, ["ask", "--course", "CS101", "--instructor", "x" * (64 * 1024 + 1)], None),
            (a, ["create-course", "C" * 65, "--title", "t"], None),
            (a, ["create-course", "", "--title", "t"], None),
            (a, ["create-course", "HAS SPACE", "--title", "t"], None),
            (a, ["create-course", "NEW1", "--title", ""], None),
            (a, ["create-course", "NEW2", "--title", "t" * 201], None),
            (a, ["add-user", "bad name", "--role", "student", "--password-stdin"], World.PW),
            (a, ["add-user", "", "--role", "student", "--password-stdin"], World.PW),
            (a, ["add-user", "u" * 65, "--role", "student", "--password-stdin"], World.PW),
            (a, ["add-user", "--role", "student", "--password-stdin", "--", "-dash"], World.PW),
            (a, ["add-user", "okname", "--role", "student", "--full-name", "n" * 201,
                 "--password-stdin"], World.PW),
            (a, ["add-user", "okname", "--role", "student", "--password-stdin"], "p" * 1025),
        ]:
            label = " ".join(x if len(x) < 40 else x[:10] + "...(%d bytes)" % len(x.encode()) for x in args)
            with self.subTest(args=label):
                res = who.run(*args, json=True, input=(inp + "\n") if inp else None)
                if res.rc == 2:
                    continue  # the CLI refused it as a usage error: fine, nothing sent
                self.refused(res, "INVALID_ARGUMENT", label)
        # what the CLIs never send, over a raw connection
        with self.node.raw() as c:
            st = c.login("stud1", World.PW)
            for what, body in [
                ("a file name with '/'", {"submit": {"assignment_id": self.A, "file_name": "../x", "data": b"x"}}),
                ("an empty file name", {"submit": {"assignment_id": self.A, "file_name": "", "data": b"x"}}),
                ("a file name of 256 bytes", {"submit": {"assignment_id": self.A, "file_name": "f" * 256,
                                                         "data": b"x"}}),
                ("'..' as the file name", {"submit": {"assignment_id": self.A, "file_name": "..", "data": b"x"}}),
                ("a title that is not UTF-8", {"ask": {"course": "CS101", "title": b"\xff\xfe", "text": "t"}}),
            ]:
                r = c.call(dict(body, token=st))
                self.assertStatus(r, "INVALID_ARGUMENT", what)
        self.served("bad strings")
        self.assertUnchanged("bad strings")
        # the limits themselves are accepted
        doc = self.ok(t.run("create-assignment", "--course", "CS101", "--title", "T" * 200,
                            "--due", "2031-01-01", "--max-size", "1KiB", json=True),
                      "a title of exactly 200 bytes")
        self.assertEqualMsg(len(doc["title"]), 200, "stored title length")
        self.ok(a.run("create-course", "C" * 64, "--title", "t"), "a course code of exactly 64 bytes")

    # ---- files --------------------------------------------------------------

    def test_file_over_assignment_max_size(self):
        s = self.w["stud2"]
        res = s.run("submit", self.A, self.file("big.txt", b"b" * 1025), json=True)
        self.refused(res, "INVALID_ARGUMENT", "a file of 1025 bytes for max-size 1KiB",
                     in_message=["1025", "1024"])
        res = s.run("submit", self.A, self.file("big2.txt", b"b" * 200000))
        self.refused(res, "INVALID_ARGUMENT", "a file of 200000 bytes", in_message=["200000", "1024"])
        self.served("files over the assignment's limit")
        self.assertUnchanged("files over the assignment's limit")
        doc = self.ok(s.run("submit", self.A, self.file("edge.txt", b"e" * 1024), json=True),
                      "a file of exactly max-size")
        self.assertEqualMsg(doc["size"], 1024, "stored size")

    def test_upload_over_server_limit(self):
        t = self.w["teach1"]
        res = t.run("upload", "--course", "CS101", "--title", "huge",
                    self.file("huge.bin", b"\x00" * (MAX_UPLOAD + 1)), json=True)
        self.refused(res, "INVALID_ARGUMENT", "a material above limits.max_upload_bytes",
                     in_message=[str(MAX_UPLOAD + 1), str(MAX_UPLOAD)])
        res = t.run("create-assignment", "--course", "CS101", "--title", "too big", "--due", "2031-01-01",
                    "--max-size", "512KiB", json=True)
        self.refused(res, "INVALID_ARGUMENT", "an assignment max-size above the upload limit",
                     in_message=[str(512 << 10), str(MAX_UPLOAD)])
        self.served("uploads over the limit")
        self.assertUnchanged("uploads over the limit")
        doc = self.ok(t.run("upload", "--course", "CS101", "--title", "edge",
                            self.file("edge.bin", b"\x01" * MAX_UPLOAD), json=True),
                      "a material of exactly max_upload_bytes")
        self.assertEqualMsg(doc["size"], MAX_UPLOAD, "stored size")

    # ---- configuration and plugins -----------------------------------------------

    def check_config(self, text, name="bad.yaml"):
        path = os.path.join(self.node.dir, name)
        with open(path, "w") as f:
            f.write(text)
        check = subprocess.run([lmstest.lmsd_path(), "--check-config", path],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        return path, check

    def base_config(self, data_dir):
        return self.node.config_text().replace(self.node.data_dir, data_dir)

    def test_bad_config(self):
        good = self.base_config(os.path.join(self.node.dir, "other-data"))
        path, p = self.check_config(good, "good.yaml")
        self.assertEqualMsg(p.returncode, 0, "--check-config of a good file (stderr %r)" % p.stderr)
        self.assertIn(b"configuration OK", p.stdout)

        lines = good.splitlines()
        cases = []
        # an unknown key, on a line we know
        i = lines.index("  id: 1")
        bad = lines[:i + 1] + ["  dat_dir: /tmp/typo"] + lines[i + 1:]
        cases.append(("unknown key", bad, i + 2, "node.dat_dir"))
        i = [n for n, l in enumerate(lines) if l.startswith("log:")][0]
        bad = lines[:i] + ["logging:", "  level: info"] + lines[i:]
        cases.append(("unknown section", bad, i + 1, "logging"))
        # a value of the wrong type
        i = lines.index("limits:")
        bad = lines[:i + 1] + ["  max_connections: lots"] + lines[i + 1:]
        cases.append(("wrong type", bad, i + 2, "limits.max_connections"))
        bad = [l if not l.startswith("  level:") else "  level: loud" for l in lines]
        cases.append(("bad log level", bad, bad.index("  level: loud") + 1, "log.level"))
        bad = [l if not l.startswith("  ttl") else "  ttl: forever" for l in lines]
        # (no ttl line in the base config: add one)
        i = lines.index("limits:")
        bad = lines[:i] + ["sessions:", "  ttl: forever"] + lines[i:]
        cases.append(("bad duration", bad, i + 2, "sessions.ttl"))
        # the storage section missing
        i = lines.index("storage:")
        bad = lines[:i] + lines[i + 2:]
        cases.append(("missing storage", bad, None, "storage"))
        # a YAML syntax error
        bad = lines + ["node: [unclosed"]
        cases.append(("YAML syntax", bad, len(bad), None))
        for what, bad, line, key in cases:
            with self.subTest(what):
                path, p = self.check_config("\n".join(bad) + "\n")
                err = p.stderr.decode(errors="replace")
                self.assertEqualMsg(p.returncode, 2, "%s: --check-config exit status (stderr %r)" % (what, err))
                m = re.search(re.escape(path) + r":(\d+):", err)
                self.assertTrue(m, "%s: the error names file:line: %r" % (what, err))
                if line is not None:
                    self.assertEqualMsg(int(m.group(1)), line, "%s: line named in %r" % (what, err))
                if key:
                    self.assertIn(key, err, "%s: the error names the key" % what)
                self.assertEqualMsg(len(err.strip().splitlines()), 1, "%s: one line: %r" % (what, err))
                # and lmsd refuses to start with it
                run = subprocess.run([lmstest.lmsd_path(), "--config", path], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, timeout=30)
                self.assertEqualMsg(run.returncode, 2, "%s: lmsd --config exit status" % what)
        # a file that is not there
        p = subprocess.run([lmstest.lmsd_path(), "--check-config", os.path.join(self.node.dir, "none.yaml")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        self.assertEqualMsg(p.returncode, 2, "--check-config of a missing file")
        self.assertIn(b"none.yaml", p.stderr)
        self.assertRc_lmsd(["--bogus"], 2, "an unknown lmsd option")
        self.assertRc_lmsd([], 2, "lmsd without --config")
        self.served("bad configs")
        self.assertUnchanged("bad configs")

    def test_installed_lmsd_ignores_the_build_tree(self):
        """A copy of lmsd outside the build tree (as installed) looks for
        plugins named without a path only in the installed directory, never
        in the build tree's plugins/ that the build compiled into it."""
        text = "\n".join(l for l in self.base_config(os.path.join(self.node.dir, "inst-data"))
                         .splitlines() if not l.startswith("plugin_dir:")) + "\n"
        path, p = self.check_config(text, "no-plugin-dir.yaml")
        self.assertEqualMsg(p.returncode, 0, "the build tree's lmsd finds its plugins "
                            "(stderr %r)" % p.stderr)
        inst = os.path.join(self.node.dir, "installed")
        os.makedirs(inst, exist_ok=True)
        copy = os.path.join(inst, "lmsd")
        shutil.copy2(lmstest.lmsd_path(), copy)
        p = subprocess.run([copy, "--check-config", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        err = p.stderr.decode(errors="replace")
        self.assertEqualMsg(p.returncode, 2, "an installed lmsd with no plugin there "
                            "(stderr %r)" % err)
        self.assertIn("storage_sqlite", err)
        self.assertNotIn(os.path.dirname(lmstest.plugin_dir()), err,
                         "the installed lmsd looked in the build tree")

    def assertRc_lmsd(self, args, rc, what):
        p = subprocess.run([lmstest.lmsd_path()] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
        self.assertEqualMsg(p.returncode, rc, what)

    def test_broken_plugin(self):
        broken = lmstest.broken_plugin_dir()
        cases = [
            ("storage", "broken_bad_magic.so", "bad magic"),
            ("storage", "broken_abi_major.so", "ABI"),
            ("storage", "broken_abi_minor.so", "newer lmsd"),
            ("storage", "broken_wrong_kind.so", "expected storage"),
            ("storage", "broken_no_entry.so", "lms_plugin_entry"),
            ("storage", "broken_null_entry.so", "NULL"),
            ("storage", "broken_small_descriptor.so", "descriptor"),
            ("storage", "broken_null_ops.so", "ops"),
            ("storage", "broken_storage_null_callback.so", "missing required storage callback"),
            ("auth", "broken_auth_null_callback.so", "missing required auth callback"),
            ("storage", "does_not_exist.so", "cannot load plugin"),
        ]
        for slot, so, needle in cases:
            with self.subTest(so):
                path = os.path.join(broken, so)
                data_dir = os.path.join(self.node.dir, "broken-" + so)
                port = lmstest.free_port()
                cfg = self.base_config(data_dir).replace(
                    "127.0.0.1:%d" % self.node.port, "127.0.0.1:%d" % port)
                if slot == "storage":
                    cfg = cfg.replace("plugin: storage_sqlite", "plugin: %s" % path)
                else:
                    cfg = cfg.replace("plugin: auth_password", "plugin: %s" % path)
                cfgpath, p = self.check_config(cfg, "plugin-%s.yaml" % so)
                err = p.stderr.decode(errors="replace")
                self.assertEqualMsg(p.returncode, 2, "--check-config with %s (stderr %r)" % (so, err))
                self.assertIn(path, err, "the refusal names the file")
                self.assertIn(needle, err, "the refusal says why")
                self.assertEqualMsg(len(err.strip().splitlines()), 1, "one line: %r" % err)
                if "ABI" in needle:
                    self.assertRegex(err, r"ABI \d+\.\d+ .* ABI \d+\.\d+", "both versions named")
                try:
                    run = subprocess.run([lmstest.lmsd_path(), "--config", cfgpath], stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, timeout=30, stdin=subprocess.DEVNULL)
                except subprocess.TimeoutExpired:
                    self.fail("lmsd started with the broken plugin %s" % so)
                err = run.stderr.decode(errors="replace")
                self.assertNotEqual(run.returncode, 0, "lmsd must refuse to start with %s" % so)
                errors = [l for l in err.splitlines() if " ERROR " in l]
                self.assertEqualMsg(len(errors), 1, "one ERROR line for %s: %r" % (so, err))
                self.assertIn(path, errors[0], "the ERROR line names the file")
                self.assertIn(needle, errors[0], "the ERROR line says why")
        self.served("broken plugins")
        self.assertUnchanged("broken plugins")


if __name__ == "__main__":
    unittest.main()
