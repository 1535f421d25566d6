/*
 * Signature encodings that sit between a token's raw output and what
 * verifiers expect. Pure functions over bytes; the encodings themselves
 * are done by OpenSSL.
 */
#ifndef CUSTODIAN_SIGENC_H
#define CUSTODIAN_SIGENC_H

#include <stddef.h>
#include <stdint.h>

#include "alg.h"

/* Largest DER ECDSA-Sig-Value for P-384: two 49-byte INTEGERs. */
#define SIGENC_ECDSA_DER_MAX 104

/* Largest DigestInfo: SHA-512's 19-byte prefix and 64-byte digest. */
#define SIGENC_DIGESTINFO_MAX 83

/*
 * Converts a PKCS#11 ECDSA signature (r || s, each half LEN/2 bytes,
 * big-endian, zero-padded) into a DER ECDSA-Sig-Value with minimal
 * INTEGERs. OUT holds OUTMAX bytes; *OUTLEN is set on success.
 * Returns 0, CUST_ERR_ARG for an odd or empty LEN, CUST_ERR_TOO_BIG if OUT
 * is too small.
 */
int sigenc_ecdsa_der(const uint8_t *raw, size_t len, uint8_t *out,
                     size_t outmax, size_t *outlen);

/*
 * The reverse: splits a DER ECDSA-Sig-Value into r || s, each padded to
 * HALF bytes (32 for P-256, 48 for P-384). Used by verifiers and tests.
 * Returns 0 or CUST_ERR_ARG if the DER is malformed or a value too long.
 */
int sigenc_ecdsa_raw(const uint8_t *der, size_t len, size_t half, uint8_t *out);

/*
 * Builds the PKCS#1 v1.5 DigestInfo for DIGEST (DLEN bytes of MD) into OUT
 * (OUTMAX bytes). Returns 0, CUST_ERR_DIGEST for an unknown MD,
 * CUST_ERR_DIGEST_LEN if DLEN does not match MD, CUST_ERR_TOO_BIG if OUT
 * is too small.
 */
int sigenc_digestinfo(enum alg_digest md, const uint8_t *digest, size_t dlen,
                      uint8_t *out, size_t outmax, size_t *outlen);

#endif
