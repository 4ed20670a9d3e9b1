"""The CLIs over TLS, end to end: the client side of the client port.

- --cacert FILE and LMS_CACERT: login, a read and a write over TLS; the
  session remembers the choice (and the CA file, absolute), so the next
  command needs no option;
- a CA that did not sign the node's certificate: "not trusted", exit 2,
  at once, nothing stored;
- an address the certificate does not name: "do not include", exit 2;
- --cacert at a plaintext client port: "did not answer TLS", exit 2;
- a plaintext CLI at a TLS client port: the node's own message, as is;
- plaintext to an address of another machine: refused before any connect
  (exit 2), unless --plaintext.

The TLS client port here is a relay (Python's ssl) in front of a plaintext
lmsd: it accepts TLS with a node certificate made by the openssl CLI, and
answers a plaintext client the way lmsd's TLS port does (it peeks at the
first byte: a TLS record starts with 0x16).
"""

import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

import lmstest
from lmstest import ADMIN, ADMIN_PW, E2ETestCase


def make_ca_and_node(d, names=("DNS:localhost", "IP:127.0.0.1", "IP:::1")):
    """An EC P-256 CA (d/ca.crt) and a node certificate it signed
    (d/node.crt, d/node.key) for names and lms://test/node/1."""
    os.makedirs(d, exist_ok=True)

    def ossl(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    ossl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    ossl("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=lms test CA", "-days", "2",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.crt")
    ossl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "node.key")
    ossl("req", "-new", "-key", "node.key", "-subj", "/CN=node 1", "-out", "node.csr")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=%s,URI:lms://test/node/1\n" % ",".join(names))
        f.write("extendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n")
    ossl("x509", "-req", "-in", "node.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "node.crt")
    return {k: os.path.join(d, k + ".crt") for k in ("ca", "node")} | {
        "key": os.path.join(d, "node.key")}


class Relay:
    """A TCP listener on host that forwards each connection to target;
    with cert and key it first accepts TLS there (a TLS client port in
    front of a plaintext one)."""

    def __init__(self, target, host="127.0.0.1", cert=None, key=None):
        self.target = target
        self.ctx = None
        if cert:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            self.ctx.load_cert_chain(cert, key)
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.addr = "%s:%d" % (host, self.sock.getsockname()[1])
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            if self.ctx:
                c.settimeout(10)
                if c.recv(1, socket.MSG_PEEK) != b"\x16":
                    self._refuse_plaintext(c)
                    return
                c = self.ctx.wrap_socket(c, server_side=True)
                c.settimeout(None)
            host, port = self.target.rsplit(":", 1)
            u = socket.create_connection((host, int(port)), timeout=10)
            u.settimeout(None)
        except OSError:  # ssl.SSLError included: the client gave up
            c.close()
            return

        def pump(a, b):
            try:
                while True:
                    d = a.recv(65536)
                    if not d:
                        break
                    b.sendall(d)
            except OSError:
                pass
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        t = threading.Thread(target=pump, args=(u, c), daemon=True)
        t.start()
        pump(c, u)
        t.join()
        c.close()
        u.close()

    def _refuse_plaintext(self, c):
        # what lmsd's TLS client port answers a plaintext client
        msg = ("%s speaks TLS on its client port; give the cluster's CA certificate with "
               "--cacert FILE or LMS_CACERT (or --tls to use the system's CAs)" % self.addr)
        resp = lmstest.proto().encode("Response", {"id": 0, "status": "FAILED_PRECONDITION",
                                                   "message": msg})
        try:
            c.sendall(lmstest.frame(resp))
            c.shutdown(socket.SHUT_WR)
            while c.recv(65536):
                pass
        except OSError:
            pass
        c.close()

    def close(self):
        self.sock.close()


class TlsClientTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="lms-e2e-tls-")
        cls.certs = make_ca_and_node(os.path.join(cls.dir, "cluster"))
        cls.other = make_ca_and_node(os.path.join(cls.dir, "other"))
        cls.node = lmstest.started_node(name="tls")
        cls.tls = Relay(cls.node.addr, cert=cls.certs["node"], key=cls.certs["key"])
        # the same TLS port under an address its certificate does not name
        cls.tls_unnamed = Relay(cls.node.addr, host="127.0.0.2", cert=cls.certs["node"],
                                key=cls.certs["key"])

    @classmethod
    def tearDownClass(cls):
        cls.tls.close()
        cls.tls_unnamed.close()
        cls.node.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def admin(self):
        return self.node.cli("lms-admin")

    def run_at(self, cli, addr, *args, **kw):
        return cli.run("-s", addr, *args, server=False, **kw)

    def session(self, cli):
        with open(os.path.join(cli.home, "session")) as f:
            return json.load(f)

    def courses_stored(self):
        return {r[0] for r in lmstest.db_rows(self.node, "SELECT code FROM courses")}

    def config_error(self, res, what, *messages, took=None):
        """Exit 2, FAILED_PRECONDITION, each of messages and "nothing was
        sent" on stderr, within two seconds."""
        self.assertRc(res, 2, what)
        for m in messages + ("nothing was sent",):
            if m not in res.err:
                self.fail("%s: expected %r on stderr\n%r" % (what, m, res))
        if res.json is not None:
            self.assertEqual(res.json.get("status"), "FAILED_PRECONDITION", what)
        if took is not None and took > 2.0:
            self.fail("%s: took %.1f s; a configuration error must end at once, not after "
                      "the retry deadline\n%r" % (what, took, res))

    def timed(self, fn, *args, **kw):
        t0 = time.monotonic()
        res = fn(*args, **kw)
        return res, time.monotonic() - t0

    def test_cacert_login_read_write_and_the_session_remembers(self):
        a = self.admin()
        self.ok(self.run_at(a, self.tls.addr, "--cacert", self.certs["ca"], "login", ADMIN,
                            "--password-stdin", input=ADMIN_PW + "\n"), "login over TLS")
        s = self.session(a)
        self.assertEqual((s.get("tls"), s.get("cacert"), s.get("servers")),
                         ("cacert", self.certs["ca"], self.tls.addr), "the session file")
        accepted = self.tls.accepted
        # no -s, no --cacert: the session's servers and TLS
        self.ok(a.run("create-course", "TLS101", "--title", "Over TLS", server=False),
                "a write over TLS, as the session remembers")
        res = self.ok(a.run("courses", json=True, server=False), "a read over TLS")
        self.assertIn("TLS101", json.dumps(res))
        self.assertIn("TLS101", self.courses_stored())
        self.assertGreater(self.tls.accepted, accepted, "the commands went through TLS")

    def test_lms_cacert_relative_is_remembered_absolute(self):
        a = self.admin()
        cwd = os.path.dirname(self.certs["ca"])
        env = {"LMS_CACERT": "ca.crt"}
        self.ok(self.run_at(a, self.tls.addr, "login", ADMIN, "--password-stdin",
                            input=ADMIN_PW + "\n", env=env, cwd=cwd), "login with LMS_CACERT")
        self.assertEqual(self.session(a).get("cacert"), self.certs["ca"],
                         "LMS_CACERT=ca.crt stored as an absolute path")
        self.ok(self.run_at(a, self.tls.addr, "create-course", "ENV101", "--title", "t",
                            env=env, cwd=cwd), "a write with LMS_CACERT")
        self.ok(a.run("whoami", server=False, cwd="/"), "a read elsewhere, from the session")
        self.assertIn("ENV101", self.courses_stored())

    def test_wrong_ca_is_not_trusted_and_nothing_is_stored(self):
        a = self.admin()
        self.ok(self.run_at(a, self.tls.addr, "--cacert", self.certs["ca"], "login", ADMIN,
                            "--password-stdin", input=ADMIN_PW + "\n"), "login over TLS")
        res, took = self.timed(self.run_at, a, self.tls.addr, "--cacert", self.other["ca"],
                               "create-course", "BAD101", "--title", "t", json=True)
        self.config_error(res, "a write with the wrong CA",
                          "cannot use %s: its certificate is not trusted (" % self.tls.addr,
                          "by the CA certificates in %s" % self.other["ca"], "--cacert FILE",
                          took=took)
        self.assertNotIn("BAD101", self.courses_stored(), "nothing stored")
        # --tls: the system's CAs do not know the cluster's CA either
        res = self.run_at(a, self.tls.addr, "--tls", "whoami")
        self.config_error(res, "--tls", "not trusted (", "by the system's CAs")

    def test_an_address_the_certificate_does_not_name(self):
        res, took = self.timed(self.run_at, self.admin(), self.tls_unnamed.addr, "--cacert",
                               self.certs["ca"], "login", ADMIN, "--password-stdin",
                               input=ADMIN_PW + "\n")
        self.config_error(res, "TLS to 127.0.0.2",
                          "cannot use %s: its certificate is for node names that do not "
                          "include '127.0.0.2' (it names localhost, 127.0.0.1, ::1)"
                          % self.tls_unnamed.addr, took=took)
        # by a name it does hold: fine
        port = self.tls.addr.rsplit(":", 1)[1]
        self.ok(self.run_at(self.admin(), "localhost:%s" % port, "--cacert", self.certs["ca"],
                            "login", ADMIN, "--password-stdin", input=ADMIN_PW + "\n"),
                "TLS to localhost")

    def test_cacert_at_a_plaintext_port(self):
        res, took = self.timed(self.run_at, self.admin(), self.node.addr, "--cacert",
                               self.certs["ca"], "login", ADMIN, "--password-stdin",
                               input=ADMIN_PW + "\n")
        self.config_error(res, "--cacert at a plaintext port",
                          "cannot use %s: it did not answer TLS (is its client port "
                          "plaintext? tls.client in its config)" % self.node.addr, took=took)

    def test_plaintext_cli_at_a_tls_port_shows_the_nodes_answer(self):
        res = self.run_at(self.admin(), self.tls.addr, "login", ADMIN, "--password-stdin",
                          input=ADMIN_PW + "\n")
        self.refused(res, "FAILED_PRECONDITION", "a plaintext CLI at a TLS port", rc=1,
                     in_message="refused (FAILED_PRECONDITION): %s speaks TLS on its client "
                                "port; give the cluster's CA certificate with --cacert FILE or "
                                "LMS_CACERT (or --tls to use the system's CAs)" % self.tls.addr)

    def test_plaintext_to_another_machine_is_refused_before_connecting(self):
        a = self.admin()
        res, took = self.timed(self.run_at, a, "192.0.2.1:7400", "login", ADMIN,
                               "--password-stdin", input=ADMIN_PW + "\n", json=True)
        self.config_error(res, "plaintext to 192.0.2.1",
                          "cannot use 192.0.2.1:7400: 192.0.2.1 is not a loopback address",
                          "--cacert FILE or LMS_CACERT", "--plaintext (LMS_PLAINTEXT=1)",
                          took=took)
        self.assertLess(took, 1.0, "refused before any connect")
        # --plaintext lifts the rule: the CLI then tries to connect
        for extra, env in (((), {"LMS_PLAINTEXT": "1"}), (("--plaintext",), {})):
            env = dict(env, LMS_CLIENT_TIMEOUT="1")
            res = self.run_at(a, "192.0.2.1:7400", *extra, "login", ADMIN, "--password-stdin",
                              input=ADMIN_PW + "\n", env=env)
            self.assertRc(res, 3, "plaintext allowed (%s %s)" % (extra, env))
            self.assertNotIn("not a loopback address", res.err)


if __name__ == "__main__":
    unittest.main()
