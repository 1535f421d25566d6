/*
 * Encoding and decoding of the native protocol's messages. Every byte
 * goes through struct buf; this file only decides what the fields are.
 */
#include <stdio.h>
#include <string.h>

#include "custodian/error.h"
#include "wire.h"

int
wire_frame_check(const uint8_t *data, size_t len, size_t *frame)
{
    struct buf b;
    uint32_t n;

    if (len < WIRE_HEADER)
        return 1;
    buf_view(&b, data, WIRE_HEADER);
    buf_get_u32(&b, &n);
    if (n == 0 || n > WIRE_FRAME_MAX)
        return CUST_ERR_TOO_BIG;
    if (len - WIRE_HEADER < n)
        return 1;
    *frame = WIRE_HEADER + (size_t)n;
    return 0;
}

void
wire_open(const uint8_t *data, size_t frame, uint8_t *type, struct buf *body)
{
    struct buf all;
    uint32_t len;

    buf_view(&all, data, frame);
    buf_get_u32(&all, &len);
    buf_get_u8(&all, type);
    buf_view(body, buf_ptr(&all), buf_remaining(&all));
}

int
wire_begin(struct buf *out, enum wire_type type, size_t *start)
{
    *start = out->len;
    buf_put_u32(out, 0);
    return buf_put_u8(out, (uint8_t)type);
}

int
wire_end(struct buf *out, size_t start)
{
    size_t n = out->len - start - WIRE_HEADER;

    if (buf_status(out) != 0)
        return buf_status(out);
    if (n > WIRE_FRAME_MAX)
        return CUST_ERR_TOO_BIG;
    return buf_patch_u32(out, start, (uint32_t)n);
}

/* Maps a buffer failure on a body onto the protocol's errors. */
static int
wire_status(const struct buf *body, int rc)
{
    if (rc != 0)
        return rc;
    return buf_status(body) != 0 ? CUST_ERR_PROTOCOL : 0;
}

/* Reads a text field of at most MAX bytes without NUL into OUT. */
static int
wire_get_text(struct buf *body, char *out, size_t max)
{
    const uint8_t *p;
    size_t n;
    uint32_t len;

    if (buf_remaining(body) >= 4) {
        /* Tell an oversized field from a truncated one. */
        struct buf peek = *body;
        buf_get_u32(&peek, &len);
        if (len > max && len <= buf_remaining(&peek))
            return CUST_ERR_TOO_BIG;
    }
    if (buf_get_string(body, &p, &n, max) != 0)
        return CUST_ERR_PROTOCOL;
    if (memchr(p, '\0', n) != NULL)
        return CUST_ERR_PROTOCOL;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

static int
wire_get_bytes(struct buf *body, const uint8_t **p, size_t *n, size_t max)
{
    return buf_get_string(body, p, n, max) != 0 ? CUST_ERR_PROTOCOL : 0;
}

static int
wire_done(struct buf *body, int rc)
{
    if (rc == 0 && buf_remaining(body) != 0)
        return CUST_ERR_PROTOCOL; /* trailing bytes */
    return wire_status(body, rc);
}

/* Context names are short and plain, so audit records stay readable. */
static int
wire_check_ctx_name(const char *name)
{
    size_t i;

    if (name[0] == '\0')
        return CUST_ERR_PROTOCOL;
    for (i = 0; name[i] != '\0'; i++) {
        if (!((name[i] >= 'a' && name[i] <= 'z') ||
              (name[i] >= '0' && name[i] <= '9') ||
              strchr("_.-", name[i]) != NULL))
            return CUST_ERR_PROTOCOL;
    }
    return 0;
}

int
wire_put_hello(struct buf *out, enum wire_type type, const struct wire_hello *h)
{
    size_t start;

    wire_begin(out, type, &start);
    buf_put_u32(out, h->version);
    buf_put_cstring(out, h->name);
    if (type == WIRE_HELLO_OK) {
        buf_put_u32(out, h->frame_max);
        buf_put_u32(out, h->inflight_max);
    }
    return wire_end(out, start);
}

int
wire_get_hello(struct buf *body, enum wire_type type, struct wire_hello *h)
{
    int rc;

    memset(h, 0, sizeof(*h));
    buf_get_u32(body, &h->version);
    rc = wire_get_text(body, h->name, WIRE_NAME_MAX);
    if (rc == 0 && type == WIRE_HELLO_OK) {
        buf_get_u32(body, &h->frame_max);
        buf_get_u32(body, &h->inflight_max);
    }
    return wire_done(body, rc);
}

int
wire_put_ping(struct buf *out, enum wire_type type, const char *payload)
{
    size_t start;

    if (strlen(payload) > WIRE_MESSAGE_MAX)
        return CUST_ERR_TOO_BIG;
    wire_begin(out, type, &start);
    buf_put_cstring(out, payload);
    return wire_end(out, start);
}

int
wire_get_ping(struct buf *body, char payload[WIRE_MESSAGE_MAX + 1])
{
    return wire_done(body, wire_get_text(body, payload, WIRE_MESSAGE_MAX));
}

int
wire_put_list(struct buf *out)
{
    size_t start;

    wire_begin(out, WIRE_LIST, &start);
    return wire_end(out, start);
}

int
wire_get_empty(struct buf *body)
{
    return wire_done(body, 0);
}

static void
wire_put_u64(struct buf *out, uint64_t v)
{
    buf_put_u32(out, (uint32_t)(v >> 32));
    buf_put_u32(out, (uint32_t)v);
}

static int
wire_get_u64(struct buf *body, uint64_t *v)
{
    uint32_t hi = 0, lo = 0;

    if (buf_get_u32(body, &hi) != 0 || buf_get_u32(body, &lo) != 0)
        return CUST_ERR_PROTOCOL;
    *v = (uint64_t)hi << 32 | lo;
    return 0;
}

static void
wire_put_keyinfo(struct buf *out, const struct wire_keyinfo *k)
{
    buf_put_cstring(out, k->name);
    buf_put_cstring(out, k->type);
    buf_put_u32(out, k->version);
    buf_put_cstring(out, k->fingerprint);
}

static int
wire_get_keyinfo(struct buf *body, struct wire_keyinfo *k)
{
    int rc = wire_get_text(body, k->name, WIRE_NAME_MAX);

    if (rc == 0)
        rc = wire_get_text(body, k->type, WIRE_ALG_MAX);
    if (rc == 0 && buf_get_u32(body, &k->version) != 0)
        rc = CUST_ERR_PROTOCOL;
    if (rc == 0)
        rc = wire_get_text(body, k->fingerprint, WIRE_FPR_MAX);
    return rc;
}

int
wire_put_keys(struct buf *out, const struct wire_keyinfo *keys, uint32_t n)
{
    size_t start;
    uint32_t i;

    wire_begin(out, WIRE_KEYS, &start);
    buf_put_u32(out, n);
    for (i = 0; i < n; i++)
        wire_put_keyinfo(out, &keys[i]);
    return wire_end(out, start);
}

int
wire_get_keys(struct buf *body, struct wire_keyinfo *keys, uint32_t max,
              uint32_t *n)
{
    uint32_t count, i;
    int rc = 0;

    if (buf_get_u32(body, &count) != 0)
        return CUST_ERR_PROTOCOL;
    if (count > max)
        return CUST_ERR_TOO_BIG;
    for (i = 0; rc == 0 && i < count; i++)
        rc = wire_get_keyinfo(body, &keys[i]);
    *n = rc == 0 ? count : 0;
    return wire_done(body, rc);
}

static int
wire_put_keyname(struct buf *out, enum wire_type type, const char *key)
{
    size_t start;

    wire_begin(out, type, &start);
    buf_put_cstring(out, key);
    return wire_end(out, start);
}

int
wire_put_pubkey(struct buf *out, const char *key)
{
    return wire_put_keyname(out, WIRE_PUBKEY, key);
}

int
wire_put_key_create(struct buf *out, const char *key)
{
    return wire_put_keyname(out, WIRE_KEY_CREATE, key);
}

int
wire_get_pubkey(struct buf *body, char key[WIRE_NAME_MAX + 1])
{
    return wire_done(body, wire_get_text(body, key, WIRE_NAME_MAX));
}

int
wire_put_pubkey_ok(struct buf *out, const struct wire_keyinfo *key,
                   const uint8_t *spki, size_t len)
{
    size_t start;

    wire_begin(out, WIRE_PUBKEY_OK, &start);
    wire_put_keyinfo(out, key);
    buf_put_string(out, spki, len);
    return wire_end(out, start);
}

int
wire_get_pubkey_ok(struct buf *body, struct wire_keyinfo *key,
                   const uint8_t **spki, size_t *len)
{
    int rc = wire_get_keyinfo(body, key);

    if (rc == 0)
        rc = wire_get_bytes(body, spki, len, WIRE_PUBKEY_MAX);
    return wire_done(body, rc);
}

int
wire_put_sign(struct buf *out, const struct wire_sign *s)
{
    size_t start;
    uint32_t i;

    if (s->datalen > WIRE_DATA_MAX || s->nctx > WIRE_CTX_MAX)
        return CUST_ERR_TOO_BIG;
    wire_begin(out, WIRE_SIGN, &start);
    buf_put_cstring(out, s->key);
    buf_put_cstring(out, s->digest);
    buf_put_string(out, s->data, s->datalen);
    buf_put_cstring(out, s->scheme);
    buf_put_cstring(out, s->ns);
    buf_put_u32(out, s->nctx);
    for (i = 0; i < s->nctx; i++) {
        buf_put_cstring(out, s->ctx[i].name);
        buf_put_cstring(out, s->ctx[i].value);
    }
    return wire_end(out, start);
}

static int
wire_get_ctx(struct buf *body, struct wire_sign *s)
{
    uint32_t n, i;
    int rc = 0;

    if (buf_get_u32(body, &n) != 0)
        return CUST_ERR_PROTOCOL;
    if (n > WIRE_CTX_MAX)
        return CUST_ERR_TOO_BIG;
    for (i = 0; rc == 0 && i < n; i++) {
        rc = wire_get_text(body, s->ctx[i].name, WIRE_CTX_NAME_MAX);
        if (rc == 0)
            rc = wire_check_ctx_name(s->ctx[i].name);
        if (rc == 0)
            rc = wire_get_text(body, s->ctx[i].value, WIRE_CTX_VALUE_MAX);
    }
    s->nctx = rc == 0 ? n : 0;
    return rc;
}

int
wire_get_sign(struct buf *body, struct wire_sign *s)
{
    int rc;

    memset(s, 0, sizeof(*s));
    rc = wire_get_text(body, s->key, WIRE_NAME_MAX);
    if (rc == 0)
        rc = wire_get_text(body, s->digest, WIRE_ALG_MAX);
    if (rc == 0 && buf_remaining(body) >= 4) {
        struct buf peek = *body;
        uint32_t len;
        buf_get_u32(&peek, &len);
        if (len > WIRE_DATA_MAX)
            rc = CUST_ERR_TOO_BIG;
    }
    if (rc == 0)
        rc = wire_get_bytes(body, &s->data, &s->datalen, WIRE_DATA_MAX);
    if (rc == 0)
        rc = wire_get_text(body, s->scheme, WIRE_ALG_MAX);
    if (rc == 0)
        rc = wire_get_text(body, s->ns, WIRE_NS_MAX);
    if (rc == 0)
        rc = wire_get_ctx(body, s);
    return wire_done(body, rc);
}

int
wire_put_signature(struct buf *out, const struct wire_signature *s)
{
    size_t start;

    wire_begin(out, WIRE_SIGNATURE, &start);
    wire_put_keyinfo(out, &s->key);
    buf_put_cstring(out, s->scheme);
    buf_put_string(out, s->sig, s->siglen);
    wire_put_u64(out, s->time);
    return wire_end(out, start);
}

int
wire_get_signature(struct buf *body, struct wire_signature *s)
{
    int rc;

    memset(s, 0, sizeof(*s));
    rc = wire_get_keyinfo(body, &s->key);
    if (rc == 0)
        rc = wire_get_text(body, s->scheme, WIRE_ALG_MAX);
    if (rc == 0)
        rc = wire_get_bytes(body, &s->sig, &s->siglen, WIRE_SIG_MAX);
    if (rc == 0)
        rc = wire_get_u64(body, &s->time);
    return wire_done(body, rc);
}

int
wire_put_error(struct buf *out, int code, const char *message)
{
    char cut[WIRE_MESSAGE_MAX + 1];
    size_t start;

    /* A message is cut, never refused: the error must get through. */
    snprintf(cut, sizeof(cut), "%s", message);
    wire_begin(out, WIRE_ERROR, &start);
    buf_put_u32(out, (uint32_t)code);
    buf_put_cstring(out, cut);
    return wire_end(out, start);
}

int
wire_get_error(struct buf *body, struct wire_error *e)
{
    uint32_t code;
    int rc = 0;

    memset(e, 0, sizeof(*e));
    if (buf_get_u32(body, &code) != 0)
        return CUST_ERR_PROTOCOL;
    e->code = (int32_t)code;
    if (e->code >= 0)
        rc = CUST_ERR_PROTOCOL; /* an error answer carries an error */
    if (rc == 0)
        rc = wire_get_text(body, e->message, WIRE_MESSAGE_MAX);
    return wire_done(body, rc);
}

int
wire_put_empty(struct buf *out, enum wire_type type)
{
    size_t start;

    wire_begin(out, type, &start);
    return wire_end(out, start);
}

int
wire_put_status_ok(struct buf *out, const struct wire_status *st)
{
    size_t start;

    wire_begin(out, WIRE_STATUS_OK, &start);
    buf_put_cstring(out, st->version);
    buf_put_u32(out, st->connections);
    buf_put_u32(out, st->inflight);
    buf_put_u32(out, st->keys);
    buf_put_u8(out, st->degraded);
    wire_put_u64(out, st->audit_records);
    wire_put_u64(out, st->audit_syncs);
    return wire_end(out, start);
}

int
wire_get_status_ok(struct buf *body, struct wire_status *st)
{
    int rc;

    memset(st, 0, sizeof(*st));
    rc = wire_get_text(body, st->version, WIRE_NAME_MAX);
    if (rc == 0 && (buf_get_u32(body, &st->connections) != 0 ||
                    buf_get_u32(body, &st->inflight) != 0 ||
                    buf_get_u32(body, &st->keys) != 0 ||
                    buf_get_u8(body, &st->degraded) != 0))
        rc = CUST_ERR_PROTOCOL;
    if (rc == 0)
        rc = wire_get_u64(body, &st->audit_records);
    if (rc == 0)
        rc = wire_get_u64(body, &st->audit_syncs);
    return wire_done(body, rc);
}

int
wire_put_reload_ok(struct buf *out, const char *result)
{
    return wire_put_ping(out, WIRE_RELOAD_OK, result);
}

int
wire_get_reload_ok(struct buf *body, char result[WIRE_MESSAGE_MAX + 1])
{
    return wire_get_ping(body, result);
}

int
wire_put_identity_change(struct buf *out, const struct wire_identity_change *c)
{
    size_t start;

    wire_begin(out, WIRE_IDENTITY_CHANGE, &start);
    buf_put_cstring(out, c->identity);
    buf_put_cstring(out, c->action);
    buf_put_cstring(out, c->reason);
    return wire_end(out, start);
}

int
wire_get_identity_change(struct buf *body, struct wire_identity_change *c)
{
    int rc;

    memset(c, 0, sizeof(*c));
    rc = wire_get_text(body, c->identity, WIRE_NAME_MAX);
    if (rc == 0)
        rc = wire_get_text(body, c->action, WIRE_STATE_MAX);
    if (rc == 0)
        rc = wire_get_text(body, c->reason, WIRE_MESSAGE_MAX);
    return wire_done(body, rc);
}

int
wire_put_identity_ok(struct buf *out, const char *result)
{
    return wire_put_ping(out, WIRE_IDENTITY_OK, result);
}

int
wire_get_identity_ok(struct buf *body, char result[WIRE_MESSAGE_MAX + 1])
{
    return wire_get_ping(body, result);
}

int
wire_put_keyname_req(struct buf *out, enum wire_type type, const char *key)
{
    return wire_put_keyname(out, type, key);
}

int
wire_put_key_change(struct buf *out, const struct wire_key_change *c)
{
    size_t start;

    wire_begin(out, WIRE_KEY_CHANGE, &start);
    buf_put_cstring(out, c->key);
    buf_put_u32(out, c->version);
    buf_put_cstring(out, c->action);
    buf_put_cstring(out, c->reason);
    return wire_end(out, start);
}

int
wire_get_key_change(struct buf *body, struct wire_key_change *c)
{
    int rc;

    memset(c, 0, sizeof(*c));
    rc = wire_get_text(body, c->key, WIRE_NAME_MAX);
    if (rc == 0 && buf_get_u32(body, &c->version) != 0)
        rc = CUST_ERR_PROTOCOL;
    if (rc == 0)
        rc = wire_get_text(body, c->action, WIRE_STATE_MAX);
    if (rc == 0)
        rc = wire_get_text(body, c->reason, WIRE_MESSAGE_MAX);
    return wire_done(body, rc);
}

static void
wire_put_version(struct buf *out, const struct wire_version *v)
{
    buf_put_u32(out, v->version);
    buf_put_cstring(out, v->state);
    wire_put_u64(out, v->created);
    wire_put_u64(out, v->activated);
    wire_put_u64(out, v->retired);
    wire_put_u64(out, v->destroyed);
    wire_put_u64(out, v->revoked);
    buf_put_cstring(out, v->fingerprint);
    buf_put_cstring(out, v->reason);
}

static int
wire_get_version(struct buf *body, struct wire_version *v)
{
    int rc = buf_get_u32(body, &v->version) != 0 ? CUST_ERR_PROTOCOL : 0;

    if (rc == 0)
        rc = wire_get_text(body, v->state, WIRE_STATE_MAX);
    if (rc == 0)
        rc = wire_get_u64(body, &v->created);
    if (rc == 0)
        rc = wire_get_u64(body, &v->activated);
    if (rc == 0)
        rc = wire_get_u64(body, &v->retired);
    if (rc == 0)
        rc = wire_get_u64(body, &v->destroyed);
    if (rc == 0)
        rc = wire_get_u64(body, &v->revoked);
    if (rc == 0)
        rc = wire_get_text(body, v->fingerprint, WIRE_FPR_MAX);
    if (rc == 0)
        rc = wire_get_text(body, v->reason, WIRE_MESSAGE_MAX);
    return rc;
}

int
wire_put_versions(struct buf *out, const struct wire_keyinfo *key,
                  const struct wire_version *v, uint32_t n)
{
    size_t start;
    uint32_t i;

    wire_begin(out, WIRE_VERSIONS, &start);
    wire_put_keyinfo(out, key);
    buf_put_u32(out, n);
    for (i = 0; i < n; i++)
        wire_put_version(out, &v[i]);
    return wire_end(out, start);
}

int
wire_get_versions(struct buf *body, struct wire_keyinfo *key,
                  struct wire_version *v, uint32_t max, uint32_t *n)
{
    uint32_t count = 0, i;
    int rc = wire_get_keyinfo(body, key);

    if (rc == 0 && buf_get_u32(body, &count) != 0)
        rc = CUST_ERR_PROTOCOL;
    if (rc == 0 && count > max)
        rc = CUST_ERR_TOO_BIG;
    for (i = 0; rc == 0 && i < count; i++)
        rc = wire_get_version(body, &v[i]);
    *n = rc == 0 ? count : 0;
    return wire_done(body, rc);
}

int
wire_put_report(struct buf *out, const struct wire_report *r)
{
    size_t start;

    wire_begin(out, WIRE_REPORT, &start);
    buf_put_cstring(out, r->what);
    buf_put_u32(out, r->offset);
    return wire_end(out, start);
}

int
wire_get_report(struct buf *body, struct wire_report *r)
{
    int rc;

    memset(r, 0, sizeof(*r));
    rc = wire_get_text(body, r->what, WIRE_ALG_MAX);
    if (rc == 0 && buf_get_u32(body, &r->offset) != 0)
        rc = CUST_ERR_PROTOCOL;
    return wire_done(body, rc);
}

int
wire_put_report_ok(struct buf *out, uint32_t total, const void *part,
                   size_t len)
{
    size_t start;

    if (len > WIRE_REPORT_PART)
        return CUST_ERR_TOO_BIG;
    wire_begin(out, WIRE_REPORT_OK, &start);
    buf_put_u32(out, total);
    buf_put_string(out, part, len);
    return wire_end(out, start);
}

int
wire_get_report_ok(struct buf *body, uint32_t *total, const uint8_t **part,
                   size_t *len)
{
    int rc = buf_get_u32(body, total) != 0 ? CUST_ERR_PROTOCOL : 0;

    if (rc == 0 && buf_get_string(body, part, len, WIRE_REPORT_PART) != 0)
        rc = CUST_ERR_TOO_BIG;
    return wire_done(body, rc);
}
