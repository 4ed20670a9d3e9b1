/* SPDX-License-Identifier: MIT */
/*
 * cluster_ca.h: `lms-admin cluster-ca`, the TLS files of a cluster, made on
 * this machine without a server: `init` makes the cluster's own CA (ca.crt,
 * ca.key) and `issue` a certificate and key for one node, signed by it.
 *
 * A node's certificate carries exactly one URI subject alternative name,
 * lms://CLUSTER/node/ID: the peer port's mutual TLS checks it to learn which
 * member is on the other end, so the CA is what vouches for member ids.
 */
#ifndef LMS_CLIENTS_CLUSTER_CA_H
#define LMS_CLIENTS_CLUSTER_CA_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"

#define LMS_CA_DAYS_CA 3650  /* default validity of the CA, days */
#define LMS_CA_DAYS_NODE 825 /* default validity of a node's certificate */
#define LMS_CA_DAYS_MAX 36500
#define LMS_CA_CLUSTER_MAX 64 /* the config's limit on cluster.id */
#define LMS_CA_HOST_MAX 253

/* ---- pure checks: 0, or -1 with the reason (naming the value) in err ----- */

/* A cluster id that can sit in the URI: 1..64 printable ASCII characters,
 * none of whitespace / % ? # @ : */
int lms_ca_check_cluster_id(const char *id, char *err, size_t errlen);

/* A node id: decimal digits only, 1 .. 2^63-1 (what node.id can hold). */
int lms_ca_parse_node_id(const char *text, uint64_t *out, char *err, size_t errlen);

/* A --host: an IPv4 or IPv6 literal (*is_ip set), or a DNS name of
 * letters, digits, '-' and '.' (labels of 1..63, no wildcard), at most 253
 * characters. */
int lms_ca_check_host(const char *host, int *is_ip, char *err, size_t errlen);

/* "lms://CLUSTER/node/ID" into buf; -1 if it does not fit. */
int lms_ca_node_uri(const char *cluster, uint64_t id, char *buf, size_t n);

/* ---- the subcommands (CLI_LOCAL) ----------------------------------------- */

extern const struct cli_param lms_ca_init_params[];
extern const struct cli_param lms_ca_issue_params[];
int lms_ca_cmd_init(struct cli_ctx *ctx, const struct cli_args *a);
int lms_ca_cmd_issue(struct cli_ctx *ctx, const struct cli_args *a);

#define LMS_CA_COMMANDS                                                                      \
    {.name = "cluster-ca init",                                                              \
     .summary = "make the cluster's TLS certificate authority in DIR (ca.crt, ca.key); "     \
                "local, no server",                                                          \
     .params = lms_ca_init_params, .handler = lms_ca_cmd_init, .flags = CLI_LOCAL},          \
    {.name = "cluster-ca issue",                                                             \
     .summary = "issue node NODE_ID's TLS certificate and key with the CA in DIR; local, no " \
                "server",                                                                    \
     .params = lms_ca_issue_params, .handler = lms_ca_cmd_issue, .flags = CLI_LOCAL}

#endif
