/*
 * SSH signatures (OpenSSH's PROTOCOL.sshsig) and the SSH signature blob
 * (RFC 4253 6.6, RFC 5656 3.1.2, RFC 8332, RFC 8709), as custodian-sign
 * writes them and as the agent front end reads what ssh-keygen asks it
 * to sign.
 *
 * A preimage is what the key signs: "SSHSIG", the namespace, an empty
 * reserved string, the hash algorithm and the hash of the message. Its
 * parser lets the daemon see which namespace a request is for before it
 * signs anything.
 */
#ifndef CUSTODIAN_SSHSIG_H
#define CUSTODIAN_SSHSIG_H

#include <stddef.h>
#include <stdint.h>

#include "alg.h"
#include "buf.h"

/* Longest namespace accepted in a preimage. */
#define SSHSIG_NAMESPACE_MAX 64

/* What a preimage says; pointers go into the parsed bytes. */
struct sshsig_preimage {
    char ns[SSHSIG_NAMESPACE_MAX + 1];
    enum alg_digest md; /* ALG_DIGEST_SHA256 or ALG_DIGEST_SHA512 */
    const uint8_t *hash;
    size_t hashlen;
};

/* Appends the preimage for namespace NS and the HLEN-byte hash H made
 * with MD (SHA-256 or SHA-512). Check buf_status() after. */
void sshsig_put_preimage(struct buf *b, const char *ns, enum alg_digest md,
                         const uint8_t *h, size_t hlen);

/*
 * Reads DATA (LEN bytes) as a preimage: the magic, a namespace of 1 to
 * SSHSIG_NAMESPACE_MAX printable bytes, an empty reserved field, "sha256"
 * or "sha512" and a hash of that algorithm's length, and nothing after.
 * Returns 0 and *OUT, or CUST_ERR_PROTOCOL for anything else (an SSH
 * login challenge, say). Does not log.
 */
int sshsig_parse(const uint8_t *data, size_t len, struct sshsig_preimage *out);

/*
 * The digest an SSH signature by a key of TYPE is made over: SHA-256 for
 * P-256, SHA-384 for P-384, none for Ed25519 (it signs the data itself),
 * and for RSA SHA-512, or SHA-256 when RSA_SHA256 is set (the agent's
 * rsa-sha2-256 flag).
 */
enum alg_digest sshsig_digest(enum alg_keytype type, int rsa_sha256);

/*
 * Appends the SSH signature blob for SIG (SIGLEN bytes, as the token layer
 * makes it: DER for ECDSA, raw otherwise) by a key of TYPE over digest MD:
 * the algorithm name ("ecdsa-sha2-nistp256", "ssh-ed25519",
 * "rsa-sha2-512" ...) and the signature, ECDSA's as mpint r and s.
 * Returns 0, CUST_ERR_PROTOCOL for a DER signature that does not decode,
 * or CUST_ERR_TOO_BIG.
 */
int sshsig_put_signature(struct buf *out, enum alg_keytype type,
                         enum alg_digest md, const uint8_t *sig, size_t siglen);

#endif
