#!/bin/bash
# The token suites on a throwaway SoftHSM2 token.
# Usage: softhsm.sh TEST_TOKEN CUSTODIAN_TOKEN TEST_FAULT FAULT_MODULE
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/softhsm.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
softhsm_token "$work" custodian-test

export CUST_TEST_MODULE=$SOFTHSM_MODULE CUST_TEST_URI=$SOFTHSM_URI
export CUST_TEST_PIN_FILE=$SOFTHSM_PIN_FILE
export CUST_TEST_TYPES="ecdsa-p256 ecdsa-p384 ed25519 rsa-2048 rsa-3072 rsa-4096"
export CUST_TEST_UNSUPPORTED=""
export CUST_TEST_STRICT_SENSITIVE=1

for case in open keys threads recover pin fork; do
    echo "== softhsm: $case"
    CK_RUN_CASE=$case CK_FORK=no "$1"
done

echo "== softhsm: injected faults"
CUST_FAULT_TARGET=$SOFTHSM_MODULE CUST_TEST_MODULE=$4 CK_FORK=no "$3"

echo "== softhsm: command line, verified with openssl and ssh-keygen"
CLI_IMPORT=1 "$here/cli.sh" "$2" "$work/cli" "$CUST_TEST_TYPES" ""
