/*
 * Tables and JSON from the daemon's inventory. The daemon sends one JSON
 * document (docs/operations.md); the tables are read from it, so that
 * the two outputs never disagree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "custodian/error.h"
#include "ctl_inventory.h"

/* Keys one LIST answer can hold. */
#define CTL_KEYS_MAX 64

static int
ctl_fetch(struct cust_conn *c, json_t **doc)
{
    char *text = NULL;
    size_t len = 0;
    int rc = cust_report(c, "inventory", &text, &len);

    if (rc != 0)
        return rc;
    *doc = json_loadb(text, len, 0, NULL);
    free(text);
    return *doc != NULL ? 0 : CUST_ERR_PROTOCOL;
}

static json_int_t
ctl_int(const json_t *o, const char *name)
{
    return json_integer_value(json_object_get(o, name));
}

static const char *
ctl_str(const json_t *o, const char *name, const char *none)
{
    const char *s = json_string_value(json_object_get(o, name));

    return s != NULL ? s : none;
}

/* A window's counts as "ALLOWED/REFUSED", refused being every other
 * decision. */
static const char *
ctl_window(const json_t *id, const char *window, char *out, size_t len)
{
    const json_t *w = json_object_get(json_object_get(id, "requests"), window);
    json_int_t allowed = ctl_int(w, "allowed");
    json_int_t refused = ctl_int(w, "denied") + ctl_int(w, "rate_limited") +
                         ctl_int(w, "expired") + ctl_int(w, "error");

    snprintf(out, len, "%lld/%lld", (long long)allowed, (long long)refused);
    return out;
}

static const char *
ctl_state(const json_t *id)
{
    if (json_is_null(json_object_get(id, "identity")))
        return "no match";
    if (json_is_string(json_object_get(id, "suspended")))
        return "suspended";
    if (json_is_true(json_object_get(id, "expired")))
        return "expired";
    if (!json_is_true(json_object_get(id, "in_policy")))
        return "removed";
    return json_is_true(json_object_get(id, "stale")) ? "stale" : "ok";
}

static void
ctl_print_identity(const json_t *id)
{
    const json_t *exes = json_object_get(id, "executables");
    char name[96], a[32], b[32], c[32];
    size_t nexe = json_array_size(exes);

    if (json_is_null(json_object_get(id, "identity")))
        snprintf(name, sizeof(name), "(uid %lld)",
                 (long long)ctl_int(id, "uid"));
    else
        snprintf(name, sizeof(name), "%s", ctl_str(id, "identity", "-"));
    printf("%-20s %-9s %-20s %9s %9s %11s  %s", name, ctl_state(id),
           ctl_str(id, "last_used", "-"), ctl_window(id, "1h", a, sizeof(a)),
           ctl_window(id, "24h", b, sizeof(b)),
           ctl_window(id, "30d", c, sizeof(c)),
           nexe > 0 ? ctl_str(json_array_get(exes, 0), "path", "-") : "-");
    if (nexe > 1)
        printf(" (+%zu)", nexe - 1);
    printf("\n");
}

int
ctl_identities(struct cust_conn *c, int json)
{
    const json_t *id;
    json_int_t stale;
    json_t *doc;
    size_t i;
    int rc = ctl_fetch(c, &doc);

    if (rc != 0)
        return rc;
    if (json) {
        json_dumpf(doc, stdout, JSON_INDENT(2));
        printf("\n");
        json_decref(doc);
        return 0;
    }
    printf("%-20s %-9s %-20s %9s %9s %11s  %s\n", "IDENTITY", "STATE",
           "LAST USED", "1H", "24H", "30D", "EXECUTABLE");
    json_array_foreach(json_object_get(doc, "identities"), i, id)
        ctl_print_identity(id);
    if (!json_is_true(json_object_get(json_object_get(doc, "rebuild"), "done")))
        printf("(the daemon is still reading its audit log: the counts "
               "are not complete)\n");
    stale = ctl_int(doc, "stale_after_seconds");
    printf("(requests allowed/refused; counted since %s, stale after %lld "
           "%s unused)\n",
           ctl_str(doc, "since", "-"),
           (long long)(stale % 86400 == 0 ? stale / 86400 : stale),
           stale % 86400 == 0 ? "days" : "seconds");
    json_decref(doc);
    return 0;
}

/* The inventory's entry for key NAME, or NULL. */
static const json_t *
ctl_key_entry(const json_t *doc, const char *name)
{
    const json_t *k;
    size_t i;

    json_array_foreach(json_object_get(doc, "keys"), i,
                       k) if (strcmp(ctl_str(k, "key", ""), name) ==
                              0) return k;
    return NULL;
}

/* One key as --json shows it: the daemon's description and its use. */
static json_t *
ctl_key_json(const struct cust_key *k, const json_t *use)
{
    json_t *o =
        json_pack("{s:s, s:s, s:i, s:s}", "key", k->name, "type", k->type,
                  "version", (int)k->version, "fingerprint", k->fingerprint);

    json_object_set(o, "last_used",
                    use ? json_object_get(use, "last_used") : json_null());
    json_object_set_new(o, "versions",
                        use ? json_deep_copy(json_object_get(use, "versions"))
                            : json_array());
    json_object_set_new(o, "identities",
                        use ? json_deep_copy(json_object_get(use, "identities"))
                            : json_array());
    return o;
}

/* "v1:12 v2:3", or "-". */
static void
ctl_print_signatures(const json_t *use)
{
    const json_t *v;
    size_t i, n = 0;

    json_array_foreach(json_object_get(use, "versions"), i, v)
    {
        printf("%sv%lld:%lld", n++ ? " " : "", (long long)ctl_int(v, "version"),
               (long long)ctl_int(v, "signatures"));
    }
    if (n == 0)
        printf("-");
}

static void
ctl_print_users(const json_t *use)
{
    const json_t *u;
    size_t i, n = 0;

    json_array_foreach(json_object_get(use, "identities"), i, u)
    {
        if (json_is_null(json_object_get(u, "identity")))
            printf("%s(uid %lld)", n++ ? ", " : "",
                   (long long)ctl_int(u, "uid"));
        else
            printf("%s%s", n++ ? ", " : "", ctl_str(u, "identity", "-"));
    }
    if (n == 0)
        printf("-");
}

static void
ctl_print_key(const struct cust_key *k, const json_t *use)
{
    char version[16];

    snprintf(version, sizeof(version), "%u", k->version);
    printf("%-20s %-10s %7s  %-50s  %-20s  ", k->name, k->type,
           k->version ? version : "-",
           k->version ? k->fingerprint : "(no active version)",
           ctl_str(use, "last_used", "-"));
    ctl_print_signatures(use);
    printf("  ");
    ctl_print_users(use);
    printf("\n");
}

int
ctl_keys(struct cust_conn *c, int json)
{
    struct cust_key keys[CTL_KEYS_MAX];
    json_t *doc = NULL, *out;
    size_t n = 0, i;
    int rc = cust_list(c, keys, CTL_KEYS_MAX, &n);

    if (rc == 0)
        rc = ctl_fetch(c, &doc);
    if (rc != 0)
        return rc;
    if (json) {
        out = json_array();
        for (i = 0; i < n; i++)
            json_array_append_new(
                out, ctl_key_json(&keys[i], ctl_key_entry(doc, keys[i].name)));
        json_dumpf(out, stdout, JSON_INDENT(2));
        printf("\n");
        json_decref(out);
        json_decref(doc);
        return 0;
    }
    printf("%-20s %-10s %7s  %-50s  %-20s  %s  %s\n", "KEY", "TYPE", "VERSION",
           "FINGERPRINT", "LAST USED", "SIGNATURES", "IDENTITIES");
    for (i = 0; i < n; i++)
        ctl_print_key(&keys[i], ctl_key_entry(doc, keys[i].name));
    json_decref(doc);
    return 0;
}

int
ctl_metrics(struct cust_conn *c)
{
    char *text = NULL;
    size_t len = 0;
    int rc = cust_report(c, "metrics", &text, &len);

    if (rc != 0)
        return rc;
    fwrite(text, 1, len, stdout);
    free(text);
    return 0;
}
