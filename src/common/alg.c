/*
 * Names and properties of key types, digests and signature schemes.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "custodian/error.h"
#include "alg.h"

struct alg_name {
    int id;
    const char *name;
};

static const struct alg_name alg_keytypes[] = {
    {ALG_KEY_ECDSA_P256, "ecdsa-p256"}, {ALG_KEY_ECDSA_P384, "ecdsa-p384"},
    {ALG_KEY_ED25519, "ed25519"},       {ALG_KEY_RSA_2048, "rsa-2048"},
    {ALG_KEY_RSA_3072, "rsa-3072"},     {ALG_KEY_RSA_4096, "rsa-4096"},
};

/*
 * SHA-1 is absent on purpose: chosen-prefix collisions make a SHA-1
 * signature over an artifact worth little, so its name is refused like
 * any unknown one.
 */
static const struct alg_name alg_digests[] = {
    {ALG_DIGEST_SHA256, "sha256"},
    {ALG_DIGEST_SHA384, "sha384"},
    {ALG_DIGEST_SHA512, "sha512"},
};

static const struct alg_name alg_schemes[] = {
    {ALG_SCHEME_ECDSA, "ecdsa"},
    {ALG_SCHEME_ED25519, "ed25519"},
    {ALG_SCHEME_RSA_PKCS1, "rsa-pkcs1"},
    {ALG_SCHEME_RSA_PSS, "rsa-pss"},
};

#define ALG_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int
alg_find(const struct alg_name *t, size_t n, const char *name)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strcmp(t[i].name, name) == 0)
            return t[i].id;
    }
    return 0;
}

static const char *
alg_name_of(const struct alg_name *t, size_t n, int id)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (t[i].id == id)
            return t[i].name;
    }
    return "none";
}

int
alg_keytype_from_name(const char *name)
{
    int id = alg_find(alg_keytypes, ALG_COUNT(alg_keytypes), name);

    return id != 0 ? id : CUST_ERR_KEYTYPE;
}

int
alg_digest_from_name(const char *name)
{
    int id = alg_find(alg_digests, ALG_COUNT(alg_digests), name);

    return id != 0 ? id : CUST_ERR_DIGEST;
}

int
alg_scheme_from_name(const char *name)
{
    int id = alg_find(alg_schemes, ALG_COUNT(alg_schemes), name);

    return id != 0 ? id : CUST_ERR_SCHEME;
}

const char *
alg_keytype_name(enum alg_keytype type)
{
    return alg_name_of(alg_keytypes, ALG_COUNT(alg_keytypes), (int)type);
}

const char *
alg_digest_name(enum alg_digest md)
{
    return alg_name_of(alg_digests, ALG_COUNT(alg_digests), (int)md);
}

const char *
alg_scheme_name(enum alg_scheme scheme)
{
    return alg_name_of(alg_schemes, ALG_COUNT(alg_schemes), (int)scheme);
}

size_t
alg_digest_len(enum alg_digest md)
{
    switch (md) {
    case ALG_DIGEST_SHA256:
        return 32;
    case ALG_DIGEST_SHA384:
        return 48;
    case ALG_DIGEST_SHA512:
        return 64;
    default:
        return 0;
    }
}

const EVP_MD *
alg_digest_md(enum alg_digest md)
{
    switch (md) {
    case ALG_DIGEST_SHA256:
        return EVP_sha256();
    case ALG_DIGEST_SHA384:
        return EVP_sha384();
    case ALG_DIGEST_SHA512:
        return EVP_sha512();
    default:
        return NULL;
    }
}

int
alg_keytype_is_rsa(enum alg_keytype type)
{
    return alg_keytype_rsa_bits(type) != 0;
}

unsigned
alg_keytype_rsa_bits(enum alg_keytype type)
{
    switch (type) {
    case ALG_KEY_RSA_2048:
        return 2048;
    case ALG_KEY_RSA_3072:
        return 3072;
    case ALG_KEY_RSA_4096:
        return 4096;
    default:
        return 0;
    }
}

enum alg_scheme
alg_default_scheme(enum alg_keytype type)
{
    switch (type) {
    case ALG_KEY_ECDSA_P256:
    case ALG_KEY_ECDSA_P384:
        return ALG_SCHEME_ECDSA;
    case ALG_KEY_ED25519:
        return ALG_SCHEME_ED25519;
    case ALG_KEY_RSA_2048:
    case ALG_KEY_RSA_3072:
    case ALG_KEY_RSA_4096:
        return ALG_SCHEME_RSA_PKCS1;
    default:
        return ALG_SCHEME_NONE;
    }
}

/*
 * RSA keys may sign PKCS#1 v1.5 or PSS; an EC or Ed25519 key has exactly
 * one scheme. Using one key for two schemes is refused for non-RSA keys
 * because nothing needs it.
 */
int
alg_scheme_fits(enum alg_keytype type, enum alg_scheme scheme)
{
    if (alg_keytype_is_rsa(type))
        return scheme == ALG_SCHEME_RSA_PKCS1 || scheme == ALG_SCHEME_RSA_PSS
                   ? 0
                   : CUST_ERR_SCHEME;
    if (scheme != ALG_SCHEME_NONE && scheme == alg_default_scheme(type))
        return 0;
    return CUST_ERR_SCHEME;
}

int
alg_digest_compute(enum alg_digest md, const void *data, size_t len,
                   uint8_t *out)
{
    const EVP_MD *evp = alg_digest_md(md);

    if (evp == NULL)
        return CUST_ERR_DIGEST;
    if (EVP_Digest(data, len, out, NULL, evp, NULL) != 1)
        return CUST_ERR_INTERNAL;
    return 0;
}

int
alg_digest_file(enum alg_digest md, const char *path, uint8_t *out, size_t *len)
{
    const EVP_MD *evp = alg_digest_md(md);
    EVP_MD_CTX *ctx = evp ? EVP_MD_CTX_new() : NULL;
    uint8_t chunk[65536];
    int fd = evp ? open(path, O_RDONLY | O_CLOEXEC) : -1, err = 0;
    unsigned n = 0;
    ssize_t got = -1;
    int ok = 0;

    if (ctx != NULL && fd >= 0 && EVP_DigestInit_ex(ctx, evp, NULL) == 1) {
        while ((got = read(fd, chunk, sizeof(chunk))) > 0)
            if (EVP_DigestUpdate(ctx, chunk, (size_t)got) != 1)
                break;
        ok = got == 0 && EVP_DigestFinal_ex(ctx, out, &n) == 1;
    }
    err = errno;
    if (fd >= 0)
        close(fd);
    EVP_MD_CTX_free(ctx);
    if (evp == NULL)
        return CUST_ERR_DIGEST;
    if (!ok) {
        errno = err;
        return CUST_ERR_IO;
    }
    *len = n;
    return 0;
}
