/*
 * Signatures by custodian keys: ECDSA (DER), Ed25519, and RSA with
 * PKCS#1 v1.5 or PSS padding. Both of OpenSSL's paths are served: the
 * pre-hashed one (EVP_PKEY_sign: pkeyutl, CMS) sends the caller's
 * digest, and the digest-sign one (EVP_DigestSign: dgst, req, x509)
 * hashes here and sends the digest. Ed25519 signs the message itself,
 * which goes to the daemon whole.
 *
 * The parameters a caller sets (digest, padding, salt length, MGF1) are
 * kept by a "shadow": the default provider's context for the same public
 * key, initialised for signing but never asked to sign. It parses and
 * checks them as OpenSSL always does, and encodes the AlgorithmIdentifier
 * that certificates and CMS embed; this file reads them back to build
 * the request.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "prov.h"

#define SIG_NAMESPACE "namespace"

static OSSL_FUNC_signature_newctx_fn sig_ecdsa_newctx;
static OSSL_FUNC_signature_newctx_fn sig_ed25519_newctx;
static OSSL_FUNC_signature_newctx_fn sig_rsa_newctx;
static OSSL_FUNC_signature_freectx_fn sig_freectx;
static OSSL_FUNC_signature_dupctx_fn sig_dupctx;
static OSSL_FUNC_signature_sign_init_fn sig_sign_init;
static OSSL_FUNC_signature_sign_fn sig_sign;
static OSSL_FUNC_signature_digest_sign_init_fn sig_digest_sign_init;
static OSSL_FUNC_signature_digest_sign_update_fn sig_digest_sign_update;
static OSSL_FUNC_signature_digest_sign_final_fn sig_digest_sign_final;
static OSSL_FUNC_signature_digest_sign_fn sig_digest_sign;
static OSSL_FUNC_signature_get_ctx_params_fn sig_get_ctx_params;
static OSSL_FUNC_signature_set_ctx_params_fn sig_set_ctx_params;
static OSSL_FUNC_signature_gettable_ctx_params_fn sig_ecdsa_gettable;
static OSSL_FUNC_signature_gettable_ctx_params_fn sig_ed25519_gettable;
static OSSL_FUNC_signature_gettable_ctx_params_fn sig_rsa_gettable;
static OSSL_FUNC_signature_settable_ctx_params_fn sig_ecdsa_settable;
static OSSL_FUNC_signature_settable_ctx_params_fn sig_ed25519_settable;
static OSSL_FUNC_signature_settable_ctx_params_fn sig_rsa_settable;

struct sig_ctx {
    struct prov_ctx *pc;  /* the provider it belongs to */
    enum prov_kind kind;  /* the algorithm this context serves */
    struct prov_key *key; /* the signing key, a reference; NULL before init */
    EVP_PKEY_CTX *shadow; /* the default provider's context for key->pub:
                             parameters only (not for Ed25519) */
    EVP_MD_CTX *md;       /* digest-sign: the running digest */
    char ns[PROV_NAME_MAX + 1]; /* this operation's namespace; "" for the
                             provider's */
};

/* A digest custodiand signs over, by OpenSSL's name for it. */
struct sig_digest {
    const char *name; /* custodian's: sha256, sha384, sha512 */
    size_t size;
};

static const struct {
    const char *openssl;
    struct sig_digest d;
} sig_digests[] = {
    {"SHA2-256", {"sha256", 32}},
    {"SHA2-384", {"sha384", 48}},
    {"SHA2-512", {"sha512", 64}},
};

/* Finds custodian's digest for OpenSSL's name MDNAME (any alias). */
static int
sig_digest_by_name(const struct sig_ctx *c, const char *mdname,
                   struct sig_digest *out)
{
    EVP_MD *md = EVP_MD_fetch(c->pc->libctx, mdname, NULL);
    size_t i;

    for (i = 0; md != NULL && i < sizeof(sig_digests) / sizeof(*sig_digests);
         i++) {
        if (EVP_MD_is_a(md, sig_digests[i].openssl)) {
            EVP_MD_free(md);
            *out = sig_digests[i].d;
            return 0;
        }
    }
    EVP_MD_free(md);
    PROV_ERR(c->pc, CUST_ERR_DIGEST,
             "digest %s: custodian signs SHA-256, SHA-384 and SHA-512 only",
             mdname);
    return CUST_ERR_DIGEST;
}

/* The digest of a LEN-byte value when the caller named none (ECDSA). */
static int
sig_digest_by_size(const struct sig_ctx *c, size_t len, struct sig_digest *out)
{
    size_t i;

    for (i = 0; i < sizeof(sig_digests) / sizeof(*sig_digests); i++) {
        if (sig_digests[i].d.size == len) {
            *out = sig_digests[i].d;
            return 0;
        }
    }
    PROV_ERR(c->pc, CUST_ERR_DIGEST_LEN,
             "a %zu-byte digest: custodian signs SHA-256, SHA-384 and "
             "SHA-512 digests only",
             len);
    return CUST_ERR_DIGEST_LEN;
}

/* The default provider could not answer for a parameter it was given. */
static int
sig_internal(const struct sig_ctx *c, const char *what)
{
    PROV_ERR(c->pc, CUST_ERR_INTERNAL,
             "key %s: the %s set cannot be read "
             "back",
             c->key ? c->key->info.name : "(none)", what);
    return CUST_ERR_INTERNAL;
}

/* The digest the shadow holds, or "" if none was named. */
static int
sig_shadow_digest(const struct sig_ctx *c, char *name, size_t size)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, name, size),
        OSSL_PARAM_END,
    };

    name[0] = '\0';
    if (EVP_PKEY_CTX_get_params(c->shadow, params) <= 0)
        return sig_internal(c, "digest");
    return 0;
}

static void *
sig_newctx(void *provctx, enum prov_kind kind)
{
    struct sig_ctx *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->pc = provctx;
    c->kind = kind;
    return c;
}

static void *
sig_ecdsa_newctx(void *provctx, const char *propq)
{
    (void)propq;
    return sig_newctx(provctx, PROV_EC);
}

static void *
sig_ed25519_newctx(void *provctx, const char *propq)
{
    (void)propq;
    return sig_newctx(provctx, PROV_ED25519);
}

static void *
sig_rsa_newctx(void *provctx, const char *propq)
{
    (void)propq;
    return sig_newctx(provctx, PROV_RSA);
}

static void
sig_freectx(void *vctx)
{
    struct sig_ctx *c = vctx;

    if (c == NULL)
        return;
    prov_key_unref(c->key);
    EVP_PKEY_CTX_free(c->shadow);
    EVP_MD_CTX_free(c->md);
    free(c);
}

static void *
sig_dupctx(void *vctx)
{
    const struct sig_ctx *c = vctx;
    struct sig_ctx *d = sig_newctx(c->pc, c->kind);
    int ok = d != NULL;

    if (!ok)
        return NULL;
    memcpy(d->ns, c->ns, sizeof(d->ns));
    d->key = c->key ? prov_key_ref(c->key) : NULL;
    if (c->shadow != NULL)
        ok = (d->shadow = EVP_PKEY_CTX_dup(c->shadow)) != NULL;
    if (ok && c->md != NULL)
        ok = (d->md = EVP_MD_CTX_new()) != NULL &&
             EVP_MD_CTX_copy_ex(d->md, c->md) == 1;
    if (!ok) {
        sig_freectx(d);
        return NULL;
    }
    return d;
}

/* Starts an operation with KEYDATA. */
static int
sig_init(struct sig_ctx *c, void *keydata, const OSSL_PARAM params[])
{
    struct prov_key *k = keydata;

    /* No key: the same operation again, on the key and parameters set. */
    if (k == NULL && c->key != NULL)
        return sig_set_ctx_params(c, params);
    if (k == NULL || k->kind != c->kind) {
        PROV_ERR(c->pc, CUST_ERR_KEYTYPE, "not a custodian key of this type");
        return 0;
    }
    prov_key_unref(c->key);
    c->key = prov_key_ref(k);
    EVP_PKEY_CTX_free(c->shadow);
    c->shadow = NULL;
    if (c->kind != PROV_ED25519) {
        c->shadow = EVP_PKEY_CTX_new_from_pkey(c->pc->libctx, k->pub, NULL);
        if (c->shadow == NULL || EVP_PKEY_sign_init(c->shadow) <= 0) {
            PROV_ERR(c->pc, CUST_ERR_INTERNAL,
                     "key %s: cannot set up "
                     "signing parameters",
                     k->info.name);
            return 0;
        }
    }
    return sig_set_ctx_params(c, params);
}

static int
sig_sign_init(void *vctx, void *keydata, const OSSL_PARAM params[])
{
    return sig_init(vctx, keydata, params);
}

/* The RSA scheme the shadow's padding names, checking PSS's parameters
 * against what custodiand makes: MGF1 and a salt both of digest D. */
static int
sig_rsa_scheme(struct sig_ctx *c, const struct sig_digest *d,
               const char **scheme)
{
    char mgf1[64] = "";
    int pad = 0, salt = 0;
    OSSL_PARAM params[] = {
        OSSL_PARAM_int(OSSL_SIGNATURE_PARAM_PAD_MODE, &pad),
        OSSL_PARAM_END,
    };

    if (EVP_PKEY_CTX_get_params(c->shadow, params) <= 0)
        return sig_internal(c, "RSA padding");
    if (pad == RSA_PKCS1_PADDING) {
        *scheme = "rsa-pkcs1";
        return 0;
    }
    if (pad != RSA_PKCS1_PSS_PADDING) {
        PROV_ERR(c->pc, CUST_ERR_SCHEME,
                 "RSA padding mode %d: custodian "
                 "signs with PKCS#1 v1.5 or PSS padding only",
                 pad);
        return CUST_ERR_SCHEME;
    }
    if (EVP_PKEY_CTX_get_rsa_pss_saltlen(c->shadow, &salt) <= 0 ||
        EVP_PKEY_CTX_get_rsa_mgf1_md_name(c->shadow, mgf1, sizeof(mgf1)) <= 0)
        return sig_internal(c, "RSA-PSS parameters");
    /* Unset, "auto" or "digest": the daemon's own, as long as D. */
    if (salt == RSA_PSS_SALTLEN_DIGEST || salt == RSA_PSS_SALTLEN_AUTO)
        salt = (int)d->size;
    if (salt != (int)d->size) {
        PROV_ERR(c->pc, CUST_ERR_SCHEME,
                 "RSA-PSS salt length %s%d: custodian's salt is as long as "
                 "the digest (%zu bytes; rsa_pss_saltlen:digest)",
                 salt == RSA_PSS_SALTLEN_MAX ? "max, " : "", salt, d->size);
        return CUST_ERR_SCHEME;
    }
    if (mgf1[0] != '\0') {
        struct sig_digest m;

        if (sig_digest_by_name(c, mgf1, &m) != 0 || m.size != d->size) {
            PROV_ERR(c->pc, CUST_ERR_SCHEME,
                     "RSA-PSS with MGF1 over %s: "
                     "custodian's MGF1 uses the signature's digest",
                     mgf1);
            return CUST_ERR_SCHEME;
        }
    }
    /* What the AlgorithmIdentifier encodes is then what was made. */
    if (EVP_PKEY_CTX_set_rsa_pss_saltlen(c->shadow, salt) <= 0)
        return sig_internal(c, "RSA-PSS salt length");
    *scheme = "rsa-pss";
    return 0;
}

/* The digest of a LEN-byte value to sign: the one named, else (ECDSA
 * only) the one of that length. */
static int
sig_digest_for(struct sig_ctx *c, size_t len, struct sig_digest *d)
{
    char mdname[64];
    int rc = sig_shadow_digest(c, mdname, sizeof(mdname));

    if (rc == 0 && mdname[0] != '\0')
        rc = sig_digest_by_name(c, mdname, d);
    else if (rc == 0 && c->kind == PROV_EC)
        return sig_digest_by_size(c, len, d);
    else if (rc == 0) {
        PROV_ERR(c->pc, CUST_ERR_DIGEST,
                 "RSA over a digest needs the digest "
                 "named (openssl pkeyutl -pkeyopt digest:sha256)");
        return CUST_ERR_DIGEST;
    }
    if (rc == 0 && d->size != len) {
        PROV_ERR(c->pc, CUST_ERR_DIGEST_LEN,
                 "a %zu-byte value is not a %s "
                 "digest",
                 len, d->name);
        return CUST_ERR_DIGEST_LEN;
    }
    return rc;
}

/*
 * Whether a signing call may go ahead: 1 if so; 0 when SIG is NULL (the
 * caller asks only for the size, now in *SIGLEN) or on an error, on the
 * queue. A SIGSIZE too small is refused here, before the daemon signs
 * and audits a signature that could not be handed over.
 */
static int
sig_ready(struct sig_ctx *c, const unsigned char *sig, size_t *siglen,
          size_t sigsize, int *ok)
{
    size_t size;

    *ok = 0;
    if (c->key == NULL) {
        PROV_ERR(c->pc, CUST_ERR_ARG,
                 "signing with no key: the operation "
                 "was not initialised");
        return 0;
    }
    size = (size_t)EVP_PKEY_get_size(c->key->pub);
    if (sig == NULL) {
        *siglen = size;
        *ok = 1;
        return 0;
    }
    if (sigsize < size) {
        PROV_ERR(c->pc, CUST_ERR_TOO_BIG,
                 "key %s: a signature needs up to "
                 "%zu bytes, and %zu were given",
                 c->key->info.name, size, sigsize);
        return 0;
    }
    return 1;
}

/* The pre-hashed path: TBS is a digest. */
static int
sig_sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize,
         const unsigned char *tbs, size_t tbslen)
{
    struct sig_ctx *c = vctx;
    struct prov_sign_req r = {.data = tbs, .len = tbslen, .ns = c->ns};
    struct sig_digest d;
    int ok;

    if (!sig_ready(c, sig, siglen, sigsize, &ok))
        return ok;
    if (sig_digest_for(c, tbslen, &d) != 0)
        return 0;
    r.digest = d.name;
    r.scheme = "ecdsa";
    if (c->kind == PROV_RSA && sig_rsa_scheme(c, &d, &r.scheme) != 0)
        return 0;
    return prov_key_sign(c->key, &r, sig, siglen, sigsize) == 0;
}

static int
sig_digest_sign_init(void *vctx, const char *mdname, void *keydata,
                     const OSSL_PARAM params[])
{
    struct sig_ctx *c = vctx;
    struct sig_digest d;
    EVP_MD *md;
    int ok;

    if (c->kind == PROV_ED25519) {
        if (mdname != NULL && *mdname != '\0') {
            PROV_ERR(c->pc, CUST_ERR_DIGEST,
                     "Ed25519 signs the message "
                     "itself, with no digest (not %s)",
                     mdname);
            return 0;
        }
        return sig_init(c, keydata, params);
    }
    if (mdname == NULL || *mdname == '\0')
        mdname = "SHA256";
    if (!sig_init(c, keydata, params) || sig_digest_by_name(c, mdname, &d) != 0)
        return 0;
    md = EVP_MD_fetch(c->pc->libctx, mdname, NULL);
    EVP_MD_CTX_free(c->md);
    c->md = EVP_MD_CTX_new();
    ok = md != NULL && c->md != NULL &&
         EVP_DigestInit_ex2(c->md, md, NULL) == 1 &&
         EVP_PKEY_CTX_set_signature_md(c->shadow, md) > 0;
    EVP_MD_free(md);
    return ok;
}

static int
sig_digest_sign_update(void *vctx, const unsigned char *data, size_t len)
{
    struct sig_ctx *c = vctx;

    return c->md != NULL && EVP_DigestUpdate(c->md, data, len) == 1;
}

static int
sig_digest_sign_final(void *vctx, unsigned char *sig, size_t *siglen,
                      size_t sigsize)
{
    struct sig_ctx *c = vctx;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    if (c->md == NULL) {
        PROV_ERR(c->pc, CUST_ERR_ARG, "no digest-sign operation begun");
        return 0;
    }
    if (sig != NULL && EVP_DigestFinal_ex(c->md, digest, &len) != 1) {
        PROV_ERR(c->pc, CUST_ERR_INTERNAL, "the digest cannot be finished");
        return 0;
    }
    return sig_sign(c, sig, siglen, sigsize, digest, len);
}

/* Ed25519's one-shot: TBS is the message. */
static int
sig_digest_sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize,
                const unsigned char *tbs, size_t tbslen)
{
    struct sig_ctx *c = vctx;
    struct prov_sign_req r = {
        .data = tbs,
        .len = tbslen,
        .scheme = "ed25519",
        .ns = c->ns,
    };
    int ok;

    if (!sig_ready(c, sig, siglen, sigsize, &ok))
        return ok;
    if (tbslen > PROV_MESSAGE_MAX) {
        PROV_ERR(c->pc, CUST_ERR_TOO_BIG,
                 "key %s: a %zu-byte message; "
                 "custodiand signs Ed25519 messages of at most %d bytes",
                 c->key->info.name, tbslen, PROV_MESSAGE_MAX);
        return 0;
    }
    return prov_key_sign(c->key, &r, sig, siglen, sigsize) == 0;
}

/* Ed25519's AlgorithmIdentifier: its OID, no parameters. */
static int
sig_ed25519_algorithm_id(OSSL_PARAM *p)
{
    X509_ALGOR *alg = X509_ALGOR_new();
    unsigned char *der = NULL;
    int len = -1, ok;

    if (alg != NULL &&
        X509_ALGOR_set0(alg, OBJ_nid2obj(NID_ED25519), V_ASN1_UNDEF, NULL))
        len = i2d_X509_ALGOR(alg, &der);
    ok = len > 0 && OSSL_PARAM_set_octet_string(p, der, (size_t)len);
    OPENSSL_free(der);
    X509_ALGOR_free(alg);
    return ok;
}

static int
sig_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    struct sig_ctx *c = vctx;
    char mdname[64] = "";
    struct sig_digest d;
    const char *scheme;
    OSSL_PARAM *p;

    if (c->kind == PROV_ED25519) {
        p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID);
        return p == NULL || sig_ed25519_algorithm_id(p);
    }
    if (c->shadow == NULL)
        return 0;
    /*
     * Before OpenSSL reads the AlgorithmIdentifier, a PSS salt length
     * left to the signer ("auto") is set in the shadow to the one the
     * daemon uses, so that the encoding names the salt the signature
     * will have. This getter changes the shadow on purpose.
     */
    if (c->kind == PROV_RSA &&
        sig_shadow_digest(c, mdname, sizeof(mdname)) == 0 &&
        mdname[0] != '\0' && sig_digest_by_name(c, mdname, &d) == 0 &&
        sig_rsa_scheme(c, &d, &scheme) != 0)
        return 0;
    return EVP_PKEY_CTX_get_params(c->shadow, params) > 0;
}

static int
sig_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    struct sig_ctx *c = vctx;
    const OSSL_PARAM *p;
    const char *ns = NULL;

    if (params == NULL)
        return 1;
    p = OSSL_PARAM_locate_const(params, SIG_NAMESPACE);
    if (p != NULL) {
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &ns) ||
            strlen(ns) >= sizeof(c->ns)) {
            PROV_ERR(c->pc, CUST_ERR_ARG,
                     "namespace: a name of at most "
                     "%zu bytes",
                     sizeof(c->ns) - 1);
            return 0;
        }
        strcpy(c->ns, ns);
    }
    if (c->shadow == NULL)
        return 1;
    return EVP_PKEY_CTX_set_params(c->shadow, params) > 0;
}

static const OSSL_PARAM *
sig_ecdsa_gettable(void *vctx, void *provctx)
{
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
        OSSL_PARAM_size_t(OSSL_SIGNATURE_PARAM_DIGEST_SIZE, NULL),
        OSSL_PARAM_END,
    };

    (void)vctx;
    (void)provctx;
    return gettable;
}

static const OSSL_PARAM *
sig_ed25519_gettable(void *vctx, void *provctx)
{
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)vctx;
    (void)provctx;
    return gettable;
}

static const OSSL_PARAM *
sig_rsa_gettable(void *vctx, void *provctx)
{
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)vctx;
    (void)provctx;
    return gettable;
}

static const OSSL_PARAM *
sig_ecdsa_settable(void *vctx, void *provctx)
{
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
        OSSL_PARAM_utf8_string(SIG_NAMESPACE, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)vctx;
    (void)provctx;
    return settable;
}

static const OSSL_PARAM *
sig_ed25519_settable(void *vctx, void *provctx)
{
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_utf8_string(SIG_NAMESPACE, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)vctx;
    (void)provctx;
    return settable;
}

static const OSSL_PARAM *
sig_rsa_settable(void *vctx, void *provctx)
{
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_PROPERTIES, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
        OSSL_PARAM_utf8_string(SIG_NAMESPACE, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)vctx;
    (void)provctx;
    return settable;
}

const OSSL_DISPATCH prov_ecdsa_signature_functions[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))sig_ecdsa_newctx},
    {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))sig_freectx},
    {OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))sig_dupctx},
    {OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))sig_sign_init},
    {OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))sig_sign},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT,
     (void (*)(void))sig_digest_sign_init},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE,
     (void (*)(void))sig_digest_sign_update},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL,
     (void (*)(void))sig_digest_sign_final},
    {OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))sig_get_ctx_params},
    {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,
     (void (*)(void))sig_ecdsa_gettable},
    {OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))sig_set_ctx_params},
    {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,
     (void (*)(void))sig_ecdsa_settable},
    {0, NULL},
};

/* Ed25519 signs whole messages, in one call: no pre-hashed path. */
const OSSL_DISPATCH prov_ed25519_signature_functions[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))sig_ed25519_newctx},
    {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))sig_freectx},
    {OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))sig_dupctx},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT,
     (void (*)(void))sig_digest_sign_init},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN, (void (*)(void))sig_digest_sign},
    {OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))sig_get_ctx_params},
    {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,
     (void (*)(void))sig_ed25519_gettable},
    {OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))sig_set_ctx_params},
    {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,
     (void (*)(void))sig_ed25519_settable},
    {0, NULL},
};

const OSSL_DISPATCH prov_rsa_signature_functions[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))sig_rsa_newctx},
    {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))sig_freectx},
    {OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))sig_dupctx},
    {OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))sig_sign_init},
    {OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))sig_sign},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT,
     (void (*)(void))sig_digest_sign_init},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE,
     (void (*)(void))sig_digest_sign_update},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL,
     (void (*)(void))sig_digest_sign_final},
    {OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))sig_get_ctx_params},
    {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, (void (*)(void))sig_rsa_gettable},
    {OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))sig_set_ctx_params},
    {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, (void (*)(void))sig_rsa_settable},
    {0, NULL},
};
