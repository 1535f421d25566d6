/* The scratch file of a fuzzing process. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scratch.h"

static char scratch_dir[200];
static char scratch_path[256];

static void
scratch_remove(void)
{
    unlink(scratch_path);
    rmdir(scratch_dir);
}

const char *
fuzz_scratch(const char *name)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(scratch_dir, sizeof(scratch_dir), "%s/custodian-fuzz.XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(scratch_dir) == NULL)
        abort();
    if (snprintf(scratch_path, sizeof(scratch_path), "%s/%s", scratch_dir,
                 name) >= (int)sizeof(scratch_path))
        abort();
    atexit(scratch_remove);
    return scratch_path;
}

void
fuzz_scratch_write(const uint8_t *data, size_t len)
{
    int fd = open(scratch_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd) != 0)
        abort();
}
