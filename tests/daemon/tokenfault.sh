#!/bin/bash
# custodiand in front of a token that fails: tests/faultmod wraps SoftHSM2
# and, on command through a control file, answers C_Sign with a device
# error or a lost session, takes the token out of its slot, or answers
# slowly. Each request during a fault fails with a clear error and an
# audit record, no request waits past limits.request_timeout, the daemon
# recovers on the first request after the token is back, and the audit
# chain holds at the end.
# Usage: tokenfault.sh CUSTODIAND CUSTODIANCTL CUSTODIAN_SIGN FAULTMOD
# CUSTODIAN_TEST_WRAPPER, when set, is a command the daemon runs under.
set -euo pipefail
daemon=$1 ctl=$2 sign=$3 faultmod=$4
read -ra wrap <<<"${CUSTODIAN_TEST_WRAPPER:-}"
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/softhsm.sh"

work=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    sed 's/^/  daemon: /' "$work/daemon.log" >&2 || true
    exit 1
}

softhsm_token "$work/token" custodian-test
export CUST_FAULT_TARGET=$SOFTHSM_MODULE CUST_FAULT_CONTROL=$work/fault
# A fault is set by replacing the control file, which the module notices.
fault() {
    echo "$*" >"$work/fault.new"
    mv "$work/fault.new" "$work/fault"
}
fault none
cat >"$work/custodiand.conf" <<CONF
user = "$(id -un)";
tokens = ( { name = "hsm"; module = "$faultmod"; uri = "$SOFTHSM_URI";
             pin_file = "$SOFTHSM_PIN_FILE"; } );
keys = ( { name = "release"; type = "ecdsa-p256"; } );
listeners = { sign = { path = "$work/sign.sock"; };
              agent = { path = "$work/agent.sock"; };
              admin = { path = "$work/admin.sock"; }; };
admins = ( { name = "ops"; match = { uid = $(id -u); }; } );
identities = ( { name = "ci"; match = { uid = $(id -u); };
                 grants = ( { keys = "release"; } ); } );
audit = { path = "$work/audit.log"; };
state = "$work/keys.state";
keyring = "$work/keyring";
limits = { request_timeout = "3s"; idle_timeout = "1s"; };
CONF
"${wrap[@]}" "$daemon" -c "$work/custodiand.conf" 2>"$work/daemon.log" &
pid=$!
for _ in $(seq 600); do
    [ -S "$work/sign.sock" ] && grep -q "serving on" "$work/daemon.log" && break
    sleep 0.05
done
export CUSTODIAN_SOCKET=$work/sign.sock
"$ctl" key create release --admin-socket "$work/admin.sock" >/dev/null ||
    fail "key create"
"$ctl" pubkey release --admin-socket "$work/admin.sock" >"$work/release.pem" ||
    fail "pubkey"
echo artifact >"$work/a"

records() { wc -l <"$work/audit.log"; }
# signs; the client may wait a few seconds at most, never for ever
try_sign() {
    rm -f "$work/a.sig"
    timeout 20 "$sign" sign --key release "$work/a" >/dev/null 2>"$work/err"
}
# The signature verifies with openssl, against the key the daemon holds.
verified() {
    openssl dgst -sha256 -verify "$work/release.pem" \
        -signature "$work/a.sig" "$work/a" >/dev/null ||
        fail "$1: signature does not verify"
}
# The last sign record: ERROR (null for success) and the token's detail.
last_sign_record() {
    grep '"event":"sign"' "$work/audit.log" | tail -1
}

try_sign || fail "first signature: $(cat "$work/err")"
verified "first signature"

echo "== a device error"
fault sign CKR_DEVICE_ERROR
n0=$(records)
rc=0
try_sign || rc=$?
[ $rc = 1 ] || fail "signing on a failing token: exit $rc"
grep -q CUST_ERR_TOKEN "$work/err" || fail "no token error: $(cat "$work/err")"
[ ! -e "$work/a.sig" ] || fail "a signature file after a token error"
last_sign_record | grep -q '"error":"CUST_ERR_TOKEN.*"token_error":"C_Sign' ||
    fail "token error not audited: $(last_sign_record)"
[ "$(records)" -gt "$n0" ] || fail "no record for the failed request"
grep -q 'signing failed.*CKR_DEVICE_ERROR' "$work/daemon.log" ||
    fail "token error not logged"
fault none
try_sign || fail "no recovery after the device error: $(cat "$work/err")"
verified "after the device error"

echo "== a session lost once: recovered within the request"
fault sign CKR_SESSION_HANDLE_INVALID 1
try_sign || fail "a lost session was not recovered: $(cat "$work/err")"
verified "after a lost session"
last_sign_record | grep -q '"decision":"allow","error":null' ||
    fail "recovered request not audited as signed: $(last_sign_record)"

echo "== sessions lost for good"
fault sign CKR_SESSION_HANDLE_INVALID
rc=0
try_sign || rc=$?
[ $rc = 1 ] && grep -q 'CUST_ERR_TOKEN' "$work/err" ||
    fail "lost sessions: exit $rc, $(cat "$work/err")"
last_sign_record | grep -q '"token_error":"C_Sign.*CKR_SESSION_HANDLE_INVALID' ||
    fail "lost session not audited: $(last_sign_record)"
fault none
try_sign || fail "no recovery after lost sessions: $(cat "$work/err")"
verified "after lost sessions"

echo "== the token pulled out, then back"
fault removed
for i in 1 2 3; do
    rc=0
    try_sign || rc=$?
    [ $rc = 1 ] && grep -q 'CUST_ERR_TOKEN' "$work/err" ||
        fail "removed token, request $i: exit $rc, $(cat "$work/err")"
done
[ "$(grep -c '"event":"sign".*"decision":"allow","error":"CUST_ERR_TOKEN' \
    "$work/audit.log")" -ge 5 ] || fail "requests to a removed token not audited"
fault none
try_sign || fail "no recovery when the token came back: $(cat "$work/err")"
verified "after the token came back"

echo "== a slow token, slower than idle_timeout: the request waits for it"
fault slow 1500
try_sign || fail "a request waiting 1.5 s for the token: $(cat "$work/err")"
verified "slow token"

echo "== a token slower than request_timeout: answered CUST_ERR_TIMEOUT"
fault slow 5000
rc=0
try_sign || rc=$?
[ $rc = 1 ] && grep -q 'CUST_ERR_TIMEOUT' "$work/err" &&
    grep -q 'no answer from the token within 3 s' "$work/err" ||
    fail "slow token: exit $rc, $(cat "$work/err")"
[ ! -e "$work/a.sig" ] || fail "a signature file after a timeout"
grep -q '"event":"refused".*"key":"release".*"error":"CUST_ERR_TIMEOUT"' \
    "$work/audit.log" || fail "the timeout is not audited"
# The token answers after 5 s: the late signature is recorded, never sent.
for _ in $(seq 100); do
    grep -q '"released":false' "$work/audit.log" && break
    sleep 0.1
done
last_sign_record | grep -q '"decision":"allow","error":null.*"released":false' ||
    fail "late signature not recorded as unreleased: $(last_sign_record)"
grep -q 'given up after 3 s' "$work/daemon.log" || fail "timeout not logged"
fault none
try_sign || fail "no recovery after the slow token: $(cat "$work/err")"
verified "after the slow token"

echo "== the daemon is still whole"
"$ctl" status --admin-socket "$work/admin.sock" >/dev/null || fail "status"
kill -TERM "$pid"
wait "$pid" || fail "custodiand exited with status $?"
pid=
"$ctl" audit verify "$work/audit.log" >/dev/null ||
    fail "the audit chain is broken"
# Every answer a client received is in the log: one record per request
# (successes, token errors, the timeout) besides the admin and lifecycle
# records.
sigs=$(grep -c '"event":"sign".*"signature":"' "$work/audit.log")
[ "$sigs" -ge 6 ] || fail "only $sigs signatures recorded"
echo "ok: token faults fail clearly, are audited, time out, and recover"
