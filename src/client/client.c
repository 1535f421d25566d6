/*
 * libcustodian: one blocking request and answer at a time over the
 * daemon's Unix socket, encoded and decoded by the wire module.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "custodian/client.h"
#include "wire.h"

struct cust_conn {
    int fd;
    uint8_t *frame; /* the last answer frame; bodies are views into it */
    char message[WIRE_MESSAGE_MAX + 1];
};

const char *
cust_message(const struct cust_conn *c)
{
    return c->message;
}

static int
client_send(struct cust_conn *c, const struct buf *out)
{
    const uint8_t *p = out->data;
    size_t left = out->len;
    ssize_t n;

    while (left > 0) {
        n = send(c->fd, p, left, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return CUST_ERR_TIMEOUT;
        if (n <= 0)
            return CUST_ERR_IO;
        p += n;
        left -= (size_t)n;
    }
    return 0;
}

static int
client_read_full(int fd, uint8_t *p, size_t len)
{
    ssize_t n;

    while (len > 0) {
        n = recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return CUST_ERR_TIMEOUT;
        if (n == 0)
            errno = ECONNRESET; /* the daemon closed the connection */
        if (n <= 0)
            return CUST_ERR_IO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads one answer frame; *TYPE and BODY describe it. An ERROR answer is
 * returned as its code, with the message kept. */
static int
client_recv(struct cust_conn *c, uint8_t *type, struct buf *body)
{
    uint8_t hdr[WIRE_HEADER];
    struct wire_error e;
    struct buf lenbuf;
    uint32_t n;
    int rc;

    rc = client_read_full(c->fd, hdr, sizeof(hdr));
    if (rc != 0)
        return rc;
    buf_view(&lenbuf, hdr, sizeof(hdr));
    buf_get_u32(&lenbuf, &n);
    if (n == 0 || n > WIRE_FRAME_MAX)
        return CUST_ERR_PROTOCOL;
    free(c->frame);
    c->frame = malloc(WIRE_HEADER + (size_t)n);
    if (c->frame == NULL)
        return CUST_ERR_NOMEM;
    memcpy(c->frame, hdr, sizeof(hdr));
    rc = client_read_full(c->fd, c->frame + WIRE_HEADER, n);
    if (rc != 0)
        return rc;
    wire_open(c->frame, WIRE_HEADER + (size_t)n, type, body);
    c->message[0] = '\0';
    if (*type != WIRE_ERROR)
        return 0;
    rc = wire_get_error(body, &e);
    if (rc != 0)
        return rc;
    memcpy(c->message, e.message, sizeof(c->message));
    return e.code;
}

/* Sends OUT and reads its answer, expecting WANT. */
static int
client_call(struct cust_conn *c, struct buf *out, uint8_t want,
            struct buf *body)
{
    uint8_t type = 0;
    int rc = buf_status(out);

    if (rc == 0)
        rc = client_send(c, out);
    buf_free(out);
    /* A daemon that refuses a caller says why and closes at once, maybe
     * before the request went out: its answer may still be waiting. */
    if (rc == 0 || rc == CUST_ERR_IO)
        rc = client_recv(c, &type, body);
    if (rc == 0 && type != want)
        rc = CUST_ERR_PROTOCOL;
    return rc;
}

/* Every send and receive on FD gives up after MS milliseconds (0: never). */
static int
client_timeout(int fd, unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000,
                         .tv_usec = (suseconds_t)(ms % 1000) * 1000};

    if (ms == 0)
        return 0;
    return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 &&
                   setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0
               ? 0
               : -1;
}

/* On failure errno says why, for the caller's message. */
static int
client_open(const char *path, unsigned timeout_ms, int *out)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd, saved;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return CUST_ERR_ARG;
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return CUST_ERR_IO;
    if (client_timeout(fd, timeout_ms) != 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        saved = errno;
        close(fd);
        errno = saved;
        return saved == EAGAIN ? CUST_ERR_TIMEOUT : CUST_ERR_IO;
    }
    *out = fd;
    return 0;
}

const char *
cust_socket_path(const char *path)
{
    if (path == NULL || *path == '\0')
        path = getenv("CUSTODIAN_SOCKET");
    return path != NULL && *path != '\0' ? path : CUST_SOCKET_DEFAULT;
}

int
cust_connect(const char *path, const char *name, struct cust_conn **out)
{
    return cust_connect_timeout(path, name, 0, out);
}

int
cust_connect_timeout(const char *path, const char *name, unsigned timeout_ms,
                     struct cust_conn **out)
{
    struct wire_hello h = {.version = WIRE_VERSION};
    struct cust_conn *c;
    struct buf req, body;
    int rc;

    path = cust_socket_path(path);
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return CUST_ERR_NOMEM;
    rc = client_open(path, timeout_ms, &c->fd);
    if (rc != 0) {
        free(c);
        return rc;
    }
    snprintf(h.name, sizeof(h.name), "%s", name);
    buf_init(&req, WIRE_FRAME_MAX + WIRE_HEADER);
    wire_put_hello(&req, WIRE_HELLO, &h);
    rc = client_call(c, &req, WIRE_HELLO_OK, &body);
    if (rc == 0)
        rc = wire_get_hello(&body, WIRE_HELLO_OK, &h);
    if (rc != 0) {
        cust_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void
cust_close(struct cust_conn *c)
{
    if (c == NULL)
        return;
    close(c->fd);
    free(c->frame);
    free(c);
}

static void
client_key(const struct wire_keyinfo *w, struct cust_key *k)
{
    /* The decoder leaves each a terminated string of the same size. */
    _Static_assert(sizeof(k->name) == sizeof(w->name), "name size");
    _Static_assert(sizeof(k->type) == sizeof(w->type), "type size");
    _Static_assert(sizeof(k->fingerprint) == sizeof(w->fingerprint),
                   "fingerprint size");
    memcpy(k->name, w->name, sizeof(k->name));
    memcpy(k->type, w->type, sizeof(k->type));
    k->version = w->version;
    memcpy(k->fingerprint, w->fingerprint, sizeof(k->fingerprint));
}

int
cust_list(struct cust_conn *c, struct cust_key *keys, size_t max, size_t *n)
{
    struct wire_keyinfo infos[64];
    struct buf req, body;
    uint32_t count = 0, i;
    int rc;

    buf_init(&req, WIRE_FRAME_MAX + WIRE_HEADER);
    wire_put_list(&req);
    rc = client_call(c, &req, WIRE_KEYS, &body);
    if (rc == 0)
        rc = wire_get_keys(&body, infos, 64, &count);
    if (rc != 0)
        return rc;
    for (i = 0; i < count && i < max; i++)
        client_key(&infos[i], &keys[i]);
    *n = i;
    return 0;
}

/* PUBKEY and KEY_CREATE: a key name in, a key and its public key out. */
static int
client_key_call(struct cust_conn *c, uint8_t type, const char *key,
                struct cust_key *info, uint8_t *spki, size_t max, size_t *len)
{
    struct wire_keyinfo w;
    struct buf req, body;
    const uint8_t *p;
    size_t n = 0;
    int rc;

    if (strlen(key) > WIRE_NAME_MAX)
        return CUST_ERR_TOO_BIG;
    buf_init(&req, WIRE_FRAME_MAX + WIRE_HEADER);
    wire_put_keyname_req(&req, type, key);
    rc = client_call(c, &req, WIRE_PUBKEY_OK, &body);
    if (rc == 0)
        rc = wire_get_pubkey_ok(&body, &w, &p, &n);
    if (rc == 0 && n > max)
        rc = CUST_ERR_TOO_BIG;
    if (rc != 0)
        return rc;
    client_key(&w, info);
    memcpy(spki, p, n);
    *len = n;
    return 0;
}

int
cust_pubkey(struct cust_conn *c, const char *key, struct cust_key *info,
            uint8_t *spki, size_t max, size_t *len)
{
    return client_key_call(c, WIRE_PUBKEY, key, info, spki, max, len);
}

int
cust_key_create(struct cust_conn *c, const char *key, struct cust_key *info,
                uint8_t *spki, size_t max, size_t *len)
{
    return client_key_call(c, WIRE_KEY_CREATE, key, info, spki, max, len);
}

/* Copies REQ into the wire's form, checking its lengths. */
static int
client_sign_req(const struct cust_sign_req *r, struct wire_sign *s)
{
    size_t i;

    memset(s, 0, sizeof(*s));
    if (strlen(r->key) > WIRE_NAME_MAX || r->len > WIRE_DATA_MAX ||
        (r->ns != NULL && strlen(r->ns) > WIRE_NS_MAX))
        return CUST_ERR_TOO_BIG;
    strcpy(s->key, r->key);
    snprintf(s->digest, sizeof(s->digest), "%s", r->digest ? r->digest : "");
    snprintf(s->scheme, sizeof(s->scheme), "%s", r->scheme ? r->scheme : "");
    if (r->ns != NULL)
        strcpy(s->ns, r->ns);
    s->data = r->data;
    s->datalen = r->len;
    for (i = 0; r->context != NULL && r->context[2 * i] != NULL; i++) {
        if (i == WIRE_CTX_MAX || r->context[2 * i + 1] == NULL ||
            strlen(r->context[2 * i]) > WIRE_CTX_NAME_MAX ||
            strlen(r->context[2 * i + 1]) > WIRE_CTX_VALUE_MAX)
            return CUST_ERR_TOO_BIG;
        strcpy(s->ctx[i].name, r->context[2 * i]);
        strcpy(s->ctx[i].value, r->context[2 * i + 1]);
    }
    s->nctx = (uint32_t)i;
    return 0;
}

int
cust_sign(struct cust_conn *c, const struct cust_sign_req *r,
          struct cust_signature *out)
{
    struct wire_signature ws;
    struct wire_sign s;
    struct buf req, body;
    int rc = client_sign_req(r, &s);

    if (rc != 0)
        return rc;
    buf_init(&req, WIRE_FRAME_MAX + WIRE_HEADER);
    wire_put_sign(&req, &s);
    rc = client_call(c, &req, WIRE_SIGNATURE, &body);
    if (rc == 0)
        rc = wire_get_signature(&body, &ws);
    if (rc == 0 && ws.siglen > sizeof(out->sig))
        rc = CUST_ERR_PROTOCOL;
    if (rc != 0)
        return rc;
    client_key(&ws.key, &out->key);
    snprintf(out->scheme, sizeof(out->scheme), "%s", ws.scheme);
    memcpy(out->sig, ws.sig, ws.siglen);
    out->siglen = ws.siglen;
    out->time = ws.time;
    return 0;
}

int
cust_status(struct cust_conn *c, struct cust_status *out)
{
    struct wire_status st;
    struct buf req, body;
    int rc;

    buf_init(&req, WIRE_FRAME_MAX + WIRE_HEADER);
    wire_put_empty(&req, WIRE_STATUS);
    rc = client_call(c, &req, WIRE_STATUS_OK, &body);
    if (rc == 0)
        rc = wire_get_status_ok(&body, &st);
    if (rc != 0)
        return rc;
    snprintf(out->version, sizeof(out->version), "%s", st.version);
    out->connections = st.connections;
    out->inflight = st.inflight;
    out->keys = st.keys;
    out->degraded = st.degraded != 0;
    out->audit_records = st.audit_records;
    out->audit_syncs = st.audit_syncs;
    return 0;
}

int
cust_reload(struct cust_conn *c)
{
    char result[WIRE_MESSAGE_MAX + 1];
    struct buf req, body;
    int rc;

    buf_init(&req, WIRE_FRAME_MAX + WIRE_HEADER);
    wire_put_empty(&req, WIRE_RELOAD);
    rc = client_call(c, &req, WIRE_RELOAD_OK, &body);
    return rc != 0 ? rc : wire_get_reload_ok(&body, result);
}

int
cust_identity_change(struct cust_conn *c, const char *name, const char *action,
                     const char *reason, char *result)
{
    struct wire_identity_change w;
    char got[WIRE_MESSAGE_MAX + 1];
    struct buf req, body;
    int rc;

    if (strlen(name) > WIRE_NAME_MAX || strlen(action) > WIRE_STATE_MAX ||
        (reason != NULL && strlen(reason) > WIRE_MESSAGE_MAX))
        return CUST_ERR_TOO_BIG;
    memset(&w, 0, sizeof(w));
    strcpy(w.identity, name);
    strcpy(w.action, action);
    if (reason != NULL)
        strcpy(w.reason, reason);
    buf_init(&req, WIRE_FRAME_MAX + WIRE_HEADER);
    wire_put_identity_change(&req, &w);
    rc = client_call(c, &req, WIRE_IDENTITY_OK, &body);
    if (rc == 0)
        rc = wire_get_identity_ok(&body, got);
    if (rc == 0 && result != NULL)
        strcpy(result, got);
    return rc;
}

int
cust_key_rotate(struct cust_conn *c, const char *key, struct cust_key *info,
                uint8_t *spki, size_t max, size_t *len)
{
    return client_key_call(c, WIRE_KEY_ROTATE, key, info, spki, max, len);
}

static void
client_version(const struct wire_version *w, struct cust_version *v)
{
    _Static_assert(sizeof(v->state) == sizeof(w->state), "state size");
    _Static_assert(sizeof(v->fingerprint) == sizeof(w->fingerprint),
                   "fingerprint size");
    _Static_assert(sizeof(v->reason) == sizeof(w->reason), "reason size");
    v->version = w->version;
    memcpy(v->state, w->state, sizeof(v->state));
    v->created = w->created;
    v->activated = w->activated;
    v->retired = w->retired;
    v->destroyed = w->destroyed;
    v->revoked = w->revoked;
    memcpy(v->fingerprint, w->fingerprint, sizeof(v->fingerprint));
    memcpy(v->reason, w->reason, sizeof(v->reason));
}

/* Sends REQ and reads a VERSIONS answer into INFO and V. */
static int
client_versions_call(struct cust_conn *c, struct buf *req,
                     struct cust_key *info, struct cust_version *v, size_t max,
                     size_t *n)
{
    struct wire_version *w = calloc(WIRE_VERSIONS_MAX, sizeof(*w));
    struct wire_keyinfo k;
    struct buf body;
    uint32_t count = 0, i;
    int rc = w ? client_call(c, req, WIRE_VERSIONS, &body) : CUST_ERR_NOMEM;

    if (w == NULL)
        buf_free(req);
    if (rc == 0)
        rc = wire_get_versions(&body, &k, w, WIRE_VERSIONS_MAX, &count);
    if (rc == 0) {
        client_key(&k, info);
        for (i = 0; i < count && i < max; i++)
            client_version(&w[i], &v[i]);
        *n = i;
    }
    free(w);
    return rc;
}

int
cust_key_versions(struct cust_conn *c, const char *key, struct cust_key *info,
                  struct cust_version *v, size_t max, size_t *n)
{
    struct buf req;

    if (strlen(key) > WIRE_NAME_MAX)
        return CUST_ERR_TOO_BIG;
    buf_init(&req, WIRE_FRAME_MAX + WIRE_HEADER);
    wire_put_keyname_req(&req, WIRE_KEY_VERSIONS, key);
    return client_versions_call(c, &req, info, v, max, n);
}

int
cust_key_change(struct cust_conn *c, const char *key, uint32_t version,
                const char *action, const char *reason, struct cust_key *info,
                struct cust_version *v, size_t max, size_t *n)
{
    struct wire_key_change w = {.version = version};
    struct buf req;

    if (strlen(key) > WIRE_NAME_MAX || strlen(action) > WIRE_STATE_MAX ||
        (reason != NULL && strlen(reason) > WIRE_MESSAGE_MAX))
        return CUST_ERR_TOO_BIG;
    strcpy(w.key, key);
    strcpy(w.action, action);
    if (reason != NULL)
        strcpy(w.reason, reason);
    buf_init(&req, WIRE_FRAME_MAX + WIRE_HEADER);
    wire_put_key_change(&req, &w);
    return client_versions_call(c, &req, info, v, max, n);
}

/* Asks for the part of report WHAT at OFFSET; appends it to DOC. */
static int
client_report_part(struct cust_conn *c, const struct wire_report *w,
                   struct buf *doc, uint32_t *total)
{
    const uint8_t *part;
    struct buf req, body;
    size_t len;
    int rc;

    buf_init(&req, WIRE_FRAME_MAX + WIRE_HEADER);
    wire_put_report(&req, w);
    rc = client_call(c, &req, WIRE_REPORT_OK, &body);
    if (rc == 0)
        rc = wire_get_report_ok(&body, total, &part, &len);
    if (rc == 0 && *total > WIRE_REPORT_MAX)
        rc = CUST_ERR_TOO_BIG;
    /* A part must end where the document says, and move on. */
    if (rc == 0 && ((uint64_t)w->offset + len > *total ||
                    (len == 0 && w->offset < *total)))
        rc = CUST_ERR_PROTOCOL;
    if (rc == 0)
        rc = buf_put(doc, part, len);
    return rc;
}

int
cust_report(struct cust_conn *c, const char *what, char **out, size_t *len)
{
    struct wire_report w = {.offset = 0};
    struct buf doc;
    uint32_t total = 0;
    int rc = 0;

    if (strlen(what) > WIRE_ALG_MAX)
        return CUST_ERR_ARG;
    snprintf(w.what, sizeof(w.what), "%s", what);
    buf_init(&doc, WIRE_REPORT_MAX + 1);
    do {
        rc = client_report_part(c, &w, &doc, &total);
        w.offset = (uint32_t)doc.len;
    } while (rc == 0 && doc.len < total);
    if (rc == 0)
        rc = buf_put_u8(&doc, 0);
    if (rc != 0) {
        buf_free(&doc);
        return rc;
    }
    *out = (char *)doc.data;
    *len = doc.len - 1;
    return 0;
}
