/* SPDX-License-Identifier: MIT */
/*
 * test_client_requests.c: every request kind of client.proto is sorted into
 * read or write by the client library (lms_request_kind), so that a new
 * write cannot go out without the client id and sequence number that make
 * its retries exactly-once (found by review: passwd, reset-password and
 * set-user-enabled were sent as reads).
 */
#include "lmsclient.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

static void every_request_kind_is_classified(void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *d = &lms__request__descriptor;
    size_t kinds = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
            continue;
        kinds++;
        if (lms_request_kind((Lms__Request__BodyCase)f->id) == LMS_REQUEST_UNCLASSIFIED)
            fail_msg("request %s (field %u) is neither a read nor a write in "
                     "lms_request_kind (clients/lmsclient.c)",
                     f->name, f->id);
    }
    assert_true(kinds > 30);
}

static void known_kinds(void **state)
{
    (void)state;
    assert_true(lms_request_is_write(LMS__REQUEST__BODY_GRADE));
    assert_true(lms_request_is_write(LMS__REQUEST__BODY_CHANGE_PASSWORD));
    assert_false(lms_request_is_write(LMS__REQUEST__BODY_LIST_GRADES));
    assert_int_equal(lms_request_kind(LMS__REQUEST__BODY__NOT_SET), LMS_REQUEST_UNCLASSIFIED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_request_kind_is_classified),
        cmocka_unit_test(known_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
