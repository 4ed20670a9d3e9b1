/* SPDX-License-Identifier: MIT */
/*
 * fuzz_request.c: a client frame's body as lmsd takes it
 * (dispatch_on_frame): lms.Request decoded, its handler looked up, the
 * session token hashed; the decoded request must encode again to a
 * message that decodes the same (when it decodes). The same bytes also go through the
 * lms.Command decoder, which every member runs on the log entries it
 * applies (node_apply.c). What a handler then does needs a live node and
 * a store, which the e2e tests cover.
 */
#include "fuzz.h"

#include "client.pb-c.h"
#include "command.pb-c.h"
#include "dispatch.h"
#include "handlers.h"
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

static void request(const uint8_t *data, size_t size)
{
    Lms__Request *msg = lms__request__unpack(NULL, size, data);
    if (!msg)
        return;
    const handler *h = handler_find(msg->body_case);
    FUZZ_CHECK(!h || h->body == msg->body_case, "handler_find: wrong handler");
    FUZZ_CHECK(msg->body_case != LMS__REQUEST__BODY__NOT_SET || !h,
               "a handler for a request without a body");
    uint8_t hash[32];
    dispatch_token_hash(msg->token, hash);
    (void)utf8_valid(msg->token, strlen(msg->token));

    size_t n = lms__request__get_packed_size(msg);
    uint8_t *buf = malloc(n ? n : 1);
    FUZZ_CHECK(buf, "out of memory");
    FUZZ_CHECK(lms__request__pack(msg, buf) == n, "packed size differs");
    /* Not every re-encoding decodes: protobuf-c keeps an unknown field
     * of number 0 read from a long tag ("80 00") and writes it back as
     * "00", which it then refuses (regress/request/field-zero). lmsd
     * never decodes what it encoded from a client's request. */
    Lms__Request *again = lms__request__unpack(NULL, n, buf);
    if (!again) {
        free(buf);
        lms__request__free_unpacked(msg, NULL);
        return;
    }
    FUZZ_CHECK(again->id == msg->id && again->seq == msg->seq &&
                   again->client_id == msg->client_id &&
                   again->body_case == msg->body_case &&
                   strcmp(again->token, msg->token) == 0,
               "a re-encoded request decodes differently");
    FUZZ_CHECK(lms__request__get_packed_size(again) == n,
               "re-encoding is not stable");
    lms__request__free_unpacked(again, NULL);
    free(buf);
    lms__request__free_unpacked(msg, NULL);
}

static void command(const uint8_t *data, size_t size)
{
    Lms__Command *cmd = lms__command__unpack(NULL, size, data);
    if (!cmd)
        return;
    size_t n = lms__command__get_packed_size(cmd);
    uint8_t *buf = malloc(n ? n : 1);
    FUZZ_CHECK(buf, "out of memory");
    FUZZ_CHECK(lms__command__pack(cmd, buf) == n, "packed size differs");
    Lms__Command *again = lms__command__unpack(NULL, n, buf);
    if (again) /* not always: see request() */
        lms__command__free_unpacked(again, NULL);
    free(buf);
    lms__command__free_unpacked(cmd, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    request(data, size);
    command(data, size);
    return 0;
}
