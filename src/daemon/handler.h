/*
 * What the daemon does with one request: decide it by policy, carry it
 * out on the token, write its audit record, and make the answer frame.
 * Runs on a worker thread; the answer is released only when the audit log
 * reports the record durable.
 */
#ifndef CUSTODIAN_HANDLER_H
#define CUSTODIAN_HANDLER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "audit.h"
#include "buf.h"
#include "alert.h"
#include "inventory.h"
#include "keystore.h"
#include "peer.h"
#include "policy.h"
#include "suspend.h"
#include "wire.h"

/* What every request shares: the daemon's long-lived parts. */
struct handler_env {
    /* The policy may be swapped by a reload: a request holds this lock
     * for reading from its decision until its audit record is made. */
    pthread_rwlock_t policy_lock;
    struct policy *policy;
    struct keystore *keys;
    struct audit *audit;
    struct suspend *suspend;     /* suspended identities */
    struct inventory *inventory; /* counts each record once it is durable */
    struct alert *alerts;        /* NULL: no anomaly alerts */
    atomic_int degraded;         /* the last audit write failed */
    /* Called on a worker after an admin changed a key's versions, before
     * the answer: publishes the keyring. NULL: nothing to do. */
    void (*changed)(void *arg);
    void *changed_arg;
};

struct handler_req;

/* Longest SSH public key blob an agent request may name (RSA-4096 takes
 * 535 bytes). */
#define HANDLER_BLOB_MAX 1024

/*
 * Who answers a request. Its handler does, unless the event loop gives up
 * on it first (handler_abandon()): then the loop answers the client and
 * whatever the handler makes later is recorded but never sent.
 */
enum handler_state {
    HANDLER_RUNNING,   /* neither has happened yet */
    HANDLER_COMMITTED, /* the handler's record is on its way to the log */
    HANDLER_ABANDONED, /* the loop gave up: the handler's answer is dropped */
};

/* Called once per request, on the audit writer's thread or the worker's,
 * when REQ->answer holds the frame to send (or, for an abandoned request,
 * when the handler is finished with it). */
typedef void (*handler_done_fn)(struct handler_req *req);

struct handler_req {
    struct handler_env *env;
    const struct peer *peer; /* the connection's caller */
    uint8_t type; /* WIRE_LIST, WIRE_PUBKEY, WIRE_SIGN or WIRE_KEY_* */
    char key[WIRE_NAME_MAX + 1];
    char admin[CONF_NAME_MAX + 1];     /* WIRE_KEY_*: the admin identity */
    struct wire_key_change change;     /* for WIRE_KEY_CHANGE */
    struct wire_identity_change ident; /* for WIRE_IDENTITY_CHANGE */
    struct wire_sign sign;             /* for WIRE_SIGN; data points to DATA */
    uint8_t data[WIRE_DATA_MAX];
    int agent;                      /* from the agent socket */
    uint8_t blob[HANDLER_BLOB_MAX]; /* agent SIGN: the key blob */
    size_t bloblen;
    uint32_t flags;        /* agent SIGN: its flags */
    struct timespec start; /* when the request arrived */
    atomic_int state;      /* enum handler_state */
    struct buf answer;     /* the answer frame, filled by the handler */
    json_t *rec;           /* its record, from submission until durable */
    handler_done_fn done;
    void *arg; /* the connection's */
};

/*
 * Handles REQ: decides, acts, audits, and calls req->done when the
 * answer is ready (possibly on another thread). Never fails: every
 * failure becomes an ERROR answer, audited like any other.
 */
void handler_run(void *req);

/*
 * Gives up on REQ, whose handler has run too long (a slow or hung token):
 * returns 1 if its handler had not yet committed a record, and then the
 * caller answers the client itself; the handler still finishes, records
 * its outcome with "released": false, and calls req->done, but its answer
 * must be dropped. Returns 0 when the handler's answer is already on its
 * way. Thread-safe.
 */
int handler_abandon(struct handler_req *req);

/*
 * Refuses a frame that is not a request the daemon can carry out
 * (malformed, unknown, out of order, or no worker free): puts an ERROR
 * answer with CODE and MESSAGE in req->answer and audits the refusal;
 * req->done is called when the record is durable. Does not block; may run
 * on the event loop.
 */
void handler_refuse(struct handler_req *req, int code, const char *message);

/*
 * Audits an admin action (ACTION by admin identity ADMIN, with RESULT)
 * whose answer is already in req->answer; req->done is called when the
 * record is durable. Does not block.
 */
void handler_admin(struct handler_req *req, const char *action,
                   const char *admin, const char *result);

/*
 * Handles an admin's KEY_CREATE of req->key, on a worker (it blocks on
 * the token): generates the absent key, answers PUBKEY_OK or an ERROR,
 * and audits it with req->admin; req->done as for handler_run().
 */
void handler_key_create(void *req);

/*
 * Handles an admin's KEY_VERSIONS, KEY_ROTATE or KEY_CHANGE of req->key
 * on a worker (they wait for the keystore and the token): answers
 * VERSIONS, PUBKEY_OK (rotate) or an ERROR, and audits the request with
 * req->admin; the transitions it causes are audited by the keystore's
 * event callback. req->done as for handler_run().
 */
void handler_key_admin(void *req);

/*
 * Handles an admin's IDENTITY_CHANGE (req->ident) on a worker (saving the
 * suspensions syncs a file): suspends an identity of the policy or
 * resumes one, answers IDENTITY_OK or an ERROR, and audits it with
 * req->admin; req->done as for handler_run().
 */
void handler_identity_change(void *req);

/*
 * The parts of a request's handling that the agent front end (agent.h)
 * shares with the native one, on the worker thread: client text and bytes
 * for a record (escaped, hex), the caller as the policy sees it, a
 * record's common fields, an error answer, and the commit that releases
 * the answer once the record is durable.
 */
json_t *handler_text(const char *s, size_t len);
json_t *handler_hex(const uint8_t *p, size_t n);
void handler_policy_caller(const struct peer *p, struct policy_caller *c);
json_t *handler_record(struct handler_req *r, const char *op,
                       const struct policy_decision *d, int rc);
void handler_error(struct handler_req *r, int code, const char *message);
void handler_token_failed(const struct keystore_version *v, int rc,
                          json_t *rec);
void handler_commit(struct handler_req *r, json_t *rec);

/*
 * Judges a decided request of KEY (NULL for a list) for anomalies
 * (alert.h), on the worker, before anything is signed or answered: each alert
 * is written to the audit log as its own record and logged, and if the
 * identity's policy says on_alert = "suspend", the identity is suspended and an
 * allowed request refused. Returns RC, or CUST_ERR_SUSPENDED with D updated.
 */
int handler_alerts(struct handler_req *r, const char *key,
                   struct policy_decision *d, int rc);

/*
 * Copies the name of the admin identity PEER is into NAME (LEN bytes) and
 * returns 0, or returns CUST_ERR_DENIED if it is none.
 */
int handler_admin_identity(struct handler_env *env, const struct peer *peer,
                           char *name, size_t len);

#endif
