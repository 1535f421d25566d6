/*
 * Unit tests of sshsig: the preimage ssh-keygen -Y sign sends (bytes as
 * captured from OpenSSH 9.2) and everything that must not pass for one,
 * and SSH signature blobs written out by hand from RFC 4253 and 5656.
 */
#include <string.h>

#include <check.h>

#include "custodian/error.h"
#include "sshsig.h"
#include "check_main.h"

/* ssh-keygen -Y sign -n file: magic, "file", "", "sha512", 64-byte hash. */
static uint8_t captured[6 + 8 + 4 + 10 + 4 + 64] = {
    'S', 'S', 'H', 'S', 'I', 'G', 0, 0, 0, 4,  'f',
    'i', 'l', 'e', 0,   0,   0,   0, 0, 0, 0,  6,
    's', 'h', 'a', '5', '1', '2', 0, 0, 0, 64, /* then 64 hash bytes, 0xa5 below
                                                */
};

static void
fill_hash(void)
{
    memset(captured + 32, 0xa5, 64);
}

START_TEST(parses_what_ssh_keygen_sends)
{
    struct sshsig_preimage p;

    fill_hash();
    ck_assert_int_eq(sshsig_parse(captured, sizeof(captured), &p), 0);
    ck_assert_str_eq(p.ns, "file");
    ck_assert_int_eq(p.md, ALG_DIGEST_SHA512);
    ck_assert_uint_eq(p.hashlen, 64);
    ck_assert_uint_eq(p.hash[63], 0xa5);
}
END_TEST

START_TEST(writes_the_same_bytes)
{
    uint8_t h[64];
    struct buf b;

    fill_hash();
    memset(h, 0xa5, sizeof(h));
    buf_init(&b, 1024);
    sshsig_put_preimage(&b, "file", ALG_DIGEST_SHA512, h, sizeof(h));
    ck_assert_int_eq(buf_status(&b), 0);
    ck_assert_uint_eq(b.len, sizeof(captured));
    ck_assert_mem_eq(b.data, captured, sizeof(captured));
    buf_free(&b);
}
END_TEST

/* Parses a copy of CAPTURED changed at OFF to V (OFF < 0: cut by one). */
static int
parse_changed(long off, uint8_t v, size_t extra)
{
    uint8_t copy[sizeof(captured) + 1];
    struct sshsig_preimage p;
    size_t len = sizeof(captured) + extra;

    fill_hash();
    memcpy(copy, captured, sizeof(captured));
    copy[sizeof(captured)] = 0;
    if (off >= 0)
        copy[off] = v;
    else
        len--;
    return sshsig_parse(copy, len, &p);
}

START_TEST(refuses_what_is_not_one)
{
    /* An SSH login challenge starts with the session id's length. */
    static const uint8_t login[] = {0, 0, 0, 32, 1, 2, 3, 4, 5, 6, 7, 8};
    struct sshsig_preimage p;

    ck_assert_int_eq(sshsig_parse(login, sizeof(login), &p), CUST_ERR_PROTOCOL);
    ck_assert_int_eq(parse_changed(0, 'X', 0), CUST_ERR_PROTOCOL);  /* magic */
    ck_assert_int_eq(parse_changed(-1, 0, 0), CUST_ERR_PROTOCOL);   /* cut */
    ck_assert_int_eq(parse_changed(0, 'S', 1), CUST_ERR_PROTOCOL);  /* extra */
    ck_assert_int_eq(parse_changed(11, ' ', 0), CUST_ERR_PROTOCOL); /* ns */
    ck_assert_int_eq(parse_changed(17, 1, 0), CUST_ERR_PROTOCOL); /* reserved */
    ck_assert_int_eq(parse_changed(27, '1', 0), CUST_ERR_PROTOCOL); /* sha511 */
    ck_assert_int_eq(parse_changed(31, 32, 0), CUST_ERR_PROTOCOL);  /* length */
    ck_assert_int_eq(parse_changed(9, 0, 0), CUST_ERR_PROTOCOL); /* empty ns */
}
END_TEST

START_TEST(sha256_preimage)
{
    uint8_t h[32] = {1}, b2[128];
    struct sshsig_preimage p;
    struct buf b;

    buf_init(&b, sizeof(b2));
    sshsig_put_preimage(&b, "git", ALG_DIGEST_SHA256, h, sizeof(h));
    ck_assert_int_eq(sshsig_parse(b.data, b.len, &p), 0);
    ck_assert_str_eq(p.ns, "git");
    ck_assert_int_eq(p.md, ALG_DIGEST_SHA256);
    buf_free(&b);
    /* A SHA-512-sized hash under "sha256" is refused. */
    buf_init(&b, 256);
    sshsig_put_preimage(&b, "git", ALG_DIGEST_SHA256, b2, 64);
    ck_assert_int_eq(sshsig_parse(b.data, b.len, &p), CUST_ERR_PROTOCOL);
    buf_free(&b);
}
END_TEST

START_TEST(digests_by_key_type)
{
    ck_assert_int_eq(sshsig_digest(ALG_KEY_ECDSA_P256, 0), ALG_DIGEST_SHA256);
    ck_assert_int_eq(sshsig_digest(ALG_KEY_ECDSA_P384, 0), ALG_DIGEST_SHA384);
    ck_assert_int_eq(sshsig_digest(ALG_KEY_ED25519, 0), ALG_DIGEST_NONE);
    ck_assert_int_eq(sshsig_digest(ALG_KEY_RSA_2048, 0), ALG_DIGEST_SHA512);
    ck_assert_int_eq(sshsig_digest(ALG_KEY_RSA_4096, 1), ALG_DIGEST_SHA256);
}
END_TEST

START_TEST(ecdsa_blob)
{
    /* DER: r = 80 01 ... 1f (top bit set: a 00 pad in both DER and the
     * mpint), s = 7f 02 03 ... 20 (no pad). */
    uint8_t der[2 + 2 + 33 + 2 + 32], want[4 + 19 + 4 + 4 + 33 + 4 + 32];
    struct buf b;
    size_t i, o = 0;

    der[0] = 0x30, der[1] = 2 + 33 + 2 + 32;
    der[2] = 0x02, der[3] = 33, der[4] = 0x00;
    for (i = 0; i < 32; i++)
        der[5 + i] = (uint8_t)(i == 0 ? 0x80 : i);
    der[37] = 0x02, der[38] = 32;
    for (i = 0; i < 32; i++)
        der[39 + i] = (uint8_t)(i == 0 ? 0x7f : i + 1);

    memcpy(want + o,
           "\0\0\0\x13"
           "ecdsa-sha2-nistp256",
           23);
    o += 23;
    memcpy(want + o, "\0\0\0\x49", 4); /* 4 + 33 + 4 + 32 */
    o += 4;
    memcpy(want + o, "\0\0\0\x21\x00", 5); /* mpint r: 00 pad */
    memcpy(want + o + 5, der + 5, 32);
    o += 37;
    memcpy(want + o, "\0\0\0\x20", 4); /* mpint s */
    memcpy(want + o + 4, der + 39, 32);
    o += 36;

    buf_init(&b, 512);
    ck_assert_int_eq(sshsig_put_signature(&b, ALG_KEY_ECDSA_P256,
                                          ALG_DIGEST_SHA256, der, sizeof(der)),
                     0);
    ck_assert_uint_eq(b.len, o);
    ck_assert_mem_eq(b.data, want, o);
    buf_free(&b);

    /* A signature that is not DER is refused. */
    buf_init(&b, 512);
    der[0] = 0x31;
    ck_assert_int_eq(sshsig_put_signature(&b, ALG_KEY_ECDSA_P256,
                                          ALG_DIGEST_SHA256, der, sizeof(der)),
                     CUST_ERR_PROTOCOL);
    buf_free(&b);
}
END_TEST

START_TEST(ed25519_and_rsa_blobs)
{
    uint8_t sig[64];
    struct buf b;

    memset(sig, 0x5a, sizeof(sig));
    buf_init(&b, 512);
    ck_assert_int_eq(sshsig_put_signature(&b, ALG_KEY_ED25519, ALG_DIGEST_NONE,
                                          sig, sizeof(sig)),
                     0);
    ck_assert_uint_eq(b.len, 4 + 11 + 4 + 64);
    ck_assert_mem_eq(b.data, "\0\0\0\x0bssh-ed25519\0\0\0\x40", 19);
    buf_free(&b);

    buf_init(&b, 512);
    ck_assert_int_eq(sshsig_put_signature(&b, ALG_KEY_RSA_2048,
                                          ALG_DIGEST_SHA256, sig, sizeof(sig)),
                     0);
    ck_assert_mem_eq(b.data, "\0\0\0\x0crsa-sha2-256", 16);
    buf_free(&b);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("sshsig");
    TCase *tc = tcase_create("sshsig");

    tcase_add_test(tc, parses_what_ssh_keygen_sends);
    tcase_add_test(tc, writes_the_same_bytes);
    tcase_add_test(tc, refuses_what_is_not_one);
    tcase_add_test(tc, sha256_preimage);
    tcase_add_test(tc, digests_by_key_type);
    tcase_add_test(tc, ecdsa_blob);
    tcase_add_test(tc, ed25519_and_rsa_blobs);
    suite_add_tcase(s, tc);
    return check_run(s);
}
