/*
 * storage_fixture.c: see storage_fixture.h. The fake host implements just
 * what a storage plugin uses: config lookups from the context's key/value
 * list, the data dir, and a log that remembers its last line.
 */
#include "storage_fixture.h"

#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

const struct lms_plugin_descriptor *fx_desc;
const struct lms_storage_ops *fx_ops;
void *fx_dl;

/* ---- the fake host ---- */

static const char *fake_lookup(struct lms_plugin_ctx *ctx, const char *key)
{
    for (const char *const *kv = ctx->config; kv && kv[0]; kv += 2)
        if (strcmp(kv[0], key) == 0)
            return kv[1];
    return NULL;
}

static void fake_log(struct lms_plugin_ctx *ctx, int level, const char *fmt,
                     ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->last_log, sizeof ctx->last_log, fmt, ap);
    va_end(ap);
    ctx->nlogs++;
    (void)level;
}

static int fake_config_string(struct lms_plugin_ctx *ctx, const char *key,
                              const char **out, lms_err *err)
{
    const char *v = fake_lookup(ctx, key);
    if (v == NULL)
        return lms_err_set(err, LMS_NOT_FOUND, "test.yaml: no key %s", key);
    *out = v;
    return LMS_OK;
}

static int fake_config_int(struct lms_plugin_ctx *ctx, const char *key,
                           long long *out, lms_err *err)
{
    const char *v = fake_lookup(ctx, key);
    if (v == NULL)
        return lms_err_set(err, LMS_NOT_FOUND, "test.yaml: no key %s", key);
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0')
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "test.yaml:1: storage.%s: '%s' is not an integer",
                           key, v);
    *out = n;
    return LMS_OK;
}

static int fake_config_bool(struct lms_plugin_ctx *ctx, const char *key,
                            int *out, lms_err *err)
{
    const char *v = fake_lookup(ctx, key);
    if (v == NULL)
        return lms_err_set(err, LMS_NOT_FOUND, "test.yaml: no key %s", key);
    *out = strcasecmp(v, "true") == 0;
    return LMS_OK;
}

static const char *fake_data_dir(struct lms_plugin_ctx *ctx)
{
    return ctx->data_dir;
}

static const struct lms_host fake_host = {
    .size = sizeof(struct lms_host),
    .log = fake_log,
    .config_string = fake_config_string,
    .config_int = fake_config_int,
    .config_bool = fake_config_bool,
    .data_dir = fake_data_dir,
};

const struct lms_host *fx_host(void)
{
    return &fake_host;
}

/* ---- the plugin ---- */

/* dlopen the built plugin the way lmsd does; 0 on success. */
int fx_load_plugin(void)
{
    const char *path = LMS_PLUGIN_BUILD_DIR "/storage_sqlite.so";
    fx_dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (fx_dl == NULL) {
        fprintf(stderr, "cannot load %s: %s\n", path, dlerror());
        return -1;
    }
    void *sym = dlsym(fx_dl, LMS_PLUGIN_ENTRY_SYMBOL);
    lms_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry); /* POSIX: object to function ptr */
    if (sym == NULL) {
        fprintf(stderr, "%s exports no %s\n", path, LMS_PLUGIN_ENTRY_SYMBOL);
        return -1;
    }
    fx_desc = entry();
    fx_ops = fx_desc ? fx_desc->ops : NULL;
    if (fx_ops == NULL) {
        fprintf(stderr, "%s: descriptor without ops\n", path);
        return -1;
    }
    return 0;
}

void fx_unload_plugin(void)
{
    if (fx_dl)
        dlclose(fx_dl);
    fx_dl = NULL;
}

/* ---- per-test world ---- */

static int rm_entry(const char *path, const struct stat *sb, int type,
                    struct FTW *ftw)
{
    (void)sb, (void)type, (void)ftw;
    return remove(path);
}

static const char *const default_config[] = {NULL};

int fx_setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    strcpy(fx->ctx.data_dir, "/tmp/lms-storage-test-XXXXXX");
    if (mkdtemp(fx->ctx.data_dir) == NULL)
        fail_msg("mkdtemp: %s", strerror(errno));
    fx->ctx.config = default_config;
    EXPECT_OK(fx_ops->open(fx_host(), &fx->ctx, &fx->st, &fx->err));
    EXPECT_OK(fx_ops->migrate(fx->st, &fx->version, &fx->err));
    *state = fx;
    return 0;
}

int fx_teardown(void **state)
{
    fixture *fx = *state;
    if (fx->st)
        fx_ops->close(fx->st);
    nftw(fx->ctx.data_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

int fx_reopen(fixture *fx, const char *const *config)
{
    if (fx->st)
        fx_ops->close(fx->st);
    fx->st = NULL;
    fx->ctx.config = config ? config : default_config;
    lms_err_clear(&fx->err);
    return fx_ops->open(fx_host(), &fx->ctx, &fx->st, &fx->err);
}

void fx_db_path(const fixture *fx, char *out, size_t cap)
{
    snprintf(out, cap, "%s/lms.db", fx->ctx.data_dir);
}

void fx_begin(fixture *fx)
{
    EXPECT_OK(fx_ops->begin(fx->st, &fx->err));
}

void fx_commit(fixture *fx, uint64_t applied_index)
{
    EXPECT_OK(fx_ops->commit(fx->st, applied_index, &fx->err));
}

/* ---- collecting list rows ---- */

void collect_add(collect *c, const char *fmt, ...)
{
    size_t len = strlen(c->out);
    if (c->n > 0 && len + 1 < sizeof c->out)
        c->out[len++] = ',';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->out + len, sizeof c->out - len, fmt, ap);
    va_end(ap);
    c->n++;
}

int collect_stop(const collect *c)
{
    return c->limit > 0 && c->n >= c->limit;
}

/* ---- seed data ---- */

static void put_user(fixture *fx, const char *name, int role)
{
    lms_user u = {.role = role, .password_hash = "$argon2id$fake",
                  .created = 1000};
    snprintf(u.name, sizeof u.name, "%s", name);
    snprintf(u.full_name, sizeof u.full_name, "Full %s", name);
    EXPECT_OK(fx_ops->user_put(fx->st, &u, &fx->err));
}

static void put_course(fixture *fx, const char *code, const char *title)
{
    lms_course c = {.created = 2000};
    snprintf(c.code, sizeof c.code, "%s", code);
    snprintf(c.title, sizeof c.title, "%s", title);
    EXPECT_OK(fx_ops->course_put(fx->st, &c, &fx->err));
}

static void put_enrolment(fixture *fx, const char *course, const char *user,
                          int role)
{
    lms_enrolment e = {.role = role};
    snprintf(e.course, sizeof e.course, "%s", course);
    snprintf(e.user, sizeof e.user, "%s", user);
    EXPECT_OK(fx_ops->enrolment_put(fx->st, &e, &fx->err));
}

void fx_seed_people(fixture *fx)
{
    fx_begin(fx);
    put_user(fx, "carol", LMS_ROLE_STUDENT);
    put_user(fx, "alice", LMS_ROLE_STUDENT);
    put_user(fx, "ian", LMS_ROLE_INSTRUCTOR);
    put_user(fx, "bob", LMS_ROLE_STUDENT);
    put_course(fx, "MA201", "Linear Algebra");
    put_course(fx, "CS101", "Programming in C");
    put_enrolment(fx, "CS101", "bob", LMS_ROLE_STUDENT);
    put_enrolment(fx, "CS101", "alice", LMS_ROLE_STUDENT);
    put_enrolment(fx, "CS101", "ian", LMS_ROLE_INSTRUCTOR);
    put_enrolment(fx, "MA201", "carol", LMS_ROLE_STUDENT);
    put_enrolment(fx, "MA201", "alice", LMS_ROLE_STUDENT);
    put_enrolment(fx, "MA201", "ian", LMS_ROLE_INSTRUCTOR);
    fx_commit(fx, 1);
}
