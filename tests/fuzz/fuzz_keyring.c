/*
 * Drives verifier_open() and verifier_check(), which `custodian-sign
 * verify --keyring` runs on a keyring directory copied from wherever it
 * was published: the manifest's JSON, its versions, times, file names
 * and the chain of statements.
 *
 * Checks the property a verifier exists for: no manifest makes a
 * signature verify that the key did not make. The directory holds one
 * real public key (release@1.pem, a fixed test key) and the target asks
 * about a real signature by it and about the same signature over another
 * digest; the second must be refused, whatever the manifest says, and
 * every refusal must come with its reason. A signature that verifies
 * names the version asked for, and that version's revocation and end of
 * verification are readable times or null: a damaged one must not pass
 * for "not revoked".
 *
 * Input: manifest.json.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "custodian/error.h"
#include "verifier.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

/* Test material only: the key of the seed keyring's release@1. */
static const char fuzz_key[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg0tzwRBzyf5u7mlt4\n"
    "Zgs5fNT1RPPdLA7Oljb4k0gwOoehRANCAASC5TA0sCzvw/YarytJB55x//w4suKb\n"
    "RNnKelu5M+/GbRD3eXi0XCW2iTsDnjgw3eerxMQGqNJUD2Q/QnpgU7zM\n"
    "-----END PRIVATE KEY-----\n";

static char fuzz_dir[256];
static uint8_t fuzz_digest[32], fuzz_sig[80];
static size_t fuzz_siglen;

static void
fuzz_fail(const char *what)
{
    fprintf(stderr, "keyring verification: %s\n", what);
    abort();
}

static void
fuzz_write(const char *name, const void *data, size_t len)
{
    char path[300];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", fuzz_dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd) != 0)
        fuzz_fail(path);
}

static void
fuzz_remove(void)
{
    char path[300];

    snprintf(path, sizeof(path), "%s/manifest.json", fuzz_dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/release@1.pem", fuzz_dir);
    unlink(path);
    rmdir(fuzz_dir);
}

/* The public key file, and a signature by its key over FUZZ_DIGEST. */
static void
fuzz_sign(void)
{
    BIO *in = BIO_new_mem_buf(fuzz_key, -1), *out = BIO_new(BIO_s_mem());
    EVP_PKEY *key = PEM_read_bio_PrivateKey(in, NULL, NULL, NULL);
    EVP_PKEY_CTX *ctx = key ? EVP_PKEY_CTX_new(key, NULL) : NULL;
    char *pem;
    long len;

    memset(fuzz_digest, 0x42, sizeof(fuzz_digest));
    fuzz_siglen = sizeof(fuzz_sig);
    if (ctx == NULL || out == NULL || EVP_PKEY_sign_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1 ||
        EVP_PKEY_sign(ctx, fuzz_sig, &fuzz_siglen, fuzz_digest,
                      sizeof(fuzz_digest)) != 1 ||
        PEM_write_bio_PUBKEY(out, key) != 1)
        fuzz_fail("cannot make the test signature");
    len = BIO_get_mem_data(out, &pem);
    fuzz_write("release@1.pem", pem, (size_t)len);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(key);
    BIO_free(in);
    BIO_free(out);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = getenv("TMPDIR");

    (void)argc;
    (void)argv;
    snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/custodian-fuzz.XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(fuzz_dir) == NULL)
        fuzz_fail("mkdtemp");
    atexit(fuzz_remove);
    fuzz_sign();
    return 0;
}

/* Whether time field NAME of version N of "release" in the manifest
 * TEXT is absent, null, or a time the verifier reads. */
static int
fuzz_time_ok(const uint8_t *text, size_t len, uint32_t n, const char *name)
{
    json_t *doc = json_loadb((const char *)text, len, 0, NULL), *k, *v, *t;
    size_t i, j;
    time_t when;
    int ok = 1;

    json_array_foreach(json_object_get(doc, "keys"), i, k)
    {
        if (!json_is_string(json_object_get(k, "name")) ||
            strcmp(json_string_value(json_object_get(k, "name")), "release"))
            continue;
        json_array_foreach(json_object_get(k, "versions"), j, v)
        {
            if (json_integer_value(json_object_get(v, "version")) != n)
                continue;
            t = json_object_get(v, name);
            ok = t == NULL || json_is_null(t) ||
                 verifier_parse_time(json_string_value(t), &when) == 0;
            break;
        }
        break;
    }
    json_decref(doc);
    return ok;
}

/* Asks about the signature over DIGEST by version VERSION of "release". */
static int
fuzz_check(struct verifier *v, const uint8_t *digest, uint32_t version)
{
    struct verifier_sig s = {.key = "release",
                             .version = version,
                             .time = 1793000000, /* 2026-10-26 */
                             .md = ALG_DIGEST_SHA256,
                             .scheme = ALG_SCHEME_NONE,
                             .digest = digest,
                             .dlen = sizeof(fuzz_digest),
                             .sig = fuzz_sig,
                             .siglen = fuzz_siglen,
                             .now = 1795000000};
    char why[VERIFIER_WHY_MAX] = "";
    uint32_t found = 0;
    int rc = verifier_check(v, &s, &found, why);

    if (rc != 0 && why[0] == '\0')
        fuzz_fail("a refusal without a reason");
    if (rc == 0 && (found == 0 || (version != 0 && found != version)))
        fuzz_fail("verified by no version, or another than asked");
    return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    char why[VERIFIER_WHY_MAX];
    uint8_t other[sizeof(fuzz_digest)];
    struct verifier *v;

    fuzz_write("manifest.json", data, len);
    if (verifier_open(fuzz_dir, &v, why) != 0)
        return 0;
    memcpy(other, fuzz_digest, sizeof(other));
    other[0] ^= 1;
    if (fuzz_check(v, fuzz_digest, 1) == 0 &&
        (!fuzz_time_ok(data, len, 1, "revoked") ||
         !fuzz_time_ok(data, len, 1, "verify_until")))
        fuzz_fail("verified by a version with a damaged time");
    fuzz_check(v, fuzz_digest, 0);
    if (fuzz_check(v, other, 0) == 0 || fuzz_check(v, other, 1) == 0)
        fuzz_fail("a signature over another digest verified");
    verifier_free(v);
    return 0;
}
