/* SPDX-License-Identifier: MIT */
/*
 * test_config.c: core/base/config.c. The shipped conf/lmsd.yaml parses to the
 * values it documents; a minimal file gets the documented defaults; every
 * kind of mistake is reported as "FILE:LINE: key.path: what"; and the
 * lookups plugins use read strings, integers, booleans, durations and sizes.
 */
#include "config.h"
#include "log.h"

#include <limits.h>
#include <lms/host.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char g_tmpdir[64];
static char g_path[128]; /* <tmpdir>/lmsd.yaml, where each test writes */

/* The head of a valid file; tests append to it or replace it. */
#define VALID "node: { data_dir: data }\nstorage: { plugin: storage_sqlite }\n"

static void write_file(const char *body)
{
    FILE *f = fopen(g_path, "w");
    assert_non_null(f);
    fputs(body, f);
    fclose(f);
}

/* Write body and load it, which must succeed. */
static lms_config *load_ok(const char *body)
{
    write_file(body);
    lms_config *c = NULL;
    lms_err err;
    if (config_load(g_path, &c, &err) != LMS_OK)
        fail_msg("expected the config to load, got: %s", err.msg);
    return c;
}

/* Write body; loading must fail with exactly "<path>:<want>". */
static void expect_error(const char *body, const char *want)
{
    write_file(body);
    lms_config *c = (lms_config *)1;
    lms_err err;
    int rc = config_load(g_path, &c, &err);
    char full[600];
    snprintf(full, sizeof full, "%s:%s", g_path, want);
    if (rc != LMS_INVALID_ARGUMENT || strcmp(err.msg, full) != 0)
        fail_msg("config:\n%s\nexpected INVALID_ARGUMENT \"%s\"\n"
                 "     got %d \"%s\"",
                 body, full, rc, rc ? err.msg : "");
    assert_null(c);
}

/* ---- good files -------------------------------------------------------- */

static void example_config_parses_to_its_documented_values(void **state)
{
    lms_config *c;
    lms_err err;
    int rc = config_load(LMS_SOURCE_DIR "/conf/lmsd.yaml", &c, &err);
    if (rc != LMS_OK)
        fail_msg("conf/lmsd.yaml: %s", err.msg);
    char *src = realpath(LMS_SOURCE_DIR, NULL), want[PATH_MAX + 32];
    snprintf(want, sizeof want, "%s/data/node1", src);
    free(src);
    assert_int_equal(c->node_id, 1);
    assert_string_equal(c->data_dir, want);
    assert_string_equal(c->client_addr, "127.0.0.1:7400");
    assert_null(c->peer_addr);
    assert_int_equal(c->tls_client, 0); /* loopback, no certificate */
    assert_null(c->plugin_dir);
    assert_int_equal(c->log_level, LMS_LOG_INFO);
    assert_int_equal(c->session_ttl_ms, 24LL * 3600 * 1000);
    assert_int_equal(c->max_frame_bytes, 64u << 20);
    assert_int_equal(c->max_upload_bytes, 32u << 20);
    assert_int_equal(c->disk_reserve, 256u << 20);
    assert_int_equal(c->readers, CONFIG_READERS_AUTO);
    assert_int_equal(c->max_connections, 1024);
    assert_string_equal(c->storage.plugin, "storage_sqlite");
    assert_string_equal(c->auth.plugin, "auth_password");
    long long n = 0;
    assert_int_equal(config_int(c->auth.node, "memory_kib", &n, &err), LMS_OK);
    assert_int_equal(n, 19456);
    assert_null(c->tutor.plugin);
    assert_null(c->tutor.node);
    config_free(c);
}

static void minimal_config_gets_defaults(void **state)
{
    lms_config *c = load_ok(VALID);
    char want[PATH_MAX + 32];
    char *dir = realpath(g_tmpdir, NULL);
    snprintf(want, sizeof want, "%s/data", dir);
    free(dir);
    assert_string_equal(c->path, g_path);
    assert_int_equal(c->node_id, 1);
    assert_string_equal(c->data_dir, want);
    assert_string_equal(c->client_addr, "127.0.0.1:7400");
    assert_null(c->peer_addr);
    assert_null(c->metrics_addr); /* off by default */
    assert_null(c->plugin_dir);
    assert_int_equal(c->log_level, LMS_LOG_INFO);
    assert_int_equal(c->log_format, LMS_LOG_TEXT);
    assert_int_equal(c->slow_request_ms, 1000);
    assert_int_equal(c->session_ttl_ms, 86400000);
    assert_int_equal(c->max_frame_bytes, 64u << 20);
    assert_int_equal(c->max_upload_bytes, 32u << 20);
    assert_int_equal(c->max_connections, 1024);
    assert_int_equal(c->tutor_deadline_ms, 60000);
    assert_int_equal(c->max_connections_per_ip, 64);
    assert_int_equal(c->preauth_frame_bytes, 64 << 10);
    assert_int_equal(c->frame_timeout_ms, 10000);
    assert_int_equal(c->frame_min_rate, 64 << 10);
    assert_int_equal(c->idle_timeout_ms, 300000);
    assert_int_equal(c->preauth_idle_timeout_ms, 20000);
    assert_int_equal(c->max_output_bytes, 64 << 20);
    assert_int_equal(c->max_sessions_per_user, 100);
    assert_int_equal(c->login_failures, 5);
    assert_int_equal(c->login_failures_per_address, 50);
    assert_int_equal(c->login_backoff_max_ms, 300000);
    assert_int_equal(c->logins_per_connection, 2);
    assert_int_equal(c->logins_per_address, 8);
    assert_string_equal(c->auth.plugin, "auth_password");
    assert_null(c->auth.node);
    assert_null(c->tutor.plugin);
    config_free(c);
}

static void every_setting_is_read(void **state)
{
    lms_config *c = load_ok("node:\n  id: 3\n  data_dir: /var/lib/lms/./n3/\n"
                            "listen: { client: '[::1]:9000', peer: "
                            "node3.example:9001, metrics: '[::1]:9400' }\n"
                            "plugin_dir: ../plugins\n"
                            "log: { level: WARN, format: json, slow_request: 250ms }\n"
                            "sessions: { ttl: 90m }\n"
                            "limits: { max_frame_bytes: 1GiB, "
                            "max_upload_bytes: 100MB, max_connections: 10, "
                            "tutor_deadline: 90s, max_connections_per_ip: 8, "
                            "preauth_frame_bytes: 128KiB, frame_timeout: 3s, "
                            "frame_min_rate: 1MiB, idle_timeout: 1m, "
                            "preauth_idle_timeout: 5s, max_output_bytes: 8MiB, "
                            "max_sessions_per_user: 3, "
                            "login_failures: 0, login_failures_per_address: 7, "
                            "login_backoff_max: 1h, logins_per_connection: 1, "
                            "logins_per_address: 40, disk_reserve: 1GiB, "
                            "readers: 0 }\n"
                            "storage: { plugin: ./lib/my_storage.so }\n"
                            "auth: { plugin: auth_ldap, url: ldap://x }\n"
                            "tutor: { plugin: tutor_local }\n"
                            "cluster: { id: prod, members: [ "
                            "{ id: 1, peer: 'n1:9001', client: 'n1:9000' }, "
                            "{ id: 2, peer: 'n2:9001', client: 'n2:9000' } ] }\n"
                            "raft: { tick: 20ms, election_ticks: 15, "
                            "heartbeat_ticks: 2, snapshot_entries: 500, "
                            "snapshot_bytes: 8MiB, keep_entries: 0, "
                            "segment_bytes: 1MiB, snapshot_rate: 10MiB }\n"
                            "tls: { ca: /etc/lms/ca.crt, cert: tls/n3.crt, "
                            "key: tls/n3.key, client_cert: /etc/ssl/lms.pem, "
                            "client_key: /etc/ssl/lms.key, peer: on, "
                            "client: yes }\n");
    char *dir = realpath(g_tmpdir, NULL), want[PATH_MAX + 32];
    assert_string_equal(c->tls_ca, "/etc/lms/ca.crt");
    snprintf(want, sizeof want, "%s/tls/n3.crt", dir);
    assert_string_equal(c->tls_cert, want);
    snprintf(want, sizeof want, "%s/tls/n3.key", dir);
    assert_string_equal(c->tls_key, want);
    assert_string_equal(c->tls_client_cert, "/etc/ssl/lms.pem");
    assert_string_equal(c->tls_client_key, "/etc/ssl/lms.key");
    assert_int_equal(c->tls_peer, 1);
    assert_int_equal(c->tls_client, 1);
    assert_int_equal(c->node_id, 3);
    assert_string_equal(c->data_dir, "/var/lib/lms/n3");
    assert_string_equal(c->client_addr, "[::1]:9000");
    assert_string_equal(c->peer_addr, "node3.example:9001");
    assert_string_equal(c->metrics_addr, "[::1]:9400");
    snprintf(want, sizeof want, "%.*s/plugins",
             (int)(strrchr(dir, '/') - dir), dir);
    assert_string_equal(c->plugin_dir, want);
    assert_int_equal(c->log_level, LMS_LOG_WARN);
    assert_int_equal(c->log_format, LMS_LOG_JSON);
    assert_int_equal(c->slow_request_ms, 250);
    assert_int_equal(c->session_ttl_ms, 90 * 60 * 1000);
    assert_int_equal(c->max_frame_bytes, 1u << 30);
    assert_int_equal(c->max_upload_bytes, 100000000);
    assert_int_equal(c->max_connections, 10);
    assert_int_equal(c->tutor_deadline_ms, 90000);
    assert_int_equal(c->max_connections_per_ip, 8);
    assert_int_equal(c->preauth_frame_bytes, 128 << 10);
    assert_int_equal(c->frame_timeout_ms, 3000);
    assert_int_equal(c->frame_min_rate, 1 << 20);
    assert_int_equal(c->idle_timeout_ms, 60000);
    assert_int_equal(c->preauth_idle_timeout_ms, 5000);
    assert_int_equal(c->max_output_bytes, 8 << 20);
    assert_int_equal(c->max_sessions_per_user, 3);
    assert_int_equal(c->login_failures, 0);
    assert_int_equal(c->login_failures_per_address, 7);
    assert_int_equal(c->login_backoff_max_ms, 3600000);
    assert_int_equal(c->logins_per_connection, 1);
    assert_int_equal(c->logins_per_address, 40);
    assert_int_equal(c->disk_reserve, 1ull << 30);
    assert_int_equal(c->readers, 0);
    snprintf(want, sizeof want, "%s/lib/my_storage.so", dir);
    assert_string_equal(c->storage.plugin, want);
    assert_string_equal(c->auth.plugin, "auth_ldap");
    assert_string_equal(c->tutor.plugin, "tutor_local");
    assert_string_equal(c->cluster_id, "prod");
    assert_int_equal(c->n_members, 2);
    assert_int_equal(c->joining, 1); /* node 3 is not a member yet */
    assert_int_equal(c->members[1].id, 2);
    assert_string_equal(c->members[1].peer_addr, "n2:9001");
    assert_string_equal(c->members[1].client_addr, "n2:9000");
    assert_int_equal(c->raft_tick_ms, 20);
    assert_int_equal(c->election_ticks, 15);
    assert_int_equal(c->heartbeat_ticks, 2);
    assert_int_equal(c->snapshot_entries, 500);
    assert_int_equal(c->snapshot_bytes, 8u << 20);
    assert_int_equal(c->keep_entries, 0);
    assert_int_equal(c->segment_bytes, 1u << 20);
    assert_int_equal(c->snapshot_rate, 10u << 20);
    free(dir);
    config_free(c);
}

/* Without a cluster section a node is a cluster of one, at its own
 * addresses, with the default clock. */
static void a_lone_node_is_its_own_cluster(void **state)
{
    lms_config *c = load_ok(VALID "listen: { client: 127.0.0.1:7411 }\n");
    assert_string_equal(c->cluster_id, "lms");
    assert_int_equal(c->n_members, 1);
    assert_int_equal(c->joining, 0);
    assert_int_equal(c->members[0].id, 1);
    assert_string_equal(c->members[0].client_addr, "127.0.0.1:7411");
    assert_null(c->members[0].peer_addr);
    assert_int_equal(c->raft_tick_ms, 10);
    assert_int_equal(c->election_ticks, 10);
    assert_int_equal(c->heartbeat_ticks, 1);
    assert_int_equal(c->snapshot_entries, 10000);
    assert_int_equal(c->snapshot_bytes, 64u << 20);
    assert_int_equal(c->keep_entries, 5000);
    assert_int_equal(c->segment_bytes, 64u << 20);
    assert_int_equal(c->snapshot_rate, 0);
    config_free(c);
}

static void the_example_cluster_configs_parse(void **state)
{
    for (int i = 1; i <= 6; i++) {
        /* cluster-node1..3 on SQLite, mariadb-node1..3 on MariaDB */
        char path[PATH_MAX];
        snprintf(path, sizeof path, LMS_SOURCE_DIR "/conf/%s-node%d.yaml",
                 i <= 3 ? "cluster" : "mariadb", (i - 1) % 3 + 1);
        lms_config *c;
        lms_err err;
        if (config_load(path, &c, &err) != LMS_OK)
            fail_msg("%s: %s", path, err.msg);
        int id = (i - 1) % 3 + 1;
        assert_int_equal(c->node_id, (uint64_t)id);
        assert_int_equal(c->n_members, 3);
        assert_int_equal(c->joining, 0);
        assert_string_equal(c->members[id - 1].client_addr, c->client_addr);
        assert_string_equal(c->members[id - 1].peer_addr, c->peer_addr);
        assert_string_equal(c->storage.plugin,
                            i <= 3 ? "storage_sqlite" : "storage_mysql");
        assert_int_equal(c->tls_peer, 1);
        assert_int_equal(c->tls_client, 1);
        assert_non_null(strstr(c->tls_cert, "/data/tls/node-"));
        config_free(c);
    }
}

#define CLUSTER_HEAD "node: { id: 1, data_dir: d }\nstorage: { plugin: s }\n" \
                     "listen: { client: '127.0.0.1:7401', peer: '127.0.0.1:7501' }\n"

/* The peer port needs mutual TLS unless told otherwise; a client port on
 * a network needs TLS unless told otherwise; loopback may stay plain. */
static void tls_rules(void **state)
{
    (void)state;
    expect_error(CLUSTER_HEAD,
                 "1: tls: missing (the peer port needs mutual TLS: set tls.ca, "
                 "tls.cert and tls.key (lms-admin cluster-ca makes them), or "
                 "say tls.peer: off for a cluster on one trusted machine "
                 "(loopback))");
    expect_error(CLUSTER_HEAD "tls: { cert: a.crt, key: a.key }\n",
                 "4: tls.ca: missing (the peer port needs mutual TLS: set "
                 "tls.ca, tls.cert and tls.key (lms-admin cluster-ca makes "
                 "them), or say tls.peer: off for a cluster on one trusted "
                 "machine (loopback))");
    expect_error(VALID "listen: { client: '0.0.0.0:7400' }\n",
                 "1: tls: missing (the client port needs TLS: set tls.cert and "
                 "tls.key, or say tls.client: off (plaintext: passwords and "
                 "tokens cross the network in clear))");
    expect_error(VALID "listen: { client: '127.0.0.1:7400' }\n"
                 "tls: { client: on }\n",
                 "4: tls.cert: missing (the client port needs TLS: set tls.cert "
                 "and tls.key, or say tls.client: off (plaintext: passwords and "
                 "tokens cross the network in clear))");
    expect_error(VALID "tls: { peer: off, client_cert: x.pem }\n",
                 "3: tls.client_key: missing (tls.client_cert and "
                 "tls.client_key go together)");
    expect_error(VALID "tls: { peer: maybe }\n",
                 "3: tls.peer: expected true or false, got 'maybe'");
    /* said plainly: allowed */
    lms_config *c = load_ok(CLUSTER_HEAD "tls: { peer: off, client: off }\n");
    assert_int_equal(c->tls_peer, 0);
    assert_int_equal(c->tls_client, 0);
    config_free(c);
    c = load_ok(VALID "listen: { client: '0.0.0.0:7400' }\n"
                "tls: { client: off }\n");
    assert_int_equal(c->tls_client, 0);
    config_free(c);
    /* loopback without certificates: plaintext (lmsd warns) */
    c = load_ok(VALID);
    assert_int_equal(c->tls_client, 0);
    assert_int_equal(c->tls_peer, 0);
    config_free(c);
    /* certificates given: both ports on by default */
    c = load_ok(CLUSTER_HEAD "tls: { ca: ca.crt, cert: n.crt, key: n.key }\n");
    assert_int_equal(c->tls_peer, 1);
    assert_int_equal(c->tls_client, 1);
    config_free(c);
}

static void cluster_mistakes_are_errors(void **state)
{
    expect_error(CLUSTER_HEAD "cluster:\n  members:\n"
                 "    - { id: 1, peer: '127.0.0.1:7501', client: '127.0.0.1:7401' }\n"
                 "    - { id: 1, peer: '127.0.0.1:7502', client: '127.0.0.1:7402' }\n",
                 "7: cluster.members[1].id: duplicate member id 1 (also on line 6)");
    expect_error(CLUSTER_HEAD "cluster:\n  members:\n"
                 "    - { id: 0, client: '127.0.0.1:7401' }\n",
                 "6: cluster.members[0].id: 0 is out of range (expected a "
                 "positive integer)");
    expect_error(CLUSTER_HEAD "cluster:\n  members:\n"
                 "    - { peer: '127.0.0.1:7501', client: '127.0.0.1:7401' }\n",
                 "6: cluster.members[0].id: missing (expected the member's node id)");
    expect_error(CLUSTER_HEAD "cluster:\n  members:\n"
                 "    - { id: 1, peer: '127.0.0.1:7501', client: '127.0.0.1:7401' }\n"
                 "    - { id: 2, client: '127.0.0.1:7402' }\n",
                 "7: cluster.members[1].peer: missing (expected the address the "
                 "other nodes reach it at; every member of a cluster of more "
                 "than one needs one)");
    expect_error(CLUSTER_HEAD "cluster:\n  members:\n"
                 "    - { id: 1, peer: '127.0.0.1:7501' }\n",
                 "6: cluster.members[0].client: missing (expected the address "
                 "its clients use, e.g. 127.0.0.1:7401)");
    expect_error(CLUSTER_HEAD "cluster:\n  members:\n"
                 "    - { id: 1, peer: 'nohost', client: '127.0.0.1:7401' }\n",
                 "6: cluster.members[0].peer: 'nohost' is not a valid address: "
                 "missing :port (expected host:port, e.g. 127.0.0.1:7400)");
    expect_error(CLUSTER_HEAD "cluster:\n  members:\n"
                 "    - { id: 1, peer: '127.0.0.1:7501', client: '127.0.0.1:7409' }\n",
                 "6: cluster.members[0].client: 127.0.0.1:7409 is this node, "
                 "but it listens on 127.0.0.1:7401 (listen.client): expected "
                 "the same address");
    expect_error(CLUSTER_HEAD "cluster:\n  members:\n"
                 "    - { id: 1, peer: '127.0.0.1:7501', client: '127.0.0.1:7401', x: 1 }\n",
                 "6: cluster.members[0].x: unknown key (expected one of: id, "
                 "peer, client)");
    expect_error(CLUSTER_HEAD "cluster:\n  members: []\n",
                 "5: cluster.members: 0 members (expected 1 to 16)");
    expect_error(CLUSTER_HEAD "cluster:\n  members:\n    - 7\n",
                 "6: cluster.members[0]: expected a mapping such as { id: 1, "
                 "peer: 127.0.0.1:7501, client: 127.0.0.1:7401 }, got '7'");
    expect_error(CLUSTER_HEAD "cluster: { id: '' }\n",
                 "4: cluster.id: expected a name of 1 to 64 characters");
    /* more than one member, or joining: someone must be able to connect */
    expect_error("node: { id: 1, data_dir: d }\nstorage: { plugin: s }\n"
                 "listen: { client: '127.0.0.1:7401' }\ncluster:\n  members:\n"
                 "    - { id: 1, peer: '127.0.0.1:7501', client: '127.0.0.1:7401' }\n"
                 "    - { id: 2, peer: '127.0.0.1:7502', client: '127.0.0.1:7402' }\n",
                 "3: listen.peer: missing (expected listen.peer, the address "
                 "the other nodes of the cluster connect to)");
    expect_error("node: { id: 4, data_dir: d }\nstorage: { plugin: s }\ncluster:\n"
                 "  members:\n"
                 "    - { id: 1, peer: '127.0.0.1:7501', client: '127.0.0.1:7401' }\n",
                 "1: listen: missing (expected listen.peer, the address the "
                 "other nodes of the cluster connect to)");
}

static void raft_mistakes_are_errors(void **state)
{
    expect_error(VALID "raft: { tick: 0ms }\n",
                 "3: raft.tick: 0 ms is out of range (expected 1ms to 1s)");
    expect_error(VALID "raft: { tick: 2s }\n",
                 "3: raft.tick: 2000 ms is out of range (expected 1ms to 1s)");
    expect_error(VALID "raft: { heartbeat_ticks: 0 }\n",
                 "3: raft.heartbeat_ticks: 0 is out of range (expected 1 to 10000)");
    expect_error(VALID "raft: { election_ticks: 3, heartbeat_ticks: 3 }\n",
                 "3: raft.election_ticks: election_ticks (3) must be larger "
                 "than heartbeat_ticks (3) and at most 10000");
    expect_error(VALID "raft: { heartbeat_ticks: 12 }\n",
                 "3: raft.heartbeat_ticks: election_ticks (10) must be larger "
                 "than heartbeat_ticks (12) and at most 10000");
    expect_error(VALID "raft: { elections: 3 }\n",
                 "3: raft.elections: unknown key (expected one of: tick, "
                 "election_ticks, heartbeat_ticks, snapshot_entries, "
                 "snapshot_bytes, keep_entries, segment_bytes, "
                 "snapshot_rate, max_term_jump)");
    expect_error(VALID "raft: { max_term_jump: 0 }\n",
                 "3: raft.max_term_jump: 0 is out of range (expected 1 to "
                 "2^61)");
    expect_error(VALID "raft: { snapshot_entries: 0 }\n",
                 "3: raft.snapshot_entries: 0 is out of range (expected 1 to "
                 "100000000)");
    expect_error(VALID "raft: { keep_entries: -1 }\n",
                 "3: raft.keep_entries: -1 is out of range (expected 0 to "
                 "100000000)");
    expect_error(VALID "raft: { snapshot_bytes: 1KiB }\n",
                 "3: raft.snapshot_bytes: 1024 bytes is too small (at least "
                 "64KiB)");
    expect_error(VALID "raft: { segment_bytes: 2GiB }\n",
                 "3: raft.segment_bytes: 2147483648 bytes is out of range "
                 "(expected 64KiB to 1GiB)");
    expect_error(VALID "raft: { snapshot_rate: 1KiB }\n",
                 "3: raft.snapshot_rate: 1024 bytes/s is too slow (0 for no "
                 "cap, else at least 64KiB)");
    expect_error(VALID "raft: { segment_bytes: lots }\n",
                 "3: raft.segment_bytes: expected a size such as 4096, "
                 "512KiB, 64MiB, 1GiB (or KB/MB/GB), got 'lots'");
}

static void null_values_count_as_absent(void **state)
{
    lms_config *c = load_ok(VALID "plugin_dir: ~\nlog:\nsessions: { ttl: null }\n"
                                  "tutor:\n");
    assert_null(c->plugin_dir);
    assert_int_equal(c->log_level, LMS_LOG_INFO);
    assert_int_equal(c->session_ttl_ms, 86400000);
    assert_null(c->tutor.plugin);
    config_free(c);
}

static void relative_paths_follow_the_config_file(void **state)
{
    lms_config *c = load_ok("node: { data_dir: ./a/../b//c/. }\n"
                            "storage: { plugin: sub/../x.so }\n"
                            "auth: { plugin: /opt/lms/auth.so }\n");
    char *dir = realpath(g_tmpdir, NULL), want[PATH_MAX + 32];
    snprintf(want, sizeof want, "%s/b/c", dir);
    assert_string_equal(c->data_dir, want);
    snprintf(want, sizeof want, "%s/x.so", dir);
    assert_string_equal(c->storage.plugin, want);
    assert_string_equal(c->auth.plugin, "/opt/lms/auth.so");
    free(dir);
    config_free(c);
}

/* ---- errors: each names file, line and key ----------------------------- */

static void unknown_keys_are_errors(void **state)
{
    expect_error(VALID "colour: blue\n",
                 "3: colour: unknown key (expected one of: node, listen, "
                 "plugin_dir, log, sessions, limits, storage, auth, tutor, "
                 "cluster, raft, tls)");
    expect_error("node:\n  id: 1\n  dat_dir: x\nstorage: { plugin: s }\n",
                 "3: node.dat_dir: unknown key (expected one of: id, "
                 "data_dir)");
    expect_error(VALID "listen:\n  client: 127.0.0.1:1\n  metric: x:2\n",
                 "5: listen.metric: unknown key (expected one of: client, "
                 "peer, metrics)");
    expect_error(VALID "log: { level: info, file: x }\n",
                 "3: log.file: unknown key (expected one of: level, format, "
                 "slow_request)");
    expect_error(VALID "sessions: { tll: 1h }\n",
                 "3: sessions.tll: unknown key (expected one of: ttl)");
    expect_error(VALID "limits: { max_frame: 1MiB }\n",
                 "3: limits.max_frame: unknown key (expected one of: "
                 "max_frame_bytes, max_upload_bytes, max_connections, "
                 "tutor_deadline, max_connections_per_ip, preauth_frame_bytes, "
                 "frame_timeout, frame_min_rate, idle_timeout, "
                 "preauth_idle_timeout, max_output_bytes, "
                 "max_sessions_per_user, login_failures, "
                 "login_failures_per_address, login_backoff_max, "
                 "logins_per_connection, logins_per_address, disk_reserve, "
                 "readers)");
}

static void client_limit_mistakes_are_errors(void **state)
{
    (void)state;
    expect_error(VALID "limits: { max_connections_per_ip: 0 }\n",
                 "3: limits.max_connections_per_ip: 0 is out of range "
                 "(expected 1 to 1048576)");
    expect_error(VALID "limits: { max_frame_bytes: 1MiB, max_upload_bytes: 1KiB, "
                       "preauth_frame_bytes: 2MiB }\n",
                 "3: limits.preauth_frame_bytes: 2097152 bytes is out of range "
                 "(expected 4KiB to max_frame_bytes, 1048576)");
    expect_error(VALID "limits: { frame_timeout: 10ms }\n",
                 "3: limits.frame_timeout: 10 ms is out of range (expected "
                 "100ms to 24h)");
    expect_error(VALID "limits: { preauth_idle_timeout: 2d }\n",
                 "3: limits.preauth_idle_timeout: 172800000 ms is out of range "
                 "(expected 100ms to 24h)");
    expect_error(VALID "limits: { frame_min_rate: 10 }\n",
                 "3: limits.frame_min_rate: 10 bytes per second is out of range "
                 "(expected 1KiB to 4294967295)");
    expect_error(VALID "limits: { max_output_bytes: 1KiB }\n",
                 "3: limits.max_output_bytes: 1024 bytes is too small (expected "
                 "at least 64KiB)");
    expect_error(VALID "limits: { readers: 65 }\n",
                 "3: limits.readers: 65 is out of range (expected 0 to 64)");
    expect_error(VALID "limits: { readers: -1 }\n",
                 "3: limits.readers: -1 is out of range (expected 0 to 64)");
}

static void wrong_types_are_errors(void **state)
{
    expect_error(VALID "limits: { max_connections: many }\n",
                 "3: limits.max_connections: expected an integer, got 'many'");
    expect_error(VALID "listen: [a, b]\n",
                 "3: listen: expected a mapping, got a sequence");
    expect_error("node: { id: [1], data_dir: d }\nstorage: { plugin: s }\n",
                 "1: node.id: expected an integer, got a sequence");
    expect_error("node:\n  data_dir:\n    path: x\nstorage: { plugin: s }\n",
                 "3: node.data_dir: expected a string, got a mapping");
    expect_error("node: { data_dir: d }\nstorage: storage_sqlite\n",
                 "2: storage: expected a mapping, got 'storage_sqlite'");
    expect_error(VALID "log: { level: loud }\n",
                 "3: log.level: 'loud' is not a log level (expected debug, "
                 "info, warn or error)");
    expect_error(VALID "log: { format: xml }\n",
                 "3: log.format: 'xml' is not a log format (expected text or json)");
    expect_error(VALID "log: { slow_request: 2h }\n",
                 "3: log.slow_request: 7200000 ms is out of range (expected 0, never, "
                 "to 1h)");

    expect_error(VALID "cluster:\n  members: 3\n",
                 "4: cluster.members: expected a sequence of cluster "
                 "members, got '3'");
    expect_error("node: { id: 0, data_dir: d }\nstorage: { plugin: s }\n",
                 "1: node.id: 0 is out of range (expected a positive "
                 "integer)");
}

static void bad_durations_and_sizes_are_errors(void **state)
{
    expect_error(VALID "sessions: { ttl: 3 weeks }\n",
                 "3: sessions.ttl: expected a duration such as 250ms, 30s, "
                 "5m, 24h or 7d, got '3 weeks'");
    expect_error(VALID "sessions:\n  ttl: 0s\n",
                 "4: sessions.ttl: expected a duration longer than 0, such "
                 "as 24h");
    expect_error(VALID "limits: { max_frame_bytes: 64M }\n",
                 "3: limits.max_frame_bytes: expected a size such as 4096, "
                 "512KiB, 64MiB, 1GiB (or KB/MB/GB), got '64M'");
    expect_error(VALID "limits: { max_frame_bytes: 4GiB }\n",
                 "3: limits.max_frame_bytes: 4294967296 bytes is out of "
                 "range (expected 4KiB to 4294967295 bytes)");
    expect_error(VALID "limits: { max_upload_bytes: 64MiB }\n",
                 "3: limits.max_upload_bytes: max_upload_bytes (67108864) "
                 "must be smaller than max_frame_bytes (67108864): an upload "
                 "travels in one frame with its request");
    expect_error(VALID "limits: { max_sessions_per_user: 0 }\n",
                 "3: limits.max_sessions_per_user: 0 is out of range "
                 "(expected 1 to 100000)");
    expect_error(VALID "limits: { logins_per_connection: 0 }\n",
                 "3: limits.logins_per_connection: 0 is out of range "
                 "(expected 1 to 1000)");
    expect_error(VALID "limits: { login_backoff_max: 500ms }\n",
                 "3: limits.login_backoff_max: 500 ms is out of range "
                 "(expected 1s to 1d)");
    expect_error(VALID "limits: { tutor_deadline: 500ms }\n",
                 "3: limits.tutor_deadline: 500 ms is out of range (expected "
                 "1s to 1h)");
    expect_error(VALID "limits: { tutor_deadline: 2h }\n",
                 "3: limits.tutor_deadline: 7200000 ms is out of range "
                 "(expected 1s to 1h)");
    expect_error(VALID "limits: { tutor_deadline: soon }\n",
                 "3: limits.tutor_deadline: expected a duration such as "
                 "250ms, 30s, 5m, 24h or 7d, got 'soon'");
    expect_error(VALID "limits:\n  max_frame_bytes: 1MiB\n",
                 "4: limits.max_frame_bytes: max_upload_bytes (33554432) "
                 "must be smaller than max_frame_bytes (1048576): an upload "
                 "travels in one frame with its request");
}

static void bad_addresses_are_errors(void **state)
{
    static const struct {
        const char *addr, *why;
    } cases[] = {
        {"localhost:99999", "the port must be a number from 1 to 65535"},
        {"localhost:0", "the port must be a number from 1 to 65535"},
        {"localhost:http", "the port must be a number from 1 to 65535"},
        {"localhost", "missing :port"},
        {":7400", "missing host (use 0.0.0.0 for every interface)"},
        {"::1:7400", "an IPv6 address must be in brackets, e.g. [::1]:7400"},
        {"[::1]", "missing :port"},
        {"[]:7400", "an IPv6 address is written [addr]:port"},
        {"my_host:7400", "bad character in the host name"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[200], want[300];
        snprintf(body, sizeof body, VALID "listen:\n  client: '%s'\n",
                 cases[i].addr);
        snprintf(want, sizeof want,
                 "4: listen.client: '%s' is not a valid address: %s "
                 "(expected host:port, e.g. 127.0.0.1:7400)",
                 cases[i].addr, cases[i].why);
        expect_error(body, want);
    }
    expect_error(VALID "listen: { client: 0.0.0.0:7400, peer: 0.0.0.0:7400 }\n",
                 "3: listen.peer: 0.0.0.0:7400 is also listen.client "
                 "(expected a different address or port)");
    expect_error(VALID "listen: { client: 0.0.0.0:7400, metrics: "
                       "0.0.0.0:7400 }\n",
                 "3: listen.metrics: 0.0.0.0:7400 is also listen.client "
                 "(expected a different address or port)");
    expect_error(VALID "listen: { client: 0.0.0.0:7400, peer: 0.0.0.0:7500, "
                       "metrics: 0.0.0.0:7500 }\n",
                 "3: listen.metrics: 0.0.0.0:7500 is also listen.peer "
                 "(expected a different address or port)");
    expect_error(VALID "listen: { metrics: 'localhost' }\n",
                 "3: listen.metrics: 'localhost' is not a valid address: "
                 "missing :port (expected host:port, e.g. 127.0.0.1:7400)");
}

static void missing_required_keys_are_errors(void **state)
{
    expect_error("node: { data_dir: d }\n",
                 "1: storage: missing (expected a mapping with plugin: "
                 "<name>, e.g. storage: { plugin: storage_sqlite })");
    expect_error("node: { data_dir: d }\nstorage:\n  path: x.db\n",
                 "3: storage.plugin: missing (expected the name of a plugin "
                 "or a path to its .so)");
    expect_error("node: { data_dir: d }\nstorage: { plugin: '' }\n",
                 "2: storage.plugin: expected a plugin name, got ''");
    expect_error("node: { id: 2 }\nstorage: { plugin: s }\n",
                 "1: node.data_dir: missing (expected the directory for this "
                 "node's data)");
    expect_error("storage: { plugin: s }\n",
                 "1: node: missing (expected node: { id: 1, data_dir: ./data "
                 "})");
}

static void duplicate_keys_are_errors(void **state)
{
    expect_error("node:\n  id: 1\n  data_dir: d\n  id: 2\n"
                 "storage: { plugin: s }\n",
                 "4: node.id: duplicate key (first defined on line 2)");
    expect_error(VALID "storage: { plugin: t }\n",
                 "3: storage: duplicate key (first defined on line 2)");
}

static void yaml_problems_are_errors(void **state)
{
    expect_error("node:\n  id: 1\n data_dir: x\n",
                 "3: YAML syntax error: did not find expected key (column 2; "
                 "while parsing a block mapping that starts on line 1)");
    expect_error("node: { data_dir: d\nstorage: x\n",
                 "2: YAML syntax error: did not find expected ',' or '}' "
                 "(column 8; while parsing a flow mapping that starts on "
                 "line 1)");
    expect_error("a: b: c\n", "1: YAML syntax error: mapping values are not "
                              "allowed in this context (column 5)");
    expect_error("# nothing here\n",
                 "1: the file is empty (expected a mapping with node: and "
                 "storage:)");
    expect_error("- node\n", "1: expected a mapping at the top level, got a "
                             "sequence");
    expect_error(VALID "---\nnode: {}\n",
                 "3: expected a single YAML document, found another");
    expect_error(VALID "auth: &a { plugin: p }\ntutor: *a\n",
                 "4: tutor: aliases (*name) are not supported");
}

static void missing_file_is_not_found(void **state)
{
    lms_config *c = (lms_config *)1;
    lms_err err;
    char path[128];
    snprintf(path, sizeof path, "%s/absent.yaml", g_tmpdir);
    assert_int_equal(config_load(path, &c, &err), LMS_NOT_FOUND);
    assert_null(c);
    char want[200];
    snprintf(want, sizeof want,
             "%s: cannot open config file: No such file or directory", path);
    assert_string_equal(err.msg, want);
}

/* ---- lookups in a plugin's subtree -------------------------------------- */

#define SUBTREE                                                                \
    "node: { data_dir: d }\n"                      /* 1 */                     \
    "storage:\n"                                   /* 2 */                     \
    "  plugin: storage_mysql\n"                    /* 3 */                     \
    "  host: db.example\n"                         /* 4 */                     \
    "  port: 3306\n"                               /* 5 */                     \
    "  offset: -12\n"                              /* 6 */                     \
    "  tls: yes\n"                                 /* 7 */                     \
    "  compress: Off\n"                            /* 8 */                     \
    "  quoted: \"null\"\n"                         /* 9 */                     \
    "  nothing: ~\n"                               /* 10 */                    \
    "  pool: { size: 8, idle: 30s }\n"             /* 11 */                    \
    "  list: [1, 2]\n"                             /* 12 */                    \
    "  d: { a: 250ms, b: 30s, c: 5m, d: 24h, e: 7d, f: 90, g: 2 h }\n" /* 13 */ \
    "  s: { a: 4096, b: 512KiB, c: 10MiB, d: 1GiB, e: 1KB, f: 5MB,\n"  /* 14 */ \
    "       g: 2GB, h: 64 MiB, i: 1TiB, j: 3kib, k: 7B }\n"          /* 15 */ \
    "  bad: { d1: 5x, d2: 1.5h, d3: -1s, d4: 99999999999999999999d,\n" /* 16 */ \
    "         s1: 10M, s2: -5, s3: 1.5GiB, s4: 20000000TiB,\n"        /* 17 */ \
    "         i1: 12abc, i2: 99999999999999999999, i3: ' 5', b1: maybe }\n"

static void lookups_read_strings_ints_and_bools(void **state)
{
    lms_config *c = load_ok(SUBTREE);
    const config_node *n = c->storage.node;
    const char *s = NULL;
    long long i = 0;
    int b = -1;
    lms_err err;
    assert_int_equal(config_string(n, "host", &s, &err), LMS_OK);
    assert_string_equal(s, "db.example");
    assert_int_equal(config_string(n, "port", &s, &err), LMS_OK);
    assert_string_equal(s, "3306");
    assert_int_equal(config_string(n, "quoted", &s, &err), LMS_OK);
    assert_string_equal(s, "null");
    assert_int_equal(config_int(n, "port", &i, &err), LMS_OK);
    assert_int_equal(i, 3306);
    assert_int_equal(config_int(n, "offset", &i, &err), LMS_OK);
    assert_int_equal(i, -12);
    assert_int_equal(config_int(n, "pool.size", &i, &err), LMS_OK);
    assert_int_equal(i, 8);
    assert_int_equal(config_bool(n, "tls", &b, &err), LMS_OK);
    assert_int_equal(b, 1);
    assert_int_equal(config_bool(n, "compress", &b, &err), LMS_OK);
    assert_int_equal(b, 0);
    config_free(c);
}

static void lookups_leave_out_untouched_when_absent(void **state)
{
    lms_config *c = load_ok(SUBTREE);
    const config_node *n = c->storage.node;
    const char *s = "preset";
    long long i = 42;
    assert_int_equal(config_string(n, "nothing", &s, NULL), LMS_NOT_FOUND);
    assert_int_equal(config_string(n, "absent", &s, NULL), LMS_NOT_FOUND);
    assert_int_equal(config_int(n, "pool.absent", &i, NULL), LMS_NOT_FOUND);
    assert_int_equal(config_int(n, "absent.size", &i, NULL), LMS_NOT_FOUND);
    assert_int_equal(config_int(NULL, "port", &i, NULL), LMS_NOT_FOUND);
    assert_string_equal(s, "preset");
    assert_int_equal(i, 42);
    config_free(c);
}

/* key under storage must be refused with exactly "<path>:<want>". */
static void expect_lookup_error(const config_node *n, const char *key,
                                int (*lookup)(const config_node *, const char *,
                                              void *, lms_err *),
                                const char *want)
{
    char out[16];
    lms_err err;
    char full[400];
    snprintf(full, sizeof full, "%s:%s", g_path, want);
    int rc = lookup(n, key, out, &err);
    if (rc != LMS_INVALID_ARGUMENT || strcmp(err.msg, full) != 0)
        fail_msg("%s: expected INVALID_ARGUMENT \"%s\"\n     got %d \"%s\"",
                 key, full, rc, rc == LMS_INVALID_ARGUMENT ? err.msg : "");
}

/* The typed lookups behind one signature, for expect_lookup_error. */
static int any_int(const config_node *n, const char *k, void *o, lms_err *e)
{
    return config_int(n, k, o, e);
}
static int any_bool(const config_node *n, const char *k, void *o, lms_err *e)
{
    return config_bool(n, k, o, e);
}
static int any_string(const config_node *n, const char *k, void *o, lms_err *e)
{
    return config_string(n, k, o, e);
}
static int any_duration(const config_node *n, const char *k, void *o,
                        lms_err *e)
{
    return config_duration_ms(n, k, o, e);
}
static int any_size(const config_node *n, const char *k, void *o, lms_err *e)
{
    return config_size(n, k, o, e);
}

static void lookups_name_file_line_and_key_on_wrong_types(void **state)
{
    lms_config *c = load_ok(SUBTREE);
    const config_node *n = c->storage.node;
    expect_lookup_error(n, "host", any_int,
                        "4: storage.host: expected an integer, got "
                        "'db.example'");
    expect_lookup_error(n, "pool", any_string,
                        "11: storage.pool: expected a string, got a mapping");
    expect_lookup_error(n, "list", any_int,
                        "12: storage.list: expected an integer, got a "
                        "sequence");
    expect_lookup_error(n, "port.number", any_int,
                        "5: storage.port: expected a mapping, got '3306'");
    expect_lookup_error(n, "bad.b1", any_bool,
                        "18: storage.bad.b1: expected true or false, got "
                        "'maybe'");
    const char *ints[] = {"bad.i1", "bad.i2", "bad.i3"};
    for (size_t i = 0; i < 3; i++) {
        long long v;
        assert_int_equal(config_int(n, ints[i], &v, NULL), LMS_INVALID_ARGUMENT);
    }
    config_free(c);
}

static void durations_parse(void **state)
{
    lms_config *c = load_ok(SUBTREE);
    const config_node *n = c->storage.node;
    static const struct {
        const char *key;
        int64_t ms;
    } ok[] = {
        {"d.a", 250},         {"d.b", 30000},     {"d.c", 300000},
        {"d.d", 86400000},    {"d.e", 604800000}, {"d.f", 90000},
        {"d.g", 7200000},     {"pool.idle", 30000},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t v = -1;
        lms_err err;
        if (config_duration_ms(n, ok[i].key, &v, &err) != LMS_OK)
            fail_msg("%s: %s", ok[i].key, err.msg);
        if (v != ok[i].ms)
            fail_msg("%s: expected %lld ms, got %lld", ok[i].key,
                     (long long)ok[i].ms, (long long)v);
    }
    expect_lookup_error(n, "bad.d1", any_duration,
                        "16: storage.bad.d1: expected a duration such as "
                        "250ms, 30s, 5m, 24h or 7d, got '5x'");
    const char *bad[] = {"bad.d2", "bad.d3", "bad.d4"};
    for (size_t i = 0; i < 3; i++) {
        int64_t v;
        assert_int_equal(config_duration_ms(n, bad[i], &v, NULL),
                         LMS_INVALID_ARGUMENT);
    }
    config_free(c);
}

static void sizes_parse(void **state)
{
    lms_config *c = load_ok(SUBTREE);
    const config_node *n = c->storage.node;
    static const struct {
        const char *key;
        uint64_t bytes;
    } ok[] = {
        {"s.a", 4096},           {"s.b", 512 << 10},      {"s.c", 10 << 20},
        {"s.d", 1ull << 30},     {"s.e", 1000},           {"s.f", 5000000},
        {"s.g", 2000000000},     {"s.h", 64ull << 20},    {"s.i", 1ull << 40},
        {"s.j", 3 << 10},        {"s.k", 7},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 0;
        lms_err err;
        if (config_size(n, ok[i].key, &v, &err) != LMS_OK)
            fail_msg("%s: %s", ok[i].key, err.msg);
        if (v != ok[i].bytes)
            fail_msg("%s: expected %llu bytes, got %llu", ok[i].key,
                     (unsigned long long)ok[i].bytes, (unsigned long long)v);
    }
    expect_lookup_error(n, "bad.s1", any_size,
                        "17: storage.bad.s1: expected a size such as 4096, "
                        "512KiB, 64MiB, 1GiB (or KB/MB/GB), got '10M'");
    const char *bad[] = {"bad.s2", "bad.s3", "bad.s4"};
    for (size_t i = 0; i < 3; i++) {
        uint64_t v;
        assert_int_equal(config_size(n, bad[i], &v, NULL), LMS_INVALID_ARGUMENT);
    }
    config_free(c);
}

/* ---- main -------------------------------------------------------------- */

static int make_tmpdir(void **state)
{
    snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/lms-test-config-XXXXXX");
    if (!mkdtemp(g_tmpdir))
        return -1;
    snprintf(g_path, sizeof g_path, "%s/lmsd.yaml", g_tmpdir);
    return 0;
}

static int remove_tmpdir(void **state)
{
    unlink(g_path);
    return rmdir(g_tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(example_config_parses_to_its_documented_values),
        cmocka_unit_test(minimal_config_gets_defaults),
        cmocka_unit_test(every_setting_is_read),
        cmocka_unit_test(a_lone_node_is_its_own_cluster),
        cmocka_unit_test(the_example_cluster_configs_parse),
        cmocka_unit_test(tls_rules),
        cmocka_unit_test(cluster_mistakes_are_errors),
        cmocka_unit_test(raft_mistakes_are_errors),
        cmocka_unit_test(null_values_count_as_absent),
        cmocka_unit_test(relative_paths_follow_the_config_file),
        cmocka_unit_test(unknown_keys_are_errors),
        cmocka_unit_test(wrong_types_are_errors),
        cmocka_unit_test(client_limit_mistakes_are_errors),
        cmocka_unit_test(bad_durations_and_sizes_are_errors),
        cmocka_unit_test(bad_addresses_are_errors),
        cmocka_unit_test(missing_required_keys_are_errors),
        cmocka_unit_test(duplicate_keys_are_errors),
        cmocka_unit_test(yaml_problems_are_errors),
        cmocka_unit_test(missing_file_is_not_found),
        cmocka_unit_test(lookups_read_strings_ints_and_bools),
        cmocka_unit_test(lookups_leave_out_untouched_when_absent),
        cmocka_unit_test(lookups_name_file_line_and_key_on_wrong_types),
        cmocka_unit_test(durations_parse),
        cmocka_unit_test(sizes_parse),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
