/*
 * A PKCS#11 module that wraps a real one (named by CUST_FAULT_TARGET) and
 * injects the faults real tokens cannot produce on demand: a locked PIN,
 * a device error, a token pulled out, a slow answer. Tests control it
 * in-process through the cust_fault_* functions (found with dlsym), and
 * read how often the wrapped module was asked to log in.
 *
 * A test driving another process (custodiand) controls it through a file
 * instead: CUST_FAULT_CONTROL names it, and the module reads it again
 * whenever it was replaced (write a new file and rename it over). One
 * line, one of:
 *   none                  no fault
 *   sign RV [COUNT]       C_Sign answers RV (a number, or CKR_DEVICE_ERROR,
 *                         CKR_SESSION_HANDLE_INVALID), COUNT times or until
 *                         the file changes
 *   removed               the token is out of its slot
 *   slow MS               C_Sign waits MS milliseconds first
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

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
    long slow_ms;         /* C_Sign waits this long first */
    struct stat control;  /* the control file as last read */
} fault;

/* Applies one line of the control file; called with FAULT_LOCK held. */
static void
fault_apply(const char *line)
{
    char word[32] = "", rv[64] = "";
    long n = -1;

    fault.sign_count = 0;
    fault.removed = 0;
    fault.slow_ms = 0;
    if (sscanf(line, "%31s %63s %ld", word, rv, &n) < 1)
        return;
    if (strcmp(word, "removed") == 0) {
        fault.removed = 1;
    } else if (strcmp(word, "slow") == 0) {
        fault.slow_ms = strtol(rv, NULL, 10);
    } else if (strcmp(word, "sign") == 0) {
        if (strcmp(rv, "CKR_DEVICE_ERROR") == 0)
            fault.sign_rv = CKR_DEVICE_ERROR;
        else if (strcmp(rv, "CKR_SESSION_HANDLE_INVALID") == 0)
            fault.sign_rv = CKR_SESSION_HANDLE_INVALID;
        else
            fault.sign_rv = strtoul(rv, NULL, 0);
        fault.sign_count = (int)n;
    }
}

/* Reads the control file again if it was replaced since. */
static void
fault_poll(void)
{
    const char *path = getenv("CUST_FAULT_CONTROL");
    char line[128] = "";
    struct stat st;
    FILE *f;

    if (path == NULL || stat(path, &st) != 0)
        return;
    pthread_mutex_lock(&fault_lock);
    if (st.st_ino != fault.control.st_ino ||
        st.st_mtim.tv_nsec != fault.control.st_mtim.tv_nsec ||
        st.st_mtim.tv_sec != fault.control.st_mtim.tv_sec) {
        fault.control = st;
        if ((f = fopen(path, "r")) != NULL) {
            if (fgets(line, sizeof(line), f) == NULL)
                line[0] = '\0';
            fclose(f);
        }
        fault_apply(line);
    }
    pthread_mutex_unlock(&fault_lock);
}

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

    fault_poll();
    pthread_mutex_lock(&fault_lock);
    r = fault.removed;
    pthread_mutex_unlock(&fault_lock);
    return r;
}

/* The injected answer for this C_Sign, or CKR_OK to pass it through. */
static CK_RV
fault_take_sign(void)
{
    struct timespec wait = {0, 0};
    CK_RV rv = CKR_OK;

    fault_poll();
    pthread_mutex_lock(&fault_lock);
    wait.tv_sec = fault.slow_ms / 1000;
    wait.tv_nsec = fault.slow_ms % 1000 * 1000000;
    pthread_mutex_unlock(&fault_lock);
    if (wait.tv_sec > 0 || wait.tv_nsec > 0)
        nanosleep(&wait, NULL);
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
