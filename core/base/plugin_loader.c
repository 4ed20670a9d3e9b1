/* SPDX-License-Identifier: MIT */
/*
 * plugin_loader.c: find a plugin's .so, dlopen it and check its descriptor
 * before lmsd calls anything in it (see plugin_loader.h and plugin.h).
 *
 * The checks run in the order plugin.h lists, and each refusal is one line
 * that starts with the file's path, so an operator who put the wrong .so in
 * a config sees which file and why. Only the loading lives here; the host
 * services handed to plugin instances are in host.c.
 */
#include "plugin_loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <lms/auth.h>
#include <lms/storage.h>
#include <lms/tutor.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef LMS_PLUGIN_INSTALL_DIR
#error "LMS_PLUGIN_INSTALL_DIR must be defined by the build"
#endif

/* A callback a kind requires, by name and place in its ops table. */
typedef struct required_cb {
    const char *name;
    size_t offset;
} required_cb;

#define CB(type, field) {.name = #field, .offset = offsetof(struct type, field)}

static const required_cb storage_required[] = {
    CB(lms_storage_ops, open),            CB(lms_storage_ops, close),
    CB(lms_storage_ops, migrate),         CB(lms_storage_ops, begin),
    CB(lms_storage_ops, commit),          CB(lms_storage_ops, rollback),
    CB(lms_storage_ops, applied_index),   CB(lms_storage_ops, user_put),
    CB(lms_storage_ops, user_get),        CB(lms_storage_ops, user_list),
    CB(lms_storage_ops, user_count),      CB(lms_storage_ops, course_put),
    CB(lms_storage_ops, course_get),      CB(lms_storage_ops, course_list),
    CB(lms_storage_ops, enrolment_put),   CB(lms_storage_ops, enrolment_get),
    CB(lms_storage_ops, enrolment_list),  CB(lms_storage_ops, assignment_put),
    CB(lms_storage_ops, assignment_get),  CB(lms_storage_ops, assignment_list),
    CB(lms_storage_ops, extension_put),   CB(lms_storage_ops, extension_get),
    CB(lms_storage_ops, submission_put),  CB(lms_storage_ops, submission_get),
    CB(lms_storage_ops, submission_list), CB(lms_storage_ops, submission_count),
    CB(lms_storage_ops, grade_put),       CB(lms_storage_ops, grade_get),
    CB(lms_storage_ops, grade_list),      CB(lms_storage_ops, query_put),
    CB(lms_storage_ops, query_get),       CB(lms_storage_ops, query_list),
    CB(lms_storage_ops, reply_put),       CB(lms_storage_ops, reply_list),
    CB(lms_storage_ops, material_put),    CB(lms_storage_ops, material_get),
    CB(lms_storage_ops, material_list),   CB(lms_storage_ops, session_put),
    CB(lms_storage_ops, session_get),     CB(lms_storage_ops, session_delete),
    CB(lms_storage_ops, session_prune),   CB(lms_storage_ops, client_get),
    CB(lms_storage_ops, client_put),      CB(lms_storage_ops, client_prune),
    CB(lms_storage_ops, course_settings_put),
    CB(lms_storage_ops, course_settings_get),
    CB(lms_storage_ops, query_count),
    CB(lms_storage_ops, snapshot_write),  CB(lms_storage_ops, snapshot_read),
    CB(lms_storage_ops, snapshot_pin),    CB(lms_storage_ops, snapshot_write_view),
    CB(lms_storage_ops, snapshot_unpin),
    CB(lms_storage_ops, session_list_user),
    CB(lms_storage_ops, reader_open),     CB(lms_storage_ops, reader_close),
    CB(lms_storage_ops, meta_get),        CB(lms_storage_ops, meta_put),
    CB(lms_storage_ops, record_put),      CB(lms_storage_ops, record_get),
    CB(lms_storage_ops, record_delete),   CB(lms_storage_ops, record_list),
};

/* Every storage callback is required: a callback added to storage.h without
 * being listed above breaks the build here instead of passing unchecked. */
_Static_assert(sizeof(struct lms_storage_ops) ==
                   sizeof(size_t) + sizeof storage_required /
                                        sizeof storage_required[0] *
                                        sizeof(void (*)(void)),
               "storage_required must list every lms_storage_ops callback");

static const required_cb auth_required[] = {
    CB(lms_auth_ops, init),
    CB(lms_auth_ops, shutdown),
    CB(lms_auth_ops, verify),
    CB(lms_auth_ops, hash),
};

/* cancel and learn are optional: lmsd then lets an ask run to its end and
 * offers the plugin no course documents. */
static const required_cb tutor_required[] = {
    CB(lms_tutor_ops, init),
    CB(lms_tutor_ops, shutdown),
    CB(lms_tutor_ops, ask),
};

#undef CB

/* The tutor flags this lmsd understands. A flag it does not know changes
 * how the plugin must be driven (a new threading model, say), so guessing
 * is worse than refusing. */
#define TUTOR_KNOWN_FLAGS ((uint32_t)(LMS_TUTOR_BLOCKING | LMS_TUTOR_STREAMS))

static int check_tutor_flags(const char *path, const void *ops, lms_err *err)
{
    const struct lms_tutor_ops *t = ops;
    uint32_t unknown = t->flags & ~TUTOR_KNOWN_FLAGS;
    if (unknown)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "%s: unknown tutor flags 0x%x (lmsd ABI %d.%d knows "
                           "0x%x: blocking, streams)",
                           path, (unsigned)unknown, LMS_ABI_MAJOR,
                           LMS_ABI_MINOR, (unsigned)TUTOR_KNOWN_FLAGS);
    return LMS_OK;
}

typedef struct kind_info {
    uint32_t kind;
    const char *name;
    /* The oldest ABI minor of this kind lmsd still loads, and what the
     * newer one brought that lmsd cannot do without (for the refusal). */
    uint16_t min_minor;
    const char *min_minor_needs;
    /* The smallest ops table accepted: the size the oldest minor still
     * loaded knew (storage: ABI 1.4, every callback). A callback past the
     * end of a plugin's smaller table is not required (and never read:
     * plugin_has_op). */
    size_t ops_size;
    const required_cb *required;
    size_t n_required;
    /* Kind-specific checks on a table that passed the size check; NULL
     * when there are none. */
    int (*check)(const char *path, const void *ops, lms_err *err);
} kind_info;

#define N(a) (sizeof(a) / sizeof(a)[0])

/* Storage since ABI 1.4: lmsd's state machine keeps its newer state in
 * records (storage.h) and cannot apply commands without them, so an older
 * storage plugin is refused rather than loaded with a table too short. */
static const kind_info kinds[] = {
    {.kind = LMS_PLUGIN_STORAGE, .name = "storage", .min_minor = 4,
     .min_minor_needs = "records",
     .ops_size = sizeof(struct lms_storage_ops),
     .required = storage_required, .n_required = N(storage_required)},
    {.kind = LMS_PLUGIN_TUTOR, .name = "tutor",
     .ops_size = sizeof(struct lms_tutor_ops), .required = tutor_required,
     .n_required = N(tutor_required), .check = check_tutor_flags},
    {.kind = LMS_PLUGIN_AUTH, .name = "auth",
     .ops_size = sizeof(struct lms_auth_ops), .required = auth_required,
     .n_required = N(auth_required)},
};

#undef N

static const kind_info *kind_find(uint32_t kind)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (kinds[i].kind == kind)
            return &kinds[i];
    return NULL;
}

const char *plugin_kind_name(uint32_t kind)
{
    const kind_info *k = kind_find(kind);
    return k ? k->name : "unknown";
}

/*
 * LMS_PLUGIN_BUILD_DIR and LMS_BUILD_ROOT are defined only in a developer's
 * build (the CMake option LMS_BUILD_TREE_PLUGINS, on by default). A
 * package's build turns it off (scripts/package), so the build tree's path
 * is not even in the installed binary: an installed lmsd looks in its
 * installed plugin directory only.
 */
#ifdef LMS_PLUGIN_BUILD_DIR
#ifndef LMS_BUILD_ROOT
#error "LMS_BUILD_ROOT must be defined with LMS_PLUGIN_BUILD_DIR"
#endif
static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Is this program a build tree's (not an installed copy)? Only then may
 * it load plugins from the build tree: an installed lmsd must never pick
 * up whatever a build directory of the same path holds. */
static int running_from_build_tree(void)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    size_t root = strlen(LMS_BUILD_ROOT);
    if (n <= 0)
        return 0;
    exe[n] = '\0';
    return (size_t)n > root && strncmp(exe, LMS_BUILD_ROOT, root) == 0 &&
           exe[root] == '/';
}
#endif

/*
 * The path of plugin name: a name with a '/' is a path used as is; else
 * <dir>/<name>.so (".so" not doubled), dir being plugin_dir or, when NULL,
 * the build tree's plugin directory if this is a developer's build, runs
 * from the build tree and the file is there, else the installed one. Returns a malloc'd
 * string or NULL (out of memory).
 */
static char *resolve(const char *name, const char *plugin_dir)
{
    if (strchr(name, '/'))
        return strdup(name);
    size_t len = strlen(name);
    const char *ext = len > 3 && strcmp(name + len - 3, ".so") == 0 ? "" : ".so";
    char *path = NULL;
    if (plugin_dir) {
        if (asprintf(&path, "%s/%s%s", plugin_dir, name, ext) < 0)
            return NULL;
        return path;
    }
#ifdef LMS_PLUGIN_BUILD_DIR
    if (running_from_build_tree()) {
        if (asprintf(&path, "%s/%s%s", LMS_PLUGIN_BUILD_DIR, name, ext) < 0)
            return NULL;
        if (file_exists(path))
            return path;
        free(path);
    }
#endif
    if (asprintf(&path, "%s/%s%s", LMS_PLUGIN_INSTALL_DIR, name, ext) < 0)
        return NULL;
    return path;
}

/* Magic, ABI and descriptor size: is this an lms plugin lmsd can read? */
static int check_header(const char *path, const struct lms_plugin_descriptor *d,
                        lms_err *err)
{
    if (d->magic != LMS_PLUGIN_MAGIC)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "%s: bad magic 0x%08x (expected 0x%08x, not an lms "
                           "plugin)",
                           path, (unsigned)d->magic, LMS_PLUGIN_MAGIC);
    if (d->abi_major != LMS_ABI_MAJOR || d->abi_minor > LMS_ABI_MINOR)
        return lms_err_set(
            err, LMS_FAILED_PRECONDITION,
            "%s: plugin ABI %u.%u is not compatible with lmsd ABI %d.%d (%s)",
            path, (unsigned)d->abi_major, (unsigned)d->abi_minor,
            LMS_ABI_MAJOR, LMS_ABI_MINOR,
            d->abi_major != LMS_ABI_MAJOR
                ? "rebuild the plugin against this lmsd's SDK"
                : "the plugin needs a newer lmsd");
    /* ABI 1.0 knows the whole descriptor; later minors may know less. */
    if (d->descriptor_size < sizeof *d)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "%s: descriptor is %u bytes, lmsd ABI %d.%d needs "
                           "at least %zu",
                           path, (unsigned)d->descriptor_size, LMS_ABI_MAJOR,
                           LMS_ABI_MINOR, sizeof *d);
    return LMS_OK;
}

/* Kind, ops table size and required callbacks. */
static int check_ops(const char *path, const struct lms_plugin_descriptor *d,
                     uint32_t kind, lms_err *err)
{
    const kind_info *want = kind_find(kind);
    const char *want_name = want ? want->name : "unknown";
    if (d->kind != kind) {
        if (!kind_find(d->kind))
            return lms_err_set(err, LMS_FAILED_PRECONDITION,
                               "%s: is a plugin of unknown kind %u, expected %s",
                               path, (unsigned)d->kind, want_name);
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "%s: is a%s %s plugin, expected %s", path,
                           d->kind == LMS_PLUGIN_AUTH ? "n" : "",
                           plugin_kind_name(d->kind), want_name);
    }
    if (!want)
        return lms_err_set(err, LMS_INVALID_ARGUMENT,
                           "%s: lmsd asked for unknown plugin kind %u", path,
                           (unsigned)kind);
    if (d->abi_minor < want->min_minor)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "%s: was built against %s ABI %u.%u; this lmsd "
                           "needs %d.%d (%s); rebuild it against the "
                           "installed SDK",
                           path, want_name, (unsigned)d->abi_major,
                           (unsigned)d->abi_minor, LMS_ABI_MAJOR,
                           want->min_minor, want->min_minor_needs);
    if (!d->ops)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "%s: has no %s ops table", path, want_name);
    if (d->ops_size < want->ops_size)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "%s: %s ops table is %zu bytes, lmsd ABI %d.%d "
                           "needs at least %zu",
                           path, want_name, d->ops_size, LMS_ABI_MAJOR,
                           LMS_ABI_MINOR, want->ops_size);
    for (size_t i = 0; i < want->n_required; i++) {
        void (*fn)(void);
        if (want->required[i].offset + sizeof fn > d->ops_size)
            continue; /* appended after the plugin's minor */
        memcpy(&fn, (const char *)d->ops + want->required[i].offset, sizeof fn);
        if (!fn)
            return lms_err_set(err, LMS_FAILED_PRECONDITION,
                               "%s: missing required %s callback '%s'", path,
                               want_name, want->required[i].name);
    }
    return want->check ? want->check(path, d->ops, err) : LMS_OK;
}

/* dlopen path and call its entry point; *dl is set on success. */
static int open_entry(const char *path, void **dl,
                      const struct lms_plugin_descriptor **desc, lms_err *err)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        int e = errno;
        return lms_err_set(err, e == ENOENT ? LMS_NOT_FOUND
                                            : LMS_FAILED_PRECONDITION,
                           "%s: cannot load plugin: %s", path, strerror(e));
    }
    *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!*dl)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "%s: cannot load plugin: %s", path, dlerror());
    dlerror();
    void *sym = dlsym(*dl, LMS_PLUGIN_ENTRY_SYMBOL);
    if (!sym)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "%s: does not export %s (not an lms plugin)", path,
                           LMS_PLUGIN_ENTRY_SYMBOL);
    lms_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry); /* POSIX: data and code pointers agree */
    *desc = entry();
    if (!*desc)
        return lms_err_set(err, LMS_FAILED_PRECONDITION,
                           "%s: %s() returned NULL", path,
                           LMS_PLUGIN_ENTRY_SYMBOL);
    return LMS_OK;
}

int plugin_load(const char *name, const char *plugin_dir, uint32_t kind,
                loaded_plugin *out, lms_err *err)
{
    memset(out, 0, sizeof *out);
    lms_err_clear(err);
    char *path = resolve(name, plugin_dir);
    if (!path)
        return lms_err_set(err, LMS_RESOURCE_EXHAUSTED, "out of memory");
    void *dl = NULL;
    const struct lms_plugin_descriptor *d = NULL;
    int rc = open_entry(path, &dl, &d, err);
#ifdef LMS_PLUGIN_BUILD_DIR
    if (rc == LMS_NOT_FOUND && !plugin_dir && !strchr(name, '/') &&
        running_from_build_tree())
        lms_err_set(err, rc, "%s: cannot load plugin: %s (looked in %s too)",
                    path, strerror(ENOENT), LMS_PLUGIN_BUILD_DIR);
#endif
    if (rc == LMS_OK)
        rc = check_header(path, d, err);
    if (rc == LMS_OK)
        rc = check_ops(path, d, kind, err);
    if (rc == LMS_OK && (!d->name || !*d->name))
        rc = lms_err_set(err, LMS_FAILED_PRECONDITION,
                         "%s: descriptor has no name", path);
    if (rc) {
        if (dl)
            dlclose(dl);
        free(path);
        return rc;
    }
    out->dl = dl;
    out->desc = d;
    out->path = path;
    return LMS_OK;
}

void plugin_unload(loaded_plugin *p)
{
    if (!p)
        return;
    if (p->dl)
        dlclose(p->dl);
    free(p->path);
    memset(p, 0, sizeof *p);
}
