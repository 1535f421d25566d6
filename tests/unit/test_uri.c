/*
 * Unit tests of the token layer's URI handling: which RFC 7512 URIs are
 * accepted for selecting a token, which token descriptions they match,
 * and the trimming of space-padded PKCS#11 strings.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "custodian/error.h"
#include "p11uri.h"
#include "token_int.h"
#include "check_main.h"

/* Copies S into the space-padded fixed-width field DST of LEN bytes. */
static void
pad(CK_UTF8CHAR *dst, size_t len, const char *s)
{
    ck_assert_uint_le(strlen(s), len);
    memset(dst, ' ', len);
    memcpy(dst, s, strlen(s));
}

static CK_TOKEN_INFO
info(const char *label, const char *manufacturer, const char *model,
     const char *serial)
{
    CK_TOKEN_INFO ti;

    memset(&ti, 0, sizeof(ti));
    pad(ti.label, sizeof(ti.label), label);
    pad(ti.manufacturerID, sizeof(ti.manufacturerID), manufacturer);
    pad(ti.model, sizeof(ti.model), model);
    pad(ti.serialNumber, sizeof(ti.serialNumber), serial);
    return ti;
}

/* A token as SoftHSM2 describes it. */
static CK_TOKEN_INFO
softhsm(const char *label, const char *serial)
{
    return info(label, "SoftHSM project", "SoftHSM v2", serial);
}

static P11KitUri *
parse_ok(const char *text)
{
    P11KitUri *uri = NULL;

    ck_assert_msg(p11uri_parse(text, &uri) == 0, "refused: %s", text);
    ck_assert_ptr_nonnull(uri);
    return uri;
}

static void
assert_refused(const char *text)
{
    P11KitUri *uri = NULL;
    int rc = p11uri_parse(text, &uri);

    ck_assert_msg(rc == CUST_ERR_URI, "%s: got %d, want CUST_ERR_URI", text,
                  rc);
    ck_assert_ptr_null(uri);
}

START_TEST(match_label)
{
    P11KitUri *uri = parse_ok("pkcs11:token=custodian-test");
    CK_TOKEN_INFO a = softhsm("custodian-test", "1");
    CK_TOKEN_INFO b = softhsm("custodian-test2", "1");
    CK_TOKEN_INFO c = softhsm("other", "1");
    CK_TOKEN_INFO d = softhsm("custodian-tes", "1");

    ck_assert(p11uri_matches(uri, &a));
    ck_assert(!p11uri_matches(uri, &b));
    ck_assert(!p11uri_matches(uri, &c));
    ck_assert(!p11uri_matches(uri, &d));
    p11_kit_uri_free(uri);
}
END_TEST

START_TEST(match_serial)
{
    P11KitUri *uri = parse_ok("pkcs11:serial=abc123");
    CK_TOKEN_INFO a = softhsm("anything", "abc123");
    CK_TOKEN_INFO b = softhsm("anything", "abc1234");
    CK_TOKEN_INFO c = softhsm("abc123", "abc12");

    ck_assert(p11uri_matches(uri, &a));
    ck_assert(!p11uri_matches(uri, &b));
    ck_assert(!p11uri_matches(uri, &c));
    p11_kit_uri_free(uri);
}
END_TEST

START_TEST(match_manufacturer_model)
{
    P11KitUri *uri =
        parse_ok("pkcs11:manufacturer=SoftHSM%20project;model=SoftHSM%20v2");
    CK_TOKEN_INFO a = softhsm("one", "1");
    CK_TOKEN_INFO b = info("one", "SoftHSM project", "SoftHSM v3", "1");
    CK_TOKEN_INFO c = info("one", "OpenSC Project", "SoftHSM v2", "1");

    ck_assert(p11uri_matches(uri, &a));
    ck_assert(!p11uri_matches(uri, &b));
    ck_assert(!p11uri_matches(uri, &c));
    p11_kit_uri_free(uri);
}
END_TEST

START_TEST(match_percent_space)
{
    P11KitUri *uri = parse_ok("pkcs11:token=bot%20keys");
    CK_TOKEN_INFO a = softhsm("bot keys", "1");
    CK_TOKEN_INFO b = softhsm("bot", "1");
    CK_TOKEN_INFO c = softhsm("botkeys", "1");

    ck_assert(p11uri_matches(uri, &a));
    ck_assert(!p11uri_matches(uri, &b));
    ck_assert(!p11uri_matches(uri, &c));
    p11_kit_uri_free(uri);
}
END_TEST

START_TEST(match_all_attributes)
{
    P11KitUri *uri = parse_ok("pkcs11:token=bot%20keys;serial=abc123;"
                              "manufacturer=SoftHSM%20project;"
                              "model=SoftHSM%20v2");
    CK_TOKEN_INFO a = softhsm("bot keys", "abc123");
    CK_TOKEN_INFO b = softhsm("bot keys", "abc124");

    ck_assert(p11uri_matches(uri, &a));
    ck_assert(!p11uri_matches(uri, &b));
    p11_kit_uri_free(uri);
}
END_TEST

START_TEST(match_empty_uri)
{
    P11KitUri *uri = parse_ok("pkcs11:");
    CK_TOKEN_INFO a = softhsm("custodian-test", "abc123");
    CK_TOKEN_INFO b = info("x", "y", "z", "0");
    CK_TOKEN_INFO c = info("", "", "", "");

    ck_assert(p11uri_matches(uri, &a));
    ck_assert(p11uri_matches(uri, &b));
    ck_assert(p11uri_matches(uri, &c));
    p11_kit_uri_free(uri);
}
END_TEST

/* Each is refused on its own: one loop iteration per URI. */
static const char *const refused[] = {
    "pkcs11:slot-id=3",
    "pkcs11:token=x?pin-value=1234",
    "pkcs11:token=x?pin-source=file:/x",
    "pkcs11:token=x;object=k",
    "pkcs11:token=x;id=%01",
    "pkcs11:token=x;type=private",
    "pkcs11:token=x;foo=bar",
    "notauri",
    "",
    "pkcs11:token=x?module-path=/x.so",
    "pkcs11:token=x?module-name=softhsm2",
    "pkcs11:token=x;library-description=foo",
    "pkcs11:token=x;slot-description=foo",
};

START_TEST(refused_uri)
{
    assert_refused(refused[_i]);
}
END_TEST

START_TEST(copy_padded_trims)
{
    CK_UTF8CHAR field[32];
    char out[33], small[4];

    pad(field, sizeof(field), "custodian-test");
    memset(out, 'Z', sizeof(out));
    token_copy_padded(out, sizeof(out), field, sizeof(field));
    ck_assert_str_eq(out, "custodian-test");

    /* Inner spaces stay, trailing ones go. */
    pad(field, sizeof(field), "bot keys  ");
    token_copy_padded(out, sizeof(out), field, sizeof(field));
    ck_assert_str_eq(out, "bot keys");

    /* A field that uses every byte. */
    memset(field, 'a', sizeof(field));
    token_copy_padded(out, sizeof(out), field, sizeof(field));
    ck_assert_uint_eq(strlen(out), 32);
    ck_assert_mem_eq(out, field, 32);

    /* All spaces, and NUL padding some modules use. */
    pad(field, sizeof(field), "");
    token_copy_padded(out, sizeof(out), field, sizeof(field));
    ck_assert_str_eq(out, "");
    memset(field, 0, sizeof(field));
    memcpy(field, "nul-padded", 10);
    token_copy_padded(out, sizeof(out), field, sizeof(field));
    ck_assert_str_eq(out, "nul-padded");

    /* A destination too small cuts and still terminates. */
    pad(field, sizeof(field), "abcdef");
    memset(small, 'Z', sizeof(small));
    token_copy_padded(small, sizeof(small), field, sizeof(field));
    ck_assert_str_eq(small, "abc");
}
END_TEST

static Suite *
uri_suite(void)
{
    Suite *s = suite_create("uri");
    TCase *match = tcase_create("match");
    TCase *refuse = tcase_create("refuse");
    TCase *copy = tcase_create("copy");

    tcase_add_test(match, match_label);
    tcase_add_test(match, match_serial);
    tcase_add_test(match, match_manufacturer_model);
    tcase_add_test(match, match_percent_space);
    tcase_add_test(match, match_all_attributes);
    tcase_add_test(match, match_empty_uri);
    suite_add_tcase(s, match);

    tcase_add_loop_test(refuse, refused_uri, 0,
                        (int)(sizeof(refused) / sizeof(refused[0])));
    suite_add_tcase(s, refuse);

    tcase_add_test(copy, copy_padded_trims);
    suite_add_tcase(s, copy);
    return s;
}

int
main(void)
{
    return check_run(uri_suite());
}
