/*
 * The scheduler thread: tick, then sleep on a condition variable until
 * the next transition is due, a poke, or the stop.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "custodian/error.h"
#include "clock.h"
#include "schedule.h"

/* Longest sleep between ticks, in milliseconds, real and simulated. */
#define SCHEDULE_MAX_SLEEP_MS       60000
#define SCHEDULE_SIMULATED_SLEEP_MS 100

struct schedule {
    struct keystore *ks;
    schedule_after_fn after;
    void *arg;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* CLOCK_MONOTONIC */
    bool stop, poked;
};

/* How long to sleep before NEXT (0: nothing scheduled), in ms. */
static long
schedule_sleep_ms(time_t next)
{
    long cap = clock_is_simulated() ? SCHEDULE_SIMULATED_SLEEP_MS
                                    : SCHEDULE_MAX_SLEEP_MS;
    time_t now = clock_now();

    if (next == 0 || clock_is_simulated())
        return cap;
    if (next <= now)
        return 0;
    return next - now > cap / 1000 ? cap : (long)(next - now) * 1000;
}

static void
schedule_wait(struct schedule *s, long ms)
{
    struct timespec until;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    while (!s->stop && !s->poked &&
           pthread_cond_timedwait(&s->wake, &s->lock, &until) != ETIMEDOUT)
        ;
    s->poked = false;
    pthread_mutex_unlock(&s->lock);
}

static void *
schedule_main(void *arg)
{
    struct schedule *s = arg;
    time_t next, want;
    bool stop = false;

    while (!stop) {
        next = keystore_tick(s->ks, clock_now());
        want = s->after != NULL ? s->after(s->arg) : 0;
        if (want != 0 && (next == 0 || want < next))
            next = want;
        schedule_wait(s, schedule_sleep_ms(next));
        pthread_mutex_lock(&s->lock);
        stop = s->stop;
        pthread_mutex_unlock(&s->lock);
    }
    return NULL;
}

int
schedule_start(struct keystore *ks, schedule_after_fn after, void *arg,
               struct schedule **out)
{
    struct schedule *s = calloc(1, sizeof(*s));
    pthread_condattr_t ca;

    if (s == NULL)
        return CUST_ERR_NOMEM;
    s->ks = ks;
    s->after = after;
    s->arg = arg;
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&s->thread, NULL, schedule_main, s) != 0) {
        pthread_cond_destroy(&s->wake);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return CUST_ERR_NOMEM;
    }
    *out = s;
    return 0;
}

void
schedule_poke(struct schedule *s)
{
    pthread_mutex_lock(&s->lock);
    s->poked = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

void
schedule_stop(struct schedule *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
