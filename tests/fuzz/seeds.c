/*
 * Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/TARGET)
 * with the project's own encoders, so that every seed is what a client,
 * the daemon or the audit writer really produces. The configuration
 * seeds are copied by hand (the example and the fuzz daemon's own).
 * Usage: fuzz_seeds CORPUS-DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "agent.h"
#include "audit.h"
#include "sigenc.h"
#include "sshsig.h"
#include "wire.h"

static const char *seeds_dir;

static void
seeds_write(const char *target, const char *name, const void *data, size_t len)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", seeds_dir, target);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/%s/%s", seeds_dir, target, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* A native seed: the selector byte, then the frames in B. */
static void
seeds_native(const char *name, uint8_t selector, struct buf *b)
{
    uint8_t *all = malloc(b->len + 1);

    all[0] = selector;
    memcpy(all + 1, b->data, b->len);
    seeds_write("native", name, all, b->len + 1);
    free(all);
    buf_free(b);
    buf_init(b, 1 << 20);
}

static void
seeds_sign(struct buf *b, const char *key, const char *digest, size_t len,
           const char *scheme, const char *ns)
{
    static uint8_t data[512];
    struct wire_sign s = {.data = data, .datalen = len};

    memset(data, 0x5a, sizeof(data));
    snprintf(s.key, sizeof(s.key), "%s", key);
    snprintf(s.digest, sizeof(s.digest), "%s", digest);
    snprintf(s.scheme, sizeof(s.scheme), "%s", scheme);
    snprintf(s.ns, sizeof(s.ns), "%s", ns);
    if (strcmp(key, "p256") == 0) {
        s.nctx = 2;
        snprintf(s.ctx[0].name, sizeof(s.ctx[0].name), "job");
        snprintf(s.ctx[0].value, sizeof(s.ctx[0].value), "release-42");
        snprintf(s.ctx[1].name, sizeof(s.ctx[1].name), "git.commit");
        snprintf(s.ctx[1].value, sizeof(s.ctx[1].value), "0123abcd");
    }
    wire_put_sign(b, &s);
}

static void
seeds_all_native(void)
{
    struct wire_hello h = {.version = WIRE_VERSION, .name = "seed 1.0"};
    struct wire_key_change c = {
        .key = "p256", .version = 7, .action = "retire"};
    struct buf b;

    buf_init(&b, 1 << 20);
    wire_put_hello(&b, WIRE_HELLO, &h);
    wire_put_ping(&b, WIRE_PING, "are you there");
    wire_put_list(&b);
    wire_put_pubkey(&b, "p256");
    seeds_sign(&b, "p256", "sha256", 32, "", "file");
    seeds_native("session", 0, &b);

    seeds_sign(&b, "ed", "", 300, "", "git");
    seeds_sign(&b, "rsa", "sha256", 32, "rsa-pss", "");
    seeds_sign(&b, "rsa", "sha512", 64, "rsa-pkcs1", "");
    seeds_sign(&b, "p384", "sha384", 48, "", "");
    seeds_native("sign-every-key", 2, &b);

    seeds_sign(&b, "nosuchkey", "sha256", 32, "", "file");
    seeds_sign(&b, "p256", "sha1", 20, "", "file");
    seeds_sign(&b, "p256", "sha256", 31, "", "file");
    seeds_sign(&b, "p256", "sha256", 32, "", "elsewhere");
    seeds_sign(&b, "p256", "sha256", 32, "rsa-pss", "file");
    wire_put_pubkey(&b, "login");
    seeds_native("refusals", 2, &b);

    wire_put_list(&b);
    seeds_native("no-hello", 0, &b);

    buf_put_u32(&b, WIRE_FRAME_MAX + 1);
    buf_put_u8(&b, WIRE_PING);
    seeds_native("too-long", 2, &b);

    wire_put_hello(&b, WIRE_HELLO, &h);
    wire_put_empty(&b, WIRE_STATUS);
    wire_put_empty(&b, WIRE_LIST);
    wire_put_pubkey(&b, "p256");
    wire_put_keyname_req(&b, WIRE_KEY_VERSIONS, "p256");
    wire_put_key_create(&b, "p384");
    wire_put_key_change(&b, &c);
    seeds_native("admin", 1, &b);

    wire_put_keyname_req(&b, WIRE_KEY_ROTATE, "login");
    wire_put_empty(&b, WIRE_RELOAD);
    seeds_native("admin-rotate", 3, &b);
}

/* An agent frame: length, type, body. */
static void
seeds_agent_frame(struct buf *b, uint8_t type, const struct buf *body)
{
    buf_put_u32(b, (uint32_t)(1 + (body ? body->len : 0)));
    buf_put_u8(b, type);
    if (body != NULL)
        buf_put(b, body->data, body->len);
}

/* A sign request for the key listed at INDEX (fuzz_agent.c). */
static void
seeds_agent_sign(struct buf *b, uint8_t index, const char *ns, int login,
                 uint32_t flags)
{
    uint8_t hash[64];
    struct buf data, body;

    memset(hash, 0xa5, sizeof(hash));
    buf_init(&data, 4096);
    buf_init(&body, 4096);
    if (login) {
        /* An SSH userauth request: session id first. */
        buf_put_string(&data, hash, 32);
        buf_put_u8(&data, 50);
        buf_put_cstring(&data, "git");
        buf_put_cstring(&data, "ssh-connection");
        buf_put_cstring(&data, "publickey");
    } else {
        sshsig_put_preimage(&data, ns, ALG_DIGEST_SHA512, hash, 64);
    }
    buf_put_string(&body, &index, 1);
    buf_put_string(&body, data.data, data.len);
    buf_put_u32(&body, flags);
    seeds_agent_frame(b, AGENT_SIGN_REQUEST, &body);
    buf_free(&data);
    buf_free(&body);
}

static void
seeds_agent(const char *name, struct buf *b)
{
    seeds_write("agent", name, b->data, b->len);
    buf_free(b);
    buf_init(b, 1 << 20);
}

static void
seeds_all_agent(void)
{
    struct buf b, body;

    buf_init(&b, 1 << 20);
    seeds_agent_frame(&b, AGENT_REQUEST_IDENTITIES, NULL);
    seeds_agent("list", &b);
    seeds_agent_sign(&b, 0, "file", 0, 0);
    seeds_agent_sign(&b, 1, "git", 0, 0);
    seeds_agent_sign(&b, 2, "file", 0, AGENT_RSA_SHA2_512);
    seeds_agent_sign(&b, 2, "file", 0, AGENT_RSA_SHA2_256);
    seeds_agent("sign", &b);
    seeds_agent_sign(&b, 3, "", 1, 0);
    seeds_agent_sign(&b, 0, "", 1, 0);
    seeds_agent_sign(&b, 0, "git.other", 0, 0);
    seeds_agent("login", &b);
    buf_init(&body, 64);
    buf_put_cstring(&body, "ssh-ed25519");
    seeds_agent_frame(&b, 17, &body); /* add an identity */
    seeds_agent_frame(&b, 19, NULL);  /* remove all */
    seeds_agent_frame(&b, 22, NULL);  /* lock */
    buf_free(&body);
    seeds_agent("refused", &b);
    buf_free(&b);
}

static void
seeds_all_sshsig(void)
{
    uint8_t hash[64];
    struct buf b;

    memset(hash, 0x3c, sizeof(hash));
    buf_init(&b, 4096);
    sshsig_put_preimage(&b, "file", ALG_DIGEST_SHA512, hash, 64);
    seeds_write("sshsig", "file-sha512", b.data, b.len);
    buf_free(&b);
    buf_init(&b, 4096);
    sshsig_put_preimage(&b, "git", ALG_DIGEST_SHA256, hash, 32);
    seeds_write("sshsig", "git-sha256", b.data, b.len);
    buf_free(&b);
}

static void
seeds_all_sigenc(void)
{
    uint8_t in[1 + 96];
    size_t i;

    for (i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i * 37 + 11);
    in[0] = 0;
    seeds_write("sigenc", "p256", in, 1 + 64);
    in[0] = 1 | 2;
    seeds_write("sigenc", "p384-sha384", in, 1 + 96);
    in[0] = 4;
    in[1] = in[2] = 0; /* r with leading zeros */
    in[33] = 0x80;     /* s with its top bit set */
    seeds_write("sigenc", "p256-sha512-padding", in, 1 + 64);
}

/* A message as its type byte and body, as fuzz_wire reads it. */
static void
seeds_wire(const char *name, struct buf *b)
{
    seeds_write("wire", name, b->data + WIRE_HEADER, b->len - WIRE_HEADER);
    buf_free(b);
    buf_init(b, 1 << 20);
}

static void
seeds_all_wire(void)
{
    struct wire_hello h = {WIRE_VERSION, "custodiand 0.1.0", 65536, 64};
    struct wire_keyinfo k = {
        "release", "ecdsa-p256", 3,
        "SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"};
    struct wire_signature s = {.key = k, .scheme = "ecdsa", .time = 1700000000};
    struct wire_status st = {"custodiand 0.1.0", 3, 1, 2, 0, 1234, 99};
    struct wire_version v[2] = {{1, "retired", 1, 2, 3, 0, 0, "SHA256:x", ""},
                                {2, "active", 3, 3, 0, 0, 0, "SHA256:y", ""}};
    struct wire_key_change c = {"release", 1, "revoke", "key leaked"};
    uint8_t sig[70];
    struct buf b;

    memset(sig, 0x30, sizeof(sig));
    s.sig = sig;
    s.siglen = sizeof(sig);
    buf_init(&b, 1 << 20);
    wire_put_hello(&b, WIRE_HELLO_OK, &h);
    seeds_wire("hello-ok", &b);
    wire_put_hello(&b, WIRE_HELLO, &h);
    seeds_wire("hello", &b);
    wire_put_ping(&b, WIRE_PONG, "pong");
    seeds_wire("pong", &b);
    wire_put_keys(&b, &k, 1);
    seeds_wire("keys", &b);
    wire_put_pubkey_ok(&b, &k, sig, sizeof(sig));
    seeds_wire("pubkey-ok", &b);
    wire_put_signature(&b, &s);
    seeds_wire("signature", &b);
    wire_put_status_ok(&b, &st);
    seeds_wire("status-ok", &b);
    wire_put_versions(&b, &k, v, 2);
    seeds_wire("versions", &b);
    wire_put_error(&b, -26, "no grant allows this");
    seeds_wire("error", &b);
    wire_put_key_change(&b, &c);
    seeds_wire("key-change", &b);
    seeds_sign(&b, "p256", "sha256", 32, "ecdsa", "file");
    seeds_wire("sign", &b);
    buf_free(&b);
}

static void
seeds_record(struct audit *a, json_t *rec)
{
    if (rec == NULL || audit_write(a, rec, NULL) != 0)
        exit(1);
    json_decref(rec);
}

/* Records shaped as the daemon's, written by the real audit writer. */
static void
seeds_all_audit(void)
{
    char dir[] = "/tmp/custodian-seeds.XXXXXX", path[64], *text;
    struct audit *a;
    FILE *f;
    long len;

    if (mkdtemp(dir) == NULL)
        exit(1);
    snprintf(path, sizeof(path), "%s/audit.log", dir);
    if (audit_open(path, &a) != 0)
        exit(1);
    seeds_record(a,
                 json_pack("{s:s, s:s}", "event", "start", "version", "0.1.0"));
    seeds_record(a,
                 json_pack("{s:s, s:{s:i, s:i, s:i, s:s, s:s}, s:s, s:s, "
                           "s:s, s:s, s:i, s:s, s:s}",
                           "event", "sign", "caller", "uid", 1001, "gid", 1001,
                           "pid", 4242, "exe", "/usr/local/bin/custodian-sign",
                           "cgroup", "/system.slice/runner.service", "identity",
                           "ci-runner", "rule", "ci-runner grant 1 (line 9)",
                           "key", "release", "decision", "allow", "version", 3,
                           "digest_alg", "sha256", "digest",
                           "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
                           "5a5a5a5a5a5a5a5a"));
    seeds_record(a, json_pack("{s:s, s:i, s:s, s:s, s:s}", "event", "refused",
                              "frame_type", 5, "decision", "deny", "error",
                              "CUST_ERR_PROTOCOL", "reason",
                              "malformed \\x00 request"));
    seeds_record(a,
                 json_pack("{s:s, s:s, s:s, s:s}", "event", "admin", "action",
                           "status", "identity", "operators", "result", "ok"));
    audit_close(a);
    f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    text = malloc((size_t)len);
    if (fread(text, 1, (size_t)len, f) != (size_t)len)
        exit(1);
    fclose(f);
    seeds_write("audit", "four-records", text, (size_t)len);
    /* The first two lines, as audit tail links them. */
    seeds_write("audit", "two-records", text,
                (size_t)(strchr(strchr(text, '\n') + 1, '\n') - text + 1));
    free(text);
    unlink(path);
    rmdir(dir);
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_seeds CORPUS-DIR\n");
        return 2;
    }
    seeds_dir = argv[1];
    mkdir(seeds_dir, 0755);
    seeds_all_native();
    seeds_all_agent();
    seeds_all_sshsig();
    seeds_all_sigenc();
    seeds_all_wire();
    seeds_all_audit();
    return 0;
}
