/*
 * The native protocol's frames and messages: exact bytes for one frame
 * of each direction, round trips of every message, and the refusals a
 * hostile client meets.
 */
#include <string.h>

#include <check.h>

#include "custodian/error.h"
#include "wire.h"
#include "check_main.h"

/* Opens the one frame in OUT, checking its framing; returns the type. */
static uint8_t
open_frame(const struct buf *out, struct buf *body)
{
    size_t frame = 0;
    uint8_t type = 0;

    ck_assert_int_eq(buf_status(out), 0);
    ck_assert_int_eq(wire_frame_check(out->data, out->len, &frame), 0);
    ck_assert_uint_eq(frame, out->len);
    wire_open(out->data, frame, &type, body);
    return type;
}

START_TEST(sign_frame_bytes)
{
    static const uint8_t digest[4] = {0xde, 0xad, 0xbe, 0xef};
    static const uint8_t want[] = {
        0x00, 0x00, 0x00, 0x37, 0x05,            /* len, type */
        0x00, 0x00, 0x00, 0x03, 'r',  'e',  'l', /* key */
        0x00, 0x00, 0x00, 0x06, 's',  'h',  'a',  '2',  '5', '6', /* digest */
        0x00, 0x00, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef,           /* data */
        0x00, 0x00, 0x00, 0x00,                                   /* scheme */
        0x00, 0x00, 0x00, 0x04, 'f',  'i',  'l',  'e', /* namespace */
        0x00, 0x00, 0x00, 0x01,                        /* 1 context */
        0x00, 0x00, 0x00, 0x03, 'j',  'o',  'b',       /* name */
        0x00, 0x00, 0x00, 0x02, '4',  '2',             /* value */
    };
    struct wire_sign s = {.key = "rel",
                          .digest = "sha256",
                          .data = digest,
                          .datalen = 4,
                          .ns = "file",
                          .nctx = 1};
    struct wire_sign got;
    struct buf out, body;

    strcpy(s.ctx[0].name, "job");
    strcpy(s.ctx[0].value, "42");
    buf_init(&out, 1024);
    ck_assert_int_eq(wire_put_sign(&out, &s), 0);
    ck_assert_uint_eq(out.len, sizeof(want));
    ck_assert_mem_eq(out.data, want, sizeof(want));

    ck_assert_uint_eq(open_frame(&out, &body), WIRE_SIGN);
    ck_assert_int_eq(wire_get_sign(&body, &got), 0);
    ck_assert_str_eq(got.key, "rel");
    ck_assert_str_eq(got.digest, "sha256");
    ck_assert_uint_eq(got.datalen, 4);
    ck_assert_mem_eq(got.data, digest, 4);
    ck_assert_str_eq(got.scheme, "");
    ck_assert_str_eq(got.ns, "file");
    ck_assert_uint_eq(got.nctx, 1);
    ck_assert_str_eq(got.ctx[0].name, "job");
    ck_assert_str_eq(got.ctx[0].value, "42");
    buf_free(&out);
}
END_TEST

START_TEST(error_frame_bytes)
{
    static const uint8_t want[] = {
        0x00, 0x00, 0x00, 0x0e, 0xff, /* len, ERROR */
        0xff, 0xff, 0xff, 0xe6,       /* -26: CUST_ERR_DENIED */
        0x00, 0x00, 0x00, 0x05, 'n',  'o', 'p', 'e', '!',
    };
    struct wire_error e;
    struct buf out, body;

    buf_init(&out, 1024);
    ck_assert_int_eq(wire_put_error(&out, CUST_ERR_DENIED, "nope!"), 0);
    ck_assert_uint_eq(out.len, sizeof(want));
    ck_assert_mem_eq(out.data, want, sizeof(want));
    ck_assert_uint_eq(open_frame(&out, &body), WIRE_ERROR);
    ck_assert_int_eq(wire_get_error(&body, &e), 0);
    ck_assert_int_eq(e.code, CUST_ERR_DENIED);
    ck_assert_str_eq(e.message, "nope!");
    buf_free(&out);
}
END_TEST

START_TEST(round_trips)
{
    struct wire_hello h = {WIRE_VERSION, "custodiand 0.1.0", 65536, 64}, h2;
    struct wire_keyinfo keys[2] = {{"a", "ed25519", 1, "SHA256:x"},
                                   {"b", "rsa-2048", 7, "SHA256:y"}};
    struct wire_keyinfo got[4], k;
    static const uint8_t spki[3] = {0x30, 0x01, 0x00}, sig[2] = {1, 2};
    struct wire_signature sg = {.key = keys[1],
                                .scheme = "rsa-pss",
                                .sig = sig,
                                .siglen = 2,
                                .time = 1790000000},
                          sg2;
    const uint8_t *p;
    size_t n;
    uint32_t count;
    char text[WIRE_MESSAGE_MAX + 1];
    struct buf out, body;

    buf_init(&out, 4096);
    wire_put_hello(&out, WIRE_HELLO_OK, &h);
    ck_assert_uint_eq(open_frame(&out, &body), WIRE_HELLO_OK);
    ck_assert_int_eq(wire_get_hello(&body, WIRE_HELLO_OK, &h2), 0);
    ck_assert_str_eq(h2.name, "custodiand 0.1.0");
    ck_assert_uint_eq(h2.frame_max, 65536);
    ck_assert_uint_eq(h2.inflight_max, 64);
    buf_free(&out);

    buf_init(&out, 4096);
    wire_put_keys(&out, keys, 2);
    ck_assert_uint_eq(open_frame(&out, &body), WIRE_KEYS);
    ck_assert_int_eq(wire_get_keys(&body, got, 4, &count), 0);
    ck_assert_uint_eq(count, 2);
    ck_assert_str_eq(got[1].type, "rsa-2048");
    ck_assert_uint_eq(got[1].version, 7);
    buf_free(&out);

    buf_init(&out, 4096);
    wire_put_pubkey_ok(&out, &keys[0], spki, 3);
    ck_assert_uint_eq(open_frame(&out, &body), WIRE_PUBKEY_OK);
    ck_assert_int_eq(wire_get_pubkey_ok(&body, &k, &p, &n), 0);
    ck_assert_str_eq(k.fingerprint, "SHA256:x");
    ck_assert_uint_eq(n, 3);
    ck_assert_mem_eq(p, spki, 3);
    buf_free(&out);

    buf_init(&out, 4096);
    wire_put_signature(&out, &sg);
    ck_assert_uint_eq(open_frame(&out, &body), WIRE_SIGNATURE);
    ck_assert_int_eq(wire_get_signature(&body, &sg2), 0);
    ck_assert_str_eq(sg2.scheme, "rsa-pss");
    ck_assert(sg2.time == 1790000000);
    ck_assert_uint_eq(sg2.siglen, 2);
    buf_free(&out);

    buf_init(&out, 4096);
    wire_put_ping(&out, WIRE_PING, "hello");
    ck_assert_uint_eq(open_frame(&out, &body), WIRE_PING);
    ck_assert_int_eq(wire_get_ping(&body, text), 0);
    ck_assert_str_eq(text, "hello");
    buf_free(&out);
}
END_TEST

START_TEST(framing)
{
    uint8_t huge[8] = {0xff, 0xff, 0xff, 0xff, 1};
    uint8_t zero[5] = {0, 0, 0, 0, 1};
    uint8_t over[5] = {0x00, 0x01, 0x00, 0x01, 1}; /* 65537 */
    uint8_t part[6] = {0, 0, 0, 4, 3, 0};
    size_t frame = 0;

    ck_assert_int_eq(wire_frame_check(huge, 3, &frame), 1);
    ck_assert_int_eq(wire_frame_check(huge, 8, &frame), CUST_ERR_TOO_BIG);
    ck_assert_int_eq(wire_frame_check(zero, 5, &frame), CUST_ERR_TOO_BIG);
    ck_assert_int_eq(wire_frame_check(over, 5, &frame), CUST_ERR_TOO_BIG);
    ck_assert_int_eq(wire_frame_check(part, 6, &frame), 1);
    ck_assert_uint_eq(frame, 0);
}
END_TEST

/* Decodes a SIGN body given as raw bytes. */
static int
decode_sign(const uint8_t *body, size_t len)
{
    struct wire_sign s;
    struct buf b;

    buf_view(&b, body, len);
    return wire_get_sign(&b, &s);
}

START_TEST(hostile_bodies)
{
    static const uint8_t truncated[] = {0, 0, 0, 9, 'a'};
    static const uint8_t nul_in_key[] = {0, 0, 0, 2, 'a', 0};
    static const uint8_t long_key[4 + 65 + 60] = {0, 0, 0, 65};
    struct wire_sign s = {.key = "k", .digest = "sha256", .nctx = 0}, got;
    uint8_t digest[32] = {0};
    struct wire_error e;
    struct buf out, body;
    uint8_t type;

    ck_assert_int_eq(decode_sign(truncated, sizeof(truncated)),
                     CUST_ERR_PROTOCOL);
    ck_assert_int_eq(decode_sign(nul_in_key, sizeof(nul_in_key)),
                     CUST_ERR_PROTOCOL);
    ck_assert_int_eq(decode_sign(long_key, sizeof(long_key)), CUST_ERR_TOO_BIG);

    /* A well-formed body followed by one stray byte. */
    s.data = digest;
    s.datalen = 32;
    buf_init(&out, 4096);
    wire_put_sign(&out, &s);
    buf_put_u8(&out, 0);
    wire_open(out.data, out.len, &type, &body);
    ck_assert_int_eq(wire_get_sign(&body, &got), CUST_ERR_PROTOCOL);
    buf_free(&out);

    /* Too many context pairs, and a context name with a space. */
    s.nctx = WIRE_CTX_MAX + 1;
    buf_init(&out, 4096);
    ck_assert_int_eq(wire_put_sign(&out, &s), CUST_ERR_TOO_BIG);
    buf_free(&out);
    s.nctx = 1;
    strcpy(s.ctx[0].name, "ci job");
    buf_init(&out, 4096);
    wire_put_sign(&out, &s);
    wire_open(out.data, out.len, &type, &body);
    ck_assert_int_eq(wire_get_sign(&body, &got), CUST_ERR_PROTOCOL);
    buf_free(&out);

    /* An "error" that is not one. */
    buf_init(&out, 4096);
    wire_put_error(&out, 0, "fine");
    wire_open(out.data, out.len, &type, &body);
    ck_assert_int_eq(wire_get_error(&body, &e), CUST_ERR_PROTOCOL);
    buf_free(&out);
}
END_TEST

START_TEST(data_limit)
{
    static uint8_t big[WIRE_DATA_MAX + 1];
    struct wire_sign s = {.key = "k", .data = big};
    struct buf out;

    buf_init(&out, WIRE_FRAME_MAX * 2);
    s.datalen = WIRE_DATA_MAX + 1;
    ck_assert_int_eq(wire_put_sign(&out, &s), CUST_ERR_TOO_BIG);
    s.datalen = WIRE_DATA_MAX;
    ck_assert_int_eq(wire_put_sign(&out, &s), 0);
    buf_free(&out);
}
END_TEST

/* The key lifecycle admin messages, byte for byte where it matters. */
START_TEST(versions_messages)
{
    static const uint8_t change_bytes[] = {
        0x00, 0x00, 0x00, 0x1d, 0x15,           /* len, KEY_CHANGE */
        0x00, 0x00, 0x00, 0x03, 'r',  'e', 'l', /* key */
        0x00, 0x00, 0x00, 0x02,                 /* version 2 */
        0x00, 0x00, 0x00, 0x06, 'r',  'e', 'v', 'o', 'k', 'e', /* action */
        0x00, 0x00, 0x00, 0x03, 'x',  'y', 'z',                /* reason */
    };
    struct wire_key_change c = {.key = "rel",
                                .version = 2,
                                .action = "revoke",
                                .reason = "xyz"},
                           c2;
    struct wire_keyinfo info = {"rel", "ecdsa-p256", 3, "SHA256:z"}, k;
    struct wire_version v[2] = {
        {.version = 2,
         .state = "revoked",
         .created = 1,
         .revoked = 0x100000002ULL,
         .reason = "xyz"},
        {.version = 3, .state = "active", .activated = 7},
    };
    struct wire_version got[2];
    struct buf out, body;
    uint32_t n = 0;

    buf_init(&out, 4096);
    wire_put_key_change(&out, &c);
    ck_assert_uint_eq(out.len, sizeof(change_bytes));
    ck_assert_mem_eq(out.data, change_bytes, sizeof(change_bytes));
    ck_assert_uint_eq(open_frame(&out, &body), WIRE_KEY_CHANGE);
    ck_assert_int_eq(wire_get_key_change(&body, &c2), 0);
    ck_assert_str_eq(c2.action, "revoke");
    ck_assert_uint_eq(c2.version, 2);
    buf_free(&out);

    buf_init(&out, 4096);
    wire_put_versions(&out, &info, v, 2);
    ck_assert_uint_eq(open_frame(&out, &body), WIRE_VERSIONS);
    ck_assert_int_eq(wire_get_versions(&body, &k, got, 2, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(k.version, 3);
    ck_assert_str_eq(got[0].state, "revoked");
    ck_assert(got[0].revoked == 0x100000002ULL);
    ck_assert_str_eq(got[0].reason, "xyz");
    ck_assert(got[1].activated == 7);
    buf_free(&out);

    /* More versions than the reader has room for: refused, none kept. */
    buf_init(&out, 4096);
    wire_put_versions(&out, &info, v, 2);
    open_frame(&out, &body);
    ck_assert_int_eq(wire_get_versions(&body, &k, got, 1, &n),
                     CUST_ERR_TOO_BIG);
    ck_assert_uint_eq(n, 0);
    buf_free(&out);
}
END_TEST

START_TEST(report_messages)
{
    static const uint8_t report_bytes[] = {
        0x00, 0x00, 0x00, 0x12, 0x17, /* len, REPORT */
        0x00, 0x00, 0x00, 0x09, 'i',  'n', 'v',
        'e',  'n',  't',  'o',  'r',  'y', /* what */
        0x00, 0x01, 0x00, 0x00,            /* offset 65536 */
    };
    struct wire_report r = {.what = "inventory", .offset = 65536}, r2;
    static uint8_t part[WIRE_REPORT_PART + 1];
    const uint8_t *p;
    struct buf out, body;
    uint32_t total;
    size_t len;

    buf_init(&out, 4096);
    wire_put_report(&out, &r);
    ck_assert_uint_eq(out.len, sizeof(report_bytes));
    ck_assert_mem_eq(out.data, report_bytes, sizeof(report_bytes));
    ck_assert_uint_eq(open_frame(&out, &body), WIRE_REPORT);
    ck_assert_int_eq(wire_get_report(&body, &r2), 0);
    ck_assert_str_eq(r2.what, "inventory");
    ck_assert_uint_eq(r2.offset, 65536);
    buf_free(&out);

    /* A whole part fits a frame; one byte more is refused. */
    memset(part, 'x', sizeof(part));
    buf_init(&out, WIRE_FRAME_MAX + WIRE_HEADER);
    ck_assert_int_eq(wire_put_report_ok(&out, 200000, part, WIRE_REPORT_PART),
                     0);
    ck_assert_uint_eq(open_frame(&out, &body), WIRE_REPORT_OK);
    ck_assert_int_eq(wire_get_report_ok(&body, &total, &p, &len), 0);
    ck_assert_uint_eq(total, 200000);
    ck_assert_uint_eq(len, WIRE_REPORT_PART);
    buf_free(&out);
    buf_init(&out, WIRE_FRAME_MAX + WIRE_HEADER);
    ck_assert_int_eq(
        wire_put_report_ok(&out, 200000, part, WIRE_REPORT_PART + 1),
        CUST_ERR_TOO_BIG);
    buf_free(&out);

    /* Trailing bytes after the offset: malformed. */
    buf_init(&out, 4096);
    buf_put(&out, report_bytes, sizeof(report_bytes));
    buf_put_u8(&out, 0);
    buf_patch_u32(&out, 0, 0x13);
    open_frame(&out, &body);
    ck_assert_int_eq(wire_get_report(&body, &r2), CUST_ERR_PROTOCOL);
    buf_free(&out);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("wire");
    TCase *tc = tcase_create("wire");

    tcase_add_test(tc, sign_frame_bytes);
    tcase_add_test(tc, error_frame_bytes);
    tcase_add_test(tc, round_trips);
    tcase_add_test(tc, framing);
    tcase_add_test(tc, hostile_bodies);
    tcase_add_test(tc, data_limit);
    tcase_add_test(tc, versions_messages);
    tcase_add_test(tc, report_messages);
    suite_add_tcase(s, tc);
    return check_run(s);
}
