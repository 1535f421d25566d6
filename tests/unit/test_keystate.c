/*
 * Unit tests of keystate: the schedule a key's rotation settings make
 * over simulated months, the transitions the lifecycle allows and those
 * it refuses, and the state file (round trip, atomic replacement, and
 * refusal of files that are not what they claim).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "custodian/error.h"
#include "check_main.h"
#include "keystate.h"

#define DAY 86400
#define T0  1700000000

static const struct keystate_rotation monthly = {
    .period = 30 * DAY,
    .publish_ahead = 2 * DAY,
    .verify_for = 60 * DAY,
    .destroy_after = 90 * DAY,
};

static char dir[256], path[300];

static void
tmp_setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/custodian-keystate-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/keys.state", dir);
}

static void
tmp_teardown(void)
{
    char tmp[320];

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    unlink(tmp);
    unlink(path);
    rmdir(dir);
}

/* A key with its first version generated and active at T0. */
static struct keystate_key *
first_version(struct keystate *s)
{
    struct keystate_key *k = keystate_key(s, "release", 1);
    struct keystate_version *v;

    ck_assert_ptr_nonnull(k);
    ck_assert_int_eq(keystate_begin(k, KEYSTATE_ACTIVE, T0, &v), 0);
    ck_assert_uint_eq(v->version, 1);
    ck_assert_int_eq(keystate_generated(k, 1, "SHA256:one"), 0);
    return k;
}

/* Carries out whatever the plan says is due at NOW, as keystore would. */
static enum keystate_step_kind
run_due(struct keystate_key *k, time_t now)
{
    struct keystate_step step;
    struct keystate_version *v;
    time_t next;

    keystate_plan(k, &monthly, now, &step, &next);
    switch (step.kind) {
    case KEYSTATE_STEP_GENERATE:
        ck_assert_int_eq(keystate_begin(k, KEYSTATE_PENDING, now, &v), 0);
        ck_assert_uint_eq(v->version, step.version);
        ck_assert_int_eq(keystate_generated(k, v->version, "SHA256:x"), 0);
        break;
    case KEYSTATE_STEP_ACTIVATE:
        ck_assert_int_eq(keystate_activate(k, step.version, now), 0);
        break;
    case KEYSTATE_STEP_DESTROY:
        ck_assert_int_eq(keystate_begin_destroy(k, step.version), 0);
        ck_assert_int_eq(keystate_destroyed(k, step.version, now), 0);
        break;
    case KEYSTATE_STEP_NONE:
        break;
    }
    return step.kind;
}

START_TEST(test_schedule_times)
{
    struct keystate *s = calloc(1, sizeof(*s));
    struct keystate_key *k = first_version(s);
    struct keystate_step step;
    time_t next;

    /* Nothing until two days before the period ends; then generate. */
    keystate_plan(k, &monthly, T0 + DAY, &step, &next);
    ck_assert_int_eq(step.kind, KEYSTATE_STEP_NONE);
    ck_assert_int_eq(next, T0 + 28 * DAY);
    ck_assert_int_eq(run_due(k, T0 + 28 * DAY - 1), KEYSTATE_STEP_NONE);
    ck_assert_int_eq(run_due(k, T0 + 28 * DAY), KEYSTATE_STEP_GENERATE);
    ck_assert_uint_eq(keystate_pending(k)->version, 2);

    /* The pending version activates exactly at the period's end. */
    keystate_plan(k, &monthly, T0 + 29 * DAY, &step, &next);
    ck_assert_int_eq(step.kind, KEYSTATE_STEP_NONE);
    ck_assert_int_eq(next, T0 + 30 * DAY);
    ck_assert_int_eq(run_due(k, T0 + 30 * DAY), KEYSTATE_STEP_ACTIVATE);
    ck_assert_uint_eq(keystate_active(k)->version, 2);
    ck_assert_int_eq(keystate_version(k, 1)->state, KEYSTATE_RETIRED);
    ck_assert_int_eq(keystate_version(k, 1)->retired, T0 + 30 * DAY);
    keystate_free(s);
}
END_TEST

START_TEST(test_schedule_months)
{
    struct keystate *s = calloc(1, sizeof(*s));
    struct keystate_key *k = first_version(s);
    time_t t;
    size_t i, active, destroyed = 0;

    /* A year, hour by hour: exactly one version active at all times. */
    for (t = T0; t < T0 + 365 * DAY; t += 3600) {
        while (run_due(k, t) != KEYSTATE_STEP_NONE)
            ;
        for (i = 0, active = 0; i < k->n; i++)
            active += k->versions[i].state == KEYSTATE_ACTIVE;
        ck_assert_uint_eq(active, 1);
    }
    /* 365 days of 30-day periods: version 13 active since day 360. */
    ck_assert_uint_eq(keystate_active(k)->version, 13);
    for (i = 0; i < k->n; i++) {
        destroyed += k->versions[i].state == KEYSTATE_DESTROYED;
        if (k->versions[i].state == KEYSTATE_DESTROYED)
            ck_assert_int_ge(k->versions[i].destroyed,
                             k->versions[i].retired + 90 * DAY);
    }
    /* Retired before day 275 (versions 1 to 9) are destroyed. */
    ck_assert_uint_eq(destroyed, 9);
    keystate_free(s);
}
END_TEST

START_TEST(test_late_start_gives_notice)
{
    struct keystate *s = calloc(1, sizeof(*s));
    struct keystate_key *k = first_version(s);
    struct keystate_step step;
    time_t next, late = T0 + 100 * DAY;

    /* Down past the rotation time: generate now, activate only after the
     * verifiers had their two days. */
    ck_assert_int_eq(run_due(k, late), KEYSTATE_STEP_GENERATE);
    keystate_plan(k, &monthly, late + 1, &step, &next);
    ck_assert_int_eq(step.kind, KEYSTATE_STEP_NONE);
    ck_assert_int_eq(next, late + 2 * DAY);
    ck_assert_int_eq(run_due(k, late + 2 * DAY), KEYSTATE_STEP_ACTIVATE);
    keystate_free(s);
}
END_TEST

START_TEST(test_manual_key_has_no_schedule)
{
    struct keystate_rotation manual = {0};
    struct keystate *s = calloc(1, sizeof(*s));
    struct keystate_key *k = first_version(s);
    struct keystate_step step;
    time_t next;

    keystate_plan(k, &manual, T0 + 1000 * DAY, &step, &next);
    ck_assert_int_eq(step.kind, KEYSTATE_STEP_NONE);
    ck_assert_int_eq(next, 0);
    keystate_free(s);
}
END_TEST

START_TEST(test_unfinished_intent_blocks_plan)
{
    struct keystate *s = calloc(1, sizeof(*s));
    struct keystate_key *k = first_version(s);
    struct keystate_version *v;
    struct keystate_step step;
    time_t next;

    ck_assert_int_eq(keystate_begin(k, KEYSTATE_PENDING, T0, &v), 0);
    keystate_plan(k, &monthly, T0 + 365 * DAY, &step, &next);
    ck_assert_int_eq(step.kind, KEYSTATE_STEP_NONE);
    /* Not yet generated: it cannot activate. */
    ck_assert_int_eq(keystate_activate(k, 2, T0), CUST_ERR_ARG);
    ck_assert_int_eq(keystate_abandon(k, 2), 0);
    ck_assert_uint_eq(k->n, 1);
    keystate_free(s);
}
END_TEST

START_TEST(test_refused_transitions)
{
    struct keystate *s = calloc(1, sizeof(*s));
    struct keystate_key *k = first_version(s);
    struct keystate_version *v;

    /* Only a key's first version starts active; one pending at a time. */
    ck_assert_int_eq(keystate_begin(k, KEYSTATE_ACTIVE, T0, &v), CUST_ERR_ARG);
    ck_assert_int_eq(keystate_begin(k, KEYSTATE_PENDING, T0, &v), 0);
    ck_assert_int_eq(keystate_generated(k, 2, "SHA256:two"), 0);
    ck_assert_int_eq(keystate_begin(k, KEYSTATE_PENDING, T0, &v), CUST_ERR_ARG);
    /* The active version cannot be destroyed; a missing one is nothing. */
    ck_assert_int_eq(keystate_begin_destroy(k, 1), CUST_ERR_ARG);
    ck_assert_int_eq(keystate_begin_destroy(k, 2), CUST_ERR_ARG);
    ck_assert_int_eq(keystate_activate(k, 9, T0), CUST_ERR_ARG);
    ck_assert_int_eq(keystate_revoke(k, 9, T0, "x"), CUST_ERR_ARG);
    /* Destroyed is final, but for the record. */
    ck_assert_int_eq(keystate_activate(k, 2, T0 + 1), 0);
    ck_assert_int_eq(keystate_begin_destroy(k, 1), 0);
    ck_assert_int_eq(keystate_destroyed(k, 1, T0 + 2), 0);
    ck_assert_int_eq(keystate_revoke(k, 1, T0 + 3, "late"), CUST_ERR_ARG);
    ck_assert_int_eq(keystate_retire(k, 1, T0 + 3), CUST_ERR_ARG);
    keystate_free(s);
}
END_TEST

START_TEST(test_revoke_active_is_replaced)
{
    struct keystate *s = calloc(1, sizeof(*s));
    struct keystate_key *k = first_version(s);
    struct keystate_version *v;

    ck_assert_int_eq(keystate_revoke(k, 1, T0 + DAY, "leaked"), 0);
    v = keystate_version(k, 1);
    ck_assert_int_eq(v->state, KEYSTATE_REVOKED);
    ck_assert_int_eq(v->revoked, T0 + DAY);
    ck_assert_int_eq(v->retired, T0 + DAY);
    ck_assert_str_eq(v->reason, "leaked");
    ck_assert_ptr_null(keystate_active(k));
    /* A scheduled key gets a new version at once, active at once. */
    ck_assert_int_eq(run_due(k, T0 + DAY), KEYSTATE_STEP_GENERATE);
    ck_assert_int_eq(run_due(k, T0 + DAY), KEYSTATE_STEP_ACTIVATE);
    ck_assert_uint_eq(keystate_active(k)->version, 2);
    /* The revoked private key is destroyed by hand only, and stays
     * revoked in the model for the verifiers. */
    ck_assert_int_eq(run_due(k, T0 + 200 * DAY), KEYSTATE_STEP_GENERATE);
    ck_assert_int_eq(keystate_begin_destroy(k, 1), 0);
    ck_assert_int_eq(keystate_destroyed(k, 1, T0 + 201 * DAY), 0);
    ck_assert_int_eq(keystate_version(k, 1)->state, KEYSTATE_REVOKED);
    ck_assert_int_eq(keystate_version(k, 1)->destroyed, T0 + 201 * DAY);
    keystate_free(s);
}
END_TEST

START_TEST(test_save_load_round_trip)
{
    struct keystate *s = calloc(1, sizeof(*s)), *back = NULL;
    struct keystate_key *k = first_version(s);
    struct keystate_version *v;
    char why[300], tmp[320];
    struct stat st;

    ck_assert_int_eq(keystate_begin(k, KEYSTATE_PENDING, T0 + 5, &v), 0);
    ck_assert_int_eq(keystate_revoke(k, 1, T0 + 7, "a \"quoted\" reason"), 0);
    ck_assert_int_eq(keystate_save(s, path), 0);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    ck_assert_int_ne(stat(tmp, &st), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);

    ck_assert_int_eq(keystate_load(path, &back, why, sizeof(why)), 0);
    k = keystate_key(back, "release", 0);
    ck_assert_ptr_nonnull(k);
    ck_assert_uint_eq(k->n, 2);
    ck_assert_int_eq(k->versions[0].state, KEYSTATE_REVOKED);
    ck_assert_str_eq(k->versions[0].reason, "a \"quoted\" reason");
    ck_assert_str_eq(k->versions[0].fingerprint, "SHA256:one");
    ck_assert_int_eq(k->versions[0].revoked, T0 + 7);
    ck_assert_int_eq(k->versions[1].intent, KEYSTATE_INTENT_GENERATE);
    ck_assert_int_eq(k->versions[1].created, T0 + 5);
    keystate_free(back);
    keystate_free(s);
}
END_TEST

START_TEST(test_missing_file_is_empty)
{
    struct keystate *s = NULL;
    char why[300];

    ck_assert_int_eq(keystate_load(path, &s, why, sizeof(why)), 0);
    ck_assert_uint_eq(s->n, 0);
    keystate_free(s);
}
END_TEST

static void
refused(const char *text, const char *expect)
{
    struct keystate *s = NULL;
    char why[300] = "";
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(keystate_load(path, &s, why, sizeof(why)),
                     CUST_ERR_CONFIG);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(why, expect) != NULL, "\"%s\" lacks \"%s\"", why,
                  expect);
    ck_assert_msg(strstr(why, path) != NULL, "\"%s\" lacks the path", why);
}

START_TEST(test_bad_files_refused)
{
    refused("{", "end of file");
    refused("{\"format\": 2, \"keys\": []}", "not a key state file");
    refused("{\"format\": 1, \"keys\": [{\"name\": \"a\"}]}",
            "without name or versions");
    refused("{\"format\": 1, \"keys\": [{\"name\": \"a\", \"versions\": "
            "[{\"version\": 1, \"state\": \"sleeping\"}]}]}",
            "version entry 1 is malformed");
    refused("{\"format\": 1, \"keys\": [{\"name\": \"a\", \"versions\": ["
            "{\"version\": 1, \"state\": \"active\", \"created\": 0, "
            "\"activated\": 0, \"retired\": 0, \"destroyed\": 0, "
            "\"revoked\": 0},"
            "{\"version\": 2, \"state\": \"active\", \"created\": 0, "
            "\"activated\": 0, \"retired\": 0, \"destroyed\": 0, "
            "\"revoked\": 0}]}]}",
            "more than one active");
    refused("{\"format\": 1, \"keys\": [{\"name\": \"a\", \"versions\": []},"
            "{\"name\": \"a\", \"versions\": []}]}",
            "appears twice");
}
END_TEST

static Suite *
keystate_suite(void)
{
    Suite *s = suite_create("keystate");
    TCase *plan = tcase_create("plan");
    TCase *model = tcase_create("model");
    TCase *file = tcase_create("file");

    tcase_add_test(plan, test_schedule_times);
    tcase_add_test(plan, test_schedule_months);
    tcase_add_test(plan, test_late_start_gives_notice);
    tcase_add_test(plan, test_manual_key_has_no_schedule);
    tcase_add_test(plan, test_unfinished_intent_blocks_plan);
    tcase_add_test(model, test_refused_transitions);
    tcase_add_test(model, test_revoke_active_is_replaced);
    tcase_add_checked_fixture(file, tmp_setup, tmp_teardown);
    tcase_add_test(file, test_save_load_round_trip);
    tcase_add_test(file, test_missing_file_is_empty);
    tcase_add_test(file, test_bad_files_refused);
    suite_add_tcase(s, plan);
    suite_add_tcase(s, model);
    suite_add_tcase(s, file);
    return s;
}

int
main(void)
{
    return check_run(keystate_suite());
}
