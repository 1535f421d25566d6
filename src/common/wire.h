/*
 * The native signing protocol (docs/protocol.md): frames, message types,
 * and the encoding and decoding of every message body, shared by the
 * daemon and the client library.
 *
 * Decoders read from a struct buf and never past it; every string is
 * checked against its named limit before it is used, and text fields are
 * copied into NUL-terminated arrays only after checking they hold no NUL
 * byte. Binary fields (digests, signatures, keys) stay views into the
 * buffer. All functions return 0 or a negative custodian error:
 * CUST_ERR_PROTOCOL for a malformed body, CUST_ERR_TOO_BIG for a field
 * over its limit.
 */
#ifndef CUSTODIAN_WIRE_H
#define CUSTODIAN_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define WIRE_VERSION 1

/* A frame: uint32 length of what follows, uint8 type, body. */
#define WIRE_HEADER    4
#define WIRE_FRAME_MAX 65536 /* type and body, at most */

/* Field limits, in bytes. */
#define WIRE_NAME_MAX      64    /* key names, client names */
#define WIRE_ALG_MAX       16    /* digest and scheme names */
#define WIRE_NS_MAX        64    /* namespace */
#define WIRE_CTX_MAX       16    /* context pairs in one request */
#define WIRE_CTX_NAME_MAX  32    /* a context name: [a-z0-9_.-] */
#define WIRE_CTX_VALUE_MAX 256   /* a context value */
#define WIRE_DATA_MAX      16384 /* a digest, or a message for Ed25519 */
#define WIRE_SIG_MAX       1024  /* a signature */
#define WIRE_PUBKEY_MAX    2048  /* a SubjectPublicKeyInfo */
#define WIRE_MESSAGE_MAX   256   /* an error message, a ping payload */
#define WIRE_FPR_MAX       64    /* "SHA256:" and 43 base64 characters */
#define WIRE_VERSIONS_MAX  64    /* versions in one VERSIONS answer */
#define WIRE_STATE_MAX     16    /* a version's state name */
#define WIRE_REPORT_PART   60000 /* bytes of a report in one REPORT_OK */
#define WIRE_REPORT_MAX    (16 * 1024 * 1024) /* a whole report */

enum wire_type {
    WIRE_HELLO = 0x01,
    WIRE_PING = 0x02,
    WIRE_LIST = 0x03,
    WIRE_PUBKEY = 0x04,
    WIRE_SIGN = 0x05,

    /* The admin socket only. */
    WIRE_STATUS = 0x10,
    WIRE_RELOAD = 0x11,
    WIRE_KEY_CREATE = 0x12,
    WIRE_KEY_VERSIONS = 0x13,
    WIRE_KEY_ROTATE = 0x14,
    WIRE_KEY_CHANGE = 0x15,
    WIRE_IDENTITY_CHANGE = 0x16,
    WIRE_REPORT = 0x17,

    WIRE_HELLO_OK = 0x81,
    WIRE_PONG = 0x82,
    WIRE_KEYS = 0x83,
    WIRE_PUBKEY_OK = 0x84,
    WIRE_SIGNATURE = 0x85,
    WIRE_STATUS_OK = 0x90,
    WIRE_RELOAD_OK = 0x91,
    WIRE_VERSIONS = 0x93,
    WIRE_IDENTITY_OK = 0x96,
    WIRE_REPORT_OK = 0x97,
    WIRE_ERROR = 0xff,
};

struct wire_hello {
    uint32_t version;
    char name[WIRE_NAME_MAX + 1]; /* client or server name and version */
    uint32_t frame_max;           /* HELLO_OK only */
    uint32_t inflight_max;        /* HELLO_OK only */
};

struct wire_ctx {
    char name[WIRE_CTX_NAME_MAX + 1];
    char value[WIRE_CTX_VALUE_MAX + 1];
};

struct wire_sign {
    char key[WIRE_NAME_MAX + 1];
    char digest[WIRE_ALG_MAX + 1]; /* "" for Ed25519 */
    const uint8_t *data;           /* view into the frame */
    size_t datalen;
    char scheme[WIRE_ALG_MAX + 1]; /* "" for the key's own */
    char ns[WIRE_NS_MAX + 1];      /* "" for none */
    struct wire_ctx ctx[WIRE_CTX_MAX];
    uint32_t nctx;
};

/* One key as LIST, PUBKEY and SIGN answers describe it. */
struct wire_keyinfo {
    char name[WIRE_NAME_MAX + 1];
    char type[WIRE_ALG_MAX + 1];
    uint32_t version;
    char fingerprint[WIRE_FPR_MAX + 1];
};

struct wire_signature {
    struct wire_keyinfo key;
    char scheme[WIRE_ALG_MAX + 1];
    const uint8_t *sig; /* view into the frame */
    size_t siglen;
    uint64_t time; /* UTC second it was made, within the version's span */
};

/* What the admin socket's STATUS answers. */
struct wire_status {
    char version[WIRE_NAME_MAX + 1];
    uint32_t connections;
    uint32_t inflight;
    uint32_t keys;
    uint8_t degraded; /* the audit log is failing */
    uint64_t audit_records;
    uint64_t audit_syncs;
};

/* One version of a key, as KEY_VERSIONS answers; times in UTC seconds,
 * 0 for a step not (yet) taken. */
struct wire_version {
    uint32_t version;
    char state[WIRE_STATE_MAX + 1];
    uint64_t created, activated, retired, destroyed, revoked;
    char fingerprint[WIRE_FPR_MAX + 1];
    char reason[WIRE_MESSAGE_MAX + 1];
};

/* KEY_CHANGE: retire, revoke (with a reason) or destroy one version. */
struct wire_key_change {
    char key[WIRE_NAME_MAX + 1];
    uint32_t version;
    char action[WIRE_STATE_MAX + 1]; /* "retire", "revoke", "destroy" */
    char reason[WIRE_MESSAGE_MAX + 1];
};

/* IDENTITY_CHANGE: suspend or resume an identity of the policy. */
struct wire_identity_change {
    char identity[WIRE_NAME_MAX + 1];
    char action[WIRE_STATE_MAX + 1]; /* "suspend" or "resume" */
    char reason[WIRE_MESSAGE_MAX + 1];
};

struct wire_error {
    int32_t code; /* a negative custodian error */
    char message[WIRE_MESSAGE_MAX + 1];
};

/*
 * Looks at the LEN bytes received so far. Returns 0 and the whole frame's
 * length (header included) in *FRAME when a frame is complete, 1 when
 * more bytes are needed, CUST_ERR_TOO_BIG when the announced length is 0
 * or over WIRE_FRAME_MAX (the stream can no longer be trusted).
 */
int wire_frame_check(const uint8_t *data, size_t len, size_t *frame);

/* Starts a frame of TYPE in OUT; wire_end() fills in its length. */
int wire_begin(struct buf *out, enum wire_type type, size_t *start);
int wire_end(struct buf *out, size_t start);

/*
 * Opens the complete frame at DATA (from wire_frame_check()): *TYPE and a
 * view of the body in BODY.
 */
void wire_open(const uint8_t *data, size_t frame, uint8_t *type,
               struct buf *body);

/* Encoders append a whole frame to OUT. */
int wire_put_hello(struct buf *out, enum wire_type type,
                   const struct wire_hello *h);
int wire_put_ping(struct buf *out, enum wire_type type, const char *payload);
int wire_put_list(struct buf *out);
int wire_put_keys(struct buf *out, const struct wire_keyinfo *keys, uint32_t n);
int wire_put_pubkey(struct buf *out, const char *key);
int wire_put_key_create(struct buf *out, const char *key);
int wire_put_pubkey_ok(struct buf *out, const struct wire_keyinfo *key,
                       const uint8_t *spki, size_t len);
int wire_put_sign(struct buf *out, const struct wire_sign *s);
int wire_put_signature(struct buf *out, const struct wire_signature *s);
int wire_put_error(struct buf *out, int code, const char *message);

/* Decoders read a whole body; trailing bytes are an error. */
int wire_get_hello(struct buf *body, enum wire_type type, struct wire_hello *h);
int wire_get_ping(struct buf *body, char payload[WIRE_MESSAGE_MAX + 1]);
int wire_get_keys(struct buf *body, struct wire_keyinfo *keys, uint32_t max,
                  uint32_t *n);
/* PUBKEY and KEY_CREATE: a key name. */
int wire_get_pubkey(struct buf *body, char key[WIRE_NAME_MAX + 1]);
int wire_get_pubkey_ok(struct buf *body, struct wire_keyinfo *key,
                       const uint8_t **spki, size_t *len);
int wire_get_sign(struct buf *body, struct wire_sign *s);
int wire_get_signature(struct buf *body, struct wire_signature *s);
int wire_get_error(struct buf *body, struct wire_error *e);

/* STATUS and RELOAD have no body; their answers: */
int wire_put_empty(struct buf *out, enum wire_type type);
int wire_put_status_ok(struct buf *out, const struct wire_status *st);
int wire_get_status_ok(struct buf *body, struct wire_status *st);
int wire_put_reload_ok(struct buf *out, const char *result);
int wire_get_reload_ok(struct buf *body, char result[WIRE_MESSAGE_MAX + 1]);
int wire_put_identity_change(struct buf *out,
                             const struct wire_identity_change *c);
int wire_get_identity_change(struct buf *body, struct wire_identity_change *c);
/* IDENTITY_OK: what the change did, in words. */
int wire_put_identity_ok(struct buf *out, const char *result);
int wire_get_identity_ok(struct buf *body, char result[WIRE_MESSAGE_MAX + 1]);

/* KEY_VERSIONS and KEY_ROTATE take a key name, as PUBKEY does. */
int wire_put_keyname_req(struct buf *out, enum wire_type type, const char *key);
int wire_put_key_change(struct buf *out, const struct wire_key_change *c);
int wire_get_key_change(struct buf *body, struct wire_key_change *c);
/* VERSIONS: the key's name and type, then N versions, oldest first. */
int wire_put_versions(struct buf *out, const struct wire_keyinfo *key,
                      const struct wire_version *v, uint32_t n);
int wire_get_versions(struct buf *body, struct wire_keyinfo *key,
                      struct wire_version *v, uint32_t max, uint32_t *n);

/*
 * REPORT asks for a part of a document ("inventory" or "metrics") from
 * byte OFFSET on; REPORT_OK carries the document's TOTAL length and at
 * most WIRE_REPORT_PART bytes from that offset (a view into the frame).
 */
struct wire_report {
    char what[WIRE_ALG_MAX + 1];
    uint32_t offset;
};
int wire_put_report(struct buf *out, const struct wire_report *r);
int wire_get_report(struct buf *body, struct wire_report *r);
int wire_put_report_ok(struct buf *out, uint32_t total, const void *part,
                       size_t len);
int wire_get_report_ok(struct buf *body, uint32_t *total, const uint8_t **part,
                       size_t *len);

/* Checks that BODY is empty (LIST has no body). */
int wire_get_empty(struct buf *body);

#endif
