# SPDX-License-Identifier: MIT
"""Helpers of the backup tests (test_backup.py, test_backup_mariadb.py):
a populated World, reading a backup file's stream, restoring one into a
new node."""

import hashlib
import os
import struct

from lmstest import ADMIN, ADMIN_PW, Node


def populate(tc, w, files_dir, big=()):
    """Assignments, submissions (binary files), grades, a question with a
    reply, materials; big: sizes of extra random materials. Returns
    {"submissions": {id: bytes}, "materials": {id: bytes}}."""
    os.makedirs(files_dir, exist_ok=True)

    def write(name, data):
        p = os.path.join(files_dir, name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    out = {"submissions": {}, "materials": {}}
    a1 = w.create_assignment(title="HW1")["id"]
    a2 = w.create_assignment(teacher="teach2", course="MA201", title="Proofs")["id"]
    for i, (stud, a) in enumerate([("stud1", a1), ("stud2", a1), ("stud1", a1),
                                   ("stud3", a2)]):
        data = os.urandom(1000 + 70000 * i) + b"\x00end"
        s = tc.ok(w[stud].run("submit", a, write("sub%d.bin" % i, data), json=True),
                  "submit %d" % i)
        out["submissions"][s["id"]] = data
    subs = sorted(out["submissions"])
    tc.ok(w["teach1"].run("grade", subs[0], "--grade", "87.5", "--feedback", "good"), "grade")
    tc.ok(w["teach2"].run("grade", subs[3], "--grade", "40"), "grade 2")
    q = tc.ok(w["stud2"].run("ask", "--course", "CS101", "--instructor", "--title", "Q1",
                             "what is a pointer?", json=True), "ask")
    tc.ok(w["teach1"].run("reply", q["id"], "an address"), "reply")
    for i, size in enumerate((0, 3 * 65536, 65537) + tuple(big)):
        data = os.urandom(size)
        m = tc.ok(w["teach1"].run("upload", "--course", "CS101", "--title", "M%d" % i,
                                  write("mat%d.bin" % i, data), json=True), "upload %d" % i)
        out["materials"][m["id"]] = data
    return out


def records(path):
    """(header record bytes, the records between header and trailer as
    bytes, trailer record bytes) of the snapshot stream in path, its framing
    checked."""
    with open(path, "rb") as f:
        data = f.read()
    pos, spans = 0, []
    while pos < len(data):
        assert pos + 4 <= len(data), "%s: a length cut short at %d" % (path, pos)
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        assert n > 0 and pos + 4 + n <= len(data), "%s: a record cut short at %d" % (path, pos)
        spans.append((pos, pos + 4 + n))
        pos += 4 + n
    assert len(spans) >= 2, "%s: no header and trailer" % path
    return (data[spans[0][0]:spans[0][1]], data[spans[0][1]:spans[-1][0]],
            data[spans[-1][0]:])


def restore(node, path):
    """lmsd --config NODE --restore PATH (CompletedProcess)."""
    return node.run_lmsd("--config", node.config_path, "--restore", path)


def backup(tc, cli, path, what="backup"):
    """lms-admin backup PATH --json, checked against the file written."""
    res = tc.ok(cli.run("backup", path, json=True), what)
    with open(path, "rb") as f:
        body = f.read()
    tc.assertEqual(res["path"], path, "%s: path" % what)
    tc.assertEqual(res["size"], len(body), "%s: size against the file" % what)
    tc.assertEqual(len(res["sha256"]), 64, "%s: a SHA-256 in hex" % what)
    tc.assertFalse(os.path.exists(path + ".tmp"), "%s: no temp file left" % what)
    tc.assertEqual(os.stat(path).st_mode & 0o777, 0o600, "%s: the file is private" % what)
    return res


def new_node(name, **kw):
    return Node(name=name, **kw)


def sha(data):
    return hashlib.sha256(data).hexdigest()


__all__ = ["populate", "records", "restore", "backup", "new_node", "sha", "ADMIN",
           "ADMIN_PW"]
