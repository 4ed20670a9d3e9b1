# SPDX-License-Identifier: MIT
"""lmsd as a Type=notify service (core/sd_notify.c): a real lmsd is given
NOTIFY_SOCKET, a datagram socket this test reads as systemd would, and
tells it READY=1 once it serves (a real client request answered at the
moment READY=1 arrives), STATUS= lines a person can read (leader,
follower of which node, waiting for a majority, draining), WATCHDOG=1 at
half of WATCHDOG_USEC, and STOPPING=1 when SIGTERM starts the drain. In
an lmsd built without libsystemd (lmsd --version says "systemd: no") the
same setting changes nothing but a warning in the log; each half skips
in the other build, saying why. Without NOTIFY_SOCKET (every other e2e
test) nothing changes either."""

import os
import re
import socket
import subprocess
import threading
import time
import unittest

import lmstest
from lmstest import E2ETestCase

# one ping every 200 ms (half of it)
WATCHDOG_USEC = 400000
# a STATUS= line: one line of printable ASCII, short enough for a terminal
STATUS_LINE = re.compile(r"^[\x20-\x7e]{1,200}$")


def built_with_systemd():
    """True/False from `lmsd --version` ("systemd: yes|no")."""
    out = subprocess.run([lmstest.lmsd_path(), "--version"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=30).stdout.decode()
    m = re.search(r"^systemd: (yes|no)$", out, re.M)
    if not m:
        raise AssertionError("lmsd --version says nothing of systemd: %r" % out)
    return m.group(1) == "yes"


class NotifySocket:
    """What systemd hears: a datagram socket bound where NOTIFY_SOCKET
    points, read by a thread into a list of (monotonic time, key, value),
    one per line of each datagram, in the order they came. on_ready(),
    if given, runs on that thread the moment READY=1 arrives (before any
    later datagram is read); its result or exception is kept."""

    def __init__(self, dir, on_ready=None):
        self.path = os.path.join(dir, "notify.sock")
        if len(self.path) >= 100:  # sun_path is 108 bytes: an abstract name
            self.path = "@lms-e2e-notify-%d-%d" % (os.getpid(), id(self))
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.path[1:] if self.path.startswith("@") else self.path)
        self.sock.settimeout(0.05)
        self.on_ready = on_ready
        self.ready_probe = None  # ("ok", result) or ("error", exception)
        self.bad = []  # lines that are not KEY=VALUE
        self._msgs = []
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        while not self._closed:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self._take(data)

    def _take(self, data):
        now = time.monotonic()
        for line in data.decode("utf-8", "replace").split("\n"):
            key, eq, value = line.partition("=")
            if not eq or not re.fullmatch(r"[A-Z_]+", key):
                self.bad.append(line)
                continue
            if key == "READY" and self.on_ready:  # before a waiter sees READY
                try:
                    self.ready_probe = ("ok", self.on_ready())
                except Exception as e:  # kept for the test to report
                    self.ready_probe = ("error", e)
            with self._lock:
                self._msgs.append((now, key, value))

    def messages(self):
        with self._lock:
            return list(self._msgs)

    def values(self, key):
        return [v for _, k, v in self.messages() if k == key]

    def last_status(self):
        st = self.values("STATUS")
        return st[-1] if st else None

    def wait_for(self, key, value=None, timeout=30.0):
        """The first (time, key, value) with this key (and value)."""
        def found():
            for m in self.messages():
                if m[1] == key and (value is None or m[2] == value):
                    return m
            return None
        return lmstest.wait_until(found, timeout=timeout,
                                  what="%s%s on NOTIFY_SOCKET" % (key, "=" + value if value else ""))

    def wait_status(self, pattern, timeout=30.0):
        """Until the latest STATUS= line matches pattern; returns it."""
        def latest():
            st = self.last_status()
            return st if st and re.search(pattern, st) else None
        try:
            return lmstest.wait_until(latest, timeout=timeout,
                                      what="STATUS= matching %r" % pattern)
        except AssertionError as e:
            raise AssertionError("%s; the STATUS= lines were %r"
                                 % (e, self.values("STATUS"))) from None

    def drain(self):
        """Read what the socket still holds (lmsd has exited), then stop."""
        self._closed = True
        self._thread.join()
        self.sock.setblocking(False)
        while True:
            try:
                self._take(self.sock.recv(65536))
            except (BlockingIOError, OSError):
                break

    def close(self):
        self._closed = True
        self._thread.join()
        self.sock.close()
        if not self.path.startswith("@"):
            try:
                os.unlink(self.path)
            except OSError:
                pass


def notified_node(name, watchdog=True, on_ready=None, **kw):
    """A Node (not started) whose lmsd gets NOTIFY_SOCKET (and
    WATCHDOG_USEC), and the NotifySocket it talks to."""
    nd = lmstest.Node(name=name, **kw)
    ns = NotifySocket(nd.dir, on_ready=on_ready(nd) if on_ready else None)
    nd.env["NOTIFY_SOCKET"] = ns.path
    if watchdog:
        nd.env["WATCHDOG_USEC"] = str(WATCHDOG_USEC)
    return nd, ns


def login_probe(nd):
    """A real client request, made the moment READY=1 arrives: the admin's
    login, which only a node that serves (and leads) answers OK."""
    def probe():
        with nd.raw(timeout=10.0) as c:
            r = c.call({"login": {"name": lmstest.ADMIN, "password": lmstest.ADMIN_PW}})
        return r["status"], r["message"]
    return probe


def whoami_probe(nd):
    """The first request of any client at READY=1 on a cluster member: a
    leader answers it (UNAUTHENTICATED: no token), a follower sends the
    client on with the leader's address; either means the node serves."""
    def probe():
        with nd.raw(timeout=10.0) as c:
            r = c.call({"whoami": {}})
        return r["status"], r["leader"]
    return probe


class SystemdCase(E2ETestCase):
    WANT_SYSTEMD = True  # the build these checks are for; None: either

    @classmethod
    def setUpClass(cls):
        if cls.WANT_SYSTEMD is not None and built_with_systemd() != cls.WANT_SYSTEMD:
            raise unittest.SkipTest(
                "lmsd was built %s libsystemd (lmsd --version says; CMake option "
                "LMS_SYSTEMD): these checks are for an lmsd built %s it"
                % (("without", "with") if cls.WANT_SYSTEMD else ("with", "without")))

    def assertStatusLines(self, ns):
        statuses = ns.values("STATUS")
        self.assertTrue(statuses, "at least one STATUS= line")
        for st in statuses:
            self.assertRegex(st, STATUS_LINE, "a STATUS= line is one short printable line")
        self.assertEqual(ns.bad, [], "every line sent is KEY=VALUE")

    def stop_and_drain(self, nd, ns):
        """SIGTERM, exit 0, every datagram read; the messages."""
        nd.stop()
        ns.drain()
        return ns.messages()


class SingleNodeTest(SystemdCase):
    """One node, the leader of its own cluster of one."""

    def setUp(self):
        self.node, self.ns = notified_node("sd1", on_ready=login_probe)
        self.addCleanup(self.node.cleanup)
        self.addCleanup(self.ns.close)
        self.node.init_admin()
        self.node.start()

    def test_ready_once_it_serves_then_status_watchdog_stopping(self):
        self.ns.wait_for("READY", "1")
        kind, got = self.ns.ready_probe or ("none", None)
        self.assertEqual((kind, got), ("ok", ("OK", "")),
                         "the admin's login, sent the moment READY=1 arrived, "
                         "is answered OK")
        # and through the real CLI
        self.ok(self.node.cli("lms-admin").login(lmstest.ADMIN, lmstest.ADMIN_PW),
                "lms-admin login after READY=1")
        self.ns.wait_status(r"^leader of term \d+, applied \d+$")

        # WATCHDOG_USEC=400 ms: a ping every 200 ms, from the loop
        first = len(self.ns.values("WATCHDOG"))
        lmstest.wait_until(lambda: len(self.ns.values("WATCHDOG")) - first >= 2,
                           timeout=1.5, what="2 WATCHDOG=1 pings within 1.5 s")
        self.assertEqual(set(self.ns.values("WATCHDOG")), {"1"}, "WATCHDOG=1 only")

        msgs = self.stop_and_drain(self.node, self.ns)
        keys = [k for _, k, _ in msgs]
        self.assertIn("STOPPING", keys, "STOPPING=1 before lmsd exited on SIGTERM")
        stopping = keys.index("STOPPING")
        self.assertEqual(msgs[stopping][2], "1", "STOPPING=1")
        self.assertEqual(keys.count("READY"), 1, "READY=1 exactly once: %r" % keys)
        self.assertLess(keys.index("READY"), stopping, "READY=1 came before STOPPING=1")
        after = [v for _, k, v in msgs[stopping:] if k == "STATUS"]
        self.assertEqual(after, ["draining: shutting down"],
                         "one STATUS= after STOPPING=1, saying it drains")
        self.assertStatusLines(self.ns)

    def test_status_first_says_it_starts(self):
        """Before its loop runs (storage, replay), the node says so."""
        self.ns.wait_for("READY", "1")
        statuses = self.ns.values("STATUS")
        self.assertTrue(statuses and statuses[0].startswith("starting: "),
                        "the first STATUS= says the node starts: %r" % statuses)
        self.assertStatusLines(self.ns)


class ClusterTest(SystemdCase):
    """Three nodes, no watchdog asked for: READY=1 needs a majority."""

    def setUp(self):
        self.cluster = lmstest.Cluster(3, name="sd")
        self.addCleanup(self.cluster.cleanup)
        self.ns = {}
        for nd in self.cluster.nodes:
            ns = NotifySocket(nd.dir, on_ready=whoami_probe(nd))
            self.addCleanup(ns.close)
            nd.env["NOTIFY_SOCKET"] = ns.path
            self.ns[nd.node_id] = ns

    def agreed(self):
        """The id of the node whose latest STATUS= says it leads, when
        every other one's says it follows that node; else None."""
        last = {i: ns.last_status() or "" for i, ns in self.ns.items()}
        leaders = [i for i, st in last.items()
                   if re.fullmatch(r"leader of term \d+, applied \d+", st)]
        if len(leaders) != 1:
            return None
        follow = re.compile(r"follower of node %d \(term \d+\), applied \d+" % leaders[0])
        if all(follow.fullmatch(st) for i, st in last.items() if i != leaders[0]):
            return leaders[0]
        return None

    def test_follower_names_its_leader(self):
        c = self.cluster
        c[1].start()  # one of three: no majority, so no leader
        self.ns[2].wait_status(r"^waiting for a majority \((pre-candidate|candidate|follower), "
                               r"term \d+\), applied \d+$")
        self.assertNotIn("READY", [k for _, k, _ in self.ns[2].messages()],
                         "no READY=1 from a node without a majority")
        c[2].start()
        c[0].init_admin()
        c[0].start()
        for nd in c.nodes:
            ns = self.ns[nd.node_id]
            ns.wait_for("READY", "1")
            kind, got = ns.ready_probe
            self.assertEqual(kind, "ok", "node %d answered at READY=1: %r" % (nd.node_id, got))
            status, hint = got
            self.assertIn(status, ("UNAUTHENTICATED", "NOT_LEADER"),
                          "node %d served a whoami at READY=1" % nd.node_id)
            if status == "NOT_LEADER":
                self.assertTrue(hint, "node %d knew its leader at READY=1" % nd.node_id)
        lead = lmstest.wait_until(self.agreed, timeout=30.0,
                                  what="one STATUS= 'leader of term T', the others "
                                       "'follower of node <its id>'")
        self.assertEqual(lead, c.leader().node_id,
                         "the node whose STATUS says it leads is the one clients find")
        for nd in c.nodes:
            msgs = self.stop_and_drain(nd, self.ns[nd.node_id])
            keys = [k for _, k, _ in msgs]
            self.assertIn("STOPPING", keys, "node %d: STOPPING=1 on SIGTERM" % nd.node_id)
            self.assertNotIn("WATCHDOG", keys,
                             "node %d: no WATCHDOG=1 without WATCHDOG_USEC" % nd.node_id)
            self.assertStatusLines(self.ns[nd.node_id])


class WithoutSystemdTest(SystemdCase):
    """An lmsd built without libsystemd ignores NOTIFY_SOCKET, and says so."""

    WANT_SYSTEMD = False

    def test_notify_socket_is_ignored(self):
        nd, ns = notified_node("sdno")
        self.addCleanup(nd.cleanup)
        self.addCleanup(ns.close)
        nd.init_admin()
        nd.start()
        self.ok(nd.cli("lms-admin").login(lmstest.ADMIN, lmstest.ADMIN_PW), "login")
        self.stop_and_drain(nd, ns)
        self.assertEqual(ns.messages(), [], "nothing sent to NOTIFY_SOCKET")
        self.assertIn("built without libsystemd", nd.log_text(),
                      "the log says why systemd hears nothing")


class NoNotifySocketTest(SystemdCase):
    """Not started by systemd: no NOTIFY_SOCKET, so no timer and no word
    of systemd, even when WATCHDOG_USEC is set."""

    WANT_SYSTEMD = None

    def test_runs_as_before(self):
        nd = lmstest.Node(name="sdnone", env={"WATCHDOG_USEC": str(WATCHDOG_USEC)})
        self.addCleanup(nd.cleanup)
        nd.init_admin()
        nd.start()
        self.ok(nd.cli("lms-admin").login(lmstest.ADMIN, lmstest.ADMIN_PW), "login")
        nd.stop()
        log = nd.log_text()
        for said in ("told systemd", "systemd watchdog", "tell systemd", "NOTIFY_SOCKET"):
            self.assertNotIn(said, log, "lmsd says nothing of systemd")


if __name__ == "__main__":
    unittest.main()
