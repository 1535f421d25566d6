/*
 * Anomaly alerts: each kind fires on its trigger and not on an ordinary
 * request, once per quiet time, and never without history to judge by.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "alert.h"
#include "custodian/error.h"
#include "check_main.h"

static const struct conf_alerts cfg = {
    .rate_factor = 10, .rate_min = 60, .denials = 10, .rate_after = 3600};
static const time_t t0 = 1800000000; /* on a minute */

/* An identity with ten hours of history at one request a minute, seen
 * from /usr/bin/tool in ci.service with key "release". */
static struct inventory_profile
usual(void)
{
    struct inventory_profile p = {.ready = true,
                                  .known = true,
                                  .exe_seen = true,
                                  .cgroup_seen = true,
                                  .key_used = true,
                                  .minute = 1,
                                  .before = 600,
                                  .since = t0 - 600 * 60};
    return p;
}

static struct alert_request
request(int result)
{
    struct alert_request r = {"ci", "release", "/usr/bin/tool",
                              "/system.slice/ci.service", result};
    return r;
}

static size_t
judge(struct alert *a, struct inventory_profile p, struct alert_request r,
      time_t now, struct alert_fired *out)
{
    return alert_judge(a, &cfg, &r, &p, now, out);
}

START_TEST(ordinary_request_fires_nothing)
{
    struct alert_fired out[ALERT_KINDS];
    struct alert *a;

    ck_assert_int_eq(alert_new(&a), 0);
    ck_assert_uint_eq(judge(a, usual(), request(0), t0, out), 0);
    ck_assert_uint_eq(judge(a, usual(), request(CUST_ERR_DENIED), t0, out), 0);
    alert_free(a);
}
END_TEST

START_TEST(new_exe_cgroup_key)
{
    struct alert_fired out[ALERT_KINDS];
    struct inventory_profile p = usual();
    struct alert_request r = request(0);
    struct alert *a;

    ck_assert_int_eq(alert_new(&a), 0);
    p.exe_seen = false;
    r.exe = "/tmp/x";
    ck_assert_uint_eq(judge(a, p, r, t0, out), 1);
    ck_assert_int_eq(out[0].kind, ALERT_NEW_EXE);
    ck_assert_str_eq(out[0].detail,
                     "a request from executable /tmp/x, not seen before");
    /* The same one again, before the inventory counted it: quiet. */
    ck_assert_uint_eq(judge(a, p, r, t0 + 1, out), 0);
    /* Another new one is another alert. */
    r.exe = "/tmp/y";
    ck_assert_uint_eq(judge(a, p, r, t0 + 2, out), 1);
    /* A full list cannot tell new from old. */
    p.exe_full = true;
    r.exe = "/tmp/z";
    ck_assert_uint_eq(judge(a, p, r, t0 + 3, out), 0);

    p = usual();
    p.cgroup_seen = false;
    p.key_used = false;
    ck_assert_uint_eq(judge(a, p, request(0), t0, out), 2);
    ck_assert_int_eq(out[0].kind, ALERT_NEW_CGROUP);
    ck_assert_int_eq(out[1].kind, ALERT_NEW_KEY);
    ck_assert_str_eq(out[1].detail, "a request for key release, which it "
                                    "has not used before");
    alert_free(a);
}
END_TEST

START_TEST(no_history_no_baseline)
{
    struct alert_fired out[ALERT_KINDS];
    struct inventory_profile p = {.ready = true};
    struct alert *a;

    ck_assert_int_eq(alert_new(&a), 0);
    /* An identity's first request: everything is new, nothing fires. */
    ck_assert_uint_eq(judge(a, p, request(0), t0, out), 0);
    /* Nor while the log is still being read. */
    p = usual();
    p.ready = false;
    p.exe_seen = false;
    ck_assert_uint_eq(judge(a, p, request(0), t0, out), 0);
    alert_free(a);
}
END_TEST

START_TEST(rate_far_above_mean)
{
    struct alert_fired out[ALERT_KINDS];
    struct inventory_profile p = usual();
    struct alert *a;

    ck_assert_int_eq(alert_new(&a), 0);
    p.minute = 58; /* this is the 59th: under rate_min */
    ck_assert_uint_eq(judge(a, p, request(0), t0 + 30, out), 0);
    p.minute = 59;
    ck_assert_uint_eq(judge(a, p, request(0), t0 + 30, out), 1);
    ck_assert_int_eq(out[0].kind, ALERT_RATE);
    ck_assert_str_eq(out[0].detail, "60 requests this minute, against a "
                                    "mean of 1.0 a minute");
    /* Quiet for ten minutes, then again. */
    p.minute = 500;
    ck_assert_uint_eq(judge(a, p, request(0), t0 + 629, out), 0);
    ck_assert_uint_eq(judge(a, p, request(0), t0 + 630, out), 1);
    /* A busy identity's busy minute is no anomaly. */
    p = usual();
    p.before = 600 * 50;
    p.minute = 100;
    ck_assert_uint_eq(judge(a, p, request(0), t0 + 5000, out), 0);
    /* Less history than rate_after: not judged. */
    p = usual();
    p.since = t0 + 9000 - 59 * 60;
    p.before = 59;
    p.minute = 500;
    ck_assert_uint_eq(judge(a, p, request(0), t0 + 9000, out), 0);
    alert_free(a);
}
END_TEST

START_TEST(denials_and_stale_use)
{
    struct alert_fired out[ALERT_KINDS];
    struct inventory_profile p = usual();
    struct alert *a;

    ck_assert_int_eq(alert_new(&a), 0);
    p.refused_5min = 8;
    ck_assert_uint_eq(judge(a, p, request(CUST_ERR_DENIED), t0, out), 0);
    p.refused_5min = 9;
    ck_assert_uint_eq(judge(a, p, request(0), t0, out), 0);
    ck_assert_uint_eq(judge(a, p, request(CUST_ERR_DENIED), t0, out), 1);
    ck_assert_int_eq(out[0].kind, ALERT_DENIALS);
    ck_assert_str_eq(out[0].detail, "10 requests refused within 5 minutes");
    /* Refused as suspended: it is stopped already, nothing fires. */
    p.stale = true;
    ck_assert_uint_eq(judge(a, p, request(CUST_ERR_SUSPENDED), t0 + 700, out),
                      0);
    p.refused_5min = 0;
    ck_assert_uint_eq(judge(a, p, request(0), t0 + 700, out), 1);
    ck_assert_int_eq(out[0].kind, ALERT_STALE_USE);
    alert_free(a);
}
END_TEST

START_TEST(metrics_count_by_identity_and_kind)
{
    struct alert_fired out[ALERT_KINDS];
    struct inventory_profile p = usual();
    struct alert *a;
    char *text = NULL;
    size_t len = 0;
    FILE *f;

    ck_assert_int_eq(alert_new(&a), 0);
    p.key_used = false;
    ck_assert_uint_eq(judge(a, p, request(0), t0, out), 1);
    f = open_memstream(&text, &len);
    alert_metrics(a, f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(
        text, "custodian_alerts_total{identity=\"ci\",kind=\"new-key\"} 1\n"));
    ck_assert_ptr_null(strstr(text, "kind=\"rate\""));
    free(text);
    alert_free(a);
}
END_TEST

static Suite *
suite(void)
{
    Suite *s = suite_create("alert");
    TCase *tc = tcase_create("alert");

    tcase_add_test(tc, ordinary_request_fires_nothing);
    tcase_add_test(tc, new_exe_cgroup_key);
    tcase_add_test(tc, no_history_no_baseline);
    tcase_add_test(tc, rate_far_above_mean);
    tcase_add_test(tc, denials_and_stale_use);
    tcase_add_test(tc, metrics_count_by_identity_and_kind);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return check_run(suite());
}
