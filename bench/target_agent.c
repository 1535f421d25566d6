/*
 * An OpenSSH agent socket (custodiand's agent listener, or ssh-agent):
 * SSH_AGENTC_SIGN_REQUEST pipelined on the connection. ECDSA answers are
 * turned into DER so that the driver checks every target alike.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

#include "bench.h"
#include "buf.h"

#define AGENT_FRAME_MAX    (256 * 1024)
#define AGENT_LIST         11
#define AGENT_LIST_ANSWER  12
#define AGENT_SIGN         13
#define AGENT_SIGN_ANSWER  14
#define AGENT_RSA_SHA2_256 2

struct agent {
    const struct bench_opts *o;
    enum alg_keytype type;
    EVP_PKEY *pub;
    uint8_t *blob; /* the key as the agent lists it */
    size_t bloblen;
};

struct agent_conn {
    struct agent *a;
    int fd;
    uint8_t *frame;
};

/* Reads one message: its type and a view of its body (in C->frame). */
static int
agent_read(struct agent_conn *c, uint8_t *type, struct buf *body)
{
    uint8_t hdr[4];
    uint32_t len;
    struct buf b;

    if (bench_read_all(c->fd, hdr, 4) != 0)
        return -1;
    buf_view(&b, hdr, 4);
    buf_get_u32(&b, &len);
    if (len == 0 || len > AGENT_FRAME_MAX ||
        bench_read_all(c->fd, c->frame, len) != 0)
        return -1;
    *type = c->frame[0];
    buf_view(body, c->frame + 1, len - 1);
    return 0;
}

static int
agent_send(struct agent_conn *c, struct buf *msg)
{
    uint8_t hdr[4];
    int rc;

    hdr[0] = (uint8_t)(msg->len >> 24);
    hdr[1] = (uint8_t)(msg->len >> 16);
    hdr[2] = (uint8_t)(msg->len >> 8);
    hdr[3] = (uint8_t)msg->len;
    rc = buf_status(msg) == 0 && bench_write_all(c->fd, hdr, 4) == 0 &&
                 bench_write_all(c->fd, msg->data, msg->len) == 0
             ? 0
             : -1;
    buf_free(msg);
    return rc;
}

static int
agent_connect(void *target, void **conn)
{
    struct agent *a = target;
    struct agent_conn *c = calloc(1, sizeof(*c));

    if (c == NULL || (c->frame = malloc(AGENT_FRAME_MAX)) == NULL ||
        (c->fd = bench_unix_connect(a->o->socket)) < 0) {
        if (c != NULL)
            free(c->frame);
        free(c);
        return -1;
    }
    c->a = a;
    *conn = c;
    return 0;
}

static void
agent_disconnect(void *conn)
{
    struct agent_conn *c = conn;

    close(c->fd);
    free(c->frame);
    free(c);
}

static int
agent_type_of(const uint8_t *blob, size_t len, enum alg_keytype *type)
{
    const uint8_t *name;
    size_t n;
    struct buf b;

    buf_view(&b, blob, len);
    if (buf_get_string(&b, &name, &n, 64) != 0)
        return -1;
    if (n == 19 && memcmp(name, "ecdsa-sha2-nistp256", 19) == 0)
        *type = ALG_KEY_ECDSA_P256;
    else if (n == 11 && memcmp(name, "ssh-ed25519", 11) == 0)
        *type = ALG_KEY_ED25519;
    else if (n == 7 && memcmp(name, "ssh-rsa", 7) == 0)
        *type = ALG_KEY_RSA_2048;
    else
        return -1;
    return 0;
}

/* Finds the listed identity whose comment starts with A->o->key. */
static int
agent_find(struct agent *a, struct agent_conn *c)
{
    const uint8_t *blob, *comment;
    size_t bloblen, clen, want = strlen(a->o->key);
    struct buf req, body;
    uint32_t n, i;
    uint8_t type;

    buf_init(&req, 16);
    buf_put_u8(&req, AGENT_LIST);
    if (agent_send(c, &req) != 0 || agent_read(c, &type, &body) != 0 ||
        type != AGENT_LIST_ANSWER || buf_get_u32(&body, &n) != 0)
        return -1;
    for (i = 0; i < n; i++) {
        if (buf_get_string(&body, &blob, &bloblen, 8192) != 0 ||
            buf_get_string(&body, &comment, &clen, 1024) != 0)
            return -1;
        if (clen >= want && memcmp(comment, a->o->key, want) == 0 &&
            agent_type_of(blob, bloblen, &a->type) == 0) {
            a->blob = malloc(bloblen);
            if (a->blob == NULL)
                return -1;
            memcpy(a->blob, blob, bloblen);
            a->bloblen = bloblen;
            return 0;
        }
    }
    return -1;
}

static int
agent_open(const struct bench_opts *o, void **target)
{
    struct agent *a = calloc(1, sizeof(*a));
    struct agent_conn *c = NULL;
    FILE *f = o->pubkey ? fopen(o->pubkey, "r") : NULL;

    if (a != NULL && f != NULL)
        a->pub = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    if (f != NULL)
        fclose(f);
    if (a == NULL || a->pub == NULL || o->socket == NULL) {
        fprintf(stderr, "custodian-bench: the agent target needs --socket "
                        "and --pubkey (a PEM public key)\n");
        free(a);
        return -1;
    }
    a->o = o;
    if (agent_connect(a, (void **)&c) != 0 || agent_find(a, c) != 0) {
        fprintf(stderr, "custodian-bench: no identity \"%s\" on %s\n", o->key,
                o->socket);
        if (c != NULL)
            agent_disconnect(c);
        EVP_PKEY_free(a->pub);
        free(a);
        return -1;
    }
    agent_disconnect(c);
    *target = a;
    return 0;
}

static void
agent_close(void *target)
{
    struct agent *a = target;

    EVP_PKEY_free(a->pub);
    free(a->blob);
    free(a);
}

static enum alg_keytype
agent_type(void *target)
{
    return ((struct agent *)target)->type;
}

static EVP_PKEY *
agent_pubkey(void *target)
{
    return ((struct agent *)target)->pub;
}

static int
agent_sign(void *conn, const uint8_t msg[BENCH_MSG_LEN])
{
    struct agent_conn *c = conn;
    struct buf req;

    buf_init(&req, AGENT_FRAME_MAX);
    buf_put_u8(&req, AGENT_SIGN);
    buf_put_string(&req, c->a->blob, c->a->bloblen);
    buf_put_string(&req, msg, BENCH_MSG_LEN);
    buf_put_u32(&req, alg_keytype_is_rsa(c->a->type) ? AGENT_RSA_SHA2_256 : 0);
    return agent_send(c, &req);
}

/* An SSH ECDSA signature (mpint r, mpint s) as DER. */
static int
agent_ecdsa_der(const uint8_t *raw, size_t len, uint8_t *out, size_t *outlen)
{
    const uint8_t *r, *s;
    size_t rlen, slen;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    unsigned char *p = out;
    struct buf b;
    int n = -1;

    buf_view(&b, raw, len);
    if (sig != NULL && buf_get_string(&b, &r, &rlen, 80) == 0 &&
        buf_get_string(&b, &s, &slen, 80) == 0 &&
        ECDSA_SIG_set0(sig, BN_bin2bn(r, (int)rlen, NULL),
                       BN_bin2bn(s, (int)slen, NULL)) == 1 &&
        i2d_ECDSA_SIG(sig, NULL) <= (int)*outlen)
        n = i2d_ECDSA_SIG(sig, &p);
    ECDSA_SIG_free(sig);
    if (n <= 0)
        return -1;
    *outlen = (size_t)n;
    return 0;
}

static int
agent_recv(void *conn, uint8_t *sig, size_t *siglen)
{
    struct agent_conn *c = conn;
    const uint8_t *blob, *alg, *raw;
    size_t bloblen, alglen, rawlen;
    struct buf body, b;
    uint8_t type;

    if (agent_read(c, &type, &body) != 0 || type != AGENT_SIGN_ANSWER ||
        buf_get_string(&body, &blob, &bloblen, 4096) != 0)
        return -1;
    buf_view(&b, blob, bloblen);
    if (buf_get_string(&b, &alg, &alglen, 64) != 0 ||
        buf_get_string(&b, &raw, &rawlen, 2048) != 0)
        return -1;
    if (c->a->type == ALG_KEY_ECDSA_P256)
        return agent_ecdsa_der(raw, rawlen, sig, siglen);
    if (rawlen > *siglen)
        return -1;
    memcpy(sig, raw, rawlen);
    *siglen = rawlen;
    return 0;
}

static int
agent_idle(void *target, int *fd)
{
    *fd = bench_unix_connect(((struct agent *)target)->o->socket);
    return *fd >= 0 ? 0 : -1;
}

const struct bench_ops bench_agent = {
    .name = "agent",
    .open = agent_open,
    .close = agent_close,
    .type = agent_type,
    .pubkey = agent_pubkey,
    .connect = agent_connect,
    .disconnect = agent_disconnect,
    .send = agent_sign,
    .recv = agent_recv,
    .idle = agent_idle,
};
