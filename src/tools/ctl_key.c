/*
 * The key lifecycle commands of custodianctl. Each is one admin request;
 * the daemon decides what the lifecycle allows and audits it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "custodian/error.h"
#include "ctl_key.h"

/* Versions one answer can hold (the protocol's limit). */
#define CTL_VERSIONS_MAX 64

int
ctl_key_parse_version(const char *arg, char *name, size_t len, uint32_t *v)
{
    const char *at = strrchr(arg, '@');
    unsigned long n;
    char *end;

    if (at == NULL || at == arg || (size_t)(at - arg) >= len || at[1] < '1' ||
        at[1] > '9')
        return -1;
    errno = 0;
    n = strtoul(at + 1, &end, 10);
    if (*end != '\0' || errno != 0 || n > UINT32_MAX)
        return -1;
    memcpy(name, arg, (size_t)(at - arg));
    name[at - arg] = '\0';
    *v = (uint32_t)n;
    return 0;
}

/* A time as the table shows it: UTC to the second, or "-". */
static const char *
ctl_time(uint64_t t, char *out, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t == 0 || gmtime_r(&tt, &tm) == NULL)
        return "-";
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return out;
}

static void
ctl_print_versions(const struct cust_key *info, const struct cust_version *v,
                   size_t n)
{
    char a[32], b[32], c[32];
    size_t i;

    printf("key %s (%s), active version: ", info->name, info->type);
    if (info->version != 0)
        printf("%u\n", info->version);
    else
        printf("none\n");
    printf("%7s  %-9s  %-20s  %-20s  %-20s  %s\n", "VERSION", "STATE",
           "CREATED", "ACTIVATED", "RETIRED", "FINGERPRINT");
    for (i = 0; i < n; i++) {
        printf("%7u  %-9s  %-20s  %-20s  %-20s  %s\n", v[i].version, v[i].state,
               ctl_time(v[i].created, a, sizeof(a)),
               ctl_time(v[i].activated, b, sizeof(b)),
               ctl_time(v[i].retired, c, sizeof(c)), v[i].fingerprint);
        if (v[i].revoked != 0)
            printf("%7s  revoked %s: %s\n", "",
                   ctl_time(v[i].revoked, a, sizeof(a)), v[i].reason);
        if (v[i].destroyed != 0)
            printf("%7s  private key destroyed %s\n", "",
                   ctl_time(v[i].destroyed, a, sizeof(a)));
    }
}

int
ctl_key_versions(struct cust_conn *c, const char *name)
{
    struct cust_version *v = calloc(CTL_VERSIONS_MAX, sizeof(*v));
    struct cust_key info;
    size_t n = 0;
    int rc = v ? cust_key_versions(c, name, &info, v, CTL_VERSIONS_MAX, &n)
               : CUST_ERR_NOMEM;

    if (rc == 0)
        ctl_print_versions(&info, v, n);
    free(v);
    return rc;
}

int
ctl_key_rotate(struct cust_conn *c, const char *name)
{
    struct cust_key info;
    uint8_t spki[2048];
    size_t len = 0;
    int rc = cust_key_rotate(c, name, &info, spki, sizeof(spki), &len);

    if (rc == 0)
        printf("rotated: %s version %u (%s) %s is active\n", info.name,
               info.version, info.type, info.fingerprint);
    return rc;
}

int
ctl_key_change(struct cust_conn *c, const char *action, const char *name,
               uint32_t v, const char *reason)
{
    struct cust_version *vs = calloc(CTL_VERSIONS_MAX, sizeof(*vs));
    struct cust_key info;
    size_t n = 0;
    int rc = vs ? cust_key_change(c, name, v, action, reason, &info, vs,
                                  CTL_VERSIONS_MAX, &n)
                : CUST_ERR_NOMEM;

    if (rc == 0) {
        printf("%s: %s@%u\n", action, name, v);
        ctl_print_versions(&info, vs, n);
    }
    free(vs);
    return rc;
}
