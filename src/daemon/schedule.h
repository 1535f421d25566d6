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

/*
 * Starts the thread; it ticks at once (transitions due at start-up),
 * then whenever the next one falls due, and at least once a minute so
 * that a change of the system clock is noticed (every 100 ms under a
 * test's simulated clock). Returns 0 and *OUT, or CUST_ERR_NOMEM.
 */
int schedule_start(struct keystore *ks, struct schedule **out);

/* Asks the thread to look again now (after an admin change). */
void schedule_poke(struct schedule *s);

/* Stops the thread, waiting for a transition under way. Accepts NULL. */
void schedule_stop(struct schedule *s);

#endif
