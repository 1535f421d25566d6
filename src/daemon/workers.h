/*
 * A fixed pool of threads for work that blocks: token calls, hashing an
 * executable. The event loop hands jobs over and never waits for them;
 * each job reports back on its own (for the daemon, through the audit
 * log's completion and an event-loop wakeup).
 */
#ifndef CUSTODIAN_WORKERS_H
#define CUSTODIAN_WORKERS_H

struct workers;

typedef void (*workers_fn)(void *arg);

/* Most threads a pool may have. */
#define WORKERS_MAX 256

/*
 * Starts NTHREADS threads (1 to WORKERS_MAX) sharing a queue of at most
 * QUEUE_MAX waiting jobs. Returns 0 and *OUT, or CUST_ERR_ARG,
 * CUST_ERR_NOMEM, CUST_ERR_INTERNAL (a thread could not start).
 */
int workers_start(unsigned nthreads, unsigned queue_max, struct workers **out);

/*
 * Queues FN(ARG) to run on some pool thread. Never blocks: returns
 * CUST_ERR_BUSY when the queue is full, so that a flood of requests is
 * refused at once rather than waiting without bound. Thread-safe.
 */
int workers_submit(struct workers *w, workers_fn fn, void *arg);

/* Jobs waiting (not yet started). */
unsigned workers_queued(struct workers *w);

/*
 * Runs every job already queued, then stops and joins the threads and
 * frees the pool. Submitting after this has begun is an error. Accepts
 * NULL.
 */
void workers_stop(struct workers *w);

#endif
