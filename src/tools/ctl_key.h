/*
 * custodianctl's key lifecycle commands on the admin socket: key
 * versions, key rotate, key retire, key revoke and key destroy.
 */
#ifndef CUSTODIAN_CTL_KEY_H
#define CUSTODIAN_CTL_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "custodian/client.h"

/*
 * Splits "NAME@N" into NAME (LEN bytes) and *V. Returns 0, or -1 when
 * ARG is not of that form (N a positive number).
 */
int ctl_key_parse_version(const char *arg, char *name, size_t len, uint32_t *v);

/* Prints every version of key NAME, oldest first, as a table. Returns 0
 * or the custodian error (the daemon's message in cust_message()). */
int ctl_key_versions(struct cust_conn *c, const char *name);

/* Makes a new version of NAME active now and prints it. */
int ctl_key_rotate(struct cust_conn *c, const char *name);

/* ACTION ("retire", "revoke", "destroy") on NAME version V, with REASON
 * for a revocation; prints the key's versions after it. */
int ctl_key_change(struct cust_conn *c, const char *action, const char *name,
                   uint32_t v, const char *reason);

#endif
