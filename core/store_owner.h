/* SPDX-License-Identifier: MIT */
/*
 * store_owner.h: which node of which cluster a store belongs to.
 *
 * A database server can be shared by many nodes and many clusters, and a
 * configuration copied from one node to the next can point two nodes at
 * one database. A node that ran on a store it does not own would apply
 * its log over someone else's state, so lmsd records the owner in the
 * store itself (storage.h meta_put, ABI 1.3: keys owner_cluster and
 * owner_node) and checks it at every start, before anything is applied.
 */
#ifndef LMS_CORE_STORE_OWNER_H
#define LMS_CORE_STORE_OWNER_H

#include "plugin_loader.h"

#include <lms/storage.h>

#include <stdint.h>

/*
 * Check that the open, migrated store st (of plugin pl) belongs to node
 * node_id of cluster cluster_id, and record that it does when it belongs
 * to nobody yet (a new store, or one written before ABI 1.3) or when
 * adopt is set (--adopt-storage). LMS_OK, or FAILED_PRECONDITION with a
 * message that says whose store it is and what to do. A plugin without
 * meta ops (ABI 1.2) passes with a warning in the log.
 */
int store_owner_check(const loaded_plugin *pl, void *st, const char *cluster_id,
                      uint64_t node_id, int adopt, lms_err *err);

#endif
