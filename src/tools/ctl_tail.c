/*
 * custodianctl audit tail. The log is read with stdio from where the last
 * N records start; at its end, the file is polled: for more bytes, for
 * being cut back (the daemon withdraws a batch whose write failed), and
 * for a new file at the path (a rotation). Records come a few at a time,
 * so a fifth of a second is soon enough and polling keeps this simple.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "custodian/error.h"
#include "audit.h"
#include "conf.h"
#include "ctl_tail.h"

/* Exit statuses, documented in docs/custodianctl.md. */
enum {
    TAIL_EXIT_OK = 0,
    TAIL_EXIT_FAIL = 1, /* a broken link, or nothing could be read */
    TAIL_EXIT_USAGE = 2,
};

#define TAIL_DEFAULT_LINES 10
#define TAIL_POLL_MS       200

/* Bytes read at a time while looking for the last lines. */
#define TAIL_SCAN_CHUNK 8192

struct tail_opts {
    uint64_t lines;
    bool follow;
    const char *conf_path;
    const char *path;
};

/* The file followed, how far it has been read, and the chain's last link. */
struct tail {
    const char *path;
    FILE *f;
    dev_t dev;
    ino_t ino;
    off_t off;        /* bytes taken from f so far */
    off_t quiet_end;  /* lines ending at or before this are not checked */
    bool print_quiet; /* and are printed only if this is set */
    char *line;       /* the line being read, AUDIT_RECORD_MAX bytes */
    size_t len;
    bool overlong;   /* skipping a line too long to be a record */
    char *prev;      /* the last whole line: the next must link to it */
    size_t prev_len; /* its length, when has_prev */
    bool has_prev;
    bool broken; /* a record did not link */
};

enum tail_got {
    TAIL_GOT_LINE,
    TAIL_GOT_LONG,
    TAIL_GOT_NONE, /* the end of the file or of the range to read */
    TAIL_GOT_ERROR,
};

static volatile sig_atomic_t tail_stopping;

static int
tail_usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "custodianctl: %s%s%s\n", msg, arg ? ": " : "",
            arg ? arg : "");
    fprintf(stderr, "Try 'custodianctl --help'.\n");
    return TAIL_EXIT_USAGE;
}

static int
tail_parse_count(const char *text, uint64_t *out)
{
    unsigned long long v;
    char *end;

    if (*text < '0' || *text > '9')
        return -1;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int
tail_parse(int argc, char **argv, struct tail_opts *o)
{
    static const struct option longopts[] = {
        {"lines", required_argument, NULL, 'n'},
        {"no-follow", no_argument, NULL, 'F'},
        {"config", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    int c;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":n:", longopts, NULL)) != -1) {
        if (c == '?' || c == ':')
            return tail_usage_error(c == ':' ? "option needs an argument"
                                             : "unknown option",
                                    argv[optind - 1]);
        if (c == 'n' && tail_parse_count(optarg, &o->lines) != 0)
            return tail_usage_error("-n needs a number of records", optarg);
        if (c == 'F')
            o->follow = false;
        if (c == 'c')
            o->conf_path = optarg;
    }
    if (argc - optind > 1)
        return tail_usage_error("audit tail takes one LOG", NULL);
    o->path = optind < argc ? argv[optind] : NULL;
    if (o->path != NULL && o->conf_path != NULL)
        return tail_usage_error("give LOG or --config, not both", NULL);
    return 0;
}

/* The log's path: FILE, or the configuration's audit path. NULL, with
 * the reason printed, if the configuration is invalid. */
static char *
tail_log_path(const struct tail_opts *o)
{
    const char *conf_path = o->conf_path ? o->conf_path : CONF_DEFAULT_PATH;
    struct conf_errors errs;
    struct conf *conf = NULL;
    char *path;
    size_t i;

    if (o->path != NULL) {
        path = strdup(o->path);
        goto out;
    }
    if (conf_load(conf_path, &conf, &errs) != 0) {
        for (i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.lines[i]);
        if (errs.n == CONF_ERRORS_MAX)
            fprintf(stderr, "%s: stopped after %d errors\n", conf_path,
                    CONF_ERRORS_MAX);
        conf_errors_free(&errs);
        return NULL;
    }
    path = strdup(conf->audit_path);
    conf_free(conf);
out:
    if (path == NULL)
        fprintf(stderr, "custodianctl: audit tail: %s\n", strerror(errno));
    return path;
}

/*
 * Finds, in the first SIZE bytes of FD, where the last K whole lines
 * start (*START) and where the last of them ends, line feed included
 * (*END). Bytes after the last line feed are a line still being written.
 */
static int
tail_find_start(int fd, off_t size, uint64_t k, off_t *start, off_t *end)
{
    char buf[TAIL_SCAN_CHUNK];
    off_t pos = size, e = -1;
    uint64_t seen = 0;
    size_t n, i;

    while (pos > 0) {
        n = pos < TAIL_SCAN_CHUNK ? (size_t)pos : TAIL_SCAN_CHUNK;
        pos -= (off_t)n;
        if (pread(fd, buf, n, pos) != (ssize_t)n)
            return CUST_ERR_IO;
        for (i = n; i-- > 0;) {
            if (buf[i] != '\n')
                continue;
            if (e < 0)
                e = pos + (off_t)i + 1;
            if (seen++ == k) {
                *start = pos + (off_t)i + 1;
                *end = e;
                return 0;
            }
        }
    }
    *start = 0;
    *end = e < 0 ? 0 : e;
    return 0;
}

/* Reads on from START: lines up to END are the backlog, not checked, and
 * printed only if PRINT is set. */
static int
tail_seek(struct tail *t, off_t start, off_t end, bool print)
{
    if (fseeko(t->f, start, SEEK_SET) != 0)
        return CUST_ERR_IO;
    t->off = start;
    t->quiet_end = end;
    t->print_quiet = print;
    t->len = 0;
    t->overlong = false;
    return 0;
}

/* Opens the file at t->path and sets its identity; messages on failure. */
static int
tail_open_file(struct tail *t, struct stat *st)
{
    t->f = fopen(t->path, "re");
    if (t->f == NULL) {
        fprintf(stderr, "custodianctl: %s: cannot open: %s\n", t->path,
                strerror(errno));
        return CUST_ERR_IO;
    }
    if (fstat(fileno(t->f), st) != 0 || !S_ISREG(st->st_mode)) {
        fprintf(stderr, "custodianctl: %s: not a regular file\n", t->path);
        return CUST_ERR_IO;
    }
    t->dev = st->st_dev;
    t->ino = st->st_ino;
    return 0;
}

/*
 * Opens the log and places it at its last LINES records. With none to
 * print, the last record is still read: the next one must link to it.
 */
static int
tail_open(struct tail *t, const char *path, uint64_t lines)
{
    struct stat st;
    off_t start, end;
    int rc;

    t->path = path;
    t->line = malloc(AUDIT_RECORD_MAX);
    t->prev = malloc(AUDIT_RECORD_MAX);
    if (t->line == NULL || t->prev == NULL) {
        fprintf(stderr, "custodianctl: audit tail: %s\n", strerror(errno));
        return CUST_ERR_NOMEM;
    }
    rc = tail_open_file(t, &st);
    if (rc != 0)
        return rc;
    rc = tail_find_start(fileno(t->f), st.st_size, lines > 0 ? lines : 1,
                         &start, &end);
    if (rc == 0)
        rc = tail_seek(t, start, end, lines > 0);
    if (rc != 0)
        fprintf(stderr, "custodianctl: %s: cannot read: %s\n", path,
                strerror(errno));
    return rc;
}

static void
tail_close(struct tail *t)
{
    if (t->f != NULL)
        fclose(t->f);
    free(t->line);
    free(t->prev);
}

/*
 * Reads on from where the last call stopped, up to LIMIT (-1: no limit):
 * a whole line into t->line, or as much of one as there is. At the end
 * of the file the end-of-file mark is cleared, so that a later call sees
 * what has been appended since.
 */
static enum tail_got
tail_next_line(struct tail *t, off_t limit)
{
    int c;

    while ((limit < 0 || t->off < limit) && (c = getc_unlocked(t->f)) != EOF) {
        t->off++;
        if (c == '\n' && t->overlong) {
            t->overlong = false;
            t->len = 0;
            return TAIL_GOT_LONG;
        }
        if (c == '\n')
            return TAIL_GOT_LINE;
        if (t->len == AUDIT_RECORD_MAX - 1)
            t->overlong = true;
        else if (!t->overlong)
            t->line[t->len++] = (char)c;
    }
    if (ferror(t->f))
        return TAIL_GOT_ERROR;
    clearerr(t->f);
    return TAIL_GOT_NONE;
}

static void
tail_report_break(struct tail *t, const struct audit_verify_result *r)
{
    t->broken = true;
    fprintf(stderr, "custodianctl: %s: ", t->path);
    if (r->has_seq)
        fprintf(stderr, "seq %" PRIu64 ": ", r->seq);
    else if (r->records > 0)
        fprintf(stderr, "the record after seq %" PRIu64 ": ", r->last_seq);
    fprintf(stderr, "chain broken: %s\n", r->reason);
}

/* Checks that the line just read links to the one before it, by the
 * audit module's rules. */
static int
tail_check(struct tail *t)
{
    struct audit_verify_result r;
    int rc = audit_verify_link(t->has_prev ? t->prev : NULL, t->prev_len,
                               t->line, t->len, &r);

    if (rc == CUST_ERR_AUDIT) {
        tail_report_break(t, &r);
        return 0;
    }
    if (rc != 0)
        fprintf(stderr, "custodianctl: %s: cannot check the chain: %s\n",
                t->path, cust_err_str(rc));
    return rc;
}

static int
tail_print(const char *line, size_t len)
{
    fwrite(line, 1, len, stdout);
    putchar('\n');
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "custodianctl: cannot write to standard output: %s\n",
                strerror(errno));
        return CUST_ERR_IO;
    }
    return 0;
}

/* Handles the whole line just read; it becomes the link for the next. */
static int
tail_emit(struct tail *t)
{
    bool quiet = t->off <= t->quiet_end;
    char *swap;
    int rc = 0;

    if (!quiet)
        rc = tail_check(t);
    if (rc == 0 && (!quiet || t->print_quiet))
        rc = tail_print(t->line, t->len);
    swap = t->prev;
    t->prev = t->line;
    t->line = swap;
    t->prev_len = t->len;
    t->has_prev = true;
    t->len = 0;
    return rc;
}

/* A line too long to be a record is not printed, and breaks the chain. */
static void
tail_overlong(struct tail *t)
{
    t->broken = true;
    t->has_prev = false;
    fprintf(stderr,
            "custodianctl: %s: chain broken: a line longer than %d bytes "
            "(not printed)\n",
            t->path, AUDIT_RECORD_MAX);
}

/* Handles every whole line there is, up to LIMIT (-1: no limit). */
static int
tail_read(struct tail *t, off_t limit)
{
    enum tail_got got;
    int rc = 0;

    while (rc == 0 && (got = tail_next_line(t, limit)) != TAIL_GOT_NONE) {
        if (got == TAIL_GOT_ERROR) {
            fprintf(stderr, "custodianctl: %s: cannot read: %s\n", t->path,
                    strerror(errno));
            return CUST_ERR_IO;
        }
        if (got == TAIL_GOT_LONG)
            tail_overlong(t);
        else
            rc = tail_emit(t);
    }
    return rc;
}

/*
 * The daemon cut the file back to SIZE: a batch whose write failed was
 * withdrawn, and the records of it already printed were never durable.
 * Reading resumes at the last whole line, which the next must link to.
 */
static int
tail_cut_back(struct tail *t, off_t size)
{
    off_t start, end;
    int rc;

    fprintf(stderr,
            "custodianctl: %s: cut back from %jd to %jd bytes; records "
            "printed from there on were withdrawn\n",
            t->path, (intmax_t)t->off, (intmax_t)size);
    t->has_prev = false;
    rc = tail_find_start(fileno(t->f), size, 1, &start, &end);
    if (rc == 0)
        rc = tail_seek(t, start, end, false);
    if (rc != 0)
        fprintf(stderr, "custodianctl: %s: cannot read: %s\n", t->path,
                strerror(errno));
    return rc;
}

/* The old file is read to its end; the new one is read from its start,
 * and its first record links to the old one's last. */
static int
tail_switch(struct tail *t)
{
    struct stat st;
    int rc = tail_read(t, -1);

    if (rc != 0)
        return rc;
    if (t->len > 0 || t->overlong)
        fprintf(stderr,
                "custodianctl: %s: the rotated file ends in an unterminated "
                "line; it is skipped\n",
                t->path);
    fclose(t->f);
    t->f = NULL;
    rc = tail_open_file(t, &st);
    if (rc != 0)
        return rc;
    return tail_seek(t, 0, 0, false);
}

/*
 * At the end of the file: has it been cut back, or has a new file taken
 * its place at the path? Returns 1 if so (read again at once), 0 if
 * nothing changed, or an error.
 */
static int
tail_changed(struct tail *t)
{
    struct stat st;
    int rc;

    if (fstat(fileno(t->f), &st) != 0)
        return CUST_ERR_IO;
    if (st.st_size < t->off) {
        rc = tail_cut_back(t, st.st_size);
        return rc != 0 ? rc : 1;
    }
    /* Between the rename and the new file, there is no file at the path. */
    if (stat(t->path, &st) != 0 || (st.st_dev == t->dev && st.st_ino == t->ino))
        return 0;
    rc = tail_switch(t);
    return rc != 0 ? rc : 1;
}

static void
tail_on_signal(int sig)
{
    (void)sig;
    tail_stopping = 1;
}

/* Follows the log until SIGINT or SIGTERM, or an error. */
static int
tail_follow(struct tail *t)
{
    struct sigaction sa;
    int rc = 0;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = tail_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    while (rc >= 0 && !tail_stopping) {
        rc = tail_read(t, -1);
        if (rc == 0 && !tail_stopping)
            rc = tail_changed(t);
        /* A signal ends the wait early: poll fails with EINTR. */
        if (rc == 0)
            poll(NULL, 0, TAIL_POLL_MS);
    }
    return rc < 0 ? rc : 0;
}

int
tail_main(int argc, char **argv)
{
    struct tail_opts o = {.lines = TAIL_DEFAULT_LINES, .follow = true};
    struct tail t = {0};
    char *path;
    int rc;

    rc = tail_parse(argc, argv, &o);
    if (rc != 0)
        return rc;
    path = tail_log_path(&o);
    if (path == NULL)
        return TAIL_EXIT_FAIL;

    rc = tail_open(&t, path, o.lines);
    if (rc == 0)
        rc = tail_read(&t, o.follow ? -1 : t.quiet_end);
    if (rc == 0 && o.follow)
        rc = tail_follow(&t);
    tail_close(&t);
    free(path);
    return rc != 0 || t.broken ? TAIL_EXIT_FAIL : TAIL_EXIT_OK;
}
