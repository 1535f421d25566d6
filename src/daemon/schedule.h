/*
 * The rotation scheduler: one thread that carries out the keys' due
 * lifecycle transitions (keystore_tick()) when they fall due, so that no
 * token call for a rotation ever runs on the event loop or holds up a
 * signing worker.
 */
#ifndef CUSTODIAN_SCHEDULE_H
#define CUSTODIAN_SCHEDULE_H

#include "keystore.h"

struct schedule;

/* Called on the scheduler's thread after each tick (to publish what
 * changed); returns the next time it wants to run again, 0: none. */
typedef time_t (*schedule_after_fn)(void *arg);

/*
 * Starts the thread; it ticks at once (transitions due at start-up),
 * then whenever the next one falls due or AFTER(ARG) asks, and at least
 * once a minute so that a change of the system clock is noticed (every
 * 100 ms under a test's simulated clock). AFTER may be NULL. Returns 0
 * and *OUT, or CUST_ERR_NOMEM.
 */
int schedule_start(struct keystore *ks, schedule_after_fn after, void *arg,
                   struct schedule **out);

/* Asks the thread to look again now (after an admin change). */
void schedule_poke(struct schedule *s);

/* Stops the thread, waiting for a transition under way. Accepts NULL. */
void schedule_stop(struct schedule *s);

#endif
