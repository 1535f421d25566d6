/*
 * Unit tests of pubkey: key types of generated keys, the OpenSSH blob
 * parsed field by field, the authorized_keys line (and, when ssh-keygen is
 * installed, its fingerprint of that line), rebuilding keys from the raw
 * parts a token returns, and the SubjectPublicKeyInfo DER and PEM.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <check.h>

#include "custodian/error.h"
#include "buf.h"
#include "pubkey.h"
#include "check_main.h"

#define SSH_KEYGEN "/usr/bin/ssh-keygen"

/* Keys made once for the whole run, before the tests fork. */
static EVP_PKEY *key_p256, *key_p384, *key_ed25519, *key_rsa;

static void
keys_generate(void)
{
    key_p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    key_p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    key_ed25519 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    key_rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    ck_assert_ptr_nonnull(key_p256);
    ck_assert_ptr_nonnull(key_p384);
    ck_assert_ptr_nonnull(key_ed25519);
    ck_assert_ptr_nonnull(key_rsa);
}

static void
keys_free(void)
{
    EVP_PKEY_free(key_p256);
    EVP_PKEY_free(key_p384);
    EVP_PKEY_free(key_ed25519);
    EVP_PKEY_free(key_rsa);
}

/* The uncompressed point of an EC key, as a token returns it. */
static size_t
ec_point(EVP_PKEY *key, uint8_t *point, size_t max)
{
    size_t len = 0;

    ck_assert_int_eq(
        EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                        point, max, &len),
        1);
    return len;
}

/* The big-endian magnitude of the RSA parameter NAME. */
static size_t
rsa_param(EVP_PKEY *key, const char *name, uint8_t *out, size_t max)
{
    BIGNUM *bn = NULL;
    int n;

    ck_assert_int_eq(EVP_PKEY_get_bn_param(key, name, &bn), 1);
    n = BN_num_bytes(bn);
    ck_assert_int_le(n, (int)max);
    ck_assert_int_eq(BN_bn2bin(bn, out), n);
    BN_free(bn);
    return (size_t)n;
}

/* Reads one string from B and checks it is the C string EXPECT. */
static void
get_cstring(struct buf *b, const char *expect)
{
    const uint8_t *s;
    size_t len;

    ck_assert_int_eq(buf_get_string(b, &s, &len, 256), 0);
    ck_assert_uint_eq(len, strlen(expect));
    ck_assert_mem_eq(s, expect, len);
}

START_TEST(keytypes)
{
    EVP_PKEY *x25519 = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    EVP_PKEY *p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
    struct buf b;

    ck_assert_int_eq(pubkey_keytype(key_p256), ALG_KEY_ECDSA_P256);
    ck_assert_int_eq(pubkey_keytype(key_p384), ALG_KEY_ECDSA_P384);
    ck_assert_int_eq(pubkey_keytype(key_ed25519), ALG_KEY_ED25519);
    ck_assert_int_eq(pubkey_keytype(key_rsa), ALG_KEY_RSA_2048);
    ck_assert_str_eq(pubkey_ssh_name(key_p256), "ecdsa-sha2-nistp256");
    ck_assert_str_eq(pubkey_ssh_name(key_p384), "ecdsa-sha2-nistp384");
    ck_assert_str_eq(pubkey_ssh_name(key_ed25519), "ssh-ed25519");
    ck_assert_str_eq(pubkey_ssh_name(key_rsa), "ssh-rsa");

    /* Keys custodian has no type for. */
    ck_assert_ptr_nonnull(x25519);
    ck_assert_ptr_nonnull(p521);
    ck_assert_int_eq(pubkey_keytype(x25519), ALG_KEY_NONE);
    ck_assert_int_eq(pubkey_keytype(p521), ALG_KEY_NONE);
    ck_assert_ptr_null(pubkey_ssh_name(p521));
    buf_init(&b, 4096);
    ck_assert_int_eq(pubkey_ssh_blob(p521, &b), CUST_ERR_KEYTYPE);
    buf_free(&b);
    EVP_PKEY_free(x25519);
    EVP_PKEY_free(p521);
}
END_TEST

START_TEST(ssh_blob_ed25519)
{
    uint8_t raw[32];
    size_t rawlen = sizeof(raw), len;
    const uint8_t *s;
    struct buf b;

    ck_assert_int_eq(EVP_PKEY_get_raw_public_key(key_ed25519, raw, &rawlen), 1);
    buf_init(&b, 4096);
    ck_assert_int_eq(pubkey_ssh_blob(key_ed25519, &b), 0);
    ck_assert_uint_eq(b.len, 4 + 11 + 4 + 32);

    get_cstring(&b, "ssh-ed25519");
    ck_assert_int_eq(buf_get_string(&b, &s, &len, 256), 0);
    ck_assert_uint_eq(len, 32);
    ck_assert_mem_eq(s, raw, 32);
    ck_assert_uint_eq(buf_remaining(&b), 0);
    buf_free(&b);
}
END_TEST

static void
check_ssh_blob_ec(EVP_PKEY *key, const char *name, const char *curve,
                  size_t pointlen)
{
    uint8_t point[133];
    const uint8_t *s;
    size_t len;
    struct buf b;

    ck_assert_uint_eq(ec_point(key, point, sizeof(point)), pointlen);
    buf_init(&b, 4096);
    ck_assert_int_eq(pubkey_ssh_blob(key, &b), 0);

    get_cstring(&b, name);
    get_cstring(&b, curve);
    ck_assert_int_eq(buf_get_string(&b, &s, &len, 256), 0);
    ck_assert_uint_eq(len, pointlen);
    ck_assert_uint_eq(s[0], 0x04);
    ck_assert_mem_eq(s, point, pointlen);
    ck_assert_uint_eq(buf_remaining(&b), 0);
    buf_free(&b);
}

START_TEST(ssh_blob_ecdsa)
{
    check_ssh_blob_ec(key_p256, "ecdsa-sha2-nistp256", "nistp256", 65);
    check_ssh_blob_ec(key_p384, "ecdsa-sha2-nistp384", "nistp384", 97);
}
END_TEST

START_TEST(ssh_blob_rsa)
{
    uint8_t n[256], e[8], mpint[4];
    const uint8_t *s;
    size_t len;
    struct buf b;

    ck_assert_uint_eq(rsa_param(key_rsa, OSSL_PKEY_PARAM_RSA_N, n, sizeof(n)),
                      256);
    ck_assert_uint_eq(rsa_param(key_rsa, OSSL_PKEY_PARAM_RSA_E, e, sizeof(e)),
                      3);
    buf_init(&b, 4096);
    ck_assert_int_eq(pubkey_ssh_blob(key_rsa, &b), 0);
    ck_assert_uint_eq(b.len, 4 + 7 + 4 + 3 + 4 + 257);

    get_cstring(&b, "ssh-rsa");
    ck_assert_int_eq(buf_get(&b, mpint, 4), 0);
    ck_assert_mem_eq(mpint, "\x00\x00\x00\x03", 4);
    ck_assert_mem_eq(buf_ptr(&b), "\x01\x00\x01", 3);
    ck_assert_int_eq(buf_get(&b, e, 3), 0);

    /* A 2048-bit modulus has its top bit set: a 00 byte leads. */
    ck_assert_int_eq(buf_get_string(&b, &s, &len, 1024), 0);
    ck_assert_uint_eq(len, 257);
    ck_assert_uint_eq(s[0], 0x00);
    ck_assert_mem_eq(s + 1, n, 256);
    ck_assert_uint_eq(buf_remaining(&b), 0);
    buf_free(&b);
}
END_TEST

/* Decodes the base64 text B64 into OUT; returns the length. */
static size_t
base64_decode(const char *b64, uint8_t *out, size_t max)
{
    size_t len = strlen(b64), pad = 0;
    int n;

    ck_assert_uint_eq(len % 4, 0);
    ck_assert_uint_le(len / 4 * 3, max);
    if (len > 0 && b64[len - 1] == '=')
        pad++;
    if (len > 1 && b64[len - 2] == '=')
        pad++;
    n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)len);
    ck_assert_int_eq(n, (int)(len / 4 * 3));
    return (size_t)n - pad;
}

/* Checks LINE is "NAME BASE64[ COMMENT]" with BASE64 the blob of KEY. */
static void
check_ssh_line(EVP_PKEY *key, const char *comment, const char *line)
{
    const char *name = pubkey_ssh_name(key);
    char *copy = strdup(line), *sp, *b64;
    uint8_t decoded[1024];
    struct buf b;

    ck_assert_ptr_nonnull(copy);
    ck_assert_ptr_null(strchr(line, '\n'));
    ck_assert_uint_gt(strlen(line), strlen(name) + 1);
    ck_assert_mem_eq(line, name, strlen(name));
    ck_assert_int_eq(line[strlen(name)], ' ');

    b64 = copy + strlen(name) + 1;
    sp = strchr(b64, ' ');
    if (comment == NULL) {
        ck_assert_ptr_null(sp);
    } else {
        ck_assert_ptr_nonnull(sp);
        ck_assert_str_eq(sp + 1, comment);
        *sp = '\0';
    }

    buf_init(&b, 4096);
    ck_assert_int_eq(pubkey_ssh_blob(key, &b), 0);
    ck_assert_uint_eq(base64_decode(b64, decoded, sizeof(decoded)), b.len);
    ck_assert_mem_eq(decoded, b.data, b.len);
    buf_free(&b);
    free(copy);
}

START_TEST(ssh_line)
{
    EVP_PKEY *keys[] = {key_p256, key_p384, key_ed25519, key_rsa};
    char *line;
    size_t i;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        line = NULL;
        ck_assert_int_eq(pubkey_ssh_line(keys[i], "bot@example", &line), 0);
        check_ssh_line(keys[i], "bot@example", line);
        free(line);

        line = NULL;
        ck_assert_int_eq(pubkey_ssh_line(keys[i], NULL, &line), 0);
        check_ssh_line(keys[i], NULL, line);
        free(line);
    }
}
END_TEST

/* The OpenSSH fingerprint of KEY: SHA256 and unpadded base64 of the blob. */
static void
ssh_fingerprint(EVP_PKEY *key, char *out)
{
    uint8_t md[32];
    struct buf b;
    int n;

    buf_init(&b, 4096);
    ck_assert_int_eq(pubkey_ssh_blob(key, &b), 0);
    ck_assert_int_eq(EVP_Digest(b.data, b.len, md, NULL, EVP_sha256(), NULL),
                     1);
    buf_free(&b);
    strcpy(out, "SHA256:");
    n = EVP_EncodeBlock((unsigned char *)out + 7, md, sizeof(md));
    ck_assert_int_eq(n, 44);
    ck_assert_int_eq(out[7 + 43], '=');
    out[7 + 43] = '\0';
}

/*
 * Writes the line of KEY to a file and has ssh-keygen print its
 * fingerprint: "BITS SHA256:... COMMENT (TYPE)".
 */
static void
check_ssh_keygen(EVP_PKEY *key, const char *expect)
{
    char path[] = "/tmp/custodian-pubkey-XXXXXX", cmd[128], got[512];
    char want[512], fp[PUBKEY_FPR_MAX], own[64];
    char *line = NULL;
    FILE *f;
    int fd;

    ck_assert_int_eq(pubkey_ssh_line(key, "unit-test", &line), 0);
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fprintf(f, "%s\n", line), 0);
    ck_assert_int_eq(fclose(f), 0);
    free(line);

    snprintf(cmd, sizeof(cmd), SSH_KEYGEN " -l -f %s 2>&1", path);
    f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    got[0] = '\0';
    if (fgets(got, sizeof(got), f) == NULL)
        got[0] = '\0';
    ck_assert_int_eq(pclose(f), 0);
    unlink(path);

    /* The module's fingerprint is the one ssh-keygen prints. */
    ck_assert_int_eq(pubkey_fingerprint(key, fp), 0);
    ssh_fingerprint(key, own);
    ck_assert_str_eq(fp, own);
    snprintf(want, sizeof(want), "%s unit-test %s\n", fp, expect);
    ck_assert_ptr_nonnull(strchr(got, ' '));
    ck_assert_str_eq(strchr(got, ' ') + 1, want);
}

START_TEST(ssh_keygen_reads_lines)
{
    if (access(SSH_KEYGEN, X_OK) != 0) {
        fprintf(stderr, "ssh-keygen not installed, check skipped\n");
        return;
    }
    check_ssh_keygen(key_rsa, "(RSA)");
    check_ssh_keygen(key_p256, "(ECDSA)");
    check_ssh_keygen(key_p384, "(ECDSA)");
    check_ssh_keygen(key_ed25519, "(ED25519)");
}
END_TEST

static void
check_from_ec(EVP_PKEY *key, enum alg_keytype type)
{
    uint8_t point[133];
    size_t len = ec_point(key, point, sizeof(point));
    EVP_PKEY *rebuilt = NULL;

    ck_assert_int_eq(pubkey_from_ec(type, point, len, &rebuilt), 0);
    ck_assert_ptr_nonnull(rebuilt);
    ck_assert_int_eq(EVP_PKEY_eq(rebuilt, key), 1);
    ck_assert_int_eq(pubkey_keytype(rebuilt), type);
    EVP_PKEY_free(rebuilt);
    rebuilt = NULL;

    /* Flip a bit of Y: the point leaves the curve. */
    point[len - 1] ^= 0x01;
    ck_assert_int_eq(pubkey_from_ec(type, point, len, &rebuilt), CUST_ERR_ARG);
    ck_assert_ptr_null(rebuilt);
}

START_TEST(from_ec)
{
    check_from_ec(key_p256, ALG_KEY_ECDSA_P256);
    check_from_ec(key_p384, ALG_KEY_ECDSA_P384);
}
END_TEST

START_TEST(from_ec_refused)
{
    uint8_t point[133];
    size_t len = ec_point(key_p256, point, sizeof(point));
    EVP_PKEY *out = NULL;

    /* A P-256 point is not a P-384 point. */
    ck_assert_int_eq(pubkey_from_ec(ALG_KEY_ECDSA_P384, point, len, &out),
                     CUST_ERR_ARG);
    /* Not an EC key type. */
    ck_assert_int_eq(pubkey_from_ec(ALG_KEY_ED25519, point, len, &out),
                     CUST_ERR_ARG);
    /* Truncated, and empty. */
    ck_assert_int_eq(pubkey_from_ec(ALG_KEY_ECDSA_P256, point, len - 1, &out),
                     CUST_ERR_ARG);
    ck_assert_int_eq(pubkey_from_ec(ALG_KEY_ECDSA_P256, point, 0, &out),
                     CUST_ERR_ARG);
    /* Compressed or hybrid prefixes are not what a token returns. */
    point[0] = 0x06;
    ck_assert_int_eq(pubkey_from_ec(ALG_KEY_ECDSA_P256, point, len, &out),
                     CUST_ERR_ARG);
    ck_assert_ptr_null(out);
}
END_TEST

START_TEST(from_ed25519)
{
    uint8_t raw[33] = {0};
    size_t len = 32;
    EVP_PKEY *out = NULL;

    ck_assert_int_eq(EVP_PKEY_get_raw_public_key(key_ed25519, raw, &len), 1);
    ck_assert_int_eq(pubkey_from_ed25519(raw, 32, &out), 0);
    ck_assert_int_eq(EVP_PKEY_eq(out, key_ed25519), 1);
    ck_assert_int_eq(pubkey_keytype(out), ALG_KEY_ED25519);
    EVP_PKEY_free(out);

    out = NULL;
    ck_assert_int_eq(pubkey_from_ed25519(raw, 31, &out), CUST_ERR_ARG);
    ck_assert_int_eq(pubkey_from_ed25519(raw, 33, &out), CUST_ERR_ARG);
    ck_assert_int_eq(pubkey_from_ed25519(raw, 0, &out), CUST_ERR_ARG);
    ck_assert_ptr_null(out);
}
END_TEST

START_TEST(from_rsa)
{
    uint8_t n[256], e[8];
    size_t nlen = rsa_param(key_rsa, OSSL_PKEY_PARAM_RSA_N, n, sizeof(n));
    size_t elen = rsa_param(key_rsa, OSSL_PKEY_PARAM_RSA_E, e, sizeof(e));
    EVP_PKEY *out = NULL;

    ck_assert_int_eq(pubkey_from_rsa(n, nlen, e, elen, &out), 0);
    ck_assert_int_eq(EVP_PKEY_eq(out, key_rsa), 1);
    ck_assert_int_eq(pubkey_keytype(out), ALG_KEY_RSA_2048);
    EVP_PKEY_free(out);
}
END_TEST

START_TEST(spki_der)
{
    EVP_PKEY *keys[] = {key_p256, key_p384, key_ed25519, key_rsa};
    const unsigned char *p;
    EVP_PKEY *back;
    uint8_t *der;
    size_t i, len;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        der = NULL;
        len = 0;
        ck_assert_int_eq(pubkey_spki_der(keys[i], &der, &len), 0);
        ck_assert_uint_gt(len, 2);
        ck_assert_uint_eq(der[0], 0x30);

        p = der;
        back = d2i_PUBKEY(NULL, &p, (long)len);
        ck_assert_ptr_nonnull(back);
        ck_assert_ptr_eq(p, der + len);
        ck_assert_int_eq(EVP_PKEY_eq(back, keys[i]), 1);
        EVP_PKEY_free(back);
        free(der);
    }
}
END_TEST

START_TEST(spki_pem)
{
    static const char begin[] = "-----BEGIN PUBLIC KEY-----\n";
    static const char end[] = "-----END PUBLIC KEY-----\n";
    EVP_PKEY *keys[] = {key_p256, key_ed25519, key_rsa};
    EVP_PKEY *back;
    char *pem;
    size_t i, len;
    BIO *bio;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        pem = NULL;
        ck_assert_int_eq(pubkey_spki_pem(keys[i], &pem), 0);
        len = strlen(pem);
        ck_assert_uint_gt(len, sizeof(begin) + sizeof(end));
        ck_assert_mem_eq(pem, begin, sizeof(begin) - 1);
        ck_assert_str_eq(pem + len - (sizeof(end) - 1), end);

        bio = BIO_new_mem_buf(pem, (int)len);
        ck_assert_ptr_nonnull(bio);
        back = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        ck_assert_ptr_nonnull(back);
        ck_assert_int_eq(EVP_PKEY_eq(back, keys[i]), 1);
        EVP_PKEY_free(back);
        BIO_free(bio);
        free(pem);
    }
}
END_TEST

static Suite *
pubkey_suite(void)
{
    Suite *s = suite_create("pubkey");
    TCase *ssh = tcase_create("ssh");
    TCase *parts = tcase_create("parts");
    TCase *spki = tcase_create("spki");
    TCase *all[] = {ssh, parts, spki};
    size_t i;

    for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        tcase_add_unchecked_fixture(all[i], keys_generate, keys_free);
        tcase_set_timeout(all[i], 60);
        suite_add_tcase(s, all[i]);
    }
    tcase_add_test(ssh, keytypes);
    tcase_add_test(ssh, ssh_blob_ed25519);
    tcase_add_test(ssh, ssh_blob_ecdsa);
    tcase_add_test(ssh, ssh_blob_rsa);
    tcase_add_test(ssh, ssh_line);
    tcase_add_test(ssh, ssh_keygen_reads_lines);

    tcase_add_test(parts, from_ec);
    tcase_add_test(parts, from_ec_refused);
    tcase_add_test(parts, from_ed25519);
    tcase_add_test(parts, from_rsa);

    tcase_add_test(spki, spki_der);
    tcase_add_test(spki, spki_pem);
    return s;
}

int
main(void)
{
    return check_run(pubkey_suite());
}
