/*
 * The custodian OpenSSL provider: what its files share.
 *
 * The provider holds no key material. A key here is a name, the public
 * key custodiand reported for it, and the right to ask custodiand for a
 * signature over libcustodian's socket. Every private operation is a
 * request to the daemon, under the caller's identity, policy and audit.
 */
#ifndef CUSTODIAN_PROV_H
#define CUSTODIAN_PROV_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/evp.h>

#include "custodian/client.h"

#define PROV_NAME        "custodian"
#define PROV_PROPS       "provider=custodian"
#define PROV_URI_SCHEME  "custodian:"
#define PROV_NAME_MAX    64    /* key names and namespaces, as custodiand's */
#define PROV_SOCKET_MAX  107   /* a Unix socket's path */
#define PROV_MESSAGE_MAX 16384 /* the longest Ed25519 message signed */
#define PROV_SPKI_MAX    2048  /* the largest public key, DER */
#define PROV_TIMEOUT_S   30    /* the wait for an answer, by default */

struct prov_ctx {
    const OSSL_CORE_HANDLE *handle; /* the core's handle for this instance */
    /* The core's error functions, by which errors reach its queue. */
    OSSL_FUNC_core_new_error_fn *new_error;
    OSSL_FUNC_core_set_error_debug_fn *set_error_debug;
    OSSL_FUNC_core_vset_error_fn *vset_error;
    OSSL_LIB_CTX *libctx; /* ours, with the default provider only: public
                             keys, digests and encodings, never this
                             provider, so nothing here calls back in */
    OSSL_PROVIDER *deflt; /* the default provider, loaded into libctx */
    char socket[PROV_SOCKET_MAX + 1]; /* the daemon's socket; "" for
                                         libcustodian's */
    char ns[PROV_NAME_MAX + 1];       /* the namespace requests name; ""
                                         for none */
    unsigned timeout_s;               /* the wait for an answer */
};

enum prov_kind {
    PROV_EC,
    PROV_ED25519,
    PROV_RSA,
};

struct prov_key {
    atomic_int refs;      /* the store and each EVP_PKEY hold one */
    struct prov_ctx *pc;  /* the provider that loaded it */
    enum prov_kind kind;  /* from the daemon's key type */
    struct cust_key info; /* the key as the daemon described it at load,
                             its active version then included */
    EVP_PKEY *pub;        /* its public key, in pc->libctx */
};

/* One signing request, as the signature operations build it. */
struct prov_sign_req {
    const char *digest;  /* sha256, sha384, sha512; NULL for Ed25519 */
    const uint8_t *data; /* the digest, or for Ed25519 the message */
    size_t len;
    const char *scheme; /* ecdsa, ed25519, rsa-pkcs1, rsa-pss */
    const char *ns;     /* the namespace; NULL or "" for the provider's */
};

/*
 * Puts custodian error CODE on OpenSSL's error queue with a message
 * (printf-style FMT). The reason code is -CODE; its text is custodian's.
 */
void prov_error_at(const struct prov_ctx *pc, int code, const char *file,
                   int line, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
#define PROV_ERR(pc, code, ...)                                                \
    prov_error_at((pc), (code), __FILE__, __LINE__, __func__, __VA_ARGS__)

/* Asks the daemon for KEY's public key; *OUT holds one reference. On
 * failure the reason is on OpenSSL's error queue. */
int prov_key_load(struct prov_ctx *pc, const char *name, struct prov_key **out);
struct prov_key *prov_key_ref(struct prov_key *k);
void prov_key_unref(struct prov_key *k);
/* The OpenSSL key type name for K: "EC", "ED25519" or "RSA". */
const char *prov_key_type_name(const struct prov_key *k);

/*
 * Has the daemon sign R with K, into SIG (SIGSIZE bytes), *SIGLEN set.
 * Fails, with the reason on the error queue, if the daemon refuses or if
 * a version other than the one loaded signed (the key was rotated since).
 */
int prov_key_sign(struct prov_key *k, const struct prov_sign_req *r,
                  uint8_t *sig, size_t *siglen, size_t sigsize);

/* The dispatch tables, one per operation and algorithm. */
extern const OSSL_DISPATCH prov_store_functions[];
extern const OSSL_DISPATCH prov_ec_keymgmt_functions[];
extern const OSSL_DISPATCH prov_ed25519_keymgmt_functions[];
extern const OSSL_DISPATCH prov_rsa_keymgmt_functions[];
extern const OSSL_DISPATCH prov_ecdsa_signature_functions[];
extern const OSSL_DISPATCH prov_ed25519_signature_functions[];
extern const OSSL_DISPATCH prov_rsa_signature_functions[];

#endif
