/*
 * custodianctl export keyring: the keyring written on demand, offline,
 * from the configuration and the daemon's state file.
 */
#ifndef CUSTODIAN_CTL_EXPORT_H
#define CUSTODIAN_CTL_EXPORT_H

#include "conf.h"

/*
 * Builds the keyring of CONF's keys from the state file CONF names, as
 * the daemon publishes it, and writes it as directory DIR (replacing a
 * keyring there in one step). Prints what it wrote, or why it could not
 * on stderr. Returns 0, or -1.
 */
int ctl_export_keyring(const struct conf *conf, const char *dir);

/*
 * Prints the keyring's allowed_signers file, built as above, to standard
 * output: for git's gpg.ssh.allowedSignersFile. Returns 0, or -1.
 */
int ctl_export_allowed_signers(const struct conf *conf);

#endif
