/*
 * The OpenSSL provider as a C program uses it: keys opened with
 * OSSL_STORE, signatures made with EVP_DigestSign and EVP_PKEY_sign, and
 * checked by the default provider alone in a library context of its own.
 *
 *   CUSTODIAN_SOCKET        the daemon's signing socket
 *   CUSTODIAN_ADMIN_SOCKET  its admin socket
 *   CUST_TEST_PROVIDERS     the directory holding custodian.so
 *   CUST_TEST_OUT           NAME.pub.pem for each key, from custodianctl
 *
 * The daemon (tests/provider/provider.sh) grants uid 0 the keys p256,
 * p384, ed, rsa and rot; "pubonly" for its public key alone; "other" not
 * at all.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/store.h>

#include "check_main.h"
#include "custodian/client.h"

static const unsigned char message[] = "an artifact signed through OpenSSL";

/* The checker: the default provider alone, in a context of its own. */
static OSSL_LIB_CTX *checker;
static OSSL_PROVIDER *loaded[3];

static void
setup(void)
{
    const char *dir = getenv("CUST_TEST_PROVIDERS");

    ck_assert_ptr_nonnull(dir);
    OSSL_PROVIDER_set_default_search_path(NULL, dir);
    ck_assert_ptr_nonnull(loaded[0] = OSSL_PROVIDER_load(NULL, "default"));
    ck_assert_ptr_nonnull(loaded[1] = OSSL_PROVIDER_load(NULL, "custodian"));
    checker = OSSL_LIB_CTX_new();
    ck_assert_ptr_nonnull(loaded[2] = OSSL_PROVIDER_load(checker, "default"));
}

/* Unloading tears the provider down: it must free all it holds. */
static void
teardown(void)
{
    size_t i;

    for (i = 0; i < sizeof(loaded) / sizeof(*loaded); i++)
        OSSL_PROVIDER_unload(loaded[i]);
    OSSL_LIB_CTX_free(checker);
}

/* Opens custodian:NAME for a key of type WANT (OSSL_STORE_INFO_PKEY or
 * _PUBKEY); NULL, with OpenSSL's errors kept, if it fails. */
static EVP_PKEY *
load_as(const char *name, int want)
{
    char uri[128];
    OSSL_STORE_CTX *st;
    OSSL_STORE_INFO *info;
    EVP_PKEY *k = NULL;

    snprintf(uri, sizeof(uri), "custodian:%s", name);
    st = OSSL_STORE_open(uri, NULL, NULL, NULL, NULL);
    if (st == NULL)
        return NULL;
    OSSL_STORE_expect(st, want);
    while (k == NULL && !OSSL_STORE_eof(st) &&
           (info = OSSL_STORE_load(st)) != NULL) {
        if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
            k = OSSL_STORE_INFO_get1_PKEY(info);
        else if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PUBKEY)
            k = OSSL_STORE_INFO_get1_PUBKEY(info);
        OSSL_STORE_INFO_free(info);
    }
    OSSL_STORE_close(st);
    return k;
}

static EVP_PKEY *
load_key(const char *name)
{
    return load_as(name, OSSL_STORE_INFO_PKEY);
}

/* The public key custodianctl exported, read by the checker. */
static EVP_PKEY *
exported_key(const char *name)
{
    char path[512];
    EVP_PKEY *k;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s.pub.pem", getenv("CUST_TEST_OUT"),
             name);
    f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s: missing", path);
    k = PEM_read_PUBKEY_ex(f, NULL, NULL, NULL, checker, NULL);
    fclose(f);
    ck_assert_msg(k != NULL, "%s: not a public key", path);
    return k;
}

static int
digest_sign(EVP_PKEY *k, const char *md, unsigned char *sig, size_t *len)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok = EVP_DigestSignInit_ex(m, NULL, md, NULL, NULL, k, NULL) == 1 &&
             EVP_DigestSign(m, sig, len, message, sizeof(message)) == 1;

    EVP_MD_CTX_free(m);
    return ok;
}

static int
digest_verify(EVP_PKEY *pub, const char *md, const unsigned char *sig,
              size_t len)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok =
        EVP_DigestVerifyInit_ex(m, NULL, md, checker, NULL, pub, NULL) == 1 &&
        EVP_DigestVerify(m, sig, len, message, sizeof(message)) == 1;

    EVP_MD_CTX_free(m);
    return ok;
}

/* The last error came from the provider, with reason -CODE and a
 * message containing TEXT. */
static void
assert_custodian_error(int code, const char *text)
{
    const char *data = NULL;
    unsigned long e = ERR_peek_last_error_data(&data, NULL);
    char buf[512];

    ERR_error_string_n(e, buf, sizeof(buf));
    ck_assert_msg(ERR_GET_REASON(e) == -code, "expected %s, got %s (%s)",
                  cust_err_name(code), buf, data ? data : "");
    ck_assert_msg(strstr(buf, "custodian") != NULL, "not ours: %s", buf);
    ck_assert_msg(data != NULL && strstr(data, text) != NULL,
                  "message \"%s\" lacks \"%s\"", data ? data : "", text);
    ERR_clear_error();
}

START_TEST(digest_sign_every_type)
{
    static const struct {
        const char *key, *md;
    } cases[] = {
        {"p256", "SHA256"}, {"p384", "SHA384"}, {"p384", "SHA512"},
        {"ed", NULL},       {"rsa", "SHA256"},  {"rsa", "SHA512"},
    };
    unsigned char sig[1024];
    size_t i, len;

    for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        EVP_PKEY *k = load_key(cases[i].key);
        EVP_PKEY *pub = exported_key(cases[i].key);

        ck_assert_msg(k != NULL, "%s: not loaded", cases[i].key);
        ck_assert_msg(EVP_PKEY_eq(k, pub) == 1, "%s: not the exported key",
                      cases[i].key);
        len = sizeof(sig);
        ck_assert_msg(digest_sign(k, cases[i].md, sig, &len), "%s: not signed",
                      cases[i].key);
        ck_assert_msg(digest_verify(pub, cases[i].md, sig, len),
                      "%s with %s: the signature does not verify", cases[i].key,
                      cases[i].md ? cases[i].md : "-");
        /* One bit off, and it does not. */
        sig[len / 2] ^= 1;
        ck_assert(!digest_verify(pub, cases[i].md, sig, len));
        ERR_clear_error();
        EVP_PKEY_free(pub);
        EVP_PKEY_free(k);
    }
}
END_TEST

/* The pre-hashed path, as CMS uses it: RSA-PSS over a SHA-384 digest. */
START_TEST(pkey_sign_rsa_pss)
{
    EVP_PKEY *k = load_key("rsa"), *pub = exported_key("rsa");
    unsigned char digest[48], sig[512];
    size_t len = sizeof(sig);
    EVP_PKEY_CTX *c;

    ck_assert_ptr_nonnull(k);
    EVP_Digest(message, sizeof(message), digest, NULL, EVP_sha384(), NULL);
    c = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
    ck_assert_int_eq(EVP_PKEY_sign_init(c), 1);
    ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING), 0);
    ck_assert_int_gt(EVP_PKEY_CTX_set_signature_md(c, EVP_sha384()), 0);
    ck_assert_int_eq(EVP_PKEY_sign(c, sig, &len, digest, sizeof(digest)), 1);
    EVP_PKEY_CTX_free(c);

    c = EVP_PKEY_CTX_new_from_pkey(checker, pub, NULL);
    ck_assert_int_eq(EVP_PKEY_verify_init(c), 1);
    ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING), 0);
    ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_pss_saltlen(c, 48), 0);
    ck_assert_int_gt(EVP_PKEY_CTX_set_signature_md(c, EVP_sha384()), 0);
    ck_assert_int_eq(EVP_PKEY_verify(c, sig, len, digest, sizeof(digest)), 1);
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(k);
}
END_TEST

/* What custodiand does not make is refused before it is asked. */
START_TEST(unsupported_parameters_are_named)
{
    EVP_PKEY *k = load_key("rsa");
    unsigned char sig[512];
    size_t len = sizeof(sig);

    ck_assert_ptr_nonnull(k);
    ck_assert(!digest_sign(k, "SHA1", sig, &len));
    assert_custodian_error(CUST_ERR_DIGEST, "SHA-256, SHA-384 and SHA-512");
    EVP_PKEY_free(k);
}
END_TEST

START_TEST(policy_refusals_reach_the_error_queue)
{
    unsigned char sig[512];
    size_t len = sizeof(sig);
    EVP_PKEY *k;

    /* No grant at all: even the public key is refused. */
    ck_assert_ptr_null(load_key("other"));
    assert_custodian_error(CUST_ERR_DENIED, "no grant of \"root\"");
    /* A grant for the public key alone: loads, but does not sign. */
    k = load_key("pubonly");
    ck_assert_ptr_nonnull(k);
    ck_assert(!digest_sign(k, "SHA256", sig, &len));
    assert_custodian_error(CUST_ERR_DENIED, "refused a signature");
    EVP_PKEY_free(k);
}
END_TEST

/* Asked for a public key, the store gives one that any provider can use
 * to verify. */
START_TEST(public_key_alone)
{
    EVP_PKEY *k = load_key("p256"),
             *pub = load_as("p256", OSSL_STORE_INFO_PUBKEY);
    unsigned char sig[128];
    size_t len = sizeof(sig);
    EVP_MD_CTX *m = EVP_MD_CTX_new();

    ck_assert_ptr_nonnull(k);
    ck_assert_ptr_nonnull(pub);
    ck_assert(digest_sign(k, "SHA256", sig, &len));
    ck_assert_int_eq(
        EVP_DigestVerifyInit_ex(m, NULL, "SHA256", NULL, NULL, pub, NULL), 1);
    ck_assert_int_eq(EVP_DigestVerify(m, sig, len, message, sizeof(message)),
                     1);
    EVP_MD_CTX_free(m);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(k);
}
END_TEST

/* A copy of a key signs as the key does. */
START_TEST(key_copies_sign)
{
    EVP_PKEY *k = load_key("ed"), *copy, *pub = exported_key("ed");
    unsigned char sig[128];
    size_t len = sizeof(sig);

    ck_assert_ptr_nonnull(k);
    copy = EVP_PKEY_dup(k);
    ck_assert_ptr_nonnull(copy);
    EVP_PKEY_free(k);
    ck_assert(digest_sign(copy, NULL, sig, &len));
    ck_assert(digest_verify(pub, NULL, sig, len));
    EVP_PKEY_free(copy);
    EVP_PKEY_free(pub);
}
END_TEST

struct signer {
    pthread_t thread;
    EVP_PKEY *key, *pub;
    int good;
};

static void *
sign_many(void *arg)
{
    struct signer *s = arg;
    unsigned char sig[128];
    size_t len;
    int i;

    for (i = 0; i < 10; i++) {
        len = sizeof(sig);
        s->good += digest_sign(s->key, "SHA384", sig, &len) &&
                   digest_verify(s->pub, "SHA384", sig, len);
    }
    return NULL;
}

/* One key, signing from several threads at once. */
START_TEST(threads_share_a_key)
{
    struct signer s[4];
    EVP_PKEY *k = load_key("p384"), *pub = exported_key("p384");
    size_t i;

    ck_assert_ptr_nonnull(k);
    for (i = 0; i < 4; i++) {
        s[i] = (struct signer){.key = k, .pub = pub};
        pthread_create(&s[i].thread, NULL, sign_many, &s[i]);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(s[i].thread, NULL);
        ck_assert_int_eq(s[i].good, 10);
    }
    EVP_PKEY_free(pub);
    EVP_PKEY_free(k);
}
END_TEST

START_TEST(daemon_down_is_named)
{
    char *saved = strdup(getenv("CUSTODIAN_SOCKET"));

    setenv("CUSTODIAN_SOCKET", "/nonexistent/sign.sock", 1);
    ck_assert_ptr_null(load_key("p256"));
    assert_custodian_error(CUST_ERR_IO, "/nonexistent/sign.sock: No such file");
    setenv("CUSTODIAN_SOCKET", saved, 1);
    free(saved);
}
END_TEST

/* A key rotated after it was loaded signs no more under the old public
 * key: the caller is told to load it again, and then it signs. */
START_TEST(rotation_after_load_is_refused)
{
    EVP_PKEY *k = load_key("rot"), *again;
    unsigned char sig[512];
    size_t len = sizeof(sig);
    struct cust_conn *admin = NULL;
    struct cust_key info;
    uint8_t spki[1024];
    size_t spkilen;

    ck_assert_ptr_nonnull(k);
    ck_assert_int_eq(
        cust_connect(getenv("CUSTODIAN_ADMIN_SOCKET"), "test_provider", &admin),
        0);
    ck_assert_int_eq(
        cust_key_rotate(admin, "rot", &info, spki, sizeof(spki), &spkilen), 0);
    cust_close(admin);
    ck_assert(!digest_sign(k, "SHA256", sig, &len));
    assert_custodian_error(CUST_ERR_NOT_VALID, "load the key again");
    again = load_key("rot");
    ck_assert_ptr_nonnull(again);
    len = sizeof(sig);
    ck_assert(digest_sign(again, "SHA256", sig, &len));
    EVP_PKEY_free(again);
    EVP_PKEY_free(k);
}
END_TEST

/* Parent and child sign with a key loaded before fork(); neither uses
 * the other's connection. */
START_TEST(key_survives_fork)
{
    EVP_PKEY *k = load_key("p256"), *pub = exported_key("p256");
    unsigned char sig[128];
    size_t len = sizeof(sig);
    int status;
    pid_t pid;

    ck_assert_ptr_nonnull(k);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(digest_sign(k, "SHA256", sig, &len) &&
                      digest_verify(pub, "SHA256", sig, len)
                  ? 0
                  : 1);
    ck_assert(digest_sign(k, "SHA256", sig, &len));
    ck_assert(digest_verify(pub, "SHA256", sig, len));
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the child could not sign");
    EVP_PKEY_free(pub);
    EVP_PKEY_free(k);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("provider");
    TCase *tc = tcase_create("provider");

    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_test(tc, digest_sign_every_type);
    tcase_add_test(tc, pkey_sign_rsa_pss);
    tcase_add_test(tc, unsupported_parameters_are_named);
    tcase_add_test(tc, policy_refusals_reach_the_error_queue);
    tcase_add_test(tc, public_key_alone);
    tcase_add_test(tc, key_copies_sign);
    tcase_add_test(tc, threads_share_a_key);
    tcase_add_test(tc, daemon_down_is_named);
    tcase_add_test(tc, rotation_after_load_is_refused);
    tcase_add_test(tc, key_survives_fork);
    suite_add_tcase(s, tc);
    return check_run(s);
}
