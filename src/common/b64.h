/*
 * Base64 (RFC 4648, with padding, no line breaks) through OpenSSL, for
 * the text files custodian writes and reads: the state file, the
 * keyring, JSON signature bundles.
 */
#ifndef CUSTODIAN_B64_H
#define CUSTODIAN_B64_H

#include <stddef.h>
#include <stdint.h>

/* Characters b64_encode() writes for LEN bytes, without the NUL. */
#define B64_LEN(len) (4 * (((len) + 2) / 3))

/*
 * Encodes LEN bytes at IN into OUT (SIZE bytes, NUL-terminated).
 * Returns 0, or CUST_ERR_TOO_BIG if OUT is too small.
 */
int b64_encode(const uint8_t *in, size_t len, char *out, size_t size);

/*
 * Decodes the NUL-terminated TEXT into OUT (at most MAX bytes), setting
 * *LEN. Returns 0, CUST_ERR_PROTOCOL if TEXT is not base64, or
 * CUST_ERR_TOO_BIG.
 */
int b64_decode(const char *text, uint8_t *out, size_t max, size_t *len);

#endif
