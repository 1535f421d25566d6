/*
 * libcustodian: the client side of custodiand's signing protocol
 * (docs/protocol.md). Every custodian client uses it; none of them
 * touches PKCS#11.
 *
 * A connection is used by one thread at a time. Calls block until the
 * daemon answers. Functions return 0 or a negative custodian error
 * (custodian/error.h); when the daemon refused a request, its message
 * is in cust_message(). CUST_ERR_IO means the connection failed, and
 * errno says how (ECONNRESET when the daemon closed it).
 */
#ifndef CUSTODIAN_CLIENT_H
#define CUSTODIAN_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "custodian/error.h"

/* Where the daemon listens unless $CUSTODIAN_SOCKET says otherwise. */
#define CUST_SOCKET_DEFAULT "/run/custodian/sign.sock"

struct cust_conn;

/* The socket cust_connect() would reach for PATH: PATH itself, else
 * $CUSTODIAN_SOCKET, else CUST_SOCKET_DEFAULT. */
CUST_API const char *cust_socket_path(const char *path);

struct cust_key {
    char name[65];
    char type[17];        /* ecdsa-p256, ed25519, rsa-2048, ... */
    uint32_t version;     /* the active version */
    char fingerprint[65]; /* SHA256:... as ssh-keygen -l prints it */
};

struct cust_sign_req {
    const char *key;
    const char *digest;  /* sha256, sha384, sha512; NULL for Ed25519 */
    const uint8_t *data; /* the digest, or for Ed25519 the message */
    size_t len;
    const char *scheme;         /* NULL for the key's own */
    const char *ns;             /* namespace, or NULL */
    const char *const *context; /* name, value, name, value, ..., NULL */
};

struct cust_signature {
    struct cust_key key; /* the key and version that signed */
    char scheme[17];
    uint8_t sig[1024];
    size_t siglen;
    uint64_t time; /* UTC second it was made, as the daemon dates it */
};

/*
 * Connects to the daemon at PATH (NULL: $CUSTODIAN_SOCKET, else
 * CUST_SOCKET_DEFAULT) and says hello as NAME ("custodian-sign 0.1.0").
 * Returns 0 and *OUT, CUST_ERR_IO if the socket cannot be reached (errno
 * says why), CUST_ERR_ARG if PATH is too long, or the daemon's refusal.
 */
CUST_API int cust_connect(const char *path, const char *name,
                          struct cust_conn **out);

/*
 * As cust_connect(), but every later send and receive on the connection
 * (the hello included) gives up after TIMEOUT_MS milliseconds with
 * CUST_ERR_TIMEOUT; 0 waits for ever. A connection that timed out is of
 * no further use: close it. The daemon may still carry out a request
 * whose answer came too late.
 */
CUST_API int cust_connect_timeout(const char *path, const char *name,
                                  unsigned timeout_ms, struct cust_conn **out);

/* Closes the connection; accepts NULL. */
CUST_API void cust_close(struct cust_conn *c);

/* The keys this caller may list: at most MAX into KEYS, *N set. */
CUST_API int cust_list(struct cust_conn *c, struct cust_key *keys, size_t max,
                       size_t *n);

/* KEY's description and DER public key (at most MAX bytes). */
CUST_API int cust_pubkey(struct cust_conn *c, const char *key,
                         struct cust_key *info, uint8_t *spki, size_t max,
                         size_t *len);

/* Signs REQ; the signature and the key version that made it in *OUT. */
CUST_API int cust_sign(struct cust_conn *c, const struct cust_sign_req *req,
                       struct cust_signature *out);

/* Where the admin socket is unless $CUSTODIAN_ADMIN_SOCKET says otherwise;
 * cust_connect() takes its path for the calls below. */
#define CUST_ADMIN_SOCKET_DEFAULT "/run/custodian/admin.sock"

struct cust_status {
    char version[65];
    uint32_t connections, inflight, keys;
    int degraded; /* the audit log is failing: nothing is signed */
    uint64_t audit_records, audit_syncs;
};

/* Admin socket: the daemon's state. */
CUST_API int cust_status(struct cust_conn *c, struct cust_status *out);

/* Admin socket: reloads the configuration; the daemon's refusal (the
 * reason in cust_message()) keeps the policy in force. */
CUST_API int cust_reload(struct cust_conn *c);

/*
 * Admin socket: ACTION "suspend" stops identity NAME of the policy from
 * being served from its next request on, connections already open
 * included, until "resume"; REASON (may be NULL) is kept with the
 * suspension and shown to the identity's callers. The suspension is kept
 * across restarts. RESULT (at least 257 bytes, may be NULL) receives what
 * happened: "suspended", "already suspended", "resumed" or "not
 * suspended". CUST_ERR_ARG: no such identity, or an unknown action.
 */
CUST_API int cust_identity_change(struct cust_conn *c, const char *name,
                                  const char *action, const char *reason,
                                  char *result);

/* Admin socket: generates KEY, declared in the configuration and not on
 * its token yet; its description and DER public key as cust_pubkey().
 * CUST_ERR_KEY_EXISTS if it is there already. (cust_pubkey() on the admin
 * socket reads any created key.) */
CUST_API int cust_key_create(struct cust_conn *c, const char *key,
                             struct cust_key *info, uint8_t *spki, size_t max,
                             size_t *len);

/* One version of a key, as the admin socket reports it. Times are UTC
 * seconds, 0 for a step not taken. */
struct cust_version {
    uint32_t version;
    char state[17]; /* pending, active, retired, destroyed, revoked */
    uint64_t created, activated, retired, destroyed, revoked;
    char fingerprint[65];
    char reason[257]; /* why it was revoked, or "" */
};

/* Admin socket: KEY's description (its active version, 0 if none) and
 * its versions, oldest first: at most MAX into V, *N set. */
CUST_API int cust_key_versions(struct cust_conn *c, const char *key,
                               struct cust_key *info, struct cust_version *v,
                               size_t max, size_t *n);

/* Admin socket: makes a new version of KEY active now (a pending one if
 * there is one, else a new one generated on the token); the new active
 * version and its DER public key as cust_pubkey(). */
CUST_API int cust_key_rotate(struct cust_conn *c, const char *key,
                             struct cust_key *info, uint8_t *spki, size_t max,
                             size_t *len);

/* Admin socket: ACTION ("retire", "revoke" or "destroy") on version
 * VERSION of KEY; REASON for a revocation (else NULL). Answers the key's
 * versions after the change, as cust_key_versions(). */
CUST_API int cust_key_change(struct cust_conn *c, const char *key,
                             uint32_t version, const char *action,
                             const char *reason, struct cust_key *info,
                             struct cust_version *v, size_t max, size_t *n);

/*
 * Admin socket: the report WHAT, "inventory" (JSON, docs/operations.md)
 * or "metrics" (Prometheus text), fetched whole in as many requests as
 * it takes. Returns 0 and *OUT, NUL-terminated, of *LEN bytes (free it
 * with free()), or a custodian error: CUST_ERR_TOO_BIG past 16 MiB.
 */
CUST_API int cust_report(struct cust_conn *c, const char *what, char **out,
                         size_t *len);

/* The daemon's message for the last refusal on C, or "". */
CUST_API const char *cust_message(const struct cust_conn *c);

#endif
