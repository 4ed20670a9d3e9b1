/* SPDX-License-Identifier: MIT */
/*
 * test_cluster_ca.c: the pure checks of `lms-admin cluster-ca`
 * (clients/cluster_ca.c): which cluster ids, node ids and hosts may go into
 * a node's certificate, and the URI that names a member. The files and the
 * certificates themselves are tested end to end (tests/e2e/test_cluster_ca.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cluster_ca.h"

static void cluster_ids(void **state)
{
    char err[512], long_ok[65], too_long[66];
    memset(long_ok, 'x', 64);
    long_ok[64] = '\0';
    memset(too_long, 'x', 65);
    too_long[65] = '\0';
    static const char *const good[] = {"lms", "prod-1", "a", "A.b_c~!$&'()*+,;=[]"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (lms_ca_check_cluster_id(good[i], err, sizeof err) != 0)
            fail_msg("cluster id '%s' refused: %s", good[i], err);
    assert_int_equal(lms_ca_check_cluster_id(long_ok, err, sizeof err), 0);

    static const struct {
        const char *id, *why;
    } bad[] = {
        {"", "1 to 64"},         {"a/b", "'/' is not allowed"}, {"a%b", "'%'"},
        {"a?b", "'?'"},          {"a#b", "'#'"},                {"a@b", "'@'"},
        {"a:b", "':'"},          {"a b", "a space"},            {"a\tb", "0x09"},
        {"a\x7f", "0x7f"},       {"caf\xc3\xa9", "not printable ASCII"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (lms_ca_check_cluster_id(bad[i].id, err, sizeof err) == 0)
            fail_msg("cluster id '%s' accepted", bad[i].id);
        if (strstr(err, bad[i].why) == NULL)
            fail_msg("cluster id '%s': expected '%s' in '%s'", bad[i].id, bad[i].why, err);
    }
    assert_int_equal(lms_ca_check_cluster_id(too_long, err, sizeof err), -1);
    assert_non_null(strstr(err, "got 65"));
}

static void node_ids(void **state)
{
    char err[512];
    uint64_t id = 0;
    assert_int_equal(lms_ca_parse_node_id("1", &id, err, sizeof err), 0);
    assert_int_equal(id, 1);
    assert_int_equal(lms_ca_parse_node_id("0042", &id, err, sizeof err), 0);
    assert_int_equal(id, 42);
    assert_int_equal(lms_ca_parse_node_id("9223372036854775807", &id, err, sizeof err), 0);
    assert_true(id == (uint64_t)INT64_MAX);

    static const struct {
        const char *text, *why;
    } bad[] = {
        {"0", "start at 1"},
        {"000", "start at 1"},
        {"", "digits only"},
        {"-1", "digits only"},
        {"+1", "digits only"},
        {" 1", "digits only"},
        {"1 ", "digits only"},
        {"1x", "digits only"},
        {"0x1", "digits only"},
        {"9223372036854775808", "too large"},
        {"18446744073709551616", "too large"},
        {"99999999999999999999999999", "too large"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        id = 77;
        err[0] = '\0';
        if (lms_ca_parse_node_id(bad[i].text, &id, err, sizeof err) == 0)
            fail_msg("node id '%s' accepted as %llu", bad[i].text, (unsigned long long)id);
        if (strstr(err, bad[i].why) == NULL)
            fail_msg("node id '%s': expected '%s' in '%s'", bad[i].text, bad[i].why, err);
        assert_int_equal(id, 77);
    }
}

static void hosts(void **state)
{
    char err[512], name253[254], name254[255];
    int ip = -1;
    /* 63-character labels joined by dots: 253 characters in all */
    memset(name253, 'a', 253);
    for (size_t i = 63; i < 253; i += 64)
        name253[i] = '.';
    name253[253] = '\0';
    memset(name254, 'a', 254);
    name254[254] = '\0';

    static const char *const names[] = {"localhost", "node1.example.com", "a-b.c", "EXAMPLE.org",
                                        "example.com.", "1.2.3"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (lms_ca_check_host(names[i], &ip, err, sizeof err) != 0)
            fail_msg("host '%s' refused: %s", names[i], err);
        assert_int_equal(ip, 0);
    }
    assert_int_equal(lms_ca_check_host(name253, &ip, err, sizeof err), 0);
    static const char *const ips[] = {"127.0.0.1", "10.0.0.1", "::1", "fe80::1", "2001:db8::7"};
    for (size_t i = 0; i < sizeof ips / sizeof ips[0]; i++) {
        if (lms_ca_check_host(ips[i], &ip, err, sizeof err) != 0)
            fail_msg("address '%s' refused: %s", ips[i], err);
        assert_int_equal(ip, 1);
    }

    static const struct {
        const char *host, *why;
    } bad[] = {
        {"", "expected a DNS name"},
        {"*.example.com", "wildcard"},
        {"*", "wildcard"},
        {"a.*.com", "'*'"},
        {"[::1]", "'['"},
        {"fe80::1%eth0", "':'"},
        {"a..b", "empty label"},
        {".a", "empty label"},
        {"a..", "empty label"},
        {"-a.com", "starts or ends with '-'"},
        {"a-.com", "starts or ends with '-'"},
        {"a_b", "'_'"},
        {"a b", "0x20"},
        {"a/b", "'/'"},
        {"h\xc3\xa9", "0xc3"},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", "longer than 63"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (lms_ca_check_host(bad[i].host, &ip, err, sizeof err) == 0)
            fail_msg("host '%s' accepted", bad[i].host);
        if (strstr(err, bad[i].why) == NULL)
            fail_msg("host '%s': expected '%s' in '%s'", bad[i].host, bad[i].why, err);
    }
    assert_int_equal(lms_ca_check_host(name254, &ip, err, sizeof err), -1);
    assert_non_null(strstr(err, "at most 253"));
}

static void node_uri(void **state)
{
    char buf[128], small[16];
    assert_int_equal(lms_ca_node_uri("prod-1", 7, buf, sizeof buf), 0);
    assert_string_equal(buf, "lms://prod-1/node/7");
    assert_int_equal(lms_ca_node_uri("c", (uint64_t)INT64_MAX, buf, sizeof buf), 0);
    assert_string_equal(buf, "lms://c/node/9223372036854775807");
    assert_int_equal(lms_ca_node_uri("prod-1", 7, small, sizeof small), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cluster_ids),
        cmocka_unit_test(node_ids),
        cmocka_unit_test(hosts),
        cmocka_unit_test(node_uri),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
