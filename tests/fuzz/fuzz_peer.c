/* SPDX-License-Identifier: MIT */
/*
 * fuzz_peer.c: the peer port's messages (core/repl/peer_codec.c) and what a
 * Raft node (core/repl/raft/) makes of them. One input is a script for one
 * fresh node 1 of the voters {1, 2, 3}; each step is one byte:
 *
 *   op & 7 == 0  tick          1  campaign        2  propose a command
 *             3  report a snapshot sent (ok or not, to 2 or 3)
 *             4  report 2 or 3 unreachable         5  ReadIndex
 *          6, 7  a peer frame: u16 big-endian length, then that many bytes
 *                of lms.PeerMessage
 *
 * A frame goes where the peer port sends it (peer.c in_message): a raft
 * message through peer_decode_raft into raft_step when it is addressed to
 * this node, a fetch or fetch reply through its check. After every step
 * the node's readies are handled as lmsd would (everything persisted,
 * committed entries applied in order, an installed snapshot taken as
 * applied), and every outgoing message is encoded for the wire and
 * decoded again. The node must not crash, and what it asks to apply must
 * come in order; terms must never go down.
 */
#include "fuzz.h"

#include "blob.h"
#include "peer.pb-c.h"
#include "peer_codec.h"
#include "raft/raft.h"

#include <stdlib.h>
#include <string.h>

#define SELF 1

typedef struct node {
    raft *r;
    raft_index applied;
    raft_term term;
} node;

/* An outgoing message survives the wire. */
static void roundtrip(const raft_msg *m)
{
    blob *f = peer_encode_raft(m);
    FUZZ_CHECK(f, "peer_encode_raft refused a message raft made");
    FUZZ_CHECK(f->len >= PEER_FRAME_HEADER, "a frame without a header");
    Lms__PeerMessage *pm = lms__peer_message__unpack(
        NULL, f->len - PEER_FRAME_HEADER, f->data + PEER_FRAME_HEADER);
    FUZZ_CHECK(pm && pm->body_case == LMS__PEER_MESSAGE__BODY_RAFT,
               "an encoded raft message does not decode");
    raft_msg back;
    raft_snapshot_meta meta;
    FUZZ_CHECK(peer_decode_raft(pm->raft, &back, &meta) == RAFT_OK,
               "an encoded raft message is refused");
    FUZZ_CHECK(back.type == m->type && back.from == m->from &&
                   back.to == m->to && back.term == m->term &&
                   back.index == m->index && back.commit == m->commit &&
                   back.n_entries == m->n_entries,
               "a raft message changed on the wire");
    peer_raft_release(&back);
    lms__peer_message__free_unpacked(pm, NULL);
    blob_unref(f);

    if (m->type != RAFT_MSG_SNAPSHOT) {
        peer_pieces p = {0};
        FUZZ_CHECK(peer_encode_raft_pieces(m, 1, &p) == RAFT_OK,
                   "peer_encode_raft_pieces refused a message");
        peer_pieces_free(&p);
    }
}

static void handle_ready(node *n)
{
    int rounds = 0;
    while (raft_has_ready(n->r) && rounds++ < 64) {
        struct raft_ready rd;
        FUZZ_CHECK(raft_ready(n->r, &rd) == RAFT_OK, "raft_ready failed");
        if (rd.snapshot) {
            FUZZ_CHECK(rd.snapshot->index >= n->applied,
                       "a snapshot older than what was applied");
            n->applied = rd.snapshot->index;
        }
        if (rd.has_hardstate) {
            FUZZ_CHECK(rd.hs.term >= n->term, "the term went down");
            FUZZ_CHECK(rd.hs.term <= RAFT_TERM_MAX, "a term past the maximum");
            n->term = rd.hs.term;
        }
        for (size_t i = 1; i < rd.n_entries; i++)
            FUZZ_CHECK(rd.entries[i].index == rd.entries[i - 1].index + 1,
                       "entries to persist are not contiguous");
        for (size_t i = 0; i < rd.n_committed; i++) {
            const raft_entry *e = &rd.committed[i];
            FUZZ_CHECK(e->index == n->applied + 1, "applied out of order");
            n->applied = e->index;
            if (e->type == RAFT_ENTRY_CONF && e->data) {
                raft_config cfg;
                raft_conf_change chg;
                (void)raft_conf_decode(e->data, &cfg, &chg);
            }
        }
        for (size_t i = 0; i < rd.n_msgs; i++)
            roundtrip(&rd.msgs[i]);
        for (size_t i = 0; i < rd.n_msgs_persisted; i++)
            roundtrip(&rd.msgs_persisted[i]);
        FUZZ_CHECK(raft_advance(n->r, &rd) == RAFT_OK, "raft_advance failed");
        (void)raft_applied(n->r, n->applied);
    }
}

static void deliver(node *n, const uint8_t *data, size_t len)
{
    Lms__PeerMessage *msg = lms__peer_message__unpack(NULL, len, data);
    if (!msg)
        return;
    lms_err err = {0};
    switch (msg->body_case) {
    case LMS__PEER_MESSAGE__BODY_RAFT: {
        raft_msg m;
        raft_snapshot_meta meta;
        if (peer_decode_raft(msg->raft, &m, &meta) != RAFT_OK)
            break;
        /* peer.c drops what is not addressed to this node or not from
         * the member that said hello, and accepts only members */
        if (m.to == SELF && m.from != SELF &&
            raft_config_find(raft_get_config(n->r), m.from))
            (void)raft_step(n->r, &m);
        peer_raft_release(&m);
        break;
    }
    case LMS__PEER_MESSAGE__BODY_FETCH:
        (void)peer_fetch_check(msg->fetch, &err);
        break;
    case LMS__PEER_MESSAGE__BODY_FETCH_REPLY:
        (void)peer_fetch_reply_check(msg->fetch_reply, &err);
        break;
    default:
        break;
    }
    lms__peer_message__free_unpacked(msg, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    raft_config boot = {.n = 3};
    for (uint32_t i = 0; i < 3; i++) {
        boot.servers[i].id = i + 1;
        boot.servers[i].role = RAFT_VOTER;
        boot.servers[i].addr[0] = (char)('a' + i);
    }
    raft_options o;
    raft_options_init(&o, SELF);
    o.seed = 7; /* the same input runs the same way */
    raft_restore rs = {.bootstrap = &boot};
    node n = {0};
    FUZZ_CHECK(raft_new(&o, &rs, &n.r) == RAFT_OK, "raft_new failed");
    handle_ready(&n);

    size_t pos = 0;
    while (pos < size) {
        uint8_t op = data[pos++];
        uint8_t arg = pos < size ? data[pos] : 0;
        switch (op & 7) {
        case 0:
            (void)raft_tick(n.r);
            break;
        case 1:
            (void)raft_campaign(n.r);
            break;
        case 2: {
            blob *b = blob_copy(&arg, 1);
            FUZZ_CHECK(b, "out of memory");
            raft_index idx;
            raft_term term;
            (void)raft_propose(n.r, b, &idx, &term, NULL);
            blob_unref(b);
            break;
        }
        case 3:
            (void)raft_report_snapshot(n.r, 2 + (op >> 3 & 1), op >> 4 & 1);
            break;
        case 4:
            (void)raft_report_unreachable(n.r, 2 + (op >> 3 & 1));
            break;
        case 5: {
            raft_id hint;
            (void)raft_read_index(n.r, op, &hint);
            break;
        }
        default: {
            if (size - pos < 2)
                pos = size;
            if (pos >= size)
                break;
            size_t len = (size_t)data[pos] << 8 | data[pos + 1];
            pos += 2;
            if (len > size - pos)
                len = size - pos;
            deliver(&n, data + pos, len);
            pos += len;
        }
        }
        handle_ready(&n);
    }
    raft_free(n.r);
    return 0;
}
