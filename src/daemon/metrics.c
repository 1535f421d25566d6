/*
 * Prometheus text, and the thread that keeps the textfile up to date.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "custodian/error.h"
#include "log.h"
#include "metrics.h"

void
metrics_family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Appends VALUE to OUT at *O, escaped; false when it does not fit. */
static bool
metrics_escape(char *out, size_t len, size_t *o, const char *value)
{
    const char *esc;
    size_t n;

    for (; *value != '\0'; value++) {
        esc = *value == '\\'   ? "\\\\"
              : *value == '"'  ? "\\\""
              : *value == '\n' ? "\\n"
                               : NULL;
        n = esc != NULL ? 2 : 1;
        if (*o + n + 3 > len) /* room for '"', '}' and the NUL */
            return false;
        if (esc != NULL)
            memcpy(out + *o, esc, 2);
        else
            out[*o] = *value;
        *o += n;
    }
    return true;
}

void
metrics_labels(char *out, size_t len, ...)
{
    const char *name, *value;
    size_t o = 0, n;
    va_list ap;

    out[0] = '\0';
    va_start(ap, len);
    while ((name = va_arg(ap, const char *)) != NULL) {
        value = va_arg(ap, const char *);
        n = strlen(name);
        if (o + n + 6 > len)
            break;
        out[o] = o == 0 ? '{' : ',';
        o++;
        memcpy(out + o, name, n);
        o += n;
        out[o++] = '=';
        out[o++] = '"';
        metrics_escape(out, len, &o, value);
        out[o++] = '"';
    }
    va_end(ap);
    if (o > 0)
        out[o++] = '}';
    out[o] = '\0';
}

void
metrics_sample(FILE *f, const char *name, const char *labels, double value)
{
    fprintf(f, "%s%s %.15g\n", name, labels ? labels : "", value);
}

static void
metrics_one(FILE *f, const char *name, const char *type, const char *help,
            double value)
{
    metrics_family(f, name, type, help);
    metrics_sample(f, name, NULL, value);
}

static void
metrics_keys(FILE *f, const struct metrics_state *st)
{
    char labels[METRICS_LABELS_MAX];
    size_t i;

    metrics_family(f, "custodian_key_active_version", "gauge",
                   "The version a key signs with now; 0: none");
    for (i = 0; i < st->nkeys; i++) {
        metrics_labels(labels, sizeof(labels), "key", st->keys[i].name, NULL);
        metrics_sample(f, "custodian_key_active_version", labels,
                       st->keys[i].active);
    }
    metrics_family(f, "custodian_key_next_rotation_timestamp_seconds", "gauge",
                   "When a key's next version is due to become active (UTC "
                   "epoch), for keys with a rotation period");
    for (i = 0; i < st->nkeys; i++) {
        if (st->keys[i].next_change == 0)
            continue;
        metrics_labels(labels, sizeof(labels), "key", st->keys[i].name, NULL);
        metrics_sample(f, "custodian_key_next_rotation_timestamp_seconds",
                       labels, (double)st->keys[i].next_change);
    }
}

/* Records per fdatasync, as a histogram of the audit writer's batches. */
static void
metrics_batches(FILE *f, const struct audit_stats *st)
{
    char labels[METRICS_LABELS_MAX], le[24];
    uint64_t cum = 0;
    int i;

    metrics_family(f, "custodian_audit_batch_records", "histogram",
                   "Records made durable by one fdatasync, since the daemon "
                   "started");
    for (i = 0; i < AUDIT_BATCH_BUCKETS; i++) {
        cum += st->batches[i];
        if (i + 1 < AUDIT_BATCH_BUCKETS)
            snprintf(le, sizeof(le), "%d", 1 << i);
        else
            snprintf(le, sizeof(le), "+Inf");
        metrics_labels(labels, sizeof(labels), "le", le, NULL);
        metrics_sample(f, "custodian_audit_batch_records_bucket", labels,
                       (double)cum);
    }
    metrics_sample(f, "custodian_audit_batch_records_sum", NULL,
                   (double)st->records);
    metrics_sample(f, "custodian_audit_batch_records_count", NULL,
                   (double)st->syncs);
}

void
metrics_daemon(FILE *f, const struct metrics_state *st)
{
    metrics_one(f, "custodian_start_time_seconds", "gauge",
                "When the daemon started (UTC epoch)", (double)st->started);
    metrics_one(f, "custodian_degraded", "gauge",
                "1 while the audit log is failing and nothing is signed",
                st->degraded ? 1 : 0);
    metrics_one(f, "custodian_connections", "gauge",
                "Open connections on every socket", st->connections);
    metrics_one(f, "custodian_requests_in_flight", "gauge",
                "Requests received and not yet answered", st->inflight);
    metrics_one(f, "custodian_audit_records_total", "counter",
                "Audit records made durable since the daemon started",
                (double)st->audit.records);
    metrics_one(f, "custodian_audit_syncs_total", "counter",
                "Audit batches made durable (one fdatasync each) since the "
                "daemon started",
                (double)st->audit.syncs);
    metrics_batches(f, &st->audit);
    metrics_one(f, "custodian_audit_failures_total", "counter",
                "Audit records that could not be written since the daemon "
                "started",
                (double)st->audit.failures);
    metrics_one(f, "custodian_audit_largest_batch_records", "gauge",
                "Most records written with one fdatasync since the daemon "
                "started",
                (double)st->audit.largest_batch);
    metrics_keys(f, st);
}

struct metrics_textfile {
    char *path, *tmp;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    char *text; /* posted and not yet written; NULL: nothing */
    size_t len;
    bool stopping;
    bool failing; /* the last write failed: said once */
};

/* Writes TEXT to the temporary file and renames it over the path. */
static int
metrics_write_file(struct metrics_textfile *t, const char *text, size_t len)
{
    size_t off = 0;
    ssize_t n;
    int fd, saved;

    errno = 0;
    fd = open(t->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    /* Readable by node_exporter, whatever the daemon's umask. */
    (void)fchmod(fd, 0644);
    while (off < len) {
        n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    if (close(fd) != 0 || off < len || rename(t->tmp, t->path) != 0) {
        saved = errno != 0 ? errno : EIO;
        unlink(t->tmp);
        errno = saved;
        return -1;
    }
    return 0;
}

static void *
metrics_writer(void *arg)
{
    struct metrics_textfile *t = arg;
    char *text;
    size_t len;
    int rc;

    pthread_mutex_lock(&t->lock);
    for (;;) {
        while (t->text == NULL && !t->stopping)
            pthread_cond_wait(&t->wake, &t->lock);
        if (t->text == NULL)
            break;
        text = t->text;
        len = t->len;
        t->text = NULL;
        pthread_mutex_unlock(&t->lock);
        rc = metrics_write_file(t, text, len);
        if (rc != 0 && !t->failing)
            log_warn("metrics textfile %s: %s", t->path, strerror(errno));
        else if (rc == 0 && t->failing)
            log_info("metrics textfile %s written again", t->path);
        t->failing = rc != 0;
        free(text);
        pthread_mutex_lock(&t->lock);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

int
metrics_textfile_start(const char *path, struct metrics_textfile **out)
{
    struct metrics_textfile *t = calloc(1, sizeof(*t));
    size_t n = strlen(path) + sizeof(".tmp");

    if (t == NULL)
        return CUST_ERR_NOMEM;
    t->path = strdup(path);
    t->tmp = malloc(n);
    if (t->path == NULL || t->tmp == NULL) {
        free(t->path);
        free(t->tmp);
        free(t);
        return CUST_ERR_NOMEM;
    }
    /* node_exporter reads only files ending in .prom: the temporary file
     * beside it is never collected half-written. */
    snprintf(t->tmp, n, "%s.tmp", path);
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->wake, NULL);
    if (pthread_create(&t->thread, NULL, metrics_writer, t) != 0) {
        free(t->path);
        free(t->tmp);
        free(t);
        return CUST_ERR_INTERNAL;
    }
    *out = t;
    return 0;
}

void
metrics_textfile_post(struct metrics_textfile *t, const char *text, size_t len)
{
    char *copy = malloc(len);

    if (copy == NULL)
        return;
    memcpy(copy, text, len);
    pthread_mutex_lock(&t->lock);
    free(t->text);
    t->text = copy;
    t->len = len;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
}

void
metrics_textfile_stop(struct metrics_textfile *t)
{
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->lock);
    t->stopping = true;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    free(t->text);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->wake);
    free(t->path);
    free(t->tmp);
    free(t);
}
