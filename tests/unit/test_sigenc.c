/*
 * Unit tests of sigenc: PKCS#11 r || s to DER ECDSA-Sig-Value and back,
 * and PKCS#1 v1.5 DigestInfo. Expected encodings are written out by hand
 * from X.690, not produced by the code under test.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "custodian/error.h"
#include "sigenc.h"
#include "check_main.h"

/*
 * Known answers. Each expected DER keeps its tag and length bytes on a
 * line of their own; clang-format is off there so they stay readable.
 */

/* s for most P-256 cases: 01 02 ... 20, top bit clear. */
static const uint8_t s_count[32] = {
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
    0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16,
    0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
};

/* r = 00 00 7f 01 ... 1d: two zero bytes to drop, no pad needed. */
static const uint8_t r_zeros[32] = {
    0x00, 0x00, 0x7f, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
    0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13,
    0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
};

/* clang-format off */
static const uint8_t der_r_zeros[] = {
    0x30, 0x42, /* SEQUENCE, 66 bytes */
    0x02, 0x1e, /* INTEGER r, 30 bytes: 00 00 dropped */
    0x7f, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
    0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
    0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
    0x02, 0x20, /* INTEGER s, 32 bytes */
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
    0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16,
    0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
};
/* clang-format on */

/* s = ff fe ... e0: the top bit is set, so DER needs a 00 pad. */
static const uint8_t s_high[32] = {
    0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8, 0xf7, 0xf6, 0xf5,
    0xf4, 0xf3, 0xf2, 0xf1, 0xf0, 0xef, 0xee, 0xed, 0xec, 0xeb, 0xea,
    0xe9, 0xe8, 0xe7, 0xe6, 0xe5, 0xe4, 0xe3, 0xe2, 0xe1, 0xe0,
};

/* clang-format off */
static const uint8_t der_s_high[] = {
    0x30, 0x45, /* SEQUENCE, 69 bytes */
    0x02, 0x20, /* INTEGER r, 32 bytes */
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
    0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16,
    0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
    0x02, 0x21, 0x00, /* INTEGER s, 33 bytes: 00 pad */
    0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8, 0xf7, 0xf6, 0xf5,
    0xf4, 0xf3, 0xf2, 0xf1, 0xf0, 0xef, 0xee, 0xed, 0xec, 0xeb, 0xea,
    0xe9, 0xe8, 0xe7, 0xe6, 0xe5, 0xe4, 0xe3, 0xe2, 0xe1, 0xe0,
};
/* clang-format on */

/* r = 00 ... 00 05: a one-byte INTEGER. */
static const uint8_t r_small[32] = {[31] = 0x05};

/* clang-format off */
static const uint8_t der_r_small[] = {
    0x30, 0x25, /* SEQUENCE, 37 bytes */
    0x02, 0x01, 0x05, /* INTEGER r, 1 byte */
    0x02, 0x20, /* INTEGER s, 32 bytes */
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
    0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16,
    0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
};
/* clang-format on */

/* r = 00 00 80 01 ... 1d: zeros dropped, then one 00 pad put back. */
static const uint8_t r_zeros_high[32] = {
    0x00, 0x00, 0x80, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
    0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13,
    0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
};

/* clang-format off */
static const uint8_t der_r_zeros_high[] = {
    0x30, 0x43, /* SEQUENCE, 67 bytes */
    0x02, 0x1f, 0x00, /* INTEGER r, 31 bytes: zeros dropped, 00 pad */
    0x80, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
    0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
    0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
    0x02, 0x20, /* INTEGER s, 32 bytes */
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
    0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16,
    0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
};
/* clang-format on */

/* P-384, both halves with the top bit set: the largest DER (104 bytes). */
static const uint8_t r_p384[48] = {
    0x80, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
    0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
    0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23,
    0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
};

static const uint8_t s_p384[48] = {
    0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8, 0xf7, 0xf6, 0xf5, 0xf4,
    0xf3, 0xf2, 0xf1, 0xf0, 0xef, 0xee, 0xed, 0xec, 0xeb, 0xea, 0xe9, 0xe8,
    0xe7, 0xe6, 0xe5, 0xe4, 0xe3, 0xe2, 0xe1, 0xe0, 0xdf, 0xde, 0xdd, 0xdc,
    0xdb, 0xda, 0xd9, 0xd8, 0xd7, 0xd6, 0xd5, 0xd4, 0xd3, 0xd2, 0xd1, 0xd0,
};

/* clang-format off */
static const uint8_t der_p384[] = {
    0x30, 0x66, /* SEQUENCE, 102 bytes: short-form length */
    0x02, 0x31, 0x00, /* INTEGER r, 49 bytes: 00 pad */
    0x80, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
    0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
    0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
    0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b,
    0x2c, 0x2d, 0x2e, 0x2f,
    0x02, 0x31, 0x00, /* INTEGER s, 49 bytes: 00 pad */
    0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8, 0xf7, 0xf6, 0xf5,
    0xf4, 0xf3, 0xf2, 0xf1, 0xf0, 0xef, 0xee, 0xed, 0xec, 0xeb, 0xea,
    0xe9, 0xe8, 0xe7, 0xe6, 0xe5, 0xe4, 0xe3, 0xe2, 0xe1, 0xe0, 0xdf,
    0xde, 0xdd, 0xdc, 0xdb, 0xda, 0xd9, 0xd8, 0xd7, 0xd6, 0xd5, 0xd4,
    0xd3, 0xd2, 0xd1, 0xd0,
};
/* clang-format on */

/*
 * Encodes r || s (HALF bytes each), checks the DER against EXPECT, then
 * decodes it back and checks r || s comes out unchanged.
 */
static void
check_ecdsa(const uint8_t *r, const uint8_t *s, size_t half,
            const uint8_t *expect, size_t expect_len)
{
    uint8_t raw[96], back[96], der[SIGENC_ECDSA_DER_MAX];
    size_t derlen = 0;

    memcpy(raw, r, half);
    memcpy(raw + half, s, half);
    memset(der, 0xaa, sizeof(der));
    ck_assert_int_eq(sigenc_ecdsa_der(raw, 2 * half, der, sizeof(der), &derlen),
                     0);
    ck_assert_uint_eq(derlen, expect_len);
    ck_assert_mem_eq(der, expect, expect_len);

    memset(back, 0xaa, sizeof(back));
    ck_assert_int_eq(sigenc_ecdsa_raw(der, derlen, half, back), 0);
    ck_assert_mem_eq(back, raw, 2 * half);
}

START_TEST(ecdsa_r_leading_zeros)
{
    check_ecdsa(r_zeros, s_count, 32, der_r_zeros, sizeof(der_r_zeros));
}
END_TEST

START_TEST(ecdsa_s_top_bit)
{
    check_ecdsa(s_count, s_high, 32, der_s_high, sizeof(der_s_high));
}
END_TEST

START_TEST(ecdsa_r_last_byte_only)
{
    check_ecdsa(r_small, s_count, 32, der_r_small, sizeof(der_r_small));
}
END_TEST

START_TEST(ecdsa_r_zeros_then_top_bit)
{
    check_ecdsa(r_zeros_high, s_count, 32, der_r_zeros_high,
                sizeof(der_r_zeros_high));
}
END_TEST

START_TEST(ecdsa_p384_largest)
{
    ck_assert_uint_eq(sizeof(der_p384), SIGENC_ECDSA_DER_MAX);
    check_ecdsa(r_p384, s_p384, 48, der_p384, sizeof(der_p384));
}
END_TEST

START_TEST(ecdsa_odd_and_empty_refused)
{
    uint8_t raw[64] = {0x01}, der[SIGENC_ECDSA_DER_MAX];
    size_t derlen = 12345;

    ck_assert_int_eq(sigenc_ecdsa_der(raw, 63, der, sizeof(der), &derlen),
                     CUST_ERR_ARG);
    ck_assert_int_eq(sigenc_ecdsa_der(raw, 1, der, sizeof(der), &derlen),
                     CUST_ERR_ARG);
    ck_assert_int_eq(sigenc_ecdsa_der(raw, 0, der, sizeof(der), &derlen),
                     CUST_ERR_ARG);
    ck_assert_uint_eq(derlen, 12345);
}
END_TEST

START_TEST(ecdsa_small_output_refused)
{
    uint8_t raw[96], der[SIGENC_ECDSA_DER_MAX];
    size_t derlen = 12345;

    memcpy(raw, r_p384, 48);
    memcpy(raw + 48, s_p384, 48);
    ck_assert_int_eq(sigenc_ecdsa_der(raw, 96, der, 103, &derlen),
                     CUST_ERR_TOO_BIG);
    ck_assert_uint_eq(derlen, 12345);

    memcpy(raw, s_count, 32);
    memcpy(raw + 32, s_high, 32);
    ck_assert_int_eq(
        sigenc_ecdsa_der(raw, 64, der, sizeof(der_s_high) - 1, &derlen),
        CUST_ERR_TOO_BIG);
    ck_assert_int_eq(
        sigenc_ecdsa_der(raw, 64, der, sizeof(der_s_high), &derlen), 0);
    ck_assert_uint_eq(derlen, sizeof(der_s_high));
}
END_TEST

START_TEST(ecdsa_raw_malformed_refused)
{
    uint8_t der[sizeof(der_p384) + 1], back[96];

    /* Trailing garbage after the SEQUENCE. */
    memcpy(der, der_s_high, sizeof(der_s_high));
    der[sizeof(der_s_high)] = 0x00;
    ck_assert_int_eq(sigenc_ecdsa_raw(der, sizeof(der_s_high) + 1, 32, back),
                     CUST_ERR_ARG);

    /* Truncated. */
    ck_assert_int_eq(
        sigenc_ecdsa_raw(der_s_high, sizeof(der_s_high) - 1, 32, back),
        CUST_ERR_ARG);

    /* 48-byte values do not fit 32-byte halves. */
    ck_assert_int_eq(sigenc_ecdsa_raw(der_p384, sizeof(der_p384), 32, back),
                     CUST_ERR_ARG);
}
END_TEST

/* A digest of LEN bytes: 00 01 02 ... */
static void
fill_digest(uint8_t *d, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        d[i] = (uint8_t)i;
}

static void
check_digestinfo(enum alg_digest md, const uint8_t *prefix, size_t dlen)
{
    uint8_t digest[64], out[SIGENC_DIGESTINFO_MAX];
    size_t outlen = 0;

    fill_digest(digest, dlen);
    memset(out, 0xaa, sizeof(out));
    ck_assert_int_eq(
        sigenc_digestinfo(md, digest, dlen, out, sizeof(out), &outlen), 0);
    ck_assert_uint_eq(outlen, 19 + dlen);
    ck_assert_mem_eq(out, prefix, 19);
    ck_assert_mem_eq(out + 19, digest, dlen);

    /* One byte short of the exact size. */
    outlen = 12345;
    ck_assert_int_eq(
        sigenc_digestinfo(md, digest, dlen, out, 19 + dlen - 1, &outlen),
        CUST_ERR_TOO_BIG);
    ck_assert_uint_eq(outlen, 12345);
}

START_TEST(digestinfo_sha256)
{
    static const uint8_t prefix[19] = {
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
        0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
    };

    check_digestinfo(ALG_DIGEST_SHA256, prefix, 32);
}
END_TEST

START_TEST(digestinfo_sha384)
{
    static const uint8_t prefix[19] = {
        0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
        0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30,
    };

    check_digestinfo(ALG_DIGEST_SHA384, prefix, 48);
}
END_TEST

START_TEST(digestinfo_sha512)
{
    static const uint8_t prefix[19] = {
        0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
        0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40,
    };

    check_digestinfo(ALG_DIGEST_SHA512, prefix, 64);
    ck_assert_uint_eq(19 + 64, SIGENC_DIGESTINFO_MAX);
}
END_TEST

START_TEST(digestinfo_wrong_length)
{
    uint8_t digest[65] = {0}, out[SIGENC_DIGESTINFO_MAX];
    size_t outlen = 12345;

    ck_assert_int_eq(sigenc_digestinfo(ALG_DIGEST_SHA256, digest, 31, out,
                                       sizeof(out), &outlen),
                     CUST_ERR_DIGEST_LEN);
    ck_assert_int_eq(sigenc_digestinfo(ALG_DIGEST_SHA256, digest, 48, out,
                                       sizeof(out), &outlen),
                     CUST_ERR_DIGEST_LEN);
    ck_assert_int_eq(sigenc_digestinfo(ALG_DIGEST_SHA384, digest, 32, out,
                                       sizeof(out), &outlen),
                     CUST_ERR_DIGEST_LEN);
    ck_assert_int_eq(sigenc_digestinfo(ALG_DIGEST_SHA512, digest, 65, out,
                                       sizeof(out), &outlen),
                     CUST_ERR_DIGEST_LEN);
    ck_assert_int_eq(sigenc_digestinfo(ALG_DIGEST_SHA512, digest, 0, out,
                                       sizeof(out), &outlen),
                     CUST_ERR_DIGEST_LEN);
    ck_assert_uint_eq(outlen, 12345);
}
END_TEST

START_TEST(digestinfo_unknown_digest)
{
    uint8_t digest[32] = {0}, out[SIGENC_DIGESTINFO_MAX];
    size_t outlen = 12345;

    ck_assert_int_eq(sigenc_digestinfo(ALG_DIGEST_NONE, digest, 32, out,
                                       sizeof(out), &outlen),
                     CUST_ERR_DIGEST);
    ck_assert_int_eq(sigenc_digestinfo((enum alg_digest)99, digest, 32, out,
                                       sizeof(out), &outlen),
                     CUST_ERR_DIGEST);
    ck_assert_uint_eq(outlen, 12345);
}
END_TEST

static Suite *
sigenc_suite(void)
{
    Suite *s = suite_create("sigenc");
    TCase *ecdsa = tcase_create("ecdsa");
    TCase *pkcs1 = tcase_create("digestinfo");

    tcase_add_test(ecdsa, ecdsa_r_leading_zeros);
    tcase_add_test(ecdsa, ecdsa_s_top_bit);
    tcase_add_test(ecdsa, ecdsa_r_last_byte_only);
    tcase_add_test(ecdsa, ecdsa_r_zeros_then_top_bit);
    tcase_add_test(ecdsa, ecdsa_p384_largest);
    tcase_add_test(ecdsa, ecdsa_odd_and_empty_refused);
    tcase_add_test(ecdsa, ecdsa_small_output_refused);
    tcase_add_test(ecdsa, ecdsa_raw_malformed_refused);
    suite_add_tcase(s, ecdsa);

    tcase_add_test(pkcs1, digestinfo_sha256);
    tcase_add_test(pkcs1, digestinfo_sha384);
    tcase_add_test(pkcs1, digestinfo_sha512);
    tcase_add_test(pkcs1, digestinfo_wrong_length);
    tcase_add_test(pkcs1, digestinfo_unknown_digest);
    suite_add_tcase(s, pkcs1);
    return s;
}

int
main(void)
{
    return check_run(sigenc_suite());
}
