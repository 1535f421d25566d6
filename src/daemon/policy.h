/*
 * Who may do what: matching a caller to an identity of the configuration
 * and deciding one request against that identity's grants.
 *
 * Identities are tried in file order and the first whose every selector
 * matches stands for the caller. Its grants are tried in order and the
 * first that covers the request decides, subject to its rate limit. No
 * identity, no grant, no signature: everything else is denied.
 */
#ifndef CUSTODIAN_POLICY_H
#define CUSTODIAN_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "alg.h"
#include "conf.h"

struct policy;

/* What the kernel and /proc say about the caller. */
struct policy_caller {
    uid_t uid;
    gid_t gid;
    const gid_t *groups; /* supplementary groups */
    size_t ngroups;
    const char *exe;    /* executable path, or NULL if unknown */
    const char *cgroup; /* cgroup path, or NULL if unknown */
    /* Hashes the executable, asked only when an identity needs it.
     * Returns 0 and fills OUT, or an error with WHY (WHYLEN bytes)
     * filled: the caller cannot be told, and the decision ends with that
     * error rather than trying the identities after. NULL when no hash
     * can be had (a synthetic caller): exe_sha256 selectors then fail. */
    int (*exe_sha256)(void *arg, uint8_t out[32], char *why, size_t whylen);
    void *arg;
};

struct policy_request {
    enum conf_op op;
    const char *key;        /* key name */
    enum alg_digest digest; /* for CONF_OP_SIGN */
    enum alg_scheme scheme; /* for CONF_OP_SIGN */
    const char *ns;         /* namespace of the signed data, or NULL */
};

struct policy_decision {
    /* 0, CUST_ERR_DENIED, CUST_ERR_RATE_LIMITED, _EXPIRED or _SUSPENDED;
     * or the error of a failed executable hash (CUST_ERR_PEER, ...) */
    int result;
    const struct conf_identity *identity; /* NULL if none matched */
    int grant;        /* index of the deciding grant, or -1 */
    char rule[96];    /* "IDENTITY grant N (line L)", or "" */
    char reason[256]; /* the decision in words */
};

/*
 * Builds the policy of CONF, which must outlive it. Returns 0 and *OUT
 * (free with policy_free()), or CUST_ERR_NOMEM.
 */
int policy_new(const struct conf *conf, struct policy **out);
void policy_free(struct policy *p);

/*
 * Says whether identity NAME is suspended by an operator; if so, fills
 * WHY (WHYLEN bytes) with since when, by whom and why. Thread-safe.
 */
typedef bool (*policy_suspended_fn)(void *arg, const char *name, char *why,
                                    size_t whylen);

/*
 * Makes P ask FN, at every decision, whether the identity that matched is
 * suspended: a suspended identity is refused everything with
 * CUST_ERR_SUSPENDED before its grants are looked at. Without it, nothing
 * is suspended (as in an offline explanation).
 */
void policy_set_suspended(struct policy *p, policy_suspended_fn fn, void *arg);

/*
 * Decides REQUEST from CALLER at wall-clock time NOW (for expiry) and
 * monotonic time MONO in seconds (for rate limits), filling *OUT. An
 * allowed signing request takes one unit from its grant's rate bucket.
 * Thread-safe. Returns out->result.
 */
int policy_decide(struct policy *p, const struct policy_caller *caller,
                  const struct policy_request *request, time_t now, double mono,
                  struct policy_decision *out);

/* The alert thresholds of P's configuration. */
const struct conf_alerts *policy_alerts(struct policy *p);

/* The identity of P's policy named NAME, or NULL. */
const struct conf_identity *policy_identity(struct policy *p, const char *name);

/* Receives one line of an explanation. */
typedef void (*policy_note_fn)(void *arg, const char *line);

/*
 * Like policy_decide(), without touching rate buckets, and telling NOTE
 * every step: each identity tried and why it did or did not match, each
 * grant tried and why it did or did not cover the request.
 */
int policy_explain(struct policy *p, const struct policy_caller *caller,
                   const struct policy_request *request, time_t now,
                   policy_note_fn note, void *arg, struct policy_decision *out);

/*
 * The admin identity (conf->admins, in order) that CALLER is, or NULL.
 * An expired admin identity does not count.
 */
const struct conf_identity *
policy_admin(struct policy *p, const struct policy_caller *caller, time_t now);

/* The name of an operation ("list", "pubkey", "sign"). */
const char *policy_op_name(enum conf_op op);

#endif
