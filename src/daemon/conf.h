/*
 * The daemon's configuration: a libconfig file read into plain structures
 * and checked as a whole.
 *
 * Loading never stops at the first mistake: every error is collected with
 * the file and line it belongs to, so that `custodianctl policy check`
 * can show them all at once. A configuration with any error is not
 * returned at all. Names of users and groups are resolved when the file
 * is loaded, on the machine that loads it.
 */
#ifndef CUSTODIAN_CONF_H
#define CUSTODIAN_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "alg.h"

/* Default configuration file of the daemon. */
#define CONF_DEFAULT_PATH "/etc/custodian/custodiand.conf"

/* Longest name of a token, key or identity; names are [A-Za-z0-9._-]. */
#define CONF_NAME_MAX 64

/* Most errors collected before loading gives up reading further. */
#define CONF_ERRORS_MAX 100

/* Operations a grant can allow, as bits. */
enum conf_op {
    CONF_OP_LIST = 1 << 0,     /* see the key's name */
    CONF_OP_PUBKEY = 1 << 1,   /* read its public key */
    CONF_OP_SIGN = 1 << 2,     /* sign with it */
    CONF_OP_SSH_AUTH = 1 << 3, /* through the agent, sign what is not an SSH
                                  signature: an SSH login */
};

struct conf_token {
    char *name;
    char *module;   /* path of the PKCS#11 module */
    char *uri;      /* pkcs11: URI of the token */
    char *pin_file; /* one of these two is set */
    char *pin_credential;
    unsigned sessions; /* 0: the token layer's default */
    int line;
};

/* How a key's versions turn over, in seconds; a zero period means by
 * hand only (custodianctl key rotate). */
struct conf_rotation {
    unsigned long period;        /* an active version signs this long */
    unsigned long publish_ahead; /* the next is published this long before */
    unsigned long verify_for;    /* a retired one stays valid for
                                    verification this long; 0: forever */
    unsigned long destroy_after; /* its private key is deleted this long
                                    after retirement; 0: never */
};

struct conf_key {
    char *name;
    enum alg_keytype type;
    const struct conf_token *token;
    struct conf_rotation rotation;
    char **namespaces; /* SSHSIG namespaces the key serves, for the
                          keyring's allowed_signers; NULL: none named */
    size_t nnamespaces;
    int line;
};

struct conf_listener {
    char *path;
    mode_t mode;
    bool has_owner, has_group;
    uid_t owner;
    gid_t group;
    int line;
};

/* Which callers an identity stands for; every set selector must match. */
struct conf_match {
    bool has_uid, has_gid, has_sha256;
    uid_t uid;
    gid_t gid;          /* primary or supplementary group */
    char *exe;          /* exact executable path, or NULL */
    uint8_t sha256[32]; /* executable's SHA-256 */
    char *cgroup;       /* fnmatch(3) glob on the cgroup path, or NULL */
};

/* One permission. An empty list or zero mask means "any". */
struct conf_grant {
    char **keys; /* key names or globs; at least one */
    size_t nkeys;
    unsigned ops;      /* enum conf_op bits */
    unsigned digests;  /* bit (1 << enum alg_digest) */
    unsigned schemes;  /* bit (1 << enum alg_scheme) */
    char **namespaces; /* NULL: requests with or without a namespace */
    size_t nnamespaces;
    double rate;  /* signatures per second; 0: unlimited */
    double burst; /* bucket size */
    int line;
};

struct conf_identity {
    char *name;
    struct conf_match match;
    time_t expires;        /* 0: never */
    bool suspend_on_alert; /* on_alert = "suspend" */
    struct conf_grant *grants;
    size_t ngrants;
    int line;
};

/* alerts = { ... }: when a signing request is unusual for its identity. */
struct conf_alerts {
    unsigned rate_factor;     /* a minute this many times the identity's mean */
    unsigned rate_min;        /* and at least this many requests in it */
    unsigned denials;         /* refusals within 5 minutes */
    unsigned long rate_after; /* seconds of history before the rate counts */
};

struct conf_limits {
    unsigned max_connections;
    unsigned idle_timeout;    /* seconds */
    unsigned frame_timeout;   /* seconds from a frame's first byte to its
                                 last */
    unsigned request_timeout; /* seconds a request may wait for the token */
    unsigned workers;         /* threads for token calls */
};

struct conf {
    char *path;
    struct conf_token *tokens;
    size_t ntokens;
    struct conf_key *keys;
    size_t nkeys;
    struct conf_listener sign, admin;
    struct conf_listener agent;       /* the OpenSSH agent socket; path NULL:
                                         none */
    struct conf_identity *identities; /* tried in file order */
    size_t nidentities;
    struct conf_identity *admins; /* callers of the admin socket */
    size_t nadmins;
    char *audit_path;
    char *state_path;     /* the key-version state file */
    char *keyring_path;   /* the directory published for verifiers */
    char *suspended_path; /* the suspended identities' state file */
    struct conf_limits limits;
    /* An identity unused this long (seconds, at most 30 days) is stale
     * in the inventory. */
    unsigned long inventory_stale_after;
    struct conf_alerts alerts;
    char *metrics_textfile;    /* Prometheus textfile to keep, or NULL */
    unsigned metrics_interval; /* seconds between its writes */
    char *user; /* account to run as once started as root, or NULL */
    uid_t user_uid;
    gid_t user_gid; /* the account's primary group */
};

/* Errors found while loading: "FILE:LINE: what is wrong", in file order. */
struct conf_errors {
    char **lines;
    size_t n;
};

/*
 * Reads and checks the file at PATH. Returns 0 and *OUT (free with
 * conf_free()), or CUST_ERR_CONFIG with every problem in ERRS (free with
 * conf_errors_free(); it is filled on failure only). Does not log.
 */
int conf_load(const char *path, struct conf **out, struct conf_errors *errs);

/* Frees a configuration; accepts NULL. */
void conf_free(struct conf *conf);

/* Frees the collected errors and empties ERRS. */
void conf_errors_free(struct conf_errors *errs);

/* The key named NAME, or NULL. */
const struct conf_key *conf_find_key(const struct conf *conf, const char *name);

/*
 * Parses a duration such as "90d", "12h", "30m" or "45s" into seconds.
 * Returns 0, or CUST_ERR_ARG for anything else (no unit, zero, overflow).
 */
int conf_parse_duration(const char *text, unsigned long *seconds);

/*
 * Parses a rate such as "10/s", "600/m" or "1000/h" into events per
 * second. Returns 0 or CUST_ERR_ARG.
 */
int conf_parse_rate(const char *text, double *per_second);

/*
 * Parses an expiry, "YYYY-MM-DD" (the start of that day, UTC) or
 * "YYYY-MM-DDTHH:MM:SSZ". Returns 0 or CUST_ERR_ARG.
 */
int conf_parse_time(const char *text, time_t *out);

#endif
