/*
 * The real custodiand inside a fuzzer's process, for the targets that
 * feed its sockets: a throwaway SoftHSM2 token, a configuration with keys
 * of every type, identities and grants for the fuzzer's own uid, the
 * daemon's main() on a thread, and a client that sends bytes on a real
 * socket and reads every answer. The daemon's code is built with
 * coverage, so libFuzzer sees the event loop's framing and dispatch, the
 * decoders, the policy, the token calls and the audit log at work.
 */
#ifndef CUSTODIAN_FUZZ_DAEMON_H
#define CUSTODIAN_FUZZ_DAEMON_H

#include <stddef.h>
#include <stdint.h>

/* The daemon's sockets. */
enum fuzzd_socket {
    FUZZD_SIGN,
    FUZZD_ADMIN,
    FUZZD_AGENT,
};

/* The keys the configuration names, each with one version made at
 * start: ECDSA P-256 and P-384, Ed25519, RSA-2048, and a P-256 key
 * granted SSH logins only. */
#define FUZZD_KEYS 5
extern const char *const fuzzd_keys[FUZZD_KEYS];

/*
 * Sets up the token, the configuration and the daemon and waits until
 * it serves, with one version of every key. Call once, from
 * LLVMFuzzerInitialize(). Aborts on any failure. At exit the daemon is
 * stopped as SIGTERM stops it, and the working directory is removed. Daemon log
 * lines below errors are dropped unless CUSTODIAN_FUZZ_VERBOSE is set.
 */
void fuzzd_start(void);

/* Called for every answer frame: its type and body (LEN bytes). */
typedef void (*fuzzd_answer_fn)(void *arg, uint8_t type, const uint8_t *body,
                                size_t len);

/*
 * Connects to socket S, sends DATA (LEN bytes) and reads answers until
 * there is one for every frame DATA holds, or the daemon closes the
 * connection. Each answer frame goes to FN. Returns the number of
 * answers. Aborts when an answer frame's length is out of range or the
 * daemon leaves a frame unanswered for 30 s: both are bugs.
 */
size_t fuzzd_exchange(enum fuzzd_socket s, const uint8_t *data, size_t len,
                      fuzzd_answer_fn fn, void *arg);

#endif
