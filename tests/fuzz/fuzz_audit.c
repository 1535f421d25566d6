/*
 * Drives audit_verify(), the chain check behind `custodianctl audit
 * verify`, on the input as one log file, and audit_verify_link(), which
 * `audit tail` runs on each new line, on the input's first two lines.
 *
 * Checks that the report agrees with itself: a chain that holds counts
 * one record per line, numbered from first_seq to last_seq without a
 * gap; a break names a line of the file. And that the two functions
 * agree on a log of two lines: the whole verifies exactly when the first
 * line is a record and the second links to it.
 *
 * Input: the log file's bytes.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "custodian/error.h"
#include "scratch.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static const char *fuzz_path;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_path = fuzz_scratch("audit.log");
    return 0;
}

static void
fuzz_fail(const char *what)
{
    fprintf(stderr, "audit verification: %s\n", what);
    abort();
}

static size_t
fuzz_lines(const uint8_t *data, size_t len)
{
    size_t i, n = 0;

    for (i = 0; i < len; i++)
        n += data[i] == '\n';
    return n;
}

/* A log of exactly two lines, each short enough for audit_verify_link(). */
static void
fuzz_two_lines(const uint8_t *data, size_t len, int whole)
{
    const uint8_t *nl = memchr(data, '\n', len);
    struct audit_verify_result r;
    size_t first, second;
    int linked;

    if (nl == NULL)
        return;
    first = (size_t)(nl - data);
    second = len - first - 2;
    if (first >= AUDIT_RECORD_MAX - 1 || second >= AUDIT_RECORD_MAX - 1)
        return;
    linked = audit_verify_link(NULL, 0, (const char *)data, first, &r) == 0 &&
             audit_verify_link((const char *)data, first, (const char *)nl + 1,
                               second, &r) == 0;
    if (linked != whole)
        fuzz_fail(whole ? "the log verifies, its link does not"
                        : "the link verifies, the log does not");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    const char *paths[] = {fuzz_path};
    struct audit_verify_result r;
    size_t lines = fuzz_lines(data, len);
    int rc;

    fuzz_scratch_write(data, len);
    rc = audit_verify(paths, 1, &r);
    if (rc == 0) {
        if (r.records != lines)
            fuzz_fail("a good log with records not one a line");
        if (r.records > 0 && r.last_seq - r.first_seq + 1 != r.records)
            fuzz_fail("a good log with a gap in its seqs");
    } else if (rc == CUST_ERR_AUDIT) {
        if (r.line == 0 || r.line > lines + 1 || r.reason[0] == '\0')
            fuzz_fail("a break at no line, or without a reason");
        if (r.records != r.line - 1)
            fuzz_fail("records before the break not counted");
    } else {
        fuzz_fail("neither good nor broken");
    }
    if (lines == 2 && len > 0 && data[len - 1] == '\n')
        fuzz_two_lines(data, len, rc == 0);
    return 0;
}
