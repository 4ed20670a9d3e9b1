# SPDX-License-Identifier: MIT
"""faultproxy: a fault-injecting TCP proxy for the peer links of a cluster.

Each lmsd keeps one outbound connection to every other member and only
sends on it; it only reads the connections it accepts (core/repl/peer.c). The
first frame on a connection is a PeerHello naming the sender. So one proxy
listener per destination node (the cluster's member list advertises the
proxy's port; the node binds its own real port) learns from the hello which
node is at the other end, and every DIRECTED link src -> dst gets its own
fault state: cutting 1 -> 2 leaves 2 -> 1 alone.

Faults, per directed link (node ids; heal/reset take None for "all"):

  cut(src, dst)              frames discarded whole; the connection stays up
  drop(src, dst, p)          each frame discarded with probability p
  delay(src, dst, ms, j)     each frame held ms + uniform(0, j) ms, in order
  bandwidth(src, dst, bps)   at most bps bytes a second
  reset(src, dst)            abort the live connections with RST (SO_LINGER 0)
  heal(src, dst)             back to a clean link; held frames go now
  partition(a, b, one_way)   cut every link a -> b (and b -> a)
  isolate(node)              partition([node], everyone else)

Overlapping faults (the nemesis) go through layers instead, so that
undoing one leaves the others in place: push(pairs, cut=..., drop=...,
delay_ms=..., jitter_ms=..., bps=...) adds a layer on the directed links
named and returns its handle, pop(handle) takes it away again. A link's
state is the union of its layers (cut if any layer cuts, the highest drop
and delay, the lowest bandwidth cap); links(src, dst) and
between(a, b, one_way) name the pairs. heal() also drops the layers of
the links it heals.

Frames are cut on the 4-byte big-endian length (proto/peer.proto framing),
so a discarded frame never desynchronizes the stream; the hello always
passes (losing it would only make the receiver close the connection).
Counters per link (frames and bytes passed and dropped, connections,
resets) are there for assertions and the final report.

Python 3 standard library only. Threads, three per proxied connection:
the reader (src -> queue: framing, fault decisions), the writer (queue ->
dst: delays, bandwidth) and the back-reader (dst -> src; a node never
writes on an inbound connection, but its EOF tells us the node is gone).
Every socket has a timeout, so no thread waits forever; stop() closes
everything and joins the threads.
"""

import collections
import random
import socket
import struct
import sys
import threading
import time

from lmstest import varint  # the harness's protobuf varint

IO_TIMEOUT = 0.5          # seconds: the longest any socket call blocks
MAX_FRAME = 256 << 20     # a length above this is garbage, not a frame
QUEUE_LIMIT = 32 << 20    # bytes held per connection before the reader waits


def _varint(data, pos):
    """(value, next position) of the varint at pos; ValueError if cut."""
    v, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        b = data[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            return v, pos
        shift += 7


def _fields(data):
    """Yield (field number, wire type, value) of a protobuf message: ints
    for varints and fixed fields, bytes for length-delimited ones."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, pos = _varint(data, pos)
        elif wt == 1:
            v, pos = int.from_bytes(data[pos:pos + 8], "little"), pos + 8
        elif wt == 5:
            v, pos = int.from_bytes(data[pos:pos + 4], "little"), pos + 4
        elif wt == 2:
            n, pos = _varint(data, pos)
            v, pos = bytes(data[pos:pos + n]), pos + n
        else:
            raise ValueError("wire type %d" % wt)
        if pos > len(data):
            raise ValueError("truncated field %d" % num)
        yield num, wt, v


def parse_hello(payload):
    """(from, to) of a PeerMessage holding a PeerHello, else None."""
    try:
        for num, wt, v in _fields(payload):
            if num == 1 and wt == 2:  # PeerMessage.hello
                src = dst = 0
                for n2, w2, v2 in _fields(v):
                    if n2 == 2 and w2 == 0:
                        src = v2
                    elif n2 == 3 and w2 == 0:
                        dst = v2
                return src, dst
    except ValueError:
        return None
    return None


def hello_frame(cluster, src, dst, version=1):
    """A framed PeerMessage{hello} (for tests of the proxy itself)."""
    def field_bytes(num, b):
        return varint(num << 3 | 2) + varint(len(b)) + b

    def field_int(num, v):
        return varint(num << 3) + varint(v)
    hello = (field_bytes(1, cluster.encode()) + field_int(2, src) + field_int(3, dst)
             + field_int(4, version))
    msg = field_bytes(1, hello)
    return struct.pack(">I", len(msg)) + msg


class Link:
    """The fault state and counters of one directed link src -> dst."""

    def __init__(self):
        self.cut = False
        self.drop = 0.0
        self.delay_ms = 0.0
        self.jitter_ms = 0.0
        self.bps = 0           # 0: no cap
        self.bw_free_at = 0.0  # monotonic time the link is free again
        self.counters = dict(frames_passed=0, bytes_passed=0, frames_dropped=0,
                             bytes_dropped=0, hellos=0, connections=0, resets=0)

    def clean(self):
        return not (self.cut or self.drop or self.delay_ms or self.jitter_ms or self.bps)


class _Pipe:
    """One proxied connection: accepted socket a (from src), upstream b (to
    dst's real port), the frames waiting for their release time."""

    def __init__(self, net, a, dst):
        self.net = net
        self.a = a
        self.b = None
        self.dst = dst
        self.src = None          # from the hello
        self.cond = threading.Condition()
        self.queue = collections.deque()  # [release time, frame bytes], in order
        self.queued_bytes = 0
        self.eof = False         # src finished sending: drain, then close
        self.dead = False        # stop everything now
        self.abort = False       # close with RST
        self.threads = []

    @property
    def link(self):
        return self.net._link(self.src, self.dst)

    # -- life cycle --------------------------------------------------------

    def kill(self, abort=False):
        """Stop the pipe (with RST if abort); threads notice at once."""
        with self.cond:
            if abort:
                self.abort = True
            self.dead = True
            self.cond.notify_all()
        for s in (self.a, self.b):
            if s is None:
                continue
            try:
                if abort:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.shutdown(socket.SHUT_RD)  # wakes a recv blocked in another thread
            except OSError:
                pass

    def run(self):
        """The reader thread: connect upstream, then frames from src."""
        try:
            self.b = socket.create_connection(("127.0.0.1", self.net._real[self.dst]),
                                              timeout=IO_TIMEOUT * 4)
        except OSError:
            self.a.close()  # dst is down: src sees the connection closed
            self.net._forget(self)
            return
        self.b.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.b.settimeout(IO_TIMEOUT)
        self.a.settimeout(IO_TIMEOUT)
        for target in (self._writer, self._back):
            t = threading.Thread(target=target, daemon=True,
                                 name="faultproxy-%s" % target.__name__)
            t.start()
            self.threads.append(t)
        try:
            self._read_frames()
        except OSError:
            pass
        finally:
            with self.cond:
                self.eof = True
                self.cond.notify_all()
            for t in self.threads:
                t.join(IO_TIMEOUT * 8)
            self._close()

    def _close(self):
        for s in (self.a, self.b):
            try:
                if self.abort:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            except OSError:
                pass
        self.net._forget(self)

    # -- src -> queue -------------------------------------------------------

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            if self.dead:
                return None
            try:
                chunk = self.a.recv(min(n - len(buf), 1 << 20))
            except socket.timeout:
                continue
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    def _read_frames(self):
        first = True
        while not self.dead:
            head = self._recv_exact(4)
            if head is None:
                return
            (n,) = struct.unpack(">I", head)
            if n > MAX_FRAME:
                self.net._note("link %s->%s: frame of %d bytes; closing" % (self.src, self.dst, n))
                return
            body = self._recv_exact(n)
            if body is None:
                return
            if first:
                first = False
                hello = parse_hello(body)
                self.net._attach(self, hello[0] if hello else 0)
                self._enqueue(head + body, 0.0)
                continue
            self._decide(head + body)

    def _decide(self, frame):
        """Drop the frame, or queue it with its release time."""
        net = self.net
        with net._lock:
            link = self.link
            drop = link.cut or (link.drop and net._rng.random() < link.drop)
            if drop:
                link.counters["frames_dropped"] += 1
                link.counters["bytes_dropped"] += len(frame)
                return
            hold = link.delay_ms
            if link.jitter_ms:
                hold += net._rng.uniform(0, link.jitter_ms)
        self._enqueue(frame, time.monotonic() + hold / 1000.0 if hold else 0.0)

    def _enqueue(self, frame, release):
        with self.cond:
            while self.queued_bytes > QUEUE_LIMIT and not self.dead:
                self.cond.wait(IO_TIMEOUT)  # back-pressure: src's TCP fills up
            if self.queue:  # TCP keeps order: never before the previous one
                release = max(release, self.queue[-1][0])
            self.queue.append([release, frame])
            self.queued_bytes += len(frame)
            self.cond.notify_all()

    # -- queue -> dst -------------------------------------------------------

    def _next_due(self):
        """The next frame once due (None: the pipe is finished)."""
        with self.cond:
            while True:
                if self.dead:
                    return None
                now = time.monotonic()
                if self.queue and self.queue[0][0] <= now:
                    release, frame = self.queue.popleft()
                    self.queued_bytes -= len(frame)
                    self.cond.notify_all()
                    return frame
                if not self.queue and self.eof:
                    return None
                wait = self.queue[0][0] - now if self.queue else IO_TIMEOUT
                self.cond.wait(min(wait, IO_TIMEOUT))

    def _throttle(self, n):
        """Wait until the link's bandwidth allows n more bytes."""
        net = self.net
        with net._lock:
            link = self.link
            if not link.bps:
                return
            now = time.monotonic()
            start = max(now, link.bw_free_at)
            link.bw_free_at = start + n / float(link.bps)
        with self.cond:
            while not self.dead and time.monotonic() < start:
                with net._lock:
                    if not self.link.bps:
                        return  # healed meanwhile
                self.cond.wait(min(start - time.monotonic(), IO_TIMEOUT))

    def _writer(self):
        hello = True  # the first frame: counted apart (Link.counters["hellos"])
        try:
            while True:
                frame = self._next_due()
                if frame is None:
                    return
                self._throttle(len(frame))
                self._send(frame)
                if hello:
                    hello = False
                    continue
                with self.net._lock:
                    c = self.link.counters
                    c["frames_passed"] += 1
                    c["bytes_passed"] += len(frame)
        except OSError:
            pass
        finally:
            self.kill(abort=self.abort)

    def _send(self, data):
        view = memoryview(data)
        while view and not self.dead:
            try:
                n = self.b.send(view)
            except socket.timeout:
                continue  # dst is slow (or stopped): try again
            view = view[n:]

    # -- dst -> src ----------------------------------------------------------

    def _back(self):
        """Pass anything dst sends back; its EOF ends the pipe."""
        try:
            while not self.dead:
                try:
                    data = self.b.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    break
                self.a.sendall(data)
        except OSError:
            pass
        finally:
            self.kill(abort=self.abort)


class FaultNet:
    """The proxies of one cluster: add_node() for each member, then the
    fault controls; stop() at the end. seed drives drop and jitter."""

    def __init__(self, seed=0, log=None):
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._links = {}      # (src, dst) -> Link
        self._real = {}       # node id -> its real peer port
        self._listeners = {}  # node id -> listening socket
        self._pipes = set()
        self._layers = {}     # handle -> (set of (src, dst), fault dict)
        self._layer_seq = 0
        self._threads = []
        self._stopped = threading.Event()
        self._log = log or (lambda msg: sys.stderr.write("faultproxy: %s\n" % msg))

    # -- set-up ----------------------------------------------------------------

    def add_node(self, node_id, real_port, listen=("127.0.0.1", 0)):
        """Start the proxy listener for node_id, whose peer port is
        127.0.0.1:real_port, on listen (host, port; port 0: any); returns
        the port, to advertise as the node's peer address. OSError if the
        address cannot be bound."""
        family = socket.AF_INET6 if ":" in listen[0] else socket.AF_INET
        ls = socket.socket(family, socket.SOCK_STREAM)
        try:
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind(listen)
            ls.listen(64)
        except OSError:
            ls.close()
            raise
        ls.settimeout(IO_TIMEOUT)
        with self._lock:
            assert node_id not in self._listeners, "node %d added twice" % node_id
            self._real[node_id] = real_port
            self._listeners[node_id] = ls
        t = threading.Thread(target=self._accept_loop, args=(node_id, ls), daemon=True,
                             name="faultproxy-accept-%d" % node_id)
        t.start()
        self._threads.append(t)
        return ls.getsockname()[1]

    @property
    def nodes(self):
        with self._lock:
            return sorted(self._real)

    def _accept_loop(self, dst, ls):
        while not self._stopped.is_set():
            try:
                a, _ = ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            a.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pipe = _Pipe(self, a, dst)
            with self._lock:
                if self._stopped.is_set():
                    a.close()
                    return
                self._pipes.add(pipe)
            threading.Thread(target=pipe.run, daemon=True,
                             name="faultproxy-pipe-%d" % dst).start()

    def _link(self, src, dst):
        """The Link of src -> dst (created on first use); call under _lock."""
        key = (src, dst)
        link = self._links.get(key)
        if link is None:
            link = self._links[key] = Link()
        return link

    def _attach(self, pipe, src):
        with self._lock:
            pipe.src = src
            c = self._link(src, pipe.dst).counters
            c["connections"] += 1
            c["hellos"] += 1

    def _forget(self, pipe):
        with self._lock:
            self._pipes.discard(pipe)

    def _note(self, msg):
        self._log(msg)

    def stop(self):
        """Close the listeners and every connection; join the threads."""
        self._stopped.set()
        with self._lock:
            listeners = list(self._listeners.values())
            pipes = list(self._pipes)
        for ls in listeners:
            ls.close()
        for p in pipes:
            p.kill(abort=True)
        for t in self._threads:
            t.join(IO_TIMEOUT * 4)
        deadline = time.monotonic() + IO_TIMEOUT * 8
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pipes:
                    return
            time.sleep(0.02)

    # -- faults ------------------------------------------------------------

    def _pairs(self, src, dst):
        """The (src, dst) pairs named: None stands for every node."""
        ids = self.nodes
        srcs = ids if src is None else [src]
        dsts = ids if dst is None else [dst]
        return [(s, d) for s in srcs for d in dsts if s != d]

    def _set(self, src, dst, **kw):
        pairs = self._pairs(src, dst)
        with self._lock:
            for key in pairs:
                link = self._link(*key)
                for k, v in kw.items():
                    setattr(link, k, v)

    def cut(self, src, dst):
        """Frames from src to dst are discarded (dst to src untouched)."""
        self._set(src, dst, cut=True)

    def drop(self, src, dst, p):
        """Each frame from src to dst is lost with probability p."""
        self._set(src, dst, drop=float(p))

    def delay(self, src, dst, ms, jitter_ms=0):
        """Frames from src to dst are held ms (+ up to jitter_ms) each."""
        self._set(src, dst, delay_ms=float(ms), jitter_ms=float(jitter_ms))

    def bandwidth(self, src, dst, bytes_per_s):
        """At most bytes_per_s from src to dst (0: no cap)."""
        self._set(src, dst, bps=int(bytes_per_s))

    def heal(self, src=None, dst=None):
        """Clear every fault of the links named (None: all); frames held
        by a delay or a bandwidth cap go out now."""
        self._set(src, dst, cut=False, drop=0.0, delay_ms=0.0, jitter_ms=0.0, bps=0,
                  bw_free_at=0.0)
        pairs = set(self._pairs(src, dst))
        with self._lock:
            for pset, _ in self._layers.values():
                pset -= pairs
        self._release(pairs)

    def _release(self, pairs):
        """Frames held on these links by a delay or a cap go out now."""
        with self._lock:
            pipes = [p for p in self._pipes if (p.src, p.dst) in pairs]
        for p in pipes:
            with p.cond:
                for item in p.queue:
                    item[0] = 0.0
                p.cond.notify_all()

    def partition(self, group_a, group_b, one_way=False):
        """Cut every link from group_a to group_b, and back unless one_way."""
        for a in group_a:
            for b in group_b:
                if a == b:
                    continue
                self.cut(a, b)
                if not one_way:
                    self.cut(b, a)

    def isolate(self, node_id):
        """node_id neither hears nor is heard by anyone."""
        self.partition([node_id], [n for n in self.nodes if n != node_id])

    def reset(self, src=None, dst=None):
        """Abort the live connections of the links named with a TCP RST
        (the nodes reconnect); returns how many were reset."""
        pairs = set(self._pairs(src, dst))
        with self._lock:
            pipes = [p for p in self._pipes if (p.src, p.dst) in pairs]
            for p in pipes:
                self._link(p.src, p.dst).counters["resets"] += 1
        for p in pipes:
            p.kill(abort=True)
        return len(pipes)

    # -- layered faults --------------------------------------------------------

    def links(self, src=None, dst=None):
        """The directed pairs src -> dst (None: every node)."""
        return self._pairs(src, dst)

    @staticmethod
    def between(group_a, group_b, one_way=False):
        """The directed pairs a -> b (and b -> a unless one_way)."""
        pairs = [(a, b) for a in group_a for b in group_b if a != b]
        if not one_way:
            pairs += [(b, a) for a, b in pairs]
        return pairs

    def push(self, pairs, **fault):
        """Add a fault layer (cut, drop, delay_ms, jitter_ms, bps) on the
        directed links in pairs; returns the handle that pop() takes."""
        unknown = set(fault) - {"cut", "drop", "delay_ms", "jitter_ms", "bps"}
        assert not unknown, "unknown faults %s" % sorted(unknown)
        with self._lock:
            self._layer_seq += 1
            handle = self._layer_seq
            self._layers[handle] = (set(pairs), dict(fault))
        self._combine(pairs)
        return handle

    def pop(self, handle):
        """Take a layer away; the others on its links stay."""
        with self._lock:
            pairs, _ = self._layers.pop(handle, (set(), {}))
        self._combine(pairs)

    def _combine(self, pairs):
        """Set each link in pairs to the union of the layers on it."""
        freed = set()
        with self._lock:
            for key in pairs:
                fs = [f for ps, f in self._layers.values() if key in ps]
                link = self._link(*key)
                held = link.delay_ms or link.bps
                link.cut = any(f.get("cut") for f in fs)
                link.drop = max([float(f.get("drop", 0)) for f in fs] + [0.0])
                link.delay_ms = max([float(f.get("delay_ms", 0)) for f in fs] + [0.0])
                link.jitter_ms = max([float(f.get("jitter_ms", 0)) for f in fs] + [0.0])
                caps = [int(f["bps"]) for f in fs if f.get("bps")]
                link.bps = min(caps) if caps else 0
                if not link.bps:
                    link.bw_free_at = 0.0
                if held and not (link.delay_ms or link.bps):
                    freed.add(key)
        if freed:
            self._release(freed)

    def layers(self):
        """How many layers are in place."""
        with self._lock:
            return len(self._layers)

    # -- what happened -----------------------------------------------------------

    def faults(self, src, dst):
        """The fault state of src -> dst as a dict (for messages)."""
        with self._lock:
            link = self._link(src, dst)
            return dict(cut=link.cut, drop=link.drop, delay_ms=link.delay_ms,
                        jitter_ms=link.jitter_ms, bps=link.bps)

    def counters(self, src, dst):
        """A copy of the counters of src -> dst."""
        with self._lock:
            return dict(self._link(src, dst).counters)

    def live(self, src, dst):
        """How many connections src -> dst are open now."""
        with self._lock:
            return sum(1 for p in self._pipes if (p.src, p.dst) == (src, dst))

    def report(self):
        """One line per link that carried anything."""
        lines = []
        with self._lock:
            items = sorted(self._links.items())
        for (src, dst), link in items:
            c = link.counters
            if not any(c.values()):
                continue
            lines.append("link %s->%s: passed %d frames / %d B, dropped %d / %d B, "
                         "%d connections, %d resets"
                         % (src, dst, c["frames_passed"], c["bytes_passed"],
                            c["frames_dropped"], c["bytes_dropped"], c["connections"],
                            c["resets"]))
        return "\n".join(lines)
