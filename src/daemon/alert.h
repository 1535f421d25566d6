/*
 * Anomaly alerts: a signing request that is unusual for its identity,
 * judged against what the inventory knows of the identity's past: a rate
 * far above its own mean, an executable, cgroup or key it has not used
 * before, use after it went stale, repeated refusals. The judging is
 * pure; recording, logging and suspending are the caller's.
 */
#ifndef CUSTODIAN_ALERT_H
#define CUSTODIAN_ALERT_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "conf.h"
#include "inventory.h"

enum alert_kind {
    ALERT_RATE,       /* a minute far above the identity's mean */
    ALERT_NEW_EXE,    /* an executable it has not called from before */
    ALERT_NEW_CGROUP, /* a cgroup it has not called from before */
    ALERT_NEW_KEY,    /* a key it has not used before */
    ALERT_STALE_USE,  /* a request after it went stale */
    ALERT_DENIALS,    /* many refusals in 5 minutes */
    ALERT_KINDS
};

/* One alert that fired: its kind and, in words, what was seen. */
struct alert_fired {
    enum alert_kind kind;
    char detail[200];
};

/* What alert_judge() looks at. */
struct alert_request {
    const char *identity; /* the identity the policy matched */
    const char *key;      /* the key asked for */
    const char *exe;      /* as the audit record writes them */
    const char *cgroup;
    int result; /* the policy's decision: 0 or an error */
};

struct alert;

/* A new alert state; CUST_ERR_NOMEM. */
int alert_new(struct alert **out);
void alert_free(struct alert *a);

/* "rate", "new-exe", "new-cgroup", "new-key", "stale-use", "denials". */
const char *alert_kind_name(enum alert_kind k);

/*
 * Judges request R at NOW against profile P of its identity (from
 * inventory_profile(), taken before R is counted) by the thresholds of
 * CFG; fills OUT with the alerts that fire and returns how many. An alert
 * of a kind does not fire again for the same identity within a quiet
 * time (10 minutes; for a new executable, cgroup or key, an hour for the
 * same one), so a burst makes one alert, not thousands. Nothing fires
 * while the inventory is still reading the log at start, nor for an
 * identity with no history (its first requests are its baseline), nor for
 * a request refused as suspended. Thread-safe.
 */
size_t alert_judge(struct alert *a, const struct conf_alerts *cfg,
                   const struct alert_request *r,
                   const struct inventory_profile *p, time_t now,
                   struct alert_fired out[ALERT_KINDS]);

/* Writes custodian_alerts_total, by identity and kind, to F. */
void alert_metrics(struct alert *a, FILE *f);

#endif
