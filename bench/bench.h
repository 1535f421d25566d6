/*
 * custodian-bench: a load generator for signing services. The driver
 * (bench.c) runs clients on threads, keeps requests in flight, paces
 * them to a target rate and measures; a target says how to reach one
 * kind of signer:
 *
 *   native  custodiand's signing socket, requests pipelined
 *   agent   an OpenSSH agent socket (custodiand's, or ssh-agent)
 *   token   a PKCS#11 token called in-process through custodian's token
 *           layer (SoftHSM2 itself, or p11-kit's client module)
 */
#ifndef CUSTODIAN_BENCH_H
#define CUSTODIAN_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "alg.h"

#define BENCH_MSG_LEN 64
#define BENCH_SIG_MAX 1024

struct bench_opts {
    const char *target;   /* native, agent, token */
    const char *socket;   /* native, agent: where the signer listens */
    const char *key;      /* native: key name; agent: identity comment
                             prefix; token: key label */
    const char *pubkey;   /* agent: PEM public key, for verification */
    const char *module;   /* token: PKCS#11 module */
    const char *uri;      /* token: PKCS#11 URI of the token */
    const char *pin_file; /* token: file holding the PIN */
    unsigned clients;     /* concurrent clients, one thread each */
    unsigned inflight;    /* requests in flight per client */
    unsigned idle;        /* idle connections held open meanwhile */
    unsigned verify;      /* signatures checked afterwards */
    double seconds;       /* how long to measure */
    double rate;          /* target signatures per second; 0: flat out */
    int server_pid;       /* the signer's process, for its CPU time; 0 */
};

/* The message client CLIENT signs as its SEQ-th request. */
void bench_message(unsigned client, uint64_t seq, uint8_t msg[BENCH_MSG_LEN]);

/* Checks SIG (SIGLEN bytes, DER for ECDSA, raw otherwise) over the
 * message MSG by PUB of TYPE with SHA-256 (none for Ed25519): 1 if good. */
int bench_check(EVP_PKEY *pub, enum alg_keytype type, const uint8_t *msg,
                const uint8_t *sig, size_t siglen);

/* One kind of signer. Each client calls connect() once, then send()
 * and recv() on its own connection; answers come in request order. */
struct bench_ops {
    const char *name;
    int (*open)(const struct bench_opts *o, void **target);
    void (*close)(void *target);
    /* The key's type and public key (the target's; not to be freed). */
    enum alg_keytype (*type)(void *target);
    EVP_PKEY *(*pubkey)(void *target);
    unsigned max_inflight; /* 0: no limit */
    int (*connect)(void *target, void **conn);
    void (*disconnect)(void *conn);
    int (*send)(void *conn, const uint8_t msg[BENCH_MSG_LEN]);
    /* The next answer: 0 and the signature (DER for ECDSA), or < 0. */
    int (*recv)(void *conn, uint8_t *sig, size_t *siglen);
    /* A connection that says hello and then nothing; its fd. */
    int (*idle)(void *target, int *fd);
};

extern const struct bench_ops bench_native;
extern const struct bench_ops bench_agent;
extern const struct bench_ops bench_token;

/* Socket helpers for the socket targets. */
int bench_unix_connect(const char *path);
int bench_write_all(int fd, const void *data, size_t len);
int bench_read_all(int fd, void *data, size_t len);

#endif
