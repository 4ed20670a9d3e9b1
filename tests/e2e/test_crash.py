# SPDX-License-Identifier: MIT
"""Crash and restart, end to end.

- SIGKILL at random moments while several clients (real CLI processes in
  threads) submit files and ask questions in a loop, recording which
  requests were acknowledged: after each restart every acknowledged write is
  present exactly once, with the id it was acknowledged with, and nothing is
  applied twice. Every call's claim holds: exit 3 "nothing was stored" is
  not stored; a call that ended "outcome unknown" is run again, as its
  message says, and that rerun's answer holds (the stored write's id, or
  nothing stored). No other failure. Three rounds on the same node.
- A write retried with the same (client_id, seq) over a raw connection
  across a SIGKILL restart is applied once, whether its first answer arrived
  or not.
- SIGTERM (and SIGINT) shut down cleanly with exit 0, also under load, and
  the node restarts with all its data; sessions survive restarts.
"""

import glob
import os
import random
import signal
import struct
import threading
import time
import unittest

import lmstest
from lmstest import E2ETestCase, World, sha256_hex

ROUNDS = 3
CLIENT_TIMEOUT = "8"  # seconds a CLI keeps retrying once it reached the node


class Load:
    """Threads running CLIs in a loop; each call is recorded as marker ->
    (kind, student, exit code, acknowledged id, stderr, query text or file sha)."""

    def __init__(self, tc, assignment, files):
        self.tc = tc
        self.assignment = assignment
        self.files = files
        self.stop = threading.Event()
        self.results = {}  # marker -> (kind, student, rc, id, err)
        self.lock = threading.Lock()
        self.threads = []

    def start(self, workers, tag):
        for kind, name, cli in workers:
            t = threading.Thread(target=self.loop, args=(kind, name, cli, tag), daemon=True)
            t.start()
            self.threads.append(t)

    def loop(self, kind, name, cli, tag):
        n = 0
        env = {"LMS_CLIENT_TIMEOUT": CLIENT_TIMEOUT}
        while not self.stop.is_set():
            n += 1
            marker = "%s-%s-%s-%d" % (tag, kind, name, n)
            if kind == "ask":
                key = marker
                res_args = ("ask", "--course", "CS101", "--instructor", marker)
                res = cli.run(*res_args, json=True, env=env, timeout=60)
            else:
                data = marker.encode()
                if kind == "big":  # large enough for a kill to land mid-write
                    data += os.urandom(random.randint(100 << 10, 1536 << 10))
                key = sha256_hex(data)
                path = os.path.join(self.files, "%s.bin" % marker)
                with open(path, "wb") as f:
                    f.write(data)
                res_args = ("submit", self.assignment, path)
                res = cli.run(*res_args, json=True, env=env, timeout=60)
            # an unknown outcome: run the same command again, as the
            # message says, until the node answers (it restarts)
            deadline = time.monotonic() + 60
            reruns = 0
            while (res.rc == 3 and res.status == "UNKNOWN" and time.monotonic() < deadline
                   and not (self.stop.is_set() and reruns > 200)):
                time.sleep(0.1)
                reruns += 1
                res = cli.run(*res_args, json=True, env=env, timeout=60)
            if kind != "ask":
                os.unlink(path)
            rid = res.json.get("id") if res.rc == 0 and isinstance(res.json, dict) else None
            with self.lock:
                self.results[marker] = (kind, name, res.rc, rid, res.err.strip(), key,
                                        res.status, reruns)
            if res.rc != 0:
                time.sleep(0.05)  # the node is down: do not spin

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(120)
        self.threads = []


class CrashTest(E2ETestCase):
    def setUp(self):
        self.node = lmstest.started_node(name="crash")
        self.addCleanup(self.node.cleanup)
        self.w = World(self.node)
        self.files = os.path.join(self.node.dir, "files")
        os.makedirs(self.files)
        self.A = self.w.create_assignment(title="Crash HW")["id"]

    # ---- helpers ----------------------------------------------------------

    def stored(self):
        """What the node holds now: queries (text -> [ids]) and submissions
        (content sha -> [(id, student, attempt)]), listed by the instructor."""
        t = self.w["teach1"]
        doc = self.ok(t.run("queries", "--course", "CS101", "--all", json=True), "list queries")
        queries = {}
        for q in doc["queries"]:
            queries.setdefault(q["text"], []).append(q["id"])
        doc = self.ok(t.run("submissions", "--assignment", self.A, json=True), "list submissions")
        subs = {}
        for s in doc["submissions"]:
            subs.setdefault(s["sha256"], []).append((s["id"], s["student"], s["attempt"]))
        return queries, subs

    def check_load(self, load, what):
        queries, subs = self.stored()
        # Every call ends acknowledged (exit 0) or "nothing was stored"
        # (exit 3, UNAVAILABLE); an unknown outcome was run again until it
        # was one of the two.
        unexpected = {m: r for m, r in load.results.items()
                      if r[2] != 0 and not (r[2] == 3 and r[6] == "UNAVAILABLE"
                                            and "nothing was stored" in r[4])}
        self.assertFalse(unexpected, "%s: CLI calls that ended neither acknowledged nor 'nothing "
                         "was stored': %r" % (what, unexpected))
        acked = unacked = 0
        for marker, (kind, name, rc, rid, err, key, status, reruns) in sorted(
                load.results.items()):
            if kind == "ask":
                found = queries.get(key, [])
            else:
                found = [x[0] for x in subs.get(key, [])]
            if rc == 0:
                acked += 1
                self.assertEqual(found, [rid], "%s: acknowledged %s %s (id %s) must be stored exactly "
                                 "once with that id; found ids %r" % (what, kind, marker, rid, found))
            else:
                unacked += 1
                self.assertEqual(found, [], "%s: %s %s said nothing was stored (after %d reruns), "
                                 "but it is: %r" % (what, kind, marker, reruns, found))
        for text, ids in queries.items():
            self.assertEqual(len(ids), 1, "%s: query %r stored %d times: %r" % (what, text, len(ids), ids))
        per_student = {}
        for sha, rows in subs.items():
            self.assertEqual(len(rows), 1, "%s: file %s stored %d times: %r" % (what, sha, len(rows), rows))
            for sid, student, attempt in rows:
                per_student.setdefault(student, []).append(attempt)
        for student, attempts in per_student.items():
            self.assertEqual(sorted(attempts), list(range(1, len(attempts) + 1)),
                             "%s: attempts of %s must be 1..n without gaps or repeats" % (what, student))
        return acked, unacked

    def workers(self):
        out = []
        for name, kind in (("stud1", "ask"), ("stud2", "submit"), ("stud1", "big"), ("stud2", "ask")):
            c = lmstest.Cli(self.node, "lms-student", home=self.w[name].home)
            out.append((kind, name, c))
        return out

    # ---- SIGKILL ------------------------------------------------------------

    def test_sigkill_under_load_keeps_every_acknowledged_write(self):
        seed = int(os.environ.get("LMS_E2E_SEED") or time.time_ns() % 1000000007)
        rng = random.Random(seed)
        load = Load(self, self.A, self.files)
        load.start(self.workers(), "load")
        total_acked = 0
        try:
            for rnd in range(1, ROUNDS + 1):
                # let writes flow, then kill at a random moment
                before = len(load.results)
                lmstest.wait_until(lambda: len(load.results) >= before + 8, timeout=60,
                                   what="writes before kill %d" % rnd)
                time.sleep(rng.uniform(0.0, 0.4))
                self.node.kill9()
                time.sleep(rng.uniform(0.0, 0.5))
                self.node.start()
                # the clients carry on against the restarted node
                after = len(load.results)
                lmstest.wait_until(lambda: len(load.results) >= after + 8, timeout=60,
                                   what="writes after restart %d" % rnd)
        finally:
            load.finish()
        acked, unacked = self.check_load(load, "after %d SIGKILL rounds (LMS_E2E_SEED=%d)" % (ROUNDS, seed))
        self.assertGreater(acked, 20, "enough acknowledged writes to mean something (got %d)" % acked)
        # and once more after a clean restart
        self.node.restart()
        self.check_load(load, "after a final clean restart")
        print("\n  sigkill load (LMS_E2E_SEED=%d): %d writes acknowledged, %d not" % (seed, acked, unacked))

    def test_raw_retry_with_same_seq_applied_once(self):
        cid = random.getrandbits(62) | 1
        tok = None
        with self.node.raw() as c:
            tok = c.login("stud1", World.PW)
            # 1. acknowledged, then the node dies; the retry gets the same answer
            req = {"token": tok, "client_id": cid, "seq": 1,
                   "ask": {"course": "CS101", "title": "retry", "text": "raw-retry-acked"}}
            r1 = self.assertStatus(c.call(req), "OK", "first send")
            qid = r1["query"]["id"]
        self.node.kill9()
        self.node.start()
        with self.node.raw() as c:
            r2 = self.assertStatus(c.call(req), "OK", "the same (client_id, seq) after SIGKILL")
            self.assertEqualMsg(r2["query"]["id"], qid, "the retry is answered with the first id")
            r3 = self.assertStatus(c.call(req), "OK", "and again")
            self.assertEqualMsg(r3["query"]["id"], qid, "the second retry too")
            # a new seq is a new write; an older seq is refused as stale
            req2 = dict(req, seq=2, ask={"course": "CS101", "text": "raw-retry-second"})
            r4 = self.assertStatus(c.call(req2), "OK", "seq 2")
            self.assertNotEqual(r4["query"]["id"], qid, "seq 2 is a new query")
            r5 = c.call(dict(req, ask={"course": "CS101", "text": "raw-retry-stale"}))
            self.assertStatus(r5, "FAILED_PRECONDITION", "seq 1 after seq 2 (stale)")

        # 2. not acknowledged: sent, and the node killed before any answer
        cid2 = cid + 2
        req = {"token": tok, "client_id": cid2, "seq": 7,
               "ask": {"course": "CS101", "text": "raw-retry-unacked"}}
        c = self.node.raw()
        c.send(req)
        self.node.kill9()
        c.close()
        self.node.start()
        with self.node.raw() as c:
            r = self.assertStatus(c.call(req), "OK", "retry of an unacknowledged write")
        # 3. a submission (file bytes travel in the command) likewise
        data = b"\x00retry\x00" * 1000
        sreq = {"token": tok, "client_id": cid + 4, "seq": 1,
                "submit": {"assignment_id": self.A, "file_name": "retry.bin", "data": data}}
        with self.node.raw() as c:
            s1 = self.assertStatus(c.call(sreq), "OK", "submit")["submission"]
        self.node.kill9()
        self.node.start()
        with self.node.raw() as c:
            s2 = self.assertStatus(c.call(sreq), "OK", "submit retried after SIGKILL")["submission"]
        self.assertEqualMsg((s2["id"], s2["attempt"]), (s1["id"], 1), "retried submit (id, attempt)")

        queries, subs = self.stored()
        for text, n in (("raw-retry-acked", 1), ("raw-retry-second", 1), ("raw-retry-stale", 0),
                        ("raw-retry-unacked", 1)):
            self.assertEqualMsg(len(queries.get(text, [])), n, "queries with text %r" % text)
        self.assertEqualMsg(queries["raw-retry-acked"], [qid], "the acknowledged query's id")
        self.assertEqualMsg(len(subs.get(sha256_hex(data), [])), 1, "submissions of the retried file")

    # ---- SIGTERM / SIGINT ---------------------------------------------------

    def snapshot(self, tokens):
        out = {}
        with self.node.raw() as c:
            for who, tok in tokens.items():
                for req in ({"whoami": {}}, {"list_courses": {}}, {"list_assignments": {}},
                            {"list_materials": {}}, {"list_queries": {"all": True}},
                            {"list_grades": {"course": "CS101"} if who == "teach1" else {}},
                            {"list_submissions": {"assignment_id": self.A}}):
                    if who == "root" and ("list_submissions" in req or "list_queries" in req
                                          or "list_grades" in req):
                        continue
                    r = c.call(dict(req, token=tok))
                    self.assertStatus(r, "OK", "%s %s" % (who, list(req)[0]))
                    out[(who, list(req)[0])] = {k: v for k, v in r.items() if k != "id"}
            r = c.call({"token": tokens["root"], "list_users": {}})
            out["users"] = r["users"]
        return out

    def test_sigterm_clean_shutdown_and_restart(self):
        t, s = self.w["teach1"], self.w["stud1"]
        p = os.path.join(self.files, "a.bin")
        with open(p, "wb") as f:
            f.write(b"\x00\x01data")
        sub = self.ok(s.run("submit", self.A, p, json=True))
        self.ok(t.run("grade", sub["id"], "--grade", "70", "--feedback", "ok"))
        self.ok(t.run("upload", "--course", "CS101", "--title", "M", p))
        q = self.ok(s.run("ask", "--course", "CS101", "--instructor", "before restart", json=True))
        self.ok(t.run("reply", q["id"], "answer"))
        tokens = {}
        with self.node.raw() as c:
            for name, pw in (("root", lmstest.ADMIN_PW), ("teach1", World.PW), ("stud1", World.PW)):
                tokens[name] = c.login(name, pw)
        before = self.snapshot(tokens)

        rc = self.node.stop()  # asserts exit 0
        self.assertEqualMsg(rc, 0, "lmsd exit status after SIGTERM")
        self.assertIn("received SIGTERM", self.node.log_text(), "lmsd logs the signal")
        self.node.start()
        self.assertEqual(self.snapshot(tokens), before, "state after a SIGTERM restart")
        # the CLIs' sessions survive too
        for name in ("teach1", "stud1"):
            doc = self.ok(self.w[name].run("whoami", json=True), "%s whoami after restart" % name)
            self.assertEqualMsg(doc["user"]["name"], name, "whoami after restart")
        self.ok(self.w.admin.run("users"), "admin session after restart")

        # SIGINT is a clean shutdown too
        self.node.proc.send_signal(signal.SIGINT)
        rc = self.node.proc.wait(30)
        self.assertEqualMsg(rc, 0, "lmsd exit status after SIGINT")
        self.node.start()
        self.assertEqual(self.snapshot(tokens), before, "state after a SIGINT restart")

        # SIGKILL: sessions and data survive as well
        self.node.kill9()
        self.node.start()
        self.assertEqual(self.snapshot(tokens), before, "state after a SIGKILL restart")

    def test_lone_node_refuses_a_log_that_lost_entries(self):
        """A node alone in its cluster whose command log was damaged before
        its tail (valid records after a bad one: entries it fsynced, and may
        have acknowledged, are gone) has no member to refill them from. It
        refuses to start, saying what to do, unless told to go on without
        them (--accept-log-loss). The storage is put back to an older copy
        first, as a power loss with synchronous=NORMAL may leave it, so the
        lost entries are not in the database either."""
        nd = self.node
        ask = lambda t: self.ok(self.w["stud1"].run("ask", "--course", "CS101",
                                                    "--instructor", "--title", t, t), t)
        for i in range(3):
            ask("early-%d" % i)
        nd.stop()
        dbs = glob.glob(os.path.join(nd.data_dir, "lms.db*"))
        saved = {}
        for p in dbs:
            with open(p, "rb") as f:
                saved[p] = f.read()
        nd.start()
        late = ["late-%d" % i for i in range(12)]
        for t in late:
            ask(t)
        nd.stop()
        for p in glob.glob(os.path.join(nd.data_dir, "lms.db*")):
            os.unlink(p)
        for p, data in saved.items():
            with open(p, "wb") as f:
                f.write(data)
        seg = sorted(glob.glob(os.path.join(nd.data_dir, "wal", "wal-*.log")))[-1]
        with open(seg, "rb") as f:
            data = f.read()
        recs, off = [], 0
        while off + 24 <= len(data):  # u32 length, u32 crc, u64 index, u64 term
            ln, = struct.unpack_from("<I", data, off)
            index, = struct.unpack_from("<Q", data, off + 8)
            recs.append((index, off, ln))
            off += 8 + ln
        index, off, ln = recs[-6]  # valid records follow it: damage, not a tail
        with open(seg, "r+b") as f:
            f.seek(off + 8 + ln - 1)
            b = f.read(1)
            f.seek(off + 8 + ln - 1)
            f.write(bytes([b[0] ^ 0x20]))
        with self.assertRaises(AssertionError, msg="lmsd started on a log that lost entries"):
            nd.start(timeout=10)
        log = nd.log_text()
        self.assertIn("corruption before the tail", log)
        self.assertIn("no other member to refill them from", log)
        self.assertIn("--accept-log-loss", log)

        nd.start(args=["--accept-log-loss"])
        self.assertIn("--accept-log-loss: starting from a command log that ends at %d"
                      % (index - 1), nd.log_text())
        doc = self.ok(self.w["teach1"].run("queries", "--course", "CS101", "--all",
                                           json=True), "list queries")
        got = {q["text"] for q in doc["queries"]}
        for i in range(3):
            self.assertIn("early-%d" % i, got)
        self.assertNotIn(late[-1], got, "an entry after the damage")
        self.assertTrue(any(t in got for t in late), "the entries before the damage")
        # accepted once is enough, even if the node dies at once (before
        # it wrote its hardstate for any other reason)
        nd.kill9()
        nd.start()
        ask("after")
        nd.stop()
        nd.start()
        self.ok(self.w["teach1"].run("queries", "--course", "CS101", "--all"), "serving")

    def test_sigterm_with_pipelined_writes_in_flight(self):
        """SIGTERM while raw connections keep 10 writes each in flight:
        exit 0 every time (no leak under ASan), and every write that was
        answered OK is stored once after the restart."""
        with self.node.raw() as c:
            tok = c.login("stud1", World.PW)
        acked = {}
        lock = threading.Lock()
        for rnd in range(3):
            stop = threading.Event()

            def hammer(k):
                n = 0
                while not stop.is_set():
                    try:
                        with self.node.raw(timeout=5) as c:
                            texts = {}
                            for _ in range(10):
                                n += 1
                                text = "term-%d-%d-%d" % (rnd, k, n)
                                texts[c.send({"token": tok, "ask": {"course": "CS101", "text": text}})] = text
                            for _ in range(10):
                                r = c.recv()
                                if r["status"] == "OK":
                                    with lock:
                                        acked[texts[r["id"]]] = r["query"]["id"]
                    except (OSError, lmstest.ConnectionClosed, ValueError):
                        time.sleep(0.01)
            threads = [threading.Thread(target=hammer, args=(k,), daemon=True) for k in range(3)]
            for t in threads:
                t.start()
            lmstest.wait_until(lambda: len(acked) >= 30 * (rnd + 1), timeout=60,
                               what="writes before SIGTERM %d" % (rnd + 1))
            try:
                self.node.stop()  # asserts exit 0
            finally:
                stop.set()
                for t in threads:
                    t.join(30)
            self.node.start()
        queries, _ = self.stored()
        for text, qid in sorted(acked.items()):
            self.assertEqual(queries.get(text), [qid], "write %r answered OK with id %d before SIGTERM "
                             "must be stored once with that id" % (text, qid))
        dupes = {t: ids for t, ids in queries.items() if len(ids) > 1}
        self.assertFalse(dupes, "queries stored twice: %r" % dupes)

    def test_sigterm_under_load(self):
        load = Load(self, self.A, self.files)
        load.start(self.workers(), "term")
        try:
            lmstest.wait_until(lambda: len(load.results) >= 10, timeout=60, what="writes before SIGTERM")
            self.node.stop()  # exit 0 with requests in flight
            time.sleep(0.2)
            self.node.start()
            n = len(load.results)
            lmstest.wait_until(lambda: len(load.results) >= n + 8, timeout=60, what="writes after restart")
        finally:
            load.finish()
        self.check_load(load, "after SIGTERM under load")


if __name__ == "__main__":
    unittest.main()
