/*
 * Drives sshsig_parse(), the SSHSIG preimage parser by which the agent
 * front end decides which namespace a sign request is for.
 *
 * Checks that what it accepts is exactly the canonical preimage:
 * sshsig_put_preimage() of the parsed fields gives the input back byte
 * for byte, so no other bytes can pass for a request of some namespace,
 * and the namespace is printable, without spaces.
 *
 * Input: the data of an agent sign request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sshsig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    struct sshsig_preimage p;
    struct buf b;
    size_t i;

    if (sshsig_parse(data, len, &p) != 0)
        return 0;
    for (i = 0; p.ns[i] != '\0'; i++)
        if (p.ns[i] <= ' ' || p.ns[i] >= 0x7f)
            abort();
    buf_init(&b, len + 64);
    sshsig_put_preimage(&b, p.ns, p.md, p.hash, p.hashlen);
    if (buf_status(&b) != 0 || b.len != len || memcmp(b.data, data, len)) {
        fprintf(stderr, "accepted preimage is not canonical\n");
        abort();
    }
    buf_free(&b);
    return 0;
}
