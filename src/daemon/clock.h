/*
 * The daemon's one source of wall-clock time: policy expiry, rotation
 * schedules and the times recorded in the state file all read it here.
 *
 * A test build (CUSTODIAN_TEST_HOOKS, the custodiand-test binary) reads
 * the time from the file named by $CUSTODIAN_TEST_CLOCK when it is set,
 * so that tests run months of rotations in seconds. The production
 * binary has no such path: it always reads the system clock.
 */
#ifndef CUSTODIAN_CLOCK_H
#define CUSTODIAN_CLOCK_H

#include <stdbool.h>
#include <time.h>

/* Seconds since the epoch, UTC. Thread-safe; does not log. */
time_t clock_now(void);

/* Whether the time comes from a test's file (always false in
 * production): the scheduler then looks at the clock more often. */
bool clock_is_simulated(void);

#endif
