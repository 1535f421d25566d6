/*
 * CK_RV values: their names for the log, their translation into custodian
 * errors, and which of them mean that a session or login was lost.
 */
#include <stdarg.h>
#include <stdio.h>

#include "custodian/error.h"
#include "log.h"
#include "token_int.h"

struct rv_name {
    CK_RV rv;
    const char *name;
};

#define RV(x)                                                                  \
    {                                                                          \
        x, #x                                                                  \
    }
static const struct rv_name rv_names[] = {
    RV(CKR_OK),
    RV(CKR_CANCEL),
    RV(CKR_HOST_MEMORY),
    RV(CKR_SLOT_ID_INVALID),
    RV(CKR_GENERAL_ERROR),
    RV(CKR_FUNCTION_FAILED),
    RV(CKR_ARGUMENTS_BAD),
    RV(CKR_ATTRIBUTE_READ_ONLY),
    RV(CKR_ATTRIBUTE_SENSITIVE),
    RV(CKR_ATTRIBUTE_TYPE_INVALID),
    RV(CKR_ATTRIBUTE_VALUE_INVALID),
    RV(CKR_DATA_INVALID),
    RV(CKR_DATA_LEN_RANGE),
    RV(CKR_DEVICE_ERROR),
    RV(CKR_DEVICE_MEMORY),
    RV(CKR_DEVICE_REMOVED),
    RV(CKR_FUNCTION_CANCELED),
    RV(CKR_FUNCTION_NOT_SUPPORTED),
    RV(CKR_KEY_HANDLE_INVALID),
    RV(CKR_KEY_SIZE_RANGE),
    RV(CKR_KEY_TYPE_INCONSISTENT),
    RV(CKR_KEY_FUNCTION_NOT_PERMITTED),
    RV(CKR_MECHANISM_INVALID),
    RV(CKR_MECHANISM_PARAM_INVALID),
    RV(CKR_OBJECT_HANDLE_INVALID),
    RV(CKR_OPERATION_ACTIVE),
    RV(CKR_OPERATION_NOT_INITIALIZED),
    RV(CKR_PIN_INCORRECT),
    RV(CKR_PIN_INVALID),
    RV(CKR_PIN_LEN_RANGE),
    RV(CKR_PIN_EXPIRED),
    RV(CKR_PIN_LOCKED),
    RV(CKR_SESSION_CLOSED),
    RV(CKR_SESSION_COUNT),
    RV(CKR_SESSION_HANDLE_INVALID),
    RV(CKR_SESSION_READ_ONLY),
    RV(CKR_SIGNATURE_LEN_RANGE),
    RV(CKR_TEMPLATE_INCOMPLETE),
    RV(CKR_TEMPLATE_INCONSISTENT),
    RV(CKR_TOKEN_NOT_PRESENT),
    RV(CKR_TOKEN_NOT_RECOGNIZED),
    RV(CKR_TOKEN_WRITE_PROTECTED),
    RV(CKR_USER_ALREADY_LOGGED_IN),
    RV(CKR_USER_NOT_LOGGED_IN),
    RV(CKR_USER_PIN_NOT_INITIALIZED),
    RV(CKR_USER_TYPE_INVALID),
    RV(CKR_DOMAIN_PARAMS_INVALID),
    RV(CKR_CURVE_NOT_SUPPORTED),
    RV(CKR_BUFFER_TOO_SMALL),
    RV(CKR_CRYPTOKI_NOT_INITIALIZED),
    RV(CKR_CRYPTOKI_ALREADY_INITIALIZED),
};
#undef RV

static _Thread_local char rv_detail[256] = "no error";

const char *
token_rv_name(CK_RV rv)
{
    size_t i;

    for (i = 0; i < sizeof(rv_names) / sizeof(rv_names[0]); i++) {
        if (rv_names[i].rv == rv)
            return rv_names[i].name;
    }
    return "CKR_(unknown)";
}

void
token_fail(const char *function, CK_RV rv)
{
    snprintf(rv_detail, sizeof(rv_detail), "%s: %s (0x%lx)", function,
             token_rv_name(rv), (unsigned long)rv);
    log_debug("%s", rv_detail);
}

void
token_note(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(rv_detail, sizeof(rv_detail), fmt, ap);
    va_end(ap);
    log_debug("%s", rv_detail);
}

const char *
token_error_detail(void)
{
    return rv_detail;
}

/*
 * The answers after which the session, the login or the whole token must
 * be rebuilt. CKR_CRYPTOKI_NOT_INITIALIZED is among them because a module
 * that was finalized under us (a managed p11-kit module after another
 * user's C_Finalize) answers that to every call.
 */
bool
token_rv_lost(CK_RV rv)
{
    switch (rv) {
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_CLOSED:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_DEVICE_ERROR:
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_TOKEN_NOT_RECOGNIZED:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
        return true;
    default:
        return false;
    }
}

/*
 * A stale object handle is not by itself a lost session: the object may
 * have been deleted and recreated. token_run() asks the session before
 * deciding between finding the key again and rebuilding.
 */
bool
token_rv_stale(CK_RV rv)
{
    return rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID;
}

/*
 * Maps a CK_RV onto the project's codes. The three PIN answers collapse
 * into one, since all mean "this PIN will not do"; the mechanism and size
 * answers become "not supported by this token", which is what an operator
 * can act on.
 */
int
token_rv_error(CK_RV rv)
{
    switch (rv) {
    case CKR_OK:
        return 0;
    case CKR_HOST_MEMORY:
        return CUST_ERR_NOMEM;
    case CKR_PIN_INCORRECT:
    case CKR_PIN_INVALID:
    case CKR_PIN_LEN_RANGE:
        return CUST_ERR_PIN_INCORRECT;
    case CKR_PIN_LOCKED:
    case CKR_PIN_EXPIRED:
        return CUST_ERR_PIN_LOCKED;
    case CKR_MECHANISM_INVALID:
    case CKR_MECHANISM_PARAM_INVALID:
    case CKR_CURVE_NOT_SUPPORTED:
    case CKR_DOMAIN_PARAMS_INVALID:
    case CKR_KEY_SIZE_RANGE:
    case CKR_FUNCTION_NOT_SUPPORTED:
        return CUST_ERR_UNSUPPORTED;
    case CKR_KEY_HANDLE_INVALID:
    case CKR_OBJECT_HANDLE_INVALID:
        return CUST_ERR_KEY_NOT_FOUND;
    default:
        return token_rv_lost(rv) ? CUST_ERR_TOKEN_LOST : CUST_ERR_TOKEN;
    }
}
