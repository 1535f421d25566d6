/*
 * Unit tests of the transition statement (its exact text and its check
 * with keys made here by OpenSSL) and of base64, which the keyring and
 * the state file carry signatures and keys in.
 */
#include <string.h>

#include <check.h>
#include <openssl/evp.h>

#include "b64.h"
#include "custodian/error.h"
#include "transition.h"
#include "check_main.h"

static const struct transition link = {
    .key = "release",
    .from = 1,
    .to = 2,
    .from_fpr = "SHA256:aaa",
    .to_fpr = "SHA256:bbb",
    .at = 1790000000, /* 2026-09-21T14:13:20Z */
};

START_TEST(text_exact)
{
    static const char want[] = "custodian key transition 1\n"
                               "key: release\n"
                               "from: 1 SHA256:aaa\n"
                               "to: 2 SHA256:bbb\n"
                               "created: 2026-09-21T14:13:20Z\n";
    char text[TRANSITION_TEXT_MAX];

    ck_assert_int_eq(transition_text(&link, text), (int)strlen(want));
    ck_assert_str_eq(text, want);
}
END_TEST

START_TEST(text_refuses_line_breaks_and_overflow)
{
    struct transition t = link;
    char text[TRANSITION_TEXT_MAX], long_name[TRANSITION_TEXT_MAX];

    t.key = "release\nfrom: 9 SHA256:evil";
    ck_assert_int_eq(transition_text(&t, text), CUST_ERR_ARG);
    t = link;
    t.to_fpr = "SHA256:bbb\r";
    ck_assert_int_eq(transition_text(&t, text), CUST_ERR_ARG);
    memset(long_name, 'k', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    t = link;
    t.key = long_name;
    ck_assert_int_eq(transition_text(&t, text), CUST_ERR_TOO_BIG);
}
END_TEST

/* Signs TEXT with a fresh key of ALG as the daemon would, and checks it. */
static void
check_sign_verify(const char *alg, const char *curve)
{
    EVP_PKEY *key = curve ? EVP_PKEY_Q_keygen(NULL, NULL, alg, curve)
                          : EVP_PKEY_Q_keygen(NULL, NULL, alg);
    EVP_PKEY *other = curve ? EVP_PKEY_Q_keygen(NULL, NULL, alg, curve)
                            : EVP_PKEY_Q_keygen(NULL, NULL, alg);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    char text[TRANSITION_TEXT_MAX];
    uint8_t sig[512];
    size_t siglen = sizeof(sig);
    int n = transition_text(&link, text);

    ck_assert_ptr_nonnull(key);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(
        EVP_DigestSignInit(ctx, NULL,
                           strcmp(alg, "ED25519") == 0 ? NULL : EVP_sha256(),
                           NULL, key),
        1);
    ck_assert_int_eq(
        EVP_DigestSign(ctx, sig, &siglen, (uint8_t *)text, (size_t)n), 1);
    ck_assert_int_eq(transition_verify(key, text, (size_t)n, sig, siglen), 0);
    /* Another key, another text, a damaged signature: all refused. */
    ck_assert_int_eq(transition_verify(other, text, (size_t)n, sig, siglen),
                     CUST_ERR_BAD_SIGNATURE);
    text[10] ^= 1;
    ck_assert_int_eq(transition_verify(key, text, (size_t)n, sig, siglen),
                     CUST_ERR_BAD_SIGNATURE);
    text[10] ^= 1;
    sig[siglen / 2] ^= 1;
    ck_assert_int_eq(transition_verify(key, text, (size_t)n, sig, siglen),
                     CUST_ERR_BAD_SIGNATURE);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
}

START_TEST(verify_ecdsa)
{
    check_sign_verify("EC", "P-256");
}
END_TEST

START_TEST(verify_ed25519)
{
    check_sign_verify("ED25519", NULL);
}
END_TEST

START_TEST(b64_round_trip_and_refusals)
{
    static const uint8_t in[5] = {0x00, 0xff, 0x10, 0x20, 0x30};
    uint8_t out[8];
    char text[16];
    size_t len = 99;

    ck_assert_int_eq(b64_encode(in, 5, text, sizeof(text)), 0);
    ck_assert_str_eq(text, "AP8QIDA=");
    ck_assert_int_eq(b64_decode(text, out, sizeof(out), &len), 0);
    ck_assert_uint_eq(len, 5);
    ck_assert_mem_eq(out, in, 5);
    ck_assert_int_eq(b64_decode("AP8QIA==", out, sizeof(out), &len), 0);
    ck_assert_uint_eq(len, 4);
    ck_assert_int_eq(b64_decode("AP8QI", out, sizeof(out), &len),
                     CUST_ERR_PROTOCOL);
    ck_assert_int_eq(b64_decode("AP8Q!DA=", out, sizeof(out), &len),
                     CUST_ERR_PROTOCOL);
    ck_assert_int_eq(b64_decode("AAAAAAAAAAAA", out, 8, &len),
                     CUST_ERR_TOO_BIG);
    ck_assert_int_eq(b64_encode(in, 5, text, 8), CUST_ERR_TOO_BIG);
}
END_TEST

static Suite *
transition_suite(void)
{
    Suite *s = suite_create("transition");
    TCase *tc = tcase_create("transition");

    tcase_add_test(tc, text_exact);
    tcase_add_test(tc, text_refuses_line_breaks_and_overflow);
    tcase_add_test(tc, verify_ecdsa);
    tcase_add_test(tc, verify_ed25519);
    tcase_add_test(tc, b64_round_trip_and_refusals);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return check_run(transition_suite());
}
