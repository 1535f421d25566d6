/*
 * The keyring is built in memory as a list of files, compared with the
 * one last written, and written only when it differs. Times are UTC
 * throughout: ISO 8601 with a Z in the manifest, OpenSSH's
 * YYYYMMDDHHMMSSZ in allowed_signers.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "alg.h"
#include "b64.h"
#include "custodian/error.h"
#include "keyring.h"
#include "pubkey.h"
#include "transition.h"

struct kr_file {
    char *name;
    char *data;
    size_t len;
};

struct keyring {
    struct kr_file *files;
    size_t n;
    time_t next; /* the next verify_until still ahead, 0: none */
    struct kr_lines {
        char *text; /* allowed_signers so far */
        size_t len;
    } signers;
};

static _Thread_local char keyring_reason[PATH_MAX + 64];

const char *
keyring_error(void)
{
    return keyring_reason;
}

/* --- building ----------------------------------------------------------- */

/* Takes DATA (LEN bytes, malloc'd) over as file NAME. */
static int
kr_take(struct keyring *k, const char *name, char *data, size_t len)
{
    struct kr_file *f = realloc(k->files, (k->n + 1) * sizeof(*f));

    if (f == NULL || data == NULL || (name = strdup(name)) == NULL) {
        if (f != NULL)
            k->files = f;
        free(data);
        return CUST_ERR_NOMEM;
    }
    k->files = f;
    k->files[k->n++] = (struct kr_file){(char *)name, data, len};
    return 0;
}

static int
kr_add(struct keyring *k, const char *name, const void *data, size_t len)
{
    char *copy = malloc(len + 1);

    if (copy != NULL)
        memcpy(copy, data, len);
    return kr_take(k, name, copy, len);
}

/* LINE and a newline as file NAME. */
static int
kr_add_line(struct keyring *k, const char *name, const char *line)
{
    size_t len = strlen(line);
    char *copy = malloc(len + 2);

    if (copy != NULL) {
        memcpy(copy, line, len);
        copy[len] = '\n';
    }
    return kr_take(k, name, copy, len + 1);
}

static json_t *
kr_iso(time_t t)
{
    char s[32];
    struct tm tm;

    if (t == 0 || gmtime_r(&t, &tm) == NULL)
        return json_null();
    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(s);
}

/*
 * When a signature by V may be dated: from its activation (a pending
 * version: from its creation, as it may be activated early by hand) to
 * its retirement, both seconds included, and never at or after its
 * revocation. *FROM is 0 when V never signed anything.
 */
static void
kr_window(const struct keystate_version *v, time_t *from, time_t *until)
{
    *from = v->activated ? v->activated
                         : (v->state == KEYSTATE_PENDING ? v->created : 0);
    *until = v->retired;
    if (v->revoked != 0 && (*until == 0 || *until >= v->revoked))
        *until = v->revoked - 1;
    if (*until != 0 && *until < *from)
        *from = 0;
}

/* When V stops being valid for verification at all; 0: never. */
static time_t
kr_verify_until(const struct keystate_version *v, const struct conf_key *ck)
{
    if (v->retired == 0 || ck == NULL || ck->rotation.verify_for == 0)
        return 0;
    return v->retired + (time_t)ck->rotation.verify_for;
}

static int
kr_pubkey(const struct keystate_version *v, EVP_PKEY **out)
{
    uint8_t der[KEYSTATE_B64_MAX];
    const uint8_t *p = der;
    size_t len = 0;

    if (b64_decode(v->pubkey, der, sizeof(der), &len) != 0)
        return CUST_ERR_CONFIG;
    *out = d2i_PUBKEY(NULL, &p, (long)len);
    return *out != NULL ? 0 : CUST_ERR_CONFIG;
}

/* NAME@V.pem and NAME@V.pub. */
static int
kr_pubkey_files(struct keyring *k, const char *label, EVP_PKEY *key)
{
    char name[CONF_NAME_MAX + 32], *pem = NULL, *line = NULL;
    int rc = pubkey_spki_pem(key, &pem);

    if (rc == 0)
        rc = pubkey_ssh_line(key, label, &line);
    snprintf(name, sizeof(name), "%s.pem", label);
    if (rc == 0)
        rc = kr_take(k, name, pem, strlen(pem));
    else
        free(pem);
    if (line != NULL && rc == 0) {
        snprintf(name, sizeof(name), "%s.pub", label);
        rc = kr_add_line(k, name, line);
    }
    free(line);
    return rc;
}

/* NAME@V.statement and its .sig; the statement object, or null. */
static json_t *
kr_statement(struct keyring *k, const struct keystate_key *m,
             const struct keystate_version *v, const char *label)
{
    const struct keystate_version *by = keystate_version(m, v->signer);
    char text[TRANSITION_TEXT_MAX], name[CONF_NAME_MAX + 32];
    uint8_t sig[KEYSTATE_B64_MAX];
    size_t siglen = 0;
    int n;

    if (v->signer == 0 || by == NULL)
        return json_null();
    n = transition_text(&(struct transition){m->name, by->version, v->version,
                                             by->fingerprint, v->fingerprint,
                                             v->created},
                        text);
    if (n < 0 || b64_decode(v->statement_sig, sig, sizeof(sig), &siglen) != 0)
        return json_null();
    snprintf(name, sizeof(name), "%s.statement", label);
    if (kr_add(k, name, text, (size_t)n) != 0)
        return NULL;
    snprintf(name, sizeof(name), "%s.statement.sig", label);
    if (kr_add(k, name, sig, siglen) != 0)
        return NULL;
    return json_pack("{s:i, s:s+, s:s+}", "signed_by", (int)by->version, "text",
                     label, ".statement", "signature", label, ".statement.sig");
}

/* The PKCS#11 attributes the token layer read and required before it
 * would use the version's private key (token.h: custody checks). */
static json_t *
kr_custody(void)
{
    return json_pack("{s:b, s:b, s:b, s:b, s:b}", "CKA_LOCAL", 1,
                     "CKA_NEVER_EXTRACTABLE", 1, "CKA_ALWAYS_SENSITIVE", 1,
                     "CKA_SENSITIVE", 1, "CKA_EXTRACTABLE", 0);
}

/* One allowed_signers line for version V of M, if it may verify now. */
static int
kr_signer_line(struct keyring *k, const struct conf_key *ck,
               const struct keystate_key *m, const struct keystate_version *v,
               EVP_PKEY *key, time_t now)
{
    char after[20], before[20], *line = NULL, label[CONF_NAME_MAX + 16];
    time_t from, until, end = kr_verify_until(v, ck);
    struct tm tm;
    size_t i, need;
    char *grown;
    int rc;

    kr_window(v, &from, &until);
    /* OpenSSH refuses a line whose window is not at least two seconds
     * (valid-before must come after valid-after): a version retired in
     * the second it became active is left out. */
    if (from == 0 || until == from || (end != 0 && now > end))
        return 0;
    if (end != 0 && (k->next == 0 || end < k->next))
        k->next = end;
    snprintf(label, sizeof(label), "%s@%u", m->name, v->version);
    if ((rc = pubkey_ssh_line(key, label, &line)) != 0)
        return rc;
    strftime(after, sizeof(after), "%Y%m%d%H%M%SZ", gmtime_r(&from, &tm));
    if (until != 0)
        strftime(before, sizeof(before), "%Y%m%d%H%M%SZ",
                 gmtime_r(&until, &tm));
    need = k->signers.len + strlen(m->name) + strlen(line) + 128;
    for (i = 0; ck != NULL && i < ck->nnamespaces; i++)
        need += strlen(ck->namespaces[i]) + 1;
    grown = realloc(k->signers.text, need);
    if (grown == NULL) {
        free(line);
        return CUST_ERR_NOMEM;
    }
    k->signers.text = grown;
    k->signers.len += (size_t)sprintf(grown + k->signers.len, "%s ", m->name);
    for (i = 0; ck != NULL && i < ck->nnamespaces; i++)
        k->signers.len +=
            (size_t)sprintf(grown + k->signers.len, "%s%s",
                            i == 0 ? "namespaces=\"" : ",", ck->namespaces[i]);
    k->signers.len += (size_t)sprintf(
        grown + k->signers.len, "%svalid-after=\"%s\"%s%s%s %s\n",
        ck != NULL && ck->nnamespaces > 0 ? "\"," : "", after,
        until ? ",valid-before=\"" : "", until ? before : "", until ? "\"" : "",
        line);
    free(line);
    return 0;
}

static json_t *
kr_version_json(const struct keystate_version *v, const struct conf_key *ck,
                const char *label, EVP_PKEY *key, json_t *statement)
{
    time_t from, until, end = kr_verify_until(v, ck);

    kr_window(v, &from, &until);
    return json_pack(
        "{s:i, s:s, s:s, s:s, s:{s:s+, s:s+}, s:o, s:o, s:o, s:o, s:o, s:s?, "
        "s:o, s:o, s:o, s:o, s:o}",
        "version", (int)v->version, "state", keystate_state_name(v->state),
        "algorithm", alg_keytype_name(pubkey_keytype(key)), "fingerprint",
        v->fingerprint, "public_key", "pem", label, ".pem", "ssh", label,
        ".pub", "created", kr_iso(v->created), "activated",
        kr_iso(v->activated), "retired", kr_iso(v->retired), "destroyed",
        kr_iso(v->destroyed), "revoked", kr_iso(v->revoked),
        "revocation_reason", v->revoked ? v->reason : NULL, "valid_after",
        kr_iso(from), "valid_before", from ? kr_iso(until) : json_null(),
        "verify_until", kr_iso(end), "custody", kr_custody(), "statement",
        statement);
}

/* Every published version of M: its files, manifest entry and line. */
static int
kr_key(struct keyring *k, const struct conf_key *ck,
       const struct keystate_key *m, time_t now, json_t *versions)
{
    const struct keystate_version *v;
    char label[CONF_NAME_MAX + 16];
    EVP_PKEY *key = NULL;
    json_t *st, *o;
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && i < m->n; i++) {
        v = &m->versions[i];
        if (v->fingerprint[0] == '\0' || v->pubkey[0] == '\0')
            continue; /* not generated yet: nothing to publish */
        snprintf(label, sizeof(label), "%s@%u", m->name, v->version);
        if ((rc = kr_pubkey(v, &key)) != 0)
            break;
        rc = kr_pubkey_files(k, label, key);
        if (rc == 0)
            rc = kr_signer_line(k, ck, m, v, key, now);
        st = rc == 0 ? kr_statement(k, m, v, label) : NULL;
        o = st != NULL ? kr_version_json(v, ck, label, key, st) : NULL;
        if (rc == 0 && (o == NULL || json_array_append_new(versions, o) != 0))
            rc = CUST_ERR_NOMEM;
        EVP_PKEY_free(key);
        key = NULL;
    }
    return rc;
}

static const struct conf_key *
kr_conf_key(const struct conf *conf, const char *name)
{
    size_t i;

    for (i = 0; conf != NULL && i < conf->nkeys; i++)
        if (strcmp(conf->keys[i].name, name) == 0)
            return &conf->keys[i];
    return NULL;
}

static json_t *
kr_key_json(const struct conf_key *ck, const char *name, json_t *versions)
{
    json_t *ns = json_array();
    size_t i;

    for (i = 0; ck != NULL && i < ck->nnamespaces; i++)
        json_array_append_new(ns, json_string(ck->namespaces[i]));
    return json_pack("{s:s, s:s?, s:o, s:o}", "name", name, "type",
                     ck ? alg_keytype_name(ck->type) : NULL, "namespaces", ns,
                     "versions", versions);
}

int
keyring_build(const struct conf *conf, const struct keystate *s, time_t now,
              struct keyring **out)
{
    struct keyring *k = calloc(1, sizeof(*k));
    json_t *keys = json_array(), *versions, *doc = NULL;
    const struct conf_key *ck;
    char *text = NULL;
    size_t i;
    int rc = k != NULL && keys != NULL ? 0 : CUST_ERR_NOMEM;

    for (i = 0; rc == 0 && i < s->n; i++) {
        ck = kr_conf_key(conf, s->keys[i].name);
        versions = json_array();
        rc = versions ? kr_key(k, ck, &s->keys[i], now, versions)
                      : CUST_ERR_NOMEM;
        if (rc == 0 && json_array_append_new(
                           keys, kr_key_json(ck, s->keys[i].name, versions)))
            rc = CUST_ERR_NOMEM;
        else if (rc != 0)
            json_decref(versions);
    }
    if (rc == 0)
        doc = json_pack("{s:s, s:o}", "format", "custodian-keyring 1", "keys",
                        keys);
    else
        json_decref(keys);
    text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    if (rc == 0)
        rc = text ? kr_take(k, "manifest.json", text, strlen(text))
                  : CUST_ERR_NOMEM;
    if (rc == 0)
        rc = kr_add(k, "allowed_signers",
                    k->signers.text ? k->signers.text : "", k->signers.len);
    json_decref(doc);
    if (rc != 0) {
        keyring_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

const char *
keyring_file(const struct keyring *k, const char *name, size_t *len)
{
    size_t i;

    for (i = 0; i < k->n; i++)
        if (strcmp(k->files[i].name, name) == 0) {
            *len = k->files[i].len;
            return k->files[i].data;
        }
    return NULL;
}

int
keyring_same(const struct keyring *a, const struct keyring *b)
{
    size_t i;

    if (a == NULL || b == NULL || a->n != b->n)
        return 0;
    for (i = 0; i < a->n; i++)
        if (strcmp(a->files[i].name, b->files[i].name) != 0 ||
            a->files[i].len != b->files[i].len ||
            memcmp(a->files[i].data, b->files[i].data, a->files[i].len) != 0)
            return 0;
    return 1;
}

time_t
keyring_next_change(const struct keyring *k)
{
    return k->next;
}

void
keyring_free(struct keyring *k)
{
    size_t i;

    if (k == NULL)
        return;
    for (i = 0; i < k->n; i++) {
        free(k->files[i].name);
        free(k->files[i].data);
    }
    free(k->files);
    free(k->signers.text);
    free(k);
}

/* --- writing ------------------------------------------------------------ */

static int
kr_fail(const char *what, const char *path)
{
    int e = errno;

    snprintf(keyring_reason, sizeof(keyring_reason), "%s %s: %s", what, path,
             strerror(e));
    errno = e;
    return CUST_ERR_IO;
}

/* Whether NAME is a file a keyring holds. */
static int
kr_own_name(const char *name)
{
    static const char *const suffixes[] = {".pem", ".pub", ".statement",
                                           ".statement.sig", NULL};
    size_t n = strlen(name), i, sl;

    if (strcmp(name, "manifest.json") == 0 ||
        strcmp(name, "allowed_signers") == 0)
        return 1;
    for (i = 0; suffixes[i] != NULL; i++) {
        sl = strlen(suffixes[i]);
        if (n > sl && strchr(name, '@') != NULL &&
            strcmp(name + n - sl, suffixes[i]) == 0)
            return 1;
    }
    return 0;
}

/*
 * Whether DIR may be replaced: it does not exist, or it holds nothing but
 * the files of a keyring. Anything else is someone's, and stays.
 */
static int
kr_replaceable(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int ok = 1;

    if (d == NULL)
        return errno == ENOENT ? 1 : kr_fail("cannot open", dir) == 0;
    while (ok && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        ok = e->d_type == DT_REG && kr_own_name(e->d_name);
    }
    closedir(d);
    if (!ok) {
        errno = EEXIST;
        kr_fail("holds files that are not a keyring's; refusing to replace",
                dir);
    }
    return ok;
}

/* Removes DIR and the regular files in it; nothing else is touched. */
static int
kr_remove(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int rc = 0;

    if (d == NULL)
        return errno == ENOENT ? 0 : kr_fail("cannot open", dir);
    while ((e = readdir(d)) != NULL)
        if (e->d_type == DT_REG && unlinkat(dirfd(d), e->d_name, 0) != 0)
            rc = kr_fail("cannot remove a file in", dir);
    closedir(d);
    if (rc == 0 && rmdir(dir) != 0)
        rc = kr_fail("cannot remove", dir);
    return rc;
}

static int
kr_write_file(int dfd, const struct kr_file *f, const char *dir)
{
    int fd =
        openat(dfd, f->name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    size_t done = 0;
    ssize_t n;

    if (fd < 0)
        return kr_fail("cannot create a file in", dir);
    /* The keyring is public: a service's umask (the unit's 0077) must not
     * hide it from the verifiers on this host. */
    if (fchmod(fd, 0644) != 0) {
        close(fd);
        return kr_fail("cannot set the mode of a file in", dir);
    }
    while (done < f->len) {
        n = write(fd, f->data + done, f->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    if (done < f->len || fsync(fd) != 0) {
        close(fd);
        return kr_fail("cannot write a file in", dir);
    }
    return close(fd) == 0 ? 0 : kr_fail("cannot write a file in", dir);
}

/* Syncs the directory that holds PATH, so that a rename in it lasts. */
static int
kr_sync_parent(const char *path)
{
    char parent[PATH_MAX];
    char *slash;
    int fd, rc;

    snprintf(parent, sizeof(parent), "%s", path);
    slash = strrchr(parent, '/');
    if (slash == NULL)
        snprintf(parent, sizeof(parent), ".");
    else if (slash == parent)
        slash[1] = '\0';
    else
        *slash = '\0';
    fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return kr_fail("cannot open", parent);
    rc = fsync(fd) == 0 ? 0 : kr_fail("cannot sync", parent);
    close(fd);
    return rc;
}

static int
kr_fill(const struct keyring *k, const char *tmp)
{
    int dfd, rc = 0;
    size_t i;

    if (mkdir(tmp, 0755) != 0)
        return kr_fail("cannot create", tmp);
    dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return kr_fail("cannot open", tmp);
    if (fchmod(dfd, 0755) != 0)
        rc = kr_fail("cannot set the mode of", tmp);
    for (i = 0; rc == 0 && i < k->n; i++)
        rc = kr_write_file(dfd, &k->files[i], tmp);
    if (rc == 0 && fsync(dfd) != 0)
        rc = kr_fail("cannot sync", tmp);
    close(dfd);
    return rc;
}

int
keyring_write(const struct keyring *k, const char *path)
{
    char dir[PATH_MAX], tmp[PATH_MAX + 4], why[sizeof(keyring_reason)];
    const char *base;
    size_t n = strlen(path);
    struct stat st;
    int rc, exists;

    while (n > 1 && path[n - 1] == '/')
        n--; /* "keyring/" is "keyring" */
    if (n >= sizeof(dir)) {
        errno = ENAMETOOLONG;
        return kr_fail("path too long:", path);
    }
    memcpy(dir, path, n);
    dir[n] = '\0';
    base = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
    if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        errno = EINVAL;
        return kr_fail("give the keyring a directory of its own, not", path);
    }
    snprintf(tmp, sizeof(tmp), "%s.new", dir);
    exists = stat(dir, &st) == 0;
    if (exists && !S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return kr_fail("not a directory:", dir);
    }
    if (!kr_replaceable(dir) || !kr_replaceable(tmp))
        return CUST_ERR_IO;
    rc = kr_remove(tmp);
    if (rc == 0)
        rc = kr_fill(k, tmp);
    if (rc == 0 && exists &&
        renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE) != 0)
        rc = kr_fail("cannot exchange it with", dir);
    if (rc == 0 && !exists && rename(tmp, dir) != 0)
        rc = kr_fail("cannot rename it to", dir);
    if (rc != 0) {
        /* Ours: the new files that did not make it. The first failure is
         * the one to report. */
        memcpy(why, keyring_reason, sizeof(why));
        kr_remove(tmp);
        memcpy(keyring_reason, why, sizeof(why));
        return rc;
    }
    rc = kr_sync_parent(dir);
    if (rc == 0 && exists)
        rc = kr_remove(tmp); /* the old keyring */
    return rc;
}
