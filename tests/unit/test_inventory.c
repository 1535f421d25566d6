/*
 * Unit tests of the inventory and the metrics text: what each record
 * counts as, the windows as time passes, staleness and expiry, the bound
 * on callers that match no identity, the questions a later check asks,
 * the rebuild from a real audit log (its horizon, a broken chain), and
 * the escaping of label values.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "custodian/error.h"
#include "audit.h"
#include "check_main.h"
#include "inventory.h"
#include "metrics.h"

/* A Monday, 00:00:00 UTC: windows line up with minutes, hours and days. */
#define T0 ((time_t)1796428800)

static char release[] = "release", docs[] = "docs";
static char ci[] = "ci", old[] = "old", idle[] = "idle";
static struct conf_key keys[] = {{.name = release}, {.name = docs}};
static struct conf_identity ids[] = {
    {.name = ci}, {.name = old, .expires = T0 - 1}, {.name = idle}};
static struct conf conf = {
    .keys = keys,
    .nkeys = 2,
    .identities = ids,
    .nidentities = 3,
    .inventory_stale_after = 86400,
};

static json_t *
record(const char *event, const char *identity, const char *key,
       const char *error, const char *exe)
{
    json_t *r = json_pack("{s:s, s:{s:i, s:i, s:i, s:s, s:s}, s:s, s:i, "
                          "s:i}",
                          "event", event, "caller", "uid", 1001, "gid", 1001,
                          "pid", 42, "exe", exe, "cgroup", "/ci.service", "key",
                          key, "version", 1, "latency_us", 700);

    json_object_set_new(r, "identity",
                        identity ? json_string(identity) : json_null());
    json_object_set_new(r, "error", error ? json_string(error) : json_null());
    return r;
}

static void
add(struct inventory *inv, const char *event, const char *identity,
    const char *key, const char *error, time_t at)
{
    json_t *r = record(event, identity, key, error, "/usr/bin/sign");

    inventory_add(inv, r, at);
    json_decref(r);
}

/* The identity named NAME (NULL: the first stranger) in DOC. */
static json_t *
find(json_t *doc, const char *name)
{
    json_t *id;
    size_t i;

    json_array_foreach(json_object_get(doc, "identities"), i, id)
    {
        const char *n = json_string_value(json_object_get(id, "identity"));
        if ((name == NULL && n == NULL) ||
            (name != NULL && n != NULL && strcmp(n, name) == 0))
            return id;
    }
    return NULL;
}

static json_int_t
window(json_t *doc, const char *name, const char *w, const char *decision)
{
    json_t *id = find(doc, name);

    ck_assert_ptr_nonnull(id);
    return json_integer_value(json_object_get(
        json_object_get(json_object_get(id, "requests"), w), decision));
}

START_TEST(decisions_and_windows)
{
    struct inventory *inv;
    json_t *doc;

    ck_assert_int_eq(inventory_new(&conf, T0, &inv), 0);
    add(inv, "sign", "ci", "release", NULL, T0 + 10);
    add(inv, "sign", "ci", "release", "CUST_ERR_DENIED", T0 + 20);
    add(inv, "sign", "ci", "nope", "CUST_ERR_KEY_NOT_FOUND", T0 + 30);
    add(inv, "sign", "ci", "docs", "CUST_ERR_RATE_LIMITED", T0 + 40);
    add(inv, "pubkey", "old", "docs", "CUST_ERR_EXPIRED", T0 + 50);
    add(inv, "sign", "ci", "release", "CUST_ERR_TOKEN", T0 + 60);
    add(inv, "admin", "ci", "release", NULL, T0 + 70); /* not a request */

    doc = inventory_json(inv, T0 + 120);
    ck_assert_int_eq(window(doc, "ci", "1h", "allowed"), 1);
    ck_assert_int_eq(window(doc, "ci", "1h", "denied"), 2);
    ck_assert_int_eq(window(doc, "ci", "1h", "rate_limited"), 1);
    ck_assert_int_eq(window(doc, "ci", "1h", "error"), 1);
    ck_assert_int_eq(window(doc, "old", "1h", "expired"), 1);
    ck_assert(json_is_true(json_object_get(find(doc, "old"), "expired")));
    json_decref(doc);

    /* An hour and a minute later: out of the hour, in the day. */
    doc = inventory_json(inv, T0 + 3600 + 61);
    ck_assert_int_eq(window(doc, "ci", "1h", "allowed"), 0);
    ck_assert_int_eq(window(doc, "ci", "24h", "allowed"), 1);
    json_decref(doc);

    /* The next day: out of the 24 hours, in the 30 days; stale. */
    doc = inventory_json(inv, T0 + 86400 + 3600);
    ck_assert_int_eq(window(doc, "ci", "24h", "denied"), 0);
    ck_assert_int_eq(window(doc, "ci", "30d", "denied"), 2);
    ck_assert(json_is_true(json_object_get(find(doc, "ci"), "stale")));
    ck_assert(json_is_true(json_object_get(find(doc, "idle"), "stale")));
    json_decref(doc);

    /* Thirty days on, nothing is left in any window. */
    doc = inventory_json(inv, T0 + 30 * 86400 + 10);
    ck_assert_int_eq(window(doc, "ci", "30d", "denied"), 0);
    json_decref(doc);
    inventory_free(inv);
}
END_TEST

START_TEST(a_fresh_identity_is_not_stale)
{
    struct inventory *inv;
    json_t *doc;

    ck_assert_int_eq(inventory_new(&conf, T0, &inv), 0);
    doc = inventory_json(inv, T0 + 3600);
    ck_assert(json_is_false(json_object_get(find(doc, "idle"), "stale")));
    json_decref(doc);
    inventory_free(inv);
}
END_TEST

START_TEST(strangers_are_bounded)
{
    struct inventory *inv;
    char exe[64];
    json_t *doc, *r, *id;
    size_t i, nstrangers = 0;

    ck_assert_int_eq(inventory_new(&conf, T0, &inv), 0);
    for (i = 0; i < INVENTORY_STRANGERS_MAX + 50; i++) {
        snprintf(exe, sizeof(exe), "/tmp/x%zu", i);
        r = record("sign", NULL, "release", "CUST_ERR_DENIED", exe);
        inventory_add(inv, r, T0 + 5);
        json_decref(r);
    }
    doc = inventory_json(inv, T0 + 10);
    json_array_foreach(json_object_get(doc, "identities"), i, id) nstrangers +=
        json_is_null(json_object_get(id, "identity"));
    /* Each kept apart up to the bound, then one shared entry. */
    ck_assert_uint_eq(nstrangers, INVENTORY_STRANGERS_MAX + 1);
    json_decref(doc);
    inventory_free(inv);
}
END_TEST

/* What the alerts ask of one identity, counted to the minute in this
 * hour and to the hour before it. */
START_TEST(profile_of_an_identity)
{
    struct inventory_profile p;
    struct inventory *inv;

    ck_assert_int_eq(inventory_new(&conf, T0, &inv), 0);
    add(inv, "sign", "ci", "release", NULL, T0 + 100);
    add(inv, "sign", "ci", "release", "CUST_ERR_DENIED", T0 + 200);
    add(inv, "sign", "ci", "docs", "CUST_ERR_DENIED", T0 + 300);
    add(inv, "sign", "ci", "release", "CUST_ERR_DENIED", T0 + 900);

    inventory_profile(inv, "ci", "release", "/usr/bin/sign", "/ci.service",
                      T0 + 950, &p);
    ck_assert(!p.ready); /* the log has not been read */
    ck_assert(p.known && !p.stale);
    ck_assert(p.key_used && p.exe_seen && p.cgroup_seen);
    ck_assert(!p.exe_full && !p.cgroup_full);
    ck_assert_uint_eq(p.minute, 1);       /* T0 + 900, this minute */
    ck_assert_uint_eq(p.before, 3);       /* the three before it */
    ck_assert_int_eq(p.since, T0 + 60);   /* from the minute of T0 + 100 */
    ck_assert_uint_eq(p.refused_5min, 1); /* T0 + 300 is 10 minutes back */

    /* A refused request is no use of the key; others are unknown. */
    inventory_profile(inv, "ci", "docs", "/usr/bin/other", "/other.service",
                      T0 + 950, &p);
    ck_assert(!p.key_used && !p.exe_seen && !p.cgroup_seen);
    inventory_profile(inv, "nobody", "release", "/usr/bin/sign", NULL, T0 + 950,
                      &p);
    ck_assert(!p.known && !p.key_used);
    ck_assert_uint_eq(p.before + p.minute, 0);

    /* The next hour counts this one by the hour. */
    inventory_profile(inv, "ci", "release", "/usr/bin/sign", "/ci.service",
                      T0 + 3630, &p);
    ck_assert_uint_eq(p.minute, 0);
    ck_assert_uint_eq(p.before, 4);
    ck_assert_int_eq(p.since, T0);
    ck_assert_uint_eq(p.refused_5min, 0);
    inventory_free(inv);
}
END_TEST

static atomic_int rebuilt_calls;

static void
rebuilt(void *arg, int rc, const struct inventory_rebuild *rb)
{
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(rb->counted, 3);
    atomic_fetch_add((atomic_int *)arg, 1);
}

/* A real log of three requests: what a rebuild counts, and its horizon. */
START_TEST(rebuild_from_the_log)
{
    char dir[] = "/tmp/custodian-inv-XXXXXX", path[64], cmd[160];
    struct inventory_rebuild rb;
    struct inventory *inv;
    struct audit *a;
    json_t *r, *doc;
    time_t now = time(NULL);
    int i;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/audit.log", dir);
    ck_assert_int_eq(audit_open(path, &a), 0);
    for (i = 0; i < 3; i++) {
        r = record("sign", "ci", "release", i == 2 ? "CUST_ERR_DENIED" : NULL,
                   "/usr/bin/sign");
        ck_assert_int_eq(audit_write(a, r, NULL), 0);
        json_decref(r);
    }
    audit_close(a);

    ck_assert_int_eq(inventory_new(&conf, now, &inv), 0);
    ck_assert_int_eq(inventory_rebuild(inv, path, now, UINT64_MAX, &rb), 0);
    ck_assert_uint_eq(rb.records, 3);
    ck_assert_uint_eq(rb.counted, 3);
    ck_assert(!rb.broken);
    doc = inventory_json(inv, now);
    ck_assert_int_eq(window(doc, "ci", "30d", "allowed"), 2);
    ck_assert_int_eq(window(doc, "ci", "30d", "denied"), 1);
    json_decref(doc);
    inventory_free(inv);

    /* Read 31 days later, the records are past the horizon. */
    ck_assert_int_eq(inventory_new(&conf, now, &inv), 0);
    ck_assert_int_eq(
        inventory_rebuild(inv, path, now + 31 * 86400, UINT64_MAX, &rb), 0);
    ck_assert_uint_eq(rb.records, 3);
    ck_assert_uint_eq(rb.counted, 0);
    inventory_free(inv);

    /* Up to seq 2 only: the third is the live feed's to count. */
    ck_assert_int_eq(inventory_new(&conf, now, &inv), 0);
    ck_assert_int_eq(inventory_rebuild(inv, path, now, 2, &rb), 0);
    ck_assert_uint_eq(rb.counted, 2);
    doc = inventory_json(inv, now);
    ck_assert_int_eq(window(doc, "ci", "30d", "denied"), 0);
    json_decref(doc);
    inventory_free(inv);

    /* On its own thread, with the outcome reported once. */
    ck_assert_int_eq(inventory_new(&conf, now, &inv), 0);
    ck_assert_int_eq(
        inventory_rebuild_start(inv, path, now, 3, rebuilt, &rebuilt_calls), 0);
    while (atomic_load(&rebuilt_calls) == 0)
        usleep(1000);
    doc = inventory_json(inv, now);
    ck_assert(
        json_is_true(json_object_get(json_object_get(doc, "rebuild"), "done")));
    ck_assert_int_eq(window(doc, "ci", "30d", "allowed"), 2);
    json_decref(doc);
    inventory_free(inv);
    ck_assert_int_eq(atomic_load(&rebuilt_calls), 1);

    /* A broken chain: counted up to the break, and said where. */
    snprintf(cmd, sizeof(cmd), "sed -i '2s/\"seq\":2/\"seq\":7/' %s", path);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(inventory_new(&conf, now, &inv), 0);
    ck_assert_int_eq(inventory_rebuild(inv, path, now, UINT64_MAX, &rb), 0);
    ck_assert(rb.broken);
    ck_assert_uint_eq(rb.counted, 1);
    ck_assert_ptr_nonnull(strstr(rb.where, "line 2"));
    inventory_free(inv);

    unlink(path);
    rmdir(dir);
}
END_TEST

START_TEST(label_values_are_escaped)
{
    char out[METRICS_LABELS_MAX];

    metrics_labels(out, sizeof(out), "a", "x\"y\\z\nw", "b", "", NULL);
    ck_assert_str_eq(out, "{a=\"x\\\"y\\\\z\\nw\",b=\"\"}");
    metrics_labels(out, sizeof(out), NULL);
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(metrics_text)
{
    struct inventory *inv;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    ck_assert_int_eq(inventory_new(&conf, T0, &inv), 0);
    add(inv, "sign", "ci", "release", NULL, T0 + 10);
    add(inv, "sign", NULL, "release", "CUST_ERR_DENIED", T0 + 10);
    ck_assert_int_eq(inventory_metrics(inv, T0 + 20, f), 0);
    fclose(f);
    ck_assert_ptr_nonnull(
        strstr(text, "# TYPE custodian_requests_total counter\n"));
    ck_assert_ptr_nonnull(
        strstr(text, "custodian_requests_total{identity=\"ci\",key=\"release\","
                     "operation=\"sign\",decision=\"allowed\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(
        text, "custodian_requests_total{identity=\"(none)\",key=\"release\","
              "operation=\"sign\",decision=\"denied\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(
        text, "custodian_signatures_total{key=\"release\",version=\"1\"} 1\n"));
    ck_assert_ptr_nonnull(
        strstr(text, "custodian_request_duration_seconds_bucket{operation="
                     "\"sign\",le=\"0.001\"} 2\n"));
    free(text);
    inventory_free(inv);
}
END_TEST

static Suite *
inventory_suite(void)
{
    Suite *s = suite_create("inventory");
    TCase *tc = tcase_create("inventory");

    tcase_add_test(tc, decisions_and_windows);
    tcase_add_test(tc, a_fresh_identity_is_not_stale);
    tcase_add_test(tc, strangers_are_bounded);
    tcase_add_test(tc, profile_of_an_identity);
    tcase_add_test(tc, rebuild_from_the_log);
    tcase_add_test(tc, label_values_are_escaped);
    tcase_add_test(tc, metrics_text);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return check_run(inventory_suite());
}
