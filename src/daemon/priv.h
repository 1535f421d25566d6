/*
 * The daemon's own privileges: what it gives up at start, and the switch
 * from root to the configured account once the sockets exist.
 */
#ifndef CUSTODIAN_PRIV_H
#define CUSTODIAN_PRIV_H

#include "conf.h"

/* No core dumps and no ptrace attach by other processes of the same user:
 * key handles and PIN buffers stay in this process. Call first. Returns
 * 0, or -1 (logged) if the kernel refused either. */
int priv_harden(void);

/*
 * Becomes the account named by CONF's "user". Started as root, the
 * daemon must have one ("root" stays root, with a warning); it changes
 * to that uid, its primary and supplementary groups, and keeps one
 * capability, CAP_SYS_PTRACE, without which the kernel does not show it
 * the executable of a caller running as another user. Started as another
 * user, "user" must be absent or name that user. Call from the main
 * thread before starting threads that must share the kept capability.
 * Returns 0, or -1 having logged why.
 */
int priv_drop(const struct conf *conf);

#endif
