/*
 * The event loop: the signing socket, its connections, the framing, and
 * the order of answers. Requests that touch keys go to the worker pool
 * (handler.c); their answers come back through a wakeup event and are
 * sent strictly in the order the requests arrived.
 */
#ifndef CUSTODIAN_SERVER_H
#define CUSTODIAN_SERVER_H

#include "conf.h"
#include "handler.h"
#include "workers.h"

struct server;

/* Requests one connection may have in flight before reading pauses. */
#define SERVER_INFLIGHT_MAX 64

/* Answers a connection may leave unread, in bytes, before reading from
 * it pauses: a client that does not read cannot make the daemon hold
 * more. Reading resumes when half of it has gone out. */
#define SERVER_OUTPUT_MAX (256 * 1024)

/* Called on the loop thread on SIGHUP or an admin RELOAD: NULL when the
 * new configuration took effect, else why it was refused. */
typedef const char *(*server_reload_fn)(void *arg);

/*
 * Creates the loop, the signing socket at conf->sign and the admin
 * socket at conf->admin (mode, owner and group applied; a stale socket
 * file is replaced). The admin socket serves the callers conf->admins
 * names: STATUS, RELOAD and LIST of every key, each audited. ENV must
 * outlive the server. Returns 0 and *OUT or a custodian error (logged).
 */
int server_new(const struct conf *conf, struct handler_env *env,
               server_reload_fn reload, void *arg, struct server **out);

/*
 * Serves, handing token work to WORKERS, until SIGTERM or SIGINT; then
 * stops accepting, lets every request in flight finish and its answer
 * go out (for at most 10 s), and returns 0. A request of a client that
 * waits longer than limits.request_timeout for a worker or the token is
 * answered CUST_ERR_TIMEOUT, audited; its handler's late answer is
 * dropped. WORKERS must outlive the server.
 */
int server_run(struct server *s, struct workers *workers);

/*
 * Closes every connection and the sockets, removes the socket files.
 * Call it only after the workers have stopped and the audit log is
 * closed: requests still running hold their connection.
 */
void server_free(struct server *s);

#endif
