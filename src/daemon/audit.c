/*
 * The audit log: encoding at submit, the writer thread and its group
 * commit, recovery of the chain at open, rotation, and the offline
 * verifier.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "custodian/error.h"
#include "buf.h"
#include "log.h"
#include "audit.h"

/* AUDIT_RECORD_MAX, for messages. */
#define AUDIT_RECORD_MAX_TEXT "65536"
_Static_assert(AUDIT_RECORD_MAX == 65536, "AUDIT_RECORD_MAX_TEXT is stale");

/* Lowercase hex SHA-256: the form of "prev". */
#define AUDIT_HASH_HEX 64

/* "2026-12-03T19:40:00.123456Z" */
#define AUDIT_TIME_LEN 27

/* Widest uint64 in decimal. */
#define AUDIT_SEQ_DIGITS 20

/* Longest prefix of the module's own fields, up to the caller's fields. */
#define AUDIT_PREFIX_MAX                                                       \
    (sizeof("{\"seq\":,\"time\":\"\",\"prev\":\"\"") - 1 + AUDIT_SEQ_DIGITS +  \
     AUDIT_TIME_LEN + AUDIT_HASH_HEX)

/*
 * Longest encoding of the caller's object, braces included. Its fields
 * follow the prefix after a comma that takes the place of its '{', and
 * the newline ends the line: prefix + dump + 1 <= AUDIT_RECORD_MAX.
 */
#define AUDIT_FIELDS_MAX (AUDIT_RECORD_MAX - AUDIT_PREFIX_MAX - 1)

/* Most bytes in one batch, so that one write never needs a huge buffer. */
#define AUDIT_BATCH_BYTES (1024 * 1024)

/*
 * Bytes read from the end of the file at open: enough for an
 * unterminated line, the last whole line and the newline before it.
 */
#define AUDIT_TAIL_MAX (2 * AUDIT_RECORD_MAX)

#define AUDIT_DUMP_FLAGS                                                       \
    (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII)
#define AUDIT_LOAD_FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)

/* One queued record, or a rotation request. */
struct audit_entry {
    struct audit_entry *next;
    struct buf fields; /* the caller's object, compact, braces included */
    char *rotate_to;   /* set for a rotation: the archived path */
    audit_done_fn done;
    void *arg;
};

struct audit {
    pthread_mutex_t lock; /* guards the fields up to io */
    pthread_cond_t wake;  /* work queued, or closing */
    struct audit_entry *head;
    struct audit_entry **tail;
    bool closing;
    bool degraded;
    struct audit_stats stats;
    struct audit_io io;

    /* The rest belongs to the writer thread while it runs. */
    pthread_t writer;
    bool running;
    char *path;
    int fd;
    off_t size;        /* bytes of durable records in the file */
    bool dirty;        /* a failed batch may have left bytes past size */
    bool dir_unsynced; /* the file's directory entry may not be durable */
    uint64_t seq;      /* seq of the last durable record; 0 before any */
    char prev[AUDIT_HASH_HEX + 1]; /* hash of the last durable line */
    uint64_t recovered;            /* bytes cut away at open */
    uint64_t opened_seq;           /* seq of the last record at open */
};

/* The chain as audit_verify() has followed it so far. */
struct audit_chain {
    uint64_t count;
    uint64_t first_seq;
    uint64_t seq;                  /* of the last good record */
    char hash[AUDIT_HASH_HEX + 1]; /* of the last good line */
    audit_record_fn each;          /* audit_read(): given every good record */
    void *arg;
    bool stopped; /* EACH asked to stop */
};

/* Lets a blocking call wait for the callback of its own request. */
struct audit_waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    int status;
    uint64_t seq;
};

enum audit_line_kind {
    AUDIT_LINE_EOF,
    AUDIT_LINE_OK,
    AUDIT_LINE_LONG,
    AUDIT_LINE_OPEN,
    AUDIT_LINE_ERROR,
};

static const char audit_zero_hash[AUDIT_HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

static int
audit_hash(const void *data, size_t len, char out[AUDIT_HASH_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen, i;

    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
        mdlen * 2 != AUDIT_HASH_HEX)
        return CUST_ERR_INTERNAL;
    for (i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0xf];
    }
    out[AUDIT_HASH_HEX] = '\0';
    return 0;
}

/* Writes the current UTC time as RFC 3339 with microseconds. */
static int
audit_now(char out[AUDIT_TIME_LEN + 1])
{
    char tmp[64];
    struct timespec ts;
    struct tm tm;
    int n;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 ||
        gmtime_r(&ts.tv_sec, &tm) == NULL)
        return CUST_ERR_INTERNAL;
    n = snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
    /* Only a clock past the year 9999 makes it wider. */
    if (n != AUDIT_TIME_LEN)
        return CUST_ERR_INTERNAL;
    memcpy(out, tmp, AUDIT_TIME_LEN + 1);
    return 0;
}

/*
 * Collects jansson's output. DEL is the one control character jansson
 * leaves raw; it is escaped too, so that a line is printable ASCII only.
 * Outside strings jansson writes no DEL, so the escape is always valid.
 */
static int
audit_dump_put(const char *data, size_t len, void *arg)
{
    struct buf *b = arg;
    const char *del;

    while ((del = memchr(data, 0x7f, len)) != NULL) {
        buf_put(b, data, (size_t)(del - data));
        buf_put(b, "\\u007f", 6);
        len -= (size_t)(del - data) + 1;
        data = del + 1;
    }
    buf_put(b, data, len);
    return buf_status(b) == 0 ? 0 : -1;
}

/* Encodes the caller's RECORD into OUT, refusing what cannot be a line. */
static int
audit_encode(json_t *record, struct buf *out)
{
    static const char *const reserved[] = {"seq", "time", "prev"};
    json_t *back;
    size_t i;
    int rc;

    if (!json_is_object(record))
        return CUST_ERR_ARG;
    for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (json_object_get(record, reserved[i]) != NULL)
            return CUST_ERR_ARG;
    }

    /* The bound stops the encoding as it grows, not after. */
    buf_init(out, AUDIT_FIELDS_MAX);
    if (json_dump_callback(record, audit_dump_put, out, AUDIT_DUMP_FLAGS) !=
        0) {
        rc = buf_status(out) != 0 ? buf_status(out) : CUST_ERR_ARG;
        goto out;
    }

    /*
     * jansson refuses a string value that is not UTF-8, but writes such a
     * key as broken JSON, and reads back neither a key with a NUL byte
     * nor nesting past 2048 levels. A line the verifier cannot read would
     * break the chain for good, so every record is read back first.
     */
    back =
        json_loadb((const char *)out->data, out->len, AUDIT_LOAD_FLAGS, NULL);
    rc = back != NULL ? 0 : CUST_ERR_ARG;
    json_decref(back);
out:
    if (rc != 0)
        buf_free(out);
    return rc;
}

static void
audit_entry_free(struct audit_entry *e)
{
    if (e == NULL)
        return;
    buf_free(&e->fields);
    free(e->rotate_to);
    free(e);
}

static int
audit_enqueue(struct audit *a, struct audit_entry *e)
{
    pthread_mutex_lock(&a->lock);
    if (a->closing) {
        pthread_mutex_unlock(&a->lock);
        return CUST_ERR_AUDIT;
    }
    e->next = NULL;
    *a->tail = e;
    a->tail = &e->next;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->lock);
    return 0;
}

int
audit_submit(struct audit *a, json_t *record, audit_done_fn done, void *arg)
{
    struct audit_entry *e;
    int rc;

    if (a == NULL)
        return CUST_ERR_ARG;
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return CUST_ERR_NOMEM;
    rc = audit_encode(record, &e->fields);
    if (rc != 0)
        goto out;
    e->done = done;
    e->arg = arg;
    rc = audit_enqueue(a, e);
    if (rc == 0)
        e = NULL;
out:
    audit_entry_free(e);
    return rc;
}

static void
audit_waiter_init(struct audit_waiter *w)
{
    memset(w, 0, sizeof(*w));
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
}

/* The callback of a blocking call. Runs on the writer thread. */
static void
audit_waiter_done(void *arg, int status, uint64_t seq)
{
    struct audit_waiter *w = arg;

    /* The waiter may free W as soon as the lock is released. */
    pthread_mutex_lock(&w->lock);
    w->status = status;
    w->seq = seq;
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* Waits for the callback, then returns its status and releases W. */
static int
audit_waiter_wait(struct audit_waiter *w, uint64_t *seq)
{
    pthread_mutex_lock(&w->lock);
    while (!w->done)
        pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
    if (w->status == 0 && seq != NULL)
        *seq = w->seq;
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    return w->status;
}

int
audit_write(struct audit *a, json_t *record, uint64_t *seq)
{
    struct audit_waiter w;
    int rc;

    audit_waiter_init(&w);
    rc = audit_submit(a, record, audit_waiter_done, &w);
    /* A refused record never reaches the callback: complete it here. */
    if (rc != 0)
        audit_waiter_done(&w, rc, 0);
    return audit_waiter_wait(&w, seq);
}

int
audit_rotate(struct audit *a, const char *archived_path)
{
    struct audit_waiter w;
    struct audit_entry *e;
    int rc;

    if (a == NULL || archived_path == NULL || *archived_path == '\0')
        return CUST_ERR_ARG;
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return CUST_ERR_NOMEM;
    e->rotate_to = strdup(archived_path);
    if (e->rotate_to == NULL) {
        audit_entry_free(e);
        return CUST_ERR_NOMEM;
    }
    audit_waiter_init(&w);
    e->done = audit_waiter_done;
    e->arg = &w;
    rc = audit_enqueue(a, e);
    if (rc != 0) {
        audit_entry_free(e);
        audit_waiter_done(&w, rc, 0);
    }
    return audit_waiter_wait(&w, NULL);
}

bool
audit_degraded(struct audit *a)
{
    bool degraded;

    pthread_mutex_lock(&a->lock);
    degraded = a->degraded;
    pthread_mutex_unlock(&a->lock);
    return degraded;
}

void
audit_stats(struct audit *a, struct audit_stats *out)
{
    pthread_mutex_lock(&a->lock);
    *out = a->stats;
    pthread_mutex_unlock(&a->lock);
}

uint64_t
audit_opened_seq(const struct audit *a)
{
    return a->opened_seq;
}

uint64_t
audit_recovered_bytes(const struct audit *a)
{
    return a->recovered;
}

void
audit_set_io(struct audit *a, const struct audit_io *io)
{
    pthread_mutex_lock(&a->lock);
    if (io != NULL) {
        a->io = *io;
    } else {
        a->io.write = write;
        a->io.fdatasync = fdatasync;
        a->io.ftruncate = ftruncate;
    }
    pthread_mutex_unlock(&a->lock);
}

/* Makes the directory entry of PATH durable: a new file is not, alone. */
static int
audit_sync_dir(const char *path)
{
    char *copy = strdup(path);
    int fd = -1, rc = CUST_ERR_IO;

    if (copy == NULL)
        return CUST_ERR_NOMEM;
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        log_debug("cannot sync the directory of %s: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(copy);
    return rc;
}

/* Opens (or with O_EXCL in FLAGS, creates) the log file and locks it. */
static int
audit_open_file(const char *path, int flags, int *out)
{
    struct stat st;
    int fd;

    fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | flags, 0640);
    if (fd < 0) {
        log_debug("cannot open %s: %s", path, strerror(errno));
        return CUST_ERR_IO;
    }
    /* A second writer on the same file would fork the chain. */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 || fstat(fd, &st) != 0 ||
        !S_ISREG(st.st_mode)) {
        log_debug("cannot lock %s, or not a regular file: %s", path,
                  strerror(errno));
        close(fd);
        return CUST_ERR_IO;
    }
    *out = fd;
    return 0;
}

static int
audit_pread_all(int fd, uint8_t *p, size_t len, off_t off)
{
    ssize_t r;

    while (len > 0) {
        r = pread(fd, p, len, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return CUST_ERR_IO;
        p += r;
        off += r;
        len -= (size_t)r;
    }
    return 0;
}

/* Returns true if V is a string of 64 lowercase hex digits. */
static bool
audit_is_hash(const json_t *v)
{
    const char *p = json_string_value(v);
    size_t i;

    if (p == NULL || json_string_length(v) != AUDIT_HASH_HEX)
        return false;
    for (i = 0; i < AUDIT_HASH_HEX; i++) {
        if (!(p[i] >= '0' && p[i] <= '9') && !(p[i] >= 'a' && p[i] <= 'f'))
            return false;
    }
    return true;
}

/*
 * Returns why REC cannot follow the chain C, or NULL if it can. Records
 * the seq in OUT as soon as it is known.
 */
static const char *
audit_check_record(const struct audit_chain *c, json_t *rec,
                   struct audit_verify_result *out)
{
    json_t *seq = json_object_get(rec, "seq");
    json_t *prev = json_object_get(rec, "prev");

    if (!json_is_object(rec))
        return "not a JSON object";
    if (!json_is_integer(seq) || json_integer_value(seq) < 1)
        return "seq missing or not a positive integer";
    out->has_seq = true;
    out->seq = (uint64_t)json_integer_value(seq);
    if (c->count > 0 && out->seq != c->seq + 1) {
        snprintf(out->reason, sizeof(out->reason),
                 "seq %" PRIu64 " follows %" PRIu64, out->seq, c->seq);
        return out->reason;
    }
    if (!json_is_string(json_object_get(rec, "time")))
        return "time missing or not a string";
    if (!audit_is_hash(prev))
        return "prev is not 64 lowercase hex digits";
    if (c->count > 0 &&
        memcmp(json_string_value(prev), c->hash, AUDIT_HASH_HEX) != 0)
        return "prev does not match the previous record";
    return NULL;
}

/*
 * Checks LINE (LEN bytes, newline excluded) against the chain followed so
 * far and, if it is good, extends the chain with it. On a bad record,
 * fills the record's part of OUT and returns CUST_ERR_AUDIT.
 */
static int
audit_check_line(struct audit_chain *c, const char *line, size_t len,
                 struct audit_verify_result *out)
{
    char hash[AUDIT_HASH_HEX + 1];
    const char *reason;
    json_t *rec;

    out->has_seq = false;
    rec = json_loadb(line, len, AUDIT_LOAD_FLAGS, NULL);
    reason = audit_check_record(c, rec, out);
    if (reason == NULL && audit_hash(line, len, hash) != 0)
        reason = "cannot compute SHA-256";
    if (reason != NULL) {
        json_decref(rec);
        if (reason != out->reason)
            snprintf(out->reason, sizeof(out->reason), "%s", reason);
        return CUST_ERR_AUDIT;
    }
    if (c->each != NULL && c->each(c->arg, rec) != 0)
        c->stopped = true;
    json_decref(rec);
    if (c->count++ == 0)
        c->first_seq = out->seq;
    c->seq = out->seq;
    memcpy(c->hash, hash, sizeof(c->hash));
    return 0;
}

/*
 * Finds where the file's records end and the chain's last link: an
 * unterminated tail is the remains of a batch cut short, never reported
 * durable, and is cut away.
 */
static int
audit_resume(struct audit *a)
{
    struct audit_verify_result res;
    struct audit_chain chain = {0};
    uint8_t *tail = NULL, *nl;
    size_t n, end, start;
    struct stat st;
    off_t base;
    int rc = CUST_ERR_IO;

    if (fstat(a->fd, &st) != 0)
        goto out;
    if (st.st_size == 0)
        return 0;
    n = st.st_size < AUDIT_TAIL_MAX ? (size_t)st.st_size : AUDIT_TAIL_MAX;
    base = st.st_size - (off_t)n;
    tail = malloc(n);
    if (tail == NULL) {
        rc = CUST_ERR_NOMEM;
        goto out;
    }
    if (audit_pread_all(a->fd, tail, n, base) != 0)
        goto out;

    rc = CUST_ERR_AUDIT;
    end = n;
    if (tail[end - 1] != '\n') {
        nl = memrchr(tail, '\n', end);
        start = nl != NULL ? (size_t)(nl - tail) + 1 : 0;
        if (end - start >= AUDIT_RECORD_MAX || (nl == NULL && base > 0))
            goto out; /* longer than any record: not an interrupted one */
        end = start;
    }
    if (end > 0) {
        nl = memrchr(tail, '\n', end - 1);
        start = nl != NULL ? (size_t)(nl - tail) + 1 : 0;
        if ((nl == NULL && base > 0) || end - start > AUDIT_RECORD_MAX)
            goto out;
        if (audit_check_line(&chain, (char *)tail + start, end - 1 - start,
                             &res) != 0)
            goto out;
        a->seq = chain.seq;
        a->opened_seq = chain.seq;
        memcpy(a->prev, chain.hash, sizeof(a->prev));
    }
    a->size = base + (off_t)end;

    rc = CUST_ERR_IO;
    if (a->size < st.st_size &&
        (ftruncate(a->fd, a->size) != 0 || fdatasync(a->fd) != 0))
        goto out;
    a->recovered = (uint64_t)(st.st_size - a->size);
    rc = 0;
out:
    if (rc != 0)
        log_debug("cannot continue the chain of %s", a->path);
    free(tail);
    return rc;
}

static void *audit_writer(void *arg);

static int
audit_start(struct audit *a)
{
    sigset_t all, old;
    int err;

    /* Signals are the daemon's main loop's business, not the writer's. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&a->writer, NULL, audit_writer, a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0)
        return CUST_ERR_NOMEM;
    a->running = true;
    return 0;
}

static void
audit_free(struct audit *a)
{
    struct audit_entry *e;

    if (a == NULL)
        return;
    while ((e = a->head) != NULL) {
        a->head = e->next;
        audit_entry_free(e);
    }
    if (a->fd >= 0)
        close(a->fd);
    free(a->path);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

int
audit_open(const char *path, struct audit **out)
{
    struct audit *a;
    int rc = CUST_ERR_NOMEM;

    if (path == NULL || *path == '\0' || out == NULL)
        return CUST_ERR_ARG;
    a = calloc(1, sizeof(*a));
    if (a == NULL)
        return CUST_ERR_NOMEM;
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->wake, NULL);
    a->tail = &a->head;
    a->fd = -1;
    a->dir_unsynced = true;
    memcpy(a->prev, audit_zero_hash, sizeof(a->prev));
    audit_set_io(a, NULL);
    a->path = strdup(path);
    if (a->path == NULL)
        goto out;

    rc = audit_open_file(path, 0, &a->fd);
    if (rc != 0)
        goto out;
    rc = audit_resume(a);
    if (rc != 0)
        goto out;
    rc = audit_start(a);
    if (rc != 0)
        goto out;
    *out = a;
    a = NULL;
out:
    audit_free(a);
    return rc;
}

void
audit_close(struct audit *a)
{
    if (a == NULL)
        return;
    if (a->running) {
        pthread_mutex_lock(&a->lock);
        a->closing = true;
        pthread_cond_signal(&a->wake);
        pthread_mutex_unlock(&a->lock);
        pthread_join(a->writer, NULL);
    }
    audit_free(a);
}

/*
 * Detaches the next unit of work: a rotation alone, or the records up to
 * the next rotation or the batch size limit. Called with the lock held.
 */
static struct audit_entry *
audit_take(struct audit *a, size_t *count)
{
    struct audit_entry *batch = a->head, *e = batch;
    size_t bytes = e->fields.len;

    *count = 1;
    while (e->rotate_to == NULL && e->next != NULL &&
           e->next->rotate_to == NULL &&
           bytes + e->next->fields.len <= AUDIT_BATCH_BYTES) {
        e = e->next;
        bytes += e->fields.len;
        (*count)++;
    }
    a->head = e->next;
    if (a->head == NULL)
        a->tail = &a->head;
    e->next = NULL;
    return batch;
}

/* Appends E's line with SEQ to OUT; PREV goes in, the line's hash out. */
static int
audit_line(struct buf *out, const struct audit_entry *e, uint64_t seq,
           char prev[AUDIT_HASH_HEX + 1])
{
    char head[AUDIT_PREFIX_MAX + 1], now[AUDIT_TIME_LEN + 1];
    size_t start = out->len;
    int n;

    if (audit_now(now) != 0)
        return CUST_ERR_INTERNAL;
    n = snprintf(head, sizeof(head),
                 "{\"seq\":%" PRIu64 ",\"time\":\"%s\",\"prev\":\"%s\"", seq,
                 now, prev);
    if (n < 0 || (size_t)n >= sizeof(head))
        return CUST_ERR_INTERNAL;
    buf_put(out, head, (size_t)n);
    /* The caller's fields follow with a comma in place of their '{'. */
    if (e->fields.len > 2)
        buf_put(out, ",", 1);
    buf_put(out, e->fields.data + 1, e->fields.len - 1);
    if (buf_status(out) != 0 ||
        audit_hash(out->data + start, out->len - start, prev) != 0)
        return CUST_ERR_INTERNAL;
    return buf_put(out, "\n", 1);
}

/* Cuts the file back to its durable records. */
static int
audit_cut(struct audit *a, const struct audit_io *io)
{
    if (io->ftruncate(a->fd, a->size) != 0) {
        log_debug("cannot cut %s back to %jd bytes: %s", a->path,
                  (intmax_t)a->size, strerror(errno));
        return CUST_ERR_IO;
    }
    a->dirty = false;
    return 0;
}

static int
audit_write_all(const struct audit_io *io, int fd, const uint8_t *p, size_t len)
{
    ssize_t w;

    while (len > 0) {
        w = io->write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w == 0)
            errno = EIO;
        if (w <= 0)
            return CUST_ERR_IO;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/*
 * Writes one batch and makes it durable. On failure, whatever part of it
 * reached the file is cut away, now or, if that fails too, before the
 * next batch, so that no record follows a half-written one.
 */
static int
audit_commit(struct audit *a, const struct audit_io *io, const struct buf *b,
             int *err)
{
    int rc = CUST_ERR_AUDIT;

    /* Whichever call fails first leaves its errno for the stats. */
    errno = 0;
    if (a->dirty && audit_cut(a, io) != 0)
        goto out;
    if (audit_write_all(io, a->fd, b->data, b->len) != 0)
        goto out;
    if (io->fdatasync(a->fd) != 0)
        goto out;
    if (a->dir_unsynced && audit_sync_dir(a->path) != 0)
        goto out;
    a->dir_unsynced = false;
    rc = 0;
out:
    if (rc != 0) {
        *err = errno != 0 ? errno : EIO;
        log_debug("batch of %zu bytes to %s failed: %s", b->len, a->path,
                  strerror(*err));
        a->dirty = true;
        audit_cut(a, io);
    }
    return rc;
}

static void
audit_account(struct audit *a, size_t n, int rc, int err)
{
    size_t i;

    pthread_mutex_lock(&a->lock);
    if (n > a->stats.largest_batch)
        a->stats.largest_batch = n;
    if (rc == 0) {
        for (i = 0; i + 1 < AUDIT_BATCH_BUCKETS && ((size_t)1 << i) < n; i++)
            ;
        a->stats.batches[i]++;
        a->stats.records += n;
        a->stats.syncs++;
        a->degraded = false;
    } else {
        a->stats.failures += n;
        a->stats.last_errno = err;
        a->degraded = true;
    }
    pthread_mutex_unlock(&a->lock);
}

/* Calls each record's callback in order, then frees the batch. */
static void
audit_report(struct audit_entry *batch, int rc, uint64_t first)
{
    struct audit_entry *next;
    uint64_t seq = first;

    for (; batch != NULL; batch = next, seq++) {
        next = batch->next;
        if (batch->done != NULL)
            batch->done(batch->arg, rc == 0 ? 0 : CUST_ERR_AUDIT,
                        rc == 0 ? seq : 0);
        audit_entry_free(batch);
    }
}

static void
audit_run_batch(struct audit *a, struct audit_entry *batch, size_t n,
                const struct audit_io *io)
{
    char prev[AUDIT_HASH_HEX + 1];
    const struct audit_entry *e;
    uint64_t first = a->seq + 1, seq = first;
    struct buf b;
    int rc = 0, err = 0;

    /* Nothing is committed to the chain until the batch is durable. */
    memcpy(prev, a->prev, sizeof(prev));
    buf_init(&b, SIZE_MAX);
    for (e = batch; e != NULL && rc == 0; e = e->next)
        rc = audit_line(&b, e, seq++, prev);
    if (rc != 0)
        err = ENOMEM;
    else
        rc = audit_commit(a, io, &b, &err);
    if (rc == 0) {
        a->seq += n;
        memcpy(a->prev, prev, sizeof(a->prev));
        a->size += (off_t)b.len;
    }
    buf_free(&b);
    audit_account(a, n, rc, err);
    audit_report(batch, rc, first);
}

/* Renames FROM to TO, failing if TO exists: an archive is never lost. */
static int
audit_rename_noreplace(const char *from, const char *to)
{
    int saved;

    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return CUST_ERR_IO;
    /* Without RENAME_NOREPLACE, link() refuses an existing target too. */
    if (link(from, to) != 0)
        return CUST_ERR_IO;
    if (unlink(from) != 0) {
        saved = errno;
        unlink(to);
        errno = saved;
        return CUST_ERR_IO;
    }
    return 0;
}

static int
audit_do_rotate(struct audit *a, const char *archived,
                const struct audit_io *io)
{
    int fd = -1;

    /* An archive must end with a durable record, not a failed batch. */
    if (a->dirty && audit_cut(a, io) != 0)
        return CUST_ERR_IO;
    if (audit_rename_noreplace(a->path, archived) != 0) {
        log_debug("cannot rename %s to %s: %s", a->path, archived,
                  strerror(errno));
        return CUST_ERR_IO;
    }
    if (audit_open_file(a->path, O_EXCL, &fd) != 0) {
        if (audit_rename_noreplace(archived, a->path) != 0)
            log_debug("cannot rename %s back to %s: %s", archived, a->path,
                      strerror(errno));
        return CUST_ERR_IO;
    }
    close(a->fd);
    a->fd = fd;
    a->size = 0;

    /* The first batch retries the sync of the new file's directory. */
    a->dir_unsynced = audit_sync_dir(a->path) != 0;
    if (audit_sync_dir(archived) != 0)
        log_debug("rename of %s may not survive a crash", archived);
    return 0;
}

static void
audit_run_rotation(struct audit *a, struct audit_entry *e,
                   const struct audit_io *io)
{
    int rc = audit_do_rotate(a, e->rotate_to, io);

    e->done(e->arg, rc, 0);
    audit_entry_free(e);
}

/*
 * The writer thread: takes whatever is queued, writes it, reports it,
 * and sleeps only when the queue is empty. While it writes, new records
 * pile up and become the next batch: that is the group commit.
 */
static void *
audit_writer(void *arg)
{
    struct audit *a = arg;
    struct audit_entry *batch;
    struct audit_io io;
    size_t n;

    pthread_mutex_lock(&a->lock);
    for (;;) {
        while (a->head == NULL && !a->closing)
            pthread_cond_wait(&a->wake, &a->lock);
        if (a->head == NULL)
            break;
        batch = audit_take(a, &n);
        io = a->io;
        pthread_mutex_unlock(&a->lock);
        if (batch->rotate_to != NULL)
            audit_run_rotation(a, batch, &io);
        else
            audit_run_batch(a, batch, n, &io);
        pthread_mutex_lock(&a->lock);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

/*
 * Reads one line of at most AUDIT_RECORD_MAX bytes, newline included,
 * into LINE, without its newline. LINE holds AUDIT_RECORD_MAX bytes.
 */
static enum audit_line_kind
audit_read_line(FILE *f, char *line, size_t *len)
{
    size_t n = 0;
    int c;

    while ((c = getc_unlocked(f)) != EOF) {
        if (c == '\n') {
            *len = n;
            return AUDIT_LINE_OK;
        }
        if (n == AUDIT_RECORD_MAX - 1)
            return AUDIT_LINE_LONG;
        line[n++] = (char)c;
    }
    if (ferror(f))
        return AUDIT_LINE_ERROR;
    return n == 0 ? AUDIT_LINE_EOF : AUDIT_LINE_OPEN;
}

static int
audit_verify_file(const char *path, struct audit_chain *c, char *line,
                  struct audit_verify_result *out)
{
    enum audit_line_kind kind;
    const char *reason = NULL;
    FILE *f;
    size_t len;
    int rc = 0;

    out->line = 0;
    f = fopen(path, "re");
    if (f == NULL) {
        snprintf(out->reason, sizeof(out->reason), "cannot open: %s",
                 strerror(errno));
        return CUST_ERR_IO;
    }
    while (rc == 0 && reason == NULL && !c->stopped) {
        kind = audit_read_line(f, line, &len);
        if (kind == AUDIT_LINE_EOF)
            break;
        if (kind == AUDIT_LINE_ERROR) {
            snprintf(out->reason, sizeof(out->reason), "cannot read: %s",
                     strerror(errno));
            out->line = 0;
            rc = CUST_ERR_IO;
            break;
        }
        out->line++;
        out->has_seq = false;
        if (kind == AUDIT_LINE_LONG)
            reason = "line longer than " AUDIT_RECORD_MAX_TEXT " bytes";
        else if (kind == AUDIT_LINE_OPEN)
            reason = "line not terminated";
        else
            rc = audit_check_line(c, line, len, out);
    }
    if (reason != NULL) {
        snprintf(out->reason, sizeof(out->reason), "%s", reason);
        rc = CUST_ERR_AUDIT;
    }
    fclose(f);
    return rc;
}

int
audit_verify(const char *const *paths, size_t n,
             struct audit_verify_result *out)
{
    struct audit_chain chain = {0};
    char *line = NULL;
    int rc = CUST_ERR_ARG;
    size_t i;

    if (out == NULL)
        return CUST_ERR_ARG;
    memset(out, 0, sizeof(*out));
    if (paths == NULL || n == 0)
        goto out;
    rc = CUST_ERR_NOMEM;
    line = malloc(AUDIT_RECORD_MAX);
    if (line == NULL)
        goto out;

    rc = 0;
    for (i = 0; i < n && rc == 0; i++) {
        out->file = i;
        rc = audit_verify_file(paths[i], &chain, line, out);
    }
    out->records = chain.count;
    out->first_seq = chain.first_seq;
    out->last_seq = chain.seq;
    if (rc == 0) {
        out->file = 0;
        out->line = 0;
        out->has_seq = false;
    }
out:
    free(line);
    return rc;
}

int
audit_read(const char *path, audit_record_fn each, void *arg,
           struct audit_verify_result *out)
{
    struct audit_chain chain = {.each = each, .arg = arg};
    char *line = malloc(AUDIT_RECORD_MAX);
    int rc;

    memset(out, 0, sizeof(*out));
    if (line == NULL)
        return CUST_ERR_NOMEM;
    rc = audit_verify_file(path, &chain, line, out);
    out->records = chain.count;
    out->first_seq = chain.first_seq;
    out->last_seq = chain.seq;
    free(line);
    return rc;
}

int
audit_verify_link(const char *prev, size_t prevlen, const char *line,
                  size_t len, struct audit_verify_result *out)
{
    struct audit_chain chain = {0};
    int rc;

    memset(out, 0, sizeof(*out));
    if (len >= AUDIT_RECORD_MAX || prevlen >= AUDIT_RECORD_MAX)
        return CUST_ERR_TOO_BIG;
    /* A previous line that is no record links nothing: LINE stands alone. */
    if (prev != NULL && audit_check_line(&chain, prev, prevlen, out) != 0)
        memset(&chain, 0, sizeof(chain));
    out->line = 2;
    rc = audit_check_line(&chain, line, len, out);
    out->records = chain.count;
    out->first_seq = chain.first_seq;
    out->last_seq = chain.seq;
    return rc;
}
