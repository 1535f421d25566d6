/*
 * ECDSA and PKCS#1 signature encodings, built with OpenSSL's ASN.1 code.
 */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "custodian/error.h"
#include "sigenc.h"

/* Copies a DER encoding made by OpenSSL into the caller's buffer. */
static int
sigenc_copy_out(const unsigned char *der, int derlen, uint8_t *out,
                size_t outmax, size_t *outlen)
{
    if (derlen <= 0)
        return CUST_ERR_INTERNAL;
    if ((size_t)derlen > outmax)
        return CUST_ERR_TOO_BIG;
    memcpy(out, der, (size_t)derlen);
    *outlen = (size_t)derlen;
    return 0;
}

int
sigenc_ecdsa_der(const uint8_t *raw, size_t len, uint8_t *out, size_t outmax,
                 size_t *outlen)
{
    ECDSA_SIG *sig = NULL;
    BIGNUM *r = NULL, *s = NULL;
    unsigned char *der = NULL;
    int derlen, rc = CUST_ERR_NOMEM;

    if (len == 0 || len % 2 != 0 || len > 2 * 66)
        return CUST_ERR_ARG;

    sig = ECDSA_SIG_new();
    r = BN_bin2bn(raw, (int)(len / 2), NULL);
    s = BN_bin2bn(raw + len / 2, (int)(len / 2), NULL);
    if (sig == NULL || r == NULL || s == NULL)
        goto out;
    if (ECDSA_SIG_set0(sig, r, s) != 1)
        goto out;
    r = s = NULL; /* now owned by sig */

    derlen = i2d_ECDSA_SIG(sig, &der);
    rc = sigenc_copy_out(der, derlen, out, outmax, outlen);
out:
    OPENSSL_free(der);
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return rc;
}

int
sigenc_ecdsa_raw(const uint8_t *der, size_t len, size_t half, uint8_t *out)
{
    const unsigned char *p = der;
    const BIGNUM *r, *s;
    ECDSA_SIG *sig;
    int rc = CUST_ERR_ARG;

    sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
    if (sig == NULL)
        return CUST_ERR_ARG;
    if (p != der + len) /* trailing bytes */
        goto out;

    ECDSA_SIG_get0(sig, &r, &s);
    if (BN_bn2binpad(r, out, (int)half) < 0 ||
        BN_bn2binpad(s, out + half, (int)half) < 0)
        goto out;
    rc = 0;
out:
    ECDSA_SIG_free(sig);
    return rc;
}

static int
sigenc_digest_nid(enum alg_digest md)
{
    switch (md) {
    case ALG_DIGEST_SHA256:
        return NID_sha256;
    case ALG_DIGEST_SHA384:
        return NID_sha384;
    case ALG_DIGEST_SHA512:
        return NID_sha512;
    default:
        return NID_undef;
    }
}

int
sigenc_digestinfo(enum alg_digest md, const uint8_t *digest, size_t dlen,
                  uint8_t *out, size_t outmax, size_t *outlen)
{
    X509_SIG *di = NULL;
    X509_ALGOR *algor;
    ASN1_OCTET_STRING *octets;
    unsigned char *der = NULL;
    int derlen, rc = CUST_ERR_NOMEM;
    int nid = sigenc_digest_nid(md);

    if (nid == NID_undef)
        return CUST_ERR_DIGEST;
    if (dlen != alg_digest_len(md))
        return CUST_ERR_DIGEST_LEN;

    /* A DigestInfo has the same shape as X509_SIG: algorithm, octets. */
    di = X509_SIG_new();
    if (di == NULL)
        goto out;
    X509_SIG_getm(di, &algor, &octets);
    if (X509_ALGOR_set0(algor, OBJ_nid2obj(nid), V_ASN1_NULL, NULL) != 1 ||
        ASN1_OCTET_STRING_set(octets, digest, (int)dlen) != 1)
        goto out;

    derlen = i2d_X509_SIG(di, &der);
    rc = sigenc_copy_out(der, derlen, out, outmax, outlen);
out:
    OPENSSL_free(der);
    X509_SIG_free(di);
    return rc;
}
