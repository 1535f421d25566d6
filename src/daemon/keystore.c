/*
 * The key table and the lifecycle steps that change it. The model
 * (keystate) says what should be; the token says what is. Every step
 * writes the model first, touches the token second and writes the model
 * again, under one lock, so the state file never claims more than the
 * token holds without an intent saying so.
 *
 * Published versions live until keystore_free(); the active pointer of
 * each key is swapped with release stores, so signers read it without a
 * lock.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "custodian/error.h"
#include "keystore.h"
#include "log.h"
#include "transition.h"

/* How long a destruction waits for requests holding the version. */
#define KEYSTORE_DRAIN_MS 10000

/* retired_at while a retirement reads its time: signers wait for it. */
#define KS_RETIRING (-1LL)

/* Steps one key may take in one tick: enough to catch up, never a loop. */
#define KEYSTORE_TICK_STEPS 8

#ifdef CUSTODIAN_TEST_HOOKS
/* A test build dies here when $CUSTODIAN_TEST_CRASH names the point, as
 * a power cut would stop it: the crash-safety tests walk every step. */
static void
ks_crash_point(const char *point)
{
    const char *want = getenv("CUSTODIAN_TEST_CRASH");

    if (want != NULL && strcmp(want, point) == 0)
        raise(SIGKILL);
}
#else
#define ks_crash_point(point) ((void)0)
#endif

struct ks_key {
    struct keystore_key k;
    struct keystore_version **v; /* published versions, ascending */
    size_t nv;
};

struct keystore {
    struct ks_key *keys;
    size_t n;
    struct keystate *state;
    char *state_path;
    pthread_mutex_t lock; /* one lifecycle change at a time */
    keystore_event_fn event;
    void *arg;
};

static _Thread_local char keystore_reason[320] = "no error";

const char *
keystore_error(void)
{
    return keystore_reason;
}

static int
ks_fail(int rc, const char *name, const char *fmt, ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(keystore_reason, sizeof(keystore_reason), "key \"%s\": %s", name,
             what);
    return rc;
}

static void
ks_emit(struct keystore *ks, const struct ks_key *kk, uint32_t v,
        const char *what, const char *fpr, const char *detail)
{
    struct keystore_event ev = {kk->k.name, v, what, fpr ? fpr : "",
                                detail ? detail : ""};

    if (ks->event != NULL)
        ks->event(ks->arg, &ev);
}

/* --- the table ---------------------------------------------------------- */

static struct ks_key *
ks_find(const struct keystore *ks, const char *name)
{
    size_t i;

    for (i = 0; i < ks->n; i++)
        if (strcmp(ks->keys[i].k.name, name) == 0)
            return &ks->keys[i];
    return NULL;
}

static struct keystore_version *
ks_published(const struct ks_key *kk, uint32_t v)
{
    size_t i;

    for (i = 0; i < kk->nv; i++)
        if (kk->v[i]->version == v)
            return kk->v[i];
    return NULL;
}

static void
ks_version_free(struct keystore_version *kv)
{
    if (kv == NULL)
        return;
    token_key_free(kv->tk);
    free(kv->spki);
    buf_free(&kv->sshblob);
    free(kv);
}

/* Adds version V, whose key pair is TK (taken over), to the table. */
static int
ks_publish(struct ks_key *kk, uint32_t v, struct token_key *tk,
           struct keystore_version **out)
{
    struct keystore_version *kv = calloc(1, sizeof(*kv)), **vs;
    int rc;

    if (kv == NULL) {
        token_key_free(tk);
        return CUST_ERR_NOMEM;
    }
    kv->key = &kk->k;
    kv->version = v;
    kv->tk = tk;
    snprintf(kv->label, sizeof(kv->label), "%s", token_key_label(tk));
    rc = token_key_type(tk) == kk->k.type ? 0 : CUST_ERR_KEYTYPE;
    if (rc == 0)
        rc = pubkey_fingerprint(token_key_public(tk), kv->fingerprint);
    if (rc == 0)
        rc = pubkey_spki_der(token_key_public(tk), &kv->spki, &kv->spkilen);
    buf_init(&kv->sshblob, PUBKEY_SSH_BLOB_MAX);
    if (rc == 0)
        rc = pubkey_ssh_blob(token_key_public(tk), &kv->sshblob);
    vs = rc == 0 ? realloc(kk->v, (kk->nv + 1) * sizeof(*vs)) : NULL;
    if (rc == 0 && vs == NULL)
        rc = CUST_ERR_NOMEM;
    if (rc != 0) {
        ks_version_free(kv);
        return rc;
    }
    atomic_init(&kv->usable, true);
    atomic_init(&kv->inflight, 0);
    kk->v = vs;
    kk->v[kk->nv++] = kv;
    *out = kv;
    return 0;
}

static void
ks_label(const struct ks_key *kk, uint32_t v, char *out, size_t len)
{
    snprintf(out, len, "%s@%u", kk->k.name, v);
}

static void
ks_set_active(struct ks_key *kk, struct keystore_version *kv)
{
    atomic_store_explicit(&kk->k.active, kv, memory_order_release);
}

static struct keystate_key *
ks_model(struct keystore *ks, const struct ks_key *kk, int add)
{
    return keystate_key(ks->state, kk->k.name, add);
}

/* Writes the model; the caller restores what it changed if this fails. */
static int
ks_save(struct keystore *ks, const struct ks_key *kk)
{
    if (keystate_save(ks->state, ks->state_path) == 0)
        return 0;
    return ks_fail(CUST_ERR_IO, kk->k.name, "state file %s: %s", ks->state_path,
                   strerror(errno));
}

/* A copy of one key's versions, to put back when a save fails. */
struct ks_undo {
    struct keystate_version *versions;
    size_t n;
};

static int
ks_keep(const struct keystate_key *m, struct ks_undo *u)
{
    u->n = m->n;
    u->versions = calloc(m->n + 1, sizeof(*u->versions));
    if (u->versions == NULL)
        return CUST_ERR_NOMEM;
    if (m->n > 0)
        memcpy(u->versions, m->versions, m->n * sizeof(*u->versions));
    return 0;
}

/* Saves the model, or puts M back as U kept it. Frees U either way. */
static int
ks_commit(struct keystore *ks, const struct ks_key *kk, struct keystate_key *m,
          struct ks_undo *u)
{
    int rc = ks_save(ks, kk);

    if (rc != 0) {
        memcpy(m->versions, u->versions, u->n * sizeof(*u->versions));
        m->n = u->n;
    }
    free(u->versions);
    return rc;
}

/* --- steps -------------------------------------------------------------- */

/*
 * The version that hands KK over to V: the newest earlier one that still
 * has its private key and was not revoked (a revoked key vouches for
 * nothing). NULL if there is none, as for a key's first version.
 */
static struct keystore_version *
ks_predecessor(struct ks_key *kk, const struct keystate_key *m, uint32_t v)
{
    const struct keystate_version *mv;
    struct keystore_version *kv;
    size_t i;

    for (i = m->n; i > 0; i--) {
        mv = &m->versions[i - 1];
        if (mv->version >= v || mv->intent != KEYSTATE_INTENT_NONE ||
            mv->state == KEYSTATE_REVOKED || mv->state == KEYSTATE_DESTROYED)
            continue;
        kv = ks_published(kk, mv->version);
        if (kv != NULL && kv->tk != NULL && atomic_load(&kv->usable))
            return kv;
    }
    return NULL;
}

/* Has the version before KV sign KV's transition statement into M. */
static void
ks_sign_statement(struct keystore *ks, struct ks_key *kk,
                  struct keystate_key *m, const struct keystore_version *kv)
{
    const struct keystate_version *mv = keystate_version(m, kv->version);
    struct keystore_version *by = ks_predecessor(kk, m, kv->version);
    char text[TRANSITION_TEXT_MAX];
    uint8_t sig[ALG_SIG_MAX];
    size_t siglen = 0;
    int n, rc;

    if (by == NULL || mv == NULL)
        return;
    n = transition_text(&(struct transition){kk->k.name, by->version,
                                             kv->version, by->fingerprint,
                                             kv->fingerprint, mv->created},
                        text);
    rc = n < 0 ? n
               : token_sign_message(by->tk, alg_default_scheme(kk->k.type),
                                    transition_digest(kk->k.type),
                                    (const uint8_t *)text, (size_t)n, sig,
                                    &siglen);
    if (rc == 0)
        rc = keystate_set_statement(m, kv->version, by->version, sig, siglen);
    if (rc != 0) {
        log_debug("statement for %s: %s", kv->label, token_error_detail());
        ks_emit(ks, kk, kv->version, "failed", kv->fingerprint,
                "its transition statement could not be signed; the chain "
                "of custody breaks here");
    }
}

/* Puts what the keyring needs of KV into M: its public key, and the
 * statement that vouches for it if it has none yet. */
static void
ks_record(struct keystore *ks, struct ks_key *kk, struct keystate_key *m,
          const struct keystore_version *kv)
{
    const struct keystate_version *mv = keystate_version(m, kv->version);

    if (mv == NULL)
        return;
    if (mv->pubkey[0] == '\0' &&
        keystate_set_pubkey(m, kv->version, kv->spki, kv->spkilen) != 0)
        log_debug("%s: public key too long for the state file", kv->label);
    if (mv->signer == 0)
        ks_sign_statement(ks, kk, m, kv);
}

/* Makes version V of KK on its token, in STATE; *OUT is it, published. */
static int
ks_generate(struct keystore *ks, struct ks_key *kk, enum keystate_state state,
            time_t now, struct keystore_version **out)
{
    struct keystate_key *m = ks_model(ks, kk, 1);
    struct keystate_version *mv;
    struct token_key *tk = NULL;
    struct ks_undo u;
    char label[TOKEN_LABEL_MAX + 1];
    int rc;

    if (m == NULL || ks_keep(m, &u) != 0)
        return ks_fail(CUST_ERR_NOMEM, kk->k.name, "out of memory");
    rc = keystate_begin(m, state, now, &mv);
    if (rc != 0) {
        free(u.versions);
        return ks_fail(rc, kk->k.name, "a new version is not allowed now");
    }
    if ((rc = ks_commit(ks, kk, m, &u)) != 0)
        return rc;
    ks_crash_point("generate-begun");
    ks_label(kk, mv->version, label, sizeof(label));
    rc = token_key_generate(kk->k.token, kk->k.type, label, &tk);
    ks_crash_point("generate-on-token");
    if (rc == 0)
        rc = ks_publish(kk, mv->version, tk, out);
    if (rc != 0) {
        /* XXX: a key pair made but not published stays on the token
         * under its label; the next start reports it as unexpected. */
        ks_fail(rc, kk->k.name, "version %u: %s", mv->version,
                cust_err_str(rc) /* the token's detail is in the log */);
        log_debug("generating %s: %s", label, token_error_detail());
        keystate_abandon(m, mv->version);
        if (keystate_save(ks->state, ks->state_path) != 0)
            log_debug("state file %s: %s", ks->state_path, strerror(errno));
        return rc;
    }
    keystate_generated(m, mv->version, (*out)->fingerprint);
    ks_record(ks, kk, m, *out);
    /* The pair is on the token now: a failed save is finished at the
     * next start, which finds it there. */
    rc = ks_save(ks, kk);
    ks_crash_point("generate-saved");
    ks_emit(ks, kk, mv->version, "generate", (*out)->fingerprint,
            state == KEYSTATE_ACTIVE ? "active at once" : "pending");
    return rc;
}

/*
 * A retirement of KV (NULL: none) takes its time here, after signers are
 * told to wait for it: a signer that read its clock before this cannot
 * read a later time, and one that reads after waits, for no longer than
 * this clock read, and dates its signature no later than the result.
 * The time is set before the state file is written (which may take
 * milliseconds) so that no signer waits on the disk.
 */
static time_t
ks_retire_begin(struct keystore_version *kv, time_t now)
{
    time_t t;

    if (kv != NULL)
        atomic_store(&kv->retired_at, KS_RETIRING);
    t = clock_now();
    t = t > now ? t : now;
    if (kv != NULL)
        atomic_store(&kv->retired_at, (long long)t);
    return t;
}

/* The retirement ks_retire_begin() began did not happen. Signers that
 * dated a signature by it dated it within the span KV was active. */
static void
ks_retire_undo(struct keystore_version *kv)
{
    if (kv != NULL)
        atomic_store(&kv->retired_at, 0);
}

static int
ks_activate(struct keystore *ks, struct ks_key *kk, uint32_t v, time_t now)
{
    struct keystate_key *m = ks_model(ks, kk, 0);
    struct keystore_version *kv = ks_published(kk, v);
    struct keystate_version *old = m ? keystate_active(m) : NULL;
    struct keystore_version *oldkv = old ? ks_published(kk, old->version) : 0;
    uint32_t oldv = old ? old->version : 0;
    struct ks_undo u;
    int rc;

    if (m == NULL || kv == NULL)
        return ks_fail(CUST_ERR_KEY_NOT_FOUND, kk->k.name,
                       "version %u is not on its token", v);
    if (ks_keep(m, &u) != 0)
        return ks_fail(CUST_ERR_NOMEM, kk->k.name, "out of memory");
    now = ks_retire_begin(oldkv, now);
    rc = keystate_activate(m, v, now);
    if (rc == 0)
        rc = ks_commit(ks, kk, m, &u);
    else
        free(u.versions);
    if (rc != 0) {
        ks_retire_undo(oldkv);
        return rc == CUST_ERR_IO
                   ? rc
                   : ks_fail(rc, kk->k.name, "version %u is not pending", v);
    }
    ks_crash_point("activate-saved");
    atomic_store(&kv->activated_at, (long long)now);
    ks_set_active(kk, kv);
    if (oldv != 0)
        ks_emit(ks, kk, oldv, "retire", oldkv ? oldkv->fingerprint : "",
                "replaced by a new version");
    ks_emit(ks, kk, v, "activate", kv->fingerprint, "");
    return 0;
}

/* Waits until no request holds KV, which nobody can acquire any more. */
static int
ks_drain(struct keystore_version *kv)
{
    int waited;

    for (waited = 0; atomic_load(&kv->inflight) > 0; waited++) {
        if (waited >= KEYSTORE_DRAIN_MS)
            return CUST_ERR_BUSY;
        usleep(1000);
    }
    return 0;
}

static int
ks_destroy(struct keystore *ks, struct ks_key *kk, uint32_t v, time_t now)
{
    struct keystate_key *m = ks_model(ks, kk, 0);
    struct keystore_version *kv = ks_published(kk, v);
    struct keystate_version *mv;
    struct ks_undo u;
    int rc;

    if (m == NULL || (mv = keystate_version(m, v)) == NULL)
        return ks_fail(CUST_ERR_KEY_NOT_FOUND, kk->k.name, "no version %u", v);
    if (mv->state != KEYSTATE_RETIRED && mv->state != KEYSTATE_REVOKED)
        return ks_fail(CUST_ERR_ARG, kk->k.name,
                       "version %u is %s: only a retired or revoked version "
                       "is destroyed",
                       v, keystate_state_name(mv->state));
    if (ks_keep(m, &u) != 0)
        return ks_fail(CUST_ERR_NOMEM, kk->k.name, "out of memory");
    keystate_begin_destroy(m, v);
    if ((rc = ks_commit(ks, kk, m, &u)) != 0)
        return rc;
    ks_crash_point("destroy-begun");
    if (kv != NULL && kv->tk != NULL) {
        atomic_store(&kv->usable, false);
        rc = ks_drain(kv);
        if (rc == 0)
            rc = token_key_destroy(kv->tk);
        if (rc != 0) {
            log_debug("destroying %s: %s", kv->label, token_error_detail());
            /* The intent stays: the next start finishes the deletion. */
            return ks_fail(rc, kk->k.name, "version %u: %s", v,
                           cust_err_str(rc));
        }
        ks_crash_point("destroy-on-token");
        token_key_free(kv->tk);
        kv->tk = NULL;
    }
    keystate_destroyed(m, v, now);
    rc = ks_save(ks, kk);
    ks_emit(ks, kk, v, "destroy", kv ? kv->fingerprint : mv->fingerprint,
            "private key deleted from the token");
    return rc;
}

/* Retires or revokes V: it signs nothing from now on. */
static int
ks_withdraw(struct keystore *ks, struct ks_key *kk, uint32_t v,
            const char *reason, time_t now)
{
    struct keystate_key *m = ks_model(ks, kk, 0);
    struct keystore_version *kv = ks_published(kk, v), *active;
    struct keystate_version *mv;
    struct ks_undo u;
    int rc;

    if (m == NULL || (mv = keystate_version(m, v)) == NULL)
        return ks_fail(CUST_ERR_KEY_NOT_FOUND, kk->k.name, "no version %u", v);
    if (ks_keep(m, &u) != 0)
        return ks_fail(CUST_ERR_NOMEM, kk->k.name, "out of memory");
    active = kv != NULL && atomic_load(&kk->k.active) == kv ? kv : NULL;
    now = ks_retire_begin(active, now);
    rc = reason ? keystate_revoke(m, v, now, reason)
                : keystate_retire(m, v, now);
    if (rc != 0) {
        free(u.versions);
        ks_retire_undo(active);
        return ks_fail(rc, kk->k.name, "version %u is %s: cannot be %s", v,
                       keystate_state_name(mv->state),
                       reason ? "revoked" : "retired");
    }
    rc = ks_commit(ks, kk, m, &u);
    if (rc != 0) {
        ks_retire_undo(active);
        return rc;
    }
    if (kv != NULL && reason != NULL)
        atomic_store(&kv->usable, false);
    if (kv != NULL && atomic_load(&kk->k.active) == kv)
        ks_set_active(kk, NULL);
    ks_emit(ks, kk, v, reason ? "revoke" : "retire", mv->fingerprint,
            reason ? reason : "by an operator");
    return 0;
}

/* --- reconciliation at start-up ----------------------------------------- */

/* The "NAME@V" objects on a token that belong to one key. */
struct ks_seen {
    const char *name;
    uint32_t *v;
    size_t n;
};

static void
ks_visit(const char *label, const uint8_t *id, size_t idlen, void *arg)
{
    struct ks_seen *seen = arg;
    size_t len = strlen(seen->name);
    unsigned long v;
    uint32_t *vs;
    char *end;

    (void)id;
    (void)idlen;
    if (strncmp(label, seen->name, len) != 0 || label[len] != '@' ||
        label[len + 1] < '1' || label[len + 1] > '9')
        return;
    errno = 0;
    v = strtoul(label + len + 1, &end, 10);
    if (*end != '\0' || errno != 0 || v > UINT32_MAX)
        return;
    vs = realloc(seen->v, (seen->n + 1) * sizeof(*vs));
    if (vs == NULL)
        return;
    seen->v = vs;
    seen->v[seen->n++] = (uint32_t)v;
}

/* Finds version V on the token and publishes it; absent is -15. */
static int
ks_load_version(struct ks_key *kk, uint32_t v, struct keystore_version **out)
{
    char label[TOKEN_LABEL_MAX + 1];
    struct token_key *tk = NULL;
    int rc;

    ks_label(kk, v, label, sizeof(label));
    rc = token_key_find(kk->k.token, label, NULL, 0, &tk);
    if (rc == 0)
        rc = ks_publish(kk, v, tk, out);
    return rc;
}

/* Copies the span MV was active into KV, for keystore_signed_at(). */
static void
ks_times(struct keystore_version *kv, const struct keystate_version *mv)
{
    time_t end = mv->retired ? mv->retired : mv->revoked;

    atomic_store(&kv->activated_at, (long long)mv->activated);
    if (mv->activated != 0)
        atomic_store(&kv->retired_at, (long long)end);
}

/* A version the state file knows and should be on the token. */
static void
ks_reconcile_held(struct keystore *ks, struct ks_key *kk,
                  struct keystate_version *mv)
{
    struct keystore_version *kv = NULL;
    int rc = ks_load_version(kk, mv->version, &kv);

    if (rc != 0) {
        ks_emit(ks, kk, mv->version, "missing", mv->fingerprint,
                cust_err_str(rc));
        return;
    }
    if (mv->fingerprint[0] != '\0' &&
        strcmp(mv->fingerprint, kv->fingerprint) != 0) {
        /* Another key under the version's label: never sign with it. */
        atomic_store(&kv->usable, false);
        ks_emit(ks, kk, mv->version, "unexpected", kv->fingerprint,
                "the token's key under this label is not the one recorded");
        return;
    }
    ks_times(kv, mv);
    if (mv->pubkey[0] == '\0')
        keystate_set_pubkey(ks_model(ks, kk, 0), mv->version, kv->spki,
                            kv->spkilen);
    if (mv->state == KEYSTATE_REVOKED)
        atomic_store(&kv->usable, false);
    if (mv->state == KEYSTATE_ACTIVE)
        ks_set_active(kk, kv);
}

/* Finishes or undoes a step a crash interrupted. */
static void
ks_reconcile_intent(struct keystore *ks, struct ks_key *kk,
                    struct keystate_key *m, struct keystate_version *mv,
                    time_t now)
{
    struct keystore_version *kv = NULL;
    uint32_t v = mv->version;
    int rc = ks_load_version(kk, v, &kv);

    if (mv->intent == KEYSTATE_INTENT_GENERATE && rc != 0) {
        keystate_abandon(m, v);
        ks_emit(ks, kk, v, "abandon", "", "generation had not finished");
    } else if (mv->intent == KEYSTATE_INTENT_GENERATE) {
        keystate_generated(m, v, kv->fingerprint);
        ks_times(kv, mv);
        if (mv->state == KEYSTATE_ACTIVE)
            ks_set_active(kk, kv);
        ks_emit(ks, kk, v, "generate", kv->fingerprint, "finished at start-up");
    } else if ((rc != 0 && rc != CUST_ERR_KEY_NOT_FOUND) ||
               (rc == 0 && token_key_destroy(kv->tk) != 0)) {
        if (kv != NULL)
            atomic_store(&kv->usable, false);
        ks_emit(ks, kk, v, "failed", mv->fingerprint,
                "could not finish destroying the private key");
    } else {
        if (kv != NULL) {
            atomic_store(&kv->usable, false);
            token_key_free(kv->tk);
            kv->tk = NULL;
        }
        keystate_destroyed(m, v, now);
        ks_emit(ks, kk, v, "destroy", mv->fingerprint, "finished at start-up");
    }
}

/* A key the state file does not know: adopt a version 1 made earlier. */
static void
ks_adopt(struct keystore *ks, struct ks_key *kk, time_t now)
{
    struct keystore_version *kv = NULL;
    struct keystate_version *mv;
    struct keystate_key *m;

    if (ks_load_version(kk, 1, &kv) != 0)
        return;
    m = ks_model(ks, kk, 1);
    if (m == NULL || keystate_begin(m, KEYSTATE_ACTIVE, now, &mv) != 0)
        return;
    keystate_generated(m, 1, kv->fingerprint);
    ks_record(ks, kk, m, kv);
    ks_times(kv, mv);
    ks_set_active(kk, kv);
    ks_emit(ks, kk, 1, "adopt", kv->fingerprint,
            "found on the token, not in the state file");
}

static void
ks_reconcile(struct keystore *ks, struct ks_key *kk, time_t now)
{
    struct ks_seen seen = {kk->k.name, NULL, 0};
    struct keystore_version *kv;
    struct keystate_key *m;
    struct keystate_version *mv;
    size_t i;

    if (ks_model(ks, kk, 0) == NULL)
        ks_adopt(ks, kk, now);
    m = ks_model(ks, kk, 0);
    for (i = m ? m->n : 0; i > 0; i--) {
        mv = &m->versions[i - 1];
        if (mv->intent != KEYSTATE_INTENT_NONE)
            ks_reconcile_intent(ks, kk, m, mv, now);
        else if (mv->state != KEYSTATE_DESTROYED && mv->destroyed == 0)
            ks_reconcile_held(ks, kk, mv);
    }
    /* With every version loaded, the statements a crash left unsigned. */
    for (i = 0; m != NULL && i < m->n; i++)
        if (m->versions[i].fingerprint[0] != '\0' &&
            (kv = ks_published(kk, m->versions[i].version)) != NULL)
            ks_record(ks, kk, m, kv);
    if (token_key_list(kk->k.token, ks_visit, &seen) != 0)
        log_debug("listing keys: %s", token_error_detail());
    for (i = 0; i < seen.n; i++) {
        mv = m ? keystate_version(m, seen.v[i]) : NULL;
        if (mv == NULL || mv->destroyed != 0)
            ks_emit(ks, kk, seen.v[i], "unexpected", "",
                    "a key object the state file does not know; left alone");
    }
    free(seen.v);
}

/* --- the interface ------------------------------------------------------ */

static void
ks_rotation(const struct conf_rotation *c, struct keystate_rotation *r)
{
    r->period = (time_t)c->period;
    r->publish_ahead = (time_t)c->publish_ahead;
    r->verify_for = (time_t)c->verify_for;
    r->destroy_after = (time_t)c->destroy_after;
}

static int
ks_setup(struct keystore *ks, const struct conf *conf,
         struct token *const *tokens, const char *state_path)
{
    const struct conf_key *ck;
    size_t i;

    ks->keys = calloc(conf->nkeys + 1, sizeof(*ks->keys));
    ks->state_path = strdup(state_path);
    if (ks->keys == NULL || ks->state_path == NULL)
        return CUST_ERR_NOMEM;
    for (; ks->n < conf->nkeys; ks->n++) {
        ck = &conf->keys[ks->n];
        i = ks->n;
        if ((ks->keys[i].k.name = strdup(ck->name)) == NULL)
            return CUST_ERR_NOMEM;
        ks->keys[i].k.type = ck->type;
        ks->keys[i].k.token = tokens[ck->token - conf->tokens];
        ks_rotation(&ck->rotation, &ks->keys[i].k.rotation);
        atomic_init(&ks->keys[i].k.active, NULL);
    }
    return 0;
}

int
keystore_open(const struct conf *conf, struct token *const *tokens,
              const char *state_path, time_t now, keystore_event_fn event,
              void *arg, struct keystore **out)
{
    struct keystore *ks = calloc(1, sizeof(*ks));
    char why[300];
    size_t i;
    int rc;

    if (ks == NULL)
        return CUST_ERR_NOMEM;
    pthread_mutex_init(&ks->lock, NULL);
    ks->event = event;
    ks->arg = arg;
    rc = ks_setup(ks, conf, tokens, state_path);
    if (rc == 0 &&
        (rc = keystate_load(state_path, &ks->state, why, sizeof(why))) != 0)
        snprintf(keystore_reason, sizeof(keystore_reason), "%s", why);
    for (i = 0; rc == 0 && i < ks->n; i++)
        ks_reconcile(ks, &ks->keys[i], now);
    if (rc == 0 && keystate_save(ks->state, state_path) != 0) {
        snprintf(keystore_reason, sizeof(keystore_reason), "state file %s: %s",
                 state_path, strerror(errno));
        rc = CUST_ERR_IO;
    }
    if (rc != 0) {
        keystore_free(ks);
        return rc;
    }
    *out = ks;
    return 0;
}

void
keystore_free(struct keystore *ks)
{
    size_t i, j;

    if (ks == NULL)
        return;
    for (i = 0; ks->keys != NULL && i < ks->n; i++) {
        for (j = 0; j < ks->keys[i].nv; j++)
            ks_version_free(ks->keys[i].v[j]);
        free(ks->keys[i].v);
        free(ks->keys[i].k.name);
    }
    free(ks->keys);
    keystate_free(ks->state);
    free(ks->state_path);
    pthread_mutex_destroy(&ks->lock);
    free(ks);
}

/* Key NAME with the lifecycle lock taken, or NULL (not locked). */
static struct ks_key *
ks_lock_key(struct keystore *ks, const char *name)
{
    struct ks_key *kk = ks_find(ks, name);

    if (kk == NULL) {
        ks_fail(CUST_ERR_KEY_NOT_FOUND, name, "not in the configuration");
        return NULL;
    }
    pthread_mutex_lock(&ks->lock);
    return kk;
}

int
keystore_create(struct keystore *ks, const char *name, time_t now,
                const struct keystore_version **out)
{
    struct ks_key *kk = ks_lock_key(ks, name);
    struct keystore_version *kv = NULL;
    const struct keystate_key *m;
    int rc;

    if (kk == NULL)
        return CUST_ERR_KEY_NOT_FOUND;
    m = ks_model(ks, kk, 0);
    if (m != NULL && m->n > 0) {
        rc = ks_fail(CUST_ERR_KEY_EXISTS, name,
                     "has versions already; rotate it for a new one");
    } else {
        rc = ks_generate(ks, kk, KEYSTATE_ACTIVE, now, &kv);
        if (kv != NULL) {
            atomic_store(&kv->activated_at, (long long)now);
            ks_set_active(kk, kv);
        }
    }
    pthread_mutex_unlock(&ks->lock);
    if (rc == 0)
        *out = kv;
    return rc;
}

int
keystore_rotate(struct keystore *ks, const char *name, time_t now,
                const struct keystore_version **out)
{
    struct ks_key *kk = ks_lock_key(ks, name);
    struct keystore_version *kv = NULL;
    struct keystate_key *m;
    struct keystate_version *p;
    int rc = 0;

    if (kk == NULL)
        return CUST_ERR_KEY_NOT_FOUND;
    m = ks_model(ks, kk, 0);
    p = m ? keystate_pending(m) : NULL;
    if (m == NULL || m->n == 0)
        rc = ks_fail(CUST_ERR_KEY_NOT_FOUND, name,
                     "has no versions yet; create it first");
    else if (p != NULL)
        kv = ks_published(kk, p->version);
    else
        rc = ks_generate(ks, kk, KEYSTATE_PENDING, now, &kv);
    if (rc == 0 && kv == NULL)
        rc = ks_fail(CUST_ERR_KEY_NOT_FOUND, name,
                     "the pending version is not on its token");
    if (rc == 0)
        rc = ks_activate(ks, kk, kv->version, now);
    pthread_mutex_unlock(&ks->lock);
    if (rc == 0)
        *out = kv;
    return rc;
}

int
keystore_retire(struct keystore *ks, const char *name, uint32_t v, time_t now)
{
    struct ks_key *kk = ks_lock_key(ks, name);
    int rc;

    if (kk == NULL)
        return CUST_ERR_KEY_NOT_FOUND;
    rc = ks_withdraw(ks, kk, v, NULL, now);
    pthread_mutex_unlock(&ks->lock);
    return rc;
}

int
keystore_revoke(struct keystore *ks, const char *name, uint32_t v,
                const char *reason, time_t now)
{
    struct ks_key *kk = ks_lock_key(ks, name);
    int rc;

    if (kk == NULL)
        return CUST_ERR_KEY_NOT_FOUND;
    rc = ks_withdraw(ks, kk, v, reason ? reason : "", now);
    pthread_mutex_unlock(&ks->lock);
    return rc;
}

int
keystore_destroy(struct keystore *ks, const char *name, uint32_t v, time_t now)
{
    struct ks_key *kk = ks_lock_key(ks, name);
    int rc;

    if (kk == NULL)
        return CUST_ERR_KEY_NOT_FOUND;
    rc = ks_destroy(ks, kk, v, now);
    pthread_mutex_unlock(&ks->lock);
    return rc;
}

/* One due step of KK; returns 1 if one was taken, 0 if none was due. */
static int
ks_step(struct keystore *ks, struct ks_key *kk, time_t now, time_t *next)
{
    struct keystate_step step;
    struct keystore_version *kv;
    int rc = 0;

    keystate_plan(ks_model(ks, kk, 0), &kk->k.rotation, now, &step, next);
    switch (step.kind) {
    case KEYSTATE_STEP_NONE:
        return 0;
    case KEYSTATE_STEP_GENERATE:
        rc = ks_generate(ks, kk, KEYSTATE_PENDING, now, &kv);
        break;
    case KEYSTATE_STEP_ACTIVATE:
        rc = ks_activate(ks, kk, step.version, now);
        break;
    case KEYSTATE_STEP_DESTROY:
        rc = ks_destroy(ks, kk, step.version, now);
        break;
    }
    if (rc != 0) {
        ks_emit(ks, kk, step.version, "failed", "", keystore_error());
        return -1;
    }
    return 1;
}

time_t
keystore_tick(struct keystore *ks, time_t now)
{
    time_t next, soonest = 0;
    size_t i;
    int steps, rc;

    pthread_mutex_lock(&ks->lock);
    for (i = 0; i < ks->n; i++) {
        steps = 0;
        do {
            rc = ks_step(ks, &ks->keys[i], now, &next);
        } while (rc == 1 && ++steps < KEYSTORE_TICK_STEPS);
        if (rc < 0) /* retried at the next tick, a little later */
            next = now + 60;
        if (next != 0 && (soonest == 0 || next < soonest))
            soonest = next;
    }
    pthread_mutex_unlock(&ks->lock);
    return soonest;
}

const struct keystore_version *
keystore_acquire(const struct keystore *ks, const char *name)
{
    const struct ks_key *kk = ks_find(ks, name);
    struct keystore_version *kv;

    if (kk == NULL)
        return NULL;
    kv = atomic_load_explicit(&kk->k.active, memory_order_acquire);
    if (kv == NULL)
        return NULL;
    atomic_fetch_add(&kv->inflight, 1);
    /* Revoked or being destroyed since it was read: not for this one. */
    if (!atomic_load(&kv->usable)) {
        atomic_fetch_sub(&kv->inflight, 1);
        return NULL;
    }
    return kv;
}

void
keystore_release(const struct keystore_version *v)
{
    if (v != NULL)
        atomic_fetch_sub(&((struct keystore_version *)v)->inflight, 1);
}

time_t
keystore_signed_at(const struct keystore_version *v, time_t now)
{
    long long a = atomic_load(&v->activated_at), r;

    while ((r = atomic_load(&v->retired_at)) == KS_RETIRING)
        sched_yield();
    if (r > 0 && (long long)now > r)
        now = (time_t)r;
    if ((long long)now < a)
        now = (time_t)a;
    return now;
}

const struct keystore_key *
keystore_find(const struct keystore *ks, const char *name)
{
    const struct ks_key *kk = ks_find(ks, name);

    return kk != NULL ? &kk->k : NULL;
}

const struct keystore_key *
keystore_at(const struct keystore *ks, size_t i)
{
    return i < ks->n ? &ks->keys[i].k : NULL;
}

const struct keystore_version *
keystore_version(struct keystore *ks, const struct keystore_key *k, uint32_t v)
{
    const struct ks_key *kk = ks_find(ks, k->name);
    const struct keystore_version *kv;

    /* The table only grows under the lock; readers take it too. */
    pthread_mutex_lock(&ks->lock);
    kv = kk ? ks_published(kk, v) : NULL;
    pthread_mutex_unlock(&ks->lock);
    return kv;
}

struct keystate *
keystore_snapshot(struct keystore *ks)
{
    struct keystate *s;

    pthread_mutex_lock(&ks->lock);
    s = keystate_dup(ks->state);
    pthread_mutex_unlock(&ks->lock);
    return s;
}
