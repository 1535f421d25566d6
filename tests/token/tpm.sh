#!/bin/bash
# The token suites on tpm2-pkcs11 over a software TPM (swtpm on loopback,
# behind tpm2-abrmd). A TPM has no Ed25519 and makes RSA keys up to 3072
# bits: those types must be reported unsupported.
# Usage: tpm.sh TEST_TOKEN_BINARY CUSTODIAN_TOKEN_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/tpm.sh"

work=$(mktemp -d)
trap 'tpm_stop; rm -rf "$work"' EXIT
tpm_start "$work" custodian-tpm

export CUST_TEST_MODULE=$TPM_MODULE CUST_TEST_URI=$TPM_URI
export CUST_TEST_PIN_FILE=$TPM_PIN_FILE
export CUST_TEST_TYPES="ecdsa-p256 ecdsa-p384 rsa-2048 rsa-3072"
export CUST_TEST_UNSUPPORTED="ed25519 rsa-4096"

for case in open keys threads recover pin fork; do
    echo "== tpm: $case"
    # tpm2-pkcs11 reports each mechanism it lacks on stderr: not ours.
    CK_RUN_CASE=$case CK_FORK=no "$1" 2> >(grep -v '^ERROR: Mechanism not supported' >&2)
done

echo "== tpm: command line, verified with openssl and ssh-keygen"
"$here/cli.sh" "$2" "$work/cli" "ecdsa-p256 rsa-2048" \
    "$CUST_TEST_UNSUPPORTED" 2> >(grep -v '^ERROR: Mechanism not supported' >&2)
