/*
 * Drives the OpenSSH agent protocol through the real daemon's agent
 * socket (daemon.h): the framing and dispatch of server.c, the sign
 * request decoder and handlers of agent.c, the SSHSIG preimage parser
 * (sshsig.c) on what is to be signed, the policy, the token and the
 * audit log, with a real SoftHSM2 token.
 *
 * Checks that every message is answered, with a failure, an identities
 * answer or a sign response, and that each is well formed.
 *
 * Input: the bytes a client sends. The daemon's keys are made afresh in
 * every run, so an input cannot hold a real key blob: in a sign request,
 * a blob of one byte N stands for the blob of the Nth key the agent
 * lists, and is replaced by it before sending.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "daemon.h"
#include "wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static struct {
    uint8_t data[FUZZD_KEYS][HANDLER_BLOB_MAX];
    size_t len[FUZZD_KEYS];
    size_t n;
} fuzz_blobs;

static void
fuzz_fail(const char *what, uint8_t type)
{
    fprintf(stderr, "daemon's agent answer of type %u: %s\n", type, what);
    abort();
}

/* An identities answer: a count, then a key blob and a comment each. */
static int
fuzz_get_identities(struct buf *b, int keep)
{
    const uint8_t *blob, *comment;
    size_t bloblen, commentlen;
    uint32_t n, i;

    if (buf_get_u32(b, &n) != 0)
        return -1;
    for (i = 0; i < n; i++) {
        if (buf_get_string(b, &blob, &bloblen, HANDLER_BLOB_MAX) != 0 ||
            buf_get_string(b, &comment, &commentlen, 256) != 0)
            return -1;
        if (keep && fuzz_blobs.n < FUZZD_KEYS) {
            memcpy(fuzz_blobs.data[fuzz_blobs.n], blob, bloblen);
            fuzz_blobs.len[fuzz_blobs.n++] = bloblen;
        }
    }
    return buf_remaining(b) == 0 ? 0 : -1;
}

/* A sign response: a string holding an algorithm name and a signature. */
static int
fuzz_get_signature(struct buf *b)
{
    const uint8_t *blob, *name, *sig;
    size_t bloblen, namelen, siglen;
    struct buf inner;

    if (buf_get_string(b, &blob, &bloblen, 4096) != 0 || buf_remaining(b) != 0)
        return -1;
    buf_view(&inner, blob, bloblen);
    if (buf_get_string(&inner, &name, &namelen, 64) != 0 ||
        buf_get_string(&inner, &sig, &siglen, 1024) != 0 ||
        buf_remaining(&inner) != 0 || namelen == 0 || siglen == 0)
        return -1;
    return 0;
}

static void
fuzz_check(void *arg, uint8_t type, const uint8_t *body, size_t len)
{
    struct buf b;
    int rc = -1;

    buf_view(&b, body, len);
    if (type == AGENT_FAILURE)
        rc = len == 0 ? 0 : -1;
    else if (type == AGENT_IDENTITIES_ANSWER)
        rc = fuzz_get_identities(&b, arg != NULL);
    else if (type == AGENT_SIGN_RESPONSE)
        rc = fuzz_get_signature(&b);
    else
        fuzz_fail("not an answer", type);
    if (rc != 0)
        fuzz_fail("malformed", type);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const uint8_t list[] = {0, 0, 0, 1, AGENT_REQUEST_IDENTITIES};
    int keep = 1;

    (void)argc;
    (void)argv;
    fuzzd_start();
    fuzzd_exchange(FUZZD_AGENT, list, sizeof(list), fuzz_check, &keep);
    if (fuzz_blobs.n == 0) {
        fprintf(stderr, "the agent lists no keys\n");
        abort();
    }
    return 0;
}

/* Copies the sign request BODY into OUT, its one-byte blob replaced. */
static void
fuzz_put_sign(struct buf *out, const uint8_t *body, size_t len)
{
    const uint8_t *blob;
    size_t bloblen, i, start = out->len;
    struct buf b;

    buf_view(&b, body, len);
    buf_put_u32(out, 0);
    buf_put_u8(out, AGENT_SIGN_REQUEST);
    if (buf_get_string(&b, &blob, &bloblen, len) == 0 && bloblen == 1) {
        i = blob[0] % fuzz_blobs.n;
        buf_put_string(out, fuzz_blobs.data[i], fuzz_blobs.len[i]);
    } else {
        buf_view(&b, body, len);
    }
    buf_put(out, buf_ptr(&b), buf_remaining(&b));
    buf_patch_u32(out, start, (uint32_t)(out->len - start - 4));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    size_t frame;
    struct buf out;

    buf_init(&out, 2 * len + 4096);
    while (wire_frame_check(data, len, &frame) == 0) {
        if (data[4] == AGENT_SIGN_REQUEST)
            fuzz_put_sign(&out, data + 5, frame - 5);
        else
            buf_put(&out, data, frame);
        data += frame;
        len -= frame;
    }
    buf_put(&out, data, len);
    if (buf_status(&out) == 0)
        fuzzd_exchange(FUZZD_AGENT, out.data, out.len, fuzz_check, NULL);
    buf_free(&out);
    return 0;
}
