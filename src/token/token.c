/*
 * Token lifecycle: loading the module, selecting the token, logging in,
 * the session pool, and rebuilding the sessions when they are lost.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "custodian/error.h"
#include "log.h"
#include "pin.h"
#include "p11uri.h"
#include "token_int.h"

/*
 * The mechanisms custodian uses. Support is asked of each one with
 * C_GetMechanismInfo rather than read from C_GetMechanismList, because
 * some modules (tpm2-pkcs11) accept mechanisms they do not list.
 */
static const CK_MECHANISM_TYPE token_wanted_mechs[] = {
    CKM_EC_KEY_PAIR_GEN,
    CKM_EC_EDWARDS_KEY_PAIR_GEN,
    CKM_RSA_PKCS_KEY_PAIR_GEN,
    CKM_ECDSA,
    CKM_EDDSA,
    CKM_RSA_PKCS,
    CKM_RSA_PKCS_PSS,
    CKM_SHA256_RSA_PKCS,
    CKM_SHA384_RSA_PKCS,
    CKM_SHA512_RSA_PKCS,
    CKM_SHA256_RSA_PKCS_PSS,
    CKM_SHA384_RSA_PKCS_PSS,
    CKM_SHA512_RSA_PKCS_PSS,
};

#define TOKEN_NWANTED (sizeof(token_wanted_mechs) / sizeof(CK_MECHANISM_TYPE))

int
token_check_pid(const struct token *tok)
{
    if (tok->pid != getpid()) {
        token_note("token opened by process %ld used in a child",
                   (long)tok->pid);
        return CUST_ERR_FORKED;
    }
    return 0;
}

const CK_MECHANISM_INFO *
token_mech_info(const struct token *tok, CK_MECHANISM_TYPE m)
{
    CK_ULONG i;

    for (i = 0; i < tok->nmechs; i++) {
        if (tok->mechs[i] == m)
            return &tok->mech_info[i];
    }
    return NULL;
}

bool
token_has_mech(const struct token *tok, CK_MECHANISM_TYPE m)
{
    return token_mech_info(tok, m) != NULL;
}

static int
token_load_mechs(struct token *tok)
{
    CK_MECHANISM_INFO info;
    size_t i;

    tok->mechs = calloc(TOKEN_NWANTED, sizeof(*tok->mechs));
    tok->mech_info = calloc(TOKEN_NWANTED, sizeof(*tok->mech_info));
    if (tok->mechs == NULL || tok->mech_info == NULL)
        return CUST_ERR_NOMEM;
    for (i = 0; i < TOKEN_NWANTED; i++) {
        if (tok->fn->C_GetMechanismInfo(tok->slot, token_wanted_mechs[i],
                                        &info) != CKR_OK)
            continue;
        tok->mechs[tok->nmechs] = token_wanted_mechs[i];
        tok->mech_info[tok->nmechs++] = info;
    }
    return 0;
}

/* Appends LABEL to the list of labels in NOTE (for the error detail). */
static void
token_note_label(char *note, size_t len, const CK_TOKEN_INFO *info)
{
    char label[sizeof(info->label) + 1];
    size_t used = strlen(note);

    token_copy_padded(label, sizeof(label), info->label, sizeof(info->label));
    snprintf(note + used, len - used, "%s\"%s\"", used ? ", " : "", label);
}

/*
 * Finds the one present, initialized token the URI matches and sets
 * tok->slot. An uninitialized token (SoftHSM2 always offers one) can
 * hold no keys, so it is never a candidate.
 */
static int
token_select(struct token *tok)
{
    CK_SLOT_ID *slots = NULL;
    CK_TOKEN_INFO info;
    CK_ULONG n = 0, i, matches = 0;
    char labels[256] = "";
    CK_RV rv;
    int rc = CUST_ERR_TOKEN;

    rv = tok->fn->C_GetSlotList(CK_TRUE, NULL, &n);
    if (rv == CKR_OK && n > 0) {
        slots = calloc(n, sizeof(*slots));
        if (slots == NULL)
            return CUST_ERR_NOMEM;
        rv = tok->fn->C_GetSlotList(CK_TRUE, slots, &n);
    }
    if (rv != CKR_OK) {
        token_fail("C_GetSlotList", rv);
        goto out;
    }

    for (i = 0; i < n; i++) {
        if (tok->fn->C_GetTokenInfo(slots[i], &info) != CKR_OK ||
            !(info.flags & CKF_TOKEN_INITIALIZED))
            continue;
        token_note_label(labels, sizeof(labels), &info);
        if (p11uri_matches(tok->uri, &info)) {
            tok->slot = slots[i];
            matches++;
        }
    }
    rc = matches == 1   ? 0
         : matches == 0 ? CUST_ERR_TOKEN_NOT_FOUND
                        : CUST_ERR_TOKEN_AMBIGUOUS;
    if (rc != 0)
        token_note("%lu tokens match; the module has %s%s",
                   (unsigned long)matches, labels[0] ? "" : "none", labels);
out:
    free(slots);
    return rc;
}

static int
token_read_pin(const struct token *tok, struct pin *pin)
{
    int rc;

    rc = pin_source_read(&tok->pin_src, pin);
    if (rc != 0)
        token_note("%s", pin_error());
    return rc;
}

/*
 * Logs the process in on the anchor session. A token that says its PIN
 * is locked or on its final try is not tried: one more wrong attempt
 * would lock it. A PIN the token refused is never presented again.
 */
static int
token_login(struct token *tok)
{
    CK_TOKEN_INFO info;
    struct pin pin;
    CK_RV rv;
    int rc;

    if (tok->pin_bad) {
        token_note("PIN was refused earlier; not presenting it again");
        return CUST_ERR_PIN_INCORRECT;
    }
    rv = tok->fn->C_GetTokenInfo(tok->slot, &info);
    if (rv != CKR_OK) {
        token_fail("C_GetTokenInfo", rv);
        return token_rv_error(rv);
    }
    if (info.flags & (CKF_USER_PIN_LOCKED | CKF_USER_PIN_FINAL_TRY)) {
        token_note("token reports the user PIN %s; login not attempted",
                   info.flags & CKF_USER_PIN_LOCKED ? "locked"
                                                    : "on its final try");
        return CUST_ERR_PIN_LOCKED;
    }
    if (!(info.flags & CKF_LOGIN_REQUIRED))
        return 0;

    rc = token_read_pin(tok, &pin);
    if (rc != 0)
        return rc;
    rv = tok->fn->C_Login(tok->anchor, CKU_USER, (CK_UTF8CHAR *)pin.value,
                          (CK_ULONG)pin.len);
    pin_wipe(&pin);
    if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN)
        return 0;

    token_fail("C_Login", rv);
    rc = token_rv_error(rv);
    if (rc == CUST_ERR_PIN_INCORRECT)
        tok->pin_bad = true;
    return rc;
}

static CK_RV
token_open_session(struct token *tok, CK_SESSION_HANDLE *out)
{
    CK_RV rv;

    rv = tok->fn->C_OpenSession(tok->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
                                NULL, NULL, out);
    if (rv != CKR_OK)
        token_fail("C_OpenSession", rv);
    return rv;
}

/*
 * Opens the anchor session, logs in and fills the pool, one session at a
 * time (some modules break when sessions are opened concurrently).
 * Called with rebuild_lock held for writing, or before TOK is shared.
 */
static int
token_build_sessions(struct token *tok)
{
    CK_RV rv;
    int rc;

    rc = token_select(tok);
    if (rc != 0)
        return rc;
    rv = token_open_session(tok, &tok->anchor);
    if (rv != CKR_OK)
        return token_rv_error(rv);
    rc = token_login(tok);
    if (rc != 0)
        return rc;

    tok->nidle = 0;
    while (tok->nidle < tok->nsessions) {
        rv = token_open_session(tok, &tok->pool[tok->nidle]);
        if (rv != CKR_OK)
            return token_rv_error(rv);
        tok->idle[tok->nidle] = tok->pool[tok->nidle];
        tok->nidle++;
    }
    tok->broken = false;
    return 0;
}

/* Closes every session this token opened. Errors are expected (the
 * sessions may already be gone) and ignored. */
static void
token_drop_sessions(struct token *tok)
{
    unsigned i;

    for (i = 0; i < tok->nidle; i++)
        tok->fn->C_CloseSession(tok->pool[i]);
    if (tok->anchor != CK_INVALID_HANDLE)
        tok->fn->C_CloseSession(tok->anchor);
    tok->anchor = CK_INVALID_HANDLE;
    tok->nidle = 0;
    tok->broken = true;
}

/*
 * Rebuilds all sessions unless another thread already did since the
 * caller saw EPOCH. Takes rebuild_lock for writing, so it waits until no
 * session is lent.
 * XXX: a token call that never returns keeps its session lent, so a
 * rebuild waits for it forever and every later request with it.
 */
static int
token_rebuild(struct token *tok, unsigned long epoch)
{
    int rc = 0;

    pthread_rwlock_wrlock(&tok->rebuild_lock);
    if (tok->epoch == epoch) {
        log_debug("rebuilding sessions of slot %lu", (unsigned long)tok->slot);
        token_drop_sessions(tok);
        rc = token_build_sessions(tok);
        tok->epoch++;
        if (rc != 0)
            token_drop_sessions(tok);
    } else if (tok->broken) {
        rc = CUST_ERR_TOKEN_LOST;
    }
    pthread_rwlock_unlock(&tok->rebuild_lock);

    /* PIN trouble needs an operator; anything else is a lost token. */
    if (rc != 0 && rc != CUST_ERR_PIN_INCORRECT && rc != CUST_ERR_PIN_LOCKED &&
        rc != CUST_ERR_PIN_SOURCE && rc != CUST_ERR_NOMEM)
        rc = CUST_ERR_TOKEN_LOST;
    return rc;
}

static void
token_deadline(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/*
 * Lends a pooled session. On success rebuild_lock stays held for reading
 * until token_give() returns the session. Fails with CUST_ERR_TOKEN_LOST
 * when the sessions are gone (s->epoch says which epoch), CUST_ERR_BUSY
 * when none became free in time.
 */
static int
token_take(struct token *tok, struct token_session *s)
{
    struct timespec deadline;
    int err = 0;

    pthread_rwlock_rdlock(&tok->rebuild_lock);
    s->epoch = tok->epoch;
    if (tok->broken) {
        pthread_rwlock_unlock(&tok->rebuild_lock);
        return CUST_ERR_TOKEN_LOST;
    }

    token_deadline(&deadline, tok->wait_ms);
    pthread_mutex_lock(&tok->pool_lock);
    while (tok->nidle == 0 && err == 0)
        err =
            pthread_cond_timedwait(&tok->pool_cond, &tok->pool_lock, &deadline);
    if (tok->nidle > 0)
        s->h = tok->idle[--tok->nidle];
    pthread_mutex_unlock(&tok->pool_lock);

    if (err != 0 && s->h == CK_INVALID_HANDLE) {
        pthread_rwlock_unlock(&tok->rebuild_lock);
        token_note("no session free after %u ms", tok->wait_ms);
        return CUST_ERR_BUSY;
    }
    return 0;
}

static void
token_give(struct token *tok, struct token_session *s)
{
    pthread_mutex_lock(&tok->pool_lock);
    tok->idle[tok->nidle++] = s->h;
    pthread_cond_signal(&tok->pool_cond);
    pthread_mutex_unlock(&tok->pool_lock);
    pthread_rwlock_unlock(&tok->rebuild_lock);
}

/*
 * A stale object handle can also mean the login is gone: private objects
 * vanish from a session that is no longer logged in (SoftHSM2 answers
 * CKR_KEY_HANDLE_INVALID then). Ask the session before blaming the key.
 */
static bool
token_session_logged_out(struct token *tok, CK_SESSION_HANDLE h)
{
    CK_SESSION_INFO info;

    if (tok->fn->C_GetSessionInfo(h, &info) != CKR_OK)
        return true;
    return info.state == CKS_RO_PUBLIC_SESSION ||
           info.state == CKS_RW_PUBLIC_SESSION;
}

/* What token_run() does after an operation failed with RV. */
enum token_next { TOKEN_GIVE_UP, TOKEN_REFIND_KEY, TOKEN_REBUILD };

static enum token_next
token_triage(struct token *tok, struct token_key *key, struct token_session *s,
             CK_RV rv)
{
    if (token_rv_lost(rv))
        return TOKEN_REBUILD;
    if (key == NULL || !token_rv_stale(rv))
        return TOKEN_GIVE_UP;
    return token_session_logged_out(tok, s->h) ? TOKEN_REBUILD
                                               : TOKEN_REFIND_KEY;
}

int
token_run(struct token *tok, struct token_key *key, token_op op, void *ctx)
{
    enum token_next next = TOKEN_REBUILD;
    struct token_session s;
    int attempt, rc;
    CK_RV rv;

    for (attempt = 0;; attempt++) {
        s.h = CK_INVALID_HANDLE;
        rc = token_take(tok, &s);
        if (rc == CUST_ERR_BUSY || (rc != 0 && attempt > 0))
            return rc;
        if (rc == 0) {
            /* A search in a session that lost its login finds no private
             * object and reports no error: ask the session first. */
            if (key == NULL && token_session_logged_out(tok, s.h))
                rv = CKR_USER_NOT_LOGGED_IN;
            else
                rv = op(tok, &s, ctx, &rc);
            if (rv != CKR_OK && rc == 0)
                next = token_triage(tok, key, &s, rv);
            token_give(tok, &s);
            if (rv == CKR_OK)
                return 0;
            if (rc != 0)
                return rc; /* a failure the operation already named */
            if (attempt > 0 || next == TOKEN_GIVE_UP)
                return token_rv_error(rv);
        }

        if (next == TOKEN_REFIND_KEY) {
            token_key_mark_stale(key);
            continue;
        }
        rc = token_rebuild(tok, s.epoch);
        if (rc != 0)
            return rc;
    }
}

static int
token_set_config(struct token *tok, const struct token_config *cfg)
{
    int rc;

    if (cfg->module == NULL || cfg->uri == NULL ||
        (cfg->pin_file == NULL) == (cfg->pin_credential == NULL)) {
        token_note("need a module, a URI and exactly one PIN source");
        return CUST_ERR_ARG;
    }
    if (cfg->sessions > TOKEN_SESSIONS_MAX) {
        token_note("session pool of %u exceeds %d", cfg->sessions,
                   TOKEN_SESSIONS_MAX);
        return CUST_ERR_ARG;
    }
    tok->nsessions = cfg->sessions ? cfg->sessions : TOKEN_SESSIONS_DEFAULT;
    tok->wait_ms = cfg->wait_ms ? cfg->wait_ms : TOKEN_WAIT_MS_DEFAULT;
    tok->module_path = strdup(cfg->module);
    tok->pool = calloc(tok->nsessions, sizeof(*tok->pool));
    tok->idle = calloc(tok->nsessions, sizeof(*tok->idle));
    if (tok->module_path == NULL || tok->pool == NULL || tok->idle == NULL)
        return CUST_ERR_NOMEM;
    rc = cfg->pin_file != NULL
             ? pin_source_open_file(cfg->pin_file, &tok->pin_src)
             : pin_source_open_credential(cfg->pin_credential, &tok->pin_src);
    if (rc != 0) {
        token_note("%s", pin_error());
        return rc;
    }
    if (p11uri_parse(cfg->uri, &tok->uri) != 0) {
        token_note("%s", p11uri_error());
        return CUST_ERR_URI;
    }
    return 0;
}

static struct token *
token_alloc(void)
{
    pthread_rwlockattr_t attr;
    struct token *tok = calloc(1, sizeof(*tok));

    if (tok == NULL)
        return NULL;
    tok->pin_src.fd = -1;
    /* Writers first, so a rebuild is not starved by a stream of signers. */
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr,
                                  PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&tok->rebuild_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&tok->pool_lock, NULL);
    pthread_cond_init(&tok->pool_cond, NULL);
    pthread_mutex_init(&tok->keygen_lock, NULL);
    tok->pid = getpid();
    tok->anchor = CK_INVALID_HANDLE;
    tok->broken = true;
    return tok;
}

static int
token_load_module(struct token *tok)
{
    CK_RV rv;

    /* Managed mode: p11-kit passes CKF_OS_LOCKING_OK to C_Initialize and
     * counts references, so two tokens of one module can coexist. */
    tok->fn = p11_kit_module_load(tok->module_path, 0);
    if (tok->fn == NULL) {
        token_note("%s", p11_kit_message() ? p11_kit_message()
                                           : "cannot load the module");
        return CUST_ERR_MODULE;
    }
    rv = p11_kit_module_initialize(tok->fn);
    if (rv != CKR_OK) {
        token_fail("C_Initialize", rv);
        p11_kit_module_release(tok->fn);
        tok->fn = NULL;
        return CUST_ERR_MODULE;
    }
    return 0;
}

int
token_open(const struct token_config *config, struct token **out)
{
    struct token *tok = token_alloc();
    int rc;

    if (tok == NULL)
        return CUST_ERR_NOMEM;
    rc = token_set_config(tok, config);
    if (rc == 0)
        rc = token_load_module(tok);
    if (rc == 0)
        rc = token_select(tok);
    if (rc == 0)
        rc = token_load_mechs(tok);
    if (rc == 0)
        rc = token_build_sessions(tok);
    if (rc != 0) {
        token_close(tok);
        return rc;
    }
    *out = tok;
    return 0;
}

void
token_close(struct token *tok)
{
    if (tok == NULL)
        return;
    /* In a forked child the handles belong to the parent: touch nothing. */
    if (tok->fn != NULL && tok->pid == getpid()) {
        token_drop_sessions(tok);
        p11_kit_module_finalize(tok->fn);
        p11_kit_module_release(tok->fn);
    }
    if (tok->uri != NULL)
        p11_kit_uri_free(tok->uri);
    pthread_rwlock_destroy(&tok->rebuild_lock);
    pthread_mutex_destroy(&tok->pool_lock);
    pthread_cond_destroy(&tok->pool_cond);
    pthread_mutex_destroy(&tok->keygen_lock);
    free(tok->module_path);
    pin_source_close(&tok->pin_src);
    free(tok->pool);
    free(tok->idle);
    free(tok->mechs);
    free(tok->mech_info);
    free(tok);
}

int
token_describe(struct token *tok, struct token_description *out)
{
    CK_TOKEN_INFO ti;
    CK_INFO mi;
    CK_RV rv;
    int rc = token_check_pid(tok);

    if (rc != 0)
        return rc;
    pthread_rwlock_rdlock(&tok->rebuild_lock);
    rv = tok->fn->C_GetTokenInfo(tok->slot, &ti);
    pthread_rwlock_unlock(&tok->rebuild_lock);
    if (rv == CKR_OK)
        rv = tok->fn->C_GetInfo(&mi);
    if (rv != CKR_OK) {
        token_fail("C_GetTokenInfo", rv);
        return token_rv_error(rv);
    }
    token_copy_padded(out->label, sizeof(out->label), ti.label,
                      sizeof(ti.label));
    token_copy_padded(out->manufacturer, sizeof(out->manufacturer),
                      ti.manufacturerID, sizeof(ti.manufacturerID));
    token_copy_padded(out->model, sizeof(out->model), ti.model,
                      sizeof(ti.model));
    token_copy_padded(out->serial, sizeof(out->serial), ti.serialNumber,
                      sizeof(ti.serialNumber));
    token_copy_padded(out->module, sizeof(out->module), mi.libraryDescription,
                      sizeof(mi.libraryDescription));
    return 0;
}

void
token_copy_padded(char *dst, size_t dstlen, const CK_UTF8CHAR *src,
                  size_t srclen)
{
    size_t n = srclen;

    while (n > 0 && (src[n - 1] == ' ' || src[n - 1] == '\0'))
        n--;
    if (n >= dstlen)
        n = dstlen - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}
