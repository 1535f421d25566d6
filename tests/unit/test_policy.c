/*
 * Policy decisions: which identity stands for a caller, which grant
 * decides, what is denied and why, rate limits and expiry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "custodian/error.h"
#include "policy.h"
#include "check_main.h"

static const char policy_text[] =
    "tokens = ( { name = \"hsm\"; module = \"/m.so\"; uri = "
    "\"pkcs11:token=t\"; pin_file = \"/p\"; } );\n"
    "keys = ( { name = \"release\"; type = \"ecdsa-p256\"; },\n"
    "  { name = \"build-1\"; type = \"ecdsa-p256\"; },\n"
    "  { name = \"git\"; type = \"ed25519\"; },\n"
    "  { name = \"fw\"; type = \"rsa-2048\"; } );\n"
    "identities = (\n"
    "  { name = \"pinned\"; match = { uid = 1000; exe_sha256 = "
    "\"1111111111111111111111111111111111111111111111111111111111111111\";"
    " }; grants = ( { keys = \"fw\"; schemes = \"rsa-pss\"; "
    "digests = \"sha512\"; } ); },\n"
    "  { name = \"ci\"; match = { uid = 1000; cgroup = "
    "\"/system.slice/ci-*.service\"; };\n"
    "    grants = ( { keys = [\"build-*\"]; operations = \"sign\"; "
    "namespaces = \"file\"; rate = \"2/s\"; burst = 3; },\n"
    "               { keys = \"release\"; digests = [\"sha384\"]; } ); },\n"
    "  { name = \"git\"; match = { gid = 2000; exe = \"/usr/bin/ssh-keygen\"; "
    "}; expires = \"2027-01-01\";\n"
    "    grants = ( { keys = \"git\"; namespaces = \"git\"; } ); },\n"
    "  { name = \"nogrants\"; match = { uid = 3000; }; } );\n";

static struct conf *conf;
static struct policy *policy;
static int hashes; /* how often a caller's executable was hashed */

static int
hash_ones(void *arg, uint8_t out[32], char *why, size_t whylen)
{
    (void)arg;
    (void)why;
    (void)whylen;
    hashes++;
    memset(out, 0x11, 32);
    return 0;
}

static void
setup(void)
{
    char path[] = "/tmp/custodian-policy-XXXXXX";
    struct conf_errors errs;
    FILE *f;
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    fputs(policy_text, f);
    fclose(f);
    if (conf_load(path, &conf, &errs) != 0)
        ck_abort_msg("%s", errs.lines[0]);
    unlink(path);
    ck_assert_int_eq(policy_new(conf, &policy), 0);
    hashes = 0;
}

static void
teardown(void)
{
    policy_free(policy);
    conf_free(conf);
}

/* A caller with the given uid, gid, exe and cgroup. */
static struct policy_caller
caller(uid_t uid, gid_t gid, const char *exe, const char *cgroup)
{
    struct policy_caller c = {.uid = uid,
                              .gid = gid,
                              .exe = exe,
                              .cgroup = cgroup,
                              .exe_sha256 = hash_ones};
    return c;
}

static struct policy_request
sign(const char *key, enum alg_digest md, enum alg_scheme scheme,
     const char *ns)
{
    struct policy_request r = {CONF_OP_SIGN, key, md, scheme, ns};
    return r;
}

static const time_t now = 1800000000; /* 2027-01-15 */
static const time_t before_expiry = 1790000000;

START_TEST(first_matching_identity_decides)
{
    struct policy_caller c = caller(1000, 1000, "/usr/bin/custodian-sign",
                                    "/system.slice/ci-main.service");
    struct policy_request r =
        sign("release", ALG_DIGEST_SHA384, ALG_SCHEME_ECDSA, NULL);
    struct policy_decision d;

    /* "pinned" comes first and asks for the hash, which differs... */
    c.exe_sha256 = NULL;
    ck_assert_int_eq(policy_decide(policy, &c, &r, now, 0, &d), 0);
    ck_assert_str_eq(d.identity->name, "ci");
    ck_assert_int_eq(d.grant, 1);
    ck_assert_str_eq(d.rule, "ci grant 2 (line 10)");

    /* ...and with the right hash, "pinned" stands for the caller. */
    c.exe_sha256 = hash_ones;
    ck_assert_int_eq(policy_decide(policy, &c, &r, now, 0, &d),
                     CUST_ERR_DENIED);
    ck_assert_str_eq(d.identity->name, "pinned");
    ck_assert_str_eq(d.reason,
                     "no grant of \"pinned\" allows sign of key \"release\"");
    ck_assert_int_eq(hashes, 1);
}
END_TEST

START_TEST(hash_asked_only_when_needed)
{
    struct policy_caller c = caller(1001, 1000, "/bin/x", NULL);
    struct policy_request r =
        sign("release", ALG_DIGEST_SHA384, ALG_SCHEME_ECDSA, NULL);
    struct policy_decision d;

    ck_assert_int_eq(policy_decide(policy, &c, &r, now, 0, &d),
                     CUST_ERR_DENIED);
    ck_assert_ptr_null(d.identity);
    ck_assert_str_eq(d.reason, "no identity matches the caller");
    ck_assert_int_eq(hashes, 0); /* the uid already failed */
}
END_TEST

START_TEST(grant_conditions)
{
    struct policy_caller c =
        caller(1000, 1000, "/x", "/system.slice/ci-a.service");
    struct policy_decision d;
    struct policy_request r;

    c.exe_sha256 = NULL;
    r = sign("release", ALG_DIGEST_SHA256, ALG_SCHEME_ECDSA, NULL);
    ck_assert_int_eq(policy_decide(policy, &c, &r, now, 0, &d),
                     CUST_ERR_DENIED);
    ck_assert_str_eq(d.reason, "no grant of \"ci\" allows sign of key "
                               "\"release\": digest not allowed");

    r = sign("build-1", ALG_DIGEST_SHA256, ALG_SCHEME_ECDSA, NULL);
    ck_assert_int_eq(policy_decide(policy, &c, &r, now, 0, &d),
                     CUST_ERR_DENIED);
    ck_assert_str_eq(d.reason, "no grant of \"ci\" allows sign of key "
                               "\"build-1\": namespace (none given) not "
                               "allowed");
    r.ns = "git";
    ck_assert_int_eq(policy_decide(policy, &c, &r, now, 0, &d),
                     CUST_ERR_DENIED);
    r.ns = "file";
    ck_assert_int_eq(policy_decide(policy, &c, &r, now, 0, &d), 0);

    r.op = CONF_OP_LIST; /* the build grant signs only... */
    ck_assert_int_eq(policy_decide(policy, &c, &r, now, 0, &d),
                     CUST_ERR_DENIED);
    r.op = CONF_OP_PUBKEY; /* ...which includes reading the public key */
    ck_assert_int_eq(policy_decide(policy, &c, &r, now, 0, &d), 0);
    r.key = "release"; /* the release grant allows every operation */
    ck_assert_int_eq(policy_decide(policy, &c, &r, now, 0, &d), 0);
    r.key = "git";
    ck_assert_int_eq(policy_decide(policy, &c, &r, now, 0, &d),
                     CUST_ERR_DENIED);
    ck_assert_str_eq(d.reason,
                     "no grant of \"ci\" allows pubkey of key \"git\"");
}
END_TEST

START_TEST(cgroup_glob)
{
    struct policy_caller c = caller(1000, 1000, "/x", NULL);
    struct policy_request r =
        sign("release", ALG_DIGEST_SHA384, ALG_SCHEME_ECDSA, NULL);
    struct policy_decision d;

    c.exe_sha256 = NULL;
    ck_assert_int_eq(policy_decide(policy, &c, &r, now, 0, &d),
                     CUST_ERR_DENIED); /* no cgroup known */
    c.cgroup = "/system.slice/ci-.service";
    ck_assert_int_eq(policy_decide(policy, &c, &r, now, 0, &d), 0);
    c.cgroup = "/user.slice/ci-a.service";
    ck_assert_int_eq(policy_decide(policy, &c, &r, now, 0, &d),
                     CUST_ERR_DENIED);
}
END_TEST

START_TEST(group_expiry_and_ed25519)
{
    gid_t groups[] = {5, 2000};
    struct policy_caller c = caller(4242, 4242, "/usr/bin/ssh-keygen", NULL);
    struct policy_request r =
        sign("git", ALG_DIGEST_NONE, ALG_SCHEME_ED25519, "git");
    struct policy_decision d;

    ck_assert_int_eq(policy_decide(policy, &c, &r, before_expiry, 0, &d),
                     CUST_ERR_DENIED);
    c.groups = groups; /* a supplementary group is enough */
    c.ngroups = 2;
    ck_assert_int_eq(policy_decide(policy, &c, &r, before_expiry, 0, &d), 0);
    ck_assert_str_eq(d.identity->name, "git");
    /* Expired from 2027-01-01 00:00:00 UTC on. */
    ck_assert_int_eq(policy_decide(policy, &c, &r, 1798761599, 0, &d), 0);
    ck_assert_int_eq(policy_decide(policy, &c, &r, 1798761600, 0, &d),
                     CUST_ERR_EXPIRED);
    ck_assert_str_eq(d.reason, "identity \"git\" expired");
}
END_TEST

START_TEST(identity_without_grants)
{
    struct policy_caller c = caller(3000, 3000, "/x", NULL);
    struct policy_request r = {CONF_OP_LIST, "release", 0, 0, NULL};
    struct policy_decision d;

    ck_assert_int_eq(policy_decide(policy, &c, &r, now, 0, &d),
                     CUST_ERR_DENIED);
    ck_assert_str_eq(d.identity->name, "nogrants");
}
END_TEST

START_TEST(rate_limit_bucket)
{
    struct policy_caller c =
        caller(1000, 1000, "/x", "/system.slice/ci-a.service");
    struct policy_request r =
        sign("build-1", ALG_DIGEST_SHA256, ALG_SCHEME_ECDSA, "file");
    struct policy_decision d;
    int i;

    c.exe_sha256 = NULL;
    /* A burst of 3, then empty; 2 a second come back. */
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(policy_decide(policy, &c, &r, now, 100.0, &d), 0);
    ck_assert_int_eq(policy_decide(policy, &c, &r, now, 100.0, &d),
                     CUST_ERR_RATE_LIMITED);
    ck_assert_str_eq(d.reason, "ci grant 1 (line 9): rate limit spent");
    ck_assert_int_eq(policy_decide(policy, &c, &r, now, 100.4, &d),
                     CUST_ERR_RATE_LIMITED);
    ck_assert_int_eq(policy_decide(policy, &c, &r, now, 100.5, &d), 0);
    ck_assert_int_eq(policy_decide(policy, &c, &r, now, 100.5, &d),
                     CUST_ERR_RATE_LIMITED);
    /* A long pause refills up to the burst, not beyond. */
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(policy_decide(policy, &c, &r, now, 1000.0, &d), 0);
    ck_assert_int_eq(policy_decide(policy, &c, &r, now, 1000.0, &d),
                     CUST_ERR_RATE_LIMITED);
}
END_TEST

static bool
ci_suspended(void *arg, const char *name, char *why, size_t whylen)
{
    (void)arg;
    snprintf(why, whylen, "since then by ops: leaked token");
    return strcmp(name, "ci") == 0;
}

/* A suspended identity is refused everything, with its reason, and its
 * refusals spend none of its rate. */
START_TEST(suspended_identity)
{
    struct policy_caller c =
        caller(1000, 1000, "/x", "/system.slice/ci-a.service");
    struct policy_request r =
        sign("build-1", ALG_DIGEST_SHA256, ALG_SCHEME_ECDSA, "file");
    struct policy_request list = {.op = CONF_OP_LIST, .key = "release"};
    struct policy_decision d;
    int i;

    c.exe_sha256 = NULL;
    policy_set_suspended(policy, ci_suspended, NULL);
    for (i = 0; i < 5; i++)
        ck_assert_int_eq(policy_decide(policy, &c, &r, now, 100.0, &d),
                         CUST_ERR_SUSPENDED);
    ck_assert_str_eq(d.reason, "identity \"ci\" is suspended since then by "
                               "ops: leaked token");
    ck_assert_ptr_nonnull(d.identity);
    ck_assert_str_eq(d.identity->name, "ci");
    ck_assert_int_eq(policy_decide(policy, &c, &list, now, 100.0, &d),
                     CUST_ERR_SUSPENDED);
    /* Another identity is not touched. */
    c = caller(4242, 2000, "/usr/bin/ssh-keygen", NULL);
    r = sign("git", ALG_DIGEST_NONE, ALG_SCHEME_ED25519, "git");
    ck_assert_int_eq(policy_decide(policy, &c, &r, before_expiry, 100.0, &d),
                     0);
    /* Resumed: the whole burst is there. */
    policy_set_suspended(policy, NULL, NULL);
    c = caller(1000, 1000, "/x", "/system.slice/ci-a.service");
    c.exe_sha256 = NULL;
    r = sign("build-1", ALG_DIGEST_SHA256, ALG_SCHEME_ECDSA, "file");
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(policy_decide(policy, &c, &r, now, 100.0, &d), 0);
}
END_TEST

/* A caller whose executable cannot be hashed (it has gone). */
static int
hash_gone(void *arg, uint8_t out[32], char *why, size_t whylen)
{
    (void)arg;
    (void)out;
    hashes++;
    snprintf(why, whylen, "pid 7: process has exited");
    return CUST_ERR_PEER;
}

/*
 * A hash that cannot be had ends the decision: the identity that asked
 * for it cannot be ruled out, so the caller is not judged as the next
 * one ("ci" would allow this request).
 */
START_TEST(hash_failure_ends_the_decision)
{
    struct policy_caller c = caller(1000, 1000, "/usr/bin/custodian-sign",
                                    "/system.slice/ci-main.service");
    struct policy_request r =
        sign("release", ALG_DIGEST_SHA384, ALG_SCHEME_ECDSA, NULL);
    struct policy_decision d;

    c.exe_sha256 = hash_gone;
    ck_assert_int_eq(policy_decide(policy, &c, &r, now, 0, &d), CUST_ERR_PEER);
    ck_assert_ptr_null(d.identity);
    ck_assert_int_eq(d.grant, -1);
    ck_assert_str_eq(d.reason, "identity \"pinned\" needs the executable's "
                               "hash: pid 7: process has exited");
    ck_assert_int_eq(hashes, 1);
}
END_TEST

/* Collects an explanation's lines. */
static void
collect(void *arg, const char *line)
{
    char *buf = arg;

    strcat(buf, line);
    strcat(buf, "\n");
}

START_TEST(explain_tells_every_step)
{
    struct policy_caller c =
        caller(1000, 1000, "/x", "/system.slice/ci-a.service");
    struct policy_request r =
        sign("build-1", ALG_DIGEST_SHA256, ALG_SCHEME_ECDSA, "file");
    struct policy_decision d;
    char text[2048] = "";
    int i;

    c.exe_sha256 = NULL;
    ck_assert_int_eq(policy_explain(policy, &c, &r, now, collect, text, &d), 0);
    ck_assert_str_eq(text, "identity \"pinned\" (line 7): exe_sha256 does "
                           "not match\n"
                           "identity \"ci\" (line 8) matches\n"
                           "grant 1 (line 9) covers the request\n");
    /* Explaining spends no rate: the whole burst is still there. */
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(policy_decide(policy, &c, &r, now, 5.0, &d), 0);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("policy");
    TCase *tc = tcase_create("policy");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, first_matching_identity_decides);
    tcase_add_test(tc, hash_asked_only_when_needed);
    tcase_add_test(tc, hash_failure_ends_the_decision);
    tcase_add_test(tc, grant_conditions);
    tcase_add_test(tc, cgroup_glob);
    tcase_add_test(tc, group_expiry_and_ed25519);
    tcase_add_test(tc, identity_without_grants);
    tcase_add_test(tc, rate_limit_bucket);
    tcase_add_test(tc, suspended_identity);
    tcase_add_test(tc, explain_tells_every_step);
    suite_add_tcase(s, tc);
    return check_run(s);
}
