/*
 * Control functions of the fault-injecting test module. A test resolves
 * them with dlsym() on the module it configured the token layer with.
 */
#ifndef CUSTODIAN_FAULTMOD_H
#define CUSTODIAN_FAULTMOD_H

#include <p11-kit/pkcs11.h>

/* Sets flags that C_GetTokenInfo reports on top of the real ones. */
void cust_fault_token_flags(CK_FLAGS flags);

/* Makes the next COUNT C_Sign calls fail with RV (-1: until cleared). */
void cust_fault_sign(CK_RV rv, int count);

/* Takes the token out of its slot (1) or puts it back (0). */
void cust_fault_removed(int removed);

/* How many times C_Login reached the real module. */
unsigned long cust_fault_logins(void);

CK_RV C_GetFunctionList(CK_FUNCTION_LIST **list);

#endif
