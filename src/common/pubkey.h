/*
 * Public keys: building them from the raw parts a token returns, and
 * encoding them for verifiers (SubjectPublicKeyInfo DER and PEM, OpenSSH).
 * Keys are OpenSSL EVP_PKEY objects; the caller frees what it gets.
 */
#ifndef CUSTODIAN_PUBKEY_H
#define CUSTODIAN_PUBKEY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <openssl/evp.h>

#include "alg.h"

/*
 * Each pubkey_from_* builds a public key into *OUT (caller frees with
 * EVP_PKEY_free) and returns 0, or CUST_ERR_ARG if the parts do not form a
 * valid key of that type.
 *
 * pubkey_from_ec: TYPE is ALG_KEY_ECDSA_P256 or _P384; POINT is the
 * uncompressed point (0x04 || X || Y).
 * pubkey_from_ed25519: RAW is the 32-byte public key.
 * pubkey_from_rsa: N and E are big-endian magnitudes.
 */
int pubkey_from_ec(enum alg_keytype type, const uint8_t *point, size_t len,
                   EVP_PKEY **out);
int pubkey_from_ed25519(const uint8_t *raw, size_t len, EVP_PKEY **out);
int pubkey_from_rsa(const uint8_t *n, size_t nlen, const uint8_t *e,
                    size_t elen, EVP_PKEY **out);

/* The custodian key type of KEY, or ALG_KEY_NONE if it has none. */
enum alg_keytype pubkey_keytype(EVP_PKEY *key);

/*
 * SubjectPublicKeyInfo DER into *OUT (caller frees with free()).
 * Returns 0 or CUST_ERR_NOMEM / CUST_ERR_INTERNAL.
 */
int pubkey_spki_der(EVP_PKEY *key, uint8_t **out, size_t *len);

/* PEM ("-----BEGIN PUBLIC KEY-----"), NUL-terminated, caller frees. */
int pubkey_spki_pem(EVP_PKEY *key, char **out);

/*
 * The OpenSSH public key blob (RFC 4253 section 6.6, RFC 5656, the
 * ssh-ed25519 format) appended to OUT. Returns 0 or a custodian error.
 */
struct buf;
int pubkey_ssh_blob(EVP_PKEY *key, struct buf *out);

/* Room for any blob pubkey_ssh_blob() writes. */
#define PUBKEY_SSH_BLOB_MAX 4096

/*
 * One authorized_keys-style line: "TYPE BASE64 COMMENT" (COMMENT may be
 * NULL), NUL-terminated without a newline, caller frees.
 */
int pubkey_ssh_line(EVP_PKEY *key, const char *comment, char **out);

/*
 * Prints the DER SubjectPublicKeyInfo SPKI (LEN bytes) to F: as PEM, or
 * with SSH set as one OpenSSH line with COMMENT. Returns 0, or
 * CUST_ERR_PROTOCOL if SPKI is not a public key, or CUST_ERR_IO.
 */
int pubkey_print(FILE *f, const uint8_t *spki, size_t len, int ssh,
                 const char *comment);

/* "SHA256:" and 43 characters of unpadded base64, and a NUL. */
#define PUBKEY_FPR_MAX 51

/*
 * The key's fingerprint as OpenSSH prints it (`ssh-keygen -l`): SHA-256
 * of the OpenSSH public key blob, unpadded base64, after "SHA256:".
 * OUT holds PUBKEY_FPR_MAX bytes. Returns 0 or a custodian error.
 */
int pubkey_fingerprint(EVP_PKEY *key, char out[PUBKEY_FPR_MAX]);

/* The OpenSSH key type name ("ssh-ed25519", "ecdsa-sha2-nistp256", ...),
 * or NULL for a key it has no name for. */
const char *pubkey_ssh_name(EVP_PKEY *key);

#endif
