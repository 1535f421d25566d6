/*
 * Suspended identities: names an operator (or an alert) has stopped from
 * being served until an operator resumes them. Kept in a small state file
 * so that a restart does not lift a suspension. Checked by the policy at
 * every decision, so a suspension holds from the very next request, on
 * connections already open too.
 */
#ifndef CUSTODIAN_SUSPEND_H
#define CUSTODIAN_SUSPEND_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct suspend;

/* Longest reason kept with a suspension. */
#define SUSPEND_REASON_MAX 160

/*
 * Loads the suspensions kept at PATH (none if it does not exist). Returns
 * 0 and *OUT, CUST_ERR_IO (unreadable) or CUST_ERR_CONFIG (malformed)
 * with WHY filled, or CUST_ERR_NOMEM.
 */
int suspend_open(const char *path, struct suspend **out, char *why,
                 size_t whylen);
void suspend_free(struct suspend *s);

/*
 * Suspends identity NAME from NOW, by BY (an admin identity, or the name
 * of an alert) for REASON (may be empty), and saves the file. Returns 0,
 * 1 if NAME was suspended already (unchanged), or CUST_ERR_IO (errno set;
 * nothing changed) / CUST_ERR_NOMEM. Thread-safe.
 */
int suspend_add(struct suspend *s, const char *name, const char *by,
                const char *reason, time_t now);

/* Lifts NAME's suspension and saves the file. Returns 0, 1 if NAME was
 * not suspended, or CUST_ERR_IO (errno set; nothing changed). */
int suspend_remove(struct suspend *s, const char *name);

/*
 * Whether NAME is suspended; if so and WHY is not NULL, WHY says since
 * when, by whom and why. Thread-safe; cheap enough for every request.
 */
bool suspend_check(struct suspend *s, const char *name, char *why,
                   size_t whylen);

/* Calls FN for every suspension, in the order they were made. */
void suspend_each(struct suspend *s,
                  void (*fn)(void *arg, const char *name, time_t since,
                             const char *by, const char *reason),
                  void *arg);

#endif
