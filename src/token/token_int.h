/*
 * Internals shared by the files of the token layer. Nothing outside
 * src/token/ (and its tests) includes this.
 */
#ifndef CUSTODIAN_TOKEN_INT_H
#define CUSTODIAN_TOKEN_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include "pin.h"
#include "token.h"

struct token {
    CK_FUNCTION_LIST *fn; /* the module, managed by p11-kit */
    P11KitUri *uri;       /* selects the token */
    char *module_path;
    struct pin_source pin_src; /* open from token_open() on */
    pid_t pid;                 /* the process that opened the token */
    unsigned wait_ms;

    /*
     * Held for reading while a session is in use, for writing while the
     * sessions are rebuilt; the epoch counts rebuilds, so object handles
     * found in an older epoch are known to be stale.
     */
    pthread_rwlock_t rebuild_lock;
    unsigned long epoch;
    bool broken;  /* sessions are gone; the next caller rebuilds */
    bool pin_bad; /* the PIN was refused: never presented again */
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE anchor; /* open for the token's life, never lent */

    pthread_mutex_t pool_lock; /* guards the free list below */
    pthread_cond_t pool_cond;
    CK_SESSION_HANDLE *pool; /* all pooled sessions */
    CK_SESSION_HANDLE *idle; /* the free ones, used as a stack */
    unsigned nsessions, nidle;

    CK_MECHANISM_TYPE *mechs;     /* supported, asked once at open */
    CK_MECHANISM_INFO *mech_info; /* parallel to mechs */
    CK_ULONG nmechs;

    pthread_mutex_t keygen_lock; /* key generation is one at a time */
};

struct token_key {
    struct token *tok;
    enum alg_keytype type;
    char label[TOKEN_LABEL_MAX + 1];
    uint8_t id[TOKEN_ID_MAX];
    size_t idlen;
    EVP_PKEY *pub;

    pthread_mutex_t lock; /* guards the handles and their epoch */
    CK_OBJECT_HANDLE priv, pubobj;
    unsigned long epoch;
};

/* A pooled session lent to one caller. */
struct token_session {
    CK_SESSION_HANDLE h;
    unsigned long epoch;
};

/*
 * One operation run by token_run() on a lent session. It returns the
 * CK_RV of its last PKCS#11 call, or CKR_OK; a custodian error that is
 * not a PKCS#11 failure goes into *RC and the function returns
 * CKR_FUNCTION_FAILED.
 */
typedef CK_RV (*token_op)(struct token *tok, struct token_session *s, void *ctx,
                          int *rc);

/*
 * Runs OP on a pooled session. If the token reports the session or login
 * lost, rebuilds the sessions and runs OP once more; if KEY is not NULL and
 * the token reports a stale object handle, finds KEY again and runs OP once
 * more. Returns 0 or a custodian error.
 */
int token_run(struct token *tok, struct token_key *key, token_op op, void *ctx);

/* Fails with CUST_ERR_FORKED in a child of the process that opened TOK. */
int token_check_pid(const struct token *tok);

/* Whether the token supports mechanism M, and what it says of it. */
bool token_has_mech(const struct token *tok, CK_MECHANISM_TYPE m);
const CK_MECHANISM_INFO *token_mech_info(const struct token *tok,
                                         CK_MECHANISM_TYPE m);

/* Object handles of KEY valid in session S (found again if stale). */
CK_RV token_key_handles(struct token_key *key, struct token_session *s,
                        CK_OBJECT_HANDLE *priv);

/* Marks KEY's handles stale so the next use finds it again. */
void token_key_mark_stale(struct token_key *key);

/* CK_RV handling (rv.c). */
const char *token_rv_name(CK_RV rv);
void token_fail(const char *function, CK_RV rv);
void token_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int token_rv_error(CK_RV rv);
bool token_rv_lost(CK_RV rv);
bool token_rv_stale(CK_RV rv);

/* Copies a space-padded PKCS#11 string into a trimmed C string. */
void token_copy_padded(char *dst, size_t dstlen, const CK_UTF8CHAR *src,
                       size_t srclen);

#endif
