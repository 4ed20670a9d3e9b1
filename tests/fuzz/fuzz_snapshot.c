/* SPDX-License-Identifier: MIT */
/*
 * fuzz_snapshot.c: the snapshot file reader (core/repl/snapshot.c). The input
 * is a snapshot file: its header is read (snapshot_peek), the cluster
 * configuration in it decoded as a member does at start
 * (raft_conf_decode, node_snapshot.c), and the whole file checked against
 * its trailer (snapshot_verify), as before a snapshot is sent or loaded.
 */
#include "fuzz.h"

#include "blob.h"
#include "raft/raft.h"
#include "snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    fuzz_write_file(fuzz_tmpdir(), "snap-00000000000000000001.lmss", data,
                    size, path, sizeof path);
    snapshot_info info;
    lms_err err = {0};
    if (snapshot_peek(path, &info, &err) != LMS_OK)
        return 0;
    FUZZ_CHECK(info.size == size, "snapshot_peek: wrong size");
    if (info.config_len) {
        blob *b = blob_copy(info.config, info.config_len);
        FUZZ_CHECK(b, "out of memory");
        raft_config cfg;
        raft_conf_change chg;
        if (raft_conf_decode(b, &cfg, &chg) == RAFT_OK)
            FUZZ_CHECK(cfg.n <= RAFT_MAX_SERVERS, "too many servers decoded");
        blob_unref(b);
    }
    (void)snapshot_verify(path, info.index, info.term, &err);
    snapshot_info_free(&info);
    return 0;
}
