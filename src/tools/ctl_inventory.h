/*
 * custodianctl's commands that read the daemon's inventory and metrics
 * on the admin socket: identities, keys and metrics.
 */
#ifndef CUSTODIAN_CTL_INVENTORY_H
#define CUSTODIAN_CTL_INVENTORY_H

#include "custodian/client.h"

/*
 * Prints every identity the daemon knows of, with its use, as a table,
 * or with JSON the daemon's whole inventory document. Returns 0 or the
 * custodian error (the daemon's message in cust_message()).
 */
int ctl_identities(struct cust_conn *c, int json);

/* Prints every configured key with its version, fingerprint, last use,
 * signatures per version and the identities that used it; a table, or
 * with JSON an array of objects. */
int ctl_keys(struct cust_conn *c, int json);

/* Prints the daemon's metrics in Prometheus text format. */
int ctl_metrics(struct cust_conn *c);

#endif
