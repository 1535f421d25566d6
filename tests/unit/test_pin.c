/*
 * Unit tests of pin: reading a PIN from a file and from a systemd
 * credential, the line-end rules, the length limit, the file checks, the
 * error text, that a failed read leaves the struct wiped, and that an
 * open source reads again through its descriptor.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "custodian/error.h"
#include "pin.h"
#include "check_main.h"

/* A private directory for the test's files, removed after each test. */
static char tmpdir[256];
static char paths[8][300];
static int npaths;

static void
tmp_setup(void)
{
    const char *base = getenv("TMPDIR");

    snprintf(tmpdir, sizeof(tmpdir), "%s/custodian-pin-XXXXXX",
             base != NULL && *base != '\0' ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    npaths = 0;
    unsetenv("CREDENTIALS_DIRECTORY");
}

static void
tmp_teardown(void)
{
    int i;

    for (i = 0; i < npaths; i++)
        unlink(paths[i]);
    rmdir(tmpdir);
}

/* Writes LEN bytes to a new file in tmpdir with MODE; returns its path. */
static const char *
tmp_file(const void *data, size_t len, mode_t mode)
{
    char *path;
    int fd;

    ck_assert_int_lt(npaths, 8);
    path = paths[npaths++];
    snprintf(path, sizeof(paths[0]), "%s/pin-XXXXXX", tmpdir);
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    ck_assert_int_eq(fchmod(fd, mode), 0);
    close(fd);
    return path;
}

/* Writes a file with the bytes of the string S and mode 0600. */
static const char *
tmp_pin(const char *s)
{
    return tmp_file(s, strlen(s), 0600);
}

/* Fills *PIN with garbage so that a wipe can be seen. */
static void
pin_dirty(struct pin *pin)
{
    memset(pin, 0xa5, sizeof(*pin));
}

static void
assert_wiped(const struct pin *pin)
{
    static const struct pin zero;

    ck_assert_mem_eq(pin, &zero, sizeof(zero));
}

static void
assert_pin(const struct pin *pin, const char *expect)
{
    ck_assert_uint_eq(pin->len, strlen(expect));
    ck_assert_mem_eq(pin->value, expect, strlen(expect) + 1);
}

/* Reads PATH, expects a refusal whose text contains WHY and PATH. */
static void
assert_refused(const char *path, const char *why)
{
    struct pin pin;

    pin_dirty(&pin);
    ck_assert_int_eq(pin_read_file(path, &pin), CUST_ERR_PIN_SOURCE);
    assert_wiped(&pin);
    ck_assert_msg(strstr(pin_error(), why) != NULL,
                  "pin_error() is \"%s\", expected it to contain \"%s\"",
                  pin_error(), why);
    ck_assert_msg(strstr(pin_error(), path) != NULL,
                  "pin_error() is \"%s\", expected the path \"%s\"",
                  pin_error(), path);
}

START_TEST(file_no_newline)
{
    struct pin pin;

    pin_dirty(&pin);
    ck_assert_int_eq(pin_read_file(tmp_pin("1234"), &pin), 0);
    assert_pin(&pin, "1234");
}
END_TEST

START_TEST(file_newline_removed)
{
    struct pin pin;

    pin_dirty(&pin);
    ck_assert_int_eq(pin_read_file(tmp_pin("1234\n"), &pin), 0);
    assert_pin(&pin, "1234");
}
END_TEST

START_TEST(file_crlf_removed)
{
    struct pin pin;

    pin_dirty(&pin);
    ck_assert_int_eq(pin_read_file(tmp_pin("s3cr3t pin\r\n"), &pin), 0);
    assert_pin(&pin, "s3cr3t pin");
}
END_TEST

START_TEST(file_two_newlines_refused)
{
    assert_refused(tmp_pin("1234\n\n"), "line break");
    assert_refused(tmp_pin("1234\r\n\r\n"), "line break");
    assert_refused(tmp_pin("1234\r\r\n"), "line break");
    assert_refused(tmp_pin("12\n34"), "line break");
    assert_refused(tmp_pin("1234\r"), "line break");
}
END_TEST

START_TEST(file_empty_refused)
{
    assert_refused(tmp_pin(""), "empty");
    assert_refused(tmp_pin("\n"), "empty");
    assert_refused(tmp_pin("\r\n"), "empty");
}
END_TEST

START_TEST(file_nul_refused)
{
    assert_refused(tmp_file("12\0"
                            "34\n",
                            6, 0600),
                   "NUL");
}
END_TEST

START_TEST(file_longest_accepted)
{
    char data[PIN_MAX + 2];
    struct pin pin;

    memset(data, 'x', PIN_MAX);
    data[PIN_MAX] = '\0';

    pin_dirty(&pin);
    ck_assert_int_eq(pin_read_file(tmp_file(data, PIN_MAX, 0600), &pin), 0);
    assert_pin(&pin, data);

    memcpy(data + PIN_MAX, "\r\n", 2);
    pin_dirty(&pin);
    ck_assert_int_eq(pin_read_file(tmp_file(data, PIN_MAX + 2, 0600), &pin), 0);
    ck_assert_uint_eq(pin.len, PIN_MAX);
    ck_assert_mem_eq(pin.value, data, PIN_MAX);
    ck_assert_int_eq(pin.value[PIN_MAX], '\0');
}
END_TEST

START_TEST(file_too_long_refused)
{
    char data[PIN_MAX + 64];

    memset(data, 'x', sizeof(data));
    assert_refused(tmp_file(data, PIN_MAX + 1, 0600), "longer");

    memcpy(data + PIN_MAX + 1, "\r\n", 2);
    assert_refused(tmp_file(data, PIN_MAX + 3, 0600), "longer");
    assert_refused(tmp_file(data, sizeof(data), 0600), "longer");
}
END_TEST

START_TEST(file_others_readable_refused)
{
    assert_refused(tmp_file("1234", 4, 0644), "others");
    assert_refused(tmp_file("1234", 4, 0602), "others");
}
END_TEST

START_TEST(file_group_readable_accepted)
{
    struct pin pin;

    pin_dirty(&pin);
    ck_assert_int_eq(pin_read_file(tmp_file("1234", 4, 0640), &pin), 0);
    assert_pin(&pin, "1234");
}
END_TEST

START_TEST(file_directory_refused)
{
    assert_refused(tmpdir, "not a regular file");
}
END_TEST

START_TEST(file_missing_refused)
{
    char path[300];

    snprintf(path, sizeof(path), "%s/missing", tmpdir);
    assert_refused(path, "No such file");
}
END_TEST

START_TEST(credential_read)
{
    struct pin pin;
    const char *path = tmp_pin("cred-pin\n");

    ck_assert_int_eq(setenv("CREDENTIALS_DIRECTORY", tmpdir, 1), 0);
    pin_dirty(&pin);
    ck_assert_int_eq(pin_read_credential(strrchr(path, '/') + 1, &pin), 0);
    assert_pin(&pin, "cred-pin");
}
END_TEST

START_TEST(credential_same_rules)
{
    struct pin pin;
    const char *path = tmp_file("1234", 4, 0644);

    ck_assert_int_eq(setenv("CREDENTIALS_DIRECTORY", tmpdir, 1), 0);
    pin_dirty(&pin);
    ck_assert_int_eq(pin_read_credential(strrchr(path, '/') + 1, &pin),
                     CUST_ERR_PIN_SOURCE);
    assert_wiped(&pin);
    ck_assert_ptr_nonnull(strstr(pin_error(), "others"));

    pin_dirty(&pin);
    ck_assert_int_eq(pin_read_credential("missing", &pin), CUST_ERR_PIN_SOURCE);
    assert_wiped(&pin);
}
END_TEST

START_TEST(credential_slash_refused)
{
    struct pin pin;
    const char *path = tmp_pin("1234");
    char name[300];

    ck_assert_int_eq(setenv("CREDENTIALS_DIRECTORY", "/", 1), 0);
    snprintf(name, sizeof(name), "%s", path + 1);
    pin_dirty(&pin);
    ck_assert_int_eq(pin_read_credential(name, &pin), CUST_ERR_PIN_SOURCE);
    assert_wiped(&pin);
    ck_assert_ptr_nonnull(strstr(pin_error(), "'/'"));

    pin_dirty(&pin);
    ck_assert_int_eq(pin_read_credential("../pin", &pin), CUST_ERR_PIN_SOURCE);
    assert_wiped(&pin);
}
END_TEST

START_TEST(credential_unset_refused)
{
    struct pin pin;
    const char *path = tmp_pin("1234");

    pin_dirty(&pin);
    ck_assert_int_eq(pin_read_credential(strrchr(path, '/') + 1, &pin),
                     CUST_ERR_PIN_SOURCE);
    assert_wiped(&pin);
    ck_assert_ptr_nonnull(strstr(pin_error(), "CREDENTIALS_DIRECTORY"));

    ck_assert_int_eq(setenv("CREDENTIALS_DIRECTORY", "", 1), 0);
    pin_dirty(&pin);
    ck_assert_int_eq(pin_read_credential(strrchr(path, '/') + 1, &pin),
                     CUST_ERR_PIN_SOURCE);
    assert_wiped(&pin);
    ck_assert_ptr_nonnull(strstr(pin_error(), "CREDENTIALS_DIRECTORY"));
}
END_TEST

START_TEST(wipe_accepts_null)
{
    struct pin pin;

    pin_wipe(NULL);
    pin_dirty(&pin);
    pin_wipe(&pin);
    assert_wiped(&pin);
}
END_TEST

/* An open source reads again after the file's path is gone, and each read
 * starts from the beginning. */
START_TEST(source_reads_again_through_descriptor)
{
    const char *path = tmp_pin("4321\n");
    struct pin_source src;
    struct pin pin;

    ck_assert_int_eq(pin_source_open_file(path, &src), 0);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(pin_source_read(&src, &pin), 0);
    assert_pin(&pin, "4321");
    pin_dirty(&pin);
    ck_assert_int_eq(pin_source_read(&src, &pin), 0);
    assert_pin(&pin, "4321");
    pin_source_close(&src);
    ck_assert_int_eq(src.fd, -1);
}
END_TEST

/* A file opened private and made public later is refused at the read. */
START_TEST(source_checks_again_at_read)
{
    const char *path = tmp_pin("4321\n");
    struct pin_source src;
    struct pin pin;

    ck_assert_int_eq(pin_source_open_file(path, &src), 0);
    ck_assert_int_eq(chmod(path, 0644), 0);
    pin_dirty(&pin);
    ck_assert_int_eq(pin_source_read(&src, &pin), CUST_ERR_PIN_SOURCE);
    assert_wiped(&pin);
    ck_assert_ptr_nonnull(strstr(pin_error(), "readable or writable by"));
    pin_source_close(&src);
}
END_TEST

static Suite *
pin_suite(void)
{
    Suite *s = suite_create("pin");
    TCase *file = tcase_create("file");
    TCase *cred = tcase_create("credential");

    tcase_add_checked_fixture(file, tmp_setup, tmp_teardown);
    tcase_add_test(file, file_no_newline);
    tcase_add_test(file, file_newline_removed);
    tcase_add_test(file, file_crlf_removed);
    tcase_add_test(file, file_two_newlines_refused);
    tcase_add_test(file, file_empty_refused);
    tcase_add_test(file, file_nul_refused);
    tcase_add_test(file, file_longest_accepted);
    tcase_add_test(file, file_too_long_refused);
    tcase_add_test(file, file_others_readable_refused);
    tcase_add_test(file, file_group_readable_accepted);
    tcase_add_test(file, file_directory_refused);
    tcase_add_test(file, file_missing_refused);
    tcase_add_test(file, wipe_accepts_null);
    tcase_add_test(file, source_reads_again_through_descriptor);
    tcase_add_test(file, source_checks_again_at_read);
    suite_add_tcase(s, file);

    tcase_add_checked_fixture(cred, tmp_setup, tmp_teardown);
    tcase_add_test(cred, credential_read);
    tcase_add_test(cred, credential_same_rules);
    tcase_add_test(cred, credential_slash_refused);
    tcase_add_test(cred, credential_unset_refused);
    suite_add_tcase(s, cred);
    return s;
}

int
main(void)
{
    return check_run(pin_suite());
}
