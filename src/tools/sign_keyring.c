/*
 * The two signature files custodian-sign writes carry different amounts:
 * a JSON bundle names the key, version, digest and time; a der file is
 * the signature alone, so the key comes from --key, the time from --at,
 * and the version is whichever one verifies.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "b64.h"
#include "custodian/error.h"
#include "sign_keyring.h"
#include "verifier.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* What a signature file gave, and the buffers it points into. */
struct sk_input {
    struct verifier_sig sig;
    char key[65];
    uint8_t digest[ALG_DIGEST_MAX], sigbuf[1024];
};

static int
sk_unreadable(const char *what, const char *path)
{
    fprintf(stderr, "custodian-sign: %s: %s\n", path, what);
    return EXIT_USAGE;
}

/* A JSON bundle: every field custodian-sign wrote, or -1. */
static int
sk_bundle(json_t *doc, struct sk_input *in)
{
    const char *key, *md, *scheme, *hex, *sig, *when;
    json_int_t version;
    long dlen = 0;
    uint8_t *d;
    int rc = -1;

    if (json_unpack(doc, "{s:s, s:I, s:s, s:s, s:s, s:s, s:s}", "key", &key,
                    "version", &version, "algorithm", &scheme, "digest_alg",
                    &md, "digest", &hex, "signature", &sig, "time",
                    &when) != 0 ||
        strlen(key) >= sizeof(in->key) || version < 1 || version > UINT32_MAX ||
        alg_digest_from_name(md) <= 0 ||
        verifier_parse_time(when, &in->sig.time) != 0 ||
        b64_decode(sig, in->sigbuf, sizeof(in->sigbuf), &in->sig.siglen) != 0)
        return -1;
    d = OPENSSL_hexstr2buf(hex, &dlen);
    if (d != NULL && (size_t)dlen <= sizeof(in->digest)) {
        memcpy(in->digest, d, (size_t)dlen);
        in->sig.dlen = (size_t)dlen;
        rc = 0;
    }
    OPENSSL_free(d);
    strcpy(in->key, key);
    in->sig.version = (uint32_t)version;
    in->sig.md = alg_digest_from_name(md);
    in->sig.scheme = alg_scheme_from_name(scheme) > 0
                         ? (enum alg_scheme)alg_scheme_from_name(scheme)
                         : ALG_SCHEME_NONE;
    return rc;
}

/* A der signature file, with what the command line says of it. */
static int
sk_der(const char *path, const struct sign_keyring_args *a, struct sk_input *in)
{
    FILE *f = fopen(path, "rb");

    if (f == NULL)
        return -1;
    in->sig.siglen = fread(in->sigbuf, 1, sizeof(in->sigbuf), f);
    fclose(f);
    if (in->sig.siglen == 0 || strlen(a->key) >= sizeof(in->key))
        return -1;
    strcpy(in->key, a->key);
    in->sig.md = alg_digest_from_name(a->digest);
    in->sig.time = time(NULL);
    return 0;
}

/* Reads SIG (either kind) and checks the file's digest against it. */
static int
sk_input(const char *file, const struct sign_keyring_args *a,
         struct sk_input *in)
{
    uint8_t h[ALG_DIGEST_MAX];
    json_t *doc = json_load_file(a->signature, 0, NULL);
    size_t hlen;
    int rc;

    if (doc == NULL && a->key == NULL) {
        fprintf(stderr,
                "custodian-sign: %s is not a JSON bundle; a der signature "
                "needs --key NAME (an SSH signature is checked with "
                "ssh-keygen and the keyring's allowed_signers)\n",
                a->signature);
        return EXIT_USAGE;
    }
    rc = doc != NULL ? sk_bundle(doc, in) : sk_der(a->signature, a, in);
    json_decref(doc);
    if (rc != 0)
        return sk_unreadable(doc != NULL ? "a JSON bundle that lacks a field "
                                           "custodian-sign writes"
                                         : "empty or too long for a signature",
                             a->signature);
    in->sig.key = in->key;
    in->sig.sig = in->sigbuf;
    if (alg_digest_file(in->sig.md, file, h, &hlen) != 0)
        return sk_unreadable(strerror(errno), file);
    if (doc == NULL) {
        memcpy(in->digest, h, hlen);
        in->sig.dlen = hlen;
    } else if (hlen != in->sig.dlen || memcmp(h, in->digest, hlen) != 0) {
        printf("%s: BAD signature [CUST_ERR_BAD_SIGNATURE]: the file is not "
               "the one signed (its digest differs)\n",
               file);
        return EXIT_FAIL;
    }
    in->sig.digest = in->digest;
    return EXIT_OK;
}

int
sign_keyring_verify(const char *file, const struct sign_keyring_args *a)
{
    struct sk_input in = {0};
    struct verifier *v = NULL;
    char why[VERIFIER_WHY_MAX];
    uint32_t version = 0;
    time_t at = 0;
    int rc, bundle;

    if (a->at != NULL && verifier_parse_time(a->at, &at) != 0) {
        fprintf(stderr,
                "custodian-sign: --at %s: not a UTC time such as "
                "2026-10-30T12:00:00Z\n",
                a->at);
        return EXIT_USAGE;
    }
    if (a->anchor != NULL && strncmp(a->anchor, "SHA256:", 7) != 0) {
        fprintf(stderr,
                "custodian-sign: --anchor %s: not a fingerprint "
                "such as SHA256:IOytUl... (see the manifest)\n",
                a->anchor);
        return EXIT_USAGE;
    }
    if (verifier_open(a->keyring, &v, why) != 0)
        return sk_unreadable(why, a->keyring);
    rc = sk_input(file, a, &in);
    bundle = in.sig.version != 0; /* only a bundle names its version */
    if (rc != EXIT_OK) {
        verifier_free(v);
        return rc;
    }
    in.sig.anchor = a->anchor;
    in.sig.now = time(NULL);
    if (!bundle && a->at != NULL)
        in.sig.time = at;
    rc = verifier_check(v, &in.sig, &version, why);
    verifier_free(v);
    if (rc != 0) {
        printf("%s: BAD signature [%s]: %s%s\n", file, cust_err_name(rc), why,
               rc == CUST_ERR_NOT_VALID && !bundle && a->at == NULL
                   ? " (a der signature carries no time: it was checked as "
                     "made now; give --at)"
                   : "");
        return rc == CUST_ERR_PROTOCOL ? EXIT_USAGE : EXIT_FAIL;
    }
    printf("%s: good signature by %s version %u\n", file, in.key, version);
    return EXIT_OK;
}
