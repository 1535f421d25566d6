/*
 * The transition statement's one text, and its check. The text is plain
 * lines so that an operator can read what was signed; every field in it
 * is one the manifest also shows.
 */
#include <stdio.h>
#include <string.h>

#include "custodian/error.h"
#include "pubkey.h"
#include "transition.h"

static int
transition_field_ok(const char *s)
{
    return s != NULL && strpbrk(s, "\r\n") == NULL;
}

int
transition_text(const struct transition *t, char out[TRANSITION_TEXT_MAX])
{
    char when[32];
    struct tm tm;
    int n;

    if (!transition_field_ok(t->key) || !transition_field_ok(t->from_fpr) ||
        !transition_field_ok(t->to_fpr) || gmtime_r(&t->at, &tm) == NULL)
        return CUST_ERR_ARG;
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    n = snprintf(out, TRANSITION_TEXT_MAX,
                 "custodian key transition 1\n"
                 "key: %s\n"
                 "from: %u %s\n"
                 "to: %u %s\n"
                 "created: %s\n",
                 t->key, t->from, t->from_fpr, t->to, t->to_fpr, when);
    if (n < 0 || n >= TRANSITION_TEXT_MAX)
        return CUST_ERR_TOO_BIG;
    return n;
}

enum alg_digest
transition_digest(enum alg_keytype type)
{
    return type == ALG_KEY_ED25519 ? ALG_DIGEST_NONE : ALG_DIGEST_SHA256;
}

int
transition_verify(EVP_PKEY *signer, const char *text, size_t len,
                  const uint8_t *sig, size_t siglen)
{
    enum alg_digest md = transition_digest(pubkey_keytype(signer));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok;

    /* RSA keys sign statements with PKCS#1 v1.5, OpenSSL's default. */
    ok = ctx != NULL &&
         EVP_DigestVerifyInit(ctx, NULL,
                              md == ALG_DIGEST_NONE ? NULL : alg_digest_md(md),
                              NULL, signer) == 1 &&
         EVP_DigestVerify(ctx, sig, siglen, (const uint8_t *)text, len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : CUST_ERR_BAD_SIGNATURE;
}
