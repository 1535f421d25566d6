#!/bin/bash
# custodiand end to end: a throwaway SoftHSM2 token, a configuration,
# the real daemon on a real socket, clients through libcustodian, every
# signature checked by OpenSSL and the openssl command, the audit chain
# checked by custodianctl.
# Usage: daemon.sh CUSTODIAND CUSTODIANCTL TEST_DAEMON
set -euo pipefail
daemon=$1 ctl=$2 test=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/softhsm.sh"

work=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work" # other users' test callers must reach the socket
softhsm_token "$work/token" custodian-test

fail() {
    echo "FAIL: $*" >&2
    [ -f "$work/daemon.log" ] && sed 's/^/  daemon: /' "$work/daemon.log" >&2
    exit 1
}

cat >"$work/custodiand.conf" <<CONF
tokens = ( { name = "hsm"; module = "$SOFTHSM_MODULE"; uri = "$SOFTHSM_URI";
             pin_file = "$SOFTHSM_PIN_FILE"; } );
keys = ( { name = "release"; type = "ecdsa-p256"; },
         { name = "ed"; type = "ed25519"; },
         { name = "limited"; type = "ecdsa-p256"; },
         { name = "secret"; type = "ecdsa-p384"; } );
listeners = {
  sign = { path = "$work/sign.sock"; mode = "0660"; group = "nogroup"; };
  admin = { path = "$work/admin.sock"; };
};
identities = (
  { name = "expired"; match = { uid = 65534; }; expires = "2020-01-01";
    grants = ( { keys = "release"; } ); },
  { name = "root"; match = { uid = 0; };
    grants = ( { keys = [ "release", "ed" ]; },
               { keys = "limited"; rate = "1/h"; burst = 2; } ); }
);
audit = { path = "$work/audit.log"; };
CONF
"$ctl" policy check "$work/custodiand.conf" >/dev/null

"$daemon" -c "$work/custodiand.conf" >"$work/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    [ -S "$work/sign.sock" ] && break
    kill -0 "$pid" 2>/dev/null || fail "custodiand exited at start"
    sleep 0.05
done
[ -S "$work/sign.sock" ] || fail "no socket after 5 seconds"
[ "$(stat -c %a "$work/sign.sock")" = 660 ] || fail "socket mode not 0660"

mkdir "$work/out"
CUSTODIAN_SOCKET=$work/sign.sock CUST_TEST_AUDIT=$work/audit.log \
    CUST_TEST_OUT=$work/out CK_FORK=no "$test" || fail "test_daemon failed"

# The signature a client received verifies with the openssl command.
openssl dgst -sha256 -verify <(openssl pkey -pubin -inform DER \
    -in "$work/out/release.der") -signature "$work/out/message.sig" \
    "$work/out/message" >/dev/null || fail "openssl rejects the signature"
echo "ok: signature verified by openssl"

# SIGTERM: requests finish, the log closes with a record, the socket goes.
kill -TERM "$pid"
wait "$pid" || fail "custodiand exited with status $?"
pid=
[ ! -e "$work/sign.sock" ] || fail "socket left behind"
tail -n1 "$work/audit.log" | grep -q '"event":"stop"' || fail "no stop record"

"$ctl" audit verify "$work/audit.log" || fail "audit chain broken"
grep -q '"caller":{"uid":65533.*"identity":null.*"decision":"deny","error":"CUST_ERR_DENIED"' \
    "$work/audit.log" || fail "stranger's denial not audited"
grep -q '"identity":"expired".*"error":"CUST_ERR_EXPIRED"' \
    "$work/audit.log" || fail "expired identity's refusal not audited"
grep -q '"error":"CUST_ERR_RATE_LIMITED"' "$work/audit.log" ||
    fail "rate limit not audited"
grep -q '"context":{"artifact":"app.tar.gz","job":"7"}' "$work/audit.log" ||
    fail "context not audited"
echo "ok: custodiand end to end"
