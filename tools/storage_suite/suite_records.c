/* SPDX-License-Identifier: MIT */
/*
 * suite_records.c: lmsd's records (storage.h, ABI 1.4) through the
 * plugin's ops: put, get, replace and delete; empty and binary values;
 * the limits, exactly (the longest key and the largest value accepted,
 * one byte more refused, never cut); keys ordered bytewise (0x01, ASCII,
 * UTF-8 and 0xff bytes: memcmp, the shorter first); prefixes (a whole
 * key, LIKE's wildcards taken literally, trailing 0xff bytes); reverse
 * walks and cursors both ways, over more records than a page of any
 * backend; each() stopping the walk; transactions (writes only inside
 * one, rollback discards, a reopen keeps what was committed); readers
 * that see only what was committed; records in snapshots (round trip,
 * digests that follow every byte) and damaged record rows refused.
 */
#include "suite_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

static void rec_put(fixture *fx, const char *key, const void *value,
                    size_t len)
{
    lms_err_clear(&fx->err);
    int rc = fx_ops->record_put(fx->st, key, value, len, &fx->err);
    if (rc != LMS_OK)
        fail_msg("record_put of a key of %zu bytes and a value of %zu "
                 "returned %d: %s", strlen(key), len, rc, fx->err.msg);
}

static void put_str(fixture *fx, const char *key, const char *value)
{
    rec_put(fx, key, value, strlen(value));
}

/* Put each key (value: the key itself) and commit at index. */
static void put_keys(fixture *fx, const char *const *keys, size_t n,
                     uint64_t index)
{
    fx_begin(fx);
    for (size_t i = 0; i < n; i++)
        put_str(fx, keys[i], keys[i]);
    fx_commit(fx, index);
}

/* key printable: ASCII as is, other bytes (and ',' and '\') as \xNN. */
static void show_key(const char *key, char *out, size_t cap)
{
    size_t at = 0;
    for (const unsigned char *p = (const unsigned char *)key;
         *p && at + 5 < cap; p++) {
        if (*p > 0x20 && *p < 0x7f && *p != ',' && *p != '\\')
            out[at++] = (char)*p;
        else
            at += (size_t)snprintf(out + at, cap - at, "\\x%02x", *p);
    }
    out[at] = '\0';
}

/* The keys of a walk as "a,b,c", the last key, and a stop after limit. */
typedef struct walk {
    char out[16384];
    int n;
    int limit; /* stop after this many records; 0: never */
    char last[LMS_RECORD_KEY_MAX + 1];
    int bad_value; /* a record whose value is not its key */
} walk;

static int walk_each(void *arg, const lms_record *r)
{
    walk *w = arg;
    char k[LMS_RECORD_KEY_MAX * 4 + 8];
    show_key(r->key, k, sizeof k);
    size_t at = strlen(w->out);
    snprintf(w->out + at, sizeof w->out - at, "%s%s", w->n ? "," : "", k);
    snprintf(w->last, sizeof w->last, "%s", r->key);
    if (r->value == NULL)
        fail_msg("record '%s' was handed out with value NULL", k);
    w->n++;
    return w->limit && w->n >= w->limit;
}

/* record_list into w (cleared first, limit kept), asserting LMS_OK. */
static void list(fixture *fx, const char *prefix, const char *after,
                 int reverse, walk *w)
{
    int limit = w->limit;
    memset(w, 0, sizeof *w);
    w->limit = limit;
    EXPECT_OK(fx_ops->record_list(fx->st, prefix, after, reverse, walk_each,
                                  w, &fx->err));
}

/* Assert the keys a list call walks. */
static void expect_list(fixture *fx, const char *prefix, const char *after,
                        int reverse, const char *want)
{
    walk w = {0};
    list(fx, prefix, after, reverse, &w);
    if (strcmp(w.out, want) != 0) {
        char p[LMS_RECORD_KEY_MAX * 4 + 8] = "", a[LMS_RECORD_KEY_MAX * 4 + 8] = "";
        show_key(prefix ? prefix : "", p, sizeof p);
        show_key(after ? after : "", a, sizeof a);
        fail_msg("record_list(prefix '%s', after '%s', %s) walked\n"
                 "      '%s'\n      expected\n      '%s'", p, a,
                 reverse ? "reverse" : "forward", w.out, want);
    }
}

/* The value of key, which must exist, compared with want. */
static void expect_rec(fixture *fx, const char *key, const void *want,
                         size_t len)
{
    lms_record r;
    memset(&r, 0, sizeof r);
    EXPECT_OK(fx_ops->record_get(fx->st, key, &r, &fx->err));
    assert_non_null(r.value);
    assert_non_null(r.key);
    assert_string_equal(r.key, key);
    if (r.len != len)
        fail_msg("record_get: a value of %zu bytes, expected %zu", r.len,
                 len);
    if (len)
        assert_memory_equal(r.value, want, len);
}

static void expect_no_rec(fixture *fx, const char *key)
{
    lms_record r;
    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->record_get(fx->st, key, &r, &fx->err));
}

static unsigned char *bytes_of(size_t n, unsigned seed)
{
    unsigned char *p = malloc(n ? n : 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(((i + seed) * 2654435761u) >> 11);
    return p;
}

/* ---- put, get, replace, delete ---- */

static void test_put_get_replace_delete(void **state)
{
    fixture *fx = *state;
    expect_no_rec(fx, "acct/alice");
    fx_begin(fx);
    put_str(fx, "acct/alice", "first");
    expect_rec(fx, "acct/alice", "first", 5); /* its own write */
    put_str(fx, "acct/bob", "b");
    fx_commit(fx, 1);
    expect_rec(fx, "acct/alice", "first", 5);

    fx_begin(fx);
    put_str(fx, "acct/alice", "a longer second value"); /* replaces */
    fx_commit(fx, 2);
    expect_rec(fx, "acct/alice", "a longer second value", 21);
    fx_begin(fx);
    put_str(fx, "acct/alice", "3rd"); /* and shorter again */
    fx_commit(fx, 3);
    expect_rec(fx, "acct/alice", "3rd", 3);
    expect_list(fx, "", NULL, 0, "acct/alice,acct/bob");

    fx_begin(fx);
    EXPECT_OK(fx_ops->record_delete(fx->st, "acct/alice", &fx->err));
    expect_no_rec(fx, "acct/alice");
    /* deleting what is not there is no error (a replayed delete) */
    EXPECT_OK(fx_ops->record_delete(fx->st, "acct/alice", &fx->err));
    EXPECT_OK(fx_ops->record_delete(fx->st, "never/was", &fx->err));
    fx_commit(fx, 4);
    expect_no_rec(fx, "acct/alice");
    lms_record r;
    EXPECT_CODE(LMS_NOT_FOUND,
                fx_ops->record_get(fx->st, "acct/alice", &r, &fx->err));
    EXPECT_MESSAGE(fx->err.msg, "acct/alice");
    expect_rec(fx, "acct/bob", "b", 1);
    expect_list(fx, NULL, NULL, 0, "acct/bob");
    /* put again after a delete */
    fx_begin(fx);
    put_str(fx, "acct/alice", "back");
    fx_commit(fx, 5);
    expect_rec(fx, "acct/alice", "back", 4);
}

/* A value is opaque bytes: empty (value NULL or not), NUL bytes, every
 * byte value, stored and returned byte for byte, also after a reopen. */
static void test_empty_and_binary_values(void **state)
{
    fixture *fx = *state;
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)(255 - i);
    fx_begin(fx);
    rec_put(fx, "empty", "", 0);
    rec_put(fx, "empty/null", NULL, 0);
    rec_put(fx, "nul", "\0\0a\0", 4);
    rec_put(fx, "all", all, sizeof all);
    fx_commit(fx, 1);
    for (int pass = 0; pass < 2; pass++) {
        lms_record r = {.value = NULL, .len = 99};
        EXPECT_OK(fx_ops->record_get(fx->st, "empty", &r, &fx->err));
        assert_int_equal(r.len, 0);
        assert_non_null(r.value); /* never NULL, also when empty */
        EXPECT_OK(fx_ops->record_get(fx->st, "empty/null", &r, &fx->err));
        assert_int_equal(r.len, 0);
        assert_non_null(r.value);
        expect_rec(fx, "nul", "\0\0a\0", 4);
        expect_rec(fx, "all", all, sizeof all);
        expect_list(fx, "empty", NULL, 0, "empty,empty/null");
        EXPECT_OK(fx_reopen(fx));
    }
    /* replacing a value by an empty one, and back */
    fx_begin(fx);
    rec_put(fx, "all", "", 0);
    fx_commit(fx, 2);
    expect_rec(fx, "all", "", 0);
    fx_begin(fx);
    rec_put(fx, "all", all, sizeof all);
    fx_commit(fx, 3);
    expect_rec(fx, "all", all, sizeof all);
}

/* ---- limits ---- */

/* A list callback that counts. */
static int count_each(void *arg, const lms_record *r)
{
    (void)r;
    (*(size_t *)arg)++;
    return 0;
}

static size_t count_records(fixture *fx)
{
    size_t n = 0;
    EXPECT_OK(fx_ops->record_list(fx->st, "", NULL, 0, count_each, &n,
                                  &fx->err));
    return n;
}

/* The longest key and the largest value go in whole; one byte more is
 * INVALID_ARGUMENT, with a message, and stores nothing (never cut). */
static void test_limits_are_exact(void **state)
{
    fixture *fx = *state;
    char key[LMS_RECORD_KEY_MAX + 2];
    memset(key, 'k', sizeof key - 1);
    key[LMS_RECORD_KEY_MAX] = '\0'; /* 255 bytes */
    size_t big = LMS_RECORD_VALUE_MAX;
    unsigned char *value = bytes_of(big + 1, 3);
    lms_record r;
    fx_begin(fx);
    rec_put(fx, key, value, big);
    key[LMS_RECORD_KEY_MAX] = 'k'; /* 256 bytes */
    key[LMS_RECORD_KEY_MAX + 1] = '\0';
    EXPECT_CODE(LMS_INVALID_ARGUMENT,
                fx_ops->record_put(fx->st, key, "v", 1, &fx->err));
    EXPECT_MESSAGE(fx->err.msg, "record_put");
    EXPECT_CODE(LMS_INVALID_ARGUMENT,
                fx_ops->record_get(fx->st, key, &r, &fx->err));
    EXPECT_CODE(LMS_INVALID_ARGUMENT,
                fx_ops->record_delete(fx->st, key, &fx->err));
    EXPECT_CODE(LMS_INVALID_ARGUMENT,
                fx_ops->record_put(fx->st, "big", value, big + 1, &fx->err));
    EXPECT_MESSAGE(fx->err.msg, "record_put");
    EXPECT_CODE(LMS_INVALID_ARGUMENT,
                fx_ops->record_put(fx->st, "", "v", 1, &fx->err));
    EXPECT_CODE(LMS_INVALID_ARGUMENT,
                fx_ops->record_put(fx->st, NULL, "v", 1, &fx->err));
    EXPECT_CODE(LMS_INVALID_ARGUMENT,
                fx_ops->record_get(fx->st, "", &r, &fx->err));
    EXPECT_CODE(LMS_INVALID_ARGUMENT,
                fx_ops->record_delete(fx->st, "", &fx->err));
    EXPECT_CODE(LMS_INVALID_ARGUMENT,
                fx_ops->record_put(fx->st, "nullvalue", NULL, 5, &fx->err));
    size_t n = 0;
    EXPECT_CODE(LMS_INVALID_ARGUMENT,
                fx_ops->record_list(fx->st, key, NULL, 0, count_each, &n,
                                    &fx->err));
    EXPECT_CODE(LMS_INVALID_ARGUMENT,
                fx_ops->record_list(fx->st, "", key, 1, count_each, &n,
                                    &fx->err));
    assert_int_equal(n, 0);
    fx_commit(fx, 1);

    key[LMS_RECORD_KEY_MAX] = '\0';
    expect_rec(fx, key, value, big);
    assert_int_equal(count_records(fx), 1); /* nothing else got in */
    expect_no_rec(fx, "big");
    /* the longest key is a prefix and a cursor like any other */
    expect_list(fx, key, NULL, 0, key);
    expect_list(fx, "", key, 0, "");
    expect_list(fx, "", key, 1, "");
    expect_list(fx, "k", NULL, 1, key);
    /* the largest value is replaced by another one of the same size */
    value[0] ^= 0xff;
    value[big - 1] ^= 0xff;
    fx_begin(fx);
    rec_put(fx, key, value, big);
    fx_commit(fx, 2);
    expect_rec(fx, key, value, big);
    free(value);
}

/* ---- order and prefixes ---- */

/* Keys sort as bytes: 0x01 first, then ASCII by byte ("B" < "a"), a key
 * before its extensions ("a" < "a\x01" < "a " < "ab"), UTF-8 after ASCII
 * in code point order, 0xff last; never by a locale or case. */
static void test_keys_sort_bytewise(void **state)
{
    fixture *fx = *state;
    static const char *const keys[] = {
        "\xff", "ab", "a ", "\xe2\x82\xac", "a", "B", "\x01", "\xc3\xa9",
        "\xff\xff", "a\x01", "\xf0\x9f\x98\x80", "A", "a\x7f", "%", "_",
        "\xc3\xa9t\xc3\xa9", "ba", "\x01\x01",
    };
    put_keys(fx, keys, sizeof keys / sizeof keys[0], 1);
    const char *sorted =
        "\\x01,\\x01\\x01,%,A,B,_,a,a\\x01,a\\x20,ab,a\\x7f,ba,"
        "\\xc3\\xa9,\\xc3\\xa9t\\xc3\\xa9,\\xe2\\x82\\xac,"
        "\\xf0\\x9f\\x98\\x80,\\xff,\\xff\\xff";
    expect_list(fx, "", NULL, 0, sorted);
    expect_list(fx, NULL, NULL, 0, sorted);
    expect_list(fx, "", NULL, 1,
                "\\xff\\xff,\\xff,\\xf0\\x9f\\x98\\x80,\\xe2\\x82\\xac,"
                "\\xc3\\xa9t\\xc3\\xa9,\\xc3\\xa9,ba,a\\x7f,ab,a\\x20,"
                "a\\x01,a,_,B,A,%,\\x01\\x01,\\x01");
    /* each is its own record: "a" and "a " and "A" are three */
    expect_rec(fx, "a", "a", 1);
    expect_rec(fx, "a ", "a ", 2);
    expect_rec(fx, "A", "A", 1);
    expect_no_rec(fx, "b");
}

static void test_prefix_lists(void **state)
{
    fixture *fx = *state;
    char longest[LMS_RECORD_KEY_MAX + 1];
    memset(longest, 0xff, LMS_RECORD_KEY_MAX);
    longest[LMS_RECORD_KEY_MAX] = '\0';
    const char *keys[] = {
        "ann/CS101", "ann/CS101/1", "ann/CS101/2", "ann/CS1010/1",
        "ann/CS10", "ann/CS102/x", "ann0", "ann", "anm",
        "a%b", "axb", "a_c", "abc",
        "p", "p\xfe\xff", "p\xff", "p\xff\x01", "p\xff\xff",
        "p\xff\xff\xff", "q", "\xff", "\xff\xff", longest,
    };
    put_keys(fx, keys, sizeof keys / sizeof keys[0], 1);
    /* a prefix that is a whole key: that key first, then its extensions */
    expect_list(fx, "ann/CS101", NULL, 0,
                "ann/CS101,ann/CS101/1,ann/CS101/2,ann/CS1010/1");
    expect_list(fx, "ann/CS101/", NULL, 0, "ann/CS101/1,ann/CS101/2");
    expect_list(fx, "ann/CS101/", NULL, 1, "ann/CS101/2,ann/CS101/1");
    expect_list(fx, "ann", NULL, 0,
                "ann,ann/CS10,ann/CS101,ann/CS101/1,ann/CS101/2,"
                "ann/CS1010/1,ann/CS102/x,ann0");
    expect_list(fx, "ann/CS101/3", NULL, 0, "");
    expect_list(fx, "ann/CS101/1/more", NULL, 0, "");
    /* LIKE's wildcards are bytes like any other */
    expect_list(fx, "a%", NULL, 0, "a%b");
    expect_list(fx, "a_", NULL, 0, "a_c");
    expect_list(fx, "a", NULL, 0, "a%b,a_c,abc,anm,ann,ann/CS10,ann/CS101,"
                "ann/CS101/1,ann/CS101/2,ann/CS1010/1,ann/CS102/x,ann0,axb");
    /* prefixes that end in 0xff bytes */
    expect_list(fx, "p\xff", NULL, 0,
                "p\\xff,p\\xff\\x01,p\\xff\\xff,p\\xff\\xff\\xff");
    expect_list(fx, "p\xff", NULL, 1,
                "p\\xff\\xff\\xff,p\\xff\\xff,p\\xff\\x01,p\\xff");
    expect_list(fx, "p\xff\xff", NULL, 0, "p\\xff\\xff,p\\xff\\xff\\xff");
    expect_list(fx, "p\xfe", NULL, 0, "p\\xfe\\xff");
    expect_list(fx, "p", NULL, 0,
                "p,p\\xfe\\xff,p\\xff,p\\xff\\x01,p\\xff\\xff,"
                "p\\xff\\xff\\xff");
    /* and of nothing but 0xff: up to the last key there can be */
    char want[LMS_RECORD_KEY_MAX * 4 + 64];
    char lk[LMS_RECORD_KEY_MAX * 4 + 8];
    show_key(longest, lk, sizeof lk);
    snprintf(want, sizeof want, "\\xff,\\xff\\xff,%s", lk);
    expect_list(fx, "\xff", NULL, 0, want);
    snprintf(want, sizeof want, "\\xff\\xff,%s", lk);
    expect_list(fx, "\xff\xff", NULL, 0, want);
    expect_list(fx, longest, NULL, 0, lk);
    snprintf(want, sizeof want, "%s,\\xff\\xff,\\xff", lk);
    expect_list(fx, "\xff", NULL, 1, want);
    walk w = {0};
    list(fx, "", NULL, 0, &w);
    assert_int_equal(w.n, sizeof keys / sizeof keys[0]);
    assert_string_equal(w.last, longest); /* the last of all */
    list(fx, "", NULL, 1, &w);
    assert_string_equal(w.last, "a%b"); /* reversed: the first of all */
}

/* ---- reverse and cursors ---- */

static void test_reverse_and_cursor(void **state)
{
    fixture *fx = *state;
    static const char *const keys[] = {
        "j", "k01", "k02", "k03", "k04", "k05", "k06", "k07", "k08",
        "k09", "k10", "l",
    };
    put_keys(fx, keys, sizeof keys / sizeof keys[0], 1);
    const char *all = "k01,k02,k03,k04,k05,k06,k07,k08,k09,k10";
    expect_list(fx, "k", NULL, 0, all);
    expect_list(fx, "k", "", 0, all); /* "" is no cursor */
    expect_list(fx, "k", NULL, 1, "k10,k09,k08,k07,k06,k05,k04,k03,k02,k01");
    expect_list(fx, "k", "", 1, "k10,k09,k08,k07,k06,k05,k04,k03,k02,k01");
    /* strictly after a key that is there, or one that is not */
    expect_list(fx, "k", "k03", 0, "k04,k05,k06,k07,k08,k09,k10");
    expect_list(fx, "k", "k035", 0, "k04,k05,k06,k07,k08,k09,k10");
    expect_list(fx, "k", "k10", 0, "");
    expect_list(fx, "k", "k0", 0, all);
    /* a cursor outside the prefix's keys */
    expect_list(fx, "k", "a", 0, all);
    expect_list(fx, "k", "j", 0, all);
    expect_list(fx, "k", "z", 0, "");
    /* strictly before, walking backwards */
    expect_list(fx, "k", "k08", 1, "k07,k06,k05,k04,k03,k02,k01");
    expect_list(fx, "k", "k075", 1, "k07,k06,k05,k04,k03,k02,k01");
    expect_list(fx, "k", "k01", 1, "");
    expect_list(fx, "k", "k", 1, "");
    expect_list(fx, "k", "a", 1, "");
    expect_list(fx, "k", "l", 1, "k10,k09,k08,k07,k06,k05,k04,k03,k02,k01");
    expect_list(fx, "k", "k\xff", 1,
                "k10,k09,k08,k07,k06,k05,k04,k03,k02,k01");
    /* without a prefix */
    expect_list(fx, "", "k09", 0, "k10,l");
    expect_list(fx, "", "k02", 1, "k01,j");
    expect_list(fx, NULL, "j", 1, "");
}

/* Walk prefix page by page, each page page records after the last key of
 * the one before (what a client's "more" does), into w. */
static void walk_pages(fixture *fx, const char *prefix, int reverse,
                       int page, walk *all)
{
    memset(all, 0, sizeof *all);
    char after[LMS_RECORD_KEY_MAX + 1] = "";
    for (int pages = 0;; pages++) {
        if (pages > 1000)
            fail_msg("paging never ended");
        walk w = {.limit = page};
        list(fx, prefix, after, reverse, &w);
        if (w.n > 0) {
            size_t at = strlen(all->out);
            snprintf(all->out + at, sizeof all->out - at, "%s%s",
                     all->n ? "," : "", w.out);
            all->n += w.n;
            snprintf(after, sizeof after, "%s", w.last);
        }
        if (w.n < page)
            return;
    }
}

/* More records than a backend's page (storage_mysql reads 64 at a time):
 * whole walks, walks stopped on a later page, and cursor pages, both
 * ways. */
static void test_walks_over_many_records(void **state)
{
    fixture *fx = *state;
    enum { N = 150 };
    fx_begin(fx);
    for (int i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof key, "item/%03d", i);
        put_str(fx, key, key);
    }
    put_str(fx, "item", "item");
    put_str(fx, "iteml", "iteml");
    put_str(fx, "itel", "itel");
    fx_commit(fx, 1);
    char fwd[N * 10], rev[N * 10];
    size_t fa = 0, ra = 0;
    for (int i = 0; i < N; i++) {
        fa += (size_t)snprintf(fwd + fa, sizeof fwd - fa, "%sitem/%03d",
                               i ? "," : "", i);
        ra += (size_t)snprintf(rev + ra, sizeof rev - ra, "%sitem/%03d",
                               i ? "," : "", N - 1 - i);
    }
    expect_list(fx, "item/", NULL, 0, fwd);
    expect_list(fx, "item/", NULL, 1, rev);
    walk w = {.limit = 100};
    list(fx, "item/", NULL, 0, &w);
    assert_int_equal(w.n, 100);
    assert_string_equal(w.last, "item/099");
    w.limit = 70;
    list(fx, "item/", NULL, 1, &w);
    assert_int_equal(w.n, 70);
    assert_string_equal(w.last, "item/080");
    int pages[] = {1, 7, 64, 65, 149, 150, 151};
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        walk_pages(fx, "item/", 0, pages[i], &w);
        if (strcmp(w.out, fwd) != 0)
            fail_msg("pages of %d forward walked '%.80s...'", pages[i],
                     w.out);
        walk_pages(fx, "item/", 1, pages[i], &w);
        if (strcmp(w.out, rev) != 0)
            fail_msg("pages of %d backwards walked '%.80s...'", pages[i],
                     w.out);
    }
    walk_pages(fx, "", 0, 64, &w);
    assert_int_equal(w.n, N + 3);
}

/* each() returning nonzero stops the walk at once, and the call says
 * LMS_OK. */
static void test_each_stops_the_walk(void **state)
{
    fixture *fx = *state;
    static const char *const keys[] = {"a", "b", "c", "d", "e", "f"};
    put_keys(fx, keys, 6, 1);
    for (int limit = 1; limit <= 6; limit++) {
        walk w = {.limit = limit};
        list(fx, "", NULL, 0, &w);
        assert_int_equal(w.n, limit);
        assert_string_equal(w.last, keys[limit - 1]);
        w.limit = limit;
        list(fx, "", NULL, 1, &w);
        assert_int_equal(w.n, limit);
        assert_string_equal(w.last, keys[6 - limit]);
    }
    walk w = {.limit = 2};
    list(fx, "", "b", 0, &w);
    assert_string_equal(w.out, "c,d");
}

/* ---- transactions and readers ---- */

static void test_writes_need_a_transaction(void **state)
{
    fixture *fx = *state;
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->record_put(fx->st, "k", "v", 1, &fx->err));
    EXPECT_MESSAGE(fx->err.msg, "record_put");
    EXPECT_MESSAGE(fx->err.msg, "begin");
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->record_delete(fx->st, "k", &fx->err));
    EXPECT_MESSAGE(fx->err.msg, "record_delete");
    expect_no_rec(fx, "k");
    assert_int_equal(count_records(fx), 0);
}

/* What a rolled-back transaction put, replaced or deleted is as it was,
 * also after a reopen; what was committed stays. */
static void test_rollback_discards_records(void **state)
{
    fixture *fx = *state;
    fx_begin(fx);
    put_str(fx, "keep", "old");
    put_str(fx, "gone", "still here");
    fx_commit(fx, 1);

    fx_begin(fx);
    put_str(fx, "keep", "new");
    put_str(fx, "fresh", "f");
    EXPECT_OK(fx_ops->record_delete(fx->st, "gone", &fx->err));
    expect_rec(fx, "keep", "new", 3); /* read (and cached) inside it */
    expect_rec(fx, "fresh", "f", 1);
    expect_no_rec(fx, "gone");
    expect_list(fx, "", NULL, 0, "fresh,keep");
    EXPECT_OK(fx_ops->rollback(fx->st, &fx->err));

    expect_rec(fx, "keep", "old", 3);
    expect_no_rec(fx, "fresh");
    expect_rec(fx, "gone", "still here", 10);
    expect_list(fx, "", NULL, 0, "gone,keep");
    assert_int_equal(fx_applied(fx), 1);

    /* an open transaction lost with the process (a close) likewise */
    fx_begin(fx);
    put_str(fx, "keep", "lost");
    put_str(fx, "lost", "x");
    EXPECT_OK(fx_reopen(fx));
    expect_rec(fx, "keep", "old", 3);
    expect_no_rec(fx, "lost");
    expect_list(fx, "", NULL, 0, "gone,keep");
}

static void *open_reader(fixture *fx)
{
    void *rd = NULL;
    lms_err_clear(&fx->err);
    int rc = fx_ops->reader_open(fx->st, &rd, &fx->err);
    if (rc == LMS_UNIMPLEMENTED) /* storage.h: lmsd reads on the instance */
        skip();
    if (rc != LMS_OK)
        fail_msg("reader_open returned %d: %s", rc, fx->err.msg);
    assert_non_null(rd);
    return rd;
}

/* Keys of a list on inst (a reader) as "a,b". */
static void reader_list(fixture *fx, void *inst, const char *want)
{
    walk w = {0};
    EXPECT_OK(fx_ops->record_list(inst, "", NULL, 0, walk_each, &w,
                                  &fx->err));
    if (strcmp(w.out, want) != 0)
        fail_msg("the reader listed '%s', expected '%s'", w.out, want);
}

/* A reader sees committed records only, its read transaction's view
 * stays fixed while the writer commits, and it cannot write. */
static void test_a_reader_sees_only_committed_records(void **state)
{
    fixture *fx = *state;
    void *rd = open_reader(fx);
    lms_record r;
    fx_begin(fx);
    put_str(fx, "r/1", "one");
    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->record_get(rd, "r/1", &r, &fx->err));
    reader_list(fx, rd, "");
    fx_commit(fx, 1);
    EXPECT_OK(fx_ops->record_get(rd, "r/1", &r, &fx->err));
    assert_int_equal(r.len, 3);
    assert_memory_equal(r.value, "one", 3);
    reader_list(fx, rd, "r/1");

    /* a read transaction keeps its view */
    EXPECT_OK(fx_ops->begin(rd, &fx->err));
    reader_list(fx, rd, "r/1");
    fx_begin(fx);
    put_str(fx, "r/1", "changed");
    put_str(fx, "r/2", "two");
    fx_commit(fx, 2);
    EXPECT_OK(fx_ops->record_get(rd, "r/1", &r, &fx->err));
    assert_int_equal(r.len, 3);
    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->record_get(rd, "r/2", &r, &fx->err));
    reader_list(fx, rd, "r/1");
    EXPECT_OK(fx_ops->rollback(rd, &fx->err));
    reader_list(fx, rd, "r/1,r/2");
    EXPECT_OK(fx_ops->record_get(rd, "r/1", &r, &fx->err));
    assert_int_equal(r.len, 7);

    /* a rolled-back change never shows */
    fx_begin(fx);
    put_str(fx, "r/3", "never");
    EXPECT_OK(fx_ops->rollback(fx->st, &fx->err));
    EXPECT_CODE(LMS_NOT_FOUND, fx_ops->record_get(rd, "r/3", &r, &fx->err));

    /* and a reader cannot write, in a transaction or not */
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->record_put(rd, "r/4", "x", 1, &fx->err));
    EXPECT_MESSAGE(fx->err.msg, "reader cannot write");
    EXPECT_OK(fx_ops->begin(rd, &fx->err));
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->record_put(rd, "r/4", "x", 1, &fx->err));
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->record_delete(rd, "r/1", &fx->err));
    EXPECT_OK(fx_ops->rollback(rd, &fx->err));
    fx_ops->reader_close(rd);
    expect_list(fx, "", NULL, 0, "r/1,r/2");
}

/* A reader walking more records than a page, outside a read transaction,
 * while the writer commits between its pages (from inside each()): one
 * state, the one the walk started from. */
typedef struct commit_midway {
    fixture *fx;
    walk w;
    int committed;
} commit_midway;

static int commit_midway_each(void *arg, const lms_record *r)
{
    commit_midway *c = arg;
    walk_each(&c->w, r);
    if (c->w.n == 10 && !c->committed) {
        c->committed = 1;
        fixture *fx = c->fx;
        fx_begin(fx);
        EXPECT_OK(fx_ops->record_delete(fx->st, "m/199", &fx->err));
        put_str(fx, "m/200", "new");
        fx_commit(fx, 2);
    }
    return 0;
}

static void test_a_reader_lists_one_state(void **state)
{
    fixture *fx = *state;
    fx_begin(fx);
    for (int i = 0; i < 200; i++) {
        char key[16];
        snprintf(key, sizeof key, "m/%03d", i);
        put_str(fx, key, "v");
    }
    fx_commit(fx, 1);
    void *rd = open_reader(fx);
    commit_midway c = {.fx = fx};
    EXPECT_OK(fx_ops->record_list(rd, "m/", NULL, 0, commit_midway_each, &c,
                                  &fx->err));
    assert_int_equal(c.committed, 1);
    assert_int_equal(c.w.n, 200);
    assert_string_equal(c.w.last, "m/199");
    walk w = {0};
    EXPECT_OK(fx_ops->record_list(rd, "m/", NULL, 1, walk_each, &w,
                                  &fx->err));
    assert_int_equal(w.n, 200);
    assert_string_equal(w.last, "m/000");
    fx_ops->reader_close(rd);
}

/* Before migrate() the records are refused like everything else. */
static void test_records_refused_before_migrate(void **state)
{
    fixture *outer = *state, raw;
    fx_open_store(&raw, 2, 0);
    fixture *fx = &raw;
    lms_record r;
    size_t n = 0;
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->record_get(fx->st, "k", &r, &fx->err));
    EXPECT_MESSAGE(fx->err.msg, "migrate");
    EXPECT_CODE(LMS_FAILED_PRECONDITION,
                fx_ops->record_list(fx->st, "", NULL, 0, count_each, &n,
                                    &fx->err));
    EXPECT_MESSAGE(fx->err.msg, "migrate");
    assert_int_equal(n, 0);
    EXPECT_OK(fx_ops->migrate(fx->st, NULL, &fx->err));
    EXPECT_CODE(LMS_NOT_FOUND,
                fx_ops->record_get(fx->st, "k", &r, &fx->err));
    (void)outer;
    fx_close_other(&raw);
}

/* ---- snapshots ---- */

typedef struct membuf {
    unsigned char *p;
    size_t len, cap, pos;
} membuf;

static int mem_write(void *arg, const void *buf, size_t len)
{
    membuf *m = arg;
    if (m->len + len > m->cap) {
        m->cap = (m->len + len) * 2;
        m->p = realloc(m->p, m->cap);
        assert_non_null(m->p);
    }
    memcpy(m->p + m->len, buf, len);
    m->len += len;
    return 0;
}

static int mem_read(void *arg, void *buf, size_t len)
{
    membuf *m = arg;
    if (len > m->len - m->pos)
        return -1;
    memcpy(buf, m->p + m->pos, len);
    m->pos += len;
    return 0;
}

static void snap(fixture *fx, uint64_t index, membuf *m,
                 uint8_t digest[LMS_SHA256_LEN])
{
    static const unsigned char conf[] = {7, 7};
    lms_snapshot_header h = {.index = index, .term = 2, .config = conf,
                             .config_len = sizeof conf, .created = 1};
    EXPECT_OK(fx_ops->snapshot_write(fx->st, &h, mem_write, m, digest,
                                     &fx->err));
}

/* The records of a store: the largest value, the longest key, binary and
 * empty values, into a fresh store by snapshot: the same records, the
 * same digest, the same bytes; and the digest follows every byte of a
 * key or a value. */
static void test_records_travel_in_snapshots(void **state)
{
    fixture *fx = *state, b;
    char longest[LMS_RECORD_KEY_MAX + 1];
    memset(longest, 0xff, LMS_RECORD_KEY_MAX);
    longest[LMS_RECORD_KEY_MAX] = '\0';
    unsigned char *big = bytes_of(LMS_RECORD_VALUE_MAX, 9);
    fx_begin(fx);
    rec_put(fx, "acct/\x01", "\0\1\2", 3);
    rec_put(fx, "ann/CS101/00000000000000000042", big, LMS_RECORD_VALUE_MAX);
    rec_put(fx, "empty", "", 0);
    rec_put(fx, "\xc3\xa9", "\xff", 1);
    rec_put(fx, longest, "last", 4);
    fx_commit(fx, 9);
    uint8_t d1[LMS_SHA256_LEN], d2[LMS_SHA256_LEN], d3[LMS_SHA256_LEN];
    membuf m1 = {0}, m2 = {0}, m3 = {0};
    snap(fx, 9, &m1, d1);
    fx_open_other(&b, 2);
    fx_begin(&b);
    fixture *outer = fx;
    fx = &b;
    put_str(fx, "stale", "goes"); /* replaced by the snapshot's state */
    fx_commit(fx, 3);
    lms_snapshot_header out;
    EXPECT_OK(fx_ops->snapshot_read(b.st, mem_read, &m1, &out, &b.err));
    expect_no_rec(fx, "stale");
    expect_rec(fx, "ann/CS101/00000000000000000042", big,
                 LMS_RECORD_VALUE_MAX);
    expect_rec(fx, "empty", "", 0);
    expect_rec(fx, longest, "last", 4);
    fx = outer;
    fx_expect_same_state(fx, &b);
    snap(&b, 9, &m2, d2);
    assert_memory_equal(d1, d2, LMS_SHA256_LEN);
    assert_int_equal(m1.len, m2.len);
    assert_memory_equal(m1.p, m2.p, m1.len);

    /* one byte of a value, then of a key, changes the digest */
    fx_begin(fx);
    rec_put(fx, "\xc3\xa9", "\xfe", 1);
    fx_commit(fx, 9);
    snap(fx, 9, &m3, d3);
    assert_memory_not_equal(d1, d3, LMS_SHA256_LEN);
    fx_begin(fx);
    rec_put(fx, "\xc3\xa9", "\xff", 1);
    fx_commit(fx, 9);
    m3.len = 0;
    snap(fx, 9, &m3, d3);
    assert_memory_equal(d1, d3, LMS_SHA256_LEN); /* back as it was */
    fx_begin(fx);
    EXPECT_OK(fx_ops->record_delete(fx->st, "\xc3\xa9", &fx->err));
    rec_put(fx, "\xc3\xaa", "\xff", 1);
    fx_commit(fx, 9);
    m3.len = 0;
    snap(fx, 9, &m3, d3);
    assert_memory_not_equal(d1, d3, LMS_SHA256_LEN);

    /* a snapshot without records empties the records of a store */
    fixture c;
    fx_open_other(&c, 3);
    fx_begin(&c);
    fx_commit(&c, 4);
    membuf m4 = {0};
    uint8_t d4[LMS_SHA256_LEN];
    snap(&c, 4, &m4, d4);
    EXPECT_OK(fx_ops->snapshot_read(b.st, mem_read, &m4, &out, &b.err));
    walk w = {0};
    EXPECT_OK(fx_ops->record_list(b.st, "", NULL, 0, walk_each, &w,
                                  &b.err));
    assert_int_equal(w.n, 0);
    fx_close_other(&c);
    fx_close_other(&b);
    free(big);
    free(m1.p);
    free(m2.p);
    free(m3.p);
    free(m4.p);
}

/* The frames of a stream whose body is a record row (Record field 17,
 * length-delimited: tag bytes 0x8a 0x01): their offsets into at[]. */
static size_t record_frames(const membuf *m, size_t *at, size_t cap)
{
    size_t off = 0, n = 0;
    while (off + 6 <= m->len) {
        size_t len = (size_t)m->p[off] << 24 | (size_t)m->p[off + 1] << 16 |
                     (size_t)m->p[off + 2] << 8 | m->p[off + 3];
        if (m->p[off + 4] == 0x8a && m->p[off + 5] == 0x01 && n < cap)
            at[n++] = off;
        off += 4 + len;
    }
    assert_int_equal(off, m->len);
    return n;
}

/* Feed b the stream in p and expect DATA_LOSS, b's records and applied
 * index untouched. */
static void expect_refused(fixture *b, const membuf *bad, const char *what,
                           const char *needle)
{
    fixture *fx = b; /* for EXPECT_OK */
    walk before = {0}, after = {0};
    EXPECT_OK(fx_ops->record_list(b->st, "", NULL, 0, walk_each, &before,
                                  &b->err));
    uint64_t applied = fx_applied(b);
    membuf m = {.p = bad->p, .len = bad->len};
    lms_snapshot_header out;
    lms_err_clear(&b->err);
    int rc = fx_ops->snapshot_read(b->st, mem_read, &m, &out, &b->err);
    if (rc != LMS_DATA_LOSS)
        fail_msg("%s: snapshot_read returned %d, expected LMS_DATA_LOSS "
                 "(%s)", what, rc, b->err.msg);
    EXPECT_MESSAGE(b->err.msg, needle);
    EXPECT_OK(fx_ops->record_list(b->st, "", NULL, 0, walk_each, &after,
                                  &b->err));
    assert_string_equal(before.out, after.out);
    assert_int_equal(fx_applied(b), applied);
}

/* Record rows out of key order, a key twice, a key with a NUL byte: not a
 * canonical stream, refused as damaged (whatever the digest says). */
static void test_damaged_record_rows_are_refused(void **state)
{
    fixture *fx = *state, b;
    fx_begin(fx);
    put_str(fx, "rec/a", "1");
    put_str(fx, "rec/b", "2");
    put_str(fx, "rec/c", "3");
    fx_commit(fx, 5);
    membuf m = {0};
    uint8_t d[LMS_SHA256_LEN];
    snap(fx, 5, &m, d);
    size_t at[8];
    assert_int_equal(record_frames(&m, at, 8), 3);
    size_t flen = at[1] - at[0];
    assert_int_equal(at[2] - at[1], flen); /* equal frames */
    fx_open_other(&b, 2);
    fx_begin(&b);
    EXPECT_OK(fx_ops->record_put(b.st, "old", "o", 1, &b.err));
    fx_commit(&b, 2);

    membuf bad = {.p = malloc(m.len), .len = m.len};
    assert_non_null(bad.p);
    unsigned char *tmp = malloc(flen);
    assert_non_null(tmp);
    /* b before a */
    memcpy(bad.p, m.p, m.len);
    memcpy(tmp, bad.p + at[0], flen);
    memcpy(bad.p + at[0], bad.p + at[1], flen);
    memcpy(bad.p + at[1], tmp, flen);
    expect_refused(&b, &bad, "rows swapped", "out of order");
    /* a twice */
    memcpy(bad.p, m.p, m.len);
    memcpy(bad.p + at[1], bad.p + at[0], flen);
    expect_refused(&b, &bad, "a key twice", "out of order");
    /* frame: len(4) 8a 01 len 0a 05 r e c / a 12 01 '1': the key's last
     * byte made a NUL */
    memcpy(bad.p, m.p, m.len);
    assert_int_equal(bad.p[at[0] + 7], 0x0a);
    assert_int_equal(bad.p[at[0] + 8], 5);
    assert_int_equal(bad.p[at[0] + 13], 'a');
    bad.p[at[0] + 13] = '\0';
    expect_refused(&b, &bad, "a NUL in a key", "NUL");
    /* the intact stream goes in */
    membuf good = {.p = m.p, .len = m.len};
    lms_snapshot_header out;
    EXPECT_OK(fx_ops->snapshot_read(b.st, mem_read, &good, &out, &b.err));
    fx_expect_same_state(fx, &b);
    fx_close_other(&b);
    free(tmp);
    free(bad.p);
    free(m.p);
}

int suite_record_tests(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
        T(test_put_get_replace_delete),
        T(test_empty_and_binary_values),
        T(test_limits_are_exact),
        T(test_keys_sort_bytewise),
        T(test_prefix_lists),
        T(test_reverse_and_cursor),
        T(test_walks_over_many_records),
        T(test_each_stops_the_walk),
        T(test_writes_need_a_transaction),
        T(test_rollback_discards_records),
        T(test_a_reader_sees_only_committed_records),
        T(test_a_reader_lists_one_state),
        T(test_records_refused_before_migrate),
        T(test_records_travel_in_snapshots),
        T(test_damaged_record_rows_are_refused),
#undef T
    };
    return cmocka_run_group_tests_name("storage suite: records", tests, NULL,
                                       NULL);
}
