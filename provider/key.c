/*
 * A custodian key as the provider holds it, and the two requests the
 * provider makes of custodiand: a key's public key, and a signature.
 * Each request has its own connection, so that a key can be used from
 * any thread, and from a child after fork, without sharing a socket.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "prov.h"

#define KEY_CLIENT "openssl-provider custodian " CUSTODIAN_VERSION

/* The socket a connection goes to, for error messages. */
static const char *
key_socket(const struct prov_ctx *pc)
{
    return cust_socket_path(pc->socket);
}

static int
key_connect(struct prov_ctx *pc, struct cust_conn **c)
{
    const char *path = pc->socket[0] != '\0' ? pc->socket : NULL;
    int rc = cust_connect_timeout(path, KEY_CLIENT, pc->timeout_s * 1000, c);
    int err = errno;

    if (rc == CUST_ERR_IO)
        PROV_ERR(pc, rc, "cannot reach custodiand at %s: %s", key_socket(pc),
                 strerror(err));
    else if (rc == CUST_ERR_ARG)
        PROV_ERR(pc, rc, "socket path too long: %s", key_socket(pc));
    else if (rc == CUST_ERR_TIMEOUT)
        PROV_ERR(pc, rc, "custodiand at %s did not answer within %u s",
                 key_socket(pc), pc->timeout_s);
    else if (rc != 0)
        PROV_ERR(pc, rc, "custodiand at %s refused the connection",
                 key_socket(pc));
    return rc;
}

/* Puts why custodiand gave no WHAT ("its public key", "a signature")
 * for KEY on the error queue. */
static void
key_refused(struct prov_ctx *pc, struct cust_conn *c, int rc, const char *key,
            const char *what)
{
    const char *msg = cust_message(c);

    if (rc == CUST_ERR_IO)
        PROV_ERR(pc, rc,
                 "key %s: custodiand at %s closed the connection before it "
                 "sent %s",
                 key, key_socket(pc), what);
    else if (rc == CUST_ERR_TIMEOUT)
        PROV_ERR(pc, rc, "key %s: custodiand at %s did not send %s within %u s",
                 key, key_socket(pc), what, pc->timeout_s);
    else if (*msg != '\0')
        PROV_ERR(pc, rc, "key %s: custodiand refused %s: %s", key, what, msg);
    else
        PROV_ERR(pc, rc, "key %s: custodiand refused %s", key, what);
}

static int
key_kind(const char *type, enum prov_kind *out)
{
    if (strncmp(type, "ecdsa-", 6) == 0)
        *out = PROV_EC;
    else if (strcmp(type, "ed25519") == 0)
        *out = PROV_ED25519;
    else if (strncmp(type, "rsa-", 4) == 0)
        *out = PROV_RSA;
    else
        return CUST_ERR_KEYTYPE;
    return 0;
}

const char *
prov_key_type_name(const struct prov_key *k)
{
    switch (k->kind) {
    case PROV_EC:
        return "EC";
    case PROV_ED25519:
        return "ED25519";
    default:
        return "RSA";
    }
}

/* Makes K's public key from the daemon's DER SubjectPublicKeyInfo. */
static int
key_public(struct prov_key *k, const uint8_t *spki, size_t len)
{
    const unsigned char *p = spki;

    if (key_kind(k->info.type, &k->kind) != 0) {
        PROV_ERR(k->pc, CUST_ERR_KEYTYPE, "key %s: unknown type %s",
                 k->info.name, k->info.type);
        return CUST_ERR_KEYTYPE;
    }
    k->pub = d2i_PUBKEY_ex(NULL, &p, (long)len, k->pc->libctx, NULL);
    if (k->pub == NULL || p != spki + len ||
        !EVP_PKEY_is_a(k->pub, prov_key_type_name(k))) {
        PROV_ERR(k->pc, CUST_ERR_PROTOCOL,
                 "key %s: the daemon's public key is not a %s key",
                 k->info.name, k->info.type);
        return CUST_ERR_PROTOCOL;
    }
    return 0;
}

int
prov_key_load(struct prov_ctx *pc, const char *name, struct prov_key **out)
{
    uint8_t spki[PROV_SPKI_MAX];
    struct cust_conn *c = NULL;
    struct prov_key *k = calloc(1, sizeof(*k));
    size_t len = 0;
    int rc;

    if (k == NULL) {
        PROV_ERR(pc, CUST_ERR_NOMEM, "out of memory");
        return CUST_ERR_NOMEM;
    }
    atomic_init(&k->refs, 1);
    k->pc = pc;
    rc = key_connect(pc, &c);
    if (rc == 0) {
        rc = cust_pubkey(c, name, &k->info, spki, sizeof(spki), &len);
        if (rc != 0)
            key_refused(pc, c, rc, name, "its public key");
    }
    cust_close(c);
    if (rc == 0)
        rc = key_public(k, spki, len);
    if (rc != 0) {
        prov_key_unref(k);
        return rc;
    }
    *out = k;
    return 0;
}

struct prov_key *
prov_key_ref(struct prov_key *k)
{
    atomic_fetch_add(&k->refs, 1);
    return k;
}

void
prov_key_unref(struct prov_key *k)
{
    if (k == NULL || atomic_fetch_sub(&k->refs, 1) != 1)
        return;
    EVP_PKEY_free(k->pub);
    free(k);
}

/* The answer is K's loaded version, and fits in SIGSIZE bytes. */
static int
key_check_answer(struct prov_key *k, const struct cust_signature *s,
                 size_t sigsize)
{
    if (s->key.version != k->info.version) {
        PROV_ERR(k->pc, CUST_ERR_NOT_VALID,
                 "key %s: version %u signed, but version %u was loaded; "
                 "the key was rotated since, so the signature would not "
                 "match the public key in use: load the key again",
                 k->info.name, s->key.version, k->info.version);
        return CUST_ERR_NOT_VALID;
    }
    if (s->siglen > sigsize) {
        PROV_ERR(k->pc, CUST_ERR_TOO_BIG,
                 "key %s: a %zu-byte signature does not fit in %zu bytes",
                 k->info.name, s->siglen, sigsize);
        return CUST_ERR_TOO_BIG;
    }
    return 0;
}

/* XXX: a connection per signature costs a connect and a hello each
 * time (docs/limitations.md). */
int
prov_key_sign(struct prov_key *k, const struct prov_sign_req *r, uint8_t *sig,
              size_t *siglen, size_t sigsize)
{
    const char *ns = r->ns != NULL && *r->ns != '\0' ? r->ns : k->pc->ns;
    struct cust_sign_req req = {
        .key = k->info.name,
        .digest = r->digest,
        .data = r->data,
        .len = r->len,
        .scheme = r->scheme,
        .ns = *ns != '\0' ? ns : NULL,
    };
    struct cust_conn *c = NULL;
    struct cust_signature s;
    int rc = key_connect(k->pc, &c);

    if (rc == 0) {
        rc = cust_sign(c, &req, &s);
        if (rc != 0)
            key_refused(k->pc, c, rc, k->info.name, "a signature");
    }
    cust_close(c);
    if (rc == 0)
        rc = key_check_answer(k, &s, sigsize);
    if (rc != 0)
        return rc;
    memcpy(sig, s.sig, s.siglen);
    *siglen = s.siglen;
    return 0;
}
