/*
 * The audit log: one JSON record per request, hash-chained, made durable
 * before the request's answer is released.
 *
 * A record is one line of compact JSON. The caller supplies an object with
 * its own fields; the module puts three fields of its own in front:
 * "seq" (1 for the first record ever, one more for each record after it,
 * across rotated files), "time" (UTC, RFC 3339 with microseconds) and
 * "prev" (lowercase hex SHA-256 of the previous record's line, newline
 * excluded; 64 zeros before the first record). Changing, removing or
 * reordering any record but the last breaks the chain, and
 * audit_verify() names the first place where it breaks.
 *
 * One writer thread owns the file. audit_submit() serializes a record in
 * the caller's thread and queues it; the writer takes everything queued,
 * writes it with one write and makes it durable with one fdatasync
 * (group commit), then reports each record to its callback. A record is
 * reported durable only after the fdatasync that covers it succeeded.
 * When a write or fdatasync fails, every record of that batch is reported
 * failed, the file is cut back to where the batch began, and the chain
 * continues from the last durable record.
 *
 * All functions return 0 or a negative custodian error
 * (custodian/error.h). The module logs only at debug level and never
 * logs the content of a record.
 */
#ifndef CUSTODIAN_AUDIT_H
#define CUSTODIAN_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

struct audit;

/*
 * Longest record line, newline included. A record is refused when its
 * line could exceed this with "seq" at its widest (20 digits), so that
 * whether a record fits never depends on how far the log has come.
 */
#define AUDIT_RECORD_MAX (64 * 1024)

/* Longest reason audit_verify() gives, terminating NUL included. */
#define AUDIT_REASON_MAX 96

/*
 * Called once per submitted record, on the writer thread, in submission
 * order. STATUS is 0 when the record is durable, with SEQ its sequence
 * number; otherwise CUST_ERR_AUDIT and SEQ is 0. The callback must not
 * block for long (it delays every record behind it) and must not call
 * audit_write(), audit_rotate() or audit_close(); audit_submit() is
 * allowed.
 */
typedef void (*audit_done_fn)(void *arg, int status, uint64_t seq);

/* Batch sizes counted: 1, 2, 4, ... up to 1024 records, then more. */
#define AUDIT_BATCH_BUCKETS 12

/* Counters since audit_open(); records / syncs is the mean batch size. */
struct audit_stats {
    uint64_t records; /* records made durable */
    uint64_t syncs;   /* batches made durable, one fdatasync each */
    /* Durable batches by size: bucket i holds those of at most 2^i
     * records (and more than 2^(i-1)); the last, those of more than 1024. */
    uint64_t batches[AUDIT_BATCH_BUCKETS];
    uint64_t failures;      /* records reported CUST_ERR_AUDIT */
    uint64_t largest_batch; /* most records in one batch, good or failed */
    int last_errno;         /* errno of the last failed batch, or 0 */
};

/*
 * Opens the log at PATH, creating it with mode 0640 (less the umask) if
 * it does not exist, takes an exclusive lock on it (a second writer would
 * fork the chain) and starts the writer thread. When the file holds
 * records, the chain continues from its last line. A last line without a
 * newline is the remains of a write cut short by a crash: it was never
 * reported durable, so it is cut away first (see
 * audit_recovered_bytes()). Blocks on the disk.
 * Returns 0 and *OUT (close with audit_close()), or CUST_ERR_ARG,
 * CUST_ERR_IO (cannot open, lock, read or cut the file, or it is not a
 * regular file), CUST_ERR_AUDIT (the last line is not a record, so the
 * chain cannot be continued), CUST_ERR_NOMEM.
 */
int audit_open(const char *path, struct audit **out);

/*
 * Waits until every queued record has been written and reported, stops
 * the writer thread and closes the file. No other call on A may run at
 * the same time or after. Accepts NULL.
 */
void audit_close(struct audit *a);

/*
 * Queues RECORD, a JSON object of the caller's fields, and returns at
 * once; DONE (may be NULL) is called later with the outcome.
 * RECORD is borrowed: it is serialized before this returns and no
 * reference is kept, so the caller still owns it and may change or free
 * it right away. Every control and non-ASCII character in it is escaped,
 * so a line is printable ASCII and no value can break it. Thread-safe.
 * Returns 0, or (and DONE is never called):
 * CUST_ERR_ARG (RECORD is not an object, has a top-level "seq", "time" or
 * "prev", or would not read back as JSON: a key or a string forced in
 * with the _nocheck functions that is not UTF-8, a key with a NUL byte,
 * nesting past 2048 levels), CUST_ERR_TOO_BIG (the line could exceed
 * AUDIT_RECORD_MAX), CUST_ERR_AUDIT (the log is being closed),
 * CUST_ERR_NOMEM.
 */
int audit_submit(struct audit *a, json_t *record, audit_done_fn done,
                 void *arg);

/*
 * Like audit_submit(), but blocks until the record is durable or has
 * failed. Returns 0 and *SEQ (may be NULL) when it is durable, the errors
 * of audit_submit(), or CUST_ERR_AUDIT when it could not be made durable.
 * Must not be called from a callback.
 */
int audit_write(struct audit *a, json_t *record, uint64_t *seq);

/*
 * Renames the log file to ARCHIVED_PATH, which must not exist and must be
 * on the same file system, and starts a new, empty file at the original
 * path. Records queued before the call go to the archived file, records
 * queued after it to the new one; the chain runs on unbroken across the
 * two. Blocks until the rotation is done. Returns 0, or CUST_ERR_ARG,
 * CUST_ERR_IO (the log carries on in the file it was writing),
 * CUST_ERR_NOMEM. Must not be called from a callback.
 */
int audit_rotate(struct audit *a, const char *archived_path);

/*
 * True from the moment a batch fails until a later batch succeeds: the
 * daemon should refuse requests that need a record while this holds.
 * Thread-safe.
 */
bool audit_degraded(struct audit *a);

/* Copies the counters into *OUT. Thread-safe. */
void audit_stats(struct audit *a, struct audit_stats *out);

/* The seq of the last record the file held when audit_open() opened it
 * (0 for an empty log): every record up to it is durable. */
uint64_t audit_opened_seq(const struct audit *a);

/* Bytes of an unterminated last line cut away by audit_open(), or 0. */
uint64_t audit_recovered_bytes(const struct audit *a);

/*
 * The system calls the writer uses to append, sync and cut back. Only
 * tests replace them, to make them fail on demand as a full or failing
 * disk would; each behaves like the system call of the same name and sets
 * errno on failure.
 */
struct audit_io {
    ssize_t (*write)(int fd, const void *data, size_t len);
    int (*fdatasync)(int fd);
    int (*ftruncate)(int fd, off_t len);
};

/*
 * For tests only: makes the writer use IO from its next batch on; NULL
 * restores the real system calls. Thread-safe.
 */
void audit_set_io(struct audit *a, const struct audit_io *io);

/* What audit_verify() found. */
struct audit_verify_result {
    uint64_t records;   /* records checked and found good */
    uint64_t first_seq; /* seq of the first good record, if records > 0 */
    uint64_t last_seq;  /* seq of the last good record, if records > 0 */
    /* The rest describes the first bad record, on CUST_ERR_AUDIT, or the
     * file that could not be read, on CUST_ERR_IO. */
    size_t file;   /* index into PATHS */
    uint64_t line; /* 1-based line number in that file; 0 for CUST_ERR_IO */
    bool has_seq;  /* the bad record's seq could be read */
    uint64_t seq;
    char reason[AUDIT_REASON_MAX];
};

/*
 * Checks the chain through the N files at PATHS, read in that order as
 * one log: every line must be a terminated JSON object of at most
 * AUDIT_RECORD_MAX bytes; "seq" may start anywhere but then grows by
 * exactly one from line to line, across files; "time" is a string;
 * "prev" is 64 lowercase hex digits and, from the second record on, the
 * SHA-256 of the line before. Stops at the first record that breaks a
 * rule. A change to a record that leaves it a valid record is caught at
 * the next record, whose "prev" no longer matches; the last record of the
 * last file has no such witness. Does not need the writer; blocks on the
 * disk. *OUT is filled in every case: it is the report.
 * Returns 0 when the chain holds, CUST_ERR_AUDIT when it breaks,
 * CUST_ERR_IO when a file cannot be read, CUST_ERR_ARG, CUST_ERR_NOMEM.
 */
int audit_verify(const char *const *paths, size_t n,
                 struct audit_verify_result *out);

/* Given each good record by audit_read(), borrowed, in file order;
 * returns 0 to read on, anything else to stop after this record. */
typedef int (*audit_record_fn)(void *arg, const json_t *rec);

/*
 * Reads the one file PATH by the rules of audit_verify() and gives EACH
 * every record that keeps the chain, stopping at the first that does
 * not, or when EACH asks. For rebuilding what the log says (the
 * inventory); the file may be appended to meanwhile, so a reader that
 * must not meet a line being written stops by the seq it knows to be
 * durable (audit_opened_seq()). Blocks on the disk. Returns and reports
 * as audit_verify() does; a stop EACH asked for is no error.
 */
int audit_read(const char *path, audit_record_fn each, void *arg,
               struct audit_verify_result *out);

/*
 * Checks one link of the chain by the rules of audit_verify(): that LINE
 * (LEN bytes, no line feed) is a record and follows PREV (PREVLEN bytes),
 * or with PREV NULL, or not a record itself, that LINE is a record. For
 * following a log as it grows. Returns 0, or CUST_ERR_AUDIT with the
 * report in *OUT (line 2 is LINE), or CUST_ERR_TOO_BIG for a line over
 * AUDIT_RECORD_MAX.
 */
int audit_verify_link(const char *prev, size_t prevlen, const char *line,
                      size_t len, struct audit_verify_result *out);

#endif
