/*
 * The keys the daemon serves, with their versions, kept in step with the
 * state file (keystate) and the objects on the tokens.
 *
 * Version V of key NAME is the token object pair labelled "NAME@V". A
 * configured key has no versions until an operator creates the first
 * (keystore_create(), from `custodianctl key create`): nothing is
 * generated behind anyone's back. After that, its rotation settings (or
 * an operator) add, activate, retire, revoke and destroy versions. Each
 * change that touches a token is written to the state file as an intent
 * before the token call and as done after it, so that keystore_open()
 * can finish or undo a change a crash interrupted.
 *
 * Signing takes the active version with keystore_acquire(); a rotation
 * swaps the active version without waiting for signers, and a request
 * that acquired the old one finishes with it. Versions are never freed
 * while the keystore lives; only their private keys are destroyed, and
 * not while a request holds one.
 *
 * Lifecycle changes run one at a time and block on the token; each one
 * is reported to the event callback given at open, on the calling
 * thread, after the state file holds it.
 */
#ifndef CUSTODIAN_KEYSTORE_H
#define CUSTODIAN_KEYSTORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "conf.h"
#include "keystate.h"
#include "pubkey.h"
#include "token.h"

struct keystore;
struct keystore_key;

/* One version that is or was on a token. Fields are fixed once the
 * version is published; TK is dropped when its private key is destroyed. */
struct keystore_version {
    const struct keystore_key *key;
    uint32_t version;
    char label[TOKEN_LABEL_MAX + 1];
    char fingerprint[PUBKEY_FPR_MAX];
    uint8_t *spki; /* DER SubjectPublicKeyInfo */
    size_t spkilen;
    struct buf sshblob;   /* the OpenSSH public key blob, as agents name it */
    struct token_key *tk; /* signs; NULL once destroyed */
    atomic_bool usable;   /* may be acquired (not revoked or destroyed) */
    atomic_int inflight;  /* acquired and not yet released */
    /* When it became active and stopped being active, UTC seconds; 0:
     * not (yet). keystore_signed_at() reads them. */
    _Atomic long long activated_at, retired_at;
};

/* A configured key. NAME and TYPE never change; ACTIVE is swapped by
 * rotations and is NULL while the key has no active version. */
struct keystore_key {
    char *name;
    enum alg_keytype type;
    struct token *token;
    struct keystate_rotation rotation;
    _Atomic(struct keystore_version *) active;
};

/* A lifecycle change, as reported to the event callback. */
struct keystore_event {
    const char *key;
    uint32_t version;
    const char *what;        /* "generate", "activate", "retire", "revoke",
                                "destroy", "abandon", "adopt", "unexpected",
                                "missing" */
    const char *fingerprint; /* "" when not known */
    const char *detail;      /* a reason, or "" */
};

typedef void (*keystore_event_fn)(void *arg, const struct keystore_event *ev);

/*
 * Reads the state file at STATE_PATH, finds every version of every key
 * of CONF on its token in TOKENS (parallel to conf->tokens), and
 * reconciles the two: an interrupted generation is completed if the key
 * pair exists and forgotten if not, an interrupted destruction is
 * finished, a version the token lost is reported (and its key unusable
 * if it was the active one), and a "NAME@V" object the state does not
 * know is reported and left alone. A key the state file does not know
 * whose version 1 is on its token (made before versions were kept) is
 * adopted as active. Events go to EVENT(ARG), also later ones. NOW is
 * the time to record. Blocks on the tokens. Returns 0 and *OUT, or a
 * custodian error explained by keystore_error().
 */
int keystore_open(const struct conf *conf, struct token *const *tokens,
                  const char *state_path, time_t now, keystore_event_fn event,
                  void *arg, struct keystore **out);
void keystore_free(struct keystore *ks);

/*
 * Lifecycle changes on key NAME at NOW. keystore_create() generates the
 * first version of a key that has none, active at once;
 * keystore_rotate() generates the next version and activates it at once
 * (a pending one, if there is one, is activated instead). retire,
 * revoke (with REASON) and destroy act on version V. Destroy refuses the
 * active and pending versions; it waits for requests that still hold
 * the version. Each returns 0 (and for create and rotate, the new active
 * version in *OUT), or CUST_ERR_KEY_NOT_FOUND (no such key or version),
 * CUST_ERR_KEY_EXISTS (create: the key has versions), CUST_ERR_ARG (the
 * lifecycle does not allow it), CUST_ERR_IO (the state file could not
 * be written: nothing changed), or the token's error; keystore_error()
 * explains.
 */
int keystore_create(struct keystore *ks, const char *name, time_t now,
                    const struct keystore_version **out);
int keystore_rotate(struct keystore *ks, const char *name, time_t now,
                    const struct keystore_version **out);
int keystore_retire(struct keystore *ks, const char *name, uint32_t v,
                    time_t now);
int keystore_revoke(struct keystore *ks, const char *name, uint32_t v,
                    const char *reason, time_t now);
int keystore_destroy(struct keystore *ks, const char *name, uint32_t v,
                     time_t now);

/*
 * Carries out every transition the keys' rotation settings make due at
 * NOW. Returns the time the next one falls due (0: none scheduled).
 * Failures are reported as events ("failed") and retried at the next
 * call. Blocks on the tokens.
 */
time_t keystore_tick(struct keystore *ks, time_t now);

/*
 * The active version of key NAME, held until keystore_release(); NULL
 * if there is no such key or it has no usable active version.
 * Thread-safe and lock-free.
 */
const struct keystore_version *keystore_acquire(const struct keystore *ks,
                                                const char *name);
void keystore_release(const struct keystore_version *v);

/*
 * The time a request that acquired V signs at, given NOW read after the
 * acquisition: NOW, kept within the span V was active (both ends
 * included), so that a request that took V just before a rotation is
 * dated no later than V's retirement. Waits, briefly, while a
 * retirement of V is choosing its time.
 */
time_t keystore_signed_at(const struct keystore_version *v, time_t now);

/* The configured key NAME, or NULL. */
const struct keystore_key *keystore_find(const struct keystore *ks,
                                         const char *name);

/* The I-th configured key, or NULL past the end. */
const struct keystore_key *keystore_at(const struct keystore *ks, size_t i);

/* Version V of key K if it was ever published, or NULL; lives with KS. */
const struct keystore_version *
keystore_version(struct keystore *ks, const struct keystore_key *k, uint32_t v);

/*
 * A copy of the lifecycle model (all keys and versions), taken under the
 * keystore's lock: what `key versions` and the keyring show. Free with
 * keystate_free(). NULL if out of memory.
 */
struct keystate *keystore_snapshot(struct keystore *ks);

/* What went wrong in this thread's last keystore call. */
const char *keystore_error(void);

#endif
