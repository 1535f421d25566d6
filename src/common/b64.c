/*
 * Base64 through OpenSSL's block functions, which neither wrap lines
 * nor strip padding: the length is corrected for the padding here.
 */
#include <string.h>

#include <openssl/evp.h>

#include "b64.h"
#include "custodian/error.h"

int
b64_encode(const uint8_t *in, size_t len, char *out, size_t size)
{
    if (len > 3 * ((size - 1) / 4) || len > 0x3fffffff)
        return CUST_ERR_TOO_BIG;
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return 0;
}

int
b64_decode(const char *text, uint8_t *out, size_t max, size_t *len)
{
    size_t n = strlen(text), pad = 0;
    int got;

    if (n % 4 != 0)
        return CUST_ERR_PROTOCOL;
    if (n / 4 * 3 > max)
        return CUST_ERR_TOO_BIG;
    if (n > 0 && text[n - 1] == '=')
        pad = n > 1 && text[n - 2] == '=' ? 2 : 1;
    got = EVP_DecodeBlock(out, (const unsigned char *)text, (int)n);
    if (got < 0 || (size_t)got < pad)
        return CUST_ERR_PROTOCOL;
    *len = (size_t)got - pad;
    return 0;
}
