/* SPDX-License-Identifier: MIT */
/*
 * mysql.c: the storage_mysql plugin's entry point, options, connections
 * and transactions.
 *
 * One instance is one connection to one MariaDB/MySQL database, used only
 * by lmsd's storage thread (storage.h); readers and snapshot views each
 * have a connection of their own. Every connection runs with a strict
 * sql_mode, REPEATABLE READ, utf8mb4 with the byte-order collation
 * utf8mb4_nopad_bin (the order storage_sqlite's BINARY gives) and
 * autocommit on; begin() opens an explicit transaction and commit() writes
 * the Raft index of the last applied command into the meta table inside
 * it, which lets lmsd replay exactly the missing commands after a crash.
 *
 * The password never comes from the YAML (a `password` key is refused)
 * and never appears in a message or a log line: it is read from the file
 * named by password_file or the environment variable named by
 * password_env.
 */
#include "mysql_internal.h"
#include "storage_meta.h"

#include <errmsg.h>
#include <mysqld_error.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const my_sql SQL_META_SET = {
    MY_META_SET, MY_NEEDS_SCHEMA | MY_WRITES, "commit",
    "INSERT INTO meta(`key`, value) VALUES('applied_index', ?) "
    "ON DUPLICATE KEY UPDATE value = VALUES(value)"};
static const my_sql SQL_META_GET = {
    MY_META_GET, MY_NEEDS_SCHEMA, "applied_index",
    "SELECT value FROM meta WHERE `key` = 'applied_index'"};

static const my_sql SQL_HOST_META_SET = {
    MY_HOST_META_SET, MY_NEEDS_SCHEMA | MY_WRITES, "meta_put",
    "INSERT INTO host_meta(`key`, value) VALUES(?, ?) "
    "ON DUPLICATE KEY UPDATE value = VALUES(value)"};
static const my_sql SQL_HOST_META_GET = {
    MY_HOST_META_GET, MY_NEEDS_SCHEMA, "meta_get",
    "SELECT value FROM host_meta WHERE `key` = ?"};

/* Session settings of every connection (strict, byte order, explicit
 * transactions). */
static const char *const my_session_sql[] = {
    "SET NAMES utf8mb4 COLLATE utf8mb4_nopad_bin",
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,"
    "NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION,"
    "NO_AUTO_VALUE_ON_ZERO'",
    "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
    "SET SESSION autocommit = 1",
    "SET SESSION foreign_key_checks = 1",
};

void my_log(my_inst *s, int level, const char *fmt, ...)
{
    if (s->host == NULL || s->host->log == NULL)
        return;
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->host->log(s->ctx, level, "%s", line);
}

/* ---- options ---- */

static void my_config_free(my_config *c)
{
    if (c == NULL)
        return;
    if (c->password) {
        explicit_bzero(c->password, strlen(c->password));
        free(c->password);
    }
    free(c->host);
    free(c->socket);
    free(c->database);
    free(c->user);
    free(c->tls_ca);
    free(c->tls_cert);
    free(c->tls_key);
    free(c);
}

/* Look up an optional string option; *out is a malloc'd copy or NULL. */
static int my_opt_string(const struct lms_host *host,
                         struct lms_plugin_ctx *ctx, const char *key,
                         char **out, lms_err *err)
{
    const char *v = NULL;
    int rc = host->config_string(ctx, key, &v, err);
    if (rc == LMS_NOT_FOUND || (rc == LMS_OK && v == NULL))
        return LMS_OK;
    if (rc != LMS_OK)
        return rc;
    *out = strdup(v);
    if (*out == NULL)
        return lms_err_set(err, LMS_INTERNAL, "out of memory");
    return LMS_OK;
}

static int my_opt_int(const struct lms_host *host, struct lms_plugin_ctx *ctx,
                      const char *key, long long lo, long long hi,
                      unsigned *out, lms_err *err)
{
    long long v = *out;
    int rc = host->config_int(ctx, key, &v, err);
    if (rc != LMS_OK && rc != LMS_NOT_FOUND)
        return rc;
    if (v < lo || v > hi)
        return lms_err_set(err, LMS_INVALID_ARGUMENT, MY_PLUGIN_NAME
                           ": option %s is %lld, expected %lld..%lld", key, v,
                           lo, hi);
    *out = (unsigned)v;
    return LMS_OK;
}

static int my_opt_bool(const struct lms_host *host, struct lms_plugin_ctx *ctx,
                       const char *key, int *out, lms_err *err)
{
    if (host->config_bool == NULL)
        return LMS_OK;
    int rc = host->config_bool(ctx, key, out, err);
    return rc == LMS_NOT_FOUND ? LMS_OK : rc;
}

/* Read the password from password_file: its first line (the trailing
 * newline stripped). Refused when others may read the file. */
static int my_password_file(my_inst *s, const char *path, char **out,
                            lms_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lms_err_set(err, LMS_FAILED_PRECONDITION, MY_PLUGIN_NAME
                           ": option password_file: cannot open %s: %s",
                           path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return lms_err_set(err, LMS_FAILED_PRECONDITION, MY_PLUGIN_NAME
                           ": option password_file: %s is not a regular "
                           "file", path);
    }
    if (st.st_mode & S_IROTH) {
        close(fd);
        return lms_err_set(err, LMS_FAILED_PRECONDITION, MY_PLUGIN_NAME
                           ": option password_file: %s is readable by "
                           "every user; chmod 600 it", path);
    }
    if (st.st_mode & (S_IRGRP | S_IWGRP | S_IWOTH))
        my_log(s, LMS_LOG_WARN, "password_file %s may be read or written "
               "by its group; chmod 600 it", path);
    char buf[4097];
    size_t n = 0;
    while (n < sizeof buf - 1) {
        ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return lms_err_set(err, LMS_FAILED_PRECONDITION, MY_PLUGIN_NAME
                               ": option password_file: reading %s: %s",
                               path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    int rc = LMS_OK;
    if (n == sizeof buf - 1)
        rc = lms_err_set(err, LMS_INVALID_ARGUMENT, MY_PLUGIN_NAME
                         ": option password_file: %s is longer than %zu "
                         "bytes; it must hold only the password", path,
                         sizeof buf - 2);
    char *nl = strpbrk(buf, "\r\n");
    if (nl)
        *nl = '\0';
    if (rc == LMS_OK && (*out = strdup(buf)) == NULL)
        rc = lms_err_set(err, LMS_INTERNAL, "out of memory");
    explicit_bzero(buf, sizeof buf);
    return rc;
}

/* Read every option (see README.md) into a new my_config. */
static int my_read_config(my_inst *s, my_config **out, lms_err *err)
{
    const struct lms_host *host = s->host;
    struct lms_plugin_ctx *ctx = s->ctx;
    *out = NULL;
    /* A password in the YAML is refused, whatever its type, and is never
     * echoed. */
    const char *pw = NULL;
    int rc = host->config_string(ctx, "password", &pw, NULL);
    if (rc != LMS_NOT_FOUND)
        return lms_err_set(err, LMS_INVALID_ARGUMENT, MY_PLUGIN_NAME
                           ": option password is not accepted: a password "
                           "does not belong in the config file; put it in a "
                           "file of mode 0600 named by password_file, or in "
                           "an environment variable named by password_env");
    my_config *c = calloc(1, sizeof *c);
    if (c == NULL)
        return lms_err_set(err, LMS_INTERNAL, "out of memory");
    c->port = 3306;
    c->connect_timeout = 5;
    c->read_timeout = 30;
    c->write_timeout = 30;
    c->create_database = 1;
    c->row_cache = 16384;
    char *pw_file = NULL, *pw_env = NULL;
    rc = my_opt_string(host, ctx, "host", &c->host, err);
    if (rc == LMS_OK)
        rc = my_opt_string(host, ctx, "socket", &c->socket, err);
    if (rc == LMS_OK)
        rc = my_opt_string(host, ctx, "database", &c->database, err);
    if (rc == LMS_OK)
        rc = my_opt_string(host, ctx, "user", &c->user, err);
    if (rc == LMS_OK)
        rc = my_opt_string(host, ctx, "password_file", &pw_file, err);
    if (rc == LMS_OK)
        rc = my_opt_string(host, ctx, "password_env", &pw_env, err);
    if (rc == LMS_OK)
        rc = my_opt_string(host, ctx, "tls.ca", &c->tls_ca, err);
    if (rc == LMS_OK)
        rc = my_opt_string(host, ctx, "tls.cert", &c->tls_cert, err);
    if (rc == LMS_OK)
        rc = my_opt_string(host, ctx, "tls.key", &c->tls_key, err);
    if (rc == LMS_OK)
        rc = my_opt_int(host, ctx, "port", 1, 65535, &c->port, err);
    if (rc == LMS_OK)
        rc = my_opt_int(host, ctx, "connect_timeout", 1, 3600,
                        &c->connect_timeout, err);
    if (rc == LMS_OK)
        rc = my_opt_int(host, ctx, "read_timeout", 1, 86400, &c->read_timeout,
                        err);
    if (rc == LMS_OK)
        rc = my_opt_int(host, ctx, "write_timeout", 1, 86400,
                        &c->write_timeout, err);
    if (rc == LMS_OK)
        rc = my_opt_bool(host, ctx, "create_database", &c->create_database,
                         err);
    if (rc == LMS_OK)
        rc = my_opt_int(host, ctx, "row_cache", 0, 1048576, &c->row_cache,
                        err);
    c->tls = c->tls_ca || c->tls_cert || c->tls_key;
    c->tls_verify = c->tls_ca != NULL;
    int verify_set = 0;
    if (rc == LMS_OK && host->config_bool) {
        int v = c->tls_verify;
        int brc = host->config_bool(ctx, "tls.verify", &v, err);
        if (brc == LMS_OK) {
            c->tls_verify = v;
            verify_set = 1;
        } else if (brc != LMS_NOT_FOUND) {
            rc = brc;
        }
    }
    if (rc == LMS_OK && verify_set)
        c->tls = 1;
    if (rc == LMS_OK && (c->database == NULL || c->database[0] == '\0'))
        rc = lms_err_set(err, LMS_INVALID_ARGUMENT, MY_PLUGIN_NAME
                         ": option database is required (the database "
                         "that holds the LMS tables)");
    if (rc == LMS_OK && (strlen(c->database) > 64 ||
                         strpbrk(c->database, "`/\\.") != NULL))
        rc = lms_err_set(err, LMS_INVALID_ARGUMENT, MY_PLUGIN_NAME
                         ": option database '%s' is not a valid name (at "
                         "most 64 characters, none of ` / \\ .)",
                         c->database);
    if (rc == LMS_OK && (c->user == NULL || c->user[0] == '\0'))
        rc = lms_err_set(err, LMS_INVALID_ARGUMENT, MY_PLUGIN_NAME
                         ": option user is required (the database user)");
    if (rc == LMS_OK && pw_file && pw_env)
        rc = lms_err_set(err, LMS_INVALID_ARGUMENT, MY_PLUGIN_NAME
                         ": options password_file and password_env are both "
                         "set; keep one");
    if (rc == LMS_OK && (c->tls_cert != NULL) != (c->tls_key != NULL))
        rc = lms_err_set(err, LMS_INVALID_ARGUMENT, MY_PLUGIN_NAME
                         ": options tls.cert and tls.key go together (a "
                         "client certificate and its key)");
    if (rc == LMS_OK && pw_file)
        rc = my_password_file(s, pw_file, &c->password, err);
    if (rc == LMS_OK && pw_env) {
        const char *v = getenv(pw_env);
        if (v == NULL)
            rc = lms_err_set(err, LMS_FAILED_PRECONDITION, MY_PLUGIN_NAME
                             ": option password_env names the environment "
                             "variable %s, which is not set", pw_env);
        else if ((c->password = strdup(v)) == NULL)
            rc = lms_err_set(err, LMS_INTERNAL, "out of memory");
    }
    if (rc == LMS_OK && c->host == NULL && c->socket == NULL &&
        (c->host = strdup("localhost")) == NULL)
        rc = lms_err_set(err, LMS_INTERNAL, "out of memory");
    free(pw_file);
    free(pw_env);
    if (rc != LMS_OK) {
        my_config_free(c);
        return rc;
    }
    if (c->socket)
        snprintf(c->where, sizeof c->where, "database %s at %s",
                 c->database, c->socket);
    else
        snprintf(c->where, sizeof c->where, "database %s at %s:%u",
                 c->database, c->host, c->port);
    *out = c;
    return LMS_OK;
}

/* ---- connecting ---- */

/* See mysql_internal.h. */
void my_disconnect(my_inst *s)
{
    my_cache_clear(s); /* its transaction, if any, is gone */
    my_client_discard(s);
    my_grade_discard(s);
    my_close_all(s);
    if (s->db)
        mysql_close(s->db);
    s->db = NULL;
    s->in_tx = 0;
}

/* Run one statement on s->db without parameters; a result is discarded. */
int my_query(my_inst *s, const char *sql, const char *what, lms_err *err)
{
    if (s->db == NULL)
        return my_fail(s, CR_SERVER_GONE_ERROR, "no connection", err, "%s",
                       what);
    s->n_stmts++;
    if (mysql_real_query(s->db, sql, (unsigned long)strlen(sql)))
        return my_fail_db(s, err, "%s", what);
    MYSQL_RES *r = mysql_store_result(s->db);
    if (r)
        mysql_free_result(r);
    else if (mysql_field_count(s->db) != 0)
        return my_fail_db(s, err, "%s", what);
    return LMS_OK;
}

/* One number from a query of one row and column. */
static int my_query_u64(my_inst *s, const char *sql, const char *what,
                        unsigned long long *out, lms_err *err)
{
    if (mysql_real_query(s->db, sql, (unsigned long)strlen(sql)))
        return my_fail_db(s, err, "%s", what);
    MYSQL_RES *r = mysql_store_result(s->db);
    if (r == NULL)
        return my_fail_db(s, err, "%s", what);
    MYSQL_ROW row = mysql_fetch_row(r);
    int rc = LMS_OK;
    if (row == NULL || row[0] == NULL)
        rc = lms_err_set(err, LMS_INTERNAL, "%s: no value", what);
    else
        *out = strtoull(row[0], NULL, 10);
    mysql_free_result(r);
    return rc;
}

/* Set the connection options: timeouts, character set, TLS. */
static int my_set_options(my_inst *s, MYSQL *db, lms_err *err)
{
    const my_config *c = s->cfg;
    unsigned ct = c->connect_timeout, rt = c->read_timeout,
             wt = c->write_timeout;
    my_bool off = 0;
    unsigned long packet = 1ul << 30;
    int bad = mysql_optionsv(db, MYSQL_OPT_CONNECT_TIMEOUT, &ct) ||
              mysql_optionsv(db, MYSQL_OPT_READ_TIMEOUT, &rt) ||
              mysql_optionsv(db, MYSQL_OPT_WRITE_TIMEOUT, &wt) ||
              mysql_optionsv(db, MYSQL_SET_CHARSET_NAME, "utf8mb4") ||
              mysql_optionsv(db, MYSQL_OPT_RECONNECT, &off) ||
              mysql_optionsv(db, MYSQL_OPT_LOCAL_INFILE, &off) ||
              mysql_optionsv(db, MYSQL_OPT_MAX_ALLOWED_PACKET, &packet);
    if (!bad && c->socket) {
        enum mysql_protocol_type proto = MYSQL_PROTOCOL_SOCKET;
        bad = mysql_optionsv(db, MYSQL_OPT_PROTOCOL, &proto);
    } else if (!bad) {
        enum mysql_protocol_type proto = MYSQL_PROTOCOL_TCP;
        if (strcmp(c->host, "localhost") != 0)
            bad = mysql_optionsv(db, MYSQL_OPT_PROTOCOL, &proto);
    }
    if (!bad && c->tls) {
        my_bool on = 1, verify = c->tls_verify ? 1 : 0;
        bad = mysql_optionsv(db, MYSQL_OPT_SSL_ENFORCE, &on) ||
              mysql_optionsv(db, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify) ||
              (c->tls_ca && mysql_optionsv(db, MYSQL_OPT_SSL_CA, c->tls_ca)) ||
              (c->tls_cert &&
               mysql_optionsv(db, MYSQL_OPT_SSL_CERT, c->tls_cert)) ||
              (c->tls_key && mysql_optionsv(db, MYSQL_OPT_SSL_KEY, c->tls_key));
    }
    if (bad)
        return lms_err_set(err, LMS_INTERNAL, MY_PLUGIN_NAME ": the MariaDB "
                           "client library refused an option: %s",
                           mysql_error(db));
    return LMS_OK;
}

/* Create the database that does not exist yet, with the byte-order
 * collation every table inherits. */
static int my_create_database(my_inst *s, lms_err *err)
{
    char sql[256];
    snprintf(sql, sizeof sql, "CREATE DATABASE IF NOT EXISTS `%s` CHARACTER "
             "SET utf8mb4 COLLATE utf8mb4_nopad_bin", s->cfg->database);
    if (mysql_real_query(s->db, sql, (unsigned long)strlen(sql)))
        return lms_err_set(err, my_status_of(mysql_errno(s->db), NULL) ==
                                        LMS_UNAVAILABLE
                                    ? LMS_UNAVAILABLE
                                    : LMS_FAILED_PRECONDITION,
                           MY_PLUGIN_NAME ": %s does not exist and creating "
                           "it failed: %s (error %u); create it (CHARACTER SET "
                           "utf8mb4 COLLATE utf8mb4_nopad_bin) or grant user "
                           "%s the CREATE privilege", s->cfg->where,
                           mysql_error(s->db), mysql_errno(s->db),
                           s->cfg->user);
    if (mysql_select_db(s->db, s->cfg->database))
        return my_fail_db(s, err, "selecting %s", s->cfg->where);
    my_log(s, LMS_LOG_INFO, "created %s", s->cfg->where);
    return LMS_OK;
}

/* The message for a failed mysql_real_connect. */
static int my_connect_failed(my_inst *s, lms_err *err)
{
    unsigned e = mysql_errno(s->db);
    const char *hint = "";
    int code = LMS_UNAVAILABLE;
    switch (e) {
    case ER_ACCESS_DENIED_ERROR:
        hint = "; check user and the password in password_file or "
               "password_env";
        code = LMS_PERMISSION_DENIED;
        break;
    case ER_DBACCESS_DENIED_ERROR:
        hint = "; grant the user its privileges on the database";
        code = LMS_PERMISSION_DENIED;
        break;
    case ER_BAD_DB_ERROR:
        hint = "; create it, or set create_database: true";
        code = LMS_FAILED_PRECONDITION;
        break;
    case CR_UNKNOWN_HOST:
        hint = "; check option host";
        break;
    case CR_CONNECTION_ERROR:
        hint = "; is the server running, and is option socket right?";
        break;
    case CR_CONN_HOST_ERROR:
        hint = "; is the server running, and are host and port right?";
        break;
    case CR_SSL_CONNECTION_ERROR:
        hint = "; check the tls options and the server's TLS setup";
        code = LMS_FAILED_PRECONDITION;
        break;
    }
    return lms_err_set(err, code, MY_PLUGIN_NAME ": cannot connect to %s as "
                       "%s: %s (error %u)%s", s->cfg->where, s->cfg->user,
                       mysql_error(s->db), e, hint);
}

/* Refuse a server whose max_allowed_packet cannot carry lmsd's largest
 * values. */
static int my_check_packet(my_inst *s, lms_err *err)
{
    unsigned long long packet = 0;
    int rc = my_query_u64(s, "SELECT @@max_allowed_packet",
                          "reading max_allowed_packet", &packet, err);
    if (rc != LMS_OK)
        return rc;
    if (packet < MY_PACKET_MIN)
        return lms_err_set(err, LMS_FAILED_PRECONDITION, MY_PLUGIN_NAME
                           ": %s has max_allowed_packet = %llu bytes, below "
                           "the %lu lmsd needs (its largest value is 64 MiB); "
                           "set max_allowed_packet = 128M in the server's "
                           "[mysqld] options (or SET GLOBAL "
                           "max_allowed_packet = 134217728)", s->cfg->where,
                           packet, MY_PACKET_MIN);
    return LMS_OK;
}

/* See mysql_internal.h. */
/* The server's boot time (seconds since the epoch, from its uptime): the
 * same server as before if it is within a second or two. */
static int my_boot_time(my_inst *s, unsigned long long *boot, lms_err *err)
{
    return my_query_u64(s,
                        "SELECT UNIX_TIMESTAMP() - VARIABLE_VALUE FROM "
                        "information_schema.GLOBAL_STATUS WHERE "
                        "VARIABLE_NAME = 'UPTIME'",
                        "reading the server's uptime", boot, err);
}

#define MY_FENCE_WAIT_MS 30000

/* After reconnecting: make sure the lost writer connection (s->fence_id)
 * can no longer commit. A server that booted since cannot have it; else
 * KILL it if it is still ours (our user, our database: the id was this
 * node's) and wait until the server has let it go. LMS_UNAVAILABLE when
 * it outlives MY_FENCE_WAIT_MS: nobody can say yet what it did. */
static int my_fence(my_inst *s, lms_err *err)
{
    unsigned long long boot = 0, n = 0;
    int rc = my_boot_time(s, &boot, err);
    if (rc != LMS_OK)
        return rc;
    s->boot = boot;
    if (s->fence_id == 0)
        return LMS_OK;
    if (boot > s->fence_boot + 2 || boot + 2 < s->fence_boot) {
        s->fence_id = 0; /* the server restarted: the old one is gone */
        return LMS_OK;
    }
    char sql[400];
    for (int waited = 0;; waited += 50) {
        /* CURRENT_USER() is user@host: compare the user part */
        snprintf(sql, sizeof sql,
                 "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE "
                 "ID = %lu AND USER = SUBSTRING_INDEX(CURRENT_USER(), '@', 1) "
                 "AND DB <=> DATABASE()",
                 s->fence_id);
        rc = my_query_u64(s, sql, "looking for the lost connection", &n, err);
        if (rc != LMS_OK)
            return rc;
        if (n == 0)
            break;
        if (waited == 0) {
            my_log(s, LMS_LOG_WARN, "the lost connection %lu is still on the "
                   "server; ending it before going on", s->fence_id);
            snprintf(sql, sizeof sql, "KILL CONNECTION %lu", s->fence_id);
            if (mysql_real_query(s->db, sql, (unsigned long)strlen(sql)) &&
                mysql_errno(s->db) != ER_NO_SUCH_THREAD)
                return my_fail_db(s, err, "ending the lost connection %lu",
                                  s->fence_id);
        }
        if (waited >= MY_FENCE_WAIT_MS)
            return lms_err_set(err, LMS_UNAVAILABLE, MY_PLUGIN_NAME
                               ": the lost connection %lu is still on the "
                               "server after %d s; what its transaction did "
                               "is not known yet",
                               s->fence_id, MY_FENCE_WAIT_MS / 1000);
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    s->fence_id = 0;
    return LMS_OK;
}

int my_connect(my_inst *s, lms_err *err)
{
    const my_config *c = s->cfg;
    /* a writer's connection lost: fence it off once reconnected (only the
     * first loss counts until then: a failed reconnect has no id) */
    if (s->db && !s->readonly && s->conn_id && s->fence_id == 0) {
        s->fence_id = s->conn_id;
        s->fence_boot = s->boot;
    }
    s->conn_id = 0;
    my_disconnect(s);
    s->lost = 1;
    s->db = mysql_init(NULL);
    if (s->db == NULL)
        return lms_err_set(err, LMS_INTERNAL, "out of memory");
    int rc = my_set_options(s, s->db, err);
    if (rc != LMS_OK)
        return rc;
    const char *host = c->socket ? "localhost" : c->host;
    unsigned long flags = CLIENT_FOUND_ROWS | CLIENT_REMEMBER_OPTIONS;
    if (!mysql_real_connect(s->db, host, c->user, c->password, c->database,
                            c->socket ? 0 : c->port, c->socket, flags)) {
        if (mysql_errno(s->db) != ER_BAD_DB_ERROR || !c->create_database ||
            s->readonly)
            return my_connect_failed(s, err);
        if (!mysql_real_connect(s->db, host, c->user, c->password, NULL,
                                c->socket ? 0 : c->port, c->socket, flags))
            return my_connect_failed(s, err);
        rc = my_create_database(s, err);
        if (rc != LMS_OK)
            return rc;
    }
    for (size_t i = 0; rc == LMS_OK &&
                       i < sizeof my_session_sql / sizeof my_session_sql[0];
         i++)
        rc = my_query(s, my_session_sql[i], "setting up the session", err);
    if (rc == LMS_OK)
        rc = my_check_packet(s, err);
    if (rc == LMS_OK && !s->readonly)
        rc = my_fence(s, err);
    if (rc == LMS_OK) {
        s->conn_id = mysql_thread_id(s->db);
        s->lost = 0;
    }
    return rc;
}

/* ---- lifecycle ---- */

/* Roll back an open transaction, close the connection, free s (an
 * instance, a reader or a snapshot view). */
void my_free_inst(my_inst *s)
{
    if (s == NULL)
        return;
    if (!s->readonly && s->n_commits > 0)
        my_log(s, LMS_LOG_INFO, "closing %s: %llu statements (round trips) "
               "for %llu commits; row cache: %llu hits, %llu misses, %llu "
               "times full", s->cfg ? s->cfg->where : "", s->n_stmts,
               s->n_commits, s->cache.hits, s->cache.misses,
               s->cache.drops);
    my_disconnect(s);
    my_cache_free(s);
    free(s->pend);
    free(s->pgrade);
    free(s->keep);
    if (s->owns_cfg)
        my_config_free(s->cfg);
    free(s);
}

/* The client library's global state goes with the plugin: lmsd and
 * lms-plugin-check unload it (dlclose, at exit or after a check), and what
 * mysql_library_init() allocated would be left behind, unreachable
 * (LeakSanitizer reports it). Every instance is closed by then. */
__attribute__((destructor)) static void my_library_fini(void)
{
    mysql_library_end();
}

/*
 * storage ops open(): read the options, connect (creating the database if
 * it is missing and create_database allows it), set the session up and
 * check max_allowed_packet. Does not migrate; a database already at the
 * plugin's schema version is usable at once.
 */
int my_open(const struct lms_host *host, struct lms_plugin_ctx *ctx,
            void **inst, lms_err *err)
{
    *inst = NULL;
    if (host == NULL || host->config_string == NULL ||
        host->config_int == NULL)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           MY_PLUGIN_NAME ": the host offers no config lookup");
    if (mysql_library_init(0, NULL, NULL))
        return lms_err_set(err, LMS_INTERNAL, MY_PLUGIN_NAME
                           ": the MariaDB client library failed to start");
    my_inst *s = calloc(1, sizeof *s);
    if (s == NULL)
        return lms_err_set(err, LMS_INTERNAL, "out of memory");
    s->host = host;
    s->ctx = ctx;
    int rc = my_read_config(s, &s->cfg, err);
    s->owns_cfg = 1;
    if (rc == LMS_OK)
        rc = my_connect(s, err);
    int version = 0;
    if (rc == LMS_OK)
        rc = my_schema_version(s, &version, err);
    if (rc != LMS_OK) {
        my_free_inst(s);
        return rc;
    }
    s->migrated = version == MY_SCHEMA_VERSION;
    s->cache.max_entries = s->cfg->row_cache;
    my_log(s, LMS_LOG_INFO, "opened %s as %s (server %s, client %s%s, %s)",
           s->cfg->where, s->cfg->user, mysql_get_server_info(s->db),
           mysql_get_client_info(), s->cfg->tls ? ", TLS" : "",
           s->migrated ? "schema up to date" : "schema not migrated yet");
    lms_err_clear(err); /* a default's NOT_FOUND may have left a message */
    *inst = s;
    return LMS_OK;
}

/* storage ops close(): roll back an open transaction, free everything. */
void my_close(void *inst)
{
    my_free_inst(inst);
}

/* ---- transactions ---- */

/*
 * storage ops begin(): START TRANSACTION (on a reader: WITH CONSISTENT
 * SNAPSHOT, READ ONLY, so its view is fixed from here). A lost connection
 * is reconnected first, and once more if START TRANSACTION meets one.
 */
int my_begin(void *inst, lms_err *err)
{
    my_inst *s = inst;
    if (s->in_tx)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "begin: a transaction is already open");
    const char *sql = s->readonly
                          ? "START TRANSACTION WITH CONSISTENT SNAPSHOT, "
                            "READ ONLY"
                          : "START TRANSACTION";
    my_client_discard(s); /* none: a transaction ends by commit or
                             rollback, and both leave none */
    my_grade_discard(s);
    s->pend_failed = 0;
    for (int attempt = 0;; attempt++) {
        int rc = LMS_OK;
        if (s->lost || s->db == NULL)
            rc = my_connect(s, err);
        if (rc == LMS_OK)
            rc = my_query(s, sql, "begin", err);
        if (rc == LMS_OK) {
            s->in_tx = 1;
            return LMS_OK;
        }
        if (!s->lost || attempt > 0)
            return rc;
        my_log(s, LMS_LOG_WARN, "begin: %s; reconnecting",
               err ? err->msg : "connection lost");
    }
}

/* After COMMIT failed on a lost connection: did it commit? Reconnect and
 * compare the applied index with the one committed. */
static int my_commit_outcome(my_inst *s, uint64_t index, const char *why,
                             lms_err *err)
{
    s->in_tx = 0;
    lms_err cerr = {0};
    uint64_t now = 0;
    int rc = my_connect(s, &cerr);
    if (rc == LMS_OK)
        rc = my_applied_index(s, &now, &cerr);
    if (rc != LMS_OK)
        return lms_err_set(err, LMS_UNAVAILABLE, MY_PLUGIN_NAME
                           ": connection to the database lost during COMMIT "
                           "of index %llu (%s), and reading it back failed "
                           "(%s): outcome unknown",
                           (unsigned long long)index, why, cerr.msg);
    if (now == index) {
        my_log(s, LMS_LOG_WARN, "connection lost during COMMIT of index "
               "%llu (%s); reconnected: it committed",
               (unsigned long long)index, why);
        return LMS_OK;
    }
    return lms_err_set(err, LMS_UNAVAILABLE, MY_PLUGIN_NAME
                       ": connection to the database lost during COMMIT of "
                       "index %llu (%s); it did not commit (applied index "
                       "%llu); the batch will be retried",
                       (unsigned long long)index, why,
                       (unsigned long long)now);
}

/*
 * storage ops commit(): send the client records and grades still pending, write
 * applied_index to meta, then COMMIT, all in the open transaction
 * (refused when pending records failed to go out). A connection lost during COMMIT is resolved by
 * reading the applied index back on a new connection: LMS_OK only when it
 * shows this commit. On other failures the caller calls rollback().
 */
int my_commit(void *inst, uint64_t applied_index, lms_err *err)
{
    my_inst *s = inst;
    if (s->readonly)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "commit: a reader cannot write");
    if (!s->in_tx)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "commit: no transaction is open");
    if (s->pend_failed)
        return lms_err_set(err, LMS_UNAVAILABLE, MY_PLUGIN_NAME
                           ": commit: client records or grades of this "
                           "transaction could not be written; roll back "
                           "and retry");
    int rc = my_client_flush(s, err);
    if (rc == LMS_OK)
        rc = my_grade_flush(s, err);
    if (rc != LMS_OK)
        return rc;
    my_binder b;
    my_binder_init(&b);
    my_bind_u64(&b, applied_index);
    rc = my_run(s, &SQL_META_SET, &b, err);
    if (rc != LMS_OK)
        return rc;
    if (s->lost || s->db == NULL)
        return lms_err_set(err, LMS_UNAVAILABLE, MY_PLUGIN_NAME
                           ": connection to the database lost during a "
                           "transaction; the batch will be retried");
    s->n_stmts++;
    if (mysql_real_query(s->db, "COMMIT", 6) == 0) {
        s->in_tx = 0;
        s->n_commits++;
        return LMS_OK;
    }
    unsigned e = mysql_errno(s->db);
    char msg[256];
    snprintf(msg, sizeof msg, "%s (error %u)", mysql_error(s->db), e);
    if (my_is_lost(e)) {
        s->lost = 1;
        return my_commit_outcome(s, applied_index, msg, err);
    }
    return my_fail_db(s, err, "commit");
}

/* storage ops rollback(): discard the open transaction. LMS_OK when none
 * is open, and when the connection is gone (the server rolled it back). */
int my_rollback(void *inst, lms_err *err)
{
    my_inst *s = inst;
    my_cache_clear(s); /* the transaction's puts vanish */
    my_client_discard(s);
    my_grade_discard(s);
    s->pend_failed = 0;
    if (!s->in_tx)
        return LMS_OK;
    s->in_tx = 0;
    if (s->lost || s->db == NULL)
        return LMS_OK;
    s->n_stmts++;
    if (mysql_real_query(s->db, "ROLLBACK", 8) == 0)
        return LMS_OK;
    if (my_is_lost(mysql_errno(s->db))) {
        s->lost = 1;
        return LMS_OK;
    }
    return my_fail_db(s, err, "rollback");
}

static void fill_u64(const my_col *c, void *row)
{
    *(uint64_t *)row = (uint64_t)my_col_i64(&c[0]);
}

/* storage ops applied_index(): the index of the last commit, 0 if none. */
int my_applied_index(void *inst, uint64_t *index, lms_err *err)
{
    my_inst *s = inst;
    my_binder b;
    my_binder_init(&b);
    uint64_t v = 0;
    int rc = my_get(s, &SQL_META_GET, &b, fill_u64, &v, err);
    if (rc == LMS_NOT_FOUND) {
        v = 0;
        rc = LMS_OK;
    }
    if (rc == LMS_OK)
        *index = v;
    return rc;
}

/* ---- lmsd's records about the store (ABI 1.3) ---- */

typedef struct my_meta_row {
    char value[LMS_TITLE_MAX + 2]; /* one more: a value too long shows */
} my_meta_row;

static void fill_meta(const my_col *c, void *row)
{
    my_meta_row *r = row;
    MY_COPY_FIELD(&c[0], r->value);
}

/* storage ops meta_get(): lmsd's record key (host_meta), into out. */
int my_meta_get(void *inst, const char *key, char *out, size_t cap,
                lms_err *err)
{
    my_inst *s = inst;
    int rc = storage_meta_check_get(key, out, cap, err);
    if (rc != LMS_OK)
        return rc;
    if (s->readonly)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "meta_get: on the instance, not a reader");
    my_binder b;
    my_binder_init(&b);
    my_bind_text(&b, key, SIZE_MAX);
    my_meta_row r = {{0}};
    rc = my_get(s, &SQL_HOST_META_GET, &b, fill_meta, &r, err);
    if (rc != LMS_OK)
        return rc;
    size_t n = strlen(r.value);
    if (n >= cap)
        return lms_err_set(err, LMS_OUT_OF_RANGE,
                           "meta_get: the value of %s is %zu bytes, more "
                           "than the %zu given", key, n, cap - 1);
    memcpy(out, r.value, n + 1);
    return LMS_OK;
}

/* storage ops meta_put(): insert or replace lmsd's record key, inside the
 * open transaction. */
int my_meta_put(void *inst, const char *key, const char *value, lms_err *err)
{
    my_inst *s = inst;
    int rc = storage_meta_check_put(key, value, err);
    if (rc != LMS_OK)
        return rc;
    my_binder b;
    my_binder_init(&b);
    my_bind_text(&b, key, SIZE_MAX);
    my_bind_text(&b, value, SIZE_MAX);
    return my_run(s, &SQL_HOST_META_SET, &b, err);
}

/* ---- readers ---- */

/* See mysql_internal.h. */
int my_open_peer(my_inst *s, my_inst **out, const char *what, lms_err *err)
{
    *out = NULL;
    my_inst *v = calloc(1, sizeof *v);
    if (v == NULL)
        return lms_err_set(err, LMS_INTERNAL, "out of memory");
    v->host = s->host;
    v->ctx = s->ctx;
    v->cfg = s->cfg;
    v->migrated = s->migrated;
    v->readonly = 1;
    int rc = my_connect(v, err);
    if (rc != LMS_OK) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        lms_err_set(err, rc, "%s: %s", what, msg);
        my_free_inst(v);
        return rc;
    }
    *out = v;
    return LMS_OK;
}

/* storage ops reader_open(): a connection of its own, whose begin()
 * starts a consistent-snapshot read-only transaction. */
int my_reader_open(void *inst, void **reader, lms_err *err)
{
    my_inst *s = inst;
    *reader = NULL;
    if (s->readonly)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "reader_open: called on a reader");
    if (!s->migrated)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "reader_open: the schema of %s is not migrated "
                           "yet (call migrate first)", s->cfg->where);
    if (s->in_tx)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "reader_open: a transaction is open");
    my_inst *v;
    int rc = my_open_peer(s, &v, "reader_open", err);
    if (rc == LMS_OK)
        *reader = v;
    return rc;
}

/* storage ops reader_close(): NULL-safe. */
void my_reader_close(void *reader)
{
    my_free_inst(reader);
}

static const struct lms_storage_ops my_ops = {
    .size = sizeof(struct lms_storage_ops),
    .open = my_open,
    .close = my_close,
    .migrate = my_migrate,
    .begin = my_begin,
    .commit = my_commit,
    .rollback = my_rollback,
    .applied_index = my_applied_index,
    .user_put = my_user_put,
    .user_get = my_user_get,
    .user_list = my_user_list,
    .user_count = my_user_count,
    .course_put = my_course_put,
    .course_get = my_course_get,
    .course_list = my_course_list,
    .enrolment_put = my_enrolment_put,
    .enrolment_get = my_enrolment_get,
    .enrolment_list = my_enrolment_list,
    .assignment_put = my_assignment_put,
    .assignment_get = my_assignment_get,
    .assignment_list = my_assignment_list,
    .extension_put = my_extension_put,
    .extension_get = my_extension_get,
    .submission_put = my_submission_put,
    .submission_get = my_submission_get,
    .submission_list = my_submission_list,
    .submission_count = my_submission_count,
    .grade_put = my_grade_put,
    .grade_get = my_grade_get,
    .grade_list = my_grade_list,
    .query_put = my_query_put,
    .query_get = my_query_get,
    .query_list = my_query_list,
    .reply_put = my_reply_put,
    .reply_list = my_reply_list,
    .material_put = my_material_put,
    .material_get = my_material_get,
    .material_list = my_material_list,
    .session_put = my_session_put,
    .session_get = my_session_get,
    .session_delete = my_session_delete,
    .session_prune = my_session_prune,
    .client_get = my_client_get,
    .client_put = my_client_put,
    .client_prune = my_client_prune,
    .course_settings_put = my_course_settings_put,
    .course_settings_get = my_course_settings_get,
    .query_count = my_query_count,
    .snapshot_write = my_snapshot_write,
    .snapshot_read = my_snapshot_read,
    .snapshot_pin = my_snapshot_pin,
    .snapshot_write_view = my_snapshot_write_view,
    .snapshot_unpin = my_snapshot_unpin,
    .session_list_user = my_session_list_user,
    .reader_open = my_reader_open,
    .reader_close = my_reader_close,
    .meta_get = my_meta_get,
    .meta_put = my_meta_put,
    .record_put = my_record_put,
    .record_get = my_record_get,
    .record_delete = my_record_delete,
    .record_list = my_record_list,
};

static const struct lms_plugin_descriptor my_descriptor = {
    .magic = LMS_PLUGIN_MAGIC,
    .abi_major = LMS_ABI_MAJOR,
    .abi_minor = LMS_ABI_MINOR,
    .descriptor_size = sizeof(struct lms_plugin_descriptor),
    .kind = LMS_PLUGIN_STORAGE,
    .name = MY_PLUGIN_NAME,
    .version = MY_PLUGIN_VERSION,
    .description = "LMS tables in a MariaDB/MySQL database (InnoDB)",
    .ops = &my_ops,
    .ops_size = sizeof(struct lms_storage_ops),
};

/* The plugin's one exported symbol (plugin.h). */
LMS_PLUGIN_EXPORT const struct lms_plugin_descriptor *lms_plugin_entry(void);

LMS_PLUGIN_EXPORT const struct lms_plugin_descriptor *lms_plugin_entry(void)
{
    return &my_descriptor;
}
