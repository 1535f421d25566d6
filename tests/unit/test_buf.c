/*
 * Unit tests of buf: the SSH-style writers and readers, mpint encoding,
 * the size limit, the sticky failure state, read bounds, read-only views
 * and release of zeroed or secret buffers.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "custodian/error.h"
#include "buf.h"
#include "check_main.h"

/* Checks that B holds exactly the LEN bytes at EXPECT. */
static void
assert_bytes(const struct buf *b, const void *expect, size_t len)
{
    ck_assert_int_eq(buf_status(b), 0);
    ck_assert_uint_eq(b->len, len);
    ck_assert_uint_eq(buf_remaining(b), len);
    ck_assert_mem_eq(b->data, expect, len);
}

START_TEST(write_read_round_trip)
{
    static const uint8_t expect[] = {
        0xab,                   /* u8 */
        0x01, 0x02, 0x03, 0x04, /* u32 */
        0x00, 0x00, 0x00, 0x05, 'h',  'e',  'l',
        'l',  'o',  0x00, 0x00, 0x00, 0x00, /* empty string */
        0xff, 0xff, 0xff, 0xfe,             /* u32 */
        'r',  'a',  'w',
    };
    struct buf b;
    const uint8_t *str;
    size_t len;
    uint32_t u32;
    uint8_t u8, raw[3];

    buf_init(&b, 1024);
    ck_assert_int_eq(buf_put_u8(&b, 0xab), 0);
    ck_assert_int_eq(buf_put_u32(&b, 0x01020304), 0);
    ck_assert_int_eq(buf_put_cstring(&b, "hello"), 0);
    ck_assert_int_eq(buf_put_string(&b, "", 0), 0);
    ck_assert_int_eq(buf_put_u32(&b, 0xfffffffe), 0);
    ck_assert_int_eq(buf_put(&b, "raw", 3), 0);
    assert_bytes(&b, expect, sizeof(expect));

    ck_assert_int_eq(buf_get_u8(&b, &u8), 0);
    ck_assert_uint_eq(u8, 0xab);
    ck_assert_int_eq(buf_get_u32(&b, &u32), 0);
    ck_assert_uint_eq(u32, 0x01020304);
    ck_assert_int_eq(buf_get_string(&b, &str, &len, 16), 0);
    ck_assert_uint_eq(len, 5);
    ck_assert_mem_eq(str, "hello", 5);
    ck_assert_int_eq(buf_get_string(&b, &str, &len, 16), 0);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(buf_get_u32(&b, &u32), 0);
    ck_assert_uint_eq(u32, 0xfffffffe);
    ck_assert_uint_eq(buf_remaining(&b), 3);
    ck_assert_mem_eq(buf_ptr(&b), "raw", 3);
    ck_assert_int_eq(buf_get(&b, raw, 3), 0);
    ck_assert_mem_eq(raw, "raw", 3);
    ck_assert_uint_eq(buf_remaining(&b), 0);
    ck_assert_int_eq(buf_status(&b), 0);
    buf_free(&b);
}
END_TEST

START_TEST(grows_and_keeps_content)
{
    uint8_t expect[1000];
    struct buf b;
    size_t i;

    for (i = 0; i < sizeof(expect); i++)
        expect[i] = (uint8_t)(i * 7);
    buf_init_secret(&b, sizeof(expect));
    for (i = 0; i < sizeof(expect); i++)
        ck_assert_int_eq(buf_put_u8(&b, expect[i]), 0);
    assert_bytes(&b, expect, sizeof(expect));
    ck_assert_uint_le(b.cap, b.limit);

    /* Full to the limit: one more byte is too many. */
    ck_assert_int_eq(buf_put_u8(&b, 0), CUST_ERR_TOO_BIG);
    buf_free(&b);
}
END_TEST

/* Writes an mpint of LEN bytes at MAG and compares with EXPECT. */
static void
check_mpint(const uint8_t *mag, size_t len, const uint8_t *expect,
            size_t expect_len)
{
    struct buf b;

    buf_init(&b, 64);
    ck_assert_int_eq(buf_put_mpint(&b, mag, len), 0);
    assert_bytes(&b, expect, expect_len);
    buf_free(&b);
}

START_TEST(mpint_encodings)
{
    static const uint8_t zero[] = {0x00};
    static const uint8_t zeros[] = {0x00, 0x00, 0x00};
    static const uint8_t x80[] = {0x80};
    static const uint8_t x7f[] = {0x7f};
    static const uint8_t lead1[] = {0x00, 0x00, 0x01};
    static const uint8_t lead_ff[] = {0x00, 0xff, 0x01};
    static const uint8_t e[] = {0x01, 0x00, 0x01};

    check_mpint(zero, 1, (const uint8_t *)"\x00\x00\x00\x00", 4);
    check_mpint(zeros, 3, (const uint8_t *)"\x00\x00\x00\x00", 4);
    check_mpint(zero, 0, (const uint8_t *)"\x00\x00\x00\x00", 4);
    check_mpint(x80, 1, (const uint8_t *)"\x00\x00\x00\x02\x00\x80", 6);
    check_mpint(x7f, 1, (const uint8_t *)"\x00\x00\x00\x01\x7f", 5);
    check_mpint(lead1, 3, (const uint8_t *)"\x00\x00\x00\x01\x01", 5);
    check_mpint(lead_ff, 3, (const uint8_t *)"\x00\x00\x00\x03\x00\xff\x01", 7);
    check_mpint(e, 3, (const uint8_t *)"\x00\x00\x00\x03\x01\x00\x01", 7);
}
END_TEST

START_TEST(limit_enforced_and_sticky)
{
    struct buf b;
    uint8_t u8;

    buf_init(&b, 10);
    ck_assert_int_eq(buf_put_u32(&b, 0x11223344), 0);
    ck_assert_int_eq(buf_put(&b, "abcd", 4), 0);
    ck_assert_int_eq(buf_put_u32(&b, 1), CUST_ERR_TOO_BIG);
    ck_assert_uint_eq(b.len, 8);
    ck_assert_int_eq(buf_status(&b), CUST_ERR_TOO_BIG);

    /* One more byte would fit, but the buffer stays bad. */
    ck_assert_int_eq(buf_put_u8(&b, 1), CUST_ERR_TOO_BIG);
    ck_assert_int_eq(buf_get_u8(&b, &u8), CUST_ERR_TOO_BIG);
    ck_assert_uint_eq(b.len, 8);
    ck_assert_uint_eq(b.off, 0);
    ck_assert_int_eq(buf_status(&b), CUST_ERR_TOO_BIG);
    ck_assert_mem_eq(b.data,
                     "\x11\x22\x33\x44"
                     "abcd",
                     8);
    buf_free(&b);
}
END_TEST

START_TEST(limit_on_strings_and_mpints)
{
    uint8_t big[40];
    struct buf b;

    memset(big, 0x80, sizeof(big));

    /* The length prefix fits, the body does not. */
    buf_init(&b, 20);
    ck_assert_int_eq(buf_put_string(&b, big, 17), CUST_ERR_TOO_BIG);
    ck_assert_int_eq(buf_status(&b), CUST_ERR_TOO_BIG);
    ck_assert_uint_le(b.len, 4);
    buf_free(&b);

    /* 4 + 16 fits exactly; the mpint pad byte makes 21. */
    buf_init(&b, 20);
    ck_assert_int_eq(buf_put_mpint(&b, big, 16), CUST_ERR_TOO_BIG);
    buf_free(&b);
    buf_init(&b, 20);
    ck_assert_int_eq(buf_put_string(&b, big, 16), 0);
    ck_assert_uint_eq(b.len, 20);
    buf_free(&b);

    /* A limit of zero allows nothing but empty writes. */
    buf_init(&b, 0);
    ck_assert_int_eq(buf_put(&b, big, 0), 0);
    ck_assert_int_eq(buf_put_u8(&b, 1), CUST_ERR_TOO_BIG);
    buf_free(&b);
}
END_TEST

START_TEST(read_past_end)
{
    static const uint8_t data[] = {0x01, 0x02, 0x03};
    struct buf b;
    uint32_t u32 = 0xdeadbeef;
    uint8_t u8, two[2];

    buf_view(&b, data, sizeof(data));
    ck_assert_int_eq(buf_get(&b, two, 2), 0);
    ck_assert_mem_eq(two, "\x01\x02", 2);
    ck_assert_int_eq(buf_get_u32(&b, &u32), CUST_ERR_ARG);
    ck_assert_uint_eq(u32, 0xdeadbeef);
    ck_assert_uint_eq(b.off, 2);
    ck_assert_uint_eq(buf_remaining(&b), 1);
    ck_assert_int_eq(buf_status(&b), CUST_ERR_ARG);

    /* The byte that is there is not handed out once the buffer is bad. */
    ck_assert_int_eq(buf_get_u8(&b, &u8), CUST_ERR_ARG);
    ck_assert_uint_eq(b.off, 2);

    buf_view(&b, data, sizeof(data));
    ck_assert_int_eq(buf_get(&b, two, 4), CUST_ERR_ARG);
    ck_assert_uint_eq(b.off, 0);
    buf_free(&b);
}
END_TEST

START_TEST(get_string_bounds)
{
    static const uint8_t five[] = {0x00, 0x00, 0x00, 0x05, 'h',
                                   'e',  'l',  'l',  'o'};
    static const uint8_t short_body[] = {0x00, 0x00, 0x00, 0x10, 'a', 'b', 'c'};
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 'a'};
    const uint8_t *str = NULL;
    size_t len = 12345;
    struct buf b;

    /* Longer than MAX: the read position goes back before the length. */
    buf_view(&b, five, sizeof(five));
    ck_assert_int_eq(buf_get_string(&b, &str, &len, 4), CUST_ERR_ARG);
    ck_assert_ptr_null(str);
    ck_assert_uint_eq(len, 12345);
    ck_assert_uint_eq(b.off, 0);
    ck_assert_int_eq(buf_status(&b), CUST_ERR_ARG);

    /* Exactly MAX is fine. */
    buf_view(&b, five, sizeof(five));
    ck_assert_int_eq(buf_get_string(&b, &str, &len, 5), 0);
    ck_assert_uint_eq(len, 5);
    ck_assert_ptr_eq(str, five + 4);
    ck_assert_uint_eq(buf_remaining(&b), 0);

    /* Longer than what remains. */
    str = NULL;
    len = 12345;
    buf_view(&b, short_body, sizeof(short_body));
    ck_assert_int_eq(buf_get_string(&b, &str, &len, 1024), CUST_ERR_ARG);
    ck_assert_ptr_null(str);
    ck_assert_uint_eq(len, 12345);
    ck_assert_uint_eq(b.off, 0);

    /* A length near 2^32 must not wrap any arithmetic. */
    buf_view(&b, huge, sizeof(huge));
    ck_assert_int_eq(buf_get_string(&b, &str, &len, SIZE_MAX), CUST_ERR_ARG);
    ck_assert_ptr_null(str);
    ck_assert_uint_eq(b.off, 0);

    /* Too short for the length itself. */
    buf_view(&b, huge, 3);
    ck_assert_int_eq(buf_get_string(&b, &str, &len, 1024), CUST_ERR_ARG);
    ck_assert_uint_eq(b.off, 0);
}
END_TEST

START_TEST(view_is_read_only)
{
    uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct buf b;
    uint8_t u8;

    buf_view(&b, data, sizeof(data));
    ck_assert_int_eq(buf_put_u8(&b, 0xee), CUST_ERR_ARG);
    ck_assert_int_eq(buf_put(&b, "xy", 2), CUST_ERR_ARG);
    ck_assert_uint_eq(b.len, 8);
    ck_assert_mem_eq(data, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    ck_assert_int_eq(buf_get_u8(&b, &u8), CUST_ERR_ARG);

    /* Freeing a view releases nothing it does not own. */
    buf_free(&b);
    ck_assert_ptr_null(b.data);
    ck_assert_mem_eq(data, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
}
END_TEST

START_TEST(free_zeroed_and_twice)
{
    struct buf b;

    memset(&b, 0, sizeof(b));
    buf_free(&b);
    ck_assert_ptr_null(b.data);

    buf_init(&b, 100);
    buf_free(&b);
    buf_init_secret(&b, 100);
    ck_assert_int_eq(buf_put_cstring(&b, "secret"), 0);
    buf_free(&b);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.cap, 0);
    buf_free(&b);
}
END_TEST

static Suite *
buf_suite(void)
{
    Suite *s = suite_create("buf");
    TCase *write = tcase_create("write");
    TCase *read = tcase_create("read");

    tcase_add_test(write, write_read_round_trip);
    tcase_add_test(write, grows_and_keeps_content);
    tcase_add_test(write, mpint_encodings);
    tcase_add_test(write, limit_enforced_and_sticky);
    tcase_add_test(write, limit_on_strings_and_mpints);
    tcase_add_test(write, free_zeroed_and_twice);
    suite_add_tcase(s, write);

    tcase_add_test(read, read_past_end);
    tcase_add_test(read, get_string_bounds);
    tcase_add_test(read, view_is_read_only);
    suite_add_tcase(s, read);
    return s;
}

int
main(void)
{
    return check_run(buf_suite());
}
