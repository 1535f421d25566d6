/*
 * Metrics in the Prometheus text exposition format (version 0.0.4): the
 * writing of families, label sets and samples with the format's escaping,
 * the daemon-wide gauges and counters, and a thread that writes the whole
 * text to a file for node_exporter's textfile collector, replacing it in
 * one step (a temporary file renamed over it).
 *
 * The text writers write to a FILE (an open_memstream() in the daemon)
 * and do not log. See docs/operations.md for every metric.
 */
#ifndef CUSTODIAN_METRICS_H
#define CUSTODIAN_METRICS_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "audit.h"

/* Room for one label set, "{...}" and its NUL. */
#define METRICS_LABELS_MAX 640

/* Largest text the daemon serves or writes; more is refused. */
#define METRICS_TEXT_MAX (16 * 1024 * 1024)

/* The "# HELP" and "# TYPE" lines of family NAME (TYPE "counter",
 * "gauge" or "histogram"). */
void metrics_family(FILE *f, const char *name, const char *type,
                    const char *help);

/*
 * Writes the label set of the NULL-terminated name, value pairs after
 * OUT and LEN into OUT as {a="x",b="y"}, each value escaped as the
 * format asks (backslash, double quote, line feed); a value that does
 * not fit is cut. An empty list gives "".
 */
void metrics_labels(char *out, size_t len, ...);

/* One sample line: NAME, LABELS (from metrics_labels(), or NULL) and
 * VALUE. */
void metrics_sample(FILE *f, const char *name, const char *labels,
                    double value);

/* A configured key as the metrics see it. */
struct metrics_key {
    const char *name;
    uint32_t active;    /* active version; 0: none */
    time_t next_change; /* when the next version is due active; 0: none */
};

/* The daemon's own state, for metrics_daemon(). */
struct metrics_state {
    unsigned connections;
    unsigned inflight;
    int degraded;
    time_t started;
    struct audit_stats audit;
    const struct metrics_key *keys;
    size_t nkeys;
};

/* Writes the daemon-wide families of ST to F. */
void metrics_daemon(FILE *f, const struct metrics_state *st);

struct metrics_textfile;

/*
 * Starts the thread that writes posted texts to PATH. Returns 0 and
 * *OUT, or CUST_ERR_NOMEM, CUST_ERR_INTERNAL (no thread).
 */
int metrics_textfile_start(const char *path, struct metrics_textfile **out);

/*
 * Hands TEXT (LEN bytes, copied) to the writer thread and returns at
 * once: a text not yet written is replaced by the newer one, so a slow
 * file system delays the file, never the caller. Thread-safe.
 */
void metrics_textfile_post(struct metrics_textfile *t, const char *text,
                           size_t len);

/* Writes what is still posted, stops the thread, frees T. Accepts NULL. */
void metrics_textfile_stop(struct metrics_textfile *t);

#endif
