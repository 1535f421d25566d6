/*
 * The worker pool: every job runs exactly once, on several threads at
 * once, a full queue is refused at once, and stopping runs what waits.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include <check.h>

#include "custodian/error.h"
#include "workers.h"
#include "check_main.h"

static atomic_int ran;
static atomic_int running, most_running;
static int seen[1000];

static void
count_job(void *arg)
{
    int now = atomic_fetch_add(&running, 1) + 1;
    int prev = atomic_load(&most_running);

    while (now > prev &&
           !atomic_compare_exchange_weak(&most_running, &prev, now))
        ;
    seen[(int)(long)arg]++;
    usleep(1000);
    atomic_fetch_sub(&running, 1);
    atomic_fetch_add(&ran, 1);
}

START_TEST(every_job_once_and_concurrently)
{
    struct workers *w = NULL;
    long i;

    atomic_store(&ran, 0);
    atomic_store(&most_running, 0);
    ck_assert_int_eq(workers_start(4, 1000, &w), 0);
    for (i = 0; i < 1000; i++)
        ck_assert_int_eq(workers_submit(w, count_job, (void *)i), 0);
    workers_stop(w); /* runs what is queued */
    ck_assert_int_eq(atomic_load(&ran), 1000);
    for (i = 0; i < 1000; i++)
        ck_assert_int_eq(seen[i], 1);
    ck_assert_int_gt(atomic_load(&most_running), 1);
    ck_assert_int_le(atomic_load(&most_running), 4);
}
END_TEST

static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;

static void
blocked_job(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&gate);
    pthread_mutex_unlock(&gate);
    atomic_fetch_add(&ran, 1);
}

START_TEST(full_queue_is_refused_at_once)
{
    struct workers *w = NULL;
    int i;

    atomic_store(&ran, 0);
    pthread_mutex_lock(&gate);
    ck_assert_int_eq(workers_start(1, 3, &w), 0);
    ck_assert_int_eq(workers_submit(w, blocked_job, NULL), 0);
    while (workers_queued(w) != 0) /* the thread took it and waits */
        usleep(1000);
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(workers_submit(w, blocked_job, NULL), 0);
    ck_assert_int_eq(workers_submit(w, blocked_job, NULL), CUST_ERR_BUSY);
    pthread_mutex_unlock(&gate);
    workers_stop(w);
    ck_assert_int_eq(atomic_load(&ran), 4);
}
END_TEST

START_TEST(bad_sizes)
{
    struct workers *w = NULL;

    ck_assert_int_eq(workers_start(0, 10, &w), CUST_ERR_ARG);
    ck_assert_int_eq(workers_start(WORKERS_MAX + 1, 10, &w), CUST_ERR_ARG);
    ck_assert_int_eq(workers_start(2, 0, &w), CUST_ERR_ARG);
    ck_assert_ptr_null(w);
    workers_stop(NULL);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("workers");
    TCase *tc = tcase_create("workers");

    tcase_add_test(tc, every_job_once_and_concurrently);
    tcase_add_test(tc, full_queue_is_refused_at_once);
    tcase_add_test(tc, bad_sizes);
    suite_add_tcase(s, tc);
    return check_run(s);
}
