/*
 * The identity inventory. Everything is counted from audit records, live
 * or read back from the log, through inventory_add(), so that what a restart
 * rebuilds is what the running daemon had counted.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "custodian/error.h"
#include "audit.h"
#include "inventory.h"
#include "log.h"
#include "metrics.h"

#define INV_MINUTES 60
#define INV_HOURS   24
#define INV_DAYS    30

/* The name strangers share once INVENTORY_STRANGERS_MAX are kept. */
#define INV_OTHERS "(others)"

/* Longest executable or cgroup path kept; records escape them, so this
 * bounds the escaped text. */
#define INV_PATH_MAX 1024

/* Refusal codes counted: CUST_ERR_INTERNAL (-1) to this one's negation. */
#define INV_ERRORS_MAX 64

static const char *const inv_decision_names[INVENTORY_DECISIONS] = {
    "allowed", "denied", "rate_limited", "expired", "error"};
static const char *const inv_op_names[INVENTORY_OPS] = {"sign", "pubkey",
                                                        "list"};

/* Request latencies, in seconds: upper bounds of the histogram buckets. */
static const double inv_latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                            0.025,  0.05,  0.1,    0.25,  0.5,
                                            1,      2.5,   5,      10};
#define INV_LATENCY_BUCKETS                                                    \
    (sizeof(inv_latency_bounds) / sizeof(inv_latency_bounds[0]))

/* One bucket of a ring: the minute, hour or day it counts (its number
 * since the epoch) and its counts by decision. */
struct inv_bucket {
    uint32_t slot;
    uint32_t n[INVENTORY_DECISIONS];
};

/* What one identity did with one key (or with no key: a LIST). */
struct inv_use {
    time_t last;
    uint64_t total[INVENTORY_OPS][INVENTORY_DECISIONS];
    struct inv_bucket minutes[INV_MINUTES];
    struct inv_bucket hours[INV_HOURS];
    struct inv_bucket days[INV_DAYS];
};

/* An executable or cgroup an identity was seen calling from. */
struct inv_seen {
    char *path;
    time_t last;
    uint64_t requests;
};

struct inv_seen_list {
    struct inv_seen v[INVENTORY_SEEN_MAX];
    size_t n;
    uint64_t dropped; /* requests from paths past the bound */
};

struct inv_identity {
    char *name; /* NULL for a caller that matched no identity */
    uid_t uid;  /* for such a caller: it is kept by uid and executable */
    char *exe;
    bool in_policy;
    time_t expires;        /* 0: never */
    time_t last;           /* 0: not used within the horizon */
    struct inv_use **uses; /* by key slot, allocated on first use */
    struct inv_seen_list exes, cgroups;
};

struct inv_version {
    uint32_t version;
    uint64_t signatures;
    time_t last;
};

/* A key slot: a configured key, then "unknown" and "none" (LIST). */
struct inv_key {
    char *name;
    time_t last; /* last signature released */
    struct inv_version versions[INVENTORY_VERSIONS_MAX];
    size_t nversions;
    uint64_t rotations;
    uint64_t token_errors;
};

struct inventory {
    pthread_mutex_t lock;
    struct inv_key *keys; /* nkeys configured, then the two below */
    size_t nkeys, nslots;
    struct inv_identity *ids;
    size_t nids, capids;
    size_t nstrangers;
    uint64_t dropped; /* records of identities past the bound */
    time_t stale_after;
    time_t since; /* the oldest time the counts can cover */
    uint64_t latency[INVENTORY_OPS][INV_LATENCY_BUCKETS + 1];
    double latency_sum[INVENTORY_OPS];
    uint64_t refused[INV_ERRORS_MAX + 1]; /* by -code; 0: unknown */
    struct inventory_rebuild rebuild;
    /* The rebuilding thread, if started; STOP asks it to finish. */
    pthread_t thread;
    bool threaded;
    atomic_bool stop;
    char *path;
    time_t now;
    uint64_t upto;
    inventory_rebuilt_fn done;
    void *done_arg;
};

static char *
inv_strdup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

int
inventory_new(const struct conf *conf, time_t now, struct inventory **out)
{
    struct inventory *inv = calloc(1, sizeof(*inv));
    size_t i;

    if (inv == NULL)
        return CUST_ERR_NOMEM;
    pthread_mutex_init(&inv->lock, NULL);
    inv->nkeys = conf->nkeys;
    inv->nslots = conf->nkeys + 2;
    inv->keys = calloc(inv->nslots, sizeof(*inv->keys));
    if (inv->keys == NULL) {
        inventory_free(inv);
        return CUST_ERR_NOMEM;
    }
    for (i = 0; i < conf->nkeys; i++) {
        inv->keys[i].name = inv_strdup(conf->keys[i].name);
        if (inv->keys[i].name == NULL) {
            inventory_free(inv);
            return CUST_ERR_NOMEM;
        }
    }
    inv->stale_after = (time_t)conf->inventory_stale_after;
    inv->since = now;
    inventory_set_policy(inv, conf);
    *out = inv;
    return 0;
}

static void
inv_seen_free(struct inv_seen_list *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        free(l->v[i].path);
}

void
inventory_free(struct inventory *inv)
{
    size_t i, j;

    if (inv == NULL)
        return;
    if (inv->threaded) {
        atomic_store(&inv->stop, true);
        pthread_join(inv->thread, NULL);
    }
    free(inv->path);
    for (i = 0; i < inv->nids; i++) {
        for (j = 0; inv->ids[i].uses != NULL && j < inv->nslots; j++)
            free(inv->ids[i].uses[j]);
        free(inv->ids[i].uses);
        free(inv->ids[i].name);
        free(inv->ids[i].exe);
        inv_seen_free(&inv->ids[i].exes);
        inv_seen_free(&inv->ids[i].cgroups);
    }
    for (i = 0; inv->keys != NULL && i < inv->nslots; i++)
        free(inv->keys[i].name);
    free(inv->keys);
    free(inv->ids);
    pthread_mutex_destroy(&inv->lock);
    free(inv);
}

/* Appends an identity (NAME, or a stranger UID and EXE); NULL when out of
 * memory or past the bound. Under the lock. */
static struct inv_identity *
inv_append(struct inventory *inv, const char *name, uid_t uid, const char *exe)
{
    struct inv_identity *id, *grown;
    size_t cap;

    if (inv->nids >= INVENTORY_IDENTITIES_MAX + INVENTORY_STRANGERS_MAX + 1)
        return NULL;
    if (inv->nids == inv->capids) {
        cap = inv->capids ? 2 * inv->capids : 16;
        grown = realloc(inv->ids, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        inv->ids = grown;
        inv->capids = cap;
    }
    id = &inv->ids[inv->nids];
    memset(id, 0, sizeof(*id));
    id->uses = calloc(inv->nslots, sizeof(*id->uses));
    id->name = inv_strdup(name);
    id->exe = inv_strdup(exe);
    id->uid = uid;
    if (id->uses == NULL || (name != NULL && id->name == NULL) ||
        (exe != NULL && id->exe == NULL)) {
        free(id->uses);
        free(id->name);
        free(id->exe);
        return NULL;
    }
    inv->nids++;
    return id;
}

/* The identity named NAME, or NULL. Under the lock. */
static struct inv_identity *
inv_named(struct inventory *inv, const char *name)
{
    size_t i;

    /* XXX: a linear search; thousands of identities would want a hash. */
    for (i = 0; i < inv->nids; i++)
        if (inv->ids[i].name != NULL && strcmp(inv->ids[i].name, name) == 0)
            return &inv->ids[i];
    return NULL;
}

void
inventory_set_policy(struct inventory *inv, const struct conf *conf)
{
    struct inv_identity *id;
    size_t i;

    pthread_mutex_lock(&inv->lock);
    for (i = 0; i < inv->nids; i++)
        inv->ids[i].in_policy = false;
    for (i = 0; i < conf->nidentities; i++) {
        id = inv_named(inv, conf->identities[i].name);
        if (id == NULL)
            id = inv_append(inv, conf->identities[i].name, 0, NULL);
        if (id == NULL)
            continue;
        id->in_policy = true;
        id->expires = conf->identities[i].expires;
    }
    pthread_mutex_unlock(&inv->lock);
}

/* The identity a record names, or the stranger it came from. Under the
 * lock; NULL past every bound. */
static struct inv_identity *
inv_identity(struct inventory *inv, const char *name, uid_t uid,
             const char *exe)
{
    struct inv_identity *id;
    size_t i;

    if (name != NULL) {
        id = inv_named(inv, name);
        if (id == NULL &&
            inv->nids - inv->nstrangers < INVENTORY_IDENTITIES_MAX)
            id = inv_append(inv, name, 0, NULL);
        return id;
    }
    for (i = 0; i < inv->nids; i++) {
        id = &inv->ids[i];
        if (id->name == NULL && id->uid == uid && strcmp(id->exe, exe) == 0)
            return id;
    }
    if (inv->nstrangers >= INVENTORY_STRANGERS_MAX) {
        uid = (uid_t)-1;
        exe = INV_OTHERS;
        for (i = 0; i < inv->nids; i++)
            if (inv->ids[i].name == NULL && inv->ids[i].uid == uid &&
                strcmp(inv->ids[i].exe, exe) == 0)
                return &inv->ids[i];
    }
    id = inv_append(inv, NULL, uid, exe);
    if (id != NULL)
        inv->nstrangers++;
    return id;
}

/* The slot of key NAME: its own, "unknown", or "none" for no key. */
static size_t
inv_slot(const struct inventory *inv, const char *name)
{
    size_t i;

    if (name == NULL || name[0] == '\0')
        return inv->nkeys + 1;
    for (i = 0; i < inv->nkeys; i++)
        if (strcmp(inv->keys[i].name, name) == 0)
            return i;
    return inv->nkeys;
}

static const char *
inv_slot_name(const struct inventory *inv, size_t slot)
{
    if (slot < inv->nkeys)
        return inv->keys[slot].name;
    return slot == inv->nkeys ? "(unknown)" : "";
}

static void
inv_bump(struct inv_bucket *ring, size_t n, uint32_t slot, int decision)
{
    struct inv_bucket *b = &ring[slot % n];

    /* A bucket holding a later period than this record's (the clock was
     * stepped back) keeps it: the record counts only in the totals. */
    if (b->slot > slot)
        return;
    if (b->slot < slot) {
        memset(b, 0, sizeof(*b));
        b->slot = slot;
    }
    b->n[decision]++;
}

/* Sums the buckets of RING within the N periods up to NOW's, by decision
 * into SUM. */
static void
inv_sum(const struct inv_bucket *ring, size_t n, uint32_t now,
        uint64_t sum[INVENTORY_DECISIONS])
{
    size_t i;
    int d;

    for (i = 0; i < n; i++) {
        if (ring[i].slot == 0 || ring[i].slot > now || ring[i].slot + n <= now)
            continue;
        for (d = 0; d < INVENTORY_DECISIONS; d++)
            sum[d] += ring[i].n[d];
    }
}

static void
inv_seen(struct inv_seen_list *l, const char *path, time_t at)
{
    size_t i;

    if (path == NULL || path[0] == '\0')
        return;
    for (i = 0; i < l->n; i++)
        if (strcmp(l->v[i].path, path) == 0)
            break;
    if (i == l->n) {
        if (l->n == INVENTORY_SEEN_MAX || strlen(path) > INV_PATH_MAX ||
            (l->v[i].path = strdup(path)) == NULL) {
            l->dropped++;
            return;
        }
        l->v[i].last = 0;
        l->v[i].requests = 0;
        l->n++;
    }
    if (at > l->v[i].last)
        l->v[i].last = at;
    l->v[i].requests++;
}

/* What the client heard, from the record's "error" and "released". */
static int
inv_decision(const json_t *rec)
{
    const char *err = json_string_value(json_object_get(rec, "error"));

    if (json_is_false(json_object_get(rec, "released")))
        return INVENTORY_ERROR;
    if (err == NULL)
        return INVENTORY_ALLOWED;
    if (strcmp(err, "CUST_ERR_DENIED") == 0 ||
        strcmp(err, "CUST_ERR_KEY_NOT_FOUND") == 0 ||
        strcmp(err, "CUST_ERR_SUSPENDED") == 0)
        return INVENTORY_DENIED;
    if (strcmp(err, "CUST_ERR_RATE_LIMITED") == 0)
        return INVENTORY_RATE_LIMITED;
    if (strcmp(err, "CUST_ERR_EXPIRED") == 0)
        return INVENTORY_EXPIRED;
    return INVENTORY_ERROR;
}

static void
inv_latency(struct inventory *inv, int op, const json_t *rec)
{
    json_t *us = json_object_get(rec, "latency_us");
    double s;
    size_t i;

    if (!json_is_integer(us) || json_integer_value(us) < 0)
        return;
    s = (double)json_integer_value(us) / 1e6;
    for (i = 0; i < INV_LATENCY_BUCKETS && s > inv_latency_bounds[i]; i++)
        ;
    inv->latency[op][i]++;
    inv->latency_sum[op] += s;
}

/* A signature released by version V of key slot K. */
static void
inv_signed(struct inv_key *k, json_t *v, time_t at)
{
    uint32_t version;
    size_t i, oldest = 0;

    if (at > k->last)
        k->last = at;
    if (!json_is_integer(v) || json_integer_value(v) <= 0)
        return;
    version = (uint32_t)json_integer_value(v);
    for (i = 0; i < k->nversions && k->versions[i].version != version; i++)
        if (k->versions[i].version < k->versions[oldest].version)
            oldest = i;
    if (i == k->nversions) {
        /* Full: the oldest version's count makes room for a newer one. */
        if (k->nversions == INVENTORY_VERSIONS_MAX)
            i = oldest;
        else
            k->nversions++;
        k->versions[i] = (struct inv_version){.version = version};
    }
    k->versions[i].signatures++;
    if (at > k->versions[i].last)
        k->versions[i].last = at;
}

/* A "sign", "pubkey" or "list" record. Under the lock. */
static void
inv_request(struct inventory *inv, int op, const json_t *rec, time_t at)
{
    const json_t *caller = json_object_get(rec, "caller");
    const char *name = json_string_value(json_object_get(rec, "identity"));
    const char *exe = json_string_value(json_object_get(caller, "exe"));
    json_t *uid = json_object_get(caller, "uid");
    int d = inv_decision(rec);
    size_t slot = inv_slot(inv, json_string_value(json_object_get(rec, "key")));
    struct inv_identity *id;
    struct inv_use *u;

    if (!json_is_object(caller) || !json_is_integer(uid) || exe == NULL) {
        inv->dropped++;
        return;
    }
    inv_latency(inv, op, rec);
    if (op == INVENTORY_SIGN && json_object_get(rec, "token_error") != NULL)
        inv->keys[slot].token_errors++;
    if (op == INVENTORY_SIGN && d == INVENTORY_ALLOWED)
        inv_signed(&inv->keys[slot], json_object_get(rec, "version"), at);
    id = inv_identity(inv, name, (uid_t)json_integer_value(uid), exe);
    if (id == NULL) {
        inv->dropped++;
        return;
    }
    if (id->uses[slot] == NULL &&
        (id->uses[slot] = calloc(1, sizeof(*u))) == NULL) {
        inv->dropped++;
        return;
    }
    u = id->uses[slot];
    u->total[op][d]++;
    inv_bump(u->minutes, INV_MINUTES, (uint32_t)(at / 60), d);
    inv_bump(u->hours, INV_HOURS, (uint32_t)(at / 3600), d);
    inv_bump(u->days, INV_DAYS, (uint32_t)(at / 86400), d);
    if (at > u->last)
        u->last = at;
    if (at > id->last)
        id->last = at;
    inv_seen(&id->exes, exe, at);
    inv_seen(&id->cgroups, json_string_value(json_object_get(caller, "cgroup")),
             at);
}

static void
inv_refused(struct inventory *inv, const json_t *rec)
{
    const char *err = json_string_value(json_object_get(rec, "error"));
    int code;

    for (code = 1; err != NULL && code <= INV_ERRORS_MAX; code++)
        if (strcmp(cust_err_name(-code), err) == 0)
            break;
    inv->refused[err != NULL && code <= INV_ERRORS_MAX ? code : 0]++;
}

void
inventory_add(struct inventory *inv, const json_t *rec, time_t at)
{
    const char *event = json_string_value(json_object_get(rec, "event"));
    const char *what;
    int op;

    if (event == NULL)
        return;
    for (op = 0; op < INVENTORY_OPS; op++)
        if (strcmp(event, inv_op_names[op]) == 0)
            break;
    pthread_mutex_lock(&inv->lock);
    if (op < INVENTORY_OPS) {
        inv_request(inv, op, rec, at);
    } else if (strcmp(event, "refused") == 0) {
        inv_refused(inv, rec);
    } else if (strcmp(event, "key-version") == 0) {
        what = json_string_value(json_object_get(rec, "transition"));
        if (what != NULL && strcmp(what, "activate") == 0)
            inv->keys[inv_slot(inv,
                               json_string_value(json_object_get(rec, "key")))]
                .rotations++;
    }
    pthread_mutex_unlock(&inv->lock);
}

/* "2026-12-03T19:55:26.910515Z" to UTC seconds; 0 if it is not that. */
static time_t
inv_parse_time(const char *s)
{
    struct tm tm = {0};
    const char *end;

    if (s == NULL)
        return 0;
    end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL || (*end != '.' && *end != 'Z'))
        return 0;
    return timegm(&tm);
}

struct inv_reader {
    struct inventory *inv;
    time_t from;   /* records before this are outside the horizon */
    uint64_t upto; /* records after this one are counted live */
    uint64_t counted;
    time_t oldest;
};

static int
inv_read_one(void *arg, const json_t *rec)
{
    struct inv_reader *r = arg;
    json_int_t seq = json_integer_value(json_object_get(rec, "seq"));
    time_t at = inv_parse_time(json_string_value(json_object_get(rec, "time")));

    if (atomic_load(&r->inv->stop) || (uint64_t)seq > r->upto)
        return 1;
    if (at >= r->from) {
        if (r->oldest == 0 || at < r->oldest)
            r->oldest = at;
        inventory_add(r->inv, rec, at);
        r->counted++;
    }
    return (uint64_t)seq == r->upto;
}

int
inventory_rebuild(struct inventory *inv, const char *path, time_t now,
                  uint64_t upto, struct inventory_rebuild *out)
{
    struct inv_reader r = {
        .inv = inv, .from = now - INVENTORY_HORIZON, .upto = upto};
    struct audit_verify_result res = {0};
    struct timespec t0, t1;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* XXX: the chain is checked from the first record though only 30
     * days count: millions of records take a core for tens of seconds. */
    if (upto > 0)
        rc = audit_read(path, inv_read_one, &r, &res);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc != 0 && rc != CUST_ERR_AUDIT)
        return rc;
    out->done = true;
    out->records = res.records;
    out->counted = r.counted;
    out->seconds =
        (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (rc == CUST_ERR_AUDIT) {
        out->broken = true;
        snprintf(out->where, sizeof(out->where), "line %llu: %s",
                 (unsigned long long)res.line, res.reason);
    }
    pthread_mutex_lock(&inv->lock);
    /* The log reaches back this far: an identity unused since then has
     * been unused at least that long. */
    if (res.records > 0)
        inv->since = r.oldest != 0 && r.oldest < now ? r.oldest : now;
    if (res.records > 0 && r.counted < res.records)
        inv->since = now - INVENTORY_HORIZON;
    inv->rebuild = *out;
    pthread_mutex_unlock(&inv->lock);
    return 0;
}

static void *
inv_rebuilder(void *arg)
{
    struct inventory *inv = arg;
    struct inventory_rebuild rb;
    int rc = inventory_rebuild(inv, inv->path, inv->now, inv->upto, &rb);

    if (inv->done != NULL)
        inv->done(inv->done_arg, rc, &rb);
    return NULL;
}

int
inventory_rebuild_start(struct inventory *inv, const char *path, time_t now,
                        uint64_t upto, inventory_rebuilt_fn done, void *arg)
{
    if ((inv->path = strdup(path)) == NULL)
        return CUST_ERR_NOMEM;
    inv->now = now;
    inv->upto = upto;
    inv->done = done;
    inv->done_arg = arg;
    if (pthread_create(&inv->thread, NULL, inv_rebuilder, inv) != 0)
        return CUST_ERR_INTERNAL;
    inv->threaded = true;
    return 0;
}

/* UTC seconds as RFC 3339, or JSON null for 0. */
static json_t *
inv_time(time_t t)
{
    char s[32];
    struct tm tm;

    if (t == 0 || gmtime_r(&t, &tm) == NULL)
        return json_null();
    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(s);
}

static json_t *
inv_counts(const uint64_t n[INVENTORY_DECISIONS])
{
    json_t *o = json_object();
    int d;

    for (d = 0; d < INVENTORY_DECISIONS; d++)
        json_object_set_new(o, inv_decision_names[d],
                            json_integer((json_int_t)n[d]));
    return o;
}

/* The three windows of U at NOW, added into W[0..2]. */
static void
inv_windows(const struct inv_use *u, time_t now,
            uint64_t w[3][INVENTORY_DECISIONS])
{
    inv_sum(u->minutes, INV_MINUTES, (uint32_t)(now / 60), w[0]);
    inv_sum(u->hours, INV_HOURS, (uint32_t)(now / 3600), w[1]);
    inv_sum(u->days, INV_DAYS, (uint32_t)(now / 86400), w[2]);
}

static json_t *
inv_windows_json(uint64_t w[3][INVENTORY_DECISIONS])
{
    return json_pack("{s:o, s:o, s:o}", "1h", inv_counts(w[0]), "24h",
                     inv_counts(w[1]), "30d", inv_counts(w[2]));
}

static json_t *
inv_seen_json(const struct inv_seen_list *l)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; i < l->n; i++)
        json_array_append_new(a, json_pack("{s:s, s:o, s:I}", "path",
                                           l->v[i].path, "last_used",
                                           inv_time(l->v[i].last), "requests",
                                           (json_int_t)l->v[i].requests));
    return a;
}

static json_t *
inv_use_json(const struct inventory *inv, size_t slot, const struct inv_use *u,
             time_t now)
{
    uint64_t w[3][INVENTORY_DECISIONS] = {{0}};
    json_t *totals = json_object();
    int op;

    inv_windows(u, now, w);
    for (op = 0; op < INVENTORY_OPS; op++)
        json_object_set_new(totals, inv_op_names[op], inv_counts(u->total[op]));
    return json_pack("{s:o, s:o, s:o, s:o}", "key",
                     slot == inv->nkeys + 1
                         ? json_null()
                         : json_string(inv_slot_name(inv, slot)),
                     "last_used", inv_time(u->last), "requests",
                     inv_windows_json(w), "totals", totals);
}

/* Whether ID is stale at NOW: unused for stale_after, as far as the
 * inventory can tell (it reaches back to inv->since). */
static bool
inv_stale(const struct inventory *inv, const struct inv_identity *id,
          time_t now)
{
    if (id->last != 0)
        return now - id->last >= inv->stale_after;
    return now - inv->since >= inv->stale_after;
}

static json_t *
inv_identity_json(const struct inventory *inv, const struct inv_identity *id,
                  time_t now)
{
    uint64_t w[3][INVENTORY_DECISIONS] = {{0}};
    json_t *o = json_object(), *keys = json_array();
    size_t s;

    for (s = 0; s < inv->nslots; s++) {
        if (id->uses[s] == NULL)
            continue;
        inv_windows(id->uses[s], now, w);
        json_array_append_new(keys, inv_use_json(inv, s, id->uses[s], now));
    }
    json_object_set_new(o, "identity",
                        id->name ? json_string(id->name) : json_null());
    if (id->name == NULL) {
        json_object_set_new(o, "uid",
                            id->uid == (uid_t)-1 ? json_null()
                                                 : json_integer(id->uid));
        json_object_set_new(o, "exe", json_string(id->exe));
    }
    json_object_set_new(o, "in_policy", json_boolean(id->in_policy));
    json_object_set_new(o, "expires", inv_time(id->expires));
    json_object_set_new(o, "expired",
                        json_boolean(id->expires != 0 && now >= id->expires));
    json_object_set_new(o, "stale", json_boolean(inv_stale(inv, id, now)));
    json_object_set_new(o, "last_used", inv_time(id->last));
    json_object_set_new(o, "requests", inv_windows_json(w));
    json_object_set_new(o, "keys", keys);
    json_object_set_new(o, "executables", inv_seen_json(&id->exes));
    json_object_set_new(o, "executables_not_kept",
                        json_integer((json_int_t)id->exes.dropped));
    json_object_set_new(o, "cgroups", inv_seen_json(&id->cgroups));
    json_object_set_new(o, "cgroups_not_kept",
                        json_integer((json_int_t)id->cgroups.dropped));
    return o;
}

/* The identities that made requests for key SLOT, with their allowed
 * signatures. */
static json_t *
inv_key_users(const struct inventory *inv, size_t slot)
{
    const struct inv_identity *id;
    json_t *a = json_array(), *o;
    size_t i;

    for (i = 0; i < inv->nids; i++) {
        id = &inv->ids[i];
        if (id->uses[slot] == NULL)
            continue;
        o = json_pack("{s:o, s:I}", "identity",
                      id->name ? json_string(id->name) : json_null(),
                      "signatures",
                      (json_int_t)id->uses[slot]
                          ->total[INVENTORY_SIGN][INVENTORY_ALLOWED]);
        if (id->name == NULL) {
            json_object_set_new(o, "uid",
                                id->uid == (uid_t)-1 ? json_null()
                                                     : json_integer(id->uid));
            json_object_set_new(o, "exe", json_string(id->exe));
        }
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *
inv_key_json(const struct inventory *inv, size_t slot)
{
    const struct inv_key *k = &inv->keys[slot];
    json_t *versions = json_array();
    size_t i;

    for (i = 0; i < k->nversions; i++)
        json_array_append_new(
            versions,
            json_pack("{s:i, s:I, s:o}", "version", (int)k->versions[i].version,
                      "signatures", (json_int_t)k->versions[i].signatures,
                      "last_used", inv_time(k->versions[i].last)));
    return json_pack(
        "{s:s, s:o, s:o, s:o, s:I, s:I}", "key", inv_slot_name(inv, slot),
        "last_used", inv_time(k->last), "versions", versions, "identities",
        inv_key_users(inv, slot), "rotations", (json_int_t)k->rotations,
        "token_errors", (json_int_t)k->token_errors);
}

json_t *
inventory_json(struct inventory *inv, time_t now)
{
    json_t *doc, *ids = json_array(), *keys = json_array();
    size_t i;

    pthread_mutex_lock(&inv->lock);
    for (i = 0; i < inv->nids; i++)
        json_array_append_new(ids, inv_identity_json(inv, &inv->ids[i], now));
    for (i = 0; i <= inv->nkeys; i++)
        json_array_append_new(keys, inv_key_json(inv, i));
    doc = json_pack(
        "{s:o, s:o, s:I, s:o, s:o, s:I, s:{s:b, s:I, s:I, s:f, s:o}}",
        "generated", inv_time(now), "since", inv_time(inv->since),
        "stale_after_seconds", (json_int_t)inv->stale_after, "identities", ids,
        "keys", keys, "records_not_counted", (json_int_t)inv->dropped,
        "rebuild", "done", (int)inv->rebuild.done, "records",
        (json_int_t)inv->rebuild.records, "counted",
        (json_int_t)inv->rebuild.counted, "seconds", inv->rebuild.seconds,
        "broken",
        inv->rebuild.broken ? json_string(inv->rebuild.where) : json_null());
    pthread_mutex_unlock(&inv->lock);
    return doc;
}

/* The identity's label: its name, or "(none)" for a stranger. */
static const char *
inv_label(const struct inv_identity *id)
{
    return id->name != NULL ? id->name : "(none)";
}

/* The totals of identity ID for key SLOT into SUM, and of every caller
 * that matched no identity when ID is the first of them: an executable
 * path is no label to keep, so they share the label "(none)". */
static bool
inv_totals(const struct inventory *inv, size_t i, size_t slot,
           uint64_t sum[INVENTORY_OPS][INVENTORY_DECISIONS])
{
    const struct inv_identity *id = &inv->ids[i];
    bool any = false;
    size_t j;
    int op, d;

    memset(sum, 0, sizeof(uint64_t) * INVENTORY_OPS * INVENTORY_DECISIONS);
    for (j = i; j < inv->nids; j++) {
        if (j > i && (id->name != NULL || inv->ids[j].name != NULL))
            continue;
        if (inv->ids[j].uses[slot] == NULL)
            continue;
        any = true;
        for (op = 0; op < INVENTORY_OPS; op++)
            for (d = 0; d < INVENTORY_DECISIONS; d++)
                sum[op][d] += inv->ids[j].uses[slot]->total[op][d];
    }
    return any;
}

/* The first identity entry that stands for the label of entry I. */
static bool
inv_first_of_label(const struct inventory *inv, size_t i)
{
    size_t j;

    if (inv->ids[i].name != NULL)
        return true;
    for (j = 0; j < i; j++)
        if (inv->ids[j].name == NULL)
            return false;
    return true;
}

static void
inv_metrics_requests(const struct inventory *inv, FILE *f)
{
    uint64_t sum[INVENTORY_OPS][INVENTORY_DECISIONS];
    char labels[METRICS_LABELS_MAX];
    size_t i, s;
    int op, d;

    /* XXX: these restart from the log's last 30 days at each start, so a
     * counter can fall across a restart (Prometheus sees a reset). */
    metrics_family(f, "custodian_requests_total", "counter",
                   "Requests decided, by identity, key, operation and "
                   "decision, since the oldest audit record counted");
    for (i = 0; i < inv->nids; i++) {
        if (!inv_first_of_label(inv, i))
            continue;
        for (s = 0; s < inv->nslots; s++) {
            if (!inv_totals(inv, i, s, sum))
                continue;
            for (op = 0; op < INVENTORY_OPS; op++)
                for (d = 0; d < INVENTORY_DECISIONS; d++) {
                    if (sum[op][d] == 0)
                        continue;
                    metrics_labels(labels, sizeof(labels), "identity",
                                   inv_label(&inv->ids[i]), "key",
                                   inv_slot_name(inv, s), "operation",
                                   inv_op_names[op], "decision",
                                   inv_decision_names[d], NULL);
                    metrics_sample(f, "custodian_requests_total", labels,
                                   (double)sum[op][d]);
                }
        }
    }
}

static void
inv_metrics_latency(const struct inventory *inv, FILE *f)
{
    char labels[METRICS_LABELS_MAX], le[32];
    uint64_t cum;
    size_t i;
    int op;

    metrics_family(f, "custodian_request_duration_seconds", "histogram",
                   "Time from a request's arrival to its audit record, by "
                   "operation");
    for (op = 0; op < INVENTORY_OPS; op++) {
        cum = 0;
        for (i = 0; i <= INV_LATENCY_BUCKETS; i++) {
            cum += inv->latency[op][i];
            if (i < INV_LATENCY_BUCKETS)
                snprintf(le, sizeof(le), "%g", inv_latency_bounds[i]);
            else
                snprintf(le, sizeof(le), "+Inf");
            metrics_labels(labels, sizeof(labels), "operation",
                           inv_op_names[op], "le", le, NULL);
            metrics_sample(f, "custodian_request_duration_seconds_bucket",
                           labels, (double)cum);
        }
        metrics_labels(labels, sizeof(labels), "operation", inv_op_names[op],
                       NULL);
        metrics_sample(f, "custodian_request_duration_seconds_sum", labels,
                       inv->latency_sum[op]);
        metrics_sample(f, "custodian_request_duration_seconds_count", labels,
                       (double)cum);
    }
}

static void
inv_metrics_keys(const struct inventory *inv, FILE *f)
{
    char labels[METRICS_LABELS_MAX], v[16];
    const struct inv_key *k;
    size_t s, i;

    metrics_family(f, "custodian_signatures_total", "counter",
                   "Signatures released, by key and version");
    for (s = 0; s < inv->nkeys; s++)
        for (k = &inv->keys[s], i = 0; i < k->nversions; i++) {
            snprintf(v, sizeof(v), "%u", k->versions[i].version);
            metrics_labels(labels, sizeof(labels), "key", k->name, "version", v,
                           NULL);
            metrics_sample(f, "custodian_signatures_total", labels,
                           (double)k->versions[i].signatures);
        }
    metrics_family(f, "custodian_token_errors_total", "counter",
                   "Signatures the token failed to make, by key");
    for (s = 0; s < inv->nkeys; s++) {
        metrics_labels(labels, sizeof(labels), "key", inv->keys[s].name, NULL);
        metrics_sample(f, "custodian_token_errors_total", labels,
                       (double)inv->keys[s].token_errors);
    }
    metrics_family(f, "custodian_key_rotations_total", "counter",
                   "Versions made active, by key");
    for (s = 0; s < inv->nkeys; s++) {
        metrics_labels(labels, sizeof(labels), "key", inv->keys[s].name, NULL);
        metrics_sample(f, "custodian_key_rotations_total", labels,
                       (double)inv->keys[s].rotations);
    }
    metrics_family(f, "custodian_key_last_used_timestamp_seconds", "gauge",
                   "When a key last released a signature (UTC epoch)");
    for (s = 0; s < inv->nkeys; s++) {
        if (inv->keys[s].last == 0)
            continue;
        metrics_labels(labels, sizeof(labels), "key", inv->keys[s].name, NULL);
        metrics_sample(f, "custodian_key_last_used_timestamp_seconds", labels,
                       (double)inv->keys[s].last);
    }
}

static void
inv_metrics_identities(const struct inventory *inv, time_t now, FILE *f)
{
    char labels[METRICS_LABELS_MAX];
    const struct inv_identity *id;
    size_t i;

    metrics_family(f, "custodian_identity_last_used_timestamp_seconds", "gauge",
                   "When an identity of the policy last made a request (UTC "
                   "epoch)");
    for (i = 0; i < inv->nids; i++) {
        id = &inv->ids[i];
        if (id->name == NULL || id->last == 0)
            continue;
        metrics_labels(labels, sizeof(labels), "identity", id->name, NULL);
        metrics_sample(f, "custodian_identity_last_used_timestamp_seconds",
                       labels, (double)id->last);
    }
    metrics_family(f, "custodian_identity_stale", "gauge",
                   "1 for an identity of the policy unused for the "
                   "inventory's stale_after");
    for (i = 0; i < inv->nids; i++) {
        id = &inv->ids[i];
        if (id->name == NULL || !id->in_policy)
            continue;
        metrics_labels(labels, sizeof(labels), "identity", id->name, NULL);
        metrics_sample(f, "custodian_identity_stale", labels,
                       inv_stale(inv, id, now) ? 1 : 0);
    }
    metrics_family(f, "custodian_identity_expiry_timestamp_seconds", "gauge",
                   "When an identity of the policy expires (UTC epoch)");
    for (i = 0; i < inv->nids; i++) {
        id = &inv->ids[i];
        if (id->name == NULL || !id->in_policy || id->expires == 0)
            continue;
        metrics_labels(labels, sizeof(labels), "identity", id->name, NULL);
        metrics_sample(f, "custodian_identity_expiry_timestamp_seconds", labels,
                       (double)id->expires);
    }
}

static void
inv_metrics_refused(const struct inventory *inv, FILE *f)
{
    char labels[METRICS_LABELS_MAX];
    int code;

    metrics_family(f, "custodian_refused_frames_total", "counter",
                   "Frames refused before any decision, by error");
    for (code = 0; code <= INV_ERRORS_MAX; code++) {
        if (inv->refused[code] == 0)
            continue;
        metrics_labels(labels, sizeof(labels), "error",
                       code == 0 ? "unknown" : cust_err_name(-code), NULL);
        metrics_sample(f, "custodian_refused_frames_total", labels,
                       (double)inv->refused[code]);
    }
}

int
inventory_metrics(struct inventory *inv, time_t now, FILE *f)
{
    pthread_mutex_lock(&inv->lock);
    inv_metrics_requests(inv, f);
    inv_metrics_latency(inv, f);
    inv_metrics_keys(inv, f);
    inv_metrics_identities(inv, now, f);
    inv_metrics_refused(inv, f);
    metrics_family(f, "custodian_inventory_rebuild_seconds", "gauge",
                   "Time the start-up reading of the audit log took");
    metrics_sample(f, "custodian_inventory_rebuild_seconds", NULL,
                   inv->rebuild.seconds);
    metrics_family(f, "custodian_inventory_rebuild_records", "gauge",
                   "Audit records read at start-up");
    metrics_sample(f, "custodian_inventory_rebuild_records", NULL,
                   (double)inv->rebuild.records);
    pthread_mutex_unlock(&inv->lock);
    return ferror(f) ? CUST_ERR_IO : 0;
}

/* Whether PATH is in L. */
static bool
inv_seen_has(const struct inv_seen_list *l, const char *path)
{
    size_t i;

    for (i = 0; path != NULL && i < l->n; i++)
        if (strcmp(l->v[i].path, path) == 0)
            return true;
    return false;
}

/* Counts bucket B, which starts at START, into profile P: in P->minute
 * if it is NOW's minute, else in P->before and P->since. */
static void
inv_profile_bucket(struct inventory_profile *p, const struct inv_bucket *b,
                   bool now_minute, time_t start)
{
    uint64_t n = 0;
    int d;

    for (d = 0; d < INVENTORY_DECISIONS; d++)
        n += b->n[d];
    if (n == 0)
        return;
    if (now_minute) {
        p->minute += n;
        return;
    }
    p->before += n;
    if (p->since == 0 || start < p->since)
        p->since = start;
}

void
inventory_profile(struct inventory *inv, const char *identity, const char *key,
                  const char *exe, const char *cgroup, time_t now,
                  struct inventory_profile *out)
{
    uint32_t minute = (uint32_t)(now / 60), hour = (uint32_t)(now / 3600);
    const struct inv_bucket *b;
    const struct inv_use *u;
    struct inv_identity *id;
    size_t s, i;
    int d, op;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&inv->lock);
    out->ready = inv->rebuild.done;
    id = inv_named(inv, identity);
    if (id != NULL) {
        out->known = id->last != 0;
        out->stale = inv_stale(inv, id, now);
        out->exe_seen = inv_seen_has(&id->exes, exe);
        out->exe_full = id->exes.n == INVENTORY_SEEN_MAX;
        out->cgroup_seen = inv_seen_has(&id->cgroups, cgroup);
        out->cgroup_full = id->cgroups.n == INVENTORY_SEEN_MAX;
        u = key != NULL ? id->uses[inv_slot(inv, key)] : NULL;
        for (op = 0; u != NULL && op < INVENTORY_OPS; op++)
            out->key_used |= u->total[op][INVENTORY_ALLOWED] > 0;
    }
    for (s = 0; id != NULL && s < inv->nslots; s++) {
        if ((u = id->uses[s]) == NULL)
            continue;
        /* This hour by the minute, the 23 before it by the hour. */
        for (i = 0; i < INV_MINUTES; i++) {
            b = &u->minutes[i];
            if (b->slot == 0 || b->slot > minute || b->slot / 60 != minute / 60)
                continue;
            inv_profile_bucket(out, b, b->slot == minute, (time_t)b->slot * 60);
            for (d = 0; b->slot + 5 > minute && d < INVENTORY_DECISIONS; d++)
                out->refused_5min += d != INVENTORY_ALLOWED ? b->n[d] : 0;
        }
        for (i = 0; i < INV_HOURS; i++) {
            b = &u->hours[i];
            if (b->slot == 0 || b->slot >= hour || b->slot + INV_HOURS <= hour)
                continue;
            inv_profile_bucket(out, b, false, (time_t)b->slot * 3600);
        }
        /* Refusals of the minutes before this hour's first. */
        for (i = 0; minute % 60 < 4 && i < INV_MINUTES; i++) {
            b = &u->minutes[i];
            if (b->slot == 0 || b->slot / 60 == minute / 60 ||
                b->slot + 5 <= minute)
                continue;
            for (d = 0; d < INVENTORY_DECISIONS; d++)
                out->refused_5min += d != INVENTORY_ALLOWED ? b->n[d] : 0;
        }
    }
    pthread_mutex_unlock(&inv->lock);
}
