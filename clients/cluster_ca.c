/* SPDX-License-Identifier: MIT */
/*
 * cluster_ca.c: `lms-admin cluster-ca init` and `issue` (cluster_ca.h): an
 * ECDSA P-256 CA for one cluster and its nodes' certificates, with OpenSSL's
 * libcrypto, and the files they go to.
 *
 * Files are written whole or not at all: each is staged in a temporary file
 * of the same directory (mkstemp: O_EXCL, mode 0600 from the start, so a
 * key is never readable by others, not even briefly), given its mode,
 * fsynced, and only then linked to its name (refusing an existing one) or,
 * under --force, renamed over it. Any failure removes what was staged.
 */
#include "cluster_ca.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "files.h"

/* ---- pure checks ---------------------------------------------------------- */

int lms_ca_check_cluster_id(const char *id, char *err, size_t errlen)
{
    size_t len = strlen(id);
    if (len == 0 || len > LMS_CA_CLUSTER_MAX) {
        snprintf(err, errlen, "bad cluster id '%.80s': expected 1 to %d characters, got %zu", id,
                 LMS_CA_CLUSTER_MAX, len);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c <= ' ' || c >= 0x7f) {
            snprintf(err, errlen,
                     "bad cluster id: character %zu is %s (0x%02x); expected printable ASCII "
                     "without spaces",
                     i + 1, c == ' ' ? "a space" : "not printable ASCII", c);
            return -1;
        }
        if (strchr("/%?#@:", c) != NULL) {
            snprintf(err, errlen,
                     "bad cluster id '%s': '%c' is not allowed (it would break the node URI "
                     "lms://CLUSTER/node/ID; not allowed: / %% ? # @ : and whitespace)",
                     id, c);
            return -1;
        }
    }
    return 0;
}

int lms_ca_parse_node_id(const char *text, uint64_t *out, char *err, size_t errlen)
{
    uint64_t v = 0;
    bool digits = text[0] != '\0';
    for (const char *p = text; *p != '\0' && digits; p++)
        digits = *p >= '0' && *p <= '9';
    if (!digits) {
        snprintf(err, errlen, "bad node id '%.40s': expected a whole number from 1 to %" PRId64
                 " (digits only, no sign)", text, INT64_MAX);
        return -1;
    }
    for (const char *p = text; *p != '\0'; p++) {
        if (v > ((uint64_t)INT64_MAX - (uint64_t)(*p - '0')) / 10) {
            snprintf(err, errlen, "bad node id '%.40s': too large (at most %" PRId64 ")", text,
                     INT64_MAX);
            return -1;
        }
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v == 0) {
        snprintf(err, errlen, "bad node id '%.40s': node ids start at 1", text);
        return -1;
    }
    *out = v;
    return 0;
}

/* One DNS label of host (len characters): letters, digits, '-' inside. */
static int check_label(const char *host, const char *label, size_t len, char *err, size_t errlen)
{
    if (len == 0 || len > 63) {
        snprintf(err, errlen, "bad host '%s': %s", host,
                 len ? "a label is longer than 63 characters" : "empty label (stray '.')");
        return -1;
    }
    if (label[0] == '-' || label[len - 1] == '-') {
        snprintf(err, errlen, "bad host '%s': a label starts or ends with '-'", host);
        return -1;
    }
    return 0;
}

int lms_ca_check_host(const char *host, int *is_ip, char *err, size_t errlen)
{
    unsigned char addr[16];
    size_t len = strlen(host);
    *is_ip = 0;
    if (len == 0) {
        snprintf(err, errlen, "bad host '': expected a DNS name or an IP address");
        return -1;
    }
    if (len > LMS_CA_HOST_MAX) {
        snprintf(err, errlen, "bad host '%.40s...': %zu characters (at most %d)", host, len,
                 LMS_CA_HOST_MAX);
        return -1;
    }
    if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1) {
        *is_ip = 1;
        return 0;
    }
    if (host[0] == '*') {
        snprintf(err, errlen, "bad host '%s': wildcard names are not allowed; name each host",
                 host);
        return -1;
    }
    const char *label = host;
    for (const char *p = host;; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '.' || c == '\0') {
            /* one trailing dot (a rooted name) is allowed */
            if (!(c == '\0' && p == label && p > host && p[-1] == '.') &&
                check_label(host, label, (size_t)(p - label), err, errlen) < 0)
                return -1;
            if (c == '\0')
                return 0;
            label = p + 1;
        } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     (c >= '0' && c <= '9') || c == '-')) {
            if (c > ' ' && c < 0x7f)
                snprintf(err, errlen,
                         "bad host '%s': '%c' is not allowed (a DNS name of letters, digits, "
                         "'-' and '.', or an IPv4/IPv6 address without brackets or zone)",
                         host, c);
            else
                snprintf(err, errlen, "bad host '%s': character 0x%02x is not allowed", host, c);
            return -1;
        }
    }
}

int lms_ca_node_uri(const char *cluster, uint64_t id, char *buf, size_t n)
{
    int len = snprintf(buf, n, "lms://%s/node/%" PRIu64, cluster, id);
    return len < 0 || (size_t)len >= n ? -1 : 0;
}

/* ---- errors ---------------------------------------------------------------- */

/* What went wrong: the exit code, the --json status and the message. */
struct ca_err {
    int code;
    const char *status;
    char msg[1024];
};

static int fail(struct ca_err *e, int code, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct ca_err *e, int code, const char *status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
    e->status = status;
    return -1;
}

/* A failed libcrypto call: what we tried, and OpenSSL's reason. */
static int ossl_fail(struct ca_err *e, const char *what)
{
    char reason[256] = "no detail";
    unsigned long code = ERR_peek_last_error();
    if (code != 0)
        ERR_error_string_n(code, reason, sizeof reason);
    ERR_clear_error();
    return fail(e, LMS_EXIT_FAILED, "INTERNAL", "%s (OpenSSL: %s)", what, reason);
}

/* "VERB PATH: strerror(err)", its status following err. */
static int errno_fail(struct ca_err *e, int err, const char *verb, const char *path)
{
    const char *status = err == EACCES || err == EPERM ? "PERMISSION_DENIED"
                         : err == ENOENT               ? "NOT_FOUND"
                         : err == ENOSPC               ? "RESOURCE_EXHAUSTED"
                                                       : "UNKNOWN";
    return fail(e, LMS_EXIT_FAILED, status, "%s %s: %s", verb, path, strerror(err));
}

/* ---- certificates ------------------------------------------------------------ */

static EVP_PKEY *new_key(struct ca_err *e)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    if (key == NULL)
        ossl_fail(e, "could not make an ECDSA P-256 key");
    return key;
}

/* 128 random bits, read as a positive number (DER adds the 0 byte). */
static int set_serial(X509 *x, struct ca_err *e)
{
    unsigned char bytes[16];
    BIGNUM *bn = NULL;
    int ok = 0;
    do {
        BN_free(bn);
        bn = NULL;
        if (RAND_bytes(bytes, sizeof bytes) != 1 ||
            (bn = BN_bin2bn(bytes, sizeof bytes, NULL)) == NULL)
            return ossl_fail(e, "could not make a random serial number");
    } while (BN_is_zero(bn));
    ASN1_INTEGER *serial = BN_to_ASN1_INTEGER(bn, NULL);
    ok = serial != NULL && X509_set_serialNumber(x, serial) == 1;
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return ok ? 0 : ossl_fail(e, "could not set the serial number");
}

/* subject O=org, CN=cn (shown by OpenSSL as "O = org, CN = cn"). */
static int set_names(X509 *x, X509 *issuer, const char *org, const char *cn, struct ca_err *e)
{
    X509_NAME *name = X509_NAME_new();
    int ok = name != NULL &&
             X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)org, -1,
                                        -1, 0) == 1 &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
                                        -1, 0) == 1 &&
             X509_set_subject_name(x, name) == 1 &&
             X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) == 1;
    X509_NAME_free(name);
    return ok ? 0 : ossl_fail(e, "could not set the certificate's names");
}

/* Version 3, serial, validity (an hour back, for clocks a little behind,
 * to days ahead), names and public key. */
static X509 *new_cert(EVP_PKEY *key, X509 *issuer, const char *org, const char *cn, long days,
                      struct ca_err *e)
{
    X509 *x = X509_new();
    if (x == NULL) {
        ossl_fail(e, "could not make a certificate");
        return NULL;
    }
    if (X509_set_version(x, X509_VERSION_3) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) == NULL ||
        X509_set_pubkey(x, key) != 1) {
        ossl_fail(e, "could not fill in the certificate");
    } else if (set_serial(x, e) == 0 && set_names(x, issuer, org, cn, e) == 0) {
        return x;
    }
    X509_free(x);
    return NULL;
}

/* One extension written as OpenSSL's config text (never user input). */
static int add_ext(X509 *x, X509 *issuer, int nid, const char *value, struct ca_err *e)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
    int ok = ext != NULL && X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    if (ok)
        return 0;
    char what[128];
    snprintf(what, sizeof what, "could not add the extension %s = %s", OBJ_nid2sn(nid), value);
    return ossl_fail(e, what);
}

/* Append a name of type (GEN_URI, GEN_DNS: text; GEN_IPADD: len bytes). */
static int push_name(GENERAL_NAMES *names, int type, const void *data, int len)
{
    GENERAL_NAME *gen = GENERAL_NAME_new();
    ASN1_STRING *s = type == GEN_IPADD ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
    if (gen == NULL || s == NULL || ASN1_STRING_set(s, data, len) != 1) {
        GENERAL_NAME_free(gen);
        ASN1_STRING_free(s);
        return -1;
    }
    GENERAL_NAME_set0_value(gen, type, s);
    if (sk_GENERAL_NAME_push(names, gen) <= 0) {
        GENERAL_NAME_free(gen);
        return -1;
    }
    return 0;
}

/* subjectAltName: the node's URI, then each host as an IP or DNS name
 * (hosts were checked by lms_ca_check_host). Built as values, not config
 * text, so that no character of a name is read as syntax. */
static int add_san(X509 *x, const char *uri, const char *const *hosts, size_t nhosts,
                   struct ca_err *e)
{
    GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
    int ok = names != NULL && push_name(names, GEN_URI, uri, (int)strlen(uri)) == 0;
    for (size_t i = 0; ok && i < nhosts; i++) {
        unsigned char addr[16];
        if (inet_pton(AF_INET, hosts[i], addr) == 1)
            ok = push_name(names, GEN_IPADD, addr, 4) == 0;
        else if (inet_pton(AF_INET6, hosts[i], addr) == 1)
            ok = push_name(names, GEN_IPADD, addr, 16) == 0;
        else
            ok = push_name(names, GEN_DNS, hosts[i], (int)strlen(hosts[i])) == 0;
    }
    ok = ok && X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) == 1;
    GENERAL_NAMES_free(names);
    return ok ? 0 : ossl_fail(e, "could not add the subjectAltName extension");
}

static int sign(X509 *x, EVP_PKEY *key, struct ca_err *e)
{
    return X509_sign(x, key, EVP_sha256()) > 0 ? 0 : ossl_fail(e, "could not sign the certificate");
}

/* The self-signed CA of cluster. */
static int make_ca(const char *cluster, long days, X509 **cert, EVP_PKEY **key, struct ca_err *e)
{
    *cert = NULL;
    if ((*key = new_key(e)) == NULL)
        return -1;
    X509 *x = new_cert(*key, NULL, cluster, "lms cluster CA", days, e);
    if (x != NULL &&
        add_ext(x, NULL, NID_basic_constraints, "critical,CA:TRUE,pathlen:0", e) == 0 &&
        add_ext(x, NULL, NID_key_usage, "critical,keyCertSign,cRLSign", e) == 0 &&
        add_ext(x, NULL, NID_subject_key_identifier, "hash", e) == 0 && sign(x, *key, e) == 0) {
        *cert = x;
        return 0;
    }
    X509_free(x);
    EVP_PKEY_free(*key);
    *key = NULL;
    return -1;
}

/* What a node's certificate is made of. */
struct leaf_req {
    char cluster[LMS_CA_CLUSTER_MAX + 1]; /* the CA subject's O */
    uint64_t id;
    char uri[LMS_CA_CLUSTER_MAX + 64];
    const char *const *hosts;
    size_t nhosts;
    long days;
};

static int make_leaf(X509 *ca, EVP_PKEY *ca_key, const struct leaf_req *r, X509 **cert,
                     EVP_PKEY **key, struct ca_err *e)
{
    char cn[32];
    snprintf(cn, sizeof cn, "node-%" PRIu64, r->id);
    *cert = NULL;
    if ((*key = new_key(e)) == NULL)
        return -1;
    X509 *x = new_cert(*key, ca, r->cluster, cn, r->days, e);
    if (x != NULL && add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE", e) == 0 &&
        add_ext(x, ca, NID_key_usage, "critical,digitalSignature", e) == 0 &&
        add_ext(x, ca, NID_ext_key_usage, "serverAuth,clientAuth", e) == 0 &&
        add_ext(x, ca, NID_subject_key_identifier, "hash", e) == 0 &&
        add_ext(x, ca, NID_authority_key_identifier, "keyid:always", e) == 0 &&
        add_san(x, r->uri, r->hosts, r->nhosts, e) == 0 && sign(x, ca_key, e) == 0) {
        *cert = x;
        return 0;
    }
    X509_free(x);
    EVP_PKEY_free(*key);
    *key = NULL;
    return -1;
}

/* "2036-03-01T12:00:00Z" */
static void time_text(const ASN1_TIME *t, char *buf, size_t n)
{
    struct tm tm;
    if (ASN1_TIME_to_tm(t, &tm) != 1 || strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, n, "?");
}

/* ---- the files ------------------------------------------------------------- */

/* One file to write: its PEM text, staged under tmp, then placed at path. */
struct out_file {
    const char *name; /* "ca.key" */
    mode_t mode;
    BIO *pem;
    char path[PATH_MAX];
    char tmp[PATH_MAX];
    bool staged, placed;
};

static int join(char *buf, size_t n, const char *dir, const char *name, struct ca_err *e)
{
    int len = snprintf(buf, n, "%s/%s", dir, name);
    if (len < 0 || (size_t)len >= n)
        return fail(e, LMS_EXIT_USAGE, "INVALID_ARGUMENT", "path too long: %s/%s", dir, name);
    return 0;
}

static int pem_cert(struct out_file *f, X509 *x, struct ca_err *e)
{
    f->pem = BIO_new(BIO_s_mem());
    if (f->pem == NULL || PEM_write_bio_X509(f->pem, x) != 1)
        return ossl_fail(e, "could not write the certificate as PEM");
    return 0;
}

/* PKCS#8, unencrypted (a node reads it unattended); in secure memory,
 * cleared when freed. */
static int pem_key(struct out_file *f, EVP_PKEY *key, struct ca_err *e)
{
    f->pem = BIO_new(BIO_s_secmem());
    if (f->pem == NULL || PEM_write_bio_PrivateKey(f->pem, key, NULL, NULL, 0, NULL, NULL) != 1)
        return ossl_fail(e, "could not write the private key as PEM");
    return 0;
}

/* Refuse when a file exists already (lstat: a dangling link counts). */
static int check_absent(const struct out_file *files, size_t n, const char *hint,
                        struct ca_err *e)
{
    struct stat st;
    for (size_t i = 0; i < n; i++) {
        if (lstat(files[i].path, &st) == 0)
            return fail(e, LMS_EXIT_USAGE, "ALREADY_EXISTS", "%s already exists; nothing was "
                        "changed (%s)", files[i].path, hint);
        if (errno != ENOENT)
            return errno_fail(e, errno, "cannot check", files[i].path);
    }
    return 0;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Write f's PEM to a new temporary file next to f->path. */
static int stage(const char *dir, struct out_file *f, struct ca_err *e)
{
    char *data;
    long len = BIO_get_mem_data(f->pem, &data);
    char name[64];
    snprintf(name, sizeof name, ".%s.XXXXXX", f->name);
    if (len <= 0)
        return fail(e, LMS_EXIT_FAILED, "INTERNAL", "nothing to write to %s", f->path);
    if (join(f->tmp, sizeof f->tmp, dir, name, e) < 0)
        return -1;
    int fd = mkstemp(f->tmp); /* O_CREAT | O_EXCL, mode 0600 */
    if (fd < 0)
        return errno_fail(e, errno, "cannot create a file in", dir);
    f->staged = true;
    if (fchmod(fd, f->mode) < 0 || write_all(fd, data, (size_t)len) < 0 || fsync(fd) < 0) {
        int err = errno;
        close(fd);
        return errno_fail(e, err, "cannot write", f->path);
    }
    if (close(fd) < 0)
        return errno_fail(e, errno, "cannot write", f->path);
    return 0;
}

/* Give each staged file its name: link() refuses an existing one (a race
 * with another run); rename() replaces it under --force. */
static int place(struct out_file *f, bool force, struct ca_err *e)
{
    if (force) {
        if (rename(f->tmp, f->path) < 0)
            return errno_fail(e, errno, "cannot replace", f->path);
        f->staged = false;
    } else {
        if (link(f->tmp, f->path) < 0) {
            if (errno == EEXIST)
                return fail(e, LMS_EXIT_USAGE, "ALREADY_EXISTS",
                            "%s appeared while this ran; nothing was changed", f->path);
            return errno_fail(e, errno, "cannot create", f->path);
        }
    }
    f->placed = true;
    return 0;
}

static int sync_dir(const char *dir, struct ca_err *e)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return errno_fail(e, err, "cannot sync the directory", dir);
    }
    close(fd);
    return 0;
}

/* Stage and place every file, or leave none of them behind. (Under --force
 * a file already renamed over its old self stays: the old one is gone.) */
static int write_files(const char *dir, struct out_file *files, size_t n, bool force,
                       struct ca_err *e)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = stage(dir, &files[i], e);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = place(&files[i], force, e);
    for (size_t i = 0; i < n; i++) {
        if (files[i].staged)
            unlink(files[i].tmp);
        if (rc < 0 && files[i].placed && !force)
            unlink(files[i].path);
    }
    return rc == 0 ? sync_dir(dir, e) : rc;
}

static void free_files(struct out_file *files, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        BIO_free(files[i].pem);
        files[i].pem = NULL;
    }
}

/* ---- reading the CA ------------------------------------------------------------ */

/* An encrypted key is refused rather than prompted for. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

/* Read a PEM file into a memory BIO (cleared on free when secret). */
static BIO *read_pem(const char *path, bool secret, struct ca_err *e)
{
    uint8_t *data;
    size_t len;
    char err[600];
    if (lms_file_read(path, &data, &len, err, sizeof err) < 0) {
        int en = errno;
        fail(e, LMS_EXIT_FAILED, en == ENOENT ? "NOT_FOUND" : "UNKNOWN", "%s%s", err,
             en == ENOENT ? " (make the CA first: lms-admin cluster-ca init DIR --cluster ID)"
                          : "");
        return NULL;
    }
    BIO *bio = BIO_new(secret ? BIO_s_secmem() : BIO_s_mem());
    if (bio == NULL || (len > 0 && BIO_write(bio, data, (int)len) != (int)len)) {
        BIO_free(bio);
        bio = NULL;
        ossl_fail(e, "out of memory");
    }
    OPENSSL_cleanse(data, len);
    free(data);
    return bio;
}

/* The cluster id is the CA subject's O. */
static int ca_cluster(X509 *ca, const char *path, char *out, size_t n, struct ca_err *e)
{
    X509_NAME *name = X509_get_subject_name(ca);
    int i = X509_NAME_get_index_by_NID(name, NID_organizationName, -1);
    const X509_NAME_ENTRY *entry = i < 0 ? NULL : X509_NAME_get_entry(name, i);
    unsigned char *utf8 = NULL;
    int len = entry == NULL ? -1 : ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
    char why[300];
    if (len < 0) {
        OPENSSL_free(utf8);
        return fail(e, LMS_EXIT_FAILED, "INVALID_ARGUMENT",
                    "%s: the subject has no O (organization) holding the cluster id", path);
    }
    bool ok = (size_t)len < n && memchr(utf8, 0, (size_t)len) == NULL;
    if (ok) {
        memcpy(out, utf8, (size_t)len);
        out[len] = '\0';
        ok = lms_ca_check_cluster_id(out, why, sizeof why) == 0;
    } else {
        snprintf(why, sizeof why, "too long");
    }
    OPENSSL_free(utf8);
    if (!ok)
        return fail(e, LMS_EXIT_FAILED, "INVALID_ARGUMENT",
                    "%s: the subject's O is not a usable cluster id: %s", path, why);
    return 0;
}

/* DIR/ca.crt and DIR/ca.key, checked to be a CA in force and its key. */
static int load_ca(const char *dir, X509 **ca, EVP_PKEY **key, char *cluster, size_t n,
                   struct ca_err *e)
{
    char crt_path[PATH_MAX], key_path[PATH_MAX];
    BIO *bio;
    *ca = NULL;
    *key = NULL;
    if (join(crt_path, sizeof crt_path, dir, "ca.crt", e) < 0 ||
        join(key_path, sizeof key_path, dir, "ca.key", e) < 0)
        return -1;
    if ((bio = read_pem(crt_path, false, e)) == NULL)
        return -1;
    *ca = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    if (*ca == NULL) {
        ERR_clear_error();
        return fail(e, LMS_EXIT_FAILED, "INVALID_ARGUMENT",
                    "%s: not a PEM certificate (expected the ca.crt that cluster-ca init wrote)",
                    crt_path);
    }
    if (ca_cluster(*ca, crt_path, cluster, n, e) < 0)
        return -1;
    if (X509_check_ca(*ca) < 1)
        return fail(e, LMS_EXIT_FAILED, "INVALID_ARGUMENT", "%s: not a CA certificate",
                    crt_path);
    if (X509_cmp_current_time(X509_get0_notAfter(*ca)) <= 0) {
        char until[32];
        time_text(X509_get0_notAfter(*ca), until, sizeof until);
        return fail(e, LMS_EXIT_FAILED, "FAILED_PRECONDITION",
                    "%s expired on %s; make a new CA (and new node certificates)", crt_path,
                    until);
    }
    if ((bio = read_pem(key_path, true, e)) == NULL)
        return -1;
    *key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    if (*key == NULL) {
        ERR_clear_error();
        return fail(e, LMS_EXIT_FAILED, "INVALID_ARGUMENT",
                    "%s: not an unencrypted PEM private key", key_path);
    }
    if (X509_check_private_key(*ca, *key) != 1) {
        ERR_clear_error();
        return fail(e, LMS_EXIT_FAILED, "INVALID_ARGUMENT", "%s is not the key of %s", key_path,
                    crt_path);
    }
    return 0;
}

/* ---- the subcommands --------------------------------------------------------- */

const struct cli_param lms_ca_init_params[] = {
    {.name = "DIR", .kind = CLI_STRING, .flags = CLI_POSITIONAL | CLI_REQUIRED,
     .help = "where ca.crt and ca.key go (made, mode 0700, if it does not exist)"},
    {.name = "cluster", .meta = "ID", .kind = CLI_STRING, .flags = CLI_REQUIRED,
     .help = "the cluster's cluster.id (the CA's subject O; node URIs are lms://ID/node/N)",
     .missing = "missing --cluster ID: the cluster.id of the nodes' configs"},
    {.name = "days", .meta = "N", .kind = CLI_COUNT,
     .help = "validity in days (default 3650)"},
    CLI_END_PARAMS,
};

const struct cli_param lms_ca_issue_params[] = {
    {.name = "DIR", .kind = CLI_STRING, .flags = CLI_POSITIONAL | CLI_REQUIRED,
     .help = "the CA's directory (cluster-ca init); node-ID.crt and node-ID.key go there too"},
    {.name = "NODE_ID", .kind = CLI_STRING, .flags = CLI_POSITIONAL | CLI_REQUIRED,
     .help = "the node's node.id"},
    {.name = "host", .meta = "H", .kind = CLI_STRING, .flags = CLI_MULTI,
     .help = "a DNS name or IP address the node is reached at, once per name (default: "
             "localhost, 127.0.0.1 and ::1)"},
    {.name = "days", .meta = "N", .kind = CLI_COUNT, .help = "validity in days (default 825)"},
    {.name = "force", .kind = CLI_FLAG,
     .help = "replace the node's existing certificate and key"},
    CLI_END_PARAMS,
};

static int report_err(struct cli_ctx *ctx, const struct ca_err *e)
{
    if (e->code == LMS_EXIT_USAGE && strcmp(e->status, "INVALID_ARGUMENT") == 0)
        return cli_usage_error(ctx, "%s", e->msg);
    return cli_fail(ctx, e->code, e->status, "%s", e->msg);
}

/* --days, or dflt; 0 or more than LMS_CA_DAYS_MAX is a usage error. */
static int read_days(const struct cli_args *a, long dflt, long *days, struct ca_err *e)
{
    uint64_t v = cli_u64(a, "days", (uint64_t)dflt);
    if (v < 1 || v > LMS_CA_DAYS_MAX)
        return fail(e, LMS_EXIT_USAGE, "INVALID_ARGUMENT",
                    "bad --days %s: expected 1 to %d", cli_str(a, "days"), LMS_CA_DAYS_MAX);
    *days = (long)v;
    return 0;
}

static json_object *json_file(const struct out_file *f, const char *what)
{
    char mode[8];
    json_object *o = json_object_new_object();
    snprintf(mode, sizeof mode, "%04o", (unsigned)f->mode);
    json_object_object_add(o, "path", json_object_new_string(f->path));
    json_object_object_add(o, "mode", json_object_new_string(mode));
    json_object_object_add(o, "what", json_object_new_string(what));
    return o;
}

/* Make DIR (0700) unless it is there; *made says whether this run made it. */
static int make_dir(const char *dir, bool *made, struct ca_err *e)
{
    struct stat st;
    *made = false;
    if (mkdir(dir, 0700) == 0) {
        *made = true;
        return 0;
    }
    if (errno != EEXIST)
        return errno_fail(e, errno, "cannot create the directory", dir);
    if (stat(dir, &st) < 0)
        return errno_fail(e, errno, "cannot use", dir);
    if (!S_ISDIR(st.st_mode))
        return fail(e, LMS_EXIT_FAILED, "INVALID_ARGUMENT", "%s exists and is not a directory",
                    dir);
    return 0;
}

static int do_init(const char *dir, const char *cluster, long days, struct out_file *files,
                   char *until, size_t until_len, struct ca_err *e)
{
    X509 *ca = NULL;
    EVP_PKEY *key = NULL;
    bool made;
    if (join(files[0].path, sizeof files[0].path, dir, files[0].name, e) < 0 ||
        join(files[1].path, sizeof files[1].path, dir, files[1].name, e) < 0 ||
        make_dir(dir, &made, e) < 0)
        return -1;
    int rc = check_absent(files, 2, "a second CA would not vouch for the nodes' certificates "
                                    "from the first; move the old files away to start over",
                          e);
    if (rc == 0)
        rc = make_ca(cluster, days, &ca, &key, e);
    if (rc == 0)
        rc = pem_cert(&files[0], ca, e);
    if (rc == 0)
        rc = pem_key(&files[1], key, e);
    if (rc == 0)
        rc = write_files(dir, files, 2, false, e);
    if (rc == 0)
        time_text(X509_get0_notAfter(ca), until, until_len);
    if (rc < 0 && made)
        rmdir(dir);
    X509_free(ca);
    EVP_PKEY_free(key);
    return rc;
}

int lms_ca_cmd_init(struct cli_ctx *ctx, const struct cli_args *a)
{
    const char *dir = cli_str(a, "DIR"), *cluster = cli_str(a, "cluster");
    struct out_file files[2] = {{.name = "ca.crt", .mode = 0644}, {.name = "ca.key", .mode = 0600}};
    struct ca_err e;
    char until[32];
    long days = LMS_CA_DAYS_CA;
    if (lms_ca_check_cluster_id(cluster, e.msg, sizeof e.msg) < 0)
        return cli_usage_error(ctx, "%s", e.msg);
    if (read_days(a, LMS_CA_DAYS_CA, &days, &e) < 0 ||
        do_init(dir, cluster, days, files, until, sizeof until, &e) < 0) {
        free_files(files, 2);
        return report_err(ctx, &e);
    }
    free_files(files, 2);
    char next[PATH_MAX + 128];
    snprintf(next, sizeof next,
             "lms-admin cluster-ca issue %s NODE_ID --host H... for each node; keep ca.key off "
             "the nodes",
             dir);
    if (ctx->json) {
        json_object *o = json_object_new_object(), *arr = json_object_new_array();
        json_object_array_add(arr, json_file(&files[0], "CA certificate"));
        json_object_array_add(arr, json_file(&files[1], "CA private key"));
        json_object_object_add(o, "cluster", json_object_new_string(cluster));
        json_object_object_add(o, "not_after", json_object_new_string(until));
        json_object_object_add(o, "files", arr);
        json_object_object_add(o, "next", json_object_new_string(next));
        return cli_print_json(o);
    }
    printf("wrote %s (CA certificate of cluster %s, valid until %s)\n", files[0].path, cluster,
           until);
    printf("wrote %s (CA private key, mode 0600)\n", files[1].path);
    printf("next: %s\n", next);
    return LMS_EXIT_OK;
}

/* The --host values, checked; the defaults when none. */
static int read_hosts(const struct cli_args *a, const char *const **hosts, size_t *n,
                      struct ca_err *e)
{
    static const char *const defaults[] = {"localhost", "127.0.0.1", "::1"};
    char why[400];
    int is_ip;
    *hosts = cli_strs(a, "host", n);
    if (*n == 0) {
        *hosts = defaults;
        *n = sizeof defaults / sizeof defaults[0];
    }
    for (size_t i = 0; i < *n; i++)
        if (lms_ca_check_host((*hosts)[i], &is_ip, why, sizeof why) < 0)
            return fail(e, LMS_EXIT_USAGE, "INVALID_ARGUMENT", "%s", why);
    return 0;
}

static int do_issue(const char *dir, struct leaf_req *r, bool force, struct out_file *files,
                    char *until, size_t until_len, struct ca_err *e)
{
    X509 *ca = NULL, *cert = NULL;
    EVP_PKEY *ca_key = NULL, *key = NULL;
    char hint[128];
    snprintf(hint, sizeof hint, "use --force to replace node %" PRIu64 "'s files", r->id);
    int rc = join(files[0].path, sizeof files[0].path, dir, files[0].name, e);
    if (rc == 0)
        rc = join(files[1].path, sizeof files[1].path, dir, files[1].name, e);
    if (rc == 0 && !force)
        rc = check_absent(files, 2, hint, e);
    if (rc == 0)
        rc = load_ca(dir, &ca, &ca_key, r->cluster, sizeof r->cluster, e);
    if (rc == 0 && lms_ca_node_uri(r->cluster, r->id, r->uri, sizeof r->uri) < 0)
        rc = fail(e, LMS_EXIT_FAILED, "INTERNAL", "node URI too long");
    if (rc == 0)
        rc = make_leaf(ca, ca_key, r, &cert, &key, e);
    if (rc == 0)
        rc = pem_cert(&files[0], cert, e);
    if (rc == 0)
        rc = pem_key(&files[1], key, e);
    if (rc == 0)
        rc = write_files(dir, files, 2, force, e);
    if (rc == 0)
        time_text(X509_get0_notAfter(cert), until, until_len);
    /* It will not verify past the CA's end: say so, but issue it (the CA
     * may be renewed with the same key before then). */
    if (rc == 0 && ASN1_TIME_compare(X509_get0_notAfter(cert), X509_get0_notAfter(ca)) > 0) {
        char ca_until[32];
        time_text(X509_get0_notAfter(ca), ca_until, sizeof ca_until);
        fprintf(stderr,
                "lms-admin: warning: the CA expires on %s, before this certificate (%s); it "
                "will not verify after that\n",
                ca_until, until);
    }
    X509_free(ca);
    X509_free(cert);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
    return rc;
}

static void print_issued(struct cli_ctx *ctx, const struct leaf_req *r,
                         const struct out_file *files, const char *until)
{
    char next[256];
    snprintf(next, sizeof next,
             "copy ca.crt, %s and %s to node %" PRIu64 "; set tls.ca, tls.cert and tls.key in "
             "its config",
             files[0].name, files[1].name, r->id);
    if (ctx->json) {
        json_object *o = json_object_new_object(), *arr = json_object_new_array();
        json_object *hosts = json_object_new_array();
        for (size_t i = 0; i < r->nhosts; i++)
            json_object_array_add(hosts, json_object_new_string(r->hosts[i]));
        json_object_array_add(arr, json_file(&files[0], "node certificate"));
        json_object_array_add(arr, json_file(&files[1], "node private key"));
        json_object_object_add(o, "cluster", json_object_new_string(r->cluster));
        json_object_object_add(o, "node", json_object_new_int64((int64_t)r->id));
        json_object_object_add(o, "uri", json_object_new_string(r->uri));
        json_object_object_add(o, "hosts", hosts);
        json_object_object_add(o, "not_after", json_object_new_string(until));
        json_object_object_add(o, "files", arr);
        json_object_object_add(o, "next", json_object_new_string(next));
        cli_print_json(o);
        return;
    }
    printf("wrote %s (node %" PRIu64 "'s certificate: %s", files[0].path, r->id, r->uri);
    for (size_t i = 0; i < r->nhosts; i++)
        printf(", %s", r->hosts[i]);
    printf("; valid until %s)\n", until);
    printf("wrote %s (node %" PRIu64 "'s private key, mode 0600)\n", files[1].path, r->id);
    printf("next: %s\n", next);
}

int lms_ca_cmd_issue(struct cli_ctx *ctx, const struct cli_args *a)
{
    char crt_name[48], key_name[48], until[32];
    struct leaf_req r = {0};
    struct ca_err e;
    if (lms_ca_parse_node_id(cli_str(a, "NODE_ID"), &r.id, e.msg, sizeof e.msg) < 0)
        return cli_usage_error(ctx, "%s", e.msg);
    if (read_hosts(a, &r.hosts, &r.nhosts, &e) < 0 ||
        read_days(a, LMS_CA_DAYS_NODE, &r.days, &e) < 0)
        return report_err(ctx, &e);
    snprintf(crt_name, sizeof crt_name, "node-%" PRIu64 ".crt", r.id);
    snprintf(key_name, sizeof key_name, "node-%" PRIu64 ".key", r.id);
    struct out_file files[2] = {{.name = crt_name, .mode = 0644}, {.name = key_name, .mode = 0600}};
    int rc = do_issue(cli_str(a, "DIR"), &r, cli_has(a, "force"), files, until, sizeof until, &e);
    free_files(files, 2);
    if (rc < 0)
        return report_err(ctx, &e);
    print_issued(ctx, &r, files, until);
    return LMS_EXIT_OK;
}
