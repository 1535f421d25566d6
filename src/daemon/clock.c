/*
 * Wall-clock time for the daemon, and in test builds a clock that the
 * test sets by writing a number of seconds into a file.
 */
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"

#ifdef CUSTODIAN_TEST_HOOKS
/*
 * The time in the test's file. A file that cannot be read stops the
 * daemon: falling back to the system's clock would move a simulated
 * clock years ahead, and every date taken from it with it.
 */
static time_t
clock_from_file(const char *path)
{
    long long t = 0;
    FILE *f = fopen(path, "re");
    int n = f ? fscanf(f, "%lld", &t) : 0;

    if (f != NULL)
        fclose(f);
    if (n != 1 || t <= 0) {
        fprintf(stderr, "custodiand: test clock %s unreadable\n", path);
        abort();
    }
    return (time_t)t;
}

time_t
clock_now(void)
{
    const char *path = getenv("CUSTODIAN_TEST_CLOCK");

    return path != NULL && *path != '\0' ? clock_from_file(path) : time(NULL);
}

bool
clock_is_simulated(void)
{
    const char *path = getenv("CUSTODIAN_TEST_CLOCK");

    return path != NULL && *path != '\0';
}
#else
time_t
clock_now(void)
{
    return time(NULL);
}

bool
clock_is_simulated(void)
{
    return false;
}
#endif
