/*
 * custodiand: reads its configuration, opens the tokens, the audit log
 * and the keys, and serves the signing socket until told to stop. main()
 * only calls the named steps below.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "custodian/error.h"
#include "audit.h"
#include "clock.h"
#include "conf.h"
#include "handler.h"
#include "inventory.h"
#include "keyring.h"
#include "keystore.h"
#include "log.h"
#include "policy.h"
#include "priv.h"
#include "schedule.h"
#include "server.h"
#include "token.h"
#include "workers.h"

/* Jobs waiting for a worker, across all connections, at most. */
#define MAIN_QUEUE_MAX 4096

/* Exit statuses, documented in docs/custodiand.md. A refused PIN has its
 * own, so that a service manager does not present it again. */
enum { MAIN_EXIT_FAIL = 1, MAIN_EXIT_USAGE = 2, MAIN_EXIT_PIN = 3 };

struct daemon {
    const char *conf_path;
    struct conf *conf;
    struct token **tokens;
    struct audit *audit;
    struct inventory *inventory;
    struct keystore *keys;
    struct conf *policy_conf; /* what the policy was built from */
    struct workers *workers;
    struct schedule *sched;
    struct keyring *published;    /* the keyring last written */
    pthread_mutex_t publish_lock; /* the scheduler and workers publish */
    int pin_refused;              /* a token refused the PIN, or locked it */
    struct handler_env env;
    struct server *server;
};

static void
usage(FILE *f)
{
    fprintf(f, "usage: custodiand [-c FILE] [-s] [-v]\n"
               "  -c, --config FILE   configuration (default " CONF_DEFAULT_PATH
               ")\n"
               "  -s, --syslog        log to syslog, not standard error\n"
               "  -v, --verbose       log at debug level\n"
               "  -h, --help          show this help\n"
               "      --version       show the version\n"
               "Runs in the foreground; stop it with SIGTERM.\n");
}

static int
parse_args(int argc, char **argv, struct daemon *d)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"syslog", no_argument, NULL, 's'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;

    d->conf_path = CONF_DEFAULT_PATH;
    while ((c = getopt_long(argc, argv, "c:svh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            d->conf_path = optarg;
            break;
        case 's':
            log_to_syslog();
            break;
        case 'v':
            log_threshold = LOG_LEVEL_DEBUG;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("custodiand %s\n", CUSTODIAN_VERSION);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    return optind == argc ? 0 : -1;
}

static int
load_conf(struct daemon *d)
{
    struct conf_errors errs;
    size_t i;

    if (conf_load(d->conf_path, &d->conf, &errs) == 0)
        return 0;
    for (i = 0; i < errs.n; i++)
        log_error("%s", errs.lines[i]);
    conf_errors_free(&errs);
    return -1;
}

static int
open_tokens(struct daemon *d)
{
    const struct conf_token *t;
    struct token_config tc;
    size_t i;
    int rc;

    d->tokens = calloc(d->conf->ntokens, sizeof(*d->tokens));
    if (d->tokens == NULL)
        return -1;
    for (i = 0; i < d->conf->ntokens; i++) {
        t = &d->conf->tokens[i];
        tc = (struct token_config){t->module,         t->uri,      t->pin_file,
                                   t->pin_credential, t->sessions, 0};
        rc = token_open(&tc, &d->tokens[i]);
        if (rc != 0) {
            log_error("token \"%s\": %s (%s)", t->name, cust_err_str(rc),
                      token_error_detail());
            d->pin_refused =
                rc == CUST_ERR_PIN_INCORRECT || rc == CUST_ERR_PIN_LOCKED;
            return -1;
        }
    }
    return 0;
}

/* Records a lifecycle event; the daemon does not go on without it. */
static int
audit_event(struct daemon *d, json_t *rec)
{
    int rc = audit_write(d->audit, rec, NULL);

    if (rc == 0 && d->inventory != NULL)
        inventory_add(d->inventory, rec, time(NULL));
    json_decref(rec);
    if (rc != 0)
        log_error("audit log: %s", cust_err_str(rc));
    return rc;
}

/*
 * Every change to a key's versions is logged and audited as it happens.
 * Its record is written before the change is acted on by anyone else:
 * the scheduler, or the admin whose request made it, waits for it.
 */
static void
key_event(void *arg, const struct keystore_event *ev)
{
    struct daemon *d = arg;
    bool bad = strcmp(ev->what, "failed") == 0 ||
               strcmp(ev->what, "missing") == 0 ||
               strcmp(ev->what, "unexpected") == 0;

    if (bad)
        log_error("key \"%s\" version %u: %s: %s", ev->key, ev->version,
                  ev->what, ev->detail);
    else
        log_info("key \"%s\" version %u: %s%s%s", ev->key, ev->version,
                 ev->what, ev->detail[0] ? ": " : "", ev->detail);
    audit_event(d, json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:I}", "event",
                             "key-version", "key", ev->key, "version",
                             (int)ev->version, "transition", ev->what,
                             "fingerprint", ev->fingerprint, "detail",
                             ev->detail, "at", (json_int_t)clock_now()));
    /* The scheduler publishes the change, and a key left without an
     * active version may be due for a new one. */
    if (d->sched != NULL)
        schedule_poke(d->sched);
}

/* Writes the keyring again if it would differ from the one written last.
 * Returns when it must look again as time passes (a version's
 * verification ending), 0: never. Under publish_lock. */
static time_t
publish_locked(struct daemon *d)
{
    struct keystate *snap = keystore_snapshot(d->keys);
    struct keyring *k = NULL;
    time_t next;
    int rc =
        snap ? keyring_build(d->conf, snap, clock_now(), &k) : CUST_ERR_NOMEM;

    keystate_free(snap);
    if (rc != 0) {
        log_error("keyring: %s", cust_err_str(rc));
        return 0;
    }
    next = keyring_next_change(k);
    if (keyring_same(k, d->published)) {
        keyring_free(k);
        return next;
    }
    if (keyring_write(k, d->conf->keyring_path) != 0) {
        log_error("keyring: %s", keyring_error());
        keyring_free(k);
        return 0;
    }
    log_info("keyring: published in %s", d->conf->keyring_path);
    keyring_free(d->published);
    d->published = k;
    return next;
}

/* Publishes at start, after every scheduler tick, and after an admin's
 * change (publish_now). */
static time_t
publish_keyring(void *arg)
{
    struct daemon *d = arg;
    time_t next;

    pthread_mutex_lock(&d->publish_lock);
    next = publish_locked(d);
    pthread_mutex_unlock(&d->publish_lock);
    return next;
}

/* An admin's change: published before the answer goes. */
static void
publish_now(void *arg)
{
    publish_keyring(arg);
}

/* The end of the inventory's reading of the audit log, on its thread. */
static void
inventory_rebuilt(void *arg, int rc, const struct inventory_rebuild *rb)
{
    const char *path = arg;

    if (rc != 0) {
        log_error("inventory: cannot read the audit log %s: %s; counting "
                  "only new requests",
                  path, cust_err_str(rc));
        return;
    }
    if (rb->broken)
        log_warn("inventory: audit log chain broken at %s; counted the "
                 "records before it only",
                 rb->where);
    log_info("inventory: %llu audit records read in %.2f s, %llu of the "
             "last 30 days counted",
             (unsigned long long)rb->records, rb->seconds,
             (unsigned long long)rb->counted);
}

/*
 * The inventory starts from what the audit log holds: the records of the
 * last 30 days up to the last one at open, read on a thread of its own
 * while the daemon serves; every record after them is counted as it is
 * written. A chain that breaks stops the reading.
 */
static int
open_inventory(struct daemon *d)
{
    int rc = inventory_new(d->conf, time(NULL), &d->inventory);

    if (rc == 0)
        rc = inventory_rebuild_start(d->inventory, d->conf->audit_path,
                                     time(NULL), audit_opened_seq(d->audit),
                                     inventory_rebuilt, d->conf->audit_path);
    if (rc == 0)
        rc = alert_new(&d->env.alerts);
    if (rc != 0) {
        log_error("inventory: %s", cust_err_str(rc));
        return -1;
    }
    d->env.inventory = d->inventory;
    return 0;
}

/* The policy's question, answered from the suspension file. */
static bool
is_suspended(void *arg, const char *name, char *why, size_t whylen)
{
    return suspend_check(arg, name, why, whylen);
}

static int
open_state(struct daemon *d)
{
    char why[512];
    int rc = audit_open(d->conf->audit_path, &d->audit);

    if (rc != 0) {
        /* errno still says why: a missing directory, the file locked by
         * another daemon, no permission. */
        log_error("audit log %s: %s (%s)", d->conf->audit_path,
                  cust_err_str(rc), strerror(errno));
        return -1;
    }
    if (audit_recovered_bytes(d->audit) > 0)
        log_warn("audit log: cut %llu bytes of an unfinished record",
                 (unsigned long long)audit_recovered_bytes(d->audit));
    if (open_inventory(d) != 0)
        return -1;
    if (audit_event(d, json_pack("{s:s, s:s}", "event", "start", "version",
                                 CUSTODIAN_VERSION)) != 0)
        return -1;
    rc = keystore_open(d->conf, d->tokens, d->conf->state_path, clock_now(),
                       key_event, d, &d->keys);
    if (rc != 0) {
        log_error("%s", keystore_error());
        return -1;
    }
    rc = suspend_open(d->conf->suspended_path, &d->env.suspend, why,
                      sizeof(why));
    if (rc != 0) {
        log_error("suspended identities: %s", why);
        return -1;
    }
    pthread_rwlock_init(&d->env.policy_lock, NULL);
    d->env.keys = d->keys;
    d->env.audit = d->audit;
    d->env.changed = publish_now;
    d->env.changed_arg = d;
    d->policy_conf = d->conf;
    if (policy_new(d->conf, &d->env.policy) != 0)
        return -1;
    policy_set_suspended(d->env.policy, is_suspended, d->env.suspend);
    return 0;
}

/*
 * What a reload may not change, because it was set up at start: the
 * keys, their tokens, the socket and the audit log. NULL if unchanged.
 */
/* Whether key A and B are the same in everything but their grants. */
static int
reload_same_key(const struct conf_key *a, const struct conf_key *b)
{
    size_t i;

    if (strcmp(a->name, b->name) != 0 || a->type != b->type ||
        strcmp(a->token->name, b->token->name) != 0 ||
        memcmp(&a->rotation, &b->rotation, sizeof(a->rotation)) != 0 ||
        a->nnamespaces != b->nnamespaces)
        return 0;
    for (i = 0; i < a->nnamespaces; i++)
        if (strcmp(a->namespaces[i], b->namespaces[i]) != 0)
            return 0;
    return 1;
}

/* Whether listeners A and B are made alike: path, mode, owner, group. */
static int
reload_same_listener(const struct conf_listener *a,
                     const struct conf_listener *b)
{
    if ((a->path == NULL) != (b->path == NULL))
        return 0;
    return (a->path == NULL || strcmp(a->path, b->path) == 0) &&
           a->mode == b->mode && a->has_owner == b->has_owner &&
           a->has_group == b->has_group &&
           (!a->has_owner || a->owner == b->owner) &&
           (!a->has_group || a->group == b->group);
}

static const char *
reload_fixed_part(const struct conf *old, const struct conf *new)
{
    size_t i;

    if (old->nkeys != new->nkeys)
        return "the keys changed; restart to change keys";
    for (i = 0; i < old->nkeys; i++)
        if (!reload_same_key(&old->keys[i], &new->keys[i]))
            return "the keys, their rotation or namespaces changed; "
                   "restart to change keys";
    if (strcmp(old->state_path, new->state_path) != 0 ||
        strcmp(old->keyring_path, new->keyring_path) != 0 ||
        strcmp(old->suspended_path, new->suspended_path) != 0)
        return "a state file or the keyring path changed; restart for that";
    if ((old->user == NULL) != (new->user == NULL) ||
        (old->user != NULL && strcmp(old->user, new->user) != 0))
        return "the user changed; restart to change it";
    /* The sockets were made at start, as root: a new mode, owner or
     * group would not be applied, so a reload must not say it was. */
    if (!reload_same_listener(&old->sign, &new->sign) ||
        !reload_same_listener(&old->admin, &new->admin) ||
        !reload_same_listener(&old->agent, &new->agent))
        return "a listener's path, mode, owner or group changed; restart "
               "for that";
    if (strcmp(old->audit_path, new->audit_path) != 0)
        return "the audit log path changed; restart for that";
    return NULL;
}

/* Loads the file again and swaps in its policy; anything wrong with it
 * and the policy in force stays. Runs on the loop thread (SIGHUP). */
static const char *
reload(void *arg)
{
    struct daemon *d = arg;
    struct conf_errors errs;
    struct conf *c = NULL, *old_conf;
    struct policy *p = NULL, *old;
    const char *why = NULL;
    size_t i;

    if (conf_load(d->conf_path, &c, &errs) != 0) {
        for (i = 0; i < errs.n; i++)
            log_error("reload: %s", errs.lines[i]);
        why = "the configuration has errors";
        conf_errors_free(&errs);
    } else if ((why = reload_fixed_part(d->conf, c)) == NULL &&
               policy_new(c, &p) != 0) {
        why = "out of memory";
    }
    if (why != NULL) {
        log_error("reload refused, the policy in force stays: %s", why);
        audit_event(d, json_pack("{s:s, s:s, s:s}", "event", "reload", "result",
                                 "refused", "reason", why));
        conf_free(c);
        return why;
    }
    policy_set_suspended(p, is_suspended, d->env.suspend);
    pthread_rwlock_wrlock(&d->env.policy_lock);
    old = d->env.policy;
    old_conf = d->policy_conf;
    d->env.policy = p;
    d->policy_conf = c;
    pthread_rwlock_unlock(&d->env.policy_lock);
    inventory_set_policy(d->inventory, c);
    policy_free(old);
    if (old_conf != d->conf)
        conf_free(old_conf);
    log_info("reload: %zu identities in force", c->nidentities);
    audit_event(d, json_pack("{s:s, s:s, s:i}", "event", "reload", "result",
                             "applied", "identities", (int)c->nidentities));
    return NULL;
}

/*
 * What needs root comes first: the tokens (their PIN files) and the
 * sockets (their owner and group). Then the daemon becomes its own user,
 * and everything it creates from there on (the audit log, keys in a
 * file-backed token) belongs to that user. The worker threads start last,
 * so that they share the capability that was kept.
 */
static int
start(struct daemon *d)
{
    if (load_conf(d) != 0 || open_tokens(d) != 0 ||
        server_new(d->conf, &d->env, reload, d, &d->server) != 0 ||
        priv_drop(d->conf) != 0 || open_state(d) != 0)
        return -1;
    if (workers_start(d->conf->limits.workers, MAIN_QUEUE_MAX, &d->workers) !=
        0) {
        log_error("cannot start %u worker threads", d->conf->limits.workers);
        return -1;
    }
    publish_keyring(d);
    if (schedule_start(d->keys, publish_keyring, d, &d->sched) != 0) {
        log_error("cannot start the rotation scheduler");
        return -1;
    }
    return 0;
}

static void
shut_down(struct daemon *d)
{
    size_t i;

    /* Requests still running (a token slower than the drain time) hold
     * their connection: the workers finish them, the audit log records
     * them, and only then does the server go. */
    workers_stop(d->workers);
    schedule_stop(d->sched);
    if (d->audit != NULL) {
        audit_event(d, json_pack("{s:s}", "event", "stop"));
        audit_close(d->audit);
    }
    server_free(d->server);
    inventory_free(d->inventory);
    alert_free(d->env.alerts);
    keystore_free(d->keys);
    keyring_free(d->published);
    policy_free(d->env.policy);
    suspend_free(d->env.suspend);
    if (d->policy_conf != d->conf)
        conf_free(d->policy_conf);
    for (i = 0; d->tokens != NULL && i < d->conf->ntokens; i++)
        token_close(d->tokens[i]);
    free(d->tokens);
    conf_free(d->conf);
}

int
main(int argc, char **argv)
{
    struct daemon d = {.publish_lock = PTHREAD_MUTEX_INITIALIZER};
    int rc = 1;

    log_init("custodiand", LOG_LEVEL_INFO);
    if (parse_args(argc, argv, &d) != 0)
        return MAIN_EXIT_USAGE;
    if (priv_harden() != 0)
        return MAIN_EXIT_FAIL;
    signal(SIGPIPE, SIG_IGN);
    if (start(&d) == 0)
        rc = server_run(d.server, d.workers);
    shut_down(&d);
    if (rc == 0)
        return 0;
    return d.pin_refused ? MAIN_EXIT_PIN : MAIN_EXIT_FAIL;
}
