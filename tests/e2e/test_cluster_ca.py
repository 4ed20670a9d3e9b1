# SPDX-License-Identifier: MIT
"""lms-admin cluster-ca: the TLS files of a cluster, made locally.

- init makes ca.crt (0644) and ca.key (0600) in a new 0700 directory: a
  self-signed CA whose subject O is the cluster id; a second init refuses
  (exit 2) and changes nothing;
- issue makes node-N.crt and node-N.key, signed by that CA: `openssl verify`
  passes, the subjectAltName holds exactly one URI lms://CLUSTER/node/N plus
  the --host names (localhost, 127.0.0.1, ::1 without any); it refuses to
  overwrite without --force; a certificate of another CA does not verify;
- bad node ids, cluster ids and hosts are usage errors (exit 2) that name
  what is wrong, and leave no file behind;
- the files work for mutual TLS: Python's ssl module, node 1 serving and
  requiring a client certificate, node 2 connecting to "localhost": each
  side sees the other's URI; a certificate of another CA is refused on
  either side.
No lmsd is started: the command is local (no session, no server).
"""

import hashlib
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import tempfile
import threading
import unittest

from lmstest import E2ETestCase, cli_path

CLUSTER = "prod-1"
OTHER = "prod-1"  # same id, other CA: only the key tells them apart
INT64_MAX = (1 << 63) - 1


class Run:
    def __init__(self, argv, p):
        self.argv = argv
        self.rc = p.returncode
        self.out = p.stdout
        self.err = p.stderr

    def __repr__(self):
        return "$ %s\n  exit %d\n  stdout: %s\n  stderr: %s" % (
            " ".join(self.argv), self.rc, self.out.strip()[:2000], self.err.strip()[:2000])


def snapshot(d):
    """{name: (mode, sha256)} of every entry of directory d."""
    out = {}
    for name in sorted(os.listdir(d)):
        path = os.path.join(d, name)
        with open(path, "rb") as f:
            out[name] = (stat.S_IMODE(os.stat(path).st_mode), hashlib.sha256(f.read()).hexdigest())
    return out


class ClusterCaTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which("openssl") is None:
            raise AssertionError("the openssl command is missing (scripts/bootstrap installs it)")
        cls.tmp = tempfile.mkdtemp(prefix="cluster-ca-")
        cls.home = os.path.join(cls.tmp, "home")
        cls.ca = os.path.join(cls.tmp, "ca")
        cls.other = os.path.join(cls.tmp, "other")
        for args in (["init", cls.ca, "--cluster", CLUSTER],
                     ["issue", cls.ca, "1", "--host", "node1.example.com", "--host", "10.0.0.1",
                      "--host", "localhost", "--host", "::1"],
                     ["issue", cls.ca, "2"],
                     ["init", cls.other, "--cluster", OTHER, "--days", "30"],
                     ["issue", cls.other, "1"],
                     ["issue", cls.other, "2"]):
            r = cls.admin(*args)
            if r.rc != 0:
                raise AssertionError("setup failed:\n%r" % r)

    @classmethod
    def tearDownClass(cls):
        if not os.environ.get("LMS_E2E_KEEP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def admin(cls, *args, json_out=False):
        # -s at a port nobody listens on and an empty --home: a local
        # command must need neither a server nor a session.
        argv = [cli_path("lms-admin"), "--home", cls.home, "-s", "127.0.0.1:1"]
        if json_out:
            argv.append("--json")
        argv += ["cluster-ca"] + [str(a) for a in args]
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                           universal_newlines=True)
        return Run(argv, p)

    def expect(self, r, rc, *in_err):
        if r.rc != rc:
            self.fail("expected exit %d, got %d\n%r" % (rc, r.rc, r))
        for text in in_err:
            if text not in r.err:
                self.fail("expected %r in the message\n%r" % (text, r))

    def openssl(self, *args):
        p = subprocess.run(["openssl"] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60, universal_newlines=True)
        return p

    def x509(self, path, *what):
        p = self.openssl("x509", "-in", path, "-noout", *what)
        self.assertEqual(p.returncode, 0, "openssl x509 %s: %s" % (path, p.stderr))
        return p.stdout

    def path(self, name, d=None):
        return os.path.join(d or self.ca, name)

    # -- what init and issue make ---------------------------------------

    def test_node_certificates_verify_against_their_ca(self):
        for n in ("node-1.crt", "node-2.crt"):
            p = self.openssl("verify", "-CAfile", self.path("ca.crt"), self.path(n))
            self.assertEqual(p.returncode, 0, "openssl verify %s: %s%s" % (n, p.stdout, p.stderr))
            self.assertIn(": OK", p.stdout)
            # with the purposes a node uses them for, too
            for purpose in ("sslserver", "sslclient"):
                p = self.openssl("verify", "-purpose", purpose, "-CAfile", self.path("ca.crt"),
                                 self.path(n))
                self.assertEqual(p.returncode, 0, "verify -purpose %s %s: %s%s"
                                 % (purpose, n, p.stdout, p.stderr))

    def test_certificate_of_another_ca_does_not_verify(self):
        p = self.openssl("verify", "-CAfile", self.path("ca.crt"),
                         self.path("node-1.crt", self.other))
        self.assertNotEqual(p.returncode, 0,
                            "a certificate of another CA verified: %s" % p.stdout)

    def test_san_holds_exactly_the_node_uri_and_the_hosts(self):
        san = self.x509(self.path("node-1.crt"), "-ext", "subjectAltName")
        self.assertEqual(san.count("URI:"), 1, san)
        for want in ("URI:lms://%s/node/1" % CLUSTER, "DNS:node1.example.com",
                     "IP Address:10.0.0.1", "DNS:localhost", "IP Address:0:0:0:0:0:0:0:1"):
            self.assertIn(want, san)
        self.assertNotIn("127.0.0.1", san, "defaults added although --host was given")
        san = self.x509(self.path("node-2.crt"), "-ext", "subjectAltName")
        self.assertEqual(san.count("URI:"), 1, san)
        for want in ("URI:lms://%s/node/2" % CLUSTER, "DNS:localhost", "IP Address:127.0.0.1",
                     "IP Address:0:0:0:0:0:0:0:1"):
            self.assertIn(want, san, "default hosts")

    def test_ca_and_node_certificates_have_the_agreed_fields(self):
        ca = self.x509(self.path("ca.crt"), "-subject", "-issuer", "-ext",
                       "basicConstraints,keyUsage,subjectKeyIdentifier", "-text")
        self.assertIn("subject=O = %s, CN = lms cluster CA" % CLUSTER, ca)
        self.assertIn("issuer=O = %s, CN = lms cluster CA" % CLUSTER, ca)
        self.assertIn("Basic Constraints: critical", ca)
        self.assertIn("CA:TRUE, pathlen:0", ca)
        self.assertIn("Key Usage: critical", ca)
        self.assertIn("Certificate Sign, CRL Sign", ca)
        self.assertIn("Subject Key Identifier", ca)
        self.assertIn("NIST CURVE: P-256", ca)
        self.assertIn("Version: 3", ca)
        node = self.x509(self.path("node-1.crt"), "-subject", "-text")
        self.assertIn("subject=O = %s, CN = node-1" % CLUSTER, node)
        self.assertIn("CA:FALSE", node)
        self.assertIn("Digital Signature", node)
        self.assertIn("TLS Web Server Authentication, TLS Web Client Authentication", node)
        self.assertIn("Authority Key Identifier", node)
        self.assertIn("ecdsa-with-SHA256", node)
        self.assertIn("NIST CURVE: P-256", node)
        # serials are random: two certificates never share one
        s1 = self.x509(self.path("node-1.crt"), "-serial")
        s2 = self.x509(self.path("node-2.crt"), "-serial")
        self.assertNotEqual(s1, s2)

    def test_validity_follows_days(self):
        # the other CA was made with --days 30: it ends within 31 days
        p = self.openssl("x509", "-in", self.path("ca.crt", self.other), "-noout",
                         "-checkend", str(31 * 86400))
        self.assertEqual(p.returncode, 1, "--days 30 CA still valid in 31 days: %s" % p.stdout)
        p = self.openssl("x509", "-in", self.path("ca.crt", self.other), "-noout",
                         "-checkend", str(29 * 86400))
        self.assertEqual(p.returncode, 0, "--days 30 CA not valid in 29 days: %s" % p.stdout)
        # a node certificate that outlives its CA is issued with a warning
        r = self.admin("issue", self.other, "3")
        self.expect(r, 0, "warning: the CA expires on")
        d = tempfile.mkdtemp(prefix="days-", dir=self.tmp)
        self.expect(self.admin("init", d, "--cluster", "w"), 0)
        r = self.admin("issue", d, "3")
        self.expect(r, 0)
        self.assertNotIn("warning", r.err)
        # a node's default is 825 days
        p = self.openssl("x509", "-in", self.path("node-2.crt"), "-noout", "-checkend",
                         str(824 * 86400))
        self.assertEqual(p.returncode, 0, "node certificate shorter than 825 days")

    def test_keys_are_private_and_match_their_certificates(self):
        self.assertEqual(stat.S_IMODE(os.stat(self.ca).st_mode), 0o700, "mode of the CA dir")
        for name, mode in (("ca.crt", 0o644), ("ca.key", 0o600), ("node-1.crt", 0o644),
                           ("node-1.key", 0o600), ("node-2.key", 0o600)):
            got = stat.S_IMODE(os.stat(self.path(name)).st_mode)
            self.assertEqual(got, mode, "mode of %s: expected %o, got %o" % (name, mode, got))
        for crt, key in (("ca.crt", "ca.key"), ("node-1.crt", "node-1.key")):
            a = self.openssl("x509", "-in", self.path(crt), "-noout", "-pubkey").stdout
            b = self.openssl("pkey", "-in", self.path(key), "-pubout").stdout
            self.assertTrue(a and a == b, "%s is not the key of %s" % (key, crt))
        # only the files named: no temporaries left behind
        self.assertEqual(sorted(os.listdir(self.ca)),
                         ["ca.crt", "ca.key", "node-1.crt", "node-1.key", "node-2.crt",
                          "node-2.key"])

    def test_json_output_names_the_files(self):
        d = tempfile.mkdtemp(prefix="json-", dir=self.tmp)
        ca = os.path.join(d, "ca")
        r = self.admin("init", ca, "--cluster", "j", json_out=True)
        self.expect(r, 0)
        doc = json.loads(r.out)
        self.assertEqual([f["path"] for f in doc["files"]],
                         [os.path.join(ca, "ca.crt"), os.path.join(ca, "ca.key")])
        r = self.admin("issue", ca, "7", json_out=True)
        self.expect(r, 0)
        doc = json.loads(r.out)
        self.assertEqual(doc["uri"], "lms://j/node/7")
        self.assertEqual(doc["node"], 7)
        self.assertEqual(doc["hosts"], ["localhost", "127.0.0.1", "::1"])
        self.assertEqual([(f["path"], f["mode"]) for f in doc["files"]],
                         [(os.path.join(ca, "node-7.crt"), "0644"),
                          (os.path.join(ca, "node-7.key"), "0600")])
        self.assertIn("tls.ca", doc["next"])

    def test_text_output_says_what_to_do_next(self):
        d = tempfile.mkdtemp(prefix="text-", dir=self.tmp)
        self.expect(self.admin("init", d, "--cluster", "t"), 0)  # an existing empty dir will do
        r = self.admin("issue", d, "3")
        self.expect(r, 0)
        self.assertIn("wrote %s" % os.path.join(d, "node-3.crt"), r.out)
        self.assertIn("wrote %s" % os.path.join(d, "node-3.key"), r.out)
        self.assertIn("copy ca.crt, node-3.crt and node-3.key to node 3; set tls.ca, tls.cert "
                      "and tls.key in its config", r.out)

    # -- refusals ------------------------------------------------------------

    def test_second_init_refuses_and_changes_nothing(self):
        before = snapshot(self.ca)
        r = self.admin("init", self.ca, "--cluster", CLUSTER)
        self.expect(r, 2, os.path.join(self.ca, "ca.crt"), "already exists")
        self.assertEqual(snapshot(self.ca), before, "files changed by a refused init")
        # a lone ca.key is enough to refuse, and no ca.crt appears
        d = os.path.join(self.tmp, "lonekey")
        os.mkdir(d, 0o700)
        with open(os.path.join(d, "ca.key"), "w") as f:
            f.write("old\n")
        r = self.admin("init", d, "--cluster", CLUSTER)
        self.expect(r, 2, "ca.key already exists")
        self.assertEqual(os.listdir(d), ["ca.key"])

    def test_issue_refuses_to_overwrite_without_force(self):
        d = tempfile.mkdtemp(prefix="force-", dir=self.tmp)
        self.expect(self.admin("init", d, "--cluster", CLUSTER), 0)
        self.expect(self.admin("issue", d, "5"), 0)
        before = snapshot(d)
        r = self.admin("issue", d, "5", "--host", "new.example.com")
        self.expect(r, 2, "node-5.crt already exists", "--force")
        self.assertEqual(snapshot(d), before, "files changed by a refused issue")
        r = self.admin("issue", d, "5", "--host", "new.example.com", "--force")
        self.expect(r, 0)
        after = snapshot(d)
        self.assertNotEqual(after["node-5.crt"], before["node-5.crt"])
        self.assertNotEqual(after["node-5.key"], before["node-5.key"])
        self.assertEqual(after["node-5.key"][0], 0o600, "replaced key's mode")
        self.assertEqual(sorted(after), sorted(before), "files other than the node's")
        self.assertIn("DNS:new.example.com",
                      self.x509(os.path.join(d, "node-5.crt"), "-ext", "subjectAltName"))
        p = self.openssl("verify", "-CAfile", os.path.join(d, "ca.crt"),
                         os.path.join(d, "node-5.crt"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_bad_node_ids_are_usage_errors(self):
        before = snapshot(self.ca)
        for nid, why in (("0", "start at 1"), ("+1", "digits only"), ("1x", "digits only"),
                         ("", "digits only"), ("0x10", "digits only"),
                         (str(INT64_MAX + 1), "too large"),
                         ("99999999999999999999999", "too large")):
            r = self.admin("issue", self.ca, "--", nid)
            self.expect(r, 2, "bad node id '%s'" % nid, why)
        r = self.admin("issue", self.ca, "-1")
        self.expect(r, 2, "'-1'")
        self.assertEqual(snapshot(self.ca), before, "a refused issue wrote files")
        # the largest id is fine
        d = tempfile.mkdtemp(prefix="maxid-", dir=self.tmp)
        self.expect(self.admin("init", d, "--cluster", "m"), 0)
        self.expect(self.admin("issue", d, str(INT64_MAX)), 0)
        self.assertIn("URI:lms://m/node/%d" % INT64_MAX,
                      self.x509(os.path.join(d, "node-%d.crt" % INT64_MAX), "-ext",
                                "subjectAltName"))

    def test_bad_cluster_ids_are_usage_errors(self):
        for cid, why in (("", "1 to 64"), ("x" * 65, "1 to 64"), ("a/b", "'/'"),
                         ("a b", "space"), ("a%b", "'%'"), ("a?b", "'?'"), ("a#b", "'#'"),
                         ("a@b", "'@'"), ("a:b", "':'"), ("a\tb", "0x09"),
                         ("caf\u00e9", "not printable ASCII")):
            d = os.path.join(self.tmp, "badcluster")
            r = self.admin("init", d, "--cluster", cid)
            self.expect(r, 2, "bad cluster id", why)
            self.assertFalse(os.path.exists(d), "refused init made %s" % d)
        d = os.path.join(self.tmp, "longcluster")
        self.expect(self.admin("init", d, "--cluster", "x" * 64), 0)

    def test_bad_hosts_are_usage_errors(self):
        before = snapshot(self.ca)
        for host, why in (("", "expected a DNS name"), ("*.example.com", "wildcard"),
                          ("[::1]", "'['"), ("a..b", "empty label"), ("-a.example", "'-'"),
                          ("a_b.example", "'_'"), ("fe80::1%eth0", "without brackets or zone"),
                          ("x" * 254, "at most 253"), ("a/b", "'/'")):
            r = self.admin("issue", self.ca, "9", "--host", "ok.example", "--host", host)
            self.expect(r, 2, "bad host", why)
        self.assertEqual(snapshot(self.ca), before, "a refused issue wrote files")

    def test_issue_without_a_ca_names_the_file(self):
        d = tempfile.mkdtemp(prefix="noca-", dir=self.tmp)
        r = self.admin("issue", d, "1")
        self.expect(r, 1, os.path.join(d, "ca.crt"), "cluster-ca init")
        self.assertEqual(os.listdir(d), [])
        # a key that is not the CA's
        shutil.copy(self.path("ca.crt"), d)
        shutil.copy(self.path("ca.key", self.other), d)
        r = self.admin("issue", d, "1")
        self.expect(r, 1, "ca.key is not the key of")
        self.assertEqual(sorted(os.listdir(d)), ["ca.crt", "ca.key"])

    def test_group_alone_lists_its_commands(self):
        r = self.admin()
        self.expect(r, 2, "init, issue")

    # -- mutual TLS with the files -------------------------------------------

    def handshake(self, server_files, client_files, ca_dir=None):
        """node server_files (crt, key) serves, requiring a client certificate
        from ca_dir's CA; a client with client_files connects to "localhost".
        Returns (server's view of the client cert or the exception,
        client's view of the server cert or the exception)."""
        cafile = self.path("ca.crt", ca_dir)
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(*server_files)
        sctx.verify_mode = ssl.CERT_REQUIRED
        sctx.load_verify_locations(cafile)
        cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        cctx.load_cert_chain(*client_files)
        cctx.load_verify_locations(cafile)
        self.assertTrue(cctx.check_hostname)
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        lsock.settimeout(20)
        got = {}

        def serve():
            try:
                conn, _ = lsock.accept()
                with sctx.wrap_socket(conn, server_side=True) as s:
                    got["server"] = s.getpeercert()
                    s.sendall(b"hello")
                    s.recv(16)
            except (OSError, ssl.SSLError) as e:
                got["server"] = e

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        try:
            with socket.create_connection(lsock.getsockname(), timeout=20) as raw:
                with cctx.wrap_socket(raw, server_hostname="localhost") as s:
                    peer = s.getpeercert()
                    # TLS 1.3: the server judges the client's certificate
                    # after the client's handshake is done; the data shows it
                    if s.recv(16) != b"hello":
                        raise ConnectionError("no data from the server")
                    s.sendall(b"bye")
                    got["client"] = peer
        except (OSError, ssl.SSLError) as e:
            got["client"] = e
        t.join(30)
        lsock.close()
        return got.get("server"), got.get("client")

    def files(self, n, d=None):
        return (self.path("node-%d.crt" % n, d), self.path("node-%d.key" % n, d))

    def test_mutual_tls_handshake_shows_each_side_the_others_uri(self):
        server, client = self.handshake(self.files(1), self.files(2))
        self.assertIsInstance(server, dict, "server side failed: %r" % (server,))
        self.assertIsInstance(client, dict, "client side failed: %r" % (client,))
        self.assertIn(("URI", "lms://%s/node/2" % CLUSTER), server["subjectAltName"])
        self.assertIn(("URI", "lms://%s/node/1" % CLUSTER), client["subjectAltName"])
        uris = [v for k, v in server["subjectAltName"] if k == "URI"]
        self.assertEqual(uris, ["lms://%s/node/2" % CLUSTER])

    def test_mutual_tls_refuses_a_certificate_of_another_ca(self):
        # a client with the other CA's certificate: the server refuses it
        server, client = self.handshake(self.files(1), self.files(2, self.other))
        self.assertIsInstance(server, ssl.SSLError, "server accepted a foreign client: %r"
                              % (server,))
        self.assertNotIsInstance(client, dict, "client got through: %r" % (client,))
        # a server with the other CA's certificate: the client refuses it
        server, client = self.handshake(self.files(1, self.other), self.files(2))
        self.assertIsInstance(client, ssl.SSLCertVerificationError,
                              "client accepted a foreign server: %r" % (client,))
        self.assertNotIsInstance(server, dict, "server got through: %r" % (server,))


if __name__ == "__main__":
    unittest.main()
