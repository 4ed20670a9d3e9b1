/* SPDX-License-Identifier: MIT */
/*
 * config_keys.c: the table of lmsd's configuration keys (config_keys.h).
 * A key added to a section reader in config.c goes here first: the reader
 * refuses any key this table does not list, and the man page and its doc
 * test come from it. Ranges are stated in the help because config.c checks
 * them in code (a range is a rule there, not data here).
 */
#include "config_keys.h"

#include <stdio.h>
#include <string.h>

#define ROW(sec, k, t, d, ex, h)                                                           \
    {.section = (sec), .key = (k), .type = (t), .dflt = (d), .example = (ex), .help = (h)}

const config_key config_keys[] = {
    /* ---- the top level ---- */
    ROW("", "node", CONFIG_SECTION, NULL, NULL,
        "This node: its id and where it keeps its data. Required."),
    ROW("", "listen", CONFIG_SECTION, NULL, NULL,
        "The addresses this node listens on."),
    ROW("", "plugin_dir", CONFIG_PATH, "the build tree's plugins/, else <libdir>/lms",
        "plugins",
        "Where plugins named without a path are looked for (as <plugin_dir>/<name>.so). "
        "Without it, lmsd uses its build tree's plugins/ directory when the plugin is "
        "there, and the installed one otherwise."),
    ROW("", "log", CONFIG_SECTION, NULL, NULL, "What lmsd logs, and how."),
    ROW("", "sessions", CONFIG_SECTION, NULL, NULL, "Login sessions."),
    ROW("", "limits", CONFIG_SECTION, NULL, NULL,
        "Limits that protect the node from large, many or slow clients."),
    ROW("", "storage", CONFIG_PLUGIN, NULL, NULL,
        "The storage plugin (where the courses, users and grades live) and its options. "
        "Required."),
    ROW("", "auth", CONFIG_PLUGIN, "auth_password", NULL,
        "The authentication plugin and its options."),
    ROW("", "tutor", CONFIG_PLUGIN, NULL, NULL,
        "The tutor plugin and its options. Optional: without a tutor, ask --tutor tells "
        "students to ask their instructors. The one slot that SIGHUP reloads."),
    ROW("", "cluster", CONFIG_SECTION, NULL, NULL,
        "The Raft cluster. Without it a node is a cluster of one: itself, at listen.client "
        "(and listen.peer if given)."),
    ROW("", "raft", CONFIG_SECTION, NULL, NULL,
        "Raft's clock, snapshots and the command log."),
    ROW("", "tls", CONFIG_SECTION, NULL, NULL,
        "TLS on the peer and client ports. Paths are relative to the config file. A "
        "new path needs a restart, but SIGHUP reads the files at the running paths again "
        "for new connections (certificate rotation; files that fail a check are not "
        "taken)."),

    /* ---- node ---- */
    ROW("node", "id", CONFIG_INT, "1", "1",
        "This node's id, a positive integer unique in the cluster."),
    ROW("node", "data_dir", CONFIG_PATH, NULL, "data",
        "Where this node keeps its command log, its snapshots and (for storage_sqlite) its "
        "database; created with mode 0700 on first start. Required."),

    /* ---- listen ---- */
    ROW("listen", "client", CONFIG_ADDRESS, "127.0.0.1:7400", "127.0.0.1:7400",
        "Where clients (lms-student, lms-instructor, lms-admin) connect. 0.0.0.0:7400 for "
        "every interface, [::1]:7400 for IPv6."),
    ROW("listen", "peer", CONFIG_ADDRESS, NULL, "127.0.0.1:7500",
        "Where the other nodes of the cluster connect; required when the cluster has more "
        "than one member. Needs tls, or tls.peer: off."),
    ROW("listen", "metrics", CONFIG_ADDRESS, NULL, "127.0.0.1:9400",
        "An HTTP endpoint for monitoring (/metrics in Prometheus text format, /healthz, "
        "/readyz); off when absent. Plain HTTP without authentication: keep it on "
        "loopback or a monitoring network. Must differ from listen.client and listen.peer."),

    /* ---- log ---- */
    ROW("log", "level", CONFIG_STRING, "info", "info", "debug, info, warn or error."),
    ROW("log", "format", CONFIG_STRING, "text", "json",
        "text (a line per event, for people) or json (one JSON object per line, for a log "
        "collector)."),
    ROW("log", "slow_request", CONFIG_DURATION, "1s", "500ms",
        "A request that takes longer than this is logged at warn, with its request id and "
        "how long it took (every request is logged at debug); 0 logs none as slow. 0 to 1h."),

    /* ---- sessions ---- */
    ROW("sessions", "ttl", CONFIG_DURATION, "24h", "24h",
        "How long a login token stays valid (longer than 0)."),

    /* ---- limits ---- */
    ROW("limits", "max_frame_bytes", CONFIG_SIZE, "64MiB", "64MiB",
        "The largest protocol frame accepted, 4KiB to 4GiB less one byte; a larger one is "
        "refused and its connection closed."),
    ROW("limits", "max_upload_bytes", CONFIG_SIZE, "32MiB", "32MiB",
        "The largest submission or course material. Smaller than max_frame_bytes: a file "
        "travels in one frame with its request."),
    ROW("limits", "max_connections", CONFIG_INT, "1024", "1024",
        "Client connections served at once, 1 to 1048576."),
    ROW("limits", "tutor_deadline", CONFIG_DURATION, "60s", "60s",
        "How long lmsd waits for the tutor's answer to one question, 1s to 1h (the tutor "
        "plugin may time out earlier on its own options)."),
    ROW("limits", "max_connections_per_ip", CONFIG_INT, "64", "64",
        "Client connections from one address, 1 to 1048576; one more is answered "
        "UNAVAILABLE and closed."),
    ROW("limits", "preauth_frame_bytes", CONFIG_SIZE, "64KiB", "64KiB",
        "The largest frame on a connection where no request has carried a valid session "
        "token yet (a login fits), 4KiB to max_frame_bytes."),
    ROW("limits", "frame_timeout", CONFIG_DURATION, "10s", "10s",
        "A frame that has begun must be complete within frame_timeout plus one second per "
        "frame_min_rate bytes of its length, or the connection is closed; 100ms to 24h."),
    ROW("limits", "frame_min_rate", CONFIG_SIZE, "64KiB", "64KiB",
        "The bytes per second a frame is given on top of frame_timeout, 1KiB to "
        "4294967295."),
    ROW("limits", "idle_timeout", CONFIG_DURATION, "5m", "5m",
        "A connection with no request in flight and no frame begun is closed after this "
        "long, and so is one whose answer makes no progress going out; 100ms to 24h."),
    ROW("limits", "preauth_idle_timeout", CONFIG_DURATION, "20s", "20s",
        "idle_timeout for a connection on which no request has carried a valid token yet; "
        "100ms to 24h."),
    ROW("limits", "max_output_bytes", CONFIG_SIZE, "64MiB", "64MiB",
        "A connection with more answer bytes than this waiting to be sent is not read until "
        "half of them are out; at least 64KiB."),
    ROW("limits", "max_sessions_per_user", CONFIG_INT, "100", "100",
        "Sessions one user may hold, 1 to 100000; a new login ends the oldest."),
    ROW("limits", "login_failures", CONFIG_INT, "5", "5",
        "Failed logins of one name before each further attempt waits (1s, doubling up to "
        "login_backoff_max); 0 to 1000, 0 turns it off."),
    ROW("limits", "login_failures_per_address", CONFIG_INT, "50", "50",
        "The same for failed logins from one address; 0 to 1000000, 0 turns it off."),
    ROW("limits", "login_backoff_max", CONFIG_DURATION, "5m", "5m",
        "The longest wait after failed logins, 1s to 1d."),
    ROW("limits", "logins_per_connection", CONFIG_INT, "2", "2",
        "Logins in flight on one connection, 1 to 1000."),
    ROW("limits", "logins_per_address", CONFIG_INT, "8", "8",
        "Logins in flight from one address, 1 to 100000."),
    ROW("limits", "disk_reserve", CONFIG_SIZE, "256MiB", "256MiB",
        "The free space a leader keeps on the file system of node.data_dir: a write that "
        "would leave less is refused (RESOURCE_EXHAUSTED) while reads go on, so the node "
        "can still apply and snapshot. 0 turns it off."),
    ROW("limits", "readers", CONFIG_INT, "the CPUs online, 1 to 4", "2",
        "Threads that answer reads and run the early checks of writes beside the storage "
        "thread, 0 to 64; 0 runs them on the storage thread, behind the applies."),

    /* ---- plugin slots: lmsd reads only "plugin" (the plugins' options: the page's
     * PLUGIN OPTIONS, core/plugin_options.c) ---- */
    ROW("storage", "plugin", CONFIG_STRING, NULL, "storage_sqlite",
        "The storage plugin: a name, looked up as <plugin_dir>/<name>.so (storage_sqlite, "
        "storage_mysql), or a path to a .so. Required."),
    ROW("auth", "plugin", CONFIG_STRING, "auth_password", "auth_password",
        "The authentication plugin, a name or a path to a .so."),
    ROW("tutor", "plugin", CONFIG_STRING, NULL, "tutor_local",
        "The tutor plugin (tutor_local, tutor_openai), a name or a path to a .so."),

    /* ---- cluster ---- */
    ROW("cluster", "id", CONFIG_STRING, "lms", "lms",
        "The cluster's name, 1 to 64 characters, checked in every peer connection's hello "
        "and in the peer certificates (lms://ID/node/N)."),
    ROW("cluster", "members", CONFIG_LIST, "this node alone", NULL,
        "The initial members, the same on every initial member: 1 to 16 mappings of id, "
        "peer and client. A node whose node.id is not among them is joining and waits to be "
        "added (lms-admin cluster-add). Never edit it on a running cluster: membership "
        "changes go through the log."),
    ROW("cluster.members[]", "id", CONFIG_INT, NULL, "1",
        "The member's node.id, unique among the members. Required."),
    ROW("cluster.members[]", "peer", CONFIG_ADDRESS, NULL, "127.0.0.1:7500",
        "Where the other nodes reach it; required when there is more than one member. This "
        "node's own entry must be its listen.peer."),
    ROW("cluster.members[]", "client", CONFIG_ADDRESS, NULL, "127.0.0.1:7400",
        "Where clients reach it (the NOT_LEADER hint). This node's own entry must be its "
        "listen.client. Required."),

    /* ---- raft ---- */
    ROW("raft", "tick", CONFIG_DURATION, "10ms", "10ms", "The period of Raft's clock, 1ms to 1s."),
    ROW("raft", "election_ticks", CONFIG_INT, "10", "10",
        "A follower that hears nothing from the leader for election_ticks to "
        "2*election_ticks-1 ticks starts an election; more than heartbeat_ticks, at most "
        "10000."),
    ROW("raft", "heartbeat_ticks", CONFIG_INT, "1", "1",
        "The leader's heartbeat period in ticks, 1 to 10000."),
    ROW("raft", "snapshot_entries", CONFIG_INT, "10000", "10000",
        "Snapshot after this many applied entries (1 to 100000000), or snapshot_bytes of "
        "entry data, whichever comes first."),
    ROW("raft", "snapshot_bytes", CONFIG_SIZE, "64MiB", "64MiB",
        "Snapshot after this much applied entry data, at least 64KiB."),
    ROW("raft", "keep_entries", CONFIG_INT, "5000", "5000",
        "Entries kept behind a snapshot for followers that lag a little, 0 to 100000000."),
    ROW("raft", "segment_bytes", CONFIG_SIZE, "64MiB", "64MiB",
        "The size of a command log segment, the unit in which compaction frees disk; 64KiB "
        "to 1GiB."),
    ROW("raft", "snapshot_rate", CONFIG_SIZE, "0 (no cap)", "50MiB",
        "The bytes per second a leader streams to the followers that need a snapshot, all "
        "together; 0 for no cap, else at least 64KiB."),
    ROW("raft", "max_term_jump", CONFIG_INT, "1048576", "1048576",
        "A peer's message whose term lies more than this above the node's own is refused as "
        "forged or corrupt; 1 to 2^61."),

    /* ---- tls ---- */
    ROW("tls", "ca", CONFIG_PATH, NULL, "tls/ca.crt",
        "The cluster's CA (lms-admin cluster-ca init): peers must show a certificate it "
        "signed."),
    ROW("tls", "cert", CONFIG_PATH, NULL, "tls/node-1.crt",
        "This node's certificate (lms-admin cluster-ca issue), naming lms://CLUSTER/node/ID; "
        "also the client port's unless client_cert is set."),
    ROW("tls", "key", CONFIG_PATH, NULL, "tls/node-1.key",
        "The certificate's key, mode 0600 (refused when group or others can read it)."),
    ROW("tls", "client_cert", CONFIG_PATH, NULL, "tls/node-1.crt",
        "The client port's own certificate (e.g. a public CA's); goes with client_key."),
    ROW("tls", "client_key", CONFIG_PATH, NULL, "tls/node-1.key",
        "The key of client_cert, mode 0600."),
    ROW("tls", "peer", CONFIG_BOOL, "on", "on",
        "Mutual TLS on the peer port (needs ca, cert and key); off only for a cluster on "
        "one trusted machine (lmsd warns at start)."),
    ROW("tls", "client", CONFIG_BOOL, "on, but off on a loopback address without a certificate",
        "on",
        "TLS on the client port (needs cert and key, or client_cert and client_key). Off "
        "sends passwords and tokens in clear; lmsd warns at start."),

    {.key = NULL},
};

const config_key *config_key_find(const char *section, const char *key)
{
    for (const config_key *k = config_keys; k->key; k++)
        if (strcmp(k->section, section) == 0 && strcmp(k->key, key) == 0)
            return k;
    return NULL;
}

void config_key_names(const char *section, char *buf, size_t len)
{
    size_t used = 0;
    if (len == 0)
        return;
    buf[0] = '\0';
    for (const config_key *k = config_keys; k->key && used < len; k++)
        if (strcmp(k->section, section) == 0)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
                                     k->key);
}

const char *config_type_name(enum config_type t)
{
    static const char *const names[] = {
        [CONFIG_SECTION] = "mapping",   [CONFIG_PLUGIN] = "plugin slot",
        [CONFIG_STRING] = "string",     [CONFIG_INT] = "integer",
        [CONFIG_BOOL] = "boolean",      [CONFIG_DURATION] = "duration",
        [CONFIG_SIZE] = "size",         [CONFIG_PATH] = "path",
        [CONFIG_ADDRESS] = "address",   [CONFIG_LIST] = "list",
    };
    return (unsigned)t < sizeof names / sizeof names[0] && names[t] ? names[t] : "value";
}
