/*
 * A PKCS#11 module that wraps a real one (named by CUST_FAULT_TARGET) and
 * injects the faults real tokens cannot produce on demand: a locked PIN,
 * a device error, a token pulled out. Tests control it in-process through
 * the cust_fault_* functions (found with dlsym), and read how often the
 * wrapped module was asked to log in.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

#include <p11-kit/pkcs11.h>

#include "faultmod.h"

static CK_FUNCTION_LIST fault_list;
static CK_FUNCTION_LIST *real;
static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
    CK_FLAGS token_flags; /* OR'd into C_GetTokenInfo's flags */
    CK_RV sign_rv;        /* C_Sign answers this ... */
    int sign_count;       /* ... this many times (-1: until cleared) */
    int removed;          /* the token is out of its slot */
    unsigned long logins; /* C_Login calls passed to the real module */
} fault;

void
cust_fault_token_flags(CK_FLAGS flags)
{
    pthread_mutex_lock(&fault_lock);
    fault.token_flags = flags;
    pthread_mutex_unlock(&fault_lock);
}

void
cust_fault_sign(CK_RV rv, int count)
{
    pthread_mutex_lock(&fault_lock);
    fault.sign_rv = rv;
    fault.sign_count = count;
    pthread_mutex_unlock(&fault_lock);
}

void
cust_fault_removed(int removed)
{
    pthread_mutex_lock(&fault_lock);
    fault.removed = removed;
    pthread_mutex_unlock(&fault_lock);
}

unsigned long
cust_fault_logins(void)
{
    unsigned long n;

    pthread_mutex_lock(&fault_lock);
    n = fault.logins;
    pthread_mutex_unlock(&fault_lock);
    return n;
}

static int
fault_is_removed(void)
{
    int r;

    pthread_mutex_lock(&fault_lock);
    r = fault.removed;
    pthread_mutex_unlock(&fault_lock);
    return r;
}

/* The injected answer for this C_Sign, or CKR_OK to pass it through. */
static CK_RV
fault_take_sign(void)
{
    CK_RV rv = CKR_OK;

    pthread_mutex_lock(&fault_lock);
    if (fault.removed) {
        rv = CKR_DEVICE_REMOVED;
    } else if (fault.sign_count != 0) {
        rv = fault.sign_rv;
        if (fault.sign_count > 0)
            fault.sign_count--;
    }
    pthread_mutex_unlock(&fault_lock);
    return rv;
}

static CK_RV
fault_GetSlotList(CK_BBOOL present, CK_SLOT_ID *slots, CK_ULONG *count)
{
    if (present && fault_is_removed()) {
        *count = 0;
        return CKR_OK;
    }
    return real->C_GetSlotList(present, slots, count);
}

static CK_RV
fault_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO *info)
{
    CK_RV rv;

    if (fault_is_removed())
        return CKR_TOKEN_NOT_PRESENT;
    rv = real->C_GetTokenInfo(slot, info);
    if (rv == CKR_OK) {
        pthread_mutex_lock(&fault_lock);
        info->flags |= fault.token_flags;
        pthread_mutex_unlock(&fault_lock);
    }
    return rv;
}

static CK_RV
fault_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, void *app, CK_NOTIFY notify,
                  CK_SESSION_HANDLE *session)
{
    if (fault_is_removed())
        return CKR_TOKEN_NOT_PRESENT;
    return real->C_OpenSession(slot, flags, app, notify, session);
}

static CK_RV
fault_Login(CK_SESSION_HANDLE session, CK_USER_TYPE user, CK_UTF8CHAR *pin,
            CK_ULONG len)
{
    pthread_mutex_lock(&fault_lock);
    fault.logins++;
    pthread_mutex_unlock(&fault_lock);
    return real->C_Login(session, user, pin, len);
}

static CK_RV
fault_Sign(CK_SESSION_HANDLE session, CK_BYTE *data, CK_ULONG len, CK_BYTE *sig,
           CK_ULONG *siglen)
{
    CK_RV rv = fault_take_sign();

    if (rv != CKR_OK) {
        /* End the operation the way a failed C_Sign does. */
        CK_BYTE scratch[1024];
        CK_ULONG n = sizeof(scratch);
        real->C_Sign(session, data, len, scratch, &n);
        return rv;
    }
    return real->C_Sign(session, data, len, sig, siglen);
}

static CK_RV
fault_load(void)
{
    CK_C_GetFunctionList get;
    const char *path = getenv("CUST_FAULT_TARGET");
    void *dl;

    if (path == NULL || (dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL)
        return CKR_GENERAL_ERROR;
    *(void **)&get = dlsym(dl, "C_GetFunctionList");
    if (get == NULL || get(&real) != CKR_OK)
        return CKR_GENERAL_ERROR;

    fault_list = *real;
    fault_list.C_GetFunctionList = C_GetFunctionList;
    fault_list.C_GetSlotList = fault_GetSlotList;
    fault_list.C_GetTokenInfo = fault_GetTokenInfo;
    fault_list.C_OpenSession = fault_OpenSession;
    fault_list.C_Login = fault_Login;
    fault_list.C_Sign = fault_Sign;
    return CKR_OK;
}

CK_RV
C_GetFunctionList(CK_FUNCTION_LIST **list)
{
    CK_RV rv = CKR_OK;

    pthread_mutex_lock(&fault_lock);
    if (real == NULL)
        rv = fault_load();
    pthread_mutex_unlock(&fault_lock);
    if (rv == CKR_OK)
        *list = &fault_list;
    return rv;
}
