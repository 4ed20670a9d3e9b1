# SPDX-License-Identifier: MIT
"""Attacks on the TLS ports from someone on the same network (a security
review of the TLS work). Each test is an attack that must fail.

Client port (TLS on, small limits):
- A connection over the per-address cap that speaks TLS is answered
  (UNAVAILABLE) and closed, not left hanging in its handshake.
- One over the cap that starts a handshake and stalls is closed soon; it
  does not hold a connection slot for ever.
- Connections that never send their first byte count against the
  per-address cap: one address cannot fill max_connections with them and
  lock everyone else out.

Peer port (mutual TLS):
- Identities that only look like ours (another cluster whose id has ours
  as prefix, extra path, leading zero, query, case, percent-encoding)
  prove nothing.
- A leaf certificate that is not for TLS clients (EKU serverAuth only) is
  not accepted as a client certificate.
"""

import os
import shutil
import socket
import ssl
import subprocess
import time
import unittest

import lmstest
from lmstest import (ADMIN, ADMIN_PW, Cluster, ClusterTestCase, E2ETestCase, RawConn,
                     issue_cert, peer_tls_context, wait_until)
from test_dos import raw_from
from test_peer_dos import hello
from test_tls import closed_without_answer


def tls_from(node, source, ctx, timeout=5.0):
    """A RawConn over TLS to node's client port from the loopback address
    source; raises if the handshake does not finish within timeout."""
    c = raw_from(node, source, timeout=timeout)
    c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost")
    return c


class ClientPortLimitsTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster_id = "tls-atk"
        cls.node, cls.certs, cls.dir = lmstest.tls_node(
            "tlsatk", cls.cluster_id,
            limits={"max_connections": 8, "max_connections_per_ip": 2,
                    "preauth_idle_timeout": "30s"})

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()
        cls.node.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def ctx(self):
        return ssl.create_default_context(cafile=self.certs["ca"])

    def hogs(self, source, n=2):
        out = []
        for _ in range(n):
            h = tls_from(self.node, source, self.ctx())
            self.assertStatus(h.call({"whoami": {}}), "UNAUTHENTICATED", "a hog's probe")
            out.append(h)
        return out

    def test_tls_connection_over_the_cap_is_answered(self):
        hogs = self.hogs("127.0.0.11")
        try:
            try:
                extra = tls_from(self.node, "127.0.0.11", self.ctx())
            except (socket.timeout, TimeoutError):
                self.fail("the handshake of a connection over the per-address cap hung")
            except (ssl.SSLError, ConnectionError):
                return  # closed during the handshake: refused, if tersely
            with extra:
                try:
                    r = extra.recv()
                except lmstest.ConnectionClosed:
                    return
                except (socket.timeout, TimeoutError):
                    self.fail("a connection over the per-address cap got no answer")
                self.assertStatus(r, "UNAVAILABLE", "a 3rd connection from one address")
                self.assertTrue(extra.is_closed(), "the 3rd connection is closed")
        finally:
            for h in hogs:
                h.close()

    def test_stalled_handshake_over_the_cap_is_closed(self):
        hogs = self.hogs("127.0.0.12")
        try:
            with raw_from(self.node, "127.0.0.12") as c:
                # the start of a ClientHello record, then nothing
                c.send_bytes(b"\x16\x03\x01\x02\x00\x01")
                start = time.monotonic()
                closed = c.is_closed(8.0)
                self.assertTrue(closed, "a stalled handshake over the cap was still open "
                                "after %.1f s" % (time.monotonic() - start))
        finally:
            for h in hogs:
                h.close()

    def test_silent_connections_count_against_the_address_cap(self):
        """8 connections that never send a byte, from one address with a
        cap of 2: the node must not let them fill max_connections (8)."""
        silent = []
        try:
            for _ in range(8):
                silent.append(socket.create_connection(
                    ("127.0.0.1", self.node.port), timeout=5,
                    source_address=("127.0.0.13", 0)))
            time.sleep(0.3)  # accepted
            try:
                with tls_from(self.node, "127.0.0.14", self.ctx()) as user:
                    tok = user.login(ADMIN, ADMIN_PW)
                    self.assertStatus(user.call({"token": tok, "whoami": {}}), "OK",
                                      "a user from another address beside 8 silent "
                                      "connections from one")
            except (socket.timeout, TimeoutError, ssl.SSLError, ConnectionError,
                    lmstest.ConnectionClosed) as e:
                self.fail("a user from another address was not served beside silent "
                          "connections from one: %r" % (e,))
        finally:
            for s in silent:
                s.close()


class PeerIdentityTest(ClusterTestCase):
    N = 3

    def refused(self, node, pair, what):
        ctx = peer_tls_context(self.cluster.certs["ca"], pair)
        try:
            raw = socket.create_connection(("127.0.0.1", node.peer_port), timeout=5)
            s = ctx.wrap_socket(raw)
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            return
        with s:
            try:
                s.sendall(hello(self.cluster.id, 2, node.node_id))
            except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
                return
            self.assertTrue(closed_without_answer(s), "%s: the node kept the connection" % what)

    def test_lookalike_identities_prove_nothing(self):
        c = self.cluster
        target = c.leader()
        d = os.path.join(c.dir, "tls")
        cid = c.id
        m = next(nd for nd in c.nodes if nd is not target).node_id
        looks = {
            "prefix cluster": "lms://%s-x/node/%d" % (cid, m),
            "cluster prefix": "lms://%s/node/%d" % (cid[:-1], m),
            "extra path": "lms://%s/node/%d/extra" % (cid, m),
            "leading zero": "lms://%s/node/0%d" % (cid, m),
            "query": "lms://%s/node/%d?x" % (cid, m),
            "upper scheme": "LMS://%s/node/%d" % (cid, m),
            "upper path": "lms://%s/NODE/%d" % (cid, m),
            "percent": "lms://%s/node/%%3%d" % (cid, m),
            "user info": "lms://x@%s/node/%d" % (cid, m),
            "port": "lms://%s:1/node/%d" % (cid, m),
            "sign": "lms://%s/node/+%d" % (cid, m),
            "huge": "lms://%s/node/%d" % (cid, 2 ** 64 + m),
            "zero": "lms://%s/node/0" % cid,
        }
        before = len(target.log_text())
        for i, (what, uri) in enumerate(sorted(looks.items())):
            pair = issue_cert(d, c.certs["ca_pair"], "look-%d" % i, uris=[uri])
            self.refused(target, pair, what)
        wait_until(lambda: target.log_text()[before:].count("peer TLS: refused: ")
                   >= len(looks), timeout=5, what="each look-alike refused by its identity")
        # the control: the same CA and the exact identity are accepted
        good = issue_cert(d, c.certs["ca_pair"], "look-good", uris=["lms://%s/node/%d" % (cid, m)])
        # (it replaces node 2's own connection, and node 2's next one
        # replaces it: only the absence of a refusal says it was accepted)
        before = len(target.log_text())
        raw = socket.create_connection(("127.0.0.1", target.peer_port), timeout=5)
        with peer_tls_context(c.certs["ca"], good).wrap_socket(raw) as s:
            s.sendall(hello(cid, m, target.node_id))
            closed_without_answer(s, timeout=1.0)
        self.assertNotIn("refused", target.log_text()[before:],
                         "the control (the exact identity) was refused")
        self.assertIsNotNone(c.leader(timeout=20), "the cluster still has a leader")

    def test_server_only_certificate_is_not_a_client_certificate(self):
        """A member certificate whose EKU is serverAuth only must not be
        accepted as the client side of the peer port's mutual TLS."""
        c = self.cluster
        target = c.leader()
        d = os.path.join(c.dir, "tls")
        crt, key = os.path.join(d, "srv2.crt"), os.path.join(d, "srv2.key")
        csr, ext = os.path.join(d, "srv2.csr"), os.path.join(d, "srv2.ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectAltName=URI:lms://%s/node/2\n" % c.id)
        lmstest._openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                         "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=srv2")
        lmstest._openssl("x509", "-req", "-in", csr, "-CA", c.certs["ca_pair"][0],
                         "-CAkey", c.certs["ca_pair"][1], "-CAcreateserial", "-out", crt,
                         "-days", "30", "-extfile", ext)
        os.chmod(key, 0o600)
        before = len(target.log_text())
        self.refused(target, (crt, key), "serverAuth-only certificate")
        # the chain check fails (purpose), before the identity is looked at
        wait_until(lambda: "TLS: certificate verify failed" in target.log_text()[before:],
                   timeout=5, what="the refusal logged")
        self.assertNotIn("peer TLS: refused", target.log_text()[before:])
        p = subprocess.run(["openssl", "verify", "-purpose", "sslclient", "-CAfile",
                            c.certs["ca"], crt], capture_output=True, text=True)
        self.assertIn("certificate purpose", p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
