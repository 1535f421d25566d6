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

/* Builds the keyring of CONF from its state file into *OUT. */
static int
ctl_build(const struct conf *conf, struct keyring **out)
{
    struct keystate *s = NULL;
    char why[512] = "";
    int rc = keystate_load(conf->state_path, &s, why, sizeof(why));

    if (rc == CUST_ERR_IO)
        fprintf(stderr, "custodianctl: state file %s: %s\n", conf->state_path,
                strerror(errno));
    else if (rc != 0)
        fprintf(stderr, "custodianctl: %s\n", why);
    if (rc == 0 && (rc = keyring_build(conf, s, time(NULL), out)) != 0)
        fprintf(stderr, "custodianctl: keyring: %s\n", cust_err_str(rc));
    keystate_free(s);
    return rc;
}

int
ctl_export_keyring(const struct conf *conf, const char *dir)
{
    struct keyring *k = NULL;
    int rc = ctl_build(conf, &k);

    if (rc == 0 && (rc = keyring_write(k, dir)) != 0)
        fprintf(stderr, "custodianctl: %s\n", keyring_error());
    if (rc == 0)
        printf("keyring: written to %s\n", dir);
    keyring_free(k);
    return rc == 0 ? 0 : -1;
}

int
ctl_export_allowed_signers(const struct conf *conf)
{
    struct keyring *k = NULL;
    const char *text = NULL;
    size_t len = 0;
    int rc = ctl_build(conf, &k);

    if (rc == 0)
        text = keyring_file(k, "allowed_signers", &len);
    if (text != NULL &&
        (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0)) {
        fprintf(stderr, "custodianctl: standard output: %s\n", strerror(errno));
        rc = CUST_ERR_IO;
    }
    keyring_free(k);
    return rc == 0 && text != NULL ? 0 : -1;
}
