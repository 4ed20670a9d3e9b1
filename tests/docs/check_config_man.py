# SPDX-License-Identifier: MIT
"""The doc test of issue 14: `man lmsd.yaml` documents every key that
`lmsd --check-config` accepts, and nothing else.

1. The keys of the rendered lmsd.yaml(5) (its KEYS section) are exactly the
   keys `lmsd --list-config-keys` lists, both ways.
2. Those keys are really accepted: a config setting every one of them to
   its listed example passes the real `lmsd --check-config`, with the
   plugins loading (storage_sqlite on a temporary path, plugin_dir the
   build's) and real TLS files (made by `lms-admin cluster-ca`).
3. A made-up key is refused, at the top level, in every section and in an
   item of cluster.members.

Environment (tests/docs/CMakeLists.txt): LMSD, LMS_BIN, LMS_MAN_DIR,
LMS_PLUGIN_DIR.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import mantext

KEY = r"[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*(?:\[\])?)*"
MADE_UP = "zz_made_up"


def listed_keys():
    """{key: (type, example)} from lmsd --list-config-keys, in order."""
    p = subprocess.run([mantext.env("LMSD"), "--list-config-keys"], stdout=subprocess.PIPE,
                       check=True)
    out = {}
    for line in p.stdout.decode().splitlines():
        key, typ, example = line.split("\t")
        out[key] = (typ, example)
    return out


def page_keys():
    lines = mantext.render(os.path.join(mantext.env("LMS_MAN_DIR"), "lmsd.yaml.5"))
    keys = []
    for sub in mantext.tags(lines, "KEYS", KEY).values():
        keys += sub
    return keys


def build_config(keys, overrides, extra=None):
    """YAML setting each key of keys to its example (or its override); a
    list of mappings ("cluster.members" with "cluster.members[].id" ...) gets
    one item. extra: {section: [(key, value)]} added as they are ("" is the
    top level, "cluster.members[]" the item)."""
    extra = extra or {}
    top, sections, items = [], {}, {}
    for key, (typ, example) in keys.items():
        value = overrides.get(key, example)
        m = re.match(r"^(\w+)\.(\w+)\[\]\.(\w+)$", key)
        if m:
            items.setdefault("%s.%s" % (m.group(1), m.group(2)), []).append((m.group(3), value))
        elif "." in key:
            sec, name = key.split(".", 1)
            sections.setdefault(sec, []).append((name, value, typ))
        else:
            top.append((key, value))
    out = []
    for key, value in top + extra.get("", []):
        out.append("%s: %s" % (key, json.dumps(value)))
    for sec, entries in sections.items():
        out.append("%s:" % sec)
        for name, value, typ in entries + [(k, v, "") for k, v in extra.get(sec, [])]:
            lst = items.get("%s.%s" % (sec, name))
            if lst is not None:
                lst = lst + extra.get("%s.%s[]" % (sec, name), [])
                out.append("  %s:" % name)
                for n, (k, v) in enumerate(lst):
                    out.append("    %s %s: %s" % ("-" if n == 0 else " ", k, json.dumps(v)))
            else:
                out.append("  %s: %s" % (name, json.dumps(value)))
    return "\n".join(out) + "\n"


class ConfigManTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.keys = listed_keys()
        cls.dir = tempfile.mkdtemp(prefix="lms-docs-config-")
        cls.overrides = {"plugin_dir": mantext.env("LMS_PLUGIN_DIR")}
        # the storage plugin's own key: lmsd leaves it alone, the plugin would
        # open this path
        cls.extra = {"storage": [("path", os.path.join(cls.dir, "lms.db"))]}
        cls.make_tls()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def make_tls(cls):
        """Real files at the paths the examples name (tls/ca.crt ...)."""
        admin = os.path.join(mantext.env("LMS_BIN"), "lms-admin")
        tls = os.path.join(cls.dir, "tls")
        cluster = cls.keys["cluster.id"][1]
        node = cls.keys["node.id"][1]
        for args in (["cluster-ca", "init", tls, "--cluster", cluster],
                     ["cluster-ca", "issue", tls, node]):
            p = subprocess.run([admin] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if p.returncode != 0:
                raise AssertionError("lms-admin %s: %s" % (" ".join(args), p.stderr.decode()))
        for key in ("tls.ca", "tls.cert", "tls.key", "tls.client_cert", "tls.client_key"):
            path = os.path.join(cls.dir, cls.keys[key][1])
            if not os.path.exists(path):
                raise AssertionError("the example of %s is %s, which lms-admin cluster-ca does "
                                     "not make" % (key, cls.keys[key][1]))

    def check(self, text):
        path = os.path.join(self.dir, "lmsd.yaml")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([mantext.env("LMSD"), "--check-config", path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def test_the_page_documents_exactly_the_keys_lmsd_accepts(self):
        page = page_keys()
        self.assertEqual(len(page), len(set(page)), "a key documented twice: %s" % page)
        listed = set(self.keys)
        self.assertGreater(len(listed), 50, "lmsd --list-config-keys lists too few keys")
        self.assertEqual(sorted(listed - set(page)), [],
                         "keys lmsd accepts that lmsd.yaml(5) does not document")
        self.assertEqual(sorted(set(page) - listed), [],
                         "keys lmsd.yaml(5) documents that lmsd does not accept")

    def test_check_config_accepts_every_key_at_its_example(self):
        text = build_config(self.keys, self.overrides, self.extra)
        rc, out, err = self.check(text)
        self.assertEqual(rc, 0, "lmsd --check-config refused a config of every documented "
                                "key:\n%s\n%s" % (text, err))
        self.assertIn("configuration OK", out)
        for key in self.keys:  # each key is really in the file checked
            self.assertRegex(text, r"(?m)^\s*-?\s*%s:" % re.escape(key.split(".")[-1]))

    def test_a_made_up_key_is_refused_everywhere(self):
        places = [""] + sorted({k.split(".")[0] for k in self.keys if "." in k
                                and self.keys[k][0] != "plugin slot"})
        places = [s for s in places if s not in ("storage", "auth", "tutor")]  # plugins' own
        places.append("cluster.members[]")
        for place in places:
            with self.subTest(section=place or "(top level)"):
                extra = dict(self.extra)
                extra[place] = extra.get(place, []) + [(MADE_UP, "1")]
                rc, out, err = self.check(build_config(self.keys, self.overrides, extra))
                where = {"": MADE_UP, "cluster.members[]": "cluster.members[0]." + MADE_UP}
                want = where.get(place, "%s.%s" % (place, MADE_UP)) + ": unknown key"
                self.assertEqual(rc, 2, "a made-up key in %r: expected exit 2, got %d (%s)"
                                 % (place, rc, err))
                self.assertIn(want, err)


if __name__ == "__main__":
    mantext.need("groff")  # before unittest, which would catch the exit
    unittest.main(verbosity=2)
