/*
 * Suspended identities: kept across a reopen, refused changes leave
 * nothing half done, and a damaged file is refused with its reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "custodian/error.h"
#include "suspend.h"
#include "check_main.h"

static char dir[] = "/tmp/custodian-suspend-XXXXXX";
static char path[256];

static void
setup(void)
{
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/suspended", dir);
}

static void
teardown(void)
{
    char cmd[300];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    strcpy(dir, "/tmp/custodian-suspend-XXXXXX");
}

static struct suspend *
reopen(struct suspend *s)
{
    char why[256] = "";

    suspend_free(s);
    if (suspend_open(path, &s, why, sizeof(why)) != 0)
        ck_abort_msg("%s", why);
    return s;
}

START_TEST(kept_across_reopen)
{
    struct suspend *s = reopen(NULL);
    char why[256];

    ck_assert(!suspend_check(s, "ci", why, sizeof(why)));
    ck_assert_int_eq(suspend_add(s, "ci", "ops", "leaked token", 1800000000),
                     0);
    ck_assert(suspend_check(s, "ci", why, sizeof(why)));
    ck_assert_str_eq(why, "since 2027-01-15T08:00:00Z by ops: leaked token");
    ck_assert(!suspend_check(s, "git", NULL, 0));
    /* Suspending again changes nothing, not even the reason. */
    ck_assert_int_eq(suspend_add(s, "ci", "other", "", 1900000000), 1);
    ck_assert_int_eq(suspend_add(s, "git", "alert", "", 1800000001), 0);

    s = reopen(s);
    ck_assert(suspend_check(s, "ci", why, sizeof(why)));
    ck_assert_str_eq(why, "since 2027-01-15T08:00:00Z by ops: leaked token");
    ck_assert(suspend_check(s, "git", why, sizeof(why)));
    ck_assert_str_eq(why, "since 2027-01-15T08:00:01Z by alert");
    ck_assert_int_eq(suspend_remove(s, "ci"), 0);
    ck_assert_int_eq(suspend_remove(s, "ci"), 1);
    ck_assert(!suspend_check(s, "ci", NULL, 0));

    s = reopen(s);
    ck_assert(!suspend_check(s, "ci", NULL, 0));
    ck_assert(suspend_check(s, "git", NULL, 0));
    suspend_free(s);
}
END_TEST

/* A change that cannot be saved is not made. */
START_TEST(unsaved_change_not_made)
{
    struct suspend *s = reopen(NULL);

    char moved[300];

    ck_assert_int_eq(suspend_add(s, "ci", "ops", "", 1), 0);
    /* Its directory gone (a permission would not stop root). */
    snprintf(moved, sizeof(moved), "%s.moved", dir);
    ck_assert_int_eq(rename(dir, moved), 0);
    ck_assert_int_eq(suspend_add(s, "git", "ops", "", 2), CUST_ERR_IO);
    ck_assert(!suspend_check(s, "git", NULL, 0));
    ck_assert_int_eq(suspend_remove(s, "ci"), CUST_ERR_IO);
    ck_assert(suspend_check(s, "ci", NULL, 0));
    ck_assert_int_eq(rename(moved, dir), 0);
    s = reopen(s);
    ck_assert(suspend_check(s, "ci", NULL, 0));
    ck_assert(!suspend_check(s, "git", NULL, 0));
    suspend_free(s);
}
END_TEST

static void
write_file(const char *text)
{
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(damaged_file_refused)
{
    struct suspend *s = NULL;
    char why[256];

    write_file("{\"format\": 1, \"suspended\": [ {\"identity\": \"ci\"} ]}");
    ck_assert_int_eq(suspend_open(path, &s, why, sizeof(why)), CUST_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(why, "suspension 1 is malformed"));
    write_file("{\"format\": 2, \"suspended\": []}");
    ck_assert_int_eq(suspend_open(path, &s, why, sizeof(why)), CUST_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(why, "not a suspension file of format 1"));
    write_file("{\"format\": 1, \"suspended\": [");
    ck_assert_int_eq(suspend_open(path, &s, why, sizeof(why)), CUST_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(why, path));
    write_file("{\"format\": 1, \"suspended\": [ {\"identity\": \"ci\", "
               "\"since\": 1, \"by\": \"a\", \"reason\": \"\"}, "
               "{\"identity\": \"ci\", \"since\": 2, \"by\": \"b\", "
               "\"reason\": \"\"} ]}");
    ck_assert_int_eq(suspend_open(path, &s, why, sizeof(why)), CUST_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(why, "suspension 2 is malformed"));
}
END_TEST

static Suite *
suite(void)
{
    Suite *s = suite_create("suspend");
    TCase *tc = tcase_create("suspend");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, kept_across_reopen);
    tcase_add_test(tc, unsaved_change_not_made);
    tcase_add_test(tc, damaged_file_refused);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return check_run(suite());
}
