/* SPDX-License-Identifier: MIT */
/*
 * test_tls.c: what a TLS reload (core/base/tls.c, tls_reload) uses to say
 * which certificates changed: a certificate's SHA-256 and whether two are
 * the same, and the "serial ..., expires ..." it logs. The reload itself
 * (files swapped under a running node, both ports) is tested end to end
 * in tests/e2e/test_tls_reload.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "tls.h"

/* A self-signed certificate with this serial and expiry (ASN.1
 * GeneralizedTime, "YYYYMMDDHHMMSSZ"), signed with key. */
static X509 *make_cert(EVP_PKEY *key, long serial, const char *not_after)
{
    X509 *c = X509_new();
    assert_non_null(c);
    assert_int_equal(X509_set_version(c, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(c), serial), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(c), 0));
    assert_int_equal(ASN1_TIME_set_string(X509_getm_notAfter(c), not_after), 1);
    X509_NAME *name = X509_get_subject_name(c);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                (const unsigned char *)"node", -1, -1, 0),
                     1);
    assert_int_equal(X509_set_issuer_name(c, name), 1);
    assert_int_equal(X509_set_pubkey(c, key), 1);
    assert_true(X509_sign(c, key, EVP_sha256()) > 0);
    return c;
}

static void same_and_new_certificates(void **state)
{
    (void)state;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    assert_non_null(key);
    X509 *a = make_cert(key, 1, "20301231235959Z");
    X509 *a_again = X509_dup(a);
    X509 *b = make_cert(key, 2, "20301231235959Z"); /* renewed: new serial */
    assert_non_null(a_again);

    unsigned char da[TLS_SHA256_LEN], db[TLS_SHA256_LEN];
    assert_int_equal(tls_cert_sha256(a, da), 0);
    assert_int_equal(tls_cert_sha256(a_again, db), 0);
    assert_memory_equal(da, db, sizeof da);
    assert_int_equal(tls_cert_sha256(b, db), 0);
    assert_memory_not_equal(da, db, sizeof da);
    assert_int_equal(tls_cert_sha256(NULL, db), -1);

    assert_true(tls_cert_same(a, a_again)); /* the same bytes: no log line */
    assert_false(tls_cert_same(a, b));
    assert_false(tls_cert_same(a, NULL));
    assert_false(tls_cert_same(NULL, b));
    assert_true(tls_cert_same(NULL, NULL));
    X509_free(a);
    X509_free(a_again);
    X509_free(b);
    EVP_PKEY_free(key);
}

static void summary(void **state)
{
    (void)state;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    assert_non_null(key);
    X509 *c = make_cert(key, 0x0a1b2c, "20301231235959Z");
    char buf[TLS_SUMMARY_LEN];
    tls_cert_summary(c, buf, sizeof buf);
    /* upper-case hex, whole bytes: as openssl x509 -serial and Python's
     * getpeercert() write it, so an admin can match them */
    assert_string_equal(buf, "serial 0A1B2C, expires 2030-12-31T23:59:59Z");
    tls_cert_summary(NULL, buf, sizeof buf);
    assert_string_equal(buf, "serial ?, expires ?");
    char small[12];
    tls_cert_summary(c, small, sizeof small); /* cut, still a string */
    assert_string_equal(small, "serial 0A1B");
    X509_free(c);
    EVP_PKEY_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_and_new_certificates),
        cmocka_unit_test(summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
