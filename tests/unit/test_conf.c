/*
 * The configuration loader: the shipped example loads, and each kind of
 * mistake is reported with its file and line, all of them in one pass.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "custodian/error.h"
#include "conf.h"
#include "check_main.h"

static char path[64];

/* Writes TEXT to a fresh temporary file and returns its path. */
static const char *
write_conf(const char *text)
{
    FILE *f;
    int fd;

    strcpy(path, "/tmp/custodian-conf-XXXXXX");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

/* Loads TEXT expecting failure; returns the errors (caller frees). */
static struct conf_errors
load_bad(const char *text)
{
    struct conf_errors errs;
    struct conf *conf = NULL;

    ck_assert_int_eq(conf_load(write_conf(text), &conf, &errs),
                     CUST_ERR_CONFIG);
    ck_assert_ptr_null(conf);
    unlink(path);
    return errs;
}

/* Asserts that some error reads "PATH:LINE: " followed by TEXT. */
static void
assert_error(const struct conf_errors *errs, int line, const char *text)
{
    char want[600];
    size_t i;

    snprintf(want, sizeof(want), "%s:%d: %s", path, line, text);
    for (i = 0; i < errs->n; i++) {
        if (strcmp(errs->lines[i], want) == 0)
            return;
    }
    for (i = 0; i < errs->n; i++)
        fprintf(stderr, "  got: %s\n", errs->lines[i]);
    ck_abort_msg("no error \"%s\"", want);
}

#define TOKEN                                                                  \
    "tokens = ( { name = \"hsm\"; module = \"/m.so\";\n"                       \
    "  uri = \"pkcs11:token=t\"; pin_file = \"/p\"; } );\n"

START_TEST(example_loads)
{
    struct conf_errors errs;
    struct conf *conf = NULL;
    const struct conf_key *k;
    int rc =
        conf_load(CUSTODIAN_SOURCE_DIR "/conf/custodiand.conf", &conf, &errs);

    if (rc != 0 && errs.n > 0)
        fprintf(stderr, "%s\n", errs.lines[0]);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(conf->ntokens, 1);
    ck_assert_uint_eq(conf->nkeys, 3);
    k = conf_find_key(conf, "git-bot");
    ck_assert_ptr_nonnull(k);
    ck_assert_int_eq(k->type, ALG_KEY_ED25519);
    ck_assert_ptr_eq(k->token, &conf->tokens[0]); /* the only token */
    ck_assert_uint_eq(conf->nidentities, 3);
    ck_assert_str_eq(conf->identities[0].name, "ci-runner");
    ck_assert_uint_eq(conf->identities[0].grants[0].ops,
                      CONF_OP_SIGN | CONF_OP_PUBKEY | CONF_OP_LIST);
    ck_assert(conf->identities[0].grants[0].rate == 20.0);
    ck_assert(conf->identities[0].grants[0].burst == 40.0);
    ck_assert_int_eq(conf->identities[0].expires, 1830211200); /* 2027-12-31 */
    ck_assert_int_eq(conf->sign.mode, 0660);
    ck_assert_uint_eq(conf->limits.idle_timeout, 60);
    ck_assert_uint_eq(conf->limits.request_timeout, 10);
    ck_assert_uint_eq(conf->limits.frame_timeout, 10);
    ck_assert(!conf->identities[0].suspend_on_alert);
    ck_assert_str_eq(conf->identities[2].name, "firmware-release");
    ck_assert(conf->identities[2].suspend_on_alert);
    ck_assert_uint_eq(conf->alerts.rate_factor, 10);
    ck_assert_uint_eq(conf->alerts.rate_after, 3600);
    conf_free(conf);
}
END_TEST

START_TEST(request_timeout_bounds)
{
    struct conf_errors errs =
        load_bad(TOKEN "limits = { request_timeout = \"0s\"; };\n");

    assert_error(&errs, 3,
                 "request_timeout \"0s\" must be a duration from 1s to 1h, "
                 "such as \"10s\"");
    conf_errors_free(&errs);
    errs = load_bad(TOKEN "limits = { request_timeout = \"2h\"; };\n");
    assert_error(&errs, 3,
                 "request_timeout \"2h\" must be a duration from 1s to 1h, "
                 "such as \"10s\"");
    conf_errors_free(&errs);
}
END_TEST

START_TEST(every_error_has_its_line)
{
    struct conf_errors errs = load_bad(
        /* 1 */ TOKEN
        /* 3 */
        "keys = ( { name = \"a\"; type = \"ecdsa-p521\"; },\n"
        /* 4 */ "  { name = \"a\"; type = \"ed25519\"; colour = 1; } );\n"
        /* 5 */ "identities = ( { name = \"x\"; match = { };\n"
        /* 6 */ "  grants = ( { keys = [\"nokey\"]; rate = \"fast\"; } ); },\n"
        /* 7 */ "  { name = \"bad name\"; match = { uid = 1; };\n"
        /* 8 */ "    expires = \"next week\"; } );\n"
        /* 9 */ "listeners = { sign = { path = \"/s\"; mode = \"0666\"; }; "
        "};\n");

    assert_error(&errs, 3,
                 "unknown key type \"ecdsa-p521\" (ecdsa-p256, ecdsa-p384, "
                 "ed25519, rsa-2048, rsa-3072, rsa-4096)");
    assert_error(&errs, 4, "unknown setting \"colour\"");
    assert_error(&errs, 4, "key \"a\" is already defined at line 3");
    assert_error(&errs, 5,
                 "match selects every caller; name at least a user, group, "
                 "exe or cgroup");
    assert_error(&errs, 6,
                 "rate \"fast\" must read like \"10/s\", \"600/m\" or "
                 "\"1000/h\"");
    assert_error(&errs, 6, "grant names key \"nokey\", which is not defined");
    assert_error(&errs, 7,
                 "name \"bad name\" must be 1 to 64 of A-Z a-z 0-9 . _ -");
    assert_error(&errs, 7,
                 "expires \"next week\" must be YYYY-MM-DD or "
                 "YYYY-MM-DDTHH:MM:SSZ");
    assert_error(&errs, 9,
                 "mode 0666 lets every local user connect; use a group "
                 "instead");
    ck_assert_uint_eq(errs.n, 9);
    conf_errors_free(&errs);
}
END_TEST

START_TEST(token_errors)
{
    struct conf_errors errs = load_bad(
        /* 1 */ "tokens = (\n"
                /* 2 */ "  { name = \"a\"; module = \"rel.so\"; uri = "
                "\"pkcs11:slot-id=1\";"
                " pin_file = \"/p\"; pin_credential = \"c\"; },\n"
                /* 3 */ "  { name = \"b\"; module = \"/m.so\"; uri = "
                "\"pkcs11:token=t\"; "
                "pin_credential = \"a/b\"; sessions = 65; } );\n");

    assert_error(&errs, 2, "module must be an absolute path");
    assert_error(&errs, 2,
                 "uri: slot-id selects by slot number; use token= or serial=");
    assert_error(&errs, 2, "give exactly one of pin_file and pin_credential");
    assert_error(&errs, 3, "\"sessions\" must be between 1 and 64");
    assert_error(&errs, 3, "pin_credential is a name, not a path");
    conf_errors_free(&errs);
}
END_TEST

START_TEST(syntax_error_has_its_line)
{
    struct conf_errors errs = load_bad(TOKEN "keys = ( { name = \"a\" } \n"
                                             "identities = ;\n");

    ck_assert_uint_eq(errs.n, 1);
    ck_assert_ptr_nonnull(strstr(errs.lines[0], ":4: syntax error"));
    conf_errors_free(&errs);
}
END_TEST

START_TEST(unknown_users_and_groups)
{
    struct conf_errors errs = load_bad(
        TOKEN "identities = ( { name = \"x\"; match = { user = "
              "\"no-such-user-here\"; group = \"no-such-group-here\"; }; } "
              ");\n");

    assert_error(&errs, 3, "no user \"no-such-user-here\" on this machine");
    assert_error(&errs, 3, "no group \"no-such-group-here\" on this machine");
    conf_errors_free(&errs);
}
END_TEST

/* on_alert takes record or suspend; the alert thresholds their ranges. */
START_TEST(alert_settings)
{
    struct conf_errors errs =
        load_bad(TOKEN "identities = ( { name = \"x\"; match = { uid = 1; }; "
                       "on_alert = \"halt\"; } );\n"
                       "alerts = { rate_factor = 1; rate_after = \"2d\"; };\n");

    assert_error(&errs, 3,
                 "on_alert \"halt\" must be \"record\" or \"suspend\"");
    assert_error(&errs, 4, "\"rate_factor\" must be between 2 and 1000000");
    assert_error(&errs, 4,
                 "rate_after \"2d\" must be a duration up to 1d, such as "
                 "\"1h\"");
    ck_assert_uint_eq(errs.n, 3);
    conf_errors_free(&errs);
}
END_TEST

START_TEST(limits_timeouts)
{
    struct conf_errors errs = load_bad(
        TOKEN "limits = { idle_timeout = \"0s\"; frame_timeout = \"2d\"; };\n");

    assert_error(&errs, 3,
                 "idle_timeout \"0s\" must be a duration up to 1d, such as "
                 "\"60s\"");
    assert_error(&errs, 3,
                 "frame_timeout \"2d\" must be a duration up to 1d, such as "
                 "\"10s\"");
    ck_assert_uint_eq(errs.n, 2);
    conf_errors_free(&errs);
}
END_TEST

/* The account to run as: resolved with its primary group, or an error. */
START_TEST(run_as_user)
{
    struct conf_errors errs = load_bad(TOKEN "user = \"no-such-user-here\";\n");
    struct conf *conf = NULL;

    assert_error(&errs, 3, "no user \"no-such-user-here\" on this machine");
    conf_errors_free(&errs);
    errs = load_bad(TOKEN "user = 65534;\n");
    assert_error(&errs, 3, "\"user\" must be a string");
    conf_errors_free(&errs);

    ck_assert_int_eq(
        conf_load(write_conf(TOKEN "user = \"nobody\";\n"), &conf, &errs), 0);
    unlink(path);
    ck_assert_str_eq(conf->user, "nobody");
    ck_assert_uint_eq(conf->user_uid, 65534);
    ck_assert_uint_eq(conf->user_gid, 65534);
    conf_free(conf);
}
END_TEST

START_TEST(missing_file)
{
    struct conf_errors errs;
    struct conf *conf = NULL;

    ck_assert_int_eq(conf_load("/nonexistent/custodiand.conf", &conf, &errs),
                     CUST_ERR_CONFIG);
    ck_assert_uint_eq(errs.n, 1);
    ck_assert_str_eq(errs.lines[0], "/nonexistent/custodiand.conf: cannot "
                                    "read: No such file or directory");
    conf_errors_free(&errs);
}
END_TEST

START_TEST(durations_rates_times)
{
    unsigned long s = 0;
    double r = 0;
    time_t t = 0;

    ck_assert_int_eq(conf_parse_duration("90d", &s), 0);
    ck_assert_uint_eq(s, 90 * 86400);
    ck_assert_int_eq(conf_parse_duration("12h", &s), 0);
    ck_assert_uint_eq(s, 12 * 3600);
    ck_assert_int_eq(conf_parse_duration("30m", &s), 0);
    ck_assert_uint_eq(s, 1800);
    ck_assert_int_eq(conf_parse_duration("45s", &s), 0);
    ck_assert_uint_eq(s, 45);
    ck_assert_int_eq(conf_parse_duration("90", &s), CUST_ERR_ARG);
    ck_assert_int_eq(conf_parse_duration("0d", &s), CUST_ERR_ARG);
    ck_assert_int_eq(conf_parse_duration("-1d", &s), CUST_ERR_ARG);
    ck_assert_int_eq(conf_parse_duration("1w", &s), CUST_ERR_ARG);
    ck_assert_int_eq(conf_parse_duration("1dd", &s), CUST_ERR_ARG);
    ck_assert_int_eq(conf_parse_duration("99999999999d", &s), CUST_ERR_ARG);

    ck_assert_int_eq(conf_parse_rate("10/s", &r), 0);
    ck_assert(r == 10.0);
    ck_assert_int_eq(conf_parse_rate("120/m", &r), 0);
    ck_assert(r == 2.0);
    ck_assert_int_eq(conf_parse_rate("3600/h", &r), 0);
    ck_assert(r == 1.0);
    ck_assert_int_eq(conf_parse_rate("10", &r), CUST_ERR_ARG);
    ck_assert_int_eq(conf_parse_rate("0/s", &r), CUST_ERR_ARG);
    ck_assert_int_eq(conf_parse_rate("10/d", &r), CUST_ERR_ARG);

    ck_assert_int_eq(conf_parse_time("2027-06-30", &t), 0);
    ck_assert_int_eq(t, 1814313600);
    ck_assert_int_eq(conf_parse_time("2027-06-30T12:00:01Z", &t), 0);
    ck_assert_int_eq(t, 1814313600 + 43201);
    ck_assert_int_eq(conf_parse_time("2027-06-30 12:00", &t), CUST_ERR_ARG);
    ck_assert_int_eq(conf_parse_time("30/06/2027", &t), CUST_ERR_ARG);
}
END_TEST

START_TEST(rotation_settings)
{
    struct conf_errors errs;
    struct conf *conf = NULL;
    const struct conf_key *k;

    ck_assert_int_eq(
        conf_load(write_conf(TOKEN
                             "keys = ( { name = \"r\"; type = \"ed25519\";\n"
                             "  rotation = { period = \"30d\"; "
                             "destroy_after = \"90d\"; };\n"
                             "  namespaces = [ \"git\", \"file\" ]; },\n"
                             "  { name = \"h\"; type = \"ed25519\";\n"
                             "  rotation = { period = \"12h\"; }; } );\n"
                             "state = \"/srv/c/keys.state\";\n"
                             "keyring = \"/srv/c/keyring\";\n"),
                  &conf, &errs),
        0);
    unlink(path);
    k = conf_find_key(conf, "r");
    ck_assert_uint_eq(k->rotation.period, 30 * 86400);
    ck_assert_uint_eq(k->rotation.publish_ahead, 86400); /* default */
    ck_assert_uint_eq(k->rotation.verify_for, 0);        /* forever */
    ck_assert_uint_eq(k->rotation.destroy_after, 90 * 86400);
    ck_assert_uint_eq(k->nnamespaces, 2);
    ck_assert_str_eq(k->namespaces[1], "file");
    /* A short period is published half a period ahead. */
    ck_assert_uint_eq(conf_find_key(conf, "h")->rotation.publish_ahead,
                      6 * 3600);
    ck_assert_str_eq(conf->state_path, "/srv/c/keys.state");
    ck_assert_str_eq(conf->keyring_path, "/srv/c/keyring");
    conf_free(conf);

    errs =
        load_bad(TOKEN
                 /* 3 */ "keys = ( { name = \"a\"; type = \"ed25519\";\n"
                         /* 4 */ "  rotation = { period = \"30\"; }; },\n"
                         /* 5 */ "  { name = \"b\"; type = \"ed25519\";\n"
                         /* 6 */ "  rotation = { period = \"1d\";\n"
                         /* 7 */ "    publish_ahead = \"2d\"; }; },\n"
                         /* 8 */ "  { name = \"c\"; type = \"ed25519\";\n"
                         /* 9 */ "  rotation = { verify_for = \"1d\"; }; },\n"
                         /* 10 */ "  { name = \"d\"; type = \"ed25519\";\n"
                         /* 11 */ "  namespaces = [ \"a,b\", \"\" ]; } );\n"
                         /* 12 */ "keyring = \"relative/dir\";\n");
    assert_error(&errs, 4,
                 "period \"30\" is not a duration such as 90d, 12h or 30m");
    assert_error(&errs, 7, "publish_ahead must be shorter than the period");
    assert_error(&errs, 9,
                 "a rotation needs its period, e.g. period = \"30d\"");
    assert_error(&errs, 11,
                 "namespace \"a,b\" must be 1 to 64 letters, digits or . _ @ "
                 "+ -");
    assert_error(&errs, 11,
                 "namespace \"\" must be 1 to 64 letters, digits or . _ @ + -");
    assert_error(&errs, 12, "keyring must be an absolute path");
    ck_assert_uint_eq(errs.n, 6);
    conf_errors_free(&errs);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("conf");
    TCase *tc = tcase_create("conf");

    tcase_add_test(tc, example_loads);
    tcase_add_test(tc, every_error_has_its_line);
    tcase_add_test(tc, request_timeout_bounds);
    tcase_add_test(tc, token_errors);
    tcase_add_test(tc, syntax_error_has_its_line);
    tcase_add_test(tc, unknown_users_and_groups);
    tcase_add_test(tc, limits_timeouts);
    tcase_add_test(tc, alert_settings);
    tcase_add_test(tc, run_as_user);
    tcase_add_test(tc, missing_file);
    tcase_add_test(tc, durations_rates_times);
    tcase_add_test(tc, rotation_settings);
    suite_add_tcase(s, tc);
    return check_run(s);
}
