# SPDX-License-Identifier: MIT
"""What the sources read is what lmsd.yaml(5) documents.

- core/base/config.c: every key name passed as a string literal to the
  config lookups and section readers (config_int(sec, "tick", ...),
  read_addr(sec, "peer", ...), map_get, section, read_slot, value_error...)
  is a name of the key table (lmsd --list-config-keys). The table drives
  check_keys, so a key read but missing from it could never be set.
- each shipped plugin: the keys it reads (host->config_*(ctx, "KEY", ...),
  or a helper of its own called with (..., ctx, "KEY") or (t, "KEY")) are
  exactly the keys of its subsection of the page's PLUGIN OPTIONS.

Environment (tests/docs/CMakeLists.txt): LMSD, LMS_MAN_DIR, LMS_SOURCE_DIR.
"""

import glob
import os
import re
import subprocess
import unittest

import mantext

PLUGINS = ("storage_sqlite", "storage_mysql", "auth_password", "tutor_openai", "tutor_local")

# the functions of config.c whose second argument names a key or a section
READERS = ("config_string", "config_int", "config_bool", "config_duration_ms", "config_size",
           "map_get", "read_addr", "read_path", "limit_count", "timeout_in_range",
           "value_error", "missing_error", "section", "read_slot", "check_keys")
CONFIG_LITERAL = re.compile(r"\b(?:%s)\(\s*[^,()\"]+,\s*\"([^\"]+)\"" % "|".join(READERS))
PLUGIN_LITERAL = re.compile(r"\b(?:ctx|t)\s*,\s*\"([a-z][a-z0-9_.]*)\"")


def read(path):
    with open(path) as f:
        return f.read()


class SourcesTest(unittest.TestCase):
    def test_config_c_reads_only_keys_of_the_table(self):
        p = subprocess.run([mantext.env("LMSD"), "--list-config-keys"], stdout=subprocess.PIPE,
                           check=True)
        names = {""}
        for line in p.stdout.decode().splitlines():
            names.update(re.split(r"\.|\[\]\.?", line.split("\t")[0]))
        src = read(os.path.join(mantext.env("LMS_SOURCE_DIR"), "core", "base", "config.c"))
        found = CONFIG_LITERAL.findall(src)
        self.assertGreater(len(found), 60, "the pattern no longer finds config.c's reads")
        unknown = sorted({k for k in found if k not in names and k != "cluster.members[]"})
        self.assertEqual(unknown, [], "config.c reads keys that are not in the key table "
                                      "(core/base/config_keys.c)")

    def test_each_plugin_documents_exactly_the_keys_it_reads(self):
        lines = mantext.render(os.path.join(mantext.env("LMS_MAN_DIR"), "lmsd.yaml.5"))
        pages = mantext.tags(lines, "PLUGIN OPTIONS", r"[a-z_][a-z0-9_.]*")
        for plugin in PLUGINS:
            with self.subTest(plugin=plugin):
                heads = [h for h in pages if h.split(" ")[0] == plugin]
                self.assertEqual(len(heads), 1, "%s has no subsection in PLUGIN OPTIONS of "
                                                "lmsd.yaml(5)" % plugin)
                slot = re.search(r"\((\w+)\)", heads[0]).group(1)
                documented = {k[len(slot) + 1:] for k in pages[heads[0]]
                              if k.startswith(slot + ".")}
                self.assertEqual(len(documented), len(pages[heads[0]]),
                                 "keys of %s must read %s.KEY" % (plugin, slot))
                read_keys = set()
                src = os.path.join(mantext.env("LMS_SOURCE_DIR"), "plugins", plugin)
                for path in glob.glob(os.path.join(src, "*.c")):
                    read_keys.update(PLUGIN_LITERAL.findall(read(path)))
                self.assertTrue(read_keys, "no key found in %s: has the pattern changed?" % src)
                self.assertEqual(sorted(read_keys - documented), [],
                                 "%s reads keys that lmsd.yaml(5) does not document "
                                 "(core/plugin_options.c)" % plugin)
                self.assertEqual(sorted(documented - read_keys), [],
                                 "lmsd.yaml(5) documents keys that %s does not read" % plugin)


if __name__ == "__main__":
    mantext.need("groff")  # before unittest, which would catch the exit
    unittest.main(verbosity=2)
