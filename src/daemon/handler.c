/*
 * Request handling on worker threads. The order is fixed: decide, act,
 * make the audit record, and only when the audit log says the record is
 * on disk, let the answer go. A signature whose record could not be
 * written is thrown away.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent.h"
#include "custodian/error.h"
#include "clock.h"
#include "handler.h"
#include "log.h"

/* What a client hears of a key it cannot use now: the same whether the
 * name is unknown or the key has no active version, so that names cannot
 * be probed. */
#define HANDLER_NO_KEY "no such key, or it has no active version"

/* Client-supplied text in a record: printable ASCII, \xHH for the rest,
 * so that no value can forge a field or break the one-line format. */
json_t *
handler_text(const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char *out = len < SIZE_MAX / 4 ? malloc(4 * len + 1) : NULL;
    size_t i, o = 0;
    json_t *j;

    if (out == NULL)
        return json_null();
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out[o++] = (char)c;
            continue;
        }
        out[o++] = '\\';
        out[o++] = 'x';
        out[o++] = hex[c >> 4];
        out[o++] = hex[c & 0xf];
    }
    out[o] = '\0';
    j = json_string(out);
    free(out);
    return j;
}

json_t *
handler_hex(const uint8_t *p, size_t n)
{
    char out[2 * WIRE_DATA_MAX + 1];
    size_t i;

    for (i = 0; i < n && 2 * i + 2 < sizeof(out); i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
    out[2 * i] = '\0';
    return json_string(out);
}

static json_t *
handler_caller(const struct peer *p)
{
    json_t *c =
        json_pack("{s:i, s:i, s:i, s:o, s:o}", "uid", (json_int_t)p->uid, "gid",
                  (json_int_t)p->gid, "pid", (json_int_t)p->pid, "exe",
                  handler_text(p->exe, strlen(p->exe)), "cgroup",
                  handler_text(p->cgroup, strlen(p->cgroup)));

    /* A pid alone is reused; with the start time it names one process
     * for the whole uptime. Unknown (0) for a caller not identified. */
    if (p->start_time != 0)
        json_object_set_new(c, "start_time",
                            json_integer((json_int_t)p->start_time));
    /* The path names where the program came from, no longer what is
     * there: say so, or the record would pass for the file now there. */
    if (p->exe_deleted)
        json_object_set_new(c, "exe_deleted", json_true());
    return c;
}

static int
handler_exe_sha256(void *arg, uint8_t out[32], char *why, size_t whylen)
{
    int rc = peer_exe_sha256(arg, out);

    if (rc != 0)
        snprintf(why, whylen, "%s", peer_error());
    return rc;
}

void
handler_policy_caller(const struct peer *p, struct policy_caller *c)
{
    memset(c, 0, sizeof(*c));
    c->uid = p->uid;
    c->gid = p->gid;
    c->groups = p->groups;
    c->ngroups = p->ngroups;
    /* A replaced executable is no known executable at all. */
    c->exe = p->exe_deleted || p->exe[0] == '\0' ? NULL : p->exe;
    c->cgroup = p->cgroup[0] != '\0' ? p->cgroup : NULL;
    c->exe_sha256 = handler_exe_sha256;
    c->arg = (void *)(uintptr_t)p;
}

static long
handler_latency_us(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000000L +
           (now.tv_nsec - start->tv_nsec) / 1000;
}

/* The record's common part: who asked what, and what was decided. */
json_t *
handler_record(struct handler_req *r, const char *op,
               const struct policy_decision *d, int rc)
{
    json_t *rec = json_object();

    json_object_set_new(rec, "event", json_string(op));
    json_object_set_new(rec, "caller", handler_caller(r->peer));
    json_object_set_new(rec, "identity",
                        d->identity ? json_string(d->identity->name)
                                    : json_null());
    json_object_set_new(rec, "rule",
                        d->rule[0] ? json_string(d->rule) : json_null());
    json_object_set_new(rec, "key", handler_text(r->key, strlen(r->key)));
    json_object_set_new(rec, "decision",
                        json_string(d->result == 0 ? "allow" : "deny"));
    json_object_set_new(rec, "error",
                        rc == 0 ? json_null() : json_string(cust_err_name(rc)));
    json_object_set_new(rec, "reason",
                        rc == 0 ? json_null() : json_string(d->reason));
    return rec;
}

/* Replaces whatever answer REQ had with an ERROR frame (an agent's
 * failure reply on the agent socket). */
void
handler_error(struct handler_req *r, int code, const char *message)
{
    buf_free(&r->answer);
    buf_init(&r->answer, WIRE_FRAME_MAX + WIRE_HEADER);
    if (r->agent)
        agent_put_failure(&r->answer);
    else
        wire_put_error(&r->answer, code, message);
}

/*
 * Says so, once, when the audit log starts failing and when it works
 * again: while it fails, nothing is signed.
 */
static void
handler_note_health(struct handler_env *env, int status)
{
    struct audit_stats st;

    if (status != 0 && atomic_exchange(&env->degraded, 1) == 0) {
        audit_stats(env->audit, &st);
        log_error("audit log failing (%s): degraded, signing nothing until "
                  "it can be written",
                  strerror(st.last_errno));
    } else if (status == 0 && atomic_exchange(&env->degraded, 0) == 1) {
        log_info("audit log written again: no longer degraded");
    }
}

static void
handler_audited(void *arg, int status, uint64_t seq)
{
    struct handler_req *r = arg;

    (void)seq;
    handler_note_health(r->env, status);
    /* Counted only once in the log, as a rebuild from the log would:
     * the inventory's clock is the audit log's. */
    if (status == 0 && r->env->inventory != NULL)
        inventory_add(r->env->inventory, r->rec, time(NULL));
    json_decref(r->rec);
    r->rec = NULL;
    if (status != 0)
        handler_error(r, CUST_ERR_AUDIT,
                      "audit record not written; nothing released");
    r->done(r);
}

int
handler_abandon(struct handler_req *r)
{
    int running = HANDLER_RUNNING;

    return atomic_compare_exchange_strong(&r->state, &running,
                                          HANDLER_ABANDONED);
}

/* Submits REC for REQ; the answer goes when the record is durable. */
void
handler_commit(struct handler_req *r, json_t *rec)
{
    int running = HANDLER_RUNNING;

    /* Given up on meanwhile: the client has had its answer, and this
     * one (a signature too) is recorded as never sent. */
    if (!atomic_compare_exchange_strong(&r->state, &running, HANDLER_COMMITTED))
        json_object_set_new(rec, "released", json_false());
    json_object_set_new(rec, "latency_us",
                        json_integer(handler_latency_us(&r->start)));
    /* Read on the writer's thread once durable: not changed after this. */
    r->rec = json_incref(rec);
    if (audit_submit(r->env->audit, rec, handler_audited, r) != 0) {
        json_decref(r->rec);
        r->rec = NULL;
        handler_error(r, CUST_ERR_AUDIT,
                      "audit record not written; nothing released");
        r->done(r);
    }
    json_decref(rec);
}

static void
handler_keyinfo(const struct keystore_version *v, struct wire_keyinfo *out)
{
    snprintf(out->name, sizeof(out->name), "%s", v->key->name);
    snprintf(out->type, sizeof(out->type), "%s",
             alg_keytype_name(v->key->type));
    out->version = v->version;
    snprintf(out->fingerprint, sizeof(out->fingerprint), "%s", v->fingerprint);
}

/* LIST: the keys this caller may list; one record names them all. */
static void
handler_list(struct handler_req *r, const struct policy_caller *c)
{
    /* XXX: a caller allowed more than 64 keys sees only the first 64. */
    struct wire_keyinfo infos[64];
    struct policy_request pr = {.op = CONF_OP_LIST};
    struct policy_decision d = {0}, last = {.grant = -1};
    const struct keystore_key *k;
    const struct keystore_version *v;
    json_t *names = json_array(), *rec;
    uint32_t n = 0;
    size_t i;

    for (i = 0; (k = keystore_at(r->env->keys, i)) != NULL && n < 64; i++) {
        pr.key = k->name;
        if ((v = keystore_acquire(r->env->keys, k->name)) == NULL)
            continue;
        if (policy_decide(r->env->policy, c, &pr, clock_now(), 0, &d) == 0) {
            handler_keyinfo(v, &infos[n++]);
            json_array_append_new(names, json_string(k->name));
            last = d;
        }
        keystore_release(v);
    }
    if (n == 0)
        last = d; /* the last refusal explains the empty list */
    /* Judged, not refused: a list shows names only, and a suspension an
     * alert makes holds from the next request. */
    handler_alerts(r, NULL, &last, 0);
    wire_put_keys(&r->answer, infos, n);
    rec = handler_record(r, "list", &last, 0);
    json_object_set_new(rec, "decision", json_string("allow"));
    json_object_set_new(rec, "keys", names);
    handler_commit(r, rec);
}

/* PUBKEY: the public key, if the policy allows it. */
static void
handler_pubkey(struct handler_req *r, const struct policy_caller *c)
{
    struct policy_request pr = {.op = CONF_OP_PUBKEY, .key = r->key};
    const struct keystore_version *k = keystore_acquire(r->env->keys, r->key);
    struct policy_decision d;
    struct wire_keyinfo info;
    int rc = policy_decide(r->env->policy, c, &pr, clock_now(), 0, &d);

    rc = handler_alerts(r, r->key, &d, rc);
    /* Unknown keys are denied like forbidden ones: no probing names. */
    if (rc == 0 && k == NULL)
        rc = CUST_ERR_KEY_NOT_FOUND;
    if (rc == 0) {
        handler_keyinfo(k, &info);
        wire_put_pubkey_ok(&r->answer, &info, k->spki, k->spkilen);
    } else {
        handler_error(r, rc,
                      rc == CUST_ERR_KEY_NOT_FOUND ? HANDLER_NO_KEY : d.reason);
    }
    keystore_release(k);
    handler_commit(r, handler_record(r, "pubkey", &d, rc));
}

/* Checks the algorithm names of a SIGN request against the key. */
static int
handler_sign_args(const struct handler_req *r, enum alg_keytype type, int *md,
                  int *scheme, const char **why)
{
    const struct wire_sign *s = &r->sign;

    *scheme = s->scheme[0] ? alg_scheme_from_name(s->scheme)
                           : (int)alg_default_scheme(type);
    if (*scheme < 0 || alg_scheme_fits(type, *scheme) != 0) {
        *why = "scheme does not fit the key";
        return CUST_ERR_SCHEME;
    }
    if (*scheme == ALG_SCHEME_ED25519) {
        *md = ALG_DIGEST_NONE;
        *why = "Ed25519 signs the message and takes no digest";
        return s->digest[0] ? CUST_ERR_DIGEST : 0;
    }
    *md = alg_digest_from_name(s->digest);
    *why = *md < 0 ? "unknown or refused digest"
                   : "digest length does not match its algorithm";
    if (*md < 0)
        return CUST_ERR_DIGEST;
    return s->datalen == alg_digest_len(*md) ? 0 : CUST_ERR_DIGEST_LEN;
}

/* A signature the token did not make: logged for the operator with the
 * PKCS#11 detail, which the record keeps too. The token layer has already
 * tried to recover; the next request tries again. */
void
handler_token_failed(const struct keystore_version *v, int rc, json_t *rec)
{
    log_warn("key \"%s\" version %u: signing failed: %s (%s)", v->key->name,
             v->version, cust_err_str(rc), token_error_detail());
    json_object_set_new(rec, "token_error", json_string(token_error_detail()));
}

/* Signs on the token and puts the SIGNATURE frame in the answer. */
static int
handler_do_sign(struct handler_req *r, const struct keystore_version *k, int md,
                int scheme, json_t *rec)
{
    struct wire_signature ws = {0};
    uint8_t sig[ALG_SIG_MAX];
    size_t siglen = 0;
    int rc;

    if (scheme == ALG_SCHEME_ED25519)
        rc = token_sign_message(k->tk, scheme, ALG_DIGEST_NONE, r->sign.data,
                                r->sign.datalen, sig, &siglen);
    else
        rc = token_sign_digest(k->tk, scheme, md, r->sign.data, r->sign.datalen,
                               sig, &siglen);
    if (rc != 0) {
        handler_token_failed(k, rc, rec);
        return rc;
    }
    handler_keyinfo(k, &ws.key);
    snprintf(ws.scheme, sizeof(ws.scheme), "%s", alg_scheme_name(scheme));
    ws.sig = sig;
    ws.siglen = siglen;
    ws.time = (uint64_t)keystore_signed_at(k, clock_now());
    json_object_set_new(rec, "signature", handler_hex(sig, siglen));
    json_object_set_new(rec, "signed_at", json_integer((json_int_t)ws.time));
    return wire_put_signature(&r->answer, &ws);
}

static json_t *
handler_context(const struct wire_sign *s)
{
    json_t *ctx = json_object();
    uint32_t i;

    for (i = 0; i < s->nctx; i++)
        json_object_set_new(
            ctx, s->ctx[i].name,
            handler_text(s->ctx[i].value, strlen(s->ctx[i].value)));
    return ctx;
}

/* SIGN: check, decide, sign, and record what was signed. */
static void
handler_sign(struct handler_req *r, const struct policy_caller *c)
{
    /* The version active now signs, even if a rotation comes meanwhile. */
    const struct keystore_version *k = keystore_acquire(r->env->keys, r->key);
    struct policy_request pr = {.op = CONF_OP_SIGN, .key = r->key};
    struct policy_decision d = {.result = CUST_ERR_DENIED, .grant = -1};
    const char *why = HANDLER_NO_KEY;
    int md = 0, scheme = 0, rc = CUST_ERR_KEY_NOT_FOUND, decided = 0;
    json_t *rec;

    if (k != NULL)
        rc = handler_sign_args(r, k->key->type, &md, &scheme, &why);
    if (rc != 0)
        snprintf(d.reason, sizeof(d.reason), "%s", why);
    if (rc == 0) {
        pr.digest = md;
        pr.scheme = scheme;
        pr.ns = r->sign.ns[0] ? r->sign.ns : NULL;
        rc =
            policy_decide(r->env->policy, c, &pr, clock_now(),
                          (double)r->start.tv_sec + r->start.tv_nsec / 1e9, &d);
        rc = handler_alerts(r, r->key, &d, rc);
        why = d.reason;
        decided = rc != 0;
    }
    rec = handler_record(r, "sign", &d, rc);
    json_object_set_new(rec, "version",
                        k ? json_integer(k->version) : json_null());
    json_object_set_new(rec, "fingerprint",
                        k ? json_string(k->fingerprint) : json_null());
    json_object_set_new(rec, "scheme", json_string(alg_scheme_name(scheme)));
    json_object_set_new(rec, "digest_alg",
                        json_string(md > 0 ? alg_digest_name(md) : "none"));
    json_object_set_new(rec, "digest",
                        handler_hex(r->sign.data, r->sign.datalen));
    json_object_set_new(rec, "namespace",
                        r->sign.ns[0]
                            ? handler_text(r->sign.ns, strlen(r->sign.ns))
                            : json_null());
    json_object_set_new(rec, "context", handler_context(&r->sign));
    if (rc == 0)
        rc = handler_do_sign(r, k, md, scheme, rec);
    if (rc != 0) {
        json_object_set_new(rec, "error", json_string(cust_err_name(rc)));
        handler_error(r, rc, decided || k == NULL ? why : cust_err_str(rc));
    }
    keystore_release(k);
    handler_commit(r, rec);
}

void
handler_run(void *arg)
{
    struct handler_req *r = arg;
    /* Once its record is submitted, R may be answered and freed at any
     * moment: only ENV is used after that. */
    struct handler_env *env = r->env;
    struct policy_caller c;

    /* Given up on while it waited for a worker: the client has been
     * answered and the refusal recorded; nothing is left to do. */
    if (atomic_load(&r->state) == HANDLER_ABANDONED) {
        r->done(r);
        return;
    }
    handler_policy_caller(r->peer, &c);
    buf_init(&r->answer, WIRE_FRAME_MAX + WIRE_HEADER);
    /* Records name the identity and rule: the policy must not change
     * under them until the record is made. */
    pthread_rwlock_rdlock(&env->policy_lock);
    switch (r->type) {
    case AGENT_REQUEST_IDENTITIES:
        agent_list(r, &c);
        break;
    case AGENT_SIGN_REQUEST:
        agent_sign(r, &c);
        break;
    case WIRE_LIST:
        handler_list(r, &c);
        break;
    case WIRE_PUBKEY:
        handler_pubkey(r, &c);
        break;
    default:
        handler_sign(r, &c);
        break;
    }
    pthread_rwlock_unlock(&env->policy_lock);
}

void
handler_refuse(struct handler_req *r, int code, const char *message)
{
    json_t *rec = json_object();

    json_object_set_new(rec, "event", json_string("refused"));
    json_object_set_new(rec, "caller", handler_caller(r->peer));
    json_object_set_new(rec, "frame_type", json_integer(r->type));
    if (r->key[0] != '\0')
        json_object_set_new(rec, "key", handler_text(r->key, strlen(r->key)));
    json_object_set_new(rec, "decision", json_string("deny"));
    json_object_set_new(rec, "error", json_string(cust_err_name(code)));
    json_object_set_new(rec, "reason", json_string(message));
    handler_error(r, code, message);
    handler_commit(r, rec);
}

static json_t *
handler_admin_record(struct handler_req *r, const char *action,
                     const char *admin, const char *result)
{
    json_t *rec = json_object();

    json_object_set_new(rec, "event", json_string("admin"));
    json_object_set_new(rec, "action", json_string(action));
    json_object_set_new(rec, "caller", handler_caller(r->peer));
    json_object_set_new(rec, "identity",
                        admin ? json_string(admin) : json_null());
    json_object_set_new(rec, "result", json_string(result));
    return rec;
}

void
handler_admin(struct handler_req *r, const char *action, const char *admin,
              const char *result)
{
    handler_commit(r, handler_admin_record(r, action, admin, result));
}

void
handler_key_create(void *arg)
{
    struct handler_req *r = arg;
    const struct keystore_version *k = NULL;
    struct wire_keyinfo info;
    json_t *rec;
    int rc;

    buf_init(&r->answer, WIRE_FRAME_MAX + WIRE_HEADER);
    rc = keystore_create(r->env->keys, r->key, clock_now(), &k);
    if (rc == 0 && r->env->changed != NULL)
        r->env->changed(r->env->changed_arg);
    rec = handler_admin_record(r, "key-create", r->admin,
                               rc == 0 ? "created" : "refused");
    json_object_set_new(rec, "key", handler_text(r->key, strlen(r->key)));
    if (rc == 0) {
        log_info("key \"%s\" version %u generated on its token by admin "
                 "\"%s\"",
                 k->key->name, k->version, r->admin);
        json_object_set_new(rec, "version", json_integer(k->version));
        json_object_set_new(rec, "type",
                            json_string(alg_keytype_name(k->key->type)));
        json_object_set_new(rec, "fingerprint", json_string(k->fingerprint));
        handler_keyinfo(k, &info);
        wire_put_pubkey_ok(&r->answer, &info, k->spki, k->spkilen);
    } else {
        json_object_set_new(rec, "error", json_string(cust_err_name(rc)));
        json_object_set_new(rec, "reason", json_string(keystore_error()));
        handler_error(r, rc, keystore_error());
    }
    handler_commit(r, rec);
}

/* A VERSIONS answer for key NAME: its newest WIRE_VERSIONS_MAX versions. */
static int
handler_versions(struct handler_req *r, const char *name)
{
    struct keystate *snap = keystore_snapshot(r->env->keys);
    const struct keystate_key *m = snap ? keystate_key(snap, name, 0) : NULL;
    const struct keystore_version *a = keystore_acquire(r->env->keys, name);
    const struct keystore_key *k;
    struct wire_version *w = calloc(WIRE_VERSIONS_MAX, sizeof(*w));
    const struct keystate_version *v;
    struct wire_keyinfo info = {0};
    size_t i, first;
    int rc = snap && w ? 0 : CUST_ERR_NOMEM;

    if (rc == 0 && a != NULL)
        handler_keyinfo(a, &info);
    snprintf(info.name, sizeof(info.name), "%s", name);
    if ((k = keystore_find(r->env->keys, name)) != NULL)
        snprintf(info.type, sizeof(info.type), "%s", alg_keytype_name(k->type));
    /* XXX: a key with more versions shows only its newest 64. */
    first = m && m->n > WIRE_VERSIONS_MAX ? m->n - WIRE_VERSIONS_MAX : 0;
    for (i = first; rc == 0 && m != NULL && i < m->n; i++) {
        v = &m->versions[i];
        w[i - first] = (struct wire_version){
            .version = v->version,
            .created = (uint64_t)v->created,
            .activated = (uint64_t)v->activated,
            .retired = (uint64_t)v->retired,
            .destroyed = (uint64_t)v->destroyed,
            .revoked = (uint64_t)v->revoked,
        };
        snprintf(w[i - first].state, sizeof(w[i - first].state), "%s",
                 keystate_state_name(v->state));
        snprintf(w[i - first].fingerprint, sizeof(w[i - first].fingerprint),
                 "%s", v->fingerprint);
        snprintf(w[i - first].reason, sizeof(w[i - first].reason), "%s",
                 v->reason);
    }
    if (rc == 0)
        wire_put_versions(&r->answer, &info, w,
                          (uint32_t)(m ? m->n - first : 0));
    keystore_release(a);
    keystate_free(snap);
    free(w);
    return rc;
}

static int
handler_key_rotate(struct handler_req *r)
{
    const struct keystore_version *k = NULL;
    struct wire_keyinfo info;
    int rc = keystore_rotate(r->env->keys, r->key, clock_now(), &k);

    if (rc == 0) {
        handler_keyinfo(k, &info);
        wire_put_pubkey_ok(&r->answer, &info, k->spki, k->spkilen);
    }
    return rc;
}

static int
handler_key_change(struct handler_req *r)
{
    const struct wire_key_change *c = &r->change;
    time_t now = clock_now();
    int rc;

    if (strcmp(c->action, "retire") == 0)
        rc = keystore_retire(r->env->keys, c->key, c->version, now);
    else if (strcmp(c->action, "revoke") == 0)
        rc = keystore_revoke(r->env->keys, c->key, c->version, c->reason, now);
    else /* "destroy": the server lets no other action through */
        rc = keystore_destroy(r->env->keys, c->key, c->version, now);
    return rc != 0 ? rc : handler_versions(r, c->key);
}

void
handler_key_admin(void *arg)
{
    static const char *const actions[] = {
        [WIRE_KEY_VERSIONS] = "key-versions",
        [WIRE_KEY_ROTATE] = "key-rotate",
        [WIRE_KEY_CHANGE] = "key-change",
    };
    struct handler_req *r = arg;
    const char *why = NULL;
    json_t *rec;
    int rc;

    buf_init(&r->answer, WIRE_FRAME_MAX + WIRE_HEADER);
    if (keystore_find(r->env->keys, r->key) == NULL) {
        rc = CUST_ERR_KEY_NOT_FOUND;
        why = "no such key in the configuration";
    } else if (r->type == WIRE_KEY_ROTATE) {
        rc = handler_key_rotate(r);
    } else if (r->type == WIRE_KEY_CHANGE) {
        rc = handler_key_change(r);
    } else {
        rc = handler_versions(r, r->key);
    }
    /* The keyring shows the change before the admin hears of it. */
    if (rc == 0 && r->type != WIRE_KEY_VERSIONS && r->env->changed != NULL)
        r->env->changed(r->env->changed_arg);
    why = why != NULL ? why : keystore_error();
    rec = handler_admin_record(r, actions[r->type], r->admin,
                               rc == 0 ? "ok" : "refused");
    json_object_set_new(rec, "key", handler_text(r->key, strlen(r->key)));
    if (r->type == WIRE_KEY_CHANGE) {
        json_object_set_new(rec, "change", json_string(r->change.action));
        json_object_set_new(rec, "version", json_integer(r->change.version));
        json_object_set_new(
            rec, "reason",
            handler_text(r->change.reason, strlen(r->change.reason)));
    }
    if (rc != 0) {
        json_object_set_new(rec, "error", json_string(cust_err_name(rc)));
        json_object_set_new(rec, "detail", json_string(why));
        handler_error(r, rc, why);
    }
    handler_commit(r, rec);
}

int
handler_alerts(struct handler_req *r, const char *key,
               struct policy_decision *d, int rc)
{
    struct handler_env *env = r->env;
    struct alert_fired fired[ALERT_KINDS];
    struct inventory_profile prof;
    json_t *exe, *cgroup, *jkey, *rec;
    char why[320], reason[SUSPEND_REASON_MAX + 1], detail[LOG_ESCAPE_BUF];
    time_t now = time(NULL);
    bool suspend;
    size_t n, i;

    if (env->alerts == NULL || env->inventory == NULL || d->identity == NULL)
        return rc;
    /* The key, executable and cgroup as the records, and so the
     * inventory, write them: escaped, as a client's key name may need. */
    exe = handler_text(r->peer->exe, strlen(r->peer->exe));
    cgroup = handler_text(r->peer->cgroup, strlen(r->peer->cgroup));
    jkey = key != NULL ? handler_text(key, strlen(key)) : json_null();
    inventory_profile(env->inventory, d->identity->name,
                      json_string_value(jkey), json_string_value(exe),
                      json_string_value(cgroup), now, &prof);
    n = alert_judge(env->alerts, policy_alerts(env->policy),
                    &(struct alert_request){.identity = d->identity->name,
                                            .key = json_string_value(jkey),
                                            .exe = json_string_value(exe),
                                            .cgroup = json_string_value(cgroup),
                                            .result = rc},
                    &prof, now, fired);
    json_decref(exe);
    json_decref(cgroup);
    suspend = n > 0 && d->identity->suspend_on_alert;
    for (i = 0; i < n; i++) {
        log_warn("alert: identity \"%s\": %s: %s%s", d->identity->name,
                 alert_kind_name(fired[i].kind),
                 log_escape(fired[i].detail, strlen(fired[i].detail), detail),
                 suspend ? "; suspending it" : "");
        rec = json_pack("{s:s, s:s, s:o, s:s, s:o, s:s, s:s}", "event", "alert",
                        "kind", alert_kind_name(fired[i].kind), "caller",
                        handler_caller(r->peer), "identity", d->identity->name,
                        "key", json_incref(jkey), "detail", fired[i].detail,
                        "action", suspend ? "suspend" : "record");
        /* Rare, and on a worker: waited for, so that the alert is in the
         * log before the request it is about. */
        if (rec == NULL || audit_write(env->audit, rec, NULL) != 0)
            log_error("alert: identity \"%s\": the record could not be "
                      "written",
                      d->identity->name);
        else if (env->inventory != NULL)
            inventory_add(env->inventory, rec, now);
        json_decref(rec);
    }
    json_decref(jkey);
    if (!suspend)
        return rc;
    snprintf(reason, sizeof(reason), "%s: %.140s",
             alert_kind_name(fired[0].kind), fired[0].detail);
    if (suspend_add(env->suspend, d->identity->name, "alert", reason, now) < 0)
        log_error("alert: identity \"%s\" could not be suspended: %s",
                  d->identity->name, strerror(errno));
    if (rc != 0 ||
        !suspend_check(env->suspend, d->identity->name, why, sizeof(why)))
        return rc;
    d->result = CUST_ERR_SUSPENDED;
    snprintf(d->reason, sizeof(d->reason),
             "identity \"%.64s\" is suspended %.160s", d->identity->name, why);
    return CUST_ERR_SUSPENDED;
}

void
handler_identity_change(void *arg)
{
    struct handler_req *r = arg;
    const struct wire_identity_change *w = &r->ident;
    int suspend = strcmp(w->action, "suspend") == 0, known, rc;
    const char *result = "refused", *why = NULL;
    char name[LOG_ESCAPE_BUF];
    json_t *rec;

    buf_init(&r->answer, WIRE_FRAME_MAX + WIRE_HEADER);
    pthread_rwlock_rdlock(&r->env->policy_lock);
    known = policy_identity(r->env->policy, w->identity) != NULL;
    pthread_rwlock_unlock(&r->env->policy_lock);
    /* Resuming a name the policy lost is allowed: it tidies the file. */
    if (suspend && !known) {
        rc = CUST_ERR_ARG;
        why = "no such identity in the policy";
    } else if (suspend) {
        rc = suspend_add(r->env->suspend, w->identity, r->admin, w->reason,
                         clock_now());
        result = rc == 0 ? "suspended" : "already suspended";
    } else {
        rc = suspend_remove(r->env->suspend, w->identity);
        result = rc == 0 ? "resumed" : "not suspended";
    }
    if (rc == 1)
        rc = 0;
    else if (rc == CUST_ERR_IO)
        why = "the suspension could not be saved; nothing changed";
    if (rc == 0 && strcmp(result, "suspended") == 0)
        log_warn("identity \"%s\" suspended by admin \"%s\"",
                 log_escape(w->identity, strlen(w->identity), name), r->admin);
    else if (rc == 0 && strcmp(result, "resumed") == 0)
        log_info("identity \"%s\" resumed by admin \"%s\"",
                 log_escape(w->identity, strlen(w->identity), name), r->admin);
    if (rc == 0)
        wire_put_identity_ok(&r->answer, result);
    rec = handler_admin_record(r,
                               suspend ? "identity-suspend" : "identity-resume",
                               r->admin, rc == 0 ? result : "refused");
    json_object_set_new(rec, "target",
                        handler_text(w->identity, strlen(w->identity)));
    json_object_set_new(rec, "reason",
                        handler_text(w->reason, strlen(w->reason)));
    if (rc != 0) {
        json_object_set_new(rec, "error", json_string(cust_err_name(rc)));
        json_object_set_new(rec, "detail",
                            json_string(why ? why : cust_err_str(rc)));
        handler_error(r, rc, why ? why : cust_err_str(rc));
    }
    handler_commit(r, rec);
}

int
handler_admin_identity(struct handler_env *env, const struct peer *peer,
                       char *name, size_t len)
{
    const struct conf_identity *id;
    struct policy_caller c;
    int rc = CUST_ERR_DENIED;

    handler_policy_caller(peer, &c);
    pthread_rwlock_rdlock(&env->policy_lock);
    id = policy_admin(env->policy, &c, clock_now());
    if (id != NULL) {
        snprintf(name, len, "%s", id->name);
        rc = 0;
    }
    pthread_rwlock_unlock(&env->policy_lock);
    return rc;
}
