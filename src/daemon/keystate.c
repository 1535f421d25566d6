/*
 * The key-version model and its state file. The file is JSON, written
 * whole on every change through a synced temporary file and a rename, so
 * that a crash leaves the old state or the new one and never a mixture;
 * its loader trusts nothing it reads.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "b64.h"
#include "custodian/error.h"
#include "keystate.h"
#include "savefile.h"

/* The state file's format number; a file of another is refused. */
#define KEYSTATE_FORMAT 1

/* Most versions one key may have: a bound on what a file can make us
 * allocate, far past a century of monthly rotations. */
#define KEYSTATE_VERSIONS_MAX 10000

static const char *const keystate_names[] = {
    [KEYSTATE_PENDING] = "pending", [KEYSTATE_ACTIVE] = "active",
    [KEYSTATE_RETIRED] = "retired", [KEYSTATE_DESTROYED] = "destroyed",
    [KEYSTATE_REVOKED] = "revoked",
};

static const char *const keystate_intents[] = {
    [KEYSTATE_INTENT_NONE] = NULL,
    [KEYSTATE_INTENT_GENERATE] = "generate",
    [KEYSTATE_INTENT_DESTROY] = "destroy",
};

const char *
keystate_state_name(enum keystate_state s)
{
    if ((size_t)s >= sizeof(keystate_names) / sizeof(keystate_names[0]))
        return "unknown";
    return keystate_names[s];
}

int
keystate_state_from_name(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(keystate_names) / sizeof(keystate_names[0]); i++)
        if (strcmp(keystate_names[i], name) == 0)
            return (int)i;
    return -1;
}

void
keystate_free(struct keystate *s)
{
    size_t i;

    if (s == NULL)
        return;
    for (i = 0; i < s->n; i++)
        free(s->keys[i].versions);
    free(s->keys);
    free(s);
}

struct keystate *
keystate_dup(const struct keystate *s)
{
    struct keystate *d = calloc(1, sizeof(*d));
    size_t i, n;

    if (d == NULL || (d->keys = calloc(s->n + 1, sizeof(*d->keys))) == NULL)
        goto out;
    for (i = 0; i < s->n; i++, d->n++) {
        d->keys[i] = s->keys[i];
        n = s->keys[i].n;
        d->keys[i].versions = calloc(n + 1, sizeof(*d->keys[i].versions));
        if (d->keys[i].versions == NULL)
            goto out;
        if (n > 0)
            memcpy(d->keys[i].versions, s->keys[i].versions,
                   n * sizeof(*d->keys[i].versions));
    }
    return d;
out:
    keystate_free(d);
    return NULL;
}

struct keystate_key *
keystate_key(struct keystate *s, const char *name, int add)
{
    struct keystate_key *keys;
    size_t i;

    for (i = 0; i < s->n; i++)
        if (strcmp(s->keys[i].name, name) == 0)
            return &s->keys[i];
    if (!add || strlen(name) > CONF_NAME_MAX)
        return NULL;
    keys = realloc(s->keys, (s->n + 1) * sizeof(*keys));
    if (keys == NULL)
        return NULL;
    s->keys = keys;
    memset(&keys[s->n], 0, sizeof(keys[s->n]));
    memcpy(keys[s->n].name, name, strlen(name) + 1);
    return &keys[s->n++];
}

struct keystate_version *
keystate_version(const struct keystate_key *k, uint32_t v)
{
    size_t i;

    for (i = 0; i < k->n; i++)
        if (k->versions[i].version == v)
            return &k->versions[i];
    return NULL;
}

static struct keystate_version *
keystate_in(const struct keystate_key *k, enum keystate_state state)
{
    size_t i;

    for (i = 0; i < k->n; i++)
        if (k->versions[i].state == state)
            return &k->versions[i];
    return NULL;
}

struct keystate_version *
keystate_active(const struct keystate_key *k)
{
    return keystate_in(k, KEYSTATE_ACTIVE);
}

struct keystate_version *
keystate_pending(const struct keystate_key *k)
{
    return keystate_in(k, KEYSTATE_PENDING);
}

/* --- the schedule ------------------------------------------------------ */

static int
keystate_busy(const struct keystate_key *k)
{
    size_t i;

    for (i = 0; i < k->n; i++)
        if (k->versions[i].intent != KEYSTATE_INTENT_NONE)
            return 1;
    return 0;
}

static void
keystate_sooner(time_t *next, time_t t)
{
    if (*next == 0 || t < *next)
        *next = t;
}

/* The oldest retired version whose private key is due for deletion. */
static void
keystate_plan_destroy(const struct keystate_key *k,
                      const struct keystate_rotation *r, time_t now,
                      struct keystate_step *step, time_t *next)
{
    const struct keystate_version *v;
    size_t i;

    if (r->destroy_after == 0)
        return;
    for (i = 0; i < k->n; i++) {
        v = &k->versions[i];
        if (v->state != KEYSTATE_RETIRED)
            continue;
        if (v->retired + r->destroy_after > now) {
            keystate_sooner(next, v->retired + r->destroy_after);
        } else if (step->kind == KEYSTATE_STEP_NONE) {
            step->kind = KEYSTATE_STEP_DESTROY;
            step->version = v->version;
        }
    }
}

/*
 * The next version is generated PUBLISH_AHEAD before the active one's
 * period ends, and activated when the period ends, but never sooner than
 * PUBLISH_AHEAD after it was published: a daemon that was down past the
 * rotation time still gives verifiers their notice. A key left without
 * an active version (retired or revoked by hand) is replaced at once.
 */
static void
keystate_plan_rotate(const struct keystate_key *k,
                     const struct keystate_rotation *r, time_t now,
                     struct keystate_step *step, time_t *next)
{
    const struct keystate_version *a = keystate_active(k);
    const struct keystate_version *p = keystate_pending(k);
    time_t due;

    if (a == NULL) {
        step->kind = p ? KEYSTATE_STEP_ACTIVATE : KEYSTATE_STEP_GENERATE;
        step->version = p ? p->version : k->versions[k->n - 1].version + 1;
        return;
    }
    due = a->activated + r->period;
    if (p != NULL && p->created + r->publish_ahead > due)
        due = p->created + r->publish_ahead;
    if (p == NULL)
        due = a->activated + r->period - r->publish_ahead;
    if (due > now) {
        keystate_sooner(next, due);
        return;
    }
    step->kind = p ? KEYSTATE_STEP_ACTIVATE : KEYSTATE_STEP_GENERATE;
    step->version = p ? p->version : k->versions[k->n - 1].version + 1;
}

void
keystate_plan(const struct keystate_key *k, const struct keystate_rotation *r,
              time_t now, struct keystate_step *step, time_t *next)
{
    step->kind = KEYSTATE_STEP_NONE;
    step->version = 0;
    *next = 0;
    if (k == NULL || k->n == 0 || keystate_busy(k))
        return;
    if (r->period > 0)
        keystate_plan_rotate(k, r, now, step, next);
    if (step->kind == KEYSTATE_STEP_NONE)
        keystate_plan_destroy(k, r, now, step, next);
    if (step->kind != KEYSTATE_STEP_NONE)
        *next = now;
}

/* --- changes ------------------------------------------------------------ */

int
keystate_begin(struct keystate_key *k, enum keystate_state state, time_t now,
               struct keystate_version **out)
{
    struct keystate_version *vs, *v;

    if (state != KEYSTATE_PENDING && state != KEYSTATE_ACTIVE)
        return CUST_ERR_ARG;
    if ((state == KEYSTATE_ACTIVE) != (k->n == 0) || keystate_busy(k))
        return CUST_ERR_ARG;
    if (state == KEYSTATE_PENDING && keystate_pending(k) != NULL)
        return CUST_ERR_ARG;
    if (k->n >= KEYSTATE_VERSIONS_MAX)
        return CUST_ERR_TOO_BIG;
    vs = realloc(k->versions, (k->n + 1) * sizeof(*vs));
    if (vs == NULL)
        return CUST_ERR_NOMEM;
    k->versions = vs;
    v = &vs[k->n];
    memset(v, 0, sizeof(*v));
    v->version = k->n == 0 ? 1 : vs[k->n - 1].version + 1;
    v->state = state;
    v->intent = KEYSTATE_INTENT_GENERATE;
    v->created = now;
    if (state == KEYSTATE_ACTIVE)
        v->activated = now;
    k->n++;
    *out = v;
    return 0;
}

int
keystate_generated(struct keystate_key *k, uint32_t v, const char *fingerprint)
{
    struct keystate_version *kv = keystate_version(k, v);

    if (kv == NULL || kv->intent != KEYSTATE_INTENT_GENERATE ||
        strlen(fingerprint) >= sizeof(kv->fingerprint))
        return CUST_ERR_ARG;
    memcpy(kv->fingerprint, fingerprint, strlen(fingerprint) + 1);
    kv->intent = KEYSTATE_INTENT_NONE;
    return 0;
}

int
keystate_set_pubkey(struct keystate_key *k, uint32_t v, const uint8_t *der,
                    size_t len)
{
    struct keystate_version *kv = keystate_version(k, v);

    if (kv == NULL)
        return CUST_ERR_ARG;
    return b64_encode(der, len, kv->pubkey, sizeof(kv->pubkey));
}

int
keystate_set_statement(struct keystate_key *k, uint32_t v, uint32_t signer,
                       const uint8_t *sig, size_t siglen)
{
    struct keystate_version *kv = keystate_version(k, v);
    int rc;

    if (kv == NULL || signer == 0 || signer >= v)
        return CUST_ERR_ARG;
    rc = b64_encode(sig, siglen, kv->statement_sig, sizeof(kv->statement_sig));
    if (rc == 0)
        kv->signer = signer;
    return rc;
}

int
keystate_abandon(struct keystate_key *k, uint32_t v)
{
    if (k->n == 0 || k->versions[k->n - 1].version != v ||
        k->versions[k->n - 1].intent != KEYSTATE_INTENT_GENERATE)
        return CUST_ERR_ARG;
    k->n--;
    return 0;
}

int
keystate_activate(struct keystate_key *k, uint32_t v, time_t now)
{
    struct keystate_version *p = keystate_version(k, v);
    struct keystate_version *a = keystate_active(k);

    if (p == NULL || p->state != KEYSTATE_PENDING ||
        p->intent != KEYSTATE_INTENT_NONE)
        return CUST_ERR_ARG;
    if (a != NULL) {
        a->state = KEYSTATE_RETIRED;
        a->retired = now;
    }
    p->state = KEYSTATE_ACTIVE;
    p->activated = now;
    return 0;
}

int
keystate_retire(struct keystate_key *k, uint32_t v, time_t now)
{
    struct keystate_version *kv = keystate_version(k, v);

    if (kv == NULL || kv->intent != KEYSTATE_INTENT_NONE ||
        (kv->state != KEYSTATE_ACTIVE && kv->state != KEYSTATE_PENDING))
        return CUST_ERR_ARG;
    kv->state = KEYSTATE_RETIRED;
    kv->retired = now;
    return 0;
}

int
keystate_begin_destroy(struct keystate_key *k, uint32_t v)
{
    struct keystate_version *kv = keystate_version(k, v);

    if (kv == NULL || kv->intent != KEYSTATE_INTENT_NONE ||
        kv->destroyed != 0 ||
        (kv->state != KEYSTATE_RETIRED && kv->state != KEYSTATE_REVOKED))
        return CUST_ERR_ARG;
    kv->intent = KEYSTATE_INTENT_DESTROY;
    return 0;
}

int
keystate_destroyed(struct keystate_key *k, uint32_t v, time_t now)
{
    struct keystate_version *kv = keystate_version(k, v);

    if (kv == NULL || kv->intent != KEYSTATE_INTENT_DESTROY)
        return CUST_ERR_ARG;
    kv->intent = KEYSTATE_INTENT_NONE;
    /* A revoked version stays revoked: that is what verifiers must see. */
    if (kv->state != KEYSTATE_REVOKED)
        kv->state = KEYSTATE_DESTROYED;
    kv->destroyed = now;
    return 0;
}

int
keystate_revoke(struct keystate_key *k, uint32_t v, time_t now,
                const char *reason)
{
    struct keystate_version *kv = keystate_version(k, v);

    if (kv == NULL || kv->state == KEYSTATE_DESTROYED ||
        kv->state == KEYSTATE_REVOKED || kv->intent != KEYSTATE_INTENT_NONE)
        return CUST_ERR_ARG;
    if (kv->state == KEYSTATE_ACTIVE || kv->state == KEYSTATE_PENDING)
        kv->retired = now;
    kv->state = KEYSTATE_REVOKED;
    kv->revoked = now;
    snprintf(kv->reason, sizeof(kv->reason), "%s", reason ? reason : "");
    return 0;
}

/* --- the file ----------------------------------------------------------- */

static json_t *
keystate_version_json(const struct keystate_version *v)
{
    json_t *o = json_pack(
        "{s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:s}", "version",
        (json_int_t)v->version, "state", keystate_state_name(v->state),
        "created", (json_int_t)v->created, "activated",
        (json_int_t)v->activated, "retired", (json_int_t)v->retired,
        "destroyed", (json_int_t)v->destroyed, "revoked",
        (json_int_t)v->revoked, "fingerprint", v->fingerprint);

    if (o != NULL && v->intent != KEYSTATE_INTENT_NONE)
        json_object_set_new(o, "intent",
                            json_string(keystate_intents[v->intent]));
    if (o != NULL && v->reason[0] != '\0')
        json_object_set_new(o, "reason", json_string(v->reason));
    if (o != NULL && v->pubkey[0] != '\0')
        json_object_set_new(o, "pubkey", json_string(v->pubkey));
    if (o != NULL && v->signer != 0) {
        json_object_set_new(o, "signer", json_integer(v->signer));
        json_object_set_new(o, "statement_signature",
                            json_string(v->statement_sig));
    }
    return o;
}

static json_t *
keystate_json(const struct keystate *s)
{
    json_t *keys = json_array(), *versions;
    size_t i, j;

    for (i = 0; keys != NULL && i < s->n; i++) {
        versions = json_array();
        for (j = 0; versions != NULL && j < s->keys[i].n; j++)
            json_array_append_new(
                versions, keystate_version_json(&s->keys[i].versions[j]));
        json_array_append_new(keys,
                              json_pack("{s:s, s:o}", "name", s->keys[i].name,
                                        "versions", versions));
    }
    return json_pack("{s:i, s:o}", "format", KEYSTATE_FORMAT, "keys", keys);
}

int
keystate_save(const struct keystate *s, const char *path)
{
    json_t *doc = keystate_json(s);
    char *text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    size_t len = text ? strlen(text) : 0;
    char *line = text ? realloc(text, len + 2) : NULL;
    int rc, saved;

    json_decref(doc);
    if (line == NULL) {
        free(text);
        return CUST_ERR_NOMEM;
    }
    memcpy(line + len, "\n", 2); /* ends with a newline, like a text file */
    text = line;
    rc = savefile_replace(path, text, len + 1);
    saved = errno;
    free(text);
    errno = saved;
    return rc;
}

/* --- loading ------------------------------------------------------------ */

static int
keystate_bad(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return CUST_ERR_CONFIG;
}

static int
keystate_time(const json_t *o, const char *name, time_t *out)
{
    const json_t *t = json_object_get(o, name);

    if (!json_is_integer(t) || json_integer_value(t) < 0)
        return -1;
    *out = (time_t)json_integer_value(t);
    return 0;
}

static int
keystate_intent_from(const json_t *o, enum keystate_intent *out)
{
    const json_t *t = json_object_get(o, "intent");

    *out = KEYSTATE_INTENT_NONE;
    if (t == NULL)
        return 0;
    if (json_is_string(t) && strcmp(json_string_value(t), "generate") == 0)
        *out = KEYSTATE_INTENT_GENERATE;
    else if (json_is_string(t) && strcmp(json_string_value(t), "destroy") == 0)
        *out = KEYSTATE_INTENT_DESTROY;
    else
        return -1;
    return 0;
}

static int
keystate_text(const json_t *o, const char *name, char *out, size_t size)
{
    const json_t *t = json_object_get(o, name);

    out[0] = '\0';
    if (t == NULL)
        return 0;
    if (!json_is_string(t) || json_string_length(t) >= size)
        return -1;
    memcpy(out, json_string_value(t), json_string_length(t) + 1);
    return 0;
}

/* "signer": an earlier version, present exactly when a signature is. */
static int
keystate_signer(const json_t *o, struct keystate_version *v)
{
    const json_t *t = json_object_get(o, "signer");

    v->signer = 0;
    if (t == NULL)
        return v->statement_sig[0] == '\0' ? 0 : -1;
    if (!json_is_integer(t) || json_integer_value(t) < 1 ||
        json_integer_value(t) >= (json_int_t)v->version ||
        v->statement_sig[0] == '\0')
        return -1;
    v->signer = (uint32_t)json_integer_value(t);
    return 0;
}

static int
keystate_read_version(const json_t *o, struct keystate_version *v)
{
    const json_t *num = json_object_get(o, "version");
    const json_t *st = json_object_get(o, "state");
    int state;

    if (!json_is_integer(num) || json_integer_value(num) < 1 ||
        json_integer_value(num) > UINT32_MAX || !json_is_string(st))
        return -1;
    state = keystate_state_from_name(json_string_value(st));
    if (state < 0)
        return -1;
    v->version = (uint32_t)json_integer_value(num);
    v->state = (enum keystate_state)state;
    if (keystate_time(o, "created", &v->created) != 0 ||
        keystate_time(o, "activated", &v->activated) != 0 ||
        keystate_time(o, "retired", &v->retired) != 0 ||
        keystate_time(o, "destroyed", &v->destroyed) != 0 ||
        keystate_time(o, "revoked", &v->revoked) != 0 ||
        keystate_intent_from(o, &v->intent) != 0 ||
        keystate_text(o, "fingerprint", v->fingerprint,
                      sizeof(v->fingerprint)) != 0 ||
        keystate_text(o, "reason", v->reason, sizeof(v->reason)) != 0 ||
        keystate_text(o, "pubkey", v->pubkey, sizeof(v->pubkey)) != 0 ||
        keystate_text(o, "statement_signature", v->statement_sig,
                      sizeof(v->statement_sig)) != 0 ||
        keystate_signer(o, v) != 0)
        return -1;
    return 0;
}

/* Versions ascend, and at most one is active and one pending. */
static int
keystate_check_key(const struct keystate_key *k)
{
    size_t i, active = 0, pending = 0;

    for (i = 0; i < k->n; i++) {
        if (i > 0 && k->versions[i].version <= k->versions[i - 1].version)
            return -1;
        active += k->versions[i].state == KEYSTATE_ACTIVE;
        pending += k->versions[i].state == KEYSTATE_PENDING;
    }
    return active > 1 || pending > 1 ? -1 : 0;
}

static int
keystate_read_key(struct keystate *s, const json_t *o, char *why, size_t whylen)
{
    const json_t *name = json_object_get(o, "name");
    const json_t *vs = json_object_get(o, "versions");
    struct keystate_key *k;
    size_t i;

    if (!json_is_string(name) || !json_is_array(vs))
        return keystate_bad(why, whylen, "a key without name or versions");
    if (keystate_key(s, json_string_value(name), 0) != NULL)
        return keystate_bad(why, whylen, "key \"%.64s\" appears twice",
                            json_string_value(name));
    if (json_array_size(vs) > KEYSTATE_VERSIONS_MAX)
        return keystate_bad(why, whylen, "key \"%.64s\": too many versions",
                            json_string_value(name));
    k = keystate_key(s, json_string_value(name), 1);
    if (k == NULL)
        return keystate_bad(why, whylen, "key name \"%.64s\" is too long",
                            json_string_value(name));
    k->versions = calloc(json_array_size(vs) + 1, sizeof(*k->versions));
    if (k->versions == NULL)
        return CUST_ERR_NOMEM;
    for (i = 0; i < json_array_size(vs); i++, k->n++)
        if (keystate_read_version(json_array_get(vs, i), &k->versions[i]))
            return keystate_bad(why, whylen,
                                "key \"%s\": version entry %zu "
                                "is malformed",
                                k->name, i + 1);
    if (keystate_check_key(k) != 0)
        return keystate_bad(why, whylen,
                            "key \"%s\": versions out of order, "
                            "or more than one active or pending",
                            k->name);
    return 0;
}

static int
keystate_parse(const char *path, json_t *doc, struct keystate *s, char *why,
               size_t whylen)
{
    const json_t *fmt = json_object_get(doc, "format");
    const json_t *keys = json_object_get(doc, "keys");
    size_t i;
    int rc;

    if (!json_is_integer(fmt) || json_integer_value(fmt) != KEYSTATE_FORMAT ||
        !json_is_array(keys))
        return keystate_bad(why, whylen,
                            "%s: not a key state file of "
                            "format %d",
                            path, KEYSTATE_FORMAT);
    for (i = 0; i < json_array_size(keys); i++) {
        rc = keystate_read_key(s, json_array_get(keys, i), why, whylen);
        if (rc == CUST_ERR_CONFIG) {
            char inner[256];
            snprintf(inner, sizeof(inner), "%s", why);
            snprintf(why, whylen, "%s: %s", path, inner);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

int
keystate_load(const char *path, struct keystate **out, char *why, size_t whylen)
{
    struct keystate *s = calloc(1, sizeof(*s));
    json_error_t jerr;
    json_t *doc;
    int rc;

    if (s == NULL)
        return CUST_ERR_NOMEM;
    doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL && access(path, F_OK) != 0 && errno == ENOENT) {
        *out = s;
        return 0;
    }
    if (doc == NULL && access(path, R_OK) != 0) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        rc = CUST_ERR_IO;
    } else if (doc == NULL)
        rc = keystate_bad(why, whylen, "%s:%d: %s", path, jerr.line, jerr.text);
    else
        rc = keystate_parse(path, doc, s, why, whylen);
    json_decref(doc);
    if (rc != 0) {
        keystate_free(s);
        return rc;
    }
    *out = s;
    return 0;
}
