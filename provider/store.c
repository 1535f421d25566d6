/*
 * The store loader for custodian:NAME, which OSSL_STORE and every
 * program that opens keys by URI use. Opening a URI asks nothing of the
 * daemon; loading asks it for the key's public key and hands OpenSSL a
 * reference to the key, which this provider's key management takes up.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/params.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#include "prov.h"

static OSSL_FUNC_store_open_fn store_open;
static OSSL_FUNC_store_settable_ctx_params_fn store_settable_ctx_params;
static OSSL_FUNC_store_set_ctx_params_fn store_set_ctx_params;
static OSSL_FUNC_store_load_fn store_load;
static OSSL_FUNC_store_eof_fn store_eof;
static OSSL_FUNC_store_close_fn store_close;

struct store_ctx {
    struct prov_ctx *pc;          /* the provider that opened it */
    char name[PROV_NAME_MAX + 1]; /* the key's name, from the URI */
    int expect; /* the OSSL_STORE_INFO type asked for; 0 for any */
    int done;   /* the one object was loaded, or there is none */
};

/* Key names as custodiand accepts them: short, no spaces or globs. */
static int
store_valid_name(const char *s, size_t max)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > max)
        return 0;
    for (i = 0; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && strchr("._-", s[i]) == NULL)
            return 0;
    }
    return 1;
}

static void *
store_open(void *provctx, const char *uri)
{
    struct prov_ctx *pc = provctx;
    size_t skip = strlen(PROV_URI_SCHEME);
    struct store_ctx *sc;

    /* OpenSSL found this loader by the scheme, in any case. */
    if (strncasecmp(uri, PROV_URI_SCHEME, skip) != 0) {
        PROV_ERR(pc, CUST_ERR_ARG, "%s: not a custodian: URI", uri);
        return NULL;
    }
    if (!store_valid_name(uri + skip, sizeof(sc->name) - 1)) {
        PROV_ERR(pc, CUST_ERR_ARG,
                 "%s: not custodian:NAME, with NAME the name of a key "
                 "(letters, digits, '.', '_', '-'; at most %zu)",
                 uri, sizeof(sc->name) - 1);
        return NULL;
    }
    sc = calloc(1, sizeof(*sc));
    if (sc == NULL) {
        PROV_ERR(pc, CUST_ERR_NOMEM, "out of memory");
        return NULL;
    }
    sc->pc = pc;
    strcpy(sc->name, uri + skip);
    return sc;
}

static const OSSL_PARAM *
store_settable_ctx_params(void *provctx)
{
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, NULL),
        OSSL_PARAM_END,
    };

    (void)provctx;
    return settable;
}

static int
store_set_ctx_params(void *loaderctx, const OSSL_PARAM params[])
{
    struct store_ctx *sc = loaderctx;
    const OSSL_PARAM *p;

    p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_EXPECT);
    if (p != NULL && !OSSL_PARAM_get_int(p, &sc->expect))
        return 0;
    return 1;
}

/* Hands OpenSSL K's public key alone, as DER, for a caller that asked for
 * a public key: the default provider decodes it into a key of its own. */
static int
store_give_public(struct prov_key *k, OSSL_CALLBACK *object_cb,
                  void *object_cbarg)
{
    int type = OSSL_OBJECT_PKEY, ok = 0, len;
    char structure[] = "SubjectPublicKeyInfo";
    unsigned char *der = NULL;

    len = i2d_PUBKEY(k->pub, &der);
    if (len > 0) {
        OSSL_PARAM params[] = {
            OSSL_PARAM_int(OSSL_OBJECT_PARAM_TYPE, &type),
            OSSL_PARAM_utf8_string(OSSL_OBJECT_PARAM_DATA_STRUCTURE, structure,
                                   0),
            OSSL_PARAM_octet_string(OSSL_OBJECT_PARAM_DATA, der, (size_t)len),
            OSSL_PARAM_END,
        };

        ok = object_cb(params, object_cbarg);
    }
    OPENSSL_free(der);
    return ok;
}

/* Hands OpenSSL a reference to K; its key management takes one of its
 * own if it takes the key. */
static int
store_give(struct prov_key *k, OSSL_CALLBACK *object_cb, void *object_cbarg)
{
    int type = OSSL_OBJECT_PKEY;
    OSSL_PARAM params[] = {
        OSSL_PARAM_int(OSSL_OBJECT_PARAM_TYPE, &type),
        OSSL_PARAM_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
                               (char *)prov_key_type_name(k), 0),
        OSSL_PARAM_octet_string(OSSL_OBJECT_PARAM_REFERENCE, &k, sizeof(k)),
        OSSL_PARAM_END,
    };

    return object_cb(params, object_cbarg);
}

static int
store_load(void *loaderctx, OSSL_CALLBACK *object_cb, void *object_cbarg,
           OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    struct store_ctx *sc = loaderctx;
    struct prov_key *k = NULL;
    int ok;

    (void)pw_cb;
    (void)pw_cbarg;
    if (sc->done)
        return 0;
    sc->done = 1;
    /* A custodian URI names a key pair; there is no certificate. */
    if (sc->expect != 0 && sc->expect != OSSL_STORE_INFO_PKEY &&
        sc->expect != OSSL_STORE_INFO_PUBKEY)
        return 0;
    if (prov_key_load(sc->pc, sc->name, &k) != 0)
        return 0;
    if (sc->expect == OSSL_STORE_INFO_PUBKEY)
        ok = store_give_public(k, object_cb, object_cbarg);
    else
        ok = store_give(k, object_cb, object_cbarg);
    prov_key_unref(k);
    return ok;
}

static int
store_eof(void *loaderctx)
{
    const struct store_ctx *sc = loaderctx;

    return sc->done;
}

static int
store_close(void *loaderctx)
{
    free(loaderctx);
    return 1;
}

const OSSL_DISPATCH prov_store_functions[] = {
    {OSSL_FUNC_STORE_OPEN, (void (*)(void))store_open},
    {OSSL_FUNC_STORE_SETTABLE_CTX_PARAMS,
     (void (*)(void))store_settable_ctx_params},
    {OSSL_FUNC_STORE_SET_CTX_PARAMS, (void (*)(void))store_set_ctx_params},
    {OSSL_FUNC_STORE_LOAD, (void (*)(void))store_load},
    {OSSL_FUNC_STORE_EOF, (void (*)(void))store_eof},
    {OSSL_FUNC_STORE_CLOSE, (void (*)(void))store_close},
    {0, NULL},
};
