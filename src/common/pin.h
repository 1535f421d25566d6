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
 * An open PIN source. The file is opened, and its permissions checked,
 * once; later reads go through the open descriptor, so a daemon that has
 * since given up the right to open the file can still log in again. A
 * PIN file replaced on disk is not seen until the source is reopened.
 */
struct pin_source {
    int fd;
    char name[128]; /* the path or credential, for messages */
};

/*
 * Opens the PIN file at PATH, or the systemd credential NAME (the file of
 * that name in $CREDENTIALS_DIRECTORY; NAME must not contain '/'), and
 * checks it as pin_read_file() does. Returns 0 and *SRC (close with
 * pin_source_close()), or CUST_ERR_PIN_SOURCE with a reason in
 * pin_error().
 */
int pin_source_open_file(const char *path, struct pin_source *src);
int pin_source_open_credential(const char *name, struct pin_source *src);

/* Reads the PIN from the start of SRC; results as pin_read_file(). */
int pin_source_read(const struct pin_source *src, struct pin *pin);

/* Closes SRC; a source never opened must be zeroed with fd -1. */
void pin_source_close(struct pin_source *src);

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
