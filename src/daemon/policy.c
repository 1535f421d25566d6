/*
 * Policy decisions. The configuration is read-only here; the only state
 * is one token bucket per grant, shared by every caller the grant's
 * identity stands for.
 */
#include <fnmatch.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "custodian/error.h"
#include "policy.h"

struct bucket {
    double level; /* units left */
    double last;  /* monotonic seconds of the last refill */
    bool primed;  /* filled to the brim on first use */
};

struct policy {
    const struct conf *conf;
    struct bucket **buckets;       /* [identity][grant] */
    pthread_mutex_t lock;          /* guards the buckets */
    policy_suspended_fn suspended; /* NULL: nothing is suspended */
    void *suspended_arg;
};

/* Where the steps of a decision go: nowhere, or to an explanation. */
struct trace {
    policy_note_fn note;
    void *arg;
};

static void trace(const struct trace *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
trace(const struct trace *t, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    if (t == NULL || t->note == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    t->note(t->arg, line);
}

int
policy_new(const struct conf *conf, struct policy **out)
{
    struct policy *p = calloc(1, sizeof(*p));
    size_t i;

    if (p == NULL)
        return CUST_ERR_NOMEM;
    p->conf = conf;
    pthread_mutex_init(&p->lock, NULL);
    p->buckets = calloc(conf->nidentities + 1, sizeof(*p->buckets));
    for (i = 0; p->buckets != NULL && i < conf->nidentities; i++) {
        p->buckets[i] =
            calloc(conf->identities[i].ngrants + 1, sizeof(struct bucket));
        if (p->buckets[i] == NULL)
            break;
    }
    if (p->buckets == NULL || i < conf->nidentities) {
        policy_free(p);
        return CUST_ERR_NOMEM;
    }
    *out = p;
    return 0;
}

void
policy_free(struct policy *p)
{
    size_t i;

    if (p == NULL)
        return;
    for (i = 0; p->buckets != NULL && i < p->conf->nidentities; i++)
        free(p->buckets[i]);
    free(p->buckets);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

void
policy_set_suspended(struct policy *p, policy_suspended_fn fn, void *arg)
{
    p->suspended = fn;
    p->suspended_arg = arg;
}

const struct conf_alerts *
policy_alerts(struct policy *p)
{
    return &p->conf->alerts;
}

const struct conf_identity *
policy_identity(struct policy *p, const char *name)
{
    size_t i;

    for (i = 0; i < p->conf->nidentities; i++)
        if (strcmp(p->conf->identities[i].name, name) == 0)
            return &p->conf->identities[i];
    return NULL;
}

const char *
policy_op_name(enum conf_op op)
{
    switch (op) {
    case CONF_OP_LIST:
        return "list";
    case CONF_OP_PUBKEY:
        return "pubkey";
    case CONF_OP_SIGN:
        return "sign";
    case CONF_OP_SSH_AUTH:
        return "ssh-auth";
    default:
        return "unknown";
    }
}

static bool
policy_in_groups(const struct policy_caller *c, gid_t gid)
{
    size_t i;

    if (c->gid == gid)
        return true;
    for (i = 0; i < c->ngroups; i++) {
        if (c->groups[i] == gid)
            return true;
    }
    return false;
}

/*
 * Returns NULL if CALLER matches M, else the selector that failed. When
 * the executable's hash is needed and cannot be had, *ERR is set to the
 * error and WHY says why: the caller can then not be told.
 */
static const char *
policy_mismatch(const struct conf_match *m, const struct policy_caller *c,
                int *err, char *why, size_t whylen)
{
    uint8_t sha[32];

    if (m->has_uid && c->uid != m->uid)
        return "uid";
    if (m->has_gid && !policy_in_groups(c, m->gid))
        return "group";
    if (m->exe != NULL && (c->exe == NULL || strcmp(m->exe, c->exe) != 0))
        return "exe";
    if (m->cgroup != NULL &&
        (c->cgroup == NULL || fnmatch(m->cgroup, c->cgroup, 0) != 0))
        return "cgroup";
    /* Last: hashing the executable is the one costly selector. */
    if (!m->has_sha256)
        return NULL;
    if (c->exe_sha256 == NULL)
        return "exe_sha256";
    *err = c->exe_sha256(c->arg, sha, why, whylen);
    if (*err != 0 || memcmp(sha, m->sha256, sizeof(sha)) != 0)
        return "exe_sha256";
    return NULL;
}

/*
 * The first identity that matches CALLER, or -1; or -2 with *ERR and
 * WHY when an identity needed the executable's hash and it could not be
 * had (*AT is then that identity).
 */
static int
policy_identify(const struct conf *conf, const struct policy_caller *c,
                const struct trace *t, int *err, char *why, size_t whylen,
                size_t *at)
{
    const char *what;
    size_t i;

    for (i = 0; i < conf->nidentities; i++) {
        what = policy_mismatch(&conf->identities[i].match, c, err, why, whylen);
        if (*err != 0) {
            trace(t, "identity \"%s\" (line %d): exe_sha256: %s",
                  conf->identities[i].name, conf->identities[i].line, why);
            *at = i;
            return -2;
        }
        if (what == NULL) {
            trace(t, "identity \"%s\" (line %d) matches",
                  conf->identities[i].name, conf->identities[i].line);
            return (int)i;
        }
        trace(t, "identity \"%s\" (line %d): %s does not match",
              conf->identities[i].name, conf->identities[i].line, what);
    }
    return -1;
}

static bool
policy_key_in(const struct conf_grant *g, const char *key)
{
    size_t i;

    for (i = 0; i < g->nkeys; i++) {
        if (fnmatch(g->keys[i], key, 0) == 0)
            return true;
    }
    return false;
}

static bool
policy_ns_allowed(const struct conf_grant *g, const char *ns)
{
    size_t i;

    if (g->namespaces == NULL)
        return true;
    for (i = 0; ns != NULL && i < g->nnamespaces; i++) {
        if (strcmp(g->namespaces[i], ns) == 0)
            return true;
    }
    return false;
}

/* Returns NULL if grant G covers R, else what it does not allow. */
static const char *
policy_uncovered(const struct conf_grant *g, const struct policy_request *r)
{
    if (!policy_key_in(g, r->key))
        return "key";
    if (!(g->ops & r->op))
        return "operation";
    if (r->op != CONF_OP_SIGN && r->op != CONF_OP_SSH_AUTH)
        return NULL;
    /* Pure Ed25519 hashes nothing: a digest list does not concern it. */
    if (g->digests != 0 && r->digest != ALG_DIGEST_NONE &&
        !(g->digests & (1u << r->digest)))
        return "digest";
    if (g->schemes != 0 && !(g->schemes & (1u << r->scheme)))
        return "scheme";
    if (r->op == CONF_OP_SIGN && !policy_ns_allowed(g, r->ns))
        return r->ns != NULL ? "namespace" : "namespace (none given)";
    return NULL;
}

/* Takes one unit from bucket B of grant G; false if it is empty. */
static bool
policy_take(struct policy *p, struct bucket *b, const struct conf_grant *g,
            double mono)
{
    bool ok;

    if (g->rate <= 0)
        return true;
    pthread_mutex_lock(&p->lock);
    if (!b->primed) {
        b->level = g->burst;
        b->last = mono;
        b->primed = true;
    }
    if (mono > b->last) {
        b->level += (mono - b->last) * g->rate;
        if (b->level > g->burst)
            b->level = g->burst;
        b->last = mono;
    }
    ok = b->level >= 1.0;
    if (ok)
        b->level -= 1.0;
    pthread_mutex_unlock(&p->lock);
    return ok;
}

static int policy_result(struct policy_decision *d, int result, const char *fmt,
                         ...) __attribute__((format(printf, 3, 4)));

static int
policy_result(struct policy_decision *d, int result, const char *fmt, ...)
{
    va_list ap;

    d->result = result;
    va_start(ap, fmt);
    vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
    va_end(ap);
    return result;
}

/* Finds the grant of identity ID that covers R; -1 if none. */
static int
policy_find_grant(const struct conf_identity *id,
                  const struct policy_request *r, const struct trace *t,
                  const char **closest)
{
    const char *why;
    size_t i;

    *closest = NULL;
    for (i = 0; i < id->ngrants; i++) {
        why = policy_uncovered(&id->grants[i], r);
        if (why == NULL) {
            trace(t, "grant %zu (line %d) covers the request", i + 1,
                  id->grants[i].line);
            return (int)i;
        }
        trace(t, "grant %zu (line %d): %s not allowed", i + 1,
              id->grants[i].line, why);
        /* The most telling refusal: from a grant that names the key. */
        if (*closest == NULL && strcmp(why, "key") != 0)
            *closest = why;
    }
    return -1;
}

static int
policy_run(struct policy *p, const struct policy_caller *c,
           const struct policy_request *r, time_t now, double mono,
           const struct trace *t, struct policy_decision *d)
{
    const struct conf_identity *id;
    const char *closest;
    char why[160] = "", held[320];
    size_t at = 0;
    int i, g, err = 0;

    memset(d, 0, sizeof(*d));
    d->grant = -1;
    i = policy_identify(p->conf, c, t, &err, why, sizeof(why), &at);
    /* Trying later identities would judge the caller as someone it may
     * not be: the one that asked for the hash cannot be ruled out. */
    if (i == -2)
        return policy_result(d, err,
                             "identity \"%s\" needs the "
                             "executable's hash: %s",
                             p->conf->identities[at].name, why);
    if (i < 0)
        return policy_result(d, CUST_ERR_DENIED,
                             "no identity matches "
                             "the caller");
    id = d->identity = &p->conf->identities[i];
    if (id->expires != 0 && now >= id->expires)
        return policy_result(d, CUST_ERR_EXPIRED, "identity \"%s\" expired",
                             id->name);
    /* Before the grants: a suspension stops everything, and spends no
     * rate. */
    if (p->suspended != NULL &&
        p->suspended(p->suspended_arg, id->name, held, sizeof(held))) {
        trace(t, "identity \"%s\" is suspended %s", id->name, held);
        return policy_result(d, CUST_ERR_SUSPENDED,
                             "identity \"%s\" is suspended %s", id->name, held);
    }

    g = policy_find_grant(id, r, t, &closest);
    if (g < 0)
        return policy_result(
            d, CUST_ERR_DENIED,
            "no grant of \"%s\" allows %s of key \"%.64s\"%s%s%s", id->name,
            policy_op_name(r->op), r->key, closest ? ": " : "",
            closest ? closest : "", closest ? " not allowed" : "");
    d->grant = g;
    snprintf(d->rule, sizeof(d->rule), "%s grant %d (line %d)", id->name, g + 1,
             id->grants[g].line);
    if ((r->op == CONF_OP_SIGN || r->op == CONF_OP_SSH_AUTH) && t == NULL &&
        !policy_take(p, &p->buckets[i][g], &id->grants[g], mono))
        return policy_result(d, CUST_ERR_RATE_LIMITED, "%s: rate limit spent",
                             d->rule);
    return policy_result(d, 0, "allowed by %s", d->rule);
}

int
policy_decide(struct policy *p, const struct policy_caller *caller,
              const struct policy_request *request, time_t now, double mono,
              struct policy_decision *out)
{
    return policy_run(p, caller, request, now, mono, NULL, out);
}

int
policy_explain(struct policy *p, const struct policy_caller *caller,
               const struct policy_request *request, time_t now,
               policy_note_fn note, void *arg, struct policy_decision *out)
{
    struct trace t = {note, arg};

    return policy_run(p, caller, request, now, 0, &t, out);
}

const struct conf_identity *
policy_admin(struct policy *p, const struct policy_caller *caller, time_t now)
{
    const struct conf_identity *id;
    char why[160];
    size_t i;
    int err = 0;

    /* An admin whose hash cannot be had is no admin. */
    for (i = 0; i < p->conf->nadmins && err == 0; i++) {
        id = &p->conf->admins[i];
        if (policy_mismatch(&id->match, caller, &err, why, sizeof(why)) == NULL)
            return id->expires != 0 && now >= id->expires ? NULL : id;
    }
    return NULL;
}
