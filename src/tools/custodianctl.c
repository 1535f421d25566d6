/*
 * custodianctl: the operator's command. These commands work offline, on
 * a configuration file, without a daemon or a token:
 *
 *   policy check [FILE]     every error in the file, with its line
 *   policy explain ...      which identity and grant decide a request
 *   audit verify FILE...    the hash chain of audit log files
 *   audit tail [LOG]        the last records of the log, then new ones as
 *                           they come, each checked against the chain
 *
 * and these talk to the daemon's admin socket (--admin-socket PATH, else
 * $CUSTODIAN_ADMIN_SOCKET, else the default):
 *
 *   status                  the daemon's state
 *   keys [--json]           every key with its version, fingerprint and use
 *   identities [--json]     every identity, what it used, when, from where
 *   metrics                 the daemon's metrics, Prometheus text
 *   key create NAME         generate a configured key on its token
 *   key versions NAME       every version of a key and its state
 *   key rotate NAME         a new version, active now
 *   key retire NAME@N       version N signs nothing more
 *   key revoke NAME@N       version N is compromised (--reason TEXT)
 *   key destroy NAME@N      delete version N's private key (--confirm)
 *   pubkey NAME [--ssh]     a key's public key
 *   reload                  read the configuration again
 *   export keyring DIR      the keyring, from the state file
 *   export allowed-signers  its allowed_signers file
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "custodian/client.h"
#include "custodian/error.h"
#include "alg.h"
#include "audit.h"
#include "conf.h"
#include "ctl_export.h"
#include "ctl_inventory.h"
#include "ctl_key.h"
#include "ctl_tail.h"
#include "policy.h"
#include "pubkey.h"

/* Exit codes, documented in docs/custodianctl.md. */
enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1, /* check: invalid; explain: denied */
    EXIT_USAGE = 2,
    EXIT_CONFIG = 3, /* explain: the configuration is invalid */
    EXIT_EXISTS = 4, /* key create: the key is on its token already */
};

#define MAX_GROUPS 64

/* The synthetic caller and request of "policy explain". */
struct explain_opts {
    const char *conf_path;
    struct policy_caller caller;
    gid_t groups[MAX_GROUPS];
    uint8_t sha256[32];
    int has_uid, has_sha256, has_digest;
    time_t at;
    struct policy_request req;
};

static void
usage(FILE *f)
{
    fprintf(f, "usage: custodianctl COMMAND ...\n"
               "\n"
               "  policy check [FILE]\n"
               "      check a configuration and print every error with its "
               "line\n"
               "  policy explain [-c FILE] --uid UID [--gid GID] [--groups "
               "G,G,...]\n"
               "                 [--exe PATH] [--exe-sha256 HEX] [--cgroup "
               "PATH]\n"
               "                 [--at YYYY-MM-DD[THH:MM:SSZ]]\n"
               "                 OPERATION KEY [-d DIGEST] [-s SCHEME] [-n "
               "NAMESPACE]\n"
               "      show which identity and grant decide a request "
               "(OPERATION:\n"
               "      list, pubkey or sign), without a daemon or token\n"
               "\n"
               "  status | reload | metrics [--admin-socket PATH]\n"
               "  keys | identities [--json] [--admin-socket PATH]\n"
               "  key create|versions|rotate NAME [--admin-socket PATH]\n"
               "  key retire NAME@N | key revoke NAME@N --reason TEXT\n"
               "  key destroy NAME@N --confirm NAME@N\n"
               "  pubkey NAME [--ssh] [--admin-socket PATH]\n"
               "  identity suspend NAME [--reason TEXT] | identity resume "
               "NAME\n"
               "      ask the running daemon, on its admin socket\n"
               "  export keyring DIR [-c FILE]\n"
               "      write the keyring from the state file, offline\n"
               "  export allowed-signers [-c FILE]\n"
               "      print its allowed_signers file, for git and ssh-keygen\n"
               "  audit verify FILE...\n"
               "      check the hash chain of audit log files, oldest first\n"
               "  audit tail [-n N] [--no-follow] [--config FILE | LOG]\n"
               "      print the last N records of the audit log (default\n"
               "      10), then follow it, warning when the chain breaks\n"
               "\n"
               "FILE defaults to " CONF_DEFAULT_PATH ".\n"
               "Exit status: 0 valid or allowed, 1 invalid or denied (tail:\n"
               "the chain broke, or the log could not be read), 2 usage\n"
               "error, 3 (explain) the configuration is invalid.\n");
}

static int
usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "custodianctl: %s%s%s\n", msg, arg ? ": " : "",
            arg ? arg : "");
    fprintf(stderr, "Try 'custodianctl --help'.\n");
    return EXIT_USAGE;
}

/* Loads PATH, printing every error; NULL if it is invalid. */
static struct conf *
load(const char *path)
{
    struct conf_errors errs;
    struct conf *conf = NULL;
    size_t i;

    if (conf_load(path, &conf, &errs) == 0)
        return conf;
    for (i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.lines[i]);
    if (errs.n == CONF_ERRORS_MAX)
        fprintf(stderr, "%s: stopped after %d errors\n", path, CONF_ERRORS_MAX);
    conf_errors_free(&errs);
    return NULL;
}

static int
cmd_policy_check(int argc, char **argv)
{
    const char *path = argc > 2 ? argv[2] : CONF_DEFAULT_PATH;
    struct conf *conf;

    if (argc > 3)
        return usage_error("policy check takes one FILE", NULL);
    conf = load(path);
    if (conf == NULL)
        return EXIT_FAIL;
    printf("%s: valid: %zu token%s, %zu key%s, %zu identit%s, %zu admin%s\n",
           path, conf->ntokens, conf->ntokens == 1 ? "" : "s", conf->nkeys,
           conf->nkeys == 1 ? "" : "s", conf->nidentities,
           conf->nidentities == 1 ? "y" : "ies", conf->nadmins,
           conf->nadmins == 1 ? "" : "s");
    conf_free(conf);
    return EXIT_OK;
}

static int
parse_id(const char *text, unsigned *out)
{
    char *end;
    unsigned long v = strtoul(text, &end, 10);

    if (*text == '\0' || *end != '\0' || v > 0x7fffffffUL)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int
parse_groups(const char *text, struct explain_opts *o)
{
    char copy[1024], *tok, *save = NULL;
    unsigned gid;

    if (strlen(text) >= sizeof(copy))
        return -1;
    strcpy(copy, text);
    for (tok = strtok_r(copy, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        if (o->caller.ngroups == MAX_GROUPS || parse_id(tok, &gid) != 0)
            return -1;
        o->groups[o->caller.ngroups++] = (gid_t)gid;
    }
    return 0;
}

static int
parse_sha256(const char *text, uint8_t out[32])
{
    unsigned v;
    size_t i;

    if (strlen(text) != 64)
        return -1;
    for (i = 0; i < 32; i++) {
        if (sscanf(text + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

/* The hash the operator gave on the command line, if any. */
static int
given_sha256(void *arg, uint8_t out[32], char *why, size_t whylen)
{
    struct explain_opts *o = arg;

    (void)why;
    (void)whylen;
    memcpy(out, o->sha256, 32);
    return 0;
}

/* Applies one option of "policy explain"; -1 if its value is bad. */
static int
explain_option(int c, const char *arg, struct explain_opts *o)
{
    unsigned id;
    int v;

    switch (c) {
    case 'c':
        o->conf_path = arg;
        return 0;
    case 'u':
        o->has_uid = 1;
        return parse_id(arg, &id) != 0 ? -1 : (o->caller.uid = id, 0);
    case 'g':
        return parse_id(arg, &id) != 0 ? -1 : (o->caller.gid = id, 0);
    case 'G':
        return parse_groups(arg, o);
    case 'e':
        o->caller.exe = arg;
        return 0;
    case 'H':
        o->has_sha256 = 1;
        return parse_sha256(arg, o->sha256);
    case 'C':
        o->caller.cgroup = arg;
        return 0;
    case 't':
        return conf_parse_time(arg, &o->at) != 0 ? -1 : 0;
    case 'd':
        o->has_digest = 1;
        v = alg_digest_from_name(arg);
        return v < 0 ? -1 : (o->req.digest = v, 0);
    case 's':
        v = alg_scheme_from_name(arg);
        return v < 0 ? -1 : (o->req.scheme = v, 0);
    case 'n':
        o->req.ns = arg;
        return 0;
    default:
        return -1;
    }
}

static int
parse_explain(int argc, char **argv, struct explain_opts *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"uid", required_argument, NULL, 'u'},
        {"gid", required_argument, NULL, 'g'},
        {"groups", required_argument, NULL, 'G'},
        {"exe", required_argument, NULL, 'e'},
        {"exe-sha256", required_argument, NULL, 'H'},
        {"cgroup", required_argument, NULL, 'C'},
        {"at", required_argument, NULL, 't'},
        {"digest", required_argument, NULL, 'd'},
        {"scheme", required_argument, NULL, 's'},
        {"namespace", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    int c;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:d:s:n:", longopts, NULL)) != -1) {
        if (c == '?' || c == ':')
            return usage_error(c == ':' ? "option needs an argument"
                                        : "unknown option",
                               argv[optind - 1]);
        if (explain_option(c, optarg, o) != 0)
            return usage_error(c == 'd'   ? "digest must be sha256, sha384 "
                                            "or sha512"
                               : c == 's' ? "scheme must be ecdsa, ed25519, "
                                            "rsa-pkcs1 or rsa-pss"
                                          : "bad value",
                               optarg);
    }
    if (!o->has_uid)
        return usage_error("policy explain needs --uid", NULL);
    if (argc - optind != 2)
        return usage_error("policy explain needs OPERATION and KEY", NULL);
    o->req.op = strcmp(argv[optind], "list") == 0       ? CONF_OP_LIST
                : strcmp(argv[optind], "pubkey") == 0   ? CONF_OP_PUBKEY
                : strcmp(argv[optind], "sign") == 0     ? CONF_OP_SIGN
                : strcmp(argv[optind], "ssh-auth") == 0 ? CONF_OP_SSH_AUTH
                                                        : 0;
    if (o->req.op == 0)
        return usage_error("OPERATION is list, pubkey, sign or ssh-auth",
                           argv[optind]);
    o->req.key = argv[optind + 1];
    return 0;
}

static void
print_note(void *arg, const char *line)
{
    (void)arg;
    printf("  %s\n", line);
}

static void
print_request(const struct explain_opts *o)
{
    const struct policy_request *r = &o->req;

    printf("caller:  uid %u, gid %u, exe %s, cgroup %s\n",
           (unsigned)o->caller.uid, (unsigned)o->caller.gid,
           o->caller.exe ? o->caller.exe : "-",
           o->caller.cgroup ? o->caller.cgroup : "-");
    printf("request: %s key \"%s\"", policy_op_name(r->op), r->key);
    if (r->op == CONF_OP_SIGN)
        printf(", digest %s, scheme %s, namespace %s",
               alg_digest_name(r->digest), alg_scheme_name(r->scheme),
               r->ns ? r->ns : "-");
    printf("\n");
}

/* What the daemon refuses before its policy is asked: no such key, a
 * scheme that does not fit it, a digest for Ed25519. */
static int
explain_key_checks(const struct conf *conf, const struct policy_request *r,
                   int has_digest, struct policy_decision *d)
{
    const struct conf_key *k = conf_find_key(conf, r->key);

    if (k == NULL) {
        snprintf(d->reason, sizeof(d->reason),
                 "no key \"%s\" in the configuration", r->key);
        return CUST_ERR_KEY_NOT_FOUND;
    }
    if (r->op != CONF_OP_SIGN)
        return 0;
    if (alg_scheme_fits(k->type, r->scheme) != 0) {
        snprintf(d->reason, sizeof(d->reason),
                 "scheme %s does not fit key type %s",
                 alg_scheme_name(r->scheme), alg_keytype_name(k->type));
        return CUST_ERR_SCHEME;
    }
    if (r->scheme == ALG_SCHEME_ED25519 && has_digest) {
        snprintf(d->reason, sizeof(d->reason),
                 "Ed25519 signs the message and takes no digest");
        return CUST_ERR_DIGEST;
    }
    return 0;
}

static int
cmd_policy_explain(int argc, char **argv)
{
    struct explain_opts o = {.conf_path = CONF_DEFAULT_PATH};
    struct policy_decision d = {.result = CUST_ERR_NOMEM, .reason = ""};
    struct policy *policy = NULL;
    struct conf *conf;
    int rc;

    o.caller.groups = o.groups;
    o.caller.exe_sha256 = given_sha256;
    o.caller.arg = &o;
    o.at = time(NULL);
    o.req.digest = ALG_DIGEST_SHA256;
    if (parse_explain(argc - 2, argv + 2, &o) != 0)
        return EXIT_USAGE;
    /* Without --exe-sha256, no exe_sha256 selector matches. */
    if (!o.has_sha256)
        o.caller.exe_sha256 = NULL;
    conf = load(o.conf_path);
    if (conf == NULL)
        return EXIT_CONFIG;
    if (o.req.op == CONF_OP_SIGN && o.req.scheme == ALG_SCHEME_NONE &&
        conf_find_key(conf, o.req.key) != NULL)
        o.req.scheme = alg_default_scheme(conf_find_key(conf, o.req.key)->type);
    if (o.req.scheme == ALG_SCHEME_ED25519 && !o.has_digest)
        o.req.digest = ALG_DIGEST_NONE;

    print_request(&o);
    rc = explain_key_checks(conf, &o.req, o.has_digest, &d);
    if (rc != 0) {
        printf("decision: %s: %s\n", cust_err_name(rc), d.reason);
        conf_free(conf);
        return EXIT_FAIL;
    }
    rc = policy_new(conf, &policy);
    if (rc == 0)
        rc = policy_explain(policy, &o.caller, &o.req, o.at, print_note, NULL,
                            &d);
    printf("decision: %s: %s%s\n", rc == 0 ? "allow" : cust_err_name(rc),
           d.reason, rc == 0 ? " (rate limits are not simulated)" : "");
    policy_free(policy);
    conf_free(conf);
    return rc == 0 ? EXIT_OK : EXIT_FAIL;
}

/* Prints the verdict on the chain through FILES, oldest first. */
static int
cmd_audit_verify(int nfiles, char **files)
{
    struct audit_verify_result r;
    int rc;

    if (nfiles < 1)
        return usage_error("audit verify needs one or more FILEs", NULL);
    rc = audit_verify((const char *const *)files, (size_t)nfiles, &r);
    if (rc == 0) {
        printf("valid: %llu records, seq %llu to %llu, in %d file%s\n",
               (unsigned long long)r.records, (unsigned long long)r.first_seq,
               (unsigned long long)r.last_seq, nfiles, nfiles == 1 ? "" : "s");
        return EXIT_OK;
    }
    if (rc == CUST_ERR_AUDIT) {
        printf("%s:%llu: ", files[r.file], (unsigned long long)r.line);
        if (r.has_seq)
            printf("seq %llu: ", (unsigned long long)r.seq);
        printf("%s\n", r.reason);
        return EXIT_FAIL;
    }
    fprintf(stderr, "custodianctl: %s: %s\n",
            rc == CUST_ERR_IO ? files[r.file] : "audit verify",
            r.reason[0] ? r.reason : cust_err_str(rc));
    return EXIT_USAGE;
}

/* The words and options of an admin command. */
struct admin_args {
    const char *words[3]; /* "status"; "key", "create", NAME; ... */
    int nwords;
    const char *path;    /* the admin socket */
    int ssh;             /* pubkey --ssh */
    int json;            /* keys, identities --json */
    const char *reason;  /* key revoke, identity suspend --reason */
    const char *confirm; /* key destroy --confirm */
};

/* Splits ARGV (after the program name) into at most 3 words and the
 * options; 0, or a usage error printed. */
static int
admin_parse(int argc, char **argv, struct admin_args *a)
{
    static const char *const valued[] = {"--admin-socket", "--reason",
                                         "--confirm", NULL};
    const char **slot[] = {&a->path, &a->reason, &a->confirm};
    const char *arg, *eq;
    size_t i, n;
    int k;

    memset(a, 0, sizeof(*a));
    a->path = getenv("CUSTODIAN_ADMIN_SOCKET");
    for (k = 1; k < argc; k++) {
        arg = argv[k];
        eq = strchr(arg, '=');
        n = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        for (i = 0; valued[i] != NULL; i++)
            if (strlen(valued[i]) == n && strncmp(arg, valued[i], n) == 0)
                break;
        if (valued[i] != NULL && eq != NULL) {
            *slot[i] = eq + 1; /* --reason=TEXT */
        } else if (valued[i] != NULL) {
            if (k + 1 >= argc)
                return usage_error("a value must follow", arg);
            *slot[i] = argv[++k];
        } else if (strcmp(arg, "--ssh") == 0) {
            a->ssh = 1;
        } else if (strcmp(arg, "--json") == 0) {
            a->json = 1;
        } else if (arg[0] == '-' || a->nwords == 3) {
            return usage_error("unexpected argument", arg);
        } else {
            a->words[a->nwords++] = arg;
        }
    }
    if (a->path == NULL || *a->path == '\0')
        a->path = CUST_ADMIN_SOCKET_DEFAULT;
    return 0;
}

/* Connects to the admin socket at PATH. */
static int
admin_connect(const char *path, struct cust_conn **c)
{
    int rc = cust_connect(path, "custodianctl " CUSTODIAN_VERSION, c);

    if (rc == CUST_ERR_IO) {
        fprintf(stderr, "custodianctl: cannot reach the daemon at %s: %s\n",
                path, strerror(errno));
        return EXIT_FAIL;
    }
    if (rc != 0) {
        fprintf(stderr, "custodianctl: %s [%s]%s\n", cust_err_str(rc),
                cust_err_name(rc),
                rc == CUST_ERR_DENIED ? ": not an admin identity (see "
                                        "\"admins\" in the configuration)"
                                      : "");
        return EXIT_FAIL;
    }
    return 0;
}

static int
admin_failed(struct cust_conn *c, int rc)
{
    fprintf(stderr, "custodianctl: %s [%s]%s%s\n", cust_err_str(rc),
            cust_err_name(rc), cust_message(c)[0] ? ": " : "", cust_message(c));
    cust_close(c);
    return EXIT_FAIL;
}

static int
admin_status(struct cust_conn *c)
{
    struct cust_status st;
    int rc = cust_status(c, &st);

    if (rc != 0)
        return admin_failed(c, rc);
    printf("%s\nstate:        %s\nconnections:  %u\nin flight:    "
           "%u\nkeys:         %u\naudit:        %llu records, %llu "
           "syncs\n",
           st.version, st.degraded ? "DEGRADED (audit log failing)" : "ok",
           st.connections, st.inflight, st.keys,
           (unsigned long long)st.audit_records,
           (unsigned long long)st.audit_syncs);
    return EXIT_OK;
}

/* key create NAME, or pubkey NAME: both answer with the public key. */
static int
admin_key(struct cust_conn *c, const struct admin_args *a, int create)
{
    const char *name = a->words[create ? 2 : 1];
    struct cust_key info;
    uint8_t spki[2048];
    size_t len = 0;
    int rc = create ? cust_key_create(c, name, &info, spki, sizeof(spki), &len)
                    : cust_pubkey(c, name, &info, spki, sizeof(spki), &len);

    if (rc == CUST_ERR_KEY_EXISTS) {
        admin_failed(c, rc);
        return EXIT_EXISTS;
    }
    if (rc != 0)
        return admin_failed(c, rc);
    if (create) {
        printf("created: %s version %u (%s) %s\n", info.name, info.version,
               info.type, info.fingerprint);
        return EXIT_OK;
    }
    rc = pubkey_print(stdout, spki, len, a->ssh, info.name);
    return rc == 0 ? EXIT_OK : admin_failed(c, rc);
}

/* The key lifecycle words: "key versions NAME", "key destroy NAME@N" ...
 * Checked before connecting; 0, or a usage error printed. */
static int
admin_key_check(const struct admin_args *a, char *name, size_t len, uint32_t *v)
{
    static const char *const named[] = {"create", "versions", "rotate", NULL};
    static const char *const versioned[] = {"retire", "revoke", "destroy",
                                            NULL};
    const char *sub = a->nwords == 3 ? a->words[1] : "";
    size_t i;

    for (i = 0; named[i] != NULL; i++)
        if (strcmp(sub, named[i]) == 0) {
            snprintf(name, len, "%s", a->words[2]);
            return 0;
        }
    for (i = 0; versioned[i] != NULL && strcmp(sub, versioned[i]) != 0; i++)
        ;
    if (versioned[i] == NULL)
        return usage_error("usage: custodianctl key create|versions|rotate "
                           "NAME, or key retire|revoke|destroy NAME@N",
                           NULL);
    if (ctl_key_parse_version(a->words[2], name, len, v) != 0)
        return usage_error("a version is named NAME@N, e.g. release@3",
                           a->words[2]);
    if (strcmp(sub, "revoke") == 0 && (a->reason == NULL || !*a->reason))
        return usage_error("key revoke needs --reason TEXT (it goes into "
                           "the keyring and the audit log)",
                           NULL);
    if (strcmp(sub, "destroy") == 0 && a->confirm != NULL &&
        strcmp(a->confirm, a->words[2]) != 0) {
        fprintf(stderr,
                "custodianctl: --confirm %s does not name the version to "
                "destroy, %s; nothing was done\n",
                a->confirm, a->words[2]);
        return EXIT_USAGE;
    }
    if (strcmp(sub, "destroy") == 0 && a->confirm == NULL) {
        fprintf(stderr,
                "custodianctl: destroying %s deletes its private key from "
                "the token for good;\nto go ahead, repeat the version: "
                "custodianctl key destroy %s --confirm %s\n",
                a->words[2], a->words[2], a->words[2]);
        return EXIT_USAGE;
    }
    return 0;
}

/* Runs a checked "key ..." command. */
static int
admin_key_cmd(struct cust_conn *c, const struct admin_args *a, const char *name,
              uint32_t v)
{
    const char *sub = a->words[1];
    int rc;

    if (strcmp(sub, "create") == 0)
        return admin_key(c, a, 1);
    if (strcmp(sub, "versions") == 0)
        rc = ctl_key_versions(c, name);
    else if (strcmp(sub, "rotate") == 0)
        rc = ctl_key_rotate(c, name);
    else
        rc = ctl_key_change(c, sub, name, v,
                            strcmp(sub, "revoke") == 0 ? a->reason : NULL);
    return rc == 0 ? EXIT_OK : admin_failed(c, rc);
}

/* identity suspend NAME [--reason TEXT], identity resume NAME */
static int
admin_identity(const struct admin_args *a, const char *path)
{
    char result[257]; /* as cust_identity_change() asks */
    struct cust_conn *c;
    int rc;

    if (a->nwords != 3 || (strcmp(a->words[1], "suspend") != 0 &&
                           strcmp(a->words[1], "resume") != 0))
        return usage_error("usage: custodianctl identity suspend NAME "
                           "[--reason TEXT], or identity resume NAME",
                           NULL);
    if (a->reason != NULL && strcmp(a->words[1], "resume") == 0)
        return usage_error("--reason goes with suspend", NULL);
    if (a->confirm != NULL || a->ssh)
        return usage_error("unexpected option for identity", NULL);
    if ((rc = admin_connect(path, &c)) != 0)
        return rc;
    rc = cust_identity_change(c, a->words[2], a->words[1], a->reason, result);
    if (rc != 0)
        return admin_failed(c, rc);
    printf("identity %s: %s\n", a->words[2], result);
    cust_close(c);
    return EXIT_OK;
}

static int
cmd_admin(int argc, char **argv)
{
    struct admin_args a;
    struct cust_conn *c = NULL;
    char name[CONF_NAME_MAX + 1] = "";
    const char *cmd;
    uint32_t v = 0;
    int rc = admin_parse(argc, argv, &a);

    if (rc != 0)
        return rc;
    cmd = a.words[0];
    if (strcmp(cmd, "identity") == 0)
        return admin_identity(&a, a.path);
    if (strcmp(cmd, "key") == 0 &&
        (rc = admin_key_check(&a, name, sizeof(name), &v)) != 0)
        return rc;
    if (a.json && strcmp(cmd, "keys") != 0 && strcmp(cmd, "identities") != 0)
        return usage_error("--json is for keys and identities", NULL);
    if (strcmp(cmd, "pubkey") == 0 && a.nwords != 2)
        return usage_error("usage: custodianctl pubkey NAME [--ssh]", NULL);
    if (strcmp(cmd, "key") != 0 && strcmp(cmd, "pubkey") != 0 && a.nwords != 1)
        return usage_error("unexpected argument", a.words[1]);
    if ((rc = admin_connect(a.path, &c)) != 0)
        return rc;
    if (strcmp(cmd, "status") == 0) {
        rc = admin_status(c);
    } else if (strcmp(cmd, "keys") == 0 || strcmp(cmd, "identities") == 0 ||
               strcmp(cmd, "metrics") == 0) {
        rc = strcmp(cmd, "keys") == 0         ? ctl_keys(c, a.json)
             : strcmp(cmd, "identities") == 0 ? ctl_identities(c, a.json)
                                              : ctl_metrics(c);
        if (rc != 0)
            return admin_failed(c, rc);
    } else if (strcmp(cmd, "reload") == 0) {
        rc = cust_reload(c);
        if (rc != 0)
            return admin_failed(c, rc);
        printf("reload: applied\n");
    } else if (strcmp(cmd, "key") == 0) {
        rc = admin_key_cmd(c, &a, name, v);
    } else {
        rc = admin_key(c, &a, 0);
    }
    /* On failure, admin_failed() has closed it already. */
    if (rc == EXIT_OK)
        cust_close(c);
    return rc;
}

/* export keyring DIR [-c FILE], export allowed-signers [-c FILE] */
static int
cmd_export(int argc, char **argv)
{
    const char *path = CONF_DEFAULT_PATH, *dir = NULL;
    struct conf *conf;
    int i, rc, signers = argc >= 3 && strcmp(argv[2], "allowed-signers") == 0;

    if (argc < 3 || (strcmp(argv[2], "keyring") != 0 && !signers))
        return usage_error("usage: custodianctl export keyring DIR "
                           "[-c FILE], or export allowed-signers [-c FILE]",
                           NULL);
    for (i = 3; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
            i + 1 < argc)
            path = argv[++i];
        else if (argv[i][0] != '-' && dir == NULL && !signers)
            dir = argv[i];
        else
            return usage_error("unexpected argument", argv[i]);
    }
    if (dir == NULL && !signers)
        return usage_error("export keyring needs a directory", NULL);
    if ((conf = load(path)) == NULL)
        return EXIT_CONFIG;
    rc = signers ? ctl_export_allowed_signers(conf)
                 : ctl_export_keyring(conf, dir);
    conf_free(conf);
    return rc == 0 ? EXIT_OK : EXIT_FAIL;
}

int
main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("custodianctl %s\n", CUSTODIAN_VERSION);
        return EXIT_OK;
    }
    if (argc >= 2 &&
        (strcmp(argv[1], "status") == 0 || strcmp(argv[1], "keys") == 0 ||
         strcmp(argv[1], "identities") == 0 ||
         strcmp(argv[1], "metrics") == 0 || strcmp(argv[1], "reload") == 0 ||
         strcmp(argv[1], "key") == 0 || strcmp(argv[1], "pubkey") == 0 ||
         strcmp(argv[1], "identity") == 0))
        return cmd_admin(argc, argv);
    if (argc >= 3 && strcmp(argv[1], "audit") == 0 &&
        strcmp(argv[2], "verify") == 0)
        return cmd_audit_verify(argc - 3, argv + 3);
    if (argc >= 3 && strcmp(argv[1], "audit") == 0 &&
        strcmp(argv[2], "tail") == 0)
        return tail_main(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "export") == 0)
        return cmd_export(argc, argv);
    if (argc < 3 || strcmp(argv[1], "policy") != 0)
        return usage_error("unknown command", argc > 1 ? argv[1] : NULL);
    if (strcmp(argv[2], "check") == 0)
        return cmd_policy_check(argc - 1, argv + 1);
    if (strcmp(argv[2], "explain") == 0)
        return cmd_policy_explain(argc, argv);
    return usage_error("unknown policy command", argv[2]);
}
