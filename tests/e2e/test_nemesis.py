"""The nemesis run: a 3-node and a 5-node cluster (each behind a
faultproxy.FaultNet) under concurrent writes and reads from many CLI
clients while a nemesis applies at least 100 faults, one after another,
each undone before the next so that a majority always comes back:

  cut        one directed link cut (a -> b only)
  partition  a minority and the majority, cut both ways
  isolate    the leader cut off both ways
  kill       kill -9 of a node (half the time the leader), then restart
  pause      SIGSTOP of a node (half the time the leader), then SIGCONT
  delay      a node's outgoing links delayed 20-150 ms with jitter
  drop       30 % of the frames lost on a node's incoming links
  bandwidth  a node's outgoing links capped at 64 KiB/s
  reset      every connection of a node aborted with RST

The clients (threads running lms-student and lms-instructor against every
node's address) record each operation's call and return time
(time.monotonic) and result:

  ask    stud1/stud2 ask the instructor a question with a unique title
  grade  teach1 grades one of stud1's submissions with a unique value
         (grading again replaces the grade: a register per submission)
  read   stud1 lists his grades (--json): a read of every register

A client that exits with anything but success is an UNKNOWN outcome: the
write may or may not have happened; it is never assumed absent.

At the end everything is healed and, once every node has applied what the
leader committed: every acknowledged question is on every node exactly once
(unknown ones at most once), the nodes' databases hold the same questions,
grades and submissions, and the grade registers' history is linearizable
by lin-check (tests/sim/linearize.c, the simulator's checker). The fault
count by kind, the op count by kind and outcome and the check results are
printed and written to $LMS_E2E_OUT/nemesis-N.txt with the history
(nemesis-N.hist, which `lin-check FILE` replays).

LMS_E2E_SEED=S replays the nemesis's choices (the clients' timing is the
machine's); LMS_NEMESIS_FAULTS=N changes the fault count (at least 100 in
CI).

TestCheckers shows the checks can fail: lin-check refuses a stale read and
a lost write, and assertExactlyOnce refuses doctored databases.
"""

import collections
import itertools
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from lmstest import ClusterTestCase, E2ETestCase, World, db_rows, e2e_seed, iso, titles

FAULTS = int(os.environ.get("LMS_NEMESIS_FAULTS") or 100)
REGISTERS = 3          # stud1's submissions, each graded again and again
CLIENT_TIMEOUT = "5"   # seconds the CLI keeps trying (LMS_CLIENT_TIMEOUT)
OP_PAUSE = 0.02        # between one client's operations


def lincheck_path():
    p = os.environ.get("LMS_LINCHECK")
    if not p:
        raise unittest.SkipTest("LMS_LINCHECK is not set; run through ctest")
    return p


def run_lincheck(path):
    """(exit status, output) of lin-check on a history file."""
    p = subprocess.run([lincheck_path(), path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=300)
    return p.returncode, p.stdout.decode("utf-8", "replace").strip()


def write_history(path, ops):
    """ops: (key, call_us, ret_us or None, 'put'|'get', value)."""
    with open(path, "w") as f:
        f.write("# KEY CALL_US RETURN_US|unknown put|get VALUE (see tests/sim/lincheck_main.c)\n")
        for key, call, ret, kind, value in ops:
            f.write("%s %d %s %s %d\n" % (key, call, "unknown" if ret is None else ret,
                                         kind, value))


# ---------------------------------------------------------------------------
# the clients


class Recorder:
    """Every operation: kind, key, value, call and return (µs since t0),
    outcome ('ok' or 'unknown')."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.ops = []
        self.acked, self.unknown = [], []  # question titles

    def us(self, t):
        return int((t - self.t0) * 1e6)

    def add(self, kind, key, value, call, ret, ok):
        with self.lock:
            self.ops.append((kind, key, value, self.us(call), self.us(ret),
                             "ok" if ok else "unknown"))

    def counts(self):
        c = collections.Counter((k, o) for k, _, _, _, _, o in self.ops)
        return ", ".join("%s %d ok / %d unknown" % (k, c[(k, "ok")], c[(k, "unknown")])
                         for k in ("ask", "grade", "read"))

    def history(self):
        """The grade registers as lin-check ops: each read is a get of
        every register (absent from the list: still 0, ungraded)."""
        out = []
        for kind, key, value, call, ret, outcome in self.ops:
            if kind == "grade":
                out.append(("sub%d" % key, call, ret if outcome == "ok" else None, "put", value))
            elif kind == "read" and outcome == "ok":
                for sub, grade in value.items():
                    out.append(("sub%d" % sub, call, ret, "get", grade))
        return sorted(out, key=lambda o: o[1])


class Clients:
    def __init__(self, world, subs, rec, seed):
        self.w, self.subs, self.rec = world, subs, rec
        self.stop = threading.Event()
        self.values = itertools.count(1)
        self.vlock = threading.Lock()
        self.env = {"LMS_CLIENT_TIMEOUT": CLIENT_TIMEOUT}
        plan = [(self.asker, "stud1"), (self.asker, "stud2"), (self.asker, "stud2"),
                (self.grader, "teach1"), (self.grader, "teach1"),
                (self.reader, "stud1"), (self.reader, "stud1")]
        self.threads = [threading.Thread(target=self.loop, args=(fn, who, i, seed), daemon=True)
                        for i, (fn, who) in enumerate(plan)]

    def loop(self, fn, who, i, seed):
        rng = random.Random(seed * 100 + i)
        n = 0
        while not self.stop.is_set():
            n += 1
            fn(self.w[who], "%s-%d-%d" % (who, i, n), rng)
            self.stop.wait(OP_PAUSE)

    def asker(self, cli, tag, rng):
        title = "nem-" + tag
        t0 = time.monotonic()
        r = cli.run("ask", "--course", "CS101", "--instructor", "--title", title, title,
                    env=self.env, timeout=60)
        self.rec.add("ask", title, None, t0, time.monotonic(), r.rc == 0)
        with self.rec.lock:
            (self.rec.acked if r.rc == 0 else self.rec.unknown).append(title)

    def grader(self, cli, tag, rng):
        sub = rng.choice(self.subs)
        with self.vlock:
            v = next(self.values)
        t0 = time.monotonic()
        r = cli.run("grade", sub, "--grade", v, env=self.env, timeout=60)
        self.rec.add("grade", sub, v, t0, time.monotonic(), r.rc == 0)

    def reader(self, cli, tag, rng):
        t0 = time.monotonic()
        r = cli.run("grades", "--course", "CS101", json=True, env=self.env, timeout=60)
        t1 = time.monotonic()
        if r.rc != 0 or not isinstance(r.json, dict):
            self.rec.add("read", None, None, t0, t1, False)
            return
        got = {g["submission_id"]: int(round(g["grade"])) for g in r.json.get("grades", [])}
        self.rec.add("read", None, {s: got.get(s, 0) for s in self.subs}, t0, t1, True)

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(120)


# ---------------------------------------------------------------------------
# the nemesis


class Nemesis:
    """Applies faults one at a time, each undone before the next."""

    KINDS = [("cut", 2), ("partition", 2), ("isolate", 2), ("kill", 2), ("pause", 1.5),
             ("delay", 1), ("drop", 1), ("bandwidth", 0.5), ("reset", 1)]

    def __init__(self, cluster, seed):
        self.c, self.net = cluster, cluster.net
        self.rng = random.Random(seed)
        self.count = collections.Counter()
        self.ids = [nd.node_id for nd in cluster.nodes]

    def node(self, node_id):
        return [nd for nd in self.c.nodes if nd.node_id == node_id][0]

    def leader_or_any(self):
        """The leader if one answers at once, else a node at random (the
        choice is the seed's either way)."""
        pick = self.rng.choice(self.ids)
        for nd in self.c.nodes:
            if self.c.probe(nd, timeout=0.3) == "leader":
                return nd.node_id
        return pick

    def hold(self, lo, hi):
        time.sleep(self.rng.uniform(lo, hi))

    def one(self):
        names, weights = zip(*self.KINDS)
        kind = self.rng.choices(names, weights)[0]
        getattr(self, "f_" + kind)()
        self.count[kind] += 1
        time.sleep(self.rng.uniform(0.05, 0.2))  # quiet between faults

    def f_cut(self):
        a, b = self.rng.sample(self.ids, 2)
        self.net.cut(a, b)
        self.hold(0.2, 0.8)
        self.net.heal()

    def f_partition(self):
        ids = list(self.ids)
        self.rng.shuffle(ids)
        minority = ids[:self.rng.randint(1, (len(ids) - 1) // 2)]
        self.net.partition(minority, [i for i in ids if i not in minority])
        self.hold(0.2, 0.8)
        self.net.heal()

    def f_isolate(self):
        self.net.isolate(self.leader_or_any())
        self.hold(0.3, 0.9)
        self.net.heal()

    def victim(self):
        return self.node(self.leader_or_any() if self.rng.random() < 0.5
                         else self.rng.choice(self.ids))

    def f_kill(self):
        nd = self.victim()
        nd.kill9()
        self.hold(0.0, 0.5)
        nd.start(timeout=60)

    def f_pause(self):
        nd = self.victim()
        nd.proc.send_signal(signal.SIGSTOP)
        try:
            self.hold(0.2, 0.8)
        finally:
            nd.proc.send_signal(signal.SIGCONT)

    def f_delay(self):
        a = self.rng.choice(self.ids)
        self.net.delay(a, None, self.rng.uniform(20, 150), jitter_ms=30)
        self.hold(0.3, 1.0)
        self.net.heal()

    def f_drop(self):
        self.net.drop(None, self.rng.choice(self.ids), 0.3)
        self.hold(0.3, 0.8)
        self.net.heal()

    def f_bandwidth(self):
        self.net.bandwidth(self.rng.choice(self.ids), None, 64 << 10)
        self.hold(0.3, 0.8)
        self.net.heal()

    def f_reset(self):
        a = self.rng.choice(self.ids)
        self.net.reset(a, None)
        self.net.reset(None, a)

    def heal_all(self):
        self.net.heal()
        for nd in self.c.nodes:
            if nd.running:
                nd.proc.send_signal(signal.SIGCONT)
            else:
                nd.start(timeout=60)


# ---------------------------------------------------------------------------
# the runs


class NemesisCase(ClusterTestCase):
    PROXIED = True

    def setUp(self):
        self.seed = e2e_seed()
        sys.stdout.write("\nnemesis: %d nodes, LMS_E2E_SEED=%d, %d faults\n"
                         % (self.N, self.seed, FAULTS))
        super().setUp()

    def registers(self, w):
        """REGISTERS submissions of stud1: their ids."""
        teach, stud = w["teach1"], w["stud1"]
        path = os.path.join(self.cluster.dir, "answer.txt")
        with open(path, "w") as f:
            f.write("my answer\n")
        subs = []
        for i in range(REGISTERS):
            a = self.ok(teach.run("create-assignment", "--course", "CS101", "--title",
                                  "R%d" % i, "--due", iso(time.time() + 86400),
                                  "--max-points", 1000000, json=True))
            doc = self.ok(stud.run("submit", a["id"], path, json=True), "submit R%d" % i)
            subs.append(doc["id"])
        return subs

    def test_nemesis(self):
        c = self.cluster
        w = World(c)
        subs = self.registers(w)
        rec = Recorder()
        clients = Clients(w, subs, rec, self.seed)
        nem = Nemesis(c, self.seed * 10 + self.N)
        t_start = time.monotonic()
        clients.start()
        try:
            for _ in range(FAULTS):
                nem.one()
        finally:
            nem.heal_all()
            time.sleep(1.0)  # the clients see the healed cluster too
            clients.finish()
        chaos = time.monotonic() - t_start
        c.wait_caught_up(timeout=60)
        # one last read of every register, on the healed cluster
        clients.stop.clear()
        clients.reader(w["stud1"], "final", None)
        lines = ["nemesis %d nodes, LMS_E2E_SEED=%d: %d faults in %.1f s (%s)"
                 % (self.N, self.seed, sum(nem.count.values()), chaos,
                    ", ".join("%s %d" % kv for kv in sorted(nem.count.items()))),
                 "ops: " + rec.counts()]
        try:
            self.check(rec, lines, subs)
        finally:
            self.publish(lines)

    def check(self, rec, lines, subs):
        c = self.cluster
        self.assertGreaterEqual(sum(1 for o in rec.ops if o[0] == "ask" and o[5] == "ok"), 10,
                                "acknowledged questions during the run")
        self.assertExactlyOnce(c.nodes, rec.acked, rec.unknown)
        lines.append("exactly once: %d acknowledged questions on all %d nodes, %d unknown "
                     "ones at most once" % (len(rec.acked), self.N, len(rec.unknown)))
        grades = lambda nd: db_rows(nd, "SELECT submission_id, grade FROM grades ORDER BY 1")
        subs_of = lambda nd: db_rows(nd, "SELECT id, assignment_id, student, attempt "
                                         "FROM submissions ORDER BY 1")
        self.assertSameData(c.nodes, titles, grades, subs_of)
        lines.append("same data: questions, grades and submissions identical on every node")
        hist = self.out_path("nemesis-%d.hist" % self.N)
        ops = rec.history()
        write_history(hist, ops)
        rc, out = run_lincheck(hist)
        lines.append("lin-check (%d register ops, %s): %s" % (len(ops), hist, out))
        self.assertEqual(rc, 0, "lin-check on the grade registers: %s" % out)

    def out_path(self, name):
        d = os.environ.get("LMS_E2E_OUT") or tempfile.gettempdir()
        return os.path.join(d, name)

    def publish(self, lines):
        text = "\n".join(lines) + "\n"
        sys.stdout.write(text)
        sys.stdout.write(self.cluster.net.report() + "\n")
        with open(self.out_path("nemesis-%d.txt" % self.N), "w") as f:
            f.write(text)


class TestNemesis3(NemesisCase):
    N = 3


class TestNemesis5(NemesisCase):
    N = 5


# ---------------------------------------------------------------------------
# the checks can fail


class FakeNode:
    """A data dir with a queries table, for assertExactlyOnce."""

    def __init__(self, tc, node_id, titles_):
        self.node_id = node_id
        self.data_dir = tempfile.mkdtemp(prefix="lms-e2e-fake-")
        tc.addCleanup(shutil.rmtree, self.data_dir, True)
        db = sqlite3.connect(os.path.join(self.data_dir, "lms.db"))
        db.execute("CREATE TABLE queries (title TEXT)")
        db.executemany("INSERT INTO queries VALUES (?)", [(t,) for t in titles_])
        db.commit()
        db.close()


class TestCheckers(E2ETestCase):
    def lin(self, ops):
        d = tempfile.mkdtemp(prefix="lms-e2e-lin-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "h")
        write_history(path, ops)
        return run_lincheck(path)

    def test_lincheck_accepts_a_linearizable_history(self):
        rc, out = self.lin([("s1", 0, 10, "put", 1), ("s1", 5, 30, "put", 2),
                            ("s1", 12, 14, "get", 1), ("s1", 35, 40, "get", 2),
                            ("s1", 50, None, "put", 3), ("s2", 0, 1, "get", 0)])
        self.assertEqual((rc, out.split(":")[0]), (0, "linearizable"), out)

    def test_lincheck_refuses_a_stale_read(self):
        rc, out = self.lin([("s1", 0, 10, "put", 1), ("s1", 20, 30, "put", 2),
                            ("s1", 40, 50, "get", 1)])
        self.assertEqual((rc, out.split(":")[0]), (1, "not linearizable"), out)

    def test_lincheck_refuses_a_lost_acknowledged_write(self):
        rc, out = self.lin([("s1", 0, 10, "put", 7), ("s1", 20, 30, "get", 0)])
        self.assertEqual(rc, 1, "a read of 0 after put 7 returned: %s" % out)

    def test_lincheck_refuses_a_value_never_written(self):
        rc, out = self.lin([("s1", 0, 10, "put", 1), ("s1", 20, 30, "get", 5)])
        self.assertEqual(rc, 1, out)

    def test_recorder_history_keeps_unknown_writes_and_drops_failed_reads(self):
        rec = Recorder()
        t = rec.t0
        rec.add("grade", 4, 9, t, t + 0.001, False)
        rec.add("read", None, None, t + 0.002, t + 0.003, False)
        rec.add("read", None, {4: 9}, t + 0.004, t + 0.005, True)
        self.assertEqual([(k, r is None, kind, v) for k, _, r, kind, v in rec.history()],
                         [("sub4", True, "put", 9), ("sub4", False, "get", 9)],
                         "history of an unknown grade, a failed and a good read")

    def test_exactly_once_refuses_doctored_databases(self):
        good = [FakeNode(self, 1, ["a", "b"]), FakeNode(self, 2, ["a", "b"])]
        self.assertExactlyOnce(good, ["a", "b"])
        for bad, what in ((FakeNode(self, 2, ["a"]), "a lost write"),
                          (FakeNode(self, 2, ["a", "b", "b"]), "a doubled write")):
            with self.assertRaises(AssertionError, msg=what):
                self.assertExactlyOnce([good[0], bad], ["a", "b"])
        with self.assertRaises(AssertionError, msg="an unknown write applied twice"):
            self.assertExactlyOnce([FakeNode(self, 1, ["a", "u", "u"])], ["a"], ["u"])
