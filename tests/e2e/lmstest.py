# SPDX-License-Identifier: MIT
"""lmstest: the harness of the end-to-end suite.

Real lmsd processes on loopback, driven through the real command-line
clients (lms-student, lms-instructor, lms-admin) and, for what the clients
never send, through a raw protocol connection (RawConn) with a tiny protobuf
encoder/decoder. Python 3 standard library only.

Environment (set by tests/e2e/CMakeLists.txt):
  LMSD                   the lmsd binary
  LMS_BIN                directory of the three CLIs
  LMS_PLUGIN_DIR         directory of the real plugins (storage_sqlite.so ...)
  LMS_BROKEN_PLUGIN_DIR  directory of the deliberately broken plugin fixtures
  LMS_SOURCE_DIR         the source tree (for proto/client.proto)
  LMS_E2E_KEEP=1         keep the temporary directories of the nodes

Pieces:
  Node      one lmsd: temp data dir, generated YAML config on a free port,
            init_admin(), start(), stop() (SIGTERM, exit 0), kill9(),
            restart(); its stderr goes to a file that is printed when a test
            of an E2ETestCase fails. Node(tutor={...}) adds a tutor: section
            (set_tutor() rewrites it, hup() sends SIGHUP: a reload of the
            config); log_options={"format": "json"} adds to log:; env= adds to
            lmsd's environment (an API key).
  MockOpenAI  tests/tutor/mock_openai.py on a free port, with its key in
            lmsd's environment under the variable tutor_config() names.
  Cli       runs one CLI with --home DIR (one per user) and -s 127.0.0.1:PORT;
            returns a CliResult (rc, out, err, json).
  RawConn   a TCP connection speaking the framing of proto/client.proto:
            send(Request dict) / send_frame(bytes) / recv() -> Response dict.
  E2ETestCase  unittest.TestCase whose failures print the node logs, with
            assertion helpers that say expected vs. got.
  Cluster   N nodes on loopback as one Raft cluster: start() (admin
            included), leader(), status() (cluster-status), wait_caught_up();
            cluster.cli(prog) talks to all of them, World(cluster) works.
            Cluster(proxied=True) puts a faultproxy.FaultNet on every peer
            link (cluster.net: cut, delay, partition, isolate, reset, heal).
            The peer port uses mutual TLS (certificates from make_certs in
            the cluster's directory); Cluster(peer_tls=False) says
            tls.peer: off instead, for tests that speak the peer protocol
            from a plain socket. Node(tls={...}) writes a tls: section.
  make_certs / issue_cert  a cluster CA and node certificates (openssl CLI);
            peer_tls_context() a Python ssl context holding one of them.
"""

import atexit
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

# ---------------------------------------------------------------------------
# paths


def _env_path(name, default=None):
    v = os.environ.get(name)
    if v:
        return v
    if default is not None:
        return default
    raise unittest.SkipTest("%s is not set; run the e2e tests through ctest" % name)


HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("LMS_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))


def lmsd_path():
    return _env_path("LMSD")


def bin_dir():
    return _env_path("LMS_BIN")


def plugin_dir():
    return _env_path("LMS_PLUGIN_DIR")


def broken_plugin_dir():
    return _env_path("LMS_BROKEN_PLUGIN_DIR")


def cli_path(prog):
    return os.path.join(bin_dir(), prog)


# What systemd gives a service it runs (core/sd_notify.h): a test run from
# inside such a service (a CI runner) must not pass them on to its nodes,
# which would talk to the runner's systemd; test_systemd.py sets its own.
SYSTEMD_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def lmsd_env(extra=None):
    """The environment of an lmsd: ours without SYSTEMD_ENV, plus extra."""
    env = {k: v for k, v in os.environ.items() if k not in SYSTEMD_ENV}
    env.update(extra or {})
    return env


# ---------------------------------------------------------------------------
# protobuf: a schema read from proto/client.proto, a varint / length-delimited
# encoder and a decoder. Only what client.proto uses: scalars, strings, bytes,
# enums, nested messages, repeated fields (packed or not on decode).

SCALARS = {
    "uint64", "uint32", "int64", "int32", "bool", "double", "string", "bytes",
}


class Proto:
    """Messages and enums of a .proto file, parsed with regular expressions
    (good enough for client.proto: flat messages, oneofs, two enums)."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        text = re.sub(r"//[^\n]*", "", text)
        self.enums = {}      # enum name -> {value name: number}
        self.messages = {}   # message name -> {field name: (number, type, repeated)}
        for m in re.finditer(r"\benum\s+(\w+)\s*\{([^}]*)\}", text):
            vals = {}
            for v in re.finditer(r"(\w+)\s*=\s*(-?\d+)\s*;", m.group(2)):
                vals[v.group(1)] = int(v.group(2))
            self.enums[m.group(1)] = vals
        # messages: find "message X {" and match braces (oneof blocks nest)
        for m in re.finditer(r"\bmessage\s+(\w+)\s*\{", text):
            depth, i = 1, m.end()
            while depth:
                if text[i] == "{":
                    depth += 1
                elif text[i] == "}":
                    depth -= 1
                i += 1
            body = text[m.end():i - 1]
            fields = {}
            for f in re.finditer(r"(repeated\s+)?([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;", body):
                fields[f.group(3)] = (int(f.group(4)), f.group(2), bool(f.group(1)))
            self.messages[m.group(1)] = fields
        self.by_number = {
            name: {num: (fname, typ, rep) for fname, (num, typ, rep) in fields.items()}
            for name, fields in self.messages.items()
        }
        self.enum_names = {e: {v: k for k, v in vals.items()} for e, vals in self.enums.items()}

    # -- encoding -------------------------------------------------------

    def encode(self, msg_type, value):
        """Encode a dict as msg_type. Unknown keys are an error, except
        integer keys: {99: b'...'} adds a raw length-delimited field 99,
        {(99, 0): 5} a raw varint field."""
        fields = self.messages[msg_type]
        out = bytearray()
        for key, v in value.items():
            if isinstance(key, int):
                out += key_bytes(key, 2) + varint(len(v)) + bytes(v)
                continue
            if isinstance(key, tuple):
                num, wt = key
                out += key_bytes(num, wt)
                out += varint(v) if wt == 0 else varint(len(v)) + bytes(v)
                continue
            if key not in fields:
                raise KeyError("%s has no field %s" % (msg_type, key))
            num, typ, rep = fields[key]
            for item in (v if rep else [v]):
                out += self._encode_field(num, typ, item)
        return bytes(out)

    def _encode_field(self, num, typ, v):
        if typ in ("uint64", "uint32", "int64", "int32"):
            return key_bytes(num, 0) + varint(v & 0xFFFFFFFFFFFFFFFF)
        if typ == "bool":
            return key_bytes(num, 0) + varint(1 if v else 0)
        if typ == "double":
            return key_bytes(num, 1) + struct.pack("<d", float(v))
        if typ == "string":
            b = v.encode("utf-8") if isinstance(v, str) else bytes(v)
            return key_bytes(num, 2) + varint(len(b)) + b
        if typ == "bytes":
            b = bytes(v)
            return key_bytes(num, 2) + varint(len(b)) + b
        if typ in self.enums:
            if isinstance(v, str):
                v = self.enums[typ][v]
            return key_bytes(num, 0) + varint(v)
        if typ in self.messages:
            b = self.encode(typ, v)
            return key_bytes(num, 2) + varint(len(b)) + b
        raise TypeError("cannot encode type %s" % typ)

    # -- decoding -------------------------------------------------------

    def decode(self, msg_type, data):
        """Decode data as msg_type into a dict. Absent scalar fields get
        proto3 defaults; enums become their names (numbers if unknown);
        message fields are present only if they were sent."""
        fields = self.messages[msg_type]
        nums = self.by_number[msg_type]
        out = {}
        for fname, (num, typ, rep) in fields.items():
            if rep:
                out[fname] = []
            elif typ in self.messages:
                continue
            else:
                out[fname] = self._default(typ)
        pos, n = 0, len(data)
        while pos < n:
            key, pos = read_varint(data, pos)
            num, wt = key >> 3, key & 7
            if wt == 0:
                raw, pos = read_varint(data, pos)
            elif wt == 1:
                raw, pos = data[pos:pos + 8], pos + 8
            elif wt == 2:
                ln, pos = read_varint(data, pos)
                raw, pos = data[pos:pos + ln], pos + ln
                if pos > n:
                    raise ValueError("truncated length-delimited field %d" % num)
            elif wt == 5:
                raw, pos = data[pos:pos + 4], pos + 4
            else:
                raise ValueError("unsupported wire type %d (field %d)" % (wt, num))
            if num not in nums:
                continue
            fname, typ, rep = nums[num]
            if rep and wt == 2 and typ not in ("string", "bytes") and typ not in self.messages:
                vals, p = [], 0
                while p < len(raw):
                    if typ == "double":
                        vals.append(struct.unpack("<d", raw[p:p + 8])[0])
                        p += 8
                    else:
                        x, p = read_varint(raw, p)
                        vals.append(self._scalar(typ, x))
                out[fname].extend(vals)
                continue
            val = self._value(typ, wt, raw)
            if rep:
                out[fname].append(val)
            else:
                out[fname] = val
        return out

    def _default(self, typ):
        if typ == "string":
            return ""
        if typ == "bytes":
            return b""
        if typ == "bool":
            return False
        if typ == "double":
            return 0.0
        if typ in self.enums:
            return self.enum_names[typ].get(0, 0)
        return 0

    def _scalar(self, typ, x):
        if typ == "bool":
            return bool(x)
        if typ in ("int64", "int32") and x >= 1 << 63:
            return x - (1 << 64)
        if typ in self.enums:
            return self.enum_names[typ].get(x, x)
        return x

    def _value(self, typ, wt, raw):
        if typ == "double":
            return struct.unpack("<d", raw)[0]
        if typ == "string":
            return bytes(raw).decode("utf-8", "replace")
        if typ == "bytes":
            return bytes(raw)
        if typ in self.messages:
            return self.decode(typ, bytes(raw))
        return self._scalar(typ, raw)


def varint(n):
    if n < 0:
        n &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key_bytes(num, wiretype):
    return varint(num << 3 | wiretype)


def read_varint(data, pos):
    shift = result = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


_PROTO = None


def proto():
    global _PROTO
    if _PROTO is None:
        _PROTO = Proto(os.path.join(SOURCE_DIR, "proto", "client.proto"))
    return _PROTO


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


# ---------------------------------------------------------------------------
# helpers


_PORTS_GIVEN = set()
_PORTS_LOCK = threading.Lock()


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def _port_free(port):
    """Nobody listens on or holds port, on any address (the peer port binds
    0.0.0.0)."""
    for addr in ("0.0.0.0", "127.0.0.1"):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((addr, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_port():
    """A loopback port nobody listens on, never one this process handed out
    before (a node's client and peer ports must differ). Chosen outside the
    kernel's ephemeral range: a port from inside it (what binding port 0
    gives) can be taken by any outgoing connection of another test, or of
    the MariaDB server, between this check and lmsd's bind ("Address
    already in use", a flake of e2e_test_partition and others). Outside it
    only another test process choosing the same random port can collide."""
    lo, hi = _ephemeral_range()
    first, last = (10000, lo - 1) if lo > 12000 else (hi + 1, 65000)
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(1000):
        port = rng.randint(first, last)
        with _PORTS_LOCK:
            if port in _PORTS_GIVEN:
                continue
        if _port_free(port):
            with _PORTS_LOCK:
                if port not in _PORTS_GIVEN:
                    _PORTS_GIVEN.add(port)
                    return port
    raise AssertionError("no free port in %d..%d" % (first, last))


def db_rows(node, sql):
    """Rows of sql in node's SQLite file, opened read-only (the node may be
    running: WAL mode lets a reader in)."""
    path = os.path.join(node.data_dir, "lms.db")
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def mariadb():
    """The tests' own MariaDB server (scripts/mariadb-test, started by
    ctest's "mariadb" fixture): a dict of its coordinates read from the
    file LMS_MARIADB_ENV names (socket, host, port, user, password_file),
    or None when the build has no storage_mysql."""
    path = os.environ.get("LMS_MARIADB_ENV")
    if not path:
        return None
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            if k.startswith("LMS_MARIADB_"):
                out[k[len("LMS_MARIADB_"):].lower()] = v
    return out


def mariadb_options(database):
    """storage: options for storage_mysql on the tests' server, database
    `database` (created by the plugin at the first start)."""
    m = mariadb()
    if m is None:
        raise unittest.SkipTest("this build has no storage_mysql")
    return {"socket": m["socket"], "database": database, "user": m["user"],
            "password_file": m["password_file"]}


def mariadb_sql(sql, database=None):
    """Rows of sql on the tests' MariaDB server (as the tests' user), each
    a tuple of strings (NULL: None)."""
    m = mariadb()
    argv = ["mariadb", "--no-defaults", "--protocol=socket", "-S", m["socket"],
            "-u", m["user"], "--batch", "--skip-column-names", "--raw"]
    if database:
        argv.append(database)
    env = dict(os.environ)
    with open(m["password_file"]) as f:
        env["MYSQL_PWD"] = f.read().strip()
    p = subprocess.run(argv + ["-e", sql], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=env, timeout=60)
    if p.returncode != 0:
        raise AssertionError("mariadb %r: %s" % (sql, p.stderr.decode(errors="replace")))
    rows = []
    for line in p.stdout.decode().splitlines():
        rows.append(tuple(None if c == "NULL" else c for c in line.split("\t")))
    return rows


def node_rows(node, sql):
    """Rows of sql in node's store, whichever backend it runs on, every
    value as a string (so that rows of two backends compare)."""
    if node.storage_plugin == "storage_mysql":
        return mariadb_sql(sql, node.storage_options["database"])
    return [tuple(None if v is None else str(v) for v in r) for r in db_rows(node, sql)]


def wait_applied(node, index, timeout=30.0):
    """Until node's own store says it applied index (its meta row): a node
    restarted moments ago may still show, in the leader's cluster-status,
    the applied index it reported before it stopped."""
    def applied():
        try:
            rows = db_rows(node, "SELECT value FROM meta WHERE key = 'applied_index'")
        except sqlite3.Error:
            return False
        return rows and int(rows[0][0]) >= index
    wait_until(applied, timeout=timeout,
               what="node %d's store applied index %d" % (node.node_id, index))


def file_body(node, sha):
    """The body named sha (bytes) in node's file store
    (<data_dir>/files/XX/<hex>, docs/operations.md), None if it has none."""
    h = bytes(sha).hex()
    try:
        with open(os.path.join(node.data_dir, "files", h[:2], h), "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def thread_nice(node, name):
    """The nice value of node's thread called name (from
    /proc/PID/task/TID/stat), None when it has no such thread."""
    task = "/proc/%d/task" % node.proc.pid
    for tid in os.listdir(task):
        try:
            with open(os.path.join(task, tid, "stat")) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        if comm == name:
            # fields after the name: state is field 3, nice field 19
            return int(stat[stat.rindex(")") + 2:].split()[16])
    return None


def titles(node):
    """The titles of the questions in node's database, with their counts."""
    return dict(db_rows(node, "SELECT title, count(*) FROM queries GROUP BY title"))


def wait_until(pred, timeout=10.0, interval=0.02, what="condition"):
    """Poll pred() until it returns a true value (returned), or fail."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def e2e_seed():
    """LMS_E2E_SEED, or one drawn from the clock (print it to replay)."""
    v = os.environ.get("LMS_E2E_SEED")
    return int(v) if v else int(time.time() * 1000) % 1000000


def iso(ts):
    """Unix seconds -> ISO 8601 UTC, as the CLIs accept and print."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


_ALL_NODES = []
_CLEANED_LOGS = []  # (name, path, tail) of nodes cleaned up during the running test
_ALL_NODES_LOCK = threading.Lock()

ADMIN = "root"
ADMIN_PW = "rootpass-123"

# ---------------------------------------------------------------------------
# TLS files


def _openssl(*args, cwd=None):
    p = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("openssl %s failed: %s" % (" ".join(args), p.stderr.decode()))


def make_ca(dir, cluster, name="ca"):
    """A cluster CA in dir: returns (crt, key)."""
    os.makedirs(dir, exist_ok=True)
    crt, key = os.path.join(dir, name + ".crt"), os.path.join(dir, name + ".key")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", key, "-out", crt, "-days", "365",
             "-subj", "/CN=lms cluster CA/O=%s" % cluster,
             "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    os.chmod(key, 0o600)
    return crt, key


def issue_cert(dir, ca, name, uris=(), hosts=("localhost", "127.0.0.1", "::1"), days=365):
    """A leaf certificate signed by ca=(crt, key), with subjectAltName URIs
    (e.g. lms://CLUSTER/node/1) and hosts: returns (crt, key)."""
    crt, key = os.path.join(dir, name + ".crt"), os.path.join(dir, name + ".key")
    csr, ext = os.path.join(dir, name + ".csr"), os.path.join(dir, name + ".ext")
    sans = ["URI:%s" % u for u in uris]
    sans += ["IP:%s" % h if re.match(r"^[0-9.]+$|:", h) else "DNS:%s" % h for h in hosts]
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth,clientAuth\n")
        if sans:
            f.write("subjectAltName=%s\n" % ",".join(sans))
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", csr, "-subj", "/CN=%s" % name)
    _openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
             "-out", crt, "-days", str(days), "-extfile", ext)
    os.chmod(key, 0o600)
    return crt, key


def make_certs(dir, cluster, node_ids):
    """The cluster's TLS files, made as an admin would (lms-admin cluster-ca
    init, then issue per member): {"ca": crt, "ca_pair": (crt, key),
    id: (crt, key)}."""
    admin = cli_path("lms-admin")
    p = subprocess.run([admin, "cluster-ca", "init", dir, "--cluster", cluster],
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("lms-admin cluster-ca init: %s" % p.stderr.decode())
    out = {"ca": os.path.join(dir, "ca.crt"),
           "ca_pair": (os.path.join(dir, "ca.crt"), os.path.join(dir, "ca.key"))}
    for i in node_ids:
        out[i] = add_member_cert(dir, i)
    return out


def add_member_cert(dir, node_id):
    """lms-admin cluster-ca issue DIR NODE_ID: (crt, key)."""
    p = subprocess.run([cli_path("lms-admin"), "cluster-ca", "issue", dir, str(node_id)],
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("lms-admin cluster-ca issue: %s" % p.stderr.decode())
    return (os.path.join(dir, "node-%d.crt" % node_id),
            os.path.join(dir, "node-%d.key" % node_id))


def tls_node(name, cluster_id, start=True, **node_kw):
    """A lone node whose client port speaks TLS, with a CA and certificate
    made fresh in a directory of its own: (node, certs, dir). Started (the
    admin created first) unless start=False; clean up with node.cleanup()
    and shutil.rmtree(dir)."""
    d = tempfile.mkdtemp(prefix="lms-e2e-%s-" % name)
    certs = make_certs(os.path.join(d, "tls"), cluster_id, [1])
    crt, key = certs[1]
    kw = dict(name=name, tls={"ca": certs["ca"], "cert": crt, "key": key},
              extra_yaml="cluster: { id: %s }\n" % cluster_id, **node_kw)
    return (started_node(**kw) if start else Node(**kw)), certs, d


def peer_tls_context(ca, pair, server_side=False):
    """A Python ssl context that speaks the peer port's mutual TLS with the
    certificate pair=(crt, key), trusting ca (a file)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(pair[0], pair[1])
    ctx.load_verify_locations(ca)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


# ---------------------------------------------------------------------------
# Node


class Node:
    """One lmsd process with its own temporary directory."""

    def __init__(self, name="node", ttl=None, limits=None, log_level="info", log_options=None,
                 extra_yaml="", storage_plugin="storage_sqlite", tutor=None, env=None,
                 node_id=1, cluster=None, tls=None, metrics=False, storage_options=None):
        self.name = name
        # listen.metrics on a port of its own (None: the endpoint is off)
        self.metrics_port = free_port() if metrics else None
        self.tls = dict(tls) if tls else None  # the tls: section, as written
        self.node_id = node_id
        self.cluster = cluster  # a Cluster: this node is one of its members
        self.peer_port = free_port() if cluster else None
        self.proxied = False  # a FaultNet listens on [::1]:peer_port for it
        self.dir = tempfile.mkdtemp(prefix="lms-e2e-%s-" % name)
        self.data_dir = os.path.join(self.dir, "data")
        self.config_path = os.path.join(self.dir, "lmsd.yaml")
        self.log_path = os.path.join(self.dir, "lmsd.log")
        self.port = free_port()
        self.ttl = ttl
        self.limits = dict(limits or {})
        self.log_level = log_level
        self.log_options = dict(log_options or {})  # the rest of log: (format ...)
        self.extra_yaml = extra_yaml
        self.storage_plugin = storage_plugin
        self.storage_options = dict(storage_options or {})  # the rest of storage:
        self.tutor = dict(tutor) if tutor else None
        self.env = dict(env or {})
        # The slow-disk fault hook (core/base/fault.h; test builds only): each
        # command-log fsync waits the milliseconds this file holds.
        self.fsync_stall_path = os.path.join(self.dir, "fsync-stall")
        self.env.setdefault("LMSD_FAULT_FSYNC_STALL", self.fsync_stall_path)
        self.proc = None
        self._log = None
        self.write_config()
        with _ALL_NODES_LOCK:
            _ALL_NODES.append(self)

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    @property
    def cacert(self):
        """The CA file the harness's CLIs and probes trust: a member of a
        Cluster(client_tls=True). A node given its own tls= section leaves
        TLS to its test (which may mean to speak plaintext to it)."""
        if self.tls is not None:
            return None
        return self.cluster.cacert if self.cluster else None

    def client_context(self):
        """A Python ssl context for the client port (None: plaintext)."""
        return ssl.create_default_context(cafile=self.cacert) if self.cacert else None

    @property
    def peer_addr(self):
        """Where the other members reach this node's peer port."""
        return "[::1]:%d" % self.peer_port if self.proxied else "127.0.0.1:%d" % self.peer_port

    def config_text(self):
        lines = [
            "node:",
            "  id: %d" % self.node_id,
            "  data_dir: %s" % self.data_dir,
            "listen:",
            "  client: 127.0.0.1:%d" % self.port,
        ]
        if self.peer_port:
            # proxied (Cluster(proxied=True)): every node's view of the
            # members says [::1]:PORT, where the proxy listens; the node
            # listens on 0.0.0.0:PORT (same port: lmsd accepts its own
            # member address then), reached through the proxy on 127.0.0.1
            lines.append("  peer: %s:%d" % ("0.0.0.0" if self.proxied else "127.0.0.1",
                                            self.peer_port))
        if self.metrics_port:
            lines.append("  metrics: 127.0.0.1:%d" % self.metrics_port)
        lines += [
            "plugin_dir: %s" % plugin_dir(),
            "log:",
            "  level: %s" % self.log_level,
        ]
        lines += ["  %s: %s" % kv for kv in self.log_options.items()]
        if self.ttl:
            lines += ["sessions:", "  ttl: %s" % self.ttl]
        if self.limits:
            lines.append("limits:")
            lines += ["  %s: %s" % kv for kv in self.limits.items()]
        lines += [
            "storage:",
            "  plugin: %s" % self.storage_plugin,
        ]
        lines += ["  %s: %s" % (k, json.dumps(v)) for k, v in self.storage_options.items()]
        lines += [
            "auth:",
            "  plugin: auth_password",
            "  time_cost: 1",
            "  memory_kib: 1024",
            "  parallelism: 1",
        ]
        if self.tutor:
            lines.append("tutor:")
            lines += ["  %s: %s" % (k, json.dumps(v)) for k, v in self.tutor.items()]
        if self.cluster:
            lines += self.cluster.yaml_lines()
        tls = self.tls if self.tls is not None else (
            self.cluster.tls_section(self.node_id) if self.cluster else None)
        if tls:
            lines.append("tls:")
            lines += ["  %s: %s" % kv for kv in tls.items()]
        return "\n".join(lines) + "\n" + self.extra_yaml

    def write_config(self):
        with open(self.config_path, "w") as f:
            f.write(self.config_text())

    # -- processes ------------------------------------------------------

    def _open_log(self):
        if self._log is None or self._log.closed:
            self._log = open(self.log_path, "ab")
        return self._log

    def run_lmsd(self, *args, input=None, timeout=60):
        """Run lmsd to completion (--init-admin, --check-config)."""
        log = self._open_log()
        p = subprocess.run([lmsd_path()] + list(args), input=input,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, env=lmsd_env())
        log.write(b"--- lmsd %s\n" % " ".join(args).encode())
        log.write(p.stdout + p.stderr)
        log.flush()
        return p

    def init_admin(self, name=ADMIN, password=ADMIN_PW):
        p = self.run_lmsd("--config", self.config_path, "--init-admin", name,
                          input=(password + "\n").encode())
        if p.returncode != 0:
            raise AssertionError("lmsd --init-admin %s: expected exit 0, got %d: %s"
                                 % (name, p.returncode, p.stderr.decode(errors="replace")))
        return p

    def start(self, timeout=20.0, args=()):
        """Start lmsd (with extra command-line args) and wait until it serves."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        for attempt in range(5):
            log = self._open_log()
            log.write(b"--- lmsd start (port %d)\n" % self.port)
            log.flush()
            self.proc = subprocess.Popen([lmsd_path(), "--config", self.config_path]
                                         + list(args),
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=lmsd_env(self.env))
            try:
                self.wait_ready(timeout)
                return self
            except AssertionError:
                if self.cluster is None and self.proc.poll() is not None and \
                        self._port_taken():
                    # someone else grabbed our free port: take another one
                    self.port = free_port()
                    self.write_config()
                    continue
                raise
        raise AssertionError("lmsd could not find a free port")

    def _port_taken(self):
        with open(self.log_path, "rb") as f:
            tail = f.read()[-2000:]
        return b"cannot listen" in tail and b"in use" in tail

    def wait_ready(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise AssertionError("lmsd exited with %d while starting:\n%s"
                                     % (rc, self.log_tail()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.02)
        raise AssertionError("lmsd did not accept connections on port %d within %.0fs:\n%s"
                             % (self.port, timeout, self.log_tail()))

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=30.0, expect_rc=0):
        """SIGTERM; assert the exit status (0: a clean shutdown)."""
        if not self.running:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("lmsd did not exit within %.0fs of SIGTERM:\n%s"
                                 % (timeout, self.log_tail()))
        if expect_rc is not None and rc != expect_rc:
            raise AssertionError("lmsd after SIGTERM: expected exit %d, got %d:\n%s"
                                 % (expect_rc, rc, self.log_tail()))
        return rc

    def set_tutor(self, tutor):
        """Rewrite the config with this tutor section (None: none)."""
        self.tutor = dict(tutor) if tutor else None
        self.write_config()

    def hup(self):
        """SIGHUP: lmsd re-reads the config file: it applies what can change
        at once (log level and format, limits, sessions.ttl), names what
        needs a restart, and reloads its tutor."""
        self.proc.send_signal(signal.SIGHUP)

    def stall_fsync(self, ms):
        """From now on each fsync of this node's command log waits ms
        milliseconds (0: none again); lmsd reads the file at every batch."""
        tmp = self.fsync_stall_path + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % ms)
        os.replace(tmp, self.fsync_stall_path)

    def kill9(self):
        if self.running:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def restart(self, kill=False):
        if kill:
            self.kill9()
        else:
            self.stop()
        return self.start()

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines=150):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def cleanup(self):
        with _ALL_NODES_LOCK:
            _CLEANED_LOGS.append((self.name, self.log_path, self.log_tail(200)))
        if self.running:
            try:
                self.stop(expect_rc=None)
            except AssertionError:
                self.kill9()
        if self._log:
            self._log.close()
        with _ALL_NODES_LOCK:
            if self in _ALL_NODES:
                _ALL_NODES.remove(self)
        if not os.environ.get("LMS_E2E_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- conveniences ---------------------------------------------------

    def cli(self, prog, home=None):
        return Cli(self, prog, home)

    def raw(self, timeout=10.0):
        return RawConn(self.port, timeout, tls=self.client_context())


# ---------------------------------------------------------------------------
# Cli


class CliResult:
    def __init__(self, args, rc, out, err, want_json):
        self.args = args
        self.rc = rc
        self.out = out
        self.err = err
        self.json = None
        self.json_error = None
        if want_json:
            try:
                self.json = json.loads(out) if out.strip() else None
            except ValueError as e:
                self.json_error = "stdout is not one JSON document (%s): %r" % (e, out[:500])

    def __repr__(self):
        return ("$ %s\n  exit %d\n  stdout: %s\n  stderr: %s"
                % (" ".join(self.args), self.rc, self.out.strip()[:2000],
                   self.err.strip()[:2000]))

    @property
    def status(self):
        """The status word of a --json error document, else None."""
        if isinstance(self.json, dict):
            return self.json.get("status")
        return None


class Cli:
    """One CLI program for one user: its own --home directory."""

    def __init__(self, node, prog, home=None):
        self.node = node
        self.prog = prog
        self.home = home or tempfile.mkdtemp(prefix="home-%s-" % prog, dir=node.dir)

    def run(self, *args, input=None, json=False, timeout=60, env=None, cwd=None,
            server=True, binary=False, home=True):
        argv = [cli_path(self.prog)]
        if home:
            argv += ["--home", self.home]
        if server:
            argv += ["-s", self.node.addr]
        if json:
            argv.append("--json")
        argv += [str(a) for a in args]
        e = dict(os.environ)
        e.pop("LMS_SERVERS", None)
        e.pop("LMS_HOME", None)
        # a config file of the user's own must not choose for the tests
        e.pop("LMS_CONFIG", None)
        e.pop("LMS_CONTEXT", None)
        e.setdefault("LMS_CLIENT_TIMEOUT", "10")
        if getattr(self.node, "cacert", None):
            e.setdefault("LMS_CACERT", self.node.cacert)  # a TLS client port
        e["TZ"] = "UTC"
        if env:
            e.update(env)
        if isinstance(input, str):
            input = input.encode()
        p = subprocess.run(argv, input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout, env=e, cwd=cwd)
        out = p.stdout if binary else p.stdout.decode("utf-8", "replace")
        res = CliResult(argv, p.returncode, out if not binary else "",
                        p.stderr.decode("utf-8", "replace"), json)
        if binary:
            res.raw_out = p.stdout
        return res

    def login(self, user, password, json=False):
        return self.run("login", user, "--password-stdin", input=password + "\n", json=json)

    def run_tty(self, *args, answers=(), timeout=60, cwd=None):
        """Run the CLI on a pseudo-terminal (stdin, stdout and stderr), as a
        person would: each of answers is typed after the next prompt that
        ends in ': '. Returns (exit code, everything the terminal showed)."""
        import pty
        argv = [cli_path(self.prog), "--home", self.home, "-s", self.node.addr] + [str(a) for a in args]
        env = dict(os.environ, TZ="UTC", LMS_CLIENT_TIMEOUT="10")
        env.pop("LMS_SERVERS", None)
        pid, fd = pty.fork()
        if pid == 0:  # the child: the pty is its controlling terminal
            try:
                if cwd:
                    os.chdir(cwd)
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        out = b""
        pending = list(answers)
        deadline = time.monotonic() + timeout
        import select
        try:
            while True:
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    raise AssertionError("%s did not finish on the terminal within %ds: %r"
                                         % (" ".join(argv), timeout, out[-500:]))
                r, _, _ = select.select([fd], [], [], 0.1)
                if not r:
                    continue
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the child is gone
                    break
                if not chunk:
                    break
                out += chunk
                if pending and out.rstrip(b" ").endswith(b":"):
                    time.sleep(0.05)  # let the prompt's echo setting take effect
                    os.write(fd, pending.pop(0).encode() + b"\n")
        finally:
            _, status = os.waitpid(pid, 0)
            os.close(fd)
        return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace")


# ---------------------------------------------------------------------------
# MockOpenAI


def _load_mock_module():
    import importlib.util
    path = os.path.join(SOURCE_DIR, "tests", "tutor", "mock_openai.py")
    spec = importlib.util.spec_from_file_location("mock_openai", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return path, mod


class MockOpenAI:
    """tests/tutor/mock_openai.py as a subprocess on a free port. Its
    behaviour follows markers in the question ("[mock:429-then-ok]"); see
    the script's docstring. ANSWER is its normal answer."""

    KEY_ENV = "LMS_E2E_TUTOR_KEY"
    MODEL = "mock-model"

    def __init__(self, key="sk-e2e-not-a-real-key"):
        self.path, mod = _load_mock_module()
        self.ANSWER = mod.ANSWER
        self.key = key
        self.proc = subprocess.Popen(
            [sys.executable, self.path, "--port", "0", "--key", key, "--model", self.MODEL],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True)
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise AssertionError("mock_openai.py did not print its port: %r" % line)
        self.port = int(line)

    @property
    def base_url(self):
        return "http://127.0.0.1:%d/v1" % self.port

    @property
    def env(self):
        """What lmsd's environment needs for tutor_config()."""
        return {self.KEY_ENV: self.key}

    def tutor_config(self, **options):
        """A tutor: section for tutor_openai against this mock."""
        cfg = {"plugin": "tutor_openai", "base_url": self.base_url, "model": self.MODEL,
               "api_key_env": self.KEY_ENV}
        cfg.update(options)
        return cfg

    def _call(self, method, path):
        import urllib.request
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path),
                                     method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def stats(self):
        return self._call("GET", "/_mock/stats")

    def last(self):
        """The body of the last chat request the mock received."""
        return self._call("GET", "/_mock/last")

    def attempts(self, scenario):
        """Requests seen for one marker ("429-then-ok#t1")."""
        return self.stats()["scenarios"].get(scenario, {}).get("attempts", 0)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


# ---------------------------------------------------------------------------
# RawConn


class ConnectionClosed(Exception):
    pass


class RawConn:
    """A raw client connection: send any frame, read Response frames."""

    _next_id = 1
    _id_lock = threading.Lock()

    def __init__(self, port, timeout=10.0, tls=None, server_hostname="localhost"):
        """tls: an ssl.SSLContext to speak TLS with (a TLS client port)."""
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname=server_hostname)
        self.buf = b""
        self.timeout = timeout

    @classmethod
    def new_id(cls):
        with cls._id_lock:
            i = cls._next_id
            cls._next_id += 1
        return i

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send_bytes(self, data):
        self.sock.sendall(data)

    def send_frame(self, payload):
        self.sock.sendall(frame(payload))

    def send(self, req):
        """Send a Request given as a dict; returns its id (set if absent)."""
        req = dict(req)
        req.setdefault("id", self.new_id())
        self.send_frame(proto().encode("Request", req))
        return req["id"]

    def _read_exact(self, n):
        while len(self.buf) < n:
            try:
                chunk = self.sock.recv(max(65536, n - len(self.buf)))
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise ConnectionClosed("connection closed by the server")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        """The next Response as a dict (ConnectionClosed at EOF)."""
        (n,) = struct.unpack(">I", self._read_exact(4))
        return proto().decode("Response", self._read_exact(n))

    def call(self, req):
        rid = self.send(req)
        resp = self.recv()
        if resp["id"] != rid:
            raise AssertionError("response id %d does not match request id %d"
                                 % (resp["id"], rid))
        return resp

    def call_streamed(self, req):
        """Send req; return (the partial Responses before the final one,
        the final one), all of its id."""
        rid = self.send(req)
        partials = []
        while True:
            resp = self.recv()
            if resp["id"] != rid:
                raise AssertionError("response id %d does not match request id %d"
                                     % (resp["id"], rid))
            if not resp["partial"]:
                return partials, resp
            partials.append(resp)

    def is_closed(self, timeout=5.0):
        """Whether the server closes the connection within timeout (with no
        more frames pending)."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1)
            return data == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(self.timeout)

    def login(self, name, password):
        r = self.call({"login": {"name": name, "password": password}})
        if r["status"] != "OK":
            raise AssertionError("raw login %s: %s %s" % (name, r["status"], r["message"]))
        return r["login"]["token"]


# ---------------------------------------------------------------------------
# the test base class


class E2ETestCase(unittest.TestCase):
    """Prints the logs of the live nodes when a test fails."""

    maxDiff = 4000

    def run(self, result=None):
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        with _ALL_NODES_LOCK:
            del _CLEANED_LOGS[:]
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            with _ALL_NODES_LOCK:
                logs = [(n.name, n.log_path, n.log_tail(200)) for n in _ALL_NODES]
                logs += _CLEANED_LOGS
            for name, path, tail in logs:
                sys.stderr.write("\n===== lmsd log of %s (%s), last lines =====\n%s\n"
                                 % (name, path, tail))
            sys.stderr.flush()
        return out

    # -- assertions that say what was run, expected and got --------------

    def assertExactlyOnce(self, nodes, acked, not_acked=(), absent=()):
        """Every acknowledged question title is in each node's database
        exactly once, each unacknowledged one at most once, each of absent
        (a write that said nothing was stored) not at all, none twice."""
        for nd in nodes:
            got = titles(nd)
            missing = [t for t in acked if got.get(t, 0) != 1]
            if missing:
                self.fail("node %d: %d of %d acknowledged writes not there exactly once, "
                          "e.g. %s" % (nd.node_id, len(missing), len(acked),
                                       [(t, got.get(t, 0)) for t in missing[:5]]))
            doubled = [t for t, c in got.items() if c > 1]
            if doubled:
                self.fail("node %d: writes applied twice: %s" % (nd.node_id, doubled[:5]))
            for t in not_acked:
                self.assertLessEqual(got.get(t, 0), 1, "unacknowledged %s" % t)
            stored = [t for t in absent if got.get(t, 0)]
            if stored:
                self.fail("node %d: writes that said nothing was stored are there: %s"
                          % (nd.node_id, stored[:5]))

    def assertSameData(self, nodes, *readers):
        """Each reader (node -> what its database holds; default: the
        questions) gives every node what it gives the first."""
        for read in readers or (titles,):
            first = read(nodes[0])
            for nd in nodes[1:]:
                self.assertEqualMsg(read(nd), first, "%s on node %d vs node %d"
                                    % (read.__name__, nd.node_id, nodes[0].node_id))

    def assertRc(self, res, rc, what=""):
        if res.rc != rc:
            self.fail("%sexpected exit %d, got %d\n%r" % (what + ": " if what else "",
                                                          rc, res.rc, res))

    def ok(self, res, what=""):
        """Assert exit 0 and, for --json, a parsed document; returns it."""
        self.assertRc(res, 0, what)
        if res.json_error:
            self.fail("%s%s\n%r" % (what + ": " if what else "", res.json_error, res))
        return res.json if res.json is not None else res

    def refused(self, res, status, what="", rc=1, in_message=None):
        """Assert the CLI was refused with status (exit rc, status on stderr
        or in the --json document)."""
        pre = what + ": " if what else ""
        if res.rc != rc:
            self.fail("%sexpected exit %d (%s), got %d\n%r" % (pre, rc, status, res.rc, res))
        got = res.status if res.json is not None else None
        if got is not None:
            if got != status:
                self.fail("%sexpected status %s in --json, got %s\n%r" % (pre, status, got, res))
        elif status not in res.err:
            self.fail("%sexpected %s on stderr\n%r" % (pre, status, res))
        if res.json is not None and "error" not in res.json:
            self.fail("%s--json error document without \"error\"\n%r" % (pre, res))
        if in_message is not None:
            for s in ([in_message] if isinstance(in_message, str) else in_message):
                if s not in res.err:
                    self.fail("%sexpected %r in the message on stderr\n%r" % (pre, s, res))
        return res

    def assertEqualMsg(self, got, expected, what):
        if got != expected:
            self.fail("%s: expected %r, got %r" % (what, expected, got))

    def assertStatus(self, resp, status, what=""):
        if resp["status"] != status:
            self.fail("%sexpected status %s, got %s (%r)"
                      % (what + ": " if what else "", status, resp["status"], resp["message"]))
        return resp


# ---------------------------------------------------------------------------
# a standard world: admin, instructors, students, courses


class World:
    """A populated node: the admin, two instructors (teach1 in CS101,
    teach2 in MA201), students (stud1, stud2 in CS101; stud3 in MA201) and
    a logged-in Cli for each."""

    PW = "password-123"

    def __init__(self, node, tc=None):
        self.node = node
        self.tc = tc
        self.admin = node.cli("lms-admin")
        self._check(self.admin.login(ADMIN, ADMIN_PW), "admin login")
        self.users = {}
        for name, role in [("teach1", "instructor"), ("teach2", "instructor"),
                           ("stud1", "student"), ("stud2", "student"),
                           ("stud3", "student")]:
            self.add_user(name, role)
        self.course("CS101", "Intro to CS")
        self.course("MA201", "Linear Algebra")
        self.enroll("CS101", "teach1", "instructor")
        self.enroll("MA201", "teach2", "instructor")
        self.enroll("CS101", "stud1", "student")
        self.enroll("CS101", "stud2", "student")
        self.enroll("MA201", "stud3", "student")
        self.clis = {}
        for name in ("teach1", "teach2"):
            self.clis[name] = self.login("lms-instructor", name)
        for name in ("stud1", "stud2", "stud3"):
            self.clis[name] = self.login("lms-student", name)

    def _check(self, res, what):
        if res.rc != 0:
            raise AssertionError("%s: expected exit 0, got %d\n%r" % (what, res.rc, res))
        return res

    def add_user(self, name, role, password=None, full_name=None):
        args = ["add-user", name, "--role", role, "--password-stdin"]
        if full_name:
            args += ["--full-name", full_name]
        self._check(self.admin.run(*args, input=(password or self.PW) + "\n"),
                    "add-user %s" % name)

    def course(self, code, title):
        self._check(self.admin.run("create-course", code, "--title", title),
                    "create-course %s" % code)

    def enroll(self, code, user, role):
        self._check(self.admin.run("enroll", code, user, "--as", role),
                    "enroll %s %s" % (code, user))

    def login(self, prog, name, password=None):
        c = self.node.cli(prog)
        self._check(c.login(name, password or self.PW), "%s login %s" % (prog, name))
        return c

    def __getitem__(self, name):
        return self.clis[name]

    def create_assignment(self, teacher="teach1", course="CS101", title="HW",
                          due=None, extra=()):
        due = due if due is not None else time.time() + 7 * 86400
        res = self.clis[teacher].run("create-assignment", "--course", course,
                                     "--title", title, "--due", iso(due), *extra,
                                     json=True)
        self._check(res, "create-assignment %s" % title)
        return res.json


def started_node(tc=None, **kw):
    """A fresh node with the admin created, started."""
    n = Node(**kw)
    try:
        n.init_admin()
        n.start()
    except BaseException:
        sys.stderr.write("\n===== lmsd log of %s =====\n%s\n" % (n.name, n.log_tail(200)))
        n.cleanup()
        raise
    return n


# ---------------------------------------------------------------------------
# Cluster


class Cluster:
    """N lmsd nodes on loopback forming one Raft cluster (node ids 1..N, each
    with a client and a peer port). It stands in for a Node where the tests
    take one: cluster.cli(prog) runs a CLI against every node's address (the
    client library follows NOT_LEADER to the leader), and World(cluster)
    populates it.

    start() starts nodes 2..N, creates the admin through node 1 (lmsd
    --init-admin, which forwards the command to whoever leads) and starts
    node 1. leader() finds the node that leads by asking each one: a
    follower answers NOT_LEADER before it looks at the token. status() is
    lms-admin cluster-status --json."""

    def __init__(self, n=3, name="c", raft=None, proxied=False, seed=0, peer_tls=None,
                 client_tls=False, **node_kw):
        self.name = name
        self.id = "e2e-%s-%d" % (name, os.getpid())
        self.raft = dict(raft or {})
        self.dir = tempfile.mkdtemp(prefix="lms-e2e-cluster-%s-" % name)
        # the fault proxy reads each link's hello to know whose it is: a
        # proxied cluster's peers speak plaintext (tls.peer: off)
        self.peer_tls = (not proxied) if peer_tls is None else peer_tls
        self.client_tls = client_tls  # the client ports speak TLS too
        assert self.peer_tls or not client_tls, "client TLS uses the peer certificates"
        self.certs = make_certs(os.path.join(self.dir, "tls"), self.id, range(1, n + 1)) \
            if self.peer_tls else None
        self.net = None
        if proxied:
            from faultproxy import FaultNet
            self.net = FaultNet(seed=seed)
        self.nodes = []
        for i in range(n):
            self.nodes.append(self._proxy(Node(name="%s%d" % (name, i + 1), node_id=i + 1,
                                               cluster=self, **node_kw)))
        self.initial = list(self.nodes)
        for nd in self.nodes:  # every member's ports are known now
            nd.write_config()
        self._admin = None
        self._node_kw = node_kw

    def add_node(self):
        """A new node (not started) whose config lists the initial members
        but not itself: it joins once `lms-admin cluster-add` adds it."""
        i = len(self.nodes) + 1
        if self.certs is not None and i not in self.certs:
            self.certs[i] = add_member_cert(os.path.join(self.dir, "tls"), i)
        nd = self._proxy(Node(name="%s%d" % (self.name, i), node_id=i, cluster=self,
                              **self._node_kw))
        nd.write_config()
        self.nodes.append(nd)
        return nd

    def _proxy(self, nd):
        """With a FaultNet: its listener for nd on [::1]:peer_port (a port
        free on both loopbacks), which every member dials; nd itself
        listens on 0.0.0.0 and only the proxy connects to 127.0.0.1.
        One view of the addresses on every node, so configuration entries
        (cluster-add) and snapshots carry proxied addresses too."""
        if self.net is None:
            return nd
        for _ in range(20):
            try:
                self.net.add_node(nd.node_id, nd.peer_port, listen=("::1", nd.peer_port))
                break
            except OSError as e:
                if "Address family" in str(e) or "assign" in str(e):
                    raise unittest.SkipTest("proxied cluster: no IPv6 loopback (%s)" % e)
                nd.peer_port = free_port()  # taken on ::1: another one
        else:
            raise AssertionError("no port free on both 127.0.0.1 and ::1")
        nd.proxied = True
        return nd

    def tls_section(self, node_id):
        """Node node_id's tls: section: mutual TLS on the peer port with its
        own certificate (the client port stays plaintext on loopback)."""
        if not self.peer_tls:
            return {"peer": "off"}
        crt, key = self.certs[node_id]
        out = {"ca": self.certs["ca"], "cert": crt, "key": key}
        if not self.client_tls:
            out["client"] = "off"
        return out

    @property
    def cacert(self):
        return self.certs["ca"] if self.client_tls else None

    def peer_context(self, member_id, server_side=False):
        """A Python ssl context with member member_id's certificate."""
        return peer_tls_context(self.certs["ca"], self.certs[member_id], server_side)

    def yaml_lines(self):
        lines = ["cluster:", "  id: %s" % self.id, "  members:"]
        for nd in getattr(self, "initial", self.nodes):  # being built: so far
            lines.append("    - { id: %d, peer: '%s', client: '127.0.0.1:%d' }"
                         % (nd.node_id, nd.peer_addr, nd.port))
        if self.raft:
            lines.append("raft:")
            lines += ["  %s: %s" % kv for kv in self.raft.items()]
        return lines

    @property
    def addr(self):
        """Every node's client address: what LMS_SERVERS would hold."""
        return ",".join(nd.addr for nd in self.nodes)

    def __getitem__(self, i):
        return self.nodes[i]

    def cli(self, prog, home=None):
        return Cli(self, prog, home)

    def start(self, admin=True):
        if admin:
            for nd in self.nodes[1:]:
                nd.start()
            self.nodes[0].init_admin()
            self.nodes[0].start()
        else:
            for nd in self.nodes:
                nd.start()
        return self.leader()

    @staticmethod
    def probe(node, timeout=0.5):
        """'leader', 'follower' or None (not running, stopped, no answer)."""
        if not node.running:
            return None
        try:
            with RawConn(node.port, timeout=timeout, tls=node.client_context()) as c:
                r = c.call({"whoami": {}})
        except (OSError, ConnectionClosed, ValueError):
            return None
        if r["status"] == "NOT_LEADER":
            return "follower"
        return "leader" if r["status"] == "UNAUTHENTICATED" else None

    def leader(self, timeout=15.0, among=None):
        """The node that leads, once exactly one of the candidates (default:
        every running node) says it does."""
        def one():
            found = [nd for nd in (among or self.nodes) if self.probe(nd) == "leader"]
            return found[0] if len(found) == 1 else None
        return wait_until(one, timeout=timeout, interval=0.02, what="one leader")

    @property
    def admin(self):
        """An lms-admin CLI logged in as the admin."""
        if self._admin is None:
            a = self.cli("lms-admin")
            r = a.login(ADMIN, ADMIN_PW)
            if r.rc != 0:
                raise AssertionError("admin login on the cluster: %r" % (r,))
            self._admin = a
        return self._admin

    def status(self):
        r = self.admin.run("cluster-status", json=True)
        if r.rc != 0 or r.json is None:
            raise AssertionError("cluster-status: %r" % (r,))
        return r.json

    def wait_caught_up(self, timeout=20.0, nodes=None):
        """Until every node (or those given) reports the leader's commit index
        as applied; returns the status."""
        ids = {nd.node_id for nd in (nodes or self.nodes)}
        last = [None]

        def done():
            try:
                st = last[0] = self.status()
            except AssertionError as e:
                last[0] = str(e)
                return None
            ms = [m for m in st["members"] if m["id"] in ids]
            ok = len(ms) == len(ids) and all(
                m["known"] and m["applied"] >= st["commit"] and m["lag"] == 0 for m in ms)
            return st if ok else None
        try:
            st = wait_until(done, timeout=timeout, interval=0.1,
                            what="nodes %s caught up" % sorted(ids))
        except AssertionError as e:
            raise AssertionError("%s; last cluster-status: %s" % (e, last[0])) from None
        # cluster-status holds what each node last reported: one restarted
        # moments ago may still show what it had applied before it stopped
        for nd in (nodes or self.nodes):
            if nd.running and nd.storage_plugin == "storage_sqlite":
                wait_applied(nd, st["commit"], timeout=timeout)
        return st

    def cleanup(self):
        for nd in self.nodes:
            nd.cleanup()
        if self.net is not None:
            self.net.stop()
        if not os.environ.get("LMS_E2E_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)


@atexit.register
def _cleanup_leftover_nodes():
    """Nodes nobody cleaned up (a setUpClass that failed half-way): show
    their logs, stop them, remove their directories."""
    with _ALL_NODES_LOCK:
        nodes = list(_ALL_NODES)
    for n in nodes:
        sys.stderr.write("\n===== lmsd log of %s (left running; cleaning up) =====\n%s\n"
                         % (n.name, n.log_tail(200)))
        try:
            n.cleanup()
        except Exception as e:  # never mask the real failure
            sys.stderr.write("cleanup of %s: %s\n" % (n.name, e))


class ClusterTestCase(E2ETestCase):
    """A fresh cluster of N nodes (with the raft: section RAFT, None for the
    defaults) started for each test and removed after it."""

    N = 3
    RAFT = None
    PROXIED = False  # True: a FaultNet on every peer link (self.cluster.net)
    PEER_TLS = None  # False: tls.peer: off (a test speaks the peer protocol);
                     # None: mutual TLS unless PROXIED
    CLIENT_TLS = False  # True: the client ports speak TLS too

    def setUp(self):
        name = self.id().rsplit(".", 1)[-1]
        name = name[5:] if name.startswith("test_") else name
        if not hasattr(self, "seed"):  # a subclass may have drawn (and printed) it
            self.seed = e2e_seed()
        self.cluster = Cluster(self.N, name=name[:12], raft=self.RAFT, proxied=self.PROXIED,
                               seed=self.seed, peer_tls=self.PEER_TLS,
                               client_tls=self.CLIENT_TLS)
        try:
            self.cluster.start()
        except BaseException:
            self.cluster.cleanup()
            raise

    def tearDown(self):
        self.cluster.cleanup()
