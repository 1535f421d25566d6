/*
 * Drives conf_load(), the configuration loader (libconfig's parser, then
 * every check of conf.c), and on what it accepts policy_new() and a few
 * policy decisions, as custodiand and `custodianctl policy check` and
 * `policy explain` do.
 *
 * Checks that a refused file comes with errors, each of them naming the
 * file, and an accepted one with none; that the policy of an accepted
 * file decides every request one way or the other; no leaks either way
 * (LeakSanitizer).
 *
 * Input: the file's text. Inputs naming @include are skipped: that
 * directive reads other files, which the fuzzer must not roam through.
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "custodian/error.h"
#include "scratch.h"
#include "policy.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static const char *fuzz_path;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_path = fuzz_scratch("custodiand.conf");
    return 0;
}

static int
fuzz_includes(const uint8_t *data, size_t len)
{
    static const char word[] = "include";
    size_t i, j;

    for (i = 0; i + sizeof(word) - 1 < len; i++) {
        if (data[i] != '@')
            continue;
        for (j = 0; j < sizeof(word) - 1; j++)
            if (tolower(data[i + 1 + j]) != word[j])
                break;
        if (j == sizeof(word) - 1)
            return 1;
    }
    return 0;
}

/* The caller's executable hashes to zeros, as the example's pin says. */
static int
fuzz_sha256(void *arg, uint8_t out[32], char *why, size_t whylen)
{
    (void)arg;
    (void)why;
    (void)whylen;
    memset(out, 0, 32);
    return 0;
}

/* Every operation on every key, for callers of a few uids. */
static void
fuzz_decide(const struct conf *c)
{
    static const enum conf_op ops[] = {CONF_OP_LIST, CONF_OP_PUBKEY,
                                       CONF_OP_SIGN, CONF_OP_SSH_AUTH};
    static const gid_t groups[] = {1003, 0};
    struct policy_caller caller = {.groups = groups,
                                   .ngroups = 2,
                                   .exe = "/usr/bin/ssh-keygen",
                                   .cgroup = "/system.slice/x.service",
                                   .exe_sha256 = fuzz_sha256};
    struct policy_decision d;
    struct policy_request r = {
        .digest = ALG_DIGEST_SHA256, .scheme = ALG_SCHEME_ECDSA, .ns = "file"};
    struct policy *p;
    size_t k, o;
    int rc;

    if (policy_new(c, &p) != 0)
        abort();
    for (caller.uid = 0; caller.uid < 1004; caller.uid += 1001)
        for (k = 0; k < c->nkeys; k++)
            for (o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
                r.op = ops[o];
                r.key = c->keys[k].name;
                rc = policy_decide(p, &caller, &r, 1700000000, 1.0, &d);
                if (rc != d.result || (rc == 0 && d.identity == NULL))
                    abort();
            }
    policy_admin(p, &caller, 1700000000);
    policy_free(p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    struct conf *c = NULL;
    struct conf_errors errs;
    size_t i;
    int rc;

    if (fuzz_includes(data, len))
        return 0;
    fuzz_scratch_write(data, len);
    rc = conf_load(fuzz_path, &c, &errs);
    if (rc == 0) {
        fuzz_decide(c);
        conf_free(c);
        return 0;
    }
    if (rc != CUST_ERR_CONFIG || errs.n == 0) {
        fprintf(stderr, "refused with %d and %zu errors\n", rc, errs.n);
        abort();
    }
    for (i = 0; i < errs.n; i++)
        if (strncmp(errs.lines[i], fuzz_path, strlen(fuzz_path)) != 0) {
            fprintf(stderr, "error without the file: %s\n", errs.lines[i]);
            abort();
        }
    conf_errors_free(&errs);
    return 0;
}
