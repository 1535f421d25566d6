/*
 * The lifecycle of key versions, and the state file that keeps it.
 *
 * A key name has numbered versions, each in one state:
 *
 *   pending    generated on the token and published, not yet signing
 *   active     the one version that signs
 *   retired    verifies only: no new signatures
 *   destroyed  private object deleted from the token; public key kept
 *   revoked    compromised: refused at once, flagged with its time
 *
 * This module is the model alone: it knows no token and no clock. It
 * says which transition a key's rotation settings make due at a given
 * time (keystate_plan()), changes the model, and writes the whole of it
 * atomically. A step that also changes the token is recorded in two
 * parts, an intent before the token call and its completion after, so
 * that a crash between them is found and finished or undone at the next
 * start (keystore's reconciliation).
 */
#ifndef CUSTODIAN_KEYSTATE_H
#define CUSTODIAN_KEYSTATE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "conf.h"
#include "pubkey.h"

enum keystate_state {
    KEYSTATE_PENDING,
    KEYSTATE_ACTIVE,
    KEYSTATE_RETIRED,
    KEYSTATE_DESTROYED,
    KEYSTATE_REVOKED,
};

/* A token step begun and not known to be finished. */
enum keystate_intent {
    KEYSTATE_INTENT_NONE,
    KEYSTATE_INTENT_GENERATE, /* the private key may or may not exist */
    KEYSTATE_INTENT_DESTROY,  /* it may or may not be deleted yet */
};

#define KEYSTATE_REASON_MAX 256

/* Room for a base64 public key (an RSA-4096 SubjectPublicKeyInfo) or a
 * base64 signature (512 bytes), with the NUL. */
#define KEYSTATE_B64_MAX 1024

struct keystate_version {
    uint32_t version;
    enum keystate_state state;
    enum keystate_intent intent;
    /* When each state was entered, in UTC seconds; 0: not (yet). */
    time_t created, activated, retired, destroyed, revoked;
    char fingerprint[PUBKEY_FPR_MAX]; /* "" until generated */
    char reason[KEYSTATE_REASON_MAX]; /* why it was revoked */
    /* Kept here because the token forgets a destroyed version: */
    char pubkey[KEYSTATE_B64_MAX]; /* base64 DER SubjectPublicKeyInfo */
    /* The transition statement (transition.h) that hands the key over to
     * this version, signed by version SIGNER; 0 and "" for none. */
    uint32_t signer;
    char statement_sig[KEYSTATE_B64_MAX]; /* base64 */
};

struct keystate_key {
    char name[CONF_NAME_MAX + 1];
    struct keystate_version *versions; /* by version number, ascending */
    size_t n;
};

struct keystate {
    struct keystate_key *keys;
    size_t n;
};

/* How a key rotates; a zero period means by hand only. */
struct keystate_rotation {
    time_t period;        /* an active version signs this long */
    time_t publish_ahead; /* the next is generated this long before */
    time_t verify_for;    /* a retired version verifies this long */
    time_t destroy_after; /* its private key is deleted this long after
                             retirement; 0: never */
};

enum keystate_step_kind {
    KEYSTATE_STEP_NONE,
    KEYSTATE_STEP_GENERATE, /* make version N, pending */
    KEYSTATE_STEP_ACTIVATE, /* make pending N active, retire the active */
    KEYSTATE_STEP_DESTROY,  /* delete the private key of retired N */
};

struct keystate_step {
    enum keystate_step_kind kind;
    uint32_t version;
};

/* The state's name ("pending", ...), and back; -1 for an unknown name. */
const char *keystate_state_name(enum keystate_state s);
int keystate_state_from_name(const char *name);

/*
 * Reads the state file at PATH; a file that does not exist is an empty
 * state. Returns 0 and *OUT (free with keystate_free()), or CUST_ERR_IO
 * (cannot read), CUST_ERR_CONFIG (not a state file: the reason, with the
 * path, in WHY of WHYLEN bytes), CUST_ERR_NOMEM.
 */
int keystate_load(const char *path, struct keystate **out, char *why,
                  size_t whylen);

/*
 * Writes S to PATH atomically: a temporary file beside it, synced, then
 * renamed over PATH, then the directory synced. After a crash PATH holds
 * either the old state or the new, whole. Returns 0 or CUST_ERR_IO with
 * errno set.
 */
int keystate_save(const struct keystate *s, const char *path);

void keystate_free(struct keystate *s);

/* A deep copy of S (free with keystate_free()), or NULL. */
struct keystate *keystate_dup(const struct keystate *s);

/* The key NAME, added without versions if ADD and absent; NULL if absent
 * (or out of memory). */
struct keystate_key *keystate_key(struct keystate *s, const char *name,
                                  int add);

/* Version V of K, the active version, the pending one; or NULL. */
struct keystate_version *keystate_version(const struct keystate_key *k,
                                          uint32_t v);
struct keystate_version *keystate_active(const struct keystate_key *k);
struct keystate_version *keystate_pending(const struct keystate_key *k);

/*
 * The transition due for K under R at NOW, in *STEP (KEYSTATE_STEP_NONE if
 * none), and in *NEXT the time the next one falls due if nothing else
 * happens (0: never). Unfinished intents are not steps: keystore
 * reconciles them first. A key with no active version (not created yet)
 * has nothing due.
 */
void keystate_plan(const struct keystate_key *k,
                   const struct keystate_rotation *r, time_t now,
                   struct keystate_step *step, time_t *next);

/*
 * Changes to the model; save after each. keystate_begin() adds the next
 * version, in STATE (KEYSTATE_ACTIVE only for a key with no versions:
 * its first), with a GENERATE intent, created at NOW; *OUT is it.
 * keystate_generated() records its fingerprint and ends the intent;
 * keystate_abandon() removes a version whose generation never happened.
 * Return 0, CUST_ERR_ARG for a change the lifecycle does not allow, or
 * CUST_ERR_NOMEM.
 */
int keystate_begin(struct keystate_key *k, enum keystate_state state,
                   time_t now, struct keystate_version **out);
int keystate_generated(struct keystate_key *k, uint32_t v,
                       const char *fingerprint);
int keystate_abandon(struct keystate_key *k, uint32_t v);

/*
 * Records V's public key (DER SubjectPublicKeyInfo, LEN bytes) and, when
 * SIGNER is not 0, the signature SIG (SIGLEN bytes) by version SIGNER
 * over V's transition statement. CUST_ERR_ARG if there is no V,
 * CUST_ERR_TOO_BIG if a value does not fit.
 */
int keystate_set_pubkey(struct keystate_key *k, uint32_t v, const uint8_t *der,
                        size_t len);
int keystate_set_statement(struct keystate_key *k, uint32_t v, uint32_t signer,
                           const uint8_t *sig, size_t siglen);

/* Pending V becomes active at NOW; the active version, if any, retires. */
int keystate_activate(struct keystate_key *k, uint32_t v, time_t now);

/* Active or pending V retires at NOW: it signs nothing from then on. */
int keystate_retire(struct keystate_key *k, uint32_t v, time_t now);

/* Retired (or revoked) V gets a DESTROY intent; then it is destroyed. */
int keystate_begin_destroy(struct keystate_key *k, uint32_t v);
int keystate_destroyed(struct keystate_key *k, uint32_t v, time_t now);

/* V is revoked at NOW for REASON, whatever its state but destroyed. */
int keystate_revoke(struct keystate_key *k, uint32_t v, time_t now,
                    const char *reason);

#endif
