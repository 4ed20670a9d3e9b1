/* SPDX-License-Identifier: MIT */
/*
 * test_node_verify.c: sm_node_is_marker (core/app/sm_node.c, over
 * core/base/pb_wire.c), what the node asks (node_sm.is_marker) of the walk
 * over a committed entry's top-level fields that tells the loop where an
 * apply batch must end for lms-admin cluster-verify. It runs on every
 * committed entry, whatever its bytes: a marker is found, nothing else is
 * taken for one (not a field 29 inside a file's bytes or a nested
 * message), and malformed or truncated bytes are "no" without reading
 * past their end (ASan watches).
 */
#include "command.pb-c.h"
#include "sm_node.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static int is_marker(const blob *b)
{
    return b && sm_node_is_marker(b->data, b->len);
}

/* The command packed into a blob of exactly its size (ASan sees overruns). */
static blob *pack(const Lms__Command *cmd)
{
    size_t n = lms__command__get_packed_size(cmd);
    blob *b = blob_new(n);
    assert_non_null(b);
    lms__command__pack(cmd, b->data);
    return b;
}

static void a_marker_is_found(void **state)
{
    (void)state;
    Lms__Command cmd = LMS__COMMAND__INIT;
    Lms__CmdVerify v = LMS__CMD_VERIFY__INIT;
    cmd.client_id = 12345678901ull;
    cmd.seq = 300;
    cmd.time = 1700000000000;
    cmd.actor = (char *)"root";
    cmd.body_case = LMS__COMMAND__BODY_VERIFY;
    cmd.verify = &v;
    blob *b = pack(&cmd);
    assert_true(is_marker(b));
    blob_unref(b);
}

static void other_commands_are_not(void **state)
{
    (void)state;
    /* An upload whose file bytes and title hold what a field 29 tag
     * (0xea 0x01) and a length look like. */
    static const uint8_t body[] = {0xea, 0x01, 0x00, 0xea, 0x01, 0x02, 'x', 'y'};
    Lms__Command cmd = LMS__COMMAND__INIT;
    Lms__CmdUploadMaterial up = LMS__CMD_UPLOAD_MATERIAL__INIT;
    up.course = (char *)"CS101";
    up.title = (char *)"\xea\x01";
    up.file_name = (char *)"a.bin";
    up.data.data = (uint8_t *)body;
    up.data.len = sizeof body;
    cmd.actor = (char *)"t";
    cmd.request.data = (uint8_t *)body; /* a request digest's bytes, too */
    cmd.request.len = sizeof body;
    cmd.body_case = LMS__COMMAND__BODY_UPLOAD_MATERIAL;
    cmd.upload_material = &up;
    blob *b = pack(&cmd);
    assert_false(is_marker(b));
    blob_unref(b);
    Lms__CmdNoop noop = LMS__CMD_NOOP__INIT;
    Lms__Command c2 = LMS__COMMAND__INIT;
    c2.body_case = LMS__COMMAND__BODY_NOOP;
    c2.noop = &noop;
    b = pack(&c2);
    assert_false(is_marker(b));
    blob_unref(b);
    assert_false(is_marker(NULL));
}

static void malformed_bytes_are_not_and_stay_in_bounds(void **state)
{
    (void)state;
    Lms__Command cmd = LMS__COMMAND__INIT;
    Lms__CmdVerify v = LMS__CMD_VERIFY__INIT;
    cmd.client_id = 1;
    cmd.actor = (char *)"root";
    cmd.body_case = LMS__COMMAND__BODY_VERIFY;
    cmd.verify = &v;
    blob *whole = pack(&cmd);
    /* every truncation before the marker's tag is complete: no */
    for (size_t n = 1; n + 1 < whole->len; n++) {
        blob *b = blob_copy(whole->data, n);
        assert_false(is_marker(b));
        blob_unref(b);
    }
    blob_unref(whole);
    static const uint8_t bad[][12] = {
        {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
        {0x0b, 0x00},             /* wire type 3 (groups): refused */
        {0x0a, 0x7f, 0x00},       /* a length past the end */
        {0x09, 0x00, 0x00},       /* fixed64 cut short */
        {0xea},                   /* a tag cut short */
    };
    static const size_t lens[] = {12, 2, 3, 3, 1};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        blob *b = blob_copy(bad[i], lens[i]);
        assert_false(is_marker(b));
        blob_unref(b);
    }
    /* random bytes: never a crash, whatever the answer */
    srand(7);
    for (int k = 0; k < 2000; k++) {
        uint8_t buf[64];
        size_t n = (size_t)(rand() % (int)sizeof buf) + 1;
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)rand();
        blob *b = blob_copy(buf, n);
        (void)is_marker(b);
        blob_unref(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_marker_is_found),
        cmocka_unit_test(other_commands_are_not),
        cmocka_unit_test(malformed_bytes_are_not_and_stay_in_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
