#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""doc_snippets.py SOURCE_DIR DOC...: the code a guide shows is real code.

In each DOC, a fenced block right after a `<!-- snippet: PATH -->` line must
appear, line for line and in one piece, in the file PATH (relative to
SOURCE_DIR). docs/plugins.md quotes plugins/tutor_example this way, and the
sdk_out_of_tree test builds that example, so what the guide shows compiles.
"""
import re
import sys

MARK = re.compile(r"^<!-- snippet: (\S+) -->$")


def snippets(lines):
    """(line number, path, block lines) for each marked fenced block."""
    i = 0
    while i < len(lines):
        m = MARK.match(lines[i])
        i += 1
        if not m:
            continue
        if i >= len(lines) or not lines[i].startswith("```"):
            yield i, m.group(1), None
            continue
        start = i + 1
        end = start
        while end < len(lines) and lines[end] != "```":
            end += 1
        yield start, m.group(1), lines[start:end]
        i = end + 1


def contains(haystack, needle):
    n = len(needle)
    return any(haystack[k:k + n] == needle for k in range(len(haystack) - n + 1))


def main():
    src, docs = sys.argv[1], sys.argv[2:]
    failures = count = 0
    for doc in docs:
        lines = open(f"{src}/{doc}", encoding="utf-8").read().split("\n")
        for line, path, block in snippets(lines):
            count += 1
            where = f"{doc}:{line}"
            if block is None:
                print(f"{where}: a snippet mark must be followed by a ``` block")
                failures += 1
                continue
            code = open(f"{src}/{path}", encoding="utf-8").read().split("\n")
            if not block or not contains(code, block):
                print(f"{where}: this block ({len(block)} lines, starting "
                      f"{block[0]!r}) is not in {path} as it stands; copy it "
                      f"again from there")
                failures += 1
    if count == 0:
        print("no snippet marks found: expected some in " + ", ".join(docs))
        return 1
    print(f"{count} snippets checked, {failures} out of date")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
