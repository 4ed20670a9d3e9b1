# SPDX-License-Identifier: MIT
"""The peer port against strangers and forged terms (issue 10), end to end.

- Strangers that connect to every node's peer port and never say hello,
  kept topped up at 70 a node (more than the 64 inbound slots there were),
  plus first frames announcing 60 MiB: members still connect. The leader
  is killed and a new one elected while the strangers hold their
  connections, the old leader restarts and catches up (its connections
  are new ones, made while the strangers are there), and no node's RSS
  grows by anything like the announced sizes.
- A member (with tls.peer: off, anyone who knows the cluster id; with
  mutual TLS, a node holding a member's certificate: a compromised or
  buggy member) sends a heartbeat and an append of term 2^64-1 and 2^62:
  they are refused and logged, the cluster keeps working, and across a
  restart of that node its term is still small.

Both run twice: with tls.peer: off (PeerDosTest) and with mutual TLS
(PeerDosTlsTest, where strangers fail the handshake or time out in it).
"""

import socket
import struct
import threading
import time
import unittest

from lmstest import ClusterTestCase, frame, key_bytes, varint, wait_until

STRANGERS = 70
BIG = 60 << 20


def vfield(num, v):
    return key_bytes(num, 0) + varint(v) if v else b""


def bfield(num, data):
    return key_bytes(num, 2) + varint(len(data)) + data


def hello(cluster_id, frm, to):
    h = bfield(1, cluster_id.encode()) + vfield(2, frm) + vfield(3, to) + vfield(4, 1)
    return frame(bfield(1, h))


def raft_msg(typ, frm, to, term, index=0, log_term=0, commit=0, entries=()):
    b = (vfield(1, typ) + vfield(2, frm) + vfield(3, to) + vfield(4, term) +
         vfield(5, log_term) + vfield(6, index) + vfield(7, commit))
    for (i, t) in entries:
        b += bfield(12, vfield(1, i) + vfield(2, t))
    return frame(bfield(2, b))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Strangers:
    """Keeps STRANGERS silent connections open to each port (reopening
    those the node closed) and sends 60 MiB headers now and then."""

    def __init__(self, ports):
        self.ports = ports
        self.socks = {p: [] for p in ports}
        self.stop_ev = threading.Event()
        self.opened = self.big_sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _open(self, port):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
            s.setblocking(False)
            self.opened += 1
            return s
        except OSError:
            return None

    def _alive(self, s):
        try:
            return s.recv(1) != b""
        except BlockingIOError:
            return True
        except OSError:
            return False

    def _run(self):
        while not self.stop_ev.is_set():
            for port, lst in self.socks.items():
                keep = []
                for s in lst:
                    if self._alive(s):
                        keep.append(s)
                    else:
                        s.close()
                while len(keep) < STRANGERS and not self.stop_ev.is_set():
                    s = self._open(port)
                    if s is None:
                        break
                    keep.append(s)
                self.socks[port] = keep
                s = self._open(port)
                if s is not None:
                    try:
                        s.send(struct.pack(">I", BIG) + b"\0" * 4096)
                        self.big_sent += 1
                    except OSError:
                        pass
                    s.close()
            self.stop_ev.wait(0.3)

    def stop(self):
        self.stop_ev.set()
        self.thread.join(10)
        for lst in self.socks.values():
            for s in lst:
                s.close()


class PeerDosTest(ClusterTestCase):
    N = 3
    PEER_TLS = False
    # what the node that leads last logs about the strangers' big headers
    STRANGER_LOG = "announced a first frame of %d bytes" % BIG

    def member_conn(self, target, member):
        """A connection to target's peer port as member (its certificate
        under mutual TLS), hello sent."""
        s = socket.create_connection(("127.0.0.1", target.peer_port), timeout=5)
        if self.PEER_TLS:
            s = self.cluster.peer_context(member.node_id).wrap_socket(s)
        s.sendall(hello(self.cluster.id, member.node_id, target.node_id))
        return s

    def test_strangers_do_not_lock_members_out(self):
        c = self.cluster
        leader = c.leader()
        before = {nd.node_id: rss_kib(nd.proc.pid) for nd in c.nodes}
        st = Strangers([nd.peer_port for nd in c.nodes])
        try:
            wait_until(lambda: st.big_sent >= 9 and st.opened >= 3 * STRANGERS,
                       timeout=20, what="strangers connected")
            leader.kill9()
            others = [nd for nd in c.nodes if nd is not leader]
            new = c.leader(timeout=20, among=others)
            self.assertIsNot(new, leader)
            leader.start()
            c.wait_caught_up(timeout=30)
            for nd in c.nodes:
                if nd is leader:
                    continue
                grew = rss_kib(nd.proc.pid) - before[nd.node_id]
                self.assertLess(grew, 64 << 10, "node %d RSS grew by %d KiB with %d "
                                "60 MiB headers sent" % (nd.node_id, grew, st.big_sent))
        finally:
            st.stop()
        log = new.log_text()
        self.assertIn(self.STRANGER_LOG, log)

    def test_forged_huge_terms_are_refused(self):
        c = self.cluster
        leader = c.leader()
        target = next(nd for nd in c.nodes if nd is not leader)
        other = next(nd for nd in c.nodes if nd is not leader and nd is not target)
        with self.member_conn(target, other) as s:
            for term in (2 ** 64 - 1, 2 ** 62):
                s.sendall(raft_msg(7, other.node_id, target.node_id, term))
                s.sendall(raft_msg(1, other.node_id, target.node_id, term, index=0,
                                   entries=[(1, term)]))
            time.sleep(0.5)
        wait_until(lambda: "term at or above RAFT_TERM_MAX" in target.log_text(),
                   timeout=10, what="the forged terms refused in the log")
        st = c.wait_caught_up(timeout=30)
        term = st["term"]
        self.assertLess(term, 1000, "cluster term after the forgery: %r" % (st,))
        target.stop()
        target.start()
        c.leader(timeout=20)
        st = c.wait_caught_up(timeout=30)
        self.assertLess(st["term"], 1000, "term after a restart: %r" % (st,))


class PeerDosTlsTest(PeerDosTest):
    PEER_TLS = True
    STRANGER_LOG = "peer port: 127.0.0.1"  # handshakes that failed, logged


if __name__ == "__main__":
    unittest.main()
