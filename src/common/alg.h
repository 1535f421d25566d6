/*
 * Algorithm identifiers shared by the whole project: key types, digests
 * and signature schemes, with their names as they appear in configuration,
 * on the command line and on the wire.
 */
#ifndef CUSTODIAN_ALG_H
#define CUSTODIAN_ALG_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

enum alg_keytype {
    ALG_KEY_NONE = 0,
    ALG_KEY_ECDSA_P256 = 1,
    ALG_KEY_ECDSA_P384 = 2,
    ALG_KEY_ED25519 = 3,
    ALG_KEY_RSA_2048 = 4,
    ALG_KEY_RSA_3072 = 5,
    ALG_KEY_RSA_4096 = 6,
};

enum alg_digest {
    ALG_DIGEST_NONE = 0,
    ALG_DIGEST_SHA256 = 1,
    ALG_DIGEST_SHA384 = 2,
    ALG_DIGEST_SHA512 = 3,
};

enum alg_scheme {
    ALG_SCHEME_NONE = 0,
    ALG_SCHEME_ECDSA = 1,     /* DER-encoded ECDSA-Sig-Value */
    ALG_SCHEME_ED25519 = 2,   /* pure Ed25519, 64 bytes */
    ALG_SCHEME_RSA_PKCS1 = 3, /* RSASSA-PKCS1-v1_5 */
    ALG_SCHEME_RSA_PSS = 4,   /* RSASSA-PSS, MGF1 with the same digest,
                                 salt length equal to the digest length */
};

/* Largest signature any supported key type produces (RSA-4096). */
#define ALG_SIG_MAX 512

/* Largest digest length (SHA-512). */
#define ALG_DIGEST_MAX 64

/*
 * Each *_from_name returns the identifier for NAME, or a negative
 * custodian error: CUST_ERR_KEYTYPE for an unknown key type,
 * CUST_ERR_DIGEST for an unknown or refused digest (SHA-1 is refused),
 * CUST_ERR_SCHEME for an unknown scheme.
 */
int alg_keytype_from_name(const char *name);
int alg_digest_from_name(const char *name);
int alg_scheme_from_name(const char *name);

/* Names of identifiers; "none" for out-of-range values. Static strings. */
const char *alg_keytype_name(enum alg_keytype type);
const char *alg_digest_name(enum alg_digest md);
const char *alg_scheme_name(enum alg_scheme scheme);

/* Output length of MD in bytes, 0 if MD is not valid. */
size_t alg_digest_len(enum alg_digest md);

/* OpenSSL's implementation of MD, or NULL. Not to be freed. */
const EVP_MD *alg_digest_md(enum alg_digest md);

/* Returns 1 if TYPE is an RSA type, 0 otherwise. */
int alg_keytype_is_rsa(enum alg_keytype type);

/* RSA modulus size in bits, or 0 for non-RSA types. */
unsigned alg_keytype_rsa_bits(enum alg_keytype type);

/* The scheme used when the caller names none: ECDSA, Ed25519, PKCS1. */
enum alg_scheme alg_default_scheme(enum alg_keytype type);

/* Returns 0 if SCHEME can be used with TYPE, CUST_ERR_SCHEME if not. */
int alg_scheme_fits(enum alg_keytype type, enum alg_scheme scheme);

/*
 * Computes the MD digest of LEN bytes at DATA into OUT, which must hold
 * alg_digest_len(MD) bytes. Returns 0 or a negative custodian error.
 */
int alg_digest_compute(enum alg_digest md, const void *data, size_t len,
                       uint8_t *out);

/*
 * Computes the MD digest of the file at PATH, read as a stream (never
 * whole in memory), into OUT (alg_digest_len(MD) bytes), setting *LEN.
 * Returns 0, CUST_ERR_DIGEST for an unknown MD, or CUST_ERR_IO (errno
 * set) when the file cannot be read.
 */
int alg_digest_file(enum alg_digest md, const char *path, uint8_t *out,
                    size_t *len);

#endif
