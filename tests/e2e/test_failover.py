# SPDX-License-Identifier: MIT
"""Honest outcomes across leader failures (issue 9), end to end: real lmsd
processes on loopback, the real CLIs, kill -9 of the leader.

Many CLIs write through a 3-node cluster (students asking and submitting,
an instructor grading, the admin importing users) while the leader is
killed with SIGKILL at random moments, six times, each time brought
back. Half of the CLIs run with a short client timeout (0.15 s), so that
kills leave writes without an answer; the other half with 6 s, long
enough to ride out the election. Each CLI call ends one of three ways,
and the test holds each to what it claims:

- exit 0: the write is stored exactly once, with the id it printed (a
  submission with the attempt number it printed);
- exit 3 and "nothing was stored" (UNAVAILABLE): it is not stored;
- exit 3 and "outcome unknown" (UNKNOWN): the same command is run again
  from the same --home, as the message tells a user to, until it ends one
  of the two ways above; then that rerun's claim holds for the write. A
  rerun of a write that was stored answers from the cluster's record: the
  same query id, the same submission id and attempt, an import's report
  that says "created" for its users (not "already exists").

No other exit is expected (nothing here is refused). Then: attempts used
equal submissions stored (1..n per student), every grade is the last one
acknowledged, and every node holds the same data.
"""

import os
import random
import shutil
import threading
import time
import unittest

import lmstest
from lmstest import ClusterTestCase, World, db_rows, sha256_hex, wait_until

ROUNDS = 6
SHORT, LONG = "0.15", "6"
RERUN_FOR = 40.0  # seconds a worker keeps rerunning an unknown outcome


class Op:
    """One intended write and every run of its command."""

    def __init__(self, kind, worker, marker, argv, extra=None):
        self.kind, self.worker, self.marker, self.argv = kind, worker, marker, argv
        self.extra = extra or {}
        self.runs = []  # (rc, status, json document or None, stderr)

    @property
    def final(self):
        return self.runs[-1] if self.runs else None

    def outcome(self):
        """'acked', 'not_stored' or 'unknown' by the last run's claim."""
        rc, status, doc, err = self.final
        if self.kind == "import" and rc in (0, 1) and isinstance(doc, dict) and "results" in doc:
            return "acked"  # a report: exit 1 only says some row was refused
        if rc == 0:
            return "acked"
        if rc == 3 and status == "UNAVAILABLE" and "nothing was stored" in err:
            return "not_stored"
        if rc == 3 and status == "UNKNOWN" and "outcome unknown" in err:
            return "unknown"
        return "other"


class Workload:
    def __init__(self, tc, world, assignment, graded):
        self.tc, self.w, self.assignment, self.graded = tc, world, assignment, graded
        self.ops, self.lock, self.stop = [], threading.Lock(), threading.Event()
        self.files = os.path.join(tc.cluster.dir, "files")
        os.makedirs(self.files, exist_ok=True)
        self.threads = []

    def start(self):
        specs = []
        for i, (kind, prog, user) in enumerate([
                ("ask", "lms-student", "stud1"), ("ask", "lms-student", "stud2"),
                ("submit", "lms-student", "stud1"), ("submit", "lms-student", "stud2"),
                ("grade", "lms-instructor", "teach1"), ("import", "lms-admin", lmstest.ADMIN),
                ("ask", "lms-student", "stud1"), ("submit", "lms-student", "stud2")]):
            timeout = SHORT if i % 2 == 0 else LONG
            if prog == "lms-admin":
                cli = self.tc.cluster.cli("lms-admin")
                self.tc.ok(cli.login(lmstest.ADMIN, lmstest.ADMIN_PW), "admin login")
            else:
                cli = self.w.login(prog, user)  # a --home of its own
            specs.append((kind, "w%d" % i, cli, timeout))
        for kind, name, cli, timeout in specs:
            t = threading.Thread(target=self.loop, args=(kind, name, cli, timeout), daemon=True)
            t.start()
            self.threads.append(t)

    def make(self, kind, name, n):
        marker = "fo-%s-%s-%d" % (name, kind, n)
        if kind == "ask":
            return Op(kind, name, marker, ["ask", "--course", "CS101", "--instructor",
                                           "--title", marker, marker])
        if kind == "submit":
            path = os.path.join(self.files, marker + ".txt")
            data = (marker + "\n").encode()
            with open(path, "wb") as f:
                f.write(data)
            return Op(kind, name, marker, ["submit", str(self.assignment), path],
                      {"sha": sha256_hex(data), "path": path})
        if kind == "grade":
            sub = self.graded[name]
            value = 1 + n % 99  # within the assignment's 100 points
            return Op(kind, name, marker, ["grade", str(sub), "--grade", str(value),
                                           "--feedback", marker], {"sub": sub, "value": value})
        # import: two new users and one row the leader refuses before proposing
        path = os.path.join(self.files, marker + ".csv")
        users = [marker + "-a", marker + "-b"]
        with open(path, "w") as f:
            f.write("name,role,full_name,password\n")
            f.write("%s,student,A,password-123\n" % users[0])
            f.write("%s-bad,wizard,Bad,password-123\n" % marker)
            f.write("%s,student,B,password-123\n" % users[1])
        return Op(kind, name, marker, ["import-users", path], {"users": users})

    def loop(self, kind, name, cli, timeout):
        env = {"LMS_CLIENT_TIMEOUT": timeout}
        n = 0
        while not self.stop.is_set():
            n += 1
            op = self.make(kind, name, n)
            deadline = None
            while True:
                r = cli.run(*op.argv, json=True, env=env, timeout=120)
                op.runs.append((r.rc, r.status, r.json, r.err.strip()))
                if op.outcome() != "unknown":
                    break
                # what the message tells a user: run the same command again
                deadline = deadline or time.monotonic() + RERUN_FOR
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            with self.lock:
                self.ops.append(op)
            if op.outcome() != "acked":
                time.sleep(0.05)  # no leader: do not spin

    def count(self):
        with self.lock:
            return len(self.ops)

    def acked_since(self, i):
        with self.lock:
            return sum(1 for op in self.ops[i:] if op.outcome() == "acked")

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(180)


class TestFailover(ClusterTestCase):
    def setUp(self):
        super().setUp()
        c = self.cluster
        self.w = World(c)
        self.A = self.w.create_assignment(title="Failover HW")["id"]
        # the instructor's grading target: one submission of stud3? (MA201) no:
        # a CS101 submission of stud1 made before the load
        path = os.path.join(c.dir, "graded.txt")
        with open(path, "w") as f:
            f.write("to be graded\n")
        sub = self.ok(self.w["stud1"].run("submit", str(self.A), path, json=True), "submit")
        self.graded = {"w4": sub["id"]}

    def test_kill_the_leader_while_everyone_writes(self):
        c = self.cluster
        seed = self.seed
        rng = random.Random(seed)
        load = Workload(self, self.w, self.A, self.graded)
        load.start()
        kills = 0
        try:
            for rnd in range(ROUNDS):
                before = load.count()
                wait_until(lambda: load.count() >= before + 10, timeout=60,
                           what="writes before kill %d" % (rnd + 1))
                time.sleep(rng.uniform(0.0, 0.3))
                leader = c.leader()
                leader.kill9()
                kills += 1
                mark = load.count()
                wait_until(lambda: load.acked_since(mark) >= 5, timeout=60,
                           what="writes acknowledged after kill %d" % (rnd + 1))
                leader.start()
            before = load.count()
            wait_until(lambda: load.count() >= before + 10, timeout=60, what="writes at the end")
        finally:
            load.finish()
        c.wait_caught_up(timeout=60)
        self.check(load, kills, seed)

    # ---- the checks --------------------------------------------------------

    def check(self, load, kills, seed):
        ops = load.ops
        other = [(op.marker, op.runs) for op in ops if op.outcome() == "other"]
        self.assertFalse(other, "CLI calls that ended neither acknowledged, nor 'nothing was "
                         "stored', nor 'outcome unknown': %r" % other[:5])
        unresolved = [op for op in ops if op.outcome() == "unknown"]
        reruns = [op for op in ops if len(op.runs) > 1]
        nodes = self.cluster.nodes
        for nd in nodes:
            self.check_node(nd, ops)
        self.assertSameData(nodes)
        counts = {}
        for op in ops:
            counts[op.outcome()] = counts.get(op.outcome(), 0) + 1
        print("\n  failover (LMS_E2E_SEED=%d): %d kills, %d writes: %s; %d ended 'outcome "
              "unknown' and were run again (%d runs), %d still unknown after %.0f s"
              % (seed, kills, len(ops), counts, len(reruns), sum(len(o.runs) for o in reruns),
                 len(unresolved), RERUN_FOR))
        self.assertGreater(counts.get("acked", 0), 40, "enough acknowledged writes")
        self.assertFalse(unresolved, "writes still of unknown outcome after %.0f s of reruns: %r"
                         % (RERUN_FOR, [(o.marker, o.runs[-1]) for o in unresolved[:3]]))

    def check_node(self, nd, ops):
        where = "node %d" % nd.node_id
        queries = {}
        for body, qid in db_rows(nd, "SELECT body, id FROM queries"):
            queries.setdefault(body, []).append(qid)
        subs = {}
        for sid, student, attempt, sha in db_rows(
                nd, "SELECT id, student, attempt, hex(sha256) FROM submissions "
                    "WHERE assignment_id = %d" % self.A):
            subs.setdefault(sha.lower(), []).append((sid, student, attempt))
        users = {name for (name,) in db_rows(nd, "SELECT name FROM users")}
        grades = dict(db_rows(nd, "SELECT submission_id, grade FROM grades"))
        last_grade = {}
        for op in ops:
            outcome = op.outcome()
            rc, status, doc, err = op.final
            what = "%s: %s %s (runs %r)" % (where, op.kind, op.marker,
                                             [(r[0], r[1]) for r in op.runs])
            if op.kind == "ask":
                found = queries.get(op.marker, [])
                if outcome == "acked":
                    self.assertEqual(found, [doc["id"]], what + ": stored once with its id")
                else:
                    self.assertEqual(found, [], what + ": not stored, as it said")
            elif op.kind == "submit":
                found = subs.get(op.extra["sha"], [])
                if outcome == "acked":
                    self.assertEqual(found, [(doc["id"], doc["student"], doc["attempt"])],
                                     what + ": stored once with its id and attempt")
                else:
                    self.assertEqual(found, [], what + ": not stored, as it said")
            elif op.kind == "grade":
                if outcome == "acked":
                    last_grade[op.extra["sub"]] = op.extra["value"]
            else:  # import
                names = op.extra["users"]
                if outcome == "acked":
                    rows = {r["name"]: r["status"] for r in doc["results"]}
                    for name in names:
                        self.assertEqual(rows.get(name), "OK",
                                         what + ": the report says %s was created" % name)
                        self.assertIn(name, users, what)
                    self.assertEqual(rows.get(op.marker + "-bad"), "INVALID_ARGUMENT",
                                     what + ": the refused row is in the report too")
                    self.assertEqual(doc.get("created"), 2, what + ": created count")
                else:
                    for name in names:
                        self.assertNotIn(name, users, what + ": not stored, as it said")
        for sub, value in last_grade.items():
            self.assertEqual(grades.get(sub), float(value),
                             "%s: the grade of submission %d is the last one acknowledged"
                             % (where, sub))
        per_student = {}
        for rows in subs.values():
            self.assertEqual(len(rows), 1, "%s: one file stored twice: %r" % (where, rows))
            for sid, student, attempt in rows:
                per_student.setdefault(student, []).append(attempt)
        for student, attempts in per_student.items():
            self.assertEqual(sorted(attempts), list(range(1, len(attempts) + 1)),
                             "%s: attempts of %s are 1..n (attempts used = submissions "
                             "stored)" % (where, student))
        for body, ids in queries.items():
            self.assertEqual(len(ids), 1, "%s: question %r stored %d times" % (where, body, len(ids)))


class TestRerunAfterUnknown(lmstest.E2ETestCase):
    """The rerun rule, made deterministic on one node: the node's command
    log stalls its fsync (the fault hook), so a write is proposed and not
    yet committed when the CLI's deadline passes: exit 3, "outcome unknown",
    and a pending record in --home. The stall ends and the write commits.
    Running the same command again answers from the cluster's record: the
    same query id; the same submission id and attempt (the one attempt
    allowed, which the leader's early check would call used up);
    an import's whole report ("created", and the row refused before
    proposing), not "already exists". A different command clears the
    record. Without the record (removed by hand) a rerun is a new write:
    the record is what makes a rerun safe."""

    STALL_MS = 2500
    ENV = {"LMS_CLIENT_TIMEOUT": "0.7"}

    def setUp(self):
        self.node = lmstest.started_node(name="rerun")
        self.addCleanup(self.node.cleanup)
        self.w = World(self.node)
        self.A = self.w.create_assignment(title="Rerun HW", extra=("--max-attempts", "1"))["id"]

    def pending(self, cli):
        return os.path.join(cli.home, "pending")

    def unknown_then_rerun(self, cli, *argv):
        """Run argv with the log stalled: it must end "outcome unknown".
        Then the stall ends, the write commits, and the same command runs
        again; returns (first result, rerun result)."""
        self.node.stall_fsync(self.STALL_MS)
        try:
            first = cli.run(*argv, json=True, env=self.ENV, timeout=60)
        finally:
            self.node.stall_fsync(0)
        self.assertRc(first, 3, "a write whose log write stalls past the deadline")
        self.assertEqual(first.status, "UNKNOWN", "%r" % first)
        self.assertIn("outcome unknown", first.err)
        self.assertIn("Run the same command again", first.err)
        self.assertTrue(os.path.exists(self.pending(cli)), "the pending record is kept")
        time.sleep(self.STALL_MS / 1000.0)  # the stalled fsync ends; the entry commits
        again = cli.run(*argv, json=True, timeout=60)
        self.assertFalse(os.path.exists(self.pending(cli)), "a definite answer clears it")
        return first, again

    def test_ask_submit_import_reruns_get_the_first_answer(self):
        stud = self.w["stud1"]
        _, again = self.unknown_then_rerun(stud, "ask", "--course", "CS101", "--instructor",
                                           "rerun-question")
        doc = self.ok(again, "rerun of ask")
        rows = db_rows(self.node, "SELECT id FROM queries WHERE body = 'rerun-question'")
        self.assertEqual(rows, [(doc["id"],)], "stored once, and the rerun names it")

        path = os.path.join(self.node.dir, "rerun.txt")
        with open(path, "w") as f:
            f.write("rerun submission\n")
        _, again = self.unknown_then_rerun(stud, "submit", str(self.A), path)
        doc = self.ok(again, "rerun of submit")
        rows = db_rows(self.node, "SELECT id, attempt FROM submissions WHERE assignment_id = %d"
                       % self.A)
        self.assertEqual(rows, [(doc["id"], 1)], "one submission, attempt 1")
        self.assertEqual(doc["attempt"], 1)

        admin = self.w.admin
        csv = os.path.join(self.node.dir, "rerun.csv")
        with open(csv, "w") as f:
            f.write("name,role,full_name,password\n"
                    "rr1,student,R One,password-123\n"
                    "rr2,wizard,Bad Role,password-123\n"
                    "rr3,student,R Three,password-123\n")
        _, again = self.unknown_then_rerun(admin, "import-users", csv)
        self.assertRc(again, 1, "an import with a refused row")
        report = {r["name"]: r["status"] for r in again.json["results"]}
        self.assertEqual(report, {"rr1": "OK", "rr2": "INVALID_ARGUMENT", "rr3": "OK"},
                         "the rerun's report is the first answer, whole")
        self.assertEqual(again.json["created"], 2)

    def test_a_different_command_clears_it_and_the_record_is_what_makes_reruns_safe(self):
        stud = self.w["stud2"]
        argv = ("ask", "--course", "CS101", "--instructor", "cleared-question")
        self.node.stall_fsync(self.STALL_MS)
        try:
            first = stud.run(*argv, json=True, env=self.ENV, timeout=60)
        finally:
            self.node.stall_fsync(0)
        self.assertEqual((first.rc, first.status), (3, "UNKNOWN"), "%r" % first)
        time.sleep(self.STALL_MS / 1000.0)
        self.ok(stud.run("ask", "--course", "CS101", "--instructor", "another", json=True))
        self.assertFalse(os.path.exists(self.pending(stud)), "a different write replaced it")
        # the record is gone: the same command is now a new write
        self.ok(stud.run(*argv, json=True))
        rows = db_rows(self.node, "SELECT id FROM queries WHERE body = 'cleared-question'")
        self.assertEqual(len(rows), 2, "without the record a rerun writes again: %r" % rows)

    def test_a_new_session_keeps_the_rerun_safe(self):
        """Between the unknown outcome and the rerun the user's session
        ends: the rerun with the old token is turned away (exit 4) and says
        the outcome is still unknown, the record stays; logout and login
        leave it too; the rerun under the new token gets the first answer."""
        stud = self.w["stud1"]
        argv = ("ask", "--course", "CS101", "--instructor", "session-question")
        self.node.stall_fsync(self.STALL_MS)
        try:
            first = stud.run(*argv, json=True, env=self.ENV, timeout=60)
        finally:
            self.node.stall_fsync(0)
        self.assertEqual((first.rc, first.status), (3, "UNKNOWN"), "%r" % first)
        time.sleep(self.STALL_MS / 1000.0)
        session = os.path.join(stud.home, "session")
        with open(session, "rb") as f:
            old = f.read()
        self.ok(stud.run("logout"), "logout")
        with open(session, "wb") as f:  # the revoked token, as after an expiry
            f.write(old)
        r = stud.run(*argv, json=True)
        self.assertRc(r, 4, "a rerun with a revoked token")
        self.assertIn("still unknown", r.err)
        self.assertTrue(os.path.exists(self.pending(stud)), "the record survives the refusal")
        self.ok(stud.run("logout"), "logout again")
        self.ok(stud.login("stud1", World.PW), "login")
        self.assertTrue(os.path.exists(self.pending(stud)), "logout and login leave it")
        doc = self.ok(stud.run(*argv, json=True), "rerun under the new session")
        rows = db_rows(self.node, "SELECT id FROM queries WHERE body = 'session-question'")
        self.assertEqual(rows, [(doc["id"],)], "stored once, and the rerun names it")


class TestRerunEdges(lmstest.E2ETestCase):
    """Adversarial corners of the rerun rule, on one node with the stalled
    command log of TestRerunAfterUnknown: a read must not clear the record
    that makes a rerun safe; a logout's record must not answer a later
    logout of another session; a rerun refused because the session expired
    keeps the record for the rerun after the next login; a refusal decided
    while an earlier copy of the same write is still in the log is not a
    verdict on that copy."""

    STALL_MS = 2500
    ENV = {"LMS_CLIENT_TIMEOUT": "0.7"}

    def setUp(self):
        self.node = lmstest.started_node(name="edges", ttl="9s")
        self.addCleanup(self.node.cleanup)
        self.w = World(self.node)

    def pending(self, cli):
        return os.path.join(cli.home, "pending")

    def unknown(self, cli, *argv, kept=True):
        self.node.stall_fsync(self.STALL_MS)
        try:
            first = cli.run(*argv, json=True, env=self.ENV, timeout=60)
        finally:
            self.node.stall_fsync(0)
        self.assertEqual((first.rc, first.status), (3, "UNKNOWN"), "%r" % first)
        self.assertEqual(os.path.exists(self.pending(cli)), kept, "%r" % first)
        return first

    def test_a_tutor_settings_view_keeps_the_record(self):
        stud = self.w.login("lms-student", "stud1")
        argv = ("ask", "--course", "CS101", "--instructor", "view-question")
        self.unknown(stud, *argv)
        time.sleep(self.STALL_MS / 1000.0)
        self.ok(stud.run("tutor-settings", "--course", "CS101", json=True), "a view")
        self.assertTrue(os.path.exists(self.pending(stud)), "a read leaves the record alone")
        doc = self.ok(stud.run(*argv, json=True), "rerun")
        rows = db_rows(self.node, "SELECT id FROM queries WHERE body = 'view-question'")
        self.assertEqual(rows, [(doc["id"],)], "stored once")

    def test_a_later_logout_ends_its_own_session(self):
        stud = self.w.login("lms-student", "stud2")
        self.unknown(stud, "logout", kept=False)  # a logout keeps no record
        time.sleep(self.STALL_MS / 1000.0)
        self.ok(stud.login("stud2", World.PW), "login again")
        copy = self.node.cli("lms-student")
        shutil.copy(os.path.join(stud.home, "session"), os.path.join(copy.home, "session"))
        self.ok(copy.run("whoami", json=True), "the new session works")
        self.ok(stud.run("logout", json=True), "logout of the new session")
        res = copy.run("whoami", json=True)
        self.assertRc(res, 4, "the new session is ended on the server")

    def test_a_rerun_refused_for_an_expired_session_keeps_the_record(self):
        t0 = time.time()
        stud = self.w.login("lms-student", "stud1")
        argv = ("ask", "--course", "CS101", "--instructor", "expired-question")
        self.unknown(stud, *argv)
        time.sleep(max(0.0, t0 + 10.0 - time.time()))  # the session (ttl 9s) expires
        res = stud.run(*argv, json=True)
        self.assertRc(res, 4, "the session expired")
        self.assertTrue(os.path.exists(self.pending(stud)),
                        "the refusal says nothing of the first run: the record stays")
        self.ok(stud.login("stud1", World.PW), "login again")
        doc = self.ok(stud.run(*argv, json=True), "rerun after the login")
        rows = db_rows(self.node, "SELECT id FROM queries WHERE body = 'expired-question'")
        self.assertEqual(rows, [(doc["id"],)], "stored once, and the rerun names it")

    def test_a_refusal_while_the_first_copy_is_in_the_log(self):
        """The first attempt is proposed before the cut-off and stalls; the
        CLI's retry arrives after the cut-off. The leader's early check
        would refuse it ("the cut-off has passed") from a state without
        the first copy, which then commits: exit 1 for a stored write."""
        due = int(time.time()) + 3
        a = self.w.create_assignment(title="Cut", due=due,
                                     extra=("--cutoff", lmstest.iso(due)))["id"]
        path = os.path.join(self.node.dir, "cut.txt")
        with open(path, "w") as f:
            f.write("on time\n")
        stud = self.w["stud2"]
        while time.time() < due - 1.2:
            time.sleep(0.05)
        self.node.stall_fsync(4000)
        try:
            res = stud.run("submit", str(a), path, json=True,
                           env={"LMS_CLIENT_TIMEOUT": "3"}, timeout=60)
        finally:
            self.node.stall_fsync(0)
        time.sleep(4.5)
        rows = db_rows(self.node, "SELECT id FROM submissions WHERE assignment_id = %d" % a)
        if res.rc == 0:
            self.assertEqual(rows, [(res.json["id"],)], "%r" % res)
        elif rows:
            self.assertEqual((res.rc, res.status), (3, "UNKNOWN"),
                             "stored, so the CLI may not call it refused: %r" % res)


if __name__ == "__main__":
    unittest.main()
