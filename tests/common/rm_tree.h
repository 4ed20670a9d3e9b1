/* SPDX-License-Identifier: MIT */
/*
 * rm_tree.h: remove a test's temporary directory tree (files, directories,
 * nothing followed through links). For the unit tests' teardowns.
 */
#ifndef LMS_TEST_RM_TREE_H
#define LMS_TEST_RM_TREE_H

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

static int rm_tree_entry(const char *path, const struct stat *st, int flag,
                         struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void rm_tree(const char *dir)
{
    nftw(dir, rm_tree_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
