/*
 * The identity inventory: who has used which key, how often, how
 * recently, from which executables and cgroups; and per key, when it was
 * last used, how many signatures each version made and by whom.
 *
 * It is fed audit records, the very objects the daemon writes to the
 * audit log, once each is durable (inventory_add()); at start it is
 * rebuilt by reading the log's last INVENTORY_HORIZON seconds through
 * the audit module's own reader (inventory_rebuild()). It needs no state
 * file of its own, and after a restart it says what the log says.
 *
 * Counts are kept in rings of buckets, so that memory does not grow with
 * traffic: per identity and key, 60 one-minute buckets (the last hour),
 * 24 one-hour buckets (the last day) and 30 one-day buckets (the last 30
 * days, to the UTC day), each with one counter per decision. One pair of
 * identity and key costs about 3 KiB; see INVENTORY_*_MAX for the bounds.
 *
 * Every function is thread-safe: one mutex guards the whole inventory
 * and is held only to update or copy counters. Nothing here blocks on
 * I/O except inventory_rebuild() (which inventory_rebuild_start() runs on
 * a thread of its own), and nothing logs.
 */
#ifndef CUSTODIAN_INVENTORY_H
#define CUSTODIAN_INVENTORY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#include "conf.h"

/* How far back the inventory looks: the longest window, 30 days. */
#define INVENTORY_HORIZON (30L * 86400)

/* Callers that matched no identity, kept apart by uid and executable;
 * past this many, the rest share one entry. */
#define INVENTORY_STRANGERS_MAX 256

/* Identity names kept (those of the policy, and names that appear in the
 * log from an earlier policy); past this, records of further names are
 * counted only in the totals of inventory_json()'s "dropped". */
#define INVENTORY_IDENTITIES_MAX 4096

/* Executables and cgroups kept per identity; the rest are counted. */
#define INVENTORY_SEEN_MAX 16

/* Versions counted per key: the newest ones. */
#define INVENTORY_VERSIONS_MAX 64

/* What became of a request, as the inventory and the metrics count it. */
enum inventory_decision {
    INVENTORY_ALLOWED,      /* answered with what was asked */
    INVENTORY_DENIED,       /* CUST_ERR_DENIED, _KEY_NOT_FOUND, _SUSPENDED */
    INVENTORY_RATE_LIMITED, /* CUST_ERR_RATE_LIMITED */
    INVENTORY_EXPIRED,      /* CUST_ERR_EXPIRED */
    INVENTORY_ERROR,        /* any other error, or never released */
    INVENTORY_DECISIONS
};

/* The requests the inventory counts. */
enum inventory_op {
    INVENTORY_SIGN,
    INVENTORY_PUBKEY,
    INVENTORY_LIST,
    INVENTORY_OPS
};

struct inventory;

/* How a rebuild went. */
struct inventory_rebuild {
    bool done;        /* the reading has finished */
    uint64_t records; /* records read, all of them */
    uint64_t counted; /* of which inside the horizon and counted */
    double seconds;   /* wall time it took */
    bool broken;      /* the chain broke: counted up to the break only */
    char where[160];  /* when broken: "LINE: seq S: REASON" */
};

/*
 * A new, empty inventory for the keys and identities of CONF, marking an
 * identity stale once it has not been used for STALE_AFTER seconds
 * (conf->inventory_stale_after). CONF is copied from, not kept.
 * Returns 0 and *OUT (free with inventory_free()), or CUST_ERR_NOMEM.
 */
int inventory_new(const struct conf *conf, time_t now, struct inventory **out);

/* Stops a rebuild still running, then frees INV; accepts NULL. */
void inventory_free(struct inventory *inv);

/*
 * Takes the identities of a reloaded CONF: their expiry, and which names
 * are in the policy now. Counts are kept; the keys cannot change on a
 * reload and are not looked at.
 */
void inventory_set_policy(struct inventory *inv, const struct conf *conf);

/*
 * Counts one audit record REC written at AT (UTC seconds): "sign",
 * "pubkey" and "list" records by identity, key and decision; "refused"
 * by error; "key-version" activations as rotations. Anything else is
 * ignored, and so is a record whose fields are not what the daemon
 * writes. Cheap: a few lookups in REC and counter updates under the
 * lock. REC is borrowed.
 */
void inventory_add(struct inventory *inv, const json_t *rec, time_t at);

/*
 * Reads the audit log at PATH, checking its chain as `custodianctl audit
 * verify` does, up to the record with seq UPTO (which must be durable:
 * audit_opened_seq()), and counts every record of the last
 * INVENTORY_HORIZON seconds before NOW. A broken chain stops the reading
 * at the break; what came before it is kept and *OUT says where. Records
 * added meanwhile by inventory_add() are counted as well: UPTO keeps the
 * two apart. Blocks on the disk. Returns 0 (*OUT filled), or CUST_ERR_IO
 * when the file cannot be read.
 */
int inventory_rebuild(struct inventory *inv, const char *path, time_t now,
                      uint64_t upto, struct inventory_rebuild *out);

/* Called once, on the rebuilding thread, when it is done. */
typedef void (*inventory_rebuilt_fn)(void *arg, int rc,
                                     const struct inventory_rebuild *rb);

/*
 * Runs inventory_rebuild() on a thread of its own, so that the daemon
 * serves while it reads, and calls DONE (may be NULL) with the outcome.
 * Until then the inventory's document says it is not done, and its
 * counts lack what the log holds. inventory_free() stops it. Returns 0,
 * or CUST_ERR_NOMEM, CUST_ERR_INTERNAL (no thread).
 */
int inventory_rebuild_start(struct inventory *inv, const char *path, time_t now,
                            uint64_t upto, inventory_rebuilt_fn done,
                            void *arg);

/*
 * The inventory at NOW as a JSON document (docs/operations.md): every
 * identity with its windows, keys, executables and cgroups, stale and
 * expiry; every key with its last use, signatures per version and the
 * identities that used it. Returns a new reference, or NULL (no memory).
 */
json_t *inventory_json(struct inventory *inv, time_t now);

/*
 * Writes the inventory's metric families to F in Prometheus text format
 * (custodian_requests_total, custodian_request_duration_seconds, ...;
 * see docs/operations.md). Returns 0 or CUST_ERR_IO.
 */
int inventory_metrics(struct inventory *inv, time_t now, FILE *f);

/* What the inventory knows of one identity, for the anomaly alerts. */
struct inventory_profile {
    bool ready;       /* the start-up reading of the log is done */
    bool known;       /* the identity made a request within the horizon */
    bool stale;       /* unused for stale_after */
    bool exe_seen;    /* EXE is among its executables */
    bool exe_full;    /* its list of executables is full: EXE may be old */
    bool cgroup_seen; /* the same for CGROUP */
    bool cgroup_full;
    bool key_used;         /* a request of it for KEY was allowed */
    uint64_t minute;       /* its requests in the minute of NOW */
    uint64_t before;       /* its requests in the 24 hours before that minute */
    time_t since;          /* the start of the oldest hour or minute of those;
                              0 if none */
    uint64_t refused_5min; /* of its requests in the last 5 minutes, those
                              not allowed */
};

/*
 * Fills *OUT with what INV knows at NOW of identity IDENTITY, and of its
 * use of KEY (may be NULL), EXE and CGROUP (as the audit record writes
 * them), under one hold of the lock.
 */
void inventory_profile(struct inventory *inv, const char *identity,
                       const char *key, const char *exe, const char *cgroup,
                       time_t now, struct inventory_profile *out);

#endif
