/*
 * Unit tests of audit: the record format and the hash chain, what the
 * verifier catches and where it says it caught it, recovery and
 * continuation at open, rotation, group commit under many threads,
 * escaping of client strings, the refusals, and failing disks (through
 * the test-only system call hooks).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <openssl/evp.h>

#include "custodian/error.h"
#include "audit.h"
#include "check_main.h"

#define ZERO_HASH                                                              \
    "0000000000000000000000000000000000000000000000000000000000000000"

/* A private directory for each test's files, removed afterwards. */
static char tmpdir[256];

static void
tmp_setup(void)
{
    const char *base = getenv("TMPDIR");

    snprintf(tmpdir, sizeof(tmpdir), "%s/custodian-audit-XXXXXX",
             base != NULL && *base != '\0' ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
tmp_teardown(void)
{
    char path[600];
    struct dirent *d;
    DIR *dir = opendir(tmpdir);

    if (dir == NULL)
        return;
    while ((d = readdir(dir)) != NULL) {
        if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", tmpdir, d->d_name);
        unlink(path);
    }
    closedir(dir);
    rmdir(tmpdir);
}

/* Returns the path of NAME in tmpdir; one of four rotating buffers. */
static const char *
tmp_path(const char *name)
{
    static char paths[4][300];
    static int next;
    char *p = paths[next++ % 4];

    snprintf(p, sizeof(paths[0]), "%s/%s", tmpdir, name);
    return p;
}

/* Reads the whole file at PATH; the result is NUL-terminated. */
static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data;
    long n;

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    data = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(data);
    ck_assert_uint_eq(fread(data, 1, (size_t)n, f), (size_t)n);
    data[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return data;
}

static void
spit(const char *path, const void *data, size_t len, const char *mode)
{
    FILE *f = fopen(path, mode);

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static off_t
file_size(const char *path)
{
    struct stat st;

    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_size;
}

/* The log's lines, newlines removed; every line must be terminated. */
struct lines {
    char *data;
    char *line[4096];
    size_t len[4096];
    size_t n;
};

static void
lines_read(const char *path, struct lines *l)
{
    size_t total, i, start = 0;

    l->data = slurp(path, &total);
    l->n = 0;
    for (i = 0; i < total; i++) {
        if (l->data[i] != '\n')
            continue;
        ck_assert_uint_lt(l->n, 4096);
        l->line[l->n] = l->data + start;
        l->len[l->n] = i - start;
        l->data[i] = '\0';
        l->n++;
        start = i + 1;
    }
    ck_assert_uint_eq(start, total);
}

/* Writes the lines back, each with its newline. */
static void
lines_write(const char *path, const struct lines *l)
{
    size_t i;

    spit(path, "", 0, "wb");
    for (i = 0; i < l->n; i++) {
        spit(path, l->line[i], l->len[i], "ab");
        spit(path, "\n", 1, "ab");
    }
}

static void
sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen;
    int i;

    ck_assert_int_eq(EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL), 1);
    for (i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* A record as the daemon would make it, numbered N. */
static json_t *
record(int n)
{
    json_t *r =
        json_pack("{s:s, s:{s:i, s:i}, s:s, s:i}", "event", "sign", "caller",
                  "uid", 1000, "pid", 42, "key", "alice", "n", n);

    ck_assert_ptr_nonnull(r);
    return r;
}

/* Appends records FIRST..FIRST+N-1 to the log at PATH, checking seq. */
static void
log_records(const char *path, uint64_t first, int n)
{
    struct audit *a;
    uint64_t seq;
    json_t *r;
    int i;

    ck_assert_int_eq(audit_open(path, &a), 0);
    for (i = 0; i < n; i++) {
        r = record(i);
        ck_assert_int_eq(audit_write(a, r, &seq), 0);
        ck_assert_uint_eq(seq, first + (uint64_t)i);
        json_decref(r);
    }
    ck_assert(!audit_degraded(a));
    audit_close(a);
}

static int
verify1(const char *path, struct audit_verify_result *res)
{
    const char *paths[] = {path};

    return audit_verify(paths, 1, res);
}

static void
assert_good(const char *path, uint64_t first, uint64_t last)
{
    struct audit_verify_result res;
    int rc = verify1(path, &res);

    ck_assert_msg(rc == 0, "verify failed at line %llu: %s",
                  (unsigned long long)res.line, res.reason);
    ck_assert_uint_eq(res.records, last - first + 1);
    ck_assert_uint_eq(res.first_seq, first);
    ck_assert_uint_eq(res.last_seq, last);
}

/* Expects the verifier to stop at LINE of file FILE with REASON. */
static void
assert_bad(const struct audit_verify_result *res, int rc, size_t file,
           uint64_t line, const char *reason)
{
    ck_assert_int_eq(rc, CUST_ERR_AUDIT);
    ck_assert_uint_eq(res->file, file);
    ck_assert_uint_eq(res->line, line);
    ck_assert_str_eq(res->reason, reason);
}

/* True if S looks like "2026-12-03T19:40:00.123456Z". */
static int
is_rfc3339_us(const char *s)
{
    static const char form[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    size_t i;

    if (strlen(s) != sizeof(form) - 1)
        return 0;
    for (i = 0; form[i] != '\0'; i++) {
        if (form[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != form[i])
            return 0;
    }
    return 1;
}

START_TEST(chain_of_records)
{
    const char *path = tmp_path("audit.log");
    static const char *const keys[] = {"seq",    "time", "prev", "event",
                                       "caller", "key",  "n"};
    char hash[65] = ZERO_HASH, suffix[128];
    struct lines l;
    json_t *rec;
    size_t i, k;
    void *it;

    log_records(path, 1, 50);
    lines_read(path, &l);
    ck_assert_uint_eq(l.n, 50);
    for (i = 0; i < l.n; i++) {
        rec = json_loadb(l.line[i], l.len[i], 0, NULL);
        ck_assert_ptr_nonnull(rec);
        /* The module's fields first, then the caller's, in their order. */
        for (k = 0, it = json_object_iter(rec); it != NULL;
             k++, it = json_object_iter_next(rec, it)) {
            ck_assert_uint_lt(k, 7);
            ck_assert_str_eq(json_object_iter_key(it), keys[k]);
        }
        ck_assert_uint_eq(k, 7);
        ck_assert_int_eq(json_integer_value(json_object_get(rec, "seq")),
                         (json_int_t)i + 1);
        ck_assert(
            is_rfc3339_us(json_string_value(json_object_get(rec, "time"))));
        ck_assert_str_eq(json_string_value(json_object_get(rec, "prev")), hash);
        json_decref(rec);

        /* Compact: exactly these bytes, no spaces. */
        snprintf(suffix, sizeof(suffix),
                 "\",\"event\":\"sign\",\"caller\":{\"uid\":1000,\"pid\":42},"
                 "\"key\":\"alice\",\"n\":%zu}",
                 i);
        ck_assert_uint_gt(l.len[i], strlen(suffix));
        ck_assert_str_eq(l.line[i] + l.len[i] - strlen(suffix), suffix);
        ck_assert_int_eq(strncmp(l.line[i], "{\"seq\":", 7), 0);
        sha256_hex(l.line[i], l.len[i], hash);
    }
    free(l.data);
    assert_good(path, 1, 50);
}
END_TEST

/* Replaces the first FROM in line K (1-based) with TO, same length. */
static void
edit_line(const char *path, size_t k, const char *from, const char *to)
{
    struct lines l;
    char *p;

    ck_assert_uint_eq(strlen(from), strlen(to));
    lines_read(path, &l);
    ck_assert_uint_le(k, l.n);
    p = strstr(l.line[k - 1], from);
    ck_assert_ptr_nonnull(p);
    memcpy(p, to, strlen(to));
    lines_write(path, &l);
    free(l.data);
}

/*
 * An edit that leaves the record well-formed is caught at the record
 * after it, whose "prev" no longer matches; an edit that breaks the
 * record, or its seq, is caught at the record itself.
 */
START_TEST(edit_of_a_value_caught_at_next_line)
{
    const char *path = tmp_path("audit.log");
    struct audit_verify_result res;
    int rc;

    log_records(path, 1, 10);
    edit_line(path, 4, "alice", "alicf");
    rc = verify1(path, &res);
    assert_bad(&res, rc, 0, 5, "prev does not match the previous record");
    ck_assert(res.has_seq);
    ck_assert_uint_eq(res.seq, 5);
    ck_assert_uint_eq(res.records, 4);
}
END_TEST

START_TEST(edit_of_syntax_caught_at_its_line)
{
    const char *path = tmp_path("audit.log");
    struct audit_verify_result res;
    int rc;

    log_records(path, 1, 10);
    edit_line(path, 4, "\"n\":3}", "\"n\":3]");
    rc = verify1(path, &res);
    assert_bad(&res, rc, 0, 4, "not a JSON object");
    ck_assert(!res.has_seq);
    ck_assert_uint_eq(res.records, 3);
}
END_TEST

START_TEST(edit_of_seq_caught_at_its_line)
{
    const char *path = tmp_path("audit.log");
    struct audit_verify_result res;
    int rc;

    log_records(path, 1, 10);
    edit_line(path, 4, "\"seq\":4,", "\"seq\":9,");
    rc = verify1(path, &res);
    assert_bad(&res, rc, 0, 4, "seq 9 follows 3");
    ck_assert_uint_eq(res.seq, 9);
}
END_TEST

/* What the chain cannot see: nothing vouches for the newest record. */
START_TEST(edit_of_last_record_has_no_witness)
{
    const char *path = tmp_path("audit.log");

    log_records(path, 1, 10);
    edit_line(path, 10, "alice", "alicf");
    assert_good(path, 1, 10);
}
END_TEST

START_TEST(deleted_record_caught)
{
    const char *path = tmp_path("audit.log");
    struct audit_verify_result res;
    struct lines l;
    int rc;

    log_records(path, 1, 10);
    lines_read(path, &l);
    memmove(&l.line[3], &l.line[4], 6 * sizeof(l.line[0]));
    memmove(&l.len[3], &l.len[4], 6 * sizeof(l.len[0]));
    l.n--;
    lines_write(path, &l);
    rc = verify1(path, &res);
    assert_bad(&res, rc, 0, 4, "seq 5 follows 3");

    /* Without its first record the chain holds, but starts at seq 2: the
     * verifier reports where it starts for the reader to judge. */
    memmove(&l.line[0], &l.line[1], 8 * sizeof(l.line[0]));
    memmove(&l.len[0], &l.len[1], 8 * sizeof(l.len[0]));
    l.n = 2;
    lines_write(path, &l);
    assert_good(path, 2, 3);
    free(l.data);
}
END_TEST

START_TEST(reordered_records_caught)
{
    const char *path = tmp_path("audit.log");
    struct audit_verify_result res;
    struct lines l;
    size_t len;
    char *line;
    int rc;

    log_records(path, 1, 10);
    lines_read(path, &l);
    line = l.line[3];
    len = l.len[3];
    l.line[3] = l.line[4];
    l.len[3] = l.len[4];
    l.line[4] = line;
    l.len[4] = len;
    lines_write(path, &l);
    free(l.data);
    rc = verify1(path, &res);
    assert_bad(&res, rc, 0, 4, "seq 5 follows 3");
}
END_TEST

START_TEST(reopen_continues_chain)
{
    const char *path = tmp_path("audit.log");
    struct audit *a;

    log_records(path, 1, 5);
    log_records(path, 6, 5);
    ck_assert_int_eq(audit_open(path, &a), 0);
    ck_assert_uint_eq(audit_recovered_bytes(a), 0);
    audit_close(a);
    assert_good(path, 1, 10);
}
END_TEST

START_TEST(partial_last_line_cut_at_open)
{
    static const char partial[] = "{\"seq\":6,\"time\":\"2026-12-03T19:4";
    const char *path = tmp_path("audit.log");
    struct audit_verify_result res;
    struct audit *a;
    off_t size;
    int rc;

    log_records(path, 1, 5);
    size = file_size(path);
    spit(path, partial, strlen(partial), "ab");
    rc = verify1(path, &res);
    assert_bad(&res, rc, 0, 6, "line not terminated");

    ck_assert_int_eq(audit_open(path, &a), 0);
    ck_assert_uint_eq(audit_recovered_bytes(a), strlen(partial));
    ck_assert_int_eq(file_size(path), size);
    audit_close(a);
    log_records(path, 6, 1);
    assert_good(path, 1, 6);
}
END_TEST

START_TEST(file_of_one_partial_line_starts_afresh)
{
    const char *path = tmp_path("audit.log");
    struct audit *a;

    spit(path, "{\"seq\":1,", 9, "wb");
    ck_assert_int_eq(audit_open(path, &a), 0);
    ck_assert_uint_eq(audit_recovered_bytes(a), 9);
    ck_assert_int_eq(file_size(path), 0);
    audit_close(a);
    log_records(path, 1, 2);
    assert_good(path, 1, 2);
}
END_TEST

/* A file that does not end in a record is left alone. */
START_TEST(foreign_file_refused)
{
    const char *path = tmp_path("audit.log");
    struct audit *a = NULL;
    char *big;

    spit(path, "hello\n", 6, "wb");
    ck_assert_int_eq(audit_open(path, &a), CUST_ERR_AUDIT);
    ck_assert_ptr_null(a);
    ck_assert_int_eq(file_size(path), 6);

    /* No newline in the last AUDIT_RECORD_MAX bytes: not a cut record. */
    big = malloc(AUDIT_RECORD_MAX + 10);
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', AUDIT_RECORD_MAX + 10);
    spit(path, big, AUDIT_RECORD_MAX + 10, "ab");
    free(big);
    ck_assert_int_eq(audit_open(path, &a), CUST_ERR_AUDIT);
    ck_assert_int_eq(file_size(path), 6 + AUDIT_RECORD_MAX + 10);
}
END_TEST

START_TEST(one_writer_per_file)
{
    const char *path = tmp_path("audit.log");
    struct audit *a, *b = NULL;
    struct stat st;

    umask(022);
    ck_assert_int_eq(audit_open(path, &a), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0640);
    ck_assert_int_eq(audit_open(path, &b), CUST_ERR_IO);
    ck_assert_ptr_null(b);
    audit_close(a);
    ck_assert_int_eq(audit_open(path, &b), 0);
    audit_close(b);
    audit_close(NULL);
}
END_TEST

START_TEST(rotation_continues_chain)
{
    char path[300], archive[300], other[300], hash[65];
    struct audit_verify_result res;
    const char *paths[2];
    struct lines old, cur;
    struct audit *a;
    uint64_t seq;
    json_t *r = record(0);
    int i, rc;

    snprintf(path, sizeof(path), "%s", tmp_path("audit.log"));
    snprintf(archive, sizeof(archive), "%s", tmp_path("audit.log.1"));
    snprintf(other, sizeof(other), "%s", tmp_path("audit.log.2"));
    ck_assert_int_eq(audit_open(path, &a), 0);
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(audit_write(a, r, NULL), 0);
    ck_assert_int_eq(audit_rotate(a, archive), 0);
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(audit_write(a, r, NULL), 0);

    /* An existing archive is never overwritten; logging carries on. */
    spit(other, "keep\n", 5, "wb");
    ck_assert_int_eq(audit_rotate(a, other), CUST_ERR_IO);
    ck_assert_int_eq(audit_write(a, r, &seq), 0);
    ck_assert_uint_eq(seq, 7);
    audit_close(a);
    json_decref(r);
    ck_assert_int_eq(file_size(other), 5);

    lines_read(archive, &old);
    lines_read(path, &cur);
    ck_assert_uint_eq(old.n, 3);
    ck_assert_uint_eq(cur.n, 4);
    ck_assert_ptr_nonnull(strstr(cur.line[0], "\"seq\":4,"));
    sha256_hex(old.line[2], old.len[2], hash);
    ck_assert_ptr_nonnull(strstr(cur.line[0], hash));
    free(old.data);
    free(cur.data);

    paths[0] = archive;
    paths[1] = path;
    ck_assert_int_eq(audit_verify(paths, 2, &res), 0);
    ck_assert_uint_eq(res.records, 7);
    paths[0] = path;
    paths[1] = archive;
    rc = audit_verify(paths, 2, &res);
    assert_bad(&res, rc, 1, 1, "seq 1 follows 7");
}
END_TEST

#define THREADS           8
#define WRITES_PER_THREAD 500

struct writer_arg {
    struct audit *a;
    uint64_t seq[WRITES_PER_THREAD];
    int failed;
};

static void *
writer_thread(void *p)
{
    struct writer_arg *w = p;
    json_t *r;
    int i;

    for (i = 0; i < WRITES_PER_THREAD; i++) {
        r = record(i);
        if (audit_write(w->a, r, &w->seq[i]) != 0)
            w->failed++;
        json_decref(r);
    }
    return NULL;
}

START_TEST(group_commit_under_threads)
{
    static struct writer_arg args[THREADS];
    static unsigned char seen[THREADS * WRITES_PER_THREAD + 1];
    const char *path = tmp_path("audit.log");
    pthread_t th[THREADS];
    struct audit_stats st;
    struct audit *a;
    struct lines l;
    uint64_t n;
    int t, i;

    ck_assert_int_eq(audit_open(path, &a), 0);
    for (t = 0; t < THREADS; t++) {
        args[t].a = a;
        ck_assert_int_eq(pthread_create(&th[t], NULL, writer_thread, &args[t]),
                         0);
    }
    for (t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    audit_stats(a, &st);
    audit_close(a);

    /* Each seq exactly once, and in order within a thread. */
    for (t = 0; t < THREADS; t++) {
        ck_assert_int_eq(args[t].failed, 0);
        for (i = 0; i < WRITES_PER_THREAD; i++) {
            ck_assert_uint_ge(args[t].seq[i], 1);
            ck_assert_uint_le(args[t].seq[i], THREADS * WRITES_PER_THREAD);
            ck_assert_int_eq(seen[args[t].seq[i]]++, 0);
            if (i > 0)
                ck_assert_uint_gt(args[t].seq[i], args[t].seq[i - 1]);
        }
    }
    ck_assert_uint_eq(st.records, THREADS * WRITES_PER_THREAD);
    ck_assert_uint_eq(st.failures, 0);
    ck_assert_msg(st.syncs < st.records, "%llu syncs for %llu records",
                  (unsigned long long)st.syncs, (unsigned long long)st.records);
    ck_assert_uint_gt(st.largest_batch, 1);
    /* Every durable batch is in the histogram, one bucket each. */
    for (i = 0, n = 0; i < AUDIT_BATCH_BUCKETS; i++)
        n += st.batches[i];
    ck_assert_uint_eq(n, st.syncs);
    ck_assert_uint_lt(st.batches[0], st.syncs); /* some held more than one */
    lines_read(path, &l);
    ck_assert_uint_eq(l.n, THREADS * WRITES_PER_THREAD);
    free(l.data);
    assert_good(path, 1, THREADS * WRITES_PER_THREAD);
}
END_TEST

/* What the callbacks saw, in the order they were called. */
static struct {
    int status[256];
    uint64_t seq[256];
    int tag[256];
    pthread_t thread[256];
    atomic_int n;
    sem_t called;
} done_log;

static void
done_record(void *arg, int status, uint64_t seq)
{
    int i = atomic_fetch_add(&done_log.n, 1);

    done_log.status[i] = status;
    done_log.seq[i] = seq;
    done_log.tag[i] = (int)(intptr_t)arg;
    done_log.thread[i] = pthread_self();
    sem_post(&done_log.called);
}

static void
done_setup(void)
{
    tmp_setup();
    memset(&done_log, 0, sizeof(done_log));
    sem_init(&done_log.called, 0, 0);
}

START_TEST(submit_borrows_and_reports_in_order)
{
    const char *path = tmp_path("audit.log");
    struct audit *a;
    struct lines l;
    json_t *r;
    int i;

    ck_assert_int_eq(audit_open(path, &a), 0);
    for (i = 0; i < 200; i++) {
        r = record(i);
        ck_assert_int_eq(audit_submit(a, r, done_record, (void *)(intptr_t)i),
                         0);
        /* Borrowed: changing or freeing it now does not touch the log. */
        json_object_set_new(r, "n", json_string("changed"));
        json_decref(r);
    }
    /* Closing waits for every queued record. */
    audit_close(a);
    ck_assert_int_eq(atomic_load(&done_log.n), 200);
    for (i = 0; i < 200; i++) {
        ck_assert_int_eq(done_log.status[i], 0);
        ck_assert_uint_eq(done_log.seq[i], (uint64_t)i + 1);
        ck_assert_int_eq(done_log.tag[i], i);
        ck_assert(!pthread_equal(done_log.thread[i], pthread_self()));
    }
    lines_read(path, &l);
    ck_assert_uint_eq(l.n, 200);
    ck_assert_ptr_null(strstr(l.line[7], "changed"));
    free(l.data);
    assert_good(path, 1, 200);
}
END_TEST

START_TEST(client_strings_stay_on_one_line)
{
    static const char *const nasty[] = {
        "line one\nline two\r\n",   "quote \" and back\\slash",
        "\x01\x02\x1b[31m\x7f",     "caf\xc3\xa9 \xe2\x80\xa8 sep",
        "}\n{\"seq\":999,\"x\":\"", "\t tab",
    };
    const char *path = tmp_path("audit.log");
    struct audit *a;
    struct lines l;
    json_t *r, *back;
    uint64_t seq;
    size_t i;

    r = json_object();
    for (i = 0; i < sizeof(nasty) / sizeof(nasty[0]); i++) {
        char key[16];

        snprintf(key, sizeof(key), "s%zu", i);
        json_object_set_new(r, key, json_string(nasty[i]));
    }
    json_object_set_new(r, "nul", json_stringn("a\0b", 3));
    json_object_set_new(r, "key\nwith newline", json_true());
    ck_assert_int_eq(audit_open(path, &a), 0);
    ck_assert_int_eq(audit_write(a, r, &seq), 0);
    audit_close(a);

    lines_read(path, &l);
    ck_assert_uint_eq(l.n, 1);
    for (i = 0; i < l.len[0]; i++)
        ck_assert(l.line[0][i] >= 0x20 && l.line[0][i] < 0x7f);
    back = json_loadb(l.line[0], l.len[0], JSON_ALLOW_NUL, NULL);
    ck_assert_ptr_nonnull(back);
    for (i = 0; i < sizeof(nasty) / sizeof(nasty[0]); i++) {
        char key[16];

        snprintf(key, sizeof(key), "s%zu", i);
        ck_assert_str_eq(json_string_value(json_object_get(back, key)),
                         nasty[i]);
    }
    ck_assert_uint_eq(json_string_length(json_object_get(back, "nul")), 3);
    ck_assert(json_is_true(json_object_get(back, "key\nwith newline")));
    json_decref(back);
    json_decref(r);
    free(l.data);
    assert_good(path, 1, 1);
}
END_TEST

/*
 * jansson will not make a string from bytes that are not UTF-8, so a
 * caller finds out when building the record; one that forces them in
 * with the _nocheck functions gets the record refused, nothing written.
 */
START_TEST(invalid_utf8_refused)
{
    const char *path = tmp_path("audit.log");
    struct audit *a;
    uint64_t seq;
    json_t *r;

    ck_assert_ptr_null(json_string("bad \xff byte"));
    ck_assert_int_eq(audit_open(path, &a), 0);

    r = json_object();
    json_object_set_new(r, "exe", json_stringn_nocheck("/bin/\xff\xfe", 7));
    ck_assert_int_eq(audit_write(a, r, &seq), CUST_ERR_ARG);
    json_decref(r);

    r = json_object();
    json_object_set_new_nocheck(r, "\xc3", json_true());
    ck_assert_int_eq(audit_write(a, r, &seq), CUST_ERR_ARG);
    json_decref(r);

#if JANSSON_VERSION_HEX >= 0x020e00
    r = json_object();
    json_object_setn_new(r, "a\0b", 3, json_true());
    ck_assert_int_eq(audit_write(a, r, &seq), CUST_ERR_ARG);
    json_decref(r);
#endif

    r = record(0);
    ck_assert_int_eq(audit_write(a, r, &seq), 0);
    ck_assert_uint_eq(seq, 1);
    json_decref(r);
    audit_close(a);
    assert_good(path, 1, 1);
}
END_TEST

START_TEST(reserved_and_malformed_refused)
{
    static const char *const reserved[] = {"seq", "time", "prev"};
    const char *path = tmp_path("audit.log");
    struct audit *a;
    json_t *r, *deep;
    size_t i;

    ck_assert_int_eq(audit_open(path, &a), 0);
    for (i = 0; i < 3; i++) {
        r = record(0);
        json_object_set_new(r, reserved[i], json_integer(1));
        ck_assert_int_eq(audit_write(a, r, NULL), CUST_ERR_ARG);
        ck_assert_int_eq(audit_submit(a, r, done_record, NULL), CUST_ERR_ARG);
        json_decref(r);
    }
    ck_assert_int_eq(audit_write(a, NULL, NULL), CUST_ERR_ARG);
    r = json_array();
    ck_assert_int_eq(audit_write(a, r, NULL), CUST_ERR_ARG);
    json_decref(r);
    r = json_string("x");
    ck_assert_int_eq(audit_write(a, r, NULL), CUST_ERR_ARG);
    json_decref(r);

    /* Deeper than a reader may go. */
    deep = json_object();
    for (i = 0; i < 3000; i++)
        deep = json_pack("{s:o}", "context", deep);
    ck_assert_int_eq(audit_write(a, deep, NULL), CUST_ERR_ARG);
    json_decref(deep);

    /* The names are reserved at the top level only. */
    r = json_pack("{s:{s:i}}", "context", "seq", 5);
    ck_assert_int_eq(audit_write(a, r, NULL), 0);
    json_decref(r);
    r = json_object();
    ck_assert_int_eq(audit_write(a, r, NULL), 0);
    json_decref(r);
    audit_close(a);
    ck_assert_int_eq(atomic_load(&done_log.n), 0);
    assert_good(path, 1, 2);
}
END_TEST

/*
 * The widest line a record can make: the module's prefix with a 20-digit
 * seq is 138 bytes; {"x":"<L bytes>"} adds a comma, 6 + L bytes and the
 * closing brace; then the newline. 147 + L <= AUDIT_RECORD_MAX.
 */
START_TEST(oversized_record_refused)
{
    const size_t fits = AUDIT_RECORD_MAX - 147;
    const char *path = tmp_path("audit.log");
    struct audit *a;
    struct lines l;
    json_t *r;
    char *s;

    s = malloc(1024 * 1024 + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, 'a', 1024 * 1024);
    ck_assert_int_eq(audit_open(path, &a), 0);

    r = json_pack("{s:s#}", "x", s, (int)fits + 1);
    ck_assert_int_eq(audit_write(a, r, NULL), CUST_ERR_TOO_BIG);
    json_decref(r);
    r = json_pack("{s:s#}", "x", s, 1024 * 1024);
    ck_assert_int_eq(audit_write(a, r, NULL), CUST_ERR_TOO_BIG);
    json_decref(r);
    r = json_pack("{s:s#}", "x", s, (int)fits);
    ck_assert_int_eq(audit_write(a, r, NULL), 0);
    json_decref(r);
    audit_close(a);
    free(s);

    lines_read(path, &l);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_uint_le(l.len[0] + 1, AUDIT_RECORD_MAX);
    free(l.data);
    assert_good(path, 1, 1);
}
END_TEST

/* Failures the hooks inject, set by a test while the writer waits. */
enum fault {
    FAULT_NONE,
    FAULT_WRITE_SHORT_THEN_ENOSPC,
    FAULT_SYNC_EIO,
    FAULT_WRITE_AND_CUT,
};

static struct {
    atomic_int fault;
    atomic_int writes;     /* calls to the write hook */
    atomic_int gate;       /* the next sync waits for release */
    atomic_int cut_fail;   /* ftruncate calls still to fail */
    atomic_int short_next; /* the next failing write writes half first */
    sem_t held;            /* posted when a sync is held at the gate */
    sem_t release;
} hook;

static ssize_t
hook_write(int fd, const void *data, size_t len)
{
    int fault = atomic_load(&hook.fault);

    atomic_fetch_add(&hook.writes, 1);
    if (fault != FAULT_WRITE_SHORT_THEN_ENOSPC && fault != FAULT_WRITE_AND_CUT)
        return write(fd, data, len);
    /* Half goes to the file, as when a disk fills mid-write. */
    if (atomic_exchange(&hook.short_next, 0) && len > 1)
        return write(fd, data, len / 2);
    errno = ENOSPC;
    return -1;
}

/* Makes the writes fail from now on, the first one after a short write. */
static void
hook_fail_writes(enum fault fault)
{
    atomic_store(&hook.short_next, 1);
    atomic_store(&hook.fault, fault);
}

static int
hook_fdatasync(int fd)
{
    if (atomic_exchange(&hook.gate, 0)) {
        sem_post(&hook.held);
        sem_wait(&hook.release);
    }
    if (atomic_load(&hook.fault) == FAULT_SYNC_EIO) {
        errno = EIO;
        return -1;
    }
    return fdatasync(fd);
}

static int
hook_ftruncate(int fd, off_t len)
{
    if (atomic_load(&hook.cut_fail) > 0) {
        atomic_fetch_sub(&hook.cut_fail, 1);
        errno = EIO;
        return -1;
    }
    return ftruncate(fd, len);
}

static const struct audit_io hook_io = {hook_write, hook_fdatasync,
                                        hook_ftruncate};

static void
hook_setup(void)
{
    done_setup();
    memset(&hook, 0, sizeof(hook));
    sem_init(&hook.held, 0, 0);
    sem_init(&hook.release, 0, 0);
}

static void
wait_called(int n)
{
    while (n-- > 0)
        sem_wait(&done_log.called);
}

/*
 * One good record is held in its sync while three more queue up behind
 * it; those three then meet a full disk as one batch.
 */
START_TEST(full_disk_fails_whole_batch)
{
    const char *path = tmp_path("audit.log");
    struct audit_stats st;
    struct audit *a;
    off_t size;
    uint64_t seq;
    json_t *r = record(0);
    int i;

    log_records(path, 1, 3);
    ck_assert_int_eq(audit_open(path, &a), 0);
    audit_set_io(a, &hook_io);

    atomic_store(&hook.gate, 1);
    ck_assert_int_eq(audit_submit(a, r, done_record, (void *)0), 0);
    sem_wait(&hook.held);
    for (i = 1; i <= 3; i++)
        ck_assert_int_eq(audit_submit(a, r, done_record, (void *)(intptr_t)i),
                         0);
    hook_fail_writes(FAULT_WRITE_SHORT_THEN_ENOSPC);
    sem_post(&hook.release);
    wait_called(4);

    ck_assert_int_eq(done_log.status[0], 0);
    ck_assert_uint_eq(done_log.seq[0], 4);
    for (i = 1; i <= 3; i++) {
        ck_assert_int_eq(done_log.tag[i], i);
        ck_assert_int_eq(done_log.status[i], CUST_ERR_AUDIT);
        ck_assert_uint_eq(done_log.seq[i], 0);
    }
    ck_assert(audit_degraded(a));
    audit_stats(a, &st);
    ck_assert_uint_eq(st.failures, 3);
    ck_assert_uint_eq(st.largest_batch, 3);
    ck_assert_int_eq(st.last_errno, ENOSPC);
    ck_assert_int_ge(atomic_load(&hook.writes), 3);

    /* Nothing of the failed batch is left in the file. */
    assert_good(path, 1, 4);
    size = file_size(path);

    /* Still failing: still degraded. Then the disk has room again. */
    ck_assert_int_eq(audit_write(a, r, &seq), CUST_ERR_AUDIT);
    ck_assert(audit_degraded(a));
    ck_assert_int_eq(file_size(path), size);
    atomic_store(&hook.fault, FAULT_NONE);
    ck_assert_int_eq(audit_write(a, r, &seq), 0);
    ck_assert_uint_eq(seq, 5);
    ck_assert(!audit_degraded(a));
    audit_close(a);
    json_decref(r);
    assert_good(path, 1, 5);
}
END_TEST

START_TEST(failed_sync_is_not_durable)
{
    const char *path = tmp_path("audit.log");
    struct audit_stats st;
    struct audit *a;
    off_t size;
    uint64_t seq = 99;
    json_t *r = record(0);

    log_records(path, 1, 2);
    size = file_size(path);
    ck_assert_int_eq(audit_open(path, &a), 0);
    audit_set_io(a, &hook_io);
    atomic_store(&hook.fault, FAULT_SYNC_EIO);
    ck_assert_int_eq(audit_write(a, r, &seq), CUST_ERR_AUDIT);
    ck_assert_uint_eq(seq, 99);
    ck_assert(audit_degraded(a));
    ck_assert_int_eq(file_size(path), size);
    audit_stats(a, &st);
    ck_assert_int_eq(st.last_errno, EIO);
    ck_assert_uint_eq(st.records, 0);

    atomic_store(&hook.fault, FAULT_NONE);
    ck_assert_int_eq(audit_write(a, r, &seq), 0);
    ck_assert_uint_eq(seq, 3);
    ck_assert(!audit_degraded(a));
    audit_close(a);
    json_decref(r);
    assert_good(path, 1, 3);
}
END_TEST

/*
 * When even the cut fails, the half record stays in the file for a
 * while; the next batch cuts it before it writes, or fails too.
 */
START_TEST(failed_cut_retried_before_next_batch)
{
    const char *path = tmp_path("audit.log");
    struct audit_verify_result res;
    struct audit *a;
    uint64_t seq;
    json_t *r = record(0);
    int rc;

    log_records(path, 1, 2);
    ck_assert_int_eq(audit_open(path, &a), 0);
    audit_set_io(a, &hook_io);
    hook_fail_writes(FAULT_WRITE_AND_CUT);
    atomic_store(&hook.cut_fail, 2);
    ck_assert_int_eq(audit_write(a, r, &seq), CUST_ERR_AUDIT);
    rc = verify1(path, &res);
    assert_bad(&res, rc, 0, 3, "line not terminated");

    /* The disk has room, but the cut still fails: so does the batch. */
    atomic_store(&hook.fault, FAULT_NONE);
    ck_assert_int_eq(audit_write(a, r, &seq), CUST_ERR_AUDIT);
    ck_assert(audit_degraded(a));
    ck_assert_int_eq(audit_write(a, r, &seq), 0);
    ck_assert_uint_eq(seq, 3);
    ck_assert(!audit_degraded(a));
    audit_close(a);
    json_decref(r);
    assert_good(path, 1, 3);
}
END_TEST

/* Writes LINE plus a newline to the end of PATH. */
static void
append_line(const char *path, const char *line)
{
    spit(path, line, strlen(line), "ab");
    spit(path, "\n", 1, "ab");
}

START_TEST(verify_reasons)
{
    const char *path = tmp_path("audit.log");
    const char *empty = tmp_path("empty.log");
    const char *paths[3];
    struct audit_verify_result res;
    int rc;

    /* Empty files hold a good, empty chain. */
    spit(empty, "", 0, "wb");
    ck_assert_int_eq(verify1(empty, &res), 0);
    ck_assert_uint_eq(res.records, 0);

    ck_assert_int_eq(audit_verify(paths, 0, &res), CUST_ERR_ARG);
    paths[0] = empty;
    paths[1] = tmp_path("missing.log");
    ck_assert_int_eq(audit_verify(paths, 2, &res), CUST_ERR_IO);
    ck_assert_uint_eq(res.file, 1);
    ck_assert_ptr_nonnull(strstr(res.reason, "cannot open"));

    spit(path, "", 0, "wb");
    append_line(path, "{\"seq\":1,\"time\":\"t\",\"prev\":\"xyz\"}");
    rc = verify1(path, &res);
    assert_bad(&res, rc, 0, 1, "prev is not 64 lowercase hex digits");
    ck_assert(res.has_seq);
    ck_assert_uint_eq(res.seq, 1);

    spit(path, "", 0, "wb");
    append_line(path, "{\"seq\":1,\"time\":\"t\",\"prev\":\"" ZERO_HASH "\"}");
    append_line(path, "{\"seq\":2,\"prev\":\"" ZERO_HASH "\"}");
    rc = verify1(path, &res);
    assert_bad(&res, rc, 0, 2, "time missing or not a string");

    spit(path, "", 0, "wb");
    append_line(path, "{\"seq\":\"1\",\"time\":\"t\"}");
    rc = verify1(path, &res);
    assert_bad(&res, rc, 0, 1, "seq missing or not a positive integer");
    ck_assert(!res.has_seq);

    spit(path, "", 0, "wb");
    append_line(path, "");
    rc = verify1(path, &res);
    assert_bad(&res, rc, 0, 1, "not a JSON object");

    spit(path, "", 0, "wb");
    append_line(path,
                "{\"seq\":1,\"seq\":2,\"time\":\"t\",\"prev\":\"" ZERO_HASH
                "\"}");
    rc = verify1(path, &res);
    assert_bad(&res, rc, 0, 1, "not a JSON object");

    /* The chain runs through empty files. */
    spit(path, "", 0, "wb");
    log_records(path, 1, 3);
    paths[0] = empty;
    paths[1] = path;
    paths[2] = empty;
    ck_assert_int_eq(audit_verify(paths, 3, &res), 0);
    ck_assert_uint_eq(res.records, 3);
}
END_TEST

/* One link at a time, as a follower of the log checks it. */
START_TEST(verify_link_by_link)
{
    static const char zero[] = "000000000000000000000000000000000000000000"
                               "0000000000000000000000";
    struct audit_verify_result r;
    char first[200], second[200], hash[65];

    snprintf(first, sizeof(first), "{\"seq\":7,\"time\":\"t\",\"prev\":\"%s\"}",
             zero);
    sha256_hex(first, strlen(first), hash);
    snprintf(second, sizeof(second),
             "{\"seq\":8,\"time\":\"t\",\"prev\":\"%s\"}", hash);
    ck_assert_int_eq(
        audit_verify_link(first, strlen(first), second, strlen(second), &r), 0);
    ck_assert_uint_eq(r.last_seq, 8);
    /* The same record cannot follow itself: seq and prev are both off. */
    ck_assert_int_eq(
        audit_verify_link(second, strlen(second), second, strlen(second), &r),
        CUST_ERR_AUDIT);
    ck_assert_str_eq(r.reason, "seq 8 follows 8");
    /* Another line before it: prev no longer matches. */
    first[strlen(first) - 3] = '1'; /* the last digit of its prev */
    ck_assert_int_eq(
        audit_verify_link(first, strlen(first), second, strlen(second), &r),
        CUST_ERR_AUDIT);
    ck_assert_str_eq(r.reason, "prev does not match the previous record");
    ck_assert(r.has_seq);
    ck_assert_uint_eq(r.seq, 8);
    /* Alone, or after a line that is no record, it is judged by itself. */
    ck_assert_int_eq(audit_verify_link(NULL, 0, second, strlen(second), &r), 0);
    ck_assert_int_eq(audit_verify_link("junk", 4, second, strlen(second), &r),
                     0);
    ck_assert_int_eq(audit_verify_link(NULL, 0, "junk", 4, &r), CUST_ERR_AUDIT);
}
END_TEST

static Suite *
audit_suite(void)
{
    Suite *s = suite_create("audit");
    TCase *chain = tcase_create("chain");
    TCase *file = tcase_create("file");
    TCase *write = tcase_create("write");
    TCase *fault = tcase_create("fault");

    tcase_add_checked_fixture(chain, tmp_setup, tmp_teardown);
    tcase_add_test(chain, chain_of_records);
    tcase_add_test(chain, edit_of_a_value_caught_at_next_line);
    tcase_add_test(chain, edit_of_syntax_caught_at_its_line);
    tcase_add_test(chain, edit_of_seq_caught_at_its_line);
    tcase_add_test(chain, edit_of_last_record_has_no_witness);
    tcase_add_test(chain, deleted_record_caught);
    tcase_add_test(chain, reordered_records_caught);
    tcase_add_test(chain, verify_reasons);
    tcase_add_test(chain, verify_link_by_link);
    suite_add_tcase(s, chain);

    tcase_add_checked_fixture(file, tmp_setup, tmp_teardown);
    tcase_add_test(file, reopen_continues_chain);
    tcase_add_test(file, partial_last_line_cut_at_open);
    tcase_add_test(file, file_of_one_partial_line_starts_afresh);
    tcase_add_test(file, foreign_file_refused);
    tcase_add_test(file, one_writer_per_file);
    tcase_add_test(file, rotation_continues_chain);
    suite_add_tcase(s, file);

    /* Thousands of fdatasync calls: slow disks and sanitizers need time. */
    tcase_set_timeout(write, 300);
    tcase_add_checked_fixture(write, done_setup, tmp_teardown);
    tcase_add_test(write, group_commit_under_threads);
    tcase_add_test(write, submit_borrows_and_reports_in_order);
    tcase_add_test(write, client_strings_stay_on_one_line);
    tcase_add_test(write, invalid_utf8_refused);
    tcase_add_test(write, reserved_and_malformed_refused);
    tcase_add_test(write, oversized_record_refused);
    suite_add_tcase(s, write);

    tcase_add_checked_fixture(fault, hook_setup, tmp_teardown);
    tcase_add_test(fault, full_disk_fails_whole_batch);
    tcase_add_test(fault, failed_sync_is_not_durable);
    tcase_add_test(fault, failed_cut_retried_before_next_batch);
    suite_add_tcase(s, fault);
    return s;
}

int
main(void)
{
    return check_run(audit_suite());
}
