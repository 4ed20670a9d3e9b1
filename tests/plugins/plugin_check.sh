#!/bin/sh
# SPDX-License-Identifier: MIT
# plugin_check.sh CHECK FIXTURES PLUGINS: lms-plugin-check passes the tutor
# fixtures that keep the contract (tutor_fixture.c's FAKE_* builds) and
# fails each one that breaks it, with the FAIL line that names the breach;
# it refuses the loader fixtures (broken_plugin.c) the way lmsd's loader
# does; it runs the storage suite against storage_sqlite.so (PLUGINS) with
# every test passing, and names the test that a broken storage plugin
# (broken_storage.c) fails.
set -u
check=$1 fx=$2 plugins=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lms-plugin-check-test-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failures=0

# expect STATUS PATTERN ARGS...: run lms-plugin-check ARGS; it must exit
# with STATUS ("fail": any non-zero) and print a line matching PATTERN
# (grep -E; "-" for no pattern).
expect() {
  want=$1 pattern=$2
  shift 2
  "$check" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  good=1
  case $want in
    fail) [ "$rc" -ne 0 ] || good=0 ;;
    *) [ "$rc" -eq "$want" ] || good=0 ;;
  esac
  [ "$pattern" = - ] || grep -Eq -- "$pattern" "$tmp/out" || good=0
  if [ $good -eq 1 ]; then
    echo "passed: lms-plugin-check $* (exit $rc, /$pattern/)"
    return
  fi
  echo "FAILED: lms-plugin-check $*"
  echo "  expected exit $want and a line matching /$pattern/; got exit $rc:"
  show
}

# also PATTERN: the run before printed a line matching PATTERN too.
also() {
  if grep -Eq -- "$1" "$tmp/out"; then
    echo "passed:   and /$1/"
    return
  fi
  echo "FAILED: expected a line matching /$1/ as well, got:"
  show
}

show() {
  sed 's/^/  | /' "$tmp/out"
  sed 's/^/  stderr | /' "$tmp/err" | head -20
  failures=$((failures + 1))
}

# Tutors that keep the contract.
expect 0 '^ok   answer: done\(LMS_OK\) once' "$fx/fake_tutor_blocking.so"
also '^ok   concurrent: 4 asks queued'
also '^ok   cancel: the answer came before cancel\(\) \(from inside ask\(\)\)'
expect 0 '^ok   stream: 3 chunks add up to the answer' "$fx/fake_tutor_async.so"
also '^ok   cancel: done\(LMS_CANCELLED\) once'
also '^ok   returns at once: '
also '^ok   empty question: ask\(\) refused it with LMS_INVALID_ARGUMENT'
also '^ok   concurrent: 4 asks in flight'
also '^ok   quiet: '

# Tutors that break it, one way each.
expect 1 '^FAIL answer: done\(\) called 2 times' "$fx/broken_tutor_done_twice.so"
also '^FAIL concurrent: concurrent ask 1: done\(\) called 2 times'
expect 1 '^FAIL answer: done\(\) never called' --timeout 1s \
  "$fx/broken_tutor_silent.so"
also '^FAIL shutdown: [0-9]+ asks never finished'
expect 1 '^FAIL answer: used the lms_tutor_reply after ask\(\) returned' \
  "$fx/broken_tutor_keeps_reply.so"
expect 1 '^FAIL returns at once: ask\(\) held the loop' \
  "$fx/broken_tutor_blocks_loop.so"
expect 1 '^FAIL stream: the 3 chunks' "$fx/broken_tutor_bad_stream.so"
expect fail '^FAIL answer: the plugin crashed \(signal 11\)' \
  "$fx/broken_tutor_crash.so"
expect 1 '^FAIL answer: ask\(\) has not returned' --timeout 1s \
  "$fx/broken_tutor_hang.so"

# What lmsd's loader refuses.
expect 1 "^FAIL loader: lmsd refuses it: .*missing required tutor callback 'ask'" \
  "$fx/broken_tutor_null_ask.so"
expect 1 '^FAIL loader: lmsd refuses it: .*unknown tutor flags 0x80' \
  "$fx/broken_tutor_unknown_flag.so"
expect 1 '^FAIL magic: 0xdeadbeef, expected 0x4c4d5350' "$fx/broken_bad_magic.so"
expect 1 '^FAIL abi: plugin ABI 2\.[0-9]+, lmsd ABI 1\.[0-9]+' "$fx/broken_abi_major.so"
expect 1 '^FAIL entry: does not export lms_plugin_entry' "$fx/broken_no_entry.so"
expect 1 '^FAIL load: .*No such file' "$fx/no_such_plugin.so"

# Options from an lmsd.yaml, and the command line itself.
cat >"$tmp/lmsd.yaml" <<YAML
node: { id: 1, data_dir: $tmp/data }
storage: { plugin: storage_sqlite }
tutor: { plugin: tutor_fixture, model: tiny }
YAML
expect 0 '^ok   config: options from the tutor section of .*lmsd.yaml' \
  --config "$tmp/lmsd.yaml" "$fx/fake_tutor_blocking.so"
expect 1 '^FAIL config: .*nothere.yaml' --config "$tmp/nothere.yaml" \
  "$fx/fake_tutor_blocking.so"
expect 2 - --timeout soon "$fx/fake_tutor_blocking.so"
expect 2 - "$fx/fake_tutor_blocking.so" "$fx/fake_tutor_async.so"

# Storage: the conformance suite, one line per test.
expect 0 '^ok   lifecycle/crash_between_two_applies: passed' \
  "$plugins/storage_sqlite.so"
also '^ok   bytes/names_are_distinct_and_sorted_bytewise: passed'
also '^ok   snapshots/round_trip_into_a_fresh_store: passed'
also '^ok   readers/readers_on_threads_read_whole_commits: passed'
also 'storage_sqlite.so: [0-9]+ checks: [0-9]+ passed, 0 failed, 0 skipped'
# the options of the storage: section, and a key varied per store
cat >"$tmp/storage.yaml" <<YAML
node: { id: 1, data_dir: $tmp/data }
storage: { plugin: storage_sqlite, path: mine.db, busy_timeout_ms: 2000 }
YAML
expect 0 '^ok   config: options from the storage section' \
  --config "$tmp/storage.yaml" --isolate path "$plugins/storage_sqlite.so"
also '^# each store gets its own path: mine.db_c1, mine.db_c2'
also '^ok   lifecycle/reopen_keeps_every_table: passed'
also ' 0 failed, 0 skipped$'
expect 1 '^FAIL bytes/names_are_distinct_and_sorted_bytewise: .*alice' \
  "$fx/broken_storage_order.so"
also '^FAIL entities/user_list_is_in_byte_order_and_stoppable: '
also '^ok   entities/course_roundtrip_and_lists: passed'
also ': [0-9]+ checks: [0-9]+ passed, [1-9][0-9]* failed'
expect 1 '^FAIL lifecycle/rollback_discards_data_and_index: ' \
  "$fx/broken_storage_rollback.so"
also '^ok   lifecycle/commit_records_applied_index: passed'

# The same checks under valgrind (a skip line when it is not installed, or
# this build uses AddressSanitizer).
expect 0 '^(ok  |skip) valgrind: ' --valgrind "$fx/fake_tutor_async.so"

echo "plugin_check: $failures failed"
[ "$failures" -eq 0 ]
