/* SPDX-License-Identifier: MIT */
/*
 * test_raft.c: stories of a Raft cluster (core/repl/raft over tests/sim's
 * fixture), each pinning down one behaviour: elections and their timers,
 * PreVote, CheckQuorum and the leader lease, log repair, the Figure 8
 * commit rule, snapshots, ReadIndex, leadership transfer, membership
 * changes, restarts, flow control and the ready contract.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "story.h"

static raft *R(fx *f, raft_id id)
{
    return fx_node_of(f, id)->r;
}

static int state_has(fx_node *n, const char *cmd)
{
    for (size_t i = 0; i < n->n_state; i++)
        if (!strcmp(n->state[i], cmd))
            return 1;
    return 0;
}

static void same_state(fx *f, raft_id a, raft_id b)
{
    fx_node *x = fx_node_of(f, a), *y = fx_node_of(f, b);
    EXPECT(x->n_state == y->n_state, "nodes %llu and %llu applied the same "
           "commands, got %zu and %zu", (ull)a, (ull)b, x->n_state, y->n_state);
    for (size_t i = 0; i < x->n_state; i++)
        EXPECT(!strcmp(x->state[i], y->state[i]), "command %zu equal: %s vs %s",
               i, x->state[i], y->state[i]);
}

static void no_check_quorum(raft_options *o)
{
    o->check_quorum = 0;
}

/* ---- elections ---------------------------------------------------------- */

static void election_elects_and_commits_a_noop(void **state)
{
    fx *f = fx_new(3, NULL);
    fx_campaign(f, 1);
    EXPECT(fx_leader(f) == 1, "node 1 leads, got %llu", (ull)fx_leader(f));
    for (raft_id k = 1; k <= 3; k++) {
        EXPECT(raft_get_term(R(f, k)) == 1, "term 1 on node %llu (pre-vote "
               "does not raise terms), got %llu", (ull)k,
               (ull)raft_get_term(R(f, k)));
        EXPECT(raft_get_leader(R(f, k)) == 1, "node %llu follows 1", (ull)k);
    }
    EXPECT(raft_get_commit(R(f, 1)) == 1, "the leader's no-op (index 1) "
           "commits, commit is %llu", (ull)raft_get_commit(R(f, 1)));
    fx_tick_all(f, 1);
    EXPECT(raft_get_commit(R(f, 3)) == 1, "followers learn the commit");
    fx_free(f);
}

static void election_timeout_is_randomized_in_range(void **state)
{
    int seen[20] = {0}, distinct = 0;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        raft_options o;
        raft_options_init(&o, 1);
        o.seed = seed;
        raft_config c = {0};
        c.n = 3;
        for (int i = 0; i < 3; i++)
            c.servers[i].id = (raft_id)i + 1;
        raft_restore rs = {0};
        rs.bootstrap = &c;
        raft *r;
        EXPECT(raft_new(&o, &rs, &r) == RAFT_OK, "node starts");
        int ticks = 0;
        while (raft_get_role(r) == RAFT_FOLLOWER && ticks < 100) {
            raft_tick(r);
            ticks++;
        }
        EXPECT(ticks >= 10 && ticks <= 19, "first campaign within election_tick.."
               "2*election_tick-1 ticks, got %d (seed %llu)", ticks, (ull)seed);
        if (ticks <= 19 && !seen[ticks]++)
            distinct++;
        raft_free(r);
    }
    EXPECT(distinct >= 5, "timeouts spread over the range, %d distinct", distinct);
}

static void prevote_keeps_a_partitioned_node_from_disrupting(void **state)
{
    fx *f = fx_new(3, NULL);
    elect(f, 1);
    raft_term t = raft_get_term(R(f, 1));
    fx_isolate(f, 3);
    fx_tick(f, 3, 200);
    fx_deliver(f);
    EXPECT(raft_get_term(R(f, 3)) == t, "an isolated node's term stays %llu "
           "(pre-votes fail), got %llu", (ull)t, (ull)raft_get_term(R(f, 3)));
    fx_heal(f);
    fx_tick_all(f, 3);
    EXPECT(fx_leader(f) == 1 && raft_get_term(R(f, 1)) == t,
           "leader 1 keeps term %llu after node 3 rejoins; leader %llu term %llu",
           (ull)t, (ull)fx_leader(f), (ull)raft_get_term(R(f, 1)));
    EXPECT(raft_get_leader(R(f, 3)) == 1, "node 3 follows 1 again");
    fx_free(f);
}

static void no_prevote(raft_options *o)
{
    o->pre_vote = 0;
}

static void without_prevote_a_rejoining_node_deposes_the_leader(void **state)
{
    fx *f = fx_new(3, no_prevote);
    elect(f, 1);
    raft_term t = raft_get_term(R(f, 1));
    fx_isolate(f, 3);
    fx_tick(f, 3, 200);
    fx_deliver(f);
    EXPECT(raft_get_term(R(f, 3)) > t, "without pre-vote the isolated node "
           "inflates its term");
    fx_heal(f);
    fx_tick_all(f, 3);
    EXPECT(raft_get_term(R(f, 1)) > t, "and the leader learns the higher term "
           "and steps down: term %llu", (ull)raft_get_term(R(f, 1)));
    fx_free(f);
}

static void checkquorum_leader_steps_down_when_cut_off(void **state)
{
    fx *f = fx_new(3, NULL);
    elect(f, 1);
    fx_isolate(f, 1);
    fx_tick(f, 1, 20);
    fx_deliver(f);
    EXPECT(raft_get_role(R(f, 1)) == RAFT_FOLLOWER, "a leader that heard from "
           "no quorum for an election timeout steps down, role %s",
           raft_role_name(raft_get_role(R(f, 1))));
    fx_free(f);
}

static void followers_with_a_live_leader_ignore_vote_requests(void **state)
{
    fx *f = fx_new(3, NULL);
    elect(f, 1);
    raft_term t = raft_get_term(R(f, 2));
    raft_msg m = {0};
    m.type = RAFT_MSG_VOTE;
    m.from = 3;
    m.to = 2;
    m.term = t + 5;
    m.index = raft_get_last_index(R(f, 3));
    m.log_term = t;
    raft_step(R(f, 2), &m);
    fx_process(f, 2);
    EXPECT(raft_get_term(R(f, 2)) == t, "the lease holds: term stays %llu, got "
           "%llu", (ull)t, (ull)raft_get_term(R(f, 2)));
    EXPECT(fx_queued_count(f, 2, 3, RAFT_MSG_VOTE_RESP) == 0, "no answer");
    m.transfer = 1; /* a leadership transfer goes through the lease */
    raft_step(R(f, 2), &m);
    fx_process(f, 2);
    EXPECT(raft_get_term(R(f, 2)) == t + 5, "a transfer's vote request is heard");
    fx_free(f);
}

/* A forged or corrupt term near 2^64 used to be taken: the node's term
 * became 2^64-1, its pre-vote asked for term + 1 = 0, and the cluster
 * could never elect again. Such a message is refused and changes nothing;
 * so is a hardstate that holds such a term. */
static void impossible_terms_are_refused(void **state)
{
    (void)state;
    fx *f = fx_new(3, NULL);
    elect(f, 1);
    raft_term t = raft_get_term(R(f, 2));
    raft_msg m = {0};
    m.type = RAFT_MSG_HEARTBEAT;
    m.from = 3;
    m.to = 2;
    m.term = UINT64_MAX;
    int rc = raft_step(R(f, 2), &m);
    EXPECT(rc == RAFT_ERR_INVALID, "a heartbeat of term 2^64-1 refused, got %s",
           raft_strerror(rc));
    m.term = RAFT_TERM_MAX + 1;
    rc = raft_step(R(f, 2), &m);
    EXPECT(rc == RAFT_ERR_INVALID, "a term above RAFT_TERM_MAX refused, got %s",
           raft_strerror(rc));
    fx_process(f, 2);
    EXPECT(raft_get_term(R(f, 2)) == t, "term stays %llu, got %llu", (ull)t,
           (ull)raft_get_term(R(f, 2)));
    propose_n(f, 1, 3, "after");
    fx_tick_all(f, 3);
    same_state(f, 1, 2);
    EXPECT(state_has(fx_node_of(f, 2), "after2"), "node 2 still follows");

    raft_options o = fx_node_of(f, 2)->opts;
    raft_restore rs = {0};
    rs.hs.term = RAFT_TERM_MAX + 1;
    rs.bootstrap = &f->boot;
    raft *r = NULL;
    rc = raft_new(&o, &rs, &r);
    EXPECT(rc == RAFT_ERR_INVALID && !r, "a hardstate of term 2^62+1 does not "
           "start, got %s", raft_strerror(rc));
    fx_free(f);
}

/* Each kind of impossible message is refused (raft_msg_check names why),
 * changes neither term nor vote, and the cluster goes on. Built from a
 * valid append of node 1's at node 2, one field broken at a time. */
typedef struct bad_case {
    const char *what;
    void (*spoil)(raft_msg *m, raft_entry *e, raft_snapshot_meta *s);
} bad_case;

static void sp_term_max(raft_msg *m, raft_entry *e, raft_snapshot_meta *s)
{ (void)e; (void)s; m->term = RAFT_TERM_MAX; }
static void sp_term_jump(raft_msg *m, raft_entry *e, raft_snapshot_meta *s)
{ (void)e; (void)s; m->term += ((raft_term)1 << 20) + 100000;
  m->type = RAFT_MSG_PREVOTE; m->n_entries = 0; m->entries = NULL; }
static void sp_log_term_max(raft_msg *m, raft_entry *e, raft_snapshot_meta *s)
{ (void)e; (void)s; m->type = RAFT_MSG_VOTE; m->n_entries = 0;
  m->entries = NULL; m->log_term = UINT64_MAX; }
static void sp_index(raft_msg *m, raft_entry *e, raft_snapshot_meta *s)
{ (void)e; (void)s; m->n_entries = 0; m->entries = NULL;
  m->index = UINT64_MAX - 1; }
static void sp_commit(raft_msg *m, raft_entry *e, raft_snapshot_meta *s)
{ (void)e; (void)s; m->type = RAFT_MSG_HEARTBEAT; m->n_entries = 0;
  m->entries = NULL; m->commit = RAFT_INDEX_MAX + 1; }
static void sp_gap(raft_msg *m, raft_entry *e, raft_snapshot_meta *s)
{ (void)m; (void)s; e[1].index += 1; }
static void sp_entry_term_high(raft_msg *m, raft_entry *e,
                               raft_snapshot_meta *s)
{ (void)s; e[1].term = m->term + 1; }
static void sp_entry_term_down(raft_msg *m, raft_entry *e,
                               raft_snapshot_meta *s)
{ (void)m; (void)s; e[0].term = m->term; e[1].term = m->term - 1; }
static void sp_entry_term_zero(raft_msg *m, raft_entry *e,
                               raft_snapshot_meta *s)
{ (void)s; m->log_term = 0; e[0].term = 0; }
static void sp_entry_type(raft_msg *m, raft_entry *e, raft_snapshot_meta *s)
{ (void)m; (void)s; e[0].type = 7; }
static void sp_count(raft_msg *m, raft_entry *e, raft_snapshot_meta *s)
{ (void)e; (void)s; m->n_entries = RAFT_MAX_APPEND_ENTRIES + 1; }
static void sp_prev_term(raft_msg *m, raft_entry *e, raft_snapshot_meta *s)
{ (void)e; (void)s; m->n_entries = 0; m->entries = NULL;
  m->log_term = m->term + 1; }
static void sp_hint(raft_msg *m, raft_entry *e, raft_snapshot_meta *s)
{ (void)e; (void)s; m->type = RAFT_MSG_APPEND_RESP; m->n_entries = 0;
  m->entries = NULL; m->reject = 1; m->index = 3; m->reject_hint = 9; }
static void sp_snap(raft_msg *m, raft_snapshot_meta *s)
{ m->type = RAFT_MSG_SNAPSHOT; m->n_entries = 0; m->entries = NULL;
  m->snapshot = s; s->index = 5; s->term = m->term; s->config.n = 1;
  s->config.servers[0].id = 1; }
static void sp_snap_term(raft_msg *m, raft_entry *e, raft_snapshot_meta *s)
{ (void)e; sp_snap(m, s); s->term = m->term + 1; }
static void sp_snap_index(raft_msg *m, raft_entry *e, raft_snapshot_meta *s)
{ (void)e; sp_snap(m, s); s->index = 0; }
static void sp_snap_config(raft_msg *m, raft_entry *e, raft_snapshot_meta *s)
{ (void)e; sp_snap(m, s); s->config.n = 0; }
static void sp_snap_misplaced(raft_msg *m, raft_entry *e,
                              raft_snapshot_meta *s)
{ (void)e; sp_snap(m, s); m->type = RAFT_MSG_HEARTBEAT; }
static void sp_self(raft_msg *m, raft_entry *e, raft_snapshot_meta *s)
{ (void)e; (void)s; m->from = 2; }

static void impossible_messages_are_refused(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {"term 2^62", sp_term_max},
        {"a term 2^20 + 100000 above ours", sp_term_jump},
        {"a log term 2^64-1", sp_log_term_max},
        {"prev index 2^64-2", sp_index},
        {"commit above 2^62", sp_commit},
        {"entry indexes with a gap", sp_gap},
        {"an entry term above the message's", sp_entry_term_high},
        {"entry terms decreasing", sp_entry_term_down},
        {"an entry of term 0", sp_entry_term_zero},
        {"an unknown entry type", sp_entry_type},
        {"more than RAFT_MAX_APPEND_ENTRIES entries", sp_count},
        {"a prev term above the message's", sp_prev_term},
        {"a hint above the rejected index", sp_hint},
        {"a snapshot of a later term", sp_snap_term},
        {"a snapshot at index 0", sp_snap_index},
        {"a snapshot with no servers", sp_snap_config},
        {"snapshot metadata on a heartbeat", sp_snap_misplaced},
        {"a message from the node itself", sp_self},
    };
    fx *f = fx_new(3, NULL);
    elect(f, 1);
    propose_n(f, 1, 2, "before");
    fx_tick_all(f, 3);
    raft *r2 = R(f, 2);
    raft_term t = raft_get_term(r2);
    raft_index last = raft_get_last_index(r2), commit = raft_get_commit(r2);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        raft_entry e[2] = {{.index = last + 1, .term = t},
                           {.index = last + 2, .term = t}};
        raft_snapshot_meta snap = {0};
        raft_msg m = {0};
        m.type = RAFT_MSG_APPEND;
        m.from = 1;
        m.to = 2;
        m.term = t;
        m.index = last;
        raft_term_at(r2, last, &m.log_term);
        m.commit = commit;
        m.n_entries = 2;
        m.entries = e;
        cases[i].spoil(&m, e, &snap);
        const char *why = NULL;
        int rc = raft_msg_check(r2, &m, &why);
        EXPECT(rc == RAFT_ERR_INVALID && why, "%s: refused by the check, "
               "got %s", cases[i].what, raft_strerror(rc));
        rc = raft_step(r2, &m);
        EXPECT(rc == RAFT_ERR_INVALID, "%s: refused by raft_step, got %s",
               cases[i].what, raft_strerror(rc));
        raft_status st;
        raft_status_get(r2, &st);
        EXPECT(st.term == t && st.vote == 1 && st.last_index == last &&
               st.commit == commit, "%s: term, vote, log and commit as "
               "they were (term %llu, vote %llu, last %llu, commit %llu)",
               cases[i].what, (ull)st.term, (ull)st.vote, (ull)st.last_index,
               (ull)st.commit);
    }
    /* the valid original is accepted: the table spoils only what it says */
    raft_entry e = {.index = last + 1, .term = t};
    raft_msg ok = {.type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = t,
                   .index = last, .commit = commit, .n_entries = 1,
                   .entries = &e};
    raft_term_at(r2, last, &ok.log_term);
    EXPECT(raft_msg_check(r2, &ok, NULL) == RAFT_OK, "the unspoiled append "
           "passes the check");
    /* a commit beyond prev + n_entries is normal: capped, not refused */
    ok.n_entries = 0;
    ok.entries = NULL;
    ok.commit = last + 1000;
    EXPECT(raft_msg_check(r2, &ok, NULL) == RAFT_OK, "a leader's commit "
           "ahead of what it sends passes");
    fx_process(f, 2);
    propose_n(f, 1, 3, "after");
    fx_tick_all(f, 3);
    same_state(f, 1, 2);
    EXPECT(state_has(fx_node_of(f, 2), "after2"), "node 2 still follows");
    fx_free(f);
}

/* A node at term 2^62 - 1 has no term to campaign in: not even a pre-vote
 * (its term + 1 is RAFT_TERM_MAX, which every node refuses). It stays a
 * follower instead of sending what no one accepts. */
static void last_term_does_not_campaign(void **state)
{
    (void)state;
    fx *f = fx_new(3, NULL);
    raft_options o = fx_node_of(f, 2)->opts;
    raft_restore rs = {0};
    rs.hs.term = RAFT_TERM_MAX - 1;
    rs.bootstrap = &f->boot;
    raft *r = NULL;
    int rc = raft_new(&o, &rs, &r);
    EXPECT(rc == RAFT_OK, "a hardstate of term 2^62-1 starts, got %s",
           raft_strerror(rc));
    raft_campaign(r);
    for (int i = 0; i < 50; i++)
        raft_tick(r);
    EXPECT(raft_get_role(r) == RAFT_FOLLOWER &&
           raft_get_term(r) == RAFT_TERM_MAX - 1, "still a follower in term "
           "2^62-1, got role %d term %llu", (int)raft_get_role(r),
           (ull)raft_get_term(r));
    rs.hs.term = RAFT_TERM_MAX;
    raft *r2 = NULL;
    rc = raft_new(&o, &rs, &r2);
    EXPECT(rc == RAFT_ERR_INVALID && !r2, "a hardstate of term 2^62 does not "
           "start, got %s", raft_strerror(rc));
    EXPECT(raft_observe_term(r, RAFT_TERM_MAX) == RAFT_ERR_INVALID,
           "observing term 2^62 is refused");
    raft_free(r);
    fx_free(f);
}

/* ---- replication -------------------------------------------------------- */

static int count_rejects(fx *f, raft_msg *m, void *arg)
{
    if (m->type == RAFT_MSG_APPEND_RESP && m->reject)
        ++*(int *)arg;
    return 1;
}

static void conflicting_log_is_repaired_with_few_rejections(void **state)
{
    fx *f = fx_new(3, NULL);
    elect(f, 1);
    fx_isolate(f, 1);
    propose_n(f, 1, 50, "stale"); /* never committed: node 1 is alone */
    raft_id l = take_over_from_1(f);
    propose_n(f, l, 3, "fresh");
    fx_deliver(f);
    int rejects = 0;
    f->filter = count_rejects;
    f->filter_arg = &rejects;
    fx_heal(f);
    fx_tick_all(f, 4);
    fx_node *n1 = fx_node_of(f, 1);
    EXPECT(n1->truncations >= 1, "node 1 cut its conflicting suffix");
    EXPECT(!state_has(n1, "stale0"), "no stale command was applied");
    same_state(f, 1, l);
    EXPECT(rejects <= 2, "the reject hint finds the fork in one step per term, "
           "%d rejections", rejects);
    fx_free(f);
}

static int only_x_from_1(fx *f, raft_msg *m, void *arg)
{
    /* Leader 1's appends carry entries up to index 2 (X) and no further:
     * its own term-3 entry reaches nobody; node 4 gets nothing. */
    if (m->from != 1 || m->type != RAFT_MSG_APPEND)
        return 1;
    if (m->to == 4)
        return 0;
    while (m->n_entries && m->entries[m->n_entries - 1].index > 2)
        blob_unref(m->entries[--m->n_entries].data);
    return 1;
}

static int drop_appends_from_5(fx *f, raft_msg *m, void *arg)
{
    return !(m->from == 5 && m->type == RAFT_MSG_APPEND);
}

static void connect_only(fx *f, const raft_id *ids, int n)
{
    for (raft_id a = 1; a <= FX_MAX; a++)
        for (raft_id b = 1; b <= FX_MAX; b++)
            f->cut[a][b] = 1;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++)
            f->cut[ids[i]][ids[k]] = 0;
}

/* Raft paper, Figure 8: an entry of an earlier term stored on a majority
 * may still be overwritten, so a leader commits only entries of its own
 * term by counting. */
static void figure8_old_term_entry_on_a_majority_does_not_commit(void **state)
{
    fx *f = fx_new(5, no_check_quorum);
    elect(f, 1);                                  /* term 1, no-op at 1 */
    connect_only(f, (raft_id[]){1, 2}, 2);
    raft_index x;
    fx_propose(f, 1, "X", &x);                    /* X at 2, term 1: 1, 2 */
    fx_deliver(f);
    EXPECT(x == 2, "X at index 2, got %llu", (ull)x);

    connect_only(f, (raft_id[]){3, 4, 5}, 3);
    f->filter = drop_appends_from_5;
    elect(f, 5);                                  /* term 2, no-op Y at 2 */
    f->filter = NULL;
    fx_drop_queue(f);

    fx_crash(f, 1);                               /* S1 restarts, as in */
    fx_restart(f, 1);                             /* the paper's (c)    */
    connect_only(f, (raft_id[]){1, 2, 3, 4}, 4);
    f->filter = only_x_from_1;
    elect(f, 1);                                  /* term 3 */
    fx_tick(f, 1, 1);
    fx_deliver(f);
    raft_term t;
    raft_term_at(R(f, 3), 2, &t);
    EXPECT(t == 1, "X (term 1) reached node 3: a majority {1,2,3} has it, "
           "node 3 has term %llu at 2", (ull)t);
    EXPECT(raft_get_commit(R(f, 1)) < 2, "X must not commit by counting in "
           "term 3; commit is %llu", (ull)raft_get_commit(R(f, 1)));

    fx_crash(f, 1);
    fx_crash(f, 5);                               /* 5 restarts, campaigns */
    fx_restart(f, 5);
    f->filter = NULL;
    connect_only(f, (raft_id[]){2, 3, 4, 5}, 4);
    elect(f, 5);                                  /* Y (term 2) is newer */
    propose_n(f, 5, 1, "after");
    fx_tick_all(f, 3);
    for (raft_id k = 2; k <= 5; k++) {
        EXPECT(!state_has(fx_node_of(f, k), "X"), "node %llu never applies X",
               (ull)k);
        raft_term_at(R(f, k), 2, &t);
        EXPECT(t == 2, "node %llu has Y (term 2) at index 2, got term %llu",
               (ull)k, (ull)t);
    }
    fx_free(f);
}

static void follower_commits_only_what_matches_the_leader(void **state)
{
    fx *f = fx_new(3, NULL);
    raft_entry e[3];
    blob *b[3] = {blob_copy("a", 1), blob_copy("b", 1), blob_copy("c", 1)};
    for (int i = 0; i < 3; i++)
        e[i] = (raft_entry){(raft_index)i + 1, 1, RAFT_ENTRY_NORMAL, b[i]};
    raft_msg m = {0};
    m.type = RAFT_MSG_APPEND;
    m.from = 1;
    m.to = 2;
    m.term = 1;
    m.entries = e;
    m.n_entries = 3;
    EXPECT(raft_step(R(f, 2), &m) == RAFT_OK, "entries 1..3 of term 1 stored");
    /* Leader 3 of term 2 has c' (term 2) at 3 and commit 3, but this
     * append only carries entry 2: entry 3 here is not the leader's. */
    m.from = 3;
    m.term = 2;
    m.index = 1;
    m.log_term = 1;
    m.entries = &e[1];
    m.n_entries = 1;
    m.commit = 3;
    EXPECT(raft_step(R(f, 2), &m) == RAFT_OK, "append accepted");
    EXPECT(raft_get_commit(R(f, 2)) == 2, "commit stops at the last entry known "
           "to match (2), got %llu", (ull)raft_get_commit(R(f, 2)));
    for (int i = 0; i < 3; i++)
        blob_unref(b[i]);
    fx_free(f);
}

/* Two appends between readies: the second, from a newer leader, replaces
 * the entry the first one brought. The first leader must not hear that
 * entry acknowledged: it was never written. */
static void acknowledges_only_entries_it_will_have_written(void **state)
{
    fx *f = fx_new(3, NULL);
    blob *a = blob_copy("a", 1), *b = blob_copy("b", 1);
    raft_entry ea = {1, 1, RAFT_ENTRY_NORMAL, a}, eb = {1, 2, RAFT_ENTRY_NORMAL, b};
    raft_msg m = {0};
    m.type = RAFT_MSG_APPEND;
    m.to = 2;
    m.from = 1;
    m.term = 1;
    m.entries = &ea;
    m.n_entries = 1;
    raft_step(R(f, 2), &m);
    m.from = 3;
    m.term = 2;
    m.entries = &eb;
    raft_step(R(f, 2), &m);
    struct raft_ready rd;
    raft_ready(R(f, 2), &rd);
    EXPECT(rd.n_entries == 1 && rd.entries[0].term == 2, "only the term-2 entry "
           "is written");
    for (size_t i = 0; i < rd.n_msgs_persisted; i++) {
        raft_msg *x = &rd.msgs_persisted[i];
        EXPECT(!(x->type == RAFT_MSG_APPEND_RESP && x->to == 1 && !x->reject),
               "no acknowledgement of index %llu to leader 1", (ull)x->index);
    }
    EXPECT(rd.n_msgs_persisted == 1 && rd.msgs_persisted[0].to == 3,
           "leader 3 gets its acknowledgement");
    raft_advance(R(f, 2), &rd);
    blob_unref(a);
    blob_unref(b);
    fx_free(f);
}

static void one_entry_per_msg(raft_options *o)
{
    o->max_msg_bytes = 1;
    o->max_inflight_msgs = 2;
}

static size_t appends_with_entries(fx *f, raft_id from, raft_id to)
{
    size_t c = 0;
    for (size_t i = 0; i < f->nq; i++)
        c += f->q[i].from == from && f->q[i].to == to &&
             f->q[i].type == RAFT_MSG_APPEND && f->q[i].n_entries;
    return c;
}

static void pipelining_stops_at_the_inflight_window(void **state)
{
    fx *f = fx_new(3, one_entry_per_msg);
    elect(f, 1);
    propose_n(f, 1, 6, "w");
    EXPECT(appends_with_entries(f, 1, 2) == 2, "2 appends in flight to node 2 "
           "(window of 2, one entry each), got %zu", appends_with_entries(f, 1, 2));
    fx_deliver(f);
    EXPECT(raft_get_commit(R(f, 1)) == 7, "as answers come back the rest "
           "follows: commit 7, got %llu", (ull)raft_get_commit(R(f, 1)));
    fx_free(f);
}

static void byte_window(raft_options *o)
{
    o->max_msg_bytes = 1;
    o->max_inflight_bytes = 10;
}

static void inflight_bytes_bound_the_pipeline(void **state)
{
    fx *f = fx_new(3, byte_window);
    elect(f, 1);
    propose_n(f, 1, 5, "eight-by"); /* 9 bytes each */
    EXPECT(appends_with_entries(f, 1, 2) == 2, "10 bytes in flight allow "
           "2 appends of 9 bytes, got %zu", appends_with_entries(f, 1, 2));
    fx_deliver(f);
    same_state(f, 1, 2);
    fx_free(f);
}

static void proposals_between_readies_travel_in_one_append(void **state)
{
    fx *f = fx_new(3, NULL);
    elect(f, 1);
    for (int i = 0; i < 5; i++) {
        blob *b = blob_copy("batched", 7);
        EXPECT(raft_propose(R(f, 1), b, NULL, NULL, NULL) == RAFT_OK, "accepted");
        blob_unref(b);
    }
    fx_process(f, 1);
    EXPECT(appends_with_entries(f, 1, 2) == 1 && f->q[0].n_entries == 5,
           "one append with 5 entries to node 2, got %zu appends",
           appends_with_entries(f, 1, 2));
    fx_free(f);
}

/* ---- the ready contract ------------------------------------------------- */

static void ready_splits_messages_by_durability(void **state)
{
    fx *f = fx_new(3, NULL);
    elect(f, 1);
    blob *b = blob_copy("x", 1);
    raft_propose(R(f, 1), b, NULL, NULL, NULL);
    blob_unref(b);
    struct raft_ready rd;
    raft_ready(R(f, 1), &rd);
    EXPECT(rd.n_entries == 1 && rd.n_msgs == 2 && rd.n_msgs_persisted == 0,
           "the leader's appends may leave before its own fsync: %zu entries, "
           "%zu now, %zu after", rd.n_entries, rd.n_msgs, rd.n_msgs_persisted);
    EXPECT(rd.n_committed == 0, "nothing commits before the leader's own log "
           "is durable");
    raft_msg m = rd.msgs[0];
    raft_step(R(f, 2), &m);
    struct raft_ready fr;
    raft_ready(R(f, 2), &fr);
    EXPECT(fr.n_entries == 1 && fr.n_msgs == 0 && fr.n_msgs_persisted == 1 &&
           fr.msgs_persisted[0].type == RAFT_MSG_APPEND_RESP,
           "a follower's acknowledgement waits for its fsync");
    raft_advance(R(f, 2), &fr);
    raft_advance(R(f, 1), &rd);
    fx_free(f);
}

static void readies_can_be_pipelined(void **state)
{
    fx *f = fx_new(1, NULL);
    elect(f, 1);
    struct raft_ready a, b;
    blob *x = blob_copy("x", 1);
    raft_propose(R(f, 1), x, NULL, NULL, NULL);
    raft_ready(R(f, 1), &a);
    raft_propose(R(f, 1), x, NULL, NULL, NULL);
    raft_ready(R(f, 1), &b);
    blob_unref(x);
    EXPECT(a.n_entries == 1 && b.n_entries == 1 && b.entries[0].index == 3,
           "each ready carries its own new entry");
    EXPECT(raft_advance(R(f, 1), &b) == RAFT_ERR_INVALID, "readies advance in "
           "order");
    EXPECT(raft_advance(R(f, 1), &a) == RAFT_OK, "the oldest first");
    EXPECT(raft_get_commit(R(f, 1)) == 2, "a cluster of one commits what is "
           "durable: 2, got %llu", (ull)raft_get_commit(R(f, 1)));
    EXPECT(raft_advance(R(f, 1), &b) == RAFT_OK, "then the next");
    EXPECT(raft_get_commit(R(f, 1)) == 3, "commit 3");
    fx_free(f);
}

/* ---- snapshots ---------------------------------------------------------- */

static void lagging_follower_catches_up_from_a_snapshot(void **state)
{
    fx *f = fx_new(3, NULL);
    elect(f, 1);
    fx_isolate(f, 3);
    propose_n(f, 1, 20, "s");
    fx_deliver(f);
    fx_snapshot(f, 1, 0);
    raft_entry e;
    EXPECT(raft_entry_at(R(f, 1), 2, &e) == RAFT_ERR_COMPACTED,
           "the leader compacted its log");
    fx_heal(f);
    fx_tick_all(f, 3);
    fx_node *n3 = fx_node_of(f, 3);
    EXPECT(n3->installs == 1, "node 3 installed one snapshot, %d", n3->installs);
    same_state(f, 1, 3);
    propose_n(f, 1, 2, "after");
    fx_deliver(f);
    same_state(f, 1, 3);
    raft_status st;
    raft_status_get(R(f, 1), &st);
    for (unsigned i = 0; i < st.n_peers; i++)
        EXPECT(st.peers[i].state == RAFT_PROGRESS_REPLICATE &&
               st.peers[i].match == st.last_index,
               "peer %llu replicates again at the end of the log",
               (ull)st.peers[i].id);
    fx_free(f);
}

static void restart_from_snapshot_and_log(void **state)
{
    fx *f = fx_new(3, NULL);
    elect(f, 1);
    propose_n(f, 1, 10, "r");
    fx_deliver(f);
    fx_snapshot(f, 2, 3);
    propose_n(f, 1, 3, "more");
    fx_deliver(f);
    raft_index last = raft_get_last_index(R(f, 2));
    raft_term term = raft_get_term(R(f, 2));
    fx_crash(f, 2);
    fx_restart(f, 2);
    EXPECT(raft_get_last_index(R(f, 2)) == last && raft_get_term(R(f, 2)) == term,
           "node 2 restarts with its log (last %llu) and term", (ull)last);
    EXPECT(raft_get_commit(R(f, 2)) == fx_node_of(f, 2)->applied,
           "commit restarts at the applied index");
    propose_n(f, 1, 1, "back");
    fx_tick_all(f, 2);
    same_state(f, 1, 2);
    fx_free(f);
}

static void restart_keeps_the_vote(void **state)
{
    fx *f = fx_new(3, no_check_quorum);
    fx_isolate(f, 3);
    elect(f, 1);
    fx_crash(f, 2);
    fx_restart(f, 2);
    EXPECT(fx_node_of(f, 2)->hs.vote == 1, "the vote for 1 was persisted");
    raft_msg m = {0};
    m.type = RAFT_MSG_VOTE;
    m.from = 3;
    m.to = 2;
    m.term = raft_get_term(R(f, 2));
    m.index = 10;
    m.log_term = m.term;
    raft_step(R(f, 2), &m);
    struct raft_ready rd;
    raft_ready(R(f, 2), &rd);
    EXPECT(rd.n_msgs_persisted == 1 && rd.msgs_persisted[0].reject,
           "no second vote in the same term after a restart");
    raft_advance(R(f, 2), &rd);
    fx_free(f);
}

/* ---- reads -------------------------------------------------------------- */

static int drop_appends(fx *f, raft_msg *m, void *arg)
{
    return m->type != RAFT_MSG_APPEND;
}

static void read_index_waits_for_a_quorum(void **state)
{
    fx *f = fx_new(3, NULL);
    elect(f, 1);
    propose_n(f, 1, 2, "v");
    fx_deliver(f);
    fx_node *n1 = fx_node_of(f, 1);
    raft_id hint = 0;
    EXPECT(raft_read_index(R(f, 2), 1, &hint) == RAFT_ERR_NOT_LEADER && hint == 1,
           "a follower refuses reads and names the leader");
    EXPECT(raft_read_index(R(f, 1), 7, NULL) == RAFT_OK, "the leader takes it");
    fx_process(f, 1);
    EXPECT(n1->n_reads == 0, "no answer before a quorum confirms leadership");
    fx_deliver(f);
    EXPECT(n1->n_reads == 1 && n1->reads[0].ctx == 7 &&
           n1->reads[0].index == raft_get_commit(R(f, 1)),
           "read 7 at the commit index once confirmed");

    fx_isolate(f, 1);
    raft_read_index(R(f, 1), 8, NULL);
    fx_process(f, 1);
    fx_deliver(f);
    EXPECT(n1->n_reads == 1, "an isolated leader confirms nothing");
    fx_heal(f);
    fx_free(f);
}

static void new_leader_reads_after_its_first_commit(void **state)
{
    fx *f = fx_new(3, NULL);
    elect(f, 1);
    propose_n(f, 1, 3, "v");
    fx_deliver(f);
    fx_crash(f, 1);
    f->filter = drop_appends;
    for (int i = 0; i < 100 && !fx_leader(f); i++)
        fx_tick_all(f, 1); /* the followers' lease runs out first */
    raft_id l = fx_leader(f);
    EXPECT(l == 2 || l == 3, "2 or 3 leads, got %llu", (ull)l);
    fx_node *nl = fx_node_of(f, l);
    raft_read_index(R(f, l), 9, NULL);
    fx_process(f, l);
    fx_tick(f, l, 1);
    fx_deliver(f);
    EXPECT(nl->n_reads == 0, "no read before the new leader's no-op commits");
    f->filter = NULL;
    fx_tick_all(f, 2);
    EXPECT(nl->n_reads == 1 && nl->reads[0].index >= 5,
           "then read 9 at the no-op (index 5) or later, got %zu reads",
           nl->n_reads);
    fx_free(f);
}

/* ---- leadership transfer ------------------------------------------------ */

static void transfer_catches_up_the_target_then_hands_over(void **state)
{
    fx *f = fx_new(3, NULL);
    elect(f, 1);
    fx_isolate(f, 3);
    propose_n(f, 1, 5, "t");
    fx_deliver(f);
    fx_heal(f);
    raft_term t = raft_get_term(R(f, 1));
    EXPECT(raft_transfer_leadership(R(f, 1), 3) == RAFT_OK, "transfer starts");
    raft_id hint = 0;
    blob *b = blob_copy("no", 2);
    EXPECT(raft_propose(R(f, 1), b, NULL, NULL, &hint) == RAFT_ERR_TRANSFERRING &&
           hint == 3, "proposals are refused during the transfer");
    blob_unref(b);
    fx_process(f, 1);
    fx_deliver(f);
    EXPECT(fx_leader(f) == 3 && raft_get_term(R(f, 3)) == t + 1,
           "node 3 leads in term %llu, leader %llu", (ull)t + 1,
           (ull)fx_leader(f));
    same_state(f, 1, 3);
    fx_free(f);
}

static void transfer_to_an_unreachable_node_is_abandoned(void **state)
{
    fx *f = fx_new(3, NULL);
    elect(f, 1);
    fx_isolate(f, 2);
    EXPECT(raft_transfer_leadership(R(f, 1), 2) == RAFT_OK, "transfer starts");
    fx_tick(f, 1, 10);
    fx_deliver(f);
    raft_status st;
    raft_status_get(R(f, 1), &st);
    EXPECT(st.role == RAFT_LEADER && st.transferee == 0, "after an election "
           "timeout node 1 still leads and the transfer is off");
    EXPECT(fx_propose(f, 1, "again", NULL) == RAFT_OK, "proposals flow again");
    fx_free(f);
}

/* ---- membership --------------------------------------------------------- */

static int conf(fx *f, raft_id leader, uint32_t type, raft_id id)
{
    raft_conf_change cc = {0};
    cc.type = type;
    cc.id = id;
    snprintf(cc.addr, sizeof cc.addr, "node-%llu", (ull)id);
    int rc = raft_propose_conf(R(f, leader), &cc, NULL, NULL, NULL);
    fx_process(f, leader);
    return rc;
}

static void learner_catches_up_then_is_promoted(void **state)
{
    fx *f = fx_new(3, NULL);
    elect(f, 1);
    propose_n(f, 1, 5, "m");
    fx_deliver(f);
    fx_add_node(f, 4);
    EXPECT(conf(f, 1, RAFT_CONF_ADD_LEARNER, 4) == RAFT_OK, "learner 4 added");
    EXPECT(conf(f, 1, RAFT_CONF_PROMOTE, 4) == RAFT_ERR_CONF_PENDING,
           "one change at a time");
    fx_deliver(f);
    const raft_server *s = raft_config_find(raft_get_config(R(f, 2)), 4);
    EXPECT(s && s->role == RAFT_LEARNER && !strcmp(s->addr, "node-4"),
           "every node knows learner 4 and its address");
    same_state(f, 1, 4);

    fx_isolate(f, 4);
    propose_n(f, 1, 3, "without4");
    fx_deliver(f);
    EXPECT(state_has(fx_node_of(f, 1), "without42"), "a learner does not count "
           "towards the quorum");
    fx_tick(f, 4, 100);
    EXPECT(raft_get_role(R(f, 4)) == RAFT_FOLLOWER, "a learner never campaigns");
    EXPECT(conf(f, 1, RAFT_CONF_PROMOTE, 4) == RAFT_ERR_NOT_CAUGHT_UP,
           "a lagging learner is not promoted");
    fx_heal(f);
    fx_tick_all(f, 2);
    EXPECT(conf(f, 1, RAFT_CONF_PROMOTE, 4) == RAFT_OK, "caught up: promoted");
    fx_deliver(f);
    EXPECT(raft_config_find(raft_get_config(R(f, 3)), 4)->role == RAFT_VOTER,
           "node 4 votes");
    fx_isolate(f, 2);
    fx_isolate(f, 3);
    EXPECT(fx_propose(f, 1, "two-of-four", NULL) == RAFT_OK, "accepted");
    fx_deliver(f);
    EXPECT(!state_has(fx_node_of(f, 1), "two-of-four"), "2 of 4 voters is no "
           "quorum");
    fx_free(f);
}

static void removed_leader_hands_over_after_commit(void **state)
{
    fx *f = fx_new(3, NULL);
    elect(f, 1);
    EXPECT(conf(f, 1, RAFT_CONF_REMOVE, 1) == RAFT_OK, "removal proposed");
    EXPECT(raft_get_role(R(f, 1)) == RAFT_LEADER, "still leading until it "
           "commits");
    fx_deliver(f);
    raft_id l = fx_leader(f);
    EXPECT(l == 2 || l == 3, "TimeoutNow made 2 or 3 leader at once, got %llu",
           (ull)l);
    EXPECT(!raft_config_find(raft_get_config(R(f, l)), 1), "1 is gone");
    fx_tick(f, 1, 100);
    EXPECT(raft_get_role(R(f, 1)) == RAFT_FOLLOWER, "a removed node never "
           "campaigns");
    fx_isolate(f, 1);
    EXPECT(fx_propose(f, l, "pair", NULL) == RAFT_OK, "the pair takes writes");
    fx_deliver(f);
    EXPECT(state_has(fx_node_of(f, l), "pair"), "and commits them");
    fx_free(f);
}

/* Under load the removal commits while later entries are still on their way
 * to the voters: the most caught-up one gets them and the TimeoutNow behind
 * them, and takes over at once (no election timeout without a leader). */
static void removed_leader_hands_over_with_entries_in_flight(void **state)
{
    fx *f = fx_new(3, NULL);
    elect(f, 1);
    raft_term term = raft_get_term(R(f, 1));
    EXPECT(conf(f, 1, RAFT_CONF_REMOVE, 1) == RAFT_OK, "removal proposed");
    EXPECT(fx_propose(f, 1, "in-flight", NULL) == RAFT_OK, "a write behind it");
    fx_process(f, 1);
    fx_deliver(f);
    raft_id l = fx_leader(f);
    EXPECT(l == 2 || l == 3, "TimeoutNow made 2 or 3 leader at once, got %llu",
           (ull)l);
    EXPECT(raft_get_term(R(f, l)) == term + 1, "one election: term %llu, got %llu",
           (ull)(term + 1), (ull)raft_get_term(R(f, l)));
    EXPECT(state_has(fx_node_of(f, l), "in-flight"), "the write behind the "
           "removal committed");
    fx_free(f);
}

static void new_leader_changes_membership_only_after_its_first_commit(void **state)
{
    fx *f = fx_new(3, NULL);
    f->filter = drop_appends;
    elect(f, 1);
    EXPECT(conf(f, 1, RAFT_CONF_ADD_LEARNER, 4) == RAFT_ERR_CONF_PENDING,
           "no change before the leader's no-op commits");
    f->filter = NULL;
    fx_tick_all(f, 2);
    EXPECT(conf(f, 1, RAFT_CONF_ADD_LEARNER, 4) == RAFT_OK, "then it may");
    EXPECT(conf(f, 1, RAFT_CONF_REMOVE, 1) == RAFT_ERR_CONF_PENDING, "but only "
           "one at a time");
    fx_free(f);
}

/* ---- a cluster of one, status -------------------------------------------- */

static void single_node_commits_and_reads_alone(void **state)
{
    fx *f = fx_new(1, NULL);
    fx_campaign(f, 1);
    EXPECT(fx_leader(f) == 1, "a lone voter elects itself");
    raft_index idx;
    fx_propose(f, 1, "solo", &idx);
    EXPECT(state_has(fx_node_of(f, 1), "solo"), "and commits once durable");
    raft_read_index(R(f, 1), 5, NULL);
    fx_process(f, 1);
    EXPECT(fx_node_of(f, 1)->n_reads == 1, "reads need no round trip");
    fx_free(f);
}

static void status_shows_every_peer(void **state)
{
    fx *f = fx_new(3, NULL);
    elect(f, 1);
    propose_n(f, 1, 4, "st");
    fx_deliver(f);
    raft_status st;
    raft_status_get(R(f, 1), &st);
    EXPECT(st.role == RAFT_LEADER && st.leader == 1 && st.commit == 5 &&
           st.applied == 5 && st.last_index == 5 && st.n_peers == 2,
           "leader status: commit %llu applied %llu last %llu peers %u",
           (ull)st.commit, (ull)st.applied, (ull)st.last_index, st.n_peers);
    for (unsigned i = 0; i < 2; i++)
        EXPECT(st.peers[i].match == 5 && st.peers[i].recent_active &&
               !st.peers[i].learner, "peer %llu at match 5",
               (ull)st.peers[i].id);
    fx_free(f);
}

static void conf_entries_round_trip(void **state)
{
    raft_config c = {0}, out;
    c.n = 2;
    c.servers[0] = (raft_server){7, RAFT_VOTER, "10.0.0.7:7000"};
    c.servers[1] = (raft_server){9, RAFT_LEARNER, "[::1]:7001"};
    raft_conf_change chg = {RAFT_CONF_ADD_LEARNER, 9, "[::1]:7001"}, got;
    blob *b = raft_conf_encode(&c, &chg);
    EXPECT(raft_conf_decode(b, &out, &got) == RAFT_OK, "decodes");
    EXPECT(out.n == 2 && out.servers[1].id == 9 &&
           !strcmp(out.servers[1].addr, "[::1]:7001") && got.type == chg.type,
           "same configuration back");
    blob *bad = blob_copy(b->data, b->len - 1);
    EXPECT(raft_conf_decode(bad, &out, NULL) == RAFT_ERR_INVALID,
           "a truncated one is refused");
    blob_unref(b);
    blob_unref(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(election_elects_and_commits_a_noop),
        cmocka_unit_test(election_timeout_is_randomized_in_range),
        cmocka_unit_test(prevote_keeps_a_partitioned_node_from_disrupting),
        cmocka_unit_test(without_prevote_a_rejoining_node_deposes_the_leader),
        cmocka_unit_test(checkquorum_leader_steps_down_when_cut_off),
        cmocka_unit_test(followers_with_a_live_leader_ignore_vote_requests),
        cmocka_unit_test(impossible_terms_are_refused),
        cmocka_unit_test(impossible_messages_are_refused),
        cmocka_unit_test(last_term_does_not_campaign),
        cmocka_unit_test(conflicting_log_is_repaired_with_few_rejections),
        cmocka_unit_test(figure8_old_term_entry_on_a_majority_does_not_commit),
        cmocka_unit_test(follower_commits_only_what_matches_the_leader),
        cmocka_unit_test(acknowledges_only_entries_it_will_have_written),
        cmocka_unit_test(pipelining_stops_at_the_inflight_window),
        cmocka_unit_test(inflight_bytes_bound_the_pipeline),
        cmocka_unit_test(proposals_between_readies_travel_in_one_append),
        cmocka_unit_test(ready_splits_messages_by_durability),
        cmocka_unit_test(readies_can_be_pipelined),
        cmocka_unit_test(lagging_follower_catches_up_from_a_snapshot),
        cmocka_unit_test(restart_from_snapshot_and_log),
        cmocka_unit_test(restart_keeps_the_vote),
        cmocka_unit_test(read_index_waits_for_a_quorum),
        cmocka_unit_test(new_leader_reads_after_its_first_commit),
        cmocka_unit_test(transfer_catches_up_the_target_then_hands_over),
        cmocka_unit_test(transfer_to_an_unreachable_node_is_abandoned),
        cmocka_unit_test(learner_catches_up_then_is_promoted),
        cmocka_unit_test(removed_leader_hands_over_after_commit),
        cmocka_unit_test(removed_leader_hands_over_with_entries_in_flight),
        cmocka_unit_test(new_leader_changes_membership_only_after_its_first_commit),
        cmocka_unit_test(single_node_commits_and_reads_alone),
        cmocka_unit_test(status_shows_every_peer),
        cmocka_unit_test(conf_entries_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
