/*
 * One scratch file per fuzzing process, for targets whose parser reads a
 * file: in a fresh directory under $TMPDIR (else /tmp), removed at exit.
 */
#ifndef CUSTODIAN_FUZZ_SCRATCH_H
#define CUSTODIAN_FUZZ_SCRATCH_H

#include <stddef.h>
#include <stdint.h>

/* Makes the directory and returns the path of NAME in it; aborts if it
 * cannot. Call once, from LLVMFuzzerInitialize(). */
const char *fuzz_scratch(const char *name);

/* Replaces the scratch file's content with DATA; aborts on failure. */
void fuzz_scratch_write(const uint8_t *data, size_t len);

#endif
