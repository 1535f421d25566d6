/*
 * The token layer under faults a real token cannot produce on demand,
 * injected by tests/faultmod around a real SoftHSM2 token:
 *
 *   CUST_TEST_MODULE    the fault module (it wraps CUST_FAULT_TARGET)
 *   CUST_TEST_URI, CUST_TEST_PIN_FILE   as for test_token
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <openssl/evp.h>

#include "custodian/error.h"
#include "faultmod.h"
#include "token_int.h"
#include "check_main.h"

static void (*set_flags)(CK_FLAGS);
static void (*set_sign)(CK_RV, int);
static void (*set_removed)(int);
static unsigned long (*logins)(void);

static const char *
env(const char *name)
{
    const char *v = getenv(name);

    ck_assert_msg(v != NULL, "%s must be set", name);
    return v;
}

/* Binds the control functions of the module the token layer loads. */
static void
bind_faults(void)
{
    void *dl = dlopen(env("CUST_TEST_MODULE"), RTLD_NOW | RTLD_LOCAL);

    ck_assert_ptr_nonnull(dl);
    *(void **)&set_flags = dlsym(dl, "cust_fault_token_flags");
    *(void **)&set_sign = dlsym(dl, "cust_fault_sign");
    *(void **)&set_removed = dlsym(dl, "cust_fault_removed");
    *(void **)&logins = dlsym(dl, "cust_fault_logins");
    ck_assert(set_flags && set_sign && set_removed && logins);
    set_flags(0);
    set_sign(CKR_OK, 0);
    set_removed(0);
}

static int
open_token(struct token **tok)
{
    struct token_config cfg = {
        .module = env("CUST_TEST_MODULE"),
        .uri = env("CUST_TEST_URI"),
        .pin_file = env("CUST_TEST_PIN_FILE"),
    };

    return token_open(&cfg, tok);
}

static struct token_key *
make_key(struct token *tok, const char *label)
{
    struct token_key *key = NULL;
    int rc = token_key_generate(tok, ALG_KEY_ECDSA_P256, label, &key);

    ck_assert_msg(rc == 0, "generate: %s (%s)", cust_err_str(rc),
                  token_error_detail());
    return key;
}

/* Signs a digest; when it succeeds, OpenSSL must accept the signature. */
static int
sign(struct token_key *key)
{
    uint8_t digest[32] = {1, 2, 3}, sig[ALG_SIG_MAX];
    size_t siglen = 0;
    EVP_PKEY_CTX *ctx;
    int rc, ok;

    rc = token_sign_digest(key, ALG_SCHEME_ECDSA, ALG_DIGEST_SHA256, digest,
                           sizeof(digest), sig, &siglen);
    if (rc != 0)
        return rc;
    ctx = EVP_PKEY_CTX_new(token_key_public(key), NULL);
    ok = ctx != NULL && EVP_PKEY_verify_init(ctx) == 1 &&
         EVP_PKEY_verify(ctx, sig, siglen, digest, sizeof(digest)) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok ? 0 : CUST_ERR_INTERNAL;
}

static void
drop_key(struct token_key *key)
{
    ck_assert_int_eq(token_key_destroy(key), 0);
    token_key_free(key);
}

START_TEST(locked_pin_is_not_tried)
{
    static const CK_FLAGS flags[] = {CKF_USER_PIN_LOCKED,
                                     CKF_USER_PIN_FINAL_TRY};
    struct token *tok = NULL;
    unsigned long before;
    size_t i;

    bind_faults();
    for (i = 0; i < 2; i++) {
        set_flags(flags[i]);
        before = logins();
        ck_assert_int_eq(open_token(&tok), CUST_ERR_PIN_LOCKED);
        ck_assert_ptr_null(tok);
        ck_assert_uint_eq(logins(), before);
    }
    set_flags(0);
}
END_TEST

START_TEST(device_error_is_recovered)
{
    struct token *tok = NULL;
    struct token_key *key;
    unsigned long epoch, before;

    bind_faults();
    ck_assert_int_eq(open_token(&tok), 0);
    key = make_key(tok, "fault-device-error");
    epoch = tok->epoch;
    before = logins();

    set_sign(CKR_DEVICE_ERROR, 1);
    ck_assert_int_eq(sign(key), 0);
    ck_assert_uint_eq(tok->epoch, epoch + 1);
    ck_assert_uint_eq(logins(), before + 1);

    /* Twice in a row: one rebuild, then the error is reported. */
    set_sign(CKR_DEVICE_ERROR, 2);
    ck_assert_int_eq(sign(key), CUST_ERR_TOKEN_LOST);
    ck_assert_str_eq(token_error_detail(), "C_Sign: CKR_DEVICE_ERROR (0x30)");
    ck_assert_int_eq(sign(key), 0);
    drop_key(key);
    token_close(tok);
}
END_TEST

START_TEST(removed_token_comes_back)
{
    struct token *tok = NULL;
    struct token_key *key;

    bind_faults();
    ck_assert_int_eq(open_token(&tok), 0);
    key = make_key(tok, "fault-removed");

    set_removed(1);
    ck_assert_int_eq(sign(key), CUST_ERR_TOKEN_LOST);
    ck_assert_int_eq(sign(key), CUST_ERR_TOKEN_LOST);
    set_removed(0);
    ck_assert_int_eq(sign(key), 0);
    ck_assert_int_eq(sign(key), 0);
    drop_key(key);
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

START_TEST(refused_pin_logs_in_once)
{
    struct token_config cfg = {
        .module = env("CUST_TEST_MODULE"),
        .uri = env("CUST_TEST_URI"),
    };
    char path[] = "/tmp/custodian-pin-XXXXXX", good[64] = "";
    FILE *src = fopen(env("CUST_TEST_PIN_FILE"), "r");
    struct token *tok = NULL;
    struct token_key *key;
    unsigned long before;
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_ptr_nonnull(fgets(good, sizeof(good), src));
    fclose(src);
    write_pin(path, good);
    cfg.pin_file = path;
    bind_faults();
    ck_assert_int_eq(token_open(&cfg, &tok), 0);
    key = make_key(tok, "fault-pin");

    /* The PIN stops working behind custodian's back. */
    write_pin(path, "999999\n");
    ck_assert_int_eq(tok->fn->C_Logout(tok->anchor), CKR_OK);
    before = logins();
    ck_assert_int_eq(sign(key), CUST_ERR_PIN_INCORRECT);
    ck_assert_uint_eq(logins(), before + 1);
    write_pin(path, good);
    ck_assert_int_eq(sign(key), CUST_ERR_PIN_INCORRECT);
    ck_assert_int_eq(sign(key), CUST_ERR_PIN_INCORRECT);
    ck_assert_uint_eq(logins(), before + 1);
    token_key_free(key);
    token_close(tok);
    unlink(path);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("token faults");
    TCase *tc = tcase_create("faults");

    tcase_add_test(tc, locked_pin_is_not_tried);
    tcase_add_test(tc, device_error_is_recovered);
    tcase_add_test(tc, removed_token_comes_back);
    tcase_add_test(tc, refused_pin_logs_in_once);
    suite_add_tcase(s, tc);
    return check_run(s);
}
