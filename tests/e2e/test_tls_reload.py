# SPDX-License-Identifier: MIT
"""SIGHUP reloads the TLS certificates: rotation without a restart.

An admin replaces the files at the paths the node runs with (lms-admin
cluster-ca issue --force) and sends SIGHUP; lmsd then serves the new
certificates to new connections, on both ports, both ways, while open
connections go on.

- One node, TLS client port: a new connection after the HUP is served the
  new certificate (its serial), a connection opened before keeps working,
  and the log names the new certificate by serial.
- Files that fail the checks (a key that does not match, a garbage
  certificate): the HUP logs why and that the current certificates stay;
  new connections still get the previous one and the CLIs work.
- A config file that does not load changes nothing, new certificates on
  disk included; once it loads again, the HUP takes them.
- Three members with mutual TLS, every file (the CA too) replaced by a
  new CA's: after each member's HUP its peer port serves its new
  certificate to a peer holding the new CA's; a follower restarted with
  the new files and the leader, which was not restarted, make new
  connections both ways, which verify only if the leader took the new
  certificate and CA, and commit a write that needs that follower.
"""

import os
import shutil
import socket
import ssl
import subprocess
import unittest

import lmstest
from lmstest import (ADMIN, ADMIN_PW, ClusterTestCase, E2ETestCase, RawConn, cli_path,
                     peer_tls_context, wait_until)


def file_serial(crt):
    """The serial of the certificate in crt, as upper-case hex (as Python's
    getpeercert() and lmsd's log write it)."""
    out = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", crt],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return out.strip().split("=", 1)[1].upper()


def issue_force(dir, node_id):
    """lms-admin cluster-ca issue DIR ID --force: a new certificate and key
    for node_id over its old files, as an admin renews one."""
    p = subprocess.run([cli_path("lms-admin"), "cluster-ca", "issue", dir, str(node_id),
                        "--force"], capture_output=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("cluster-ca issue --force: %s" % p.stderr.decode())


def hup_and_wait(node, what, timeout=10):
    """SIGHUP node and wait for what in the log it writes from now on;
    returns that part of the log."""
    mark = len(node.log_text())
    node.hup()
    return wait_until(lambda: what in node.log_text()[mark:] and node.log_text()[mark:],
                      timeout=timeout, what="%r logged after SIGHUP" % what)


def hup_settled(node):
    """SIGHUP node once and, once it has handled that, return what it
    logged: a HUP is handled whole in one turn of the loop, so a second
    HUP's first line marks the end of the first's."""
    mark = len(node.log_text())
    node.hup()
    wait_until(lambda: "received SIGHUP" in node.log_text()[mark:], timeout=10,
               what="the first SIGHUP handled")
    node.hup()
    wait_until(lambda: node.log_text()[mark:].count("received SIGHUP") == 2, timeout=10,
               what="the second SIGHUP handled")
    seg = node.log_text()[mark:]
    first = seg.index("received SIGHUP")
    return seg[:seg.index("received SIGHUP", first + 1)]


class TlsReloadTest(E2ETestCase):
    """One node whose client port speaks TLS; each test leaves its files
    valid (a fresh certificate) for the next."""

    @classmethod
    def setUpClass(cls):
        cls.node, certs, cls.dir = lmstest.tls_node("tlsreload", "tlsreload")
        cls.ca = certs["ca"]
        cls.crt, cls.key = certs[1]
        cls.tls_dir = os.path.dirname(cls.ca)

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def context(self):
        return ssl.create_default_context(cafile=self.ca)

    def served_serial(self):
        """The serial of the certificate a new TLS connection is served."""
        with socket.create_connection(("127.0.0.1", self.node.port), timeout=5) as s:
            with self.context().wrap_socket(s, server_hostname="localhost") as t:
                return t.getpeercert()["serialNumber"].upper()

    def admin_cli(self):
        a = self.node.cli("lms-admin")
        env = {"LMS_CACERT": self.ca}
        self.ok(a.run("login", ADMIN, "--password-stdin", input=ADMIN_PW + "\n", env=env),
                "admin login over TLS")
        return a, env

    def rotate(self):
        """A new certificate for node 1 at the running paths, HUP, and the
        log line naming it; returns its serial."""
        before = file_serial(self.crt)
        issue_force(self.tls_dir, 1)
        serial = file_serial(self.crt)
        self.assertNotEqual(serial, before, "cluster-ca issue made a new serial")
        hup_and_wait(self.node, "reload: tls.cert %s: new certificate, serial %s, expires "
                     % (self.crt, serial))
        return serial

    def test_a_new_certificate_serves_new_connections_and_old_ones_go_on(self):
        old_serial = self.served_serial()
        self.assertEqual(old_serial, file_serial(self.crt), "the node serves its file")
        old = RawConn(self.node.port, tls=self.context())
        try:
            token = old.login(ADMIN, ADMIN_PW)
            self.assertEqual(old.sock.getpeercert()["serialNumber"].upper(), old_serial)
            new_serial = self.rotate()
            self.assertEqual(self.served_serial(), new_serial,
                             "a connection made after the HUP gets the new certificate")
            r = old.call({"token": token, "whoami": {}})
            self.assertEqual(r["status"], "OK", "the connection from before: %r" % (r,))
        finally:
            old.close()
        # a HUP with the same files: read again, no line about a new one
        self.assertNotIn("new certificate", hup_settled(self.node))
        a, env = self.admin_cli()
        self.ok(a.run("courses", env=env), "a CLI request after the rotation")

    def test_files_that_fail_keep_the_current_certificates(self):
        serial = self.rotate()  # a known, valid start
        with open(self.crt, "rb") as f:
            good_crt = f.read()
        with open(self.key, "rb") as f:
            good_key = f.read()
        other = lmstest.issue_cert(self.tls_dir, lmstest.make_ca(
            os.path.join(self.dir, "stray"), "tlsreload"), "stray",
            uris=["lms://tlsreload/node/1"])
        try:
            # a key that is not the certificate's
            shutil.copyfile(other[1], self.key)
            log = hup_and_wait(self.node, "still using the current certificates")
            self.assertIn("reload: tls: tls key %s does not belong to certificate %s; "
                          "still using the current certificates" % (self.key, self.crt), log)
            self.assertNotIn("new certificate", log)
            self.assertEqual(self.served_serial(), serial, "the previous certificate")
            # not a certificate at all (the key is the right one again)
            with open(self.key, "wb") as f:
                f.write(good_key)
            with open(self.crt, "wb") as f:
                f.write(b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
                        b"-----END CERTIFICATE-----\n")
            log = hup_and_wait(self.node, "still using the current certificates")
            self.assertIn("reload: tls: cannot load tls certificate %s" % self.crt, log)
            self.assertEqual(self.served_serial(), serial, "the previous certificate")
            a, env = self.admin_cli()
            self.ok(a.run("courses", env=env), "a CLI request after the failed reloads")
            self.assertTrue(self.node.running, "the node serves on")
        finally:
            with open(self.crt, "wb") as f:
                f.write(good_crt)
            with open(self.key, "wb") as f:
                f.write(good_key)

    def test_a_config_that_does_not_load_changes_no_certificate(self):
        serial = self.rotate()  # a known, valid start
        with open(self.node.config_path) as f:
            good_config = f.read()
        try:
            issue_force(self.tls_dir, 1)
            new_serial = file_serial(self.crt)
            with open(self.node.config_path, "w") as f:
                f.write(good_config + "no_such_key: 1\n")
            log = hup_and_wait(self.node, "reload failed")
            self.assertNotIn("new certificate", log)
            self.assertEqual(self.served_serial(), serial,
                             "a broken config file changes nothing, certificates included")
            with open(self.node.config_path, "w") as f:
                f.write(good_config)
            hup_and_wait(self.node, "new certificate, serial %s" % new_serial)
            self.assertEqual(self.served_serial(), new_serial, "once the file loads again")
        finally:
            with open(self.node.config_path, "w") as f:
                f.write(good_config)


class PeerTlsReloadTest(ClusterTestCase):
    N = 3

    def peer_serial(self, node, ctx):
        """The serial of the certificate node's peer port serves to a new
        connection made with ctx (whose certificate it must accept)."""
        with socket.create_connection(("127.0.0.1", node.peer_port), timeout=5) as s:
            with ctx.wrap_socket(s) as t:
                return t.getpeercert()["serialNumber"].upper()

    def test_every_member_rotates_to_a_new_ca_and_the_cluster_goes_on(self):
        c = self.cluster
        leader = c.leader()
        self.ok(c.admin.run("create-course", "RT1", "--title", "before"), "a write before")
        # new CA and certificates for the same cluster, made aside, then
        # copied over the files every member runs with
        new_dir = os.path.join(c.dir, "tls-new")
        new = lmstest.make_certs(new_dir, c.id, range(1, 4))
        running = c.certs
        for src, dst in [(new["ca"], running["ca"])] + \
                [(new[i][k], running[i][k]) for i in (1, 2, 3) for k in (0, 1)]:
            shutil.copyfile(src, dst + ".tmp")
            os.chmod(dst + ".tmp", 0o600)
            os.replace(dst + ".tmp", dst)
        for nd in c.nodes:
            serial = file_serial(running[nd.node_id][0])
            log = hup_and_wait(nd, "reload: tls.cert %s: new certificate, serial %s"
                               % (running[nd.node_id][0], serial))
            wait_until(lambda: "reload: tls.ca %s: new CA certificate" % running["ca"]
                       in nd.log_text(), timeout=5, what="the new CA logged")
            self.assertNotIn("still using the current certificates", log)
            # a peer with another member's new certificate: the node
            # must trust the new CA and serve its new certificate
            ctx = peer_tls_context(new["ca"], new[1 if nd.node_id != 1 else 2])
            self.assertEqual(self.peer_serial(nd, ctx), serial,
                             "node %d's peer port after its HUP" % nd.node_id)
        # a follower restarted: every connection to and from it is new; the
        # leader's are made with what its HUP loaded (the old CA's would
        # not verify at the follower, nor the follower's at the leader)
        follower, other = [nd for nd in c.nodes if nd is not leader]
        follower.restart(kill=True)
        other.stop()
        res = c.admin.run("create-course", "RT2", "--title", "after")
        self.ok(res, "a write that needs the restarted follower")
        self.assertIsNotNone(c.leader(among=[leader, follower]), "a leader of the two")
        wait_until(lambda: lmstest.db_rows(follower, "SELECT code FROM courses WHERE "
                                           "code = 'RT2'"), timeout=20,
                   what="RT2 applied on the restarted follower")


if __name__ == "__main__":
    unittest.main()
