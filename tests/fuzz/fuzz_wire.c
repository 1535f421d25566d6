/*
 * Drives every decoder of the native protocol (wire.c) directly: the
 * requests the daemon reads (HELLO, PING, PUBKEY, SIGN, KEY_CHANGE) and
 * the answers libcustodian reads (HELLO_OK, KEYS, PUBKEY_OK, SIGNATURE,
 * STATUS_OK, VERSIONS, ERROR). The daemon target (fuzz_native) reaches
 * the first through the event loop; only this one reaches the second
 * with bytes a daemon would never send.
 *
 * Checks that whatever a decoder accepts, the matching encoder writes
 * back byte for byte: no two frames decode to the same message, and no
 * field is read other than as it is written.
 *
 * Input: a frame's type byte, then its body.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static struct {
    struct wire_hello hello;
    char text[WIRE_MESSAGE_MAX + 1];
    struct wire_keyinfo keys[64];
    struct wire_sign sign;
    struct wire_signature sig;
    struct wire_status status;
    struct wire_key_change change;
    struct wire_version versions[WIRE_VERSIONS_MAX];
    struct wire_error error;
} m;

/* Decodes BODY as TYPE and encodes the result into OUT; returns whether
 * the decoder accepted it. */
static int
fuzz_roundtrip(uint8_t type, struct buf *body, struct buf *out)
{
    const uint8_t *spki;
    size_t spkilen;
    uint32_t n;

    switch (type) {
    case WIRE_HELLO:
    case WIRE_HELLO_OK:
        if (wire_get_hello(body, type, &m.hello) != 0)
            return 0;
        wire_put_hello(out, type, &m.hello);
        return 1;
    case WIRE_PING:
    case WIRE_PONG:
    case WIRE_RELOAD_OK:
        if (wire_get_ping(body, m.text) != 0)
            return 0;
        wire_put_ping(out, type, m.text);
        return 1;
    case WIRE_PUBKEY:
    case WIRE_KEY_CREATE:
    case WIRE_KEY_VERSIONS:
    case WIRE_KEY_ROTATE:
        if (wire_get_pubkey(body, m.text) != 0)
            return 0;
        wire_put_keyname_req(out, type, m.text);
        return 1;
    case WIRE_SIGN:
        if (wire_get_sign(body, &m.sign) != 0)
            return 0;
        wire_put_sign(out, &m.sign);
        return 1;
    case WIRE_KEY_CHANGE:
        if (wire_get_key_change(body, &m.change) != 0)
            return 0;
        wire_put_key_change(out, &m.change);
        return 1;
    case WIRE_KEYS:
        if (wire_get_keys(body, m.keys, 64, &n) != 0)
            return 0;
        wire_put_keys(out, m.keys, n);
        return 1;
    case WIRE_PUBKEY_OK:
        if (wire_get_pubkey_ok(body, m.keys, &spki, &spkilen) != 0)
            return 0;
        wire_put_pubkey_ok(out, m.keys, spki, spkilen);
        return 1;
    case WIRE_SIGNATURE:
        if (wire_get_signature(body, &m.sig) != 0)
            return 0;
        wire_put_signature(out, &m.sig);
        return 1;
    case WIRE_STATUS_OK:
        if (wire_get_status_ok(body, &m.status) != 0)
            return 0;
        wire_put_status_ok(out, &m.status);
        return 1;
    case WIRE_VERSIONS:
        if (wire_get_versions(body, m.keys, m.versions, WIRE_VERSIONS_MAX,
                              &n) != 0)
            return 0;
        wire_put_versions(out, m.keys, m.versions, n);
        return 1;
    case WIRE_ERROR:
        if (wire_get_error(body, &m.error) != 0)
            return 0;
        wire_put_error(out, m.error.code, m.error.message);
        return 1;
    default:
        return wire_get_empty(body) == 0 && wire_put_empty(out, type) == 0;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    struct buf body, out;

    if (len < 1 || len > WIRE_FRAME_MAX)
        return 0;
    buf_view(&body, data + 1, len - 1);
    buf_init(&out, WIRE_FRAME_MAX + WIRE_HEADER);
    if (fuzz_roundtrip(data[0], &body, &out) &&
        (buf_status(&out) != 0 || out.len != WIRE_HEADER + len ||
         memcmp(out.data + WIRE_HEADER, data, len) != 0)) {
        fprintf(stderr, "type 0x%02x: decoded, but encodes otherwise\n",
                data[0]);
        abort();
    }
    buf_free(&out);
    return 0;
}
