/* SPDX-License-Identifier: MIT */
/*
 * lms-admin.c: the administrators' client: users (one at a time or from a
 * CSV file), courses and enrolments, the cluster's membership, and (local,
 * cluster_ca.c) the TLS files of its nodes. Each subcommand is an entry in the
 * table at the bottom; the frame around them is cli.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup.h"
#include "cli_config.h"
#include "cluster_ca.h"
#include "cli_doc.h"
#include "cmd_common.h"
#include "files.h"
#include "import.h"
#include "prompt.h"

static int cmd_add_user(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__AddUserRequest body = LMS__ADD_USER_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    char err[256], *password;
    if (lms_read_password(cli_has(a, "password-stdin"), "Password: ", true, &password, err,
                          sizeof err) != LMS_PROMPT_OK)
        return cli_usage_error(ctx, "%s", err);
    body.name = (char *)cli_str(a, "NAME");
    body.role = out_role_parse(cli_str(a, "role"));
    if (cli_has(a, "full-name"))
        body.full_name = (char *)cli_str(a, "full-name");
    body.password = password;
    body.must_change_password = cli_has(a, "must-change-password");
    CLI_SET_BODY(&req, add_user, ADD_USER, &body);
    int rc = cli_act(ctx, &req, "created user %s (%s)", body.name, cli_str(a, "role"));
    lms_password_free(password);
    return rc;
}

static const char *fmt_result(const ProtobufCMessage *m, char *buf, size_t n)
{
    const Lms__ImportResult *r = (const Lms__ImportResult *)m;
    char status[32], clean[400];
    if (r->status == LMS__STATUS__OK)
        return "OK";
    snprintf(buf, n, "%s%s%s", lms_status_name(r->status, status, sizeof status),
             r->message[0] ? ": " : "", out_field_text(m, "message", clean, sizeof clean));
    return buf;
}

static int by_line(const void *x, const void *y)
{
    const Lms__ImportResult *a = *(Lms__ImportResult *const *)x;
    const Lms__ImportResult *b = *(Lms__ImportResult *const *)y;
    return (a->line > b->line) - (a->line < b->line);
}

/* Print the report: every row's result (the server's and ours, by line),
 * then "created N of M users". Returns the exit code. */
static int import_report(struct cli_ctx *ctx, const struct lms_import *imp,
                         const Lms__ImportUsersResponse *resp)
{
    static const struct out_column cols[] = {
        {"LINE", "line", NULL},
        {"NAME", "name", NULL},
        {"RESULT", NULL, fmt_result},
    };
    size_t nserver = resp ? resp->n_results : 0, n = nserver + imp->nerrors, failed = 0;
    uint32_t created = resp ? resp->created : 0;
    Lms__ImportResult **all = calloc(n + 1, sizeof *all);
    if (all == NULL)
        return cli_fail_errno(ctx, ENOMEM, "out of memory");
    for (size_t i = 0; i < nserver; i++)
        all[i] = resp->results[i];
    for (size_t i = 0; i < imp->nerrors; i++)
        all[nserver + i] = imp->errors[i];
    qsort(all, n, sizeof *all, by_line);
    for (size_t i = 0; i < n; i++)
        failed += all[i]->status != LMS__STATUS__OK;

    size_t total = imp->nrows + imp->nerrors;
    if (ctx->json) {
        json_object *obj = json_object_new_object(), *arr = json_object_new_array();
        for (size_t i = 0; i < n; i++)
            json_object_array_add(arr, out_json_message(&all[i]->base));
        json_object_object_add(obj, "results", arr);
        json_object_object_add(obj, "created", json_object_new_int64(created));
        json_object_object_add(obj, "total", json_object_new_int64((int64_t)total));
        cli_print_json(obj);
    } else {
        if (n > 0)
            out_table(stdout, CLI_COLUMNS(cols), (ProtobufCMessage *const *)all, n);
        printf("created %" PRIu32 " of %zu users\n", created, total);
    }
    free(all);
    if (failed == 0 && created == total)
        return LMS_EXIT_OK;
    fprintf(stderr, "%s: %zu of %zu users not created\n", ctx->prog->name, total - created, total);
    return LMS_EXIT_FAILED;
}

static int cmd_import_users(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__ImportUsersRequest body = LMS__IMPORT_USERS_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp = NULL;
    struct lms_import imp;
    uint8_t *data;
    size_t len;
    char err[512];
    if (lms_file_read(cli_str(a, "FILE"), &data, &len, err, sizeof err) < 0)
        return cli_fail_errno(ctx, errno, err);
    int rc = lms_import_parse((const char *)data, len, &imp);
    free(data);
    if (rc < 0)
        return cli_fail_errno(ctx, ENOMEM, "out of memory");
    if (imp.nrows > 0) {
        body.must_change_password = cli_has(a, "must-change-password");
        body.rows = imp.rows;
        body.n_rows = imp.nrows;
        CLI_SET_BODY(&req, import_users, IMPORT_USERS, &body);
        rc = cli_call(ctx, &req, LMS__RESPONSE__BODY_IMPORT_USERS, &resp);
    }
    if (rc == LMS_EXIT_OK)
        rc = import_report(ctx, &imp, resp ? resp->import_users : NULL);
    if (resp != NULL)
        lms__response__free_unpacked(resp, NULL);
    lms_import_free(&imp);
    return rc;
}

/* The account's state in the users table: "disabled", "one-time
 * password", or "ok". */
static const char *fmt_account(const ProtobufCMessage *m, char *buf, size_t n)
{
    const Lms__User *u = (const Lms__User *)m;
    snprintf(buf, n, "%s%s%s", u->disabled ? "disabled" : "",
             u->disabled && u->must_change_password ? ", " : "",
             u->must_change_password ? "one-time password" : "");
    return buf[0] ? buf : "ok";
}

static int cmd_reset_password(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__ResetPasswordRequest body = LMS__RESET_PASSWORD_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    char err[256], *password;
    if (lms_read_password(cli_has(a, "password-stdin"), "One-time password: ", true,
                          &password, err, sizeof err) != LMS_PROMPT_OK)
        return cli_usage_error(ctx, "%s", err);
    body.user = (char *)cli_str(a, "NAME");
    body.password = password;
    CLI_SET_BODY(&req, reset_password, RESET_PASSWORD, &body);
    int rc = cli_act(ctx, &req,
                     "set a one-time password for %s: their sessions were ended, and they "
                     "must change it at their next login",
                     body.user);
    lms_password_free(password);
    return rc;
}

static int set_enabled(struct cli_ctx *ctx, const struct cli_args *a, bool enabled)
{
    Lms__SetUserEnabledRequest body = LMS__SET_USER_ENABLED_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    body.user = (char *)cli_str(a, "NAME");
    body.enabled = enabled;
    CLI_SET_BODY(&req, set_user_enabled, SET_USER_ENABLED, &body);
    return enabled ? cli_act(ctx, &req, "enabled user %s", body.user)
                   : cli_act(ctx, &req,
                             "disabled user %s: they cannot log in, their sessions were "
                             "ended, and their work stays",
                             body.user);
}

static int cmd_disable_user(struct cli_ctx *ctx, const struct cli_args *a)
{
    return set_enabled(ctx, a, false);
}

static int cmd_enable_user(struct cli_ctx *ctx, const struct cli_args *a)
{
    return set_enabled(ctx, a, true);
}

static int cmd_users(struct cli_ctx *ctx, const struct cli_args *a)
{
    static const struct out_column cols[] = {
        {"NAME", "name", NULL},
        {"FULL NAME", "full_name", NULL},
        {"ROLE", "role", NULL},
        {"CREATED", "created", NULL},
        {"ACCOUNT", NULL, fmt_account},
    };
    static const struct cli_list_view view = {LMS__RESPONSE__BODY_USERS, "users",
                                              CLI_COLUMNS(cols), "no users"};
    Lms__ListUsersRequest body = LMS__LIST_USERS_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    CLI_SET_BODY(&req, list_users, LIST_USERS, &body);
    return cli_list(ctx, &req, &view);
}

static int cmd_create_course(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__CreateCourseRequest body = LMS__CREATE_COURSE_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    body.code = (char *)cli_str(a, "CODE");
    body.title = (char *)cli_str(a, "title");
    CLI_SET_BODY(&req, create_course, CREATE_COURSE, &body);
    return cli_act(ctx, &req, "created course %s: %s", body.code, body.title);
}

static int cmd_enroll(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__EnrollRequest body = LMS__ENROLL_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    body.course = (char *)cli_str(a, "CODE");
    body.user = (char *)cli_str(a, "NAME");
    body.role = out_role_parse(cli_str(a, "as"));
    CLI_SET_BODY(&req, enroll, ENROLL, &body);
    return cli_act(ctx, &req, "enrolled %s in %s as %s", body.user, body.course, cli_str(a, "as"));
}

static int cmd_unenroll(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__UnenrollRequest body = LMS__UNENROLL_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    body.course = (char *)cli_str(a, "CODE");
    body.user = (char *)cli_str(a, "NAME");
    CLI_SET_BODY(&req, unenroll, UNENROLL, &body);
    return cli_act(ctx, &req,
                   "unenrolled %s from %s: no access to it and out of its lists; their work "
                   "stays stored (enroll them again to bring it back)",
                   body.user, body.course);
}

/* A member's own number, or "-" when it has not reported lately. */
static const char *member_number(const ProtobufCMessage *m, uint64_t v, char *buf, size_t n)
{
    if (!((const Lms__ClusterMember *)m)->known)
        return "-";
    snprintf(buf, n, "%" PRIu64, v);
    return buf;
}

static const char *fmt_term(const ProtobufCMessage *m, char *buf, size_t n)
{
    return member_number(m, ((const Lms__ClusterMember *)m)->term, buf, n);
}

static const char *fmt_commit(const ProtobufCMessage *m, char *buf, size_t n)
{
    return member_number(m, ((const Lms__ClusterMember *)m)->commit, buf, n);
}

static const char *fmt_applied(const ProtobufCMessage *m, char *buf, size_t n)
{
    return member_number(m, ((const Lms__ClusterMember *)m)->applied, buf, n);
}

static const char *fmt_snapshot(const ProtobufCMessage *m, char *buf, size_t n)
{
    return member_number(m, ((const Lms__ClusterMember *)m)->snapshot, buf, n);
}

static int cmd_cluster_status(struct cli_ctx *ctx, const struct cli_args *a)
{
    static const struct out_column cols[] = {
        {"ID", "id", NULL},           {"ADDRESS", "address", NULL},
        {"ROLE", "role", NULL},       {"TERM", NULL, fmt_term},
        {"COMMIT", NULL, fmt_commit}, {"APPLIED", NULL, fmt_applied},
        {"SNAPSHOT", NULL, fmt_snapshot},
        {"MATCH", "match", NULL},     {"LAG", "lag", NULL},
    };
    Lms__ClusterStatusRequest body = LMS__CLUSTER_STATUS_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    Lms__Response *resp;
    (void)a;
    CLI_SET_BODY(&req, cluster_status, CLUSTER_STATUS, &body);
    int rc = cli_call(ctx, &req, LMS__RESPONSE__BODY_CLUSTER_STATUS, &resp);
    if (rc != LMS_EXIT_OK)
        return rc;
    const Lms__ClusterStatusResponse *st = resp->cluster_status;
    if (ctx->json) {
        cli_print_json(out_json_message(&st->base));
    } else {
        printf("leader: node %" PRIu64 ", term %" PRIu64 ", commit %" PRIu64
               ", last index %" PRIu64 "\n",
               st->leader, st->term, st->commit, st->last_index);
        out_table(stdout, CLI_COLUMNS(cols), (ProtobufCMessage *const *)st->members,
                  st->n_members);
    }
    lms__response__free_unpacked(resp, NULL);
    return LMS_EXIT_OK;
}

static int cmd_cluster_add(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__ClusterChangeRequest body = LMS__CLUSTER_CHANGE_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    body.id = cli_u64(a, "ID", 0);
    body.peer_address = (char *)cli_str(a, "PEER_ADDR");
    body.address = (char *)cli_str(a, "CLIENT_ADDR");
    CLI_SET_BODY(&req, cluster_change, CLUSTER_CHANGE, &body);
    return cli_act(ctx, &req,
                   "added node %" PRIu64 " as a learner (peers %s, clients %s); "
                   "the leader makes it a voter once it has caught up",
                   body.id, body.peer_address, body.address);
}

static int cmd_cluster_remove(struct cli_ctx *ctx, const struct cli_args *a)
{
    Lms__ClusterChangeRequest body = LMS__CLUSTER_CHANGE_REQUEST__INIT;
    Lms__Request req = LMS__REQUEST__INIT;
    body.remove = 1;
    body.id = cli_u64(a, "ID", 0);
    CLI_SET_BODY(&req, cluster_change, CLUSTER_CHANGE, &body);
    return cli_act(ctx, &req, "removed node %" PRIu64 " from the cluster", body.id);
}

/* Milliseconds of a monotonic clock. */
static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- cluster-verify ------------------------------------------------------ */

/* What one node said about the marker. */
struct verify_node {
    uint64_t id;
    const char *address;
    Lms__Response *resp;  /* its last answer (cluster_verify), or NULL */
    char why[1024];       /* when no digest: why */
    const char *verdict;  /* "equal", "differs", "pending", ... */
    char differs[300];    /* the tables that differ from the reference */
};

static const Lms__ClusterVerifyResponse *vn_digest(const struct verify_node *v)
{
    const Lms__ClusterVerifyResponse *r = v->resp ? v->resp->cluster_verify : NULL;
    return r && strcmp(r->state, "done") == 0 && r->sha256.len == 32 ? r : NULL;
}

/* Ask the node at addr, alone (never another), for its digest at index:
 * answered by that node itself, "pending" until it has one. Polls until
 * it says anything else or deadline (monotonic ms) passes. */
static void verify_ask_node(struct cli_ctx *ctx, struct verify_node *v, uint64_t index,
                            int64_t deadline)
{
    char err[1024];
    struct lms_client *c = lms_client_new(v->address, err, sizeof err);
    if (c == NULL || lms_client_set_tls(c, ctx->tls_mode, ctx->cafile, err, sizeof err) < 0) {
        snprintf(v->why, sizeof v->why, "%s", err);
        lms_client_free(c);
        return;
    }
    for (;;) {
        int64_t left = deadline - mono_ms();
        lms_client_set_timeout(c, (int)(left < 1000 ? 1000 : left > 5000 ? 5000 : left));
        Lms__ClusterVerifyRequest body = LMS__CLUSTER_VERIFY_REQUEST__INIT;
        Lms__Request req = LMS__REQUEST__INIT;
        body.index = index;
        CLI_SET_BODY(&req, cluster_verify, CLUSTER_VERIFY, &body);
        req.token = ctx->session.token;
        Lms__Response *resp = NULL;
        enum lms_client_rc rc = lms_client_call(c, &req, &resp, err, sizeof err);
        if (v->resp)
            lms__response__free_unpacked(v->resp, NULL);
        v->resp = NULL;
        if (rc != LMS_CLIENT_OK) {
            snprintf(v->why, sizeof v->why, "%s", err);
        } else if (resp->status != LMS__STATUS__OK ||
                   resp->body_case != LMS__RESPONSE__BODY_CLUSTER_VERIFY) {
            char st[32];
            snprintf(v->why, sizeof v->why, "%s: %s",
                     lms_status_name(resp->status, st, sizeof st), resp->message);
            lms__response__free_unpacked(resp, NULL);
        } else {
            v->resp = resp;
            v->why[0] = '\0';
            if (strcmp(resp->cluster_verify->state, "pending") != 0)
                break;
            snprintf(v->why, sizeof v->why,
                     "no digest yet (it has applied %" PRIu64 " of %" PRIu64 ")",
                     resp->cluster_verify->applied, index);
        }
        if (mono_ms() + 200 >= deadline)
            break;
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
    lms_client_free(c);
}

/* The tables of v whose digests differ from ref's, as "a, b". */
static void verify_tables_differ(const Lms__ClusterVerifyResponse *ref,
                                 const Lms__ClusterVerifyResponse *v, char *out, size_t n)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < v->n_tables; i++) {
        const Lms__TableDigest *t = v->tables[i];
        const Lms__TableDigest *r = NULL;
        for (size_t j = 0; j < ref->n_tables && !r; j++)
            if (strcmp(ref->tables[j]->table, t->table) == 0)
                r = ref->tables[j];
        if (r && r->rows == t->rows && r->sha256.len == t->sha256.len &&
            memcmp(r->sha256.data, t->sha256.data, t->sha256.len) == 0)
            continue;
        if (used < n)
            used += (size_t)snprintf(out + used, n - used, "%s%s (%" PRIu64 " rows, %" PRIu64
                                     " on the others)", used ? ", " : "", t->table, t->rows,
                                     r ? r->rows : 0);
    }
    if (!out[0])
        snprintf(out, n, "the whole state (the tables agree)");
}

static void hex12(const ProtobufCBinaryData *d, char out[13])
{
    out[0] = '\0';
    for (size_t i = 0; i < 6 && i < d->len; i++)
        snprintf(out + 2 * i, 3, "%02x", d->data[i]);
}

static int cmd_cluster_verify(struct cli_ctx *ctx, const struct cli_args *a)
{
    int64_t wait_ms = (int64_t)cli_u64(a, "wait", 60) * 1000;
    /* 1. the members and their client addresses */
    Lms__ClusterStatusRequest sbody = LMS__CLUSTER_STATUS_REQUEST__INIT;
    Lms__Request sreq = LMS__REQUEST__INIT;
    Lms__Response *status = NULL, *marker = NULL;
    CLI_SET_BODY(&sreq, cluster_status, CLUSTER_STATUS, &sbody);
    int rc = cli_call(ctx, &sreq, LMS__RESPONSE__BODY_CLUSTER_STATUS, &status);
    if (rc != LMS_EXIT_OK)
        return rc;
    /* 2. the marker, through the log */
    Lms__ClusterVerifyRequest vbody = LMS__CLUSTER_VERIFY_REQUEST__INIT;
    Lms__Request vreq = LMS__REQUEST__INIT;
    CLI_SET_BODY(&vreq, cluster_verify, CLUSTER_VERIFY, &vbody);
    rc = cli_call(ctx, &vreq, LMS__RESPONSE__BODY_CLUSTER_VERIFY, &marker);
    if (rc != LMS_EXIT_OK) {
        lms__response__free_unpacked(status, NULL);
        return rc;
    }
    uint64_t index = marker->cluster_verify->index;
    lms__response__free_unpacked(marker, NULL);
    /* 3. every member's digest at the marker */
    const Lms__ClusterStatusResponse *st = status->cluster_status;
    size_t n = st->n_members;
    struct verify_node *nodes = calloc(n ? n : 1, sizeof *nodes);
    if (nodes == NULL) {
        lms__response__free_unpacked(status, NULL);
        return cli_fail(ctx, LMS_EXIT_FAILED, "RESOURCE_EXHAUSTED", "out of memory");
    }
    int64_t deadline = mono_ms() + wait_ms;
    for (size_t i = 0; i < n; i++) {
        nodes[i].id = st->members[i]->id;
        nodes[i].address = st->members[i]->address;
        verify_ask_node(ctx, &nodes[i], index, deadline);
    }
    /* 4. the reference: the digest most nodes share (the first on a tie) */
    const Lms__ClusterVerifyResponse *ref = NULL;
    size_t ref_count = 0, done = 0, differ = 0;
    for (size_t i = 0; i < n; i++) {
        const Lms__ClusterVerifyResponse *d = vn_digest(&nodes[i]);
        if (!d)
            continue;
        size_t same = 0;
        for (size_t j = 0; j < n; j++) {
            const Lms__ClusterVerifyResponse *e = vn_digest(&nodes[j]);
            same += e && memcmp(e->sha256.data, d->sha256.data, 32) == 0;
        }
        if (same > ref_count)
            ref = d, ref_count = same;
    }
    for (size_t i = 0; i < n; i++) {
        struct verify_node *v = &nodes[i];
        const Lms__ClusterVerifyResponse *d = vn_digest(v);
        if (d && memcmp(d->sha256.data, ref->sha256.data, 32) == 0) {
            v->verdict = "equal";
            done++;
        } else if (d) {
            v->verdict = "differs";
            verify_tables_differ(ref, d, v->differs, sizeof v->differs);
            done++;
            differ++;
        } else if (v->resp) {
            v->verdict = v->resp->cluster_verify->state;
            if (!v->why[0])
                snprintf(v->why, sizeof v->why, "%s", v->resp->cluster_verify->message);
        } else {
            v->verdict = "unreachable";
        }
    }
    /* 5. the report */
    if (ctx->json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "index", json_object_new_uint64(index));
        json_object_object_add(o, "equal", json_object_new_boolean(done == n && !differ));
        json_object *arr = json_object_new_array();
        for (size_t i = 0; i < n; i++) {
            struct verify_node *v = &nodes[i];
            json_object *e = json_object_new_object();
            json_object_object_add(e, "id", json_object_new_uint64(v->id));
            json_object_object_add(e, "address", json_object_new_string(v->address));
            json_object_object_add(e, "verdict", json_object_new_string(v->verdict));
            if (v->resp)
                json_object_object_add(e, "digest",
                                       out_json_message(&v->resp->cluster_verify->base));
            if (v->differs[0])
                json_object_object_add(e, "differs", json_object_new_string(v->differs));
            if (v->why[0] && !vn_digest(v))
                json_object_object_add(e, "why", json_object_new_string(v->why));
            json_object_array_add(arr, e);
        }
        json_object_object_add(o, "nodes", arr);
        cli_print_json(o);
    } else {
        printf("cluster-verify at index %" PRIu64 ": %zu of %zu nodes hashed, %s\n", index,
               done, n,
               differ ? "THEY DIFFER"
                      : done == n ? "all equal" : "equal so far (not every node answered)");
        printf("%-4s %-22s %-16s %-12s %-12s %s\n", "NODE", "ADDRESS", "BACKEND", "DIGEST",
               "VERDICT", "");
        for (size_t i = 0; i < n; i++) {
            struct verify_node *v = &nodes[i];
            char hx[13] = "-";
            const Lms__ClusterVerifyResponse *d = vn_digest(v);
            if (d)
                hex12(&d->sha256, hx);
            printf("%-4" PRIu64 " %-22s %-16s %-12s %-12s %s\n", v->id, v->address,
                   v->resp ? v->resp->cluster_verify->backend : "-", hx, v->verdict,
                   v->differs[0] ? v->differs : d ? "" : v->why);
        }
    }
    rc = differ ? LMS_EXIT_FAILED : done == n ? LMS_EXIT_OK : LMS_EXIT_UNREACHABLE;
    if (differ)
        fprintf(stderr, "lms-admin: %zu node%s differ%s from the others at index %" PRIu64 "\n",
                differ, differ == 1 ? "" : "s", differ == 1 ? "s" : "", index);
    else if (done != n)
        fprintf(stderr, "lms-admin: %zu node%s could not be compared at index %" PRIu64
                " (see above); the others are equal\n", n - done, n - done == 1 ? "" : "s",
                index);
    for (size_t i = 0; i < n; i++)
        if (nodes[i].resp)
            lms__response__free_unpacked(nodes[i].resp, NULL);
    free(nodes);
    lms__response__free_unpacked(status, NULL);
    return rc;
}

static const struct cli_param cluster_verify_params[] = {
    {.name = "wait", .meta = "S", .kind = CLI_COUNT,
     .help = "seconds to wait for every node's digest (default 60)"},
    CLI_END_PARAMS,
};

static const struct cli_param cluster_add_params[] = {
    CMD_ID_OPERAND("ID", "the new node's node.id"),
    {.name = "PEER_ADDR", .kind = CLI_STRING, .flags = CLI_POSITIONAL | CLI_REQUIRED,
     .help = "its listen.peer, host:port"},
    {.name = "CLIENT_ADDR", .kind = CLI_STRING, .flags = CLI_POSITIONAL | CLI_REQUIRED,
     .help = "its listen.client, host:port"},
    CLI_END_PARAMS,
};

static const struct cli_param cluster_remove_params[] = {
    CMD_ID_OPERAND("ID", "the node to remove"),
    CLI_END_PARAMS,
};

static const struct cli_param add_user_params[] = {
    {.name = "NAME", .kind = CLI_STRING, .flags = CLI_POSITIONAL | CLI_REQUIRED,
     .help = "the login name"},
    {.name = "role", .meta = "student|instructor|admin", .kind = CLI_CHOICE,
     .flags = CLI_REQUIRED, .help = "what the user may do"},
    {.name = "full-name", .meta = "N", .kind = CLI_STRING, .help = "the name shown to others"},
    {.name = "password-stdin", .kind = CLI_FLAG,
     .help = "read the password as one line of standard input (default: ask twice on the "
             "terminal)"},
    {.name = "must-change-password", .kind = CLI_FLAG,
     .help = "a one-time password: the user must change it at the first login"},
    CLI_END_PARAMS,
};

static const struct cli_param import_params[] = {
    {.name = "FILE", .kind = CLI_STRING, .flags = CLI_POSITIONAL | CLI_REQUIRED,
     .help = "CSV with the columns name,role,full_name,password (a header row is skipped)"},
    {.name = "must-change-password", .kind = CLI_FLAG,
     .help = "the passwords are one-time passwords: each user must change theirs at the "
             "first login"},
    CLI_END_PARAMS,
};

static const struct cli_param reset_password_params[] = {
    {.name = "NAME", .kind = CLI_STRING, .flags = CLI_POSITIONAL | CLI_REQUIRED,
     .help = "the user"},
    {.name = "password-stdin", .kind = CLI_FLAG,
     .help = "read the one-time password as one line of standard input (default: ask twice "
             "on the terminal)"},
    CLI_END_PARAMS,
};

static const struct cli_param user_name_params[] = {
    {.name = "NAME", .kind = CLI_STRING, .flags = CLI_POSITIONAL | CLI_REQUIRED,
     .help = "the user"},
    CLI_END_PARAMS,
};

static const struct cli_param create_course_params[] = {
    {.name = "CODE", .kind = CLI_STRING, .flags = CLI_POSITIONAL | CLI_REQUIRED,
     .help = "the course code, e.g. CS101"},
    {.name = "title", .meta = "T", .kind = CLI_STRING, .flags = CLI_REQUIRED,
     .help = "the course title"},
    CLI_END_PARAMS,
};

static const struct cli_param enroll_params[] = {
    {.name = "CODE", .kind = CLI_STRING, .flags = CLI_POSITIONAL | CLI_REQUIRED,
     .help = "the course", .complete = CLI_COMPLETE_COURSE},
    {.name = "NAME", .kind = CLI_STRING, .flags = CLI_POSITIONAL | CLI_REQUIRED,
     .help = "the user"},
    {.name = "as", .meta = "student|instructor|ta", .kind = CLI_CHOICE, .flags = CLI_REQUIRED,
     .help = "the role in the course (ta: a teaching assistant, who grades and answers questions)"},
    CLI_END_PARAMS,
};

static const struct cli_param unenroll_params[] = {
    {.name = "CODE", .kind = CLI_STRING, .flags = CLI_POSITIONAL | CLI_REQUIRED,
     .help = "the course", .complete = CLI_COMPLETE_COURSE},
    {.name = "NAME", .kind = CLI_STRING, .flags = CLI_POSITIONAL | CLI_REQUIRED,
     .help = "the user who leaves it"},
    CLI_END_PARAMS,
};

static const struct cli_command commands[] = {
    CMD_SESSION_COMMANDS,
    CLI_CONFIG_COMMANDS,
    {.name = "add-user", .summary = "create a user", .params = add_user_params,
     .handler = cmd_add_user, .flags = CLI_NEEDS_SESSION},
    {.name = "import-users", .summary = "create users from a CSV file",
     .params = import_params, .handler = cmd_import_users, .flags = CLI_NEEDS_SESSION},
    {.name = "users", .summary = "list all users", .params = cmd_no_params,
     .handler = cmd_users, .flags = CLI_NEEDS_SESSION},
    {.name = "reset-password",
     .summary = "set a one-time password that the user must change at the next login",
     .params = reset_password_params, .handler = cmd_reset_password,
     .flags = CLI_NEEDS_SESSION},
    {.name = "disable-user", .summary = "stop a user from logging in (their work stays)",
     .params = user_name_params, .handler = cmd_disable_user, .flags = CLI_NEEDS_SESSION},
    {.name = "enable-user", .summary = "let a disabled user log in again",
     .params = user_name_params, .handler = cmd_enable_user, .flags = CLI_NEEDS_SESSION},
    {.name = "create-course", .summary = "create a course", .params = create_course_params,
     .handler = cmd_create_course, .flags = CLI_NEEDS_SESSION},
    {.name = "courses", .summary = "list all courses", .params = cmd_no_params,
     .handler = cmd_courses, .flags = CLI_NEEDS_SESSION},
    {.name = "enroll", .summary = "enrol a user in a course as student or instructor",
     .params = enroll_params, .handler = cmd_enroll, .flags = CLI_NEEDS_SESSION},
    {.name = "unenroll",
     .summary = "take a user out of a course (their work stays stored, out of its lists)",
     .params = unenroll_params, .handler = cmd_unenroll, .flags = CLI_NEEDS_SESSION},
    {.name = "announce", .summary = "post an announcement to the members of a course",
     .params = cmd_announce_params, .handler = cmd_announce, .flags = CLI_NEEDS_SESSION},
    {.name = "announcements", .summary = "read the announcements of every course, newest first",
     .params = cmd_announcements_params, .handler = cmd_announcements,
     .flags = CLI_NEEDS_SESSION},
    {.name = "cluster-status",
     .summary = "show every node of the cluster: role, term, commit and applied index, and "
                "how far behind the leader it is",
     .params = cmd_no_params, .handler = cmd_cluster_status, .flags = CLI_NEEDS_SESSION},
    {.name = "cluster-add",
     .summary = "add a node (started with this cluster's members and its own id) as a "
                "learner; it votes once it has caught up",
     .params = cluster_add_params, .handler = cmd_cluster_add, .flags = CLI_NEEDS_SESSION},
    {.name = "cluster-remove", .summary = "remove a node from the cluster",
     .params = cluster_remove_params, .handler = cmd_cluster_remove,
     .flags = CLI_NEEDS_SESSION},
    {.name = "cluster-verify",
     .summary = "check that every node holds the same state: a marker goes through the log, "
                "each node hashes its state right after it, and any node (and table) that "
                "differs is named",
     .params = cluster_verify_params, .handler = cmd_cluster_verify,
     .flags = CLI_NEEDS_SESSION},
    {.name = "backup",
     .summary = "save a consistent copy of the whole state (from the leader) to FILE, for "
                "lmsd --restore",
     .params = cmd_backup_params, .handler = cmd_backup, .flags = CLI_NEEDS_SESSION},
    LMS_CA_COMMANDS,
    CLI_DOC_COMMANDS,
    {.name = NULL},
};

static const struct cli_program program = {
    .name = "lms-admin",
    .summary = "The administrator's client of the lms learning-management system.",
    .commands = commands,
};

int main(int argc, char **argv)
{
    return cli_main(&program, argc, argv);
}
