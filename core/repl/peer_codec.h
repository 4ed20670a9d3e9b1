/* SPDX-License-Identifier: MIT */
/*
 * peer_codec.h: core/repl/raft's messages on the wire of the peer port
 * (proto/peer.proto). Pure functions, no I/O: the peer port (peer.c)
 * frames what these produce and feeds them what it reads, and the unit
 * test checks that every field of a raft_msg survives the round trip.
 */
#ifndef LMS_CORE_PEER_CODEC_H
#define LMS_CORE_PEER_CODEC_H

#include "blob.h"
#include "peer.pb-c.h"
#include "raft/raft.h"

#include <lms/plugin.h>
#include <stdint.h>

/* Bytes of the length prefix in front of every frame. */
#define PEER_FRAME_HEADER 4

/* A whole frame (4-byte big-endian length + PeerMessage) holding msg.
 * Entry data is copied into the frame once. NULL on out of memory. */
blob *peer_frame_pack(const Lms__PeerMessage *msg);

/* The frame of a PeerMessage holding m as a PeerRaft (entries, snapshot
 * metadata and all). NULL on out of memory or when m cannot be encoded
 * (a server address that is not NUL-terminated). */
blob *peer_encode_raft(const raft_msg *m);

/*
 * The same frame as peer_encode_raft, byte for byte, but in pieces: the
 * entries' data of at least min bytes is not copied, the pieces point into
 * the entries' own blobs (each piece holds a reference), and every other
 * byte is in one glue blob the other pieces point into. A leader sends a
 * 10 MB entry to every follower this way without a copy per follower.
 * RAFT_OK, RAFT_ERR_INVALID (a snapshot message: use peer_encode_raft;
 * a frame over 4 GiB) or RAFT_ERR_NOMEM.
 */
typedef struct peer_piece {
    blob *b; /* one reference, the piece's */
    size_t off, len;
} peer_piece;

typedef struct peer_pieces {
    peer_piece *v;
    size_t n;
} peer_pieces;

int peer_encode_raft_pieces(const raft_msg *m, size_t min, peer_pieces *out);
/* Drop the references the pieces still hold, and the array. */
void peer_pieces_free(peer_pieces *p);

/*
 * Fill *out from pb. Entries get blobs of their own (copies of the
 * protobuf's bytes) and an array that peer_raft_release frees; a snapshot's
 * metadata goes to *meta and out->snapshot points there. Returns RAFT_OK,
 * RAFT_ERR_INVALID (an unknown message type, more than
 * RAFT_MAX_APPEND_ENTRIES entries, too many servers, an address too long)
 * or RAFT_ERR_NOMEM; on error nothing is left to release. The values are
 * judged by raft_msg_check, which raft_step applies (the glue calls it
 * first to log why).
 */
int peer_decode_raft(const Lms__PeerRaft *pb, raft_msg *out,
                     raft_snapshot_meta *meta);

/* Drop what peer_decode_raft allocated for m. */
void peer_raft_release(raft_msg *m);

/* Snapshot metadata to and from its protobuf form. The encoder fills
 * caller-provided arrays (servers, ptrs: RAFT_MAX_SERVERS each) so it
 * allocates nothing; the decoder returns RAFT_ERR_INVALID for more than
 * RAFT_MAX_SERVERS servers or an address that does not fit. */
void peer_meta_to_pb(const raft_snapshot_meta *m, Lms__PeerSnapshotMeta *pb,
                     Lms__PeerServer *servers, Lms__PeerServer **ptrs);
int peer_meta_from_pb(const Lms__PeerSnapshotMeta *pb, raft_snapshot_meta *m);

/* ---- log repair: PeerFetch and PeerFetchReply (core/repl/node_repair.c) ---- */

/* A piece holds at most this many entries and, beyond its first entry,
 * this many bytes of entry data (its first may be one entry up to
 * WAL_MAX_ENTRY_BYTES). */
#define PEER_FETCH_MAX_ENTRIES 4096
#define PEER_FETCH_PIECE_BYTES ((size_t)4 << 20)
/* Terms and indexes above this are refused: no cluster gets there, and
 * keeping them below 2^63 leaves every "+ 1" and signed copy safe. */
#define PEER_MAX_TERM ((uint64_t)INT64_MAX)
#define PEER_MAX_INDEX ((uint64_t)INT64_MAX)
/* An error string in a reply longer than this is refused. */
#define PEER_FETCH_MAX_ERROR 256

/*
 * Check a PeerFetch before it is served: from_index in [1, PEER_MAX_INDEX];
 * (prev_index, prev_term) either (0, 0) or the entry before from_index
 * with a term in range (0 exactly at index 0). LMS_OK, or
 * LMS_INVALID_ARGUMENT with what is wrong in err (the caller names the
 * peer).
 */
int peer_fetch_check(const Lms__PeerFetch *f, lms_err *err);

/*
 * Check a PeerFetchReply before anything of it is used. A member that
 * does not lead sends no entries, no prev and no snapshot. A leader's
 * reply has a term in [1, PEER_MAX_TERM]; prev_index <= last_index <=
 * PEER_MAX_INDEX; prev_term <= term, and 0 exactly when prev_index is 0;
 * with an error (at most PEER_FETCH_MAX_ERROR bytes, no control
 * characters: it goes into a log line) no entries and a
 * snapshot (index, term) no newer than term, or (0, 0); without one no
 * snapshot, and entries prev_index + 1, + 2, ... up to at most last_index,
 * of type command or configuration, at most PEER_FETCH_MAX_ENTRIES and the
 * byte limits above, whose terms do not decrease and lie in
 * [max(prev_term, 1), term]. LMS_OK or LMS_INVALID_ARGUMENT with why.
 */
int peer_fetch_reply_check(const Lms__PeerFetchReply *r, lms_err *err);

#endif
