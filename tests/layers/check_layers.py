#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The layers of lmsd (core/CMakeLists.txt) hold: no file includes a header
of a layer above its own. The build already keeps each layer's include
path to the layers below it; this also catches what an include path does
not ("../app/sm.h", a header of the same name in two layers) and says in
one line what crossed where.

  raft (core/repl/raft) < base (core/base) < repl (core/repl) < app (core/app) < daemon (core)

raft sees only itself, blob.h and lms_assert.h; the generated protobuf headers belong to
the layer that owns their messages: peer.pb-c.h and snapshot.pb-c.h to
repl (and the storage plugins), client.pb-c.h and command.pb-c.h to app.
"""
import os
import re
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), "..", ".."))
CORE = os.path.join(ROOT, "core")
LAYERS = [  # (name, folder, rank)
    ("raft", os.path.join(CORE, "repl", "raft"), 0),
    ("base", os.path.join(CORE, "base"), 1),
    ("repl", os.path.join(CORE, "repl"), 2),
    ("app", os.path.join(CORE, "app"), 3),
    ("daemon", CORE, 4),
]
PROTO = {"peer.pb-c.h": 2, "snapshot.pb-c.h": 2, "records.pb-c.h": 3,
         "client.pb-c.h": 3, "command.pb-c.h": 3}
RAFT_MAY = {"blob.h", "lms_assert.h"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(path):
    d = os.path.dirname(os.path.abspath(path))
    for name, folder, rank in LAYERS:
        if d == folder:
            return name, rank
    return None, None


def main():
    headers = {}  # basename -> [(layer, rank)]
    for name, folder, rank in LAYERS:
        for f in os.listdir(folder):
            if f.endswith(".h"):
                headers.setdefault(f, []).append((name, rank))
    bad = []
    for name, folder, rank in LAYERS:
        for f in sorted(os.listdir(folder)):
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(folder, f)
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            for inc in INCLUDE.findall(text):
                rel = os.path.relpath(path, ROOT)
                if "/" in inc and not (name in ("repl", "daemon") and
                                       inc == "raft/raft.h"):
                    bad.append(f"{rel}: includes \"{inc}\": a path, not a "
                               "header of a layer's include folder")
                    continue
                base = os.path.basename(inc)
                if base in PROTO:
                    if PROTO[base] > rank:
                        bad.append(f"{rel} ({name}) includes {base}, a "
                                   "protocol of a higher layer")
                    continue
                owners = headers.get(base)
                if not owners:
                    bad.append(f"{rel}: includes \"{inc}\", which no layer has")
                    continue
                if len(owners) > 1:
                    bad.append(f"{rel}: \"{inc}\" is a header of several "
                               f"layers ({', '.join(o for o, _ in owners)})")
                    continue
                oname, orank = owners[0]
                if name == "raft":
                    if oname != "raft" and base not in RAFT_MAY:
                        bad.append(f"{rel} (raft) includes {base} ({oname}): "
                                   "Raft sees only itself, "
                                   + " and ".join(sorted(RAFT_MAY)))
                elif orank > rank:
                    bad.append(f"{rel} ({name}) includes {base} of the "
                               f"higher layer {oname}")
    for b in bad:
        print("layer violation:", b)
    n = sum(1 for _, folder, _ in LAYERS for f in os.listdir(folder)
            if f.endswith((".c", ".h")))
    print(f"{n} files in {len(LAYERS)} layers checked, "
          f"{len(bad)} violation(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
