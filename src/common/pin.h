/*
 * Reading a token PIN from a file or a systemd credential.
 *
 * A PIN lives in a struct pin on the caller's stack for as long as one
 * C_Login takes, and is wiped with pin_wipe() on every path. It is never
 * logged and never placed in an environment.
 */
#ifndef CUSTODIAN_PIN_H
#define CUSTODIAN_PIN_H

#include <stddef.h>

/* Longest PIN accepted, in bytes. */
#define PIN_MAX 255

struct pin {
    size_t len;
    char value[PIN_MAX + 1]; /* NUL-terminated; may hold NUL-free bytes */
};

/*
 * Reads the PIN from the file at PATH. The file must be a regular file not
 * readable or writable by others; its content is the PIN, with at most one
 * trailing "\n" or "\r\n" removed. Empty PINs, NUL bytes, line breaks
 * inside the PIN and PINs over PIN_MAX bytes are refused.
 * Returns 0 and fills *PIN, or CUST_ERR_PIN_SOURCE with a reason in
 * pin_error() of this thread. *PIN is wiped on failure.
 */
int pin_read_file(const char *path, struct pin *pin);

/*
 * Reads the PIN from the systemd credential NAME, the file of that name in
 * $CREDENTIALS_DIRECTORY. NAME must not contain '/'. Same rules and
 * results as pin_read_file().
 */
int pin_read_credential(const char *name, struct pin *pin);

/* Why the last pin_read_* in this thread failed; never NULL. */
const char *pin_error(void);

/* Overwrites *PIN in a way the compiler may not remove. Accepts NULL. */
void pin_wipe(struct pin *pin);

#endif
