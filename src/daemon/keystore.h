/*
 * The keys the daemon serves: each key of the configuration, found on its
 * token, with its version, fingerprint and public key. A configured key
 * that its token does not hold yet is absent until an operator creates
 * it (keystore_create(), from `custodianctl key create`): nothing is
 * generated behind anyone's back.
 *
 * A key NAME at version V is the token object pair labelled "NAME@V".
 * Every key is at version 1 here; the versions of rotation build on the
 * same labels.
 */
#ifndef CUSTODIAN_KEYSTORE_H
#define CUSTODIAN_KEYSTORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "pubkey.h"
#include "token.h"

struct keystore;

/* The fields below READY are set once, before READY becomes true, and
 * never change after; read them only after keystore_ready() said yes. */
struct keystore_key {
    char *name; /* as in the configuration (a copy) */
    enum alg_keytype type;
    struct token *token; /* where it lives, or is to be made */
    atomic_bool ready;   /* found on the token, or created since */
    uint32_t version;    /* the active version */
    char label[TOKEN_LABEL_MAX + 1];
    char fingerprint[PUBKEY_FPR_MAX];
    uint8_t *spki; /* DER SubjectPublicKeyInfo */
    size_t spkilen;
    struct token_key *tk; /* signs */
};

/*
 * Finds every key of CONF on its token in TOKENS (parallel to
 * conf->tokens); those not there yet are absent, and logged. A key found
 * with another type than the configuration says is an error. Blocks on
 * the tokens. Returns 0 and *OUT, or a custodian error with the key's
 * name in keystore_error().
 */
int keystore_open(const struct conf *conf, struct token *const *tokens,
                  struct keystore **out);
void keystore_free(struct keystore *ks);

/*
 * Generates version 1 of the absent key NAME on its token and makes it
 * ready. Thread-safe; blocks on the token. Returns 0 and *OUT, or
 * CUST_ERR_KEY_NOT_FOUND (not in the configuration), CUST_ERR_KEY_EXISTS
 * (ready already), or the token's error, with a reason in
 * keystore_error().
 */
int keystore_create(struct keystore *ks, const char *name,
                    const struct keystore_key **out);

/* The ready key named NAME, or NULL. The pointer lives as long as KS. */
const struct keystore_key *keystore_find(const struct keystore *ks,
                                         const char *name);

/* The I-th configured key, ready or not, or NULL past the end. */
const struct keystore_key *keystore_at(const struct keystore *ks, size_t i);

/* Whether K is on its token and may be used. */
bool keystore_ready(const struct keystore_key *k);

/* What went wrong in this thread's last keystore call. */
const char *keystore_error(void);

#endif
