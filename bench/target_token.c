/*
 * A PKCS#11 token called in-process, through custodian's token layer with
 * one session per client: C_SignInit and C_Sign on the caller's thread.
 * With SoftHSM2's module this is the token's own limit; with p11-kit's
 * client module it is p11-kit's server forwarding the same token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "bench.h"
#include "custodian/error.h"
#include "token.h"

struct tok {
    struct token *tok;
    struct token_key *key;
};

/* A call is made at send() and its answer kept for recv(). */
struct tok_conn {
    struct tok *t;
    int rc;
    uint8_t sig[ALG_SIG_MAX];
    size_t siglen;
};

static int
tok_open(const struct bench_opts *o, void **target)
{
    struct token_config cfg = {
        .module = o->module,
        .uri = o->uri,
        .pin_file = o->pin_file,
        /* The token layer's most; more clients wait for a session. */
        .sessions = o->clients < 64 ? o->clients : 64,
        .wait_ms = 10000,
    };
    struct tok *t = calloc(1, sizeof(*t));
    int rc = t ? token_open(&cfg, &t->tok) : CUST_ERR_NOMEM;

    if (rc == 0)
        rc = token_key_find(t->tok, o->key, NULL, 0, &t->key);
    if (rc != 0) {
        fprintf(stderr, "custodian-bench: token %s, key \"%s\": %s (%s)\n",
                o->uri ? o->uri : "(no --uri)", o->key, cust_err_str(rc),
                token_error_detail());
        if (t != NULL)
            token_close(t->tok);
        free(t);
        return -1;
    }
    *target = t;
    return 0;
}

static void
tok_close(void *target)
{
    struct tok *t = target;

    token_key_free(t->key);
    token_close(t->tok);
    free(t);
}

static enum alg_keytype
tok_type(void *target)
{
    return token_key_type(((struct tok *)target)->key);
}

static EVP_PKEY *
tok_pubkey(void *target)
{
    return token_key_public(((struct tok *)target)->key);
}

static int
tok_connect(void *target, void **conn)
{
    struct tok_conn *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return -1;
    c->t = target;
    *conn = c;
    return 0;
}

static void
tok_disconnect(void *conn)
{
    free(conn);
}

static int
tok_send(void *conn, const uint8_t msg[BENCH_MSG_LEN])
{
    struct tok_conn *c = conn;
    struct token_key *k = c->t->key;
    enum alg_keytype type = token_key_type(k);
    uint8_t digest[SHA256_DIGEST_LENGTH];

    c->siglen = sizeof(c->sig);
    if (type == ALG_KEY_ED25519) {
        c->rc = token_sign_message(k, ALG_SCHEME_ED25519, ALG_DIGEST_NONE, msg,
                                   BENCH_MSG_LEN, c->sig, &c->siglen);
    } else {
        SHA256(msg, BENCH_MSG_LEN, digest);
        c->rc =
            token_sign_digest(k, alg_default_scheme(type), ALG_DIGEST_SHA256,
                              digest, sizeof(digest), c->sig, &c->siglen);
    }
    return 0;
}

static int
tok_recv(void *conn, uint8_t *sig, size_t *siglen)
{
    struct tok_conn *c = conn;

    if (c->rc != 0 || c->siglen > *siglen)
        return -1;
    memcpy(sig, c->sig, c->siglen);
    *siglen = c->siglen;
    return 0;
}

const struct bench_ops bench_token = {
    .name = "token",
    .open = tok_open,
    .close = tok_close,
    .type = tok_type,
    .pubkey = tok_pubkey,
    .max_inflight = 1,
    .connect = tok_connect,
    .disconnect = tok_disconnect,
    .send = tok_send,
    .recv = tok_recv,
    .idle = NULL,
};
