/*
 * Public key construction and encodings. OpenSSL does every encoding it
 * knows (DER, PEM, base64); only the OpenSSH blob is assembled here.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "custodian/error.h"
#include "buf.h"
#include "pubkey.h"

/* Limit on an SSH public key blob: an RSA-16384 key fits comfortably. */

static const char *
pubkey_ec_group(enum alg_keytype type)
{
    switch (type) {
    case ALG_KEY_ECDSA_P256:
        return "prime256v1";
    case ALG_KEY_ECDSA_P384:
        return "secp384r1";
    default:
        return NULL;
    }
}

/*
 * Builds a key of ALGORITHM from PARAMS; 0 or CUST_ERR_ARG. The parts come
 * from a token, which custodian does not trust to be well formed: every
 * key built here is checked before anyone verifies with it.
 */
static int
pubkey_fromdata(const char *algorithm, OSSL_PARAM *params, EVP_PKEY **out)
{
    EVP_PKEY_CTX *ctx;
    EVP_PKEY *key = NULL;
    int ok;

    ctx = EVP_PKEY_CTX_new_from_name(NULL, algorithm, NULL);
    if (ctx == NULL)
        return CUST_ERR_NOMEM;
    ok = EVP_PKEY_fromdata_init(ctx) == 1 &&
         EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok)
        return CUST_ERR_ARG;
    *out = key;
    return 0;
}

/* EVP_PKEY_fromdata does not check that a point is on the curve. */
static int
pubkey_check(EVP_PKEY *key)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    int ok = ctx != NULL && EVP_PKEY_public_check(ctx) == 1;

    EVP_PKEY_CTX_free(ctx);
    return ok ? 0 : CUST_ERR_ARG;
}

int
pubkey_from_ec(enum alg_keytype type, const uint8_t *point, size_t len,
               EVP_PKEY **out)
{
    const char *group = pubkey_ec_group(type);
    EVP_PKEY *key = NULL;
    OSSL_PARAM params[3];
    int rc;

    if (group == NULL || len == 0 || point[0] != 0x04)
        return CUST_ERR_ARG;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *)group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                  (void *)point, len);
    params[2] = OSSL_PARAM_construct_end();

    rc = pubkey_fromdata("EC", params, &key);
    if (rc == 0)
        rc = pubkey_check(key);
    if (rc != 0) {
        EVP_PKEY_free(key);
        return rc;
    }
    *out = key;
    return 0;
}

int
pubkey_from_ed25519(const uint8_t *raw, size_t len, EVP_PKEY **out)
{
    EVP_PKEY *key;

    if (len != 32)
        return CUST_ERR_ARG;
    key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, len);
    if (key == NULL)
        return CUST_ERR_ARG;
    *out = key;
    return 0;
}

int
pubkey_from_rsa(const uint8_t *n, size_t nlen, const uint8_t *e, size_t elen,
                EVP_PKEY **out)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    BIGNUM *bn_n = BN_bin2bn(n, (int)nlen, NULL);
    BIGNUM *bn_e = BN_bin2bn(e, (int)elen, NULL);
    EVP_PKEY *key = NULL;
    int rc = CUST_ERR_NOMEM;

    if (bld == NULL || bn_n == NULL || bn_e == NULL)
        goto out;
    if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) != 1)
        goto out;
    params = OSSL_PARAM_BLD_to_param(bld);
    if (params == NULL)
        goto out;
    rc = pubkey_fromdata("RSA", params, &key);
    if (rc == 0)
        rc = pubkey_check(key); /* odd modulus, sane exponent */
    if (rc == 0) {
        *out = key;
        key = NULL;
    }
out:
    EVP_PKEY_free(key);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    return rc;
}

enum alg_keytype
pubkey_keytype(EVP_PKEY *key)
{
    char group[32];

    if (EVP_PKEY_is_a(key, "ED25519"))
        return ALG_KEY_ED25519;
    if (EVP_PKEY_is_a(key, "RSA")) {
        switch (EVP_PKEY_get_bits(key)) {
        case 2048:
            return ALG_KEY_RSA_2048;
        case 3072:
            return ALG_KEY_RSA_3072;
        case 4096:
            return ALG_KEY_RSA_4096;
        default:
            return ALG_KEY_NONE;
        }
    }
    if (EVP_PKEY_is_a(key, "EC") &&
        EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                       sizeof(group), NULL) == 1) {
        if (strcmp(group, "prime256v1") == 0)
            return ALG_KEY_ECDSA_P256;
        if (strcmp(group, "secp384r1") == 0)
            return ALG_KEY_ECDSA_P384;
    }
    return ALG_KEY_NONE;
}

int
pubkey_spki_der(EVP_PKEY *key, uint8_t **out, size_t *len)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(key, &der);
    uint8_t *copy;

    if (n <= 0)
        return CUST_ERR_INTERNAL;
    copy = malloc((size_t)n);
    if (copy != NULL)
        memcpy(copy, der, (size_t)n);
    OPENSSL_free(der);
    if (copy == NULL)
        return CUST_ERR_NOMEM;
    *out = copy;
    *len = (size_t)n;
    return 0;
}

int
pubkey_spki_pem(EVP_PKEY *key, char **out)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data, *copy = NULL;
    long n;

    if (bio == NULL)
        return CUST_ERR_NOMEM;
    if (PEM_write_bio_PUBKEY(bio, key) == 1) {
        n = BIO_get_mem_data(bio, &data);
        copy = n > 0 ? malloc((size_t)n + 1) : NULL;
        if (copy != NULL) {
            memcpy(copy, data, (size_t)n);
            copy[n] = '\0';
        }
    }
    BIO_free(bio);
    if (copy == NULL)
        return CUST_ERR_NOMEM;
    *out = copy;
    return 0;
}

const char *
pubkey_ssh_name(EVP_PKEY *key)
{
    switch (pubkey_keytype(key)) {
    case ALG_KEY_ED25519:
        return "ssh-ed25519";
    case ALG_KEY_ECDSA_P256:
        return "ecdsa-sha2-nistp256";
    case ALG_KEY_ECDSA_P384:
        return "ecdsa-sha2-nistp384";
    case ALG_KEY_RSA_2048:
    case ALG_KEY_RSA_3072:
    case ALG_KEY_RSA_4096:
        return "ssh-rsa";
    default:
        return NULL;
    }
}

/* Appends the big-endian magnitude of the BIGNUM parameter NAME. */
static int
pubkey_put_bn_param(EVP_PKEY *key, const char *name, struct buf *out)
{
    BIGNUM *bn = NULL;
    uint8_t mag[1024];
    int n, rc = CUST_ERR_INTERNAL;

    if (EVP_PKEY_get_bn_param(key, name, &bn) != 1)
        return CUST_ERR_INTERNAL;
    n = BN_num_bytes(bn);
    if (n >= 0 && (size_t)n <= sizeof(mag) && BN_bn2bin(bn, mag) == n)
        rc = buf_put_mpint(out, mag, (size_t)n);
    BN_free(bn);
    return rc;
}

static int
pubkey_ssh_ec(EVP_PKEY *key, const char *curve, struct buf *out)
{
    uint8_t point[133];
    size_t len = 0;

    if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                        point, sizeof(point), &len) != 1)
        return CUST_ERR_INTERNAL;
    if (buf_put_cstring(out, curve) != 0)
        return buf_status(out);
    return buf_put_string(out, point, len);
}

int
pubkey_ssh_blob(EVP_PKEY *key, struct buf *out)
{
    const char *name = pubkey_ssh_name(key);
    uint8_t raw[32];
    size_t len = sizeof(raw);
    int rc;

    if (name == NULL)
        return CUST_ERR_KEYTYPE;
    if (buf_put_cstring(out, name) != 0)
        return buf_status(out);

    switch (pubkey_keytype(key)) {
    case ALG_KEY_ED25519:
        rc = EVP_PKEY_get_raw_public_key(key, raw, &len) == 1
                 ? buf_put_string(out, raw, len)
                 : CUST_ERR_INTERNAL;
        break;
    case ALG_KEY_ECDSA_P256:
        rc = pubkey_ssh_ec(key, "nistp256", out);
        break;
    case ALG_KEY_ECDSA_P384:
        rc = pubkey_ssh_ec(key, "nistp384", out);
        break;
    default: /* RSA: e before n, as RFC 4253 orders them */
        rc = pubkey_put_bn_param(key, OSSL_PKEY_PARAM_RSA_E, out);
        if (rc == 0)
            rc = pubkey_put_bn_param(key, OSSL_PKEY_PARAM_RSA_N, out);
        break;
    }
    return rc != 0 ? rc : buf_status(out);
}

/*
 * The line is what authorized_keys, allowed_signers and git's "key::"
 * form expect; the base64 is OpenSSL's, unwrapped.
 */
int
pubkey_ssh_line(EVP_PKEY *key, const char *comment, char **out)
{
    struct buf blob;
    size_t b64len, total;
    char *line = NULL;
    int rc;

    buf_init(&blob, PUBKEY_SSH_BLOB_MAX);
    rc = pubkey_ssh_blob(key, &blob);
    if (rc != 0)
        goto out;

    b64len = 4 * ((blob.len + 2) / 3);
    total = strlen(pubkey_ssh_name(key)) + 1 + b64len + 1 +
            (comment != NULL ? 1 + strlen(comment) : 0);
    rc = CUST_ERR_NOMEM;
    line = malloc(total);
    if (line == NULL)
        goto out;
    strcpy(line, pubkey_ssh_name(key));
    strcat(line, " ");
    EVP_EncodeBlock((unsigned char *)line + strlen(line), blob.data,
                    (int)blob.len);
    if (comment != NULL) {
        strcat(line, " ");
        strcat(line, comment);
    }
    *out = line;
    rc = 0;
out:
    buf_free(&blob);
    return rc;
}

int
pubkey_fingerprint(EVP_PKEY *key, char out[PUBKEY_FPR_MAX])
{
    unsigned char digest[32], b64[48];
    struct buf blob;
    int rc, n;

    buf_init(&blob, PUBKEY_SSH_BLOB_MAX);
    rc = pubkey_ssh_blob(key, &blob);
    if (rc == 0 &&
        EVP_Digest(blob.data, blob.len, digest, NULL, EVP_sha256(), NULL) != 1)
        rc = CUST_ERR_INTERNAL;
    buf_free(&blob);
    if (rc != 0)
        return rc;
    n = EVP_EncodeBlock(b64, digest, sizeof(digest)); /* 44, one '=' */
    while (n > 0 && b64[n - 1] == '=')
        n--;
    snprintf(out, PUBKEY_FPR_MAX, "SHA256:%.*s", n, (const char *)b64);
    return 0;
}

int
pubkey_print(FILE *f, const uint8_t *spki, size_t len, int ssh,
             const char *comment)
{
    const unsigned char *p = spki;
    EVP_PKEY *key = d2i_PUBKEY(NULL, &p, (long)len);
    char *line = NULL;
    int rc = CUST_ERR_PROTOCOL;

    if (key == NULL || p != spki + len)
        goto out;
    if (ssh) {
        rc = pubkey_ssh_line(key, comment, &line);
        if (rc == 0 && fprintf(f, "%s\n", line) < 0)
            rc = CUST_ERR_IO;
    } else {
        rc = PEM_write_PUBKEY(f, key) == 1 ? 0 : CUST_ERR_IO;
    }
out:
    free(line);
    EVP_PKEY_free(key);
    return rc;
}
