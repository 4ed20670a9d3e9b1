# SPDX-License-Identifier: MIT
"""TLS on both ports (issue 10), the server's side, end to end.

Peer port (mutual TLS; every cluster of the e2e suite that is not proxied
runs with it, so the cluster tests are the test that members get in):
- The attack that issue 10 opened with, a plain connection that says hello
  as member 1 and forwards a command, is closed before a byte of it is
  read as a message.
- A certificate from another CA, one without an lms identity, one of
  another cluster, and one of the right CA for a node that is not a member:
  all refused, and the log says why.
- A member's certificate cannot speak for another member (hello `from`
  must be the certificate's member id).
- The other way: a node dialling member 3 at its address checks that the
  certificate there is member 3's; an impostor with member 2's certificate
  gets no byte of the node's messages.
- A member that is removed from the cluster is refused afterwards, though
  its certificate still verifies.

Client port:
- With tls.cert/tls.key, the port speaks TLS: a Python TLS client that
  trusts the cluster's CA logs in and reads; a plaintext client gets one
  plaintext answer, FAILED_PRECONDITION, saying the port speaks TLS.
- A config whose certificate does not name this node, or whose key others
  can read, is refused at start with a message saying so.
"""

import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import unittest

import lmstest
from lmstest import (ADMIN, ADMIN_PW, Cluster, ClusterTestCase, E2ETestCase, RawConn,
                     add_member_cert, issue_cert, make_ca, peer_tls_context, wait_until)
from test_peer_dos import hello, raft_msg


def closed_without_answer(sock, timeout=5.0):
    """True once the other end closed (EOF, reset, or a TLS alert), having
    sent no application bytes."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(4096)
    except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return data == b""


class PeerTlsTest(ClusterTestCase):
    N = 3

    def tls_dir(self):
        return os.path.join(self.cluster.dir, "tls")

    def connect(self, node, ctx):
        s = socket.create_connection(("127.0.0.1", node.peer_port), timeout=5)
        return ctx.wrap_socket(s)

    def refused_handshake(self, node, ctx, what):
        """The TLS handshake with node's peer port fails (or the node closes
        the connection at once)."""
        try:
            s = self.connect(node, ctx)
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
            return str(e)
        # TLS 1.3: the client's certificate is judged after the client
        # thinks the handshake is done; the node then closes
        with s:
            try:
                s.sendall(hello(self.cluster.id, 2, node.node_id))
            except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
                return "closed"
            self.assertTrue(closed_without_answer(s), "%s: the node kept the connection" % what)
        return "closed"

    def test_plain_connection_is_refused(self):
        c = self.cluster
        target = c.leader()
        with socket.create_connection(("127.0.0.1", target.peer_port), timeout=5) as s:
            try:
                s.sendall(hello(c.id, 2, target.node_id) +
                          raft_msg(7, 2, target.node_id, 10 ** 6))
            except (ConnectionResetError, BrokenPipeError):
                pass
            self.assertTrue(closed_without_answer(s), "a plaintext hello: not closed")
        wait_until(lambda: "TLS:" in target.log_text(), timeout=5,
                   what="the failed handshake logged")
        st = c.wait_caught_up(timeout=20)
        self.assertLess(st["term"], 1000, "the forged term took effect: %r" % (st,))

    def test_certificates_that_prove_nothing_are_refused(self):
        c = self.cluster
        target = c.leader()
        d = self.tls_dir()
        # another CA, same cluster id and member id: only the signature differs
        other = make_ca(os.path.join(d, "other"), c.id)
        forged = issue_cert(os.path.join(d, "other"), other, "forged-2",
                            uris=["lms://%s/node/2" % c.id])
        self.refused_handshake(target, peer_tls_context(c.certs["ca"], forged), "another CA")
        # the cluster's CA, but no lms identity / another cluster's
        bare = issue_cert(d, c.certs["ca_pair"], "bare")
        self.refused_handshake(target, peer_tls_context(c.certs["ca"], bare), "no identity")
        alien = issue_cert(d, c.certs["ca_pair"], "alien", uris=["lms://elsewhere/node/2"])
        self.refused_handshake(target, peer_tls_context(c.certs["ca"], alien), "another cluster")
        two = issue_cert(d, c.certs["ca_pair"], "two",
                         uris=["lms://%s/node/2" % c.id, "lms://%s/node/3" % c.id])
        self.refused_handshake(target, peer_tls_context(c.certs["ca"], two), "two identities")
        log = target.log_text()
        self.assertIn("has no lms://%s/node/ID name" % c.id, log)
        self.assertIn("names 'lms://elsewhere/node/2', not a node of cluster '%s'" % c.id, log)
        self.assertIn("names 2 lms:// identities; exactly one is expected", log)
        self.assertIsNotNone(c.leader(), "the cluster still has a leader")

    def test_a_member_cannot_speak_for_another(self):
        c = self.cluster
        target = c.leader()
        others = [nd for nd in c.nodes if nd is not target]
        liar, victim = others[0], others[1]
        with self.connect(target, c.peer_context(liar.node_id)) as s:
            s.sendall(hello(c.id, victim.node_id, target.node_id) +
                      raft_msg(7, victim.node_id, target.node_id, 10 ** 6))
            self.assertTrue(closed_without_answer(s), "a hello for another member: not closed")
        wait_until(lambda: "its certificate is node %d's, not node %d's"
                   % (liar.node_id, victim.node_id) in target.log_text(),
                   timeout=5, what="the refusal logged")
        # a certificate for a node id that is not a member
        nine = add_member_cert(self.tls_dir(), 9)
        with self.connect(target, peer_tls_context(c.certs["ca"], nine)) as s:
            s.sendall(hello(c.id, 9, target.node_id))
            self.assertTrue(closed_without_answer(s), "node 9's hello: not closed")
        wait_until(lambda: "it is not a member of this cluster" in target.log_text(),
                   timeout=5, what="node 9 refused as a non-member")
        st = c.wait_caught_up(timeout=20)
        self.assertLess(st["term"], 1000, "a forged term took effect: %r" % (st,))

    def test_the_dialled_node_must_be_the_member(self):
        """An impostor at member 3's address with member 2's (valid)
        certificate: the others' handshakes to it fail, so it reads none
        of their messages."""
        c = self.cluster
        leader = c.leader()
        victim = next(nd for nd in c.nodes if nd is not leader)
        liar = next(nd for nd in c.nodes if nd is not leader and nd is not victim)
        victim.stop()
        ctx = c.peer_context(liar.node_id, server_side=True)
        srv = socket.create_server(("127.0.0.1", victim.peer_port))
        srv.settimeout(10)
        got, errors = b"", []
        try:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                try:
                    raw, _ = srv.accept()
                except socket.timeout:
                    break
                try:
                    with ctx.wrap_socket(raw, server_side=True) as s:
                        s.settimeout(2)
                        got += s.recv(4096)
                except (ssl.SSLError, OSError) as e:
                    errors.append(str(e))
        finally:
            srv.close()
        self.assertEqual(got, b"", "the impostor read %d bytes of a member's messages" % len(got))
        self.assertTrue(errors, "nobody dialled the impostor")
        self.assertIn("the certificate names node %d, but node %d was dialled"
                      % (liar.node_id, victim.node_id), leader.log_text())
        victim.start()
        c.wait_caught_up(timeout=30)

    def test_a_removed_member_is_refused(self):
        """Node 4 joins with the certificate cluster-ca issued it (the
        membership change names id 4; its certificate proves it), is
        removed, and is refused afterwards though its certificate still
        verifies."""
        c = self.cluster
        admin = c.admin
        new = c.add_node()
        new.start()
        self.ok(admin.run("cluster-add", new.node_id, "127.0.0.1:%d" % new.peer_port,
                          new.addr), "cluster-add")

        def member(i):
            ms = [m for m in c.status()["members"] if m["id"] == i]
            return ms[0] if ms else None
        wait_until(lambda: (member(new.node_id) or {}).get("voter"), timeout=20,
                   what="node 4 a voter (it joined over mutual TLS)")
        self.ok(admin.run("cluster-remove", new.node_id), "cluster-remove")
        wait_until(lambda: member(new.node_id) is None, timeout=10, what="node 4 removed")
        new.stop()
        c.nodes.remove(new)
        leader = c.leader()
        # forgotten once the removal is committed and a grace period passed
        # (a removed leader still commits its removal and hands over)
        wait_until(lambda: "node %d is no longer a member" % new.node_id in leader.log_text(),
                   timeout=10, what="node 4 forgotten by the peer port")
        with self.connect(leader, c.peer_context(new.node_id)) as s:
            s.sendall(hello(c.id, new.node_id, leader.node_id))
            self.assertTrue(closed_without_answer(s), "a removed member's hello: not closed")
        wait_until(lambda: "it is not a member of this cluster" in leader.log_text(),
                   timeout=5, what="the removed member refused")

    def test_a_removed_initial_member_is_refused_even_after_a_restart(self):
        """An initial member (in every node's config file) removed by
        cluster-remove: refused, also by a node restarted afterwards (which
        reads the members from its config file again)."""
        c = self.cluster
        admin = c.admin
        leader = c.leader()
        gone = next(nd for nd in c.nodes if nd is not leader)
        other = next(nd for nd in c.nodes if nd is not leader and nd is not gone)
        self.ok(admin.run("cluster-remove", gone.node_id), "cluster-remove")
        wait_until(lambda: all(m["id"] != gone.node_id for m in c.status()["members"]),
                   timeout=10, what="node %d removed" % gone.node_id)
        gone.stop()
        c.nodes.remove(gone)
        c.wait_caught_up(timeout=20)
        other.stop()
        other.start()
        c.wait_caught_up(timeout=30)
        for nd in (leader, other):
            wait_until(lambda: "node %d is no longer a member" % gone.node_id in nd.log_text(),
                       timeout=10, what="node %d forgot node %d" % (nd.node_id, gone.node_id))
            with self.connect(nd, c.peer_context(gone.node_id)) as s:
                s.sendall(hello(c.id, gone.node_id, nd.node_id))
                self.assertTrue(closed_without_answer(s),
                                "node %d kept a removed member's connection" % nd.node_id)
            wait_until(lambda: "it is not a member of this cluster" in nd.log_text(),
                       timeout=5, what="node %d refused the removed member" % nd.node_id)
        self.ok(admin.run("create-course", "AFTER", "--title", "two members"),
                "the two members still commit")


class ClusterClientTlsTest(ClusterTestCase):
    """Three nodes with TLS on both ports: the CLIs (LMS_CACERT) follow
    NOT_LEADER over TLS, through a failover, and every acknowledged write
    is there on every node."""
    N = 3
    CLIENT_TLS = True

    def test_writes_follow_the_leader_over_tls(self):
        c = self.cluster
        admin = c.admin  # logged in over TLS, through the cluster's list
        for i in range(3):
            self.ok(admin.run("create-course", "T%d" % i, "--title", "over TLS"))
        old = c.leader()
        old.kill9()
        c.leader(timeout=20, among=[nd for nd in c.nodes if nd is not old])
        self.ok(admin.run("create-course", "T9", "--title", "after the failover"),
                "a write after the leader died, over TLS")
        old.start()
        c.wait_caught_up(timeout=30)
        res = self.ok(admin.run("-s", old.addr, "courses", json=True, server=False),
                      "a read through the restarted node (it redirects to the leader)")
        codes = sorted(x["code"] for x in res["courses"])
        self.assertEqualMsg(codes, ["T0", "T1", "T2", "T9"], "courses")
        self.assertSameData(c.nodes)
        # the client ports refuse plaintext
        with RawConn(old.port) as raw:
            raw.send({"whoami": {}})
            self.assertStatus(raw.recv(), "FAILED_PRECONDITION", "plaintext at a TLS port")


class ClientTlsTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster_id = "tls-e2e"
        cls.node, cls.certs, cls.dir = lmstest.tls_node("tlsc", cls.cluster_id)

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()
        cls.node.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def client_context(self, ca=None):
        ctx = ssl.create_default_context(cafile=ca or self.certs["ca"])
        return ctx

    def test_tls_client_logs_in_and_reads(self):
        with RawConn(self.node.port, tls=self.client_context()) as c:
            tok = c.login(ADMIN, ADMIN_PW)
            self.assertTrue(tok, "a token over TLS")
            r = c.call({"token": tok, "whoami": {}})
            self.assertStatus(r, "OK", "whoami over TLS")
        self.assertIn("TLSv1.3", self._version())

    def _version(self):
        with RawConn(self.node.port, tls=self.client_context()) as c:
            return c.sock.version()

    def test_plaintext_client_is_told_to_use_tls(self):
        with RawConn(self.node.port) as c:
            c.send({"whoami": {}})
            r = c.recv()
            self.assertStatus(r, "FAILED_PRECONDITION", "plaintext at a TLS port")
            self.assertEqual(r["id"], 0)
            self.assertIn("speaks TLS on its client port", r["message"])
            self.assertIn("--cacert", r["message"])
            self.assertTrue(closed_without_answer(c.sock), "closed after the answer")
        # and the node still serves TLS clients
        with RawConn(self.node.port, tls=self.client_context()) as c:
            self.assertStatus(c.call({"whoami": {}}), "UNAUTHENTICATED", "TLS after plaintext")

    def test_wrong_ca_or_name_fails_the_handshake(self):
        other = make_ca(os.path.join(self.dir, "other"), self.cluster_id)
        with self.assertRaises(ssl.SSLCertVerificationError):
            RawConn(self.node.port, tls=self.client_context(ca=other[0]))
        with self.assertRaises(ssl.SSLCertVerificationError):
            RawConn(self.node.port, tls=self.client_context(), server_hostname="lms.example.org")

    def test_lms_bench_speaks_tls(self):
        """lms-bench --cacert loads a TLS client port (bench/run-cluster
        BENCH_CLIENT_TLS=1); with another CA it stops at the handshake."""
        bench = lmstest._env_path("LMS_BENCH")
        pw = os.path.join(self.dir, "pw")
        with open(pw, "w") as f:
            f.write(ADMIN_PW + "\n")
        base = [bench, "-s", self.node.addr, "--op", "whoami", "--user", ADMIN,
                "--password-file", pw, "-n", "200", "-c", "2", "--json"]
        p = subprocess.run(base + ["--cacert", self.certs["ca"]], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        doc = json.loads(p.stdout)
        self.assertEqual((doc["errors"], doc["requests"] if "requests" in doc else 200),
                         (0, 200), doc)
        other = make_ca(os.path.join(self.dir, "bench-other"), self.cluster_id)
        p = subprocess.run(base + ["--cacert", other[0]], capture_output=True, text=True,
                           timeout=60)
        self.assertNotEqual(p.returncode, 0, "lms-bench trusted another CA")
        self.assertIn("TLS to %s" % self.node.addr, p.stderr)
        self.assertIn("certificate", p.stderr)

    def test_silent_connection_is_closed(self):
        """A connection that never sends its first byte is closed after
        preauth_idle_timeout (20 s by default: here the node's default is
        kept, so only check that others are served meanwhile)."""
        with socket.create_connection(("127.0.0.1", self.node.port), timeout=5):
            with RawConn(self.node.port, tls=self.client_context()) as c:
                self.assertStatus(c.call({"whoami": {}}), "UNAUTHENTICATED",
                                  "served beside a silent connection")


class TlsConfigTest(E2ETestCase):
    """Bad TLS files stop lmsd at start (and --check-config) with a message
    that names the file and the fault. A one-member cluster: a node with a
    peer port checks that its certificate names it."""

    def setUp(self):
        self.cluster = Cluster(n=1, name="tlscfg")
        self.nd = self.cluster[0]
        self.dir = os.path.join(self.cluster.dir, "tls")

    def tearDown(self):
        self.cluster.cleanup()

    def check_refused(self, tls, want):
        self.nd.tls = tls
        self.nd.write_config()
        p = self.nd.run_lmsd("--check-config", self.nd.config_path)
        err = p.stderr.decode(errors="replace")
        self.assertEqual(p.returncode, 2, "lmsd --check-config with %r: %s" % (tls, err))
        self.assertIn(want, err)
        p = self.nd.run_lmsd("--config", self.nd.config_path)
        err = p.stderr.decode(errors="replace")
        self.assertNotEqual(p.returncode, 0, "lmsd started with %r" % (tls,))
        self.assertIn(want, err)

    def test_bad_tls_files_are_refused_at_start(self):
        c = self.cluster
        ca = c.certs["ca"]
        crt, key = c.certs[1]
        two = add_member_cert(self.dir, 2)
        self.check_refused({"ca": ca, "cert": two[0], "key": two[1], "client": "off"},
                           "does not name this node (node 1 of cluster '%s')" % c.id)
        self.check_refused({"ca": ca, "cert": crt, "key": two[1]},
                           "does not belong to certificate")
        os.chmod(key, 0o644)
        try:
            self.check_refused({"ca": ca, "cert": crt, "key": key},
                               "is readable by group or others")
        finally:
            os.chmod(key, 0o600)
        other = make_ca(os.path.join(self.dir, "other"), c.id)
        self.check_refused({"ca": other[0], "cert": crt, "key": key, "client": "off"},
                           "does not verify against tls.ca")
        self.check_refused({"ca": ca, "cert": crt + ".missing", "key": key},
                           "cannot load tls certificate")
        expired = issue_cert(self.dir, c.certs["ca_pair"], "old",
                             uris=["lms://%s/node/1" % c.id], days=-1)
        self.check_refused({"ca": ca, "cert": expired[0], "key": expired[1]},
                           "has expired")
        # and the good files start it
        self.nd.tls = None
        self.nd.write_config()
        p = self.nd.run_lmsd("--check-config", self.nd.config_path)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))


if __name__ == "__main__":
    unittest.main()
