/*
 * Every byte of a preimage passes through the bounded buffer; the parser
 * accepts exactly the form ssh-keygen -Y sign sends and nothing looser,
 * so that a request it accepts can be judged by its namespace.
 */
#include <string.h>

#include "custodian/error.h"
#include "sigenc.h"
#include "sshsig.h"

#define SSHSIG_MAGIC "SSHSIG"

void
sshsig_put_preimage(struct buf *b, const char *ns, enum alg_digest md,
                    const uint8_t *h, size_t hlen)
{
    buf_put(b, SSHSIG_MAGIC, 6);
    buf_put_cstring(b, ns);
    buf_put_cstring(b, "");
    buf_put_cstring(b, alg_digest_name(md));
    buf_put_string(b, h, hlen);
}

/* A namespace: printable ASCII without spaces, as OpenSSH expects. */
static int
sshsig_namespace_ok(const uint8_t *ns, size_t len)
{
    size_t i;

    if (len == 0 || len > SSHSIG_NAMESPACE_MAX)
        return 0;
    for (i = 0; i < len; i++)
        if (ns[i] <= 0x20 || ns[i] >= 0x7f)
            return 0;
    return 1;
}

int
sshsig_parse(const uint8_t *data, size_t len, struct sshsig_preimage *out)
{
    const uint8_t *ns, *reserved, *alg, *hash;
    size_t nslen, rlen, alglen, hlen;
    uint8_t magic[6];
    enum alg_digest md;
    struct buf b;

    buf_view(&b, data, len);
    buf_get(&b, magic, sizeof(magic));
    buf_get_string(&b, &ns, &nslen, SSHSIG_NAMESPACE_MAX);
    buf_get_string(&b, &reserved, &rlen, 0);
    buf_get_string(&b, &alg, &alglen, 16);
    buf_get_string(&b, &hash, &hlen, ALG_DIGEST_MAX);
    if (buf_status(&b) != 0 || buf_remaining(&b) != 0 ||
        memcmp(magic, SSHSIG_MAGIC, 6) != 0 || !sshsig_namespace_ok(ns, nslen))
        return CUST_ERR_PROTOCOL;
    if (alglen == 6 && memcmp(alg, "sha256", 6) == 0)
        md = ALG_DIGEST_SHA256;
    else if (alglen == 6 && memcmp(alg, "sha512", 6) == 0)
        md = ALG_DIGEST_SHA512;
    else
        return CUST_ERR_PROTOCOL;
    if (hlen != alg_digest_len(md))
        return CUST_ERR_PROTOCOL;
    memcpy(out->ns, ns, nslen);
    out->ns[nslen] = '\0';
    out->md = md;
    out->hash = hash;
    out->hashlen = hlen;
    return 0;
}

enum alg_digest
sshsig_digest(enum alg_keytype type, int rsa_sha256)
{
    switch (type) {
    case ALG_KEY_ECDSA_P256:
        return ALG_DIGEST_SHA256;
    case ALG_KEY_ECDSA_P384:
        return ALG_DIGEST_SHA384;
    case ALG_KEY_ED25519:
        return ALG_DIGEST_NONE;
    default:
        return rsa_sha256 ? ALG_DIGEST_SHA256 : ALG_DIGEST_SHA512;
    }
}

/* The signature algorithm's name in SSH. */
static const char *
sshsig_name(enum alg_keytype type, enum alg_digest md)
{
    if (type == ALG_KEY_ECDSA_P256)
        return "ecdsa-sha2-nistp256";
    if (type == ALG_KEY_ECDSA_P384)
        return "ecdsa-sha2-nistp384";
    if (type == ALG_KEY_ED25519)
        return "ssh-ed25519";
    return md == ALG_DIGEST_SHA256 ? "rsa-sha2-256" : "rsa-sha2-512";
}

int
sshsig_put_signature(struct buf *out, enum alg_keytype type, enum alg_digest md,
                     const uint8_t *sig, size_t siglen)
{
    size_t half = type == ALG_KEY_ECDSA_P256   ? 32
                  : type == ALG_KEY_ECDSA_P384 ? 48
                                               : 0;
    uint8_t raw[96];
    struct buf inner;
    int rc;

    buf_put_cstring(out, sshsig_name(type, md));
    if (half == 0) {
        buf_put_string(out, sig, siglen);
        return buf_status(out);
    }
    /* ECDSA: DER from the token layer, mpint r and s for SSH. */
    if (sigenc_ecdsa_raw(sig, siglen, half, raw) != 0)
        return CUST_ERR_PROTOCOL;
    buf_init(&inner, 2 * (half + 5));
    buf_put_mpint(&inner, raw, half);
    buf_put_mpint(&inner, raw + half, half);
    rc = buf_status(&inner);
    if (rc == 0)
        rc = buf_put_string(out, inner.data, inner.len);
    buf_free(&inner);
    return rc != 0 ? rc : buf_status(out);
}
