/* SPDX-License-Identifier: MIT */
/*
 * make_seeds.c: writes the seed corpora of the harnesses that take binary
 * input (request, peer, snapshot, wal) into OUT/<target>/, with the
 * project's own encoders and writers, so the seeds are what lmsd really
 * reads. Run by hand when a format changes:
 *   build/tests/fuzz/fuzz_make_seeds tests/fuzz/corpus
 * (the config corpus is conf/ *.yaml, copied by hand).
 */
#include "blob.h"
#include "client.pb-c.h"
#include "command.pb-c.h"
#include "peer.pb-c.h"
#include "peer_codec.h"
#include "raft/raft.h"
#include "snapshot.pb-c.h"
#include "wal.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *out;

static void put(const char *target, const char *name, const void *data,
                size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", out, target);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", out, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *b = malloc(1 << 20);
    *len = fread(b, 1, 1 << 20, f);
    fclose(f);
    return b;
}

/* ---- request ---- */

static void put_request(const char *name, Lms__Request *r)
{
    size_t n = lms__request__get_packed_size(r);
    uint8_t *b = malloc(n + 1);
    lms__request__pack(r, b);
    put("request", name, b, n);
    free(b);
}

static void requests(void)
{
    Lms__Request r = LMS__REQUEST__INIT;
    Lms__LoginRequest login = LMS__LOGIN_REQUEST__INIT;
    login.name = "alice";
    login.password = "secret";
    r.id = 1;
    r.body_case = LMS__REQUEST__BODY_LOGIN;
    r.login = &login;
    put_request("login", &r);

    Lms__WhoamiRequest who = LMS__WHOAMI_REQUEST__INIT;
    r.id = 2;
    r.token = "0123456789abcdef";
    r.body_case = LMS__REQUEST__BODY_WHOAMI;
    r.whoami = &who;
    put_request("whoami", &r);
    /* with the request id a client library sends (rule_request_id) */
    r.request_id = "3f9c0a17b2d4e6f8";
    put_request("whoami_request_id", &r);
    r.request_id = (char *)protobuf_c_empty_string;

    /* cluster-verify: a node's digest at an index (a read) */
    Lms__ClusterVerifyRequest ver = LMS__CLUSTER_VERIFY_REQUEST__INIT;
    ver.index = 1234;
    r.id = 5;
    r.body_case = LMS__REQUEST__BODY_CLUSTER_VERIFY;
    r.cluster_verify = &ver;
    put_request("cluster-verify", &r);

    Lms__BackupRequest bak = LMS__BACKUP_REQUEST__INIT;
    r.id = 6;
    r.body_case = LMS__REQUEST__BODY_BACKUP;
    r.backup = &bak;
    put_request("backup", &r);

    /* the grader's reads (core/handlers_grading.c) */
    Lms__ToGradeRequest tg = LMS__TO_GRADE_REQUEST__INIT;
    tg.course = "CS101";
    r.id = 7;
    r.body_case = LMS__REQUEST__BODY_TO_GRADE;
    r.to_grade = &tg;
    put_request("to-grade", &r);

    Lms__GetAssignmentRequest ga = LMS__GET_ASSIGNMENT_REQUEST__INIT;
    ga.assignment_id = 3;
    r.id = 8;
    r.body_case = LMS__REQUEST__BODY_GET_ASSIGNMENT;
    r.get_assignment = &ga;
    put_request("assignment", &r);

    Lms__SubmitRequest sub = LMS__SUBMIT_REQUEST__INIT;
    sub.assignment_id = 3;
    sub.file_name = "essay.txt";
    sub.data.data = (uint8_t *)"hello world\n";
    sub.data.len = 12;
    r.id = 3;
    r.client_id = 77;
    r.seq = 1;
    r.body_case = LMS__REQUEST__BODY_SUBMIT;
    r.submit = &sub;
    put_request("submit", &r);

    Lms__GradeRequest g = LMS__GRADE_REQUEST__INIT;
    g.submission_id = 9;
    g.grade = 17.5;
    g.feedback = "good";
    r.seq = 2;
    r.body_case = LMS__REQUEST__BODY_GRADE;
    r.grade = &g;
    put_request("grade", &r);

    Lms__EditAssignmentRequest ed = LMS__EDIT_ASSIGNMENT_REQUEST__INIT;
    ed.assignment_id = 3;
    ed.set_title = ed.set_due = ed.set_cutoff = ed.set_late_penalty = 1;
    ed.title = "Essay, corrected";
    ed.due = 1796083200000;
    ed.cutoff = 0;
    ed.late_penalty = 10;
    r.seq = 3;
    r.body_case = LMS__REQUEST__BODY_EDIT_ASSIGNMENT;
    r.edit_assignment = &ed;
    put_request("edit-assignment", &r);

    Lms__HideAssignmentRequest hid = LMS__HIDE_ASSIGNMENT_REQUEST__INIT;
    hid.assignment_id = 3;
    hid.hidden = 1;
    r.seq = 4;
    r.body_case = LMS__REQUEST__BODY_HIDE_ASSIGNMENT;
    r.hide_assignment = &hid;
    put_request("hide-assignment", &r);

    Lms__DeleteAssignmentRequest dela = LMS__DELETE_ASSIGNMENT_REQUEST__INIT;
    dela.assignment_id = 3;
    r.seq = 5;
    r.body_case = LMS__REQUEST__BODY_DELETE_ASSIGNMENT;
    r.delete_assignment = &dela;
    put_request("delete-assignment", &r);

    /* corrections: material versions, unenrolment, grade history */
    Lms__ReplaceMaterialRequest rep = LMS__REPLACE_MATERIAL_REQUEST__INIT;
    rep.material_id = 12;
    rep.title = "Week 1 (corrected)";
    rep.file_name = "week1.pdf";
    rep.data.data = (uint8_t *)"%PDF-1.4\n";
    rep.data.len = 9;
    r.seq = 3;
    r.body_case = LMS__REQUEST__BODY_REPLACE_MATERIAL;
    r.replace_material = &rep;
    put_request("replace-material", &r);

    Lms__DeleteMaterialRequest del = LMS__DELETE_MATERIAL_REQUEST__INIT;
    del.material_id = 12;
    r.seq = 4;
    r.body_case = LMS__REQUEST__BODY_DELETE_MATERIAL;
    r.delete_material = &del;
    put_request("delete-material", &r);

    Lms__UnenrollRequest un = LMS__UNENROLL_REQUEST__INIT;
    un.course = "CS101";
    un.user = "alice";
    r.seq = 5;
    r.body_case = LMS__REQUEST__BODY_UNENROLL;
    r.unenroll = &un;
    put_request("unenroll", &r);

    Lms__MaterialHistoryRequest mh = LMS__MATERIAL_HISTORY_REQUEST__INIT;
    mh.material_id = 12;
    r.body_case = LMS__REQUEST__BODY_MATERIAL_HISTORY;
    r.material_history = &mh;
    put_request("material-history", &r);

    Lms__DownloadMaterialRequest dl = LMS__DOWNLOAD_MATERIAL_REQUEST__INIT;
    dl.material_id = 12;
    dl.version = 1;
    r.body_case = LMS__REQUEST__BODY_DOWNLOAD_MATERIAL;
    r.download_material = &dl;
    put_request("download-version", &r);

    Lms__GradeHistoryRequest gh = LMS__GRADE_HISTORY_REQUEST__INIT;
    gh.submission_id = 9;
    r.body_case = LMS__REQUEST__BODY_GRADE_HISTORY;
    r.grade_history = &gh;
    put_request("grade-history", &r);

    Lms__AnnounceRequest ann = LMS__ANNOUNCE_REQUEST__INIT;
    ann.course = "CS101";
    ann.title = "Exam";
    ann.text = "The exam is on Friday.\nBring a pen.";
    r.seq = 6;
    r.body_case = LMS__REQUEST__BODY_ANNOUNCE;
    r.announce = &ann;
    put_request("announce", &r);

    Lms__InboxSeenRequest seen = LMS__INBOX_SEEN_REQUEST__INIT;
    seen.up_to = 1700000000000;
    r.seq = 7;
    r.body_case = LMS__REQUEST__BODY_INBOX_SEEN;
    r.inbox_seen = &seen;
    put_request("inbox-seen", &r);

    /* reads: no client_id or seq */
    r.client_id = 0;
    r.seq = 0;
    Lms__ListAnnouncementsRequest anns = LMS__LIST_ANNOUNCEMENTS_REQUEST__INIT;
    anns.course = "CS101";
    anns.before = 42;
    r.body_case = LMS__REQUEST__BODY_LIST_ANNOUNCEMENTS;
    r.list_announcements = &anns;
    put_request("announcements", &r);

    Lms__InboxRequest inbox = LMS__INBOX_REQUEST__INIT;
    inbox.since = 1700000000000;
    inbox.until = 1800000000000;
    r.body_case = LMS__REQUEST__BODY_INBOX;
    r.inbox = &inbox;
    put_request("inbox", &r);

    Lms__Command c = LMS__COMMAND__INIT;
    Lms__CmdNoop noop = LMS__CMD_NOOP__INIT;
    c.client_id = 5;
    c.seq = 6;
    c.time = 1700000000000;
    c.actor = "bob";
    c.body_case = LMS__COMMAND__BODY_NOOP;
    c.noop = &noop;
    size_t n = lms__command__get_packed_size(&c);
    uint8_t *b = malloc(n + 1);
    lms__command__pack(&c, b);
    put("request", "command-noop", b, n);
    free(b);
}

/* ---- peer: scripts for fuzz_peer.c ---- */

typedef struct script {
    uint8_t b[8192];
    size_t n;
} script;

static void op(script *s, uint8_t o) { s->b[s->n++] = o; }

static void frame_bytes(script *s, const uint8_t *p, size_t len)
{
    s->b[s->n++] = 6;
    s->b[s->n++] = (uint8_t)(len >> 8);
    s->b[s->n++] = (uint8_t)len;
    memcpy(s->b + s->n, p, len);
    s->n += len;
}

static void raft_frame(script *s, const raft_msg *m)
{
    blob *f = peer_encode_raft(m);
    frame_bytes(s, f->data + PEER_FRAME_HEADER, f->len - PEER_FRAME_HEADER);
    blob_unref(f);
}

static void pb_frame(script *s, Lms__PeerMessage *pm)
{
    uint8_t buf[4096];
    size_t n = lms__peer_message__pack(pm, buf);
    frame_bytes(s, buf, n);
}

static void peers(void)
{
    /* node 1 campaigns, wins, proposes, replicates to 2 */
    script s = {.n = 0};
    op(&s, 1); /* campaign: pre-vote for term 1 */
    raft_msg m = {.type = RAFT_MSG_PREVOTE_RESP, .from = 2, .to = 1, .term = 1};
    raft_frame(&s, &m);
    m.type = RAFT_MSG_VOTE_RESP;
    raft_frame(&s, &m);
    op(&s, 2);
    op(&s, 'x');
    m = (raft_msg){.type = RAFT_MSG_APPEND_RESP, .from = 2, .to = 1, .term = 1,
                   .index = 2};
    raft_frame(&s, &m);
    op(&s, 5);
    m = (raft_msg){.type = RAFT_MSG_HEARTBEAT_RESP, .from = 2, .to = 1,
                   .term = 1, .seq = 1};
    raft_frame(&s, &m);
    op(&s, 0);
    op(&s, 3);
    op(&s, 4);
    put("peer", "leader", s.b, s.n);

    /* node 2 leads: heartbeat, appends with a command and a config */
    s.n = 0;
    m = (raft_msg){.type = RAFT_MSG_HEARTBEAT, .from = 2, .to = 1, .term = 3};
    raft_frame(&s, &m);
    raft_entry e[2];
    raft_config cfg = {.n = 3};
    for (uint32_t i = 0; i < 3; i++) {
        cfg.servers[i].id = i + 1;
        cfg.servers[i].addr[0] = (char)('a' + i);
    }
    cfg.servers[2].role = RAFT_LEARNER;
    raft_conf_change chg = {.type = RAFT_CONF_ADD_LEARNER, .id = 3};
    chg.addr[0] = 'c';
    e[0] = (raft_entry){.index = 1, .term = 3, .type = RAFT_ENTRY_NORMAL,
                        .data = blob_copy("cmd", 3)};
    e[1] = (raft_entry){.index = 2, .term = 3, .type = RAFT_ENTRY_CONF,
                        .data = raft_conf_encode(&cfg, &chg)};
    m = (raft_msg){.type = RAFT_MSG_APPEND, .from = 2, .to = 1, .term = 3,
                   .index = 0, .log_term = 0, .commit = 2, .n_entries = 2,
                   .entries = e};
    raft_frame(&s, &m);
    m = (raft_msg){.type = RAFT_MSG_VOTE, .from = 3, .to = 1, .term = 4,
                   .index = 2, .log_term = 3};
    raft_frame(&s, &m);
    m = (raft_msg){.type = RAFT_MSG_TIMEOUT_NOW, .from = 2, .to = 1, .term = 3};
    raft_frame(&s, &m);
    put("peer", "follower", s.b, s.n);

    /* a snapshot from leader 2 */
    s.n = 0;
    raft_snapshot_meta meta = {.index = 10, .term = 2, .config = cfg};
    m = (raft_msg){.type = RAFT_MSG_SNAPSHOT, .from = 2, .to = 1, .term = 2,
                   .snapshot = &meta};
    raft_frame(&s, &m);
    m = (raft_msg){.type = RAFT_MSG_APPEND, .from = 2, .to = 1, .term = 2,
                   .index = 10, .log_term = 2, .commit = 11, .n_entries = 1,
                   .entries = e};
    e[0].index = 11;
    e[0].term = 2;
    raft_frame(&s, &m);
    put("peer", "snapshot", s.b, s.n);

    /* a configuration entry naming server 2 twice: refused by
     * raft_conf_decode, it used to give two servers one progress (a
     * double free); replayed by ctest with the rest of the corpus */
    s.n = 0;
    raft_config dup = cfg;
    dup.servers[2].id = 2;
    blob_unref(e[1].data);
    e[1].data = raft_conf_encode(&dup, NULL);
    m = (raft_msg){.type = RAFT_MSG_APPEND, .from = 2, .to = 1, .term = 2,
                   .index = 0, .log_term = 0, .commit = 0, .n_entries = 1,
                   .entries = &e[1]};
    e[1].index = 1;
    e[1].term = 2;
    raft_frame(&s, &m);
    op(&s, 0);
    put("peer", "conf-entry-duplicate-server", s.b, s.n);
    blob_unref(e[1].data);
    e[1].data = NULL;
    blob_unref(e[0].data);

    /* log repair: a fetch and its reply, and a hello */
    s.n = 0;
    Lms__PeerMessage pm = LMS__PEER_MESSAGE__INIT;
    Lms__PeerFetch f = LMS__PEER_FETCH__INIT;
    f.from_index = 5;
    f.prev_index = 4;
    f.prev_term = 1;
    f.term = 2;
    pm.body_case = LMS__PEER_MESSAGE__BODY_FETCH;
    pm.fetch = &f;
    pb_frame(&s, &pm);
    Lms__PeerFetchReply fr = LMS__PEER_FETCH_REPLY__INIT;
    Lms__PeerEntry pe = LMS__PEER_ENTRY__INIT, *pes[1] = {&pe};
    pe.index = 5;
    pe.term = 2;
    pe.data.data = (uint8_t *)"abc";
    pe.data.len = 3;
    fr.is_leader = 1;
    fr.leader = 2;
    fr.last_index = 5;
    fr.term = 2;
    fr.prev_index = 4;
    fr.prev_term = 1;
    fr.n_entries = 1;
    fr.entries = pes;
    pm.body_case = LMS__PEER_MESSAGE__BODY_FETCH_REPLY;
    pm.fetch_reply = &fr;
    pb_frame(&s, &pm);
    Lms__PeerHello h = LMS__PEER_HELLO__INIT;
    h.cluster = "lms";
    h.from = 2;
    h.to = 1;
    h.version = 1;
    pm.body_case = LMS__PEER_MESSAGE__BODY_HELLO;
    pm.hello = &h;
    pb_frame(&s, &pm);
    put("peer", "repair", s.b, s.n);
}

/* ---- snapshot ---- */

static size_t frame_record(Lms__Snap__Record *r, uint8_t *at)
{
    size_t n = lms__snap__record__get_packed_size(r);
    at[0] = (uint8_t)(n >> 24);
    at[1] = (uint8_t)(n >> 16);
    at[2] = (uint8_t)(n >> 8);
    at[3] = (uint8_t)n;
    lms__snap__record__pack(r, at + 4);
    return n + 4;
}

static void snapshots(void)
{
    static uint8_t buf[65536];
    size_t n = 0;
    raft_config cfg = {.n = 1};
    cfg.servers[0].id = 1;
    strcpy(cfg.servers[0].addr, "127.0.0.1:7500");
    blob *c = raft_conf_encode(&cfg, NULL);
    Lms__Snap__Header h = LMS__SNAP__HEADER__INIT;
    h.format = 1;
    h.index = 42;
    h.term = 3;
    h.config.data = c->data;
    h.config.len = c->len;
    h.created = 1700000000000;
    h.backend = "storage_sqlite";
    Lms__Snap__Record r = LMS__SNAP__RECORD__INIT;
    r.body_case = LMS__SNAP__RECORD__BODY_HEADER;
    r.header = &h;
    /* the digest covers the header without created and backend */
    Lms__Snap__Header canon = h;
    canon.created = 0;
    canon.backend = "";
    Lms__Snap__Record cr = r;
    cr.header = &canon;
    uint8_t tmp[4096];
    size_t cn = frame_record(&cr, tmp);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, tmp, cn);
    n += frame_record(&r, buf + n);

    Lms__Snap__User u = LMS__SNAP__USER__INIT;
    u.name = "admin";
    u.full_name = "Admin";
    u.role = 3;
    u.password_hash = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA";
    u.created = 1700000000000;
    r.body_case = LMS__SNAP__RECORD__BODY_USER;
    r.user = &u;
    size_t at = n;
    n += frame_record(&r, buf + n);
    EVP_DigestUpdate(md, buf + at, n - at);
    Lms__Snap__Course co = LMS__SNAP__COURSE__INIT;
    co.code = "CS101";
    co.title = "Intro";
    r.body_case = LMS__SNAP__RECORD__BODY_COURSE;
    r.course = &co;
    at = n;
    n += frame_record(&r, buf + n);
    EVP_DigestUpdate(md, buf + at, n - at);

    uint8_t d[32];
    unsigned dl = 0;
    EVP_DigestFinal_ex(md, d, &dl);
    EVP_MD_CTX_free(md);
    Lms__Snap__Trailer t = LMS__SNAP__TRAILER__INIT;
    t.count = 2;
    t.sha256.data = d;
    t.sha256.len = dl;
    r.body_case = LMS__SNAP__RECORD__BODY_TRAILER;
    r.trailer = &t;
    n += frame_record(&r, buf + n);
    put("snapshot", "small", buf, n);
    blob_unref(c);
}

/* ---- wal ---- */

static void wals(void)
{
    char dir[] = "/tmp/lms-seeds-XXXXXX";
    if (!mkdtemp(dir))
        exit(1);
    wal *w;
    lms_err err = {0};
    if (wal_open(dir, NULL, &w, &err) != LMS_OK)
        exit(1);
    wal_entry e[3] = {
        {.index = 1, .term = 1, .type = 0, .data = "", .len = 0},
        {.index = 2, .term = 1, .type = 0, .data = "create course", .len = 13},
        {.index = 3, .term = 2, .type = 1, .data = "conf", .len = 4},
    };
    if (wal_append(w, e, 3, &err) != LMS_OK || wal_sync(w, &err) != LMS_OK ||
        wal_save_hardstate(w, 2, 1, &err) != LMS_OK)
        exit(1);
    wal_close(w);
    char path[256];
    size_t seg_len, hs_len;
    snprintf(path, sizeof path, "%s/wal-%020d.log", dir, 1);
    uint8_t *seg = read_file(path, &seg_len);
    snprintf(path, sizeof path, "%s/hardstate", dir);
    uint8_t *hs = read_file(path, &hs_len);
    if (!seg || !hs || hs_len != 32)
        exit(1);
    uint8_t buf[4096];
    buf[0] = 0;
    memcpy(buf + 1, seg, seg_len);
    put("wal", "segment", buf, seg_len + 1);
    buf[0] = 1;
    memcpy(buf + 1, hs, 32);
    memcpy(buf + 33, seg, seg_len);
    put("wal", "segment-hardstate", buf, seg_len + 33);
    /* two segments: the first two records, then the third */
    size_t two = 2 * 24 + 13; /* 8-byte header + 20-byte payload each */
    buf[0] = 3;
    memcpy(buf + 1, hs, 32);
    buf[33] = (uint8_t)(two >> 8);
    buf[34] = (uint8_t)two;
    memcpy(buf + 35, seg, seg_len);
    put("wal", "two-segments", buf, seg_len + 35);
    free(seg);
    free(hs);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
        return 2;
    }
    out = argv[1];
    mkdir(out, 0755);
    requests();
    peers();
    snapshots();
    wals();
    return 0;
}
