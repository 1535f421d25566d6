/*
 * Anomaly alerts. Each identity keeps, per kind, when its alert last
 * fired, and for new executables, cgroups and keys the last few it was
 * alerted for: the inventory counts a request only once its record is
 * durable, and a burst from one new executable must make one alert.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "custodian/error.h"
#include "metrics.h"

/* Quiet times: how long an alert of a kind stays quiet once fired. */
#define ALERT_QUIET      600  /* rate, stale use, denials */
#define ALERT_QUIET_SAME 3600 /* the same new executable, cgroup or key */

/* New things remembered per identity and kind. */
#define ALERT_RECENT 8

/* Identities tracked; past this, the rest share no state and their
 * alerts are not held back by quiet times. */
#define ALERT_IDENTITIES_MAX 4096

struct alert_recent {
    char *what;
    time_t at;
};

struct alert_identity {
    char *name;
    time_t last[ALERT_KINDS];    /* when each kind last fired; 0 never */
    uint64_t fired[ALERT_KINDS]; /* since the start */
    struct alert_recent recent[ALERT_KINDS][ALERT_RECENT];
};

struct alert {
    pthread_mutex_t lock;
    struct alert_identity *ids;
    size_t n, cap;
};

static const char *const alert_names[ALERT_KINDS] = {
    [ALERT_RATE] = "rate",
    [ALERT_NEW_EXE] = "new-exe",
    [ALERT_NEW_CGROUP] = "new-cgroup",
    [ALERT_NEW_KEY] = "new-key",
    [ALERT_STALE_USE] = "stale-use",
    [ALERT_DENIALS] = "denials",
};

const char *
alert_kind_name(enum alert_kind k)
{
    return k < ALERT_KINDS ? alert_names[k] : "unknown";
}

int
alert_new(struct alert **out)
{
    struct alert *a = calloc(1, sizeof(*a));

    if (a == NULL)
        return CUST_ERR_NOMEM;
    pthread_mutex_init(&a->lock, NULL);
    *out = a;
    return 0;
}

void
alert_free(struct alert *a)
{
    size_t i;
    int k, j;

    if (a == NULL)
        return;
    for (i = 0; i < a->n; i++) {
        for (k = 0; k < ALERT_KINDS; k++)
            for (j = 0; j < ALERT_RECENT; j++)
                free(a->ids[i].recent[k][j].what);
        free(a->ids[i].name);
    }
    free(a->ids);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

/* The state of identity NAME, made on first use; NULL past the bound or
 * out of memory. Called with the lock held. */
static struct alert_identity *
alert_identity(struct alert *a, const char *name)
{
    struct alert_identity *ids;
    size_t i;

    for (i = 0; i < a->n; i++)
        if (strcmp(a->ids[i].name, name) == 0)
            return &a->ids[i];
    if (a->n == ALERT_IDENTITIES_MAX)
        return NULL;
    if (a->n == a->cap) {
        ids = realloc(a->ids, (a->cap ? a->cap * 2 : 16) * sizeof(*ids));
        if (ids == NULL)
            return NULL;
        a->ids = ids;
        a->cap = a->cap ? a->cap * 2 : 16;
    }
    memset(&a->ids[a->n], 0, sizeof(a->ids[a->n]));
    if ((a->ids[a->n].name = strdup(name)) == NULL)
        return NULL;
    return &a->ids[a->n++];
}

/* Whether kind K of ID may fire at NOW: quiet for ALERT_QUIET after it
 * last did. ID NULL (untracked) always may. */
static bool
alert_quiet_over(const struct alert_identity *id, enum alert_kind k, time_t now)
{
    return id == NULL || id->last[k] == 0 || now - id->last[k] >= ALERT_QUIET;
}

/* Whether WHAT was alerted as new for ID within the last hour; if not,
 * remembers it now (in place of the oldest). */
static bool
alert_recently_new(struct alert_identity *id, enum alert_kind k,
                   const char *what, time_t now)
{
    struct alert_recent *r, *oldest;
    int j;

    if (id == NULL)
        return false;
    oldest = &id->recent[k][0];
    for (j = 0; j < ALERT_RECENT; j++) {
        r = &id->recent[k][j];
        if (r->what != NULL && strcmp(r->what, what) == 0 &&
            now - r->at < ALERT_QUIET_SAME)
            return true;
        if (r->what == NULL || r->at < oldest->at)
            oldest = r;
    }
    free(oldest->what);
    oldest->what = strdup(what);
    oldest->at = now;
    return false;
}

/* Adds an alert of kind K with DETAIL to OUT[*N], and notes it. */
static void alert_fire(struct alert_identity *id, enum alert_kind k, time_t now,
                       struct alert_fired *out, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void
alert_fire(struct alert_identity *id, enum alert_kind k, time_t now,
           struct alert_fired *out, size_t *n, const char *fmt, ...)
{
    va_list ap;

    out[*n].kind = k;
    va_start(ap, fmt);
    vsnprintf(out[*n].detail, sizeof(out[*n].detail), fmt, ap);
    va_end(ap);
    (*n)++;
    if (id != NULL) {
        id->last[k] = now;
        id->fired[k]++;
    }
}

/* Whether THING, new to the identity by P, makes a new alert. */
static bool
alert_new_thing(struct alert_identity *id, enum alert_kind k, const char *thing,
                bool seen, bool full, time_t now)
{
    /* A full list cannot tell new from old: no alert rather than one
     * on every request. */
    return thing != NULL && thing[0] != '\0' && !seen && !full &&
           !alert_recently_new(id, k, thing, now);
}

size_t
alert_judge(struct alert *a, const struct conf_alerts *cfg,
            const struct alert_request *r, const struct inventory_profile *p,
            time_t now, struct alert_fired out[ALERT_KINDS])
{
    struct alert_identity *id;
    time_t minute = now - now % 60, history;
    uint64_t current = p->minute + 1, refused = p->refused_5min + 1;
    double mean;
    size_t n = 0;

    if (!p->ready || r->result == CUST_ERR_SUSPENDED)
        return 0;
    pthread_mutex_lock(&a->lock);
    id = alert_identity(a, r->identity);
    if (p->stale && alert_quiet_over(id, ALERT_STALE_USE, now))
        alert_fire(id, ALERT_STALE_USE, now, out, &n,
                   "a request after it went unused for longer than "
                   "inventory.stale_after");
    if (r->result != 0 && refused >= cfg->denials &&
        alert_quiet_over(id, ALERT_DENIALS, now))
        alert_fire(id, ALERT_DENIALS, now, out, &n,
                   "%llu requests refused within 5 minutes",
                   (unsigned long long)refused);
    /* The rest compare with the identity's past: none yet, nothing new. */
    if (!p->known) {
        pthread_mutex_unlock(&a->lock);
        return n;
    }
    if (alert_new_thing(id, ALERT_NEW_EXE, r->exe, p->exe_seen, p->exe_full,
                        now))
        alert_fire(id, ALERT_NEW_EXE, now, out, &n,
                   "a request from executable %.160s, not seen before", r->exe);
    if (alert_new_thing(id, ALERT_NEW_CGROUP, r->cgroup, p->cgroup_seen,
                        p->cgroup_full, now))
        alert_fire(id, ALERT_NEW_CGROUP, now, out, &n,
                   "a request from cgroup %.160s, not seen before", r->cgroup);
    if (alert_new_thing(id, ALERT_NEW_KEY, r->key, p->key_used, false, now))
        alert_fire(id, ALERT_NEW_KEY, now, out, &n,
                   "a request for key %.64s, which it has not used before",
                   r->key);
    history = p->since != 0 ? minute - p->since : 0;
    mean = history >= 60 ? (double)p->before / (double)(history / 60) : 0;
    if ((unsigned long)history >= cfg->rate_after && current >= cfg->rate_min &&
        (double)current > cfg->rate_factor * mean &&
        alert_quiet_over(id, ALERT_RATE, now))
        alert_fire(id, ALERT_RATE, now, out, &n,
                   "%llu requests this minute, against a mean of %.1f a "
                   "minute",
                   (unsigned long long)current, mean);
    pthread_mutex_unlock(&a->lock);
    return n;
}

void
alert_metrics(struct alert *a, FILE *f)
{
    char labels[METRICS_LABELS_MAX];
    size_t i;
    int k;

    metrics_family(f, "custodian_alerts_total", "counter",
                   "Anomaly alerts raised since the daemon started, by "
                   "identity and kind");
    pthread_mutex_lock(&a->lock);
    for (i = 0; i < a->n; i++)
        for (k = 0; k < ALERT_KINDS; k++) {
            if (a->ids[i].fired[k] == 0)
                continue;
            metrics_labels(labels, sizeof(labels), "identity", a->ids[i].name,
                           "kind", alert_names[k], NULL);
            metrics_sample(f, "custodian_alerts_total", labels,
                           (double)a->ids[i].fired[k]);
        }
    pthread_mutex_unlock(&a->lock);
}
