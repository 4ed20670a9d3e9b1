#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""spdx.py check|add SOURCE_DIR: every source file of ours says its license.

Each C source or header, .proto, Python or shell script, CMake file, YAML
config and systemd unit has an SPDX-License-Identifier line among its first
three lines (after a #! line). `check` lists the files without one and
exits 1; `add` puts the line in (for a new file: scripts/spdx).
Generated files, build trees, test data and fuzz corpora are not ours to
mark.
"""
import os
import subprocess
import sys

LICENSE = "MIT"
TAG = "SPDX-License-Identifier: " + LICENSE
SKIP_DIRS = {".git", "node_modules", "demo-data", "data", "corpus", "crashes",
             "__pycache__", ".devbundle"}
C_LIKE = (".c", ".h")
HASH = (".py", ".sh", ".cmake", ".yaml", ".yml", ".service", ".in", ".txt")
SCRIPT_DIRS = ("scripts", ".ci", "bench", "packaging/debian")


def comment_for(rel):
    name = os.path.basename(rel)
    if name.endswith(C_LIKE):
        return "/* %s */" % TAG
    if name.endswith(".proto"):
        return "// " + TAG
    if name == "CMakeLists.txt" or name.endswith(HASH[:-1]):
        return "# " + TAG
    if name.endswith(".pc.in"):
        return "# " + TAG
    return None


def is_script(path):
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"#!"
    except OSError:
        return False


def tree_files(src):
    """The files of the tree, relative: git's (tracked, and new ones it does
    not ignore) in a checkout, else every file outside build trees."""
    try:
        out = subprocess.run(["git", "-C", src, "ls-files", "--cached", "--others",
                              "--exclude-standard"], capture_output=True, text=True,
                             check=True).stdout
        return [f for f in out.splitlines()
                if os.path.isfile(os.path.join(src, f)) and
                not set(f.split("/")[:-1]) & SKIP_DIRS]
    except (OSError, subprocess.CalledProcessError):
        pass
    files = []
    for dirpath, dirnames, filenames in os.walk(src):
        rel_dir = os.path.relpath(dirpath, src)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and
                             not d.startswith("build") and
                             not (rel_dir == "." and d in ("wt",)))
        files += [os.path.normpath(os.path.join(rel_dir, n)) for n in filenames]
    return files


def candidates(src):
    for rel in sorted(tree_files(src)):
        name = os.path.basename(rel)
        path = os.path.join(src, rel)
        if name.endswith(".txt") and name != "CMakeLists.txt":
            continue  # test data, expected outputs
        c = comment_for(rel)
        if c is None and rel.startswith(SCRIPT_DIRS) and is_script(path):
            c = "# " + TAG
        if c is not None:
            yield rel, path, c


def has_tag(path):
    with open(path, errors="replace") as f:
        head = [f.readline() for _ in range(4)]
    return any(TAG in line for line in head)


def add_tag(path, comment):
    with open(path) as f:
        lines = f.readlines()
    at = 1 if lines and lines[0].startswith("#!") else 0
    lines.insert(at, comment + "\n")
    with open(path, "w") as f:
        f.writelines(lines)


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("check", "add"):
        sys.stderr.write(__doc__)
        return 2
    mode, src = sys.argv[1], sys.argv[2]
    if not os.path.isfile(os.path.join(src, "LICENSE")):
        print("spdx: %s/LICENSE is missing" % src)
        return 1
    missing = [(rel, path, c) for rel, path, c in candidates(src) if not has_tag(path)]
    if mode == "add":
        for rel, path, c in missing:
            add_tag(path, c)
            print("spdx: added to %s" % rel)
        return 0
    for rel, _, _ in missing:
        print("spdx: %s has no '%s' line (scripts/spdx adds it)" % (rel, TAG))
    n = sum(1 for _ in candidates(src))
    print("spdx: %d of %d files without a license line" % (len(missing), n))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
