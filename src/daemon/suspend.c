/*
 * Suspended identities and their state file. The file is JSON, replaced
 * whole on every change; its loader trusts nothing it reads. A change
 * that cannot be saved is not made: a suspension the daemon forgets at
 * its next start would be worse than one refused now.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "conf.h"
#include "custodian/error.h"
#include "savefile.h"
#include "suspend.h"

#define SUSPEND_FORMAT 1
/* Far more than any policy has identities: a bound on what a file can
 * make us allocate. */
#define SUSPEND_MAX 4096

struct suspension {
    char name[CONF_NAME_MAX + 1];
    char by[CONF_NAME_MAX + 1];
    char reason[SUSPEND_REASON_MAX + 1];
    time_t since;
};

struct suspend {
    char *path;
    pthread_mutex_t lock; /* guards the list */
    struct suspension *list;
    size_t n;
};

/* The index of NAME in S's list, or -1. Called with the lock held. */
static long
suspend_find(const struct suspend *s, const char *name)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        if (strcmp(s->list[i].name, name) == 0)
            return (long)i;
    return -1;
}

/* Saves S's first N entries. Called with the lock held. */
static int
suspend_save(const struct suspend *s, size_t n)
{
    json_t *arr = json_array(), *doc;
    char *text;
    size_t i;
    int rc, saved;

    for (i = 0; arr != NULL && i < n; i++)
        json_array_append_new(
            arr, json_pack("{s:s, s:I, s:s, s:s}", "identity", s->list[i].name,
                           "since", (json_int_t)s->list[i].since, "by",
                           s->list[i].by, "reason", s->list[i].reason));
    doc = json_pack("{s:i, s:o}", "format", SUSPEND_FORMAT, "suspended", arr);
    text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    json_decref(doc);
    if (text == NULL)
        return CUST_ERR_NOMEM;
    rc = savefile_replace(s->path, text, strlen(text));
    saved = errno;
    free(text);
    errno = saved;
    return rc;
}

/* Copies the string member NAME of O into OUT (LEN bytes), or fails. */
static int
suspend_text(const json_t *o, const char *name, char *out, size_t len)
{
    const json_t *v = json_object_get(o, name);

    if (!json_is_string(v) || json_string_length(v) >= len ||
        strlen(json_string_value(v)) != json_string_length(v))
        return -1;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int
suspend_parse(struct suspend *s, const json_t *doc, char *why, size_t whylen)
{
    const json_t *arr = json_object_get(doc, "suspended"), *e, *since;
    size_t i;

    if (json_integer_value(json_object_get(doc, "format")) != SUSPEND_FORMAT ||
        !json_is_array(arr) || json_array_size(arr) > SUSPEND_MAX) {
        snprintf(why, whylen, "%s: not a suspension file of format %d", s->path,
                 SUSPEND_FORMAT);
        return CUST_ERR_CONFIG;
    }
    s->list = calloc(json_array_size(arr) + 1, sizeof(*s->list));
    if (s->list == NULL)
        return CUST_ERR_NOMEM;
    json_array_foreach(arr, i, e)
    {
        struct suspension *x = &s->list[i];

        since = json_object_get(e, "since");
        if (suspend_text(e, "identity", x->name, sizeof(x->name)) != 0 ||
            x->name[0] == '\0' ||
            suspend_text(e, "by", x->by, sizeof(x->by)) != 0 ||
            suspend_text(e, "reason", x->reason, sizeof(x->reason)) != 0 ||
            !json_is_integer(since) || json_integer_value(since) < 0 ||
            suspend_find(s, x->name) >= 0) {
            snprintf(why, whylen, "%s: suspension %zu is malformed", s->path,
                     i + 1);
            return CUST_ERR_CONFIG;
        }
        x->since = (time_t)json_integer_value(since);
        s->n++;
    }
    return 0;
}

int
suspend_open(const char *path, struct suspend **out, char *why, size_t whylen)
{
    struct suspend *s = calloc(1, sizeof(*s));
    json_error_t jerr;
    json_t *doc;
    int rc = 0;

    if (s == NULL || (s->path = strdup(path)) == NULL) {
        free(s);
        return CUST_ERR_NOMEM;
    }
    pthread_mutex_init(&s->lock, NULL);
    doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL && access(path, F_OK) != 0 && errno == ENOENT) {
        rc = 0; /* nothing suspended yet */
    } else if (doc == NULL && access(path, R_OK) != 0) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        rc = CUST_ERR_IO;
    } else if (doc == NULL) {
        snprintf(why, whylen, "%s:%d: %s", path, jerr.line, jerr.text);
        rc = CUST_ERR_CONFIG;
    } else {
        rc = suspend_parse(s, doc, why, whylen);
    }
    json_decref(doc);
    if (rc != 0) {
        suspend_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void
suspend_free(struct suspend *s)
{
    if (s == NULL)
        return;
    pthread_mutex_destroy(&s->lock);
    free(s->list);
    free(s->path);
    free(s);
}

int
suspend_add(struct suspend *s, const char *name, const char *by,
            const char *reason, time_t now)
{
    struct suspension *list, *x;
    int rc;

    pthread_mutex_lock(&s->lock);
    if (suspend_find(s, name) >= 0) {
        pthread_mutex_unlock(&s->lock);
        return 1;
    }
    if (s->n >= SUSPEND_MAX ||
        (list = realloc(s->list, (s->n + 1) * sizeof(*list))) == NULL) {
        pthread_mutex_unlock(&s->lock);
        return CUST_ERR_NOMEM;
    }
    s->list = list;
    x = &list[s->n];
    memset(x, 0, sizeof(*x));
    snprintf(x->name, sizeof(x->name), "%s", name);
    snprintf(x->by, sizeof(x->by), "%s", by);
    snprintf(x->reason, sizeof(x->reason), "%s", reason ? reason : "");
    x->since = now;
    /* Counted only once it is saved. */
    rc = suspend_save(s, s->n + 1);
    if (rc == 0)
        s->n++;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int
suspend_remove(struct suspend *s, const char *name)
{
    struct suspension gone;
    long at;
    int rc;

    pthread_mutex_lock(&s->lock);
    at = suspend_find(s, name);
    if (at < 0) {
        pthread_mutex_unlock(&s->lock);
        return 1;
    }
    /* Moved to the end and left out of the save; put back if that
     * fails. */
    gone = s->list[at];
    memmove(&s->list[at], &s->list[at + 1],
            (s->n - (size_t)at - 1) * sizeof(*s->list));
    s->list[s->n - 1] = gone;
    rc = suspend_save(s, s->n - 1);
    if (rc == 0) {
        s->n--;
    } else {
        memmove(&s->list[at + 1], &s->list[at],
                (s->n - (size_t)at - 1) * sizeof(*s->list));
        s->list[at] = gone;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

bool
suspend_check(struct suspend *s, const char *name, char *why, size_t whylen)
{
    struct tm tm;
    char when[32];
    long at;

    pthread_mutex_lock(&s->lock);
    at = s->n > 0 ? suspend_find(s, name) : -1;
    if (at >= 0 && why != NULL) {
        const struct suspension *x = &s->list[at];

        gmtime_r(&x->since, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(why, whylen, "since %s by %s%s%s", when, x->by,
                 x->reason[0] ? ": " : "", x->reason);
    }
    pthread_mutex_unlock(&s->lock);
    return at >= 0;
}

void
suspend_each(struct suspend *s,
             void (*fn)(void *arg, const char *name, time_t since,
                        const char *by, const char *reason),
             void *arg)
{
    size_t i;

    pthread_mutex_lock(&s->lock);
    for (i = 0; i < s->n; i++)
        fn(arg, s->list[i].name, s->list[i].since, s->list[i].by,
           s->list[i].reason);
    pthread_mutex_unlock(&s->lock);
}
