/*
 * custodian-token: direct access to a PKCS#11 token through custodian's
 * token layer, for the operator of the machine that holds the token.
 * It generates keys, prints public keys, signs files and shows what a
 * token supports. Clients never use it: they go through custodiand.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "custodian/error.h"
#include "alg.h"
#include "buf.h"
#include "log.h"
#include "pubkey.h"
#include "token.h"

/* Exit codes, documented in docs/custodian-token.md. */
enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,
    EXIT_USAGE = 2,
    EXIT_UNSUPPORTED = 3,
};

struct opts {
    struct token_config token;
    const char *format; /* pubkey: pem, der or ssh */
    const char *scheme, *digest;
    const char *in, *out;
};

static void
usage(FILE *f)
{
    fprintf(f, "usage: custodian-token [options] COMMAND [ARGS]\n"
               "\n"
               "Options (before the command):\n"
               "  -m, --module PATH        PKCS#11 module to load\n"
               "  -t, --token URI          pkcs11: URI selecting the token\n"
               "  -p, --pin-file FILE      file holding the user PIN\n"
               "  -C, --pin-credential NAME  systemd credential holding it\n"
               "  -v, --verbose            log token calls (debug level)\n"
               "  -h, --help               show this help\n"
               "      --version            show the version\n"
               "\n"
               "Commands:\n"
               "  info                     describe the token and the key "
               "types it supports\n"
               "  list                     list private keys and whether each "
               "passes the\n"
               "                           custody check (ok, or the error)\n"
               "  generate TYPE LABEL      generate a key pair on the token\n"
               "  pubkey LABEL [-f pem|der|ssh] [-o FILE]\n"
               "                           print the public key\n"
               "  sign LABEL -i FILE -o SIG [-s SCHEME] [-d DIGEST]\n"
               "                           sign FILE, write the signature\n"
               "\n"
               "Types: ecdsa-p256 ecdsa-p384 ed25519 rsa-2048 rsa-3072 "
               "rsa-4096\n"
               "Schemes: ecdsa ed25519 rsa-pkcs1 rsa-pss; digests: sha256 "
               "sha384 sha512\n"
               "Exit status: 0 success, 1 failure, 2 usage error, 3 not "
               "supported by this token.\n");
}

static int
fail(int rc, const char *what)
{
    fprintf(stderr, "custodian-token: %s: %s (%s)\n", what, cust_err_str(rc),
            token_error_detail());
    return rc == CUST_ERR_UNSUPPORTED ? EXIT_UNSUPPORTED : EXIT_FAIL;
}

static int
usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "custodian-token: %s%s%s\n", msg, arg ? ": " : "",
            arg ? arg : "");
    fprintf(stderr, "Try 'custodian-token --help'.\n");
    return EXIT_USAGE;
}

/*
 * Writes LEN bytes to PATH ("-" for standard output). Signatures and
 * public keys are not secret, so the file gets ordinary permissions.
 */
static int
write_file(const char *path, const void *data, size_t len)
{
    int fd = strcmp(path, "-") == 0
                 ? dup(STDOUT_FILENO)
                 : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const char *p = data;
    ssize_t n;

    if (fd < 0)
        return CUST_ERR_IO;
    while (len > 0) {
        n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        p += n;
        len -= (size_t)n;
    }
    if (close(fd) != 0 || len > 0)
        return CUST_ERR_IO;
    return 0;
}

static int
cmd_info(struct token *tok)
{
    struct token_description d;
    int rc = token_describe(tok, &d), t;

    if (rc != 0)
        return fail(rc, "info");
    printf("label:        %s\nmanufacturer: %s\nmodel:        %s\n"
           "serial:       %s\nmodule:       %s\nkey types:   ",
           d.label, d.manufacturer, d.model, d.serial, d.module);
    for (t = ALG_KEY_ECDSA_P256; t <= ALG_KEY_RSA_4096; t++) {
        if (token_supports(tok, t) == 0)
            printf(" %s", alg_keytype_name(t));
    }
    printf("\n");
    return EXIT_OK;
}

/* Prints one key of the listing with the verdict of the custody check. */
static void
list_one(const char *label, const uint8_t *id, size_t idlen, void *arg)
{
    struct token *tok = arg;
    struct token_key *key = NULL;
    char shown[LOG_ESCAPE_BUF];
    size_t i;
    int rc = token_key_find(tok, label, id, idlen, &key);

    printf("%-10s  ", rc == 0 ? alg_keytype_name(token_key_type(key)) : "-");
    for (i = 0; i < idlen && i < 8; i++)
        printf("%02x", id[i]);
    printf("%s  %s  ", idlen > 8 ? ".." : "",
           rc == 0 ? "ok" : cust_err_name(rc));
    printf("%s\n", log_escape(label, strlen(label), shown));
    token_key_free(key);
}

static int
cmd_list(struct token *tok)
{
    int rc;

    printf("%-10s  %-18s  %-20s  %s\n", "TYPE", "ID", "CHECK", "LABEL");
    rc = token_key_list(tok, list_one, tok);
    return rc == 0 ? EXIT_OK : fail(rc, "list");
}

static int
cmd_generate(struct token *tok, int argc, char **argv)
{
    struct token_key *key;
    const uint8_t *id;
    size_t idlen, i;
    int type, rc;

    if (argc != 3)
        return usage_error("generate needs TYPE and LABEL", NULL);
    type = alg_keytype_from_name(argv[1]);
    if (type < 0)
        return usage_error("unknown key type", argv[1]);

    rc = token_key_generate(tok, type, argv[2], &key);
    if (rc != 0)
        return fail(rc, "generate");
    id = token_key_id(key, &idlen);
    printf("generated %s key \"%s\" id ", alg_keytype_name(type),
           token_key_label(key));
    for (i = 0; i < idlen; i++)
        printf("%02x", id[i]);
    printf("\n");
    token_key_free(key);
    return EXIT_OK;
}

/* Encodes the public key of KEY in FORMAT into a fresh buffer. */
static int
encode_pubkey(struct token_key *key, const char *format, uint8_t **out,
              size_t *len)
{
    EVP_PKEY *pub = token_key_public(key);
    char *text = NULL;
    int rc;

    if (strcmp(format, "der") == 0)
        return pubkey_spki_der(pub, out, len);
    if (strcmp(format, "pem") == 0)
        rc = pubkey_spki_pem(pub, &text);
    else
        rc = pubkey_ssh_line(pub, token_key_label(key), &text);
    if (rc != 0)
        return rc;
    if (strcmp(format, "ssh") == 0) {
        char *nl = realloc(text, strlen(text) + 2);
        if (nl == NULL) {
            free(text);
            return CUST_ERR_NOMEM;
        }
        text = strcat(nl, "\n");
    }
    *out = (uint8_t *)text;
    *len = strlen(text);
    return 0;
}

static int
cmd_pubkey(struct token *tok, int argc, char **argv, struct opts *o)
{
    struct token_key *key;
    uint8_t *data = NULL;
    size_t len = 0;
    int rc;

    if (argc != 2)
        return usage_error("pubkey needs LABEL", NULL);
    if (strcmp(o->format, "pem") != 0 && strcmp(o->format, "der") != 0 &&
        strcmp(o->format, "ssh") != 0)
        return usage_error("format must be pem, der or ssh", o->format);

    rc = token_key_find(tok, argv[1], NULL, 0, &key);
    if (rc != 0)
        return fail(rc, "pubkey");
    rc = encode_pubkey(key, o->format, &data, &len);
    if (rc == 0)
        rc = write_file(o->out ? o->out : "-", data, len);
    free(data);
    token_key_free(key);
    return rc == 0 ? EXIT_OK : fail(rc, "pubkey");
}

/* Reads FILE into B (up to its limit), for schemes that sign messages. */
static int
read_file(const char *path, struct buf *b)
{
    uint8_t chunk[65536];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return CUST_ERR_IO;
    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || buf_put(b, chunk, (size_t)n) != 0)
            break;
    }
    close(fd);
    if (n != 0)
        return buf_status(b) != 0 ? buf_status(b) : CUST_ERR_IO;
    return 0;
}

/*
 * Streams FILE through digest MD into OUT, so that artifacts of any size
 * are signed without holding them in memory; only the digest reaches the
 * token.
 */
static int
hash_file(const char *path, enum alg_digest md, uint8_t *out)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t chunk[65536];
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = CUST_ERR_IO;
    ssize_t n;

    if (ctx == NULL || fd < 0 ||
        EVP_DigestInit_ex(ctx, alg_digest_md(md), NULL) != 1)
        goto out;
    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || EVP_DigestUpdate(ctx, chunk, (size_t)n) != 1)
            goto out;
    }
    if (EVP_DigestFinal_ex(ctx, out, NULL) == 1)
        rc = 0;
out:
    if (fd >= 0)
        close(fd);
    EVP_MD_CTX_free(ctx);
    return rc;
}

static int
sign_file(struct token_key *key, enum alg_scheme scheme, enum alg_digest md,
          const char *path, uint8_t *sig, size_t *siglen)
{
    uint8_t digest[ALG_DIGEST_MAX];
    struct buf msg;
    int rc;

    if (scheme != ALG_SCHEME_ED25519) {
        rc = hash_file(path, md, digest);
        return rc != 0 ? rc
                       : token_sign_digest(key, scheme, md, digest,
                                           alg_digest_len(md), sig, siglen);
    }
    /* Pure Ed25519 needs the whole message on the token. */
    buf_init(&msg, TOKEN_MESSAGE_MAX);
    rc = read_file(path, &msg);
    if (rc == 0)
        rc = token_sign_message(key, scheme, ALG_DIGEST_NONE, msg.data, msg.len,
                                sig, siglen);
    buf_free(&msg);
    return rc;
}

static int
cmd_sign(struct token *tok, int argc, char **argv, struct opts *o)
{
    struct token_key *key;
    uint8_t sig[ALG_SIG_MAX];
    size_t siglen = 0;
    int scheme = ALG_SCHEME_NONE, md = ALG_DIGEST_SHA256, rc;

    if (argc != 2 || o->in == NULL || o->out == NULL)
        return usage_error("sign needs LABEL, -i FILE and -o SIG", NULL);
    if (o->scheme != NULL && (scheme = alg_scheme_from_name(o->scheme)) < 0)
        return usage_error("unknown scheme", o->scheme);
    if (o->digest != NULL && (md = alg_digest_from_name(o->digest)) < 0)
        return usage_error("unknown or refused digest", o->digest);

    rc = token_key_find(tok, argv[1], NULL, 0, &key);
    if (rc != 0)
        return fail(rc, "sign");
    if (scheme == ALG_SCHEME_NONE)
        scheme = alg_default_scheme(token_key_type(key));
    rc = sign_file(key, scheme, md, o->in, sig, &siglen);
    if (rc == 0)
        rc = write_file(o->out, sig, siglen);
    token_key_free(key);
    return rc == 0 ? EXIT_OK : fail(rc, "sign");
}

/* Parses the options that follow a command name. */
static int
parse_command_opts(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'},
        {"scheme", required_argument, NULL, 's'},
        {"digest", required_argument, NULL, 'd'},
        {"in", required_argument, NULL, 'i'},
        {"out", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    int c;

    optind = 0; /* glibc: 0 also resets getopt's internal state */
    while ((c = getopt_long(argc, argv, "f:s:d:i:o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            o->format = optarg;
            break;
        case 's':
            o->scheme = optarg;
            break;
        case 'd':
            o->digest = optarg;
            break;
        case 'i':
            o->in = optarg;
            break;
        case 'o':
            o->out = optarg;
            break;
        default:
            return -1;
        }
    }
    return optind;
}

/* Parses the global options; returns the index of the command or -1. */
static int
parse_global_opts(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"module", required_argument, NULL, 'm'},
        {"token", required_argument, NULL, 't'},
        {"pin-file", required_argument, NULL, 'p'},
        {"pin-credential", required_argument, NULL, 'C'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = getopt_long(argc, argv, "+m:t:p:C:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'm':
            o->token.module = optarg;
            break;
        case 't':
            o->token.uri = optarg;
            break;
        case 'p':
            o->token.pin_file = optarg;
            break;
        case 'C':
            o->token.pin_credential = optarg;
            break;
        case 'v':
            log_threshold = LOG_LEVEL_DEBUG;
            break;
        case 'h':
            usage(stdout);
            exit(EXIT_OK);
        case 'V':
            printf("custodian-token %s\n", CUSTODIAN_VERSION);
            exit(EXIT_OK);
        default:
            return -1;
        }
    }
    return optind;
}

static int
run_command(struct token *tok, int argc, char **argv, struct opts *o)
{
    char *args[4] = {argv[0]};
    int n = parse_command_opts(argc, argv, o), nargs = 1;

    if (n < 0)
        return EXIT_USAGE;
    /* getopt moved the operands after the options: argv[n..argc). */
    if (argc - n > 3)
        return usage_error("too many arguments", NULL);
    while (n < argc)
        args[nargs++] = argv[n++];

    if (strcmp(args[0], "info") == 0)
        return nargs == 1 ? cmd_info(tok)
                          : usage_error("info takes no arguments", NULL);
    if (strcmp(args[0], "list") == 0)
        return nargs == 1 ? cmd_list(tok)
                          : usage_error("list takes no arguments", NULL);
    if (strcmp(args[0], "generate") == 0)
        return cmd_generate(tok, nargs, args);
    if (strcmp(args[0], "pubkey") == 0)
        return cmd_pubkey(tok, nargs, args, o);
    return cmd_sign(tok, nargs, args, o);
}

int
main(int argc, char **argv)
{
    static const char *const commands[] = {"info", "list", "generate", "pubkey",
                                           "sign"};
    struct opts o = {.format = "pem"};
    struct token *tok = NULL;
    int first, rc, known = 0;
    size_t i;

    log_init("custodian-token", LOG_LEVEL_WARN);
    first = parse_global_opts(argc, argv, &o);
    if (first < 0)
        return usage_error("bad option", NULL);
    if (first >= argc)
        return usage_error("no command given", NULL);
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        known |= strcmp(argv[first], commands[i]) == 0;
    if (!known)
        return usage_error("unknown command", argv[first]);
    if (o.token.module == NULL || o.token.uri == NULL ||
        (o.token.pin_file == NULL) == (o.token.pin_credential == NULL))
        return usage_error("need --module, --token and one of --pin-file "
                           "or --pin-credential",
                           NULL);

    rc = token_open(&o.token, &tok);
    if (rc != 0)
        return fail(rc, "cannot open token");
    rc = run_command(tok, argc - first, argv + first, &o);
    token_close(tok);
    return rc;
}
