# SPDX-License-Identifier: MIT
"""The nemesis run: a 3-node and a 5-node cluster (each behind a
faultproxy.FaultNet, with small snapshot intervals so that nodes snapshot,
compact and catch up by InstallSnapshot all along) under concurrent writes
and reads from many CLI clients while a nemesis applies at least 100
faults. Up to MAX_ACTIVE faults (plus the one-off lags and membership
change) are in place at once, each with its own duration (network faults are FaultNet layers, so undoing one leaves the
others); at most a minority of the members is killed or stopped at any
moment, so a majority can always come back, and the final heal restores
everything. The faults:

  cut        one directed link cut (a -> b only)
  partition  a minority and the majority, cut both ways
  isolate    the leader cut off both ways
  kill       kill -9 of a node (half the time the leader), then restart
  pause      SIGSTOP of a node (half the time the leader), then SIGCONT
  delay      a node's outgoing links delayed 20-150 ms with jitter
  drop       30 % of the frames lost on a node's incoming links
  bandwidth  a node's outgoing links capped at 64 KiB/s
  reset      every connection of a node aborted with RST
  slow_disk  each command-log fsync of a node (half the time the leader)
             stalls 50-400 ms (core/base/fault.h's hook, test builds only)
and the dangerous mixes, each one fault:
  cut_kill         the leader's outgoing links cut one way; once another
                   node leads, kill -9 of that new leader, restart, heal
  pause_heal       a partition; SIGSTOP of a leader; the partition heals
                   while it is stopped; SIGCONT
  restart_cut_off  a partition; kill -9 of a node and its restart while
                   the partition is still there
  lag              (once per run) a follower isolated until the others
                   have committed LAG_WRITES more writes, so that the
                   leader compacts past it and must send it a snapshot
  lag_kill         (once per run) the same, and kill -9 of the follower
                   as soon as its log says it is receiving the snapshot,
                   then its restart
The 5-node run also changes its membership in the middle of the chaos:
lms-admin cluster-remove of a follower, then cluster-add of a new node
(which starts from the leader's snapshot), both retried until done.

The clients (threads running lms-student and lms-instructor against every
node's address) record each operation's call and return time
(time.monotonic) and result:

  ask    stud1/stud2 ask the instructor a question with a unique title
  grade  teach1 grades one of stud1's submissions with a unique value
         (grading again replaces the grade: a register per submission)
  read   stud1 lists his grades (--json): a read of every register

Some clients give up after SHORT_TIMEOUT seconds (LMS_CLIENT_TIMEOUT),
the others after CLIENT_TIMEOUT, so that unknown outcomes are common. A
client that exits with anything but success is an UNKNOWN outcome: the
write may or may not have happened; it is never assumed absent.

At the end everything is healed and, once every member has applied what
the leader committed: every acknowledged question is on every member
exactly once (unknown ones at most once), the members' databases hold the
same questions, grades and submissions, and the grade registers' history
is linearizable by lin-check (tests/sim/linearize.c, the simulator's
checker); the 3-node run must have installed at least one snapshot. The
fault count by kind, the op count by kind and outcome, the snapshots
taken / sent / installed (from the nodes' logs) and the check results are
printed, one "nemesis-N:" line each, and written to
$LMS_E2E_OUT/nemesis-N.txt with the history (nemesis-N.hist, which
`lin-check FILE` replays).

LMS_E2E_SEED=S replays the nemesis's choices (the clients' and the
nodes' timing are the machine's); LMS_NEMESIS_FAULTS=N changes the fault
count (at least 100 in CI); LMS_E2E_KEEP=1 keeps the nodes' directories.

TestCheckers shows the checks can fail: lin-check refuses a stale read and
a lost write, assertExactlyOnce refuses doctored databases, and fault
layers undo only themselves.
"""

import collections
import itertools
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from faultproxy import FaultNet
from lmstest import (Cluster, ClusterTestCase, E2ETestCase, World, db_rows, e2e_seed, iso,
                     titles)

FAULTS = int(os.environ.get("LMS_NEMESIS_FAULTS") or 100)
MAX_ACTIVE = 3         # faults in place at once
REGISTERS = 3          # stud1's submissions, each graded again and again
CLIENT_TIMEOUT = "5"   # seconds the CLI keeps trying (LMS_CLIENT_TIMEOUT)
SHORT_TIMEOUT = "0.3"  # ... for the impatient clients
OP_PAUSE = 0.02        # between one client's operations
LAG_WRITES = 80        # > snapshot_entries + keep_entries: compacted past
# small snapshot intervals (as test_snapshot and test_repair): a snapshot
# every 40 entries, 10 kept behind it
RAFT = {"snapshot_entries": 40, "keep_entries": 10, "segment_bytes": "64KiB"}


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


# what a sanitizer report or a failed LMS_ASSERT leaves in a node's log
CRASH_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
               "assertion failed:")

SNAPSHOT_LOG = (("taken", re.compile(r"snapshot at index \d+ \(term")),
                ("sent", re.compile(r"snapshot \d+ sent to member")),
                ("installed", re.compile(r"installed snapshot \d+")))


def snapshot_counts(log_text):
    """{taken, sent, installed}: what core/repl/node_snapshot.c and
    node_transfer.c logged."""
    return {k: len(rx.findall(log_text)) for k, rx in SNAPSHOT_LOG}


def log_since(nd, off):
    """What nd logged after byte off of its log."""
    with open(nd.log_path, "rb") as f:
        f.seek(off)
        return f.read().decode("utf-8", "replace")


# ---------------------------------------------------------------------------
# the clients


class Recorder:
    """Every operation: kind, key, value, call and return (µs since t0),
    outcome ('ok' or 'unknown'), and whether its client was impatient."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.ops = []
        self.acked, self.unknown = [], []  # question titles

    def us(self, t):
        return int((t - self.t0) * 1e6)

    def add(self, kind, key, value, call, ret, ok, short=False):
        with self.lock:
            self.ops.append((kind, key, value, self.us(call), self.us(ret),
                             "ok" if ok else "unknown", short))

    def writes_acked(self):
        with self.lock:
            return sum(1 for o in self.ops if o[0] != "read" and o[5] == "ok")

    def counts(self):
        c = collections.Counter((o[0], o[5]) for o in self.ops)
        short = collections.Counter(o[5] for o in self.ops if o[6])
        return ("%s; clients with a %s s deadline: %d ok / %d unknown"
                % (", ".join("%s %d ok / %d unknown" % (k, c[(k, "ok")], c[(k, "unknown")])
                             for k in ("ask", "grade", "read")),
                   SHORT_TIMEOUT, short["ok"], short["unknown"]))

    def history(self):
        """The grade registers as lin-check ops: each read is a get of
        every register (absent from the list: still 0, ungraded)."""
        out = []
        for kind, key, value, call, ret, outcome, _ in self.ops:
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
        short = {"LMS_CLIENT_TIMEOUT": SHORT_TIMEOUT}
        plan = [(self.asker, "stud1", None), (self.asker, "stud2", None),
                (self.asker, "stud2", short),
                (self.grader, "teach1", None), (self.grader, "teach1", short),
                (self.reader, "stud1", None), (self.reader, "stud1", short)]
        self.threads = [threading.Thread(target=self.loop, args=(fn, who, env, i, seed),
                                         daemon=True)
                        for i, (fn, who, env) in enumerate(plan)]

    def loop(self, fn, who, env, i, seed):
        rng = random.Random(seed * 100 + i)
        n = 0
        while not self.stop.is_set():
            n += 1
            fn(self.w[who], "%s-%d-%d" % (who, i, n), rng, env)
            self.stop.wait(OP_PAUSE)

    def asker(self, cli, tag, rng, env=None):
        title = "nem-" + tag
        t0 = time.monotonic()
        r = cli.run("ask", "--course", "CS101", "--instructor", "--title", title, title,
                    env=env or self.env, timeout=60)
        self.rec.add("ask", title, None, t0, time.monotonic(), r.rc == 0, env is not None)
        with self.rec.lock:
            (self.rec.acked if r.rc == 0 else self.rec.unknown).append(title)

    def grader(self, cli, tag, rng, env=None):
        sub = rng.choice(self.subs)
        with self.vlock:
            v = next(self.values)
        t0 = time.monotonic()
        r = cli.run("grade", sub, "--grade", v, env=env or self.env, timeout=60)
        self.rec.add("grade", sub, v, t0, time.monotonic(), r.rc == 0, env is not None)

    def reader(self, cli, tag, rng, env=None):
        t0 = time.monotonic()
        r = cli.run("grades", "--course", "CS101", json=True, env=env or self.env, timeout=60)
        t1 = time.monotonic()
        if r.rc != 0 or not isinstance(r.json, dict):
            self.rec.add("read", None, None, t0, t1, False, env is not None)
            return
        got = {g["submission_id"]: int(round(g["grade"])) for g in r.json.get("grades", [])}
        self.rec.add("read", None, {s: got.get(s, 0) for s in self.subs}, t0, t1, True,
                     env is not None)

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
    """Starts faults one after another, each in its own thread, while fewer
    than a target (drawn each time, 1..MAX_ACTIVE) are in place. A fault
    that may take a node down (NODE_KINDS) holds one of budget() slots for
    its whole life, so at most a minority of the members is ever down
    (killed, stopped, lagging or being removed) at once."""

    KINDS = [("cut", 2), ("partition", 2), ("isolate", 1.5), ("kill", 2), ("pause", 1.5),
             ("delay", 1), ("drop", 1), ("bandwidth", 0.5), ("reset", 1), ("slow_disk", 1),
             ("cut_kill", 0.8), ("pause_heal", 0.8), ("restart_cut_off", 0.8)]
    NODE_KINDS = {"kill", "pause", "cut_kill", "pause_heal", "restart_cut_off", "lag",
                  "lag_kill", "membership"}

    def __init__(self, cluster, seed, writes_acked):
        self.c, self.net = cluster, cluster.net
        self.rng = random.Random(seed)
        self.writes_acked = writes_acked  # () -> acknowledged writes so far
        self.lock = threading.Lock()
        self.count = collections.Counter()   # faults done, by kind
        self.notes = collections.Counter()   # what the mixes met
        self.ids = [nd.node_id for nd in cluster.nodes]  # the members now
        self.slot_budget = (len(self.ids) - 1) // 2
        self.down = set()     # ids killed, stopped, lagging or being removed
        self.active = self.slots = self.peak = 0
        self.threads, self.errors = [], []
        self.membership = []  # what the membership change did, in words

    # -- helpers ----------------------------------------------------------

    def node(self, node_id):
        return [nd for nd in self.c.nodes if nd.node_id == node_id][0]

    def members(self):
        with self.lock:
            return list(self.ids)

    def hold(self, rng, lo, hi):
        time.sleep(rng.uniform(lo, hi))

    def leaders(self, among=None):
        """The ids of the up members that answer as leader right now."""
        with self.lock:
            up = [i for i in (among or self.ids) if i not in self.down]
        return [i for i in up if Cluster.probe(self.node(i), timeout=0.3) == "leader"]

    def claim(self, rng, want=None, prefer_leader=False):
        """Mark a member down and return its node: want if it is up, else
        the leader (prefer_leader) or one at random. The caller holds a
        slot, so an up member is always left."""
        lead = self.leaders() if prefer_leader and want is None else []
        with self.lock:
            up = [i for i in self.ids if i not in self.down]
            pick = want if want in up else next((i for i in lead if i in up), None)
            if pick is None:
                pick = rng.choice(up)
            self.down.add(pick)
        nd = self.node(pick)
        self.alive(nd)
        return nd

    def alive(self, nd):
        """Whether nd runs; one that exited although nobody killed it (a
        crash, a sanitizer report, a failed assertion) is a finding."""
        rc = nd.proc.poll() if nd.proc is not None else None
        if rc is None:
            return True
        with self.lock:
            self.errors.append("node %d exited by itself (exit %d); see its log %s"
                               % (nd.node_id, rc, nd.log_path))
        return False

    def release(self, nd):
        with self.lock:
            self.down.discard(nd.node_id)

    def minority(self, rng):
        """A random minority of the members and the rest."""
        ids = self.members()
        rng.shuffle(ids)
        k = rng.randint(1, (len(ids) - 1) // 2)
        return ids[:k], ids[k:]

    def restart(self, nd):
        nd.start(timeout=60)

    # -- the loop -----------------------------------------------------------

    def run(self, faults, extra=()):
        """Start faults faults; extra: {index: kind} of one-off faults
        started before the index-th (lag, membership)."""
        names, weights = zip(*self.KINDS)
        extra = dict(extra)
        for i in range(faults + 1):
            if i in extra:
                self.start(extra[i], random.Random(self.rng.getrandbits(32)), 1 << 30)
            if i == faults:
                break
            kind = self.rng.choices(names, weights)[0]
            self.start(kind, random.Random(self.rng.getrandbits(32)),
                       self.rng.randint(1, MAX_ACTIVE))
            time.sleep(self.rng.uniform(0.05, 0.25))  # between two starts
        for t in self.threads:
            t.join(180)

    def start(self, kind, rng, target):
        node_fault = kind in self.NODE_KINDS
        while True:
            with self.lock:
                if self.errors:
                    return
                if self.active < target and (not node_fault or self.slots < self.slot_budget):
                    self.active += 1
                    self.slots += node_fault
                    self.peak = max(self.peak, self.active)
                    break
            time.sleep(0.02)
        t = threading.Thread(target=self.one, args=(kind, rng, node_fault), daemon=True,
                             name="nemesis-" + kind)
        self.threads.append(t)
        t.start()

    def one(self, kind, rng, node_fault):
        try:
            getattr(self, "f_" + kind)(rng)
            with self.lock:
                self.count[kind] += 1
        except BaseException as e:  # a node that would not restart: a finding
            with self.lock:
                self.errors.append("%s: %s" % (kind, e))
        finally:
            with self.lock:
                self.active -= 1
                self.slots -= node_fault

    # -- the faults -----------------------------------------------------------

    def f_cut(self, rng):
        a, b = rng.sample(self.members(), 2)
        h = self.net.push([(a, b)], cut=True)
        self.hold(rng, 0.2, 1.0)
        self.net.pop(h)

    def f_partition(self, rng):
        small, big = self.minority(rng)
        h = self.net.push(FaultNet.between(small, big), cut=True)
        self.hold(rng, 0.2, 1.0)
        self.net.pop(h)

    def f_isolate(self, rng):
        ids = self.members()
        x = (self.leaders() or [rng.choice(ids)])[0]
        h = self.net.push(FaultNet.between([x], [i for i in ids if i != x]), cut=True)
        self.hold(rng, 0.3, 1.0)
        self.net.pop(h)

    def f_kill(self, rng):
        nd = self.claim(rng, prefer_leader=rng.random() < 0.5)
        try:
            nd.kill9()
            self.hold(rng, 0.0, 0.6)
            self.restart(nd)
        finally:
            self.release(nd)

    def f_pause(self, rng):
        nd = self.claim(rng, prefer_leader=rng.random() < 0.5)
        try:
            nd.proc.send_signal(signal.SIGSTOP)
            self.hold(rng, 0.2, 1.0)
        finally:
            nd.proc.send_signal(signal.SIGCONT)
            self.release(nd)

    def f_delay(self, rng):
        h = self.net.push(self.net.links(rng.choice(self.members()), None),
                          delay_ms=rng.uniform(20, 150), jitter_ms=30)
        self.hold(rng, 0.3, 1.0)
        self.net.pop(h)

    def f_drop(self, rng):
        h = self.net.push(self.net.links(None, rng.choice(self.members())), drop=0.3)
        self.hold(rng, 0.3, 1.0)
        self.net.pop(h)

    def f_bandwidth(self, rng):
        h = self.net.push(self.net.links(rng.choice(self.members()), None), bps=64 << 10)
        self.hold(rng, 0.3, 1.0)
        self.net.pop(h)

    def f_reset(self, rng):
        a = rng.choice(self.members())
        self.net.reset(a, None)
        self.net.reset(None, a)
        self.hold(rng, 0.0, 0.2)

    def f_slow_disk(self, rng):
        """Each fsync of a node's command log (half the time the leader's)
        stalls 50-400 ms for a while (core/base/fault.h's hook)."""
        ids = self.members()
        lead = self.leaders()
        x = lead[0] if lead and rng.random() < 0.5 else rng.choice(ids)
        nd = self.node(x)
        nd.stall_fsync(int(rng.uniform(50, 400)))
        self.hold(rng, 0.5, 1.5)
        nd.stall_fsync(0)

    def f_cut_kill(self, rng):
        """The leader's outgoing links cut one way; kill -9 of the node the
        others elect meanwhile; its restart; the cut heals."""
        ids = self.members()
        old = (self.leaders() or [rng.choice(ids)])[0]
        others = [i for i in ids if i != old]
        h = self.net.push(FaultNet.between([old], others, one_way=True), cut=True)
        try:
            deadline, new = time.monotonic() + 4.0, []
            while not new and time.monotonic() < deadline:
                new = self.leaders(among=others)
                time.sleep(0.05)
            if not new:
                self.notes["cut_kill: no new leader within 4 s"] += 1
                return
            nd = self.claim(rng, want=new[0])
            try:
                self.notes["cut_kill: new leader killed" if nd.node_id == new[0]
                           else "cut_kill: another node killed"] += 1
                nd.kill9()
                self.hold(rng, 0.1, 0.6)
                self.restart(nd)  # the cut is still there
            finally:
                self.release(nd)
            self.hold(rng, 0.0, 0.5)
        finally:
            self.net.pop(h)

    def f_pause_heal(self, rng):
        """A partition; SIGSTOP of a leader (either side's); the partition
        heals while it is stopped; SIGCONT."""
        small, big = self.minority(rng)
        h = self.net.push(FaultNet.between(small, big), cut=True)
        try:
            self.hold(rng, 0.3, 1.0)
            lead = self.leaders()
            nd = self.claim(rng, want=rng.choice(lead) if lead else None)
            self.notes["pause_heal: a leader stopped" if lead else
                       "pause_heal: no leader, a node stopped"] += 1
        except BaseException:
            self.net.pop(h)
            raise
        nd.proc.send_signal(signal.SIGSTOP)
        try:
            self.hold(rng, 0.1, 0.4)
            self.net.pop(h)  # heals while the node is stopped
            self.hold(rng, 0.2, 0.8)
        finally:
            self.net.pop(h)
            nd.proc.send_signal(signal.SIGCONT)
            self.release(nd)

    def f_restart_cut_off(self, rng):
        """kill -9 and restart of a node while a partition is in place."""
        small, big = self.minority(rng)
        h = self.net.push(FaultNet.between(small, big), cut=True)
        try:
            self.hold(rng, 0.1, 0.5)
            nd = self.claim(rng, prefer_leader=rng.random() < 0.5)
            try:
                self.notes["restart_cut_off: %s side" % ("minority" if nd.node_id in small
                                                         else "majority")] += 1
                nd.kill9()
                self.hold(rng, 0.0, 0.4)
                self.restart(nd)
            finally:
                self.release(nd)
            self.hold(rng, 0.2, 0.8)
        finally:
            self.net.pop(h)

    def f_lag(self, rng):
        """A follower isolated until LAG_WRITES more writes are acknowledged
        (the leader compacts past it), then healed: it must catch up by
        InstallSnapshot. Notes whether its log says it installed one."""
        self.lag(rng, kill=False)

    def f_lag_kill(self, rng):
        """As lag, but kill -9 of the follower as soon as its log says it
        is receiving the snapshot (a crash around the install), then its
        restart; it must still catch up."""
        self.lag(rng, kill=True)

    def lag(self, rng, kill):
        lead = self.leaders()
        with self.lock:
            up = [i for i in self.ids if i not in self.down and i not in lead]
        nd = self.claim(rng, want=rng.choice(up) if up else None)
        name = "lag_kill" if kill else "lag"
        try:
            before = snapshot_counts(nd.log_text())
            off = os.path.getsize(nd.log_path)
            ids = self.members()
            h = self.net.push(FaultNet.between([nd.node_id], [i for i in ids
                                                                if i != nd.node_id]), cut=True)
            w0, t0 = self.writes_acked(), time.monotonic()
            while self.writes_acked() - w0 < LAG_WRITES and time.monotonic() - t0 < 20:
                time.sleep(0.1)
            self.net.pop(h)
            self.notes["%s: node %d cut off %.1f s, %d writes meanwhile"
                       % (name, nd.node_id, time.monotonic() - t0,
                          self.writes_acked() - w0)] += 1
            deadline = time.monotonic() + 15
            while kill and time.monotonic() < deadline:
                if "receiving snapshot" in log_since(nd, off):
                    time.sleep(rng.uniform(0, 0.03))
                    nd.kill9()
                    done = snapshot_counts(nd.log_text())["installed"] > before["installed"]
                    self.notes["lag_kill: killed %s the install" % ("after" if done
                                                                     else "during")] += 1
                    self.hold(rng, 0.0, 0.3)
                    self.restart(nd)
                    break
                time.sleep(0.005)
            while time.monotonic() < deadline:
                if snapshot_counts(nd.log_text())["installed"] > before["installed"]:
                    self.notes["%s: snapshot installed" % name] += 1
                    return
                time.sleep(0.2)
            self.notes["%s: no snapshot installed within 15 s of the heal" % name] += 1
        finally:
            self.release(nd)

    def admin_until(self, what, args, done, timeout=60):
        """Run lms-admin args until done() (the cluster's status says the
        change is in), whatever the command answered meanwhile."""
        deadline, tries = time.monotonic() + timeout, 0
        while time.monotonic() < deadline:
            tries += 1
            r = self.c.admin.run(*args, env={"LMS_CLIENT_TIMEOUT": "5"}, timeout=60)
            t_end = time.monotonic() + 5
            while time.monotonic() < t_end:
                try:
                    if done(self.c.status()):
                        return tries
                except AssertionError:
                    pass  # no leader right now
                time.sleep(0.2)
            self.membership.append("%s try %d: exit %d %s" % (what, tries, r.rc, r.err.strip()[:80]))
        raise AssertionError("%s not done within %d s (%d tries)" % (what, timeout, tries))

    def f_membership(self, rng):
        """cluster-remove of a follower, then cluster-add of a new node."""
        lead = self.leaders()
        with self.lock:
            up = [i for i in self.ids if i not in self.down and i not in lead]
        gone = self.claim(rng, want=rng.choice(up) if up else None)
        t0 = time.monotonic()
        ids = lambda st: {m["id"] for m in st["members"]}
        n = self.admin_until("cluster-remove %d" % gone.node_id,
                             ("cluster-remove", gone.node_id),
                             lambda st: gone.node_id not in ids(st))
        with self.lock:
            self.ids.remove(gone.node_id)
        gone.kill9()
        self.membership.append("node %d removed in %.1f s (%d tries)"
                               % (gone.node_id, time.monotonic() - t0, n))
        new = self.c.add_node()
        new.start(timeout=60)
        t1 = time.monotonic()

        def voter(st):
            return any(m["id"] == new.node_id and m["voter"] and m["known"]
                       for m in st["members"])
        n = self.admin_until("cluster-add %d" % new.node_id,
                             ("cluster-add", new.node_id, new.peer_addr, new.addr), voter)
        with self.lock:
            self.ids.append(new.node_id)
            self.down.discard(gone.node_id)
        self.membership.append("node %d added and promoted to a voter in %.1f s (%d tries)"
                               % (new.node_id, time.monotonic() - t1, n))

    def heal_all(self):
        self.net.heal()
        for i in self.members():
            nd = self.node(i)
            nd.stall_fsync(0)
            if self.alive(nd):
                nd.proc.send_signal(signal.SIGCONT)
            else:
                nd.start(timeout=60)

    def log_findings(self):
        """Sanitizer reports and failed assertions in any node's log."""
        for nd in self.c.nodes:
            for line in nd.log_text().splitlines():
                if any(m in line for m in CRASH_MARKS):
                    with self.lock:
                        self.errors.append("node %d logged: %s" % (nd.node_id, line.strip()))
                    break


# ---------------------------------------------------------------------------
# the runs


class NemesisCase(ClusterTestCase):
    PROXIED = True
    RAFT = RAFT
    MEMBERSHIP = False  # a cluster-remove + cluster-add during the chaos

    def setUp(self):
        self.seed = e2e_seed()
        self.tag = "nemesis-%d" % self.N
        sys.stdout.write("\n%s: %d nodes, LMS_E2E_SEED=%d, %d faults (replay: "
                         "LMS_E2E_SEED=%d ctest -R e2e_nemesis_%d)\n"
                         % (self.tag, self.N, self.seed, FAULTS, self.seed, self.N))
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
        c.admin  # logged in before the chaos
        rec = Recorder()
        clients = Clients(w, subs, rec, self.seed)
        nem = Nemesis(c, self.seed * 10 + self.N, rec.writes_acked)
        extra = {FAULTS // 3: "lag", 2 * FAULTS // 3: "lag_kill"}
        if self.MEMBERSHIP:
            extra[FAULTS // 2] = "membership"
        t_start = time.monotonic()
        clients.start()
        try:
            nem.run(FAULTS, extra)
        finally:
            nem.heal_all()
            time.sleep(1.0)  # the clients see the healed cluster too
            clients.finish()
        chaos = time.monotonic() - t_start
        members = [nem.node(i) for i in nem.members()]
        nem.log_findings()
        lines = self.summary(nem, rec, chaos, members)
        ok = False
        try:
            self.assertEqual(nem.errors, [], "faults that failed, nodes that exited by "
                                             "themselves or logged a crash")
            c.wait_caught_up(timeout=60, nodes=members)
            # one last read of every register, on the healed cluster
            clients.stop.clear()
            clients.reader(w["stud1"], "final", None)
            self.check(rec, lines, subs, members)
            ok = True
        finally:
            self.publish(lines, ok, rec)

    def summary(self, nem, rec, chaos, members):
        kinds = sorted(nem.count.items())
        lines = ["LMS_E2E_SEED=%d, %d nodes" % (self.seed, self.N),
                 "faults: %d in %.1f s, up to %d at once: %s"
                 % (sum(nem.count.values()), chaos, nem.peak,
                    ", ".join("%s %d" % kv for kv in kinds)),
                 "mixes: " + ("; ".join("%s %d" % kv for kv in sorted(nem.notes.items()))
                              or "none")]
        lines.append("ops: " + rec.counts())
        if nem.membership:
            lines.append("membership: " + "; ".join(nem.membership))
        if nem.errors:
            lines.append("FAILED faults: " + "; ".join(nem.errors))
        per = {nd.node_id: snapshot_counts(nd.log_text()) for nd in self.cluster.nodes}
        tot = {k: sum(p[k] for p in per.values()) for k, _ in SNAPSHOT_LOG}
        self.snapshots = tot
        lines.append("snapshots: %d taken, %d sent, %d installed (%s)"
                     % (tot["taken"], tot["sent"], tot["installed"],
                        ", ".join("node %d: %d/%d/%d" % (i, p["taken"], p["sent"],
                                                         p["installed"])
                                  for i, p in sorted(per.items()))))
        return lines

    def check(self, rec, lines, subs, members):
        c = self.cluster
        if self.N == 3:
            self.assertGreaterEqual(self.snapshots["installed"], 1,
                                    "snapshots installed during the 3-node run")
        self.assertGreaterEqual(sum(1 for o in rec.ops if o[0] == "ask" and o[5] == "ok"), 10,
                                "acknowledged questions during the run")
        self.assertExactlyOnce(members, rec.acked, rec.unknown)
        lines.append("exactly once: %d acknowledged questions on all %d members, %d unknown "
                     "ones at most once" % (len(rec.acked), len(members), len(rec.unknown)))
        grades = lambda nd: db_rows(nd, "SELECT submission_id, grade FROM grades ORDER BY 1")
        subs_of = lambda nd: db_rows(nd, "SELECT id, assignment_id, student, attempt "
                                         "FROM submissions ORDER BY 1")
        self.assertSameData(members, titles, grades, subs_of)
        lines.append("same data: questions, grades and submissions identical on every member")
        hist = self.out_path("nemesis-%d.hist" % self.N)
        ops = rec.history()
        write_history(hist, ops)
        rc, out = run_lincheck(hist)
        lines.append("lin-check (%d register ops, %s): %s" % (len(ops), hist, out))
        self.assertEqual(rc, 0, "lin-check on the grade registers: %s" % out)

    def out_path(self, name):
        d = os.environ.get("LMS_E2E_OUT") or tempfile.gettempdir()
        return os.path.join(d, name)

    def publish(self, lines, ok, rec):
        """The summary on stdout and in nemesis-N.txt, the history in
        nemesis-N.hist; after a failure, every node's log copied to
        nemesis-N-logs/ and how to replay the run."""
        write_history(self.out_path("nemesis-%d.hist" % self.N), rec.history())
        if not ok:
            logs = self.out_path("nemesis-%d-logs" % self.N)
            shutil.rmtree(logs, ignore_errors=True)
            os.makedirs(logs)
            for nd in self.cluster.nodes:
                shutil.copy(nd.log_path, os.path.join(logs, "node%d.log" % nd.node_id))
            lines.append("FAILED: logs in %s; replay: LMS_E2E_SEED=%d LMS_E2E_KEEP=1 "
                         "ctest -R e2e_nemesis_%d --output-on-failure"
                         % (logs, self.seed, self.N))
        text = "".join("%s: %s\n" % (self.tag, ln) for ln in lines)
        sys.stdout.write(text)
        sys.stdout.write(self.cluster.net.report() + "\n")
        with open(self.out_path("nemesis-%d.txt" % self.N), "w") as f:
            f.write(text)
        sys.stdout.flush()


class TestNemesis3(NemesisCase):
    N = 3


class TestNemesis5(NemesisCase):
    N = 5
    MEMBERSHIP = True


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

    def test_fault_layers_undo_only_themselves(self):
        net = FaultNet()
        self.addCleanup(net.stop)
        part = net.push(FaultNet.between([1], [2, 3]), cut=True)
        one_way = net.push([(1, 2)], cut=True)
        slow = net.push([(1, 2), (2, 3)], delay_ms=50, jitter_ms=5)
        slower = net.push([(1, 2)], delay_ms=120)
        capped = net.push([(2, 3)], bps=1000)
        tighter = net.push([(2, 3)], bps=500, drop=0.2)
        f = net.faults
        self.assertEqual((f(1, 2)["cut"], f(2, 1)["cut"], f(1, 2)["delay_ms"], f(2, 3)["bps"]),
                         (True, True, 120.0, 500), "links under six layers")
        net.pop(part)
        self.assertEqual((f(1, 2)["cut"], f(2, 1)["cut"], f(1, 3)["cut"]), (True, False, False),
                         "1->2 still cut by the one-way layer once the partition is undone")
        net.pop(slower)
        net.pop(tighter)
        self.assertEqual((f(1, 2)["delay_ms"], f(2, 3)["bps"], f(2, 3)["drop"]), (50.0, 1000, 0.0),
                         "the remaining delay and cap once the stronger layers are gone")
        for h in (one_way, slow, capped):
            net.pop(h)
        clean = dict(cut=False, drop=0.0, delay_ms=0.0, jitter_ms=0.0, bps=0)
        self.assertEqual([f(a, b) for a, b in ((1, 2), (2, 1), (2, 3))], [clean] * 3,
                         "every link clean with every layer popped")
        self.assertEqual(net.layers(), 0, "layers left")

    def test_snapshot_counts_read_the_node_log(self):
        log = ("snapshot at index 40 (term 2): 9000 bytes in 3 ms; log compacted up to 30\n"
               "snapshot at index 80 failed: disk full (next attempt after 40 more entries)\n"
               "sending snapshot 80 (9000 bytes) to member 3\n"
               "snapshot 80 sent to member 3: 9000 bytes in 5 ms\n"
               "receiving snapshot 120 (100 bytes) from member 1\n"
               "installed snapshot 120 (term 3) in 4 ms\n")
        self.assertEqual(snapshot_counts(log), {"taken": 1, "sent": 1, "installed": 1})

    def test_a_node_that_exits_by_itself_or_logs_a_crash_is_a_finding(self):
        class Gone:
            node_id, log_path = 2, "/nonexistent/lmsd.log"
            proc = subprocess.Popen(["sh", "-c", "exit 134"])

            def log_text(self):
                return "raft: leader\ncore/repl/wal.c:88: wal_append: assertion failed: n > 0\n"
        gone = Gone()
        gone.proc.wait()
        nem = Nemesis(type("C", (), {"net": None, "nodes": [gone]})(), 1, lambda: 0)
        self.assertFalse(nem.alive(gone), "a node whose process exited")
        nem.log_findings()
        self.assertEqual([e.split(";")[0].split(":")[0] for e in nem.errors],
                         ["node 2 exited by itself (exit 134)", "node 2 logged"],
                         "findings: %r" % nem.errors)
