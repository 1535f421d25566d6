/*
 * The one table of custodian's error messages.
 */
#include <stddef.h>

#include "custodian/error.h"

struct err_entry {
    int code;
    const char *name;
    const char *text;
};

static const struct err_entry err_table[] = {
    {CUST_OK, "CUST_OK", "success"},
    {CUST_ERR_INTERNAL, "CUST_ERR_INTERNAL", "internal error"},
    {CUST_ERR_NOMEM, "CUST_ERR_NOMEM", "out of memory"},
    {CUST_ERR_ARG, "CUST_ERR_ARG", "invalid argument"},
    {CUST_ERR_IO, "CUST_ERR_IO", "input/output error"},
    {CUST_ERR_PIN_SOURCE, "CUST_ERR_PIN_SOURCE", "PIN source unusable"},
    {CUST_ERR_PIN_INCORRECT, "CUST_ERR_PIN_INCORRECT",
     "PIN incorrect; not retried"},
    {CUST_ERR_PIN_LOCKED, "CUST_ERR_PIN_LOCKED",
     "PIN locked or on its final try; login not attempted"},
    {CUST_ERR_MODULE, "CUST_ERR_MODULE", "PKCS#11 module failed to load"},
    {CUST_ERR_URI, "CUST_ERR_URI", "unusable PKCS#11 URI"},
    {CUST_ERR_TOKEN_NOT_FOUND, "CUST_ERR_TOKEN_NOT_FOUND",
     "no token matches the URI"},
    {CUST_ERR_TOKEN_AMBIGUOUS, "CUST_ERR_TOKEN_AMBIGUOUS",
     "more than one token matches the URI"},
    {CUST_ERR_TOKEN, "CUST_ERR_TOKEN", "token operation failed"},
    {CUST_ERR_TOKEN_LOST, "CUST_ERR_TOKEN_LOST",
     "token session lost and not recovered"},
    {CUST_ERR_UNSUPPORTED, "CUST_ERR_UNSUPPORTED",
     "not supported by this token"},
    {CUST_ERR_KEY_NOT_FOUND, "CUST_ERR_KEY_NOT_FOUND", "key not found"},
    {CUST_ERR_KEY_AMBIGUOUS, "CUST_ERR_KEY_AMBIGUOUS",
     "more than one key matches"},
    {CUST_ERR_KEY_EXISTS, "CUST_ERR_KEY_EXISTS", "key already exists"},
    {CUST_ERR_KEY_UNSAFE, "CUST_ERR_KEY_UNSAFE",
     "key is not confined to the token (extractable or imported)"},
    {CUST_ERR_DIGEST, "CUST_ERR_DIGEST", "digest algorithm not allowed"},
    {CUST_ERR_DIGEST_LEN, "CUST_ERR_DIGEST_LEN",
     "digest length does not match its algorithm"},
    {CUST_ERR_SCHEME, "CUST_ERR_SCHEME",
     "signature scheme does not fit the key type"},
    {CUST_ERR_FORKED, "CUST_ERR_FORKED", "token handle used in a forked child"},
    {CUST_ERR_BUSY, "CUST_ERR_BUSY", "no token session became free in time"},
    {CUST_ERR_KEYTYPE, "CUST_ERR_KEYTYPE", "unknown key type"},
    {CUST_ERR_TOO_BIG, "CUST_ERR_TOO_BIG", "input exceeds its size limit"},
    {CUST_ERR_DENIED, "CUST_ERR_DENIED", "denied by policy"},
    {CUST_ERR_RATE_LIMITED, "CUST_ERR_RATE_LIMITED", "rate limit exceeded"},
    {CUST_ERR_EXPIRED, "CUST_ERR_EXPIRED", "identity has expired"},
    {CUST_ERR_AUDIT, "CUST_ERR_AUDIT",
     "audit record could not be made durable"},
    {CUST_ERR_PROTOCOL, "CUST_ERR_PROTOCOL", "malformed message"},
    {CUST_ERR_UNKNOWN_MESSAGE, "CUST_ERR_UNKNOWN_MESSAGE",
     "unknown message type"},
    {CUST_ERR_VERSION, "CUST_ERR_VERSION", "protocol version not supported"},
    {CUST_ERR_CONFIG, "CUST_ERR_CONFIG", "configuration invalid"},
    {CUST_ERR_PEER, "CUST_ERR_PEER", "caller's identity not established"},
    {CUST_ERR_BAD_SIGNATURE, "CUST_ERR_BAD_SIGNATURE",
     "signature does not verify"},
    {CUST_ERR_REVOKED, "CUST_ERR_REVOKED",
     "the key version was revoked before the signature was made"},
    {CUST_ERR_NOT_VALID, "CUST_ERR_NOT_VALID",
     "signature outside its key version's validity"},
    {CUST_ERR_CHAIN, "CUST_ERR_CHAIN", "the chain of custody does not hold"},
    {CUST_ERR_TIMEOUT, "CUST_ERR_TIMEOUT", "no answer in time"},
    {CUST_ERR_SUSPENDED, "CUST_ERR_SUSPENDED", "identity suspended"},
};

static const struct err_entry *
err_lookup(int code)
{
    size_t i;

    for (i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++) {
        if (err_table[i].code == code)
            return &err_table[i];
    }
    return NULL;
}

const char *
cust_err_str(int code)
{
    const struct err_entry *e = err_lookup(code);

    return e != NULL ? e->text : "unknown error";
}

const char *
cust_err_name(int code)
{
    const struct err_entry *e = err_lookup(code);

    return e != NULL ? e->name : "CUST_ERR_UNKNOWN";
}
