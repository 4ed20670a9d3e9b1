# SPDX-License-Identifier: MIT
"""listen.metrics end to end: a real lmsd serves /metrics (Prometheus text
format 0.0.4), /healthz and /readyz over HTTP; the numbers follow what the
CLIs did; a cluster member without a leader is not ready; bad HTTP
requests are refused while the client port goes on serving."""

import os
import re
import socket
import time
import urllib.error
import urllib.request

import lmstest
from lmstest import E2ETestCase

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def get(port, path, method="GET", timeout=5):
    """(status, body) of one HTTP request."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def parse(text):
    """{(name, frozenset(labels)): value}, checking the exposition format:
    every sample line parses, and every family has HELP and TYPE first."""
    samples, typed, helped = {}, {}, set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            typed[name] = kind
            continue
        m = SAMPLE.match(line)
        if not m:
            raise AssertionError("not a sample line: %r" % line)
        name, labels = m.group(1), {}
        if m.group(3):
            pos = 0
            for lm in LABEL.finditer(m.group(3)):
                if lm.start() != pos:
                    raise AssertionError("bad labels in %r" % line)
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
            if pos != len(m.group(3)):
                raise AssertionError("bad labels in %r" % line)
        family = re.sub(r'_(bucket|sum|count)$', '', name) \
            if re.sub(r'_(bucket|sum|count)$', '', name) in typed else name
        if family not in typed or family not in helped:
            raise AssertionError("%s has no HELP/TYPE before it" % name)
        samples[(name, frozenset(labels.items()))] = float(m.group(4))
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests(samples, op, status="OK"):
    return value(samples, "lms_requests_total", op=op, status=status)


def scrape(node):
    code, body = get(node.metrics_port, "/metrics")
    if code != 200:
        raise AssertionError("/metrics: expected 200, got %d: %s" % (code, body))
    return parse(body)


class MetricsSingleNodeTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(name="metrics", metrics=True)
        cls.a = cls.node.cli("lms-admin")
        res = cls.a.login(lmstest.ADMIN, lmstest.ADMIN_PW)
        assert res.rc == 0, repr(res)

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def test_counts_follow_the_requests(self):
        before = scrape(self.node)
        for i in range(3):
            self.ok(self.a.run("add-user", "mstu%d" % i, "--role", "student",
                               "--password-stdin", input="password-123\n"), "add-user")
        self.ok(self.a.run("users", json=True), "users")
        self.ok(self.a.run("users", json=True), "users")
        after = scrape(self.node)
        self.assertEqualMsg(requests(after, "add_user") - requests(before, "add_user"), 3,
                            "lms_requests_total{op=add_user,status=OK} rose by the adds")
        self.assertEqualMsg(requests(after, "list_users") - requests(before, "list_users"),
                            2, "lms_requests_total{op=list_users,status=OK} rose by the reads")
        for stage in ("apply", "propose_commit", "commit_apply"):
            d = value(after, "lms_request_seconds_count", stage=stage) - \
                value(before, "lms_request_seconds_count", stage=stage)
            self.assertGreaterEqual(d, 3, "stage %s counted the 3 writes" % stage)
        total = value(after, "lms_request_seconds_count", stage="total")
        self.assertGreaterEqual(total, 5, "stage total counts every request")
        self.assertGreaterEqual(value(after, "lms_fsync_seconds_count"), 3,
                                "the log writer's fsyncs are counted")
        self.assertEqualMsg(value(after, "lms_raft_is_leader"), 1, "a lone node leads")
        self.assertEqualMsg(value(after, "lms_raft_leader_id"), 1, "leader id")
        self.assertGreaterEqual(value(after, "lms_client_connections"), 0, "connections")

    def test_thread_cpu_by_name(self):
        """Each thread's CPU time, by name: the loop (lmsd), the storage
        thread, the readers, the log writer; they only grow, and the
        monotonic clock lets two scrapes make a rate."""
        before = scrape(self.node)
        for _ in range(5):
            self.ok(self.a.run("users", json=True), "users")
        after = scrape(self.node)
        threads = {dict(k[1])["thread"] for k in after
                   if k[0] == "lms_thread_cpu_seconds_total"}
        for want in ("lmsd", "storage-0", "reader-0", "log-writer"):
            self.assertIn(want, threads, "lms_thread_cpu_seconds_total names %s" % want)
        for name in threads:
            a = value(before, "lms_thread_cpu_seconds_total", thread=name)
            b = value(after, "lms_thread_cpu_seconds_total", thread=name)
            self.assertGreaterEqual(b, a, "CPU time of %s never goes back" % name)
        # the threads' sum is what the process used (less threads that
        # ended): never more, but for rounding (0.01 s a thread)
        with open("/proc/%d/stat" % self.node.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        process = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        total = sum(value(after, "lms_thread_cpu_seconds_total", thread=n) for n in threads)
        self.assertLessEqual(total, process + 0.1,
                             "threads' CPU %.2f s against the process' %.2f s"
                             % (total, process))
        self.assertGreater(value(after, "lms_monotonic_seconds"),
                           value(before, "lms_monotonic_seconds"), "the clock moves")

    def test_histograms_are_cumulative(self):
        s = scrape(self.node)
        for stage in ("total", "apply"):
            buckets = sorted(((float(dict(k[1])["le"]), v) for k, v in s.items()
                              if k[0] == "lms_request_seconds_bucket"
                              and dict(k[1]).get("stage") == stage),
                             key=lambda b: b[0])
            self.assertEqualMsg(buckets[-1][0], float("inf"), "the last bucket is +Inf")
            counts = [v for _, v in buckets]
            self.assertEqualMsg(counts, sorted(counts), "buckets are cumulative")
            self.assertEqualMsg(counts[-1], value(s, "lms_request_seconds_count", stage=stage),
                                "+Inf equals _count")

    def test_applied_index_matches_cluster_status(self):
        st = self.ok(self.a.run("cluster-status", json=True), "cluster-status")
        me = [m for m in st["members"] if m["id"] == 1][0]
        s = scrape(self.node)
        self.assertEqualMsg(value(s, "lms_raft_applied_index"), me["applied"],
                            "applied index: metrics vs cluster-status")
        self.assertEqualMsg(value(s, "lms_raft_commit_index"), st["commit"],
                            "commit index: metrics vs cluster-status")
        self.assertEqualMsg(value(s, "lms_raft_term"), st["term"], "term")

    def test_health_and_readiness(self):
        self.assertEqualMsg(get(self.node.metrics_port, "/healthz"), (200, "ok\n"), "/healthz")
        self.assertEqualMsg(get(self.node.metrics_port, "/readyz")[0], 200,
                            "/readyz on a running lone node")
        self.assertEqualMsg(get(self.node.metrics_port, "/metrics", "HEAD")[0], 200, "HEAD")

    def test_bad_requests_are_refused(self):
        port = self.node.metrics_port
        self.assertEqualMsg(get(port, "/metrics", "POST")[0], 405, "POST /metrics")
        self.assertEqualMsg(get(port, "/nothing")[0], 404, "unknown path")
        self.assertEqualMsg(get(port, "/metrics/x")[0], 404, "path below /metrics")
        # headers far above the limit: refused (413/431/400) or closed
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            try:
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " +
                          b"a" * 65536 + b"\r\n\r\n")
                reply = s.recv(200)
            except (ConnectionResetError, BrokenPipeError):
                reply = b""
            self.assertFalse(reply.startswith(b"HTTP/1.1 200"),
                             "an oversized request must not be served: %r" % reply[:80])
        # a body above the limit
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            try:
                s.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" +
                          b"b" * 100000)
                reply = s.recv(200)
            except (ConnectionResetError, BrokenPipeError):
                reply = b""
            self.assertFalse(reply.startswith(b"HTTP/1.1 200"), "oversized body: %r" % reply[:80])
        # connections beyond the limit are closed; the endpoint still serves after
        held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(40)]
        try:
            self.ok(self.a.run("users", json=True), "the client port serves meanwhile")
        finally:
            for s in held:
                s.close()
        deadline = time.monotonic() + 10
        while True:
            try:
                code = get(port, "/healthz")[0]
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.assertEqualMsg(code, 200, "/healthz after the flood")
        self.assertEqualMsg(self.node.proc.poll(), None, "lmsd still runs")


class MetricsClusterTest(E2ETestCase):
    def test_members_are_ready_and_a_lone_member_is_not(self):
        c = lmstest.Cluster(n=3, name="met", metrics=True)
        try:
            c.start()
            c.wait_caught_up()
            for nd in c.nodes:
                lmstest.wait_until(lambda nd=nd: get(nd.metrics_port, "/readyz")[0] == 200,
                                   timeout=10, what="node %d ready" % nd.node_id)
            leaders = sum(value(scrape(nd), "lms_raft_is_leader") for nd in c.nodes)
            self.assertEqualMsg(leaders, 1, "exactly one node says it leads")
            for nd in c.nodes:
                nd.stop()
            lone = c.nodes[2]
            lone.start()
            time.sleep(1.0)
            code, body = get(lone.metrics_port, "/readyz")
            self.assertEqualMsg(code, 503, "/readyz on a member whose peers are down")
            self.assertIn("leader", body, "the reason names the missing leader: %r" % body)
            self.assertEqualMsg(get(lone.metrics_port, "/healthz")[0], 200,
                                "/healthz while not ready")
        finally:
            c.cleanup()
