/*
 * The verifier trusts nothing in the keyring by itself: every public key
 * file must hash to the fingerprint the manifest gives, and every link of
 * the chain is rebuilt from the manifest and checked against the
 * statement file and its signature.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "custodian/error.h"
#include "transition.h"
#include "verifier.h"

/* Largest keyring file the verifier reads: a manifest of many versions. */
#define VERIFIER_FILE_MAX (16 * 1024 * 1024)

struct verifier {
    char *dir;
    json_t *manifest;
};

static int
vf_fail(char *why, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, VERIFIER_WHY_MAX, fmt, ap);
    va_end(ap);
    return rc;
}

/* Reads DIR/NAME whole (at most VERIFIER_FILE_MAX bytes); NULL if not. */
static char *
vf_read(const char *dir, const char *name, size_t *len)
{
    char path[4096];
    FILE *f;
    char *data = NULL;
    long size;

    if (strchr(name, '/') != NULL ||
        snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        return NULL;
    if ((f = fopen(path, "rb")) == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 &&
        size <= VERIFIER_FILE_MAX && fseek(f, 0, SEEK_SET) == 0 &&
        (data = malloc((size_t)size + 1)) != NULL) {
        *len = fread(data, 1, (size_t)size, f);
        data[*len] = '\0';
        if (*len != (size_t)size) {
            free(data);
            data = NULL;
        }
    }
    fclose(f);
    return data;
}

int
verifier_parse_time(const char *text, time_t *out)
{
    struct tm tm = {0};
    const char *end = text ? strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;

    if (end == NULL || *end != '\0')
        return -1;
    *out = timegm(&tm);
    return 0;
}

int
verifier_open(const char *dir, struct verifier **out,
              char why[VERIFIER_WHY_MAX])
{
    struct verifier *v;
    json_error_t err;
    size_t len = 0;
    char *text = vf_read(dir, "manifest.json", &len);
    json_t *doc;
    const char *fmt = NULL;

    if (text == NULL)
        return vf_fail(why, CUST_ERR_IO, "cannot read %s/manifest.json", dir);
    doc = json_loadb(text, len, 0, &err);
    free(text);
    if (json_unpack(doc, "{s:s}", "format", &fmt) != 0 ||
        strcmp(fmt, "custodian-keyring 1") != 0 ||
        !json_is_array(json_object_get(doc, "keys"))) {
        json_decref(doc);
        return vf_fail(why, CUST_ERR_PROTOCOL,
                       "%s/manifest.json is not a custodian keyring", dir);
    }
    v = calloc(1, sizeof(*v));
    if (v == NULL || (v->dir = strdup(dir)) == NULL) {
        free(v);
        json_decref(doc);
        return vf_fail(why, CUST_ERR_NOMEM, "out of memory");
    }
    v->manifest = doc;
    *out = v;
    return 0;
}

void
verifier_free(struct verifier *v)
{
    if (v == NULL)
        return;
    json_decref(v->manifest);
    free(v->dir);
    free(v);
}

/* --- the manifest ------------------------------------------------------- */

static const json_t *
vf_key(const struct verifier *v, const char *name)
{
    const json_t *k;
    size_t i;

    json_array_foreach(json_object_get(v->manifest, "keys"), i, k)
    {
        if (json_is_string(json_object_get(k, "name")) &&
            strcmp(json_string_value(json_object_get(k, "name")), name) == 0)
            return k;
    }
    return NULL;
}

static uint32_t
vf_number(const json_t *ver)
{
    json_int_t n = json_integer_value(json_object_get(ver, "version"));

    return n > 0 && n <= UINT32_MAX ? (uint32_t)n : 0;
}

static const json_t *
vf_version(const json_t *key, uint32_t n)
{
    const json_t *ver;
    size_t i;

    json_array_foreach(json_object_get(key, "versions"), i, ver)
    {
        if (vf_number(ver) == n)
            return ver;
    }
    return NULL;
}

static const char *
vf_text(const json_t *o, const char *name)
{
    const char *s = json_string_value(json_object_get(o, name));

    return s != NULL ? s : "";
}

/* Time field NAME of VER: 0 and *T if set, 1 if null, -1 if malformed. */
static int
vf_time(const json_t *ver, const char *name, time_t *t)
{
    const json_t *o = json_object_get(ver, name);

    if (o == NULL || json_is_null(o))
        return 1;
    return verifier_parse_time(json_string_value(o), t);
}

/*
 * The public key of VER, read from its PEM file and checked against the
 * fingerprint the manifest gives it. NULL with WHY set if not.
 */
static EVP_PKEY *
vf_pubkey(const struct verifier *v, const json_t *ver, char *why)
{
    const json_t *pk = json_object_get(ver, "public_key");
    char fpr[PUBKEY_FPR_MAX], *pem;
    EVP_PKEY *key = NULL;
    size_t len = 0;
    BIO *bio;

    pem = vf_read(v->dir, vf_text(pk, "pem"), &len);
    bio = pem ? BIO_new_mem_buf(pem, (int)len) : NULL;
    if (bio != NULL)
        key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    free(pem);
    if (key == NULL) {
        vf_fail(why, CUST_ERR_PROTOCOL, "version %u: cannot read %s",
                vf_number(ver), vf_text(pk, "pem"));
        return NULL;
    }
    if (pubkey_fingerprint(key, fpr) != 0 ||
        strcmp(fpr, vf_text(ver, "fingerprint")) != 0) {
        vf_fail(why, CUST_ERR_PROTOCOL,
                "version %u: %s is not the key the manifest names",
                vf_number(ver), vf_text(pk, "pem"));
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}

/* --- the checks --------------------------------------------------------- */

static int
vf_sig_ok(EVP_PKEY *key, const struct verifier_sig *s)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
    const EVP_MD *md = alg_digest_md(s->md);
    int ok = ctx != NULL && md != NULL && EVP_PKEY_verify_init(ctx) == 1 &&
             EVP_PKEY_CTX_set_signature_md(ctx, md) == 1;

    if (ok && s->scheme == ALG_SCHEME_RSA_PSS)
        ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    ok = ok && EVP_PKEY_verify(ctx, s->sig, s->siglen, s->digest, s->dlen) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* The version of KEY whose public key verifies S (S's own if it names
 * one); NULL with WHY set if none does. */
static const json_t *
vf_signer(const struct verifier *v, const json_t *key,
          const struct verifier_sig *s, char *why, int *rc)
{
    const json_t *ver, *found = NULL;
    EVP_PKEY *pk;
    size_t i;

    *rc = CUST_ERR_BAD_SIGNATURE;
    json_array_foreach(json_object_get(key, "versions"), i, ver)
    {
        if (found != NULL || (s->version != 0 && vf_number(ver) != s->version))
            continue;
        /* A version numbered 0, negative or not at all cannot be named
         * as the signer, nor placed in the chain: the keyring is damaged. */
        if (vf_number(ver) == 0) {
            *rc = vf_fail(why, CUST_ERR_PROTOCOL,
                          "key \"%s\" has a version without a valid number",
                          s->key);
            return NULL;
        }
        if ((pk = vf_pubkey(v, ver, why)) == NULL) {
            *rc = CUST_ERR_PROTOCOL;
            return NULL;
        }
        if (vf_sig_ok(pk, s))
            found = ver;
        EVP_PKEY_free(pk);
    }
    if (found == NULL && s->version != 0 && !vf_version(key, s->version))
        *rc = vf_fail(why, CUST_ERR_KEY_NOT_FOUND,
                      "the keyring has no version %u of key \"%s\"", s->version,
                      s->key);
    else if (found == NULL && s->version != 0)
        vf_fail(why, CUST_ERR_BAD_SIGNATURE,
                "the signature does not verify with version %u of key \"%s\"",
                s->version, s->key);
    else if (found == NULL)
        vf_fail(why, CUST_ERR_BAD_SIGNATURE,
                "the signature verifies with no version of key \"%s\"", s->key);
    return found;
}

static void
vf_iso(time_t t, char out[32])
{
    struct tm tm;

    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
}

/* Revocation, the span VER was active, and its verify_until. */
static int
vf_validity(const json_t *ver, const struct verifier_sig *s, char *why)
{
    time_t from = 0, until = 0, revoked = 0, end = 0;
    char a[32], b[32];
    uint32_t n = vf_number(ver);

    /* A time that does not parse must not pass for "not revoked" or
     * "valid for ever": the keyring is damaged. */
    if (vf_time(ver, "revoked", &revoked) < 0 ||
        vf_time(ver, "verify_until", &end) < 0)
        return vf_fail(why, CUST_ERR_PROTOCOL, "version %u: bad time", n);
    if (vf_time(ver, "revoked", &revoked) == 0 && s->time >= revoked) {
        vf_iso(revoked, a);
        return vf_fail(why, CUST_ERR_REVOKED,
                       "version %u was revoked at %s: %s", n, a,
                       vf_text(ver, "revocation_reason"));
    }
    if (vf_time(ver, "valid_after", &from) != 0)
        return vf_fail(why, CUST_ERR_NOT_VALID,
                       "version %u never signed anything", n);
    if (vf_time(ver, "valid_before", &until) < 0)
        return vf_fail(why, CUST_ERR_PROTOCOL, "version %u: bad time", n);
    vf_iso(s->time, a);
    if (s->time < from || (until != 0 && s->time > until)) {
        vf_iso(s->time < from ? from : until, b);
        return vf_fail(why, CUST_ERR_NOT_VALID,
                       "the signature is dated %s, but version %u signs "
                       "%s %s",
                       a, n, s->time < from ? "from" : "until", b);
    }
    if (vf_time(ver, "verify_until", &end) == 0 && s->now > end) {
        vf_iso(end, b);
        return vf_fail(why, CUST_ERR_NOT_VALID,
                       "version %u was valid for verification until %s", n, b);
    }
    return 0;
}

/* Checks the statement that hands KEY over to VER; *BY is its signer. */
static int
vf_link(const struct verifier *v, const json_t *key, const json_t *ver,
        const json_t **by, char *why)
{
    const json_t *st = json_object_get(ver, "statement");
    uint32_t n = vf_number(ver), from;
    char text[TRANSITION_TEXT_MAX], *file = NULL, *sig = NULL;
    size_t flen = 0, slen = 0;
    time_t created = 0, revoked = 0;
    EVP_PKEY *pk = NULL;
    int len, rc = CUST_ERR_CHAIN;

    from = (uint32_t)json_integer_value(json_object_get(st, "signed_by"));
    *by = from > 0 && from < n ? vf_version(key, from) : NULL;
    if (*by == NULL)
        return vf_fail(why, CUST_ERR_CHAIN,
                       "version %u has no transition statement: the chain "
                       "of custody breaks there",
                       n);
    if (vf_time(ver, "created", &created) != 0)
        return vf_fail(why, CUST_ERR_PROTOCOL, "version %u: bad time", n);
    len = transition_text(&(struct transition){vf_text(key, "name"), from, n,
                                               vf_text(*by, "fingerprint"),
                                               vf_text(ver, "fingerprint"),
                                               created},
                          text);
    file = vf_read(v->dir, vf_text(st, "text"), &flen);
    sig = vf_read(v->dir, vf_text(st, "signature"), &slen);
    pk = file && sig && len > 0 ? vf_pubkey(v, *by, why) : NULL;
    if (pk == NULL)
        vf_fail(why, CUST_ERR_CHAIN, "version %u: its statement is missing", n);
    else if (flen != (size_t)len || memcmp(file, text, flen) != 0)
        vf_fail(why, CUST_ERR_CHAIN,
                "version %u: its statement does not say what the manifest "
                "says",
                n);
    else if (transition_verify(pk, text, flen, (uint8_t *)sig, slen) != 0)
        vf_fail(why, CUST_ERR_CHAIN,
                "version %u: its statement is not signed by version %u", n,
                from);
    else if (vf_time(*by, "revoked", &revoked) == 0 && created >= revoked)
        vf_fail(why, CUST_ERR_CHAIN,
                "version %u: vouched for by version %u after its revocation", n,
                from);
    else
        rc = 0;
    EVP_PKEY_free(pk);
    free(file);
    free(sig);
    return rc;
}

/* Follows the statements from VER back to the trusted version. */
static int
vf_chain(const struct verifier *v, const json_t *key, const json_t *ver,
         const char *anchor, char *why)
{
    const json_t *first = json_array_get(json_object_get(key, "versions"), 0);
    const json_t *by, *o = NULL;
    uint32_t trusted, signer = vf_number(ver);
    size_t i;
    int rc;

    if (anchor == NULL)
        anchor = vf_text(first, "fingerprint");
    json_array_foreach(json_object_get(key, "versions"), i, o)
    {
        if (strcmp(vf_text(o, "fingerprint"), anchor) == 0)
            break;
    }
    if (i == json_array_size(json_object_get(key, "versions")))
        return vf_fail(why, CUST_ERR_CHAIN,
                       "the trusted key %s is no version of key \"%s\"", anchor,
                       vf_text(key, "name"));
    trusted = vf_number(o);
    while (strcmp(vf_text(ver, "fingerprint"), anchor) != 0) {
        if (vf_number(ver) < trusted)
            return vf_fail(why, CUST_ERR_CHAIN,
                           "the trusted version %u does not vouch, through "
                           "the statements, for version %u, which signed",
                           trusted, signer);
        if ((rc = vf_link(v, key, ver, &by, why)) != 0)
            return rc;
        ver = by;
    }
    return 0;
}

int
verifier_check(struct verifier *v, const struct verifier_sig *s,
               uint32_t *version, char why[VERIFIER_WHY_MAX])
{
    const json_t *key = vf_key(v, s->key), *ver;
    int rc;

    if (key == NULL)
        return vf_fail(why, CUST_ERR_KEY_NOT_FOUND,
                       "the keyring has no key \"%s\"", s->key);
    if ((ver = vf_signer(v, key, s, why, &rc)) == NULL)
        return rc;
    rc = vf_validity(ver, s, why);
    if (rc == 0)
        rc = vf_chain(v, key, ver, s->anchor, why);
    if (rc == 0)
        *version = vf_number(ver);
    return rc;
}
