/*
 * The state file is read, never written: exporting works beside a
 * running daemon (which replaces the file in one step) and without one.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl_export.h"
#include "custodian/error.h"
#include "keyring.h"
#include "keystate.h"

int
ctl_export_keyring(const struct conf *conf, const char *dir)
{
    struct keystate *s = NULL;
    struct keyring *k = NULL;
    char why[512] = "";
    int rc = keystate_load(conf->state_path, &s, why, sizeof(why));

    if (rc == CUST_ERR_IO)
        fprintf(stderr, "custodianctl: state file %s: %s\n", conf->state_path,
                strerror(errno));
    else if (rc != 0)
        fprintf(stderr, "custodianctl: %s\n", why);
    if (rc == 0 && (rc = keyring_build(conf, s, time(NULL), &k)) != 0)
        fprintf(stderr, "custodianctl: keyring: %s\n", cust_err_str(rc));
    if (rc == 0 && (rc = keyring_write(k, dir)) != 0)
        fprintf(stderr, "custodianctl: %s\n", keyring_error());
    if (rc == 0)
        printf("keyring: written to %s\n", dir);
    keyring_free(k);
    keystate_free(s);
    return rc == 0 ? 0 : -1;
}
