/*
 * Privileges. Capabilities are per thread in Linux: the uid change below
 * reaches every thread (the C library applies it to all of them), but
 * only the calling thread keeps CAP_SYS_PTRACE, and threads started
 * later inherit it from their creator.
 */
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cap-ng.h>

#include "log.h"
#include "priv.h"

int
priv_harden(void)
{
    struct rlimit none = {0, 0};

    if (setrlimit(RLIMIT_CORE, &none) != 0 ||
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        log_error("cannot turn off core dumps and ptrace: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Started as an ordinary user: nothing to change, only to check. */
static int
priv_check_unprivileged(const struct conf *c)
{
    uid_t me = geteuid();

    if (c->user != NULL && c->user_uid != me) {
        log_error("user \"%s\" is set, but custodiand was started as uid "
                  "%ld, not root, and cannot change to it",
                  c->user, (long)me);
        return -1;
    }
    capng_get_caps_process();
    if (!capng_have_capability(CAPNG_EFFECTIVE, CAP_SYS_PTRACE))
        log_warn("without CAP_SYS_PTRACE the kernel hides the executable "
                 "of callers running as another user than uid %ld: they "
                 "will be refused",
                 (long)me);
    return 0;
}

int
priv_drop(const struct conf *c)
{
    int rc;

    if (geteuid() != 0)
        return priv_check_unprivileged(c);
    if (c->user == NULL) {
        log_error("custodiand was started as root: set user = \"NAME\" in "
                  "%s to the account it should run as (\"root\" keeps it "
                  "root)",
                  c->path);
        return -1;
    }
    if (c->user_uid == 0) {
        log_warn("running as root, as user = \"%s\" asks", c->user);
        return 0;
    }
    capng_clear(CAPNG_SELECT_BOTH);
    capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_SYS_PTRACE);
    rc = capng_change_id((int)c->user_uid, (int)c->user_gid,
                         CAPNG_INIT_SUPP_GRP | CAPNG_CLEAR_BOUNDING);
    if (rc != 0) {
        log_error("cannot change to user \"%s\" (uid %ld): libcap-ng "
                  "step %d failed: %s",
                  c->user, (long)c->user_uid, -rc, strerror(errno));
        return -1;
    }
    /* Belt and braces: root must be out of reach now. */
    if (setuid(0) == 0 || geteuid() != c->user_uid) {
        log_error("still able to become root after changing to user "
                  "\"%s\"; stopping",
                  c->user);
        return -1;
    }
    /* A change of uid resets the flag to the system's default. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        log_error("cannot turn off ptrace: %s", strerror(errno));
        return -1;
    }
    log_info("running as user \"%s\" (uid %ld), keeping only "
             "CAP_SYS_PTRACE to read callers' executables",
             c->user, (long)c->user_uid);
    return 0;
}
