#!/bin/sh
# SPDX-License-Identifier: MIT
# suite_mysql.sh DIR SUITE PLUGIN: the storage conformance suite
# (test_storage_suite) against a MariaDB backend, on the server that
# scripts/mariadb-test started in DIR (ctest fixture "mariadb"): each store
# gets a database of its own (lmst_<pid>_<n>, --isolate database), dropped
# after each test with the mariadb client.
set -eu
dir=$1 suite=$2 plugin=$3
. "$dir/env"
pw=$(cat "$LMS_MARIADB_PASSWORD_FILE")
exec "$suite" --plugin "$plugin" --isolate database \
  --drop "mariadb --no-defaults --socket='$LMS_MARIADB_SOCKET' -u '$LMS_MARIADB_USER' --password='$pw' -e 'DROP DATABASE IF EXISTS \`{}\`'" \
  "socket=$LMS_MARIADB_SOCKET" "user=$LMS_MARIADB_USER" \
  "password_file=$LMS_MARIADB_PASSWORD_FILE" database=lmst
