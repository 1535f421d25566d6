/*
 * Drives the native signing protocol and the admin protocol through the
 * real daemon (daemon.h): the framing and dispatch of server.c, the
 * decoders of wire.c, the handlers, the policy, the token and the audit
 * log, with a real SoftHSM2 token.
 *
 * Checks that every frame is answered (or the connection closed) and
 * that every answer decodes with the decoder libcustodian uses for its
 * type: the daemon never sends what its own clients cannot read.
 *
 * Input: a selector byte, then the bytes a client sends. Bit 0 of the
 * selector picks the admin socket over the signing socket; bit 1 puts a
 * valid HELLO in front, so that mutations reach past the greeting.
 * Each new key version makes every later input slower (the keyring is
 * written whole on every change), so a process makes at most
 * FUZZ_NEW_VERSIONS_MAX of them: past that, KEY_ROTATE and KEY_CREATE
 * frames are sent as KEY_VERSIONS, which has the same body.
 */
#include <stdio.h>
#include <stdlib.h>

#include "daemon.h"
#include "wire.h"

/* Rotations and creations one fuzzing process lets through. */
#define FUZZ_NEW_VERSIONS_MAX 64

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

/* Decoded answers; large, so not on the stack. */
static struct {
    struct wire_hello hello;
    char text[WIRE_MESSAGE_MAX + 1];
    struct wire_keyinfo keys[64];
    struct wire_signature sig;
    struct wire_status status;
    struct wire_version versions[WIRE_VERSIONS_MAX];
    struct wire_error error;
} fuzz_out;

static void
fuzz_check(void *arg, uint8_t type, const uint8_t *body, size_t len)
{
    const uint8_t *spki;
    struct buf b;
    size_t spkilen;
    uint32_t n;
    int rc;

    (void)arg;
    buf_view(&b, body, len);
    switch (type) {
    case WIRE_HELLO_OK:
        rc = wire_get_hello(&b, WIRE_HELLO_OK, &fuzz_out.hello);
        break;
    case WIRE_PONG:
        rc = wire_get_ping(&b, fuzz_out.text);
        break;
    case WIRE_KEYS:
        rc = wire_get_keys(&b, fuzz_out.keys, 64, &n);
        break;
    case WIRE_PUBKEY_OK:
        rc = wire_get_pubkey_ok(&b, fuzz_out.keys, &spki, &spkilen);
        break;
    case WIRE_SIGNATURE:
        rc = wire_get_signature(&b, &fuzz_out.sig);
        break;
    case WIRE_STATUS_OK:
        rc = wire_get_status_ok(&b, &fuzz_out.status);
        break;
    case WIRE_RELOAD_OK:
        rc = wire_get_reload_ok(&b, fuzz_out.text);
        break;
    case WIRE_VERSIONS:
        rc = wire_get_versions(&b, fuzz_out.keys, fuzz_out.versions,
                               WIRE_VERSIONS_MAX, &n);
        break;
    case WIRE_ERROR:
        rc = wire_get_error(&b, &fuzz_out.error);
        break;
    default:
        fprintf(stderr, "daemon answered with frame type 0x%02x\n", type);
        abort();
    }
    if (rc != 0) {
        fprintf(stderr, "daemon's answer of type 0x%02x does not decode: %d\n",
                type, rc);
        abort();
    }
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzzd_start();
    return 0;
}

/* Turns the frames of B that would make a new key version into
 * KEY_VERSIONS once the budget is spent. */
static void
fuzz_limit_versions(struct buf *b)
{
    static unsigned made;
    size_t off = 0, frame;
    uint8_t *type;

    while (off < b->len &&
           wire_frame_check(b->data + off, b->len - off, &frame) == 0) {
        type = &b->data[off + WIRE_HEADER];
        if ((*type == WIRE_KEY_ROTATE || *type == WIRE_KEY_CREATE) &&
            made++ >= FUZZ_NEW_VERSIONS_MAX)
            *type = WIRE_KEY_VERSIONS;
        off += frame;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    struct wire_hello h = {.version = WIRE_VERSION, .name = "fuzz"};
    enum fuzzd_socket s;
    struct buf b;

    if (len < 1)
        return 0;
    s = data[0] & 1 ? FUZZD_ADMIN : FUZZD_SIGN;
    buf_init(&b, WIRE_FRAME_MAX + len);
    if (data[0] & 2)
        wire_put_hello(&b, WIRE_HELLO, &h);
    buf_put(&b, data + 1, len - 1);
    if (s == FUZZD_ADMIN)
        fuzz_limit_versions(&b);
    fuzzd_exchange(s, b.data, b.len, fuzz_check, NULL);
    buf_free(&b);
    return 0;
}
