/*
 * custodian error codes.
 *
 * Every function in custodian that can fail returns 0 on success or one of
 * these negative codes. The numbers are stable: they appear in the wire
 * protocol, in audit records and in scripts, so a code is never renumbered
 * or reused. New codes are appended.
 *
 * PKCS#11 CK_RV values and OpenSSL's 1/0 results are translated into these
 * codes where they are received and go no further.
 */
#ifndef CUSTODIAN_ERROR_H
#define CUSTODIAN_ERROR_H

/* Marks the functions libcustodian exports. */
#ifndef CUST_API
#define CUST_API __attribute__((visibility("default")))
#endif

enum cust_err {
    CUST_OK = 0,
    CUST_ERR_INTERNAL = -1,         /* a bug or an unexpected library failure */
    CUST_ERR_NOMEM = -2,            /* out of memory */
    CUST_ERR_ARG = -3,              /* invalid argument */
    CUST_ERR_IO = -4,               /* a file could not be read or written */
    CUST_ERR_PIN_SOURCE = -5,       /* PIN file or credential unusable */
    CUST_ERR_PIN_INCORRECT = -6,    /* the token refused the PIN */
    CUST_ERR_PIN_LOCKED = -7,       /* PIN locked, or one try left */
    CUST_ERR_MODULE = -8,           /* PKCS#11 module failed to load */
    CUST_ERR_URI = -9,              /* malformed or unusable PKCS#11 URI */
    CUST_ERR_TOKEN_NOT_FOUND = -10, /* no token matches the URI */
    CUST_ERR_TOKEN_AMBIGUOUS = -11, /* more than one token matches */
    CUST_ERR_TOKEN = -12,           /* the token failed an operation */
    CUST_ERR_TOKEN_LOST = -13,      /* session or token lost, not recovered */
    CUST_ERR_UNSUPPORTED = -14,     /* not supported by this token */
    CUST_ERR_KEY_NOT_FOUND = -15,   /* no such key on the token */
    CUST_ERR_KEY_AMBIGUOUS = -16,   /* more than one key matches */
    CUST_ERR_KEY_EXISTS = -17,      /* a key with this label exists */
    CUST_ERR_KEY_UNSAFE = -18,      /* key could have left the token */
    CUST_ERR_DIGEST = -19,          /* unknown or refused digest */
    CUST_ERR_DIGEST_LEN = -20,      /* digest length does not match */
    CUST_ERR_SCHEME = -21,          /* scheme does not fit the key */
    CUST_ERR_FORKED = -22,          /* token handle used after fork */
    CUST_ERR_BUSY = -23,            /* no token session free in time */
    CUST_ERR_KEYTYPE = -24,         /* unknown key type */
    CUST_ERR_TOO_BIG = -25,         /* input exceeds a named limit */
    CUST_ERR_DENIED = -26,          /* the policy grants no such request */
    CUST_ERR_RATE_LIMITED = -27,    /* the grant's rate limit is spent */
    CUST_ERR_EXPIRED = -28,         /* the caller's identity has expired */
    CUST_ERR_AUDIT = -29,           /* the audit record was not made durable */
    CUST_ERR_PROTOCOL = -30,        /* malformed message */
    CUST_ERR_UNKNOWN_MESSAGE = -31, /* unknown message type */
    CUST_ERR_VERSION = -32,         /* protocol version not supported */
    CUST_ERR_CONFIG = -33,          /* configuration invalid */
    CUST_ERR_PEER = -34,            /* caller's identity not established */
    CUST_ERR_BAD_SIGNATURE = -35,   /* the signature does not verify */
    CUST_ERR_REVOKED = -36,         /* its version was revoked before it */
    CUST_ERR_NOT_VALID = -37,       /* outside its version's validity */
    CUST_ERR_CHAIN = -38,           /* the chain of custody does not hold */
    CUST_ERR_TIMEOUT = -39,         /* no answer in time */
    CUST_ERR_SUSPENDED = -40,       /* the caller's identity is suspended */
};

/*
 * Returns a short lower-case description of CODE, suitable for a log line
 * or an error answer. Never NULL; unknown codes get a generic text.
 */
CUST_API const char *cust_err_str(int code);

/*
 * Returns the symbolic name of CODE ("CUST_ERR_PIN_INCORRECT"), for logs
 * and machine-readable output. Never NULL.
 */
CUST_API const char *cust_err_name(int code);

#endif
