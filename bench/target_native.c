/*
 * custodiand's signing socket: hello, then SIGN requests pipelined on the
 * connection, answered in order.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>
#include <openssl/x509.h>

#include "custodian/error.h"
#include "bench.h"
#include "buf.h"
#include "wire.h"

struct native {
    const struct bench_opts *o;
    enum alg_keytype type;
    EVP_PKEY *pub;
};

struct native_conn {
    struct native *n;
    int fd;
    uint8_t frame[WIRE_HEADER + WIRE_FRAME_MAX];
};

/* Reads one frame into C->frame; its type and body. */
static int
native_read(struct native_conn *c, uint8_t *type, struct buf *body)
{
    uint32_t len;
    struct buf b;

    if (bench_read_all(c->fd, c->frame, WIRE_HEADER) != 0)
        return -1;
    buf_view(&b, c->frame, WIRE_HEADER);
    buf_get_u32(&b, &len);
    if (len == 0 || len > WIRE_FRAME_MAX ||
        bench_read_all(c->fd, c->frame + WIRE_HEADER, len) != 0)
        return -1;
    wire_open(c->frame, WIRE_HEADER + len, type, body);
    return 0;
}

/* Sends OUT and reads the answer, which must be of type WANT. */
static int
native_call(struct native_conn *c, struct buf *out, uint8_t want,
            struct buf *body)
{
    struct wire_error e;
    uint8_t type = 0;
    int rc = buf_status(out) == 0 &&
                     bench_write_all(c->fd, out->data, out->len) == 0 &&
                     native_read(c, &type, body) == 0 && type == want
                 ? 0
                 : -1;

    buf_free(out);
    /* The daemon's refusal says why: no identity, no grant, no key. */
    if (rc != 0 && type == WIRE_ERROR && wire_get_error(body, &e) == 0)
        fprintf(stderr, "custodian-bench: %s [%s]: %s\n", cust_err_str(e.code),
                cust_err_name(e.code), e.message);
    return rc;
}

static int
native_hello(struct native *n, struct native_conn **out)
{
    struct wire_hello h = {.version = WIRE_VERSION};
    struct native_conn *c = calloc(1, sizeof(*c));
    struct buf req, body;

    if (c == NULL)
        return -1;
    c->n = n;
    c->fd = bench_unix_connect(n->o->socket);
    snprintf(h.name, sizeof(h.name), "custodian-bench");
    buf_init(&req, 256);
    wire_put_hello(&req, WIRE_HELLO, &h);
    if (c->fd < 0 || native_call(c, &req, WIRE_HELLO_OK, &body) != 0) {
        if (c->fd >= 0)
            close(c->fd);
        free(c);
        return -1;
    }
    *out = c;
    return 0;
}

static void
native_disconnect(void *conn)
{
    struct native_conn *c = conn;

    close(c->fd);
    free(c);
}

static int
native_open(const struct bench_opts *o, void **target)
{
    struct native *n = calloc(1, sizeof(*n));
    struct native_conn *c = NULL;
    struct wire_keyinfo info;
    const uint8_t *spki;
    struct buf req, body;
    size_t len;
    int type;

    if (n == NULL || o->socket == NULL)
        goto fail;
    n->o = o;
    if (native_hello(n, &c) != 0)
        goto fail;
    buf_init(&req, 256);
    wire_put_pubkey(&req, o->key);
    if (native_call(c, &req, WIRE_PUBKEY_OK, &body) != 0 ||
        wire_get_pubkey_ok(&body, &info, &spki, &len) != 0 ||
        (type = alg_keytype_from_name(info.type)) < 0 ||
        (n->pub = d2i_PUBKEY(NULL, &spki, (long)len)) == NULL)
        goto fail;
    n->type = (enum alg_keytype)type;
    native_disconnect(c);
    *target = n;
    return 0;
fail:
    fprintf(stderr, "custodian-bench: no public key for \"%s\" on %s\n", o->key,
            o->socket ? o->socket : "(no --socket)");
    if (c != NULL)
        native_disconnect(c);
    free(n);
    return -1;
}

static void
native_close(void *target)
{
    struct native *n = target;

    EVP_PKEY_free(n->pub);
    free(n);
}

static enum alg_keytype
native_type(void *target)
{
    return ((struct native *)target)->type;
}

static EVP_PKEY *
native_pubkey(void *target)
{
    return ((struct native *)target)->pub;
}

static int
native_connect(void *target, void **conn)
{
    return native_hello(target, (struct native_conn **)conn);
}

/* SHA-256 of the message for ECDSA and RSA; Ed25519 signs it whole. */
static int
native_send(void *conn, const uint8_t msg[BENCH_MSG_LEN])
{
    struct native_conn *c = conn;
    struct wire_sign s = {.nctx = 0};
    uint8_t digest[SHA256_DIGEST_LENGTH];
    struct buf req;
    int rc;

    snprintf(s.key, sizeof(s.key), "%s", c->n->o->key);
    if (c->n->type == ALG_KEY_ED25519) {
        s.data = msg;
        s.datalen = BENCH_MSG_LEN;
    } else {
        SHA256(msg, BENCH_MSG_LEN, digest);
        snprintf(s.digest, sizeof(s.digest), "sha256");
        s.data = digest;
        s.datalen = sizeof(digest);
    }
    buf_init(&req, WIRE_HEADER + WIRE_FRAME_MAX);
    wire_put_sign(&req, &s);
    rc = buf_status(&req) == 0 && bench_write_all(c->fd, req.data, req.len) == 0
             ? 0
             : -1;
    buf_free(&req);
    return rc;
}

static int
native_recv(void *conn, uint8_t *sig, size_t *siglen)
{
    struct native_conn *c = conn;
    struct wire_signature s;
    struct buf body;
    uint8_t type;

    if (native_read(c, &type, &body) != 0 || type != WIRE_SIGNATURE ||
        wire_get_signature(&body, &s) != 0 || s.siglen > *siglen)
        return -1;
    memcpy(sig, s.sig, s.siglen);
    *siglen = s.siglen;
    return 0;
}

static int
native_idle(void *target, int *fd)
{
    struct native_conn *c;

    if (native_hello(target, &c) != 0)
        return -1;
    *fd = c->fd;
    free(c);
    return 0;
}

const struct bench_ops bench_native = {
    .name = "native",
    .open = native_open,
    .close = native_close,
    .type = native_type,
    .pubkey = native_pubkey,
    .connect = native_connect,
    .disconnect = native_disconnect,
    .send = native_send,
    .recv = native_recv,
    .idle = native_idle,
};
