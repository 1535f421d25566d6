/*
 * The key table: one entry per configured key, resolved on its token at
 * start-up. Read-only afterwards, so any thread may look keys up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "custodian/error.h"
#include "keystore.h"

struct keystore {
    struct keystore_key *keys;
    size_t n;
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

/* Finds or makes version 1 of K on TOK and fills in what it serves. */
static int
keystore_load(const struct conf_key *ck, struct token *tok,
              struct keystore_key *k)
{
    int rc;

    k->name = strdup(ck->name);
    if (k->name == NULL)
        return keystore_fail(CUST_ERR_NOMEM, ck->name, "memory");
    k->version = 1;
    snprintf(k->label, sizeof(k->label), "%s@%u", ck->name, k->version);
    rc = token_key_find(tok, k->label, NULL, 0, &k->tk);
    if (rc == CUST_ERR_KEY_NOT_FOUND) {
        rc = token_key_generate(tok, ck->type, k->label, &k->tk);
        k->created = rc == 0;
    }
    if (rc != 0)
        return keystore_fail(rc, ck->name, token_error_detail());
    k->type = token_key_type(k->tk);
    if (k->type != ck->type)
        return keystore_fail(CUST_ERR_KEYTYPE, ck->name,
                             "the token holds another key type");
    rc = pubkey_fingerprint(token_key_public(k->tk), k->fingerprint);
    if (rc == 0)
        rc = pubkey_spki_der(token_key_public(k->tk), &k->spki, &k->spkilen);
    return rc != 0 ? keystore_fail(rc, ck->name, "public key") : 0;
}

int
keystore_open(const struct conf *conf, struct token *const *tokens,
              keystore_created_fn created, void *arg, struct keystore **out)
{
    struct keystore *ks = calloc(1, sizeof(*ks));
    const struct conf_key *ck;
    size_t i;
    int rc = 0;

    if (ks == NULL)
        return CUST_ERR_NOMEM;
    ks->keys = calloc(conf->nkeys + 1, sizeof(*ks->keys));
    if (ks->keys == NULL) {
        free(ks);
        return CUST_ERR_NOMEM;
    }
    for (i = 0; rc == 0 && i < conf->nkeys; i++) {
        ck = &conf->keys[i];
        rc = keystore_load(ck, tokens[ck->token - conf->tokens], &ks->keys[i]);
        ks->n = i + 1;
        if (rc == 0 && ks->keys[i].created && created != NULL)
            created(arg, &ks->keys[i]);
    }
    if (rc != 0) {
        keystore_free(ks);
        return rc;
    }
    *out = ks;
    return 0;
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
    free(ks);
}

const struct keystore_key *
keystore_find(const struct keystore *ks, const char *name)
{
    size_t i;

    for (i = 0; i < ks->n; i++) {
        if (strcmp(ks->keys[i].name, name) == 0)
            return &ks->keys[i];
    }
    return NULL;
}

const struct keystore_key *
keystore_at(const struct keystore *ks, size_t i)
{
    return i < ks->n ? &ks->keys[i] : NULL;
}
