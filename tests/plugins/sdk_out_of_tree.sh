#!/bin/sh
# SPDX-License-Identifier: MIT
# sdk_out_of_tree.sh BUILD SOURCE LIBDIR PLUGINS FIXTURES: what a plugin
# author does, from scratch. Install lms into a fresh prefix, build
# plugins/tutor_example on its own against that prefix's CMake package
# (find_package(lms), lms_add_plugin()), and again with one cc line and
# lms-plugin.pc; install it into the SDK's plugindir, and have the installed
# lms-plugin-check pass it, under valgrind when there is one, and with an
# option from an lmsd.yaml. The in-tree plugins (in PLUGINS) must pass too,
# and a broken fixture must fail.
set -eu
build=$1 src=$2 libdir=$3 plugins=$4 fixtures=$5
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lms-sdk-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

step() { echo "== $*"; }
die() {
  echo "sdk_out_of_tree: $*"
  exit 1
}
# run LOG CMD...: CMD's output goes to LOG, shown only when CMD fails.
run() {
  log=$1
  shift
  "$@" >"$log" 2>&1 || { cat "$log"; die "failed: $*"; }
}

step "cmake --install into $prefix"
run "$tmp/install.log" cmake --install "$build" --prefix "$prefix"
for h in plugin.h host.h storage.h tutor.h auth.h; do
  [ -f "$prefix/include/lms/$h" ] || die "include/lms/$h was not installed"
done
export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
pkg-config --exists lms-plugin || die "no lms-plugin.pc in $PKG_CONFIG_PATH"
echo "lms-plugin $(pkg-config --modversion lms-plugin):" \
  "$(pkg-config --cflags lms-plugin)"
plugindir=$(pkg-config --variable=plugindir lms-plugin)
[ "$(cd "$plugindir" && pwd -P)" = "$(cd "$prefix/$libdir/lms" && pwd -P)" ] ||
  die "plugindir is $plugindir, expected $prefix/$libdir/lms"
check=$prefix/bin/lms-plugin-check
[ -x "$check" ] || die "bin/lms-plugin-check was not installed"

[ -f "$prefix/$libdir/cmake/lms/lmsConfig.cmake" ] ||
  die "$libdir/cmake/lms/lmsConfig.cmake was not installed"

step "build plugins/tutor_example out of tree with find_package(lms)"
flags="-Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes"
flags="$flags -Wmissing-prototypes -Werror"
run "$tmp/configure.log" cmake -S "$src/plugins/tutor_example" \
  -B "$tmp/example" -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_C_FLAGS=$flags" \
  "-DCMAKE_PREFIX_PATH=$prefix"
run "$tmp/build.log" cmake --build "$tmp/example"
run "$tmp/install-example.log" cmake --install "$tmp/example"
so=$plugindir/tutor_example.so
[ -f "$so" ] || die "tutor_example.so is not in plugindir $plugindir"
# lms_add_plugin: no lib prefix, and only the entry point exported
nm -D --defined-only "$so" | grep -q ' T lms_plugin_entry$' ||
  die "tutor_example.so does not export lms_plugin_entry"
exported=$(nm -D --defined-only "$so" | awk '$2 == "T"' | wc -l)
[ "$exported" -eq 1 ] || die "tutor_example.so exports $exported functions, expected 1"

step "a newer SDK than installed is refused by find_package"
mkdir -p "$tmp/newer"
printf 'cmake_minimum_required(VERSION 3.16)\nproject(p C)\nfind_package(lms 99 REQUIRED)\n' \
  >"$tmp/newer/CMakeLists.txt"
if cmake -S "$tmp/newer" -B "$tmp/newer/b" "-DCMAKE_PREFIX_PATH=$prefix" >"$tmp/newer.log" 2>&1; then
  die "find_package(lms 99) succeeded against lms $(pkg-config --modversion lms-plugin)"
fi

step "build it with one cc line and lms-plugin.pc"
# shellcheck disable=SC2046,SC2086
cc -std=c11 -shared -fPIC -fvisibility=hidden -Wl,--no-undefined $flags \
  $(pkg-config --cflags lms-plugin) -o "$tmp/tutor_example_cc.so" \
  "$src/plugins/tutor_example/tutor_example.c" || die "the cc line failed"
"$check" "$tmp/tutor_example_cc.so" >"$tmp/cc.out" ||
  { cat "$tmp/cc.out"; die "the cc-built tutor_example.so fails lms-plugin-check"; }

step "lms-plugin-check --valgrind tutor_example.so"
"$check" --valgrind "$so" || die "tutor_example.so fails lms-plugin-check"

step "lms-plugin-check --config lmsd.yaml tutor_example.so"
cat >"$tmp/lmsd.yaml" <<YAML
node: { id: 1, data_dir: $tmp/data }
storage: { plugin: storage_sqlite }
tutor:
  plugin: $so
  hint: "Which input ends the recursion?"
YAML
"$check" --config "$tmp/lmsd.yaml" --question "Why?" "$so" >"$tmp/out" ||
  { cat "$tmp/out"; die "tutor_example.so with a hint fails"; }
cat "$tmp/out"
grep -q '^# answer: .*"Why?".*Which input ends the recursion?' "$tmp/out" ||
  die "the answer does not quote the question and the configured hint"

step "lms-plugin-check on the in-tree plugins"
for p in auth_password storage_sqlite tutor_local; do
  if [ -f "$plugins/$p.so" ]; then
    "$check" "$plugins/$p.so" || die "$p.so fails lms-plugin-check"
  elif [ "$p" != tutor_local ]; then
    die "$plugins/$p.so is missing"
  fi
done

step "lms-plugin-check refuses a broken plugin"
if "$check" "$fixtures/broken_tutor_null_ask.so" >"$tmp/out"; then
  cat "$tmp/out"
  die "broken_tutor_null_ask.so passed"
fi
grep -q "^FAIL loader: .*missing required tutor callback 'ask'" "$tmp/out" ||
  { cat "$tmp/out"; die "no FAIL line naming the missing ask callback"; }

echo "sdk_out_of_tree: ok"
