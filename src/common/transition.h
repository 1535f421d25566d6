/*
 * Transition statements: the chain of custody between key versions.
 *
 * When a key gets a new version, the version it replaces signs a short
 * text that names both by number and fingerprint. Published beside the
 * public keys, the statements let a verifier that trusts one version
 * follow the chain to every later one without trusting the place the
 * keyring was fetched from. The text is fixed by this module alone: the
 * daemon signs what it builds, the keyring publishes it, and a verifier
 * builds it again from the manifest and compares byte for byte.
 */
#ifndef CUSTODIAN_TRANSITION_H
#define CUSTODIAN_TRANSITION_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>

#include "alg.h"

/* Room for any statement: fixed words, a key name, two fingerprints. */
#define TRANSITION_TEXT_MAX 512

/* One link: version FROM (fingerprint FROM_FPR) hands KEY over to TO. */
struct transition {
    const char *key;
    uint32_t from, to;
    const char *from_fpr, *to_fpr;
    time_t at; /* when TO was created */
};

/*
 * Writes the statement for T into OUT (TRANSITION_TEXT_MAX bytes, NUL
 * terminated) and returns its length, or CUST_ERR_TOO_BIG if a field
 * does not fit, CUST_ERR_ARG if a field holds a line break.
 */
int transition_text(const struct transition *t, char out[TRANSITION_TEXT_MAX]);

/*
 * The digest a key of TYPE signs a statement with: SHA-256, or none for
 * Ed25519, which signs the text itself; the scheme is the key's own
 * (alg_default_scheme()).
 */
enum alg_digest transition_digest(enum alg_keytype type);

/*
 * Checks SIG (SIGLEN bytes, as the token layer makes them: DER for
 * ECDSA) over TEXT (LEN bytes) with SIGNER's public key. Returns 0, or
 * CUST_ERR_BAD_SIGNATURE. Does not log.
 */
int transition_verify(EVP_PKEY *signer, const char *text, size_t len,
                      const uint8_t *sig, size_t siglen);

#endif
