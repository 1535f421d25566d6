/*
 * The worker pool: a ring of waiting jobs under one mutex, threads that
 * sleep on a condition variable until there is work or the pool stops.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "custodian/error.h"
#include "workers.h"

struct job {
    workers_fn fn;
    void *arg;
};

struct workers {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct job *ring;
    unsigned cap, head, count; /* ring of CAP slots, COUNT from HEAD */
    bool stopping;
    pthread_t *threads;
    unsigned nthreads;
};

static void *
workers_main(void *arg)
{
    struct workers *w = arg;
    struct job job;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (w->count == 0 && !w->stopping)
            pthread_cond_wait(&w->wake, &w->lock);
        if (w->count == 0)
            break; /* stopping, and nothing left to run */
        job = w->ring[w->head];
        w->head = (w->head + 1) % w->cap;
        w->count--;
        pthread_mutex_unlock(&w->lock);
        job.fn(job.arg);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static void
workers_free(struct workers *w)
{
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    free(w->ring);
    free(w->threads);
    free(w);
}

int
workers_start(unsigned nthreads, unsigned queue_max, struct workers **out)
{
    struct workers *w;

    if (nthreads == 0 || nthreads > WORKERS_MAX || queue_max == 0)
        return CUST_ERR_ARG;
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return CUST_ERR_NOMEM;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    w->cap = queue_max;
    w->ring = calloc(queue_max, sizeof(*w->ring));
    w->threads = calloc(nthreads, sizeof(*w->threads));
    if (w->ring == NULL || w->threads == NULL) {
        workers_free(w);
        return CUST_ERR_NOMEM;
    }
    for (; w->nthreads < nthreads; w->nthreads++) {
        if (pthread_create(&w->threads[w->nthreads], NULL, workers_main, w)) {
            workers_stop(w);
            return CUST_ERR_INTERNAL;
        }
    }
    *out = w;
    return 0;
}

int
workers_submit(struct workers *w, workers_fn fn, void *arg)
{
    int rc = 0;

    pthread_mutex_lock(&w->lock);
    if (w->stopping) {
        rc = CUST_ERR_INTERNAL;
    } else if (w->count == w->cap) {
        rc = CUST_ERR_BUSY;
    } else {
        w->ring[(w->head + w->count) % w->cap] = (struct job){fn, arg};
        w->count++;
        pthread_cond_signal(&w->wake);
    }
    pthread_mutex_unlock(&w->lock);
    return rc;
}

unsigned
workers_queued(struct workers *w)
{
    unsigned n;

    pthread_mutex_lock(&w->lock);
    n = w->count;
    pthread_mutex_unlock(&w->lock);
    return n;
}

void
workers_stop(struct workers *w)
{
    unsigned i;

    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    for (i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    workers_free(w);
}
