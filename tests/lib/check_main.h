/*
 * The one main() of every check test program: runs SUITE, prints its
 * report, and exits nonzero when any check failed, or when none ran (a
 * CK_RUN_CASE or CK_RUN_SUITE that names nothing must not pass).
 */
#ifndef CUSTODIAN_CHECK_MAIN_H
#define CUSTODIAN_CHECK_MAIN_H

#include <check.h>

static inline int
check_run(Suite *suite)
{
    SRunner *sr = srunner_create(suite);
    int failed, ran;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    ran = srunner_ntests_run(sr);
    srunner_free(sr);
    return failed == 0 && ran > 0 ? 0 : 1;
}

#endif
