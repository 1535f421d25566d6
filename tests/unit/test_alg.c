/*
 * Unit tests of alg: the names of key types, digests and schemes in both
 * directions, refused and unknown names, which scheme fits which key
 * type, digest lengths and the digest computation.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "custodian/error.h"
#include "alg.h"
#include "check_main.h"

static const struct {
    enum alg_keytype type;
    const char *name;
    unsigned rsa_bits;
    enum alg_scheme scheme;
} keytypes[] = {
    {ALG_KEY_ECDSA_P256, "ecdsa-p256", 0, ALG_SCHEME_ECDSA},
    {ALG_KEY_ECDSA_P384, "ecdsa-p384", 0, ALG_SCHEME_ECDSA},
    {ALG_KEY_ED25519, "ed25519", 0, ALG_SCHEME_ED25519},
    {ALG_KEY_RSA_2048, "rsa-2048", 2048, ALG_SCHEME_RSA_PKCS1},
    {ALG_KEY_RSA_3072, "rsa-3072", 3072, ALG_SCHEME_RSA_PKCS1},
    {ALG_KEY_RSA_4096, "rsa-4096", 4096, ALG_SCHEME_RSA_PKCS1},
};

static const struct {
    enum alg_digest md;
    const char *name;
    size_t len;
} digests[] = {
    {ALG_DIGEST_SHA256, "sha256", 32},
    {ALG_DIGEST_SHA384, "sha384", 48},
    {ALG_DIGEST_SHA512, "sha512", 64},
};

static const struct {
    enum alg_scheme scheme;
    const char *name;
} schemes[] = {
    {ALG_SCHEME_ECDSA, "ecdsa"},
    {ALG_SCHEME_ED25519, "ed25519"},
    {ALG_SCHEME_RSA_PKCS1, "rsa-pkcs1"},
    {ALG_SCHEME_RSA_PSS, "rsa-pss"},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

START_TEST(keytype_names)
{
    size_t i;

    for (i = 0; i < COUNT(keytypes); i++) {
        ck_assert_int_eq(alg_keytype_from_name(keytypes[i].name),
                         keytypes[i].type);
        ck_assert_str_eq(alg_keytype_name(keytypes[i].type), keytypes[i].name);
        ck_assert_uint_eq(alg_keytype_rsa_bits(keytypes[i].type),
                          keytypes[i].rsa_bits);
        ck_assert_int_eq(alg_keytype_is_rsa(keytypes[i].type),
                         keytypes[i].rsa_bits != 0);
        ck_assert_int_eq(alg_default_scheme(keytypes[i].type),
                         keytypes[i].scheme);
    }
    ck_assert_str_eq(alg_keytype_name(ALG_KEY_NONE), "none");
    ck_assert_str_eq(alg_keytype_name((enum alg_keytype)77), "none");
    ck_assert_int_eq(alg_default_scheme(ALG_KEY_NONE), ALG_SCHEME_NONE);
    ck_assert_uint_eq(alg_keytype_rsa_bits(ALG_KEY_NONE), 0);
}
END_TEST

START_TEST(keytype_unknown)
{
    static const char *const bad[] = {
        "",         "none",      "rsa",        "rsa-1024",
        "RSA-2048", "ecdsa",     "ecdsa-p521", "ed448",
        "x25519",   "rsa-2048 ", "ed25519x",   "ecdsa-p256\n",
    };
    size_t i;

    for (i = 0; i < COUNT(bad); i++)
        ck_assert_int_eq(alg_keytype_from_name(bad[i]), CUST_ERR_KEYTYPE);
}
END_TEST

START_TEST(digest_names)
{
    size_t i;

    for (i = 0; i < COUNT(digests); i++) {
        ck_assert_int_eq(alg_digest_from_name(digests[i].name), digests[i].md);
        ck_assert_str_eq(alg_digest_name(digests[i].md), digests[i].name);
        ck_assert_uint_eq(alg_digest_len(digests[i].md), digests[i].len);
        ck_assert_ptr_nonnull(alg_digest_md(digests[i].md));
        ck_assert_int_eq(EVP_MD_get_size(alg_digest_md(digests[i].md)),
                         (int)digests[i].len);
        ck_assert_uint_le(digests[i].len, ALG_DIGEST_MAX);
    }
    ck_assert_str_eq(alg_digest_name(ALG_DIGEST_NONE), "none");
    ck_assert_uint_eq(alg_digest_len(ALG_DIGEST_NONE), 0);
    ck_assert_uint_eq(alg_digest_len((enum alg_digest)9), 0);
    ck_assert_ptr_null(alg_digest_md(ALG_DIGEST_NONE));
}
END_TEST

START_TEST(digest_refused)
{
    static const char *const bad[] = {
        "sha1", "md5", "sha224", "SHA256", "sha-256", "", "none", "sha3-256",
    };
    size_t i;

    for (i = 0; i < COUNT(bad); i++)
        ck_assert_int_eq(alg_digest_from_name(bad[i]), CUST_ERR_DIGEST);
}
END_TEST

START_TEST(scheme_names)
{
    size_t i;

    for (i = 0; i < COUNT(schemes); i++) {
        ck_assert_int_eq(alg_scheme_from_name(schemes[i].name),
                         schemes[i].scheme);
        ck_assert_str_eq(alg_scheme_name(schemes[i].scheme), schemes[i].name);
    }
    ck_assert_str_eq(alg_scheme_name(ALG_SCHEME_NONE), "none");
    ck_assert_int_eq(alg_scheme_from_name("pss"), CUST_ERR_SCHEME);
    ck_assert_int_eq(alg_scheme_from_name("rsa"), CUST_ERR_SCHEME);
    ck_assert_int_eq(alg_scheme_from_name(""), CUST_ERR_SCHEME);
    ck_assert_int_eq(alg_scheme_from_name("none"), CUST_ERR_SCHEME);
}
END_TEST

START_TEST(scheme_fits_matrix)
{
    /* Rows: key types in enum order from NONE; columns: schemes from
     * NONE, ECDSA, ED25519, RSA_PKCS1, RSA_PSS. 1 means it fits. */
    static const int fits[7][5] = {
        {0, 0, 0, 0, 0}, /* none */
        {0, 1, 0, 0, 0}, /* ecdsa-p256 */
        {0, 1, 0, 0, 0}, /* ecdsa-p384 */
        {0, 0, 1, 0, 0}, /* ed25519 */
        {0, 0, 0, 1, 1}, /* rsa-2048 */
        {0, 0, 0, 1, 1}, /* rsa-3072 */
        {0, 0, 0, 1, 1}, /* rsa-4096 */
    };
    int t, s, rc;

    for (t = 0; t < 7; t++) {
        for (s = 0; s < 5; s++) {
            rc = alg_scheme_fits((enum alg_keytype)t, (enum alg_scheme)s);
            ck_assert_msg(rc == (fits[t][s] ? 0 : CUST_ERR_SCHEME),
                          "alg_scheme_fits(%d, %d) = %d", t, s, rc);
        }
    }
    ck_assert_int_eq(alg_scheme_fits(ALG_KEY_RSA_2048, (enum alg_scheme)9),
                     CUST_ERR_SCHEME);
    ck_assert_int_eq(alg_scheme_fits((enum alg_keytype)9, ALG_SCHEME_ECDSA),
                     CUST_ERR_SCHEME);
}
END_TEST

START_TEST(digest_compute)
{
    /* SHA-256("abc"), FIPS 180-2 appendix B.1. */
    static const uint8_t abc256[32] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
        0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
        0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
    };
    /* First bytes of SHA-384("abc") and SHA-512("abc"). */
    static const uint8_t abc384[8] = {0xcb, 0x00, 0x75, 0x3f,
                                      0x45, 0xa3, 0x5e, 0x8b};
    static const uint8_t abc512[8] = {0xdd, 0xaf, 0x35, 0xa1,
                                      0x93, 0x61, 0x7a, 0xba};
    uint8_t out[ALG_DIGEST_MAX];

    ck_assert_int_eq(alg_digest_compute(ALG_DIGEST_SHA256, "abc", 3, out), 0);
    ck_assert_mem_eq(out, abc256, sizeof(abc256));
    ck_assert_int_eq(alg_digest_compute(ALG_DIGEST_SHA384, "abc", 3, out), 0);
    ck_assert_mem_eq(out, abc384, sizeof(abc384));
    ck_assert_int_eq(alg_digest_compute(ALG_DIGEST_SHA512, "abc", 3, out), 0);
    ck_assert_mem_eq(out, abc512, sizeof(abc512));
    ck_assert_int_eq(alg_digest_compute(ALG_DIGEST_NONE, "abc", 3, out),
                     CUST_ERR_DIGEST);
}
END_TEST

static Suite *
alg_suite(void)
{
    Suite *s = suite_create("alg");
    TCase *names = tcase_create("names");
    TCase *props = tcase_create("properties");

    tcase_add_test(names, keytype_names);
    tcase_add_test(names, keytype_unknown);
    tcase_add_test(names, digest_names);
    tcase_add_test(names, digest_refused);
    tcase_add_test(names, scheme_names);
    suite_add_tcase(s, names);

    tcase_add_test(props, scheme_fits_matrix);
    tcase_add_test(props, digest_compute);
    suite_add_tcase(s, props);
    return s;
}

int
main(void)
{
    return check_run(alg_suite());
}
