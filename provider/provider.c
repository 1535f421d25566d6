/*
 * The provider's entry point: what it offers OpenSSL, its configuration,
 * and how its errors reach OpenSSL's error queue.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include "prov.h"

#define PROV_REASONS_MAX 64

static OSSL_FUNC_provider_teardown_fn prov_teardown;
static OSSL_FUNC_provider_gettable_params_fn prov_gettable_params;
static OSSL_FUNC_provider_get_params_fn prov_get_params;
static OSSL_FUNC_provider_query_operation_fn prov_query_operation;
static OSSL_FUNC_provider_get_reason_strings_fn prov_get_reason_strings;

/* custodian's error texts, by reason code (-code), for OpenSSL. */
static OSSL_ITEM prov_reasons[PROV_REASONS_MAX + 1];
static pthread_once_t prov_reasons_once = PTHREAD_ONCE_INIT;

static const OSSL_ALGORITHM prov_stores[] = {
    {"custodian", PROV_PROPS, prov_store_functions,
     "keys held by custodiand, as custodian:NAME"},
    {NULL, NULL, NULL, NULL},
};

/*
 * The names are OpenSSL's own, so that its code and other providers'
 * recognise the key types.
 * XXX: OpenSSL 3.0 takes the first provider loaded that offers a name;
 * loaded before the default provider, these (which cannot generate or
 * import keys) break key generation in the process
 * (docs/limitations.md).
 */
static const OSSL_ALGORITHM prov_keymgmts[] = {
    {"EC:id-ecPublicKey:1.2.840.10045.2.1", PROV_PROPS,
     prov_ec_keymgmt_functions, "custodiand's ECDSA keys"},
    {"ED25519:1.3.101.112", PROV_PROPS, prov_ed25519_keymgmt_functions,
     "custodiand's Ed25519 keys"},
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", PROV_PROPS,
     prov_rsa_keymgmt_functions, "custodiand's RSA keys"},
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM prov_signatures[] = {
    {"ECDSA", PROV_PROPS, prov_ecdsa_signature_functions,
     "ECDSA by custodiand"},
    {"ED25519:1.3.101.112", PROV_PROPS, prov_ed25519_signature_functions,
     "Ed25519 by custodiand"},
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", PROV_PROPS,
     prov_rsa_signature_functions, "RSA PKCS#1 v1.5 and PSS by custodiand"},
    {NULL, NULL, NULL, NULL},
};

void
prov_error_at(const struct prov_ctx *pc, int code, const char *file, int line,
              const char *func, const char *fmt, ...)
{
    va_list ap;

    if (pc == NULL || pc->new_error == NULL || pc->vset_error == NULL)
        return;
    pc->new_error(pc->handle);
    if (pc->set_error_debug != NULL)
        pc->set_error_debug(pc->handle, file, line, func);
    va_start(ap, fmt);
    pc->vset_error(pc->handle, (uint32_t)-code, fmt, ap);
    va_end(ap);
}

static void
prov_reasons_fill(void)
{
    int i;

    for (i = 1; i <= PROV_REASONS_MAX; i++) {
        const char *text = cust_err_str(-i);

        if (strcmp(text, cust_err_str(-PROV_REASONS_MAX - 1)) == 0)
            break;
        prov_reasons[i - 1].id = (unsigned int)i;
        prov_reasons[i - 1].ptr = (void *)text;
    }
}

static const OSSL_ITEM *
prov_get_reason_strings(void *provctx)
{
    (void)provctx;
    pthread_once(&prov_reasons_once, prov_reasons_fill);
    return prov_reasons;
}

static const OSSL_PARAM *
prov_gettable_params(void *provctx)
{
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_DEFN(OSSL_PROV_PARAM_NAME, OSSL_PARAM_UTF8_PTR, NULL, 0),
        OSSL_PARAM_DEFN(OSSL_PROV_PARAM_VERSION, OSSL_PARAM_UTF8_PTR, NULL, 0),
        OSSL_PARAM_DEFN(OSSL_PROV_PARAM_BUILDINFO, OSSL_PARAM_UTF8_PTR, NULL,
                        0),
        OSSL_PARAM_DEFN(OSSL_PROV_PARAM_STATUS, OSSL_PARAM_INTEGER, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)provctx;
    return gettable;
}

static int
prov_get_params(void *provctx, OSSL_PARAM params[])
{
    OSSL_PARAM *p;

    (void)provctx;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, "custodian"))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, CUSTODIAN_VERSION))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO);
    if (p != NULL &&
        !OSSL_PARAM_set_utf8_ptr(p, "custodian " CUSTODIAN_VERSION))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
    if (p != NULL && !OSSL_PARAM_set_int(p, 1))
        return 0;
    return 1;
}

static const OSSL_ALGORITHM *
prov_query_operation(void *provctx, int operation_id, int *no_cache)
{
    (void)provctx;
    *no_cache = 0;
    switch (operation_id) {
    case OSSL_OP_STORE:
        return prov_stores;
    case OSSL_OP_KEYMGMT:
        return prov_keymgmts;
    case OSSL_OP_SIGNATURE:
        return prov_signatures;
    default:
        return NULL;
    }
}

static void
prov_teardown(void *provctx)
{
    struct prov_ctx *pc = provctx;

    if (pc == NULL)
        return;
    OSSL_PROVIDER_unload(pc->deflt);
    OSSL_LIB_CTX_free(pc->libctx);
    free(pc);
}

static const OSSL_DISPATCH prov_functions[] = {
    {OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))prov_teardown},
    {OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, (void (*)(void))prov_gettable_params},
    {OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))prov_get_params},
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))prov_query_operation},
    {OSSL_FUNC_PROVIDER_GET_REASON_STRINGS,
     (void (*)(void))prov_get_reason_strings},
    {0, NULL},
};

/* Takes the core's functions this provider calls. */
static void
prov_take_core(struct prov_ctx *pc, const OSSL_DISPATCH *in,
               OSSL_FUNC_core_get_params_fn **get_params)
{
    for (; in->function_id != 0; in++) {
        switch (in->function_id) {
        case OSSL_FUNC_CORE_GET_PARAMS:
            *get_params = OSSL_FUNC_core_get_params(in);
            break;
        case OSSL_FUNC_CORE_NEW_ERROR:
            pc->new_error = OSSL_FUNC_core_new_error(in);
            break;
        case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
            pc->set_error_debug = OSSL_FUNC_core_set_error_debug(in);
            break;
        case OSSL_FUNC_CORE_VSET_ERROR:
            pc->vset_error = OSSL_FUNC_core_vset_error(in);
            break;
        default:
            break;
        }
    }
}

/* TEXT as a whole number of seconds, 1 to an hour; 0 if it is not. */
static unsigned
prov_seconds(const char *text)
{
    char *end;
    unsigned long v = strtoul(text, &end, 10);

    return *text != '\0' && *end == '\0' && v >= 1 && v <= 3600 ? (unsigned)v
                                                                : 0;
}

/*
 * The provider's section of openssl.cnf may set "socket" (where
 * custodiand listens), "namespace" (what every request is for) and
 * "timeout" (seconds to wait for an answer). OpenSSL hands a provider
 * only the settings it asks for, so a misspelt one goes unnoticed.
 */
static int
prov_configure(struct prov_ctx *pc, OSSL_FUNC_core_get_params_fn *get_params)
{
    char *sock = NULL, *ns = NULL, *timeout = NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_utf8_ptr("socket", &sock, 0),
        OSSL_PARAM_utf8_ptr("namespace", &ns, 0),
        OSSL_PARAM_utf8_ptr("timeout", &timeout, 0),
        OSSL_PARAM_END,
    };

    if (get_params != NULL && !get_params(pc->handle, params)) {
        PROV_ERR(pc, CUST_ERR_CONFIG, "cannot read the configuration");
        return CUST_ERR_CONFIG;
    }
    if (sock != NULL && strlen(sock) > PROV_SOCKET_MAX) {
        PROV_ERR(pc, CUST_ERR_CONFIG, "socket: path longer than %d bytes: %s",
                 PROV_SOCKET_MAX, sock);
        return CUST_ERR_CONFIG;
    }
    if (ns != NULL && strlen(ns) > PROV_NAME_MAX) {
        PROV_ERR(pc, CUST_ERR_CONFIG, "namespace: longer than %d bytes: %s",
                 PROV_NAME_MAX, ns);
        return CUST_ERR_CONFIG;
    }
    pc->timeout_s = timeout ? prov_seconds(timeout) : PROV_TIMEOUT_S;
    if (pc->timeout_s == 0) {
        PROV_ERR(pc, CUST_ERR_CONFIG,
                 "timeout: not a number of seconds from 1 to 3600: %s",
                 timeout);
        return CUST_ERR_CONFIG;
    }
    snprintf(pc->socket, sizeof(pc->socket), "%s", sock ? sock : "");
    snprintf(pc->ns, sizeof(pc->ns), "%s", ns ? ns : "");
    return 0;
}

/* The only symbol the module exports. */
__attribute__((visibility("default"))) OSSL_provider_init_fn OSSL_provider_init;

int
OSSL_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
                   const OSSL_DISPATCH **out, void **provctx)
{
    OSSL_FUNC_core_get_params_fn *get_params = NULL;
    struct prov_ctx *pc = calloc(1, sizeof(*pc));

    if (pc == NULL)
        return 0;
    pc->handle = handle;
    prov_take_core(pc, in, &get_params);
    pc->libctx = OSSL_LIB_CTX_new();
    pc->deflt = pc->libctx ? OSSL_PROVIDER_load(pc->libctx, "default") : 0;
    if (pc->deflt == NULL)
        PROV_ERR(pc, CUST_ERR_INTERNAL,
                 "cannot load the default provider "
                 "into a library context of its own");
    if (pc->deflt == NULL || prov_configure(pc, get_params) != 0) {
        prov_teardown(pc);
        return 0;
    }
    *out = prov_functions;
    *provctx = pc;
    return 1;
}
