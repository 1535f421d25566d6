/*
 * Offline verification against a keyring directory (see keyring.h for
 * what it holds), without the daemon or the token: the signature, the
 * version that made it, the span that version was active, its
 * revocation, how long it stays valid for verification, and the chain of
 * transition statements from a version the verifier trusts.
 */
#ifndef CUSTODIAN_VERIFIER_H
#define CUSTODIAN_VERIFIER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "alg.h"
#include "pubkey.h"

struct verifier;

/* Room for a reason: it names versions, times and files. */
#define VERIFIER_WHY_MAX 512

/*
 * Reads DIR/manifest.json. Returns 0 and *OUT (free with
 * verifier_free()), or CUST_ERR_IO (cannot read it) or CUST_ERR_PROTOCOL
 * (not a custodian keyring), with the reason in WHY.
 */
int verifier_open(const char *dir, struct verifier **out,
                  char why[VERIFIER_WHY_MAX]);
void verifier_free(struct verifier *v);

/* A signature to check, and what the verifier knows of it. */
struct verifier_sig {
    const char *key;  /* key name */
    uint32_t version; /* the version it names; 0: whichever verifies */
    time_t time;      /* when it is dated */
    enum alg_digest md;
    enum alg_scheme scheme; /* ALG_SCHEME_NONE: the key's own */
    const uint8_t *digest;  /* what was signed: the digest of the file */
    size_t dlen;
    const uint8_t *sig; /* DER for ECDSA, raw for RSA */
    size_t siglen;
    const char *anchor; /* fingerprint of a trusted version of the key;
                           NULL: its first version in the keyring */
    time_t now;         /* the verifier's time, for verify_until */
};

/*
 * Checks S against the keyring. Returns 0 with the version that made it
 * in *VERSION, or: CUST_ERR_KEY_NOT_FOUND (no such key or version),
 * CUST_ERR_BAD_SIGNATURE, CUST_ERR_REVOKED, CUST_ERR_NOT_VALID (dated
 * outside the span the version was active, or past its verify_until),
 * CUST_ERR_CHAIN, CUST_ERR_PROTOCOL (the keyring is damaged), each with
 * the reason in WHY. Does not log.
 */
int verifier_check(struct verifier *v, const struct verifier_sig *s,
                   uint32_t *version, char why[VERIFIER_WHY_MAX]);

/*
 * Parses "YYYY-MM-DDTHH:MM:SSZ" (UTC). Returns 0 and *OUT, or -1.
 */
int verifier_parse_time(const char *text, time_t *out);

#endif
