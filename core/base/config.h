/* SPDX-License-Identifier: MIT */
/*
 * config.h: lmsd's YAML configuration (libyaml).
 *
 * The whole file is parsed into a small tree that remembers the line of
 * every node, then the node settings are read out of it. Every error names
 * the file, the line and the key ("lmsd.yaml:12: storage.plugin: expected a
 * string"). Unknown top-level keys and unknown keys in lmsd's own sections
 * are errors (typos should not pass silently: the keys each section allows
 * are those of config_keys.c, which lmsd.yaml(5) documents); keys under a
 * plugin slot (storage, auth, tutor) belong to the plugin, which reads them
 * through config_node lookups. A null value (`key:`, `~`, `null`) counts as
 * absent.
 * Relative paths (data_dir, plugin_dir, a plugin given as a path) are made
 * absolute against the config file's directory. See docs/configuration.md.
 *
 * Example: see conf/lmsd.yaml.
 */
#ifndef LMS_CORE_CONFIG_H
#define LMS_CORE_CONFIG_H

/* limits.readers: the default (see lms_config.readers) and the most. */
#define CONFIG_READERS_AUTO UINT32_MAX
#define CONFIG_READERS_MAX 64

#include <lms/plugin.h>
#include <stdint.h>

typedef struct config_node config_node; /* a YAML mapping, sequence or scalar */

typedef struct plugin_slot {
    char *plugin;              /* name ("storage_sqlite") or path to a .so */
    const config_node *node;   /* the slot's mapping (includes "plugin") */
} plugin_slot;

/* One member of cluster.members. */
typedef struct cluster_member {
    uint64_t id;
    char *peer_addr;   /* where the other nodes reach it (NULL: a lone node) */
    char *client_addr; /* where clients reach it (NOT_LEADER hints) */
} cluster_member;

typedef struct lms_config {
    char *path;        /* the file it came from */
    uint64_t node_id;  /* node.id, default 1 */
    char *data_dir;    /* node.data_dir, made absolute (relative to the file) */
    char *client_addr; /* listen.client, default 127.0.0.1:7400 */
    char *peer_addr;   /* listen.peer, optional (NULL) */
    char *metrics_addr; /* listen.metrics, optional (NULL: no endpoint) */
    char *plugin_dir;  /* plugin_dir, optional: NULL means the built-in one */
    int log_level;     /* log.level, default info */
    int log_format;    /* log.format (enum lms_log_format), default text */
    int64_t slow_request_ms; /* log.slow_request, default 1s (0: never) */
    int64_t session_ttl_ms;    /* sessions.ttl (duration), default 24h */
    uint32_t max_frame_bytes;  /* limits.max_frame_bytes, default 64 MiB */
    uint64_t max_upload_bytes; /* limits.max_upload_bytes, default 32 MiB */
    uint32_t max_connections;  /* limits.max_connections, default 1024 */
    int64_t tutor_deadline_ms; /* limits.tutor_deadline, default 60s */
    /* Against clients that hold resources (docs/configuration.md): */
    uint32_t max_connections_per_ip; /* default 64 */
    uint32_t preauth_frame_bytes;    /* default 64 KiB */
    int64_t frame_timeout_ms;        /* default 10s */
    uint32_t frame_min_rate;         /* bytes per second, default 64 KiB */
    int64_t idle_timeout_ms;         /* default 5m */
    int64_t preauth_idle_timeout_ms; /* default 20s */
    uint64_t max_output_bytes;       /* default 64 MiB */
    /* Logins and sessions (docs/operations.md): */
    uint32_t max_sessions_per_user; /* limits.max_sessions_per_user, 100 */
    uint32_t login_failures;   /* limits.login_failures, default 5 (0: off) */
    uint32_t login_failures_per_address; /* default 50 (0: off) */
    int64_t login_backoff_max_ms; /* limits.login_backoff_max, default 5m */
    uint32_t logins_per_connection; /* in flight, default 2 */
    uint32_t logins_per_address;    /* in flight, default 8 */
    /* limits.disk_reserve, default 256 MiB (0: off): writes are refused
     * while the data dir's filesystem has less free (docs/operations.md) */
    uint64_t disk_reserve;
    /* limits.readers: threads that answer reads and run the checks of a
     * write beside the storage thread (storage.h, readers); default
     * CONFIG_READERS_AUTO: the CPUs online, 1 to 4. 0: on the storage
     * thread. */
    uint32_t readers;
    plugin_slot storage;       /* required */
    plugin_slot auth;          /* default: auth_password with no options */
    plugin_slot tutor;         /* optional (plugin NULL) */
    /* cluster: the initial members (without a cluster section: this node
     * alone, at listen.client and listen.peer). joining: this node is not
     * among them and waits to be added (lms-admin cluster-add). */
    char *cluster_id;          /* cluster.id, default "lms" */
    cluster_member *members;
    size_t n_members;
    int joining;
    /* raft: the clock of elections and heartbeats */
    int64_t raft_tick_ms;      /* raft.tick, default 10ms */
    uint32_t election_ticks;   /* raft.election_ticks, default 10 */
    uint32_t heartbeat_ticks;  /* raft.heartbeat_ticks, default 1 */
    uint64_t snapshot_entries; /* raft.snapshot_entries, default 10000 */
    uint64_t snapshot_bytes;   /* raft.snapshot_bytes, default 64MiB */
    uint64_t keep_entries;     /* raft.keep_entries, default 5000 */
    uint64_t segment_bytes;    /* raft.segment_bytes, default 64MiB */
    uint64_t snapshot_rate;    /* raft.snapshot_rate, bytes/s, 0: no cap */
    uint64_t max_term_jump;    /* raft.max_term_jump, default 2^20 */
    /* tls (docs/operations.md, Security): paths made absolute; NULL when
     * absent. peer/client: TLS on that port (default on; off must be said,
     * and then the node logs a warning at start). */
    char *tls_ca, *tls_cert, *tls_key, *tls_client_cert, *tls_client_key;
    int tls_peer, tls_client;
    config_node *root;
} lms_config;

/* Parse and validate path. On error returns LMS_INVALID_ARGUMENT (or
 * LMS_NOT_FOUND for a missing file) and err says file:line: key: what. */
int config_load(const char *path, lms_config **out, lms_err *err);
void config_free(lms_config *c);

/*
 * Lookups under a node (usually a plugin slot), by dotted key. Same contract
 * as the lms_host config_* services (host.h): LMS_OK, LMS_NOT_FOUND (out
 * untouched), or LMS_INVALID_ARGUMENT with err "file:line: slot.key: ...".
 * Integers accept plain numbers; config_duration_ms accepts numbers (seconds)
 * or "250ms", "30s", "5m", "24h", "7d"; config_size accepts numbers or
 * "512KiB", "10MiB", "1GiB" (and KB/MB/GB as powers of 1000).
 */
int config_string(const config_node *n, const char *key, const char **out, lms_err *err);
int config_int(const config_node *n, const char *key, long long *out, lms_err *err);
int config_bool(const config_node *n, const char *key, int *out, lms_err *err);
int config_duration_ms(const config_node *n, const char *key, int64_t *out, lms_err *err);
int config_size(const config_node *n, const char *key, uint64_t *out, lms_err *err);

/* Whether two nodes (from two loads of a file, say) hold the same value:
 * the same scalars, in mappings under the same keys (in any order), in
 * sequences in the same order. Lines do not count. NULL equals NULL. */
int config_node_equal(const config_node *a, const config_node *b);

#endif
