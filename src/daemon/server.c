/*
 * Connections and their requests. Everything here runs on the loop
 * thread except complete(), which worker and audit threads call to hand
 * an answer back; it only queues and wakes the loop.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "agent.h"
#include "custodian/error.h"
#include "inventory.h"
#include "log.h"
#include "keystore.h"
#include "metrics.h"
#include "peer.h"
#include "policy.h"
#include "server.h"
#include "suspend.h"

struct conn;

/* One request, from its frame to its answer. */
struct req {
    struct handler_req h; /* first: handler callbacks get this pointer */
    struct req *next;     /* in the connection's arrival order */
    struct req *done_next;
    struct conn *conn;
    int done;      /* h.answer is final */
    int timed;     /* limits.request_timeout applies */
    int abandoned; /* given up on: out of the queue, answer dropped */
};

struct conn {
    struct server *srv;
    struct conn *prev, *next; /* all connections of the server */
    struct bufferevent *bev;  /* NULL once the client is gone */
    /* Pending while a frame has begun to arrive and is not complete:
     * limits.frame_timeout from its first byte. */
    struct event *frame_timer;
    struct peer peer;
    int hello;                          /* HELLO received */
    int close_after;                    /* close once the answers are out */
    int paused;                         /* reading stopped by conn_reading() */
    unsigned refusals;                  /* frames refused so far */
    int admin;                          /* on the admin socket */
    int agent;                          /* on the agent socket */
    char admin_name[CONF_NAME_MAX + 1]; /* the admin identity */
    /* The document an admin's REPORT at offset 0 made, served in parts
     * to the REPORTs that follow, so that the parts fit together. */
    char *report;
    size_t reportlen;
    char report_what[WIRE_ALG_MAX + 1];
    struct req *head, *tail;
    unsigned pending;
    /* Abandoned requests still running: their handlers read PEER, so
     * the connection is freed only after them (a zombie until then). */
    unsigned abandoned;
    int zombie;
};

struct server {
    const struct conf *conf;
    struct handler_env *env;
    server_reload_fn reload;
    void *reload_arg;
    struct workers *workers;
    struct event_base *base;
    struct evconnlistener *listener, *admin_listener, *agent_listener;
    struct event *wake, *tick, *sigterm, *sigint, *sighup;
    struct event *metrics_tick; /* the textfile's next write */
    struct metrics_textfile *textfile;
    time_t started;
    pthread_mutex_t lock; /* guards the completed list */
    struct req *completed;
    /* Finished requests kept for reuse, loop thread only: a request is
     * large (its data buffer), and allocating one per frame showed in
     * profiles. At most SERVER_SPARE_MAX. */
    struct req *spare;
    unsigned nspare;
    struct conn *conns;
    unsigned nconns;
    unsigned max_conns; /* limits.max_connections, or what fits in fds */
    /* limits.frame_timeout, as a common timeout: thousands of timers of
     * one duration cost the loop no heap operations. */
    const struct timeval *frame_tv;
    int full_logged;   /* the refusal at max_conns was logged */
    unsigned inflight; /* requests of all connections not yet answered */
    int stopping;
};

static void conn_flush(struct conn *c);
static struct req *req_new(struct conn *c);
static void req_free(struct server *s, struct req *r);
static void req_drop(struct req *r);

/* Finished requests kept for reuse. */
#define SERVER_SPARE_MAX 64

/* How long a stop waits for answers to reach clients that do not read. */
#define SERVER_DRAIN_SECONDS 10

/*
 * Stopping: the loop ends once no request is in flight and every answer
 * has left for its client, or when the drain time is up.
 */
static void
server_maybe_stop(struct server *s)
{
    const struct conn *c;

    if (!s->stopping || s->inflight > 0)
        return;
    for (c = s->conns; c != NULL; c = c->next)
        if (c->bev != NULL &&
            evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
            return;
    event_base_loopexit(s->base, NULL);
}

/* Called on any thread when a request's answer is final. */
static void
complete(struct handler_req *h)
{
    struct req *r = (struct req *)h;
    struct server *s = r->conn->srv;
    int first;

    pthread_mutex_lock(&s->lock);
    first = s->completed == NULL;
    r->done_next = s->completed;
    s->completed = r;
    pthread_mutex_unlock(&s->lock);
    /* One wakeup per batch: a list that was not empty already has one
     * coming, and on_wake() takes the whole list. */
    if (first)
        event_active(s->wake, EV_READ, 0);
}

/* Loop thread: marks completed requests done and sends what can go. */
static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    struct req *r, *next;

    (void)fd;
    (void)what;
    pthread_mutex_lock(&s->lock);
    r = s->completed;
    s->completed = NULL;
    pthread_mutex_unlock(&s->lock);
    for (; r != NULL; r = next) {
        next = r->done_next;
        if (r->abandoned)
            req_drop(r);
        else {
            r->done = 1;
            conn_flush(r->conn);
        }
    }
}

/* How often the loop looks for requests past limits.request_timeout. */
#define SERVER_TICK_MS 250

/*
 * Gives up on C's requests that have waited for a worker or the token
 * longer than limits.request_timeout: each is replaced in the queue by a
 * CUST_ERR_TIMEOUT answer, audited, so that the client hears in time and
 * later answers keep their order. The handler finishes on its own, its
 * record marked "released": false, and its answer is dropped.
 */
static void
conn_expire(struct conn *c, const struct timespec *now)
{
    long limit_ms = (long)c->srv->conf->limits.request_timeout * 1000;
    char msg[96];
    struct req **p, *r, *n;

    for (p = &c->head; (r = *p) != NULL; p = &(*p)->next) {
        if (!r->timed || r->done ||
            (now->tv_sec - r->h.start.tv_sec) * 1000 +
                    (now->tv_nsec - r->h.start.tv_nsec) / 1000000 <
                limit_ms)
            continue;
        if ((n = req_new(c)) == NULL)
            return; /* no memory: try again on the next tick */
        if (!handler_abandon(&r->h)) {
            req_free(c->srv, n); /* its answer is on its way */
            continue;
        }
        n->h.type = r->h.type;
        memcpy(n->h.key, r->h.key, sizeof(n->h.key));
        n->h.start = r->h.start;
        n->next = r->next;
        *p = n;
        if (c->tail == r)
            c->tail = n;
        r->abandoned = 1;
        c->abandoned++;
        log_warn("request of pid %ld for \"%s\" given up after %u s: the "
                 "token has not answered",
                 (long)c->peer.pid, r->h.key,
                 c->srv->conf->limits.request_timeout);
        snprintf(msg, sizeof(msg), "no answer from the token within %u s",
                 c->srv->conf->limits.request_timeout);
        handler_refuse(&n->h, CUST_ERR_TIMEOUT, msg);
    }
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    struct timespec now;
    struct conn *c;

    (void)fd;
    (void)what;
    clock_gettime(CLOCK_MONOTONIC, &now);
    for (c = s->conns; c != NULL; c = c->next)
        if (c->pending > 0)
            conn_expire(c, &now);
}

static void
conn_free(struct conn *c)
{
    struct server *s = c->srv;

    if (c->bev != NULL)
        bufferevent_free(c->bev);
    c->bev = NULL;
    if (c->frame_timer != NULL)
        event_free(c->frame_timer);
    c->frame_timer = NULL;
    if (c->abandoned > 0) {
        c->zombie = 1; /* req_drop() frees it after its last one */
        return;
    }
    peer_release(&c->peer);
    free(c->report);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    free(c);
    s->nconns--;
}

/* Whether C may take more requests now: not closing, not too many
 * waiting for an answer, not too many answers waiting for the client. */
static int
conn_can_read(const struct conn *c)
{
    return !c->close_after && !c->srv->stopping &&
           c->pending < SERVER_INFLIGHT_MAX &&
           evbuffer_get_length(bufferevent_get_output(c->bev)) <
               SERVER_OUTPUT_MAX;
}

/*
 * Reads from C while it may take more requests, and stops while it may
 * not. Frames that arrived while reading was stopped are taken up as
 * soon as it resumes: the client may be waiting for answers, with
 * nothing more to send that would wake on_read().
 */
static void
conn_reading(struct conn *c)
{
    if (!conn_can_read(c)) {
        bufferevent_disable(c->bev, EV_READ);
        /* The daemon holds the frame back now, not the client. */
        evtimer_del(c->frame_timer);
        c->paused = 1;
        return;
    }
    bufferevent_enable(c->bev, EV_READ);
    if (c->paused && evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
        bufferevent_trigger(c->bev, EV_READ,
                            BEV_TRIG_IGNORE_WATERMARKS |
                                BEV_TRIG_DEFER_CALLBACKS);
    c->paused = 0;
}

/* Logs why C is being closed, naming its caller. */
static void
conn_log_cut(const struct conn *c, int level, const char *why)
{
    char exe[LOG_ESCAPE_BUF];

    log_at(level, "closing the connection of pid %ld (%s): %s",
           (long)c->peer.pid, log_escape(c->peer.exe, strlen(c->peer.exe), exe),
           why);
}

/* R is finished: kept for reuse, or freed. */
static void
req_free(struct server *s, struct req *r)
{
    if (s->nspare >= SERVER_SPARE_MAX) {
        free(r);
        return;
    }
    r->next = s->spare;
    s->spare = r;
    s->nspare++;
}

/* A new request of C, in no queue yet; NULL when out of memory. */
static struct req *
req_new(struct conn *c)
{
    struct server *s = c->srv;
    struct req *r = s->spare;

    if (r != NULL) {
        s->spare = r->next;
        s->nspare--;
        memset(r, 0, sizeof(*r));
    } else if ((r = calloc(1, sizeof(*r))) == NULL) {
        return NULL;
    }
    r->conn = c;
    r->h.agent = c->agent;
    r->h.peer = &c->peer;
    r->h.env = c->srv->env;
    r->h.done = complete;
    atomic_init(&r->h.state, HANDLER_RUNNING);
    clock_gettime(CLOCK_MONOTONIC, &r->h.start);
    return r;
}

/* An abandoned request's handler has finished: R goes, and its
 * connection too if it waited only for R. */
static void
req_drop(struct req *r)
{
    struct conn *c = r->conn;

    buf_free(&r->h.answer);
    req_free(c->srv, r);
    if (--c->abandoned == 0 && c->zombie)
        conn_free(c);
}

/*
 * Arms C's timeouts. A connection is idle when it waits for nothing:
 * while a request is in flight the read timeout is off, so that a request
 * the token takes long over (a key generation) does not close its own
 * connection. The write timeout always runs, for clients that stop
 * taking their answers.
 */
static void
conn_timeouts(struct conn *c)
{
    struct timeval idle = {(time_t)c->srv->conf->limits.idle_timeout, 0};

    if (c->bev != NULL)
        bufferevent_set_timeouts(c->bev, c->pending > 0 ? NULL : &idle, &idle);
}

/* A new request at the end of C's queue; NULL when out of memory. */
static struct req *
conn_push(struct conn *c)
{
    struct req *r = req_new(c);

    if (r == NULL)
        return NULL;
    if (c->tail != NULL)
        c->tail->next = r;
    else
        c->head = r;
    c->tail = r;
    if (c->pending++ == 0)
        conn_timeouts(c);
    c->srv->inflight++;
    return r;
}

/* Sends the answers at the head of the queue that are ready, in order. */
static void
conn_flush(struct conn *c)
{
    unsigned had = c->pending;
    struct req *r;

    while ((r = c->head) != NULL && r->done) {
        if (c->bev != NULL)
            bufferevent_write(c->bev, r->h.answer.data, r->h.answer.len);
        c->head = r->next;
        if (c->head == NULL)
            c->tail = NULL;
        c->pending--;
        c->srv->inflight--;
        buf_free(&r->h.answer);
        req_free(c->srv, r);
    }
    server_maybe_stop(c->srv);
    if (c->bev == NULL) {
        if (c->pending == 0)
            conn_free(c);
        return;
    }
    if (c->pending == 0 && had > 0)
        conn_timeouts(c);
    conn_reading(c);
    if (c->close_after && c->pending == 0 &&
        evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        conn_free(c);
}

/* Queues an answer made on the loop thread (HELLO, PING, errors). */
static void
conn_answer_now(struct conn *c, void (*put)(struct buf *, const void *),
                const void *arg)
{
    struct req *r = conn_push(c);

    if (r == NULL) {
        c->close_after = 1;
        return;
    }
    buf_init(&r->h.answer, WIRE_FRAME_MAX + WIRE_HEADER);
    put(&r->h.answer, arg);
    r->done = 1;
}

/* Refused frames a connection may send before it is closed: each is
 * audited, and a client must not be able to fill the log with them. */
#define SERVER_REFUSALS_MAX 16

/* Counts a refused frame of C: the last one allowed closes C once its
 * answers are out, and *MSG then says so. */
static void
conn_count_refusal(struct conn *c, const char **msg)
{
    if (++c->refusals >= SERVER_REFUSALS_MAX && !c->close_after) {
        *msg = "too many refused frames; closing";
        conn_log_cut(c, LOG_LEVEL_WARN, "too many refused frames");
        c->close_after = 1;
    }
}

/* Answers and audits a refused frame of TYPE. */
static void
conn_refuse(struct conn *c, uint8_t type, int code, const char *msg)
{
    struct req *r = conn_push(c);

    if (r == NULL) {
        c->close_after = 1;
        return;
    }
    r->h.type = type;
    conn_count_refusal(c, &msg);
    handler_refuse(&r->h, code, msg);
}

/* Refuses request R of C that could not be handed to a worker: a body
 * that did not decode counts against C, a busy daemon does not. */
static void
conn_refuse_job(struct conn *c, struct req *r, int rc, const char *malformed)
{
    const char *msg = malformed;

    if (rc == CUST_ERR_BUSY)
        msg = "daemon busy; retry";
    else
        conn_count_refusal(c, &msg);
    handler_refuse(&r->h, rc, msg);
}

static void
put_hello_ok(struct buf *b, const void *arg)
{
    struct wire_hello h = {WIRE_VERSION, "custodiand " CUSTODIAN_VERSION,
                           WIRE_FRAME_MAX, SERVER_INFLIGHT_MAX};

    (void)arg;
    wire_put_hello(b, WIRE_HELLO_OK, &h);
}

static void
put_pong(struct buf *b, const void *arg)
{
    wire_put_ping(b, WIRE_PONG, arg);
}

static void
conn_hello(struct conn *c, struct buf *body)
{
    struct wire_hello h;
    int rc = wire_get_hello(body, WIRE_HELLO, &h);

    if (rc == 0 && h.version != WIRE_VERSION) {
        conn_refuse(c, WIRE_HELLO, CUST_ERR_VERSION,
                    "this daemon speaks version 1");
        c->close_after = 1;
        return;
    }
    if (rc != 0) {
        conn_refuse(c, WIRE_HELLO, rc, "malformed HELLO");
        c->close_after = 1;
        return;
    }
    c->hello = 1;
    conn_answer_now(c, put_hello_ok, NULL);
}

/* Decodes a request that needs a worker and hands it over. */
static void
conn_job(struct conn *c, uint8_t type, struct buf *body)
{
    struct req *r = conn_push(c);
    int rc;

    if (r == NULL) {
        c->close_after = 1;
        return;
    }
    r->h.type = type;
    if (type == WIRE_LIST) {
        rc = wire_get_empty(body);
    } else if (type == WIRE_PUBKEY) {
        rc = wire_get_pubkey(body, r->h.key);
    } else {
        rc = wire_get_sign(body, &r->h.sign);
        if (rc == 0) {
            /* The frame is drained after this: keep a copy. */
            memcpy(r->h.data, r->h.sign.data, r->h.sign.datalen);
            r->h.sign.data = r->h.data;
            memcpy(r->h.key, r->h.sign.key, sizeof(r->h.key));
        }
    }
    r->timed = 1;
    if (rc == 0)
        rc = workers_submit(c->srv->workers, handler_run, &r->h);
    if (rc != 0)
        conn_refuse_job(c, r, rc, "malformed request");
}

/*
 * Refused frames are audited (conn_refuse); HELLO and PING, which touch
 * no key, are answered here without a record.
 */
/* A request whose answer the loop makes now and the audit log releases. */
static struct req *
conn_admin_req(struct conn *c, uint8_t type)
{
    struct req *r = conn_push(c);

    if (r == NULL) {
        c->close_after = 1;
        return NULL;
    }
    r->h.type = type;
    buf_init(&r->h.answer, WIRE_FRAME_MAX + WIRE_HEADER);
    return r;
}

static void
admin_status(struct conn *c)
{
    struct server *s = c->srv;
    struct wire_status st = {.connections = s->nconns, .inflight = s->inflight};
    struct audit_stats as;
    struct req *r = conn_admin_req(c, WIRE_STATUS);

    if (r == NULL)
        return;
    snprintf(st.version, sizeof(st.version), "custodiand %s",
             CUSTODIAN_VERSION);
    while (keystore_at(s->env->keys, st.keys) != NULL)
        st.keys++;
    st.degraded = (uint8_t)atomic_load(&s->env->degraded);
    audit_stats(s->env->audit, &as);
    st.audit_records = as.records;
    st.audit_syncs = as.syncs;
    wire_put_status_ok(&r->h.answer, &st);
    handler_admin(&r->h, "status", c->admin_name, "ok");
}

static void
admin_reload(struct conn *c)
{
    struct server *s = c->srv;
    const char *why =
        s->reload != NULL ? s->reload(s->reload_arg) : "reload not available";
    struct req *r = conn_admin_req(c, WIRE_RELOAD);

    if (r == NULL)
        return;
    if (why == NULL)
        wire_put_reload_ok(&r->h.answer, "applied");
    else
        wire_put_error(&r->h.answer, CUST_ERR_CONFIG, why);
    handler_admin(&r->h, "reload", c->admin_name, why ? why : "applied");
}

/* Every key, as an operator sees them; no policy applies here. */
static void
admin_keys(struct conn *c)
{
    struct wire_keyinfo infos[64];
    const struct keystore_key *k;
    const struct keystore_version *v;
    struct req *r = conn_admin_req(c, WIRE_LIST);
    uint32_t n = 0;

    if (r == NULL)
        return;
    /* XXX: an admin sees only the first 64 keys. */
    while (n < 64 && (k = keystore_at(c->srv->env->keys, n)) != NULL) {
        /* A key with no active version shows as version 0. */
        v = keystore_acquire(c->srv->env->keys, k->name);
        snprintf(infos[n].name, sizeof(infos[n].name), "%s", k->name);
        snprintf(infos[n].type, sizeof(infos[n].type), "%s",
                 alg_keytype_name(k->type));
        infos[n].version = v ? v->version : 0;
        snprintf(infos[n].fingerprint, sizeof(infos[n].fingerprint), "%s",
                 v ? v->fingerprint : "");
        keystore_release(v);
        n++;
    }
    wire_put_keys(&r->h.answer, infos, n);
    handler_admin(&r->h, "keys", c->admin_name, "ok");
}

/* Any key's active public key; no policy applies here either. */
static void
admin_pubkey(struct conn *c, const char *name)
{
    const struct keystore_version *k =
        keystore_acquire(c->srv->env->keys, name);
    struct wire_keyinfo info = {0};
    struct req *r = conn_admin_req(c, WIRE_PUBKEY);

    if (r == NULL) {
        keystore_release(k);
        return;
    }
    if (k == NULL) {
        wire_put_error(&r->h.answer, CUST_ERR_KEY_NOT_FOUND,
                       "no such key, or no active version");
        handler_admin(&r->h, "pubkey", c->admin_name, "CUST_ERR_KEY_NOT_FOUND");
        return;
    }
    snprintf(info.name, sizeof(info.name), "%s", k->key->name);
    snprintf(info.type, sizeof(info.type), "%s",
             alg_keytype_name(k->key->type));
    info.version = k->version;
    snprintf(info.fingerprint, sizeof(info.fingerprint), "%s", k->fingerprint);
    wire_put_pubkey_ok(&r->h.answer, &info, k->spki, k->spkilen);
    keystore_release(k);
    handler_admin(&r->h, "pubkey", c->admin_name, "ok");
}

/* One suspended identity as a sample: when it was suspended. */
static void
server_suspended_sample(void *arg, const char *name, time_t since,
                        const char *by, const char *reason)
{
    char labels[METRICS_LABELS_MAX];

    (void)by;
    (void)reason;
    metrics_labels(labels, sizeof(labels), "identity", name, NULL);
    metrics_sample(arg, "custodian_identity_suspended_timestamp_seconds",
                   labels, (double)since);
}

/* The metrics text of the whole daemon into *OUT (malloc'd) and *LEN;
 * 0 or CUST_ERR_NOMEM. */
static int
server_metrics_text(struct server *s, char **out, size_t *len)
{
    struct metrics_state st = {.connections = s->nconns,
                               .inflight = s->inflight,
                               .started = s->started};
    struct metrics_key keys[64];
    const struct keystore_key *k;
    const struct keystore_version *v;
    FILE *f = open_memstream(out, len);
    int rc;

    if (f == NULL)
        return CUST_ERR_NOMEM;
    st.degraded = atomic_load(&s->env->degraded);
    audit_stats(s->env->audit, &st.audit);
    /* XXX: past 64 keys, the rest have no version or rotation metrics. */
    while (st.nkeys < 64 && (k = keystore_at(s->env->keys, st.nkeys)) != NULL) {
        v = keystore_acquire(s->env->keys, k->name);
        keys[st.nkeys] = (struct metrics_key){.name = k->name};
        if (v != NULL) {
            keys[st.nkeys].active = v->version;
            if (k->rotation.period > 0)
                keys[st.nkeys].next_change =
                    (time_t)atomic_load(&v->activated_at) + k->rotation.period;
        }
        keystore_release(v);
        st.nkeys++;
    }
    st.keys = keys;
    metrics_daemon(f, &st);
    metrics_family(f, "custodian_identity_suspended_timestamp_seconds", "gauge",
                   "When a suspended identity was suspended (UTC epoch); "
                   "absent for the others");
    if (s->env->suspend != NULL)
        suspend_each(s->env->suspend, server_suspended_sample, f);
    rc = inventory_metrics(s->env->inventory, time(NULL), f);
    if (s->env->alerts != NULL)
        alert_metrics(s->env->alerts, f);
    if (fclose(f) != 0 || rc != 0) {
        free(*out);
        *out = NULL;
        return CUST_ERR_NOMEM;
    }
    return 0;
}

/* Marks the identities of DOC that are suspended now, and why: the
 * inventory counts what happened, the suspension says what may. */
static void
server_mark_suspended(struct server *s, json_t *doc)
{
    char why[512];
    const char *name;
    json_t *id;
    size_t i;

    json_array_foreach(json_object_get(doc, "identities"), i, id)
    {
        name = json_string_value(json_object_get(id, "identity"));
        if (name == NULL || s->env->suspend == NULL)
            continue;
        if (suspend_check(s->env->suspend, name, why, sizeof(why)))
            json_object_set_new(id, "suspended", json_string(why));
        else
            json_object_set_new(id, "suspended", json_null());
    }
}

/* The inventory as one line of JSON, into *OUT and *LEN. */
static int
server_inventory_text(struct server *s, char **out, size_t *len)
{
    json_t *doc = inventory_json(s->env->inventory, time(NULL));

    if (doc != NULL)
        server_mark_suspended(s, doc);

    *out = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (*out == NULL)
        return CUST_ERR_NOMEM;
    *len = strlen(*out);
    return 0;
}

/* REPORT: offset 0 makes the document anew, later offsets read on in it.
 * XXX: built on the loop thread: thousands of identities pause every
 * connection for milliseconds. */
static int
admin_report_part(struct conn *c, const struct wire_report *w,
                  struct buf *answer)
{
    int rc = 0;
    size_t n;

    if (w->offset == 0) {
        free(c->report);
        c->report = NULL;
        snprintf(c->report_what, sizeof(c->report_what), "%s", w->what);
        rc = strcmp(w->what, "metrics") == 0
                 ? server_metrics_text(c->srv, &c->report, &c->reportlen)
                 : server_inventory_text(c->srv, &c->report, &c->reportlen);
        if (rc == 0 && c->reportlen > WIRE_REPORT_MAX)
            rc = CUST_ERR_TOO_BIG;
    } else if (c->report == NULL || strcmp(c->report_what, w->what) != 0 ||
               w->offset > c->reportlen) {
        rc = CUST_ERR_ARG;
    }
    if (rc != 0)
        return rc;
    n = c->reportlen - w->offset;
    n = n > WIRE_REPORT_PART ? WIRE_REPORT_PART : n;
    return wire_put_report_ok(answer, (uint32_t)c->reportlen,
                              c->report + w->offset, n);
}

static void
admin_report(struct conn *c, struct buf *body)
{
    struct wire_report w;
    struct req *r;
    int rc;

    if (wire_get_report(body, &w) != 0 ||
        (strcmp(w.what, "inventory") != 0 && strcmp(w.what, "metrics") != 0)) {
        conn_refuse(c, WIRE_REPORT, CUST_ERR_PROTOCOL,
                    "a report is \"inventory\" or \"metrics\"");
        return;
    }
    if ((r = conn_admin_req(c, WIRE_REPORT)) == NULL)
        return;
    rc = admin_report_part(c, &w, &r->h.answer);
    if (rc != 0) {
        buf_free(&r->h.answer);
        buf_init(&r->h.answer, WIRE_FRAME_MAX + WIRE_HEADER);
        wire_put_error(&r->h.answer, rc,
                       rc == CUST_ERR_ARG ? "no such part: ask from offset 0"
                                          : cust_err_str(rc));
    }
    handler_admin(&r->h, w.what, c->admin_name,
                  rc == 0 ? "ok" : cust_err_name(rc));
}

/* Hands an admin request to a worker: it blocks on the keystore, the
 * token or a file's sync. What it works on is set in R->h. */
static void
admin_job(struct conn *c, struct req *r, uint8_t type, void (*fn)(void *))
{
    int rc;

    r->h.type = type;
    snprintf(r->h.admin, sizeof(r->h.admin), "%s", c->admin_name);
    rc = workers_submit(c->srv->workers, fn, &r->h);
    if (rc != 0)
        handler_refuse(&r->h, rc, "daemon busy; retry");
}

static void
admin_key_create(struct conn *c, const char *name)
{
    struct req *r = conn_push(c);

    if (r == NULL) {
        c->close_after = 1;
        return;
    }
    snprintf(r->h.key, sizeof(r->h.key), "%s", name);
    admin_job(c, r, WIRE_KEY_CREATE, handler_key_create);
}

/* KEY_VERSIONS, KEY_ROTATE, KEY_CHANGE: checked here, run on a worker. */
static void
admin_key_lifecycle(struct conn *c, uint8_t type, struct buf *body)
{
    struct wire_key_change change = {0};
    const char *action = change.action;
    struct req *r;
    int rc;

    if (type == WIRE_KEY_CHANGE)
        rc = wire_get_key_change(body, &change);
    else
        rc = wire_get_pubkey(body, change.key);
    if (rc != 0) {
        conn_refuse(c, type, CUST_ERR_PROTOCOL, "malformed key request");
        return;
    }
    if (type == WIRE_KEY_CHANGE && strcmp(action, "retire") != 0 &&
        strcmp(action, "revoke") != 0 && strcmp(action, "destroy") != 0) {
        conn_refuse(c, type, CUST_ERR_ARG,
                    "a change is retire, revoke or destroy");
        return;
    }
    if ((r = conn_push(c)) == NULL) {
        c->close_after = 1;
        return;
    }
    r->h.change = change;
    snprintf(r->h.key, sizeof(r->h.key), "%s", change.key);
    admin_job(c, r, type, handler_key_admin);
}

/* IDENTITY_CHANGE: checked here, run on a worker (it syncs a file). */
static void
admin_identity_change(struct conn *c, struct buf *body)
{
    struct wire_identity_change w;
    struct req *r;

    if (wire_get_identity_change(body, &w) != 0) {
        conn_refuse(c, WIRE_IDENTITY_CHANGE, CUST_ERR_PROTOCOL,
                    "malformed identity request");
        return;
    }
    if (strcmp(w.action, "suspend") != 0 && strcmp(w.action, "resume") != 0) {
        conn_refuse(c, WIRE_IDENTITY_CHANGE, CUST_ERR_ARG,
                    "an identity change is suspend or resume");
        return;
    }
    if ((r = conn_push(c)) == NULL) {
        c->close_after = 1;
        return;
    }
    r->h.ident = w;
    admin_job(c, r, WIRE_IDENTITY_CHANGE, handler_identity_change);
}

/* What the admin socket serves once HELLO is done. */
static void
conn_admin_dispatch(struct conn *c, uint8_t type, struct buf *body)
{
    char key[WIRE_NAME_MAX + 1];

    if (type == WIRE_KEY_VERSIONS || type == WIRE_KEY_ROTATE ||
        type == WIRE_KEY_CHANGE) {
        admin_key_lifecycle(c, type, body);
        return;
    }
    if (type == WIRE_REPORT) {
        admin_report(c, body);
        return;
    }
    if (type == WIRE_IDENTITY_CHANGE) {
        admin_identity_change(c, body);
        return;
    }

    if (type == WIRE_PUBKEY || type == WIRE_KEY_CREATE) {
        if (wire_get_pubkey(body, key) != 0)
            conn_refuse(c, type, CUST_ERR_PROTOCOL, "malformed key name");
        else if (type == WIRE_PUBKEY)
            admin_pubkey(c, key);
        else
            admin_key_create(c, key);
        return;
    }
    if (wire_get_empty(body) != 0) {
        conn_refuse(c, type, CUST_ERR_PROTOCOL, "admin requests take no body");
        return;
    }
    switch (type) {
    case WIRE_STATUS:
        admin_status(c);
        break;
    case WIRE_RELOAD:
        admin_reload(c);
        break;
    case WIRE_LIST:
        admin_keys(c);
        break;
    default:
        conn_refuse(c, type, CUST_ERR_UNKNOWN_MESSAGE, "not an admin request");
        break;
    }
}

/*
 * The agent socket: listing and signing go to a worker; anything else,
 * adding keys or a PKCS#11 provider, locking, is refused with a failure
 * reply and audited, and the connection stays.
 */
static void
conn_agent_dispatch(struct conn *c, uint8_t type, struct buf *body)
{
    struct req *r;
    int rc;

    if (type != AGENT_REQUEST_IDENTITIES && type != AGENT_SIGN_REQUEST) {
        conn_refuse(c, type, CUST_ERR_UNKNOWN_MESSAGE,
                    "the agent socket lists and signs, nothing else");
        return;
    }
    if ((r = conn_push(c)) == NULL) {
        c->close_after = 1;
        return;
    }
    r->h.type = type;
    r->timed = 1;
    rc = type == AGENT_SIGN_REQUEST ? agent_get_sign(body, &r->h)
                                    : wire_get_empty(body);
    if (rc == 0)
        rc = workers_submit(c->srv->workers, handler_run, &r->h);
    if (rc != 0)
        conn_refuse_job(c, r, rc, "malformed agent request");
}

static void
conn_dispatch(struct conn *c, uint8_t type, struct buf *body)
{
    char payload[WIRE_MESSAGE_MAX + 1];

    if (c->agent) {
        conn_agent_dispatch(c, type, body);
        return;
    }
    if (!c->hello && type != WIRE_HELLO) {
        conn_refuse(c, type, CUST_ERR_PROTOCOL, "HELLO must come first");
        c->close_after = 1;
        return;
    }
    if (c->admin && type != WIRE_HELLO && type != WIRE_PING) {
        conn_admin_dispatch(c, type, body);
        return;
    }
    switch (type) {
    case WIRE_HELLO:
        if (c->hello)
            conn_refuse(c, type, CUST_ERR_PROTOCOL, "HELLO was already sent");
        else
            conn_hello(c, body);
        break;
    case WIRE_PING:
        if (wire_get_ping(body, payload) == 0)
            conn_answer_now(c, put_pong, payload);
        else
            conn_refuse(c, type, CUST_ERR_PROTOCOL, "malformed PING");
        break;
    case WIRE_LIST:
    case WIRE_PUBKEY:
    case WIRE_SIGN:
        conn_job(c, type, body);
        break;
    default:
        conn_refuse(c, type, CUST_ERR_UNKNOWN_MESSAGE, "unknown message type");
        break;
    }
}

/*
 * A frame has begun and not ended within limits.frame_timeout: a client
 * that trickles bytes is never idle, but it must not hold a connection
 * and a partial frame for ever. Refused, audited, logged, closed.
 */
static void
on_frame_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    uint8_t type = 0;
    char why[96];

    (void)fd;
    (void)what;
    /* The type byte, if it came, says what the frame was to be. */
    if (evbuffer_get_length(in) > WIRE_HEADER)
        type = evbuffer_pullup(in, WIRE_HEADER + 1)[WIRE_HEADER];
    snprintf(why, sizeof(why), "a frame begun %us ago is not complete",
             c->srv->conf->limits.frame_timeout);
    conn_log_cut(c, LOG_LEVEL_WARN, why);
    conn_refuse(c, type, CUST_ERR_TIMEOUT,
                "frame not complete in time; closing");
    c->close_after = 1;
    conn_flush(c); /* may free C */
}

static void
on_read(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct buf body;
    size_t frame = 0, len;
    uint8_t type, *data;
    int rc;

    while (conn_can_read(c)) {
        len = evbuffer_get_length(in);
        if (len < WIRE_HEADER)
            break;
        /* Only the length is read from these 4 contiguous bytes. */
        data = evbuffer_pullup(in, WIRE_HEADER);
        rc = wire_frame_check(data, len, &frame);
        if (rc == 1)
            break; /* the rest of the frame has not arrived */
        if (rc != 0) {
            conn_log_cut(c, LOG_LEVEL_WARN, "frame length out of range");
            conn_refuse(c, 0, CUST_ERR_TOO_BIG, "frame length out of range");
            c->close_after = 1;
            break;
        }
        data = evbuffer_pullup(in, (ev_ssize_t)frame);
        wire_open(data, frame, &type, &body);
        conn_dispatch(c, type, &body);
        evbuffer_drain(in, frame);
        evtimer_del(c->frame_timer); /* each frame has its own time */
    }
    if (!conn_can_read(c)) {
        /* Frames may wait in IN: conn_reading() takes them up later. */
        c->paused = 1;
        evtimer_del(c->frame_timer);
    } else if (evbuffer_get_length(in) > 0) {
        /* The start of a frame the client has yet to end. */
        if (!evtimer_pending(c->frame_timer, NULL))
            evtimer_add(c->frame_timer, c->srv->frame_tv);
    } else {
        evtimer_del(c->frame_timer);
    }
    conn_flush(c); /* may free C */
}

static void
on_write(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct server *s = c->srv;

    (void)bev;
    if (c->close_after && c->pending == 0)
        conn_free(c);
    else
        conn_reading(c);
    server_maybe_stop(s); /* this client's answers are out */
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    struct server *s = c->srv;
    char why[64];

    (void)bev;
    if (what & BEV_EVENT_TIMEOUT) {
        snprintf(why, sizeof(why), "%s for %us",
                 what & BEV_EVENT_READING ? "idle" : "answers not read",
                 s->conf->limits.idle_timeout);
        conn_log_cut(c, LOG_LEVEL_INFO, why);
    }
    /* The client is gone (or idle): answers still owed are dropped, and
     * the connection is freed once its last request has finished. */
    bufferevent_free(c->bev);
    c->bev = NULL;
    evtimer_del(c->frame_timer);
    if (c->pending == 0)
        conn_free(c);
    server_maybe_stop(s);
}

/*
 * Who is calling, read now, once, for the connection's life. A caller
 * that cannot be identified is named by what the kernel states (pid,
 * uid, gid) for its refusal; *WHY then says why. Returns 0, 1 for a
 * caller to refuse, or -1 when not even that could be read.
 */
static int
conn_identify(struct conn *c, evutil_socket_t fd, char *why, size_t len)
{
    if (peer_identify(fd, &c->peer) == 0)
        return 0;
    snprintf(why, len, "%s", peer_error());
    log_warn("caller refused: %s", why);
    return peer_credentials(fd, &c->peer) == 0 ? 1 : -1;
}

/* Sets up a connection on FD; ADMIN for the admin socket. */
static void
conn_accept(struct server *s, evutil_socket_t fd, int kind)
{
    int admin = kind == 1, unknown;
    char why[WIRE_MESSAGE_MAX + 1];
    struct conn *c;

    /* XXX: admin connections count against max_conns: while clients
     * hold every connection, operators are refused too. */
    if (s->stopping || s->nconns >= s->max_conns) {
        if (!s->stopping && !s->full_logged)
            log_warn("%u connections open, the most allowed: new ones are "
                     "closed at once (limits.max_connections, and the limit "
                     "on open files)",
                     s->nconns);
        s->full_logged = !s->stopping;
        close(fd);
        return;
    }
    s->full_logged = 0;
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return;
    }
    unknown = conn_identify(c, fd, why, sizeof(why));
    if (unknown < 0) {
        free(c);
        close(fd);
        return;
    }
    c->srv = s;
    c->admin = admin;
    c->agent = kind == 2;
    c->hello = c->agent; /* the agent protocol has no greeting */
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->frame_timer = evtimer_new(s->base, on_frame_timeout, c);
    if (c->bev == NULL || c->frame_timer == NULL) {
        if (c->bev == NULL)
            close(fd);
        conn_free(c);
        return;
    }
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    /* Idle: nothing read, or answers not taken, for that long. */
    conn_timeouts(c);
    bufferevent_setwatermark(c->bev, EV_WRITE, SERVER_OUTPUT_MAX / 2, 0);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    /* Unknown, or not an admin: one audited refusal, then the door
     * closes. The caller learns why it was not identified: its own pid
     * and what happened to it. */
    if (unknown) {
        conn_refuse(c, 0, CUST_ERR_PEER, why);
        c->close_after = 1;
        bufferevent_disable(c->bev, EV_READ);
    } else if (admin && handler_admin_identity(s->env, &c->peer, c->admin_name,
                                               sizeof(c->admin_name)) != 0) {
        conn_refuse(c, 0, CUST_ERR_DENIED, "not an admin identity");
        c->close_after = 1;
        bufferevent_disable(c->bev, EV_READ);
    }
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
          int socklen, void *arg)
{
    (void)l;
    (void)sa;
    (void)socklen;
    conn_accept(arg, fd, 0);
}

static void
on_accept_admin(struct evconnlistener *l, evutil_socket_t fd,
                struct sockaddr *sa, int socklen, void *arg)
{
    (void)l;
    (void)sa;
    (void)socklen;
    conn_accept(arg, fd, 1);
}

static void
on_accept_agent(struct evconnlistener *l, evutil_socket_t fd,
                struct sockaddr *sa, int socklen, void *arg)
{
    (void)l;
    (void)sa;
    (void)socklen;
    conn_accept(arg, fd, 2);
}

/*
 * Whether a daemon answers on the socket at SA: then its path must not
 * be taken over. A socket nobody listens on is left over from a daemon
 * that did not remove it, and may go.
 */
static int
server_socket_in_use(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), used;

    if (fd < 0)
        return 0;
    used = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
    close(fd);
    return used;
}

/* Creates the listening socket with the configured mode and owners. */
static int
server_socket(const struct conf_listener *ls)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    mode_t old;

    if (fd < 0)
        return -1;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", ls->path);
    if (server_socket_in_use(&sa)) {
        log_error("%s: another custodiand is serving on it", ls->path);
        close(fd);
        return -1;
    }
    if (unlink(ls->path) != 0 && errno != ENOENT)
        goto out;
    /* Bind with no access at all, then open up: no window where the
     * socket is reachable with looser permissions than configured. */
    old = umask(0777);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        umask(old);
        goto out;
    }
    umask(old);
    if ((ls->has_owner || ls->has_group) &&
        chown(ls->path, ls->has_owner ? ls->owner : (uid_t)-1,
              ls->has_group ? ls->group : (gid_t)-1) != 0)
        goto out;
    if (chmod(ls->path, ls->mode) != 0 || listen(fd, 1024) != 0)
        goto out;
    return fd;
out:
    log_error("%s: %s", ls->path, strerror(errno));
    close(fd);
    return -1;
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct server *s = arg;
    struct timeval drain = {SERVER_DRAIN_SECONDS, 0};
    struct conn *c;

    (void)what;
    if (s->stopping)
        return;
    log_info("signal %d: finishing requests in flight", (int)sig);
    s->stopping = 1;
    evconnlistener_disable(s->listener);
    evconnlistener_disable(s->admin_listener);
    if (s->agent_listener != NULL)
        evconnlistener_disable(s->agent_listener);
    /* Requests already read are answered; no more are read. */
    for (c = s->conns; c != NULL; c = c->next)
        if (c->bev != NULL)
            bufferevent_disable(c->bev, EV_READ);
    event_base_loopexit(s->base, &drain);
    server_maybe_stop(s);
}

static void
on_sighup(evutil_socket_t sig, short what, void *arg)
{
    struct server *s = arg;

    (void)sig;
    (void)what;
    if (s->reload != NULL)
        s->reload(s->reload_arg);
}

/* Descriptors kept for what is not a connection: tokens, the audit log,
 * /proc reads, the listeners. */
#define SERVER_FD_RESERVE 128
/* Each connection holds its socket and, for the caller's identity,
 * /proc/PID (peer.h). */
#define SERVER_FDS_PER_CONN 2

/* Raises the soft limit on open files so that max_connections fit, as
 * far as the hard limit allows; returns how many connections fit. */
static unsigned
server_fit_connections(unsigned want)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)want * SERVER_FDS_PER_CONN + SERVER_FD_RESERVE;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return want;
    if (rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need
                          ? need
                          : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur >= need)
        return want;
    want = rl.rlim_cur > 2 * SERVER_FD_RESERVE
               ? (unsigned)((rl.rlim_cur - SERVER_FD_RESERVE) /
                            SERVER_FDS_PER_CONN)
               : (unsigned)(rl.rlim_cur / 2 / SERVER_FDS_PER_CONN);
    log_warn("open files are limited to %llu: at most %u connections (raise "
             "the limit, e.g. LimitNOFILE= in the unit)",
             (unsigned long long)rl.rlim_cur, want);
    return want;
}

/* The agent socket, when the configuration names one. */
static int
server_agent_listen(struct server *s)
{
    int fd = server_socket(&s->conf->agent);

    if (fd < 0)
        return -1;
    s->agent_listener = evconnlistener_new(s->base, on_accept_agent, s,
                                           LEV_OPT_CLOSE_ON_FREE, -1, fd);
    if (s->agent_listener == NULL) {
        close(fd);
        return -1;
    }
    return 0;
}

int
server_new(const struct conf *conf, struct handler_env *env,
           server_reload_fn reload, void *arg, struct server **out)
{
    struct server *s = calloc(1, sizeof(*s));
    struct timeval tick = {0, SERVER_TICK_MS * 1000};
    int fd, afd;

    if (s == NULL)
        return CUST_ERR_NOMEM;
    s->conf = conf;
    s->env = env;
    s->reload = reload;
    s->reload_arg = arg;
    s->max_conns = server_fit_connections(conf->limits.max_connections);
    pthread_mutex_init(&s->lock, NULL);
    evthread_use_pthreads();
    s->base = event_base_new();
    if (s->base != NULL) {
        struct timeval tv = {(time_t)conf->limits.frame_timeout, 0};

        s->frame_tv = event_base_init_common_timeout(s->base, &tv);
    }
    fd = server_socket(&conf->sign);
    afd = fd >= 0 ? server_socket(&conf->admin) : -1;
    if (s->base == NULL || fd < 0 || afd < 0) {
        if (fd >= 0)
            close(fd);
        if (afd >= 0)
            close(afd);
        server_free(s);
        return CUST_ERR_IO;
    }
    s->listener = evconnlistener_new(s->base, on_accept, s,
                                     LEV_OPT_CLOSE_ON_FREE, -1, fd);
    s->admin_listener = evconnlistener_new(s->base, on_accept_admin, s,
                                           LEV_OPT_CLOSE_ON_FREE, -1, afd);
    if (conf->agent.path != NULL && server_agent_listen(s) != 0) {
        server_free(s);
        return CUST_ERR_IO;
    }
    s->wake = event_new(s->base, -1, EV_PERSIST, on_wake, s);
    s->tick = event_new(s->base, -1, EV_PERSIST, on_tick, s);
    s->sigterm = evsignal_new(s->base, SIGTERM, on_signal, s);
    s->sigint = evsignal_new(s->base, SIGINT, on_signal, s);
    s->sighup = evsignal_new(s->base, SIGHUP, on_sighup, s);
    if (s->listener == NULL || s->admin_listener == NULL || s->wake == NULL ||
        s->tick == NULL || event_add(s->tick, &tick) != 0 ||
        s->frame_tv == NULL || s->sigterm == NULL || s->sigint == NULL ||
        s->sighup == NULL || event_add(s->sigterm, NULL) != 0 ||
        event_add(s->sigint, NULL) != 0 || event_add(s->sighup, NULL) != 0) {
        server_free(s);
        return CUST_ERR_INTERNAL;
    }
    *out = s;
    return 0;
}

/* Hands the metrics text to the textfile's writer thread. */
static void
on_metrics_tick(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    char *text = NULL;
    size_t len = 0;

    (void)fd;
    (void)what;
    if (server_metrics_text(s, &text, &len) == 0)
        metrics_textfile_post(s->textfile, text, len);
    free(text);
}

/* metrics.textfile: written now, then every metrics.interval. */
static int
server_textfile_start(struct server *s)
{
    struct timeval tv = {(time_t)s->conf->metrics_interval, 0};

    if (s->conf->metrics_textfile == NULL)
        return 0;
    if (metrics_textfile_start(s->conf->metrics_textfile, &s->textfile) != 0)
        return -1;
    s->metrics_tick = event_new(s->base, -1, EV_PERSIST, on_metrics_tick, s);
    if (s->metrics_tick == NULL || event_add(s->metrics_tick, &tv) != 0)
        return -1;
    on_metrics_tick(-1, 0, s);
    log_info("metrics written to %s every %u s", s->conf->metrics_textfile,
             s->conf->metrics_interval);
    return 0;
}

/* The last metrics go out as the daemon stops. */
static void
server_textfile_stop(struct server *s)
{
    if (s->metrics_tick != NULL) {
        event_free(s->metrics_tick);
        s->metrics_tick = NULL;
    }
    if (s->textfile != NULL)
        on_metrics_tick(-1, 0, s);
    metrics_textfile_stop(s->textfile);
    s->textfile = NULL;
}

int
server_run(struct server *s, struct workers *workers)
{
    s->workers = workers;
    s->started = time(NULL);
    if (server_textfile_start(s) != 0) {
        log_error("metrics textfile %s: cannot start its writer",
                  s->conf->metrics_textfile);
        server_textfile_stop(s);
        return -1;
    }
    log_info("serving on %s", s->conf->sign.path);
    if (s->conf->agent.path != NULL)
        log_info("agent socket on %s", s->conf->agent.path);
    event_base_dispatch(s->base);
    server_textfile_stop(s);
    return 0;
}

void
server_free(struct server *s)
{
    struct req *r, *next;
    struct conn *c;

    if (s == NULL)
        return;
    /* The workers and the audit log have stopped, so every request has
     * finished: drop the abandoned ones, then every connection's queue
     * (answers a client never took after a stop's drain time). */
    for (r = s->completed; r != NULL; r = next) {
        next = r->done_next;
        if (r->abandoned)
            req_drop(r);
    }
    s->completed = NULL;
    for (c = s->conns; c != NULL; c = c->next) {
        for (r = c->head; r != NULL; r = next) {
            next = r->next;
            buf_free(&r->h.answer);
            free(r);
        }
        c->head = c->tail = NULL;
        c->abandoned = 0;
    }
    while (s->conns != NULL)
        conn_free(s->conns);
    if (s->listener != NULL) {
        evconnlistener_free(s->listener);
        unlink(s->conf->sign.path);
    }
    if (s->admin_listener != NULL) {
        evconnlistener_free(s->admin_listener);
        unlink(s->conf->admin.path);
    }
    if (s->agent_listener != NULL) {
        evconnlistener_free(s->agent_listener);
        unlink(s->conf->agent.path);
    }
    if (s->wake != NULL)
        event_free(s->wake);
    if (s->tick != NULL)
        event_free(s->tick);
    if (s->sigterm != NULL)
        event_free(s->sigterm);
    if (s->sigint != NULL)
        event_free(s->sigint);
    if (s->sighup != NULL)
        event_free(s->sighup);
    if (s->base != NULL)
        event_base_free(s->base);
    while ((r = s->spare) != NULL) {
        s->spare = r->next;
        free(r);
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}
