/*
 * The token layer against a real token: SoftHSM2, or a TPM through
 * tpm2-pkcs11. The token is named by the environment:
 *
 *   CUST_TEST_MODULE       PKCS#11 module path
 *   CUST_TEST_URI          URI of a token with a user PIN set
 *   CUST_TEST_PIN_FILE     file with that PIN
 *   CUST_TEST_TYPES        key types to generate and sign with
 *   CUST_TEST_UNSUPPORTED  key types the token must report unsupported
 *   CUST_TEST_SIGNS        signatures per thread in the thread test
 *
 * Each test opens and closes its own token. Run one test case per process
 * with CK_RUN_CASE and CK_FORK=no where the token keeps state per process
 * (a TPM without a resource manager).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "custodian/error.h"
#include "token_int.h"
#include "check_main.h"

#define NTHREADS 8

static const char *
env(const char *name)
{
    const char *v = getenv(name);

    ck_assert_msg(v != NULL, "%s must be set", name);
    return v;
}

static struct token *
open_token_with(const char *pin_file)
{
    struct token_config cfg = {
        .module = env("CUST_TEST_MODULE"),
        .uri = env("CUST_TEST_URI"),
        .pin_file = pin_file,
        .sessions = 4,
        /* These tests check what the token does, not how long a session
         * takes to come free: on a loaded machine (the sanitizer, a TPM)
         * eight threads may wait longer than the daemon's 5 s. */
        .wait_ms = 60000,
    };
    struct token *tok = NULL;
    int rc = token_open(&cfg, &tok);

    ck_assert_msg(rc == 0, "token_open: %s (%s)", cust_err_str(rc),
                  token_error_detail());
    return tok;
}

static struct token *
open_token(void)
{
    return open_token_with(env("CUST_TEST_PIN_FILE"));
}

/* A label no earlier run used. */
static void
make_label(char *out, size_t len, const char *what)
{
    static int counter;

    snprintf(out, len, "test-%s-%ld-%d", what, (long)getpid(), counter++);
}

/* Returns 1 if the space-separated LIST contains WORD. */
static int
list_has(const char *list, const char *word)
{
    size_t n = strlen(word);
    const char *p = list;

    while ((p = strstr(p, word)) != NULL) {
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
        p += n;
    }
    return 0;
}

/* Verifies SIG over a digest with OpenSSL, as an outside verifier would. */
static int
verify_digest(EVP_PKEY *pub, enum alg_scheme scheme, enum alg_digest md,
              const uint8_t *digest, const uint8_t *sig, size_t siglen)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pub, NULL);
    int ok = ctx != NULL && EVP_PKEY_verify_init(ctx) == 1 &&
             EVP_PKEY_CTX_set_signature_md(ctx, alg_digest_md(md)) == 1;

    if (ok && scheme == ALG_SCHEME_RSA_PSS)
        ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    if (ok && scheme == ALG_SCHEME_RSA_PKCS1)
        ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1;
    ok = ok &&
         EVP_PKEY_verify(ctx, sig, siglen, digest, alg_digest_len(md)) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* Verifies SIG over a whole message with OpenSSL. */
static int
verify_message(EVP_PKEY *pub, enum alg_scheme scheme, enum alg_digest md,
               const uint8_t *msg, size_t len, const uint8_t *sig,
               size_t siglen)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok;

    ok = mctx != NULL &&
         EVP_DigestVerifyInit(mctx, &pctx,
                              md == ALG_DIGEST_NONE ? NULL : alg_digest_md(md),
                              NULL, pub) == 1;
    if (ok && scheme == ALG_SCHEME_RSA_PSS)
        ok =
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    ok = ok && EVP_DigestVerify(mctx, sig, siglen, msg, len) == 1;
    EVP_MD_CTX_free(mctx);
    return ok;
}

/* Signs a digest and a message under every digest SCHEME allows. */
static void
check_scheme(struct token_key *key, enum alg_scheme scheme)
{
    static const uint8_t msg[] = "custodian test message";
    EVP_PKEY *pub = token_key_public(key);
    uint8_t digest[ALG_DIGEST_MAX], sig[ALG_SIG_MAX];
    size_t siglen = 0;
    int md, rc;

    if (scheme == ALG_SCHEME_ED25519) {
        rc = token_sign_message(key, scheme, ALG_DIGEST_NONE, msg, sizeof(msg),
                                sig, &siglen);
        ck_assert_msg(rc == 0, "ed25519: %s (%s)", cust_err_str(rc),
                      token_error_detail());
        ck_assert_uint_eq(siglen, 64);
        ck_assert(verify_message(pub, scheme, ALG_DIGEST_NONE, msg, sizeof(msg),
                                 sig, siglen));
        return;
    }
    for (md = ALG_DIGEST_SHA256; md <= ALG_DIGEST_SHA512; md++) {
        ck_assert_int_eq(alg_digest_compute(md, msg, sizeof(msg), digest), 0);
        rc = token_sign_digest(key, scheme, md, digest, alg_digest_len(md), sig,
                               &siglen);
        ck_assert_msg(rc == 0, "%s/%s digest: %s (%s)", alg_scheme_name(scheme),
                      alg_digest_name(md), cust_err_str(rc),
                      token_error_detail());
        ck_assert_msg(verify_digest(pub, scheme, md, digest, sig, siglen),
                      "%s/%s digest signature does not verify",
                      alg_scheme_name(scheme), alg_digest_name(md));

        rc =
            token_sign_message(key, scheme, md, msg, sizeof(msg), sig, &siglen);
        ck_assert_msg(rc == 0, "%s/%s message: %s (%s)",
                      alg_scheme_name(scheme), alg_digest_name(md),
                      cust_err_str(rc), token_error_detail());
        ck_assert_msg(
            verify_message(pub, scheme, md, msg, sizeof(msg), sig, siglen),
            "%s/%s message signature does not verify", alg_scheme_name(scheme),
            alg_digest_name(md));
    }
}

/* Reads one boolean attribute of the private key on a fresh session. */
static CK_BBOOL
priv_bool(struct token_key *key, CK_ATTRIBUTE_TYPE type)
{
    struct token *tok = key->tok;
    CK_SESSION_HANDLE s;
    CK_BBOOL v = 0xff;
    CK_ATTRIBUTE a = {type, &v, sizeof(v)};

    ck_assert_int_eq(
        tok->fn->C_OpenSession(tok->slot, CKF_SERIAL_SESSION, NULL, NULL, &s),
        CKR_OK);
    ck_assert_int_eq(tok->fn->C_GetAttributeValue(s, key->priv, &a, 1), CKR_OK);
    tok->fn->C_CloseSession(s);
    return v;
}

/* The private value must not come out, whatever the token calls it. */
static void
check_private_unreadable(struct token_key *key)
{
    struct token *tok = key->tok;
    uint8_t value[1024];
    CK_ATTRIBUTE a = {alg_keytype_is_rsa(key->type) ? CKA_PRIVATE_EXPONENT
                                                    : CKA_VALUE,
                      value, sizeof(value)};
    CK_SESSION_HANDLE s;
    CK_RV rv;

    ck_assert_int_eq(
        tok->fn->C_OpenSession(tok->slot, CKF_SERIAL_SESSION, NULL, NULL, &s),
        CKR_OK);
    rv = tok->fn->C_GetAttributeValue(s, key->priv, &a, 1);
    tok->fn->C_CloseSession(s);
    /* SoftHSM2 says SENSITIVE; tpm2-pkcs11 has no such attribute at all. */
    ck_assert_msg(rv == CKR_ATTRIBUTE_SENSITIVE ||
                      (rv == CKR_ATTRIBUTE_TYPE_INVALID &&
                       getenv("CUST_TEST_STRICT_SENSITIVE") == NULL),
                  "reading the private value gave %s", token_rv_name(rv));
    ck_assert(a.ulValueLen == CK_UNAVAILABLE_INFORMATION);
}

static void
check_custody(struct token_key *key)
{
    ck_assert_int_eq(priv_bool(key, CKA_NEVER_EXTRACTABLE), CK_TRUE);
    ck_assert_int_eq(priv_bool(key, CKA_ALWAYS_SENSITIVE), CK_TRUE);
    ck_assert_int_eq(priv_bool(key, CKA_LOCAL), CK_TRUE);
    ck_assert_int_eq(priv_bool(key, CKA_EXTRACTABLE), CK_FALSE);
    ck_assert_int_eq(priv_bool(key, CKA_DECRYPT), CK_FALSE);
    ck_assert_int_eq(priv_bool(key, CKA_UNWRAP), CK_FALSE);
    ck_assert_int_eq(priv_bool(key, CKA_DERIVE), CK_FALSE);
    check_private_unreadable(key);
}

/* What the layer must refuse before it touches the token. */
static void
check_refusals(struct token_key *key)
{
    uint8_t digest[ALG_DIGEST_MAX] = {0}, sig[ALG_SIG_MAX];
    size_t siglen = 0;
    enum alg_scheme scheme = alg_default_scheme(key->type);
    enum alg_scheme wrong =
        scheme == ALG_SCHEME_ECDSA ? ALG_SCHEME_RSA_PSS : ALG_SCHEME_ECDSA;

    if (scheme != ALG_SCHEME_ED25519) {
        ck_assert_int_eq(token_sign_digest(key, scheme, ALG_DIGEST_SHA256,
                                           digest, 31, sig, &siglen),
                         CUST_ERR_DIGEST_LEN);
        ck_assert_int_eq(token_sign_digest(key, scheme, ALG_DIGEST_SHA384,
                                           digest, 32, sig, &siglen),
                         CUST_ERR_DIGEST_LEN);
        ck_assert_int_eq(token_sign_digest(key, scheme, ALG_DIGEST_NONE, digest,
                                           20, sig, &siglen),
                         CUST_ERR_DIGEST);
    } else {
        ck_assert_int_eq(token_sign_digest(key, scheme, ALG_DIGEST_SHA256,
                                           digest, 32, sig, &siglen),
                         CUST_ERR_SCHEME);
    }
    ck_assert_int_eq(token_sign_digest(key, wrong, ALG_DIGEST_SHA256, digest,
                                       32, sig, &siglen),
                     CUST_ERR_SCHEME);
}

static void
check_type(enum alg_keytype type)
{
    struct token *tok = open_token();
    struct token_key *key = NULL, *again = NULL, *dup = NULL;
    char label[64];
    int rc;

    make_label(label, sizeof(label), alg_keytype_name(type));
    rc = token_key_generate(tok, type, label, &key);
    ck_assert_msg(rc == 0, "generate %s: %s (%s)", alg_keytype_name(type),
                  cust_err_str(rc), token_error_detail());
    ck_assert_int_eq(token_key_type(key), type);
    check_custody(key);

    check_scheme(key, alg_default_scheme(type));
    if (alg_keytype_is_rsa(type))
        check_scheme(key, ALG_SCHEME_RSA_PSS);
    check_refusals(key);

    /* Found again by label, the same public key comes back. */
    rc = token_key_find(tok, label, NULL, 0, &again);
    ck_assert_msg(rc == 0, "find: %s", cust_err_str(rc));
    ck_assert_int_eq(
        EVP_PKEY_eq(token_key_public(key), token_key_public(again)), 1);
    ck_assert_int_eq(token_key_generate(tok, type, label, &dup),
                     CUST_ERR_KEY_EXISTS);

    ck_assert_int_eq(token_key_destroy(key), 0);
    token_key_free(again);
    ck_assert_int_eq(token_key_find(tok, label, NULL, 0, &again),
                     CUST_ERR_KEY_NOT_FOUND);
    token_key_free(key);
    token_close(tok);
}

START_TEST(keys_generate_sign_verify)
{
    const char *types = env("CUST_TEST_TYPES");
    int t, tested = 0;

    for (t = ALG_KEY_ECDSA_P256; t <= ALG_KEY_RSA_4096; t++) {
        if (list_has(types, alg_keytype_name(t))) {
            check_type(t);
            tested++;
        }
    }
    ck_assert_int_gt(tested, 0);
}
END_TEST

START_TEST(keys_unsupported_reported)
{
    const char *types = getenv("CUST_TEST_UNSUPPORTED");
    struct token *tok;
    struct token_key *key = NULL;
    int t;

    if (types == NULL || *types == '\0')
        return;
    tok = open_token();
    for (t = ALG_KEY_ECDSA_P256; t <= ALG_KEY_RSA_4096; t++) {
        if (!list_has(types, alg_keytype_name(t)))
            continue;
        ck_assert_int_eq(token_supports(tok, t), CUST_ERR_UNSUPPORTED);
        ck_assert_int_eq(token_key_generate(tok, t, "never-made", &key),
                         CUST_ERR_UNSUPPORTED);
        ck_assert_ptr_null(key);
    }
    token_close(tok);
}
END_TEST

START_TEST(open_refuses_bad_setup)
{
    struct token_config cfg = {
        .module = env("CUST_TEST_MODULE"),
        .uri = "pkcs11:token=no-such-token-here",
        .pin_file = env("CUST_TEST_PIN_FILE"),
    };
    struct token *tok = NULL;

    ck_assert_int_eq(token_open(&cfg, &tok), CUST_ERR_TOKEN_NOT_FOUND);
    cfg.uri = env("CUST_TEST_URI");
    cfg.module = "/nonexistent/module.so";
    ck_assert_int_eq(token_open(&cfg, &tok), CUST_ERR_MODULE);
    cfg.module = env("CUST_TEST_MODULE");
    cfg.pin_file = "/nonexistent/pin";
    ck_assert_int_eq(token_open(&cfg, &tok), CUST_ERR_PIN_SOURCE);
    cfg.pin_file = NULL;
    ck_assert_int_eq(token_open(&cfg, &tok), CUST_ERR_ARG);
    cfg.pin_file = env("CUST_TEST_PIN_FILE");
    cfg.uri = "pkcs11:slot-id=0";
    ck_assert_int_eq(token_open(&cfg, &tok), CUST_ERR_URI);
    ck_assert_ptr_null(tok);
}
END_TEST

/* The first key type under test, for the tests that need any key. */
static struct token_key *
some_key(struct token *tok, const char *what)
{
    const char *types = env("CUST_TEST_TYPES");
    struct token_key *key = NULL;
    char label[64], first[32];
    int type, rc;

    sscanf(types, "%31s", first);
    type = alg_keytype_from_name(first);
    ck_assert_int_gt(type, 0);
    make_label(label, sizeof(label), what);
    rc = token_key_generate(tok, type, label, &key);
    ck_assert_msg(rc == 0, "generate: %s (%s)", cust_err_str(rc),
                  token_error_detail());
    return key;
}

/* Signs once with KEY and checks the signature; returns the error. */
static int
sign_once(struct token_key *key, uint8_t fill)
{
    static const uint8_t msg[] = "x";
    enum alg_scheme scheme = alg_default_scheme(key->type);
    enum alg_digest md =
        scheme == ALG_SCHEME_ED25519 ? ALG_DIGEST_NONE : ALG_DIGEST_SHA256;
    uint8_t digest[32], sig[ALG_SIG_MAX];
    size_t siglen = 0;
    int rc;

    memset(digest, fill, sizeof(digest));
    if (md == ALG_DIGEST_NONE) {
        rc = token_sign_message(key, scheme, md, msg, 1, sig, &siglen);
        if (rc == 0 && !verify_message(token_key_public(key), scheme, md, msg,
                                       1, sig, siglen))
            rc = CUST_ERR_INTERNAL;
        return rc;
    }
    rc = token_sign_digest(key, scheme, md, digest, sizeof(digest), sig,
                           &siglen);
    if (rc == 0 &&
        !verify_digest(token_key_public(key), scheme, md, digest, sig, siglen))
        rc = CUST_ERR_INTERNAL;
    return rc;
}

struct worker {
    pthread_t thread;
    struct token_key *key;
    int signs, failures, first_error;
};

static void *
worker_run(void *arg)
{
    struct worker *w = arg;
    int i, rc;

    for (i = 0; i < w->signs; i++) {
        rc = sign_once(w->key, (uint8_t)i);
        if (rc != 0 && w->failures++ == 0)
            w->first_error = rc;
    }
    return NULL;
}

START_TEST(threads_sign_concurrently)
{
    const char *n = getenv("CUST_TEST_SIGNS");
    struct worker w[NTHREADS];
    struct token *tok = open_token();
    struct token_key *key = some_key(tok, "threads");
    int i, failures = 0;

    for (i = 0; i < NTHREADS; i++) {
        w[i] = (struct worker){.key = key, .signs = n ? atoi(n) : 1000};
        ck_assert_int_eq(pthread_create(&w[i].thread, NULL, worker_run, &w[i]),
                         0);
    }
    for (i = 0; i < NTHREADS; i++) {
        pthread_join(w[i].thread, NULL);
        if (w[i].failures > 0)
            fprintf(stderr, "thread %d: %d failures, first: %s\n", i,
                    w[i].failures, cust_err_str(w[i].first_error));
        failures += w[i].failures;
    }
    ck_assert_int_eq(failures, 0);
    ck_assert_int_eq(token_key_destroy(key), 0);
    token_key_free(key);
    token_close(tok);
}
END_TEST

START_TEST(recover_closed_sessions)
{
    struct token *tok = open_token();
    struct token_key *key = some_key(tok, "closed");
    unsigned long epoch = tok->epoch;

    ck_assert_int_eq(sign_once(key, 1), 0);
    /* Every session of the process goes, and the login with them. */
    ck_assert_int_eq(tok->fn->C_CloseAllSessions(tok->slot), CKR_OK);
    ck_assert_int_eq(sign_once(key, 2), 0);
    ck_assert_uint_eq(tok->epoch, epoch + 1);
    ck_assert_int_eq(sign_once(key, 3), 0);
    ck_assert_int_eq(token_key_destroy(key), 0);
    token_key_free(key);
    token_close(tok);
}
END_TEST

/* Counts the private keys token_key_list() reports. */
static void
count_key(const char *label, const uint8_t *id, size_t idlen, void *arg)
{
    (void)label;
    (void)id;
    (void)idlen;
    (*(size_t *)arg)++;
}

/* After the login is lost, finding and listing keys log in again rather
 * than report that the token holds none. */
START_TEST(recover_logout_find)
{
    struct token *tok = open_token();
    struct token_key *key = some_key(tok, "logout-find"), *found = NULL;
    size_t n = 0;

    ck_assert_int_eq(tok->fn->C_Logout(tok->anchor), CKR_OK);
    ck_assert_int_eq(token_key_find(tok, token_key_label(key), NULL, 0, &found),
                     0);
    ck_assert_int_eq(sign_once(found, 3), 0);
    ck_assert_int_eq(tok->fn->C_Logout(tok->anchor), CKR_OK);
    ck_assert_int_eq(token_key_list(tok, count_key, &n), 0);
    ck_assert_uint_ge(n, 1);
    token_key_free(found);
    ck_assert_int_eq(token_key_destroy(key), 0);
    token_key_free(key);
    token_close(tok);
}
END_TEST

START_TEST(recover_logout)
{
    struct token *tok = open_token();
    struct token_key *key = some_key(tok, "logout");
    unsigned long epoch = tok->epoch;

    ck_assert_int_eq(sign_once(key, 1), 0);
    ck_assert_int_eq(tok->fn->C_Logout(tok->anchor), CKR_OK);
    ck_assert_int_eq(sign_once(key, 2), 0);
    ck_assert_uint_eq(tok->epoch, epoch + 1);
    ck_assert_int_eq(token_key_destroy(key), 0);
    token_key_free(key);
    token_close(tok);
}
END_TEST

static void
write_pin(const char *path, const char *pin)
{
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    fputs(pin, f);
    ck_assert_int_eq(fclose(f), 0);
}

START_TEST(pin_refused_is_not_retried)
{
    char path[] = "/tmp/custodian-pin-XXXXXX", good[64] = "", label[160];
    FILE *src = fopen(env("CUST_TEST_PIN_FILE"), "r");
    struct token *tok;
    struct token_key *key;
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_ptr_nonnull(fgets(good, sizeof(good), src));
    fclose(src);
    write_pin(path, good);
    tok = open_token_with(path);
    key = some_key(tok, "pin");
    strcpy(label, token_key_label(key));

    /* The login is lost and the PIN source now holds a wrong PIN. */
    write_pin(path, "999999\n");
    ck_assert_int_eq(tok->fn->C_Logout(tok->anchor), CKR_OK);
    ck_assert_int_eq(sign_once(key, 1), CUST_ERR_PIN_INCORRECT);
    ck_assert_str_eq(token_error_detail(), "C_Login: CKR_PIN_INCORRECT (0xa0)");

    /* Fixed now, but a refused PIN is never presented again. */
    write_pin(path, good);
    ck_assert_int_eq(sign_once(key, 2), CUST_ERR_PIN_INCORRECT);
    ck_assert_ptr_nonnull(strstr(token_error_detail(), "not presenting"));
    token_key_free(key);
    token_close(tok);

    /* A fresh start reads the PIN again and cleans up. */
    tok = open_token_with(path);
    ck_assert_int_eq(token_key_find(tok, label, NULL, 0, &key), 0);
    ck_assert_int_eq(sign_once(key, 3), 0);
    ck_assert_int_eq(token_key_destroy(key), 0);
    token_key_free(key);
    token_close(tok);
    unlink(path);
}
END_TEST

START_TEST(fork_child_cannot_use_token)
{
    struct token *tok = open_token();
    struct token_key *key = some_key(tok, "fork"), *other = NULL;
    int status = -1;
    pid_t pid;

    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* The child reports through its exit status only. */
        int bad = sign_once(key, 1) != CUST_ERR_FORKED;
        bad |= token_key_find(tok, token_key_label(key), NULL, 0, &other) !=
               CUST_ERR_FORKED;
        token_key_free(key);
        token_close(tok); /* frees memory, touches no handle */
        _exit(bad);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);

    /* The parent's sessions survived the child. */
    ck_assert_int_eq(sign_once(key, 2), 0);
    ck_assert_int_eq(token_key_destroy(key), 0);
    token_key_free(key);
    token_close(tok);
}
END_TEST

static Suite *
token_suite(void)
{
    Suite *s = suite_create("token");
    TCase *tc;

    tc = tcase_create("open");
    tcase_add_test(tc, open_refuses_bad_setup);
    suite_add_tcase(s, tc);

    tc = tcase_create("keys");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, keys_generate_sign_verify);
    tcase_add_test(tc, keys_unsupported_reported);
    suite_add_tcase(s, tc);

    tc = tcase_create("threads");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, threads_sign_concurrently);
    suite_add_tcase(s, tc);

    tc = tcase_create("recover");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, recover_closed_sessions);
    tcase_add_test(tc, recover_logout);
    tcase_add_test(tc, recover_logout_find);
    suite_add_tcase(s, tc);

    tc = tcase_create("pin");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, pin_refused_is_not_retried);
    suite_add_tcase(s, tc);

    tc = tcase_create("fork");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, fork_child_cannot_use_token);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return check_run(token_suite());
}
