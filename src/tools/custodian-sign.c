/*
 * custodian-sign: what a build agent runs to sign artifacts. Each file is
 * hashed here as a stream; only the digest (or, for SSH signatures with
 * Ed25519, the short SSHSIG preimage) goes to the daemon, over one
 * connection for all files.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "custodian/client.h"
#include "buf.h"
#include "pubkey.h"
#include "sign_keyring.h"
#include "sshsig.h"

/* Exit codes, documented in docs/custodian-sign.md. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

#define MAX_CONTEXT 16

struct opts {
    const char *socket, *key, *format, *ns, *digest, *outdir;
    const char *pubkey, *signature;
    const char *keyring, *anchor, *at; /* verify --keyring */
    const char *context[2 * MAX_CONTEXT + 1];
    char ctxbuf[MAX_CONTEXT][320];
    int nctx;
};

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: custodian-sign [--socket PATH] COMMAND ...\n"
            "\n"
            "  sign --key NAME [--format der|sshsig|json] [--namespace NS]\n"
            "       [--digest sha256|sha384|sha512] [--context NAME=VALUE]...\n"
            "       [--output-dir DIR] FILE...\n"
            "      sign each FILE; writes FILE.sig (der), FILE.sshsig or "
            "FILE.sig.json\n"
            "  pubkey --key NAME [--format pem|ssh]\n"
            "      print the key's public key\n"
            "  ssh-key --key NAME\n"
            "      the active version as key::TYPE BASE64, for git's\n"
            "      gpg.ssh.defaultKeyCommand\n"
            "  verify --pubkey PUB.pem --signature SIG [--digest D] FILE\n"
            "      check a der signature offline\n"
            "  verify --keyring DIR --signature FILE.sig.json [--anchor FPR] "
            "FILE\n"
            "  verify --keyring DIR --key NAME --signature SIG [--at TIME]\n"
            "         [--digest D] [--anchor FPR] FILE\n"
            "      check a signature against a published keyring: version,\n"
            "      validity window, revocation, chain of custody\n"
            "\n"
            "The socket is $CUSTODIAN_SOCKET, else " CUST_SOCKET_DEFAULT ".\n"
            "Exit status: 0 success, 1 a request or file failed, 2 usage "
            "error.\n");
}

static int
usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "custodian-sign: %s%s%s\n", msg, arg ? ": " : "",
            arg ? arg : "");
    fprintf(stderr, "Try 'custodian-sign --help'.\n");
    return EXIT_USAGE;
}

static int
refused(const char *what, int rc, const struct cust_conn *c)
{
    const char *msg = c != NULL ? cust_message(c) : "";

    fprintf(stderr, "custodian-sign: %s: %s [%s]%s%s\n", what, cust_err_str(rc),
            cust_err_name(rc), msg[0] ? ": " : "", msg);
    return EXIT_FAIL;
}

static const EVP_MD *
md_by_name(const char *name)
{
    if (strcmp(name, "sha256") == 0)
        return EVP_sha256();
    if (strcmp(name, "sha384") == 0)
        return EVP_sha384();
    if (strcmp(name, "sha512") == 0)
        return EVP_sha512();
    return NULL;
}

static int
write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok;

    if (f == NULL)
        return -1;
    ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* The key's OpenSSH public key blob, from its DER public key. */
static int
key_blob(const uint8_t *spki, size_t len, struct buf *blob, EVP_PKEY **pkey)
{
    const uint8_t *p = spki;

    *pkey = d2i_PUBKEY(NULL, &p, (long)len);
    if (*pkey == NULL)
        return CUST_ERR_PROTOCOL;
    return pubkey_ssh_blob(*pkey, blob);
}

/* Asks the daemon to sign PREIMAGE the way SSH does for KEY's TYPE, and
 * appends the SSH signature blob (algorithm name, then the signature). */
static int
sshsig_sign(struct cust_conn *c, const char *key, const char *type,
            const struct buf *pre, const struct opts *o, struct buf *sig)
{
    enum alg_keytype kt = (enum alg_keytype)alg_keytype_from_name(type);
    enum alg_digest md = sshsig_digest(kt, 0);
    struct cust_sign_req r = {key,  NULL,  pre->data, pre->len,
                              NULL, o->ns, o->context};
    struct cust_signature s;
    uint8_t digest[ALG_DIGEST_MAX];
    int rc;

    if (md != ALG_DIGEST_NONE) {
        rc = alg_digest_compute(md, pre->data, pre->len, digest);
        if (rc != 0)
            return rc;
        r.data = digest;
        r.len = alg_digest_len(md);
        r.digest = alg_digest_name(md);
    }
    rc = cust_sign(c, &r, &s);
    return rc != 0 ? rc : sshsig_put_signature(sig, kt, md, s.sig, s.siglen);
}

/* Writes the armored SSH signature, base64 wrapped at 70 columns. */
static int
sshsig_write(const char *path, const struct buf *blob)
{
    char b64[8192];
    FILE *f;
    int n, i, ok;

    if (blob->len > 6000)
        return -1;
    n = EVP_EncodeBlock((unsigned char *)b64, blob->data, (int)blob->len);
    f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "-----BEGIN SSH SIGNATURE-----\n");
    for (i = 0; i < n; i += 70)
        fprintf(f, "%.*s\n", n - i < 70 ? n - i : 70, b64 + i);
    fprintf(f, "-----END SSH SIGNATURE-----\n");
    ok = !ferror(f);
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Signs FILE in SSH's format with KEY (whose description is INFO). */
static int
sign_sshsig(struct cust_conn *c, const struct cust_key *info,
            const uint8_t *spki, size_t spkilen, const char *file,
            const char *out, const struct opts *o)
{
    uint8_t h[64];
    size_t hlen = 0;
    struct buf pre, blob, sig, pub;
    EVP_PKEY *pkey = NULL;
    int rc;

    if (alg_digest_file(ALG_DIGEST_SHA512, file, h, &hlen) != 0)
        return CUST_ERR_IO;
    buf_init(&pre, 1024);
    buf_init(&sig, 2048);
    buf_init(&pub, 4096);
    buf_init(&blob, 8192);
    sshsig_put_preimage(&pre, o->ns, ALG_DIGEST_SHA512, h, hlen);
    rc = key_blob(spki, spkilen, &pub, &pkey);
    if (rc == 0)
        rc = sshsig_sign(c, info->name, info->type, &pre, o, &sig);
    if (rc == 0) {
        buf_put(&blob, "SSHSIG", 6);
        buf_put_u32(&blob, 1);
        buf_put_string(&blob, pub.data, pub.len);
        buf_put_cstring(&blob, o->ns);
        buf_put_cstring(&blob, "");
        buf_put_cstring(&blob, "sha512");
        buf_put_string(&blob, sig.data, sig.len);
        rc = buf_status(&blob);
    }
    if (rc == 0 && sshsig_write(out, &blob) != 0)
        rc = CUST_ERR_IO;
    EVP_PKEY_free(pkey);
    buf_free(&pre);
    buf_free(&sig);
    buf_free(&pub);
    buf_free(&blob);
    return rc;
}

static void
hex(const uint8_t *p, size_t n, char *out)
{
    size_t i;

    for (i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
    out[2 * n] = '\0';
}

/* The JSON bundle: what signed, over what, and the signature. Every value
 * is a name the daemon validated, hex or base64: nothing to escape. */
static int
write_json(const char *path, const struct cust_signature *s, const char *digest,
           const uint8_t *h, size_t hlen)
{
    char dhex[129], b64[2048], when[32];
    time_t now = (time_t)s->time;
    struct tm tm;
    FILE *f = fopen(path, "w");
    int ok;

    if (f == NULL)
        return -1;
    hex(h, hlen, dhex);
    EVP_EncodeBlock((unsigned char *)b64, s->sig, (int)s->siglen);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    fprintf(f,
            "{\"key\":\"%s\",\"version\":%u,\"fingerprint\":\"%s\","
            "\"algorithm\":\"%s\",\"digest_alg\":\"%s\",\"digest\":\"%s\","
            "\"signature\":\"%s\",\"time\":\"%s\"}\n",
            s->key.name, s->key.version, s->key.fingerprint, s->scheme, digest,
            dhex, b64, when);
    ok = !ferror(f);
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Signs FILE's digest: a detached DER (or raw RSA) signature, or JSON. */
static int
sign_digest(struct cust_conn *c, const struct cust_key *info, const char *file,
            const char *out, const struct opts *o)
{
    struct cust_sign_req r = {info->name, o->digest, NULL,      0,
                              NULL,       o->ns,     o->context};
    struct cust_signature s;
    uint8_t h[64];
    size_t hlen = 0;
    int rc;

    if (strcmp(info->type, "ed25519") == 0) {
        fprintf(stderr,
                "custodian-sign: %s: Ed25519 keys sign whole "
                "messages, not digests: use --format sshsig\n",
                info->name);
        return CUST_ERR_KEYTYPE; /* reported here, once */
    }
    if (alg_digest_file(alg_digest_from_name(o->digest), file, h, &hlen) != 0)
        return CUST_ERR_IO;
    r.data = h;
    r.len = hlen;
    rc = cust_sign(c, &r, &s);
    if (rc != 0)
        return rc;
    if (strcmp(o->format, "json") == 0)
        return write_json(out, &s, o->digest, h, hlen) ? CUST_ERR_IO : 0;
    return write_file(out, s.sig, s.siglen) != 0 ? CUST_ERR_IO : 0;
}

/* The signature's path for FILE: beside it, or in --output-dir. */
static void
out_path(const char *file, const struct opts *o, char *out, size_t len)
{
    const char *base = strrchr(file, '/');
    const char *suffix = strcmp(o->format, "der") == 0      ? ".sig"
                         : strcmp(o->format, "sshsig") == 0 ? ".sshsig"
                                                            : ".sig.json";

    if (o->outdir != NULL)
        snprintf(out, len, "%s/%s%s", o->outdir, base ? base + 1 : file,
                 suffix);
    else
        snprintf(out, len, "%s%s", file, suffix);
}

/* Connects, naming the socket and the system's reason on failure. */
static int
connect_daemon(const struct opts *o, struct cust_conn **c)
{
    const char *path = o->socket ? o->socket : getenv("CUSTODIAN_SOCKET");
    int rc = cust_connect(o->socket, "custodian-sign " CUSTODIAN_VERSION, c);

    if (rc == CUST_ERR_IO)
        fprintf(stderr, "custodian-sign: cannot reach the daemon at %s: %s\n",
                path && *path ? path : CUST_SOCKET_DEFAULT, strerror(errno));
    else if (rc != 0)
        refused("the daemon refused the connection", rc, NULL);
    return rc;
}

static int
cmd_sign(int nfiles, char **files, struct opts *o)
{
    struct cust_conn *c = NULL;
    struct cust_key info;
    uint8_t spki[2048];
    size_t spkilen = 0;
    char out[4096];
    int i, rc, status = EXIT_OK;

    rc = connect_daemon(o, &c);
    if (rc != 0)
        return EXIT_FAIL;
    rc = cust_pubkey(c, o->key, &info, spki, sizeof(spki), &spkilen);
    if (rc != 0) {
        status = refused(o->key, rc, c);
        cust_close(c);
        return status;
    }
    for (i = 0; i < nfiles; i++) {
        out_path(files[i], o, out, sizeof(out));
        rc = strcmp(o->format, "sshsig") == 0
                 ? sign_sshsig(c, &info, spki, spkilen, files[i], out, o)
                 : sign_digest(c, &info, files[i], out, o);
        if (rc == CUST_ERR_IO)
            fprintf(stderr, "custodian-sign: %s: %s\n", files[i],
                    strerror(errno));
        else if (rc != 0 && rc != CUST_ERR_KEYTYPE)
            refused(files[i], rc, c);
        else if (rc == 0)
            printf("%s\n", out);
        if (rc != 0)
            status = EXIT_FAIL;
    }
    cust_close(c);
    return status;
}

/* The active public key of --key, over one connection; 0, or the refusal
 * reported. */
static int
fetch_pubkey(struct opts *o, struct cust_key *info, uint8_t spki[2048],
             size_t *len)
{
    struct cust_conn *c = NULL;
    int rc;

    if (connect_daemon(o, &c) != 0)
        return -1;
    rc = cust_pubkey(c, o->key, info, spki, 2048, len);
    if (rc != 0)
        refused(o->key, rc, c);
    cust_close(c);
    return rc;
}

static int
cmd_pubkey(struct opts *o)
{
    struct cust_key info;
    uint8_t spki[2048];
    size_t len = 0;
    int rc;

    if (fetch_pubkey(o, &info, spki, &len) != 0)
        return EXIT_FAIL;
    rc = pubkey_print(stdout, spki, len, strcmp(o->format, "ssh") == 0,
                      info.name);
    return rc == 0 ? EXIT_OK : refused(o->key, rc, NULL);
}

/*
 * ssh-key: the active version as one line "key::TYPE BASE64 NAME@V", what
 * git's gpg.ssh.defaultKeyCommand must print: git then signs with
 * whichever version is active, with no change to its configuration.
 */
static int
cmd_ssh_key(struct opts *o)
{
    struct cust_key info;
    uint8_t spki[2048];
    const uint8_t *p = spki;
    char comment[96], *line = NULL;
    EVP_PKEY *key = NULL;
    size_t len = 0;
    int rc;

    if (fetch_pubkey(o, &info, spki, &len) != 0)
        return EXIT_FAIL;
    snprintf(comment, sizeof(comment), "%s@%u", info.name, info.version);
    key = d2i_PUBKEY(NULL, &p, (long)len);
    rc = key != NULL ? pubkey_ssh_line(key, comment, &line) : CUST_ERR_PROTOCOL;
    if (rc == 0)
        printf("key::%s\n", line);
    free(line);
    EVP_PKEY_free(key);
    return rc == 0 ? EXIT_OK : refused(o->key, rc, NULL);
}

static int
cmd_verify(const char *file, struct opts *o)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    uint8_t h[64], sig[1024];
    size_t hlen = 0;
    size_t siglen = 0;
    FILE *f = fopen(o->pubkey, "r");
    int ok = 0;

    if (f != NULL) {
        pkey = PEM_read_PUBKEY(f, NULL, NULL, NULL);
        fclose(f);
    }
    f = fopen(o->signature, "rb");
    if (f != NULL) {
        siglen = fread(sig, 1, sizeof(sig), f);
        fclose(f);
    }
    if (pkey == NULL || siglen == 0 ||
        alg_digest_file(alg_digest_from_name(o->digest), file, h, &hlen) != 0) {
        fprintf(stderr, "custodian-sign: cannot read the key, signature "
                        "or file\n");
        EVP_PKEY_free(pkey);
        return EXIT_USAGE;
    }
    pctx = EVP_PKEY_CTX_new(pkey, NULL);
    ok = pctx != NULL && EVP_PKEY_verify_init(pctx) == 1 &&
         EVP_PKEY_CTX_set_signature_md(pctx, md_by_name(o->digest)) == 1 &&
         EVP_PKEY_verify(pctx, sig, siglen, h, hlen) == 1;
    EVP_PKEY_CTX_free(pctx);
    EVP_PKEY_free(pkey);
    printf("%s: %s\n", file, ok ? "good signature" : "BAD signature");
    return ok ? EXIT_OK : EXIT_FAIL;
}

static int
add_context(struct opts *o, const char *arg)
{
    const char *eq = strchr(arg, '=');

    if (eq == NULL || eq == arg || eq - arg > 32 || o->nctx == MAX_CONTEXT ||
        strlen(arg) >= sizeof(o->ctxbuf[0]) ||
        strspn(arg, "abcdefghijklmnopqrstuvwxyz0123456789_.-") !=
            (size_t)(eq - arg))
        return -1;
    strcpy(o->ctxbuf[o->nctx], arg);
    o->ctxbuf[o->nctx][eq - arg] = '\0';
    o->context[2 * o->nctx] = o->ctxbuf[o->nctx];
    o->context[2 * o->nctx + 1] = o->ctxbuf[o->nctx] + (eq - arg) + 1;
    o->nctx++;
    o->context[2 * o->nctx] = NULL;
    return 0;
}

static int
parse(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 'S'},
        {"key", required_argument, NULL, 'k'},
        {"format", required_argument, NULL, 'f'},
        {"namespace", required_argument, NULL, 'n'},
        {"digest", required_argument, NULL, 'd'},
        {"context", required_argument, NULL, 'c'},
        {"output-dir", required_argument, NULL, 'o'},
        {"pubkey", required_argument, NULL, 'p'},
        {"signature", required_argument, NULL, 's'},
        {"keyring", required_argument, NULL, 'K'},
        {"anchor", required_argument, NULL, 'A'},
        {"at", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int ch;

    while ((ch = getopt_long(argc, argv, "k:f:n:d:c:o:p:s:h", longopts,
                             NULL)) != -1) {
        switch (ch) {
        case 'S':
            o->socket = optarg;
            break;
        case 'k':
            o->key = optarg;
            break;
        case 'f':
            o->format = optarg;
            break;
        case 'n':
            o->ns = optarg;
            break;
        case 'd':
            o->digest = optarg;
            break;
        case 'o':
            o->outdir = optarg;
            break;
        case 'p':
            o->pubkey = optarg;
            break;
        case 's':
            o->signature = optarg;
            break;
        case 'K':
            o->keyring = optarg;
            break;
        case 'A':
            o->anchor = optarg;
            break;
        case 'T':
            o->at = optarg;
            break;
        case 'c':
            if (add_context(o, optarg) != 0)
                return usage_error("--context takes NAME=VALUE, NAME of "
                                   "[a-z0-9_.-], up to 32",
                                   optarg);
            break;
        case 'h':
            usage(stdout);
            exit(EXIT_OK);
        case 'V':
            printf("custodian-sign %s\n", CUSTODIAN_VERSION);
            exit(EXIT_OK);
        default:
            return EXIT_USAGE;
        }
    }
    if (md_by_name(o->digest) == NULL)
        return usage_error("digest must be sha256, sha384 or sha512",
                           o->digest);
    return 0;
}

int
main(int argc, char **argv)
{
    struct opts o = {.digest = "sha256"};
    const char *cmd = argc > 1 ? argv[1] : NULL;

    if (cmd != NULL && cmd[0] == '-')
        cmd = NULL; /* global options come first: --socket, --help */
    if (parse(argc, argv, &o) != 0)
        return EXIT_USAGE;
    if (optind >= argc)
        return usage_error("no command given", NULL);
    cmd = argv[optind++];
    if (strcmp(cmd, "sign") == 0) {
        o.format = o.format ? o.format : "der";
        if (strcmp(o.format, "sshsig") == 0 && o.ns == NULL)
            o.ns = "file";
        if (o.key == NULL || optind >= argc)
            return usage_error("sign needs --key NAME and FILEs", NULL);
        if (strcmp(o.format, "der") && strcmp(o.format, "sshsig") &&
            strcmp(o.format, "json"))
            return usage_error("format must be der, sshsig or json", o.format);
        if (o.outdir != NULL && access(o.outdir, W_OK) != 0)
            return usage_error("cannot write to the output directory",
                               o.outdir);
        return cmd_sign(argc - optind, argv + optind, &o);
    }
    if (strcmp(cmd, "pubkey") == 0) {
        o.format = o.format ? o.format : "pem";
        if (o.key == NULL || optind != argc)
            return usage_error("pubkey needs --key NAME", NULL);
        if (strcmp(o.format, "pem") != 0 && strcmp(o.format, "ssh") != 0)
            return usage_error("pubkey format must be pem or ssh", o.format);
        return cmd_pubkey(&o);
    }
    if (strcmp(cmd, "ssh-key") == 0) {
        if (o.key == NULL || optind != argc)
            return usage_error("ssh-key needs --key NAME", NULL);
        return cmd_ssh_key(&o);
    }
    if (strcmp(cmd, "verify") == 0 && o.keyring != NULL) {
        if (o.signature == NULL || optind + 1 != argc)
            return usage_error("verify --keyring needs --signature and FILE",
                               NULL);
        return sign_keyring_verify(
            argv[optind],
            &(struct sign_keyring_args){o.keyring, o.signature, o.key, o.digest,
                                        o.at, o.anchor});
    }
    if (strcmp(cmd, "verify") == 0) {
        if (o.pubkey == NULL || o.signature == NULL || optind + 1 != argc)
            return usage_error("verify needs --pubkey PUB.pem or --keyring "
                               "DIR, --signature SIG and FILE",
                               NULL);
        return cmd_verify(argv[optind], &o);
    }
    return usage_error("unknown command", cmd);
}
