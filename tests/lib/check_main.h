/*
 * The one main() of every check test program: runs SUITE, prints its
 * report, and exits nonzero when any check failed.
 */
#ifndef CUSTODIAN_CHECK_MAIN_H
#define CUSTODIAN_CHECK_MAIN_H

#include <check.h>

static inline int
check_run(Suite *suite)
{
    SRunner *sr = srunner_create(suite);
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

#endif
