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

/* Reads the whole of FD, from its start, into BUF; *LEN == MAX means
 * "too long". */
static const char *
pin_slurp(int fd, char *buf, size_t max, size_t *len)
{
    size_t got = 0;
    ssize_t n;

    while (got < max) {
        n = pread(fd, buf + got, max - got, (off_t)got);
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

static int
pin_source_fail(struct pin_source *src, const char *what, const char *name)
{
    struct pin none;

    pin_source_close(src);
    return pin_fail(&none, what, name);
}

int
pin_source_open_file(const char *path, struct pin_source *src)
{
    const char *why;

    src->fd = -1;
    snprintf(src->name, sizeof(src->name), "%s", path);
    /* O_NONBLOCK: a FIFO must not hang us before the type check. */
    src->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (src->fd < 0)
        return pin_source_fail(src, strerror(errno), path);
    if ((why = pin_check_file(src->fd)) != NULL)
        return pin_source_fail(src, why, path);
    return 0;
}

int
pin_source_open_credential(const char *name, struct pin_source *src)
{
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    char path[4096];
    int n;

    src->fd = -1;
    if (dir == NULL || *dir == '\0')
        return pin_source_fail(src, "CREDENTIALS_DIRECTORY is not set", name);
    if (*name == '\0' || strchr(name, '/') != NULL)
        return pin_source_fail(src, "credential name must not contain '/'",
                               name);
    n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(path))
        return pin_source_fail(src, "credential path too long", name);
    return pin_source_open_file(path, src);
}

int
pin_source_read(const struct pin_source *src, struct pin *pin)
{
    /* Room for the PIN, a CR LF and one byte to detect overlong input. */
    char buf[PIN_MAX + 3];
    const char *why;
    size_t len = 0;

    pin_wipe(pin);
    why = pin_check_file(src->fd);
    if (why == NULL)
        why = pin_slurp(src->fd, buf, sizeof(buf), &len);
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
    return why == NULL ? 0 : pin_fail(pin, why, src->name);
}

void
pin_source_close(struct pin_source *src)
{
    if (src->fd >= 0)
        close(src->fd);
    src->fd = -1;
}

int
pin_read_file(const char *path, struct pin *pin)
{
    struct pin_source src;
    int rc;

    pin_wipe(pin);
    if ((rc = pin_source_open_file(path, &src)) != 0)
        return rc;
    rc = pin_source_read(&src, pin);
    pin_source_close(&src);
    return rc;
}

int
pin_read_credential(const char *name, struct pin *pin)
{
    struct pin_source src;
    int rc;

    pin_wipe(pin);
    if ((rc = pin_source_open_credential(name, &src)) != 0)
        return rc;
    rc = pin_source_read(&src, pin);
    pin_source_close(&src);
    return rc;
}
