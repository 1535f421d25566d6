/*
 * The keyring: what custodian publishes for verifiers, one directory
 * that needs neither the daemon nor the token to be read.
 *
 *   manifest.json            every key and version, its times, state,
 *                            fingerprint, custody and validity window
 *   NAME@V.pem, NAME@V.pub   each version's public key, PEM and OpenSSH
 *   NAME@V.statement[.sig]   the transition statement that hands NAME
 *                            over to V, and its signature by the version
 *                            before (transition.h)
 *   allowed_signers          OpenSSH lines with UTC validity windows and
 *                            the key's namespaces, for ssh-keygen and git
 *
 * Everything in it is built from the lifecycle model (keystate) and the
 * configuration, so the daemon and `custodianctl export keyring` write
 * the same bytes. The directory is replaced as a whole: a reader sees
 * the old keyring or the new one, never a mixture.
 */
#ifndef CUSTODIAN_KEYRING_H
#define CUSTODIAN_KEYRING_H

#include <time.h>

#include "conf.h"
#include "keystate.h"

struct keyring;

/*
 * Builds the keyring of S for the keys of CONF (namespaces, verify_for)
 * at NOW: a version whose time to be verified has passed at NOW leaves
 * allowed_signers, and keyring_next_change() says when that happens
 * next. Keys S holds that CONF no longer names are published as well.
 * Returns 0 and *OUT (free with keyring_free()), CUST_ERR_NOMEM, or
 * CUST_ERR_CONFIG when S holds a public key that does not decode.
 * Does not log.
 */
int keyring_build(const struct conf *conf, const struct keystate *s, time_t now,
                  struct keyring **out);

/* The bytes of file NAME of K ("allowed_signers", ...) and their length,
 * or NULL if K has no such file. They live with K. */
const char *keyring_file(const struct keyring *k, const char *name,
                         size_t *len);

/* Whether A and B hold the same files with the same bytes. */
int keyring_same(const struct keyring *a, const struct keyring *b);

/* The next time after which building again gives another keyring, as
 * time passes alone; 0 if never. */
time_t keyring_next_change(const struct keyring *k);

/*
 * Writes K as directory DIR, replacing what is there in one step: the
 * files go into DIR.new, are synced, and DIR.new is exchanged with DIR
 * (renameat2 RENAME_EXCHANGE; DIR.new then holds the old files and is
 * removed). DIR and a DIR.new left by a crash may be replaced only when
 * they hold nothing but a keyring's files: a directory with anything else
 * in it is refused and left as it is, as are "." and "..". Returns 0, or
 * CUST_ERR_IO with errno set and the reason in keyring_error().
 */
int keyring_write(const struct keyring *k, const char *dir);

/* What this thread's last keyring_write() failed on. */
const char *keyring_error(void);

void keyring_free(struct keyring *k);

#endif
