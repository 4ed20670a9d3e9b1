/* SPDX-License-Identifier: MIT */
/*
 * fuzz.h: what the harnesses of tests/fuzz share. Each harness defines
 * LLVMFuzzerTestOneInput; built with -fsanitize=fuzzer it is a libFuzzer
 * target (scripts/fuzz), built with replay_main.c it is a plain program
 * that runs files through it (the ctest entries fuzz_replay_*), so the
 * code here compiles with gcc as well as clang.
 */
#ifndef LMS_TESTS_FUZZ_H
#define LMS_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A private directory for the process's scratch files, made once (in
 * /dev/shm when there is one: the WAL fsyncs what it opens). Aborts when
 * it cannot be made. */
const char *fuzz_tmpdir(void);

/* Replace the file dir/name with the size bytes at data; aborts on error.
 * The full path goes to path (cap bytes). */
void fuzz_write_file(const char *dir, const char *name, const uint8_t *data,
                     size_t size, char *path, size_t cap);

/* A broken invariant: print what and abort, so both libFuzzer and the
 * replay driver report the input. */
#define FUZZ_CHECK(cond, what)                                                \
    do {                                                                       \
        if (!(cond))                                                           \
            fuzz_fail(__FILE__, __LINE__, (what));                             \
    } while (0)
void fuzz_fail(const char *file, int line, const char *what)
    __attribute__((noreturn));

#endif
