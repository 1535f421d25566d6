/*
 * Signing on the token: choosing the mechanism for a scheme and digest,
 * and bringing the token's output into the form verifiers expect.
 */
#include <string.h>

#include "custodian/error.h"
#include "sigenc.h"
#include "token_int.h"

/*
 * One signing job as token_run() hands it to sign_op(). It lives on the
 * caller's stack; token_run() may run it twice (after a rebuild), so
 * sign_op() reads its inputs and writes only raw/rawlen.
 */
struct sign_job {
    struct token_key *key;
    CK_MECHANISM mech;
    CK_RSA_PKCS_PSS_PARAMS pss;
    const uint8_t *input;
    size_t inlen;
    uint8_t raw[ALG_SIG_MAX]; /* what the token returned */
    CK_ULONG rawlen;
};

static CK_RV
sign_op(struct token *tok, struct token_session *s, void *ctx, int *rc)
{
    struct sign_job *job = ctx;
    CK_OBJECT_HANDLE priv;
    CK_RV rv;

    (void)rc;
    rv = token_key_handles(job->key, s, &priv);
    if (rv != CKR_OK)
        return rv;
    rv = tok->fn->C_SignInit(s->h, &job->mech, priv);
    if (rv != CKR_OK) {
        token_fail("C_SignInit", rv);
        return rv;
    }
    job->rawlen = sizeof(job->raw);
    rv = tok->fn->C_Sign(s->h, (CK_BYTE *)job->input, (CK_ULONG)job->inlen,
                         job->raw, &job->rawlen);
    if (rv != CKR_OK)
        token_fail("C_Sign", rv);
    return rv;
}

/*
 * The PSS parameters for MD: MGF1 with MD, salt as long as the digest.
 * That is what RFC 8017 recommends, what OpenSSL's verifier assumes with
 * "-sigopt rsa_pss_saltlen:digest", and the only salt length tpm2-pkcs11
 * accepted when others were tried.
 */
static void
sign_pss_params(struct sign_job *job, enum alg_digest md)
{
    static const CK_MECHANISM_TYPE hash[] = {0, CKM_SHA256, CKM_SHA384,
                                             CKM_SHA512};
    static const CK_RSA_PKCS_MGF_TYPE mgf[] = {
        0, CKG_MGF1_SHA256, CKG_MGF1_SHA384, CKG_MGF1_SHA512};

    job->pss.hashAlg = hash[md];
    job->pss.mgf = mgf[md];
    job->pss.sLen = alg_digest_len(md);
    job->mech.pParameter = &job->pss;
    job->mech.ulParameterLen = sizeof(job->pss);
}

static int
sign_need_mech(struct token *tok, CK_MECHANISM_TYPE m, const char *what)
{
    if (token_has_mech(tok, m))
        return 0;
    token_note("%s is not supported by this token", what);
    return CUST_ERR_UNSUPPORTED;
}

/*
 * Runs JOB and writes the signature in its final encoding: ECDSA leaves
 * the token as r || s, which verifiers (OpenSSL, X.509, CMS) want as DER.
 */
static int
sign_run(struct sign_job *job, enum alg_scheme scheme, uint8_t *sig,
         size_t *siglen)
{
    int rc = token_run(job->key->tok, job->key, sign_op, job);

    if (rc != 0)
        return rc;
    if (scheme == ALG_SCHEME_ECDSA)
        return sigenc_ecdsa_der(job->raw, job->rawlen, sig, ALG_SIG_MAX,
                                siglen);
    memcpy(sig, job->raw, job->rawlen);
    *siglen = job->rawlen;
    return 0;
}

/* Checks what both entry points check before touching the token. */
static int
sign_check(struct token_key *key, enum alg_scheme scheme)
{
    int rc = token_check_pid(key->tok);

    if (rc != 0)
        return rc;
    rc = alg_scheme_fits(key->type, scheme);
    if (rc != 0)
        token_note("scheme %s does not fit key type %s",
                   alg_scheme_name(scheme), alg_keytype_name(key->type));
    return rc;
}

int
token_sign_digest(struct token_key *key, enum alg_scheme scheme,
                  enum alg_digest md, const uint8_t *digest, size_t dlen,
                  uint8_t *sig, size_t *siglen)
{
    struct sign_job job = {.key = key, .input = digest, .inlen = dlen};
    uint8_t di[SIGENC_DIGESTINFO_MAX];
    int rc = sign_check(key, scheme);

    if (rc != 0)
        return rc;
    if (alg_digest_len(md) == 0)
        return CUST_ERR_DIGEST;
    if (dlen != alg_digest_len(md))
        return CUST_ERR_DIGEST_LEN;

    switch (scheme) {
    case ALG_SCHEME_ECDSA:
        job.mech.mechanism = CKM_ECDSA;
        break;
    case ALG_SCHEME_RSA_PSS:
        job.mech.mechanism = CKM_RSA_PKCS_PSS;
        sign_pss_params(&job, md);
        break;
    case ALG_SCHEME_RSA_PKCS1:
        job.mech.mechanism = CKM_RSA_PKCS;
        rc = sigenc_digestinfo(md, digest, dlen, di, sizeof(di), &job.inlen);
        job.input = di;
        break;
    default:
        token_note("Ed25519 signs the message itself, not a digest");
        return CUST_ERR_SCHEME;
    }
    if (rc == 0)
        rc = sign_need_mech(key->tok, job.mech.mechanism,
                            alg_scheme_name(scheme));
    return rc != 0 ? rc : sign_run(&job, scheme, sig, siglen);
}

/* The token's own hash-and-sign mechanism for SCHEME and MD, or 0. */
static CK_MECHANISM_TYPE
sign_hashing_mech(struct token *tok, enum alg_scheme scheme, enum alg_digest md)
{
    static const CK_MECHANISM_TYPE pkcs1[] = {
        0, CKM_SHA256_RSA_PKCS, CKM_SHA384_RSA_PKCS, CKM_SHA512_RSA_PKCS};
    static const CK_MECHANISM_TYPE pss[] = {0, CKM_SHA256_RSA_PKCS_PSS,
                                            CKM_SHA384_RSA_PKCS_PSS,
                                            CKM_SHA512_RSA_PKCS_PSS};
    CK_MECHANISM_TYPE m;

    if (scheme == ALG_SCHEME_RSA_PKCS1)
        m = pkcs1[md];
    else if (scheme == ALG_SCHEME_RSA_PSS)
        m = pss[md];
    else
        return 0;
    return token_has_mech(tok, m) ? m : 0;
}

int
token_sign_message(struct token_key *key, enum alg_scheme scheme,
                   enum alg_digest md, const uint8_t *msg, size_t len,
                   uint8_t *sig, size_t *siglen)
{
    struct sign_job job = {.key = key, .input = msg, .inlen = len};
    uint8_t digest[ALG_DIGEST_MAX];
    int rc = sign_check(key, scheme);

    if (rc != 0)
        return rc;
    if (len > TOKEN_MESSAGE_MAX)
        return CUST_ERR_TOO_BIG;

    if (scheme == ALG_SCHEME_ED25519) {
        if (md != ALG_DIGEST_NONE) {
            token_note("Ed25519 takes no digest algorithm");
            return CUST_ERR_DIGEST;
        }
        job.mech.mechanism = CKM_EDDSA;
        rc = sign_need_mech(key->tok, CKM_EDDSA, "Ed25519");
        return rc != 0 ? rc : sign_run(&job, scheme, sig, siglen);
    }
    if (alg_digest_len(md) == 0)
        return CUST_ERR_DIGEST;

    job.mech.mechanism = sign_hashing_mech(key->tok, scheme, md);
    if (job.mech.mechanism != 0) {
        if (scheme == ALG_SCHEME_RSA_PSS)
            sign_pss_params(&job, md);
        return sign_run(&job, scheme, sig, siglen);
    }

    rc = alg_digest_compute(md, msg, len, digest);
    if (rc != 0)
        return rc;
    return token_sign_digest(key, scheme, md, digest, alg_digest_len(md), sig,
                             siglen);
}
