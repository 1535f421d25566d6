/*
 * Reading custodiand.conf with libconfig. Each section has a reader that
 * checks its settings and records every problem with its line; nothing
 * is half-accepted, and names are checked against the whole file only
 * after every section was read.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <libconfig.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/uri.h>

#include "custodian/error.h"
#include "conf.h"
#include "p11uri.h"

/* State of one load: the libconfig tree and where errors go. */
struct loader {
    config_t lc;
    const char *path;
    struct conf *conf;
    struct conf_errors *errs;
};

/* Records "FILE:LINE: message" (or "FILE: message" for LINE 0). */
static void conf_error_line(struct loader *l, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
conf_error_line(struct loader *l, int line, const char *fmt, ...)
{
    char msg[512], where[32] = "";
    char *text, **grown;
    va_list ap;

    if (l->errs->n >= CONF_ERRORS_MAX)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(where, sizeof(where), ":%d", line);
    if (asprintf(&text, "%s%s: %s", l->path, where, msg) < 0)
        return;
    grown = realloc(l->errs->lines, (l->errs->n + 1) * sizeof(char *));
    if (grown == NULL) {
        free(text);
        return;
    }
    l->errs->lines = grown;
    l->errs->lines[l->errs->n++] = text;
}

/* The line of setting AT in the file, 0 if unknown. */
static int
conf_line(const config_setting_t *at)
{
    return at != NULL ? (int)config_setting_source_line(at) : 0;
}

/* Records an error at the line of setting AT. */
#define conf_error(l, at, ...) conf_error_line((l), conf_line(at), __VA_ARGS__)

void
conf_errors_free(struct conf_errors *errs)
{
    size_t i;

    for (i = 0; i < errs->n; i++)
        free(errs->lines[i]);
    free(errs->lines);
    errs->lines = NULL;
    errs->n = 0;
}

/* Reports members of GROUP that are not in ALLOWED (NULL-terminated):
 * a misspelt setting would otherwise be ignored in silence. */
static void
conf_check_members(struct loader *l, const config_setting_t *group,
                   const char *const *allowed)
{
    const config_setting_t *m;
    const char *name;
    size_t j;
    int i;

    for (i = 0; (m = config_setting_get_elem(group, (unsigned)i)); i++) {
        name = config_setting_name(m);
        for (j = 0; allowed[j] != NULL; j++) {
            if (strcmp(allowed[j], name) == 0)
                break;
        }
        if (allowed[j] == NULL)
            conf_error(l, m, "unknown setting \"%s\"", name);
    }
}

/* Looks up a string member; NULL if absent (or mistyped, reported). */
static const char *
conf_string(struct loader *l, const config_setting_t *group, const char *name,
            bool required)
{
    const config_setting_t *s = config_setting_get_member(group, name);

    if (s == NULL) {
        if (required)
            conf_error(l, group, "missing \"%s\"", name);
        return NULL;
    }
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        conf_error(l, s, "\"%s\" must be a string", name);
        return NULL;
    }
    return config_setting_get_string(s);
}

static char *
conf_strdup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

/* Looks up an integer member within [MIN, MAX]; *OUT keeps its default
 * when the member is absent. */
static void
conf_uint(struct loader *l, const config_setting_t *group, const char *name,
          unsigned min, unsigned max, unsigned *out)
{
    const config_setting_t *s = config_setting_get_member(group, name);
    long long v;

    if (s == NULL)
        return;
    if (config_setting_type(s) != CONFIG_TYPE_INT &&
        config_setting_type(s) != CONFIG_TYPE_INT64) {
        conf_error(l, s, "\"%s\" must be an integer", name);
        return;
    }
    v = config_setting_get_int64(s);
    if (v < (long long)min || v > (long long)max) {
        conf_error(l, s, "\"%s\" must be between %u and %u", name, min, max);
        return;
    }
    *out = (unsigned)v;
}

/* Names of tokens, keys and identities: short, no spaces or globs. */
static bool
conf_valid_name(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > CONF_NAME_MAX)
        return false;
    for (i = 0; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && strchr("._-", s[i]) == NULL)
            return false;
    }
    return true;
}

static char *
conf_name(struct loader *l, const config_setting_t *group)
{
    const char *name = conf_string(l, group, "name", true);

    if (name == NULL)
        return NULL;
    if (!conf_valid_name(name)) {
        conf_error(l, group,
                   "name \"%.64s\" must be 1 to %d of A-Z a-z 0-9 . _ -", name,
                   CONF_NAME_MAX);
        return NULL;
    }
    return strdup(name);
}

/*
 * A string or a list of strings, as a NULL-terminated copy. An absent
 * setting gives NULL with *N = 0; an empty list is an error, since it
 * would read as "any" and was surely meant as "none".
 */
static char **
conf_strings(struct loader *l, const config_setting_t *group, const char *name,
             size_t *n)
{
    const config_setting_t *s = config_setting_get_member(group, name);
    const config_setting_t *e;
    char **v;
    int i, len;

    *n = 0;
    if (s == NULL)
        return NULL;
    if (config_setting_type(s) == CONFIG_TYPE_STRING) {
        v = calloc(2, sizeof(char *));
        if (v != NULL && (v[0] = strdup(config_setting_get_string(s))))
            *n = 1;
        return v;
    }
    len = config_setting_length(s);
    if ((config_setting_type(s) != CONFIG_TYPE_ARRAY &&
         config_setting_type(s) != CONFIG_TYPE_LIST) ||
        len == 0) {
        conf_error(l, s,
                   "\"%s\" must be a string or a non-empty list of "
                   "strings",
                   name);
        return NULL;
    }
    v = calloc((size_t)len + 1, sizeof(char *));
    for (i = 0; v != NULL && i < len; i++) {
        e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            conf_error(l, e, "\"%s\" must hold strings only", name);
            continue;
        }
        v[(*n)++] = strdup(config_setting_get_string(e));
    }
    return v;
}

static void
conf_free_strings(char **v)
{
    size_t i;

    for (i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

static bool
conf_lookup_account(const char *name, uid_t *uid, gid_t *gid)
{
    struct passwd pw, *res = NULL;
    char buf[4096];

    if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || res == NULL)
        return false;
    *uid = pw.pw_uid;
    *gid = pw.pw_gid;
    return true;
}

static bool
conf_lookup_user(const char *name, uid_t *uid)
{
    gid_t gid;

    return conf_lookup_account(name, uid, &gid);
}

static bool
conf_lookup_group(const char *name, gid_t *gid)
{
    struct group gr, *res = NULL;
    char buf[16384];

    if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || res == NULL)
        return false;
    *gid = gr.gr_gid;
    return true;
}

int
conf_parse_duration(const char *text, unsigned long *seconds)
{
    static const struct {
        char unit;
        unsigned long mult;
    } units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
    unsigned long long v;
    char *end;
    size_t i;

    if (!isdigit((unsigned char)text[0]))
        return CUST_ERR_ARG;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0 || v == 0 || end[0] == '\0' || end[1] != '\0')
        return CUST_ERR_ARG;
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (units[i].unit == end[0]) {
            if (v > 100ULL * 365 * 86400 / units[i].mult)
                return CUST_ERR_ARG; /* more than a century */
            *seconds = (unsigned long)(v * units[i].mult);
            return 0;
        }
    }
    return CUST_ERR_ARG;
}

int
conf_parse_rate(const char *text, double *per_second)
{
    unsigned long long n;
    char *end;

    if (!isdigit((unsigned char)text[0]))
        return CUST_ERR_ARG;
    errno = 0;
    n = strtoull(text, &end, 10);
    if (errno != 0 || n == 0 || n > 1000000 || end[0] != '/' ||
        end[1] == '\0' || end[2] != '\0')
        return CUST_ERR_ARG;
    switch (end[1]) {
    case 's':
        *per_second = (double)n;
        return 0;
    case 'm':
        *per_second = (double)n / 60.0;
        return 0;
    case 'h':
        *per_second = (double)n / 3600.0;
        return 0;
    default:
        return CUST_ERR_ARG;
    }
}

int
conf_parse_time(const char *text, time_t *out)
{
    struct tm tm;
    const char *end;
    time_t t;

    memset(&tm, 0, sizeof(tm));
    end = strptime(text, "%Y-%m-%d", &tm);
    if (end != NULL && *end == 'T')
        end = strptime(end, "T%H:%M:%SZ", &tm);
    if (end == NULL || *end != '\0')
        return CUST_ERR_ARG;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return CUST_ERR_ARG;
    *out = t;
    return 0;
}

static const char *const conf_token_members[] = {
    "name", "module", "uri", "pin_file", "pin_credential", "sessions", NULL};

static void
conf_read_token(struct loader *l, const config_setting_t *g,
                struct conf_token *t)
{
    P11KitUri *uri = NULL;

    t->line = (int)config_setting_source_line(g);
    conf_check_members(l, g, conf_token_members);
    t->name = conf_name(l, g);
    t->module = conf_strdup(conf_string(l, g, "module", true));
    t->uri = conf_strdup(conf_string(l, g, "uri", true));
    t->pin_file = conf_strdup(conf_string(l, g, "pin_file", false));
    t->pin_credential = conf_strdup(conf_string(l, g, "pin_credential", false));
    conf_uint(l, g, "sessions", 1, 64, &t->sessions);

    if (t->module != NULL && t->module[0] != '/')
        conf_error(l, g, "module must be an absolute path");
    if (t->uri != NULL && p11uri_parse(t->uri, &uri) != 0)
        conf_error(l, g, "uri: %s", p11uri_error());
    if (uri != NULL)
        p11_kit_uri_free(uri);
    if ((t->pin_file == NULL) == (t->pin_credential == NULL))
        conf_error(l, g, "give exactly one of pin_file and pin_credential");
    if (t->pin_credential != NULL && strchr(t->pin_credential, '/'))
        conf_error(l, g, "pin_credential is a name, not a path");
}

/* A key's namespaces go into allowed_signers as namespaces="a,b": each
 * must be a plain word that OpenSSH reads back as written. */
#define CONF_NAMESPACE_CHARS                                                   \
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@+-"

static void
conf_check_namespaces(struct loader *l, const config_setting_t *g,
                      const struct conf_key *k)
{
    const char *ns;
    size_t i;

    for (i = 0; i < k->nnamespaces; i++) {
        ns = k->namespaces[i];
        if (ns == NULL || *ns == '\0' || strlen(ns) > 64 ||
            strspn(ns, CONF_NAMESPACE_CHARS) != strlen(ns))
            conf_error(l, config_setting_get_member(g, "namespaces"),
                       "namespace \"%.64s\" must be 1 to 64 letters, digits "
                       "or . _ @ + -",
                       ns ? ns : "");
    }
}

static const char *const conf_key_members[] = {
    "name", "type", "token", "rotation", "namespaces", NULL};
static const char *const conf_rotation_members[] = {
    "period", "publish_ahead", "verify_for", "destroy_after", NULL};

/* Reads the duration NAME of G into *OUT; absent leaves *OUT as it is. */
static void
conf_duration(struct loader *l, const config_setting_t *g, const char *name,
              unsigned long *out)
{
    const char *text = conf_string(l, g, name, false);

    if (text != NULL && conf_parse_duration(text, out) != 0)
        conf_error(l, config_setting_get_member(g, name),
                   "%s \"%.32s\" is not a duration such as 90d, 12h or 30m",
                   name, text);
}

/*
 * A rotation needs its period; the next version is published a day
 * ahead by default (half the period if that is shorter), a retired one
 * verifies forever, and nothing is destroyed unless asked: deletion
 * cannot be undone.
 */
static void
conf_read_rotation(struct loader *l, const config_setting_t *key,
                   struct conf_rotation *r)
{
    const config_setting_t *g = config_setting_get_member(key, "rotation");

    if (g == NULL)
        return;
    if (!config_setting_is_group(g)) {
        conf_error(l, g, "rotation must be a group { period = ...; }");
        return;
    }
    conf_check_members(l, g, conf_rotation_members);
    if (config_setting_get_member(g, "period") == NULL) {
        conf_error(l, g, "a rotation needs its period, e.g. period = \"30d\"");
        return;
    }
    conf_duration(l, g, "period", &r->period);
    r->publish_ahead = r->period / 2 < 86400 ? r->period / 2 : 86400;
    conf_duration(l, g, "publish_ahead", &r->publish_ahead);
    conf_duration(l, g, "verify_for", &r->verify_for);
    conf_duration(l, g, "destroy_after", &r->destroy_after);
    if (r->period > 0 && r->publish_ahead >= r->period)
        conf_error(l, config_setting_get_member(g, "publish_ahead"),
                   "publish_ahead must be shorter than the period");
}

/* Reads a key; its token is resolved by name in conf_resolve(). */
static void
conf_read_key(struct loader *l, const config_setting_t *g, struct conf_key *k,
              const char **token)
{
    const char *type;
    int t;

    k->line = (int)config_setting_source_line(g);
    conf_check_members(l, g, conf_key_members);
    k->name = conf_name(l, g);
    type = conf_string(l, g, "type", true);
    *token = conf_string(l, g, "token", false);
    if (type != NULL) {
        t = alg_keytype_from_name(type);
        if (t < 0)
            conf_error(l, g,
                       "unknown key type \"%.32s\" (ecdsa-p256, ecdsa-p384, "
                       "ed25519, rsa-2048, rsa-3072, rsa-4096)",
                       type);
        else
            k->type = (enum alg_keytype)t;
    }
    conf_read_rotation(l, g, &k->rotation);
    k->namespaces = conf_strings(l, g, "namespaces", &k->nnamespaces);
    conf_check_namespaces(l, g, k);
}

static const char *const conf_listener_members[] = {"path", "mode", "owner",
                                                    "group", NULL};

static void
conf_read_mode(struct loader *l, const config_setting_t *g, mode_t *mode)
{
    const config_setting_t *s = config_setting_get_member(g, "mode");
    const char *text;
    char *end;
    long v;

    if (s == NULL)
        return;
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        conf_error(l, s, "mode must be an octal string such as \"0660\"");
        return;
    }
    text = config_setting_get_string(s);
    v = strtol(text, &end, 8);
    if (*text == '\0' || *end != '\0' || v < 0 || v > 0777) {
        conf_error(l, s, "mode \"%.16s\" is not an octal mode up to 0777",
                   text);
        return;
    }
    if (v & 0007)
        conf_error(l, s,
                   "mode %04lo lets every local user connect; use "
                   "a group instead",
                   v);
    *mode = (mode_t)v;
}

static void
conf_read_listener(struct loader *l, const config_setting_t *g,
                   struct conf_listener *ls)
{
    const char *owner, *group, *path;

    ls->line = (int)config_setting_source_line(g);
    conf_check_members(l, g, conf_listener_members);
    path = conf_string(l, g, "path", false);
    if (path != NULL && path[0] != '/')
        conf_error(l, g, "path must be absolute");
    else if (path != NULL && strlen(path) >= 108)
        conf_error(l, g, "path is longer than a socket address allows");
    else if (path != NULL) {
        free(ls->path);
        ls->path = strdup(path);
    }
    conf_read_mode(l, g, &ls->mode);
    owner = conf_string(l, g, "owner", false);
    group = conf_string(l, g, "group", false);
    if (owner != NULL && !(ls->has_owner = conf_lookup_user(owner, &ls->owner)))
        conf_error(l, g, "no user \"%.64s\" on this machine", owner);
    if (group != NULL &&
        !(ls->has_group = conf_lookup_group(group, &ls->group)))
        conf_error(l, g, "no group \"%.64s\" on this machine", group);
}

static const char *const conf_match_members[] = {
    "uid", "user", "gid", "group", "exe", "exe_sha256", "cgroup", NULL};

static bool
conf_hex32(const char *text, uint8_t out[32])
{
    size_t i;
    unsigned v;

    if (strlen(text) != 64)
        return false;
    for (i = 0; i < 32; i++) {
        if (!isxdigit((unsigned char)text[2 * i]) ||
            !isxdigit((unsigned char)text[2 * i + 1]) ||
            sscanf(text + 2 * i, "%2x", &v) != 1)
            return false;
        out[i] = (uint8_t)v;
    }
    return true;
}

/* The user half of a match: "uid" or "user", not both. */
static void
conf_match_user(struct loader *l, const config_setting_t *g,
                struct conf_match *m)
{
    const char *user = conf_string(l, g, "user", false);
    unsigned uid = 0;

    if (config_setting_get_member(g, "uid") != NULL) {
        conf_uint(l, g, "uid", 0, 0x7fffffff, &uid);
        m->uid = (uid_t)uid;
        m->has_uid = true;
    }
    if (user != NULL && m->has_uid)
        conf_error(l, g, "give uid or user, not both");
    else if (user != NULL && !(m->has_uid = conf_lookup_user(user, &m->uid)))
        conf_error(l, g, "no user \"%.64s\" on this machine", user);
}

static void
conf_match_group(struct loader *l, const config_setting_t *g,
                 struct conf_match *m)
{
    const char *group = conf_string(l, g, "group", false);
    unsigned gid = 0;

    if (config_setting_get_member(g, "gid") != NULL) {
        conf_uint(l, g, "gid", 0, 0x7fffffff, &gid);
        m->gid = (gid_t)gid;
        m->has_gid = true;
    }
    if (group != NULL && m->has_gid)
        conf_error(l, g, "give gid or group, not both");
    else if (group != NULL && !(m->has_gid = conf_lookup_group(group, &m->gid)))
        conf_error(l, g, "no group \"%.64s\" on this machine", group);
}

static void
conf_read_match(struct loader *l, const config_setting_t *parent,
                struct conf_match *m)
{
    const config_setting_t *g = config_setting_get_member(parent, "match");
    const char *sha;

    if (g == NULL || !config_setting_is_group(g)) {
        conf_error(l, g ? g : parent, "needs a match = { ... } group");
        return;
    }
    conf_check_members(l, g, conf_match_members);
    conf_match_user(l, g, m);
    conf_match_group(l, g, m);
    m->exe = conf_strdup(conf_string(l, g, "exe", false));
    m->cgroup = conf_strdup(conf_string(l, g, "cgroup", false));
    sha = conf_string(l, g, "exe_sha256", false);
    if (sha != NULL && !(m->has_sha256 = conf_hex32(sha, m->sha256)))
        conf_error(l, g, "exe_sha256 must be 64 hex digits");
    if (m->exe != NULL && m->exe[0] != '/')
        conf_error(l, g, "exe must be an absolute path");
    if (m->cgroup != NULL && m->cgroup[0] != '/')
        conf_error(l, g, "cgroup must start with '/'");
    if (config_setting_length(g) == 0)
        conf_error(l, g,
                   "match selects every caller; name at least a "
                   "user, group, exe or cgroup");
}

/* Turns a list of names into a bit mask with LOOKUP; reports unknowns. */
static unsigned
conf_mask(struct loader *l, const config_setting_t *g, const char *name,
          int (*lookup)(const char *))
{
    size_t n, i;
    char **v = conf_strings(l, g, name, &n);
    unsigned mask = 0;
    int bit;

    for (i = 0; i < n; i++) {
        bit = lookup(v[i]);
        if (bit < 0)
            conf_error(l, g, "%s: unknown or refused \"%.32s\"", name, v[i]);
        else
            mask |= 1u << bit;
    }
    conf_free_strings(v);
    return mask;
}

/* Operation names, as alg-style lookups for conf_mask(): bit numbers. */
static int
conf_op_bit(const char *name)
{
    if (strcmp(name, "list") == 0)
        return 0;
    if (strcmp(name, "pubkey") == 0)
        return 1;
    if (strcmp(name, "sign") == 0)
        return 2;
    if (strcmp(name, "ssh-auth") == 0)
        return 3;
    return -1;
}

static const char *const conf_grant_members[] = {
    "keys",       "operations", "digests", "schemes",
    "namespaces", "rate",       "burst",   NULL};

static void
conf_read_rate(struct loader *l, const config_setting_t *g,
               struct conf_grant *gr)
{
    const char *rate = conf_string(l, g, "rate", false);
    unsigned burst = 0;

    if (rate != NULL && conf_parse_rate(rate, &gr->rate) != 0)
        conf_error(l, g,
                   "rate \"%.32s\" must read like \"10/s\", \"600/m\" "
                   "or \"1000/h\"",
                   rate);
    conf_uint(l, g, "burst", 1, 1000000, &burst);
    if (burst != 0 && gr->rate == 0)
        conf_error(l, g, "burst needs a rate");
    /* Default bucket: one second's worth, and room for one request. */
    gr->burst = burst != 0 ? burst : fmax(1.0, ceil(gr->rate));
}

static void
conf_read_grant(struct loader *l, const config_setting_t *g,
                struct conf_grant *gr)
{
    unsigned ops;

    gr->line = (int)config_setting_source_line(g);
    conf_check_members(l, g, conf_grant_members);
    gr->keys = conf_strings(l, g, "keys", &gr->nkeys);
    if (config_setting_get_member(g, "keys") == NULL)
        conf_error(l, g, "a grant needs keys (names or globs)");
    ops = conf_mask(l, g, "operations", conf_op_bit);
    gr->ops = ops != 0 ? ops : CONF_OP_LIST | CONF_OP_PUBKEY | CONF_OP_SIGN;
    /* A signer needs the public key it signs with (an SSH signature
     * embeds it), and a public key is no secret. */
    if (gr->ops & (CONF_OP_SIGN | CONF_OP_SSH_AUTH))
        gr->ops |= CONF_OP_PUBKEY;
    gr->digests = conf_mask(l, g, "digests", alg_digest_from_name);
    gr->schemes = conf_mask(l, g, "schemes", alg_scheme_from_name);
    gr->namespaces = conf_strings(l, g, "namespaces", &gr->nnamespaces);
    conf_read_rate(l, g, gr);
}

static const char *const conf_identity_members[] = {
    "name", "match", "expires", "on_alert", "grants", NULL};

static void
conf_read_grants(struct loader *l, const config_setting_t *g,
                 struct conf_identity *id)
{
    const config_setting_t *list = config_setting_get_member(g, "grants");
    int i, n;

    if (list == NULL)
        return; /* an identity with no grants is denied everything */
    n = config_setting_length(list);
    if (config_setting_type(list) != CONFIG_TYPE_LIST) {
        conf_error(l, list, "grants must be a list: ( { ... }, ... )");
        return;
    }
    id->grants = calloc((size_t)n, sizeof(*id->grants));
    for (i = 0; id->grants != NULL && i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
        if (!config_setting_is_group(e)) {
            conf_error(l, e, "each grant is a group { ... }");
            continue;
        }
        conf_read_grant(l, e, &id->grants[id->ngrants++]);
    }
}

static void
conf_read_identity(struct loader *l, const config_setting_t *g,
                   struct conf_identity *id, bool admin)
{
    const char *expires, *on_alert;

    id->line = (int)config_setting_source_line(g);
    conf_check_members(l, g, conf_identity_members);
    id->name = conf_name(l, g);
    conf_read_match(l, g, &id->match);
    expires = conf_string(l, g, "expires", false);
    if (expires != NULL && conf_parse_time(expires, &id->expires) != 0)
        conf_error(l, g,
                   "expires \"%.32s\" must be YYYY-MM-DD or "
                   "YYYY-MM-DDTHH:MM:SSZ",
                   expires);
    on_alert = conf_string(l, g, "on_alert", false);
    if (on_alert != NULL && admin)
        conf_error(l, g, "admins take no on_alert");
    else if (on_alert != NULL && strcmp(on_alert, "suspend") == 0)
        id->suspend_on_alert = true;
    else if (on_alert != NULL && strcmp(on_alert, "record") != 0)
        conf_error(l, config_setting_get_member(g, "on_alert"),
                   "on_alert \"%.32s\" must be \"record\" or \"suspend\"",
                   on_alert);
    if (admin && config_setting_get_member(g, "grants") != NULL)
        conf_error(l, g, "admins take no grants");
    else if (!admin)
        conf_read_grants(l, g, id);
}

/*
 * Reads the list setting NAME into an array of N elements of SIZE bytes,
 * calling READ on each group element. Returns the array (or NULL).
 */
static void *
conf_read_list(struct loader *l, const char *name, size_t size, size_t *n,
               void (*read)(struct loader *, const config_setting_t *, void *))
{
    const config_setting_t *list = config_lookup(&l->lc, name);
    const config_setting_t *e;
    char *items;
    int i, len;

    *n = 0;
    if (list == NULL)
        return NULL;
    if (config_setting_type(list) != CONFIG_TYPE_LIST) {
        conf_error(l, list, "%s must be a list: ( { ... }, ... )", name);
        return NULL;
    }
    len = config_setting_length(list);
    items = calloc((size_t)len + 1, size);
    for (i = 0; items != NULL && i < len; i++) {
        e = config_setting_get_elem(list, (unsigned)i);
        if (!config_setting_is_group(e)) {
            conf_error(l, e, "each entry of %s is a group { ... }", name);
            continue;
        }
        read(l, e, items + size * (*n)++);
    }
    return items;
}

static void
conf_token_reader(struct loader *l, const config_setting_t *g, void *item)
{
    conf_read_token(l, g, item);
}

/* Keys are read after tokens, so a key's token is resolved at once; with
 * a single token, naming it is optional. */
static void
conf_key_reader(struct loader *l, const config_setting_t *g, void *item)
{
    struct conf_key *k = item;
    const char *token = NULL;
    size_t i;

    conf_read_key(l, g, k, &token);
    if (token == NULL && l->conf->ntokens == 1)
        token = l->conf->tokens[0].name;
    if (token == NULL) {
        conf_error(l, g, "name the key's token (there are %zu)",
                   l->conf->ntokens);
        return;
    }
    for (i = 0; i < l->conf->ntokens; i++) {
        if (l->conf->tokens[i].name != NULL &&
            strcmp(l->conf->tokens[i].name, token) == 0)
            k->token = &l->conf->tokens[i];
    }
    if (k->token == NULL)
        conf_error(l, g, "no token named \"%.64s\"", token);
}

static void
conf_identity_reader(struct loader *l, const config_setting_t *g, void *item)
{
    conf_read_identity(l, g, item, false);
}

static void
conf_admin_reader(struct loader *l, const config_setting_t *g, void *item)
{
    conf_read_identity(l, g, item, true);
}

static const char *const conf_audit_members[] = {"path", NULL};
static const char *const conf_limits_members[] = {
    "max_connections", "idle_timeout", "frame_timeout",
    "request_timeout", "workers",      NULL};
static const char *const conf_top_members[] = {
    "tokens",    "keys",      "listeners", "identities", "admins",
    "audit",     "limits",    "user",      "state",      "keyring",
    "suspended", "inventory", "metrics",   "alerts",     NULL};
static const char *const conf_alerts_members[] = {
    "rate_factor", "rate_min", "rate_after", "denials", NULL};
static const char *const conf_inventory_members[] = {"stale_after", NULL};
static const char *const conf_metrics_members[] = {"textfile", "interval",
                                                   NULL};
static const char *const conf_listeners_members[] = {"sign", "admin", "agent",
                                                     NULL};

static void
conf_read_listeners(struct loader *l)
{
    const config_setting_t *g = config_lookup(&l->lc, "listeners");
    const config_setting_t *s;

    if (g == NULL)
        return;
    conf_check_members(l, g, conf_listeners_members);
    if ((s = config_setting_get_member(g, "sign")) != NULL)
        conf_read_listener(l, s, &l->conf->sign);
    if ((s = config_setting_get_member(g, "admin")) != NULL)
        conf_read_listener(l, s, &l->conf->admin);
    if ((s = config_setting_get_member(g, "agent")) != NULL) {
        l->conf->agent.mode = 0660;
        conf_read_listener(l, s, &l->conf->agent);
        if (l->conf->agent.path == NULL)
            conf_error(l, s, "the agent socket needs its path");
    }
    if (strcmp(l->conf->sign.path, l->conf->admin.path) == 0 ||
        (l->conf->agent.path != NULL &&
         (strcmp(l->conf->agent.path, l->conf->sign.path) == 0 ||
          strcmp(l->conf->agent.path, l->conf->admin.path) == 0)))
        conf_error(l, g, "the sockets need different paths");
}

static void
conf_read_audit(struct loader *l)
{
    const config_setting_t *g = config_lookup(&l->lc, "audit");
    const char *path;

    if (g == NULL)
        return;
    conf_check_members(l, g, conf_audit_members);
    path = conf_string(l, g, "path", false);
    if (path != NULL && path[0] != '/')
        conf_error(l, g, "audit path must be absolute");
    else if (path != NULL) {
        free(l->conf->audit_path);
        l->conf->audit_path = strdup(path);
    }
}

/* An absolute path at the top level, replacing the default in *PATH. */
static void
conf_read_path(struct loader *l, const char *name, char **path)
{
    const config_setting_t *root = config_root_setting(&l->lc);
    const char *p = conf_string(l, root, name, false);

    if (p == NULL)
        return;
    if (p[0] != '/') {
        conf_error(l, config_setting_get_member(root, name),
                   "%s must be an absolute path", name);
        return;
    }
    free(*path);
    if ((*path = strdup(p)) == NULL)
        conf_error(l, NULL, "out of memory");
}

static void
conf_read_user(struct loader *l)
{
    const config_setting_t *root = config_root_setting(&l->lc);
    const char *user = conf_string(l, root, "user", false);

    if (user == NULL)
        return;
    if (!conf_lookup_account(user, &l->conf->user_uid, &l->conf->user_gid))
        conf_error(l, config_setting_get_member(root, "user"),
                   "no user \"%.64s\" on this machine", user);
    else if ((l->conf->user = strdup(user)) == NULL)
        conf_error(l, NULL, "out of memory");
}

/* Reads the timeout NAME of G, a duration of at most MAX seconds
 * (RANGE in words), into *OUT. */
static void
conf_timeout(struct loader *l, const config_setting_t *g, const char *name,
             unsigned long max, const char *range, const char *example,
             unsigned *out)
{
    const char *text = conf_string(l, g, name, false);
    unsigned long secs;

    if (text == NULL)
        return;
    if (conf_parse_duration(text, &secs) != 0 || secs > max)
        conf_error(l, g, "%s \"%.32s\" must be a duration %s, such as \"%s\"",
                   name, text, range, example);
    else
        *out = (unsigned)secs;
}

static void
conf_read_limits(struct loader *l)
{
    const config_setting_t *g = config_lookup(&l->lc, "limits");
    struct conf_limits *lim = &l->conf->limits;

    if (g == NULL)
        return;
    conf_check_members(l, g, conf_limits_members);
    conf_uint(l, g, "max_connections", 1, 1000000, &lim->max_connections);
    conf_uint(l, g, "workers", 1, 256, &lim->workers);
    conf_timeout(l, g, "idle_timeout", 86400, "up to 1d", "60s",
                 &lim->idle_timeout);
    conf_timeout(l, g, "frame_timeout", 86400, "up to 1d", "10s",
                 &lim->frame_timeout);
    conf_timeout(l, g, "request_timeout", 3600, "from 1s to 1h", "10s",
                 &lim->request_timeout);
}

/* inventory = { stale_after = "30d"; }: the inventory looks back 30
 * days, so it cannot tell staleness beyond that. */
static void
conf_read_inventory(struct loader *l)
{
    const config_setting_t *g = config_lookup(&l->lc, "inventory");
    const char *text;
    unsigned long secs;

    if (g == NULL)
        return;
    conf_check_members(l, g, conf_inventory_members);
    text = conf_string(l, g, "stale_after", false);
    if (text == NULL)
        return;
    if (conf_parse_duration(text, &secs) != 0 || secs > 30 * 86400UL)
        conf_error(l, config_setting_get_member(g, "stale_after"),
                   "stale_after \"%.32s\" must be a duration up to 30d, such "
                   "as \"14d\"",
                   text);
    else
        l->conf->inventory_stale_after = secs;
}

/* alerts = { rate_factor = 10; rate_min = 60; denials = 10; } */
static void
conf_read_alerts(struct loader *l)
{
    const config_setting_t *g = config_lookup(&l->lc, "alerts");
    struct conf_alerts *a = &l->conf->alerts;
    const char *text;
    unsigned long secs;

    if (g == NULL)
        return;
    conf_check_members(l, g, conf_alerts_members);
    conf_uint(l, g, "rate_factor", 2, 1000000, &a->rate_factor);
    conf_uint(l, g, "rate_min", 1, 1000000, &a->rate_min);
    conf_uint(l, g, "denials", 1, 1000000, &a->denials);
    text = conf_string(l, g, "rate_after", false);
    if (text != NULL && strcmp(text, "0s") == 0)
        a->rate_after = 0; /* no history needed: rate_min decides */
    else if (text != NULL &&
             (conf_parse_duration(text, &secs) != 0 || secs > 86400))
        conf_error(l, config_setting_get_member(g, "rate_after"),
                   "rate_after \"%.32s\" must be a duration up to 1d, such "
                   "as \"1h\"",
                   text);
    else if (text != NULL)
        a->rate_after = secs;
}

/* metrics = { textfile = "/var/lib/node_exporter/custodian.prom";
 * interval = "15s"; } */
static void
conf_read_metrics(struct loader *l)
{
    const config_setting_t *g = config_lookup(&l->lc, "metrics");
    const char *path;

    if (g == NULL)
        return;
    conf_check_members(l, g, conf_metrics_members);
    path = conf_string(l, g, "textfile", false);
    if (path != NULL && path[0] != '/')
        conf_error(l, config_setting_get_member(g, "textfile"),
                   "metrics textfile must be an absolute path");
    else if (path != NULL && (l->conf->metrics_textfile = strdup(path)) == NULL)
        conf_error(l, NULL, "out of memory");
    conf_timeout(l, g, "interval", 3600, "from 1s to 1h", "15s",
                 &l->conf->metrics_interval);
}

/* Reports a name used twice among N items of SIZE bytes whose first
 * member is the name and whose line is at LINE_OFF. */
static void
conf_check_unique(struct loader *l, const char *what, const void *items,
                  size_t n, size_t size, size_t line_off)
{
    const char *base = items;
    const char *a, *b;
    size_t i, j;

    for (i = 0; i < n; i++) {
        a = *(char *const *)(base + i * size);
        for (j = 0; a != NULL && j < i; j++) {
            b = *(char *const *)(base + j * size);
            if (b != NULL && strcmp(a, b) == 0) {
                conf_error_line(l, *(const int *)(base + i * size + line_off),
                                "%s \"%s\" is already defined at line %d", what,
                                a, *(const int *)(base + j * size + line_off));
                break;
            }
        }
    }
}

/* A grant naming a key (no glob) that does not exist is a typo. */
static void
conf_check_grant_keys(struct loader *l)
{
    const struct conf_identity *id;
    const struct conf_grant *g;
    size_t i, j, k;

    for (i = 0; i < l->conf->nidentities; i++) {
        id = &l->conf->identities[i];
        for (j = 0; j < id->ngrants; j++) {
            g = &id->grants[j];
            for (k = 0; k < g->nkeys; k++) {
                if (strpbrk(g->keys[k], "*?[") == NULL &&
                    conf_find_key(l->conf, g->keys[k]) == NULL)
                    conf_error_line(l, g->line,
                                    "grant names key \"%.64s\", which is not "
                                    "defined",
                                    g->keys[k]);
            }
        }
    }
}

static void
conf_defaults(struct conf *c)
{
    c->sign.path = strdup("/run/custodian/sign.sock");
    c->sign.mode = 0660;
    c->admin.path = strdup("/run/custodian/admin.sock");
    c->admin.mode = 0600;
    c->audit_path = strdup("/var/log/custodian/audit.log");
    c->state_path = strdup("/var/lib/custodian/keys.state");
    c->keyring_path = strdup("/var/lib/custodian/keyring");
    c->suspended_path = strdup("/var/lib/custodian/suspended");
    c->limits.max_connections = 16384;
    c->limits.idle_timeout = 60;
    c->limits.request_timeout = 10;
    c->limits.frame_timeout = 10;
    c->limits.workers = 4;
    c->inventory_stale_after = 30 * 86400UL;
    c->alerts.rate_factor = 10;
    c->alerts.rate_min = 60;
    c->alerts.denials = 10;
    c->alerts.rate_after = 3600;
    c->metrics_interval = 15;
}

static void
conf_read_all(struct loader *l)
{
    struct conf *c = l->conf;

    conf_check_members(l, config_root_setting(&l->lc), conf_top_members);
    c->tokens = conf_read_list(l, "tokens", sizeof(*c->tokens), &c->ntokens,
                               conf_token_reader);
    if (c->ntokens == 0)
        conf_error(l, NULL, "no tokens = ( ... ) defined");
    c->keys =
        conf_read_list(l, "keys", sizeof(*c->keys), &c->nkeys, conf_key_reader);
    c->identities = conf_read_list(l, "identities", sizeof(*c->identities),
                                   &c->nidentities, conf_identity_reader);
    c->admins = conf_read_list(l, "admins", sizeof(*c->admins), &c->nadmins,
                               conf_admin_reader);
    conf_read_listeners(l);
    conf_read_audit(l);
    conf_read_path(l, "state", &c->state_path);
    conf_read_path(l, "keyring", &c->keyring_path);
    conf_read_path(l, "suspended", &c->suspended_path);
    conf_read_limits(l);
    conf_read_inventory(l);
    conf_read_alerts(l);
    conf_read_metrics(l);
    conf_read_user(l);

    conf_check_unique(l, "token", c->tokens, c->ntokens, sizeof(*c->tokens),
                      offsetof(struct conf_token, line));
    conf_check_unique(l, "key", c->keys, c->nkeys, sizeof(*c->keys),
                      offsetof(struct conf_key, line));
    conf_check_unique(l, "identity", c->identities, c->nidentities,
                      sizeof(*c->identities),
                      offsetof(struct conf_identity, line));
    conf_check_grant_keys(l);
}

int
conf_load(const char *path, struct conf **out, struct conf_errors *errs)
{
    struct loader l = {.path = path, .errs = errs};
    int rc = CUST_ERR_CONFIG;

    memset(errs, 0, sizeof(*errs));
    config_init(&l.lc);
    l.conf = calloc(1, sizeof(*l.conf));
    if (l.conf == NULL) {
        config_destroy(&l.lc);
        return CUST_ERR_NOMEM;
    }
    conf_defaults(l.conf);
    l.conf->path = strdup(path);

    /* XXX: libconfig 1.5 loses the string it was scanning when a syntax
     * error follows it: each file refused for its syntax (a failed
     * reload) leaks that string. */
    if (config_read_file(&l.lc, path) != CONFIG_TRUE) {
        if (config_error_type(&l.lc) == CONFIG_ERR_FILE_IO)
            conf_error_line(&l, 0, "cannot read: %s", strerror(errno));
        else
            conf_error_line(&l, config_error_line(&l.lc), "%s",
                            config_error_text(&l.lc));
        goto out;
    }
    conf_read_all(&l);
    if (errs->n == 0) {
        *out = l.conf;
        l.conf = NULL;
        rc = 0;
    }
out:
    conf_free(l.conf);
    config_destroy(&l.lc);
    return rc;
}

static void
conf_free_identity(struct conf_identity *id)
{
    size_t i;

    for (i = 0; i < id->ngrants; i++) {
        conf_free_strings(id->grants[i].keys);
        conf_free_strings(id->grants[i].namespaces);
    }
    free(id->grants);
    free(id->name);
    free(id->match.exe);
    free(id->match.cgroup);
}

void
conf_free(struct conf *c)
{
    size_t i;

    if (c == NULL)
        return;
    for (i = 0; i < c->ntokens; i++) {
        free(c->tokens[i].name);
        free(c->tokens[i].module);
        free(c->tokens[i].uri);
        free(c->tokens[i].pin_file);
        free(c->tokens[i].pin_credential);
    }
    for (i = 0; i < c->nkeys; i++) {
        free(c->keys[i].name);
        conf_free_strings(c->keys[i].namespaces);
    }
    for (i = 0; i < c->nidentities; i++)
        conf_free_identity(&c->identities[i]);
    for (i = 0; i < c->nadmins; i++)
        conf_free_identity(&c->admins[i]);
    free(c->tokens);
    free(c->keys);
    free(c->identities);
    free(c->admins);
    free(c->sign.path);
    free(c->admin.path);
    free(c->agent.path);
    free(c->audit_path);
    free(c->state_path);
    free(c->keyring_path);
    free(c->suspended_path);
    free(c->user);
    free(c->metrics_textfile);
    free(c->path);
    free(c);
}

const struct conf_key *
conf_find_key(const struct conf *c, const char *name)
{
    size_t i;

    for (i = 0; i < c->nkeys; i++) {
        if (c->keys[i].name != NULL && strcmp(c->keys[i].name, name) == 0)
            return &c->keys[i];
    }
    return NULL;
}
