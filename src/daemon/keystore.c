/*
 * The key table: one entry per configured key, resolved on its token at
 * start-up. An absent entry is filled in once, by keystore_create(), and
 * published with a release store of its READY flag; entries are never
 * removed, so any thread may look keys up without a lock.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "custodian/error.h"
#include "keystore.h"
#include "log.h"

struct keystore {
    struct keystore_key *keys;
    size_t n;
    pthread_mutex_t create_lock; /* one creation at a time */
};

static _Thread_local char keystore_reason[256] = "no error";

const char *
keystore_error(void)
{
    return keystore_reason;
}

static int
keystore_fail(int rc, const char *name, const char *what)
{
    snprintf(keystore_reason, sizeof(keystore_reason), "key \"%s\": %s: %s",
             name, what, cust_err_str(rc));
    return rc;
}

/* Fills in what K serves from its token object and makes it ready. */
static int
keystore_publish(struct keystore_key *k, enum alg_keytype want)
{
    int rc;

    k->type = token_key_type(k->tk);
    if (k->type != want)
        return keystore_fail(CUST_ERR_KEYTYPE, k->name,
                             "the token holds another key type");
    rc = pubkey_fingerprint(token_key_public(k->tk), k->fingerprint);
    if (rc == 0)
        rc = pubkey_spki_der(token_key_public(k->tk), &k->spki, &k->spkilen);
    if (rc != 0)
        return keystore_fail(rc, k->name, "public key");
    atomic_store_explicit(&k->ready, true, memory_order_release);
    return 0;
}

/* Looks for version 1 of CK on TOK; absent is not an error. */
static int
keystore_load(const struct conf_key *ck, struct token *tok,
              struct keystore_key *k)
{
    int rc;

    k->name = strdup(ck->name);
    if (k->name == NULL)
        return keystore_fail(CUST_ERR_NOMEM, ck->name, "memory");
    k->type = ck->type;
    k->token = tok;
    k->version = 1;
    snprintf(k->label, sizeof(k->label), "%s@%u", ck->name, k->version);
    rc = token_key_find(tok, k->label, NULL, 0, &k->tk);
    if (rc == CUST_ERR_KEY_NOT_FOUND) {
        log_warn("key \"%s\" is not on its token yet; an admin creates it "
                 "with: custodianctl key create %s",
                 k->name, k->name);
        return 0;
    }
    if (rc != 0)
        return keystore_fail(rc, ck->name, token_error_detail());
    return keystore_publish(k, ck->type);
}

int
keystore_open(const struct conf *conf, struct token *const *tokens,
              struct keystore **out)
{
    struct keystore *ks = calloc(1, sizeof(*ks));
    const struct conf_key *ck;
    size_t i;
    int rc = 0;

    if (ks == NULL)
        return CUST_ERR_NOMEM;
    pthread_mutex_init(&ks->create_lock, NULL);
    ks->keys = calloc(conf->nkeys + 1, sizeof(*ks->keys));
    if (ks->keys == NULL) {
        keystore_free(ks);
        return CUST_ERR_NOMEM;
    }
    for (i = 0; rc == 0 && i < conf->nkeys; i++) {
        ck = &conf->keys[i];
        rc = keystore_load(ck, tokens[ck->token - conf->tokens], &ks->keys[i]);
        ks->n = i + 1;
    }
    if (rc != 0) {
        keystore_free(ks);
        return rc;
    }
    *out = ks;
    return 0;
}

int
keystore_create(struct keystore *ks, const char *name,
                const struct keystore_key **out)
{
    struct keystore_key *k = NULL;
    size_t i;
    int rc;

    for (i = 0; i < ks->n && k == NULL; i++)
        if (strcmp(ks->keys[i].name, name) == 0)
            k = &ks->keys[i];
    if (k == NULL)
        return keystore_fail(CUST_ERR_KEY_NOT_FOUND, name,
                             "not in the configuration");
    pthread_mutex_lock(&ks->create_lock);
    if (keystore_ready(k)) {
        rc = keystore_fail(CUST_ERR_KEY_EXISTS, name, "already on its token");
    } else {
        rc = token_key_generate(k->token, k->type, k->label, &k->tk);
        if (rc != 0)
            rc = keystore_fail(rc, name, token_error_detail());
        else
            rc = keystore_publish(k, k->type);
    }
    pthread_mutex_unlock(&ks->create_lock);
    if (rc == 0)
        *out = k;
    return rc;
}

bool
keystore_ready(const struct keystore_key *k)
{
    return atomic_load_explicit(&k->ready, memory_order_acquire);
}

void
keystore_free(struct keystore *ks)
{
    size_t i;

    if (ks == NULL)
        return;
    for (i = 0; i < ks->n; i++) {
        token_key_free(ks->keys[i].tk);
        free(ks->keys[i].spki);
        free(ks->keys[i].name);
    }
    free(ks->keys);
    pthread_mutex_destroy(&ks->create_lock);
    free(ks);
}

const struct keystore_key *
keystore_find(const struct keystore *ks, const char *name)
{
    size_t i;

    for (i = 0; i < ks->n; i++) {
        if (strcmp(ks->keys[i].name, name) == 0)
            return keystore_ready(&ks->keys[i]) ? &ks->keys[i] : NULL;
    }
    return NULL;
}

const struct keystore_key *
keystore_at(const struct keystore *ks, size_t i)
{
    return i < ks->n ? &ks->keys[i] : NULL;
}
