/*
 * Key management for custodian keys: EC, Ed25519 and RSA. A key comes
 * only from this provider's store loader; its parameters and its public
 * half are the daemon's public key, answered by the default provider in
 * the provider's own library context. The private half stays on the
 * token: an export hands out the public key and nothing else.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/params.h>

#include "prov.h"

static OSSL_FUNC_keymgmt_load_fn keymgmt_load;
static OSSL_FUNC_keymgmt_free_fn keymgmt_free;
static OSSL_FUNC_keymgmt_dup_fn keymgmt_dup;
static OSSL_FUNC_keymgmt_has_fn keymgmt_has;
static OSSL_FUNC_keymgmt_match_fn keymgmt_match;
static OSSL_FUNC_keymgmt_get_params_fn keymgmt_get_params;
static OSSL_FUNC_keymgmt_gettable_params_fn keymgmt_ec_gettable_params;
static OSSL_FUNC_keymgmt_gettable_params_fn keymgmt_ed25519_gettable_params;
static OSSL_FUNC_keymgmt_gettable_params_fn keymgmt_rsa_gettable_params;
static OSSL_FUNC_keymgmt_export_fn keymgmt_export;
static OSSL_FUNC_keymgmt_export_types_fn keymgmt_ec_export_types;
static OSSL_FUNC_keymgmt_export_types_fn keymgmt_ed25519_export_types;
static OSSL_FUNC_keymgmt_export_types_fn keymgmt_rsa_export_types;
static OSSL_FUNC_keymgmt_query_operation_name_fn keymgmt_ec_query_name;

/* REFERENCE is what the store loader handed out: a key pointer. */
static void *
keymgmt_load(const void *reference, size_t reference_sz)
{
    struct prov_key *k;

    if (reference == NULL || reference_sz != sizeof(k))
        return NULL;
    memcpy(&k, reference, sizeof(k));
    return prov_key_ref(k);
}

static void
keymgmt_free(void *keydata)
{
    prov_key_unref(keydata);
}

/* A key never changes once loaded: a copy is another reference. */
static void *
keymgmt_dup(const void *keydata, int selection)
{
    (void)selection;
    return prov_key_ref((struct prov_key *)keydata);
}

/* A custodian key has both halves, its private one on the token. */
static int
keymgmt_has(const void *keydata, int selection)
{
    (void)selection;
    return keydata != NULL;
}

static int
keymgmt_match(const void *keydata1, const void *keydata2, int selection)
{
    const struct prov_key *a = keydata1, *b = keydata2;

    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0)
        return EVP_PKEY_eq(a->pub, b->pub) == 1;
    if ((selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS) != 0)
        return EVP_PKEY_parameters_eq(a->pub, b->pub) == 1;
    return 1;
}

/* Sizes, security bits, default digests, the public key: all as the
 * default provider answers them for the same public key. */
static int
keymgmt_get_params(void *keydata, OSSL_PARAM params[])
{
    const struct prov_key *k = keydata;

    return EVP_PKEY_get_params(k->pub, params);
}

static const OSSL_PARAM *
keymgmt_ec_gettable_params(void *provctx)
{
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_X, NULL, 0),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_Y, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)provctx;
    return gettable;
}

static const OSSL_PARAM *
keymgmt_ed25519_gettable_params(void *provctx)
{
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_MANDATORY_DIGEST, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)provctx;
    return gettable;
}

static const OSSL_PARAM *
keymgmt_rsa_gettable_params(void *provctx)
{
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)provctx;
    return gettable;
}

/*
 * Hands CB the public key, for another provider to import. OpenSSL 3.0
 * asks for every part of a key when it exports one; the private part
 * is never given, so the other provider holds a public key only.
 */
static int
keymgmt_export(void *keydata, int selection, OSSL_CALLBACK *cb, void *cbarg)
{
    const struct prov_key *k = keydata;
    OSSL_PARAM *params = NULL;
    int ok;

    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0)
        return 0;
    if ((selection & (OSSL_KEYMGMT_SELECT_PUBLIC_KEY |
                      OSSL_KEYMGMT_SELECT_ALL_PARAMETERS)) == 0)
        return 0;
    if (EVP_PKEY_todata(k->pub, EVP_PKEY_PUBLIC_KEY, &params) != 1)
        return 0;
    ok = cb(params, cbarg);
    OSSL_PARAM_free(params);
    return ok;
}

static const OSSL_PARAM *
keymgmt_ec_export_types(int selection)
{
    static const OSSL_PARAM types[] = {
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL,
                               0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
        OSSL_PARAM_END,
    };

    return (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) == 0 ? types : NULL;
}

static const OSSL_PARAM *
keymgmt_ed25519_export_types(int selection)
{
    static const OSSL_PARAM types[] = {
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
        OSSL_PARAM_END,
    };

    return (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) == 0 ? types : NULL;
}

static const OSSL_PARAM *
keymgmt_rsa_export_types(int selection)
{
    static const OSSL_PARAM types[] = {
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
        OSSL_PARAM_END,
    };

    return (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) == 0 ? types : NULL;
}

/* An EC key signs with ECDSA; the others under their own names. */
static const char *
keymgmt_ec_query_name(int operation_id)
{
    return operation_id == OSSL_OP_SIGNATURE ? "ECDSA" : NULL;
}

const OSSL_DISPATCH prov_ec_keymgmt_functions[] = {
    {OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))keymgmt_load},
    {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))keymgmt_free},
    {OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))keymgmt_dup},
    {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))keymgmt_has},
    {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))keymgmt_match},
    {OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))keymgmt_get_params},
    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS,
     (void (*)(void))keymgmt_ec_gettable_params},
    {OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))keymgmt_export},
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))keymgmt_ec_export_types},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME,
     (void (*)(void))keymgmt_ec_query_name},
    {0, NULL},
};

const OSSL_DISPATCH prov_ed25519_keymgmt_functions[] = {
    {OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))keymgmt_load},
    {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))keymgmt_free},
    {OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))keymgmt_dup},
    {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))keymgmt_has},
    {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))keymgmt_match},
    {OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))keymgmt_get_params},
    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS,
     (void (*)(void))keymgmt_ed25519_gettable_params},
    {OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))keymgmt_export},
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES,
     (void (*)(void))keymgmt_ed25519_export_types},
    {0, NULL},
};

const OSSL_DISPATCH prov_rsa_keymgmt_functions[] = {
    {OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))keymgmt_load},
    {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))keymgmt_free},
    {OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))keymgmt_dup},
    {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))keymgmt_has},
    {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))keymgmt_match},
    {OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))keymgmt_get_params},
    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS,
     (void (*)(void))keymgmt_rsa_gettable_params},
    {OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))keymgmt_export},
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))keymgmt_rsa_export_types},
    {0, NULL},
};
