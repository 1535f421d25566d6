/*
 * Agent requests on workers. A key is named on this socket by its public
 * key blob; only the active versions' blobs (made once, when a version is
 * published) are compared, so only an active version can be asked for.
 */
#include <string.h>

#include "agent.h"
#include "clock.h"
#include "custodian/error.h"
#include "sshsig.h"
#include "token.h"

/* Keys one identities answer lists at most.
 * XXX: a caller allowed more keys is offered only the first 64. */
#define AGENT_KEYS_MAX 64

/* Starts a frame of TYPE in OUT; *START is where its length goes. */
static void
agent_begin(struct buf *out, uint8_t type, size_t *start)
{
    *start = out->len;
    buf_put_u32(out, 0);
    buf_put_u8(out, type);
}

static void
agent_end(struct buf *out, size_t start)
{
    buf_patch_u32(out, start, (uint32_t)(out->len - start - 4));
}

void
agent_put_failure(struct buf *out)
{
    size_t start;

    agent_begin(out, AGENT_FAILURE, &start);
    agent_end(out, start);
}

int
agent_get_sign(struct buf *body, struct handler_req *r)
{
    const uint8_t *blob, *data;
    size_t bloblen, datalen;

    buf_get_string(body, &blob, &bloblen, sizeof(r->blob));
    buf_get_string(body, &data, &datalen, sizeof(r->data));
    buf_get_u32(body, &r->flags);
    if (buf_status(body) != 0 || buf_remaining(body) != 0)
        return CUST_ERR_PROTOCOL;
    memcpy(r->blob, blob, bloblen);
    r->bloblen = bloblen;
    memcpy(r->data, data, datalen);
    r->sign.data = r->data;
    r->sign.datalen = datalen;
    return 0;
}

void
agent_list(struct handler_req *r, const struct policy_caller *c)
{
    struct policy_request pr = {.op = CONF_OP_LIST};
    struct policy_decision d = {0}, last = {.grant = -1};
    const struct keystore_key *k;
    const struct keystore_version *v;
    json_t *names = json_array(), *rec;
    char comment[CONF_NAME_MAX + 16];
    struct buf blobs;
    uint32_t n = 0;
    size_t i, start;

    buf_init(&blobs, WIRE_FRAME_MAX);
    for (i = 0; (k = keystore_at(r->env->keys, i)) != NULL; i++) {
        pr.key = k->name;
        if (n == AGENT_KEYS_MAX ||
            (v = keystore_acquire(r->env->keys, k->name)) == NULL)
            continue;
        if (policy_decide(r->env->policy, c, &pr, clock_now(), 0, &d) == 0) {
            snprintf(comment, sizeof(comment), "%s@%u", k->name, v->version);
            buf_put_string(&blobs, v->sshblob.data, v->sshblob.len);
            buf_put_cstring(&blobs, comment);
            json_array_append_new(names, json_string(k->name));
            last = d;
            n++;
        }
        keystore_release(v);
    }
    if (n == 0)
        last = d; /* the last refusal explains the empty list */
    handler_alerts(r, NULL, &last, 0); /* judged, as handler_list() */
    agent_begin(&r->answer, AGENT_IDENTITIES_ANSWER, &start);
    buf_put_u32(&r->answer, n);
    buf_put(&r->answer, blobs.data, blobs.len);
    agent_end(&r->answer, start);
    buf_free(&blobs);
    rec = handler_record(r, "list", &last, 0);
    json_object_set_new(rec, "front", json_string("agent"));
    json_object_set_new(rec, "decision", json_string("allow"));
    json_object_set_new(rec, "keys", names);
    handler_commit(r, rec);
}

/* The active version whose blob R names, acquired; NULL if none. */
static const struct keystore_version *
agent_find(struct handler_req *r)
{
    const struct keystore_key *k;
    const struct keystore_version *v;
    size_t i;

    for (i = 0; (k = keystore_at(r->env->keys, i)) != NULL; i++) {
        if ((v = keystore_acquire(r->env->keys, k->name)) == NULL)
            continue;
        if (v->sshblob.len == r->bloblen &&
            memcmp(v->sshblob.data, r->blob, r->bloblen) == 0)
            return v;
        keystore_release(v);
    }
    return NULL;
}

/* The digest SSH signs R's data with by a key of TYPE. */
static enum alg_digest
agent_digest(const struct handler_req *r, enum alg_keytype type)
{
    return sshsig_digest(type, (r->flags & AGENT_RSA_SHA2_256) != 0 &&
                                   (r->flags & AGENT_RSA_SHA2_512) == 0);
}

/* Signs R's data as SSH does with V, and puts the SIGN_RESPONSE. */
static int
agent_do_sign(struct handler_req *r, const struct keystore_version *v,
              json_t *rec)
{
    enum alg_keytype type = v->key->type;
    enum alg_digest md = agent_digest(r, type);
    uint8_t digest[ALG_DIGEST_MAX], sig[ALG_SIG_MAX];
    size_t siglen = 0, start;
    struct buf blob;
    int rc;

    if (md == ALG_DIGEST_NONE) {
        rc = token_sign_message(v->tk, ALG_SCHEME_ED25519, md, r->sign.data,
                                r->sign.datalen, sig, &siglen);
    } else {
        rc = alg_digest_compute(md, r->sign.data, r->sign.datalen, digest);
        if (rc == 0)
            rc = token_sign_digest(v->tk, alg_default_scheme(type), md, digest,
                                   alg_digest_len(md), sig, &siglen);
    }
    if (rc != 0) {
        handler_token_failed(v, rc, rec);
        return rc;
    }
    buf_init(&blob, 2 * ALG_SIG_MAX);
    rc = sshsig_put_signature(&blob, type, md, sig, siglen);
    if (rc == 0) {
        agent_begin(&r->answer, AGENT_SIGN_RESPONSE, &start);
        buf_put_string(&r->answer, blob.data, blob.len);
        agent_end(&r->answer, start);
        rc = buf_status(&r->answer);
    }
    buf_free(&blob);
    json_object_set_new(rec, "scheme",
                        json_string(alg_scheme_name(alg_default_scheme(type))));
    json_object_set_new(rec, "signature", handler_hex(sig, siglen));
    json_object_set_new(
        rec, "signed_at",
        json_integer((json_int_t)keystore_signed_at(v, clock_now())));
    return rc;
}

/*
 * What the policy is asked: to sign for the namespace of the preimage P
 * of R's data, or, for data that is not one (an SSH login challenge), for
 * the operation "ssh-auth", which no grant has unless it says so.
 */
static int
agent_decide(struct handler_req *r, const struct policy_caller *c,
             const struct keystore_version *v, const struct sshsig_preimage *p,
             struct policy_decision *d)
{
    enum alg_keytype type = v->key->type;
    struct policy_request pr = {.op = CONF_OP_SIGN,
                                .key = v->key->name,
                                .digest = p->md,
                                .scheme = alg_default_scheme(type),
                                .ns = p->ns};

    if (p->hash == NULL) {
        pr.op = CONF_OP_SSH_AUTH;
        pr.digest = agent_digest(r, type);
        pr.ns = NULL;
    }

    return policy_decide(r->env->policy, c, &pr, clock_now(),
                         (double)r->start.tv_sec + r->start.tv_nsec / 1e9, d);
}

void
agent_sign(struct handler_req *r, const struct policy_caller *c)
{
    const struct keystore_version *v = agent_find(r);
    struct policy_decision d = {.result = CUST_ERR_DENIED, .grant = -1};
    struct sshsig_preimage p = {.md = ALG_DIGEST_NONE};
    int rc = v != NULL ? 0 : CUST_ERR_KEY_NOT_FOUND;
    json_t *rec;

    if (v != NULL)
        snprintf(r->key, sizeof(r->key), "%s", v->key->name);
    snprintf(d.reason, sizeof(d.reason), "%s",
             "no active version has this public key");
    /* Not an SSH signature: an SSH login, for "ssh-auth" grants only. */
    if (rc == 0 && sshsig_parse(r->sign.data, r->sign.datalen, &p) != 0)
        p = (struct sshsig_preimage){.md = ALG_DIGEST_NONE};
    if (rc == 0) {
        rc = agent_decide(r, c, v, &p, &d);
        rc = handler_alerts(r, r->key, &d, rc);
    }
    rec = handler_record(r, "sign", &d, rc);
    json_object_set_new(rec, "front", json_string("agent"));
    json_object_set_new(rec, "version",
                        v ? json_integer(v->version) : json_null());
    json_object_set_new(rec, "fingerprint",
                        v ? json_string(v->fingerprint) : json_null());
    json_object_set_new(rec, "namespace",
                        p.ns[0] ? handler_text(p.ns, strlen(p.ns))
                                : json_null());
    json_object_set_new(rec, "hash_alg",
                        json_string(p.md ? alg_digest_name(p.md) : "none"));
    json_object_set_new(rec, "digest",
                        p.hash ? handler_hex(p.hash, p.hashlen)
                               : handler_hex(r->sign.data, r->sign.datalen));
    json_object_set_new(rec, "ssh_auth", json_boolean(v && p.hash == NULL));
    if (rc == 0)
        rc = agent_do_sign(r, v, rec);
    if (rc != 0) {
        json_object_set_new(rec, "error", json_string(cust_err_name(rc)));
        handler_error(r, rc, d.reason);
    }
    keystore_release(v);
    handler_commit(r, rec);
}
