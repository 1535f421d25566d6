/*
 * PIN sources. The reading buffer is wiped on every exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "custodian/error.h"
#include "pin.h"

static _Thread_local char pin_reason[256] = "no error";

static int
pin_fail(struct pin *pin, const char *what, const char *path)
{
    snprintf(pin_reason, sizeof(pin_reason), "%s: %s", path, what);
    pin_wipe(pin);
    return CUST_ERR_PIN_SOURCE;
}

const char *
pin_error(void)
{
    return pin_reason;
}

void
pin_wipe(struct pin *pin)
{
    if (pin != NULL)
        explicit_bzero(pin, sizeof(*pin));
}

/* Checks that the open file is private enough to hold a PIN. */
static const char *
pin_check_file(int fd)
{
    struct stat st;

    if (fstat(fd, &st) != 0)
        return "cannot stat";
    if (!S_ISREG(st.st_mode))
        return "not a regular file";
    if (st.st_mode & (S_IROTH | S_IWOTH))
        return "readable or writable by others; chmod o-rwx";
    return NULL;
}

/* Removes one trailing line end from BUF and checks what is left. */
static const char *
pin_trim(const char *buf, size_t *len)
{
    size_t n = *len;

    if (n > 0 && buf[n - 1] == '\n') {
        n--;
        if (n > 0 && buf[n - 1] == '\r')
            n--;
    }
    *len = n;

    if (n == 0)
        return "empty PIN";
    if (n > PIN_MAX)
        return "PIN longer than 255 bytes";
    if (memchr(buf, '\0', n) != NULL)
        return "PIN contains a NUL byte";
    if (memchr(buf, '\n', n) != NULL || memchr(buf, '\r', n) != NULL)
        return "PIN contains a line break";
    return NULL;
}

/* Reads the whole of FD into BUF; *LEN > MAX - 1 means "too long". */
static const char *
pin_slurp(int fd, char *buf, size_t max, size_t *len)
{
    size_t got = 0;
    ssize_t n;

    while (got < max) {
        n = read(fd, buf + got, max - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return "read failed";
        if (n == 0)
            break;
        got += (size_t)n;
    }
    *len = got;
    return NULL;
}

int
pin_read_file(const char *path, struct pin *pin)
{
    /* Room for the PIN, a CR LF and one byte to detect overlong input. */
    char buf[PIN_MAX + 3];
    const char *why;
    size_t len = 0;
    int fd;

    pin_wipe(pin);
    /* O_NONBLOCK: a FIFO must not hang us before the type check. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return pin_fail(pin, strerror(errno), path);
    why = pin_check_file(fd);
    if (why == NULL)
        why = pin_slurp(fd, buf, sizeof(buf), &len);
    close(fd);

    if (why == NULL && len == sizeof(buf))
        why = "PIN longer than 255 bytes";
    if (why == NULL)
        why = pin_trim(buf, &len);
    if (why == NULL) {
        memcpy(pin->value, buf, len);
        pin->value[len] = '\0';
        pin->len = len;
    }
    explicit_bzero(buf, sizeof(buf));
    return why == NULL ? 0 : pin_fail(pin, why, path);
}

int
pin_read_credential(const char *name, struct pin *pin)
{
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    char path[4096];
    int n;

    pin_wipe(pin);
    if (dir == NULL || *dir == '\0')
        return pin_fail(pin, "CREDENTIALS_DIRECTORY is not set", name);
    if (*name == '\0' || strchr(name, '/') != NULL)
        return pin_fail(pin, "credential name must not contain '/'", name);
    n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(path))
        return pin_fail(pin, "credential path too long", name);
    return pin_read_file(path, pin);
}
