/*
 * check_storage.c: placeholder.
 */
#include "plugin_check.h"

#include <lms/storage.h>

void check_storage(check_env *env)
{
    const struct lms_storage_ops *ops = env->plugin.desc->ops;
    void *inst = NULL;
    lms_err err;
    lms_err_clear(&err);
    report_begin("open");
    int rc = ops->open(plugin_host(), &env->ctx, &inst, &err);
    if (rc != LMS_OK) {
        report_fail("%s: %s", check_status_name(rc), err.msg);
        return;
    }
    report_ok("opened with data_dir %s", env->data_dir);
    report_begin("close");
    ops->close(inst);
    report_ok("closed");
}

