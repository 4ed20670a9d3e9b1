/* SPDX-License-Identifier: MIT */
/*
 * store_owner.c: see store_owner.h. The owner is two meta values,
 * owner_cluster (cluster.id) and owner_node (node.id in decimal), written
 * in one transaction that commits with the store's applied index
 * unchanged.
 */
#include "store_owner.h"

#include "lms_assert.h"
#include "log.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define KEY_CLUSTER "owner_cluster"
#define KEY_NODE "owner_node"

/* Record cluster_id / node_id as the owner, leaving the applied index. */
static int claim(const struct lms_storage_ops *ops, void *st,
                 const char *cluster_id, uint64_t node_id, lms_err *err)
{
    uint64_t applied = 0;
    char node[24];
    snprintf(node, sizeof node, "%" PRIu64, node_id);
    int rc = ops->applied_index(st, &applied, err);
    if (rc != LMS_OK || (rc = ops->begin(st, err)) != LMS_OK)
        return rc;
    if ((rc = ops->meta_put(st, KEY_CLUSTER, cluster_id, err)) != LMS_OK ||
        (rc = ops->meta_put(st, KEY_NODE, node, err)) != LMS_OK ||
        (rc = ops->commit(st, applied, err)) != LMS_OK) {
        ops->rollback(st, NULL);
        return rc;
    }
    return LMS_OK;
}

/* meta_get that turns NOT_FOUND into "" (and LMS_OK). */
static int get_or_empty(const struct lms_storage_ops *ops, void *st,
                        const char *key, char *out, size_t cap, lms_err *err)
{
    int rc = ops->meta_get(st, key, out, cap, err);
    if (rc == LMS_NOT_FOUND) {
        out[0] = '\0';
        lms_err_clear(err);
        return LMS_OK;
    }
    return rc;
}

int store_owner_check(const loaded_plugin *pl, void *st, const char *cluster_id,
                      uint64_t node_id, int adopt, lms_err *err)
{
    const struct lms_storage_ops *ops = pl->desc->ops;
    const char *name = pl->desc->name;
    /* the loader requires storage ABI 1.4, meta_get and meta_put among its
     * ops (plugin_loader.c) */
    LMS_ASSERT(PLUGIN_HAS_OP(pl->desc, lms_storage_ops, meta_put) && ops->meta_get &&
               ops->meta_put);
    char cluster[LMS_TITLE_MAX + 1], node[LMS_TITLE_MAX + 1];
    int rc = get_or_empty(ops, st, KEY_CLUSTER, cluster, sizeof cluster, err);
    if (rc == LMS_OK)
        rc = get_or_empty(ops, st, KEY_NODE, node, sizeof node, err);
    if (rc != LMS_OK)
        return rc;
    char mine[24];
    snprintf(mine, sizeof mine, "%" PRIu64, node_id);
    if (strcmp(cluster, cluster_id) == 0 && strcmp(node, mine) == 0)
        return LMS_OK;
    if (cluster[0] == '\0' && node[0] == '\0') {
        log_info("storage %s: recording the store as node %" PRIu64
                 "'s of cluster '%s'", name, node_id, cluster_id);
        return claim(ops, st, cluster_id, node_id, err);
    }
    if (adopt) {
        log_warn("--adopt-storage: the store of node %s of cluster '%s' "
                 "becomes node %" PRIu64 "'s of cluster '%s'",
                 node, cluster, node_id, cluster_id);
        return claim(ops, st, cluster_id, node_id, err);
    }
    if (strcmp(cluster, cluster_id) != 0)
        return lms_err_set(
            err, LMS_FAILED_PRECONDITION,
            "the store of storage %s belongs to node %s of another cluster "
            "('%s'; this is node %" PRIu64 " of '%s'): give this node a "
            "store of its own (an empty one is filled from its snapshot and "
            "log), or, if the cluster was renamed, start once with "
            "--adopt-storage",
            name, node, cluster, node_id, cluster_id);
    return lms_err_set(
        err, LMS_FAILED_PRECONDITION,
        "the store of storage %s belongs to node %s of this cluster ('%s'), "
        "and this is node %" PRIu64 ": two nodes must never share a store; "
        "give this node a store of its own (an empty one is filled from its "
        "snapshot and log), or, if the node was renumbered, start once with "
        "--adopt-storage",
        name, node, cluster, node_id);
}
