/*
 * Drives the signature encoders: sigenc_ecdsa_der() (a token's r || s to
 * DER), sigenc_ecdsa_raw() (DER back to r || s), sshsig_put_signature()
 * (DER to the SSH signature blob, mpint r and mpint s) and
 * sigenc_digestinfo() (PKCS#1's DigestInfo).
 *
 * Checks each against OpenSSL as the independent decoder: the DER
 * decodes with d2i_ECDSA_SIG() to the same r and s; r || s comes back as
 * it went in when both fit the curve; the SSH blob names the curve and
 * its mpints decode with BN_mpi2bn() (the same format) to the same r and
 * s, non-negative and minimal; the DigestInfo decodes with d2i_X509_SIG()
 * to the digest's OID, a NULL parameter and the digest itself.
 *
 * Input: a selector byte (bit 0: P-384 rather than P-256; bits 1-2: the
 * DigestInfo's digest), then r || s, whose first bytes are also the
 * digest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "sigenc.h"
#include "sshsig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void
fuzz_fail(const char *what)
{
    fprintf(stderr, "signature encoding: %s\n", what);
    abort();
}

/* Reads one mpint from B and checks it is N, written minimally. */
static void
fuzz_check_mpint(struct buf *b, const BIGNUM *n)
{
    const uint8_t *p;
    uint8_t again[80];
    size_t len;
    BIGNUM *m;

    if (buf_get_string(b, &p, &len, 64) != 0)
        fuzz_fail("SSH blob: mpint missing");
    /* BN_mpi2bn() wants the length prefix too: step back over it. */
    m = BN_mpi2bn(p - 4, (int)len + 4, NULL);
    if (m == NULL || BN_is_negative(m) || BN_cmp(m, n) != 0)
        fuzz_fail("SSH blob: mpint is not the DER's value");
    if ((size_t)BN_bn2mpi(m, NULL) != len + 4 ||
        BN_bn2mpi(m, again) != (int)len + 4 || memcmp(again + 4, p, len) != 0)
        fuzz_fail("SSH blob: mpint not minimal");
    BN_free(m);
}

static void
fuzz_ssh(const uint8_t *der, size_t derlen, const BIGNUM *r, const BIGNUM *s,
         int p384, int fits)
{
    const char *name = p384 ? "ecdsa-sha2-nistp384" : "ecdsa-sha2-nistp256";
    enum alg_keytype type = p384 ? ALG_KEY_ECDSA_P384 : ALG_KEY_ECDSA_P256;
    const uint8_t *p, *inner;
    size_t len, innerlen;
    struct buf blob, b;
    int rc;

    buf_init(&blob, 1024);
    rc = sshsig_put_signature(
        &blob, type, p384 ? ALG_DIGEST_SHA384 : ALG_DIGEST_SHA256, der, derlen);
    if ((rc == 0) != fits)
        fuzz_fail(fits ? "SSH blob refused" : "SSH blob of a value too big");
    if (rc != 0) {
        buf_free(&blob);
        return;
    }
    buf_view(&b, blob.data, blob.len);
    if (buf_get_string(&b, &p, &len, 64) != 0 || len != strlen(name) ||
        memcmp(p, name, len) != 0)
        fuzz_fail("SSH blob: wrong algorithm name");
    if (buf_get_string(&b, &inner, &innerlen, 1024) != 0 ||
        buf_remaining(&b) != 0)
        fuzz_fail("SSH blob: not one signature string");
    buf_view(&b, inner, innerlen);
    fuzz_check_mpint(&b, r);
    fuzz_check_mpint(&b, s);
    if (buf_remaining(&b) != 0)
        fuzz_fail("SSH blob: bytes after s");
    buf_free(&blob);
}

static void
fuzz_ecdsa(const uint8_t *raw, size_t len, int p384)
{
    size_t half = p384 ? 48 : 32, derlen = 0;
    uint8_t der[256], back[96], want[96];
    const unsigned char *p = der;
    BIGNUM *r = BN_bin2bn(raw, (int)(len / 2), NULL);
    BIGNUM *s = BN_bin2bn(raw + len / 2, (int)(len / 2), NULL);
    const BIGNUM *dr, *ds;
    ECDSA_SIG *sig;
    int fits;

    if (r == NULL || s == NULL)
        fuzz_fail("out of memory");
    if (sigenc_ecdsa_der(raw, len, der, sizeof(der), &derlen) != 0)
        fuzz_fail("DER refused");
    sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    if (sig == NULL || p != der + derlen)
        fuzz_fail("DER does not decode");
    ECDSA_SIG_get0(sig, &dr, &ds);
    if (BN_cmp(dr, r) != 0 || BN_cmp(ds, s) != 0)
        fuzz_fail("DER decodes to other values");

    fits = BN_num_bytes(r) <= (int)half && BN_num_bytes(s) <= (int)half;
    if ((sigenc_ecdsa_raw(der, derlen, half, back) == 0) != fits)
        fuzz_fail(fits ? "raw refused" : "raw of a value too big");
    if (fits && (BN_bn2binpad(r, want, (int)half) < 0 ||
                 BN_bn2binpad(s, want + half, (int)half) < 0 ||
                 memcmp(back, want, 2 * half) != 0))
        fuzz_fail("raw is not r || s");
    fuzz_ssh(der, derlen, r, s, p384, fits);
    ECDSA_SIG_free(sig);
    BN_free(r);
    BN_free(s);
}

static void
fuzz_digestinfo(enum alg_digest md, const uint8_t *digest, size_t len)
{
    static const int nids[] = {[ALG_DIGEST_SHA256] = NID_sha256,
                               [ALG_DIGEST_SHA384] = NID_sha384,
                               [ALG_DIGEST_SHA512] = NID_sha512};
    uint8_t out[SIGENC_DIGESTINFO_MAX];
    const unsigned char *p = out;
    const ASN1_OCTET_STRING *octets;
    const X509_ALGOR *alg;
    const ASN1_OBJECT *oid;
    const void *param;
    size_t outlen = 0, dlen = alg_digest_len(md);
    X509_SIG *di;
    int ptype;

    if (len < dlen)
        return;
    if (sigenc_digestinfo(md, digest, dlen, out, sizeof(out), &outlen) != 0)
        fuzz_fail("DigestInfo refused");
    di = d2i_X509_SIG(NULL, &p, (long)outlen);
    if (di == NULL || p != out + outlen)
        fuzz_fail("DigestInfo does not decode");
    X509_SIG_get0(di, &alg, &octets);
    X509_ALGOR_get0(&oid, &ptype, &param, alg);
    if (OBJ_obj2nid(oid) != nids[md] || ptype != V_ASN1_NULL ||
        (size_t)ASN1_STRING_length(octets) != dlen ||
        memcmp(ASN1_STRING_get0_data(octets), digest, dlen) != 0)
        fuzz_fail("DigestInfo decodes to another digest");
    X509_SIG_free(di);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static const enum alg_digest mds[] = {ALG_DIGEST_SHA256, ALG_DIGEST_SHA384,
                                          ALG_DIGEST_SHA512, ALG_DIGEST_SHA256};
    size_t rawlen;

    if (len < 3)
        return 0;
    /* A token's r || s: halves of equal length, up to P-521's. */
    rawlen = (len - 1) / 2 * 2;
    if (rawlen > 2 * 66)
        rawlen = 2 * 66;
    fuzz_ecdsa(data + 1, rawlen, data[0] & 1);
    fuzz_digestinfo(mds[(data[0] >> 1) & 3], data + 1, len - 1);
    return 0;
}
