/*
 * custodian-sign verify --keyring: a signature checked against a
 * published keyring, offline (verifier.h).
 */
#ifndef CUSTODIAN_SIGN_KEYRING_H
#define CUSTODIAN_SIGN_KEYRING_H

/* What the command line gave. */
struct sign_keyring_args {
    const char *keyring;   /* the keyring directory */
    const char *signature; /* a JSON bundle, or a der signature */
    const char *key;       /* der: the key's name */
    const char *digest;    /* der: the digest over the file */
    const char *at;        /* der: when it was made; NULL: now */
    const char *anchor;    /* fingerprint of a trusted version, or NULL */
};

/*
 * Verifies FILE and prints one line saying so. Returns the exit status:
 * 0 good, 1 refused (the line names the custodian error and why), 2
 * usage or something that could not be read.
 */
int sign_keyring_verify(const char *file, const struct sign_keyring_args *a);

#endif
