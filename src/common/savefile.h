/*
 * Replacing a small file whole, so that a crash leaves either the old
 * content or the new one, never a mixture: the state files of keys and
 * suspended identities.
 */
#ifndef CUSTODIAN_SAVEFILE_H
#define CUSTODIAN_SAVEFILE_H

#include <stddef.h>

/*
 * Writes LEN bytes of DATA to PATH.tmp (mode 0600), syncs it, renames it
 * over PATH and syncs PATH's directory. Returns 0, or CUST_ERR_IO with
 * errno set (PATH is then as it was, and PATH.tmp is gone).
 */
int savefile_replace(const char *path, const void *data, size_t len);

#endif
