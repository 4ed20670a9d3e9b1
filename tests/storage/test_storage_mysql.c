/* SPDX-License-Identifier: MIT */
/*
 * test_storage_mysql.c: what is particular to storage_mysql, against a
 * real MariaDB server: the one scripts/mariadb-test starts (ctest's
 * fixture "mariadb"), whose coordinates come from the environment
 * (LMS_MARIADB_SOCKET, _HOST, _PORT, _USER, _PASSWORD_FILE). Missing
 * ones fail the test: it never skips.
 *
 * Each test uses a database of its own (lmst_<pid>_<n>), dropped at
 * teardown through a connection of the test's own (libmariadb), which
 * also kills the plugin's connections to check that it reconnects.
 * storage_sqlite is loaded beside it to prove that a snapshot written by
 * one backend reads into the other with the same digest.
 */
#include <lms/storage.h>

#include "fake_host.h"

#include <mysql.h>
#include <pthread.h>

#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static const struct lms_storage_ops *my_ops, *sq_ops;
static void *my_dl, *sq_dl;

/* The server's coordinates. */
static const char *env_socket, *env_host, *env_port, *env_user, *env_pwfile;
static const char *env_tls_ca, *env_other_ca;
static char env_password[256];

static const char *need_env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0')
        fail_msg("%s is not set: run this test through ctest (fixture "
                 "mariadb) or source the env file of scripts/mariadb-test "
                 "start DIR", name);
    return v;
}

/* ---- one test's world ---- */

typedef struct tfx {
    struct lms_plugin_ctx ctx;
    const char *cfg[40];
    char db[80];
    void *st;
    lms_err err;
    MYSQL *admin;
} tfx;

#define EXPECT_CODE(code, call)                                              \
    do {                                                                     \
        lms_err_clear(&fx->err);                                             \
        int rc_ = (call);                                                    \
        if (rc_ != (code))                                                   \
            fail_msg("%s returned %d, expected %d (%s); message: '%s'",      \
                     #call, rc_, (code), #code, fx->err.msg);                \
    } while (0)
#define EXPECT_OK(call) EXPECT_CODE(LMS_OK, call)
#define EXPECT_CONTAINS(haystack, needle)                                    \
    do {                                                                     \
        if (strstr((haystack), (needle)) == NULL)                            \
            fail_msg("expected '%s' to contain '%s'", (haystack), (needle)); \
    } while (0)

static MYSQL *admin_connect(void)
{
    MYSQL *m = mysql_init(NULL);
    assert_non_null(m);
    if (!mysql_real_connect(m, "localhost", env_user, env_password, NULL, 0,
                            env_socket, 0))
        fail_msg("admin connection: %s", mysql_error(m));
    return m;
}

static void admin_sql(tfx *fx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void admin_sql(tfx *fx, const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    if (mysql_query(fx->admin, sql))
        fail_msg("admin: %s: %s", sql, mysql_error(fx->admin));
    MYSQL_RES *r = mysql_store_result(fx->admin);
    if (r)
        mysql_free_result(r);
}

/* Kill every connection of the plugin to fx's database. Returns how many
 * were killed. */
static int kill_plugin_connections(tfx *fx)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT id FROM information_schema.processlist "
             "WHERE db = '%s' AND id <> CONNECTION_ID()", fx->db);
    if (mysql_query(fx->admin, sql))
        fail_msg("admin: %s", mysql_error(fx->admin));
    MYSQL_RES *r = mysql_store_result(fx->admin);
    assert_non_null(r);
    unsigned long ids[64];
    int n = 0;
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(r)) && n < 64)
        ids[n++] = strtoul(row[0], NULL, 10);
    mysql_free_result(r);
    for (int i = 0; i < n; i++)
        admin_sql(fx, "KILL %lu", ids[i]);
    usleep(100 * 1000);
    return n;
}

/* Build fx->cfg: the socket connection with the password file, plus
 * extra key/value pairs (NULL-terminated). */
static void set_config(tfx *fx, int socket, const char *const *extra)
{
    int i = 0;
    if (socket) {
        fx->cfg[i++] = "socket";
        fx->cfg[i++] = env_socket;
    } else {
        fx->cfg[i++] = "host";
        fx->cfg[i++] = env_host;
        fx->cfg[i++] = "port";
        fx->cfg[i++] = env_port;
    }
    fx->cfg[i++] = "database";
    fx->cfg[i++] = fx->db;
    fx->cfg[i++] = "user";
    fx->cfg[i++] = env_user;
    int has_pw = 0;
    for (const char *const *kv = extra; kv && kv[0]; kv += 2)
        if (strncmp(kv[0], "password", 8) == 0)
            has_pw = 1;
    if (!has_pw) {
        fx->cfg[i++] = "password_file";
        fx->cfg[i++] = env_pwfile;
    }
    for (const char *const *kv = extra; kv && kv[0]; kv += 2) {
        fx->cfg[i++] = kv[0];
        fx->cfg[i++] = kv[1];
    }
    fx->cfg[i] = NULL;
    fx->ctx.config = fx->cfg;
}

static int open_store(tfx *fx)
{
    if (fx->st)
        my_ops->close(fx->st);
    fx->st = NULL;
    lms_err_clear(&fx->err);
    return my_ops->open(fake_host(), &fx->ctx, &fx->st, &fx->err);
}

static int setup(void **state)
{
    static int n;
    tfx *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->db, sizeof fx->db, "lmst_%ld_%d", (long)getpid(), ++n);
    strcpy(fx->ctx.data_dir, "/tmp/lms-mysql-test-XXXXXX");
    if (mkdtemp(fx->ctx.data_dir) == NULL)
        fail_msg("mkdtemp: %s", strerror(errno));
    fx->admin = admin_connect();
    set_config(fx, 1, NULL);
    *state = fx;
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int type,
                    struct FTW *ftw)
{
    (void)sb, (void)type, (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    tfx *fx = *state;
    if (fx->st)
        my_ops->close(fx->st);
    admin_sql(fx, "DROP DATABASE IF EXISTS `%s`", fx->db);
    mysql_close(fx->admin);
    nftw(fx->ctx.data_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

/* Open and migrate fx's store with the default (socket) config. */
static void open_migrated(tfx *fx)
{
    EXPECT_OK(open_store(fx));
    int v = 0;
    EXPECT_OK(my_ops->migrate(fx->st, &v, &fx->err));
    assert_int_equal(v, 3); /* schema version 3: record (ABI 1.4) */
}

static void begin(tfx *fx)
{
    EXPECT_OK(my_ops->begin(fx->st, &fx->err));
}

static void commit(tfx *fx, uint64_t index)
{
    EXPECT_OK(my_ops->commit(fx->st, index, &fx->err));
}

static uint64_t applied(tfx *fx)
{
    uint64_t i = 12345;
    EXPECT_OK(my_ops->applied_index(fx->st, &i, &fx->err));
    return i;
}

static lms_user user_of(const char *name)
{
    lms_user u;
    memset(&u, 0, sizeof u);
    snprintf(u.name, sizeof u.name, "%s", name);
    snprintf(u.full_name, sizeof u.full_name, "Full %s", name);
    u.role = LMS_ROLE_STUDENT;
    u.password_hash = "$argon2id$v=19$hash";
    u.created = 1700000000000;
    return u;
}

static void put_user(tfx *fx, const char *name)
{
    lms_user u = user_of(name);
    EXPECT_OK(my_ops->user_put(fx->st, &u, &fx->err));
}

/* Collect keys as "a,b,c". */
typedef struct collect {
    char out[8192];
    int n;
} collect;

static void collect_add(collect *c, const char *s)
{
    size_t at = strlen(c->out);
    snprintf(c->out + at, sizeof c->out - at, "%s%s", c->n++ ? "," : "", s);
}

static int each_user(void *arg, const void *row)
{
    collect_add(arg, ((const lms_user *)row)->name);
    return 0;
}

/* ---- lifecycle ---- */

static void test_open_migrate_reopen(void **state)
{
    tfx *fx = *state;
    EXPECT_OK(open_store(fx));
    /* ops before migrate are refused */
    uint64_t n;
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                my_ops->user_count(fx->st, &n, &fx->err));
    EXPECT_CONTAINS(fx->err.msg, "migrate");
    void *rd = NULL;
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                my_ops->reader_open(fx->st, &rd, &fx->err));
    EXPECT_CONTAINS(fx->err.msg, "migrate");
    assert_null(rd);
    int v = 0;
    EXPECT_OK(my_ops->migrate(fx->st, &v, &fx->err));
    assert_int_equal(v, 3); /* schema version 3: record (ABI 1.4) */
    EXPECT_OK(my_ops->migrate(fx->st, &v, &fx->err)); /* idempotent */
    assert_int_equal(applied(fx), 0);
    /* writes outside a transaction are refused */
    lms_user u = user_of("alice");
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                my_ops->user_put(fx->st, &u, &fx->err));
    EXPECT_CODE(LMS_FAILED_PRECONDITION, my_ops->commit(fx->st, 1, &fx->err));
    begin(fx);
    EXPECT_CODE(LMS_FAILED_PRECONDITION, my_ops->begin(fx->st, &fx->err));
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                my_ops->migrate(fx->st, &v, &fx->err));
    put_user(fx, "alice");
    commit(fx, 5);
    /* reopen: usable at once, data and applied index kept */
    EXPECT_OK(open_store(fx));
    assert_int_equal(applied(fx), 5);
    lms_user got;
    EXPECT_OK(my_ops->user_get(fx->st, "alice", &got, &fx->err));
    assert_string_equal(got.full_name, "Full alice");
    /* a newer schema is refused, naming both versions */
    admin_sql(fx, "UPDATE `%s`.meta SET value = 99 WHERE `key` = "
              "'schema_version'", fx->db);
    EXPECT_OK(open_store(fx));
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                my_ops->migrate(fx->st, &v, &fx->err));
    EXPECT_CONTAINS(fx->err.msg, "99");
    EXPECT_CONTAINS(fx->err.msg, "newer");
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                my_ops->user_count(fx->st, &n, &fx->err));
}

static void test_collation_and_tables(void **state)
{
    tfx *fx = *state;
    open_migrated(fx);
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM information_schema.columns"
             " WHERE table_schema = '%s' AND collation_name IS NOT NULL AND "
             "collation_name <> 'utf8mb4_nopad_bin'", fx->db);
    assert_int_equal(mysql_query(fx->admin, sql), 0);
    MYSQL_RES *r = mysql_store_result(fx->admin);
    MYSQL_ROW row = mysql_fetch_row(r);
    assert_string_equal(row[0], "0");
    mysql_free_result(r);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM information_schema.tables"
             " WHERE table_schema = '%s' AND engine = 'InnoDB'", fx->db);
    assert_int_equal(mysql_query(fx->admin, sql), 0);
    r = mysql_store_result(fx->admin);
    row = mysql_fetch_row(r);
    assert_string_equal(row[0], "16"); /* 14 tables, meta and host_meta */
    mysql_free_result(r);
}

/* ---- options and secrets ---- */

static void test_password_sources_and_secrecy(void **state)
{
    tfx *fx = *state;
    /* from an environment variable */
    setenv("LMS_TEST_MYSQL_PW", env_password, 1);
    const char *const by_env[] = {"password_env", "LMS_TEST_MYSQL_PW", NULL};
    set_config(fx, 1, by_env);
    EXPECT_OK(open_store(fx));
    EXPECT_OK(my_ops->migrate(fx->st, NULL, &fx->err));
    const char *const unset_env[] = {"password_env", "LMS_TEST_NO_SUCH_VAR",
                                     NULL};
    set_config(fx, 1, unset_env);
    EXPECT_CODE(LMS_FAILED_PRECONDITION, open_store(fx));
    EXPECT_CONTAINS(fx->err.msg, "LMS_TEST_NO_SUCH_VAR");
    /* a password in the YAML is refused and not echoed */
    const char *const in_yaml[] = {"password", "s3cret-in-yaml", NULL};
    set_config(fx, 1, in_yaml);
    EXPECT_CODE(LMS_INVALID_ARGUMENT, open_store(fx));
    EXPECT_CONTAINS(fx->err.msg, "password_file");
    EXPECT_CONTAINS(fx->err.msg, "password_env");
    assert_null(strstr(fx->err.msg, "s3cret-in-yaml"));
    /* a wrong password: a clear error, the password nowhere */
    setenv("LMS_TEST_MYSQL_BAD", "wrong-pw-XyZ", 1);
    const char *const wrong[] = {"password_env", "LMS_TEST_MYSQL_BAD", NULL};
    set_config(fx, 1, wrong);
    EXPECT_CODE(LMS_PERMISSION_DENIED, open_store(fx));
    EXPECT_CONTAINS(fx->err.msg, "Access denied");
    EXPECT_CONTAINS(fx->err.msg, "password_file");
    assert_null(strstr(fx->err.msg, "wrong-pw-XyZ"));
    assert_null(strstr(fx->ctx.last_log, "wrong-pw-XyZ"));
    /* the real password never shows either */
    set_config(fx, 1, NULL);
    EXPECT_OK(open_store(fx));
    assert_null(strstr(fx->ctx.last_log, env_password));
    /* a password file others may read is refused */
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/pw", fx->ctx.data_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", env_password);
    fclose(f);
    chmod(path, 0644);
    const char *const open_file[] = {"password_file", path, NULL};
    set_config(fx, 1, open_file);
    EXPECT_CODE(LMS_FAILED_PRECONDITION, open_store(fx));
    EXPECT_CONTAINS(fx->err.msg, "chmod 600");
    chmod(path, 0600); /* with its trailing newline stripped, it works */
    EXPECT_OK(open_store(fx));
    /* both sources at once: ambiguous */
    const char *const both[] = {"password_file", path, "password_env",
                                "LMS_TEST_MYSQL_PW", NULL};
    set_config(fx, 1, both);
    EXPECT_CODE(LMS_INVALID_ARGUMENT, open_store(fx));
}

static void test_connection_errors(void **state)
{
    tfx *fx = *state;
    const char *const bad_host[] = {"connect_timeout", "2", NULL};
    set_config(fx, 0, bad_host);
    fx->cfg[1] = "no-such-host.invalid";
    EXPECT_CODE(LMS_UNAVAILABLE, open_store(fx));
    EXPECT_CONTAINS(fx->err.msg, "no-such-host.invalid");
    EXPECT_CONTAINS(fx->err.msg, "host");
    /* a database that is missing, and may not be created */
    const char *const no_create[] = {"create_database", "false", NULL};
    set_config(fx, 1, no_create);
    EXPECT_CODE(LMS_FAILED_PRECONDITION, open_store(fx));
    EXPECT_CONTAINS(fx->err.msg, fx->db);
    EXPECT_CONTAINS(fx->err.msg, "create_database");
    /* required options */
    const char *const none[] = {NULL};
    fx->ctx.config = none;
    EXPECT_CODE(LMS_INVALID_ARGUMENT, open_store(fx));
    EXPECT_CONTAINS(fx->err.msg, "database");
    set_config(fx, 0, NULL);
    fx->cfg[3] = "70000"; /* the port */
    EXPECT_CODE(LMS_INVALID_ARGUMENT, open_store(fx));
    EXPECT_CONTAINS(fx->err.msg, "port");
}

static void test_tcp_and_socket(void **state)
{
    tfx *fx = *state;
    set_config(fx, 0, NULL); /* host and port */
    open_migrated(fx);
    begin(fx);
    put_user(fx, "tcp");
    commit(fx, 1);
    set_config(fx, 1, NULL); /* the socket */
    EXPECT_OK(open_store(fx));
    lms_user got;
    EXPECT_OK(my_ops->user_get(fx->st, "tcp", &got, &fx->err));
    assert_int_equal(applied(fx), 1);
}

/* ---- transactions ---- */

static void test_transactions(void **state)
{
    tfx *fx = *state;
    open_migrated(fx);
    EXPECT_OK(my_ops->rollback(fx->st, &fx->err)); /* nothing open */
    begin(fx);
    put_user(fx, "gone");
    EXPECT_OK(my_ops->rollback(fx->st, &fx->err));
    lms_user got;
    EXPECT_CODE(LMS_NOT_FOUND,
                my_ops->user_get(fx->st, "gone", &got, &fx->err));
    assert_int_equal(applied(fx), 0);
    begin(fx);
    put_user(fx, "kept");
    commit(fx, 9);
    assert_int_equal(applied(fx), 9);
    begin(fx);
    commit(fx, 10);
    assert_int_equal(applied(fx), 10);
    EXPECT_OK(my_ops->user_get(fx->st, "kept", &got, &fx->err));
}

/* ---- entities ---- */

static char *big_text(size_t n)
{
    char *t = malloc(n + 1);
    assert_non_null(t);
    static const char pat[] = "Grüße \xF0\x9F\x98\x80 line\n"; /* 4-byte */
    for (size_t i = 0; i < n; i++)
        t[i] = pat[i % (sizeof pat - 1)];
    t[n] = '\0';
    /* end on a whole character */
    while (n > 0 && ((unsigned char)t[n - 1] & 0xC0) == 0x80)
        t[--n] = '\0';
    if (n > 0 && (unsigned char)t[n - 1] >= 0xC0)
        t[--n] = '\0';
    return t;
}

/* name of exactly len bytes of 2-byte characters (len even). */
static void max_name(char *out, size_t len)
{
    for (size_t i = 0; i < len; i += 2) {
        out[i] = (char)0xC3;
        out[i + 1] = (char)0xA9; /* é */
    }
    out[len] = '\0';
}

static int each_grade(void *arg, const void *row)
{
    const lms_grade_view *v = row;
    char s[200];
    snprintf(s, sizeof s, "%llu/%s/%s",
             (unsigned long long)v->grade->submission_id,
             v->submission->student, v->assignment->course);
    collect_add(arg, s);
    return 0;
}

static int each_id_sub(void *arg, const void *row)
{
    char s[32];
    snprintf(s, sizeof s, "%llu%s",
             (unsigned long long)((const lms_submission *)row)->id,
             ((const lms_submission *)row)->graded ? "g" : "");
    collect_add(arg, s);
    return 0;
}

static int each_course(void *arg, const void *row)
{
    char s[128];
    snprintf(s, sizeof s, "%s:%d", ((const lms_course *)row)->code,
             ((const lms_course *)row)->my_role);
    collect_add(arg, s);
    return 0;
}

static int each_enrolment(void *arg, const void *row)
{
    collect_add(arg, ((const lms_enrolment *)row)->user);
    return 0;
}

static int each_query(void *arg, const void *row)
{
    char s[32];
    snprintf(s, sizeof s, "%llu",
             (unsigned long long)((const lms_query *)row)->id);
    collect_add(arg, s);
    return 0;
}

static int each_reply(void *arg, const void *row)
{
    collect_add(arg, ((const lms_reply *)row)->text);
    return 0;
}

static int each_material(void *arg, const void *row)
{
    collect_add(arg, ((const lms_material *)row)->title);
    return 0;
}

static int each_assignment(void *arg, const void *row)
{
    char s[32];
    snprintf(s, sizeof s, "%llu",
             (unsigned long long)((const lms_assignment *)row)->id);
    collect_add(arg, s);
    return 0;
}

static int each_session(void *arg, const void *row)
{
    char s[32];
    snprintf(s, sizeof s, "%02x",
             ((const lms_session *)row)->token_hash[0]);
    collect_add(arg, s);
    return 0;
}

static void test_entities_round_trip(void **state)
{
    tfx *fx = *state;
    open_migrated(fx);
    char longname[LMS_NAME_MAX + 1], longtitle[LMS_TITLE_MAX + 1];
    max_name(longname, LMS_NAME_MAX);
    max_name(longtitle, LMS_TITLE_MAX);
    char *text = big_text(3u << 20);
    begin(fx);
    lms_user u = user_of(longname);
    memcpy(u.full_name, longtitle, sizeof longtitle);
    u.password_hash = text;
    u.role = LMS_ROLE_INSTRUCTOR;
    EXPECT_OK(my_ops->user_put(fx->st, &u, &fx->err));
    put_user(fx, "stud\xF0\x9F\x98\x80");
    lms_course c = {.created = 5};
    snprintf(c.code, sizeof c.code, "CS101");
    memcpy(c.title, longtitle, sizeof longtitle);
    EXPECT_OK(my_ops->course_put(fx->st, &c, &fx->err));
    lms_enrolment e = {.role = LMS_ROLE_STUDENT};
    snprintf(e.course, sizeof e.course, "CS101");
    snprintf(e.user, sizeof e.user, "stud\xF0\x9F\x98\x80");
    EXPECT_OK(my_ops->enrolment_put(fx->st, &e, &fx->err));
    lms_enrolment e2 = e;
    memcpy(e2.user, longname, sizeof longname);
    e2.role = LMS_ROLE_INSTRUCTOR;
    EXPECT_OK(my_ops->enrolment_put(fx->st, &e2, &fx->err));
    /* a missing referenced row */
    lms_enrolment bad = e;
    snprintf(bad.course, sizeof bad.course, "NOPE");
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                my_ops->enrolment_put(fx->st, &bad, &fx->err));
    EXPECT_CONTAINS(fx->err.msg, "enrolment_put");
    lms_assignment a;
    memset(&a, 0, sizeof a);
    a.id = 7;
    snprintf(a.course, sizeof a.course, "CS101");
    memcpy(a.title, longtitle, sizeof longtitle);
    a.description = text;
    a.due = -5;
    a.cutoff = INT64_MAX;
    a.max_points = 0.1 + 0.2;
    a.max_attempts = UINT32_MAX;
    a.max_size = UINT64_MAX;
    a.hold_grades = 1;
    a.created = 3;
    snprintf(a.created_by, sizeof a.created_by, "ian");
    EXPECT_OK(my_ops->assignment_put(fx->st, &a, &fx->err));
    lms_extension x = {.assignment_id = 7, .until = 99};
    snprintf(x.student, sizeof x.student, "stud\xF0\x9F\x98\x80");
    EXPECT_OK(my_ops->extension_put(fx->st, &x, &fx->err));
    lms_submission s;
    memset(&s, 0, sizeof s);
    s.id = 11;
    s.assignment_id = 7;
    snprintf(s.student, sizeof s.student, "stud\xF0\x9F\x98\x80");
    memset(s.file_name, 'f', LMS_FILENAME_MAX);
    s.size = 1234;
    for (int i = 0; i < LMS_SHA256_LEN; i++)
        s.sha256[i] = (uint8_t)(255 - i); /* high bytes, no NUL */
    s.submitted = 42;
    s.late = 1;
    s.attempt = 1;
    EXPECT_OK(my_ops->submission_put(fx->st, &s, &fx->err));
    lms_submission s2 = s;
    s2.id = 12;
    EXPECT_CODE(LMS_ALREADY_EXISTS,
                my_ops->submission_put(fx->st, &s2, &fx->err));
    s2.attempt = 2;
    EXPECT_OK(my_ops->submission_put(fx->st, &s2, &fx->err));
    EXPECT_CODE(LMS_ALREADY_EXISTS,
                my_ops->submission_put(fx->st, &s2, &fx->err));
    lms_grade g = {.submission_id = 11, .grade = 9.75, .graded = 50};
    g.feedback = "gut \xF0\x9F\x91\x8D";
    snprintf(g.grader, sizeof g.grader, "ian");
    EXPECT_OK(my_ops->grade_put(fx->st, &g, &fx->err));
    lms_query q;
    memset(&q, 0, sizeof q);
    q.id = 21;
    snprintf(q.course, sizeof q.course, "CS101");
    snprintf(q.student, sizeof q.student, "stud\xF0\x9F\x98\x80");
    memcpy(q.title, longtitle, sizeof longtitle);
    q.text = text;
    q.created = 1000;
    q.kind = LMS_QUERY_TUTOR;
    q.escalated_from = 3;
    snprintf(q.provider, sizeof q.provider, "openai");
    memcpy(q.model, longtitle, sizeof longtitle);
    q.prompt_tokens = 10;
    q.completion_tokens = 20;
    q.latency_ms = 30;
    q.shared = 1;
    EXPECT_OK(my_ops->query_put(fx->st, &q, &fx->err));
    lms_reply r1 = {.id = 31, .query_id = 21, .text = "first", .created = 1};
    lms_reply r2 = {.id = 30, .query_id = 21, .text = "zero", .created = 2};
    snprintf(r1.author, sizeof r1.author, "ian");
    snprintf(r2.author, sizeof r2.author, "ian");
    EXPECT_OK(my_ops->reply_put(fx->st, &r1, &fx->err));
    EXPECT_OK(my_ops->reply_put(fx->st, &r2, &fx->err));
    lms_material m;
    memset(&m, 0, sizeof m);
    m.id = 41;
    snprintf(m.course, sizeof m.course, "CS101");
    snprintf(m.title, sizeof m.title, "slides");
    snprintf(m.file_name, sizeof m.file_name, "s.pdf");
    m.size = 0;
    memset(m.sha256, 0xAB, sizeof m.sha256);
    snprintf(m.uploaded_by, sizeof m.uploaded_by, "ian");
    EXPECT_OK(my_ops->material_put(fx->st, &m, &fx->err));
    lms_session se = {.created = 5, .expires = 100};
    memset(se.token_hash, 0x80, sizeof se.token_hash);
    snprintf(se.user, sizeof se.user, "stud\xF0\x9F\x98\x80");
    EXPECT_OK(my_ops->session_put(fx->st, &se, &fx->err));
    lms_client_record cr;
    memset(&cr, 0, sizeof cr);
    cr.client_id = UINT64_MAX;
    cr.seq = 3;
    cr.status = LMS_NOT_FOUND;
    memset(cr.message, 'm', sizeof cr.message - 1);
    cr.result_id = 8;
    cr.updated = 77;
    static const unsigned char answer[] = {0, 1, 0, 255, 0};
    cr.answer = answer;
    cr.answer_len = sizeof answer;
    EXPECT_OK(my_ops->client_put(fx->st, &cr, &fx->err));
    lms_course_settings cs = {.system_prompt = text,
                              .tutor_daily_limit = 12};
    snprintf(cs.course, sizeof cs.course, "CS101");
    EXPECT_OK(my_ops->course_settings_put(fx->st, &cs, &fx->err));
    commit(fx, 100);

    /* read everything back */
    lms_user gu;
    EXPECT_OK(my_ops->user_get(fx->st, longname, &gu, &fx->err));
    assert_string_equal(gu.name, longname);
    assert_string_equal(gu.full_name, longtitle);
    assert_string_equal(gu.password_hash, text);
    assert_int_equal(gu.role, LMS_ROLE_INSTRUCTOR);
    assert_true(gu.created == 1700000000000);
    uint64_t nusers;
    EXPECT_OK(my_ops->user_count(fx->st, &nusers, &fx->err));
    assert_int_equal(nusers, 2);
    lms_course gc;
    EXPECT_OK(my_ops->course_get(fx->st, "CS101", &gc, &fx->err));
    assert_string_equal(gc.title, longtitle);
    int role = -1;
    EXPECT_OK(my_ops->enrolment_get(fx->st, "CS101", longname, &role,
                                    &fx->err));
    assert_int_equal(role, LMS_ROLE_INSTRUCTOR);
    EXPECT_OK(my_ops->enrolment_get(fx->st, "CS101", "nobody", &role,
                                    &fx->err));
    assert_int_equal(role, LMS_ROLE_NONE);
    collect cl = {0};
    EXPECT_OK(my_ops->course_list(fx->st, "stud\xF0\x9F\x98\x80",
                                  each_course, &cl, &fx->err));
    assert_string_equal(cl.out, "CS101:1");
    collect el = {0};
    EXPECT_OK(my_ops->enrolment_list(fx->st, "CS101", LMS_ROLE_STUDENT,
                                     each_enrolment, &el, &fx->err));
    assert_string_equal(el.out, "stud\xF0\x9F\x98\x80");
    lms_assignment ga;
    EXPECT_OK(my_ops->assignment_get(fx->st, 7, &ga, &fx->err));
    assert_string_equal(ga.description, text);
    assert_true(ga.due == -5 && ga.cutoff == INT64_MAX);
    assert_true(ga.max_points == 0.1 + 0.2);
    assert_true(ga.max_attempts == UINT32_MAX && ga.max_size == UINT64_MAX);
    assert_string_equal(ga.title, longtitle);
    collect al = {0};
    EXPECT_OK(my_ops->assignment_list(fx->st, NULL, each_assignment, &al,
                                      &fx->err));
    assert_string_equal(al.out, "7");
    lms_extension gx;
    EXPECT_OK(my_ops->extension_get(fx->st, 7, "stud\xF0\x9F\x98\x80", &gx,
                                    &fx->err));
    assert_true(gx.until == 99);
    lms_submission gs;
    EXPECT_OK(my_ops->submission_get(fx->st, 11, 1, &gs, &fx->err));
    assert_memory_equal(gs.sha256, s.sha256, LMS_SHA256_LEN);
    assert_string_equal(gs.file_name, s.file_name);
    assert_true(gs.graded && gs.late && gs.attempt == 1 && gs.size == 1234);
    assert_null(gs.data);
    collect sl = {0};
    EXPECT_OK(my_ops->submission_list(fx->st, 7, "stud\xF0\x9F\x98\x80",
                                      each_id_sub, &sl, &fx->err));
    assert_string_equal(sl.out, "11g,12");
    uint32_t ns = 0;
    EXPECT_OK(my_ops->submission_count(fx->st, 7, NULL, &ns, &fx->err));
    assert_int_equal(ns, 2);
    lms_grade gg;
    EXPECT_OK(my_ops->grade_get(fx->st, 11, &gg, &fx->err));
    assert_string_equal(gg.feedback, g.feedback);
    assert_true(gg.grade == 9.75);
    collect gl = {0};
    EXPECT_OK(my_ops->grade_list(fx->st, "CS101", NULL, each_grade, &gl,
                                 &fx->err));
    assert_string_equal(gl.out, "11/stud\xF0\x9F\x98\x80/CS101");
    lms_query gq;
    EXPECT_OK(my_ops->query_get(fx->st, 21, &gq, &fx->err));
    assert_string_equal(gq.text, text);
    assert_string_equal(gq.model, longtitle);
    assert_true(gq.kind == LMS_QUERY_TUTOR && gq.escalated_from == 3 &&
                gq.shared == 1 && gq.latency_ms == 30);
    collect ql = {0};
    EXPECT_OK(my_ops->query_list(fx->st, "CS101", NULL, each_query, &ql,
                                 &fx->err));
    assert_string_equal(ql.out, "21");
    uint32_t nq = 0;
    EXPECT_OK(my_ops->query_count(fx->st, "CS101", "stud\xF0\x9F\x98\x80",
                                  LMS_QUERY_TUTOR, 1000, 1001, &nq,
                                  &fx->err));
    assert_int_equal(nq, 1);
    EXPECT_OK(my_ops->query_count(fx->st, "CS101", "stud\xF0\x9F\x98\x80",
                                  LMS_QUERY_TUTOR, 0, 1000, &nq, &fx->err));
    assert_int_equal(nq, 0);
    collect rl = {0};
    EXPECT_OK(my_ops->reply_list(fx->st, 21, each_reply, &rl, &fx->err));
    assert_string_equal(rl.out, "zero,first");
    lms_material gm;
    EXPECT_OK(my_ops->material_get(fx->st, 41, 1, &gm, &fx->err));
    assert_true(gm.size == 0 && gm.sha256[31] == 0xAB);
    collect ml = {0};
    EXPECT_OK(my_ops->material_list(fx->st, "CS101", each_material, &ml,
                                    &fx->err));
    assert_string_equal(ml.out, "slides");
    lms_session gse;
    EXPECT_OK(my_ops->session_get(fx->st, se.token_hash, &gse, &fx->err));
    assert_string_equal(gse.user, se.user);
    lms_client_record gcr;
    EXPECT_OK(my_ops->client_get(fx->st, UINT64_MAX, &gcr, &fx->err));
    assert_string_equal(gcr.message, cr.message);
    assert_int_equal(gcr.answer_len, sizeof answer);
    assert_memory_equal(gcr.answer, answer, sizeof answer);
    lms_course_settings gcs;
    EXPECT_OK(my_ops->course_settings_get(fx->st, "CS101", &gcs, &fx->err));
    assert_string_equal(gcs.system_prompt, text);
    assert_int_equal(gcs.tutor_daily_limit, 12);
    EXPECT_CODE(LMS_NOT_FOUND,
                my_ops->course_settings_get(fx->st, "X", &gcs, &fx->err));

    /* deletes and prunes */
    begin(fx);
    EXPECT_OK(my_ops->session_delete(fx->st, se.token_hash, &fx->err));
    EXPECT_OK(my_ops->session_delete(fx->st, se.token_hash, &fx->err));
    EXPECT_OK(my_ops->client_prune(fx->st, 78, &fx->err));
    EXPECT_OK(my_ops->session_prune(fx->st, 1000, &fx->err));
    commit(fx, 101);
    EXPECT_CODE(LMS_NOT_FOUND, my_ops->session_get(fx->st, se.token_hash,
                                                   &gse, &fx->err));
    EXPECT_CODE(LMS_NOT_FOUND,
                my_ops->client_get(fx->st, UINT64_MAX, &gcr, &fx->err));
    free(text);
}

/* A field filled to its end without a NUL is stored cut at its maximum,
 * before a partial UTF-8 character, never read past. */
static void test_unterminated_fields_are_cut(void **state)
{
    tfx *fx = *state;
    open_migrated(fx);
    lms_user u = user_of("cut");
    for (size_t i = 0; i + 1 < sizeof u.full_name; i += 2)
        memcpy(u.full_name + i, "\xC3\xA9", 2); /* 100 x é */
    u.full_name[sizeof u.full_name - 1] = (char)0xC3; /* half of one more */
    memset(u.name, 'n', sizeof u.name);               /* no NUL either */
    begin(fx);
    EXPECT_OK(my_ops->user_put(fx->st, &u, &fx->err));
    commit(fx, 1);
    char name[LMS_NAME_MAX + 1];
    memset(name, 'n', LMS_NAME_MAX);
    name[LMS_NAME_MAX] = '\0';
    lms_user got;
    EXPECT_OK(my_ops->user_get(fx->st, name, &got, &fx->err));
    assert_int_equal(strlen(got.full_name), LMS_TITLE_MAX);
    assert_memory_equal(got.full_name, u.full_name, LMS_TITLE_MAX);
}

static int each_nested(void *arg, const void *row)
{
    tfx *fx = arg;
    const lms_user *u = row;
    lms_user other;
    /* another op inside a list's callback works */
    EXPECT_OK(my_ops->user_get(fx->st, u->name, &other, &fx->err));
    /* the same list again is refused, not corrupted */
    collect c = {0};
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                my_ops->user_list(fx->st, each_user, &c, &fx->err));
    return 0;
}

/* ---- orders ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_orders_are_bytewise(void **state)
{
    tfx *fx = *state;
    open_migrated(fx);
    const char *names[] = {"b",  "a ", "a",  "A",        "ab", "\xC3\xA9",
                           "z",  "Z",  "a\t", "\xF0\x9F\x98\x80", "\xEF\xBC\xA1",
                           "a  "};
    size_t n = sizeof names / sizeof names[0];
    begin(fx);
    for (size_t i = 0; i < n; i++)
        put_user(fx, names[i]);
    /* sessions: by created, then token hash bytewise */
    static const uint8_t firsts[] = {0xFF, 0x00, 0x80, 0x7F};
    for (size_t i = 0; i < sizeof firsts; i++) {
        lms_session se = {.created = i == 3 ? 1 : 2, .expires = 9};
        memset(se.token_hash, 1, sizeof se.token_hash);
        se.token_hash[0] = firsts[i];
        snprintf(se.user, sizeof se.user, "a");
        EXPECT_OK(my_ops->session_put(fx->st, &se, &fx->err));
    }
    commit(fx, 1);
    qsort(names, n, sizeof names[0], cmp_str);
    collect want = {0}, got = {0};
    for (size_t i = 0; i < n; i++)
        collect_add(&want, names[i]);
    EXPECT_OK(my_ops->user_list(fx->st, each_user, &got, &fx->err));
    assert_string_equal(got.out, want.out);
    /* "a" and "a " are two users */
    lms_user u;
    EXPECT_OK(my_ops->user_get(fx->st, "a ", &u, &fx->err));
    assert_string_equal(u.name, "a ");
    EXPECT_CODE(LMS_NOT_FOUND, my_ops->user_get(fx->st, "a   ", &u,
                                                &fx->err));
    collect ss = {0};
    EXPECT_OK(my_ops->session_list_user(fx->st, "a", each_session, &ss,
                                        &fx->err));
    assert_string_equal(ss.out, "7f,00,80,ff");
    EXPECT_OK(my_ops->user_list(fx->st, each_nested, fx, &fx->err));
}

/* ---- readers ---- */

static void test_readers_see_committed_state(void **state)
{
    tfx *fx = *state;
    open_migrated(fx);
    void *rd = NULL;
    EXPECT_OK(my_ops->reader_open(fx->st, &rd, &fx->err));
    begin(fx);
    put_user(fx, "one");
    /* uncommitted: not seen */
    lms_user u;
    EXPECT_OK(my_ops->begin(rd, &fx->err));
    EXPECT_CODE(LMS_NOT_FOUND, my_ops->user_get(rd, "one", &u, &fx->err));
    EXPECT_OK(my_ops->rollback(rd, &fx->err));
    commit(fx, 1);
    EXPECT_OK(my_ops->begin(rd, &fx->err));
    EXPECT_OK(my_ops->user_get(rd, "one", &u, &fx->err));
    /* the writer commits more; the reader's view stays */
    begin(fx);
    put_user(fx, "two");
    commit(fx, 2);
    EXPECT_CODE(LMS_NOT_FOUND, my_ops->user_get(rd, "two", &u, &fx->err));
    uint64_t idx = 0;
    EXPECT_OK(my_ops->applied_index(rd, &idx, &fx->err));
    assert_int_equal(idx, 1);
    /* writes through a reader are refused */
    lms_user w = user_of("three");
    EXPECT_CODE(LMS_FAILED_PRECONDITION, my_ops->user_put(rd, &w, &fx->err));
    EXPECT_CODE(LMS_FAILED_PRECONDITION, my_ops->commit(rd, 3, &fx->err));
    EXPECT_OK(my_ops->rollback(rd, &fx->err));
    EXPECT_OK(my_ops->begin(rd, &fx->err));
    EXPECT_OK(my_ops->user_get(rd, "two", &u, &fx->err));
    EXPECT_OK(my_ops->rollback(rd, &fx->err));
    my_ops->reader_close(rd);
    my_ops->reader_close(NULL);
}

/* ---- snapshots across backends ---- */

typedef struct membuf {
    unsigned char *p;
    size_t len, cap, pos;
} membuf;

static int mem_write(void *arg, const void *buf, size_t len)
{
    membuf *m = arg;
    if (m->len + len > m->cap) {
        m->cap = (m->len + len) * 2;
        m->p = realloc(m->p, m->cap);
        assert_non_null(m->p);
    }
    memcpy(m->p + m->len, buf, len);
    m->len += len;
    return 0;
}

static int mem_read(void *arg, void *buf, size_t len)
{
    membuf *m = arg;
    if (len > m->len - m->pos)
        return -1;
    memcpy(buf, m->p + m->pos, len);
    m->pos += len;
    return 0;
}

/* Store a body in the host's file store, as lmsd's apply does. */
static void put_body(tfx *fx, const void *data, size_t size,
                     const uint8_t sha[LMS_SHA256_LEN])
{
    const struct lms_host *h = fake_host();
    void *f = NULL;
    lms_err err = {0};
    if (h->file_create(&fx->ctx, sha, size, &f, &err) != LMS_OK)
        fail_msg("file_create: %s", err.msg);
    if (size && h->file_write(f, data, size, &err) != LMS_OK)
        fail_msg("file_write: %s", err.msg);
    if (h->file_close(f, 1, &err) != LMS_OK)
        fail_msg("file_close: %s", err.msg);
}

#include <openssl/sha.h>

/* Rows of every table, through any storage plugin. */
static void fill(const struct lms_storage_ops *ops, tfx *fx, void *st)
{
    size_t big = (1u << 20) + 12345;
    unsigned char *body = malloc(big);
    assert_non_null(body);
    for (size_t i = 0; i < big; i++)
        body[i] = (unsigned char)(i * 7);
    uint8_t sha[LMS_SHA256_LEN], empty[LMS_SHA256_LEN];
    SHA256(body, big, sha);
    SHA256((const unsigned char *)"", 0, empty);
    put_body(fx, body, big, sha);
    put_body(fx, "", 0, empty);
    char *text = big_text(200000);
    EXPECT_OK(ops->begin(st, &fx->err));
    const char *people[] = {"alice", "Bob", "bob ", "\xC3\xA9ve", "ian"};
    for (size_t i = 0; i < 5; i++) {
        lms_user u = user_of(people[i]);
        u.password_hash = i == 0 ? text : "h";
        EXPECT_OK(ops->user_put(st, &u, &fx->err));
    }
    lms_course c = {.created = 1};
    snprintf(c.code, sizeof c.code, "CS101");
    snprintf(c.title, sizeof c.title, "Intro \xF0\x9F\x98\x80");
    EXPECT_OK(ops->course_put(st, &c, &fx->err));
    for (size_t i = 0; i < 5; i++) {
        lms_enrolment e = {.role = i == 4 ? 2 : 1};
        snprintf(e.course, sizeof e.course, "CS101");
        snprintf(e.user, sizeof e.user, "%s", people[i]);
        EXPECT_OK(ops->enrolment_put(st, &e, &fx->err));
    }
    lms_assignment a;
    memset(&a, 0, sizeof a);
    a.id = 3;
    snprintf(a.course, sizeof a.course, "CS101");
    snprintf(a.title, sizeof a.title, "HW");
    a.description = text;
    a.max_points = 1.0 / 3.0;
    a.max_size = 1u << 30;
    snprintf(a.created_by, sizeof a.created_by, "ian");
    EXPECT_OK(ops->assignment_put(st, &a, &fx->err));
    lms_extension x = {.assignment_id = 3, .until = 5};
    snprintf(x.student, sizeof x.student, "alice");
    EXPECT_OK(ops->extension_put(st, &x, &fx->err));
    for (int i = 0; i < 2; i++) {
        lms_submission s;
        memset(&s, 0, sizeof s);
        s.id = 10 + (uint64_t)i;
        s.assignment_id = 3;
        snprintf(s.student, sizeof s.student, "alice");
        snprintf(s.file_name, sizeof s.file_name, "f%d.bin", i);
        s.size = i ? 0 : big;
        memcpy(s.sha256, i ? empty : sha, LMS_SHA256_LEN);
        s.attempt = (uint32_t)i + 1;
        EXPECT_OK(ops->submission_put(st, &s, &fx->err));
    }
    lms_grade g = {.submission_id = 10, .grade = 2.5, .feedback = text};
    snprintf(g.grader, sizeof g.grader, "ian");
    EXPECT_OK(ops->grade_put(st, &g, &fx->err));
    lms_query q;
    memset(&q, 0, sizeof q);
    q.id = 20;
    snprintf(q.course, sizeof q.course, "CS101");
    snprintf(q.student, sizeof q.student, "alice");
    snprintf(q.title, sizeof q.title, "?");
    q.text = "why \xF0\x9F\xA4\x94";
    q.kind = 1;
    snprintf(q.provider, sizeof q.provider, "local");
    q.shared = 1;
    EXPECT_OK(ops->query_put(st, &q, &fx->err));
    lms_reply r = {.id = 21, .query_id = 20, .text = "because"};
    snprintf(r.author, sizeof r.author, "ian");
    EXPECT_OK(ops->reply_put(st, &r, &fx->err));
    lms_material m;
    memset(&m, 0, sizeof m);
    m.id = 30;
    snprintf(m.course, sizeof m.course, "CS101");
    snprintf(m.title, sizeof m.title, "notes");
    snprintf(m.file_name, sizeof m.file_name, "n.bin");
    m.size = big;
    memcpy(m.sha256, sha, LMS_SHA256_LEN);
    snprintf(m.uploaded_by, sizeof m.uploaded_by, "ian");
    EXPECT_OK(ops->material_put(st, &m, &fx->err));
    for (int i = 0; i < 3; i++) {
        lms_session se = {.created = 1, .expires = 2};
        memset(se.token_hash, 0x90 - i * 0x40, sizeof se.token_hash);
        snprintf(se.user, sizeof se.user, "alice");
        EXPECT_OK(ops->session_put(st, &se, &fx->err));
    }
    static const unsigned char answer[] = {9, 0, 8};
    /* Client ids are random 64-bit numbers: half of them are at or above
     * 2^63, where SQLite's signed integers and MariaDB's unsigned ones
     * order differently; the canonical order is unsigned (found by
     * cluster-verify on a mixed cluster). */
    static const uint64_t ids[] = {5, (1ull << 63) + 7, UINT64_MAX, 1ull << 62};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        lms_client_record cr = {.client_id = ids[i], .seq = 6 + i, .status = 0,
                                .answer = answer, .answer_len = 3};
        snprintf(cr.message, sizeof cr.message, "ok");
        EXPECT_OK(ops->client_put(st, &cr, &fx->err));
    }
    lms_course_settings cs = {.system_prompt = "be kind",
                              .tutor_daily_limit = 4};
    snprintf(cs.course, sizeof cs.course, "CS101");
    EXPECT_OK(ops->course_settings_put(st, &cs, &fx->err));
    /* records (ABI 1.4): keys SQLite's BLOB and MariaDB's VARBINARY must
     * order alike (0x01, ASCII, UTF-8, 0xff, the longest key of 0xff),
     * an empty value, binary values up to the largest */
    char longest[LMS_RECORD_KEY_MAX + 1];
    memset(longest, 0xff, LMS_RECORD_KEY_MAX);
    longest[LMS_RECORD_KEY_MAX] = '\0';
    const char *keys[] = {"\x01", "acct/alice", "acct/alice ", "acct/Bob",
                          "ann/CS101/00000000000000000042", "\xc3\xa9",
                          "\xff", "\xff\x01", longest, "a%_"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        size_t n = i == 4 ? LMS_RECORD_VALUE_MAX : i == 6 ? 0 : i + 1;
        EXPECT_OK(ops->record_put(st, keys[i], body, n, &fx->err));
    }
    EXPECT_OK(ops->commit(st, 77, &fx->err));
    free(text);
    free(body);
}

static const unsigned char raft_config[] = {1, 0, 2, 'x'};

/* record_list callback: each key in hex, its value's length, ";". */
static int hex_record(void *arg, const lms_record *r)
{
    collect *c = arg;
    size_t at = strlen(c->out);
    for (const unsigned char *p = (const unsigned char *)r->key;
         *p && at + 3 < sizeof c->out; p++)
        at += (size_t)snprintf(c->out + at, sizeof c->out - at, "%02x", *p);
    snprintf(c->out + at, sizeof c->out - at, ":%zu;", r->len);
    c->n++;
    return 0;
}

/* Both backends walk the same records in the same order for the same
 * record_list calls (prefixes with 0xff bytes, cursors, reverse). */
static void expect_same_record_lists(tfx *fx, void *my, void *sq)
{
    static const struct {
        const char *prefix, *after;
        int reverse;
    } calls[] = {
        {"", NULL, 0}, {"", NULL, 1}, {"\xff", NULL, 0}, {"\xff", NULL, 1},
        {"acct/", NULL, 0}, {"acct/alice", NULL, 0}, {"", "acct/alice", 0},
        {"", "acct/alice", 1}, {"\xff", "\xff\x01", 1}, {"a%", NULL, 0},
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        collect a, b;
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        EXPECT_OK(my_ops->record_list(my, calls[i].prefix, calls[i].after,
                                      calls[i].reverse, hex_record, &a,
                                      &fx->err));
        EXPECT_OK(sq_ops->record_list(sq, calls[i].prefix, calls[i].after,
                                      calls[i].reverse, hex_record, &b,
                                      &fx->err));
        if (strcmp(a.out, b.out) != 0 || a.n == 0)
            fail_msg("record_list call %zu: storage_mysql walked '%s', "
                     "storage_sqlite '%s'", i, a.out, b.out);
    }
}

static void snapshot_of(const struct lms_storage_ops *ops, tfx *fx, void *st,
                        membuf *m, uint8_t digest[LMS_SHA256_LEN])
{
    lms_snapshot_header h = {.index = 77, .term = 4, .config = raft_config,
                             .config_len = sizeof raft_config,
                             .created = 123};
    EXPECT_OK(ops->snapshot_write(st, &h, mem_write, m, digest, &fx->err));
}

static void test_snapshots_across_backends(void **state)
{
    tfx *fx = *state;
    open_migrated(fx);
    fill(my_ops, fx, fx->st);
    membuf mine = {0};
    uint8_t d_my[LMS_SHA256_LEN], d_sq[LMS_SHA256_LEN], d_back[LMS_SHA256_LEN];
    snapshot_of(my_ops, fx, fx->st, &mine, d_my);

    /* into storage_sqlite, in the same data dir (the same file store) */
    struct lms_plugin_ctx sq_ctx;
    memset(&sq_ctx, 0, sizeof sq_ctx);
    static const char *const sq_cfg[] = {"path", "lms.db", NULL};
    sq_ctx.config = sq_cfg;
    memcpy(sq_ctx.data_dir, fx->ctx.data_dir, sizeof sq_ctx.data_dir);
    void *sq = NULL;
    EXPECT_OK(sq_ops->open(fake_host(), &sq_ctx, &sq, &fx->err));
    EXPECT_OK(sq_ops->migrate(sq, NULL, &fx->err));
    lms_snapshot_header out;
    EXPECT_OK(sq_ops->snapshot_read(sq, mem_read, &mine, &out, &fx->err));
    assert_string_equal(out.backend, "storage_mysql");
    assert_int_equal(out.index, 77);
    membuf theirs = {0};
    snapshot_of(sq_ops, fx, sq, &theirs, d_sq);
    assert_memory_equal(d_my, d_sq, LMS_SHA256_LEN);
    expect_same_record_lists(fx, fx->st, sq);

    /* the same state filled through storage_sqlite directly */
    static const char *const sq_cfg2[] = {"path", "direct.db", NULL};
    struct lms_plugin_ctx sq_ctx2 = sq_ctx;
    sq_ctx2.config = sq_cfg2;
    void *sq2 = NULL;
    EXPECT_OK(sq_ops->open(fake_host(), &sq_ctx2, &sq2, &fx->err));
    EXPECT_OK(sq_ops->migrate(sq2, NULL, &fx->err));
    fill(sq_ops, fx, sq2);
    membuf direct = {0};
    uint8_t d_direct[LMS_SHA256_LEN];
    snapshot_of(sq_ops, fx, sq2, &direct, d_direct);
    assert_memory_equal(d_my, d_direct, LMS_SHA256_LEN);
    sq_ops->close(sq2);

    /* and back into a fresh MariaDB database, replacing what is there */
    tfx other;
    memset(&other, 0, sizeof other);
    snprintf(other.db, sizeof other.db, "%.60s_b", fx->db);
    memcpy(other.ctx.data_dir, fx->ctx.data_dir, sizeof other.ctx.data_dir);
    set_config(&other, 1, NULL);
    void *back = NULL;
    EXPECT_OK(my_ops->open(fake_host(), &other.ctx, &back, &fx->err));
    EXPECT_OK(my_ops->migrate(back, NULL, &fx->err));
    EXPECT_OK(my_ops->begin(back, &fx->err));
    lms_user stale = user_of("stale");
    EXPECT_OK(my_ops->user_put(back, &stale, &fx->err));
    EXPECT_OK(my_ops->commit(back, 3, &fx->err));
    EXPECT_OK(my_ops->snapshot_read(back, mem_read, &theirs, &out, &fx->err));
    assert_string_equal(out.backend, "storage_sqlite");
    assert_int_equal(out.config_len, sizeof raft_config);
    assert_memory_equal(out.config, raft_config, sizeof raft_config);
    uint64_t idx = 0;
    EXPECT_OK(my_ops->applied_index(back, &idx, &fx->err));
    assert_int_equal(idx, 77);
    lms_user u;
    EXPECT_CODE(LMS_NOT_FOUND, my_ops->user_get(back, "stale", &u, &fx->err));
    membuf again = {0};
    snapshot_of(my_ops, fx, back, &again, d_back);
    assert_memory_equal(d_my, d_back, LMS_SHA256_LEN);

    /* a damaged stream is refused and the store keeps its state */
    membuf damaged = {.p = mine.p, .len = mine.len - 10};
    EXPECT_CODE(LMS_DATA_LOSS,
                my_ops->snapshot_read(back, mem_read, &damaged, &out,
                                      &fx->err));
    EXPECT_OK(my_ops->applied_index(back, &idx, &fx->err));
    assert_int_equal(idx, 77);
    my_ops->close(back);
    admin_sql(fx, "DROP DATABASE IF EXISTS `%s`", other.db);

    /* preconditions */
    EXPECT_OK(my_ops->begin(fx->st, &fx->err));
    membuf none = {0};
    uint8_t d[LMS_SHA256_LEN];
    lms_snapshot_header h = {.index = 1};
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                my_ops->snapshot_write(fx->st, &h, mem_write, &none, d,
                                       &fx->err));
    EXPECT_OK(my_ops->rollback(fx->st, &fx->err));
    sq_ops->close(sq);
    free(mine.p);
    free(theirs.p);
    free(direct.p);
    free(again.p);
    free(none.p);
}

static int refuse_after(void *arg, const void *buf, size_t len)
{
    (void)buf;
    size_t *left = arg;
    if (len > *left)
        return -1;
    *left -= len;
    return 0;
}

/* A writer that refuses halfway through a table: LMS_ABORTED, and the
 * connection (which was streaming rows) serves the next calls. */
static void test_snapshot_aborted_by_its_writer(void **state)
{
    tfx *fx = *state;
    open_migrated(fx);
    fill(my_ops, fx, fx->st);
    size_t lefts[] = {100, 5000, 300000};
    for (size_t i = 0; i < 3; i++) {
        uint8_t d[LMS_SHA256_LEN];
        lms_snapshot_header h = {.index = 77};
        EXPECT_CODE(LMS_ABORTED,
                    my_ops->snapshot_write(fx->st, &h, refuse_after,
                                           &lefts[i], d, &fx->err));
        collect c = {0};
        EXPECT_OK(my_ops->user_list(fx->st, each_user, &c, &fx->err));
        EXPECT_CONTAINS(c.out, "Bob,alice,bob ,ian,");
        begin(fx);
        put_user(fx, "zed");
        commit(fx, 78 + i);
    }
}

static void test_pinned_view_keeps_its_state(void **state)
{
    tfx *fx = *state;
    open_migrated(fx);
    fill(my_ops, fx, fx->st);
    membuf before = {0};
    uint8_t d1[LMS_SHA256_LEN], d2[LMS_SHA256_LEN];
    snapshot_of(my_ops, fx, fx->st, &before, d1);
    void *view = NULL;
    EXPECT_OK(my_ops->snapshot_pin(fx->st, &view, &fx->err));
    begin(fx);
    put_user(fx, "later");
    commit(fx, 78);
    membuf pinned = {0};
    lms_snapshot_header h = {.index = 77, .term = 4, .config = raft_config,
                             .config_len = sizeof raft_config};
    EXPECT_OK(my_ops->snapshot_write_view(view, &h, mem_write, &pinned, d2,
                                          &fx->err));
    my_ops->snapshot_unpin(view);
    assert_memory_equal(d1, d2, LMS_SHA256_LEN);
    free(before.p);
    free(pinned.p);
}

/* ---- lost connections ---- */

static void test_lost_connections(void **state)
{
    tfx *fx = *state;
    open_migrated(fx);
    begin(fx);
    put_user(fx, "before");
    commit(fx, 1);
    void *rd = NULL;
    EXPECT_OK(my_ops->reader_open(fx->st, &rd, &fx->err));

    /* outside a transaction: reconnected transparently */
    assert_true(kill_plugin_connections(fx) >= 2);
    lms_user u;
    EXPECT_OK(my_ops->user_get(fx->st, "before", &u, &fx->err));
    EXPECT_OK(my_ops->begin(rd, &fx->err)); /* a reader, at begin */
    EXPECT_OK(my_ops->user_get(rd, "before", &u, &fx->err));
    /* inside a read transaction: UNAVAILABLE, then begin again */
    kill_plugin_connections(fx);
    EXPECT_CODE(LMS_UNAVAILABLE, my_ops->user_get(rd, "before", &u,
                                                  &fx->err));
    EXPECT_OK(my_ops->rollback(rd, &fx->err));
    EXPECT_OK(my_ops->begin(rd, &fx->err));
    EXPECT_OK(my_ops->user_get(rd, "before", &u, &fx->err));
    EXPECT_OK(my_ops->rollback(rd, &fx->err));

    /* at begin */
    kill_plugin_connections(fx);
    begin(fx);
    put_user(fx, "lost");
    /* inside a write transaction: UNAVAILABLE, nothing stored */
    kill_plugin_connections(fx);
    lms_user w = user_of("lost2");
    EXPECT_CODE(LMS_UNAVAILABLE, my_ops->user_put(fx->st, &w, &fx->err));
    EXPECT_CONTAINS(fx->err.msg, "lost during a transaction");
    EXPECT_CONTAINS(fx->err.msg, "retried");
    EXPECT_OK(my_ops->rollback(fx->st, &fx->err));
    assert_int_equal(applied(fx), 1);
    EXPECT_CODE(LMS_NOT_FOUND, my_ops->user_get(fx->st, "lost", &u,
                                                &fx->err));
    /* lost between the writes and commit: commit fails, nothing stored */
    begin(fx);
    put_user(fx, "lost3");
    kill_plugin_connections(fx);
    EXPECT_CODE(LMS_UNAVAILABLE, my_ops->commit(fx->st, 2, &fx->err));
    EXPECT_OK(my_ops->rollback(fx->st, &fx->err));
    assert_int_equal(applied(fx), 1);
    /* and the next batch works */
    begin(fx);
    put_user(fx, "after");
    commit(fx, 2);
    assert_int_equal(applied(fx), 2);
    EXPECT_OK(my_ops->user_get(fx->st, "after", &u, &fx->err));
    EXPECT_CODE(LMS_NOT_FOUND, my_ops->user_get(fx->st, "lost3", &u,
                                                &fx->err));
    my_ops->reader_close(rd);
}

typedef struct commit_arg {
    tfx *fx;
    int rc;
    lms_err err;
} commit_arg;

static void *commit_thread(void *p)
{
    commit_arg *a = p;
    a->rc = my_ops->commit(a->fx->st, 9, &a->err);
    return NULL;
}

/* The connection is lost while COMMIT itself waits (BACKUP STAGE
 * BLOCK_COMMIT holds every commit): the plugin reconnects, reads the
 * applied index back, finds that the batch did not commit, and says so
 * with LMS_UNAVAILABLE (never OK). */
static void test_lost_during_commit(void **state)
{
    tfx *fx = *state;
    open_migrated(fx);
    begin(fx);
    put_user(fx, "one");
    commit(fx, 1);
    begin(fx);
    put_user(fx, "two");
    admin_sql(fx, "BACKUP STAGE START");
    admin_sql(fx, "BACKUP STAGE BLOCK_COMMIT");
    commit_arg a = {.fx = fx};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, commit_thread, &a), 0);
    usleep(500 * 1000); /* the commit is waiting now */
    int killed = kill_plugin_connections(fx);
    pthread_join(t, NULL);
    admin_sql(fx, "BACKUP STAGE END");
    assert_int_equal(killed, 1);
    if (a.rc != LMS_UNAVAILABLE)
        fail_msg("commit returned %d: '%s'", a.rc, a.err.msg);
    EXPECT_CONTAINS(a.err.msg, "COMMIT");
    EXPECT_CONTAINS(a.err.msg, "did not commit");
    EXPECT_OK(my_ops->rollback(fx->st, &fx->err));
    assert_int_equal(applied(fx), 1);
    lms_user u;
    EXPECT_CODE(LMS_NOT_FOUND, my_ops->user_get(fx->st, "two", &u, &fx->err));
    begin(fx);
    put_user(fx, "three");
    commit(fx, 2);
    assert_int_equal(applied(fx), 2);
}

/* The client gives up on a COMMIT the server still holds (read_timeout:
 * a slow server, a cut network): the server may yet commit it on the old
 * connection. The plugin must end that connection (KILL, then wait until
 * it is gone) before it reads the applied index back, or the old COMMIT
 * could land after the plugin said "did not commit" and lmsd applied the
 * batch again. Here the old COMMIT is released after the answer: it must
 * not land. */
static void test_a_commit_the_client_gave_up_on_is_fenced_off(void **state)
{
    tfx *fx = *state;
    static const char *const extra[] = {"read_timeout", "1", NULL};
    set_config(fx, 1, extra);
    open_migrated(fx);
    begin(fx);
    put_user(fx, "one");
    commit(fx, 1);
    begin(fx);
    put_user(fx, "two");
    admin_sql(fx, "BACKUP STAGE START");
    admin_sql(fx, "BACKUP STAGE BLOCK_COMMIT");
    commit_arg a = {.fx = fx};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, commit_thread, &a), 0);
    pthread_join(t, NULL); /* the client's read timeout ends it */
    admin_sql(fx, "BACKUP STAGE END");
    if (a.rc != LMS_UNAVAILABLE)
        fail_msg("commit returned %d: '%s'", a.rc, a.err.msg);
    EXPECT_CONTAINS(a.err.msg, "did not commit");
    usleep(300 * 1000); /* time for a COMMIT that survived to land */
    EXPECT_OK(my_ops->rollback(fx->st, &fx->err));
    assert_int_equal(applied(fx), 1);
    lms_user u;
    EXPECT_CODE(LMS_NOT_FOUND, my_ops->user_get(fx->st, "two", &u, &fx->err));
    begin(fx);
    put_user(fx, "three");
    commit(fx, 2);
    assert_int_equal(applied(fx), 2);
}

/* Run scripts/mariadb-test cmd on the test's server (its dir holds the
 * socket). */
static void server_script(const char *cmd)
{
    char dir[PATH_MAX], line[2 * PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s", env_socket);
    char *slash = strrchr(dir, '/');
    assert_non_null(slash);
    *slash = '\0';
    snprintf(line, sizeof line, "'%s/scripts/mariadb-test' %s '%s'",
             LMS_SOURCE_DIR, cmd, dir);
    if (system(line) != 0)
        fail_msg("%s failed", line);
}

/* The server dies while COMMIT waits: the outcome cannot be known, and
 * commit() says so (UNAVAILABLE, "outcome unknown"), never OK. After the
 * restart the applied index tells (here: not committed). */
static void test_server_killed_during_commit(void **state)
{
    tfx *fx = *state;
    open_migrated(fx);
    begin(fx);
    put_user(fx, "one");
    commit(fx, 1);
    begin(fx);
    put_user(fx, "two");
    admin_sql(fx, "BACKUP STAGE START");
    admin_sql(fx, "BACKUP STAGE BLOCK_COMMIT");
    commit_arg a = {.fx = fx};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, commit_thread, &a), 0);
    usleep(500 * 1000);
    server_script("kill");
    pthread_join(t, NULL);
    mysql_close(fx->admin);
    fx->admin = NULL;
    server_script("start");
    fx->admin = admin_connect();
    if (a.rc != LMS_UNAVAILABLE)
        fail_msg("commit returned %d: '%s'", a.rc, a.err.msg);
    EXPECT_CONTAINS(a.err.msg, "outcome unknown");
    EXPECT_OK(my_ops->rollback(fx->st, &fx->err));
    assert_int_equal(applied(fx), 1);
    begin(fx);
    put_user(fx, "three");
    commit(fx, 2);
    assert_int_equal(applied(fx), 2);
}

/* One value of the admin connection. */
static unsigned long long admin_u64(tfx *fx, const char *sql)
{
    if (mysql_query(fx->admin, sql))
        fail_msg("admin: %s: %s", sql, mysql_error(fx->admin));
    MYSQL_RES *r = mysql_store_result(fx->admin);
    assert_non_null(r);
    MYSQL_ROW row = mysql_fetch_row(r);
    assert_non_null(row);
    unsigned long long v = strtoull(row[0], NULL, 10);
    mysql_free_result(r);
    return v;
}

static void test_small_max_allowed_packet_is_refused(void **state)
{
    tfx *fx = *state;
    unsigned long long was = admin_u64(fx, "SELECT @@global.max_allowed_packet");
    admin_sql(fx, "SET GLOBAL max_allowed_packet = 16777216");
    int rc = open_store(fx);
    admin_sql(fx, "SET GLOBAL max_allowed_packet = %llu", was);
    if (rc != LMS_FAILED_PRECONDITION)
        fail_msg("open returned %d with a 16 MiB max_allowed_packet: '%s'",
                 rc, fx->err.msg);
    EXPECT_CONTAINS(fx->err.msg, "max_allowed_packet = 16777216");
    EXPECT_CONTAINS(fx->err.msg, "128M");
    EXPECT_OK(open_store(fx));
}

/* scripts/mariadb-test restart: the plugin reconnects by itself. */
static void test_server_restart(void **state)
{
    tfx *fx = *state;
    open_migrated(fx);
    begin(fx);
    put_user(fx, "before");
    commit(fx, 4);
    server_script("restart");
    mysql_close(fx->admin);
    fx->admin = admin_connect();
    lms_user u;
    EXPECT_OK(my_ops->user_get(fx->st, "before", &u, &fx->err));
    assert_int_equal(applied(fx), 4);
    begin(fx);
    put_user(fx, "after");
    commit(fx, 5);
    EXPECT_OK(my_ops->user_get(fx->st, "after", &u, &fx->err));
}

/* ---- the writer's row cache ---- */

/* Users stu and ian, course C1 (ian teaches it), assignment 1 and
 * stu's submission 10, committed at index 1. */
static void seed_work(tfx *fx)
{
    begin(fx);
    put_user(fx, "stu");
    put_user(fx, "ian");
    lms_course c = {.created = 1};
    snprintf(c.code, sizeof c.code, "C1");
    snprintf(c.title, sizeof c.title, "Course one");
    EXPECT_OK(my_ops->course_put(fx->st, &c, &fx->err));
    lms_enrolment e = {.role = LMS_ROLE_INSTRUCTOR};
    snprintf(e.course, sizeof e.course, "C1");
    snprintf(e.user, sizeof e.user, "ian");
    EXPECT_OK(my_ops->enrolment_put(fx->st, &e, &fx->err));
    lms_assignment a;
    memset(&a, 0, sizeof a);
    a.id = 1;
    snprintf(a.course, sizeof a.course, "C1");
    snprintf(a.title, sizeof a.title, "A1");
    a.description = "first";
    a.max_points = 10;
    snprintf(a.created_by, sizeof a.created_by, "ian");
    EXPECT_OK(my_ops->assignment_put(fx->st, &a, &fx->err));
    lms_submission x;
    memset(&x, 0, sizeof x);
    x.id = 10;
    x.assignment_id = 1;
    snprintf(x.student, sizeof x.student, "stu");
    snprintf(x.file_name, sizeof x.file_name, "a.txt");
    x.attempt = 1;
    SHA256((const unsigned char *)"", 0, x.sha256);
    put_body(fx, "", 0, x.sha256);
    EXPECT_OK(my_ops->submission_put(fx->st, &x, &fx->err));
    commit(fx, 1);
}

/* A client record of id at seq (result_id seq * 100, updated seq). */
static lms_client_record client_of(uint64_t id, uint64_t seq, const char *msg)
{
    lms_client_record r;
    memset(&r, 0, sizeof r);
    r.client_id = id;
    r.seq = seq;
    r.result_id = seq * 100;
    r.updated = (int64_t)seq;
    snprintf(r.message, sizeof r.message, "%s", msg);
    return r;
}

/* The client record of id: its seq, 0 when there is none. */
static uint64_t client_seq(tfx *fx, uint64_t id)
{
    lms_client_record r;
    int rc = my_ops->client_get(fx->st, id, &r, &fx->err);
    if (rc == LMS_NOT_FOUND)
        return 0;
    EXPECT_OK(rc);
    return r.seq;
}

/* What a rolled-back transaction put, read back (so cached) inside it,
 * is gone after rollback(): the old row, or NOT_FOUND. */
static void test_row_cache_forgets_a_rollback(void **state)
{
    tfx *fx = *state;
    open_migrated(fx);
    seed_work(fx);
    lms_user u;
    lms_grade g;
    lms_submission x;
    int role = -1;
    /* everything read once: cached as committed */
    EXPECT_OK(my_ops->user_get(fx->st, "stu", &u, &fx->err));
    EXPECT_CODE(LMS_NOT_FOUND, my_ops->user_get(fx->st, "nobody", &u,
                                                &fx->err));
    EXPECT_OK(my_ops->enrolment_get(fx->st, "C1", "stu", &role, &fx->err));
    assert_int_equal(role, LMS_ROLE_NONE);
    EXPECT_OK(my_ops->submission_get(fx->st, 10, 0, &x, &fx->err));
    assert_int_equal(x.graded, 0);
    EXPECT_CODE(LMS_NOT_FOUND, my_ops->grade_get(fx->st, 10, &g, &fx->err));
    assert_int_equal(client_seq(fx, 7), 0);

    begin(fx);
    lms_user nu = user_of("stu");
    snprintf(nu.full_name, sizeof nu.full_name, "Renamed");
    nu.password_hash = "new-hash";
    EXPECT_OK(my_ops->user_put(fx->st, &nu, &fx->err));
    put_user(fx, "nobody");
    lms_enrolment e = {.role = LMS_ROLE_STUDENT};
    snprintf(e.course, sizeof e.course, "C1");
    snprintf(e.user, sizeof e.user, "stu");
    EXPECT_OK(my_ops->enrolment_put(fx->st, &e, &fx->err));
    lms_grade ng = {.submission_id = 10, .grade = 7.5, .feedback = "good",
                    .graded = 5};
    snprintf(ng.grader, sizeof ng.grader, "ian");
    EXPECT_OK(my_ops->grade_put(fx->st, &ng, &fx->err));
    lms_client_record r = client_of(7, 3, "ok");
    EXPECT_OK(my_ops->client_put(fx->st, &r, &fx->err));
    /* the transaction sees its own writes (from the cache or not) */
    EXPECT_OK(my_ops->user_get(fx->st, "stu", &u, &fx->err));
    assert_string_equal(u.full_name, "Renamed");
    assert_string_equal(u.password_hash, "new-hash");
    EXPECT_OK(my_ops->user_get(fx->st, "nobody", &u, &fx->err));
    EXPECT_OK(my_ops->enrolment_get(fx->st, "C1", "stu", &role, &fx->err));
    assert_int_equal(role, LMS_ROLE_STUDENT);
    EXPECT_OK(my_ops->submission_get(fx->st, 10, 0, &x, &fx->err));
    assert_int_equal(x.graded, 1);
    EXPECT_OK(my_ops->grade_get(fx->st, 10, &g, &fx->err));
    assert_true(g.grade == 7.5);
    assert_string_equal(g.feedback, "good");
    assert_string_equal(g.grader, "ian");
    assert_int_equal(g.graded, 5);
    assert_int_equal(client_seq(fx, 7), 3);
    EXPECT_OK(my_ops->rollback(fx->st, &fx->err));

    /* and after rollback, the committed rows again */
    EXPECT_OK(my_ops->user_get(fx->st, "stu", &u, &fx->err));
    assert_string_equal(u.full_name, "Full stu");
    assert_string_equal(u.password_hash, "$argon2id$v=19$hash");
    EXPECT_CODE(LMS_NOT_FOUND, my_ops->user_get(fx->st, "nobody", &u,
                                                &fx->err));
    EXPECT_OK(my_ops->enrolment_get(fx->st, "C1", "stu", &role, &fx->err));
    assert_int_equal(role, LMS_ROLE_NONE);
    EXPECT_OK(my_ops->submission_get(fx->st, 10, 0, &x, &fx->err));
    assert_int_equal(x.graded, 0);
    EXPECT_CODE(LMS_NOT_FOUND, my_ops->grade_get(fx->st, 10, &g, &fx->err));
    assert_int_equal(client_seq(fx, 7), 0);

    /* committed writes stay, as stored (the message cut like the field) */
    begin(fx);
    r = client_of(7, 4, "");
    memset(r.message, 'm', sizeof r.message); /* no NUL: cut to 255 */
    static const unsigned char answer[] = {1, 0, 2};
    r.answer = answer;
    r.answer_len = sizeof answer;
    EXPECT_OK(my_ops->client_put(fx->st, &r, &fx->err));
    EXPECT_OK(my_ops->grade_put(fx->st, &ng, &fx->err));
    commit(fx, 2);
    lms_client_record got;
    EXPECT_OK(my_ops->client_get(fx->st, 7, &got, &fx->err));
    assert_int_equal(got.seq, 4);
    assert_int_equal(strlen(got.message), sizeof got.message - 1);
    assert_int_equal(got.answer_len, sizeof answer);
    assert_memory_equal(got.answer, answer, sizeof answer);
    EXPECT_OK(my_ops->submission_get(fx->st, 10, 0, &x, &fx->err));
    assert_int_equal(x.graded, 1);
    /* a failed write drops what the cache knows: a put of a grade whose
     * submission does not exist fails and rolls back */
    begin(fx);
    r = client_of(7, 5, "ok");
    EXPECT_OK(my_ops->client_put(fx->st, &r, &fx->err));
    lms_grade bad = ng;
    bad.submission_id = 999;
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                my_ops->grade_put(fx->st, &bad, &fx->err));
    EXPECT_OK(my_ops->rollback(fx->st, &fx->err));
    assert_int_equal(client_seq(fx, 7), 4);
    /* the same through a store without a cache */
    const char *const off[] = {"row_cache", "0", NULL};
    set_config(fx, 1, off);
    EXPECT_OK(open_store(fx));
    assert_int_equal(client_seq(fx, 7), 4);
    EXPECT_OK(my_ops->grade_get(fx->st, 10, &g, &fx->err));
    assert_string_equal(g.feedback, "good");
}

/* snapshot_read replaces the state: no row read before it is served
 * after it. */
static void test_row_cache_and_snapshot_read(void **state)
{
    tfx *fx = *state;
    open_migrated(fx);
    seed_work(fx);
    begin(fx);
    lms_client_record r = client_of(7, 1, "one");
    EXPECT_OK(my_ops->client_put(fx->st, &r, &fx->err));
    commit(fx, 2);
    membuf snap = {0};
    uint8_t d[LMS_SHA256_LEN];
    snapshot_of(my_ops, fx, fx->st, &snap, d);

    begin(fx);
    lms_user nu = user_of("stu");
    snprintf(nu.full_name, sizeof nu.full_name, "Later");
    EXPECT_OK(my_ops->user_put(fx->st, &nu, &fx->err));
    put_user(fx, "zed");
    r = client_of(7, 2, "two");
    EXPECT_OK(my_ops->client_put(fx->st, &r, &fx->err));
    lms_grade ng = {.submission_id = 10, .grade = 1, .feedback = "f"};
    snprintf(ng.grader, sizeof ng.grader, "ian");
    EXPECT_OK(my_ops->grade_put(fx->st, &ng, &fx->err));
    commit(fx, 3);
    lms_user u;
    lms_submission x;
    lms_grade g;
    EXPECT_OK(my_ops->user_get(fx->st, "stu", &u, &fx->err));
    assert_string_equal(u.full_name, "Later");
    EXPECT_OK(my_ops->user_get(fx->st, "zed", &u, &fx->err));
    EXPECT_OK(my_ops->submission_get(fx->st, 10, 0, &x, &fx->err));
    assert_int_equal(x.graded, 1);
    EXPECT_OK(my_ops->grade_get(fx->st, 10, &g, &fx->err));
    assert_int_equal(client_seq(fx, 7), 2);

    lms_snapshot_header out;
    EXPECT_OK(my_ops->snapshot_read(fx->st, mem_read, &snap, &out,
                                    &fx->err));
    EXPECT_OK(my_ops->user_get(fx->st, "stu", &u, &fx->err));
    assert_string_equal(u.full_name, "Full stu");
    EXPECT_CODE(LMS_NOT_FOUND, my_ops->user_get(fx->st, "zed", &u,
                                                &fx->err));
    EXPECT_OK(my_ops->submission_get(fx->st, 10, 0, &x, &fx->err));
    assert_int_equal(x.graded, 0);
    EXPECT_CODE(LMS_NOT_FOUND, my_ops->grade_get(fx->st, 10, &g, &fx->err));
    assert_int_equal(client_seq(fx, 7), 1);
    free(snap.p);
}

/* A connection lost inside a write transaction: the transaction is gone
 * on the server, and so are its rows in the cache, whether or not the
 * caller rolls back; rows committed before are still served. */
static void test_row_cache_and_lost_connections(void **state)
{
    tfx *fx = *state;
    open_migrated(fx);
    seed_work(fx);
    begin(fx);
    lms_client_record r = client_of(7, 1, "one");
    EXPECT_OK(my_ops->client_put(fx->st, &r, &fx->err));
    commit(fx, 2);
    assert_int_equal(client_seq(fx, 7), 1);

    /* lost before COMMIT, then rolled back */
    begin(fx);
    r = client_of(7, 2, "two");
    EXPECT_OK(my_ops->client_put(fx->st, &r, &fx->err));
    put_user(fx, "lost");
    lms_user u;
    EXPECT_OK(my_ops->user_get(fx->st, "lost", &u, &fx->err));
    assert_true(kill_plugin_connections(fx) >= 1);
    EXPECT_CODE(LMS_UNAVAILABLE, my_ops->commit(fx->st, 3, &fx->err));
    EXPECT_OK(my_ops->rollback(fx->st, &fx->err));
    assert_int_equal(client_seq(fx, 7), 1);
    EXPECT_CODE(LMS_NOT_FOUND, my_ops->user_get(fx->st, "lost", &u,
                                                &fx->err));
    assert_int_equal(applied(fx), 2);

    /* lost before COMMIT, no rollback yet: a read is UNAVAILABLE (the
     * transaction is gone), never the lost transaction's row */
    begin(fx);
    r = client_of(7, 3, "three");
    EXPECT_OK(my_ops->client_put(fx->st, &r, &fx->err));
    assert_int_equal(client_seq(fx, 7), 3);
    kill_plugin_connections(fx);
    EXPECT_CODE(LMS_UNAVAILABLE, my_ops->commit(fx->st, 3, &fx->err));
    lms_client_record old;
    EXPECT_CODE(LMS_UNAVAILABLE, my_ops->client_get(fx->st, 7, &old,
                                                    &fx->err));
    EXPECT_OK(my_ops->rollback(fx->st, &fx->err));
    assert_int_equal(client_seq(fx, 7), 1);

    /* lost between a write and the next statement: that statement fails,
     * and nothing of the transaction is served afterwards */
    begin(fx);
    r = client_of(7, 4, "four");
    EXPECT_OK(my_ops->client_put(fx->st, &r, &fx->err));
    kill_plugin_connections(fx);
    lms_grade g = {.submission_id = 10, .grade = 1, .feedback = "f"};
    snprintf(g.grader, sizeof g.grader, "ian");
    EXPECT_CODE(LMS_UNAVAILABLE, my_ops->grade_put(fx->st, &g, &fx->err));
    EXPECT_CODE(LMS_UNAVAILABLE, my_ops->client_get(fx->st, 7, &old,
                                                    &fx->err));
    EXPECT_OK(my_ops->rollback(fx->st, &fx->err));
    assert_int_equal(client_seq(fx, 7), 1);
    lms_grade got;
    EXPECT_CODE(LMS_NOT_FOUND, my_ops->grade_get(fx->st, 10, &got,
                                                 &fx->err));
    /* and the next batch works, its rows served once committed */
    begin(fx);
    r = client_of(7, 5, "five");
    EXPECT_OK(my_ops->client_put(fx->st, &r, &fx->err));
    commit(fx, 3);
    assert_int_equal(client_seq(fx, 7), 5);
    assert_int_equal(applied(fx), 3);
}

/* Client records of one transaction go out together before COMMIT (one
 * bulk statement): every record as put, the last put of an id winning,
 * answers empty or not; a rolled-back or lost transaction stores none of
 * them; a client_get that asks the server sees the pending ones. */
static void test_client_records_sent_at_commit(void **state)
{
    tfx *fx = *state;
    open_migrated(fx);
    static const unsigned char answer[] = {0, 1, 2, 3, 4};
    begin(fx);
    for (uint64_t i = 1; i <= 40; i++) {
        lms_client_record r = client_of(1000 + i, i, "ok \xC3\xA9");
        if (i % 2) {
            r.answer = answer;
            r.answer_len = i % 5;
        }
        EXPECT_OK(my_ops->client_put(fx->st, &r, &fx->err));
    }
    lms_client_record again = client_of(1001, 99, "again");
    EXPECT_OK(my_ops->client_put(fx->st, &again, &fx->err));
    commit(fx, 1);
    /* read back from the database itself */
    const char *const off[] = {"row_cache", "0", NULL};
    set_config(fx, 1, off);
    EXPECT_OK(open_store(fx));
    for (uint64_t i = 1; i <= 40; i++) {
        lms_client_record got;
        EXPECT_OK(my_ops->client_get(fx->st, 1000 + i, &got, &fx->err));
        assert_int_equal(got.seq, i == 1 ? 99 : i);
        assert_string_equal(got.message, i == 1 ? "again" : "ok \xC3\xA9");
        assert_int_equal(got.result_id, i == 1 ? 9900 : i * 100);
        size_t an = i == 1 || i % 2 == 0 ? 0 : i % 5;
        assert_int_equal(got.answer_len, an);
        if (an)
            assert_memory_equal(got.answer, answer, an);
        else
            assert_null(got.answer);
    }
    /* with the cache again */
    set_config(fx, 1, NULL);
    EXPECT_OK(open_store(fx));
    /* pending records, then a get the cache cannot answer: it sees them;
     * then rollback: none stored */
    begin(fx);
    lms_client_record r = client_of(1002, 50, "pending");
    EXPECT_OK(my_ops->client_put(fx->st, &r, &fx->err));
    r = client_of(5000, 1, "new");
    EXPECT_OK(my_ops->client_put(fx->st, &r, &fx->err));
    lms_course c = {.created = 1}; /* a failed write drops the cache */
    snprintf(c.code, sizeof c.code, "X");
    snprintf(c.title, sizeof c.title, "%s", "\xFF");
    EXPECT_CODE(LMS_INVALID_ARGUMENT,
                my_ops->course_put(fx->st, &c, &fx->err));
    assert_int_equal(client_seq(fx, 1002), 50);
    assert_int_equal(client_seq(fx, 5000), 1);
    EXPECT_OK(my_ops->rollback(fx->st, &fx->err));
    assert_int_equal(client_seq(fx, 1002), 2);
    assert_int_equal(client_seq(fx, 5000), 0);
    /* pending records on a connection that is then lost: commit fails,
     * none stored */
    begin(fx);
    for (uint64_t i = 0; i < 3; i++) {
        r = client_of(6000 + i, 1, "lost");
        EXPECT_OK(my_ops->client_put(fx->st, &r, &fx->err));
    }
    kill_plugin_connections(fx);
    EXPECT_CODE(LMS_UNAVAILABLE, my_ops->commit(fx->st, 2, &fx->err));
    EXPECT_OK(my_ops->rollback(fx->st, &fx->err));
    assert_int_equal(applied(fx), 1);
    assert_int_equal(client_seq(fx, 6000), 0);
    assert_int_equal(client_seq(fx, 6002), 0);
}

/* grade_list callback: add each grade to the double at arg. */
static int count_grades(void *arg, const void *row)
{
    const lms_grade_view *v = row;
    double *sum = arg;
    *sum += v->grade->grade;
    return 0;
}

/* Grades of a known submission wait for the commit too: the last put
 * wins, reads of grades see them first, rollback or a killed connection
 * stores none. */
static void test_grades_sent_at_commit(void **state)
{
    tfx *fx = *state;
    open_migrated(fx);
    seed_work(fx);
    lms_submission x;
    EXPECT_OK(my_ops->submission_get(fx->st, 10, 0, &x, &fx->err));
    begin(fx);
    for (int i = 1; i <= 3; i++) {
        lms_grade g = {.submission_id = 10, .grade = i, .graded = i};
        g.feedback = i == 3 ? "tr\xC3\xA8s bien" : "meh";
        snprintf(g.grader, sizeof g.grader, "ian");
        EXPECT_OK(my_ops->grade_put(fx->st, &g, &fx->err));
    }
    double sum = 0;
    EXPECT_OK(my_ops->grade_list(fx->st, NULL, NULL, count_grades, &sum,
                                 &fx->err));
    assert_true(sum == 3);
    lms_grade g4 = {.submission_id = 10, .grade = 4, .feedback = "four"};
    snprintf(g4.grader, sizeof g4.grader, "ian");
    EXPECT_OK(my_ops->grade_put(fx->st, &g4, &fx->err));
    commit(fx, 2);
    const char *const off[] = {"row_cache", "0", NULL};
    set_config(fx, 1, off);
    EXPECT_OK(open_store(fx));
    lms_grade got;
    EXPECT_OK(my_ops->grade_get(fx->st, 10, &got, &fx->err));
    assert_true(got.grade == 4);
    assert_string_equal(got.feedback, "four");
    assert_string_equal(got.grader, "ian");
    EXPECT_OK(my_ops->submission_get(fx->st, 10, 0, &x, &fx->err));
    assert_int_equal(x.graded, 1);
    /* with the cache: rolled back, and lost */
    set_config(fx, 1, NULL);
    EXPECT_OK(open_store(fx));
    EXPECT_OK(my_ops->submission_get(fx->st, 10, 0, &x, &fx->err));
    begin(fx);
    lms_grade g5 = {.submission_id = 10, .grade = 5, .feedback = "five"};
    EXPECT_OK(my_ops->grade_put(fx->st, &g5, &fx->err));
    EXPECT_OK(my_ops->rollback(fx->st, &fx->err));
    EXPECT_OK(my_ops->grade_get(fx->st, 10, &got, &fx->err));
    assert_true(got.grade == 4);
    begin(fx);
    EXPECT_OK(my_ops->grade_put(fx->st, &g5, &fx->err));
    kill_plugin_connections(fx);
    EXPECT_CODE(LMS_UNAVAILABLE, my_ops->commit(fx->st, 3, &fx->err));
    EXPECT_OK(my_ops->rollback(fx->st, &fx->err));
    EXPECT_OK(my_ops->grade_get(fx->st, 10, &got, &fx->err));
    assert_true(got.grade == 4);
    assert_int_equal(applied(fx), 2);
}

/* The value of record key as a string into out (cap bytes): its length,
 * or -1 when there is none. */
static long record_str(tfx *fx, const char *key, char *out, size_t cap)
{
    lms_record r;
    lms_err_clear(&fx->err);
    int rc = my_ops->record_get(fx->st, key, &r, &fx->err);
    if (rc == LMS_NOT_FOUND)
        return -1;
    if (rc != LMS_OK)
        fail_msg("record_get %s: %d %s", key, rc, fx->err.msg);
    snprintf(out, cap, "%.*s", (int)(r.len < cap ? r.len : cap - 1),
             (const char *)r.value);
    return (long)r.len;
}

static void expect_record(tfx *fx, const char *key, const char *want)
{
    char got[256];
    long n = record_str(fx, key, got, sizeof got);
    if (want == NULL && n >= 0)
        fail_msg("record %s: '%s', expected none", key, got);
    if (want != NULL && (n < 0 || strcmp(got, want) != 0))
        fail_msg("record %s: %s'%s', expected '%s'", key,
                 n < 0 ? "none " : "", n < 0 ? "" : got, want);
}

static void put_record(tfx *fx, const char *key, const char *value)
{
    EXPECT_OK(my_ops->record_put(fx->st, key, value, strlen(value),
                                 &fx->err));
}

/* Records in the writer's row cache: a rolled-back put, replace or delete
 * is gone afterwards, a failed statement leaves the transaction's own
 * writes visible (from the server), snapshot_read replaces what was
 * cached, a value too large for the cache is read whole, and the same
 * holds without a cache. */
static void test_row_cache_and_records(void **state)
{
    tfx *fx = *state;
    open_migrated(fx);
    seed_work(fx);
    begin(fx);
    put_record(fx, "r", "one");
    put_record(fx, "d", "del");
    commit(fx, 2);
    for (int pass = 0; pass < 2; pass++) {
        expect_record(fx, "r", "one"); /* cached */
        expect_record(fx, "d", "del");
        expect_record(fx, "none", NULL);
        begin(fx);
        put_record(fx, "r", "two");
        put_record(fx, "none", "now");
        EXPECT_OK(my_ops->record_delete(fx->st, "d", &fx->err));
        expect_record(fx, "r", "two");
        expect_record(fx, "none", "now");
        expect_record(fx, "d", NULL);
        /* a failed statement drops the cache: the transaction's own
         * writes come from the server now */
        lms_course c = {.created = 1};
        snprintf(c.code, sizeof c.code, "X");
        snprintf(c.title, sizeof c.title, "%s", "\xFF");
        EXPECT_CODE(LMS_INVALID_ARGUMENT,
                    my_ops->course_put(fx->st, &c, &fx->err));
        expect_record(fx, "r", "two");
        expect_record(fx, "d", NULL);
        EXPECT_OK(my_ops->rollback(fx->st, &fx->err));
        expect_record(fx, "r", "one");
        expect_record(fx, "d", "del");
        expect_record(fx, "none", NULL);
        /* the same without a cache */
        const char *const off[] = {"row_cache", "0", NULL};
        set_config(fx, 1, off);
        EXPECT_OK(open_store(fx));
    }
    set_config(fx, 1, NULL);
    EXPECT_OK(open_store(fx));

    /* snapshot_read replaces what the cache knew */
    membuf snap = {0};
    uint8_t d[LMS_SHA256_LEN];
    snapshot_of(my_ops, fx, fx->st, &snap, d);
    begin(fx);
    put_record(fx, "r", "three");
    put_record(fx, "later", "x");
    commit(fx, 3);
    expect_record(fx, "r", "three");
    expect_record(fx, "later", "x");
    lms_snapshot_header out;
    EXPECT_OK(my_ops->snapshot_read(fx->st, mem_read, &snap, &out,
                                    &fx->err));
    expect_record(fx, "r", "one");
    expect_record(fx, "later", NULL);
    free(snap.p);

    /* a value above what the cache keeps: read back whole, twice */
    size_t n = 200000;
    char *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 13 + 1);
    begin(fx);
    EXPECT_OK(my_ops->record_put(fx->st, "big", big, n, &fx->err));
    commit(fx, 4);
    for (int i = 0; i < 2; i++) {
        lms_record r;
        EXPECT_OK(my_ops->record_get(fx->st, "big", &r, &fx->err));
        assert_int_equal(r.len, n);
        assert_memory_equal(r.value, big, n);
    }
    free(big);

    /* a connection lost before COMMIT: nothing of the transaction stays */
    begin(fx);
    put_record(fx, "r", "lost");
    expect_record(fx, "r", "lost");
    assert_true(kill_plugin_connections(fx) >= 1);
    EXPECT_CODE(LMS_UNAVAILABLE, my_ops->commit(fx->st, 5, &fx->err));
    EXPECT_OK(my_ops->rollback(fx->st, &fx->err));
    expect_record(fx, "r", "one");
    assert_int_equal(applied(fx), 4);
}

/* fx's config: TCP to the test server as user (password from the
 * environment variable LMS_TEST_TLS_PW), with the extra pairs. */
static void tcp_config(tfx *fx, const char *user, const char *const *extra)
{
    int i = 0;
    const char *base[] = {"host", env_host, "port", env_port, "database", fx->db,
                          "user", user, "password_env", "LMS_TEST_TLS_PW"};
    for (size_t k = 0; k < sizeof base / sizeof base[0]; k++)
        fx->cfg[i++] = base[k];
    for (const char *const *kv = extra; kv && kv[0]; kv++)
        fx->cfg[i++] = *kv;
    fx->cfg[i] = NULL;
    fx->ctx.config = fx->cfg;
}

/* TLS to the database server (tls.ca; verified by default when a CA is
 * given). The test server speaks TLS with a certificate for 127.0.0.1
 * signed by its own CA (scripts/mariadb-test), and a user that it lets in
 * only over TLS shows which way the plugin connected: with that CA it
 * gets in and works; without tls it is refused; with a CA that did not
 * sign the server's certificate the connection is refused, saying TLS. */
static void test_tls_to_the_server(void **state)
{
    tfx *fx = *state;
    static const char pw[] = "tls-pw-Q7x";
    setenv("LMS_TEST_TLS_PW", pw, 1);
    admin_sql(fx, "CREATE DATABASE IF NOT EXISTS `%s`", fx->db);
    admin_sql(fx, "DROP USER IF EXISTS 'lmstls'@'127.0.0.1'");
    admin_sql(fx, "CREATE USER 'lmstls'@'127.0.0.1' IDENTIFIED BY '%s' "
                  "REQUIRE SSL", pw);
    admin_sql(fx, "GRANT ALL ON `%s`.* TO 'lmstls'@'127.0.0.1'", fx->db);

    const char *const right[] = {"tls.ca", env_tls_ca, NULL};
    tcp_config(fx, "lmstls", right);
    EXPECT_OK(open_store(fx));
    int v = 0;
    EXPECT_OK(my_ops->migrate(fx->st, &v, &fx->err));
    begin(fx);
    put_user(fx, "over-tls");
    commit(fx, 1);
    lms_user u;
    EXPECT_OK(my_ops->user_get(fx->st, "over-tls", &u, &fx->err));
    my_ops->close(fx->st);
    fx->st = NULL;

    tcp_config(fx, "lmstls", NULL); /* no TLS: the server says no */
    if (open_store(fx) == LMS_OK)
        fail_msg("a user that must use TLS got in without it");
    assert_null(fx->st);
    EXPECT_CONTAINS(fx->err.msg, "lmstls");
    assert_null(strstr(fx->err.msg, pw));

    const char *const wrong[] = {"tls.ca", env_other_ca, NULL};
    tcp_config(fx, "lmstls", wrong);
    if (open_store(fx) == LMS_OK)
        fail_msg("a server certificate the CA did not sign was accepted");
    assert_null(fx->st);
    if (strstr(fx->err.msg, "TLS") == NULL && strstr(fx->err.msg, "SSL") == NULL &&
        strstr(fx->err.msg, "certificate") == NULL)
        fail_msg("the refusal does not say it is about TLS: '%s'", fx->err.msg);
    admin_sql(fx, "DROP USER 'lmstls'@'127.0.0.1'");
}

int main(void)
{
    env_socket = need_env("LMS_MARIADB_SOCKET");
    env_host = need_env("LMS_MARIADB_HOST");
    env_port = need_env("LMS_MARIADB_PORT");
    env_user = need_env("LMS_MARIADB_USER");
    env_pwfile = need_env("LMS_MARIADB_PASSWORD_FILE");
    env_tls_ca = need_env("LMS_MARIADB_TLS_CA");
    env_other_ca = need_env("LMS_MARIADB_OTHER_CA");
    FILE *f = fopen(env_pwfile, "r");
    if (f == NULL || fgets(env_password, sizeof env_password, f) == NULL) {
        fprintf(stderr, "cannot read %s\n", env_pwfile);
        return 1;
    }
    fclose(f);
    env_password[strcspn(env_password, "\r\n")] = '\0';
    const struct lms_plugin_descriptor *d1, *d2;
    my_ops = fake_plugin_load(LMS_PLUGIN_BUILD_DIR "/storage_mysql.so", &my_dl,
                              &d1);
    sq_ops = fake_plugin_load(LMS_PLUGIN_BUILD_DIR "/storage_sqlite.so",
                              &sq_dl, &d2);
    if (my_ops == NULL || sq_ops == NULL)
        return 1;
    assert_string_equal(d1->name, "storage_mysql");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_migrate_reopen, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_collation_and_tables, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_password_sources_and_secrecy,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_to_the_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_errors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tcp_and_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_entities_round_trip, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_orders_are_bytewise, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unterminated_fields_are_cut,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_readers_see_committed_state,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshots_across_backends, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pinned_view_keeps_its_state,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_aborted_by_its_writer,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_connections, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_commit_the_client_gave_up_on_is_fenced_off,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_during_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_killed_during_commit,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_small_max_allowed_packet_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_row_cache_forgets_a_rollback,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_cache_and_snapshot_read,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_cache_and_lost_connections,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_records_sent_at_commit,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_cache_and_records, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_grades_sent_at_commit, setup,
                                        teardown),
    };
    int failed = cmocka_run_group_tests_name("storage_mysql", tests, NULL,
                                             NULL);
    mysql_library_end();
    return failed;
}
