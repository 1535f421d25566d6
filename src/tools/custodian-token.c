/*
 * custodian-token: direct access to a PKCS#11 token through custodian's
 * token layer, for the operator of the machine that holds the token.
 * It generates keys, prints public keys, signs files and shows what a
 * token supports. Clients never use it: they go through custodiand.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
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

/* Command options, as bits of opts.given and command.allowed. */
enum {
    OPT_FORMAT = 1 << 0,
    OPT_SCHEME = 1 << 1,
    OPT_DIGEST = 1 << 2,
    OPT_IN = 1 << 3,
    OPT_OUT = 1 << 4,
};

struct opts {
    struct token_config token;
    const struct command *cmd;
    char *args[2]; /* the command's operands */
    int nargs;
    unsigned given; /* OPT_* bits seen */
    const char *format, *scheme, *digest, *in, *out;
    int keytype, scheme_id, md; /* validated forms of the above */
};

struct command {
    const char *name;
    int nargs;
    unsigned allowed;
    int (*run)(struct token *tok, struct opts *o);
};

/* What went wrong outside the token layer, for fail(); empty if nothing. */
static char tool_detail[512];

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

static void set_detail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void
set_detail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(tool_detail, sizeof(tool_detail), fmt, ap);
    va_end(ap);
}

/* Reports a failed operation: the error, its code name and the cause. */
static int
fail(int rc, const char *what)
{
    const char *detail =
        tool_detail[0] != '\0' ? tool_detail : token_error_detail();

    if (strcmp(detail, "no error") == 0)
        detail = NULL;
    fprintf(stderr, "custodian-token: %s: %s [%s]%s%s\n", what,
            cust_err_str(rc), cust_err_name(rc), detail ? ": " : "",
            detail ? detail : "");
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

static int
io_fail(const char *what, const char *doing, const char *path)
{
    set_detail("cannot %s %s: %s", doing, path, strerror(errno));
    return fail(CUST_ERR_IO, what);
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
        return -1;
    while (len > 0) {
        n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        p += n;
        len -= (size_t)n;
    }
    if (len > 0) {
        close(fd);
        return -1;
    }
    return close(fd);
}

static int
cmd_info(struct token *tok, struct opts *o)
{
    struct token_description d;
    int rc = token_describe(tok, &d), t;

    (void)o;
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
    char shown[LOG_ESCAPE_BUF], hex[19] = "";
    size_t i;
    int rc = token_key_find(tok, label, id, idlen, &key);

    for (i = 0; i < idlen && i < 8; i++)
        snprintf(hex + 2 * i, 3, "%02x", id[i]);
    if (idlen > 8)
        strcat(hex, "..");
    printf("%-10s  %-18s  %-20s  %s\n",
           rc == 0 ? alg_keytype_name(token_key_type(key)) : "-", hex,
           rc == 0 ? "ok" : cust_err_name(rc),
           log_escape(label, strlen(label), shown));
    token_key_free(key);
}

static int
cmd_list(struct token *tok, struct opts *o)
{
    int rc;

    (void)o;
    printf("%-10s  %-18s  %-20s  %s\n", "TYPE", "ID", "CHECK", "LABEL");
    rc = token_key_list(tok, list_one, tok);
    return rc == 0 ? EXIT_OK : fail(rc, "list");
}

static int
cmd_generate(struct token *tok, struct opts *o)
{
    char shown[LOG_ESCAPE_BUF];
    struct token_key *key;
    const uint8_t *id;
    size_t idlen, i;
    int rc;

    rc = token_key_generate(tok, o->keytype, o->args[1], &key);
    if (rc != 0)
        return fail(rc, "generate");
    id = token_key_id(key, &idlen);
    printf("generated %s key \"%s\" id ", alg_keytype_name(o->keytype),
           log_escape(o->args[1], strlen(o->args[1]), shown));
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
    char *text = NULL, *nl;
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
        nl = realloc(text, strlen(text) + 2);
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
cmd_pubkey(struct token *tok, struct opts *o)
{
    const char *path = o->out ? o->out : "-";
    struct token_key *key;
    uint8_t *data = NULL;
    size_t len = 0;
    int rc;

    rc = token_key_find(tok, o->args[0], NULL, 0, &key);
    if (rc != 0)
        return fail(rc, "pubkey");
    rc = encode_pubkey(key, o->format, &data, &len);
    token_key_free(key);
    if (rc != 0)
        return fail(rc, "pubkey");
    rc = write_file(path, data, len);
    free(data);
    return rc == 0 ? EXIT_OK : io_fail("pubkey", "write", path);
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
        if (rc != 0)
            set_detail("cannot read %s: %s", path, strerror(errno));
        return rc != 0 ? rc
                       : token_sign_digest(key, scheme, md, digest,
                                           alg_digest_len(md), sig, siglen);
    }
    /* Pure Ed25519 needs the whole message on the token. */
    buf_init(&msg, TOKEN_MESSAGE_MAX);
    rc = read_file(path, &msg);
    if (rc == CUST_ERR_IO)
        set_detail("cannot read %s: %s", path, strerror(errno));
    else if (rc == CUST_ERR_TOO_BIG)
        set_detail("Ed25519 signs the whole file inside the token, and "
                   "takes files of at most %d bytes",
                   TOKEN_MESSAGE_MAX);
    if (rc == 0)
        rc = token_sign_message(key, scheme, ALG_DIGEST_NONE, msg.data, msg.len,
                                sig, siglen);
    buf_free(&msg);
    return rc;
}

static int
cmd_sign(struct token *tok, struct opts *o)
{
    struct token_key *key;
    uint8_t sig[ALG_SIG_MAX];
    size_t siglen = 0;
    int scheme = o->scheme_id, rc;

    rc = token_key_find(tok, o->args[0], NULL, 0, &key);
    if (rc != 0)
        return fail(rc, "sign");
    if (scheme == ALG_SCHEME_NONE)
        scheme = alg_default_scheme(token_key_type(key));
    if (scheme == ALG_SCHEME_ED25519 && o->digest != NULL) {
        set_detail("Ed25519 signs the whole file and takes no digest (-d)");
        rc = CUST_ERR_DIGEST;
    } else {
        rc = sign_file(key, scheme, o->md, o->in, sig, &siglen);
    }
    token_key_free(key);
    if (rc != 0)
        return fail(rc, "sign");
    if (write_file(o->out, sig, siglen) != 0)
        return io_fail("sign", "write", o->out);
    return EXIT_OK;
}

static const struct command commands[] = {
    {"info", 0, 0, cmd_info},
    {"list", 0, 0, cmd_list},
    {"generate", 2, 0, cmd_generate},
    {"pubkey", 1, OPT_FORMAT | OPT_OUT, cmd_pubkey},
    {"sign", 1, OPT_SCHEME | OPT_DIGEST | OPT_IN | OPT_OUT, cmd_sign},
};

/* Reports an option getopt refused (C is '?' or ':'), naming it. */
static int
bad_option(int c, char **argv)
{
    char opt[3] = {'-', (char)optopt, '\0'};
    const char *name = optopt != 0 ? opt : argv[optind - 1];

    if (c == ':')
        return usage_error("option needs an argument", name);
    return usage_error("unknown option", name);
}

/* Parses the options that follow a command name, and its operands. */
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
    static const char letters[] = "fsdio";
    const char **slot[] = {&o->format, &o->scheme, &o->digest, &o->in, &o->out};
    const char *at;
    int c;

    optind = 0; /* glibc: 0 also resets getopt's internal state */
    while ((c = getopt_long(argc, argv, ":f:s:d:i:o:m:t:p:C:v", longopts,
                            NULL)) != -1) {
        at = strchr(letters, c);
        if (at != NULL) {
            *slot[at - letters] = optarg;
            o->given |= 1u << (at - letters);
        } else if (strchr("mtpCv", c) != NULL) {
            return usage_error("options -m, -t, -p, -C and -v go before the "
                               "command",
                               NULL);
        } else {
            return bad_option(c, argv);
        }
    }
    /* getopt moved the operands after the options: argv[optind..argc). */
    if (argc - optind > 2)
        return usage_error("too many arguments", argv[optind + 2]);
    while (optind < argc)
        o->args[o->nargs++] = argv[optind++];
    return 0;
}

static int
check_label(const char *label)
{
    size_t n = strlen(label);

    if (n == 0 || n > TOKEN_LABEL_MAX)
        return usage_error("a key label is 1 to 128 bytes", NULL);
    return 0;
}

/* Checks everything about the command that needs no token. */
static int
check_command(struct opts *o)
{
    const struct command *c = o->cmd;

    if (o->nargs != c->nargs)
        return usage_error(c->nargs == 0   ? "this command takes no operands"
                           : c->nargs == 1 ? "this command needs a LABEL"
                                           : "generate needs TYPE and LABEL",
                           c->name);
    if (o->given & ~c->allowed)
        return usage_error("option not used by this command", c->name);
    if (strcmp(c->name, "generate") == 0 &&
        (o->keytype = alg_keytype_from_name(o->args[0])) < 0)
        return usage_error("unknown key type", o->args[0]);
    if (c->nargs > 0 && check_label(o->args[c->nargs - 1]) != 0)
        return EXIT_USAGE;
    if (strcmp(o->format, "pem") != 0 && strcmp(o->format, "der") != 0 &&
        strcmp(o->format, "ssh") != 0)
        return usage_error("format must be pem, der or ssh", o->format);
    if (strcmp(c->name, "sign") != 0)
        return 0;
    if (o->in == NULL || o->out == NULL)
        return usage_error("sign needs -i FILE and -o SIGFILE", NULL);
    if (o->scheme != NULL &&
        (o->scheme_id = alg_scheme_from_name(o->scheme)) < 0)
        return usage_error("unknown scheme", o->scheme);
    if (o->digest != NULL && (o->md = alg_digest_from_name(o->digest)) < 0)
        return usage_error("unknown or refused digest", o->digest);
    return 0;
}

static int
check_token_opts(const struct opts *o)
{
    if (o->token.module == NULL || o->token.uri == NULL)
        return usage_error("need --module and --token", NULL);
    if (o->token.pin_file != NULL && o->token.pin_credential != NULL)
        return usage_error("give --pin-file or --pin-credential, not both",
                           NULL);
    if (o->token.pin_file == NULL && o->token.pin_credential == NULL)
        return usage_error("need --pin-file or --pin-credential", NULL);
    return 0;
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

    while ((c = getopt_long(argc, argv, "+:m:t:p:C:vh", longopts, NULL)) !=
           -1) {
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
            bad_option(c, argv);
            return -1;
        }
    }
    return optind;
}

/* Parses and checks the whole command line; EXIT_OK or EXIT_USAGE. */
static int
parse_command_line(int argc, char **argv, struct opts *o)
{
    int first = parse_global_opts(argc, argv, o);
    size_t i;

    if (first < 0)
        return EXIT_USAGE;
    if (first >= argc)
        return usage_error("no command given", NULL);
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[first], commands[i].name) == 0)
            o->cmd = &commands[i];
    }
    if (o->cmd == NULL)
        return usage_error("unknown command", argv[first]);
    if (parse_command_opts(argc - first, argv + first, o) != 0)
        return EXIT_USAGE;
    if (check_command(o) != 0 || check_token_opts(o) != 0)
        return EXIT_USAGE;
    return EXIT_OK;
}

int
main(int argc, char **argv)
{
    struct opts o = {.format = "pem", .md = ALG_DIGEST_SHA256};
    struct token *tok = NULL;
    int rc;

    log_init("custodian-token", LOG_LEVEL_WARN);
    opterr = 0; /* bad_option() names the culprit instead */
    rc = parse_command_line(argc, argv, &o);
    if (rc != EXIT_OK)
        return rc;

    rc = token_open(&o.token, &tok);
    if (rc != 0)
        return fail(rc, "cannot open token");
    rc = o.cmd->run(tok, &o);
    token_close(tok);
    return rc;
}
