/* SPDX-License-Identifier: MIT */
/*
 * storage_suite.c: the suite's groups in run order (storage_suite.h). Each
 * group is a cmocka group of its own file; running one makes t the
 * fixture's target first.
 */
#include "suite_fixture.h"

static const struct {
    const char *name;
    int (*run)(void);
} groups[] = {
    {.name = "lifecycle", .run = suite_lifecycle_tests},
    {.name = "entities", .run = suite_entity_tests},
    {.name = "bytes", .run = suite_bytes_tests},
    {.name = "snapshots", .run = suite_snapshot_tests},
    {.name = "readers", .run = suite_reader_tests},
    {.name = "records", .run = suite_record_tests},
};

int storage_suite_groups(void)
{
    return (int)(sizeof groups / sizeof groups[0]);
}

const char *storage_suite_group_name(int group)
{
    return group >= 0 && group < storage_suite_groups() ? groups[group].name
                                                        : NULL;
}

int storage_suite_run_group(const storage_target *t, int group)
{
    if (group < 0 || group >= storage_suite_groups())
        return 0;
    storage_suite_use(t);
    return groups[group].run();
}

int storage_suite_run(const storage_target *t)
{
    int failed = 0;
    for (int g = 0; g < storage_suite_groups(); g++)
        failed += storage_suite_run_group(t, g);
    return failed;
}
